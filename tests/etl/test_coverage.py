import json
from datetime import datetime, timedelta, timezone

import pytest

from etl.coverage import CHECKS, check_coverage
from geodata.errors import InputError

OWNER = ("王伟", "13800000000")
NOW = datetime(2024, 5, 10, 12, 0, tzinfo=timezone(timedelta(hours=8)))

INSERT_AREA = """
INSERT INTO shiyu.area (code, tier, parent_code, path, name, owner_name, owner_phone, geom, area_m2)
SELECT %(code)s, %(tier)s, %(parent)s,
       text2ltree(COALESCE((SELECT path::text || '.' FROM shiyu.area WHERE code = %(parent)s), '') || %(code)s),
       %(name)s, %(owner_name)s, %(owner_phone)s, g, ST_Area(g::geography)
FROM (SELECT ST_Multi(ST_GeomFromText(%(wkt)s, 4326)) AS g) x
"""

INSERT_PING = """
INSERT INTO shiyu.patrol_ping (unit_id, ts, geom, h3_r10, grid_code, path)
SELECT %(unit)s, %(ts)s, ST_PointOnSurface(geom), 623194572870238207, code, path FROM shiyu.area WHERE code = %(grid)s
"""


def box(x0, y0, x1, y1):
    return f"POLYGON(({x0} {y0}, {x1} {y0}, {x1} {y1}, {x0} {y1}, {x0} {y0}))"


def add(conn, code, tier, wkt, *, parent=None, name=None, owner=OWNER):
    conn.execute(INSERT_AREA, {"code": code, "tier": tier, "parent": parent, "name": name or f"{code}名",
                               "owner_name": owner[0], "owner_phone": owner[1], "wkt": wkt})


def area_of(conn, wkt):
    return conn.execute("SELECT ST_Area(ST_GeomFromText(%s, 4326)::geography)", [wkt]).fetchone()[0]


def ping(conn, grid, ts, unit="P1"):
    conn.execute(INSERT_PING, {"unit": unit, "ts": ts, "grid": grid})


@pytest.fixture
def street_with_gap(empty_db, conn):
    """A street 0.01° square; three communities leave its north-east corner uncovered
    and a sub-tolerance sliver (1e-8° wide at one end) between C1 and C2."""
    add(conn, "S1", "street", box(120.00, 30.00, 120.01, 30.01), name="西溪街道")
    add(conn, "C1", "community", box(120.000, 30.000, 120.005, 30.010), parent="S1")
    add(conn, "C2", "community", "POLYGON((120.005 30.000, 120.010 30.000, 120.010 30.005, 120.00500001 30.005,"
                                 " 120.005 30.000))", parent="S1")
    add(conn, "C3", "community", "POLYGON((120.005 30.005, 120.010 30.005, 120.010 30.008, 120.008 30.008,"
                                 " 120.008 30.010, 120.005 30.010, 120.005 30.005))", parent="S1")
    return conn


def test_gap_inside_parent_is_measured_and_sliver_ignored(street_with_gap):
    conn = street_with_gap
    report = check_coverage(conn)
    expected = area_of(conn, box(120.008, 30.008, 120.010, 30.010))
    assert len(report.gaps) == 1
    gap = report.gaps[0]
    assert gap.codes == ("S1",) and gap.names == ("西溪街道",) and gap.tier == "street"
    assert abs(gap.area_m2 - expected) / expected < 1e-3
    assert 40_000 < expected < 46_000
    assert gap.message.startswith(f"gap of {expected:,.0f} m² inside S1 西溪街道 not covered by its communities")
    assert gap.geometry["type"] == "Polygon"
    lons = [x for x, _ in gap.geometry["coordinates"][0]]
    assert min(lons) == pytest.approx(120.008) and max(lons) == pytest.approx(120.010)
    assert report.counts == {"gaps": 1, "overlaps": 0, "outside_parent": 0, "parent_missing": 0,
                             "grids_without_owner": 0, "grids_not_patrolled": 0}
    assert report.ok is False


