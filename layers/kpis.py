"""Per-area KPIs at any tier, rolled up from the incidents themselves.

An incident belongs to every area on its ``path`` (city.district.street.
community.grid), so the KPIs of an area at depth d are one GROUP BY over
``subpath(path, 0, d)``: counts of children add up to their parent exactly,
and medians are medians of the pooled incidents, never medians of medians.

The counts cover the filters' window, by default the ``DEFAULT_DAYS`` before
its end (or now): a KPI of the whole table would grow with the table, and a
command centre reads "this month" anyway. ``overdue`` counts, of those
incidents, the ones overdue now.

- ``incidents``: incidents matching the filters;
- ``per_km2``: incidents per km² of the area;
- ``resolved_share``: the share of them verified or closed;
- ``median_hours``: median hours from report to resolution, of those resolved;
- ``overdue``: not resolved and past the due time its category's SLA set, now;
- ``patrol_share``: the part of the area of its grids that a patrol visited in
  the window (``layers/coverage.py``), so an area's share is the area-weighted
  mean of its grids'.

Where they are read
-------------------
Without a severity or status filter the whole Beijing days of the window
come from the day cube ``shiyu.incident_day`` (incidents, resolved, and the
hours to resolve of every resolved incident, so the median pools exactly the
values the incidents would give), and only the part-days at its two ends
from the incidents, through the ``reported_at`` index; a part-day longer
than half a day is read as its whole day less the rest of it, which the
incidents hold fewer of (``part_split``).
Areas down to a street, in a scope down to a street, read the day cube
rolled up to the streets instead (``shiyu.incident_day_street``, 0014): its
rows keep each street-day's hours in ascending order and how many lie under
each of its ``HOUR_BOUNDS``, so the exact median reads only the bucket
holding it (``layers/street_kpis.py``). How a window is split into whole days
and part-days is ``layers/windows.py``.
``overdue`` changes with the clock, not with loads, so it is always counted
from the incidents, over the open ones only (the partial index of 0009).
With a severity or status filter, which the cube does not keep, everything
is read from the incidents (``KPIS_BY_PATH``). Both ways give the same
numbers (``tests/layers/test_kpis_cube.py``).
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from datetime import datetime, timedelta

from geodata.db import fetch_all, side_by_side
from geodata.scope import Scope
from geodata.taxonomy import CLOSED_STATUSES
from layers.base import DUE_AFTER_SINCE, INCIDENT_FILTERS, OVERDUE, Filters, in_scope_grids, incident_params
from layers.coverage import shares_by_path
from layers.street_kpis import reads_streets, street_rows
from layers import windows
from layers.windows import AREAS, GROUP, PART_DAYS, cube_categories, part_params

DEFAULT_DAYS = 30
COUNTS = ("incidents", "resolved", "overdue")
# ``path <@ ltree[]`` tests every element for every row: beyond a few areas, one pass over the scope is cheaper.
MAX_PATHS = 64

KPIS_BY_PATH = """
SELECT """ + GROUP + """ AS path,
       count(*) AS incidents,
       count(*) FILTER (WHERE status = ANY(%(closed)s::text[])) AS resolved,
       count(*) FILTER (WHERE """ + OVERDUE + """) AS overdue,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM resolved_at - reported_at) / 3600)
           FILTER (WHERE %(median)s AND resolved_at IS NOT NULL) AS median_hours
FROM shiyu.incident
WHERE (%(paths)s::ltree[] IS NULL OR path <@ %(paths)s::ltree[]) AND nlevel(path) >= %(floor)s
  AND (%(grids)s::text[] IS NULL OR grid_code = ANY(%(grids)s::text[]))
  AND """ + INCIDENT_FILTERS + """
