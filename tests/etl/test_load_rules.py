"""The rules a load applies: timestamps, dates out of range, categories, extents, duplicates, refusals, parents."""

import json
from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest
from shapely.geometry import box

from etl.load import load_areas, load_incidents
from tests.helpers import shiyu, write_csv

UTC = timezone.utc
HEADER = ("id", "category", "reported_at", "lon", "lat")
NOW = pd.Timestamp("2024-06-01 12:00", tz="Asia/Shanghai")
MAY_DAY = "2024-05-01 08:00:00"  # Beijing time, 2024-05-01 00:00 UTC
EXTENT_TEXT = "the loaded areas' extent (lon 120.080 to 120.220, lat 30.180 to 30.270)"  # the grids plus 0.02°




def write_areas(path, features):
    """``features``: (properties, (lon_min, lat_min, lon_max, lat_max)) pairs."""
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": props, "geometry": box(*bounds).__geo_interface__}
        for props, bounds in features]}, ensure_ascii=False), encoding="utf-8")
    return path


def good_rows(n, prefix="R", category="治安"):
    return [[f"{prefix}{i:02d}", category, MAY_DAY, f"{120.11 + i * 0.005:.3f}", "30.21"] for i in range(n)]


def counts(summary):
    return summary.read, summary.loaded, summary.updated, summary.unchanged, summary.rejected


def assert_balanced(summary):
    read, loaded, updated, unchanged, rejected = counts(summary) if not isinstance(summary, dict) else (
        summary["read"], summary["loaded"], summary["updated"], summary["unchanged"], summary["rejected"])
    assert read == loaded + updated + unchanged + rejected, summary


def stored_reasons(conn):
    return conn.execute("SELECT row_number, reason FROM shiyu.rejected_row ORDER BY row_number").fetchall()


@pytest.fixture
def city(empty_db, tmp_path):
    """Two grids sharing the edge lon = 120.15."""
    path = write_areas(tmp_path / "grids.geojson", [({"code": "G001", "name": "西格"}, (120.10, 30.20, 120.15, 30.25)),
                                                    ({"code": "G002", "name": "东格"}, (120.15, 30.20, 120.20, 30.25))])
    assert load_areas(path, tier="grid").loaded == 2
    return empty_db


def test_timestamp_layouts_store_the_expected_utc_instant(city, conn, tmp_path):
    layouts = {
        "ISO": ("2024-05-01 08:00:00", datetime(2024, 5, 1, 0, 0, tzinfo=UTC)),
        "SLASH": ("2024/5/1 8:00", datetime(2024, 5, 1, 0, 0, tzinfo=UTC)),
        "CHINESE": ("2024年5月1日 8时30分", datetime(2024, 5, 1, 0, 30, tzinfo=UTC)),
        "EXCEL": ("45413.5", datetime(2024, 5, 1, 4, 0, tzinfo=UTC)),  # noon, Beijing, on Excel day 45413
        "SECONDS": ("1714525200", datetime(2024, 5, 1, 1, 0, tzinfo=UTC)),
        "MILLIS": ("1714525200123", datetime(2024, 5, 1, 1, 0, 0, 123000, tzinfo=UTC)),
    }
    path = write_csv(tmp_path / "times.csv", [[key, "治安", text, "120.12", "30.21"] for key, (text, _) in layouts.items()])

    summary = load_incidents(path, now=NOW)

    assert counts(summary) == (6, 6, 0, 0, 0)
    assert_balanced(summary)
    got = dict(conn.execute("SELECT external_id, reported_at FROM shiyu.incident").fetchall())
    assert got == {key: instant for key, (_, instant) in layouts.items()}
    due = conn.execute("SELECT due_at - reported_at FROM shiyu.incident WHERE external_id = 'ISO'").fetchone()[0]
    assert due == timedelta(hours=24)  # public_order's SLA


def test_future_and_pre_2000_dates_are_rejected_with_their_reasons(city, conn, tmp_path):
    rows = good_rows(8)
    rows.insert(2, ["FUT", "治安", "2024-07-01 08:00:00", "120.12", "30.21"])
    rows.insert(5, ["OLD", "治安", "1999-12-31 23:30:00", "120.12", "30.21"])
    path = write_csv(tmp_path / "dates.csv", rows)

    summary = load_incidents(path, now=NOW, max_reject_ratio=0.2)

    assert counts(summary) == (10, 8, 0, 0, 2)
    assert_balanced(summary)
    assert stored_reasons(conn) == [(4, "reported_at 2024-07-01 08:00 is in the future"),
                                    (7, "reported_at 1999-12-31 23:30 is before 2000-01-01")]
    assert conn.execute("SELECT count(*) FROM shiyu.incident WHERE external_id IN ('FUT', 'OLD')").fetchone()[0] == 0


