"""The dashboard served for tests that talk to it over HTTP or through a browser: on a free localhost port, in a
thread, with settings patched for the test and undone after; and the five-tier city with named reporters."""

from __future__ import annotations

import threading
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from geodata.cluster import free_port
from layers.base import BEIJING
from tests.conftest import empty
from tests.helpers import write_csv
from tests.layers.tiers import load_city


def serve():
    """The dashboard on a free localhost port, in a thread; returns (server, thread)."""
    from dashboard.app import create_app

    server = make_server("127.0.0.1", free_port(), create_app().server, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread


@contextmanager
def served_with(env: dict[str, str] | None = None, attributes=()):
    """The dashboard served with ``env`` set and ``attributes`` ((object, name, value)) patched, all undone after."""
    from geodata import db
    from geodata.settings import reload

    patch = pytest.MonkeyPatch()
    server = thread = None
    try:  # a patch or a start that fails undoes what was set before it, or SHIYU_AUTH=on leaks into later tests
        for key, value in (env or {}).items():
            patch.setenv(key, value)
        for target, name, value in attributes:
            patch.setattr(target, name, value)
        reload()
        server, thread = serve()
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        if server is not None:
            server.shutdown()
            thread.join(timeout=10)
        patch.undo()
        reload()
        db.close_pool()


# id, type, name, lon, lat, radius: two in district C1 (west), one in C2, one without a radius.
HOTLINE_FACILITIES = [("F1", "police_station", "一号派出所", 120.05, 30.1, "800"),
                      ("F2", "safety_kiosk", "西岗亭", 120.15, 30.3, "300"),
                      ("F3", "police_station", "东派出所", 120.3, 30.2, "")]


def hotline_facilities(folder: Path) -> None:
    """``HOTLINE_FACILITIES`` loaded into the hotline city (``hotline_city`` first)."""
    from etl.load import load_facilities

    load_facilities(write_csv(folder / "facilities.csv", HOTLINE_FACILITIES,
                              header=("id", "type", "name", "lon", "lat", "service_radius_m")))


def hotline_city(database_url: str, folder: Path) -> datetime:
    """An empty database given the five-tier city and two named reporters (张三丰 in C1, 李四 in C2); returns now."""
    from etl.load import load_incidents

    empty(database_url)
    now = datetime.now(BEIJING).replace(microsecond=0)
    load_city(folder, now)
    load_incidents(write_csv(folder / "hotline.csv", [
        ["H1", "消防", f"{now - timedelta(minutes=3):%Y-%m-%d %H:%M:%S}", 120.05, 30.05, "张三丰", "13812341234"],
        ["H2", "纠纷", f"{now - timedelta(minutes=8):%Y-%m-%d %H:%M:%S}", 120.35, 30.35, "李四", "13900004321"],
    ], header=("id", "category", "reported_at", "lon", "lat", "reporter_name", "reporter_phone")), source="hotline")
    return now


PASSWORD = "a long pass phrase"
NAMES = {"ada": ("admin", "city"), "cora": ("commander", "city"), "olga": ("officer", "C1"),
         "pia": ("planner", "city"), "vic": ("viewer", "city"), "lou": ("officer", "C2"), "dan": ("viewer", "C1")}


@contextmanager
def people_served(database_url: str, folder: Path, env: dict[str, str] | None = None, attributes=()):
    """The five-tier city of ``hotline_city`` with a user of each role (``NAMES``, password ``PASSWORD``), served
    with logins on and ``env`` and ``attributes`` as ``served_with`` takes them; yields the site's address."""
    from geodata import users

    hotline_city(database_url, folder)
    for name, (role, scope) in NAMES.items():
        users.add_user(name, role, scope, password=PASSWORD)
    with served_with({"SHIYU_AUTH": "on", "SHIYU_SECRET_KEY": f"test-secret-key-of-{folder.name}", **(env or {})},
                     attributes) as site:
        yield site


@contextmanager
def intake_city(database_url: str, folder: Path):
    """``hotline_city`` with the intake worker applying posts in a thread of this process; yields its now."""
    from etl import intake_worker

    now = hotline_city(database_url, folder)
    thread, stop = intake_worker.start_thread()
    try:
        yield now
    finally:
        stop.set()
        thread.join(timeout=10)
