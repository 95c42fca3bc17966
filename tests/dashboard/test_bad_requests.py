"""Bad requests to the served dashboard are a 4xx (or a callback's message) with one line, never a 500: dates the
system does not hold, a tampered OGC cursor, a tampered wall extent, and a database that cannot be reached (a 503
that names no server internals, with Retry-After)."""

from __future__ import annotations

import json
import logging
from urllib.parse import quote

import pytest
import requests

from layers.base import FIRST_DAY, LAST_DAY
from layers.ogc.query import encode_after
from tests.dashboard.test_access import GOOD, MAP_OUTPUTS, _body, _inputs_and_state, _view
from tests.layers.tiers import CITY
from tests.serving import hotline_city, served_with

FAR_DAYS = ("9999-12-31", "0001-01-01")
WALL_PANELS = [("wall-kpi-today", "children"), ("wall-kpi-open", "children"), ("wall-kpi-overdue", "children"),
               ("wall-kpi-resolved", "children"), ("wall-kpi-patrol", "children"), ("wall-ticker", "children"),
               ("wall-new", "data"), ("wall-shown", "data"), ("wall-last-good", "data"), ("wall-since", "data"),
               ("wall-status", "children"), ("wall-status", "className"), ("wall-updated", "children")]
TICK = {"tick": 1, "version": None}  # wall-changed (and wall-heavy) as the probe or the periodic refresh writes it
WALL_MAP = [("wall-districts-layer", "data"), ("wall-districts-layer", "hideout"), ("wall-hot", "data"),
            ("wall-hot", "hideout"), ("wall-below", "data"), ("wall-facilities", "data"),
            ("wall-facilities", "hideout"), ("wall-legend", "children"), ("wall-districts", "data"),
            ("wall-map-hash", "data")]
TAMPERED_EXTENTS = ["x", 7, [1, 2], {"west": 1}, [None, None, None, None], ["a", "b", "c", "d"], [200, 0, 100, 1]]


@pytest.fixture(scope="module")
def served(database_url, tmp_path_factory):
    hotline_city(database_url, tmp_path_factory.mktemp("bad"))
    with served_with() as url:
        yield url


def _one_line(response: requests.Response, status: int, *words: str) -> str:
    """The answer's message, asserted to be ``status``, one line, no traceback, and to name ``words``."""
    assert response.status_code == status, response.text[:400]
    text = response.text
    assert "Traceback" not in text and 'File "' not in text and "\n" not in text.strip()
    for word in words:
        assert word in text, text[:400]
    return text


@pytest.mark.parametrize("day", FAR_DAYS)
@pytest.mark.parametrize("form", ["{d}", "{d}/..", "../{d}", "{d}T23:59:59Z", "{d}T00:00:00+14:00"])
def test_an_ogc_datetime_outside_the_days_held_is_a_400_naming_it(served, day, form):
    value = form.format(d=day)
    response = requests.get(f"{served}/ogc/collections/incidents/items", params={"datetime": value}, timeout=60)
    _one_line(response, 400, "datetime", str(FIRST_DAY), str(LAST_DAY))


@pytest.mark.parametrize("day", FAR_DAYS)
@pytest.mark.parametrize("key", ["start_date", "end_date"])
def test_an_open311_date_outside_the_days_held_is_a_400_naming_it(served, day, key):
    response = requests.get(f"{served}/open311/v2/requests.json", params={key: day}, timeout=60)
    _one_line(response, 400, key)


@pytest.mark.parametrize("day", FAR_DAYS)
def test_a_tile_datetime_outside_the_days_held_is_a_400(served, day):
    response = requests.get(f"{served}/tiles/incidents/10/853/418.pbf", params={"datetime": f"{day}/.."}, timeout=60)
    _one_line(response, 400, "datetime")


def test_the_last_day_held_is_still_answered(served):
    response = requests.get(f"{served}/ogc/collections/incidents/items",
                            params={"datetime": f"{FIRST_DAY}/{LAST_DAY}", "limit": 1}, timeout=60)
    assert response.status_code == 200 and response.json()["numberMatched"] >= 2


@pytest.mark.parametrize("until", ["9999-12-31T00:00:00+08:00", "0001-01-02T00:00:00+08:00"])
def test_the_table_with_an_until_outside_the_days_held_says_so(served, until):
    view = {**_view(None), "until": until}
    response = requests.post(f"{served}/_dash-update-component", timeout=60, json=_body(
        [("explore-table", "getRowsResponse"), ("explore-table-count", "children")],
        [("explore-table", "getRowsRequest", {"startRow": 0, "endRow": 100})],
        [("explore-view", "data", view), ("explore-lang", "data", "en")]))
    assert response.status_code == 200, response.text[:400]
    answer = response.json()["response"]
    assert answer["explore-table"]["getRowsResponse"]["rowData"] == []
    assert "until" in answer["explore-table-count"]["children"]


