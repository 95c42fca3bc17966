"""The command-centre wall (``/wall``): the whole city at a glance, refreshing itself, nothing to click.

``?lang=en`` switches to English, ``?refresh=SECONDS`` overrides
``SHIYU_WALL_REFRESH_S`` (tests use 2) and ``?rotate=1`` moves the map
through the districts, one per refresh. When the database cannot be reached,
every data output keeps its last value and only the status line changes.
"""

from __future__ import annotations

import hashlib
import logging
import math
from datetime import datetime, timedelta, timezone

import dash
import dash_leaflet as dl
import orjson
import shapely.geometry
from dash import Input, Output, State, callback, clientside_callback, dcc, html, no_update
from dash.exceptions import PreventUpdate

from dashboard.access import current_scope
from dashboard.components import inputs, live, wall_supervision
from dashboard.components.wall_charts import category_figure, trend_figure
from dashboard.i18n import pick, t
from geodata.db import side_by_side
from geodata.errors import InputError, ShiyuError
from geodata.settings import settings
from geodata.version import data_version
from layers import areas, coverage, early_warning, facilities, hotspots, panels, supervision_reads
from layers.base import BEIJING, Filters
from layers.stats import CLASS_COLOURS

log = logging.getLogger(__name__)
dash.register_page(__name__, path="/wall", title="市域 · 指挥中心")

HANGZHOU = (119.9, 30.1, 120.4, 30.45)
DAYS = 30
MAP_ZOOM = 11  # boundaries are simplified by about a pixel at this zoom: the city fills a wall-sized map near it
HOT_RES = 7
MAX_OUTLINES = 3000  # grids below the patrol threshold drawn; the thinnest coverage first
MAX_ALERTS = 8
MAX_LATEST = 12
# The facilities a commander dispatches from; the numerous kinds (and governance centres, one per street, whose
# black dot reads as a police station's dark blue at wall scale) would only speckle a city-wide map.
WALL_FACILITY_TYPES = ("police_station", "fire_station")
MIN_REFRESH_S = 1.0
EMPTY = {"type": "FeatureCollection", "features": []}
# Okabe–Ito yellow for the thinly patrolled grids (the charts' colours: components/wall_charts.py).
BELOW_COLOUR = "#F0E442"


def _initial_view(bbox) -> tuple[list[float], float]:
    """Centre and zoom fitting ``bbox`` in about a 1080p wall's map; the first refresh fits it exactly."""
    west, south, east, north = bbox
    merc = lambda lat: math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))  # noqa: E731
    zoom = min(math.log2(1000 * 360 / (256 * max(east - west, 1e-6))),
               math.log2(700 * 2 * math.pi / (256 * max(merc(north) - merc(south), 1e-9))), 18)
    return [(south + north) / 2, (west + east) / 2], math.floor(zoom * 4) / 4


def _bounds(bbox) -> list[list[float]]:
    west, south, east, north = bbox
    return [[south, west], [north, east]]


def _refresh_ms(refresh: str | None) -> int:
    try:
        seconds = float(refresh) if refresh else settings().wall_refresh_s
    except ValueError:
        seconds = settings().wall_refresh_s
    # A refresh must outlast the wait for a connection: Dash drops a response overtaken by the next tick's request,
    # so with a dead database and a shorter interval no answer, and no stale warning, would ever arrive.
    return int(max(seconds, MIN_REFRESH_S, settings().pool_timeout_s + 1) * 1000)


def _tile(key: str, value_id: str, lang: str, **values) -> html.Div:
    return html.Div(className="wall-tile", children=[
        html.Div(t(key, lang, **values), className="wall-tile-label"), html.Div("—", id=value_id, className="wall-tile-value")])


