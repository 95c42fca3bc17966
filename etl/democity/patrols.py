"""GPS pings of patrol units over the 7 days before ``now``: every 30 s while on an 8-hour shift.

Units are posted to urban streets in proportion to density (the busiest get
several, rural towns none). Each unit has a beat: the 60 % of its street's
grids nearest one of them. On shift (08-16, 16-24 or 00-08 Beijing time) it
walks (1.1-1.4 m/s) or rides an e-bike (2.0-2.5 m/s) from stop to stop of
its beat, a grid centre snapped to a 120 m street lattice turned to the
unit's own angle: along one axis, then the other (the corner that keeps it
inside the city; round by a third stop where both would leave it), lingering
a few minutes at each stop. So tracks look like tracks, consecutive pings are
under 100 m apart, and the grids off every beat (all rural ones, some urban
ones) are never visited.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

from etl.democity import places, textio
from etl.democity.hierarchy import City, allocate
from etl.democity.process import DAY_S, LOCAL_OFFSET_S

PING_S = 30
SHIFT_S = 8 * 3600
SHIFT_STARTS_H, SHIFT_P = (8, 16, 0), (0.55, 0.3, 0.15)
WALK_MPS, RIDE_MPS, RIDE_SHARE = (1.1, 1.4), (2.0, 2.5), 0.4
LATTICE_M = 120.0
DWELL_S = (30, 300)
GPS_NOISE_M = 2.0
BEAT_SHARE = 0.6
WINDOW_DAYS = 7
FLUSH_ROWS = 250_000
HEADER = ("unit_id", "ts", "lon", "lat")
_M_PER_DEG = 1e3 * np.array([places.KM_PER_DEG_LON, places.KM_PER_DEG_LAT])


def plan_units(rng: np.random.Generator, city: City, units: int) -> pd.DataFrame:
    """Who patrols where: ``unit_id, street, speed, shift_h, angle`` per unit.

    Parameters
    ----------
    rng : numpy.random.Generator
    city : City
    units : int

    Returns
    -------
    pandas.DataFrame
        ``street`` is a row of ``city.streets``; ``unit_id`` is the street code
        and a number (``330106001-P01``).
    """
    streets = city.streets
    weight = places.density(streets["x"].to_numpy(), streets["y"].to_numpy()) * streets["urban"].to_numpy()
    if not weight.any():
        weight = np.ones(len(streets))
    per_street = allocate(units, weight, np.zeros(len(streets), dtype=int))
    street = np.repeat(np.arange(len(streets)), per_street)
    number = np.arange(len(street)) - np.repeat(np.cumsum(per_street) - per_street, per_street) + 1
    ride = rng.random(len(street)) < RIDE_SHARE
    speed = np.where(ride, rng.uniform(*RIDE_MPS, len(street)), rng.uniform(*WALK_MPS, len(street)))
    return pd.DataFrame({
        "unit_id": streets["code"].to_numpy()[street] + "-P" + np.array([f"{n:02d}" for n in number], dtype=object),
        "street": street,
        "speed": speed,
        "shift_h": np.array(SHIFT_STARTS_H)[rng.choice(len(SHIFT_STARTS_H), len(street), p=SHIFT_P)],
        "angle": rng.uniform(0, np.pi / 2, len(street)),
    })


@dataclass
class Beat:
    """A unit's stops in its lattice frame (metres), and which legs between them stay in the city."""

    stops: np.ndarray
    origin: tuple[float, float]
    angle: float
    legal: np.ndarray | None = None  # (3, m, m): corner east-first, north-first, straight; None: all legal

    def to_lonlat(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Lattice metres to WGS-84 lon, lat."""
        cos, sin = np.cos(self.angle), np.sin(self.angle)
        east, north = xy[..., 0] * cos - xy[..., 1] * sin, xy[..., 0] * sin + xy[..., 1] * cos
        return self.origin[0] + east / _M_PER_DEG[0], self.origin[1] + north / _M_PER_DEG[1]


def _corners(stops: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(3, n, 2): for legs a -> b, the corner turned east-first, north-first, and none (straight)."""
    return np.stack([np.column_stack([stops[b, 0], stops[a, 1]]), np.column_stack([stops[a, 0], stops[b, 1]]),
                     stops[a]])


def _legal_legs(beat: Beat, edge: shapely.Geometry) -> np.ndarray | None:
    """Which legs avoid crossing the city's edge, or None where no edge is near the beat."""
    m = len(beat.stops)
    a, b = (x.ravel() for x in np.meshgrid(np.arange(m), np.arange(m), indexing="ij"))
    corners = _corners(beat.stops, a, b)
    lon, lat = beat.to_lonlat(np.concatenate([corners.reshape(-1, 2), beat.stops]))
    local = shapely.clip_by_rect(edge, lon.min(), lat.min(), lon.max(), lat.max())
    if shapely.is_empty(local):
        return None
    ends = np.broadcast_to(beat.stops[None, a], corners.shape), np.broadcast_to(beat.stops[None, b], corners.shape)
    path = np.stack([ends[0], corners, ends[1]], axis=2)
    lines = shapely.linestrings(np.stack(beat.to_lonlat(path), axis=-1).reshape(-1, 3, 2))
    return ~shapely.intersects(lines, local).reshape(3, m, m)


def _make_beat(rng: np.random.Generator, city: City, unit, edge: shapely.Geometry) -> Beat:
    """A compact patch of the unit's street around one grid: a unit walks a neighbourhood, not a district."""
    grids = city.grids
    mine = np.flatnonzero(grids["street"].to_numpy() == unit.street)
    size = min(len(mine), max(2, round(BEAT_SHARE * len(mine))))
    gx, gy = grids["x"].to_numpy()[mine], grids["y"].to_numpy()[mine]
    centre = rng.integers(0, len(mine))
    near = np.sort(mine[np.argsort(np.hypot((gx - gx[centre]) * _M_PER_DEG[0], (gy - gy[centre]) * _M_PER_DEG[1]),
                                   kind="stable")[:size]])
    origin = (city.streets["x"].iat[unit.street], city.streets["y"].iat[unit.street])
    cos, sin = np.cos(unit.angle), np.sin(unit.angle)
    east = (grids["x"].to_numpy()[near] - origin[0]) * _M_PER_DEG[0]
    north = (grids["y"].to_numpy()[near] - origin[1]) * _M_PER_DEG[1]
    seeds = np.column_stack([east * cos + north * sin, -east * sin + north * cos])
    if len(seeds) == 1:
        seeds = np.vstack([seeds, seeds + LATTICE_M])
    beat = Beat(seeds, origin, unit.angle)
    snapped = np.round(seeds / LATTICE_M) * LATTICE_M
    beat.stops = np.where(shapely.contains_xy(city.city, *beat.to_lonlat(snapped))[:, None], snapped, seeds)
    beat.legal = _legal_legs(beat, edge)
    return beat


def _tour(rng: np.random.Generator, beat: Beat) -> tuple[np.ndarray, np.ndarray]:
    """Stop order for a shift and the corner of each leg, detouring via a third stop round the city's edge."""
    m = len(beat.stops)
    # Every stop takes at least the shortest dwell, which bounds the tours a shift can hold.
    tours = SHIFT_S // (m * DWELL_S[0]) + 2
    order = np.argsort(rng.random((tours, m)), axis=1).ravel()
    order = order[np.r_[True, order[1:] != order[:-1]]]
    if beat.legal is not None:
        ok = beat.legal.any(axis=0)
        bad = np.flatnonzero(~ok[order[:-1], order[1:]])
        if len(bad):
            via_ok = ok[order[bad]] & ok[:, order[bad + 1]].T
            has_via = via_ok.any(axis=1)
            order = np.insert(order, bad[has_via] + 1, via_ok[has_via].argmax(axis=1))
    a, b = order[:-1], order[1:]
    corners = _corners(beat.stops, a, b)
    variant = np.zeros(len(a), dtype=int) if beat.legal is None else np.argmax(beat.legal[:, a, b], axis=0)
    return order, corners[variant, np.arange(len(a))]


def _shift_track(rng: np.random.Generator, beat: Beat, speed: float, times: np.ndarray) -> np.ndarray:
    """Positions (lattice metres) at ``times`` (seconds from shift start) touring the beat's stops."""
    order, corner = _tour(rng, beat)
    stops = beat.stops[order]
    # Each leg: along one axis to the corner, along the other to the stop, then a pause there.
    path = np.empty((3 * (len(stops) - 1) + 1, 2))
    path[0], path[1::3], path[2::3], path[3::3] = stops[0], corner, stops[1:], stops[1:]
    step = np.r_[0.0, np.hypot(*np.diff(path, axis=0).T) / speed]
    step[3::3] = rng.uniform(*DWELL_S, len(stops) - 1)
    clock = np.cumsum(step)
    if clock[-1] < times[-1]:  # a tiny beat: stand at the last stop for the rest of the shift
        path, clock = np.vstack([path, path[-1]]), np.r_[clock, times[-1] + 1]
    return np.column_stack([np.interp(times, clock, path[:, 0]), np.interp(times, clock, path[:, 1])])


def _unit_pings(rng: np.random.Generator, city: City, unit, start: int, end: int,
                edge: shapely.Geometry) -> tuple[np.ndarray, ...]:
    """Epoch seconds and WGS-84 lon, lat of one unit's pings in ``[start, end)``."""
    beat = _make_beat(rng, city, unit, edge)
    first_day = (start + LOCAL_OFFSET_S) // DAY_S * DAY_S - LOCAL_OFFSET_S
    offsets = np.arange(0, SHIFT_S, PING_S)
    ts, xy = [], []
    for day in range(first_day, end, DAY_S):
        t = day + int(unit.shift_h) * 3600 + offsets
        keep = (t >= start) & (t < end)
        track = _shift_track(rng, beat, unit.speed, offsets.astype(float))
        if keep.any():
            ts.append(t[keep])
            xy.append(track[keep])
    if not ts:
        return np.empty(0, np.int64), np.empty(0), np.empty(0)
    t, xy = np.concatenate(ts), np.vstack(xy) + rng.normal(0, GPS_NOISE_M, (sum(map(len, ts)), 2))
    return (t, *beat.to_lonlat(xy))


def utc_text(t: np.ndarray) -> np.ndarray:
    """Epoch seconds as ISO 8601 UTC text (``2026-11-22T00:00:30Z``)."""
    return (np.datetime_as_string(np.asarray(t, dtype=np.int64).astype("datetime64[s]"), unit="s").astype(object)
            + "Z")


def write_patrols(seed: np.random.SeedSequence, path: Path, city: City, units: int, end: int) -> tuple[Path, dict]:
    """Write the pings of ``units`` patrol units, unit by unit, in bounded memory.

    Parameters
    ----------
    seed : numpy.random.SeedSequence
        The plan draws from one child, each unit from its own.
    path : Path
    city : City
    units : int
    end : int
        ``now`` as epoch seconds; pings cover the 7 days before it.

    Returns
    -------
    Path, dict
        The file and a summary: units, pings, streets patrolled.
    """
    plan_seed, unit_seeds = seed.spawn(2)
    plan = plan_units(np.random.default_rng(plan_seed), city, units)
    shapely.prepare(city.city)
    edge = shapely.boundary(city.city)
    seeds = unit_seeds.spawn(len(plan))
    start = end - WINDOW_DAYS * DAY_S
    pending: list[tuple[np.ndarray, ...]] = []
    with textio.CsvWriter(path, HEADER) as writer:
        def flush() -> None:
            if pending:
                unit_ids, t, lon, lat = (np.concatenate(c) for c in zip(*pending))
                writer.write([unit_ids, utc_text(t), textio.decimals(lon), textio.decimals(lat)])
                pending.clear()

        for k, unit in enumerate(plan.itertuples(index=False)):
            t, lon, lat = _unit_pings(np.random.default_rng(seeds[k]), city, unit, start, end, edge)
            pending.append((np.full(len(t), unit.unit_id, dtype=object), t, lon, lat))
            if sum(len(p[1]) for p in pending) >= FLUSH_ROWS:
                flush()
        flush()
        rows = writer.rows
    return path, {"units": len(plan), "pings": rows, "streets": int(plan["street"].nunique())}
