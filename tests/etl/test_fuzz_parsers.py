"""Property tests over what the loaders parse: any input gives a parsed value or a reason, never a crash, and a
loaded file always accounts for every row it read."""

import csv
from datetime import datetime, timezone

import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from etl.columns import map_columns, parse_field_options
from etl.load import load_incidents
from etl.timestamps import CLOCK_SKEW, parse_timestamps
from geodata.errors import InputError, ShiyuError
from geodata.taxonomy import category_code, status_code

NOW = pd.Timestamp("2026-06-01T00:00:00Z")
# Text as operators' files hold it: digits, separators and Chinese date words mixed with anything else.
DATEISH = st.text(alphabet="0123456789-/:. T年月日时分秒Z+", max_size=24)
CELLS = st.one_of(DATEISH, st.text(max_size=24), st.integers(-10**14, 10**14),
                  st.floats(allow_nan=True, allow_infinity=True), st.none())


@settings(max_examples=300, deadline=None)
@given(st.lists(CELLS, min_size=1, max_size=20))
def test_every_timestamp_is_parsed_in_range_or_rejected_with_a_reason(values):
    parsed, reason = parse_timestamps(pd.Series(values, dtype=object), now=NOW)
    assert len(parsed) == len(reason) == len(values)
    for moment, why in zip(parsed, reason):
        if why is None:
            assert pd.Timestamp("2000-01-01", tz="Asia/Shanghai") <= moment <= NOW + CLOCK_SKEW
        else:
            assert pd.isna(moment) and isinstance(why, str) and why.startswith("reported_at ")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=30))
def test_category_and_status_lookups_answer_a_code_or_none(text):
    for lookup in (category_code, status_code):
        code = lookup(text)
        assert code is None or isinstance(code, str)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=20), max_size=6), st.lists(st.text(max_size=20), max_size=4))
def test_field_options_and_header_mapping_refuse_cleanly(headers, options):
    try:
        given_fields = parse_field_options(options)
        map_columns(headers, ("id", "category", "reported_at", "lon", "lat"), given_fields)
    except ShiyuError as error:
        assert str(error) and "Traceback" not in str(error)


ROW = st.tuples(st.text(alphabet="AB0123456789", min_size=1, max_size=4),
                st.sampled_from(["纠纷", "消防", "traffic_safety", "火灾?", ""]),
                st.one_of(DATEISH, st.sampled_from(["2026-05-01 08:00:00", "2026/5/1 8:00", "45413.5"])),
                st.one_of(st.floats(119.0, 121.0), st.floats(allow_nan=True), st.just(0.0), st.text(max_size=6)),
                st.one_of(st.floats(29.0, 31.0), st.floats(allow_nan=True), st.just(0.0), st.text(max_size=6)))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(ROW, min_size=1, max_size=30))
# Found by this test: a NUL byte made PostgreSQL refuse the batch with a traceback, and a lone carriage return
# split its row of the reject file in two.
@example(rows=[("7", "消防", "49", 0.0, 0.0), ("B930", "traffic_safety", "8日分1时月", 0.0, "\x00")])
@example(rows=[("0", "纠纷", "", 119.0, 29.0), ("1", "纠纷", "", 0.0, "\r0")])
def test_a_file_of_random_rows_is_loaded_or_refused_and_every_row_is_accounted_for(empty_db, tmp_path, rows):
    path = tmp_path / "fuzz.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(("id", "category", "reported_at", "lon", "lat"))
        writer.writerows(rows)
    try:
        summary = load_incidents(path, source="fuzz", reject_file=tmp_path / "rejects.csv", max_reject_ratio=1.0,
                                 now=datetime(2026, 6, 1, tzinfo=timezone.utc))
    except InputError as error:  # e.g. a file whose every row is empty after its header
        assert str(error)
        return
    assert summary.read == len(rows)
    assert summary.read == summary.loaded + summary.updated + summary.unchanged + summary.rejected
    if summary.rejected:
        with (tmp_path / "rejects.csv").open(encoding="utf-8-sig", newline="") as handle:
            rejected = list(csv.DictReader(handle))
        assert len(rejected) == summary.rejected
        assert all(r["reason"] for r in rejected)


@pytest.mark.parametrize("value", ["", "   ", "年月日", "9" * 40, "2024-13-45 99:99:99", "-1e309", "NaT"])
def test_known_nasty_timestamps_are_reasons_not_errors(value):
    _, reason = parse_timestamps(pd.Series([value], dtype=object), now=NOW)
    assert isinstance(reason.iloc[0], str)


def test_a_nul_in_a_kept_row_is_loaded_as_a_visible_replacement_character(empty_db, conn, tmp_path):
    path = tmp_path / "nul.csv"
    path.write_text("id,category,reported_at,lon,lat,description,road\n"
                    "N1,纠纷,2026-05-01 08:00:00,120.1,30.2,a\x00b,c\x00d\n", encoding="utf-8")
    summary = load_incidents(path, source="nul", now=datetime(2026, 6, 1, tzinfo=timezone.utc))
    assert (summary.loaded, summary.rejected) == (1, 0)
    assert conn.execute("SELECT description, attrs ->> 'road' FROM shiyu.incident").fetchone() == ("a\ufffdb", "c\ufffdd")
