"""Early warning: grids or H3 cells whose count of the last 24 h or 7 days exceeds their own baseline.

Definitions
-----------
Reference time ``T`` is ``filters.until`` (a naive value is Beijing time, as
in the loaders) or now. ``filters.since`` is ignored: the layer sets its own
windows, and a baseline cut short by a user's time filter would raise false
alarms.

- **24 h**: the count in ``[T-24h, T)`` against the same 24 hours one, two, …
  eight weeks earlier (``[T-7d·k-24h, T-7d·k)``, k = 1…8): the same weekday and
  hours, so a market-day Saturday is compared with Saturdays.
- **7 d**: the count in ``[T-7d, T)`` against the eight preceding 7-day spans.

λ is the mean of the baseline counts. A unit is flagged when its count
exceeds the Poisson upper bound ``poisson.ppf(1 - ALPHA, λ)`` and is at least
``MIN_COUNT``. ALPHA = 0.001 keeps chance flags to one or two per thousand
units and window (λ is estimated from eight spans, which loosens the nominal
rate by about half in simulation). A baseline of zero uses λ = ``ZERO_PRIOR``
(the Jeffreys half an incident spread over the eight spans), whose bound is 2,
so three incidents in a grid quiet for two months are flagged and two are not;
at this ALPHA every bound is at least 2, so ``MIN_COUNT`` only bites if ALPHA
is loosened.

Spans that start before the first incident in the database are left out of
the baseline (``summary['baseline_spans_24h']`` and ``…_7d``): a history
shorter than nine weeks would otherwise read as a quiet past and flag
everything.

Units are grids (the incident's ``grid_code``) or H3 cells at ``filters.res``
(``unit="cell"``; a cell names the grid holding the largest share of it).
Only flagged units become features, one per window, so a unit flagged in both
windows has two features (the map draws 24 h over 7 d). ``ratio`` is the
count over λ (the prior when λ is 0) and ``p`` is P(X ≥ count) under λ. The
most improbable come first (smallest ``p``, then highest ratio), not the
highest ratio: with daily baselines well under one incident, ratios of 20 or
more are common for three incidents, while 30 against 5 is far rarer.
At most ``MAX_FEATURES`` are sent.

The counts are one grouped query over the nine weeks before T, narrowed to
the view and scope; the categories are a second query on the flagged units'
last seven days only (per grid, from the day cube's rows of each category
and the hour of T at the window's ends). Per grid, without a severity or status filter (which
it does not keep), the day cube ``shiyu.incident_day`` answers it: a day
inside one span counts whole; a day a span boundary falls in (every boundary
has T's time of day) is split by its counts by hour, and only the hour
holding the boundary is read from the incidents, through the ``reported_at``
index (``layers/warning_bins.py``); for every category together the same
from the day cube's hours per grid and week (``shiyu.incident_grid_week``),
a seventh of its rows. Cells, and severity or status filters, read the
incidents of the nine weeks.
"""

from __future__ import annotations

import math
import threading
import time
from datetime import datetime, timezone

import h3
import numpy as np
from scipy.stats import poisson

from geodata.db import compose, fetch_all
from geodata.errors import InputError
from geodata.h3cells import cell_to_hex, cell_to_ring_lonlat
from geodata.scope import Scope
from geodata.taxonomy import CATEGORIES
from geodata.version import data_and_areas_versions
from layers.base import BEIJING, INCIDENT_FILTERS, Filters, LayerResult, LegendEntry, area_shapes, incident_params
from layers.hexes import DOMINANT_GRID
from layers import windows
from layers.windows import cube_categories
from layers.warning_bins import (BASELINE_WEEKS, CELL_COUNTS, DAY, GRID_CATEGORIES_BY_DAY, GRID_COUNTS,
                                 GRID_COUNTS_BY_DAY, GRID_COUNTS_BY_WEEK, WEEK, bin_params, category_days, day_bins,
                                 week_bins)

ALPHA = 0.001
MIN_COUNT = 3
ZERO_PRIOR = 0.5 / BASELINE_WEEKS
MAX_FEATURES = 2000
TOP_CATEGORIES = 3
UNITS = ("grid", "cell")
WINDOWS = ("24h", "7d")

# Okabe–Ito vermillion and blue: apart under every common colour-vision deficiency.
COLOURS = {"24h": "#D55E00", "7d": "#0072B2"}
LABELS = {"24h": "24 h", "7d": "7 d"}

