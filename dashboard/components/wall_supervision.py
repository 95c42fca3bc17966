"""The wall's supervision panel: open orders, red-listed, replies overdue and today's escalations, and the latest
escalations in words ("督办单 12 升级为挂牌督办 · 区域C1111 · 负责人C1111"), from ``layers.supervision_reads``."""

from __future__ import annotations

from dash import html

from dashboard.i18n import t
from layers.base import BEIJING

COUNTS = (("open", "wall_orders_open", ""), ("red_listed", "wall_orders_red", "red"),
          ("unanswered", "wall_orders_late", "late"), ("escalated_today", "wall_orders_escalated", "raised"))


def panel(lang: str) -> html.Section:
    return html.Section(className="wall-panel wall-supervision", children=[
        html.H2(t("wall_supervision", lang)), html.Div(id="wall-supervision")])


def items(counts: dict, lang: str) -> list:
    numbers = html.Div(className="wall-orders", children=[
        html.Div([html.B(f"{counts[key]:,}", id=f"wall-orders-{key}"), html.Span(t(label, lang))],
                 className=f"wall-order-count {extra}") for key, label, extra in COUNTS])
    latest = counts["latest"]
    rows = [html.Li(className="wall-escalation", children=[
        html.Span(f"{e['at'].astimezone(BEIJING):%H:%M}", className="wall-report-time"),
        html.Span(t("wall_escalated", lang, id=e["id"], level=t(f"level_{e['level']}", lang), area=e["area_name"],
                    who=e["addressee"]))]) for e in latest]
    return [numbers, html.Ul(rows or [html.Li(t("wall_no_escalations", lang), className="wall-empty")],
                             className="wall-list", id="wall-escalations")]
