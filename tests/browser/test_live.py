"""New reports reach the open wall within seconds, and an idle wall asks only the cheap probe between refreshes.

The wall is opened with a periodic refresh far beyond the test, so every heavy request seen comes from the probe
seeing the data's version move (dashboard/components/live.py). Reports go in as a city platform sends them: posted
over HTTP to ``/api/v1/incidents`` with a feed token, applied by the intake worker (docs/intake.md).
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import pytest
import requests

from geodata.scope import Scope
from layers.base import BEIJING
from tests.conftest import ARTIFACTS

pytestmark = pytest.mark.browser

# docs/dashboard.md, "Live": a report is on the wall within the probe's 2 s plus one redraw.
PROMISED_S = 5
QUIET_PROBES = 3  # probes watched with nothing loaded, in which no heavy request may go out
PANELS, MAP, CHARTS, PROBE = ("wall-kpi-today.children", "wall-districts-layer.data", "wall-trend.figure",
                              "wall-changed.data")


@pytest.fixture(scope="module")
def feed(tier_city):
    """A feed's token, and the intake worker applying its posts while the module runs."""
    from etl import intake_worker
    from geodata import feeds

    thread, stop = intake_worker.start_thread()
    try:
        yield feeds.add_feed("live-feed")
    finally:
        stop.set()
        thread.join(timeout=10)


def post_incidents(site: str, token: str, rows: list[dict]) -> None:
    """Post ``rows`` (canonical incident rows) to the intake API as a platform does; returns once they are applied."""
    answer = requests.post(f"{site}/api/v1/incidents", json=rows, headers={"Authorization": f"Bearer {token}"},
                           timeout=60)
    assert answer.status_code == 200 and answer.json()["loaded"] == len(rows), answer.text


@pytest.fixture
def heavy_every(monkeypatch):
    """Sets SHIYU_LIVE_HEAVY_REDRAW_S for the walls opened next (the page reads it as it is laid out)."""
    from geodata.settings import reload

    def setting(seconds: float) -> None:
        monkeypatch.setenv("SHIYU_LIVE_HEAVY_REDRAW_S", str(seconds))
        reload()

    yield setting
    monkeypatch.delenv("SHIYU_LIVE_HEAVY_REDRAW_S", raising=False)
    reload()


@pytest.fixture
def wall(browser):
    context = browser.new_context(viewport={"width": 1920, "height": 1080}, device_scale_factor=1, locale="zh-CN")
    page = context.new_page()
    page.console_errors, page.callbacks, page.probes = [], [], []
    page.on("console", lambda msg: msg.type == "error" and page.console_errors.append(msg.text))
    page.on("pageerror", lambda exc: page.console_errors.append(str(exc)))
    page.on("request", lambda request: _record(page, request))
    yield page
    context.close()


def _record(page, request) -> None:
    if "/_dash-update-component" in request.url and request.method == "POST":
        page.callbacks.append(request.post_data_json.get("output", ""))
        if PROBE in page.callbacks[-1]:
            page.probes.append(time.monotonic())


def _count(page, output: str) -> int:
    return sum(output in called for called in page.callbacks)


def _await_probes(page, n: int, probe: str = PROBE) -> None:
    """Wait for ``n`` more probe requests to go out (the probe is the page's clock; nothing here sleeps)."""
    for _ in range(n):
        with page.expect_request(lambda r: "/_dash-update-component" in r.url
                                 and probe in (r.post_data_json or {}).get("output", ""), timeout=30_000):
            pass


