"""Area KPIs read from the day cube plus the part-days at the window's ends equal those read from the incidents."""

from datetime import date, datetime, time, timedelta

import pytest

from geodata import db
from geodata.scope import Scope
from layers import kpis, windows
from layers import areas
from layers.base import BEIJING, Filters
from layers.detail import area_detail
from tests.layers.tiers import CITY


def _raw(monkeypatch):
    monkeypatch.setattr(windows, "reads_cube", lambda filters: False)


def _windows(now: datetime) -> dict[str, dict]:
    midnight = datetime.combine(now.date(), time(0), BEIJING)
    return {
        "default": {},
        "until mid-day": {"until": now - timedelta(days=3, hours=5, minutes=7)},
        "whole days": {"since": midnight - timedelta(days=12), "until": midnight - timedelta(days=2)},
        "since only": {"since": now - timedelta(days=9, minutes=13)},
        "inside a day": {"since": midnight - timedelta(days=4, hours=-3), "until": midnight - timedelta(days=4, hours=-9)},
        "across one midnight": {"since": midnight - timedelta(hours=30), "until": midnight - timedelta(hours=20)},
        # part-days over half a day are read as whole days less their rest (windows.part_split); shorter ones not
        "long part-days": {"since": midnight - timedelta(days=12, hours=-2), "until": midnight - timedelta(days=2, hours=-20)},
        "short part-days": {"since": midnight - timedelta(days=12, hours=-20), "until": midnight - timedelta(days=2, hours=-2)},
    }


CASES = (
    ("city", Scope.everything(), {}),
    ("district", Scope.everything(), {"categories": ("dispute", "fire_safety")}),
    ("street", Scope("C.C2"), {}),
    ("community", Scope.everything(), {"area_code": "C12"}),
    ("grid", Scope.everything(), {}),
    ("grid", Scope("C.C1.C11"), {"categories": ("traffic_safety",)}),
)


def _kpis(filters, scope, now):
    """The areas layer's KPIs of the areas in view, at a fixed now (the layer itself takes the clock's)."""
    rows, _ = areas._in_view(filters, scope)
    return kpis.area_kpis(rows, filters, scope, now)


@pytest.mark.parametrize("window", ["default", "until mid-day", "whole days", "since only", "inside a day",
                                    "across one midnight", "long part-days", "short part-days"])
def test_cube_and_incidents_give_the_same_kpis(city, monkeypatch, window):
    _, _, now = city
    for tier, scope, extra in CASES:
        filters = Filters(bbox=CITY, zoom=10, tier=tier, **_windows(now)[window], **extra)
        assert windows.reads_cube(filters)
        cubed = _kpis(filters, scope, now)
        with monkeypatch.context() as m:
            _raw(m)
            raw = _kpis(filters, scope, now)
        assert cubed == raw, (window, tier, scope, extra)
        if window == "default":
            assert sum(k["incidents"] for k in cubed.values()) > 0 and any(k["median_hours"] for k in cubed.values())


def test_the_medians_are_the_same_floats_both_ways(city, monkeypatch):
    """Not only after rounding: the cube pools the very values percentile_cont sorts in the raw query."""
    _, _, now = city
    filters = Filters(until=now - timedelta(hours=7, minutes=3))
    params = {**kpis.incident_params(kpis.kpi_window(filters, now), Scope.everything()), "grids": None,
              "closed": ["verified", "closed"], "now": now, "depth": 2, "paths": None, "median": True}
    cubed = kpis._kpi_rows(params, filters)
    with monkeypatch.context() as m:
        _raw(m)
        raw = kpis._kpi_rows(params, filters)
    as_dict = lambda rows: {r["path"]: (int(r["incidents"]), int(r["resolved"]), int(r["overdue"]), r["median_hours"])
                            for r in rows}
    assert as_dict(cubed) == as_dict(raw) and len(raw) == 2 and all(r["median_hours"] for r in raw)


@pytest.mark.parametrize("cube", [True, False])
def test_without_the_median_every_other_kpi_is_the_same(city, monkeypatch, cube):
    _, _, now = city
    filters = Filters(bbox=CITY, zoom=10, tier="street")
    if not cube:
        _raw(monkeypatch)
    full = _kpis(filters, Scope.everything(), now)
    rows, _ = areas._in_view(filters, Scope.everything())
    bare = kpis.area_kpis(rows, filters, Scope.everything(), now, median=False)
    assert all(k["median_hours"] is not None for k in full.values())
    assert bare == {code: {**k, "median_hours": None} for code, k in full.items()}


