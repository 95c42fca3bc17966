"""The intake worker killed (kill -9) in the middle of a micro-batch loses and doubles nothing.

Posts are queued through ``etl.intake.submit`` (as the HTTP route queues them, without waiting), then the real
``shiyu intake`` command applies them in a subprocess tagged with its own ``application_name``; the test kills it
while its backend is inside a micro-batch after at least one has committed, starts it again, and then finds
every acknowledged row exactly once, every status change applied in the order posted, and the cubes equal to
their recount. Every wait is bounded.
"""

import os
import signal
import subprocess
import sys

import pandas as pd
import pytest

from etl import intake
from etl.readers import Table
from geodata import feeds
from geodata.feeds import Feed
from tests.etl.test_incident_cubes import _assert_cubes_are_the_recount
from tests.etl.test_kill import kill_when, wait_for
from tests.helpers import ROOT

APP_NAME = "shiyu-intake-kill-test"
NEW_POSTS, ROWS_A_POST, UPDATE_POSTS = 24, 1000, 8
WORKER_IN_BATCH = """
SELECT pid FROM pg_stat_activity
WHERE application_name = %s AND state = 'active' AND xact_start IS NOT NULL
  AND (query LIKE '%%stage%%' OR query LIKE '%%shiyu.incident%%')
"""


def _table(rows: list[dict]) -> Table:
    frame = pd.DataFrame(rows, dtype=object)
    return Table(frame, pd.Series(range(1, len(rows) + 1), index=frame.index), "row", "utf-8")


def _rows(first: int, n: int, status: str, now) -> list[dict]:
    return [{"id": f"K{i:06d}", "category": ("治安", "消防", "纠纷")[i % 3],
             "reported_at": f"{now - pd.Timedelta(minutes=5 + i % 600):%Y-%m-%d %H:%M:%S}",
             "lon": f"{120.01 + (i % 397) * 0.0009:.6f}", "lat": f"{30.01 + (i % 389) * 0.0009:.6f}",
             "status": status, "resolved_at": f"{now:%Y-%m-%d %H:%M:%S}" if status == "结案" else ""}
            for i in range(first, first + n)]


def _worker(stderr):
    return subprocess.Popen([sys.executable, "-m", "shiyu", "intake"], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=stderr, env={**os.environ, "PGAPPNAME": APP_NAME})


@pytest.fixture
def queued(database_url, tmp_path):
    from tests.serving import hotline_city

    now = pd.Timestamp(hotline_city(database_url, tmp_path))
    feeds.add_feed("killtest")
    feed = Feed("killtest", None)
    expected: dict[str, str] = {}
    for p in range(NEW_POSTS):
        rows = _rows(p * ROWS_A_POST, ROWS_A_POST, "上报", now)
        assert intake.submit(feed, _table(rows), wait_s=0).status == 202
        expected.update({r["id"]: "reported" for r in rows})
    for p in range(UPDATE_POSTS):  # later posts move earlier reports on: applied after them, whatever the batching
        status = ("立案", "结案")[p % 2]
        rows = _rows(p * 3 * ROWS_A_POST // 2, ROWS_A_POST // 2, status, now)
        assert intake.submit(feed, _table(rows), wait_s=0).status == 202
        expected.update({r["id"]: {"立案": "registered", "结案": "closed"}[status] for r in rows})
    return expected


def test_a_worker_killed_mid_batch_applies_every_acknowledged_row_once(queued, conn, tmp_path):
    posts = conn.execute("SELECT count(*) FROM shiyu.intake_post WHERE status = 'queued'").fetchone()[0]
    assert posts == NEW_POSTS + UPDATE_POSTS
    stderr = (tmp_path / "worker.stderr").open("w")
    worker = _worker(stderr)

    def mid_batch():
        assert worker.poll() is None, (tmp_path / "worker.stderr").read_text()
        applied = conn.execute("SELECT count(*) FROM shiyu.intake_post WHERE status = 'applied'").fetchone()[0]
        return applied > 0 and conn.execute(WORKER_IN_BATCH, (APP_NAME,)).fetchone()

    kill_when(worker, mid_batch, 60, "the worker to be inside a micro-batch after one has committed")
    left = conn.execute("SELECT count(*) FROM shiyu.intake_post WHERE status = 'queued'").fetchone()[0]
    assert 0 < left < posts  # killed part way: some applied, the one it was in still queued

    again = _worker(stderr)
    try:
        wait_for(lambda: conn.execute("SELECT NOT EXISTS (SELECT 1 FROM shiyu.intake_post WHERE status = 'queued')"
                                      ).fetchone()[0], 120, "the restarted worker to empty the queue", interval=0.1)
    finally:
        again.send_signal(signal.SIGTERM)
        again.wait(timeout=20)
        stderr.close()

    stored = dict(conn.execute("SELECT external_id, status FROM shiyu.incident WHERE source = 'killtest'").fetchall())
    assert stored == queued  # every row once, with the status of the last post that named it
    loaded, staged = conn.execute("SELECT sum(loaded_count), sum(loaded_count + updated_count + unchanged_count) "
                                  "FROM shiyu.intake_post WHERE feed_name = 'killtest'").fetchone()
    assert loaded == NEW_POSTS * ROWS_A_POST and staged == (NEW_POSTS + UPDATE_POSTS // 2) * ROWS_A_POST
    assert conn.execute("SELECT count(*) FROM shiyu.intake_row").fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM shiyu.load_batch WHERE source = 'killtest' AND finished_at IS NULL"
                        ).fetchone()[0] == 0
    _assert_cubes_are_the_recount(conn)


def test_a_worker_whose_connection_is_cut_mid_batch_reconnects_and_finishes(queued, conn, tmp_path):
    """What a database restart does to the worker: its backend ends mid-batch. It waits, reconnects, and applies
    the rolled-back micro-batch again."""
    stderr_path = tmp_path / "worker.stderr"
    with stderr_path.open("w") as stderr:
        worker = _worker(stderr)
        try:
            def mid_batch():
                assert worker.poll() is None, stderr_path.read_text()
                return conn.execute(WORKER_IN_BATCH, (APP_NAME,)).fetchone()

            (pid,) = wait_for(mid_batch, 60, "the worker to be inside a micro-batch")
            conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
            wait_for(lambda: conn.execute("SELECT NOT EXISTS (SELECT 1 FROM shiyu.intake_post WHERE status = 'queued')"
                                          ).fetchone()[0], 120, "the reconnected worker to empty the queue", interval=0.1)
            assert worker.poll() is None  # it went on, on a new connection
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=20)
    assert "trying again" in stderr_path.read_text()
    stored = dict(conn.execute("SELECT external_id, status FROM shiyu.incident WHERE source = 'killtest'").fetchall())
    assert stored == queued
    _assert_cubes_are_the_recount(conn)
