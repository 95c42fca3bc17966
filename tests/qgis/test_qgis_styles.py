"""The styles an exported GeoPackage carries, as QGIS 3.22 itself draws them (``probe.py``'s ``styles``): every
feature of every styled layer is drawn, in the map's colours."""

from __future__ import annotations

from geodata.scope import Scope
from layers import coverage
from layers.base import Filters
from layers.export import export
from tests.qgis.test_qgis import run_probe


def test_qgis_draws_every_coverage_feature_the_hot_unpatrolled_cells_in_the_hot_colour(city, tmp_path):
    filters = Filters(res=8)
    file = export(["coverage", "hotspots"], filters, Scope.everything(), "gpkg")
    path = tmp_path / file.name
    with file:
        path.write_bytes(file.path.read_bytes())
    kinds = [f["properties"]["kind"] for f in coverage.build(filters, Scope.everything()).features]
    assert "hot_unpatrolled" in kinds and "grid" in kinds
    result = run_probe({"styles": [{"path": str(path), "layer": "coverage", "key": "kind"},
                                   {"path": str(path), "layer": "hotspots", "key": "class"}]}, tmp_path)
    drawn = result["styles"]["coverage"]
    assert drawn["valid"] and len(drawn["drawn"]) == len(kinds), drawn
    assert drawn["renderer"] == "RuleRenderer", drawn["renderer"]
    hot = [colour for kind, colour in drawn["drawn"] if kind == "hot_unpatrolled"]
    assert len(hot) == kinds.count("hot_unpatrolled") and set(hot) == {coverage.HOT_UNPATROLLED_COLOUR}
    grids = [colour for kind, colour in drawn["drawn"] if kind == "grid"]
    assert None not in grids and set(grids) <= {*coverage.SHARE_COLOURS, coverage.NO_CELLS_COLOUR}
    assert all(colour is not None for _, colour in result["styles"]["hotspots"]["drawn"])
