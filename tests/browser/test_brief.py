"""The area panel's weekly-brief link in a real browser: picking a district shows the link of its last complete
week (and of this week so far), and clicking it downloads the PDF that names the district."""

from __future__ import annotations

import subprocess

import pytest

from layers import brief
from tests.conftest import ARTIFACTS

pytestmark = pytest.mark.browser


def test_the_area_panel_offers_the_weekly_brief_and_clicking_it_downloads_the_pdf(tier_city, browser, tmp_path):
    context = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="zh-CN", accept_downloads=True)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(tier_city + "/?area=C1")
        link = page.locator("#explore-detail .brief-link").first
        link.wait_for(timeout=60_000)
        week = brief.parse_week(link.inner_text().split()[0])
        assert link.get_attribute("href") == f"/brief/C1.pdf?week={week.label}"
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "explore-brief-link.png"))
        with page.expect_download(timeout=120_000) as download:
            link.click()
        saved = tmp_path / download.value.suggested_filename
        download.value.save_as(saved)
        assert saved.name == f"brief-C1-{week.label}.pdf" and saved.read_bytes().startswith(b"%PDF")
        text = subprocess.run(["pdftotext", str(saved), "-"], capture_output=True, text=True, check=True).stdout
        assert "区域C1 社会治理研判报告" in text and week.label in text
        assert not errors
    finally:
        context.close()
