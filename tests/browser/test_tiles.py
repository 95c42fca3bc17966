"""The explore map draws from vector tiles where GeoJSON would be too large: the incidents zoomed in past the
points cap, and the grid outlines of a scope with many grids. The thresholds are lowered for the sample
(5,000 incidents, 300 grids), the way a city of millions of incidents and 10,000 grids meets the real ones."""

from __future__ import annotations

import pytest

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
