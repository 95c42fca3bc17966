"""The OGC API and Open311 served by the real dashboard on a free port, read by GDAL's own OAPIF driver and over HTTP.

GDAL 3.6's OAPIF driver asks for ``limit=PAGE_SIZE`` (10 unless ``-oo PAGE_SIZE=n``) and follows the ``next``
link of each page, so a page size below the collection's size makes it walk every page.
"""

from __future__ import annotations

import json
import re
import subprocess
from urllib.error import HTTPError
from urllib.parse import quote, urlencode
from urllib.request import urlopen

import pytest

from geodata import db
from geodata.settings import reload
from geodata.taxonomy import CATEGORIES, CLOSED_STATUSES, OPEN_STATUSES
from layers.ogc import COLLECTIONS
from tests.serving import hotline_city, served_with

PERSONAL = ("张三丰", "李四", "13812341234", "13900004321", "1234", "reporter")


@pytest.fixture(scope="module")
def served(database_url, tmp_path_factory):
    """The five-tier city with two named reporters, served whole (SHIYU_SCOPE empty)."""
    hotline_city(database_url, tmp_path_factory.mktemp("ogc"))
    with served_with() as url:
        yield url


@pytest.fixture
def scoped_to_c1(served):
    """The same server, every request now scoped to district C1."""
    mp = pytest.MonkeyPatch()
    mp.setenv("SHIYU_SCOPE", "C.C1")
    reload()
    try:
        yield served
    finally:
        mp.undo()
        reload()
        db.close_pool()


def _get(url: str) -> tuple[int, dict, object]:
    try:
        with urlopen(url, timeout=120) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read())


