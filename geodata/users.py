"""Users, passwords and tokens (``shiyu.app_user``, ``shiyu.api_token``).

Passwords are hashed with argon2id (argon2-cffi's defaults); tokens are 256 random bits, of which only the
SHA-256 is stored. Managing users (``add_user``, ``disable_user``, ``create_token`` …) is the owner's, through
the ``shiyu users`` command. Checking a login, a session or a token (``authenticate``, ``start_session``,
``session_user``, ``end_session``, ``token_user``) goes through the SECURITY DEFINER functions of
``0008_logins.sql`` and ``0021_sessions_and_throttle.sql``, so the dashboard, as ``shiyu_app``
(``db.as_app``), never reads the user, token, session or throttle tables itself (docs/security.md).

Examples
--------
>>> add_user("wang", "officer", "330106", password="a long passphrase")   # doctest: +SKIP
>>> authenticate("wang", "a long passphrase").scope                        # doctest: +SKIP
Scope(path='330100.330106')
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache

from geodata.db import fetch_all
from geodata.errors import InputError, ShiyuError
from geodata.scope import Scope

ROLES = ("admin", "commander", "officer", "planner", "viewer")
# Who sees reporters' names and phones unmasked (within their scope, which row security already holds them to).
PII_ROLES = frozenset({"admin", "officer"})
EXPORT_ROLES = frozenset({"admin", "commander", "officer", "planner"})
WHOLE = ("city", "*")  # --scope values meaning the whole database
MIN_PASSWORD = 8
TOKEN_PREFIX = "shiyu_"
MAX_NAME = 64
_NAME = re.compile(r"^[^\s/\\:]{1,%d}$" % MAX_NAME)


class LoginRefused(ShiyuError):
    """A login that did not succeed; ``reason`` is unknown, bad_password or disabled (for the audit log only: the
    person is told the same thing for each, so a name cannot be probed), or throttled (too many failures from
    the client's address: told to wait ``retry_after``, before any password is looked at)."""

    def __init__(self, reason: str, retry_after: timedelta | None = None):
        super().__init__(f"login refused ({reason})")
        self.reason = reason
        self.retry_after = retry_after


@dataclass(frozen=True)
class User:
    """Who a request is: a login, a token's owner, or (``display``) a wall screen showing that user's scope."""

    name: str | None
    role: str
    scope: Scope
    display: bool = False
    token_id: int | None = None
    feed: str | None = None  # a feed's token: the source it posts (geodata/feeds.py), and nothing else

    @property
    def show_pii(self) -> bool:
        return self.role in PII_ROLES and not self.display and self.feed is None

    @property
    def can_export(self) -> bool:
        return self.role in EXPORT_ROLES and not self.display and self.feed is None


@lru_cache(maxsize=1)
def _hasher():
    from argon2 import PasswordHasher

    return PasswordHasher()


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    # Checked when there is no real hash, so an unknown name costs what a wrong password costs.
    return _hasher().hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise InputError(f"a password needs at least {MIN_PASSWORD} characters")
    return _hasher().hash(password)


def _verify(password_hash: str | None, password: str) -> bool:
    from argon2.exceptions import InvalidHashError, VerificationError

    try:
        return _hasher().verify(password_hash or _dummy_hash(), password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _scope(path) -> Scope:
    return Scope(str(path) if path is not None else None)


def check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise InputError(f"user name {name!r} must be 1 to 64 characters without spaces, slashes or colons")
    return name


AREA_PATH = "SELECT path::text AS path FROM shiyu.area WHERE code = %(code)s"


def scope_of_code(code: str) -> Scope:
    """The scope an area code stands for (its path), or the whole database for ``city`` / ``*``."""
    if code in WHOLE:
        return Scope.everything()
    rows = fetch_all(AREA_PATH, {"code": code})
    if not rows:
        raise InputError(f"there is no area with code {code!r}; give an area code, or 'city' for the whole database")
    return Scope(rows[0]["path"])


ADD = """
INSERT INTO shiyu.app_user (name, role, scope, password_hash)
VALUES (%(name)s, %(role)s, %(scope)s::ltree, %(hash)s)
ON CONFLICT (name) DO NOTHING
RETURNING name
"""
SET_PASSWORD = """
UPDATE shiyu.app_user SET password_hash = %(hash)s, failed_logins = 0, locked_until = NULL
WHERE name = %(name)s RETURNING name
"""
DISABLE = "UPDATE shiyu.app_user SET disabled = true WHERE name = %(name)s RETURNING name"
LIST = """
SELECT u.name, u.role, u.scope::text AS scope, u.disabled, u.created_at, u.last_login, u.locked_until,
       u.failed_logins, count(t.id) FILTER (WHERE t.revoked_at IS NULL) AS tokens
FROM shiyu.app_user u LEFT JOIN shiyu.api_token t ON t.user_name = u.name
GROUP BY u.name ORDER BY u.name
"""
ADD_TOKEN = """
INSERT INTO shiyu.api_token (user_name, token_sha256, display, label)
SELECT name, %(sha)s, %(display)s, %(label)s FROM shiyu.app_user WHERE name = %(name)s AND NOT disabled
RETURNING id
"""
REVOKE_TOKENS = """
UPDATE shiyu.api_token SET revoked_at = now() WHERE user_name = %(name)s AND revoked_at IS NULL RETURNING id
"""


def add_user(name: str, role: str, scope_code: str, password: str | None = None) -> User:
    """Create a user (the owner's); without a password the user can log in only once one is set."""
    check_name(name)
    if role not in ROLES:
        raise InputError(f"role {role!r} is not one of {', '.join(ROLES)}")
    scope = scope_of_code(scope_code)
    rows = fetch_all(ADD, {"name": name, "role": role, "scope": scope.path,
                           "hash": hash_password(password) if password is not None else None})
    if not rows:
        raise ShiyuError(f"user {name!r} exists already")
    return User(name, role, scope)


def set_password(name: str, password: str) -> None:
    if not fetch_all(SET_PASSWORD, {"name": name, "hash": hash_password(password)}):
        raise ShiyuError(f"there is no user {name!r}")


def disable_user(name: str) -> None:
    """Refuse the user's logins, sessions and tokens from the next request on."""
    if not fetch_all(DISABLE, {"name": name}):
        raise ShiyuError(f"there is no user {name!r}")


def list_users() -> list[dict]:
    return fetch_all(LIST)


def create_token(name: str, display: bool = False, label: str | None = None) -> str:
    """A new token for ``name`` (shown once; only its SHA-256 is kept). ``display``: for a wall screen."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    if not fetch_all(ADD_TOKEN, {"name": name, "sha": token_sha256(token), "display": display, "label": label}):
        raise ShiyuError(f"there is no enabled user {name!r}")
    return token


def revoke_tokens(name: str) -> int:
    """Revoke every token of ``name``; returns how many."""
    return len(fetch_all(REVOKE_TOKENS, {"name": name}))


LOGIN_ATTEMPT = "SELECT * FROM shiyu.login_attempt(%(name)s, %(addr)s)"
LOGIN_SUCCEEDED = "SELECT shiyu.login_succeeded(%(name)s, %(addr)s)"
LOGIN_POLICY = "SELECT * FROM shiyu.login_policy()"
SESSION_START = "SELECT shiyu.session_start(%(sid)s, %(name)s, %(token)s, %(lifetime)s) AS started"
SESSION_END = "SELECT shiyu.session_end(%(sid)s)"
SESSION_USER = "SELECT user_name, role, scope, display, token_id FROM shiyu.user_of_session(%(sid)s)"
TOKEN_USER = """
SELECT token_id, user_name, role, scope, display, since_last_use
FROM shiyu.token_user(%(sha)s, %(addr)s)
"""


def client_key(remote_addr: str | None) -> str:
    """The address a login is counted against: an IPv4 address as it is, an IPv6 one by its /64 (one
    subscriber's block, which its owner can fill with addresses at will)."""
    try:
        address = ipaddress.ip_address((remote_addr or "").strip())
    except ValueError:
        return (remote_addr or "")[:64]
    if address.version == 4:
        return str(address)
    if address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(ipaddress.ip_network(f"{address}/64", strict=False))


def login_policy() -> dict:
    """The throttle, as ``0021_sessions_and_throttle.sql`` declares it once: ``free_per_name``,
    ``free_per_address``, ``first_wait``, ``max_wait``, ``forget_after``."""
    return fetch_all(LOGIN_POLICY)[0]


def authenticate(name: str, password: str, remote_addr: str | None = None) -> User:
    """The user ``name`` if ``password`` is theirs; LoginRefused otherwise.

    Each check is counted as a failure, for the client's address and for the name from that address, before the
    hash is read; past ``login_policy()``'s free tries the next one from there must wait, doubling each time. A
    try that comes too soon is refused as ``throttled`` (with ``retry_after``) without looking at the password.
    """
    valid = bool(_NAME.match(name or ""))
    rows = fetch_all(LOGIN_ATTEMPT, {"name": name if valid else None, "addr": client_key(remote_addr)})
    state = rows[0]
    if state["state"] == "throttled":
        raise LoginRefused("throttled", retry_after=state["retry_after"])
    matched = _verify(state["password_hash"], password or "")
    if state["state"] != "check":
        raise LoginRefused(state["state"])
    if not matched:
        raise LoginRefused("bad_password")
    fetch_all(LOGIN_SUCCEEDED, {"name": name, "addr": client_key(remote_addr)})
    return User(name, state["role"], _scope(state["scope"]))


def session_id_sha256(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def start_session(user: User, lifetime: timedelta) -> str | None:
    """A new server-side session for ``user`` (a display token's when ``user.token_id``); its id, for the cookie
    only, or None when the user (or token) no longer may have one."""
    session_id = secrets.token_urlsafe(32)
    rows = fetch_all(SESSION_START, {"sid": session_id_sha256(session_id), "name": user.name,
                                     "token": user.token_id, "lifetime": lifetime})
    return session_id if rows[0]["started"] else None


def end_session(session_id: str) -> None:
    """Logout: this session answers no more (the user's others go on)."""
    fetch_all(SESSION_END, {"sid": session_id_sha256(session_id)})


def session_user(session_id: str) -> User | None:
    """The user of a session, as they are now; None when it was ended, expired, or its user disabled, changed
    (role, scope, password) or its display token revoked."""
    if not isinstance(session_id, str) or not 0 < len(session_id) <= 100:
        return None
    rows = fetch_all(SESSION_USER, {"sid": session_id_sha256(session_id)})
    if not rows:
        return None
    r = rows[0]
    return User(r["user_name"], r["role"], _scope(r["scope"]), r["display"], r["token_id"])


def token_user(token: str, remote_addr: str | None) -> tuple[User, timedelta | None] | None:
    """The user of a presented token, and the time since its last use from this address (None: first use here)."""
    if not isinstance(token, str) or not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    rows = fetch_all(TOKEN_USER, {"sha": token_sha256(token), "addr": remote_addr})
    if not rows:
        return None
    r = rows[0]
    return User(r["user_name"], r["role"], _scope(r["scope"]), r["display"], r["token_id"]), r["since_last_use"]


# Why HTTP Basic did not log in, for the person at QGIS or GDAL (the answer's reason) and the audit log.
BASIC_REFUSALS = {
    "not_a_token": "HTTP Basic takes one of your API tokens as the password, not your login password "
                   "(an administrator makes one: shiyu users token NAME)",
    "unknown_token": "that API token is unknown or revoked",
    "token_of_another_user": "that API token is not this user's",
    "malformed": "the Authorization header is not HTTP Basic's base64 of name:token",
}


def basic_user(name: str, password: str, remote_addr: str | None) -> tuple[User, timedelta | None]:
    """HTTP Basic as QGIS and GDAL send it: the user ``name`` and one of their API tokens as the password.

    The user and the time since the token's last use from this address (``token_user``), or LoginRefused. A
    token is looked up by its SHA-256 (nothing is hashed slowly, so nothing waits first); a try that fails (a
    password instead of a token, an unknown or revoked token, another user's) is counted by the login throttle
    exactly as a failed password is (``login_policy``), and past the free tries from that address the next
    failure is refused as ``throttled`` with ``retry_after``. A right token is never kept waiting by failures
    from its address: they may be someone else's behind the same office gateway, and 256 random bits are not
    guessed one try at a time."""
    found = token_user(password, remote_addr) if password.startswith(TOKEN_PREFIX) else None
    if found is not None and found[0].name == name:
        return found
    reason = ("not_a_token" if not password.startswith(TOKEN_PREFIX) else
              "unknown_token" if found is None else "token_of_another_user")
    valid = bool(_NAME.match(name or ""))
    state = fetch_all(LOGIN_ATTEMPT, {"name": name if valid else None, "addr": client_key(remote_addr)})[0]
    if state["state"] == "throttled":
        raise LoginRefused("throttled", retry_after=state["retry_after"])
    raise LoginRefused(reason)
