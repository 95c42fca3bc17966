"""Explore (``/``): the grid boundaries and H3 incident hexagons of the view, with a legend.

The URL holds the state (``?lang=en&res=9``); the map asks for features of
its current bounds only, so the payload grows with the view, not the table.
"""

from __future__ import annotations

import logging
import math

import dash
import dash_leaflet as dl
from dash import Input, Output, State, callback, dcc, html, no_update

from dashboard.i18n import TEXT, pick, t
from geodata.errors import InputError, ShiyuError
from geodata.h3cells import RESOLUTIONS
from geodata.scope import Scope
from geodata.settings import settings
from layers import areas
from layers.base import Filters
from layers.registry import build

log = logging.getLogger(__name__)
dash.register_page(__name__, path="/", title="市域 Shiyu")

HANGZHOU = (119.9, 30.1, 120.4, 30.45)
AREA_KM2 = {7: 5.16, 8: 0.74, 9: 0.105, 10: 0.015}


def fit_view(bbox, width_px: int = 1100, height_px: int = 800) -> tuple[list[float], float]:
    """Centre and zoom that fit ``bbox`` in a map of about that size (Leaflet's own fitBounds, done ahead:
    dash-leaflet raises a page error when a map is initialised from ``bounds``)."""
    west, south, east, north = bbox
    merc = lambda lat: math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))  # noqa: E731
    zoom_x = math.log2(width_px * 360 / (256 * max(east - west, 1e-6)))
    zoom_y = math.log2(height_px * 2 * math.pi / (256 * max(merc(north) - merc(south), 1e-9)))
    zoom = math.floor(min(zoom_x, zoom_y, 18) * 4) / 4
    centre_lat = math.degrees(math.atan(math.sinh((merc(north) + merc(south)) / 2)))
    return [centre_lat, (west + east) / 2], zoom


def _bounds_to_bbox(bounds) -> tuple[float, float, float, float]:
    (south, west), (north, east) = bounds
    return (max(-180.0, west), max(-90.0, south), min(180.0, east), min(90.0, north))


LEGEND_TITLES = {"hexes": "legend_incidents", "hotspots": "legend_hotspots", "emerging": "legend_emerging",
                 "coverage": "legend_coverage", "facilities": "legend_facilities", "warnings": "legend_warnings"}


def _legend(result, lang: str, filters: Filters, layer: str) -> list:
    rows = [html.Div([html.Span(className="swatch", style={"background": e.colour}),
                      html.Span(t(e.label, lang) if e.label in TEXT else e.label)], className="legend-row")
            for e in result.legend]
    return [html.H2(f"{t(LEGEND_TITLES[layer], lang)} · r{filters.res}"), *rows,
            html.H2(t("legend_boundaries", lang)),
            html.Div([html.Span(className="swatch outline"), html.Span(t(filters.tier, lang))], className="legend-row")]


# What the map draws as the zoom grows: coarse tiers and cells far out, fine ones close in.
ZOOM_STEPS = ((10.5, "district", 7), (12.0, "street", 8), (13.5, "community", 9), (99.0, "grid", 10))


def for_zoom(zoom: float, tiers: list[str]) -> tuple[str, int]:
    """The tier to outline and the H3 resolution to count at this zoom; a tier not loaded gives way to the nearest one."""
    wanted, res = next((tier, r) for limit, tier, r in ZOOM_STEPS if zoom < limit)
    order = [tier for _, tier, _ in ZOOM_STEPS]
    present = [tier for tier in order if tier in tiers] or ["grid"]
    return min(present, key=lambda tier: abs(order.index(tier) - order.index(wanted))), res


LAYERS = ("hexes", "hotspots", "emerging", "coverage", "facilities", "warnings")
KINDED = ("coverage", "facilities", "warnings")  # features of several kinds, styled by shiyu.kindStyle
QUIET = {"hotspots": "ns", "emerging": "no pattern detected"}  # classes left off the map: most cells, saying nothing


