"""SQL of the point loads (incidents, facilities, patrol pings): staging, duplicates, grids, upsert.

Each kind is a ``PointKind``: its staging columns, its key, and its explicit
insert and upsert statements. The steps between are shared.
"""

from __future__ import annotations

from dataclasses import dataclass

from etl import cubes


@dataclass(frozen=True)
class PointKind:
    kind: str                   # load_batch.kind
    table: str                  # the target, in schema shiyu
    key: tuple[str, ...]        # what makes a row unique within a source
    key_fields: tuple[str, ...]  # the canonical input fields behind the key
    key_label: str              # how a duplicate is named to a person
    order_by: str               # the H3 column that orders staging spatially
    stage_columns: tuple[str, ...]
    stage_raw: str
    stage_points: str
    insert: str                 # into an empty table: nothing can conflict
    upsert: str                 # returns (loaded, updated)
    before_upsert: tuple[str, ...] = ()  # statements (bound to source and batch_id) around the upsert,
    after_upsert: tuple[str, ...] = ()   # e.g. to keep an aggregate in step
    cubes: tuple[cubes.Cube, ...] = ()   # kept by the delta the statements before the upsert stage


# Ordered by H3 so each grid's points sit on few pages (measured: grid join 2.6 s -> 1.7 s a million).
# Rows arrive as plain lon/lat: shipping WKB hex cost more, on both sides, than making the points here.
_STAGE_POINTS = """
CREATE TEMP TABLE stage_points ON COMMIT DROP AS
SELECT {columns}, ST_SetSRID(ST_MakePoint(lon, lat), 4326)::geometry(Point, 4326) AS geom
FROM stage_raw ORDER BY {order};
DROP TABLE stage_raw
"""

# What the incident upsert compares to tell a changed row from an unchanged one; the cubes' delta asks the same.
_INCIDENT_COMPARED = ("category", "severity", "status", "reported_at", "resolved_at", "due_at", "description", "geom",
                      "grid_code", "path", "attrs", "pii")


def _changed(old: str, new: str) -> str:
    return (f"({', '.join(f'{old}.{c}' for c in _INCIDENT_COMPARED)})\n          IS DISTINCT FROM\n"
            f"          ({', '.join(f'{new}.{c}' for c in _INCIDENT_COMPARED)})")


# A staged incident ``n`` (stage_points with its grid) that differs from its stored version ``i``: the upsert's own test.
INCIDENT_CHANGED = _changed("i", "n")

INCIDENTS = PointKind(
    kind="incidents", table="incident", key=("external_id",), key_fields=("id",), key_label="id", order_by="h3_r9",
    stage_columns=("row_no", "external_id", "category", "severity", "status", "reported_at", "resolved_at", "due_at",
                   "description", "lon", "lat", "h3_r7", "h3_r8", "h3_r9", "h3_r10", "attrs", "pii"),
    stage_raw="""
CREATE TEMP TABLE stage_raw (
    row_no integer, external_id text, category text, severity smallint, status text,
    reported_at timestamptz, resolved_at timestamptz, due_at timestamptz, description text,
    lon float8, lat float8, h3_r7 bigint, h3_r8 bigint, h3_r9 bigint, h3_r10 bigint, attrs jsonb, pii jsonb
) ON COMMIT DROP
""",
    stage_points=_STAGE_POINTS.format(
        columns="row_no, external_id, category, severity, status, reported_at, resolved_at, due_at, description, "
                "h3_r7, h3_r8, h3_r9, h3_r10, attrs, pii", order="h3_r9"),
    insert="""
INSERT INTO shiyu.incident (source, external_id, category, severity, status, reported_at, resolved_at, due_at,
                            description, geom, h3_r7, h3_r8, h3_r9, h3_r10, grid_code, path, attrs, pii, batch_id)
SELECT %(source)s, s.external_id, s.category, s.severity, s.status, s.reported_at, s.resolved_at, s.due_at,
       s.description, s.geom, s.h3_r7, s.h3_r8, s.h3_r9, s.h3_r10, g.code, g.path, s.attrs, s.pii, %(batch_id)s
FROM stage_points s LEFT JOIN stage_grid g USING (row_no)
""",
    upsert="""
WITH up AS (
    INSERT INTO shiyu.incident AS i (source, external_id, category, severity, status, reported_at, resolved_at, due_at,
                                     description, geom, h3_r7, h3_r8, h3_r9, h3_r10, grid_code, path, attrs, pii, batch_id)
    SELECT %(source)s, n.external_id, n.category, n.severity, n.status, n.reported_at, n.resolved_at, n.due_at,
           n.description, n.geom, n.h3_r7, n.h3_r8, n.h3_r9, n.h3_r10, n.grid_code, n.path, n.attrs, n.pii, %(batch_id)s
    FROM (SELECT s.*, g.code AS grid_code, g.path FROM stage_points s LEFT JOIN stage_grid g USING (row_no)) n
    WHERE NOT """ + cubes.STORED_AS_IS.format(changed=INCIDENT_CHANGED) + """
    ON CONFLICT (source, external_id) DO UPDATE SET
        category = EXCLUDED.category, severity = EXCLUDED.severity, status = EXCLUDED.status,
        reported_at = EXCLUDED.reported_at, resolved_at = EXCLUDED.resolved_at, due_at = EXCLUDED.due_at,
        description = EXCLUDED.description, geom = EXCLUDED.geom, h3_r7 = EXCLUDED.h3_r7, h3_r8 = EXCLUDED.h3_r8,
        h3_r9 = EXCLUDED.h3_r9, h3_r10 = EXCLUDED.h3_r10, grid_code = EXCLUDED.grid_code, path = EXCLUDED.path,
        attrs = EXCLUDED.attrs, pii = EXCLUDED.pii, batch_id = EXCLUDED.batch_id, updated_at = now()
    WHERE """ + _changed("i", "EXCLUDED") + """
    RETURNING (xmax = 0) AS inserted
)
SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM up
""",
    before_upsert=(cubes.STAGE_DELTA, cubes.INCIDENT_DELTA.format(upsert_changes=INCIDENT_CHANGED), cubes.ANALYZE_DELTA),
    cubes=cubes.CUBES)

