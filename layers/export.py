"""Layers as files: GeoPackage, GeoJSON, zipped Shapefile or CSV, in WGS-84, an EPSG code or GCJ-02.

Each layer is built through ``layers.registry.build``, the map's own code path, for the whole area
asked for (not a screen's view), turned into a table (lists and objects as JSON text; style-only and
personal properties dropped), reprojected, and written by GDAL through pyogrio. Every file carries its
filters and creation time, and every export is written to the audit log.

The ``hexes`` layer is always exported as counts per cell: the incidents themselves, which the map
draws zoomed in, are a drawing aid capped at a few thousand per view, not a file to hand on.

Examples
--------
>>> file = export(["hotspots"], Filters(res=8, area_code="330106"), Scope.everything(), "gpkg")  # doctest: +SKIP
>>> file.name, file.counts  # doctest: +SKIP
('shiyu-hotspots-20261129-1530.gpkg', {'hotspots': 262})
"""

from __future__ import annotations

import csv
import dataclasses
import shutil
import weakref
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from tempfile import mkdtemp

import geopandas as gpd
import numpy as np
import orjson
import pandas as pd
import pyogrio
import pyproj
import shapely

from geodata.audit import record
from geodata.crs import normalise_crs, wgs84_to_gcj02
from geodata.errors import InputError, TooLarge
from geodata.scope import Scope
from geodata.taxonomy import TIERS
from geodata.settings import settings
from layers import hexes, limits
from layers.base import BEIJING, WHOLE_WORLD, Filters, LayerResult, held_day
from layers.qgis_style import layer_qml
from layers.registry import LAYERS, build

FORMATS = ("gpkg", "geojson", "shp", "csv")
CSV_GEOMETRIES = ("wkt", "lonlat")
# Boundaries simplified by about 0.6 m (a pixel at zoom 18): finer than any grid was drawn.
EXPORT_ZOOM = 18
STYLE_ONLY = frozenset({"tooltip"})
# No layer returns these today; they are dropped here too so no future property can carry them into a file.
PERSONAL = frozenset({"pii", "reporter", "reporter_name", "reporter_phone", "phone"})
SHP_FIELD_CHARS = 10
GCJ02_NOTE = "GCJ-02 (Amap/Tencent) coordinates, labelled EPSG:4326 because GCJ-02 has no EPSG code"


CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class ExportFile:
    """One file to save or download: its suggested name, where it was written (a temporary file, removed by
    ``close`` or when the object is collected), its size, features per layer and its metadata.

    Read it in chunks (``chunks``) or copy it (``path``): it is never held whole in memory here.
    """

    name: str
    path: Path
    size: int
    counts: dict[str, int]
    metadata: dict
    audit_id: int
    folder: Path = field(repr=False)  # the temporary folder the file is in

    def __post_init__(self) -> None:
        object.__setattr__(self, "_removal", weakref.finalize(self, shutil.rmtree, self.folder, ignore_errors=True))

    def chunks(self, size: int = CHUNK_BYTES) -> Iterator[bytes]:
        with self.path.open("rb") as fh:
            while chunk := fh.read(size):
                yield chunk

    @property
    def data(self) -> bytes:
        """The whole file as bytes: for tests and small files only."""
        return self.path.read_bytes()

    def close(self) -> None:
        self._removal()

    def __enter__(self) -> "ExportFile":
        return self

    def __exit__(self, *_exc) -> None:
        self.close()


def parse_layers(values: Iterable[str]) -> tuple[str, ...]:
    """Layer ids, repeated or comma-separated, in the order given, each once; unknown ids are refused."""
    names = [name.strip() for value in values for name in value.split(",") if name.strip()]
    unknown = [name for name in names if name not in LAYERS]
    if unknown:
        raise InputError(f"unknown layer {', '.join(unknown)}; layers: {', '.join(LAYERS)}")
    if not names:
        raise InputError(f"name at least one layer: {', '.join(LAYERS)}")
    return tuple(dict.fromkeys(names))


def finest_whole_tier(filters: Filters, scope: Scope) -> tuple[str, str | None]:
    """The finest tier whose areas in the request one file holds whole (``limits``' areas ceiling), and, when that
    is not the grid tier, why not: what ``shiyu export areas`` writes when no ``--tier`` is given."""
    finer = None
    for tier in reversed(TIERS):
        found = limits.estimate("areas", dataclasses.replace(filters, tier=tier), scope)
        if found.counted <= limits.LIMITS["areas"].most or tier == TIERS[0]:
            return tier, finer
        finer = finer or f"the {tier} tier holds {found.counted:,} areas here, more than one file's " \
                         f"{limits.LIMITS['areas'].most:,}"
    return TIERS[0], finer


