"""Tests for geodata.crs: GCJ-02 / BD-09 obfuscations and EPSG conversion to WGS-84.

Control points are published pairs from public implementations, cited per table.
Distances are geodesic metres on the WGS-84 ellipsoid.
"""

from __future__ import annotations

import warnings

import numpy as np
import pyproj
import pytest

from geodata import crs
from geodata.errors import InputError, ShiyuError

GEOD = pyproj.Geod(ellps="WGS84")


def metres(a, b):
    """Geodesic distance in metres between ``(lon, lat)`` pairs of scalars or arrays."""
    return GEOD.inv(*np.broadcast_arrays(a[0], a[1], b[0], b[1]))[2]


def china_grid(step=0.1):
    """A dense lon/lat grid over mainland China and Hainan, WGS-84 degrees."""
    lon, lat = np.meshgrid(np.arange(73.0, 135.0 + 1e-9, step), np.arange(18.0, 53.5 + 1e-9, step))
    return lon.ravel(), lat.ravel()


# (wgs84 lon, lat), (gcj02 lon, lat)
WGS84_GCJ02_PAIRS = [
    # googollee/eviltransform python/test.py, TESTS (given there as lat, lng): Shanghai,
    # Shenzhen, Beijing.
    ((121.5272106, 31.1774276), (121.531541859215, 31.17530398364597)),
    ((113.912316, 22.543847), (113.9171764808363, 22.540796131694766)),
    ((116.377817, 39.911954), (116.38404722455657, 39.91334545536069)),
    # wandergis/coordtransform test/app.js, "wgs84togcj02" result.
    ((116.404, 39.915), (116.41024449916938, 39.91640428150164)),
    # Glatzel/pyxis python/tests/test_crypto.py, wgs84 -> gcj02.
    ((121.0917077, 30.6107779), (121.09626935575027, 30.608604331756705)),
    # madlogos/asesgeo tests/testthat/test_tranform_coord.R, "wgs 2 gcj" out1.
    ((116.39089, 39.90734), (116.39713094, 39.90874107)),
]

# (gcj02 lon, lat), (bd09 lon, lat)
GCJ02_BD09_PAIRS = [
    # wandergis/coordtransform test/app.js, "gcj02tobd09" result.
    ((116.404, 39.915), (116.41036949371029, 39.92133699351021)),
    # Glatzel/pyxis python/tests/test_crypto.py, gcj02 -> bd09.
    ((121.09626935575027, 30.608604331756705), (121.10271732371203, 30.61484572185035)),
    # hujiulong/gcoord test/unit/crs/GCJ02.spec.js, "GCJ02 to BD09".
    ((123.0, 45.0), (123.00636499, 45.00636899)),
    # madlogos/asesgeo tests/testthat/test_tranform_coord.R, "gcj 2 bd" out1.
    ((116.397131, 39.908746), (116.40350426, 39.91508839)),
]

# (bd09 lon, lat), (gcj02 lon, lat), computed there with the closed-form inverse.
BD09_GCJ02_PAIRS = [
    # wandergis/coordtransform test/app.js, "bd09togcj02" result.
    ((116.404, 39.915), (116.39762729119315, 39.90865673957631)),
    # madlogos/asesgeo tests/testthat/test_tranform_coord.R, "bd 2 gcj" out1.
    ((116.40350, 39.91509), (116.39712692, 39.90874808)),
]

# Glatzel/pyxis python/tests/test_crypto.py: one point through all three systems.
PYXIS_WGS84 = (121.0917077, 30.6107779)
PYXIS_BD09 = (121.10271732371203, 30.61484572185035)

PAIRWISE = [
    crs.wgs84_to_gcj02,
    crs.gcj02_to_wgs84,
    crs.gcj02_to_bd09,
    crs.bd09_to_gcj02,
    crs.wgs84_to_bd09,
    crs.bd09_to_wgs84,
]


@pytest.mark.parametrize(("wgs84", "gcj02"), WGS84_GCJ02_PAIRS)
def test_wgs84_to_gcj02_matches_published_control_points(wgs84, gcj02):
    assert metres(crs.wgs84_to_gcj02(*wgs84), gcj02) < 1.0


