"""QGIS 3.22 itself (Debian's PyQGIS, ``tests/qgis/probe.py`` in a subprocess) against the served app with logins on,
logged in the way a planner does it from QGIS's dialogs: a Basic authentication configuration (user name, API
token as the password) made through ``QgsAuthManager``. Every OGC collection is added with QGIS's default
settings and must open with one geometry type, every field its features carry, and the database's count; an
officer's QGIS holds her district only; a subset string counts what the database counts (sent to the server by
the QGIS versions that can: 3.22 has no CQL2); the vector tiles render non-blank, as cells past their cap."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import subprocess
import tempfile
from pathlib import Path

import pytest
import requests

from etl.load import load_facilities
from geodata import users
from layers import tiles
from tests.helpers import write_csv
from tests.layers.tiers import CITY
from tests.serving import people_served

PROBE = Path(__file__).with_name("probe.py")
QGIS_PYTHON = "/usr/bin/python3"  # Debian's, where python3-qgis lives; the venv has no PyQGIS
FACILITIES = [("F1", "police_station", "一号派出所", 120.05, 30.05, "1500"),
              ("F2", "safety_kiosk", "岗亭", 120.15, 30.12, "500"),
              ("F3", "mini_fire_station", "微型消防站", 120.32, 30.31, "")]
QGIS_WITH_CQL2 = 32800
SUBSET = "\"category\" = 'dispute'"


class _Requests(logging.Handler):
    """The server's request log (werkzeug's), kept so a test can see what QGIS asked for."""

    def __init__(self):
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture(scope="module")
def site(database_url, tmp_path_factory):
    folder = tmp_path_factory.mktemp("qgis")
    handler = _Requests()
    server_log = logging.getLogger("werkzeug")
    server_log.addHandler(handler)
    server_log.setLevel(logging.INFO)
    with people_served(database_url, folder) as url:
        load_facilities(write_csv(folder / "facilities.csv", FACILITIES,
                                  header=("id", "type", "name", "lon", "lat", "service_radius_m")))
        yield url, handler, folder
    server_log.removeHandler(handler)


def run_probe(spec: dict, folder: Path) -> dict:
    """Run ``probe.py`` on ``spec`` in Debian's Python, headless, with a fresh authentication database."""
    auth_dir = Path(tempfile.mkdtemp(prefix="qgis-auth-", dir=folder))
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "QGIS_AUTH_DB_DIR_PATH": str(auth_dir),
           "HOME": str(auth_dir), "XDG_RUNTIME_DIR": str(auth_dir)}
    env.pop("PYTHONPATH", None)
    done = subprocess.run([QGIS_PYTHON, str(PROBE)], input=json.dumps(spec), capture_output=True, text=True,
                          env=env, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def probe(site: str, folder: Path, user: str, layers: list[dict], tiles: list[dict] = ()) -> dict:
    """QGIS on ``layers`` and ``tiles`` of the served app, logged in as ``user`` by a Basic configuration."""
    return run_probe({"ogc": f"{site}/ogc", "user": user, "token": users.create_token(user), "layers": layers,
                      "tiles": list(tiles)}, folder)


def _collections(site: str) -> list[str]:
    token = users.create_token("cora")
    doc = requests.get(f"{site}/ogc/collections", headers={"Authorization": f"Bearer {token}"}, timeout=60).json()
    return [c["id"] for c in doc["collections"]]


def _served(site: str, collection: str, token: str) -> list[dict]:
    """Every feature of a collection over HTTP, following ``next``: what QGIS must show."""
    url, features = f"{site}/ogc/collections/{collection}/items?limit=1000", []
    while url:
        page = requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=300).json()
        features += page["features"]
        url = next((link["href"] for link in page.get("links", []) if link["rel"] == "next"), None)
    return features


def _recount(conn, collection: str, scope: str) -> int | None:
    """The database's own count of a collection that is a table's rows; None for computed layers."""
    if collection == "incidents":
        return conn.execute("SELECT count(*) FROM shiyu.incident WHERE path <@ %s::ltree", (scope,)).fetchone()[0]
    if collection == "facilities":
        return conn.execute("SELECT count(*) FROM shiyu.facility WHERE path <@ %s::ltree", (scope,)).fetchone()[0]
    if collection.startswith("areas-"):
        return conn.execute("SELECT count(*) FROM shiyu.area WHERE tier = %s AND path <@ %s::ltree",
                            (collection.removeprefix("areas-"), scope)).fetchone()[0]
    return None


@pytest.fixture(scope="module")
def opened(site):
    url, _, folder = site
    collections = _collections(url)
    return collections, probe(url, folder, "cora", [{"id": c} for c in collections])


