"""``shiyu serve`` runs the intake worker itself: a thread in each gunicorn worker, one of them elected by the
worker lock, so a post to a served dashboard is applied and answered 200 with no other process running."""

import requests

from geodata import feeds
from tests.dashboard.test_serve import gunicorn  # noqa: F401 (a fixture: shiyu serve, two workers)
from tests.layers.tiers import load_tiers

WORKER_LOCK_HOLDERS = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND objid = %s"


def test_shiyu_serve_applies_posts_with_one_elected_worker(gunicorn, conn, tmp_path):  # noqa: F811
    url, _ = gunicorn
    load_tiers(tmp_path)
    token = feeds.add_feed("served")
    rows = [{"id": f"S{i}", "category": "治安", "reported_at": "2026-12-01 08:00:00", "lon": 120.05 + i / 100,
             "lat": 30.05} for i in range(5)]
    answer = requests.post(f"{url}/api/v1/incidents", json=rows, timeout=30, headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.text
    assert (answer.json()["loaded"], answer.json()["status"]) == (5, "applied")
    assert conn.execute("SELECT count(*) FROM shiyu.incident WHERE source = 'served'").fetchone()[0] == 5
    assert conn.execute(WORKER_LOCK_HOLDERS, (feeds.WORKER_LOCK & 0xFFFFFFFF,)).fetchone()[0] == 1
