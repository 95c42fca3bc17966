"""The incidents behind the current view, one page at a time, for the explore page's table.

The table (dash-ag-grid's infinite row model) asks for rows ``start`` to
``end`` in the order of its ``sortModel``; this module answers with those rows
and, on the first page only, how many there are. Paging is by offset, so deep
pages are refused (``MAX_OFFSET``) rather than left to scan, and the count
stops at ``COUNT_CAP`` rows so a city-wide view does not read every incident.

Every order ends with ``source, external_id``, the primary key, so two pages
of the same order never overlap or skip a row. Nulls sort last both ways.

Personal data leaves this module masked (``geodata.pii``), unless the caller says the user may see it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from geodata.db import compose, fetch_all
from geodata.errors import InputError
from geodata.pii import reporter
from geodata.scope import Scope
from geodata.taxonomy import CLOSED_STATUSES
from layers import windows
from layers.base import BEIJING, INCIDENT_FILTERS, OVERDUE, WHOLE_WORLD, Filters, incident_params

MAX_PAGE = 500
MAX_OFFSET = 10_000
# One more than the largest count worth showing: reaching it means "more than COUNT_CAP - 1". The table pages
# no deeper than MAX_OFFSET, so counting further told the officer nothing they could open, and cost most of a
# second on a busy street at 10M incidents (docs/dashboard.md); the map's panel shows the exact number.
COUNT_CAP = MAX_OFFSET + 1
# The OGC API's numberMatched, left out past this: a client pages by the next links and needs no exact total.
MATCHED_CAP = 100_000 + 1
DESCRIPTION_CHARS = 80

# Sortable columns, and whether they may be null (those get NULLS LAST, the rest keep the plain
# direction so that ORDER BY reported_at DESC still walks the reported_at index backwards).
SORTABLE: dict[str, bool] = {
    "reported_at": False, "category": False, "severity": True, "status": False, "grid_code": True, "due_at": True,
}
DIRECTIONS = {"asc": "ASC", "desc": "DESC"}
DEFAULT_SORT: tuple[tuple[str, str], ...] = (("reported_at", "desc"),)

# Only the point's own bounding box is tested, so the GiST index on geom answers it.
IN_VIEW = "\n  AND i.geom && ST_MakeEnvelope(%(west)s, %(south)s, %(east)s, %(north)s, 4326)"

# <in_view> and <order> are filled from this module's constants; the sort columns go in through compose.
_ROWS = """
SELECT i.source, i.external_id, i.reported_at, i.category, i.severity, i.status, i.due_at, i.grid_code,
       (SELECT a.name FROM shiyu.area a WHERE a.code = i.grid_code) AS grid_name,
       """ + OVERDUE + """ AS overdue,
       left(i.description, %(description_chars)s) AS description,
       i.pii ->> 'reporter_name' AS reporter_name, i.pii ->> 'reporter_phone' AS reporter_phone,
       ST_X(i.geom) AS lon, ST_Y(i.geom) AS lat
