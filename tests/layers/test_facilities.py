"""Facility reach, checked against geodesic distances computed here with pyproj.Geod.

Tolerance: the layer rounds to 1 m (0.5 m) and measures on a transverse Mercator
centred on the places, whose scale error over these 0.06° is under 10⁻⁶ (under
1 cm at 5 km); 1 m covers both. Blind spots are compared exactly, and the data
are checked to have no cell centre within 1 m of any facility's radius, so
that comparison cannot hinge on the tolerance.
"""

import json

import h3
import numpy as np
import pytest
from pyproj import Geod

from etl.load import load_areas, load_facilities
from geodata.errors import InputError
from geodata.scope import Scope
from geodata.taxonomy import FACILITY_TYPES
from layers.base import Filters
from layers.facilities import build, reach
from tests.helpers import write_csv

RES = 9
WHOLE = (120.09, 30.19, 120.15, 30.23)  # both grids
IN_G1 = (120.101, 30.201, 120.108, 30.208)  # a corner of G1 only; G2 is out of view
TOLERANCE_M = 1.0

# id, type, name, lon, lat, service_radius_m ("" = the type's default)
FACILITIES = [
    ("P1", "police_station", "一号派出所", 120.105, 30.205, "1000"),
    ("P2", "police_station", "二号派出所", 120.137, 30.218, ""),
    ("K1", "safety_kiosk", "边界岗亭", 120.1225, 30.211, "600"),  # in G2, 240 m east of G1
    ("M1", "mini_fire_station", "微站", 120.115, 30.215, "300"),
    ("S1", "school", "远处学校", 120.155, 30.235, ""),  # in no grid, outside every view
]
GEOD = Geod(ellps="WGS84")


def _square(code, name, west, parent=None):
    props = {"code": code, "name": name, **({"parent_code": parent} if parent else {})}
    ring = [[west, 30.20], [west + 0.02, 30.20], [west + 0.02, 30.22], [west, 30.22], [west, 30.20]]
    return {"type": "Feature", "properties": props, "geometry": {"type": "Polygon", "coordinates": [ring]}}


def _write(path, features):
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False), encoding="utf-8")
    return path


@pytest.fixture
def town(empty_db, tmp_path):
    """Districts D1 (west) and D2 (east), one grid each, and the facilities above."""
    load_areas(_write(tmp_path / "d.geojson", [_square("D1", "西区", 120.10), _square("D2", "东区", 120.12)]),
               tier="district")
    load_areas(_write(tmp_path / "g.geojson", [_square("G1", "第1网格", 120.10, "D1"),
                                               _square("G2", "第2网格", 120.12, "D2")]), tier="grid")
    summary = load_facilities(write_csv(tmp_path / "f.csv", FACILITIES,
                                        header=("id", "type", "name", "lon", "lat", "service_radius_m")))
    assert summary.loaded == len(FACILITIES)


def _radius(row) -> float:
    return float(row[5]) if row[5] else float(FACILITY_TYPES[row[1]].service_radius_m)


def _study_cells(conn, grids) -> list[str]:
    rows = conn.execute("SELECT DISTINCT cell FROM shiyu.area_cell WHERE res = %s AND code = ANY(%s)", (RES, list(grids)))
    return sorted(h3.int_to_str(cell) for (cell,) in rows)


def _metres(cells, rows) -> np.ndarray:
    """Geodesic metres from each cell's centre to each facility row."""
    centres = np.array([h3.cell_to_latlng(c) for c in cells])
    lon = np.repeat(centres[:, 1], len(rows))
    lat = np.repeat(centres[:, 0], len(rows))
    flon = np.tile([r[3] for r in rows], len(cells))
    flat = np.tile([r[4] for r in rows], len(cells))
    return GEOD.inv(lon, lat, flon, flat)[2].reshape(len(cells), len(rows))


def _expected(cells, types):
    """Per type: nearest metres per cell, and whether some facility's own radius reaches the cell's centre."""
    nearest, covered = {}, {}
    for kind in types:
        rows = [r for r in FACILITIES if r[1] == kind]
        d = _metres(cells, rows)
        radii = np.array([_radius(r) for r in rows])
        assert np.abs(d - radii).min() > TOLERANCE_M  # no centre sits on a circle: the comparison is well posed
        nearest[kind], covered[kind] = d.min(axis=1), (d <= radii).any(axis=1)
    return nearest, covered


