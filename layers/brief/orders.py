"""The area's open supervision orders (督办) as the brief lists them, read by the orders' own reader
(``layers.supervision.open_orders``: inside the scope, under row-level security, red-listed first, then by reply
deadline)."""

from __future__ import annotations

from geodata.scope import Scope
from layers.supervision import LEVELS, open_orders
from layers.supervision_reads import MAX_LIST

LEVEL_NAMES = {code: level.name_zh for code, level in LEVELS.items()}


def open_orders_of(scope: Scope, area_path: str, limit: int) -> tuple[list[dict], int]:
    """(at most ``limit`` open orders of the area at ``area_path``, most serious first; how many are open, counted
    up to the orders' list limit, ``MAX_LIST``)."""
    listed = open_orders(scope, area_path, MAX_LIST)
    return listed[:limit], len(listed)
