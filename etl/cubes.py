"""SQL that keeps the incident cubes in step with a batch by deltas, so their cost follows the batch.

The weekly cube (0002), the all-time cube (0005, 0012) and the day cube (0010)
are patched, never recounted. Before the upsert, each staged row that the
upsert will change, and whose change moves it in a cube, puts two rows in
``stage_delta``: its stored version with sign -1 and its staged one with +1 (a
new row only the +1). Each cube then adds up the signs by its own key.

The day cube's medians stay exact: the hours of a removed version are taken
out of its group's array value by value and those of an added one appended.
Both are computed with incident_day_of's own float8 expression from the same
timestamps, so a value taken out is bitwise the one that was put in.
"""

from __future__ import annotations

# What moves an incident in a cube: its day, week and hour, hours to resolution, category, open or resolved,
# cells and grid. A change to anything else (its description, severity, due time) leaves every cube alone.
CUBE_COLUMNS = ("category", "status", "reported_at", "resolved_at", "h3_r7", "h3_r8", "h3_r9", "grid_code", "path")

STAGE_DELTA = """
CREATE TEMP TABLE stage_delta (sign smallint, category text, status text, reported_at timestamptz,
                               resolved_at timestamptz, h3_r7 bigint, h3_r8 bigint, h3_r9 bigint, grid_code text,
                               path ltree) ON COMMIT DROP
"""


def _row(alias: str) -> str:
    return ", ".join(f"{alias}.{c}" for c in CUBE_COLUMNS)


# {upsert_changes} is the upsert's own test of a changed row (etl/staging.py), old row ``i``, new row ``n``.
# One join of the batch with the table, by key, gives both versions.
INCIDENT_DELTA = """
INSERT INTO stage_delta (sign, """ + ", ".join(CUBE_COLUMNS) + """)
SELECT v.*
FROM (SELECT s.*, g.code AS grid_code, g.path FROM stage_points s LEFT JOIN stage_grid g USING (row_no)) n
LEFT JOIN shiyu.incident i ON i.source = %(source)s AND i.external_id = n.external_id
CROSS JOIN LATERAL (VALUES (-1::smallint, """ + _row("i") + """), (1::smallint, """ + _row("n") + """)) v
WHERE CASE WHEN i.external_id IS NULL THEN v.column1 = 1
           ELSE {upsert_changes} AND (""" + _row("i") + """) IS DISTINCT FROM (""" + _row("n") + """) END
"""
ANALYZE_DELTA = "ANALYZE stage_delta"

# Weekly and all-time cubes: the delta summed at the grain of both, then added to each. A key whose count
# fell to zero is dropped; only a key with a negative delta can have fallen.
STAGE_WEEK_DELTA = """
CREATE TEMP TABLE stage_week_delta ON COMMIT DROP AS
SELECT date_trunc('week', reported_at AT TIME ZONE 'Asia/Shanghai')::date AS week, category,
       CASE WHEN nlevel(path) >= 2 THEN subpath(path, 1, 1)::text ELSE '' END AS district,
       h3_r7, h3_r8, h3_r9, coalesce(path, '') AS path, sum(sign)::int AS n,
       coalesce(sum(sign) FILTER (WHERE status NOT IN ('verified', 'closed')), 0)::int AS n_open
FROM stage_delta
GROUP BY 1, 2, 3, 4, 5, 6, 7
"""
APPLY_WEEK_DELTA = """
INSERT INTO shiyu.incident_week AS w (week, category, district, h3_r7, h3_r8, n, n_open)
SELECT week, category, district, h3_r7, h3_r8, sum(n), sum(n_open) FROM stage_week_delta
GROUP BY 1, 2, 3, 4, 5 HAVING sum(n) <> 0 OR sum(n_open) <> 0
ON CONFLICT (week, category, district, h3_r7, h3_r8) DO UPDATE SET n = w.n + EXCLUDED.n, n_open = w.n_open + EXCLUDED.n_open
"""
DROP_EMPTY_WEEKS = """
DELETE FROM shiyu.incident_week w USING stage_week_delta d
WHERE d.n < 0 AND w.n = 0 AND (w.week, w.category, w.district, w.h3_r7, w.h3_r8) = (d.week, d.category, d.district, d.h3_r7, d.h3_r8)
"""
APPLY_CELL_DELTA = """
INSERT INTO shiyu.incident_cell AS c (category, district, path, h3_r7, h3_r8, h3_r9, n, n_open)
SELECT category, district, path, h3_r7, h3_r8, h3_r9, sum(n), sum(n_open) FROM stage_week_delta
GROUP BY 1, 2, 3, 4, 5, 6 HAVING sum(n) <> 0 OR sum(n_open) <> 0
ON CONFLICT (h3_r9, h3_r8, h3_r7, category, district, path) DO UPDATE SET n = c.n + EXCLUDED.n, n_open = c.n_open + EXCLUDED.n_open
"""
DROP_EMPTY_CELLS = """
DELETE FROM shiyu.incident_cell c USING stage_week_delta d
WHERE d.n < 0 AND c.n = 0
  AND (c.h3_r9, c.h3_r8, c.h3_r7, c.category, c.district, c.path) = (d.h3_r9, d.h3_r8, d.h3_r7, d.category, d.district, d.path)
"""