def layout(lang: str | None = None, res: str | None = None, layer: str | None = None, **_query) -> html.Div:
    lang = pick(lang, settings().lang)
    layer = layer if layer in LAYERS else "hexes"
    resolution = int(res) if res in {str(r) for r in RESOLUTIONS} else "auto"
    notice, tiers = "", []
    try:
        extent = areas.extent(Scope.everything())
        tiers = areas.tiers(Scope.everything())
    except ShiyuError as error:
        log.warning("explore: no extent: %s", error)
        extent, notice = None, t("db_down", lang)
    if extent is None and not notice:
        notice = t("no_data", lang)
    centre, zoom = fit_view(extent or HANGZHOU)
    base = [dl.TileLayer(url=settings().tile_url, attribution=settings().tile_attribution)] if settings().tile_url else []
    other = "en" if lang == "zh-CN" else "zh-CN"
    return html.Div(className="shell", children=[
        dcc.Store(id="explore-lang", data=lang),
        dcc.Store(id="explore-extent", data=list(extent or HANGZHOU)),
        dcc.Store(id="explore-tiers", data=tiers),
        html.Header(className="topbar", children=[
            html.H1(t("title", lang)), html.Span(t("subtitle", lang), className="subtitle"), html.Span(className="spacer"),
            html.A(t("language", lang), href=f"/?lang={other}&res={resolution}&layer={layer}", id="explore-lang-switch"),
        ]),
        html.Aside(className="side", children=[
            html.H2(t("layer", lang)),
            dcc.RadioItems(id="explore-layer", className="res-radio", value=layer,
                           options=[{"label": t(f"layer_{name}", lang), "value": name} for name in LAYERS]),
            html.H2(t("resolution", lang)),
            dcc.RadioItems(id="explore-res", className="res-radio", value=resolution,
                           options=[{"label": t("res_auto", lang), "value": "auto"}]
                           + [{"label": t("res_label", lang, res=r, km=AREA_KM2[r]), "value": r} for r in RESOLUTIONS]),
            html.Div(id="explore-legend"),
            html.H2(t("in_view", lang)),
            html.Div(id="explore-stats"),
            html.Div(notice, id="explore-notice", className="notice"),
        ]),
        html.Div(className="map-wrap", children=[
            dl.Map(id="explore-map", center=centre, zoom=zoom, zoomSnap=0.25,
                   style={"height": "100%"}, children=[
                       *base,
                       dl.GeoJSON(id="explore-hexes", data={"type": "FeatureCollection", "features": []},
                                  style={"variable": "shiyu.hexStyle"}, hideout={},
                                  pointToLayer={"variable": "shiyu.facilityPoint"}),
                       # Zoomed in far enough, the incidents themselves, clustered in the browser.
                       dl.GeoJSON(id="explore-points", data={"type": "FeatureCollection", "features": []},
                                  cluster=True, zoomToBoundsOnClick=True, superClusterOptions={"radius": 60},
                                  pointToLayer={"variable": "shiyu.incidentPoint"}, hideout={}),
                       # Outlines in a pane above the hexagons that lets clicks and hovers through to them.
                       dl.Pane(name="grids", style={"zIndex": 450, "pointerEvents": "none"}, children=[
                           dl.GeoJSON(id="explore-grids", data={"type": "FeatureCollection", "features": []},
                                      style={"variable": "shiyu.gridStyle"}),
                       ]),
                       dl.ScaleControl(position="bottomleft", imperial=False),
                   ]),
        ]),
    ])


@callback(
    Output("explore-hexes", "data"), Output("explore-hexes", "hideout"), Output("explore-grids", "data"),
    Output("explore-legend", "children"), Output("explore-stats", "children"), Output("explore-notice", "children"),
    Output("explore-hexes", "style"), Output("explore-points", "data"), Output("explore-points", "hideout"),
    Input("explore-map", "bounds"), Input("explore-map", "zoom"), Input("explore-res", "value"),
    Input("explore-layer", "value"),
    State("explore-lang", "data"), State("explore-extent", "data"), State("explore-tiers", "data"),
)
def update_map(bounds, zoom, res, layer, lang, extent, tiers):
    lang = pick(lang)
    layer = layer if layer in LAYERS else "hexes"
    try:
        # dash-leaflet reports bounds only after the first move; until then the view is the fitted extent.
        bbox = _bounds_to_bbox(bounds) if bounds else tuple(extent)
        zoom = float(zoom or 12)
        tier, auto_res = for_zoom(zoom, tiers or [])
        res = auto_res if res in (None, "auto") else int(res)
        filters = Filters(bbox=bbox, zoom=zoom, res=res, tier=tier)
        hexes = build(layer, filters, Scope.everything())
        grids = areas.boundaries(filters, Scope.everything())  # outlines only: no KPIs to pay for
    except ShiyuError as error:
        log.warning("explore: map update failed: %s", error, exc_info=error.__cause__ is not None)
        message = str(error) if isinstance(error, InputError) else t("db_down", lang)
        return no_update, no_update, no_update, no_update, no_update, message, no_update, no_update, no_update
    if hexes.style.get("mode") == "points":
        return _points(hexes, grids, filters, layer, lang)
    classed = layer in QUIET
    if classed:
        hexes.features = [f for f in hexes.features if f["properties"]["class"] != QUIET[layer]]
    for feature in hexes.features:
        feature["properties"]["tooltip"] = _tooltip(layer, feature["properties"], lang, filters.res)
    stats = [html.Div([html.Span(t(key, lang)), html.B(f"{value:,}")], className="stat")
             for key, value in (*_shown(layer, hexes), (filters.tier, grids.summary["areas"]))]
    variable = "shiyu.kindStyle" if layer in KINDED else "shiyu.classStyle" if classed else "shiyu.hexStyle"
    style = {"variable": variable}
    return (hexes.geojson(), hexes.style, grids.geojson(), _legend(hexes, lang, filters, layer), stats, "", style,
            EMPTY, {})


