"""Who may reach what, on the served dashboard with logins on: every registered route and every registered callback
walked with no credential, a person's session, an API token, a display token (as Bearer and as the session
``/wall?token=`` opens) and a feed's token; a route or wall callback added later without a decision in ``dashboard/purposes.py``
fails here. And a malformed callback body is a 400 with one line, whoever sends it."""

from __future__ import annotations

import pytest
import requests

from geodata import feeds, users
from tests.dashboard.test_login import _login
from tests.serving import people_served

UPDATE = "/_dash-update-component"
NONE, SESSION, API, DISPLAY, DISPLAY_BEARER, FEED = "none", "session", "api", "display", "display bearer", "feed"
EVERYONE = {NONE, SESSION, API, DISPLAY, DISPLAY_BEARER, FEED}
FEEDS = {FEED}
PEOPLE = {SESSION}
SCREENS = {SESSION, DISPLAY, DISPLAY_BEARER}
MACHINES = {SESSION, API}
NOBODY: set[str] = set()

# Every route of the server, one address each (two for the page route), and who may reach it.
ROUTES = [
    ("/login", "/login", "GET", EVERYONE), ("/logout", "/logout", "GET", EVERYONE),
    ("/_favicon.ico", "/_favicon.ico", "GET", EVERYONE), ("/assets/<path:filename>", "/assets/style.css", "GET", EVERYONE),
    ("/_dash-component-suites/<string:package_name>/<path:fingerprinted_path>",
     "/_dash-component-suites/dash/dcc/dash_core_components.js", "GET", EVERYONE),
    ("/static/<path:filename>", "/static/x.css", "GET", NOBODY),
    ("/", "/", "GET", PEOPLE), ("/<path:path>", "/export", "GET", PEOPLE), ("/<path:path>", "/wall", "GET", SCREENS),
    ("/<path:path>", "/wall/rank", "GET", SCREENS), ("/<path:path>", "/rank", "GET", PEOPLE),
    ("/_dash-layout", "/_dash-layout", "GET", SCREENS), ("/_dash-dependencies", "/_dash-dependencies", "GET", SCREENS),
    ("/_reload-hash", "/_reload-hash", "GET", SCREENS),
    ("/_dash-update-component", "/_dash-update-component", "POST", MACHINES),  # a callback of explore; the rest below
    ("/ogc", "/ogc", "GET", MACHINES), ("/ogc/api", "/ogc/api", "GET", MACHINES),
    ("/ogc/conformance", "/ogc/conformance", "GET", MACHINES), ("/ogc/collections", "/ogc/collections", "GET", MACHINES),
    ("/ogc/collections/<collection_id>", "/ogc/collections/incidents", "GET", MACHINES),
    ("/ogc/collections/<collection_id>/queryables", "/ogc/collections/incidents/queryables", "GET", MACHINES),
    ("/ogc/collections/<collection_id>/items", "/ogc/collections/incidents/items?limit=5", "GET", MACHINES),
    ("/ogc/collections/<collection_id>/items/<path:feature_id>", "/ogc/collections/incidents/items/1", "GET", MACHINES),
    ("/open311/v2/services.json", "/open311/v2/services.json", "GET", MACHINES),
    ("/open311/v2/requests.json", "/open311/v2/requests.json", "GET", MACHINES),
    ("/open311/v2/requests/<path:request_id>.json", "/open311/v2/requests/1.json", "GET", MACHINES),
    ("/open311/v2/discovery.json", "/open311/v2/discovery.json", "GET", MACHINES),
    ("/open311/v2/services/<code>.json", "/open311/v2/services/dispute.json", "GET", MACHINES),
    ("/open311/v2/servicerequestupdates.json", "/open311/v2/servicerequestupdates.json", "GET", MACHINES),
    ("/open311/v2/requests.json", "/open311/v2/requests.json", "POST", FEEDS),
    ("/open311/v2/servicerequestupdates.json", "/open311/v2/servicerequestupdates.json", "POST", FEEDS),
    ("/open311/v2/tokens/<token>.json", "/open311/v2/tokens/1.o311-x.json", "GET", FEEDS),
    ("/open311/v2/<path:rest>", "/open311/v2/requests.xml", "GET", EVERYONE - {NONE}),  # a 406 (404), never a page
    ("/tiles/<layer>/<z>/<x>/<y>.pbf", "/tiles/incidents/8/213/105.pbf", "GET", MACHINES),
    ("/tiles/<layer>.json", "/tiles/incidents.json", "GET", MACHINES),
    ("/tiles/", "/tiles/", "GET", MACHINES), ("/tiles/<path:rest>", "/tiles/elsewhere", "GET", MACHINES),
    ("/export/file/<key>", "/export/file/" + "0" * 32, "GET", MACHINES),
    ("/brief/<code>.pdf", "/brief/C1.pdf?week=2026-W40", "GET", MACHINES),
    ("/api/v1/incidents", "/api/v1/incidents", "POST", FEEDS), ("/api/v1/posts/<int:post_id>", "/api/v1/posts/1", "GET", FEEDS),
]
# The wall page's own callbacks, by the first of their outputs.
WALL_CALLBACKS = {"wall-kpi-today.children", "wall-trend.figure", "wall-districts-layer.data", "wall-map.viewport",
                  "wall-changed.data", "wall-kpi-yellow.children", "wall-rank-table.children"}