FACILITIES = PointKind(
    kind="facilities", table="facility", key=("external_id",), key_fields=("id",), key_label="id", order_by="h3_r9",
    stage_columns=("row_no", "external_id", "type", "name", "service_radius_m", "lon", "lat", "h3_r9", "attrs"),
    stage_raw="""
CREATE TEMP TABLE stage_raw (
    row_no integer, external_id text, type text, name text, service_radius_m float8,
    lon float8, lat float8, h3_r9 bigint, attrs jsonb
) ON COMMIT DROP
""",
    stage_points=_STAGE_POINTS.format(columns="row_no, external_id, type, name, service_radius_m, h3_r9, attrs",
                                      order="h3_r9"),
    insert="""
INSERT INTO shiyu.facility (source, external_id, type, name, service_radius_m, geom, h3_r9, grid_code, path, attrs, batch_id)
SELECT %(source)s, s.external_id, s.type, s.name, s.service_radius_m, s.geom, s.h3_r9, g.code, g.path, s.attrs, %(batch_id)s
FROM stage_points s LEFT JOIN stage_grid g USING (row_no)
""",
    upsert="""
WITH up AS (
    INSERT INTO shiyu.facility AS f (source, external_id, type, name, service_radius_m, geom, h3_r9, grid_code, path,
                                     attrs, batch_id)
    SELECT %(source)s, s.external_id, s.type, s.name, s.service_radius_m, s.geom, s.h3_r9, g.code, g.path, s.attrs,
           %(batch_id)s
    FROM stage_points s LEFT JOIN stage_grid g USING (row_no)
    ON CONFLICT (source, external_id) DO UPDATE SET
        type = EXCLUDED.type, name = EXCLUDED.name, service_radius_m = EXCLUDED.service_radius_m, geom = EXCLUDED.geom,
        h3_r9 = EXCLUDED.h3_r9, grid_code = EXCLUDED.grid_code, path = EXCLUDED.path, attrs = EXCLUDED.attrs,
        batch_id = EXCLUDED.batch_id, updated_at = now()
    WHERE (f.type, f.name, f.service_radius_m, f.geom, f.grid_code, f.path, f.attrs)
          IS DISTINCT FROM
          (EXCLUDED.type, EXCLUDED.name, EXCLUDED.service_radius_m, EXCLUDED.geom, EXCLUDED.grid_code, EXCLUDED.path,
           EXCLUDED.attrs)
    RETURNING (xmax = 0) AS inserted
)
SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM up
""")

