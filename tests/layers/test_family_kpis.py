"""An area's KPIs and its children's read as one family (``kpis.family_kpis``, the area panel's) equal each
area's own KPIs and a recount of the raw incidents, with the parent exactly the sum of its children."""

from datetime import datetime, time, timedelta

import pytest
from psycopg.rows import dict_row

from geodata import db
from geodata.scope import Scope
from layers import detail, kpis, street_kpis
from layers.base import BEIJING, Filters
from tests.layers.tiers import CITY

EVERYTHING = Scope.everything()
CLOSED = ["verified", "closed"]
# A city and its districts, a district and its streets (both from the street roll-up), a street and its communities,
# a community and its grids (both from the day cube).
PARENTS = ("C", "C1", "C12", "C121")

RECOUNT = """
SELECT count(*) AS incidents, count(*) FILTER (WHERE status = ANY(%(closed)s)) AS resolved,
       count(*) FILTER (WHERE status <> ALL(%(closed)s) AND due_at < %(now)s) AS overdue,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM resolved_at - reported_at) / 3600)
           FILTER (WHERE resolved_at IS NOT NULL) AS median_hours
FROM shiyu.incident
WHERE path <@ %(path)s::ltree AND reported_at >= %(since)s AND reported_at < %(until)s
  AND (cardinality(%(categories)s::text[]) = 0 OR category = ANY(%(categories)s::text[]))
  AND (cardinality(%(statuses)s::text[]) = 0 OR status = ANY(%(statuses)s::text[]))
"""


def _family(conn, code):
    columns = "code, tier, path::text AS path, area_m2"
    cursor = conn.cursor(row_factory=dict_row)
    area = cursor.execute(f"SELECT {columns} FROM shiyu.area WHERE code = %s", (code,)).fetchone()
    children = cursor.execute(f"SELECT {columns} FROM shiyu.area WHERE parent_code = %s ORDER BY code", (code,)).fetchall()
    return area, children


def _windows(now):
    midnight = datetime.combine(now.date(), time(0), BEIJING)
    return {
        "default": {},
        "until mid-day": {"until": now - timedelta(days=3, hours=5, minutes=7)},
        "long part-days": {"since": midnight - timedelta(days=12, hours=-2), "until": midnight - timedelta(days=2, hours=-20)},
    }


@pytest.mark.parametrize("window", ["default", "until mid-day", "long part-days"])
@pytest.mark.parametrize("extra", [{}, {"categories": ("dispute", "fire_safety")}, {"statuses": ("reported", "closed")}])
def test_a_family_equals_each_areas_own_kpis_and_a_recount_and_the_parent_is_the_sum(city, conn, window, extra):
    _, _, now = city
    for code in PARENTS:
        area, children = _family(conn, code)
        filters = Filters(bbox=CITY, area_code=code, **_windows(now)[window], **extra)
        family = kpis.family_kpis(area, children, filters, EVERYTHING, now)
        one_by_one = kpis.area_kpis([area], filters, EVERYTHING, now) | kpis.area_kpis(children, filters, EVERYTHING, now)
        assert family == one_by_one, (code, window, extra)
        parent = family[code]
        for name in ("incidents", "resolved", "overdue"):
            assert parent[name] == sum(family[c["code"]][name] for c in children), (code, name)
        windowed = kpis.kpi_window(filters, now)
        for member in (area, *children):
            expected = conn.execute(RECOUNT, {
                "closed": CLOSED, "now": now, "path": member["path"], "since": windowed.since,
                "until": windowed.until or now + timedelta(days=1), "categories": list(filters.categories),
                "statuses": list(filters.statuses)}).fetchone()
            got = family[member["code"]]
            assert (got["incidents"], got["resolved"], got["overdue"]) == expected[:3], (member["code"], window, extra)
            median = None if expected[3] is None else round(float(expected[3]), 2)  # as the KPIs round it
            assert got["median_hours"] == median, (member["code"], window, extra)
        if window == "default" and not extra:
            assert parent["incidents"] > 0 and parent["overdue"] > 0 and parent["median_hours"] is not None


def test_a_family_under_row_security_equals_each_areas_own_kpis(city, conn):
    _, _, now = city
    area, children = _family(conn, "C1")
    filters = Filters(bbox=CITY, area_code="C1")
    with db.scoped(Scope("C.C1")):
        family = kpis.family_kpis(area, children, filters, Scope("C.C1"), now)
        one_by_one = (kpis.area_kpis([area], filters, Scope("C.C1"), now)
                      | kpis.area_kpis(children, filters, Scope("C.C1"), now))
    assert family == one_by_one and family["C1"]["incidents"] > 0


