"""Vector tiles on the dashboard's own server: ``/tiles/{layer}/{z}/{x}/{y}.pbf`` (docs/tiles.md).

The route parses nothing but the path; the query string goes to ``layers.tiles`` as it came, with the
request's scope. Being a route of the same server, every request runs inside ``access.install``'s
``scoped(...)``, as ``shiyu_app`` under row-level security, behind the same login (a 401 in JSON without one).
An empty tile is ``200`` with an empty body, which every MVT client reads as a tile without features;
a tile is gzipped when the client accepts it (here, with ISA-L: flask-compress leaves this content type alone) and may be kept
by the browser for a minute, never by a shared cache: it holds what one user's scope shows.
"""

from __future__ import annotations

import flask
import orjson
from isal import igzip
from werkzeug.exceptions import HTTPException

from dashboard.access import current_scope
from dashboard.failures import failure
from layers import tiles


tiles_api = flask.Blueprint("tiles", __name__, url_prefix="/tiles")
CACHE_CONTROL = "private, max-age=60"
# A tile is compressed on every request: ISA-L's gzip at level 1 took 1.4 ms for an 865 kB tile where zlib's
# level 1 took 5.8 ms (level 6 longer still), for the same 250 kB.
GZIP_LEVEL = 1


def _message(status: int, text: str) -> flask.Response:
    return flask.Response(orjson.dumps({"error": text}), status=status, mimetype="application/json")


@tiles_api.errorhandler(Exception)
def _failure(error: Exception) -> flask.Response:
    if isinstance(error, HTTPException):
        return _message(error.code or 500, error.description or error.name)
    found = failure(error, f"tile {flask.request.full_path[:200]}")
    response = _message(found.status, found.message)
    response.headers.update(found.headers)
    return response


@tiles_api.get("/<layer>/<z>/<x>/<y>.pbf")
def tile(layer: str, z: str, x: str, y: str) -> flask.Response:
    body = tiles.tile(layer, z, x, y, flask.request.args.to_dict(flat=False), current_scope())
    response = flask.Response(body, mimetype=tiles.CONTENT_TYPE)
    response.headers["Cache-Control"] = CACHE_CONTROL
    response.headers["Vary"] = "Accept-Encoding, Cookie, Authorization"
    if body and "gzip" in flask.request.headers.get("Accept-Encoding", "").lower():
        response.set_data(igzip.compress(body, GZIP_LEVEL))
        response.headers["Content-Encoding"] = "gzip"
    return response


@tiles_api.get("/<layer>.json")
def tilejson(layer: str) -> flask.Response:
    """A tile layer's TileJSON document: its tiles' URL (with the filters asked for), zooms, bounds and fields."""
    doc = tiles.tilejson(layer, flask.request.url_root.rstrip("/"), flask.request.args.to_dict(flat=False),
                         current_scope())
    response = flask.Response(orjson.dumps(doc), mimetype="application/json")
    response.headers["Cache-Control"] = CACHE_CONTROL
    response.headers["Vary"] = "Cookie, Authorization"
    return response


@tiles_api.get("/", defaults={"rest": ""}, strict_slashes=False)
@tiles_api.get("/<path:rest>")
def elsewhere(rest: str) -> flask.Response:
    """Any other path under /tiles: a 404 that says what is served, not the dashboard's page for unknown paths."""
    return _message(404, f"no tile at /tiles/{rest[:80]}: tiles are /tiles/{{layer}}/{{z}}/{{x}}/{{y}}.pbf, described by "
                         f"/tiles/{{layer}}.json, with layer "
                         f"{' or '.join(tiles.LAYERS)}")


def install(server: flask.Flask) -> None:
    """Serve the tiles from ``server`` (after ``access.install``, whose scope wraps their requests too)."""
    server.register_blueprint(tiles_api)
