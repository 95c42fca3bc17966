"""The wall's panels read from the cubes (the street roll-up, or the day cube below a street; today and the incidents
in no grid from the incidents) equal the same panels read from the incidents alone, for any scope, categories,
window length and time of day."""

from datetime import datetime, time, timedelta

import pytest

from etl.load import load_incidents
from geodata import db
from geodata.scope import Scope
from layers import panels, windows
from layers.base import BEIJING, Filters
from tests.helpers import write_csv

OUTSIDE = [(120.41, 30.2), (120.2, 29.99), (119.99, 30.1)]  # inside the extent (0.02° around the city), in no grid


@pytest.fixture(scope="module")
def gapped_city(city, tmp_path_factory):
    """The five-tier city plus incidents in no grid over the last two weeks, and some reported today."""
    _, _, now = city
    rows = [[f"G{i}", ("dispute", "fire_safety", "public_order")[i % 3],
             f"{now - timedelta(hours=7 * i + 1):%Y-%m-%d %H:%M:%S}", *OUTSIDE[i % 3], ("reported", "closed")[i % 2]]
            for i in range(48)]
    summary = load_incidents(write_csv(tmp_path_factory.mktemp("gaps") / "gaps.csv", rows,
                                       header=("id", "category", "reported_at", "lon", "lat", "status")), source="gaps")
    assert summary.loaded == 48 and any("no grid" in note for note in summary.notes), summary
    return now


def _raw(monkeypatch):
    monkeypatch.setattr(windows, "reads_cube", lambda filters: False)


def _nows(now: datetime) -> dict[str, datetime]:
    midnight = datetime.combine(now.date(), time(0), BEIJING)
    noon = midnight + timedelta(hours=12)
    return {"now": now, "mid-day, days ago": now - timedelta(days=3, hours=5, minutes=7), "a midnight": midnight,
            "just after midnight": midnight + timedelta(minutes=1),
            # the last noon passed: a day half gone whatever the clock says (the city's incidents stop an hour
            # before the real now, so just after midnight "now" has none reported today)
            "the last noon": noon if noon <= now - timedelta(hours=1) else noon - timedelta(days=1)}


CASES = (
    ("city", Scope.everything(), {}),
    ("city, two categories", Scope.everything(), {"categories": ("dispute", "fire_safety")}),
    ("a district", Scope("C.C1"), {}),
    ("a district chosen", Scope.everything(), {"area_code": "C2"}),
    ("a street", Scope("C.C1.C11"), {"categories": ("public_order",)}),
    ("a street chosen", Scope.everything(), {"area_code": "C21"}),
    ("a community", Scope("C.C1.C11.C111"), {}),
)


def _panels(filters, scope, now, days):
    return (panels.headline(filters, scope, now=now, days=days), panels.daily_trend(filters, scope, days, now),
            panels.category_breakdown(filters, scope, days, now))


@pytest.mark.parametrize("moment", ["now", "mid-day, days ago", "a midnight", "just after midnight", "the last noon"])
@pytest.mark.parametrize("days", [30, 7, 1])
def test_cubes_and_incidents_give_the_same_panels(gapped_city, monkeypatch, moment, days):
    now = _nows(gapped_city)[moment]
    for name, scope, extra in CASES:
        filters = Filters(**extra)
        assert windows.reads_cube(filters)
        with db.scoped(scope):
            cubed = _panels(filters, scope, now, days)
            with monkeypatch.context() as m:
                _raw(m)
                raw = _panels(filters, scope, now, days)
        assert cubed == raw, (name, moment, days)
        if name == "city" and days == 30 and moment == "the last noon":
            assert cubed[0]["today"] > 0 and cubed[0]["overdue"] > 0 and cubed[0]["open"] > cubed[0]["overdue"]
            assert len(cubed[2]) >= 5 and sum(n for _, n in cubed[2]) == sum(n for _, n in cubed[1])


def test_the_city_counts_the_incidents_in_no_grid_and_a_district_does_not(gapped_city):
    now = gapped_city
    with db.scoped(Scope.everything()):
        city = panels.headline(Filters(), Scope.everything(), now=now, days=30)
        gaps = db.fetch_all("SELECT count(*) AS n FROM shiyu.incident WHERE path IS NULL AND reported_at < %(now)s",
                            {"now": now})[0]["n"]
    with db.scoped(Scope("C.C1")):
        c1 = panels.headline(Filters(), Scope("C.C1"), now=now, days=30)
    with db.scoped(Scope("C.C2")):
        c2 = panels.headline(Filters(), Scope("C.C2"), now=now, days=30)
    assert gaps > 0 and city["recent"] == c1["recent"] + c2["recent"] + gaps


def test_a_severity_or_status_filter_reads_the_incidents(gapped_city):
    assert not windows.reads_cube(Filters(severities=(4,))) and not windows.reads_cube(Filters(statuses=("reported",)))
    now = gapped_city
    with db.scoped(Scope.everything()):
        serious = panels.headline(Filters(severities=(4,)), Scope.everything(), now=now)
        n = db.fetch_all("SELECT count(*) AS n FROM shiyu.incident WHERE severity = 4 AND reported_at < %(now)s "
                         "AND reported_at >= %(first)s", {"now": now, "first": datetime.combine(
                             now.date() - timedelta(days=29), time(0), BEIJING)})[0]["n"]
    assert serious["recent"] == n > 0
