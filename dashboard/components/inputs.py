"""What a callback receives, checked before anything reads it.

dash-renderer sends JSON, and a tampered request can put any JSON in any input: a string for a zoom, a dict for
a list of categories, half a pair of bounds. Each function here gives the typed value or raises ``InputError``
with a message a person can read, so a callback answers with a notice instead of failing with a server error.
Membership (known categories, areas in scope) is left to ``layers.base.Filters``.
"""

from __future__ import annotations

import math
from datetime import date, datetime

from geodata.errors import InputError
from layers.base import BBox, held_day, held_moment

_SCALARS = (str, int, float)


def number(value, what: str, low: float, high: float) -> float:
    """A finite number in [low, high]."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or not low <= value <= high:
        raise InputError(f"{what} {str(value)[:40]!r} is not a number from {low:g} to {high:g}")
    return float(value)


def bbox(value, what: str = "the map's bounds") -> BBox:
    """Leaflet's ``[[south, west], [north, east]]`` as (west, south, east, north), clipped to the world."""
    if not (isinstance(value, (list, tuple)) and len(value) == 2
            and all(isinstance(corner, (list, tuple)) and len(corner) == 2 for corner in value)):
        raise InputError(f"{what} {str(value)[:60]!r} are not [[south, west], [north, east]]")
    (south, west), (north, east) = value
    south, north = (number(v, what, -1e3, 1e3) for v in (south, north))
    west, east = (number(v, what, -1e4, 1e4) for v in (west, east))
    return (max(-180.0, west), max(-90.0, south), min(180.0, east), min(90.0, north))


def box(value, what: str = "the view's box") -> BBox:
    """(west, south, east, north) as a list of four numbers."""
    if not (isinstance(value, (list, tuple)) and len(value) == 4):
        raise InputError(f"{what} {str(value)[:60]!r} is not [west, south, east, north]")
    west, east = (number(v, what, -180, 180) for v in (value[0], value[2]))
    south, north = (number(v, what, -90, 90) for v in (value[1], value[3]))
    return (west, south, east, north)


def text(value, what: str) -> str | None:
    """None, or a string without NUL bytes (no name or code holds one, and PostgreSQL text cannot)."""
    if value is not None and (not isinstance(value, str) or "\x00" in value):
        raise InputError(f"{what} {str(value)[:40]!r} is not text")
    return value or None


def choices(value, what: str) -> tuple:
    """A list of strings or numbers (None: none), each once, in order."""
    if value is None:
        return ()
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, _SCALARS) and not isinstance(v, bool) for v in value):
        raise InputError(f"{what} {str(value)[:60]!r} is not a list of values")
    return tuple(dict.fromkeys(value))


def day(value, what: str) -> date | None:
    """A ``YYYY-MM-DD`` day (a date picker may add a time), or None."""
    if value in (None, ""):
        return None
    try:
        if isinstance(value, str):
            return held_day(date.fromisoformat(value[:10]), what)
    except InputError:
        raise
    except ValueError:
        pass
    raise InputError(f"{what} {str(value)[:40]!r} is not a day like 2026-10-01")


def moment(value, what: str) -> datetime | None:
    """An ISO timestamp, or None."""
    if value is None:
        return None
    try:
        if isinstance(value, str):
            return held_moment(datetime.fromisoformat(value), what)
    except InputError:
        raise
    except ValueError:
        pass
    raise InputError(f"{what} {str(value)[:40]!r} is not a time")
