import h3
import numpy as np
import pandas as pd

from geodata.scope import Scope
from layers.base import Filters
from layers.hexes import build, nice_breaks
from tests.conftest import SAMPLES


def _expected_counts(res: int) -> dict[str, int]:
    """Counts per cell computed straight from the sample file with h3 itself, bad rows dropped."""
    raw = pd.read_csv(SAMPLES / "sample_incidents.csv", dtype=str)
    raw = raw.drop_duplicates("id")
    lon = pd.to_numeric(raw["lon"], errors="coerce")
    lat = pd.to_numeric(raw["lat"], errors="coerce")
    keep = lon.between(120, 121) & lat.between(30, 31) & ~raw["category"].eq("外星人入侵") & ~raw["reported_at"].str.startswith("2026-13")
    cells = [h3.latlng_to_cell(a, b, res) for a, b in zip(lat[keep], lon[keep])]
    return pd.Series(cells).value_counts().to_dict()


def test_hex_counts_equal_h3_counts_of_the_file(sample_db):
    for res in (8, 9):
        result = build(Filters(res=res), Scope.everything())
        got = {f["properties"]["h3"]: f["properties"]["count"] for f in result.features}
        assert got == _expected_counts(res)
        assert result.summary["incidents"] == 4996


def test_hexes_outside_the_view_are_not_sent(sample_db):
    whole = build(Filters(res=8), Scope.everything())
    corner = build(Filters(res=8, bbox=(120.08, 30.22, 120.11, 30.24)), Scope.everything())
    assert 0 < len(corner.features) < len(whole.features) / 4
    for feature in corner.features:
        lat, lng = h3.cell_to_latlng(feature["properties"]["h3"])
        assert 120.08 - 0.02 < lng < 120.11 + 0.02 and 30.22 - 0.02 < lat < 30.24 + 0.02


def test_every_hex_names_an_accountable_grid(sample_db, conn):
    grids = {row[0] for row in conn.execute("SELECT code FROM shiyu.area")}
    result = build(Filters(res=8), Scope.everything())
    assert all(f["properties"]["grid_code"] in grids for f in result.features)


def test_breaks_are_increasing_and_cover_the_maximum():
    counts = np.array([1, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233, 377])
    breaks = nice_breaks(counts)
    assert breaks == sorted(set(breaks)) and breaks[-1] == 377 and len(breaks) <= 6


def test_skewed_counts_get_log_spaced_1_2_5_classes():
    counts = np.concatenate([np.full(4000, 3), np.arange(1, 100), [6916]])
    assert nice_breaks(counts) == [5, 20, 100, 500, 2000, 6916]


def test_even_counts_get_quantile_classes():
    counts = np.arange(1, 101)
    assert nice_breaks(counts) == [21, 41, 60, 80, 95, 100]
    assert nice_breaks(np.array([], dtype=int)) == []
    assert nice_breaks(np.array([4, 4, 4])) == [4]


def test_city_wide_r7_r8_read_the_weekly_cube_and_agree_with_the_raw_incidents(sample_db):
    from datetime import datetime, timezone

    for res in (7, 8):
        weekly = build(Filters(res=res), Scope.everything())  # no window: the cube
        raw = build(Filters(res=res, since=datetime(2000, 1, 1, tzinfo=timezone.utc)), Scope.everything())
        assert sorted((f["properties"]["h3"], f["properties"]["count"], f["properties"]["grid_code"]) for f in weekly.features) \
            == sorted((f["properties"]["h3"], f["properties"]["count"], f["properties"]["grid_code"]) for f in raw.features)


def test_a_hex_names_the_grid_holding_the_largest_share_of_it(sample_db, conn):
    dominant = dict(conn.execute("SELECT DISTINCT ON (cell) cell, code FROM shiyu.area_cell WHERE res = 9 "
                                 "ORDER BY cell, share DESC, code").fetchall())
    result = build(Filters(res=9), Scope.everything())
    assert all(f["properties"]["grid_code"] == dominant[h3.str_to_int(f["properties"]["h3"])] for f in result.features)


def test_zoomed_in_a_view_of_few_incidents_returns_the_incidents_without_personal_data(sample_db, conn):
    from layers.hexes import MAX_POINTS, POINTS_ZOOM

    box = (120.12, 30.27, 120.13, 30.28)
    expected = conn.execute("""SELECT source || ':' || external_id FROM shiyu.incident
                               WHERE ST_Intersects(geom, ST_MakeEnvelope(120.12, 30.27, 120.13, 30.28, 4326))
                               ORDER BY reported_at DESC, source, external_id""").fetchall()
    assert 0 < len(expected) <= MAX_POINTS
    points = build(Filters(bbox=box, zoom=POINTS_ZOOM, res=10), Scope.everything())
    assert points.style["mode"] == "points"
    assert [f["properties"]["id"] for f in points.features] == [row[0] for row in expected]
    assert all(f["geometry"]["type"] == "Point" for f in points.features)
    assert not {"pii", "reporter_name", "reporter_phone", "description"} & set(points.features[0]["properties"])
    assert build(Filters(bbox=box, zoom=POINTS_ZOOM - 1, res=10), Scope.everything()).style["mode"] == "hexes"


def test_a_crowded_view_stays_in_hexagons_however_far_zoomed(sample_db, conn):
    from layers.hexes import MAX_POINTS, POINTS_ZOOM

    total = conn.execute("SELECT count(*) FROM shiyu.incident").fetchone()[0]
    assert total > MAX_POINTS
    crowded = build(Filters(bbox=(120.0, 30.1, 120.3, 30.4), zoom=POINTS_ZOOM + 2, res=10), Scope.everything())
    assert crowded.style["mode"] == "hexes" and crowded.summary["incidents"] == total
