"""Assessment league tables (考核排名): every area of a tier over a month or an ISO week, its indicators, a
weighted score and its rank, against the period before and the same period a year before (CompStat).

``INDICATORS`` declares each indicator once (its name, labels, which way is better, how it is shown); the
counts come from ``layers/assessment_counts.py``, the weights from ``shiyu.assessment_weight`` (0028, changed by
``shiyu rank weights --set``). Formulas, normalisation and ties: docs/assessment.md.

Examples
--------
>>> league("street", "2026-11", Scope.everything())[0]["rank"]       # doctest: +SKIP
1
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from geodata import audit
from geodata.db import fetch_all
from geodata.errors import InputError, TooLarge
from geodata.scope import Scope
from geodata.settings import settings
from geodata.version import data_version
from layers.cache import Cache
from layers.assessment_counts import COUNT_NAMES, period_counts
from layers.base import BEIJING, Filters, view_path
from layers.limits import LEAGUE_AREAS
from layers.periods import Period, parse_period, previous, year_before

HIGHER, LOWER = "higher", "lower"
TIERS = ("district", "street", "community", "grid")
DEPTH = {"district": 2, "street": 3, "community": 4, "grid": 5}  # nlevel of the tier's paths


@dataclass(frozen=True)
class Indicator:
    name: str
    zh: str
    en: str
    better: str      # HIGHER or LOWER
    unit: str        # "count", "share" (0-1, shown as %), "per_1000", "hours"


INDICATORS: tuple[Indicator, ...] = (
    Indicator("reports", "上报数", "Reports", HIGHER, "count"),
    Indicator("closure_rate", "结案率", "Closed share", HIGHER, "share"),
    Indicator("on_time_rate", "按期结案率", "Closed on time", HIGHER, "share"),
    Indicator("overdue_per_1000", "每千件超期数", "Overdue per 1,000", LOWER, "per_1000"),
    Indicator("median_hours", "结案用时中位数(小时)", "Median hours to close", LOWER, "hours"),
    Indicator("patrol_coverage", "巡查覆盖率", "Patrol coverage", HIGHER, "share"),
    Indicator("orders", "收到督办数", "Supervision orders", LOWER, "count"),
    Indicator("orders_on_time_rate", "督办按时回复率", "Orders replied on time", HIGHER, "share"),
)
BY_NAME = {i.name: i for i in INDICATORS}
SCORE_DIGITS = 2  # scores are compared, and tie, at this many decimals
# An area with fewer reports in the period is listed with its values but not ranked (样本不足): two reports closed
# would otherwise top the league, and an area with none would be ranked on nothing.
MIN_REPORTS = 5

AREAS = """
SELECT code, name, path::text AS path FROM shiyu.area
WHERE tier = %(tier)s AND (%(scope)s::ltree IS NULL OR path <@ %(scope)s::ltree)
ORDER BY code LIMIT %(most)s
"""
WEIGHTS = "SELECT indicator, weight::float8 AS weight, updated_at, updated_by FROM shiyu.assessment_weight"
SET_WEIGHT = """
INSERT INTO shiyu.assessment_weight (indicator, weight, updated_at, updated_by) VALUES (%(name)s, %(weight)s, now(), %(user)s)
ON CONFLICT (indicator) DO UPDATE SET weight = EXCLUDED.weight, updated_at = now(), updated_by = EXCLUDED.updated_by
RETURNING indicator
"""


def weights() -> dict[str, float]:
    """The weight of every indicator (0 for one the table does not name)."""
    stored = {r["indicator"]: r["weight"] for r in fetch_all(WEIGHTS)}
    return {i.name: float(stored.get(i.name, 0.0)) for i in INDICATORS}


def weight_rows() -> list[dict]:
    """The weights table as stored, with each indicator's labels and direction, in the order of INDICATORS."""
    stored = {r["indicator"]: r for r in fetch_all(WEIGHTS)}
    return [{"indicator": i.name, "zh": i.zh, "en": i.en, "better": i.better,
             "weight": stored[i.name]["weight"] if i.name in stored else 0.0,
             "updated_at": stored[i.name]["updated_at"].isoformat() if i.name in stored else None,
             "updated_by": stored[i.name]["updated_by"] if i.name in stored else None} for i in INDICATORS]


