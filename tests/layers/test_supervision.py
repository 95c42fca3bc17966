"""Supervision orders on the five-tier city: issued to the grid's owner, raised not duplicated, ordered for a whole
area, replied to and accepted, escalated and closed by the pass, held to the scope by the code and by row-level
security; the layer and the lists recounted from the incidents."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from geodata import db
from geodata.errors import Forbidden, InputError, NotFound
from geodata.scope import Scope
from geodata.version import supervision_version
from layers import supervision, supervision_map, supervision_reads
from layers.base import YELLOW_SHARE, Filters
from tests.layers.tiers import CITY

EVERYWHERE, C1, C2 = Scope.everything(), Scope("C.C1"), Scope("C.C2")


@pytest.fixture
def fresh(city, conn):
    conn.execute("DELETE FROM shiyu.supervision_order")
    conn.execute("DELETE FROM shiyu.audit_log WHERE action LIKE 'supervision%%'")
    return city


def _overdue(conn, path: str, n: int = 1) -> list[tuple]:
    """Overdue incidents under ``path``, recounted from the incident table as the owner."""
    return conn.execute(
        "SELECT source || ':' || external_id, grid_code, path::text FROM shiyu.incident "
        "WHERE status NOT IN ('verified', 'closed') AND due_at < now() AND path <@ %s::ltree "
        "ORDER BY due_at, external_id LIMIT %s", (path, n)).fetchall()


def _past_due(conn) -> None:
    """Every order issued two days ago with a deadline a second after: past it now."""
    conn.execute("UPDATE shiyu.supervision_order SET issued_at = issued_at - interval '2 days', "
                 "reply_due_at = issued_at - interval '2 days' + interval '1 second'")


def _events(conn, order_id: int) -> list[tuple]:
    return conn.execute("SELECT action, actor, level FROM shiyu.supervision_event WHERE order_id = %s ORDER BY id",
                        (order_id,)).fetchall()


def test_an_order_goes_to_the_grids_owner_with_its_levels_deadline_and_is_audited(fresh, conn):
    (incident, grid, _), = _overdue(conn, "C.C1")
    with db.scoped(C1):
        order = supervision.issue(incident, C1, "olga", "officer", level="reminder", note="请今日处置")
    row = conn.execute("SELECT addressee, area_code, level, reply_due_at - issued_at, issued_by, note "
                       "FROM shiyu.supervision_order WHERE id = %s", (order["id"],)).fetchone()
    assert row == (f"负责人{grid}", grid, "reminder", timedelta(hours=supervision.LEVELS["reminder"].reply_hours),
                   "olga", "请今日处置")
    assert _events(conn, order["id"]) == [("issued", "olga", "reminder")]
    audited = conn.execute("SELECT user_name, detail ->> 'incident' FROM shiyu.audit_log "
                           "WHERE action = 'supervision_issue'").fetchall()
    assert audited == [("olga", incident)]


def test_a_second_order_on_an_incident_raises_the_open_one_instead_of_duplicating_it(fresh, conn):
    (incident, _, _), = _overdue(conn, "C.C2")
    with db.scoped(EVERYWHERE):
        first = supervision.issue(incident, EVERYWHERE, "cora", "commander", level="reminder")
        again = supervision.issue(incident, EVERYWHERE, "cora", "commander", level="reminder")
        red = supervision.issue(incident, EVERYWHERE, "cora", "commander", level="red_list")
    assert first["id"] == again["id"] == red["id"] and (first["new"], again["new"]) == (True, False)
    assert (again["level"], red["level"]) == ("order", "red_list")
    assert conn.execute("SELECT count(*), max(escalations) FROM shiyu.supervision_order").fetchone() == (1, 2)
    assert [e[0] for e in _events(conn, first["id"])] == ["issued", "escalated", "escalated"]


def test_an_areas_overdue_list_is_one_order_per_overdue_incident(fresh, conn):
    expected = {r[0] for r in _overdue(conn, "C.C1.C11.C111.C1111", 10_000)}
    assert 0 < len(expected) <= supervision.MAX_AREA_ORDERS
    with db.scoped(C1):
        made = supervision.issue_area("C1111", C1, "olga", "officer", note="集中督办")
    assert {f"{r['incident_source']}:{r['incident_id']}" for r in made} == expected
    assert conn.execute("SELECT array_agg(DISTINCT area_code), array_agg(DISTINCT note) "
                        "FROM shiyu.supervision_order").fetchone() == (["C1111"], ["集中督办"])
    with db.scoped(EVERYWHERE), pytest.raises(InputError, match="more than"):
        supervision.issue_area("C", EVERYWHERE, "cora", "commander")
    with db.scoped(C1), pytest.raises(InputError, match="no area 'C2111'"):
        supervision.issue_area("C2111", C1, "olga", "officer")


def test_an_areas_list_ordered_under_the_views_filters_is_the_list_shown(fresh, conn):
    since = datetime.now(timezone.utc) - timedelta(days=10)
    expected = {r[0] for r in conn.execute(
        "SELECT source || ':' || external_id FROM shiyu.incident WHERE path <@ 'C.C2.C21' AND category = 'dispute' "
        "AND status NOT IN ('verified', 'closed') AND due_at < now() AND reported_at >= %s", (since,)).fetchall()}
    with db.scoped(C2):
        made = supervision.issue_area("C21", C2, "lou", "officer", filters=Filters(since=since, categories=("dispute",)))
    assert 0 < len(made) and {f"{r['incident_source']}:{r['incident_id']}" for r in made} == expected


def test_an_officer_can_neither_issue_nor_see_nor_reply_outside_their_subtree(fresh, conn):
    (inside, _, _), = _overdue(conn, "C.C1")
    (outside, _, _), = _overdue(conn, "C.C2")
    with db.scoped(C1), pytest.raises(NotFound):
        supervision.issue(outside, C1, "olga", "officer")
    with db.scoped(C1), pytest.raises(NotFound):  # the code handed the wrong scope: row-level security still holds
        supervision.issue(outside, EVERYWHERE, "olga", "officer")
    with db.scoped(EVERYWHERE):
        theirs = supervision.issue(outside, EVERYWHERE, "cora", "commander")
        supervision.issue(inside, EVERYWHERE, "cora", "commander")
    with db.scoped(C1):
        seen = supervision_reads.orders(EVERYWHERE)
        with pytest.raises(NotFound):
            supervision.reply(theirs["id"], EVERYWHERE, "olga", "officer", "已处理", "handling")
    assert [o["incident_id"] for o in seen] == [inside]
    with db.scoped(C1), pytest.raises(Forbidden):
        supervision.issue(inside, C1, "dan", "viewer")


def test_row_level_security_refuses_a_forged_order_outside_the_scope(fresh, conn):
    (_, grid, path), = _overdue(conn, "C.C2")
    app = psycopg.connect(db.app_database_url())
    try:
        app.execute("SELECT set_config('shiyu.scope', 'C.C1', false)")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            app.execute("INSERT INTO shiyu.supervision_order (area_code, path, level, addressee, issued_by, "
                        "reply_due_at) VALUES (%s, %s::ltree, 'order', 'x', 'olga', now() + interval '1 hour')",
                        (grid, path))
    finally:
        app.close()


def test_a_reply_is_accepted_by_its_issuer_or_a_commander_only(fresh, conn):
    (incident, _, _), = _overdue(conn, "C.C1")
    with db.scoped(C1):
        order = supervision.issue(incident, C1, "olga", "officer")
        with pytest.raises(InputError, match="no reply"):
            supervision.accept(order["id"], C1, "olga", "officer")
        supervision.reply(order["id"], C1, "lou", "officer", "已派人处置，明日办结", "handling")
        with pytest.raises(Forbidden):
            supervision.accept(order["id"], C1, "lou", "officer")
        supervision.accept(order["id"], C1, "olga", "officer")
    row = conn.execute("SELECT reply_text, reply_status, close_reason, closed_by FROM shiyu.supervision_order "
                       "WHERE id = %s", (order["id"],)).fetchone()
    assert row == ("已派人处置，明日办结", "handling", "reply_accepted", "olga")
    assert [e[0] for e in _events(conn, order["id"])] == ["issued", "replied", "accepted"]
    with db.scoped(C1):
        mistaken = supervision.issue(incident, C1, "olga", "officer")
        with pytest.raises(Forbidden):
            supervision.withdraw(mistaken["id"], C1, "lou", "officer")
        supervision.withdraw(mistaken["id"], C1, "olga", "officer")
    assert conn.execute("SELECT close_reason FROM shiyu.supervision_order WHERE id = %s",
                        (mistaken["id"],)).fetchone() == ("withdrawn",)
    assert conn.execute("SELECT count(*) FROM shiyu.audit_log WHERE action = 'supervision_withdrawn'").fetchone() == (1,)


def test_the_pass_escalates_unanswered_orders_one_level_and_closes_those_whose_incident_closed(fresh, conn):
    quiet, answered, solved = (r[0] for r in _overdue(conn, "C", 3))
    with db.scoped(EVERYWHERE):
        ids = [supervision.issue(i, EVERYWHERE, "cora", "commander", level="reminder")["id"]
               for i in (quiet, answered, solved)]
        supervision.reply(ids[1], EVERYWHERE, "olga", "officer", "处理中", "handling")
    _past_due(conn)
    source, external_id = solved.split(":")
    conn.execute("UPDATE shiyu.incident SET status = 'closed', resolved_at = now() WHERE source = %s "
                 "AND external_id = %s", (source, external_id))
    done = supervision.sweep()
    assert (done["closed"], done["orders"]) == (1, [ids[0]])
    levels = dict(conn.execute("SELECT id, level FROM shiyu.supervision_order").fetchall())
    assert levels == {ids[0]: "order", ids[1]: "reminder", ids[2]: "reminder"}
    assert _events(conn, ids[0])[-1] == ("escalated", "system", "order")
    assert _events(conn, ids[2])[-1] == ("closed", "system", "reminder")
    assert conn.execute("SELECT count(*) FROM shiyu.audit_log WHERE action = 'supervision_escalate' "
                        "AND user_name = 'system'").fetchone()[0] == 1
    assert supervision.sweep()["escalated"] == 0  # a new deadline: nothing more until it passes
    conn.execute("UPDATE shiyu.incident SET status = 'handling', resolved_at = NULL WHERE source = %s "
                 "AND external_id = %s", (source, external_id))


def test_the_layer_is_every_lit_or_ordered_open_incident_in_view_recounted(fresh, conn):
    now = datetime.now(timezone.utc)
    (ordered, _, _), = _overdue(conn, "C.C1")
    with db.scoped(EVERYWHERE):
        supervision.issue(ordered, EVERYWHERE, "cora", "commander")
    result = supervision_map.build(Filters(bbox=CITY), C1, now=now)
    lights = {}
    for key, status, reported, due in conn.execute(
            "SELECT source || ':' || external_id, status, reported_at, due_at FROM shiyu.incident "
            "WHERE path <@ 'C.C1' AND status NOT IN ('verified', 'closed') AND due_at IS NOT NULL").fetchall():
        if due < now:
            lights[key] = "red"
        elif now >= reported + YELLOW_SHARE * (due - reported):
            lights[key] = "yellow"
    got = {f["properties"]["id"]: f["properties"]["light"] for f in result.features}
    assert got == lights and "yellow" in got.values()
    assert [f["properties"]["order_level"] for f in result.features if f["properties"]["id"] == ordered] == ["order"]
    assert supervision_map.count(Filters(bbox=CITY), C1, 10, now=now) == 10


def test_the_walls_counts_and_the_day_list_recount_the_incidents(fresh, conn):
    reds = _overdue(conn, "C.C2", 10_000)
    with db.scoped(EVERYWHERE):
        supervision.issue(reds[0][0], EVERYWHERE, "cora", "commander")
    _past_due(conn)
    supervision.sweep()
    with db.scoped(C2):
        counts = supervision_reads.wall_counts(C2)
        proposed = supervision_reads.to_supervise("C21", C2, limit=supervision_reads.MAX_LIST)
    assert counts["red"] == len(reds) and (counts["open"], counts["escalated_today"]) == (1, 1)
    assert [e["incident_id"] for e in counts["latest"]] == [reds[0][0]]
    street = {r[0] for r in reds[1:] if r[2].startswith("C.C2.C21.")}
    assert 0 < len(street) < supervision_reads.MAX_LIST and {p["incident_id"] for p in proposed} == street
    keys = [(-(p["severity"] or 0), -p["in_grid"]) for p in proposed]
    assert keys == sorted(keys)


def test_an_order_written_moves_the_supervision_version(fresh, conn):
    (incident, _, _), = _overdue(conn, "C.C1")
    before = supervision_version()
    with db.scoped(EVERYWHERE):
        supervision.issue(incident, EVERYWHERE, "cora", "commander")
    assert supervision_version() == before + 1


def test_open_orders_keeps_the_brief_s_keys(fresh, conn):
    (incident, _, _), = _overdue(conn, "C.C1")
    with db.scoped(EVERYWHERE):
        supervision.issue(incident, EVERYWHERE, "cora", "commander", note="n")
    rows = supervision.open_orders(EVERYWHERE, "C.C1", 10)
    assert list(rows[0]) == list(supervision_reads.OPEN_KEYS) and rows[0]["incident_id"] == incident
    assert supervision.open_orders(EVERYWHERE, "C2", 10) == []


@pytest.mark.parametrize("fmt", ["gpkg", "shp", "csv"])
def test_the_layer_exports_with_its_orders(fresh, conn, fmt):
    import pyogrio

    from layers.export import export

    (ordered, _, _), = _overdue(conn, "C.C2")
    with db.scoped(EVERYWHERE):
        supervision.issue(ordered, EVERYWHERE, "cora", "commander", level="red_list")
    filters = Filters(area_code="C2")
    with export(["supervision"], filters, EVERYWHERE, fmt, user_name="cora", remote_addr=None, via="cli") as file:
        assert file.counts == {"supervision": len(supervision_map.build(filters, EVERYWHERE).features)}
        if fmt == "gpkg":
            frame = pyogrio.read_dataframe(file.path, layer="supervision")
            assert frame.loc[frame["id"] == ordered, "order_level"].tolist() == ["red_list"]
            assert set(frame["light"]) <= {"red", "yellow", "none"} and len(frame) == file.counts["supervision"]
