"""League table (``/rank``): every area of a tier ranked for a month or a week, with the change against the
period before and a year before (CompStat), and the workbook of every tier to download.

Deep-linked: ``/rank?tier=street&period=2026-11&area=330106&lang=en`` (every key optional: street, the current
month, the whole scope, zh-CN). An officer ranks the areas of their own subtree only: the league is computed in
their scope (and under row-level security), and an ``area`` outside it is refused with one line.
"""

from __future__ import annotations

import logging
from datetime import datetime
from urllib.parse import urlencode

import dash
import flask
from dash import Input, Output, State, callback, clientside_callback, dcc, html

from dashboard import downloads
from dashboard.access import current_scope, current_user
from dashboard.components import account, league
from dashboard.i18n import pick, t
from geodata.errors import InputError, QueryTooSlow, ShiyuError
from geodata.settings import settings
from layers import assessment
from layers.assessment_xlsx import league_workbook
from layers.base import BEIJING
from layers.periods import Period, current, last_complete, parse_period, previous, year_before

log = logging.getLogger(__name__)
dash.register_page(__name__, path="/rank", title="市域 · 考核排名")

MONTHS_OFFERED, WEEKS_OFFERED = 13, 26
PAGE_ROWS = 300  # more: the best and the worst 150, the rest in the workbook


def period_options(kind: str, today) -> list[dict]:
    """The current month (week) and those before it, newest first."""
    period, options = current(kind, today), []
    for _ in range(MONTHS_OFFERED if kind == "month" else WEEKS_OFFERED):
        options.append({"label": period.label, "value": period.label})
        period = previous(period)
    return options


def _initial(tier: str | None, period: str | None) -> tuple[str, Period]:
    today = datetime.now(BEIJING).date()
    tier = tier if tier in assessment.TIERS else "street"
    try:
        chosen = parse_period(period) if period else last_complete("month", today)
    except InputError:
        chosen = last_complete("month", today)
    return tier, chosen


def layout(lang: str | None = None, tier: str | None = None, period: str | None = None, area: str | None = None,
           **_query) -> html.Div:
    lang = pick(lang, settings().lang)
    tier, chosen = _initial(tier, period)
    today = datetime.now(BEIJING).date()
    other = "en" if lang == "zh-CN" else "zh-CN"
    switch = "/rank?" + urlencode({"lang": other, "tier": tier, "period": chosen.label, **({"area": area} if area else {})})
    return html.Div(className="rank-page", lang=lang, children=[
        dcc.Store(id="rank-lang", data=lang),
        dcc.Store(id="rank-area", data=area),
        dcc.Store(id="rank-file"),
        dcc.Store(id="rank-fetched"),
        dcc.Location(id="rank-url", refresh=False),
        html.Header(className="topbar", children=[
            html.H1(t("title", lang)), html.Span(t("rank_title", lang), className="subtitle"),
            html.Span(className="spacer"),
            html.A(t("rank_back", lang), href=f"/?lang={lang}", id="rank-back"),
            html.A(t("language", lang), href=switch, id="rank-lang-switch"),
            *account.links(lang),
        ]),
        html.Main(className="rank-main", children=[
            html.Div(className="rank-intro", children=[html.H1(t("rank_title", lang)), html.P(t("rank_subtitle", lang))]),
            html.Div(className="rank-controls", children=[
                html.Label(t("rank_tier", lang), htmlFor="rank-tier"),
                dcc.RadioItems(id="rank-tier", className="rank-inline", inline=True, value=tier,
                               options=[{"label": t(name, lang), "value": name} for name in assessment.TIERS]),
                html.Label(t("rank_period_kind", lang), htmlFor="rank-kind"),
                dcc.RadioItems(id="rank-kind", className="rank-inline", inline=True, value=chosen.kind,
                               options=[{"label": t("rank_month", lang), "value": "month"},
                                        {"label": t("rank_week", lang), "value": "week"}]),
                dcc.Dropdown(id="rank-period", className="rank-period", clearable=False, searchable=False,
                             value=chosen.label, options=period_options(chosen.kind, today)),
                html.Button(t("rank_download", lang), id="rank-download", className="rank-button"),
            ]),
            html.Div("", id="rank-message", className="rank-message"),
            html.P("", id="rank-summary", className="rank-summary"),
            html.Div(id="rank-table", className="rank-table-wrap"),
        ]),
    ])


