"""The incidents' spatio-temporal point process, vectorised: where, when, what, and how far handled.

Each incident comes from one component: the density-weighted background or a
hotspot of :mod:`etl.democity.places` (stable ones all period, emerging ones
from their start, ramping up linearly). Times follow a daily and a weekly
rhythm that depend on the category (public order peaks at night and at
weekends, traffic at the rush hours, the rest in office hours). Each incident
is given a handling time against its category's SLA: most close well within
it (about 90 % of closures on time), a few late, and a few get stuck, so
that a backlog of recent reports is being handled at ``now`` and well under
half of the open cases are past due (超期). In the streets of neglect
(:data:`places.NEGLECT`) cases stall far more often and pile up overdue.
:func:`status_at` is the one model of how a case moves along the chain;
the files and the live feed (:mod:`etl.democity.live`) both use it.
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
STUCK_SHARE = 0.02         # handling stalls: closed days after the SLA
STUCK_MEAN_DAYS = 8.0
NEGLECT_STUCK_SHARE = 0.4  # the same in a street of neglect
NEGLECT_STUCK_MEAN_DAYS = 30.0
ON_TIME_MEDIAN = 0.4       # of the SLA, for the handling time of the rest
ON_TIME_SPREAD = 0.55      # sigma of its logarithm: about 5 % of them still close late
VERIFY_HOURS = 48          # a closed case stays 核查 (verified) this long before 结案
# The share of the handling time after which a case is registered (立案), dispatched (派遣) and handled (处置):
# a 24-hour case handled in ten hours is registered after half an hour and dispatched after an hour.
STEPS = (("registered", 0.05), ("dispatched", 0.1), ("handling", 0.2))


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


def components(rng: np.random.Generator, n: int, hot: float = 1.0) -> np.ndarray:
    """Which hotspot (index into places.HOTSPOTS) or the background (-1) each of ``n`` incidents comes from.

    ``hot`` multiplies every hotspot's share (the live feed draws them more often).
    """
    shares = np.array([s.share for s in places.HOTSPOTS]) * hot
    return rng.choice(len(shares) + 1, n, p=np.r_[1 - shares.sum(), shares]) - 1


def categories(rng: np.random.Generator, spot: np.ndarray) -> np.ndarray:
    """A category (index into CATEGORY_CODES) for each incident, from its component's mix."""
    u = rng.random(len(spot))[:, None]
    return np.minimum((u > np.cumsum(_MIXES[spot + 1], axis=1)).sum(axis=1), len(CATEGORY_CODES) - 1)


def severities(rng: np.random.Generator, category: np.ndarray) -> np.ndarray:
    """Severity 1-4 of each incident, by its category's mix."""
    return (rng.random(len(category))[:, None] > _SEVERITY_CDF[category]).sum(axis=1).clip(0, 3) + 1


def in_neglect(neglect: shapely.Geometry | None, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Whether each point lies in a street of neglect (none when ``neglect`` is None)."""
    if neglect is None:
        return np.zeros(len(lon), dtype=bool)
    shapely.prepare(neglect)
    return shapely.contains_xy(neglect, lon, lat)


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


def place(rng: np.random.Generator, spot: np.ndarray, raster: places.Raster,
            city: shapely.Geometry) -> tuple[np.ndarray, np.ndarray]:
    """Lon, lat of each incident: drawn from the population surface, or around its hotspot (inside the city)."""
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


def handling_times(rng: np.random.Generator, category: np.ndarray, neglected: np.ndarray) -> np.ndarray:
    """Seconds from report to resolution: most within the SLA, some stuck (far more often where ``neglected``)."""
    n = len(category)
    sla = _SLA_S[category]
    on_time = sla * ON_TIME_MEDIAN * np.exp(rng.normal(0, ON_TIME_SPREAD, n))
    mean_days = np.where(neglected, NEGLECT_STUCK_MEAN_DAYS, STUCK_MEAN_DAYS)
    stuck = sla + rng.exponential(1.0, n) * mean_days * DAY_S
    share = np.where(neglected, NEGLECT_STUCK_SHARE, STUCK_SHARE)
    return np.where(rng.random(n) < share, stuck, on_time).astype(np.int64) + 60


def status_at(t: np.ndarray, took: np.ndarray, at: np.ndarray | int) -> np.ndarray:
    """The status (index into STATUS_CODES) at ``at`` of cases reported at ``t`` and resolved ``took`` s later.

    Examples
    --------
    >>> [STATUS_CODES[s] for s in status_at(np.zeros(6, np.int64), np.full(6, 1000), np.array([0, 60, 150, 300, 1000, 1000 + 49 * 3600]))]
    ['reported', 'registered', 'dispatched', 'handling', 'verified', 'closed']
    """
    t, took, at = np.asarray(t), np.asarray(took), np.asarray(at)
    done = t + took
    progress = (at - t) / took
    conditions = [at >= done + VERIFY_HOURS * HOUR_S, at >= done] + [progress >= f for _, f in reversed(STEPS)]
    choices = [STATUS_CODES.index(s) for s in ("closed", "verified", *(s for s, _ in reversed(STEPS)))]
    return np.select(conditions, choices, STATUS_CODES.index("reported")).astype(np.int8)


def step_times(t: int, took: int) -> list[int]:
    """When a case reported at ``t`` and resolved ``took`` s later enters each status (STATUS_CODES order).

    Examples
    --------
    >>> step_times(0, 1000)
    [0, 50, 100, 200, 1000, 173800]
    """
    return [t] + [t + int(np.ceil(f * took)) for _, f in STEPS] + [t + took, t + took + VERIFY_HOURS * HOUR_S]


def _handling(rng: np.random.Generator, t: np.ndarray, category: np.ndarray, neglected: np.ndarray,
              end: int) -> tuple[np.ndarray, np.ndarray]:
    """Status and resolution time of each incident at ``end``."""
    done = t + handling_times(rng, category, neglected)
    return status_at(t, done - t, end), np.where(done <= end, done, -1)


def simulate(rng: np.random.Generator, n: int, raster: places.Raster, city: shapely.Geometry, end: int,
             neglect: shapely.Geometry | None = None) -> Incidents:
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
    neglect : shapely.Geometry, optional
        The streets of neglect: cases there stall far more often.

    Returns
    -------
    Incidents
    """
    shapely.prepare(city)
    spot = components(rng, n)
    category = categories(rng, spot)
    t = _times(rng, spot, category, end)
    lon, lat = place(rng, spot, raster, city)
    severity = severities(rng, category)
    status, resolved = _handling(rng, t, category, in_neglect(neglect, lon, lat), end)
    order = np.argsort(t, kind="stable")
    return Incidents(t, lon, lat, category, severity, status, resolved, spot).take(order)


def overdue_share(batch: Incidents, end: int) -> float:
    """The share of incidents open and past their SLA at ``end`` (超期)."""
    open_ = batch.resolved < 0
    return float((open_ & (batch.t + _SLA_S[batch.category] < end)).mean())