def test_sliver_is_real_and_reported_only_under_a_smaller_tolerance(street_with_gap):
    fine = check_coverage(street_with_gap, tolerance_m2=0.01)
    sliver = [g for g in fine.gaps if g.area_m2 < 1.0]
    assert len(fine.gaps) == 2 and len(sliver) == 1
    # half of 1e-8° of longitude (~0.96 mm at 30°N) times 0.005° of latitude (~554 m)
    assert 0.2 < sliver[0].area_m2 < 0.35
    assert sliver[0].message.startswith("gap of 0.")


def test_overlapping_siblings_report_both_codes_and_the_overlap_area(empty_db, conn):
    add(conn, "S1", "street", box(120.00, 30.00, 120.01, 30.01))
    add(conn, "A", "community", box(120.000, 30.000, 120.006, 30.010), parent="S1", name="文一社区")
    add(conn, "B", "community", box(120.004, 30.000, 120.010, 30.010), parent="S1", name="文二社区")
    # G is A's grid and overlaps B, but they are not siblings: not an overlap to report.
    add(conn, "G", "grid", box(120.000, 30.000, 120.006, 30.010), parent="A")
    report = check_coverage(conn)
    expected = area_of(conn, box(120.004, 30.000, 120.006, 30.010))
    assert [o.codes for o in report.overlaps] == [("A", "B")]
    overlap = report.overlaps[0]
    assert abs(overlap.area_m2 - expected) / expected < 1e-3
    assert overlap.names == ("文一社区", "文二社区") and overlap.tier == "community"
    assert overlap.message.startswith(f"A 文一社区 and B 文二社区 overlap by {expected:,.0f} m²")
    assert report.gaps == [] and report.outside_parent == []


def test_top_level_districts_report_enclosed_hole_and_overlap_but_not_an_open_bay(empty_db, conn):
    # Four districts ring a hole 0.01° square; D5 overlaps D1 by a 0.001° strip. No city is loaded.
    add(conn, "D1", "district", box(120.00, 30.00, 120.01, 30.03))
    add(conn, "D2", "district", box(120.02, 30.00, 120.03, 30.03))
    add(conn, "D3", "district", box(120.01, 30.00, 120.02, 30.01))
    add(conn, "D4", "district", box(120.01, 30.02, 120.02, 30.03))
    add(conn, "D5", "district", box(119.99, 30.00, 120.001, 30.02))
    # D6 has a bay open to the east: concave, but no hole.
    add(conn, "D6", "district", "POLYGON((120.03 30.00, 120.05 30.00, 120.05 30.01, 120.04 30.01, 120.04 30.02,"
                                " 120.05 30.02, 120.05 30.03, 120.03 30.03, 120.03 30.00))")
    report = check_coverage(conn)
    hole = area_of(conn, box(120.01, 30.01, 120.02, 30.02))
    assert len(report.gaps) == 1
    gap = report.gaps[0]
    assert gap.codes == ("D1", "D2", "D3", "D4") and gap.tier == "district"
    assert abs(gap.area_m2 - hole) / hole < 1e-3
    assert gap.message.startswith(f"gap of {hole:,.0f} m² between districts D1 D1名, D2 D2名, D3 D3名, D4 D4名")
    strip = area_of(conn, box(120.00, 30.00, 120.001, 30.02))
    assert [o.codes for o in report.overlaps] == [("D1", "D5")]
    assert abs(report.overlaps[0].area_m2 - strip) / strip < 1e-3
    assert report.parent_missing == []


