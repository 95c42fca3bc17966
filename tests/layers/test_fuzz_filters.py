"""Property tests over the filters a user can send: whatever arrives, a layer answers or refuses with an
InputError, and nothing it answers lies outside the scope — asked with the right scope, and inside a scoped
transaction even when the layer is handed the wrong one."""

from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from geodata import db
from geodata.errors import InputError
from geodata.scope import Scope
from geodata.taxonomy import CATEGORIES, STATUSES
from layers import incidents
from layers.base import BEIJING, Filters
from layers.registry import LAYERS, build

C1 = Scope("C.C1")
C1_GRIDS = "C1"  # every grid code under district C1 starts so (tests/layers/tiers.py)

# Mostly values the page offers, sometimes what a tampered request might hold instead.
ODD = ["", " ", "火灾?", "x' OR '1'='1", "../..", "\x00"]
CATEGORY = st.sampled_from(list(CATEGORIES) + ODD[:3])
STATUS = st.sampled_from(list(STATUSES) + ODD[3:])
SEVERITY = st.sampled_from([1, 2, 3, 4, 1, 2, 3, 4, 0, 9])
AREA = st.sampled_from([None, None, "C1", "C12", "C121", "C1212", "C2", "C21", "C", *ODD])
BOX = st.tuples(st.floats(119.9, 120.45), st.floats(29.9, 30.45), st.floats(0.001, 0.5), st.floats(0.001, 0.5))


def _filters(box, res, tier, area, days, categories, severities, statuses) -> dict:
    west, south, width, height = box
    until = datetime.now(BEIJING) + timedelta(hours=1)
    return {"bbox": (west, south, west + width, south + height), "res": res, "tier": tier, "zoom": 12,
            "area_code": area, "since": until - timedelta(days=days) if days else None, "until": until if days else None,
            "categories": tuple(categories), "severities": tuple(severities), "statuses": tuple(statuses)}


FILTERS = st.builds(_filters, BOX, st.sampled_from([7, 8, 9, 7, 8, 9, 0, 16]),
                    st.sampled_from(["district", "street", "community", "grid", "town"]), AREA,
                    st.one_of(st.none(), st.integers(1, 60)), st.lists(CATEGORY, max_size=2),
                    st.lists(SEVERITY, max_size=2), st.lists(STATUS, max_size=2))


def _grid_codes(result) -> set:
    return {f["properties"].get("grid_code") for f in result.features} - {None}


def _outside_c1(codes) -> set:
    return {code for code in codes if not str(code).startswith(C1_GRIDS)}


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(sorted(set(LAYERS) - {"warnings"})), FILTERS)
def test_any_filters_give_features_inside_the_scope_or_an_input_error(city, layer, values):
    try:
        filters = Filters(**values)
    except InputError:
        return
    try:
        result = build(layer, filters, C1)
    except InputError as error:
        assert str(error)
        return
    assert _outside_c1(_grid_codes(result)) == set()
    # Row security holds a layer handed the whole database to the scope of its transaction.
    with db.scoped(C1):
        try:
            wrong = build(layer, filters, Scope.everything())
        except InputError:
            return
    assert _outside_c1(_grid_codes(wrong)) == set()
    event("answered")  # hypothesis --hypothesis-show-statistics: how many examples got this far


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(FILTERS, st.integers(-5, 600), st.integers(-5, 600),
       st.lists(st.fixed_dictionaries({"colId": st.sampled_from(["reported_at", "severity", "grid_code", "pii", *ODD]),
                                       "sort": st.sampled_from(["asc", "desc", "DESC", *ODD])}), max_size=2))
def test_any_table_request_gives_rows_inside_the_scope_or_an_input_error(city, values, start, end, sort):
    try:
        filters = Filters(**values)
        with db.scoped(C1):
            page = incidents.page(filters, Scope.everything(), start, end, sort)
    except InputError as error:
        assert str(error)
        return
    assert _outside_c1({row["grid_code"] for row in page.rows} - {None}) == set()
    assert all(row["grid_code"] is not None for row in page.rows)  # an incident in no grid is no district's


@pytest.mark.parametrize("area", ["C2", "C21", "C2212", "x' OR '1'='1", "C.C2"])
def test_an_area_outside_the_scope_is_refused_as_if_it_did_not_exist(city, area):
    with pytest.raises(InputError, match="in your scope"):
        build("hexes", Filters(area_code=area, res=8), C1)
