"""The numbers around the wall's map: headline KPIs, a daily trend, a category breakdown, the latest reports.

Definitions
-----------
Days are Beijing (Asia/Shanghai) calendar days; ``now`` (tests pass it) is
the current time otherwise. These panels set their own time windows, so
``filters.since`` and ``filters.until`` are ignored; the scope (the chosen
area inside the user's scope), categories, severities and statuses apply.

- ``today``: incidents reported from Beijing midnight up to ``now``;
- ``open``: incidents not yet verified or closed, whenever reported;
- ``overdue``: open and past their due time (the category's SLA) at ``now``;
- ``resolved_share``: of the incidents reported in the last ``days`` Beijing
  days (today included), the share verified or closed; None without any;
- ``patrol_share``: the area-weighted share of every grid in scope lying in
  H3 r10 cells a patrol visited in the patrol window (the last 7 Beijing days,
  ``layers/coverage.py``), computed directly over all grids at once rather
  than as a mean of per-area shares; None when no grid has r10 cells.

Personal data leaves this module masked (``geodata.pii``) or not at all.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta, timezone

from geodata.db import fetch_all
from geodata.pii import mask_name, mask_phone
from geodata.scope import Scope
from geodata.taxonomy import CLOSED_STATUSES
from layers.base import BEIJING, INCIDENT_FILTERS, OVERDUE, Filters, beijing_midnight, incident_params
from layers.coverage import shares_by_path

DEFAULT_DAYS = 30
MAX_LATEST = 100

# The window's counts read the reported_at index; the open ones (no window) the partial index of open incidents
# (migration 0009), which the planner takes because the status test is the index's own predicate.
HEADLINE_RECENT = """
SELECT count(*) FILTER (WHERE reported_at >= %(today)s) AS today,
       count(*) AS recent,
       count(*) FILTER (WHERE status = ANY(%(closed)s::text[])) AS recent_resolved
FROM shiyu.incident
WHERE reported_at >= %(first)s AND reported_at < %(now)s AND """ + INCIDENT_FILTERS

HEADLINE_OPEN = """
SELECT count(*) AS open, count(*) FILTER (WHERE """ + OVERDUE + """) AS overdue
FROM shiyu.incident
WHERE status <> ALL(%(closed)s::text[]) AND """ + INCIDENT_FILTERS

# Grouped by the Beijing day in SQL, so the answer does not depend on the session's time zone.
DAILY = """
SELECT (reported_at AT TIME ZONE 'Asia/Shanghai')::date AS day, count(*) AS n
FROM shiyu.incident
WHERE """ + INCIDENT_FILTERS + """
GROUP BY 1
"""

BY_CATEGORY = """
SELECT category, count(*) AS n
FROM shiyu.incident
WHERE """ + INCIDENT_FILTERS + """
GROUP BY 1
ORDER BY 2 DESC, 1
"""

# Newest first through the reported_at index; the personal fields are masked in Python before they go anywhere.
LATEST = """
SELECT source, external_id, reported_at, category, severity, status, grid_code,
       (SELECT a.name FROM shiyu.area a WHERE a.code = i.grid_code) AS grid_name,
       """ + OVERDUE + """ AS overdue,
       pii ->> 'reporter_name' AS reporter_name, pii ->> 'reporter_phone' AS reporter_phone
FROM shiyu.incident i
WHERE """ + INCIDENT_FILTERS + """
ORDER BY reported_at DESC, source, external_id
LIMIT %(limit)s
"""

LAST_LOAD = "SELECT max(finished_at) AS finished FROM shiyu.load_batch WHERE status = 'loaded'"


def _now(now: datetime | None) -> datetime:
    return (now or datetime.now(timezone.utc)).astimezone(BEIJING)


def _window(filters: Filters, scope: Scope, first: datetime | None, end: datetime | None) -> dict:
    """``incident_params`` with the panel's own window in place of the user's."""
    return {**incident_params(filters, scope), "since": first, "until": end}


def headline(filters: Filters, scope: Scope, now: datetime | None = None, days: int = DEFAULT_DAYS) -> dict:
    """Today's, open and overdue incidents, the resolved share of the last ``days`` days and patrol coverage."""
    now = _now(now)
    today = beijing_midnight(now.date())
    first = beijing_midnight(now.date() - timedelta(days=days - 1))
    params = {**_window(filters, scope, None, None), "today": today, "first": first, "now": now,
              "closed": list(CLOSED_STATUSES)}
    row = {**fetch_all(HEADLINE_RECENT, params)[0], **fetch_all(HEADLINE_OPEN, params)[0]}
    recent = int(row["recent"])
    # Depth 0 groups every grid in scope into one row: the area-weighted share of them all.
    coverage = shares_by_path(0, None, replace(filters, since=None, until=now), scope)
    share = next(iter(coverage.values()), None)
    return {
        "today": int(row["today"]), "open": int(row["open"]), "overdue": int(row["overdue"]),
        "recent": recent, "days": days,
        "resolved_share": round(int(row["recent_resolved"]) / recent, 4) if recent else None,
        "patrol_share": None if share is None else round(share, 4),
    }


def daily_trend(filters: Filters, scope: Scope, days: int = DEFAULT_DAYS,
                now: datetime | None = None) -> list[tuple[date, int]]:
    """(Beijing day, incidents reported that day) for the last ``days`` days up to today, quiet days as 0."""
    now = _now(now)
    first_day = now.date() - timedelta(days=days - 1)
    rows = fetch_all(DAILY, _window(filters, scope, beijing_midnight(first_day), beijing_midnight(now.date() + timedelta(days=1))))
    counts = {r["day"]: int(r["n"]) for r in rows}
    return [(day, counts.get(day, 0)) for day in (first_day + timedelta(days=k) for k in range(days))]


def category_breakdown(filters: Filters, scope: Scope, days: int = DEFAULT_DAYS,
                       now: datetime | None = None) -> list[tuple[str, int]]:
    """(category, incidents) over the same days as ``daily_trend``, the largest first."""
    now = _now(now)
    first = beijing_midnight(now.date() - timedelta(days=days - 1))
    rows = fetch_all(BY_CATEGORY, _window(filters, scope, first, beijing_midnight(now.date() + timedelta(days=1))))
    return [(r["category"], int(r["n"])) for r in rows]


def latest_incidents(filters: Filters, scope: Scope, n: int = 15, now: datetime | None = None) -> list[dict]:
    """The ``n`` (at most ``MAX_LATEST``) newest incidents, reporter name and phone masked."""
    now = _now(now)
    rows = fetch_all(LATEST, {**_window(filters, scope, None, None), "closed": list(CLOSED_STATUSES), "now": now,
                              "limit": max(0, min(n, MAX_LATEST))})
    return [{
        "id": f"{r['source']}:{r['external_id']}", "reported_at": r["reported_at"].astimezone(BEIJING),
        "category": r["category"], "severity": r["severity"], "status": r["status"], "overdue": bool(r["overdue"]),
        "grid_code": r["grid_code"], "grid_name": r["grid_name"],
        "reporter": mask_name(r["reporter_name"]), "phone": mask_phone(r["reporter_phone"]),
    } for r in rows]


def data_as_of() -> datetime | None:
    """When the newest load that went through finished (Beijing time), or None before any."""
    finished = fetch_all(LAST_LOAD)[0]["finished"]
    return None if finished is None else finished.astimezone(BEIJING)
