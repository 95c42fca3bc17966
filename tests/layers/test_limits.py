"""Cost ceilings of the layers and the exports, on the layer tests' city (0.4° square, ~1,540 km²), and the
statement timeout of each request kind."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from geodata import db
from geodata.errors import TooLarge
from geodata.scope import Scope
from geodata.settings import reload
from layers import limits
from layers.base import Filters
from layers.export import export
from layers.limits import CELLS, Limit, estimate
from layers.registry import LAYERS, build
from tests.helpers import shiyu
from tests.layers.tiers import CITY

EVERYTHING = Scope.everything()


def _leftovers() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob("shiyu-export-*"))


def test_the_estimate_of_a_study_area_is_its_grids_area_over_the_cell_area_near_the_true_count(city):
    from layers.hotspots import study_area

    for res in (8, 9):  # at r7 a 0.1° grid is ~30 cells and its edges add a third; the limits bite at r9 and r10
        true = len(study_area(Filters(bbox=CITY, res=res), EVERYTHING))
        guess = estimate("hotspots", Filters(bbox=CITY, res=res), EVERYTHING).counted
        assert 0.85 * true <= guess <= 1.05 * true, (res, guess, true)


def test_every_layer_of_the_registry_has_a_limit_and_the_city_at_r10_is_refused_by_the_cell_layers(city):
    assert set(limits.LIMITS) == set(LAYERS)
    for layer, limit in limits.LIMITS.items():
        if limit.counts == CELLS and layer != "hexes":  # ~147,000 r10 cells in the city, over 60,000
            with pytest.raises(TooLarge, match=rf"the {layer} layer would hold about 14\d,\d{{3}} H3 r10 cells"):
                build(layer, Filters(bbox=CITY, res=10), EVERYTHING)


def test_a_hex_map_of_few_incidents_is_not_refused_for_the_size_of_its_view(city):
    # ~147,000 r10 cells in view, but the city's 3,000 incidents fill at most 3,000 of them
    result = build("hexes", Filters(bbox=CITY, zoom=11, res=10), EVERYTHING)
    assert 0 < result.summary["cells"] <= 3000


def test_an_export_over_the_size_limit_is_refused_before_the_work_and_leaves_nothing(city, conn, monkeypatch):
    before = conn.execute("SELECT count(*) FROM shiyu.audit_log WHERE action = 'export'").fetchone()[0]
    leftovers = _leftovers()
    monkeypatch.setenv("SHIYU_EXPORT_MAX_MB", "0.1")
    reload()
    try:
        with pytest.raises(TooLarge, match=r"the export would be about 1\.\d MB, more than the 0\.1 MB limit \(SHIYU_EXPORT_MAX_MB\); "
                                           "pick an area, fewer layers or a coarser resolution"):
            export(["hotspots"], Filters(res=8), EVERYTHING, "geojson")
        # an estimate that fell short: the file is measured as written, and refused all the same
        monkeypatch.setattr(limits, "LIMITS", {**limits.LIMITS, "hotspots": Limit(CELLS, 60_000, 1)})
        with pytest.raises(TooLarge, match=r"the export came to \d\.\d MB, more than the 0\.1 MB limit"):
            export(["hotspots"], Filters(res=8), EVERYTHING, "geojson")
    finally:
        monkeypatch.undo()
        reload()
    assert conn.execute("SELECT count(*) FROM shiyu.audit_log WHERE action = 'export'").fetchone()[0] == before
    assert _leftovers() == leftovers


def test_an_export_is_a_temporary_file_read_in_chunks_and_removed_when_closed(city):
    with export(["hotspots"], Filters(res=8, area_code="C1"), EVERYTHING, "gpkg") as file:
        assert file.path.exists() and file.size == file.path.stat().st_size
        assert sum(len(chunk) for chunk in file.chunks(4096)) == file.size
    assert not file.path.exists()


def test_shiyu_export_over_the_size_limit_says_how_to_narrow_it_in_one_line(city, tmp_path):
    out = tmp_path / "city.gpkg"
    result = shiyu("export", "hotspots", "--res", "8", "-o", str(out), env={"SHIYU_EXPORT_MAX_MB": "0.1"})
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "pick an area" in result.stderr
    assert not out.exists() and not out.with_name(out.name + ".partial").exists()


def test_each_request_kind_runs_its_queries_under_its_own_statement_timeout(database_url):
    timeout = "SELECT (extract(epoch FROM current_setting('statement_timeout')::interval) * 1000)::int AS t"
    with db.as_app():
        assert db.fetch_all(timeout)[0]["t"] == 15_000  # the pool's, SHIYU_STATEMENT_TIMEOUT_MS
        for kind, ms in db.STATEMENT_TIMEOUTS_MS.items():
            with db.request_kind(kind):
                assert db.fetch_all(timeout)[0]["t"] == ms, kind
        assert db.fetch_all(timeout)[0]["t"] == 15_000  # local to each transaction: nothing carried over