def test_qgis_adds_every_collection_by_basic_login_with_its_defaults(site, opened, conn):
    url = site[0]
    collections, result = opened
    token = users.create_token("cora")
    assert len(collections) >= 8
    problems = []
    for collection in collections:
        layer, served = result["layers"][collection], _served(url, collection, token)
        if not layer["valid"]:
            problems.append(f"{collection} does not open: {result['log'][-3:]}")
            continue
        recount = _recount(conn, collection, "C")
        if not layer["count"] == len(served) == (len(served) if recount is None else recount):
            problems.append(f"{collection}: QGIS {layer['count']}, served {len(served)}, database {recount}")
        served_types = {f["geometry"]["type"].removeprefix("Multi") for f in served if f["geometry"]}
        if len(served_types) > 1:
            problems.append(f"{collection} mixes {sorted(served_types)}: QGIS types the layer from its first features")
        elif served_types and layer["geometry"].removeprefix("Multi") != served_types.pop():
            problems.append(f"{collection}: QGIS says {layer['geometry']}")
        lost = {key for f in served for key in f["properties"]} - set(layer["fields"])
        if lost:
            problems.append(f"{collection}: QGIS lost the fields {sorted(lost)} (not in its first features)")
    assert not problems, "\n".join(problems)


def test_facilities_open_as_points_with_their_type_name_and_radius(opened, conn):
    layer = opened[1]["layers"]["facilities"]
    assert layer["geometry"] == "Point" and layer["feature_geometries"] == ["Point"]
    assert {"type", "name"} <= set(layer["fields"]) and any("radius" in f for f in layer["fields"])
    assert layer["count"] == conn.execute("SELECT count(*) FROM shiyu.facility").fetchone()[0] == len(FACILITIES)


def test_an_officer_in_qgis_sees_only_their_district(site, conn):
    url, _, folder = site
    result = probe(url, folder, "olga", [{"id": "incidents"}, {"id": "areas-grid"}])
    assert result["layers"]["incidents"]["count"] == _recount(conn, "incidents", "C.C1") \
        < _recount(conn, "incidents", "C")
    assert result["layers"]["areas-grid"]["count"] == _recount(conn, "areas-grid", "C.C1")


def test_a_filter_set_in_qgis_counts_what_the_database_counts(site, conn):
    """QGIS 3.22 sends no ``filter``: its OAPIF provider has no CQL2 (3.28 and later send ``filter=…&filter-lang=
    cql2-text`` when ``/conformance`` declares Part 3), and sends a property equality only for an OpenAPI parameter of
    scalar type, so here it pages the collection and filters it itself. Where the QGIS running is one that can, the
    server's request log must show the filter."""
    url, requests_seen, folder = site
    before = len(requests_seen.lines)
    result = probe(url, folder, "cora", [{"id": "incidents", "subset": SUBSET}])
    layer = result["layers"]["incidents"]
    assert layer["subset_set"]
    assert layer["count"] == conn.execute("SELECT count(*) FROM shiyu.incident WHERE category = 'dispute'"
                                          ).fetchone()[0] > 0
    asked = [line for line in requests_seen.lines[before:] if "/collections/incidents/items" in line]
    if result["qgis"] >= QGIS_WITH_CQL2:
        assert asked and all("filter=" in line for line in asked), asked[:3]


def test_the_vector_tiles_render_in_qgis(site):
    url, _, folder = site
    tiles = [{"name": name, "url": f"{url}/tiles/{name}/{{z}}/{{x}}/{{y}}.pbf", "extent": list(CITY),
              "image": str(folder / f"{name}.png")} for name in ("incidents", "grids")]
    result = probe(url, folder, "cora", [], tiles)
    for name in ("incidents", "grids"):
        rendered = result["tiles"][name]
        assert rendered["valid"] and not rendered["errors"], (name, rendered, result["log"][-5:])
        assert rendered["pixels"] > 500, (name, rendered)


def test_incident_tiles_past_their_cap_render_as_cells_in_qgis(site, monkeypatch):
    """With the cap below the city's incidents, every tile of the city at its zoom holds cells, not points."""
    url, _, folder = site
    spec = [{"name": "incidents", "url": f"{url}/tiles/incidents/{{z}}/{{x}}/{{y}}.pbf", "extent": list(CITY),
             "image": str(folder / "incident-cells.png")}]
    points = probe(url, folder, "cora", [], [{**spec[0], "image": None}])["tiles"]["incidents"]["pixels"]
    monkeypatch.setitem(tiles.LAYERS, "incidents", dataclasses.replace(tiles.LAYERS["incidents"], cap=20))
    cells = probe(url, folder, "cora", [], spec)["tiles"]["incidents"]
    assert cells["valid"] and not cells["errors"]
    # Capped tiles of points would draw 20 dots a tile, far fewer than all 3,000; their cells fill more than all did.
    assert cells["pixels"] > points, (cells, points)
