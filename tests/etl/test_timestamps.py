import datetime as dt

import numpy as np
import pandas as pd
import pytest

from etl.timestamps import CLOCK_SKEW, parse_timestamp, parse_timestamps
from geodata.errors import InputError

NOW = pd.Timestamp("2024-06-01 12:00", tz="Asia/Shanghai")


def utc(text):
    return pd.Timestamp(text, tz="UTC")


def parse(values, **kwargs):
    kwargs.setdefault("now", NOW)
    return parse_timestamps(pd.Series(values, dtype=object), **kwargs)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-01 08:00:00", "2024-05-01 00:00:00"),
        ("2024-05-01T08:00:00", "2024-05-01 00:00:00"),
        ("2024-05-01 08:00", "2024-05-01 00:00:00"),
        ("2024-05-01", "2024-04-30 16:00:00"),
        ("2024/5/1 8:00", "2024-05-01 00:00:00"),
        ("2024/05/01 08:00:00", "2024-05-01 00:00:00"),
        ("2023/12/31 23:59:59", "2023-12-31 15:59:59"),
        ("2024.5.1 8:00", "2024-05-01 00:00:00"),
        ("2024年5月1日 8:00", "2024-05-01 00:00:00"),
        ("2024年5月1日 8时30分", "2024-05-01 00:30:00"),
        ("2024年05月01日08时30分15秒", "2024-05-01 00:30:15"),
        ("2024年5月1日", "2024-04-30 16:00:00"),
        ("20240501083000", "2024-05-01 00:30:00"),
        ("20240501", "2024-04-30 16:00:00"),
        ("2024-05-01 08:00:00.250", "2024-05-01 00:00:00.250"),
        ("2024-05-01 08：00", "2024-05-01 00:00:00"),  # full-width colon
        ("  2024-05-01 08:00:00\t", "2024-05-01 00:00:00"),
    ],
)
def test_beijing_wall_clock_layouts_parse_to_the_utc_instant(text, expected):
    parsed, reason = parse([text])
    assert reason[0] is None
    assert parsed[0] == utc(expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-01T00:00:00Z", "2024-05-01 00:00:00"),
        ("2024-05-01 08:00:00+08:00", "2024-05-01 00:00:00"),
        ("2024-05-01T08:00:00+0800", "2024-05-01 00:00:00"),
        ("2024-05-01T02:00:00+02:00", "2024-05-01 00:00:00"),
        ("2024-04-30T19:00:00-05:00", "2024-05-01 00:00:00"),
        ("2024-05-01 00:00:00.5Z", "2024-05-01 00:00:00.5"),
    ],
)
def test_an_explicit_offset_is_honoured(text, expected):
    parsed, reason = parse([text])
    assert reason[0] is None
    assert parsed[0] == utc(expected)


@pytest.mark.parametrize(
    ("serial", "expected"),
    [
        # What Excel shows for the cell, read as Beijing time.
        (45413.333333333336, "2024-05-01 00:00:00"),  # 2024-05-01 08:00:00
        (45413.5, "2024-05-01 04:00:00"),  # 2024-05-01 12:00:00
        (45413, "2024-04-30 16:00:00"),  # 2024-05-01
        (45413.3333, "2024-04-30 23:59:57.120"),  # 2024-05-01 07:59:57.120
        (36526, "1999-12-31 16:00:00"),  # 2000-01-01
        ("45413.5", "2024-05-01 04:00:00"),
    ],
)
def test_excel_serial_days_read_as_excel_shows_them(serial, expected):
    parsed, reason = parse([serial])
    assert reason[0] is None
    assert parsed[0] == utc(expected)


@pytest.mark.parametrize(
    "value",
    [1714521600, 1714521600.0, "1714521600", 1714521600000, "1714521600000", np.int64(1714521600)],
)
def test_epoch_seconds_and_milliseconds_are_utc_instants(value):
    parsed, reason = parse([value])
    assert reason[0] is None
    assert parsed[0] == utc("2024-05-01 00:00:00")


def test_fractional_epochs_keep_their_fraction():
    parsed, _ = parse([1714521600.25, 1714521600250])
    assert parsed.tolist() == [utc("2024-05-01 00:00:00.25")] * 2


