"""The coordinate systems the OGC API offers (Part 2): their URIs, and features and boxes moved between them.

Features are stored and built in WGS-84 longitude, latitude (``CRS84``, the default). A request for
``EPSG:4326``, ``EPSG:4490`` (CGCS2000) or ``EPSG:4549`` (CGCS2000 3-degree Gauss-Kruger, 120° E) gets its
coordinates in that system's own axis order, as Part 2 requires: latitude first for the two geographic
systems, northing first for EPSG:4549. A ``bbox`` given with ``bbox-crs`` is read in that order too.

Examples
--------
>>> to_crs([{"type": "Feature", "geometry": {"type": "Point", "coordinates": [120.1, 30.2]}, "properties": {}}],
...        EPSG + "4490")[0]["geometry"]["coordinates"]
(30.2, 120.1)
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pyproj
import shapely

from geodata.errors import InputError
from layers.base import BBox

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG = "http://www.opengis.net/def/crs/EPSG/0/"
# URI -> what pyproj calls it; the order is the order collections list them in.
SYSTEMS: dict[str, str] = {CRS84: "OGC:CRS84", EPSG + "4326": "EPSG:4326", EPSG + "4490": "EPSG:4490",
                           EPSG + "4549": "EPSG:4549"}
# Short spellings a person may type in a URL.
_SHORT = {"crs84": CRS84, "ogc:crs84": CRS84, "epsg:4326": EPSG + "4326", "epsg:4490": EPSG + "4490",
          "epsg:4549": EPSG + "4549"}
_DECIMALS = {True: 3, False: 7}  # millimetres in metres, about a centimetre in degrees
_EDGE_POINTS = 21  # points along each edge of a box transformed, so a curved edge's extreme is not missed


def parse_crs(text: str, what: str = "crs") -> str:
    """The URI of a supported system from its URI (``<…>`` allowed) or a short name like ``EPSG:4549``."""
    key = text.strip().strip("[]<>")
    uri = key if key in SYSTEMS else _SHORT.get(key.lower())
    if uri is None:
        raise InputError(f"{what} '{text[:80]}' is not offered; use one of {', '.join(SYSTEMS)}")
    return uri


def is_projected(uri: str) -> bool:
    return pyproj.CRS.from_user_input(SYSTEMS[uri]).is_projected


@lru_cache(maxsize=None)
def _transformer(source: str, target: str) -> pyproj.Transformer:
    # Not always_xy: each side keeps its own axis order (CRS84 lon-lat, EPSG:4326 lat-lon, EPSG:4549 north-east).
    return pyproj.Transformer.from_crs(SYSTEMS[source], SYSTEMS[target])


def to_crs(features: list[dict], uri: str) -> list[dict]:
    """Copies of CRS84 ``features`` with their coordinates in ``uri``'s system and axis order, rounded."""
    if uri == CRS84:
        return features
    transformer, decimals = _transformer(CRS84, uri), _DECIMALS[is_projected(uri)]

    def move(xy: np.ndarray) -> np.ndarray:
        first, second = transformer.transform(xy[:, 0], xy[:, 1])
        return np.round(np.column_stack([first, second]), decimals)

    geometries = shapely.transform(np.array([shapely.geometry.shape(f["geometry"]) for f in features]), move)
    return [{**f, "geometry": shapely.geometry.mapping(g)} for f, g in zip(features, geometries)]


def bbox_to_crs84(bbox: tuple[float, ...], uri: str) -> BBox:
    """A box given in ``uri``'s axis order as (west, south, east, north) degrees enclosing it."""
    low1, low2, high1, high2 = bbox
    if low1 > high1 or low2 > high2:
        raise InputError(f"bbox {','.join(f'{v:g}' for v in bbox)} has a lower corner above its upper one")
    if uri == CRS84:
        return low1, low2, high1, high2
    ramp = np.linspace(0.0, 1.0, _EDGE_POINTS)
    first = np.concatenate([low1 + (high1 - low1) * ramp, np.full(_EDGE_POINTS, high1),
                            high1 - (high1 - low1) * ramp, np.full(_EDGE_POINTS, low1)])
    second = np.concatenate([np.full(_EDGE_POINTS, low2), low2 + (high2 - low2) * ramp,
                             np.full(_EDGE_POINTS, high2), high2 - (high2 - low2) * ramp])
    lon, lat = _transformer(uri, CRS84).transform(first, second)
    if not (np.isfinite(lon).all() and np.isfinite(lat).all()):
        raise InputError(f"bbox {','.join(f'{v:g}' for v in bbox)} lies outside where {SYSTEMS[uri]} is defined")
    return (max(float(lon.min()), -180.0), max(float(lat.min()), -90.0),
            min(float(lon.max()), 180.0), min(float(lat.max()), 90.0))
