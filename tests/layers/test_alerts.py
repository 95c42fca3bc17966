"""Alert push end to end: a pass composes, posts to a receiver this test serves on loopback, and records."""

from datetime import datetime, timedelta, timezone

import orjson
import pytest

from etl.load import load_incidents
from geodata import db
from geodata.scope import Scope
from layers import early_warning
from layers.alert_hooks import add_hook
from layers.alerts import send_due
from layers.base import Filters
from tests.helpers import write_csv
from tests.layers.receiver import Receiver

CLEAR = ("TRUNCATE shiyu.alert_item, shiyu.alert_message, shiyu.alert_hook, shiyu.supervision_event, "
         "shiyu.supervision_order RESTART IDENTITY CASCADE")
RED = """SELECT source || ':' || external_id AS thing, grid_code FROM shiyu.incident
         WHERE status NOT IN ('verified', 'closed') AND due_at < %s AND path <@ %s::ltree"""


@pytest.fixture(scope="module")
def spiked(city, tmp_path_factory):
    """The five-tier city with a spike of 40 disputes in grid C1111 over the last 20 hours."""
    now = datetime.now(timezone.utc)
    rows = [[f"S{i}", "dispute", f"{(now - timedelta(minutes=30 * i + 5)).astimezone(_bj()):%Y-%m-%d %H:%M:%S}",
             f"{120.05 + i * 1e-4:.6f}", "30.050000"] for i in range(40)]
    path = write_csv(tmp_path_factory.mktemp("spike") / "spike.csv", rows)
    assert load_incidents(path, source="spike").loaded == 40
    return city


def _bj():
    from layers.base import BEIJING
    return BEIJING


@pytest.fixture
def clean(spiked, conn):
    conn.execute(CLEAR)
    db.close_pool()
    yield conn


def path_of(conn, code):
    return conn.execute("SELECT path::text FROM shiyu.area WHERE code = %s", (code,)).fetchone()[0]


def red_lights(conn, code, now):
    return {thing: grid for thing, grid in conn.execute(RED, (now, path_of(conn, code))).fetchall()}


def quiet_moment(conn, span_s=200):
    """Now, or a little later: a moment after which no open incident falls due for ``span_s`` seconds, so passes
    within that span find no new red light."""
    moment = datetime.now(timezone.utc)
    while conn.execute("SELECT count(*) FROM shiyu.incident WHERE status NOT IN ('verified', 'closed') "
                       "AND due_at >= %s AND due_at < %s", (moment, moment + timedelta(seconds=span_s))).fetchone()[0]:
        moment += timedelta(seconds=span_s)
    return moment


def alert_audit(conn, since_id=0):
    return [r[0] for r in conn.execute("SELECT detail FROM shiyu.audit_log WHERE action = 'alert_send' AND id > %s "
                                       "ORDER BY id", (since_id,)).fetchall()]


def last_audit_id(conn):
    return conn.execute("SELECT coalesce(max(id), 0) FROM shiyu.audit_log").fetchone()[0]


