"""Facility reach: facilities by type with their service radius, and the cells they leave uncovered.

Definitions
-----------
- A facility serves the circle of its own ``service_radius_m``; a facility
  without one serves its type's default (``geodata.taxonomy.FACILITY_TYPES``),
  as the loader would have filled it in.
- A place's distance to a type is the distance in metres from the place — the
  centre of an H3 cell, or ``ST_PointOnSurface`` of a grid — to the nearest
  facility of that type, whatever its radius.
- A cell is a blind spot for a type when its centre lies outside the circle of
  every facility of that type (so a far facility with a large radius can cover
  a cell its nearer, smaller neighbour does not).
- The types counted are the ``types`` asked for, by default every type with at
  least one facility in the database: a type the city does not record is no gap.
- Facilities outside the scope or the view still count for distances and
  coverage (a fire station across the district line serves the district) but
  are drawn only when inside both.

Distances are measured on a transverse Mercator projection (GRS80) whose
central meridian is the middle of the places, one k-d tree per type. Its scale
error is about (Δλ·cos φ)²/2 for Δλ the longitude from that meridian: at most
2·10⁻⁴ (2 m in 10 km) across all of Hangzhou, 3·10⁻⁶ in a district 0.3° wide.
They are exact for any view, not only near its edge: facilities are read in the
places' box widened by the largest radius, and a type whose nearest facility
lies beyond that is read again in a box widened to a bound on its distance.
"""

from __future__ import annotations

import functools
import gc
import math
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pandas as pd
from pyproj import Transformer
from scipy.spatial import cKDTree

from geodata.db import fetch_all
from geodata.errors import InputError
from geodata.h3cells import cell_to_hex, cells_to_lonlat, cells_to_rings_lonlat
from geodata.scope import Scope
from geodata.taxonomy import FACILITY_TYPES
from layers.base import BBox, Filters, LayerResult, LegendEntry, view_path
from layers.hotspots import study_area

MAX_FACILITIES = 10_000  # drawn points; past it the small-radius types give way to the large ones
BLIND_SPOT_COLOUR = "#882255"  # Tol's wine: apart from the Okabe–Ito hues of the facility types
UNITS = ("hex", "grid")
# Metres per degree, each a lower bound, so a widened box never falls short.
_M_PER_DEG_LAT = 110_574.0
_M_PER_DEG_LON_EQUATOR = 111_319.0
_WIDEN_SLACK = 1.01  # covers the projection's scale error in the bounds the box is widened by

# Which types exist, and how far their widest facility reaches, decide what is counted and how far to read.
TYPE_REACH = """
SELECT type, max(service_radius_m) AS max_radius_m FROM shiyu.facility GROUP BY type
"""

# Facilities near the places, whatever their scope; ``shown`` marks those in view and scope, the ones drawn.
FACILITIES_NEAR = """
SELECT f.type, f.name, f.service_radius_m, ST_X(f.geom) AS lon, ST_Y(f.geom) AS lat, f.grid_code,
       COALESCE(f.geom && ST_MakeEnvelope(%(view_west)s, %(view_south)s, %(view_east)s, %(view_north)s, 4326)
                AND (%(scope)s::ltree IS NULL OR f.path <@ %(scope)s::ltree), false) AS shown
FROM shiyu.facility f
WHERE f.geom && ST_MakeEnvelope(%(west)s, %(south)s, %(east)s, %(north)s, 4326)
  AND f.type = ANY(%(types)s::text[])
"""

# One facility per type nearest to a point: a bound on every place's distance for a type none of whose
# facilities lies near the places.
NEAREST_TO_POINT = """
SELECT t.type, ST_X(n.geom) AS lon, ST_Y(n.geom) AS lat
FROM unnest(%(types)s::text[]) AS t(type)
CROSS JOIN LATERAL (
    SELECT f.geom FROM shiyu.facility f WHERE f.type = t.type
    ORDER BY f.geom <-> ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326)
    LIMIT 1) n
"""

# Widening again, only what the first read did not hold.
FACILITIES_BEYOND = FACILITIES_NEAR + """
  AND NOT f.geom && ST_MakeEnvelope(%(skip_west)s, %(skip_south)s, %(skip_east)s, %(skip_north)s, 4326)
"""