def test_unknown_category_is_rejected_unless_allow_other_stores_it_as_other(city, conn, tmp_path):
    rows = good_rows(9)
    rows.append(["UFO", "外星人入侵", MAY_DAY, "120.13", "30.22"])
    path = write_csv(tmp_path / "feed.csv", rows)

    strict = load_incidents(path)
    assert counts(strict) == (10, 9, 0, 0, 1)
    assert_balanced(strict)
    assert stored_reasons(conn) == [
        (11, "unknown category '外星人入侵'; use a taxonomy code or name, or load with --allow-other")]

    result = shiyu("load", "incidents", str(path), "--allow-other", "--json")
    assert result.returncode == 0, result.stderr
    lenient = json.loads(result.stdout)
    assert (lenient["read"], lenient["loaded"], lenient["updated"], lenient["unchanged"], lenient["rejected"]) == (10, 1, 0, 9, 0)
    assert_balanced(lenient)
    assert conn.execute("SELECT category FROM shiyu.incident WHERE external_id = 'UFO'").fetchone()[0] == "other"
    assert conn.execute("SELECT count(*) FROM shiyu.incident WHERE category = 'public_order'").fetchone()[0] == 9


def test_point_outside_the_loaded_areas_extent_is_rejected(city, conn, tmp_path):
    rows = good_rows(9)
    rows.append(["SH", "治安", MAY_DAY, "121.47", "31.23"])  # Shanghai: in China, not in this city
    path = write_csv(tmp_path / "feed.csv", rows)

    summary = load_incidents(path)

    assert counts(summary) == (10, 9, 0, 0, 1)
    assert_balanced(summary)
    assert stored_reasons(conn) == [(11, f"point (121.47, 31.23) is outside {EXTENT_TEXT}")]


def test_nan_and_empty_coordinates_are_rejected(city, conn, tmp_path):
    rows = good_rows(8)
    rows += [["NAN", "治安", MAY_DAY, "NaN", "30.21"], ["EMPTY", "治安", MAY_DAY, "", ""]]
    path = write_csv(tmp_path / "feed.csv", rows)

    summary = load_incidents(path, max_reject_ratio=0.2)

    assert counts(summary) == (10, 8, 0, 0, 2)
    assert_balanced(summary)
    assert stored_reasons(conn) == [(10, "coordinates (NaN, 30.21) are not numbers"),
                                    (11, "coordinates (, ) are not numbers")]


def test_duplicate_id_in_a_later_chunk_is_rejected_and_the_first_kept(city, conn, tmp_path):
    rows = good_rows(9, prefix="D")
    rows.insert(7, ["D01", "消防", "2024-05-02 08:00:00", "120.18", "30.24"])  # line 9, third chunk of three rows
    path = write_csv(tmp_path / "dups.csv", rows)

    summary = load_incidents(path, chunk_rows=3)

    assert counts(summary) == (10, 9, 0, 0, 1)
    assert_balanced(summary)
    assert stored_reasons(conn) == [(9, "duplicate id 'D01' (first at line 3)")]
    kept = conn.execute("SELECT category, reported_at, grid_code FROM shiyu.incident WHERE external_id = 'D01'").fetchone()
    assert kept == ("public_order", datetime(2024, 5, 1, 0, 0, tzinfo=UTC), "G001")
    rejects = pd.read_csv(summary.reject_file, dtype=str, encoding="utf-8-sig")
    assert rejects[["line", "reason", "id"]].values.tolist() == [["9", "duplicate id 'D01' (first at line 3)", "D01"]]


def test_reject_file_lands_beside_the_input_with_line_numbers(city, tmp_path):
    rows = good_rows(9)
    rows.insert(3, ["BAD", "治安", "昨天", "120.12", "30.21"])
    path = write_csv(tmp_path / "街道上报.csv", rows)

    summary = load_incidents(path)

    assert_balanced(summary)
    assert summary.reject_file == str(tmp_path / "街道上报.rejects.csv")
    rejects = pd.read_csv(tmp_path / "街道上报.rejects.csv", dtype=str, encoding="utf-8-sig")
    assert list(rejects.columns) == ["line", "reason", *HEADER]
    assert rejects.values.tolist() == [["5", "reported_at '昨天' is not a date/time; expected e.g. 2024-05-01 08:00:00",
                                        "BAD", "治安", "昨天", "120.12", "30.21"]]