# The per-day patrol cube is recomputed, not patched, for the Beijing days a batch
# touches: a recount cannot drift on re-loads, and a day is cheap (the demo's
# 192k pings of a day: 0.26 s through patrol_ping_ts_idx). Unanalysed, the days
# table is guessed at 2,550 rows and the recount plan turns to JIT (measured 0.5 s).
PATROL_DAYS = """
CREATE TEMP TABLE stage_patrol_day ON COMMIT DROP AS
SELECT DISTINCT (ts AT TIME ZONE 'Asia/Shanghai')::date AS day FROM stage_points
"""
ANALYZE_PATROL_DAYS = "ANALYZE stage_patrol_day"
DELETE_PATROL_DAYS = "DELETE FROM shiyu.patrol_cell_day c USING stage_patrol_day d WHERE c.day = d.day"
INSERT_PATROL_DAYS = """
INSERT INTO shiyu.patrol_cell_day (day, h3_r10, pings, last_ts)
SELECT d.day, p.h3_r10, count(*), max(p.ts)
FROM stage_patrol_day d
JOIN shiyu.patrol_ping p ON p.ts >= d.day::timestamp AT TIME ZONE 'Asia/Shanghai'
                        AND p.ts < (d.day + 1)::timestamp AT TIME ZONE 'Asia/Shanghai'
GROUP BY 1, 2
"""

PATROLS = PointKind(
    kind="patrols", table="patrol_ping", key=("unit_id", "ts"), key_fields=("unit_id", "ts"), key_label="ping of unit at time", order_by="h3_r10",
    stage_columns=("row_no", "unit_id", "ts", "lon", "lat", "h3_r10"),
    stage_raw="""
CREATE TEMP TABLE stage_raw (row_no integer, unit_id text, ts timestamptz, lon float8, lat float8, h3_r10 bigint)
ON COMMIT DROP
""",
    stage_points=_STAGE_POINTS.format(columns="row_no, unit_id, ts, h3_r10", order="h3_r10"),
    insert="""
INSERT INTO shiyu.patrol_ping (unit_id, ts, geom, h3_r10, grid_code, path, batch_id)
SELECT s.unit_id, s.ts, s.geom, s.h3_r10, g.code, g.path, %(batch_id)s
FROM stage_points s LEFT JOIN stage_grid g USING (row_no)
""",
    upsert="""
WITH up AS (
    INSERT INTO shiyu.patrol_ping AS p (unit_id, ts, geom, h3_r10, grid_code, path, batch_id)
    SELECT s.unit_id, s.ts, s.geom, s.h3_r10, g.code, g.path, %(batch_id)s
    FROM stage_points s LEFT JOIN stage_grid g USING (row_no)
    ON CONFLICT (unit_id, ts) DO UPDATE SET
        geom = EXCLUDED.geom, h3_r10 = EXCLUDED.h3_r10, grid_code = EXCLUDED.grid_code, path = EXCLUDED.path,
        batch_id = EXCLUDED.batch_id
    WHERE (p.geom, p.grid_code, p.path) IS DISTINCT FROM (EXCLUDED.geom, EXCLUDED.grid_code, EXCLUDED.path)
    RETURNING (xmax = 0) AS inserted
)
SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM up
""",
    after_upsert=(PATROL_DAYS, ANALYZE_PATROL_DAYS, DELETE_PATROL_DAYS, INSERT_PATROL_DAYS))

# {key} is the kind's key columns. The first row of a key (by its place in the
# file) stays; the others leave staging and become rejects.
ANY_DUPLICATES = "SELECT EXISTS (SELECT 1 FROM stage_raw GROUP BY {key} HAVING count(*) > 1)"
REMOVE_DUPLICATES = """
WITH ranked AS (
    SELECT row_no, min(row_no) OVER (PARTITION BY {key}) AS first_row FROM stage_raw
), gone AS (
    DELETE FROM stage_raw s USING ranked r
    WHERE s.row_no = r.row_no AND r.row_no <> r.first_row
    RETURNING s.row_no, r.first_row, {s_key}
)
SELECT * FROM gone ORDER BY row_no
"""

# Grids first: each grid probes the staged points' GiST index with one prepared
# polygon (measured several times faster than a point-by-point join). A point on
# a border shared by two grids lies in both closed polygons: the smallest code takes it.
ASSIGN_GRIDS = """
CREATE INDEX ON stage_points USING gist (geom);
ANALYZE stage_points;
CREATE TEMP TABLE stage_grid ON COMMIT DROP AS
SELECT DISTINCT ON (m.row_no) m.row_no, g.code, g.path
FROM shiyu.area g
CROSS JOIN LATERAL (SELECT s.row_no FROM stage_points s WHERE ST_Intersects(g.geom, s.geom) OFFSET 0) m
WHERE g.tier = 'grid'
ORDER BY m.row_no, g.code
"""
# A few points (a live post's micro-batch): point by point through the grids' GiST index, the same smallest code
# on a shared border. Measured on the demo city's 10,000 grids, 25 points: the step 48 ms grids first, 14 ms this way.
ASSIGN_GRIDS_FEW = """
CREATE TEMP TABLE stage_grid ON COMMIT DROP AS
SELECT DISTINCT ON (s.row_no) s.row_no, g.code, g.path
FROM stage_points s JOIN shiyu.area g ON g.tier = 'grid' AND ST_Intersects(g.geom, s.geom)
ORDER BY s.row_no, g.code
"""
FEW_POINTS = 500  # up to this many staged points, ASSIGN_GRIDS_FEW
OUTSIDE_GRIDS = "SELECT count(*) FROM stage_points s LEFT JOIN stage_grid g USING (row_no) WHERE g.code IS NULL"

