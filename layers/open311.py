"""Open311 GeoReport v2, read side: the categories as services (with definitions), the incidents as requests.

The write side is ``etl/open311.py`` and ``dashboard/open311_write.py`` (docs/intake.md, "Open311").

Civic tools that speak GeoReport v2 read incidents here without personal data: no reporter names or phones,
and no free-text description either (a citizen's words may name people; the OGC API and the dashboard show it
to those signed in). The six steps of the closed loop map to Open311's two statuses as the taxonomy says:
reported, registered, dispatched and handling are ``open``; verified and closed are ``closed``.

``requests`` lists newest first, ``page_size`` (default 50, at most 1000) at a time from ``page`` 1, over
``start_date``/``end_date`` (by default the 90 days before now, as GeoReport v2 suggests).

Examples
--------
>>> [s["service_code"] for s in services({})][:3]
['dispute', 'public_order', 'fire_safety']
>>> services({"lang": ["en"]})[0]["service_name"]
'Dispute'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone

from geodata.errors import InputError, NotFound
from geodata.scope import Scope
from geodata.taxonomy import CATEGORIES, CLOSED_STATUSES, OPEN_STATUSES, STATUSES
from layers import incidents
from layers.base import FIRST_DAY, Filters, beijing_midnight
from layers.ogc.query import parse_datetime, single_values, whole_number

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = incidents.MAX_FEATURES
MAX_ROWS = 100_000  # page × page_size: past it, narrow start_date/end_date
DEFAULT_DAYS = 90
MAX_IDS = 100
LANGS = ("zh-CN", "en")
OPEN311_STATUSES = {"open": OPEN_STATUSES, "closed": CLOSED_STATUSES}
REQUEST_KEYS = ("service_request_id", "service_code", "start_date", "end_date", "status", "page", "page_size",
                "lang", "jurisdiction_id", "format")


def _lang(values: dict[str, str]) -> str:
    lang = values.get("lang", "zh-CN")
    if lang not in LANGS:
        raise InputError(f"lang='{lang[:20]}' is not one of {', '.join(LANGS)}")
    return lang


def services(args: Mapping[str, Sequence[str]]) -> list[dict]:
    """Every incident category as a GeoReport service, named in ``lang`` (zh-CN by default)."""
    lang = _lang(single_values(args, ("lang", "jurisdiction_id", "format")))
    return [{"service_code": code, "service_name": c.name_zh if lang == "zh-CN" else c.name_en,
             "description": f"{c.name_zh} {c.name_en}", "metadata": True, "type": "realtime",
             "keywords": ", ".join((c.name_zh, c.name_en, *c.aliases)), "group": "grid management 网格化管理"}
            for code, c in CATEGORIES.items()]


SEVERITIES = {k: (f"{k} 级", f"level {k}") for k in (1, 2, 3, 4)}  # the loader's own 1–4 (etl/incidents.py)
SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
CHANGESET = "2026-12-07T00:00:00+08:00"  # when these definitions last changed (discovery's changeset)


def definition(code: str, args: Mapping[str, Sequence[str]]) -> dict:
    """The service definition of ``code``: the attributes a request of it may carry beyond the standard fields
    (the same for every category: its severity; ``etl/open311.py`` maps them to the canonical columns)."""
    lang = _lang(single_values(args, ("lang", "jurisdiction_id")))
    if code not in CATEGORIES:
        raise NotFound(f"there is no service '{code[:40]}'; services: {', '.join(CATEGORIES)}")
    values = [{"key": str(k), "name": zh if lang == "zh-CN" else en} for k, (zh, en) in SEVERITIES.items()]
    return {"service_code": code, "attributes": [{
        "variable": True, "code": "severity", "datatype": "singlevaluelist", "required": False,
        "datatype_description": "1, 2, 3 or 4, as the loader takes severity", "order": 1,
        "description": "严重程度 severity", "values": values}]}


def discovery(args: Mapping[str, Sequence[str]], base_url: str) -> dict:
    """Where this server's GeoReport v2 endpoint is and what it speaks (JSON only: XML paths are answered 406)."""
    single_values(args, ("jurisdiction_id",))
    return {"changeset": CHANGESET, "contact": "the command centre operating this server",
            "key_service": "api_key: a feed token (shiyu feeds add NAME), for writing; reads take an API token",
            "endpoints": [{"specification": SPECIFICATION, "url": base_url, "changeset": CHANGESET,
                           "type": "production", "formats": ["application/json"]}]}


