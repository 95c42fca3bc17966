"""Hotspots: Getis-Ord Gi* on every H3 cell of the study area, FDR-corrected, classed 90/95/99 %.

The study area is every cell of the grids in view and in scope (from
``shiyu.area_cell``), zero counts included, so a quiet cell next to a busy
one counts as quiet rather than missing. Every cell names the grid holding
the largest share of it, so a hot hex names the person accountable for it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from geodata.db import compose, fetch_all
from geodata.errors import InputError
from geodata.h3cells import cell_to_hex, cell_to_ring_lonlat, cells_param
from geodata.scope import Scope
from layers.base import INCIDENT_FILTERS, Filters, LayerResult, LegendEntry, incident_params, view_path
from layers.cube import cube_for
from layers.limits import STUDY_AREA_CELLS
from layers.stats import CLASS_COLOURS, CLASSES, getis_ord_gi_star, hex_neighbours

DEFAULT_K = 1
# A study area larger than this is refused: zoom in, or choose a coarser resolution. ``layers.limits`` refuses most
# such requests before this query, from an estimate; this holds where the estimate fell short.
MAX_CELLS = STUDY_AREA_CELLS

# The dominant grid of each cell of the grids that reach into the view.
STUDY_AREA = """
SELECT DISTINCT ON (c.cell) c.cell, c.code
FROM shiyu.area a JOIN shiyu.area_cell c ON c.code = a.code AND c.res = %(res)s
WHERE a.tier = 'grid'
  AND a.geom && ST_MakeEnvelope(%(west)s, %(south)s, %(east)s, %(north)s, 4326)
  AND (%(scope)s::ltree IS NULL OR a.path <@ %(scope)s::ltree)
ORDER BY c.cell, c.share DESC, c.code
"""
# As two arrays in one row: a city's 30,000 cells arrive several times faster than as 30,000 rows.
STUDY_AREA_COLUMNS = """
SELECT coalesce(array_agg(cell ORDER BY cell), '{}') AS cells, coalesce(array_agg(code ORDER BY cell), '{}') AS codes
FROM (""" + STUDY_AREA + """) s
"""

COUNTS = """
SELECT {cell} AS cell, count(*) AS n
FROM shiyu.incident
WHERE {cell} = ANY(%(cells)s::bigint[])
  AND """ + INCIDENT_FILTERS + """
GROUP BY 1
"""

# Views a cube answers (layers/cube.py) read it instead of every incident.
COUNTS_FROM_CUBE = """
SELECT {cell} AS cell, sum(n)::bigint AS n
FROM <cube>
WHERE {cell} = ANY(%(cells)s::bigint[]) AND <where>
GROUP BY 1
"""


def _counts(filters: Filters, scope: Scope, cells: np.ndarray) -> dict[int, int]:
    column = f"h3_r{filters.res}"
    cube = cube_for(filters, scope)
    if cube is None:
        rows = fetch_all(compose(COUNTS, cell=column), {"cells": cells_param(cells), **incident_params(filters, scope)})
    else:
        rows = fetch_all(compose(cube.query(COUNTS_FROM_CUBE), cell=column), {"cells": cells_param(cells), **cube.params})
    return {row["cell"]: int(row["n"]) for row in rows}


@dataclass
class StudyArea:
    """The cells of the grids in view and scope, ascending, and the grid holding the largest share of each."""

    cells: np.ndarray  # int64 H3 ids
    codes: list[str]

    def __len__(self) -> int:
        return len(self.codes)


def study_area(filters: Filters, scope: Scope) -> StudyArea:
    """The cells (with their dominant grid) of the grids in view and scope; too many is an InputError."""
    west, south, east, north = filters.bbox
    row = fetch_all(STUDY_AREA_COLUMNS, {"res": filters.res, "west": west, "south": south, "east": east,
                                         "north": north, "scope": view_path(filters, scope)})[0]
    if len(row["cells"]) > MAX_CELLS:
        raise InputError(f"the study area holds {len(row['cells']):,} H3 r{filters.res} cells, more than {MAX_CELLS:,}; "
                         "zoom in or choose a coarser resolution")
    return StudyArea(np.array(row["cells"], dtype=np.int64), row["codes"])


@dataclass
class Analysis:
    """Gi* of every cell of the study area, as columns."""

    cells: np.ndarray       # int64 H3 ids
    grid_codes: list[str]   # the grid accountable for each
    counts: np.ndarray
    z: np.ndarray
    p: np.ndarray
    p_fdr: np.ndarray
    classes: np.ndarray


def analyse(filters: Filters, scope: Scope, k: int = DEFAULT_K) -> Analysis:
    """Counts, Gi* and classes of the study area, without building features (for layers that need the classes)."""
    study = study_area(filters, scope)
    cells = study.cells
    by_cell = _counts(filters, scope, cells) if len(cells) else {}
    counts = np.array([by_cell.get(int(c), 0) for c in cells], dtype=float)
    if len(cells) > 1:
        result = getis_ord_gi_star(counts, hex_neighbours(cells, k))
        z, p, p_fdr, classes = result.z, result.p, result.p_fdr, result.classes
    else:
        z, p, p_fdr, classes = np.zeros(len(cells)), np.ones(len(cells)), np.ones(len(cells)), np.full(len(cells), "ns")
    return Analysis(cells, study.codes, counts, z, p, p_fdr, classes)


def build(filters: Filters, scope: Scope, k: int = DEFAULT_K) -> LayerResult:
    a = analyse(filters, scope, k)
    # Whole columns to Python at once: indexing numpy scalar by scalar costs more than the statistics.
    features = [{
        "type": "Feature",
        "geometry": {"type": "Polygon", "coordinates": [cell_to_ring_lonlat(cell)]},
        "properties": {"h3": cell_to_hex(cell), "count": n, "z": zi, "p": pi, "p_fdr": qi, "class": ci, "grid_code": code},
    } for cell, code, n, zi, pi, qi, ci in zip(a.cells.tolist(), a.grid_codes, a.counts.astype(int).tolist(),
                                               np.round(a.z, 4).tolist(), a.p.tolist(), a.p_fdr.tolist(), a.classes.tolist())]
    tally = dict.fromkeys(CLASSES, 0) | {c: int(n) for c, n in zip(*np.unique(a.classes, return_counts=True))}
    return LayerResult(
        features,
        [LegendEntry(c, CLASS_COLOURS[c]) for c in CLASSES],
        {"cells": len(features), "incidents": int(a.counts.sum()), "k": k, **tally},
        {"classes": dict(CLASS_COLOURS), "property": "class"},
    )
