"""The incidents behind the current view: a dash-ag-grid table with the infinite row model, each block of
rows asked of ``layers.incidents.page`` on the server, so the browser never holds more than it shows."""

from __future__ import annotations

import logging

import dash_ag_grid as dag
from dash import Input, Output, State, callback, clientside_callback, dcc, html, no_update

from dashboard.access import current_scope, current_user
from dashboard.components import inputs
from dashboard.i18n import pick, t
from geodata.errors import InputError, ShiyuError
from layers import incidents
from layers.base import Filters

log = logging.getLogger(__name__)

BLOCK = 100

# Rows carry ISO times with their offset so they sort as moments; the table shows Beijing's "YYYY-MM-DD hh:mm".
WHEN = {"function": "params.value ? params.value.slice(0, 16).replace('T', ' ') : ''"}


def grid(lang: str) -> html.Div:
    columns = [
        {"field": "reported_at", "headerName": t("col_reported", lang), "width": 150, "sort": "desc",
         "valueFormatter": WHEN},
        {"field": "category_name", "colId": "category", "headerName": t("category", lang), "width": 120},
        {"field": "severity", "headerName": t("severity", lang), "width": 96},
        {"field": "status_name", "colId": "status", "headerName": t("status", lang), "width": 170,
         "cellClassRules": {"overdue-cell": "params.data && params.data.overdue"}},
        {"field": "due_at", "headerName": t("col_due", lang), "width": 150, "valueFormatter": WHEN},
        {"field": "grid_name", "colId": "grid_code", "headerName": t("col_grid", lang), "width": 150},
        {"colId": "reporter", "headerName": t("col_reporter", lang), "width": 150, "sortable": False,
         "valueGetter": {"function": "params.data ? ((params.data.reporter || '') + ' ' + (params.data.phone || '')).trim() : ''"}},
        {"field": "description", "headerName": t("col_description", lang), "flex": 1, "minWidth": 200,
         "sortable": False},
        {"field": "id", "headerName": t("col_id", lang), "width": 160, "sortable": False},
    ]
    return html.Div(className="table-wrap", children=[
        dcc.Store(id="explore-table-purged"),
        html.Div(className="table-head", children=[
            html.H2(t("table_title", lang)), html.Span(id="explore-table-count", className="table-count"),
        ]),
        dag.AgGrid(
            id="explore-table", rowModelType="infinite", columnDefs=columns,
            defaultColDef={"sortable": True, "resizable": True, "suppressHeaderMenuButton": True},
            dashGridOptions={"cacheBlockSize": BLOCK, "maxBlocksInCache": 10, "infiniteInitialRowCount": 1,
                             "rowHeight": 30, "headerHeight": 34, "animateRows": False,
                             "localeText": {"loadingOoo": t("loading", lang), "noRowsToShow": t("no_rows", lang)}},
            getRowId="params.data.id",
            className="ag-theme-alpine", style={"height": "100%"},
        ),
    ])


def rows(request, view, lang):
    """One block of rows; the count comes with the first block of each view."""
    if not isinstance(request, dict) or not view:
        return no_update, no_update
    lang = pick(lang if isinstance(lang, str) else None)
    try:
        filters = Filters(**view_filters(view))
        sort = request.get("sortModel") or None
        if sort is not None and not isinstance(sort, list):
            raise InputError("the table's sort is not a list")
        page = incidents.page(filters, current_scope(), request.get("startRow"), request.get("endRow"), sort,
                              show_pii=current_user().show_pii)
    except ShiyuError as error:
        log.warning("explore: table rows failed: %s", error, exc_info=error.__cause__ is not None)
        message = str(error) if isinstance(error, InputError) else t("db_down", lang)
        start = request.get("startRow")
        return {"rowData": [], "rowCount": start if isinstance(start, int) and start >= 0 else 0}, message
    for row in page.rows:
        row["category_name"] = t(row["category"], lang)
        row["status_name"] = t(row["status"], lang) + (f" · {t('overdue', lang)}" if row["overdue"] else "")
    if page.total is None:
        done = len(page.rows) < request["endRow"] - request["startRow"]
        return {"rowData": page.rows, "rowCount": request["startRow"] + len(page.rows) if done else None}, no_update
    count = t("table_count_capped" if page.total_capped else "table_count", lang, n=f"{page.total:,}")
    return {"rowData": page.rows, "rowCount": page.total if not page.total_capped else None}, count


def view_filters(view: dict) -> dict:
    """``Filters`` arguments from the JSON the map callback leaves in ``explore-view`` (a browser's, so checked)."""
    if not isinstance(view, dict):
        raise InputError("the view is not an object")
    res, tier = view.get("res", 8), view.get("tier", "grid")
    return {"bbox": inputs.box(view.get("bbox")), "zoom": inputs.number(view.get("zoom", 12), "zoom", 0, 24),
            "res": int(inputs.number(res, "H3 resolution", 0, 15)), "tier": inputs.text(tier, "tier") or "grid",
            "area_code": inputs.text(view.get("area_code"), "area"),
            "since": inputs.moment(view.get("since"), "since"), "until": inputs.moment(view.get("until"), "until"),
            "categories": inputs.choices(view.get("categories"), "categories"),
            "severities": inputs.choices(view.get("severities"), "severities"),
            "statuses": inputs.choices(view.get("statuses"), "statuses")}


def register() -> None:
    """Attach these callbacks to the app being built. explore.py calls this: Dash runs a page module once per
    app, but a component module only once per process, so callbacks declared at import would reach only the first app."""
    callback(
        Output("explore-table", "getRowsResponse"), Output("explore-table-count", "children"),
        Input("explore-table", "getRowsRequest"),
        State("explore-view", "data"), State("explore-lang", "data"),
        prevent_initial_call=True,
    )(rows)
    # A new view empties the grid's cache, so it asks again from row 0 with the new filters. The first view can
    # arrive before the grid is ready: getApiAsync waits for it (getApi would throw), and the purge then repeats
    # the first request, which the server may have answered with nothing while it had no view yet.
    clientside_callback(
        """function (view) {
            if (window.dash_ag_grid && window.dash_ag_grid.getApiAsync) {
                window.dash_ag_grid.getApiAsync("explore-table").then(api => api.purgeInfiniteCache(), () => null);
            }
            return window.dash_clientside.no_update;
        }""",
        Output("explore-table-purged", "data"), Input("explore-view", "data"), prevent_initial_call=True,
    )
