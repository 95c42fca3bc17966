"""Feeds: sources that post incidents over HTTP, each with its own token, and the durable queue of their posts.

Managing feeds (``add_feed``, ``revoke_feed``, ``list_feeds``, ``queue_status``) is the owner's, through
``shiyu feeds``. The web server, as ``shiyu_app``, asks who a token is (``feed_of_token``), writes a post and its
validated rows in one transaction (``queue_post``) and reads a post's outcome (``post_outcome``); the intake
worker (``etl/intake_worker.py``) applies queued posts. ``0023_feeds.sql`` holds the tables; docs/intake.md.

Examples
--------
>>> token = add_feed("hotline12345", "330106")      # doctest: +SKIP
>>> feed_of_token(token).name                        # doctest: +SKIP
'hotline12345'
"""

from __future__ import annotations

import re
import secrets
import select
import threading
import time
from dataclasses import dataclass

import orjson
import pandas as pd

from geodata import db
from geodata.bulk import copy_frame
from geodata.db import fetch_all
from geodata.errors import InputError, ShiyuError
from geodata.settings import settings
from geodata.users import scope_of_code, token_sha256

FEED_TOKEN_PREFIX = "shiyufeed_"
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
# The columns of shiyu.intake_row after post_id: the loader's staging columns of incidents (etl/staging.py).
ROW_COLUMNS = ("row_no", "external_id", "category", "severity", "status", "reported_at", "resolved_at", "due_at",
               "description", "lon", "lat", "h3_r7", "h3_r8", "h3_r9", "h3_r10", "attrs", "pii")


@dataclass(frozen=True)
class Feed:
    """A feed as a request sees it: its name (the incidents' ``source``) and scope path (None: everything)."""

    name: str
    scope: str | None


ADD = """
INSERT INTO shiyu.feed (name, scope_code, scope) VALUES (%(name)s, %(code)s, %(scope)s::ltree)
ON CONFLICT (name) DO UPDATE SET scope_code = EXCLUDED.scope_code, scope = EXCLUDED.scope, revoked_at = NULL
WHERE %(replace)s
RETURNING name
"""
REVOKE_TOKENS = "UPDATE shiyu.feed_token SET revoked_at = now() WHERE feed_name = %(name)s AND revoked_at IS NULL"
ADD_TOKEN = "INSERT INTO shiyu.feed_token (feed_name, token_sha256) VALUES (%(name)s, %(sha)s)"
REVOKE = "UPDATE shiyu.feed SET revoked_at = now() WHERE name = %(name)s AND revoked_at IS NULL RETURNING name"
AUDIT = "INSERT INTO shiyu.audit_log (user_name, action, detail) VALUES (NULL, %(action)s, %(detail)s::jsonb)"

# Beijing days, as the wall counts them. Each feed's posts are read through (feed_name, received_at): its newest
# post and today's, never its whole history.
LIST = """
SELECT f.name, f.scope_code, f.revoked_at IS NOT NULL AS revoked, f.created_at, last.at AS last_post,
       coalesce(t.rows_today, 0) AS rows_today, coalesce(t.rejects_today, 0) AS rejects_today,
       coalesce(t.refused_today, 0) AS refused_today
FROM shiyu.feed f
LEFT JOIN LATERAL (SELECT max(p.received_at) AS at FROM shiyu.intake_post p WHERE p.feed_name = f.name) last ON true
LEFT JOIN LATERAL (
    SELECT sum(p.read_count - p.rejected_count) FILTER (WHERE p.status <> 'refused') AS rows_today,
           sum(p.rejected_count) AS rejects_today, count(*) FILTER (WHERE p.status = 'refused') AS refused_today
    FROM shiyu.intake_post p
    WHERE p.feed_name = f.name
      AND p.received_at >= date_trunc('day', now() AT TIME ZONE 'Asia/Shanghai') AT TIME ZONE 'Asia/Shanghai') t ON true
ORDER BY f.name
"""
# A micro-batch of the intake applied but not yet folded into the cubes (etl/intake_worker.py; 0031): committed with
# its counts and without finished_at, which the loaders set in the batch's own transaction.
UNFOLDED_BATCH = "status = 'loaded' AND finished_at IS NULL AND kind = 'incidents' AND options ? 'posts'"
STATUS = """
SELECT (SELECT count(*) FROM shiyu.intake_post WHERE status = 'queued') AS queued_posts,
       (SELECT count(*) FROM shiyu.load_batch WHERE """ + UNFOLDED_BATCH + """) AS unfolded_batches,
       (SELECT count(*) FROM shiyu.intake_row) AS queued_rows,
       (SELECT extract(epoch FROM now() - min(received_at))::float8 FROM shiyu.intake_post WHERE status = 'queued')
           AS lag_s,
       (SELECT extract(epoch FROM now() - max(applied_at))::float8 FROM shiyu.intake_post) AS since_last_applied_s,
       (SELECT count(*) FROM shiyu.intake_post WHERE applied_at > now() - interval '1 minute') AS applied_last_minute
"""


