"""``shiyu serve`` runs the intake worker itself: a process of its own beside the gunicorn workers, kept by the
master (started again when it dies, stopped with the server), elected by the worker lock, so a post to a served
dashboard is applied and answered 200 with no other process running."""

import os
import signal
import time

import requests

from geodata import feeds
from tests.dashboard.test_serve import gunicorn  # noqa: F401 (a fixture: shiyu serve, two workers)
from tests.etl.test_kill import wait_for
from tests.layers.tiers import load_tiers

WORKER_LOCK_HOLDER = """
SELECT l.pid, a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.objid = %s
"""


def _children(pid: int) -> dict[int, str]:
    """The processes whose parent is ``pid``, with their command lines."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                parent = int(fh.read().rsplit(")", 1)[1].split()[1])
            if parent == pid:
                with open(f"/proc/{entry}/cmdline", "rb") as fh:
                    found[int(entry)] = fh.read().replace(b"\0", b" ").decode()
        except (OSError, ValueError, IndexError):
            continue
    return found


def _intake_pids(server_pid: int) -> list[int]:
    return [pid for pid, command in _children(server_pid).items() if "shiyu intake" in command]


def _post(url: str, token: str, prefix: str) -> requests.Response:
    rows = [{"id": f"{prefix}{i}", "category": "治安", "reported_at": "2026-12-01 08:00:00",
             "lon": 120.05 + i / 100, "lat": 30.05} for i in range(5)]
    return requests.post(f"{url}/api/v1/incidents", json=rows, timeout=30, headers={"Authorization": f"Bearer {token}"})


def test_shiyu_serve_applies_posts_with_one_intake_process_it_keeps(gunicorn, conn, tmp_path):  # noqa: F811
    url, server = gunicorn
    load_tiers(tmp_path)
    token = feeds.add_feed("served")
    answer = _post(url, token, "S")
    assert answer.status_code == 200, answer.text
    assert (answer.json()["loaded"], answer.json()["status"]) == (5, "applied")
    assert conn.execute("SELECT count(*) FROM shiyu.incident WHERE source = 'served'").fetchone()[0] == 5
    (first,) = _intake_pids(server.pid)  # one process, and it holds the worker lock; the web workers do not
    holders = conn.execute(WORKER_LOCK_HOLDER, (feeds.WORKER_LOCK & 0xFFFFFFFF,)).fetchall()
    assert len(holders) == 1

    os.kill(first, signal.SIGKILL)  # the master starts another
    second = wait_for(lambda: [p for p in _intake_pids(server.pid) if p != first], 30,
                      "the master to start another intake worker", interval=0.2)
    assert len(second) == 1
    answer = _post(url, token, "T")  # 202 (queued) while the new worker starts and is elected, then applied
    assert answer.status_code in (200, 202), answer.text
    wait_for(lambda: conn.execute("SELECT status = 'applied' FROM shiyu.intake_post WHERE id = %s",
                                  (answer.json()["post_id"],)).fetchone()[0], 60, "the new worker to apply the post",
             interval=0.2)
    assert conn.execute("SELECT count(*) FROM shiyu.incident WHERE source = 'served'").fetchone()[0] == 10
    assert conn.execute(WORKER_LOCK_HOLDER, (feeds.WORKER_LOCK & 0xFFFFFFFF,)).fetchone()[0] != holders[0][0]

    server.terminate()  # the server stops: its intake worker with it
    server.wait(timeout=60)
    wait_for(lambda: not os.path.exists(f"/proc/{second[0]}") or _zombie(second[0]), 30,
             "the intake worker to end with the server", interval=0.2)


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_the_intake_process_ends_when_the_master_is_killed(gunicorn):  # noqa: F811
    _, server = gunicorn
    (intake,) = wait_for(lambda: _intake_pids(server.pid), 30, "the intake worker to start", interval=0.2)
    server.send_signal(signal.SIGKILL)
    server.wait(timeout=10)
    deadline = time.monotonic() + 30
    while os.path.exists(f"/proc/{intake}") and not _zombie(intake) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not os.path.exists(f"/proc/{intake}") or _zombie(intake), "the intake worker outlived its master"
