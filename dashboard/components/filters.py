"""The explore page's filters: the area cascade district → street → community → grid, days, categories,
severities and statuses. ``explore-area`` holds the chosen area; the cascade, a drill-down click and the
URL all set it, and one callback keeps the four dropdowns in step with it."""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta

from dash import ALL, Input, Output, State, callback, ctx, dcc, html, no_update

from dashboard.access import current_scope
from dashboard.components import inputs
from dashboard.i18n import t
from dashboard.state import ViewState
from geodata.errors import InputError, ShiyuError
from geodata.scope import Scope
from geodata.taxonomy import CATEGORIES, STATUSES
from layers import areas, detail
from layers.base import BEIJING, FIRST_DAY, SEVERITIES

log = logging.getLogger(__name__)

LEVELS = ("district", "street", "community", "grid")
PRESETS = (7, 30, 90)


def _level_id(tier: str) -> dict:
    return {"type": "explore-level", "tier": tier}


def _options(rows: list[dict]) -> list[dict]:
    return [{"label": f"{r['name']} · {r['code']}", "value": r["code"]} for r in rows]


def cascade(code: str | None, scope: Scope) -> tuple[list[list[dict]], list[str | None]]:
    """Options and values of the four dropdowns for the chosen area (None: only the first level offered).

    A tier the city does not have (a sample with grids only) keeps its dropdown empty, and the next one
    offers the areas instead."""
    chain = detail.area_chain(code, scope) if code else []
    chosen = {area["tier"]: area["code"] for area in chain}
    options: dict[str, list[dict]] = {tier: [] for tier in LEVELS}
    rows = detail.area_children(None, scope)
    for tier in LEVELS:
        mine = [r for r in rows if r["tier"] == tier]
        if not mine:
            continue
        options[tier] = _options(mine)
        if chosen.get(tier) is None:
            break
        rows = detail.area_children(chosen[tier], scope)
    return [options[tier] for tier in LEVELS], [chosen.get(tier) for tier in LEVELS]


def panel(state: ViewState, lang: str, scope: Scope) -> list:
    """The filter widgets, set from the URL's state."""
    try:
        options, values = cascade(state.area, scope)
    except ShiyuError as error:  # an area from an old link, or the database away: start from the top
        log.warning("explore: cascade for %s: %s", state.area, error)
        options, values = [[] for _ in LEVELS], [None for _ in LEVELS]
    severity_names = t("severity_names", lang).split("|")
    return [
        dcc.Store(id="explore-area", data=chosen_area(values)),
        html.H2(t("area", lang)),
        *[dcc.Dropdown(id=_level_id(tier), options=opts, value=value, placeholder=t(f"all_{tier}", lang),
                       className="cascade", clearable=True, optionHeight=30, disabled=not opts)
          for tier, opts, value in zip(LEVELS, options, values)],
        html.H2(t("days", lang)),
        html.Div(className="presets", children=[
            *[html.Button(t("last_days", lang, days=d), id={"type": "explore-preset", "days": d}, className="preset")
              for d in PRESETS],
            html.Button(t("all_time", lang), id={"type": "explore-preset", "days": 0}, className="preset"),
        ]),
        dcc.DatePickerRange(id="explore-dates", start_date=state.since, end_date=state.until,
                            display_format="YYYY-MM-DD", clearable=True, className="dates",
                            start_date_placeholder_text=t("from", lang), end_date_placeholder_text=t("to", lang),
                            first_day_of_week=1, min_date_allowed=FIRST_DAY,
                            max_date_allowed=datetime.now(BEIJING).date() + timedelta(days=1)),
        html.H2(t("category", lang)),
        dcc.Dropdown(id="explore-categories", multi=True, value=list(state.categories),
                     placeholder=t("all_categories", lang),
                     options=[{"label": t(code, lang), "value": code} for code in CATEGORIES]),
        html.H2(t("severity", lang)),
        dcc.Checklist(id="explore-severities", className="chips", value=list(state.severities),
                      options=[{"label": f"{s} {severity_names[s - 1]}", "value": s} for s in SEVERITIES]),
        html.H2(t("status", lang)),
        dcc.Dropdown(id="explore-statuses", multi=True, value=list(state.statuses),
                     placeholder=t("all_statuses", lang),
                     options=[{"label": t(code, lang), "value": code} for code in STATUSES]),
    ]


