import numpy as np
import pandas as pd

from geodata.bulk import copy_frame, encode_frame


def test_values_round_trip_through_copy_exactly(conn):
    frame = pd.DataFrame({
        "t": ["plain", "tab\there", "new\nline", "back\\slash", None, "中文，全角"],
        "f": [1.1, 1 / 3, np.nan, -120.123456789, 1e-300, 30.0],
        "i": pd.array([1, None, 3, 2**40, -5, 0], dtype="Int64"),
        "ts": pd.to_datetime(["2026-05-01 08:00:00.123456+08:00", None, "2000-01-01T00:00:00Z",
                              "2026-11-22 23:59:59+00:00", "2026-01-01", "2026-06-30 12:00"], utc=True, format="mixed"),
        "b": [True, False, None, True, False, True],
    })
    conn.execute("CREATE TEMP TABLE bulk_t (t text, f float8, i bigint, ts timestamptz, b boolean)")
    assert copy_frame(conn, "bulk_t", frame) == 6
    rows = conn.execute("SELECT t, f, i, ts, b FROM bulk_t").fetchall()
    assert [r[0] for r in rows] == ["plain", "tab\there", "new\nline", "back\\slash", None, "中文，全角"]
    assert [r[1] for r in rows][:2] == [1.1, 1 / 3] and rows[2][1] is None and rows[4][1] == 1e-300
    assert [r[2] for r in rows] == [1, None, 3, 2**40, -5, 0]
    assert rows[0][3] == pd.Timestamp("2026-05-01 00:00:00.123456", tz="UTC").to_pydatetime()
    assert rows[1][3] is None
    assert [r[4] for r in rows] == [True, False, None, True, False, True]


def test_empty_frame_encodes_to_nothing():
    assert encode_frame(pd.DataFrame({"a": []}), ["a"]) == b""
