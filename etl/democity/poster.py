"""Post the live feed's rows to the intake API at a bounded rate, backing off when told to.

:func:`run` is the loop: every ``tick_s`` it asks the :class:`~etl.democity.live.LiveCity`
for what is due within the budget of a sliding minute (:class:`RateWindow`:
never more than ``rate`` rows in any 60 seconds), posts it as one JSON array
through ``POST /api/v1/incidents`` with the feed's token, and confirms what
was accepted. A 429 or 503 waits its ``Retry-After``; a server not up yet, or
gone, is retried with a growing wait; a post refused whole (400, 413, 422)
drops its rows; a 401 or 403 (the token revoked) ends the feed. Nothing raises out of it: once a minute one line says how many rows
were posted, how many rejected, and the last error. The clock, the sleep and
the post are passed in, so tests run it without waiting or a server.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from etl.democity.live import LiveCity

__all__ = ["Backoff", "Refused", "Rejected", "RateWindow", "Stats", "http_poster", "run"]

WINDOW_S = 60
MAX_WAIT_S = 60
TIMEOUT_S = 30
PATH = "/api/v1/incidents"


class Backoff(Exception):
    """Try again after ``after`` seconds (429, 503, the server unreachable)."""

    def __init__(self, after: float, reason: str) -> None:
        super().__init__(reason)
        self.after = after


class Refused(Exception):
    """The server will not take this feed's posts (401, 403): stop."""


class Rejected(Exception):
    """The server refused this post whole (400, 413, 422, …): its rows are dropped."""


class RateWindow:
    """At most ``rate`` rows in any ``WINDOW_S`` seconds."""

    def __init__(self, rate: float) -> None:
        self.rate = int(rate)
        self.spent: deque[tuple[float, int]] = deque()

    def budget(self, now: float) -> int:
        while self.spent and self.spent[0][0] <= now - WINDOW_S:
            self.spent.popleft()
        return max(0, self.rate - sum(n for _, n in self.spent))

    def spend(self, now: float, rows: int) -> None:
        if rows:
            self.spent.append((now, rows))


@dataclass
class Stats:
    """What the feed did since ``since``, for the line a minute."""

    since: float
    posted: int = 0
    new: int = 0
    rejected: int = 0
    last_error: str = ""

    def line(self, now: float) -> str:
        minutes = max(now - self.since, 1) / 60
        return (f"live feed: {self.posted} rows posted in the last {minutes:.0f} min ({self.new} new reports, "
                f"{self.posted - self.new} status changes), {self.rejected} rejected, "
                f"last error: {self.last_error or 'none'}")


def _retry_after(headers, default: float) -> float:
    try:
        return max(1.0, float(headers.get("Retry-After", default)))
    except (TypeError, ValueError):
        return default


def http_poster(base_url: str, token: str, timeout: float = TIMEOUT_S) -> Callable[[list[dict]], dict]:
    """A function posting rows to ``base_url``'s intake API as the feed ``token``; returns the answer's JSON."""
    url = base_url.rstrip("/") + PATH
    state = {"wait": 1.0}

    def post(rows: list[dict]) -> dict:
        request = urllib.request.Request(url, data=json.dumps(rows, ensure_ascii=False).encode("utf-8"), method="POST",
                                         headers={"Authorization": f"Bearer {token}",
                                                  "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as answer:
                state["wait"] = 1.0
                return json.loads(answer.read() or b"{}")
        except urllib.error.HTTPError as error:
            reason = f"HTTP {error.code}: {_reason(error)}"
            if error.code in (429, 503):
                raise Backoff(_retry_after(error.headers, 5.0), reason) from None
            if error.code in (401, 403):
                raise Refused(reason) from None
            raise Rejected(reason) from None
        except (urllib.error.URLError, OSError, ValueError) as error:
            state["wait"] = min(MAX_WAIT_S, state["wait"] * 2)
            raise Backoff(state["wait"], f"{url} unreachable ({getattr(error, 'reason', error)})") from None

    return post


def _reason(error: urllib.error.HTTPError) -> str:
    try:
        body = json.loads(error.read() or b"{}")
    except (ValueError, OSError):
        return error.reason or ""
    return str(body.get("error") or body.get("message") or error.reason or "")[:200]


def run(feed: LiveCity, post: Callable[[list[dict]], dict], *, rate: float, clock: Callable[[], float],
        sleep: Callable[[float], None], stop: Callable[[], bool], log: Callable[[str], None],
        tick_s: float = 5.0, every_s: float = 60.0, save: Callable[[], None] | None = None) -> Stats:
    """Post what is due every ``tick_s`` until ``stop()``; never more than ``rate`` rows a minute. Returns the last stats."""
    window = RateWindow(rate)
    stats = Stats(clock())
    while not stop():
        now = clock()
        wait = tick_s
        try:
            batch = feed.take(int(now), window.budget(now))
            if batch.rows:
                answer = post(batch.rows)
                window.spend(now, len(batch.rows))
                rejected = {batch.rows[r["row"] - 1]["id"] for r in answer.get("rejects", [])
                            if isinstance(r.get("row"), int) and 0 < r["row"] <= len(batch.rows)}
                feed.confirm(batch, rejected)
                stats.posted += len(batch.rows) - len(rejected)
                stats.new += batch.new - len(rejected & batch.new_ids)
                stats.rejected += int(answer.get("rejected", len(rejected)))
        except Backoff as error:
            stats.last_error, wait = str(error), max(tick_s, error.after)
        except Refused as error:
            log(f"live feed stopped: {error}")
            return stats
        except Rejected as error:
            feed.forget(batch)  # proposed again it would be refused again, and hold up the rest
            stats.rejected += len(batch.rows)
            stats.last_error = str(error)
        except Exception as error:  # a bug of ours: say it, go on; the demo's server is not ours to crash
            stats.last_error = f"{type(error).__name__}: {error}"[:300]
        if now - stats.since >= every_s:
            log(stats.line(now))
            if save is not None:
                save()
            stats = Stats(now, last_error=stats.last_error)
        sleep(wait)
    if save is not None:
        save()
    return stats
