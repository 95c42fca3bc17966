"""Deliberately bad rows, as real feeds have them, so the demo load has a reject report to show.

Each kind is put into distinct rows chosen at random, and counted, so a test
(or a person) can check the loader rejected exactly these:

``zero``              coordinates (0, 0): the address was never geocoded;
``swapped``           latitude in the longitude column and vice versa;
``unknown_category``  a category no taxonomy name or alias matches;
``bad_date``          a reported time that is no date (month 13+, day 32+);
``future``            a reported time days after ``now``;
``duplicate_id``      the id of an earlier (good) row of the same file.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

KINDS = ("zero", "swapped", "unknown_category", "bad_date", "future", "duplicate_id")
MAX_SHARE = 0.03  # of a feed's rows; the loader refuses a batch above 10 %


def budget(counts: dict[str, int], rows: int, full_rows: int) -> dict[str, int]:
    """Scale a feed's bad-row counts (meant for ``full_rows``) to ``rows``, under :data:`MAX_SHARE`.

    Examples
    --------
    >>> budget({"zero": 30, "swapped": 10}, 10_000, 10_000)
    {'zero': 30, 'swapped': 10}
    >>> budget({"zero": 30, "swapped": 10}, 100, 10_000)
    {'zero': 1, 'swapped': 1}
    >>> budget({"zero": 30, "swapped": 10}, 40, 10_000)
    {'zero': 1, 'swapped': 0}
    """
    factor = min(1.0, rows / full_rows) if full_rows else 0.0
    out = {k: max(1, round(v * factor)) if v else 0 for k, v in counts.items()}
    cap = int(MAX_SHARE * rows)
    while sum(out.values()) > cap:
        k = max(reversed(list(out)), key=lambda name: out[name])
        out[k] -= 1
    return out


def split(counts: dict[str, int], chunks: list[int]) -> list[dict[str, int]]:
    """Spread each kind's count over chunks of the given sizes, in proportion (largest remainders)."""
    sizes = np.asarray(chunks, dtype=float)
    out = [dict.fromkeys(counts, 0) for _ in chunks]
    for kind, n in counts.items():
        share = sizes / sizes.sum() * n
        whole = np.floor(share).astype(int)
        whole[np.argsort(-(share - whole), kind="stable")[: n - whole.sum()]] += 1
        for i, k in enumerate(whole):
            out[i][kind] = int(k)
    return out


def spoil(rng: np.random.Generator, rows: dict[str, np.ndarray], counts: dict[str, int], *, end: int,
          zero: object, unknown: tuple[str, ...], bad_time: Callable[[np.ndarray, np.random.Generator], np.ndarray],
          time_text: Callable[[np.ndarray], np.ndarray], open_status: object, no_time: object) -> None:
    """Spoil rows in place: ``rows`` maps canonical names to value arrays (object dtype).

    Parameters
    ----------
    rng : numpy.random.Generator
    rows : dict
        At least ``id, category, reported_at, lon, lat, status, resolved_at``,
        and ``t``: the reported times as epoch seconds.
    counts : dict
        How many rows of each kind in :data:`KINDS`.
    end : int
        ``now`` as epoch seconds; future rows lie 1 to 30 days after it.
    zero : object
        The value a never-geocoded coordinate takes in this feed ("0", 0.0 …).
    unknown : tuple of str
        Category labels no taxonomy entry matches.
    bad_time : callable
        Turns epoch seconds into this feed's text for an impossible date.
    time_text : callable
        Formats epoch seconds as this feed writes times.
    open_status, no_time : object
        What a future row's status and resolution time become (it cannot be closed yet).
    """
    n = len(rows["id"])
    total = sum(counts.values())
    if not total:
        return
    # Row 0 is never spoiled, so every duplicate has a good row before it to copy.
    picked = rng.permutation(rng.choice(np.arange(1, n), total, replace=False))
    good = np.setdiff1d(np.arange(n), picked)
    start = 0
    for kind in KINDS:
        at = picked[start:start + counts.get(kind, 0)]
        start += len(at)
        if not len(at):
            continue
        if kind == "zero":
            rows["lon"][at] = zero
            rows["lat"][at] = zero
        elif kind == "swapped":
            rows["lon"][at], rows["lat"][at] = rows["lat"][at], rows["lon"][at].copy()
        elif kind == "unknown_category":
            rows["category"][at] = np.array(unknown, dtype=object)[rng.integers(0, len(unknown), len(at))]
        elif kind == "bad_date":
            rows["reported_at"][at] = bad_time(rows["t"][at], rng)
        elif kind == "future":
            rows["reported_at"][at] = time_text(end + rng.integers(1, 30, len(at)) * 86400)
            rows["status"][at] = open_status
            rows["resolved_at"][at] = no_time
        else:
            before = np.searchsorted(good, at)
            rows["id"][at] = rows["id"][good[(rng.random(len(at)) * before).astype(int)]]
