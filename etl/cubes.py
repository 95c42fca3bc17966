"""SQL that keeps the incident cubes in step with a batch by deltas, so their cost follows the batch.

The weekly cube (0002), the all-time cube (0005, 0012), the day cube (0010),
its street roll-up (0014), the weekly cube per grid and r9 cell (0016), the
day cube's hours per grid and week (0020), the daily r7 cube (0019) and the
all-time r7 cube (0019) are patched, never recounted (the r7 weekly cube,
0018, follows the weekly cube by its triggers). Before the upsert, each
staged row that the upsert will change, and whose change moves it in a cube,
puts two rows in ``stage_delta``: its stored version with sign -1 and its
staged one with +1 (a new row only the +1). Each cube then adds up the signs by its own key.

The day cube's medians stay exact: the hours of a removed version are taken
out of its group's array value by value and those of an added one appended.
Both are computed with incident_day_of's own float8 expression from the same
timestamps, so a value taken out is bitwise the one that was put in.
"""

from __future__ import annotations

from dataclasses import dataclass

from geodata.rollups import RESOLVE_HOUR_BOUNDS

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


# The stored version ``i`` of each staged incident ``n`` (NULLs for a new one), joined as a set for a large batch.
STORED_INCIDENT = "LEFT JOIN shiyu.incident i ON i.source = %(source)s AND i.external_id = n.external_id"
# For a few rows (a live micro-batch) each is looked up on the primary key; OFFSET 0 keeps the planner from
# flattening it back into the join above, which, misjudging how many rows the source has (its statistics taken
# before a feed grew), hashed every row of the feed for each micro-batch: 53 ms for 17 rows once the feed had 25,000
# rows at 10M, and growing with the feed.
STORED_INCIDENT_FEW = ("LEFT JOIN LATERAL (SELECT * FROM shiyu.incident i WHERE i.source = %(source)s "
                       "AND i.external_id = n.external_id OFFSET 0) i ON true")


# A staged incident ``n`` stored as it is, {changed} being the upsert's test of a change (staging.INCIDENT_CHANGED):
# an anti-join for a large batch, a probe of the key each for a few rows (OFFSET 0 keeps the EXISTS a probe).
_FEW_MARK = " /* few: OFFSET 0 */"
STORED_AS_IS = ("EXISTS (SELECT 1 FROM shiyu.incident i WHERE i.source = %(source)s AND i.external_id = n.external_id "
                "AND NOT ({changed})" + _FEW_MARK + ")")


def for_few(statement: str, few: bool) -> str:
    """``statement`` with its joins to the stored incidents made row by row when the batch is ``few``."""
    return statement.replace(STORED_INCIDENT, STORED_INCIDENT_FEW).replace(_FEW_MARK, " OFFSET 0") if few else statement


# {upsert_changes} is the upsert's own test of a changed row (etl/staging.py), old row ``i``, new row ``n``.
# One join of the batch with the table, by key, gives both versions.
INCIDENT_DELTA = """
INSERT INTO stage_delta (sign, """ + ", ".join(CUBE_COLUMNS) + """)
SELECT v.*
FROM (SELECT s.*, g.code AS grid_code, g.path FROM stage_points s LEFT JOIN stage_grid g USING (row_no)) n
""" + STORED_INCIDENT + """
CROSS JOIN LATERAL (VALUES (-1::smallint, """ + _row("i") + """), (1::smallint, """ + _row("n") + """)) v
WHERE CASE WHEN i.external_id IS NULL THEN v.column1 = 1
           ELSE {upsert_changes} AND (""" + _row("i") + """) IS DISTINCT FROM (""" + _row("n") + """) END
"""
ANALYZE_DELTA = "ANALYZE stage_delta"

