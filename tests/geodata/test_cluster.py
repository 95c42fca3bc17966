import os
import shutil
import stat
import tempfile
from pathlib import Path

import psycopg
import pytest

from geodata.cluster import Cluster, find_pg_bin, reachable_by
from tests.helpers import shiyu


def _env_without_database_url(**extra):
    return {"DATABASE_URL": None, **extra}


def test_up_again_reports_the_running_cluster(cluster):
    url, started = cluster.up()
    assert started is False
    assert url == cluster.url()
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT current_user, current_database()").fetchone() == ("shiyu", "shiyu")
        version = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'postgis'").fetchone()[0]
        assert version.startswith("3.")


def test_cli_db_lifecycle_in_its_own_data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("own")
    root.chmod(0o755)
    for parent in root.parents:
        if parent == Path("/tmp") or parent == Path("/"):
            break
        parent.chmod(parent.stat().st_mode | stat.S_IXOTH)
    env = _env_without_database_url(SHIYU_DATA_DIR=str(root / "pg"))
    try:
        first = shiyu("db", "up", env=env)
        assert first.returncode == 0, first.stderr
        assert first.stdout.startswith("started: postgresql://shiyu@/shiyu?host=")
        assert "0001_schema" in first.stdout

        second = shiyu("db", "up", env=env)
        assert second.returncode == 0, second.stderr
        assert second.stdout.startswith("already running: ")
        assert "none (up to date)" in second.stdout
        url = second.stdout.split(": ", 1)[1].splitlines()[0]

        printed = shiyu("db", "url", env=env)
        assert printed.stdout.strip() == url
        status = shiyu("db", "status", env=env)
        assert status.returncode == 0 and "running" in status.stdout

        tcp = shiyu("db", "url", "--tcp", env=env).stdout.strip()
        with psycopg.connect(tcp) as conn:  # password auth over localhost TCP works too
            assert conn.execute("SELECT count(*) FROM shiyu.schema_migration").fetchone()[0] >= 1
    finally:
        down = shiyu("db", "down", env=env)
    assert down.returncode == 0 and down.stdout.strip() == "stopped"
    stopped = shiyu("db", "status", env=env)
    assert stopped.returncode == 1 and "stopped" in stopped.stdout
    assert shiyu("db", "down", env=env).stdout.strip() == "not running"


def test_db_up_without_postgis_says_how_to_install_it(tmp_path):
    fake = tmp_path / "bin"
    fake.mkdir()
    real = find_pg_bin()
    for name in ("postgres", "initdb", "pg_ctl"):
        (fake / name).symlink_to(real / name)
    (fake / "pg_config").write_text(f"#!/bin/sh\necho {tmp_path / 'share'}\n")
    (fake / "pg_config").chmod(0o755)
    result = shiyu("db", "up", env=_env_without_database_url(SHIYU_PG_BIN=str(fake), SHIYU_DATA_DIR=str(tmp_path / "pg")))
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1, result.stderr
    assert "PostGIS is not installed" in result.stderr
    assert "apt-get install -y postgresql-15-postgis-3" in result.stderr
    assert "Traceback" not in result.stderr


def test_unreachable_database_is_one_clear_line(tmp_path):
    csv = tmp_path / "x.csv"
    csv.write_text("id,category,reported_at,lon,lat\n1,治安,2026-05-01 08:00:00,120.1,30.2\n")
    result = shiyu("load", "incidents", str(csv), env={"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/nowhere"})
    assert result.returncode == 1
    assert result.stderr.startswith("shiyu: cannot reach the database at 127.0.0.1:1/nowhere")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


@pytest.mark.parametrize("action", ["status", "url"])
def test_no_database_at_all_is_explained(tmp_path, action):
    result = shiyu("db", action, env=_env_without_database_url(SHIYU_DATA_DIR=str(tmp_path / "nothing")))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert ("not created" in result.stdout) if action == "status" else ("shiyu db up" in result.stderr)


@pytest.mark.skipif(os.geteuid() != 0, reason="only root runs the server as another user")
def test_db_up_in_a_folder_postgres_cannot_enter_keeps_the_server_files_elsewhere(tmp_path_factory):
    private = Path(tempfile.mkdtemp())  # mode 0700, as mktemp -d makes it and as /root is
    assert private.stat().st_mode & 0o777 == 0o700
    root = private / "clone" / "var" / "pg"
    env = _env_without_database_url(SHIYU_DATA_DIR=str(root))
    cluster = Cluster(root)
    assert not reachable_by("postgres", root)
    assert cluster.home.parent == Path("/var/lib/shiyu")
    try:
        up = shiyu("db", "up", env=env)
        assert up.returncode == 0, up.stderr
        assert f"host={cluster.run_dir}" in up.stdout.replace("%2F", "/")
        assert (root / "cluster.json").is_file() and (cluster.home / "data" / "PG_VERSION").is_file()
        with psycopg.connect(shiyu("db", "url", env=env).stdout.strip()) as conn:
            assert conn.execute("SELECT count(*) FROM shiyu.schema_migration").fetchone()[0] >= 1
    finally:
        cluster.destroy()
        shutil.rmtree(private, ignore_errors=True)
    assert not cluster.home.exists()