GROUP BY 1
"""

# Whole days from the cube, the part-days from the incidents (one row each, the rest of a day read whole with sign
# -1), then the counts and the median of the pooled hours per area, less the rest's. The cube's resolved are
# CLOSED_STATUSES (0010_incident_day.sql); ``cube_categories`` binds its rows.
KPIS_BY_DAY = """
WITH parts AS (
    SELECT path, n, n_resolved, CASE WHEN %(median)s THEN resolve_hours END AS resolve_hours, NULL::float8[] AS less
    FROM shiyu.incident_day
    WHERE day >= %(first_day)s AND (%(end_day)s::date IS NULL OR day < %(end_day)s)
      AND (%(scope)s::ltree IS NULL OR path <@ %(scope)s::ltree)
      AND category = ANY(%(cube_categories)s::text[])""" + AREAS + """
      -- the same areas' grids again, found through the area table, so a street reads its grids' rows by index
      AND grid_code IN (SELECT a.code FROM shiyu.area a WHERE a.tier = 'grid'
                        AND (%(scope)s::ltree IS NULL OR a.path <@ %(scope)s::ltree)
                        AND (%(paths)s::ltree[] IS NULL OR a.path <@ %(paths)s::ltree[])
                        AND (%(grids)s::text[] IS NULL OR a.code = ANY(%(grids)s::text[])))
    UNION ALL
    SELECT path, sign, sign * (status = ANY(%(closed)s::text[]))::int,
           CASE WHEN resolved_at IS NOT NULL AND %(median)s AND sign > 0 THEN ARRAY[hours] END,
           CASE WHEN resolved_at IS NOT NULL AND %(median)s AND sign < 0 THEN ARRAY[hours] END""" + PART_DAYS + """
), counted AS (
    SELECT """ + GROUP + """ AS path, sum(n) AS incidents, sum(n_resolved) AS resolved
    FROM parts GROUP BY 1
), pooled AS (
    SELECT """ + GROUP + """ AS path, array_agg(h) AS hours
    FROM parts CROSS JOIN LATERAL unnest(resolve_hours) h
    GROUP BY 1
), removed AS (
    SELECT """ + GROUP + """ AS path, array_agg(h) AS hours
    FROM parts CROSS JOIN LATERAL unnest(less) h
    GROUP BY 1
)
-- One array per area sorted on its own: a GROUP BY over every value would sort them all by area first (at 10M,
-- 1.4M values spilled to disk: 1.0 s against 0.35 s). The rest of a day comes out value by value (EXCEPT ALL).
SELECT c.path, c.incidents, c.resolved,
       CASE WHEN r.hours IS NULL
            THEN (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY v) FROM unnest(p.hours) v)
            ELSE (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY v)
                  FROM (SELECT unnest(p.hours) AS v EXCEPT ALL SELECT unnest(r.hours)) kept) END AS median_hours
FROM counted c LEFT JOIN pooled p USING (path) LEFT JOIN removed r USING (path)
"""

# Spelled as HEADLINE_OPEN (layers/panels.py) spells it, so the partial index of open incidents answers it.
_OPEN_OVERDUE = """
    FROM shiyu.incident
    WHERE status <> ALL(%(closed)s::text[]) AND due_at < %(now)s AND """ + DUE_AFTER_SINCE + """
      AND """ + INCIDENT_FILTERS + AREAS + """<grids>"""
OVERDUE_BY_PATH = "SELECT " + GROUP + " AS path, count(*) AS overdue" + _OPEN_OVERDUE + "\nGROUP BY 1\n"
# The same in a subtree (``<grids>`` made its grids): counted per grid, in the order of the (grid_code, due_at)
# index, and the grids' counts added up by area (an incident's path is its grid's). At 10M a district's 73k overdue
# took 41 ms so against 64 ms by each incident's subpath; the whole city, read from the due-time index, which does
# not hold the grid, took longer so (230 ms against 160 ms).
OVERDUE_BY_GRID = """
SELECT subpath(a.path, 0, least(nlevel(a.path), %(depth)s))::text AS path, sum(o.n) AS overdue
FROM (SELECT grid_code, count(*) AS n""" + _OPEN_OVERDUE + """
      GROUP BY grid_code) o
JOIN shiyu.area a ON a.code = o.grid_code
GROUP BY 1
"""


def _cube_rows(params: dict) -> list[dict]:
    """incidents, resolved and median_hours per path from the cubes."""
    if reads_streets(params):
        return street_rows(params)
    return fetch_all(KPIS_BY_DAY, part_params(params))


def _overdue_by_path(params: dict) -> dict[str, int]:
    query = OVERDUE_BY_PATH if params["scope"] is None else OVERDUE_BY_GRID
    return {r["path"]: int(r["overdue"]) for r in fetch_all(in_scope_grids(query, params), params)}


def _kpi_rows(params: dict, filters: Filters) -> list[dict]:
    """incidents, resolved, overdue and median_hours per path at ``params['depth']``."""
    params = {"floor": params["depth"], **params}
    if not windows.reads_cube(filters):
        return fetch_all(KPIS_BY_PATH, params)
    params = {**params, "cube_categories": cube_categories(filters)}
    rows = _cube_rows(params)
    overdue = _overdue_by_path(params)
    for row in rows:
        row["overdue"] = overdue.get(row["path"], 0)
    return rows


def empty_kpis(area_m2: float) -> dict:
    return {"incidents": 0, "resolved": 0, "overdue": 0, "per_km2": 0.0, "resolved_share": None,
            "median_hours": None, "patrol_share": None, "area_km2": round(area_m2 / 1e6, 3)}


def kpi_window(filters: Filters, now: datetime | None = None) -> Filters:
    """The filters with a start: the user's, else ``DEFAULT_DAYS`` before the end of the window (or now)."""
    if filters.since is not None:
        return filters
    end = filters.until or now or datetime.now().astimezone()
    return dataclasses.replace(filters, since=end - timedelta(days=DEFAULT_DAYS))


