"""The incident table's pages, recounted from the points the test city wrote."""

from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest

from geodata import db
from geodata.errors import InputError
from geodata.scope import Scope
from geodata.taxonomy import CATEGORIES
from layers import incidents
from layers.base import BEIJING, WHOLE_WORLD, Filters
from layers.incidents import DESCRIPTION_CHARS, MAX_OFFSET, MAX_PAGE, SORTABLE, page
from tests.helpers import write_csv
from tests.layers.tiers import CITY

EVERYTHING = Scope.everything()
DISTRICT_C1 = Scope("C.C1")
CLOSED = ("verified", "closed")
LONG = "居民反映" + "楼道堆放杂物影响消防通道" * 16  # far longer than the table shows


@dataclass(frozen=True)
class Extra:
    """A row of the second feed: what the city's random points never have (nulls, text, reporters)."""

    external_id: str
    category: str
    hours_ago: int
    lon: float
    lat: float
    severity: int | None = None
    status: str = "reported"
    description: str | None = None
    reporter_name: str = ""
    reporter_phone: str = ""
    reporter_shown: str = ""
    phone_shown: str = ""
    description_shown: str | None = None
    no_due: bool = False  # its due time is cleared after loading: a feed without an SLA for it


EXTRAS = (
    Extra("P00", "dispute", 100, 120.05, 30.05, description="甲" * DESCRIPTION_CHARS,
          description_shown="甲" * DESCRIPTION_CHARS, reporter_name="张三丰", reporter_phone="13812341234",
          reporter_shown="张**", phone_shown="138****1234"),
    Extra("P01", "fire_safety", 200, 120.15, 30.15, status="closed", description="乙" * (DESCRIPTION_CHARS + 1),
          description_shown="乙" * (DESCRIPTION_CHARS - 1) + "…", reporter_name="欧阳修",
          reporter_phone="+86 139-0000-5678", reporter_shown="欧**", phone_shown="139****5678"),
    Extra("P02", "traffic_safety", 2, 120.25, 30.25, severity=4, status="handling", description=LONG,
          description_shown=LONG[:DESCRIPTION_CHARS - 1] + "…", reporter_phone="0571-87654321",
          phone_shown="********4321"),
    Extra("P03", "city_management", 300, 120.35, 30.35, status="verified", description="路灯不亮",
          description_shown="路灯不亮"),
    Extra("P04", "dispute", 500, 120.12, 30.33, severity=2, no_due=True, reporter_name="李四", reporter_shown="李*"),
    Extra("P05", "dispute", 150, 120.41, 30.05, status="dispatched"),  # east of every grid
    Extra("P06", "fire_safety", 20, 120.41, 30.25, severity=1, description="围墙外", description_shown="围墙外"),
    Extra("P07", "traffic_safety", 600, 120.2, 30.41, status="handling", no_due=True),  # north of every grid
    Extra("P08", "dispute", 40, 120.32, 30.07, status="dispatched", reporter_name="王", reporter_shown="王"),
    Extra("P09", "fire_safety", CATEGORIES["fire_safety"].sla_hours, 120.18, 30.22),  # due exactly at the city's now
)


def _grid_of(boxes, lon, lat):
    inside = [code for code, (w, s, e, n) in boxes["grid"].items() if w < lon < e and s < lat < n]
    assert len(inside) <= 1, (lon, lat, inside)
    return inside[0] if inside else None


def _load_extras(folder, now, database_url):
    rows = []
    for x in EXTRAS:
        reported = now - timedelta(hours=x.hours_ago)
        resolved = f"{reported + timedelta(hours=1):%Y-%m-%d %H:%M:%S}" if x.status in CLOSED else ""
        rows.append([x.external_id, x.category, f"{reported:%Y-%m-%d %H:%M:%S}", f"{x.lon:.6f}", f"{x.lat:.6f}",
                     "" if x.severity is None else x.severity, x.status, resolved, x.description or "",
                     x.reporter_name, x.reporter_phone])
    path = write_csv(folder / "extras.csv", rows, header=("id", "category", "reported_at", "lon", "lat", "severity",
                                                          "status", "resolved_at", "description", "reporter_name",
                                                          "reporter_phone"))
    from etl.load import load_incidents

    assert load_incidents(path, source="page").loaded == len(EXTRAS)
    with db.connect(database_url, autocommit=True) as conn:
        conn.execute("UPDATE shiyu.incident SET due_at = NULL WHERE source = 'page' AND external_id = ANY(%s)",
                     ([x.external_id for x in EXTRAS if x.no_due],))


