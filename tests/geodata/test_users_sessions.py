"""Sessions held on the server (0021_sessions_and_throttle.sql): what ends them, and refusals audited once a minute
with a count; on the real database, as the owner and as shiyu_app."""

from __future__ import annotations

from datetime import timedelta

from geodata import audit, db, users
from geodata.scope import Scope

PASSWORD = "correct horse battery"
HOUR = timedelta(hours=1)


def _start(user: users.User) -> str:
    session = users.start_session(user, HOUR)
    assert session is not None and users.session_user(session) == user
    return session


def test_a_session_is_kept_as_sha256_only_and_logout_ends_that_session_only(fresh, conn):
    olga = users.add_user("olga", "officer", "C1", password=PASSWORD)
    desk, laptop = _start(olga), _start(olga)
    stored = [r[0] for r in conn.execute("SELECT sid_sha256 FROM shiyu.login_session")]
    assert desk not in stored and users.session_id_sha256(desk) in stored
    with db.as_app():
        users.end_session(desk)
    assert users.session_user(desk) is None and users.session_user(laptop) == olga
    assert users.session_user("forged") is None and users.session_user("x" * 500) is None


def test_a_new_password_ends_the_users_sessions_but_not_their_walls(fresh):
    cora = users.add_user("cora", "commander", "city", password=PASSWORD)
    desk = _start(cora)
    token = users.create_token("cora", display=True)
    wall_user, _ = users.token_user(token, None)
    wall = _start(wall_user)
    users.set_password("cora", "another long passphrase")
    assert users.session_user(desk) is None and users.session_user(wall) == wall_user
    users.revoke_tokens("cora")
    assert users.session_user(wall) is None


def test_a_changed_role_or_scope_ends_every_session_of_the_user(fresh, conn):
    for change in ("role = 'viewer'", "scope = 'C.C2'"):
        conn.execute("TRUNCATE shiyu.app_user, shiyu.api_token CASCADE")
        olga = users.add_user("olga", "officer", "C1", password=PASSWORD)
        desk = _start(olga)
        wall = _start(users.token_user(users.create_token("olga", display=True), None)[0])
        conn.execute(f"UPDATE shiyu.app_user SET {change} WHERE name = 'olga'")
        assert users.session_user(desk) is None and users.session_user(wall) is None, change
        assert users.session_user(_start(users.authenticate("olga", PASSWORD))) is not None


def test_an_expired_session_answers_no_more(fresh, conn):
    olga = users.add_user("olga", "officer", "C1", password=PASSWORD)
    session = _start(olga)
    conn.execute("UPDATE shiyu.login_session SET expires_at = now() - interval '1 second'")
    assert users.session_user(session) is None


def test_refusals_are_one_row_a_minute_per_who_where_and_why_with_the_count(fresh, conn):
    with db.as_app():
        first = [audit.record_refusal("refused", None, "no session or token", {"path": f"/p{n}"}, "10.0.0.1")
                 for n in range(25)]
        other = audit.record_refusal("refused", None, "no session or token", {"path": "/"}, "10.0.0.2")
        named = audit.record_refusal("login_failed", "olga", "bad_password", {"path": "/login"}, "10.0.0.1")
    assert len(set(first)) == 1 and len({first[0], other, named}) == 3
    rows = conn.execute("SELECT id, action, user_name, detail, remote_addr FROM shiyu.audit_log ORDER BY id").fetchall()
    assert [(r[0], r[1], r[2], r[3]["count"], r[4]) for r in rows] == [
        (first[0], "refused", None, 25, "10.0.0.1"), (other, "refused", None, 1, "10.0.0.2"),
        (named, "login_failed", "olga", 1, "10.0.0.1")]
    assert rows[0][3] == {"path": "/p0", "reason": "no session or token", "count": 25}
    conn.execute("UPDATE shiyu.audit_burst SET minute = minute - interval '1 minute'")  # the minute is over
    with db.as_app():
        assert audit.record_refusal("refused", None, "no session or token", {"path": "/"}, "10.0.0.1") != first[0]


def test_the_app_role_reaches_sessions_only_through_the_functions(fresh):
    olga = users.add_user("olga", "officer", "C1", password=PASSWORD)
    with db.as_app():
        session = _start(olga)
        users.end_session(session)
        assert users.session_user(session) is None
    assert Scope("C.C1") == olga.scope