def test_dry_run_writes_nothing_but_the_reject_file_and_reports_the_counts(city, conn, tmp_path):
    rows = good_rows(9)
    rows.append(["UFO", "外星人入侵", MAY_DAY, "120.13", "30.22"])
    path = write_csv(tmp_path / "trial.csv", rows)
    batches = conn.execute("SELECT count(*) FROM shiyu.load_batch").fetchone()[0]

    result = shiyu("load", "incidents", str(path), "--dry-run", "--json")

    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["status"], summary["batch_id"], summary["read"], summary["rejected"]) == ("dry-run", None, 10, 1)
    assert summary["reject_file"] == str(tmp_path / "trial.rejects.csv")
    assert pd.read_csv(summary["reject_file"], dtype=str, encoding="utf-8-sig")["line"].tolist() == ["11"]
    assert conn.execute("SELECT count(*) FROM shiyu.load_batch").fetchone()[0] == batches
    assert conn.execute("SELECT count(*) FROM shiyu.incident").fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM shiyu.rejected_row").fetchone()[0] == 0


@pytest.mark.parametrize("mode", ["dry-run", "refused"])
def test_summary_of_a_rolled_back_batch_keeps_read_equal_to_the_sum_of_its_outcomes(city, conn, tmp_path, mode):
    rows = good_rows(9)
    rows.append(["UFO", "外星人入侵", MAY_DAY, "120.13", "30.22"])
    path = write_csv(tmp_path / "trial.csv", rows)

    result = shiyu("load", "incidents", str(path), "--json",
                   *(["--dry-run"] if mode == "dry-run" else ["--max-reject-ratio", "0.05"]))

    assert result.returncode == (0 if mode == "dry-run" else 1), result.stderr
    summary = json.loads(result.stdout)
    assert (summary["status"], summary["read"], summary["rejected"]) == (mode, 10, 1)
    assert_balanced(summary)
    # A dry run counts what the load would do; a refused batch changed nothing.
    assert (summary["loaded"], summary["unchanged"]) == ((9, 0) if mode == "dry-run" else (0, 9))


def test_max_reject_ratio_refusal_exits_1_and_changes_nothing(city, conn, tmp_path):
    path = write_csv(tmp_path / "feed.csv", good_rows(5))
    first = load_incidents(path)
    assert counts(first) == (5, 5, 0, 0, 0)
    snapshot_sql = ("SELECT external_id, category, reported_at, batch_id, updated_at FROM shiyu.incident ORDER BY 1",
                    "SELECT id, source, status, read_count, loaded_count, finished_at FROM shiyu.load_batch ORDER BY 1",
                    "SELECT batch_id, row_number, reason FROM shiyu.rejected_row ORDER BY 1, 2")
    before = [conn.execute(q).fetchall() for q in snapshot_sql]

    rows = good_rows(5)
    rows[0][1] = "消防"  # would update R00
    rows += good_rows(2, prefix="N")  # would be new
    rows += [["X1", "没有这个类", MAY_DAY, "120.12", "30.21"], ["X2", "治安", "昨天", "120.12", "30.21"],
             ["X3", "治安", MAY_DAY, "121.47", "31.23"]]
    write_csv(path, rows)

    result = shiyu("load", "incidents", str(path), "--max-reject-ratio", "0.2")

    assert result.returncode == 1
    assert result.stderr == (f"shiyu: 3 of 10 rows rejected (30%, more than --max-reject-ratio 20%); nothing was loaded, "
                             f"see {tmp_path / 'feed.rejects.csv'}\n")
    assert [conn.execute(q).fetchall() for q in snapshot_sql] == before
    assert conn.execute("SELECT category FROM shiyu.incident WHERE external_id = 'R00'").fetchone()[0] == "public_order"


def test_areas_without_parent_code_take_the_community_that_contains_them(empty_db, conn, tmp_path):
    community = write_areas(tmp_path / "community.geojson", [({"code": "C1", "name": "文新社区"}, (120.10, 30.20, 120.12, 30.22))])
    first = load_areas(community, tier="community")
    assert counts(first) == (1, 1, 0, 0, 0)
    grids = write_areas(tmp_path / "grids.geojson", [
        ({"code": "G1", "name": "第1网格"}, (120.10, 30.20, 120.11, 30.21)),
        ({"code": "G2", "name": "第2网格"}, (120.11, 30.20, 120.12, 30.21)),
        ({"code": "G3", "name": "第3网格"}, (120.10, 30.215, 120.12, 30.225)),  # half of it north of the community
    ])

    summary = load_areas(grids, tier="grid")

    assert counts(summary) == (3, 3, 0, 0, 0)
    assert_balanced(summary)
    rows = conn.execute("SELECT code, parent_code, path::text FROM shiyu.area WHERE tier = 'grid' ORDER BY code").fetchall()
    assert rows == [("G1", "C1", "C1.G1"), ("G2", "C1", "C1.G2"), ("G3", "C1", "C1.G3")]
    assert summary.notes == ["G3 straddles its parent C1: 50% of it lies outside"]