def area_kpis(areas: list[dict], filters: Filters, scope: Scope, now: datetime | None = None,
              median: bool = True) -> dict[str, dict]:
    """KPIs by area code of ``areas`` (dicts with ``code``, ``tier``, ``path`` and ``area_m2``), over ``kpi_window``.

    ``median=False`` leaves ``median_hours`` None for a view that does not show it: pooling every resolved
    incident's hours is most of the work (1.2 s of the wall's districts at 10M incidents)."""
    now = now or datetime.now().astimezone()
    windowed = kpi_window(filters, now)
    by_depth: dict[int, list[str]] = defaultdict(list)
    for area in areas:
        by_depth[area["path"].count(".") + 1].append(area["path"])
    # grids are found through the btree on grid_code, whatever their number
    grids = [a["code"] for a in areas] if areas and all(a.get("tier") == "grid" for a in areas) else None
    params = {**incident_params(windowed, scope), "grids": grids, "closed": list(CLOSED_STATUSES), "now": now,
              "median": median}
    rows: dict[str, dict] = {}
    patrolled: dict[str, float] = {}
    for depth, paths in by_depth.items():
        narrow = paths if len(paths) <= MAX_PATHS and grids is None else None
        for row in _kpi_rows({**params, "depth": depth, "paths": narrow}, windowed):
            rows[row["path"]] = row
        patrolled |= shares_by_path(depth, paths if len(paths) <= MAX_PATHS else None, filters, scope)
    return {area["code"]: _area_kpis(area, rows.get(area["path"]), patrolled.get(area["path"])) for area in areas}


def _area_kpis(area: dict, row: dict | None, share: float | None) -> dict:
    """The KPIs of one area from its row of counts and median (None: no incidents) and its patrol share.

    A row of no incidents is none: a long part-day read as its whole day less the rest of it nets to 0 for an
    area whose incidents of that day all lie in the rest."""
    kpis = empty_kpis(area["area_m2"])
    kpis["patrol_share"] = None if share is None else round(share, 4)
    if row is not None and row["incidents"]:
        kpis.update({name: int(row[name]) for name in COUNTS})
        kpis["per_km2"] = round(row["incidents"] / max(area["area_m2"] / 1e6, 1e-9), 3)
        kpis["resolved_share"] = round(row["resolved"] / row["incidents"], 4)
        kpis["median_hours"] = None if row["median_hours"] is None else round(float(row["median_hours"]), 2)
    return kpis


def family_kpis(area: dict, children: list[dict], filters: Filters, scope: Scope,
                now: datetime | None = None) -> dict[str, dict]:
    """KPIs by code of ``area`` and of ``children`` (every child of it in scope), equal to ``area_kpis`` of each.

    Read as one family rather than one tier after the other: the overdue incidents are counted once, by child,
    and the area's are their sum plus any lying in the area directly. Where the street roll-up answers the
    children (a city's districts, a district's streets) their rows are read once too: the area's counts are
    their sums and its exact median is found among their pooled hours. Otherwise (children below a street, or
    a severity or status filter) the area's counts and median are read on their own.
    """
    if not children:
        return area_kpis([area], filters, scope, now)
    now = now or datetime.now().astimezone()
    windowed = kpi_window(filters, now)
    parent, floor = area["path"], area["path"].count(".") + 1
    params = {**incident_params(windowed, scope), "grids": None, "closed": list(CLOSED_STATUSES), "now": now,
              "median": True, "depth": floor + 1, "floor": floor, "paths": [parent]}
    alone = {**params, "depth": floor}
    paths = [c["path"] for c in children]
    cube = windows.reads_cube(windowed)
    if cube:
        params, alone = ({**p, "cube_categories": cube_categories(windowed)} for p in (params, alone))
    def family_rows() -> list[dict]:
        if not cube:
            return [r for r in fetch_all(KPIS_BY_PATH, params) if r["path"] != parent] + fetch_all(KPIS_BY_PATH, alone)
        if reads_streets(params):
            return street_rows(params, parent)
        return [r for r in _cube_rows(params) if r["path"] != parent] + _cube_rows(alone)

    def family_patrolled() -> dict[str, float]:
        return (shares_by_path(floor + 1, paths if len(paths) <= MAX_PATHS else None, filters, scope)
                | shares_by_path(floor, [parent], filters, scope))

    # The overdue count is the database's work over every overdue incident of the area (73k of a district at 10M:
    # 40 ms): asked on a connection of its own, beside the rest of the family.
    if not cube:
        rows, patrolled = family_rows(), family_patrolled()
    else:
        rows, patrolled, counts = side_by_side(family_rows, family_patrolled, lambda: _overdue_by_path(params))
        for row in rows:
            row["overdue"] = sum(counts.values()) if row["path"] == parent else counts.get(row["path"], 0)
    by_path = {r["path"]: r for r in rows}
    return {a["code"]: _area_kpis(a, by_path.get(a["path"]), patrolled.get(a["path"])) for a in (area, *children)}
