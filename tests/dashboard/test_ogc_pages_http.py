"""The served OGC API pages a layer from one computation per (query, scope, role, data version), over HTTP with
each user's API token, and a load between two pages is seen on the next one (layers/ogc/pages.py)."""

from __future__ import annotations

import json
from datetime import timedelta
from urllib.request import Request, urlopen

import pytest

from etl.load import load_incidents
from geodata import users
from layers.ogc.pages import PAGES
from tests.helpers import write_csv
from tests.serving import hotline_city, served_with

READERS = {"pia": ("planner", "city"), "vic": ("viewer", "city"), "olga": ("officer", "C1")}


@pytest.fixture(scope="module")
def site(database_url, tmp_path_factory):
    """The five-tier city served with logins on, and an API token for a planner and a viewer of the city and an
    officer of district C1."""
    now = hotline_city(database_url, tmp_path_factory.mktemp("pages"))
    for name, (role, scope) in READERS.items():
        users.add_user(name, role, scope, password="a long pass phrase")
    tokens = {name: users.create_token(name, label="qgis") for name in READERS}
    with served_with({"SHIYU_AUTH": "on", "SHIYU_SECRET_KEY": "test-secret-key-of-this-module"}) as url:
        yield url, tokens, now


def _get(url: str, token: str) -> dict:
    with urlopen(Request(url, headers={"Authorization": f"Bearer {token}"}), timeout=120) as response:
        assert response.status == 200
        return json.loads(response.read())


def _next(doc: dict) -> str | None:
    return next((link["href"] for link in doc["links"] if link["rel"] == "next"), None)


def _walk(url: str, token: str) -> tuple[list[dict], int]:
    features, pages = [], 0
    while url is not None:
        doc = _get(url, token)
        features += doc["features"]
        url, pages = _next(doc), pages + 1
    return features, pages


def test_each_scope_and_role_pages_from_its_own_single_computation(site):
    base, tokens, _ = site
    PAGES.clear()
    walks = {}
    for _ in range(2):
        for name in READERS:
            walks[name] = _walk(f"{base}/ogc/collections/hexes/items?res=7&limit=5", tokens[name])
    assert PAGES.stats.computed == len(READERS)  # one per reader, however many pages, and none shared
    for name, (features, pages) in walks.items():
        assert pages > 3 and [f["id"] for f in features] == list(range(1, len(features) + 1))
    assert all(f["properties"]["grid_code"].startswith("C1") for f in walks["olga"][0])
    city = {f["properties"]["h3"] for f in walks["pia"][0]}
    assert {f["properties"]["h3"] for f in walks["olga"][0]} < city
    assert walks["vic"][0] == walks["pia"][0]  # the same data, each role computed for itself


def test_a_load_between_two_pages_shows_on_the_next_one(site, tmp_path):
    base, tokens, now = site
    first = _get(f"{base}/ogc/collections/hexes/items?res=7&limit=4", tokens["pia"])
    moment = f"{now - timedelta(minutes=30):%Y-%m-%d %H:%M:%S}"
    rows = [[f"Q{k}", "纠纷", moment, 120.012, 30.012] for k in range(25)]
    load_incidents(write_csv(tmp_path / "more.csv", rows), source="pages-http", reject_file=tmp_path / "r.csv")
    second = _get(_next(first), tokens["pia"])
    assert second["dataVersion"] == first["dataVersion"] + 1 and "data changed" in second["dataChanged"]
    whole = _get(f"{base}/ogc/collections/hexes/items?res=7&limit=1000", tokens["pia"])
    assert second["features"] == whole["features"][4:8]
    assert "dataChanged" not in _get(_next(second), tokens["pia"])
