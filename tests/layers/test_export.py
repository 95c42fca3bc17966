"""Exports opened by GDAL's own command-line tools: layer names, feature counts, field types, CRS, metadata."""

import csv
import io
import json
import zipfile
from datetime import datetime, timedelta

import numpy as np
import pytest

from etl.load import load_incidents
from geodata.crs import wgs84_to_gcj02
from geodata.errors import InputError
from geodata.scope import Scope
from layers.base import BEIJING, Filters
from layers.export import export, shapefile_fields
from layers.registry import LAYERS, build
from tests.helpers import write_csv
from tests.layers.ogr import ogrinfo

EVERYTHING = Scope.everything()
FILTERS = Filters(res=8)
REPORTER, PHONE = "举报人甲乙", "13912345678"
HOTSPOT_FIELDS = {"h3": {"String"}, "count": {"Integer", "Integer64"}, "z": {"Real"}, "p": {"Real"},
                  "p_fdr": {"Real"}, "class": {"String"}, "grid_code": {"String"}}


@pytest.fixture(scope="module")
def city_with_pii(city, tmp_path_factory):
    """The layer tests' city plus three incidents whose reporter left a name and a phone."""
    _, _, now = city
    rows = [[f"P{i}", "dispute", f"{now - timedelta(hours=i + 2):%Y-%m-%d %H:%M:%S}", "120.05", f"30.0{i + 5}",
             REPORTER, PHONE] for i in range(3)]
    path = write_csv(tmp_path_factory.mktemp("pii") / "pii.csv", rows,
                     header=("id", "category", "reported_at", "lon", "lat", "reporter_name", "reporter_phone"))
    assert load_incidents(path, source="pii").loaded == 3
    return city


def expected(layer, filters=FILTERS):
    """The map's own features for the whole city, as the export builds them."""
    zoom = 14 if layer == "hexes" else 18
    return build(layer, Filters(**{**filters.__dict__, "zoom": zoom}), EVERYTHING).features


def saved(file, tmp_path):
    path = tmp_path / file.name
    path.write_bytes(file.data)
    return path


def test_a_geopackage_holds_every_layer_with_its_count_types_crs_metadata_and_style(city_with_pii, tmp_path, conn):
    file = export(["hotspots", "areas,coverage"], FILTERS, EVERYTHING, "gpkg")

    layers = ogrinfo(str(saved(file, tmp_path)))
    assert set(layers) == {"hotspots", "areas", "coverage", "layer_styles"}
    for name in ("hotspots", "areas", "coverage"):
        assert layers[name].count == len(expected(name)) == file.counts[name] > 0
        assert layers[name].epsg == 4326
        assert json.loads(layers[name].metadata["shiyu_filters"])["res"] == 8
        assert layers[name].metadata["shiyu_created"].startswith(f"{datetime.now(BEIJING):%Y-%m-%d}")
    # Every analysed cell, not only the significant ones.
    classes = {f["properties"]["class"] for f in expected("hotspots")}
    assert "ns" in classes and len(classes) > 1
    assert {k: layers["hotspots"].fields[k] for k in HOTSPOT_FIELDS} == {
        "h3": "String", "count": "Integer64", "z": "Real", "p": "Real", "p_fdr": "Real", "class": "String",
        "grid_code": "String"}
    assert layers["coverage"].fields["below"] == "Integer(Boolean)"
    assert "tooltip" not in layers["areas"].fields
    assert layers["layer_styles"].count == 3  # hotspots, areas, coverage: all polygons, each drawn by one property
    audit = conn.execute("SELECT action, detail, remote_addr FROM shiyu.audit_log WHERE id = %s", (file.audit_id,)).fetchone()
    assert audit[0] == "export" and audit[1]["layers"] == file.counts and audit[1]["format"] == "gpkg"