@pytest.fixture(scope="module")
def table(city, tmp_path_factory, database_url):
    """Every incident of the city plus the extras, as plain records worked out from what was written: (records, now)."""
    boxes, written, now = city
    _load_extras(tmp_path_factory.mktemp("extras"), now, database_url)
    records = []
    for i in range(len(written["lon"])):
        reported, category = written["reported"][i], str(written["category"][i])
        lon, lat = float(written["lon"][i]), float(written["lat"][i])
        records.append({
            "source": "tiers", "external_id": f"E{i}", "reported": reported, "category": category,
            "severity": int(written["severity"][i]), "status": str(written["status"][i]),
            "due": reported + timedelta(hours=CATEGORIES[category].sla_hours), "grid_code": _grid_of(boxes, lon, lat),
            "lon": lon, "lat": lat, "description": None, "reporter": "", "phone": ""})
    for x in EXTRAS:
        reported = now - timedelta(hours=x.hours_ago)
        records.append({
            "source": "page", "external_id": x.external_id, "reported": reported, "category": x.category,
            "severity": x.severity, "status": x.status,
            "due": None if x.no_due else reported + timedelta(hours=CATEGORIES[x.category].sla_hours),
            "grid_code": _grid_of(boxes, x.lon, x.lat), "lon": x.lon, "lat": x.lat,
            "description": x.description_shown, "reporter": x.reporter_shown, "phone": x.phone_shown})
    assert sum(r["grid_code"] is None for r in records) == 3
    return records, now


def _matching(records, bbox=WHOLE_WORLD, since=None, until=None, categories=(), severities=(), statuses=(), under=None):
    """The records a filter keeps; ``under`` is the code prefix of the area the scope or the filters narrow to."""
    w, s, e, n = bbox
    return [r for r in records
            if w <= r["lon"] <= e and s <= r["lat"] <= n
            and (since is None or r["reported"] >= since) and (until is None or r["reported"] < until)
            and (not categories or r["category"] in categories)
            and (not severities or r["severity"] in severities)
            and (not statuses or r["status"] in statuses)
            and (under is None or (r["grid_code"] or "").startswith(under))]


def _minutes(moment):
    return None if moment is None else f"{moment.astimezone(BEIJING):%Y-%m-%dT%H:%M}+08:00"


def _shown(record, now):
    """The row the table should show for a record at ``now``, without its coordinates."""
    return {
        "id": f"{record['source']}:{record['external_id']}", "reported_at": _minutes(record["reported"]),
        "category": record["category"], "severity": record["severity"], "status": record["status"],
        "overdue": record["status"] not in CLOSED and record["due"] is not None and record["due"] < now,
        "due_at": _minutes(record["due"]), "grid_code": record["grid_code"],
        "grid_name": None if record["grid_code"] is None else f"区域{record['grid_code']}",
        "description": record["description"], "reporter": record["reporter"], "phone": record["phone"],
    }


def _all_rows(filters, scope, size=MAX_PAGE, sort=None, now=None):
    """Every row of the filters, page after page, and the first page's total."""
    first = page(filters, scope, 0, size, sort, now=now)
    rows, start = list(first.rows), size
    while True:
        more = page(filters, scope, start, start + size, sort, now=now)
        assert more.total is None and more.total_capped is False
        if not more.rows:
            return rows, first
        rows += more.rows
        start += size


def _python_order(records, sort):
    """The records in a sortModel's order, nulls last both ways, then by source and external_id."""
    field = {"reported_at": "reported", "due_at": "due"}
    ordered = sorted(records, key=lambda r: (r["source"], r["external_id"]))
    for entry in reversed(sort or [{"colId": "reported_at", "sort": "desc"}]):
        name, descending = field.get(entry["colId"], entry["colId"]), entry["sort"] == "desc"
        if descending:  # reversed, so the present values (True) come first and the nulls last
            ordered.sort(key=lambda r: (r[name] is not None, r[name]), reverse=True)
        else:
            ordered.sort(key=lambda r: (r[name] is None, r[name]))
    return ordered


def _ids(rows):
    return [r["id"] for r in rows]


