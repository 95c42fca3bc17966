"""Row errors: collected per row as validation goes, written where a person can act on them."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from geodata.text import one_line


class RowErrors:
    """The reasons rows were rejected, keyed by the frame's index; several reasons join with '; '."""

    def __init__(self, index: pd.Index, problems: pd.Series | None = None):
        self.reason = pd.Series(None, index=index, dtype=object)
        if problems is not None:  # what the reader could not read whole comes first
            self.reason[problems.notna()] = problems[problems.notna()]

    def add(self, mask: pd.Series | np.ndarray, message: str | pd.Series | Callable[[], str | pd.Series]) -> None:
        """Reject rows where ``mask``; a callable message is built only when some row fails."""
        mask = pd.Series(np.asarray(mask, dtype=bool), index=self.reason.index)
        if not mask.any():
            return
        if callable(message):
            message = message()
        new = message[mask] if isinstance(message, pd.Series) else pd.Series(message, index=self.reason.index[mask])
        old = self.reason[mask]
        self.reason[mask] = np.where(old.isna(), new, old.astype(str) + "; " + new.astype(str))

    @property
    def rejected(self) -> pd.Series:
        return self.reason.notna()

    def __len__(self) -> int:
        return int(self.rejected.sum())


def reject_rows(raw: pd.DataFrame, errors: RowErrors, row_numbers: pd.Series, row_label: str) -> pd.DataFrame:
    """The rejected rows: number, reason and the raw values as read."""
    mask = errors.rejected
    out = pd.DataFrame({row_label: row_numbers[mask].astype(int), "reason": errors.reason[mask].map(one_line)})
    raw_cols = raw.loc[mask, [c for c in raw.columns if c != "geometry"]].astype(str)
    return pd.concat([out, raw_cols], axis=1)


def duplicate_reason(key_label: str, key: list[str], row_label: str, first: int) -> str:
    """The reason a row repeating an earlier row's key is rejected (the first one stays)."""
    return f"duplicate {key_label} '{' at '.join(key)}' (first at {row_label} {first})"


def default_reject_path(source: Path) -> Path:
    return source.with_name(source.stem + ".rejects.csv")


def write_reject_file(rejects: pd.DataFrame, path: Path) -> Path:
    """Write the reject CSV (UTF-8 with BOM and CRLF, so Excel on a Chinese Windows opens it right).

    CRLF also makes the csv module quote a value holding a lone carriage return, which with "\n" alone it
    writes bare, splitting that row in two for every reader."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rejects.to_csv(path, index=False, encoding="utf-8-sig", quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    return path
