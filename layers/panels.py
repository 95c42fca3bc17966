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

Where they are read
-------------------
Without a severity or status filter (which the cubes do not keep) the
windowed counts (``today``, ``resolved_share``, the daily trend and, for a
scope no deeper than a street, the category breakdown) read whole Beijing
days from the street roll-up ``shiyu.incident_day_street`` (for a deeper
scope the day cube ``shiyu.incident_day``), today so far
from the incidents through the ``reported_at`` index, and, for the whole
database, the incidents in no grid (which the cube leaves out) through their
own partial index; ``open`` is every day's incidents less the resolved in
the street roll-up (plus the incidents in no grid), or below a street the
all-time cube's count of open incidents (``shiyu.incident_cell``, kept per
grid), and ``overdue`` is that
less the open incidents not yet due, a range of the open-incident index that
starts at now. Anything else reads the incidents. Both ways give the same
numbers (``tests/layers/test_panels_cube.py``).

Personal data leaves this module masked (``geodata.pii``) or not at all.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta, timezone

from geodata.db import fetch_all
from geodata.pii import mask_name, mask_phone
from geodata.scope import Scope
from geodata.taxonomy import CATEGORIES, CLOSED_STATUSES
from layers import street_kpis, windows
from layers.base import BEIJING, INCIDENT_FILTERS, OVERDUE, Filters, beijing_midnight, incident_params
from layers.coverage import shares_by_path
from layers.cube import CELL_RESOLUTIONS, cube_for
from layers.windows import day_split

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

# The window's incidents as (day, category, n, n_resolved) rows: whole days from <day_cube> (``_day_cube``: the
# street roll-up or the day cube, their rows of %(cube_categories)s: '' for all categories together, or each), the
# part-days at the ends from the incidents, and the whole days' incidents in no grid, which only the whole
# database sees and the cubes leave out. The cubes' resolved are CLOSED_STATUSES (0010_incident_day.sql). The
# category breakdown reads the day cube's rows of each category only through the street roll-up: a month of
# them per grid (876k at 10M, 2 GB of table around them) took longer than the incidents.
WINDOW_BY_DAY = """
SELECT day, category, n, n_resolved
FROM <day_cube>
WHERE day >= %(first_day)s AND day < %(end_day)s AND category = ANY(%(cube_categories)s::text[])
  AND (%(scope)s::ltree IS NULL OR path <@ %(scope)s::ltree)
UNION ALL
SELECT (reported_at AT TIME ZONE 'Asia/Shanghai')::date, category, 1, (status = ANY(%(closed)s::text[]))::int
FROM shiyu.incident
WHERE ((reported_at >= %(since)s AND reported_at < %(head_end)s) OR (reported_at >= %(tail_start)s AND reported_at < %(until)s))
  AND """ + INCIDENT_FILTERS + """
UNION ALL
SELECT (reported_at AT TIME ZONE 'Asia/Shanghai')::date, category, 1, (status = ANY(%(closed)s::text[]))::int
FROM shiyu.incident
WHERE path IS NULL AND %(scope)s::ltree IS NULL AND reported_at >= %(whole_start)s AND reported_at < %(whole_end)s
  AND (cardinality(%(categories)s::text[]) = 0 OR category = ANY(%(categories)s::text[]))
"""

HEADLINE_RECENT_BY_DAY = """
SELECT coalesce(sum(n) FILTER (WHERE day = %(today_day)s), 0) AS today, coalesce(sum(n), 0) AS recent,
       coalesce(sum(n_resolved), 0) AS recent_resolved
FROM (""" + WINDOW_BY_DAY + """) w"""

DAILY_BY_DAY = "SELECT day, sum(n) AS n FROM (" + WINDOW_BY_DAY + ") w GROUP BY 1"
# The cube's rows of each category (``cube_categories`` binds them all, or those asked for).
BY_CATEGORY_BY_DAY = "SELECT category, sum(n) AS n FROM (" + WINDOW_BY_DAY + ") w GROUP BY 1 ORDER BY 2 DESC, 1"

