"""Roll-ups the loaders keep in step, and the statements that keep them.

``etl`` runs these inside a batch's transaction (etl may import geodata, not
layers); tests recount each from the raw rows and compare.

- ``shiyu.incident_week_cell`` (0015): incidents per Beijing week, category,
  grid path and r9 cell. ``WEEK_CELL_DELTA`` applies the incident loader's
  weekly delta (``stage_week_delta``, filled by ``WEEK_DELTA_OLD`` and
  ``WEEK_DELTA_NEW``); it belongs in ``etl.staging.INCIDENTS.after_upsert``
  right after ``APPLY_CELL_DELTA``.
"""

from __future__ import annotations

import psycopg

_WEEK_CELL_KEY = "h3_r9, week, category, district, path, h3_r8, h3_r7"

APPLY_WEEK_CELL_DELTA = """
INSERT INTO shiyu.incident_week_cell AS c (week, category, district, path, h3_r7, h3_r8, h3_r9, n, n_open)
SELECT week, category, district, path, h3_r7, h3_r8, h3_r9, sum(n), sum(n_open) FROM stage_week_delta
GROUP BY 1, 2, 3, 4, 5, 6, 7 HAVING sum(n) <> 0 OR sum(n_open) <> 0
ON CONFLICT (""" + _WEEK_CELL_KEY + """) DO UPDATE SET n = c.n + EXCLUDED.n, n_open = c.n_open + EXCLUDED.n_open
"""
# Only the keys the batch touched: a scan of the whole cube for its empty rows would follow the table, not the batch.
DROP_EMPTY_WEEK_CELLS = """
DELETE FROM shiyu.incident_week_cell c
USING (SELECT DISTINCT """ + _WEEK_CELL_KEY + """ FROM stage_week_delta) d
WHERE c.n = 0 AND (c.""" + _WEEK_CELL_KEY.replace(", ", ", c.") + """) = (d.""" + _WEEK_CELL_KEY.replace(", ", ", d.") + """)
"""
WEEK_CELL_DELTA = (APPLY_WEEK_CELL_DELTA, DROP_EMPTY_WEEK_CELLS)

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
