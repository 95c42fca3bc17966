"""Open311 GeoReport v2 for writing: ``POST /open311/v2/requests.json`` and ``POST servicerequestupdates.json``.

A feed token is the only credential these routes take (``dashboard/purposes.py``: the intake API's purpose), as
the form's ``api_key`` (``dashboard/access.py`` reads it when no Bearer comes) or as a Bearer. The form becomes one
canonical row (``etl/open311.py``) that goes through ``etl.intake.submit``: the loader's validation, the feed's
source and scope, the reject ratio, the durable queue and the intake worker, exactly as ``POST /api/v1/incidents``.
A request's id is the feed's source and a server-made id (``platform:o311-…``), read back at
``GET /open311/v2/requests/{id}.json``. A post not yet applied within the wait is answered with a ``token``
instead of the id (as GeoReport v2 allows), redeemed at ``GET /open311/v2/tokens/{token}.json``.

Every refusal on an Open311 path is in GeoReport's error form, ``[{"code": …, "description": …}]``
(``georeport_errors``, which the read routes of ``dashboard/api.py`` share). docs/intake.md, "Open311".
"""

from __future__ import annotations

import flask
import orjson
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from dashboard.access import current_user
from dashboard.failures import failure
from etl import intake
from etl.open311 import new_server_id, request_table, split_request_id, update_table
from geodata.errors import InputError, NotFound
from geodata.feeds import Feed
from layers.open311_updates import own_row

open311_write = flask.Blueprint("open311w", __name__, url_prefix="/open311/v2")
JSON = "application/json"


def georeport(doc, status: int = 200, headers: dict[str, str] | None = None) -> flask.Response:
    return flask.Response(orjson.dumps(doc), status=status, mimetype=JSON, headers=headers)


def georeport_errors(response: flask.Response) -> flask.Response:
    """A refusal made elsewhere (the access check's 401/403, the limits' 429, a 503) as GeoReport's error form."""
    if response.status_code < 400 or response.mimetype != JSON:
        return response
    body = orjson.loads(response.get_data())
    if isinstance(body, dict) and "error" in body:
        text = f"{body['error']}: {body['reason']}" if body.get("reason") else str(body["error"])
        response.set_data(orjson.dumps([{"code": response.status_code, "description": text}]))
    return response


open311_write.after_request(georeport_errors)


def _feed() -> Feed:
    user = current_user()
    return Feed(user.feed, user.scope.path)


def _form() -> dict[str, str]:
    form = flask.request.form
    repeated = sorted(k for k in form if len(form.getlist(k)) > 1)
    if repeated:
        raise InputError(f"field {', '.join(repeated[:5])} given more than once")
    return form.to_dict()


@open311_write.errorhandler(Exception)
def _write_failure(error: Exception) -> flask.Response:
    if isinstance(error, RequestEntityTooLarge):  # the form's size, bounded before it is read (dashboard/access.py)
        limit = intake.max_body_bytes()
        return georeport([{"code": 413, "description": f"the form is over {limit:,} bytes, the most a post takes "
                                                       "(SHIYU_INTAKE_MAX_KB): send a shorter description"}], 413)
    if isinstance(error, HTTPException):  # 405, …
        return georeport([{"code": error.code, "description": error.description}], error.code)
    if isinstance(error, intake.Refused):
        rejects = error.answer["rejects"]
        reason = rejects[0]["reason"] if rejects else str(error)
        return georeport([{"code": 422, "description": f"the request was refused: {reason}"}], 422)
    found = failure(error, f"open311 {flask.request.full_path[:200]}")
    return georeport([{"code": found.status, "description": found.message}], found.status, found.headers)


@open311_write.post("/requests.json")
def post_request() -> flask.Response:
    feed, server_id = _feed(), new_server_id()
    outcome = intake.submit(feed, request_table(_form(), server_id))
    request_id = f"{feed.name}:{server_id}"
    if outcome.status == 202:
        notice = "received and queued; the id is given at tokens/{token}.json once applied"
        return georeport([{"token": f"{outcome.body['post_id']}.{server_id}", "service_notice": notice,
                           "account_id": None}], 202)
    return georeport([{"service_request_id": request_id, "service_notice": "received", "account_id": None}])


@open311_write.get("/tokens/<token>.json")
def token(token: str) -> flask.Response:
    feed = _feed()
    post_id, _, server_id = token.partition(".")
    found = intake.post_of(int(post_id), feed) if post_id.isdigit() and server_id else None
    if found is None:
        raise NotFound(f"feed {feed.name!r} has no request token {token[:60]!r}")
    request_id = f"{feed.name}:{server_id}" if found["status"] == "applied" and found["rejected"] == 0 else None
    return georeport([{"service_request_id": request_id, "token": token}])


@open311_write.post("/servicerequestupdates.json")
def post_update() -> flask.Response:
    feed, form = _feed(), _form()
    request_id = form.get("service_request_id", "")
    if not request_id:
        raise InputError("service_request_id is required: the id requests.json answered")
    current = own_row(feed.name, split_request_id(request_id, feed.name))
    if current is None:
        raise NotFound(f"feed {feed.name!r} has no service request {request_id[:80]!r} in its area")
    outcome = intake.submit(feed, update_table(form, current))
    update_id = form.get("update_id") or f"{request_id}@{outcome.body['post_id']}"
    return georeport([{"update_id": update_id, "service_request_id": request_id,
                       "service_notice": "applied" if outcome.status == 200 else "queued", "account_id": None}],
                     outcome.status)


def install(server: flask.Flask) -> None:
    """Serve the Open311 write routes from ``server`` (after ``access.install`` and ``limits.install``)."""
    server.register_blueprint(open311_write)