def parse_day(text: str | None, what: str) -> date | None:
    """A ``YYYY-MM-DD`` day, or None for an empty value."""
    if not text:
        return None
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise InputError(f"{what} '{text[:40]}' is not a day like 2026-10-01") from None
    return held_day(day, what)


def output_crs(name: str) -> tuple[str, bool]:
    """(the EPSG code written into the file, whether coordinates are shifted to GCJ-02)."""
    key = normalise_crs(name)
    if key == "bd09":
        raise InputError("exports are in WGS-84, CGCS2000, GCJ-02 or an EPSG code; BD-09 (Baidu) is not offered")
    if key == "gcj02":
        return "EPSG:4326", True
    return {"wgs84": "EPSG:4326", "cgcs2000": "EPSG:4490"}.get(key, key), False


def describe_filters(filters: Filters, scope: Scope) -> dict:
    """The filters as JSON-ready values, as each file's metadata and the audit log record them."""
    described = {"area": filters.area_code, "scope": scope.path, "res": filters.res, "tier": filters.tier,
                 "since": filters.since.isoformat() if filters.since else None,
                 "until_exclusive": filters.until.isoformat() if filters.until else None,
                 "categories": list(filters.categories), "severities": list(filters.severities),
                 "statuses": list(filters.statuses)}
    if filters.bbox != WHOLE_WORLD:
        described["bbox"] = list(filters.bbox)
    return described


def _flat(value):
    return orjson.dumps(value).decode() if isinstance(value, (list, tuple, dict)) else value


def _column(values: list) -> pd.Series | list:
    """A column typed by its values: booleans, integers, reals or text, None kept as null."""
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, (bool, np.bool_)) for v in present):
        return pd.array(values, dtype="boolean")
    if present and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in present):
        return pd.array(values, dtype="Int64")
    if present and all(isinstance(v, (int, float, np.number)) and not isinstance(v, bool) for v in present):
        return pd.array([None if v is None else float(v) for v in values], dtype="Float64")
    return pd.Series([None if v is None else str(v) for v in values], dtype=object)


def layer_frame(result: LayerResult, epsg: str = "EPSG:4326", gcj02: bool = False) -> gpd.GeoDataFrame:
    """The features as a table in ``epsg`` (WGS-84 shifted to GCJ-02 when ``gcj02``)."""
    rows = [{k: _flat(v) for k, v in f["properties"].items() if k not in STYLE_ONLY | PERSONAL} for f in result.features]
    # Every feature names its grid; an empty layer keeps that one field (GDAL opens no CSV of a geometry alone).
    columns = list(dict.fromkeys(key for row in rows for key in row)) or ["grid_code"]
    table = pd.DataFrame({name: _column([row.get(name) for row in rows]) for name in columns}, index=range(len(rows)))
    geometry = gpd.GeoSeries([shapely.geometry.shape(f["geometry"]) for f in result.features], crs="EPSG:4326")
    if gcj02:
        shifted = shapely.transform(np.asarray(geometry.array), lambda xy: np.column_stack(wgs84_to_gcj02(xy[:, 0], xy[:, 1])))
        return gpd.GeoDataFrame(table, geometry=gpd.GeoSeries(shifted, crs="EPSG:4326"))
    frame = gpd.GeoDataFrame(table, geometry=geometry)
    return frame if epsg == "EPSG:4326" else frame.to_crs(epsg)


def shapefile_fields(columns: Iterable[str]) -> dict[str, str]:
    """Field names of at most 10 characters, unique regardless of case, the same for the same columns.

    A name that fits is kept; a longer one is cut to 10; a cut that collides with an earlier name ends in
    ``_1``, ``_2``, … instead.

    Examples
    --------
    >>> shapefile_fields(["h3", "visited_cells", "visited_cellsXL", "hours_since_visit"])
    {'h3': 'h3', 'visited_cells': 'visited_ce', 'visited_cellsXL': 'visited__1', 'hours_since_visit': 'hours_sinc'}
    """
    short: dict[str, str] = {}
    taken: set[str] = set()
    for name in columns:
        candidate, n = name[:SHP_FIELD_CHARS], 0
        while candidate.lower() in taken:
            n += 1
            candidate = f"{name[:SHP_FIELD_CHARS - len(str(n)) - 1]}_{n}"
        short[name] = candidate
        taken.add(candidate.lower())
    return short


def _layer_metadata(layer: str, meta: dict, count: int) -> dict[str, str]:
    return {"shiyu_layer": layer, "shiyu_created": meta["created"], "shiyu_crs": meta["crs"],
            "shiyu_features": str(count), "shiyu_filters": orjson.dumps(meta["filters"]).decode()}


