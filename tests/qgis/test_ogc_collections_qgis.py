"""QGIS 3.22 itself (Debian's PyQGIS, in /usr/bin/python3) adds the OGC API's collections with its default settings
from a served app: facilities are points with their type, name and radius, blind spots polygons of their own, and
a CQL2 filter written into the layer's URL reaches the server (the server's counter of filtered pages moves) and
keeps the database's count; a subset string keeps it too. Logins are off here: the Basic login QGIS sends is
tested by tests/qgis' other tests."""

from __future__ import annotations

import os
import subprocess
from urllib.parse import urlencode

import pytest

from geodata import db
from layers.ogc import documents
from tests.qgis.test_qgis import QGIS_PYTHON, run_probe
from tests.serving import hotline_city, hotline_facilities, served_with



def _has_pyqgis() -> bool:
    probe = subprocess.run([QGIS_PYTHON, "-c", "import qgis.core"], capture_output=True)
    return probe.returncode == 0


pytestmark = pytest.mark.skipif(not os.path.exists(QGIS_PYTHON) or not _has_pyqgis(),
                                reason="python3-qgis is installed by ./run test")


@pytest.fixture(scope="module")
def served(database_url, tmp_path_factory):
    folder = tmp_path_factory.mktemp("qgis-ogc")
    hotline_city(database_url, folder)
    hotline_facilities(folder)
    with served_with() as url:
        yield url, tmp_path_factory.mktemp("qgis-ogc-probe")


def _qgis(served, layers: list[dict]) -> dict:
    """What QGIS made of ``layers`` (``probe.py``'s layer entries), logins off."""
    url, folder = served
    return run_probe({"ogc": f"{url}/ogc", "layers": layers}, folder)["layers"]


def _count(sql: str) -> int:
    with db.connect() as conn:
        return conn.execute(sql).fetchone()[0]


def test_qgis_adds_facilities_as_points_with_their_fields_and_blind_spots_apart(served):
    found = _qgis(served, [{"id": "facilities"}, {"id": "blind-spots"}])
    facilities, blind = found["facilities"], found["blind-spots"]
    assert facilities["valid"] and facilities["geometry"] == "Point", facilities
    assert {"type", "name", "radius_m"} <= set(facilities["fields"])
    assert facilities["count"] == _count("SELECT count(*) FROM shiyu.facility")
    assert blind["valid"] and blind["geometry"] == "Polygon", blind
    assert {"h3", "uncovered"} <= set(blind["fields"]) and blind["count"] > 0


SEVERE_DISPUTES = "SELECT count(*) FROM shiyu.incident WHERE severity >= 3 AND category = 'dispute'"


def test_a_cql2_filter_in_the_layers_url_is_sent_by_qgis_and_answered_by_the_server(served):
    before = documents.FILTERED_PAGES["incidents"]
    query = urlencode({"filter": "severity >= 3 AND category = 'dispute'"})
    found = _qgis(served, [{"id": "incidents", "query": query}])["incidents"]
    assert found["valid"] and found["geometry"] == "Point", found
    assert found["count"] == _count(SEVERE_DISPUTES) > 0
    assert documents.FILTERED_PAGES["incidents"] > before  # QGIS sent the filter: the server answered it


def test_a_subset_string_in_qgis_keeps_the_databases_count(served):
    # QGIS 3.22 filters a subset string itself (it has no CQL2 compiler yet); later QGIS send it as a filter,
    # which /conformance declares. Either way the layer holds what the database holds.
    found = _qgis(served, [{"id": "incidents", "name": "all"},
                           {"id": "incidents", "name": "filtered", "subset": '"severity" >= 3 AND "category" = \'dispute\''}])
    assert found["all"]["count"] == _count("SELECT count(*) FROM shiyu.incident")
    assert found["filtered"]["subset_set"] and found["filtered"]["count"] == _count(SEVERE_DISPUTES)
