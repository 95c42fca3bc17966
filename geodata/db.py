"""Connections: the one place that opens psycopg connections.

``DATABASE_URL`` wins; otherwise the embedded cluster under
``SHIYU_DATA_DIR`` is used. Nothing connects at import time.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import psycopg
import psycopg.errors
from psycopg.rows import dict_row

from geodata.cluster import Cluster
from geodata.errors import ClusterError, DatabaseUnavailable, QueryTooSlow
from geodata.settings import settings

log = logging.getLogger(__name__)

_pool = None
_pool_lock = threading.Lock()


def database_url() -> str:
    """The URL of the database every command and page uses."""
    s = settings()
    if s.database_url:
        return s.database_url
    try:
        return Cluster(s.data_dir, s.pg_bin).url()
    except ClusterError as exc:
        raise DatabaseUnavailable(f"no database: run `shiyu db up` or set DATABASE_URL ({exc})") from exc


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


def pool():
    """The process-wide connection pool used by the dashboard and the layers."""
    global _pool
    with _pool_lock:
        if _pool is None:
            from psycopg_pool import ConnectionPool

            s = settings()
            url = database_url()
            _pool = ConnectionPool(
                url,
                min_size=1,
                max_size=8,
                timeout=s.pool_timeout_s,
                check=ConnectionPool.check_connection,
                kwargs={
                    "connect_timeout": 5,
                    "options": f"-c statement_timeout={s.statement_timeout_ms}",
                    # Auto-prepared generic plans measured 2x slower on spatial queries.
                    "prepare_threshold": None,
                },
                open=True,
                name="shiyu",
            )
        return _pool


def close_pool() -> None:
    global _pool
    with _pool_lock:
        if _pool is not None:
            _pool.close()
            _pool = None


@contextmanager
def pooled() -> Iterator[psycopg.Connection]:
    """A pooled connection inside one transaction; failures become DatabaseUnavailable or QueryTooSlow."""
    from psycopg_pool import PoolTimeout

    try:
        with pool().connection() as conn:
            yield conn
    except psycopg.errors.QueryCanceled as exc:  # an OperationalError too, but the database is there
        raise QueryTooSlow(f"the query took longer than the {settings().statement_timeout_ms / 1000:g} s limit; "
                           "zoom in or narrow the filters") from exc
    except (psycopg.OperationalError, PoolTimeout) as exc:
        raise _unavailable(database_url(), exc) from exc


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