def _ogrinfo(*args: str) -> str:
    result = subprocess.run(["ogrinfo", "-ro", *args], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return result.stdout


def _count(conn, where: str = "TRUE", params: tuple = ()) -> int:
    return conn.execute(f"SELECT count(*) FROM shiyu.incident WHERE {where}", params).fetchone()[0]


def test_gdal_lists_every_collection(served):
    out = _ogrinfo("-so", f"OAPIF:{served}/ogc")
    listed = re.findall(r"^\d+: (\S+)", out, re.M)
    assert listed == list(COLLECTIONS)


def test_gdal_reads_every_page_of_the_incidents(served, conn):
    out = _ogrinfo("-al", "-oo", "PAGE_SIZE=250", f"OAPIF:{served}/ogc", "incidents")
    total = _count(conn)
    assert total > 250 * 10
    assert int(re.search(r"^Feature Count: (\d+)$", out, re.M).group(1)) == total
    assert out.count("OGRFeature(incidents):") == total
    assert "张三丰" not in out and "13812341234" not in out and "138****1234" not in out
    assert not re.search(r"^  (reporter|phone|pii)\b", out, re.M)


def test_gdal_reads_a_layer_built_through_the_registry(served, conn):
    out = _ogrinfo("-al", "-oo", "PAGE_SIZE=5", f"OAPIF:{served}/ogc", "areas-grid")
    assert out.count("OGRFeature(areas-grid):") == 16
    assert "Geometry: Polygon" in out or "Geometry: Multi Polygon" in out


def test_items_answer_geojson_with_the_content_crs(served):
    status, headers, doc = _get(f"{served}/ogc/collections/incidents/items?limit=5&crs=EPSG:4549")
    assert status == 200 and headers["Content-Type"].startswith("application/geo+json")
    assert headers["Content-Crs"] == "<http://www.opengis.net/def/crs/EPSG/0/4549>"
    assert doc["numberReturned"] == 5 and doc["links"][0]["href"].startswith(served + "/ogc/")
    status, headers, landing = _get(f"{served}/ogc")
    assert status == 200 and {"conformance", "data"} <= {link["rel"] for link in landing["links"]}


@pytest.mark.parametrize("path", [
    "/ogc/collections/incidents/items?limit=0", "/ogc/collections/incidents/items?bbox=1,2",
    "/ogc/collections/incidents/items?datetime=soon", "/ogc/collections/incidents/items?crs=EPSG:3857",
    "/ogc/collections/incidents/items?colour=red", "/ogc/collections?f=html", "/ogc/collections/nope",
    "/ogc/collections/incidents/items/nope:nothing", "/open311/v2/requests.json?status=pending",
    "/open311/v2/requests.json?page_size=5000", "/open311/v2/requests.json?service_code=parking",
    "/open311/v2/requests/nope:nothing.json",
])
def test_bad_requests_get_a_json_message_never_a_traceback(served, path):
    status, headers, doc = _get(served + path)
    assert status in (400, 404), doc
    assert headers["Content-Type"].startswith("application/json")
    text = json.dumps(doc, ensure_ascii=False)
    assert "Traceback" not in text and "psycopg" not in text and 'File "' not in text


def test_open311_services_are_the_categories_in_chinese_or_english(served):
    _, _, zh = _get(f"{served}/open311/v2/services.json")
    _, _, en = _get(f"{served}/open311/v2/services.json?lang=en")
    assert [s["service_code"] for s in zh] == list(CATEGORIES)
    assert zh[0]["service_name"] == CATEGORIES["dispute"].name_zh and en[0]["service_name"] == "Dispute"


def _all_requests(base: str, query: str) -> list[dict]:
    found, page = [], 1
    while True:
        _, _, batch = _get(f"{base}/open311/v2/requests.json?{query}&page_size=400&page={page}")
        if not batch:
            return found
        found += batch
        page += 1


@pytest.mark.parametrize("status, statuses", [("open", OPEN_STATUSES), ("closed", CLOSED_STATUSES)])
def test_open311_maps_the_six_steps_to_open_and_closed_and_pages(served, conn, status, statuses):
    got = _all_requests(served, f"status={status}")
    ids = [r["service_request_id"] for r in got]
    assert len(ids) == len(set(ids)) == _count(conn, "status = ANY(%s) AND reported_at >= now() - interval '90 days'",
                                               (list(statuses),)) > 0
    assert {r["status"] for r in got} == {status}
    times = [r["requested_datetime"] for r in got]
    assert times == sorted(times, reverse=True)


def test_open311_requests_carry_no_personal_data(served):
    _, _, got = _get(f"{served}/open311/v2/requests.json?service_code=fire_safety,dispute&page_size=1000")
    text = json.dumps(got, ensure_ascii=False)
    assert got and not any(word in text for word in PERSONAL[:4])
    assert all(r["description"] is None for r in got)
    _, _, one = _get(f"{served}/open311/v2/requests/hotline:H1.json")
    assert one[0]["service_code"] == "fire_safety" and "张" not in json.dumps(one, ensure_ascii=False)


def test_a_scoped_app_serves_only_its_district(scoped_to_c1, conn):
    base = scoped_to_c1
    c1 = _count(conn, "path <@ 'C.C1'")
    _, _, doc = _get(f"{base}/ogc/collections/incidents/items?limit=1000")
    assert doc["numberMatched"] == c1 < _count(conn)
    assert all(f["properties"]["grid_code"].startswith("C1") for f in doc["features"])
    _, _, grids = _get(f"{base}/ogc/collections/areas-grid/items")
    assert grids["numberMatched"] == 8 and all(f["properties"]["code"].startswith("C1") for f in grids["features"])
    requests = _all_requests(base, "status=open,closed")
    assert len(requests) == _count(conn, "path <@ 'C.C1' AND reported_at >= now() - interval '90 days'")
    assert all(r["agency_responsible"].startswith("C1") for r in requests)
    status, _, _ = _get(f"{base}/ogc/collections/incidents/items/hotline:H2")  # H2 lies in C2
    assert status == 404
    out = _ogrinfo("-al", "-oo", "PAGE_SIZE=300", f"OAPIF:{base}/ogc", "incidents")
    assert out.count("OGRFeature(incidents):") == c1


def _inline(node, components: dict):
    """A schema of the API definition with its ``$ref``s replaced by what they point at."""
    if isinstance(node, dict):
        if "$ref" in node:
            return _inline(components[node["$ref"].rsplit("/", 1)[-1]], components)
        return {k: _inline(v, components) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline(v, components) for v in node]
    return node


def _value(parameter: dict, area: str) -> str | None:
    """A value of a documented query parameter: its example, else its first allowed value, else its default."""
    if parameter["name"] == "area":
        return area
    schema = parameter["schema"]
    value = parameter.get("example", schema.get("enum", [schema.get("default")])[0])
    if schema["type"] == "array":
        value = parameter.get("example") or schema["items"]["enum"][:2]
        return ",".join(map(str, value))
    return None if value is None else str(value)


@pytest.fixture(scope="module")
def definition(served):
    status, headers, landing = _get(f"{served}/ogc")
    link = next(link for link in landing["links"] if link["rel"] == "service-desc")
    status, headers, doc = _get(link["href"])
    assert status == 200 and headers["Content-Type"] == link["type"] == "application/vnd.oai.openapi+json;version=3.0"
    return doc


def test_the_api_definition_is_valid_openapi_for_this_server(served, definition):
    from openapi_spec_validator import validate

    validate(definition)
    assert definition["servers"] == [{"url": f"{served}/ogc"}]
    items = {p.split("/")[2] for p in definition["paths"] if p.endswith("/items")}
    assert items == set(COLLECTIONS)
    _, _, conformance = _get(f"{served}/ogc/conformance")
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30" in conformance["conformsTo"]


def _parameters(operation: dict, definition: dict) -> list[dict]:
    """The operation's parameters, those shared by reference (``#/components/parameters/…``) looked up."""
    shared = definition["components"]["parameters"]
    return [shared[p["$ref"].rsplit("/", 1)[1]] if "$ref" in p else p for p in operation["parameters"]]


def test_limit_is_declared_where_qgis_reads_its_default_and_maximum(definition):
    """QGIS's OAPIF provider reads ``limit`` from ``components/parameters`` only, and pages by min(max(1000, default),
    maximum): declared inline it pages by 100 (the demo city's incidents 2,757 requests, 110 s in QGIS 3.22)."""
    from layers.ogc import DEFAULT_LIMIT, MAX_LIMIT

    schema = definition["components"]["parameters"]["limit"]["schema"]
    assert (schema["default"], schema["maximum"]) == (DEFAULT_LIMIT, MAX_LIMIT) and MAX_LIMIT >= 1000
    for path, item in definition["paths"].items():
        if path.endswith("/items"):
            assert {"$ref": "#/components/parameters/limit"} in item["get"]["parameters"], path


@pytest.mark.parametrize("collection", list(COLLECTIONS))
def test_every_documented_parameter_is_taken_and_the_answer_matches_its_schema(served, definition, conn, collection):
    import jsonschema

    area = conn.execute("SELECT code FROM shiyu.area WHERE tier = 'district' ORDER BY code LIMIT 1").fetchone()[0]
    operation = definition["paths"][f"/collections/{collection}/items"]["get"]
    documented = {p["name"]: p for p in _parameters(operation, definition)}
    query = {name: _value(p, area) for name, p in documented.items() if name != "after"}  # after: a cursor to follow
    url = f"{served}/ogc/collections/{collection}/items?" + urlencode({k: v for k, v in query.items() if v is not None})
    status, headers, doc = _get(url)
    assert status == 200, (url, doc)
    schema = operation["responses"]["200"]["content"]["application/geo+json"]["schema"]
    components = definition["components"]["schemas"]
    jsonschema.validate(doc, _inline(schema, components))
    assert headers["Content-Crs"] == f"<{query['crs']}>"
    # and what the definition leaves out for this collection, the server refuses
    everywhere = {p["name"] for path, item in definition["paths"].items() if path.endswith("/items")
                  for p in _parameters(item["get"], definition)}
    for name in sorted(everywhere - set(documented)):
        status, _, refused = _get(f"{served}/ogc/collections/{collection}/items?{urlencode({name: '8'})}")
        assert status == 400 and name in refused["description"], (name, refused)
    # a feature the items listed is found under the documented item path
    if doc["features"]:
        feature_id = doc["features"][0]["id"]
        status, _, one = _get(f"{served}/ogc/collections/{collection}/items/{quote(str(feature_id), safe='')}")
        assert status == 200 and one["id"] == feature_id
        item = definition["paths"][f"/collections/{collection}/items/{{featureId}}"]["get"]
        jsonschema.validate(one, _inline(item["responses"]["200"]["content"]["application/geo+json"]["schema"],
                                         components))