def test_a_district_and_its_streets_read_the_street_roll_up_and_count_the_overdue_once(city, conn, monkeypatch):
    """The parent's counts are added up from its children's rows and its median found in their pooled buckets,
    rather than each tier read in a pass of its own."""
    _, _, now = city
    sent = []
    fetch_all = kpis.fetch_all

    def counted(query, params=None):
        sent.append(query)
        return fetch_all(query, params)
    monkeypatch.setattr(kpis, "fetch_all", counted)
    monkeypatch.setattr(street_kpis, "fetch_all", counted)
    area, children = _family(conn, "C1")
    family = kpis.family_kpis(area, children, Filters(bbox=CITY, area_code="C1"), EVERYTHING, now)
    assert sent.count(street_kpis.KPIS_BY_STREET_DAY) == 1 and sent.count(street_kpis.STREET_HOURS_BETWEEN) == 1
    assert sum(str(q).startswith(kpis.OVERDUE_BY_GRID.split("<grids>")[0]) for q in sent) == 1
    assert kpis.KPIS_BY_DAY not in sent and kpis.KPIS_BY_PATH not in sent
    assert family["C1"]["median_hours"] is not None


def test_a_family_without_children_is_the_areas_own_kpis(city, conn):
    _, _, now = city
    area, children = _family(conn, "C1211")
    assert children == []
    filters = Filters(bbox=CITY, area_code="C1211")
    assert kpis.family_kpis(area, [], filters, EVERYTHING, now) == kpis.area_kpis([area], filters, EVERYTHING, now)


OVERDUE_SQL = """
SELECT source || ':' || external_id FROM shiyu.incident
WHERE path <@ %s::ltree AND reported_at >= %s AND status <> ALL(%s) AND due_at < %s
ORDER BY due_at, source, external_id
"""


@pytest.mark.parametrize("code", ["C", "C1", "C12", "C1211"])
def test_the_overdue_list_bounded_by_the_due_time_of_its_last_row_is_the_first_of_them_all(city, conn, code):
    _, _, now = city
    expected = [r[0] for r in conn.execute(OVERDUE_SQL, (
        conn.execute("SELECT path::text FROM shiyu.area WHERE code = %s", (code,)).fetchone()[0],
        now - timedelta(days=30), CLOSED, now)).fetchall()]
    assert expected
    for limit in (1, 7, len(expected) - 1, len(expected), len(expected) + 5):
        found = detail.area_detail(code, Filters(bbox=CITY), EVERYTHING, now=now, overdue_limit=limit)
        assert found["overdue_total"] == len(expected)
        assert [i["id"] for i in found["overdue"]] == expected[:max(limit, 0)][:detail.MAX_OVERDUE], (code, limit)


def _plan(conn, query, params, keep):
    """EXPLAIN of ``query`` with every index of the incidents but ``keep`` dropped (rolled back), and neither seq
    scans, bitmaps nor sorts unless nothing else answers: what ``keep`` can do, whatever the test city's numbers."""
    with conn.transaction(force_rollback=True):
        others = [name for (name,) in conn.execute(
            "SELECT i.relname FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
            "WHERE x.indrelid = 'shiyu.incident'::regclass AND NOT x.indisprimary AND i.relname <> %s", (keep,))]
        for name in others:
            conn.execute(f"DROP INDEX shiyu.{name}")
        for method in ("seqscan", "bitmapscan", "sort"):
            conn.execute(f"SET LOCAL enable_{method} = off")
        return "\n".join(r[0] for r in conn.execute("EXPLAIN " + query, params))


def test_the_due_time_of_the_lists_last_row_is_read_in_order_from_the_open_incidents_index(city, conn):
    """The oldest due come first in the due-time index (0009), with the filters' columns beside them, so the
    bound is found by walking it from the window's start, without sorting and without the incidents' rows."""
    from layers.base import incident_params

    _, _, now = city
    params = {**incident_params(Filters(area_code="C11", since=now - timedelta(days=30)), EVERYTHING),
              "closed": CLOSED, "now": now, "limit": 50}
    plan = _plan(conn, detail.OVERDUE_DUE_BY, params, "incident_open_idx")
    assert "Index Only Scan using incident_open_idx" in plan and "Sort" not in plan, plan


def test_the_chain_looks_its_areas_up_by_code_under_row_security(city):
    """Under row-level security ltree's operators (not leakproof) cannot be an index condition: the chain is found
    through the area key, one lookup per label of the path."""
    with db.scoped(Scope("C.C1")), db.pooled() as conn:
        conn.execute("SET LOCAL enable_seqscan = off")
        plan = "\n".join(r[0] for r in conn.execute(
            "EXPLAIN " + detail.CHAIN, {"code": "C1212", "scope": "C.C1"}))
    assert plan.count("Index Scan using area_pkey") == 2 and "Seq Scan" not in plan, plan
    with db.scoped(Scope("C.C1")):
        assert [a["code"] for a in detail.area_chain("C1212", Scope("C.C1"))] == ["C1", "C12", "C121", "C1212"]
