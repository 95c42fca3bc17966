"""The served dashboard, scoped by SHIYU_SCOPE (until logins arrive) and held to it by the database.

Callbacks are called the way the browser calls them, a JSON POST to /_dash-update-component, with a view
tampered with to ask for the other district.
"""

from __future__ import annotations

import json
from urllib.request import Request, urlopen

import pytest
import requests

from geodata.errors import InputError
from geodata.settings import reload
from tests.serving import hotline_city, served_with
from tests.layers.tiers import CITY


@pytest.fixture(scope="module")
def served_c1(database_url, tmp_path_factory):
    """The five-tier city served with every request scoped to district C1."""
    hotline_city(database_url, tmp_path_factory.mktemp("access"))
    with served_with({"SHIYU_SCOPE": "C.C1"}) as url:
        yield url


def _call(base: str, outputs: list[tuple[str, str]], inputs: list[tuple[str, str, object]],
          state: list[tuple[str, str, object]]) -> dict:
    """One callback, as dash-renderer asks for it; returns {component id: {property: value}}."""
    body = {
        "output": ".." + "...".join(f"{i}.{p}" for i, p in outputs) + "..",
        "outputs": [{"id": i, "property": p} for i, p in outputs],
        "inputs": [{"id": i, "property": p, "value": v} for i, p, v in inputs],
        "state": [{"id": i, "property": p, "value": v} for i, p, v in state],
        "changedPropIds": [f"{inputs[0][0]}.{inputs[0][1]}"],
    }
    request = Request(f"{base}/_dash-update-component", data=json.dumps(body).encode(),
                      headers={"Content-Type": "application/json"})
    with urlopen(request, timeout=60) as response:
        return json.loads(response.read())["response"]


MAP_OUTPUTS = [("explore-hexes", "data"), ("explore-hexes", "hideout"), ("explore-grids", "data"),
               ("explore-legend", "children"), ("explore-stats", "children"), ("explore-notice", "children"),
               ("explore-hexes", "style"), ("explore-points", "data"), ("explore-points", "hideout"),
               ("explore-view", "data"), ("explore-tiles", "data"), ("explore-shown", "data")]
MAP_INPUTS = [("explore-moved", "data"), ("explore-res", "value"), ("explore-layer", "value"),
              ("explore-area", "data"), ("explore-dates", "start_date"), ("explore-dates", "end_date"),
              ("explore-categories", "value"), ("explore-severities", "value"), ("explore-statuses", "value"),
              ("explore-changed", "data")]
MAP_STATE = [("explore-lang", "data"), ("explore-extent", "data"), ("explore-tiers", "data"), ("explore-map", "zoom")]
GOOD = [{"bounds": [[30.0, 120.0], [30.4, 120.4]], "zoom": 11}, "auto", "hexes", None, None, None, [], [], [], None, "en",
        list(CITY), ["city", "district", "street", "community", "grid"], 11]


def _inputs_and_state(values: list) -> tuple[list, list]:
    """The map callback's inputs and state, as ``_call`` takes them, from one value each (``GOOD``'s order)."""
    inputs, state = values[:len(MAP_INPUTS)], values[len(MAP_INPUTS):]
    return ([(i, p, v) for (i, p), v in zip(MAP_INPUTS, inputs)], [(i, p, v) for (i, p), v in zip(MAP_STATE, state)])


def _view(area_code: str | None) -> dict:
    return {"layer": "hexes", "bbox": list(CITY), "zoom": 11, "res": 8, "tier": "grid", "area_code": area_code,
            "since": None, "until": None, "categories": [], "severities": [], "statuses": []}


def _table(base: str, area_code: str | None) -> dict:
    return _call(base, [("explore-table", "getRowsResponse"), ("explore-table-count", "children")],
                 [("explore-table", "getRowsRequest", {"startRow": 0, "endRow": 100})],
                 [("explore-view", "data", _view(area_code)), ("explore-lang", "data", "en")])


def _c1_incidents(conn) -> int:
    return conn.execute("SELECT count(*) FROM shiyu.incident WHERE path <@ 'C.C1'").fetchone()[0]


def test_the_table_of_the_whole_view_holds_only_the_scope(served_c1, conn):
    response = _table(served_c1, None)
    rows = response["explore-table"]["getRowsResponse"]["rowData"]
    assert rows and all(r["grid_code"].startswith("C1") for r in rows)
    assert response["explore-table"]["getRowsResponse"]["rowCount"] == _c1_incidents(conn)
    users = {u for (u,) in conn.execute("SELECT DISTINCT usename FROM pg_stat_activity WHERE datname = 'shiyu'")}
    assert "shiyu_app" in users  # the app's pool: the request ran as the role row security holds


def test_a_tampered_area_outside_the_scope_gets_a_message_and_no_rows(served_c1, conn):
    assert conn.execute("SELECT count(*) FROM shiyu.incident WHERE path <@ 'C.C2'").fetchone()[0] > 0
    response = _table(served_c1, "C2")
    assert response["explore-table"]["getRowsResponse"]["rowData"] == []
    assert response["explore-table-count"]["children"] == "there is no area 'C2' in your scope"


