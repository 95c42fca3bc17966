"""Explore (``/``): the district officer's map. Filters (area cascade, days, categories, severities,
statuses), a layer switcher with legends, a panel for what a click found (an area's KPIs and overdue list,
a hexagon's counts, trend, Gi* class and accountable grid) and the incidents behind the view in a
server-paged table.

The URL holds the state (``dashboard/state.py``), so a view can be shared, reloaded and exported. The map
asks for the features of its current bounds only, so payloads grow with the view, not the table.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta

import dash
import dash_leaflet as dl
from dash import Input, Output, State, callback, clientside_callback, ctx, dcc, html, no_update

from dashboard.components import account
from dashboard.components import detail as panels
from dashboard.components import filters as filter_panel
from dashboard.components import inputs, live, mapview, supervise, table
from dashboard.access import current_scope, current_user
from dashboard.i18n import pick, t
from dashboard.state import LAYERS, ViewState, parse
from geodata.errors import InputError, ShiyuError
from geodata.h3cells import RESOLUTIONS
from geodata.scope import Scope
from geodata.settings import settings
from geodata.version import data_version
from layers import areas, detail, supervision_reads, tiles
from layers.base import BEIJING, Filters
from layers.registry import build

log = logging.getLogger(__name__)
dash.register_page(__name__, path="/", title="市域 Shiyu")
filter_panel.register()
table.register()
supervise.register()


def _initial_view(state: ViewState, extent, scope: Scope) -> tuple[list[float], float]:
    if state.lat is not None and state.zoom is not None:
        return [state.lat, state.lon], state.zoom
    box = extent
    if state.area:
        try:
            box = filter_panel.area_bbox(state.area, scope) or extent
        except ShiyuError as error:
            log.warning("explore: no box for %s: %s", state.area, error)
    return mapview.fit_view(box or mapview.HANGZHOU)


def layout(**query) -> html.Div:
    state = parse(query)
    lang = pick(state.lang, settings().lang)
    scope = current_scope()
    notice, tiers = "", []
    try:
        extent = areas.extent(scope)
        tiers = areas.tiers(scope)
    except ShiyuError as error:
        log.warning("explore: no extent: %s", error)
        extent, notice = None, t("db_down", lang)
    if extent is None and not notice:
        notice = t("no_data", lang)
    centre, zoom = _initial_view(state, extent, scope)
    base = [dl.TileLayer(url=settings().tile_url, attribution=settings().tile_attribution)] if settings().tile_url else []
    resolution = state.res or "auto"
    other = "en" if lang == "zh-CN" else "zh-CN"
    return html.Div(className="shell explore", children=[
        dcc.Store(id="explore-lang", data=lang),
        # What the map shows before it reports its own bounds: the link's view, else the data's fitted extent.
        dcc.Store(id="explore-extent", data=list(mapview.view_bbox(centre, zoom))),
        dcc.Store(id="explore-tiers", data=tiers),
        dcc.Store(id="explore-view"),
        dcc.Store(id="explore-moved"),
        dcc.Store(id="explore-move-pending"),
        dcc.Store(id="explore-focus"),
        dcc.Store(id="explore-query"),
        dcc.Store(id="explore-query-written"),
        # The layers drawn from vector tiles for the view (assets/tiles.js): their URLs, filters included.
        dcc.Store(id="explore-tiles"),
        dcc.Store(id="explore-tiles-drawn"),
        *live.probe("explore"),
        html.Header(className="topbar", children=[
            html.H1(t("title", lang)), html.Span(t("subtitle", lang), className="subtitle"), html.Span(className="spacer"),
            html.A(t("nav_wall", lang), href=f"/wall?lang={lang}", className="nav"),
            html.A(t("nav_orders", lang), href=f"/orders?lang={lang}", className="nav", id="explore-orders-link"),
            html.A(t("nav_export", lang), href=f"/export{state.query(lang=lang)}", id="explore-export-link", className="nav"),
            html.A(t("language", lang), href=f"/{state.query(lang=other)}", id="explore-lang-switch"),
            *account.links(lang),
        ]),
        html.Aside(className="side", children=[
            *filter_panel.panel(state, lang, scope),
            html.H2(t("layer", lang)),
            dcc.RadioItems(id="explore-layer", className="res-radio", value=state.layer if state.layer in LAYERS else "hexes",
                           options=[{"label": t(f"layer_{name}", lang), "value": name} for name in LAYERS]),
            html.H2(t("resolution", lang)),
            dcc.RadioItems(id="explore-res", className="res-radio", value=resolution,
                           options=[{"label": t("res_auto", lang), "value": "auto"}]
                           + [{"label": t("res_label", lang, res=r, km=mapview.AREA_KM2[r]), "value": r}
                              for r in RESOLUTIONS]),
        ]),
        html.Div(className="map-wrap", children=[
            dl.Map(id="explore-map", center=centre, zoom=zoom, zoomSnap=0.25, style={"height": "100%"}, children=[
                *base,
                dl.GeoJSON(id="explore-hexes", data=mapview.EMPTY, style={"variable": "shiyu.hexStyle"}, hideout={},
                           pointToLayer={"variable": "shiyu.facilityPoint"}),
                # Zoomed in far enough, the incidents themselves, clustered in the browser.
                dl.GeoJSON(id="explore-points", data=mapview.EMPTY, cluster=True, zoomToBoundsOnClick=True,
                           superClusterOptions={"radius": 60}, pointToLayer={"variable": "shiyu.incidentPoint"},
                           hideout={}),
                # Outlines in a pane above the hexagons that lets clicks and hovers through to them.
                dl.Pane(name="grids", style={"zIndex": 450, "pointerEvents": "none"}, children=[
                    dl.GeoJSON(id="explore-grids", data=mapview.EMPTY, style={"variable": "shiyu.gridStyle"}),
                ]),
                dl.ScaleControl(position="bottomleft", imperial=False),
            ]),
        ]),
        html.Aside(className="detail", children=[
            html.Div(className="map-card", children=[
                html.Div(id="explore-legend"),
                html.H2(t("in_view", lang)),
                html.Div(id="explore-stats"),
                html.Div(notice, id="explore-notice", className="notice"),
            ]),
            html.Div(panels.hint(lang), id="explore-detail"),
        ]),
        table.grid(lang),
    ])


def _days(start, end) -> tuple[date | None, date | None]:
    return filter_panel.window_days(start, end)


@callback(
    Output("explore-hexes", "data"), Output("explore-hexes", "hideout"), Output("explore-grids", "data"),
    Output("explore-legend", "children"), Output("explore-stats", "children"), Output("explore-notice", "children"),
    Output("explore-hexes", "style"), Output("explore-points", "data"), Output("explore-points", "hideout"),
    Output("explore-view", "data"), Output("explore-tiles", "data"), Output("explore-shown", "data"),
    Input("explore-moved", "data"), Input("explore-res", "value"),
    Input("explore-layer", "value"), Input("explore-area", "data"),
    Input("explore-dates", "start_date"), Input("explore-dates", "end_date"),
    Input("explore-categories", "value"), Input("explore-severities", "value"), Input("explore-statuses", "value"),
    Input("explore-changed", "data"),
    State("explore-lang", "data"), State("explore-extent", "data"), State("explore-tiers", "data"),
    State("explore-map", "zoom"),
)
def update_map(moved, res, layer, area, start, end, categories, severities, statuses, _changed, lang, extent, tiers,
               zoom):
    """The map for the view, and again when the probe saw the data's version move (``components/live.py``)."""
    lang = pick(lang if isinstance(lang, str) else None)
    bounds = moved.get("bounds") if isinstance(moved, dict) else None
    zoom = moved.get("zoom") if isinstance(moved, dict) else zoom
    layer = layer if layer in LAYERS else "hexes"
    try:
        # dash-leaflet reports bounds only after the first move; until then the view is the initial one.
        bbox = inputs.bbox(bounds) if bounds else inputs.box(extent)
        zoom = inputs.number(12 if zoom is None else zoom, "zoom", 0, 24)
        tier, auto_res = mapview.for_zoom(zoom, [tier for tier in inputs.choices(tiers, "tiers") if isinstance(tier, str)])
        res = auto_res if res in (None, "auto") else int(inputs.number(res, "H3 resolution", 0, 15))
        since, until = _days(start, end)
        state = ViewState(area=inputs.text(area, "area"), since=since, until=until,
                          categories=inputs.choices(categories, "categories"),
                          severities=inputs.choices(severities, "severities"),
                          statuses=inputs.choices(statuses, "statuses"))
        filters = Filters(bbox=bbox, zoom=zoom, res=res, tier=tier, **state.filter_args())
        version = data_version()  # before the data it labels (geodata/version.py)
        from_tiles = tiles.map_tiles(layer, filters, current_scope())
        # Too many incidents in view for GeoJSON points: the incidents themselves, from vector tiles.
        result = tiles.incident_style(filters) if from_tiles.incidents is not None else build(layer, filters, current_scope())
        # outlines only: no KPIs to pay for
        grids = (mapview.EMPTY if layer == "areas" or from_tiles.grids is not None
                 else areas.boundaries(filters, current_scope()).geojson())
    except ShiyuError as error:
        log.warning("explore: map update failed: %s", error, exc_info=error.__cause__ is not None)
        message = str(error) if isinstance(error, InputError) else t("db_down", lang)
        return (*[no_update] * 5, message, *[no_update] * 6)
    tile_data = {**from_tiles.urls(filters, version=version), **({"colours": result.style["colours"], "labels": mapview.point_labels(lang)}
                                                if from_tiles.incidents is not None else {"colours": {}})}
    view = {"layer": layer, "bbox": list(bbox), "zoom": zoom, "res": res, "tier": tier, "area_code": area,
            "since": filters.since.isoformat() if filters.since else None,
            "until": filters.until.isoformat() if filters.until else None,
            "categories": list(filters.categories), "severities": list(filters.severities),
            "statuses": list(filters.statuses)}
    if result.style.get("mode") == "tiles":
        outlined = () if from_tiles.grids is None else ((filters.tier, from_tiles.grids),)
        numbers = mapview.stats((("incidents", from_tiles.incidents), *outlined), lang)
        return (mapview.EMPTY, {}, grids, mapview.point_legend(result, lang), numbers, "",
                {"variable": "shiyu.hexStyle"}, mapview.EMPTY, {}, view, tile_data, version)
    if result.style.get("mode") == "points":
        for feature in result.features:
            feature["properties"]["tooltip"] = mapview.point_tooltip(feature["properties"], lang)
        numbers = mapview.stats((("incidents", result.summary["incidents"]),), lang)
        return (mapview.EMPTY, {}, grids, mapview.point_legend(result, lang), numbers, "",
                {"variable": "shiyu.hexStyle"}, result.geojson(), result.style, view, tile_data, version)
    classed = layer in mapview.QUIET
    if classed:
        result.features = [f for f in result.features if f["properties"]["class"] != mapview.QUIET[layer]]
    for feature in result.features:
        feature["properties"]["tooltip"] = mapview.tooltip(layer, feature["properties"], lang, filters.res)
    areas_shown = (result.summary["areas"] if layer == "areas" else from_tiles.grids if from_tiles.grids is not None
                   else len(grids["features"]))
    numbers = mapview.stats((*mapview.shown(layer, result), (filters.tier, areas_shown)), lang)
    variable = ("shiyu.areaStyle" if layer == "areas" else "shiyu.supervisionStyle" if layer == "supervision"
                else "shiyu.kindStyle" if layer in mapview.KINDED
                else "shiyu.classStyle" if classed else "shiyu.hexStyle")
    return (result.geojson(), result.style, grids, mapview.legend(result, lang, filters, layer), numbers, "",
            {"variable": variable}, mapview.EMPTY, {}, view, tile_data, version)


