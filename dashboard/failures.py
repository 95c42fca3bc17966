"""What a failed request answers, decided once for every edge of the server: the OGC API and Open311
(``dashboard/api.py``), the tiles (``dashboard/tiles.py``) and the Dash callbacks (``install``).

A person's mistake (``InputError``) is a 400 with its message, one line (a ``NotFound`` a 404); a query refused
as too slow a 503 with its message, which says how to narrow the request; a database that cannot be reached a
503 that says only that, with ``Retry-After``: where the database is (a socket path, a host and port) goes to
the server's log, never to a client. Any other ``ShiyuError`` is a 503 whose cause is logged, and anything else
a bug: a 500 whose traceback is logged.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

import dash
import flask
import orjson

from geodata.errors import DatabaseUnavailable, InputError, NotFound, QueryTooSlow, ShiyuError

log = logging.getLogger(__name__)

# How long a client is asked to wait before trying again after a 503.
RETRY_AFTER_S = 30
DATABASE_DOWN = "the database cannot be reached; try again shortly"
UNAVAILABLE = "the server cannot answer this now; try again shortly"
SERVER_FAILED = "the server failed to answer; the cause is in its log"
# A message is one line of at most this many characters: a value echoed back may hold newlines or be long.
MAX_MESSAGE = 300
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


@dataclass(frozen=True)
class Failure:
    """The status, the one line a client reads, and the headers of a failed request's answer."""

    status: int
    message: str
    headers: dict[str, str] = field(default_factory=dict)


def one_line(text: str) -> str:
    """``text`` without control characters (newlines, NUL), cut to ``MAX_MESSAGE``."""
    text = _CONTROL.sub(" ", text).strip()
    return text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE - 1] + "…"


def failure(error: BaseException, what: str) -> Failure:
    """The answer to a request that raised ``error``, its cause logged as ``what`` failing where it is not the
    client's to read."""
    retry = {"Retry-After": str(RETRY_AFTER_S)}
    if isinstance(error, NotFound):
        return Failure(404, one_line(str(error)))
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
    outputs = dash.ctx.outputs_list if dash.ctx else None
    found = failure(error, f"callback {str(outputs)[:200]}")
    response = flask.Response(orjson.dumps({"error": found.message}), status=found.status,
                              mimetype="application/json", headers=found.headers)
    flask.abort(response)

