"""The collections the OGC API offers: one per layer id of the registry (areas once per tier, facilities split by
the geometry of their features), and the incidents; each with the one declaration of its properties.

``fields`` is what every other part reads a collection's properties from: the queryables (JSON Schema), the names
a CQL2 ``filter``, ``sortby`` or ``properties`` may use, their types for checking a filter's values, and the
OpenAPI definition. A feature's properties are never more than its fields (a test holds every collection to it).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from geodata.taxonomy import CATEGORIES, FACILITY_TYPES, STATUSES, TIER_DETAILS

STRING, INTEGER, NUMBER, BOOLEAN, DATE_TIME = "string", "integer", "number", "boolean", "date-time"
# JSON Schema of each field type; a list is an array of those strings, never filtered on.
TYPES = {STRING: {"type": "string"}, INTEGER: {"type": "integer"}, NUMBER: {"type": "number"},
         BOOLEAN: {"type": "boolean"}, DATE_TIME: {"type": "string", "format": "date-time"}}
POINT, POLYGON = "Point", "Polygon"


@dataclass(frozen=True)
class Field:
    """A property of a collection's features: its type, words for people, and the values it may take (if few)."""

    type: str
    title: str
    enum: tuple = ()
    filterable: bool = True


@dataclass(frozen=True)
class Collection:
    """A collection: its id, words for people, the registry layer behind it, and the keys its items take."""

    id: str
    title: str
    description: str
    layer: str  # a key of layers.registry.LAYERS, or "incidents"
    geometry: str
    fields: dict[str, Field]
    tier: str | None = None
    kind: str | None = None  # only the layer's features of this ``kind`` (facilities: facility or blind_spot)
    extra_keys: tuple[str, ...] = ()
    default_res: int | None = None
    reads_clock: bool = False  # its features change with the time of day, not only with the data (layers/ogc/pages.py)
    reads_orders: bool = False  # it carries supervision orders: keyed by their version too (geodata/version.py)


# r8 cells (about 0.7 km²) are what the map shows a city at; ``res`` asks for 7 to 10.
DEFAULT_RES = 8
_GRID = Field(STRING, "the grid accountable (for a cell, the grid holding most of it)")
_CELL = {"h3": Field(STRING, "the H3 cell as a hex string"), "count": Field(INTEGER, "incidents in the cell")}
_AREA_FIELDS = {
    "code": Field(STRING, "area code"), "name": Field(STRING, "name"), "tier": Field(STRING, "tier", tuple(TIER_DETAILS)),
    "grid_code": _GRID, "owner": Field(STRING, "the person accountable"),
    "incidents": Field(INTEGER, "incidents in the window"), "resolved": Field(INTEGER, "of them resolved"),
    "overdue": Field(INTEGER, "open past their due time now"), "per_km2": Field(NUMBER, "incidents per km²"),
    "resolved_share": Field(NUMBER, "resolved share"), "median_hours": Field(NUMBER, "median hours to resolve"),
    "patrol_share": Field(NUMBER, "share of the area patrolled"), "area_km2": Field(NUMBER, "area in km²"),
}
_CLASSES = ("hot99", "hot95", "hot90", "ns", "cold90", "cold95", "cold99")
_INCIDENT_FIELDS = {
    "category": Field(STRING, "category", tuple(CATEGORIES)), "severity": Field(INTEGER, "severity 1-4", (1, 2, 3, 4)),
    "status": Field(STRING, "status", tuple(STATUSES)), "reported_at": Field(DATE_TIME, "reported"),
    "resolved_at": Field(DATE_TIME, "resolved"), "updated_at": Field(DATE_TIME, "last changed"),
    "due_at": Field(DATE_TIME, "due (SLA)"), "overdue": Field(BOOLEAN, "open past its due time"), "grid_code": _GRID,
    "description": Field(STRING, "the first 80 characters of the description"),
}