FILTERS = {
    "the whole world": ({}, EVERYTHING, {}),
    "a box": ({"bbox": (120.137, 30.061, 120.284, 30.293)}, EVERYTHING, {}),
    "a window": ({"since": -10, "until": -3}, EVERYTHING, {}),
    "two categories": ({"categories": ("dispute", "fire_safety")}, EVERYTHING, {}),
    "two severities": ({"severities": (1, 4)}, EVERYTHING, {}),
    "two statuses": ({"statuses": ("reported", "dispatched")}, EVERYTHING, {}),
    "the district's scope": ({"bbox": CITY}, DISTRICT_C1, {"under": "C1"}),
    "a street inside the scope": ({"area_code": "C12", "statuses": ("handling",)}, DISTRICT_C1, {"under": "C12"}),
    "everything at once": ({"bbox": (120.05, 30.02, 120.38, 30.39), "since": -20, "area_code": "C2",
                            "categories": ("dispute", "traffic_safety"), "severities": (2, 3, 4),
                            "statuses": ("reported", "handling", "closed")}, EVERYTHING, {"under": "C2"}),
}


def _filters(args, now):
    args = dict(args)
    for bound in ("since", "until"):
        if bound in args:
            args[bound] = now + timedelta(days=args[bound])
    return Filters(**args)


@pytest.mark.parametrize("args, scope, narrow", FILTERS.values(), ids=list(FILTERS))
def test_the_rows_and_total_equal_a_recount_of_the_written_points(table, args, scope, narrow):
    records, now = table
    filters = _filters(args, now)
    expected = _matching(records, filters.bbox, filters.since, filters.until, filters.categories,
                         filters.severities, filters.statuses, **narrow)
    rows, first = _all_rows(filters, scope, now=now)
    assert len(expected) > 20
    assert (first.total, first.total_capped) == (len(expected), False)
    assert len(rows) == len(expected)
    by_id = {f"{r['source']}:{r['external_id']}": r for r in expected}
    for row in rows:
        record = by_id[row["id"]]
        assert {k: v for k, v in row.items() if k not in ("lon", "lat")} == _shown(record, now)
        assert (row["lon"], row["lat"]) == pytest.approx((record["lon"], record["lat"]), abs=1e-6)
    assert _ids(rows) == _ids(_shown(r, now) for r in _python_order(expected, None))  # newest first by default


def test_nothing_outside_the_scope_ever_appears(table):
    records, now = table
    rows, first = _all_rows(Filters(), DISTRICT_C1, now=now)
    assert first.total == len(rows) == len(_matching(records, under="C1"))
    assert all(r["grid_code"].startswith("C1") for r in rows)
    assert not {"page:P05", "page:P06", "page:P07"} & set(_ids(rows))  # no grid, so in no district
    assert page(Filters(area_code="C2"), EVERYTHING, 0, 10, now=now).total == len(_matching(records, under="C2"))
    for outside in ("C2", "C21", "C", "NOPE"):
        with pytest.raises(InputError):
            page(Filters(area_code=outside), DISTRICT_C1, 0, 10, now=now)


ORDERS = {",".join(f"{e['colId']}-{e['sort']}" for e in sort): (sort, sort)
          for sort in ([{"colId": column, "sort": direction}] for column in SORTABLE for direction in ("asc", "desc"))}
ORDERS.update({
    "status-asc,due_at-desc": ([{"colId": "status", "sort": "asc"}, {"colId": "due_at", "sort": "desc"}],) * 2,
    "severity-desc,grid_code-asc,reported_at-asc": ([{"colId": "severity", "sort": "desc"}, {"colId": "grid_code", "sort": "asc"},
                                                     {"colId": "reported_at", "sort": "asc"}],) * 2,
    # upper case is understood, and a column sorted twice keeps its first direction
    "category-DESC,category-asc": ([{"colId": "category", "sort": "DESC"}, {"colId": "category", "sort": "asc"}],
                                   [{"colId": "category", "sort": "desc"}]),
    "default": ([], [{"colId": "reported_at", "sort": "desc"}]),
})


@pytest.mark.parametrize("sort, meaning", ORDERS.values(), ids=list(ORDERS))
def test_consecutive_pages_of_every_order_are_the_whole_ordered_list_without_overlap_or_gap(table, sort, meaning):
    records, now = table
    size = 437  # not a divisor of the row count, so the last page is short
    rows, first = _all_rows(Filters(), EVERYTHING, size=size, sort=sort, now=now)
    assert first.total == len(records) and len(first.rows) == size
    assert _ids(rows) == _ids(_shown(r, now) for r in _python_order(records, meaning))
    assert len(set(_ids(rows))) == len(rows)


