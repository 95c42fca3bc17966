"""Vector tiles of the incidents and the grids, decoded with mapbox-vector-tile and checked against counts taken
in SQL over the tile's box computed here, in Python, from the tile's address (not from PostGIS's envelope)."""

from __future__ import annotations

import dataclasses
import math
from datetime import date, timedelta
from urllib.parse import parse_qs

import h3
import mapbox_vector_tile
import pytest
import shapely

from geodata import db
from geodata.errors import InputError, NotFound
from geodata.scope import Scope
from layers import tile_cells, tiles
from layers.base import BEIJING, Filters, beijing_midnight, day_window

C1 = Scope("C.C1")
EVERYTHING = Scope.everything()
INCIDENT_PROPERTIES = {"id", "category", "severity", "status", "reported_at", "grid_code"}


def lonlat_box(z: int, x: int, y: int, buffer: float = tiles.BUFFER / tiles.EXTENT) -> tuple[float, ...]:
    """(west, south, east, north) in degrees of tile z/x/y widened by ``buffer`` tiles on each side."""
    n = 2**z
    lon = lambda tx: tx / n * 360 - 180  # noqa: E731
    lat = lambda ty: math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * ty / n))))  # noqa: E731
    return lon(x - buffer), lat(y + 1 + buffer), lon(x + 1 + buffer), lat(y - buffer)


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int, int]:
    n = 2**z
    return z, int((lon + 180) / 360 * n), int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)


def decode(body: bytes, layer: str) -> list[dict]:
    return mapbox_vector_tile.decode(body)[layer]["features"] if body else []


def ids_in(conn, box, where: str = "TRUE", params: tuple = ()) -> set[str]:
    rows = conn.execute("SELECT source || ':' || external_id FROM shiyu.incident "
                        f"WHERE ST_Intersects(geom, ST_MakeEnvelope(%s, %s, %s, %s, 4326)) AND {where}", (*box, *params))
    return {r[0] for r in rows}


# Tiles over the five-tier city (120.0–120.4 E, 30.0–30.4 N): one holding it all, one a part, one a corner.
TILES = [tile_of(120.2, 30.2, 8), tile_of(120.1, 30.1, 12), tile_of(120.05, 30.35, 14)]


@pytest.mark.parametrize("z, x, y", TILES)
def test_an_incident_tile_holds_exactly_the_incidents_in_its_box(city, conn, z, x, y):
    west, south, east, north = lonlat_box(*TILES[0], buffer=0)
    assert west < 120.0 and south < 30.0 and east > 120.4 and north > 30.4  # the first tile holds the whole city
    features = decode(tiles.tile("incidents", str(z), str(x), str(y), {}, EVERYTHING), "incidents")
    expected = ids_in(conn, lonlat_box(z, x, y))
    assert expected, "each tile of the test should meet some incidents"
    assert sorted(f["properties"]["id"] for f in features) == sorted(expected)
    assert all(set(f["properties"]) == INCIDENT_PROPERTIES for f in features)
    assert {f["geometry"]["type"] for f in features} == {"Point"}


def test_an_incident_tile_carries_the_values_of_its_rows_and_no_personal_data(city, conn):
    z, x, y = TILES[1]
    features = {f["properties"]["id"]: f["properties"] for f in decode(tiles.tile("incidents", str(z), str(x), str(y), {}, EVERYTHING), "incidents")}
    rows = conn.execute("SELECT source || ':' || external_id, category, severity, status, reported_at, grid_code "
                        "FROM shiyu.incident WHERE source || ':' || external_id = ANY(%s)", (list(features)[:50],)).fetchall()
    for key, category, severity, status, reported_at, grid_code in rows:
        got = features[key]
        assert (got["category"], got["severity"], got["status"], got["grid_code"]) == (category, severity, status, grid_code)
        assert got["reported_at"] == reported_at.astimezone(BEIJING).strftime("%Y-%m-%dT%H:%M:%S+08:00")
    body = tiles.tile("incidents", str(z), str(x), str(y), {}, EVERYTHING)
    assert b"reporter" not in body and b"pii" not in body


