import h3
import libpysal
import numpy as np
from esda.getisord import G_Local

from etl.sample import HOTSPOTS
from geodata.scope import Scope
from layers.base import Filters
from layers.hotspots import build

SAMPLE_BOX = (120.08, 30.22, 120.20, 30.31)


def _reference_z(features, k=1):
    """esda's Gi* on the same cells and counts, weights built independently from h3.grid_disk."""
    cells = [f["properties"]["h3"] for f in features]
    index = {c: i for i, c in enumerate(cells)}
    neighbours = {i: [index[n] for n in h3.grid_disk(c, k) if n != c and n in index] for c, i in index.items()}
    w = libpysal.weights.W(neighbours, silence_warnings=True)
    counts = np.array([f["properties"]["count"] for f in features], dtype=float)
    return G_Local(counts, w, transform="B", star=True, permutations=0).Zs


def test_gi_star_z_equals_esda_on_the_study_area_with_zero_counts(sample_db, conn):
    for res, k in ((8, 1), (9, 1), (9, 2)):
        result = build(Filters(bbox=SAMPLE_BOX, res=res, zoom=13), Scope.everything(), k=k)
        z = np.array([f["properties"]["z"] for f in result.features])
        assert np.allclose(z, _reference_z(result.features, k), atol=1e-4)  # z is rounded to 4 decimals
        cells_in_grids = conn.execute("SELECT count(DISTINCT cell) FROM shiyu.area_cell WHERE res = %s", (res,)).fetchone()[0]
        assert result.summary["cells"] == cells_in_grids
        assert sum(f["properties"]["count"] == 0 for f in result.features) > 0  # quiet cells are analysed too
        assert result.summary["incidents"] == 4996


def test_the_planted_hotspots_come_out_hot_and_name_their_grid(sample_db, conn):
    result = build(Filters(bbox=SAMPLE_BOX, res=8, zoom=13), Scope.everything())
    classes = {f["properties"]["h3"]: f["properties"]["class"] for f in result.features}
    for lon, lat, _, _ in HOTSPOTS[:2]:  # the two strongest of the sample's three
        assert classes[h3.latlng_to_cell(lat, lon, 8)] == "hot99"
    dominant = dict(conn.execute("""SELECT DISTINCT ON (cell) cell, code FROM shiyu.area_cell WHERE res = 8
                                    ORDER BY cell, share DESC, code""").fetchall())
    for f in result.features:
        assert f["properties"]["grid_code"] == dominant[h3.str_to_int(f["properties"]["h3"])]
        p = f["properties"]
        assert p["p_fdr"] >= p["p"] - 1e-12 and p["class"] in ("hot99", "hot95", "hot90", "ns", "cold90", "cold95", "cold99")


def test_weekly_cube_and_raw_counts_give_the_same_hotspots(sample_db):
    from datetime import datetime, timezone

    city = build(Filters(bbox=SAMPLE_BOX, res=8, zoom=13), Scope.everything())  # reads shiyu.incident_week
    windowed = build(Filters(bbox=SAMPLE_BOX, res=8, zoom=13, since=datetime(2000, 1, 1, tzinfo=timezone.utc)),
                     Scope.everything())  # a window reads shiyu.incident
    assert [f["properties"] for f in city.features] == [f["properties"] for f in windowed.features]
