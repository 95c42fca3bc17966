"""Supervision orders (督办, docs/supervision.md): issued on overdue incidents, replied to, escalated, closed.

An order is written in one statement with its event (``shiyu.supervision_event``) and its audit row, so none is
written without the others. On the web the statements run as ``shiyu_app`` in the person's scope, and the scope is
bound into each of them as well: row-level security (0027) refuses an order outside the subtree even from a forged
request. The escalation pass (``sweep``) runs as the owner, as the system.

``LEVELS`` is the one declaration of the levels, their order and their default reply times; the SQL takes them as
arrays, so a level's next one and its deadline are read from here only. Reads are in ``layers.supervision_reads``
(``open_orders`` is re-exported here, as brief calls it) and the map layer in ``layers.supervision_map``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from geodata.db import fetch_all
from geodata.errors import Forbidden, InputError, NotFound, TooLarge
from geodata.scope import Scope
from geodata.taxonomy import CLOSED_STATUSES, STATUSES
from layers.base import INCIDENT_FILTERS, OVERDUE, Filters, incident_params
from layers import supervision_reads


@dataclass(frozen=True)
class Level:
    code: str
    name_zh: str
    name_en: str
    reply_hours: float  # the reply deadline an order of this level gets when issued or raised to it


# Mildest first: an escalation moves an order one step along this tuple.
LEVELS: dict[str, Level] = {lv.code: lv for lv in (
    Level("reminder", "提醒", "Reminder", 24),
    Level("order", "督办", "Supervision order", 12),
    Level("red_list", "挂牌督办", "Red-listed", 4),
)}
DEFAULT_LEVEL = "order"  # the one-click order of the overdue list: 督办
# Who may issue and reply (in their scope); who may accept a reply besides its issuer.
SUPERVISE_ROLES = frozenset({"admin", "commander", "officer"})
ACCEPT_ANY_ROLES = frozenset({"admin", "commander"})
MAX_AREA_ORDERS = 200  # one area's overdue list ordered at once: more is refused, with a way to narrow it
MAX_NOTE, MAX_REPLY = 2000, 4000
SYSTEM = "system"

# The arrays every statement takes: %(levels)s in order, %(hours)s their reply hours.
_LEVEL_AT = "(%(levels)s::text[])[{}]"
_POS = "array_position(%(levels)s::text[], {})"
_HOURS = "(%(hours)s::float8[])[array_position(%(levels)s::text[], {})] * interval '1 hour'"
_NOW = "coalesce(%(now)s::timestamptz, now())"

# The incidents one order statement covers: one, by its key ...
ONE_INCIDENT = """
SELECT i.source, i.external_id, i.grid_code, i.path FROM shiyu.incident i
WHERE i.source = %(source)s AND i.external_id = %(external_id)s
  AND i.status <> ALL(%(closed)s::text[]) AND i.grid_code IS NOT NULL
  AND (%(scope)s::ltree IS NULL OR i.path <@ %(scope)s::ltree)
"""
# ... or every overdue one of an area under the view's filters, as its overdue list shows them (%(scope)s is the
# area's path, inside the person's scope: ``incident_params``), at most %(limit)s.
AREA_OVERDUE = """
SELECT i.source, i.external_id, i.grid_code, i.path FROM shiyu.incident i
WHERE """ + OVERDUE + " AND i.grid_code IS NOT NULL AND " + INCIDENT_FILTERS + """
ORDER BY i.due_at, i.source, i.external_id
LIMIT %(limit)s
"""
# The order, its event and its audit row in one statement. The addressee is the owner of the incident's grid, else of
# the nearest area above it with one. A second order on an incident with an open one raises that one instead (the
# unique index of 0027): to the level asked if higher, else one step, with a new deadline and the reply cleared.
ISSUE = """
WITH inc AS ({incidents}),
owner AS (
  SELECT DISTINCT ON (inc.source, inc.external_id) inc.source, inc.external_id, a.owner_name, a.owner_phone
  FROM inc JOIN shiyu.area a ON a.path @> inc.path AND coalesce(a.owner_name, '') <> ''
  ORDER BY inc.source, inc.external_id, nlevel(a.path) DESC),
