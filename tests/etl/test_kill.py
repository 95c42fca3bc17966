"""A loader killed in the middle of its COPY leaves the database as if it had never run.

The loader runs as the real ``shiyu`` command in a subprocess, tagged with its
own ``application_name`` (libpq reads ``PGAPPNAME``), so the test can find its
backend in ``pg_stat_activity`` and kill the process while that backend is in
the batch's COPY. Every wait is bounded.
"""

import csv
import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest
from shapely.geometry import box

from etl.load import load_areas, load_incidents
from tests.etl.test_incident_day import DAY_VS_RAW
from tests.helpers import ROOT, shiyu

BIG_ROWS = 300_000
APP_NAME = "shiyu-kill-test"
CATEGORIES = ("治安", "消防", "邻里纠纷", "交通事故", "城管")

LOADER_IN_COPY = """
SELECT pid, state, left(query, 60) FROM pg_stat_activity
WHERE application_name = %s AND state = 'active' AND query LIKE 'COPY%%'
"""
INCIDENT_INDEXES = "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'shiyu' AND tablename = 'incident' ORDER BY 1"


def write_incidents(path, n, prefix, seed):
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(("id", "category", "reported_at", "lon", "lat"))
        for i in range(n):
            writer.writerow((f"{prefix}{i:06d}", CATEGORIES[i % len(CATEGORIES)],
                             f"2024-05-{1 + i % 28:02d} {i % 24:02d}:{i % 60:02d}:00",
                             f"{rng.uniform(120.101, 120.199):.6f}", f"{rng.uniform(30.201, 30.249):.6f}"))
    return path


def wait_for(check, timeout, what, interval=0.005):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


def kill_when(process, ready, timeout, what):
    """Wait (bounded) until ``ready()`` returns something, then kill -9 ``process``; returns what ``ready`` returned.
    The process does not outlive the call, whatever fails."""
    try:
        found = wait_for(ready, timeout, what)
        process.send_signal(signal.SIGKILL)
        assert process.wait(timeout=10) == -signal.SIGKILL
        return found
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def count_by_source(conn, source):
    return conn.execute("SELECT count(*) FROM shiyu.incident WHERE source = %s", (source,)).fetchone()[0]


@pytest.fixture
def city(empty_db, tmp_path):
    path = tmp_path / "grid.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": "G001", "name": "城区网格"},
         "geometry": box(120.1, 30.2, 120.2, 30.25).__geo_interface__}]}, ensure_ascii=False), encoding="utf-8")
    assert load_areas(path, tier="grid").loaded == 1
    return empty_db


def test_loader_killed_mid_copy_leaves_earlier_batch_and_nothing_of_its_own(city, conn, tmp_path):
    first = load_incidents(write_incidents(tmp_path / "small.csv", 20, "S", seed=1))
    assert (first.read, first.loaded, first.rejected) == (20, 20, 0)
    big = write_incidents(tmp_path / "big.csv", BIG_ROWS, "B", seed=2)
    indexes = conn.execute(INCIDENT_INDEXES).fetchall()

    with (tmp_path / "killed.stderr").open("w") as stderr:
        loader = subprocess.Popen([sys.executable, "-m", "shiyu", "load", "incidents", str(big)], cwd=ROOT,
                                  env={**os.environ, "PGAPPNAME": APP_NAME}, stdout=subprocess.DEVNULL, stderr=stderr)

        def in_copy():
            assert loader.poll() is None, f"the loader ended before its COPY: {(tmp_path / 'killed.stderr').read_text()}"
            return conn.execute(LOADER_IN_COPY, (APP_NAME,)).fetchone()

        pid, state, query = kill_when(loader, in_copy, 30, "the loader's backend to be in COPY")
    assert query.startswith('COPY "stage_raw"') and state == "active"

    wait_for(lambda: conn.execute("SELECT NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = %s)", (pid,)).fetchone()[0],
             15, f"backend {pid} of the killed loader to go away")
    assert conn.execute("SELECT count(*) FROM pg_locks WHERE pid = %s", (pid,)).fetchone()[0] == 0
    with conn.transaction():  # nothing left holds a lock on the tables the batch wrote
        conn.execute("SET LOCAL lock_timeout = '2s'")
        conn.execute("LOCK TABLE shiyu.incident, shiyu.load_batch, shiyu.rejected_row IN ACCESS EXCLUSIVE MODE")

    assert count_by_source(conn, "small") == 20
    assert count_by_source(conn, "big") == 0
    assert conn.execute("SELECT count(*) FROM shiyu.load_batch WHERE source = 'big'").fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM shiyu.incident").fetchone()[0] == 20
    assert conn.execute(INCIDENT_INDEXES).fetchall() == indexes
    assert conn.execute(DAY_VS_RAW).fetchone()[0] == 0  # the day cube holds the first batch and nothing else

    again = shiyu("load", "incidents", str(big), "--json", timeout=60)

    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stdout)
    assert (summary["read"], summary["loaded"], summary["updated"], summary["unchanged"], summary["rejected"]) == (
        BIG_ROWS, BIG_ROWS, 0, 0, 0)
    assert count_by_source(conn, "big") == BIG_ROWS
    assert count_by_source(conn, "small") == 20
    assert conn.execute("SELECT count(*) FROM shiyu.incident WHERE source = 'big' AND grid_code = 'G001'").fetchone()[0] == BIG_ROWS
    assert conn.execute("SELECT loaded_count FROM shiyu.load_batch WHERE source = 'big'").fetchall() == [(BIG_ROWS,)]
    assert conn.execute(INCIDENT_INDEXES).fetchall() == indexes  # the bulk path rebuilt every index it dropped
    assert conn.execute(DAY_VS_RAW).fetchone()[0] == 0
    assert conn.execute("SELECT sum(n) FROM shiyu.incident_day WHERE category = ''").fetchone()[0] == BIG_ROWS + 20


