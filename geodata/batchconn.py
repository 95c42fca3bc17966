"""The connection a load writes its batch through, with a lost connection told as what it is, and a wait on
another transaction's locks told as it happens (what is waited for, held by whom, since when)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext

import psycopg
from psycopg.rows import dict_row

from geodata import db
from geodata.errors import ConnectionLost, ShiyuError

log = logging.getLogger(__name__)

CHECK_CLIENT = "SET client_connection_check_interval = '1s'"
WAIT_LOOK_S = 0.5   # how often the watcher asks whether the batch waits
WAIT_SAY_S = 2.0    # a wait this long is said, once for each transaction waited for

# The transactions the batch's backend waits for, with what it waits on: the tables named when the lock is a
# table's (or a row's of it), "rows" when it waits for a transaction to end (another writer of the same rows).
BLOCKERS = """
SELECT a.pid, coalesce(nullif(a.application_name, ''), a.backend_type) AS application, a.usename,
       a.xact_start, a.state, left(regexp_replace(a.query, '[[:space:]]+', ' ', 'g'), 80) AS query,
       (SELECT string_agg(DISTINCT CASE WHEN l.relation IS NOT NULL THEN (
                   SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                   WHERE c.oid = l.relation)
                                        WHEN l.locktype = 'transactionid' THEN 'rows it is writing'
                                        ELSE l.locktype || ' lock' END, ', ')
        FROM pg_locks l WHERE l.pid = %(pid)s AND NOT l.granted) AS waiting_on
FROM unnest(pg_blocking_pids(%(pid)s)) AS b(pid) JOIN pg_stat_activity a ON a.pid = b.pid
ORDER BY a.pid
"""


def _blocker_text(row: dict) -> str:
    since = row["xact_start"].astimezone().strftime("%H:%M:%S") if row["xact_start"] else "an unknown time"
    doing = f"now {row['query']!r}" if row["state"] == "active" else row["state"]
    return (f"process {row['pid']} ({row['application']}, user {row['usename']}, in a transaction since {since}, "
            f"{doing})")


class WaitWatcher:
    """A thread with a connection of its own that watches the backend ``pid`` while a batch is written: a wait on
    another transaction longer than ``WAIT_SAY_S`` is logged (a warning: the loader's stderr) with what it waits on
    and who holds it, and its end with how long it took. Losing its own connection only ends the watching."""

    def __init__(self, url: str | None, pid: int):
        self.url, self.pid, self.stop = url, pid, threading.Event()
        self.thread = threading.Thread(target=self._run, name="shiyu-wait-watch", daemon=True)
        self.first_seen: dict[int, float] = {}  # the transactions waited for, by pid: since when
        self.said: set[int] = set()  # those of them that were told

    def __enter__(self) -> WaitWatcher:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        if not self.thread.is_alive():  # a wait told and not yet seen over ended before the batch did
            self._look([])

    def _run(self) -> None:
        try:
            with db.connect(self.url, autocommit=True, row_factory=dict_row) as conn:
                conn.execute("SET application_name = 'shiyu wait watch'")
                while not self.stop.wait(WAIT_LOOK_S):
                    self._look(conn.execute(BLOCKERS, {"pid": self.pid}).fetchall())
        except (psycopg.Error, ShiyuError) as error:
            log.debug("the wait watcher stopped: %s", error)

    def _look(self, blockers: list[dict]) -> None:
        now = time.monotonic()
        holding = {b["pid"] for b in blockers}
        for pid in [p for p in self.first_seen if p not in holding]:
            since = self.first_seen.pop(pid)
            if pid in self.said:
                self.said.discard(pid)
                log.warning("the wait for process %d is over after %.0f s; the load goes on", pid, now - since)
        for blocker in blockers:
            since = self.first_seen.setdefault(blocker["pid"], now)
            if blocker["pid"] not in self.said and now - since >= WAIT_SAY_S:
                self.said.add(blocker["pid"])
                log.warning("the load is waiting for a lock on %s held by %s; it goes on when that transaction "
                            "ends", blocker["waiting_on"] or "what it writes", _blocker_text(blocker))


def _lost(exc: psycopg.OperationalError) -> ConnectionLost:
    what = ("the database shut down" if isinstance(exc, psycopg.errors.AdminShutdown)
            else "the connection to the database was lost")
    return ConnectionLost(f"{what} during the load; nothing was written; run the load again when the database is back")


@contextmanager
def batch_connection(url: str | None = None, say_waits: bool = False) -> Iterator[psycopg.Connection]:
    """A connection for one batch (see :func:`geodata.db.connect`); a database that goes away meanwhile is a
    :class:`~geodata.errors.ConnectionLost`, whose transaction the server has rolled back. With ``say_waits``, a
    :class:`WaitWatcher` tells when the batch waits for another transaction's locks, and for what."""
    conn = db.connect(url)
    try:
        # A client that dies mid-statement (a killed `shiyu load`) is noticed within a second, its statement
        # cancelled and its locks let go, instead of the backend working on for the rest of the statement (an
        # index build, a million-row upsert: 10-18 s were seen) with the tables it writes locked.
        conn.execute(CHECK_CLIENT)
        conn.commit()
        with conn, (WaitWatcher(url, conn.info.backend_pid) if say_waits else nullcontext()):
            yield conn
    except psycopg.errors.QueryCanceled:  # an OperationalError too, but the database is there
        raise
    except psycopg.OperationalError as exc:
        raise _lost(exc) from exc
    finally:
        if not conn.closed:
            conn.close()
