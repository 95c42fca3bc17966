"""OGC API – Features Part 3 on the five-tier city: CQL2 filters (text and JSON) counted against the database's own
recount, queryables, sortby, properties, limit capped, and a tier of more areas than a map draws paged in parts."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import shapely

from geodata import db
from geodata.errors import InputError
from geodata.scope import Scope
from layers import areas, limits, ogc
from layers.ogc import cql, pages
from layers.ogc.pages import PAGES

BASE = "http://host/ogc"
EVERYTHING = Scope.everything()
C1 = Scope("C.C1")
BOX = (120.05, 30.05, 120.25, 30.2)  # across both districts


def _walk(collection_id: str, scope: Scope = EVERYTHING, **values) -> list[dict]:
    args, features = {k.replace("_", "-"): [str(v)] for k, v in values.items()}, []
    while args is not None:
        doc, _ = ogc.items(collection_id, args, scope, BASE)
        features += doc["features"]
        following = [link["href"] for link in doc["links"] if link["rel"] == "next"]
        args = parse_qs(urlsplit(following[0]).query) if following else None
    return features


def _recount(where: str, params: tuple = (), path: str | None = None) -> int:
    with db.connect() as conn:
        return conn.execute(f"SELECT count(*) FROM shiyu.incident WHERE ({where})"
                            + (" AND path <@ %s::ltree" if path else ""), (*params, *((path,) if path else ()))
                            ).fetchone()[0]


# Each filter, and the same question written by hand in SQL for the recount.
FILTERS = [
    ("category = 'dispute' AND severity >= 2", "category = 'dispute' AND severity >= 2", ()),
    ("status IN ('closed', 'handling') OR severity = 4", "status IN ('closed', 'handling') OR severity = 4", ()),
    ("severity BETWEEN 2 AND 3 AND NOT category = 'petition'", "severity BETWEEN 2 AND 3 AND category <> 'petition'", ()),
    # as QGIS writes a NOT (qgsoapifcql2textexpressioncompiler.cpp), which pygeofilter's own grammar does not take
    ("(NOT ((category = 'dispute') OR (severity >= 3)))", "NOT (category = 'dispute' OR severity >= 3)", ()),
    ("grid_code LIKE 'C12%'", "grid_code LIKE 'C12%%'", ()),
    ("resolved_at IS NULL", "resolved_at IS NULL", ()),
    (f"S_INTERSECTS(geometry, BBOX({','.join(map(str, BOX))}))", "ST_Intersects(geom, ST_MakeEnvelope(%s, %s, %s, %s, 4326))",
     BOX),
]


@pytest.mark.parametrize("text, where, params", FILTERS)
def test_cql2_text_filter_on_incidents_counts_what_the_database_counts(city, text, where, params):
    doc, _ = ogc.items("incidents", {"filter": [text], "limit": ["1"]}, EVERYTHING, BASE)
    expected = _recount(where, params)
    assert 0 < expected < 3000
    assert doc["numberMatched"] == expected
    assert len(_walk("incidents", filter=text, limit=1000)) == expected


def test_cql2_json_filter_is_the_same_question_as_its_text(city):
    text = f"category = 'dispute' AND S_INTERSECTS(geometry, BBOX({','.join(map(str, BOX))}))"
    spelled = {"op": "and", "args": [{"op": "=", "args": [{"property": "category"}, "dispute"]},
                                     {"op": "s_intersects", "args": [{"property": "geometry"}, {"bbox": list(BOX)}]}]}
    as_text, _ = ogc.items("incidents", {"filter": [text]}, EVERYTHING, BASE)
    as_json, _ = ogc.items("incidents", {"filter": [json.dumps(spelled)], "filter-lang": ["cql2-json"]}, EVERYTHING, BASE)
    expected = _recount("category = 'dispute' AND ST_Intersects(geom, ST_MakeEnvelope(%s, %s, %s, %s, 4326))", BOX)
    assert as_text["numberMatched"] == as_json["numberMatched"] == expected > 0


def test_a_filter_never_reaches_past_the_scope(city):
    doc, _ = ogc.items("incidents", {"filter": ["grid_code LIKE 'C%'"]}, C1, BASE)
    assert doc["numberMatched"] == _recount("grid_code LIKE 'C%%'", path="C.C1") < _recount("true")
    _, _, now = city
    since = (now - timedelta(days=3)).isoformat()
    recent, _ = ogc.items("incidents", {"filter": [f"reported_at >= TIMESTAMP('{since}')"]}, C1, BASE)
    assert recent["numberMatched"] == _recount("reported_at >= %s", (since,), "C.C1") > 0
    outside, _ = ogc.items("incidents", {"filter": ["grid_code LIKE 'C2%'"]}, C1, BASE)
    assert outside["numberMatched"] == 0 and outside["features"] == []
    hexes = _walk("hexes", C1, filter="grid_code LIKE 'C2%'")
    assert hexes == []


@pytest.mark.parametrize("collection_id, text, keep", [
    ("hexes", "count >= 3", lambda p: p["count"] >= 3),
    ("hotspots", "class IN ('hot99', 'hot95') OR z > 1.5", lambda p: p["class"] in ("hot99", "hot95") or p["z"] > 1.5),
    ("areas-grid", "incidents BETWEEN 150 AND 200 AND NOT code = 'C1111'",
     lambda p: 150 <= p["incidents"] <= 200 and p["code"] != "C1111"),
    ("coverage", "kind = 'grid' AND NOT share IS NULL", lambda p: p["kind"] == "grid" and p.get("share") is not None),
])
def test_a_filter_on_a_layer_keeps_what_the_unfiltered_layer_holds_that_passes(city, collection_id, text, keep):
    everything = _walk(collection_id, limit=1000)
    expected = [f["id"] for f in everything if keep(f["properties"])]
    assert 0 < len(expected) < len(everything)
    assert [f["id"] for f in _walk(collection_id, filter=text, limit=7)] == expected


def test_a_spatial_filter_on_a_layer_keeps_the_features_meeting_the_box(city):
    box = shapely.box(*BOX)
    everything = _walk("hexes", limit=1000)
    expected = [f["id"] for f in everything if box.intersects(shapely.geometry.shape(f["geometry"]))]
    assert 0 < len(expected) < len(everything)
    found = _walk("hexes", filter=f"S_INTERSECTS(geometry,BBOX({','.join(map(str, BOX))}))", limit=1000)
    assert [f["id"] for f in found] == expected


@pytest.mark.parametrize("args, named", [
    ({"filter": ["colour = 'red'"]}, "colour"),
    ({"filter": ["severity = 'high'"]}, "severity"),
    ({"filter": ["category = "]}, "does not parse"),
    ({"filter": ["{"], "filter-lang": ["cql2-json"]}, "not JSON"),
    ({"filter": ["severity = 1"], "filter-lang": ["ecql"]}, "filter-lang"),
    ({"sortby": ["-colour"]}, "colour"),
    ({"properties": ["category,colour"]}, "colour"),
])
def test_a_filter_naming_what_is_not_there_is_an_input_error_naming_it(city, args, named):
    with pytest.raises(InputError, match=named):
        ogc.items("incidents", args, EVERYTHING, BASE)


def test_sortby_orders_and_properties_keep_only_those_named(city):
    hexes = _walk("hexes", sortby="-count,h3", properties="count,h3", limit=500)
    assert [(-f["properties"]["count"], f["properties"]["h3"]) for f in hexes] == sorted(
        (-f["properties"]["count"], f["properties"]["h3"]) for f in hexes)
    assert {tuple(sorted(f["properties"])) for f in hexes} == {("count", "h3")}
    newest, _ = ogc.items("incidents", {"sortby": ["-reported_at"], "limit": ["50"]}, EVERYTHING, BASE)
    with db.connect() as conn:
        latest = conn.execute("SELECT max(reported_at) FROM shiyu.incident").fetchone()[0]
    stamps = [f["properties"]["reported_at"] for f in newest["features"]]
    assert stamps == sorted(stamps, reverse=True)
    assert timedelta(0) <= latest - datetime.fromisoformat(stamps[0]) < timedelta(minutes=1)  # shown to the minute


def test_a_limit_above_the_maximum_is_served_as_the_maximum(city):
    doc, _ = ogc.items("incidents", {"limit": ["5000"]}, EVERYTHING, BASE)
    assert doc["numberReturned"] == ogc.MAX_LIMIT
    assert "limit=1000" in next(link["href"] for link in doc["links"] if link["rel"] == "next")


def test_queryables_and_conformance_say_what_qgis_looks_for(city):
    schema = ogc.queryables("incidents", {}, BASE)
    assert schema["properties"]["geometry"]["format"] == "geometry-point"
    assert schema["properties"]["severity"] == {"title": "severity 1-4", "type": "integer", "enum": [1, 2, 3, 4]}
    assert schema["properties"]["reported_at"]["format"] == "date-time"
    assert ogc.queryables("blind-spots", {}, BASE)["properties"]["geometry"]["format"] == "geometry-polygon"
    classes = ogc.conformance({})["conformsTo"]
    for needed in ("ogcapi-features-3/1.0/conf/filter", "ogcapi-features-3/1.0/conf/features-filter",
                   "cql2/1.0/conf/basic-cql2", "cql2/1.0/conf/cql2-text", "cql2/1.0/conf/advanced-comparison-operators",
                   "cql2/1.0/conf/basic-spatial-operators"):
        assert f"http://www.opengis.net/spec/{needed}" in classes


def test_every_feature_holds_only_its_collections_declared_fields_and_one_geometry_type(city):
    for c in ogc.COLLECTIONS.values():
        doc, _ = ogc.items(c.id, {"limit": ["1000"]}, EVERYTHING, BASE)
        for feature in doc["features"]:
            assert set(feature["properties"]) <= set(c.fields), c.id
            assert feature["geometry"]["type"] == c.geometry, c.id


def test_a_tier_of_more_areas_than_a_map_draws_is_paged_in_parts(city, monkeypatch):
    whole = _walk("areas-grid", limit=1000)
    assert len(whole) == 16
    # Parts of 5 areas instead of 5,000: the 16 grids are more than a map would draw, and refused whole.
    monkeypatch.setattr(areas, "MAX_FEATURES", 5)
    monkeypatch.setitem(limits.LIMITS, "areas", limits.Limit(limits.AREAS, 5, 2_000))
    monkeypatch.setattr(pages, "PART", 5)
    PAGES.clear()
    walked = _walk("areas-grid", limit=3)
    assert [f["id"] for f in walked] == list(range(1, 17))
    assert [f["properties"]["code"] for f in walked] == [f["properties"]["code"] for f in whole]
    assert [f["properties"]["incidents"] for f in walked] == [f["properties"]["incidents"] for f in whole]
    assert PAGES.stats.computed == 4 + 1  # four parts, and the count of the areas once
    doc, _ = ogc.items("areas-grid", {"limit": ["2"], "offset": ["9"]}, EVERYTHING, BASE)
    assert doc["numberMatched"] == 16 and [f["id"] for f in doc["features"]] == [10, 11]
    assert ogc.item("areas-grid", "12", {}, EVERYTHING, BASE)[0]["properties"]["code"] == whole[11]["properties"]["code"]
    filtered = _walk("areas-grid", filter="code LIKE 'C2%'", limit=4)
    assert [f["id"] for f in filtered] == [f["id"] for f in whole if f["properties"]["code"].startswith("C2")]


def test_a_filter_in_a_connections_url_is_taken_by_every_resource_and_applied_to_the_items(city):
    # QGIS 3.22 repeats a connection URL's query on every request: the landing page, the API, a collection.
    args = {"filter": ["severity >= 3"], "filter-lang": ["cql2-text"]}
    assert ogc.landing(args, BASE)["links"]
    assert ogc.api(args, BASE)["openapi"]
    assert ogc.collection("incidents", args, EVERYTHING, BASE)["id"] == "incidents"
    doc, _ = ogc.items("incidents", {**args, "limit": ["10"]}, EVERYTHING, BASE)
    assert doc["numberMatched"] == _recount("severity >= 3")
    assert "filter=severity" in next(link["href"] for link in doc["links"] if link["rel"] == "next")


def test_a_filters_values_are_bound_never_text_of_the_query(city):
    hostile = "x') OR true; DELETE FROM shiyu.incident; --"
    doc, _ = ogc.items("incidents", {"filter": [f"category = '{hostile.replace(chr(39), chr(39) * 2)}'"]},
                       EVERYTHING, BASE)
    assert doc["numberMatched"] == 0 and doc["features"] == []
    assert _recount("true") == 3000
    sql, params = cql.to_sql(cql.parse(f"grid_code LIKE '{hostile.replace(chr(39), chr(39) * 2)}%'", None,
                                       ogc.COLLECTIONS["incidents"].fields), {"grid_code": "i.grid_code"}, "i.geom")
    assert hostile not in sql and params == {"cql_0": hostile + "%"}