FIRST_REPORT = "SELECT min(reported_at) AS first FROM shiyu.incident"

_CATEGORIES = """
SELECT {unit} AS unit, category,
       count(*) FILTER (WHERE reported_at >= %(day_start)s) AS n_24h,
       count(*) AS n_7d
FROM shiyu.incident
WHERE {unit} = ANY(%(units)s::{unit_type}[])
  AND """ + INCIDENT_FILTERS + """
GROUP BY 1, 2
"""
GRID_CATEGORIES = _CATEGORIES.replace("{unit_type}", "text")
CELL_CATEGORIES = _CATEGORIES.replace("{unit_type}", "bigint")


def reference_time(filters: Filters) -> datetime:
    """T: ``filters.until`` (``Filters`` reads a naive one as Beijing time) or now."""
    return filters.until or datetime.now(timezone.utc)


def baseline_spans(first: datetime | None, until: datetime) -> dict[str, int]:
    """How many of the eight baseline spans of each window lie wholly after the first incident."""
    if first is None:
        return {"24h": 0, "7d": 0}
    history = until - first
    return {"24h": max(0, min(BASELINE_WEEKS, math.floor((history - DAY) / WEEK))),
            "7d": max(0, min(BASELINE_WEEKS, math.floor(history / WEEK) - 1))}


def upper_bounds(baseline_mean: np.ndarray) -> np.ndarray:
    """The Poisson upper bound of each unit's count, a zero baseline taken as ``ZERO_PRIOR``."""
    return poisson.ppf(1 - ALPHA, np.maximum(baseline_mean, ZERO_PRIOR)).astype(int)


def reads_cube(filters: Filters, unit: str) -> bool:
    """Whether the day cube answers: per grid, with no severity or status filter (it keeps neither)."""
    return unit == "grid" and windows.reads_cube(filters)


def _padding_deg(res: int, latitude: float) -> float:
    """Two cell radii in degrees of longitude (the wider of the two) at ``latitude``; H3 edges vary, hence 1.5×."""
    edge_deg = 1.5 * h3.average_hexagon_edge_length(res, unit="km") / 111.32
    return 2 * edge_deg / math.cos(math.radians(min(abs(latitude), 80.0)))


def _counts(filters: Filters, narrowing: dict, unit: str, until: datetime,
            spans: dict[str, int]) -> tuple[list[dict], int]:
    """The counts of the units in view that could be flagged, and how many units had incidents at all."""
    west, south, east, north = filters.bbox
    params = {**narrowing, "since": until - (BASELINE_WEEKS + 1) * WEEK, "until": until,
              **bin_params(until, spans), "min_count": MIN_COUNT}
    if unit == "grid":
        box = {"west": west, "south": south, "east": east, "north": north}
        if reads_cube(filters, unit) and not filters.categories:
            rows = fetch_all(GRID_COUNTS_BY_WEEK, {**params, **box, **week_bins(until, spans)})
        elif reads_cube(filters, unit):
            rows = fetch_all(GRID_COUNTS_BY_DAY, {**params, **box, **day_bins(until, spans),
                                                  "cube_categories": cube_categories(filters)})
        else:
            rows = fetch_all(compose(GRID_COUNTS, unit="grid_code"), {**params, **box})
        return [r for r in rows if r["unit"] is not None], sum(r["examined"] for r in rows if r["unit"] is None)
    pad = _padding_deg(filters.res, max(abs(south), abs(north)))
    rows = fetch_all(compose(CELL_COUNTS, unit=f"h3_r{filters.res}"), {
        **params, "west": max(-180.0, west - pad), "south": max(-90.0, south - pad),
        "east": min(180.0, east + pad), "north": min(90.0, north + pad)})
    half = pad / 2  # cells whose centre lies within one radius of the view touch it
    kept = []
    for row in rows:
        if row["unit"] is None:
            continue
        lat, lng = h3.cell_to_latlng(h3.int_to_str(row["unit"]))
        if west - half <= lng <= east + half and south - half <= lat <= north + half:
            kept.append(row)
    return kept, sum(r["examined"] for r in rows if r["unit"] is None)