# The day cube: the delta grouped as incident_day_of groups the incidents (a row per category and one, '', for
# all of them), with the hours added and removed kept apart. Incidents in no grid are not in it.
_HOURS_CUM = ", ".join(f"coalesce(sum(sign) FILTER (WHERE hour < {k}), 0)" for k in range(1, 25))
STAGE_DAY_DELTA = """
CREATE TEMP TABLE stage_day_delta ON COMMIT DROP AS
SELECT day, grid_code, path, coalesce(category, '') AS category, sum(sign)::int AS n,
       coalesce(sum(sign) FILTER (WHERE status IN ('verified', 'closed')), 0)::int AS n_resolved,
       ARRAY[""" + _HOURS_CUM + """]::int[] AS by_hour_cum,
       coalesce(array_agg(hours) FILTER (WHERE sign > 0 AND hours IS NOT NULL), '{}') AS hours_added,
       coalesce(array_agg(hours) FILTER (WHERE sign < 0 AND hours IS NOT NULL), '{}') AS hours_removed
FROM (SELECT sign, (reported_at AT TIME ZONE 'Asia/Shanghai')::date AS day,
             extract(hour FROM reported_at AT TIME ZONE 'Asia/Shanghai')::int AS hour,
             (extract(epoch FROM resolved_at - reported_at) / 3600)::float8 AS hours,
             grid_code, path, category, status
      FROM stage_delta WHERE grid_code IS NOT NULL AND path IS NOT NULL) d
GROUP BY GROUPING SETS ((day, grid_code, path, category), (day, grid_code, path));
ANALYZE stage_day_delta
"""
# Groups the cube has: counts added, hours removed one occurrence per value removed, hours added appended.
# Then groups it lacks, in the cube's (category, day) order. Then groups whose count fell to zero.
APPLY_DAY_DELTA = """
UPDATE shiyu.incident_day c
SET n = c.n + d.n, n_resolved = c.n_resolved + d.n_resolved,
    by_hour_cum = ARRAY(SELECT a + b FROM unnest(c.by_hour_cum, d.by_hour_cum) WITH ORDINALITY t(a, b, k) ORDER BY k),
    resolve_hours = CASE WHEN cardinality(d.hours_removed) = 0 THEN c.resolve_hours ELSE
        (SELECT coalesce(array_agg(kept.h), '{}')
         FROM (SELECT h, row_number() OVER (PARTITION BY h) AS k FROM unnest(c.resolve_hours) h) kept
         WHERE kept.k > (SELECT count(*) FROM unnest(d.hours_removed) r WHERE r = kept.h)) END || d.hours_added
FROM stage_day_delta d
WHERE (c.category, c.day, c.grid_code, c.path) = (d.category, d.day, d.grid_code, d.path);
INSERT INTO shiyu.incident_day (day, grid_code, path, category, n, n_resolved, by_hour_cum, resolve_hours)
SELECT d.day, d.grid_code, d.path, d.category, d.n, d.n_resolved, d.by_hour_cum, d.hours_added
FROM stage_day_delta d
WHERE d.n > 0 AND NOT EXISTS (SELECT 1 FROM shiyu.incident_day c
                              WHERE (c.category, c.day, c.grid_code, c.path) = (d.category, d.day, d.grid_code, d.path))
ORDER BY d.category, d.day;
DELETE FROM shiyu.incident_day c USING stage_day_delta d
WHERE d.n < 0 AND c.n = 0 AND (c.category, c.day, c.grid_code, c.path) = (d.category, d.day, d.grid_code, d.path)
"""

AFTER_DELTA = (ANALYZE_DELTA, STAGE_WEEK_DELTA, APPLY_WEEK_DELTA, DROP_EMPTY_WEEKS, APPLY_CELL_DELTA, DROP_EMPTY_CELLS,
               STAGE_DAY_DELTA, APPLY_DAY_DELTA)
