"""Timestamps as Chinese systems emit them, parsed in bulk to UTC instants.

One column may mix ``2024-05-01 08:00:00``, ``2024/5/1 8:00``,
``2024年5月1日 8时30分``, ``20240501083000``, ISO 8601 with an offset, Excel
serial days, epoch seconds or milliseconds and native datetimes. Wall-clock
values without an offset are Beijing time (Asia/Shanghai); epochs are UTC by
definition; offsets are honoured. Every rejected row gets a reason a data
operator can act on.

Speed comes from parsing by *layout*, not by row: each text is reduced to its
shape (digits → ``9``), each distinct shape is classified once, and all rows of
a layout are converted in one ``pandas.to_datetime`` call with an explicit
format. A million rows take one to two seconds.

Examples
--------
>>> parsed, reason = parse_timestamps(pd.Series(["2024/5/1 8:00", "2024-13-45", None]))
>>> parsed.tolist()[0]
Timestamp('2024-05-01 00:00:00+0000', tz='UTC')
>>> reason.tolist()[1:]
["reported_at '2024-13-45' is not a date/time; expected e.g. 2024-05-01 08:00:00", 'reported_at is empty']
>>> parse_timestamp(45413.5)
Timestamp('2024-05-01 04:00:00+0000', tz='UTC')
"""

from __future__ import annotations

import functools
import re

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_datetime64_any_dtype, is_numeric_dtype

from geodata.errors import InputError

__all__ = ["CLOCK_SKEW", "LOCAL_TZ", "parse_timestamp", "parse_timestamps"]

#: Wall-clock values without an offset are read in this zone.
LOCAL_TZ = "Asia/Shanghai"
#: How far past ``now`` a value may lie before it counts as "in the future".
CLOCK_SKEW = pd.Timedelta(minutes=5)

_EXAMPLE = "2024-05-01 08:00:00"
_NAT = np.iinfo(np.int64).min
_SHOWN_CHARS = 40

# Row outcomes, in the order reasons are reported.
_OK, _EMPTY, _NOT_DATE, _BAD_NUMBER, _EARLY, _FUTURE = range(6)

# Excel's 1900 date system counts days from 1899-12-30 (past its 1900 leap-year
# bug); 1970-01-01 is day 25569.
_EXCEL_UNIX_DAY = 25569
_EXCEL_DAYS = (30_000, 80_000)
_EPOCH_SECONDS = (1e8, 1e10)
_EPOCH_MILLIS = (1e11, 1e13)

_EMPTY_WORDS = frozenset({"", "null", "none", "nan", "nat", "na", "n/a", "-", "--", "—", "/", "无", "空"})
_NINES = str.maketrans("0123456789", "9999999999")
_NUMBER_SHAPE = re.compile(r"[+-]?(?:9+\.?9*|\.9+)(?:[eE][+-]?9+)?")
_DATETIME_SHAPE = re.compile(
    r"""
    9999 (?P<s1>\s*[-/.年]\s*) 99? (?P<s2>\s*[-/.月]\s*) 99?
    (?:
        (?P<s3>\s*[T日]\s*|\s+) (?P<H>99?)
        (?P<s4>\s*[:：]\s*|\s*[时点]\s*)
        (?:(?P<M>99?)
           (?:(?P<s5>\s*[:：]\s*|\s*分\s*)
              (?:(?P<S>99?) (?:(?P<s6>[.,])(?P<f>9{1,9}))? (?P<s7>\s*秒)?)?
           )?
        )?
        (?:(?P<zs>\s*)(?P<z>Z|[+-]99:?99))?
      | (?P<s8>\s*日)
    )?
    """,
    re.VERBOSE,
)
_NUMBER, _EMPTY_TEXT = "#number", "#empty"


