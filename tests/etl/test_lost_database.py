"""A load whose database goes away says so, writes nothing and leaves no reject file of the batch that never was."""

import os
import subprocess
import sys

from etl.load import load_incidents
from tests.etl.test_incident_day import DAY_VS_RAW
from tests.etl.test_kill import city, count_by_source, wait_for, write_incidents  # noqa: F401 (city: a fixture)
from tests.helpers import ROOT

ROWS = 200_000
APP_NAME = "shiyu-lost-test"
LOADER_PAST_REJECTS = """
SELECT pid FROM pg_stat_activity
WHERE application_name = %s AND state = 'active' AND query LIKE '%%stage_points%%'
"""


def test_a_load_whose_backend_is_terminated_says_the_database_went_away(city, conn, tmp_path):  # noqa: F811
    load_incidents(write_incidents(tmp_path / "small.csv", 20, "S", seed=1))
    big = write_incidents(tmp_path / "big.csv", ROWS, "B", seed=2)
    with big.open("a", encoding="utf-8") as fh:
        fh.write("B-bad,治安,not a time,120.15,30.22\n")  # one reject, so a reject file would be written
    loader = subprocess.Popen([sys.executable, "-m", "shiyu", "load", "incidents", str(big)], cwd=ROOT,
                              env={**os.environ, "PGAPPNAME": APP_NAME}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    try:
        def past_rejects():
            assert loader.poll() is None, f"the loader ended first: {loader.stderr.read()}"
            return conn.execute(LOADER_PAST_REJECTS, (APP_NAME,)).fetchone()

        pid, = wait_for(past_rejects, 60, "the loader to stage its points", interval=0.002)
        conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
        out, err = loader.communicate(timeout=60)
    finally:
        if loader.poll() is None:
            loader.kill()
            loader.wait(timeout=10)

    assert loader.returncode == 1
    assert err.strip() == ("shiyu: the database shut down during the load; nothing was written; "
                           "run the load again when the database is back")
    assert not (tmp_path / "big.rejects.csv").exists()
    assert list(tmp_path.glob("big.rejects*")) == []
    assert count_by_source(conn, "big") == 0
    assert conn.execute("SELECT count(*) FROM shiyu.load_batch WHERE source = 'big'").fetchone()[0] == 0
    assert conn.execute(DAY_VS_RAW).fetchone()[0] == 0


def test_a_reject_file_that_is_not_a_file_is_written_to_not_replaced(city, tmp_path):  # noqa: F811
    import stat

    path = write_incidents(tmp_path / "feed.csv", 30, "D", seed=3)
    with path.open("a", encoding="utf-8") as fh:
        fh.write("D-bad,治安,not a time,120.15,30.22\n")

    summary = load_incidents(path, reject_file=os.devnull)

    assert (summary.loaded, summary.rejected, summary.reject_file) == (30, 1, os.devnull)
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)
