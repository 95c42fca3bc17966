"""The counts behind the league table (``layers/assessment.py``), per area of one tier over one period.

Each count is read where it is cheapest to read exactly:

- reports, closed and the hours to close, from the day cube ``shiyu.incident_day`` (0010): a period is whole
  Beijing days, so its rows (category '' holds every category) are the incidents' counts exactly, and their
  ``resolve_hours`` pooled per area give the median of the incidents themselves;
- due and closed by the due time, and the reports that went past their due time, from the incidents: the cube
  keeps no due times. One pass over the incidents reported from ``MAX_SLA`` before the period (the earliest any
  incident due in it can have been reported) to its end, through the ``reported_at`` index;
- patrol coverage from ``layers.coverage.shares_by_path``, the coverage layer's own definition, over the
  period's days;
- supervision orders from ``shiyu.supervision_order`` (0027), by the path of the order.

Every query is held to the caller's subtree (``%(scope)s``, and row-level security under ``shiyu_app``).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

from geodata.db import fetch_all, side_by_side
from geodata.taxonomy import CATEGORIES, CLOSED_STATUSES
from geodata.scope import Scope
from layers.base import Filters, view_path
from layers.coverage import shares_by_path
from layers.periods import Period

MAX_SLA = timedelta(hours=max(c.sla_hours for c in CATEGORIES.values()))

AREA = "subpath(path, 0, %(depth)s)::text"
IN_SUBTREE = "nlevel(path) >= %(depth)s AND (%(scope)s::ltree IS NULL OR path <@ %(scope)s::ltree)"

# Reports, closed (verified or closed: the cube's n_resolved) and the median of their hours to close.
CUBE_COUNTS = """
WITH days AS (
    SELECT """ + AREA + """ AS area, n, n_resolved, resolve_hours
    FROM shiyu.incident_day
    WHERE category = '' AND day >= %(first_day)s AND day < %(end_day)s AND """ + IN_SUBTREE + """
), counted AS (
    SELECT area, sum(n)::bigint AS reports, sum(n_resolved)::bigint AS closed FROM days GROUP BY area
), pooled AS (
    SELECT area, percentile_cont(0.5) WITHIN GROUP (ORDER BY h) AS median_hours
    FROM days CROSS JOIN LATERAL unnest(resolve_hours) h GROUP BY area
)
SELECT c.area AS path, c.reports, c.closed, p.median_hours FROM counted c LEFT JOIN pooled p USING (area)
"""

# ``due``: due in the period and by the as-of time; ``on_time`` of them closed with a resolution no later than
# the due time; ``late``: reported in the period, due by the as-of time, and not closed by then within it.
_CLOSED_IN_TIME = "coalesce(status = ANY(%(closed)s::text[]) AND resolved_at <= due_at, false)"
DUE_COUNTS = """
SELECT """ + AREA + """ AS path,
       count(*) FILTER (WHERE due_at >= %(start)s AND due_at < %(due_end)s) AS due,
       count(*) FILTER (WHERE due_at >= %(start)s AND due_at < %(due_end)s AND """ + _CLOSED_IN_TIME + """) AS on_time,
       count(*) FILTER (WHERE reported_at >= %(start)s AND due_at < %(now)s AND NOT """ + _CLOSED_IN_TIME + """) AS late
FROM shiyu.incident
WHERE reported_at >= %(reach_back)s AND reported_at < %(end)s AND path IS NOT NULL AND """ + IN_SUBTREE + """
GROUP BY 1
"""

# Orders issued in the period to an area at or below the tier; those whose reply was due by the as-of time or
# has come (``answerable``), and of them those replied to by the reply deadline.
ORDER_COUNTS = """
SELECT """ + AREA + """ AS path, count(*) AS orders,
       count(*) FILTER (WHERE replied_at IS NOT NULL OR reply_due_at < %(now)s) AS answerable,
       count(*) FILTER (WHERE replied_at IS NOT NULL AND replied_at <= reply_due_at) AS replied_on_time
FROM shiyu.supervision_order
WHERE issued_at >= %(start)s AND issued_at < %(end)s AND """ + IN_SUBTREE + """
GROUP BY 1
"""

COUNT_NAMES = ("reports", "closed", "due", "on_time", "late", "orders", "answerable", "replied_on_time")


def period_counts(depth: int, period: Period, within: Filters, scope: Scope, now: datetime) -> dict[str, dict]:
    """{area path: its counts, median_hours and patrol share} for the areas at ``depth`` in the subtree of
    ``within.area_code`` (None: the scope's)."""
    path = view_path(within, scope)
    params = {"depth": depth, "scope": path, "first_day": period.first_day, "end_day": period.end_day,
              "start": period.start, "end": period.end, "due_end": min(period.end, now), "now": now,
              "reach_back": period.start - MAX_SLA, "closed": list(CLOSED_STATUSES)}
    window = dataclasses.replace(within, since=period.start, until=period.end)
    cube, due, orders, shares = side_by_side(
        lambda: fetch_all(CUBE_COUNTS, params), lambda: fetch_all(DUE_COUNTS, params),
        lambda: fetch_all(ORDER_COUNTS, params), lambda: shares_by_path(depth, None, window, scope))
    found: dict[str, dict] = {}
    for rows in (cube, due, orders):
        for row in rows:
            found.setdefault(row["path"], {}).update({k: v for k, v in row.items() if k != "path"})
    for key, share in shares.items():
        found.setdefault(key, {})["patrol_share"] = share
    return found
