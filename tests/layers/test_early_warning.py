import json
from datetime import datetime, timedelta

import h3
import pytest
from scipy.stats import poisson
from shapely.geometry import Point, box

from etl.load import load_areas, load_incidents
from geodata.errors import InputError
from geodata.scope import Scope
from layers import early_warning
from layers.base import Filters
from tests.helpers import write_csv

T = datetime(2026, 6, 15, 12, 0, 0)  # naive, so Beijing time to the loader and the layer; a Monday noon
DAY, WEEK = timedelta(days=1), timedelta(weeks=1)
SQUARES = {f"G{i}": box(120.10 + 0.02 * (i - 1), 30.20, 120.11 + 0.02 * (i - 1), 30.21) for i in range(1, 6)}
SPIKE = (120.107, 30.207)  # G1's spike, all within metres of this point
ELSEWHERE_G1 = (120.102, 30.202)


def _load_grids(tmp_path):
    features = [{"type": "Feature", "properties": {"code": code, "name": f"{code}网格"},
                 "geometry": {"type": "Polygon", "coordinates": [list(square.exterior.coords)]}}
                for code, square in SQUARES.items()]
    path = tmp_path / "grids.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8")
    load_areas(path, tier="grid")


def _load(rows, tmp_path):
    """rows: (category, Beijing datetime, lon, lat)."""
    path = write_csv(tmp_path / "incidents.csv", [[f"I{i}", c, f"{t:%Y-%m-%d %H:%M:%S}", f"{x:.6f}", f"{y:.6f}"]
                                                  for i, (c, t, x, y) in enumerate(rows)])
    summary = load_incidents(path, source="test")
    assert summary.loaded == len(rows)


def _city_rows():
    rows = [("dispute", T - 9 * WEEK - timedelta(hours=1), 120.125, 30.205)]  # the history's start, in no window
    for k in range(1, 9):  # G1: 2 disputes in each of the eight past same-24-hours, 3 other incidents a week
        rows += [("dispute", T - k * WEEK - timedelta(hours=h), *ELSEWHERE_G1) for h in (5, 10)]
    for k in range(9):
        rows += [("city_management", T - k * WEEK - 3 * DAY - timedelta(hours=h), *ELSEWHERE_G1) for h in (1, 2, 3)]
    rows += [("fire_safety" if h < 6 else "dispute", T - timedelta(hours=h + 1), SPIKE[0] + 0.00002 * h, SPIKE[1])
             for h in range(9)]
    for k in range(9):  # G2: five in the same 24 hours of every week, this one included
        rows += [("dispute", T - k * WEEK - timedelta(hours=h), 120.125, 30.205) for h in (1, 3, 5, 7, 9)]
    for k in range(1, 9):  # G3: one a week, then eight this week, none of them in the last day
        rows.append(("traffic_safety", T - k * WEEK - 3 * DAY, 120.145, 30.205))
    rows += [("traffic_safety", T - 2 * DAY - timedelta(hours=h), 120.145, 30.205) for h in range(8)]
    # and on the edges: T itself is outside, T - 7 d inside, T - 9 weeks in the oldest baseline week
    rows += [("traffic_safety", t, 120.145, 30.205) for t in (T, T - WEEK, T - 9 * WEEK)]
    # G4: three (one at T - 24 h, the window's start), none before
    rows += [("public_order", T - timedelta(hours=h), 120.165, 30.205) for h in (2, 4, 24)]
    rows += [("public_order", T - timedelta(hours=h), 120.185, 30.205) for h in (2, 4)]  # G5: two, never before
    return rows


@pytest.fixture
def city(empty_db, tmp_path):
    _load_grids(tmp_path)
    rows = _city_rows()
    _load(rows, tmp_path)
    return rows


def _in_window(t, window, k):
    """Whether t lies in span k (0 = now) of the window, straight from the definitions."""
    length = DAY if window == "24h" else WEEK
    end = T - k * WEEK
    return end - length <= t < end


def expected_flags(rows, unit_of, spans=8, alpha=0.001, min_count=3):
    """{(unit, window): (count, mean, upper)} computed from the raw rows with scipy."""
    units = {unit_of(x, y) for _, _, x, y in rows} - {None}
    flags = {}
    for unit in units:
        mine = [t for _, t, x, y in rows if unit_of(x, y) == unit]
        for window in ("24h", "7d"):
            count = sum(_in_window(t, window, 0) for t in mine)
            mean = sum(_in_window(t, window, k) for t in mine for k in range(1, spans + 1)) / spans
            upper = int(poisson.ppf(1 - alpha, mean if mean > 0 else 0.5 / 8))
            if count > upper and count >= min_count:
                flags[(unit, window)] = (count, mean, upper)
    return flags


