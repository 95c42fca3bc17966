"""Readers: files as cities hand them over, turned into plain DataFrames.

Text (UTF-8 or GBK), Excel, GeoJSON, GeoPackage and Shapefile, chosen by
suffix. Every attribute value is read as text; validation decides what it
means. A file that cannot be read at all is an error of the whole batch, told
in one line that names the file.

>>> read_table("事件.csv").encoding  # doctest: +SKIP
'gb18030'
"""

from __future__ import annotations

from collections.abc import Iterator

import codecs
import csv
import math
import numbers
from itertools import chain
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from geodata.errors import BatchRefused, InputError

TABULAR = {".csv", ".txt", ".tsv"}
WORKBOOKS = {".xlsx", ".xlsm"}
FEATURES = {".geojson", ".json", ".gpkg", ".shp", ".zip"}
SUPPORTED = ", ".join(sorted(TABULAR | WORKBOOKS | FEATURES))
AUTO = "auto"

# Chinese systems that do not write UTF-8 write GBK or GB2312; GB18030 decodes both.
FALLBACK_ENCODING = "gb18030"
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
_CHUNK_BYTES = 1 << 20
_SNIFF_CHARS = 65536
_EXACT_FLOAT_INT = 2**53


@dataclass(frozen=True)
class Table:
    """Rows of a file, with the numbers a person uses to find each row in it.

    ``row_label`` says what ``row_numbers`` count: ``line`` (text files, the
    header is line 1), ``row`` (the worksheet's own row numbers) or
    ``feature`` (1-based). ``layer`` is the sheet or layer that was read.
    """

    frame: pd.DataFrame
    row_numbers: pd.Series
    row_label: str
    encoding: str
    layer: str | None = None