@pytest.mark.parametrize(("wgs84", "gcj02"), WGS84_GCJ02_PAIRS)
def test_gcj02_to_wgs84_recovers_published_wgs84_points(wgs84, gcj02):
    assert metres(crs.gcj02_to_wgs84(*gcj02), wgs84) < 1.0


def test_wgs84_to_gcj02_is_within_a_metre_of_the_amap_api():
    # madlogos/asesgeo tests/testthat/test_tranform_coord.R, out1_ "# api": what the
    # Amap web service itself returned for this point, not a re-implementation.
    assert metres(crs.wgs84_to_gcj02(116.39089, 39.90734), (116.39713623, 39.90874539)) < 1.0


@pytest.mark.parametrize(("gcj02", "bd09"), GCJ02_BD09_PAIRS)
def test_gcj02_to_bd09_matches_published_control_points(gcj02, bd09):
    assert metres(crs.gcj02_to_bd09(*gcj02), bd09) < 1.0


@pytest.mark.parametrize(("bd09", "gcj02"), BD09_GCJ02_PAIRS)
def test_bd09_to_gcj02_matches_published_control_points(bd09, gcj02):
    assert metres(crs.bd09_to_gcj02(*bd09), gcj02) < 1.0


def test_bd09_chain_matches_published_control_point():
    assert metres(crs.wgs84_to_bd09(*PYXIS_WGS84), PYXIS_BD09) < 1.0
    assert metres(crs.bd09_to_wgs84(*PYXIS_BD09), PYXIS_WGS84) < 1.0
    assert metres(crs.to_wgs84(*PYXIS_BD09, "baidu"), PYXIS_WGS84) < 1.0


def test_gcj02_roundtrip_within_a_millimetre():
    lon, lat = china_grid()
    back = crs.gcj02_to_wgs84(*crs.wgs84_to_gcj02(lon, lat))
    assert lon.size > 200_000
    assert metres((lon, lat), back).max() < 0.001


def test_gcj02_roundtrip_holds_to_two_kilometres_inside_the_box():
    # The shift is at most ~0.011 degrees, so only points nearer the edge than that can
    # be shifted across it; China's own territory is everywhere further in.
    lon, lat = np.meshgrid(np.linspace(72.024, 137.8147, 300), np.linspace(0.8493, 55.8071, 300))
    back = crs.gcj02_to_wgs84(*crs.wgs84_to_gcj02(lon, lat))
    assert metres((lon, lat), back).max() < 0.001


def test_bd09_roundtrip_to_wgs84_within_a_millimetre():
    lon, lat = china_grid()
    back = crs.bd09_to_wgs84(*crs.wgs84_to_bd09(lon, lat))
    assert metres((lon, lat), back).max() < 0.001


def test_bd09_to_gcj02_inverts_gcj02_to_bd09_exactly():
    lon, lat = china_grid(step=0.25)
    back = crs.bd09_to_gcj02(*crs.gcj02_to_bd09(lon, lat))
    assert metres((lon, lat), back).max() < 0.001


def test_gcj02_shift_is_a_few_hundred_metres_across_china():
    lon, lat = china_grid(step=0.5)
    shift = metres((lon, lat), crs.wgs84_to_gcj02(lon, lat))
    assert 1.0 < shift.min() and shift.max() < 1000.0


OUTSIDE = [
    (139.6917, 35.6895),  # Tokyo
    (-0.1276, 51.5072),  # London
    (0.0, 0.0),
    (72.0, 30.0),  # just west of the box
    (137.84, 30.0),  # just east
    (110.0, 0.82),  # just south
    (120.0, 55.83),  # just north
]


@pytest.mark.parametrize("convert", PAIRWISE, ids=lambda f: f.__name__)
def test_points_outside_china_are_unchanged(convert):
    lon, lat = np.array(OUTSIDE).T
    out_lon, out_lat = convert(lon, lat)
    np.testing.assert_array_equal(out_lon, lon)
    np.testing.assert_array_equal(out_lat, lat)


