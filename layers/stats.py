"""Statistics behind the hotspot layers: Gi* on H3 cells, FDR, Mann–Kendall, emerging hot spots.

Pure functions on numpy arrays: no database, no I/O. The layer modules turn
their query results into arrays, call these, and turn the answers into features.

Examples
--------
>>> import h3
>>> centre = h3.str_to_int(h3.latlng_to_cell(30.27, 120.15, 8))
>>> cells = np.array(h3.api.basic_int.grid_disk(centre, 3), dtype=np.int64)
>>> w = hex_neighbours(cells, k=1)
>>> near = np.isin(cells, h3.api.basic_int.grid_disk(centre, 1))
>>> gi = getis_ord_gi_star(np.where(near, 10, 1), w)
>>> str(gi.classes[cells == centre][0])
'hot99'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import h3.api.basic_int as h3i
import numpy as np
from h3ronpy import grid_disk
from scipy import sparse
from scipy.stats import norm

from geodata.errors import InputError

CLASSES = ("hot99", "hot95", "hot90", "ns", "cold90", "cold95", "cold99")

# ColorBrewer RdBu (7 classes), reversed so hot is red; ColorBrewer rates it colour-blind safe.
CLASS_COLOURS = {
    "hot99": "#b2182b",
    "hot95": "#ef8a62",
    "hot90": "#fddbc7",
    "ns": "#f7f7f7",
    "cold90": "#d1e5f0",
    "cold95": "#67a9cf",
    "cold99": "#2166ac",
}

EMERGING_PATTERNS = ("new", "consecutive", "intensifying", "persistent", "diminishing", "sporadic",
                     "oscillating", "historical")
EMERGING_CATEGORIES = tuple(f"{pattern} {side} spot" for side in ("hot", "cold") for pattern in EMERGING_PATTERNS) + (
    "no pattern detected",
)

# Hot is red and cold is blue (RdBu) for the steady patterns; the on-and-off ones take the
# orange and purple arms of PuOr, so the hot/cold split never rests on red versus green.
EMERGING_COLOURS = {
    "intensifying hot spot": "#67001f",
    "persistent hot spot": "#b2182b",
    "consecutive hot spot": "#d6604d",
    "new hot spot": "#f4a582",
    "diminishing hot spot": "#fddbc7",
    "sporadic hot spot": "#e08214",
    "oscillating hot spot": "#fdb863",
    "historical hot spot": "#fee0b6",
    "intensifying cold spot": "#053061",
    "persistent cold spot": "#2166ac",
    "consecutive cold spot": "#4393c3",
    "new cold spot": "#92c5de",
    "diminishing cold spot": "#d1e5f0",
    "sporadic cold spot": "#542788",
    "oscillating cold spot": "#8073ac",
    "historical cold spot": "#d8daeb",
    "no pattern detected": "#f7f7f7",
}

_RES_SHIFT = 52


@dataclass(frozen=True)
class GiStar:
    """Local Getis-Ord Gi* per cell: z-score, two-sided p, BH-adjusted p and class."""

    z: np.ndarray
    p: np.ndarray
    p_fdr: np.ndarray
    classes: np.ndarray


class Emerging(NamedTuple):
    """Emerging hot spot category per cell and the Gi* z-scores (cells × bins) it rests on."""

    categories: np.ndarray
    z: np.ndarray


def _disks(cells: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(row, cell) of every cell within ``k`` rings of each of ``cells``: h3ronpy's array call (a city's 30,000
    r8 cells in 10 ms against 0.1 s cell by cell), or h3 cell by cell when a pentagon's smaller disk is among them."""
    full = 1 + 3 * k * (k + 1)
    others = np.asarray(grid_disk(cells.astype(np.uint64), k, flatten=True)).astype(np.int64)
    if others.size == cells.size * full:
        return np.repeat(np.arange(cells.size), full), others
    disks = [h3i.grid_disk(int(c), k) for c in cells]
    sizes = np.fromiter((len(d) for d in disks), dtype=np.int64, count=cells.size)
    return (np.repeat(np.arange(cells.size), sizes),
            np.fromiter((c for d in disks for c in d), dtype=np.int64, count=int(sizes.sum())))


