"""A stop signal reaches a process busy waiting on the very event it sets (shiyu/stopping.py).

The child waits on the event in a tight loop, so it holds the event's condition lock most of the time; a handler
calling ``event.set()`` directly deadlocks there on most tries (the demo feed hung so in CI). Bounded waits only.
"""

import signal
import subprocess
import sys
import time

from tests.helpers import ROOT

CHILD = """
import sys, threading
from shiyu.stopping import stop_on
event = threading.Event()
stop_on(event)
print("ready", flush=True)
while not event.wait(0):
    pass
print("stopped", flush=True)
"""


def test_sigterm_sets_the_event_even_while_the_main_thread_waits_on_it():
    for _ in range(5):
        child = subprocess.Popen([sys.executable, "-c", CHILD], cwd=ROOT, stdout=subprocess.PIPE, text=True)
        try:
            assert child.stdout.readline().strip() == "ready"
            time.sleep(0.05)
            child.send_signal(signal.SIGTERM)
            out, _ = child.communicate(timeout=10)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait(timeout=10)
        assert (child.returncode, out.strip()) == (0, "stopped")
