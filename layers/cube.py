"""When a cube can answer instead of the incidents, which one, and how to ask it.

Two cubes, both kept by the incident loader by deltas:

- ``shiyu.incident_cell``: all-time counts per category, district and H3
  r9 cell (with its r7 and r8 cells). It answers views without a time window
  at r7–r9, and stops growing once the city's cells are filled.
- ``shiyu.incident_week``: the same per Monday-started Beijing week, at r7
  and r8. It answers windows that start and end on week boundaries.

Either answers only a scope of the city or one district, narrowed by nothing
but categories; anything else reads ``shiyu.incident``.
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
WEEK_FILTERS = CUBE_FILTERS + """
    AND (%(since_week)s::date IS NULL OR week >= %(since_week)s)
    AND (%(until_week)s::date IS NULL OR week < %(until_week)s)
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
    if moment is None:
        return None
    local = moment.astimezone(BEIJING)
    aligned = local.weekday() == 0 and local.time() == time(0)
    return local.date() if aligned else False


def cube_for(filters: Filters, scope: Scope) -> Cube | None:
    """The cube that answers these filters, or None when the incidents must be read."""
    if filters.severities or filters.statuses:
        return None
    windowed = filters.since is not None or filters.until is not None
    if filters.res not in (WEEK_RESOLUTIONS if windowed else CELL_RESOLUTIONS):
        return None
    since, until = week_start(filters.since), week_start(filters.until)
    if since is False or until is False:
        return None
    path = view_path(filters, scope)
    labels = path.split(".") if path else []
    if len(labels) not in (0, 2):  # the cubes are kept per district; finer subtrees read the incidents
        return None
    params = {"district": labels[1] if labels else None, "categories": list(filters.categories)}
    if not windowed:
        return Cube("incident_cell", CUBE_FILTERS, params)
    return Cube("incident_week", WEEK_FILTERS, {**params, "since_week": since, "until_week": until})
