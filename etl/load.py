"""Loading: one transaction per batch, COPY into staging, then set-based SQL.

Validation happens before the transaction opens, so a refused batch writes
nothing. Grid assignment runs grids-first (each grid probes the staged
points' GiST index), which measured ~8x faster than a point-by-point join.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from pathlib import Path

import orjson
import pandas as pd
import shapely

from etl import areas as area_rules
from etl import incidents as incident_rules
from etl.readers import read_features, read_table
from etl.rejects import default_reject_path, write_reject_file
from geodata import db
from geodata.bulk import copy_frame
from geodata.errors import BatchRefused

EXTENT_MARGIN_DEG = 0.02

CITY_EXTENT = """
SELECT ST_XMin(e) - %(m)s, ST_YMin(e) - %(m)s, ST_XMax(e) + %(m)s, ST_YMax(e) + %(m)s
FROM (SELECT ST_Extent(geom) AS e FROM shiyu.area) x WHERE e IS NOT NULL
"""

START_BATCH = """
INSERT INTO shiyu.load_batch (kind, source, file_name, file_sha256, status, read_count, options)
VALUES (%(kind)s, %(source)s, %(file_name)s, %(sha256)s, 'loaded', %(read)s, %(options)s) RETURNING id
"""

FINISH_BATCH = """
UPDATE shiyu.load_batch SET loaded_count = %(loaded)s, updated_count = %(updated)s, unchanged_count = %(unchanged)s,
       rejected_count = %(rejected)s, finished_at = now()
WHERE id = %(batch_id)s
"""

STAGE_INCIDENTS = """
CREATE TEMP TABLE stage_incident (
    row_no integer, external_id text, category text, severity smallint, status text,
    reported_at timestamptz, resolved_at timestamptz, due_at timestamptz, description text,
    geom geometry(Point, 4326), h3_r7 bigint, h3_r8 bigint, h3_r9 bigint, h3_r10 bigint, attrs jsonb, pii jsonb
) ON COMMIT DROP
"""

# A point on a border shared by two grids lies in both closed polygons: the smallest code takes it.
ASSIGN_GRIDS = """
CREATE INDEX ON stage_incident USING gist (geom);
ANALYZE stage_incident;
CREATE TEMP TABLE stage_grid ON COMMIT DROP AS
SELECT DISTINCT ON (m.row_no) m.row_no, g.code, g.path
FROM shiyu.area g
CROSS JOIN LATERAL (SELECT s.row_no FROM stage_incident s WHERE ST_Intersects(g.geom, s.geom) OFFSET 0) m
WHERE g.tier = 'grid'
ORDER BY m.row_no, g.code
"""

UPSERT_INCIDENTS = """
WITH up AS (
    INSERT INTO shiyu.incident AS i (source, external_id, category, severity, status, reported_at, resolved_at, due_at,
                                     description, geom, h3_r7, h3_r8, h3_r9, h3_r10, grid_code, path, attrs, pii, batch_id)
    SELECT %(source)s, s.external_id, s.category, s.severity, s.status, s.reported_at, s.resolved_at, s.due_at,
           s.description, s.geom, s.h3_r7, s.h3_r8, s.h3_r9, s.h3_r10, g.code, g.path, s.attrs, s.pii, %(batch_id)s
    FROM stage_incident s LEFT JOIN stage_grid g USING (row_no)
    ON CONFLICT (source, external_id) DO UPDATE SET
        category = EXCLUDED.category, severity = EXCLUDED.severity, status = EXCLUDED.status,
        reported_at = EXCLUDED.reported_at, resolved_at = EXCLUDED.resolved_at, due_at = EXCLUDED.due_at,
        description = EXCLUDED.description, geom = EXCLUDED.geom, h3_r7 = EXCLUDED.h3_r7, h3_r8 = EXCLUDED.h3_r8,
        h3_r9 = EXCLUDED.h3_r9, h3_r10 = EXCLUDED.h3_r10, grid_code = EXCLUDED.grid_code, path = EXCLUDED.path,
        attrs = EXCLUDED.attrs, pii = EXCLUDED.pii, batch_id = EXCLUDED.batch_id, updated_at = now()
    WHERE (i.category, i.severity, i.status, i.reported_at, i.resolved_at, i.due_at, i.description, i.geom,
           i.grid_code, i.path, i.attrs, i.pii)
          IS DISTINCT FROM
          (EXCLUDED.category, EXCLUDED.severity, EXCLUDED.status, EXCLUDED.reported_at, EXCLUDED.resolved_at,
           EXCLUDED.due_at, EXCLUDED.description, EXCLUDED.geom, EXCLUDED.grid_code, EXCLUDED.path,
           EXCLUDED.attrs, EXCLUDED.pii)
    RETURNING (xmax = 0) AS inserted
)
SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted),
       (SELECT count(*) FROM stage_incident s LEFT JOIN stage_grid g USING (row_no) WHERE g.code IS NULL)
