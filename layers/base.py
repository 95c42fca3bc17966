"""What every layer takes and returns."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import orjson

from geodata.db import fetch_all
from geodata.errors import InputError
from geodata.h3cells import RESOLUTIONS
from geodata.scope import Scope
from geodata.taxonomy import CATEGORIES, STATUSES, TIERS

# Days, weeks and times without an offset are Beijing's, as the loaders read them.
BEIJING = ZoneInfo("Asia/Shanghai")

_AREA_CODE = re.compile(r"^[A-Za-z0-9_]{1,255}$")

# (west, south, east, north) in degrees
BBox = tuple[float, float, float, float]
WHOLE_WORLD: BBox = (-180.0, -90.0, 180.0, 90.0)

# The days the system holds, Beijing days, both included. A time outside them is refused where it is parsed, as an
# ``InputError`` naming the parameter: year 9999 or 0001 would overflow as soon as a day is added or a zone converted.
FIRST_DAY = date(1900, 1, 1)
LAST_DAY = date(2200, 12, 31)
_HELD_FROM, _HELD_UNTIL = (datetime.combine(d, time(0), BEIJING) for d in (FIRST_DAY, LAST_DAY + timedelta(days=1)))


def held_day(day: date, what: str) -> date:
    """``day`` if the system holds it, else an ``InputError`` naming ``what``."""
    if not FIRST_DAY <= day <= LAST_DAY:
        raise InputError(f"{what} {day.isoformat()} is outside the days Shiyu holds, {FIRST_DAY} to {LAST_DAY}")
    return day


def held_moment(moment: datetime, what: str) -> datetime:
    """``moment`` (naive: Beijing) if it lies within the days held, their end's midnight included (a window's
    exclusive end), else an ``InputError`` naming ``what``. Compared, never converted: converting would overflow."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=BEIJING)
    if not _HELD_FROM <= aware <= _HELD_UNTIL:
        raise InputError(f"{what} {str(moment)[:32]} is outside the days Shiyu holds, {FIRST_DAY} to {LAST_DAY}")
    return moment


@dataclass(frozen=True)
class Filters:
    """What the user asked to see; every layer reads the parts it needs."""

    bbox: BBox = WHOLE_WORLD
    zoom: float = 12
    res: int = 8
    tier: str = "grid"
    area_code: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    categories: tuple[str, ...] = ()
    severities: tuple[int, ...] = ()
    statuses: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for bound in ("since", "until"):  # a naive bound is Beijing time, for every layer alike
            moment = getattr(self, bound)
            if moment is not None:
                object.__setattr__(self, bound, held_moment(moment, bound).replace(tzinfo=moment.tzinfo or BEIJING))
        west, south, east, north = self.bbox
        if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
            raise InputError(f"bbox {self.bbox} is not west, south, east, north in degrees")
        if self.res not in RESOLUTIONS:
            raise InputError(f"H3 resolution {self.res} is not one of {RESOLUTIONS}")
        if self.area_code is not None and not _AREA_CODE.match(str(self.area_code)):
            # Codes are ltree labels; anything else names no area (and a NUL byte would not even reach the database).
            raise InputError(f"there is no area {str(self.area_code)[:40]!r} in your scope")
        if self.tier not in TIERS:
            raise InputError(f"tier '{self.tier}' is not one of {', '.join(TIERS)}")
        _check_known("category", self.categories, CATEGORIES)
        _check_known("status", self.statuses, STATUSES)
        _check_known("severity", self.severities, SEVERITIES)
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise InputError(f"the time window starts ({self.since:%Y-%m-%d %H:%M}) after it ends ({self.until:%Y-%m-%d %H:%M})")


SEVERITIES = (1, 2, 3, 4)


def _check_known(what: str, values: tuple, known) -> None:
    unknown = [v for v in values if v not in known]
    if unknown:
        raise InputError(f"unknown {what} {', '.join(map(str, unknown))}; known: {', '.join(map(str, known))}")


# Every incident query of every layer narrows by the same filters, bound, never formatted in.
INCIDENT_FILTERS = """
    (%(scope)s::ltree IS NULL OR path <@ %(scope)s::ltree)
    AND (%(since)s::timestamptz IS NULL OR reported_at >= %(since)s)
    AND (%(until)s::timestamptz IS NULL OR reported_at < %(until)s)
    AND (cardinality(%(categories)s::text[]) = 0 OR category = ANY(%(categories)s::text[]))
    AND (cardinality(%(severities)s::smallint[]) = 0 OR severity = ANY(%(severities)s::smallint[]))
    AND (cardinality(%(statuses)s::text[]) = 0 OR status = ANY(%(statuses)s::text[]))
"""