@pytest.mark.parametrize("column", [c for c, nullable in SORTABLE.items() if nullable])
def test_pages_of_a_filtered_view_meet_exactly_and_nulls_come_last_both_ways(table, column):
    records, now = table
    filters = Filters(statuses=("reported", "dispatched", "handling"))
    expected = _matching(records, statuses=filters.statuses)
    for direction in ("asc", "desc"):
        sort = [{"colId": column, "sort": direction}]
        rows, _ = _all_rows(filters, EVERYTHING, size=97, sort=sort, now=now)
        assert _ids(rows) == _ids(_shown(r, now) for r in _python_order(expected, sort))
        nulls = [r[column] is None for r in rows]
        assert any(nulls) and nulls == sorted(nulls)  # every null after every value


def test_the_count_comes_with_the_first_page_only(table):
    records, now = table
    first = page(Filters(), EVERYTHING, 0, 50, now=now)
    assert (first.total, first.total_capped, len(first.rows)) == (len(records), False, 50)
    later = page(Filters(), EVERYTHING, 50, 100, now=now)
    assert (later.total, later.total_capped, len(later.rows)) == (None, False, 50)
    empty = page(Filters(), EVERYTHING, 0, 0, now=now)
    assert (empty.rows, empty.total) == ([], len(records))
    last = page(Filters(), EVERYTHING, len(records) - 3, len(records) + 100, now=now)
    assert len(last.rows) == 3 and last.total is None
    assert page(Filters(), EVERYTHING, MAX_OFFSET, MAX_OFFSET + MAX_PAGE, now=now).rows == []


@pytest.mark.parametrize("in_view", [True, False], ids=["in a box", "anywhere"])
def test_the_count_stops_at_the_cap_and_says_so(table, monkeypatch, in_view):
    records, now = table
    filters = Filters(bbox=(120.137, 30.061, 120.284, 30.293) if in_view else WHOLE_WORLD, categories=("dispute",))
    n = len(_matching(records, filters.bbox, categories=filters.categories))
    assert n > 12
    monkeypatch.setattr(incidents, "COUNT_CAP", n + 1)
    exact = page(filters, EVERYTHING, 0, 5, now=now)
    assert (exact.total, exact.total_capped) == (n, False)
    monkeypatch.setattr(incidents, "COUNT_CAP", n)
    capped = page(filters, EVERYTHING, 0, 5, now=now)
    assert (capped.total, capped.total_capped) == (n - 1, True)
    monkeypatch.setattr(incidents, "COUNT_CAP", 11)
    capped = page(filters, EVERYTHING, 0, 20, now=now)
    assert (capped.total, capped.total_capped, len(capped.rows)) == (10, True, 20)  # the cap limits the count, not the rows


@pytest.mark.parametrize("start, end", [
    (-1, 10), (0, -1), (10, 5), (0, MAX_PAGE + 1), (100, 101 + MAX_PAGE), (MAX_OFFSET + 1, MAX_OFFSET + 2),
    (0.0, 10), (0, 10.0), ("0", "10"), (None, 10), (0, None), (True, 10), (0, True), (False, False),
])
def test_ranges_the_table_never_asks_for_are_refused(table, start, end):
    with pytest.raises(InputError, match="rows|page past"):
        page(Filters(), EVERYTHING, start, end, now=table[1])


def test_the_largest_and_deepest_ranges_allowed_are_answered(table):
    records, now = table
    assert len(page(Filters(), EVERYTHING, 0, MAX_PAGE, now=now).rows) == MAX_PAGE
    assert page(Filters(), EVERYTHING, MAX_OFFSET, MAX_OFFSET, now=now).rows == []


@pytest.mark.parametrize("sort", [
    [{"colId": "reported_at; DROP TABLE shiyu.incident", "sort": "asc"}],
    [{"colId": "description", "sort": "asc"}],
    [{"colId": "pii", "sort": "desc"}],
    [{"colId": "i.reported_at", "sort": "desc"}],
    [{"colId": "reported_at", "sort": "asc; DROP TABLE shiyu.incident"}],
    [{"colId": "reported_at", "sort": "up"}],
    [{"colId": "reported_at", "sort": None}],
    [{"colId": "reported_at"}],
    [{"sort": "asc"}],
    [{"colId": ["reported_at"], "sort": "asc"}],
    [{"colId": "reported_at", "sort": ["asc"]}],
    [{"colId": "reported_at", "sort": "asc"}, {"colId": "geom", "sort": "asc"}],
    ["reported_at"],
    "reported_at",
])
def test_unknown_sort_columns_and_directions_are_refused(table, sort, conn):
    with pytest.raises(InputError, match="sort"):
        page(Filters(), EVERYTHING, 0, 10, sort, now=table[1])
    assert conn.execute("SELECT count(*) FROM shiyu.incident").fetchone()[0] == len(table[0])


