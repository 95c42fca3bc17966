"""An incident tile that would pass its cap, drawn as counts per H3 cell instead (docs/tiles.md).

A capped tile of points keeps some of them and drops the rest, so a dense city core would look emptier than
the countryside around it, with a seam at each tile's edge. Past the cap a tile holds instead the layer
``incident_cells``: every H3 cell meeting the tile, as its hexagon, with ``h3`` and ``count``, the count of
all the cell's incidents under the tile's filters (whole, never only the part inside the tile, so a hexagon
drawn on two tiles reads the same on both). The counts are the hexagon layer's own (``layers.hexes
.cell_counts``: from the cubes where they answer, else from the incidents), at a resolution that suits the
zoom (``res_of_zoom``).
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from geodata.db import fetch_value
from geodata.h3cells import cell_to_hex, cells_to_rings_lonlat
from geodata.scope import Scope
from layers.base import Filters
from layers.hexes import cell_counts

LAYER = "incident_cells"
FIELDS = {"h3": "String", "count": "Number"}
MIN_RES, MAX_RES = 7, 10
# A tile at zoom z is 40,075 km / 2^z across at the equator; at res z - 3 about 30-60 cells span it, so a
# hexagon is 70-140 px of a 4096-unit tile: small enough to show where the incidents are, big enough to read.
RES_BELOW_ZOOM = 3

CELL_TILE = """
WITH cells AS (
  SELECT c.h3, c.n AS count, ST_GeomFromText(c.wkt, 4326) AS geom
  FROM unnest(%(h3)s::text[], %(counts)s::int[], %(wkt)s::text[]) AS c(h3, n, wkt)
), features AS (
  SELECT h3, count, ST_AsMVTGeom(ST_Transform(geom, 3857), ST_TileEnvelope(%(z)s, %(x)s, %(y)s), %(extent)s,
                                 %(buffer)s, true) AS geom
  FROM cells
)
SELECT ST_AsMVT(features, '""" + LAYER + """', %(extent)s, 'geom') FROM features WHERE geom IS NOT NULL
"""


def res_of_zoom(zoom: int) -> int:
    """The H3 resolution of a tile's cells at ``zoom``: r7 up to zoom 10, one finer per zoom, r10 from 13."""
    return min(MAX_RES, max(MIN_RES, zoom - RES_BELOW_ZOOM))


def tile_box_lonlat(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """A web mercator tile as west, south, east, north in degrees."""
    side = 2**z

    def lat(row: int) -> float:
        return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * row / side))))

    return x / side * 360 - 180, lat(y + 1), (x + 1) / side * 360 - 180, lat(y)


def _wkt(ring: list[list[float]]) -> str:
    return "POLYGON((" + ",".join(f"{lon} {lat}" for lon, lat in ring) + "))"


def cell_tile(z: int, x: int, y: int, filters: Filters, scope: Scope, extent: int, buffer: int,
              timeout_ms: int) -> bytes:
    """The tile's incidents as counts per H3 cell (empty bytes when it holds none)."""
    view = replace(filters, bbox=tile_box_lonlat(z, x, y), res=res_of_zoom(z), zoom=z)
    counts = sorted(cell_counts(view, scope))  # by cell: the same tile is the same bytes, whatever the plan's order
    if not counts:
        return b""
    cells = np.array([cell for cell, _ in counts], dtype=np.int64)
    rings = cells_to_rings_lonlat(cells)
    params = {"h3": [cell_to_hex(int(c)) for c in cells], "counts": [n for _, n in counts],
              "wkt": [_wkt(ring) for ring in rings], "z": z, "x": x, "y": y, "extent": extent, "buffer": buffer}
    return bytes(fetch_value(CELL_TILE, params, timeout_ms=timeout_ms) or b"")
