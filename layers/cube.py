"""When a cube can answer instead of the incidents, which one, and how to ask it.

The cubes, all kept in step with the incidents' loads:

- ``shiyu.incident_cell``: all-time counts per category, grid (the incidents'
  path, and its district) and H3 r9 cell (with its r7 and r8 cells). It
  answers views without a time window at r7–r9 in any scope or chosen area,
  and stops growing once the city's cells are filled.
- ``shiyu.incident_week``: counts per Monday-started Beijing week, category,
  district and r8 cell. It answers windows that start and end on week
  boundaries, for the city or one district, at r7 and r8.
- ``shiyu.incident_week_r7``: ``incident_week`` summed over categories at
  r7 (kept by triggers on it), for those windows at r7 without categories:
  a tenth of the rows at 10M incidents.
- ``shiyu.incident_week_cell``: the same per grid and r9 cell. It answers
  the windows on week boundaries the other cannot: r9, and any scope or
  chosen area finer than a district (a street's emerging hot spots).
- ``shiyu.incident_cell_r7``: ``incident_cell`` summed over categories,
  grids and finer cells, per district and r7 cell: views without a window
  at r7 without categories, for the city or one district (the first map,
  the wall's hot spots): at most the city's r7 cells per district.
- ``shiyu.incident_day_r7``: counts per Beijing day, district and r7 cell
  over all categories. It answers windows on day boundaries that are not on
  week boundaries ("the last 7 days") at r7 without categories, for the city
  or one district.

Either is narrowed by nothing but categories; anything else (severities,
statuses, other windows, r10) reads ``shiyu.incident``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time

from geodata.scope import Scope
from layers.base import BEIJING, Filters, view_path

CELL_RESOLUTIONS = (7, 8, 9)
WEEK_RESOLUTIONS = (7, 8)

CUBE_FILTERS = """
    (%(district)s::text IS NULL OR district = %(district)s)
    AND (cardinality(%(categories)s::text[]) = 0 OR category = ANY(%(categories)s::text[]))
"""
CELL_FILTERS = CUBE_FILTERS + """
    AND (%(scope)s::ltree IS NULL OR path <@ %(scope)s::ltree)
"""
WEEKS = """
    AND (%(since_week)s::date IS NULL OR week >= %(since_week)s)
    AND (%(until_week)s::date IS NULL OR week < %(until_week)s)
"""
WEEK_FILTERS = CUBE_FILTERS + WEEKS
WEEK_R7_FILTERS = """
    (%(district)s::text IS NULL OR district = %(district)s)""" + WEEKS
WEEK_CELL_FILTERS = CELL_FILTERS + WEEKS
CELL_R7_FILTERS = """
    (%(district)s::text IS NULL OR district = %(district)s)
"""
DAY_R7_FILTERS = """
    (%(district)s::text IS NULL OR district = %(district)s)
    AND (%(since_day)s::date IS NULL OR day >= %(since_day)s)
    AND (%(until_day)s::date IS NULL OR day < %(until_day)s)
"""


@dataclass(frozen=True)
class Cube:
    table: str    # in schema shiyu
    where: str    # the filter fragment its queries end their WHERE with
    params: dict  # its bound values

    def query(self, template: str) -> str:
        """``template`` with its ``<cube>`` and ``<where>`` filled (both module constants, never user input)."""
        return template.replace("<cube>", f"shiyu.{self.table}").replace("<where>", self.where)


def week_start(moment: datetime | None) -> date | None | bool:
    """The week ``moment`` opens in Beijing time, None for no bound, False when it falls inside a week."""
    day = day_start(moment)
    return day if day in (None, False) or day.weekday() == 0 else False


def day_start(moment: datetime | None) -> date | None | bool:
    """The day ``moment`` opens in Beijing time, None for no bound, False when it falls inside a day."""
    if moment is None:
        return None
    local = moment.astimezone(BEIJING)
    return local.date() if local.time() == time(0) else False


def cube_for(filters: Filters, scope: Scope) -> Cube | None:
    """The cube that answers these filters, or None when the incidents must be read."""
    if filters.severities or filters.statuses:
        return None
    windowed = filters.since is not None or filters.until is not None
    if filters.res not in CELL_RESOLUTIONS:
        return None
    path = view_path(filters, scope)
    labels = path.split(".") if path else []
    params = {"district": labels[1] if len(labels) > 1 else None, "categories": list(filters.categories)}
    smallest = len(labels) in (0, 2) and filters.res == 7 and not filters.categories
    if not windowed:
        if smallest:
            return Cube("incident_cell_r7", CELL_R7_FILTERS, params)
        return Cube("incident_cell", CELL_FILTERS, {**params, "scope": path})  # kept per grid: any subtree
    since, until = week_start(filters.since), week_start(filters.until)
    if since is False or until is False:
        days = {"since_day": day_start(filters.since), "until_day": day_start(filters.until)}
        if smallest and False not in days.values():  # on days, not weeks
            return Cube("incident_day_r7", DAY_R7_FILTERS, {**params, **days})
        return None
    weeks = {"since_week": since, "until_week": until}
    if smallest:
        return Cube("incident_week_r7", WEEK_R7_FILTERS, {**params, **weeks})
    if len(labels) in (0, 2) and filters.res in WEEK_RESOLUTIONS:  # the city or a district: the smaller cube
        return Cube("incident_week", WEEK_FILTERS, {**params, **weeks})
    return Cube("incident_week_cell", WEEK_CELL_FILTERS, {**params, **weeks, "scope": path})
