"""Files read in chunks of rows, so a load's memory stays bounded whatever the file's size.

Text files are parsed lazily; workbooks and vector files are read whole (they
are rarely large) and handed out in slices.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from etl import readers
from geodata.errors import BatchRefused

CHUNK_ROWS = 200_000


@dataclass
class Chunks:
    """The chunks of one file and how many rows it roughly holds (for progress)."""

    tables: Iterator[readers.Table]
    estimated_rows: int
    encoding: str


def _csv_chunks(path: Path, encoding: str, chunk_rows: int) -> Chunks:
    codec = readers._text_encoding(path, readers._codec(path, encoding))
    with path.open(encoding=codec, newline="") as fh:
        sample = fh.read(readers._SNIFF_CHARS)
    lines = max(sample.count("\n"), 1)
    estimate = int(path.stat().st_size / max(len(sample.encode(codec, errors="replace")) / lines, 1))

    def tables() -> Iterator[readers.Table]:
        try:
            reader = pd.read_csv(path, dtype=str, keep_default_na=False, encoding=codec,
                                 sep=readers._delimiter(sample, path), skipinitialspace=True, chunksize=chunk_rows)
            for frame in reader:
                frame.columns = [str(c).strip().lstrip("\ufeff") for c in frame.columns]
                yield readers.Table(frame, pd.Series(frame.index + 2, index=frame.index), "line", codec)
        except (pd.errors.ParserError, ValueError) as exc:
            raise BatchRefused(f"{path}: not a readable CSV file: {readers._reason(exc)}") from exc
        except pd.errors.EmptyDataError as exc:
            raise BatchRefused(f"{path}: the file is empty") from exc

    return Chunks(tables(), estimate, codec)


def _slices(table: readers.Table, chunk_rows: int) -> Iterator[readers.Table]:
    for start in range(0, max(len(table.frame), 1), chunk_rows):
        part = table.frame.iloc[start:start + chunk_rows]
        yield readers.Table(part, table.row_numbers.iloc[start:start + chunk_rows], table.row_label, table.encoding,
                            table.layer)


def open_chunks(path: Path, *, encoding: str = "auto", layer: str | None = None, sheet: str | int | None = None,
                chunk_rows: int = CHUNK_ROWS) -> Chunks:
    """The rows of any supported file as Tables of at most ``chunk_rows`` rows."""
    path = readers.require_file(Path(path))
    if path.suffix.lower() in readers.TABULAR:
        return _csv_chunks(path, encoding, chunk_rows)
    table = readers.read_table(path, encoding, layer=layer, sheet=sheet)
    return Chunks(_slices(table, chunk_rows), len(table.frame), table.encoding)
