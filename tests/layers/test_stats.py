"""The hotspot statistics against references: esda, scipy, h3 and direct implementations."""

from __future__ import annotations

import re
import warnings

import esda
import h3
import libpysal
import numpy as np
import pytest
from scipy import sparse, stats

from geodata.errors import InputError
from layers.stats import (
    CLASS_COLOURS,
    CLASSES,
    EMERGING_CATEGORIES,
    EMERGING_COLOURS,
    emerging_from_counts,
    emerging_hotspots,
    fdr_bh,
    getis_ord_gi_star,
    hex_neighbours,
    mann_kendall,
)

h3i = h3.api.basic_int
CENTRE = h3.str_to_int(h3.latlng_to_cell(30.27, 120.15, 8))
CELLS = np.array(sorted(h3i.grid_disk(CENTRE, 10)), dtype=np.int64)


def _esda_z(counts: np.ndarray, w: sparse.csr_matrix) -> np.ndarray:
    """esda's Gi* z-scores on a libpysal W built from the same neighbour lists."""
    neighbours = {i: w.indices[w.indptr[i]:w.indptr[i + 1]].tolist() for i in range(w.shape[0])}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lg = esda.G_Local(counts, libpysal.weights.W(neighbours), transform="B", star=True, permutations=0)
    return lg.Zs


