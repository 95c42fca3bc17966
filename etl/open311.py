"""Open311 GeoReport v2 writes as canonical rows: a ``POST requests`` form and a ``servicerequestupdates`` form.

Pure: a form (the fields as posted, one value each) in, a one-row ``Table`` out, which ``etl.intake.submit`` then
validates, queues and applies exactly as it does a row of ``POST /api/v1/incidents``. Nothing here decides what
a value may be beyond the form's own shape: categories (``service_code``), coordinates, times and statuses are the
loader's to accept or reject, with its reasons.

- ``requests``: ``service_code`` → category, ``lat``/``long`` → lat/lon, ``requested_datetime`` → reported_at (now
  when absent), ``description``, ``attribute[severity]`` → severity, any other ``attribute[x]`` and ``media_url``,
  ``email``, ``device_id`` and ``address_string`` → attrs, ``first_name`` + ``last_name`` → reporter_name and
  ``phone`` → reporter_phone (so into ``pii``). Without a geocoder an address alone locates nothing: refused.
- ``servicerequestupdates``: the request's current row with its ``status`` changed (``closed`` → closed with
  ``resolved_at`` = ``updated_datetime``; ``open`` → handling 处置; a step of the chain by its code or Chinese
  name → that step), the update's ``description`` kept in attrs as ``update_note``.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from datetime import datetime, timezone

from etl.intake import table_of_rows
from etl.readers import Table
from geodata.errors import Forbidden, InputError

SERVER_ID_PREFIX = "o311-"
CJK = re.compile(r"[\u4e00-\u9fff]")
ATTRIBUTE = re.compile(r"^attribute\[([^\[\]]{1,64})\]$")
# The declared attributes of every service (layers/open311.py's definitions) and the canonical column each fills.
ATTRIBUTE_COLUMNS = {"severity": "severity"}
TO_ATTRS = ("media_url", "email", "device_id", "address_string", "address_id", "account_id")
REQUEST_FIELDS = ("api_key", "jurisdiction_id", "service_code", "lat", "long", "description", "requested_datetime",
                  "first_name", "last_name", "phone", *TO_ATTRS)
UPDATE_FIELDS = ("api_key", "jurisdiction_id", "service_request_id", "status", "updated_datetime", "description",
                 "update_id", "media_url", "first_name", "last_name", "email")
OPEN_MEANS = "handling"  # an update saying only "open": the case is being worked on (处置)


def new_server_id() -> str:
    """The server's part of a new request's id (the feed's source is the other: ``source:o311-…``)."""
    return SERVER_ID_PREFIX + secrets.token_hex(8)


def _now_text() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _checked(form: Mapping[str, str], allowed: tuple[str, ...]) -> dict[str, str]:
    unknown = sorted(k for k in form if k not in allowed and not ATTRIBUTE.match(k))
    if unknown:
        raise InputError(f"unknown field {', '.join(u[:40] for u in unknown[:5])}; this resource takes "
                         f"{', '.join(allowed)} and attribute[code]")
    return {k: v.strip() for k, v in form.items()}


def _name(form: Mapping[str, str]) -> str:
    """The reporter's name: a Chinese name family name first and unspaced (张 + 三丰 → 张三丰), others as given."""
    first, last = form.get("first_name", ""), form.get("last_name", "")
    if CJK.search(first + last):
        return last + first
    return " ".join(p for p in (first, last) if p)


def request_table(form: Mapping[str, str], server_id: str) -> Table:
    """The row a ``POST requests`` form asks for, under the id ``server_id`` (InputError: the form's shape)."""
    form = _checked(form, REQUEST_FIELDS)
    if not form.get("service_code"):
        raise InputError("service_code is required: one of the codes services.json lists")
    has_point = bool(form.get("lat") or form.get("long"))
    if not has_point and (form.get("address_string") or form.get("address_id")):
        raise InputError("this server has no geocoder: an address alone locates nothing; send lat and long "
                         "(WGS-84 degrees) with it")
    if not (form.get("lat") and form.get("long")):
        raise InputError("lat and long are both required (WGS-84 degrees)")
    row = {"id": server_id, "category": form["service_code"], "lat": form["lat"], "lon": form["long"],
           "reported_at": form.get("requested_datetime") or _now_text(), "description": form.get("description", "")}
    if _name(form):
        row["reporter_name"] = _name(form)
    if form.get("phone"):
        row["reporter_phone"] = form["phone"]
    for key in TO_ATTRS:
        if form.get(key):
            row[key] = form[key]
    for key, value in form.items():
        code = ATTRIBUTE.match(key)
        if code and value:
            row[ATTRIBUTE_COLUMNS.get(code[1], key)] = value
    return table_of_rows([row])


def split_request_id(request_id: str, source: str) -> str:
    """The external id of ``request_id`` (``source:external_id``), which must be of the feed's own ``source``."""
    prefix = f"{source}:"
    if not request_id.startswith(prefix) or len(request_id) == len(prefix):
        raise Forbidden(f"service_request_id {request_id[:80]!r} is not one of feed {source!r}'s requests "
                        f"(they start {prefix!r}); a feed changes its own requests only")
    return request_id[len(prefix):]


def update_table(form: Mapping[str, str], current: dict) -> Table:
    """The row that moves the request ``current`` (its stored row, ``layers.open311_updates.own_row``) to the
    form's ``status``."""
    form = _checked(form, UPDATE_FIELDS)
    status = form.get("status", "")
    if not status:
        raise InputError("status is required: open, closed, or a step of the chain (registered, dispatched, …)")
    when = form.get("updated_datetime") or _now_text()
    row = {**current["attrs"], "id": current["external_id"], "category": current["category"],
           "reported_at": current["reported_at"], "lon": current["lon"], "lat": current["lat"],
           "severity": current["severity"], "description": current["description"] or "",
           **{k: v for k, v in current["pii"].items()}}
    row["status"] = {"open": OPEN_MEANS}.get(status.lower(), status)
    row["resolved_at"] = when if row["status"] in ("closed", "结案") else ""
    if status.lower() == "closed" and not form.get("updated_datetime") and current["resolved_at"]:
        row["resolved_at"] = current["resolved_at"]
    if form.get("description"):
        row["update_note"] = form["description"]
    if form.get("media_url"):
        row["media_url"] = form["media_url"]
    return table_of_rows([row])