@callback(Output("rank-period", "options"), Output("rank-period", "value"),
          Input("rank-kind", "value"), State("rank-period", "value"), prevent_initial_call=True)
def pick_kind(kind, chosen):
    kind = kind if kind in ("month", "week") else "month"
    options = period_options(kind, datetime.now(BEIJING).date())
    keep = chosen if isinstance(chosen, str) and chosen in {o["value"] for o in options} else options[1]["value"]
    return options, keep


def _summary(rows: list[dict], period: Period, tier: str, lang: str) -> list:
    """The period and those compared, how many areas, and the weights the scores were made with."""
    line = t("rank_summary", lang, period=period.label, n=len(rows), tier=t(tier, lang), previous=previous(period).label,
             year=year_before(period).label, as_of=datetime.now(BEIJING).strftime("%Y-%m-%d %H:%M"))
    weight = assessment.weights()
    used = " · ".join(f"{t(f'ind_{name}', lang)} {w:g}" for name, w in weight.items() if w > 0)
    unranked = sum(1 for r in rows if r["rank"] is None)
    notes = [html.Span(line), html.Br(), html.Span(f"{t('rank_weights', lang)}：{used}", id="rank-weights")]
    if unranked:
        notes += [html.Br(), html.Span(t("rank_unranked", lang, n=unranked, least=assessment.MIN_REPORTS))]
    return notes


@callback(Output("rank-table", "children"), Output("rank-summary", "children"), Output("rank-message", "children"),
          Output("rank-message", "className"), Output("rank-url", "search"),
          Input("rank-tier", "value"), Input("rank-period", "value"), State("rank-area", "data"),
          State("rank-lang", "data"))
def show(tier, period, area, lang):
    lang = pick(lang)
    search = "?" + urlencode({"lang": lang, "tier": tier or "", "period": period or "", **({"area": area} if area else {})})
    try:
        chosen = parse_period(period or "")
        rows = assessment.league(tier, chosen, current_scope(), area=area)
    except ShiyuError as error:
        log.warning("rank: refused or failed: %s", error)
        reason = t("rank_failed", lang, reason=error) if isinstance(error, (InputError, QueryTooSlow)) else t("rank_db_down", lang)
        return None, "", reason, "rank-message error", search
    if not rows:
        return None, "", t("rank_none", lang), "rank-message error", search
    return (league.table(rows, lang, league.PAGE_INDICATORS, most=PAGE_ROWS, table_id="rank-league"),
            _summary(rows, chosen, tier, lang), "", "rank-message", search)


@callback(Output("rank-file", "data"), Output("rank-message", "children", allow_duplicate=True),
          Output("rank-message", "className", allow_duplicate=True),
          Input("rank-download", "n_clicks"), State("rank-period", "value"), State("rank-area", "data"),
          State("rank-lang", "data"), prevent_initial_call=True,
          running=[(Output("rank-download", "disabled"), True, False)])
def download(_clicks, period, area, lang):
    lang = pick(lang)
    user = current_user()
    try:
        file = league_workbook(period or "", current_scope(), user.name, flask.request.remote_addr, via="web", area=area)
    except ShiyuError as error:
        log.warning("rank: workbook refused or failed: %s", error)
        reason = t("rank_failed", lang, reason=error) if isinstance(error, (InputError, QueryTooSlow)) else t("rank_db_down", lang)
        return None, reason, "rank-message error"
    return downloads.keep(file, user.name), [t("rank_download_done", lang), " ", html.Code(file.name)], "rank-message ok"


clientside_callback(
    "function(url) { if (url) { window.location.assign(url); } return url; }",
    Output("rank-fetched", "data"), Input("rank-file", "data"), prevent_initial_call=True,
)
