"""Writing a staged batch: the upsert into its table and the batch's deltas into the cubes.

A large batch into an empty table (``BULK_MIN_ROWS`` and more) sets the
table's secondary indexes and its primary key aside and builds them after,
instead of updating them row by row; the write is then a plain insert. Into a
table that holds rows the indexes stay live, so readers go on reading the old
rows until the batch commits (dropping an index locks the table against them),
and only the rows that are new or changed are written.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from etl import cubes, staging
from geodata import db

if TYPE_CHECKING:
    from etl.load import LoadSummary

BULK_MIN_ROWS = 50_000  # a batch this large into an empty table builds its indexes after instead of updating them


@contextmanager
def indexes_set_aside(conn, table: str, rows: int, summary: LoadSummary, step: str) -> Iterator[bool]:
    """For ``rows`` many into an empty ``table``: its secondary indexes and primary key dropped, built after (timed
    as ``step``); the context says so (the body then cannot rely on the key, e.g. for ON CONFLICT).

    Measured on 1M incidents: 10 s with the key and a foreign key, 3.7 s
    without them and the key built after; on the day cube's 1.5M rows 10 s
    against 4.7 s. Dropping an index holds an exclusive lock on the table until
    the batch commits, which readers would wait on: a table that holds rows
    keeps its indexes live (a 1M-row reload of a loaded table locked the wall
    and the OGC API out for 65 s when it set them aside).
    """
    names = {"table": table}
    bulk = rows >= BULK_MIN_ROWS and conn.execute(db.compose(staging.TABLE_EMPTY, table=table)).fetchone()[0]
    indexes = conn.execute(staging.SECONDARY_INDEXES, names).fetchall() if bulk else []
    keys = conn.execute(staging.PRIMARY_KEY, names).fetchall() if bulk else []
    for name, _ in indexes:
        conn.execute(db.compose("DROP INDEX {name}", name=f"shiyu.{name}"))
    for name, _ in keys:
        conn.execute(db.compose("ALTER TABLE {table} DROP CONSTRAINT {name}", table=table, name=name))
    yield bool(keys)
    with summary.timed(step):
        for name, definition in keys:
            conn.execute(db.compose("ALTER TABLE {table} ADD CONSTRAINT {name} ", table=table, name=name)
                         + db.literal_sql(definition))
        for _, definition in indexes:
            conn.execute(definition)
        if bulk:
            conn.execute(db.compose("ANALYZE {table}", table=table))


def upsert(conn, kind: staging.PointKind, summary: LoadSummary, params: dict, staged_rows: int) -> tuple[int, int]:
    """Insert new rows and update changed ones; returns (loaded, updated).

    A large batch into an empty table builds the indexes and the key after
    instead of updating them row by row.
    """
    with indexes_set_aside(conn, f"shiyu.{kind.table}", staged_rows, summary, "index") as keyless:
        with summary.timed("upsert"):
            if keyless:
                return conn.execute(kind.insert, params).rowcount, 0
            return conn.execute(cubes.for_few(kind.upsert, staged_rows <= staging.FEW_POINTS), params).fetchone()


def apply_cubes(conn, kind: staging.PointKind, summary: LoadSummary) -> None:
    """Add the batch's delta to each cube; a delta large against its cube rebuilds the cube's indexes."""
    for cube in kind.cubes:
        with summary.timed("aggregate"):
            conn.execute(cube.stage)
            rows = conn.execute(db.compose("SELECT count(*) FROM {delta}", delta=cube.delta)).fetchone()[0]
        with indexes_set_aside(conn, cube.table, rows, summary, "aggregate") as keyless, summary.timed("aggregate"):
            conn.execute(cube.fill if keyless else cube.apply)


def stage_grids(conn, kind: staging.PointKind, summary: LoadSummary, staged_rows: int | None = None) -> int:
    """Turn the deduplicated ``stage_raw`` into points with their grids; returns how many fall in no grid.
    ``staged_rows`` known to be few (``staging.FEW_POINTS``): each point finds its grid, not each grid its points."""
    few = staged_rows is not None and staged_rows <= staging.FEW_POINTS
    with summary.timed("assign_grids"):
        conn.execute(kind.stage_points)
        conn.execute(staging.ASSIGN_GRIDS_FEW if few else staging.ASSIGN_GRIDS)
    return conn.execute(staging.OUTSIDE_GRIDS).fetchone()[0]


def write_staged(conn, kind: staging.PointKind, summary: LoadSummary, params: dict, staged_rows: int, *,
                 fold_later: bool = False) -> None:
    """The set-based write of staged points (after ``stage_grids``), shared by ``shiyu load`` and the intake worker:
    the statements before the upsert (the cubes' delta), the upsert, the cubes, the statements after it. Sets the
    summary's ``loaded``, ``updated`` and ``unchanged``; ``params`` binds ``source`` and ``batch_id``.

    ``fold_later`` (the intake's micro-batches): the cubes' delta is kept in ``shiyu.cube_delta`` for ``fold``."""
    few = staged_rows <= staging.FEW_POINTS
    with summary.timed("aggregate"):
        for statement in kind.before_upsert:
            conn.execute(cubes.for_few(statement, few), params)
    summary.loaded, summary.updated = upsert(conn, kind, summary, params, staged_rows)
    if fold_later and kind.cubes:
        with summary.timed("aggregate"):
            conn.execute(cubes.PEND_DELTA, params)
    else:
        apply_cubes(conn, kind, summary)
    with summary.timed("aggregate"):
        for statement in kind.after_upsert:
            conn.execute(statement, params)
    summary.unchanged = staged_rows - summary.loaded - summary.updated


def fold(conn, kind: staging.PointKind, summary: LoadSummary, batches: list[int]) -> None:
    """Add the deltas that ``write_staged(fold_later=True)`` kept for ``batches`` to the cubes, by the same
    statements, and delete them."""
    with summary.timed("aggregate"):
        conn.execute(cubes.STAGE_DELTA)
        rows = conn.execute(cubes.FOLD_DELTA, {"batches": batches}).rowcount
        conn.execute(cubes.ANALYZE_DELTA)
    if rows:
        apply_cubes(conn, kind, summary)
    conn.execute(cubes.FOLDED, {"batches": batches})