def test_numeric_columns_parse_without_going_through_text():
    values = pd.Series([45413.5, np.nan, 1714521600.0, 20240501.0, 20240501083000.0])
    parsed, reason = parse_timestamps(values, now=NOW)
    assert parsed.tolist()[:1] + parsed.tolist()[2:] == [
        utc("2024-05-01 04:00"), utc("2024-05-01 00:00"), utc("2024-04-30 16:00"), utc("2024-05-01 00:30")]
    assert reason.tolist() == [None, "reported_at is empty", None, None, None]


def test_native_datetimes_naive_are_beijing_time_aware_are_honoured():
    values = [
        pd.Timestamp("2024-05-01 08:00"),
        dt.datetime(2024, 5, 1, 8, 0),
        pd.Timestamp("2024-05-01 00:00", tz="UTC"),
        dt.datetime(2024, 5, 1, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=10))),
        np.datetime64("2024-05-01T08:00"),
        dt.date(2024, 5, 1),
    ]
    parsed, reason = parse(values)
    assert reason.isna().all()
    assert parsed.tolist() == [utc("2024-05-01 00:00")] * 5 + [utc("2024-04-30 16:00")]


def test_datetime_columns_naive_are_localised_and_aware_converted():
    naive = pd.Series(pd.to_datetime(["2024-05-01 08:00", None]))
    parsed, reason = parse_timestamps(naive, now=NOW)
    assert parsed[0] == utc("2024-05-01 00:00") and pd.isna(parsed[1])
    assert reason.tolist() == [None, "reported_at is empty"]
    aware = naive.dt.tz_localize("Asia/Tokyo")
    assert parse_timestamps(aware, now=NOW)[0][0] == utc("2024-04-30 23:00")


def test_the_result_is_microsecond_utc_like_postgresql_stores():
    parsed, _ = parse(["2024-05-01 08:00:00.123456789"])
    assert str(parsed.dtype) == "datetime64[us, UTC]"
    assert parsed[0] == utc("2024-05-01 00:00:00.123457")


def test_values_in_the_future_are_rejected_beyond_the_clock_skew():
    within = NOW + CLOCK_SKEW - pd.Timedelta(seconds=1)
    beyond = NOW + CLOCK_SKEW + pd.Timedelta(seconds=1)
    parsed, reason = parse([within.tz_localize(None), beyond.tz_localize(None), "2031-01-01 08:00"])
    assert parsed[0] == within
    assert pd.isna(parsed[1]) and pd.isna(parsed[2])
    assert reason.tolist() == [
        None,
        "reported_at 2024-06-01 12:05:01 is in the future",
        "reported_at 2031-01-01 08:00 is in the future",
    ]


def test_future_values_pass_when_allowed():
    parsed, reason = parse(["2031-01-01 08:00"], allow_future=True)
    assert parsed[0] == utc("2031-01-01 00:00") and reason[0] is None


def test_now_defaults_to_the_current_time():
    _, reason = parse_timestamps(pd.Series(["2099-01-01", "2024-05-01"]))
    assert reason.tolist() == ["reported_at 2099-01-01 is in the future", None]


def test_values_before_2000_are_rejected():
    parsed, reason = parse(["1999-12-31", "1999-12-31 23:59:59", "2000-01-01 00:00", 946684800 - 8 * 3600 - 1])
    assert reason.tolist() == [
        "reported_at 1999-12-31 is before 2000-01-01",
        "reported_at 1999-12-31 23:59:59 is before 2000-01-01",
        None,
        "reported_at 1999-12-31 23:59:59 is before 2000-01-01",
    ]
    assert parsed.isna().tolist() == [True, True, False, True]


def test_the_earliest_bound_can_be_moved_or_dropped():
    _, reason = parse(["2019-12-31", "2020-01-01"], earliest="2020-01-01")
    assert reason.tolist() == ["reported_at 2019-12-31 is before 2020-01-01", None]
    parsed, reason = parse(["1995-05-01 08:00", "1990-05-01 08:00"], earliest=None)
    assert reason.isna().all()
    # China kept summer time (UTC+9) from 1986 to 1991; the zone database knows.
    assert parsed.tolist() == [utc("1995-05-01 00:00"), utc("1990-04-30 23:00")]


@pytest.mark.parametrize("value", ["2024-13-45", "2024-02-30", "2024-05-01 25:00", "2024-05-01 8:", "garbage",
                                   "2024-05", "明天", "5/1/2024"])
