"""The data's version: a number that moves when, and only when, a batch of data commits.

Anything computed from the data (a layer, a page of the OGC API) can be kept under the version it was computed
at and served again while the version stands; docs/ogc.md. The number is a counter row that each committing
batch bumps as its last write, in its own transaction (``0022_data_version.sql`` says why not ``max(id)``), so:

- it moves at the commit that makes the new data visible, never before it and never without one;
- two batches committing at once each move it, whatever their ids;
- reading it is one row of a one-page table.

Read the version *before* the data it labels: a batch committing in between then leaves an answer labelled
with the old number that holds newer data (a miss for the next reader), never old data under the new number.

Examples
--------
>>> data_version()  # doctest: +SKIP
42
"""

from __future__ import annotations

from geodata.db import fetch_all, fetch_value

DATA_VERSION = "SELECT version FROM shiyu.data_version"
AREAS_VERSION = "SELECT areas FROM shiyu.data_version"
BOTH_VERSIONS = "SELECT version, areas FROM shiyu.data_version"


def data_version() -> int:
    """The data's version now, as this connection's role sees it (the app's role may read it)."""
    return int(fetch_value(DATA_VERSION))


def areas_version() -> int:
    """The areas' own version (0024): it moves when, and only when, a batch of areas commits or load_batch is
    emptied, so what depends on the areas alone (the city's extent) is kept across the incidents' batches."""
    return int(fetch_value(AREAS_VERSION))


def data_and_areas_versions() -> tuple[int, int]:
    """``(data_version(), areas_version())`` in one read of the counter row."""
    row = fetch_all(BOTH_VERSIONS)[0]
    return int(row["version"]), int(row["areas"])


# The supervision orders' version (0030) added to the data's: both only grow, so the sum moves when either does.
SUPERVISION_VERSION = "SELECT version + orders FROM shiyu.data_version"


def supervision_version() -> int:
    """The version of what the supervision layer reads: the data's, moved on by every supervision event too."""
    return int(fetch_value(SUPERVISION_VERSION))