WALL_VALUES = {"wall-extent.data": [120.0, 30.0, 120.4, 30.4], "wall-lang.data": "en", "wall-interval.n_intervals": 1,
               "wall-rotate.data": False, "wall-districts.data": []}


@pytest.fixture(scope="module")
def reach(database_url, tmp_path_factory):
    """The city served with logins on; the app's own routes and callbacks; and a request maker per credential."""
    from dashboard.app import create_app

    with people_served(database_url, tmp_path_factory.mktemp("reach")) as site:
        app = create_app()
        screen = requests.Session()
        assert screen.get(f"{site}/wall?token={users.create_token('cora', display=True)}", timeout=30).status_code == 200
        credentials = {NONE: (requests.Session(), {}), SESSION: (_login(site, "cora")[0], {}),
                       API: (requests.Session(), {"Authorization": f"Bearer {users.create_token('cora')}"}),
                       DISPLAY: (screen, {}),
                       FEED: (requests.Session(), {"Authorization": f"Bearer {feeds.add_feed('reachfeed')}"}),
                       DISPLAY_BEARER: (requests.Session(), {"Authorization": f"Bearer {users.create_token('cora', display=True)}"})}
        yield site, app, credentials


def _ask(reach, credential: str, method: str, path: str, body=None) -> requests.Response:
    site, _, credentials = reach
    session, headers = credentials[credential]
    return session.request(method, f"{site}{path}", json=body, headers=headers, allow_redirects=False, timeout=120)


def _refused(credential: str, response: requests.Response) -> bool:
    if credential == NONE:
        where = response.headers.get("Location", "")
        return response.status_code == 401 or where == "/login" or where.startswith("/login?next=")
    if response.status_code == 302 and response.headers["Location"] == "/wall":  # a screen is sent to its wall
        return credential in (DISPLAY, DISPLAY_BEARER)
    return response.status_code == 403 and ("not allowed" in response.text or "无权访问" in response.text)


def _callback_body(key: str, cb: dict, values: dict | None = None) -> dict:
    """A request for the callback ``key`` as dash-renderer makes it, from the app's own callback map."""
    values = values or {}

    def item(spec: dict) -> dict:
        return {**spec, "value": values.get(f"{spec['id']}.{spec['property']}")}

    def output(text: str) -> dict:
        component, prop = text.rsplit(".", 1)
        return {"id": component, "property": prop}

    outputs = [output(o) for o in key[2:-2].split("...")] if key.startswith("..") else output(key)
    inputs = [item(i) for i in cb["inputs"]]
    return {"output": key, "outputs": outputs, "inputs": inputs, "state": [item(s) for s in cb.get("state", [])],
            "changedPropIds": [f"{inputs[0]['id']}.{inputs[0]['property']}"]}


