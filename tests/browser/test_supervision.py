"""Supervision orders in a real Chromium, as two people: a commander issues an order from a grid's overdue list, the
district's officer (a second login) replies on /orders, the commander accepts it; an unanswered order escalates
in the duty's pass and the wall says so."""

from __future__ import annotations

import pytest

from layers import supervision
from tests.conftest import ARTIFACTS
from tests.serving import PASSWORD, people_served

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def guarded(database_url, tmp_path_factory):
    with people_served(database_url, tmp_path_factory.mktemp("browser-supervision")) as url:
        yield url


def _login(page, site: str, name: str, then: str) -> None:
    page.goto(f"{site}/login?next={then.replace('/', '%2F').replace('?', '%3F').replace('=', '%3D').replace('&', '%26')}")
    page.fill("#login-name", name)
    page.fill("#login-password", PASSWORD)
    page.click("#login-submit")


@pytest.fixture
def screen(browser):
    """A second browser context at a wall's 1920x1080: another person, another session."""
    context = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="zh-CN")
    page = context.new_page()
    page.console_errors = []
    page.on("pageerror", lambda exc: page.console_errors.append(str(exc)))
    yield page
    context.close()


def test_a_commander_orders_an_officer_replies_and_an_escalation_reaches_the_wall(guarded, page, screen, conn):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    grid = conn.execute("SELECT grid_code FROM shiyu.incident WHERE status NOT IN ('verified', 'closed') "
                        "AND due_at < now() AND path <@ 'C.C1' GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1").fetchone()[0]
    page.set_viewport_size({"width": 1920, "height": 1080})
    _login(page, guarded, "cora", f"/?area={grid}&status=handling")
    page.wait_for_selector(".supervise-one", timeout=60_000)
    page.locator(".supervise-one").first.click()
    page.wait_for_function("document.querySelector('#supervise-result').innerText.includes('已下达督办单')",
                           timeout=30_000)
    first, addressee = conn.execute("SELECT id, addressee FROM shiyu.supervision_order ORDER BY id").fetchone()
    assert addressee == f"负责人{grid}" and addressee in page.locator("#supervise-result").inner_text()
    page.locator(".supervise-one").nth(1).click()
    page.wait_for_function(f"document.querySelector('#supervise-result').innerText.includes('已下达督办单 {first + 1}')",
                           timeout=30_000)
    page.screenshot(path=str(ARTIFACTS / "supervise-explore.png"))
    # The incident's own detail, from a row of the table: one click orders it too.
    page.locator("#explore-table .ag-row[row-index='0'] [col-id='id']").click()
    page.wait_for_selector("#explore-incident")
    clicked = page.locator("#explore-incident small").inner_text()
    page.locator("#explore-detail .supervise-one").click()
    page.wait_for_function("document.querySelector('#supervise-result').innerText.length > 0")
    assert conn.execute("SELECT issued_by, level FROM shiyu.supervision_order WHERE closed_at IS NULL "
                        "AND incident_source || ':' || incident_id = %s", (clicked,)).fetchone() == ("cora", "order")
    page.screenshot(path=str(ARTIFACTS / "supervise-incident.png"))
    page.goto(f"{guarded}/?area=C1&layer=supervision")
    red = conn.execute("SELECT count(*) FROM shiyu.incident WHERE status NOT IN ('verified', 'closed') "
                       "AND due_at < now() AND path <@ 'C.C1'").fetchone()[0]
    page.wait_for_function("(document.querySelector('#explore-stats') || {innerText: ''}).innerText.includes('红灯')",
                           timeout=60_000)
    page.screenshot(path=str(ARTIFACTS / "supervise-map.png"))
    stats = page.locator("#explore-stats").inner_text().split()
    assert stats[stats.index("红灯") + 1] == f"{red:,}"

    _login(screen, guarded, "olga", "/orders")  # the officer of district C1, in a session of their own
    screen.wait_for_selector(f"#order-{first}")
    screen.fill(f"#order-{first} textarea", "已派网格员到场处置，今日办结")
    screen.locator(f"#order-{first} .order-send").click()
    screen.wait_for_function("document.querySelector('#orders-message').innerText.includes('已回复督办单')")
    screen.wait_for_selector(f"#order-{first} .order-reply")
    screen.screenshot(path=str(ARTIFACTS / "supervise-orders.png"))
    # The state the form offers is the incident's own until the officer picks another.
    assert conn.execute("SELECT o.replied_by, o.reply_text, o.reply_status = i.status FROM shiyu.supervision_order o "
                        "JOIN shiyu.incident i ON (i.source, i.external_id) = (o.incident_source, o.incident_id) "
                        "WHERE o.id = %s", (first,)).fetchone() == ("olga", "已派网格员到场处置，今日办结", True)
    assert screen.locator(f"#order-{first} .order-accept").count() == 0  # not the officer's to accept
    screen.goto(f"{guarded}/orders?lang=en")
    screen.wait_for_selector(f"#order-{first} .order-reply")
    assert "My supervision orders" in screen.locator("h1").inner_text()
    assert "olga replied: 已派网格员到场处置，今日办结" in screen.locator(f"#order-{first}").inner_text()

    page.goto(f"{guarded}/orders")
    page.wait_for_selector(f"#order-{first} .order-accept")
    page.locator(f"#order-{first} .order-accept").click()
    page.wait_for_function("document.querySelector('#orders-message').innerText.includes('已办结')")
    assert conn.execute("SELECT close_reason, closed_by FROM shiyu.supervision_order WHERE id = %s",
                        (first,)).fetchone() == ("reply_accepted", "cora")

    # The second order's deadline passes without a reply: the duty's pass raises it, and the wall says so.
    conn.execute("UPDATE shiyu.supervision_order SET issued_at = issued_at - interval '1 day', "
                 "reply_due_at = issued_at - interval '1 day' + interval '1 second' WHERE id = %s", (first + 1,))
    assert supervision.sweep()["orders"] == [first + 1]
    page.goto(f"{guarded}/wall?refresh=2")
    page.wait_for_function("(document.querySelector('#wall-escalations') || {innerText: ''}).innerText"
                           f".includes('督办单 {first + 1} 升级为挂牌督办')", timeout=60_000)
    assert page.locator("#wall-orders-escalated_today").inner_text() == "1"
    assert page.locator("#wall-orders-red_listed").inner_text() == "1"
    yellow = conn.execute("SELECT count(*) FROM shiyu.incident WHERE status NOT IN ('verified', 'closed') "
                          "AND due_at >= now() AND now() >= reported_at + 0.8 * (due_at - reported_at)").fetchone()[0]
    page.wait_for_function(f"document.querySelector('#wall-kpi-yellow').innerText === '{yellow:,}'")
    page.screenshot(path=str(ARTIFACTS / "supervise-wall.png"))
    assert page.console_errors == [] and screen.console_errors == []
