"""Garbage at every route and every callback of the served dashboard: no 500, and no answer slower than a bound.

The routes are the Flask server's own (``url_map``) and the callbacks Dash's (``callback_map``, the clientside
ones included: a body may name them), both read from an app built here, not listed by hand, so a new route or
callback is covered the day it is added. Hypothesis draws path segments, query strings, headers and bodies for
each route, and for each callback a body as dash-renderer posts it with every input and state replaced by a JSON
value: every one drawn (garbage, or a value the page could send), or the page's own values (read from the pages
as they are drawn) with one or two of them drawn, so that requests also get past the first check; plus malformed
bodies. Each is sent over real HTTP to the served app on a real PostGIS holding the five-tier city,
anonymously and logged in as a commander (the whole city) and an officer (district C1).

The bound is ``PER_REQUEST_S`` per request, as the client's timeout: an answer slower than it (a hang, a runaway
query) fails the test like a 500 does; it is generous, for what is checked is that nothing breaks.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from urllib.parse import quote, urlencode

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dashboard import login
from geodata import users
from layers.ogc import COLLECTIONS
from layers.ogc.query import ITEMS_KEYS, encode_after
from layers.open311 import REQUEST_KEYS
from tests.layers.tiers import CITY
from tests.serving import hotline_city, served_with

PER_REQUEST_S = 30
EXAMPLES = 12
PASSWORD = "a long pass phrase"
USERS = {"commander": ("cora", "city"), "officer": ("olga", "C1")}
ROLES = ("anonymous", *USERS)
# Logging out ends the session the other examples use: it is sent without one.
ENDS_SESSIONS = ("/logout",)
CALLBACK_PATH = "/_dash-update-component"
ROUTER_OUTPUT = ".._pages_content.children..._pages_store.data.."

ODD_TEXT = ["", " ", "..", "../..", "9999-12-31", "0001-01-01", "9999-12-31T23:59:59Z", "2026-10-01/..",
            "2026-02-30", "\x00", "a\x00b", "-1", "0", "1e309", "NaN", "C1", "C2", "C1111", "city", "incidents",
            "grids", "hexes", "x' OR 1=1--", "0,0,1,1", "120,30,120.4,30.4", "181,-91,0,0", "1000000000000",
            "9" * 40, "eyJ4IjoxfQ", encode_after(("hotline", "H1")), encode_after(("hotline", "H1\x00")),
            "/\t/evil.example", "//evil.example", "\n", "%00", "é漢字", "open,closed", "dispute,fire_safety",
            "http://www.opengis.net/def/crs/EPSG/0/4326", "EPSG:4549", "gcj02"]
QUERY_KEYS = sorted({*ITEMS_KEYS, *REQUEST_KEYS, "res", "after", "token", "next", "lang", "refresh", "rotate",
                     "layer", "since", "until", "cat", "sev", "z", "lat", "lon", "tier"})
VIEW = {"layer": "hexes", "bbox": list(CITY), "zoom": 11, "res": 8, "tier": "grid", "area_code": None,
        "since": None, "until": None, "categories": [], "severities": [], "statuses": []}
PLAUSIBLE = [None, 0, 1, 8, 11, -1, 10**20, "", "en", "zh-CN", "hexes", "hotspots", "emerging", "areas", "coverage",
             "facilities", "warnings", "auto", "C1", "C2", "C1111", "grid", "district", "2026-10-01", "9999-12-31",
             "0001-01-01", "2026-10-01T00:00:00+08:00", "9999-12-31T00:00:00+08:00", list(CITY), [200, 0, 100, 1],
             [[30.0, 120.0], [30.4, 120.4]], {"bounds": [[30.0, 120.0], [30.4, 120.4]], "zoom": 11},
             {"startRow": 0, "endRow": 100}, {"startRow": -5, "endRow": 10**12},
             {"startRow": 0, "endRow": 100, "sortModel": [{"colId": "reported_at", "sort": "asc"}]},
             ["dispute"], [3], ["reported"], ["city", "district", "street", "community", "grid"], VIEW,
             {**VIEW, "area_code": "C2"}, {**VIEW, "until": "9999-12-31T00:00:00+08:00"},
             {"points": [{"lat": 30.05, "lon": 120.05}]}, {"properties": {"h3": "88309a0000fffff"}},
             [{"name": "C1", "bbox": [120.0, 30.0, 120.2, 30.4]}], "\x00", [], {}, True]
MALFORMED_BODIES = [b"[]", b'"x"', b"{}", b"null", b"", b"\xff\xfe", b'{"output": 1}', b'{"outputs": []}',
                    b'{"output": "nope.data", "inputs": [], "state": []}',
                    b'{"output": "explore-map.viewport", "inputs": "x"}',
                    b'{"output": "explore-map.viewport", "outputs": {"id": "explore-map", "property": "viewport"}',
                    b'{"output": "explore-map.viewport", "outputs": {"id": "explore-map", "property": "viewport"}, '
                    b'"inputs": [], "state": []}',
                    b'{"output": "explore-map.viewport", "inputs": [{"id": "explore-area"}], "state": [[]]}',
                    # fewer outputs than the callback has: Dash refuses the callback's own answer
                    b'{"output": "..explore-query.data...explore-export-link.href...explore-lang-switch.href..", '
                    b'"outputs": [{"id": "explore-query", "property": "data"}], "inputs": [{"id": "explore-view", '
                    b'"property": "data", "value": {"bbox": [120, 30, 120.4, 30.4]}}], "state": [{"id": '
                    b'"explore-res", "property": "value", "value": null}, {"id": "explore-lang", "property": "data", '
                    b'"value": "en"}]}']

printable = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40).map(str.strip)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=10)
values = st.one_of(st.sampled_from(PLAUSIBLE), json_values)
texts = st.one_of(st.sampled_from(ODD_TEXT), st.text(max_size=40))


@lru_cache(maxsize=1)
def _app():
    """An app built as the served one is, for what it registers (``SHIYU_AUTH=off`` here: nothing is served)."""
    from dashboard.app import create_app

    return create_app()


def _routes() -> list[tuple[str, str]]:
    rules = _app().server.url_map.iter_rules()
    return sorted({(rule.rule, method) for rule in rules for method in rule.methods - {"HEAD", "OPTIONS"}})


def _callbacks() -> list[str]:
    return sorted(_app().callback_map)


@pytest.fixture(scope="module")
def site(database_url, tmp_path_factory):
    """The five-tier city served with logins on; a session per role (anonymous: no cookie)."""
    hotline_city(database_url, tmp_path_factory.mktemp("garbage"))
    for role, (name, scope) in USERS.items():
        users.add_user(name, role, scope, password=PASSWORD)
    quick = [(login, "FAILURE_DELAY_S", 0.0)] if hasattr(login, "FAILURE_DELAY_S") else []  # failed logins at once
    with served_with({"SHIYU_AUTH": "on", "SHIYU_SECRET_KEY": "test-secret-key-of-the-garbage"}, quick) as url:
        sessions = {"anonymous": requests.Session()}
        for role, (name, _) in USERS.items():
            sessions[role] = requests.Session()
            page = sessions[role].get(f"{url}/login", timeout=PER_REQUEST_S).text
            csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
            answer = sessions[role].post(f"{url}/login", data={"csrf": csrf, "name": name, "password": PASSWORD},
                                         allow_redirects=False, timeout=PER_REQUEST_S)
            assert answer.status_code == 302, answer.text[:300]
        _page_values(url, sessions["commander"])
        yield url, sessions


# What each page's components hold when the page is drawn, by (id, property): a callback body drawn from them,
# with one or two values made garbage, gets past the first checks to the layers and the database.
PAGE_VALUES: dict[tuple[str, str], object] = {}


def _page_values(base: str, session: requests.Session) -> None:
    for path in ("/", "/wall", "/export"):
        body = {"output": ROUTER_OUTPUT, "outputs": [{"id": "_pages_content", "property": "children"},
                                                     {"id": "_pages_store", "property": "data"}],
                "inputs": [{"id": "_pages_location", "property": "pathname", "value": path},
                           {"id": "_pages_location", "property": "search", "value": "?lang=en"}],
                "state": [], "changedPropIds": ["_pages_location.pathname"]}
        answer = session.post(base + CALLBACK_PATH, json=body, timeout=PER_REQUEST_S)
        assert answer.status_code == 200, answer.text[:300]
        _collect(answer.json()["response"]["_pages_content"]["children"])
    assert len(PAGE_VALUES) > 20, PAGE_VALUES  # the pages were drawn, not refused


def _collect(node) -> None:
    if isinstance(node, list):
        for child in node:
            _collect(child)
    elif isinstance(node, dict):
        props = node.get("props", {})
        if isinstance(props.get("id"), str):
            PAGE_VALUES.update({(props["id"], k): v for k, v in props.items() if k not in ("id", "children")})
        for value in props.values():
            _collect(value)


def _segment(name: str, converter: str | None):
    known = {"collection_id": list(COLLECTIONS), "layer": ["incidents", "grids"], "z": ["0", "10", "22", "23"],
             "x": ["0", "853", "99999999"], "y": ["0", "418", "-1"], "request_id": ["hotline:H1", "H1"],
             "feature_id": ["hotline:H1", "C1"], "package_name": ["dash", "dash_leaflet"]}
    drawn = st.one_of(st.sampled_from(known.get(name, ["x"])), texts)
    return drawn.map(lambda s: quote(s.encode("utf-8", "surrogatepass"), safe="/" if converter == "path" else ""))


@st.composite
def route_requests(draw, rule: str, method: str) -> dict:
    """A request to ``rule`` by ``method``: its path filled in, a query string, headers and a body of garbage."""
    path = re.sub(r"<(?:(\w+):)?(\w+)>", lambda m: draw(_segment(m.group(2), m.group(1))), rule)
    pairs = draw(st.lists(st.tuples(st.one_of(st.sampled_from(QUERY_KEYS), st.text(max_size=10)), texts), max_size=5))
    headers = draw(st.dictionaries(
        st.sampled_from(["Authorization", "Origin", "Content-Type", "Accept", "Accept-Encoding", "Cookie",
                         "X-Forwarded-For", "Range"]),
        st.one_of(printable, printable.map("Bearer {}".format), printable.map("Basic {}".format),
                  st.sampled_from(["application/json", "gzip", "null", "http://evil.example"])), max_size=3))
    body = None
    if method != "GET":
        body = draw(st.one_of(st.sampled_from(MALFORMED_BODIES), st.binary(max_size=200),
                              json_values.map(lambda v: json.dumps(v).encode()),
                              st.dictionaries(st.sampled_from(["csrf", "name", "password", "next"]), texts)
                              .map(lambda form: urlencode(form).encode())))
    return {"method": method, "path": path + ("?" + urlencode(pairs) if pairs else ""), "headers": headers,
            "body": body}


def _concrete(spec_id: str):
    """A pattern-matching id (``{"tier": ["ALL"], …}``) made concrete, as the browser sends each match."""
    pattern = json.loads(spec_id)
    return st.fixed_dictionaries({k: st.sampled_from(["C1", "district", "x", 7]) if v == ["ALL"] else st.just(v)
                                  for k, v in pattern.items()})


def _item(spec: dict, with_value: bool = True, known: bool = False):
    """One input, state or output of a body: a pattern's list of matches, or the one component; its value the
    page's own (``known``, where the page holds one) or drawn."""
    page_value = (spec["id"], spec["property"])
    drawn = (values if not known else st.just(PAGE_VALUES[page_value]) if page_value in PAGE_VALUES
             else st.sampled_from(PLAUSIBLE))
    value = {"value": drawn} if with_value else {}
    if spec["id"].startswith("{"):
        return st.lists(st.fixed_dictionaries({"id": _concrete(spec["id"]), "property": st.just(spec["property"]),
                                               **value}), max_size=3)
    return st.fixed_dictionaries({"id": st.just(spec["id"]), "property": st.just(spec["property"]), **value})