# The intake's micro-batch keeps its delta for the fold (0031) instead of adding it to the cubes itself.
_SIGNED = "sign, " + ", ".join(CUBE_COLUMNS)
PEND_DELTA = f"INSERT INTO shiyu.cube_delta (batch_id, {_SIGNED}) SELECT %(batch_id)s, {_SIGNED} FROM stage_delta"
# The pending rows of ``batches`` as one delta, equal rows of opposite signs cancelled first: a version that one
# micro-batch added and a later one of the same fold replaced is in no cube yet, so taking it out (its hours from
# the day cube's arrays) must not reach the cubes. Every row left with sign -1 is then one the cubes hold.
FOLD_DELTA = f"""
INSERT INTO stage_delta ({_SIGNED})
SELECT sign(t.n)::smallint, {", ".join("t." + c for c in CUBE_COLUMNS)}
FROM (SELECT {", ".join(CUBE_COLUMNS)}, sum(sign)::int AS n FROM shiyu.cube_delta WHERE batch_id = ANY(%(batches)s)
      GROUP BY {", ".join(CUBE_COLUMNS)} HAVING sum(sign) <> 0) t
CROSS JOIN generate_series(1, abs(t.n))
"""
FOLDED = "DELETE FROM shiyu.cube_delta WHERE batch_id = ANY(%(batches)s)"

@dataclass(frozen=True)
class Cube:
    """One cube: ``stage`` sums the delta into ``delta`` (a temp table) by the cube's key, ``apply`` adds it.

    ``fill`` is ``apply`` for a cube found empty (the loader then builds its keys after): a plain insert.
    """

    table: str
    delta: str
    stage: str
    apply: str
    fill: str


def _fill(table: str, delta: str, columns: tuple[str, ...], order: str = "", select: tuple[str, ...] = ()) -> str:
    return (f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(select or columns)} FROM {delta} WHERE n > 0"
            + (f" ORDER BY {order}" if order else ""))


# Two arrays of the same length (a row's c.{0} and the delta's d.{0}) added element by element.
_ADD = "ARRAY(SELECT a + b FROM unnest(c.{0}, d.{0}) WITH ORDINALITY t(a, b, k) ORDER BY k)"


def _additive(table: str, delta: str, key: tuple[str, ...], sums: tuple[str, ...], arrays: tuple[str, ...] = (),
              order: str = "") -> str:
    """Add ``delta``'s sums (and ``arrays``, element by element) to the rows of ``table`` it has, insert the ones
    it lacks (in ``order``), drop rows fallen to zero.

    Plain UPDATE and INSERT rather than INSERT ON CONFLICT, so a cube emptied of its indexes for a large batch
    (etl/writes.py) takes it as well; only a key with a negative delta can have fallen to zero.
    """
    match = f"({', '.join('c.' + k for k in key)}) = ({', '.join('d.' + k for k in key)})"
    columns = key + sums + arrays
    sets = [f"{s} = c.{s} + d.{s}" for s in sums] + [f"{a} = {_ADD.format(a)}" for a in arrays]
    return f"""
UPDATE {table} c SET {', '.join(sets)} FROM {delta} d WHERE {match};
INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join('d.' + c for c in columns)} FROM {delta} d
WHERE d.n > 0 AND NOT EXISTS (SELECT 1 FROM {table} c WHERE {match}){f' ORDER BY {order}' if order else ''};
DELETE FROM {table} c USING {delta} d WHERE d.n < 0 AND c.n = 0 AND {match}
"""


_DISTRICT = "CASE WHEN nlevel(path) >= 2 THEN subpath(path, 1, 1)::text ELSE '' END"
_WEEK = "date_trunc('week', reported_at AT TIME ZONE 'Asia/Shanghai')::date"
_DAY = "(reported_at AT TIME ZONE 'Asia/Shanghai')::date"
# Each key column the delta does not hold as it is: (what it is selected as, what it is grouped by). The path is
# grouped as text: ltree has no hash operator class, and sorting a million rows by ltree took 3.5 s.
_KEY_EXPRESSIONS = {"week": (_WEEK, _WEEK), "day": (_DAY, _DAY), "district": (_DISTRICT, _DISTRICT),
                    "path": ("coalesce(path::text, '')::ltree", "coalesce(path::text, '')")}
