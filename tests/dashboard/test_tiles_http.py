"""Vector tiles served by the real dashboard with logins on: a token's scope holds its tiles, and what HTTP says."""

from __future__ import annotations

import gzip

import mapbox_vector_tile
import pytest
import requests

from geodata import users
from tests.layers.test_tiles import lonlat_box, tile_of
from tests.serving import hotline_city, served_with

CITY_TILE = "/tiles/{layer}/8/213/105.pbf"  # one tile holding the whole five-tier city
EMPTY_TILE = "/tiles/incidents/12/0/0.pbf"


@pytest.fixture(scope="module")
def site(database_url, tmp_path_factory):
    """The five-tier city, an officer of C1 and a commander of the city, served with logins on."""
    hotline_city(database_url, tmp_path_factory.mktemp("tiles"))
    users.add_user("olga", "officer", "C1", password="a long pass phrase")
    users.add_user("cora", "commander", "city", password="a long pass phrase")
    with served_with({"SHIYU_AUTH": "on", "SHIYU_SECRET_KEY": "test-secret-key-of-the-tiles"}) as url:
        yield url


@pytest.fixture(scope="module")
def officer(site):
    return {"Authorization": f"Bearer {users.create_token('olga', label='qgis')}"}


@pytest.fixture(scope="module")
def commander(site):
    return {"Authorization": f"Bearer {users.create_token('cora', label='qgis')}"}


def _features(response: requests.Response, layer: str) -> list[dict]:
    assert response.status_code == 200, response.text[:300]
    return mapbox_vector_tile.decode(response.content)[layer]["features"] if response.content else []


def test_without_a_token_a_tile_is_401_in_json(site):
    response = requests.get(site + CITY_TILE.format(layer="incidents"), allow_redirects=False, timeout=30)
    assert response.status_code == 401 and response.json()["error"] == "log in first"


@pytest.mark.parametrize("layer", ["incidents", "grids"])
def test_an_officer_tiles_hold_only_their_district_and_a_commander_the_city(site, officer, commander, conn, layer):
    key = "grid_code" if layer == "incidents" else "code"
    mine = _features(requests.get(site + CITY_TILE.format(layer=layer), headers=officer, timeout=60), layer)
    whole = _features(requests.get(site + CITY_TILE.format(layer=layer), headers=commander, timeout=60), layer)
    assert mine and all(f["properties"][key].startswith("C1") for f in mine)
    assert any(f["properties"][key].startswith("C2") for f in whole)
    table = "shiyu.incident" if layer == "incidents" else "shiyu.area"
    tier = "" if layer == "incidents" else " AND tier = 'grid'"
    assert len(mine) == conn.execute(f"SELECT count(*) FROM {table} WHERE path <@ 'C.C1'{tier}").fetchone()[0]
    assert len(whole) == conn.execute(f"SELECT count(*) FROM {table} WHERE path <@ 'C'{tier}").fetchone()[0]


def test_an_officer_asking_for_the_other_district_gets_a_400_and_nothing_of_it(site, officer):
    response = requests.get(site + CITY_TILE.format(layer="incidents") + "?area=C2", headers=officer, timeout=30)
    assert response.status_code == 400 and "no area 'C2' in your scope" in response.json()["error"]


def test_a_tile_is_gzipped_when_asked_typed_and_kept_private(site, commander, conn):
    url = site + CITY_TILE.format(layer="incidents") + "?category=dispute"
    zipped = requests.get(url, headers={**commander, "Accept-Encoding": "gzip"}, stream=True, timeout=60)
    raw = zipped.raw.read(decode_content=False)
    assert zipped.headers["Content-Type"] == "application/vnd.mapbox-vector-tile"
    assert zipped.headers["Content-Encoding"] == "gzip" and zipped.headers["Cache-Control"] == "private, max-age=60"
    assert "Accept-Encoding" in zipped.headers["Vary"]
    plain = requests.get(url, headers={**commander, "Accept-Encoding": "identity"}, timeout=60)
    assert "Content-Encoding" not in plain.headers
    assert gzip.decompress(raw) == plain.content
    features = mapbox_vector_tile.decode(plain.content)["incidents"]["features"]
    assert len(features) == conn.execute("SELECT count(*) FROM shiyu.incident WHERE category = 'dispute'").fetchone()[0]