def _request(record: dict, lang: str) -> dict:
    category, status = CATEGORIES[record["category"]], STATUSES[record["status"]]
    return {
        "service_request_id": record["id"], "status": status.open311,
        "status_notes": status.name_zh if lang == "zh-CN" else status.name_en,
        "service_name": category.name_zh if lang == "zh-CN" else category.name_en, "service_code": record["category"],
        "description": None, "agency_responsible": record["grid_code"], "service_notice": None,
        "requested_datetime": record["reported_at"], "updated_datetime": record["updated_at"],
        "expected_datetime": record["due_at"], "address": None, "address_id": None, "zipcode": None,
        "lat": record["lat"], "long": record["lon"], "media_url": None,
    }


def _statuses(text: str) -> tuple[str, ...]:
    words = [w.strip() for w in text.split(",") if w.strip()]
    unknown = [w for w in words if w not in OPEN311_STATUSES]
    if unknown or not words:
        raise InputError(f"status='{text[:40]}' is not open, closed or both (open,closed)")
    return tuple(s for w in dict.fromkeys(words) for s in OPEN311_STATUSES[w])


def _codes(text: str) -> tuple[str, ...]:
    codes = tuple(dict.fromkeys(w.strip() for w in text.split(",") if w.strip()))
    unknown = [c for c in codes if c not in CATEGORIES]
    if unknown or not codes:
        raise InputError(f"unknown service_code {', '.join(unknown) or text[:40]}; services: {', '.join(CATEGORIES)}")
    return codes


def requests(args: Mapping[str, Sequence[str]], scope: Scope, now: datetime | None = None) -> list[dict]:
    """One page of the service requests (incidents) in ``scope`` that the query asks for, newest first."""
    values = single_values(args, REQUEST_KEYS)
    lang = _lang(values)
    if "service_request_id" in values:
        ids = [i.strip() for i in values["service_request_id"].split(",") if i.strip()][:MAX_IDS]
        found = (incidents.record(i, scope, now) for i in ids)
        return [_request(r, lang) for r in found if r is not None]
    now = now or datetime.now(timezone.utc)
    since = parse_datetime(values["start_date"], "start_date")[0] if "start_date" in values else None
    until = parse_datetime(values["end_date"], "end_date")[1] if "end_date" in values else None
    if since is None:
        since = max((until or now) - timedelta(days=DEFAULT_DAYS), beijing_midnight(FIRST_DAY))
    page = whole_number(values.get("page", "1"), "page", 1, MAX_ROWS)
    size = whole_number(values.get("page_size", str(DEFAULT_PAGE_SIZE)), "page_size", 1, MAX_PAGE_SIZE)
    if page * size > MAX_ROWS:
        raise InputError(f"page {page} of {size} reaches past request {MAX_ROWS:,}; narrow start_date and end_date")
    filters = Filters(since=since, until=until,
                      categories=_codes(values["service_code"]) if "service_code" in values else (),
                      statuses=_statuses(values["status"]) if "status" in values else ())
    found = incidents.records(filters, scope, size, (page - 1) * size, "newest", now=now)
    return [_request(r, lang) for r in found.rows]


def request(request_id: str, args: Mapping[str, Sequence[str]], scope: Scope, now: datetime | None = None) -> list[dict]:
    """One service request by its id, as a one-element list (GeoReport's shape), if it is in ``scope``."""
    lang = _lang(single_values(args, ("lang", "jurisdiction_id")))
    record = incidents.record(request_id, scope, now)
    if record is None:
        raise NotFound(f"there is no service request '{request_id[:80]}' in your scope")
    return [_request(record, lang)]
