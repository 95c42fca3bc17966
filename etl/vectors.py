"""Vector files — GeoJSON, GeoPackage, Shapefile (plain or zipped) — read through GDAL (pyogrio).

Attributes come back as text, the geometries in the file's own CRS; a
Shapefile's ``.cpg`` is honoured even where ``SHAPE_ENCODING`` is forced.
"""

from __future__ import annotations

import codecs
import zipfile
from pathlib import Path, PurePosixPath

import pandas as pd
from pandas.api.types import is_integer_dtype

from etl.readers import (AUTO, FALLBACK_ENCODING, FEATURES, Table, _cell_text, _codec, _pick, _reason,
                         require_file)
from geodata.errors import BatchRefused, InputError


def _check_sidecars(path: Path, present: set[str], stem: str) -> None:
    # GDAL reads a .shp without its .dbf as features with no attributes at all.
    missing = [ext for ext in (".shx", ".dbf") if stem.lower() + ext not in present]
    if missing:
        raise BatchRefused(f"{path}: the shapefile '{stem}' has no {' or '.join(missing)}; a shapefile comes as "
                           ".shp, .shx and .dbf side by side (with .prj and .cpg)")


def _bare_shapefile(path: Path) -> str | None:
    """Check the sidecars of a ``.shp``; returns its ``.cpg`` text, if any."""
    siblings = {p.name.lower(): p for p in path.parent.iterdir() if p.stem.lower() == path.stem.lower()}
    _check_sidecars(path, set(siblings), path.stem)
    cpg = siblings.get(path.stem.lower() + ".cpg")
    return cpg.read_text("ascii", "replace") if cpg else None


def _zipped_shapefile(path: Path, layer: str | None) -> tuple[str, str, str | None]:
    """The ``/vsizip/`` path of the chosen ``.shp`` in a zip, its name and its ``.cpg`` text."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.namelist() if not m.startswith("__MACOSX/") and not m.endswith("/")]
            shapefiles = {PurePosixPath(m).stem: m for m in members if m.lower().endswith(".shp")}
            name = _pick(path, sorted(shapefiles), layer, "shapefile")
            base = shapefiles[name][:-4].lower()
            present = {PurePosixPath(m).name.lower() for m in members if m.lower()[:-4] == base}
            _check_sidecars(path, present, name)
            cpg = next((m for m in members if m.lower() == base + ".cpg"), None)
            cpg_text = archive.read(cpg).decode("ascii", "replace") if cpg else None
    except (zipfile.BadZipFile, OSError) as exc:
        raise BatchRefused(f"{path}: not a readable zip archive ({_reason(exc)})") from exc
    return f"/vsizip/{path.resolve()}/{shapefiles[name]}", name, cpg_text


def _cpg_codec(text: str | None) -> str | None:
    """The codec a ``.cpg`` names; ArcGIS writes Windows code pages as numbers ("936", "ANSI 936")."""
    name = (text or "").strip().split(" ")[-1]
    try:
        return codecs.lookup("cp" + name if name.isdigit() else name).name if name else None
    except LookupError:
        return None


def _gdal(path: Path, call, *args, **kwargs):
    try:
        return call(*args, **kwargs)
    except UnicodeDecodeError:
        raise
    except Exception as exc:  # pyogrio raises DataSourceError and friends, all carrying GDAL's message
        raise BatchRefused(f"{path}: not a readable vector file: {_reason(exc)}") from exc


def _column_text(column: pd.Series) -> pd.Series:
    if is_integer_dtype(column.dtype):
        return column.astype(str)
    if isinstance(column.dtype, pd.StringDtype):
        return column.fillna("").astype(str)
    return column.map(_cell_text).astype(str)


def _feature_encodings(path: Path, source: str, layer: str, codec: str | None, cpg: str | None, *,
                       shapefile: bool) -> list[str | None]:
    """The encodings to try on a feature file's text, in order; None lets GDAL decide."""
    import pyogrio

    if codec is not None:
        return ["utf-8" if codec == "utf-8-sig" else codec]
    if shapefile and _cpg_codec(cpg):
        # Passed explicitly so a .cpg counts even where SHAPE_ENCODING is forced in the environment.
        return [_cpg_codec(cpg)]
    if shapefile and _gdal(path, pyogrio.read_info, source, layer=layer)["encoding"] == "ISO-8859-1":
        # GDAL found no declared encoding and would read Latin-1; Chinese DBFs are UTF-8 or GBK.
        return ["utf-8", FALLBACK_ENCODING, "ISO-8859-1"]
    return [None, FALLBACK_ENCODING]


def read_features(path: Path, *, layer: str | None = None, encoding: str = AUTO) -> Table:
    """A GeoJSON, GeoPackage or Shapefile (``.shp`` or zipped) layer, in the file's own CRS.

    Parameters
    ----------
    path : Path
    layer : str, optional
        The GeoPackage layer or the shapefile's name in a zip; needed when there are several.
    encoding : str, default "auto"
        ``auto`` honours a shapefile's ``.cpg``; a DBF declaring nothing is read
        as UTF-8, else GB18030, else Latin-1; other files as UTF-8, else
        GB18030. A named codec (``gbk``) overrides all of that.

    Returns
    -------
    Table
        A GeoDataFrame with a ``geometry`` column and ``crs`` as the file has
        it (not reprojected), attributes as text; 1-based feature numbers.

    Raises
    ------
    InputError
        The file is missing, the encoding unknown, or the layer ambiguous or absent (the message lists the layers).
    BatchRefused
        GDAL cannot read the file, or its text does not decode.
    """
    import pyogrio  # loads GDAL, so only when a feature file is read

    path = require_file(path)
    suffix = path.suffix.lower()
    if suffix not in FEATURES:
        raise InputError(f"{path}: not a feature file ('{suffix}'); expected one of {', '.join(sorted(FEATURES))}")
    codec = _codec(path, encoding)
    if suffix == ".zip":
        source, layer, cpg = _zipped_shapefile(path, layer)
    else:
        source = str(path)
        cpg = _bare_shapefile(path) if suffix == ".shp" else None
        layer = _pick(path, [str(n) for n in _gdal(path, pyogrio.list_layers, source)[:, 0]], layer, "layer")
    attempts = _feature_encodings(path, source, layer, codec, cpg, shapefile=suffix in (".shp", ".zip"))
    for attempt in attempts:
        try:
            frame = _gdal(path, pyogrio.read_dataframe, source, layer=layer, encoding=attempt, datetime_as_string=True)
            break
        except UnicodeDecodeError as exc:
            failure = exc
    else:
        tried = " or ".join(a or "UTF-8" for a in attempts)
        raise BatchRefused(f"{path}: its text is not {tried} (byte 0x{failure.object[failure.start]:02x} is not "
                           f"{failure.encoding}); name its encoding with --encoding")
    frame = frame.reset_index(drop=True)
    for column in frame.columns:
        if str(frame[column].dtype) != "geometry":
            frame[column] = _column_text(frame[column])
    return Table(frame, pd.Series(frame.index + 1, index=frame.index), "feature", attempt or "utf-8", layer)