FROM up
"""

STAGE_AREAS = """
CREATE TEMP TABLE stage_area (
    code text, tier text, parent_code text, name text, owner_name text, owner_phone text, attrs jsonb,
    geom geometry(MultiPolygon, 4326)
) ON COMMIT DROP
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
    RETURNING (xmax = 0) AS inserted
)
SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted), 0 FROM up
"""

STAGE_REJECTS = "CREATE TEMP TABLE stage_reject (row_number integer, reason text, raw jsonb) ON COMMIT DROP"
SAVE_REJECTS = "INSERT INTO shiyu.rejected_row (batch_id, row_number, reason, raw) SELECT %(batch_id)s, row_number, reason, raw FROM stage_reject"


@dataclass
class LoadSummary:
    """What a load did; ``read == loaded + updated + unchanged + rejected`` always."""

    batch_id: int | None
    read: int
    loaded: int
    updated: int
    unchanged: int
    rejected: int
    reject_file: str | None
    status: str = "loaded"
    mapping: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    error: str | None = None

    def as_json(self) -> dict:
        return asdict(self)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def city_extent(conn) -> tuple[float, float, float, float] | None:
    row = conn.execute(CITY_EXTENT, {"m": EXTENT_MARGIN_DEG}).fetchone()
    return tuple(row) if row else None


def _finish_rejects(path: Path, batch, reject_file: Path | None, max_reject_ratio: float) -> tuple[str | None, float]:
    written = None
    if len(batch.rejects):
        written = str(write_reject_file(batch.rejects, reject_file or default_reject_path(path)))
    ratio = len(batch.rejects) / batch.read if batch.read else 0.0
    return written, ratio


def _refused(batch, written: str | None, message: str) -> BatchRefused:
    error = BatchRefused(message)
    error.summary = LoadSummary(None, batch.read, 0, 0, 0, len(batch.rejects), written, "refused", batch.mapping, batch.notes, message)
    return error


def _write(conn, kind: str, path: Path, source: str, batch, written: str | None, options: dict,
           stage_sql: str, stage_table: str, staged: pd.DataFrame, upsert_sql: str, assign_sql: str | None) -> LoadSummary:
    with conn.transaction():
        batch_id = conn.execute(START_BATCH, {
            "kind": kind, "source": source, "file_name": path.name, "sha256": sha256_of(path),
            "read": batch.read, "options": orjson.dumps(options).decode(),
        }).fetchone()[0]
        conn.execute(stage_sql)
        copy_frame(conn, stage_table, staged)
        if assign_sql:
            conn.execute(assign_sql)
        loaded, updated, outside = conn.execute(upsert_sql, {"source": source, "batch_id": batch_id}).fetchone()
        if len(batch.rejects):
            conn.execute(STAGE_REJECTS)
            rejects = batch.rejects
            raw = rejects.drop(columns=[rejects.columns[0], "reason"]).to_dict("records")
            copy_frame(conn, "stage_reject", pd.DataFrame({
                "row_number": rejects.iloc[:, 0].to_numpy(), "reason": rejects["reason"].to_numpy(),
                "raw": [orjson.dumps(r).decode() for r in raw],
            }))
            conn.execute(SAVE_REJECTS, {"batch_id": batch_id})
        unchanged = len(staged) - loaded - updated
        conn.execute(FINISH_BATCH, {"batch_id": batch_id, "loaded": loaded, "updated": updated,
                                    "unchanged": unchanged, "rejected": len(batch.rejects)})
    notes = list(batch.notes)
    if outside:
        notes.append(f"{outside} incidents fall in no grid (a coverage gap); they are loaded without a grid_code")
    return LoadSummary(batch_id, batch.read, loaded, updated, unchanged, len(batch.rejects), written, "loaded",
                       batch.mapping, notes)


def load_incidents(path: Path, *, source: str | None = None, fields: dict[str, str] | None = None, crs: str = "wgs84",
                   encoding: str = "utf-8-sig", reject_file: Path | None = None, max_reject_ratio: float = 0.1,
                   allow_other: bool = False, dry_run: bool = False, now: pd.Timestamp | None = None) -> LoadSummary:
    """Validate an incidents file and upsert it by ``source`` + ``external_id`` in one transaction."""
    path = Path(path)
    table = read_table(path, encoding)
    source = source or path.stem
    with db.connect() as conn:
        extent = city_extent(conn)
        batch = incident_rules.validate_incidents(table, fields=fields, crs=crs, extent=extent,
                                                  extent_name="the loaded areas' extent", now=now, allow_other=allow_other)
        written, ratio = _finish_rejects(path, batch, reject_file, max_reject_ratio)
        if ratio > max_reject_ratio:
            raise _refused(batch, written, f"{len(batch.rejects)} of {batch.read} rows rejected ({ratio:.0%}, more than "
                           f"--max-reject-ratio {max_reject_ratio:.0%}); nothing was loaded, see {written}")
        if dry_run:
            return LoadSummary(None, batch.read, 0, 0, 0, len(batch.rejects), written, "dry-run", batch.mapping, batch.notes)
        staged = batch.records.drop(columns=["lon", "lat"])
        staged.insert(0, "row_no", range(len(staged)))
        points = shapely.set_srid(shapely.points(batch.records["lon"].to_numpy(), batch.records["lat"].to_numpy()), 4326)
        staged["geom"] = shapely.to_wkb(points, hex=True, include_srid=True)
        options = {"crs": crs, "fields": fields or {}, "allow_other": allow_other, "max_reject_ratio": max_reject_ratio}
        return _write(conn, "incidents", path, source, batch, written, options, STAGE_INCIDENTS, "stage_incident",
                      staged, UPSERT_INCIDENTS, ASSIGN_GRIDS)


def load_areas(path: Path, *, tier: str | None, source: str | None = None, fields: dict[str, str] | None = None,
               crs: str | None = None, reject_file: Path | None = None, max_reject_ratio: float = 0.1,
               dry_run: bool = False) -> LoadSummary:
    """Validate an areas file and upsert it by ``code`` in one transaction."""
    path = Path(path)
    table = read_features(path)
    batch = area_rules.validate_areas(table, tier=tier, fields=fields, crs=crs)
    written, ratio = _finish_rejects(path, batch, reject_file, max_reject_ratio)
    if ratio > max_reject_ratio:
        raise _refused(batch, written, f"{len(batch.rejects)} of {batch.read} features rejected ({ratio:.0%}, more than "
                       f"--max-reject-ratio {max_reject_ratio:.0%}); nothing was loaded, see {written}")
    if dry_run:
        return LoadSummary(None, batch.read, 0, 0, 0, len(batch.rejects), written, "dry-run", batch.mapping, batch.notes)
    options = {"tier": tier, "crs": crs, "fields": fields or {}}
    with db.connect() as conn:
        return _write(conn, "areas", path, source or path.stem, batch, written, options, STAGE_AREAS, "stage_area",
                      batch.records, UPSERT_AREAS, None)
