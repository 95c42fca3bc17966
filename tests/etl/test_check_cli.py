"""``shiyu check coverage`` run as a user runs it, on areas loaded through the public loader."""

import json
import re

import pytest
from shapely.geometry import box

from etl.coverage import CHECKS
from etl.load import load_areas
from tests.helpers import shiyu

OWNER = {"owner_name": "王伟", "owner_phone": "13800000000"}
SKIPPED_PATROL = {"grids_not_patrolled": "no patrol pings are loaded"}


def load_tier(tmp_path, tier, features):
    """``features``: (properties, (lon_min, lat_min, lon_max, lat_max)) pairs, loaded as one file of ``tier``."""
    path = tmp_path / f"{tier}.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": props, "geometry": box(*bounds).__geo_interface__}
        for props, bounds in features]}, ensure_ascii=False), encoding="utf-8")
    summary = load_areas(path, tier=tier)
    assert (summary.read, summary.loaded, summary.rejected) == (len(features), len(features), 0)
    assert summary.read == summary.loaded + summary.updated + summary.unchanged + summary.rejected


def geodesic_m2(conn, bounds):
    return conn.execute("SELECT ST_Area(ST_MakeEnvelope(%s, %s, %s, %s, 4326)::geography)", bounds).fetchone()[0]


@pytest.fixture
def clean(empty_db, tmp_path):
    """A street split into two communities, each split into two owned grids; parents found by containment."""
    load_tier(tmp_path, "street", [({"code": "S1", "name": "西溪街道"}, (120.00, 30.00, 120.02, 30.02))])
    load_tier(tmp_path, "community", [({"code": "C1", "name": "文新社区"}, (120.00, 30.00, 120.01, 30.02)),
                                      ({"code": "C2", "name": "古荡社区"}, (120.01, 30.00, 120.02, 30.02))])
    load_tier(tmp_path, "grid", [({"code": f"{c}G{j + 1}", "name": f"第{j + 1}网格", **OWNER}, (x, y, x + 0.01, y + 0.01))
                                 for c, x in (("C1", 120.00), ("C2", 120.01)) for j, y in enumerate((30.00, 30.01))])
    return empty_db


GAP = (120.014, 30.00, 120.016, 30.01)
OVERLAP = (120.007, 30.00, 120.008, 30.01)


@pytest.fixture
def flawed(empty_db, tmp_path):
    """One community, three grids: G1 and G2 overlap, a strip between G2 and G3 is nobody's, G3 has no owner."""
    load_tier(tmp_path, "community", [({"code": "C1", "name": "文新社区"}, (120.00, 30.00, 120.02, 30.01))])
    load_tier(tmp_path, "grid", [({"code": "G1", "name": "第1网格", **OWNER}, (120.000, 30.00, 120.008, 30.01)),
                                 ({"code": "G2", "name": "第2网格", **OWNER}, (120.007, 30.00, 120.014, 30.01)),
                                 ({"code": "G3", "name": "第3网格"}, (120.016, 30.00, 120.020, 30.01))])
    return empty_db


def test_clean_partition_exits_0_with_ok_true(clean, conn):
    assert conn.execute("SELECT code, parent_code FROM shiyu.area WHERE tier = 'grid' ORDER BY code").fetchall() == [
        ("C1G1", "C1"), ("C1G2", "C1"), ("C2G1", "C2"), ("C2G2", "C2")]

    result = shiyu("check", "coverage", "--json")

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is True
    assert report["counts"] == dict.fromkeys(CHECKS, 0)
    assert report["items"] == {check: [] for check in CHECKS}
    assert report["skipped"] == SKIPPED_PATROL


def test_gap_overlap_and_ownerless_grid_exit_1_with_their_counts(flawed, conn, tmp_path):
    out = tmp_path / "problems.geojson"

    result = shiyu("check", "coverage", "--json", "--out", str(out))

    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is False
    assert report["counts"] == {"gaps": 1, "overlaps": 1, "outside_parent": 0, "parent_missing": 0,
                                "grids_without_owner": 1, "grids_not_patrolled": 0}
    assert report["skipped"] == SKIPPED_PATROL
    items = report["items"]
    assert [i["codes"] for i in items["gaps"]] == [["C1"]]
    assert items["gaps"][0]["area_m2"] == pytest.approx(geodesic_m2(conn, GAP), rel=1e-3)
    assert [i["codes"] for i in items["overlaps"]] == [["G1", "G2"]]
    assert items["overlaps"][0]["area_m2"] == pytest.approx(geodesic_m2(conn, OVERLAP), rel=1e-3)
    assert [i["codes"] for i in items["grids_without_owner"]] == [["G3"]]

    collection = json.loads(out.read_text(encoding="utf-8"))
    assert collection["type"] == "FeatureCollection"
    features = collection["features"]
    assert [(f["properties"]["check"], f["properties"]["codes"]) for f in features] == [
        ("gaps", ["C1"]), ("overlaps", ["G1", "G2"]), ("grids_without_owner", ["G3"])]
    assert all(f["type"] == "Feature" and f["geometry"]["type"] in ("Polygon", "MultiPolygon") for f in features)
    assert features[2]["properties"]["area_m2"] == pytest.approx(geodesic_m2(conn, (120.016, 30.00, 120.020, 30.01)), rel=1e-3)


def test_text_output_names_each_problem_on_its_own_line(flawed, conn, tmp_path):
    out = tmp_path / "problems.geojson"

    result = shiyu("check", "coverage", "--out", str(out))

    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 6, result.stdout
    gap = re.fullmatch(r"gaps: gap of ([\d,]+) m² inside C1 文新社区 not covered by its grids "
                       r"\(around 120\.01[456]\d\d, 30\.0\d{4}\)", lines[0])
    assert gap, lines[0]
    assert abs(int(gap.group(1).replace(",", "")) - geodesic_m2(conn, GAP)) <= 1
    overlap = re.fullmatch(r"overlaps: G1 第1网格 and G2 第2网格 overlap by ([\d,]+) m²; redraw their shared border "
                           r"\(around 120\.00[78]\d\d, 30\.0\d{4}\)", lines[1])
    assert overlap, lines[1]
    assert abs(int(overlap.group(1).replace(",", "")) - geodesic_m2(conn, OVERLAP)) <= 1
    assert lines[2:] == [
        "grids_without_owner: grid G3 第3网格 has no owner name or phone; assign someone responsible for it",
        "grids_not_patrolled: skipped (no patrol pings are loaded)",
        "coverage problems: gaps 1, overlaps 1, outside_parent 0, parent_missing 0, grids_without_owner 1, grids_not_patrolled 0",
        f"problem geometries: {out}",
    ]
    assert len(json.loads(out.read_text(encoding="utf-8"))["features"]) == 3
