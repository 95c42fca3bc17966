"""A text file's rows measured before it is parsed, so no input can take unbounded time or memory.

One streaming pass over the bytes (a block at a time, numpy) finds where each
row ends: at a newline outside double quotes, as RFC 4180 has it (a quote
opens or closes a quoted value, a doubled quote inside one cancels out). A row
longer than :data:`MAX_ROW_BYTES` refuses the file there, naming its line,
before anything is parsed; the rows are then grouped into chunks of at most
``chunk_rows`` rows and :data:`CHUNK_BYTES` bytes, which the parser reads one
at a time.

The limits below are the loader's whole word on sizes; docs/loading.md says them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from geodata.errors import BatchRefused

#: The most a row of a text file may hold, all its values, separators and quotes included.
MAX_ROW_BYTES = 1 << 20
#: The most characters one value may hold: Excel's limit of a cell.
MAX_FIELD_CHARS = 32_767
#: The most columns a file's header may name.
MAX_COLUMNS = 1_000
#: The most bytes of rows parsed at once (with at most ``chunk_rows`` rows).
CHUNK_BYTES = 64 << 20

_BLOCK_BYTES = 1 << 20
_NEWLINE, _QUOTE = 0x0A, 0x22
_WIDE = ("utf-16", "utf-32")  # codecs whose bytes may hold 0x0A or 0x22 inside another character


@dataclass
class Scan:
    """The rows of a text file: how many (the header not counted), and in which chunks to parse them.

    ``long_chunks`` are the chunks with a row longer than :data:`MAX_FIELD_CHARS`
    bytes: only there can a value be too long, so only there are values measured.
    """

    rows: int = 0
    chunks: list[int] = field(default_factory=list)
    long_chunks: set[int] = field(default_factory=set)


def _blocks(path: Path, codec: str) -> Iterator[bytes]:
    if codec.replace("_", "-").startswith(_WIDE):
        with path.open(encoding=codec, newline="") as fh:  # re-encoded as UTF-8, where 0x0A and 0x22 are themselves
            yield from (text.encode("utf-8") for text in iter(lambda: fh.read(_BLOCK_BYTES // 4), ""))
    else:
        with path.open("rb") as fh:
            yield from iter(lambda: fh.read(_BLOCK_BYTES), b"")


def _too_long(line: int, size: int, complete: bool) -> BatchRefused:
    size_text = f"{size:,} bytes" if complete else f"more than {MAX_ROW_BYTES:,} bytes, and still going"
    return BatchRefused(f"line {line:,} starts a row of {size_text}; a row may hold {MAX_ROW_BYTES:,} bytes at most "
                        "(not CSV? or a double quote that opens a value and never closes?)")


class _Chunker:
    """Packs row lengths into chunks of at most ``chunk_rows`` rows and CHUNK_BYTES bytes."""

    def __init__(self, chunk_rows: int, scan: Scan):
        self.chunk_rows, self.scan = chunk_rows, scan
        self.rows = self.bytes = 0
        self.long = False

    def add(self, lengths: np.ndarray) -> None:
        while len(lengths):
            room = np.cumsum(lengths) <= CHUNK_BYTES - self.bytes
            take = min(int(room.sum()) or (0 if self.rows else 1), self.chunk_rows - self.rows)
            if take:
                self.rows += take
                self.bytes += int(lengths[:take].sum())
                self.long = self.long or bool((lengths[:take] > MAX_FIELD_CHARS).any())
                lengths = lengths[take:]
            if len(lengths):
                self.close()

    def close(self) -> None:
        if self.rows:
            if self.long:
                self.scan.long_chunks.add(len(self.scan.chunks))
            self.scan.chunks.append(self.rows)
            self.scan.rows += self.rows
        self.rows = self.bytes = 0
        self.long = False


def scan_rows(path: Path, codec: str, chunk_rows: int) -> Scan:
    """Measure every row of a text file, the header included; a row over MAX_ROW_BYTES refuses the file.

    Parameters
    ----------
    path : Path
    codec : str
        The file's encoding (already checked to decode).
    chunk_rows : int
        The most rows a chunk may hold.

    Raises
    ------
    BatchRefused
        A row longer than :data:`MAX_ROW_BYTES`, named by the line it starts on;
        the scan stops there, so a file without newlines is refused after reading
        that much of it.
    """
    chunker = _Chunker(chunk_rows, Scan())
    start, start_line, lines, offset, quoted, header = 0, 1, 0, 0, 0, True
    for block in _blocks(path, codec):
        data = np.frombuffer(block, dtype=np.uint8)
        newlines = np.flatnonzero(data == _NEWLINE)
        quotes = np.cumsum(data == _QUOTE, dtype=np.int64)
        ends = newlines[(quoted + quotes[newlines]) % 2 == 0] if len(newlines) else newlines
        quoted = int(quoted + (quotes[-1] if len(quotes) else 0)) % 2
        ends = offset + ends + 1
        lengths = np.diff(ends, prepend=start)
        if len(lengths) and lengths.max() > MAX_ROW_BYTES:
            first = int(np.argmax(lengths > MAX_ROW_BYTES))
            row_start = start if first == 0 else int(ends[first - 1])
            line = start_line if first == 0 else lines + 1 + int(np.searchsorted(offset + newlines, row_start))
            raise _too_long(line, int(lengths[first]), complete=True)
        if len(ends):
            if header:
                lengths, header = lengths[1:], False
            chunker.add(lengths)
            start = int(ends[-1])
            start_line = lines + 1 + int(np.searchsorted(offset + newlines, start))
        lines += len(newlines)
        offset += len(block)
        if offset - start > MAX_ROW_BYTES:
            raise _too_long(start_line, offset - start, complete=False)
    if offset > start and not header:  # the last row, without a newline
        chunker.add(np.array([offset - start]))
    chunker.close()
    return chunker.scan
