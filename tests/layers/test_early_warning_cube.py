"""Early warnings per grid counted from the day cube (plus the hour of each span boundary from the incidents)
equal those counted from the incidents, whatever T's time of day."""

from datetime import datetime, time, timedelta

import pytest

from geodata import db
from geodata.scope import Scope
from layers import early_warning, warning_bins
from layers.base import BEIJING, Filters, incident_params
from tests.layers.tiers import CITY


def _times(now: datetime) -> list[datetime]:
    midnight = datetime.combine(now.date(), time(0), BEIJING)
    return [now, midnight, midnight - timedelta(days=3, minutes=1), midnight - timedelta(days=5, hours=-23, minutes=-17),
            midnight - timedelta(days=9, hours=-13, seconds=-1), midnight - timedelta(days=2, hours=-7)]


def _counts(filters: Filters, scope: Scope) -> tuple[dict, int]:
    until = early_warning.reference_time(filters)
    spans = {"24h": 8, "7d": 8}
    rows, examined = early_warning._counts(filters, incident_params(filters, scope), "grid", until, spans)
    return {r["unit"]: tuple(int(r[k]) for k in ("n_24h", "base_24h", "n_7d", "base_7d")) for r in rows}, examined


CASES = ((Scope.everything(), {}), (Scope.everything(), {"categories": ("dispute",)}),
         (Scope("C.C2"), {}), (Scope.everything(), {"area_code": "C11", "bbox": (120.0, 30.0, 120.12, 30.4)}))


@pytest.mark.parametrize("which", range(6))
def test_cube_and_incidents_count_the_same_spans(city, monkeypatch, which):
    _, _, now = city
    until = _times(now)[which]
    for scope, extra in CASES:
        filters = Filters(**{"bbox": CITY, "zoom": 10, "until": until, **extra})
        assert early_warning.reads_cube(filters, "grid")
        cubed = _counts(filters, scope)
        with monkeypatch.context() as m:
            m.setattr(early_warning, "reads_cube", lambda f, u: False)
            raw = _counts(filters, scope)
        assert cubed == raw, (until, scope, extra)
        assert cubed[1] > 0


def test_the_layer_under_row_security_flags_the_same_both_ways(city, monkeypatch):
    _, _, now = city
    filters = Filters(bbox=CITY, zoom=10, until=now - timedelta(hours=30, minutes=11))
    with db.scoped(Scope("C.C1")):
        cubed = early_warning.build(filters, Scope("C.C1"))
        with monkeypatch.context() as m:
            m.setattr(early_warning, "reads_cube", lambda f, u: False)
            raw = early_warning.build(filters, Scope("C.C1"))
    assert cubed.features == raw.features and cubed.summary == raw.summary
    assert cubed.summary["units_examined"] == 8


def test_day_bins_split_each_day_around_the_hour_of_t():
    until = datetime(2026, 6, 15, 12, 30, tzinfo=BEIJING)  # a Monday
    bins = warning_bins.day_bins(until, {"24h": 8, "7d": 8})
    masks = bins["bin_masks"]
    assert bins["hour"] == 12 and len(bins["days"]) == 64 and len(bins["raw_hours"]) == 19
    assert bins["raw_hours"][-1] == datetime(2026, 6, 15, 12, tzinfo=BEIJING)
    assert (bins["early_masks"][0], bins["late_masks"][0]) == (0, masks[1])  # T - 9 weeks is in the first day's hour 12
    assert (bins["early_masks"][-1], bins["late_masks"][-1]) == (masks[18], 0)  # the last 24 h, then past T
    assert bins["split_masks"][-2] == 0 and bins["split_masks"][-3] == masks[17]  # T - 24 h is a boundary, the day before not
    assert masks[18] == warning_bins.BIT_INSIDE | warning_bins.BIT_24H | warning_bins.BIT_7D


