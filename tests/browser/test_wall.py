"""The command-centre wall in a real Chromium at 1080p and 4K, on the five-tier city and on a database that goes away."""

import time

import pytest

from geodata.scope import Scope
from tests.conftest import ARTIFACTS

pytestmark = pytest.mark.browser

SCREENS = {"1080p": (1920, 1080), "4k": (3840, 2160)}
DISTRICT_STROKE = "#e6edf5"  # wall.js draws district boundaries, and only them, in this colour
DISTRICT_PATHS = f"document.querySelectorAll('#wall-map path[stroke=\"{DISTRICT_STROKE}\"]').length"


@pytest.fixture
def screen(browser, request):
    width, height = SCREENS[request.param]
    context = browser.new_context(viewport={"width": width, "height": height}, device_scale_factor=1, locale="zh-CN")
    page = context.new_page()
    page.console_errors = []
    page.on("console", lambda msg: msg.type == "error" and page.console_errors.append(msg.text))
    page.on("pageerror", lambda exc: page.console_errors.append(str(exc)))
    page.screen_name = request.param
    yield page
    context.close()


def _shown(share: float) -> str:
    """A share as the tiles show it: whole percent, one decimal below 10 %."""
    return f"{share:.1%}" if share < 0.1 else f"{share:.0%}"


def _wait_for_data(page, districts: int = 2) -> None:
    page.wait_for_function(f"{DISTRICT_PATHS} >= {districts}", timeout=60_000)
    page.wait_for_function("document.querySelector('#wall-kpi-open').innerText !== '—'", timeout=60_000)
    page.wait_for_function("document.querySelectorAll('#wall-trend .scatterlayer path').length > 0", timeout=60_000)
    page.wait_for_load_state("networkidle")


@pytest.mark.parametrize("screen", list(SCREENS), indirect=True)
def test_wall_shows_the_panels_numbers_and_the_district_map_with_a_clean_console(tier_city, screen):
    from layers import panels
    from layers.base import Filters

    page = screen
    page.goto(tier_city + "/wall")
    _wait_for_data(page)
    kpis = panels.headline(Filters(), Scope.everything())
    tiles = {name: page.locator(f"#wall-kpi-{name}").inner_text() for name in ("today", "open", "overdue", "resolved", "patrol")}
    assert tiles == {"today": f"{kpis['today']:,}", "open": f"{kpis['open']:,}", "overdue": f"{kpis['overdue']:,}",
                     "resolved": _shown(kpis["resolved_share"]), "patrol": _shown(kpis["patrol_share"])}
    assert page.evaluate(DISTRICT_PATHS) == 2
    # The police and fire stations, ringed white; the school is not a wall type.
    assert page.evaluate("document.querySelectorAll('#wall-map path[stroke=\"#ffffff\"]').length") == 3
    assert page.locator(".wall-status").inner_text().startswith("数据截至 ")
    assert "stale" not in page.locator("#wall-status").get_attribute("class")
    ticker = page.locator("#wall-ticker").inner_text()
    assert "张** 138****1234" in ticker and "张三丰" not in ticker and "13812341234" not in ticker
    # Readable from five metres: KPI numbers at least 4 % of the screen's height (30 mm on a 55" screen; sized so a
    # five-digit count still fits its tile), labels at least 1.6 %; and no tile's number overflows its tile.
    height = SCREENS[page.screen_name][1]
    value_px = page.evaluate("parseFloat(getComputedStyle(document.querySelector('.wall-tile-value')).fontSize)")
    label_px = page.evaluate("Math.min(...[...document.querySelectorAll('.wall-tile-label, .wall-panel h2, .wall-report')]"
                             ".map(e => parseFloat(getComputedStyle(e).fontSize)))")
    assert value_px >= 0.04 * height and label_px >= 0.016 * height
    assert page.evaluate("[...document.querySelectorAll('.wall-tile-value')].every(v => v.scrollWidth <= v.parentElement.clientWidth)")
    # Nothing spills out of the screen: the page does not scroll.
    assert page.evaluate("document.documentElement.scrollHeight <= window.innerHeight + 1")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"wall-{page.screen_name}.png"))
    assert page.console_errors == []


