"""The intake API: ``POST /api/v1/incidents`` (a feed posts canonical rows) and ``GET /api/v1/posts/<id>``.

Only a feed's token reaches these routes (``dashboard/purposes.py``, checked in ``dashboard/access.py`` even with
logins off), and it reaches nothing else. The body's size is checked before it is read: a declared length over
``etl.intake.max_body_bytes()`` is refused at once, and a body without one is read no further than the limit.
What the post answers is ``etl.intake.submit``'s; what a failure answers is ``dashboard.failures``' (a person's
mistake 400, another source or area 403, too large 413, the database down 503 with Retry-After), and a post
over the reject ratio 422 with its counts and rejects. Refusals are audited (at most a row a minute per reason,
with a count). docs/intake.md.
"""

from __future__ import annotations

import flask
import orjson
from werkzeug.exceptions import HTTPException

from dashboard.access import current_user, record_refusal
from dashboard.failures import failure
from etl import intake
from geodata.errors import BodyTooLarge, Forbidden, NotFound
from geodata.feeds import Feed

intake_api = flask.Blueprint("intake", __name__, url_prefix="/api/v1")
_READ_BYTES = 64 << 10


def _answer(doc: dict, status: int = 200, headers: dict[str, str] | None = None) -> flask.Response:
    return flask.Response(orjson.dumps(doc), status=status, mimetype="application/json", headers=headers)


def _feed() -> Feed:
    user = current_user()
    return Feed(user.feed, user.scope.path)


def _body() -> bytes:
    """The request's body, refused (BodyTooLarge) as soon as it is known to pass the limit."""
    limit = intake.max_body_bytes()
    declared = flask.request.content_length
    if declared is not None and declared > limit:
        raise BodyTooLarge(f"the body is {declared:,} bytes; a post takes at most {limit:,} (SHIYU_INTAKE_MAX_KB): "
                           "send fewer rows a post")
    stream, parts, size = flask.request.stream, [], 0
    while chunk := stream.read(min(_READ_BYTES, limit + 1 - size)):
        parts.append(chunk)
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"the body is over {limit:,} bytes, the most a post takes (SHIYU_INTAKE_MAX_KB): "
                               "send fewer rows a post")
    return b"".join(parts)


@intake_api.errorhandler(Exception)
def _intake_failure(error: Exception) -> flask.Response:
    if isinstance(error, HTTPException):
        return _answer({"error": error.description}, error.code)
    if isinstance(error, intake.Refused):
        record_refusal("intake_refused", current_user().name, "over the reject ratio", feed=_feed().name,
                       rejected=error.answer["rejected"], read=error.answer["read"])
        return _answer({**error.answer, "error": str(error)}, 422)
    found = failure(error, f"intake {flask.request.full_path[:200]}")
    if isinstance(error, (Forbidden, BodyTooLarge)):
        record_refusal("intake_refused", current_user().name, type(error).__name__, feed=_feed().name,
                       message=found.message)
    return _answer({"error": found.message}, found.status, found.headers)


@intake_api.post("/incidents")
def incidents() -> flask.Response:
    table = intake.table_of_body(_body(), flask.request.content_type)
    outcome = intake.submit(_feed(), table, crs=flask.request.args.get("crs"))
    return _answer(outcome.body, outcome.status)


@intake_api.get("/posts/<int:post_id>")
def post(post_id: int) -> flask.Response:
    found = intake.post_of(post_id, _feed())
    if found is None:
        raise NotFound(f"feed {_feed().name!r} has no post {post_id}")
    return _answer(found)


def install(server: flask.Flask) -> None:
    """Serve the intake API from ``server`` (after ``access.install`` and ``limits.install``)."""
    server.register_blueprint(intake_api)
