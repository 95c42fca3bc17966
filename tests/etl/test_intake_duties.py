"""The elected intake worker runs its periodic duties between micro-batches: the supervision pass closes the order of
an incident a feed has just closed and escalates an unanswered one, and a duty that fails is logged and run again
without stopping the intake."""

from __future__ import annotations

import pandas as pd

from etl import intake, intake_worker
from geodata import db, feeds
from geodata.feeds import Feed
from geodata.scope import Scope
from layers import supervision
from shiyu.supervise import DUTIES
from tests.etl.test_intake_kill import _table
from tests.etl.test_kill import wait_for
from tests.serving import hotline_city


def test_the_worker_runs_the_escalation_duty_and_survives_a_failing_one(database_url, tmp_path, conn):
    now = pd.Timestamp(hotline_city(database_url, tmp_path))
    solved, quiet = (r[0] for r in conn.execute(
        "SELECT external_id FROM shiyu.incident WHERE source = 'tiers' AND status NOT IN ('verified', 'closed') "
        "AND due_at < now() ORDER BY external_id LIMIT 2").fetchall())
    with db.scoped(Scope.everything()):
        ids = [supervision.issue(f"tiers:{i}", Scope.everything(), "cora", "commander", level="reminder")["id"]
               for i in (solved, quiet)]
    conn.execute("UPDATE shiyu.supervision_order SET issued_at = issued_at - interval '1 day', "
                 "reply_due_at = issued_at - interval '1 day' + interval '1 second' WHERE id = %s", (ids[1],))
    calls = []

    def flaky():
        calls.append(len(calls))
        if len(calls) == 1:
            raise RuntimeError("the first call of a duty fails")
        return "ok"

    (name, _, sweep), = DUTIES
    thread, stop = intake_worker.start_thread(duties=[("flaky", 0.05, flaky), (name, 0.05, sweep)])
    try:
        feeds.add_feed("tiers")  # the source's own feed closes its case, as the city platform would
        row = conn.execute("SELECT category, reported_at, ST_X(geom), ST_Y(geom) FROM shiyu.incident "
                           "WHERE source = 'tiers' AND external_id = %s", (solved,)).fetchone()
        posted = intake.submit(Feed("tiers", None), _table([{
            "id": solved, "category": row[0], "reported_at": row[1].isoformat(), "lon": f"{row[2]:.6f}",
            "lat": f"{row[3]:.6f}", "status": "closed", "resolved_at": f"{now:%Y-%m-%d %H:%M:%S}"}]), wait_s=0)
        assert posted.status == 202
        closed = wait_for(lambda: conn.execute("SELECT close_reason FROM shiyu.supervision_order WHERE id = %s",
                                               (ids[0],)).fetchone()[0], 60, "the solved incident's order closed")
        raised = wait_for(lambda: conn.execute("SELECT level FROM shiyu.supervision_order WHERE id = %s "
                                               "AND level <> 'reminder'", (ids[1],)).fetchone(), 60, "the escalation")
        wait_for(lambda: len(calls) >= 3, 60, "the failing duty run again")
    finally:
        stop.set()
        thread.join(timeout=10)
    assert (closed, raised) == ("incident_closed", ("order",))
    assert conn.execute("SELECT actor FROM shiyu.supervision_event WHERE order_id = %s AND action = 'escalated'",
                        (ids[1],)).fetchall() == [("system",)]