def test_an_empty_tile_is_200_with_an_empty_body(site, commander):
    response = requests.get(site + EMPTY_TILE, headers=commander, timeout=30)
    assert response.status_code == 200 and response.content == b""
    assert response.headers["Content-Type"] == "application/vnd.mapbox-vector-tile"


@pytest.mark.parametrize("path, status, words", [
    ("/tiles/incidents/3/8/0.pbf", 404, "x and y run from 0 to 7"),
    ("/tiles/incidents/30/0/0.pbf", 404, "beyond zoom 22"),
    ("/tiles/incidents/z/0/0.pbf", 400, "three whole numbers"),
    ("/tiles/roads/3/0/0.pbf", 404, "no tile layer 'roads'"),
    ("/tiles/incidents/3/0/0.png", 404, "no tile at /tiles/incidents/3/0/0.png"),
    ("/tiles/", 404, "tiles are /tiles/{layer}/{z}/{x}/{y}.pbf"),
    ("/tiles/incidents/3/0/0.pbf?category=parking", 400, "unknown category parking"),
    ("/tiles/incidents/3/0/0.pbf?severity=9", 400, "severity=9"),
    ("/tiles/incidents/3/0/0.pbf?datetime=2026-13-40", 400, "is not a time"),
    ("/tiles/incidents/3/0/0.pbf?bbox=1,2,3,4", 400, "unknown parameter bbox"),
    ("/tiles/grids/3/0/0.pbf?status=closed", 400, "unknown parameter status"),
])
def test_a_bad_tile_request_is_a_json_message_never_a_traceback(site, commander, path, status, words):
    response = requests.get(site + path, headers=commander, timeout=30)
    assert response.status_code == status, response.text[:300]
    assert response.headers["Content-Type"].startswith("application/json")
    assert words in response.json()["error"].lower() or words in response.json()["error"]
    assert "Traceback" not in response.text and "psycopg" not in response.text


def test_a_tile_over_part_of_the_city_holds_the_incidents_of_its_box(site, commander, conn):
    z, x, y = tile_of(120.1, 30.1, 12)
    features = _features(requests.get(f"{site}/tiles/incidents/{z}/{x}/{y}.pbf", headers=commander, timeout=30),
                         "incidents")
    expected = conn.execute("SELECT count(*) FROM shiyu.incident WHERE ST_Intersects(geom, ST_MakeEnvelope(%s, %s, %s, %s, 4326))",
                            lonlat_box(z, x, y)).fetchone()[0]
    assert 0 < len(features) == expected


def test_gdal_reads_a_served_tile_with_the_incidents_of_its_box(site, commander, conn, tmp_path):
    import re
    import subprocess

    z, x, y = tile_of(120.1, 30.1, 12)
    response = requests.get(f"{site}/tiles/incidents/{z}/{x}/{y}.pbf", headers=commander, timeout=30)
    (tmp_path / "tile.pbf").write_bytes(response.content)
    out = subprocess.run(["ogrinfo", "-ro", "-al", "-so", f"MVT:{tmp_path / 'tile.pbf'}", "-oo", f"Z={z}", "-oo", f"X={x}",
                          "-oo", f"Y={y}"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    expected = conn.execute("SELECT count(*) FROM shiyu.incident WHERE ST_Intersects(geom, ST_MakeEnvelope(%s, %s, %s, %s, 4326))",
                            lonlat_box(z, x, y)).fetchone()[0]
    assert int(re.search(r"^Feature Count: (\d+)$", out.stdout, re.M).group(1)) == expected
    assert "Layer name: incidents" in out.stdout and "category: String" in out.stdout


def test_tilejson_describes_each_tile_layer_within_the_officers_scope(site, officer, conn):
    response = requests.get(f"{site}/tiles/incidents.json?category=dispute", headers=officer, timeout=30)
    assert response.status_code == 200 and response.headers["Content-Type"] == "application/json"
    doc = response.json()
    assert doc["tiles"] == [f"{site}/tiles/incidents/{{z}}/{{x}}/{{y}}.pbf?category=dispute"]
    extent = conn.execute("SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Extent(geom) e "
                          "FROM shiyu.area WHERE path <@ 'C.C1') x").fetchone()
    assert doc["bounds"] == pytest.approx(list(extent), abs=1e-6)
    assert [layer["id"] for layer in doc["vector_layers"]] == ["incidents", "incident_cells"]
    assert requests.get(f"{site}/tiles/grids.json", timeout=30).status_code == 401
    assert requests.get(f"{site}/tiles/roads.json", headers=officer, timeout=30).status_code == 404
