"""New data on screen within seconds, without recomputing a page every few seconds.

Every ``SHIYU_LIVE_PROBE_S`` seconds (2) a page asks one cheap question, the data's version
(``geodata/version.py``: one row, moved by each committing batch). Only when the version differs from the one the
page's heavy callbacks last drew does the probe write ``<page>-changed``, which is an input of those callbacks;
they write the version they read (before their data, so a batch committing in between is drawn again, never
missed) to ``<page>-shown``. An idle page therefore sends one small request per probe and nothing heavy.

The wall's periodic refresh goes through the same store (``periodic``), so the heavy callbacks have one input that
moves and are never held back by a probe in flight: Dash waits for a callback whose output is another's input, and
a refresh held back past the next tick is dropped.

The probe is a callback of the page's own module, so a wall's display token reaches it as it reaches the wall's
other callbacks (``dashboard/purposes.py``); it needs no route of its own.
"""

from __future__ import annotations

import logging
import math
import time

from dash import dcc
from dash.exceptions import PreventUpdate

from geodata.errors import ShiyuError
from geodata.settings import settings
from geodata.version import data_version

log = logging.getLogger(__name__)

MIN_PROBE_S = 0.5
PAGES = ("wall", "explore")
# The probes' callbacks by their output, which Dash dispatches on: dashboard/limits.py counts them as the cheap
# requests they are.
PROBE_OUTPUTS = frozenset(f"{page}-changed.data" for page in PAGES)
# How long the wall marks what arrived (the ticker's tag, the pulse on the map); wall.css's animations match it.
NEW_FOR_S = 20


def probe_ms() -> int:
    return int(max(settings().live_probe_s, MIN_PROBE_S) * 1000)


def probe(page: str) -> list:
    """The probe's timer and the two stores of the page ``page`` (one of ``PAGES``)."""
    if page not in PAGES:
        raise ValueError(f"no probe for page {page!r}; pages: {', '.join(PAGES)}")
    return [dcc.Interval(id=f"{page}-probe", interval=probe_ms()),
            dcc.Store(id=f"{page}-changed", data=None), dcc.Store(id=f"{page}-shown", data=None)]


def version_now() -> int | None:
    """The data's version, or None when the database cannot say (the page's own refresh reports that)."""
    try:
        return data_version()
    except ShiyuError as error:
        log.info("live: no data version: %s", error)
        return None


def _version(value) -> int | None:
    """A version the browser sends back (a store), which a tampered request can set to anything: kept only when
    it is a whole number."""
    # JSON numbers beyond 64 bits cannot be sent back: a larger one is no version.
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63 else None


def asked_for(asked) -> tuple[int, int | None, float]:
    """``<page>-changed`` as the browser sends it back: (the periodic refresh's count, the version asked for, when
    it was asked, in seconds since the epoch; 0 when unknown)."""
    if not isinstance(asked, dict):
        return 0, None, 0.0
    tick, at = asked.get("tick"), asked.get("at")
    at = float(at) if isinstance(at, (int, float)) and not isinstance(at, bool) and math.isfinite(at) else 0.0
    return (tick if _version(tick) is not None else 0), _version(asked.get("version")), at


def periodic(ticks, asked) -> dict:
    """``<page>-changed`` for the page's periodic refresh (clock-driven numbers such as overdue counts): always a new
    value, and without asking the database, so a database that is down delays nothing."""
    return {"tick": _version(ticks) or 0, "version": asked_for(asked)[1], "at": time.time()}


def changed(shown, asked) -> dict:
    """``<page>-changed`` when the data's version moved past what the page shows (``shown``), was not asked for
    already, and the last redraw asked is ``SHIYU_LIVE_MIN_REDRAW_S`` old; PreventUpdate otherwise, and while the
    page has not drawn anything yet."""
    shown = _version(shown)
    tick, asked_version, at = asked_for(asked)
    if shown is None or time.time() - at < settings().live_min_redraw_s:
        raise PreventUpdate
    version = version_now()
    if version is None or version == shown or version == asked_version:
        raise PreventUpdate
    return {"tick": tick, "version": version, "at": time.time()}


def arrival_points(arrived: list[dict]) -> dict:
    """The places of what just arrived (``layers.panels.arrivals``) for the wall map's pulse (wall.js ``wallNew``;
    ``age`` starts it part-way)."""
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [a["lon"], a["lat"]]},
         "properties": {"age": a["age_s"]}} for a in arrived]}
