import csv

from etl.load import load_incidents
from geodata.rollups import week_cells_recounted


def test_the_weekly_cell_cube_equals_a_recount_after_loads_moves_and_reopens(sample_db, conn, tmp_path):
    cube, recount = week_cells_recounted(conn)
    assert cube == recount and sum(row[-2] for row in cube) == 4996
    # Move an incident to another week, category and place (another grid); reopen another: the cube follows.
    path = tmp_path / "update.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([["id", "category", "reported_at", "lon", "lat", "status"],
                                  ["S00001", "交通安全", "2026-10-30 09:00:00", "120.19", "30.30", "上报"],
                                  ["S00002", "消防安全", "2026-09-11 02:32:00", "120.126802", "30.272069", "处置中"]])
    assert load_incidents(path, source="sample").updated == 2
    cube, recount = week_cells_recounted(conn)
    assert cube == recount and sum(row[-2] for row in cube) == 4996
    assert conn.execute("SELECT count(*) FROM shiyu.incident_week_cell WHERE n = 0").fetchone()[0] == 0
    # The same file again changes nothing.
    assert load_incidents(path, source="sample").updated == 0
    assert week_cells_recounted(conn)[0] == recount
