"""The state of a view as the URL holds it, so a view can be shared, reloaded and exported.

``?lang=en&layer=hotspots&res=9&area=330106&since=2026-10-01&until=2026-10-31&cat=dispute,fire_safety&sev=3,4
&status=reported&lat=30.25&lon=120.15&z=13`` — every key optional. Days are Beijing calendar days and
``until`` is inclusive. A value the page cannot use is dropped, not an error page: a shared link
outlives taxonomy changes, and a typo in one key should not cost the rest of the view.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date
from urllib.parse import parse_qs, urlencode

from geodata.errors import InputError
from geodata.h3cells import RESOLUTIONS
from geodata.taxonomy import CATEGORIES, STATUSES
from layers.base import SEVERITIES, day_window, held_day

LAYERS = ("areas", "hexes", "hotspots", "emerging", "coverage", "facilities", "warnings", "supervision")
LANGS = ("zh-CN", "en")


@dataclass(frozen=True)
class ViewState:
    lang: str | None = None
    layer: str = "hexes"
    res: int | None = None  # None: follow the zoom
    area: str | None = None
    since: date | None = None
    until: date | None = None  # inclusive
    categories: tuple[str, ...] = ()
    severities: tuple[int, ...] = ()
    statuses: tuple[str, ...] = ()
    lat: float | None = None
    lon: float | None = None
    zoom: float | None = None

    def filter_args(self) -> dict:
        """The keyword arguments of ``layers.base.Filters`` this state sets (not the view box, zoom or tier)."""
        since, until = day_window(self.since, self.until)
        return {
            "area_code": self.area, "since": since, "until": until,
            "categories": self.categories, "severities": self.severities, "statuses": self.statuses,
        }

    def query(self, **changes) -> str:
        """The URL query of this state with ``changes`` applied, defaults left out: ``?layer=…`` or ``""``."""
        state = dataclasses.replace(self, **changes)
        pairs = {
            "lang": state.lang, "layer": None if state.layer == "hexes" else state.layer, "res": state.res,
            "area": state.area, "since": state.since, "until": state.until,
            "cat": ",".join(state.categories), "sev": ",".join(map(str, state.severities)),
            "status": ",".join(state.statuses),
            "lat": None if state.lat is None else f"{state.lat:.5f}",
            "lon": None if state.lon is None else f"{state.lon:.5f}",
            "z": None if state.zoom is None else f"{state.zoom:g}",
        }
        kept = {key: value for key, value in pairs.items() if value not in (None, "")}
        return "?" + urlencode(kept, safe=",") if kept else ""


def _one(query: dict, key: str) -> str | None:
    value = query.get(key)
    if isinstance(value, list):
        value = value[-1] if value else None
    return value.strip() if isinstance(value, str) and value.strip() else None


def _many(query: dict, key: str, known, what: str, problems: list[str]) -> tuple:
    raw = _one(query, key) or ""
    picked, unknown = [], []
    for part in raw.split(","):
        part = part.strip()
        value = int(part) if part.isdecimal() and known is SEVERITIES else part  # isdigit() passes "²", int() does not
        if value in known:
            picked += [value] if value not in picked else []
        elif part:
            unknown.append(part)
    if unknown:
        problems.append(f"unknown {what} {', '.join(unknown)}; known: {', '.join(map(str, known))}")
    return tuple(picked)


def _day(query: dict, key: str, problems: list[str]) -> date | None:
    text = _one(query, key)
    try:
        day = date.fromisoformat(text or "")
    except ValueError:
        problems += [f"{key} '{text}' is not a day like 2026-10-01"] if text else []
        return None
    try:
        return held_day(day, key)
    except InputError as error:
        problems.append(str(error))
        return None


def _number(query: dict, key: str, low: float, high: float) -> float | None:
    try:
        value = float(_one(query, key) or "nan")
    except ValueError:
        return None
    return value if low <= value <= high else None


def parse(query: dict | str, strict: bool = False) -> ViewState:
    """The state in a URL query: a dict as Dash passes page arguments, or the ``?…`` string itself.

    A filter value the page cannot use is dropped; with ``strict`` it is refused instead (``InputError`` naming
    every such value), for the export page, where a filter quietly dropped would widen the file. The view keys
    (``lang``, ``layer``, ``lat``, ``lon``, ``z``) are never refused.
    """
    if isinstance(query, str):
        query = parse_qs(query.lstrip("?"))
    problems: list[str] = []
    layer = _one(query, "layer")
    res, area = _one(query, "res"), _one(query, "area")
    known_res = int(res) if res in {str(r) for r in RESOLUTIONS} else None
    if res is not None and known_res is None:
        problems.append(f"H3 resolution {res} is not one of {', '.join(map(str, RESOLUTIONS))}")
    code = area if area and area.replace("_", "").isalnum() and len(area) <= 64 else None
    if area is not None and code is None:
        problems.append(f"area '{area[:70]}' is not an area code")
    since, until = _day(query, "since", problems), _day(query, "until", problems)
    if since and until and since > until:
        since, until = until, since
    categories = _many(query, "cat", CATEGORIES, "category", problems)
    severities = _many(query, "sev", SEVERITIES, "severity", problems)
    statuses = _many(query, "status", STATUSES, "status", problems)
    if strict and problems:
        raise InputError("; ".join(problems))
    lat, lon = _number(query, "lat", -90, 90), _number(query, "lon", -180, 180)
    return ViewState(
        lang=_one(query, "lang") if _one(query, "lang") in LANGS else None,
        layer=layer if layer in LAYERS else "hexes",
        res=known_res, area=code,
        since=since, until=until, categories=categories, severities=severities, statuses=statuses,
        lat=lat if lon is not None else None, lon=lon if lat is not None else None,
        zoom=_number(query, "z", 0, 22) if lat is not None and lon is not None else None,
    )
