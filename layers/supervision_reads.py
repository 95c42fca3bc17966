"""What the supervision orders are, read in a scope: an area's open orders, an officer's list, the wall's counts and
latest escalations, the SLA lights' counts and the daily "to supervise" list (docs/supervision.md).

Every query binds the scope as well as running under row-level security, and reads through the orders' path
index (0027) or the open incidents' due-time index (0009).
"""

from __future__ import annotations

from datetime import datetime, timezone

from geodata.db import fetch_all
from geodata.errors import InputError
from geodata.scope import Scope
from geodata.taxonomy import CLOSED_STATUSES
from layers.base import BEIJING, OVERDUE, YELLOW_LIGHT

MAX_LIST = 500
IN_SCOPE = "(%(scope)s::ltree IS NULL OR o.path <@ %(scope)s::ltree)"

ORDERS = """
SELECT o.id, o.level, o.addressee, o.addressee_phone, o.issued_by, o.issued_at, o.reply_due_at, o.replied_by,
       o.replied_at, o.reply_text, o.reply_status, o.escalations, o.escalated_at, o.closed_at, o.close_reason,
       o.incident_source || ':' || o.incident_id AS incident_id, o.area_code, o.note, o.path::text AS path,
       a.name AS area_name, i.category, i.severity, i.status, i.due_at
FROM shiyu.supervision_order o
JOIN shiyu.area a ON a.code = o.area_code
LEFT JOIN shiyu.incident i ON (i.source, i.external_id) = (o.incident_source, o.incident_id)
WHERE """ + IN_SCOPE + """ AND (%(area_path)s::ltree IS NULL OR o.path <@ %(area_path)s::ltree)
  AND (%(open)s = false OR o.closed_at IS NULL)
  AND (cardinality(%(incidents)s::text[]) = 0 OR o.incident_source || ':' || o.incident_id = ANY(%(incidents)s::text[]))
ORDER BY o.closed_at IS NOT NULL, array_position(ARRAY['red_list', 'order', 'reminder'], o.level), o.reply_due_at, o.id
LIMIT %(limit)s
"""

AREA_PATH = """
SELECT path::text AS path FROM shiyu.area a WHERE a.code = %(code)s AND (%(scope)s::ltree IS NULL OR a.path <@ %(scope)s::ltree)
"""

WALL = """
SELECT count(*) FILTER (WHERE o.closed_at IS NULL) AS open,
       count(*) FILTER (WHERE o.closed_at IS NULL AND o.level = 'red_list') AS red_listed,
       count(*) FILTER (WHERE o.closed_at IS NULL AND o.replied_at IS NULL AND o.reply_due_at < %(now)s) AS unanswered,
       count(*) FILTER (WHERE o.escalated_at >= %(day)s) AS escalated_today
FROM shiyu.supervision_order o
WHERE """ + IN_SCOPE + """ AND (o.closed_at IS NULL OR o.escalated_at >= %(day)s)
"""
LATEST_ESCALATIONS = """
SELECT e.at, e.level, e.actor, e.detail ->> 'from' AS before, o.id, o.addressee, a.name AS area_name,
       o.incident_source || ':' || o.incident_id AS incident_id
FROM shiyu.supervision_event e
JOIN shiyu.supervision_order o ON o.id = e.order_id
JOIN shiyu.area a ON a.code = o.area_code
WHERE e.action = 'escalated' AND (%(scope)s::ltree IS NULL OR e.path <@ %(scope)s::ltree)
ORDER BY e.at DESC, e.id DESC
LIMIT %(limit)s
"""

LIGHTS = """
SELECT count(*) FILTER (WHERE """ + OVERDUE + """) AS red, count(*) FILTER (WHERE """ + YELLOW_LIGHT + """) AS yellow
FROM shiyu.incident
WHERE status <> ALL(%(closed)s::text[])
  AND (%(scope)s::ltree IS NULL OR path <@ %(scope)s::ltree)
"""

# The overdue incidents of an area without an open order, worst first: the most severe; among those, the ones in the
# grids holding the most overdue incidents (a pattern one order can stop); then the longest overdue.
TO_SUPERVISE = """
WITH red AS (
  SELECT i.source, i.external_id, i.category, i.severity, i.status, i.reported_at, i.due_at, i.grid_code
  FROM shiyu.incident i
  WHERE """ + OVERDUE + """ AND i.grid_code IS NOT NULL AND i.path <@ %(area_path)s::ltree
    AND (%(scope)s::ltree IS NULL OR i.path <@ %(scope)s::ltree)
    AND NOT EXISTS (SELECT 1 FROM shiyu.supervision_order o WHERE o.closed_at IS NULL
                    AND (o.incident_source, o.incident_id) = (i.source, i.external_id)))
SELECT r.source || ':' || r.external_id AS incident_id, r.category, r.severity, r.status, r.reported_at, r.due_at,
       r.grid_code, g.name AS grid_name, g.owner_name, count(*) OVER (PARTITION BY r.grid_code) AS in_grid,
       extract(epoch FROM %(now)s - r.due_at) / 3600 AS hours_overdue
FROM red r JOIN shiyu.area g ON g.code = r.grid_code
ORDER BY coalesce(r.severity, 0) DESC, in_grid DESC, r.due_at, r.source, r.external_id
LIMIT %(limit)s
"""


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(timezone.utc)


