from datetime import datetime, time, timedelta

import pytest

from geodata.scope import Scope
from geodata.taxonomy import STATUSES
from layers import hexes, hotspots
from layers.base import Filters
from layers.cube import BEIJING, cube_params
from tests.layers.tiers import CITY


def _monday_before(moment: datetime, weeks: int) -> datetime:
    monday = moment.date() - timedelta(days=moment.weekday(), weeks=weeks)
    return datetime.combine(monday, time(0), BEIJING)


@pytest.mark.parametrize("layer", [hexes, hotspots])
def test_the_cube_answers_a_district_and_a_week_aligned_window_as_the_incidents_do(city, layer):
    _, _, now = city
    window = {"since": _monday_before(now, 3), "until": _monday_before(now, 0)}
    for scope, extra in ((Scope("C.C2"), {}), (Scope.everything(), window), (Scope.everything(), {"area_code": "C1"})):
        cubed = Filters(bbox=CITY, res=8, zoom=10, **extra)
        assert cube_params(cubed, scope) is not None
        raw = Filters(bbox=CITY, res=8, zoom=10, statuses=tuple(STATUSES), **extra)  # statuses force the incidents
        assert cube_params(raw, scope) is None
        a, b = layer.build(cubed, scope), layer.build(raw, scope)
        assert sorted(f["properties"]["h3"] for f in a.features) == sorted(f["properties"]["h3"] for f in b.features)
        assert {f["properties"]["h3"]: f["properties"]["count"] for f in a.features} == \
               {f["properties"]["h3"]: f["properties"]["count"] for f in b.features}
        assert a.summary["incidents"] > 0


def test_what_the_cube_cannot_answer_goes_to_the_incidents(city):
    _, _, now = city
    assert cube_params(Filters(res=9), Scope.everything()) is None
    assert cube_params(Filters(res=8, since=now - timedelta(days=2)), Scope.everything()) is None  # inside a week
    assert cube_params(Filters(res=8), Scope("C.C1.C11")) is None  # finer than a district
    assert cube_params(Filters(res=8, severities=(4,)), Scope.everything()) is None
    assert cube_params(Filters(res=7, categories=("dispute",)), Scope("C.C1"))["district"] == "C1"