def require_file(path: Path) -> Path:
    """``path`` as a Path, or an InputError when it is missing or not a file."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if not path.is_file():
        raise InputError(f"{path}: not a file")
    return path


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _codec(path: Path, encoding: str | None) -> str | None:
    """The Python codec an operator named, or None for ``auto``."""
    if encoding is None or encoding.strip().lower() == AUTO:
        return None
    try:
        return codecs.lookup(encoding.strip()).name
    except LookupError:
        raise InputError(f"{path}: unknown encoding '{encoding}'; use auto, utf-8, gbk or gb18030") from None


def _undecodable(path: Path, codec: str) -> str | None:
    """None when the whole file decodes as ``codec``, else where it stops: "byte 12 (0xbe) on line 3"."""
    decoder, offset, line = codecs.getincrementaldecoder(codec)(), 0, 1
    with path.open("rb") as fh:
        for chunk in chain(iter(lambda: fh.read(_CHUNK_BYTES), b""), [b""]):
            pending = decoder.getstate()[0]
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                line += exc.object.count(b"\n", len(pending), exc.start)
                return f"byte {offset - len(pending) + exc.start} (0x{exc.object[exc.start]:02x}) on line {line}"
            offset, line = offset + len(chunk), line + chunk.count(b"\n")
    return None


def _text_encoding(path: Path, codec: str | None) -> str:
    if codec is not None:
        where = _undecodable(path, codec)
        if where:
            raise BatchRefused(f"{path}: not readable as {codec}: {where} is not {codec}; "
                               "name the right encoding with --encoding, or use --encoding auto")
        return codec
    with path.open("rb") as fh:
        head = fh.read(4)
    if head.startswith(b"PK\x03\x04"):
        raise BatchRefused(f"{path}: is a zip archive (an Excel workbook?), not text; save it as .xlsx or as CSV")
    candidates = next(((name,) for bom, name in _BOMS if head.startswith(bom)), ("utf-8", FALLBACK_ENCODING))
    failures = []
    for name in candidates:
        failures.append(_undecodable(path, name))
        if failures[-1] is None:
            return name
    what = "neither UTF-8 nor GBK/GB18030 text" if len(candidates) > 1 else f"not {candidates[0]} despite its byte-order mark"
    raise BatchRefused(f"{path}: {what} ({failures[0]} is not {candidates[0]}); name its encoding with --encoding")


def _delimiter(sample: str, path: Path) -> str:
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:  # a single column, or too little text to tell: trust the suffix
        return "\t" if path.suffix.lower() == ".tsv" else ","


def iter_csv(path: Path, encoding: str = AUTO, chunk_rows: int | None = None) -> tuple[Iterator[Table], str, int]:
    """A text file as Tables of at most ``chunk_rows`` rows (all of it when None), parsed lazily.

    Returns the tables, the codec used and an estimate of the number of rows
    (for progress). See :func:`read_csv` for encodings and line numbers.
    """
    path = require_file(path)
    codec = _text_encoding(path, _codec(path, encoding))
    try:
        with path.open(encoding=codec, newline="") as fh:
            sample = fh.read(_SNIFF_CHARS)
    except OSError as exc:
        raise BatchRefused(f"{path}: cannot be read ({exc.strerror or _reason(exc)})") from exc
    sample_bytes = max(len(sample.encode(codec, errors="replace")), 1)
    estimate = int(path.stat().st_size * max(sample.count("\n"), 1) / sample_bytes)

    def tables() -> Iterator[Table]:
        try:
            frames = pd.read_csv(path, dtype=str, keep_default_na=False, encoding=codec, sep=_delimiter(sample, path),
                                 skipinitialspace=True, chunksize=chunk_rows)
            for frame in [frames] if chunk_rows is None else frames:
                frame.columns = [str(c).strip().lstrip("\ufeff") for c in frame.columns]
                yield Table(frame, pd.Series(frame.index + 2, index=frame.index), "line", codec)
        except (pd.errors.ParserError, csv.Error) as exc:
            raise BatchRefused(f"{path}: not a readable CSV file: {_reason(exc)}") from exc
        except pd.errors.EmptyDataError as exc:
            raise BatchRefused(f"{path}: the file is empty") from exc
        except OSError as exc:
            raise BatchRefused(f"{path}: cannot be read ({exc.strerror or _reason(exc)})") from exc

    return tables(), codec, estimate


def read_csv(path: Path, encoding: str = AUTO) -> Table:
    """A ``.csv``, ``.txt`` or ``.tsv`` file as text columns; the delimiter is sniffed.

    Parameters
    ----------
    path : Path
    encoding : str, default "auto"
        ``auto`` takes UTF-8 with or without BOM (UTF-16 with a BOM), else
        GB18030, which also reads GBK and GB2312. A Python codec name is used as given.

    Returns
    -------
    Table
        Values as text (empty cells ``""``), line numbers with the header as
        line 1, and the codec used as ``encoding``.

    Raises
    ------
    InputError
        The file is missing or the encoding name unknown.
    BatchRefused
        The file does not decode (the message names the byte and line) or does not parse.
    """
    tables, _, _ = iter_csv(path, encoding)
    return next(tables)


def _cell_text(value: object) -> str:
    """A value as the text a person sees, in forms the timestamp parser reads."""
    if value is None or value is pd.NA or value is pd.NaT:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, np.bool_)):
        return "TRUE" if value else "FALSE"
    if isinstance(value, datetime):
        # Excel keeps times as fractions of a day; rounding to the second drops the float noise.
        return (value + timedelta(microseconds=500_000)).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, (date, time)):
        return value.isoformat()
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        value = float(value)
        if math.isnan(value):
            return ""
        return str(int(value)) if value.is_integer() and abs(value) < _EXACT_FLOAT_INT else repr(value)
    return str(value)


def _sheet_name(path: Path, names: list[str], sheet: str | int | None) -> str:
    if sheet is None:
        return names[0]
    if isinstance(sheet, str) and sheet in names:
        return sheet
    index = sheet if isinstance(sheet, int) else int(sheet) if str(sheet).strip().isdigit() else None
    if index is not None and 0 <= index < len(names):
        return names[index]
    listed = ", ".join(f"{i}: '{n}'" for i, n in enumerate(names))
    raise InputError(f"{path}: no sheet {sheet!r}; the workbook's sheets are {listed}")


def _sheet_table(path: Path, name: str, rows: list[list[str]]) -> Table:
    from openpyxl.utils import get_column_letter

    numbered = [(n, row) for n, row in enumerate(rows, start=1) if any(row)]
    if not numbered:
        raise BatchRefused(f"{path}: sheet '{name}' is empty")
    (_, header), body = numbered[0], numbered[1:]
    width = max(len(row) for _, row in numbered)
    header = header + [""] * (width - len(header))
    keep = [i for i in range(width) if header[i].strip() or any(i < len(row) and row[i] for _, row in body)]
    names = [header[i].strip() or f"column {get_column_letter(i + 1)}" for i in keep]
    columns = [f"{c}.{names[:i].count(c)}" if c in names[:i] else c for i, c in enumerate(names)]  # as pandas does
    frame = pd.DataFrame([[row[i] if i < len(row) else "" for i in keep] for _, row in body], columns=columns, dtype=str)
    return Table(frame, pd.Series([n for n, _ in body], index=frame.index, dtype=int), "row", "utf-8", name)


def read_xlsx(path: Path, sheet: str | int | None = None) -> Table:
    """One sheet of an ``.xlsx``/``.xlsm`` workbook as text columns (formulas as their cached values).

    Parameters
    ----------
    path : Path
    sheet : str or int, optional
        The sheet's name or 0-based index; the first sheet by default.

    Returns
    -------
    Table
        Header from the first non-empty row; dates as ``YYYY-MM-DD HH:MM:SS``,
        whole numbers without ``.0``; the sheet's own row numbers.

    Raises
    ------
    InputError
        The file is missing or has no such sheet (the message lists the sheets).
    BatchRefused
        The file is not a workbook or the sheet is empty.
    """
    from openpyxl import load_workbook

    path = require_file(path)
    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # BadZipFile, KeyError, InvalidFileException…: all say "not a workbook"
        raise BatchRefused(f"{path}: not a readable Excel workbook ({_reason(exc)})") from exc
    try:
        name = _sheet_name(path, book.sheetnames, sheet)
        worksheet = book[name]
        worksheet.reset_dimensions()  # some writers record wrong dimensions, which would cut rows short
        rows = [[_cell_text(v) for v in row] for row in worksheet.iter_rows(values_only=True)]
    except InputError:
        raise
    except Exception as exc:  # a chartsheet, broken XML…
        raise BatchRefused(f"{path}: sheet '{name}' cannot be read ({_reason(exc)})") from exc
    finally:
        book.close()
    return _sheet_table(path, name, rows)


def _pick(path: Path, names: list[str], wanted: str | None, what: str) -> str:
    if not names:
        raise BatchRefused(f"{path}: holds no {what}")
    if wanted is None and len(names) == 1:
        return names[0]
    if wanted in names:
        return wanted
    listed = ", ".join(f"'{n}'" for n in names)
    if wanted is None:
        raise InputError(f"{path}: holds {len(names)} {what}s ({listed}); name the one to read with --layer")
    raise InputError(f"{path}: no {what} '{wanted}'; it holds {listed}")


def read_table(path: Path, encoding: str = AUTO, *, layer: str | None = None,
               sheet: str | int | None = None) -> Table:
    """Any supported file, by its suffix: see :func:`read_csv`, :func:`read_xlsx`, :func:`read_features`.

    Parameters
    ----------
    path : Path
    encoding : str, default "auto"
        For text and feature files.
    layer : str, optional
        A feature file's layer; a workbook's sheet when ``sheet`` is not given.
    sheet : str or int, optional
        A workbook's sheet, by name or 0-based index.

    Returns
    -------
    Table
        As the reader for the suffix returns it; an unsupported suffix is an
        InputError listing the supported ones.
    """
    path = require_file(path)
    suffix = path.suffix.lower()
    if suffix in TABULAR:
        return read_csv(path, encoding)
    if suffix in WORKBOOKS:
        return read_xlsx(path, sheet if sheet is not None else layer)
    if suffix in FEATURES:
        from etl.vectors import read_features  # vectors builds on this module

        return read_features(path, layer=layer, encoding=encoding)
    hint = "; save .xls workbooks as .xlsx" if suffix == ".xls" else ""
    raise InputError(f"{path}: unsupported file type '{suffix or path.name}'; expected one of {SUPPORTED}{hint}")
