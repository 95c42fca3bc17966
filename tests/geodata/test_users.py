"""Users, passwords, login throttling, sessions and tokens on the real database, checked as the owner and as shiyu_app."""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest

from geodata import db, users
from geodata.errors import InputError, ShiyuError
from geodata.scope import Scope

PASSWORD = "correct horse battery"


def test_a_password_is_stored_as_an_argon2id_hash_never_as_given(fresh, conn):
    user = users.add_user("olga", "officer", "C1", password=PASSWORD)
    assert user.scope == Scope("C.C1")
    stored = conn.execute("SELECT password_hash FROM shiyu.app_user WHERE name = 'olga'").fetchone()[0]
    assert stored.startswith("$argon2id$") and PASSWORD not in stored


def test_the_right_password_logs_in_with_role_and_scope_a_wrong_one_is_refused(fresh, conn):
    users.add_user("olga", "officer", "C1", password=PASSWORD)
    assert users.authenticate("olga", PASSWORD) == users.User("olga", "officer", Scope("C.C1"))
    for name, password, reason in (("olga", "wrong password", "bad_password"), ("nobody", PASSWORD, "unknown"),
                                   ("", "", "unknown"), ("a b", PASSWORD, "unknown")):
        with pytest.raises(users.LoginRefused) as refused:
            users.authenticate(name, password)
        assert refused.value.reason == reason
    assert conn.execute("SELECT last_login IS NOT NULL, failed_logins FROM shiyu.app_user").fetchone() == (True, 1)


def _fail(name: str, addr: str, times: int) -> None:
    for attempt in range(times):
        with pytest.raises(users.LoginRefused) as refused:
            users.authenticate(name, f"guess {attempt}", addr)
        assert refused.value.reason in ("bad_password", "unknown")


def _throttle(conn, addr: str, name: str = "") -> tuple:
    return conn.execute("SELECT failures, extract(epoch FROM not_before - last_failure) FROM shiyu.login_throttle "
                        "WHERE addr = %s AND user_name = %s", (addr, name)).fetchone()


def test_failures_of_a_name_from_one_address_make_the_next_try_from_there_wait_and_no_other(fresh, conn):
    policy = users.login_policy()
    users.add_user("olga", "officer", "C1", password=PASSWORD)
    _fail("olga", "10.0.0.1", policy["free_per_name"])
    # The last free failure sets the first wait; nothing is counted against the name itself.
    assert _throttle(conn, "10.0.0.1", "olga") == (policy["free_per_name"], policy["first_wait"].total_seconds())
    assert _throttle(conn, "10.0.0.1")[0] == policy["free_per_name"]
    assert users.authenticate("olga", PASSWORD, "10.0.0.2").name == "olga"  # an outsider cannot lock her out
    conn.execute("UPDATE shiyu.login_throttle SET not_before = now() + interval '10 minutes' WHERE addr = '10.0.0.1'")
    with pytest.raises(users.LoginRefused) as refused:
        users.authenticate("olga", PASSWORD, "10.0.0.1")  # even the right password, until the wait is over
    assert refused.value.reason == "throttled" and 9 * 60 < refused.value.retry_after.total_seconds() <= 600
    assert _throttle(conn, "10.0.0.1", "olga")[0] == policy["free_per_name"]  # a refused try is not counted


def test_the_wait_doubles_with_each_failure_up_to_its_ceiling(fresh, conn):
    policy = users.login_policy()
    users.add_user("olga", "officer", "C1", password=PASSWORD)
    _fail("olga", "10.0.0.1", policy["free_per_name"] - 1)
    assert _throttle(conn, "10.0.0.1", "olga") == (policy["free_per_name"] - 1, None)
    waits = []
    for _ in range(14):
        conn.execute("UPDATE shiyu.login_throttle SET not_before = NULL")  # the previous wait is over
        _fail("olga", "10.0.0.1", 1)
        waits.append(_throttle(conn, "10.0.0.1", "olga")[1])
    first, ceiling = policy["first_wait"].total_seconds(), policy["max_wait"].total_seconds()
    assert waits == [min(first * 2 ** n, ceiling) for n in range(14)] and waits[-1] == ceiling


def test_many_names_from_one_address_make_it_wait_whoever_it_names_next(fresh, conn):
    policy = users.login_policy()
    users.add_user("olga", "officer", "C1", password=PASSWORD)
    for n in range(policy["free_per_address"]):
        _fail(f"sprayed{n}", "10.0.0.7", 1)
    assert _throttle(conn, "10.0.0.7") == (policy["free_per_address"], policy["first_wait"].total_seconds())
    conn.execute("UPDATE shiyu.login_throttle SET not_before = now() + interval '10 minutes' WHERE user_name = ''")
    with pytest.raises(users.LoginRefused) as refused:
        users.authenticate("olga", PASSWORD, "10.0.0.7")
    assert refused.value.reason == "throttled"
    assert users.authenticate("olga", PASSWORD, "10.0.0.8").name == "olga"


