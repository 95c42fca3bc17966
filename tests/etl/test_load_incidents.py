import json

import h3
import pandas as pd
import pytest

from etl.load import load_areas, load_incidents
from geodata.errors import BatchRefused
from tests.conftest import SAMPLES
from tests.helpers import shiyu, write_csv

SQUARES = {  # two grids sharing the edge lon = 120.15
    "type": "FeatureCollection",
    "features": [
        {"type": "Feature", "properties": {"code": "G002", "name": "东格"},
         "geometry": {"type": "Polygon", "coordinates": [[[120.15, 30.2], [120.2, 30.2], [120.2, 30.25], [120.15, 30.25], [120.15, 30.2]]]}},
        {"type": "Feature", "properties": {"code": "G001", "name": "西格"},
         "geometry": {"type": "Polygon", "coordinates": [[[120.1, 30.2], [120.15, 30.2], [120.15, 30.25], [120.1, 30.25], [120.1, 30.2]]]}},
    ],
}




@pytest.fixture
def squares(empty_db, tmp_path):
    path = tmp_path / "squares.geojson"
    path.write_text(json.dumps(SQUARES, ensure_ascii=False), encoding="utf-8")
    load_areas(path, tier="grid")
    return path


def test_sample_loads_once_then_is_unchanged(empty_db, conn, tmp_path):
    load_areas(SAMPLES / "sample_grids.geojson", tier="grid")
    first = shiyu("load", "incidents", str(SAMPLES / "sample_incidents.csv"), "--json", "--reject-file", str(tmp_path / "r.csv"))
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout)
    assert {"batch_id", "read", "loaded", "updated", "rejected", "reject_file"} <= summary.keys()
    assert (summary["read"], summary["loaded"], summary["updated"], summary["unchanged"], summary["rejected"]) == (5001, 4996, 0, 0, 5)

    second = json.loads(shiyu("load", "incidents", str(SAMPLES / "sample_incidents.csv"), "--json",
                              "--reject-file", str(tmp_path / "r.csv")).stdout)
    assert (second["loaded"], second["updated"], second["unchanged"], second["rejected"]) == (0, 0, 4996, 5)
    assert second["batch_id"] == summary["batch_id"] + 1
    rows = conn.execute("SELECT count(*), count(DISTINCT batch_id) FROM shiyu.incident").fetchone()
    assert rows == (4996, 1)  # untouched rows keep the batch that wrote them


def test_changed_rows_are_updated_and_counted(squares, conn, tmp_path):
    rows = [["A1", "治安", "2026-05-01 08:00:00", "120.12", "30.21"], ["A2", "消防", "2026-05-01 09:00:00", "120.17", "30.22"]]
    path = write_csv(tmp_path / "feed.csv", rows)
    assert load_incidents(path).loaded == 2
    rows[1][1] = "交通"
    rows.append(["A3", "dispute", "2026-05-02 10:00", "120.13", "30.23"])
    write_csv(path, rows)
    summary = load_incidents(path)
    assert (summary.read, summary.loaded, summary.updated, summary.unchanged, summary.rejected) == (3, 1, 1, 1, 0)
    assert conn.execute("SELECT category FROM shiyu.incident WHERE external_id = 'A2'").fetchone()[0] == "traffic_safety"


def test_every_incident_gets_the_grid_that_contains_it(sample_db, conn):
    wrong = conn.execute("""
        SELECT count(*) FROM shiyu.incident i
        WHERE i.grid_code IS DISTINCT FROM (
            SELECT min(a.code) FROM shiyu.area a WHERE a.tier = 'grid' AND ST_Intersects(a.geom, i.geom))""").fetchone()[0]
    assert wrong == 0
    assert conn.execute("SELECT count(*) FROM shiyu.incident WHERE grid_code IS NULL").fetchone()[0] == 0
    paths = conn.execute("SELECT count(*) FROM shiyu.incident i JOIN shiyu.area a ON a.code = i.grid_code WHERE i.path = a.path").fetchone()[0]
    assert paths == 4996


def test_point_on_a_shared_border_goes_to_exactly_one_grid(squares, conn, tmp_path):
    path = write_csv(tmp_path / "border.csv", [["B1", "治安", "2026-05-01 08:00:00", "120.15", "30.22"],
                                                 ["B2", "治安", "2026-05-01 08:00:00", "120.15", "30.25"],
                                                 ["B3", "治安", "2026-05-01 08:00:00", "120.1501", "30.22"]])
    load_incidents(path)
    got = dict(conn.execute("SELECT external_id, grid_code FROM shiyu.incident ORDER BY 1").fetchall())
    assert got == {"B1": "G001", "B2": "G001", "B3": "G002"}


def test_h3_columns_equal_h3_per_point(sample_db, conn):
    rows = conn.execute("SELECT ST_X(geom), ST_Y(geom), h3_r7, h3_r8, h3_r9, h3_r10 FROM shiyu.incident LIMIT 500").fetchall()
    for lon, lat, *cells in rows:
        assert cells == [h3.str_to_int(h3.latlng_to_cell(lat, lon, r)) for r in (7, 8, 9, 10)]