up AS (
  INSERT INTO shiyu.supervision_order AS o (incident_source, incident_id, area_code, path, level, addressee,
                                             addressee_phone, note, issued_by, issued_at, reply_due_at)
  SELECT inc.source, inc.external_id, inc.grid_code, inc.path, %(level)s,
         coalesce(owner.owner_name, g.name || ' 负责人（未登记）'), owner.owner_phone, %(note)s, %(user)s, """ + _NOW + """,
         """ + _NOW + " + " + _HOURS.format("%(level)s") + """
  FROM inc LEFT JOIN owner USING (source, external_id) JOIN shiyu.area g ON g.code = inc.grid_code
  ON CONFLICT (incident_source, incident_id) WHERE closed_at IS NULL AND incident_id IS NOT NULL DO UPDATE SET
    level = """ + _LEVEL_AT.format("greatest(" + _POS.format("EXCLUDED.level") + ", least("
                                   + _POS.format("o.level") + " + 1, cardinality(%(levels)s::text[])))") + """,
    reply_due_at = greatest(o.issued_at + interval '1 second', EXCLUDED.issued_at + """ + _HOURS.format(
    _LEVEL_AT.format("greatest(" + _POS.format("EXCLUDED.level") + ", least(" + _POS.format("o.level")
                     + " + 1, cardinality(%(levels)s::text[])))")) + """),
    note = CASE WHEN EXCLUDED.note = '' THEN o.note ELSE left(EXCLUDED.note, 2000) END,
    escalations = o.escalations + 1, escalated_at = EXCLUDED.issued_at,
    replied_by = NULL, replied_at = NULL, reply_text = NULL, reply_status = NULL
  RETURNING o.id, o.path, o.level, o.incident_source, o.incident_id, o.addressee, o.reply_due_at, (o.xmax = 0) AS new),
ev AS (
  INSERT INTO shiyu.supervision_event (order_id, path, action, actor, level, detail)
  SELECT id, path, CASE WHEN new THEN 'issued' ELSE 'escalated' END, %(user)s, level,
         jsonb_build_object('note', %(note)s, 'addressee', addressee, 'reply_due_at', reply_due_at, 'by_order', NOT new)
  FROM up RETURNING id),
au AS (
  INSERT INTO shiyu.audit_log (user_name, action, detail, remote_addr)
  SELECT %(user)s, CASE WHEN new THEN 'supervision_issue' ELSE 'supervision_raise' END,
         jsonb_build_object('order', id, 'level', level, 'incident', incident_source || ':' || incident_id), %(addr)s
  FROM up RETURNING id)
SELECT id, level, new, incident_source, incident_id, addressee, reply_due_at,
       (SELECT count(*) FROM ev) AS events, (SELECT count(*) FROM au) AS audited
FROM up ORDER BY id
"""

REPLY = """
WITH up AS (
  UPDATE shiyu.supervision_order o
  SET replied_by = %(user)s, replied_at = """ + _NOW + """, reply_text = %(text)s, reply_status = %(status)s
  WHERE id = %(id)s AND closed_at IS NULL AND (%(scope)s::ltree IS NULL OR path <@ %(scope)s::ltree)
  RETURNING id, path, level),
ev AS (INSERT INTO shiyu.supervision_event (order_id, path, action, actor, level, detail)
       SELECT id, path, 'replied', %(user)s, level, jsonb_build_object('text', %(text)s, 'status', %(status)s) FROM up
       RETURNING id),
au AS (INSERT INTO shiyu.audit_log (user_name, action, detail, remote_addr)
       SELECT %(user)s, 'supervision_reply', jsonb_build_object('order', id, 'status', %(status)s), %(addr)s FROM up
       RETURNING id)
SELECT id, level, (SELECT count(*) FROM ev) + (SELECT count(*) FROM au) AS written FROM up
"""

# Accepting a reply, or withdrawing an order issued by mistake: by its issuer, or an admin or commander.
CLOSE_BY_PERSON = """
WITH up AS (
  UPDATE shiyu.supervision_order o
  SET closed_at = """ + _NOW + """, closed_by = %(user)s, close_reason = %(reason)s
  WHERE id = %(id)s AND closed_at IS NULL AND (replied_at IS NOT NULL OR %(reason)s = 'withdrawn')
    AND (issued_by = %(user)s OR %(any)s) AND (%(scope)s::ltree IS NULL OR path <@ %(scope)s::ltree)
  RETURNING id, path, level),
ev AS (INSERT INTO shiyu.supervision_event (order_id, path, action, actor, level)
       SELECT id, path, %(action)s, %(user)s, level FROM up RETURNING id),
au AS (INSERT INTO shiyu.audit_log (user_name, action, detail, remote_addr)
       SELECT %(user)s, 'supervision_' || %(action)s, jsonb_build_object('order', id), %(addr)s FROM up RETURNING id)