PRESENT = ("police_station", "safety_kiosk", "mini_fire_station", "school")


def test_hex_distances_equal_geodesic_distances_to_the_nearest_facility_of_each_type(town, conn):
    table = reach(Filters(bbox=WHOLE, res=RES), Scope.everything(), unit="hex")
    cells = _study_cells(conn, ("G1", "G2"))
    assert sorted(table["h3"]) == cells
    assert list(table.columns) == ["h3", "grid_code", *PRESENT]
    table = table.set_index("h3").loc[cells]
    nearest, _ = _expected(cells, PRESENT)
    for kind in PRESENT:
        assert np.abs(table[kind].to_numpy() - nearest[kind]).max() <= TOLERANCE_M


def test_blind_spots_are_the_cells_beyond_every_facility_radius_of_some_type(town, conn):
    result = build(Filters(bbox=WHOLE, res=RES), Scope.everything())
    cells = _study_cells(conn, ("G1", "G2"))
    nearest, covered = _expected(cells, PRESENT)
    want = {c: {t for t in PRESENT if not covered[t][i]} for i, c in enumerate(cells)}
    want = {c: gaps for c, gaps in want.items() if gaps}
    blind = {f["properties"]["h3"]: f["properties"] for f in result.features if f["properties"]["kind"] == "blind_spot"}
    assert {c: set(p["uncovered"]) for c, p in blind.items()} == want
    to_p1 = _metres(cells, FACILITIES[:1])[:, 0]
    # P1's own 1 km decides, not the type's 3 km: cells between the two are police blind spots.
    assert any("police_station" in want.get(c, ()) and to_p1[i] < 3000 for i, c in enumerate(cells))
    assert any("police_station" not in want.get(c, ()) for c in cells)
    index = {c: i for i, c in enumerate(cells)}
    for c, p in blind.items():
        for kind, metres in p["nearest_m"].items():
            assert abs(metres - nearest[kind][index[c]]) <= TOLERANCE_M
    assert result.summary["blind_spots"] == len(want) and result.summary["cells"] == len(cells)
    assert result.summary["covered_share"] == {t: round(float(covered[t].mean()), 4) for t in PRESENT}
    assert [e.label for e in result.legend] == [*PRESENT, "blind_spot"]


def test_facilities_in_view_are_drawn_with_their_own_radius_or_the_default(town):
    result = build(Filters(bbox=WHOLE, res=RES), Scope.everything())
    drawn = {f["properties"]["name"]: f for f in result.features if f["properties"]["kind"] == "facility"}
    assert set(drawn) == {"一号派出所", "二号派出所", "边界岗亭", "微站"}  # the school lies outside the view
    assert drawn["一号派出所"]["properties"] == {"kind": "facility", "type": "police_station", "name": "一号派出所",
                                             "radius_m": 1000, "grid_code": "G1"}
    assert drawn["二号派出所"]["properties"]["radius_m"] == FACILITY_TYPES["police_station"].service_radius_m
    assert drawn["边界岗亭"]["geometry"] == {"type": "Point", "coordinates": [120.1225, 30.211]}
    assert result.summary["by_type"] == {"police_station": 2, "safety_kiosk": 1, "mini_fire_station": 1, "school": 0}


def test_a_facility_outside_the_view_still_covers_the_cells_it_reaches(town, conn):
    result = build(Filters(bbox=IN_G1, res=RES), Scope.everything())
    drawn = [f["properties"]["name"] for f in result.features if f["properties"]["kind"] == "facility"]
    assert drawn == ["一号派出所"]  # the kiosk is out of view, not drawn
    cells = _study_cells(conn, ("G1",))
    _, covered = _expected(cells, PRESENT)
    blind = {f["properties"]["h3"]: set(f["properties"]["uncovered"]) for f in result.features
             if f["properties"]["kind"] == "blind_spot"}
    assert blind == {c: {t for t in PRESENT if not covered[t][i]} for i, c in enumerate(cells)}  # no school near G1
    by_kiosk = {c for c, yes in zip(cells, covered["safety_kiosk"]) if yes}
    assert by_kiosk  # G1's eastern cells, within 600 m of the kiosk in G2
    to_p1, to_p2 = _metres(cells, FACILITIES[:2]).T
    assert ((to_p1 > 1000) & (to_p2 <= 3000)).any()  # and P2, out of view, is the only police station for some of G1