def layout(lang: str | None = None, refresh: str | None = None, rotate: str | None = None, **_query) -> html.Div:
    lang = pick(lang, settings().lang)
    try:
        extent = areas.extent(current_scope())
    except ShiyuError as error:
        log.warning("wall: no extent: %s", error)
        extent = None
    extent = list(extent or HANGZHOU)
    centre, zoom = _initial_view(extent)
    base = [dl.TileLayer(url=settings().tile_url, attribution=settings().tile_attribution)] if settings().tile_url else []
    return html.Div(className="wall", lang=lang, children=[
        dcc.Store(id="wall-lang", data=lang),
        dcc.Store(id="wall-extent", data=extent),
        dcc.Store(id="wall-rotate", data=rotate == "1"),
        dcc.Store(id="wall-districts", data=[]),
        dcc.Store(id="wall-vh", data=None),
        dcc.Store(id="wall-last-good", data=None),
        dcc.Store(id="wall-since", data=None),  # "data as of" when the wall first drew: what arrives after is marked
        dcc.Store(id="wall-map-hash", data=None),
        # What moves the costly parts: wall-changed, at most every SHIYU_LIVE_HEAVY_REDRAW_S while data keeps coming.
        dcc.Store(id="wall-heavy", data=None),
        dcc.Store(id="wall-heavy-s", data=settings().live_heavy_redraw_s),
        dcc.Interval(id="wall-interval", interval=_refresh_ms(refresh)),
        *live.probe("wall"),
        html.Header(className="wall-top", children=[
            html.H1(t("wall_title", lang)),
            html.Span(className="wall-spacer"),
            html.Span("", id="wall-updated", className="wall-updated"),
            html.Div("", id="wall-status", className="wall-status"),
        ]),
        html.Aside(className="wall-left", children=[
            html.Section(className="wall-panel", children=[
                html.H2(t("wall_trend", lang, days=DAYS)), dcc.Graph(id="wall-trend", className="wall-graph", config=_STATIC)]),
            html.Section(className="wall-panel", children=[
                html.H2(t("wall_categories", lang, days=DAYS)),
                dcc.Graph(id="wall-categories", className="wall-graph", config=_STATIC)]),
        ]),
        html.Main(className="wall-centre", children=[
            html.Div(className="wall-kpis", children=[
                _tile("wall_today", "wall-kpi-today", lang), _tile("wall_open", "wall-kpi-open", lang),
                _tile("wall_overdue", "wall-kpi-overdue", lang), _tile("wall_resolved", "wall-kpi-resolved", lang, days=DAYS),
                _tile("wall_patrol", "wall-kpi-patrol", lang), _tile("wall_yellow", "wall-kpi-yellow", lang)]),
            html.Div(className="wall-map-wrap", children=[
                html.Div(id="wall-legend", className="wall-legend"),
                dl.Map(id="wall-map", center=centre, zoom=zoom, zoomSnap=0.25, zoomControl=False, dragging=False,
                       scrollWheelZoom=False, doubleClickZoom=False, boxZoom=False, keyboard=False, touchZoom=False,
                       attributionControl=bool(base), style={"height": "100%"}, children=[
                           *base,
                           dl.GeoJSON(id="wall-districts-layer", data=EMPTY, style={"variable": "shiyu.wallDistrict"},
                                      hideout={}, interactive=False),
                           dl.GeoJSON(id="wall-hot", data=EMPTY, style={"variable": "shiyu.wallHotspot"}, hideout={},
                                      interactive=False),
                           dl.GeoJSON(id="wall-below", data=EMPTY, style={"variable": "shiyu.wallBelow"}, interactive=False),
                           dl.GeoJSON(id="wall-facilities", data=EMPTY, pointToLayer={"variable": "shiyu.wallFacility"},
                                      hideout={}, interactive=False),
                           dl.GeoJSON(id="wall-new", data=EMPTY, pointToLayer={"variable": "shiyu.wallNew"},
                                      interactive=False),
                       ]),
                html.Div("", id="wall-district-name", className="wall-map-title"),
            ]),
        ]),
        html.Aside(className="wall-right", children=[
            wall_supervision.panel(lang),
            html.Section(className="wall-panel wall-alerts", children=[
                html.H2(t("wall_alerts", lang)), html.Ul(id="wall-alerts", className="wall-list")]),
            html.Section(className="wall-panel wall-latest", children=[
                html.H2(t("wall_latest", lang)), html.Ul(id="wall-ticker", className="wall-list")]),
        ]),
    ])