@pytest.mark.parametrize("day", FAR_DAYS)
def test_the_map_with_a_day_outside_the_days_held_says_so(served, day):
    values = list(GOOD)
    values[5] = day  # the end of the date range
    response = requests.post(f"{served}/_dash-update-component", json=_body(MAP_OUTPUTS, *_inputs_and_state(values)),
                             timeout=60)
    assert response.status_code == 200, response.text[:400]
    assert str(LAST_DAY) in response.json()["response"]["explore-notice"]["children"]


@pytest.mark.parametrize("key", [["C1\u0000", "x"], ["hotline", "H1\u0000"]])
def test_an_ogc_cursor_holding_a_nul_byte_is_a_400(served, key):
    response = requests.get(f"{served}/ogc/collections/incidents/items",
                            params={"after": encode_after(tuple(key))}, timeout=60)
    _one_line(response, 400, "after")


def test_an_ogc_cursor_with_a_raw_nul_byte_is_a_400(served):
    response = requests.get(f"{served}/ogc/collections/incidents/items?after=abc%00def", timeout=60)
    _one_line(response, 400, "after")


def _wall(base: str, outputs, inputs, state) -> requests.Response:
    return requests.post(f"{base}/_dash-update-component", json=_body(outputs, inputs, state), timeout=60)


@pytest.mark.parametrize("extent", TAMPERED_EXTENTS)
def test_a_tampered_wall_extent_is_refused_in_words(served, extent):
    panels = _wall(served, WALL_PANELS, [("wall-changed", "data", TICK)],
                   [("wall-lang", "data", "en"), ("wall-extent", "data", extent), ("wall-last-good", "data", None),
                    ("wall-since", "data", None)])
    assert panels.status_code == 200, panels.text[:400]
    assert "extent" in panels.json()["response"]["wall-status"]["children"]
    wall_map = _wall(served, WALL_MAP, [("wall-heavy", "data", TICK)],
                     [("wall-lang", "data", "en"), ("wall-extent", "data", extent), ("wall-map-hash", "data", None)])
    assert wall_map.status_code in (200, 204), wall_map.text[:400]
    assert wall_map.status_code == 204 or wall_map.json()["response"] == {}  # the map as it was
    view = _wall(served, [("wall-map", "viewport"), ("wall-district-name", "children")],
                 [("wall-interval", "n_intervals", 1), ("wall-districts", "data", [])],
                 [("wall-rotate", "data", False), ("wall-extent", "data", extent), ("wall-lang", "data", "en")])
    assert view.status_code in (204, 400), view.text[:400]


def test_the_wall_with_its_own_extent_still_refreshes(served, conn):
    today = conn.execute("SELECT count(*) FROM shiyu.incident WHERE (reported_at AT TIME ZONE 'Asia/Shanghai')::date"
                         " = (now() AT TIME ZONE 'Asia/Shanghai')::date").fetchone()[0]
    panels = _wall(served, WALL_PANELS, [("wall-changed", "data", TICK)],
                   [("wall-lang", "data", "en"), ("wall-extent", "data", list(CITY)), ("wall-last-good", "data", None),
                    ("wall-since", "data", None)])
    assert panels.status_code == 200
    assert panels.json()["response"]["wall-kpi-today"]["children"] == f"{today:,}"


# ---- the database away ----

DOWN = "/tmp/shiyu-no-such-socket-dir"


@pytest.fixture(scope="module")
def outage(database_url):
    """The dashboard served against a database that is not there (a socket folder that does not exist)."""
    from geodata import db

    url = f"postgresql://shiyu@/shiyu?host={DOWN}&port=5999"
    db.close_pool()  # the pools of the served city would still reach it
    with served_with({"DATABASE_URL": url, "SHIYU_APP_DATABASE_URL": url.replace("shiyu@", "shiyu_app@")}) as base:
        yield base


@pytest.mark.parametrize("path", ["/ogc/collections/areas-city/items", "/ogc/collections/incidents/items",
                                  "/open311/v2/requests.json", "/tiles/incidents/10/853/418.pbf"])
def test_an_outage_is_a_503_that_says_try_again_and_logs_the_detail(outage, path, caplog):
    with caplog.at_level(logging.WARNING):
        response = requests.get(f"{outage}{path}", timeout=60)
    text = _one_line(response, 503, "the database cannot be reached; try again shortly")
    assert DOWN not in text and "5999" not in text
    assert int(response.headers["Retry-After"]) > 0
    assert DOWN in caplog.text


def test_an_unexpected_callback_failure_in_an_outage_names_no_internals(outage):
    response = requests.post(f"{outage}/_dash-update-component", timeout=60, json=_body(
        [("explore-table", "getRowsResponse"), ("explore-table-count", "children")],
        [("explore-table", "getRowsRequest", {"startRow": 0, "endRow": 100})],
        [("explore-view", "data", _view(None)), ("explore-lang", "data", "en")]))
    assert response.status_code in (200, 503), response.text[:400]
    assert DOWN not in response.text and quote(DOWN) not in response.text


