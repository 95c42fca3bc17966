"""The incidents' spatio-temporal point process, vectorised: where, when, what, and how far handled.

Each incident comes from one component: the density-weighted background or a
hotspot of :mod:`etl.democity.places` (stable ones all period, emerging ones
from their start, ramping up linearly). Times follow a daily and a weekly
rhythm that depend on the category (public order peaks at night and at
weekends, traffic at the rush hours, the rest in office hours). Each incident
is given a handling time against its category's SLA: most close well within
it, some late, and some get stuck, so that about 5-10 % are open past due
(超期) at ``now``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

from etl.democity import places
from geodata.taxonomy import CATEGORIES, STATUSES

LOCAL_OFFSET_S = 8 * 3600  # Asia/Shanghai has had no daylight saving since 1991
DAY_S, HOUR_S = 86400, 3600
WINDOW_DAYS = 180

CATEGORY_CODES = tuple(CATEGORIES)
STATUS_CODES = tuple(STATUSES)
BACKGROUND_MIX = {"city_management": 26, "dispute": 20, "public_order": 13, "traffic_safety": 12, "fire_safety": 8,
                  "food_drug_safety": 6, "public_health": 5, "petition": 3, "mass_incident": 1, "other": 6}
DAYTIME = np.array([0.9, 0.6, 0.4, 0.3, 0.3, 0.4, 0.8, 1.5, 2.2, 2.8, 3.0, 3.0,
                    2.6, 2.6, 2.8, 2.9, 2.9, 2.8, 2.6, 2.5, 2.3, 1.9, 1.5, 1.2])
NIGHT = np.array([2.0, 1.8, 1.2, 0.8, 0.5, 0.4, 0.5, 0.8, 1.0, 1.2, 1.4, 1.6,
                  1.6, 1.6, 1.6, 1.7, 1.8, 2.0, 2.3, 2.6, 2.9, 3.0, 2.9, 2.5])
RUSH = np.array([0.6, 0.4, 0.3, 0.3, 0.4, 0.8, 1.8, 3.2, 3.4, 2.2, 1.8, 1.8,
                 1.9, 1.8, 1.8, 2.0, 2.6, 3.4, 3.2, 2.2, 1.6, 1.3, 1.0, 0.8])
WORKWEEK = np.array([1.08, 1.0, 1.0, 1.0, 1.04, 0.85, 0.75])   # Monday first
WEEKEND = np.array([0.85, 0.85, 0.9, 0.95, 1.15, 1.35, 1.1])
SEVERITY = {"default": (0.45, 0.35, 0.15, 0.05), "fire_safety": (0.2, 0.4, 0.3, 0.1),
            "mass_incident": (0.1, 0.3, 0.4, 0.2), "public_order": (0.35, 0.4, 0.2, 0.05)}
STUCK_SHARE = 0.28         # handling stalls: closed long after the SLA, if at all
STUCK_MEAN_DAYS = 45.0
ON_TIME_MEDIAN = 0.45      # of the SLA, for the handling time of the rest
ON_TIME_SPREAD = 0.6       # sigma of its logarithm: about 10 % of them still close late
VERIFY_HOURS = 48          # a closed case stays 核查 (verified) this long before 结案


@dataclass
class Incidents:
    """A batch of incidents as arrays; times are epoch seconds (UTC), ``resolved`` -1 when open."""

    t: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    category: np.ndarray     # index into CATEGORY_CODES
    severity: np.ndarray
    status: np.ndarray       # index into STATUS_CODES
    resolved: np.ndarray
    spot: np.ndarray         # index into places.HOTSPOTS, -1 for the background

    def __len__(self) -> int:
        return len(self.t)

    def take(self, index: np.ndarray) -> Incidents:
        """The incidents at ``index``, in that order."""
        return Incidents(*(getattr(self, f)[index] for f in self.__dataclass_fields__))


def _mix(weights: dict[str, float]) -> np.ndarray:
    p = np.array([weights.get(c, 0.0) for c in CATEGORY_CODES])
    return p / p.sum()


_MIXES = np.array([_mix(BACKGROUND_MIX)] + [_mix(s.categories) for s in places.HOTSPOTS])
_HOURLY = np.array([NIGHT if c == "public_order" else RUSH if c == "traffic_safety" else DAYTIME
                    for c in CATEGORY_CODES])
_WEEKLY = np.array([WEEKEND if c == "public_order" else WORKWEEK for c in CATEGORY_CODES])
_ACCEPT = (_HOURLY / _HOURLY.max(axis=1, keepdims=True))[:, None, :] * (_WEEKLY / _WEEKLY.max(axis=1, keepdims=True))[:, :, None]
_SEVERITY_CDF = np.cumsum([SEVERITY.get(c, SEVERITY["default"]) for c in CATEGORY_CODES], axis=1)
_SLA_S = np.array([CATEGORIES[c].sla_hours * HOUR_S for c in CATEGORY_CODES], dtype=np.int64)


def _components(rng: np.random.Generator, n: int) -> np.ndarray:
    shares = np.array([s.share for s in places.HOTSPOTS])
    return rng.choice(len(shares) + 1, n, p=np.r_[1 - shares.sum(), shares]) - 1


def _times(rng: np.random.Generator, spot: np.ndarray, category: np.ndarray, end: int) -> np.ndarray:
    """Times by rejection: uniform (or a ramp from an emerging hotspot's start) thinned by the rhythms."""
    start = np.array([s.start_days for s in places.HOTSPOTS] + [0.0])[spot]
    begin = np.where(start > 0, end - start * DAY_S, end - WINDOW_DAYS * DAY_S).astype(np.int64)
    ramp = start > 0
    t = np.zeros(len(spot), dtype=np.int64)
    todo = np.arange(len(spot))
    while len(todo):
        u = rng.random(len(todo))
        u = np.where(ramp[todo], np.sqrt(u), u)
        guess = begin[todo] + (u * (end - begin[todo])).astype(np.int64)
        local = guess + LOCAL_OFFSET_S
        hour, weekday = (local % DAY_S) // HOUR_S, (local // DAY_S + 3) % 7
        keep = rng.random(len(todo)) < _ACCEPT[category[todo], weekday, hour]
        t[todo[keep]] = guess[keep]
        todo = todo[~keep]
    return t


def _places(rng: np.random.Generator, spot: np.ndarray, raster: places.Raster,
            city: shapely.Geometry) -> tuple[np.ndarray, np.ndarray]:
    lon, lat = np.empty(len(spot)), np.empty(len(spot))
    background = spot < 0
    lon[background], lat[background] = places.sample_points(rng, raster, int(background.sum()), within=city)
    for k, s in enumerate(places.HOTSPOTS):
        mine = np.flatnonzero(spot == k)
        x = s.lon + rng.normal(0, s.sigma_m, len(mine)) / (places.KM_PER_DEG_LON * 1e3)
        y = s.lat + rng.normal(0, s.sigma_m, len(mine)) / (places.KM_PER_DEG_LAT * 1e3)
        outside = ~shapely.contains_xy(city, x, y)
        x[outside], y[outside] = s.lon, s.lat
        lon[mine], lat[mine] = x, y
    return lon, lat


def _handling(rng: np.random.Generator, t: np.ndarray, category: np.ndarray, end: int) -> tuple[np.ndarray, np.ndarray]:
    """Status and resolution time of each incident at ``end``."""
    sla = _SLA_S[category]
    on_time = sla * ON_TIME_MEDIAN * np.exp(rng.normal(0, ON_TIME_SPREAD, len(t)))
    stuck = sla + rng.exponential(STUCK_MEAN_DAYS * DAY_S, len(t))
    took = np.where(rng.random(len(t)) < STUCK_SHARE, stuck, on_time).astype(np.int64) + 60
    done = t + took
    closed = done <= end
    progress = (end - t) / took
    step = [STATUS_CODES.index(s) for s in ("verified", "closed", "reported", "registered", "dispatched", "handling")]
    status = np.select([closed & (end - done < VERIFY_HOURS * HOUR_S), closed, progress < 0.1, progress < 0.25,
                        progress < 0.5], step[:-1], step[-1])
    return status.astype(np.int8), np.where(closed, done, -1)


def simulate(rng: np.random.Generator, n: int, raster: places.Raster, city: shapely.Geometry, end: int) -> Incidents:
    """``n`` incidents of the 180 days before ``end`` (epoch seconds), sorted by time.

    Parameters
    ----------
    rng : numpy.random.Generator
    n : int
    raster : places.Raster
        The population surface the background is drawn from.
    city : shapely.Geometry
        Every incident lies inside it (prepared here).
    end : int
        ``now`` as epoch seconds.

    Returns
    -------
    Incidents
    """
    shapely.prepare(city)
    spot = _components(rng, n)
    u = rng.random(n)[:, None]
    category = (u > np.cumsum(_MIXES[spot + 1], axis=1)).sum(axis=1)
    category = np.minimum(category, len(CATEGORY_CODES) - 1)
    t = _times(rng, spot, category, end)
    lon, lat = _places(rng, spot, raster, city)
    severity = (rng.random(n)[:, None] > _SEVERITY_CDF[category]).sum(axis=1).clip(0, 3) + 1
    status, resolved = _handling(rng, t, category, end)
    order = np.argsort(t, kind="stable")
    return Incidents(t, lon, lat, category, severity, status, resolved, spot).take(order)


def overdue_share(batch: Incidents, end: int) -> float:
    """The share of incidents open and past their SLA at ``end`` (超期)."""
    open_ = batch.resolved < 0
    return float((open_ & (batch.t + _SLA_S[batch.category] < end)).mean())
