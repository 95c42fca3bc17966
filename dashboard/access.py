"""Who a request is and what it may reach: the one place the dashboard decides.

``install`` checks every request of the server before Dash sees it. A request is a user through the signed
session cookie a login at ``/login`` sets (``dashboard/login.py``; the session itself is a row on the server,
so logout, a new password, a changed role or scope, or disabling ends it), through ``Authorization: Bearer
<token>`` (machine clients), or through ``/wall?token=…`` (a wall screen's display token, turned into a
session). Without one, a page redirects to ``/login`` and anything else (Dash's callbacks, its layout) gets a
401 in JSON. What the credential may reach is ``dashboard/purposes.py``'s table, asked here for every route and
every callback. The request then runs inside ``geodata.db.scoped(user.scope)``: its queries go to the database
as ``shiyu_app``, and row-level security holds them to the scope even where a callback hands the layers a wrong
one. With ``SHIYU_AUTH=off`` every request is an anonymous commander of ``SHIYU_SCOPE`` (docs/security.md).
"""

from __future__ import annotations

import logging
import math
import secrets
from contextlib import ExitStack
from datetime import timedelta
from functools import lru_cache
from urllib.parse import quote, urlencode, urlsplit

import dash
import flask

from dashboard import failures, purposes
from dashboard.purposes import API, DISPLAY, FEED, SESSION, BadCallback
from etl.intake import max_body_bytes as intake_max_body_bytes
from geodata import audit, db, feeds, users
from geodata.errors import DatabaseUnavailable, ShiyuError
from geodata.scope import Scope
from geodata.settings import settings
from geodata.users import User

log = logging.getLogger(__name__)

WALL = purposes.WALL_PATH
OPEN311 = "/open311/"
# A token's use is audited once per client in this long, not on every request of a QGIS session.
TOKEN_AUDIT_EVERY = timedelta(minutes=10)
MAX_NEXT = 2000  # longer than any address of ours
_PRINTABLE_ASCII = "".join(chr(c) for c in range(0x21, 0x7F))
MAX_AUDIT_PATH = 200  # a refusal's audit row keeps this much of the path asked for
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


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


def _audit_path() -> str:
    return flask.request.path[:MAX_AUDIT_PATH]


def record(action: str, user_name: str | None, **detail) -> None:
    """One audit row for this request: who, what, from where (``at`` is the database's clock)."""
    try:
        with db.as_app():
            audit.record(action, user_name, {"path": _audit_path(), **detail}, remote_addr())
    except DatabaseUnavailable as error:  # the refusal or logout itself still stands
        log.error("audit: could not record %s of %s: %s", action, user_name, error)


def record_refusal(action: str, user_name: str | None, reason: str, **detail) -> None:
    """A refusal's audit row, at most one a minute per (action, user, address, reason), counting the rest."""
    try:
        with db.as_app():
            audit.record_refusal(action, user_name, reason, {"path": _audit_path(), **detail}, remote_addr())
    except DatabaseUnavailable as error:
        log.error("audit: could not record %s of %s: %s", action, user_name, error)


@lru_cache(maxsize=1)
def _process_key() -> str:
    log.warning("SHIYU_SECRET_KEY is unset: this process signs sessions with a random key of its own, so logins end "
                "when it restarts and are not shared with other workers; set SHIYU_SECRET_KEY")
    return secrets.token_hex(32)


def _route_purpose() -> str:
    rule = flask.request.url_rule
    return purposes.route_purpose(rule.endpoint if rule is not None else None, flask.request.path)


def _is_data() -> bool:
    """Whether this request asks for data (a callback, a layout, an API), not a page: refused in JSON."""
    return _route_purpose() in purposes.DATA