def test_the_map_filters_narrow_an_incident_tile_as_they_narrow_the_map(city, conn):
    _, _, now = city
    z, x, y = TILES[0]
    day = (now - timedelta(days=10)).astimezone(BEIJING).date()
    args = {"datetime": [f"{day}/{now.astimezone(BEIJING).date()}"], "category": ["dispute,fire_safety"],
            "severity": ["3,4"], "status": ["reported,handling"]}
    features = decode(tiles.tile("incidents", str(z), str(x), str(y), args, EVERYTHING), "incidents")
    since = beijing_midnight(day)
    expected = ids_in(conn, lonlat_box(z, x, y),
                      "reported_at >= %s AND category = ANY(%s) AND severity = ANY(%s) AND status = ANY(%s)",
                      (since, ["dispute", "fire_safety"], [3, 4], ["reported", "handling"]))
    assert 0 < len(expected) < 3000 / 4
    assert {f["properties"]["id"] for f in features} == expected


def test_a_tile_past_its_cap_holds_every_cells_whole_count_instead_of_a_subset(city, conn, monkeypatch):
    monkeypatch.setitem(tiles.LAYERS, "incidents", dataclasses.replace(tiles.LAYERS["incidents"], cap=50))
    z, x, y = tile_of(120.1, 30.1, 11)  # a tile of about 20 km holding part of the city, at r8
    body = tiles.tile("incidents", str(z), str(x), str(y), {"category": ["dispute,fire_safety"]}, EVERYTHING)
    assert "incidents" not in mapbox_vector_tile.decode(body)
    cells = decode(body, tile_cells.LAYER)
    assert tile_cells.res_of_zoom(z) == 8 and {f["geometry"]["type"] for f in cells} == {"Polygon"}
    got = {f["properties"]["h3"]: f["properties"]["count"] for f in cells}
    # Each cell meeting the tile, counted whole (its incidents beyond the tile's edge too), recounted here.
    rows = conn.execute("SELECT h3_r8, count(*) FROM shiyu.incident WHERE category = ANY(%s) GROUP BY 1",
                        (["dispute", "fire_safety"],)).fetchall()
    meeting = {h3.int_to_str(cell): n for cell, n in rows
               if shapely.Polygon([(lng, lat) for lat, lng in h3.cell_to_boundary(h3.int_to_str(cell))])
               .intersects(shapely.box(*lonlat_box(z, x, y)))}  # the tile and its buffer
    assert len(got) > 10 and got == meeting
    assert sum(got.values()) > 50  # more than a capped tile of points could have shown


def test_a_tile_within_its_cap_still_holds_its_points(city, conn):
    z, x, y = TILES[2]
    body = tiles.tile("incidents", str(z), str(x), str(y), {}, EVERYTHING)
    assert set(mapbox_vector_tile.decode(body)) == {"incidents"}


def test_tilejson_gives_the_tiles_url_with_the_filters_the_scopes_bounds_and_every_layers_fields(city, conn):
    doc = tiles.tilejson("incidents", "http://example.test", {"category": ["dispute"]}, C1)
    assert doc["tilejson"] == "3.0.0" and doc["minzoom"] == 0 and doc["maxzoom"] == tiles.MAX_ZOOM
    assert doc["tiles"] == ["http://example.test/tiles/incidents/{z}/{x}/{y}.pbf?category=dispute"]
    extent = conn.execute("SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Extent(geom) e "
                          "FROM shiyu.area WHERE path <@ 'C.C1') x").fetchone()
    assert doc["bounds"] == pytest.approx(list(extent), abs=1e-6)
    layers = {layer["id"]: layer["fields"] for layer in doc["vector_layers"]}
    assert set(layers["incidents"]) == INCIDENT_PROPERTIES and set(layers[tile_cells.LAYER]) == {"h3", "count"}
    z, x, y = TILES[1]
    properties = decode(tiles.tile("incidents", str(z), str(x), str(y), {}, EVERYTHING), "incidents")[0]["properties"]
    assert set(properties) == set(layers["incidents"])
    grids = tiles.tilejson("grids", "http://example.test", {}, EVERYTHING)
    assert [layer["id"] for layer in grids["vector_layers"]] == ["grids"]
    assert set(decode(tiles.tile("grids", str(z), str(x), str(y), {}, EVERYTHING), "grids")[0]["properties"]) \
        == set(grids["vector_layers"][0]["fields"])


