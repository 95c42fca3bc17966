"""GDAL's OAPIF driver (Debian's ogrinfo) opens every collection of the served OGC API with its defaults, as an
officer of district C1 sends it (an API token in GDAL_HTTP_HEADERS): one geometry type each, the declared fields,
and the counts the database holds for that scope; a CQL2 filter GDAL passes through is answered by the server."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from urllib.error import HTTPError
from urllib.parse import urlencode
from urllib.request import Request, urlopen

import pytest

from geodata import db, users
from geodata.scope import Scope
from layers import ogc
from layers.ogc import documents
from tests.serving import hotline_city, hotline_facilities, served_with

pytestmark = pytest.mark.skipif(shutil.which("ogrinfo") is None, reason="gdal-bin is installed by ./run test")

GEOMETRY = {"Point": "Point", "Polygon": "Polygon"}


@pytest.fixture(scope="module")
def site(database_url, tmp_path_factory):
    folder = tmp_path_factory.mktemp("gdal")
    hotline_city(database_url, folder)
    hotline_facilities(folder)
    users.add_user("olga", "officer", "C1", password="a long pass phrase")
    token = users.create_token("olga", label="gdal")
    with served_with({"SHIYU_AUTH": "on", "SHIYU_SECRET_KEY": "test-secret-key-of-this-module"}) as url:
        yield url, token


def _ogrinfo(site, *args: str) -> str:
    url, token = site
    env = {**os.environ, "GDAL_HTTP_HEADERS": f"Authorization: Bearer {token}", "CPL_DEBUG": "OFF"}
    done = subprocess.run(["ogrinfo", "-ro", "-so", "-nomd", f"OAPIF:{url}/ogc", *args], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def _count(sql: str, *params) -> int:
    with db.connect() as conn:
        return conn.execute(sql, params).fetchone()[0]


def _expected(collection_id: str) -> int:
    """What the database holds in C1 for the collection (the layers' own counts, for the layer-built ones)."""
    c = ogc.COLLECTIONS[collection_id]
    if c.layer == "incidents":
        return _count("SELECT count(*) FROM shiyu.incident WHERE path <@ 'C.C1'")
    if c.layer == "areas":
        return _count("SELECT count(*) FROM shiyu.area WHERE tier = %s AND path <@ 'C.C1'", c.tier)
    if collection_id == "facilities":
        return _count("SELECT count(*) FROM shiyu.facility WHERE path <@ 'C.C1'")
    doc, _ = ogc.items(collection_id, {"limit": ["1"]}, Scope("C.C1"), "http://host/ogc")
    return doc["numberMatched"]


@pytest.mark.parametrize("collection_id", list(ogc.COLLECTIONS))
def test_gdal_opens_every_collection_with_its_defaults(site, collection_id):
    out = _ogrinfo(site, collection_id)
    c = ogc.COLLECTIONS[collection_id]
    expected = _expected(collection_id)
    assert re.search(rf"^Feature Count: {expected}$", out, re.M), out
    if expected == 0:  # the city itself lies above an officer's district: GDAL opens it, empty
        assert collection_id == "areas-city"
        return
    assert re.search(rf"^Geometry: {GEOMETRY[c.geometry]}$", out, re.M), out
    fields = set(re.findall(r"^(\w+): \w+", out, re.M)) - {"Geometry", "Layer", "Extent"}
    assert {name for name, f in c.fields.items() if f.filterable} - {"description", "median_hours", "last_visit",
                                                                     "hours_since_visit", "owner", "grid_code",
                                                                     "resolved_at"} <= fields | {"kind"}, out


def test_facilities_are_points_with_their_type_name_and_radius(site):
    out = _ogrinfo(site, "facilities")
    assert "Geometry: Point" in out
    for field in ("type: String", "name: String", "radius_m: Integer"):
        assert field in out, out


def test_a_cql2_filter_passed_by_gdal_is_answered_by_the_server(site):
    expected = _count("SELECT count(*) FROM shiyu.incident WHERE path <@ 'C.C1' AND severity >= 3")
    before = documents.FILTERED_PAGES["incidents"]
    out = _ogrinfo(site, "incidents", "-where", "severity >= 3")
    assert re.search(rf"^Feature Count: {expected}$", out, re.M), out
    assert documents.FILTERED_PAGES["incidents"] > before  # GDAL sent it as a CQL2 filter, not filtered itself


def _http(site, path: str) -> tuple[int, dict]:
    url, token = site
    try:
        with urlopen(Request(f"{url}{path}", headers={"Authorization": f"Bearer {token}"}), timeout=60) as response:
            return response.status, json.loads(response.read())
    except HTTPError as error:
        return error.code, json.loads(error.read())


def test_over_http_an_unknown_property_is_a_400_naming_it_and_a_large_limit_is_capped(site):
    status, refused = _http(site, "/ogc/collections/incidents/items?" + urlencode({"filter": "colour = 'red'"}))
    assert status == 400 and refused["code"] == "InvalidParameterValue" and "'colour'" in refused["description"]
    status, refused = _http(site, "/ogc/collections/hexes/items?" + urlencode({"filter": "severity >= 3"}))
    assert status == 400 and "'severity'" in refused["description"]  # a property of incidents, not of hexes
    status, page = _http(site, "/ogc/collections/incidents/items?limit=5000")
    assert status == 200 and page["numberReturned"] == ogc.MAX_LIMIT
    status, schema = _http(site, "/ogc/collections/facilities/queryables")
    assert status == 200 and schema["properties"]["geometry"]["format"] == "geometry-point"
    assert {"type", "name", "radius_m"} <= set(schema["properties"])
