"""Callback answers: orjson in one pass gives exactly what Dash's own encoder gives, and Dash uses it."""

from __future__ import annotations

import json
import math
from datetime import date, datetime, timedelta, timezone

import dash._callback
import numpy as np
import pandas as pd
import pytest
from dash import dcc, html
from plotly.io.json import to_json_plotly

from dashboard import serialize
from tests.dashboard.test_access import GOOD, MAP_OUTPUTS, _inputs_and_state

HEXES = {"type": "FeatureCollection", "features": [
    {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[[120.1 + i / 1e3, 30.2], [120.2, 30.3],
                                                                         [120.1, 30.3], [120.1 + i / 1e3, 30.2]]]},
     "properties": {"h3": f"8831aa{i:04x}ffffff", "count": i, "tooltip": f"事件: {i}<br>H3 r8 </script>"}}
    for i in range(200)]}
LEGEND = [html.H2("事件 · r8"), html.Div([html.Span(className="swatch", style={"background": "#fee5d9"}),
                                          html.Span("1–3")], className="legend-row"),
          dcc.Markdown("a *b*"), html.Div([html.Div(html.B(f"{n:,}")) for n in range(3)])]
PAYLOADS = {
    "map answer": {"multi": True, "response": {"explore-hexes": {"data": HEXES, "hideout": {"breaks": [1, 3, 7]}},
                                               "explore-legend": {"children": LEGEND}}},
    "numbers": {"a": np.arange(5), "b": np.float64(0.1), "c": np.int64(7), "d": [math.nan, math.inf, -0.0],
                "e": np.array([1.5, 2.5])},
    "times": {"at": datetime(2026, 11, 29, 8, 30, 1, 250, tzinfo=timezone(timedelta(hours=8))),
              "naive": datetime(2026, 11, 29, 8, 30), "day": date(2026, 11, 29)},
    "text": {"line": "a\u2028b\u2029c", "html": "<b>&amp;</b>", "keys": {1: "one", 2.5: "two"}},
    "pandas (falls back)": {"t": pd.Timestamp("2026-11-29T08:00"), "s": pd.Series([1, 2]), "legend": LEGEND},
    "nothing": None,
}


@pytest.mark.parametrize("name", list(PAYLOADS))
def test_the_encoding_is_exactly_dashs_own(name):
    assert serialize.to_json(PAYLOADS[name]) == to_json_plotly(PAYLOADS[name])


def test_a_value_neither_can_encode_fails_as_before():
    with pytest.raises(Exception) as ours:
        serialize.to_json({"x": object()})
    with pytest.raises(Exception) as theirs:
        to_json_plotly({"x": object()})
    assert type(ours.value) is type(theirs.value)


def test_the_served_dashboard_answers_callbacks_through_it(database_url, monkeypatch):
    from dashboard.app import create_app

    app = create_app()
    assert dash._callback.to_json is serialize.to_json
    seen = []

    def spy(value):
        seen.append(value)
        return serialize.to_json(value)

    monkeypatch.setattr(dash._callback, "to_json", spy)
    inputs, state = _inputs_and_state(GOOD)
    body = {"output": ".." + "...".join(f"{i}.{p}" for i, p in MAP_OUTPUTS) + "..",
            "outputs": [{"id": i, "property": p} for i, p in MAP_OUTPUTS],
            "inputs": [{"id": i, "property": p, "value": v} for i, p, v in inputs],
            "state": [{"id": i, "property": p, "value": v} for i, p, v in state],
            "changedPropIds": ["explore-moved.data"]}
    response = app.server.test_client().post("/_dash-update-component", json=body)
    assert response.status_code == 200
    assert len(seen) == 1 and json.loads(response.get_data(as_text=True)) == json.loads(serialize.to_json(seen[0]))
    assert "explore-legend" in seen[0]["response"]
