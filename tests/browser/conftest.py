"""A real dashboard on a free localhost port and a real headless Chromium (Debian's)."""

from __future__ import annotations

import os
import shutil
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from geodata.cluster import Cluster
from layers.base import BEIJING
from tests.conftest import FAST
from tests.helpers import write_csv
from tests.serving import hotline_city, serve, served_with

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic",
                 "--no-first-run", "--disable-component-update", "--disable-sync"]


@pytest.fixture
def served(sample_db):
    server, thread = serve()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1600, "height": 1000}, locale="zh-CN")
    page = context.new_page()
    page.console_errors = []
    page.on("console", lambda msg: msg.type == "error" and page.console_errors.append(msg.text))
    page.on("pageerror", lambda exc: page.console_errors.append(str(exc)))
    yield page
    context.close()


@pytest.fixture(scope="module")
def tier_city(database_url, tmp_path_factory):
    """The five-tier city (2 districts, 16 grids) with incidents, patrols, two named reporters and four facilities, served."""
    from etl.load import load_facilities

    folder = tmp_path_factory.mktemp("city")
    hotline_city(database_url, folder)
    load_facilities(write_csv(folder / "facilities.csv", [
        ["P1", "police_station", "西湖派出所", 120.1, 30.1], ["P2", "police_station", "东城派出所", 120.3, 30.3],
        ["F1", "fire_station", "消防站", 120.25, 30.15], ["S1", "school", "第一小学", 120.15, 30.35],
    ], header=("id", "type", "name", "lon", "lat")), source="facilities")
    with served_with() as url:
        yield url


@pytest.fixture
def doomed_database(database_url, tmp_path):
    """A second, small cluster the app is pointed at, which the test may stop; the session's cluster is left alone."""
    from geodata import db
    from geodata.migrations import migrate
    from geodata.settings import reload
    from etl.load import load_areas, load_incidents
    from tests.layers.tiers import _geojson, tier_boxes

    root = Path(tempfile.mkdtemp(prefix="shiyu-wall-"))
    root.chmod(0o755)  # the postgres user must reach it when tests run as root
    cluster = Cluster(root / "pg", server_settings=FAST)
    pool_timeout = os.environ.get("SHIYU_POOL_TIMEOUT_S")
    try:
        cluster.up()
        os.environ["DATABASE_URL"] = cluster.url()
        os.environ["SHIYU_POOL_TIMEOUT_S"] = "1"  # so the page may refresh every 2 s (it waits longer than the pool)
        reload()
        db.close_pool()
        with db.connect(cluster.url()) as conn:
            migrate(conn)
        load_areas(_geojson(tmp_path / "districts.geojson", tier_boxes()["district"]), tier="district", source="wall")
        now = datetime.now(BEIJING)
        load_incidents(write_csv(tmp_path / "few.csv", [
            [f"F{i}", "治安", f"{now - timedelta(hours=i):%Y-%m-%d %H:%M:%S}", 120.05 + 0.03 * i, 30.2] for i in range(10)]))
        server, thread = serve()
        yield cluster, f"http://127.0.0.1:{server.server_port}"
        server.shutdown()
        thread.join(timeout=10)
    finally:
        os.environ["DATABASE_URL"] = database_url
        if pool_timeout is None:
            os.environ.pop("SHIYU_POOL_TIMEOUT_S", None)
        else:
            os.environ["SHIYU_POOL_TIMEOUT_S"] = pool_timeout
        reload()
        db.close_pool()
        cluster.destroy()
        shutil.rmtree(root, ignore_errors=True)
