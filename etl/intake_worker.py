"""The intake worker: queued posts applied in micro-batches through the loader's own set-based path.

One worker runs at a time (``geodata.feeds.hold_worker_lock``: a session lock on the connection that applies).
Each micro-batch is one transaction: it claims the oldest queued posts of one feed (``FOR UPDATE SKIP LOCKED``),
stages their rows as ``shiyu load`` stages a file's, writes them with ``etl.writes.write_staged`` (the same
upsert and cube delta), records a ``load_batch`` with its counts and marks the posts applied with theirs; a post
is answered at that commit. Its cube delta is kept in ``shiyu.cube_delta`` (0031), and a fold on a thread and
connection of its own adds the pending deltas of the oldest micro-batches to the cubes (the loader's own
statements) and sets their ``finished_at``, in one transaction: the data's version moves then, so "data as of",
the wall's redraws and the cached layers follow the folds. Measured at 10M incidents, the cubes were 100 of a
micro-batch's 190 ms, which every post waited for. Killed half way, either transaction rolls back: posts stay
queued and are applied again whole; a delta stays pending and is folded once. A post naming an id that an
earlier queued post names waits for a later micro-batch, so a status change posted after its report is applied
after it. A lost database is waited for, with backoff.

The elected worker also runs the periodic duties it is given (``duties``: name, every so many seconds, a function
of no arguments), between micro-batches, each at most once per its period: the supervision orders' escalation
pass, the alerts' sending pass. ``shiyu`` passes them in (etl imports no layer); a duty that fails is logged and
run again at its next turn, and never stops the intake.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import orjson

from etl import writes
from etl.load import COUNT_BATCH, START_BATCH, LoadSummary
from etl.cubes import STORED_INCIDENT, for_few
from etl.staging import FEW_POINTS, INCIDENT_CHANGED, INCIDENTS
from geodata import feeds
from geodata.batchconn import batch_connection
from geodata.errors import DatabaseUnavailable

log = logging.getLogger(__name__)

MAX_POSTS = 200         # posts claimed at most by one micro-batch
MAX_ROWS = 5_000        # rows at most in one micro-batch (a post is never split)
MAX_FOLD = 200          # micro-batches folded into the cubes at most at once
IDLE_WAIT_S = 1.0       # the longest the worker sleeps without a notice before looking again
LOCK_RETRY_S = 5.0      # how often a worker that is not the elected one asks again
BACKOFF_S = (0.5, 1, 2, 4, 8, 10)

CLAIM = """
SELECT p.id, p.rejected_count, coalesce(array_agg(r.external_id) FILTER (WHERE r.external_id IS NOT NULL), '{}')
FROM (SELECT id, rejected_count FROM shiyu.intake_post
      WHERE status = 'queued' AND feed_name = (SELECT feed_name FROM shiyu.intake_post WHERE status = 'queued'
                                                ORDER BY id LIMIT 1)
      ORDER BY id LIMIT %(n)s FOR UPDATE SKIP LOCKED) p
LEFT JOIN shiyu.intake_row r ON r.post_id = p.id
GROUP BY p.id, p.rejected_count ORDER BY p.id
"""
FEED_OF_POST = "SELECT feed_name FROM shiyu.intake_post WHERE id = %(id)s"
# The micro-batch's rows numbered 1..n in post order (stage_raw's row_no), remembering each one's post.
STAGE_POSTS = """
CREATE TEMP TABLE stage_post ON COMMIT DROP AS
SELECT row_number() OVER (ORDER BY post_id, row_no)::int AS row_no, post_id, row_no AS post_row
FROM shiyu.intake_row WHERE post_id = ANY(%(posts)s)
"""
STAGE_ROWS = """
INSERT INTO stage_raw (""" + ", ".join(INCIDENTS.stage_columns) + """)
SELECT s.row_no, """ + ", ".join(f"r.{c}" for c in INCIDENTS.stage_columns[1:]) + """
FROM stage_post s JOIN shiyu.intake_row r ON (r.post_id, r.row_no) = (s.post_id, s.post_row)
"""
# Before the upsert, each post's new and changed rows, by the upsert's own test of a change.
CLASSIFY = """
SELECT sp.post_id, count(*) FILTER (WHERE i.external_id IS NULL) AS loaded,
       count(*) FILTER (WHERE i.external_id IS NOT NULL AND """ + INCIDENT_CHANGED + """) AS updated,
       count(*) AS staged
FROM (SELECT s.*, g.code AS grid_code, g.path FROM stage_points s LEFT JOIN stage_grid g USING (row_no)) n
JOIN stage_post sp USING (row_no)
""" + STORED_INCIDENT + """
GROUP BY sp.post_id
"""
MARK_APPLIED = """
UPDATE shiyu.intake_post p
SET status = 'applied', applied_at = clock_timestamp(), batch_id = %(batch_id)s,
    loaded_count = c.loaded, updated_count = c.updated, unchanged_count = c.staged - c.loaded - c.updated
