"""Apportion H3 cells to the areas (grids) they overlap, by area.

A hotspot is found on hexagons, but a person is accountable for a hand-drawn
grid. Each cell is therefore split among the grids it overlaps: ``share`` is
the fraction of the *cell* inside a grid (the weight to pass a hex's value on
to grids), ``area_share`` the fraction of the *grid* the cell covers (the
weight to pass a grid's value on to hexes). ``dominant_area`` names the one
grid that answers for a hex.

Areas are measured in a Lambert azimuthal equal-area projection (ellipsoidal,
``+proj=laea``) centred on the middle of the data's bounding box: it keeps
areas exact wherever the data lies, so shares are true area ratios rather than
ratios of square degrees.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import shapely
from arro3.core import list_flatten, list_offsets
from h3ronpy import ContainmentMode
from h3ronpy.vector import cells_to_wkb_polygons, wkb_to_cells
from pyproj import Transformer

from geodata.errors import InputError
from geodata.h3cells import RESOLUTIONS

__all__ = ["NEGLIGIBLE", "cells_of_areas", "dominant_area"]

NEGLIGIBLE = 1e-6
"""Overlaps at or below this fraction of both the cell and the area are dropped."""

_POLYGON_TYPES = (3, 6)  # shapely type ids of Polygon and MultiPolygon
_COLUMNS = {"code": "str", "cell": "int64", "share": "float32", "area_share": "float32"}


def cells_of_areas(codes: Sequence[str], polygons: np.ndarray, res: int) -> pd.DataFrame:
    """Every H3 cell overlapping each area, with the share of the overlap.

    Parameters
    ----------
    codes : sequence of str
        One unique code per area.
    polygons : numpy.ndarray of shapely Polygon or MultiPolygon
        The areas, in longitude/latitude (WGS-84), aligned with ``codes``.
        Holes and multiple parts are honoured.
    res : int
        H3 resolution, 7 to 10.

    Returns
    -------
    pandas.DataFrame
        One row per (area, cell) pair, ordered by area (input order) then cell,
        with columns ``code`` (str), ``cell`` (int64 H3 index), ``share``
        (float32, the fraction of the cell's area inside the area,
        0 < share <= 1; exactly 1 for a cell wholly inside) and
        ``area_share`` (float32, the fraction of the area's area in the cell;
        it sums to 1 per area). Pairs overlapping by no more than
        ``NEGLIGIBLE`` of both the cell and the area are left out, so an area
        smaller than a cell still gets its cell. For areas that do not
        overlap each other, a cell's shares sum to the fraction of it the
        areas cover: 1 inside a partition.

    Raises
    ------
    geodata.errors.InputError
        If ``res`` is not 7 to 10, the lengths differ, codes repeat, or a
        geometry is missing, empty, invalid, not polygonal or not lon/lat.

    Examples
    --------
    >>> import shapely
    >>> halves = np.array([shapely.box(120.10, 30.20, 120.15, 30.25), shapely.box(120.15, 30.20, 120.20, 30.25)])
    >>> frame = cells_of_areas(["west", "east"], halves, 8)
    >>> float(frame["share"].max()), int(frame.groupby("cell")["code"].nunique().max())
    (1.0, 2)
    >>> frame.groupby("code")["area_share"].sum().round(4).tolist()
    [1.0, 1.0]
    """
    _check_res(res)
    codes, polygons = _checked_areas(codes, polygons)
    if len(codes) == 0:
        return _frame(codes, np.empty(0, np.intp), np.empty(0, np.int64), np.empty(0), np.empty(0))
    area_of_pair, cell_of_pair = _candidate_pairs(polygons, res)
    cells, cell_index = np.unique(cell_of_pair, return_inverse=True)
    to_metres = _equal_area_transform(polygons)
    areas_m = shapely.transform(polygons, to_metres, interleaved=False)
    hexes_m = shapely.transform(shapely.from_wkb(np.asarray(cells_to_wkb_polygons(cells.astype(np.uint64)))),
                                to_metres, interleaved=False)
    shapely.prepare(areas_m)
    area_m2 = shapely.area(areas_m)[area_of_pair]
    cell_m2 = shapely.area(hexes_m)[cell_index]
    pair_areas, pair_hexes = areas_m[area_of_pair], hexes_m[cell_index]
    # Cells wholly inside need no overlay: containment in a prepared area costs
    # well under a microsecond a pair, an intersection about twelve.
    overlap = cell_m2.copy()
    edge = ~shapely.contains_properly(pair_areas, pair_hexes)
    overlap[edge] = shapely.area(shapely.intersection(pair_areas[edge], pair_hexes[edge]))
    kept = overlap > NEGLIGIBLE * np.minimum(cell_m2, area_m2)
    share = np.minimum(overlap[kept] / cell_m2[kept], 1.0)
    return _frame(codes, area_of_pair[kept], cells[cell_index[kept]], share, overlap[kept] / area_m2[kept])


def dominant_area(frame: pd.DataFrame) -> pd.Series:
    """The code holding the largest share of each cell.

    Parameters
    ----------
    frame : pandas.DataFrame
        Rows as returned by :func:`cells_of_areas` (``code``, ``cell``,
        ``share``).

    Returns
    -------
    pandas.Series
        Codes indexed by cell (``int64``, ascending), named ``code``. Equal
        shares go to the smallest code, so the answer never depends on row
        order.

    Examples
    --------
    >>> rows = pd.DataFrame({"code": ["b", "a", "c"], "cell": [1, 1, 2], "share": [0.5, 0.5, 1.0]})
    >>> dominant_area(rows).to_dict()
    {1: 'a', 2: 'c'}
    """
    ordered = frame.sort_values(["cell", "share", "code"], ascending=[True, False, True], kind="stable")
    first = ordered.drop_duplicates("cell", keep="first")
    return pd.Series(first["code"].to_numpy(), index=pd.Index(first["cell"].to_numpy(np.int64), name="cell"),
                     name="code", dtype=frame["code"].dtype)


def _check_res(res: int) -> None:
    if isinstance(res, bool) or not isinstance(res, (int, np.integer)) or int(res) not in RESOLUTIONS:
        raise InputError(f"H3 resolution must be one of {', '.join(map(str, RESOLUTIONS))}, not {res!r}")


def _checked_areas(codes: Sequence[str], polygons: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    codes = np.asarray([str(code) for code in codes], dtype=object)
    polygons = np.asarray(polygons, dtype=object).reshape(-1)
    if len(codes) != len(polygons):
        raise InputError(f"{len(codes)} codes but {len(polygons)} polygons")
    repeated = pd.Index(codes)[pd.Index(codes).duplicated()].unique()
    if len(repeated):
        raise InputError(f"area codes must be unique; repeated: {_some(repeated)}")
    if len(codes) == 0:
        return codes, polygons
    not_polygonal = ~np.isin(shapely.get_type_id(polygons), _POLYGON_TYPES)
    if not_polygonal.any():
        raise InputError(f"areas must be polygons or multipolygons: {_some(codes[not_polygonal])}")
    bad = shapely.is_empty(polygons) | ~shapely.is_valid(polygons)
    if bad.any():
        raise InputError(f"areas with empty or invalid geometry (fix with a topology check): {_some(codes[bad])}")
    xmin, ymin, xmax, ymax = shapely.bounds(polygons).T
    off_globe = (xmin < -180) | (xmax > 180) | (ymin < -90) | (ymax > 90)
    if off_globe.any():
        raise InputError(f"areas must be in longitude/latitude (WGS-84); these look projected: {_some(codes[off_globe])}")
    return codes, polygons


def _some(codes: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(map(str, list(codes)[:limit]))
    return shown + (f" and {len(codes) - limit} more" if len(codes) > limit else "")


def _candidate_pairs(polygons: np.ndarray, res: int) -> tuple[np.ndarray, np.ndarray]:
    # Covers also returns the one cell enclosing an area too small to reach
    # any cell boundary, which IntersectsBoundary would miss.
    nested = wkb_to_cells(shapely.to_wkb(polygons), res, ContainmentMode.Covers)
    offsets = np.asarray(list_offsets(nested)).astype(np.intp)
    cells = np.asarray(list_flatten(nested)).astype(np.int64)
    return np.repeat(np.arange(len(polygons)), np.diff(offsets)), cells


def _equal_area_transform(polygons: np.ndarray) -> Callable:
    xmin, ymin, xmax, ymax = shapely.total_bounds(polygons)
    laea = f"+proj=laea +lat_0={(ymin + ymax) / 2} +lon_0={(xmin + xmax) / 2} +ellps=WGS84 +units=m +no_defs"
    return Transformer.from_crs("EPSG:4326", laea, always_xy=True).transform


def _frame(codes: np.ndarray, area_index: np.ndarray, cells: np.ndarray, share: np.ndarray,
           area_share: np.ndarray) -> pd.DataFrame:
    order = np.lexsort((cells, area_index))
    frame = pd.DataFrame({
        "code": codes[area_index[order]],
        "cell": cells[order],
        "share": share[order],
        "area_share": area_share[order],
    })
    return frame.astype(_COLUMNS)