_STATIC = {"staticPlot": True, "displayModeBar": False, "responsive": True}

# Plotly sizes fonts in pixels: the browser reports one vh so charts read the same at 1080p and 4K.
clientside_callback("function (lang) { return window.innerHeight / 100; }",
                    Output("wall-vh", "data"), Input("wall-lang", "data"))


def _extent(extent) -> tuple[float, float, float, float]:
    """The wall's ``wall-extent`` store as the browser sends it back, which a tampered request can set to anything."""
    return inputs.box(extent, "the wall's extent")


def _last_good(value) -> datetime | None:
    try:
        return inputs.moment(value, "the last refresh")
    except InputError:
        return None


def _clock(moment: datetime | None) -> str:
    if moment is None:
        return "—"
    local = moment.astimezone(BEIJING)
    same_day = local.date() == datetime.now(BEIJING).date()
    return f"{local:%H:%M}" if same_day else f"{local:%m-%d %H:%M}"


def _status(as_of: datetime | None, lang: str) -> tuple[str, str]:
    """The status line and its class, from the newest load."""
    if as_of is None:
        return t("wall_never_loaded", lang), "wall-status stale"
    minutes = settings().stale_after_min
    if datetime.now(timezone.utc) - as_of > timedelta(minutes=minutes):
        return t("wall_stale_old", lang, time=_clock(as_of), minutes=f"{minutes:g}"), "wall-status stale"
    return t("wall_as_of", lang, time=_clock(as_of)), "wall-status"


def _percent(share: float | None) -> str:
    """Whole percent, with one decimal below 10 % so thin patrol coverage does not read as none."""
    if share is None:
        return "—"
    return f"{share * 100:.1f}%" if share < 0.1 else f"{share * 100:.0f}%"


def _alert_items(warnings, lang: str) -> list:
    features = warnings.features[:MAX_ALERTS]
    if not features:
        return [html.Li(t("wall_no_alerts", lang), className="wall-empty")]
    reason = "reason_zh" if lang == "zh-CN" else "reason_en"
    return [html.Li(className="wall-alert", children=[
        html.Span(f["properties"]["window"], className=f"wall-tag w{f['properties']['window']}"),
        html.Span(f["properties"][reason], className="wall-alert-text")]) for f in features]


def _latest_items(latest: list[dict], lang: str, new: dict[str, float]) -> list:
    """The ticker's rows; those in ``new`` (id: seconds since they arrived) tagged, their highlight keyed by id so a
    row keeps its element, and its animation, as rows arrive above it."""
    if not latest:
        return [html.Li(t("wall_no_latest", lang), className="wall-empty")]
    return [html.Li(key=r["id"], className="wall-report" + (" overdue" if r["overdue"] else "")
                    + (" new" if r["id"] in new else ""),
                    style={"animationDelay": f"-{new[r['id']]:g}s"} if r["id"] in new else None, children=[
        html.Span(f"{r['reported_at']:%H:%M}", className="wall-report-time"),
        html.Span([*([html.Span(t("wall_new_tag", lang), className="wall-new-tag")] if r["id"] in new else []),
                   t(r["category"], lang)], className="wall-report-category"),
        html.Span(r["grid_name"] or r["grid_code"] or "—", className="wall-report-place"),
        html.Span(t("wall_overdue_tag", lang) if r["overdue"] else t(r["status"], lang), className="wall-report-status"),
        html.Span(" ".join(p for p in (r["reporter"], r["phone"]) if p), className="wall-report-who"),
    ]) for r in latest]


