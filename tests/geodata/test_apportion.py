import time

import h3
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Transformer

from geodata.apportion import NEGLIGIBLE, cells_of_areas, dominant_area
from geodata.errors import InputError

LON, LAT = 120.15, 30.27  # Hangzhou
DEG_LAT = 1 / 110_574  # degrees per metre, near 30° N
DEG_LON = 1 / (111_320 * np.cos(np.radians(LAT)))


def box_m(lon, lat, width_m, height_m):
    """A lon/lat rectangle of about ``width_m`` × ``height_m`` metres centred on (lon, lat)."""
    dx, dy = width_m * DEG_LON / 2, height_m * DEG_LAT / 2
    return shapely.box(lon - dx, lat - dy, lon + dx, lat + dy)


def hexagon(cell):
    return shapely.Polygon([(lng, lat) for lat, lng in h3.cell_to_boundary(h3.int_to_str(int(cell)))])


def to_laea(geoms, lon, lat):
    laea = f"+proj=laea +lat_0={lat} +lon_0={lon} +ellps=WGS84 +units=m"
    return shapely.transform(geoms, Transformer.from_crs("EPSG:4326", laea, always_xy=True).transform, interleaved=False)


def centre_cell(lon, lat, res):
    return h3.str_to_int(h3.latlng_to_cell(lat, lon, res))


def voronoi(n, width_km, height_km, seed):
    rng = np.random.default_rng(seed)
    box = box_m(LON, LAT, width_km * 1000, height_km * 1000)
    xmin, ymin, xmax, ymax = box.bounds
    points = shapely.multipoints(np.column_stack([rng.uniform(xmin, xmax, n), rng.uniform(ymin, ymax, n)]))
    polygons = shapely.intersection(np.asarray(shapely.voronoi_polygons(points, extend_to=box).geoms), box)
    return [f"G{i:05d}" for i in range(len(polygons))], polygons, box


@pytest.fixture(scope="module")
def halves():
    """A 6 km square split by a meridian through the centre of an r8 cell."""
    lon, lat = h3.cell_to_latlng(h3.latlng_to_cell(LAT, LON, 8))[::-1]
    square = box_m(lon, lat, 6000, 6000)
    xmin, ymin, xmax, ymax = square.bounds
    west, east = shapely.box(xmin, ymin, lon, ymax), shapely.box(lon, ymin, xmax, ymax)
    frame = cells_of_areas(["east", "west"], np.array([east, west]), 8)
    return frame, {"west": west, "east": east}, square, (lon, lat)


def test_columns_and_types():
    frame = cells_of_areas(["a"], np.array([box_m(LON, LAT, 1000, 1000)]), 9)
    assert list(frame.columns) == ["code", "cell", "share", "area_share"]
    assert frame["cell"].dtype == np.int64 and frame["share"].dtype == np.float32
    assert frame["area_share"].dtype == np.float32 and pd.api.types.is_string_dtype(frame["code"])
    assert ((frame["share"] > 0) & (frame["share"] <= 1)).all()
    assert all(h3.is_valid_cell(h3.int_to_str(int(c))) and h3.get_resolution(h3.int_to_str(int(c))) == 9 for c in frame["cell"])


def test_straddling_cells_split_by_the_true_area_ratio(halves):
    frame, parts, square, (lon, lat) = halves
    rows = frame.set_index(["code", "cell"])["share"]
    straddling = frame.groupby("cell")["code"].nunique().loc[lambda n: n == 2].index
    assert len(straddling) >= 5
    hexes = {cell: hexagon(cell) for cell in straddling}
    inside = [cell for cell, hx in hexes.items() if square.contains(hx)]
    assert len(inside) >= 4
    for cell in inside:
        assert rows.loc[["east", "west"], cell].sum() == pytest.approx(1, abs=1e-6)
    for cell, hx in hexes.items():
        hx_m = to_laea(hx, lon, lat)
        for code, part in parts.items():
            expected = to_laea(part, lon, lat).intersection(hx_m).area / hx_m.area
            assert rows[(code, cell)] == pytest.approx(expected, abs=1e-4)


def test_a_line_through_a_cell_centre_halves_it(halves):
    frame, _, _, (lon, lat) = halves
    middle = frame[frame["cell"] == centre_cell(lon, lat, 8)]
    assert sorted(middle["code"]) == ["east", "west"]
    assert middle["share"].to_numpy() == pytest.approx([0.5, 0.5], abs=2e-3)