# Applied and refused posts past their keeping, a slice at a time (short locks beside a busy queue); a queued
# post is never pruned. Their incidents stay: only the post's own record (counts, rejects) goes.
PRUNE = """
DELETE FROM shiyu.intake_post WHERE id IN (
    SELECT id FROM shiyu.intake_post
    WHERE status <> 'queued' AND coalesce(applied_at, received_at) < now() - make_interval(secs => %(keep_s)s)
    LIMIT %(slice)s)
"""
PRUNE_SLICE = 5_000


def check_feed_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise InputError(f"feed name {name!r} must be 1 to 64 letters, digits, '.', '_' or '-' (it is the source name)")
    return name


def _audit(conn, action: str, detail: dict) -> None:
    conn.execute(AUDIT, {"action": action, "detail": orjson.dumps(detail).decode()})


def add_feed(name: str, scope_code: str = "city", *, replace: bool = False) -> str:
    """Create the feed ``name`` (its source name) in ``scope_code``'s area and return a new token (shown once;
    only its SHA-256 is kept). ``replace``: an existing feed takes the scope and a new token, its old tokens revoked."""
    check_feed_name(name)
    scope = scope_of_code(scope_code)
    token = FEED_TOKEN_PREFIX + secrets.token_urlsafe(32)
    with db.connect() as conn, conn.transaction():
        if conn.execute(ADD, {"name": name, "code": scope_code, "scope": scope.path, "replace": replace}).fetchone() is None:
            raise ShiyuError(f"feed {name!r} exists already; `shiyu feeds revoke {name}` it, or add it again with --replace")
        conn.execute(REVOKE_TOKENS, {"name": name})
        conn.execute(ADD_TOKEN, {"name": name, "sha": token_sha256(token)})
        _audit(conn, "feed_add", {"feed": name, "scope": scope_code, "replace": replace})
    return token


def revoke_feed(name: str) -> None:
    """The feed's tokens answer 401 from the next request on; what it posted stays."""
    with db.connect() as conn, conn.transaction():
        if conn.execute(REVOKE, {"name": name}).fetchone() is None:
            raise ShiyuError(f"there is no feed {name!r} that is not revoked already")
        conn.execute(REVOKE_TOKENS, {"name": name})
        _audit(conn, "feed_revoke", {"feed": name})


def list_feeds() -> list[dict]:
    """Every feed with its last post and today's (Beijing) rows, rejects and refused posts."""
    return fetch_all(LIST)


def queue_status() -> dict:
    """The queue: posts and rows waiting, the oldest one's wait (``lag_s``), what was applied in the last minute."""
    return fetch_all(STATUS)[0]


