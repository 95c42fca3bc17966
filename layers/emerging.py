"""Emerging hot spots: how each cell's Gi* z-score evolves over weekly bins.

Per cell of the grids in view, counts per Monday-started Beijing week: the
complete weeks before the one ``filters.until`` falls in (else the newest
incident's), so a week still under way does not read as a drop. They come
from the weekly cube when it can answer (``layers/cube.py``), else from the
incidents. Gi* runs on every bin, then the Mann–Kendall trend of each cell's
z-scores and the categories of ArcGIS Pro's Emerging Hot Spot Analysis
(``layers/stats.py`` quotes the definitions).
"""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta

import numpy as np

from geodata.db import compose, fetch_all
from geodata.h3cells import cell_to_hex, cell_to_ring_lonlat, cells_param
from geodata.scope import Scope
from layers.base import (BEIJING, INCIDENT_FILTERS, Filters, LayerResult, LegendEntry, beijing_midnight, incident_params,
                         view_path)
from layers.cube import cube_for
from layers.hotspots import study_area
from layers.stats import EMERGING_CATEGORIES, EMERGING_COLOURS, emerging_from_counts, hex_neighbours

DEFAULT_WEEKS = 12

# The newest incident of the view's scope: the owner handed a district's scope and shiyu_app held to it by row
# security find the same one (the city's newest may lie in another district, a week later).
NEWEST = "SELECT max(reported_at) AS newest FROM shiyu.incident WHERE %(scope)s::ltree IS NULL OR path <@ %(scope)s::ltree"

COUNTS_BY_WEEK_FROM_CUBE = """
SELECT {cell} AS cell, week, sum(n)::bigint AS n
FROM <cube>
WHERE {cell} = ANY(%(cells)s::bigint[]) AND <where>
GROUP BY 1, 2
"""

COUNTS_BY_WEEK = """
SELECT {cell} AS cell, date_trunc('week', reported_at AT TIME ZONE 'Asia/Shanghai')::date AS week, count(*) AS n
FROM shiyu.incident
WHERE {cell} = ANY(%(cells)s::bigint[]) AND """ + INCIDENT_FILTERS + """
GROUP BY 1, 2
"""


def week_bins(filters: Filters, weeks: int, scope: Scope | None = None) -> list[date]:
    """The Mondays of the ``weeks`` complete weeks before the week the window ends in (without an end, the week of
    the newest incident in the view's scope)."""
    end = filters.until or fetch_all(NEWEST, {"scope": view_path(filters, scope or Scope.everything())})[0]["newest"]
    if end is None:
        return []
    local = end.astimezone(BEIJING)
    current = local.date() - timedelta(days=local.weekday())
    return [current - timedelta(weeks=k) for k in range(weeks, 0, -1)]


def _weekly_counts(filters: Filters, scope: Scope, cells: np.ndarray, bins: list[date]) -> np.ndarray:
    counts = np.zeros((len(cells), len(bins)))
    if not len(cells) or not bins:
        return counts
    window = dataclasses.replace(filters, since=beijing_midnight(bins[0]), until=beijing_midnight(bins[-1] + timedelta(weeks=1)))
    cube = cube_for(window, scope)  # a window, so the weekly cube or none
    column = f"h3_r{filters.res}"
    if cube is None:
        rows = fetch_all(compose(COUNTS_BY_WEEK, cell=column), {"cells": cells_param(cells), **incident_params(window, scope)})
    else:
        rows = fetch_all(compose(cube.query(COUNTS_BY_WEEK_FROM_CUBE), cell=column), {"cells": cells_param(cells),
                                                                                       **cube.params})
    position = {int(c): i for i, c in enumerate(cells)}
    column_of = {week: j for j, week in enumerate(bins)}
    for row in rows:
        counts[position[row["cell"]], column_of[row["week"]]] = row["n"]
    return counts


def build(filters: Filters, scope: Scope, weeks: int = DEFAULT_WEEKS, k: int = 1) -> LayerResult:
    study = study_area(filters, scope)
    bins = week_bins(filters, weeks, scope)
    cells = study.cells
    counts = _weekly_counts(filters, scope, cells, bins)
    if len(cells) > 1 and len(bins) >= 2:
        result = emerging_from_counts(counts, hex_neighbours(cells, k))
        categories, z = result.categories, result.z
    else:
        categories, z = np.full(len(cells), "no pattern detected"), np.zeros((len(cells), len(bins)))
    # Per-cell numbers taken out of numpy whole, not cell by cell: a city's 30,000 cells at r8 built 2x faster.
    totals = counts.sum(axis=1).astype(np.int64).tolist()
    z_last = [round(v, 4) for v in z[:, -1].tolist()] if len(bins) else [0.0] * len(cells)
    features = [{
        "type": "Feature",
        "geometry": {"type": "Polygon", "coordinates": [cell_to_ring_lonlat(cell)]},
        "properties": {"h3": cell_to_hex(cell), "count": total, "class": category, "z_last": last, "grid_code": code},
    } for cell, code, total, category, last in zip(cells.tolist(), study.codes, totals, categories.tolist(), z_last)]
    present = {f["properties"]["class"] for f in features}
    return LayerResult(
        features,
        [LegendEntry(c, EMERGING_COLOURS[c]) for c in EMERGING_CATEGORIES if c in present and c != "no pattern detected"],
        {"cells": len(features), "weeks": len(bins), "first_week": str(bins[0]) if bins else None,
         "incidents": int(counts.sum())},
        {"classes": dict(EMERGING_COLOURS), "property": "class"},
    )
