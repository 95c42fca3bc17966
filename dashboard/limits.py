"""Per-user concurrency and rate limits for the dashboard's expensive requests, and their statement timeouts.

``install`` adds a ``before_request``/``teardown_request`` pair after ``access.install``'s, so the user is known.
A request of an expensive kind (``kind_of``: a Dash callback, the OGC API or Open311's reads, a vector tile, an
export or a weekly brief, a feed's post) runs inside ``geodata.db.request_kind`` (its kind's statement timeout) and counts against
its user — by name, or by client address when anonymous (``SHIYU_AUTH=off``):

- at most ``SHIYU_USER_CONCURRENCY`` of them running at once, and one export;
- at most ``SHIYU_USER_RATE_PER_MIN`` (a feed: ``SHIYU_FEED_RATE_PER_MIN``) started per minute, in bursts of up
  to a quarter of that (a token bucket; a tile costs ``TILE_COST`` of a request: a map asks for dozens at once; a
  page's data-version probe ``PROBE_COST``: an open page sends one every 2 s).

Over either, the answer is ``429`` with ``Retry-After`` and one line of JSON saying what to do. The counts live in
the process: with N gunicorn workers a user may have N times as many (docs/security.md, "Limits"). Refusals
are logged, not audited: a flood must not become a flood of audit rows.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass, field

import flask

from dashboard.components.live import PROBE_OUTPUTS
from geodata import db
from geodata.settings import settings

log = logging.getLogger(__name__)

CALLBACK = "/_dash-update-component"
INTAKE = "/api/v1/"  # a feed's posts (dashboard/intake.py): counted per feed at SHIYU_FEED_RATE_PER_MIN
OPEN311 = "/open311/"  # and its Open311 posts (dashboard/open311_write.py), the same way
# The export page's download callback (dashboard/pages/export.py) and the league's workbook (dashboard/pages/rank.py).
EXPORT_OUTPUTS = ("export-file", "rank-file")
BRIEF = "/brief/"  # a weekly brief's PDF (dashboard/brief.py): counted as an export, one at a time
TILE_COST = 0.25
PROBE_COST = 0.05  # a page's data-version probe (dashboard/components/live.py): one row, every 2 s per open page
# A page of an OGC collection after the first (``offset`` or ``after``, what a ``next`` link carries): QGIS walks a
# collection 100 features a page, 2,000 pages for the demo city's incidents, and each is a keyset read or a slice
# of the layer its first page computed (layers/ogc/pages.py); at a whole request's cost a walk stalled after 60.
PAGE_COST = 0.05
BURST_MINUTES = 0.25  # a user may start this many minutes' worth of requests at once


def kind_of(request: flask.Request) -> str | None:
    """The request kind of an expensive request (a key of ``geodata.db.STATEMENT_TIMEOUTS_MS``), else None."""
    path = request.path
    if path == CALLBACK and request.method == "POST":
        body = request.get_json(silent=True)
        output = body.get("output") if isinstance(body, dict) else None
        # Several outputs come as "..first.prop...second.prop..".
        if isinstance(output, str) and output.lstrip(".").startswith(EXPORT_OUTPUTS):
            return "export"
        return "probe" if output in PROBE_OUTPUTS else "callback"
    if path.startswith(BRIEF):
        return "export"
    if path.startswith("/tiles/"):
        return "tiles"
    if path.startswith("/ogc") or (path.startswith("/open311/") and request.method == "GET"):
        return "ogc"
    if (path.startswith(INTAKE) or path.startswith(OPEN311)) and request.method == "POST":
        return "intake"
    return None


@dataclass
class _Account:
    """One user's running requests and their token bucket."""

    rate: float = 0.0  # requests a minute (``_rate``): a feed's account and a person's never share a name
    running: int = 0
    exports: int = 0
    tokens: float = -1.0  # full on first use
    filled_at: float = field(default_factory=time.monotonic)


