"""A callback that hands the layers the wrong scope still reads only its own: row-level security under db.scoped.

Each layer is built twice on the five-tier city: as the owner with the right scope (district C1), and as
shiyu_app scoped to C1 but handed ``Scope.everything()``, the bug a callback could have.
"""

from __future__ import annotations

from datetime import timedelta

import orjson
import pytest

from geodata import db
from geodata.errors import InputError
from geodata.scope import Scope
from layers import detail, incidents, panels
from layers.base import BEIJING, Filters
from layers.registry import LAYERS, build
from tests.layers.tiers import CITY

C1 = Scope("C.C1")
WRONG = Scope.everything()


def _features(result) -> list[bytes]:
    """The features in an order of their own (two equal answers may come in different row orders)."""
    return sorted(orjson.dumps(f, option=orjson.OPT_SORT_KEYS) for f in result.features)


def _codes(result) -> set[str]:
    return {f["properties"].get("grid_code") or f["properties"].get("code") for f in result.features} - {None}


@pytest.mark.parametrize("layer", list(LAYERS))
@pytest.mark.parametrize("windowed", [False, True], ids=["all-time", "7-days"])
def test_every_layer_under_the_wrong_app_scope_shows_only_the_database_scope(city, layer, windowed):
    _, _, now = city
    since = now - timedelta(days=7) if windowed else None
    filters = Filters(bbox=CITY, zoom=11, res=8, tier="grid", since=since, until=now if windowed else None)
    expected = build(layer, filters, C1)
    with db.scoped(C1):
        got = build(layer, filters, WRONG)
    db.close_pool()
    assert all(code.startswith("C1") for code in _codes(got)), _codes(got)
    assert _codes(got) == _codes(expected)
    assert _features(got) == _features(expected)
    assert got.legend == expected.legend


@pytest.mark.parametrize("layer", ["areas", "hexes", "hotspots", "coverage"])
def test_the_wrong_scope_does_leak_without_row_security(city, layer):
    """What the test above guards against: the owner, handed the wrong scope, shows the other district."""
    leaked = _codes(build(layer, Filters(bbox=CITY, zoom=11, res=8, tier="grid"), WRONG))
    assert any(code.startswith("C2") for code in leaked)


def test_the_incident_table_and_the_panels_count_only_the_scope(city):
    filters = Filters(bbox=CITY)
    expected = incidents.page(filters, C1, 0, 100)
    everything = incidents.page(filters, WRONG, 0, 100)
    with db.scoped(C1):
        got = incidents.page(filters, WRONG, 0, 100)
        headline = panels.headline(filters, WRONG)
        latest = panels.latest_incidents(filters, WRONG, n=50)
    assert got.total == expected.total < everything.total
    assert all(r["grid_code"].startswith("C1") for r in got.rows)
    assert headline == panels.headline(filters, C1)
    assert all(r["grid_code"].startswith("C1") for r in latest)


def test_an_area_outside_the_database_scope_is_not_there(city):
    with db.scoped(C1), pytest.raises(InputError, match="no area 'C2' in your scope"):
        build("hexes", Filters(bbox=CITY, area_code="C2"), WRONG)
    with db.scoped(C1):
        assert [a["code"] for a in detail.area_chain("C11", WRONG)] == ["C", "C1", "C11"]
        assert {a["code"] for a in detail.area_children(None, WRONG)} <= {"C1"}


def test_emerging_without_an_end_takes_its_weeks_from_the_newest_incident_of_the_scope(city):
    from layers.emerging import week_bins

    def last_bin(newest):
        local = newest.astimezone(BEIJING).date()
        return local - timedelta(days=local.weekday(), weeks=1)

    newest = {path: db.fetch_all("SELECT max(reported_at) AS t FROM shiyu.incident WHERE path <@ %(p)s::ltree",
                                 {"p": path})[0]["t"] for path in ("C", "C.C1", "C.C2")}
    assert week_bins(Filters(), 2, WRONG)[-1] == last_bin(newest["C"])
    assert week_bins(Filters(), 2, C1)[-1] == last_bin(newest["C.C1"])
    assert week_bins(Filters(area_code="C2"), 2, WRONG)[-1] == last_bin(newest["C.C2"])
    with db.scoped(C1):  # held to C1 by row security, whatever scope the call is handed
        assert week_bins(Filters(), 2, WRONG)[-1] == last_bin(newest["C.C1"])