def test_an_alert_reaches_the_receiver_once_a_day(clean, tmp_path):
    conn, start = clean, last_audit_id(clean)
    now = quiet_moment(conn)
    with Receiver() as receiver:
        hook = add_hook("C11", receiver.url, "json")
        first = send_due(now)
        assert (first["composed"], first["sent"]) == (1, 1)
        assert len(receiver.posts) == 1
        body = receiver.posts[0].body
        red = red_lights(conn, "C11", now)
        assert body["counts"]["red_lights"] == body["counts"]["red_lights_total"] == len(red) > 0
        assert {r["grid_code"] for r in body["red_lights"]} <= {g for g in red.values()}
        assert all(r["source"] + ":" + r["external_id"] in red for r in body["red_lights"])
        assert len(body["red_lights"]) == min(100, len(red))
        flags = early_warning.build(Filters(until=now), Scope(path_of(conn, "C11")), unit="grid").features
        expected = {(f["properties"]["grid_code"], f["properties"]["window"]) for f in flags}
        assert ("C1111", "24h") in expected
        assert {(w["grid_code"], w["window"]) for w in body["warnings"]} == expected
        assert body["counts"]["warnings"] == len(expected)

        again = send_due(now + timedelta(minutes=1))
        assert (again["composed"], again["sent"]) == (0, 0)
        assert len(receiver.posts) == 1

        # one overdue incident more in C11: the next pass tells of it alone
        late = (now - timedelta(days=10)).astimezone(_bj())
        load_incidents(write_csv(tmp_path / "late.csv", [["L1", "dispute", f"{late:%Y-%m-%d %H:%M:%S}", "120.15",
                                                          "30.05"]]), source="late")
        third = send_due(now + timedelta(minutes=2))
        assert (third["composed"], third["sent"]) == (1, 1)
        body = receiver.posts[1].body
        assert body["counts"] == {"warnings": 0, "red_lights": 1, "red_lights_total": len(red) + 1, "escalations": 0}
        assert [r["external_id"] for r in body["red_lights"]] == ["L1"]

        # the next open incident of C11 to fall due: a pass just after it tells of what fell due since, alone
        due = conn.execute("SELECT min(due_at) FROM shiyu.incident WHERE status NOT IN ('verified', 'closed') "
                           "AND due_at > %s AND path <@ %s::ltree", (now, path_of(conn, "C11"))).fetchone()[0]
        later = due + timedelta(seconds=1)
        fell_due = set(red_lights(conn, "C11", later)) - set(red_lights(conn, "C11", now + timedelta(minutes=2)))
        assert fell_due
        if later.astimezone(_bj()).date() != now.astimezone(_bj()).date():  # a new day: its digest tells of them all
            fell_due = set(red_lights(conn, "C11", later))
        fourth = send_due(later)
        assert fourth["sent"] == 1
        body = receiver.posts[2].body
        assert body["counts"]["red_lights"] == len(fell_due)
        listed = {r["thing_id"] for r in body["red_lights"]}  # the top 100 of a new day's digest
        assert listed <= fell_due and len(listed) == min(100, len(fell_due))
    audits = alert_audit(conn, start)
    assert [(a["hook"], a["status"], a["attempts"]) for a in audits] == [(hook["id"], "sent", 1)] * 3
    assert "tok3n" not in orjson.dumps(audits).decode()
    conn.execute("DELETE FROM shiyu.incident WHERE source = 'late'")


def _escalate(conn, grid):
    order = conn.execute(
        "INSERT INTO shiyu.supervision_order (incident_source, incident_id, area_code, path, level, addressee, "
        "issued_by, issued_at, reply_due_at, escalations, escalated_at) "
        "SELECT 'tiers', 'E1', code, path, 'order', '负责人' || code, 'commander', now() - interval '2 days', "
        "now() - interval '1 day', 1, now() FROM shiyu.area WHERE code = %s RETURNING id, path", (grid,)).fetchone()
    event = conn.execute("INSERT INTO shiyu.supervision_event (order_id, path, action, actor, level) "
                         "VALUES (%s, %s, 'escalated', 'system', 'order') RETURNING id", order).fetchone()[0]
    return order[0], event


def test_a_hook_hears_only_of_its_own_subtree(clean):
    conn = clean
    with Receiver() as receiver:
        hooks = {code: add_hook(code, receiver.url, "json")["id"] for code in ("C11", "C12")}
        order, _ = _escalate(conn, "C1211")
        now = datetime.now(timezone.utc)
        assert send_due(now)["sent"] == 2
        bodies = {p.body["area"]["code"]: p.body for p in receiver.posts}
        assert set(bodies) == {"C11", "C12"}
        for code, body in bodies.items():
            red = red_lights(conn, code, now)
            assert body["counts"]["red_lights_total"] == len(red)
            assert all(r["grid_code"].startswith(code) for r in body["red_lights"])
            assert all(w["grid_code"].startswith(code) for w in body["warnings"])
        assert bodies["C11"]["counts"]["escalations"] == 0 and bodies["C11"]["escalations"] == []
        assert [e["order_id"] for e in bodies["C12"]["escalations"]] == [order]
        assert "督办单 #%d 升级为 **督办**" % order in bodies["C12"]["text"]
        for code, hook in hooks.items():
            outside = conn.execute("SELECT count(*) FROM shiyu.alert_item WHERE hook_id = %s AND NOT path <@ %s::ltree",
                                   (hook, path_of(conn, code))).fetchone()[0]
            assert outside == 0
        assert send_due(now + timedelta(seconds=5))["composed"] == 0  # the escalation, too, is told once


