from etl.load import load_incidents
from geodata.rollups import week_cells_recounted
from tests.etl.test_incident_week import write_move_and_reopen

# The rows of an r7 cube (0018 weekly, 0019 daily and all-time) that differ from their recount from the incidents.
R7_VS_RAW = """
SELECT count(*) FROM (
    SELECT {bucket}CASE WHEN nlevel(path) >= 2 THEN subpath(path, 1, 1)::text ELSE '' END AS district, h3_r7,
           count(*) AS n, count(*) FILTER (WHERE status NOT IN ('verified', 'closed')) AS n_open
    FROM shiyu.incident GROUP BY {key}district, h3_r7
) raw FULL JOIN shiyu.incident_{table}_r7 cube USING ({key}district, h3_r7)
WHERE raw.n IS DISTINCT FROM cube.n OR raw.n_open IS DISTINCT FROM cube.n_open
"""
WEEK_R7_VS_RAW = R7_VS_RAW.format(table="week", key="week, ",
                                  bucket="date_trunc('week', reported_at AT TIME ZONE 'Asia/Shanghai')::date AS week, ")
DAY_R7_VS_RAW = R7_VS_RAW.format(table="day", key="day, ", bucket="(reported_at AT TIME ZONE 'Asia/Shanghai')::date AS day, ")
CELL_R7_VS_RAW = R7_VS_RAW.format(table="cell", key="", bucket="")


def test_the_weekly_cell_and_r7_cubes_equal_a_recount_after_loads_moves_and_reopens(sample_db, conn, tmp_path):
    cube, recount = week_cells_recounted(conn)
    assert cube == recount and sum(row[-2] for row in cube) == 4996
    assert conn.execute(WEEK_R7_VS_RAW).fetchone()[0] == 0
    assert conn.execute(DAY_R7_VS_RAW).fetchone()[0] == 0
    assert conn.execute(CELL_R7_VS_RAW).fetchone()[0] == 0
    assert conn.execute("SELECT sum(n) FROM shiyu.incident_day_r7").fetchone()[0] == 4996
    assert conn.execute("SELECT sum(n) FROM shiyu.incident_cell_r7").fetchone()[0] == 4996
    # Move an incident to another week, category and place (another grid); reopen another: the cube follows.
    path = write_move_and_reopen(tmp_path / "update.csv")
    assert load_incidents(path, source="sample").updated == 2
    cube, recount = week_cells_recounted(conn)
    assert cube == recount and sum(row[-2] for row in cube) == 4996
    assert conn.execute("SELECT count(*) FROM shiyu.incident_week_cell WHERE n = 0").fetchone()[0] == 0
    assert conn.execute(WEEK_R7_VS_RAW).fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM shiyu.incident_week_r7 WHERE n = 0").fetchone()[0] == 0
    assert conn.execute(DAY_R7_VS_RAW).fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM shiyu.incident_day_r7 WHERE n = 0").fetchone()[0] == 0
    assert conn.execute(CELL_R7_VS_RAW).fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM shiyu.incident_cell_r7 WHERE n = 0").fetchone()[0] == 0
    # The same file again changes nothing.
    assert load_incidents(path, source="sample").updated == 0
    assert week_cells_recounted(conn)[0] == recount
