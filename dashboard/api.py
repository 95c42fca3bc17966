"""The machine-readable APIs on the dashboard's own Flask server: OGC API – Features under ``/ogc`` and Open311
GeoReport v2 under ``/open311/v2``.

Routes parse nothing but the path: the query string goes to ``layers.ogc`` and ``layers.open311`` as it came,
with the request's scope (``access.current_scope()``). Being routes of the same server, every request runs
inside ``access.install``'s ``scoped(...)``, as ``shiyu_app`` under row-level security, and behind whatever
``before_request`` guards the dashboard. What a failure answers is ``dashboard.failures``': a person's mistake is
a 400 (404 for a name that is not there) with a JSON message; a database that cannot answer a 503 with
Retry-After that names nothing of the server; anything else a 500 whose cause is only logged.
"""

from __future__ import annotations

import flask
import orjson
from werkzeug.exceptions import HTTPException

from dashboard.access import current_scope, current_user
from dashboard.failures import Failure, failure
from dashboard.open311_write import georeport_errors
from geodata.errors import NotFound
from layers import ogc, open311, open311_updates


ogc_api = flask.Blueprint("ogc", __name__, url_prefix="/ogc")
open311_api = flask.Blueprint("open311", __name__, url_prefix="/open311/v2")


def _answer(doc, status: int = 200, kind: str = ogc.documents.JSON, crs: str | None = None,
            headers: dict[str, str] | None = None) -> flask.Response:
    response = flask.Response(orjson.dumps(doc), status=status, mimetype=kind, headers=headers)
    if crs is not None:
        response.headers["Content-Crs"] = f"<{crs}>"
    return response


def _args() -> dict[str, list[str]]:
    return flask.request.args.to_dict(flat=False)


def _base() -> str:
    return flask.request.host_url.rstrip("/") + ogc_api.url_prefix


def _failure(error: Exception) -> Failure:
    return failure(error, f"API request {flask.request.full_path[:200]}")


@ogc_api.errorhandler(Exception)
def _ogc_failure(error: Exception) -> flask.Response:
    if isinstance(error, HTTPException):  # werkzeug's own (404 for an unknown path, 405, …)
        return _answer({"code": type(error).__name__, "description": error.description}, error.code)
    found = _failure(error)
    code = {400: "InvalidParameterValue", 404: "NotFound", 503: "ServiceUnavailable"}.get(found.status, "ServerError")
    return _answer({"code": code, "description": found.message}, found.status, headers=found.headers)


@ogc_api.get("/collections/<collection_id>/queryables")
def queryables(collection_id: str) -> flask.Response:
    # A JSON Schema; plain JSON when asked with f=json, as the draft's ``queryables`` link does (GDAL 3.6).
    kind = ogc.documents.JSON if "f" in flask.request.args else ogc.openapi.SCHEMA_MEDIA_TYPE
    return _answer(ogc.queryables(collection_id, _args(), _base()), kind=kind)


@ogc_api.get("", strict_slashes=False)
def landing() -> flask.Response:
    return _answer(ogc.landing(_args(), _base()))


@ogc_api.get("/api")
def api() -> flask.Response:
    return _answer(ogc.api(_args(), _base()), kind=ogc.openapi.MEDIA_TYPE)


@ogc_api.get("/conformance")
def conformance() -> flask.Response:
    return _answer(ogc.conformance(_args()))


@ogc_api.get("/collections")
def collections() -> flask.Response:
    return _answer(ogc.collections(_args(), current_scope(), _base()))


@ogc_api.get("/collections/<collection_id>")
def collection(collection_id: str) -> flask.Response:
    return _answer(ogc.collection(collection_id, _args(), current_scope(), _base()))


@ogc_api.get("/collections/<collection_id>/items")
def items(collection_id: str) -> flask.Response:
    doc, crs = ogc.items(collection_id, _args(), current_scope(), _base(), role=current_user().role)
    return _answer(doc, kind=ogc.documents.GEOJSON, crs=crs)


@ogc_api.get("/collections/<collection_id>/items/<path:feature_id>")
def item(collection_id: str, feature_id: str) -> flask.Response:
    doc, crs = ogc.item(collection_id, feature_id, _args(), current_scope(), _base(), role=current_user().role)
    return _answer(doc, kind=ogc.documents.GEOJSON, crs=crs)


@open311_api.errorhandler(Exception)
def _open311_failure(error: Exception) -> flask.Response:
    if isinstance(error, HTTPException):
        return _answer([{"code": error.code, "description": error.description}], error.code)
    found = _failure(error)
    return _answer([{"code": found.status, "description": found.message}], found.status, headers=found.headers)


open311_api.after_request(georeport_errors)  # the access check's and the limits' refusals in GeoReport's form


@open311_api.get("/discovery.json")
def discovery() -> flask.Response:
    return _answer(open311.discovery(_args(), flask.request.host_url.rstrip("/") + open311_api.url_prefix + "/"))


@open311_api.get("/services/<code>.json")
def service(code: str) -> flask.Response:
    return _answer(open311.definition(code, _args()))


@open311_api.get("/servicerequestupdates.json")
def updates() -> flask.Response:
    return _answer(open311_updates.updates(_args(), current_scope()))


@open311_api.route("/<path:rest>", methods=["GET", "POST"])
def elsewhere(rest: str) -> flask.Response:
    """Any other Open311 path: never the dashboard's page. XML is what the spec also offers; this server speaks
    JSON only, so a ``.xml`` path is a 406 naming the ``.json`` one."""
    if rest.endswith(".xml"):
        return _answer([{"code": 406, "description": f"this server answers JSON only: ask for "
                                                     f"{open311_api.url_prefix}/{rest[:-4]}.json"}], 406)
    raise NotFound(f"there is no Open311 resource {rest[:80]!r}; see {open311_api.url_prefix}/discovery.json")


@open311_api.get("/services.json")
def services() -> flask.Response:
    return _answer(open311.services(_args()))


@open311_api.get("/requests.json")
def requests() -> flask.Response:
    return _answer(open311.requests(_args(), current_scope()))


@open311_api.get("/requests/<path:request_id>.json")
def request(request_id: str) -> flask.Response:
    return _answer(open311.request(request_id, _args(), current_scope()))


def install(server: flask.Flask) -> None:
    """Serve both APIs from ``server`` (after ``access.install``, whose scope wraps their requests too)."""
    server.register_blueprint(ogc_api)
    server.register_blueprint(open311_api)