def test_a_killed_loader_waiting_on_a_lock_lets_go_of_its_batch_at_once(city, conn, database_url, tmp_path):
    """A loader killed while its backend waits (here on a lock this test holds; in life a long index build or
    upsert) does not leave its backend working on: the server notices the dead client within a second
    (geodata/batchconn.py, client_connection_check_interval), rolls the batch back and lets go of its locks.
    Without it, the backend would wait as long as this test holds its lock."""
    import psycopg

    path = write_incidents(tmp_path / "waiting.csv", 50, "W", seed=3)
    with psycopg.connect(database_url) as holder:
        holder.execute("LOCK TABLE shiyu.incident IN ACCESS EXCLUSIVE MODE")  # held until this block ends
        loader = subprocess.Popen([sys.executable, "-m", "shiyu", "load", "incidents", str(path)], cwd=ROOT,
                                  env={**os.environ, "PGAPPNAME": APP_NAME}, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        (pid,) = kill_when(loader, lambda: conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s AND wait_event_type = 'Lock'",
            (APP_NAME,)).fetchone(), 60, "the loader's backend to wait on the lock")
        wait_for(lambda: conn.execute("SELECT NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = %s)",
                                      (pid,)).fetchone()[0], 15, f"backend {pid} of the killed loader to go away")
    assert count_by_source(conn, "waiting") == 0
    assert conn.execute("SELECT count(*) FROM shiyu.load_batch WHERE source = 'waiting'").fetchone()[0] == 0


def test_a_loader_that_must_wait_says_for_what_and_goes_on(city, conn, database_url, tmp_path):
    """A load that waits on another transaction's lock says, within seconds, which table it waits on and which
    process holds it (its application, since when, what it runs), then that the wait is over, and loads."""
    import psycopg

    path = write_incidents(tmp_path / "waits.csv", 50, "Q", seed=4)
    stderr_path = tmp_path / "waits.stderr"
    with psycopg.connect(database_url, application_name="a long report") as holder, stderr_path.open("w") as stderr:
        holder.execute("LOCK TABLE shiyu.incident IN SHARE MODE")  # as a long reader's export might; held until commit
        holder_pid = holder.info.backend_pid
        loader = subprocess.Popen([sys.executable, "-m", "shiyu", "load", "incidents", str(path)], cwd=ROOT,
                                  env={**os.environ, "PGAPPNAME": APP_NAME}, stdout=subprocess.DEVNULL, stderr=stderr)
        try:
            said = wait_for(lambda: "waiting for a lock" in stderr_path.read_text() and stderr_path.read_text(), 60,
                            "the loader to say it waits", interval=0.1)
            assert loader.poll() is None
            assert count_by_source(conn, "waits") == 0
            holder.commit()
            assert loader.wait(timeout=60) == 0, stderr_path.read_text()
        finally:
            if loader.poll() is None:
                loader.kill()
                loader.wait(timeout=10)
    assert f"waiting for a lock on shiyu.incident held by process {holder_pid} (a long report" in said
    assert "LOCK TABLE shiyu.incident IN SHARE MODE" not in said  # an idle holder: its state, not its last statement
    assert "idle in transaction" in said
    assert f"the wait for process {holder_pid} is over after" in stderr_path.read_text()
    assert count_by_source(conn, "waits") == 50
