"""What every layer takes and returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from geodata.errors import InputError
from geodata.scope import Scope
from geodata.h3cells import RESOLUTIONS

# (west, south, east, north) in degrees
BBox = tuple[float, float, float, float]
WHOLE_WORLD: BBox = (-180.0, -90.0, 180.0, 90.0)


@dataclass(frozen=True)
class Filters:
    """What the user asked to see; every layer reads the parts it needs."""

    bbox: BBox = WHOLE_WORLD
    zoom: float = 12
    res: int = 8
    tier: str = "grid"
    area_code: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    categories: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        west, south, east, north = self.bbox
        if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
            raise InputError(f"bbox {self.bbox} is not west, south, east, north in degrees")
        if self.res not in RESOLUTIONS:
            raise InputError(f"H3 resolution {self.res} is not one of {RESOLUTIONS}")


@dataclass
class LegendEntry:
    label: str
    colour: str


@dataclass
class LayerResult:
    """A FeatureCollection, its legend and numbers that summarise it."""

    features: list[dict]
    legend: list[LegendEntry] = field(default_factory=list)
    summary: dict = field(default_factory=dict)
    style: dict = field(default_factory=dict)  # what the browser-side style function needs (breaks, colours)

    def geojson(self) -> dict:
        return {"type": "FeatureCollection", "features": self.features}


CUBE_RESOLUTIONS = (7, 8)


def weekly_cube_covers(filters: Filters, scope: Scope) -> bool:
    """Whether ``shiyu.incident_week`` can answer: a coarse resolution, the whole city, no time window."""
    return filters.res in CUBE_RESOLUTIONS and scope.path is None and filters.since is None and filters.until is None
