"""Shared fixtures: one embedded PostGIS cluster per test session, in a temporary folder."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from geodata import db
from geodata.cluster import Cluster
from geodata.migrations import migrate
from geodata.settings import reload

# The suite's dashboards run without logins (SHIYU_AUTH=off: an anonymous commander of SHIYU_SCOPE), as the
# tests written before logins expect; tests/dashboard/test_login.py and the login browser test turn them on.
os.environ["SHIYU_AUTH"] = "off"
# Nor with the per-user limits (dashboard/limits.py): the suite sends hundreds of callbacks a minute as one client.
# tests/dashboard/test_limits_http.py sets them where it tests them.
os.environ["SHIYU_USER_RATE_PER_MIN"] = "1000000"
os.environ["SHIYU_USER_CONCURRENCY"] = "1000"

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "geodata" / "samples"
ARTIFACTS = ROOT / "tests" / "artifacts"

# Durability buys nothing in a throw-away test cluster.
FAST = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}

DATA_TABLES = ("supervision_event", "supervision_order", "rejected_row", "incident", "incident_week", "incident_cell", "incident_week_cell", "incident_week_r7",
               "incident_day_r7", "incident_cell_r7", "incident_day", "incident_day_street", "incident_grid_week",
               "area_cell", "area_cell_count", "facility", "patrol_ping", "patrol_cell_day", "patrol_grid_week", "area",
               "load_batch", "intake_row", "intake_post", "feed_token", "feed", "audit_log", "audit_burst", "login_throttle", "login_session", "api_token",
               "app_user")


def empty(database_url: str) -> None:
    """Remove every row of every data table (the pool is closed first: its connections may hold locks)."""
    db.close_pool()
    with db.connect(database_url, autocommit=True) as connection:
        connection.execute("TRUNCATE " + ", ".join(f"shiyu.{t}" for t in DATA_TABLES) + " RESTART IDENTITY CASCADE")


@pytest.fixture(scope="session")
def cluster():
    root = Path(tempfile.mkdtemp(prefix="shiyu-test-"))
    root.chmod(0o755)  # the postgres user must reach it when tests run as root
    cluster = Cluster(root / "pg", server_settings=FAST)
    try:
        cluster.up()
        yield cluster
    finally:
        db.close_pool()
        cluster.destroy()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def database_url(cluster):
    url = cluster.url()
    os.environ["DATABASE_URL"] = url
    reload()
    with db.connect(url) as conn:
        migrate(conn)
    yield url


@pytest.fixture
def conn(database_url):
    with db.connect(database_url, autocommit=True) as connection:
        yield connection


@pytest.fixture
def empty_db(database_url):
    """A database with the schema and no rows."""
    empty(database_url)
    yield database_url


@pytest.fixture
def sample_db(empty_db):
    """The bundled sample loaded through the public loaders."""
    from etl.load import load_areas, load_incidents

    load_areas(SAMPLES / "sample_grids.geojson", tier="grid", source="sample")
    rejects = Path(tempfile.mkdtemp()) / "rejects.csv"
    load_incidents(SAMPLES / "sample_incidents.csv", source="sample", reject_file=rejects)
    yield empty_db