def beijing_midnight(day: date) -> datetime:
    """The start of a Beijing day."""
    return datetime.combine(day, time(0), BEIJING)


def day_window(since: date | None, until: date | None) -> tuple[datetime | None, datetime | None]:
    """Beijing days, ``until`` included, as the half-open window ``Filters`` takes."""
    return (beijing_midnight(since) if since else None,
            beijing_midnight(until + timedelta(days=1)) if until else None)


def pixel_degrees(zoom: float) -> float:
    """About one screen pixel in degrees at ``zoom``: what boundaries are simplified by."""
    return 360.0 / (256 * 2**zoom)


# Overdue (超期): not yet verified or closed, and past the due time its category's SLA set, at %(now)s.
# Bind ``closed`` to ``CLOSED_STATUSES``.
OVERDUE = "(status <> ALL(%(closed)s::text[]) AND due_at < %(now)s)"
# The SLA lights (docs/supervision.md), with the same parameters: red (红灯) is overdue; yellow (黄灯) is open, not
# red, and at least YELLOW_SHARE of the time between its report and its due time gone.
YELLOW_SHARE = 0.8
RED_LIGHT = OVERDUE
YELLOW_LIGHT = ("(status <> ALL(%(closed)s::text[]) AND due_at >= %(now)s"
                f" AND %(now)s >= reported_at + {YELLOW_SHARE} * (due_at - reported_at))")
# A due time follows its report (reported_at plus the category's SLA hours, etl/incidents.py), so an incident
# reported in a window that starts at %(since)s falls due after it: a range the open-incident index (0009),
# ordered by due_at, can start from, instead of every open incident since the first.
DUE_AFTER_SINCE = "(%(since)s::timestamptz IS NULL OR due_at >= %(since)s)"
# Open incidents narrowed to a subtree (``%(scope)s`` not NULL) are found grid by grid: with this the planner
# reads the open incidents' (grid_code, due_at) index (migration 0013) rather than every open incident due in
# the window. An incident's path is its grid's, so it narrows nothing INCIDENT_FILTERS does not.
IN_SCOPE_GRIDS = """
    AND grid_code = ANY(ARRAY(SELECT a.code FROM shiyu.area a WHERE a.tier = 'grid' AND a.path <@ %(scope)s::ltree))"""


def in_scope_grids(query: str, params: dict) -> str:
    """``query`` with its ``<grids>`` mark made ``IN_SCOPE_GRIDS`` when it reads a subtree, else nothing."""
    return query.replace("<grids>", IN_SCOPE_GRIDS if params["scope"] is not None else "")

# Simplified by about a pixel at the zoom, as the areas layer draws them.
AREA_SHAPES = """
SELECT code, ST_AsGeoJSON(ST_SimplifyPreserveTopology(geom, %(tolerance)s), 6) AS geometry
FROM shiyu.area WHERE code = ANY(%(codes)s::text[])
"""


def area_shapes(codes: list[str], zoom: float) -> dict[str, dict]:
    """GeoJSON geometries of these areas by code, simplified for the zoom."""
    rows = fetch_all(AREA_SHAPES, {"codes": codes, "tolerance": pixel_degrees(zoom)}) if codes else []
    return {r["code"]: orjson.loads(r["geometry"]) for r in rows}


AREA_PATH = "SELECT path::text AS path FROM shiyu.area WHERE code = %(code)s"


def view_path(filters: Filters, scope: Scope) -> str | None:
    """The subtree the query may read: the chosen area's, which must lie inside the scope, else the scope's."""
    if filters.area_code is None:
        return scope.path
    rows = fetch_all(AREA_PATH, {"code": filters.area_code})
    path = rows[0]["path"] if rows else None
    inside = path is not None and (scope.path is None or path == scope.path or path.startswith(scope.path + "."))
    if not inside:
        raise InputError(f"there is no area '{filters.area_code}' in your scope")
    return path


def incident_params(filters: Filters, scope: Scope) -> dict:
    """The bound values of ``INCIDENT_FILTERS``."""
    return {"scope": view_path(filters, scope), "since": filters.since, "until": filters.until,
            "categories": list(filters.categories), "severities": list(filters.severities),
            "statuses": list(filters.statuses)}


@dataclass
class LegendEntry:
    label: str
    colour: str


@dataclass
class LayerResult:
    """A FeatureCollection, its legend and numbers that summarise it."""

    features: list[dict]
    legend: list[LegendEntry] = field(default_factory=list)
    summary: dict = field(default_factory=dict)
    style: dict = field(default_factory=dict)  # what the browser-side style function needs (breaks, colours)

    def geojson(self) -> dict:
        return {"type": "FeatureCollection", "features": self.features}
