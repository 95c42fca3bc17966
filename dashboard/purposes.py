"""What each credential is for: the one table of who may reach which route and callback (``REACH``).

A request comes with one of four credentials, or none: a person's ``SESSION`` (the cookie a password login
sets), an ``API`` token (``Authorization: Bearer``), a wall screen's ``DISPLAY`` token (as Bearer, or the
session ``/wall?token=`` opens), or a city platform's ``FEED`` token (Bearer, for the intake API only).
Every route of the server has a purpose, named by its Flask endpoint (``ENDPOINTS``, ``BLUEPRINTS``); a route
without one is reached by nobody, so a route added later is refused until it is given one here (and
``tests/dashboard/test_reach.py`` fails until it is). Callbacks are told apart
by their id, the ``output`` key Dash itself dispatches on, against the app's own callback map: the callbacks
registered by the wall pages' modules (``WALL_PATHS``), and the page router asked for one of them (the pathname read at the
position Dash passes it, not by the name the client gives it), are the wall's; every other is a callback.
``access.py`` asks ``route_purpose`` and ``Callbacks.purpose`` on every request and refuses what ``REACH``
does not allow (docs/security.md, "Where it is enforced").
"""

from __future__ import annotations

from dataclasses import dataclass

import dash

from geodata.errors import InputError

SESSION, API, DISPLAY, FEED = "session", "API token", "display token", "feed token"
# The credentials a person or a screen holds. A feed token (a city platform posting incidents, docs/intake.md) is
# none of them: it reaches the intake API and nothing else, not even the public pages.
CREDENTIALS = frozenset({SESSION, API, DISPLAY})

PUBLIC = "the public"            # the login, the logout, scripts, styles, the icon: reached with no credential
PAGE = "a page"                  # a page of the dashboard (explore, export)
WALL_PAGE = "the wall"           # /wall
DASH = "a page's layout"         # what every page loads: its layout, the callback list, the reload hash
CALLBACK = "a callback"          # a callback of a page other than the wall
WALL_CALLBACK = "a wall callback"  # the wall's own callbacks, and the page router asked for /wall
MACHINE = "an API"               # /ogc, /open311, /tiles
DOWNLOAD = "an export's file"    # /export/file/<key>: the file an export made, fetched once by whoever made it
BRIEF = "a brief"                # /brief/<code>.pdf: an area's weekly brief, made for whoever asks, in their scope
INTAKE = "the intake API"        # /api/v1 and Open311's writes: a feed posting incidents, reading its posts' outcomes
ELSEWHERE = "no such API path"   # /open311/v2/<anything else>: a GeoReport 404 (or 406 for .xml), never a page
UNROUTED = "no route"            # no route matched (Flask answers 404 or 405)
NOTHING = "nothing"              # a route nobody may reach
CREDENTIAL_NAMES = {SESSION: "a session", API: "an API token", DISPLAY: "a display token", FEED: "a feed token"}

REACH: dict[str, frozenset[str]] = {
    PUBLIC: CREDENTIALS,
    PAGE: frozenset({SESSION}),
    WALL_PAGE: frozenset({SESSION, DISPLAY}),
    DASH: frozenset({SESSION, DISPLAY}),
    # API tokens answer callbacks as their user (scripts and bench.load do), never the pages themselves.
    CALLBACK: frozenset({SESSION, API}),
    WALL_CALLBACK: CREDENTIALS,
    MACHINE: frozenset({SESSION, API}),
    DOWNLOAD: frozenset({SESSION, API}),
    BRIEF: frozenset({SESSION, API}),  # a person's button, or a script's token; never a wall screen
    INTAKE: frozenset({FEED}),  # with logins off too: the feed's token says whose rows they are
    UNROUTED: CREDENTIALS,
    ELSEWHERE: CREDENTIALS | {FEED},  # a feed that asks for an .xml path is told why, not refused
    NOTHING: frozenset(),
}

# Purposes whose answers are data, not pages: refused with a status and JSON, never redirected to the login.
DATA = frozenset({DASH, CALLBACK, WALL_CALLBACK, MACHINE, DOWNLOAD, BRIEF, INTAKE, ELSEWHERE})

WALL_PATH = "/wall"
# The wall and its rotation pages (the league table, dashboard/pages/wall_rank.py): what a screen may show.
WALL_PATHS = frozenset({WALL_PATH, "/wall/rank"})
UPDATE = "/_dash-update-component"
PAGE_ENDPOINTS = frozenset({"/", "/<path:path>"})
ENDPOINTS: dict[str, str] = {
    "shiyu_login": PUBLIC, "shiyu_logout": PUBLIC, "/_favicon.ico": PUBLIC, "_dash_assets.static": PUBLIC,
    "/_dash-component-suites/<string:package_name>/<path:fingerprinted_path>": PUBLIC,
    "/_dash-layout": DASH, "/_dash-dependencies": DASH, "/_reload-hash": DASH,
    UPDATE: CALLBACK,  # narrowed by Callbacks.purpose
    "export_file": DOWNLOAD,
    "static": NOTHING,  # Flask's own static folder: the dashboard serves nothing there
    "open311.elsewhere": ELSEWHERE,
}
# Open311 reads (open311) are an API's; its writes (open311w: requests, servicerequestupdates, tokens) a feed's.
BLUEPRINTS: dict[str, str] = {"ogc": MACHINE, "open311": MACHINE, "open311w": INTAKE, "tiles": MACHINE,
                              "intake": INTAKE, "brief": BRIEF}