def preset_days(_clicks):
    """The last N Beijing days, today included; 0 clears the window."""
    if not ctx.triggered or not ctx.triggered[0]["value"]:
        return no_update, no_update
    days = ctx.triggered_id["days"]
    if days == 0:
        return None, None
    today = datetime.now(BEIJING).date()
    return (today - timedelta(days=days - 1)).isoformat(), today.isoformat()


def chosen_area(values: list[str | None]) -> str | None:
    """The deepest area picked in the cascade."""
    return next((v for v in reversed(values) if v), None)


# Wildcard outputs take a list each, even to change nothing.
_UNCHANGED = (no_update, [no_update] * len(LEVELS), [no_update] * len(LEVELS), [no_update] * len(LEVELS))


def choose_area(values, _drills, clicked, current):
    """One place that moves the chosen area: a dropdown, a drill-down button or a click on an area of the map."""
    trigger = ctx.triggered_id
    properties = clicked.get("properties") if isinstance(clicked, dict) else None
    if any(not isinstance(o, list) or len(o) != len(LEVELS) for o in ctx.outputs_list[1:]):
        # A tampered request: Dash would refuse the answer's lists, which have a value for every level.
        raise InputError(f"the area cascade's request does not name its {len(LEVELS)} levels")
    if not isinstance(values, list) or len(values) != len(LEVELS):  # a request not from this page
        return _UNCHANGED
    if isinstance(trigger, dict) and trigger.get("type") == "explore-level" and trigger.get("tier") in LEVELS:
        level = LEVELS.index(trigger["tier"])
        code = values[level] or (values[level - 1] if level else None)
    elif isinstance(trigger, dict) and trigger.get("type") == "explore-drill":
        if not ctx.triggered[0]["value"]:  # a button just drawn, not clicked
            return _UNCHANGED
        code = trigger.get("code")
    elif trigger == "explore-hexes" and isinstance(properties, dict) and properties.get("tier") in LEVELS:
        code = properties.get("code")
    else:
        return _UNCHANGED
    try:
        code = inputs.text(code, "area")
    except InputError:
        return _UNCHANGED
    if code == current and trigger != "explore-level":
        return _UNCHANGED
    try:
        options, new_values = cascade(code, current_scope())
    except ShiyuError as error:
        log.warning("explore: cascade for %s: %s", code, error)
        return _UNCHANGED
    return code, options, new_values, [not o for o in options]


def area_bbox(code: str | None, scope: Scope) -> tuple[float, float, float, float] | None:
    """The box of the chosen area, or of everything in scope."""
    if code is None:
        return areas.extent(scope)
    chain = detail.area_chain(code, scope)
    return areas.extent(Scope(".".join(a["code"] for a in chain)))


def window_days(start: str | None, end: str | None) -> tuple[date | None, date | None]:
    """The picker's days as dates, in order."""
    since, until = inputs.day(start, "from day"), inputs.day(end, "to day")
    if since and until and since > until:
        since, until = until, since
    return since, until


def register() -> None:
    """Attach these callbacks to the app being built. explore.py calls this: Dash runs a page module once per
    app, but a component module only once per process, so callbacks declared at import would reach only the first app."""
    callback(
        Output("explore-dates", "start_date"), Output("explore-dates", "end_date"),
        Input({"type": "explore-preset", "days": ALL}, "n_clicks"),
        prevent_initial_call=True,
    )(preset_days)
    callback(
        Output("explore-area", "data"),
        Output({"type": "explore-level", "tier": ALL}, "options"),
        Output({"type": "explore-level", "tier": ALL}, "value"),
        Output({"type": "explore-level", "tier": ALL}, "disabled"),
        Input({"type": "explore-level", "tier": ALL}, "value"),
        Input({"type": "explore-drill", "code": ALL}, "n_clicks"),
        Input("explore-hexes", "clickData"),
        State("explore-area", "data"),
        prevent_initial_call=True,
    )(choose_area)