def test_rejects_are_written_with_line_numbers_and_reasons(empty_db, conn, tmp_path):
    load_areas(SAMPLES / "sample_grids.geojson", tier="grid")
    rejects = tmp_path / "out" / "rejects.csv"
    summary = load_incidents(SAMPLES / "sample_incidents.csv", reject_file=rejects)
    assert summary.reject_file == str(rejects)
    table = pd.read_csv(rejects, dtype=str, encoding="utf-8-sig")
    by_line = dict(zip(table["line"].astype(int), table["reason"]))
    assert sorted(by_line) == [12, 22, 32, 42, 5002]
    assert by_line[12].startswith("coordinates are (0, 0)")
    assert "look swapped" in by_line[22]
    assert by_line[32].startswith("unknown category '外星人入侵'")
    assert by_line[42].startswith("reported_at '2026-13-45 25:00:00' is not a date/time")
    assert by_line[5002] == "duplicate id 'S00051' (first at line 52)"
    stored = dict(conn.execute("SELECT row_number, reason FROM shiyu.rejected_row WHERE batch_id = %s", (summary.batch_id,)).fetchall())
    assert stored == by_line


def test_too_many_rejects_refuse_the_batch_and_write_nothing(squares, conn, tmp_path):
    rows = [[f"R{i}", "治安", "2026-05-01 08:00:00", "120.12", "30.21"] for i in range(8)]
    rows += [["X1", "没有这个类", "2026-05-01 08:00:00", "120.12", "30.21"], ["X2", "治安", "昨天", "120.12", "30.21"]]
    path = write_csv(tmp_path / "dirty.csv", rows)
    before = conn.execute("SELECT count(*) FROM shiyu.load_batch").fetchone()[0]
    result = shiyu("load", "incidents", str(path), "--json")
    assert result.returncode == 1
    summary = json.loads(result.stdout)
    assert (summary["status"], summary["read"], summary["rejected"], summary["batch_id"]) == ("refused", 10, 2, None)
    assert summary["reject_file"] == str(tmp_path / "dirty.rejects.csv")
    assert len(pd.read_csv(summary["reject_file"], encoding="utf-8-sig")) == 2
    assert conn.execute("SELECT count(*) FROM shiyu.incident").fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM shiyu.load_batch").fetchone()[0] == before

    allowed = load_incidents(path, max_reject_ratio=0.25)
    assert (allowed.loaded, allowed.rejected) == (8, 2)
    with pytest.raises(BatchRefused):
        load_incidents(path, max_reject_ratio=0.1)


def test_missing_file_is_a_usage_error(database_url, tmp_path):
    result = shiyu("load", "incidents", str(tmp_path / "nope.csv"))
    assert result.returncode == 2
    assert result.stderr == f"shiyu: {tmp_path / 'nope.csv'}: no such file\n"


def test_csv_without_coordinates_is_refused_with_the_columns_it_has(empty_db, tmp_path):
    path = write_csv(tmp_path / "nocoords.csv", [["1", "治安", "2026-05-01 08:00:00", "西湖区"]],
                      header=("id", "category", "reported_at", "address"))
    result = shiyu("load", "incidents", str(path))
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "no column for lon, lat" in result.stderr
    assert "columns: id, category, reported_at, address" in result.stderr
    assert "--field lon=COLUMN lat=COLUMN" in result.stderr


def test_field_option_maps_chinese_headers(squares, conn, tmp_path):
    path = write_csv(tmp_path / "cn.csv", [["C1", "治安", "2026-05-01 08:00:00", "120.12", "30.21"]],
                      header=("编号", "类别", "时间", "东经度", "北纬度"))
    result = shiyu("load", "incidents", str(path), "--field", "lon=东经度", "--field", "lat=北纬度")
    assert result.returncode == 0, result.stderr
    assert "lon <- 东经度" in result.stdout and "id <- 编号" in result.stdout
    assert conn.execute("SELECT grid_code FROM shiyu.incident WHERE external_id = 'C1'").fetchone()[0] == "G001"


def test_geojson_that_does_not_parse_is_refused(empty_db, tmp_path):
    path = tmp_path / "broken.geojson"
    path.write_text('{"type": "FeatureCollection", "features": [ {"type": ', encoding="utf-8")
    result = shiyu("load", "areas", str(path), "--tier", "grid")
    assert result.returncode == 1
    assert result.stderr.startswith(f"shiyu: {path}: not a readable vector file")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_bad_field_option_is_a_usage_error(database_url, tmp_path):
    result = shiyu("load", "incidents", str(SAMPLES / "sample_incidents.csv"), "--field", "lonlat")
    assert result.returncode == 2
    assert "--field takes canonical=column" in result.stderr