def hex_neighbours(cells: np.ndarray, k: int = 1) -> sparse.csr_matrix:
    """Binary weights between H3 cells: 1 where one cell is within ``k`` rings of the other.

    Parameters
    ----------
    cells : ndarray of int64
        Distinct H3 cells, all of one resolution; rows and columns follow this order.
    k : int, default 1
        Rings counted as the neighbourhood (``k=1``: the 6 touching hexagons).

    Returns
    -------
    scipy.sparse.csr_matrix
        ``n × n`` float64, symmetric, zero diagonal; pairs outside ``cells`` are dropped.

    Examples
    --------
    >>> import h3
    >>> centre = h3.str_to_int(h3.latlng_to_cell(30.27, 120.15, 8))
    >>> cells = np.array(h3.api.basic_int.grid_disk(centre, 2), dtype=np.int64)
    >>> w = hex_neighbours(cells, k=1)
    >>> int(w[np.flatnonzero(cells == centre)[0]].sum())
    6
    """
    cells = np.asarray(cells, dtype=np.int64).ravel()
    n = cells.size
    if k < 1:
        raise InputError(f"the neighbour ring k must be at least 1, not {k}")
    if n == 0:
        return sparse.csr_matrix((0, 0))
    if np.unique(cells).size != n:
        raise InputError("hex_neighbours needs distinct cells")
    if np.unique((cells >> _RES_SHIFT) & 0xF).size > 1:
        raise InputError("hex_neighbours needs cells of one H3 resolution")
    rows, others = _disks(cells, k)
    order = np.argsort(cells)
    cols = order[np.searchsorted(cells, others, sorter=order).clip(max=n - 1)]
    keep = (cells[cols] == others) & (cols != rows)
    return sparse.csr_matrix((np.ones(int(keep.sum())), (rows[keep], cols[keep])), shape=(n, n))


def fdr_bh(p: np.ndarray, axis: int = 0) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values along ``axis``.

    Implemented here (sort, scale by ``m / rank``, running minimum from the largest,
    cap at 1); the tests check it equals ``scipy.stats.false_discovery_control``.
    A p is significant at FDR level ``q`` exactly when ``p_fdr ≤ q``: the BH step-up
    cut-off that ArcGIS's Hot Spot Analysis applies at each of 90/95/99 %.

    Examples
    --------
    >>> fdr_bh(np.array([0.01, 0.04, 0.03, 0.20])).round(4).tolist()
    [0.04, 0.0533, 0.0533, 0.2]
    """
    p = np.moveaxis(np.asarray(p, dtype=np.float64), axis, 0)
    if p.shape[0] == 0:
        return np.moveaxis(p.copy(), 0, axis)
    # NaN sorts last and is not a test: m counts the real p-values only.
    m = (~np.isnan(p)).sum(axis=0)
    order = np.argsort(p, axis=0, kind="stable")
    ranks = np.arange(1, p.shape[0] + 1).reshape((-1,) + (1,) * (p.ndim - 1))
    scaled = np.take_along_axis(p, order, axis=0) * m / ranks
    # fmin, not minimum, so the trailing NaNs do not spread to every p before them.
    adjusted = np.fmin.accumulate(scaled[::-1], axis=0)[::-1].clip(max=1.0)
    out = np.empty_like(adjusted)
    np.put_along_axis(out, order, adjusted, axis=0)
    return np.moveaxis(out, 0, axis)


def _star_weights(weights: sparse.spmatrix) -> sparse.csr_matrix:
    """Binary weights with 1 on the diagonal, as esda's ``fill_diagonal(w, 1)`` then ``transform='B'``."""
    w = sparse.csr_matrix(weights, dtype=np.float64, copy=True)
    w.data = (w.data != 0).astype(np.float64)
    w = w - sparse.diags(w.diagonal()) + sparse.identity(w.shape[0])
    w.eliminate_zeros()
    return sparse.csr_matrix(w)


