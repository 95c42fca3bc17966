"""Logging in through the form in a real Chromium, exploring, logging out; a wall screen opened with a display token."""

from __future__ import annotations

import pytest

from geodata import users
from tests.serving import PASSWORD, people_served
from tests.conftest import ARTIFACTS

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def guarded(database_url, tmp_path_factory):
    """The five-tier city with named reporters (张三丰 in C1) and a user of each role (an officer of C1, a
    commander, ...), served with logins on."""
    with people_served(database_url, tmp_path_factory.mktemp("browser-login")) as url:
        yield url


def test_an_officer_logs_in_through_the_form_explores_their_district_and_logs_out(guarded, page, conn):
    page.goto(guarded + "/?lang=en")
    page.wait_for_url("**/login?next=*")
    page.wait_for_selector("#login-name")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.goto(guarded + "/login")  # the Chinese page, as most users first see it
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(ARTIFACTS / "login.png"))
    page.goto(guarded + "/login?lang=en&next=%2F%3Flang%3Den")
    page.fill("#login-name", "olga")
    page.fill("#login-password", "wrong password")
    page.click("#login-submit")
    page.wait_for_selector(".login-error")
    assert "Login failed" in page.locator(".login-error").inner_text()
    # The refused form comes back as a 401, which Chromium notes in the console; that, and nothing else.
    assert [e for e in page.console_errors if "status of 401" not in e] == [] and len(page.console_errors) == 1
    page.console_errors.clear()
    page.fill("#login-password", PASSWORD)
    page.click("#login-submit")
    page.wait_for_selector("#explore-map")
    assert page.locator("#account-user").inner_text() == "olga · officer"
    # The table holds the officer's district only, the reporter unmasked for them.
    page.wait_for_function("(document.querySelector('#explore-table') || {innerText: ''}).innerText.includes('张三丰')",
                           timeout=60_000)
    grids = page.locator("#explore-table [col-id='grid_code']").all_inner_texts()
    assert grids and all(g.startswith("区域C1") for g in grids[1:] if g)
    page.wait_for_load_state("networkidle")
    assert page.console_errors == []
    page.click("#account-logout")
    page.wait_for_selector("#login-name")
    assert conn.execute("SELECT array_agg(action ORDER BY id) FROM shiyu.audit_log WHERE user_name = 'olga'").fetchone()[0] \
        == ["login_failed", "login", "logout"]
    page.goto(guarded + "/")
    page.wait_for_selector("#login-name")  # the session is gone


def test_a_wall_screen_opens_with_its_display_token_and_shows_no_personal_data(guarded, page):
    token = users.create_token("cora", display=True)
    page.goto(f"{guarded}/wall?token={token}")
    page.wait_for_function("document.querySelector('#wall-ticker') && "
                           "document.querySelector('#wall-ticker').innerText.includes('张**')", timeout=60_000)
    assert token not in page.url
    ticker = page.locator("#wall-ticker").inner_text()
    assert "138****1234" in ticker and "张三丰" not in ticker
    page.wait_for_load_state("networkidle")
    assert page.console_errors == []
