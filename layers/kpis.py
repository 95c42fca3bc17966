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
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from datetime import datetime, timedelta

from geodata.db import fetch_all
from geodata.scope import Scope
from geodata.taxonomy import CLOSED_STATUSES
from layers.base import INCIDENT_FILTERS, OVERDUE, Filters, incident_params
from layers.coverage import shares_by_path

DEFAULT_DAYS = 30
COUNTS = ("incidents", "resolved", "overdue")
# ``path <@ ltree[]`` tests every element for every row: beyond a few areas, one pass over the scope is cheaper.
MAX_PATHS = 64

KPIS_BY_PATH = """
SELECT subpath(path, 0, %(depth)s)::text AS path,
       count(*) AS incidents,
       count(*) FILTER (WHERE status = ANY(%(closed)s::text[])) AS resolved,
       count(*) FILTER (WHERE """ + OVERDUE + """) AS overdue,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM resolved_at - reported_at) / 3600)
           FILTER (WHERE resolved_at IS NOT NULL) AS median_hours
FROM shiyu.incident
WHERE (%(paths)s::ltree[] IS NULL OR path <@ %(paths)s::ltree[]) AND nlevel(path) >= %(depth)s
  AND (%(grids)s::text[] IS NULL OR grid_code = ANY(%(grids)s::text[]))
  AND """ + INCIDENT_FILTERS + """
GROUP BY 1
"""


def empty_kpis(area_m2: float) -> dict:
    return {"incidents": 0, "resolved": 0, "overdue": 0, "per_km2": 0.0, "resolved_share": None,
            "median_hours": None, "patrol_share": None, "area_km2": round(area_m2 / 1e6, 3)}


def kpi_window(filters: Filters, now: datetime | None = None) -> Filters:
    """The filters with a start: the user's, else ``DEFAULT_DAYS`` before the end of the window (or now)."""
    if filters.since is not None:
        return filters
    end = filters.until or now or datetime.now().astimezone()
    return dataclasses.replace(filters, since=end - timedelta(days=DEFAULT_DAYS))


def area_kpis(areas: list[dict], filters: Filters, scope: Scope, now: datetime | None = None) -> dict[str, dict]:
    """KPIs by area code of ``areas`` (dicts with ``code``, ``tier``, ``path`` and ``area_m2``), over ``kpi_window``."""
    now = now or datetime.now().astimezone()
    windowed = kpi_window(filters, now)
    by_depth: dict[int, list[str]] = defaultdict(list)
    for area in areas:
        by_depth[area["path"].count(".") + 1].append(area["path"])
    # grids are found through the btree on grid_code, whatever their number
    grids = [a["code"] for a in areas] if areas and all(a.get("tier") == "grid" for a in areas) else None
    params = {**incident_params(windowed, scope), "grids": grids, "closed": list(CLOSED_STATUSES), "now": now}
    rows: dict[str, dict] = {}
    patrolled: dict[str, float] = {}
    for depth, paths in by_depth.items():
        narrow = paths if len(paths) <= MAX_PATHS and grids is None else None
        for row in fetch_all(KPIS_BY_PATH, {**params, "depth": depth, "paths": narrow}):
            rows[row["path"]] = row
        patrolled |= shares_by_path(depth, paths if len(paths) <= MAX_PATHS else None, filters, scope)
    result = {}
    for area in areas:
        kpis = empty_kpis(area["area_m2"])
        share = patrolled.get(area["path"])
        kpis["patrol_share"] = None if share is None else round(share, 4)
        row = rows.get(area["path"])
        if row is not None:
            kpis.update({name: int(row[name]) for name in COUNTS})
            kpis["per_km2"] = round(row["incidents"] / max(area["area_m2"] / 1e6, 1e-9), 3)
            kpis["resolved_share"] = round(row["resolved"] / row["incidents"], 4)
            kpis["median_hours"] = None if row["median_hours"] is None else round(float(row["median_hours"]), 2)
        result[area["code"]] = kpis
    return result