# Open incidents from the all-time cube (<cube>, <where>: layers/cube.py), and those of them not yet due (or with
# no due time, which OVERDUE never counts) from the open-incident indexes, a range from now on: overdue is the
# difference. The two counts apart: each reads the index alone (at 10M, 80,000 entries in 17 ms), where the two
# tests joined by OR took a bitmap of both and the rows behind it (37 ms).
OPEN_FROM_CUBE = "SELECT coalesce(sum(n_open), 0) AS open FROM <cube> WHERE <where>"
NOT_YET_DUE = """
SELECT (SELECT count(*) FROM shiyu.incident
        WHERE status <> ALL(%(closed)s::text[]) AND due_at >= %(now)s AND """ + INCIDENT_FILTERS + """)
     + (SELECT count(*) FROM shiyu.incident
        WHERE status <> ALL(%(closed)s::text[]) AND due_at IS NULL AND """ + INCIDENT_FILTERS + """) AS not_due
"""

# The same open count from the street roll-up where it answers (a scope no deeper than a street): every day's
# incidents less the verified or closed, which is what is open, and for the whole database the incidents in no
# grid through their partial index; at 10M the city's 34,000 rows against the all-time cube's 1.4 million.
OPEN_BY_DAY = """
SELECT (SELECT coalesce(sum(n - n_resolved), 0) FROM shiyu.incident_day_street
        WHERE category = ANY(%(cube_categories)s::text[]) AND (%(scope)s::ltree IS NULL OR path <@ %(scope)s::ltree))
     + (SELECT count(*) FROM shiyu.incident
        WHERE path IS NULL AND %(scope)s::ltree IS NULL AND status <> ALL(%(closed)s::text[])
          AND (cardinality(%(categories)s::text[]) = 0 OR category = ANY(%(categories)s::text[]))) AS open
"""

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

# The reports of the batches that went through in the last %(seconds)s (and after %(after)s, if given), newest first,
# with how long ago their batch finished (just before its commit): what the wall marks as just arrived. A status
# change of an older report moves its batch_id too, so only reports of the last ARRIVAL_HOURS count. Batches are told
# apart by when they finished, not by id: ids are drawn when a batch starts, so a long batch committing after a short
# one has the smaller id. The batches are read first (a few rows of load_batch; on a quiet wall none, and then the
# incidents are not read at all), then their rows through the updated_at index: a batch writes its rows after it
# started, so ``updated_at >= first started`` bounds the read to the rows of the last seconds. (incident.batch_id has
# no index; read through reported_at, the day's reports were scanned: 4 s a redraw at 10M while posts flowed.)
ARRIVED_BATCHES = """
SELECT id, started_at, extract(epoch FROM now() - finished_at) AS age_s FROM shiyu.load_batch
WHERE status = 'loaded' AND finished_at > greatest(now() - make_interval(secs => %(seconds)s), %(after)s::timestamptz)
"""
ARRIVALS = """
SELECT source, external_id, category, ST_X(geom) AS lon, ST_Y(geom) AS lat, batch_id
FROM shiyu.incident i
WHERE i.updated_at >= %(first)s AND i.batch_id = ANY(%(batches)s::bigint[])
  AND reported_at >= %(recent)s AND """ + INCIDENT_FILTERS + """
ORDER BY reported_at DESC, source, external_id
LIMIT %(limit)s
"""
ARRIVAL_HOURS = 24
MAX_ARRIVALS = 500


def _now(now: datetime | None) -> datetime:
    return (now or datetime.now(timezone.utc)).astimezone(BEIJING)


def _window(filters: Filters, scope: Scope, first: datetime | None, end: datetime | None) -> dict:
    """``incident_params`` with the panel's own window in place of the user's."""
    return {**incident_params(filters, scope), "since": first, "until": end}


def _shallow(params: dict) -> bool:
    """Whether the scope is no deeper than a street, so the street roll-up (0014) holds its whole days."""
    return params["scope"] is None or params["scope"].count(".") + 1 <= street_kpis.STREET_DEPTH


def _day_cube(query: str, params: dict) -> str:
    """``query`` reading whole days from the street roll-up where it can (it has a month of the city in 5,700
    rows, the day cube in 300,000), else from the day cube of the grids."""
    return query.replace("<day_cube>", "shiyu.incident_day_street" if _shallow(params) else "shiyu.incident_day")


def _by_day(filters: Filters, scope: Scope, first: datetime, end: datetime) -> dict:
    """The parameters of ``WINDOW_BY_DAY`` for the window [first, end): its days split as ``windows.day_split``."""
    split = day_split(first, end)
    whole_end = beijing_midnight(split["end_day"]) if split["end_day"] > split["first_day"] else first
    return {**_window(filters, scope, first, end), **split, "closed": list(CLOSED_STATUSES),
            "whole_start": beijing_midnight(split["first_day"]), "whole_end": whole_end,
            "cube_categories": windows.cube_categories(filters)}


