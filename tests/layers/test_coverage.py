"""Patrol coverage on four square grids, checked against h3 and shapely run on the test's own pings.

The grids (two communities of two grids each, 0.01° squares):

    C1:  G1 (a thin east-west strip patrolled) | G2 (almost all patrolled)
    C2:  G3 (patrolled only before the window) | G4 (the eastern 70 % patrolled)

Shares are compared within 6e-4: the layer rounds to 3 decimals (5e-4), stores
area shares as float4 and measures in another equal-area projection (both
well under 1e-5 on a 1 km grid).
"""

import json
from datetime import datetime, timedelta, timezone

import h3
import numpy as np
import pytest
import shapely
from pyproj import Transformer

from etl.load import load_areas, load_incidents, load_patrols
from geodata.scope import Scope
from layers import hotspots
from layers.base import Filters
from layers.coverage import DEFAULT_THRESHOLD, build
from tests.helpers import write_csv

BEIJING = timezone(timedelta(hours=8))
START = datetime(2026, 10, 5, tzinfo=BEIJING)
END = datetime(2026, 10, 12, tzinfo=BEIJING)
WINDOW = Filters(res=9, since=START, until=END)
NEGLIGIBLE = 1e-6  # overlaps at or below this part of both the cell and the grid are not apportioned (geodata.apportion)

GRIDS = {"G1": (120.10, 30.21), "G2": (120.11, 30.21), "G3": (120.10, 30.20), "G4": (120.11, 30.20)}  # south-west corners
COMMUNITIES = {"C1": (120.10, 30.21), "C2": (120.10, 30.20)}
TO_METRES = Transformer.from_crs("EPSG:4326", "EPSG:32651", always_xy=True).transform  # UTM 51N: Hangzhou's zone
CLUSTER_A = (120.105, 30.205)  # incidents in unpatrolled G3
CLUSTER_B = (120.115, 30.215)  # incidents in patrolled G2


def _square(lon: float, lat: float, width: float) -> list:
    return [[[lon, lat], [lon + width, lat], [lon + width, lat + 0.01], [lon, lat + 0.01], [lon, lat]]]


def _geojson(path, corners: dict, width: float):
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": code, "name": f"{code}网格", "owner_name": f"{code}负责人"},
         "geometry": {"type": "Polygon", "coordinates": _square(lon, lat, width)}}
        for code, (lon, lat) in corners.items()]}, ensure_ascii=False), encoding="utf-8")
    return path


def _lattice(unit: str, first: datetime, west: float, east: float, south: float, north: float, step: float = 0.0004):
    lons, lats = np.arange(west, east + 1e-9, step), np.arange(south, north + 1e-9, step)
    return [(unit, first + timedelta(seconds=30 * i), round(lon, 6), round(lat, 6))
            for i, (lon, lat) in enumerate((lon, lat) for lat in lats for lon in lons)]


PINGS = (
    _lattice("U1", datetime(2026, 10, 8, 10, 0, tzinfo=BEIJING), 120.1010, 120.1090, 30.215, 30.215)
    + _lattice("U2", datetime(2026, 10, 11, 8, 0, tzinfo=BEIJING), 120.1115, 120.1195, 30.2115, 30.2195)
    + _lattice("U4", datetime(2026, 10, 9, 14, 0, tzinfo=BEIJING), 120.1130, 120.1195, 30.2005, 30.2095)
    + [("U3", datetime(2026, 10, 4, 23, 30, tzinfo=BEIJING), 120.105, 30.205),  # 15:30 UTC on the 4th: before the window
       ("U1", END, 120.105, 30.219)]  # the window's end is not in it
)


