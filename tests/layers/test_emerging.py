from datetime import date, datetime, time, timedelta

import h3
import numpy as np
import pytest

from etl.load import load_incidents
from etl.sample import HOTSPOTS
from geodata.taxonomy import STATUSES
from geodata.scope import Scope
from layers.base import Filters
from layers.base import BEIJING
from layers.emerging import build
from tests.helpers import write_csv

SAMPLE_BOX = (120.08, 30.22, 120.20, 30.31)
NEW_PLACE = (120.188, 30.303)  # far from the sample's planted hotspots


@pytest.fixture
def with_a_new_cluster(sample_db, conn, tmp_path):
    """300 incidents in the last two analysed weeks at a quiet place."""
    newest = conn.execute("SELECT max(week) FROM shiyu.incident_week").fetchone()[0]
    start = newest - timedelta(days=14)
    rng = np.random.default_rng(5)
    rows = [[f"N{i}", "治安", f"{start + timedelta(days=int(d))} {int(h):02d}:00:00",
             f"{NEW_PLACE[0] + dx:.6f}", f"{NEW_PLACE[1] + dy:.6f}"]
            for i, (d, h, dx, dy) in enumerate(zip(rng.integers(0, 14, 300), rng.integers(8, 22, 300),
                                                   rng.normal(0, 0.0015, 300), rng.normal(0, 0.0015, 300)))]
    load_incidents(write_csv(tmp_path / "new.csv", rows), source="new")
    return newest


def test_a_cluster_of_the_last_weeks_is_new_or_consecutive_and_the_stable_one_persists(with_a_new_cluster):
    result = build(Filters(bbox=SAMPLE_BOX, res=8, zoom=13), Scope.everything())
    by_cell = {f["properties"]["h3"]: f["properties"]["class"] for f in result.features}
    assert by_cell[h3.latlng_to_cell(NEW_PLACE[1], NEW_PLACE[0], 8)] in ("new hot spot", "consecutive hot spot")
    stable = by_cell[h3.latlng_to_cell(HOTSPOTS[0][1], HOTSPOTS[0][0], 8)]
    assert stable in ("persistent hot spot", "intensifying hot spot", "diminishing hot spot")
    assert result.summary["weeks"] == 12


def test_counts_per_week_equal_the_raw_incidents_of_those_weeks(with_a_new_cluster, conn):
    newest = with_a_new_cluster
    result = build(Filters(bbox=SAMPLE_BOX, res=8, zoom=13), Scope.everything(), weeks=4)
    first = date.fromisoformat(result.summary["first_week"])
    assert first == newest - timedelta(weeks=4)
    raw = conn.execute("""SELECT count(*) FROM shiyu.incident WHERE reported_at >= %s::timestamp AT TIME ZONE 'Asia/Shanghai'
                          AND reported_at < %s::timestamp AT TIME ZONE 'Asia/Shanghai'""", (first, newest)).fetchone()[0]
    assert result.summary["incidents"] == raw


def test_what_the_cube_cannot_answer_is_counted_from_the_incidents_alike(with_a_new_cluster, conn):
    newest = with_a_new_cluster
    until = datetime.combine(newest, time(0), BEIJING)
    from_cube = build(Filters(bbox=SAMPLE_BOX, res=8, zoom=13, until=until), Scope.everything(), weeks=6)
    every_status = Filters(bbox=SAMPLE_BOX, res=8, zoom=13, until=until, statuses=tuple(STATUSES))
    from_incidents = build(every_status, Scope.everything(), weeks=6)  # statuses are not in the cube
    assert [f["properties"] for f in from_cube.features] == [f["properties"] for f in from_incidents.features]
    fine = build(Filters(bbox=SAMPLE_BOX, res=9, zoom=14, until=until), Scope.everything(), weeks=6)
    assert fine.summary["incidents"] == from_cube.summary["incidents"] > 300
    assert fine.summary["first_week"] == str(newest - timedelta(weeks=6))


def test_the_bins_end_before_the_week_the_window_ends_in(sample_db):
    from layers.emerging import week_bins

    friday = datetime(2026, 11, 20, 15, 0, tzinfo=BEIJING)
    monday = datetime(2026, 11, 16, 0, 0, tzinfo=BEIJING)
    assert week_bins(Filters(until=friday), 3) == [date(2026, 10, 26), date(2026, 11, 2), date(2026, 11, 9)]
    assert week_bins(Filters(until=monday), 3) == week_bins(Filters(until=friday), 3)


def test_r9_and_r7_read_their_weekly_cubes_and_answer_as_the_incidents_do(with_a_new_cluster):
    from layers import emerging
    from layers.cube import cube_for

    until = datetime.combine(with_a_new_cluster, time(0), BEIJING)
    city = Scope.everything()
    cases = ((9, ("public_order", "dispute"), "incident_week_cell"), (8, ("public_order",), "incident_week"),
             (7, (), "incident_week_r7"))
    for res, categories, table in cases:
        window = Filters(bbox=SAMPLE_BOX, res=res, since=until - timedelta(weeks=6), until=until, categories=categories)
        assert cube_for(window, city).table == table
        cubed = Filters(bbox=SAMPLE_BOX, res=res, zoom=14, until=until, categories=categories)
        raw = Filters(bbox=SAMPLE_BOX, res=res, zoom=14, until=until, categories=categories, statuses=tuple(STATUSES))
        a, b = emerging.build(cubed, city, weeks=6), emerging.build(raw, city, weeks=6)
        assert [f["properties"] for f in a.features] == [f["properties"] for f in b.features], res
        assert a.summary["incidents"] > 300


def test_each_cell_carries_its_own_total_last_z_and_class(with_a_new_cluster, conn):
    from layers.stats import emerging_from_counts, hex_neighbours

    result = build(Filters(bbox=SAMPLE_BOX, res=8, zoom=13), Scope.everything(), weeks=5)
    first = date.fromisoformat(result.summary["first_week"])
    weeks = [first + timedelta(weeks=k) for k in range(5)]
    cells = np.array([h3.str_to_int(f["properties"]["h3"]) for f in result.features], dtype=np.int64)
    counts = np.zeros((len(cells), len(weeks)))
    position = {int(c): i for i, c in enumerate(cells)}
    for cell, week, n in conn.execute("""
            SELECT h3_r8, date_trunc('week', reported_at AT TIME ZONE 'Asia/Shanghai')::date, count(*) FROM shiyu.incident
            WHERE h3_r8 = ANY(%s) AND reported_at >= %s::timestamp AT TIME ZONE 'Asia/Shanghai'
              AND reported_at < %s::timestamp AT TIME ZONE 'Asia/Shanghai' GROUP BY 1, 2""",
                                      (cells.tolist(), first, first + timedelta(weeks=5))).fetchall():
        counts[position[cell], weeks.index(week)] = n
    expected = emerging_from_counts(counts, hex_neighbours(cells, 1))
    got = [f["properties"] for f in result.features]
    assert [p["count"] for p in got] == counts.sum(axis=1).astype(int).tolist() and counts.sum() > 300
    assert [p["class"] for p in got] == expected.categories.tolist()
    assert np.allclose([p["z_last"] for p in got], expected.z[:, -1], atol=1e-4)
    assert all(type(p["count"]) is int and type(p["class"]) is str and type(p["z_last"]) is float for p in got)