GRID_POINTS = """
SELECT a.code, a.name, ST_X(p.geom) AS lon, ST_Y(p.geom) AS lat
FROM shiyu.area a CROSS JOIN LATERAL ST_PointOnSurface(a.geom) AS p(geom)
WHERE a.tier = 'grid'
  AND a.geom && ST_MakeEnvelope(%(west)s, %(south)s, %(east)s, %(north)s, 4326)
  AND (%(scope)s::ltree IS NULL OR a.path <@ %(scope)s::ltree)
ORDER BY a.code
"""

_FACILITY_COLUMNS = ("type", "name", "service_radius_m", "lon", "lat", "grid_code", "shown")


def _counted_types(types: tuple[str, ...] | None) -> dict[str, float]:
    """The types counted, each with the largest radius a facility of it has (its default when none is loaded)."""
    unknown = [t for t in types or () if t not in FACILITY_TYPES]
    if unknown:
        raise InputError(f"unknown facility type {', '.join(unknown)}; known: {', '.join(FACILITY_TYPES)}")
    present = {row["type"]: row["max_radius_m"] for row in fetch_all(TYPE_REACH)}
    wanted = types if types else tuple(t for t in FACILITY_TYPES if t in present)
    return {t: max(float(present.get(t) or 0.0), float(FACILITY_TYPES[t].service_radius_m)) for t in wanted}


def _widened(box: BBox, metres: float) -> BBox:
    """``box`` grown so it holds every point within ``metres`` of it."""
    west, south, east, north = box
    dlat = metres * _WIDEN_SLACK / _M_PER_DEG_LAT
    south, north = max(-90.0, south - dlat), min(90.0, north + dlat)
    # A degree of longitude is shortest at the box's poleward edge; widening by that one is enough everywhere.
    shortest = _M_PER_DEG_LON_EQUATOR * max(math.cos(math.radians(max(abs(south), abs(north)))), 1e-6)
    dlon = metres * _WIDEN_SLACK / shortest
    return max(-180.0, west - dlon), south, min(180.0, east + dlon), north


def _projection(lon: np.ndarray) -> Transformer:
    """Transverse Mercator centred on the places, so distances in it are metres on the ground."""
    centre = (float(lon.min()) + float(lon.max())) / 2
    return _transverse_mercator(f"{centre:.6f}")


# Building a transformer costs 50-70 ms; a view asked again (a wall's refresh, a map panned back) reuses it.
@functools.lru_cache(maxsize=64)
def _transverse_mercator(central_meridian: str) -> Transformer:
    return Transformer.from_crs("EPSG:4326", f"+proj=tmerc +lat_0=0 +lon_0={central_meridian} +k=1 +x_0=0 +y_0=0 "
                                "+ellps=GRS80 +units=m +no_defs", always_xy=True)


def _facilities_in(box: BBox, types: list[str], filters: Filters, path: str | None,
                   skip: BBox | None = None) -> pd.DataFrame:
    """Facilities of ``types`` in ``box`` (but not in ``skip``), their radius filled in."""
    west, south, east, north = box
    view_west, view_south, view_east, view_north = filters.bbox
    params = {"west": west, "south": south, "east": east, "north": north, "view_west": view_west,
              "view_south": view_south, "view_east": view_east, "view_north": view_north, "scope": path, "types": types}
    if skip is not None:
        params.update(zip(("skip_west", "skip_south", "skip_east", "skip_north"), skip))
    return _facility_frame(fetch_all(FACILITIES_NEAR if skip is None else FACILITIES_BEYOND, params))


def _facility_frame(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(_FACILITY_COLUMNS))
    defaults = frame["type"].map(lambda t: float(FACILITY_TYPES[t].service_radius_m))
    frame["radius_m"] = frame["service_radius_m"].astype(float).fillna(defaults)
    frame["shown"] = frame["shown"].astype(bool)
    return frame


def _trees(frame: pd.DataFrame, types, project: Transformer) -> dict[str, tuple[cKDTree, np.ndarray]]:
    """Per type present in ``frame``: a k-d tree of its facilities in metres, and their radii."""
    trees = {}
    for kind, mine in frame[frame["type"].isin(list(types))].groupby("type"):
        fxy = np.column_stack(project.transform(mine["lon"].to_numpy(float), mine["lat"].to_numpy(float)))
        trees[kind] = (cKDTree(fxy), mine["radius_m"].to_numpy(float))
    return trees