_OPEN = "coalesce(sum(sign) FILTER (WHERE status NOT IN ('verified', 'closed')), 0)::int"
_COUNTS = ("n", "n_open")


def _counted(table: str, delta: str, key: tuple[str, ...], order: str = "") -> Cube:
    """A cube of incidents and open incidents by ``key``: the delta's signs summed by it, added by ``_additive``."""
    select = ", ".join(f"{_KEY_EXPRESSIONS[k][0]} AS {k}" if k in _KEY_EXPRESSIONS else k for k in key)
    group = ", ".join(_KEY_EXPRESSIONS.get(k, (k, k))[1] for k in key)
    stage = f"""
CREATE TEMP TABLE {delta} ON COMMIT DROP AS
SELECT {select}, sum(sign)::int AS n, {_OPEN} AS n_open
FROM stage_delta GROUP BY {group}
HAVING sum(sign) <> 0 OR {_OPEN} <> 0;
ANALYZE {delta}
"""
    return Cube(table, delta, stage, _additive(table, delta, key, _COUNTS), _fill(table, delta, key + _COUNTS, order))


WEEK = _counted("shiyu.incident_week", "stage_week_sum", ("week", "category", "district", "h3_r7", "h3_r8"))
CELL = _counted("shiyu.incident_cell", "stage_cell_sum", ("h3_r9", "h3_r8", "h3_r7", "category", "district", "path"))
# The weekly cube per grid and r9 cell (0016): what the weekly cube is, at the all-time cube's grain.
WEEK_CELL = _counted("shiyu.incident_week_cell", "stage_week_cell_sum",
                     ("h3_r9", "week", "category", "district", "path", "h3_r8", "h3_r7"), "h3_r9, week")
# All-time counts per district and r7 cell over all categories (0019): the city's or a district's r7 map.
CELL_R7 = _counted("shiyu.incident_cell_r7", "stage_cell_r7_sum", ("district", "h3_r7"), "district, h3_r7")
# Daily counts per district and r7 cell over all categories (0019): windows on days but not weeks, at r7.
DAY_R7 = _counted("shiyu.incident_day_r7", "stage_day_r7_sum", ("day", "district", "h3_r7"), "day, district, h3_r7")

# The delta's incidents in a grid by Beijing day (the day and street cubes leave the others out), with their
# hours to resolution computed as incident_day_of computes them, so a value taken out is bitwise one put in.
_DAY_ROWS = """(
    SELECT sign, """ + _DAY + """ AS day,
           extract(hour FROM reported_at AT TIME ZONE 'Asia/Shanghai')::int AS hour,
           (extract(epoch FROM resolved_at - reported_at) / 3600)::float8 AS hours,
           grid_code, {path} AS path, category, status
    FROM stage_delta WHERE grid_code IS NOT NULL AND path IS NOT NULL) d"""
_RESOLVED = "coalesce(sum(sign) FILTER (WHERE status IN ('verified', 'closed')), 0)::int"
_HOURS_REMOVED = "coalesce(array_agg(hours) FILTER (WHERE sign < 0 AND hours IS NOT NULL), '{}')"
# A row's hours (c.resolve_hours) less one occurrence of each of the delta's removed hours (d.hours_removed): the
# multiset difference that EXCEPT ALL is, by hash. Numbering each value's occurrences by a window and counting the
# removed ones by a subquery per value took 0.4 ms for a street-day's ~370 hours: 0.3-0.4 s of a 1,000-row batch at
# 10M (bench.batch), in the street roll-up alone.
_HOURS_KEPT = "(SELECT unnest(c.resolve_hours) AS h EXCEPT ALL SELECT unnest(d.hours_removed))"

