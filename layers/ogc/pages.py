"""A layer-built collection computed once per request set and served page by page as slices of that computation.

The features of ``hexes``, ``hotspots``, ``coverage``, ``facilities`` and the areas of each tier are the whole
layer, built as an export builds it, in a stable order. Building it is the cost (9.7 s for the city's r10 hexes),
so it is done once per **key** and every page — the first, the 873rd, one feature by its id — is a slice of it:

- the collection and the normalised query without its paging (the ``Filters`` the query comes to: ``bbox`` in
  CRS84, the window as instants, the resolution defaulted, codes sorted; not ``limit``, ``offset``, ``crs`` or
  ``f``, which only cut or reproject a page);
- the scope and the role of the reader, so no entry is ever served to another scope or role;
- the data's version (``geodata.version``), read before the layer, so the page after a load comes from the new
  data (for the supervision collection, the data's and the orders' together, so the page after an order is
  written shows it);
- for the collections that read the clock (areas' overdue and default window, coverage's hours since a visit),
  the minute: their answers are at most ``CLOCK_S`` seconds old.

Entries live in ``PAGES`` (``layers.cache``), at most ``SHIYU_CACHE_MB`` of their GeoJSON per process. The
incidents collection pages in the database by its primary key; only its ``numberMatched`` count is kept here,
under the same kind of key.
"""

from __future__ import annotations

import dataclasses
import sys
import time

import orjson

from geodata.scope import Scope
from geodata.settings import settings
from geodata.version import data_version, supervision_version
from layers import incidents
from layers.base import Filters
from layers.cache import Cache
from layers.export import PERSONAL, STYLE_ONLY, whole_layer
from layers.ogc.catalogue import Collection

# How old an answer that reads the clock may be: a minute-old overdue count is fresher than the wall's (30 s refresh
# plus its own computing), and a QGIS download of the areas spans few minutes, so it is computed a few times at most.
CLOCK_S = 60
PAGES = Cache(lambda: int(settings().cache_mb * (1 << 20)))


def wait_s() -> float:
    """How long a request waits for the same answer being computed for another: as long as one query may run."""
    return settings().statement_timeout_ms / 1000


def normalised(filters: Filters) -> Filters:
    """``filters`` with its codes in one order, so two spellings of one question share their answer."""
    return dataclasses.replace(filters, categories=tuple(sorted(filters.categories)),
                               severities=tuple(sorted(filters.severities)), statuses=tuple(sorted(filters.statuses)))


def _key(kind: str, c: Collection, filters: Filters, scope: Scope, role: str | None, version: int) -> tuple:
    clock = int(time.time() // CLOCK_S) if c.reads_clock else None
    return kind, c.id, normalised(filters), scope.path, role, version, clock


def _order_key(feature: dict) -> tuple:
    p = feature["properties"]
    name = p.get("code") or p.get("h3") or p.get("grid_code") or ""
    return (str(p.get("kind") or ""), str(name), str(p.get("type") or ""), str(p.get("name") or ""),
            orjson.dumps(feature["geometry"]))


def _compute(c: Collection, filters: Filters, scope: Scope) -> tuple[tuple[bytes, ...], int]:
    """Every feature of the layer in a stable order, numbered from 1, each as GeoJSON bytes; and their size."""
    result = whole_layer(c.layer, filters, scope)
    ordered = sorted(result.features, key=_order_key)
    features = tuple(orjson.dumps({"type": "Feature", "id": n, "geometry": f["geometry"],
                                   "properties": {k: v for k, v in f["properties"].items()
                                                  if k not in STYLE_ONLY | PERSONAL}})
                     for n, f in enumerate(ordered, start=1))
    return features, sys.getsizeof(features) + sum(map(sys.getsizeof, features))


def layer_features(c: Collection, filters: Filters, scope: Scope, role: str | None) -> tuple[tuple[bytes, ...], int]:
    """Every feature of a registry collection for ``filters`` as GeoJSON bytes, computed once per key; and the
    data version they are of."""
    version = supervision_version() if c.reads_orders else data_version()
    key = _key("features", c, filters, scope, role, version)
    return PAGES.get(key, lambda: _compute(c, filters, scope), wait_s()), version


def page(c: Collection, filters: Filters, scope: Scope, role: str | None, offset: int,
         limit: int) -> tuple[list[dict], int, int]:
    """Features ``offset`` to ``offset + limit`` of the collection, how many it holds, and their data version."""
    features, version = layer_features(c, filters, scope, role)
    return [orjson.loads(f) for f in features[offset:offset + limit]], len(features), version


def feature(c: Collection, filters: Filters, scope: Scope, role: str | None, position: int) -> dict | None:
    """The feature at ``position`` (from 1), or None."""
    features, _ = layer_features(c, filters, scope, role)
    return orjson.loads(features[position - 1]) if 1 <= position <= len(features) else None


def matched_incidents(c: Collection, filters: Filters, scope: Scope, role: str | None) -> int | None:
    """How many incidents match, or None past ``incidents.MATCHED_CAP``: counted once per key, not per page."""
    def count() -> tuple[int | None, int]:
        matched, capped = incidents.count(filters, scope, incidents.MATCHED_CAP)
        return (None if capped else matched), 64

    return PAGES.get(_key("matched", c, filters, scope, role, data_version()), count, wait_s())
