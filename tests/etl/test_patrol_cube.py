import json
from collections import Counter
from datetime import datetime, timedelta, timezone

import h3
import pytest

from etl.load import load_areas, load_patrols
from tests.helpers import write_csv

HEADER = ("unit_id", "ts", "lon", "lat")
BEIJING = timezone(timedelta(hours=8))

SQUARE = {"type": "FeatureCollection", "features": [
    {"type": "Feature", "properties": {"code": "G1", "name": "第1网格"},
     "geometry": {"type": "Polygon", "coordinates": [[[120.1, 30.2], [120.2, 30.2], [120.2, 30.3], [120.1, 30.3], [120.1, 30.2]]]}}]}

CUBE_VS_PINGS = """
SELECT count(*) FROM (
    SELECT (ts AT TIME ZONE 'Asia/Shanghai')::date AS day, h3_r10, count(*) AS pings, max(ts) AS last_ts
    FROM shiyu.patrol_ping GROUP BY 1, 2
) raw FULL JOIN shiyu.patrol_cell_day cube USING (day, h3_r10)
WHERE raw.pings IS DISTINCT FROM cube.pings OR raw.last_ts IS DISTINCT FROM cube.last_ts
"""


@pytest.fixture
def square(empty_db, tmp_path):
    path = tmp_path / "square.geojson"
    path.write_text(json.dumps(SQUARE, ensure_ascii=False), encoding="utf-8")
    load_areas(path, tier="grid")


def _expected(rows) -> dict:
    """(Beijing day, r10 cell) -> (pings, last ts) from the rows themselves; a later row of a unit and time wins."""
    latest = {(unit, ts): (lon, lat) for unit, ts, lon, lat in rows}
    pings, last = Counter(), {}
    for (unit, ts), (lon, lat) in latest.items():
        moment = datetime.strptime(ts, "%Y-%m-%d %H:%M:%S").replace(tzinfo=BEIJING)  # files are in Beijing time
        key = (moment.date(), h3.str_to_int(h3.latlng_to_cell(float(lat), float(lon), 10)))
        pings[key] += 1
        last[key] = max(last.get(key, moment), moment)
    return {key: (n, last[key]) for key, n in pings.items()}


def _cube(conn) -> dict:
    return {(day, cell): (n, ts) for day, cell, n, ts in conn.execute(
        "SELECT day, h3_r10, pings, last_ts FROM shiyu.patrol_cell_day")}


def test_cube_counts_pings_per_beijing_day_and_cell_through_reloads_and_overlapping_batches(square, conn, tmp_path):
    first = [
        ["U1", "2026-10-05 07:00:00", "120.15", "30.25"],   # 23:00 UTC the day before: a Beijing day is not a UTC day
        ["U1", "2026-10-05 07:00:30", "120.1501", "30.2501"],
        ["U2", "2026-10-05 23:59:30", "120.15", "30.25"],
        ["U2", "2026-10-06 00:00:00", "120.12", "30.22"],
    ]
    load_patrols(write_csv(tmp_path / "first.csv", first, header=HEADER))
    assert _cube(conn) == _expected(first)
    assert conn.execute(CUBE_VS_PINGS).fetchone()[0] == 0

    again = load_patrols(write_csv(tmp_path / "first.csv", first, header=HEADER))
    assert (again.loaded, again.updated) == (0, 0)
    assert _cube(conn) == _expected(first)

    # Overlaps the first batch's last day: one ping moves to another cell, one is new, one starts a new day.
    second = [
        ["U2", "2026-10-06 00:00:00", "120.18", "30.28"],
        ["U3", "2026-10-06 09:00:00", "120.12", "30.22"],
        ["U3", "2026-10-07 09:00:00", "120.13", "30.23"],
    ]
    summary = load_patrols(write_csv(tmp_path / "second.csv", second, header=HEADER))
    assert (summary.loaded, summary.updated) == (2, 1)
    assert _cube(conn) == _expected(first + second)
    assert conn.execute(CUBE_VS_PINGS).fetchone()[0] == 0
    assert conn.execute("SELECT sum(pings) FROM shiyu.patrol_cell_day").fetchone()[0] == 6


def test_a_dry_run_leaves_the_cube_as_it_was(square, conn, tmp_path):
    rows = [["U1", "2026-10-05 08:00:00", "120.15", "30.25"]]
    load_patrols(write_csv(tmp_path / "one.csv", rows, header=HEADER))
    load_patrols(write_csv(tmp_path / "more.csv", [["U9", "2026-10-05 09:00:00", "120.16", "30.26"]], header=HEADER),
                 dry_run=True)
    assert _cube(conn) == _expected(rows)