TABLE_EMPTY = "SELECT NOT EXISTS (SELECT 1 FROM {table})"
SECONDARY_INDEXES = """
SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
WHERE x.indrelid = %(table)s::regclass AND NOT x.indisprimary
ORDER BY i.relname
"""
PRIMARY_KEY = "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %(table)s::regclass AND contype = 'p'"

STAGE_AREAS = """
CREATE TEMP TABLE stage_area (
    code text, tier text, parent_code text, name text, owner_name text, owner_phone text, attrs jsonb,
    geom geometry(MultiPolygon, 4326)
) ON COMMIT DROP
"""

# An area without a parent_code takes the area of the tier above it overlaps most.
ASSIGN_PARENTS = """
UPDATE stage_area s SET parent_code = (
    SELECT p.code FROM shiyu.area p
    WHERE p.tier = %(parent_tier)s AND p.geom && s.geom AND ST_Intersects(p.geom, s.geom)
    ORDER BY ST_Area(ST_Intersection(p.geom, s.geom)) DESC, p.code
    LIMIT 1)
WHERE s.parent_code IS NULL AND s.tier = %(tier)s
"""

STRADDLERS = """
SELECT s.code, s.parent_code, ST_Area(ST_Difference(s.geom, p.geom)) / nullif(ST_Area(s.geom), 0) AS outside
FROM stage_area s JOIN shiyu.area p ON p.code = s.parent_code
WHERE NOT ST_CoveredBy(s.geom, p.geom)
  AND ST_Area(ST_Difference(s.geom, p.geom)) > %(share)s * ST_Area(s.geom)
ORDER BY outside DESC
"""

STAGE_CELLS = "CREATE TEMP TABLE stage_cell (res smallint, cell bigint, code text, share real, area_share real) ON COMMIT DROP"
DELETE_CELLS = "DELETE FROM shiyu.area_cell WHERE code = ANY(%(codes)s::text[])"
DELETE_CELL_COUNTS = "DELETE FROM shiyu.area_cell_count WHERE code = ANY(%(codes)s::text[])"
INSERT_CELLS = """
INSERT INTO shiyu.area_cell (res, cell, code, share, area_share) SELECT res, cell, code, share, area_share FROM stage_cell;
INSERT INTO shiyu.area_cell_count (code, res, cells) SELECT code, res, count(*) FROM stage_cell GROUP BY 1, 2
"""

UPSERT_AREAS = """
WITH up AS (
    INSERT INTO shiyu.area AS a (code, tier, parent_code, path, name, owner_name, owner_phone, attrs, geom, area_m2, batch_id)
    SELECT s.code, s.tier, s.parent_code, COALESCE(p.path, ''::ltree) || text2ltree(s.code), s.name, s.owner_name,
           s.owner_phone, s.attrs, s.geom, ST_Area(s.geom::geography), %(batch_id)s
    FROM stage_area s LEFT JOIN shiyu.area p ON p.code = s.parent_code
    ON CONFLICT (code) DO UPDATE SET
        tier = EXCLUDED.tier, parent_code = EXCLUDED.parent_code, path = EXCLUDED.path, name = EXCLUDED.name,
        owner_name = EXCLUDED.owner_name, owner_phone = EXCLUDED.owner_phone, attrs = EXCLUDED.attrs,
        geom = EXCLUDED.geom, area_m2 = EXCLUDED.area_m2, batch_id = EXCLUDED.batch_id, updated_at = now()
    WHERE (a.tier, a.parent_code, a.path, a.name, a.owner_name, a.owner_phone, a.attrs, a.geom)
          IS DISTINCT FROM
          (EXCLUDED.tier, EXCLUDED.parent_code, EXCLUDED.path, EXCLUDED.name, EXCLUDED.owner_name,
           EXCLUDED.owner_phone, EXCLUDED.attrs, EXCLUDED.geom)
    RETURNING a.code, (xmax = 0) AS inserted
)
SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted), coalesce(array_agg(code), '{}') FROM up
"""
