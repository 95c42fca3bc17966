"""The OGC API's layer-built collections are computed once per (collection, query without paging, scope, role,
data version) and paged as slices of that computation (layers/ogc/pages.py), on the five-tier city."""

from __future__ import annotations

import threading
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from etl.load import load_incidents
from geodata import db
from geodata.scope import Scope
from geodata.settings import reload
from geodata.version import data_version
from layers import ogc
from layers.base import Filters
from layers.export import whole_layer
from layers.ogc.pages import PAGES
from tests.helpers import write_csv

BASE = "http://host/ogc"
C1 = Scope("C.C1")
EVERYTHING = Scope.everything()


def _args(**values) -> dict[str, list[str]]:
    return {key.replace("_", "-"): [str(v)] for key, v in values.items()}


def _next(doc: dict) -> dict | None:
    following = [link["href"] for link in doc["links"] if link["rel"] == "next"]
    return parse_qs(urlsplit(following[0]).query) if following else None


def _walk(collection_id: str, scope: Scope = EVERYTHING, role: str | None = None, **values) -> tuple[list[dict], int]:
    """Every page from the first, following ``next`` links as a client would; the features and the pages."""
    args, features, pages = _args(**values), [], 0
    while args is not None:
        doc, _ = ogc.items(collection_id, args, scope, BASE, role=role)
        features += doc["features"]
        args, pages = _next(doc), pages + 1
        assert pages < 2000
    return features, pages


def _key(feature: dict) -> str:
    p = feature["properties"]
    return p.get("code") or p.get("h3") or p["grid_code"]


# Not the areas or coverage: they read the clock, so a walk across a minute's turn would rightly compute twice.
@pytest.mark.parametrize("collection_id, res", [("hexes", 9), ("hotspots", 8)])
def test_paging_page_by_page_yields_one_unpaged_computation_in_order_computed_once(city, collection_id, res):
    PAGES.clear()
    walked, pages = _walk(collection_id, limit=7, res=res)
    assert pages > 5
    assert PAGES.stats.computed == 1 and PAGES.stats.hits == pages - 1
    assert [f["id"] for f in walked] == list(range(1, len(walked) + 1))  # in order, none twice, none missing
    unpaged = whole_layer(collection_id, Filters(res=res), EVERYTHING).features
    assert sorted(_key(f) for f in walked) == [_key(f) for f in walked] == sorted(_key(f) for f in unpaged)
    by_key = {_key(f): f for f in unpaged}
    for feature in walked:
        expected = {k: v for k, v in by_key[_key(feature)]["properties"].items() if k != "tooltip"}
        assert feature["properties"] == expected


def test_one_feature_by_id_is_a_slice_of_the_same_computation(city):
    PAGES.clear()
    whole, _ = ogc.items("hexes", _args(limit=1000), EVERYTHING, BASE)
    one, _ = ogc.item("hexes", "3", {}, EVERYTHING, BASE)
    assert one["properties"] == whole["features"][2]["properties"]
    assert PAGES.stats.computed == 1 and PAGES.stats.hits == 1


