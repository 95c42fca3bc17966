"""Every incident cube (weekly, all-time, day, street, r7) equals a recount from the incidents after re-loads that move rows in it."""

import csv
import time

from etl.intake_worker import UNFOLDED
from etl.load import load_incidents
from tests.etl.test_incident_day import DAY_VS_RAW
from tests.etl.test_incident_week import CELLS_VS_RAW, CUBE_VS_RAW
from tests.geodata.test_rollups import CELL_R7_VS_RAW, DAY_R7_VS_RAW

HEADER = ["id", "category", "reported_at", "lon", "lat", "status", "resolved_at", "description"]
A = ["120.119728", "30.274322"]  # in grid 330106000091
B = ["120.143861", "30.243162"]  # in grid 330106000232
NO_GRID = ["120.21", "30.25"]     # east of every grid, inside the city's extent

# Two closed incidents of one grid-day with the same 2 h to resolution: the day cube's array holds the value twice.
BASE = [
    ["C1", "治安", "2026-09-01 08:10:00", *A, "结案", "2026-09-01 10:10:00", ""],
    ["C2", "治安", "2026-09-01 09:20:00", *A, "结案", "2026-09-01 11:20:00", ""],
    ["C3", "消防安全", "2026-09-01 23:30:00", *A, "上报", "", ""],
    ["C4", "矛盾纠纷", "2026-09-02 00:30:00", *B, "结案", "2026-09-03 00:30:00", ""],
    ["C5", "治安", "2026-09-01 12:00:00", *B, "上报", "", ""],
    ["C6", "治安", "2026-09-01 12:00:00", *A, "上报", "", ""],
    ["C7", "治安", "2026-09-01 13:00:00", *NO_GRID, "上报", "", ""],
    ["C8", "治安", "2026-09-01 14:00:00", *A, "上报", "", "before"],
]
CHANGED = [
    ["C1", "治安", "2026-09-01 08:10:00", *A, "处置中", "", ""],                               # reopened: one 2 h goes
    ["C2", "交通安全", "2026-09-01 09:20:00", *A, "结案", "2026-09-01 11:20:00", ""],           # category
    ["C3", "消防安全", "2026-09-02 00:10:00", *A, "上报", "", ""],                              # next day, Beijing time
    ["C4", "矛盾纠纷", "2026-09-02 00:30:00", *A, "结案", "2026-09-02 06:30:00", ""],           # grid, hours
    ["C5", "治安", "2026-09-09 12:00:00", *NO_GRID, "上报", "", ""],                            # week, out of every grid
    ["C6", "治安", "2026-09-01 12:00:00", *A, "上报", "", ""],                                  # unchanged
    ["C7", "治安", "2026-09-01 15:00:00", *B, "结案", "2026-09-01 17:00:00", ""],               # into a grid, closed
    ["C8", "治安", "2026-09-01 14:00:00", *A, "上报", "", "after"],                             # no cube sees this
    ["C9", "治安", "2026-09-01 16:00:00", *A, "结案", "2026-09-01 18:00:00", ""],               # new
]

NO_EMPTY_ROWS = """
SELECT (SELECT count(*) FROM shiyu.incident_week WHERE n = 0) + (SELECT count(*) FROM shiyu.incident_cell WHERE n = 0)
     + (SELECT count(*) FROM shiyu.incident_day WHERE n = 0) + (SELECT count(*) FROM shiyu.incident_day_street WHERE n = 0)
     + (SELECT count(*) FROM shiyu.incident_day_r7 WHERE n = 0) + (SELECT count(*) FROM shiyu.incident_cell_r7 WHERE n = 0)
     + (SELECT count(*) FROM shiyu.incident_grid_week WHERE n = 0)
"""
# The street roll-up (0014) against its recount from the day cube, row for row, hours and buckets included.
STREETS_VS_RECOUNT = """
SELECT count(*) FROM (
    (SELECT * FROM shiyu.incident_day_street EXCEPT ALL SELECT * FROM shiyu.incident_day_street_of(NULL, NULL))
    UNION ALL
    (SELECT * FROM shiyu.incident_day_street_of(NULL, NULL) EXCEPT ALL SELECT * FROM shiyu.incident_day_street)
) d
"""

# The day cube's hours per grid and week (0020) against its recount from the day cube, row for row.
GRID_WEEKS_VS_RECOUNT = """
SELECT count(*) FROM (
    (SELECT * FROM shiyu.incident_grid_week EXCEPT ALL SELECT * FROM shiyu.incident_grid_week_of('shiyu.incident_day'))
    UNION ALL
    (SELECT * FROM shiyu.incident_grid_week_of('shiyu.incident_day') EXCEPT ALL SELECT * FROM shiyu.incident_grid_week)
) d
"""


def _write(path, rows):
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([HEADER, *rows])
    return path


