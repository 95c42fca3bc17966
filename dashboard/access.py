"""Who a request is and what it may see: the one place the dashboard decides.

``install`` checks every request of the server before Dash sees it. A request is a user through the signed
session cookie a login at ``/login`` sets (``dashboard/login.py``), through ``Authorization: Bearer <token>``
(machine clients), or through ``/wall?token=…`` (a wall screen's display token, turned into a session).
Without one, a page redirects to ``/login`` and anything else (Dash's callbacks, its layout) gets a 401 in
JSON. The request then runs inside ``geodata.db.scoped(user.scope)``: its queries go to the database as
``shiyu_app``, and row-level security holds them to the scope even where a callback hands the layers a wrong
one. With ``SHIYU_AUTH=off`` every request is an anonymous commander of ``SHIYU_SCOPE`` (docs/security.md).
"""

from __future__ import annotations

import logging
import secrets
from contextlib import ExitStack
from datetime import timedelta
from functools import lru_cache
from urllib.parse import urlencode, urlsplit

import flask

from geodata import audit, db, users
from geodata.errors import DatabaseUnavailable, ShiyuError
from geodata.scope import Scope
from geodata.settings import settings
from geodata.users import User

log = logging.getLogger(__name__)

# Served to anyone: the login itself, and the scripts and styles every page (the login page too) needs.
PUBLIC_PATHS = frozenset({"/login", "/logout", "/_favicon.ico"})
PUBLIC_PREFIXES = ("/assets/", "/_dash-component-suites/")
WALL = "/wall"
# Paths whose answers are data, not pages: refused with a status and JSON, never redirected.
API_PREFIXES = ("/_dash-", "/api/", "/ogc", "/open311/", "/tiles/")  # machine clients: a 401 in JSON, never the login page
# A token's use is audited once per client in this long, not on every request of a QGIS session.
TOKEN_AUDIT_EVERY = timedelta(minutes=10)
# Callbacks a wall screen may call: the wall's own, and the page router asked for the wall.
WALL_OUTPUTS = ("wall-",)
PAGE_CONTENT = "_pages_content"


def _local_user() -> User:
    return User(None, "commander", Scope(settings().scope or None))


def current_user() -> User:
    """The user of the request being served (with ``SHIYU_AUTH=off``, the anonymous local commander)."""
    user = flask.g.get("shiyu_user") if flask.has_request_context() else None
    if user is not None:
        return user
    if not settings().auth:
        return _local_user()
    raise ShiyuError("this request has no user: it was not authenticated")


def current_scope() -> Scope:
    """The scope of the request being served."""
    return current_user().scope


def remote_addr() -> str | None:
    return flask.request.remote_addr


def record(action: str, user_name: str | None, **detail) -> None:
    """One audit row for this request: who, what, from where (``at`` is the database's clock)."""
    try:
        with db.as_app():
            audit.record(action, user_name, {"path": flask.request.path, **detail}, remote_addr())
    except DatabaseUnavailable as error:  # the refusal or logout itself still stands
        log.error("audit: could not record %s of %s: %s", action, user_name, error)


@lru_cache(maxsize=1)
def _process_key() -> str:
    log.warning("SHIYU_SECRET_KEY is unset: this process signs sessions with a random key of its own, so logins end "
                "when it restarts and are not shared with other workers; set SHIYU_SECRET_KEY")
    return secrets.token_hex(32)


def _is_api(path: str) -> bool:
    return path.startswith(API_PREFIXES)


def _is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


def safe_next(target: str | None) -> str:
    """A place on this site to go after logging in; anything else (another host, ``//host``) is ``/``."""
    if not isinstance(target, str) or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def start_session(user: User) -> None:
    """A fresh signed session for ``user``; what it holds also answers while the database is briefly down."""
    flask.session.clear()
    flask.session.permanent = True
    flask.session.update({"user": user.name, "token": user.token_id, "role": user.role, "scope": user.scope.path,
                          "display": user.display, "csrf": secrets.token_urlsafe(32)})


def _session_user() -> User | None:
    session = flask.session
    name, token = session.get("user"), session.get("token")
    if not isinstance(name, str) or not (token is None or isinstance(token, int)):
        return None
    try:
        user = users.session_user(name, token)
    except DatabaseUnavailable:
        # The session is signed, so it is what the login set; while the database is down no query answers anyway.
        return User(name, session.get("role"), Scope(session.get("scope")), bool(session.get("display")), token)
    if user is None:
        session.clear()
    return user


def _bearer(token: str) -> User | None:
    found = users.token_user(token, remote_addr())
    if found is None:
        return None
    user, since = found
    if since is None or since > TOKEN_AUDIT_EVERY:
        record("token_use", user.name, token_id=user.token_id, display=user.display)
    return user


def _authenticate() -> User | None:
    header = flask.request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return _bearer(header[7:].strip())
    return _session_user()