def _description(layer: str, meta: dict, count: int) -> str:
    return orjson.dumps({"layer": layer, "features": count, **meta}).decode()


def _write_gpkg(folder: Path, built: dict, meta: dict, _csv_geometry: str) -> Path:
    path = folder / "export.gpkg"
    for i, (layer, (frame, _)) in enumerate(built.items()):
        extra = {"dataset_metadata": {"shiyu": orjson.dumps(meta).decode()},
                 "dataset_options": {"VERSION": "1.3"}} if i == 0 else {}  # 1.4 makes GDAL before 3.7 warn
        pyogrio.write_dataframe(frame, path, layer=layer, driver="GPKG",
                                layer_metadata=_layer_metadata(layer, meta, len(frame)),
                                layer_options={"DESCRIPTION": _description(layer, meta, len(frame))}, **extra)
    styles = [(layer, qml) for layer, (frame, result) in built.items()
              if (qml := layer_qml(result, bool(frame.geom_type.isin(["Polygon", "MultiPolygon"]).all()))) is not None]
    if styles:
        # The table QGIS reads a layer's default style from, with the columns QGIS gives it.
        pyogrio.write_dataframe(pd.DataFrame({
            "f_table_catalog": [""] * len(styles), "f_table_schema": [""] * len(styles),
            "f_table_name": [layer for layer, _ in styles], "f_geometry_column": ["geom"] * len(styles),
            "styleName": [layer for layer, _ in styles], "styleQML": [qml for _, qml in styles],
            "styleSLD": [""] * len(styles), "useAsDefault": pd.array([True] * len(styles), dtype="boolean"),
            "description": ["Shiyu " + meta["created"]] * len(styles), "owner": [""] * len(styles),
            "ui": [""] * len(styles), "update_time": [meta["created"]] * len(styles),
        }), path, layer="layer_styles", driver="GPKG", layer_options={"FID": "id"})
    return path


def _precision(meta: dict) -> str:
    return "3" if meta["projected"] else "7"  # millimetres, or about a centimetre in degrees


def _write_geojson(folder: Path, built: dict, meta: dict, _csv_geometry: str) -> Path:
    for layer, (frame, _) in built.items():
        pyogrio.write_dataframe(frame, folder / f"{layer}.geojson", layer=layer, driver="GeoJSON", layer_options={
            "DESCRIPTION": _description(layer, meta, len(frame)), "RFC7946": "NO", "WRITE_NAME": "YES",
            "COORDINATE_PRECISION": _precision(meta)})
    return folder / f"{next(iter(built))}.geojson" if len(built) == 1 else _zip(folder, meta)


def _families(frame: gpd.GeoDataFrame) -> dict[str, gpd.GeoDataFrame]:
    """The frame split by geometry family: a Shapefile holds one."""
    family = frame.geom_type.str.replace("Multi", "").str.lower()
    kinds = sorted(family.unique()) or ["polygon"]
    return {kind: frame[family == kind] for kind in kinds}


def _write_shp(folder: Path, built: dict, meta: dict, _csv_geometry: str) -> Path:
    mapping = []
    for layer, (frame, _) in built.items():
        fields = shapefile_fields(c for c in frame.columns if c != "geometry")
        families = _families(frame)
        for kind, part in families.items():
            name = layer if len(families) == 1 else f"{layer}_{kind}"
            pyogrio.write_dataframe(part.rename(columns=fields), folder / f"{name}.shp", layer=name,
                                    driver="ESRI Shapefile", layer_options={"ENCODING": "UTF-8"},
                                    geometry_type=None if len(part) else kind.capitalize())
            mapping += [(f"{name}.shp", column, short) for column, short in fields.items()]
    with (folder / "fields.csv").open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([("file", "field", "shapefile_field"), *mapping])
    return _zip(folder, meta)


def _write_csv(folder: Path, built: dict, meta: dict, csv_geometry: str) -> Path:
    for layer, (frame, _) in built.items():
        if csv_geometry == "lonlat":  # a point as is; a cell or a grid by a point inside it, near its centre
            frame = frame.set_geometry(frame.geometry.representative_point())
        # GDAL writes the .csvt (field types) and .prj (CRS) beside the CSV and reads them back from there.
        pyogrio.write_dataframe(frame, folder / f"{layer}.csv", layer=layer, driver="CSV", layer_options={
            "GEOMETRY": "AS_WKT" if csv_geometry == "wkt" else "AS_XY", "CREATE_CSVT": "YES", "WRITE_BOM": "YES"})
    return _zip(folder, meta)


def _zip(folder: Path, meta: dict) -> Path:
    (folder / "metadata.json").write_bytes(orjson.dumps(meta, option=orjson.OPT_INDENT_2))
    path = folder.parent / "export.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(folder.iterdir()):
            archive.write(file, file.name)
    return path