EMPTY = {"type": "FeatureCollection", "features": []}


def _shown(layer: str, result) -> tuple:
    """The numbers of the "in view" panel for this layer."""
    summary = result.summary
    if layer == "coverage":
        return (("grids", summary["grids"]), ("hot but unpatrolled", summary["hot_unpatrolled"] or 0))
    if layer == "facilities":
        return (("facilities", summary["facilities"]), ("blind_spot", summary["blind_spots"]))
    if layer == "warnings":
        return (("flagged", len(result.features)),)
    shown = (("incidents", summary["incidents"]), ("cells", summary["cells"]))
    return shown + ((("significant", len(result.features)),) if layer in QUIET else ())


def _tooltip(layer: str, p: dict, lang: str, res: int) -> str:
    grid = f"{t('grid', lang)}: {p.get('grid_code') or '—'}"
    if layer == "warnings":
        return p["reason_zh" if lang == "zh-CN" else "reason_en"]
    if layer == "coverage" and p["kind"] == "grid":
        share = "—" if p["share"] is None else f"{p['share']:.0%}"
        last = p["last_visit"][:16].replace("T", " ") if p["last_visit"] else t("never", lang)
        return f"{p['name']} ({p['grid_code']}) · {p['owner'] or '—'}<br>{t('patrolled', lang)}: {share} · {t('last_visit', lang)}: {last}"
    if layer == "facilities" and p["kind"] == "facility":
        return f"{t(p['type'], lang)} · {p['name']}<br>{p['radius_m']:,} m<br>{grid}"
    if layer == "facilities":
        return f"{t('uncovered', lang)}: {', '.join(t(k, lang) for k in p['uncovered'])}<br>{grid}"
    extra = ""
    if layer == "hotspots":
        extra = f"<br>{t(p['class'], lang)} · z = {p['z']:.2f} · p(FDR) = {p['p_fdr']:.3f}"
    elif layer == "emerging":
        extra = f"<br>{t(p['class'], lang)} · z ({t('last_week', lang)}) = {p['z_last']:.2f}"
    elif layer == "coverage":
        extra = f"<br>{t('hot but unpatrolled', lang)}"
    return f"{t('incidents', lang)}: {p['count']}{extra}<br>H3 r{res} {p['h3']}<br>{grid}"


def _points(points, grids, filters: Filters, layer: str, lang: str) -> tuple:
    """The incidents themselves: drawn by the clustered layer, the hexagon layer emptied."""
    for feature in points.features:
        p = feature["properties"]
        p["tooltip"] = (f"{t(p['category'], lang)} · {t(p['status'], lang)}<br>{p['reported_at'][:16].replace('T', ' ')}"
                        f"<br>{t('grid', lang)}: {p['grid_code'] or '—'}")
    stats = [html.Div([html.Span(t(key, lang)), html.B(f"{value:,}")], className="stat")
             for key, value in (("incidents", points.summary["incidents"]), (filters.tier, grids.summary["areas"]))]
    legend = [html.H2(t("legend_points", lang)),
              *[html.Div([html.Span(className="swatch dot", style={"background": e.colour}),
                          html.Span(t(e.label, lang))], className="legend-row") for e in points.legend]]
    return (EMPTY, {}, grids.geojson(), legend, stats, "", {"variable": "shiyu.hexStyle"},
            points.geojson(), points.style)
