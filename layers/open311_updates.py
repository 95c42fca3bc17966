"""Open311's ``servicerequestupdates`` extension, read side, and the stored row a posted update starts from.

There is no status history table: the changes are derived from the incidents' ``updated_at``, which every upsert
that changes a row sets in the same transaction (``etl/staging.py``; index ``incident_updated_idx``, migration
0025). So a request changed twice inside one window shows once, with its latest status; ``update_id`` is the
request's id and the moment of that change (``source:id@2026-12-07T12:30:00.123456+00:00``), stable until it
changes again.

``updates`` answers ``start_date``/``end_date`` (ISO 8601; by default the last 24 hours), optionally one
``service_request_id``, oldest change first, ``page_size`` (default 100, at most 1000) from ``page`` 1.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone

from geodata.db import fetch_all
from geodata.errors import InputError
from geodata.scope import Scope
from geodata.taxonomy import STATUSES
from layers.base import Filters, incident_params
from layers.ogc.query import parse_datetime, single_values, whole_number
from layers.supervision import LEVELS

DEFAULT_HOURS = 24
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
MAX_ROWS = 100_000
UPDATE_KEYS = ("start_date", "end_date", "service_request_id", "page", "page_size", "lang", "jurisdiction_id")

# The incidents' own changes, and the events of the supervision orders on them (docs/supervision.md): a case system
# reading the feed learns that an order was issued, replied to, escalated or closed, as an update of its request.
UPDATES = """
SELECT * FROM (
  SELECT i.source, i.external_id, i.status, i.updated_at, i.resolved_at, NULL::bigint AS event_id,
         NULL::text AS action, NULL::text AS level, NULL::text AS actor, NULL::jsonb AS detail
  FROM shiyu.incident i
  WHERE (%(scope)s::ltree IS NULL OR i.path <@ %(scope)s::ltree)
    AND i.updated_at >= %(since)s AND i.updated_at < %(until)s
    AND (%(source)s::text IS NULL OR (i.source, i.external_id) = (%(source)s, %(external_id)s))
  UNION ALL
  SELECT o.incident_source, o.incident_id, coalesce(i.status, 'reported'), e.at, i.resolved_at, e.id, e.action,
         e.level, e.actor, e.detail || jsonb_build_object('order', o.id, 'addressee', o.addressee,
                                                            'reply_due_at', o.reply_due_at)
  FROM shiyu.supervision_event e
  JOIN shiyu.supervision_order o ON o.id = e.order_id
  LEFT JOIN shiyu.incident i ON (i.source, i.external_id) = (o.incident_source, o.incident_id)
  WHERE o.incident_id IS NOT NULL AND (%(scope)s::ltree IS NULL OR e.path <@ %(scope)s::ltree)
    AND e.at >= %(since)s AND e.at < %(until)s
    AND (%(source)s::text IS NULL OR (o.incident_source, o.incident_id) = (%(source)s, %(external_id)s))
) u
ORDER BY updated_at, source, external_id, event_id NULLS FIRST
LIMIT %(limit)s OFFSET %(offset)s
"""

OWN_ROW = """
SELECT i.external_id, i.category, i.severity, i.status, i.reported_at, i.resolved_at, i.description, i.attrs, i.pii,
       ST_X(i.geom) AS lon, ST_Y(i.geom) AS lat
FROM shiyu.incident i
WHERE i.source = %(source)s AND i.external_id = %(external_id)s
"""


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def own_row(source: str, external_id: str) -> dict | None:
    """The stored row of one incident of ``source`` (in the request's scope, by row-level security), as the text a
    posted row holds, so that a status change writes back everything else unchanged; None when not there."""
    rows = fetch_all(OWN_ROW, {"source": source, "external_id": external_id})
    if not rows:
        return None
    r = rows[0]
    return {**r, "reported_at": _iso(r["reported_at"]), "resolved_at": _iso(r["resolved_at"]),
            "lon": repr(r["lon"]), "lat": repr(r["lat"]), "attrs": r["attrs"] or {}, "pii": r["pii"] or {}}


def _update(r: dict, lang: str) -> dict:
    status = STATUSES[r["status"]]
    request_id = f"{r['source']}:{r['external_id']}"
    if r["event_id"] is not None:  # an order's event: its own id, its words in the description
        return {"update_id": f"{request_id}@order-event-{r['event_id']}", "service_request_id": request_id,
                "status": status.open311, "updated_datetime": _iso(r["updated_at"]),
                "description": order_words(r["action"], r["level"], r["actor"], r["detail"], lang), "media_url": None}
    return {"update_id": f"{request_id}@{r['updated_at'].isoformat()}", "service_request_id": request_id,
            "status": status.open311, "updated_datetime": _iso(r["updated_at"]),
            "description": status.name_zh if lang == "zh-CN" else status.name_en, "media_url": None}


ACTIONS = {"issued": ("下达", "issued"), "replied": ("回复", "replied to"), "escalated": ("升级", "escalated"),
           "accepted": ("采纳回复并办结", "closed, its reply accepted"), "closed": ("因事件办结而关闭", "closed, its incident closed"),
           "withdrawn": ("撤回", "withdrawn")}


def order_words(action: str, level: str, actor: str, detail: dict, lang: str) -> str:
    """One line about an order's event, in ``lang``: what, which level, by whom, the order's number and deadline."""
    due = str(detail.get("reply_due_at") or "")[:16].replace("T", " ")
    zh, en = ACTIONS.get(action, (action, action))
    if lang == "zh-CN":
        text = f"督办单 {detail.get('order')}（{LEVELS[level].name_zh}）已{zh}，操作人 {actor}，责任人 {detail.get('addressee')}"
        return text + (f"，回复期限 {due}" if due and action in ("issued", "escalated") else "")
    text = f"Supervision order {detail.get('order')} ({LEVELS[level].name_en}) {en} by {actor}, addressed to {detail.get('addressee')}"
    return text + (f"; reply due {due}" if due and action in ("issued", "escalated") else "")


def updates(args: Mapping[str, Sequence[str]], scope: Scope, now: datetime | None = None) -> list[dict]:
    """The requests in ``scope`` changed between ``start_date`` and ``end_date``, each once with its latest status."""
    values = single_values(args, UPDATE_KEYS)
    lang = values.get("lang", "zh-CN")
    if lang not in ("zh-CN", "en"):
        raise InputError(f"lang='{lang[:20]}' is not one of zh-CN, en")
    now = now or datetime.now(timezone.utc)
    since = parse_datetime(values["start_date"], "start_date")[0] if "start_date" in values else None
    until = parse_datetime(values["end_date"], "end_date")[1] if "end_date" in values else None
    until = until or now + timedelta(seconds=1)
    since = since or until - timedelta(hours=DEFAULT_HOURS)
    page = whole_number(values.get("page", "1"), "page", 1, MAX_ROWS)
    size = whole_number(values.get("page_size", str(DEFAULT_PAGE_SIZE)), "page_size", 1, MAX_PAGE_SIZE)
    if page * size > MAX_ROWS:
        raise InputError(f"page {page} of {size} reaches past update {MAX_ROWS:,}; narrow start_date and end_date")
    source = external_id = None
    if "service_request_id" in values:
        source, _, external_id = values["service_request_id"].partition(":")
        if not external_id:
            raise InputError("service_request_id is source:id, as requests.json names it")
    rows = fetch_all(UPDATES, {"scope": incident_params(Filters(), scope)["scope"], "since": since, "until": until,
                               "source": source, "external_id": external_id, "limit": size,
                               "offset": (page - 1) * size})
    return [_update(r, lang) for r in rows]
