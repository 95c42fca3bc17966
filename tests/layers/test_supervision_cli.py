"""``shiyu supervise``: the escalation pass, the open orders and the day's proposed list, as a person or cron runs them."""

from __future__ import annotations

import json

from geodata import db
from geodata.scope import Scope
from layers import supervision
from tests.helpers import shiyu


def test_escalate_list_and_propose_from_the_shell(city, conn):
    conn.execute("DELETE FROM shiyu.supervision_order")
    overdue = [r[0] for r in conn.execute(
        "SELECT source || ':' || external_id FROM shiyu.incident WHERE path <@ 'C.C2.C21' "
        "AND status NOT IN ('verified', 'closed') AND due_at < now() ORDER BY due_at LIMIT 2").fetchall()]
    with db.scoped(Scope.everything()):
        ids = [supervision.issue(i, Scope.everything(), "cora", "commander", level="order")["id"] for i in overdue]
    conn.execute("UPDATE shiyu.supervision_order SET issued_at = issued_at - interval '1 day', "
                 "reply_due_at = issued_at - interval '1 day' + interval '1 second' WHERE id = %s", (ids[0],))
    done = shiyu("supervise", "escalate", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"closed": 0, "escalated": 1, "orders": [ids[0]]}
    listed = shiyu("supervise", "list", "--area", "C21", "--json")
    assert [(r["id"], r["level"]) for r in json.loads(listed.stdout)] == [(ids[0], "red_list"), (ids[1], "order")]
    assert json.loads(shiyu("supervise", "list", "--area", "C1", "--json").stdout) == []
    proposed = json.loads(shiyu("supervise", "propose", "--area", "C21", "--limit", "5", "--json").stdout)
    assert len(proposed) == 5 and not {p["incident_id"] for p in proposed} & set(overdue)
    missing = shiyu("supervise", "list", "--area", "NOPE")
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1 and "no area 'NOPE'" in missing.stderr
