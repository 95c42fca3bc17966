"""The collections the OGC API offers: one per layer id of the registry (areas once per tier), and the incidents."""

from __future__ import annotations

from dataclasses import dataclass, replace

from geodata.taxonomy import TIER_DETAILS


@dataclass(frozen=True)
class Collection:
    """A collection: its id, words for people, the registry layer behind it, and the keys its items take."""

    id: str
    title: str
    description: str
    layer: str  # a key of layers.registry.LAYERS, or "incidents"
    tier: str | None = None
    extra_keys: tuple[str, ...] = ()
    default_res: int | None = None
    reads_clock: bool = False  # its features change with the time of day, not only with the data (layers/ogc/pages.py)
    reads_orders: bool = False  # it carries supervision orders: keyed by their version too (geodata/version.py)


# r8 cells (about 0.7 km²) are what the map shows a city at; ``res`` asks for 7 to 10.
DEFAULT_RES = 8

_COLLECTIONS = [
    *(Collection(f"areas-{code}", f"{tier.name_zh} {tier.name_en}",
                 f"Every {tier.name_en.lower()} in scope with its KPIs (incidents, per km², resolved share, median hours, "
                 "overdue, patrol coverage) over the datetime window, by default the last 30 days.",
                 "areas", tier=code, reads_clock=True)
      for code, tier in TIER_DETAILS.items()),
    Collection("incidents", "事件 Incidents",
               "Every incident in scope, one point each: category, severity, status, times, due time, overdue, grid. "
               "No reporter names or phones. Paged from the database in the order of their ids.",
               "incidents", extra_keys=("after",)),
    Collection("hexes", "事件热力 Incident counts per H3 cell",
               "Incidents per H3 cell (res 7-10, default 8) over the datetime window, each naming the grid holding "
               "the largest share of the cell.", "hexes", extra_keys=("res",), default_res=DEFAULT_RES),
    Collection("hotspots", "热点 Hot spots (Getis-Ord Gi*)",
               "Every H3 cell of the study area with its Gi* z, p, FDR-corrected p and class (hot99 … cold99, ns).",
               "hotspots", extra_keys=("res",), default_res=DEFAULT_RES),
    Collection("coverage", "巡逻覆盖 Patrol coverage",
               "Every grid with the share of it a patrol visited in the window (the last 7 days by default), and hot "
               "cells no patrol visited.", "coverage", extra_keys=("res",), default_res=DEFAULT_RES, reads_clock=True),
    Collection("facilities", "设施 Facilities",
               "Facilities with their service radius, and the cells beyond the radius of every facility of a type "
               "(blind spots).", "facilities", extra_keys=("res",), default_res=DEFAULT_RES),
    Collection("supervision", "督办 Supervision",
               "Every open incident in a yellow (80 % of its SLA gone) or red (overdue) light or under an open "
               "supervision order, with the order: level (reminder 提醒, order 督办, red_list 挂牌督办), addressee, "
               "reply deadline, reply, escalations. docs/supervision.md.", "supervision", reads_clock=True,
               reads_orders=True),
]
# Every collection built from a layer is paged from one computation (layers/ogc/pages.py); its links carry the data
# version the page came from, so the page after a load can say that the data changed.
_COLLECTIONS = [c if c.layer == "incidents" else replace(c, extra_keys=(*c.extra_keys, "version"))
                for c in _COLLECTIONS]
COLLECTIONS: dict[str, Collection] = {c.id: c for c in _COLLECTIONS}