def test_in_china_uses_the_conventional_box():
    lon = [116.4, 72.004, 137.8347, 72.0, 137.84, 110.0, 110.0, np.nan]
    lat = [39.9, 30.0, 30.0, 30.0, 30.0, 0.82, 55.83, 30.0]
    assert crs.in_china(lon, lat).tolist() == [True, True, True] + [False] * 5


@pytest.mark.parametrize("convert", PAIRWISE, ids=lambda f: f.__name__)
def test_nan_passes_through_without_warnings(convert):
    lon = np.array([np.nan, 116.404, np.nan, 116.404])
    lat = np.array([39.915, np.nan, np.nan, 39.915])
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        out_lon, out_lat = convert(lon, lat)
    assert np.isnan(out_lon[[0, 2]]).all() and np.isnan(out_lat[[1, 2]]).all()
    assert np.isfinite([out_lon[3], out_lat[3]]).all()
    assert metres((out_lon[3], out_lat[3]), (116.404, 39.915)) > 100.0


def test_nan_passes_through_pyproj_codes():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lon, lat = crs.to_wgs84([np.nan, 500_000.0], [3_000_000.0, 3_000_000.0], "EPSG:4549")
    assert np.isnan(lon[0]) and lon[1] == pytest.approx(120.0, abs=1e-9)


def test_scalars_give_zero_dimensional_float64_arrays():
    lon, lat = crs.wgs84_to_gcj02(116.404, 39.915)
    assert lon.shape == lat.shape == ()
    assert lon.dtype == lat.dtype == np.float64


def test_shape_is_kept_and_inputs_are_not_modified():
    lon = np.full((3, 4), 116.404)
    lat = np.full((3, 4), 39.915)
    out_lon, out_lat = crs.to_wgs84(lon, lat, "gcj02")
    assert out_lon.shape == out_lat.shape == (3, 4)
    assert (lon == 116.404).all() and (lat == 39.915).all()
    x, _ = crs.to_wgs84(np.full((2, 5), 500_000.0), 3_000_000.0, "EPSG:4549")
    assert x.shape == (2, 5)


def test_integer_lists_are_accepted():
    lon, lat = crs.to_wgs84([116, 121], [40, 31], "wgs84")
    assert lon.dtype == np.float64 and lon.tolist() == [116.0, 121.0]


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("wgs84", "wgs84"),
        ("WGS-84", "wgs84"),
        ("EPSG:4326", "wgs84"),
        ("epsg:4326", "wgs84"),
        ("CGCS2000", "cgcs2000"),
        ("EPSG:4490", "cgcs2000"),
        ("gcj02", "gcj02"),
        ("GCJ-02", "gcj02"),
        ("amap", "gcj02"),
        ("Gaode", "gcj02"),
        ("bd09", "bd09"),
        ("BD-09", "bd09"),
        ("baidu", "bd09"),
        ("EPSG:4549", "EPSG:4549"),
        (" epsg: 4547 ", "EPSG:4547"),
        ("EPSG:3857", "EPSG:3857"),
    ],
)
def test_normalise_crs_accepts_names_and_aliases(name, key):
    assert crs.normalise_crs(name) == key


@pytest.mark.parametrize("name", ["wgs84", "cgcs2000", "EPSG:4326", "EPSG:4490"])
def test_wgs84_and_cgcs2000_are_returned_unchanged(name):
    lon, lat = np.array([116.404, 121.47]), np.array([39.915, 31.23])
    out_lon, out_lat = crs.to_wgs84(lon, lat, name)
    np.testing.assert_array_equal(out_lon, lon)
    np.testing.assert_array_equal(out_lat, lat)
    assert out_lon is not lon


def test_to_wgs84_dispatches_gcj02_aliases_to_the_iterated_inverse():
    wgs84, gcj02 = WGS84_GCJ02_PAIRS[3]
    for name in ("gcj02", "GCJ-02", "amap", "gaode"):
        assert metres(crs.to_wgs84(*gcj02, name), wgs84) < 0.01