FROM unnest(%(posts)s::bigint[], %(loaded)s::int[], %(updated)s::int[], %(staged)s::int[]) AS c(id, loaded, updated, staged)
WHERE p.id = c.id
"""
DELETE_ROWS = "DELETE FROM shiyu.intake_row WHERE post_id = ANY(%(posts)s)"
# The fold: one at a time (a transaction lock), the oldest micro-batches not yet folded, finished when folded.
FOLD_LOCK = "SELECT pg_advisory_xact_lock(%s)" % 0x53484959464F4C44  # 'SHIYFOLD'
UNFOLDED = "SELECT id FROM shiyu.load_batch WHERE " + feeds.UNFOLDED_BATCH + " ORDER BY id LIMIT %(n)s"
FINISH_FOLDED = "UPDATE shiyu.load_batch SET finished_at = clock_timestamp() WHERE id = ANY(%(batches)s)"


def _choose(claimed: list[tuple]) -> tuple[list[int], int]:
    """The claimed posts, oldest first, that can be applied together, and their rejects: none names an id an
    earlier claimed post names (that one is applied first, in a later micro-batch, and so is every later post
    naming one of its ids), and their rows fit ``MAX_ROWS`` (the first post always fits)."""
    chosen, taken, waiting, rows, rejected = [], set(), set(), 0, 0
    for post_id, post_rejected, ids in claimed:
        if chosen and (rows + len(ids) > MAX_ROWS or not taken.isdisjoint(ids) or not waiting.isdisjoint(ids)):
            waiting.update(ids)
            continue
        chosen.append(post_id)
        taken.update(ids)
        rows += len(ids)
        rejected += post_rejected
    return chosen, rejected


def apply_next(conn) -> int:
    """Apply one micro-batch in one transaction on ``conn`` (autocommit otherwise); returns the posts applied."""
    with conn.transaction():
        claimed = conn.execute(CLAIM, {"n": MAX_POSTS}).fetchall()
        if not claimed:
            return 0
        posts, rejected = _choose(claimed)
        source = conn.execute(FEED_OF_POST, {"id": posts[0]}).fetchone()[0]
        digest = hashlib.sha256(",".join(map(str, posts)).encode()).hexdigest()
        batch_id = conn.execute(START_BATCH, {
            "kind": "incidents", "source": source, "file_name": f"posts {posts[0]}-{posts[-1]}", "sha256": digest,
            "options": orjson.dumps({"posts": posts}).decode()}).fetchone()[0]
        conn.execute(INCIDENTS.stage_raw)
        conn.execute(STAGE_POSTS, {"posts": posts})
        staged = conn.execute(STAGE_ROWS).rowcount
        summary = LoadSummary(batch_id, staged + rejected, 0, 0, 0, rejected, None)
        params = {"source": source, "batch_id": batch_id}
        counts = {post: (0, 0, 0) for post in posts}
        if staged:
            writes.stage_grids(conn, INCIDENTS, summary, staged)
            classify = for_few(CLASSIFY, staged <= FEW_POINTS)
            counts.update({r[0]: r[1:] for r in conn.execute(classify, params).fetchall()})
            writes.write_staged(conn, INCIDENTS, summary, params, staged, fold_later=True)
        conn.execute(MARK_APPLIED, {"batch_id": batch_id, "posts": posts, "loaded": [counts[p][0] for p in posts],
                                    "updated": [counts[p][1] for p in posts], "staged": [counts[p][2] for p in posts]})
        conn.execute(DELETE_ROWS, {"posts": posts})
        conn.execute(feeds.NOTIFY_APPLIED)  # delivered at the commit: the web threads waiting for these posts look
        conn.execute(COUNT_BATCH, {"batch_id": batch_id, "read": summary.read, "loaded": summary.loaded,
                                    "updated": summary.updated, "unchanged": summary.unchanged, "rejected": rejected})
    log.info("intake: applied posts %s-%s of %s: %d rows, %d new, %d updated (seconds: %s)", posts[0], posts[-1],
             source, staged, summary.loaded, summary.updated, summary.seconds)
    return len(posts)


def fold_next(conn) -> int:
    """Fold the pending cube deltas of the oldest micro-batches (up to ``MAX_FOLD``) in one transaction on
    ``conn`` (autocommit otherwise) and finish those batches; returns how many were folded."""
    with conn.transaction():
        conn.execute(FOLD_LOCK)
        batches = [row[0] for row in conn.execute(UNFOLDED, {"n": MAX_FOLD}).fetchall()]
        if not batches:
            return 0
        summary = LoadSummary(None, 0, 0, 0, 0, 0, None)
        writes.fold(conn, INCIDENTS, summary, batches)
        conn.execute(FINISH_FOLDED, {"batches": batches})
    log.debug("intake: folded batches %s-%s (seconds: %s)", batches[0], batches[-1], summary.seconds)
    return len(batches)


class _Folder:
    """The fold, while this worker is elected: a thread with a connection of its own, woken after each micro-batch
    (and once at the start, for deltas a killed worker left), folding until nothing is pending; stopped, it folds
    what is pending before it ends."""

    def __init__(self, url: str | None):
        self.url, self.wake, self.stop = url, threading.Event(), threading.Event()
        self.thread = threading.Thread(target=self._run, name="shiyu-fold", daemon=True)

    def __enter__(self) -> _Folder:
        self.wake.set()
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.wake.set()
        self.thread.join(timeout=60)

    def _run(self) -> None:
        retries = _Retries(self.stop, "a fold", lost="the fold: ")
        while not self.stop.is_set():
            with retries.attempt(), batch_connection(self.url) as conn:
                conn.autocommit = True
                while True:
                    self.wake.wait(IDLE_WAIT_S)
                    self.wake.clear()
                    while fold_next(conn):
                        pass
                    retries.succeeded()
                    if self.stop.is_set():  # stopped: what was pending is folded, nothing left behind
                        return


class _Retries:
    """The retries of one of the worker's loops: after each failure in a row it waits longer (``BACKOFF_S``, cut
    short by ``stop``). A lost database is logged as a warning; anything else (a bug, a statement the database
    refused) with its traceback, and ``what`` is tried again."""

    def __init__(self, stop: threading.Event, what: str, lost: str = ""):
        self.stop, self.what, self.lost, self.failures = stop, what, lost, 0

    def succeeded(self) -> None:
        self.failures = 0

    @contextmanager
    def attempt(self) -> Iterator[None]:
        try:
            yield
        except DatabaseUnavailable as error:
            self._failed(log.warning, "intake: %s%s; trying again in %g s", self.lost, error)
        except Exception:
            self._failed(log.exception, "intake: %s failed; trying again in %g s", self.what)

    def _failed(self, say: Callable[..., None], message: str, *args) -> None:
        self.failures += 1
        wait_s = BACKOFF_S[min(self.failures, len(BACKOFF_S)) - 1]
        say(message, *args, wait_s)
        self.stop.wait(wait_s)


Duty = tuple[str, float, Callable[[], object]]


class _Duties:
    """The periodic duties and when each last ran (a monotonic clock); ``run_due`` runs those whose turn came."""

    def __init__(self, duties: Sequence[Duty]):
        self.duties = list(duties)
        self.last: dict[str, float] = {}

    def run_due(self) -> None:
        for name, every_s, fn in self.duties:
            now = time.monotonic()
            if now - self.last.get(name, float("-inf")) < every_s:
                continue
            self.last[name] = now
            try:
                outcome = fn()
                log.debug("intake: duty %s: %s", name, outcome)
            except Exception:  # logged, and run again at its next turn; the intake goes on
                log.exception("intake: the periodic duty %s failed; it runs again in %g s", name, every_s)

    def wait_s(self) -> float:
        """How long until the next duty's turn (``IDLE_WAIT_S`` at most)."""
        now = time.monotonic()
        waits = [self.last.get(name, float("-inf")) + every_s - now for name, every_s, _ in self.duties]
        return max(0.05, min([IDLE_WAIT_S, *waits]))