def test_a_grid_tile_outlines_the_grids_it_meets_with_their_code_name_and_owner(city, conn):
    z, x, y = TILES[1]
    features = decode(tiles.tile("grids", str(z), str(x), str(y), {}, EVERYTHING), "grids")
    box = lonlat_box(z, x, y)
    expected = conn.execute("SELECT code, name, owner_name FROM shiyu.area WHERE tier = 'grid' AND "
                            "ST_Intersects(geom, ST_MakeEnvelope(%s, %s, %s, %s, 4326))", box).fetchall()
    assert 0 < len(expected) < 16
    assert sorted((f["properties"]["code"], f["properties"]["name"], f["properties"]["owner"]) for f in features) == sorted(expected)
    assert {f["geometry"]["type"] for f in features} <= {"Polygon", "MultiPolygon"}
    whole = decode(tiles.tile("grids", *map(str, TILES[0]), {}, EVERYTHING), "grids")
    assert len(whole) == 16


def test_a_tile_with_nothing_in_it_is_empty_bytes(city):
    assert tiles.tile("incidents", "12", "0", "0", {}, EVERYTHING) == b""
    assert tiles.tile("grids", "12", "0", "0", {}, EVERYTHING) == b""


@pytest.mark.parametrize("layer", list(tiles.LAYERS))
def test_under_a_district_scope_a_tile_holds_only_that_district_even_when_handed_everything(city, conn, layer):
    z, x, y = TILES[0]
    expected = decode(tiles.tile(layer, str(z), str(x), str(y), {}, C1), layer)
    with db.scoped(C1):
        got = decode(tiles.tile(layer, str(z), str(x), str(y), {}, EVERYTHING), layer)
    db.close_pool()
    key = "grid_code" if layer == "incidents" else "code"
    codes = {f["properties"][key] for f in got}
    assert codes and all(code.startswith("C1") for code in codes)
    assert sorted(f["properties"][key] for f in got) == sorted(f["properties"][key] for f in expected)
    if layer == "incidents":
        assert len(got) == conn.execute("SELECT count(*) FROM shiyu.incident WHERE path <@ 'C.C1'").fetchone()[0]


def test_an_area_narrows_a_tile_and_one_outside_the_scope_is_refused(city, conn):
    z, x, y = TILES[0]
    features = decode(tiles.tile("incidents", str(z), str(x), str(y), {"area": ["C2"]}, EVERYTHING), "incidents")
    assert len(features) == conn.execute("SELECT count(*) FROM shiyu.incident WHERE path <@ 'C.C2'").fetchone()[0]
    grids = decode(tiles.tile("grids", str(z), str(x), str(y), {"area": ["C21"]}, EVERYTHING), "grids")
    assert sorted(f["properties"]["code"] for f in grids) == ["C2111", "C2112", "C2121", "C2122"]
    with pytest.raises(InputError, match="no area 'C2' in your scope"):
        tiles.tile("incidents", str(z), str(x), str(y), {"area": ["C2"]}, C1)


