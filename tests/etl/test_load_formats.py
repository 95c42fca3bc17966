"""Loading every input format a city hands over, and every coordinate system it uses.

Each test writes its own small file in ``tmp_path`` and checks what landed in
the real PostGIS. Distances are geodesic metres on the WGS-84 ellipsoid.
"""

import json
import zipfile
from datetime import datetime, timezone

import geopandas as gpd
import openpyxl
import pyproj
import pytest
from shapely.geometry import Point, box

from etl.load import load_areas, load_incidents
from tests.helpers import shiyu, write_csv

GEOD = pyproj.Geod(ellps="WGS84")
UTC = timezone.utc

CITY = (120.1, 30.2, 120.2, 30.25)  # lon_min, lat_min, lon_max, lat_max of the grid every point falls in

# (wgs84 lon, lat), (gcj02 lon, lat): published pairs, as cited in tests/geodata/test_crs.py.
GCJ02_CONTROL_POINTS = [
    # googollee/eviltransform python/test.py, TESTS: Shanghai, Shenzhen, Beijing.
    ((121.5272106, 31.1774276), (121.531541859215, 31.17530398364597)),
    ((113.912316, 22.543847), (113.9171764808363, 22.540796131694766)),
    ((116.377817, 39.911954), (116.38404722455657, 39.91334545536069)),
    # wandergis/coordtransform test/app.js, "wgs84togcj02".
    ((116.404, 39.915), (116.41024449916938, 39.91640428150164)),
    # Glatzel/pyxis python/tests/test_crypto.py, wgs84 -> gcj02.
    ((121.0917077, 30.6107779), (121.09626935575027, 30.608604331756705)),
    # madlogos/asesgeo tests/testthat/test_tranform_coord.R, out1_ "# api": what the
    # Amap web service itself returned, not a re-implementation.
    ((116.39089, 39.90734), (116.39713623, 39.90874539)),
]

# (wgs84 lon, lat), (bd09 lon, lat)
BD09_CONTROL_POINTS = [
    # Glatzel/pyxis python/tests/test_crypto.py: one point through all three systems.
    ((121.0917077, 30.6107779), (121.10271732371203, 30.61484572185035)),
    # madlogos/asesgeo tests/testthat/test_tranform_coord.R: "wgs 2 gcj" out1 then "gcj 2 bd" out1
    # (the second starts from the first's result rounded to six decimals).
    ((116.39089, 39.90734), (116.40350426, 39.91508839)),
]

CHINESE_HEADERS = ("事件编号", "事件类型", "上报时间", "经度", "纬度", "状态")
CHINESE_ROWS = [
    ("HZ-0001", "治安", "2024-05-01 08:00:00", "120.12", "30.21", "已结案"),
    ("HZ-0002", "火灾隐患", "2024/5/2 9:30", "120.17", "30.22", "处置中"),
    ("HZ-0003", "邻里纠纷", "2024-05-03 10:00", "120.13", "30.23", "上报"),
]


def metres(a, b):
    return GEOD.inv(a[0], a[1], b[0], b[1])[2]




def load_grid_square(tmp_path, bounds, code="G001", name="城区网格"):
    path = tmp_path / f"{code}.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": code, "name": name},
         "geometry": box(*bounds).__geo_interface__}]}, ensure_ascii=False), encoding="utf-8")
    summary = load_areas(path, tier="grid")
    assert (summary.read, summary.loaded, summary.rejected) == (1, 1, 0)
    return path


@pytest.fixture
def city(empty_db, tmp_path):
    load_grid_square(tmp_path, CITY)
    return empty_db


def stored(conn, source):
    return {r[0]: r[1:] for r in conn.execute(
        "SELECT external_id, category, status, reported_at, grid_code FROM shiyu.incident WHERE source = %s",
        (source,)).fetchall()}


@pytest.mark.parametrize(("option", "codec"), [((), "gb18030"), (("--encoding", "gbk"), "gbk")],
                         ids=["auto", "gbk"])
def test_gbk_csv_with_chinese_headers_loads_as_taxonomy_codes(city, conn, tmp_path, option, codec):
    path = write_csv(tmp_path / "事件.csv", CHINESE_ROWS, CHINESE_HEADERS, encoding="gbk")
    assert "治安".encode("gbk") in path.read_bytes()  # really GBK, not UTF-8

    result = shiyu("load", "incidents", str(path), *option)

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "columns: id <- 事件编号, category <- 事件类型, reported_at <- 上报时间, lon <- 经度, lat <- 纬度, status <- 状态"
    assert lines[1].startswith("loaded: read 3, loaded 3, updated 0, unchanged 0, rejected 0 (batch ")
    assert stored(conn, "事件") == {
        "HZ-0001": ("public_order", "closed", datetime(2024, 5, 1, 0, 0, tzinfo=UTC), "G001"),
        "HZ-0002": ("fire_safety", "handling", datetime(2024, 5, 2, 1, 30, tzinfo=UTC), "G001"),
        "HZ-0003": ("dispute", "reported", datetime(2024, 5, 3, 2, 0, tzinfo=UTC), "G001"),
    }
    assert conn.execute("SELECT options->>'encoding' FROM shiyu.load_batch WHERE kind = 'incidents'").fetchone()[0] == codec


