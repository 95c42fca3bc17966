"""``shiyu rank`` as an operator runs it: --json equals the league, -o writes the workbook (opened with openpyxl),
``rank weights --set`` changes the weights and audits it, and mistakes are one line with exit 2."""

from __future__ import annotations

import json

import openpyxl
import pytest

from geodata import db
from geodata.scope import Scope
from layers import assessment
from layers.periods import current, previous
from tests.helpers import shiyu

SHEETS = ["区县", "街道乡镇", "社区村", "网格", "说明"]


def _month(city):
    return previous(current("month", city[2].date()))


def test_json_prints_one_row_per_area_with_the_pinned_keys_equal_to_the_league(city):
    period = _month(city)
    done = shiyu("rank", "--tier", "street", "--month", period.label, "--json")
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    expected = assessment.league("street", period, Scope.everything())
    assert [(r["code"], r["rank"], r["score"], r["reports"]) for r in rows] == \
        [(r["code"], r["rank"], r["score"], r["reports"]) for r in expected]
    assert len(rows) == 4 and all({"code", "name", "rank", "score", "reports", "on_time_rate", "rank_change",
                                   "previous", "change", "change_year"} <= set(r) for r in rows)
    written = city[1]["reported"]
    assert sum(r["reports"] for r in rows) == sum(1 for t in written if period.start <= t.astimezone(period.start.tzinfo) < period.end)


def test_week_wins_over_month_and_the_plain_table_names_the_period(city):
    week = previous(current("week", city[2].date()))
    done = shiyu("rank", "--tier", "grid", "--month", _month(city).label, "--week", week.label)
    assert done.returncode == 0, done.stderr
    assert f"grid league {week.label}: 16 areas" in done.stdout and "C1111" in done.stdout


def test_output_writes_one_sheet_per_tier_with_chinese_headers_numbers_and_formats(city, tmp_path):
    period = _month(city)
    out = tmp_path / "league.xlsx"
    done = shiyu("rank", "--month", period.label, "-o", str(out))
    assert done.returncode == 0, done.stderr
    book = openpyxl.load_workbook(out)
    assert book.sheetnames == SHEETS
    grids = book["网格"]
    header = [c.value for c in grids[1]]
    assert header[:5] == ["排名", "名次变化", "代码", "名称", "综合得分"] and "按期结案率" in header and "结案率环比" in header
    assert grids.freeze_panes == "E2" and grids.max_row == 17
    league = {r["code"]: r for r in assessment.league("grid", period, Scope.everything())}
    on_time, rate = header.index("按期结案率") + 1, header.index("结案率") + 1
    for row in grids.iter_rows(min_row=2):
        code = row[2].value
        assert row[0].value == league[code]["rank"] and row[4].value == league[code]["score"] and not isinstance(row[4].value, str)
        assert row[on_time - 1].value == league[code]["on_time_rate"] and row[on_time - 1].number_format == "0.0%"
        assert row[rate - 1].value == league[code]["closure_rate"]
    assert book["区县"].max_row == 3 and book["街道乡镇"].max_row == 5 and book["社区村"].max_row == 9
    assert db.fetch_value("SELECT detail->>'format' FROM shiyu.audit_log WHERE action = 'export' ORDER BY id DESC LIMIT 1") == "xlsx"


def test_weights_are_shown_changed_and_audited(city):
    before = assessment.weights()
    try:
        done = shiyu("rank", "weights", "--set", "on_time_rate=0.5", "--set", "orders=0.05", "--json")
        assert done.returncode == 0, done.stderr
        shown = {r["indicator"]: r["weight"] for r in json.loads(done.stdout)}
        assert shown["on_time_rate"] == 0.5 and shown["orders"] == 0.05 and assessment.weights() == shown
        detail = db.fetch_value("SELECT detail FROM shiyu.audit_log WHERE action = 'assessment_weights' ORDER BY id DESC LIMIT 1")
        assert detail["set"] == {"on_time_rate": 0.5, "orders": 0.05} and detail["before"] == before
    finally:
        assessment.set_weights(before, "test")


@pytest.mark.parametrize("args, says", [
    (("--month", "2026-13"), "neither a month"), (("--week", "2026-W60"), "neither a month"),
    (("weights", "--set", "speed=1"), "unknown indicator 'speed'"), (("weights", "--set", "reports=x"), "NAME=NUMBER"),
    (("weights", "--set", "reports=101"), "between 0 and 100"), (("-o", "league.csv"), "name the output …xlsx"),
    (("--area", "C9"), "no area 'C9'"),
])
def test_mistakes_are_one_line_and_exit_2(city, args, says):
    done = shiyu("rank", *args)
    assert done.returncode == 2 and says in done.stderr and done.stderr.count("\n") == 1, done.stderr



def test_the_last_complete_period_is_the_one_before_todays():
    from datetime import date

    from layers.periods import last_complete

    assert last_complete("month", date(2026, 12, 7)).label == "2026-11"
    assert last_complete("month", date(2026, 1, 1)).label == "2025-12"
    assert last_complete("week", date(2026, 12, 7)).label == "2026-W49"
