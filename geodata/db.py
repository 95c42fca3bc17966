"""Connections: the one place that opens psycopg connections.

``DATABASE_URL`` wins; otherwise the embedded cluster under
``SHIYU_DATA_DIR`` is used. Nothing connects at import time.

Two pools: the owner's (the CLI, loads, tests) and the app's, which connects
as ``shiyu_app`` and so is held to row-level security. Inside
``with scoped(scope):`` every ``pooled()`` connection, and so every
``fetch_all``, comes from the app's pool with the scope set for its
transaction; docs/security.md.
"""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
import psycopg.errors
from psycopg.rows import dict_row

from geodata.cluster import Cluster
from geodata.errors import ClusterError, DatabaseUnavailable, QueryTooSlow, ShiyuError
from geodata.scope import Scope
from geodata.settings import settings

log = logging.getLogger(__name__)

APP_ROLE = "shiyu_app"
# The value of the shiyu.scope setting that means the whole database (0007_row_security.sql); unset or empty means none.
EVERYTHING = "*"

_pools: dict[str, Any] = {}
_pool_lock = threading.Lock()
# The shiyu.scope value of the code running now, or None: not scoped, the owner's pool.
_scope: ContextVar[str | None] = ContextVar("shiyu_scope", default=None)

# The longest one query may run, by the kind of request it serves, set for each transaction (``request_kind``):
# a map callback is someone waiting at a screen, a tile one of dozens a map asks for at once, an OGC page a client
# that pages on, an export a file someone asked for and waits for, a feed's post its validation and queueing. Queries of no kind (the CLI, loads) keep the
# pool's SHIYU_STATEMENT_TIMEOUT_MS.
STATEMENT_TIMEOUTS_MS: dict[str, int] = {"callback": 8_000, "tiles": 5_000, "ogc": 15_000, "export": 60_000,
                                         "probe": 1_000, "intake": 10_000}
_kind: ContextVar[str | None] = ContextVar("shiyu_request_kind", default=None)


def database_url() -> str:
    """The URL of the database every command and page uses."""
    s = settings()
    if s.database_url:
        return s.database_url
    try:
        return Cluster(s.data_dir, s.pg_bin).url()
    except ClusterError as exc:
        raise DatabaseUnavailable(f"no database: run `shiyu db up` or set DATABASE_URL ({exc})") from exc


def app_database_url() -> str:
    """The URL the dashboard's queries use: ``SHIYU_APP_DATABASE_URL``, else the database's own URL as ``shiyu_app``.

    The role in the derived URL has no password: the embedded cluster trusts its unix socket (readable by its
    owner only); elsewhere it works where the server trusts or peer-authenticates the connection, or with a
    ``~/.pgpass`` entry, and otherwise ``SHIYU_APP_DATABASE_URL`` must say how to log in.
    """
    s = settings()
    if s.app_database_url:
        return s.app_database_url
    parts = urlsplit(database_url())
    if parts.scheme not in ("postgresql", "postgres"):
        raise DatabaseUnavailable("set SHIYU_APP_DATABASE_URL: the app's URL cannot be derived from DATABASE_URL")
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    netloc = f"{APP_ROLE}@{host}" + (f":{parts.port}" if parts.port else "")
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query) if k not in ("user", "password")])
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def describe(url: str) -> str:
    """Where a URL points, without its password, for messages."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if not host and "host=" in parts.query:
        host = parts.query.split("host=", 1)[1].split("&", 1)[0]
    port = f":{parts.port}" if parts.port else ""
    if not port and "port=" in parts.query:
        port = ":" + parts.query.split("port=", 1)[1].split("&", 1)[0]
    return f"{host or 'localhost'}{port}{parts.path}"


def _unavailable(url: str, exc: Exception) -> DatabaseUnavailable:
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return DatabaseUnavailable(f"cannot reach the database at {describe(url)}: {reason}")


def connect(url: str | None = None, **kwargs: Any) -> psycopg.Connection:
    """A new connection; a database that cannot be reached is a DatabaseUnavailable."""
    url = url or database_url()
    try:
        return psycopg.connect(url, connect_timeout=10, **kwargs)
    except psycopg.OperationalError as exc:
        raise _unavailable(url, exc) from exc


# Refuse an app connection row-level security would not hold: a superuser, BYPASSRLS, or the tables' owner.
UNRESTRICTED = """
SELECT r.rolsuper OR r.rolbypassrls OR pg_has_role(current_user, c.relowner, 'USAGE') AS unrestricted
FROM pg_roles r, pg_class c
WHERE r.rolname = current_user AND c.oid = 'shiyu.incident'::regclass
"""


def _check_app_role(conn: psycopg.Connection) -> None:
    row = conn.execute(UNRESTRICTED).fetchone()
    conn.rollback()
    if row is None or row[0]:
        raise ShiyuError(f"the app's database role ({conn.info.user}) bypasses row-level security; "
                         f"SHIYU_APP_DATABASE_URL must name {APP_ROLE} (docs/security.md)")


def pool(app: bool = False):
    """The process-wide connection pool: the owner's, or (``app``) the one that connects as ``shiyu_app``."""
    key = "app" if app else "owner"
    with _pool_lock:
        if key not in _pools:
            from psycopg_pool import ConnectionPool

            s = settings()
            url = app_database_url() if app else database_url()
            if app:  # once, here, so that a wrong role is one clear error rather than a pool that never fills
                with connect(url) as conn:
                    _check_app_role(conn)
            _pools[key] = ConnectionPool(
                url,
                min_size=1,
                max_size=8,
                timeout=s.pool_timeout_s,
                check=ConnectionPool.check_connection,
                configure=_check_app_role if app else None,
                kwargs={
                    "connect_timeout": 5,
                    # JIT compiles every query the planner costs high, and under row-level security the
                    # policies' subplans push the dashboard's queries there: the wall's grid coverage spent 0.9 s
                    # compiling for 0.4 s of work. The pools answer people and short queries; loads do not use them.
                    "options": f"-c statement_timeout={s.statement_timeout_ms} -c jit=off",
                    # Auto-prepared generic plans measured 2x slower on spatial queries.
                    "prepare_threshold": None,
                },
                open=True,
                name=f"shiyu-{key}",
            )
        return _pools[key]


