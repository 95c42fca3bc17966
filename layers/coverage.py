"""Patrol coverage: how much of each grid a patrol visited in the window, and hot cells nobody visited.

Definitions
-----------
visited cell
    An H3 r10 cell with at least one patrol ping in the window.
share
    The part of a grid's *area* lying in visited cells: the sum of
    ``shiyu.area_cell.area_share`` over the grid's visited r10 cells (0–1).
    A cell on a border counts for every grid it overlaps, by the part of each
    grid it covers, whichever side the ping fell on.
last_visit, hours_since_visit
    The latest ping in any of the grid's r10 cells within the window, and the
    hours from it to the window's end (or to now, when the window ends later).
    None when no ping fell in the grid's cells during the window.
below
    ``share < threshold`` (``DEFAULT_THRESHOLD`` unless given).
hot but unpatrolled
    A cell that ``layers.hotspots`` classes hot90/hot95/hot99 for the same
    filters (so at the same resolution) none of whose r10 descendants was
    visited.

The window is taken at whole Beijing (Asia/Shanghai) days, because that is
the grain of the ``shiyu.patrol_cell_day`` cube it reads: from the day of
``filters.since`` to the end of the day of ``filters.until`` (a time at
midnight ends the window there). Without ``since`` it is the 7 days ending
with the day of ``until``, or of now. Naive times are read as Beijing time.
``summary`` carries the window actually used.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

import h3
import numpy as np

from geodata.db import fetch_all, side_by_side
from geodata.errors import InputError
from geodata.h3cells import cell_to_hex, cell_to_ring_lonlat
from geodata.scope import Scope
from layers import hotspots
from layers.base import BEIJING, Filters, LayerResult, LegendEntry, area_shapes, beijing_midnight, view_path
from layers.stats import CLASS_COLOURS

DEFAULT_THRESHOLD = 0.5
DEFAULT_DAYS = 7
PATROL_RES = 10
HOT_CLASSES = ("hot99", "hot95", "hot90")
MAX_GRIDS = 10_000  # the whole default demo city; beyond it the lowest shares are sent, the summary counts all
MAX_HOT_CELLS = 5_000  # the hottest (by z) are sent, the summary counts all

# ColorBrewer YlGnBu, 4 classes (rated colour-blind safe): pale where patrols are thin, dark where they are thorough.
SHARE_BREAKS = (0.25, 0.5, 0.75)
SHARE_COLOURS = ("#ffffcc", "#a1dab4", "#41b6c4", "#225ea8")
SHARE_LABELS = ("< 25 %", "25–50 %", "50–75 %", "≥ 75 %")
HOT_UNPATROLLED_COLOUR = CLASS_COLOURS["hot99"]  # the hotspot layer's own "hot", so it reads the same on both
NO_CELLS_COLOUR = "#969696"  # a grid too large for r10 cells (the loader skips those): no share to show

# The window's visited cells come from the day cube (205k rows a week in the demo against 1.34M pings), and
# each is looked up in area_cell's key (OFFSET 0 keeps it a lookup), so the work follows the 53k visited cells
# rather than all 1.65M r10 cells: 0.34 s for the demo city against 0.54 s for a hash join of every r10 cell
# of every grid (a district-sized view is 0.07 s slower this way; the whole city is the case to keep fast).
VISITED = """
WITH visited AS (
    SELECT h3_r10 AS cell, max(last_ts) AS last_ts
    FROM shiyu.patrol_cell_day
    WHERE day >= %(first_day)s AND day < %(end_day)s
    GROUP BY h3_r10
)"""
HITS = VISITED + """, hit AS (
    SELECT c.code, count(*) AS visited_cells, sum(c.area_share::float8) AS visited_share, max(v.last_ts) AS last_visit
    FROM visited v
    CROSS JOIN LATERAL (SELECT code, area_share FROM shiyu.area_cell c WHERE c.res = 10 AND c.cell = v.cell OFFSET 0) c
    GROUP BY c.code
)"""
# A window of the last 7 days (the default, the wall's and the KPIs') is kept per grid by shiyu.patrol_grid_week
# (0017), so its hits are read, not counted: the demo city's 10,000 grids in 0.0x s instead of 0.25 s.
WEEK_HITS = """
WITH hit AS (
    SELECT code, visited_cells, visited_share, last_visit FROM shiyu.patrol_grid_week WHERE end_day = %(end_day)s
)"""
ROLLUP_DAYS = 7
GRIDS_IN_VIEW = """
SELECT a.code, a.name, a.owner_name, a.area_m2, coalesce(n.cells, 0) AS cells,
       coalesce(h.visited_cells, 0) AS visited_cells, h.visited_share, h.last_visit