@pytest.mark.parametrize("layer, address, args, error, message", [
    ("incidents", ("a", "0", "0"), {}, InputError, "three whole numbers"),
    ("incidents", ("-1", "0", "0"), {}, InputError, "three whole numbers"),
    ("incidents", ("3", "8", "0"), {}, NotFound, "x and y run from 0 to 7"),
    ("incidents", ("3", "0", "99"), {}, NotFound, "x and y run from 0 to 7"),
    ("incidents", ("23", "0", "0"), {}, NotFound, "beyond zoom 22"),
    ("roads", ("3", "0", "0"), {}, NotFound, "no tile layer 'roads'"),
    ("incidents", ("3", "0", "0"), {"colour": ["red"]}, InputError, "unknown parameter colour"),
    ("incidents", ("3", "0", "0"), {"category": ["parking"]}, InputError, "unknown category parking"),
    ("incidents", ("3", "0", "0"), {"severity": ["7"]}, InputError, "severity=7 is not from 1 to 4"),
    ("incidents", ("3", "0", "0"), {"status": ["lost"]}, InputError, "unknown status lost"),
    ("incidents", ("3", "0", "0"), {"datetime": ["soon"]}, InputError, "is not a time"),
    ("incidents", ("3", "0", "0"), {"area": ["a", "b"]}, InputError, "given more than once"),
    ("incidents", ("3", "0", "0"), {"area": ["x'; drop"]}, InputError, "no area"),
    ("grids", ("3", "0", "0"), {"category": ["dispute"]}, InputError, "unknown parameter category"),
])
def test_a_bad_request_is_an_input_error_naming_what_is_wrong(city, layer, address, args, error, message):
    with pytest.raises(error, match=message):
        tiles.tile(layer, *address, args, EVERYTHING)


@pytest.mark.parametrize("layer", list(tiles.LAYERS))
def test_the_tile_query_finds_its_rows_through_the_geometry_index_under_row_security(city, layer):
    index = {"incidents": "incident_geom_idx", "grids": "area_geom_idx"}[layer]
    sql, params = tiles.LAYERS[layer].query(tiles.Tile(*TILES[2]), tiles.LAYERS[layer].filters({}), EVERYTHING)
    with db.scoped(C1), db.pooled() as conn:
        conn.execute("SET LOCAL enable_seqscan = off")  # the test city is small enough to scan either way
        plan = "\n".join(r[0] for r in conn.execute("EXPLAIN " + sql, params, prepare=False))
    db.close_pool()
    assert index in plan, plan
    assert "Seq Scan" not in plan, plan


def test_a_slow_tile_is_stopped_by_its_timeout(city, monkeypatch):
    from geodata.errors import QueryTooSlow

    monkeypatch.setattr(tiles, "TIMEOUT_MS", 1)
    slow = dataclasses.replace(tiles.LAYERS["incidents"], sql="SELECT pg_sleep(0.2)::text::bytea")
    monkeypatch.setitem(tiles.LAYERS, "incidents", slow)
    with pytest.raises(QueryTooSlow, match="0.001 s limit"):
        tiles.tile("incidents", "3", "0", "0", {}, EVERYTHING)


def test_a_tile_url_carries_the_map_filters_that_parse_back_to_them(city):
    since, until = day_window(date(2026, 10, 1), date(2026, 10, 31))
    filters = Filters(area_code="C1", since=since, until=until, categories=("dispute", "fire_safety"), severities=(3, 4),
                      statuses=("reported",))
    query = tiles.query_string("incidents", filters)
    assert query == "?area=C1&datetime=2026-10-01/2026-10-31&category=dispute,fire_safety&severity=3,4&status=reported"
    parsed = tiles.LAYERS["incidents"].filters(parse_qs(query[1:]))
    assert (parsed.since, parsed.until, parsed.categories, parsed.severities, parsed.statuses, parsed.area_code) == (
        since, until, filters.categories, filters.severities, filters.statuses, "C1")
    assert tiles.query_string("grids", filters) == "?area=C1"
    # The data's version changes the URL only; a version that is not a whole number is refused.
    assert tiles.query_string("grids", filters, version=42) == "?area=C1&v=42"
    assert tiles.LAYERS["grids"].filters(parse_qs("area=C1&v=42")).area_code == "C1"
    with pytest.raises(InputError, match="version"):
        tiles.LAYERS["incidents"].filters(parse_qs("v=x"))