class Limiter:
    """The per-user counts of one process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._accounts: dict[str, _Account] = {}

    def enter(self, who: str, kind: str, cost: float | None = None) -> tuple[str, int] | None:
        """Count a request of ``kind`` for ``who`` (at ``cost`` requests, else its kind's); (the reason, seconds to
        wait) when it must be refused instead."""
        s = settings()
        cost = cost if cost is not None else {"tiles": TILE_COST, "probe": PROBE_COST}.get(kind, 1.0)
        rate = _rate(kind)
        with self._lock:
            account = self._accounts.setdefault(who, _Account(rate=rate))
            account.rate = rate  # the settings' own, should they have changed
            _refill(account)
            if kind == "export" and account.exports >= 1:
                return "one export at a time: wait for the one running to finish", 5
            if account.running >= s.user_concurrency:
                return (f"{account.running} of your requests are still running (at most {s.user_concurrency} at once); "
                        "wait for them, or narrow the view so they finish sooner"), 1
            if account.tokens < cost:
                wait = math.ceil((cost - account.tokens) * 60 / max(rate, 1e-9))
                return (f"more than {rate:g} requests a minute; wait {wait} s and slow down "
                        "(fewer filters changed at once, or a smaller area)"), wait
            account.tokens -= cost
            account.running += 1
            account.exports += kind == "export"
        return None

    def leave(self, who: str, kind: str) -> None:
        with self._lock:
            account = self._accounts.get(who)
            if account is None:
                return
            account.running = max(0, account.running - 1)
            if kind == "export":
                account.exports = max(0, account.exports - 1)
            if account.running == 0 and _refill(account) >= _burst(account.rate):
                del self._accounts[who]  # nothing to remember: a full bucket is what a newcomer gets


def _rate(kind: str) -> float:
    """Requests a minute: a feed's posts have their own rate (a platform posts steadily), people's requests theirs."""
    s = settings()
    return s.feed_rate_per_min if kind == "intake" else s.user_rate_per_min


def _burst(rate: float) -> float:
    return max(1.0, rate * BURST_MINUTES)


def _refill(account: _Account) -> float:
    """The account's tokens, topped up for the time since they were last counted (a new account's bucket is full)."""
    now, burst = time.monotonic(), _burst(account.rate)
    if account.tokens < 0:
        account.tokens = burst
    account.tokens = min(burst, account.tokens + (now - account.filled_at) * account.rate / 60)
    account.filled_at = now
    return account.tokens


LIMITER = Limiter()


def cost_of(request: flask.Request, kind: str) -> float | None:
    """A request's cost when it is not its kind's: a page of an OGC collection after the first costs ``PAGE_COST``."""
    if kind == "ogc" and request.path.endswith("/items") and (request.args.get("after") or
                                                                request.args.get("offset", "0") not in ("", "0")):
        return PAGE_COST
    return None


def _who() -> str:
    user = flask.g.get("shiyu_user")
    name = getattr(user, "name", None)
    return f"user:{name}" if name else f"addr:{flask.request.remote_addr}"


def too_many(reason: str, retry_after: int) -> flask.Response:
    response = flask.jsonify({"error": "too many requests", "reason": reason})
    response.status_code = 429
    response.headers["Retry-After"] = str(retry_after)
    return response


def install(server: flask.Flask) -> None:
    """Limit ``server``'s expensive requests per user (after ``access.install``, which knows the user)."""

    @server.before_request
    def _count():
        kind = kind_of(flask.request)
        if kind is None:
            return None
        who = _who()
        refused = LIMITER.enter(who, kind, cost_of(flask.request, kind))
        if refused is not None:
            log.info("limits: %s refused a %s request: %s", who, kind, refused[0])
            return too_many(*refused)
        flask.g.shiyu_limits = (who, kind, db.request_kind(kind))
        flask.g.shiyu_limits[2].__enter__()
        return None

    @server.teardown_request
    def _release(_error: BaseException | None) -> None:
        entered = flask.g.pop("shiyu_limits", None)
        if entered is not None:
            who, kind, context = entered
            context.__exit__(None, None, None)
            LIMITER.leave(who, kind)