def _gi_star_z(y: np.ndarray, w_star: sparse.csr_matrix) -> np.ndarray:
    """Gi* z-scores for each column of ``y`` (cells × variables), esda's ``G_Local.calc`` with star."""
    n = y.shape[0]
    z = np.zeros(y.shape)
    if n < 2:
        return z
    varies = np.ptp(y, axis=0) > 0
    yv = y[:, varies]
    total = yv.sum(axis=0)
    mean = total / n
    # esda: population variance as E[y²] − E[y]², and the n − 1 of Getis & Ord (1995).
    variance = (yv**2).sum(axis=0) / n - mean**2
    card = np.asarray(w_star.sum(axis=1)).ravel()[:, None]
    statistic = (w_star @ yv) / total
    expected = card / n
    var_g = card * (n - card) / (n - 1) / n**2 * (variance / mean**2)
    with np.errstate(divide="ignore", invalid="ignore"):
        zv = (statistic - expected) / np.sqrt(var_g)
    z[:, varies] = np.where(np.isfinite(zv), zv, 0.0)
    return z


def _classify(z: np.ndarray, p_fdr: np.ndarray) -> np.ndarray:
    level = np.select([p_fdr <= 0.01, p_fdr <= 0.05, p_fdr <= 0.10], ["99", "95", "90"], default="")
    side = np.where(z > 0, "hot", np.where(z < 0, "cold", ""))
    named = (level != "") & (side != "")
    return np.where(named, np.char.add(side, level), "ns").astype(str)


def getis_ord_gi_star(counts: np.ndarray, weights: sparse.spmatrix) -> GiStar:
    """Local Getis-Ord Gi* with FDR-corrected hot/cold classes, equal to esda's ``G_Local(star=True)``.

    The cell itself is in its neighbourhood with weight 1 (binary weights plus the
    identity), as ``esda.G_Local(y, w, transform="B", star=True)`` builds it. The
    z-score follows esda 2.x ``G_Local.calc``: ``G_i = Σ_j w_ij y_j / Σ_j y_j``,
    ``E = W_i / n``, ``Var = W_i (n − W_i) / (n − 1) / n² · s² / ȳ²`` with
    ``W_i = Σ_j w_ij`` (star included), ``ȳ`` the mean and ``s²`` the population
    variance (divisor ``n``) of all counts. For binary weights this is the textbook
    Gi* of Getis & Ord (1995), since ``Σ w_ij² = W_i``; esda uses ``W_i`` in place of
    ``Σ w_ij²``, so the two would part only for non-binary weights, which are binarised here.
    (esda 2.9 sets the star weight in ``_infer_star_and_structure_w`` with
    ``fill_diagonal(w, 1)``; older releases did it in ``G_Local.__getStar``.)

    Parameters
    ----------
    counts : ndarray, shape (n,)
        Count per cell, zeros included.
    weights : sparse matrix, shape (n, n)
        Neighbour weights such as :func:`hex_neighbours`; non-zero entries count as 1.

    Returns
    -------
    GiStar
        ``z``; ``p = 2·Φ(−|z|)``; ``p_fdr`` Benjamini–Hochberg (:func:`fdr_bh`);
        ``classes`` from :data:`CLASSES` by the sign of z and ``p_fdr`` ≤ 0.01/0.05/0.10.
        Constant counts (all zero included) give z = 0, p = 1, class ``ns``; so does
        a cell whose neighbourhood is the whole study area (esda gives NaN there).

    Examples
    --------
    A path of four cells, each next to the one before:

    >>> w = sparse.diags([1.0, 1.0], [-1, 1], shape=(4, 4), format="csr")
    >>> getis_ord_gi_star(np.array([1, 2, 9, 8]), w).z.round(4).tolist()
    [-1.7146, -0.8485, 1.1314, 1.7146]
    """
    y = np.asarray(counts, dtype=np.float64).ravel()
    if weights.shape != (y.size, y.size):
        raise InputError(f"weights are {weights.shape} but there are {y.size} counts")
    z = _gi_star_z(y[:, None], _star_weights(weights))[:, 0]
    p = 2.0 * norm.sf(np.abs(z))
    p_fdr = fdr_bh(p)
    return GiStar(z=z, p=p, p_fdr=p_fdr, classes=_classify(z, p_fdr))