def _workbook(path):
    book = openpyxl.Workbook()
    first = book.active
    first.title = "五月"
    first.append(["编号", "类别", "上报时间", "经度", "纬度"])
    first.append([1001, "治安", datetime(2024, 5, 1, 8, 0, 0), 120.12, 30.21])
    first.append([1002, "消防", datetime(2024, 5, 1, 23, 59, 59), 120.17, 30.22])
    second = book.create_sheet("六月")
    second.append(["编号", "类别", "上报时间", "经度", "纬度"])
    second.append([2001, "交通", datetime(2024, 6, 1, 8, 30, 0), 120.13, 30.23])
    book.save(path)
    return path


def test_xlsx_first_sheet_loads_datetime_cells_and_integer_ids(city, conn, tmp_path):
    path = _workbook(tmp_path / "book.xlsx")
    summary = load_incidents(path, source="xlsx")
    assert (summary.read, summary.loaded, summary.updated, summary.unchanged, summary.rejected) == (2, 2, 0, 0, 0)
    assert summary.mapping == {"id": "编号", "category": "类别", "reported_at": "上报时间", "lon": "经度", "lat": "纬度"}
    assert stored(conn, "xlsx") == {
        "1001": ("public_order", "reported", datetime(2024, 5, 1, 0, 0, 0, tzinfo=UTC), "G001"),
        "1002": ("fire_safety", "reported", datetime(2024, 5, 1, 15, 59, 59, tzinfo=UTC), "G001"),
    }


def test_xlsx_sheet_named_on_the_command_line_is_the_one_loaded(city, conn, tmp_path):
    path = _workbook(tmp_path / "book.xlsx")
    result = shiyu("load", "incidents", str(path), "--sheet", "六月", "--source", "june", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["read"], summary["loaded"], summary["rejected"]) == (1, 1, 0)
    assert stored(conn, "june") == {"2001": ("traffic_safety", "reported", datetime(2024, 6, 1, 0, 30, tzinfo=UTC), "G001")}
    assert conn.execute("SELECT options->>'sheet' FROM shiyu.load_batch WHERE source = 'june'").fetchone()[0] == "六月"


def test_xlsx_rejects_are_numbered_by_worksheet_row(city, conn, tmp_path):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["编号", "类别", "上报时间", "经度", "纬度"])
    sheet.append([1, "治安", datetime(2024, 5, 1, 8, 0), 120.12, 30.21])
    sheet.append([])  # a blank row still counts in the sheet's numbering
    sheet.append([2, "治安", "昨天", 120.12, 30.21])
    sheet.append([3, "治安", 45413.5, 120.13, 30.22])  # an Excel serial typed as a plain number
    path = tmp_path / "rows.xlsx"
    book.save(path)

    summary = load_incidents(path, max_reject_ratio=0.5)

    assert (summary.read, summary.loaded, summary.rejected) == (3, 2, 1)
    assert summary.reject_file == str(tmp_path / "rows.rejects.csv")
    lines = (tmp_path / "rows.rejects.csv").read_text(encoding="utf-8-sig").splitlines()
    assert lines[0].startswith("row,reason,")
    assert lines[1].startswith("4,reported_at '昨天' is not a date/time")
    assert dict(conn.execute("SELECT external_id, reported_at FROM shiyu.incident").fetchall()) == {
        "1": datetime(2024, 5, 1, 0, 0, tzinfo=UTC), "3": datetime(2024, 5, 1, 4, 0, tzinfo=UTC)}


def test_zipped_shapefile_with_gbk_cpg_loads_areas_with_chinese_names(empty_db, conn, tmp_path):
    grids = gpd.GeoDataFrame(
        {"code": ["W1", "W2"], "name": ["第1网格", "第2网格"], "owner": ["王伟", "李娜"]},
        geometry=[box(120.10, 30.20, 120.15, 30.25), box(120.15, 30.20, 120.20, 30.25)], crs=4326)
    grids.to_file(tmp_path / "网格.shp", encoding="GBK")
    assert (tmp_path / "网格.cpg").read_text() == "GBK"
    assert "第1网格".encode("gbk") in (tmp_path / "网格.dbf").read_bytes()
    archive = tmp_path / "grids.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for suffix in (".shp", ".shx", ".dbf", ".prj", ".cpg"):
            zf.write(tmp_path / f"网格{suffix}", f"网格{suffix}")

    result = shiyu("load", "areas", str(archive), "--tier", "grid", "--json")

    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["read"], summary["loaded"], summary["rejected"]) == (2, 2, 0)
    rows = conn.execute("SELECT code, name, owner_name, tier, path::text FROM shiyu.area ORDER BY code").fetchall()
    assert rows == [("W1", "第1网格", "王伟", "grid", "W1"), ("W2", "第2网格", "李娜", "grid", "W2")]
    assert conn.execute("SELECT options->>'encoding' FROM shiyu.load_batch").fetchone()[0] == "gbk"


