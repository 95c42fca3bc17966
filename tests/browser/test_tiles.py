"""The explore map draws from vector tiles where GeoJSON would be too large: the incidents zoomed in past the
points cap, and the grid outlines of a scope with many grids. The thresholds are lowered for the sample
(5,000 incidents, 300 grids), the way a city of millions of incidents and 10,000 grids meets the real ones."""

from __future__ import annotations

import re

import pytest

from dashboard.i18n import t
from geodata.taxonomy import CATEGORIES, STATUSES
from layers import tiles
from tests.conftest import ARTIFACTS
from tests.serving import served_with

pytestmark = pytest.mark.browser

# The densest part of the sample (an r8 cell of 564 incidents), at the zoom where points replace hexagons.
DENSE = "/?lang=en&lat=30.27610&lon=120.12711&z=15"
# A tile canvas with something drawn on it: any pixel not transparent.
DRAWN = """(selector) => Array.from(document.querySelectorAll(selector)).filter(c => {
    const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    for (let i = 3; i < data.length; i += 4) { if (data[i] > 0) return true; }
    return false;
}).length"""


# Where a dot is drawn: the page coordinates of an opaque, coloured (not the white rim) pixel of a tile canvas that
# is itself what the pointer would meet there.
DOT = """() => {
    for (const c of document.querySelectorAll('.shiyu-tiles-incidents canvas')) {
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data, r = c.getBoundingClientRect();
        for (let i = 0; i < d.length; i += 4) {
            if (d[i + 3] < 250 || (d[i] > 230 && d[i + 1] > 230 && d[i + 2] > 230)) continue;
            const x = r.left + ((i / 4) % c.width + 0.5) * r.width / c.width;
            const y = r.top + (Math.floor(i / 4 / c.width) + 0.5) * r.height / c.height;
            if (document.elementFromPoint(x, y) === c) return [x, y];
        }
    }
    return null;
}"""


@pytest.fixture
def tiled(sample_db):
    with served_with(attributes=[(tiles, "MAX_POINTS", 20), (tiles, "GRID_TILES_ABOVE", 100)]) as url:
        yield url


def test_a_view_of_many_incidents_draws_them_and_the_grids_from_vector_tiles(tiled, page):
    answers = []
    page.on("response", lambda r: "/tiles/" in r.url and answers.append(r))
    page.goto(tiled + DENSE)
    page.wait_for_function("document.querySelectorAll('.shiyu-tiles-incidents canvas').length > 0 && "
                           "document.querySelectorAll('.shiyu-tiles-grids svg path').length > 0", timeout=30_000)
    page.wait_for_load_state("networkidle")
    # Incidents as dots on canvas tiles; grid outlines as SVG tiles in the grids pane, above them.
    assert page.evaluate(DRAWN, ".shiyu-tiles-incidents canvas") > 0
    assert page.locator(".leaflet-grids-pane .shiyu-tiles-grids svg path").count() > 0
    # No GeoJSON: no hexagons, no GeoJSON outlines (their paths would sit outside the tile containers).
    assert page.locator("#explore-map .leaflet-overlay-pane path").count() == 0
    assert page.locator("#explore-map .leaflet-grids-pane > svg path").count() == 0
    urls = [r.url for r in answers]
    assert any("/tiles/incidents/15/" in u for u in urls) and any("/tiles/grids/15/" in u for u in urls)
    assert all(r.status == 200 and r.headers["content-type"] == tiles.CONTENT_TYPE for r in answers)
    assert page.locator("#explore-legend h2").first.inner_text() == "Incidents by category"
    stats = page.locator("#explore-stats").inner_text().replace(",", "")
    assert int(stats.split("incidents")[1].split()[0]) > 20
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "explore-tiles.png"))

    # A filter changes the tiles' URL, so the incidents are fetched and drawn again, narrowed.
    answers.clear()
    dropdown = page.locator("#explore-categories")
    dropdown.click()
    with page.expect_response(lambda r: "/tiles/incidents/" in r.url and "category=dispute" in r.url, timeout=30_000):
        page.locator(f"[id='{dropdown.get_attribute('aria-controls')}'] [role=option]").filter(has_text="Dispute").first.click()
    page.keyboard.press("Escape")
    page.wait_for_function(f"({DRAWN})('.shiyu-tiles-incidents canvas') > 0", timeout=30_000)
    page.wait_for_load_state("networkidle")
    incident_urls = [r.url for r in answers if "/tiles/incidents/" in r.url]
    assert incident_urls and all("category=dispute" in u for u in incident_urls)
    assert not any("/tiles/grids/" in r.url for r in answers)  # the grids take no incident filter: kept as they were
    assert page.console_errors == []


def test_zoomed_out_past_the_points_the_tiles_give_way_to_hexagons(tiled, page):
    page.goto(tiled + DENSE)
    page.wait_for_function("document.querySelectorAll('.shiyu-tiles-incidents canvas').length > 0", timeout=30_000)
    page.locator(".leaflet-control-zoom-out").click()
    page.wait_for_function("document.querySelectorAll('#explore-map .leaflet-overlay-pane path').length > 0 && "
                           "document.querySelectorAll('.shiyu-tiles-incidents').length === 0", timeout=30_000)
    assert page.locator(".shiyu-tiles-grids").count() == 1  # still the grid tier, still many grids
    assert page.console_errors == []


def test_a_dot_drawn_from_tiles_says_what_incident_it_is(tiled, page, conn):
    page.goto(tiled + DENSE)
    page.wait_for_function(f"({DRAWN})('.shiyu-tiles-incidents canvas') > 0", timeout=30_000)
    page.wait_for_load_state("networkidle")
    x, y = page.evaluate(DOT)
    page.mouse.move(x, y)
    tip = page.locator(".shiyu-tile-tooltip")
    tip.wait_for(timeout=10_000)
    page.screenshot(path=str(ARTIFACTS / "explore-tile-tooltip.png"), clip={"x": x - 200, "y": y - 150, "width": 400, "height": 250})
    shown = rf"(.+) · (.+)\n(\d{{4}}-\d\d-\d\d \d\d:\d\d)\n{t('col_grid', 'en')}: (\S+)"
    category, status, reported, grid = re.fullmatch(shown, tip.inner_text()).groups()
    words = {t(code, "en"): code for code in (*CATEGORIES, *STATUSES)}
    # An incident of that category, status and grid was reported in that minute (Beijing time).
    rows = conn.execute(
        "SELECT count(*) FROM shiyu.incident WHERE category = %s AND status = %s AND grid_code = %s "
        "AND to_char(reported_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD HH24:MI') = %s",
        (words[category], words[status], grid, reported)).fetchone()[0]
    assert rows >= 1
    page.mouse.move(5, 500)  # off the dot: the tooltip goes
    tip.wait_for(state="detached", timeout=10_000)
    assert page.console_errors == []