def grid_of(x, y):
    return next((code for code, square in SQUARES.items() if square.contains(Point(x, y))), None)


def _got(result, key="grid_code"):
    return {(f["properties"][key], f["properties"]["window"]):
            (f["properties"]["count"], f["properties"]["baseline"], f["properties"]["upper"]) for f in result.features}


def _build(**kwargs):
    unit = kwargs.pop("unit", "grid")
    scope = kwargs.pop("scope", Scope.everything())
    return early_warning.build(Filters(until=T, **kwargs), scope, unit=unit)


def test_a_spike_over_the_same_hours_of_past_weeks_is_flagged_with_its_poisson_bound(city):
    result = _build()
    upper = int(poisson.ppf(0.999, 2.0))
    assert _got(result)[("G1", "24h")] == (9, 2.0, upper)
    g1 = next(f["properties"] for f in result.features if f["properties"]["grid_code"] == "G1")
    assert g1["categories"] == [["fire_safety", 6], ["dispute", 3]] and g1["ratio"] == 4.5
    assert g1["reason_zh"] == f"网格 G1：最近24小时 9 起，过去8周同时段平均 2.0 起（上限 {upper} 起），以消防安全为主"
    assert g1["reason_en"] == (f"Grid G1: 9 incidents in the last 24 h against 2.0 on average in the same hours "
                               f"of the past 8 weeks (upper bound {upper}), mostly fire safety")


def test_flags_equal_those_computed_from_the_raw_incidents(city):
    result = _build()
    want = {key: (n, round(mean, 2), upper) for key, (n, mean, upper) in expected_flags(city, grid_of).items()}
    assert _got(result) == want
    assert set(want) == {("G1", "24h"), ("G3", "7d"), ("G4", "24h"), ("G4", "7d")}
    assert result.summary["flagged_24h"] == 2 and result.summary["flagged_7d"] == 2
    assert result.summary["units_examined"] == 5 and result.summary["reference_time"] == "2026-06-15T12:00:00+08:00"


def test_a_grid_as_busy_as_its_baseline_is_not_flagged(city):
    assert not any(f["properties"]["grid_code"] == "G2" for f in _build().features)


def test_a_week_above_its_weekly_baseline_is_flagged_in_the_7_day_window(city):
    g3 = [f["properties"] for f in _build().features if f["properties"]["grid_code"] == "G3"]
    count, mean = 8 + 1, (8 + 1) / 8  # with the edges: T - 7 days now, T - 9 weeks in the oldest week
    assert [(p["window"], p["count"], p["baseline"], p["upper"]) for p in g3] == [
        ("7d", count, round(mean, 2), int(poisson.ppf(0.999, mean)))]
    assert g3[0]["reason_en"].startswith(
        f"Grid G3: {count} incidents in the last 7 days against {mean:.1f} a week on average over the previous 8 weeks")


def test_a_quiet_grid_uses_the_prior_and_needs_min_count(city, monkeypatch):
    g4 = {f["properties"]["window"]: f["properties"] for f in _build().features if f["properties"]["grid_code"] == "G4"}
    assert g4["24h"]["baseline"] == 0 and g4["24h"]["upper"] == int(poisson.ppf(0.999, 0.5 / 8))
    assert "过去8周同时段无事件" in g4["24h"]["reason_zh"]
    monkeypatch.setattr(early_warning, "ALPHA", 0.05)  # a looser bound that two incidents exceed
    assert 2 > poisson.ppf(0.95, 0.5 / 8)
    flagged = {f["properties"]["grid_code"] for f in _build().features}
    assert "G4" in flagged and "G5" not in flagged


def test_the_most_improbable_come_first(city):
    p = {key: poisson.sf(n - 1, mean if mean > 0 else 0.5 / 8)
         for key, (n, mean, _) in expected_flags(city, grid_of).items()}
    features = [f["properties"] for f in _build().features]
    assert [(f["grid_code"], f["window"]) for f in features] == sorted(p, key=p.get)
    assert [f["p"] for f in features] == pytest.approx(sorted(p.values()), rel=1e-2)


def test_a_category_filter_narrows_both_the_count_and_the_baseline(city):
    fire = _got(_build(categories=("fire_safety",)))
    quiet = int(poisson.ppf(0.999, 0.5 / 8))
    assert fire == {("G1", "24h"): (6, 0.0, quiet), ("G1", "7d"): (6, 0.0, quiet)}
    want = expected_flags([r for r in city if r[0] == "dispute"], grid_of)
    assert _got(_build(categories=("dispute",))) == {k: (n, round(m, 2), u) for k, (n, m, u) in want.items()}
    assert ("G1", "24h") not in want


