from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
import shapely
from pyproj import Geod

from geodata.errors import InputError
from geodata.scope import Scope
from geodata.taxonomy import CATEGORIES, TIERS
from layers.areas import build
from layers.base import Filters
from layers.base import BEIJING
from tests.layers.tiers import CITY, N_INCIDENTS

WGS84 = Geod(ellps="WGS84")


def _by_code(tier, **filters):
    result = build(Filters(bbox=CITY, zoom=10, tier=tier, **filters), Scope.everything())
    return {f["properties"]["code"]: f["properties"] for f in result.features}


def test_counts_of_children_add_up_to_their_parent_at_every_tier(city):
    boxes, _, _ = city
    for parent_tier, child_tier in zip(TIERS, TIERS[1:]):
        parents, children = _by_code(parent_tier), _by_code(child_tier)
        assert set(parents) == set(boxes[parent_tier]) and set(children) == set(boxes[child_tier])
        for code, kpis in parents.items():
            mine = [c for c in children if c[:-1] == code]
            assert len(mine) == 2
            for name in ("incidents", "resolved", "overdue"):
                assert kpis[name] == sum(children[c][name] for c in mine), (parent_tier, code, name)
    assert _by_code("city")["C"]["incidents"] == N_INCIDENTS


def test_patrol_share_rolls_up_as_the_area_weighted_mean_of_the_grids_coverage_measures(city):
    from layers.coverage import build as coverage

    boxes, _, _ = city
    measured = {f["properties"]["grid_code"]: f["properties"]["share"]
                for f in coverage(Filters(bbox=CITY, zoom=10), Scope.everything()).features if f["properties"]["kind"] == "grid"}
    assert measured["C1111"] > 0 and measured["C2222"] > 0 and measured["C1221"] == 0
    grids = _by_code("grid")
    for code, share in measured.items():
        assert grids[code]["patrol_share"] == pytest.approx(share, abs=1e-3)
    for tier in TIERS[:-1]:
        for code, kpis in _by_code(tier).items():
            mine = [g for g in grids if g.startswith(code)]
            weighted = sum(measured[g] * grids[g]["area_km2"] for g in mine) / sum(grids[g]["area_km2"] for g in mine)
            assert kpis["patrol_share"] == pytest.approx(weighted, abs=2e-3), (tier, code)


def test_grid_kpis_equal_an_independent_count_of_the_points(city):
    boxes, written, now = city
    grids = _by_code("grid")
    sla = np.array([CATEGORIES[c].sla_hours for c in written["category"]])
    open_ = ~np.isin(written["status"], ("verified", "closed"))
    due = np.array([r + timedelta(hours=float(h)) for r, h in zip(written["reported"], sla)])
    overdue = open_ & (due < now)
    for code, (w, s, e, n) in boxes["grid"].items():
        inside = (written["lon"] > w) & (written["lon"] < e) & (written["lat"] > s) & (written["lat"] < n)
        kpis = grids[code]
        assert kpis["incidents"] == inside.sum()
        assert kpis["resolved"] == (inside & ~open_).sum()
        assert kpis["overdue"] == (inside & overdue).sum()
        assert kpis["resolved_share"] == pytest.approx((inside & ~open_).sum() / inside.sum(), abs=1e-4)
        assert kpis["per_km2"] == pytest.approx(inside.sum() / kpis["area_km2"], rel=1e-3)
        geodesic_m2 = abs(WGS84.geometry_area_perimeter(shapely.box(w, s, e, n))[0])
        assert kpis["area_km2"] == pytest.approx(geodesic_m2 / 1e6, rel=1e-3)


def test_median_hours_to_resolve_pools_the_incidents_of_the_area(city):
    _, written, _ = city
    done = np.array([r is not None for r in written["resolved"]])
    hours = [(r - t).total_seconds() / 3600 for r, t in zip(written["resolved"][done], written["reported"][done])]
    assert _by_code("city")["C"]["median_hours"] == pytest.approx(np.median(hours), abs=0.01)


def test_status_and_severity_filters_narrow_every_kpi(city):
    _, written, _ = city
    closed = _by_code("city", statuses=("closed",))["C"]
    assert closed["incidents"] == closed["resolved"] == (written["status"] == "closed").sum()
    assert closed["overdue"] == 0
    serious = _by_code("district", severities=(3, 4))
    assert sum(k["incidents"] for k in serious.values()) == (written["severity"] >= 3).sum()


def test_an_area_code_narrows_to_its_subtree_inside_the_scope(city):
    street = _by_code("grid", area_code="C12")
    assert sorted(street) == ["C1211", "C1212", "C1221", "C1222"]
    district = Scope("C.C1")
    inside = build(Filters(bbox=CITY, tier="grid", area_code="C11"), district)
    assert {f["properties"]["code"][:3] for f in inside.features} == {"C11"}
    with pytest.raises(InputError, match="no area 'C21' in your scope"):
        build(Filters(bbox=CITY, tier="grid", area_code="C21"), district)


def test_filters_refuse_unknown_values():
    with pytest.raises(InputError, match="unknown status"):
        Filters(statuses=("lost",))
    with pytest.raises(InputError, match="unknown severity"):
        Filters(severities=(9,))
    with pytest.raises(InputError, match="unknown category"):
        Filters(categories=("ufo",))
    with pytest.raises(InputError, match="starts"):
        Filters(since=datetime(2026, 2, 1, tzinfo=BEIJING), until=datetime(2026, 1, 1, tzinfo=BEIJING))


def test_kpis_cover_the_thirty_days_before_the_window_ends_unless_told(city):
    _, written, now = city
    until = now - timedelta(days=10)
    expected = sum(1 for t in written["reported"] if until - timedelta(days=30) <= t < until)
    assert _by_code("city", until=until)["C"]["incidents"] == expected < len(written["reported"])
    since = now - timedelta(days=3)
    assert _by_code("city", since=since)["C"]["incidents"] == sum(1 for t in written["reported"] if t >= since)
    summary = build(Filters(bbox=CITY, tier="city", until=until), Scope.everything()).summary
    assert summary["since"] == (until - timedelta(days=30)).isoformat() and summary["until"] == until.isoformat()


def test_a_naive_window_bound_is_beijing_time_for_every_layer():
    naive = Filters(since=datetime(2026, 11, 1, 8, 0), until=datetime(2026, 11, 20, 8, 0))
    assert naive.since == datetime(2026, 11, 1, 0, 0, tzinfo=timezone.utc)
    assert naive.until.utcoffset() == timedelta(hours=8)


def test_boundaries_are_the_areas_layer_without_its_kpis(city):
    from layers.areas import boundaries

    filters = Filters(bbox=CITY, zoom=10, tier="community")
    full, bare = build(filters, Scope.everything()), boundaries(filters, Scope.everything())
    assert [f["geometry"] for f in bare.features] == [f["geometry"] for f in full.features]
    kpi_names = {"incidents", "resolved", "overdue", "per_km2", "resolved_share", "median_hours", "patrol_share", "area_km2"}
    for b, f in zip(bare.features, full.features):
        assert b["properties"] == {k: v for k, v in f["properties"].items() if k not in kpi_names}
    assert bare.summary["areas"] == full.summary["areas"] == 8
