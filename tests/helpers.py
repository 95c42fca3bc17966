"""Helpers shared by the tests: running the real ``shiyu`` command."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def shiyu(*args: str, env: dict[str, str | None] | None = None, timeout: float = 180) -> subprocess.CompletedProcess:
    """Run ``python -m shiyu ARGS`` as a user would, in the repository root; ``env`` overrides, None removes."""
    full_env = {**os.environ, **(env or {})}
    for key, value in list(full_env.items()):
        if value is None:
            del full_env[key]
    return subprocess.run([sys.executable, "-m", "shiyu", *args], capture_output=True, text=True, env=full_env,
                          cwd=ROOT, timeout=timeout)


INCIDENT_HEADER = ("id", "category", "reported_at", "lon", "lat")


def write_csv(path: Path, rows, header=INCIDENT_HEADER, encoding: str = "utf-8") -> Path:
    """A CSV file with ``header`` and ``rows``, as a feed would send it."""
    with path.open("w", encoding=encoding, newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path
