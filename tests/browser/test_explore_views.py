"""The explore page as a district officer uses it, on the five-tier city: the area cascade, the other filters,
drill-down, a hexagon's panel, the incident table, the URL and the language switch."""

from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlparse

import pytest

from layers.base import BEIJING
from tests.conftest import ARTIFACTS

pytestmark = pytest.mark.browser

HEX_PATHS = "#explore-map .leaflet-overlay-pane path"


def _level(page, tier: str):
    return page.locator(f".cascade[id*='\"tier\":\"{tier}\"']")


def _options(page, dropdown):
    """The options of an open dropdown: its popup is the element the button says it controls."""
    return page.locator(f"[id='{dropdown.get_attribute('aria-controls')}'] [role=option]")


def _pick(page, dropdown, label: str) -> None:
    """Open a dropdown and click one option, as a user would."""
    dropdown.click()
    _options(page, dropdown).filter(has_text=label).first.click()
    page.keyboard.press("Escape")


def _query(page) -> dict:
    return {key: values[-1] for key, values in parse_qs(urlparse(page.url).query).items()}


def _wait_for_query(page, key: str, value: str) -> None:
    page.wait_for_function(f"new URLSearchParams(window.location.search).get({key!r}) === {value!r}", timeout=30_000)


def _stat(page, label: str) -> int:
    """A number of the "in view" panel."""
    words = page.locator("#explore-stats").inner_text().replace(",", "").split("\n")
    return int(words[words.index(label) + 1])


def _wait_for_text(page, selector: str, text: str) -> None:
    """Wait until the element exists (Dash draws the page after it loads) and shows exactly ``text``."""
    page.wait_for_function(f"document.querySelector({selector!r}) !== null && "
                           f"document.querySelector({selector!r}).innerText === {text!r}", timeout=30_000)


def _wait_for_hex_count(page, count: int) -> None:
    page.wait_for_function(f"document.querySelectorAll('{HEX_PATHS}').length === {count}", timeout=30_000)


def _wait_for_detail(page, heading: str) -> None:
    page.wait_for_function(f"document.querySelector('#explore-detail h3') && "
                           f"document.querySelector('#explore-detail h3').innerText.startsWith({heading!r})",
                           timeout=30_000)


def _count(conn, where: str = "TRUE", params=()) -> int:
    return conn.execute(f"SELECT count(*) FROM shiyu.incident WHERE {where}", params).fetchone()[0]


def test_choosing_a_district_narrows_the_map_the_panel_the_table_and_the_url(tier_city, page, conn):
    page.goto(tier_city + "/?lang=en&res=8")
    _wait_for_hex_count(page, conn.execute("SELECT count(DISTINCT h3_r8) FROM shiyu.incident").fetchone()[0])
    assert _level(page, "street").is_disabled()

    _pick(page, _level(page, "district"), "区域C1 · C1")
    _wait_for_query(page, "area", "C1")
    in_c1 = "path <@ 'C.C1'"
    _wait_for_hex_count(page, conn.execute(f"SELECT count(DISTINCT h3_r8) FROM shiyu.incident WHERE {in_c1}").fetchone()[0])
    _wait_for_detail(page, "区域C1")
    assert _stat(page, "incidents") == _count(conn, in_c1)
    _wait_for_text(page, "#explore-table-count", f"{_count(conn, in_c1):,} incidents")
    # The panel's KPIs cover the last 30 days, as the layers define them.
    month = datetime.now(BEIJING) - timedelta(days=30)
    tiles = page.locator("#explore-detail .kpi").all_inner_texts()
    assert tiles[0].replace(",", "").split("\n") == ["incidents", str(_count(conn, f"{in_c1} AND reported_at >= %s", (month,)))]
    # The next level offers C1's streets and nothing of C2.
    assert _level(page, "street").is_enabled()
    _level(page, "street").click()
    assert _options(page, _level(page, "street")).all_inner_texts() == ["区域C11 · C11", "区域C12 · C12"]
    page.keyboard.press("Escape")
    assert page.console_errors == []


