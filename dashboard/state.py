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

from geodata.h3cells import RESOLUTIONS
from geodata.taxonomy import CATEGORIES, STATUSES
from layers.base import SEVERITIES, day_window

LAYERS = ("areas", "hexes", "hotspots", "emerging", "coverage", "facilities", "warnings")
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


def _many(query: dict, key: str, known) -> tuple:
    raw = _one(query, key) or ""
    picked = []
    for part in raw.split(","):
        part = part.strip()
        value = int(part) if part.isdecimal() and known is SEVERITIES else part  # isdigit() passes "²", int() does not
        if value in known and value not in picked:
            picked.append(value)
    return tuple(picked)


def _day(query: dict, key: str) -> date | None:
    try:
        day = date.fromisoformat(_one(query, key) or "")
    except ValueError:
        return None
    return day if day < date.max else None  # an inclusive until ends at the next midnight, which date.max lacks


def _number(query: dict, key: str, low: float, high: float) -> float | None:
    try:
        value = float(_one(query, key) or "nan")
    except ValueError:
        return None
    return value if low <= value <= high else None


def parse(query: dict | str) -> ViewState:
    """The state in a URL query: a dict as Dash passes page arguments, or the ``?…`` string itself."""
    if isinstance(query, str):
        query = parse_qs(query.lstrip("?"))
    layer = _one(query, "layer")
    res = _one(query, "res")
    area = _one(query, "area")
    since, until = _day(query, "since"), _day(query, "until")
    if since and until and since > until:
        since, until = until, since
    lat, lon = _number(query, "lat", -90, 90), _number(query, "lon", -180, 180)
    return ViewState(
        lang=_one(query, "lang") if _one(query, "lang") in LANGS else None,
        layer=layer if layer in LAYERS else "hexes",
        res=int(res) if res in {str(r) for r in RESOLUTIONS} else None,
        area=area if area and area.replace("_", "").isalnum() and len(area) <= 64 else None,
        since=since, until=until,
        categories=_many(query, "cat", CATEGORIES), severities=_many(query, "sev", SEVERITIES),
        statuses=_many(query, "status", STATUSES),
        lat=lat if lon is not None else None, lon=lon if lat is not None else None,
        zoom=_number(query, "z", 0, 22) if lat is not None and lon is not None else None,
    )