def test_a_failing_receiver_is_retried_with_backoff_then_succeeds(clean):
    conn, start = clean, last_audit_id(clean)
    t0 = quiet_moment(conn)
    with Receiver(answers=[(500, {"error": "down"}), (200, {"errcode": 130101, "errmsg": "send too fast"})],
                  secret="SECabc123") as receiver:
        hook = add_hook("C21", receiver.url, "dingtalk", "SECabc123")
        assert send_due(t0)["retrying"] == 1
        state = lambda: conn.execute("SELECT status, attempts, next_attempt_at, last_error FROM shiyu.alert_message"
                                     ).fetchone()  # noqa: E731
        assert state()[:3] == ("pending", 1, t0 + timedelta(seconds=30)) and "500" in state()[3]
        assert send_due(t0 + timedelta(seconds=29))["retrying"] == 0  # not due yet: nothing posted
        assert len(receiver.posts) == 1
        assert send_due(t0 + timedelta(seconds=30))["retrying"] == 1
        assert state()[:3] == ("pending", 2, t0 + timedelta(seconds=90)) and "130101" in state()[3]
        assert send_due(t0 + timedelta(seconds=90))["sent"] == 1
        assert state()[:2] == ("sent", 3)
        assert send_due(t0 + timedelta(seconds=150))["sent"] == 0
    assert len(receiver.posts) == 3
    assert all(p.signature_ok for p in receiver.posts)
    assert all(p.query["access_token"] == "tok3n" for p in receiver.posts)
    assert receiver.posts[0].body == receiver.posts[2].body
    assert receiver.posts[0].body["msgtype"] == "markdown" and receiver.posts[0].body["markdown"]["title"]
    audits = alert_audit(conn, start)
    assert [(a["hook"], a["status"], a["attempts"]) for a in audits] == [(hook["id"], "sent", 3)]


def test_a_wrong_signature_is_a_failure(clean):
    with Receiver(secret="SECright") as receiver:
        add_hook("C21", receiver.url, "dingtalk", "SECwrong")
        result = send_due(quiet_moment(clean))
    assert (result["sent"], result["retrying"]) == (0, 1)
    assert receiver.posts[0].signature_ok is False
    assert "310000" in clean.execute("SELECT last_error FROM shiyu.alert_message").fetchone()[0]


def test_a_message_is_given_up_after_its_attempts_and_audited(clean, monkeypatch):
    from geodata.settings import reload

    monkeypatch.setenv("SHIYU_ALERT_ATTEMPTS", "2")
    reload()
    conn, start = clean, last_audit_id(clean)
    t0 = quiet_moment(conn)
    try:
        with Receiver(answers=[(500, {})] * 5) as receiver:
            hook = add_hook("C22", receiver.url, "wecom")
            assert send_due(t0)["retrying"] == 1
            assert send_due(t0 + timedelta(seconds=30))["failed"] == 1
            assert send_due(t0 + timedelta(seconds=150))["failed"] == 0  # given up: never posted again
        assert len(receiver.posts) == 2
        assert conn.execute("SELECT status, attempts FROM shiyu.alert_message").fetchone() == ("failed", 2)
        audits = alert_audit(conn, start)
        assert [(a["hook"], a["status"], a["attempts"], a["http_status"]) for a in audits] == [
            (hook["id"], "failed", 2, 500)]
    finally:
        monkeypatch.delenv("SHIYU_ALERT_ATTEMPTS")
        reload()


