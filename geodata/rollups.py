"""Recounts of the roll-ups the loaders keep in step, for the tests that hold them equal.

- ``shiyu.incident_day_street`` (0014): its hour bounds.
- ``shiyu.incident_week_cell`` (0016): incidents per Beijing week, category,
  grid path and r9 cell; the incident loader keeps it by its deltas
  (``etl/cubes.py`` ``WEEK_CELL``).
"""

from __future__ import annotations

import psycopg

# The bounds the street roll-up (0014) counts each row's resolve hours under (``hours_upto``): the same list as
# its shiyu.resolve_hour_bounds(), which a test holds equal; the loader counts under them (etl/cubes.py) and the
# KPIs find the bucket holding a median by them (layers/street_kpis.py).
RESOLVE_HOUR_BOUNDS = (0.5, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 26, 28,
                       30, 33, 36, 40, 44, 48, 54, 60, 72, 84, 96, 120, 144, 168, 240, 336, 504, 720, float("inf"))

RECOUNT_WEEK_CELLS = """
SELECT date_trunc('week', reported_at AT TIME ZONE 'Asia/Shanghai')::date AS week, category,
       CASE WHEN nlevel(path) >= 2 THEN subpath(path, 1, 1)::text ELSE '' END AS district,
       coalesce(path, '')::text AS path, h3_r7, h3_r8, h3_r9, count(*)::int AS n,
       count(*) FILTER (WHERE status NOT IN ('verified', 'closed'))::int AS n_open
FROM shiyu.incident
GROUP BY 1, 2, 3, 4, 5, 6, 7
"""
WEEK_CELLS = """
SELECT week, category, district, path::text AS path, h3_r7, h3_r8, h3_r9, n, n_open FROM shiyu.incident_week_cell
"""


def week_cells_recounted(conn: psycopg.Connection) -> tuple[set[tuple], set[tuple]]:
    """(the cube's rows, the same rows recounted from the incidents), as sets of tuples: equal when it is in step."""
    return set(map(tuple, conn.execute(WEEK_CELLS).fetchall())), set(map(tuple, conn.execute(RECOUNT_WEEK_CELLS).fetchall()))
