"""What an OGC API request asks for, parsed from its query string: every value checked, unknown keys refused.

The query arrives as Flask's ``request.args.to_dict(flat=False)``: each key with the list of its values.
A key given twice, a key the resource does not take, or a value that does not parse is an ``InputError``
naming the key, which the API answers with 400.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import orjson

from geodata.errors import InputError
from layers.base import BEIJING, BBox, beijing_midnight, held_day, held_moment
from layers.incidents import MAX_FEATURES
from layers.ogc.projection import CRS84, bbox_to_crs84, parse_crs

DEFAULT_LIMIT = 100
MAX_LIMIT = MAX_FEATURES
# Past this, in-memory paging of a layer would only walk an empty list; incidents page by ``after`` instead.
MAX_OFFSET = 1_000_000
# A cursor is a source and an id in base64: far shorter than this.
MAX_CURSOR = 2_000
FORMATS = ("json", "geojson")
# Every items request may narrow by these; a collection adds its own (``res``, ``after``).
ITEMS_KEYS = ("f", "limit", "offset", "bbox", "bbox-crs", "datetime", "crs", "area", "category", "severity", "status",
              "filter", "filter-lang", "filter-crs", "sortby", "properties")
# A filter written into a connection's URL (``…/ogc?filter=severity>=3``) is repeated by QGIS 3.22 on every request
# it makes (landing page, conformance, collections, items), the only way that QGIS sends a filter to the server:
# the other resources take these keys and leave them be; the items apply them.
CONNECTION_KEYS = ("filter", "filter-lang", "filter-crs")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_OPEN = ("", "..")


@dataclass(frozen=True)
class ItemsQuery:
    """An items request, checked; ``bbox`` in CRS84 degrees, ``since``/``until`` a half-open window."""

    limit: int = DEFAULT_LIMIT
    offset: int = 0
    bbox: BBox | None = None
    since: datetime | None = None
    until: datetime | None = None
    crs: str = CRS84
    res: int | None = None
    area: str | None = None
    categories: tuple[str, ...] = ()
    severities: tuple[int, ...] = ()
    statuses: tuple[str, ...] = ()
    after: tuple[str, str] | None = None
    filter: str | None = None  # CQL2, checked against the collection's fields by ``layers.ogc.cql``
    filter_lang: str | None = None
    sortby: tuple[tuple[str, bool], ...] = ()  # (field, descending), checked against the fields by the caller
    properties: tuple[str, ...] | None = None
    given: tuple[tuple[str, str], ...] = ()  # the query as asked, for the links of the answer


def single_values(args: Mapping[str, Sequence[str]], allowed: Sequence[str]) -> dict[str, str]:
    """One value per key, every key allowed, ``f`` (if any) JSON."""
    unknown = sorted(set(args) - set(allowed))
    if unknown:
        raise InputError(f"unknown parameter {', '.join(unknown)}; this resource takes {', '.join(allowed) or 'none'}")
    repeated = sorted(key for key, values in args.items() if len(values) != 1)
    if repeated:
        raise InputError(f"parameter {', '.join(repeated)} given more than once")
    values = {key: values[0] for key, values in args.items()}
    if values.get("f", "json") not in FORMATS:
        raise InputError(f"f='{values['f'][:40]}' is not offered; f=json (GeoJSON for features) is")
    return values


def whole_number(text: str, key: str, low: int, high: int) -> int:
    if not re.fullmatch(r"\d{1,9}", text.strip()):
        raise InputError(f"{key}='{text[:40]}' is not a whole number from {low} to {high}")
    value = int(text)
    if not low <= value <= high:
        raise InputError(f"{key}={value} is not from {low} to {high}")
    return value


def parse_bbox(text: str, crs: str) -> BBox:
    """``minx,miny,maxx,maxy`` (or six numbers with heights, which are dropped) in ``crs``'s axis order."""
    try:
        numbers = [float(v) for v in text.split(",")]
    except ValueError:
        numbers = []
    if len(numbers) not in (4, 6) or not all(abs(v) < float("inf") for v in numbers):
        raise InputError(f"bbox='{text[:80]}' is not four numbers: lower corner, then upper corner")
    if len(numbers) == 6:
        numbers = [numbers[0], numbers[1], numbers[3], numbers[4]]
    return bbox_to_crs84(tuple(numbers), crs)


