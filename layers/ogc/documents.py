"""The OGC API – Features documents: landing page, API definition, conformance, collections, one collection,
items, one item.

Part 1 core with GeoJSON, and Part 2 (coordinate reference systems by reference). Every collection but
``incidents`` is built by ``layers.export.whole_layer`` — the map's own code path through the registry, as a
file export builds it — and paged in memory (``limit``/``offset``) in a stable order of its own; a feature's
``id`` is its position in that order. ``incidents`` pages in the database by its primary key: a ``next`` link
carries the last id seen (``after``), so every page costs what the first does. Links are absolute, under
``base`` (the API's root URL, e.g. ``http://host/ogc``).

Examples
--------
>>> doc, crs = items("areas-grid", {"limit": ["2"]}, Scope("C.C1"), "http://host/ogc")  # doctest: +SKIP
>>> doc["numberMatched"], doc["numberReturned"], [l["rel"] for l in doc["links"]]  # doctest: +SKIP
(8, 2, ['self', 'collection', 'next'])
"""

from __future__ import annotations

from datetime import datetime, timezone
from urllib.parse import quote, urlencode

import orjson

from geodata.errors import InputError, NotFound
from geodata.scope import Scope
from layers import areas, incidents
from layers.base import WHOLE_WORLD, Filters
from layers.export import PERSONAL, STYLE_ONLY, whole_layer
from layers.ogc.catalogue import COLLECTIONS, Collection
from layers.ogc.openapi import MEDIA_TYPE as API_MEDIA_TYPE
from layers.ogc.openapi import definition
from layers.ogc.projection import CRS84, SYSTEMS, to_crs
from layers.ogc.query import ItemsQuery, encode_after, parse_items, single_values

CONFORMANCE = (
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
)
JSON = "application/json"
GEOJSON = "application/geo+json"
TITLE = "市域 Shiyu — OGC API – Features"


def _link(href: str, rel: str, kind: str = JSON, title: str | None = None) -> dict:
    return {"href": href, "rel": rel, "type": kind, **({"title": title} if title else {})}


def landing(args, base: str) -> dict:
    single_values(args, ("f",))
    return {"title": TITLE,
            "description": "The layers of the Shiyu dashboard — areas per tier, incidents, hot spots, patrol coverage, "
                           "facilities — in your scope, for QGIS and other GIS (docs/ogc.md).",
            "links": [_link(f"{base}/", "self", title="this document"),
                      _link(f"{base}/api", "service-desc", API_MEDIA_TYPE, "the API definition (OpenAPI 3.0)"),
                      _link(f"{base}/conformance", "conformance", title="conformance classes"),
                      _link(f"{base}/collections", "data", title="collections")]}


def conformance(args) -> dict:
    single_values(args, ("f",))
    return {"conformsTo": list(CONFORMANCE)}


def api(args, base: str) -> dict:
    single_values(args, ("f",))
    return definition(base)


def _collection(c: Collection, base: str, extent: tuple | None) -> dict:
    doc = {"id": c.id, "title": c.title, "description": c.description, "itemType": "feature",
           "crs": list(SYSTEMS), "storageCrs": CRS84,
           "links": [_link(f"{base}/collections/{c.id}", "self"),
                     _link(f"{base}/collections/{c.id}/items", "items", GEOJSON, "the features")]}
    if extent is not None:
        doc["extent"] = {"spatial": {"bbox": [[round(v, 6) for v in extent]], "crs": CRS84}}
    return doc


def collections(args, scope: Scope, base: str) -> dict:
    single_values(args, ("f",))
    extent = areas.extent(scope)
    return {"links": [_link(f"{base}/collections", "self")],
            "collections": [_collection(c, base, extent) for c in COLLECTIONS.values()]}


def find(collection_id: str) -> Collection:
    try:
        return COLLECTIONS[collection_id]
    except KeyError:
        raise NotFound(f"there is no collection '{collection_id[:80]}'; collections: {', '.join(COLLECTIONS)}") from None


def collection(collection_id: str, args, scope: Scope, base: str) -> dict:
    c = find(collection_id)
    single_values(args, ("f",))
    return _collection(c, base, areas.extent(scope))


def _filters(c: Collection, q: ItemsQuery) -> Filters:
    if q.res is not None and "res" not in c.extra_keys:
        raise InputError(f"res does not apply to the collection '{c.id}'")
    return Filters(bbox=q.bbox or WHOLE_WORLD, res=q.res or c.default_res or 8, tier=c.tier or "grid",
                   area_code=q.area, since=q.since, until=q.until, categories=q.categories,
                   severities=q.severities, statuses=q.statuses)