@pytest.fixture
def city(empty_db, tmp_path):
    load_areas(_geojson(tmp_path / "communities.geojson", COMMUNITIES, 0.02), tier="community")
    load_areas(_geojson(tmp_path / "grids.geojson", GRIDS, 0.01), tier="grid")
    load_patrols(write_csv(tmp_path / "pings.csv", [(u, f"{t:%Y-%m-%d %H:%M:%S}", lon, lat) for u, t, lon, lat in PINGS],
                           header=("unit_id", "ts", "lon", "lat")))
    incidents = [(f"{name}{i}-{j}", "治安", "2026-10-07 12:00:00", round(lng, 6), round(lat, 6))
                 for name, (lon, lat) in (("A", CLUSTER_A), ("B", CLUSTER_B))
                 for i, cell in enumerate(h3.grid_disk(h3.latlng_to_cell(lat, lon, 9), 1))
                 for j, (lat, lng) in enumerate([h3.cell_to_latlng(cell)] * 10)]
    load_incidents(write_csv(tmp_path / "incidents.csv", incidents))


def _grid_polygon(code: str) -> shapely.Polygon:
    lon, lat = GRIDS[code]
    return shapely.transform(shapely.box(lon, lat, lon + 0.01, lat + 0.01), lambda xy: np.column_stack(TO_METRES(*xy.T)))


def _hexagon(cell: str) -> shapely.Polygon:
    ring = [TO_METRES(lng, lat) for lat, lng in h3.cell_to_boundary(cell)]
    return shapely.Polygon(ring)


def _overlaps(code: str, cells) -> dict[str, float]:
    """The part of the grid's area in each cell that overlaps it more than negligibly."""
    grid = _grid_polygon(code)
    parts = {}
    for cell in cells:
        hexagon = _hexagon(cell)
        overlap = grid.intersection(hexagon).area
        if overlap > NEGLIGIBLE * min(hexagon.area, grid.area):
            parts[cell] = overlap / grid.area
    return parts


def _visited(start: datetime, end: datetime) -> dict[str, datetime]:
    """r10 cell -> its latest ping in [start, end)."""
    last = {}
    for _, moment, lon, lat in PINGS:
        if start <= moment < end:
            cell = h3.latlng_to_cell(lat, lon, 10)
            last[cell] = max(last.get(cell, moment), moment)
    return last


def _expected(start: datetime, end: datetime) -> dict[str, dict]:
    visited = _visited(start, end)
    expected = {}
    for code, (lon, lat) in GRIDS.items():
        near = h3.h3shape_to_cells(h3.LatLngPoly([(lat - 0.002, lon - 0.002), (lat - 0.002, lon + 0.012),
                                                  (lat + 0.012, lon + 0.012), (lat + 0.012, lon - 0.002)]), 10)
        hit = _overlaps(code, visited)
        last = max((visited[c] for c in hit), default=None)
        expected[code] = {"share": sum(hit.values()), "visited_cells": len(hit), "cells": len(_overlaps(code, near)),
                          "last_visit": last, "hours": None if last is None else (end - last).total_seconds() / 3600}
    return expected


def _grids(result) -> dict[str, dict]:
    return {f["properties"]["grid_code"]: f["properties"] for f in result.features if f["properties"]["kind"] == "grid"}


def test_share_cells_and_last_visit_equal_h3_and_shapely_on_the_pings(city):
    got, expected = _grids(build(WINDOW, Scope.everything())), _expected(START, END)
    assert set(got) == set(GRIDS)
    for code, want in expected.items():
        assert got[code]["share"] == pytest.approx(want["share"], abs=6e-4), code
        assert (got[code]["visited_cells"], got[code]["cells"]) == (want["visited_cells"], want["cells"]), code
        if want["last_visit"] is None:
            assert got[code]["last_visit"] is None and got[code]["hours_since_visit"] is None, code
        else:
            assert datetime.fromisoformat(got[code]["last_visit"]) == want["last_visit"], code
            assert got[code]["hours_since_visit"] == pytest.approx(want["hours"], abs=0.05), code
    assert 0.05 < expected["G1"]["share"] < 0.3 and expected["G2"]["share"] > 0.6 and expected["G4"]["share"] > 0.6
    assert got["G3"]["share"] == 0 and got["G3"]["visited_cells"] == 0 and got["G3"]["cells"] > 0


