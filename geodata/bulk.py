"""Bulk writes: COPY of a DataFrame into a table whose name the caller owns."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import psycopg
from psycopg import sql


def _as_text(column: pd.Series) -> list[str | None]:
    """One column as the text COPY expects; missing values become NULL."""
    if pd.api.types.is_datetime64_any_dtype(column):
        text = column.dt.strftime("%Y-%m-%d %H:%M:%S.%f%z")
    elif pd.api.types.is_float_dtype(column):
        text = column.map(repr)
    else:
        text = column.astype(str)
    return np.where(column.isna(), None, text).tolist()


def copy_frame(conn: psycopg.Connection, table: str, frame: pd.DataFrame, columns: Sequence[str] | None = None) -> int:
    """COPY ``frame`` into ``table`` (a trusted name, optionally schema-qualified); returns the row count."""
    columns = list(columns or frame.columns)
    target = sql.Identifier(*table.split("."))
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(target, sql.SQL(", ").join(map(sql.Identifier, columns)))
    values = [_as_text(frame[c]) for c in columns]
    with conn.cursor() as cur, cur.copy(statement) as copy:
        for row in zip(*values):
            copy.write_row(row)
    return len(frame)
