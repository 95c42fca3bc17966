"""Emerging hot spots: how each cell's Gi* z-score evolves over weekly bins.

Per cell of the grids in view, counts per week come from the weekly cube
(``shiyu.incident_week``, so r7 and r8 only); Gi* runs on every bin, then the
Mann–Kendall trend of each cell's z-scores and the categories of ArcGIS Pro's
Emerging Hot Spot Analysis (``layers/stats.py`` quotes the definitions).
"""

from __future__ import annotations

import numpy as np

from geodata.db import compose, fetch_all
from geodata.errors import InputError
from geodata.h3cells import cell_to_hex, cell_to_ring_lonlat
from geodata.scope import Scope
from layers.base import Filters, LayerResult, LegendEntry
from layers.hotspots import study_area
from layers.stats import EMERGING_CATEGORIES, EMERGING_COLOURS, emerging_from_counts, hex_neighbours

DEFAULT_WEEKS = 12
RESOLUTIONS = (7, 8)

# The last complete weeks before the newest week with data, so a week still under way does not read as a drop.
WEEKS = """
SELECT DISTINCT week FROM shiyu.incident_week
WHERE week < (SELECT max(week) FROM shiyu.incident_week)
ORDER BY week DESC LIMIT %(weeks)s
"""

COUNTS_BY_WEEK = """
SELECT {cell} AS cell, week, sum(n)::bigint AS n
FROM shiyu.incident_week
WHERE {cell} = ANY(%(cells)s::bigint[]) AND week = ANY(%(weeks)s::date[])
  AND (%(district)s::text IS NULL OR district = %(district)s)
  AND (cardinality(%(categories)s::text[]) = 0 OR category = ANY(%(categories)s::text[]))
GROUP BY 1, 2
"""


def _district(scope: Scope) -> str | None:
    """The district a scope allows; finer scopes are not in the cube."""
    if scope.path is None:
        return None
    labels = scope.path.split(".")
    if len(labels) != 2:
        raise InputError("emerging hot spots are kept per district: choose the city or one district")
    return labels[1]


def build(filters: Filters, scope: Scope, weeks: int = DEFAULT_WEEKS, k: int = 1) -> LayerResult:
    if filters.res not in RESOLUTIONS:
        raise InputError(f"emerging hot spots are computed at H3 r7 and r8, not r{filters.res}")
    study = study_area(filters, scope)
    bins = sorted(row["week"] for row in fetch_all(WEEKS, {"weeks": weeks}))
    cells = np.array([row["cell"] for row in study], dtype=np.int64)
    counts = np.zeros((len(cells), len(bins)))
    if len(cells) and bins:
        position = {int(c): i for i, c in enumerate(cells)}
        column = {week: j for j, week in enumerate(bins)}
        for row in fetch_all(compose(COUNTS_BY_WEEK, cell=f"h3_r{filters.res}"), {
                "cells": cells.tolist(), "weeks": bins, "district": _district(scope),
                "categories": list(filters.categories)}):
            counts[position[row["cell"]], column[row["week"]]] = row["n"]
    if len(cells) > 1 and len(bins) >= 2:
        result = emerging_from_counts(counts, hex_neighbours(cells, k))
        categories, z = result.categories, result.z
    else:
        categories, z = np.full(len(cells), "no pattern detected"), np.zeros((len(cells), len(bins)))
    features = [{
        "type": "Feature",
        "geometry": {"type": "Polygon", "coordinates": [cell_to_ring_lonlat(row["cell"])]},
        "properties": {"h3": cell_to_hex(row["cell"]), "count": int(counts[i].sum()), "class": str(categories[i]),
                       "z_last": round(float(z[i, -1]), 4) if len(bins) else 0.0, "grid_code": row["code"]},
    } for i, row in enumerate(study)]
    present = {f["properties"]["class"] for f in features}
    return LayerResult(
        features,
        [LegendEntry(c, EMERGING_COLOURS[c]) for c in EMERGING_CATEGORIES if c in present and c != "no pattern detected"],
        {"cells": len(features), "weeks": len(bins), "first_week": str(bins[0]) if bins else None,
         "incidents": int(counts.sum())},
        {"classes": dict(EMERGING_COLOURS), "property": "class"},
    )