def test_a_new_report_reaches_the_wall_within_seconds_and_an_idle_wall_sends_nothing_heavy(tier_city, feed, wall,
                                                                                            heavy_every):
    from layers import panels
    from layers.base import Filters

    heavy_every(0)  # the map and charts follow every move too (under a steady feed: the next test)
    page = wall
    page.goto(tier_city + "/wall?refresh=3600")
    page.wait_for_function("document.querySelector('#wall-kpi-open') && "
                           "document.querySelector('#wall-kpi-open').innerText !== '—'", timeout=60_000)
    page.wait_for_load_state("networkidle")
    before = panels.headline(Filters(), Scope.everything())
    assert page.locator("#wall-kpi-today").inner_text() == f"{before['today']:,}"
    assert page.locator(".wall-report.new").count() == 0 and page.locator("path.wall-new-dot").count() == 0

    # Idle: probes go out, nothing heavy does.
    panels_idle, map_idle, charts_idle = _count(page, PANELS), _count(page, MAP), _count(page, CHARTS)
    _await_probes(page, QUIET_PROBES)
    assert (_count(page, PANELS), _count(page, MAP), _count(page, CHARTS)) == (panels_idle, map_idle, charts_idle)

    now = datetime.now(BEIJING).replace(microsecond=0)
    post_incidents(tier_city, feed, [{"id": "LIVE-1", "category": "消防",
                                      "reported_at": f"{now - timedelta(minutes=1):%Y-%m-%d %H:%M:%S}",
                                      "lon": 120.15, "lat": 30.15, "status": "reported"}])
    posted = time.monotonic()
    page.wait_for_selector(".wall-report.new", timeout=PROMISED_S * 1000)
    seen_after = time.monotonic() - posted
    after = panels.headline(Filters(), Scope.everything())
    assert (after["today"], after["open"]) == (before["today"] + 1, before["open"] + 1)
    page.wait_for_function(f"document.querySelector('#wall-kpi-today').innerText === '{after['today']:,}'",
                           timeout=PROMISED_S * 1000)
    assert page.locator("#wall-kpi-open").inner_text() == f"{after['open']:,}"
    # The new row is the newest report, tagged in the page's language; its place pulses on the map.
    newest = page.locator("#wall-ticker li").first
    assert "new" in newest.get_attribute("class") and newest.locator(".wall-new-tag").inner_text() == "新"
    assert newest.locator(".wall-report-category").inner_text().endswith("消防安全")
    assert page.locator(".wall-report.new").count() == 1
    page.wait_for_function("document.querySelectorAll('#wall-map path.wall-new-dot').length === 1",
                           timeout=PROMISED_S * 1000)

    # One version move, one redraw of the panels, the map and the charts; then quiet again.
    _await_probes(page, 2)
    assert (_count(page, PANELS) - panels_idle, _count(page, MAP) - map_idle, _count(page, CHARTS) - charts_idle) \
        == (1, 1, 1)
    # "Data as of" is the batch just applied.
    assert page.locator("#wall-status").inner_text() == f"数据截至 {panels.data_as_of():%H:%M}"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "wall-new-report.png"))
    assert page.console_errors == []
    gaps = sorted(b - a for a, b in zip(page.probes, page.probes[1:]))
    print(f"\nnew report on the wall {seen_after:.1f} s after its batch committed; {len(page.probes)} probes, "
          f"{gaps[len(gaps) // 2]:.2f} s apart (median); heavy requests: {_count(page, PANELS)} panels, "
          f"{_count(page, MAP)} map, all told")


def _shown_incidents(page) -> int:
    return int(page.locator("#explore-stats").inner_text().replace(",", "").split("incidents")[1].split()[0])


def test_the_explore_map_redraws_when_a_report_arrives_and_not_before(tier_city, feed, wall):
    page = wall
    page.goto(tier_city + "/?layer=areas&lang=en")
    page.wait_for_function("document.querySelector('#explore-stats') && "
                           "document.querySelector('#explore-stats').innerText.includes('incidents')", timeout=60_000)
    page.wait_for_load_state("networkidle")
    before, drawn = _shown_incidents(page), _count(page, "explore-hexes.data")
    _await_probes(page, QUIET_PROBES, "explore-changed.data")
    assert _count(page, "explore-hexes.data") == drawn

    now = datetime.now(BEIJING).replace(microsecond=0)
    post_incidents(tier_city, feed, [{"id": "LIVE-2", "category": "治安",
                                      "reported_at": f"{now - timedelta(minutes=1):%Y-%m-%d %H:%M:%S}",
                                      "lon": 120.25, "lat": 30.25, "status": "reported"}])
    page.wait_for_function(f"/incidents\\s*{before + 1}\\b/.test("
                           "document.querySelector('#explore-stats').innerText.replace(/,/g, ''))",
                           timeout=PROMISED_S * 1000)
    assert _shown_incidents(page) == before + 1
    assert _count(page, "explore-hexes.data") == drawn + 1
    assert page.console_errors == []


def test_under_a_steady_feed_the_live_parts_follow_each_move_and_the_map_waits_its_turn(tier_city, feed, wall,
                                                                                       heavy_every):
    """SHIYU_LIVE_HEAVY_REDRAW_S (30 s by default): the ticker and headline numbers redraw on each move the probe
    sees, the map and charts at most that often; the pulse of a new report does not wait for the map."""
    heavy_every(600)  # longer than the test on any machine: no heavy redraw may come from the two moves
    page = wall
    page.goto(tier_city + "/wall?refresh=3600")
    page.wait_for_function("document.querySelector('#wall-kpi-open') && "
                           "document.querySelector('#wall-kpi-open').innerText !== '—'", timeout=60_000)
    page.wait_for_load_state("networkidle")
    drawn = {part: _count(page, part) for part in (PANELS, MAP, CHARTS)}
    now = datetime.now(BEIJING).replace(microsecond=0)
    for n in (3, 4):
        post_incidents(tier_city, feed, [{"id": f"LIVE-{n}", "category": "治安", "lon": 120.15, "lat": 30.25,
                                          "reported_at": f"{now - timedelta(minutes=1):%Y-%m-%d %H:%M:%S}",
                                          "status": "reported"}])
        page.wait_for_function(f"document.querySelectorAll('#wall-map path.wall-new-dot').length === {n - 2}",
                               timeout=2 * PROMISED_S * 1000)
    assert _count(page, PANELS) - drawn[PANELS] == 2
    assert (_count(page, MAP), _count(page, CHARTS)) == (drawn[MAP], drawn[CHARTS])
    assert page.locator(".wall-report.new").count() == 2
    assert page.console_errors == []