def _order_key(feature: dict) -> tuple:
    p = feature["properties"]
    name = p.get("code") or p.get("h3") or p.get("grid_code") or ""
    return (str(p.get("kind") or ""), str(name), str(p.get("type") or ""), str(p.get("name") or ""),
            orjson.dumps(feature["geometry"]))


def layer_features(c: Collection, q: ItemsQuery, scope: Scope) -> list[dict]:
    """Every feature of a registry collection for the query, in a stable order, numbered from 1."""
    result = whole_layer(c.layer, _filters(c, q), scope)
    ordered = sorted(result.features, key=_order_key)
    return [{"type": "Feature", "id": n, "geometry": f["geometry"],
             "properties": {k: v for k, v in f["properties"].items() if k not in STYLE_ONLY | PERSONAL}}
            for n, f in enumerate(ordered, start=1)]


def _incident_feature(record: dict) -> dict:
    properties = {k: v for k, v in record.items() if k not in ("lon", "lat", "id")}
    return {"type": "Feature", "id": record["id"],
            "geometry": {"type": "Point", "coordinates": [record["lon"], record["lat"]]}, "properties": properties}


def _href(base: str, c: Collection, given: dict[str, str]) -> str:
    query = urlencode(given)
    return f"{base}/collections/{c.id}/items" + (f"?{query}" if query else "")


def items(collection_id: str, args, scope: Scope, base: str, now: datetime | None = None) -> tuple[dict, str]:
    """One page of a collection's features and the URI of the system its coordinates are in."""
    c = find(collection_id)
    q = parse_items(args, c.extra_keys)
    given = dict(q.given)
    if c.layer == "incidents":
        filters = _filters(c, q)
        # One more than the page: whether a next page exists, without counting; the key of the page's last row
        # (its source may hold a colon, so not its id text) is where the next page starts.
        found = incidents.records(filters, scope, q.limit + 1, q.offset, "key", q.after, now)
        more = len(found.rows) > q.limit
        page = [_incident_feature(r) for r in found.rows[:q.limit]]
        matched, capped = incidents.count(filters, scope, incidents.MATCHED_CAP)
        matched = None if capped else matched
        after = encode_after(found.keys[q.limit - 1]) if more else None
    else:
        features = layer_features(c, q, scope)
        page, more, matched, after = features[q.offset:q.offset + q.limit], len(features) > q.offset + q.limit, len(features), None
    links = [_link(_href(base, c, given), "self", GEOJSON, "this page"),
             _link(f"{base}/collections/{c.id}", "collection", JSON, c.title)]
    if more:
        following = {**given, "offset": str(q.offset + q.limit), "limit": str(q.limit)}
        if after is not None:
            following["after"] = after
        links.append(_link(_href(base, c, following), "next", GEOJSON, "the next page"))
    if q.offset > 0:
        preceding = {k: v for k, v in given.items() if k != "after"} | {"offset": str(max(0, q.offset - q.limit)),
                                                                          "limit": str(q.limit)}
        links.append(_link(_href(base, c, preceding), "prev", GEOJSON, "the previous page"))
    stamp = (now or datetime.now(timezone.utc)).astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
    doc = {"type": "FeatureCollection", "timeStamp": stamp, "numberReturned": len(page),
           **({"numberMatched": matched} if matched is not None else {}),
           "features": to_crs(page, q.crs), "links": links}
    return doc, q.crs


def item(collection_id: str, feature_id: str, args, scope: Scope, base: str, now: datetime | None = None) -> tuple[dict, str]:
    """One feature by its id, and the URI of the system its coordinates are in."""
    c = find(collection_id)
    crs = parse_items({k: v for k, v in args.items() if k in ("f", "crs")}).crs
    single_values(args, ("f", "crs"))
    if c.layer == "incidents":
        record = incidents.record(feature_id, scope, now)
        feature = _incident_feature(record) if record else None
    else:
        features = layer_features(c, ItemsQuery(), scope)
        position = int(feature_id) if feature_id.isdigit() else 0
        feature = features[position - 1] if 1 <= position <= len(features) else None
    if feature is None:
        raise NotFound(f"there is no feature '{feature_id[:80]}' in the collection '{c.id}' in your scope")
    href = f"{base}/collections/{c.id}/items/{quote(str(feature['id']), safe='')}"
    return {**to_crs([feature], crs)[0], "links": [_link(href, "self", GEOJSON),
                                                  _link(f"{base}/collections/{c.id}", "collection", JSON, c.title)]}, crs