FROM shiyu.area a
LEFT JOIN shiyu.area_cell_count n ON n.code = a.code AND n.res = 10
LEFT JOIN hit h ON h.code = a.code
WHERE a.tier = 'grid'
  AND a.geom && ST_MakeEnvelope(%(west)s, %(south)s, %(east)s, %(north)s, 4326)
  AND (%(scope)s::ltree IS NULL OR a.path <@ %(scope)s::ltree)
"""
GRID_COVERAGE = HITS + GRIDS_IN_VIEW
GRID_COVERAGE_OF_WEEK = WEEK_HITS + GRIDS_IN_VIEW

# The roll-up to any tier: the visited part of the area of its grids (those with r10 cells). Grids first, each
# r10 cell probed in patrol_cell_day_cell_idx, so the work follows the areas asked for: on the demo city one
# street's panel took 8 ms instead of 300 ms, and the whole city 0.35 s instead of 1.7 s, against reading every
# visited cell of the window first (VISITED) and looking each up in area_cell.
GRIDS_BY_PATH = """
WITH grids AS (
    SELECT a.code, a.path, a.area_m2 FROM shiyu.area a
    WHERE a.tier = 'grid' AND nlevel(a.path) >= %(depth)s
      AND (%(scope)s::ltree IS NULL OR a.path <@ %(scope)s::ltree)
      AND (%(paths)s::ltree[] IS NULL OR a.path <@ %(paths)s::ltree[])
      AND EXISTS (SELECT 1 FROM shiyu.area_cell_count n WHERE n.code = a.code AND n.res = 10)
)"""
SHARE_BY_PATH = """
SELECT subpath(g.path, 0, %(depth)s)::text AS path,
       sum(coalesce(s.share, 0) * g.area_m2) / nullif(sum(g.area_m2), 0) AS share
FROM grids g LEFT JOIN grid_share s ON s.code = g.code
GROUP BY 1
"""
COVERAGE_BY_PATH = GRIDS_BY_PATH + """, grid_share AS (
    SELECT c.code, least(sum(c.area_share::float8), 1) AS share
    FROM grids g JOIN shiyu.area_cell c ON c.code = g.code AND c.res = 10
    WHERE EXISTS (SELECT 1 FROM shiyu.patrol_cell_day d
                  WHERE d.h3_r10 = c.cell AND d.day >= %(first_day)s AND d.day < %(end_day)s)
    GROUP BY c.code
)""" + SHARE_BY_PATH
# The last 7 days: the grids' shares read from shiyu.patrol_grid_week.
COVERAGE_OF_WEEK_BY_PATH = GRIDS_BY_PATH + """, grid_share AS (
    SELECT w.code, least(w.visited_share, 1) AS share FROM shiyu.patrol_grid_week w WHERE w.end_day = %(end_day)s
)""" + SHARE_BY_PATH

# The r10 descendants of a cell are one run of consecutive r10 indexes (they differ only in the digits finer
# than the cell's resolution), from its centre child to its last child; so whether any was visited is one
# range probe of patrol_cell_day_cell_idx per hot cell: 14 ms for the demo city's 612 hot r8 cells, against
# 0.1 s to fetch their 24k visited children and take their parents. A lateral probe that stops at its first
# row rather than EXISTS: under row-level security the policy's
# subquery priced every index probe so high that the semi-join read the window's 167,000 cell-days once and
# matched each hot cell against all of them (760 ms for the default city's 609 hot cells at r8, 4 ms as the owner).
PATROLLED = """
SELECT h.cell FROM unnest(%(cells)s::bigint[], %(lows)s::bigint[], %(highs)s::bigint[]) AS h (cell, low, high)
CROSS JOIN LATERAL (SELECT 1 FROM shiyu.patrol_cell_day d
                    WHERE d.h3_r10 BETWEEN h.low AND h.high AND d.day >= %(first_day)s AND d.day < %(end_day)s
                    LIMIT 1) visited
