import pytest

from geodata.scope import Scope
from layers.base import Filters, day_window
from layers.export import parse_day
from layers.registry import build
from tests.conftest import ARTIFACTS
from tests.layers.ogr import ogrinfo

pytestmark = pytest.mark.browser

QUERY = "lang=en&layer=hotspots&res=8&since=2026-01-01&until=2099-12-31&cat=dispute,fire_safety&lat=30.25&lon=120.15&z=13"


def test_pick_layers_and_a_format_download_a_file_gdal_opens_and_the_export_is_audited(served, page, conn, tmp_path):
    page.goto(f"{served}/export?{QUERY}")
    page.wait_for_selector("#export-download:not([disabled])")
    page.wait_for_load_state("networkidle")
    summary = page.locator("#export-summary").inner_text()
    assert "2026-01-01 – 2099-12-31" in summary and "Dispute, Fire safety" in summary, summary
    assert page.locator("#export-layers input[value=hotspots]").is_checked()

    page.locator("#export-layers label", has_text="Incident counts").click()
    page.locator("#export-format label", has_text="Shapefile").click()
    with page.expect_download() as info:
        page.locator("#export-download").click()
    download = info.value
    path = tmp_path / download.suggested_filename
    download.save_as(path)
    page.wait_for_function("document.querySelector('#export-message').className.includes('ok')")

    assert path.suffix == ".zip"
    since, until = day_window(parse_day("2026-01-01", "since"), parse_day("2099-12-31", "until"))
    filters = Filters(res=8, since=since, until=until, categories=("dispute", "fire_safety"))
    layers = ogrinfo(f"/vsizip/{path}")
    assert set(layers) == {"hexes", "hotspots"}
    for name, zoom in (("hexes", 14), ("hotspots", 18)):
        count = len(build(name, Filters(**{**filters.__dict__, "zoom": zoom}), Scope.everything()).features)
        assert layers[name].count == count > 0 and layers[name].epsg == 4326
    user, detail, remote = conn.execute("SELECT user_name, detail, remote_addr FROM shiyu.audit_log "
                                        "WHERE action = 'export' ORDER BY id DESC LIMIT 1").fetchone()
    assert user is None and remote == "127.0.0.1"
    assert detail["via"] == "web" and detail["file"] == download.suggested_filename and detail["format"] == "shp"
    assert detail["filters"]["categories"] == ["dispute", "fire_safety"]
    message = page.locator("#export-message").inner_text()
    assert message.startswith("Exported") and download.suggested_filename in message

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "export.png"), full_page=True)
    assert page.console_errors == []


def test_a_link_with_a_filter_it_cannot_read_says_so_and_offers_no_download(served, page):
    page.goto(f"{served}/export?cat=noise")
    page.wait_for_selector("#export-message.error")
    assert page.locator("#export-message").inner_text().startswith("链接中的筛选条件有误：unknown category noise")
    assert page.locator("#export-download").is_disabled()
    page.screenshot(path=str(ARTIFACTS / "export-bad-link.png"))
    assert page.console_errors == []