def test_pings_outside_the_window_are_ignored_and_counted_once_it_widens(city):
    narrow, wide = _grids(build(WINDOW, Scope.everything())), _grids(build(
        Filters(res=9, since=START - timedelta(days=1), until=END + timedelta(days=1)), Scope.everything()))
    assert narrow["G3"]["share"] == 0 and narrow["G3"]["last_visit"] is None
    expected = _expected(START - timedelta(days=1), END + timedelta(days=1))
    for code in GRIDS:
        assert wide[code]["share"] == pytest.approx(expected[code]["share"], abs=6e-4), code
    assert wide["G3"]["share"] > 0 and wide["G1"]["share"] > narrow["G1"]["share"]


def test_below_flags_follow_the_threshold_and_the_summary_counts_them(city):
    expected = _expected(START, END)
    area = {code: _grid_polygon(code).area for code in GRIDS}
    for threshold in (DEFAULT_THRESHOLD, 0.9, 0.02):
        result = build(WINDOW, Scope.everything(), threshold=threshold)
        below = {code for code, p in _grids(result).items() if p["below"]}
        assert below == {code for code, want in expected.items() if want["share"] < threshold}
        assert result.summary["grids_below"] == len(below) and result.summary["grids"] == 4
    mean = sum(expected[c]["share"] * area[c] for c in GRIDS) / sum(area.values())
    assert result.summary["mean_share"] == pytest.approx(mean, abs=1e-3)
    assert {code for code, p in _grids(build(WINDOW, Scope.everything())).items() if p["below"]} == {"G1", "G3"}


def test_the_window_is_widened_to_whole_beijing_days_and_defaults_to_the_last_seven(city):
    result = build(Filters(res=9, since=START + timedelta(hours=13), until=END - timedelta(hours=5)), Scope.everything())
    assert (result.summary["window_start"], result.summary["window_end"]) == ("2026-10-05T00:00:00+08:00",
                                                                              "2026-10-12T00:00:00+08:00")
    now = datetime(2026, 10, 11, 15, 0, tzinfo=BEIJING)
    default = build(Filters(res=9), Scope.everything(), now=now)
    assert (default.summary["window_start"], default.summary["window_end"]) == ("2026-10-05T00:00:00+08:00",
                                                                                "2026-10-12T00:00:00+08:00")
    last = _expected(START, END)["G2"]["last_visit"]
    assert _grids(default)["G2"]["hours_since_visit"] == pytest.approx((now - last).total_seconds() / 3600, abs=0.05)


def test_scope_area_and_view_restrict_the_grids(city):
    assert set(_grids(build(WINDOW, Scope("C1")))) == {"G1", "G2"}
    assert set(_grids(build(Filters(res=9, since=START, until=END, area_code="C2"), Scope.everything()))) == {"G3", "G4"}
    inside_g3 = Filters(res=9, since=START, until=END, bbox=(120.102, 30.202, 120.108, 30.208))
    assert set(_grids(build(inside_g3, Scope.everything()))) == {"G3"}
    for feature in build(WINDOW, Scope("C1")).features:
        assert feature["properties"]["grid_code"] in {"G1", "G2"}


def test_hot_cells_without_a_visited_child_are_hot_but_unpatrolled(city):
    result = build(WINDOW, Scope.everything())
    hot = {f["properties"]["h3"] for f in hotspots.build(WINDOW, Scope.everything()).features
           if f["properties"]["class"] in ("hot90", "hot95", "hot99")}
    patrolled = {h3.cell_to_parent(cell, 9) for cell in _visited(START, END)}
    got = {f["properties"]["h3"] for f in result.features if f["properties"]["kind"] == "hot_unpatrolled"}
    assert got == hot - patrolled
    centre_a, centre_b = (h3.latlng_to_cell(lat, lon, 9) for lon, lat in (CLUSTER_A, CLUSTER_B))
    assert centre_a in got and centre_b in hot and centre_b not in got
    assert result.summary["hot_unpatrolled"] == len(got)
    for feature in result.features:
        if feature["properties"]["kind"] == "hot_unpatrolled":
            assert feature["properties"]["class"] in ("hot90", "hot95", "hot99") and feature["properties"]["count"] >= 0
            assert feature["properties"]["grid_code"] in GRIDS
            assert feature["geometry"]["coordinates"][0][0][0] > 120  # [lon, lat]


