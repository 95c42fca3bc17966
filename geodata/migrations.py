"""Plain numbered SQL migrations, applied in order, each in its own transaction.

Applied versions are recorded in ``shiyu.schema_migration``; an advisory lock
keeps two ``migrate`` runs from racing.
"""

from __future__ import annotations

from pathlib import Path

import psycopg

from geodata.errors import ShiyuError

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_LOCK_KEY = 0x5348_4959  # "SHIY"

BOOKKEEPING = """
CREATE SCHEMA IF NOT EXISTS shiyu;
CREATE TABLE IF NOT EXISTS shiyu.schema_migration (
    version text PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


def available() -> list[Path]:
    """The migration files, in the order they apply."""
    return sorted(MIGRATIONS_DIR.glob("[0-9][0-9][0-9][0-9]_*.sql"))


def migrate(conn: psycopg.Connection) -> list[str]:
    """Apply every migration not yet applied; returns the versions applied now."""
    applied_now: list[str] = []
    conn.autocommit = True
    conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
    try:
        conn.execute(BOOKKEEPING)
        done = {row[0] for row in conn.execute("SELECT version FROM shiyu.schema_migration")}
        for path in available():
            version = path.stem
            if version in done:
                continue
            try:
                with conn.transaction():
                    conn.execute(path.read_text(encoding="utf-8"))
                    conn.execute("INSERT INTO shiyu.schema_migration (version) VALUES (%s)", (version,))
            except psycopg.Error as exc:
                raise ShiyuError(f"migration {path.name} failed: {str(exc).strip().splitlines()[0]}") from exc
            applied_now.append(version)
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    return applied_now