def _flags(rows: list[dict], spans: dict[str, int]) -> list[dict]:
    """One dict per flagged (unit, window)."""
    flagged = []
    for window in WINDOWS:
        if not rows or spans[window] == 0:
            continue
        count = np.array([r[f"n_{window}"] for r in rows], dtype=np.int64)
        mean = np.array([r[f"base_{window}"] for r in rows], dtype=float) / spans[window]
        upper = upper_bounds(mean)
        rate = np.maximum(mean, ZERO_PRIOR)
        log_p = poisson.logsf(count - 1, rate)  # log P(X >= count): stays finite where p underflows
        for i in np.flatnonzero((count > upper) & (count >= MIN_COUNT)):
            flagged.append({"unit": rows[i]["unit"], "window": window, "count": int(count[i]),
                            "baseline": float(mean[i]), "upper": int(upper[i]),
                            "ratio": float(count[i] / rate[i]), "log_p": float(log_p[i])})
    flagged.sort(key=lambda f: (f["log_p"], -f["ratio"], str(f["unit"]), f["window"]))
    return flagged


def _categories(filters: Filters, narrowing: dict, unit: str, units: list, until: datetime) -> dict:
    """{(unit, window): [[category, n], …]} for the flagged units, largest first."""
    if not units:
        return {}
    params = {**narrowing, "since": until - WEEK, "until": until, "day_start": until - DAY, "units": units}
    if reads_cube(filters, unit):
        rows = fetch_all(GRID_CATEGORIES_BY_DAY, {**params, **category_days(until),
                                                  "cube_categories": list(filters.categories) or list(CATEGORIES)})
    else:
        column = "grid_code" if unit == "grid" else f"h3_r{filters.res}"
        rows = fetch_all(compose(GRID_CATEGORIES if unit == "grid" else CELL_CATEGORIES, unit=column), params)
    tally: dict = {}
    for row in rows:
        for window in WINDOWS:
            if row[f"n_{window}"]:
                tally.setdefault((row["unit"], window), []).append([row["category"], int(row[f"n_{window}"])])
    return {key: sorted(pairs, key=lambda p: (-p[1], p[0]))[:TOP_CATEGORIES] for key, pairs in tally.items()}


def _number(value: float) -> str:
    return f"{value:.1f}" if value >= 0.1 or value == 0 else f"{value:.2f}"


def reasons(flag: dict, categories: list, spans: int, place_zh: str, place_en: str) -> tuple[str, str]:
    """The flag in one sentence each in Chinese and English."""
    n, mean, upper = flag["count"], flag["baseline"], flag["upper"]
    if flag["window"] == "24h":
        now_zh, now_en = f"最近24小时 {n} 起", f"{n} incidents in the last 24 h"
        if mean == 0:
            past_zh, past_en = f"过去{spans}周同时段无事件", f"against none in the same hours of the past {spans} weeks"
        else:
            past_zh = f"过去{spans}周同时段平均 {_number(mean)} 起"
            past_en = f"against {_number(mean)} on average in the same hours of the past {spans} weeks"
    else:
        now_zh, now_en = f"最近7天 {n} 起", f"{n} incidents in the last 7 days"
        if mean == 0:
            past_zh, past_en = f"此前{spans}周无事件", f"against none in the previous {spans} weeks"
        else:
            past_zh = f"此前{spans}周平均每周 {_number(mean)} 起"
            past_en = f"against {_number(mean)} a week on average over the previous {spans} weeks"
    zh = f"{place_zh}：{now_zh}，{past_zh}（上限 {upper} 起）"
    en = f"{place_en}: {now_en} {past_en} (upper bound {upper})"
    if categories:
        top = [CATEGORIES[code] for code, _ in categories]
        if categories[0][1] * 2 >= n:
            zh, en = zh + f"，以{top[0].name_zh}为主", en + f", mostly {top[0].name_en.lower()}"
        else:
            two = top[:2]
            zh += "，主要为" + "、".join(c.name_zh for c in two)
            en += ", led by " + " and ".join(c.name_en.lower() for c in two)
    return zh, en


def _shapes_and_grids(filters: Filters, unit: str, units: list, path: str | None) -> tuple[dict, dict]:
    """The geometry of each flagged unit and the grid accountable for it."""
    if not units:
        return {}, {}
    if unit == "grid":
        return area_shapes(units, filters.zoom), {u: u for u in units}
    shapes = {u: {"type": "Polygon", "coordinates": [cell_to_ring_lonlat(u)]} for u in units}
    return shapes, {r["cell"]: r["code"] for r in fetch_all(DOMINANT_GRID, {"res": filters.res, "cells": units,
                                                                        "scope": path})}


