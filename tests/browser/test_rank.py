"""The league table in a real Chromium, as two people: a commander ranks the city's streets and grids and downloads
the workbook; an officer of C1 sees only their own streets and is refused C2's. And the wall's league page on a
display token, looked at at 1920x1080."""

from __future__ import annotations

import openpyxl
import pytest

from geodata import users
from geodata.scope import Scope
from layers import assessment
from layers.periods import current, previous
from tests.conftest import ARTIFACTS
from tests.serving import PASSWORD, people_served

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def site(database_url, tmp_path_factory):
    with people_served(database_url, tmp_path_factory.mktemp("rank")) as url:
        yield url


@pytest.fixture
def wide(browser):
    context = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="zh-CN", accept_downloads=True)
    page = context.new_page()
    page.console_errors = []
    page.on("console", lambda msg: msg.type == "error" and page.console_errors.append(msg.text))
    page.on("pageerror", lambda exc: page.console_errors.append(str(exc)))
    yield page
    context.close()


def _log_in(page, site: str, name: str, target: str) -> None:
    page.goto(f"{site}/login?next={target.replace('/', '%2F').replace('?', '%3F').replace('&', '%26').replace('=', '%3D')}")
    page.fill("#login-name", name)
    page.fill("#login-password", PASSWORD)
    page.click("#login-submit")


def _ranked(page) -> list[tuple[str, str]]:
    """(rank, area name) of every row drawn."""
    page.wait_for_selector("#rank-league")
    return [(row.locator(".league-rank").inner_text(), row.locator(".league-name").inner_text())
            for row in page.locator("#rank-league tbody tr.league-row").all()]


def _month():
    from datetime import datetime

    from layers.base import BEIJING

    return previous(current("month", datetime.now(BEIJING).date()))


def test_a_commander_ranks_streets_and_grids_and_downloads_the_workbook(site, wide, tmp_path):
    period = _month()
    _log_in(wide, site, "cora", f"/rank?tier=street&period={period.label}")
    expected = assessment.league("street", period, Scope.everything())
    assert _ranked(wide) == [(str(r["rank"]), r["name"]) for r in expected]
    first = wide.locator("#rank-league tbody tr.league-row").first
    assert f"{expected[0]['score']:.2f}" in first.inner_text() and "环比" in first.inner_text()
    weights = assessment.weights()
    assert f"按期结案率 {weights['on_time_rate']:g}" in wide.locator("#rank-weights").inner_text()
    wide.locator("#rank-tier label", has_text="网格").click()
    wide.wait_for_function("document.querySelectorAll('#rank-league tbody tr.league-row').length === 16")
    assert "tier=grid" in wide.url and f"period={period.label}" in wide.url
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    wide.wait_for_load_state("networkidle")
    wide.screenshot(path=str(ARTIFACTS / "rank.png"))
    with wide.expect_download() as info:
        wide.locator("#rank-download").click()
    path = tmp_path / "league.xlsx"
    info.value.save_as(path)
    assert info.value.suggested_filename.endswith(f"{period.label}.xlsx")
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == ["区县", "街道乡镇", "社区村", "网格", "说明"] and book["网格"].max_row == 17
    wide.wait_for_function("document.querySelector('#rank-message').className.includes('ok')")
    assert wide.console_errors == []


def test_an_officer_ranks_only_their_subtree_and_is_refused_another(site, wide, tmp_path):
    period = _month()
    _log_in(wide, site, "olga", f"/rank?tier=street&period={period.label}")
    mine = _ranked(wide)
    with_codes = wide.locator("#rank-league .league-code").all_inner_texts()
    assert len(mine) == 2 and sorted(with_codes) == ["C11", "C12"] and sorted(r for r, _ in mine) == ["1", "2"]
    with wide.expect_download() as info:  # the workbook holds their subtree too
        wide.locator("#rank-download").click()
    info.value.save_as(tmp_path / "mine.xlsx")
    grids = [row[2].value for row in openpyxl.load_workbook(tmp_path / "mine.xlsx")["网格"].iter_rows(min_row=2)]
    assert len(grids) == 8 and all(code.startswith("C1") for code in grids)
    wide.goto(f"{site}/rank?tier=grid&period={period.label}&area=C2")
    wide.wait_for_function("(document.querySelector('#rank-message') || {innerText: ''}).innerText.includes('C2')")
    assert wide.locator("#rank-league").count() == 0
    wide.goto(f"{site}/rank?tier=district&period={period.label}")  # their own district, alone
    assert _ranked(wide) == [("1", "区域C1")]


def test_the_wall_league_on_a_display_token_reads_from_five_metres(site, wide):
    token = users.create_token("cora", display=True)
    wide.goto(f"{site}/wall?token={token}")
    wide.wait_for_selector("#wall-map")
    wide.goto(f"{site}/wall/rank?tier=street")
    wide.wait_for_selector("#wall-rank-league")
    rows = wide.locator("#wall-rank-league tbody tr.league-row")
    assert rows.count() == 4
    size = wide.evaluate("parseFloat(getComputedStyle(document.querySelector('#wall-rank-league .league-name')).fontSize)")
    assert size >= 30  # 3.2vh of 1080 px: a line about 3 cm high
    wide.wait_for_load_state("networkidle")
    wide.screenshot(path=str(ARTIFACTS / "wall-rank.png"))
    wide.goto(f"{site}/rank")  # a screen reaches no other page
    wide.wait_for_url("**/wall")