# The day cube: the delta grouped as incident_day_of groups the incidents (a row per category and one, '', for
# all of them), with the hours added and removed kept apart. Incidents in no grid are not in it.
_DAY_COLUMNS = ("day", "grid_code", "path", "category", "n", "n_resolved", "by_hour_cum")
_HOURS_CUM = ", ".join(f"coalesce(sum(sign) FILTER (WHERE hour < {k}), 0)" for k in range(1, 25))
_DAY_MATCH = "(c.category, c.day, c.grid_code, c.path) = (d.category, d.day, d.grid_code, d.path)"
# Groups the cube has: counts added, hours removed one occurrence per value removed, hours added appended.
# Then the groups it lacks, in the cube's (category, day) order. Then groups whose count fell to zero.
DAY = Cube("shiyu.incident_day", "stage_day_sum", """
CREATE TEMP TABLE stage_day_sum ON COMMIT DROP AS
SELECT day, grid_code, path::ltree, coalesce(category, '') AS category, sum(sign)::int AS n,
       """ + _RESOLVED + """ AS n_resolved,
       ARRAY[""" + _HOURS_CUM + """]::int[] AS by_hour_cum,
       coalesce(array_agg(hours) FILTER (WHERE sign > 0 AND hours IS NOT NULL), '{}') AS hours_added,
       """ + _HOURS_REMOVED + """ AS hours_removed
FROM """ + _DAY_ROWS.format(path="path::text") + """
GROUP BY GROUPING SETS ((day, grid_code, path, category), (day, grid_code, path));
ANALYZE stage_day_sum
""", """
UPDATE shiyu.incident_day c
SET n = c.n + d.n, n_resolved = c.n_resolved + d.n_resolved,
    by_hour_cum = """ + _ADD.format("by_hour_cum") + """,
    resolve_hours = CASE WHEN cardinality(d.hours_removed) = 0 THEN c.resolve_hours ELSE
        (SELECT coalesce(array_agg(h), '{}') FROM (""" + _HOURS_KEPT + """) kept) END || d.hours_added
FROM stage_day_sum d WHERE """ + _DAY_MATCH + """;
INSERT INTO shiyu.incident_day (day, grid_code, path, category, n, n_resolved, by_hour_cum, resolve_hours)
SELECT d.day, d.grid_code, d.path, d.category, d.n, d.n_resolved, d.by_hour_cum, d.hours_added
FROM stage_day_sum d
WHERE d.n > 0 AND NOT EXISTS (SELECT 1 FROM shiyu.incident_day c WHERE """ + _DAY_MATCH + """)
ORDER BY d.category, d.day;
DELETE FROM shiyu.incident_day c USING stage_day_sum d WHERE d.n < 0 AND c.n = 0 AND """ + _DAY_MATCH + """
""", _fill("shiyu.incident_day", "stage_day_sum", _DAY_COLUMNS + ("resolve_hours",), "category, day",
           _DAY_COLUMNS + ("hours_added",)))

# The street roll-up of the day cube (0014): the same delta grouped by the street (the first three labels of the
# path), its hours kept ascending so a median needs only the bucket that holds it (shiyu.hours_upto, layers/kpis.py).
# The rows it touches are written anew: counts added, hours taken out value by value and added, then sorted.
# The path matched as text too: ltree has no hash operator class, so a large delta was hashed by (category, day)
# alone and each of its rows compared with every street of its day (177M comparisons, 45 s of a 1M-row reload's
# 145 s). As text it joins the hash; as ltree a few rows still probe the whole key.
_STREET_MATCH = "(c.category, c.day, c.path) = (d.category, d.day, d.path) AND c.path::text = d.path::text"
# The added hours counted under each bound in the grouping itself: for a cube filled from empty, shiyu.hours_upto
# over each row's array afterwards took 18.8 s for 1.5M rows (the bench's grids have no streets above them).
_UPTO_ADDED = ", ".join(f"count(*) FILTER (WHERE sign > 0 AND hours <= '{'Infinity' if b == float('inf') else b}'::float8)"
                        for b in RESOLVE_HOUR_BOUNDS)
