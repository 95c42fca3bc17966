"""Area boundaries of one tier in view, simplified for the zoom, each with its KPIs (``layers/kpis.py``)."""

from __future__ import annotations

import math
from datetime import datetime

import numpy as np
import orjson

from geodata.db import fetch_all
from geodata.scope import Scope
from layers.base import Filters, LayerResult, LegendEntry, pixel_degrees, view_path
from layers.kpis import area_kpis, kpi_window
from layers.limits import AREAS_DRAWN

MAX_FEATURES = AREAS_DRAWN

# Simplify in degrees by about one screen pixel at the zoom; the box is built in
# 4326, the column's SRID, so the GiST index is used.
AREAS_IN_VIEW = """
SELECT a.code, a.name, a.tier, a.owner_name, a.area_m2, a.path::text AS path,
       ST_AsGeoJSON(ST_SimplifyPreserveTopology(a.geom, %(tolerance)s), 6) AS geometry
FROM shiyu.area a
WHERE a.tier = %(tier)s
  AND a.geom && ST_MakeEnvelope(%(west)s, %(south)s, %(east)s, %(north)s, 4326)
  AND (%(scope)s::ltree IS NULL OR a.path <@ %(scope)s::ltree)
ORDER BY a.code
LIMIT %(limit)s OFFSET %(offset)s
"""


# ColorBrewer YlGnBu, 5 classes: sequential, safe for colour-blind viewers, apart from the hexes' YlOrRd.
COLOURS = ("#ffffcc", "#a1dab4", "#41b6c4", "#2c7fb8", "#253494")
CHOROPLETH = "per_km2"


def density_breaks(values: np.ndarray) -> list[float]:
    """Upper bounds of up to five quantile classes at two significant figures, the last one the maximum."""
    values = values[values > 0]
    if values.size == 0:
        return []
    top = float(values.max())
    rounded = {float(f"{q:.2g}") for q in np.quantile(values, (0.2, 0.4, 0.6, 0.8))}
    return sorted(b for b in rounded if 0 < b < top) + [top]


def _legend(breaks: list[float]) -> list[LegendEntry]:
    entries, low = [LegendEntry("0", "#f0f0f0")], 0.0
    for i, high in enumerate(breaks):
        entries.append(LegendEntry(f"{_short(low)}–{_short(high)}", COLOURS[i]))
        low = high
    return entries


def _short(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 or value == 0 else f"{value:.{max(1, 1 - math.floor(math.log10(value)))}f}"


def _in_view(filters: Filters, scope: Scope) -> tuple[list[dict], bool]:
    """The areas of the tier in view (at most ``MAX_FEATURES``) and whether more were left out; of a ``part``,
    that run of them, never cut short."""
    west, south, east, north = filters.bbox
    rows = fetch_all(AREAS_IN_VIEW, {
        "tier": filters.tier, "west": west, "south": south, "east": east, "north": north,
        "scope": view_path(filters, scope), "tolerance": pixel_degrees(filters.zoom), "limit": MAX_FEATURES + 1,
        "offset": (filters.part or 0) * MAX_FEATURES,
    })
    return rows[:MAX_FEATURES], len(rows) > MAX_FEATURES and filters.part is None


def _features(rows: list[dict], kpis: dict[str, dict]) -> list[dict]:
    return [{
        "type": "Feature",
        "geometry": orjson.loads(r["geometry"]),
        "properties": {
            "code": r["code"], "name": r["name"], "tier": r["tier"], "grid_code": r["code"] if r["tier"] == "grid" else None,
            "owner": r["owner_name"], **kpis.get(r["code"], {}),
            "tooltip": f"{r['name']} ({r['code']})" + (f" · {r['owner_name']}" if r["owner_name"] else ""),
        },
    } for r in rows]


def boundaries(filters: Filters, scope: Scope) -> LayerResult:
    """The areas in view without their KPIs: for a map that only outlines them."""
    rows, truncated = _in_view(filters, scope)
    return LayerResult(_features(rows, {}), [LegendEntry(filters.tier, "#1f2d3d")],
                       {"areas": len(rows), "truncated": truncated})


def build(filters: Filters, scope: Scope, median: bool = True) -> LayerResult:
    """The areas of the tier in view with their KPIs (without ``median_hours`` when ``median`` is False)."""
    rows, truncated = _in_view(filters, scope)
    now = datetime.now().astimezone()
    kpis = area_kpis(rows, filters, scope, now, median)
    window = kpi_window(filters, now)
    breaks = density_breaks(np.array([k[CHOROPLETH] for k in kpis.values()], dtype=float))
    totals = {name: sum(k[name] for k in kpis.values()) for name in ("incidents", "resolved", "overdue")}
    return LayerResult(
        _features(rows, kpis), _legend(breaks), {"areas": len(rows), "truncated": truncated, **totals,
                                                 "since": window.since.isoformat(), "until": (window.until or now).isoformat()},
        {"property": CHOROPLETH, "breaks": breaks, "colours": list(COLOURS[: len(breaks)]), "zero": "#f0f0f0"})


TIERS_PRESENT = """
SELECT DISTINCT tier FROM shiyu.area WHERE (%(scope)s::ltree IS NULL OR path <@ %(scope)s::ltree)
"""


def tiers(scope: Scope) -> list[str]:
    """The tiers that have areas in scope."""
    return [row["tier"] for row in fetch_all(TIERS_PRESENT, {"scope": scope.path})]


EXTENT = """
SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e)
FROM (SELECT ST_Extent(geom) AS e FROM shiyu.area WHERE (%(scope)s::ltree IS NULL OR path <@ %(scope)s::ltree)) x
WHERE e IS NOT NULL
"""


def extent(scope: Scope) -> tuple[float, float, float, float] | None:
    """(west, south, east, north) of every area in scope, or None when there are none."""
    rows = fetch_all(EXTENT, {"scope": scope.path})
    return tuple(rows[0].values()) if rows else None
