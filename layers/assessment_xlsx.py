"""The league tables as an Excel workbook: one sheet per tier (区县, 街道乡镇, 社区村, 网格) with Chinese headers,
numbers as numbers (rates as percentages, rank changes as ↑3 / ↓2), the header row and the name columns frozen,
and a sheet saying the period, the as-of time and the weights. Written to a temporary file and handed over as an
``layers.export.ExportFile`` (the CLI copies it, the dashboard's downloads machinery serves it); audited."""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path
from tempfile import mkdtemp

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from geodata.audit import record
from geodata.scope import Scope
from geodata.taxonomy import TIER_DETAILS
from layers import assessment
from layers.base import BEIJING
from layers.export import ExportFile
from layers.periods import Period, parse_period, previous, year_before

FORMATS = {"count": "#,##0", "share": "0.0%", "per_1000": "0.00", "hours": "0.0"}
CHANGE_FORMAT = '+0.0%;-0.0%;0.0%'
RANK_CHANGE_FORMAT = '"↑"0;"↓"0;"–"'
HEADER_FILL = PatternFill("solid", fgColor="1F3864")
HEADER_FONT = Font(bold=True, color="FFFFFF")
FIXED = (("rank", "排名", 7, "0"), ("rank_change", "名次变化", 9, RANK_CHANGE_FORMAT), ("code", "代码", 14, None),
         ("name", "名称", 22, None), ("score", "综合得分", 10, "0.00"))


def _columns() -> list[tuple[str, int, str | None, callable]]:
    """(header, width, number format, row -> value) of every column, in order."""
    cols = [(zh, width, fmt, lambda r, k=key: r.get(k)) for key, zh, width, fmt in FIXED]
    for ind in assessment.INDICATORS:
        cols.append((ind.zh, max(10, len(ind.zh) * 2 + 2), FORMATS[ind.unit], lambda r, k=ind.name: r.get(k)))
    for key, label in (("change", "环比"), ("change_year", "同比")):
        for ind in assessment.INDICATORS:
            cols.append((f"{ind.zh}{label}", max(12, len(ind.zh) * 2 + 6), CHANGE_FORMAT,
                         lambda r, k=key, n=ind.name: None if r[k][n] is None else r[k][n] / 100))
    return cols


def _sheet(book: Workbook, title: str, rows: list[dict]) -> None:
    """One tier's sheet, written row by row in a write-only sheet. Most of a big workbook's time is openpyxl
    serialising its XML (the demo city's 12,000 areas × 29 columns: about 11 s on the loaded 2-core machine)."""
    sheet = book.create_sheet(title)
    cols = _columns()
    for k, (_, width, _, _) in enumerate(cols, start=1):
        sheet.column_dimensions[get_column_letter(k)].width = width
    sheet.freeze_panes = "E2"  # the header row and rank, change, code and name stay on screen
    sheet.auto_filter.ref = f"A1:{get_column_letter(len(cols))}{max(1, len(rows) + 1)}"
    headers = []
    for header, *_ in cols:
        cell = WriteOnlyCell(sheet, header)
        cell.fill, cell.font = HEADER_FILL, HEADER_FONT
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        headers.append(cell)
    sheet.row_dimensions[1].height = 32
    sheet.append(headers)
    for row in rows:
        cells = []
        for _, _, fmt, value in cols:
            cell = WriteOnlyCell(sheet, value(row))
            if fmt:
                cell.number_format = fmt
            cells.append(cell)
        sheet.append(cells)


def _notes(book: Workbook, period: Period, now: datetime, area: str | None) -> None:
    sheet = book.create_sheet("说明")
    sheet.append(["考核周期", period.label, f"{period.first_day} 至 {period.end_day} 前 (北京时间)"])
    sheet.append(["环比", previous(period).label])
    sheet.append(["同比", year_before(period).label])
    sheet.append(["数据截至", now.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M")])
    sheet.append(["范围", area or "全部 (您的权限范围)"])
    sheet.append([])
    sheet.append(["指标", "权重", "方向", "说明见 docs/assessment.md"])
    weight = assessment.weights()
    for ind in assessment.INDICATORS:
        sheet.append([ind.zh, weight[ind.name], "越高越好" if ind.better == assessment.HIGHER else "越低越好", ind.name])
    for letter, width in zip("ABCD", (22, 14, 30, 24)):
        sheet.column_dimensions[letter].width = width


def league_workbook(period: str | Period, scope: Scope, user_name: str | None, remote_addr: str | None = None,
                    via: str = "cli", area: str | None = None, tiers: tuple[str, ...] = assessment.TIERS,
                    now: datetime | None = None) -> ExportFile:
    """The workbook of the leagues of ``tiers`` (all four by default) for ``period``; audited as an export."""
    period = period if isinstance(period, Period) else parse_period(period)
    now = now or datetime.now(BEIJING)
    tables = {tier: assessment.league(tier, period, scope, area=area, now=now) for tier in tiers}
    tmp = Path(mkdtemp(prefix="shiyu-rank-"))
    try:
        book = Workbook(write_only=True)
        for tier, rows in tables.items():
            _sheet(book, TIER_DETAILS[tier].name_zh, rows)
        _notes(book, period, now, area)
        folder = tmp / "files"
        folder.mkdir()
        path = folder / "league.xlsx"
        book.save(path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    name = f"shiyu-考核排名-{period.label}{'-' + area if area else ''}.xlsx"
    counts = {tier: len(rows) for tier, rows in tables.items()}
    audit_id = record("export", user_name, {"via": via, "file": name, "format": "xlsx", "layers": counts,
                                            "league": {"period": period.label, "area": area}}, remote_addr)
    return ExportFile(name, path, path.stat().st_size, counts, {"period": period.label}, audit_id, tmp)
