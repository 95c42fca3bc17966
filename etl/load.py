"""Loading: one transaction per batch, COPY into staging, then set-based SQL.

A file is read and validated in chunks inside the batch's transaction, so
memory stays bounded; anything that refuses the batch (too many rejects, a
dry run, an error, the process being killed) rolls the whole batch back.
"""

from __future__ import annotations

import hashlib
import time
from datetime import datetime
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import h3
import numpy as np
import orjson
import pandas as pd
import shapely

from etl import areas as area_rules
from etl import staging, writes
from etl.chunks import CHUNK_ROWS, open_chunks
from etl.facilities import validate_facilities
from etl.incidents import validate_incidents
from etl.patrols import validate_patrols
from etl.vectors import read_features
from etl.timestamps import LOCAL_TZ
from etl.rejects import default_reject_path, duplicate_reason, write_reject_file
from geodata import db, taxonomy
from geodata.apportion import cells_of_areas
from geodata.batchconn import batch_connection
from geodata.bulk import copy_frame, without_nul
from geodata.errors import BatchRefused
from geodata.h3cells import RESOLUTIONS

EXTENT_MARGIN_DEG = 0.02
EXTENT_NAME = "the loaded areas' extent"
MAX_CELLS_PER_GRID = 200_000
STRADDLE_SHARE = 0.01

Progress = Callable[[int, int], None]

CITY_EXTENT = """
SELECT ST_XMin(e) - %(m)s, ST_YMin(e) - %(m)s, ST_XMax(e) + %(m)s, ST_YMax(e) + %(m)s
FROM (SELECT ST_Extent(geom) AS e FROM shiyu.area) x WHERE e IS NOT NULL
"""

START_BATCH = """
INSERT INTO shiyu.load_batch (kind, source, file_name, file_sha256, status, options)
VALUES (%(kind)s, %(source)s, %(file_name)s, %(sha256)s, 'loaded', %(options)s) RETURNING id
"""

# A batch's counts (COUNT_BATCH); FINISH_BATCH sets its finished_at too, as its last write (the data's version
# moves: 0022). The intake's micro-batches are counted at their commit and finished by their fold.
_BATCH_COUNTS = """
UPDATE shiyu.load_batch SET read_count = %(read)s, loaded_count = %(loaded)s, updated_count = %(updated)s,
       unchanged_count = %(unchanged)s, rejected_count = %(rejected)s{finish}
WHERE id = %(batch_id)s
"""
COUNT_BATCH = _BATCH_COUNTS.format(finish="")
FINISH_BATCH = _BATCH_COUNTS.format(finish=", finished_at = clock_timestamp()")

