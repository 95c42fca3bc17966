"""The OGC API – Features documents: landing page, API definition, conformance, collections, one collection,
its queryables, items, one item.

Part 1 core with GeoJSON, Part 2 (coordinate reference systems by reference) and Part 3 (a CQL2 ``filter``,
``layers.ogc.cql``: in the database for the incidents, on the one computation for the rest). Every collection but
``incidents`` is built by ``layers.export.whole_layer`` — the map's own code path through the registry, as a
file export builds it — once per query, scope, role and data version (``pages``), then paged in memory
(``limit``/``offset``) as slices of that one computation, in a stable order of its own; a feature's ``id`` is
its position in that order. ``incidents`` pages in the database by its primary key: a ``next`` link
carries the last id seen (``after``), so every page costs what the first does. Links are absolute, under
``base`` (the API's root URL, e.g. ``http://host/ogc``).

Examples
--------
>>> doc, crs = items("areas-grid", {"limit": ["2"]}, Scope("C.C1"), "http://host/ogc")  # doctest: +SKIP
>>> doc["numberMatched"], doc["numberReturned"], [l["rel"] for l in doc["links"]]  # doctest: +SKIP
(8, 2, ['self', 'collection', 'next'])
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone
from urllib.parse import quote, urlencode

from geodata.errors import InputError, NotFound
from geodata.scope import Scope
from layers import areas, incidents
from layers.base import WHOLE_WORLD, Filters
from layers.ogc import pages
from layers.ogc import cql
from layers.ogc.catalogue import COLLECTIONS, POINT, TYPES, Collection
from layers.ogc.openapi import MEDIA_TYPE as API_MEDIA_TYPE
from layers.ogc.openapi import SCHEMA_MEDIA_TYPE, definition
from layers.ogc.projection import CRS84, SYSTEMS, to_crs
from layers.ogc.query import CONNECTION_KEYS, ItemsQuery, encode_after, parse_items, single_values, whole_number

# QGIS sends a layer's filter to the server only when all of filter, features-filter, basic-cql2 and cql2-text are
# declared (qgsoapifprovider.cpp); advanced-comparison-operators lets it send LIKE, BETWEEN and IN, and
# basic-spatial-operators (QGIS's name; the final CQL2 calls it basic-spatial-functions) S_INTERSECTS with a box.
CONFORMANCE = (
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
    "http://www.opengis.net/spec/cql2/1.0/conf/advanced-comparison-operators",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-operators",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions",
    "http://www.opengis.net/spec/ogcapi-features-8/1.0/conf/sorting",
)
MAX_VERSION = 999_999_999  # what ``query.whole_number`` reads
# Pages answered with a ``filter``, by collection, in this process: what shows that a client (QGIS with a subset
# string) filters on the server rather than downloading everything and filtering itself.
FILTERED_PAGES: Counter[str] = Counter()
JSON = "application/json"
GEOJSON = "application/geo+json"
TITLE = "市域 Shiyu — OGC API – Features"


def _link(href: str, rel: str, kind: str = JSON, title: str | None = None) -> dict:
    return {"href": href, "rel": rel, "type": kind, **({"title": title} if title else {})}


def landing(args, base: str) -> dict:
    single_values(args, ("f", *CONNECTION_KEYS))
    return {"title": TITLE,
            "description": "The layers of the Shiyu dashboard — areas per tier, incidents, hot spots, patrol coverage, "
                           "facilities and their blind spots — in your scope, for QGIS and other GIS (docs/ogc.md).",
            "links": [_link(f"{base}/", "self", title="this document"),
                      _link(f"{base}/api", "service-desc", API_MEDIA_TYPE, "the API definition (OpenAPI 3.0)"),
                      _link(f"{base}/conformance", "conformance", title="conformance classes"),
                      _link(f"{base}/collections", "data", title="collections")]}


def conformance(args) -> dict:
    single_values(args, ("f", *CONNECTION_KEYS))
    return {"conformsTo": list(CONFORMANCE)}


def api(args, base: str) -> dict:
    single_values(args, ("f", *CONNECTION_KEYS))
    return definition(base)


def _collection(c: Collection, base: str, extent: tuple | None) -> dict:
    doc = {"id": c.id, "title": c.title, "description": c.description, "itemType": "feature",
           "crs": list(SYSTEMS), "storageCrs": CRS84,
           "links": [_link(f"{base}/collections/{c.id}", "self"),
                     _link(f"{base}/collections/{c.id}/items", "items", GEOJSON, "the features"),
                     _link(f"{base}/collections/{c.id}/queryables", "http://www.opengis.net/def/rel/ogc/1.0/queryables",
                           SCHEMA_MEDIA_TYPE, "what a filter may name"),
                     # the draft's relation, which GDAL 3.6 follows, reading the document as plain JSON
                     _link(f"{base}/collections/{c.id}/queryables?f=json", "queryables", JSON,
                           "what a filter may name")]}
    if extent is not None:
        doc["extent"] = {"spatial": {"bbox": [[round(v, 6) for v in extent]], "crs": CRS84}}
    return doc


def collections(args, scope: Scope, base: str) -> dict:
    single_values(args, ("f", *CONNECTION_KEYS))
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
    single_values(args, ("f", *CONNECTION_KEYS))
    return _collection(c, base, areas.extent(scope))


def queryables(collection_id: str, args, base: str) -> dict:
    """The collection's queryables as a JSON Schema (Part 3): its geometry and every field a filter may name."""
    c = find(collection_id)
    single_values(args, ("f", *CONNECTION_KEYS))
    shape = "point" if c.geometry == POINT else "polygon"
    properties = {cql.GEOMETRY: {"title": "geometry", "format": f"geometry-{shape}",
                                 "$ref": f"https://geojson.org/schema/{c.geometry}.json"}}
    for name, field in c.fields.items():
        if field.filterable:
            properties[name] = {"title": field.title, **TYPES[field.type],
                                **({"enum": list(field.enum)} if field.enum else {})}
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"{base}/collections/{c.id}/queryables", "type": "object", "title": c.title,
            "properties": properties, "additionalProperties": False,
            # the draft's list of the same names, which GDAL 3.6 reads instead of ``properties``
            "queryables": [{"id": name} for name in properties if name != cql.GEOMETRY]}


