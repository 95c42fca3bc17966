"""The OpenAPI 3.0 definition of the OGC API (``/ogc/api``, the landing page's ``service-desc``).

Built from what the server itself checks — the collections of ``catalogue``, the keys ``query`` accepts for
each, the systems of ``projection``, the taxonomy's codes — so the document cannot promise a parameter the
server refuses or hide one it takes. Each collection has its own items path, as OGC API – Features Part 1
recommends (§7.11), because collections take different keys (``res``, ``after``).

Examples
--------
>>> doc = definition("http://host/ogc")
>>> doc["openapi"], doc["servers"][0]["url"], "/collections/incidents/items" in doc["paths"]
('3.0.3', 'http://host/ogc', True)
"""

from __future__ import annotations

from geodata.h3cells import RESOLUTIONS
from geodata.taxonomy import CATEGORIES, STATUSES
from layers.base import SEVERITIES
from layers.ogc.catalogue import COLLECTIONS, Collection
from layers.ogc.cql import DRAFT_TEXT, LANGS
from layers.ogc.projection import CRS84, SYSTEMS
from layers.ogc.query import DEFAULT_LIMIT, ITEMS_KEYS, MAX_LIMIT, MAX_OFFSET

MEDIA_TYPE = "application/vnd.oai.openapi+json;version=3.0"
JSON = "application/json"
SCHEMA_MEDIA_TYPE = "application/schema+json"
GEOJSON = "application/geo+json"
_REF = "#/components/"

