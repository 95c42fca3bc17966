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
