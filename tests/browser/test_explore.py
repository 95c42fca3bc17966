import pytest

from tests.conftest import ARTIFACTS

pytestmark = pytest.mark.browser

HEX_PATHS = "#explore-map .leaflet-overlay-pane path"
GRID_PATHS = "#explore-map .leaflet-grids-pane path"


def _wait_for_hexes(page, minimum: int) -> int:
    page.wait_for_function(f"document.querySelectorAll('{HEX_PATHS}').length >= {minimum}", timeout=30_000)
    return page.locator(HEX_PATHS).count()


def test_map_shows_hexagons_over_grid_boundaries_with_a_clean_console(served, page, conn):
    cells_in_db = conn.execute("SELECT count(DISTINCT h3_r8) FROM shiyu.incident").fetchone()[0]
    grids_in_db = conn.execute("SELECT count(*) FROM shiyu.area WHERE tier = 'grid'").fetchone()[0]

    page.goto(served + "/?res=8")
    _wait_for_hexes(page, 10)
    page.wait_for_function(f"document.querySelectorAll('{GRID_PATHS}').length >= {grids_in_db}", timeout=30_000)
    page.wait_for_load_state("networkidle")

    # The whole sample is in view at the initial fit: every r8 cell with incidents is drawn.
    assert page.locator(HEX_PATHS).count() == cells_in_db
    # Grid outlines are drawn in their own pane, above the hexagons.
    assert page.locator(GRID_PATHS).count() == grids_in_db
    z_hex = page.evaluate("getComputedStyle(document.querySelector('.leaflet-overlay-pane')).zIndex")
    z_grid = page.evaluate("getComputedStyle(document.querySelector('.leaflet-grids-pane')).zIndex")
    assert int(z_grid) > int(z_hex)
    legend = page.locator("#explore-legend .legend-row")
    assert legend.count() >= 3
    assert page.locator("#explore-stats").inner_text().replace(",", "").count(str(cells_in_db)) == 1

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "explore.png"))
    assert page.console_errors == []


def test_resolution_switch_redraws_finer_hexagons(served, page, conn):
    cells_r9 = conn.execute("SELECT count(DISTINCT h3_r9) FROM shiyu.incident").fetchone()[0]
    page.goto(served + "/?lang=en")
    _wait_for_hexes(page, 10)
    assert page.locator(".topbar h1").inner_text() == "Shiyu · Grid governance"
    page.get_by_label("r9", exact=False).check()
    page.wait_for_function(f"document.querySelectorAll('{HEX_PATHS}').length === {cells_r9}", timeout=30_000)
    assert page.console_errors == []


def test_hotspot_layer_draws_only_significant_cells_with_their_class_legend(served, page):
    from layers.base import Filters
    from layers.hotspots import build
    from geodata.scope import Scope

    page.goto(served + "/?layer=hotspots&res=8")
    expected = [f for f in build(Filters(bbox=(120.08, 30.22, 120.20, 30.31), res=8, zoom=13), Scope.everything()).features
                if f["properties"]["class"] != "ns"]
    assert expected, "the sample's planted hotspots should be significant"
    page.wait_for_function(f"document.querySelectorAll('{HEX_PATHS}').length === {len(expected)}", timeout=30_000)
    legend = page.locator("#explore-legend").inner_text()
    assert "热点 99% 置信" in legend and "冷点 99% 置信" in legend
    fills = set(page.eval_on_selector_all(HEX_PATHS, "ps => ps.map(p => p.getAttribute('fill'))"))
    assert fills <= {"#b2182b", "#ef8a62", "#fddbc7", "#d1e5f0", "#67a9cf", "#2166ac"}
    assert page.console_errors == []


def test_emerging_layer_loads_with_its_legend_and_a_clean_console(served, page):
    page.goto(served + "/?layer=emerging&res=8&lang=en")
    page.wait_for_function("document.querySelector('#explore-legend h2') && "
                           "document.querySelector('#explore-legend h2').innerText.startsWith('Hot spot trends')",
                           timeout=30_000)
    page.wait_for_load_state("networkidle")
    stats = page.locator("#explore-stats").inner_text()
    assert "significant hexagons" in stats
    assert page.console_errors == []


def test_zoomed_in_the_map_draws_the_incidents_themselves_clustered(served, page, conn):
    page.goto(served + "/?lang=en")
    _wait_for_hexes(page, 10)
    box = page.locator("#explore-map").bounding_box()
    # Three levels in around the middle of the sample, by double clicks as a user would.
    scale = "(() => { const s = document.querySelector('.leaflet-control-scale-line'); return s.innerText + s.style.width; })()"
    for _ in range(3):
        before = page.evaluate(scale)
        page.mouse.dblclick(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        # A double click during the previous zoom's animation is dropped: wait until this one has shown.
        page.wait_for_function(f"{scale} !== {before!r} && !document.querySelector('.leaflet-zoom-anim')")
    page.wait_for_function("document.querySelector('#explore-legend h2') && "
                           "document.querySelector('#explore-legend h2').innerText === 'Incidents by category'",
                           timeout=30_000)
    page.wait_for_function("document.querySelectorAll('.leaflet-marker-pane .marker-cluster').length"
                           " + document.querySelectorAll('#explore-map .leaflet-overlay-pane path').length > 0",
                           timeout=30_000)
    stats = page.locator("#explore-stats").inner_text().replace(",", "")
    shown = int(stats.split("incidents")[1].split()[0])
    assert 0 < shown <= 3000
    assert page.console_errors == []
    page.screenshot(path=str(ARTIFACTS / "explore-points.png"))


@pytest.mark.parametrize("layer, title", [("coverage", "Share of each grid patrolled (7 days)"),
                                          ("facilities", "Facilities and blind spots"),
                                          ("warnings", "Grids above their own baseline")])
def test_the_coverage_facility_and_warning_layers_draw_with_their_legend(served, page, conn, layer, title):
    page.goto(served + f"/?layer={layer}&lang=en&res=8")
    page.wait_for_function("document.querySelector('#explore-legend h2') && "
                           f"document.querySelector('#explore-legend h2').innerText.startsWith({title!r})", timeout=30_000)
    page.wait_for_load_state("networkidle")
    if layer == "coverage":  # no patrol in the sample: every grid in the lowest class, every hot cell unpatrolled
        from layers.stats import CLASS_COLOURS

        grids = conn.execute("SELECT count(*) FROM shiyu.area WHERE tier = 'grid'").fetchone()[0]
        stats = page.locator("#explore-stats").inner_text().replace(",", "").split()
        hot = int(stats[stats.index("unpatrolled") + 1])
        assert hot > 0  # the sample's planted hotspots
        page.wait_for_function(f"document.querySelectorAll('{HEX_PATHS}').length === {grids + hot}", timeout=30_000)
        fills = page.eval_on_selector_all(HEX_PATHS, "ps => ps.map(p => p.getAttribute('fill'))")
        assert fills.count("#ffffcc") == grids and fills.count(CLASS_COLOURS["hot99"]) == hot
    assert page.console_errors == []