@callback(
    Output("wall-kpi-today", "children"), Output("wall-kpi-open", "children"), Output("wall-kpi-overdue", "children"),
    Output("wall-kpi-resolved", "children"), Output("wall-kpi-patrol", "children"),
    Output("wall-ticker", "children"), Output("wall-new", "data"), Output("wall-shown", "data"),
    Output("wall-last-good", "data"), Output("wall-since", "data"),
    Output("wall-status", "children"), Output("wall-status", "className"), Output("wall-updated", "children"),
    Input("wall-changed", "data"),
    State("wall-lang", "data"), State("wall-extent", "data"), State("wall-last-good", "data"), State("wall-since", "data"),
)
def refresh_panels(changed, lang, extent, last_good, since):
    """The live parts (headline numbers, latest reports, what just arrived, the status line): on the periodic
    refresh (overdue counts move with the clock) and when the probe saw the data's version move."""
    if changed is None:  # the first tick has not come yet
        raise PreventUpdate
    lang = pick(lang)
    try:
        filters, scope = Filters(bbox=_extent(extent), zoom=MAP_ZOOM, res=HOT_RES), current_scope()
        version = data_version()  # before the data it labels (geodata/version.py)
        as_of = panels.data_as_of()
        # What arrived in the last NEW_FOR_S is marked, but only after the wall first drew: a wall just opened has
        # seen nothing arrive yet.
        since = _last_good(since) or as_of
        arrived = panels.arrivals(filters, scope, live.NEW_FOR_S, after=since) if since else []
        kpis = panels.headline(filters, scope, days=DAYS)
        latest = panels.latest_incidents(filters, scope, n=MAX_LATEST)
    except InputError as error:
        log.warning("wall: refresh refused: %s", error)
        return (*[no_update] * 10, str(error), "wall-status stale", no_update)
    except ShiyuError as error:
        log.warning("wall: refresh failed: %s", error, exc_info=error.__cause__ is not None)
        shown = _clock(_last_good(last_good))
        return (*[no_update] * 10, t("wall_stale_down", lang, time=shown), "wall-status stale down", no_update)
    status, status_class = _status(as_of, lang)
    return (f"{kpis['today']:,}", f"{kpis['open']:,}", f"{kpis['overdue']:,}", _percent(kpis["resolved_share"]),
            _percent(kpis["patrol_share"]),
            _latest_items(latest, lang, {a["id"]: a["age_s"] for a in arrived}),
            live.arrival_points(arrived), version, as_of and as_of.isoformat(), since and since.isoformat(),
            status, status_class, f"{datetime.now(BEIJING):%H:%M:%S}")


# The costly parts follow wall-changed, but while data keeps arriving at most every SHIYU_LIVE_HEAVY_REDRAW_S: a
# steady feed moves the version every few seconds, and redrawing the map and charts each time took more of the two
# cores than the posts did (bench.intake at 10M). Decided in the browser, so a held-back redraw costs no request.
# The periodic refresh always passes (its tick is new); a move held back is drawn by the next pass.
clientside_callback(
    """function (changed, last, every) {
        if (!changed) { return window.dash_clientside.no_update; }
        const now = Date.now() / 1000;
        if (last && changed.tick === last.tick && now - last.at < every) { return window.dash_clientside.no_update; }
        return {tick: changed.tick, version: changed.version, at: now};
    }""",
    Output("wall-heavy", "data"), Input("wall-changed", "data"), State("wall-heavy", "data"),
    State("wall-heavy-s", "data"))


