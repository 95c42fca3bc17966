"""The layers, by the ids the map, the exports and the OGC API share."""

from __future__ import annotations

from collections.abc import Callable

from geodata.errors import InputError
from geodata.scope import Scope
from layers import areas, coverage, early_warning, emerging, facilities, hexes, hotspots, limits, supervision_map
from layers.base import Filters, LayerResult

LAYERS: dict[str, Callable[[Filters, Scope], LayerResult]] = {
    "areas": areas.build,
    "hexes": hexes.build,
    "hotspots": hotspots.build,
    "emerging": emerging.build,
    "coverage": coverage.build,
    "facilities": facilities.build,
    "warnings": early_warning.build,
    "supervision": supervision_map.build,
}


def build(layer: str, filters: Filters, scope: Scope) -> LayerResult:
    """``layer`` for ``filters`` and ``scope``, after its cost is estimated and checked against its limit
    (``layers.limits``): the one path the map, the exports and the OGC API share, so none skips the check."""
    try:
        builder = LAYERS[layer]
    except KeyError:
        raise InputError(f"unknown layer '{layer}'; layers: {', '.join(LAYERS)}") from None
    found = limits.check(layer, filters, scope)
    with limits.heavy_slot(found.bytes > limits.HEAVY_BYTES):
        return builder(filters, scope)
