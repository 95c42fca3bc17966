from collections import Counter
from dataclasses import replace
from datetime import timedelta

import h3
import numpy as np
import pytest

from geodata.errors import InputError
from geodata.scope import Scope
from geodata.taxonomy import CATEGORIES, TIERS
from layers.base import BEIJING, Filters
from layers.detail import area_chain, area_children, area_detail, cell_detail
from layers.hotspots import analyse
from layers.kpis import area_kpis
from tests.layers.tiers import CITY

EVERYTHING = Scope.everything()
DISTRICT_C1 = Scope("C.C1")
CLOSED = ("verified", "closed")


def _codes(areas):
    return [a["code"] for a in areas]


def _overdue_mask(written, now):
    sla = np.array([CATEGORIES[c].sla_hours for c in written["category"]])
    due = np.array([r + timedelta(hours=float(h)) for r, h in zip(written["reported"], sla)])
    return ~np.isin(written["status"], CLOSED) & (due < now)


def _inside(written, box):
    w, s, e, n = box
    return (written["lon"] > w) & (written["lon"] < e) & (written["lat"] > s) & (written["lat"] < n)


def test_the_cascade_starts_below_the_city_or_below_the_scope_and_lists_children_by_code(city):
    boxes, _, _ = city
    assert area_children(None, EVERYTHING) == [{"code": c, "name": f"区域{c}", "tier": "district"} for c in ("C1", "C2")]
    assert _codes(area_children("C", EVERYTHING)) == ["C1", "C2"]
    assert _codes(area_children("C12", EVERYTHING)) == ["C121", "C122"]
    assert area_children("C1111", EVERYTHING) == []
    # an officer of district C1 starts at its streets, and sees nothing of C2
    assert _codes(area_children(None, DISTRICT_C1)) == ["C11", "C12"]
    assert _codes(area_children("C", DISTRICT_C1)) == ["C1"]
    assert area_children("C2", DISTRICT_C1) == []
    assert {a["tier"] for a in area_children("C111", EVERYTHING)} == {"grid"}
    assert set(_codes(area_children("C111", EVERYTHING))) <= set(boxes["grid"])


def test_the_chain_of_a_grid_is_its_five_tiers_root_first_and_stops_at_the_scope(city):
    chain = area_chain("C1212", EVERYTHING)
    assert _codes(chain) == ["C", "C1", "C12", "C121", "C1212"]
    assert [a["tier"] for a in chain] == list(TIERS)
    assert chain[-1]["name"] == "区域C1212"
    assert _codes(area_chain("C1212", DISTRICT_C1)) == ["C1", "C12", "C121", "C1212"]
    with pytest.raises(InputError):
        area_chain("C2111", DISTRICT_C1)
    with pytest.raises(InputError):
        area_chain("C", DISTRICT_C1)
    with pytest.raises(InputError):
        area_chain("NOPE", EVERYTHING)


def test_area_detail_kpis_equal_area_kpis_and_a_recount_and_children_add_up(city, conn):
    boxes, written, now = city
    code, tier, path, area_m2 = conn.execute(
        "SELECT code, tier, path::text, area_m2 FROM shiyu.area WHERE code = 'C1'").fetchone()
    filters = Filters(bbox=CITY)
    detail = area_detail("C1", filters, EVERYTHING, now=now)
    expected = area_kpis([{"code": code, "tier": tier, "path": path, "area_m2": area_m2}],
                         replace(filters, area_code="C1"), EVERYTHING, now)["C1"]
    assert detail["kpis"] == expected
    inside = _inside(written, boxes["district"]["C1"])
    assert detail["kpis"]["incidents"] == inside.sum()
    assert detail["kpis"]["overdue"] == (inside & _overdue_mask(written, now)).sum()
    assert (detail["code"], detail["name"], detail["tier"], detail["owner_name"]) == ("C1", "区域C1", "district", "负责人C1")
    assert "owner_phone" in detail and detail["owner_phone"] is None  # the test city's owners have no phone
    assert _codes(detail["chain"]) == ["C", "C1"]
    assert detail["bbox"] == pytest.approx(boxes["district"]["C1"])
    children = detail["children"]
    assert sorted(_codes(children)) == ["C11", "C12"]
    assert [c["kpis"]["incidents"] for c in children] == sorted((c["kpis"]["incidents"] for c in children), reverse=True)
    for name in ("incidents", "resolved", "overdue"):
        assert sum(c["kpis"][name] for c in children) == detail["kpis"][name], name
    for child in children:
        assert child["kpis"]["incidents"] == _inside(written, boxes["street"][child["code"]]).sum()
    assert area_detail("C1111", filters, EVERYTHING, now=now)["children"] == []