def test_distances_far_beyond_the_largest_radius_are_still_to_the_nearest_facility(town, conn):
    cells = _study_cells(conn, ("G1",))
    for kind in ("safety_kiosk", "school"):  # the school is in no box the first read covers
        table = reach(Filters(bbox=IN_G1, res=RES), Scope.everything(), unit="hex", types=(kind,))
        nearest, _ = _expected(cells, (kind,))
        got = table.set_index("h3").loc[cells, kind].to_numpy()
        assert got.max() > 2 * _radius(next(r for r in FACILITIES if r[1] == kind))
        assert np.abs(got - nearest[kind]).max() <= TOLERANCE_M
    none = reach(Filters(bbox=IN_G1, res=RES), Scope.everything(), unit="hex", types=("hospital",))
    assert none["hospital"].isna().all()
    blind = build(Filters(bbox=IN_G1, res=RES), Scope.everything(), types=("hospital",)).features
    assert {f["properties"]["h3"] for f in blind} == set(cells)
    assert all(f["properties"]["nearest_m"] == {"hospital": None} for f in blind)


def test_grid_distances_are_from_a_point_on_the_grid_to_the_nearest_facility(town, conn):
    table = reach(Filters(bbox=WHOLE, res=RES), Scope.everything(), unit="grid")
    assert list(table.columns) == ["grid_code", "name", *PRESENT]
    assert list(zip(table["grid_code"], table["name"])) == [("G1", "第1网格"), ("G2", "第2网格")]
    points = {code: (x, y) for code, x, y in conn.execute(
        "SELECT code, ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)) FROM shiyu.area WHERE tier = 'grid'")}
    for _, row in table.iterrows():
        x, y = points[row["grid_code"]]
        assert 120.10 <= x <= 120.14 and 30.20 <= y <= 30.22
        for kind in PRESENT:
            facilities = [r for r in FACILITIES if r[1] == kind]
            want = np.min(GEOD.inv(np.full(len(facilities), x), np.full(len(facilities), y),
                                   np.array([r[3] for r in facilities]), np.array([r[4] for r in facilities]))[2])
            assert abs(row[kind] - want) <= TOLERANCE_M


def test_scope_keeps_features_in_the_subtree_but_counts_facilities_across_its_line(town, conn):
    result = build(Filters(bbox=WHOLE, res=RES), Scope("D1"))
    props = [f["properties"] for f in result.features]
    assert sorted(p["name"] for p in props if p["kind"] == "facility") == ["一号派出所", "微站"]
    assert {p["grid_code"] for p in props} == {"G1"}
    cells = _study_cells(conn, ("G1",))
    _, covered = _expected(cells, PRESENT)
    blind = {p["h3"]: set(p["uncovered"]) for p in props if p["kind"] == "blind_spot"}
    assert set(blind) <= set(cells)
    # The kiosk across the district line still covers D1's eastern cells.
    assert {c for c in cells if "safety_kiosk" not in blind.get(c, ())} == \
           {c for c, yes in zip(cells, covered["safety_kiosk"]) if yes} != set()
    grids = reach(Filters(bbox=WHOLE, res=RES), Scope("D1"), unit="grid")
    assert list(grids["grid_code"]) == ["G1"]


def test_an_unknown_type_or_unit_is_refused_with_the_known_ones(town):
    with pytest.raises(InputError, match="unknown facility type spaceport; known: police_station"):
        build(Filters(bbox=WHOLE, res=RES), Scope.everything(), types=("spaceport",))
    with pytest.raises(InputError, match="unit 'street' is not one of hex, grid"):
        reach(Filters(bbox=WHOLE, res=RES), Scope.everything(), unit="street")


def test_a_city_without_facilities_has_no_types_to_miss(empty_db):
    result = build(Filters(bbox=WHOLE, res=RES), Scope.everything())
    assert (result.features, result.summary["blind_spots"], [e.label for e in result.legend]) == ([], 0, ["blind_spot"])
    assert list(reach(Filters(bbox=WHOLE, res=RES), Scope.everything(), unit="grid").columns) == ["grid_code", "name"]