SELECT id, (SELECT count(*) FROM ev) + (SELECT count(*) FROM au) AS written FROM up
"""

ORDER_STATE = """
SELECT id, issued_by, replied_at, closed_at FROM shiyu.supervision_order
WHERE id = %(id)s AND (%(scope)s::ltree IS NULL OR path <@ %(scope)s::ltree)
"""

# The escalation pass, as the system: orders whose incident was verified or closed are closed ...
CLOSE_RESOLVED = """
WITH up AS (
  UPDATE shiyu.supervision_order o
  SET closed_at = """ + _NOW + """, closed_by = 'system', close_reason = 'incident_closed'
  FROM shiyu.incident i
  WHERE o.closed_at IS NULL AND o.incident_id IS NOT NULL
    AND (i.source, i.external_id) = (o.incident_source, o.incident_id) AND i.status = ANY(%(closed)s::text[])
  RETURNING o.id, o.path, o.level, i.status),
ev AS (INSERT INTO shiyu.supervision_event (order_id, path, action, actor, level, detail)
       SELECT id, path, 'closed', 'system', level, jsonb_build_object('status', status) FROM up RETURNING id),
au AS (INSERT INTO shiyu.audit_log (user_name, action, detail)
       SELECT 'system', 'supervision_close', jsonb_build_object('order', id, 'status', status) FROM up RETURNING id)
SELECT count(*) AS closed FROM up
"""
# ... and those past their reply deadline without a reply go one level up, with a new deadline.
ESCALATE = """
WITH due AS (
  SELECT id, level AS before FROM shiyu.supervision_order
  WHERE closed_at IS NULL AND replied_at IS NULL AND reply_due_at < """ + _NOW + """
    AND level <> (%(levels)s::text[])[cardinality(%(levels)s::text[])]
  ORDER BY reply_due_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED),
up AS (
  UPDATE shiyu.supervision_order o
  SET level = """ + _LEVEL_AT.format(_POS.format("o.level") + " + 1") + """,
      reply_due_at = """ + _NOW + " + " + _HOURS.format(_LEVEL_AT.format(_POS.format("o.level") + " + 1")) + """,
      escalations = o.escalations + 1, escalated_at = """ + _NOW + """
  FROM due WHERE o.id = due.id
  RETURNING o.id, o.path, o.level, due.before, o.reply_due_at, o.area_code),
ev AS (INSERT INTO shiyu.supervision_event (order_id, path, action, actor, level, detail)
       SELECT id, path, 'escalated', 'system', level, jsonb_build_object('from', before, 'reply_due_at', reply_due_at)
       FROM up RETURNING id),
au AS (INSERT INTO shiyu.audit_log (user_name, action, detail)
       SELECT 'system', 'supervision_escalate', jsonb_build_object('order', id, 'from', before, 'to', level) FROM up
       RETURNING id)