def test_garbage_is_rejected_with_the_value_quoted(value):
    parsed, reason = parse([value])
    assert pd.isna(parsed[0])
    assert reason[0] == f"reported_at '{value}' is not a date/time; expected e.g. 2024-05-01 08:00:00"


def test_a_long_rejected_value_is_cut_short_in_the_reason():
    _, reason = parse(["备注：" + "很长" * 40])
    assert reason[0] == "reported_at '备注：" + "很长" * 18 + "很…' is not a date/time; expected e.g. 2024-05-01 08:00:00"


def test_a_number_of_no_known_kind_says_which_numbers_are_understood():
    _, reason = parse([123, "99999999999999999"])
    assert reason[0] == (
        "reported_at '123' is not a date/time; as a number it should be an Excel date (30000–80000), "
        "epoch seconds or epoch milliseconds")
    assert reason[1].startswith("reported_at '99999999999999999' is not a date/time; as a number")


@pytest.mark.parametrize("value", [None, np.nan, pd.NaT, "", "   ", "NULL", "null", "N/A", "-", "无"])
def test_empty_values_are_reported_as_empty(value):
    parsed, reason = parse([value])
    assert pd.isna(parsed[0])
    assert reason[0] == "reported_at is empty"


def test_the_field_name_appears_in_every_reason():
    _, reason = parse([None, "x", "2031-01-01", "1999-01-01"], field="resolved_at")
    assert all(r.startswith("resolved_at ") for r in reason)


def test_a_mixed_column_parses_each_row_by_its_own_layout():
    values = pd.Series(
        ["2024-05-01 08:00:00", "2024/5/1 8:00", "2024年5月1日 8时30分", 45413.333333333336, 1714521600000,
         "2024-05-01T00:00:00Z", pd.Timestamp("2024-05-01 08:00"), "20240501083000", None, "2024-13-45"],
        index=range(100, 110),
        name="reported_at",
        dtype=object,
    )
    parsed, reason = parse_timestamps(values, now=NOW)
    eight, half_past = utc("2024-05-01 00:00"), utc("2024-05-01 00:30")
    assert parsed.tolist()[:8] == [eight, eight, half_past, eight, eight, eight, eight, half_past]
    assert parsed[108] is pd.NaT and parsed[109] is pd.NaT
    assert reason.tolist()[:8] == [None] * 8
    assert reason[108] == "reported_at is empty"
    assert reason[109].startswith("reported_at '2024-13-45'")
    assert parsed.index.equals(values.index) and reason.index.equals(values.index)
    assert parsed.name == "reported_at"


def test_a_list_is_accepted_as_a_column():
    parsed, reason = parse_timestamps(["2024-05-01 08:00"], now=NOW)
    assert parsed[0] == utc("2024-05-01 00:00") and reason[0] is None


def test_two_hundred_thousand_rows_parse():
    n = 200_000
    seconds = np.random.default_rng(7).integers(0, 365 * 86400, n)
    local = pd.Timestamp("2023-06-01") + pd.to_timedelta(seconds, unit="s")
    text = pd.Series(local.strftime("%Y-%m-%d %H:%M:%S"), dtype=object)
    text[::4] = pd.Series(local.strftime("%Y/%m/%d %H:%M:%S"), dtype=object)[::4]
    text[::1000] = "坏数据"
    parsed, reason = parse_timestamps(text, now=NOW)
    good = np.arange(n) % 1000 != 0
    expected = local.tz_localize("Asia/Shanghai").tz_convert("UTC")
    assert (parsed[good].to_numpy() == expected[good].to_numpy()).all()
    assert reason[good].isna().all()
    assert (reason[~good] == "reported_at '坏数据' is not a date/time; expected e.g. 2024-05-01 08:00:00").all()


def test_parse_timestamp_returns_one_utc_timestamp():
    assert parse_timestamp("2024年5月1日 8时30分") == utc("2024-05-01 00:30")
    assert parse_timestamp(1714521600, now=NOW) == utc("2024-05-01 00:00")


def test_parse_timestamp_raises_an_input_error_with_the_reason():
    with pytest.raises(InputError, match=r"^since 'soon' is not a date/time"):
        parse_timestamp("soon", field="since")
    with pytest.raises(ValueError, match="is in the future"):
        parse_timestamp("2031-01-01", now=NOW)
