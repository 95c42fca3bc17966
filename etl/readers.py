"""Readers: files as cities hand them over, turned into plain DataFrames.

Every value of a tabular file is read as text; validation decides what it
means. A file that cannot be read at all is an error of the whole batch.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from geodata.errors import BatchRefused, InputError

TABULAR = {".csv", ".txt", ".tsv"}
FEATURES = {".geojson", ".json"}


@dataclass(frozen=True)
class Table:
    """Rows of a file, with the numbers a person uses to find each row in it."""

    frame: pd.DataFrame
    row_numbers: pd.Series  # CSV: the line number; features: the feature number (1-based)
    row_label: str  # "line" or "feature"
    encoding: str


def require_file(path: Path) -> Path:
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if not path.is_file():
        raise InputError(f"{path}: not a file")
    return path


def read_csv(path: Path, encoding: str = "utf-8-sig") -> Table:
    """A CSV file as text columns; line numbers count the header as line 1."""
    path = require_file(path)
    try:
        with path.open(encoding=encoding, newline="") as fh:
            sample = fh.read(65536)
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t|") if sample else csv.excel
        frame = pd.read_csv(
            path, dtype=str, keep_default_na=False, encoding=encoding, sep=dialect.delimiter, skipinitialspace=True
        )
    except UnicodeDecodeError as exc:
        raise BatchRefused(f"{path}: not readable as {encoding} (byte {exc.start}); name the encoding with --encoding") from exc
    except (pd.errors.ParserError, csv.Error) as exc:
        raise BatchRefused(f"{path}: not a readable CSV file: {str(exc).strip().splitlines()[0]}") from exc
    except pd.errors.EmptyDataError as exc:
        raise BatchRefused(f"{path}: the file is empty") from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    return Table(frame, pd.Series(frame.index + 2, index=frame.index), "line", encoding)


def read_features(path: Path):
    """A vector file (GeoJSON, …) as a GeoDataFrame, in the file's own CRS."""
    import pyogrio

    path = require_file(path)
    try:
        frame = pyogrio.read_dataframe(path)
    except Exception as exc:  # pyogrio raises DataSourceError and friends, all with GDAL's message
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BatchRefused(f"{path}: not a readable vector file: {message}") from exc
    frame = frame.reset_index(drop=True)
    return Table(frame, pd.Series(frame.index + 1, index=frame.index), "feature", "utf-8")


def read_table(path: Path, encoding: str = "utf-8-sig") -> Table:
    """Any supported incidents/facilities/patrols file, by its suffix."""
    suffix = Path(path).suffix.lower()
    if suffix in TABULAR:
        return read_csv(path, encoding)
    if suffix in FEATURES:
        return read_features(path)
    raise InputError(f"{path}: unsupported file type '{suffix}'; expected one of {', '.join(sorted(TABULAR | FEATURES))}")