def set_weights(changes: dict[str, float], user_name: str | None, via: str = "cli") -> dict[str, float]:
    """Store new weights (as the owner: the ``shiyu`` command), audited; the weights after."""
    for name, weight in changes.items():
        if name not in BY_NAME:
            raise InputError(f"unknown indicator {name!r}; indicators: {', '.join(BY_NAME)}")
        if not 0 <= weight <= 100:
            raise InputError(f"the weight of {name} must be between 0 and 100, not {weight:g}")
    before = weights()
    for name, weight in changes.items():
        fetch_all(SET_WEIGHT, {"name": name, "weight": weight, "user": user_name or "unknown"})
    audit.record("assessment_weights", user_name, {"before": before, "set": changes, "via": via}, None)
    return weights()


def indicators_of(counts: dict | None) -> dict[str, float | int | None]:
    """The indicator values of one area from its counts (None where the area has nothing to divide by)."""
    c = {name: int((counts or {}).get(name) or 0) for name in COUNT_NAMES}
    median, share = (counts or {}).get("median_hours"), (counts or {}).get("patrol_share")
    return {
        "reports": c["reports"],
        "closure_rate": round(c["closed"] / c["reports"], 4) if c["reports"] else None,
        "on_time_rate": round(c["on_time"] / c["due"], 4) if c["due"] else None,
        "overdue_per_1000": round(1000 * c["late"] / c["reports"], 2) if c["reports"] else None,
        "median_hours": None if median is None else round(float(median), 2),
        "patrol_coverage": None if share is None else round(min(float(share), 1.0), 4),
        "orders": c["orders"],
        "orders_on_time_rate": round(c["replied_on_time"] / c["answerable"], 4) if c["answerable"] else None,
    }


def normalised(values: list[float | None], better: str) -> list[float | None]:
    """Min-max onto 0-100 among the areas with a value, 100 the best; every value equal: 100 for each."""
    present = [v for v in values if v is not None]
    if not present:
        return [None] * len(values)
    low, high = min(present), max(present)
    if high == low:
        return [None if v is None else 100.0 for v in values]
    span = high - low
    return [None if v is None else 100.0 * ((v - low) if better == HIGHER else (high - v)) / span for v in values]


def scored(rows: list[dict], weight: dict[str, float]) -> list[dict]:
    """``rows`` (dicts with ``code`` and the indicators) with ``score`` and ``rank``, best first.

    Only areas with at least ``MIN_REPORTS`` reports are scored, and normalised among themselves (``normalised``);
    score = Σ wᵢ·sᵢ / Σ wᵢ over the weighted indicators the area has a value of. An area not scored has score
    and rank None and is listed last. Rank 1 is the highest score; equal scores (at ``SCORE_DIGITS``) share a
    rank and the next rank skips (1, 1, 3), and within a tie rows go by code."""
    weighted = [i for i in INDICATORS if weight.get(i.name, 0) > 0]
    eligible = [r["reports"] >= MIN_REPORTS for r in rows]
    norm = {i.name: normalised([r[i.name] if ok else None for r, ok in zip(rows, eligible)], i.better)
            for i in weighted}
    for k, row in enumerate(rows):
        parts = [(weight[i.name], norm[i.name][k]) for i in weighted if norm[i.name][k] is not None]
        total = sum(w for w, _ in parts)
        row["score"] = round(sum(w * s for w, s in parts) / total, SCORE_DIGITS) if total else None
    ordered = sorted(rows, key=lambda r: (r["score"] is None, -(r["score"] or 0), r["code"]))
    for position, row in enumerate(ordered):
        tied = position and ordered[position - 1]["score"] == row["score"]
        row["rank"] = None if row["score"] is None else (ordered[position - 1]["rank"] if tied else position + 1)
    return ordered


def pct_change(now: float | None, before: float | None) -> float | None:
    """The % change from ``before`` to ``now`` (None without both, or from 0)."""
    if now is None or before is None or before == 0:
        return None
    return round(100.0 * (now - before) / before, 1)


def _areas(tier: str, within: Filters, scope: Scope) -> list[dict]:
    rows = fetch_all(AREAS, {"tier": tier, "scope": view_path(within, scope), "most": LEAGUE_AREAS + 1})
    if len(rows) > LEAGUE_AREAS:
        raise TooLarge(f"the {tier} league would hold more than its limit of {LEAGUE_AREAS:,} areas; "
                       "choose a coarser tier or rank inside one district (--area)")
    return rows


