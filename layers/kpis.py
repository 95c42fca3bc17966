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
each of ``HOUR_BOUNDS``, so the exact median reads only the bucket holding
it (``_median_slices``).
``overdue`` changes with the clock, not with loads, so it is always counted
from the incidents, over the open ones only (the partial index of 0009).
With a severity or status filter, which the cube does not keep, everything
is read from the incidents (``KPIS_BY_PATH``). Both ways give the same
numbers (``tests/layers/test_kpis_cube.py``).
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from datetime import date, datetime, timedelta

import numpy as np

from geodata.db import fetch_all, side_by_side
from geodata.rollups import RESOLVE_HOUR_BOUNDS
from geodata.scope import Scope
from geodata.taxonomy import CLOSED_STATUSES
from layers.base import (BEIJING, DUE_AFTER_SINCE, INCIDENT_FILTERS, OVERDUE, Filters, beijing_midnight,
                         in_scope_grids, incident_params)
from layers.coverage import shares_by_path

DEFAULT_DAYS = 30
COUNTS = ("incidents", "resolved", "overdue")
# ``path <@ ltree[]`` tests every element for every row: beyond a few areas, one pass over the scope is cheaper.
MAX_PATHS = 64

# The area an incident counts for at %(depth)s; %(floor)s (the depth itself, or a parent's for ``family_kpis``) is the
# shallowest path read, so the incidents lying directly in a parent, above its children, are a group of their own.
_GROUP = "subpath(path, 0, least(nlevel(path), %(depth)s))::text"