def _wall_callback() -> bool:
    """Whether a callback request asks only for the wall (a display token's whole world)."""
    body = flask.request.get_json(silent=True)
    if not isinstance(body, dict):
        return False
    outputs = body.get("outputs")
    outputs = outputs if isinstance(outputs, list) else [outputs]
    ids = [o.get("id") if isinstance(o, dict) else None for o in outputs]
    if all(isinstance(i, str) and i.startswith(WALL_OUTPUTS) for i in ids):
        return True
    inputs = body.get("inputs") if isinstance(body.get("inputs"), list) else []
    pathnames = [i.get("value") for i in inputs if isinstance(i, dict) and i.get("property") == "pathname"]
    return bool(ids) and ids[0] == PAGE_CONTENT and pathnames == [WALL]


def same_origin() -> bool:
    """A cookie-borne unsafe request must come from our own pages: a browser names the page's origin in it."""
    origin = flask.request.headers.get("Origin")
    return origin is None or urlsplit(origin).netloc == flask.request.host


def _refuse(status: int, user: User | None, reason: str):
    path = flask.request.path
    if status == 401 and not _is_api(path) and flask.request.method == "GET":
        full = flask.request.full_path.rstrip("?")
        return flask.redirect("/login?" + urlencode({"next": full}) if full != "/" else "/login")
    record("refused", user.name if user else None, status=status, reason=reason, method=flask.request.method)
    if _is_api(path) or flask.request.method != "GET":
        response = flask.jsonify({"error": "log in first" if status == 401 else "not allowed", "reason": reason})
        response.status_code = status
        if status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="shiyu"'
        return response
    from dashboard.login import refused_page

    return refused_page(status)


def _display_token_login():
    """``/wall?token=…``: a display token becomes the screen's session, and the token leaves the address bar."""
    found = users.token_user(flask.request.args["token"], remote_addr())
    user = found[0] if found else None
    if user is None:
        record("refused", None, status=401, reason="unknown or revoked display token")
    if user is None or not user.display:
        return _refuse(401 if user is None else 403, user, "not a display token")
    start_session(user)
    record("login", user.name, via="display_token", token_id=user.token_id)
    rest = [(k, v) for k, v in flask.request.args.items(multi=True) if k != "token"]
    return flask.redirect(WALL + ("?" + urlencode(rest) if rest else ""))


def _check(user: User):
    """None when ``user`` may have this request, else the refusal."""
    request = flask.request
    path, unsafe = request.path, request.method not in ("GET", "HEAD", "OPTIONS")
    cookie_borne = not request.headers.get("Authorization")
    if unsafe and cookie_borne and not same_origin():
        return _refuse(403, user, "cross-origin request")
    if user.display:
        if path == "/_dash-update-component":
            return None if _wall_callback() else _refuse(403, user, "a display token shows the wall only")
        if not _is_api(path) and path != WALL:
            return flask.redirect(WALL)
    if path == "/export" and not user.can_export:
        return _refuse(403, user, f"role {user.role} may not export")
    return None


def install(server: flask.Flask) -> None:
    """Authenticate and scope every request of ``server``; a malformed ``SHIYU_SCOPE`` is refused here."""
    from werkzeug.middleware.proxy_fix import ProxyFix

    from dashboard import login

    s = settings()
    if not s.auth:
        _local_user()
        log.warning("SHIYU_AUTH=off: no logins, every request sees %s; for local use only", s.scope or "everything")
    server.secret_key = s.secret_key or _process_key()
    server.config.update(SESSION_COOKIE_NAME="shiyu_session", SESSION_COOKIE_HTTPONLY=True,
                         SESSION_COOKIE_SAMESITE="Lax", SESSION_COOKIE_SECURE=s.cookie_secure,
                         PERMANENT_SESSION_LIFETIME=timedelta(hours=s.session_hours))
    if s.proxies:
        server.wsgi_app = ProxyFix(server.wsgi_app, x_for=s.proxies, x_proto=s.proxies)
    login.register(server)

    @server.before_request
    def _enter():
        stack = ExitStack()
        flask.g.shiyu_scope = stack
        # Nothing a web request runs goes to the owner's pool: until a user is known, only what shiyu_app may do.
        stack.enter_context(db.as_app())
        if not settings().auth:
            flask.g.shiyu_user = _local_user()
        elif _is_public(flask.request.path):
            return None
        elif flask.request.path == WALL and "token" in flask.request.args:
            return _display_token_login()
        else:
            try:
                user = _authenticate()
            except DatabaseUnavailable as error:
                log.warning("access: cannot check a token: %s", error)
                return flask.jsonify({"error": "the database cannot be reached"}), 503
            if user is None:
                return _refuse(401, None, "no session or token")
            refusal = _check(user)
            if refusal is not None:
                return refusal
            flask.g.shiyu_user = user
        stack.enter_context(db.scoped(flask.g.shiyu_user.scope))
        return None

    @server.teardown_request
    def _leave(_error: BaseException | None) -> None:
        stack = flask.g.pop("shiyu_scope", None)
        if stack is not None:
            stack.close()
