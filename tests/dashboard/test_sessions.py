"""Sessions end on the server (SHIYU_AUTH=on, served): a cookie copied before a logout, a new password, a changed
role or scope keeps nothing open; a logout ends that session only, and a wall screen's session stands for its
display token, not for its user's password."""

from __future__ import annotations

import pytest
import requests

from geodata import users
from tests.dashboard.test_login import _login, _table
from tests.serving import PASSWORD, people_served

NEW_PASSWORD = "a brand new pass phrase"


@pytest.fixture(scope="module")
def site(database_url, tmp_path_factory):
    with people_served(database_url, tmp_path_factory.mktemp("sessions")) as url:
        yield url


def _copy(session: requests.Session) -> requests.Session:
    """Another browser holding the same cookie (copied out of the first, say)."""
    thief = requests.Session()
    thief.cookies.set("shiyu_session", session.cookies.get("shiyu_session"))
    return thief


def _in(session: requests.Session, site: str) -> bool:
    return _table(session, site).status_code == 200


def test_a_cookie_copied_before_logout_opens_nothing_after_it(site):
    session, response = _login(site, "ada")
    assert response.status_code == 302
    copied = _copy(session)
    assert _in(copied, site)
    assert session.get(f"{site}/logout", allow_redirects=False, timeout=30).status_code == 302
    assert not _in(copied, site)
    assert copied.get(f"{site}/", allow_redirects=False, timeout=30).headers["Location"] == "/login"


def test_a_logout_ends_that_session_only(site):
    desk, _ = _login(site, "ada")
    laptop, _ = _login(site, "ada")
    desk.get(f"{site}/logout", timeout=30)
    assert not _in(desk, site) and _in(laptop, site)


def test_a_cookie_from_before_a_new_password_opens_nothing_after_it(site):
    session, _ = _login(site, "pia")
    copied = _copy(session)
    users.set_password("pia", NEW_PASSWORD)  # what `shiyu users password pia` does
    assert not _in(copied, site) and not _in(session, site)
    assert _login(site, "pia", PASSWORD)[1].status_code == 401
    fresh, response = _login(site, "pia", NEW_PASSWORD)
    assert response.status_code == 302 and _in(fresh, site)


@pytest.mark.parametrize("change", ["role = 'viewer'", "scope = 'C.C1'"])
def test_a_changed_role_or_scope_ends_the_users_sessions(site, conn, change):
    session, _ = _login(site, "lou")
    assert _in(session, site)
    conn.execute(f"UPDATE shiyu.app_user SET {change} WHERE name = 'lou'")
    try:
        assert not _in(session, site)
    finally:
        conn.execute("UPDATE shiyu.app_user SET role = 'officer', scope = 'C.C2' WHERE name = 'lou'")


def test_a_wall_screen_outlives_its_users_logout_and_new_password_but_not_its_token(site):
    screen = requests.Session()
    assert screen.get(f"{site}/wall?token={users.create_token('cora', display=True)}", timeout=30).status_code == 200
    desk, _ = _login(site, "cora")
    desk.get(f"{site}/logout", timeout=30)
    users.set_password("cora", NEW_PASSWORD)
    assert screen.get(f"{site}/wall", allow_redirects=False, timeout=30).status_code == 200
    users.revoke_tokens("cora")
    assert screen.get(f"{site}/wall", allow_redirects=False, timeout=30).headers["Location"].startswith("/login")


def test_a_cookie_signed_by_us_but_naming_no_session_is_refused(site):
    """A cookie of the kind logins set before sessions were kept on the server: signed, but with no session id."""
    from flask.sessions import SecureCookieSessionInterface

    from dashboard.app import create_app

    app = create_app().server
    serializer = SecureCookieSessionInterface().get_signing_serializer(app)
    forged = requests.Session()
    forged.cookies.set("shiyu_session", serializer.dumps({"user": "ada", "token": None, "role": "admin",
                                                          "scope": None, "display": False, "csrf": "x"}))
    assert not _in(forged, site)
