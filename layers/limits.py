"""What each layer may cost, estimated before the work and refused in milliseconds when over its limit.

Every layer of the registry is built through ``layers.registry.build`` — the map's callbacks, the exports and the
OGC API alike — and that calls ``check`` first: one cheap query sums the grids that reach into the view (their
count and their area, from ``shiyu.area``), which says how many H3 cells a study area or a hex map would hold
(area over the resolution's mean cell area) and how many areas a boundary layer would draw. A hex map whose view
holds more cells than its limit also counts the incidents in view up to the limit (``layers.incidents.count``):
only cells with incidents are drawn, so a quiet countryside at r10 is not refused for its size alone.

``LIMITS`` is the one table of the limits: what each layer counts, how many it may hold, and about how many
bytes of GeoJSON each feature is (what an export's size is estimated by). docs/security.md lists them.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import h3

from geodata.db import fetch_all
from geodata.errors import Busy, TooLarge
from geodata.scope import Scope
from geodata.settings import settings
from layers.base import Filters, view_path
from layers import supervision_map
from layers.incidents import count

CELLS, AREAS, GRIDS, LIT = "cells", "areas", "grids", "lit incidents"
# How to narrow a request over its limit, by what the layer counts.
NARROW = {
    CELLS: "zoom in, choose a coarser H3 resolution, or pick an area",
    AREAS: "zoom in, pick an area, or choose a coarser tier",
    GRIDS: "zoom in or pick an area",
    LIT: "zoom in, pick an area, or narrow the days, categories or severities",
}


@dataclass(frozen=True)
class Limit:
    """How much of ``counts`` a layer may hold, and about how large each of its GeoJSON features is."""

    counts: str
    most: int
    feature_bytes: int


# The areas of a tier the map draws at most (``areas.MAX_FEATURES``): more would be a file or an API page cut short,
# refused after the work (``layers.export.whole_layer``) unless refused before it.
AREAS_DRAWN = 5_000
# The default demo city (10,000 grids, Hangzhou) holds 4,384 r7 cells and 29,557 r8 cells (docs/layers.md), so
# every layer answers it whole at r7 and r8, the wall's and the explore page's views; at r9 it holds about 200,000
# and none does (the hex map of its 87,000 r10 cells with incidents was 35 MB in 10 s).
STUDY_AREA_CELLS = 60_000  # Gi*, the blind-spot distances and the GeoJSON grow with the cells: about 1 s at this many
LIMITS: dict[str, Limit] = {
    "areas": Limit(AREAS, AREAS_DRAWN, 2_000),
    "hexes": Limit(CELLS, STUDY_AREA_CELLS, 400),
    "hotspots": Limit(CELLS, STUDY_AREA_CELLS, 550),
    "emerging": Limit(CELLS, STUDY_AREA_CELLS, 500),
    "coverage": Limit(CELLS, STUDY_AREA_CELLS, 500),
    "facilities": Limit(CELLS, STUDY_AREA_CELLS, 300),
    "warnings": Limit(GRIDS, 20_000, 1_500),
    # Open incidents in a yellow or red light or under an order (layers/supervision_map.py), counted in the view
    # up to the limit: the demo city has about 500, a city of 10M incidents about 15,000 overdue.
    "supervision": Limit(LIT, 20_000, 600),
}


@dataclass(frozen=True)
class Estimate:
    """What a layer would hold for a request: the things it counts, its features and its GeoJSON bytes."""

    layer: str
    counted: int
    features: int
    bytes: int
    at_least: bool = False  # counted stopped at the limit: there are more


# The grids reaching into the view (a hot-spot study area is their cells), the areas of the tier asked for, and a
# point of one of the grids: H3 cells differ in size from place to place (near Hangzhou a fifth below the mean).
VIEW_SIZE = """
SELECT count(*) FILTER (WHERE a.tier = 'grid') AS grids,
       coalesce(sum(a.area_m2) FILTER (WHERE a.tier = 'grid'), 0)::float8 AS grid_m2,
       count(*) FILTER (WHERE a.tier = %(tier)s) AS areas,
       (SELECT ARRAY[ST_X(p), ST_Y(p)] FROM (
          SELECT ST_PointOnSurface(g.geom) AS p FROM shiyu.area g
          WHERE g.tier = 'grid' AND g.geom && ST_MakeEnvelope(%(west)s, %(south)s, %(east)s, %(north)s, 4326)
            AND (%(scope)s::ltree IS NULL OR g.path <@ %(scope)s::ltree)
          LIMIT 1) one) AS lonlat
FROM shiyu.area a
WHERE a.tier IN ('grid', %(tier)s)
  AND a.geom && ST_MakeEnvelope(%(west)s, %(south)s, %(east)s, %(north)s, 4326)
  AND (%(scope)s::ltree IS NULL OR a.path <@ %(scope)s::ltree)