@st.composite
def callback_bodies(draw, key: str) -> bytes:
    """A body for the callback of ``key``, as dash-renderer posts it, every value drawn."""
    spec = _app().callback_map[key]
    outputs = spec["output"] if isinstance(spec["output"], list) else [spec["output"]]
    drawn_outputs = [draw(_item({"id": o.component_id_str(), "property": o.component_property}, False))
                     for o in outputs]
    specs = [*spec["inputs"], *spec["state"]]
    spoiled = draw(st.sets(st.integers(0, len(specs) - 1), min_size=1, max_size=2)) if draw(st.booleans()) else None
    items = [draw(_item(s, known=spoiled is not None and k not in spoiled)) for k, s in enumerate(specs)]
    inputs, state = items[:len(spec["inputs"])], items[len(spec["inputs"]):]
    body = {"output": key, "outputs": drawn_outputs if key.startswith("..") else drawn_outputs[0],
            "inputs": inputs, "state": state,
            "changedPropIds": draw(st.lists(st.sampled_from([f"{i['id']}.{i['property']}" for i in spec["inputs"]]),
                                            max_size=2, unique=True))}
    return json.dumps(body).encode()  # NaN and Infinity as Python writes them, which Flask reads


def _send(site, role: str, request: dict) -> requests.Response:
    """``request`` sent as ``role`` with a copy of its cookies, so that no answer (a failed login, a new session)
    changes the session the next example is sent with."""
    base, sessions = site
    role = "anonymous" if request["path"].startswith(ENDS_SESSIONS) else role
    headers = {"Content-Type": "application/json", **request["headers"]} if request["body"] is not None else request["headers"]
    response = requests.request(request["method"], base + request["path"], data=request["body"], headers=headers,
                                cookies=sessions[role].cookies.copy(), timeout=PER_REQUEST_S, allow_redirects=False)
    shown = f"{request['method']} {request['path'][:200]} as {role} -> {response.status_code}: {response.text[:300]}"
    assert response.status_code < 500, shown
    assert "Traceback" not in response.text and 'File "' not in response.text, shown
    if role != "anonymous" and not {"Authorization", "Cookie"} & set(request["headers"]):
        assert response.status_code != 401, "the session was lost: " + shown  # else the garbage reached nothing
    return response


GARBAGE = settings(max_examples=EXAMPLES, deadline=None, database=None,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("rule, method", _routes())
@GARBAGE
@given(data=st.data())
def test_garbage_at_a_route_is_never_a_500(site, rule, method, role, data):
    _send(site, role, data.draw(route_requests(rule, method)))


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("key", _callbacks())
@GARBAGE
@given(data=st.data())
def test_garbage_at_a_callback_is_never_a_500(site, key, role, data):
    body = data.draw(callback_bodies(key))
    _send(site, role, {"method": "POST", "path": CALLBACK_PATH, "headers": {}, "body": body})


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("body", MALFORMED_BODIES)
def test_a_malformed_callback_body_is_never_a_500(site, role, body):
    _send(site, role, {"method": "POST", "path": CALLBACK_PATH, "headers": {}, "body": body})
