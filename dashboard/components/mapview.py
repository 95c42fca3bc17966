"""What the explore map draws for a layer result: legend, tooltips, the "in view" numbers and the view's fit."""

from __future__ import annotations

import math

from dash import html

from dashboard.i18n import TEXT, t
from geodata.taxonomy import CATEGORIES, STATUSES
from layers.base import Filters

HANGZHOU = (119.9, 30.1, 120.4, 30.45)
AREA_KM2 = {7: 5.16, 8: 0.74, 9: 0.105, 10: 0.015}
EMPTY = {"type": "FeatureCollection", "features": []}

LEGEND_TITLES = {"areas": "legend_areas", "hexes": "legend_incidents", "hotspots": "legend_hotspots",
                 "emerging": "legend_emerging", "coverage": "legend_coverage", "facilities": "legend_facilities",
                 "warnings": "legend_warnings", "supervision": "legend_supervision"}
KINDED = ("coverage", "facilities", "warnings")  # features of several kinds, styled by shiyu.kindStyle
QUIET = {"hotspots": "ns", "emerging": "no pattern detected"}  # classes left off the map: most cells, saying nothing

# What the map draws as the zoom grows: coarse tiers and cells far out, fine ones close in.
# r10 only from zoom 15, where the view is a few hundred metres: below it r9 cells are 40 px and more across and
# come from the all-time cube, while r10 counts read the incidents in the box (3.5 s for a street at 10M).
ZOOM_STEPS = ((10.5, "district", 7), (12.0, "street", 8), (13.5, "community", 9), (15.0, "grid", 9), (99.0, "grid", 10))


def fit_view(bbox, width_px: int = 1000, height_px: int = 560) -> tuple[list[float], float]:
    """Centre and zoom that fit ``bbox`` in a map of about that size (Leaflet's own fitBounds, done ahead:
    dash-leaflet raises a page error when a map is initialised from ``bounds``)."""
    west, south, east, north = bbox
    merc = lambda lat: math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))  # noqa: E731
    zoom_x = math.log2(width_px * 360 / (256 * max(east - west, 1e-6)))
    zoom_y = math.log2(height_px * 2 * math.pi / (256 * max(merc(north) - merc(south), 1e-9)))
    zoom = math.floor(min(zoom_x, zoom_y, 18) * 4) / 4
    centre_lat = math.degrees(math.atan(math.sinh((merc(north) + merc(south)) / 2)))
    return [centre_lat, (west + east) / 2], zoom


def view_bbox(centre: list[float], zoom: float, width_px: int = 1000, height_px: int = 560) -> tuple[float, ...]:
    """The box a map of about that size shows around ``centre`` ([lat, lon]) at ``zoom``: the inverse of
    ``fit_view``, for the first draw, before dash-leaflet has reported the map's own bounds."""
    lat, lon = centre
    scale = 256 * 2**zoom
    half_lon = width_px / 2 * 360 / scale
    merc = math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))
    half_merc = height_px / 2 * 2 * math.pi / scale
    south, north = (math.degrees(math.atan(math.sinh(merc + k * half_merc))) for k in (-1, 1))
    return (max(-180.0, lon - half_lon), max(-90.0, south), min(180.0, lon + half_lon), min(90.0, north))


def bounds_to_bbox(bounds) -> tuple[float, float, float, float]:
    (south, west), (north, east) = bounds
    return (max(-180.0, west), max(-90.0, south), min(180.0, east), min(90.0, north))


def for_zoom(zoom: float, tiers: list[str]) -> tuple[str, int]:
    """The tier to outline and the H3 resolution to count at this zoom; a tier not loaded gives way to the nearest one."""
    wanted, res = next((tier, r) for limit, tier, r in ZOOM_STEPS if zoom < limit)
    order = list(dict.fromkeys(tier for _, tier, _ in ZOOM_STEPS))
    present = [tier for tier in order if tier in tiers] or ["grid"]
    return min(present, key=lambda tier: abs(order.index(tier) - order.index(wanted))), res