def test_a_geojson_in_epsg_4549_is_read_back_in_metres_with_its_filters(city_with_pii, tmp_path):
    since, until = datetime(2000, 1, 1), datetime(2100, 1, 1)
    filters = Filters(res=8, since=since, until=until, categories=("dispute", "fire_safety"))

    file = export(["hexes"], filters, EVERYTHING, "geojson", "EPSG:4549")

    path = saved(file, tmp_path)
    assert path.suffix == ".geojson"
    layer = ogrinfo(str(path))["hexes"]
    assert layer.epsg == 4549 and layer.count == len(expected("hexes", filters)) > 0
    assert layer.fields == {"h3": "String", "count": "Integer", "grid_code": "String"}
    description = json.loads(layer.metadata["DESCRIPTION"])
    assert description["filters"]["categories"] == ["dispute", "fire_safety"]
    assert description["crs"] == "EPSG:4549"
    x, y = json.loads(path.read_text(encoding="utf-8"))["features"][0]["geometry"]["coordinates"][0][0]
    assert 440_000 < x < 540_000 and 3_300_000 < y < 3_400_000  # metres east and north, 120° E 30° N


def test_gcj02_coordinates_are_shifted_by_the_published_offset_and_say_so(city_with_pii, tmp_path):
    plain = json.loads(export(["hotspots"], FILTERS, EVERYTHING, "geojson").data)
    file = export(["hotspots"], FILTERS, EVERYTHING, "geojson", "gcj02")
    shifted = json.loads(file.data)

    ring = np.array(plain["features"][0]["geometry"]["coordinates"][0])
    ring_gcj = np.array(shifted["features"][0]["geometry"]["coordinates"][0])
    lon, lat = wgs84_to_gcj02(ring[:, 0], ring[:, 1])
    assert np.allclose(ring_gcj[:, 0], lon, atol=1e-7) and np.allclose(ring_gcj[:, 1], lat, atol=1e-7)
    offset_m = np.hypot((ring_gcj[:, 0] - ring[:, 0]) * 96_000, (ring_gcj[:, 1] - ring[:, 1]) * 111_000)
    assert (offset_m > 300).all() and (offset_m < 800).all()  # about half a kilometre around 120° E 30° N
    description = json.loads(shifted["description"])
    assert description["crs"] == "GCJ-02" and "GCJ-02" in description["coordinates"]
    assert ogrinfo(str(saved(file, tmp_path)))["hotspots"].epsg == 4326  # labelled WGS-84: GCJ-02 has no code


def test_a_zipped_shapefile_has_its_sidecars_and_short_field_names_with_their_mapping(city_with_pii, tmp_path):
    file = export(["coverage", "hotspots"], FILTERS, EVERYTHING, "shp", "cgcs2000")

    path = saved(file, tmp_path)
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        mapping = list(csv.DictReader(io.StringIO(archive.read("fields.csv").decode("utf-8"))))
        meta = json.loads(archive.read("metadata.json"))
        assert archive.read("coverage.cpg").decode() == "UTF-8"
    assert {f"{layer}.{ext}" for layer in ("coverage", "hotspots") for ext in ("shp", "shx", "dbf", "prj", "cpg")} <= names
    short = {(m["file"], m["field"]): m["shapefile_field"] for m in mapping}
    assert short[("coverage.shp", "hours_since_visit")] == "hours_sinc"
    assert short[("coverage.shp", "visited_cells")] == "visited_ce"
    assert meta["layers"] == file.counts and meta["filters"]["res"] == 8
    layers = ogrinfo(f"/vsizip/{path}")
    assert set(layers) == {"coverage", "hotspots"}
    for name, layer in layers.items():
        assert layer.count == len(expected(name)) and layer.epsg == 4490
        assert all(len(f) <= 10 for f in layer.fields)
        assert set(layer.fields) == {m["shapefile_field"] for m in mapping if m["file"] == f"{name}.shp"}
    assert layers["coverage"].fields["hours_sinc"] == "Real" and layers["hotspots"].fields["count"] == "Integer64"


