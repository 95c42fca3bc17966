"""Files read in chunks of rows, so a load's memory stays bounded whatever the file's size.

Text files are parsed lazily; workbooks and vector files are read whole (they
are rarely large) and handed out in slices.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from etl import readers

CHUNK_ROWS = 200_000


@dataclass
class Chunks:
    """The chunks of one file and how many rows it roughly holds (for progress)."""

    tables: Iterator[readers.Table]
    estimated_rows: int
    encoding: str


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
        tables, codec, estimate = readers.iter_csv(path, encoding, chunk_rows)
        return Chunks(tables, estimate, codec)
    table = readers.read_table(path, encoding, layer=layer, sheet=sheet)
    return Chunks(_slices(table, chunk_rows), len(table.frame), table.encoding)
