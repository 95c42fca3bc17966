"""The wall's league table (``/wall/rank``): a rotation page for the command centre's screens, readable from five
metres: the areas of a tier (districts by default) for the last complete month (``?tier=street&period=2026-W49``),
rank, ↑/↓ places since the period before, score and four indicators; redrawn every ``REFRESH_S`` seconds
(``?refresh=N``): a month's league moves slowly, and each redraw counts three periods. A display token reaches it as it reaches ``/wall`` (dashboard/purposes.py)."""

from __future__ import annotations

import logging
from datetime import datetime

import dash
from dash import Input, Output, State, callback, dcc, html

from dashboard.access import current_scope
from dashboard.components import league
from dashboard.i18n import pick, t
from geodata.errors import ShiyuError
from geodata.settings import settings
from layers import assessment
from layers.base import BEIJING
from layers.periods import last_complete, parse_period

log = logging.getLogger(__name__)
dash.register_page(__name__, path="/wall/rank", title="市域 · 考核排名")

REFRESH_S = 300
WALL_ROWS = 14  # what fits 1080p at the wall's type size; more: the best and the worst 7


def layout(lang: str | None = None, tier: str | None = None, period: str | None = None, refresh: str | None = None,
           **_query) -> html.Div:
    lang = pick(lang, settings().lang)
    try:
        every_s = max(2.0, float(refresh)) if refresh else REFRESH_S
    except ValueError:
        every_s = REFRESH_S
    return html.Div(className="wall-rank", lang=lang, children=[
        dcc.Store(id="wall-rank-ask", data={"lang": lang, "tier": tier if tier in assessment.TIERS else "district",
                                            "period": period}),
        dcc.Interval(id="wall-rank-interval", interval=int(every_s * 1000)),
        html.Div(className="wall-rank-top", children=[
            html.H1("", id="wall-rank-title"), html.Span(t("wall_rank_note", lang)),
            html.Span("", id="wall-rank-updated")]),
        html.Div(id="wall-rank-table"),
    ])


@callback(Output("wall-rank-table", "children"), Output("wall-rank-title", "children"),
          Output("wall-rank-updated", "children"),
          Input("wall-rank-interval", "n_intervals"), State("wall-rank-ask", "data"))
def redraw(_ticks, ask):
    ask = ask if isinstance(ask, dict) else {}
    lang, tier = pick(ask.get("lang")), ask.get("tier") if ask.get("tier") in assessment.TIERS else "district"
    now = datetime.now(BEIJING)
    try:
        period = parse_period(ask["period"]) if ask.get("period") else last_complete("month", now.date())
        rows = assessment.league(tier, period, current_scope())
    except ShiyuError as error:
        log.warning("wall rank: %s", error)
        return html.P(str(error), className="league-gap"), t("rank_title", lang), ""
    title = t("wall_rank_title", lang, tier=t(tier, lang), period=period.label)
    return (league.table(rows, lang, league.WALL_INDICATORS, compstat=False, most=WALL_ROWS, table_id="wall-rank-league",
                        unranked=False),
            title, now.strftime("%H:%M"))