@pytest.mark.parametrize("which", range(6))
def test_the_weeks_and_the_days_of_the_day_cube_count_the_same_spans(city, which):
    _, _, now = city
    until = _times(now)[which]
    spans = {"24h": 8, "7d": 7}
    for scope, extra in CASES[:1] + CASES[2:]:
        filters = Filters(**{"bbox": CITY, "zoom": 10, "until": until, **extra})
        west, south, east, north = filters.bbox
        params = {**incident_params(filters, scope), "since": until - 9 * warning_bins.WEEK, "until": until,
                  **warning_bins.bin_params(until, spans), "min_count": 0,
                  "west": west, "south": south, "east": east, "north": north}
        weeks = db.fetch_all(warning_bins.GRID_COUNTS_BY_WEEK, {**params, **warning_bins.week_bins(until, spans)})
        days = db.fetch_all(warning_bins.GRID_COUNTS_BY_DAY, {**params, **warning_bins.day_bins(until, spans),
                                                             "cube_categories": [""]})
        key = lambda r: (r["unit"] is None, r["unit"] or "")  # noqa: E731
        assert sorted(weeks, key=key) == sorted(days, key=key), (until, scope, extra)
        assert len(weeks) > 1 and weeks[-1]["examined"] > 0


def _hours(bins: dict, span: str) -> int:
    """The whole hours the weeks of ``week_bins`` count under ``span``."""
    def at(d: int, h: int) -> int:
        return h or (d - 1) * 24
    return sum(at(bins[f"{span}_e_d"][k], bins[f"{span}_e_h"][k]) - at(bins[f"{span}_s_d"][k], bins[f"{span}_s_h"][k])
               for k in range(len(bins["weeks"])))


def test_week_bins_count_whole_hours_from_the_weeks_and_the_split_ones_from_the_incidents():
    spans = {"24h": 8, "7d": 8}
    split = warning_bins.week_bins(datetime(2026, 6, 17, 12, 30, tzinfo=BEIJING), spans)  # a Wednesday
    assert split["weeks"][0].isoweekday() == 1 and len(split["weeks"]) == 10
    assert len(split["raw_hours"]) == 19 and all(h.astimezone(BEIJING).hour == 12 for h in split["raw_hours"])
    # a span starting at half past has one whole hour less than its length: each 24 h span 23, the last 7 days 167
    assert (_hours(split, "base_24h") + _hours(split, "base_24h_2"), _hours(split, "n_24h")) == (8 * 23, 23)
    assert (_hours(split, "n_7d"), _hours(split, "base_7d"), _hours(split, "inside")) == (167, 8 * 168 - 1, 9 * 168 - 1)
    # the hour between two baseline weeks lies in both: the weeks count it, its incidents are read for the rest
    between = split["raw_hours"].index(datetime(2026, 6, 3, 12, tzinfo=BEIJING))
    assert split["raw_covered"][between] == warning_bins.BIT_BASE_7D | warning_bins.BIT_INSIDE
    on_the_hour = warning_bins.week_bins(datetime(2026, 6, 17, 12, tzinfo=BEIJING), spans)
    assert on_the_hour["raw_hours"] == []
    assert (_hours(on_the_hour, "base_24h") + _hours(on_the_hour, "base_24h_2"), _hours(on_the_hour, "n_7d")) == (8 * 24, 168)


@pytest.mark.parametrize("which", range(6))
def test_cube_and_incidents_give_the_same_categories(city, monkeypatch, which):
    boxes, _, now = city
    until = _times(now)[which]
    grids = sorted(boxes["grid"])
    for scope, extra in CASES:
        filters = Filters(**{"bbox": CITY, "zoom": 10, "until": until, **extra})
        narrowing = incident_params(filters, scope)
        cubed = early_warning._categories(filters, narrowing, "grid", grids, until)
        with monkeypatch.context() as m:
            m.setattr(early_warning, "reads_cube", lambda f, u: False)
            raw = early_warning._categories(filters, narrowing, "grid", grids, until)
        assert cubed == raw, (until, scope, extra)
        assert any(window == "24h" for _, window in cubed) and any(window == "7d" for _, window in cubed)