FROM shiyu.incident i
WHERE """ + INCIDENT_FILTERS + """<in_view>
ORDER BY <order>, i.source, i.external_id
LIMIT %(limit)s OFFSET %(offset)s
"""
ROWS = _ROWS.replace("<in_view>", "")
ROWS_IN_VIEW = _ROWS.replace("<in_view>", IN_VIEW)

# Counting stops at %(cap)s rows: the table needs "about how many", not an exact scan of the city.
_COUNT = """
SELECT count(*) AS n FROM (
    SELECT 1 FROM shiyu.incident i
    WHERE """ + INCIDENT_FILTERS + """<in_view><where>
    LIMIT %(cap)s
) capped
"""
COUNT = _COUNT.replace("<in_view>", "")
COUNT_IN_VIEW = _COUNT.replace("<in_view>", IN_VIEW)

# A lower bound of that count from the day cube (0010), read before it: the incidents, on the window's whole days,
# of some grids whose bounding box lies inside the view, so all their incidents do (an incident's grid is the one
# whose polygon holds its point, etl/staging.py). A few hundred grids and a few thousand of their rows are enough
# to pass the cap where the incidents are dense (at 10M a street's box held 10,001 of them only after 0.27 s of
# counting); where they are not, the bound falls short and the incidents are counted as before.
FLOOR_GRIDS, FLOOR_ROWS = 500, 4000
COUNT_FLOOR = """
SELECT coalesce(sum(n), 0) AS n FROM (
    SELECT c.n FROM shiyu.incident_day c
    WHERE c.grid_code IN (SELECT a.code FROM shiyu.area a
                          WHERE a.tier = 'grid' AND a.geom @ ST_MakeEnvelope(%(west)s, %(south)s, %(east)s, %(north)s, 4326)
                            AND (%(scope)s::ltree IS NULL OR a.path <@ %(scope)s::ltree)
                          LIMIT %(floor_grids)s)
      AND (%(scope)s::ltree IS NULL OR c.path <@ %(scope)s::ltree)
      AND c.category = ANY(%(cube_categories)s::text[])
      AND (%(first_day)s::date IS NULL OR c.day >= %(first_day)s)
      AND (%(end_day)s::date IS NULL OR c.day < %(end_day)s)
    LIMIT %(floor_rows)s
) probe
"""


@dataclass
class IncidentPage:
    """One page of rows; ``total`` (first page only, else None) is at most ``COUNT_CAP - 1``, ``total_capped`` when more."""

    rows: list[dict]
    total: int | None
    total_capped: bool


def sort_keys(sort: Sequence[Mapping] | None) -> list[tuple[str, str]]:
    """(column, direction) pairs from ag-grid's sortModel, checked against ``SORTABLE``; the default when empty."""
    keys: list[tuple[str, str]] = []
    for entry in sort or ():
        column = entry.get("colId") if isinstance(entry, Mapping) else None
        direction = entry.get("sort") if isinstance(entry, Mapping) else None
        if not isinstance(column, str) or column not in SORTABLE:  # the browser may send any JSON
            raise InputError(f"cannot sort incidents by {column!r}; sortable columns: {', '.join(SORTABLE)}")
        if not isinstance(direction, str) or direction.lower() not in DIRECTIONS:
            raise InputError(f"sort direction {direction!r} of {column!r} is not 'asc' or 'desc'")
        if column not in (c for c, _ in keys):  # a column sorted twice would only repeat itself
            keys.append((column, direction.lower()))
    return keys or list(DEFAULT_SORT)


def check_range(start: int, end: int) -> None:
    """Refuse a range the table should never ask for: negative, inverted, too long or too deep."""
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (start, end)):
        raise InputError(f"rows {start!r} to {end!r}: start and end must be whole numbers")
    if start < 0 or end < start:
        raise InputError(f"rows {start} to {end} are not a range: start must be 0 or more and end at least start")
    if end - start > MAX_PAGE:
        raise InputError(f"rows {start} to {end} ask for {end - start} rows; at most {MAX_PAGE} come in one page")
    if start > MAX_OFFSET:
        raise InputError(f"the table cannot page past row {MAX_OFFSET:,}; narrow the filters or sort the other way")


def _order(keys: list[tuple[str, str]]) -> tuple[str, dict[str, str]]:
    """The ORDER BY text with one identifier placeholder per key, and the identifiers for compose."""
    parts, identifiers = [], {}
    for k, (column, direction) in enumerate(keys):
        nulls = " NULLS LAST" if SORTABLE[column] and direction == "desc" else ""  # ASC puts nulls last already
        parts.append(f"{{s{k}}} {DIRECTIONS[direction]}{nulls}")
        identifiers[f"s{k}"] = f"i.{column}"
    return ", ".join(parts), identifiers


def _iso(moment: datetime | None) -> str | None:
    # One offset for every row, so the strings sort as the moments do.
    return None if moment is None else moment.astimezone(BEIJING).isoformat(timespec="minutes")


def _shorten(text: str | None) -> str | None:
    if text is None or len(text) <= DESCRIPTION_CHARS:
        return text
    return text[:DESCRIPTION_CHARS - 1] + "…"


def _row(r: dict, show_pii: bool = False) -> dict:
    return {
        "id": f"{r['source']}:{r['external_id']}", "reported_at": _iso(r["reported_at"]),
        "category": r["category"], "severity": r["severity"], "status": r["status"], "overdue": bool(r["overdue"]),
        "due_at": _iso(r["due_at"]), "grid_code": r["grid_code"], "grid_name": r["grid_name"],
        "description": _shorten(r["description"]),
        **reporter(r["reporter_name"], r["reporter_phone"], show_pii),
        "lon": round(r["lon"], 6), "lat": round(r["lat"], 6),
    }


