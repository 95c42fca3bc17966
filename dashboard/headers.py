"""Security headers on every answer of the server (docs/security.md, "Headers").

No page may be framed (``X-Frame-Options: DENY`` and CSP ``frame-ancestors 'none'``: clickjacking), except the
wall by the origins ``SHIYU_WALL_FRAME_ANCESTORS`` names; no answer is sniffed into another type; and an address
of ours never leaves the site in a ``Referer`` beyond its origin (the origin alone still goes to a basemap tile
server, whose browser keys, Tianditu's among them, are checked against it).
"""

from __future__ import annotations

import re

import flask

from dashboard.purposes import WALL_PATHS
from geodata.errors import InputError
from geodata.settings import settings

REFERRER_POLICY = "strict-origin-when-cross-origin"
_SOURCE = re.compile(r"^(https?://(\*\.)?[A-Za-z0-9.-]+(:\d{1,5})?|'self')$")


def frame_ancestors() -> str:
    """The wall's CSP ``frame-ancestors`` sources from the setting; InputError for one that is not an origin."""
    sources = settings().wall_frame_ancestors.split()
    for source in sources:
        if not _SOURCE.match(source):
            raise InputError(f"SHIYU_WALL_FRAME_ANCESTORS: {source[:80]!r} is not an origin such as "
                             "https://screens.example.gov.cn (or 'self')")
    return " ".join(sources)


def install(server: flask.Flask) -> None:
    """Add the headers to every response of ``server``; a malformed ``SHIYU_WALL_FRAME_ANCESTORS`` is refused here."""
    frame_ancestors()

    @server.after_request
    def _secure(response: flask.Response) -> flask.Response:
        headers = response.headers
        headers["X-Content-Type-Options"] = "nosniff"
        headers["Referrer-Policy"] = REFERRER_POLICY
        allowed = frame_ancestors() if flask.request.path in WALL_PATHS else ""
        if allowed:
            headers.pop("X-Frame-Options", None)
            headers["Content-Security-Policy"] = f"frame-ancestors {allowed}"
        else:
            headers["X-Frame-Options"] = "DENY"
            headers["Content-Security-Policy"] = "frame-ancestors 'none'"
        return response