def _first_output(key: str) -> str:
    return key.strip(".").split("...")[0]


def test_every_route_is_decided_and_reached_by_exactly_whom_it_is_for(reach):
    _, app, _ = reach
    assert {rule.rule for rule in app.server.url_map.iter_rules()} == {rule for rule, *_ in ROUTES}, \
        "a route without a decision: give its endpoint a purpose in dashboard/purposes.py, and a line in ROUTES"
    explore_table = next(k for k in app.callback_map if "explore-table.getRowsResponse" in k)
    for rule, path, method, allowed in ROUTES:
        body = _callback_body(explore_table, app.callback_map[explore_table]) if method == "POST" else None
        for credential in sorted({NONE} if path == "/logout" else EVERYONE):  # logging out would end the others
            response = _ask(reach, credential, method, path, body)
            assert _refused(credential, response) == (credential not in allowed), (rule, path, credential,
                                                                                  response.status_code, response.text[:200])


def test_every_callback_is_decided_by_its_id_and_only_the_walls_reach_a_screen(reach):
    from dashboard import purposes

    _, app, _ = reach
    decided = purposes.Callbacks(app)
    server_side = {k: cb for k, cb in app.callback_map.items() if cb.get("callback") is not None}
    assert {_first_output(k) for k in decided.wall()} == WALL_CALLBACKS
    router, at = decided.router()
    for key, cb in server_side.items():
        purpose = decided.purpose(purposes.parse(_callback_body(key, cb)))
        assert purpose == (purposes.WALL_CALLBACK if key in decided.wall() else purposes.CALLBACK), key
        assert purposes.may_reach(purposes.SESSION, purpose) and purposes.may_reach(purposes.API, purpose)
        assert purposes.may_reach(purposes.DISPLAY, purpose) == (key in decided.wall()), key
        if key not in decided.wall():  # over HTTP too: refused before the callback runs
            for credential in (NONE, DISPLAY, DISPLAY_BEARER, FEED):
                assert _refused(credential, _ask(reach, credential, "POST", UPDATE, _callback_body(key, cb))), key
    for key in decided.wall():
        for credential in (DISPLAY, DISPLAY_BEARER):
            response = _ask(reach, credential, "POST", UPDATE, _callback_body(key, app.callback_map[key], WALL_VALUES))
            assert response.status_code in (200, 204), (key, response.text[:300])
    wall_route = _callback_body(router, app.callback_map[router], {"_pages_location.pathname": "/wall"})
    assert decided.purpose(purposes.parse(wall_route)) == purposes.WALL_CALLBACK
    assert "wall-interval" in _ask(reach, DISPLAY, "POST", UPDATE, wall_route).text
    assert app.callback_map[router]["inputs"][at] == {"id": "_pages_location", "property": "pathname"}


def test_a_screen_that_swaps_the_routers_inputs_gets_no_other_page(reach):
    """The router's pathname is read where Dash passes it from, not from the input the client names pathname."""
    _, app, _ = reach
    router = next(k for k in app.callback_map if "_pages_content.children" in k)
    swapped = _callback_body(router, app.callback_map[router])
    swapped["inputs"] = [{"id": "_pages_location", "property": "search", "value": "/"},
                         {"id": "_pages_location", "property": "pathname", "value": "/wall"}]
    for credential in (DISPLAY, DISPLAY_BEARER):
        response = _ask(reach, credential, "POST", UPDATE, swapped)
        assert response.status_code == 403 and "explore-map" not in response.text, response.text[:200]
    explore = _ask(reach, SESSION, "POST", UPDATE, swapped)  # a person may see the explore page
    assert explore.status_code == 200 and "explore-map" in explore.text


@pytest.mark.parametrize("path", ["/ogc/collections/incidents/items?limit=1000", "/ogc/collections",
                                  "/open311/v2/requests.json", "/open311/v2/requests/hotline:H1.json",
                                  "/tiles/incidents/8/213/105.pbf", "/tiles/grids.json"])
