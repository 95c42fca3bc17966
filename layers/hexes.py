"""Incident counts per H3 cell in view, classed for a sequential colour scale.

Zoomed in to ``POINTS_ZOOM`` or beyond, when the view holds at most
``MAX_POINTS`` incidents, the incidents themselves are returned instead (the
map clusters them); personal data never leaves the database here.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone

import h3
import numpy as np
from geodata.db import compose, fetch_all
from geodata.h3cells import cell_to_hex, cell_to_ring_lonlat, cells_param
from geodata.scope import Scope
from geodata.taxonomy import CATEGORIES, CLOSED_STATUSES
from layers.base import INCIDENT_FILTERS, OVERDUE, Filters, LayerResult, LegendEntry, incident_params, view_path
from layers.cube import cube_for

# ColorBrewer YlOrRd, 6 classes: sequential in lightness, safe for colour-blind viewers.
COLOURS = ("#ffffb2", "#fed976", "#feb24c", "#fd8d3c", "#f03b20", "#bd0026")
# Mean edge length in degrees, roughly, to widen the box so cells on its edge are counted whole.
_EDGE_DEG = {7: 0.012, 8: 0.0045, 9: 0.0017, 10: 0.0007}
# A cell's area in square degrees near 30° N, roughly: how many cells a box holds.
AREA_DEG2 = {7: 5.16 / 111.0 / 96.0, 8: 0.737 / 111.0 / 96.0, 9: 0.105 / 111.0 / 96.0, 10: 0.015 / 111.0 / 96.0}

COUNTS_IN_VIEW = """
SELECT {cell} AS cell, count(*) AS n
FROM shiyu.incident
WHERE geom && ST_MakeEnvelope(%(west)s, %(south)s, %(east)s, %(north)s, 4326)
  AND """ + INCIDENT_FILTERS + """
GROUP BY 1
"""


# Quantiles, with the last break high so the hottest few cells stand apart.
QUANTILES = (0.2, 0.4, 0.6, 0.8, 0.95)
NICE = (1, 2, 5)
SKEWED = 20  # max / median beyond which classes are spaced in powers of ten


def _nice(value: float) -> int:
    """The 1-2-5 number nearest to ``value`` on a log scale."""
    magnitude = 10 ** math.floor(math.log10(value))
    return int(min((m * magnitude for m in (*NICE, 10)), key=lambda step: abs(math.log(step / value))))


# Views a cube answers (layers/cube.py) read it: its size follows the cells, not the incidents. A view of
# few cells names them, so the key is probed; a city-wide one reads the cube and keeps the cells in view.
COUNTS_FROM_CUBE = """
SELECT {cell} AS cell, sum(n)::bigint AS n
FROM <cube>
WHERE (%(cells)s::bigint[] IS NULL OR {cell} = ANY(%(cells)s::bigint[])) AND <where>
GROUP BY 1
"""
MAX_NAMED_CELLS = 20_000

# The grid accountable for a hex: the one in scope holding the largest share of it.
DOMINANT_GRID = """
SELECT DISTINCT ON (c.cell) c.cell, c.code
FROM shiyu.area_cell c JOIN shiyu.area a ON a.code = c.code
WHERE c.res = %(res)s AND c.cell = ANY(%(cells)s::bigint[])
  AND (%(scope)s::ltree IS NULL OR a.path <@ %(scope)s::ltree)