def page(filters: Filters, scope: Scope, start: int, end: int, sort: list[dict] | None = None,
         now: datetime | None = None, show_pii: bool = False) -> IncidentPage:
    """Rows ``start`` to ``end`` (exclusive) of the incidents matching the filters inside ``filters.bbox``.

    ``sort`` is ag-grid's sortModel (``[{"colId": ..., "sort": "asc"|"desc"}]``), newest first when empty;
    ``now`` (default: the current time; naive is Beijing) decides ``overdue``. The count comes with the first
    page only (``start == 0``). Reporters' names and phones are masked unless ``show_pii``.
    """
    check_range(start, end)
    order, identifiers = _order(sort_keys(sort))
    now = datetime.now(timezone.utc) if now is None else now
    now = now.replace(tzinfo=BEIJING) if now.tzinfo is None else now
    in_view = filters.bbox != WHOLE_WORLD
    west, south, east, north = filters.bbox
    params = {**incident_params(filters, scope), "west": west, "south": south, "east": east, "north": north}
    rows: list[dict] = []
    if end > start:
        query = compose((ROWS_IN_VIEW if in_view else ROWS).replace("<order>", order), **identifiers)
        rows = [_row(r, show_pii) for r in fetch_all(query, {
            **params, "closed": list(CLOSED_STATUSES), "now": now, "description_chars": DESCRIPTION_CHARS + 1,
            "limit": end - start, "offset": start})]
    if start != 0:
        return IncidentPage(rows, None, False)
    total, capped = count(filters, scope, COUNT_CAP)
    return IncidentPage(rows, total, capped)


# The incidents one by one, for the OGC API's ``incidents`` collection and Open311's requests: no personal
# data at all (not even masked), a page of at most ``MAX_FEATURES`` rows, in one of two stable orders.
MAX_FEATURES = 1000
ORDERS = {
    # The primary key: the order the OGC API pages in, by keyset (``after``) so a deep page costs what the first does.
    "key": "i.source, i.external_id",
    # Newest first, as Open311 lists requests; ties broken by the primary key.
    "newest": "i.reported_at DESC, i.source, i.external_id",
}
AFTER = "\n  AND (i.source, i.external_id) > (%(after_source)s, %(after_id)s)"
ONE_OF = "\n  AND (i.source, i.external_id) IN (SELECT * FROM unnest(%(sources)s::text[], %(ids)s::text[]))"

_RECORDS = """
SELECT i.source, i.external_id, i.reported_at, i.resolved_at, i.updated_at, i.category, i.severity, i.status,
       i.due_at, i.grid_code, """ + OVERDUE + """ AS overdue,
       left(i.description, %(description_chars)s) AS description,
       ST_X(i.geom) AS lon, ST_Y(i.geom) AS lat
FROM shiyu.incident i
WHERE """ + INCIDENT_FILTERS + """<in_view><narrow><where>
ORDER BY <order>
LIMIT %(limit)s OFFSET %(offset)s
"""
# What a filter (``layers.ogc.cql``) and ``sortby`` may name, and the SQL each name stands for: an allow-list, so
# nothing a request says becomes text of a query.
FIELD_COLUMNS = {"category": "i.category", "severity": "i.severity", "status": "i.status",
                 "reported_at": "i.reported_at", "resolved_at": "i.resolved_at", "updated_at": "i.updated_at",
                 "due_at": "i.due_at", "overdue": "(i." + OVERDUE[1:].replace("due_at", "i.due_at") + ")",
                 "grid_code": "i.grid_code", "description": "i.description"}
GEOMETRY_COLUMN = "i.geom"


def _record(r: dict) -> dict:
    return {
        "id": f"{r['source']}:{r['external_id']}", "category": r["category"], "severity": r["severity"],
        "status": r["status"], "reported_at": _iso(r["reported_at"]), "resolved_at": _iso(r["resolved_at"]),
        "updated_at": _iso(r["updated_at"]), "due_at": _iso(r["due_at"]), "overdue": bool(r["overdue"]),
        "grid_code": r["grid_code"], "description": _shorten(r["description"]),
        "lon": round(r["lon"], 6), "lat": round(r["lat"], 6),
    }


@dataclass
class RecordPage:
    """Incidents without personal data, and the primary key ``(source, external_id)`` of each."""

    rows: list[dict]
    keys: list[tuple[str, str]]