OVERDUE_SQL = """
SELECT source || ':' || external_id, due_at FROM shiyu.incident
WHERE path <@ %s::ltree AND reported_at >= %s AND status <> ALL(%s) AND due_at < %s
  AND (cardinality(%s::text[]) = 0 OR category = ANY(%s::text[]))
ORDER BY due_at, source, external_id
"""


@pytest.mark.parametrize("days, categories", [(None, ()), (5, ()), (None, ("dispute", "fire_safety"))])
def test_the_overdue_list_agrees_with_a_direct_count_and_the_kpi_oldest_due_first(city, conn, days, categories):
    _, _, now = city
    since = None if days is None else now - timedelta(days=days)
    filters = Filters(bbox=CITY, since=since, categories=categories)
    detail = area_detail("C12", filters, EVERYTHING, now=now, overdue_limit=40)
    expected = conn.execute(OVERDUE_SQL, ("C.C1.C12", since or now - timedelta(days=30), list(CLOSED), now,
                                          list(categories), list(categories))).fetchall()
    assert len(expected) > 40
    assert detail["overdue_total"] == len(expected) == detail["kpis"]["overdue"]
    assert [i["id"] for i in detail["overdue"]] == [row[0] for row in expected[:40]]
    dues = [i["due_at"] for i in detail["overdue"]]
    assert dues == sorted(dues) and all(d < now for d in dues)
    for item in detail["overdue"]:
        assert item["hours_overdue"] == pytest.approx((now - item["due_at"]).total_seconds() / 3600, abs=0.05)
        assert item["status"] not in CLOSED and item["grid_code"].startswith("C12")
        assert item["grid_name"] == f"区域{item['grid_code']}"
        assert not categories or item["category"] in categories


def test_the_overdue_list_masks_the_reporter(city, conn):
    _, _, now = city
    first = area_detail("C21", Filters(bbox=CITY), EVERYTHING, now=now, overdue_limit=1)["overdue"][0]
    source, external_id = first["id"].split(":")
    conn.execute("""UPDATE shiyu.incident SET pii = '{"reporter_name": "张三丰", "reporter_phone": "13812341234"}'
                    WHERE source = %s AND external_id = %s""", (source, external_id))
    again = area_detail("C21", Filters(bbox=CITY), EVERYTHING, now=now, overdue_limit=1)["overdue"][0]
    assert again["id"] == first["id"]
    assert (again["reporter"], again["phone"]) == ("张**", "138****1234")
    assert "张三丰" not in str(again) and "13812341234" not in str(again)


def test_area_detail_refuses_areas_outside_the_scope(city):
    _, _, now = city
    for code in ("C2", "C21", "C2111", "C", "NOPE"):
        with pytest.raises(InputError):
            area_detail(code, Filters(bbox=CITY), DISTRICT_C1, now=now)
    # the filters' own area does not widen the scope
    with pytest.raises(InputError):
        area_detail("C2", Filters(bbox=CITY, area_code="C1"), DISTRICT_C1, now=now)
    assert area_detail("C11", Filters(bbox=CITY, area_code="C2"), DISTRICT_C1, now=now)["code"] == "C11"


def _busiest(written, res, mask=None):
    cells = np.array([h3.latlng_to_cell(la, lo, res) for la, lo in zip(written["lat"], written["lon"])])
    pool = cells if mask is None else cells[mask]
    return Counter(pool.tolist()).most_common(1)[0][0], cells