def close_pool() -> None:
    """Close both pools (tests, and before the database goes away)."""
    with _pool_lock:
        while _pools:
            _pools.popitem()[1].close()


def scope_setting(scope: Scope) -> str:
    """The value of ``shiyu.scope`` for ``scope``."""
    return EVERYTHING if scope.path is None else scope.path


@contextmanager
def scoped(scope: Scope) -> Iterator[None]:
    """Run the queries of the block as ``shiyu_app``, row-level security holding them to ``scope``.

    Examples
    --------
    >>> with scoped(Scope("330100.330106")):          # doctest: +SKIP
    ...     fetch_all("SELECT count(*) FROM shiyu.incident")
    """
    token = _scope.set(scope_setting(scope))
    try:
        yield
    finally:
        _scope.reset(token)


@contextmanager
def as_app() -> Iterator[None]:
    """Run the queries of the block as ``shiyu_app`` with no scope: no row of a scoped table, only what the role
    may do outside them (the login functions of 0008_logins.sql, writing the audit log)."""
    token = _scope.set("")
    try:
        yield
    finally:
        _scope.reset(token)


@contextmanager
def request_kind(kind: str | None) -> Iterator[None]:
    """Run the queries of the block under the statement timeout of ``kind`` (``STATEMENT_TIMEOUTS_MS``); None: the
    pool's own."""
    if kind is not None and kind not in STATEMENT_TIMEOUTS_MS:
        raise ValueError(f"unknown request kind {kind!r}; kinds: {', '.join(STATEMENT_TIMEOUTS_MS)}")
    token = _kind.set(kind)
    try:
        yield
    finally:
        _kind.reset(token)


def statement_timeout_ms() -> int:
    """The statement timeout of the code running now: its request kind's, else the pool's."""
    kind = _kind.get()
    return STATEMENT_TIMEOUTS_MS[kind] if kind is not None else settings().statement_timeout_ms


def side_by_side(*calls: Callable[[], Any]) -> list[Any]:
    """The results of ``calls``, in order, each run on a thread of its own in a copy of this context (so a scope
    travels with it) and so on a connection of its own: queries that are mostly the database's work wait for the
    longest, not the sum. An error of any is raised as it was, once all have ended."""
    with ThreadPoolExecutor(max_workers=max(1, len(calls))) as threads:
        futures = [threads.submit(contextvars.copy_context().run, call) for call in calls]
    return [future.result() for future in futures]


