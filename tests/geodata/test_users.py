"""Users, passwords, lockout and tokens on the real database, checked as the owner and as shiyu_app."""

from __future__ import annotations

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


def test_five_failures_in_a_row_lock_the_account_even_against_the_right_password(fresh, conn):
    users.add_user("olga", "officer", "C1", password=PASSWORD)
    for attempt in range(users.MAX_FAILURES):
        with pytest.raises(users.LoginRefused) as refused:
            users.authenticate("olga", "guess %d" % attempt)
        assert (refused.value.locked_until is not None) == (attempt == users.MAX_FAILURES - 1)
    with pytest.raises(users.LoginRefused) as refused:
        users.authenticate("olga", PASSWORD)
    assert refused.value.reason == "locked"
    minutes = conn.execute("SELECT extract(epoch FROM locked_until - now()) / 60 FROM shiyu.app_user").fetchone()[0]
    assert 14 < minutes <= 15
    users.set_password("olga", PASSWORD)  # an admin's reset clears the lock
    assert users.authenticate("olga", PASSWORD).name == "olga"


def test_a_success_clears_earlier_failures(fresh, conn):
    users.add_user("olga", "officer", "C1", password=PASSWORD)
    for _ in range(users.MAX_FAILURES - 1):
        with pytest.raises(users.LoginRefused):
            users.authenticate("olga", "nope nope")
    users.authenticate("olga", PASSWORD)
    assert conn.execute("SELECT failed_logins, locked_until FROM shiyu.app_user").fetchone() == (0, None)


def test_a_disabled_user_is_refused_and_their_sessions_and_tokens_end(fresh):
    users.add_user("dan", "viewer", "city", password=PASSWORD)
    token = users.create_token("dan")
    assert users.session_user("dan") is not None and users.token_user(token, "10.0.0.1") is not None
    users.disable_user("dan")
    with pytest.raises(users.LoginRefused) as refused:
        users.authenticate("dan", PASSWORD)
    assert refused.value.reason == "disabled"
    assert users.session_user("dan") is None and users.token_user(token, "10.0.0.1") is None


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
        for statement in ("SELECT * FROM shiyu.app_user", "SELECT * FROM shiyu.api_token",
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