def test_features_carry_grid_geometry_legend_and_style(city):
    result = build(WINDOW, Scope.everything())
    for feature in result.features:
        if feature["properties"]["kind"] == "grid":
            lon, lat = GRIDS[feature["properties"]["grid_code"]]
            shape = shapely.geometry.shape(feature["geometry"])
            assert shape.bounds == pytest.approx((lon, lat, lon + 0.01, lat + 0.01), abs=1e-6)
            assert feature["properties"]["name"] == f"{feature['properties']['grid_code']}网格"
            assert feature["properties"]["owner"] == f"{feature['properties']['grid_code']}负责人"
    assert result.style["breaks"] == [0.25, 0.5, 0.75] and len(result.style["colours"]) == 4
    assert [e.label for e in result.legend][-1] == "hot but unpatrolled"


def test_a_view_over_the_cap_sends_the_thinnest_grids_and_counts_them_all(city, monkeypatch):
    from layers import coverage

    monkeypatch.setattr(coverage, "MAX_GRIDS", 2)
    result = build(WINDOW, Scope.everything())
    expected = _expected(START, END)
    assert set(_grids(result)) == set(sorted(GRIDS, key=lambda code: expected[code]["share"])[:2])
    assert result.summary["grids"] == 4 and result.summary["grids_below"] == 2 and result.summary["truncated"]


def test_grids_still_answer_when_hotspots_refuse_the_view(city, monkeypatch):
    monkeypatch.setattr(hotspots, "MAX_CELLS", 10)
    result = build(WINDOW, Scope.everything())
    assert set(_grids(result)) == set(GRIDS) and result.summary["hot_unpatrolled"] is None
    assert all(f["properties"]["kind"] == "grid" for f in result.features)


def _both_ways(monkeypatch, filters, scope):
    """(grid properties and summary, shares by path at each tier) from the weekly roll-up, then from the pings."""
    from layers import coverage

    answers = []
    for days in (coverage.ROLLUP_DAYS, -1):  # -1: no window is read from the roll-up
        monkeypatch.setattr(coverage, "ROLLUP_DAYS", days)
        result = build(filters, scope)
        answers.append((_grids(result), result.summary,
                        [coverage.shares_by_path(depth, None, filters, scope) for depth in (1, 2)]))
    return answers


def test_the_weekly_roll_up_answers_as_the_pings_do_after_patrol_and_grid_loads(city, monkeypatch, tmp_path):
    from geodata.db import fetch_all

    def compare():
        for end in (END - timedelta(days=4), END, END + timedelta(days=3), END + timedelta(days=9)):
            for scope in (Scope.everything(), Scope("C1")):
                rolled, raw = _both_ways(monkeypatch, Filters(res=9, since=end - timedelta(days=7), until=end), scope)
                assert rolled == raw, (end, scope)
        return fetch_all("SELECT count(*) AS n FROM shiyu.patrol_grid_week")[0]["n"]

    assert compare() > 0
    more = _lattice("U5", datetime(2026, 10, 13, 9, 0, tzinfo=BEIJING), 120.1005, 120.1095, 30.2005, 30.2095)
    load_patrols(write_csv(tmp_path / "more.csv", [(u, f"{t:%Y-%m-%d %H:%M:%S}", lon, lat) for u, t, lon, lat in more],
                           header=("unit_id", "ts", "lon", "lat")))
    load_areas(_geojson(tmp_path / "moved.geojson", {"G4": (120.1105, 30.2005)}, 0.009), tier="grid")  # new cells
    before = fetch_all("""SELECT end_day, code, visited_cells, round(visited_share::numeric, 9) AS share, last_visit
                     FROM shiyu.patrol_grid_week ORDER BY 1, 2""")
    compare()
    fetch_all("SELECT shiyu.refresh_patrol_grid_week(NULL, NULL)")  # a recount from the pings
    assert fetch_all("""SELECT end_day, code, visited_cells, round(visited_share::numeric, 9) AS share, last_visit
                     FROM shiyu.patrol_grid_week ORDER BY 1, 2""") == before