WRITERS = {"gpkg": _write_gpkg, "geojson": _write_geojson, "shp": _write_shp, "csv": _write_csv}


def whole_layer(layer: str, filters: Filters, scope: Scope) -> LayerResult:
    """The layer as a file (or the OGC API) hands it on: hexes as cells, boundaries at 0.6 m, refused when cut short."""
    zoom = hexes.POINTS_ZOOM - 1 if layer == "hexes" else EXPORT_ZOOM  # cells, never the incidents themselves
    result = build(layer, dataclasses.replace(filters, zoom=zoom), scope)
    if result.summary.get("truncated"):
        raise InputError(f"the {layer} layer holds more than the map draws at once, so a file would miss some of it; "
                         "narrow the export to an area (--area)")
    return result


def export(layers: Iterable[str], filters: Filters, scope: Scope, fmt: str = "gpkg", crs: str = "wgs84",
           csv_geometry: str = "wkt", *, user_name: str | None = None, remote_addr: str | None = None,
           via: str = "cli") -> ExportFile:
    """Build ``layers`` for ``filters`` and ``scope`` and write them as one file of format ``fmt``.

    GeoPackage holds every layer in one file (with QGIS styles); GeoJSON one layer per file (several in a
    zip); Shapefile and CSV come zipped with their sidecars and a ``metadata.json``. The export is recorded
    in ``shiyu.audit_log`` with ``user_name``, ``remote_addr`` and ``via`` (cli, web).
    """
    names = parse_layers(layers)
    if fmt not in FORMATS:
        raise InputError(f"unknown format '{fmt}'; formats: {', '.join(FORMATS)}")
    if csv_geometry not in CSV_GEOMETRIES:
        raise InputError(f"CSV geometry '{csv_geometry}' is not one of {', '.join(CSV_GEOMETRIES)}")
    epsg, gcj02 = output_crs(crs)
    most = max_bytes()
    expected = sum(limits.estimate(layer, filters, scope).bytes for layer in names)
    if expected > most:
        raise TooLarge(f"the export would be about {_mb(expected)}, more than the {_mb(most)} limit "
                       "(SHIYU_EXPORT_MAX_MB); pick an area, fewer layers or a coarser resolution")
    with limits.heavy_slot():  # the layers built and the file written, one heavy piece of work
        return _written(names, filters, scope, fmt, epsg, gcj02, csv_geometry, most, user_name, remote_addr, via)


def _written(names: tuple[str, ...], filters: Filters, scope: Scope, fmt: str, epsg: str, gcj02: bool,
             csv_geometry: str, most: int, user_name: str | None, remote_addr: str | None, via: str) -> ExportFile:
    created = datetime.now(BEIJING).replace(microsecond=0)
    built = {}
    for layer in names:
        result = whole_layer(layer, filters, scope)
        built[layer] = (layer_frame(result, epsg, gcj02), result)
    counts = {layer: len(frame) for layer, (frame, _) in built.items()}
    meta = {"generator": "shiyu export", "created": created.isoformat(), "crs": "GCJ-02" if gcj02 else epsg,
            "coordinates": GCJ02_NOTE if gcj02 else f"{epsg}", "projected": not gcj02 and _projected(epsg),
            "layers": counts, "filters": describe_filters(filters, scope),
            "personal_data": "none: reporter names and phones are never exported"}
    tmp = Path(mkdtemp(prefix="shiyu-export-"))
    try:
        folder = tmp / "files"
        folder.mkdir()
        path = WRITERS[fmt](folder, built, meta, csv_geometry)
        size = path.stat().st_size
        if size > most:
            raise TooLarge(f"the export came to {_mb(size)}, more than the {_mb(most)} limit "
                           "(SHIYU_EXPORT_MAX_MB); pick an area, fewer layers or a coarser resolution")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    name = f"shiyu-{'-'.join(names)}-{created:%Y%m%d-%H%M}{path.suffix}"
    audit_id = record("export", user_name, {"via": via, "file": name, "format": fmt, "crs": meta["crs"],
                                            "bytes": size, "layers": counts, "filters": meta["filters"]},
                      remote_addr)
    return ExportFile(name, path, size, counts, meta, audit_id, tmp)


def _mb(n: float) -> str:
    return f"{n / 1e6:,.1f}".removesuffix(".0") + " MB"


def max_bytes() -> int:
    """The largest file an export may write (``SHIYU_EXPORT_MAX_MB``)."""
    return int(settings().export_max_mb * 1e6)


def _projected(epsg: str) -> bool:
    return pyproj.CRS.from_user_input(epsg).is_projected
