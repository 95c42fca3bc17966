"""What a failed request answers, decided once for every edge of the server: the OGC API and Open311
(``dashboard/api.py``), the intake API (``dashboard/intake.py``), the tiles (``dashboard/tiles.py``) and the Dash callbacks (``install``).

A person's mistake (``InputError``) is a 400 with its message, one line (a ``NotFound`` a 404, a
``Forbidden`` a 403, a ``BodyTooLarge`` a 413); a query refused
as too slow a 503 with its message, which says how to narrow the request; a database that cannot be reached a
503 that says only that, with ``Retry-After``: where the database is (a socket path, a host and port) goes to
the server's log, never to a client. Any other ``ShiyuError`` is a 503 whose cause is logged, and anything else
a bug: a 500 whose traceback is logged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import dash
import flask
import orjson
from dash.exceptions import DependencyException

from geodata.errors import BodyTooLarge, DatabaseUnavailable, Forbidden, InputError, NotFound, QueryTooSlow, ShiyuError
from geodata.text import one_line  # a value echoed back may hold newlines, a NUL, or be long

log = logging.getLogger(__name__)

# How long a client is asked to wait before trying again after a 503.
RETRY_AFTER_S = 30
DATABASE_DOWN = "the database cannot be reached; try again shortly"
UNAVAILABLE = "the server cannot answer this now; try again shortly"
SERVER_FAILED = "the server failed to answer; the cause is in its log"
CALLBACK_PATH = "/_dash-update-component"
# The location component of Dash's page router (``dash.page_container``), whose path and query Dash reads unchecked.
ROUTER = "_pages_location"


@dataclass(frozen=True)
class Failure:
    """The status, the one line a client reads, and the headers of a failed request's answer."""

    status: int
    message: str
    headers: dict[str, str] = field(default_factory=dict)


def failure(error: BaseException, what: str) -> Failure:
    """The answer to a request that raised ``error``, its cause logged as ``what`` failing where it is not the
    client's to read."""
    retry = {"Retry-After": str(RETRY_AFTER_S)}
    if isinstance(error, NotFound):
        return Failure(404, one_line(str(error)))
    if isinstance(error, Forbidden):
        return Failure(403, one_line(str(error)))
    if isinstance(error, BodyTooLarge):
        return Failure(413, one_line(str(error)))
    if isinstance(error, InputError):
        return Failure(400, one_line(str(error)))
    if isinstance(error, QueryTooSlow):
        log.warning("%s refused: %s", what, error)
        return Failure(503, one_line(str(error)), retry)
    if isinstance(error, DatabaseUnavailable):
        log.warning("%s failed: %s", what, error)
        return Failure(503, DATABASE_DOWN, retry)
    if isinstance(error, ShiyuError):
        log.warning("%s failed: %s", what, error)
        return Failure(503, UNAVAILABLE, retry)
    log.error("%s failed", what, exc_info=error)
    return Failure(500, SERVER_FAILED)


def callback_failed(error: Exception):
    """Dash's ``on_error``: a callback that raised answers, instead of its outputs, with a 4xx or 5xx whose JSON
    body is the one line of ``failure``. Callbacks show the mistakes they expect in their own notices; this is
    what reaches a person (dash-renderer keeps the page as it was) for the rest."""
    flask.abort(_json(failure(error, f"callback {str(dash.ctx.outputs_list)[:200]}")))


def _nul_refused():
    """A NUL byte in the path or the query: no name, id or value this server takes holds one (PostgreSQL text
    cannot), so the request is refused before anything, the audit log included, reads it."""
    request = flask.request
    held = ["the path"] if "\x00" in request.path else []
    held += [one_line(k)[:40] or "a parameter" for k, v in request.args.items(multi=True) if "\x00" in k + v]
    if held:
        return _json(Failure(400, f"{held[0]} holds a NUL byte (%00), which no name or value here has"))
    return None


def _router_path_refused(app: dash.Dash):
    """A callback body that gives Dash's page router a path that is not one of this site's (Dash's own code fails
    on it). The body's shape, and whether it names a callback the server runs, is ``dashboard.access``'s."""
    request = flask.request
    if request.path != CALLBACK_PATH:
        return None
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("output"), str):
        return None
    prefix = app.config.requests_pathname_prefix
    for item in body.get("inputs") if isinstance(body.get("inputs"), list) else []:
        if not isinstance(item, dict) or item.get("id") != ROUTER:
            continue
        value, what = item.get("value"), one_line(str(item.get("property")))[:20]
        if value is None or isinstance(value, str) and (what != "pathname" or value.startswith(prefix)):
            continue
        return _json(Failure(400, f"the page's {what} {one_line(str(value))[:60]!r} is not one of this site's"))
    return None


def answer(error: BaseException, what: str) -> flask.Response:
    """``failure(error, what)`` as the JSON answer every data route gives."""
    return _json(failure(error, what))


def _json(found: Failure) -> flask.Response:
    return flask.Response(orjson.dumps({"error": found.message}), status=found.status, mimetype="application/json",
                          headers=found.headers)


def install(app: dash.Dash) -> None:
    """Call after ``access.install``. A NUL byte is refused before every other check (the audit row of a refusal
    could not hold it); a path the page router cannot take after the request's user is known; a script Dash does
    not serve is a 404 rather than a 500."""
    app.server.before_request_funcs.setdefault(None, []).insert(0, _nul_refused)
    app.server.before_request(lambda: _router_path_refused(app))
    app.server.register_error_handler(DependencyException, lambda error: _json(Failure(404, one_line(str(error)))))