def records(filters: Filters, scope: Scope, limit: int, offset: int = 0, order: str = "key",
            after: tuple[str, str] | None = None, now: datetime | None = None,
            where: tuple[str, dict] | None = None, sort: tuple[tuple[str, bool], ...] = ()) -> RecordPage:
    """Up to ``limit`` incidents matching the filters inside ``filters.bbox``, without personal data.

    ``order`` is a key of ``ORDERS``; ``after`` (a ``(source, external_id)`` key, ``"key"`` order only) starts
    the page after that incident instead of skipping ``offset`` rows. ``where`` is more SQL to hold the rows to,
    over ``FIELD_COLUMNS`` with its values bound (``layers.ogc.cql.to_sql``); ``sort``, (name of
    ``FIELD_COLUMNS``, descending) pairs, orders the rows before the primary key.
    """
    if order not in ORDERS:
        raise InputError(f"unknown order {order!r}; orders: {', '.join(ORDERS)}")
    if not 0 <= limit <= MAX_FEATURES + 1 or offset < 0:  # one more than a page says whether another follows
        raise InputError(f"a page holds 0 to {MAX_FEATURES} incidents from offset 0 or more, not {limit} from {offset}")
    if after is not None and order != "key":
        raise InputError("a page can start after an incident only in the primary key's order")
    now = datetime.now(timezone.utc) if now is None else now
    west, south, east, north = filters.bbox
    if sort and after is not None:
        raise InputError("a page can start after an incident only in the primary key's order")
    ordered = ", ".join(f"{FIELD_COLUMNS[name]} {'DESC' if down else 'ASC'} NULLS LAST" for name, down in sort)
    query = (_RECORDS.replace("<in_view>", IN_VIEW if filters.bbox != WHOLE_WORLD else "")
             .replace("<narrow>", AFTER if after else "").replace("<where>", f"\n  AND {where[0]}" if where else "")
             .replace("<order>", f"{ordered}, {ORDERS[order]}" if sort else ORDERS[order]))
    rows = fetch_all(query, {**(where[1] if where else {}),
        **incident_params(filters, scope), "west": west, "south": south, "east": east, "north": north,
        "closed": list(CLOSED_STATUSES), "now": now, "description_chars": DESCRIPTION_CHARS + 1,
        "after_source": after[0] if after else None, "after_id": after[1] if after else None,
        "limit": limit, "offset": 0 if after else offset})
    return RecordPage([_record(r) for r in rows], [(r["source"], r["external_id"]) for r in rows])


def record(incident_id: str, scope: Scope, now: datetime | None = None) -> dict | None:
    """One incident by its id (``source:external_id``) if it is in ``scope``, without personal data."""
    # A source or an id may itself hold a colon: every split is tried, the primary key answers each.
    splits = [(incident_id[:k], incident_id[k + 1:]) for k, ch in enumerate(incident_id) if ch == ":"]
    if not splits:
        return None
    now = datetime.now(timezone.utc) if now is None else now
    query = (_RECORDS.replace("<in_view>", "").replace("<narrow>", ONE_OF).replace("<where>", "")
             .replace("<order>", ORDERS["key"]))
    rows = fetch_all(query, {
        **incident_params(Filters(), scope), "closed": list(CLOSED_STATUSES), "now": now,
        "description_chars": DESCRIPTION_CHARS + 1, "sources": [s for s, _ in splits], "ids": [i for _, i in splits],
        "limit": 1, "offset": 0})
    return _record(rows[0]) if rows else None


def _floor(filters: Filters, params: dict) -> int:
    """A lower bound of the incidents matching (``COUNT_FLOOR``), 0 when the cube cannot tell."""
    if not windows.reads_cube(filters):
        return 0
    first_day, end_day = windows.whole_days(filters.since, filters.until)
    if first_day is not None and end_day is not None and first_day >= end_day:
        return 0
    return int(fetch_all(COUNT_FLOOR, {**params, "first_day": first_day, "end_day": end_day,
                                       "cube_categories": windows.cube_categories(filters),
                                       "floor_grids": FLOOR_GRIDS, "floor_rows": FLOOR_ROWS})[0]["n"])


def count(filters: Filters, scope: Scope, cap: int, where: tuple[str, dict] | None = None) -> tuple[int, bool]:
    """How many incidents match (at most ``cap - 1``) and whether there are more than that.

    The table passes ``COUNT_CAP`` (no deeper than it pages), the OGC API ``MATCHED_CAP`` (and its filter's
    ``where``, as ``records`` takes it). When the day cube shows ``cap`` of them already, the incidents are not
    counted."""
    west, south, east, north = filters.bbox
    params = {**incident_params(filters, scope), "west": west, "south": south, "east": east, "north": north,
              "cap": cap, "closed": list(CLOSED_STATUSES), "now": datetime.now(timezone.utc),
              **(where[1] if where else {})}
    if where is None and _floor(filters, params) >= cap:
        return cap - 1, True
    query = (COUNT_IN_VIEW if filters.bbox != WHOLE_WORLD else COUNT).replace(
        "<where>", f"\n      AND {where[0]}" if where else "")
    counted = int(fetch_all(query, params)[0]["n"])
    return min(counted, cap - 1), counted >= cap
