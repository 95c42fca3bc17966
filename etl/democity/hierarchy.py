"""The five tiers of the demo city: 杭州市, its 13 districts, and generated streets, communities and grids.

Grids are weighted Voronoi cells of seeds drawn from the population surface
(denser in the urban core) inside each cleaned district. Communities and
streets are grown on the grids' adjacency graph around seeded centres (a graph
Voronoi), so each is a connected union of whole grids: nesting is exact by
construction, and every parent is the coverage union of its children.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

import geodata
from etl.democity import names, places, tessellation

HANGZHOU = Path(geodata.__file__).resolve().parent / "samples" / "hangzhou"
CITY_CODE, CITY_NAME = "330100", "杭州市"
COMMUNITIES_PER_GRID = 0.2     # 2,000 communities for 10,000 grids
STREETS_PER_GRID = 0.019       # 190 streets for 10,000 grids
# Shares of (population, area) behind each tier's allocation to districts: rural
# counties have many towns and villages but few grid workers per km².
MIX = {"street": 0.45, "community": 0.5, "grid": 0.7}
GRID_DENSITY_POWER = 0.8       # below 1 so the rural parts of urban districts still get grids
OWNERLESS_SHARE = 0.004


@dataclass
class City:
    """Every tier as a frame with ``code, name, parent_code, geometry`` (and helpers), plus the raster."""

    city: shapely.Geometry
    districts: pd.DataFrame
    streets: pd.DataFrame
    communities: pd.DataFrame
    grids: pd.DataFrame
    raster: places.Raster


def read_boundaries(folder: Path = HANGZHOU) -> tuple[shapely.Geometry, pd.DataFrame]:
    """The raw city outline and the districts (``code``, ``name``, ``geometry``) as extracted."""
    def features(name: str) -> list[dict]:
        return json.loads((folder / name).read_text(encoding="utf-8"))["features"]

    city = shapely.from_geojson(json.dumps(features("city.geojson")[0]["geometry"]))
    rows = features("districts.geojson")
    districts = pd.DataFrame({
        "code": [f["properties"]["code"] for f in rows],
        "name": [f["properties"]["name"] for f in rows],
        "geometry": shapely.from_geojson([json.dumps(f["geometry"]) for f in rows]),
    })
    return city, districts.sort_values("code", ignore_index=True)


def allocate(total: int, weights: np.ndarray, minimum: np.ndarray) -> np.ndarray:
    """Split ``total`` in proportion to ``weights`` (largest remainders), at least ``minimum`` each.

    Examples
    --------
    >>> allocate(10, np.array([0.5, 0.3, 0.2]), np.array([1, 1, 3])).tolist()
    [4, 3, 3]
    """
    total = max(int(total), int(minimum.sum()))
    fixed = np.zeros(len(weights), dtype=bool)
    while True:  # those held at their minimum leave the rest to share in proportion
        free = total - minimum[fixed].sum()
        pool = weights[~fixed].sum()
        share = np.where(fixed, minimum, weights * free / pool if pool > 0 else free / (~fixed).sum())
        below = ~fixed & (share < minimum)
        if not below.any():
            break
        fixed |= below
    out = np.floor(share).astype(int)
    rest = total - out.sum()
    out[np.argsort(-(share - out), kind="stable")[:rest]] += 1
    return out


def _reading_order(parent: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Rank of each child within its parent: north to south in rows of about 1 km, west to east."""
    order = np.lexsort((x, -np.round(y, 2), parent))
    rank = np.empty(len(order), dtype=int)
    sorted_parent = parent[order]
    starts = np.r_[0, np.flatnonzero(sorted_parent[1:] != sorted_parent[:-1]) + 1]
    run = np.arange(len(order)) - np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    rank[order] = run + 1
    return rank


def _pick_seeds(rng: np.random.Generator, region: np.ndarray, counts: np.ndarray) -> np.ndarray:
    picks = [np.sort(rng.choice(np.flatnonzero(region == r), counts[r], replace=False)) for r in range(len(counts))]
    return np.concatenate(picks)


