"""Writers that give the same bytes for the same data: CSV in chunks, GeoJSON, GeoPackage, XLSX.

Files carry no wall-clock time of their own: the GeoPackage's timestamps and
the workbook's document properties and zip entries are set from ``now``, so a
fixed seed and ``now`` reproduce every file byte for byte.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import orjson
import pandas as pd
import shapely

_CORE_XML = "docProps/core.xml"
_MODIFIED = re.compile(rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)")


def decimals(values: np.ndarray, places: int = 6) -> np.ndarray:
    """Numbers as the shortest text of their value rounded to ``places`` decimals (vectorised).

    Examples
    --------
    >>> decimals(np.array([120.1234564, 30.2])).tolist()
    ['120.123456', '30.2']
    """
    return np.round(np.asarray(values, dtype=float), places).astype(str).astype(object)


def csv_text(columns: Sequence[np.ndarray], newline: str = "\n") -> str:
    """Rows of text columns joined by commas; values must hold no comma, quote or newline.

    Examples
    --------
    >>> csv_text([np.array(["a", "b"], dtype=object), np.array(["1", "2"], dtype=object)])
    'a,1\\nb,2\\n'
    """
    line = np.asarray(columns[0], dtype=object)
    for column in columns[1:]:
        line = line + "," + np.asarray(column, dtype=object)
    return newline.join(line.tolist()) + newline if len(line) else ""


class CsvWriter:
    """A CSV file written chunk by chunk, so its size is not bounded by memory.

    Parameters
    ----------
    path : Path
    header : sequence of str
    encoding : str
        ``utf-8``, ``utf-8-sig`` (with a byte-order mark, as Excel writes) or ``gbk``.
    newline : str
        ``"\\n"``, or ``"\\r\\n"`` as Windows systems export.
    """

    def __init__(self, path: Path, header: Sequence[str], *, encoding: str = "utf-8", newline: str = "\n"):
        self.path, self.encoding, self.newline, self.rows = Path(path), encoding, newline, 0
        self._fh = self.path.open("w", encoding=encoding, newline="")
        self._fh.write(",".join(header) + newline)

    def write(self, columns: Sequence[np.ndarray]) -> None:
        """Append rows given as one text array per column."""
        self._fh.write(csv_text(columns, self.newline))
        self.rows += len(columns[0])

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> CsvWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def write_geojson(path: Path, frame: pd.DataFrame, properties: Sequence[str]) -> Path:
    """A FeatureCollection of ``frame``'s ``geometry`` with the given properties (empty text as null)."""
    geometries = shapely.to_geojson(frame["geometry"].to_numpy())
    values = frame[list(properties)].astype(object).where(frame[list(properties)] != "", None)
    records = values.to_dict("records")
    with Path(path).open("wb") as fh:
        fh.write(b'{"type":"FeatureCollection","features":[\n')
        for i, (props, geom) in enumerate(zip(records, geometries)):
            fh.write(b',\n' if i else b"")
            fh.write(b'{"type":"Feature","properties":' + orjson.dumps(props) + b',"geometry":' + geom.encode() + b"}")
        fh.write(b"\n]}\n")
    return Path(path)


def write_gpkg(path: Path, frame: pd.DataFrame, properties: Sequence[str], layer: str, now: datetime) -> Path:
    """One layer of a GeoPackage (EPSG:4326), its timestamps set to ``now``."""
    import geopandas
    import pyogrio

    path = Path(path)
    path.unlink(missing_ok=True)
    values = frame[list(properties)].astype(object)
    data = geopandas.GeoDataFrame(values.where(values != "", None).reset_index(drop=True),
                                  geometry=list(frame["geometry"]), crs="EPSG:4326")
    stamp = now.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    before = pyogrio.get_gdal_config_option("OGR_CURRENT_DATE")
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": stamp})
    try:
        pyogrio.write_dataframe(data, path, layer=layer, driver="GPKG", promote_to_multi=True)
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": before})
    return path


def write_xlsx(path: Path, sheet: str, header: Sequence[str], rows: Iterable[Sequence], now: datetime,
               formats: dict[int, str] | None = None) -> Path:
    """A one-sheet workbook with native cells (datetimes stay dates), reproducible byte for byte.

    Parameters
    ----------
    path : Path
    sheet : str
    header : sequence of str
    rows : iterable of sequences
        Python values: str, int, float, ``datetime`` (naive, as Excel has no zones) or None.
    now : datetime
        Stamped as the document's creation and modification time.
    formats : dict, optional
        Number format per 0-based column, e.g. ``{2: "yyyy-mm-dd hh:mm:ss"}``.
    """
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    book = Workbook(write_only=True)
    stamp = now.astimezone(timezone.utc).replace(tzinfo=None, microsecond=0)
    book.properties.created = book.properties.modified = stamp
    book.properties.creator = "Shiyu demo city"
    sheet_ = book.create_sheet(sheet)
    sheet_.append(list(header))
    formats = formats or {}
    for row in rows:
        cells = []
        for k, value in enumerate(row):
            if k in formats and isinstance(value, datetime):
                cell = WriteOnlyCell(sheet_, value=value)
                cell.number_format = formats[k]
                value = cell
            cells.append(value)
        sheet_.append(cells)
    buffer = io.BytesIO()
    book.save(buffer)
    _normalise_zip(buffer.getvalue(), Path(path), stamp)
    return Path(path)


def _normalise_zip(data: bytes, path: Path, stamp: datetime) -> None:
    """Rewrite the archive dated ``stamp``: openpyxl stamps the save time into entries and core.xml."""
    modified = f"\\g<1>{stamp.strftime('%Y-%m-%dT%H:%M:%SZ')}\\g<2>".encode()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            entry = zipfile.ZipInfo(info.filename, date_time=stamp.timetuple()[:6])
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = info.external_attr
            content = source.read(info.filename)
            if info.filename == _CORE_XML:
                content = _MODIFIED.sub(modified, content)
            target.writestr(entry, content)
