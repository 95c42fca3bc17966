"""Files an operator should never have been handed: read in bounded time and memory, refused or rejected in one line.

The huge-line cases write their files here and run the real ``shiyu load`` in
a parent of its own, so the peak memory measured (``RUSAGE_CHILDREN``) is the
loader's alone.
"""

import json
import subprocess
import sys

import pandas as pd
import pytest

from etl.rowscan import MAX_COLUMNS, MAX_FIELD_CHARS, MAX_ROW_BYTES
from geodata.text import MESSAGE_CHARS
from tests.etl.test_kill import city  # noqa: F401 (a fixture: one grid over the test's points)
from tests.helpers import ROOT, shiyu

HEADER = "id,category,reported_at,lon,lat,description\n"
MEMORY_BOUND_MB = 500


def row(i: int, description: str = "ok") -> str:
    return f"A{i:03d},治安,2024-05-01 08:{i % 60:02d}:00,120.15,30.22,{description}\n"


def load_measured(path, *args):
    """``shiyu load incidents PATH`` run by a fresh parent: its exit code, stderr and the loader's peak RSS in MB."""
    script = ("import resource, subprocess, sys, json\n"
              "done = subprocess.run([sys.executable, '-m', 'shiyu', *sys.argv[1:]], capture_output=True, text=True)\n"
              "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024\n"
              "print(json.dumps([done.returncode, done.stderr, peak]))\n")
    out = subprocess.run([sys.executable, "-c", script, "load", "incidents", str(path), *args], capture_output=True,
                         text=True, cwd=ROOT, timeout=600)
    return json.loads(out.stdout)


def test_an_unquoted_comma_in_the_first_row_is_a_reject_naming_its_line(city, conn, tmp_path):  # noqa: F811
    path = tmp_path / "feed.csv"
    path.write_text(HEADER + row(1, "吵架, 有人受伤") + "".join(row(i) for i in range(2, 21)), encoding="utf-8")

    done = shiyu("load", "incidents", str(path), "--json")

    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert (summary["read"], summary["loaded"], summary["rejected"]) == (20, 19, 1)
    rejects = pd.read_csv(summary["reject_file"], dtype=str, encoding="utf-8-sig")
    assert rejects["line"].tolist() == ["2"]
    assert rejects["reason"][0].startswith("more values than the header's 6 columns (the next: '有人受伤')")
    assert conn.execute("SELECT count(*) FROM shiyu.incident WHERE external_id = 'A001'").fetchone()[0] == 0


def test_a_row_with_many_extra_values_refuses_the_file_naming_its_line(city, tmp_path):  # noqa: F811
    path = tmp_path / "feed.csv"
    path.write_text(HEADER + row(1) + row(2, "a,b,c") + row(3), encoding="utf-8")

    done = shiyu("load", "incidents", str(path))

    assert done.returncode == 1
    assert done.stderr.strip().endswith("line 3 has 8 values, the header 6: separators inside values? put those values in quotes")


@pytest.mark.parametrize("newline", ["\n", ""])
def test_a_50_mb_line_is_refused_in_bounded_memory_naming_its_line(city, conn, tmp_path, newline):  # noqa: F811
    path = tmp_path / "huge.csv"
    with path.open("w", encoding="utf-8") as fh:
        fh.write(HEADER + row(1))
        fh.write(row(2, "x" * (50 << 20)).rstrip("\n") + newline)
        fh.write(row(3) if newline else "")

    code, stderr, peak_mb = load_measured(path)

    assert code == 1
    assert stderr.count("\n") == 1 and len(stderr) < MESSAGE_CHARS + len(str(path)) + 20
    assert f"line 3 starts a row of more than {MAX_ROW_BYTES:,} bytes" in stderr
    assert peak_mb < MEMORY_BOUND_MB
    assert not (tmp_path / "huge.rejects.csv").exists()
    assert conn.execute("SELECT count(*) FROM shiyu.load_batch WHERE kind = 'incidents'").fetchone()[0] == 0


def test_a_value_over_the_field_limit_is_a_reject_cut_to_one_line(city, conn, tmp_path):  # noqa: F811
    path = tmp_path / "feed.csv"
    path.write_text(HEADER + "".join(row(i) for i in range(1, 20)) + row(20, "长" * (MAX_FIELD_CHARS + 1)), encoding="utf-8")

    done = shiyu("load", "incidents", str(path), "--json")

    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert (summary["loaded"], summary["rejected"]) == (19, 1)
    rejects = pd.read_csv(summary["reject_file"], dtype=str, encoding="utf-8-sig")
    assert rejects["line"].tolist() == ["21"]
    assert rejects["reason"][0] == f"description is {MAX_FIELD_CHARS + 1:,} characters long; a value may hold {MAX_FIELD_CHARS:,} at most"
    assert len(rejects["description"][0]) <= MESSAGE_CHARS
    reason, = conn.execute("SELECT reason FROM shiyu.rejected_row").fetchone()
    assert reason == rejects["reason"][0]


def test_a_header_of_too_many_columns_is_refused(city, tmp_path):  # noqa: F811
    path = tmp_path / "wide.csv"
    path.write_text(HEADER.rstrip("\n") + "".join(f",x{i}" for i in range(MAX_COLUMNS)) + "\n" + row(1), encoding="utf-8")

    done = shiyu("load", "incidents", str(path))

    assert done.returncode == 1
    assert done.stderr.strip().endswith(f"the header (line 1) names {MAX_COLUMNS + 6:,} columns; a file may have "
                                        f"{MAX_COLUMNS:,} at most")