STAGE_REJECTS = "CREATE TEMP TABLE stage_reject (row_number integer, reason text, raw jsonb) ON COMMIT DROP"
SAVE_REJECTS = """
INSERT INTO shiyu.rejected_row (batch_id, row_number, reason, raw)
SELECT %(batch_id)s, row_number, reason, raw FROM stage_reject
"""


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
    seconds: dict[str, float] = field(default_factory=dict)  # wall time of each step

    def as_json(self) -> dict:
        return asdict(self)

    @contextmanager
    def timed(self, step: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[step] = round(self.seconds.get(step, 0.0) + time.perf_counter() - start, 3)


class _RollBack(Exception):
    """Leaves the batch's transaction without writing anything; carries the summary."""

    def __init__(self, summary: LoadSummary):
        super().__init__(summary.error or summary.status)
        self.summary = summary


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def city_extent(conn) -> tuple[float, float, float, float] | None:
    row = conn.execute(CITY_EXTENT, {"m": EXTENT_MARGIN_DEG}).fetchone()
    return tuple(row) if row else None


def _reject_file(path: Path, rejects: pd.DataFrame, reject_file: Path | None) -> str | None:
    """Where the rejects will go; nothing is written until the batch has happened (see :func:`_write_rejects`)."""
    return str(reject_file or default_reject_path(path)) if len(rejects) else None


def _write_rejects(summary: LoadSummary, rejects: pd.DataFrame | None) -> None:
    """The reject file of a batch that committed, was refused or dry-run; never of one that failed or was killed.

    Written beside its place and moved there, so the file at its name is always whole; a place that is not a
    file (``/dev/null``, a pipe) is written to, never replaced."""
    if summary.reject_file and rejects is not None and len(rejects) and summary.status != "empty":
        final = Path(summary.reject_file).resolve()
        if final.exists() and not final.is_file():
            write_reject_file(rejects, final)
        else:
            write_reject_file(rejects, final.with_name(final.name + ".partial")).replace(final)


def _refuse_if_too_many_rejects(summary: LoadSummary, max_reject_ratio: float, what: str) -> None:
    """Roll the batch back when too many rows were rejected; every other row is then unchanged."""
    ratio = summary.rejected / summary.read if summary.read else 0.0
    if ratio > max_reject_ratio:
        summary.status = "refused"
        summary.unchanged = summary.read - summary.rejected  # nothing was written, so nothing changed
        summary.error = (f"{summary.rejected} of {summary.read} {what} rejected ({ratio:.0%}, more than --max-reject-ratio "
                         f"{max_reject_ratio:.0%}); nothing was loaded" + (f", see {summary.reject_file}" if summary.reject_file else ""))
        raise _RollBack(summary)


def _end_if_empty(summary: LoadSummary, what: str) -> None:
    """A file without rows is no batch: it would move the data's "as of" time without bringing any data."""
    if summary.read == 0:
        summary.status = "empty"
        summary.notes.append(f"the file holds no {what}: nothing was loaded and no batch recorded (the data's "
                             "'as of' time is unchanged)")
        raise _RollBack(summary)


def _end_dry_run(summary: LoadSummary, dry_run: bool) -> None:
    """A dry run does the whole load, counts included, and then rolls it back."""
    if dry_run:
        summary.status = "dry-run"
        summary.batch_id = None
        raise _RollBack(summary)


def _save_rejects(conn, batch_id: int, rejects: pd.DataFrame) -> None:
    if not len(rejects):
        return
    conn.execute(STAGE_REJECTS)
    raw = rejects.drop(columns=[rejects.columns[0], "reason"]).fillna("").astype(str).to_dict("records")
    copy_frame(conn, "stage_reject", pd.DataFrame({
        "row_number": rejects.iloc[:, 0].astype(int).to_numpy(), "reason": rejects["reason"].to_numpy(),
        "raw": [orjson.dumps({k: without_nul(v) for k, v in r.items() if v != ""}).decode() for r in raw],
    }))
    conn.execute(SAVE_REJECTS, {"batch_id": batch_id})


def _key_text(value) -> str:
    if isinstance(value, datetime):  # as the operator wrote it: Beijing time
        return pd.Timestamp(value).tz_convert(LOCAL_TZ).strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def _duplicates(conn, kind: staging.PointKind, label: str, mapping: dict[str, str]) -> pd.DataFrame:
    if not conn.execute(db.compose(staging.ANY_DUPLICATES, key=kind.key)).fetchone()[0]:
        return pd.DataFrame()
    rows = conn.execute(db.compose(staging.REMOVE_DUPLICATES, key=kind.key,
                                   s_key=tuple(f"s.{k}" for k in kind.key))).fetchall()
    keys = [[_key_text(v) for v in r[2:]] for r in rows]
    frame = pd.DataFrame({
        label: [r[0] for r in rows],
        "reason": [duplicate_reason(kind.key_label, k, label, r[1]) for r, k in zip(rows, keys)],
    })
    for i, field_name in enumerate(kind.key_fields):
        frame[mapping.get(field_name, field_name)] = [k[i] for k in keys]
    return frame


def _load_points(kind: staging.PointKind, validate: Callable, path: Path, *, source: str | None, encoding: str,
                 layer: str | None, sheet: str | int | None, reject_file: Path | None, max_reject_ratio: float,
                 dry_run: bool, progress: Progress | None, chunk_rows: int, options: dict) -> LoadSummary:
    """The shared pipeline of point files: chunks -> validate -> COPY -> duplicates -> grids -> upsert."""
    path = Path(path)
    chunks = open_chunks(path, encoding=encoding, layer=layer, sheet=sheet, chunk_rows=chunk_rows)
    source = source or path.stem
    options = {**options, "encoding": chunks.encoding, "layer": layer, "sheet": sheet, "max_reject_ratio": max_reject_ratio}
    summary = LoadSummary(None, 0, 0, 0, 0, 0, None)
    rejected = None
    with batch_connection(say_waits=True) as conn:
        extent = city_extent(conn)
        try:
            with conn.transaction():
                summary.batch_id = conn.execute(START_BATCH, {
                    "kind": kind.kind, "source": source, "file_name": path.name, "sha256": sha256_of(path),
                    "options": orjson.dumps(options).decode()}).fetchone()[0]
                conn.execute("SET LOCAL work_mem = '256MB'")
                conn.execute("SET LOCAL maintenance_work_mem = '512MB'")
                conn.execute(kind.stage_raw)
                rejects, label = [], "line"
                tables = iter(chunks.tables)
                while True:
                    with summary.timed("read"):
                        table = next(tables, None)
                    if table is None:
                        break
                    with summary.timed("validate"):
                        batch = validate(table, extent)
                    summary.read += batch.read
                    summary.mapping, label = batch.mapping, table.row_label
                    rejects.append(batch.rejects)
                    with summary.timed("copy"):
                        copy_frame(conn, "stage_raw", batch.records, kind.stage_columns)
                    if progress:
                        progress(summary.read, max(chunks.estimated_rows, summary.read))
                if progress:  # the estimate is done with: the bar ends at what was read
                    progress(summary.read, summary.read)
                with summary.timed("duplicates"):
                    rejects.append(_duplicates(conn, kind, label, summary.mapping))
                rejected = pd.concat([r for r in rejects if len(r)] or [pd.DataFrame()], ignore_index=True)
                if len(rejected):
                    rejected = rejected.sort_values(rejected.columns[0], kind="stable").reset_index(drop=True)
                summary.rejected = len(rejected)
                _end_if_empty(summary, "rows")
                summary.reject_file = _reject_file(path, rejected, reject_file)
                _refuse_if_too_many_rejects(summary, max_reject_ratio, "rows")
                outside = writes.stage_grids(conn, kind, summary)
                writes.write_staged(conn, kind, summary, {"source": source, "batch_id": summary.batch_id},
                                    summary.read - summary.rejected)
                _end_dry_run(summary, dry_run)
                _save_rejects(conn, summary.batch_id, rejected)
                conn.execute(FINISH_BATCH, {"batch_id": summary.batch_id, **asdict(summary)})
        except _RollBack as rolled_back:
            _write_rejects(rolled_back.summary, rejected)
            return _rolled_back(rolled_back.summary)
    _write_rejects(summary, rejected)
    if outside:
        summary.notes.append(f"{outside} {kind.kind} fall in no grid (a coverage gap); they are loaded without a grid_code")
    return summary


def load_incidents(path: Path, *, source: str | None = None, fields: dict[str, str] | None = None, crs: str | None = None,
                   encoding: str = "auto", layer: str | None = None, sheet: str | int | None = None,
                   reject_file: Path | None = None, max_reject_ratio: float = 0.1, allow_other: bool = False,
                   dry_run: bool = False, now: pd.Timestamp | None = None, progress: Progress | None = None,
                   chunk_rows: int = CHUNK_ROWS) -> LoadSummary:
    """Validate an incidents file and upsert it by ``source`` + ``external_id`` in one transaction."""
    def validate(table, extent):
        return validate_incidents(table, fields=fields, crs=crs, extent=extent, now=now, allow_other=allow_other,
                                  extent_name=EXTENT_NAME)

    return _load_points(staging.INCIDENTS, validate, path, source=source, encoding=encoding, layer=layer, sheet=sheet,
                        reject_file=reject_file, max_reject_ratio=max_reject_ratio, dry_run=dry_run, progress=progress,
                        chunk_rows=chunk_rows, options={"crs": crs, "fields": fields or {}, "allow_other": allow_other})


def load_facilities(path: Path, *, source: str | None = None, fields: dict[str, str] | None = None, crs: str | None = None,
                    encoding: str = "auto", layer: str | None = None, sheet: str | int | None = None,
                    reject_file: Path | None = None, max_reject_ratio: float = 0.1, dry_run: bool = False,
                    progress: Progress | None = None, chunk_rows: int = CHUNK_ROWS) -> LoadSummary:
    """Validate a facilities file (``id, type, name, lon, lat[, service_radius_m]``) and upsert it by source + id."""
    def validate(table, extent):
        return validate_facilities(table, fields=fields, crs=crs, extent=extent, extent_name=EXTENT_NAME)

    return _load_points(staging.FACILITIES, validate, path, source=source, encoding=encoding, layer=layer, sheet=sheet,
                        reject_file=reject_file, max_reject_ratio=max_reject_ratio, dry_run=dry_run, progress=progress,
                        chunk_rows=chunk_rows, options={"crs": crs, "fields": fields or {}})


def load_patrols(path: Path, *, source: str | None = None, fields: dict[str, str] | None = None, crs: str | None = None,
                 encoding: str = "auto", layer: str | None = None, sheet: str | int | None = None,
                 reject_file: Path | None = None, max_reject_ratio: float = 0.1, dry_run: bool = False,
                 now: pd.Timestamp | None = None, progress: Progress | None = None,
                 chunk_rows: int = CHUNK_ROWS) -> LoadSummary:
    """Validate patrol GPS pings (``unit_id, ts, lon, lat``) and upsert them by unit + time."""
    def validate(table, extent):
        return validate_patrols(table, fields=fields, crs=crs, extent=extent, extent_name=EXTENT_NAME, now=now)

    return _load_points(staging.PATROLS, validate, path, source=source, encoding=encoding, layer=layer, sheet=sheet,
                        reject_file=reject_file, max_reject_ratio=max_reject_ratio, dry_run=dry_run, progress=progress,
                        chunk_rows=chunk_rows, options={"crs": crs, "fields": fields or {}})


def _rolled_back(summary: LoadSummary) -> LoadSummary:
    summary.batch_id = None
    if summary.status == "refused":
        error = BatchRefused(summary.error)
        error.summary = summary
        raise error
    return summary


def _replace_grid_cells(conn, grids: pd.DataFrame, notes: list[str]) -> None:
    """Apportion the H3 cells of these grids (r7-r10) by area, replacing what they had.

    A grid larger than ``MAX_CELLS_PER_GRID`` cells of a resolution (by its
    bounding box) skips that resolution: a grid is a few km², and a polygon the
    size of a province would need millions of cells.
    """
    polygons = shapely.from_wkb(grids["geom"].to_numpy())
    codes = np.array(grids["code"].tolist(), dtype=object)
    west, south, east, north = shapely.bounds(polygons).T
    box_m2 = (east - west) * (north - south) * 111_320.0**2 * np.cos(np.radians((north + south) / 2))
    parts = []
    for res in RESOLUTIONS:
        fits = box_m2 / h3.average_hexagon_area(res, unit="m^2") <= MAX_CELLS_PER_GRID
        if (~fits).any():
            notes.append(f"{(~fits).sum()} grids are too large for H3 r{res} cells (e.g. {codes[~fits][0]}); "
                         "layers at that resolution leave them out")
        if fits.any():
            parts.append(cells_of_areas(codes[fits].tolist(), polygons[fits], res).assign(res=res))
    cells = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["res", "cell", "code", "share", "area_share"])
    conn.execute(staging.STAGE_CELLS)
    copy_frame(conn, "stage_cell", cells, ("res", "cell", "code", "share", "area_share"))
    conn.execute(staging.DELETE_CELLS, {"codes": list(codes)})
    conn.execute(staging.DELETE_CELL_COUNTS, {"codes": list(codes)})
    conn.execute(staging.INSERT_CELLS)