def mann_kendall(series: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mann–Kendall trend test of each row: z-score and two-sided p.

    ``S = Σ_{i<j} sign(x_j − x_i)``; ``Var S = [T(T−1)(2T+5) − Σ_g t_g(t_g−1)(2t_g+5)] / 18``
    over groups of ``t_g`` tied values; ``z = (S − sign S) / √Var S`` (continuity
    correction); ``p = 2·Φ(−|z|)``. Rows with ``Var S = 0`` get z = 0, p = 1.

    Parameters
    ----------
    series : ndarray, shape (rows, T) or (T,)
        One time series per row, oldest first.

    Returns
    -------
    z, p : ndarray, shape (rows,)

    Examples
    --------
    >>> z, p = mann_kendall(np.arange(10.0))
    >>> round(float(z[0]), 4)  # S = 45, Var S = 125
    3.9355
    """
    x = np.atleast_2d(np.asarray(series, dtype=np.float64))
    rows, t = x.shape
    s = np.zeros(rows)
    # tie[i] = how many values in the row equal x[i]; Σ_g f(t_g) = Σ_i f(c_i)/c_i.
    tie = np.ones(x.shape)
    for lag in range(1, t):
        ahead, behind = x[:, lag:], x[:, :-lag]
        s += np.sign(ahead - behind).sum(axis=1)
        same = ahead == behind
        tie[:, lag:] += same
        tie[:, :-lag] += same
    tie_term = ((tie - 1) * (2 * tie + 5)).sum(axis=1)
    var_s = (t * (t - 1) * (2 * t + 5) - tie_term) / 18.0
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(var_s > 0, (s - np.sign(s)) / np.sqrt(var_s), 0.0)
    return z, 2.0 * norm.sf(np.abs(z))


def _side(sig: np.ndarray, other: np.ndarray, intensifying: np.ndarray, diminishing: np.ndarray) -> np.ndarray:
    """Pattern name per row for one side (``sig``: its significant bins, ``other``: the opposite side's), or ""."""
    n_bins = sig.shape[1]
    share = sig.sum(axis=1) / n_bins
    last = sig[:, -1]
    misses = ~sig[:, ::-1]
    run = np.where(misses.any(axis=1), misses.argmax(axis=1), n_bins)
    only_final_run = run == sig.sum(axis=1)
    mostly = share >= 0.9
    conditions = [
        mostly & ~last,
        mostly & last & intensifying,
        mostly & last & diminishing,
        mostly & last,
        last & only_final_run & (run == 1),
        last & only_final_run & (run >= 2),
        last & other.any(axis=1),
        last,
    ]
    choices = ["historical", "intensifying", "diminishing", "persistent", "new", "consecutive",
               "oscillating", "sporadic"]
    return np.select(conditions, choices, default="")


def emerging_hotspots(z_by_bin: np.ndarray, p_by_bin: np.ndarray, trend_z: np.ndarray,
                      trend_p: np.ndarray, alpha: float = 0.10) -> np.ndarray:
    """Emerging hot spot category of each cell, as ArcGIS Pro's Emerging Hot Spot Analysis defines them.

    A bin is a significant hot (cold) spot when its FDR-adjusted p ≤ ``alpha`` and
    z > 0 (z < 0); the trend is significant when ``trend_p`` ≤ ``alpha``, upward when
    ``trend_z`` > 0. Paraphrasing "How Emerging Hot Spot Analysis works" (ArcGIS Pro,
    Space Time Pattern Mining toolbox), for hot spots (cold spots mirror them):

    - *new*: hot in the final bin and never hot before;
    - *consecutive*: one uninterrupted run of at least two hot bins at the end, never
      hot before that run, and less than 90 % of all bins hot;
    - *intensifying*: hot in 90 % of bins, the final one included, and the clustering
      intensity (z) rises with a significant trend;
    - *persistent*: hot in 90 % of bins with no significant trend;
    - *diminishing*: hot in 90 % of bins, the final one included, with a significant
      downward trend;
    - *sporadic*: hot in the final bin, an on-again off-again hot spot before, less
      than 90 % of bins hot and none cold;
    - *oscillating*: hot in the final bin, a significant cold spot in some earlier
      bin, less than 90 % of bins hot;
    - *historical*: the final bin not hot, but at least 90 % of bins hot;
    - *no pattern detected*: none of the above, hot or cold.

    The page does not rank overlapping definitions. Here: the "90 %" patterns come
    first (historical when the final bin is not hot, else intensifying, diminishing,
    persistent by the trend); new and consecutive come before oscillating (a cell
    never hot before is new even if it was once cold); and the final bin picks the
    side, so nine cold bins and a hot one make a new hot spot, not a historical cold
    spot. A final bin that is neither leaves only the historical patterns.

    Parameters
    ----------
    z_by_bin, p_by_bin : ndarray, shape (cells, bins)
        Gi* z-score and FDR-adjusted p of each cell in each time bin, oldest first.
    trend_z, trend_p : ndarray, shape (cells,)
        Mann–Kendall z and p of each cell's z-scores over the bins.
    alpha : float, default 0.10
        Significance level for bins and trend.

    Returns
    -------
    ndarray of str, shape (cells,)
        Values from :data:`EMERGING_CATEGORIES`.

    Examples
    --------
    >>> z = np.array([[0.1, 0.3, -0.2, 3.5]])
    >>> p = np.array([[0.9, 0.8, 0.90, 0.001]])
    >>> emerging_hotspots(z, p, np.array([1.0]), np.array([0.3])).tolist()
    ['new hot spot']
    """
    z = np.atleast_2d(np.asarray(z_by_bin, dtype=np.float64))
    p = np.atleast_2d(np.asarray(p_by_bin, dtype=np.float64))
    trend_z = np.asarray(trend_z, dtype=np.float64).ravel()
    trend_p = np.asarray(trend_p, dtype=np.float64).ravel()
    if z.shape != p.shape or trend_z.size != z.shape[0] or trend_p.size != z.shape[0]:
        raise InputError("z, p (cells × bins) and the trend (cells) must agree in shape")
    if z.shape[1] == 0:
        return np.full(z.shape[0], "no pattern detected")
    significant = p <= alpha  # NaN compares False, so a NaN bin is not significant
    hot, cold = significant & (z > 0), significant & (z < 0)
    trend = trend_p <= alpha
    up, down = trend & (trend_z > 0), trend & (trend_z < 0)
    hot_kind, cold_kind = _side(hot, cold, up, down), _side(cold, hot, down, up)
    hot_side = hot[:, -1] | (~cold[:, -1] & (hot_kind != ""))
    kind = np.where(hot_side, hot_kind, cold_kind)
    named = np.where(hot_side, np.char.add(hot_kind, " hot spot"), np.char.add(cold_kind, " cold spot"))
    return np.where(kind != "", named, "no pattern detected")


def emerging_from_counts(counts_by_bin: np.ndarray, weights: sparse.spmatrix, alpha: float = 0.10) -> Emerging:
    """Emerging hot spots from counts per cell and time bin.

    Runs Gi* on every bin (:func:`getis_ord_gi_star`, vectorised over bins), BH
    correction within each bin, Mann–Kendall on each cell's z series, then
    :func:`emerging_hotspots`.

    Examples
    --------
    >>> w = sparse.csr_matrix(np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]]))
    >>> result = emerging_from_counts(np.array([[1, 1], [2, 2], [3, 9]]), w)
    >>> result.z.shape
    (3, 2)
    """
    y = np.asarray(counts_by_bin, dtype=np.float64)
    if y.ndim != 2 or weights.shape != (y.shape[0], y.shape[0]):
        raise InputError("counts must be cells × bins and weights cells × cells")
    z = _gi_star_z(y, _star_weights(weights))
    p_fdr = fdr_bh(2.0 * norm.sf(np.abs(z)), axis=0)
    trend_z, trend_p = mann_kendall(z)
    return Emerging(emerging_hotspots(z, p_fdr, trend_z, trend_p, alpha), z)
