"""Export files handed to the browser by a plain GET, streamed from disk: ``/export/file/<key>``.

The export page's callback writes the file (``layers.export``, bounded by its limits) and ``keep`` moves it into
a folder shared by the server's workers under a random key, beside a note of whose it is; the page then sends the
browser to ``/export/file/<key>``, which streams it in chunks as an attachment, to that user only, and removes it.
A file nobody fetched is removed after ``KEEP_FOR_S``. So no file passes whole through Dash's JSON or memory.
"""

from __future__ import annotations

import re
import secrets
import shutil
import tempfile
import time
from pathlib import Path

import flask
import orjson

from dashboard.access import current_user
from layers.export import ExportFile

KEEP_FOR_S = 600
_KEY = re.compile(r"^[A-Za-z0-9_-]{20,64}$")
PREFIX = "/export/file/"


def folder() -> Path:
    path = Path(tempfile.gettempdir()) / "shiyu-downloads"
    path.mkdir(mode=0o700, exist_ok=True)
    return path


def _sweep(where: Path) -> None:
    """Remove what nobody fetched in time."""
    cutoff = time.time() - KEEP_FOR_S
    for path in where.iterdir():
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
        except OSError:  # another worker removed it first
            pass


def keep(file: ExportFile, user_name: str | None) -> str:
    """Move ``file`` where ``/export/file/<key>`` serves it to ``user_name``; the URL."""
    where = folder()
    _sweep(where)
    key = secrets.token_urlsafe(24)
    (where / f"{key}.json").write_bytes(orjson.dumps({"name": file.name, "user": user_name}))
    shutil.move(str(file.path), where / key)
    file.close()
    return PREFIX + key


def _serve(key: str) -> flask.Response:
    where = folder()
    note, path = where / f"{key}.json", where / key
    if not _KEY.match(key) or not note.exists() or not path.exists():
        return _message(404, "this download is not here (any more): export the file again")
    about = orjson.loads(note.read_bytes())
    if about["user"] != current_user().name:
        return _message(404, "this download is not here (any more): export the file again")
    note.unlink(missing_ok=True)
    handle = path.open("rb")
    path.unlink()  # the open handle still reads it; nothing is left behind once it is closed
    response = flask.send_file(handle, as_attachment=True, download_name=about["name"],
                               mimetype="application/octet-stream", max_age=0)
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _message(status: int, text: str) -> flask.Response:
    return flask.Response(orjson.dumps({"error": text}), status=status, mimetype="application/json")


def install(server: flask.Flask) -> None:
    """Serve the kept export files from ``server`` (after ``access.install``: behind the same login)."""
    server.add_url_rule(PREFIX + "<key>", "export_file", _serve, methods=["GET"])
