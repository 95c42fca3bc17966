"""Where Hangzhou's people and troubles are: a population surface and named hotspots.

The surface is a sum of Gaussian kernels at the real urban centres (the old
city around 武林/湖滨 strongest, then 拱墅, 西湖, 滨江, 钱江新城, the centres of
萧山, 余杭, 临平 and 钱塘, then the county towns) over a rural floor. It is
sampled on a raster of about 500 m, which every other module draws from:
grid seeds, facility sites, the incidents' background and the patrol beats.

Stable hotspots are real places that generate incidents all period long.
Emerging hotspots switch on part-way through the 180 days before ``now`` and
ramp up linearly to ``now``:

- 杭州西站 (West railway station, 119.9560, 30.3640): from 120 days before ``now``;
- 星光大道夜市 (a new night market in 滨江, 120.2105, 30.2095): from 90 days before;
- 下沙大学城北 (a construction-site cluster in 钱塘, 120.3440, 30.3170): from 75 days before;
- 未来科技城 (a rental-housing cluster in 余杭, 120.0150, 30.2850): from 60 days before.

Areas of neglect are the streets holding the points of :data:`NEGLECT`: their
cases stall far more often (:mod:`etl.democity.process`), so overdue cases
pile up there for the tools to find — in 拱墅 (大关 old housing estates), 上城
(九堡, beside the ring road) and 萧山 (新塘).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

KM_PER_DEG_LAT = 110.57
KM_PER_DEG_LON = 96.2  # at 30.2°N, the middle of the city
CELL_DEG = 0.005
RURAL_FLOOR = 0.004

# lon, lat, weight, sigma (km)
URBAN_CENTRES = np.array([
    (120.165, 30.265, 1.00, 4.0),   # 武林 / 湖滨, the old city
    (120.145, 30.320, 0.60, 3.5),   # 拱墅
    (120.120, 30.280, 0.50, 3.5),   # 西湖 文教区
    (120.205, 30.200, 0.50, 3.0),   # 滨江
    (120.210, 30.260, 0.50, 3.0),   # 钱江新城
    (120.265, 30.165, 0.45, 4.0),   # 萧山城区
    (120.010, 30.290, 0.30, 4.0),   # 余杭 未来科技城
    (120.030, 30.380, 0.15, 3.0),   # 余杭 良渚
    (120.300, 30.420, 0.30, 3.5),   # 临平
    (120.340, 30.305, 0.30, 3.5),   # 钱塘 下沙
    (120.430, 30.200, 0.06, 3.0),   # 萧山 空港
    (119.960, 30.050, 0.15, 3.5),   # 富阳
    (119.724, 30.233, 0.10, 3.0),   # 临安
    (119.690, 29.797, 0.06, 3.0),   # 桐庐
    (119.043, 29.607, 0.04, 2.5),   # 淳安 千岛湖镇
    (119.289, 29.478, 0.05, 3.0),   # 建德 新安江
])
URBAN_DENSITY = 0.03  # above this an area is a town: 街道 and 社区 rather than 镇 and 村


@dataclass(frozen=True)
class Hotspot:
    """A place that draws incidents; ``start_days`` > 0 makes it emerging (days before ``now``)."""

    name: str
    lon: float
    lat: float
    sigma_m: float
    share: float                      # of all incidents
    categories: dict[str, float]      # the mix it draws, before normalising
    start_days: float = 0.0


_STATION = {"public_order": 4, "traffic_safety": 3, "dispute": 1, "city_management": 2, "other": 1}
_MARKET = {"dispute": 3, "city_management": 3, "food_drug_safety": 2, "fire_safety": 2, "public_order": 1}
_NIGHT = {"public_order": 4, "dispute": 3, "city_management": 2, "food_drug_safety": 1, "traffic_safety": 1}
_SITE = {"dispute": 4, "petition": 2, "mass_incident": 2, "fire_safety": 1, "city_management": 1}

HOTSPOTS: tuple[Hotspot, ...] = (
    Hotspot("杭州东站", 120.2127, 30.2905, 300, 0.030, _STATION),
    Hotspot("杭州站", 120.1827, 30.2439, 250, 0.020, _STATION),
    Hotspot("武林广场", 120.1636, 30.2749, 300, 0.020, _NIGHT),
    Hotspot("湖滨步行街", 120.1667, 30.2574, 250, 0.025, _NIGHT),
    Hotspot("四季青服装市场", 120.1956, 30.2464, 250, 0.020, _MARKET),
    Hotspot("萧山国际机场", 120.4344, 30.2295, 500, 0.012, _STATION),
    Hotspot("钱江新城", 120.2120, 30.2460, 400, 0.012, _NIGHT),
    Hotspot("西溪湿地", 120.0620, 30.2720, 600, 0.008, {"traffic_safety": 2, "city_management": 2, "other": 1}),
    Hotspot("城西银泰", 120.1100, 30.3010, 300, 0.010, _MARKET),
    Hotspot("萧山市心广场", 120.2640, 30.1630, 350, 0.010, _NIGHT),
    Hotspot("临平银泰", 120.3010, 30.4190, 300, 0.008, _MARKET),
    Hotspot("杭州西站", 119.9560, 30.3640, 300, 0.012, _STATION, start_days=120),
    Hotspot("星光大道夜市", 120.2105, 30.2095, 250, 0.012, _NIGHT, start_days=90),
    Hotspot("下沙大学城北", 120.3440, 30.3170, 300, 0.010, _SITE, start_days=75),
    Hotspot("未来科技城", 120.0150, 30.2850, 300, 0.010, _SITE, start_days=60),
)
# lon, lat: the street holding each point is neglected.
NEGLECT = ((120.140, 30.335), (120.265, 30.300), (120.300, 30.170))
TRANSIT_HUBS = ("杭州东站", "杭州站", "萧山国际机场", "杭州西站", "武林广场")


def density(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Relative population density at each point (1 is about the old city's peak).

    Examples
    --------
    >>> bool(density(np.array([120.165]), np.array([30.265]))[0] > density(np.array([119.0]), np.array([29.6]))[0])
    True
    """
    lon, lat = np.asarray(lon, float)[..., None], np.asarray(lat, float)[..., None]
    x, y, w, s = URBAN_CENTRES.T
    d2 = ((lon - x) * KM_PER_DEG_LON) ** 2 + ((lat - y) * KM_PER_DEG_LAT) ** 2
    return RURAL_FLOOR + (w * np.exp(-0.5 * d2 / s**2)).sum(axis=-1)