def _union_by(groups: np.ndarray, geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Coverage union of ``geoms`` per value of ``groups``; returns the group values and their unions."""
    order = np.argsort(groups, kind="stable")
    keys, starts = np.unique(groups[order], return_index=True)
    parts = np.split(order, starts[1:])
    return keys, np.array([geoms[p[0]] if len(p) == 1 else shapely.coverage_union_all(geoms[p]) for p in parts],
                          dtype=object)


def _positions(codes: np.ndarray) -> np.ndarray:
    """Where each item lands once its tier is sorted by code."""
    pos = np.empty(len(codes), dtype=int)
    pos[np.argsort(codes, kind="stable")] = np.arange(len(codes))
    return pos


def _group(rng, x, y, edges, region, counts) -> np.ndarray:
    seeds = _pick_seeds(rng, region, counts)
    return tessellation.group_around_seeds(x, y, edges, seeds, region)


def _tier(codes_of_parent: np.ndarray, parent: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    rank = _reading_order(parent, x, y)
    return codes_of_parent[parent] + np.char.zfill(rank.astype(str), 3).astype(object)


def _names(rng, district: np.ndarray, urban: np.ndarray, urban_suffix: str, rural_suffix: str) -> np.ndarray:
    """Place names, distinct within each district, suffixed by how urban each place is."""
    out = np.empty(len(district), dtype=object)
    for d in np.unique(district):
        mine = np.flatnonzero(district == d)
        out[mine] = names.place_names(rng, len(mine), "", set())
    return out + np.where(urban, urban_suffix, rural_suffix).astype(object)


def _counts(raster: places.Raster, geoms: np.ndarray, grids: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Streets, communities and grids per district: a mix of its population and area shares."""
    inside = raster.district >= 0
    pop = np.bincount(raster.district[inside], weights=raster.density[inside], minlength=len(geoms))
    pop, area = pop / pop.sum(), shapely.area(geoms) / shapely.area(geoms).sum()

    def weights(tier: str) -> np.ndarray:
        return MIX[tier] * pop + (1 - MIX[tier]) * area

    n_street = allocate(round(grids * STREETS_PER_GRID), weights("street"), np.ones(len(geoms), dtype=int))
    n_comm = allocate(round(grids * COMMUNITIES_PER_GRID), weights("community"), n_street)
    return n_street, n_comm, allocate(grids, weights("grid"), n_comm)


def _grid_seeds(rng: np.random.Generator, raster: places.Raster, geoms: np.ndarray,
                counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seed points drawn from the (flattened) population surface of each district, and their district."""
    drawn = [places.sample_points(rng, raster, counts[d], power=GRID_DENSITY_POWER, within=geom, district=d)
             for d, geom in enumerate(geoms)]
    region = np.repeat(np.arange(len(geoms)), [len(x) for x, _ in drawn])
    return np.concatenate([x for x, _ in drawn]), np.concatenate([y for _, y in drawn]), region


def _grow(rng, x, y, edges, region, wanted) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """Group nodes around seeded centres; returns each node's group, the groups' seed nodes and their adjacency."""
    group = _group(rng, x, y, edges, region, np.minimum(wanted, np.bincount(region, minlength=len(wanted))))
    seeds = np.unique(group)
    index = np.searchsorted(seeds, group)
    i, j = index[edges[0]], index[edges[1]]
    pairs = np.unique(np.column_stack([np.minimum(i, j), np.maximum(i, j)])[i != j], axis=0)
    return index, seeds, (pairs[:, 0], pairs[:, 1])


def build_city(rng: np.random.Generator, grids: int, folder: Path = HANGZHOU) -> City:
    """Clean the districts and generate about ``grids`` grids, with streets and communities to match.

    Parameters
    ----------
    rng : numpy.random.Generator
    grids : int
        Grids wanted over the whole city; communities and streets scale with it
        (2,000 and 190 for 10,000), at least one of each per district.
    folder : Path
        Where ``city.geojson`` and ``districts.geojson`` are.

    Returns
    -------
    City
    """
    raw_city, raw = read_boundaries(folder)
    geoms = tessellation.clean_partition(raw["geometry"].to_numpy(), raw_city)
    raster = places.make_raster(geoms)
    n_street, n_comm, n_grid = _counts(raster, geoms, grids)
    x, y, region = _grid_seeds(rng, raster, geoms, n_grid)
    cells, kept = tessellation.voronoi_cells(geoms, x, y, region)
    x, y, region = x[kept], y[kept], region[kept]

    comm_index, comm_seed, comm_edges = _grow(rng, x, y, tessellation.adjacency(cells), region, n_comm)
    cx, cy, c_region = x[comm_seed], y[comm_seed], region[comm_seed]
    street_index, street_seed, _ = _grow(rng, cx, cy, comm_edges, c_region, n_street)
    sx, sy, s_region = cx[street_seed], cy[street_seed], c_region[street_seed]
    comm_geom = _union_by(comm_index, cells)[1]
    street_geom = _union_by(street_index, comm_geom)[1]
    district_geom = _union_by(s_region, street_geom)[1]

    d_codes = raw["code"].to_numpy(dtype=object)
    s_codes = _tier(d_codes, s_region, sx, sy)
    c_codes = _tier(s_codes, street_index, cx, cy)
    g_codes = _tier(c_codes, comm_index, x, y)
    owner, phone = names.person_names(rng, len(cells)), names.phones(rng, len(cells))
    ownerless = rng.choice(len(cells), max(3, round(OWNERLESS_SHARE * len(cells))), replace=False)
    owner[ownerless[::2]] = ""
    phone[ownerless] = ""

    s_urban = places.density(sx, sy) > places.URBAN_DENSITY
    c_urban = places.density(cx, cy) > places.URBAN_DENSITY
    s_pos, c_pos = _positions(s_codes), _positions(c_codes)
    districts = pd.DataFrame({"code": d_codes, "name": raw["name"].to_numpy(), "parent_code": CITY_CODE,
                              "geometry": district_geom})
    streets = pd.DataFrame({"code": s_codes, "name": _names(rng, s_region, s_urban, "街道", "镇"),
                            "parent_code": d_codes[s_region], "geometry": street_geom, "x": sx, "y": sy,
                            "district": s_region, "urban": s_urban})
    communities = pd.DataFrame({"code": c_codes, "name": _names(rng, c_region, c_urban, "社区", "村"),
                                "parent_code": s_codes[street_index], "geometry": comm_geom, "x": cx, "y": cy,
                                "district": c_region, "street": s_pos[street_index], "urban": c_urban})
    grid_names = "第" + _reading_order(comm_index, x, y).astype(str).astype(object) + "网格"
    grid_frame = pd.DataFrame({"code": g_codes, "name": grid_names, "parent_code": c_codes[comm_index],
                               "owner_name": owner, "owner_phone": phone, "geometry": cells, "x": x, "y": y,
                               "district": region,
                               "street": s_pos[street_index[comm_index]], "community": c_pos[comm_index]})
    tiers = [t.sort_values("code", ignore_index=True) for t in (streets, communities, grid_frame)]
    return City(shapely.coverage_union_all(district_geom), districts, *tiers, raster)
