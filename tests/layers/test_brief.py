"""The weekly brief (研判报告) on the five-tier city: a PDF that opens, whose text (pdftotext) names the area and
carries the same numbers as the explore page's area panel (``layers.detail.area_detail``) for the week and the
week before, a trend whose week equals a recount of the incidents, fonts embedded; and scope: an area outside
the caller's subtree is not found."""

from __future__ import annotations

import re
import subprocess
from datetime import datetime

import pytest

from geodata.errors import InputError, NotFound
from geodata.scope import Scope
from layers import brief, detail
from layers.base import Filters
from layers.brief import document
from tests.conftest import ARTIFACTS


def _text(pdf: bytes, tmp_path) -> str:
    path = tmp_path / "brief.pdf"
    path.write_bytes(pdf)
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout


def _pages(pdf: bytes, tmp_path) -> int:
    path = tmp_path / "pages.pdf"
    path.write_bytes(pdf)
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True).stdout
    return int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1))


@pytest.fixture(scope="module")
def made(city, tmp_path_factory):
    """The brief of district C1 for the last complete week, made once."""
    _, _, now = city
    week = brief.last_complete_week(now)
    result = brief.make("C1", week, Scope.everything(), user_name="tester", remote_addr=None, via="test", now=now)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "brief-C1.pdf").write_bytes(result.data)
    return week, now, result


def _row(text: str, label: str) -> list[str]:
    """The cells after ``label`` on its line of the KPI table."""
    line = next(line for line in text.splitlines() if line.strip().startswith(label))
    return re.split(r"\s{2,}", line.strip())[1:]


def test_the_brief_opens_and_carries_the_area_and_the_panels_numbers_for_the_week_and_the_week_before(
        city, made, tmp_path):
    week, now, result = made
    assert result.data.startswith(b"%PDF") and 2 <= _pages(result.data, tmp_path) <= 8
    text = _text(result.data, tmp_path)
    assert "区域C1 社会治理研判报告" in text and week.label in text and "负责人C1" in text
    scope = Scope.everything()
    this = detail.area_detail("C1", Filters(since=week.since, until=week.until), scope, now=now)["kpis"]
    last_week = week.shifted(-1)
    before = detail.area_detail("C1", Filters(since=last_week.since, until=last_week.until), scope, now=now)["kpis"]
    assert this["incidents"] > 0 and before["incidents"] > 0
    for label, key, fmt in (("事件数（起）", "incidents", document.count), ("结案率", "resolved_share", document.share),
                            ("超期未结（起）", "overdue", document.count), ("每平方公里事件数", "per_km2", document.density),
                            ("办结时长中位数", "median_hours", document.hours)):
        cells = _row(text, label)
        assert cells[:2] == [fmt(this[key]), fmt(before[key])], (label, cells)
    change = this["incidents"] - before["incidents"]
    assert f"{change:+,}" in _row(text, "事件数（起）")[2]


def test_the_brief_carries_the_areas_rank_from_the_league_table(made, tmp_path):
    from layers.assessment import league

    week, _, result = made
    rows = league("district", week.label, Scope.everything())
    mine = next(r for r in rows if r["code"] == "C1")
    assert mine["rank"] is not None
    ranked = sum(1 for r in rows if r["rank"] is not None)
    text = " ".join(_text(result.data, tmp_path).split())
    assert f"考核排名：在 {ranked} 个" in text and f"列第 {mine['rank']} 位" in text and f"得分 {mine['score']:.1f}" in text


def test_the_weeks_bar_of_the_trend_and_its_categories_equal_a_recount_of_the_incidents(city, made, conn):
    week, now, _ = made
    found = brief.gather("C1", week, Scope.everything(), now)
    recount = conn.execute("SELECT count(*) FROM shiyu.incident WHERE path <@ 'C.C1' AND reported_at >= %s "
                           "AND reported_at < %s", (week.since, week.until)).fetchone()[0]
    assert found.trend[-1] == (week, recount) == (week, found.area["kpis"]["incidents"])
    assert len(found.trend) == 13 and [w for w, _ in found.trend] == [week.shifted(k) for k in range(-12, 1)]
    by_category = dict(conn.execute(
        "SELECT category, count(*) FROM shiyu.incident WHERE path <@ 'C.C1' AND reported_at >= %s "
        "AND reported_at < %s GROUP BY 1", (week.shifted(-1).since, week.shifted(-1).until)).fetchall())
    assert {c: before for c, (_, before) in found.by_category.items() if before} == by_category


def test_the_brief_draws_the_layers_own_hot_spots_at_a_resolution_its_size_allows(city, made):
    week, now, _ = made
    found = brief.gather("C1", week, Scope.everything(), now)
    assert found.res in (7, 8, 9, 10)
    assert found.hotspots.summary["incidents"] == found.area["kpis"]["incidents"]
    assert found.emerging.summary["weeks"] == 12
    assert set(found.shapes) == {"C1", "C11", "C12"}


def test_the_fonts_are_embedded_noto_cjk(made, tmp_path):
    _, _, result = made
    path = tmp_path / "fonts.pdf"
    path.write_bytes(result.data)
    fonts = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True).stdout
    rows = [line for line in fonts.splitlines()[2:] if line.strip()]
    assert rows and all("Noto" in row and " yes yes yes " in row for row in rows), fonts