def _bounds_for_far_types(far: dict[str, float], lon: np.ndarray, lat: np.ndarray, xy: np.ndarray,
                          project: Transformer) -> dict[str, float]:
    """For types with no facility near the places, a bound on every place's distance from the one nearest the middle."""
    missing = [t for t, bound in far.items() if not np.isfinite(bound)]
    if not missing:
        return far
    middle = {"lon": (float(lon.min()) + float(lon.max())) / 2, "lat": (float(lat.min()) + float(lat.max())) / 2}
    anchors = {row["type"]: row for row in fetch_all(NEAREST_TO_POINT, {"types": missing, **middle})}
    bounds = {t: b for t, b in far.items() if np.isfinite(b)}
    for kind, row in anchors.items():
        ax, ay = project.transform(row["lon"], row["lat"])
        bounds[kind] = float(np.hypot(xy[:, 0] - ax, xy[:, 1] - ay).max())
    return bounds  # a type with no anchor has no facility at all: its distances stay unknown


def _covered(tree: cKDTree, radii: np.ndarray, places: cKDTree) -> np.ndarray:
    """Whether each place lies within the radius of at least one of the tree's facilities."""
    covered = np.zeros(places.n, dtype=bool)
    pairs = places.sparse_distance_matrix(tree, float(radii.max()), output_type="ndarray")
    covered[pairs["i"][pairs["v"] <= radii[pairs["j"]]]] = True
    return covered


def _measure(lon: np.ndarray, lat: np.ndarray, filters: Filters, path: str | None, types: tuple[str, ...] | None = None
            ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], pd.DataFrame]:
    """Per type: metres from each place to its nearest facility (NaN: none exists) and whether one covers it.

    Also returns the facilities read, with ``shown`` marking those in view and scope.
    """
    counted = _counted_types(types)
    kinds = list(counted)
    if not kinds:
        return {}, {}, _facility_frame([])
    if len(lon) == 0:
        return ({t: np.empty(0) for t in kinds}, {t: np.empty(0, dtype=bool) for t in kinds},
                _facilities_in(filters.bbox, kinds, filters, path))
    places_box = (float(lon.min()), float(lat.min()), float(lon.max()), float(lat.max()))
    reach_m = max(counted.values())
    # The view's own facilities are drawn even when the places (the grids in view) stop short of the box's edge.
    box = _widened(places_box, reach_m)
    box = (min(box[0], filters.bbox[0]), min(box[1], filters.bbox[1]), max(box[2], filters.bbox[2]),
           max(box[3], filters.bbox[3]))
    frame = _facilities_in(box, kinds, filters, path)
    project = _projection(lon)
    xy = np.column_stack(project.transform(lon, lat))
    trees = _trees(frame, kinds, project)
    nearest = {t: trees[t][0].query(xy)[0] if t in trees else np.full(len(xy), np.inf) for t in kinds}
    far = _bounds_for_far_types({t: float(d.max()) for t, d in nearest.items() if d.max() > reach_m},
                                lon, lat, xy, project)
    if far:
        beyond = _facilities_in(_widened(places_box, max(far.values())), list(far), filters, path, skip=box)
        if len(beyond):
            frame = pd.concat([frame, beyond], ignore_index=True)
            gained = set(beyond["type"])
            trees.update(_trees(frame, gained, project))
            nearest.update({t: trees[t][0].query(xy)[0] for t in gained})
    places = cKDTree(xy)
    covered = {t: _covered(*trees[t], places) if t in trees else np.zeros(len(xy), dtype=bool) for t in kinds}
    nearest = {t: np.where(np.isfinite(d), d, np.nan) for t, d in nearest.items()}
    return nearest, covered, frame


def _facility_features(frame: pd.DataFrame, counted: list[str]) -> tuple[list[dict], bool]:
    shown = frame[frame["shown"]].copy()
    # Capped, the large-radius types stay: at a zoom that shows thousands, the fire stations matter more than kiosks.
    rank = {t: -FACILITY_TYPES[t].service_radius_m for t in counted}
    shown = shown.assign(rank=shown["type"].map(rank)).sort_values(["rank", "type", "lon", "lat"], kind="stable")
    truncated = len(shown) > MAX_FACILITIES
    features = [{
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [round(x, 6), round(y, 6)]},
        "properties": {"kind": "facility", "type": kind, "name": name, "radius_m": round(float(radius)),
                       "grid_code": grid},
    } for kind, name, radius, x, y, grid in shown[["type", "name", "radius_m", "lon", "lat", "grid_code"]]
        .head(MAX_FACILITIES).itertuples(index=False)]
    return features, truncated


