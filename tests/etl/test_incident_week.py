import csv

from etl.load import load_areas, load_incidents
from tests.conftest import SAMPLES
from tests.helpers import write_csv

CUBE_VS_RAW = """
SELECT count(*) FROM (
    SELECT date_trunc('week', reported_at AT TIME ZONE 'Asia/Shanghai')::date AS week, category, h3_r7, h3_r8,
           count(*) AS n, count(*) FILTER (WHERE status NOT IN ('verified', 'closed')) AS n_open
    FROM shiyu.incident GROUP BY 1, 2, 3, 4
) raw FULL JOIN (
    SELECT week, category, h3_r7, h3_r8, sum(n) AS n, sum(n_open) AS n_open FROM shiyu.incident_week GROUP BY 1, 2, 3, 4
) cube USING (week, category, h3_r7, h3_r8)
WHERE raw.n IS DISTINCT FROM cube.n OR raw.n_open IS DISTINCT FROM cube.n_open
"""


CELLS_VS_RAW = """
SELECT count(*) FROM (
    SELECT category, coalesce(path, '') AS path, h3_r7, h3_r8, h3_r9, count(*) AS n,
           count(*) FILTER (WHERE status NOT IN ('verified', 'closed')) AS n_open
    FROM shiyu.incident GROUP BY 1, 2, 3, 4, 5
) raw FULL JOIN (
    SELECT category, path, h3_r7, h3_r8, h3_r9, sum(n) AS n, sum(n_open) AS n_open FROM shiyu.incident_cell GROUP BY 1, 2, 3, 4, 5
) cube USING (category, path, h3_r7, h3_r8, h3_r9)
WHERE raw.n IS DISTINCT FROM cube.n OR raw.n_open IS DISTINCT FROM cube.n_open
"""


def write_move_and_reopen(path):
    """A batch of the sample's that moves S00001 to another week, category and place (another grid) and reopens
    S00002."""
    return write_csv(path, [["S00001", "交通安全", "2026-10-30 09:00:00", "120.19", "30.30", "上报"],
                            ["S00002", "消防安全", "2026-09-11 02:32:00", "120.126802", "30.272069", "处置中"]],
                     header=("id", "category", "reported_at", "lon", "lat", "status"))


def test_weekly_and_all_time_cubes_equal_the_raw_counts_after_loads_and_updates(sample_db, conn, tmp_path):
    assert conn.execute(CUBE_VS_RAW).fetchone()[0] == 0
    assert conn.execute(CELLS_VS_RAW).fetchone()[0] == 0
    assert conn.execute("SELECT sum(n) FROM shiyu.incident_week").fetchone()[0] == 4996
    # Move an incident to another week, category and place (another grid); reopen another: the cubes follow.
    summary = load_incidents(write_move_and_reopen(tmp_path / "update.csv"), source="sample")
    assert (summary.updated, summary.loaded) == (2, 0)
    assert conn.execute(CUBE_VS_RAW).fetchone()[0] == 0 and conn.execute(CELLS_VS_RAW).fetchone()[0] == 0
    assert conn.execute("SELECT sum(n) FROM shiyu.incident_week").fetchone()[0] == 4996
    assert conn.execute("SELECT sum(n) FROM shiyu.incident_cell").fetchone()[0] == 4996
    assert conn.execute("SELECT count(*) FROM shiyu.incident_cell WHERE n = 0").fetchone()[0] == 0


def test_cube_district_is_the_second_label_of_the_path(empty_db, conn, tmp_path):
    city = tmp_path / "city.geojson"
    city.write_text('{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"code":"C"},'
                    '"geometry":{"type":"Polygon","coordinates":[[[120,30],[120.3,30],[120.3,30.3],[120,30.3],[120,30]]]}}]}')
    load_areas(city, tier="city")
    load_areas(SAMPLES / "sample_grids.geojson", tier="district")  # any polygons inside, one tier down
    rows = [["X1", "治安", "2026-05-01 08:00:00", "120.1", "30.25"]]
    path = tmp_path / "one.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([["id", "category", "reported_at", "lon", "lat"], *rows])
    load_incidents(path)
    assert conn.execute("SELECT district FROM shiyu.incident_week").fetchall() == [("",)]  # no grid tier: no path
    assert conn.execute("SELECT district, path::text FROM shiyu.incident_cell").fetchall() == [("", "")]
