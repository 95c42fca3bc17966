"""The area's open supervision orders (督办, ``shiyu.supervision_order``, migration 0027) as the brief lists them.

``layers.supervision.open_orders(scope, area_path, limit)`` is the one reader of orders, written with the
orders themselves; where it is there the brief takes it, and until then reads the table the same way here (the
same keys, the same order: red-listed first, then by reply deadline), inside the scope and under row-level
security like every other read.
"""

from __future__ import annotations

from geodata.db import fetch_all
from geodata.scope import Scope

LEVELS = ("red_list", "order", "reminder")  # the most serious first
LEVEL_NAMES = {"reminder": "提醒", "order": "督办", "red_list": "挂牌督办"}

OPEN_ORDERS = """
SELECT o.id, o.level, o.addressee, o.issued_at, o.reply_due_at, o.replied_at, o.escalations,
       o.incident_id, o.area_code, o.note, count(*) OVER () AS total
FROM shiyu.supervision_order o
WHERE o.closed_at IS NULL AND o.path <@ %(path)s::ltree
  AND (%(scope)s::ltree IS NULL OR o.path <@ %(scope)s::ltree)
ORDER BY array_position(%(levels)s::text[], o.level), o.reply_due_at, o.id
LIMIT %(limit)s
"""
KEYS = ("id", "level", "addressee", "issued_at", "reply_due_at", "replied_at", "escalations", "incident_id",
        "area_code", "note")


def open_orders_of(scope: Scope, area_path: str, limit: int) -> tuple[list[dict], int]:
    """(at most ``limit`` open orders of the area at ``area_path``, most serious first; how many are open)."""
    try:
        from layers.supervision import open_orders  # the orders' own reader, once merged
    except ImportError:
        open_orders = None
    if open_orders is not None:
        listed = open_orders(scope, area_path, limit + 1)
        return listed[:limit], len(listed) if len(listed) <= limit else _count(scope, area_path)
    rows = fetch_all(OPEN_ORDERS, {"path": area_path, "scope": scope.path, "levels": list(LEVELS),
                                   "limit": max(0, limit)})
    total = int(rows[0]["total"]) if rows else 0
    return [{key: r[key] for key in KEYS} for r in rows], total


def _count(scope: Scope, area_path: str) -> int:
    rows = fetch_all(OPEN_ORDERS, {"path": area_path, "scope": scope.path, "levels": list(LEVELS), "limit": 1})
    return int(rows[0]["total"]) if rows else 0