def test_cells_wholly_inside_share_exactly_one(halves):
    frame, parts, _, _ = halves
    for code, part in parts.items():
        rows = frame[frame["code"] == code]
        whole = np.array([part.contains_properly(hexagon(c)) for c in rows["cell"]])
        assert whole.sum() > 5
        assert (rows["share"].to_numpy()[whole] == 1.0).all()
        assert (rows["share"].to_numpy()[~whole] < 1.0).all()


def test_area_share_sums_to_one_per_area(halves):
    frame, _, _, _ = halves
    assert frame.groupby("code")["area_share"].sum().to_numpy(np.float64) == pytest.approx([1, 1], abs=1e-4)


def test_a_hole_excludes_the_cells_inside_it():
    outer, hole = box_m(LON, LAT, 3000, 3000), box_m(LON, LAT, 1500, 1500)
    ring = shapely.Polygon(outer.exterior.coords, [hole.exterior.coords])
    frame = cells_of_areas(["ring"], np.array([ring]), 10)
    in_hole = [c for c in map(h3.str_to_int, h3.geo_to_cells(hole, 10)) if hole.contains_properly(hexagon(c))]
    assert len(in_hole) > 50
    assert not set(in_hole) & set(frame["cell"])
    assert centre_cell(LON, LAT, 10) not in set(frame["cell"])
    assert frame["area_share"].sum() == pytest.approx(1, abs=1e-4)
    cell_m2 = frame["cell"].map(lambda c: to_laea(hexagon(c), LON, LAT).area)
    assert (frame["share"] * cell_m2).sum() == pytest.approx(to_laea(ring, LON, LAT).area, rel=1e-4)


@pytest.mark.parametrize("res", [7, 8, 9, 10])
def test_a_polygon_smaller_than_a_cell_gets_its_cell(res):
    lon, lat = h3.cell_to_latlng(h3.latlng_to_cell(LAT, LON, res))[::-1]
    frame = cells_of_areas(["tiny"], np.array([box_m(lon, lat, 10, 10)]), res)
    assert frame["cell"].tolist() == [centre_cell(lon, lat, res)]
    assert frame["area_share"].tolist() == [pytest.approx(1, abs=1e-6)]
    expected = to_laea(box_m(lon, lat, 10, 10), lon, lat).area / to_laea(hexagon(frame["cell"][0]), lon, lat).area
    assert frame["share"][0] == pytest.approx(expected, rel=1e-3)


def test_a_tiny_polygon_across_a_cell_edge_gets_both_cells():
    a, b = h3.cell_to_boundary(h3.latlng_to_cell(LAT, LON, 10))[:2]
    lat, lon = (a[0] + b[0]) / 2, (a[1] + b[1]) / 2
    frame = cells_of_areas(["tiny"], np.array([box_m(lon, lat, 10, 10)]), 10)
    assert len(frame) == 2 and centre_cell(LON, LAT, 10) in set(frame["cell"])
    assert frame["area_share"].sum() == pytest.approx(1, abs=1e-6)


def test_a_multipolygon_gets_the_cells_of_every_part():
    small, large = box_m(LON, LAT, 500, 500), box_m(LON + 0.1, LAT, 1000, 1000)
    frame = cells_of_areas(["two"], np.array([shapely.MultiPolygon([small, large])]), 9)
    alone = [cells_of_areas(["one"], np.array([part]), 9) for part in (small, large)]
    assert set(frame["cell"]) == set(alone[0]["cell"]) | set(alone[1]["cell"])
    near_small = frame["cell"].isin(alone[0]["cell"])
    assert frame.loc[near_small, "area_share"].sum() == pytest.approx(0.2, abs=1e-3)
    assert frame.loc[~near_small, "area_share"].sum() == pytest.approx(0.8, abs=1e-3)


def test_a_cell_outside_every_polygon_never_appears():
    west, east = box_m(LON - 0.05, LAT, 2000, 2000), box_m(LON + 0.05, LAT, 2000, 2000)
    frame = cells_of_areas(["w", "e"], np.array([west, east]), 9)
    assert centre_cell(LON, LAT, 9) not in set(frame["cell"])
    assert all(hexagon(c).intersects(west if code == "w" else east) for code, c in zip(frame["code"], frame["cell"]))


def test_dominant_area_picks_the_larger_share_and_breaks_ties_by_code():
    rows = pd.DataFrame({
        "code": ["g2", "g1", "g3", "g9", "g4"],
        "cell": [10, 10, 10, 20, 20],
        "share": np.array([0.4, 0.4, 0.2, 0.3, 0.7], dtype=np.float32),
    })
    assert dominant_area(rows).to_dict() == {10: "g1", 20: "g4"}
    assert dominant_area(rows.iloc[::-1]).to_dict() == {10: "g1", 20: "g4"}