@functools.lru_cache(maxsize=4096)
def _layout(shape: str) -> str | None:
    """Return the ``strptime`` format for a shape, a marker, or ``None`` if unknown."""
    shape = shape.strip()
    if shape.casefold() in _EMPTY_WORDS:
        return _EMPTY_TEXT
    if _NUMBER_SHAPE.fullmatch(shape):
        return _NUMBER
    match = _DATETIME_SHAPE.fullmatch(shape)
    if match is None:
        return None
    g = match.groupdict(default="")
    # A colon promises the next field: "8:" and "8:30:" are not times.
    if (":" in g["s4"] or "：" in g["s4"]) and not g["M"]:
        return None
    if (":" in g["s5"] or "：" in g["s5"]) and not g["S"]:
        return None
    layout = "%Y" + g["s1"] + "%m" + g["s2"] + "%d" + g["s8"]
    if g["H"]:
        layout += g["s3"] + "%H" + g["s4"]
        layout += "%M" + g["s5"] if g["M"] else ""
        layout += "%S" if g["S"] else ""
        layout += g["s6"] + "%f" if g["f"] else ""
        layout += g["s7"]
        layout += g["zs"] + "%z" if g["z"] else ""
    return layout


def _aware_to_micros(aware: pd.Series) -> np.ndarray:
    utc = aware.dt.tz_convert("UTC").dt.tz_localize(None).dt.round("us").dt.as_unit("us")
    return utc.to_numpy().view(np.int64)


def _local_to_micros(naive: pd.Series) -> np.ndarray:
    # Shanghai has kept +08:00 since 1991; the flags only matter for older values.
    aware = naive.dt.tz_localize(LOCAL_TZ, ambiguous=False, nonexistent="shift_forward")
    return _aware_to_micros(aware)


def _clock_to_micros(parts: dict[str, np.ndarray]) -> np.ndarray:
    """Local wall-clock fields (year … second) to UTC microseconds; NaT when invalid."""
    days = pd.to_datetime(
        pd.DataFrame({k: parts[k] for k in ("year", "month", "day")}), errors="coerce"
    )
    hour, minute, second = parts["hour"], parts["minute"], parts["second"]
    valid = (hour < 24) & (minute < 60) & (second < 60)
    naive = days + pd.to_timedelta(hour * 3600 + minute * 60 + second, unit="s")
    return _local_to_micros(naive.where(valid))


def _compact_to_micros(numbers: np.ndarray) -> np.ndarray:
    """``YYYYMMDD``, ``YYYYMMDDHHMM`` and ``YYYYMMDDHHMMSS`` as numbers."""
    whole = numbers.astype(np.int64)
    clock_digits = np.where(whole < 10**8, 0, np.where(whole < 10**12, 4, 6))
    scale = 10**clock_digits
    date, clock = whole // scale, whole % scale
    clock = np.where(clock_digits == 4, clock * 100, clock)
    return _clock_to_micros({
        "year": date // 10000, "month": date // 100 % 100, "day": date % 100,
        "hour": clock // 10000, "minute": clock // 100 % 100, "second": clock % 100,
    })