def prune_posts(keep_days: float | None = None) -> int:
    """Delete applied and refused posts older than ``keep_days`` (``SHIYU_INTAKE_KEEP_DAYS``); how many went."""
    keep = settings().intake_keep_days if keep_days is None else keep_days
    if keep < 0:
        raise InputError(f"keep_days {keep!r} must be 0 or more")
    pruned = 0
    with db.connect() as conn:
        while True:
            with conn.transaction():
                gone = conn.execute(PRUNE, {"keep_s": keep * 86_400, "slice": PRUNE_SLICE}).rowcount
            pruned += gone
            if gone < PRUNE_SLICE:
                break
        if pruned:
            with conn.transaction():
                _audit(conn, "feed_prune", {"posts": pruned, "keep_days": keep})
    return pruned


# ---- the web server's side (as shiyu_app) -------------------------------------------------------------------

FEED_OF_TOKEN = "SELECT name, scope FROM shiyu.feed_of_token(%(sha)s)"
AREA_EXTENT = "SELECT * FROM shiyu.area_extent(%(margin)s)"
# Posted points (WGS-84) that fall outside the feed's area: under row-level security the scope's own area is visible.
OUTSIDE_SCOPE = """
SELECT p.k FROM unnest(%(lon)s::float8[], %(lat)s::float8[]) WITH ORDINALITY AS p(lon, lat, k)
WHERE NOT EXISTS (SELECT 1 FROM shiyu.area a WHERE a.path = %(scope)s::ltree
                  AND ST_Covers(a.geom, ST_SetSRID(ST_MakePoint(p.lon, p.lat), 4326)))
ORDER BY p.k
"""
INSERT_POST = """
INSERT INTO shiyu.intake_post (feed_name, status, read_count, rejected_count, rejects)
VALUES (%(feed)s, %(status)s, %(read)s, %(rejected)s, %(rejects)s::jsonb) RETURNING id
"""
OUTCOME = """
SELECT id, feed_name, status, read_count, rejected_count, rejects, loaded_count, updated_count, unchanged_count,
       batch_id, received_at, applied_at
FROM shiyu.intake_post WHERE id = %(id)s AND feed_name = %(feed)s
"""


def feed_of_token(token: str) -> Feed | None:
    """The feed of a presented token, or None when it is unknown or revoked (run inside ``db.as_app()``)."""
    if not isinstance(token, str) or not token.startswith(FEED_TOKEN_PREFIX) or len(token) > 200:
        return None
    rows = fetch_all(FEED_OF_TOKEN, {"sha": token_sha256(token)})
    return Feed(rows[0]["name"], rows[0]["scope"]) if rows else None


def area_extent(margin: float) -> tuple[float, float, float, float] | None:
    """The extent of every area, ``margin`` degrees wider on each side; None without areas."""
    rows = fetch_all(AREA_EXTENT, {"margin": margin})
    return tuple(rows[0].values()) if rows else None


def outside_scope(feed: Feed, lon, lat) -> list[int]:
    """The positions (0-based) of the points that lie outside the feed's area (none for a city-wide feed)."""
    if feed.scope is None or not len(lon):
        return []
    rows = fetch_all(OUTSIDE_SCOPE, {"lon": list(map(float, lon)), "lat": list(map(float, lat)), "scope": feed.scope})
    return [r["k"] - 1 for r in rows]


def queue_post(feed: Feed, read: int, rejects: list[dict], records: pd.DataFrame | None) -> int:
    """Commit a post and its validated rows (``records``, in ``ROW_COLUMNS``) to the queue; returns the post's id.
    ``records`` None: the post was refused, and only its counts are kept."""
    status = "queued" if records is not None else "refused"
    params = {"feed": feed.name, "status": status, "read": read, "rejected": len(rejects),
              "rejects": orjson.dumps(rejects).decode()}
    with db.pooled() as conn:
        post = conn.execute(INSERT_POST, params).fetchone()[0]
        if records is not None and len(records):
            copy_frame(conn, "shiyu.intake_row", records.assign(post_id=post), ("post_id", *ROW_COLUMNS))
    return post