def test_a_token_checked_in_an_outage_is_a_503_with_retry_after_naming_no_internals(database_url):
    from geodata import db

    url = f"postgresql://shiyu@/shiyu?host={DOWN}&port=5999"
    db.close_pool()
    with served_with({"SHIYU_AUTH": "on", "SHIYU_SECRET_KEY": "outage-test-key", "DATABASE_URL": url,
                      "SHIYU_APP_DATABASE_URL": url.replace("shiyu@", "shiyu_app@")}) as base:
        response = requests.get(f"{base}/ogc/collections", timeout=60,
                                headers={"Authorization": "Bearer shiyu_" + "x" * 43})
    text = _one_line(response, 503, "the database cannot be reached; try again shortly")
    assert DOWN not in text and int(response.headers["Retry-After"]) > 0


# ---- found by tests/dashboard/test_garbage.py ----

@pytest.mark.parametrize("path", ["/ogc/collections/%00/items", "/ogc/collections/areas-city/items/%00",
                                  "/open311/v2/requests/%00.json", "/tiles/incidents/0/0/%00.pbf", "/wall%00"])
def test_a_nul_byte_in_the_path_is_a_400(served, path):
    _one_line(requests.get(f"{served}{path}", timeout=60), 400, "NUL")


def test_a_script_dash_does_not_serve_is_a_404(served):
    response = requests.get(f"{served}/_dash-component-suites/dash/x", timeout=60)
    assert response.status_code == 404, response.text[:300]


@pytest.mark.parametrize("output", ["wall-vh.data", "explore-table-purged.data", "_pages_dummy.children"])
def test_a_body_naming_a_callback_the_browser_runs_is_a_400(served, output):
    component, prop = output.split(".")
    response = requests.post(f"{served}/_dash-update-component", timeout=60, json={
        "output": output, "outputs": {"id": component, "property": prop},
        "inputs": [{"id": "wall-lang", "property": "data", "value": "en"}], "state": [], "changedPropIds": []})
    _one_line(response, 400, output)  # refused by dashboard.access, which checks every body's callback


@pytest.mark.parametrize("pathname", [0, ["/"], "", "zh-CN"])
def test_the_page_router_given_a_path_not_of_this_site_is_a_400(served, pathname):
    response = requests.post(f"{served}/_dash-update-component", timeout=60, json=_body(
        [("_pages_content", "children"), ("_pages_store", "data")],
        [("_pages_location", "pathname", pathname), ("_pages_location", "search", "")], []))
    _one_line(response, 400, "pathname")


def test_the_page_router_still_routes(served):
    response = requests.post(f"{served}/_dash-update-component", timeout=60, json=_body(
        [("_pages_content", "children"), ("_pages_store", "data")],
        [("_pages_location", "pathname", "/wall"), ("_pages_location", "search", "?lang=en")], []))
    assert response.status_code == 200 and "wall-extent" in response.text


@pytest.mark.parametrize("area", [0, {"code": "C1"}, ["C1"], "C1\x00"])
def test_flying_to_an_area_that_is_not_a_code_leaves_the_map_where_it_is(served, area):
    response = requests.post(f"{served}/_dash-update-component", timeout=60, json=_body(
        [("explore-map", "viewport")], [("explore-area", "data", area)], []) | {
        "output": "explore-map.viewport", "outputs": {"id": "explore-map", "property": "viewport"}})
    assert response.status_code in (200, 204), response.text[:300]
    assert response.status_code == 204 or response.json()["response"] == {}


def test_an_area_cascade_without_its_four_levels_is_a_400(served):
    level = {"type": "explore-level", "tier": "district"}
    body = {"output": "..explore-area.data...{\"tier\":[\"ALL\"],\"type\":\"explore-level\"}.options..."
                      "{\"tier\":[\"ALL\"],\"type\":\"explore-level\"}.value...{\"tier\":[\"ALL\"],\"type\":"
                      "\"explore-level\"}.disabled..",
            "outputs": [{"id": "explore-area", "property": "data"}, [], [], []],
            "inputs": [[{"id": level, "property": "value", "value": "C1"}], [],
                       {"id": "explore-hexes", "property": "clickData", "value": None}],
            "state": [{"id": "explore-area", "property": "data", "value": None}],
            "changedPropIds": [json.dumps(level, separators=(",", ":"), sort_keys=True) + ".value"]}
    _one_line(requests.post(f"{served}/_dash-update-component", json=body, timeout=60), 400, "levels")


@pytest.mark.parametrize("districts", ["x", [1], [{"name": "C1", "bbox": "x"}]])
def test_tampered_wall_districts_are_a_400_in_one_line(served, districts):
    response = _wall(served, [("wall-map", "viewport"), ("wall-district-name", "children")],
                     [("wall-interval", "n_intervals", 3), ("wall-districts", "data", districts)],
                     [("wall-rotate", "data", True), ("wall-extent", "data", list(CITY)), ("wall-lang", "data", "en")])
    _one_line(response, 400, "district")
