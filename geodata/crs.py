"""Coordinates to and from WGS-84 (EPSG:4326) from the systems Chinese city data uses.

GCJ-02 (the "Mars" coordinates of Amap and Tencent) and BD-09 (Baidu) are
obfuscations of WGS-84 with no EPSG code, so they are implemented here; any other
``EPSG:n`` code goes through pyproj. Every function takes ``(lon, lat)`` in that
order (x/y in metres for projected codes), is vectorised over numpy arrays and
returns a ``(lon, lat)`` tuple of float64 arrays. NaN stays NaN.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Callable

import numpy as np
import pyproj
from numpy.typing import ArrayLike, NDArray
from pyproj.exceptions import CRSError

from geodata.errors import InputError

Coords = tuple[NDArray[np.float64], NDArray[np.float64]]

_A = 6378245.0  # Krasovsky 1940 semi-major axis, metres
_EE = 0.00669342162296594323  # Krasovsky 1940 first eccentricity squared
_X_PI = np.pi * 3000.0 / 180.0
# The conventional rough box; public implementations leave points outside it alone.
_WEST, _SOUTH, _EAST, _NORTH = 72.004, 0.8293, 137.8347, 55.8271
_TOLERANCE_DEG = 1e-9  # about 0.1 mm
_MAX_ITERATIONS = 10
_NAMES = {
    "wgs84": "wgs84", "epsg:4326": "wgs84", "cgcs2000": "cgcs2000", "epsg:4490": "cgcs2000",
    "gcj02": "gcj02", "amap": "gcj02", "gaode": "gcj02", "autonavi": "gcj02",
    "tencent": "gcj02", "mars": "gcj02", "bd09": "bd09", "bd09ll": "bd09", "baidu": "bd09",
}  # fmt: skip
_ACCEPTED = "wgs84, cgcs2000, gcj02 (amap, gaode), bd09 (baidu) or EPSG:<code> like EPSG:4549"


def normalise_crs(name: str) -> str:
    """Return the key for a name: ``wgs84``, ``cgcs2000``, ``gcj02``, ``bd09`` or ``EPSG:<n>``.

    Parameters
    ----------
    name : str
        Such as ``"wgs84"``, ``"GCJ-02"``, ``"baidu"`` or ``"EPSG:4549"``; case,
        spaces, ``-`` and ``_`` are ignored.

    Raises
    ------
    InputError
        If the name or code is unknown, or not a 2-D geographic or projected system.

    Examples
    --------
    >>> normalise_crs("Gaode"), normalise_crs("epsg:4490"), normalise_crs("EPSG:4549")
    ('gcj02', 'cgcs2000', 'EPSG:4549')
    """
    key = re.sub(r"[\s_-]", "", name.lower()) if isinstance(name, str) else ""
    if key in _NAMES:
        return _NAMES[key]
    match = re.fullmatch(r"epsg:(\d{1,6})", key)
    if match is None:
        raise InputError(f"Unknown coordinate system {name!r}; use {_ACCEPTED}.")
    _horizontal_crs(int(match.group(1)))
    return f"EPSG:{int(match.group(1))}"


def in_china(lon: ArrayLike, lat: ArrayLike) -> NDArray[np.bool_]:
    """Return True where a point lies in the rough box GCJ-02 and BD-09 apply to.

    Examples
    --------
    >>> in_china([116.4, 139.7, float("nan")], [39.9, 35.7, 30.0]).tolist()
    [True, False, False]
    """
    return _inside(*_as_arrays(lon, lat))


def wgs84_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> Coords:
    """Shift WGS-84 degrees to GCJ-02; points outside China are returned unchanged.

    Examples
    --------
    >>> [round(float(v), 6) for v in wgs84_to_gcj02(116.404, 39.915)]
    [116.410244, 39.916404]
    """
    return _apply_in_china(_gcj02_forward, lon, lat)


def gcj02_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> Coords:
    """Invert :func:`wgs84_to_gcj02` by iteration, to well under a millimetre.

    The box test is on the GCJ-02 input, as is the convention, so a point within the
    shift (about 1 km) of the box edge may not round-trip; none of China is that near.

    Examples
    --------
    >>> [round(float(v), 7) for v in gcj02_to_wgs84(116.41024449916938, 39.91640428150164)]
    [116.404, 39.915]
    """
    return _apply_in_china(_gcj02_inverse, lon, lat)


def gcj02_to_bd09(lon: ArrayLike, lat: ArrayLike) -> Coords:
    """Shift GCJ-02 degrees to Baidu's BD-09.

    Examples
    --------
    >>> [round(float(v), 6) for v in gcj02_to_bd09(116.404, 39.915)]
    [116.410369, 39.921337]
    """
    return _apply_in_china(_bd09_forward, lon, lat)


def bd09_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> Coords:
    """Invert :func:`gcj02_to_bd09`: the usual closed form, refined by iteration.

    Examples
    --------
    >>> [round(float(v), 7) for v in bd09_to_gcj02(116.41036949371029, 39.92133699351021)]
    [116.404, 39.915]
    """
    return _apply_in_china(_bd09_inverse, lon, lat)


def wgs84_to_bd09(lon: ArrayLike, lat: ArrayLike) -> Coords:
    """Shift WGS-84 degrees to BD-09, through GCJ-02.

    Examples
    --------
    >>> [round(float(v), 6) for v in wgs84_to_bd09(121.0917077, 30.6107779)]
    [121.102717, 30.614846]
    """
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> Coords:
    """Convert BD-09 degrees to WGS-84, through GCJ-02.

    Examples
    --------
    >>> [round(float(v), 6) for v in bd09_to_wgs84(121.10271732371203, 30.61484572185035)]
    [121.091708, 30.610778]
    """
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


def to_wgs84(lon: ArrayLike, lat: ArrayLike, crs: str) -> Coords:
    """Convert coordinates in ``crs`` to WGS-84 longitude and latitude in degrees.

    CGCS2000 is returned as is: it differs from WGS-84 by well under a metre.

    Parameters
    ----------
    lon, lat : array_like
        Degrees, or easting and northing in metres for a projected code such as
        ``EPSG:4549`` (CGCS2000 3-degree Gauss-Kruger, central meridian 120E).
    crs : str
        Any name :func:`normalise_crs` accepts.

    Examples
    --------
    >>> [round(float(v), 6) for v in to_wgs84(500000.0, 3000000.0, "EPSG:4549")]
    [120.0, 27.111636]
    """
    key = normalise_crs(crs)
    if key in _TO_WGS84:
        return _TO_WGS84[key](lon, lat)
    return _pyproj_transform(_transformer(key, "EPSG:4326"), lon, lat)


def from_wgs84(lon: ArrayLike, lat: ArrayLike, crs: str) -> Coords:
    """Convert WGS-84 degrees to ``crs``, the reverse of :func:`to_wgs84`.

    Examples
    --------
    >>> [round(float(v), 6) for v in from_wgs84(116.404, 39.915, "gcj-02")]
    [116.410244, 39.916404]
    """
    key = normalise_crs(crs)
    if key in _FROM_WGS84:
        return _FROM_WGS84[key](lon, lat)
    return _pyproj_transform(_transformer("EPSG:4326", key), lon, lat)


def _as_arrays(lon: ArrayLike, lat: ArrayLike) -> Coords:
    try:
        lon, lat = np.broadcast_arrays(np.asarray(lon, np.float64), np.asarray(lat, np.float64))
    except (TypeError, ValueError) as error:
        raise InputError(
            f"Coordinates must be numbers, one longitude per latitude: {error}"
        ) from error
    return lon.copy(), lat.copy()


def _inside(lon: np.ndarray, lat: np.ndarray) -> NDArray[np.bool_]:
    return (lon >= _WEST) & (lon <= _EAST) & (lat >= _SOUTH) & (lat <= _NORTH)


def _apply_in_china(shift: Callable[[np.ndarray, np.ndarray], Coords], lon, lat) -> Coords:
    lon, lat = _as_arrays(lon, lat)
    inside = _inside(lon, lat)
    if inside.any():
        lon[inside], lat[inside] = shift(lon[inside], lat[inside])
    return lon, lat


def _gcj02_forward(lon: np.ndarray, lat: np.ndarray) -> Coords:
    x, y = lon - 105.0, lat - 35.0
    shared = 20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    dlat += (shared + 20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    dlat += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    dlon += (shared + 20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    dlon += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    rad_lat = np.radians(lat)
    magic = 1.0 - _EE * np.sin(rad_lat) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = dlat * 180.0 / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * np.pi)
    dlon = dlon * 180.0 / (_A / sqrt_magic * np.cos(rad_lat) * np.pi)
    return lon + dlon, lat + dlat


def _gcj02_inverse(lon: np.ndarray, lat: np.ndarray) -> Coords:
    shifted_lon, shifted_lat = _gcj02_forward(lon, lat)
    return _invert(_gcj02_forward, lon, lat, 2 * lon - shifted_lon, 2 * lat - shifted_lat)


def _bd09_forward(lon: np.ndarray, lat: np.ndarray) -> Coords:
    z = np.hypot(lon, lat) + 0.00002 * np.sin(lat * _X_PI)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def _bd09_inverse(lon: np.ndarray, lat: np.ndarray) -> Coords:
    x, y = lon - 0.0065, lat - 0.006
    z = np.hypot(x, y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    # The published closed form misses by up to ~0.2 m; iterating makes the round trip exact.
    return _invert(_bd09_forward, lon, lat, z * np.cos(theta), z * np.sin(theta))


def _invert(forward: Callable[..., Coords], target_lon, target_lat, lon, lat) -> Coords:
    # Both obfuscations are the identity plus an offset whose slope is about 1e-3, so
    # fixed-point steps gain about three digits each and two or three suffice.
    for _ in range(_MAX_ITERATIONS):
        got_lon, got_lat = forward(lon, lat)
        step_lon, step_lat = target_lon - got_lon, target_lat - got_lat
        lon, lat = lon + step_lon, lat + step_lat
        if max(np.abs(step_lon).max(), np.abs(step_lat).max()) < _TOLERANCE_DEG:
            break
    return lon, lat


@lru_cache(maxsize=None)
def _horizontal_crs(code: int) -> pyproj.CRS:
    try:
        crs = pyproj.CRS.from_epsg(code)
    except CRSError as error:
        raise InputError(f"Unknown coordinate system 'EPSG:{code}'; use {_ACCEPTED}.") from error
    if not (crs.is_geographic or crs.is_projected) or len(crs.axis_info) != 2:
        raise InputError(f"EPSG:{code} ({crs.name}) is not a 2-D system; use {_ACCEPTED}.")
    return crs


@lru_cache(maxsize=None)
def _transformer(source: str, target: str) -> pyproj.Transformer:
    # pyproj >= 3.1 gives each thread its own PROJ context, so one cached instance is safe.
    return pyproj.Transformer.from_crs(source, target, always_xy=True)


def _pyproj_transform(transformer: pyproj.Transformer, x: ArrayLike, y: ArrayLike) -> Coords:
    out_x, out_y = transformer.transform(*_as_arrays(x, y))
    return np.asarray(out_x, np.float64), np.asarray(out_y, np.float64)


_TO_WGS84 = {
    "wgs84": _as_arrays, "cgcs2000": _as_arrays, "gcj02": gcj02_to_wgs84, "bd09": bd09_to_wgs84,
}  # fmt: skip
_FROM_WGS84 = {
    "wgs84": _as_arrays, "cgcs2000": _as_arrays, "gcj02": wgs84_to_gcj02, "bd09": wgs84_to_bd09,
}  # fmt: skip
