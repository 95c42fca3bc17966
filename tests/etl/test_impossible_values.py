"""Values that cannot be true are refused with a reason; a batch says when it really ended; a file of no rows is no batch."""

import json

import pandas as pd

from etl.load import load_facilities, load_incidents
from tests.etl.test_kill import city  # noqa: F401 (a fixture: one grid over the test's points)
from tests.helpers import ROOT, shiyu, write_csv

HEADER = ("id", "category", "reported_at", "resolved_at", "lon", "lat")


def test_an_incident_resolved_before_it_was_reported_is_rejected(city, conn, tmp_path):  # noqa: F811
    rows = [[f"A{i}", "治安", "2024-05-01 08:00:00", "2024-05-02 09:00:00", "120.15", "30.22"] for i in range(20)]
    rows[7][3] = "2024-04-30 08:00:00"
    summary = load_incidents(write_csv(tmp_path / "feed.csv", rows, header=HEADER))

    assert (summary.loaded, summary.rejected) == (19, 1)
    reasons = pd.read_csv(summary.reject_file, dtype=str, encoding="utf-8-sig")
    assert reasons["line"].tolist() == ["9"]
    assert reasons["reason"][0] == ("resolved_at '2024-04-30 08:00:00' is before reported_at '2024-05-01 08:00:00': "
                                    "an incident is resolved after it is reported; check both times")
    assert conn.execute("SELECT min(resolved_at - reported_at) FROM shiyu.incident").fetchone()[0].days == 1


def test_a_facility_of_infinite_radius_is_rejected(city, conn, tmp_path):  # noqa: F811
    rows = [["F1", "police_station", "一所", "120.15", "30.22", "inf"], ["F2", "police_station", "二所", "120.16", "30.22", "800"]]
    summary = load_facilities(write_csv(tmp_path / "sites.csv", rows, header=("id", "type", "name", "lon", "lat", "service_radius_m")),
                              max_reject_ratio=0.5)

    assert (summary.loaded, summary.rejected) == (1, 1)
    assert conn.execute("SELECT external_id, service_radius_m FROM shiyu.facility").fetchall() == [("F2", 800.0)]


def test_a_batch_finishes_after_it_started(city, conn, tmp_path):  # noqa: F811
    rows = [[f"A{i}", "治安", "2024-05-01 08:00:00", "", "120.15", "30.22"] for i in range(50)]
    load_incidents(write_csv(tmp_path / "feed.csv", rows, header=HEADER))

    started, finished = conn.execute("SELECT started_at, finished_at FROM shiyu.load_batch WHERE kind = 'incidents'").fetchone()
    assert finished > started


def test_a_file_of_no_rows_is_not_a_batch(city, conn, tmp_path):  # noqa: F811
    before = conn.execute("SELECT count(*), max(finished_at) FROM shiyu.load_batch").fetchone()
    done = shiyu("load", "incidents", str(write_csv(tmp_path / "empty.csv", [], header=HEADER)))

    assert done.returncode == 0, done.stderr
    assert "empty: read 0" in done.stdout
    assert "note: the file holds no rows: nothing was loaded and no batch recorded" in done.stdout
    assert conn.execute("SELECT count(*), max(finished_at) FROM shiyu.load_batch").fetchone() == before
    as_json = json.loads(shiyu("load", "incidents", str(tmp_path / "empty.csv"), "--json").stdout)
    assert (as_json["status"], as_json["batch_id"], as_json["read"]) == ("empty", None, 0)


def test_the_sample_generator_answers_help_without_writing(tmp_path):
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "etl.sample", "--help"], capture_output=True, text=True, cwd=tmp_path,
                          env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})

    assert done.returncode == 0
    assert "usage: python -m etl.sample [-h]" in done.stdout
    assert list(tmp_path.iterdir()) == []


def test_times_in_the_future_stay_rejected(city, conn, tmp_path):  # noqa: F811
    from etl.load import load_patrols

    rows = [[f"A{i}", "治安", "2024-05-01 08:00:00", "", "120.15", "30.22"] for i in range(20)]
    rows[3][3] = "2099-01-01 00:00:00"
    rows[4][2] = "2099-01-01 00:00:00"
    summary = load_incidents(write_csv(tmp_path / "feed.csv", rows, header=HEADER))
    pings = [["U1", f"2024-05-01 08:{i:02d}:00", "120.15", "30.22"] for i in range(20)] + [["U1", "2099-01-01 00:00:00", "120.15", "30.22"]]
    patrols = load_patrols(write_csv(tmp_path / "pings.csv", pings, header=("unit_id", "ts", "lon", "lat")))

    assert (summary.loaded, summary.rejected, patrols.loaded, patrols.rejected) == (18, 2, 20, 1)
    reasons = pd.read_csv(summary.reject_file, dtype=str, encoding="utf-8-sig")["reason"].tolist()
    assert reasons == ["resolved_at 2099-01-01 is in the future", "reported_at 2099-01-01 is in the future"]