def test_dominant_area_of_a_cell_split_unevenly():
    lon, lat = h3.cell_to_latlng(h3.latlng_to_cell(LAT, LON, 8))[::-1]
    square = box_m(lon, lat, 3000, 3000)
    xmin, ymin, xmax, ymax = square.bounds
    cut = lon + 150 * DEG_LON
    frame = cells_of_areas(["a", "b"], np.array([shapely.box(xmin, ymin, cut, ymax), shapely.box(cut, ymin, xmax, ymax)]), 8)
    owner = dominant_area(frame)
    assert owner[centre_cell(lon, lat, 8)] == "a"
    assert owner.index.is_unique and set(owner.index) == set(frame["cell"])


def test_a_voronoi_partition_is_apportioned_completely_and_exactly():
    codes, polygons, box = voronoi(500, 20, 15, seed=7)
    frame = cells_of_areas(codes, polygons, 9)
    total = frame.groupby("cell")["share"].sum()
    within = np.array([box.contains(hexagon(c)) for c in total.index])
    assert within.sum() > 2000
    assert np.abs(total.to_numpy(np.float64)[within] - 1).max() < 1e-6
    assert (total.to_numpy()[~within] < 1).all()

    # Brute force: every cell near the box against every polygon.
    cells = np.array([h3.str_to_int(c) for c in h3.geo_to_cells(box.buffer(0.01, join_style="mitre"), 9)])
    hexes = np.array([hexagon(c) for c in cells])
    area, cell = np.divmod(np.arange(len(polygons) * len(cells)), len(cells))
    hit = shapely.intersects(polygons[area], hexes[cell])
    area, cell = area[hit], cell[hit]
    hexes_m, polygons_m = to_laea(hexes, *box.centroid.coords[0]), to_laea(polygons, *box.centroid.coords[0])
    overlap = shapely.area(shapely.intersection(polygons_m[area], hexes_m[cell]))
    scale = np.minimum(shapely.area(hexes_m)[cell], shapely.area(polygons_m)[area])
    kept = overlap > NEGLIGIBLE * scale
    expected = set(zip(np.asarray(codes)[area[kept]], cells[cell[kept]]))
    assert len(frame) == kept.sum() == len(expected)
    assert set(zip(frame["code"], frame["cell"])) == expected


def test_no_areas_give_an_empty_frame():
    frame = cells_of_areas([], np.array([], dtype=object), 8)
    assert frame.empty and list(frame.columns) == ["code", "cell", "share", "area_share"]
    assert frame["cell"].dtype == np.int64 and frame["share"].dtype == np.float32


@pytest.mark.parametrize("res", [6, 11, True, 8.0, "8"])
def test_resolution_outside_7_to_10_is_an_input_error(res):
    with pytest.raises(InputError, match="resolution"):
        cells_of_areas(["a"], np.array([box_m(LON, LAT, 100, 100)]), res)


@pytest.mark.parametrize(("codes", "geoms", "message"), [
    (["a", "b"], [box_m(LON, LAT, 100, 100)], "2 codes but 1 polygons"),
    (["a", "a"], [box_m(LON, LAT, 100, 100)] * 2, "repeated: a"),
    (["p"], [shapely.Point(LON, LAT)], "polygons or multipolygons: p"),
    (["n"], [None], "polygons or multipolygons: n"),
    (["bow"], [shapely.Polygon([(120, 30), (120.01, 30.01), (120.01, 30), (120, 30.01)])], "invalid geometry.*bow"),
    (["e"], [shapely.Polygon()], "empty or invalid geometry.*e"),
    (["m"], [shapely.box(500_000, 3_300_000, 501_000, 3_301_000)], "look projected: m"),
])
def test_unusable_areas_are_input_errors(codes, geoms, message):
    geoms_array = np.empty(len(geoms), dtype=object)
    geoms_array[:] = geoms
    with pytest.raises(InputError, match=message):
        cells_of_areas(codes, geoms_array, 9)


def test_timing_of_ten_thousand_grids_at_r10(capsys):
    codes, polygons, _ = voronoi(10_000, 50, 35, seed=1)
    started = time.perf_counter()
    frame = cells_of_areas(codes, polygons, 10)
    seconds = time.perf_counter() - started
    with capsys.disabled():
        print(f"\napportion: {len(codes)} grids, 50 x 35 km, r10: {len(frame)} pairs, "
              f"{frame['cell'].nunique()} cells in {seconds:.1f} s")
    assert frame.groupby("code")["area_share"].sum().between(0.9999, 1.0001).all()