def post_outcome(post_id: int, feed: str) -> dict | None:
    """A post of ``feed`` as the queue holds it now, or None (not there, or another feed's)."""
    rows = fetch_all(OUTCOME, {"id": post_id, "feed": feed})
    return rows[0] if rows else None


# ---- the intake worker's connection (etl/intake_worker.py) ----------------------------------------------------

# One worker applies the queue: whoever holds this session lock on its connection. Held on the connection that
# applies, so a new worker cannot start while a killed one's backend is still finishing its statement.
WORKER_LOCK = 0x5348495955494E54  # 'SHIYUINT'
TRY_WORKER_LOCK = "SELECT pg_try_advisory_lock(%s)"
LISTEN = "LISTEN shiyu_intake"
PING = "SELECT 1"


class PostNotices:
    """The notices of committed posts on the worker's connection. One that arrives while a micro-batch is being
    applied is remembered by the handler, so the next wait returns at once instead of sleeping past it."""

    def __init__(self, conn):
        self._conn = conn
        self._pending = threading.Event()
        conn.add_notify_handler(lambda _notice: self._pending.set())

    def wait(self, timeout: float) -> None:
        """Return when a post has been committed since the last wait, or after ``timeout`` seconds."""
        if not self._pending.is_set():
            hand_notices(self._conn, timeout)
        self._pending.clear()


def hand_notices(conn, timeout: float) -> None:
    """Wait until a notice reaches ``conn`` (its socket turns readable) or ``timeout`` passes; a trivial query then
    hands what arrived to the connection's notify handlers."""
    select.select([conn.fileno()], [], [], timeout)
    conn.execute(PING)


# The worker's notice at each micro-batch's commit (etl/intake_worker.py), which wakes the web threads waiting for
# their posts' outcome instead of their polling the queue.
APPLIED_CHANNEL = "shiyu_applied"
NOTIFY_APPLIED = f"NOTIFY {APPLIED_CHANNEL}"


class AppliedNotices:
    """The micro-batches' commits as this process hears them: one thread and connection (started at the first
    ``watch``) listening on ``APPLIED_CHANNEL``, each notice moving ``generation`` and waking every waiter. While it
    has no connection (``listening`` false), waiters poll; it reconnects by itself."""

    PING_S = 30.0  # how often an idle listener checks its connection

    def __init__(self):
        self._changed = threading.Condition()
        self._start = threading.Lock()
        self._thread: threading.Thread | None = None
        self.generation = 0
        self.listening = False

    def watch(self) -> None:
        with self._start:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._listen, name="shiyu-applied", daemon=True)
                self._thread.start()

    def wait(self, seen: int, timeout: float) -> None:
        """Return once ``generation`` is no longer ``seen`` (a micro-batch committed since), or after ``timeout``."""
        with self._changed:
            self._changed.wait_for(lambda: self.generation != seen, timeout)

    def _bump(self) -> None:
        with self._changed:
            self.generation += 1
            self._changed.notify_all()

    def _listen(self) -> None:
        while True:
            try:
                with db.connect(autocommit=True) as conn:
                    conn.add_notify_handler(lambda _notice: self._bump())
                    conn.execute(f"LISTEN {APPLIED_CHANNEL}")
                    self.listening = True
                    while True:
                        hand_notices(conn, self.PING_S)
            except Exception:  # the database went away: waiters poll meanwhile (and are woken to notice)
                self.listening = False
                self._bump()
                time.sleep(1.0)


applied_notices = AppliedNotices()


def hold_worker_lock(conn) -> PostNotices | None:
    """Take the worker's lock on ``conn`` (autocommit) if no other session holds it, and listen for posts."""
    if not conn.execute(TRY_WORKER_LOCK, (WORKER_LOCK,)).fetchone()[0]:
        return None
    conn.execute(LISTEN)
    return PostNotices(conn)