def test_child_outside_its_parent_reports_the_part_and_its_share(empty_db, conn):
    add(conn, "S1", "street", box(120.00, 30.00, 120.01, 30.01), name="西溪街道")
    add(conn, "C1", "community", box(120.000, 30.000, 120.010, 30.005), parent="S1")
    add(conn, "C2", "community", box(120.000, 30.005, 120.012, 30.010), parent="S1", name="文新社区")
    report = check_coverage(conn)
    outside = area_of(conn, box(120.010, 30.005, 120.012, 30.010))
    whole = area_of(conn, box(120.000, 30.005, 120.012, 30.010))
    assert [p.codes for p in report.outside_parent] == [("C2", "S1")]
    item = report.outside_parent[0]
    assert abs(item.area_m2 - outside) / outside < 1e-3
    assert item.share == pytest.approx(outside / whole, rel=1e-3)
    assert item.share == pytest.approx(1 / 6, rel=1e-2)
    assert item.message == (f"C2 文新社区 extends {outside:,.0f} m² (16.7% of it) "
                            "outside its parent S1 西溪街道")
    assert report.gaps == [] and report.overlaps == []


def test_parent_code_naming_nothing_is_reported(empty_db, conn):
    add(conn, "S1", "street", box(120.00, 30.00, 120.01, 30.01))
    add(conn, "C1", "community", box(120.00, 30.00, 120.01, 30.01), parent="S1")
    add(conn, "C9", "community", box(120.02, 30.00, 120.03, 30.01), parent="NOPE", name="孤儿社区")
    report = check_coverage(conn)
    assert [p.codes for p in report.parent_missing] == [("C9", "NOPE")]
    assert report.parent_missing[0].message.startswith("C9 孤儿社区 names parent NOPE, which is not loaded")
    assert report.parent_missing[0].area_m2 == pytest.approx(area_of(conn, box(120.02, 30.00, 120.03, 30.01)))


def test_grids_without_owner_name_or_phone_are_reported(empty_db, conn):
    add(conn, "G1", "grid", box(120.000, 30.00, 120.001, 30.001))
    add(conn, "G2", "grid", box(120.001, 30.00, 120.002, 30.001), owner=(None, "13800000001"), name="第2网格")
    add(conn, "G3", "grid", box(120.002, 30.00, 120.003, 30.001), owner=("李娜", "  "))
    add(conn, "G4", "grid", box(120.003, 30.00, 120.004, 30.001), owner=("", None))
    add(conn, "C1", "community", box(120.01, 30.00, 120.02, 30.01), owner=(None, None))  # not a grid
    report = check_coverage(conn)
    assert [p.codes for p in report.grids_without_owner] == [("G2",), ("G3",), ("G4",)]
    messages = [p.message for p in report.grids_without_owner]
    assert messages[0] == "grid G2 第2网格 has no owner name; assign someone responsible for it"
    assert "has no owner phone" in messages[1] and "has no owner name or phone" in messages[2]


def test_grids_without_a_ping_in_the_window_are_reported(empty_db, conn):
    for i in range(3):
        add(conn, f"G{i + 1}", "grid", box(120 + i * 0.001, 30.00, 120.001 + i * 0.001, 30.001))
    ping(conn, "G1", NOW - timedelta(days=2))
    ping(conn, "G2", NOW - timedelta(days=8))
    ping(conn, "G3", NOW + timedelta(hours=1))  # after `now`: not in the window
    report = check_coverage(conn, now=NOW)
    assert [p.codes for p in report.grids_not_patrolled] == [("G2",), ("G3",)]
    assert report.grids_not_patrolled[0].message.startswith("grid G2 G2名 had no patrol in the 7 days up to 2024-05-")
    wider = check_coverage(conn, now=NOW, patrol_window_days=10)
    assert [p.codes for p in wider.grids_not_patrolled] == [("G3",)]
    assert report.skipped == {}


def test_patrol_check_is_skipped_when_no_pings_are_loaded(empty_db, conn):
    add(conn, "G1", "grid", box(120.000, 30.00, 120.001, 30.001))
    report = check_coverage(conn, now=NOW)
    assert report.grids_not_patrolled == []
    assert report.skipped == {"grids_not_patrolled": "no patrol pings are loaded"}
    assert report.ok is True