def test_a_red_light_flood_is_one_readable_message(clean):
    now = quiet_moment(clean)
    red = red_lights(clean, "C", now)
    assert len(red) > 1000  # a flood
    with Receiver() as receiver:
        add_hook("C", receiver.url, "wecom")
        assert send_due(now)["sent"] == 1
    assert len(receiver.posts) == 1
    content = receiver.posts[0].body["markdown"]["content"]
    assert len(content.encode()) <= 4096
    assert f"新增 {len(red):,} 起" in content and f"辖区现有超期 {len(red):,} 起" in content
    assert f"另 {len(red) - 5:,} 项" in content
    assert sum(1 for line in content.splitlines() if "超期" in line and line.startswith("- ")) == 5
    by_district = {d: sum(1 for grid in red.values() if grid.startswith(d)) for d in ("C1", "C2")}
    assert "分布：" in content
    assert all(f"区域{d} {n:,}" in content for d, n in by_district.items())


def test_two_passes_at_once_post_each_message_once(clean):
    from concurrent.futures import ThreadPoolExecutor

    now = quiet_moment(clean)
    with Receiver() as receiver:
        for code in ("C11", "C12", "C21"):
            add_hook(code, receiver.url, "json")
        with ThreadPoolExecutor(max_workers=2) as threads:
            results = list(threads.map(lambda _: send_due(now), range(2)))
        assert sum(r["composed"] for r in results) == 3
        assert sum(r["sent"] for r in results) == 3
    assert sorted(p.body["area"]["code"] for p in receiver.posts) == ["C11", "C12", "C21"]
    things = clean.execute("SELECT count(*), count(DISTINCT (hook_id, kind, thing_id, day)) FROM shiyu.alert_item"
                           ).fetchone()
    assert things[0] == things[1] and things[0] > 0


def test_the_ledger_refuses_a_thing_outside_the_scope_it_is_written_in(clean):
    from geodata.db import one_transaction, scoped

    with Receiver() as receiver:
        hook = add_hook("C11", receiver.url, "json")["id"]
    insert = ("INSERT INTO shiyu.alert_item (hook_id, kind, thing_id, day, path) "
              "VALUES (%s, 'red_light', 'x:1', current_date, %s::ltree)")
    with scoped(Scope(path_of(clean, "C11"))):
        with one_transaction() as run:
            run(insert, (hook, path_of(clean, "C1111")))
        with pytest.raises(Exception, match="row-level security"):
            with one_transaction() as run:
                run(insert, (hook, path_of(clean, "C1211")))
        with one_transaction() as run:
            assert run("SELECT count(*) AS n FROM shiyu.alert_item")[0]["n"] == 1
        with pytest.raises(Exception, match="permission denied for table alert_hook"):  # URLs and secrets: owner only
            with one_transaction() as run:
                run("SELECT url, secret FROM shiyu.alert_hook")


def test_a_receiver_that_never_answers_is_a_failed_attempt_within_the_timeout(clean, monkeypatch):
    from geodata.settings import reload

    monkeypatch.setenv("SHIYU_ALERT_TIMEOUT_S", "0.5")
    reload()
    try:
        with Receiver(answers=[None]) as receiver:
            add_hook("C12", receiver.url, "json")
            result = send_due(quiet_moment(clean))
        assert (result["sent"], result["retrying"]) == (0, 1)
        assert "timed out" in clean.execute("SELECT last_error FROM shiyu.alert_message").fetchone()[0]
    finally:
        monkeypatch.delenv("SHIYU_ALERT_TIMEOUT_S")
        reload()


def test_a_removed_hook_gives_up_its_waiting_messages(clean):
    from layers.alert_hooks import remove_hook

    t0 = quiet_moment(clean)
    with Receiver(answers=[(503, {})]) as receiver:
        hook = add_hook("C12", receiver.url, "json")["id"]
        assert send_due(t0)["retrying"] == 1
        remove_hook(hook)
        assert send_due(t0 + timedelta(seconds=60)) == {"hooks": 0, "composed": 0, "sent": 0, "retrying": 0,
                                                        "failed": 0, "hooks_failed": []}
    assert len(receiver.posts) == 1
    assert clean.execute("SELECT status, last_error FROM shiyu.alert_message").fetchone() == ("failed", "hook removed")
