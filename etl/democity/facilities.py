"""Facilities of the demo city, sited where the people (and the trouble) are.

Grid management pins facilities to units: a governance centre (综治中心) and a
police station per street, a mediation room and a community service centre
per community, a mini fire station per urban community and per rural town.
Fire stations cover about half the streets; safety kiosks (平安岗亭) stand at
the stable hotspots and transit hubs and in the densest grids, never yet at
the emerging hotspots (a gap the facility layer should reveal); schools and
hospitals follow the population surface, with a health centre in every town.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import shapely

from etl.democity import places, textio
from etl.democity.hierarchy import City
from geodata.taxonomy import FACILITY_TYPES

COLUMNS = ("id", "type", "name", "lon", "lat", "service_radius_m")
PREFIX = {"police_station": "PS", "safety_kiosk": "SK", "fire_station": "FS", "mini_fire_station": "MF",
          "governance_centre": "GC", "mediation_room": "MR", "community_service": "CS", "school": "SC",
          "hospital": "HO"}
SCHOOLS_PER_GRID = 0.05
KIOSKS_AT_HUB, KIOSKS_AT_HOTSPOT = 6, 3
DENSE_KIOSKS_PER_STREET = 0.5
RURAL_RADIUS_FACTOR = 2.0  # a rural station is expected to cover more ground
METRES_PER_DEG = 1e3 * np.array([places.KM_PER_DEG_LON, places.KM_PER_DEG_LAT])
CITY_CENTRE = (120.2095, 30.2455)  # 杭州市民中心


def _stem(name: pd.Series) -> pd.Series:
    return name.str.replace(r"(街道|镇|社区|村)$", "", regex=True)


def _offset(rng: np.random.Generator, x: np.ndarray, y: np.ndarray, metres: float) -> tuple[np.ndarray, np.ndarray]:
    angle = rng.uniform(0, 2 * np.pi, len(x))
    r = metres * np.sqrt(rng.uniform(0, 1, len(x)))
    return x + r * np.cos(angle) / METRES_PER_DEG[0], y + r * np.sin(angle) / METRES_PER_DEG[1]


def _rows(kind: str, name, x, y, rural=None) -> pd.DataFrame:
    radius = np.full(len(x), FACILITY_TYPES[kind].service_radius_m, dtype=float)
    if rural is not None:
        radius = np.where(rural, radius * RURAL_RADIUS_FACTOR, radius)
    return pd.DataFrame({"type": kind, "name": np.asarray(name, dtype=object), "lon": x, "lat": y,
                         "service_radius_m": radius.astype(int)})


def _kiosks(rng: np.random.Generator, city: City) -> pd.DataFrame:
    frames = []
    for spot in places.HOTSPOTS:
        if spot.start_days:
            continue
        n = KIOSKS_AT_HUB if spot.name in places.TRANSIT_HUBS else KIOSKS_AT_HOTSPOT
        x, y = _offset(rng, np.full(n, spot.lon), np.full(n, spot.lat), 1.5 * spot.sigma_m)
        frames.append(_rows("safety_kiosk", [f"{spot.name}平安岗亭{k}号" for k in range(1, n + 1)], x, y))
    grids = city.grids
    weight = places.density(grids["x"].to_numpy(), grids["y"].to_numpy()) ** 2
    n = round(DENSE_KIOSKS_PER_STREET * len(city.streets))
    pick = np.sort(rng.choice(len(grids), n, replace=False, p=weight / weight.sum()))
    community = city.communities["name"].to_numpy()[grids["community"].to_numpy()[pick]]
    frames.append(_rows("safety_kiosk", community + "平安岗亭",
                        *_offset(rng, grids["x"].to_numpy()[pick], grids["y"].to_numpy()[pick], 50)))
    return pd.concat(frames, ignore_index=True)


def _schools(rng: np.random.Generator, city: City) -> pd.DataFrame:
    grids = city.grids
    weight = places.density(grids["x"].to_numpy(), grids["y"].to_numpy()) ** 0.7
    n = max(len(city.districts), round(SCHOOLS_PER_GRID * len(grids)))
    pick = np.sort(rng.choice(len(grids), min(n, len(grids)), replace=False, p=weight / weight.sum()))
    stem = _stem(city.communities["name"]).to_numpy()[grids["community"].to_numpy()[pick]]
    kind = np.array(["小学", "中学", "幼儿园", "实验小学", "初级中学"], dtype=object)[rng.integers(0, 5, len(pick))]
    return _rows("school", stem + kind, *_offset(rng, grids["x"].to_numpy()[pick], grids["y"].to_numpy()[pick], 80))


def site_facilities(rng: np.random.Generator, city: City) -> pd.DataFrame:
    """Every facility of the demo city, with the columns of :data:`COLUMNS`.

    Parameters
    ----------
    rng : numpy.random.Generator
    city : City

    Returns
    -------
    pandas.DataFrame
        ``id`` (a type prefix and a number), ``type`` (taxonomy code),
        ``name``, ``lon``, ``lat`` (WGS-84, inside the city) and
        ``service_radius_m``.
    """
    streets, communities, districts = city.streets, city.communities, city.districts
    sx, sy, s_rural = streets["x"].to_numpy(), streets["y"].to_numpy(), ~streets["urban"].to_numpy()
    cx, cy, c_urban = communities["x"].to_numpy(), communities["y"].to_numpy(), communities["urban"].to_numpy()
    s_name, s_stem = streets["name"], _stem(streets["name"])
    c_name = communities["name"]
    busiest = streets.assign(d=places.density(sx, sy)).sort_values("d").groupby("district").tail(1).sort_values("district")
    fire = rng.random(len(streets)) < np.where(s_rural, 0.35, 0.6)
    frames = [
        _rows("governance_centre", ["杭州市社会治理中心"], [CITY_CENTRE[0]], [CITY_CENTRE[1]]),
        _rows("governance_centre", districts["name"].to_numpy()[busiest["district"]] + "社会治理中心",
              *_offset(rng, busiest["x"].to_numpy(), busiest["y"].to_numpy(), 200)),
        _rows("governance_centre", s_name + "综治中心", *_offset(rng, sx, sy, 40)),
        _rows("police_station", s_stem + "派出所", *_offset(rng, sx, sy, 300), rural=s_rural),
        _rows("fire_station", s_stem[fire] + "消防救援站", *_offset(rng, sx[fire], sy[fire], 500), rural=s_rural[fire]),
        _rows("mini_fire_station", pd.concat([c_name[c_urban], s_name[s_rural]]) + "微型消防站",
              *_offset(rng, np.r_[cx[c_urban], sx[s_rural]], np.r_[cy[c_urban], sy[s_rural]], 60)),
        _rows("mediation_room", c_name + "人民调解室", *_offset(rng, cx, cy, 30)),
        _rows("community_service", c_name + "党群服务中心", *_offset(rng, cx, cy, 30)),
        _kiosks(rng, city),
        _schools(rng, city),
        _rows("hospital", districts["name"].to_numpy()[busiest["district"]] + "第一人民医院",
              *_offset(rng, busiest["x"].to_numpy(), busiest["y"].to_numpy(), 600)),
        _rows("hospital", s_stem + np.where(s_rural, "卫生院", "社区卫生服务中心"), *_offset(rng, sx, sy, 250),
              rural=s_rural),
    ]
    out = pd.concat(frames, ignore_index=True)
    shapely.prepare(city.city)
    outside = ~shapely.contains_xy(city.city, out["lon"].to_numpy(), out["lat"].to_numpy())
    if outside.any():  # an offset crossed the city's edge: pull the site back to its unit's centre
        nearest = shapely.STRtree(city.grids["geometry"].to_numpy()).query_nearest(
            shapely.points(out.loc[outside, ["lon", "lat"]].to_numpy()), all_matches=False)[1]
        out.loc[outside, "lon"] = city.grids["x"].to_numpy()[nearest]
        out.loc[outside, "lat"] = city.grids["y"].to_numpy()[nearest]
    number = out.groupby("type").cumcount() + 1
    out.insert(0, "id", out["type"].map(PREFIX) + number.map("{:05d}".format))
    out["lon"], out["lat"] = out["lon"].round(6), out["lat"].round(6)
    return out[list(COLUMNS)]


def write_facilities(path: Path, sites: pd.DataFrame) -> Path:
    """Write :func:`site_facilities`' frame as a UTF-8 CSV with the columns of :data:`COLUMNS`."""
    with textio.CsvWriter(path, COLUMNS) as writer:
        writer.write([textio.decimals(sites[c].to_numpy()) if c in ("lon", "lat") else
                      sites[c].astype(str).to_numpy(dtype=object) for c in COLUMNS])
    return path