KPIS_BY_PATH = """
SELECT """ + _GROUP + """ AS path,
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

# What the queries below narrow by besides INCIDENT_FILTERS: the areas asked for, and their grids.
_AREAS = """
  AND (%(paths)s::ltree[] IS NULL OR path <@ %(paths)s::ltree[]) AND nlevel(path) >= %(floor)s
  AND (%(grids)s::text[] IS NULL OR grid_code = ANY(%(grids)s::text[]))"""

# The incidents of the part-days at the window's ends (sign 1) and of the rest of the days read whole in their place
# (sign -1), as ``part_split`` splits the window, with their hours to resolve.
_PART_DAYS = """
    FROM shiyu.incident
    CROSS JOIN LATERAL (SELECT (extract(epoch FROM resolved_at - reported_at) / 3600)::float8,
                               CASE WHEN reported_at >= %(head_start)s
                                    AND (%(tail_end)s::timestamptz IS NULL OR reported_at < %(tail_end)s)
                                    THEN 1 ELSE -1 END
                       ) h(hours, sign)
    WHERE ((reported_at >= %(head_start)s AND reported_at < %(head_end)s)
           OR (reported_at >= %(tail_start)s AND reported_at < %(tail_end)s)
           OR (reported_at >= %(less_head_start)s AND reported_at < %(head_start)s)
           OR (reported_at >= %(tail_end)s AND reported_at < %(less_tail_end)s))
      AND """ + INCIDENT_FILTERS + _AREAS

# Whole days from the cube, the part-days from the incidents (one row each, the rest of a day read whole with sign
# -1), then the counts and the median of the pooled hours per area, less the rest's. The cube's resolved are
# CLOSED_STATUSES (0010_incident_day.sql); ``cube_categories`` binds its rows.
KPIS_BY_DAY = """
WITH parts AS (
    SELECT path, n, n_resolved, CASE WHEN %(median)s THEN resolve_hours END AS resolve_hours, NULL::float8[] AS less
    FROM shiyu.incident_day
    WHERE day >= %(first_day)s AND (%(end_day)s::date IS NULL OR day < %(end_day)s)
      AND (%(scope)s::ltree IS NULL OR path <@ %(scope)s::ltree)
      AND category = ANY(%(cube_categories)s::text[])""" + _AREAS + """
      -- the same areas' grids again, found through the area table, so a street reads its grids' rows by index
      AND grid_code IN (SELECT a.code FROM shiyu.area a WHERE a.tier = 'grid'
                        AND (%(scope)s::ltree IS NULL OR a.path <@ %(scope)s::ltree)
                        AND (%(paths)s::ltree[] IS NULL OR a.path <@ %(paths)s::ltree[])
                        AND (%(grids)s::text[] IS NULL OR a.code = ANY(%(grids)s::text[])))
    UNION ALL
    SELECT path, sign, sign * (status = ANY(%(closed)s::text[]))::int,
           CASE WHEN resolved_at IS NOT NULL AND %(median)s AND sign > 0 THEN ARRAY[hours] END,
           CASE WHEN resolved_at IS NOT NULL AND %(median)s AND sign < 0 THEN ARRAY[hours] END""" + _PART_DAYS + """
), counted AS (
    SELECT """ + _GROUP + """ AS path, sum(n) AS incidents, sum(n_resolved) AS resolved
    FROM parts GROUP BY 1
), pooled AS (
    SELECT """ + _GROUP + """ AS path, array_agg(h) AS hours
    FROM parts CROSS JOIN LATERAL unnest(resolve_hours) h
    GROUP BY 1
), removed AS (
    SELECT """ + _GROUP + """ AS path, array_agg(h) AS hours
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

# The same from the day cube rolled up to the streets (0014), for areas no deeper than a street in a scope no deeper:
# per area its counts and, instead of every resolved incident's hours, how many are at most each of the
# ``HOUR_BOUNDS`` (``hours_upto``, summed element by element), and the part-days' hours themselves, ascending.
# ``_median_slices`` then reads only the bucket that holds the median.
STREET_DEPTH = 3
HOUR_BOUNDS = RESOLVE_HOUR_BOUNDS
_STREET_ROWS = """
    FROM shiyu.incident_day_street s
    WHERE day >= %(first_day)s AND (%(end_day)s::date IS NULL OR day < %(end_day)s)
      AND (%(scope)s::ltree IS NULL OR path <@ %(scope)s::ltree)
      AND category = ANY(%(cube_categories)s::text[])
      AND (%(paths)s::ltree[] IS NULL OR path <@ %(paths)s::ltree[]) AND nlevel(path) >= %(floor)s"""
KPIS_BY_STREET_DAY = """
WITH whole AS (
    SELECT """ + _GROUP + """ AS path, sum(n) AS incidents, sum(n_resolved) AS resolved,
           ARRAY[""" + ", ".join(f"sum(hours_upto[{k + 1}])" for k in range(len(HOUR_BOUNDS))) + """] AS upto""" + \
    _STREET_ROWS + """
    GROUP BY 1
), part AS (  -- the part-days added (sign 1), and the rest of the days read whole in their place (sign -1)
    SELECT """ + _GROUP + """ AS path, sum(sign) AS incidents,
           coalesce(sum(sign) FILTER (WHERE status = ANY(%(closed)s::text[])), 0) AS resolved,
           array_agg(hours ORDER BY hours) FILTER (WHERE %(median)s AND resolved_at IS NOT NULL AND sign > 0) AS hours,
           array_agg(hours ORDER BY hours) FILTER (WHERE %(median)s AND resolved_at IS NOT NULL AND sign < 0) AS less
""" + _PART_DAYS + """
    GROUP BY 1
)
SELECT path, coalesce(w.incidents, 0) + coalesce(p.incidents, 0) AS incidents,
       coalesce(w.resolved, 0) + coalesce(p.resolved, 0) AS resolved, w.upto, p.hours, p.less
FROM whole w FULL JOIN part p USING (path)
"""
# Of each area's rows, the slice of the ascending hours whose buckets run from %(b1)s to %(b2)s (0-based, bucket
# b holding the hours above bound b - 1 and at most bound b). A family's children are asked for the buckets of
# their parent's median as well, so each row is read once (at 10M a district's 390 street-days: 14 ms, against 28 ms
# once for the district and once for its streets).
STREET_HOURS_BETWEEN = """
SELECT w.area AS path, v
FROM (SELECT """ + _GROUP + """ AS area, hours_upto, resolve_hours""" + _STREET_ROWS + """) s
JOIN unnest(%(areas)s::text[], %(b1)s::int[], %(b2)s::int[]) AS w(area, b1, b2) ON w.area = s.area
CROSS JOIN LATERAL unnest(s.resolve_hours[(CASE WHEN w.b1 = 0 THEN 0 ELSE s.hours_upto[w.b1] END) + 1
                                          : s.hours_upto[w.b2 + 1]]) v
"""

# Spelled as HEADLINE_OPEN (layers/panels.py) spells it, so the partial index of open incidents answers it.
_OPEN_OVERDUE = """
    FROM shiyu.incident
    WHERE status <> ALL(%(closed)s::text[]) AND due_at < %(now)s AND """ + DUE_AFTER_SINCE + """
      AND """ + INCIDENT_FILTERS + _AREAS + """<grids>"""
OVERDUE_BY_PATH = "SELECT " + _GROUP + " AS path, count(*) AS overdue" + _OPEN_OVERDUE + "\nGROUP BY 1\n"
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


def whole_days(since: datetime | None, until: datetime | None) -> tuple[date | None, date | None]:
    """The first Beijing day wholly inside [since, until) and the day it ends on (excluded); None where unbounded."""
    first_day = end_day = None
    if since is not None:
        local = since.astimezone(BEIJING)
        first_day = local.date() if local == beijing_midnight(local.date()) else local.date() + timedelta(days=1)
    if until is not None:
        end_day = until.astimezone(BEIJING).date()
    return first_day, end_day


def day_split(since: datetime, until: datetime | None) -> dict:
    """The whole Beijing days of [since, until) as ``first_day`` … ``end_day`` (excluded; None: no end), and the
    part-days left at its ends as [since, head_end) and [tail_start, until); without a whole day, all of it is
    the head."""
    first_day, end_day = whole_days(since, until)
    if until is None:
        return {"first_day": first_day, "end_day": None, "head_end": beijing_midnight(first_day), "tail_start": None}
    if first_day >= end_day:
        return {"first_day": first_day, "end_day": first_day, "head_end": until, "tail_start": until}
    return {"first_day": first_day, "end_day": end_day, "head_end": beijing_midnight(first_day),
            "tail_start": beijing_midnight(end_day)}


def cube_categories(filters: Filters) -> list[str]:
    """The day cube's rows to read: the categories asked for, or its row of every category together ('')."""
    return list(filters.categories) or [""]


def reads_cube(filters: Filters) -> bool:
    """Whether the day cube answers these filters: it keeps no severity or status."""
    return not filters.severities and not filters.statuses


def reads_streets(params: dict) -> bool:
    """Whether the street roll-up answers: areas and the scope no deeper than a street, not a list of grids."""
    scope = params["scope"]
    return (params["grids"] is None and params["depth"] <= STREET_DEPTH
            and (scope is None or scope.count(".") + 1 <= STREET_DEPTH))


def _middle(n: int) -> tuple[int, int]:
    """The 0-based ranks percentile_cont(0.5) interpolates between."""
    return (n - 1) // 2, n // 2


def part_split(since: datetime, until: datetime | None) -> dict:
    """``day_split`` for the cubes' part-days, as ``head_start`` … ``tail_end``: a part-day longer than half a day
    is read as its whole day less the rest of that day, [less_head_start, head_start) or [tail_end,
    less_tail_end), which the incidents hold fewer of (a 30-day window opened at 00:20 reads 20 minutes of them,
    not 23 hours 40)."""
    split = {**day_split(since, until), "head_start": since, "tail_end": until, "less_head_start": None,
             "less_tail_end": None}
    if split["end_day"] is not None and split["first_day"] >= split["end_day"]:
        return split  # no whole day: the part is the window
    if split["head_end"] - since > timedelta(hours=12):
        split["first_day"] -= timedelta(days=1)
        split.update(head_end=since, less_head_start=beijing_midnight(split["first_day"]))
    if until is not None and until - split["tail_start"] > timedelta(hours=12):
        split["end_day"] += timedelta(days=1)
        split.update(tail_start=until, less_tail_end=beijing_midnight(split["end_day"]))
    return split


def _without(values: np.ndarray, less: np.ndarray) -> np.ndarray:
    """``values`` (ascending) less one of them for each of ``less`` (all among them)."""
    keep = np.ones(len(values), dtype=bool)
    for value, count in zip(*np.unique(less, return_counts=True)):
        start = int(np.searchsorted(values, value, side="left"))
        keep[start:start + count] = False
    return values[keep]


def _within(values: np.ndarray, bounds: tuple[float, float]) -> np.ndarray:
    """The values above the first bound and at most the second: those of the buckets between them."""
    return values[(values > bounds[0]) & (values <= bounds[1])]


def _under(path: str, area: str) -> bool:
    """Whether ``path`` is ``area`` or lies below it."""
    return path == area or path.startswith(area + ".")


def _median_slices(rows: list[dict], params: dict) -> dict[str, float | None]:
    """Each row's exact median of its whole days' hours (counted per bucket in ``upto``) with its part-days'
    (``hours``) and without those of ``less``: the bucket holding the middle ranks is found from the counts, and
    only its hours are read."""
    wanted, partial = {}, {}
    for row in rows:
        part, less = (np.sort(np.asarray(row[key] or [], dtype=float)) for key in ("hours", "less"))
        upto = np.asarray(row["upto"] or [0] * len(HOUR_BOUNDS), dtype=np.int64)
        total = (upto + np.searchsorted(part, HOUR_BOUNDS, side="right")
                 - np.searchsorted(less, HOUR_BOUNDS, side="right"))
        if total[-1] == 0:
            continue
        lo, hi = _middle(int(total[-1]))
        b1, b2 = (int(np.searchsorted(total, rank, side="right")) for rank in (lo, hi))
        below = int(total[b1 - 1]) if b1 else 0
        bounds = (HOUR_BOUNDS[b1 - 1] if b1 else -np.inf, HOUR_BOUNDS[b2])
        partial[row["path"]] = (_within(part, bounds), _within(less, bounds), below, lo, hi, bounds)
        wanted[row["path"]] = (b1, b2)
    if not wanted:
        return {}
    # a row's area is read once, for the buckets of every area holding it (a child's and its parent's)
    spans = {}
    for key in (row["path"] for row in rows):
        held = [wanted[area] for area in wanted if _under(key, area)]
        if held:
            spans[key] = (min(b1 for b1, _ in held), max(b2 for _, b2 in held))
    keys = list(spans)
    by_key: dict[str, list[float]] = defaultdict(list)
    for r in fetch_all(STREET_HOURS_BETWEEN, {**params, "areas": keys, "b1": [spans[k][0] for k in keys],
                                              "b2": [spans[k][1] for k in keys]}):
        by_key[r["path"]].append(r["v"])
    medians = {}
    for area, (part, less, below, lo, hi, bounds) in partial.items():
        mine = [np.asarray(v, dtype=float) for key, v in by_key.items() if _under(key, area)]
        pooled = _without(np.sort(np.concatenate([part, *(_within(v, bounds) for v in mine)])), less)
        first, second = float(pooled[lo - below]), float(pooled[hi - below])
        medians[area] = first if lo == hi else first + (second - first) * 0.5  # as percentile_cont interpolates
    return medians


def _part_params(params: dict) -> dict:
    """``params`` with the window split by ``part_split``; INCIDENT_FILTERS must not cut off the rest of its days."""
    return {**params, **part_split(params["since"], params["until"]), "since": None, "until": None}


def _merged(rows: list[dict], path: str) -> dict:
    """The street roll-up's row of ``path`` from the rows of its subtree: counts and ``upto`` added, hours pooled."""
    upto = [r["upto"] for r in rows if r["upto"] is not None]
    return {"path": path, "incidents": sum(r["incidents"] for r in rows), "resolved": sum(r["resolved"] for r in rows),
            "upto": np.sum(np.asarray(upto, dtype=np.int64), axis=0).tolist() if upto else None,
            **{key: [h for r in rows for h in r[key] or []] for key in ("hours", "less")}}


def _street_rows(params: dict, parent: str | None = None) -> list[dict]:
    """incidents, resolved and median_hours per path, whole days from the street roll-up; with ``parent`` (read
    from its depth, ``floor``) also its row, made of its children's and its own."""
    params = _part_params(params)
    rows = fetch_all(KPIS_BY_STREET_DAY, params)
    if parent is not None and rows:
        rows = [r for r in rows if r["path"] != parent] + [_merged(rows, parent)]
    medians = _median_slices(rows, params) if params["median"] else {}
    return [{"path": r["path"], "incidents": r["incidents"], "resolved": r["resolved"],
             "median_hours": medians.get(r["path"])} for r in rows]


def _cube_rows(params: dict) -> list[dict]:
    """incidents, resolved and median_hours per path from the cubes."""
    if reads_streets(params):
        return _street_rows(params)
    return fetch_all(KPIS_BY_DAY, _part_params(params))


def _overdue_by_path(params: dict) -> dict[str, int]:
    query = OVERDUE_BY_PATH if params["scope"] is None else OVERDUE_BY_GRID
    return {r["path"]: int(r["overdue"]) for r in fetch_all(in_scope_grids(query, params), params)}


def _kpi_rows(params: dict, filters: Filters) -> list[dict]:
    """incidents, resolved, overdue and median_hours per path at ``params['depth']``."""
    params = {"floor": params["depth"], **params}
    if not reads_cube(filters):
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
    """The KPIs of one area from its row of counts and median (None: no incidents) and its patrol share."""
    kpis = empty_kpis(area["area_m2"])
    kpis["patrol_share"] = None if share is None else round(share, 4)
    if row is not None:
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
    cube = reads_cube(windowed)
    if cube:
        params, alone = ({**p, "cube_categories": cube_categories(windowed)} for p in (params, alone))
    def family_rows() -> list[dict]:
        if not cube:
            return [r for r in fetch_all(KPIS_BY_PATH, params) if r["path"] != parent] + fetch_all(KPIS_BY_PATH, alone)
        if reads_streets(params):
            return _street_rows(params, parent)
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