def safe_next(target: str | None) -> str:
    """A path of this site to go to after logging in, else ``/``.

    Browsers drop tabs and newlines anywhere in an address, strip control characters and spaces at its ends, and
    read a backslash as a slash, so ``/\\t/evil.example`` reaches ``//evil.example``, another host: any of them,
    a scheme, a host, or a leading ``//`` makes it ``/``. Characters beyond ASCII are %-escaped, as a browser
    would, so the ``Location`` header holds only ASCII."""
    if not isinstance(target, str) or not 0 < len(target) <= MAX_NEXT or "\\" in target:
        return "/"
    if any(ord(c) <= 0x20 or 0x7F <= ord(c) <= 0x9F for c in target):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return quote(target, safe=_PRINTABLE_ASCII)  # anything else (a Chinese path, say) as UTF-8 %-escapes


def start_session(user: User) -> bool:
    """A fresh session for ``user``, held on the server (so it can be ended there) and in a signed cookie whose
    role and scope also answer while the database is briefly down; False when the user may no longer have one."""
    lifetime = timedelta(hours=settings().session_hours)
    with db.as_app():
        session_id = users.start_session(user, lifetime)
    flask.session.clear()
    if session_id is None:
        return False
    flask.session.permanent = True
    flask.session.update({"user": user.name, "sid": session_id, "token": user.token_id, "role": user.role,
                          "scope": user.scope.path, "display": user.display, "csrf": secrets.token_urlsafe(32)})
    return True


def end_session() -> str | None:
    """Logout: the session ends on the server and the cookie is emptied; returns whose it was."""
    name, session_id = flask.session.get("user"), flask.session.get("sid")
    flask.session.clear()
    if isinstance(session_id, str):
        try:
            with db.as_app():
                users.end_session(session_id)
        except DatabaseUnavailable as error:
            log.error("logout: could not end the session of %s on the server: %s", name, error)
    return name if isinstance(name, str) else None


def _session_user() -> User | None:
    session = flask.session
    name, session_id = session.get("user"), session.get("sid")
    if not isinstance(name, str) or not isinstance(session_id, str):
        return None
    try:
        user = users.session_user(session_id)
    except DatabaseUnavailable:
        # The session is signed, so it is what the login set; while the database is down no query answers anyway.
        return User(name, session.get("role"), Scope(session.get("scope")), bool(session.get("display")),
                    session.get("token"))
    if user is None or user.name != name:
        session.clear()
        return None
    return user


def _bearer(token: str) -> User | None:
    found = users.token_user(token, remote_addr())
    if found is None:
        return None
    user, since = found
    if since is None or since > TOKEN_AUDIT_EVERY:
        record("token_use", user.name, token_id=user.token_id, display=user.display)
    return user


def _basic() -> User:
    """HTTP Basic (``users.basic_user``): the user name and an API token; LoginRefused otherwise."""
    auth = flask.request.authorization  # werkzeug decodes base64 and UTF-8; None when it cannot
    if auth is None or auth.type != "basic" or not auth.username or auth.password is None \
            or len(auth.username) > users.MAX_NAME or not auth.username.isprintable():
        raise users.LoginRefused("malformed")
    user, since = users.basic_user(auth.username, auth.password, remote_addr())
    flask.g.shiyu_basic = True
    if since is None or since > TOKEN_AUDIT_EVERY:
        record("token_use", user.name, token_id=user.token_id, display=user.display, via="basic")
    return user


def _feed_bearer(token: str) -> User | None:
    """A feed's token as a user of the feed's scope that is the feed (``purposes.FEED``); None when unknown or revoked."""
    feed = feeds.feed_of_token(token)
    return None if feed is None else User(f"feed:{feed.name}", "feed", Scope(feed.scope), feed=feed.name)


def _api_key() -> str | None:
    """Open311's ``api_key`` form field on the posts only a feed reaches (never from a URL, where logs keep it).

    The form is read here, before the route, so its size is bounded first: past the intake's body limit it is a
    413 (GeoReport's form, ``dashboard/open311_write.py``), never parsed whole."""
    request = flask.request
    if request.method != "POST" or _route_purpose() != purposes.INTAKE or not request.path.startswith(OPEN311):
        return None
    request.max_content_length = intake_max_body_bytes()
    return request.form.get("api_key")


