"""The pages' data-version probe (dashboard/components/live.py): when it asks for a redraw, and what it costs a user."""

import time

import pytest
from dash.exceptions import PreventUpdate

from dashboard.components import live
from dashboard.limits import PROBE_COST, TILE_COST, kind_of
from geodata.version import data_version


def test_the_probe_asks_for_a_redraw_only_when_the_version_moved_past_what_is_shown_and_was_not_asked(sample_db):
    now = data_version()
    answer = live.changed(now - 1, {"tick": 4, "version": None})
    assert (answer["tick"], answer["version"]) == (4, now) and answer["at"] <= time.time()
    with pytest.raises(PreventUpdate):
        live.changed(now, None)  # drawn at this version already
    with pytest.raises(PreventUpdate):
        live.changed(now - 1, {"tick": 4, "version": now})  # asked for, the redraw still running
    with pytest.raises(PreventUpdate):
        live.changed(None, None)  # nothing drawn yet: the first draw is the periodic one's
    with pytest.raises(PreventUpdate):  # redrawn a moment ago: the next waits SHIYU_LIVE_MIN_REDRAW_S
        live.changed(now - 1, {"tick": 4, "version": now - 1, "at": time.time() - 1})
    assert live.changed(now - 1, {"tick": 4, "version": now - 1, "at": time.time() - 6})["version"] == now


@pytest.mark.parametrize("tampered", ["7", 7.5, True, [1], {"version": "x", "at": "y"}, {"at": float("nan")}, None])
def test_tampered_stores_are_read_as_nothing(sample_db, tampered):
    with pytest.raises(PreventUpdate):
        live.changed(tampered, None)
    assert live.asked_for(tampered) == (0, None, 0.0)
    assert live.periodic(tampered, tampered)["tick"] == 0 and live.periodic(tampered, tampered)["version"] is None


def test_the_periodic_refresh_always_writes_a_new_value_keeping_the_version_asked(sample_db):
    answer = live.periodic(3, {"tick": 2, "version": 41, "at": 0})
    assert (answer["tick"], answer["version"]) == (3, 41) and answer["at"] <= time.time()


def test_a_probe_is_a_cheap_request_of_its_own_kind_and_other_callbacks_are_not(app_request):
    for output in live.PROBE_OUTPUTS:
        assert kind_of(app_request({"output": output})) == "probe"
    assert kind_of(app_request({"output": "..wall-kpi-today.children...wall-kpi-open.children.."})) == "callback"
    assert kind_of(app_request({"output": "..wall-changed.data...wall-kpi-open.children.."})) == "callback"
    assert PROBE_COST < TILE_COST < 1


@pytest.fixture
def app_request():
    import flask

    app = flask.Flask(__name__)
    contexts = []

    def make(body):
        context = app.test_request_context("/_dash-update-component", method="POST", json=body)
        context.push()
        contexts.append(context)
        return flask.request._get_current_object()
    yield make
    for context in reversed(contexts):
        context.pop()