ORDER BY c.cell, c.share DESC, c.code
"""


def nice_breaks(counts: np.ndarray) -> list[int]:
    """Upper bounds of up to six classes, the last one the maximum.

    Counts spanning decades (hotspots over a quiet countryside) get classes
    evenly spaced in log, at 1-2-5 numbers, so both the countryside and the
    hotspots are told apart; others get quantile classes.
    """
    if counts.size == 0:
        return []
    top = int(counts.max())
    if top / max(float(np.median(counts)), 1.0) >= SKEWED:
        candidates = [_nice(10 ** (math.log10(top) * k / len(COLOURS))) for k in range(1, len(COLOURS))]
    else:
        candidates = [int(math.ceil(q)) if q <= 10 else int(round(q, -int(math.floor(math.log10(q))) + 1))
                      for q in np.quantile(counts, QUANTILES) if q >= 1]
    breaks = sorted({b for b in candidates if 1 <= b < top})
    return breaks + [top]


def legend_for(breaks: list[int]) -> list[LegendEntry]:
    entries, low = [], 1
    for i, high in enumerate(breaks):
        entries.append(LegendEntry(f"{low}" if low == high else f"{low}–{high}", COLOURS[i]))
        low = high + 1
    return entries


def _cells_in_box(box: tuple[float, float, float, float], res: int) -> list[int] | None:
    """The cells whose centre lies in ``box``, or None when there would be more than ``MAX_NAMED_CELLS``."""
    west, south, east, north = box
    if (east - west) * (north - south) / AREA_DEG2[res] > MAX_NAMED_CELLS:
        return None
    polygon = h3.LatLngPoly([(south, west), (south, east), (north, east), (north, west)])
    return [h3.str_to_int(c) for c in h3.h3shape_to_cells(polygon, res)]


def cell_counts(filters: Filters, scope: Scope) -> list[tuple[int, int]]:
    """(cell, count) of the cells whose centre lies in the view widened by two edges, each counted whole."""
    pad = 2 * _EDGE_DEG[filters.res]
    west, south, east, north = filters.bbox
    box = (west - pad, south - pad, east + pad, north + pad)
    column = f"h3_r{filters.res}"
    cube = cube_for(filters, scope)
    if cube is not None:
        named = _cells_in_box(box, filters.res)
        rows = fetch_all(compose(cube.query(COUNTS_FROM_CUBE), cell=column),
                         {**cube.params, "cells": None if named is None else cells_param(named)})
        if named is not None:
            return [(r["cell"], int(r["n"])) for r in rows]
    else:
        # A cell whose centre is in the box reaches one more edge beyond it: read that far, keep by centre.
        reach = 1.2 * _EDGE_DEG[filters.res]
        rows = fetch_all(compose(COUNTS_IN_VIEW, cell=column), {
            "west": box[0] - reach, "south": box[1] - reach, "east": box[2] + reach, "north": box[3] + reach,
            **incident_params(filters, scope)})
    centres = [h3.cell_to_latlng(h3.int_to_str(r["cell"])) for r in rows]
    return [(r["cell"], int(r["n"])) for r, (lat, lng) in zip(rows, centres)
            if box[0] <= lng <= box[2] and box[1] <= lat <= box[3]]


POINTS_ZOOM = 15
MAX_POINTS = 3000

POINTS_IN_VIEW = """
SELECT source, external_id, category, severity, status, reported_at, grid_code,
       """ + OVERDUE + """ AS overdue,
       round(ST_X(geom)::numeric, 6)::float8 AS lon, round(ST_Y(geom)::numeric, 6)::float8 AS lat
FROM shiyu.incident
WHERE ST_Intersects(geom, ST_MakeEnvelope(%(west)s, %(south)s, %(east)s, %(north)s, 4326))
  AND """ + INCIDENT_FILTERS + """
ORDER BY reported_at DESC, source, external_id
LIMIT %(limit)s
"""


def _points(filters: Filters, scope: Scope) -> LayerResult | None:
    """The incidents in view, newest first, or None when there are more than the map should draw."""
    west, south, east, north = filters.bbox
    rows = fetch_all(POINTS_IN_VIEW, {"west": west, "south": south, "east": east, "north": north,
                                      "closed": list(CLOSED_STATUSES), "now": datetime.now(timezone.utc),
                                      "limit": MAX_POINTS + 1,
                                      **incident_params(filters, scope)})
    if len(rows) > MAX_POINTS:
        return None
    features = [{
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [r["lon"], r["lat"]]},
        "properties": {"id": f"{r['source']}:{r['external_id']}", "category": r["category"], "severity": r["severity"],
                       "status": r["status"], "reported_at": r["reported_at"].isoformat(), "overdue": bool(r["overdue"]),
                       "grid_code": r["grid_code"]},
    } for r in rows]
    legend = [LegendEntry(code, CATEGORIES[code].colour) for code in sorted({f["properties"]["category"] for f in features})]
    return LayerResult(features, legend, {"points": len(features), "incidents": len(features)},
                       {"mode": "points", "cluster": True, "property": "category",
                        "colours": {code: c.colour for code, c in CATEGORIES.items()}})


def build(filters: Filters, scope: Scope) -> LayerResult:
    if filters.zoom >= POINTS_ZOOM:
        points = _points(filters, scope)
        if points is not None:
            return points
    cells = cell_counts(filters, scope)
    dominant = fetch_all(DOMINANT_GRID, {"res": filters.res, "cells": cells_param([c for c, _ in cells]),
                                         "scope": view_path(filters, scope)})
    grid_of = {r["cell"]: r["code"] for r in dominant}
    counts = np.array([n for _, n in cells], dtype=np.int64)
    breaks = nice_breaks(counts)
    features = [{
        "type": "Feature",
        "geometry": {"type": "Polygon", "coordinates": [cell_to_ring_lonlat(cell)]},
        "properties": {"h3": cell_to_hex(cell), "count": n, "grid_code": grid_of.get(cell)},
    } for cell, n in cells]
    return LayerResult(
        features,
        legend_for(breaks),
        {"cells": len(features), "incidents": int(counts.sum())},
        {"mode": "hexes", "breaks": breaks, "colours": list(COLOURS[: len(breaks)]), "property": "count"},
    )