def _authenticate() -> tuple[User | None, bool]:
    """The request's user, and whether the cookie is what authenticated it (then it must come from our pages)."""
    header = flask.request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        token = header[7:].strip()
        return (_feed_bearer(token) if token.startswith(feeds.FEED_TOKEN_PREFIX) else _bearer(token)), False
    if header[:6].lower() == "basic ":
        return _basic(), False
    key = _api_key()
    if key:
        return _feed_bearer(key) if key.startswith(feeds.FEED_TOKEN_PREFIX) else None, False
    return _session_user(), True


def credential_of(user: User, cookie: bool) -> str:
    """What ``user`` came with: a feed token, a display token (or its session), an API token, or a person's session."""
    if user.feed is not None:
        return FEED
    if user.display:
        return DISPLAY
    return SESSION if cookie else API


def same_origin() -> bool:
    """A cookie-borne unsafe request must come from our own pages: a browser names the page's origin in it (and
    says in ``Sec-Fetch-Site`` whether it is another site's)."""
    site = flask.request.headers.get("Sec-Fetch-Site")
    if site is not None and site not in ("same-origin", "none"):
        return False
    origin = flask.request.headers.get("Origin")
    return origin is None or urlsplit(origin).netloc == flask.request.host


def _next_of_request() -> str:
    request = flask.request
    path = quote(request.path, safe="/:@!$&'()*+,;=-._~")
    return path + ("?" + request.query_string.decode("latin-1") if request.query_string else "")


def _refuse(status: int, user: User | None, reason: str, name: str | None = None):
    data = _is_data()
    if status == 401 and not data and flask.request.method == "GET":
        full = _next_of_request()
        return flask.redirect("/login?" + urlencode({"next": full}) if full != "/" else "/login")
    record_refusal("refused", user.name if user else name, reason, status=status, method=flask.request.method)
    if data or flask.request.method != "GET":
        response = flask.jsonify({"error": "log in first" if status == 401 else "not allowed", "reason": reason})
        response.status_code = status
        if status == 401:
            response.headers.setlist("WWW-Authenticate", _challenges())
        return response
    from dashboard.login import refused_page

    return refused_page(status)


def _challenges() -> list[str]:
    """What a 401 asks for: Basic too where QGIS and GDAL come (the OGC API, the tiles, Open311's reads), whose
    dialogs send their credentials when challenged for it; elsewhere only Bearer, so no browser pops a dialog."""
    bearer = 'Bearer realm="shiyu"'
    return ['Basic realm="shiyu", charset="UTF-8"', bearer] if _route_purpose() == purposes.MACHINE else [bearer]


def _refuse_basic(refused: users.LoginRefused):
    """A failed Basic login: a 401 naming why, or a 429 with Retry-After when its address must wait."""
    auth = flask.request.authorization
    name = auth.username if refused.reason != "malformed" and auth is not None else None
    if refused.retry_after is None:
        return _refuse(401, None, users.BASIC_REFUSALS.get(refused.reason, refused.reason), name)
    seconds = max(1, math.ceil(refused.retry_after.total_seconds()))
    record_refusal("throttled", name, "throttled", retry_after_s=seconds, via="basic")
    response = flask.jsonify({"error": "too many failed logins from this address",
                              "reason": f"try again in {seconds} s"})
    response.status_code = 429
    response.headers["Retry-After"] = str(seconds)
    return response


def _bad_request(message: str):
    response = flask.jsonify({"error": message})
    response.status_code = 400
    return response