def _numbers_to_micros(numbers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return UTC microseconds and whether each number is of a known kind."""
    x = numbers
    micros = np.full(len(x), _NAT, dtype=np.int64)
    with np.errstate(invalid="ignore"):
        whole = np.isfinite(x) & (x == np.floor(x))
        century = (x // 1e8 >= 1900) & (x // 1e8 < 2100)
        compact = whole & (
            ((x >= 1e7) & (x < 1e8)) | ((x >= 1e11) & (x < 1e12) & century) | ((x >= 1e13) & (x < 1e14))
        )
        excel = (x >= _EXCEL_DAYS[0]) & (x < _EXCEL_DAYS[1])
        seconds = (x >= _EPOCH_SECONDS[0]) & (x < _EPOCH_SECONDS[1])
        millis = (x >= _EPOCH_MILLIS[0]) & (x < _EPOCH_MILLIS[1]) & ~compact
    if excel.any():
        # Excel shows times to the millisecond; round there, not to the float's noise.
        local_ms = np.round((x[excel] - _EXCEL_UNIX_DAY) * 86_400_000).astype(np.int64)
        micros[excel] = _local_to_micros(pd.Series((local_ms * 1000).view("M8[us]")))
    if seconds.any():
        micros[seconds] = np.round(x[seconds] * 1e6).astype(np.int64)
    if millis.any():
        micros[millis] = np.round(x[millis] * 1e3).astype(np.int64)
    if compact.any():
        micros[compact] = _compact_to_micros(x[compact])
    return micros, compact | excel | seconds | millis


def _texts_to_micros(texts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Parse an object array of ``str``; return UTC microseconds and row outcomes."""
    micros = np.full(len(texts), _NAT, dtype=np.int64)
    outcome = np.full(len(texts), _NOT_DATE, dtype=np.int8)
    shapes = pd.Series(texts, dtype=object).str.translate(_NINES)
    shape_of_row, shapes = pd.factorize(shapes)
    untrimmed = np.fromiter((s != s.strip() for s in shapes), dtype=bool, count=len(shapes))
    if untrimmed.any():
        rows = untrimmed[shape_of_row]
        texts = texts.copy()
        texts[rows] = pd.Series(texts[rows], dtype=object).str.strip().to_numpy(dtype=object)
    layout_of_shape, layouts = pd.factorize(np.array([_layout(s) for s in shapes], dtype=object))
    layout_of_row = layout_of_shape[shape_of_row]
    for k, layout in enumerate(layouts):
        rows = np.flatnonzero(layout_of_row == k)
        if layout == _EMPTY_TEXT:
            outcome[rows] = _EMPTY
            continue
        if layout == _NUMBER:
            numbers = pd.to_numeric(pd.Series(texts[rows], dtype=object), errors="coerce")
            micros[rows], known = _numbers_to_micros(numbers.to_numpy(dtype=np.float64))
            outcome[rows[~known]] = _BAD_NUMBER
        else:
            aware = "%z" in layout
            parsed = pd.to_datetime(pd.Series(texts[rows], dtype=object), format=layout, errors="coerce", utc=aware)
            micros[rows] = _aware_to_micros(parsed) if aware else _local_to_micros(parsed)
        outcome[rows[(micros[rows] != _NAT) & (outcome[rows] == _NOT_DATE)]] = _OK
    return micros, outcome


def _to_micros(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Dispatch on dtype; return UTC microseconds and row outcomes."""
    dtype = values.dtype
    if is_datetime64_any_dtype(dtype):
        micros = _aware_to_micros(values) if getattr(dtype, "tz", None) else _local_to_micros(values)
        return micros, np.where(micros == _NAT, _EMPTY, _OK).astype(np.int8)
    if is_numeric_dtype(dtype) and not is_bool_dtype(dtype):
        numbers = values.to_numpy(dtype=np.float64, na_value=np.nan)
        micros, known = _numbers_to_micros(numbers)
        outcome = np.where(known, _NOT_DATE, _BAD_NUMBER).astype(np.int8)
        outcome[micros != _NAT] = _OK
        outcome[np.isnan(numbers)] = _EMPTY
        return micros, outcome
    raw = values.to_numpy(dtype=object)
    missing = pd.isna(raw)
    micros = np.full(len(raw), _NAT, dtype=np.int64)
    outcome = np.full(len(raw), _EMPTY, dtype=np.int8)
    present = np.flatnonzero(~missing)
    # str() of a datetime, Timestamp or number is a layout the text path knows.
    texts = pd.Series(raw[present], dtype=object).astype(str).to_numpy(dtype=object)
    micros[present], outcome[present] = _texts_to_micros(texts)
    return micros, outcome


def _instant_micros(value: object) -> int:
    stamp = pd.Timestamp(value)
    stamp = stamp.tz_localize(LOCAL_TZ) if stamp.tzinfo is None else stamp
    return stamp.value // 1000


def _local_labels(micros: np.ndarray) -> pd.Series:
    """Beijing wall time, as short as the value allows: ``1999-12-31``, ``… 08:00``."""
    local = pd.Series(micros.view("M8[us]")).dt.tz_localize("UTC").dt.tz_convert(LOCAL_TZ)
    seconds = local.dt.second.to_numpy() + local.dt.microsecond.to_numpy()
    midnight = (local.dt.hour.to_numpy() == 0) & (local.dt.minute.to_numpy() == 0) & (seconds == 0)
    label = np.where(seconds == 0, local.dt.strftime("%Y-%m-%d %H:%M"), local.dt.strftime("%Y-%m-%d %H:%M:%S"))
    return pd.Series(np.where(midnight, local.dt.strftime("%Y-%m-%d"), label), dtype=object)


def _shown(values: pd.Series, rows: np.ndarray) -> pd.Series:
    """The rejected value as the operator typed it, cut to a readable length."""
    text = pd.Series(values.to_numpy(dtype=object)[rows], dtype=object).astype(str).str.strip()
    long = text.str.len() > _SHOWN_CHARS
    return text.where(~long, text.str.slice(0, _SHOWN_CHARS) + "…").astype(object)


def _reasons(values, micros, outcome, field: str, earliest_label: str) -> np.ndarray:
    reason = np.full(len(outcome), None, dtype=object)
    reason[outcome == _EMPTY] = f"{field} is empty"
    for kind, tail in (
        (_NOT_DATE, f"' is not a date/time; expected e.g. {_EXAMPLE}"),
        (_BAD_NUMBER, "' is not a date/time; as a number it should be an Excel date "
                      f"({_EXCEL_DAYS[0]}–{_EXCEL_DAYS[1]}), epoch seconds or epoch milliseconds"),
    ):
        rows = np.flatnonzero(outcome == kind)
        if len(rows):
            reason[rows] = (f"{field} '" + _shown(values, rows) + tail).to_numpy(dtype=object)
    for kind, tail in ((_FUTURE, " is in the future"), (_EARLY, f" is before {earliest_label}")):
        rows = np.flatnonzero(outcome == kind)
        if len(rows):
            reason[rows] = (f"{field} " + _local_labels(micros[rows]) + tail).to_numpy(dtype=object)
    return reason


def parse_timestamps(
    values: pd.Series,
    *,
    now: pd.Timestamp | str | None = None,
    earliest: pd.Timestamp | str | None = "2000-01-01",
    field: str = "reported_at",
    allow_future: bool = False,
) -> tuple[pd.Series, pd.Series]:
    """Parse a column of timestamps in any layout Chinese systems emit.

    Parameters
    ----------
    values
        Strings, numbers, datetimes or a mix; a list is taken as a series.
    now
        The present, for rejecting values in the future (beyond
        :data:`CLOCK_SKEW`); the current time by default. Naive is Beijing time.
    earliest
        Values before this are rejected; ``None`` for no lower bound. Naive is
        Beijing time.
    field
        The column name used in reasons.
    allow_future
        Accept values after ``now`` (e.g. the end of a requested period).

    Returns
    -------
    parsed, reason
        ``parsed`` is ``datetime64[us, UTC]`` (PostgreSQL's precision) with
        NaT for rejected rows; ``reason`` is ``None`` for good rows, else one
        English sentence. Both keep ``values.index``.

    Examples
    --------
    >>> parsed, reason = parse_timestamps(
    ...     pd.Series(["2024-05-01T00:00:00Z", "1999-12-31"]), now="2024-06-01")
    >>> parsed.tolist()[0], reason.tolist()
    (Timestamp('2024-05-01 00:00:00+0000', tz='UTC'), [None, 'reported_at 1999-12-31 is before 2000-01-01'])
    """
    if not isinstance(values, pd.Series):
        values = pd.Series(values, dtype=object)
    micros, outcome = _to_micros(values)
    ok = outcome == _OK
    if earliest is not None:
        outcome[ok & (micros < _instant_micros(earliest))] = _EARLY
    if not allow_future:
        latest = _instant_micros(pd.Timestamp.now(tz="UTC") if now is None else now)
        latest += int(CLOCK_SKEW / pd.Timedelta(microseconds=1))
        outcome[ok & (micros > latest)] = _FUTURE
    if isinstance(earliest, str) or earliest is None:
        label = (earliest or "").strip()
    else:
        label = _local_labels(np.array([_instant_micros(earliest)]))[0]
    reason = _reasons(values, micros, outcome, field, label)
    micros = np.where(outcome == _OK, micros, _NAT)
    parsed = pd.Series(
        pd.DatetimeIndex(micros.view("M8[us]")).tz_localize("UTC"), index=values.index, name=values.name
    )
    return parsed, pd.Series(reason, index=values.index, name="reason", dtype=object)


def parse_timestamp(
    value: object,
    *,
    now: pd.Timestamp | str | None = None,
    earliest: pd.Timestamp | str | None = "2000-01-01",
    field: str = "reported_at",
    allow_future: bool = False,
) -> pd.Timestamp:
    """Parse one value like :func:`parse_timestamps`; raise :class:`InputError` if rejected.

    >>> parse_timestamp("2024年5月1日 8时30分")
    Timestamp('2024-05-01 00:30:00+0000', tz='UTC')
    """
    parsed, reason = parse_timestamps(
        pd.Series([value], dtype=object), now=now, earliest=earliest, field=field, allow_future=allow_future
    )
    if reason.iloc[0] is not None:
        raise InputError(reason.iloc[0])
    return parsed.iloc[0]
