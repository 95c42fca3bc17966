"""Readers: files as cities hand them over, turned into plain DataFrames.

Text (UTF-8 or GBK), Excel (etl/workbooks.py), GeoJSON, GeoPackage and Shapefile, chosen by
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
import re
import warnings
import math
import numbers
from itertools import chain, repeat
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from etl import rowscan
from geodata.errors import BatchRefused, InputError
from geodata.text import one_line

TABULAR = {".csv", ".txt", ".tsv"}
WORKBOOKS = {".xlsx", ".xlsm"}
FEATURES = {".geojson", ".json", ".gpkg", ".shp", ".zip"}
SUPPORTED = ", ".join(sorted(TABULAR | WORKBOOKS | FEATURES))
AUTO = "auto"

# Chinese systems that do not write UTF-8 write GBK or GB2312; GB18030 decodes both.
FALLBACK_ENCODING = "gb18030"
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
_CHUNK_BYTES = 1 << 20
# csv.Sniffer's regular expressions take time growing with the square of their sample (64 KiB of '"a,' took
# 21 s, 4 KiB 0.12 s): the delimiter is guessed from the first lines of the first 4 KiB.
_SNIFF_CHARS = 4096
_EXACT_FLOAT_INT = 2**53
# One column past the header's catches a value beyond them (pandas would shift the first row or drop it);
# a row with two or more such values stops pandas, which names its line.
_MORE = "\0more"
_TOO_MANY = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")
_ALL_ROWS = 1 << 62
_SPILL_ROWS = rowscan.CHUNK_BYTES // rowscan.MAX_ROW_BYTES  # rows the scan did not see (a quote it misread)


@dataclass(frozen=True)
class Table:
    """Rows of a file, with the numbers a person uses to find each row in it.

    ``row_label`` says what ``row_numbers`` count: ``line`` (text files, the
    header is line 1), ``row`` (the worksheet's own row numbers) or
    ``feature`` (1-based). ``layer`` is the sheet or layer that was read.
    ``problems`` holds a reason for each row that could not be read whole
    (None for the others), for validation to reject.
    """

    frame: pd.DataFrame
    row_numbers: pd.Series
    row_label: str
    encoding: str
    layer: str | None = None
    problems: pd.Series | None = None


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


def _unique(names: list[str]) -> list[str]:
    """Repeated names numbered as pandas does: ``a, a.1, a.2``."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        out.append(f"{name}.{seen[name]}" if name in seen else name)
        seen[name] = seen.get(name, 0) + 1
    return out


def _header(path: Path, codec: str, sep: str) -> list[str]:
    """The first row's names (bounded: the scan has checked its size), at most MAX_COLUMNS of them."""
    with path.open(encoding=codec, newline="") as fh:
        try:
            names = next(csv.reader(fh, delimiter=sep, skipinitialspace=True), None)
        except csv.Error as exc:
            raise BatchRefused(f"{path}: the header (line 1) cannot be read: {_reason(exc)}") from exc
    if not names:
        raise BatchRefused(f"{path}: the file is empty")
    if len(names) > rowscan.MAX_COLUMNS:
        raise BatchRefused(f"{path}: the header (line 1) names {len(names):,} columns; a file may have "
                           f"{rowscan.MAX_COLUMNS:,} at most")
    names = [str(c).strip().lstrip("\ufeff") for c in names]
    return _unique([name or f"Unnamed: {i}" for i, name in enumerate(names)])


def _row_problems(frame: pd.DataFrame, header: list[str], long: bool) -> tuple[pd.DataFrame, pd.Series | None]:
    """Reasons for rows with values beyond the header's columns or too long; such values are cut to one line."""
    problems = pd.Series(None, index=frame.index, dtype=object)
    beyond = frame[_MORE] != ""
    if beyond.any():
        problems[beyond] = (f"more values than the header's {len(header)} columns (the next: '"
                            + frame.loc[beyond, _MORE].map(lambda v: one_line(v, 40)) + "'): a separator inside a value? "
                            "put the value in quotes")
    frame = frame.drop(columns=[_MORE])
    for column in frame.columns if long else ():
        too_long = frame[column].str.len() > rowscan.MAX_FIELD_CHARS
        if too_long.any():
            reason = (f"{column} is " + frame.loc[too_long, column].str.len().map("{:,}".format)
                      + f" characters long; a value may hold {rowscan.MAX_FIELD_CHARS:,} at most")
            problems[too_long] = np.where(problems[too_long].isna(), reason, problems[too_long] + "; " + reason)
            frame.loc[too_long, column] = frame.loc[too_long, column].map(one_line)
    return frame, problems if problems.notna().any() else None


def iter_csv(path: Path, encoding: str = AUTO, chunk_rows: int | None = None) -> tuple[Iterator[Table], str, int]:
    """A text file as Tables of at most ``chunk_rows`` rows (all of it when None), parsed lazily.

    Returns the tables, the codec used and the number of rows. The rows are
    measured first (:func:`etl.rowscan.scan_rows`), so a file with a row over
    the size limit is refused before anything is parsed, and each table holds
    at most ``rowscan.CHUNK_BYTES`` of the file. A row with values beyond the
    header's columns, or a value over ``rowscan.MAX_FIELD_CHARS`` characters,
    comes with its reason in ``Table.problems``. See :func:`read_csv`.
    """
    path = require_file(path)
    codec = _text_encoding(path, _codec(path, encoding))
    try:
        with path.open(encoding=codec, newline="") as fh:
            sample = fh.read(_SNIFF_CHARS)
        scan = rowscan.scan_rows(path, codec, chunk_rows or _ALL_ROWS)
    except OSError as exc:
        raise BatchRefused(f"{path}: cannot be read ({exc.strerror or _reason(exc)})") from exc
    except BatchRefused as exc:
        raise BatchRefused(f"{path}: {exc}") from exc
    sep = _delimiter(sample[:sample.rfind("\n") + 1] or sample, path)
    header = _header(path, codec, sep)

    def tables() -> Iterator[Table]:
        try:
            reader = pd.read_csv(path, dtype=str, keep_default_na=False, encoding=codec, sep=sep, skipinitialspace=True,
                                 names=[*header, _MORE], header=None, skiprows=1, index_col=False, iterator=True)
            with reader:
                for n, rows in enumerate(chain(scan.chunks, repeat(_SPILL_ROWS))):
                    try:
                        with warnings.catch_warnings():  # a first row with extra values: _MORE has the first of them
                            warnings.simplefilter("ignore", pd.errors.ParserWarning)
                            frame = reader.get_chunk(rows)
                    except StopIteration:
                        break
                    frame, problems = _row_problems(frame, header, n in scan.long_chunks or n >= len(scan.chunks))
                    yield Table(frame, pd.Series(frame.index + 2, index=frame.index), "line", codec, problems=problems)
        except (pd.errors.ParserError, csv.Error) as exc:
            many = _TOO_MANY.search(str(exc))
            if many:
                raise BatchRefused(f"{path}: line {many[2]} has {int(many[3])} values, the header {len(header)}: "
                                   "separators inside values? put those values in quotes") from exc
            raise BatchRefused(f"{path}: not a readable CSV file: {_reason(exc)}") from exc
        except OSError as exc:
            raise BatchRefused(f"{path}: cannot be read ({exc.strerror or _reason(exc)})") from exc

    return tables(), codec, scan.rows


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
    tables, codec, _ = iter_csv(path, encoding)
    parts = list(tables)
    if len(parts) == 1:
        return parts[0]
    problems = [t.problems if t.problems is not None else pd.Series(None, index=t.frame.index, dtype=object) for t in parts]
    frame = pd.concat([t.frame for t in parts]) if parts else pd.DataFrame(columns=_header(path, codec, ","), dtype=str)
    merged = pd.concat(problems) if parts else None
    return Table(frame, pd.Series(frame.index + 2, index=frame.index), "line", codec,
                 problems=merged if merged is not None and merged.notna().any() else None)


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
        from etl.workbooks import read_xlsx  # workbooks builds on this module

        return read_xlsx(path, sheet if sheet is not None else layer)
    if suffix in FEATURES:
        from etl.vectors import read_features  # vectors builds on this module

        return read_features(path, layer=layer, encoding=encoding)
    hint = "; save .xls workbooks as .xlsx" if suffix == ".xls" else ""
    raise InputError(f"{path}: unsupported file type '{suffix or path.name}'; expected one of {SUPPORTED}{hint}")