def test_an_area_outside_the_scope_is_not_found_and_a_bad_week_is_a_mistake(city):
    _, _, now = city
    week = brief.last_complete_week(now)
    with pytest.raises(NotFound, match="no area 'C2' in your scope"):
        brief.gather("C2", week, Scope("C.C1"), now)
    with pytest.raises(NotFound):
        brief.gather("C9", week, Scope.everything(), now)
    for text in ("2026-W60", "2026-49", "W49", "", "1899-W01"):
        with pytest.raises(InputError):
            brief.parse_week(text)
    with pytest.raises(InputError, match="has not begun"):
        brief.gather("C1", brief.week_of(now).shifted(1), Scope.everything(), now)


def test_an_officer_briefs_inside_the_subtree(city):
    _, _, now = city
    week = brief.last_complete_week(now)
    found = brief.gather("C11", week, Scope("C.C1"), now)
    assert found.area["name"] == "区域C11" and found.area["chain"][0]["code"] == "C1"


def test_weeks_are_iso_weeks_in_beijing_time():
    week = brief.parse_week("2026-W49")
    assert (week.monday.isoformat(), week.sunday.isoformat(), week.label) == ("2026-11-30", "2026-12-06", "2026-W49")
    assert week.since.isoformat() == "2026-11-30T00:00:00+08:00"
    assert brief.parse_week("2020w53").label == "2020-W53"
    sunday_night = datetime.fromisoformat("2026-12-06T23:30:00+08:00")
    assert brief.week_of(sunday_night) == week and brief.last_complete_week(sunday_night) == week.shifted(-1)


def test_the_command_writes_the_same_brief_and_says_what_is_wrong_in_one_line(city, made, tmp_path, conn):
    from tests.helpers import shiyu

    week, _, _ = made
    out = tmp_path / "brief.pdf"
    done = shiyu("brief", "--area", "C12", "--week", week.label, "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert out.read_bytes().startswith(b"%PDF") and f"brief of C12 for {week.label}" in done.stdout
    assert "区域C12 社会治理研判报告" in _text(out.read_bytes(), tmp_path)
    via, area = conn.execute("SELECT detail->>'via', detail->>'area' FROM shiyu.audit_log WHERE action = 'brief' "
                             "ORDER BY id DESC LIMIT 1").fetchone()
    assert (via, area) == ("cli", "C12")
    for args, message in ((["--week", "2026-W99"], "shiyu: --week '2026-W99': 2026 has no week 99"),
                          (["--area", "C9"], "shiyu: there is no area 'C9' in your scope"),
                          (["-o", str(tmp_path / "brief.txt")], "shiyu: a brief is a PDF: name the output …brief.pdf, not brief.txt")):
        given = {"--area": "C12", "--week": week.label, "-o": str(tmp_path / "other.pdf")}
        given.update(dict(zip(args[::2], args[1::2])))
        refused = shiyu("brief", *[part for pair in given.items() for part in pair])
        assert (refused.returncode, refused.stderr.strip()) == (2, message)
        assert not (tmp_path / "other.pdf").exists()


def _order(conn, area_code: str, path: str, level: str, note: str) -> int:
    return conn.execute(
        "INSERT INTO shiyu.supervision_order (area_code, path, level, addressee, note, issued_by, reply_due_at) "
        "VALUES (%s, %s::ltree, %s, %s, %s, 'cora', now() + interval '2 days') RETURNING id",
        (area_code, path, level, f"负责人{area_code}", note)).fetchone()[0]


def test_open_orders_inside_the_area_are_listed_most_serious_first_and_none_from_outside(city, made, conn, tmp_path):
    week, now, _ = made
    try:
        reminder = _order(conn, "C111", "C.C1.C11.C111", "reminder", "请尽快处置")
        red = _order(conn, "C12", "C.C1.C12", "red_list", "挂牌督办：积案")
        _order(conn, "C2", "C.C2", "order", "另一个区县的督办")
        found = brief.gather("C1", week, Scope.everything(), now)
        assert [o["id"] for o in found.orders] == [red, reminder] and found.orders_total == 2
        assert [o["id"] for o in brief.gather("C11", week, Scope("C.C1"), now).orders] == [reminder]
        text = _text(document.pdf(found), tmp_path)
        assert "未办结的督办单 2 件" in text and "挂牌督办：积案" in text and "另一个区县" not in text
    finally:
        conn.execute("DELETE FROM shiyu.supervision_order")


def test_the_overdue_list_is_the_panels_for_the_trends_weeks(city, made, tmp_path):
    week, now, result = made
    first = week.shifted(-12)
    panel = detail.area_detail("C1", Filters(since=first.since, until=min(week.until, now)), Scope.everything(),
                               now=now, overdue_limit=20)
    text = _text(result.data, tmp_path)
    assert f"至今超期未结 {panel['overdue_total']:,} 起" in text
    assert all(o["id"] in text for o in panel["overdue"]) and panel["overdue"]


def test_an_area_too_large_for_a_brief_is_refused_before_the_work_with_what_to_brief_instead(city, monkeypatch):
    from geodata.errors import TooLarge
    from layers.brief import content

    _, _, now = city
    monkeypatch.setattr(content, "MAP_CELLS", 1)
    with pytest.raises(TooLarge, match="area C is too large for a brief's map even at H3 r7; brief one of its"):
        brief.gather("C", brief.last_complete_week(now), Scope.everything(), now)


def test_a_warned_grid_is_named_with_its_street(city):
    from layers.brief.content import grid_names

    named = grid_names([{"properties": {"grid_code": "C1111"}}, {"properties": {"grid_code": "C2222"}}])
    assert named == {"C1111": "区域C11 区域C1111", "C2222": "区域C22 区域C2222"}
