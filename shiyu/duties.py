"""The periodic duties the elected intake worker runs (``etl.intake_worker.run``'s ``duties``), wired here.

A duty that talks to the outside world (posting alerts waits on other people's servers) runs on a thread of its
own, one at a time, so the intake never waits for it: at its turn, if the last run is still going, this turn is
skipped.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


def in_background(name: str, duty: Callable[[], object]) -> Callable[[], bool]:
    """``duty`` started on a daemon thread of its own when called, unless its last run is still going (then False)."""
    running = threading.Lock()

    def body() -> None:
        try:
            duty()
        except Exception:  # logged, and run again at its next turn
            log.exception("the duty %s failed; it runs again at its next turn", name)
        finally:
            running.release()

    def start() -> bool:
        if not running.acquire(blocking=False):
            return False
        threading.Thread(target=body, name=f"shiyu-{name}", daemon=True).start()
        return True

    return start


# A reply deadline is hours long, so an escalation a minute late at most is on time.
ESCALATE_EVERY_S = 60.0
PRUNE_EVERY_S = 86_400.0


def duties() -> list[tuple[str, float, Callable[[], object]]]:
    """(name, every how many seconds, what) of each periodic duty the elected intake worker runs."""
    from geodata.feeds import prune_posts
    from geodata.settings import settings
    from layers.alerts import send_due
    from layers.supervision import sweep

    return [("supervision escalation", ESCALATE_EVERY_S, sweep),
            ("alerts", settings().alert_every_s, in_background("alerts", send_due)),
            ("intake posts pruned", PRUNE_EVERY_S, prune_posts)]
