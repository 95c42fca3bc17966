"""Cost ceilings and per-user limits, against the served dashboard and the five-tier city (0.4° square, ~1,540 km²).

A refusal must come before the expensive work: the tests hold ``shiyu.area_cell`` (the study area's and the hex
map's grid lookup) under an exclusive lock, so any request that reached the work would wait for it and end in the
statement timeout's message instead of the limit's.
"""

from __future__ import annotations

import json
import threading
from contextlib import contextmanager
from urllib.error import HTTPError
from urllib.request import Request, urlopen

import pytest

from geodata import db
from layers import limits
from layers.limits import CELLS, Limit
from layers.ogc.pages import PAGES
from tests.serving import hotline_city, served_with


@pytest.fixture(scope="module")
def city(database_url, tmp_path_factory):
    hotline_city(database_url, tmp_path_factory.mktemp("limits"))
    return database_url


def _get(url: str) -> tuple[int, dict, dict]:
    try:
        with urlopen(Request(url), timeout=120) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read())


@contextmanager
def _locked(database_url: str, table: str):
    """``table`` under an ACCESS EXCLUSIVE lock held by another connection for the block."""
    with db.connect(database_url) as conn:
        conn.execute(f"LOCK TABLE shiyu.{table} IN ACCESS EXCLUSIVE MODE")
        try:
            yield conn
        finally:
            conn.rollback()


def test_city_wide_r10_hot_spots_are_refused_with_a_way_to_narrow_before_the_study_area_is_read(city):
    with served_with() as base, _locked(city, "area_cell"):
        status, _, doc = _get(f"{base}/ogc/collections/hotspots/items?res=10")
    assert status == 400, doc
    assert "the hotspots layer would hold about" in doc["description"] and "H3 r10 cells" in doc["description"]
    assert "more than its limit of 60,000" in doc["description"]
    assert "coarser H3 resolution" in doc["description"] and "pick an area" in doc["description"]


def test_a_hex_map_over_its_limit_is_refused_before_its_cells_are_counted_and_named(city):
    tight = {**limits.LIMITS, "hexes": Limit(CELLS, 1_000, 400)}  # the city's 3,000 incidents fill ~2,900 r10 cells
    with served_with(attributes=[(limits, "LIMITS", tight)]) as base, _locked(city, "area_cell"):
        status, _, doc = _get(f"{base}/ogc/collections/hexes/items?res=10")
    assert status == 400, doc
    assert doc["description"] == ("the hexes layer would hold more than its limit of 1,000 H3 r10 cells here; "
                                  "zoom in, choose a coarser H3 resolution, or pick an area")


@pytest.mark.parametrize("layer", ["areas", "hexes", "hotspots", "coverage", "facilities"])  # the OGC API's layers
def test_the_whole_city_at_r8_is_still_answered_by_every_layer(city, layer):
    collection = "areas-grid" if layer == "areas" else layer
    with served_with() as base:
        res = "&res=8" if limits.LIMITS[layer].counts == CELLS else ""
        status, _, doc = _get(f"{base}/ogc/collections/{collection}/items?limit=5{res}")
    assert status == 200, doc
    assert doc["type"] == "FeatureCollection"


def test_a_users_requests_past_the_concurrency_limit_are_answered_429_with_retry_after(city):
    answers: list[int] = []
    PAGES.clear()  # the first request must do its work, not find the layer kept by an earlier test
    with served_with({"SHIYU_USER_CONCURRENCY": "1"}) as base:
        with _locked(city, "area_cell") as holder:
            first = threading.Thread(target=lambda: answers.append(_get(f"{base}/ogc/collections/hotspots/items?res=8")[0]))
            first.start()
            _wait_for_lock_waiter(holder, first)  # the first request is now running, held by the lock
            status, headers, doc = _get(f"{base}/ogc/collections")
        first.join(timeout=120)
    assert status == 429, doc
    assert int(headers["Retry-After"]) >= 1
    assert "at most 1 at once" in doc["reason"]
    assert answers == [200]  # the first went on once the lock was gone


def _wait_for_lock_waiter(conn, request: threading.Thread) -> None:
    """Until some other backend waits for a lock, or ``request`` has ended (no clock: it polls the server's view)."""
    while request.is_alive() and not conn.execute("SELECT count(*) FROM pg_locks WHERE NOT granted").fetchone()[0]:
        conn.execute("SELECT pg_sleep(0.05)")


def test_a_user_past_the_rate_limit_is_answered_429_and_told_how_long_to_wait(city):
    with served_with({"SHIYU_USER_RATE_PER_MIN": "1"}) as base:
        first, _, _ = _get(f"{base}/ogc/collections")
        status, headers, doc = _get(f"{base}/ogc/collections")
    assert first == 200
    assert status == 429, doc
    assert 1 <= int(headers["Retry-After"]) <= 60
    assert "more than 1 requests a minute" in doc["reason"]