def load_areas(path: Path, *, tier: str | None, source: str | None = None, fields: dict[str, str] | None = None,
               crs: str | None = None, encoding: str = "auto", layer: str | None = None,
               reject_file: Path | None = None, max_reject_ratio: float = 0.1, dry_run: bool = False) -> LoadSummary:
    """Validate an areas file and upsert it by ``code`` in one transaction.

    An area without a ``parent_code`` takes the area of the tier above that it
    overlaps most; one that straddles its parent is reported.
    """
    path = Path(path)
    table = read_features(path, layer=layer, encoding=encoding)
    batch = area_rules.validate_areas(table, tier=tier, fields=fields, crs=crs)
    summary = LoadSummary(None, batch.read, 0, 0, 0, len(batch.rejects), _reject_file(path, batch.rejects, reject_file),
                          mapping=batch.mapping, notes=list(batch.notes))
    options = {"tier": tier, "crs": crs, "fields": fields or {}, "encoding": table.encoding, "layer": table.layer}
    with batch_connection(say_waits=True) as conn:
        try:
            with conn.transaction():
                _end_if_empty(summary, "features")
                _refuse_if_too_many_rejects(summary, max_reject_ratio, "features")
                summary.batch_id = conn.execute(START_BATCH, {
                    "kind": "areas", "source": source or path.stem, "file_name": path.name, "sha256": sha256_of(path),
                    "options": orjson.dumps(options).decode()}).fetchone()[0]
                conn.execute(staging.STAGE_AREAS)
                copy_frame(conn, "stage_area", batch.records)
                for child in batch.records["tier"].dropna().unique():
                    level = taxonomy.TIERS.index(child)
                    if level:
                        conn.execute(staging.ASSIGN_PARENTS, {"tier": child, "parent_tier": taxonomy.TIERS[level - 1]})
                for code, parent, outside in conn.execute(staging.STRADDLERS, {"share": STRADDLE_SHARE}).fetchall():
                    summary.notes.append(f"{code} straddles its parent {parent}: {outside:.0%} of it lies outside")
                summary.loaded, summary.updated, changed = conn.execute(
                    staging.UPSERT_AREAS, {"batch_id": summary.batch_id}).fetchone()
                summary.unchanged = len(batch.records) - summary.loaded - summary.updated
                grids = batch.records[(batch.records["tier"] == "grid") & batch.records["code"].isin(changed)]
                if len(grids):  # only new and changed grids: the others' cells stand
                    with summary.timed("cells"):
                        _replace_grid_cells(conn, grids, summary.notes)
                _end_dry_run(summary, dry_run)
                _save_rejects(conn, summary.batch_id, batch.rejects)
                conn.execute(FINISH_BATCH, {"batch_id": summary.batch_id, **asdict(summary)})
        except _RollBack as rolled_back:
            _write_rejects(rolled_back.summary, batch.rejects)
            return _rolled_back(rolled_back.summary)
    _write_rejects(summary, batch.rejects)
    return summary