def _table(areas: list[dict], counts: dict[str, dict], weight: dict[str, float]) -> list[dict]:
    rows = [{"code": a["code"], "name": a["name"], **indicators_of(counts.get(a["path"]))} for a in areas]
    return scored(rows, weight)


# Leagues kept per process under everything they depend on: the tier, period, area and scope, the data's version
# (a load moves it), the weights, and the as-of minute (what is overdue moves with the clock; an order issued or
# replied to shows within the minute). The wall's screens and a district's officers then share one count.
LEAGUES = Cache(lambda: int(settings().cache_mb * (1 << 20)) // 4)
ROW_BYTES = 2_500  # about what a row with its CompStat dicts holds
WAIT_S = 30.0


def league(tier: str, period: str | Period, scope: Scope, area: str | None = None,
           now: datetime | None = None) -> list[dict]:
    """``league_now`` as of the clock, kept in ``LEAGUES``; as of ``now`` when given (tests), computed afresh."""
    if now is not None:
        return league_now(tier, period, scope, area, now)
    now = datetime.now(BEIJING)
    label = period.label if isinstance(period, Period) else str(period)
    key = ("league", tier, label, area, scope.path, data_version(), tuple(sorted(weights().items())),
           now.replace(second=0, microsecond=0))

    def compute() -> tuple[list[dict], int]:
        rows = league_now(tier, period, scope, area, now)
        return rows, ROW_BYTES * max(1, len(rows))

    return [dict(row) for row in LEAGUES.get(key, compute, WAIT_S)]


def league_now(tier: str, period: str | Period, scope: Scope, area: str | None, now: datetime) -> list[dict]:
    """The league of the ``tier``'s areas in scope (in the subtree of ``area`` if given) for ``period``
    (``YYYY-MM`` or ``YYYY-Www``), best first: per area ``code``, ``name``, ``rank``, ``score``, the indicators
    by name, ``previous_rank``, ``rank_change`` (previous rank minus this: positive moved up; None if unranked
    either time), ``previous`` and ``year_before`` (the indicators then) and ``change`` / ``change_year`` (the %
    change of each indicator against them), as of ``now``."""
    if tier not in TIERS:
        raise InputError(f"tier '{tier}' is not one of {', '.join(TIERS)}")
    period = period if isinstance(period, Period) else parse_period(period)
    if period.start > now:
        raise InputError(f"{period.label} has not begun; choose a period up to the current one")
    within = Filters(area_code=area)
    areas = _areas(tier, within, scope)
    if not areas:
        return []
    weight, depth = weights(), DEPTH[tier]
    tables = {which: _table(areas, period_counts(depth, p, within, scope, now), weight)
              for which, p in (("now", period), ("previous", previous(period)), ("year", year_before(period)))}
    before = {r["code"]: r for r in tables["previous"]}
    year = {r["code"]: r for r in tables["year"]}
    for row in tables["now"]:
        then, last_year = before[row["code"]], year[row["code"]]
        row["previous_rank"] = then["rank"]
        row["rank_change"] = None if row["rank"] is None or then["rank"] is None else then["rank"] - row["rank"]
        row["previous"] = {i.name: then[i.name] for i in INDICATORS}
        row["year_before"] = {i.name: last_year[i.name] for i in INDICATORS}
        row["change"] = {i.name: pct_change(row[i.name], then[i.name]) for i in INDICATORS}
        row["change_year"] = {i.name: pct_change(row[i.name], last_year[i.name]) for i in INDICATORS}
    return tables["now"]


AREA_OF = "SELECT tier, parent_code FROM shiyu.area WHERE code = %(code)s"


def standing(code: str, period: str | Period, scope: Scope) -> dict | None:
    """One area's row of the league of its tier among its siblings (the areas of its parent, as far as the scope
    reaches; alone when the scope is the area itself), with ``of``: how many were ranked. For the weekly brief's
    "rank"; None for the city, or an area of no rankable tier."""
    view_path(Filters(area_code=code), scope)  # an area outside the scope is refused here
    found = fetch_all(AREA_OF, {"code": code})
    if not found or found[0]["tier"] not in TIERS:
        return None
    parent = found[0]["parent_code"]
    try:
        rows = league(found[0]["tier"], period, scope, area=parent)
    except InputError:  # the parent lies outside the scope: the siblings the scope holds
        rows = league(found[0]["tier"], period, scope)
    mine = next((r for r in rows if r["code"] == code), None)
    return None if mine is None else {**mine, "of": sum(1 for r in rows if r["rank"] is not None)}
