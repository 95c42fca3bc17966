"""The extent posted points are checked against follows a load of areas at once, not after a timeout."""

from __future__ import annotations

import json

from etl.intake import city_extent
from etl.load import EXTENT_MARGIN_DEG, load_areas
from geodata import db
from geodata.scope import Scope
from tests.conftest import SAMPLES


def _square(west: float, south: float, side: float) -> dict:
    ring = [[west, south], [west + side, south], [west + side, south + side], [west, south + side], [west, south]]
    return {"type": "Feature", "properties": {"code": "FAR1", "name": "远方网格"},
            "geometry": {"type": "Polygon", "coordinates": [ring]}}


def test_a_load_of_areas_moves_the_extent_at_the_next_post(empty_db, tmp_path):
    load_areas(SAMPLES / "sample_grids.geojson", tier="grid", source="sample")
    with db.scoped(Scope(None)):  # as the web server asks it: shiyu_app
        west, south, east, north = city_extent()
    assert east < 121 and north < 31
    far = tmp_path / "far.geojson"
    far.write_text(json.dumps({"type": "FeatureCollection", "features": [_square(121.5, 31.2, 0.01)]}))
    load_areas(far, tier="grid", source="far")
    with db.scoped(Scope(None)):
        grown = city_extent()
    assert grown[0] == west and grown[1] == south
    assert abs(grown[2] - (121.51 + EXTENT_MARGIN_DEG)) < 1e-9 and abs(grown[3] - (31.21 + EXTENT_MARGIN_DEG)) < 1e-9


def test_areas_loaded_after_the_tables_were_emptied_are_a_new_extent(empty_db, tmp_path):
    from tests.conftest import empty

    far = tmp_path / "far.geojson"
    far.write_text(json.dumps({"type": "FeatureCollection", "features": [_square(121.5, 31.2, 0.01)]}))
    load_areas(far, tier="grid", source="far")
    with db.scoped(Scope(None)):
        assert city_extent()[0] > 121
    empty(empty_db)  # batch ids start again from 1: the extent must not be taken for the one kept
    load_areas(SAMPLES / "sample_grids.geojson", tier="grid", source="sample")
    with db.scoped(Scope(None)):
        assert city_extent()[0] < 121