@callback(Output("explore-changed", "data"), Input("explore-probe", "n_intervals"),
          State("explore-shown", "data"), State("explore-changed", "data"), prevent_initial_call=True)
def probe(_ticks, shown, asked):
    """Has a batch committed since the map was drawn? (``components/live.py``; the page has no periodic refresh)"""
    return live.changed(shown, asked)


clientside_callback(
    """function (config) { return window.shiyu.tiles.show("explore-map", config); }""",
    Output("explore-tiles-drawn", "data"), Input("explore-tiles", "data"),
)


# The map settles before it is drawn: a fly to an area reports every zoom it passes (a street took 30–37 map
# requests), so the view reaches the server 250 ms after the last move, once.
clientside_callback(
    """function (bounds, zoom) {
        const shiyu = window.shiyu = window.shiyu || {};
        clearTimeout(shiyu.moveTimer);
        shiyu.moveTimer = setTimeout(function () {
            window.dash_clientside.set_props("explore-moved", {data: {bounds: bounds, zoom: zoom}});
        }, 250);
        return window.dash_clientside.no_update;
    }""",
    Output("explore-move-pending", "data"), Input("explore-map", "bounds"), Input("explore-map", "zoom"),
    prevent_initial_call=True,
)


@callback(
    Output("explore-map", "viewport"),
    Input("explore-area", "data"),
    prevent_initial_call=True,
)
def fly_to_area(area):
    """A chosen area fills the map; clearing it leaves the view where it is."""
    if area is None:
        return no_update
    try:
        box = filter_panel.area_bbox(inputs.text(area, "area"), current_scope())
    except ShiyuError as error:
        log.warning("explore: no box for %s: %s", area, error)
        return no_update
    if box is None:
        return no_update
    west, south, east, north = box
    return {"bounds": [[south, west], [north, east]], "transition": "flyToBounds"}