def _places(unit: str, u, grid: str | None) -> tuple[str, str]:
    """How a reason names the unit, in Chinese and English."""
    if unit == "grid":
        return f"网格 {u}", f"Grid {u}"
    owner_zh, owner_en = (f"（网格 {grid}）", f" (grid {grid})") if grid else ("（不在任何网格内）", " (in no grid)")
    return f"H3 单元 {cell_to_hex(u)}{owner_zh}", f"H3 cell {cell_to_hex(u)}{owner_en}"


def build(filters: Filters, scope: Scope, unit: str = "grid") -> LayerResult:
    if unit not in UNITS:
        raise InputError(f"warnings are computed per {' or '.join(UNITS)}, not '{unit}'")
    until = reference_time(filters)
    narrowing = incident_params(filters, scope)
    spans = baseline_spans(fetch_all(FIRST_REPORT)[0]["first"], until)
    rows, examined = _counts(filters, narrowing, unit, until, spans)
    flagged = _flags(rows, spans)
    truncated = len(flagged) > MAX_FEATURES
    flagged = flagged[:MAX_FEATURES]
    units = sorted({f["unit"] for f in flagged})
    categories = _categories(filters, narrowing, unit, units, until)
    shapes, grid_of = _shapes_and_grids(filters, unit, units, narrowing["scope"])
    features = []
    for flag in flagged:
        u, window = flag["unit"], flag["window"]
        cats = categories.get((u, window), [])
        reason_zh, reason_en = reasons(flag, cats, spans[window], *_places(unit, u, grid_of.get(u)))
        properties = {"kind": unit, "grid_code": grid_of.get(u), "window": window, "count": flag["count"],
                      "baseline": round(flag["baseline"], 2), "upper": flag["upper"], "ratio": round(flag["ratio"], 2),
                      "p": float(f"{math.exp(flag['log_p']):.3g}"),
                      "categories": cats, "reason_zh": reason_zh, "reason_en": reason_en}
        if unit == "cell":
            properties["h3"] = cell_to_hex(u)
        features.append({"type": "Feature", "geometry": shapes[u], "properties": properties})
    summary = {
        "flagged_24h": sum(1 for f in flagged if f["window"] == "24h"),
        "flagged_7d": sum(1 for f in flagged if f["window"] == "7d"),
        "reference_time": until.astimezone(BEIJING).isoformat(timespec="seconds"),
        "unit": unit, "units_examined": examined,
        "baseline_spans_24h": spans["24h"], "baseline_spans_7d": spans["7d"], "truncated": truncated,
    }
    return LayerResult(
        features,
        [LegendEntry(LABELS[w], COLOURS[w]) for w in WINDOWS],
        summary,
        {"property": "window", "colours": dict(COLOURS), "draw_order": ["7d", "24h"]},
    )


# The wall redraws whenever the data's version moves, every few seconds while reports flow in; its warnings compare
# windows of a day and a week with their baselines, so a minute's delay changes nothing a person reads, and
# recomputing them on each redraw was two thirds of the wall's panels (350 of 520 ms at the demo city, bench.live).
RECENT_EVERY_S = 60.0
_recent: dict[tuple, tuple[float, tuple[int, int], LayerResult]] = {}
_recent_lock = threading.Lock()


def recent(filters: Filters, scope: Scope, every_s: float = RECENT_EVERY_S) -> LayerResult:
    """``build(filters, scope)``, computed again when the data's version moved and the last computation for the
    same filters and scope is ``every_s`` seconds old, or at once when the areas moved; a screen asks this one."""
    key, now, version = (filters, scope.path), time.monotonic(), data_and_areas_versions()
    with _recent_lock:
        kept = _recent.get(key)
    if kept is not None and (kept[1] == version or (kept[1][1] == version[1] and now - kept[0] < every_s)):
        return kept[2]
    result = build(filters, scope)
    with _recent_lock:
        if len(_recent) >= 64:  # a handful of walls' views; a stranger's filters cannot grow it without bound
            _recent.clear()
        _recent[key] = (now, version, result)
    return result