def test_geopackage_in_cgcs2000_gauss_kruger_is_read_in_its_own_crs(city, conn, tmp_path):
    wgs84 = [(120.1234567, 30.2123456), (120.1876543, 30.2456789), (120.15, 30.225)]
    points = gpd.GeoDataFrame(
        {"id": ["GK1", "GK2", "GK3"], "category": ["治安", "城管", "食品安全"],
         "reported_at": ["2024-05-01 08:00:00"] * 3},
        geometry=gpd.points_from_xy(*zip(*wgs84)), crs=4326).to_crs(4549)
    assert 500_000 < points.geometry.x.min() < 520_000  # metres east of the 120°E meridian's false easting
    path = tmp_path / "events.gpkg"
    points.to_file(path, layer="events", driver="GPKG")

    summary = load_incidents(path, source="gk")

    assert (summary.read, summary.loaded, summary.rejected) == (3, 3, 0)
    got = {r[0]: (r[1], r[2]) for r in conn.execute(
        "SELECT external_id, ST_X(geom), ST_Y(geom) FROM shiyu.incident WHERE source = 'gk'").fetchall()}
    for external_id, original in zip(["GK1", "GK2", "GK3"], wgs84):
        assert metres(got[external_id], original) < 0.01
    categories = dict(conn.execute("SELECT external_id, category FROM shiyu.incident WHERE source = 'gk'").fetchall())
    assert categories == {"GK1": "public_order", "GK2": "city_management", "GK3": "food_drug_safety"}


@pytest.mark.parametrize("bad, reason", [
    ("LINESTRING (120.1 30.2, 120.12 30.21)", "WKT is a LineString, expected a point"),
    ("POINT (120.12", "WKT 'POINT (120.12' is not readable"),
    ("", "WKT is empty"),
])
def test_wkt_column_gives_the_points_and_bad_wkt_is_rejected(city, conn, tmp_path, bad, reason):
    rows = [[f"W{i}", "治安", "2024-05-01 08:00:00", f"POINT (120.1{i} 30.21)"] for i in range(1, 10)]
    rows.append(["BAD", "治安", "2024-05-01 08:00:00", bad])
    path = write_csv(tmp_path / "wkt.csv", rows, ("id", "category", "reported_at", "wkt"))

    summary = load_incidents(path)

    assert (summary.read, summary.loaded, summary.rejected) == (10, 9, 1)
    assert conn.execute("SELECT ST_X(geom), ST_Y(geom) FROM shiyu.incident WHERE external_id = 'W2'").fetchone() == (120.12, 30.21)
    assert conn.execute("SELECT row_number, reason FROM shiyu.rejected_row").fetchall() == [(11, reason)]


def test_geopackage_feature_without_geometry_is_rejected(city, conn, tmp_path):
    points = [Point(120.11 + i * 0.005, 30.21) for i in range(9)] + [None]
    frame = gpd.GeoDataFrame({"id": [f"F{i}" for i in range(10)], "category": ["治安"] * 10,
                              "reported_at": ["2024-05-01 08:00:00"] * 10}, geometry=points, crs=4326)
    path = tmp_path / "events.gpkg"
    frame.to_file(path, layer="events", driver="GPKG")

    summary = load_incidents(path)

    assert (summary.read, summary.loaded, summary.rejected) == (10, 9, 1)
    assert conn.execute("SELECT row_number, reason FROM shiyu.rejected_row").fetchall() == [(10, "feature has no geometry")]


@pytest.fixture
def eastern_china(empty_db, tmp_path):
    """One big grid square around every control point, so the city-extent check lets them in."""
    load_grid_square(tmp_path, (113.5, 22.0, 122.0, 40.5), code="BIG")
    return empty_db


@pytest.mark.parametrize(("crs", "pairs"), [("gcj02", GCJ02_CONTROL_POINTS), ("bd09", BD09_CONTROL_POINTS)])
def test_chinese_obfuscated_coordinates_land_within_a_metre_of_published_wgs84(eastern_china, conn, tmp_path, crs, pairs):
    rows = [[f"P{i}", "治安", "2024-05-01 08:00:00", repr(shifted[0]), repr(shifted[1])]
            for i, (_, shifted) in enumerate(pairs)]
    path = write_csv(tmp_path / f"{crs}.csv", rows, ("id", "category", "reported_at", "lon", "lat"))

    result = shiyu("load", "incidents", str(path), "--crs", crs, "--json")

    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["read"], summary["loaded"], summary["rejected"]) == (len(pairs), len(pairs), 0)
    got = {r[0]: (r[1], r[2]) for r in conn.execute(
        "SELECT external_id, ST_X(geom), ST_Y(geom) FROM shiyu.incident WHERE source = %s", (crs,)).fetchall()}
    for i, (wgs84, _) in enumerate(pairs):
        assert metres(got[f"P{i}"], wgs84) < 1.0, f"P{i}"
    assert conn.execute("SELECT options->>'crs' FROM shiyu.load_batch WHERE source = %s", (crs,)).fetchone()[0] == crs