def _bh_reference(p: np.ndarray) -> np.ndarray:
    order = np.argsort(p)
    m = len(p)
    adjusted = np.minimum.accumulate((p[order] * m / np.arange(1, m + 1))[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(adjusted, 1.0)
    return out


def _mk_reference(x: np.ndarray) -> tuple[float, float, float]:
    """S, z, p of one series the long way: every pair, tie groups from np.unique."""
    n = len(x)
    s = sum(np.sign(x[j] - x[i]) for i in range(n) for j in range(i + 1, n))
    _, t = np.unique(x, return_counts=True)
    var = (n * (n - 1) * (2 * n + 5) - (t * (t - 1) * (2 * t + 5)).sum()) / 18
    z = 0.0 if s == 0 or var == 0 else (s - np.sign(s)) / np.sqrt(var)
    return s, z, 2 * stats.norm.sf(abs(z))


# --- hex_neighbours ---------------------------------------------------------------------------


@pytest.mark.parametrize(("k", "ring_size"), [(1, 6), (2, 18)])
def test_interior_cells_have_every_cell_within_k_rings(k, ring_size):
    w = hex_neighbours(CELLS, k=k)
    assert (w != w.T).nnz == 0
    assert not w.diagonal().any()
    assert set(np.unique(w.data)) == {1.0}
    degree = np.asarray(w.sum(axis=1)).ravel()
    interior = np.isin(CELLS, h3i.grid_disk(CENTRE, 10 - k))
    assert (degree[interior] == ring_size).all()
    assert (degree[~interior] < ring_size).all()


def test_neighbours_are_the_pairs_h3_puts_within_k():
    w = hex_neighbours(CELLS, k=2).toarray()
    distance = np.array([[h3i.grid_distance(int(a), int(b)) for b in CELLS] for a in CELLS])
    assert np.array_equal(w == 1, (distance >= 1) & (distance <= 2))


def test_neighbours_follow_the_order_of_the_cells_given():
    shuffled = np.random.default_rng(3).permutation(CELLS)
    w = hex_neighbours(shuffled, k=1)
    i = int(np.flatnonzero(shuffled == CENTRE)[0])
    assert set(shuffled[w[i].indices]) == set(h3i.grid_ring(CENTRE, 1))


@pytest.mark.parametrize("k", [1, 3])
def test_neighbours_around_a_pentagon_are_the_pairs_h3_puts_within_k(k):
    pentagon = h3.str_to_int(sorted(h3.get_pentagons(8))[0])
    cells = np.array(sorted(h3i.grid_disk(pentagon, 4)), dtype=np.int64)  # its disks are smaller than a hexagon's
    w = hex_neighbours(cells, k=k).toarray()
    within = np.array([[a != b and b in set(h3i.grid_disk(int(a), k)) for b in cells] for a in cells])
    assert np.array_equal(w == 1, within) and within.sum() > 0


def test_mixed_resolutions_and_duplicates_are_refused():
    with pytest.raises(InputError):
        hex_neighbours(np.append(CELLS, h3i.cell_to_parent(CENTRE, 7)))
    with pytest.raises(InputError):
        hex_neighbours(np.append(CELLS, CENTRE))


# --- Gi* --------------------------------------------------------------------------------------


@pytest.mark.parametrize("k", [1, 2])
def test_gi_star_z_equals_esda_on_a_poisson_field_around_hangzhou(k):
    counts = np.random.default_rng(k).poisson(1.5, CELLS.size)
    assert (counts == 0).sum() > 30
    w = hex_neighbours(CELLS, k=k)
    gi = getis_ord_gi_star(counts, w)
    np.testing.assert_allclose(gi.z, _esda_z(counts, w), rtol=0, atol=1e-6)


def test_gi_star_z_is_getis_ord_1995_for_binary_weights():
    counts = np.random.default_rng(7).poisson(2.0, CELLS.size).astype(float)
    w = hex_neighbours(CELLS, k=1) + sparse.identity(CELLS.size)
    n, mean, s = counts.size, counts.mean(), counts.std()
    wi = np.asarray(w.sum(axis=1)).ravel()
    textbook = (w @ counts - mean * wi) / (s * np.sqrt((n * wi - wi**2) / (n - 1)))
    np.testing.assert_allclose(getis_ord_gi_star(counts, w).z, textbook, atol=1e-9)


def test_planted_hotspot_centre_is_hot99_and_matches_esda():
    rng = np.random.default_rng(11)
    counts = rng.poisson(1.0, CELLS.size)
    planted = np.isin(CELLS, h3i.grid_disk(CENTRE, 1))
    counts[planted] = rng.poisson(10.0, planted.sum())
    w = hex_neighbours(CELLS, k=1)
    gi = getis_ord_gi_star(counts, w)
    np.testing.assert_allclose(gi.z, _esda_z(counts, w), rtol=0, atol=1e-6)
    assert gi.classes[CELLS == CENTRE][0] == "hot99"
    assert gi.p_fdr[CELLS == CENTRE][0] <= 0.01
    assert (gi.classes[~np.isin(CELLS, h3i.grid_disk(CENTRE, 2))] == "ns").mean() > 0.9


def test_p_values_are_two_sided_normal_and_fdr_is_benjamini_hochberg():
    counts = np.random.default_rng(5).poisson(1.2, CELLS.size)
    counts[np.isin(CELLS, h3i.grid_disk(CENTRE, 2))] *= 6
    gi = getis_ord_gi_star(counts, hex_neighbours(CELLS, k=1))
    np.testing.assert_allclose(gi.p, stats.norm.sf(np.abs(gi.z)) * 2, rtol=1e-12)
    np.testing.assert_allclose(gi.p_fdr, _bh_reference(gi.p), rtol=1e-12)
    np.testing.assert_allclose(gi.p_fdr, stats.false_discovery_control(gi.p, method="bh"), rtol=1e-12)
    assert (gi.p_fdr >= gi.p).all() and (gi.p_fdr <= 1).all()
    order = np.argsort(gi.p)
    assert (np.diff(gi.p_fdr[order]) >= 0).all()


def test_bh_matches_references_with_ties_and_along_an_axis():
    p = np.random.default_rng(2).choice([0.001, 0.01, 0.02, 0.04, 0.3, 0.9], size=(50, 4))
    for j in range(4):
        np.testing.assert_allclose(fdr_bh(p[:, j]), _bh_reference(p[:, j]), rtol=1e-12)
    np.testing.assert_allclose(fdr_bh(p, axis=0), stats.false_discovery_control(p, axis=0), rtol=1e-12)
    np.testing.assert_allclose(fdr_bh(p.T, axis=1), fdr_bh(p, axis=0).T, rtol=1e-12)


def test_bh_leaves_nan_out_of_the_count():
    p = np.array([0.01, np.nan, 0.03, 0.2, 0.04])
    adjusted = fdr_bh(p)
    assert np.isnan(adjusted[1])
    np.testing.assert_allclose(np.delete(adjusted, 1), _bh_reference(np.delete(p, 1)), rtol=1e-12)


def test_classes_follow_the_sign_of_z_and_the_fdr_thresholds():
    counts = np.random.default_rng(9).poisson(1.0, CELLS.size)
    counts[np.isin(CELLS, h3i.grid_disk(CENTRE, 2))] += 4
    counts[np.isin(CELLS, h3i.grid_ring(CENTRE, 9))] = 0
    gi = getis_ord_gi_star(counts, hex_neighbours(CELLS, k=2))
    expected = []
    for z, q in zip(gi.z, gi.p_fdr):
        level = "99" if q <= 0.01 else "95" if q <= 0.05 else "90" if q <= 0.10 else None
        expected.append("ns" if level is None or z == 0 else ("hot" if z > 0 else "cold") + level)
    assert gi.classes.tolist() == expected
    assert {"hot99", "ns"} <= set(expected) and any(c.startswith("cold") for c in expected)


@pytest.mark.parametrize("value", [0, 3])
def test_constant_counts_give_zero_z_and_no_warnings(value):
    w = hex_neighbours(CELLS, k=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gi = getis_ord_gi_star(np.full(CELLS.size, value), w)
    assert (gi.z == 0).all() and (gi.p == 1).all() and (gi.p_fdr == 1).all()
    assert set(gi.classes) == {"ns"}


def test_weights_of_the_wrong_shape_are_refused():
    with pytest.raises(InputError):
        getis_ord_gi_star(np.ones(5), sparse.identity(4, format="csr"))


# --- Mann–Kendall -----------------------------------------------------------------------------


def test_mann_kendall_of_a_strictly_increasing_series():
    z, p = mann_kendall(np.arange(10.0))
    assert z[0] == pytest.approx(44 / np.sqrt(125))  # S = 45, Var S = 10·9·25/18
    assert p[0] == pytest.approx(2 * stats.norm.sf(44 / np.sqrt(125)))
    z_down, _ = mann_kendall(np.arange(10.0)[::-1])
    assert z_down[0] == pytest.approx(-44 / np.sqrt(125))


def test_mann_kendall_equals_the_direct_implementation_with_ties():
    rng = np.random.default_rng(4)
    series = np.vstack([rng.integers(0, 4, size=(40, 12)), rng.normal(size=(10, 12)),
                        np.full((1, 12), 2.0), np.r_[np.zeros(11), 1.0][None, :]])
    z, p = mann_kendall(series)
    for row, zi, pi in zip(series, z, p):
        _, z_ref, p_ref = _mk_reference(row)
        assert zi == pytest.approx(z_ref, abs=1e-12)
        assert pi == pytest.approx(p_ref, abs=1e-12)
    assert z[-2] == 0 and p[-2] == 1


# --- Emerging hot spots -----------------------------------------------------------------------

NS = [0.1, -0.3, 0.5, 0.2, -0.1, 0.3, 0.0, 0.4, -0.2, 0.3]
HOT_SERIES = {
    "new hot spot": NS[:9] + [3.0],
    "consecutive hot spot": NS[:7] + [2.5, 2.8, 3.0],
    "intensifying hot spot": [2.0, 2.3, 2.6, 2.9, 3.2, 3.5, 3.8, 4.1, 4.4, 4.7],
    "persistent hot spot": [3.0, 3.2, 3.1, 2.9, 3.3, 3.0, 3.2, 2.9, 3.1, 3.0],
    "diminishing hot spot": [4.7, 4.4, 4.1, 3.8, 3.5, 3.2, 2.9, 2.6, 2.3, 2.0],
    "sporadic hot spot": [2.5, 0.2, 0.1, 2.7, 0.3, -0.2, 2.2, 0.1, 0.4, 2.9],
    "oscillating hot spot": [-2.5, 0.2, 2.1, 0.1, -2.2, 0.3, 0.1, 0.4, -0.1, 2.9],
    "historical hot spot": [3.0, 3.1, 3.0, 3.2, 3.1, 3.2, 3.0, 3.0, 3.1, 0.5],
}


def _classify(series: list[list[float]]) -> list[str]:
    z = np.array(series)
    p = 2 * stats.norm.sf(np.abs(z))
    return emerging_hotspots(z, p, *mann_kendall(z)).tolist()


def test_each_documented_hot_pattern_is_recognised():
    assert _classify(list(HOT_SERIES.values())) == list(HOT_SERIES)


def test_each_cold_pattern_mirrors_the_hot_one():
    cold = [[-v for v in s] for s in HOT_SERIES.values()]
    assert _classify(cold) == [name.replace("hot", "cold") for name in HOT_SERIES]


def test_trends_decide_between_intensifying_persistent_and_diminishing():
    _, trend_p = mann_kendall(np.array(list(HOT_SERIES.values())))
    names = list(HOT_SERIES)
    assert trend_p[names.index("intensifying hot spot")] <= 0.10
    assert trend_p[names.index("persistent hot spot")] > 0.10
    assert trend_p[names.index("diminishing hot spot")] <= 0.10


def test_random_non_significant_series_show_no_pattern():
    z = np.clip(np.random.default_rng(8).normal(0, 0.6, size=(30, 10)), -1.5, 1.5)
    assert set(_classify(z.tolist())) == {"no pattern detected"}


def test_overlapping_definitions_resolve_as_the_docstring_says():
    cases = {
        "new hot spot": [-3.0] * 9 + [3.0],  # the final bin picks the side, not 90 % cold
        "new cold spot": [3.0] * 9 + [-3.0],
        "historical hot spot": [3.0] * 9 + [0.5],  # neither in the final bin: the 90 % side
        "consecutive cold spot": [0.2, 2.5] + NS[2:8] + [-3.0, -2.5],  # new/consecutive before oscillating
        "sporadic hot spot": NS[:7] + [2.5, 0.1, 2.9],  # an earlier hot bin breaks the final run
        "persistent hot spot": [3.0, 0.2] + [3.0] * 8,  # 90 % hot, final hot, no trend
    }
    assert _classify(list(cases.values())) == list(cases)


def test_significance_uses_the_p_given_and_alpha():
    z = np.array([NS[:9] + [1.0]])
    p = np.array([[0.9] * 9 + [0.08]])
    trend = (np.zeros(1), np.ones(1))
    assert emerging_hotspots(z, p, *trend).tolist() == ["new hot spot"]
    assert emerging_hotspots(z, p, *trend, alpha=0.05).tolist() == ["no pattern detected"]


def test_emerging_from_counts_runs_gi_star_per_bin_and_mann_kendall():
    rng = np.random.default_rng(12)
    counts = rng.poisson(1.0, size=(CELLS.size, 8))
    cluster = np.isin(CELLS, h3i.grid_disk(CENTRE, 1))
    counts[cluster, -1] += 12
    w = hex_neighbours(CELLS, k=1)
    result = emerging_from_counts(counts, w)
    per_bin = [getis_ord_gi_star(counts[:, b], w) for b in range(counts.shape[1])]
    z = np.column_stack([g.z for g in per_bin])
    p_fdr = np.column_stack([g.p_fdr for g in per_bin])
    np.testing.assert_allclose(result.z, z, atol=1e-12)
    np.testing.assert_allclose(result.z[:, -1], _esda_z(counts[:, -1], w), atol=1e-6)
    expected = emerging_hotspots(z, p_fdr, *mann_kendall(z))
    assert result.categories.tolist() == expected.tolist()
    categories, _ = result
    assert set(categories) <= set(EMERGING_CATEGORIES)


def test_a_cluster_in_the_last_two_bins_is_a_consecutive_hot_spot():
    counts = np.ones((CELLS.size, 8))
    cluster = np.isin(CELLS, h3i.grid_disk(CENTRE, 1))
    counts[cluster, -2:] = 12
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        categories, z = emerging_from_counts(counts, hex_neighbours(CELLS, k=1))
    assert (z[:, :-2] == 0).all()
    assert categories[CELLS == CENTRE][0] == "consecutive hot spot"
    assert (categories[~np.isin(CELLS, h3i.grid_disk(CENTRE, 3))] == "no pattern detected").all()


# --- Palettes ---------------------------------------------------------------------------------


def test_every_class_and_category_has_its_own_hex_colour():
    hex_colour = re.compile(r"^#[0-9a-f]{6}$")
    assert list(CLASS_COLOURS) == list(CLASSES)
    assert set(EMERGING_COLOURS) == set(EMERGING_CATEGORIES)
    for palette in (CLASS_COLOURS, EMERGING_COLOURS):
        assert all(hex_colour.match(c) for c in palette.values())
        assert len(set(palette.values())) == len(palette)
