"""What a weekly brief says, gathered from the functions the dashboard itself answers with.

Every number of the brief comes from the code that shows it elsewhere, so the two agree: the KPIs, sub-areas and
overdue list are ``layers.detail.area_detail`` (the explore page's area panel) for the week's window, the maps are
the ``hotspots`` and ``emerging`` layers and the warnings the ``warnings`` layer, each built through
``layers.registry.build`` (so under its cost check). Only the weekly counts by category, which no panel shows,
are read here, from the same day cubes the KPIs read (``WEEKLY``), and equal the KPIs' count for each week.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from geodata.db import fetch_all
from geodata.errors import InputError, NotFound, TooLarge
from geodata.scope import Scope
from geodata.taxonomy import CATEGORIES
from layers import detail, limits, panels
from layers.base import BEIJING, Filters, LayerResult, area_shapes, view_path
from layers.brief import orders, ranking
from layers.brief.weeks import Week
from layers.registry import build

TREND_WEEKS = 13          # the trend chart: this week and the twelve before it, about a quarter
OVERDUE_ROWS = 20         # the overdue list: the longest overdue first
WARNING_ROWS = 12
ORDER_ROWS = 20
RISEN_ROWS = 6
# The map's hexagons: the finest resolution whose study area holds at most this many cells. A brief of the whole
# demo city (Hangzhou, 10,000 grids) takes r7 (4,384 cells); a district r8, a street r9, a community or grid r10.
MAP_CELLS = 8_000
MAP_RESOLUTIONS = (10, 9, 8, 7)

# The week's incidents by category, per week, from the street roll-up for areas down to a street (<cube>
# incident_day_street, whose paths are streets') and from the day cube below (incident_day, per grid): the rows
# of each category, so a week's categories add up to its incidents. Whole Beijing days.
WEEKLY = """
SELECT date_trunc('week', day)::date AS week, category, sum(n)::bigint AS n
FROM shiyu.<cube>
WHERE day >= %(first_day)s AND day < %(end_day)s AND category <> ''
  AND path <@ %(path)s::ltree<grids>
