import re

import orjson
import pytest
import shapely

from geodata.errors import InputError
from geodata.scope import Scope
from layers.base import Filters
from layers.registry import LAYERS, build
from tests.layers.tiers import CITY

HEX_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_every_layer_returns_valid_features_that_name_their_grid_and_a_legend(city, layer):
    result = build(layer, Filters(bbox=CITY, zoom=11, res=8, tier="grid"), Scope.everything())
    collection = orjson.loads(orjson.dumps(result.geojson()))  # plain JSON, as the map and the exports get it
    for feature in collection["features"]:
        assert "grid_code" in feature["properties"]
        geometry = shapely.geometry.shape(feature["geometry"])
        assert geometry.is_valid and not geometry.is_empty
        assert shapely.box(*CITY).buffer(0.05).contains(geometry)
    assert all(HEX_COLOUR.match(entry.colour) for entry in result.legend)
    assert isinstance(result.summary, dict) and isinstance(result.style, dict)


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_every_layer_keeps_to_the_scope(city, layer):
    result = build(layer, Filters(bbox=CITY, zoom=11, res=8, tier="grid"), Scope("C.C2"))
    codes = {f["properties"]["grid_code"] for f in result.features if f["properties"]["grid_code"]}
    assert all(code.startswith("C2") for code in codes), codes


def test_an_unknown_layer_is_refused_with_the_known_ones():
    with pytest.raises(InputError, match="unknown layer 'heat'; layers: areas, hexes"):
        build("heat", Filters(), Scope.everything())
