"""Callback answers encoded by orjson in one pass, Dash components included.

Dash encodes every callback answer with plotly's ``to_json_plotly``, which tries orjson first but falls back to
walking the whole answer in Python (``clean_to_json_compatible``) as soon as orjson meets a value it does not
know. Any Dash component does that — and the map's answer carries its legend as components next to the
GeoJSON, so a city-wide map's 1.3 MB took 145 ms to encode instead of 5 ms. Here orjson calls a component's own
``to_plotly_json`` (what the fallback calls too) and everything else is encoded as orjson encodes it on plotly's
fast path; the same characters are escaped (``<``, ``>``, ``/``, U+2028, U+2029). A value orjson cannot encode
either way goes to plotly's function as before.

``install()`` points Dash's callback dispatch at ``to_json``. Dash looks the name up in its ``_callback`` module
at each request, so that is the name replaced; a test checks that a served answer went through it.
"""

from __future__ import annotations

import dash._callback
import dash._utils
import orjson

_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY
_ESCAPES = (("<", "\\u003c"), (">", "\\u003e"), ("/", "\\u002f"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029"))
_plotly_to_json = dash._utils.to_json


def _component(value):
    if hasattr(value, "to_plotly_json"):
        return value.to_plotly_json()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def to_json(value) -> str:
    """``value`` as Dash's own encoder would write it, in a fraction of the time."""
    try:
        text = orjson.dumps(value, default=_component, option=_OPTIONS).decode("utf8")
    except TypeError:  # pandas, PIL, …: what plotly's cleaning knows and orjson does not
        return _plotly_to_json(value)
    for unsafe, safe in _ESCAPES:
        if unsafe in text:
            text = text.replace(unsafe, safe)
    return text


def install() -> None:
    dash._callback.to_json = to_json
