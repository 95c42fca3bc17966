"""Vector tiles of the incidents and the grids, built in PostGIS with ``ST_AsMVT``, for views where GeoJSON
would be too large (``/tiles/{layer}/{z}/{x}/{y}.pbf``, docs/tiles.md).

As in pg_tileserv, a layer returns its SQL and its bound arguments separately; the request box is the web
mercator tile envelope transformed to the column's SRID (4326), never the column to the box's, so the GiST
index finds the rows; every tile is capped (``TileLayer.cap`` features, which ones are kept is the layer's
``keeps``) and runs under ``TIMEOUT_MS``, the tiles' statement timeout (``geodata.db.STATEMENT_TIMEOUTS_MS``). The filters are the map's (``layers.base.INCIDENT_FILTERS``, the
scope or the chosen area through ``view_path``), read from the same query keys as the OGC API. Incident
tiles carry no personal data: the reporter's fields are never selected.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from urllib.parse import urlencode

from geodata.db import STATEMENT_TIMEOUTS_MS, fetch_all, fetch_value
from geodata.errors import InputError, NotFound
from geodata.scope import Scope
from geodata.taxonomy import CATEGORIES
from layers import tile_cells
from layers.base import BEIJING, INCIDENT_FILTERS, Filters, LayerResult, LegendEntry, incident_params, view_path
from layers.hexes import MAX_POINTS, POINTS_ZOOM
from layers.incidents import count
from layers.ogc.query import parse_datetime, single_values, whole_number, words

CONTENT_TYPE = "application/vnd.mapbox-vector-tile"
MAX_ZOOM = 22
EXTENT = 4096  # tile units across a tile, MVT's default
BUFFER = 64  # tile units each tile reaches past its edges, so a dot on an edge is drawn whole on both sides
TIMEOUT_MS = STATEMENT_TIMEOUTS_MS["tiles"]
_NUMBER = re.compile(r"^\d{1,8}$")

# The tile in web mercator (what ST_AsMVTGeom clips and scales to) and, widened by the buffer, in the
# column's SRID for the index: transform the box, not the column. A tile's edges are meridians and parallels,
# straight in both systems, so its four corners transformed are the exact box.
_BOUNDS = """
WITH bounds AS (
  SELECT ST_TileEnvelope(%(z)s, %(x)s, %(y)s) AS tile,
         ST_Transform(ST_TileEnvelope(%(z)s, %(x)s, %(y)s, margin => %(margin)s), 4326) AS box
)"""

# The newest incidents first: a capped tile keeps the most recent ``cap`` of them.
INCIDENT_TILE = _BOUNDS + """, features AS (
  SELECT i.source || ':' || i.external_id AS id, i.category, i.severity, i.status,
         to_char(i.reported_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD"T"HH24:MI:SS"+08:00"') AS reported_at,
         i.grid_code,
         ST_AsMVTGeom(ST_Transform(i.geom, 3857), bounds.tile, %(extent)s, %(buffer)s, true) AS geom
  FROM shiyu.incident i, bounds
  WHERE i.geom && bounds.box AND """ + INCIDENT_FILTERS + """
  ORDER BY i.reported_at DESC, i.source, i.external_id
  LIMIT %(cap)s
)
SELECT ST_AsMVT(features, 'incidents', %(extent)s, 'geom') FROM features
"""

# Whether the tile holds more incidents than its cap: counted no further than one past it.
INCIDENTS_OVER_CAP = _BOUNDS + """
SELECT count(*) > %(cap)s FROM (
  SELECT 1 FROM shiyu.incident i, bounds WHERE i.geom && bounds.box AND """ + INCIDENT_FILTERS + """
  LIMIT %(cap)s + 1
) capped
"""

# The largest grids first: a capped tile (a city seen whole) keeps the outlines that still show.
GRID_TILE = _BOUNDS + """, features AS (
  SELECT a.code, a.name, a.owner_name AS owner,
         ST_AsMVTGeom(ST_Transform(a.geom, 3857), bounds.tile, %(extent)s, %(buffer)s, true) AS geom
  FROM shiyu.area a, bounds
  WHERE a.tier = 'grid' AND a.geom && bounds.box
    AND (%(scope)s::ltree IS NULL OR a.path <@ %(scope)s::ltree)
  ORDER BY a.area_m2 DESC NULLS LAST, a.code
  LIMIT %(cap)s
)
SELECT ST_AsMVT(features, 'grids', %(extent)s, 'geom') FROM features
"""


@dataclass(frozen=True)
class Tile:
    z: int
    x: int
    y: int


def parse_tile(z: str, x: str, y: str) -> Tile:
    """A tile address from the path; words are an ``InputError``, numbers off the zoom's grid ``NotFound``."""
    if not all(_NUMBER.match(str(part)) for part in (z, x, y)):
        raise InputError(f"tile {str(z)[:12]}/{str(x)[:12]}/{str(y)[:12]} is not three whole numbers z/x/y")
    tile = Tile(int(z), int(x), int(y))
    if tile.z > MAX_ZOOM:
        raise NotFound(f"there are no tiles beyond zoom {MAX_ZOOM}")
    side = 2**tile.z
    if tile.x >= side or tile.y >= side:
        raise NotFound(f"there is no tile {tile.z}/{tile.x}/{tile.y}: at zoom {tile.z}, x and y run from 0 to {side - 1}")
    return tile


@dataclass(frozen=True)
class TileLayer:
    """One layer of tiles: its SQL, the query keys it takes, and how many features a tile holds at most."""

    name: str
    sql: str
    keys: tuple[str, ...]
    cap: int
    keeps: str  # which features a tile at its cap keeps, in words for docs and answers
    fields: dict[str, str]  # the properties each feature carries, as TileJSON names their types
    description: str
    aggregates: bool = False  # past its cap a tile holds counts per H3 cell (layers/tile_cells.py), not a subset

    def filters(self, args: Mapping[str, Sequence[str]]) -> Filters:
        """The map's filters from a query string (``request.args.to_dict(flat=False)``), every value checked."""
        values = single_values(args, self.keys)
        if VERSION_KEY in values:
            whole_number(values[VERSION_KEY], "v (the data's version)", 0, 999_999_999)
        since, until = parse_datetime(values["datetime"]) if "datetime" in values else (None, None)
        return Filters(area_code=values.get("area") or None, since=since, until=until,
                       categories=words(values.get("category", "")),
                       severities=tuple(whole_number(s, "severity", 1, 4) for s in words(values.get("severity", ""))),
                       statuses=words(values.get("status", "")))

    def query(self, tile: Tile, filters: Filters, scope: Scope) -> tuple[str, dict]:
        """The SQL of one tile and its bound arguments."""
        params = {"z": tile.z, "x": tile.x, "y": tile.y, "margin": BUFFER / EXTENT, "extent": EXTENT,
                  "buffer": BUFFER, "cap": self.cap}
        if self.name == "incidents":
            return self.sql, {**params, **incident_params(filters, scope)}
        return self.sql, {**params, "scope": view_path(filters, scope)}


# ``v``, the data's version (geodata/version.py), changes a tile's URL, not its content: the explore page puts it in
# so the browser's cache (60 s) never draws a tile from before the data moved.
VERSION_KEY = "v"
INCIDENT_KEYS = ("datetime", "area", "category", "severity", "status", VERSION_KEY)
LAYERS: dict[str, TileLayer] = {
    "incidents": TileLayer(
        "incidents", INCIDENT_TILE, INCIDENT_KEYS, cap=10_000, keeps="none: it holds counts per H3 cell instead",
        fields={"id": "String", "category": "String", "severity": "Number", "status": "String",
                "reported_at": "String", "grid_code": "String"},
        description="Every incident in scope as a point; a tile of more than 10,000 holds their counts per H3 cell "
                    "(layer incident_cells) instead", aggregates=True),
    "grids": TileLayer("grids", GRID_TILE, ("area", VERSION_KEY), cap=5_000, keeps="the largest",
                       fields={"code": "String", "name": "String", "owner": "String"},
                       description="The outlines of the grids in scope; a tile of more than 5,000 keeps the largest"),
}


def find(name: str) -> TileLayer:
    try:
        return LAYERS[name]
    except KeyError:
        raise NotFound(f"there is no tile layer '{name[:40]}'; layers: {', '.join(LAYERS)}") from None


def tile(name: str, z: str, x: str, y: str, args: Mapping[str, Sequence[str]], scope: Scope) -> bytes:
    """One Mapbox Vector Tile (empty bytes when nothing is in it) of layer ``name`` for the query ``args``."""
    layer = find(name)
    address = parse_tile(z, x, y)
    filters = layer.filters(args)
    sql, params = layer.query(address, filters, scope)
    if layer.aggregates and fetch_value(INCIDENTS_OVER_CAP, params, timeout_ms=TIMEOUT_MS):
        return tile_cells.cell_tile(address.z, address.x, address.y, filters, scope, EXTENT, BUFFER, TIMEOUT_MS)
    return bytes(fetch_value(sql, params, timeout_ms=TIMEOUT_MS) or b"")


# The extent of what the scope (or the chosen area) holds: the bounds a TileJSON document gives its clients.
SCOPE_EXTENT = """
SELECT ST_XMin(e) AS west, ST_YMin(e) AS south, ST_XMax(e) AS east, ST_YMax(e) AS north
FROM (SELECT ST_Extent(geom) AS e FROM shiyu.area WHERE %(scope)s::ltree IS NULL OR path <@ %(scope)s::ltree) x
"""
TILEJSON_VERSION = "3.0.0"


def tilejson(name: str, root: str, args: Mapping[str, Sequence[str]], scope: Scope) -> dict:
    """The TileJSON 3.0 document of layer ``name`` for the query ``args`` (checked as a tile's are): where its
    tiles are (``root`` is the site's address), their zooms, the bounds of the scope, and each source layer's
    fields, so a client (QGIS, MapLibre) knows what it will get before asking for a tile."""
    layer = find(name)
    filters = layer.filters(args)
    row = fetch_all(SCOPE_EXTENT, {"scope": view_path(filters, scope)})[0]
    bounds = [-180.0, -85.0511, 180.0, 85.0511] if row["west"] is None else \
        [round(float(row[k]), 6) for k in ("west", "south", "east", "north")]
    query = urlencode([(k, v) for k, values in args.items() if k in layer.keys for v in values], safe=",:/")
    vector_layers = [{"id": layer.name, "description": layer.description, "minzoom": 0, "maxzoom": MAX_ZOOM,
                      "fields": layer.fields}]
    if layer.aggregates:
        vector_layers.append({"id": tile_cells.LAYER, "minzoom": 0, "maxzoom": MAX_ZOOM, "fields": tile_cells.FIELDS,
                              "description": f"Where a tile would hold more than {layer.cap:,} {layer.name}: "
                                             "their counts per H3 cell (res 7 to 10 by zoom), each cell whole"})
    return {"tilejson": TILEJSON_VERSION, "name": layer.name, "description": layer.description, "scheme": "xyz",
            "tiles": [f"{root}/tiles/{layer.name}/{{z}}/{{x}}/{{y}}.pbf" + (f"?{query}" if query else "")],
            "minzoom": 0, "maxzoom": MAX_ZOOM, "bounds": bounds,
            "center": [round((bounds[0] + bounds[2]) / 2, 6), round((bounds[1] + bounds[3]) / 2, 6), 10],
            "vector_layers": vector_layers}


# ---- when the map draws from tiles rather than GeoJSON ----

GRIDS_IN_VIEW = """
SELECT count(*) FILTER (WHERE in_view) AS in_view, count(*) AS in_scope FROM (
  SELECT geom && ST_MakeEnvelope(%(west)s, %(south)s, %(east)s, %(north)s, 4326) AS in_view
  FROM shiyu.area WHERE tier = 'grid' AND (%(scope)s::ltree IS NULL OR path <@ %(scope)s::ltree)
) grids
"""
# Past this many grids in scope the map outlines grids from tiles: the browser keeps the tiles it has, so
# moving about a city of 10,000 grids fetches only the new edges instead of every outline in view again.
GRID_TILES_ABOVE = 2_000
# Counting the incidents of a view that is drawn from tiles stops here (the panel says "100,000").
COUNT_CAP = 100_000


@dataclass(frozen=True)
class MapTiles:
    """What the explore map draws from tiles for a view: incidents (with their count) and grid outlines."""

    incidents: int | None = None  # the incidents in view, when the map draws them from tiles
    grids: int | None = None  # the grids in view, when the map outlines them from tiles

    def urls(self, filters: Filters, prefix: str = "/tiles", version: int | None = None) -> dict[str, str | None]:
        """The URL templates of the layers drawn from tiles (``{z}/{x}/{y}`` for Leaflet), else None; with the
        data's ``version`` in them, so a browser's cached tile is not drawn once the data moved."""
        return {name: f"{prefix}/{name}/{{z}}/{{x}}/{{y}}.pbf{query_string(name, filters, version)}"
                if count is not None else None
                for name, count in (("incidents", self.incidents), ("grids", self.grids))}


def map_tiles(layer: str, filters: Filters, scope: Scope) -> MapTiles:
    """Which parts of the explore map's ``layer`` come from tiles for this view.

    Incidents: zoomed in to ``hexes.POINTS_ZOOM`` on the hexes layer, when the view holds more than
    ``hexes.MAX_POINTS`` of them (GeoJSON points stop there and the map fell back to hexagons). Grid outlines:
    whenever the map outlines the grid tier and the scope (or chosen area) holds more than ``GRID_TILES_ABOVE``.
    """
    west, south, east, north = filters.bbox
    box = {"west": west, "south": south, "east": east, "north": north}
    incidents = grids = None
    if layer == "hexes" and filters.zoom >= POINTS_ZOOM:
        n, _ = count(filters, scope, COUNT_CAP + 1)  # the table's capped count of the view, at most COUNT_CAP
        incidents = n if n > MAX_POINTS else None
    if layer != "areas" and filters.tier == "grid":
        row = fetch_all(GRIDS_IN_VIEW, {**box, "scope": view_path(filters, scope)})[0]
        grids = row["in_view"] if row["in_scope"] > GRID_TILES_ABOVE else None
    return MapTiles(incidents, grids)


def query_string(layer: str, filters: Filters, version: int | None = None) -> str:
    """The query keys of ``layer``'s tiles for ``filters`` (and the data's ``version``), so a tile URL carries the
    view's filters."""
    keys = LAYERS[layer].keys
    pairs = {"area": filters.area_code, VERSION_KEY: None if version is None else str(version)}
    if "datetime" in keys and (filters.since or filters.until):
        pairs["datetime"] = f"{_bound(filters.since, end=False)}/{_bound(filters.until, end=True)}"
    if "category" in keys:
        pairs.update(category=",".join(filters.categories), severity=",".join(map(str, filters.severities)),
                     status=",".join(filters.statuses))
    kept = {k: v for k, v in pairs.items() if v}
    return "?" + urlencode(kept, safe=",:/") if kept else ""


def _bound(moment: datetime | None, end: bool) -> str:
    """One end of a half-open window as the ``datetime`` key writes it: a Beijing day where it is one (the
    map's windows are days), else a time; an end is written as the last moment it includes."""
    if moment is None:
        return ".."
    local = moment.astimezone(BEIJING)
    if local.time() == time(0):
        return (local.date() - timedelta(days=1) if end else local.date()).isoformat()
    return (local - timedelta(microseconds=1) if end else local).isoformat()


def incident_style(filters: Filters) -> LayerResult:
    """The legend and colours of incidents drawn from tiles: the categories asked for (all when none are)."""
    codes = filters.categories or tuple(CATEGORIES)
    return LayerResult([], [LegendEntry(code, CATEGORIES[code].colour) for code in codes], {},
                       {"mode": "tiles", "colours": {code: c.colour for code, c in CATEGORIES.items()}})
