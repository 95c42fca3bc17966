"""Workbooks whose cells look empty but are not: formulas never computed, merged cells. Said as what they are."""

from openpyxl import Workbook

from tests.etl.test_kill import city  # noqa: F401 (a fixture: one grid over the test's points)
from tests.helpers import shiyu

HEADER = ["id", "category", "reported_at", "lon", "lat"]


def workbook(path, rows, merge=None):
    book = Workbook()
    sheet = book.active
    sheet.title = "事件"
    for row in rows:
        sheet.append(row)
    if merge:
        sheet.merge_cells(merge)
    book.save(path)  # openpyxl saves formulas without computing their values, as many programs do
    return path


def test_formulas_without_saved_values_refuse_the_sheet_saying_to_save_it_in_excel(city, conn, tmp_path):  # noqa: F811
    rows = [HEADER] + [[f"X{i}", "治安", "2024-05-01 08:00:00", "=120.1+0.05", 30.22] for i in range(5)]

    done = shiyu("load", "incidents", str(workbook(tmp_path / "events.xlsx", rows)))

    assert done.returncode == 1
    assert done.stderr.strip().endswith(
        "sheet '事件' has 5 formulas without a saved value (e.g. D2 =120.1+0.05): the program that wrote it did not "
        "compute them; open it in Excel or LibreOffice and save it")
    assert not (tmp_path / "events.rejects.csv").exists()


def test_merged_cells_in_the_data_refuse_the_sheet_saying_to_unmerge_them(city, conn, tmp_path):  # noqa: F811
    rows = [["事件台账"], HEADER] + [[f"X{i}", "治安", "2024-05-01 08:00:00", 120.15, 30.22] for i in range(5)]
    path = workbook(tmp_path / "events.xlsx", rows, merge="B3:B7")

    done = shiyu("load", "incidents", str(path))

    assert done.returncode == 1
    assert done.stderr.strip().endswith(
        "sheet '事件' has merged cells (B3:B7), whose value only the first cell holds; unmerge them and fill every "
        "cell (Excel: Merge & Center, Unmerge Cells; then fill down)")
    assert conn.execute("SELECT count(*) FROM shiyu.load_batch WHERE kind = 'incidents'").fetchone()[0] == 0
