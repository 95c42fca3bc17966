"""Bulk writes: COPY of DataFrames, encoded column by column with numpy.

psycopg's ``write_row`` costs about 3 µs a row and pandas ``strftime`` 8 s a
million timestamps; encoding whole columns and sending one buffer a chunk is
several times faster (bench/etl.py measures it).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import psycopg
from psycopg import sql

NULL = "\\N"


# PostgreSQL text and jsonb cannot hold the NUL character; a file's stray NUL is kept visible as U+FFFD.
NUL, NUL_SHOWN = "\x00", "\ufffd"


def without_nul(value):
    """``value`` with NUL characters shown as U+FFFD when it is a string, else unchanged (for JSON values)."""
    return value.replace(NUL, NUL_SHOWN) if isinstance(value, str) and NUL in value else value


def _escape(text: pd.Series) -> pd.Series:
    """COPY text escapes, applied only when some value needs them."""
    joined = "".join(text.tolist())  # one C-speed scan instead of a regex per value
    if not any(c in joined for c in "\\\t\n\r\x00"):
        return text
    return (text.str.replace("\\", "\\\\", regex=False).str.replace("\t", "\\t", regex=False)
            .str.replace("\n", "\\n", regex=False).str.replace("\r", "\\r", regex=False)
            .str.replace(NUL, NUL_SHOWN, regex=False))


def encode_column(column: pd.Series) -> np.ndarray:
    """One column as COPY text values (object array of str), NULL for missing."""
    missing = column.isna().to_numpy()
    if isinstance(column.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(column):
        values = column.dt.tz_convert("UTC") if isinstance(column.dtype, pd.DatetimeTZDtype) else column.dt.tz_localize("UTC")
        naive = values.dt.tz_localize(None).to_numpy(dtype="datetime64[us]")
        text = np.char.add(np.datetime_as_string(naive, unit="us"), "+00").astype(object)
    elif pd.api.types.is_bool_dtype(column):
        text = np.where(column.fillna(False).to_numpy(dtype=bool), "t", "f").astype(object)
    elif pd.api.types.is_float_dtype(column):
        text = column.to_numpy(dtype=float, na_value=np.nan).astype(str).astype(object)  # shortest repr that round-trips
    elif pd.api.types.is_integer_dtype(column):
        text = column.fillna(0).to_numpy(dtype=np.int64).astype(str).astype(object)
    else:
        text = np.array(_escape(column.fillna("").astype(str)).to_numpy(dtype=object), dtype=object)  # writable
    text[missing] = NULL
    return text


def encode_frame(frame: pd.DataFrame, columns: Sequence[str]) -> bytes:
    """Rows of ``frame`` as one COPY text buffer."""
    encoded = [encode_column(frame[c]) for c in columns]
    return ("\n".join(map("\t".join, zip(*encoded))) + "\n").encode("utf-8") if len(frame) else b""


def copy_frame(conn: psycopg.Connection, table: str, frame: pd.DataFrame, columns: Sequence[str] | None = None) -> int:
    """COPY ``frame`` into ``table`` (a trusted name, optionally schema-qualified); returns the row count."""
    columns = list(columns or frame.columns)
    target = sql.Identifier(*table.split("."))
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(target, sql.SQL(", ").join(map(sql.Identifier, columns)))
    with conn.cursor() as cur, cur.copy(statement) as copy:
        copy.write(encode_frame(frame, columns))
    return len(frame)
