"""Issuing supervision orders (督办) from the explore page: a button on each row of an area's overdue list (one
click: a 督办 order to the grid's owner with the default deadline), one for the whole list, a level and a note for
those who want them. The order is issued in the person's scope (``layers.supervision``) and the panel says what was
issued to whom, by when."""

from __future__ import annotations

import logging

from dash import ALL, Input, Output, State, callback, ctx, dcc, html
from dash.exceptions import PreventUpdate

from dashboard.access import current_scope, current_user, remote_addr
from dashboard.components.table import view_filters
from dashboard.i18n import pick, t
from geodata.errors import InputError, ShiyuError
from layers import supervision
from layers.base import BEIJING, Filters
from layers.kpis import kpi_window

log = logging.getLogger(__name__)

LEVEL_CLASS = {"reminder": "order-badge reminder", "order": "order-badge order", "red_list": "order-badge red-list"}


def may_supervise() -> bool:
    user = current_user()
    return user.role in supervision.SUPERVISE_ROLES and not user.display


def badge(order: dict | None, lang: str) -> html.Span | str:
    """The level of an incident's open order, or nothing."""
    if not order:
        return ""
    return html.Span(t(f"level_{order['level']}", lang), className=LEVEL_CLASS[order["level"]],
                     title=f"{t('order_no', lang)} {order['id']} · {order['addressee']}")


def row_button(incident_id: str, lang: str) -> html.Button:
    return html.Button(t("supervise", lang), id={"type": "supervise-one", "incident": incident_id},
                       className="supervise-one", n_clicks=0)


def controls(code: str, total: int, lang: str) -> list:
    """Above the overdue list: the level and note of the next order, and the whole list at once."""
    if not may_supervise():
        return []
    return [html.Div(className="supervise-bar", children=[
        dcc.Dropdown(id="supervise-level", value=supervision.DEFAULT_LEVEL, clearable=False, searchable=False,
                     options=[{"label": t(f"level_{code_}", lang), "value": code_} for code_ in supervision.LEVELS],
                     className="supervise-level"),
        dcc.Input(id="supervise-note", type="text", placeholder=t("supervise_note", lang), maxLength=200,
                  className="supervise-note", debounce=False),
        *([html.Button(t("supervise_all", lang, n=f"{total:,}"), id={"type": "supervise-area", "code": code},
                       className="supervise-area", n_clicks=0)] if 0 < total <= supervision.MAX_AREA_ORDERS else []),
    ]), html.Div("", id="supervise-result", className="supervise-result", role="status")]


def incident_panel(found: dict, lang: str) -> list:
    """An incident clicked in the table: its state, SLA light, grid and owner, its open order, and the button."""
    light = found["light"]
    order = found["order"]
    facts = [(t("category", lang), t(found["category"], lang)), (t("status", lang), t(found["status"], lang)),
             (t("severity", lang), found["severity"] or "—"),
             (t("col_reported", lang), f"{found['reported_at'].astimezone(BEIJING):%m-%d %H:%M}"),
             (t("col_due", lang), f"{found['due_at'].astimezone(BEIJING):%m-%d %H:%M}" if found["due_at"] else "—"),
             (t("col_grid", lang), found["grid_name"] or found["grid_code"] or "—"),
             (t("owner", lang), " ".join(v for v in (found["owner_name"], found["owner_phone"]) if v) or "—")]
    if order:
        facts += [(t("order_no", lang), f"{order['id']} · {t('level_' + order['level'], lang)} · {order['addressee']}"),
                  (t("order_due", lang), f"{order['reply_due_at'].astimezone(BEIJING):%m-%d %H:%M}")]
    card = [html.H3([t("col_id", lang) + " ", html.Small(found["id"])], id="explore-incident"),
            *([html.Div(t(f"light_{light}", lang), className=f"light-tag {light}")] if light != "none" else []),
            html.Table(html.Tbody([html.Tr([html.Th(k), html.Td(v)]) for k, v in facts]), className="mini"),
            *([html.P(found["description"], className="hint")] if found["description"] else [])]
    if not may_supervise() or found["status"] in ("verified", "closed"):
        return card
    return [*card, html.Div(className="supervise-bar", children=[
        dcc.Dropdown(id="supervise-level", value=supervision.DEFAULT_LEVEL, clearable=False, searchable=False,
                     options=[{"label": t(f"level_{code}", lang), "value": code} for code in supervision.LEVELS],
                     className="supervise-level"),
        dcc.Input(id="supervise-note", type="text", placeholder=t("supervise_note", lang), maxLength=200,
                  className="supervise-note"),
        badge(order, lang), row_button(found["id"], lang)]),
        html.Div("", id="supervise-result", className="supervise-result", role="status")]


def _issued(rows: list[dict], level: str, lang: str) -> str:
    if len(rows) != 1:
        return t("supervised_many", lang, n=len(rows), level=t(f"level_{level}", lang))
    r = rows[0]
    if not r["new"]:
        return t("raised", lang, level=t(f"level_{r['level']}", lang))
    return t("supervised", lang, ids=r["id"], level=t(f"level_{r['level']}", lang), who=r["addressee"],
             due=f"{r['reply_due_at'].astimezone(BEIJING):%m-%d %H:%M}")


def issue(_one, _area, level, note, view, lang):
    """Issue the order a button asked for; a whole list under the view's filters and window, as the list shows it
    (``layers.detail.area_detail``)."""
    lang = pick(lang if isinstance(lang, str) else None)
    if not ctx.triggered or not ctx.triggered[0].get("value") or not isinstance(ctx.triggered_id, dict):
        raise PreventUpdate  # the buttons drawn, not clicked
    user, trigger = current_user(), ctx.triggered_id
    level = level if isinstance(level, str) and level in supervision.LEVELS else supervision.DEFAULT_LEVEL
    note = note if isinstance(note, str) else ""
    try:
        if trigger.get("type") == "supervise-one":
            rows = [supervision.issue(str(trigger.get("incident")), current_scope(), user.name or "local", user.role,
                                      level, note, remote_addr())]
        else:
            shown = kpi_window(Filters(**view_filters(view))) if view else None
            rows = supervision.issue_area(str(trigger.get("code")), current_scope(), user.name or "local", user.role,
                                          level, note, remote_addr(), filters=shown)
    except ShiyuError as error:
        log.warning("explore: supervision order refused: %s", error)
        return str(error) if isinstance(error, InputError) else t("db_down", lang)
    return _issued(rows, level, lang)


def register() -> None:
    """Attach the callback to the app being built (explore.py calls it, as it does the filters')."""
    callback(
        Output("supervise-result", "children"),
        Input({"type": "supervise-one", "incident": ALL}, "n_clicks"),
        Input({"type": "supervise-area", "code": ALL}, "n_clicks"),
        State("supervise-level", "value"), State("supervise-note", "value"), State("explore-view", "data"),
        State("explore-lang", "data"),
        prevent_initial_call=True,
    )(issue)