@pytest.mark.parametrize("res", [7, 8, 9, 10])
def test_cell_counts_and_trend_equal_a_recount_of_the_written_points_in_the_window(city, res):
    _, written, now = city
    since = now - timedelta(days=10)
    recent = np.array([r >= since for r in written["reported"]])
    cell, cells = _busiest(written, res, recent)
    detail = cell_detail(cell, Filters(bbox=CITY, res=8, since=since), EVERYTHING, now=now)
    mine = (cells == cell) & recent
    counts = detail["counts"]
    assert detail["h3"] == cell and detail["res"] == res
    assert counts["total"] == mine.sum() > 0
    assert counts["by_category"] == dict(Counter(written["category"][mine].tolist()))
    assert counts["by_status"] == dict(Counter(written["status"][mine].tolist()))
    assert counts["overdue"] == (mine & _overdue_mask(written, now)).sum()
    days = [day for day, _ in detail["trend"]]
    assert days[0] == since.astimezone(BEIJING).date() and days[-1] == now.date() and len(set(days)) == len(days)
    assert days == [days[0] + timedelta(days=k) for k in range(len(days))]
    assert sum(n for _, n in detail["trend"]) == counts["total"]
    by_day = Counter(r.astimezone(BEIJING).date() for r in written["reported"][mine])
    assert {day: n for day, n in detail["trend"] if n} == dict(by_day)
    lat, lon = h3.cell_to_latlng(cell)
    assert detail["centre"] == pytest.approx([lon, lat])


def test_cell_counts_default_to_the_last_30_days(city):
    _, written, now = city
    cell, cells = _busiest(written, 8)
    detail = cell_detail(cell, Filters(bbox=CITY), EVERYTHING, now=now)
    assert detail["counts"]["total"] == (cells == cell).sum()  # the fixture wrote everything in the last 30 days
    assert len(detail["trend"]) == 31 and sum(n for _, n in detail["trend"]) == detail["counts"]["total"]


@pytest.mark.parametrize("res", [8, 9])
def test_cell_gi_is_the_hotspots_analysis_row_of_that_cell(city, res):
    _, written, now = city
    cell, _ = _busiest(written, res)
    filters = Filters(bbox=CITY, res=7)
    detail = cell_detail(cell, filters, EVERYTHING, now=now)
    analysis = analyse(replace(filters, res=res), EVERYTHING)
    i = int(np.flatnonzero(analysis.cells == h3.str_to_int(cell))[0])
    assert detail["gi"]["z"] == pytest.approx(analysis.z[i])
    assert detail["gi"]["p"] == pytest.approx(analysis.p[i])
    assert detail["gi"]["p_fdr"] == pytest.approx(analysis.p_fdr[i])
    assert detail["gi"]["class"] == analysis.classes[i]
    assert detail["accountable"]["code"] == analysis.grid_codes[i]


def test_a_cell_outside_the_study_area_has_no_gi_no_grids_and_no_incidents(city):
    _, _, now = city
    detail = cell_detail(h3.latlng_to_cell(31.0, 121.0, 8), Filters(bbox=CITY), EVERYTHING, now=now)
    assert detail["gi"] is None and detail["grids"] == [] and detail["accountable"] is None
    assert detail["counts"] == {"total": 0, "overdue": 0, "by_category": {}, "by_status": {}}
    assert all(n == 0 for _, n in detail["trend"])
    # a cell of the city outside the view is not in the map's study area either
    inside = h3.latlng_to_cell(30.35, 120.35, 8)
    assert cell_detail(inside, Filters(bbox=(120.0, 30.0, 120.1, 30.1)), EVERYTHING, now=now)["gi"] is None


AREA_CELL_SQL = "SELECT code, share FROM shiyu.area_cell WHERE res = %s AND cell = %s ORDER BY share DESC, code"


@pytest.mark.parametrize("res", [7, 8, 10])
def test_the_accountable_grid_holds_the_largest_share_of_the_cell(city, conn, res):
    _, _, now = city
    cell = h3.latlng_to_cell(30.1, 120.1, res)  # the corner of four grids
    detail = cell_detail(cell, Filters(bbox=CITY), EVERYTHING, now=now)
    expected = conn.execute(AREA_CELL_SQL, (res, h3.str_to_int(cell))).fetchall()
    assert len(expected) >= 2
    assert [(g["code"], g["share"]) for g in detail["grids"]] == [(c, pytest.approx(s, abs=1e-4)) for c, s in expected]
    assert detail["accountable"] == detail["grids"][0]
    assert detail["accountable"]["code"] == expected[0][0]
    assert all(g["owner_name"] == f"负责人{g['code']}" and g["name"] == f"区域{g['code']}" for g in detail["grids"])