def test_scope_area_and_view_restrict_the_grids(city):
    assert {k[0] for k in _got(_build(scope=Scope("G3")))} == {"G3"}
    assert {k[0] for k in _got(_build(area_code="G4"))} == {"G4"}
    assert {k[0] for k in _got(_build(bbox=(120.141, 30.201, 120.149, 30.209)))} == {"G3"}
    with pytest.raises(InputError):
        _build(area_code="G1", scope=Scope("G3"))


def test_grid_features_carry_their_square(city):
    g3 = next(f for f in _build(zoom=14).features if f["properties"]["grid_code"] == "G3")
    ring = g3["geometry"]["coordinates"][0]
    corners = {(round(x, 6), round(y, 6)) for x, y in SQUARES["G3"].exterior.coords}
    assert sorted(map(tuple, ring[:-1])) == sorted(corners)


def test_cells_at_res_9_flag_the_cell_of_the_spike(city):
    result = _build(unit="cell", res=9)
    def cell_of(x, y):
        return h3.latlng_to_cell(y, x, 9)

    want = {key: (n, round(m, 2), u) for key, (n, m, u) in expected_flags(city, cell_of).items()}
    assert _got(result, key="h3") == want
    spike = h3.latlng_to_cell(SPIKE[1], SPIKE[0], 9)
    assert (spike, "24h") in want and want[(spike, "24h")][0] == sum(1 for _, t, x, y in city if cell_of(x, y) == spike)
    feature = next(f for f in result.features if f["properties"]["h3"] == spike)
    assert feature["properties"]["kind"] == "cell" and feature["properties"]["grid_code"] == "G1"
    ring = feature["geometry"]["coordinates"][0]
    assert ring[:-1] == [[round(lng, 6), round(lat, 6)] for lat, lng in h3.cell_to_boundary(spike)]
    assert feature["properties"]["reason_zh"].startswith(f"H3 单元 {spike}（网格 G1）：")


def test_a_history_shorter_than_eight_weeks_averages_over_the_spans_it_has(empty_db, tmp_path):
    _load_grids(tmp_path)
    first = T - 17 * DAY
    rows = [("dispute", first, 120.125, 30.205)]
    rows += [("dispute", T - k * WEEK - timedelta(hours=5), *ELSEWHERE_G1) for k in (1, 2)]
    rows += [("dispute", T - timedelta(hours=h), *ELSEWHERE_G1) for h in (1, 2, 3, 4)]
    _load(rows, tmp_path)
    spans_24h = sum(1 for k in range(1, 9) if T - k * WEEK - DAY >= first)
    spans_7d = sum(1 for k in range(1, 9) if T - (k + 1) * WEEK >= first)
    result = _build()
    got = (result.summary["baseline_spans_24h"], result.summary["baseline_spans_7d"])
    assert got == (spans_24h, spans_7d) == (2, 1)
    assert _got(result) == {}  # against eight spans, four would beat the bound of 0.25 a day
    assert 4 > poisson.ppf(0.999, 2 / 8) and 4 <= poisson.ppf(0.999, 2 / spans_24h)


def test_unknown_units_are_refused(empty_db):
    with pytest.raises(InputError, match="grid or cell"):
        _build(unit="district")


def test_a_screen_recomputes_its_warnings_only_once_the_data_moved_and_a_minute_passed(city, tmp_path):
    filters, scope = Filters(until=T), Scope.everything()
    first = early_warning.recent(filters, scope)
    assert _got(first) == _got(_build())
    assert early_warning.recent(filters, scope) is first  # nothing moved
    one_more = write_csv(tmp_path / "more.csv", [["X1", "fire_safety", f"{T - timedelta(hours=2):%Y-%m-%d %H:%M:%S}",
                                                 f"{SPIKE[0]:.6f}", f"{SPIKE[1]:.6f}"]])
    assert load_incidents(one_more, source="late").loaded == 1  # the data's version moves
    assert early_warning.recent(filters, scope) is first  # within the minute, the same answer
    again = early_warning.recent(filters, scope, every_s=0)
    assert _got(again)[("G1", "24h")][0] == _got(first)[("G1", "24h")][0] + 1 == 10
    assert early_warning.recent(Filters(until=T, categories=("dispute",)), scope) is not again  # other filters