def test_an_ipv6_client_is_counted_by_its_slash_64(fresh):
    assert users.client_key("2001:db8:1:2:aaaa::1") == users.client_key("2001:db8:1:2:bbbb::9") == "2001:db8:1:2::/64"
    assert users.client_key("::ffff:10.0.0.1") == "10.0.0.1" and users.client_key("10.0.0.1") == "10.0.0.1"
    assert users.client_key(None) == "" and users.client_key("unix socket") == "unix socket"


def test_a_success_clears_the_names_count_and_a_new_password_its_waits(fresh, conn):
    users.add_user("olga", "officer", "C1", password=PASSWORD)
    _fail("olga", "10.0.0.1", 3)
    users.authenticate("olga", PASSWORD, "10.0.0.1")
    assert conn.execute("SELECT failed_logins FROM shiyu.app_user").fetchone() == (0,)
    assert _throttle(conn, "10.0.0.1", "olga") is None and _throttle(conn, "10.0.0.1")[0] == 3
    _fail("olga", "10.0.0.1", 5)
    users.set_password("olga", PASSWORD)  # an admin's reset forgets the name's waits
    assert _throttle(conn, "10.0.0.1", "olga") is None


def test_a_disabled_user_is_refused_and_their_sessions_and_tokens_end(fresh):
    user = users.add_user("dan", "viewer", "city", password=PASSWORD)
    token = users.create_token("dan")
    session = users.start_session(user, timedelta(hours=1))
    assert users.session_user(session) == user and users.token_user(token, "10.0.0.1") is not None
    users.disable_user("dan")
    with pytest.raises(users.LoginRefused) as refused:
        users.authenticate("dan", PASSWORD)
    assert refused.value.reason == "disabled"
    assert users.session_user(session) is None and users.token_user(token, "10.0.0.1") is None
    assert users.start_session(user, timedelta(hours=1)) is None


def test_tokens_are_kept_as_sha256_only_name_their_user_and_can_be_revoked(fresh, conn):
    users.add_user("qgis", "planner", "C2", password=PASSWORD)
    token = users.create_token("qgis", label="qgis")
    stored = conn.execute("SELECT token_sha256 FROM shiyu.api_token").fetchone()[0]
    assert token.startswith("shiyu_") and token not in stored and stored == users.token_sha256(token)
    user, since = users.token_user(token, "10.0.0.9")
    assert (user.name, user.role, user.scope, user.display, since) == ("qgis", "planner", Scope("C.C2"), False, None)
    assert users.token_user(token, "10.0.0.9")[1] is not None  # used before, from here
    assert users.token_user(token + "x", "10.0.0.9") is None and users.token_user("not a token", None) is None
    assert users.revoke_tokens("qgis") == 1
    assert users.token_user(token, "10.0.0.9") is None


def test_a_display_token_masks_personal_data_and_exports_nothing(fresh):
    users.add_user("cora", "admin", "city", password=PASSWORD)
    user, _ = users.token_user(users.create_token("cora", display=True), None)
    assert user.display and user.scope == Scope.everything()
    assert not user.show_pii and not user.can_export
    assert users.User("o", "officer", Scope("C.C1")).show_pii and not users.User("v", "viewer", Scope()).show_pii


def test_the_app_role_reads_no_user_table_yet_can_log_in_through_the_functions(fresh):
    users.add_user("olga", "officer", "C1", password=PASSWORD)
    token = users.create_token("olga")
    with db.as_app():
        assert users.authenticate("olga", PASSWORD).scope == Scope("C.C1")
        assert users.token_user(token, "127.0.0.1")[0].name == "olga"
        session = users.start_session(users.User("olga", "officer", Scope("C.C1")), timedelta(hours=1))
        assert users.session_user(session).name == "olga"
        for statement in ("SELECT * FROM shiyu.app_user", "SELECT * FROM shiyu.api_token",
                          "SELECT * FROM shiyu.login_session", "SELECT * FROM shiyu.login_throttle",
                          "UPDATE shiyu.login_session SET revoked_at = NULL", "DELETE FROM shiyu.login_throttle",
                          "UPDATE shiyu.app_user SET role = 'admin'",
                          "INSERT INTO shiyu.api_token (user_name, token_sha256) VALUES ('olga', repeat('0', 64))"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                db.fetch_all(statement)


def test_bad_names_roles_scopes_and_short_passwords_are_usage_errors(fresh):
    for name, role, scope, password in (("a b", "viewer", "city", PASSWORD), ("x", "king", "city", PASSWORD),
                                        ("x", "viewer", "NOPE", PASSWORD), ("x", "viewer", "city", "short")):
        with pytest.raises(InputError):
            users.add_user(name, role, scope, password=password)
    users.add_user("x", "viewer", "city", password=PASSWORD)
    with pytest.raises(ShiyuError, match="exists"):
        users.add_user("x", "viewer", "city", password=PASSWORD)