def test_cell_detail_keeps_to_the_scope(city, conn):
    boxes, written, now = city
    corner = h3.latlng_to_cell(30.1, 120.2, 8)  # on the line between the districts C1 and C2
    grids = {c for c, _ in conn.execute(AREA_CELL_SQL, (8, h3.str_to_int(corner))).fetchall()}
    assert {g[:2] for g in grids} == {"C1", "C2"}
    scoped = cell_detail(corner, Filters(bbox=CITY), DISTRICT_C1, now=now)
    assert {g["code"] for g in scoped["grids"]} == {g for g in grids if g.startswith("C1")}
    cell, cells = _busiest(written, 8, _inside(written, boxes["district"]["C2"]))
    outside = cell_detail(cell, Filters(bbox=CITY), DISTRICT_C1, now=now)
    assert outside["counts"]["total"] == 0 and outside["grids"] == [] and outside["gi"] is None
    assert cell_detail(cell, Filters(bbox=CITY), EVERYTHING, now=now)["counts"]["total"] == (cells == cell).sum()
    with pytest.raises(InputError):
        cell_detail(cell, Filters(bbox=CITY, area_code="C2"), DISTRICT_C1, now=now)


@pytest.mark.parametrize("bad", ["", "zz", "not-a-cell", "ffffffffffffffff", "8830e1d8a3fffff0", None, 613349494288809983,
                                 h3.latlng_to_cell(30.1, 120.1, 6), h3.latlng_to_cell(30.1, 120.1, 11)])
def test_malformed_cells_and_resolutions_outside_r7_to_r10_are_refused(city, bad):
    with pytest.raises(InputError):
        cell_detail(bad, Filters(bbox=CITY), EVERYTHING, now=city[2])


def test_an_areas_overdue_incidents_can_be_found_grid_by_grid_in_the_open_incidents_index(city, conn):
    """Through the due-time index alone a street's list walked every open incident of the city due in the window
    (0.46 s at 10M); its grids make the (grid_code, due_at) index usable. The test city is too small for the
    planner to prefer any plan, so the other indexes are dropped in a transaction that is rolled back: the grids
    must then be the index's condition."""
    from geodata.taxonomy import CLOSED_STATUSES
    from layers import detail
    from layers.base import in_scope_grids, incident_params

    _, _, now = city
    params = {**incident_params(Filters(area_code="C11", since=now - timedelta(days=30)), Scope.everything()),
              "closed": list(CLOSED_STATUSES), "now": now, "limit": 20, "due_by": None}
    assert params["scope"] == "C.C1.C11"
    narrowed = in_scope_grids(detail.OVERDUE_LIST, params)
    with conn.transaction(force_rollback=True):
        others = [name for (name,) in conn.execute(
            "SELECT i.relname FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
            "WHERE x.indrelid = 'shiyu.incident'::regclass AND NOT x.indisprimary AND i.relname <> 'incident_open_grid_idx'")]
        for name in others:
            conn.execute(f"DROP INDEX shiyu.{name}")
        conn.execute("SET LOCAL enable_seqscan = off")
        plan = "\n".join(r[0] for r in conn.execute("EXPLAIN " + narrowed, params))
    assert "incident_open_idx" in others and "incident_open_grid_idx" in plan, plan
    assert "Index Cond: ((grid_code = ANY" in plan, plan
    assert "grid_code = ANY" not in in_scope_grids(detail.OVERDUE_LIST, {**params, "scope": None})


def test_without_a_city_the_cascade_starts_at_the_highest_tier_and_owner_phones_are_shown(empty_db, tmp_path):
    # Runs last: it empties the database the module's city lives in.
    import json

    from etl.load import load_areas

    features = [{"type": "Feature",
                 "properties": {"code": code, "name": f"区{code}", "owner_name": "王五", "owner_phone": "13912345678"},
                 "geometry": {"type": "Polygon", "coordinates": [[[w, 30.0], [w + 0.1, 30.0], [w + 0.1, 30.1], [w, 30.1], [w, 30.0]]]}}
                for code, w in (("D2", 120.1), ("D1", 120.0))]
    path = tmp_path / "districts.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8")
    load_areas(path, tier="district", source="detail")
    assert _codes(area_children(None, EVERYTHING)) == ["D1", "D2"]
    assert _codes(area_children(None, Scope("D1"))) == []  # the scope's own area is descended from; it has no children
    detail = area_detail("D1", Filters(), EVERYTHING)
    assert (detail["owner_name"], detail["owner_phone"]) == ("王五", "13912345678")
    assert detail["kpis"]["incidents"] == 0 and detail["overdue"] == [] and detail["overdue_total"] == 0
    assert _codes(detail["chain"]) == ["D1"]


