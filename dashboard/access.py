"""Who may see what: the one place the dashboard decides the scope of a request.

Until logins arrive every request gets ``SHIYU_SCOPE`` (empty: the whole
database); a login will replace ``current_scope`` alone. ``install`` runs
every request of the server inside ``geodata.db.scoped(current_scope())``:
its queries go to the database as ``shiyu_app``, and row-level security holds
them to the scope even where a callback hands the layers a wrong one
(docs/security.md).
"""

from __future__ import annotations

from contextlib import ExitStack

import flask

from geodata import db
from geodata.scope import Scope
from geodata.settings import settings


def current_scope() -> Scope:
    """The scope of the request being served."""
    return Scope(settings().scope or None)


def install(server: flask.Flask) -> None:
    """Scope every request of ``server``; a malformed ``SHIYU_SCOPE`` is refused here, before any request."""
    current_scope()

    @server.before_request
    def _enter_scope() -> None:
        stack = ExitStack()
        stack.enter_context(db.scoped(current_scope()))
        flask.g.shiyu_scope = stack

    @server.teardown_request
    def _leave_scope(_error: BaseException | None) -> None:
        stack = flask.g.pop("shiyu_scope", None)
        if stack is not None:
            stack.close()
