"""Excel workbooks (``.xlsx``/``.xlsm``) read as text columns, and the two ways they mislead.

Merged cells hold their value in the first cell only, and formulas written by
a program (not Excel) carry no saved value: read as they are, both look like
empty cells, and every row would be rejected for a reason that is not the
cause. Both refuse the sheet with what to do instead.
"""

from __future__ import annotations

import re
from pathlib import Path
from xml.etree.ElementTree import iterparse

import pandas as pd

from etl.readers import Table, _cell_text, _reason, require_file
from geodata.errors import BatchRefused, InputError

_SHOWN_RANGES = 3
_RANGE = re.compile(r"([A-Z]+)(\d+):([A-Z]+)(\d+)")


def _header_row(rows: list[list[str]]) -> int:
    """The sheet row of the header: the first that is not empty (0 when none is)."""
    return next((n for n, row in enumerate(rows, start=1) if any(row)), 0)


def _merged_ranges(book, worksheet) -> list[str]:
    """The merged ranges of a read-only worksheet, from its XML (read-only sheets do not parse them)."""
    ranges = []
    with book._archive.open(worksheet._worksheet_path) as xml:
        for _, element in iterparse(xml):
            if element.tag.endswith("}mergeCell"):
                ranges.append(element.get("ref", ""))
            element.clear()
    return ranges


def _refuse_merged_cells(path: Path, name: str, ranges: list[str], header_row: int) -> None:
    """Merged cells below the header (a title merged above it is fine) refuse the sheet."""
    in_data = [r for r in ranges if (m := _RANGE.fullmatch(r)) and int(m[4]) > header_row]
    if in_data:
        shown = ", ".join(in_data[:_SHOWN_RANGES]) + (f" and {len(in_data) - _SHOWN_RANGES} more" if len(in_data) > _SHOWN_RANGES else "")
        raise BatchRefused(f"{path}: sheet '{name}' has merged cells ({shown}), whose value only the first cell holds; "
                           "unmerge them and fill every cell (Excel: Merge & Center, Unmerge Cells; then fill down)")


def _refuse_unsaved_formulas(path: Path, name: str, rows: list[list[str]]) -> None:
    """Formulas without a saved value (empty when read for values) refuse the sheet; read again only if a cell is empty."""
    from openpyxl import load_workbook
    from openpyxl.utils import get_column_letter

    if all(all(row) for row in rows):
        return
    book = load_workbook(path, read_only=True, data_only=False)
    try:
        worksheet = book[name]
        worksheet.reset_dimensions()
        found, first = 0, None
        for r, (values, formulas) in enumerate(zip(rows, worksheet.iter_rows(values_only=True)), start=1):
            for c, formula in enumerate(formulas):
                if isinstance(formula, str) and formula.startswith("=") and (c >= len(values) or values[c] == ""):
                    found += 1
                    first = first or f"{get_column_letter(c + 1)}{r} {formula[:40]}"
    finally:
        book.close()
    if found:
        raise BatchRefused(f"{path}: sheet '{name}' has {found} formulas without a saved value (e.g. {first}): "
                           "the program that wrote it did not compute them; open it in Excel or LibreOffice and save it")


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
        The file is not a workbook, the sheet is empty, its data has merged
        cells, or formulas whose values were never saved.
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
        _refuse_merged_cells(path, name, _merged_ranges(book, worksheet), _header_row(rows))
    except (InputError, BatchRefused):
        raise
    except Exception as exc:  # a chartsheet, broken XML…
        raise BatchRefused(f"{path}: sheet '{name}' cannot be read ({_reason(exc)})") from exc
    finally:
        book.close()
    _refuse_unsaved_formulas(path, name, rows)
    return _sheet_table(path, name, rows)