def _asked(c: Collection, q: ItemsQuery) -> tuple[cql.Filter | None, tuple[tuple[str, bool], ...]]:
    """The request's filter and sort order, every name checked against the collection's fields."""
    found = cql.parse(q.filter, q.filter_lang, c.fields) if q.filter is not None else None
    for name in [n for n, _ in q.sortby] + list(q.properties or ()):
        if name not in c.fields:
            raise InputError(f"the collection '{c.id}' has no property '{name[:60]}'; it has {', '.join(c.fields)}")
    if c.layer == "incidents" and q.sortby and q.offset + q.limit > incidents.MAX_OFFSET:
        raise InputError(f"incidents in a sortby order page {incidents.MAX_OFFSET:,} deep at most; narrow the "
                         "filter, or page without sortby (in the order of their ids, as deep as they go)")
    return found, q.sortby


def _kept(features: list[dict], names: tuple[str, ...] | None) -> list[dict]:
    if names is None:
        return features
    return [{**f, "properties": {k: v for k, v in f["properties"].items() if k in names}} for f in features]


def _filters(c: Collection, q: ItemsQuery) -> Filters:
    if q.res is not None and "res" not in c.extra_keys:
        raise InputError(f"res does not apply to the collection '{c.id}'")
    return Filters(bbox=q.bbox or WHOLE_WORLD, res=q.res or c.default_res or 8, tier=c.tier or "grid",
                   area_code=q.area, since=q.since, until=q.until, categories=q.categories,
                   severities=q.severities, statuses=q.statuses)


