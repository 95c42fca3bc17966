from datetime import date, timedelta

import h3
import numpy as np
import pytest

from etl.load import load_incidents
from etl.sample import HOTSPOTS
from geodata.errors import InputError
from geodata.scope import Scope
from layers.base import Filters
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


def test_fine_resolutions_are_refused_with_a_reason(sample_db):
    with pytest.raises(InputError, match="r7 and r8, not r9"):
        build(Filters(bbox=SAMPLE_BOX, res=9, zoom=14), Scope.everything())