"""
_M_PER_DEGREE = 111_320.0


def _box_m2(filters: Filters) -> float:
    """The view's area in square metres, roughly (at its middle latitude)."""
    west, south, east, north = filters.bbox
    middle = math.radians((south + north) / 2)
    return (east - west) * _M_PER_DEGREE * math.cos(middle) * (north - south) * _M_PER_DEGREE


def _cell_m2(lonlat: list[float] | None, res: int) -> float:
    """The area of the ``res`` cell at ``lonlat``, or the mean one without a place."""
    if lonlat is None:
        return h3.average_hexagon_area(res, unit="m^2")
    return h3.cell_area(h3.latlng_to_cell(lonlat[1], lonlat[0], res), unit="m^2")


def estimate(layer: str, filters: Filters, scope: Scope) -> Estimate:
    """What ``layer`` would hold for ``filters`` and ``scope``, from one query on the areas (two for a large hex map)."""
    limit = LIMITS[layer]
    if limit.counts == LIT:  # counted directly, up to one past the limit
        lit = supervision_map.count(filters, scope, limit.most + 1)
        return Estimate(layer, lit, lit, lit * limit.feature_bytes, lit > limit.most)
    west, south, east, north = filters.bbox
    row = fetch_all(VIEW_SIZE, {"tier": filters.tier, "west": west, "south": south, "east": east, "north": north,
                                "scope": view_path(filters, scope)})[0]
    if limit.counts == CELLS:
        cell_m2 = _cell_m2(row["lonlat"], filters.res)
        counted = round(row["grid_m2"] / cell_m2)
        if layer == "hexes":  # only the view's own cells, and only those with incidents, are drawn
            counted = min(counted, round(_box_m2(filters) / cell_m2))
            if counted > limit.most:
                incidents, more = count(filters, scope, limit.most + 1)
                if not more:
                    counted = min(counted, incidents)
                else:
                    return Estimate(layer, limit.most + 1, limit.most + 1, (limit.most + 1) * limit.feature_bytes, True)
    else:
        counted = int(row[limit.counts])
    return Estimate(layer, counted, counted, counted * limit.feature_bytes)


def refusal(found: Estimate, filters: Filters) -> str:
    """The one line that says what is over which limit and how to narrow it."""
    limit = LIMITS[found.layer]
    what = f"H3 r{filters.res} cells" if limit.counts == CELLS else (
        f"{filters.tier} areas" if limit.counts == AREAS else limit.counts)
    if found.at_least:
        return (f"the {found.layer} layer would hold more than its limit of {limit.most:,} {what} here; "
                f"{NARROW[limit.counts]}")
    return (f"the {found.layer} layer would hold about {found.counted:,} {what} here, more than its limit of "
            f"{limit.most:,}; {NARROW[limit.counts]}")


def check(layer: str, filters: Filters, scope: Scope) -> Estimate:
    """The estimate of ``layer`` for the request, or ``TooLarge`` when it is over the layer's limit."""
    found = estimate(layer, filters, scope)
    if found.counted > LIMITS[layer].most:
        raise TooLarge(refusal(found, filters))
    return found


# Heavy work — a layer estimated above this many bytes of GeoJSON (about 10,000 hexagons; the whole demo city at r8
# is heavy, a district is not), or an export — runs at most SHIYU_HEAVY_AT_ONCE at a time in a process. Past that a
# request waits up to HEAVY_WAIT_S for its turn and is then refused: a few users asking for whole cities cannot hold
# every thread of a worker while the officers of a district wait behind them.
HEAVY_BYTES = 4_000_000
HEAVY_WAIT_S = 1.0
_heavy_lock = threading.Lock()
_heavy_slots: list[threading.BoundedSemaphore] = []
_holding: ContextVar[bool] = ContextVar("shiyu_heavy_slot", default=False)


def _slots() -> threading.BoundedSemaphore:
    with _heavy_lock:
        if not _heavy_slots:
            _heavy_slots.append(threading.BoundedSemaphore(max(1, settings().heavy_at_once)))
        return _heavy_slots[0]


@contextmanager
def heavy_slot(heavy: bool = True) -> Iterator[None]:
    """Run the block in one of the process's heavy-work slots when ``heavy`` (once per request: a block inside
    another holding one runs in it); ``Busy`` when none frees up within ``HEAVY_WAIT_S``."""
    if not heavy or _holding.get():
        yield
        return
    slots = _slots()
    if not slots.acquire(timeout=HEAVY_WAIT_S):
        raise Busy("the server is busy with other large requests; try again in a moment, or narrow this one "
                   "(zoom in, a coarser H3 resolution, or an area)")
    token = _holding.set(True)
    try:
        yield
    finally:
        _holding.reset(token)
        slots.release()


def reset_heavy_slots() -> None:
    """Forget the slots, so the next heavy request sizes them from the settings again (tests)."""
    with _heavy_lock:
        _heavy_slots.clear()