def test_the_map_refuses_a_tampered_area_in_words(served_c1):
    values = list(GOOD)
    values[3] = "C2"  # the area
    response = _call(served_c1, MAP_OUTPUTS, *_inputs_and_state(values))
    assert response == {"explore-notice": {"children": "there is no area 'C2' in your scope"}}
    values[3] = None
    hexes = _call(served_c1, MAP_OUTPUTS, *_inputs_and_state(values))["explore-hexes"]["data"]["features"]
    assert hexes and all(f["properties"]["grid_code"].startswith("C1") for f in hexes)


def test_a_malformed_scope_is_refused_when_the_app_is_built(monkeypatch, database_url):
    from dashboard.app import create_app

    monkeypatch.setenv("SHIYU_SCOPE", "C.C1; DROP TABLE x")
    reload()
    try:
        with pytest.raises(InputError):
            create_app()
    finally:
        monkeypatch.undo()  # back to what it was: the module's served app is scoped to C1
        reload()


def _post(base: str, body: dict) -> tuple[int, str]:
    from urllib.error import HTTPError

    request = Request(f"{base}/_dash-update-component", data=json.dumps(body).encode(),
                      headers={"Content-Type": "application/json"})
    try:
        with urlopen(request, timeout=60) as response:
            return response.status, response.read().decode()
    except HTTPError as error:
        return error.code, error.read().decode()


def _map_body(values: list) -> dict:
    return _body(MAP_OUTPUTS, *_inputs_and_state(values))


ODD_VALUES = [None, "", "abc", -1, 1e308, float("nan"), [], {}, [[1]], [["a", "b"], ["c", "d"]], "C2", "x' OR 1=1--",
              "2026-13-45", ["dispute", 3], [None], {"$ne": 1}, "\u0000"]


@pytest.mark.parametrize("position", range(len(GOOD)))
@pytest.mark.parametrize("odd", range(len(ODD_VALUES)))
def test_a_tampered_map_request_gets_an_answer_never_an_error_page(served_c1, position, odd):
    """Any one input of the map callback replaced by junk: a 200 (or Dash's 204, nothing to update), no internals."""
    values = list(GOOD)
    values[position] = json.loads(json.dumps(ODD_VALUES[odd]))  # NaN travels as JSON does
    status, text = _post(served_c1, _map_body(values))
    assert status in (200, 204), text[:500]
    assert "Traceback" not in text and "psycopg" not in text and 'File "' not in text
    if status == 200:
        features = json.loads(text)["response"].get("explore-hexes", {}).get("data", {}).get("features", [])
        assert all(str(f["properties"].get("grid_code") or "C1").startswith("C1") for f in features)


def _body(outputs, inputs, state) -> dict:
    return {"output": ".." + "...".join(f"{i}.{p}" for i, p in outputs) + "..",
            "outputs": [{"id": i, "property": p} for i, p in outputs],
            "inputs": [{"id": i, "property": p, "value": v} for i, p, v in inputs],
            "state": [{"id": i, "property": p, "value": v} for i, p, v in state],
            "changedPropIds": [f"{inputs[0][0]}.{inputs[0][1]}"]}


def _no_internals(status: int, text: str) -> None:
    assert status in (200, 204), text[:500]
    assert "Traceback" not in text and "psycopg" not in text and 'File "' not in text


@pytest.mark.parametrize("key", ["layer", "bbox", "zoom", "res", "tier", "area_code", "since", "until", "categories",
                                 "severities", "statuses", None])
@pytest.mark.parametrize("odd", range(len(ODD_VALUES)))
def test_a_tampered_view_gets_the_table_and_the_panel_an_answer_never_an_error_page(served_c1, key, odd):
    view = _view("C1") if key else ODD_VALUES[odd]
    if key:
        view[key] = json.loads(json.dumps(ODD_VALUES[odd]))
    status, text = _post(served_c1, _body(
        [("explore-table", "getRowsResponse"), ("explore-table-count", "children")],
        [("explore-table", "getRowsRequest", {"startRow": 0, "endRow": 100, "sortModel": ODD_VALUES[odd]})],
        [("explore-view", "data", view), ("explore-lang", "data", ODD_VALUES[odd])]))
    _no_internals(status, text)
    if status == 200:
        rows = json.loads(text)["response"].get("explore-table", {}).get("getRowsResponse", {}).get("rowData", [])
        assert all(r["grid_code"].startswith("C1") for r in rows)
    for clicked in ("explore-hexes.clickData", "explore-table.cellClicked"):
        body = _body([("explore-detail", "children"), ("explore-focus", "data")],
                     [("explore-view", "data", view),
                      ("explore-hexes", "clickData", {"properties": {"h3": ODD_VALUES[odd]}}),
                      ("explore-table", "cellClicked", {"data": {"id": ODD_VALUES[odd]}, "value": ODD_VALUES[odd]})],
                     [("explore-focus", "data", ODD_VALUES[odd]), ("explore-lang", "data", "en")])
        status, text = _post(served_c1, {**body, "changedPropIds": [clicked]})
        _no_internals(status, text)


def test_a_malformed_callback_body_is_a_400_with_one_line_without_logins_too(served_c1):
    from tests.dashboard.test_reach import BAD_BODIES, _one_line_400

    for _case, raw in BAD_BODIES:
        _one_line_400(requests.post(f"{served_c1}/_dash-update-component", data=raw, timeout=60,
                                    headers={"Content-Type": "application/json"}))
    assert _table(served_c1, None)["explore-table"]["getRowsResponse"]["rowData"]