@dataclass
class Raster:
    """Density on a lattice of ``CELL_DEG`` cells and which district each cell centre lies in (-1: none)."""

    x0: float
    y0: float
    nx: int
    ny: int
    density: np.ndarray   # flat, ny * nx
    district: np.ndarray  # flat, ny * nx

    def centres(self, cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Lon, lat of the centres of flat cell indices."""
        row, col = np.divmod(cells, self.nx)
        return self.x0 + (col + 0.5) * CELL_DEG, self.y0 + (row + 0.5) * CELL_DEG


def make_raster(districts: np.ndarray) -> Raster:
    """The density raster over the districts' extent, each cell labelled with its district."""
    x0, y0, x1, y1 = shapely.total_bounds(districts)
    nx, ny = int(np.ceil((x1 - x0) / CELL_DEG)), int(np.ceil((y1 - y0) / CELL_DEG))
    raster = Raster(x0, y0, nx, ny, np.zeros(nx * ny), np.full(nx * ny, -1, dtype=np.int32))
    lon, lat = raster.centres(np.arange(nx * ny))
    for i, geom in enumerate(districts):
        shapely.prepare(geom)
        raster.district[shapely.contains_xy(geom, lon, lat)] = i
    raster.density = np.where(raster.district >= 0, density(lon, lat), 0.0)
    return raster


def sample_points(rng: np.random.Generator, raster: Raster, n: int, *, power: float = 1.0,
                  within: shapely.Geometry | None = None, district: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points drawn with probability proportional to ``density ** power``.

    Parameters
    ----------
    rng : numpy.random.Generator
    raster : Raster
    n : int
    power : float
        Below 1 flattens the surface (rural areas get relatively more).
    within : shapely.Geometry, optional
        Keep only points inside this polygon (resampling the rest).
    district : int, optional
        Draw only from cells of this district.

    Returns
    -------
    lon, lat : numpy.ndarray
    """
    weight = raster.density ** power * (raster.district >= 0)
    if district is not None:
        weight = weight * (raster.district == district)
    cells = np.flatnonzero(weight)
    p = weight[cells] / weight[cells].sum()
    lon, lat = np.empty(0), np.empty(0)
    if within is not None:
        shapely.prepare(within)
    while len(lon) < n:
        want = int((n - len(lon)) * 1.2) + 8
        x, y = raster.centres(cells[rng.choice(len(cells), size=want, p=p)])
        x = x + rng.uniform(-0.5, 0.5, want) * CELL_DEG
        y = y + rng.uniform(-0.5, 0.5, want) * CELL_DEG
        if within is not None:
            keep = shapely.contains_xy(within, x, y)
            x, y = x[keep], y[keep]
        lon, lat = np.concatenate([lon, x]), np.concatenate([lat, y])
    return lon[:n], lat[:n]


def neglected_streets(streets, points=NEGLECT) -> list[int]:
    """Positions in ``streets`` (a frame with ``geometry``) of the streets holding ``points``, distinct, in order.

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"geometry": [shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)]})
    >>> neglected_streets(frame, ((1.5, 0.5), (0.5, 0.5), (0.2, 0.2)))
    [1, 0]
    """
    geoms = np.asarray(streets["geometry"].to_numpy(), dtype=object)
    found: list[int] = []
    for lon, lat in points:
        hit = np.flatnonzero(shapely.contains_xy(geoms, lon, lat))
        if len(hit) and int(hit[0]) not in found:
            found.append(int(hit[0]))
    return found