def run(stop: threading.Event | None = None, url: str | None = None, duties: Sequence[Duty] = ()) -> None:
    """Apply the queue until ``stop`` is set: elected by the worker lock, woken by notices, reconnecting with
    backoff when the database goes away (a micro-batch it was writing rolled back and is applied again); fold the
    cubes beside it and run ``duties`` between micro-batches while elected."""
    stop = stop or threading.Event()
    periodic = _Duties(duties)
    retries = _Retries(stop, "a micro-batch")
    while not stop.is_set():
        with retries.attempt(), batch_connection(url) as conn:
            conn.autocommit = True
            notices = feeds.hold_worker_lock(conn)
            if notices is None:
                stop.wait(LOCK_RETRY_S)
                continue
            log.info("intake: this process applies the queue")
            retries.succeeded()
            with _Folder(url) as folder:
                while not stop.is_set():
                    applied = apply_next(conn)
                    if applied:
                        folder.wake.set()
                    periodic.run_due()
                    if not applied:
                        notices.wait(periodic.wait_s())


def start_thread(duties: Sequence[Duty] = ()) -> tuple[threading.Thread, threading.Event]:
    """The worker on a daemon thread of this process (tests, and a served app in the tests' own process; ``shiyu
    serve`` runs it as a process of its own, ``shiyu intake --quiet``)."""
    stop = threading.Event()
    thread = threading.Thread(target=run, args=(stop, None, duties), name="shiyu-intake", daemon=True)
    thread.start()
    return thread, stop