def _moment(text: str, end: bool, key: str) -> datetime:
    """An RFC 3339 time (naive: Beijing), or a day: its first moment, or for an ``end`` the next day's; within the
    days the system holds (``layers.base.held_day``), else an ``InputError`` naming ``key``."""
    text = text.strip()
    try:
        if _DAY.match(text):
            day = held_day(date.fromisoformat(text), key)
            return beijing_midnight(day + timedelta(days=1) if end else day)
        moment = datetime.fromisoformat(text.replace("z", "Z"))
    except InputError:
        raise
    except ValueError:
        raise InputError(f"{key} '{text[:40]}' is not a time like 2026-10-01T08:00:00Z or a day like 2026-10-01") from None
    moment = held_moment(moment if moment.tzinfo else moment.replace(tzinfo=BEIJING), key)
    return moment + timedelta(microseconds=1) if end else moment  # the interval's end is included


def parse_datetime(text: str, key: str = "datetime") -> tuple[datetime | None, datetime | None]:
    """An instant, a day, or an interval ``start/end`` with ``..`` for an open end, as a half-open window; a
    mistake is an ``InputError`` naming ``key`` (the query key it came in)."""
    parts = text.split("/")
    if len(parts) == 1:
        if text.strip() in _OPEN:
            raise InputError(f"{key} '..' names no time; an open interval is '../..'")
        return _moment(text, False, key), _moment(text, True, key)
    if len(parts) != 2:
        raise InputError(f"{key} '{text[:80]}' is not an instant or an interval start/end")
    since = None if parts[0].strip() in _OPEN else _moment(parts[0], False, key)
    until = None if parts[1].strip() in _OPEN else _moment(parts[1], True, key)
    if since is not None and until is not None and since >= until:
        raise InputError(f"{key} '{text[:80]}' ends before it starts")
    return since, until


def words(text: str) -> tuple[str, ...]:
    """The comma-separated values of a key, each once, in order."""
    return tuple(dict.fromkeys(w.strip() for w in text.split(",") if w.strip()))


def encode_after(key: tuple[str, str]) -> str:
    """The cursor a ``next`` link carries: the last incident's primary key, URL-safe."""
    return base64.urlsafe_b64encode(orjson.dumps(list(key))).decode().rstrip("=")


def decode_after(text: str) -> tuple[str, str]:
    """The key a cursor of ``encode_after`` holds; anything else (a key no incident can have: a NUL byte, which
    PostgreSQL text never holds, or past ``MAX_CURSOR``) is an ``InputError`` naming ``after``."""
    try:
        key = orjson.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))) if len(text) <= MAX_CURSOR else None
        if isinstance(key, list) and len(key) == 2 and all(isinstance(k, str) and "\x00" not in k for k in key):
            return key[0], key[1]
    except (ValueError, orjson.JSONDecodeError):
        pass
    raise InputError(f"after='{text[:40]}' is not a cursor this API wrote; follow the next link as given")


def parse_items(args: Mapping[str, Sequence[str]], extra_keys: Sequence[str] = ()) -> ItemsQuery:
    """The items query of a collection that also takes ``extra_keys``."""
    values = single_values(args, (*ITEMS_KEYS, *extra_keys))
    bbox_crs = parse_crs(values["bbox-crs"], "bbox-crs") if "bbox-crs" in values else CRS84
    if "bbox-crs" in values and "bbox" not in values:
        raise InputError("bbox-crs is given without a bbox")
    if "filter-crs" in values and parse_crs(values["filter-crs"], "filter-crs") != CRS84:
        raise InputError("filter-crs: a filter's coordinates are taken in CRS84 (longitude, latitude) only")
    if "filter-lang" in values and "filter" not in values:
        raise InputError("filter-lang is given without a filter")
    since, until = parse_datetime(values["datetime"]) if "datetime" in values else (None, None)
    severities = words(values.get("severity", ""))
    return ItemsQuery(
        # Part 1 (/req/core/fc-limit-response-1): a limit above the maximum is served as the maximum, not refused.
        limit=(min(whole_number(values["limit"], "limit", 1, 999_999_999), MAX_LIMIT) if "limit" in values
               else DEFAULT_LIMIT),
        offset=whole_number(values["offset"], "offset", 0, MAX_OFFSET) if "offset" in values else 0,
        bbox=parse_bbox(values["bbox"], bbox_crs) if "bbox" in values else None,
        since=since, until=until,
        crs=parse_crs(values["crs"]) if "crs" in values else CRS84,
        res=whole_number(values["res"], "res", 0, 15) if "res" in values else None,
        area=values.get("area") or None,
        categories=words(values.get("category", "")),
        severities=tuple(whole_number(s, "severity", 1, 4) for s in severities),
        statuses=words(values.get("status", "")),
        after=decode_after(values["after"]) if "after" in values else None,
        filter=values.get("filter"), filter_lang=values.get("filter-lang"),
        sortby=tuple((w.lstrip("+-"), w.startswith("-")) for w in words(values.get("sortby", ""))),
        properties=words(values["properties"]) if "properties" in values else None,
        given=tuple(values.items()),
    )
