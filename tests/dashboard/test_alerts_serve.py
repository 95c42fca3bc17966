"""``shiyu serve`` pushes alerts itself: the elected intake worker runs the alert pass as one of its duties."""

import os
import subprocess
import sys
import time
from datetime import datetime, timedelta

from etl.load import load_incidents
from geodata.cluster import free_port
from layers.alert_hooks import add_hook
from layers.base import BEIJING
from tests.helpers import ROOT, write_csv
from tests.layers.receiver import Receiver
from tests.layers.tiers import load_tiers


def _overdue(tmp_path, name, lon):
    moment = datetime.now(BEIJING) - timedelta(days=10)
    load_incidents(write_csv(tmp_path / f"{name}.csv", [[name, "fire_safety", f"{moment:%Y-%m-%d %H:%M:%S}",
                                                         str(lon), "30.05"]]), source="served")


def _wait_for(condition, what, server, seconds=90):
    deadline = time.monotonic() + seconds
    while not condition():
        assert server.poll() is None, "the server stopped"
        assert time.monotonic() < deadline, f"waited {seconds} s for {what}"
        time.sleep(0.2)


def test_a_served_dashboard_pushes_alerts_once_from_one_worker(empty_db, conn, tmp_path):
    load_tiers(tmp_path)
    _overdue(tmp_path, "A1", 120.05)
    with Receiver() as receiver:
        add_hook("C1", receiver.url, "json")
        server = subprocess.Popen([sys.executable, "-m", "shiyu", "serve", "--port", str(free_port()), "--workers", "2"],
                                  cwd=ROOT, env={**os.environ, "DATABASE_URL": empty_db, "SHIYU_ALERT_EVERY_S": "0.5"},
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            _wait_for(lambda: len(receiver.posts) >= 1, "the first alert", server)
            _overdue(tmp_path, "A2", 120.06)
            _wait_for(lambda: len(receiver.posts) >= 2, "the second alert", server)
            # passes go on twice a second in the elected worker; the audit shows each message sent once
            _wait_for(lambda: conn.execute("SELECT count(*) FROM shiyu.audit_log WHERE action = 'alert_send'"
                                           ).fetchone()[0] >= 2, "the audit", server)
        finally:
            server.terminate()
            output = server.communicate(timeout=30)[0]
    assert [[r["external_id"] for r in p.body["red_lights"]] for p in receiver.posts] == [["A1"], ["A2"]]
    assert "Traceback" not in output