"""


def _beijing(moment: datetime) -> datetime:
    return moment.replace(tzinfo=BEIJING) if moment.tzinfo is None else moment.astimezone(BEIJING)


def patrol_window(filters: Filters, now: datetime | None = None) -> tuple[date, date]:
    """(first day, day after the last) of the window, in Beijing days."""
    until = _beijing(filters.until or now or datetime.now(timezone.utc))
    end_day = until.date() + timedelta(days=0 if until.time() == time(0) else 1)
    first_day = _beijing(filters.since).date() if filters.since else end_day - timedelta(days=DEFAULT_DAYS)
    return first_day, end_day


def _of_week(first_day: date, end_day: date) -> bool:
    """Whether the window is the last 7 days that shiyu.patrol_grid_week keeps."""
    return (end_day - first_day).days == ROLLUP_DAYS


def shares_by_path(depth: int, paths: list[str] | None, filters: Filters, scope: Scope) -> dict[str, float]:
    """Patrol coverage of the areas at ``depth`` (all in scope, or those of ``paths``), by path."""
    first_day, end_day = patrol_window(filters)
    query = COVERAGE_OF_WEEK_BY_PATH if _of_week(first_day, end_day) else COVERAGE_BY_PATH
    rows = fetch_all(query, {"first_day": first_day, "end_day": end_day, "depth": depth, "paths": paths,
                                        "scope": view_path(filters, scope)})
    return {r["path"]: float(r["share"]) for r in rows if r["share"] is not None}


def _grid_rows(filters: Filters, scope: Scope, first_day: date, end_day: date) -> list[dict]:
    west, south, east, north = filters.bbox
    query = GRID_COVERAGE_OF_WEEK if _of_week(first_day, end_day) else GRID_COVERAGE
    return fetch_all(query, {"first_day": first_day, "end_day": end_day, "west": west, "south": south,
                                     "east": east, "north": north, "scope": view_path(filters, scope)})


def _grid_properties(row: dict, threshold: float, reference: datetime) -> dict:
    share = None if row["cells"] == 0 else min(float(row["visited_share"] or 0.0), 1.0)  # float sums may pass 1
    last = row["last_visit"]
    hours = None if last is None else round(max((reference - last).total_seconds(), 0.0) / 3600, 1)
    return {
        "grid_code": row["code"], "name": row["name"], "owner": row["owner_name"],
        "share": None if share is None else round(share, 3), "visited_cells": int(row["visited_cells"]),
        "cells": int(row["cells"]), "last_visit": None if last is None else _beijing(last).isoformat(),
        "hours_since_visit": hours, "below": share is not None and share < threshold, "kind": "grid",
    }


def with_shapes(grids: list[dict], zoom: float) -> list[dict]:
    """Features of these grid properties, their boundaries simplified for the zoom."""
    shapes = area_shapes([g["grid_code"] for g in grids], zoom)
    return [{"type": "Feature", "geometry": shapes[g["grid_code"]], "properties": g} for g in grids]


def _hot_unpatrolled(filters: Filters, scope: Scope, first_day: date, end_day: date) -> list[dict] | None:
    """Hot cells with no visited r10 descendant, hottest first; None when hotspots refuse this view."""
    try:
        analysis = hotspots.analyse(filters, scope)
    except InputError:  # too many cells at this resolution: the grids still answer
        return None
    hot = np.flatnonzero(np.isin(analysis.classes, HOT_CLASSES))
    if not len(hot):
        return []
    cells = [cell_to_hex(c) for c in analysis.cells[hot].tolist()]
    ends = {"cells": analysis.cells[hot].tolist(),
            "lows": [h3.str_to_int(h3.cell_to_center_child(c, PATROL_RES)) for c in cells],
            "highs": [h3.str_to_int(h3.child_pos_to_cell(c, PATROL_RES, h3.cell_to_children_size(c, PATROL_RES) - 1))
                      for c in cells]}
    patrolled = {r["cell"] for r in fetch_all(PATROLLED, {"first_day": first_day, "end_day": end_day, **ends})}
    unpatrolled = sorted((i for i, cell in zip(hot.tolist(), ends["cells"]) if cell not in patrolled),
                         key=lambda i: -analysis.z[i])
    return [{
        "type": "Feature",
        "geometry": {"type": "Polygon", "coordinates": [cell_to_ring_lonlat(int(analysis.cells[i]))]},
        "properties": {"h3": cell_to_hex(int(analysis.cells[i])), "count": int(analysis.counts[i]),
                       "class": str(analysis.classes[i]), "grid_code": analysis.grid_codes[i], "kind": "hot_unpatrolled"},
    } for i in unpatrolled]


def same_fields(features: list[dict]) -> list[dict]:
    """Every feature with every field of the layer, None where its kind has none (a grid's ``h3``, a cell's
    ``share``): QGIS and GDAL type a layer from its first features, the grids, and dropped the cells' fields."""
    fields = dict.fromkeys(key for feature in features for key in feature["properties"])
    for feature in features:
        feature["properties"] = {**dict.fromkeys(fields), **feature["properties"]}
    return features