GROUP BY 1, 2
"""
# The day cube's rows of the area's grids found by its key (category, day, grid_code), not every grid's.
AREA_GRIDS = """
  AND grid_code IN (SELECT a.code FROM shiyu.area a WHERE a.tier = 'grid' AND a.path <@ %(path)s::ltree)"""


# The flagged grids' names and their street's (a path's labels are its areas' codes: the street is the third).
GRID_NAMES = """
SELECT g.code, g.name, s.name AS street
FROM shiyu.area g LEFT JOIN shiyu.area s ON s.code = subpath(g.path, 2, 1)::text AND nlevel(g.path) > 3
WHERE g.code = ANY(%(codes)s::text[])
"""


@dataclass
class Brief:
    """Everything one brief prints."""

    week: Week
    now: datetime
    as_of: datetime | None
    area: dict                 # area_detail of the week: name, owner, kpis, children, chain, bbox
    previous: dict             # area_detail's kpis of the week before
    backlog: dict              # area_detail over the trend's weeks: its overdue list and count
    res: int
    hotspots: LayerResult
    emerging: LayerResult
    warnings: LayerResult
    trend: list[tuple[Week, int]]
    by_category: dict[str, tuple[int, int]]  # category code: (this week, the week before)
    orders: list[dict]
    orders_total: int
    rank: dict | None
    shapes: dict[str, dict]    # GeoJSON geometries of the area and its children, by code
    grid_names: dict[str, str]  # the warned grids' names, with their street's, by code


def _map_res(filters: Filters, scope: Scope) -> int:
    """The finest resolution whose study area holds at most ``MAP_CELLS``; ``TooLarge`` when none does."""
    for res in MAP_RESOLUTIONS:
        if limits.estimate("hotspots", replace(filters, res=res), scope).counted <= MAP_CELLS:
            return res
    raise TooLarge(f"area {filters.area_code} is too large for a brief's map even at H3 r{MAP_RESOLUTIONS[-1]}; "
                   "brief one of its districts or streets instead")


def weekly_counts(path: str, first: Week, last: Week, now: datetime) -> dict[tuple, int]:
    """{(monday, category): incidents} of the area at ``path`` for the weeks ``first`` to ``last``."""
    street = path.count(".") + 1 <= 3
    query = WEEKLY.replace("<cube>", "incident_day_street" if street else "incident_day")
    query = query.replace("<grids>", "" if street else AREA_GRIDS)
    end = min(last.sunday + timedelta(days=1), now.astimezone(BEIJING).date() + timedelta(days=1))
    rows = fetch_all(query, {"first_day": first.monday, "end_day": end, "path": path})
    return {(r["week"], r["category"]): int(r["n"]) for r in rows}


def gather(code: str, week: Week, scope: Scope, now: datetime | None = None) -> Brief:
    """The brief of area ``code`` for ``week``, in ``scope``; ``NotFound`` for an area outside it."""
    now = (now or datetime.now().astimezone()).astimezone(BEIJING)
    if week.since > now:
        raise InputError(f"week {week.label} has not begun yet; brief a week up to {now:%G-W%V}")
    try:
        path = view_path(Filters(area_code=code), scope)
    except InputError as error:
        raise NotFound(str(error)) from None
    # The map's resolution first: an area too large for any is refused before the rest of the work.
    res = _map_res(Filters(area_code=code, since=week.since, until=week.until), scope)
    area = detail.area_detail(code, Filters(since=week.since, until=week.until), scope, now=now, overdue_limit=0)
    last_week = week.shifted(-1)
    previous = detail.area_detail(code, Filters(since=last_week.since, until=last_week.until), scope, now=now,
                                  overdue_limit=0)
    first = week.shifted(-(TREND_WEEKS - 1))
    backlog = detail.area_detail(code, Filters(since=first.since, until=min(week.until, now)), scope, now=now,
                                 overdue_limit=OVERDUE_ROWS)
    view = Filters(bbox=area["bbox"], area_code=code, res=res, since=week.since, until=week.until)
    hotspots = build("hotspots", view, scope)
    emerging = build("emerging", view, scope)
    warnings = build("warnings", replace(view, since=None, until=min(week.until, now)), scope)
    counts = weekly_counts(path, first, week, now)
    trend = [(w, sum(n for (monday, _), n in counts.items() if monday == w.monday))
             for w in (first.shifted(k) for k in range(TREND_WEEKS))]
    by_category = {c: (counts.get((week.monday, c), 0), counts.get((last_week.monday, c), 0)) for c in CATEGORIES}
    listed, total = orders.open_orders_of(scope, path, ORDER_ROWS)
    return Brief(week=week, now=now, as_of=panels.data_as_of(), area=area, previous=previous["kpis"],
                 backlog=backlog, res=res, hotspots=hotspots, emerging=emerging, warnings=warnings, trend=trend,
                 by_category=by_category, orders=listed, orders_total=total,
                 rank=ranking.area_rank(area, week, scope),
                 shapes=detail_shapes(area), grid_names=grid_names(warnings.features[:WARNING_ROWS]))


def grid_names(features: list[dict]) -> dict[str, str]:
    """"湖渡街道 第1网格" by code, of the grids these warnings name."""
    codes = sorted({f["properties"]["grid_code"] for f in features if f["properties"].get("grid_code")})
    rows = fetch_all(GRID_NAMES, {"codes": codes}) if codes else []
    return {r["code"]: " ".join(part for part in (r["street"], r["name"]) if part) for r in rows}


def detail_shapes(area: dict) -> dict[str, dict]:
    """The area's and its children's outlines, simplified to about a pixel of a 1,400-pixel-wide map."""
    west, south, east, north = area["bbox"]
    tolerance = max(east - west, north - south) / 1400
    zoom = max(0.0, _zoom_for(tolerance))
    return area_shapes([area["code"], *(c["code"] for c in area["children"])], zoom)


def _zoom_for(tolerance_deg: float) -> float:
    return math.log2(360.0 / (256 * max(tolerance_deg, 1e-9)))