def _state_of(view: dict, filters: Filters, res, lang: str) -> ViewState:
    west, south, east, north = filters.bbox
    since = filters.since.astimezone(BEIJING).date() if filters.since else None
    # the view's end is the midnight after the last day
    until = (filters.until - timedelta(microseconds=1)).astimezone(BEIJING).date() if filters.until else None
    return ViewState(lang=lang, layer=view.get("layer") if view.get("layer") in LAYERS else "hexes",
                     res=res if res in RESOLUTIONS else None, area=filters.area_code, since=since, until=until,
                     categories=filters.categories, severities=filters.severities, statuses=filters.statuses,
                     lat=(south + north) / 2, lon=(west + east) / 2, zoom=filters.zoom)


@callback(
    Output("explore-query", "data"), Output("explore-export-link", "href"), Output("explore-lang-switch", "href"),
    Input("explore-view", "data"), State("explore-res", "value"), State("explore-lang", "data"),
    prevent_initial_call=True,
)
def sync_url(view, res, lang):
    """The URL follows the view, so it can be shared or reloaded; the export page gets the same filters."""
    if not view:
        return no_update, no_update, no_update
    lang = pick(lang if isinstance(lang, str) else None)
    try:
        filters = Filters(**table.view_filters(view))
    except InputError:
        return no_update, no_update, no_update
    state = _state_of(view, filters, res, None if lang == settings().lang else lang)
    other = "en" if lang == "zh-CN" else "zh-CN"
    return state.query(), f"/export{state.query()}", f"/{state.query(lang=other)}"