def test_the_incidents_are_counted_once_and_the_count_given_where_clients_read_it(city, conn):
    PAGES.clear()
    total = conn.execute("SELECT count(*) FROM shiyu.incident").fetchone()[0]
    args, ids, pages = _args(limit=100), [], 0
    while args is not None:
        doc, _ = ogc.items("incidents", args, EVERYTHING, BASE)
        # on the first page, where QGIS and GDAL read it; a page that follows a cursor leaves it out
        assert doc.get("numberMatched") == (total if pages == 0 else None)
        ids += [f["id"] for f in doc["features"]]
        args, pages = _next(doc), pages + 1
    assert len(ids) == len(set(ids)) == total and pages == -(-total // 100)
    assert PAGES.stats.computed == 1 and PAGES.stats.hits == 0
    again, _ = ogc.items("incidents", _args(limit=1), EVERYTHING, BASE)  # QGIS's featureCount(): limit=1
    assert again["numberMatched"] == total and PAGES.stats.computed == 1 and PAGES.stats.hits == 1


def test_no_answer_is_shared_between_scopes_or_roles(city):
    PAGES.clear()
    readers = [(EVERYTHING, "commander"), (C1, "commander"), (EVERYTHING, "viewer"), (C1, "officer")]
    answers = {}
    for _ in range(2):
        for scope, role in readers:
            with db.scoped(scope):
                answers[scope.path, role], _ = _walk("hexes", scope, role, limit=1000, res=7)
    assert PAGES.stats.computed == len(readers) and PAGES.stats.hits == len(readers)
    city_cells = {f["properties"]["h3"] for f in answers[None, "commander"]}
    c1_cells = {f["properties"]["h3"] for f in answers["C.C1", "commander"]}
    assert c1_cells < city_cells
    assert all(f["properties"]["grid_code"].startswith("C1") for f in answers["C.C1", "officer"])
    assert answers["C.C1", "officer"] == answers["C.C1", "commander"]  # the same data, computed for each role


def test_requests_for_the_same_missing_page_at_once_compute_it_once(city):
    PAGES.clear()
    asked = 6
    barrier, docs, errors = threading.Barrier(asked), [], []

    def ask():
        barrier.wait(30)
        try:
            docs.append(ogc.items("hotspots", _args(limit=50, res=8), EVERYTHING, BASE)[0]["features"])
        except Exception as error:  # the assertion below shows it
            errors.append(error)

    threads = [threading.Thread(target=ask) for _ in range(asked)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == [] and len(docs) == asked and all(d == docs[0] for d in docs)
    assert PAGES.stats.computed == 1 and PAGES.stats.shared + PAGES.stats.hits == asked - 1


def test_the_cache_holds_no_more_than_shiyu_cache_mb(city, monkeypatch):
    PAGES.clear()
    one, _ = _walk("hexes", limit=1000, res=7)
    size = PAGES.bytes
    limit_mb = 1.5 * size / 2**20  # room for the city's r7 hexes, not for them and their disputes too
    monkeypatch.setenv("SHIYU_CACHE_MB", str(limit_mb))
    reload()
    PAGES.clear()
    try:
        _walk("hexes", limit=1000, res=7)
        assert PAGES.bytes == size and len(PAGES) == 1
        disputes, _ = _walk("hexes", limit=1000, res=7, category="dispute")
        assert size / 2 < PAGES.bytes <= limit_mb * 2**20 and PAGES.stats.evicted == 1 and len(PAGES) == 1
        again, _ = _walk("hexes", limit=1000, res=7)
        assert again == one and PAGES.stats.computed == 3  # it had been dropped, so it was computed again
        monkeypatch.setenv("SHIYU_CACHE_MB", "0")
        reload()
        PAGES.clear()
        _walk("hexes", limit=5, res=7)
        assert len(PAGES) == 0 and PAGES.stats.computed > 4  # nothing kept: every page computed its layer
    finally:
        monkeypatch.undo()
        reload()


def test_a_load_between_pages_moves_the_version_and_the_next_page_is_of_the_new_data(city, tmp_path):
    """Runs last in this module: it adds incidents to the city."""
    PAGES.clear()
    _, _, now = city
    first, _ = ogc.items("hexes", _args(limit=3, res=7), EVERYTHING, BASE)
    version, counted = first["dataVersion"], first["numberMatched"]
    before = sum(f["properties"]["count"] for f in _walk("hexes", limit=1000, res=7)[0])
    moment = f"{now - timedelta(hours=1):%Y-%m-%d %H:%M:%S}"
    rows = [[f"P{k}", "纠纷", moment, 120.012, 30.012] for k in range(40)]  # one new corner of the city, 40 times
    load_incidents(write_csv(tmp_path / "more.csv", rows), source="pages", reject_file=tmp_path / "r.csv")
    assert data_version() == version + 1
    second, _ = ogc.items("hexes", _next(first), EVERYTHING, BASE)
    assert second["dataVersion"] == version + 1 and "the data changed since the previous page" in second["dataChanged"]
    whole, _ = ogc.items("hexes", _args(limit=1000, res=7), EVERYTHING, BASE)
    assert second["features"] == whole["features"][3:6] and "dataChanged" not in whole
    assert sum(f["properties"]["count"] for f in whole["features"]) == before + 40
    assert whole["numberMatched"] >= counted
    following = _next(second)
    assert following["version"] == [str(version + 1)]  # the links go on from the new data
    third, _ = ogc.items("hexes", following, EVERYTHING, BASE)
    assert "dataChanged" not in third and third["features"] == whole["features"][6:9]
    assert PAGES.stats.computed == 2  # once per version