def _incident_feature(record: dict) -> dict:
    properties = {k: v for k, v in record.items() if k not in ("lon", "lat", "id")}
    return {"type": "Feature", "id": record["id"],
            "geometry": {"type": "Point", "coordinates": [record["lon"], record["lat"]]}, "properties": properties}


def _href(base: str, c: Collection, given: dict[str, str]) -> str:
    query = urlencode(given)
    return f"{base}/collections/{c.id}/items" + (f"?{query}" if query else "")


def _versioned(asked: int | None, version: int) -> dict:
    """The members that say which data a page is of, and whether it moved since the page whose link led here."""
    if asked is None or asked == version:
        return {"dataVersion": version}
    return {"dataVersion": version, "dataChanged": f"the data changed since the previous page (version {asked} is now "
            f"{version}): this page is of the new data, so features may have moved between pages; start again from "
            "the first page for a consistent set"}


def items(collection_id: str, args, scope: Scope, base: str, now: datetime | None = None,
          role: str | None = None) -> tuple[dict, str]:
    """One page of a collection's features and the URI of the system its coordinates are in.

    ``role`` is the reader's: answers kept for one role or ``scope`` are never served to another (``pages``).
    """
    c = find(collection_id)
    q = parse_items(args, c.extra_keys)
    condition, sortby = _asked(c, q)
    if condition is not None:
        FILTERED_PAGES[c.id] += 1
    given, extra = dict(q.given), {}
    if c.layer == "incidents":
        filters = _filters(c, q)
        where = cql.to_sql(condition, incidents.FIELD_COLUMNS, incidents.GEOMETRY_COLUMN) \
            if condition else None
        # One more than the page: whether a next page exists, without counting; the key of the page's last row
        # (its source may hold a colon, so not its id text) is where the next page starts. In a sortby order,
        # pages go by offset.
        found = incidents.records(filters, scope, q.limit + 1, q.offset, "key", None if sortby else q.after, now,
                                  where, sortby)
        more = len(found.rows) > q.limit
        page = [_incident_feature(r) for r in found.rows[:q.limit]]
        # Counted for a first page (and one reached by offset), where QGIS and GDAL read it; a page that follows a
        # cursor leaves it out (Part 1 allows that) instead of reading the data version again for it.
        matched = (pages.matched_incidents(c, filters, scope, role, where, condition.key if condition else None)
                   if q.after is None or sortby else None)
        after = encode_after(found.keys[q.limit - 1]) if more and not sortby else None
    else:
        asked = whole_number(given["version"], "version", 0, MAX_VERSION) if "version" in given else None
        page, matched, version = pages.page(c, _filters(c, q), scope, role, q.offset, q.limit, condition, sortby)
        more, after, extra = matched > q.offset + q.limit, None, _versioned(asked, version)
        given["version"] = str(version)
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
           "features": to_crs(_kept(page, q.properties), q.crs), "links": links, **extra}
    return doc, q.crs


def item(collection_id: str, feature_id: str, args, scope: Scope, base: str, now: datetime | None = None,
         role: str | None = None) -> tuple[dict, str]:
    """One feature by its id, and the URI of the system its coordinates are in."""
    c = find(collection_id)
    crs = parse_items({k: v for k, v in args.items() if k in ("f", "crs")}).crs
    single_values(args, ("f", "crs", *CONNECTION_KEYS))
    if c.layer == "incidents":
        record = incidents.record(feature_id, scope, now)
        feature = _incident_feature(record) if record else None
    else:
        position = int(feature_id) if feature_id.isascii() and feature_id.isdigit() else 0
        feature = pages.feature(c, _filters(c, ItemsQuery()), scope, role, position)
    if feature is None:
        raise NotFound(f"there is no feature '{feature_id[:80]}' in the collection '{c.id}' in your scope")
    href = f"{base}/collections/{c.id}/items/{quote(str(feature['id']), safe='')}"
    return {**to_crs([feature], crs)[0], "links": [_link(href, "self", GEOJSON),
                                                  _link(f"{base}/collections/{c.id}", "collection", JSON, c.title)]}, crs