def test_severity_or_status_filters_read_the_incidents():
    assert windows.reads_cube(Filters(categories=("dispute",)))
    assert not windows.reads_cube(Filters(severities=(2,)))
    assert not windows.reads_cube(Filters(statuses=("closed",)))


def test_day_split_keeps_whole_days_for_the_cube():
    at = lambda d, h=0, m=0: datetime(2026, 11, d, h, m, tzinfo=BEIJING)
    assert windows.day_split(at(1), at(5)) == {"first_day": at(1).date(), "end_day": at(5).date(),
                                            "head_end": at(1), "tail_start": at(5)}
    split = windows.day_split(at(1, 9, 30), at(5, 9, 30))
    assert (split["first_day"], split["end_day"], split["head_end"], split["tail_start"]) == (
        at(2).date(), at(5).date(), at(2), at(5))
    assert windows.day_split(at(1, 9), at(1, 17))["head_end"] == at(1, 17)  # no whole day: all of it raw
    assert windows.day_split(at(1, 9), None)["end_day"] is None


def test_the_area_panel_under_row_security_agrees_both_ways(city, monkeypatch):
    _, _, now = city
    filters = Filters(bbox=CITY, until=now - timedelta(hours=2, minutes=41))
    with db.scoped(Scope("C.C1")):
        cubed = area_detail("C12", filters, Scope("C.C1"), now=now)
        with monkeypatch.context() as m:
            _raw(m)
            raw = area_detail("C12", filters, Scope("C.C1"), now=now)
    assert cubed["kpis"] == raw["kpis"] and cubed["kpis"]["incidents"] > 0
    assert [c["kpis"] for c in cubed["children"]] == [c["kpis"] for c in raw["children"]]
    assert cubed["overdue_total"] == cubed["kpis"]["overdue"]


def test_long_part_days_are_whole_days_less_their_rest():
    midnight = datetime(2026, 6, 15, tzinfo=BEIJING)
    long = windows.part_split(midnight - timedelta(days=12, hours=-2), midnight - timedelta(days=2, hours=-20))
    assert (long["first_day"], long["end_day"]) == (date(2026, 6, 3), date(2026, 6, 14))
    assert long["less_head_start"] == midnight - timedelta(days=12) and long["head_end"] == long["head_start"]
    assert long["less_tail_end"] == midnight - timedelta(days=1) and long["tail_start"] == long["tail_end"]
    short = windows.part_split(midnight - timedelta(days=12, hours=-20), midnight - timedelta(days=2, hours=-2))
    assert (short["first_day"], short["end_day"]) == (date(2026, 6, 4), date(2026, 6, 13))
    assert short["less_head_start"] is None and short["less_tail_end"] is None
    assert short["head_end"] == midnight - timedelta(days=11) and short["tail_start"] == midnight - timedelta(days=2)


def test_an_area_whose_incidents_of_a_long_part_day_all_lie_before_the_window_has_none(empty_db, tmp_path,
                                                                                      monkeypatch):
    """The window opens at 03:00: its first day is read whole from the cube less 00:00-03:00 from the incidents,
    which for these grids is all of that day's: they count no incidents, as the incidents say, and no error."""
    from etl.load import load_incidents
    from tests.helpers import write_csv
    from tests.layers.tiers import load_tiers

    load_tiers(tmp_path)
    load_incidents(write_csv(tmp_path / "early.csv", [
        ["E1", "治安", "2025-03-04 01:10:00", "120.05", "30.05"],
        ["E2", "治安", "2025-03-04 02:20:00", "120.05", "30.05"],
        ["E3", "消防安全", "2025-03-04 01:30:00", "120.35", "30.35"],
        ["E4", "消防安全", "2025-03-05 09:00:00", "120.35", "30.35"],  # inside the window
    ]), source="early")
    since = datetime(2025, 3, 4, 3, 0, tzinfo=BEIJING)
    filters = Filters(bbox=CITY, zoom=10, tier="grid", since=since, until=since + timedelta(days=3))
    assert windows.part_split(filters.since, filters.until)["less_head_start"] is not None  # read as day less rest
    now = since + timedelta(days=5)
    cubed = _kpis(filters, Scope.everything(), now)
    with monkeypatch.context() as m:
        _raw(m)
        raw = _kpis(filters, Scope.everything(), now)
    assert cubed == raw
    assert sorted(k["incidents"] for k in cubed.values() if k["incidents"]) == [1]
    assert all(k["resolved_share"] is None for k in cubed.values() if not k["incidents"])