def test_drill_down_through_the_panel_and_back_up_by_the_breadcrumb(tier_city, page):
    page.goto(tier_city + "/?lang=en&area=C1")
    _wait_for_detail(page, "区域C1")
    page.locator("#explore-detail .drill", has_text="区域C12").click()
    _wait_for_detail(page, "区域C12")
    _wait_for_query(page, "area", "C12")
    assert _level(page, "street").inner_text() == "区域C12 · C12"
    assert _level(page, "district").inner_text() == "区域C1 · C1"
    page.locator("#explore-detail .drill", has_text="区域C121").click()
    _wait_for_detail(page, "区域C121")
    assert _level(page, "community").inner_text() == "区域C121 · C121"
    assert page.locator("#explore-detail .crumbs").inner_text().split() == ["区域C", "›", "区域C1", "›", "区域C12", "›", "区域C121"]

    page.locator("#explore-detail .crumb", has_text="区域C1").first.click()
    _wait_for_detail(page, "区域C1 ")
    _wait_for_query(page, "area", "C1")
    assert _level(page, "street").inner_text() == "All streets"
    assert page.console_errors == []


def test_clicking_an_area_of_the_areas_layer_drills_into_it(tier_city, page):
    page.goto(tier_city + "/?lang=en&layer=areas&area=C2")
    _wait_for_detail(page, "区域C2")
    # Zoomed to one district, the areas layer draws its streets: click the middle of the map, inside one of them.
    page.wait_for_function(f"document.querySelectorAll('{HEX_PATHS}').length === 2", timeout=30_000)
    page.locator(HEX_PATHS).first.click(force=True)
    page.wait_for_function("['C21', 'C22'].includes(new URLSearchParams(window.location.search).get('area'))",
                           timeout=30_000)
    street = _query(page)["area"]
    _wait_for_detail(page, f"区域{street}")
    assert page.console_errors == []


def test_category_severity_and_day_filters_redraw_the_map_with_only_their_incidents(tier_city, page, conn):
    page.goto(tier_city + "/?lang=en&res=8")
    _wait_for_hex_count(page, conn.execute("SELECT count(DISTINCT h3_r8) FROM shiyu.incident").fetchone()[0])
    _pick(page, page.locator("#explore-categories"), "Fire safety")
    _wait_for_query(page, "cat", "fire_safety")
    fire = "category = 'fire_safety'"
    _wait_for_hex_count(page, conn.execute(f"SELECT count(DISTINCT h3_r8) FROM shiyu.incident WHERE {fire}").fetchone()[0])
    assert _stat(page, "incidents") == _count(conn, fire)

    page.locator("#explore-severities label", has_text="4 critical").click()
    _wait_for_query(page, "sev", "4")
    both = f"{fire} AND severity = 4"
    _wait_for_hex_count(page, conn.execute(f"SELECT count(DISTINCT h3_r8) FROM shiyu.incident WHERE {both}").fetchone()[0])

    page.locator(".preset", has_text="7 d").click()
    today = datetime.now(BEIJING).date()
    _wait_for_query(page, "since", (today - timedelta(days=6)).isoformat())
    week = f"{both} AND reported_at >= %s"
    since = datetime.combine(today - timedelta(days=6), datetime.min.time(), BEIJING)
    _wait_for_text(page, "#explore-table-count", f"{_count(conn, week, (since,)):,} incidents")
    assert _stat(page, "incidents") == _count(conn, week, (since,))
    assert page.console_errors == []


def test_a_hexagon_click_shows_its_counts_gi_class_and_the_accountable_grid(tier_city, page, conn):
    page.goto(tier_city + "/?lang=en&res=7")
    page.wait_for_function(f"document.querySelectorAll('{HEX_PATHS}').length > 10", timeout=30_000)
    page.wait_for_load_state("networkidle")
    box = page.locator("#explore-map").bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2 + 30, box["y"] + box["height"] / 2 + 20)
    _wait_for_detail(page, "Hexagon")
    cell = page.locator("#explore-detail h3 small").inner_text().split("·")[-1].strip()
    month = datetime.now(BEIJING) - timedelta(days=30)
    expected = _count(conn, "h3_r7 = %s AND reported_at >= %s", (int(cell, 16), month))
    tiles = page.locator("#explore-detail .kpi").all_inner_texts()
    assert tiles[0].replace(",", "").split("\n") == ["incidents", str(expected)]
    assert page.locator("#explore-detail .gi").inner_text().startswith("Gi*")
    code, owner = conn.execute("SELECT c.code, a.owner_name FROM shiyu.area_cell c JOIN shiyu.area a USING (code) "
                               "WHERE c.res = 7 AND c.cell = %s ORDER BY c.share DESC, c.code LIMIT 1",
                               (int(cell, 16),)).fetchone()
    assert owner in page.locator("#explore-detail .owner").inner_text()
    assert page.locator("#explore-detail table.mini .drill").first.inner_text() == f"区域{code}"
    page.screenshot(path=str(ARTIFACTS / "explore-hexagon.png"))
    assert page.console_errors == []