def test_clean_partition_is_ok_with_all_counts_zero(empty_db, conn):
    add(conn, "S1", "street", box(120.00, 30.00, 120.02, 30.02))
    add(conn, "C1", "community", box(120.00, 30.00, 120.01, 30.02), parent="S1")
    add(conn, "C2", "community", box(120.01, 30.00, 120.02, 30.02), parent="S1")
    for community, x in (("C1", 120.00), ("C2", 120.01)):
        for j, y in enumerate((30.00, 30.01)):
            code = f"{community}G{j + 1}"
            add(conn, code, "grid", box(x, y, x + 0.01, y + 0.01), parent=community)
            ping(conn, code, NOW - timedelta(hours=3), unit=code)
    report = check_coverage(conn, now=NOW)
    assert report.ok is True
    assert report.counts == dict.fromkeys(CHECKS, 0)
    assert report.skipped == {}
    assert report.problems_geojson() == {"type": "FeatureCollection", "features": []}


@pytest.fixture
def messy(empty_db, conn):
    """One gap, one overlap, one child outside its parent, one orphan, one ownerless grid, two unpatrolled grids."""
    add(conn, "S1", "street", box(120.00, 30.00, 120.02, 30.02))
    add(conn, "C1", "community", box(120.00, 30.00, 120.011, 30.02), parent="S1")  # overlaps C2 by 0.001°
    add(conn, "C2", "community", box(120.01, 30.00, 120.02, 30.015), parent="S1")  # leaves a gap to the north
    add(conn, "G1", "grid", box(120.00, 30.00, 120.011, 30.02), parent="C1")
    add(conn, "G2", "grid", box(120.01, 30.00, 120.021, 30.015), parent="C2", owner=(None, None))  # sticks out east
    add(conn, "X1", "community", box(120.03, 30.00, 120.04, 30.01), parent="GONE")
    ping(conn, "G1", NOW - timedelta(days=1))
    return conn


def test_as_json_has_counts_and_items_without_geometry(messy):
    report = check_coverage(messy, now=NOW)
    out = report.as_json()
    assert set(out) == {"ok", "checked_at", "tolerance_m2", "patrol_window_days", "counts", "skipped", "items"}
    assert out["ok"] is False and out["tolerance_m2"] == 1.0 and out["patrol_window_days"] == 7
    assert out["counts"] == {"gaps": 1, "overlaps": 1, "outside_parent": 1, "parent_missing": 1,
                             "grids_without_owner": 1, "grids_not_patrolled": 1}
    assert {check: len(items) for check, items in out["items"].items()} == out["counts"]
    assert out["items"]["overlaps"][0]["codes"] == ["C1", "C2"]
    assert out["items"]["outside_parent"][0]["codes"] == ["G2", "C2"]
    assert 0.05 < out["items"]["outside_parent"][0]["share"] < 0.1
    assert out["items"]["grids_not_patrolled"][0]["codes"] == ["G2"]
    assert all("geometry" not in item for items in out["items"].values() for item in items)
    assert datetime.fromisoformat(out["checked_at"]) == NOW
    json.dumps(out)


def test_problems_geojson_holds_every_problem_geometry(messy):
    report = check_coverage(messy, now=NOW)
    collection = report.problems_geojson()
    assert collection["type"] == "FeatureCollection"
    features = collection["features"]
    assert len(features) == sum(report.counts.values()) == 6
    assert [f["properties"]["check"] for f in features] == [
        "gaps", "overlaps", "outside_parent", "parent_missing", "grids_without_owner", "grids_not_patrolled"]
    for feature in features:
        assert set(feature["properties"]) == {"check", "codes", "area_m2", "message"}
        assert feature["geometry"]["type"] in ("Polygon", "MultiPolygon")
        assert feature["properties"]["area_m2"] > 1.0
    gap = features[0]["properties"]
    expected = area_of(messy, box(120.011, 30.015, 120.02, 30.02))
    assert gap["codes"] == ["S1"] and abs(gap["area_m2"] - expected) / expected < 1e-3
    json.dumps(collection, ensure_ascii=False)


def test_bad_arguments_are_input_errors(empty_db, conn):
    with pytest.raises(InputError):
        check_coverage(conn, tolerance_m2=-1)
    with pytest.raises(InputError):
        check_coverage(conn, patrol_window_days=0)
