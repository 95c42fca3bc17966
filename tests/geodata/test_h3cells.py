import h3
import numpy as np

from geodata.h3cells import cell_to_ring_lonlat, cells_to_parent, latlng_to_cells, lonlat_to_cell_columns


def test_vectorised_cells_equal_h3_per_point():
    rng = np.random.default_rng(1)
    lat = rng.uniform(18, 53, 2000)
    lng = rng.uniform(74, 134, 2000)
    cells = latlng_to_cells(lat, lng, 10)
    expected = [h3.str_to_int(h3.latlng_to_cell(a, b, 10)) for a, b in zip(lat, lng)]
    assert cells.dtype == np.int64
    assert cells.tolist() == expected


def test_parents_by_bit_operations_equal_h3_cell_to_parent():
    rng = np.random.default_rng(2)
    cells = latlng_to_cells(rng.uniform(29, 31, 3000), rng.uniform(119, 121, 3000), 10)
    for res in (0, 5, 7, 8, 9):
        parents = cells_to_parent(cells, res)
        assert parents.tolist() == [h3.str_to_int(h3.cell_to_parent(h3.int_to_str(int(c)), res)) for c in cells]


def test_each_column_is_the_cell_the_point_lies_in_not_the_parent_of_a_finer_one():
    rng = np.random.default_rng(3)
    lon, lat = rng.uniform(120, 120.3, 5000), rng.uniform(30.1, 30.4, 5000)
    cols = lonlat_to_cell_columns(lon, lat)
    for res in (7, 8, 9, 10):
        assert cols[f"h3_r{res}"].tolist() == [h3.str_to_int(h3.latlng_to_cell(b, a, res)) for a, b in zip(lon, lat)]
    # Why: a few per cent of points are not in the parent hexagon of their r10 cell.
    parents = cells_to_parent(cols["h3_r10"], 8)
    assert 0 < (parents != cols["h3_r8"]).sum() < 0.2 * len(lon)


def test_ring_is_closed_lon_lat():
    cell = h3.str_to_int(h3.latlng_to_cell(30.27, 120.15, 8))
    ring = cell_to_ring_lonlat(cell)
    assert ring[0] == ring[-1] and len(ring) == 7
    lon, lat = ring[0]
    assert 120.1 < lon < 120.2 and 30.2 < lat < 30.3


def test_rings_and_centres_of_many_cells_equal_those_of_each_cell_pentagons_included():
    from geodata.h3cells import cells_to_lonlat, cells_to_rings_lonlat

    rng = np.random.default_rng(3)
    cells = np.unique(latlng_to_cells(rng.uniform(29.5, 30.5, 500), rng.uniform(119.5, 120.5, 500), 9))
    pentagons = np.array([h3.str_to_int(c) for c in h3.get_pentagons(9)[:3]], dtype=np.int64)
    cells = np.concatenate([cells, pentagons])
    assert cells_to_rings_lonlat(cells) == [cell_to_ring_lonlat(int(c)) for c in cells]
    lon, lat = cells_to_lonlat(cells)
    expected = [h3.cell_to_latlng(h3.int_to_str(int(c))) for c in cells]
    assert np.allclose(lat, [a for a, _ in expected]) and np.allclose(lon, [b for _, b in expected])
    assert cells_to_rings_lonlat(np.array([], dtype=np.int64)) == []


def test_cells_as_one_bound_array_arrive_as_the_cells(conn):
    from geodata.h3cells import cells_param

    cells = latlng_to_cells(np.array([30.2, 30.3, 30.25]), np.array([120.1, 120.2, 120.15]), 9)
    assert conn.execute("SELECT %s::bigint[]", (cells_param(cells),)).fetchone()[0] == cells.tolist()
    assert conn.execute("SELECT cardinality(%s::bigint[])", (cells_param([]),)).fetchone()[0] == 0


def test_a_cells_hex_form_is_h3s_own_string_at_every_resolution():
    from geodata.h3cells import cell_to_hex

    cells = [h3.str_to_int(h3.latlng_to_cell(30.1 + 0.013 * i, 120.05 + 0.017 * i, res))
             for i in range(50) for res in (0, 7, 8, 9, 10, 15)]
    assert [cell_to_hex(c) for c in cells] == [h3.int_to_str(c) for c in cells]
    assert all(h3.is_valid_cell(cell_to_hex(c)) for c in cells)