def _open(filters: Filters, scope: Scope, params: dict) -> dict:
    """``open`` and ``overdue`` now, from the street roll-up or the all-time cube where one answers, else from the
    incidents."""
    if not windows.reads_cube(filters):
        return fetch_all(HEADLINE_OPEN, params)[0]
    if _shallow(params):
        opened = int(fetch_all(OPEN_BY_DAY, {**params, "cube_categories": windows.cube_categories(filters)})[0]["open"])
    else:
        cube = cube_for(replace(filters, res=CELL_RESOLUTIONS[-1], since=None, until=None), scope)
        if cube is None:
            return fetch_all(HEADLINE_OPEN, params)[0]
        opened = int(fetch_all(cube.query(OPEN_FROM_CUBE), cube.params)[0]["open"])
    return {"open": opened, "overdue": opened - int(fetch_all(NOT_YET_DUE, params)[0]["not_due"])}


def headline(filters: Filters, scope: Scope, now: datetime | None = None, days: int = DEFAULT_DAYS) -> dict:
    """Today's, open and overdue incidents, the resolved share of the last ``days`` days and patrol coverage."""
    now = _now(now)
    today = beijing_midnight(now.date())
    first = beijing_midnight(now.date() - timedelta(days=days - 1))
    params = {**_window(filters, scope, None, None), "today": today, "first": first, "now": now,
              "closed": list(CLOSED_STATUSES)}
    by_day = _by_day(filters, scope, first, now) if windows.reads_cube(filters) else None
    recent = (fetch_all(_day_cube(HEADLINE_RECENT_BY_DAY, by_day), {**by_day, "today_day": now.date()})
              if by_day else fetch_all(HEADLINE_RECENT, params))
    row = {**recent[0], **_open(filters, scope, params)}
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
    first, end = beijing_midnight(first_day), beijing_midnight(now.date() + timedelta(days=1))
    by_day = _by_day(filters, scope, first, end) if windows.reads_cube(filters) else None
    rows = (fetch_all(_day_cube(DAILY_BY_DAY, by_day), by_day) if by_day
            else fetch_all(DAILY, _window(filters, scope, first, end)))
    counts = {r["day"]: int(r["n"]) for r in rows}
    return [(day, counts.get(day, 0)) for day in (first_day + timedelta(days=k) for k in range(days))]


def category_breakdown(filters: Filters, scope: Scope, days: int = DEFAULT_DAYS,
                       now: datetime | None = None) -> list[tuple[str, int]]:
    """(category, incidents) over the same days as ``daily_trend``, the largest first."""
    now = _now(now)
    first, end = beijing_midnight(now.date() - timedelta(days=days - 1)), beijing_midnight(now.date() + timedelta(days=1))
    by_day = _by_day(filters, scope, first, end) if windows.reads_cube(filters) else None
    if by_day is not None and _shallow(by_day):
        rows = fetch_all(_day_cube(BY_CATEGORY_BY_DAY, by_day),
                         {**by_day, "cube_categories": list(filters.categories) or list(CATEGORIES)})
    else:
        rows = fetch_all(BY_CATEGORY, _window(filters, scope, first, end))
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


def arrivals(filters: Filters, scope: Scope, seconds: float, after: datetime | None = None,
             now: datetime | None = None, limit: int = MAX_ARRIVALS) -> list[dict]:
    """The reports of the last ``ARRIVAL_HOURS`` whose batch went through in the last ``seconds`` (and after
    ``after``, when given: what a screen opened then has seen arrive), newest first, as
    ``{"id", "category", "lon", "lat", "age_s"}`` (WGS-84; ``age_s`` since their batch went through): what the wall
    marks as just arrived."""
    now = _now(now)
    batches = fetch_all(ARRIVED_BATCHES, {"seconds": float(seconds), "after": after})
    if not batches:
        return []
    age = {b["id"]: b["age_s"] for b in batches}
    rows = fetch_all(ARRIVALS, {**_window(filters, scope, None, None), "batches": list(age),
                                "first": min(b["started_at"] for b in batches),
                                "recent": now - timedelta(hours=ARRIVAL_HOURS), "limit": max(0, min(limit, MAX_ARRIVALS))})
    return [{"id": f"{r['source']}:{r['external_id']}", "category": r["category"], "lon": round(r["lon"], 6),
             "lat": round(r["lat"], 6), "age_s": max(0.0, round(float(age[r["batch_id"]]), 1))} for r in rows]
