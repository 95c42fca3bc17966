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
from layers.limits import AREAS_DRAWN, estimate
from layers.ogc.catalogue import Collection
from layers.ogc.cql import Filter, predicate

# How old an answer that reads the clock may be: a minute-old overdue count is fresher than the wall's (30 s refresh
# plus its own computing), and a QGIS download of the areas spans few minutes, so it is computed a few times at most.
CLOCK_S = 60
PART = AREAS_DRAWN  # areas a part holds, for a tier of more (``_parts``)
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
    """Every feature of the collection (of a ``part``, that run) in a stable order, numbered from 1 (from the part's
    first position), each as GeoJSON bytes; and their size."""
    result = whole_layer(c.layer, filters, scope)
    mine = [f for f in result.features if c.kind is None or f["properties"].get("kind") == c.kind]
    ordered = sorted(mine, key=_order_key)
    first = 1 + (filters.part or 0) * PART
    # Every feature carries every declared field, in one order (None where it has no value), so a client that types
    # a layer from its first features (QGIS, GDAL) sees them all; nothing undeclared (tooltips, personal data) leaves.
    names = [k for k in c.fields if k not in STYLE_ONLY | PERSONAL]
    features = tuple(orjson.dumps({"type": "Feature", "id": n, "geometry": f["geometry"],
                                   "properties": {k: f["properties"].get(k) for k in names}})
                     for n, f in enumerate(ordered, start=first))
    return features, sys.getsizeof(features) + sum(map(sys.getsizeof, features))


def _areas(c: Collection, filters: Filters, scope: Scope, role: str | None, version: int) -> int:
    """How many areas of the tier the view holds (one query on the areas, once per key)."""
    return PAGES.get(_key("areas", c, filters, scope, role, version),
                     lambda: (estimate("areas", filters, scope).counted, 64), wait_s())


def _parts(c: Collection, filters: Filters, scope: Scope, role: str | None, version: int) -> int:
    """How many parts the collection is computed in: more than one only for a tier of more areas than a map draws
    (``layers.limits.AREAS_DRAWN``), whose runs of areas by code are computed one at a time, as they are paged."""
    if c.layer != "areas":
        return 1
    return max(1, -(-_areas(c, filters, scope, role, version) // PART))


def _part(c: Collection, filters: Filters, scope: Scope, role: str | None, version: int,
          part: int | None) -> tuple[bytes, ...]:
    asked = dataclasses.replace(filters, part=part)
    return PAGES.get(_key("features", c, asked, scope, role, version), lambda: _compute(c, asked, scope), wait_s())


def layer_features(c: Collection, filters: Filters, scope: Scope, role: str | None) -> tuple[tuple[bytes, ...], int]:
    """Every feature of a registry collection for ``filters`` as GeoJSON bytes, computed once per key (a part at
    a time); and the data version they are of."""
    version = supervision_version() if c.reads_orders else data_version()
    parts = _parts(c, filters, scope, role, version)
    if parts == 1:
        return _part(c, filters, scope, role, version, None), version
    return tuple(f for n in range(parts) for f in _part(c, filters, scope, role, version, n)), version


def _view(c: Collection, filters: Filters, scope: Scope, role: str | None, found: Filter | None,
          sortby: tuple[tuple[str, bool], ...]) -> tuple[tuple[bytes, ...], int]:
    """The features a filter keeps, in the ``sortby`` order: computed from the one computation, once per key."""
    features, version = layer_features(c, filters, scope, role)
    if found is None and not sortby:
        return features, version

    def compute() -> tuple[tuple[bytes, ...], int]:
        keep = predicate(found) if found is not None else None
        pairs = [(orjson.loads(f), f) for f in features]
        pairs = [p for p in pairs if keep is None or keep(p[0])]
        kept = tuple(f for _, f in _order(pairs, sortby))
        return kept, sys.getsizeof(kept)

    key = (*_key("view", c, filters, scope, role, version), found.key if found else None, sortby)
    return PAGES.get(key, compute, wait_s()), version


def _order(pairs: list[tuple[dict, bytes]], sortby: tuple[tuple[str, bool], ...]) -> list[tuple[dict, bytes]]:
    """Ordered by each (name, descending) in turn, a missing value last either way; ties keep their order."""
    for name, down in reversed(sortby):
        present = [p for p in pairs if p[0]["properties"].get(name) is not None]
        missing = [p for p in pairs if p[0]["properties"].get(name) is None]
        pairs = sorted(present, key=lambda p: p[0]["properties"][name], reverse=down) + missing
    return pairs


def page(c: Collection, filters: Filters, scope: Scope, role: str | None, offset: int, limit: int,
         found: Filter | None = None, sortby: tuple[tuple[str, bool], ...] = ()) -> tuple[list[dict], int, int]:
    """Features ``offset`` to ``offset + limit`` of the collection (those ``found`` keeps, in the ``sortby``
    order), how many it holds, and their data version. Unfiltered, a tier of many areas computes only the parts
    the page reaches into."""
    if found is None and not sortby and c.layer == "areas":
        version = data_version()
        parts = _parts(c, filters, scope, role, version)
        if parts > 1:
            reached = range(offset // PART, min(parts, (offset + limit - 1) // PART + 1))
            held = [f for n in reached for f in _part(c, filters, scope, role, version, n)]
            start = offset - reached.start * PART if len(reached) else 0
            matched = _areas(c, filters, scope, role, version)
            return [orjson.loads(f) for f in held[start:start + limit]], matched, version
    features, version = _view(c, filters, scope, role, found, sortby)
    return [orjson.loads(f) for f in features[offset:offset + limit]], len(features), version


def feature(c: Collection, filters: Filters, scope: Scope, role: str | None, position: int) -> dict | None:
    """The feature at ``position`` (from 1), or None."""
    if c.layer == "areas" and position >= 1:
        version = data_version()
        part, parts = (position - 1) // PART, _parts(c, filters, scope, role, version)
        if parts > 1:
            held = _part(c, filters, scope, role, version, part) if part < parts else ()
            index = position - 1 - part * PART
            return orjson.loads(held[index]) if index < len(held) else None
    features, _ = layer_features(c, filters, scope, role)
    return orjson.loads(features[position - 1]) if 1 <= position <= len(features) else None


def matched_incidents(c: Collection, filters: Filters, scope: Scope, role: str | None,
                      where: tuple[str, dict] | None = None, where_key: str | None = None) -> int | None:
    """How many incidents match (``where`` too, named by ``where_key``), or None past ``incidents.MATCHED_CAP``:
    counted once per key, not per page."""
    def count() -> tuple[int | None, int]:
        matched, capped = incidents.count(filters, scope, incidents.MATCHED_CAP, where)
        return (None if capped else matched), 64

    key = (*_key("matched", c, filters, scope, role, data_version()), where_key)
    return PAGES.get(key, count, wait_s())