# Bound, and local to the transaction: it ends with it, so a pooled connection carries nothing into the next one.
SET_SCOPE = "SELECT set_config('shiyu.scope', %s, true)"
# The same with the request kind's statement timeout, in the same round trip.
SET_SCOPE_AND_TIMEOUT = "SELECT set_config('shiyu.scope', %s, true), set_config('statement_timeout', %s, true)"


@contextmanager
def pooled() -> Iterator[psycopg.Connection]:
    """A pooled connection inside one transaction; failures become DatabaseUnavailable or QueryTooSlow.

    Inside ``scoped`` it is an app connection whose transaction starts by setting the scope; inside
    ``request_kind`` the transaction runs under that kind's statement timeout.
    """
    from psycopg_pool import PoolTimeout

    setting, kind = _scope.get(), _kind.get()
    try:
        with pool(app=setting is not None).connection() as conn:
            if kind is not None:
                conn.execute(SET_SCOPE_AND_TIMEOUT, (setting or "", str(STATEMENT_TIMEOUTS_MS[kind])), prepare=False)
            elif setting is not None:
                conn.execute(SET_SCOPE, (setting,))
            yield conn
    except psycopg.errors.QueryCanceled as exc:  # an OperationalError too, but the database is there
        raise QueryTooSlow(f"the query took longer than the {statement_timeout_ms() / 1000:g} s limit; "
                           "zoom in or narrow the filters") from exc
    except (psycopg.OperationalError, PoolTimeout) as exc:
        raise _unavailable(app_database_url() if setting is not None else database_url(), exc) from exc


def compose(query: str, **identifiers: str | tuple[str, ...]) -> "psycopg.sql.Composed":
    """``query`` with ``{name}`` placeholders filled by quoted identifiers (callers pass allow-listed names).

    A tuple becomes a comma-separated list; a name with a dot is schema-qualified.
    """
    from psycopg import sql

    def ident(name: str) -> "sql.Identifier":
        return sql.Identifier(*name.split("."))

    return sql.SQL(query).format(**{
        key: sql.SQL(", ").join(map(ident, value)) if isinstance(value, tuple) else ident(value)
        for key, value in identifiers.items()
    })


def literal_sql(text: str) -> "psycopg.sql.SQL":
    """Trusted SQL text (e.g. a definition read back from the catalogue) for use with ``compose``."""
    from psycopg import sql

    return sql.SQL(text)


def fetch_all(query: str | psycopg.sql.Composable, params: Sequence[Any] | dict | None = None) -> list[dict]:
    """Rows of one query as dicts, on a pooled connection."""
    with pooled() as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute(query, params)
        return cur.fetchall()


@contextmanager
def one_transaction() -> Iterator[Callable[..., list[dict]]]:
    """A function that runs queries on one pooled connection, all inside one transaction, each returning its rows
    as dicts (none for a statement without rows): committed when the block ends, rolled back by an error. Inside
    ``scoped`` it is the app's, held to the scope, as ``pooled`` is."""
    with pooled() as conn:
        def run(query: str | psycopg.sql.Composable, params: Sequence[Any] | dict | None = None) -> list[dict]:
            with conn.cursor(row_factory=dict_row) as cur:
                cur.execute(query, params)
                return cur.fetchall() if cur.description else []

        yield run


# Bound, and local to the transaction, like the scope: the pool's own limit stands again for the next one.
SET_TIMEOUT = "SELECT set_config('statement_timeout', %s, true)"


def fetch_value(query: str | psycopg.sql.Composable, params: Sequence[Any] | dict | None = None, *,
                timeout_ms: int | None = None) -> Any:
    """The first column of the first row of one query (None without rows), under ``timeout_ms`` if given.

    Never prepared: a generic plan of a spatial query measured 2.2–2.4x slower than a custom one
    (shared/MEASURED.md), and the pool's ``prepare_threshold=None`` is not the only way here to get one.
    """
    try:
        with pooled() as conn, conn.pipeline():  # the timeout and the query in one round trip
            if timeout_ms is not None:
                conn.execute(SET_TIMEOUT, (str(int(timeout_ms)),), prepare=False)
            row = conn.execute(query, params, prepare=False).fetchone()
            return row[0] if row else None
    except QueryTooSlow as exc:
        if timeout_ms is None:
            raise
        raise QueryTooSlow(f"the query took longer than the {timeout_ms / 1000:g} s limit; "
                           "zoom in or narrow the filters") from exc.__cause__
