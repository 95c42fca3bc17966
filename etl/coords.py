"""Coordinates of rows: from lon/lat columns, a WKT column or point geometries; checked and made WGS-84."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import numpy as np
import pandas as pd
import shapely

from etl.readers import Table
from etl.rejects import RowErrors
from geodata.crs import to_wgs84
from geodata.errors import BatchRefused

CHINA_EXTENT = (73.4, 18.1, 135.1, 53.6)  # lon_min, lat_min, lon_max, lat_max
_TYPE_NAMES = {0: "Point", 1: "LineString", 2: "LinearRing", 3: "Polygon", 4: "MultiPoint", 5: "MultiLineString",
               6: "MultiPolygon", 7: "GeometryCollection"}


def file_crs(table: Table) -> str | None:
    """The CRS a vector file declares, as ``EPSG:n``; None when it declares none."""
    crs = getattr(table.frame, "crs", None)
    if crs is None:
        return None
    epsg = crs.to_epsg()
    if epsg is None:
        raise BatchRefused(f"the file's coordinate system has no EPSG code ({crs.name}); name it with --crs")
    return f"EPSG:{epsg}"


def type_names(geoms: np.ndarray) -> pd.Series:
    return pd.Series(shapely.get_type_id(geoms)).map(_TYPE_NAMES).fillna("nothing")


def _points(geoms: np.ndarray, index: pd.Index, what: str, when_empty: str, errors: RowErrors,
            reported: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """lon/lat of point geometries; anything else is rejected (NaN), unless ``reported`` already."""
    empty = ~reported & (shapely.is_missing(geoms) | shapely.is_empty(geoms))
    errors.add(pd.Series(empty, index=index), when_empty)
    not_point = ~reported & ~empty & (shapely.get_type_id(geoms) != 0)
    errors.add(pd.Series(not_point, index=index),
               lambda: pd.Series(f"{what} is a ", index=index) + type_names(geoms).set_axis(index) + ", expected a point")
    # get_x refuses empty points on GEOS 3.14: only real points reach it.
    points = np.where(reported | empty | not_point, None, geoms)
    return shapely.get_x(points), shapely.get_y(points)


def raw_coordinates(table: Table, mapping: dict[str, str], errors: RowErrors) -> tuple[np.ndarray, np.ndarray, Callable[[], pd.Series]]:
    """lon, lat as given (in the input CRS) and a text quoting them for messages.

    Rows whose WKT or geometry is unusable are rejected here, with NaN coordinates.
    """
    frame = table.frame
    index = frame.index
    if "lon" in mapping and "lat" in mapping:
        raw_lon = frame[mapping["lon"]].fillna("").astype(str).str.strip()
        raw_lat = frame[mapping["lat"]].fillna("").astype(str).str.strip()
        lon = pd.to_numeric(raw_lon, errors="coerce").to_numpy(dtype=float)
        lat = pd.to_numeric(raw_lat, errors="coerce").to_numpy(dtype=float)
        return lon, lat, lambda: "(" + raw_lon + ", " + raw_lat + ")"
    if "wkt" in mapping:
        text = frame[mapping["wkt"]].fillna("").astype(str).str.strip()
        geoms = shapely.from_wkt(text.to_numpy(dtype=object), on_invalid="ignore")
        unreadable = shapely.is_missing(geoms) & (text != "").to_numpy()
        errors.add(pd.Series(unreadable, index=index), lambda: "WKT '" + text.str.slice(0, 60) + "' is not readable")
        lon, lat = _points(geoms, index, "WKT", "WKT is empty", errors, reported=unreadable)
        return lon, lat, lambda: ("'" + text.str.slice(0, 60) + "'").where(np.isfinite(lon), "")
    if "geometry" in frame.columns:
        geoms = np.asarray(frame.geometry.values, dtype=object)
        lon, lat = _points(geoms, index, "geometry", "feature has no geometry", errors,
                           reported=np.zeros(len(geoms), dtype=bool))

        def quoted() -> pd.Series:  # unusable geometries are reported already
            text = pd.Series(np.char.mod("(%.6f, ", lon).astype(object), index=index) + np.char.mod("%.6f)", lat)
            return text.where(np.isfinite(lon), "")

        return lon, lat, quoted
    raise BatchRefused(
        f"the file has no coordinates: no lon/lat columns, no WKT column and no geometries "
        f"(columns: {', '.join(map(str, frame.columns))}); name them with --field lon=COLUMN lat=COLUMN or --field wkt=COLUMN"
    )


def check_coordinates(lon: pd.Series, lat: pd.Series, quote: Callable[[], pd.Series],
                      extent: tuple[float, float, float, float], extent_name: str, errors: RowErrors) -> None:
    """Reject non-numbers, (0, 0), swapped axes and points outside the extent; ``quote()`` quotes the input."""
    missing = lon.isna() | lat.isna()
    raw = cache(quote)
    if missing.any():  # rows with an unusable WKT or geometry were reported already, unquoted
        errors.add(missing & raw().str.startswith("("), lambda: "coordinates " + raw() + " are not numbers")
    x0, y0, x1, y1 = extent
    zero = ~missing & (lon.abs() < 1e-9) & (lat.abs() < 1e-9)
    errors.add(zero, "coordinates are (0, 0): the point was never geocoded")
    inside = lon.between(x0, x1) & lat.between(y0, y1)
    swapped = ~missing & ~zero & ~inside & lat.between(x0, x1) & lon.between(y0, y1)
    errors.add(swapped, lambda: "latitude and longitude look swapped in " + raw()
               + "; swap the columns or map them with --field lon=… --field lat=…")
    outside = ~missing & ~zero & ~inside & ~swapped
    errors.add(outside, lambda: "point " + raw() + f" is outside {extent_name} (lon {x0:.3f} to {x1:.3f}, lat {y0:.3f} to {y1:.3f})")


def wgs84_points(table: Table, mapping: dict[str, str], crs: str | None, extent, extent_name: str,
                 errors: RowErrors) -> tuple[pd.Series, pd.Series]:
    """Checked WGS-84 lon/lat of every row (NaN where rejected)."""
    lon_in, lat_in, raw = raw_coordinates(table, mapping, errors)
    source_crs = crs or file_crs(table) or "wgs84"
    ok = np.isfinite(lon_in) & np.isfinite(lat_in)
    lon_w, lat_w = np.full(len(lon_in), np.nan), np.full(len(lat_in), np.nan)
    if ok.any():
        lon_w[ok], lat_w[ok] = to_wgs84(lon_in[ok], lat_in[ok], source_crs)
    index = table.frame.index
    lon, lat = pd.Series(lon_w, index=index), pd.Series(lat_w, index=index)
    check_coordinates(lon, lat, raw, extent or CHINA_EXTENT, extent_name if extent else "China", errors)
    return lon, lat