@pytest.mark.parametrize("screen", ["1080p"], indirect=True)
def test_wall_refreshes_itself_without_losing_the_map(tier_city, screen):
    page = screen
    page.goto(tier_city + "/wall?refresh=2&lang=en")
    _wait_for_data(page)
    assert page.locator(".wall-top h1").inner_text() == "Shiyu · Command centre"
    first = page.locator("#wall-updated").inner_text()
    page.wait_for_function(f"document.querySelector('#wall-updated').innerText !== {first!r}", timeout=30_000)
    assert page.evaluate(DISTRICT_PATHS) == 2
    assert page.locator("#wall-status").inner_text().startswith("Data as of ")
    assert page.console_errors == []


@pytest.mark.parametrize("screen", ["1080p"], indirect=True)
def test_rotation_moves_the_map_to_each_district_in_turn(tier_city, screen):
    page = screen
    page.goto(tier_city + "/wall?refresh=2&rotate=1")
    _wait_for_data(page)
    page.wait_for_function("document.querySelector('#wall-district-name').innerText.includes('区域C1')", timeout=30_000)
    page.wait_for_function("document.querySelector('#wall-district-name').innerText.includes('区域C2')", timeout=30_000)
    assert page.console_errors == []


@pytest.mark.parametrize("screen", ["1080p"], indirect=True)
def test_an_unreachable_database_turns_the_status_into_a_warning_and_keeps_the_last_map(doomed_database, screen):
    cluster, url = doomed_database
    page = screen
    page.goto(url + "/wall?refresh=2")
    page.wait_for_function(f"{DISTRICT_PATHS} === 2", timeout=60_000)
    page.wait_for_function("document.querySelector('#wall-kpi-today').innerText !== '—'", timeout=60_000)
    assert page.locator("#wall-status").inner_text().startswith("数据截至 ")
    shown_before = page.locator("#wall-kpi-today").inner_text()

    cluster.down()
    page.wait_for_selector("#wall-status.down", timeout=60_000)
    assert page.locator("#wall-status").inner_text().startswith("数据库无法连接")
    assert page.locator("#wall-status").is_visible()
    assert page.evaluate(DISTRICT_PATHS) == 2
    assert page.locator("#wall-kpi-today").inner_text() == shown_before
    page.screenshot(path=str(ARTIFACTS / "wall-stale.png"))
    assert page.console_errors == []


@pytest.mark.parametrize("screen", ["1080p"], indirect=True)
def test_after_a_database_restart_the_wall_recovers_by_itself(doomed_database, screen):
    """The pool reconnects on its own: no reload, and the warning gives way to the time of the data again."""
    from geodata.errors import DatabaseUnavailable
    from geodata.settings import settings
    from layers import panels

    cluster, url = doomed_database
    page = screen
    page.goto(url + "/wall?refresh=2")
    page.wait_for_function("document.querySelector('#wall-kpi-today') && "
                           "document.querySelector('#wall-kpi-today').innerText !== '—'", timeout=60_000)
    shown_before = page.locator("#wall-kpi-today").inner_text()
    cluster.down()
    page.wait_for_selector("#wall-status.down", timeout=60_000)
    # While it is down, a request fails within the pool's timeout instead of hanging.
    started = time.monotonic()
    with pytest.raises(DatabaseUnavailable):
        panels.data_as_of()
    assert time.monotonic() - started < settings().pool_timeout_s + 5

    cluster.up()
    page.wait_for_function("!document.querySelector('#wall-status').classList.contains('down')", timeout=60_000)
    assert page.locator("#wall-status").inner_text().startswith("数据截至 ")
    assert page.evaluate(DISTRICT_PATHS) == 2
    assert page.locator("#wall-kpi-today").inner_text() == shown_before
    page.screenshot(path=str(ARTIFACTS / "wall-recovered.png"))
    assert page.console_errors == []

