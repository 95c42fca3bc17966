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

DEFAULT_HOURS = 24
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
MAX_ROWS = 100_000
UPDATE_KEYS = ("start_date", "end_date", "service_request_id", "page", "page_size", "lang", "jurisdiction_id")

UPDATES = """
SELECT i.source, i.external_id, i.status, i.updated_at, i.resolved_at
FROM shiyu.incident i
WHERE (%(scope)s::ltree IS NULL OR i.path <@ %(scope)s::ltree)
  AND i.updated_at >= %(since)s AND i.updated_at < %(until)s
  AND (%(source)s::text IS NULL OR (i.source, i.external_id) = (%(source)s, %(external_id)s))
ORDER BY i.updated_at, i.source, i.external_id
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
    return {"update_id": f"{request_id}@{r['updated_at'].isoformat()}", "service_request_id": request_id,
            "status": status.open311, "updated_datetime": _iso(r["updated_at"]),
            "description": status.name_zh if lang == "zh-CN" else status.name_en, "media_url": None}


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
