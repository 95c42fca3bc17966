"""The elected intake worker's periodic duties: run between micro-batches, a failure logged, never in the way."""

import threading

from etl import intake_worker
from shiyu.duties import in_background


def test_a_duty_runs_at_most_every_so_often_and_a_failure_stops_nothing(caplog):
    calls = []

    def broken():
        calls.append("broken")
        raise RuntimeError("the far end is down")

    duties = [("broken", 0.0, broken), ("slow", 3600.0, lambda: calls.append("slow"))]
    last = {}
    intake_worker.run_duties(duties, last)
    intake_worker.run_duties(duties, last)
    assert calls == ["broken", "slow", "broken"]
    assert "the duty broken failed" in caplog.text


def test_the_elected_worker_runs_its_duties(database_url):
    ran = threading.Event()
    thread, stop = intake_worker.start_thread(duties=[("probe", 0.0, ran.set)])
    try:
        assert ran.wait(30)
    finally:
        stop.set()
        thread.join(30)


def test_a_background_duty_never_waits_and_never_runs_twice_at_once():
    release, started = threading.Event(), threading.Event()

    def duty():
        started.set()
        release.wait(30)

    start = in_background("test", duty)
    assert start() is True and started.wait(30)
    assert start() is False  # still running: this turn is skipped
    release.set()
    for _ in range(3000):
        if start():
            break
        threading.Event().wait(0.01)
    else:
        raise AssertionError("the duty never ended")
    release.set()
