"""A window of Beijing days as the cubes read it: its whole days from a cube, the part-days at its ends from the
incidents.

``day_split`` splits a window into its whole days and the part-days left at
its ends; ``part_split`` reads a part-day longer than half a day as its whole
day less the rest of it instead, which the incidents hold fewer of. The SQL
fragments here read those part-days (``PART_DAYS``) for the areas asked
(``AREAS``), grouped by the area each incident counts for (``GROUP``): the
day cube's KPIs (``layers/kpis.py``) and the street roll-up's
(``layers/street_kpis.py``) share them.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from layers.base import BEIJING, INCIDENT_FILTERS, Filters, beijing_midnight

# The area an incident counts for at %(depth)s; %(floor)s (the depth itself, or a parent's for ``family_kpis``) is the
# shallowest path read, so the incidents lying directly in a parent, above its children, are a group of their own.
GROUP = "subpath(path, 0, least(nlevel(path), %(depth)s))::text"

# What the queries below narrow by besides INCIDENT_FILTERS: the areas asked for, and their grids.
AREAS = """
  AND (%(paths)s::ltree[] IS NULL OR path <@ %(paths)s::ltree[]) AND nlevel(path) >= %(floor)s
  AND (%(grids)s::text[] IS NULL OR grid_code = ANY(%(grids)s::text[]))"""

# The incidents of the part-days at the window's ends (sign 1) and of the rest of the days read whole in their place
# (sign -1), as ``part_split`` splits the window, with their hours to resolve.
PART_DAYS = """
    FROM shiyu.incident
    CROSS JOIN LATERAL (SELECT (extract(epoch FROM resolved_at - reported_at) / 3600)::float8,
                               CASE WHEN reported_at >= %(head_start)s
                                    AND (%(tail_end)s::timestamptz IS NULL OR reported_at < %(tail_end)s)
                                    THEN 1 ELSE -1 END
                       ) h(hours, sign)
    WHERE ((reported_at >= %(head_start)s AND reported_at < %(head_end)s)
           OR (reported_at >= %(tail_start)s AND reported_at < %(tail_end)s)
           OR (reported_at >= %(less_head_start)s AND reported_at < %(head_start)s)
           OR (reported_at >= %(tail_end)s AND reported_at < %(less_tail_end)s))
      AND """ + INCIDENT_FILTERS + AREAS


def whole_days(since: datetime | None, until: datetime | None) -> tuple[date | None, date | None]:
    """The first Beijing day wholly inside [since, until) and the day it ends on (excluded); None where unbounded."""
    first_day = end_day = None
    if since is not None:
        local = since.astimezone(BEIJING)
        first_day = local.date() if local == beijing_midnight(local.date()) else local.date() + timedelta(days=1)
    if until is not None:
        end_day = until.astimezone(BEIJING).date()
    return first_day, end_day


def day_split(since: datetime, until: datetime | None) -> dict:
    """The whole Beijing days of [since, until) as ``first_day`` … ``end_day`` (excluded; None: no end), and the
    part-days left at its ends as [since, head_end) and [tail_start, until); without a whole day, all of it is
    the head."""
    first_day, end_day = whole_days(since, until)
    if until is None:
        return {"first_day": first_day, "end_day": None, "head_end": beijing_midnight(first_day), "tail_start": None}
    if first_day >= end_day:
        return {"first_day": first_day, "end_day": first_day, "head_end": until, "tail_start": until}
    return {"first_day": first_day, "end_day": end_day, "head_end": beijing_midnight(first_day),
            "tail_start": beijing_midnight(end_day)}


def part_split(since: datetime, until: datetime | None) -> dict:
    """``day_split`` for the cubes' part-days, as ``head_start`` … ``tail_end``: a part-day longer than half a day
    is read as its whole day less the rest of that day, [less_head_start, head_start) or [tail_end,
    less_tail_end), which the incidents hold fewer of (a 30-day window opened at 00:20 reads 20 minutes of them,
    not 23 hours 40)."""
    split = {**day_split(since, until), "head_start": since, "tail_end": until, "less_head_start": None,
             "less_tail_end": None}
    if split["end_day"] is not None and split["first_day"] >= split["end_day"]:
        return split  # no whole day: the part is the window
    if split["head_end"] - since > timedelta(hours=12):
        split["first_day"] -= timedelta(days=1)
        split.update(head_end=since, less_head_start=beijing_midnight(split["first_day"]))
    if until is not None and until - split["tail_start"] > timedelta(hours=12):
        split["end_day"] += timedelta(days=1)
        split.update(tail_start=until, less_tail_end=beijing_midnight(split["end_day"]))
    return split


def part_params(params: dict) -> dict:
    """``params`` with the window split by ``part_split``; INCIDENT_FILTERS must not cut off the rest of its days."""
    return {**params, **part_split(params["since"], params["until"]), "since": None, "until": None}


def cube_categories(filters: Filters) -> list[str]:
    """The day cube's rows to read: the categories asked for, or its row of every category together ('')."""
    return list(filters.categories) or [""]


def reads_cube(filters: Filters) -> bool:
    """Whether the day cube answers these filters: it keeps no severity or status."""
    return not filters.severities and not filters.statuses
