import os
import pty
import subprocess
import sys

from tests.conftest import SAMPLES
from tests.helpers import ROOT


def _run_on_a_terminal(*args: str) -> tuple[int, str, str]:
    """Run the shiyu command with stderr on a pseudo-terminal, as an operator's shell would have it."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "shiyu", *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=follower,
                            env={**os.environ, "COLUMNS": "100"})
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 4096)
        except OSError:  # the terminal closes when the process exits
            break
        if not data:
            break
        chunks.append(data)
    out = proc.stdout.read().decode()
    proc.wait(timeout=120)
    os.close(leader)
    return proc.returncode, out, b"".join(chunks).decode(errors="replace")


def test_a_long_load_shows_a_progress_bar_on_a_terminal(sample_db):
    code, out, terminal = _run_on_a_terminal("load", "incidents", str(SAMPLES / "sample_incidents.csv"),
                                             "--source", "progress", "--reject-file", os.devnull)
    assert code == 0, terminal
    assert "loading" in terminal and "5001/5001" in terminal  # rows read of the estimate
    assert "loaded: read 5001, loaded 4996" in out


def test_json_output_is_silent_on_the_terminal(sample_db):
    code, out, terminal = _run_on_a_terminal("load", "incidents", str(SAMPLES / "sample_incidents.csv"), "--json",
                                             "--source", "progress-json", "--reject-file", os.devnull)
    assert code == 0
    assert terminal == ""
    assert out.startswith("{") and out.count("\n") == 1
