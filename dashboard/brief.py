"""The weekly brief as a download: ``GET /brief/<code>.pdf?week=YYYY-Www`` (the area panel's button).

The PDF is made by ``layers.brief.make``, as ``shiyu brief`` makes it, in the scope of whoever asks: an area
outside it is a 404, as if it did not exist, and the refusal is audited; a brief made is audited too. One brief
at a time per user (``dashboard/limits.py`` counts it as an export, under the export's statement timeout), and
made in one of the process's heavy slots (``layers.brief.make``). Without ``week``, the last complete week.
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote

import flask
import orjson
from werkzeug.exceptions import HTTPException

from dashboard.access import current_scope, current_user, record_refusal, remote_addr
from dashboard.failures import failure
from geodata.errors import NotFound
from layers import brief

PREFIX = "/brief"
brief_api = flask.Blueprint("brief", __name__, url_prefix=PREFIX)


def _message(status: int, text: str, headers: dict | None = None) -> flask.Response:
    return flask.Response(orjson.dumps({"error": text}), status=status, mimetype="application/json",
                          headers=headers or {})


@brief_api.errorhandler(Exception)
def _failure(error: Exception) -> flask.Response:
    if isinstance(error, HTTPException):
        return _message(error.code or 500, error.description or error.name)
    found = failure(error, f"brief {flask.request.full_path[:200]}")
    if isinstance(error, NotFound):
        record_refusal("refused", current_user().name, "brief of an area outside the scope", status=404,
                       method=flask.request.method)
    return _message(found.status, found.message, found.headers)


def href(code: str, week: brief.Week) -> str:
    """The address of an area's brief for ``week``."""
    return f"{PREFIX}/{quote(code, safe='')}.pdf?week={week.label}"


@brief_api.get("/<code>.pdf")
def download(code: str) -> flask.Response:
    asked = flask.request.args.get("week")
    week = brief.parse_week(asked) if asked else brief.last_complete_week(datetime.now().astimezone())
    user = current_user()
    made = brief.make(code, week, current_scope(), user_name=user.name, remote_addr=remote_addr(), via="web")
    response = flask.Response(made.data, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f"attachment; filename={made.name}"
    response.headers["Cache-Control"] = "private, no-store"
    return response


def install(server: flask.Flask) -> None:
    """Serve the briefs from ``server`` (after ``access.install``: behind the same login and scope)."""
    server.register_blueprint(brief_api)