def _summary(rows: list[dict], grids: list[dict], threshold: float) -> dict:
    """Numbers over every grid in view, before any are left out of the features."""
    measured = [(g["share"], r["area_m2"]) for r, g in zip(rows, grids) if g["share"] is not None]
    area = sum(a for _, a in measured)
    return {
        "grids": len(rows),
        "grids_below": sum(1 for g in grids if g["below"]),
        "grids_without_cells": len(rows) - len(measured),
        # Area-weighted: the part of the grids' total area in visited cells.
        "mean_share": round(sum(s * a for s, a in measured) / area, 3) if area else None,
        "threshold": threshold,
    }


def grid_shares(filters: Filters, scope: Scope, threshold: float = DEFAULT_THRESHOLD,
                now: datetime | None = None) -> tuple[list[dict], dict]:
    """The coverage of every grid in view and scope, by code, without shapes (``with_shapes`` adds them to those
    drawn), and the summary of them all with the window."""
    if not 0 <= threshold <= 1:
        raise InputError(f"the coverage threshold must be between 0 and 1, not {threshold}")
    now = _beijing(now or datetime.now(timezone.utc))
    first_day, end_day = patrol_window(filters, now)
    start, end = beijing_midnight(first_day), beijing_midnight(end_day)
    rows = sorted(_grid_rows(filters, scope, first_day, end_day), key=lambda r: r["code"])
    grids = [_grid_properties(r, threshold, min(end, now)) for r in rows]
    summary = _summary(rows, grids, threshold) | {"window_start": start.isoformat(), "window_end": end.isoformat()}
    return grids, summary


def _grids_drawn(filters: Filters, scope: Scope, threshold: float, now: datetime) -> tuple:
    """(every grid's coverage, their summary, the grids drawn, their features): the thinnest when too many."""
    grids, summary = grid_shares(filters, scope, threshold, now)
    sent = grids
    if len(grids) > MAX_GRIDS:  # the thinnest coverage is what needs acting on
        thinnest = sorted(grids, key=lambda g: (g["share"] is None, g["share"] or 0.0, g["grid_code"]))[:MAX_GRIDS]
        sent = sorted(thinnest, key=lambda g: g["grid_code"])
    return grids, summary, sent, with_shapes(sent, filters.zoom)


def build(filters: Filters, scope: Scope, threshold: float = DEFAULT_THRESHOLD,
          now: datetime | None = None) -> LayerResult:
    """Coverage of the grids in view and scope, plus hot but unpatrolled cells; ``now`` is for tests."""
    now = _beijing(now or datetime.now(timezone.utc))
    first_day, end_day = patrol_window(filters, now)
    # The hot-spot analysis and the grids' shapes are each mostly the database's work: asked side by side, on two
    # connections (the scope travels with the context), the whole city at r8 waits for the longer, not the sum.
    hot, (grids, summary, sent, features) = side_by_side(
        lambda: _hot_unpatrolled(filters, scope, first_day, end_day),
        lambda: _grids_drawn(filters, scope, threshold, now))
    summary |= {"hot_unpatrolled": None if hot is None else len(hot),
                "truncated": len(sent) < len(grids) or (hot is not None and len(hot) > MAX_HOT_CELLS)}
    legend = [LegendEntry(label, colour) for label, colour in zip(SHARE_LABELS, SHARE_COLOURS)]
    legend.append(LegendEntry("hot but unpatrolled", HOT_UNPATROLLED_COLOUR))
    if summary["grids_without_cells"]:
        legend.append(LegendEntry("no r10 cells", NO_CELLS_COLOUR))
    return LayerResult(
        same_fields(features + (hot or [])[:MAX_HOT_CELLS]),
        legend,
        summary,
        {"property": "share", "breaks": list(SHARE_BREAKS), "colours": list(SHARE_COLOURS), "kind_property": "kind",
         "below_property": "below", "threshold": threshold, "hot_unpatrolled": HOT_UNPATROLLED_COLOUR,
         "missing": NO_CELLS_COLOUR},
    )
