"""My orders (``/orders``): the open supervision orders (督办) in the officer's scope, each answered here (what was
done, and the incident's state as they report it) or, once answered, accepted by its issuer or a commander; and the
day's proposed list of overdue incidents nobody has ordered yet (``?area=CODE``, by default the whole scope).
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone

import dash
from dash import ALL, Input, Output, State, callback, ctx, dcc, html
from dash.exceptions import PreventUpdate

from dashboard.access import current_scope, current_user, remote_addr
from dashboard.components import account, inputs
from dashboard.components.supervise import LEVEL_CLASS
from dashboard.i18n import pick, t
from geodata.errors import InputError, ShiyuError
from geodata.settings import settings
from geodata.taxonomy import STATUSES
from layers import supervision, supervision_reads
from layers.base import BEIJING

log = logging.getLogger(__name__)
dash.register_page(__name__, path="/orders", title="市域 · 督办")
MAX_SHOWN = 200


def _when(moment: datetime | None) -> str:
    return "—" if moment is None else f"{moment.astimezone(BEIJING):%m-%d %H:%M}"


def _may_close(order: dict) -> bool:
    """Whether this person may accept the order's reply or withdraw it: its issuer, or an admin or commander."""
    user = current_user()
    return order["issued_by"] == (user.name or "local") or user.role in supervision.ACCEPT_ANY_ROLES


def _card(o: dict, lang: str, acting: bool) -> html.Div:
    late = o["replied_at"] is None and o["reply_due_at"] < datetime.now(timezone.utc)
    facts = [html.Span(t(f"level_{o['level']}", lang), className=LEVEL_CLASS[o["level"]]),
             html.B(f" {t('order_no', lang)} {o['id']} "),
             html.Span(f"{t(o['category'], lang) if o['category'] else ''} · {o['incident_id'] or ''} · "
                       f"{o['area_name']}"),
             *([html.Span(t("order_escalations", lang, n=o["escalations"]), className="order-raised")]
               if o["escalations"] else [])]
    rows = [html.Div(facts, className="order-head"),
            html.Div(f"{t('order_addressee', lang)}: {o['addressee']} {o['addressee_phone'] or ''} · "
                     f"{t('order_issued', lang)}: {o['issued_by']} {_when(o['issued_at'])}", className="order-line"),
            html.Div([f"{t('order_due', lang)}: {_when(o['reply_due_at'])} ",
                      *([html.Span(t("order_late", lang), className="bad")] if late else [])], className="order-line"),
            *([html.Div(o["note"], className="order-note")] if o["note"] else []),
            *([html.Div(t("replied_by", lang, who=o["replied_by"], text=o["reply_text"]) + " · "
                        + t(o["reply_status"], lang), className="order-reply")] if o["replied_at"] else [])]
    if acting:
        rows.append(html.Div(className="order-form", children=[
            dcc.Textarea(id={"type": "orders-text", "order": o["id"]}, placeholder=t("reply_text", lang),
                         maxLength=supervision.MAX_REPLY, className="order-text"),
            dcc.Dropdown(id={"type": "orders-status", "order": o["id"]}, value=o["status"] or "handling",
                         clearable=False, searchable=False, className="order-status",
                         options=[{"label": t(code, lang), "value": code} for code in STATUSES]),
            html.Button(t("reply_send", lang), id={"type": "orders-reply", "order": o["id"]}, n_clicks=0,
                        className="order-send"),
            *([html.Button(t("accept", lang), id={"type": "orders-accept", "order": o["id"]}, n_clicks=0,
                           className="order-accept")] if o["replied_at"] and _may_close(o) else []),
            *([html.Button(t("withdraw", lang), id={"type": "orders-withdraw", "order": o["id"]}, n_clicks=0,
                           className="order-withdraw")] if _may_close(o) else [])]))
    return html.Div(rows, className="order-card" + (" late" if late else ""), id=f"order-{o['id']}")


def _orders(lang: str) -> list:
    user = current_user()
    acting = user.role in supervision.SUPERVISE_ROLES and not user.display
    rows = supervision_reads.orders(current_scope(), limit=MAX_SHOWN)
    if not rows:
        return [html.P(t("orders_none", lang), className="hint")]
    return [_card(o, lang, acting) for o in rows]