@callback(
    Output("wall-trend", "figure"), Output("wall-categories", "figure"), Output("wall-alerts", "children"),
    Input("wall-heavy", "data"), Input("wall-vh", "data"), State("wall-lang", "data"), State("wall-extent", "data"),
)
def refresh_charts(heavy, vh, lang, extent):
    """The trend, the categories and the early warnings (the status line reports a failure: refresh_panels)."""
    if vh is None or heavy is None:  # the browser has not reported its size, or the first tick not come, yet
        raise PreventUpdate
    lang = pick(lang)
    try:
        vh = max(1.0, inputs.number(vh, "the screen's height", 0, 10_000))  # plotly takes no font below 1 px
        filters, scope = Filters(bbox=_extent(extent), zoom=MAP_ZOOM, res=HOT_RES), current_scope()
        trend = panels.daily_trend(filters, scope, days=DAYS)
        breakdown = panels.category_breakdown(filters, scope, days=DAYS)
        warnings = early_warning.recent(filters, scope)
    except ShiyuError as error:
        log.warning("wall: charts not refreshed: %s", error, exc_info=error.__cause__ is not None)
        return no_update, no_update, no_update
    return trend_figure(trend, vh), category_figure(breakdown, lang, vh), _alert_items(warnings, lang)


@callback(Output("wall-kpi-yellow", "children"), Output("wall-supervision", "children"),
          Input("wall-heavy", "data"), State("wall-lang", "data"))
def refresh_supervision(heavy, lang):
    """The yellow lights and the supervision panel, with the map and charts (``wall-heavy``)."""
    if heavy is None:
        raise PreventUpdate
    try:
        counts = supervision_reads.wall_counts(current_scope())
    except ShiyuError as error:
        log.warning("wall: supervision refresh failed: %s", error, exc_info=error.__cause__ is not None)
        return no_update, no_update
    return f"{counts['yellow']:,}", wall_supervision.items(counts, pick(lang))


@callback(Output("wall-changed", "data"), Input("wall-interval", "n_intervals"), Input("wall-probe", "n_intervals"),
          State("wall-shown", "data"), State("wall-changed", "data"))
def probe(ticks, _probes, shown, asked):
    """What moves the heavy callbacks: the periodic refresh (and the page's first), and the cheap question every
    few seconds, has a batch committed since the panels were drawn?"""
    if dash.ctx.triggered_id == "wall-probe":
        return live.changed(shown, asked)
    return live.periodic(ticks, asked)


def _legend(districts, hot, stations, lang: str) -> list:
    swatch = lambda colour, extra="": html.Span(className=f"wall-swatch {extra}", style={"background": colour})  # noqa: E731
    rows = [html.Div(t("wall_legend_density", lang), className="wall-legend-title")]
    rows += [html.Div([swatch(e.colour), html.Span(e.label)], className="wall-legend-row") for e in districts.legend[1:]]
    rows += [html.Div([swatch(CLASS_COLOURS["hot99"]), html.Span(t("wall_legend_hot", lang))], className="wall-legend-row"),
             html.Div([swatch(CLASS_COLOURS["cold99"]), html.Span(t("wall_legend_cold", lang))], className="wall-legend-row"),
             html.Div([swatch("transparent", "outline"), html.Span(t("wall_legend_below", lang))],
                      className="wall-legend-row")]
    rows += [html.Div([swatch(e.colour, "dot"), html.Span(t(e.label, lang))], className="wall-legend-row")
             for e in stations.legend if e.label in WALL_FACILITY_TYPES]
    rows.append(html.Div([html.Span(className="wall-swatch dot new"), html.Span(t("wall_legend_new", lang))],
                         className="wall-legend-row"))
    return rows


