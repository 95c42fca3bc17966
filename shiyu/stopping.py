"""A process's stop signals turned into a ``threading.Event``, safely.

``signal.signal(SIGTERM, lambda *_: event.set())`` can deadlock: Python runs the handler in the main thread
between two bytecodes, and when that thread is inside ``event.wait()`` holding the event's (non-reentrant)
condition lock, ``event.set()`` waits for that lock forever. A demo feed asked to stop hung that way until its
60 s limit in a test. The handler here sets the event from a short thread of its own, which takes the lock once
the main thread lets go of it.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterable


def stop_on(event: threading.Event, signums: Iterable[int] = (signal.SIGTERM,)) -> None:
    """Set ``event`` when this process receives any of ``signums``."""
    def handler(*_) -> None:
        threading.Thread(target=event.set, name="shiyu-stop-signal", daemon=True).start()

    for signum in signums:
        signal.signal(signum, handler)