def test_reporters_are_masked_and_never_shown_whole(table):
    records, now = table
    rows, _ = _all_rows(Filters(), EVERYTHING, now=now)
    shown = {r["id"]: (r["reporter"], r["phone"]) for r in rows}
    assert shown["page:P00"] == ("张**", "138****1234")
    assert shown["page:P01"] == ("欧**", "139****5678")
    assert shown["page:P02"] == ("", "********4321")
    assert shown["page:P04"] == ("李*", "")
    assert shown["page:P08"] == ("王", "")
    assert shown["tiers:E0"] == ("", "")
    text = str(rows)
    for whole in ("张三丰", "13812341234", "欧阳修", "139-0000-5678", "13900005678", "87654321", "李四"):
        assert whole not in text


def test_overdue_is_true_exactly_for_open_rows_past_due_at_the_given_now(table):
    records, now = table
    for moment in (now, now - timedelta(days=3), now + timedelta(days=40)):
        rows, _ = _all_rows(Filters(), EVERYTHING, now=moment)
        expected = {_shown(r, moment)["id"] for r in records
                    if r["status"] not in CLOSED and r["due"] is not None and r["due"] < moment}
        assert {r["id"] for r in rows if r["overdue"]} == expected
        assert all(isinstance(r["overdue"], bool) for r in rows)
    overdue = {r["id"]: r["overdue"] for r in _all_rows(Filters(), EVERYTHING, now=now)[0]}
    assert overdue["page:P00"] and not overdue["page:P01"] and not overdue["page:P02"]
    assert not overdue["page:P04"] and not overdue["page:P07"]  # old and open, but without a due time
    assert not overdue["page:P09"]  # due this very second: not yet past it
    a_second_later = {r["id"]: r["overdue"] for r in _all_rows(Filters(), EVERYTHING, now=now + timedelta(seconds=1))[0]}
    assert a_second_later["page:P09"]
    naive = now.astimezone(BEIJING).replace(tzinfo=None) - timedelta(days=3)
    as_naive = {r["id"]: r["overdue"] for r in _all_rows(Filters(), EVERYTHING, now=naive)[0]}
    assert as_naive == {r["id"]: r["overdue"] for r in _all_rows(Filters(), EVERYTHING, now=now - timedelta(days=3))[0]}


def test_times_are_shown_at_beijings_offset_to_the_minute(table):
    records, now = table
    rows, _ = _all_rows(Filters(), EVERYTHING, now=now)
    by_id = {f"{r['source']}:{r['external_id']}": r for r in records}
    for row in rows:
        assert row["reported_at"].endswith("+08:00") and len(row["reported_at"]) == len("2026-10-01T08:30+08:00")
        reported = datetime.fromisoformat(row["reported_at"])
        assert reported == by_id[row["id"]]["reported"].replace(second=0)
        assert row["due_at"] is None or row["due_at"].endswith("+08:00")
    assert sum(r["due_at"] is None for r in rows) == 2


def test_descriptions_are_cut_to_the_shown_length_with_an_ellipsis(table):
    records, now = table
    shown = {r["id"]: r["description"] for r in _all_rows(Filters(), EVERYTHING, now=now)[0]}
    assert shown["page:P00"] == "甲" * DESCRIPTION_CHARS  # exactly the length: kept whole
    assert shown["page:P01"] == "乙" * (DESCRIPTION_CHARS - 1) + "…"
    assert len(shown["page:P01"]) == DESCRIPTION_CHARS
    assert shown["page:P02"] == LONG[:DESCRIPTION_CHARS - 1] + "…" and len(LONG) > 2 * DESCRIPTION_CHARS
    assert shown["page:P03"] == "路灯不亮" and shown["page:P05"] is None and shown["tiers:E0"] is None
    assert all(d is None or len(d) <= DESCRIPTION_CHARS for d in shown.values())