def _display_token_login():
    """``/wall?token=…``: a display token becomes the screen's session, and the token leaves the address bar."""
    from dashboard.login import refused_page

    found = users.token_user(flask.request.args["token"], remote_addr())
    user = found[0] if found else None
    if user is not None and not user.display:
        return _refuse(403, user, "not a display token")
    if user is None or not start_session(user):
        # A refusal in place, not the login page: that would carry the token on in its next=.
        record_refusal("refused", None, "unknown or revoked display token", status=401, method=flask.request.method)
        return refused_page(401)
    record("login", user.name, via="display_token", token_id=user.token_id)
    rest = [(k, v) for k, v in flask.request.args.items(multi=True) if k != "token"]
    return flask.redirect(WALL + ("?" + urlencode(rest) if rest else ""))


def _purpose(callbacks: purposes.Callbacks) -> str:
    """The purpose of this request's route, and of its callback for a callback request (BadCallback: malformed)."""
    request = flask.request
    if request.url_rule is not None and request.url_rule.rule == purposes.UPDATE and request.method == "POST":
        return callbacks.purpose(purposes.parse(request.get_json(silent=True)))
    return _route_purpose()


def _check(user: User, cookie: bool, callbacks: purposes.Callbacks):
    """None when ``user`` may have this request, else the refusal (or the redirect of a wall screen to /wall)."""
    request = flask.request
    # A browser sends a cookie, and Basic credentials once typed into its dialog, by itself: both must come from us.
    if request.method not in SAFE_METHODS and (cookie or flask.g.get("shiyu_basic")) and not same_origin():
        return _refuse(403, user, "cross-origin request")
    purpose, credential = _purpose(callbacks), credential_of(user, cookie)
    if not purposes.may_reach(credential, purpose):
        if credential == DISPLAY and purpose == purposes.PAGE:
            return flask.redirect(WALL)
        return _refuse(403, user, purposes.refusal(credential, purpose))
    if request.path == "/export" and not user.can_export:
        return _refuse(403, user, f"role {user.role} may not export")
    return None


def _enter(callbacks: purposes.Callbacks):
    stack = ExitStack()
    flask.g.shiyu_scope = stack
    # Nothing a web request runs goes to the owner's pool: until a user is known, only what shiyu_app may do.
    stack.enter_context(db.as_app())
    request = flask.request
    # The intake API takes a feed's token even with logins off: the token says whose rows a post holds.
    if not settings().auth and _route_purpose() != purposes.INTAKE:
        flask.g.shiyu_user = _local_user()
        _purpose(callbacks)  # a malformed callback request is a 400 here too
    elif _route_purpose() == purposes.PUBLIC:
        return None
    else:
        try:
            if request.path == WALL and "token" in request.args:
                return _display_token_login()
            user, cookie = _authenticate()
        except users.LoginRefused as refused:  # only HTTP Basic logs in here
            return _refuse_basic(refused)
        except DatabaseUnavailable as error:  # a 503 with Retry-After; where the database is stays in the log
            return failures.answer(error, "access: checking a session or token")
        if user is None:
            return _refuse(401, None, "no session or token" if _route_purpose() != purposes.INTAKE
                           else "no feed token, or an unknown or revoked one")
        refusal = _check(user, cookie, callbacks)
        if refusal is not None:
            return refusal
        flask.g.shiyu_user = user
    stack.enter_context(db.scoped(flask.g.shiyu_user.scope))
    return None


def install(app: dash.Dash) -> None:
    """Authenticate, check and scope every request of ``app``'s server; a malformed ``SHIYU_SCOPE`` is refused here."""
    from werkzeug.middleware.proxy_fix import ProxyFix

    from dashboard import login

    server, callbacks = app.server, purposes.Callbacks(app)
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
    def _guard():
        try:
            return _enter(callbacks)
        except BadCallback as error:
            return _bad_request(str(error))

    @server.teardown_request
    def _leave(_error: BaseException | None) -> None:
        stack = flask.g.pop("shiyu_scope", None)
        if stack is not None:
            stack.close()