@pytest.mark.parametrize("geometry, geometry_field", [("wkt", "WKT"), ("lonlat", None)])
def test_a_zipped_csv_reads_back_typed_with_its_crs(city_with_pii, tmp_path, geometry, geometry_field):
    file = export(["hotspots"], FILTERS, EVERYTHING, "csv", "wgs84", geometry)

    path = saved(file, tmp_path)
    with zipfile.ZipFile(path) as archive:
        assert {"hotspots.csv", "hotspots.csvt", "hotspots.prj", "metadata.json"} <= set(archive.namelist())
        header = archive.read("hotspots.csv").decode("utf-8-sig").splitlines()[0].split(",")
    layer = ogrinfo(f"/vsizip/{path}/hotspots.csv")["hotspots"]
    assert layer.count == len(expected("hotspots")) and layer.epsg == 4326
    assert {k: layer.fields[k] for k in ("count", "z", "class")} == {"count": "Integer64", "z": "Real", "class": "String"}
    if geometry == "wkt":
        assert header[0] == "WKT" and layer.geometry == "Unknown (any)"
    else:
        assert header[:2] == ["X", "Y"] and layer.geometry == "Point"


def test_no_export_carries_a_reporter_name_or_phone(city_with_pii, conn, tmp_path):
    assert conn.execute("SELECT count(*) FROM shiyu.incident WHERE pii::text LIKE %s", (f"%{PHONE}%",)).fetchone()[0] == 3
    files = [export(sorted(LAYERS), FILTERS, EVERYTHING, fmt) for fmt in ("gpkg", "csv", "shp")]
    files += [export([layer], FILTERS, EVERYTHING, "geojson") for layer in sorted(LAYERS)]
    for file in files:
        data = file.data
        if data[:2] == b"PK":
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                data = b"".join(archive.read(name) for name in archive.namelist())
        assert PHONE.encode() not in data and REPORTER.encode() not in data, file.name
    for layer in ogrinfo(str(saved(files[0], tmp_path))).values():
        assert not {f for f in layer.fields if any(word in f.lower() for word in ("pii", "reporter", "phone"))}


def test_every_export_is_audited_with_who_from_where_and_what(city_with_pii, conn):
    file = export(["warnings"], FILTERS, EVERYTHING, "geojson", user_name="planner", remote_addr="10.0.0.7", via="web")

    row = conn.execute("SELECT user_name, action, detail, remote_addr FROM shiyu.audit_log WHERE id = %s",
                       (file.audit_id,)).fetchone()
    assert row[0] == "planner" and row[1] == "export" and row[3] == "10.0.0.7"
    assert row[2]["via"] == "web" and row[2]["file"] == file.name and row[2]["bytes"] == len(file.data)
    assert row[2]["filters"]["res"] == 8


def test_bad_requests_are_refused_before_anything_is_written(city_with_pii, conn):
    before = conn.execute("SELECT count(*) FROM shiyu.audit_log").fetchone()[0]
    for kwargs, message in (({"layers": ["heat"]}, "unknown layer heat"), ({"fmt": "kml"}, "unknown format 'kml'"),
                            ({"crs": "bd09"}, "BD-09"), ({"crs": "EPSG:999999"}, "Unknown coordinate system")):
        with pytest.raises(InputError, match=message):
            export(**{"layers": ["hexes"], "filters": FILTERS, "scope": EVERYTHING, **kwargs})
    assert conn.execute("SELECT count(*) FROM shiyu.audit_log").fetchone()[0] == before


def test_shapefile_field_names_are_cut_predictably_and_never_collide():
    assert shapefile_fields(["h3", "resolved_share", "resolved_shares", "RESOLVED_S"]) == {
        "h3": "h3", "resolved_share": "resolved_s", "resolved_shares": "resolved_1", "RESOLVED_S": "RESOLVED_2"}


@pytest.mark.parametrize("fmt", ["gpkg", "geojson", "shp", "csv"])
def test_a_layer_with_nothing_in_the_window_is_still_a_layer_gdal_opens(city_with_pii, tmp_path, fmt):
    empty = Filters(res=8, since=datetime(2099, 1, 1), until=datetime(2099, 2, 1))

    file = export(["hexes"], empty, EVERYTHING, fmt)

    path = saved(file, tmp_path)
    target = f"/vsizip/{path}/hexes.csv" if fmt == "csv" else f"/vsizip/{path}" if fmt == "shp" else str(path)
    assert file.counts == {"hexes": 0}
    assert ogrinfo(target)["hexes"].count == 0