def test_a_display_token_or_its_session_reaches_no_api(reach, path):
    for credential in (DISPLAY, DISPLAY_BEARER):
        response = _ask(reach, credential, "GET", path)
        assert response.status_code == 403 and "hotline" not in response.text, (credential, response.text[:200])
        reason = "an API is not reached with a display token"
        assert response.json() == ([{"code": 403, "description": f"not allowed: {reason}"}]  # GeoReport's error form
                                   if path.startswith("/open311/") else {"error": "not allowed", "reason": reason})
    assert _ask(reach, API, "GET", path).status_code == 200


BAD_BODIES = [
    ("a JSON array", b"[1, 2, 3]"), ("a string", b'"wall-map.viewport"'), ("a number", b"12"), ("null", b"null"),
    ("no output", b'{"outputs": {"id": "x", "property": "y"}, "inputs": []}'),
    ("no outputs", b'{"output": "wall-map.viewport", "inputs": []}'),
    ("output not text", b'{"output": 5, "outputs": {}, "inputs": []}'),
    ("inputs not a list", b'{"output": "x.y", "outputs": {}, "inputs": "x"}'),
    ("inputs of numbers", b'{"output": "x.y", "outputs": {}, "inputs": [1]}'),
    ("state not a list", b'{"output": "x.y", "outputs": {}, "inputs": [], "state": 3}'),
    ("an input without its id", b'{"output": "x.y", "outputs": {"id": "x", "property": "y"}, "inputs": [{"value": 1}]}'),
    ("a pattern input of numbers", b'{"output": "x.y", "outputs": {"id": "x", "property": "y"}, "inputs": [[1, 2]]}'),
    ("outputs without property", b'{"output": "x.y", "outputs": {"id": "x"}, "inputs": []}'),
    ("changedPropIds of lists", b'{"output": "x.y", "outputs": {"id": "x", "property": "y"}, "inputs": [], '
                                b'"changedPropIds": [[1]]}'),
    ("truncated JSON", b'{"output": "..wall-map.viewport...wall-dis'), ("not JSON", b"\xff\xfe garbage"),
    ("no such callback", b'{"output": "nothing.here", "outputs": {"id": "nothing", "property": "here"}, "inputs": []}'),
    ("a callback run in the browser", b'{"output": "wall-vh.data", "outputs": {"id": "wall-vh", "property": "data"}, '
                                      b'"inputs": [{"id": "wall-lang", "property": "data", "value": "en"}]}'),
]


def _one_line_400(response: requests.Response) -> None:
    assert response.status_code == 400, response.text[:300]
    message = response.json()["error"]
    assert "\n" not in message and len(message) < 200 and "Traceback" not in message


@pytest.mark.parametrize("case, raw", BAD_BODIES, ids=[case for case, _ in BAD_BODIES])
def test_a_malformed_callback_body_is_a_400_with_one_line(reach, case, raw):
    for credential in (SESSION, API, DISPLAY):
        site, _, credentials = reach
        session, headers = credentials[credential]
        _one_line_400(session.post(f"{site}{UPDATE}", data=raw, timeout=60,
                                   headers={**headers, "Content-Type": "application/json"}))


def test_a_callback_with_too_few_inputs_state_or_outputs_is_a_400_not_a_failure(reach):
    _, app, _ = reach
    key = next(k for k in app.callback_map if "wall-map.viewport" in k)
    body = _callback_body(key, app.callback_map[key], WALL_VALUES)
    body["inputs"] = body["inputs"][:1]
    _one_line_400(_ask(reach, DISPLAY, "POST", UPDATE, body))
    body = _callback_body(key, app.callback_map[key], WALL_VALUES)
    body["state"] = body["state"] + body["state"]
    _one_line_400(_ask(reach, SESSION, "POST", UPDATE, body))
    body = _callback_body(key, app.callback_map[key], WALL_VALUES)
    body["outputs"] = body["outputs"][:1]
    _one_line_400(_ask(reach, API, "POST", UPDATE, body))
