"""The OGC API documents and their paging on the five-tier city, counted against the owner's own queries."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pyproj
import pytest

from geodata import db
from geodata.errors import InputError, NotFound
from geodata.scope import Scope
from layers import ogc
from layers.ogc.projection import CRS84, EPSG
from layers.registry import build
from layers.base import Filters

BASE = "http://host/ogc"
C1 = Scope("C.C1")
EVERYTHING = Scope.everything()


def _args(**values) -> dict[str, list[str]]:
    return {key.replace("_", "-"): [str(v)] for key, v in values.items()}


def _walk(collection_id: str, scope: Scope, **values) -> list[dict]:
    """Every page from the first, following ``next`` links as a client would."""
    args, features, pages = _args(**values), [], 0
    while args is not None:
        doc, _ = ogc.items(collection_id, args, scope, BASE)
        assert doc["numberReturned"] == len(doc["features"])
        features += doc["features"]
        following = [link["href"] for link in doc["links"] if link["rel"] == "next"]
        args = parse_qs(urlsplit(following[0]).query) if following else None
        pages += 1
        assert pages < 1000
    return features


def _owner_count(conn, where: str = "TRUE", params: tuple = ()) -> int:
    return conn.execute(f"SELECT count(*) FROM shiyu.incident WHERE {where}", params).fetchone()[0]


def test_the_landing_page_and_conformance_name_core_geojson_and_crs():
    landing = ogc.landing({}, BASE)
    assert {link["rel"] for link in landing["links"]} >= {"self", "conformance", "data"}
    assert set(ogc.conformance({})["conformsTo"]) == set(ogc.CONFORMANCE)
    assert any(c.endswith("ogcapi-features-2/1.0/conf/crs") for c in ogc.CONFORMANCE)


def test_collections_list_areas_per_tier_and_the_layers_with_their_systems(city):
    doc = ogc.collections({}, EVERYTHING, BASE)
    ids = [c["id"] for c in doc["collections"]]
    assert ids[:5] == ["areas-city", "areas-district", "areas-street", "areas-community", "areas-grid"]
    assert {"incidents", "hexes", "hotspots", "coverage", "facilities"} <= set(ids)
    grid = next(c for c in doc["collections"] if c["id"] == "areas-grid")
    assert grid["crs"] == [CRS84, EPSG + "4326", EPSG + "4490", EPSG + "4549"]
    assert grid["extent"]["spatial"]["bbox"] == [[120.0, 30.0, 120.4, 30.4]]
    assert ogc.collection("incidents", {}, EVERYTHING, BASE)["id"] == "incidents"
    with pytest.raises(NotFound):
        ogc.collection("nope", {}, EVERYTHING, BASE)


@pytest.mark.parametrize("tier, everything, in_c1", [("district", 2, 1), ("street", 4, 2), ("grid", 16, 8)])
def test_areas_per_tier_count_what_the_owner_counts(city, conn, tier, everything, in_c1):
    owner = conn.execute("SELECT count(*) FROM shiyu.area WHERE tier = %s", (tier,)).fetchone()[0]
    assert owner == everything
    doc, crs = ogc.items(f"areas-{tier}", {}, EVERYTHING, BASE)
    assert doc["numberMatched"] == doc["numberReturned"] == everything and crs == CRS84
    with db.scoped(C1):
        scoped, _ = ogc.items(f"areas-{tier}", {}, C1, BASE)
    assert scoped["numberMatched"] == in_c1
    assert all(f["properties"]["code"].startswith("C1") for f in scoped["features"])


@pytest.mark.parametrize("limit", [7, 997, 1000])
def test_next_links_walk_every_incident_exactly_once(city, conn, limit):
    features = _walk("incidents", EVERYTHING, limit=limit)
    ids = [f["id"] for f in features]
    assert len(ids) == len(set(ids)) == _owner_count(conn)


def test_next_links_walk_a_layer_exactly_once_and_prev_goes_back(city):
    whole, _ = ogc.items("hexes", _args(limit=1000, res=7), EVERYTHING, BASE)
    walked = _walk("hexes", EVERYTHING, limit=13, res=7)
    assert [f["properties"]["h3"] for f in walked] == [f["properties"]["h3"] for f in whole["features"]]
    assert len(walked) == whole["numberMatched"] > 13
    assert sum(f["properties"]["count"] for f in walked) == build("hexes", Filters(res=7), EVERYTHING).summary["incidents"]
    second, _ = ogc.items("hexes", _args(limit=13, offset=13, res=7), EVERYTHING, BASE)
    prev = next(link["href"] for link in second["links"] if link["rel"] == "prev")
    assert parse_qs(urlsplit(prev).query)["offset"] == ["0"]
    assert {link["rel"] for link in second["links"]} == {"self", "collection", "next", "prev"}


def test_incident_pages_carry_no_personal_data(city):
    doc, _ = ogc.items("incidents", _args(limit=50), EVERYTHING, BASE)
    keys = set().union(*(f["properties"] for f in doc["features"]))
    assert not keys & {"pii", "reporter", "reporter_name", "reporter_phone", "phone"}
    assert {"category", "status", "reported_at", "grid_code", "overdue"} <= keys


def test_bbox_and_datetime_narrow_incidents_as_the_owner_counts(city, conn):
    _, _, now = city
    box = (120.05, 30.05, 120.25, 30.3)
    since = now - timedelta(days=10)
    owner = _owner_count(conn, "geom && ST_MakeEnvelope(%s, %s, %s, %s, 4326) AND reported_at >= %s", (*box, since))
    stamp = since.isoformat()
    doc, _ = ogc.items("incidents", {"bbox": [",".join(map(str, box))], "datetime": [f"{stamp}/.."], "limit": ["1"]},
                       EVERYTHING, BASE)
    assert doc["numberMatched"] == owner > 0
    walked = _walk("incidents", EVERYTHING, bbox=",".join(map(str, box)), datetime=f"{stamp}/..", limit=500)
    assert len(walked) == owner
    lon, lat = np.array([f["geometry"]["coordinates"] for f in walked]).T
    assert lon.min() >= box[0] and lat.max() <= box[3]
    closed_end = _owner_count(conn, "reported_at <= %s", (since,))
    doc, _ = ogc.items("incidents", {"datetime": [f"../{stamp}"], "limit": ["1"]}, EVERYTHING, BASE)
    assert doc["numberMatched"] == closed_end


def test_a_bbox_in_epsg_4549_finds_what_the_same_box_in_degrees_finds(city):
    west, south, east, north = 120.05, 30.05, 120.25, 30.3
    to_gk = pyproj.Transformer.from_crs("OGC:CRS84", "EPSG:4549")
    (n1, e1), (n2, e2) = to_gk.transform(west, south), to_gk.transform(east, north)
    projected, _ = ogc.items("incidents", {"bbox": [f"{min(n1, n2)},{min(e1, e2)},{max(n1, n2)},{max(e1, e2)}"],
                                           "bbox-crs": [EPSG + "4549"], "limit": ["1"]}, EVERYTHING, BASE)
    degrees, _ = ogc.items("incidents", _args(bbox=f"{west},{south},{east},{north}", limit=1), EVERYTHING, BASE)
    # The projected box's edges curve a little in degrees: the counts agree to the few incidents on its rim.
    assert abs(projected["numberMatched"] - degrees["numberMatched"]) <= 0.02 * degrees["numberMatched"]


@pytest.mark.parametrize("code", ["4549", "4490", "4326"])
def test_coordinates_in_another_system_equal_pyproj_in_its_axis_order(city, code):
    plain, _ = ogc.items("incidents", _args(limit=20), EVERYTHING, BASE)
    moved, crs = ogc.items("incidents", _args(limit=20, crs=EPSG + code), EVERYTHING, BASE)
    assert crs == EPSG + code
    transformer = pyproj.Transformer.from_crs("OGC:CRS84", f"EPSG:{code}")
    for a, b in zip(plain["features"], moved["features"]):
        assert a["id"] == b["id"]
        expected = transformer.transform(*a["geometry"]["coordinates"])
        assert np.allclose(b["geometry"]["coordinates"], expected, atol=1e-3 if code == "4549" else 1e-7)
    if code == "4549":  # northing first, about 3.3 million metres at 30° N; easting about 500 km
        assert 3.3e6 < moved["features"][0]["geometry"]["coordinates"][0] < 3.4e6


def test_polygons_move_to_epsg_4549_too(city):
    doc, _ = ogc.items("areas-district", _args(crs="EPSG:4549"), EVERYTHING, BASE)
    ring = np.array(doc["features"][0]["geometry"]["coordinates"][0])
    assert 3.3e6 < ring[:, 0].min() and 4.5e5 < ring[:, 1].min() < 5.5e5


def test_one_incident_by_id_and_a_missing_one(city):
    doc, _ = ogc.items("incidents", _args(limit=1), EVERYTHING, BASE)
    fid = doc["features"][0]["id"]
    one, _ = ogc.item("incidents", fid, {}, EVERYTHING, BASE)
    assert one["id"] == fid and one["geometry"] == doc["features"][0]["geometry"]
    with pytest.raises(NotFound):
        ogc.item("incidents", "tiers:nope", {}, EVERYTHING, BASE)
    with db.scoped(C1):
        c2 = ogc.items("incidents", _args(bbox="120.21,30.01,120.39,30.39", limit=1), EVERYTHING, BASE)[0]
        assert c2["numberMatched"] == 0
    c2_id = ogc.items("incidents", _args(bbox="120.21,30.01,120.39,30.39", limit=1), EVERYTHING, BASE)[0]["features"][0]["id"]
    with db.scoped(C1), pytest.raises(NotFound):
        ogc.item("incidents", c2_id, {}, EVERYTHING, BASE)


@pytest.mark.parametrize("args", [
    {"limit": ["0"]}, {"limit": ["ten"]}, {"offset": ["-1"]}, {"bbox": ["1,2,3"]},
    {"bbox": ["120.4,30,120,30.4"]}, {"bbox": ["a,b,c,d"]}, {"datetime": ["yesterday"]},
    {"datetime": ["2026-10-05/2026-10-01"]}, {"crs": ["EPSG:3857"]}, {"bbox-crs": [EPSG + "4326"]},
    {"unknown": ["1"]}, {"limit": ["1", "2"]}, {"f": ["html"]}, {"after": ["garbage"]}, {"res": ["8"]},
    {"category": ["nonsense"]}, {"status": ["open"]},
])
def test_bad_input_is_an_input_error_naming_it(city, args):
    with pytest.raises(InputError):
        ogc.items("incidents", args, EVERYTHING, BASE)