def _wait_for_folds(conn, seconds: float = 20.0) -> None:
    """The intake's micro-batches reach the cubes by the fold that follows their commit (etl/intake_worker.py):
    wait until none is left unfolded (a file's load is in the cubes at its commit; nothing to wait for)."""
    deadline = time.monotonic() + seconds
    while conn.execute(UNFOLDED, {"n": 1}).fetchone() is not None:
        assert time.monotonic() < deadline, f"micro-batches still unfolded after {seconds:g} s"
        time.sleep(0.05)


def _assert_cubes_are_the_recount(conn):
    _wait_for_folds(conn)
    assert conn.execute(CUBE_VS_RAW).fetchone()[0] == 0
    assert conn.execute(CELLS_VS_RAW).fetchone()[0] == 0
    assert conn.execute(DAY_VS_RAW).fetchone()[0] == 0
    assert conn.execute(STREETS_VS_RECOUNT).fetchone()[0] == 0
    assert conn.execute(DAY_R7_VS_RAW).fetchone()[0] == 0
    assert conn.execute(CELL_R7_VS_RAW).fetchone()[0] == 0
    assert conn.execute(GRID_WEEKS_VS_RECOUNT).fetchone()[0] == 0
    assert conn.execute(NO_EMPTY_ROWS).fetchone()[0] == 0


def test_re_loads_that_change_status_category_grid_or_time_leave_every_cube_equal_to_a_recount(sample_db, conn, tmp_path):
    base = load_incidents(_write(tmp_path / "base.csv", BASE), source="cubes")
    assert (base.loaded, base.rejected) == (len(BASE), 0)
    _assert_cubes_are_the_recount(conn)
    assert conn.execute("SELECT resolve_hours FROM shiyu.incident_day WHERE grid_code = '330106000091' "
                        "AND day = '2026-09-01' AND category = 'public_order'").fetchone()[0] == [2.0, 2.0]

    changed = load_incidents(_write(tmp_path / "changed.csv", CHANGED), source="cubes")
    assert (changed.loaded, changed.updated, changed.unchanged) == (1, 7, 1)
    grids = dict(conn.execute("SELECT external_id, grid_code FROM shiyu.incident WHERE source = 'cubes'").fetchall())
    assert (grids["C4"], grids["C5"], grids["C7"]) == ("330106000091", None, "330106000232")
    _assert_cubes_are_the_recount(conn)
    # one of the two equal values left the array, the other stayed
    assert conn.execute("SELECT resolve_hours FROM shiyu.incident_day WHERE grid_code = '330106000091' "
                        "AND day = '2026-09-01' AND category = 'public_order'").fetchone()[0] == [2.0]

    again = load_incidents(_write(tmp_path / "base-again.csv", BASE), source="cubes")
    assert (again.loaded, again.updated, again.unchanged) == (0, 7, 1)
    _assert_cubes_are_the_recount(conn)


def test_cubes_filled_from_empty_by_a_bulk_load_equal_a_recount(empty_db, conn, monkeypatch, tmp_path):
    """Into empty cubes a large batch fills each with a plain insert, its keys built after (etl/writes.py): the
    sums, the day cube's hours and the street roll-up's counts under each bound come from the grouping itself."""
    from datetime import datetime

    from etl import writes
    from geodata.rollups import week_cells_recounted
    from layers.base import BEIJING
    from tests.layers.tiers import load_city

    monkeypatch.setattr(writes, "BULK_MIN_ROWS", 1)
    load_city(tmp_path, datetime.now(BEIJING).replace(microsecond=0))  # five tiers, resolved incidents among them
    assert conn.execute("SELECT count(*) FROM shiyu.incident_day_street WHERE cardinality(resolve_hours) > 1 "
                        "AND nlevel(path) = 3").fetchone()[0] > 50
    _assert_cubes_are_the_recount(conn)
    kept, recount = week_cells_recounted(conn)
    assert kept == recount and len(kept) > 1000


def test_a_change_of_status_alone_rewrites_no_row_of_the_grid_weeks(sample_db, conn, tmp_path):
    """The grid weeks (0020) count incidents by hour only: a re-load that closes or reopens incidents leaves its
    delta all 0s, and no row of it is written."""
    load_incidents(_write(tmp_path / "base.csv", BASE), source="statuses")
    rows = "SELECT xmin::text, week, grid_code FROM shiyu.incident_grid_week ORDER BY 2, 3"
    before = conn.execute(rows).fetchall()
    closed = [[*row[:5], "结案", "2026-09-05 08:00:00", row[7]] for row in BASE]
    summary = load_incidents(_write(tmp_path / "closed.csv", closed), source="statuses")
    assert summary.updated > 0
    assert conn.execute(rows).fetchall() == before
    _assert_cubes_are_the_recount(conn)


def test_the_grid_weeks_follow_the_day_cube_they_are_made_from():
    """GRID_WEEK makes its weeks from the day cube's delta (stage_day_sum), so it must be applied after DAY."""
    from etl.cubes import CUBES, DAY, GRID_WEEK

    assert CUBES.index(DAY) < CUBES.index(GRID_WEEK) and "stage_day_sum" in GRID_WEEK.stage