# replaceState, not a dcc.Location: a changed location makes Dash render the page anew, losing the view.
clientside_callback(
    """function (query) {
        if (query !== undefined && query !== null && window.location.search !== query) {
            window.history.replaceState(null, "", window.location.pathname + query);
        }
        return query;
    }""",
    Output("explore-query-written", "data"), Input("explore-query", "data"), prevent_initial_call=True,
)


def _focus_key(filters: Filters) -> list:
    """What a panel depends on besides the view's box: a pan alone does not redraw it."""
    return [filters.area_code, filters.since and filters.since.isoformat(), filters.until and filters.until.isoformat(),
            list(filters.categories), list(filters.severities), list(filters.statuses)]


@callback(
    Output("explore-detail", "children"), Output("explore-focus", "data"),
    Input("explore-view", "data"), Input("explore-hexes", "clickData"), Input("explore-table", "cellClicked"),
    State("explore-focus", "data"), State("explore-lang", "data"),
    prevent_initial_call=True,
)
def show_detail(view, clicked, row, focus, lang):
    """The area chosen or the hexagon clicked, with the filters of the view."""
    lang = pick(lang if isinstance(lang, str) else None)
    if not view:
        return no_update, no_update
    try:
        filters = Filters(**table.view_filters(view))
    except InputError as error:
        return [html.Div(str(error), className="notice")], no_update
    key, area = _focus_key(filters), filters.area_code
    focus = focus if isinstance(focus, dict) and {"kind", "id", "key", "area"} <= focus.keys() else None
    if ctx.triggered_id == "explore-hexes":
        properties = clicked.get("properties") if isinstance(clicked, dict) else None
        cell = properties.get("h3") if isinstance(properties, dict) else None
        if not cell:
            return no_update, no_update
        focus = {"kind": "cell", "id": cell, "key": key, "area": area}
    elif ctx.triggered_id == "explore-table":  # a row of the incidents' table: the incident and its order
        incident = row.get("rowId") if isinstance(row, dict) else None
        if not isinstance(incident, str) or not incident:
            return no_update, no_update
        focus = {"kind": "incident", "id": incident, "key": key, "area": area}
    elif focus and focus["key"] == key:
        return no_update, no_update
    elif focus and focus["kind"] in ("cell", "incident") and focus["area"] == area:
        focus = {**focus, "key": key}
    elif area:
        focus = {"kind": "area", "id": area, "key": key, "area": area}
    else:
        return panels.hint(lang), {"kind": None, "id": None, "key": key, "area": None}
    try:
        if focus["kind"] == "cell":
            return panels.cell_panel(detail.cell_detail(focus["id"], filters, current_scope()), lang), focus
        if focus["kind"] == "incident":
            return supervise.incident_panel(supervision_reads.incident_card(focus["id"], current_scope()), lang), focus
        found = detail.area_detail(focus["id"], filters, current_scope(), show_pii=current_user().show_pii)
        if supervise.may_supervise():
            found.update(may_supervise=True, orders=supervision_reads.by_incident(
                [o["id"] for o in found["overdue"]], current_scope()))
        return panels.area_panel(found, lang), focus
    except ShiyuError as error:
        log.warning("explore: detail failed: %s", error, exc_info=error.__cause__ is not None)
        message = str(error) if isinstance(error, InputError) else t("db_down", lang)
        return [html.Div(message, className="notice")], focus