SELECT id, before, level, area_code FROM up ORDER BY id
"""
MAX_ESCALATIONS = 5_000  # per pass; the rest the next one


def open_orders(scope: Scope, area_path: str, limit: int) -> list[dict]:
    """The open orders under ``area_path`` in ``scope`` (id, level, addressee, issued_at, reply_due_at, replied_at,
    escalations, incident_id, area_code, note): the interface the weekly brief reads (``supervision_reads``)."""
    return supervision_reads.open_orders(scope, area_path, limit)


def _levels() -> dict:
    return {"levels": list(LEVELS), "hours": [lv.reply_hours for lv in LEVELS.values()]}


def _level(level: str) -> str:
    if level not in LEVELS:
        raise InputError(f"level '{str(level)[:20]}' is not one of {', '.join(LEVELS)}")
    return level


def _text(text: str | None, what: str, most: int) -> str:
    text = (text or "").strip()
    if len(text) > most:
        raise InputError(f"the {what} is {len(text):,} characters; at most {most:,}")
    if "\x00" in text:
        raise InputError(f"the {what} holds a NUL character")
    return text


def _may(role: str | None) -> None:
    if role not in SUPERVISE_ROLES:
        raise Forbidden(f"role {role} may not issue or reply to supervision orders")


def issue(incident: str, scope: Scope, user: str, role: str, level: str = DEFAULT_LEVEL, note: str = "",
          remote_addr: str | None = None, now: datetime | None = None) -> dict:
    """An order on one open incident in ``scope`` (``incident`` is ``source:id``), or the raise of its open one."""
    _may(role)
    source, _, external_id = str(incident).partition(":")
    if not source or not external_id:
        raise InputError("an incident is named source:id, as the overdue list and Open311 name it")
    rows = fetch_all(ISSUE.format(incidents=ONE_INCIDENT), {
        **_levels(), "source": source, "external_id": external_id, "closed": list(CLOSED_STATUSES),
        "scope": scope.path, "level": _level(level), "note": _text(note, "note", MAX_NOTE), "user": user,
        "addr": remote_addr, "now": now})
    if not rows:
        raise NotFound(f"there is no open incident {str(incident)[:60]} in a grid of your scope")
    return rows[0]


COUNT_OVERDUE = "SELECT count(*) AS n FROM (" + AREA_OVERDUE.replace("i.source, i.external_id, i.grid_code, i.path",
                                                                     "1", 1) + ") o"


def issue_area(area_code: str, scope: Scope, user: str, role: str, level: str = DEFAULT_LEVEL, note: str = "",
               remote_addr: str | None = None, now: datetime | None = None,
               filters: Filters | None = None) -> list[dict]:
    """One order per overdue incident of the area (each to its own grid's owner, sharing the note), raising any
    open one: those ``filters`` hold (the window, categories, … of the overdue list shown; by default every one),
    at most ``MAX_AREA_ORDERS``, else refused."""
    _may(role)
    narrowed = replace(filters or Filters(), area_code=str(area_code))
    params = {**_levels(), **incident_params(narrowed, scope), "closed": list(CLOSED_STATUSES),
              "now": now or datetime.now().astimezone(), "level": _level(level), "note": _text(note, "note", MAX_NOTE),
              "user": user, "addr": remote_addr}
    n = fetch_all(COUNT_OVERDUE, {**params, "limit": MAX_AREA_ORDERS + 1})[0]["n"]
    if n > MAX_AREA_ORDERS:
        raise TooLarge(f"area {area_code} has more than {MAX_AREA_ORDERS} overdue incidents; order a street, "
                       "community or grid at a time")
    return fetch_all(ISSUE.format(incidents=AREA_OVERDUE), {**params, "limit": MAX_AREA_ORDERS})


def reply(order_id: int, scope: Scope, user: str, role: str, text: str, status: str,
          remote_addr: str | None = None, now: datetime | None = None) -> dict:
    """The addressee's reply to an open order in ``scope``: text and the incident's state as they report it."""
    _may(role)
    if status not in STATUSES:
        raise InputError(f"status '{str(status)[:20]}' is not one of {', '.join(STATUSES)}")
    text = _text(text, "reply", MAX_REPLY)
    if not text:
        raise InputError("a reply says what was done: write a few words")
    rows = fetch_all(REPLY, {"id": int(order_id), "scope": scope.path, "user": user, "text": text, "status": status,
                             "addr": remote_addr, "now": now})
    if not rows:
        raise NotFound(f"there is no open supervision order {order_id} in your scope")
    return rows[0]


def _close(order_id: int, scope: Scope, user: str, role: str, action: str, remote_addr: str | None,
           now: datetime | None) -> dict:
    _may(role)
    params = {"id": int(order_id), "scope": scope.path, "user": user, "any": role in ACCEPT_ANY_ROLES,
              "addr": remote_addr, "now": now, "action": action,
              "reason": "reply_accepted" if action == "accepted" else "withdrawn"}
    rows = fetch_all(CLOSE_BY_PERSON, params)
    if rows:
        return rows[0]
    state = fetch_all(ORDER_STATE, params)
    if not state or state[0]["closed_at"] is not None:
        raise NotFound(f"there is no open supervision order {order_id} in your scope")
    if state[0]["replied_at"] is None and action == "accepted":
        raise InputError(f"order {order_id} has no reply to accept yet")
    raise Forbidden(f"only its issuer ({state[0]['issued_by']}) or a commander closes order {order_id}")


def accept(order_id: int, scope: Scope, user: str, role: str, remote_addr: str | None = None,
           now: datetime | None = None) -> dict:
    """Close an order whose reply its issuer (or a commander) accepts."""
    return _close(order_id, scope, user, role, "accepted", remote_addr, now)


def withdraw(order_id: int, scope: Scope, user: str, role: str, remote_addr: str | None = None,
             now: datetime | None = None) -> dict:
    """Close an order its issuer (or a commander) issued by mistake: recorded, never deleted."""
    return _close(order_id, scope, user, role, "withdrawn", remote_addr, now)


def sweep(now: datetime | None = None) -> dict:
    """One pass of the periodic duty, as the system: close the orders whose incident is verified or closed, then
    escalate those past their reply deadline without a reply. Returns what it did."""
    closed = fetch_all(CLOSE_RESOLVED, {"closed": list(CLOSED_STATUSES), "now": now})[0]["closed"]
    raised = fetch_all(ESCALATE, {**_levels(), "now": now, "limit": MAX_ESCALATIONS})
    return {"closed": int(closed), "escalated": len(raised), "orders": [r["id"] for r in raised]}
