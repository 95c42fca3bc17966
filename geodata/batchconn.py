"""The connection a load writes its batch through, with a lost connection told as what it is."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from geodata import db
from geodata.errors import ConnectionLost


CHECK_CLIENT = "SET client_connection_check_interval = '1s'"


def _lost(exc: psycopg.OperationalError) -> ConnectionLost:
    what = ("the database shut down" if isinstance(exc, psycopg.errors.AdminShutdown)
            else "the connection to the database was lost")
    return ConnectionLost(f"{what} during the load; nothing was written; run the load again when the database is back")


@contextmanager
def batch_connection(url: str | None = None) -> Iterator[psycopg.Connection]:
    """A connection for one batch (see :func:`geodata.db.connect`); a database that goes away meanwhile is a
    :class:`~geodata.errors.ConnectionLost`, whose transaction the server has rolled back."""
    conn = db.connect(url)
    try:
        # A client that dies mid-statement (a killed `shiyu load`) is noticed within a second, its statement
        # cancelled and its locks let go, instead of the backend working on for the rest of the statement (an
        # index build, a million-row upsert: 10-18 s were seen) with the tables it writes locked.
        conn.execute(CHECK_CLIENT)
        conn.commit()
        with conn:
            yield conn
    except psycopg.errors.QueryCanceled:  # an OperationalError too, but the database is there
        raise
    except psycopg.OperationalError as exc:
        raise _lost(exc) from exc
    finally:
        if not conn.closed:
            conn.close()