@callback(
    Output("wall-districts-layer", "data"), Output("wall-districts-layer", "hideout"), Output("wall-hot", "data"),
    Output("wall-hot", "hideout"), Output("wall-below", "data"), Output("wall-facilities", "data"),
    Output("wall-facilities", "hideout"), Output("wall-legend", "children"),
    Output("wall-districts", "data"), Output("wall-map-hash", "data"),
    Input("wall-heavy", "data"),
    State("wall-lang", "data"), State("wall-extent", "data"), State("wall-map-hash", "data"),
)
def refresh_map(heavy, lang, extent, last_hash):
    if heavy is None:  # before the first tick
        raise PreventUpdate
    lang = pick(lang)
    try:
        filters = Filters(bbox=_extent(extent), zoom=MAP_ZOOM, res=HOT_RES, tier="district")
        scope = current_scope()
        # Four layers, asked side by side: the map waits for the slowest, not the sum.
        districts, hot, (patrols, _), stations = side_by_side(
            lambda: areas.build(filters, scope, median=False),  # the wall shows no median: it is most of the cost
            lambda: hotspots.build(filters, scope),
            lambda: coverage.grid_shares(filters, scope),  # the outlines only: no hot cells, shapes for few
            lambda: facilities.build(filters, scope, types=WALL_FACILITY_TYPES))
    except ShiyuError as error:
        log.warning("wall: map refresh failed: %s", error, exc_info=error.__cause__ is not None)
        return (no_update,) * 10
    hot.features = [f for f in hot.features if f["properties"]["class"] != "ns"]
    below = sorted((g for g in patrols if g["below"]), key=lambda g: (g["share"], g["grid_code"]))[:MAX_OUTLINES]
    outlines = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": f["geometry"], "properties": {"grid_code": f["properties"]["grid_code"]}}
        for f in coverage.with_shapes(below, MAP_ZOOM)]}
    points = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": f["geometry"], "properties": {"type": f["properties"]["type"]}}
        for f in stations.features if f["properties"].get("kind") == "facility"]}
    # A refresh that found nothing new sends nothing: the map is not redrawn.
    payload = (districts.geojson(), districts.style, hot.geojson(), hot.style, outlines, points,
               {"classes": stations.style["classes"]})
    digest = hashlib.sha256(orjson.dumps(payload)).hexdigest()
    stops = [{"name": f["properties"]["name"], "bbox": list(shapely.geometry.shape(f["geometry"]).bounds)}
             for f in districts.features]
    legend = _legend(districts, hot, stations, lang)
    if digest == last_hash:
        return (*[no_update] * len(payload), legend, no_update, no_update)
    return (*payload, legend, stops, digest)


@callback(
    Output("wall-map", "viewport"), Output("wall-district-name", "children"),
    Input("wall-interval", "n_intervals"), Input("wall-districts", "data"),
    State("wall-rotate", "data"), State("wall-extent", "data"), State("wall-lang", "data"),
)
def move_view(ticks, districts, rotate, extent, lang):
    """Fit the city when its districts first arrive (the map has its final size by then), and never again unless the
    districts change; with rotation, each refresh moves on to the next district (the city in between laps)."""
    # What the browser sends back, checked: a tampered value is an InputError, which the app answers with a 400.
    ticks = int(inputs.number(ticks or 0, "the refresh count", 0, 2**53))
    extent = _extent(extent)
    if not isinstance(districts, (list, type(None))):
        raise InputError("the wall's districts are not a list")
    stops = [None, *(_stop(d) for d in districts or [])]
    if not rotate or len(stops) == 1:
        if dash.ctx.triggered_id == "wall-districts":
            return {"bounds": _bounds(extent), "options": {"animate": False}}, ""
        raise PreventUpdate
    stop = stops[ticks % len(stops)]
    if stop is None:
        return {"bounds": _bounds(extent), "transition": "flyToBounds"}, ""
    return {"bounds": _bounds(stop["bbox"]), "transition": "flyToBounds"}, t("wall_district", pick(lang), name=stop["name"])


def _stop(district) -> dict:
    """One district of ``wall-districts`` (``refresh_map``'s stops), checked."""
    if not isinstance(district, dict) or not isinstance(district.get("name"), str):
        raise InputError(f"the wall's district {str(district)[:60]!r} is not a name and a box")
    return {"name": district["name"], "bbox": inputs.box(district.get("bbox"), "a district's box")}