# The page router Dash registers for use_pages: its output, and the input that carries the path asked for.
ROUTER_OUTPUT = "_pages_content.children"
ROUTER_PATHNAME = {"id": "_pages_location", "property": "pathname"}


def route_purpose(endpoint: str | None, path: str) -> str:
    """The purpose of the route a request matched (``endpoint`` None: none matched)."""
    if endpoint is None:
        return UNROUTED
    if endpoint in PAGE_ENDPOINTS:
        return WALL_PAGE if path in WALL_PATHS else PAGE
    if endpoint in ENDPOINTS:
        return ENDPOINTS[endpoint]
    return BLUEPRINTS.get(endpoint.split(".", 1)[0], NOTHING) if "." in endpoint else NOTHING


def refusal(credential: str, purpose: str) -> str:
    """The reason a refusal gives (and the audit log keeps)."""
    return f"{purpose} is not reached with {CREDENTIAL_NAMES[credential]}"


def may_reach(credential: str | None, purpose: str) -> bool:
    """Whether ``credential`` (None: no credential) may reach a route or callback of ``purpose``."""
    return purpose == PUBLIC if credential is None else credential in REACH[purpose]


class BadCallback(InputError):
    """A body posted to /_dash-update-component that is not a callback request of this app."""


@dataclass(frozen=True)
class Request:
    """The parts of a callback request Dash acts on, checked: the callback's id, its outputs, inputs and state."""

    output: str
    outputs: list | dict
    inputs: list
    state: list


def _dependency(item) -> bool:
    """One of a callback's outputs, inputs or state as Dash reads it: {id, property[, value]}, or a list of them
    for a pattern-matching id."""
    if isinstance(item, list):
        return all(isinstance(each, dict) and _dependency(each) for each in item)
    return isinstance(item, dict) and isinstance(item.get("id"), (str, dict)) and isinstance(item.get("property"), str)


def _items(body: dict, key: str, required: bool) -> list:
    value = body.get(key, None if required else [])
    if not isinstance(value, list) or not all(_dependency(item) for item in value):
        raise BadCallback(f"a callback request needs '{key}' as a list of {{id, property, value}} objects")
    return value


def parse(body) -> Request:
    """The callback request in ``body`` (the parsed JSON), or BadCallback saying what is wrong with it."""
    if not isinstance(body, dict):
        raise BadCallback("a callback request is a JSON object with output, outputs and inputs")
    output = body.get("output")
    if not isinstance(output, str) or not output:
        raise BadCallback("a callback request needs 'output', the callback's id, as text")
    outputs = body.get("outputs")
    if not (isinstance(outputs, list) and all(_dependency(o) for o in outputs) or _dependency(outputs)):
        raise BadCallback("a callback request needs 'outputs' as an {id, property} object or a list of them")
    changed = body.get("changedPropIds", [])
    if not isinstance(changed, list) or not all(isinstance(c, str) for c in changed):
        raise BadCallback("a callback request's 'changedPropIds' is a list of text")
    return Request(output, outputs, _items(body, "inputs", True), _items(body, "state", False))


class Callbacks:
    """The app's callbacks as the checks need them, read from its callback map when first asked (Dash fills
    the map on the server's first request)."""

    def __init__(self, app: dash.Dash):
        self._app = app
        self._wall: frozenset[str] | None = None
        self._router: tuple[str, int] | None = None

    def _read(self) -> None:
        callbacks = self._app.callback_map
        wall_modules = {page["module"] for page in dash.page_registry.values() if page.get("path") in WALL_PATHS}
        wall = frozenset(key for key, cb in callbacks.items()
                         if getattr(cb.get("callback"), "__module__", None) in wall_modules)
        for key, cb in callbacks.items():
            if ROUTER_OUTPUT in key.strip(".").split("...") and ROUTER_PATHNAME in cb.get("inputs", []):
                self._router = (key, cb["inputs"].index(ROUTER_PATHNAME))
        self._wall = wall  # last: another thread takes a set _wall to mean both are read

    def wall(self) -> frozenset[str]:
        """The ids of the wall page's own callbacks."""
        if self._wall is None:
            self._read()
        return self._wall

    def router(self) -> tuple[str, int] | None:
        """The page router's id and the position of its pathname among its inputs."""
        if self._wall is None:
            self._read()
        return self._router

    def purpose(self, request: Request) -> str:
        """WALL_CALLBACK or CALLBACK; BadCallback when the app has no such server-side callback, or it takes
        another number of inputs, state or outputs."""
        cb = self._app.callback_map.get(request.output)
        if cb is None or cb.get("callback") is None:
            raise BadCallback(f"this app has no callback {request.output[:80]!r}")
        for kind, given in (("inputs", request.inputs), ("state", request.state)):
            if len(given) != len(cb.get(kind, [])):
                raise BadCallback(f"callback {request.output[:80]!r} takes {len(cb.get(kind, []))} {kind}, "
                                  f"not {len(given)}")
        if request.output.startswith(".."):  # several outputs: one entry each, in the order of the id
            count = len(request.output[2:-2].split("..."))
            if not isinstance(request.outputs, list) or len(request.outputs) != count:
                raise BadCallback(f"callback {request.output[:80]!r} has {count} outputs, and 'outputs' lists as many")
        if request.output in self.wall():
            return WALL_CALLBACK
        router = self.router()
        if router is not None and request.output == router[0]:
            asked = request.inputs[router[1]]
            if isinstance(asked, dict) and isinstance(asked.get("value"), str) and asked["value"] in WALL_PATHS:
                return WALL_CALLBACK
        return CALLBACK
