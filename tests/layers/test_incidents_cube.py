"""The table's capped count, bounded first from the day cube, equals the count of the incidents alone; the bound
never exceeds the incidents in view, and it is what answers where the incidents pass the cap."""

from datetime import datetime, time, timedelta

import pytest

from geodata import db
from geodata.scope import Scope
from layers import incidents, windows
from layers.base import BEIJING, WHOLE_WORLD, Filters
from tests.layers.tiers import CITY

BOXES = {
    "the city": CITY,
    "four grids and parts of others": (120.09, 30.09, 120.31, 30.31),
    "inside one grid": (120.02, 30.02, 120.08, 30.08),
    "anywhere": WHOLE_WORLD,
}
SCOPES = (Scope.everything(), Scope("C.C1"), Scope("C.C2.C21"))
CAPS = (1, 2, 7, 40, 10**6)

RECOUNT = """
SELECT count(*) AS n FROM shiyu.incident
WHERE geom && ST_MakeEnvelope(%(west)s, %(south)s, %(east)s, %(north)s, 4326)
  AND (%(scope)s::ltree IS NULL OR path <@ %(scope)s::ltree)
  AND (%(since)s::timestamptz IS NULL OR reported_at >= %(since)s)
  AND (%(until)s::timestamptz IS NULL OR reported_at < %(until)s)
  AND (cardinality(%(categories)s::text[]) = 0 OR category = ANY(%(categories)s::text[]))
  AND (cardinality(%(severities)s::smallint[]) = 0 OR severity = ANY(%(severities)s::smallint[]))
"""


def _windows(now: datetime) -> dict[str, dict]:
    midnight = datetime.combine(now.date(), time(0), BEIJING)
    return {
        "all time": {},
        "whole days": {"since": midnight - timedelta(days=12), "until": midnight - timedelta(days=2)},
        "part days at both ends": {"since": now - timedelta(days=9, minutes=13), "until": now - timedelta(hours=30)},
        "since only": {"since": now - timedelta(days=20, hours=5)},
        "until only": {"until": midnight - timedelta(days=3, hours=-7)},
        "inside a day": {"since": midnight - timedelta(days=4, hours=-3), "until": midnight - timedelta(days=4, hours=-9)},
    }


def _raw(monkeypatch):
    monkeypatch.setattr(windows, "reads_cube", lambda filters: False)


@pytest.mark.parametrize("window", ["all time", "whole days", "part days at both ends", "since only", "until only",
                                    "inside a day"])
def test_the_bounded_count_equals_the_incidents_count(city, monkeypatch, window):
    _, _, now = city
    bounded_somewhere = False
    for box_name, box in BOXES.items():
        for scope in SCOPES:
            for extra in ({}, {"categories": ("dispute", "fire_safety")}):
                filters = Filters(bbox=box, **_windows(now)[window], **extra)
                with db.scoped(scope):
                    params = {**incidents.incident_params(filters, scope), "severities": [],
                              "west": box[0], "south": box[1], "east": box[2], "north": box[3]}
                    exact = db.fetch_all(RECOUNT, params)[0]["n"]
                    floor = incidents._floor(filters, params)
                    cubed = [incidents.count(filters, scope, cap) for cap in CAPS]
                    with monkeypatch.context() as m:
                        _raw(m)
                        assert incidents._floor(filters, params) == 0
                        raw = [incidents.count(filters, scope, cap) for cap in CAPS]
                assert 0 <= floor <= exact, (window, box_name, scope, extra)
                assert cubed == raw == [(min(exact, cap - 1), exact >= cap) for cap in CAPS], \
                    (window, box_name, scope, extra)
                bounded_somewhere |= floor >= 7
    if window not in ("inside a day",):
        assert bounded_somewhere  # the cube answered some of them: the test compares two ways, not one


def test_a_severity_filter_is_counted_from_the_incidents_only(city):
    _, _, now = city
    filters = Filters(bbox=CITY, severities=(2, 3))
    assert not windows.reads_cube(filters)
    with db.scoped(Scope.everything()):
        params = {**incidents.incident_params(filters, Scope.everything()),
                  "west": CITY[0], "south": CITY[1], "east": CITY[2], "north": CITY[3]}
        exact = db.fetch_all(RECOUNT, params)[0]["n"]
        assert incidents._floor(filters, params) == 0
        assert incidents.count(filters, Scope.everything(), 5) == (min(exact, 4), exact >= 5)