def test_the_table_masks_reporters_and_sorts_on_the_server(tier_city, page, conn):
    page.goto(tier_city + "/?lang=en")
    total = _count(conn)
    _wait_for_text(page, "#explore-table-count", f"{total:,} incidents")
    page.wait_for_selector("#explore-table .ag-row[row-index='0'] [col-id='reporter']")
    text = page.locator("#explore-table").inner_text()
    assert "张**" in text and "138****1234" in text
    assert "张三丰" not in text and "13812341234" not in text
    # Only a block of rows reached the browser, not the table.
    assert page.locator("#explore-table .ag-row").count() <= 100

    page.locator("#explore-table .ag-header-cell[col-id='severity']").click()
    least = conn.execute("SELECT min(severity) FROM shiyu.incident").fetchone()[0]
    first = "document.querySelector(\"#explore-table .ag-row[row-index='0'] [col-id='severity']\")"
    page.wait_for_function(f"{first} !== null && {first}.innerText === '{least}'", timeout=30_000)
    assert page.console_errors == []


def test_a_shared_link_restores_every_filter_and_the_language_switch_keeps_them(tier_city, page):
    today = datetime.now(BEIJING).date()
    since = (today - timedelta(days=13)).isoformat()
    link = (f"/?layer=hotspots&res=8&area=C12&since={since}&until={today.isoformat()}"
            "&cat=dispute,fire_safety&sev=3,4&status=reported&lat=30.30000&lon=120.10000&z=11")
    page.goto(tier_city + link)
    _wait_for_detail(page, "区域C12")
    assert _level(page, "district").inner_text() == "区域C1 · C1"
    assert _level(page, "street").inner_text() == "区域C12 · C12"
    assert page.locator("#explore-layer input[value='hotspots']").is_checked()
    assert page.locator("#explore-res input[value='8']").is_checked()
    assert page.locator("#explore-dates").input_value() == since
    assert page.locator(".dash-datepicker-end-date").input_value() == today.isoformat()
    assert page.locator("#explore-categories .dash-dropdown-value-item").all_inner_texts() == ["矛盾纠纷", "消防安全"]
    assert [page.locator(f"#explore-severities input[value='{s}']").is_checked() for s in (1, 2, 3, 4)] == \
        [False, False, True, True]
    _wait_for_query(page, "layer", "hotspots")  # the URL is rewritten from the view once the map has drawn
    assert abs(float(_query(page)["lat"]) - 30.3) < 0.01 and abs(float(_query(page)["lon"]) - 120.1) < 0.01

    page.locator("#explore-lang-switch").click()
    _wait_for_text(page, ".topbar h1", "Shiyu · Grid governance")
    _wait_for_detail(page, "区域C12")
    query = _query(page)
    assert query["lang"] == "en" and query["area"] == "C12" and query["cat"] == "dispute,fire_safety"
    assert query["sev"] == "3,4" and query["layer"] == "hotspots" and query["since"] == since
    assert page.locator("#explore-severities label").nth(3).inner_text().strip() == "4 critical"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "explore-shared-link.png"))
    assert page.console_errors == []


def test_explore_keeps_its_map_and_says_so_while_the_database_is_down_then_carries_on(doomed_database, page):
    cluster, url = doomed_database
    page.goto(url + "/?lang=en&res=7")
    hexes = "document.querySelectorAll('#explore-map .leaflet-overlay-pane path').length"
    page.wait_for_function(f"{hexes} > 0", timeout=60_000)
    page.wait_for_load_state("networkidle")
    drawn = page.evaluate(hexes)

    cluster.down()
    page.locator("#explore-res input[value='8']").check()
    page.wait_for_function("document.querySelector('#explore-notice').innerText.length > 0", timeout=60_000)
    assert "database" in page.locator("#explore-notice").inner_text().lower()
    assert page.evaluate(hexes) == drawn

    cluster.up()
    page.locator("#explore-res input[value='7']").check()
    page.wait_for_function("document.querySelector('#explore-notice').innerText === ''", timeout=60_000)
    assert page.evaluate(hexes) == drawn
    assert page.console_errors == []
