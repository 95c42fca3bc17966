"""When the weekly cube (``shiyu.incident_week``) can answer instead of the incidents, and how to ask it.

The cube keeps counts per Monday-started Beijing week, category, district and
H3 r7/r8 cell. It answers a query at r7 or r8 whose scope is the city or one
district, whose window (if any) starts and ends on week boundaries, and which
narrows by nothing but categories; anything else reads ``shiyu.incident``.
"""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from geodata.scope import Scope
from layers.base import Filters, view_path

BEIJING = ZoneInfo("Asia/Shanghai")
CUBE_RESOLUTIONS = (7, 8)

CUBE_FILTERS = """
    (%(district)s::text IS NULL OR district = %(district)s)
    AND (%(since_week)s::date IS NULL OR week >= %(since_week)s)
    AND (%(until_week)s::date IS NULL OR week < %(until_week)s)
    AND (cardinality(%(categories)s::text[]) = 0 OR category = ANY(%(categories)s::text[]))
"""


def week_start(moment: datetime | None) -> date | None | bool:
    """The week ``moment`` opens in Beijing time, None for no bound, False when it falls inside a week."""
    if moment is None:
        return None
    local = moment.astimezone(BEIJING)
    aligned = local.weekday() == 0 and local.time() == time(0)
    return local.date() if aligned else False


def cube_params(filters: Filters, scope: Scope) -> dict | None:
    """The bound values of ``CUBE_FILTERS``, or None when the cube cannot answer."""
    if filters.res not in CUBE_RESOLUTIONS or filters.severities or filters.statuses:
        return None
    since, until = week_start(filters.since), week_start(filters.until)
    if since is False or until is False:
        return None
    path = view_path(filters, scope)
    labels = path.split(".") if path else []
    if len(labels) not in (0, 2):  # the cube is kept per district; finer subtrees read the incidents
        return None
    return {"district": labels[1] if labels else None, "since_week": since, "until_week": until,
            "categories": list(filters.categories)}