STREET = Cube("shiyu.incident_day_street", "stage_street_sum", """
CREATE TEMP TABLE stage_street_sum ON COMMIT DROP AS
SELECT day, path::ltree, coalesce(category, '') AS category, sum(sign)::int AS n, """ + _RESOLVED + """ AS n_resolved,
       coalesce(array_agg(hours ORDER BY hours) FILTER (WHERE sign > 0 AND hours IS NOT NULL), '{}') AS hours_added,
       """ + _HOURS_REMOVED + """ AS hours_removed,
       ARRAY[""" + _UPTO_ADDED + """]::int[] AS upto_added
FROM """ + _DAY_ROWS.format(path="subpath(path, 0, least(nlevel(path), 3))::text") + """
GROUP BY GROUPING SETS ((day, path, category), (day, path));
ANALYZE stage_street_sum
""", """
CREATE TEMP TABLE stage_street_new ON COMMIT DROP AS
SELECT d.day, d.path, d.category, coalesce(c.n, 0) + d.n AS n, coalesce(c.n_resolved, 0) + d.n_resolved AS n_resolved,
       CASE WHEN cardinality(d.hours_removed) = 0 AND cardinality(d.hours_added) = 0 THEN coalesce(c.resolve_hours, '{}')
       ELSE (SELECT coalesce(array_agg(h ORDER BY h), '{}') FROM (
                 """ + _HOURS_KEPT + """ UNION ALL SELECT unnest(d.hours_added)) merged) END AS hours
FROM stage_street_sum d LEFT JOIN shiyu.incident_day_street c ON """ + _STREET_MATCH + """;
DELETE FROM shiyu.incident_day_street c USING stage_street_new d WHERE """ + _STREET_MATCH + """;
INSERT INTO shiyu.incident_day_street (day, path, category, n, n_resolved, hours_upto, resolve_hours)
SELECT day, path, category, n, n_resolved, shiyu.hours_upto(hours), hours FROM stage_street_new WHERE n > 0
ORDER BY category, day;
DROP TABLE stage_street_new
""", """
INSERT INTO shiyu.incident_day_street (day, path, category, n, n_resolved, hours_upto, resolve_hours)
SELECT day, path, category, n, n_resolved, upto_added, hours_added FROM stage_street_sum
WHERE n > 0 ORDER BY category, day
""")

# The day cube of every category together per grid and Beijing week (0020): the day cube's own delta by grid-day
# (stage_day_sum, so DAY comes first in CUBES: counting the hours again took a bulk load of 1M 18 s) made weeks by
# the function the migration recounts them with; a week whose arrays are all 0 (a change this table does not see,
# a move within an hour) is left out, so no row is rewritten.
_GRID_WEEK_KEY, _GRID_WEEK_ARRAYS = ("week", "grid_code", "path"), ("before_day", "by_hour_cum")
GRID_WEEK = Cube("shiyu.incident_grid_week", "stage_grid_week_sum", """
CREATE TEMP TABLE stage_grid_week_sum ON COMMIT DROP AS
SELECT * FROM shiyu.incident_grid_week_of('stage_day_sum')
WHERE before_day <> array_fill(0, ARRAY[8]) OR by_hour_cum <> array_fill(0, ARRAY[168]);
ANALYZE stage_grid_week_sum
""", _additive("shiyu.incident_grid_week", "stage_grid_week_sum", _GRID_WEEK_KEY, ("n",), _GRID_WEEK_ARRAYS, "d.week"),
    _fill("shiyu.incident_grid_week", "stage_grid_week_sum", _GRID_WEEK_KEY + ("n",) + _GRID_WEEK_ARRAYS, "week"))

CUBES = (WEEK, CELL, CELL_R7, WEEK_CELL, DAY_R7, DAY, STREET, GRID_WEEK)
