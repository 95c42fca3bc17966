"""OGC API – Features (Part 1 core and GeoJSON, Part 2 CRS, Part 3 CQL2 filters) over the layer registry;
docs/ogc.md."""

from layers.ogc.catalogue import COLLECTIONS, Collection
from layers.ogc.documents import (CONFORMANCE, api, collection, collections, conformance, item, items, landing,
                                  queryables)
from layers.ogc.projection import CRS84, SYSTEMS
from layers.ogc.query import DEFAULT_LIMIT, MAX_LIMIT

__all__ = ["COLLECTIONS", "CONFORMANCE", "CRS84", "DEFAULT_LIMIT", "MAX_LIMIT", "SYSTEMS", "Collection", "api", "collection",
           "collections", "conformance", "item", "items", "landing", "queryables"]
