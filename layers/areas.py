"""Area boundaries of one tier, clipped to the view and simplified for the zoom."""

from __future__ import annotations

import orjson

from geodata.db import fetch_all
from geodata.scope import Scope
from layers.base import Filters, LayerResult, LegendEntry, view_path

MAX_FEATURES = 5000

# Simplify in degrees by about one screen pixel at the zoom; the box is built in
# 4326, the column's SRID, so the GiST index is used.
AREAS_IN_VIEW = """
SELECT a.code, a.name, a.tier, a.owner_name, a.area_m2,
       ST_AsGeoJSON(ST_SimplifyPreserveTopology(a.geom, %(tolerance)s), 6) AS geometry
FROM shiyu.area a
WHERE a.tier = %(tier)s
  AND a.geom && ST_MakeEnvelope(%(west)s, %(south)s, %(east)s, %(north)s, 4326)
  AND (%(scope)s::ltree IS NULL OR a.path <@ %(scope)s::ltree)
ORDER BY a.code
LIMIT %(limit)s
"""


def pixel_degrees(zoom: float) -> float:
    return 360.0 / (256 * 2**zoom)


def build(filters: Filters, scope: Scope) -> LayerResult:
    west, south, east, north = filters.bbox
    rows = fetch_all(AREAS_IN_VIEW, {
        "tier": filters.tier, "west": west, "south": south, "east": east, "north": north,
        "scope": view_path(filters, scope), "tolerance": pixel_degrees(filters.zoom), "limit": MAX_FEATURES + 1,
    })
    truncated = len(rows) > MAX_FEATURES
    features = [{
        "type": "Feature",
        "geometry": orjson.loads(r["geometry"]),
        "properties": {
            "code": r["code"], "name": r["name"], "tier": r["tier"], "grid_code": r["code"] if r["tier"] == "grid" else None,
            "owner": r["owner_name"], "area_km2": round(r["area_m2"] / 1e6, 3),
            "tooltip": f"{r['name']} ({r['code']})" + (f" · {r['owner_name']}" if r["owner_name"] else ""),
        },
    } for r in rows[:MAX_FEATURES]]
    return LayerResult(features, [LegendEntry(filters.tier, "#1f2d3d")], {"areas": len(features), "truncated": truncated})


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