def _proposed(area: str | None, lang: str) -> list:
    scope = current_scope()
    code = area or supervision_reads.top_area(scope)
    if code is None:
        return []
    rows = supervision_reads.to_supervise(code, scope, limit=20)
    return [html.H2(t("propose_title", lang)), html.P(t("propose_hint", lang), className="hint"),
            html.Table(className="mini orders-proposed", children=[html.Thead(html.Tr([
                html.Th(t("col_id", lang)), html.Th(t("category", lang)), html.Th(t("severity", lang)),
                html.Th(t("hours_over", lang)), html.Th(t("col_grid", lang)), html.Th(t("owner", lang))])),
                html.Tbody([html.Tr([
                html.Td(r["incident_id"]), html.Td(t(r["category"], lang)), html.Td(r["severity"] or "—"),
                html.Td(f"{r['hours_overdue']:,.0f} h", className="bad"),
                html.Td(html.A(f"{r['grid_name']} · {t('in_grid', lang, n=r['in_grid'])}",
                               href=f"/?area={r['grid_code']}&lang={lang}")),  # its overdue list, to order from
                html.Td(r["owner_name"] or "—")])
                for r in rows])])]


def layout(lang: str | None = None, area: str | None = None, **_query) -> html.Div:
    lang = pick(lang, settings().lang)
    try:
        listed, proposed = _orders(lang), _proposed(inputs.text(area, "area"), lang)
    except ShiyuError as error:
        log.warning("orders: %s", error)
        listed, proposed = [html.Div(str(error) if isinstance(error, InputError) else t("db_down", lang),
                                     className="notice")], []
    return html.Div(className="orders-page", lang=lang, children=[
        dcc.Store(id="orders-lang", data=lang),
        html.Header(className="topbar", children=[
            html.H1(t("orders_title", lang)), html.Span(t("orders_subtitle", lang), className="subtitle"),
            html.Span(className="spacer"),
            html.A(t("export_back", lang), href=f"/?lang={lang}", className="nav"),
            html.A(t("nav_wall", lang), href=f"/wall?lang={lang}", className="nav"),
            *account.links(lang)]),
        html.Main(className="orders-main", children=[
            html.Div("", id="orders-message", className="supervise-result", role="status"),
            html.Div(listed, id="orders-list"),
            html.Section(proposed, className="orders-propose")]),
    ])


def _form(order_id: int, ids, texts, statuses) -> tuple[str, str]:
    """The text and state of ``order_id``'s reply form, from the lists the browser sent (checked: a tampered request
    can send anything)."""
    forms = [list(v) if isinstance(v, list) else [] for v in (ids, texts, statuses)]
    at = next((n for n, i in enumerate(forms[0]) if isinstance(i, dict) and i.get("order") == order_id), None)
    if at is None or at >= min(len(forms[1]), len(forms[2])):
        raise InputError(f"there is no reply form of order {order_id} on this page")
    text, status = forms[1][at], forms[2][at]
    if not isinstance(text, (str, type(None))) or not isinstance(status, str):
        raise InputError("a reply is a text and one of the incident's states")
    return text or "", status


@callback(
    Output("orders-message", "children"), Output("orders-list", "children"),
    Input({"type": "orders-reply", "order": ALL}, "n_clicks"), Input({"type": "orders-accept", "order": ALL}, "n_clicks"),
    Input({"type": "orders-withdraw", "order": ALL}, "n_clicks"),
    State({"type": "orders-text", "order": ALL}, "value"), State({"type": "orders-status", "order": ALL}, "value"),
    State({"type": "orders-text", "order": ALL}, "id"), State("orders-lang", "data"),
    prevent_initial_call=True,
)
def act(_replies, _accepts, _withdrawals, texts, statuses, ids, lang):
    """A reply sent, a reply accepted or an order withdrawn; the list drawn again."""
    lang = pick(lang if isinstance(lang, str) else None)
    if not ctx.triggered or not ctx.triggered[0].get("value") or not isinstance(ctx.triggered_id, dict):
        raise PreventUpdate
    user, trigger = current_user(), ctx.triggered_id
    order_id = int(inputs.number(trigger.get("order"), "the order", 1, 2**62))
    try:
        if trigger.get("type") == "orders-reply":
            text, status = _form(order_id, ids, texts, statuses)
            supervision.reply(order_id, current_scope(), user.name or "local", user.role, text, status, remote_addr())
            message = t("reply_saved", lang, id=order_id)
        elif trigger.get("type") == "orders-accept":
            supervision.accept(order_id, current_scope(), user.name or "local", user.role, remote_addr())
            message = t("accepted", lang, id=order_id)
        else:
            supervision.withdraw(order_id, current_scope(), user.name or "local", user.role, remote_addr())
            message = t("withdrawn", lang, id=order_id)
        return message, _orders(lang)
    except ShiyuError as error:
        log.warning("orders: refused: %s", error)
        return (str(error) if isinstance(error, InputError) else t("db_down", lang)), dash.no_update
