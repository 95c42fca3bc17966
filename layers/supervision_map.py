"""The layer ``supervision``: what needs supervising now, one point per open incident that is in a yellow or red
SLA light (黄灯 / 红灯, ``layers.base``) or under an open supervision order, with its order if it has one.

The map draws the light as the point's colour and the order's level as its ring; the exports, the export page and
the OGC API carry the same features (docs/supervision.md). The view's box, the scope and the map's filters
narrow it; ``count`` is what ``layers.limits`` checks before the work.
"""

from __future__ import annotations

from datetime import datetime, timezone

from geodata.db import fetch_all
from geodata.scope import Scope
from geodata.taxonomy import CLOSED_STATUSES
from layers.base import INCIDENT_FILTERS, RED_LIGHT, YELLOW_LIGHT, Filters, LayerResult, LegendEntry, incident_params

# Okabe–Ito: vermillion for red, yellow (with a dark outline) for yellow; the order's ring by level, light to black.
LIGHT_COLOURS = {"red": "#D55E00", "yellow": "#F0E442", "none": "#BBBBBB"}
RING_COLOURS = {"reminder": "#56B4E9", "order": "#0072B2", "red_list": "#000000"}

OPEN_ORDER = """EXISTS (SELECT 1 FROM shiyu.supervision_order o WHERE o.closed_at IS NULL
                         AND (o.incident_source, o.incident_id) = (i.source, i.external_id))"""
LIT = """
FROM shiyu.incident i
WHERE i.status <> ALL(%(closed)s::text[])
  AND i.geom && ST_MakeEnvelope(%(west)s, %(south)s, %(east)s, %(north)s, 4326)
  AND """ + INCIDENT_FILTERS + """
  AND (""" + RED_LIGHT + " OR " + YELLOW_LIGHT + " OR " + OPEN_ORDER + """)
"""
COUNT = "SELECT count(*) AS n FROM (SELECT 1 " + LIT + " LIMIT %(most)s) lit"
FEATURES = """
SELECT i.source || ':' || i.external_id AS id, i.category, i.severity, i.status, i.reported_at, i.due_at, i.grid_code,
       CASE WHEN """ + RED_LIGHT + " THEN 'red' WHEN " + YELLOW_LIGHT + """ THEN 'yellow' ELSE 'none' END AS light,
       round((extract(epoch FROM %(now)s - i.due_at) / 3600)::numeric, 1)::float8 AS hours_overdue,
       o.id AS order_id, o.level AS order_level, o.addressee, o.issued_at, o.reply_due_at, o.replied_at,
       o.reply_status, o.escalations,
       ST_X(i.geom) AS lon, ST_Y(i.geom) AS lat
FROM (SELECT i.* """ + LIT + """) i
LEFT JOIN shiyu.supervision_order o ON o.closed_at IS NULL
     AND (o.incident_source, o.incident_id) = (i.source, i.external_id)
-- drawn in this order: the yellow above the red, the ordered above both
ORDER BY o.id IS NOT NULL, """ + YELLOW_LIGHT + """, i.due_at, i.source, i.external_id
"""
TIMES = ("reported_at", "due_at", "issued_at", "reply_due_at", "replied_at")


def _params(filters: Filters, scope: Scope, now: datetime | None) -> dict:
    west, south, east, north = filters.bbox
    return {**incident_params(filters, scope), "closed": list(CLOSED_STATUSES), "now": now or datetime.now(timezone.utc),
            "west": west, "south": south, "east": east, "north": north}


def count(filters: Filters, scope: Scope, most: int, now: datetime | None = None) -> int:
    """How many features the layer would hold, counted up to ``most``."""
    return int(fetch_all(COUNT, {**_params(filters, scope, now), "most": most})[0]["n"])


def build(filters: Filters, scope: Scope, now: datetime | None = None) -> LayerResult:
    rows = fetch_all(FEATURES, _params(filters, scope, now))
    features = []
    for r in rows:
        lon, lat = r.pop("lon"), r.pop("lat")
        for key in TIMES:
            r[key] = r[key].isoformat() if r[key] is not None else None
        features.append({"type": "Feature", "geometry": {"type": "Point", "coordinates": [round(lon, 6), round(lat, 6)]},
                         "properties": r})
    lights = {light: sum(1 for r in rows if r["light"] == light) for light in LIGHT_COLOURS}
    legend = [LegendEntry("light_red", LIGHT_COLOURS["red"]), LegendEntry("light_yellow", LIGHT_COLOURS["yellow"]),
              *(LegendEntry(f"level_{level}", colour) for level, colour in RING_COLOURS.items())]
    summary = {"red": lights["red"], "yellow": lights["yellow"], "orders": sum(1 for r in rows if r["order_id"]),
               "features": len(rows)}
    return LayerResult(features, legend, summary, {"lights": LIGHT_COLOURS, "rings": RING_COLOURS})
