"""The day cube (0010_incident_day.sql) equals what the incidents say, after loads, updates and a rolled-back batch."""

import csv

from etl.load import load_incidents

# Every (day, grid, path, category) both ways, and every (day, grid, path) as category ''; the hours compared
# as sorted arrays.
DAY_VS_RAW = """
SELECT count(*) FROM (
    SELECT (reported_at AT TIME ZONE 'Asia/Shanghai')::date AS day, grid_code, path, coalesce(category, '') AS category,
           count(*)::int AS n, count(*) FILTER (WHERE status IN ('verified', 'closed'))::int AS n_resolved,
           (SELECT array_agg((SELECT count(*) FROM unnest(array_agg(reported_at)) x
                              WHERE extract(hour FROM x AT TIME ZONE 'Asia/Shanghai') < k)::int ORDER BY k)
            FROM generate_series(1, 24) k) AS by_hour_cum,
           coalesce(array_agg((extract(epoch FROM resolved_at - reported_at) / 3600)::float8
                              ORDER BY resolved_at - reported_at) FILTER (WHERE resolved_at IS NOT NULL), '{}') AS hours
    FROM shiyu.incident WHERE grid_code IS NOT NULL
    GROUP BY GROUPING SETS ((1, 2, 3, category), (1, 2, 3))
) raw FULL JOIN (
    SELECT day, grid_code, path, category, n, n_resolved, by_hour_cum,
           (SELECT coalesce(array_agg(h ORDER BY h), '{}') FROM unnest(resolve_hours) h) AS hours
    FROM shiyu.incident_day
) cube USING (day, grid_code, path, category)
WHERE (raw.n, raw.n_resolved, raw.by_hour_cum, raw.hours) IS DISTINCT FROM (cube.n, cube.n_resolved, cube.by_hour_cum, cube.hours)
"""


def _write(path, rows):
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([["id", "category", "reported_at", "lon", "lat", "status", "resolved_at"], *rows])
    return path


def test_day_cube_equals_the_incidents_after_loads_and_updates(sample_db, conn, tmp_path):
    assert conn.execute("SELECT sum(n) FROM shiyu.incident_day WHERE category = ''").fetchone()[0] == conn.execute(
        "SELECT count(*) FROM shiyu.incident WHERE grid_code IS NOT NULL").fetchone()[0] > 0
    assert conn.execute(DAY_VS_RAW).fetchone()[0] == 0
    # Move one incident to another day, category and grid, close another, add a new one in no grid.
    summary = load_incidents(_write(tmp_path / "update.csv", [
        ["S00001", "交通安全", "2026-10-30 23:59:59", "120.19", "30.30", "上报", ""],
        ["S00002", "消防安全", "2026-09-11 02:32:00", "120.126802", "30.272069", "结案", "2026-09-12 08:00:00"],
        ["S99999", "治安", "2026-09-11 02:32:00", "121.5", "31.2", "上报", ""]]), source="sample", max_reject_ratio=1)
    assert summary.updated == 2
    assert conn.execute(DAY_VS_RAW).fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM shiyu.incident_day WHERE n = 0").fetchone()[0] == 0


def test_a_batch_rolled_back_leaves_the_day_cube_as_it_was(sample_db, conn, tmp_path):
    before = conn.execute("SELECT md5(string_agg(d::text, '|' ORDER BY day, grid_code, category)) FROM shiyu.incident_day d").fetchone()
    summary = load_incidents(_write(tmp_path / "dry.csv", [
        ["S00003", "交通安全", "2026-10-01 12:00:00", "120.19", "30.30", "结案", "2026-10-02 12:00:00"],
        ["N00001", "治安", "2026-10-01 12:00:00", "120.19", "30.30", "上报", ""]]), source="sample", dry_run=True)
    assert summary.status == "dry-run"
    after = conn.execute("SELECT md5(string_agg(d::text, '|' ORDER BY day, grid_code, category)) FROM shiyu.incident_day d").fetchone()
    assert after == before
    assert conn.execute(DAY_VS_RAW).fetchone()[0] == 0


def test_a_batch_re_run_unchanged_rewrites_no_row_of_the_day_cube(sample_db, conn, tmp_path):
    from tests.conftest import SAMPLES

    rows = "SELECT xmin::text, category, day, grid_code FROM shiyu.incident_day ORDER BY 2, 3, 4"
    before = conn.execute(rows).fetchall()
    summary = load_incidents(SAMPLES / "sample_incidents.csv", source="sample", reject_file=tmp_path / "r.csv")
    assert summary.unchanged > 0 and (summary.loaded, summary.updated) == (0, 0)
    assert conn.execute(rows).fetchall() == before