# Every key an items request may take, as an OpenAPI parameter; ``query.parse_items`` is what checks them.
_ITEMS_PARAMETERS = {
    "f": {"description": "The format: json (GeoJSON for features), the only one offered.",
          "schema": {"type": "string", "enum": ["json", "geojson"], "default": "json"}},
    "limit": {"description": f"Features per page (a `next` link leads on), 1 to {MAX_LIMIT:,}.",
              "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT}},
    "offset": {"description": "Features to skip; the `next` link sets it.",
               "schema": {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET, "default": 0}},
    "bbox": {"description": "Only features meeting this box: lower corner, upper corner (four numbers, or six with "
                            "heights), in `bbox-crs` and its axis order; CRS84 longitude, latitude by default.",
             "style": "form", "explode": False,
             "schema": {"type": "array", "minItems": 4, "maxItems": 6, "items": {"type": "number"}},
             "example": [120.0, 30.1, 120.3, 30.4]},
    "bbox-crs": {"description": "The system `bbox` is in.", "schema": {"type": "string", "format": "uri",
                                                                       "enum": list(SYSTEMS), "default": CRS84}},
    "datetime": {"description": "An instant, a day or an interval `start/end` (`..` for an open end), RFC 3339; "
                                "a time without an offset is Beijing time. Incidents by their report time; layers "
                                "count the incidents of the window.",
                 "schema": {"type": "string"}, "example": "2026-10-01/2026-10-31"},
    "crs": {"description": "The system of the answer's coordinates (Part 2), in its own axis order.",
            "schema": {"type": "string", "format": "uri", "enum": list(SYSTEMS), "default": CRS84}},
    "area": {"description": "Only this area (a code of any tier, e.g. a district) within your scope.",
             "schema": {"type": "string"}},
    "category": {"description": "Only these incident categories, comma-separated.", "style": "form", "explode": False,
                 "schema": {"type": "array", "items": {"type": "string", "enum": list(CATEGORIES)}}},
    "severity": {"description": "Only these severities (1 lowest to 4 highest), comma-separated.",
                 "style": "form", "explode": False,
                 "schema": {"type": "array", "items": {"type": "integer", "enum": list(SEVERITIES)}}},
    "status": {"description": "Only these statuses, comma-separated.", "style": "form", "explode": False,
               "schema": {"type": "array", "items": {"type": "string", "enum": list(STATUSES)}}},
    "res": {"description": "The H3 resolution of the cells: 7 (about 5 km² each) to 10 (about 0.015 km²).",
            "schema": {"type": "integer", "enum": list(RESOLUTIONS)}},
    "version": {"description": "The data version the previous page came from, which the `next` and `prev` links "
                               "carry: when a load has moved it since, the page comes from the new data and says so "
                               "(`dataChanged`).", "schema": {"type": "integer", "minimum": 0}},
    "filter": {"description": "A CQL2 filter (OGC API – Features Part 3, Basic CQL2 with S_INTERSECTS) over the "
                              "collection's queryables (`/collections/{id}/queryables`), e.g. "
                              "`severity >= 3 AND status IN ('reported', 'handling')`.",
               "schema": {"type": "string"}, "example": "severity >= 3"},
    "filter-lang": {"description": "The language of `filter`.",
                    "schema": {"type": "string", "enum": [*LANGS, DRAFT_TEXT], "default": "cql2-text"}},
    "filter-crs": {"description": "The system of the filter's coordinates: CRS84 only.",
                   "schema": {"type": "string", "format": "uri", "enum": [CRS84], "default": CRS84}},
    "sortby": {"description": "Comma-separated queryables to order by, each `-` for descending (`-count,h3`); a "
                              "missing value sorts last.", "style": "form", "explode": False,
               "schema": {"type": "array", "items": {"type": "string"}}},
    "properties": {"description": "Comma-separated properties to return (all when not given).",
                   "style": "form", "explode": False, "schema": {"type": "array", "items": {"type": "string"}}},
    "after": {"description": "Where the next page starts: a cursor the `next` link carries; follow the link as "
                             "given rather than writing one.", "schema": {"type": "string"}},
}

_LINK = {"type": "object", "required": ["href", "rel"],
         "properties": {"href": {"type": "string"}, "rel": {"type": "string"}, "type": {"type": "string"},
                        "title": {"type": "string"}}}
_LINKS = {"type": "array", "items": {"$ref": _REF + "schemas/link"}}
_GEOMETRY = {"type": "object", "required": ["type"], "properties": {
    "type": {"type": "string", "enum": ["Point", "MultiPoint", "LineString", "MultiLineString", "Polygon",
                                        "MultiPolygon", "GeometryCollection"]},
    "coordinates": {"type": "array"}}}
_FEATURE = {"type": "object", "required": ["type", "geometry", "properties"], "properties": {
    "type": {"type": "string", "enum": ["Feature"]},
    "id": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
    "geometry": {"$ref": _REF + "schemas/geometry"},
    "properties": {"type": "object"},
    "links": {"$ref": _REF + "schemas/links"}}}
_SCHEMAS = {
    "link": _LINK,
    "links": _LINKS,
    "landingPage": {"type": "object", "required": ["links"], "properties": {
        "title": {"type": "string"}, "description": {"type": "string"}, "links": {"$ref": _REF + "schemas/links"}}},
    "confClasses": {"type": "object", "required": ["conformsTo"], "properties": {
        "conformsTo": {"type": "array", "items": {"type": "string"}}}},
    "collection": {"type": "object", "required": ["id", "links"], "properties": {
        "id": {"type": "string"}, "title": {"type": "string"}, "description": {"type": "string"},
        "itemType": {"type": "string"}, "crs": {"type": "array", "items": {"type": "string"}},
        "storageCrs": {"type": "string"}, "extent": {"type": "object"}, "links": {"$ref": _REF + "schemas/links"}}},
    "collections": {"type": "object", "required": ["links", "collections"], "properties": {
        "links": {"$ref": _REF + "schemas/links"},
        "collections": {"type": "array", "items": {"$ref": _REF + "schemas/collection"}}}},
    "geometry": _GEOMETRY,
    "featureGeoJSON": _FEATURE,
    "featureCollectionGeoJSON": {"type": "object", "required": ["type", "features"], "properties": {
        "type": {"type": "string", "enum": ["FeatureCollection"]},
        "features": {"type": "array", "items": {"$ref": _REF + "schemas/featureGeoJSON"}},
        "links": {"$ref": _REF + "schemas/links"}, "timeStamp": {"type": "string", "format": "date-time"},
        "numberMatched": {"type": "integer", "minimum": 0}, "numberReturned": {"type": "integer", "minimum": 0},
        "dataVersion": {"type": "integer", "minimum": 0}, "dataChanged": {"type": "string"}}},
    "exception": {"type": "object", "required": ["code"], "properties": {
        "code": {"type": "string"}, "description": {"type": "string"}}},
}
_PROBLEMS = {
    "400": {"description": "A parameter that is unknown, repeated or does not parse; the description names it.",
            "content": {JSON: {"schema": {"$ref": _REF + "schemas/exception"}}}},
    "401": {"description": "No valid login or token (`Authorization: Bearer …`).",
            "content": {JSON: {"schema": {"$ref": _REF + "schemas/exception"}}}},
    "503": {"description": "The database cannot answer now.",
            "content": {JSON: {"schema": {"$ref": _REF + "schemas/exception"}}}},
}
_NOT_FOUND = {"description": "No such collection or feature in your scope.",
              "content": {JSON: {"schema": {"$ref": _REF + "schemas/exception"}}}}
_CRS_HEADER = {"Content-Crs": {"description": "The system of the coordinates, as `<URI>`.",
                               "schema": {"type": "string"}}}


def _parameter(key: str) -> dict:
    return {"name": key, "in": "query", "required": False, **_ITEMS_PARAMETERS[key]}


def _shared(key: str) -> dict:
    """A parameter every items path takes alike, declared once under ``components/parameters`` and referred to, as
    OGC's own OpenAPI building blocks do. QGIS reads ``limit``'s default and maximum there (and only there) and then
    pages by min(max(1000, default), maximum): with ``limit`` inline it paged by 100, 2,757 requests for the demo
    city's incidents (110 s in QGIS 3.22), by 1,000 it takes 71 s."""
    return {"$ref": _REF + "parameters/" + key}


def _answer(description: str, schema: str, kind: str = JSON, headers: dict | None = None) -> dict:
    return {"200": {"description": description, **({"headers": headers} if headers else {}),
                    "content": {kind: {"schema": {"$ref": _REF + "schemas/" + schema}}}},
            **_PROBLEMS}


def _get(summary: str, operation: str, tag: str, responses: dict, parameters: list | None = None) -> dict:
    return {"get": {"summary": summary, "operationId": operation, "tags": [tag],
                    "parameters": parameters or [_shared("f")], "responses": responses}}


def _own(c: Collection, key: str) -> dict:
    """A parameter whose values are the collection's own fields (``filter``'s example, ``sortby``, ``properties``)."""
    parameter = _parameter(key)
    names = list(c.fields)
    if key == "filter":
        first = next(name for name, f in c.fields.items() if f.filterable)
        return {**parameter, "example": f"{first} IS NOT NULL"}
    values = [*names, *(f"-{n}" for n in names)] if key == "sortby" else names
    return {**parameter, "schema": {"type": "array", "items": {"type": "string", "enum": values}}}


def _items_paths(c: Collection) -> dict:
    keys = (*ITEMS_KEYS, *c.extra_keys)
    feature_id = {"name": "featureId", "in": "path", "required": True, "schema": {"type": "string"},
                  "description": "The id of a feature as the items list it."}
    return {
        f"/collections/{c.id}/items": _get(
            f"{c.title}: features", f"getItems_{c.id}", c.id,
            _answer(c.description, "featureCollectionGeoJSON", GEOJSON, _CRS_HEADER),
            [_own(c, k) if k in ("filter", "sortby", "properties") else _shared(k) for k in keys]),
        f"/collections/{c.id}/queryables": _get(
            f"{c.title}: what a filter may name", f"getQueryables_{c.id}", c.id,
            {"200": {"description": "The queryables as a JSON Schema.",
                     "content": {SCHEMA_MEDIA_TYPE: {"schema": {"type": "object"}}}}, **_PROBLEMS}),
        f"/collections/{c.id}/items/{{featureId}}": _get(
            f"{c.title}: one feature", f"getItem_{c.id}", c.id,
            {**_answer("The feature.", "featureGeoJSON", GEOJSON, _CRS_HEADER), "404": _NOT_FOUND},
            [feature_id, _shared("f"), _shared("crs")]),
    }


def definition(base: str) -> dict:
    """The OpenAPI document of the OGC API served under ``base`` (e.g. ``http://host/ogc``)."""
    collection_id = {"name": "collectionId", "in": "path", "required": True,
                     "schema": {"type": "string", "enum": list(COLLECTIONS)}}
    paths = {
        "/": _get("The landing page", "getLandingPage", "Capabilities", _answer("Links to the API.", "landingPage")),
        "/api": _get("This document", "getAPI", "Capabilities",
                     {"200": {"description": "The OpenAPI definition.", "content": {MEDIA_TYPE: {"schema": {"type": "object"}}}}}),
        "/conformance": _get("The conformance classes", "getConformanceDeclaration", "Capabilities",
                             _answer("The classes the API conforms to.", "confClasses")),
        "/collections": _get("The collections", "getCollections", "Capabilities",
                             _answer("Every collection, with the extent of your scope.", "collections")),
        "/collections/{collectionId}": _get("One collection", "describeCollection", "Capabilities",
                                            {**_answer("The collection.", "collection"), "404": _NOT_FOUND},
                                            [collection_id, _shared("f")]),
    }
    for c in COLLECTIONS.values():
        paths.update(_items_paths(c))
    return {
        "openapi": "3.0.3",
        "info": {"title": "市域 Shiyu — OGC API – Features", "version": "1.0.0",
                 "description": "The layers of the Shiyu dashboard in your scope, as GeoJSON features (docs/ogc.md). "
                                "Every request needs a login or a token: `Authorization: Bearer <token>` "
                                "(`shiyu users token NAME`)."},
        "servers": [{"url": base}],
        "tags": [{"name": "Capabilities"}, *({"name": c.id, "description": c.title} for c in COLLECTIONS.values())],
        "security": [{"bearer": []}, {"session": []}],
        "paths": paths,
        "components": {
            "parameters": {key: _parameter(key) for key in _ITEMS_PARAMETERS},
            "schemas": _SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "An API token from `shiyu users token NAME`."},
                                "session": {"type": "apiKey", "in": "cookie", "name": "shiyu_session",
                                            "description": "The dashboard's login session."}},
        },
    }
