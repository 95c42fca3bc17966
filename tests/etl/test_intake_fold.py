"""The intake's micro-batches reach the cubes by a fold after their commit, and a worker killed in between loses
and doubles nothing.

Three micro-batches are applied here on a connection of the test's own, with no fold, as a worker killed right
after them leaves them: 60 reports, then the same 60 closed (their hours to resolution enter the day cube's
arrays), then 30 of them opened again under another category, moved to another grid. Their incidents and answers
are committed and their deltas wait in ``shiyu.cube_delta``; the cubes do not have them yet. Then the real
``shiyu intake`` starts, as a restarted worker does, folds the three at once (versions that one batch added and a
later one replaced cancel before they reach the cubes) and the cubes equal their recount.
"""

import os
import signal
import subprocess
import sys

import pandas as pd

from etl import intake, intake_worker
from geodata import db, feeds
from geodata.feeds import Feed
from tests.etl.test_incident_cubes import _assert_cubes_are_the_recount
from tests.etl.test_incident_week import CUBE_VS_RAW
from tests.etl.test_intake_kill import _rows, _table
from tests.etl.test_kill import wait_for
from tests.helpers import ROOT

N, REOPENED = 60, 30
# Versions that one unfolded micro-batch added and a later one took out again: the fold must cancel them.
ADDED_THEN_REPLACED = """
SELECT count(*) FROM (SELECT 1 FROM shiyu.cube_delta
                      GROUP BY category, status, reported_at, resolved_at, h3_r7, h3_r8, h3_r9, grid_code, path
                      HAVING min(sign) < 0 AND max(sign) > 0) t
"""


def test_micro_batches_left_unfolded_by_a_killed_worker_are_folded_once_by_the_next(database_url, tmp_path, conn):
    from tests.serving import hotline_city

    now = pd.Timestamp(hotline_city(database_url, tmp_path))
    feeds.add_feed("foldtest")
    feed = Feed("foldtest", None)
    reopened = [{**row, "category": "消防", "status": "处置中", "resolved_at": "", "lon": f"{float(row['lon']) + 0.05:.6f}"}
                for row in _rows(0, REOPENED, "结案", now)]
    for rows in (_rows(0, N, "上报", now), _rows(0, N, "结案", now), reopened):
        assert intake.submit(feed, _table(rows), wait_s=0).status == 202

    with db.connect(database_url) as worker:  # the micro-batches, as a worker applies them before it is killed
        worker.autocommit = True
        while intake_worker.apply_next(worker):
            pass
    answers = conn.execute("SELECT status, loaded_count, updated_count FROM shiyu.intake_post "
                           "WHERE feed_name = 'foldtest' ORDER BY id").fetchall()
    assert answers == [("applied", N, 0), ("applied", 0, N), ("applied", 0, REOPENED)]
    assert len(conn.execute(intake_worker.UNFOLDED, {"n": 10}).fetchall()) == 3
    assert conn.execute(ADDED_THEN_REPLACED).fetchone()[0] > 0
    assert conn.execute(CUBE_VS_RAW).fetchone()[0] > 0  # the incidents are in, the cubes wait for the fold
    version = conn.execute("SELECT version FROM shiyu.data_version").fetchone()[0]

    stderr = (tmp_path / "worker.stderr").open("w")
    again = subprocess.Popen([sys.executable, "-m", "shiyu", "intake"], cwd=ROOT, stdout=subprocess.DEVNULL,
                             stderr=stderr, env=os.environ.copy())
    try:
        wait_for(lambda: conn.execute(intake_worker.UNFOLDED, {"n": 1}).fetchone() is None, 60,
                 "the restarted worker to fold what the killed one left", interval=0.1)
    finally:
        again.send_signal(signal.SIGTERM)
        again.wait(timeout=20)
        stderr.close()
    assert conn.execute("SELECT count(*) FROM shiyu.cube_delta").fetchone()[0] == 0
    assert conn.execute("SELECT version FROM shiyu.data_version").fetchone()[0] == version + 3  # one per batch
    _assert_cubes_are_the_recount(conn)
    statuses = dict(conn.execute("SELECT status, count(*) FROM shiyu.incident WHERE source = 'foldtest' "
                                 "GROUP BY status").fetchall())
    assert statuses == {"closed": N - REOPENED, "handling": REOPENED}