def _area_path(area: str | None, scope: Scope) -> str | None:
    """The path of ``area`` if it lies in ``scope``, or None for no area."""
    if area is None:
        return None
    rows = fetch_all(AREA_PATH, {"code": area, "scope": scope.path})
    if not rows:
        raise InputError(f"there is no area '{str(area)[:40]}' in your scope")
    return rows[0]["path"]


def orders(scope: Scope, area: str | None = None, open_only: bool = True, incidents: list[str] | None = None,
           limit: int = 100) -> list[dict]:
    """Orders in ``scope`` (and under ``area``): open ones first, the highest level and nearest deadline first."""
    return fetch_all(ORDERS, {"scope": scope.path, "area_path": _area_path(area, scope), "open": open_only,
                              "incidents": list(incidents or []), "limit": max(0, min(limit, MAX_LIST))})


OPEN_KEYS = ("id", "level", "addressee", "issued_at", "reply_due_at", "replied_at", "escalations", "incident_id",
             "area_code", "note")


def open_orders(scope: Scope, area_path: str, limit: int) -> list[dict]:
    """The open orders under the area of ``area_path`` (an ltree path, or an area code) in ``scope``, keyed as the
    brief reads them (``OPEN_KEYS``)."""
    path = area_path if area_path is None or "." in area_path else _area_path(area_path, scope)
    rows = fetch_all(ORDERS, {"scope": scope.path, "area_path": path, "open": True, "incidents": [],
                              "limit": max(0, min(limit, MAX_LIST))})
    return [{k: r[k] for k in OPEN_KEYS} for r in rows]


def wall_counts(scope: Scope, now: datetime | None = None, latest: int = 5) -> dict:
    """The wall's supervision numbers: open orders, red-listed, unanswered past deadline, escalated today (Beijing),
    the SLA lights, and the latest escalations."""
    now = _now(now)
    day = datetime.combine(now.astimezone(BEIJING).date(), datetime.min.time(), BEIJING)
    counts = fetch_all(WALL, {"scope": scope.path, "now": now, "day": day})[0]
    lights = fetch_all(LIGHTS, {"scope": scope.path, "now": now, "closed": list(CLOSED_STATUSES)})[0]
    escalations = fetch_all(LATEST_ESCALATIONS, {"scope": scope.path, "limit": latest})
    return {**{k: int(v) for k, v in counts.items()}, "red": int(lights["red"]), "yellow": int(lights["yellow"]),
            "latest": escalations}


def to_supervise(area: str, scope: Scope, now: datetime | None = None, limit: int = 20) -> list[dict]:
    """The day's proposed list for ``area``: overdue incidents without an open order, worst first (TO_SUPERVISE)."""
    rows = fetch_all(TO_SUPERVISE, {"area_path": _area_path(area, scope), "scope": scope.path, "now": _now(now),
                                    "closed": list(CLOSED_STATUSES), "limit": max(0, min(limit, MAX_LIST))})
    return [{**r, "hours_overdue": round(float(r["hours_overdue"]), 1)} for r in rows]


def by_incident(incidents: list[str], scope: Scope) -> dict[str, dict]:
    """The open order of each of ``incidents`` (``source:id``) that has one."""
    if not incidents:
        return {}
    return {r["incident_id"]: r for r in orders(scope, incidents=incidents, limit=len(incidents))}



TOP_AREA = """
SELECT code FROM shiyu.area a WHERE (%(scope)s::ltree IS NULL OR a.path <@ %(scope)s::ltree)
ORDER BY nlevel(a.path), a.code LIMIT 1
"""


def top_area(scope: Scope) -> str | None:
    """The code of the widest area in ``scope`` (the city for a commander, the district for its officer)."""
    rows = fetch_all(TOP_AREA, {"scope": scope.path})
    return rows[0]["code"] if rows else None


INCIDENT = """
SELECT i.source || ':' || i.external_id AS id, i.category, i.severity, i.status, i.reported_at, i.due_at,
       i.description, i.grid_code, g.name AS grid_name, g.owner_name, g.owner_phone,
       CASE WHEN """ + OVERDUE + " THEN 'red' WHEN " + YELLOW_LIGHT + """ THEN 'yellow' ELSE 'none' END AS light
FROM shiyu.incident i LEFT JOIN shiyu.area g ON g.code = i.grid_code
WHERE i.source = %(source)s AND i.external_id = %(external_id)s
  AND (%(scope)s::ltree IS NULL OR i.path <@ %(scope)s::ltree)
"""


def incident_card(incident: str, scope: Scope, now: datetime | None = None) -> dict:
    """One incident in ``scope`` (``source:id``) as its detail card shows it: its state, SLA light, grid and owner,
    and its open order (``order``, or None)."""
    source, _, external_id = str(incident).partition(":")
    rows = fetch_all(INCIDENT, {"source": source, "external_id": external_id, "scope": scope.path,
                                "closed": list(CLOSED_STATUSES), "now": _now(now)}) if external_id else []
    if not rows:
        raise InputError(f"there is no incident {str(incident)[:60]} in your scope")
    return {**rows[0], "order": by_incident([rows[0]["id"]], scope).get(rows[0]["id"])}
