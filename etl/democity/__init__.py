"""The demo city: Hangzhou in five tiers, half a year of incidents, a week of patrols, as files.

:func:`generate` writes the files a city would hand over — GeoJSON and a
GeoPackage of areas, a CSV of facilities, four incident feeds (UTF-8, GCJ-02,
GBK, XLSX) and a CSV of patrol pings — and says how to load each through the
public loaders (``etl.load``), in order. The same seed and ``now`` give the
same bytes. ``manifest.json`` beside them records what was generated,
including how many bad rows of each kind every feed holds and which streets
are neglected. Which hotspots
emerge, and when, is told in :mod:`etl.democity.places`; the feeds and their
quirks in :mod:`etl.democity.feeds`.

Examples
--------
>>> from datetime import datetime, timezone
>>> files = generate(Path("var/demo"), incidents=5_000, grids=600, patrol_units=10,
...                  now=datetime(2026, 11, 22, 9, 0, tzinfo=timezone.utc))  # doctest: +SKIP
>>> [(f.kind, f.path.name, f.options) for f in files][:2]  # doctest: +SKIP
[('areas', 'city.geojson', {'tier': 'city'}), ('areas', 'districts.geojson', {'tier': 'district'})]
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

from etl.democity import facilities, feeds, hierarchy, patrols, places, textio
from geodata.errors import InputError

__all__ = ["DemoFile", "build_city", "generate", "neglect"]

SEED = 20261122
AREA_FILES = (("city", "city.geojson"), ("district", "districts.geojson"), ("street", "streets.geojson"),
              ("community", "communities.geojson"), ("grid", "grids.gpkg"))
AREA_PROPERTIES = ("code", "name", "parent_code")
GRID_PROPERTIES = AREA_PROPERTIES + ("owner_name", "owner_phone")
MIN_GRIDS, MIN_INCIDENTS = 100, 1_000


@dataclass(frozen=True)
class DemoFile:
    """One generated file and how to load it.

    ``kind`` is ``areas``, ``incidents``, ``facilities`` or ``patrols``;
    ``options`` are keyword arguments for the matching ``etl.load`` function
    (``load_areas(path, **options)`` and so on).
    """

    kind: str
    path: Path
    options: dict


def _now(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(timezone.utc).replace(second=0, microsecond=0)
    if now.tzinfo is None or now.utcoffset() is None:
        raise InputError(f"now must be timezone-aware, got {now.isoformat()}")
    return now


def _check(incidents: int, grids: int, patrol_units: int) -> None:
    if int(grids) != grids or grids < MIN_GRIDS:
        raise InputError(f"grids must be a whole number, {MIN_GRIDS} or more, not {grids}")
    if int(incidents) != incidents or incidents < MIN_INCIDENTS:
        raise InputError(f"incidents must be a whole number, {MIN_INCIDENTS:,} or more, not {incidents}")
    if int(patrol_units) != patrol_units or patrol_units < 0:
        raise InputError(f"patrol_units must be a whole number, 0 or more, not {patrol_units}")


def _write_areas(out_dir: Path, city: hierarchy.City, now: datetime) -> list[DemoFile]:
    top = pd.DataFrame({"code": [hierarchy.CITY_CODE], "name": [hierarchy.CITY_NAME], "parent_code": [""],
                        "geometry": [city.city]})
    frames = {"city": top, "district": city.districts, "street": city.streets, "community": city.communities,
              "grid": city.grids}
    files = []
    for tier, name in AREA_FILES:
        path = out_dir / name
        if path.suffix == ".gpkg":
            textio.write_gpkg(path, frames[tier], GRID_PROPERTIES, "grids", now)
            files.append(DemoFile("areas", path, {"tier": tier, "layer": "grids"}))
        else:
            textio.write_geojson(path, frames[tier], AREA_PROPERTIES)
            files.append(DemoFile("areas", path, {"tier": tier}))
    return files


def build_city(seed: int = SEED, grids: int = 10_000) -> hierarchy.City:
    """The city :func:`generate` writes for ``seed`` and ``grids`` (the live feed draws its places from it)."""
    area_seed = np.random.SeedSequence(seed).spawn(4)[0]
    return hierarchy.build_city(np.random.default_rng(area_seed), int(grids))


def neglect(city: hierarchy.City) -> tuple[list[int], shapely.Geometry]:
    """The positions of the streets of neglect in ``city.streets``, and their union."""
    neglected = places.neglected_streets(city.streets)
    return neglected, shapely.union_all(city.streets["geometry"].to_numpy()[neglected])


def _manifest(seed: int, grids: int, now: datetime, city: hierarchy.City, sites: pd.DataFrame, feed_counts: dict,
              patrol_summary: dict, neglected: list[int]) -> dict:
    unowned = (city.grids["owner_name"] == "") | (city.grids["owner_phone"] == "")
    return {
        "seed": seed,
        "now": now.isoformat(),
        "grids_asked": grids,
        "areas": {"district": len(city.districts), "street": len(city.streets),
                  "community": len(city.communities), "grid": len(city.grids), "grids_without_owner": int(unowned.sum())},
        "facilities": {k: int(v) for k, v in sites["type"].value_counts().sort_index().items()},
        "incidents": feed_counts,
        "hotspots": [{"name": s.name, "lon": s.lon, "lat": s.lat, "sigma_m": s.sigma_m, "share": s.share,
                      "emerging_from_days_before_now": s.start_days or None} for s in places.HOTSPOTS],
        "neglected_streets": [{"code": city.streets["code"].iloc[i], "name": city.streets["name"].iloc[i]}
                              for i in neglected],
        "patrols": patrol_summary,
    }


def generate(out_dir: Path, *, seed: int = SEED, incidents: int = 200_000, grids: int = 10_000,
             patrol_units: int = 200, now: datetime | None = None,
             progress: Callable[[str, float], None] | None = None) -> list[DemoFile]:
    """Write the demo city's input files into ``out_dir``; returns them in load order.

    Parameters
    ----------
    out_dir : Path
        Created if missing; files of an earlier run are overwritten.
    seed : int
        The same seed and ``now`` give byte-identical files.
    incidents : int
        Incident rows over all feeds, deliberately bad ones included (at least
        1,000). Only the grid-app CSV grows with it, written in chunks, so ten
        million fit in bounded memory.
    grids : int
        Grids wanted (at least 100); streets and communities scale with it
        (190 and 2,000 for 10,000).
    patrol_units : int
        Units whose GPS pings cover the last 7 days.
    now : datetime, optional
        Timezone-aware; the end of the incidents' 180 days and of the patrols'
        7 days. Default: the current time, rounded down to the minute.
    progress : callable, optional
        Called as ``progress(step, seconds)`` after each step (``areas``,
        ``facilities``, ``incidents``, ``patrols``).

    Returns
    -------
    list of DemoFile
        Areas tier by tier (city to grid), then facilities, the incident
        feeds, and the patrol pings.

    Raises
    ------
    InputError
        For a count out of range or a naive ``now``.
    """
    _check(incidents, grids, patrol_units)
    now = _now(now)
    end = int(now.timestamp())
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _, facility_seed, incident_seed, patrol_seed = np.random.SeedSequence(seed).spawn(4)
    files: list[DemoFile] = []
    clock = time.perf_counter()

    def done(step: str) -> None:
        nonlocal clock
        if progress is not None:
            progress(step, time.perf_counter() - clock)
        clock = time.perf_counter()

    city = build_city(seed, grids)
    files += _write_areas(out_dir, city, now)
    done("areas")

    sites = facilities.site_facilities(np.random.default_rng(facility_seed), city)
    files.append(DemoFile("facilities", facilities.write_facilities(out_dir / "facilities.csv", sites),
                          {"source": "demo_facilities"}))
    done("facilities")

    neglected, streets_of_neglect = neglect(city)
    written, feed_counts = feeds.write_feeds(incident_seed, out_dir, int(incidents), city.raster, city.city, end, now,
                                             streets_of_neglect)
    files += [DemoFile("incidents", path, {"source": style.source, **style.options}) for style, path in written]
    done("incidents")

    path, patrol_summary = patrols.write_patrols(patrol_seed, out_dir / "patrols.csv", city, int(patrol_units), end)
    files.append(DemoFile("patrols", path, {"source": "demo_patrols"}))
    done("patrols")

    manifest = _manifest(seed, int(grids), now, city, sites, feed_counts, patrol_summary, neglected)
    (out_dir / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return files