_COLLECTIONS = [
    *(Collection(f"areas-{code}", f"{tier.name_zh} {tier.name_en}",
                 f"Every {tier.name_en.lower()} in scope with its KPIs (incidents, per km², resolved share, median hours, "
                 "overdue, patrol coverage) over the datetime window, by default the last 30 days.",
                 "areas", POLYGON, _AREA_FIELDS, tier=code, reads_clock=True)
      for code, tier in TIER_DETAILS.items()),
    Collection("incidents", "事件 Incidents",
               "Every incident in scope, one point each: category, severity, status, times, due time, overdue, grid. "
               "No reporter names or phones. Paged from the database in the order of their ids.",
               "incidents", POINT, _INCIDENT_FIELDS, extra_keys=("after",)),
    Collection("hexes", "事件热力 Incident counts per H3 cell",
               "Incidents per H3 cell (res 7-10, default 8) over the datetime window, each naming the grid holding "
               "the largest share of the cell.", "hexes", POLYGON, {**_CELL, "grid_code": _GRID},
               extra_keys=("res",), default_res=DEFAULT_RES),
    Collection("hotspots", "热点 Hot spots (Getis-Ord Gi*)",
               "Every H3 cell of the study area with its Gi* z, p, FDR-corrected p and class (hot99 … cold99, ns).",
               "hotspots", POLYGON, {**_CELL, "z": Field(NUMBER, "Gi* z-score"), "p": Field(NUMBER, "p-value"),
                                     "p_fdr": Field(NUMBER, "FDR-corrected p"), "class": Field(STRING, "class", _CLASSES),
                                     "grid_code": _GRID},
               extra_keys=("res",), default_res=DEFAULT_RES),
    Collection("coverage", "巡逻覆盖 Patrol coverage",
               "Every grid with the share of it a patrol visited in the window (the last 7 days by default), and hot "
               "cells no patrol visited.", "coverage", POLYGON, {
                   "kind": Field(STRING, "grid, or a hot cell no patrol visited", ("grid", "hot_unpatrolled")),
                   "grid_code": _GRID, "name": Field(STRING, "grid name"), "owner": Field(STRING, "the person accountable"),
                   "share": Field(NUMBER, "share of the grid's cells patrolled"),
                   "visited_cells": Field(INTEGER, "cells visited"), "cells": Field(INTEGER, "cells"),
                   "last_visit": Field(DATE_TIME, "last patrol"), "hours_since_visit": Field(NUMBER, "hours since"),
                   "below": Field(BOOLEAN, "below the coverage target"), **_CELL,
                   "class": Field(STRING, "hot-spot class of the cell", _CLASSES)},
               extra_keys=("res",), default_res=DEFAULT_RES, reads_clock=True),
    Collection("facilities", "设施 Facilities",
               "Facilities in scope, one point each, with their type, name and service radius.", "facilities", POINT,
               {"kind": Field(STRING, "facility", ("facility",)), "type": Field(STRING, "type", tuple(FACILITY_TYPES)),
                "name": Field(STRING, "name"), "radius_m": Field(INTEGER, "service radius in metres"),
                "grid_code": _GRID},
               kind="facility", extra_keys=("res",), default_res=DEFAULT_RES),
    Collection("blind-spots", "服务盲区 Facility blind spots",
               "The H3 cells (res 7-10, default 8) beyond the service radius of every facility of a type, with the "
               "types missing and the metres to the nearest of each.", "facilities", POLYGON,
               {"kind": Field(STRING, "blind_spot", ("blind_spot",)), "h3": _CELL["h3"], "grid_code": _GRID,
                "uncovered": Field("array", "the facility types whose radius no facility reaches here", filterable=False),
                "nearest_m": Field("object", "metres to the nearest facility of each missing type", filterable=False)},
               kind="blind_spot", extra_keys=("res",), default_res=DEFAULT_RES),
    Collection("supervision", "督办 Supervision",
               "Every open incident in a yellow (80 % of its SLA gone) or red (overdue) light or under an open "
               "supervision order, with the order: level (reminder 提醒, order 督办, red_list 挂牌督办), addressee, "
               "reply deadline, reply, escalations. docs/supervision.md.", "supervision", POINT,
               {"id": Field(STRING, "the incident (source:id)"),
                **{k: _INCIDENT_FIELDS[k] for k in ("category", "severity", "status", "reported_at", "due_at")},
                "grid_code": _GRID, "light": Field(STRING, "SLA light", ("red", "yellow", "none")),
                "hours_overdue": Field(NUMBER, "hours past its due time (negative: before it)"),
                "order_id": Field(INTEGER, "the open order"),
                "order_level": Field(STRING, "the order's level", ("reminder", "order", "red_list")),
                "addressee": Field(STRING, "the person the order is addressed to"),
                "issued_at": Field(DATE_TIME, "order issued"), "reply_due_at": Field(DATE_TIME, "reply due"),
                "replied_at": Field(DATE_TIME, "replied"),
                "reply_status": Field(STRING, "the state the reply reported", tuple(STATUSES)),
                "escalations": Field(INTEGER, "times the order was raised")},
               reads_clock=True, reads_orders=True),
]
# Every collection built from a layer is paged from one computation (layers/ogc/pages.py); its links carry the data
# version the page came from, so the page after a load can say that the data changed.
_COLLECTIONS = [c if c.layer == "incidents" else replace(c, extra_keys=(*c.extra_keys, "version"))
                for c in _COLLECTIONS]
COLLECTIONS: dict[str, Collection] = {c.id: c for c in _COLLECTIONS}