@pytest.mark.parametrize("name", ["wgs84", "cgcs2000", "gcj02", "bd09", "EPSG:4549", "EPSG:3857"])
def test_from_wgs84_inverts_to_wgs84(name):
    lon, lat = china_grid(step=1.0)
    back = crs.to_wgs84(*crs.from_wgs84(lon, lat, name), name)
    assert metres((lon, lat), back).max() < 0.001


def test_epsg_4549_false_easting_maps_to_the_central_meridian():
    northing = np.array([2_500_000.0, 3_000_000.0, 3_500_000.0, 4_000_000.0])
    lon, lat = crs.to_wgs84(500_000.0, northing, "EPSG:4549")
    np.testing.assert_allclose(lon, 120.0, atol=1e-9)
    assert (np.diff(lat) > 4.0).all()


def test_epsg_4549_converts_a_known_point_to_the_millimetre():
    # The expected grid coordinate comes from a PROJ string written out by hand, not
    # from the EPSG database entry the module uses: CGCS2000 3-degree Gauss-Kruger,
    # CM 120E, scale 1, false easting 500 km, on the GRS 1980 ellipsoid.
    gauss_kruger = pyproj.Proj(
        "+proj=tmerc +lat_0=0 +lon_0=120 +k=1 +x_0=500000 +y_0=0 +ellps=GRS80"
    )
    people_square = (121.4737, 31.2304)  # Shanghai, WGS-84 == CGCS2000 at this accuracy
    x, y = gauss_kruger(*people_square)
    assert 640_000 < x < 641_000 and 3_456_000 < y < 3_458_000
    assert metres(crs.to_wgs84(x, y, "EPSG:4549"), people_square) < 0.001
    out_x, out_y = crs.from_wgs84(*people_square, "EPSG:4549")
    assert np.hypot(out_x - x, out_y - y) < 0.001


@pytest.mark.parametrize("name", ["utm50", "gcj03", "", "EPSG:999999", "EPSG:", "4549"])
def test_unknown_crs_raises_input_error_naming_it(name):
    with pytest.raises(InputError) as caught:
        crs.to_wgs84(116.4, 39.9, name)
    message = str(caught.value)
    assert repr(name) in message or name in message
    assert "gcj02" in message and "bd09" in message and "EPSG:" in message
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, ShiyuError)


def test_unknown_crs_in_from_wgs84_and_normalise_raise_input_error():
    with pytest.raises(InputError):
        crs.from_wgs84(116.4, 39.9, "mercator")
    with pytest.raises(ValueError):
        crs.normalise_crs(None)


@pytest.mark.parametrize("code", ["EPSG:5773", "EPSG:4978"])
def test_non_horizontal_epsg_codes_are_refused(code):
    with pytest.raises(InputError, match=code):
        crs.to_wgs84(116.4, 39.9, code)


def test_mismatched_lengths_raise_input_error():
    with pytest.raises(InputError, match="one longitude per latitude"):
        crs.gcj02_to_wgs84([116.4, 116.5, 116.6], [39.9, 40.0])


def test_non_numeric_coordinates_raise_input_error():
    with pytest.raises(InputError, match="must be numbers"):
        crs.to_wgs84(["116.4E"], [39.9], "bd09")


def test_hundred_thousand_points_convert_in_one_call():
    rng = np.random.default_rng(20240501)
    lon = rng.uniform(73.0, 135.0, 100_000)
    lat = rng.uniform(18.0, 53.5, 100_000)
    bd_lon, bd_lat = crs.from_wgs84(lon, lat, "bd09")
    out_lon, out_lat = crs.to_wgs84(bd_lon, bd_lat, "bd09")
    assert out_lon.shape == out_lat.shape == (100_000,)
    assert metres((lon, lat), (out_lon, out_lat)).max() < 0.001
    # The shared stopping rule must not change any point's answer.
    for i in rng.choice(100_000, 50, replace=False):
        one_lon, one_lat = crs.to_wgs84(bd_lon[i], bd_lat[i], "bd09")
        assert metres((one_lon, one_lat), (out_lon[i], out_lat[i])) < 0.001