@contextmanager
def _cycle_collector_paused() -> Iterator[None]:
    """Build many small containers without the cyclic collector rescanning them: a city's cells build 2-3x faster.

    Features hold no reference cycles, so nothing is left for the collector; it runs again on leaving.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _blind_spot_features(cells: np.ndarray, grid_codes: list[str], nearest: dict[str, np.ndarray],
                         covered: dict[str, np.ndarray]) -> list[dict]:
    kinds = list(nearest)
    if not kinds or len(cells) == 0:
        return []
    gaps = np.column_stack([~covered[t] for t in kinds])
    blind = np.flatnonzero(gaps.any(axis=1))
    # A city holds few distinct sets of missing types; name each once, not once per cell.
    masks = (gaps[blind].astype(np.int64) << np.arange(len(kinds))).sum(axis=1).tolist()
    missing = {m: [j for j in range(len(kinds)) if m >> j & 1] for m in set(masks)}
    named = {m: [kinds[j] for j in js] for m, js in missing.items()}
    metres = np.column_stack([nearest[t][blind] for t in kinds])
    metres = np.where(np.isnan(metres), -1, np.round(metres)).astype(np.int64).tolist()
    rings = cells_to_rings_lonlat(cells[blind])
    return [{
        "type": "Feature",
        "geometry": {"type": "Polygon", "coordinates": [ring]},
        # Distances for the missing types only: the whole table is reach(unit="hex").
        "properties": {"kind": "blind_spot", "h3": cell_to_hex(cell), "grid_code": grid_codes[i],
                       "uncovered": list(named[m]),
                       "nearest_m": {kinds[j]: d[j] if d[j] >= 0 else None for j in missing[m]}},
    } for i, cell, m, d, ring in zip(blind.tolist(), cells[blind].tolist(), masks, metres, rings)]


def build(filters: Filters, scope: Scope, types: tuple[str, ...] | None = None) -> LayerResult:
    """Facilities in view and scope, and the study-area cells that are a blind spot for at least one type."""
    study = study_area(filters, scope)
    cells = study.cells
    lon, lat = cells_to_lonlat(cells)
    nearest, covered, frame = _measure(lon, lat, filters, view_path(filters, scope), types)
    kinds = list(nearest)
    with _cycle_collector_paused():
        features, truncated = _facility_features(frame, kinds)
        blind_spots = _blind_spot_features(cells, study.codes, nearest, covered)
    shown = frame[frame["shown"]]
    colours = {t: FACILITY_TYPES[t].colour for t in kinds}
    return LayerResult(
        features + blind_spots,
        [LegendEntry(t, colours[t]) for t in kinds] + [LegendEntry("blind_spot", BLIND_SPOT_COLOUR)],
        {"facilities": len(shown), "by_type": {t: int((shown["type"] == t).sum()) for t in kinds},
         "cells": len(cells), "blind_spots": len(blind_spots),
         "covered_share": {t: round(float(covered[t].mean()), 4) if len(cells) else None for t in kinds},
         "truncated": truncated},
        {"classes": {**colours, "blind_spot": BLIND_SPOT_COLOUR}, "kind_property": "kind", "property": "type",
         "radius_property": "radius_m", "uncovered_property": "uncovered", "types": kinds},
    )


def reach(filters: Filters, scope: Scope, unit: str, types: tuple[str, ...] | None = None) -> pd.DataFrame:
    """Metres to the nearest facility of each type (rounded to 1 m, NaN when none exists), one row per place.

    ``unit="hex"``: every study-area cell at ``filters.res`` (columns ``h3, grid_code``, then one per type),
    from the cell's centre. ``unit="grid"``: every grid in view and scope (``grid_code, name``, then one per
    type), from ``ST_PointOnSurface`` of the grid.
    """
    path = view_path(filters, scope)
    if unit == "hex":
        study = study_area(filters, scope)
        cells = study.cells
        lon, lat = cells_to_lonlat(cells)
        places = pd.DataFrame({"h3": [cell_to_hex(c) for c in cells], "grid_code": study.codes})
    elif unit == "grid":
        west, south, east, north = filters.bbox
        rows = fetch_all(GRID_POINTS, {"west": west, "south": south, "east": east, "north": north, "scope": path})
        lon = np.array([r["lon"] for r in rows], dtype=float)
        lat = np.array([r["lat"] for r in rows], dtype=float)
        places = pd.DataFrame({"grid_code": [r["code"] for r in rows], "name": [r["name"] for r in rows]})
    else:
        raise InputError(f"unit '{unit}' is not one of {', '.join(UNITS)}")
    nearest, _, _ = _measure(lon, lat, filters, path, types)
    return places.assign(**{t: np.round(d) for t, d in nearest.items()})
