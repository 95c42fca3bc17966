from datetime import datetime, time, timedelta

import pytest

from geodata.scope import Scope
from geodata.taxonomy import STATUSES
from layers import hexes, hotspots
from layers.base import Filters
from layers.base import BEIJING
from layers.cube import cube_for
from tests.layers.tiers import CITY


def _monday_before(moment: datetime, weeks: int) -> datetime:
    monday = moment.date() - timedelta(days=moment.weekday(), weeks=weeks)
    return datetime.combine(monday, time(0), BEIJING)


def _days_before(moment: datetime, days: int) -> dict:
    """A window of ``days`` whole Beijing days up to ``moment``'s, starting on no Monday (so on days, not weeks)."""
    first = moment.date() - timedelta(days=days - 1)
    first += timedelta(days=first.weekday() == 0)
    return {"since": datetime.combine(first, time(0), BEIJING),
            "until": datetime.combine(moment.date() + timedelta(days=1), time(0), BEIJING)}


def _counts(result) -> dict[str, int]:
    return {f["properties"]["h3"]: f["properties"]["count"] for f in result.features}


@pytest.mark.parametrize("layer", [hexes, hotspots])
def test_the_cubes_answer_as_the_incidents_do(city, layer):
    _, _, now = city
    window = {"since": _monday_before(now, 3), "until": _monday_before(now, 0)}
    cases = ((Scope("C.C2"), 8, {}, "incident_cell"), (Scope.everything(), 9, {}, "incident_cell"),
             (Scope.everything(), 8, window, "incident_week"), (Scope.everything(), 7, {"area_code": "C1"}, "incident_cell_r7"),
             (Scope.everything(), 9, {"bbox": (120.05, 30.05, 120.12, 30.1), "categories": ("dispute",)}, "incident_cell"),
             (Scope("C.C1.C11"), 9, {}, "incident_cell"), (Scope.everything(), 8, {"area_code": "C212"}, "incident_cell"),
             (Scope("C.C2"), 9, {"area_code": "C2112", "categories": ("dispute", "petition")}, "incident_cell"),
             (Scope.everything(), 9, window, "incident_week_cell"), (Scope("C.C1.C11"), 8, window, "incident_week_cell"),
             (Scope.everything(), 7, {**window, "area_code": "C212", "categories": ("dispute",)}, "incident_week_cell"),
             (Scope("C.C2"), 9, {**window, "area_code": "C2112"}, "incident_week_cell"),
             (Scope.everything(), 7, window, "incident_week_r7"), (Scope("C.C1"), 7, window, "incident_week_r7"),
             (Scope.everything(), 7, {**window, "categories": ("dispute",)}, "incident_week"),
             (Scope.everything(), 7, {}, "incident_cell_r7"), (Scope("C.C2"), 7, {}, "incident_cell_r7"),
             (Scope("C.C2.C21"), 7, {}, "incident_cell"), (Scope.everything(), 7, {"categories": ("dispute",)}, "incident_cell"),
             (Scope.everything(), 7, _days_before(now, 7), "incident_day_r7"),
             (Scope("C.C2"), 7, _days_before(now, 30), "incident_day_r7"),
             (Scope.everything(), 7, {**_days_before(now, 10), "area_code": "C1"}, "incident_day_r7"),
             (Scope.everything(), 7, {"since": _days_before(now, 9)["since"]}, "incident_day_r7"))
    for scope, res, extra, table in cases:
        extra = {"bbox": CITY, **extra}
        cubed = Filters(res=res, zoom=10, **extra)
        assert cube_for(cubed, scope).table == table
        raw = Filters(res=res, zoom=10, statuses=tuple(STATUSES), **extra)  # statuses force the incidents
        assert cube_for(raw, scope) is None
        a, b = layer.build(cubed, scope), layer.build(raw, scope)
        assert _counts(a) == _counts(b) and a.summary["incidents"] > 0, (scope, res, extra)


def test_what_no_cube_can_answer_goes_to_the_incidents(city):
    _, _, now = city
    assert cube_for(Filters(res=10), Scope.everything()) is None
    assert cube_for(Filters(res=9, since=_monday_before(now, 2)), Scope.everything()).table == "incident_week_cell"
    assert cube_for(Filters(res=8, since=now - timedelta(days=2)), Scope.everything()) is None  # inside a week
    days = _days_before(now, 7)  # on days, not weeks: only at r7 without categories, for the city or a district
    assert cube_for(Filters(res=7, **days), Scope.everything()).params["since_day"] == days["since"].date()
    assert cube_for(Filters(res=7, **days), Scope("C.C1")).params["district"] == "C1"
    assert cube_for(Filters(res=8, **days), Scope.everything()) is None
    assert cube_for(Filters(res=7, categories=("dispute",), **days), Scope.everything()) is None
    assert cube_for(Filters(res=7, **days), Scope("C.C1.C11")) is None
    assert cube_for(Filters(res=7, since=days["since"] + timedelta(hours=1)), Scope.everything()) is None
    window = {"since": _monday_before(now, 2), "until": _monday_before(now, 0)}
    assert cube_for(Filters(res=8, **window), Scope("C.C1.C11")).params["scope"] == "C.C1.C11"  # per grid too
    assert cube_for(Filters(res=10, **window), Scope.everything()) is None
    assert cube_for(Filters(res=8, **window), Scope("C.C1")).table == "incident_week"
    assert cube_for(Filters(res=8), Scope("C.C1.C11")).params["scope"] == "C.C1.C11"  # all time: per grid
    assert cube_for(Filters(res=8, severities=(4,)), Scope.everything()) is None
    assert cube_for(Filters(res=7, categories=("dispute",)), Scope("C.C1")).params["district"] == "C1"
    assert cube_for(Filters(res=7), Scope("C.C1")).params["district"] == "C1"  # the all-time r7 cube