def legend(result, lang: str, filters: Filters, layer: str) -> list:
    rows = [html.Div([html.Span(className="swatch", style={"background": e.colour}),
                      html.Span(t(e.label, lang) if e.label in TEXT else e.label)], className="legend-row")
            for e in result.legend]
    unit = t(filters.tier, lang) if layer == "areas" else "" if layer == "supervision" else f"r{filters.res}"
    outline = [] if layer == "areas" else [
        html.H2(t("legend_boundaries", lang)),
        html.Div([html.Span(className="swatch outline"), html.Span(t(filters.tier, lang))], className="legend-row")]
    return [html.H2(f"{t(LEGEND_TITLES[layer], lang)}" + (f" · {unit}" if unit else "")), *rows, *outline]


def point_legend(result, lang: str) -> list:
    return [html.H2(t("legend_points", lang)),
            *[html.Div([html.Span(className="swatch dot", style={"background": e.colour}),
                        html.Span(t(e.label, lang))], className="legend-row") for e in result.legend]]


def stats(pairs, lang: str) -> list:
    return [html.Div([html.Span(t(key, lang)), html.B(f"{value:,}")], className="stat") for key, value in pairs]


def shown(layer: str, result) -> tuple:
    """The numbers of the "in view" panel for this layer."""
    summary = result.summary
    if layer == "areas":
        return (("incidents", summary["incidents"]), ("overdue", summary["overdue"]))
    if layer == "coverage":
        return (("grids", summary["grids"]), ("hot but unpatrolled", summary["hot_unpatrolled"] or 0))
    if layer == "facilities":
        return (("facilities", summary["facilities"]), ("blind_spot", summary["blind_spots"]))
    if layer == "warnings":
        return (("flagged", len(result.features)),)
    if layer == "supervision":
        return (("red_in_view", summary["red"]), ("yellow_in_view", summary["yellow"]),
                ("orders_in_view", summary["orders"]))
    counts = (("incidents", summary["incidents"]), ("cells", summary["cells"]))
    return counts + ((("significant", len(result.features)),) if layer in QUIET else ())


def tooltip(layer: str, p: dict, lang: str, res: int) -> str:
    grid = f"{t('col_grid', lang)}: {p.get('grid_code') or '—'}"
    if layer == "areas":
        share = "—" if p.get("resolved_share") is None else f"{p['resolved_share']:.0%}"
        return (f"<b>{p['name']}</b> ({p['code']}) · {p['owner'] or '—'}<br>{t('incidents', lang)}: {p['incidents']:,}"
                f" · {t('per_km2', lang)}: {p['per_km2']:,.1f}<br>{t('resolved_share', lang)}: {share}"
                f" · {t('overdue', lang)}: {p['overdue']:,}<br><i>{t('click_drill', lang)}</i>")
    if layer == "warnings":
        return p["reason_zh" if lang == "zh-CN" else "reason_en"]
    if layer == "supervision":
        order = (f"<br>{t('order_no', lang)} {p['order_id']} · {t('level_' + p['order_level'], lang)} · "
                 f"{p['addressee']}") if p.get("order_id") else ""
        return (f"{t(p['category'], lang)} · {t(p['status'], lang)} · {t('light_' + p['light'], lang)}<br>"
                f"{t('col_due', lang)}: {(p['due_at'] or '')[:16].replace('T', ' ')}{order}<br>{grid}")
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


def point_labels(lang: str) -> dict:
    """The words of ``point_tooltip`` for the browser, which writes the same tooltip for incidents drawn from
    vector tiles (assets/tiles.js ``pointTooltip``)."""
    return {"categories": {code: t(code, lang) for code in CATEGORIES}, "statuses": {s: t(s, lang) for s in STATUSES},
            "grid": t("col_grid", lang), "incidents": t("incidents", lang)}


def point_tooltip(p: dict, lang: str) -> str:
    return (f"{t(p['category'], lang)} · {t(p['status'], lang)}<br>{p['reported_at'][:16].replace('T', ' ')}"
            f"<br>{t('col_grid', lang)}: {p['grid_code'] or '—'}")