def test_a_collection_walked_page_by_page_costs_its_first_page_not_one_request_a_page(city):
    """QGIS follows ``next`` 100 features a page; at 60 requests a minute (a burst of 15) a walk of 40 pages passes,
    while 20 first pages in a row, each a request the layer may compute anew, do not."""
    from dashboard import limits as user_limits

    with served_with({"SHIYU_USER_RATE_PER_MIN": "60"}, [(user_limits, "LIMITER", user_limits.Limiter())]) as base:
        status, _, page = _get(f"{base}/ogc/collections/incidents/items?limit=1")
        walked = 1
        while status == 200 and walked < 40:
            link = next(link["href"] for link in page["links"] if link["rel"] == "next")
            status, _, page = _get(link)
            walked += 1
        assert (status, walked) == (200, 40)
        firsts = [_get(f"{base}/ogc/collections/hexes/items?limit={n}")[0] for n in range(1, 21)]
    assert firsts.count(429) > 0 and firsts[0] == 200


def _post(url: str, body: dict) -> tuple[int, dict, dict]:
    request = Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urlopen(request, timeout=120) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read())


def _export_call(base: str) -> dict:
    """The export page's download callback as the page sends it: hot spots of the whole city at r8, GeoPackage."""
    _, _, dependencies = _get(f"{base}/_dash-dependencies")
    callback = next(d for d in dependencies if "export-file.data" in d["output"])
    values = {"export-download.n_clicks": 1, "export-layers.value": ["hotspots"], "export-format.value": "gpkg",
              "export-crs.value": "wgs84", "export-tier.value": "grid", "export-lang.data": "en",
              "export-query.data": {"res": 8, "area": None, "since": None, "until": None, "categories": [],
                                    "severities": [], "statuses": [], "tier": "grid"}}
    def item(dep):
        return {"id": dep["id"], "property": dep["property"], "value": values.get(f"{dep['id']}.{dep['property']}")}
    return {"output": callback["output"],
            "outputs": [dict(zip(("id", "property"), part.split("."))) for part in callback["output"].strip(".").split("...")],
            "inputs": [item(d) for d in callback["inputs"]], "state": [item(d) for d in callback["state"]],
            "changedPropIds": ["export-download.n_clicks"]}


def test_a_user_runs_one_export_at_a_time_and_may_still_use_the_map_meanwhile(city):
    answers: list[int] = []
    with served_with() as base:
        body = _export_call(base)
        with _locked(city, "area_cell") as holder:
            first = threading.Thread(target=lambda: answers.append(_post(f"{base}/_dash-update-component", body)[0]))
            first.start()
            _wait_for_lock_waiter(holder, first)  # the first export is running, held by the lock
            second, headers, doc = _post(f"{base}/_dash-update-component", body)
            other, _, _ = _get(f"{base}/ogc/collections")
        first.join(timeout=120)
    assert second == 429, doc
    assert "one export at a time" in doc["reason"] and int(headers["Retry-After"]) >= 1
    assert other == 200
    assert answers == [200]


def test_a_large_request_finding_the_heavy_slots_taken_is_refused_while_small_ones_are_answered(city):
    limits.reset_heavy_slots()
    with served_with({"SHIYU_HEAVY_AT_ONCE": "1"}) as base:
        with limits.heavy_slot():  # another large request is running
            # ~21,000 r9 cells: about 11 MB of hot spots, heavy; at r8 ~3,000 cells, not
            large, _, doc = _get(f"{base}/ogc/collections/hotspots/items?res=9&limit=5")
            small, _, _ = _get(f"{base}/ogc/collections/hotspots/items?res=8&limit=5")
        after, _, _ = _get(f"{base}/ogc/collections/hotspots/items?res=9&limit=5")
    limits.reset_heavy_slots()
    assert large == 400, doc
    assert doc["description"].startswith("the server is busy with other large requests; try again in a moment")
    assert small == 200 and after == 200


def test_the_export_page_hands_the_file_over_by_a_plain_get_streamed_once_not_inside_the_callback(city):
    with served_with() as base:
        status, _, answer = _post(f"{base}/_dash-update-component", _export_call(base))
        assert status == 200, answer
        url = answer["response"]["export-file"]["data"]
        assert url.startswith("/export/file/") and len(json.dumps(answer)) < 2_000  # a link, not the file
        with urlopen(f"{base}{url}", timeout=120) as response:
            headers, data = dict(response.headers), response.read()
        again, _, doc = _get(f"{base}{url}")
    assert data[:16] == b"SQLite format 3\x00"  # a GeoPackage
    assert "attachment" in headers["Content-Disposition"] and "shiyu-hotspots-" in headers["Content-Disposition"]
    assert again == 404 and "export the file again" in doc["error"]
