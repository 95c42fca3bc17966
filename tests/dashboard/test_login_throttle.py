"""Login throttling on the served dashboard, from several client addresses (SHIYU_PROXIES=1: X-Forwarded-For
names them): an outsider cannot lock a named user out, spraying names from one address makes it wait, a
throttled try hashes no password, a process hashes at most a few at once, and a flood of refusals is a row a
minute with its count."""

from __future__ import annotations

import threading

import pytest
import requests

from dashboard import login
from geodata import users
from tests.dashboard.test_login import _csrf, _table
from tests.serving import PASSWORD, people_served

HASHED: list[str] = []
_real_verify = users._verify


def _counted_verify(password_hash, password):
    HASHED.append(password)
    return _real_verify(password_hash, password)


@pytest.fixture(scope="module")
def site(database_url, tmp_path_factory):
    with people_served(database_url, tmp_path_factory.mktemp("throttle"), {"SHIYU_PROXIES": "1"},
                       [(users, "_verify", _counted_verify)]) as url:
        yield url


def _try(site: str, name: str, password: str, address: str) -> requests.Response:
    session = requests.Session()
    return session.post(f"{site}/login", data={"csrf": _csrf(session, site), "name": name, "password": password},
                        headers={"X-Forwarded-For": address}, allow_redirects=False, timeout=60)


def _wait_longer(conn, address: str) -> None:
    """The wait the last failure set, pushed out of reach of the test's own pace (it is 1 s at first)."""
    conn.execute("UPDATE shiyu.login_throttle SET not_before = now() + interval '10 minutes' "
                 "WHERE addr = %s AND not_before IS NOT NULL", (address,))


def test_an_outsider_failing_a_named_users_password_does_not_lock_that_user_out(site, conn):
    for attempt in range(5):
        assert _try(site, "lou", f"guess {attempt}", "203.0.113.7").status_code == 401
    assert _try(site, "lou", PASSWORD, "198.51.100.2").status_code == 302  # lou, from her own desk
    _wait_longer(conn, "203.0.113.7")
    before = len(HASHED)
    refused = _try(site, "lou", PASSWORD, "203.0.113.7")  # the outsider waits, even with the right password
    assert refused.status_code == 429 and 590 <= int(refused.headers["Retry-After"]) <= 600
    assert "此处登录失败次数过多" in refused.text
    assert len(HASHED) == before  # refused before any password was hashed


def test_spraying_one_password_over_many_names_from_one_address_makes_it_wait(site, conn):
    for n in range(20):
        assert _try(site, f"user{n}", "Spring2026!", "203.0.113.9").status_code == 401
    _wait_longer(conn, "203.0.113.9")
    before = len(HASHED)
    for name in ("ada", "someone else"):
        refused = _try(site, name, PASSWORD, "203.0.113.9")
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert len(HASHED) == before
    assert _try(site, "ada", PASSWORD, "198.51.100.3").status_code == 302  # everyone else logs in as before
    row = conn.execute("SELECT detail, remote_addr FROM shiyu.audit_log WHERE action = 'throttled' "
                       "ORDER BY id DESC LIMIT 1").fetchone()
    assert row[1] == "203.0.113.9" and row[0]["count"] >= 1


def test_a_login_beyond_the_password_checks_a_process_runs_at_once_is_refused_at_once(site, monkeypatch):
    busy = threading.BoundedSemaphore(1)
    busy.acquire()  # the one check there is, taken
    monkeypatch.setattr(login, "_checking", busy)
    before = len(HASHED)
    refused = _try(site, "ada", PASSWORD, "198.51.100.4")
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "1" and "同时登录的人太多" in refused.text
    assert len(HASHED) == before
    busy.release()
    assert _try(site, "ada", PASSWORD, "198.51.100.4").status_code == 302


def test_a_flood_of_refusals_is_one_audit_row_a_minute_that_counts_them_all(site, conn):
    for _ in range(40):
        assert _table(requests, site, headers={"X-Forwarded-For": "192.0.2.50"}).status_code == 401
    rows = conn.execute("SELECT detail FROM shiyu.audit_log WHERE action = 'refused' AND remote_addr = '192.0.2.50'")
    counts = [detail["count"] for (detail,) in rows]
    assert len(counts) <= 2 and sum(counts) == 40  # two when a minute turned during the flood
