"""The embedded PostGIS cluster: a private PostgreSQL under ``SHIYU_DATA_DIR``.

It is built from the machine's PostgreSQL + PostGIS binaries. PostgreSQL
refuses to run as root, so as root every server command runs as the
``postgres`` user through ``runuser`` and the cluster's files belong to it.

Layout below the root folder::

    data/           PGDATA
    run/            the unix socket (trust, readable only by its owner)
    postgres.log    the server log
    cluster.json    the port and the password of the ``shiyu`` role

When the root folder lies where the ``postgres`` user cannot go (a clone in
``/root``, or in a ``mktemp -d`` folder, both mode 0700), the server's own
files (data, run, log) live under ``/var/lib/shiyu/<hash of the root>``
instead; ``cluster.json`` stays in the root.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import pwd
import stat
import secrets
import shutil
import socket
import subprocess
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from urllib.parse import quote

from geodata.errors import ClusterError

DATABASE = "shiyu"
OWNER = "shiyu"
SUPERUSER = "postgres"
# Sized for bulk loads on a machine of a few GB; the caller's settings win.
SERVER_DEFAULTS = {"shared_buffers": "512MB", "max_wal_size": "4GB", "maintenance_work_mem": "512MB",
                   "work_mem": "32MB", "checkpoint_timeout": "15min"}
SERVER_HOMES = Path("/var/lib/shiyu")
INSTALL_HINT = "install it with: apt-get update && apt-get install -y postgresql-15-postgis-3 (./run does this for you)"


@dataclass(frozen=True)
class ClusterStatus:
    root: Path
    exists: bool
    running: bool
    port: int | None
    url: str | None


def find_pg_bin(configured: str = "") -> Path:
    """The directory of the newest installed PostgreSQL server binaries."""
    candidates = [configured] if configured else sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0
    )[::-1]
    for candidate in candidates:
        if (Path(candidate) / "postgres").is_file() and (Path(candidate) / "initdb").is_file():
            return Path(candidate)
    raise ClusterError(f"PostgreSQL server binaries not found; {INSTALL_HINT}")


def _postgis_installed(pg_bin: Path) -> bool:
    try:
        share = subprocess.run([str(pg_bin / "pg_config"), "--sharedir"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        share = f"/usr/share/postgresql/{pg_bin.parent.name}"
    return Path(share, "extension", "postgis.control").is_file()


def reachable_by(user: str, path: Path) -> bool:
    """Whether ``user`` may pass through every existing folder on the way to ``path``."""
    entry = pwd.getpwnam(user)
    groups = set(os.getgrouplist(user, entry.pw_gid))
    for folder in [*reversed(Path(path).absolute().parents), Path(path).absolute()]:
        if not folder.exists():
            break  # what is still missing is made by us, with the default mode
        info = folder.stat()
        if info.st_uid == entry.pw_uid:
            allowed = info.st_mode & stat.S_IXUSR
        elif info.st_gid in groups:
            allowed = info.st_mode & stat.S_IXGRP
        else:
            allowed = info.st_mode & stat.S_IXOTH
        if not allowed:
            return False
    return True


def free_port() -> int:
    """A localhost TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


class Cluster:
    """One embedded cluster rooted at ``root``.

    Examples
    --------
    >>> cluster = Cluster(Path("var/pg"))          # doctest: +SKIP
    >>> url = cluster.up()                          # doctest: +SKIP
    """

    def __init__(self, root: Path, pg_bin: str = "", server_settings: dict[str, str] | None = None):
        self.root = Path(root).absolute()
        self.state_file = self.root / "cluster.json"
        self._pg_bin_setting = pg_bin
        self.server_settings = {**SERVER_DEFAULTS, **(server_settings or {})}

    # -- where things are ------------------------------------------------------
    @cached_property
    def home(self) -> Path:
        """Where the server's own files live: the root, unless the server's user cannot reach it."""
        owner = self._owner()
        if owner is None or reachable_by(owner, self.root):
            return self.root
        return SERVER_HOMES / hashlib.sha256(str(self.root).encode()).hexdigest()[:16]

    @property
    def data(self) -> Path:
        return self.home / "data"

    @property
    def run_dir(self) -> Path:
        return self.home / "run"

    @property
    def log(self) -> Path:
        return self.home / "postgres.log"

    # -- state ---------------------------------------------------------------
    @property
    def pg_bin(self) -> Path:
        return find_pg_bin(self._pg_bin_setting)

    def _state(self) -> dict:
        try:
            return json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return {}

    def exists(self) -> bool:
        return (self.data / "PG_VERSION").is_file()

    def running(self) -> bool:
        if not self.exists():
            return False
        return self._as_owner([str(self.pg_bin / "pg_ctl"), "-D", str(self.data), "status"], check=False).returncode == 0

    def url(self, tcp: bool = False) -> str:
        state = self._state()
        if not state:
            raise ClusterError(f"no embedded database under {self.root}: run `shiyu db up`")
        if tcp:
            return f"postgresql://{OWNER}:{quote(state['password'])}@127.0.0.1:{state['port']}/{DATABASE}"
        return f"postgresql://{OWNER}@/{DATABASE}?host={quote(str(self.run_dir))}&port={state['port']}"

    def superuser_url(self) -> str:
        return f"postgresql://{SUPERUSER}@/postgres?host={quote(str(self.run_dir))}&port={self._state()['port']}"

    def status(self) -> ClusterStatus:
        running = self.running()
        state = self._state()
        return ClusterStatus(self.root, self.exists(), running, state.get("port"), self.url() if state else None)

    # -- running commands as the cluster's owner --------------------------------
    def _owner(self) -> str | None:
        """The system user the server runs as: ``postgres`` when we are root."""
        if os.geteuid() != 0:
            return None
        try:
            pwd.getpwnam(SUPERUSER)
        except KeyError as exc:
            raise ClusterError(f"running as root needs the system user '{SUPERUSER}'; {INSTALL_HINT}") from exc
        return SUPERUSER

    def _as_owner(self, cmd: list[str], check: bool = True) -> subprocess.CompletedProcess:
        owner = self._owner()
        full = ["runuser", "-u", owner, "--", *cmd] if owner else cmd
        result = subprocess.run(full, capture_output=True, text=True, cwd="/")
        if check and result.returncode != 0:
            detail = (result.stderr or result.stdout).strip().splitlines()
            raise ClusterError(f"{Path(cmd[0]).name} failed: {detail[-1] if detail else 'exit ' + str(result.returncode)} (log: {self.log})")
        return result

    def _prepare_root(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if self.home != self.root:
            SERVER_HOMES.mkdir(parents=True, exist_ok=True)
            SERVER_HOMES.chmod(0o755)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        owner = self._owner()
        if owner:
            for path in (self.home, self.run_dir):
                shutil.chown(path, owner, owner)
            self.run_dir.chmod(0o700)
            probe = subprocess.run(["runuser", "-u", owner, "--", "test", "-w", str(self.home)], capture_output=True)
            if probe.returncode != 0:
                raise ClusterError(
                    f"the '{owner}' user cannot write to {self.home}: give it write access, or set SHIYU_DATA_DIR elsewhere"
                )

    # -- lifecycle -----------------------------------------------------------------
    def init(self) -> None:
        pg_bin = self.pg_bin
        if not _postgis_installed(pg_bin):
            raise ClusterError(f"PostGIS is not installed for PostgreSQL {pg_bin.parent.name}; {INSTALL_HINT}")
        self._prepare_root()
        self._as_owner([
            str(pg_bin / "initdb"), "-D", str(self.data), "-U", SUPERUSER, "-E", "UTF8", "--no-locale",
            "--auth-local=trust", "--auth-host=scram-sha-256", "--no-instructions",
        ])
        state = {"port": free_port(), "password": secrets.token_urlsafe(18)}
        self.state_file.write_text(json.dumps(state))
        self.state_file.chmod(0o600)

    def up(self) -> tuple[str, bool]:
        """Create (first time) and start the cluster; returns ``(url, started)``.

        A cluster that is already running is reported, not started again.
        """
        if self.running():
            return self.url(), False
        created = not self.exists()
        if created:
            self.init()
        else:
            self._prepare_root()
        state = self._state()
        if not state.get("port") or not _port_free(state["port"]):
            state["port"] = free_port()
            self.state_file.write_text(json.dumps(state))
        options = [f"-p {state['port']}", f"-k {self.run_dir}", "-c listen_addresses=127.0.0.1"]
        options += [f"-c {key}={value}" for key, value in self.server_settings.items()]
        self._as_owner([
            str(self.pg_bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60",
            "-o", " ".join(options), "start",
        ])
        self._bootstrap(state["password"])
        return self.url(), True

    def _bootstrap(self, password: str) -> None:
        """Create the owner role, the database and the extensions (idempotent)."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.superuser_url(), autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (OWNER,)).fetchone():
                conn.execute(sql.SQL("CREATE ROLE {} LOGIN CREATEROLE PASSWORD {}").format(sql.Identifier(OWNER), sql.Literal(password)))
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone():
                conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(DATABASE), sql.Identifier(OWNER)))
        db_url = self.superuser_url().replace("/postgres?", f"/{DATABASE}?")
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
            conn.execute("CREATE EXTENSION IF NOT EXISTS ltree")
            # Under row-level security only leakproof operators may use an index before the policy is checked:
            # without this, the app role's `geom && box` read every incident of the table. The box test raises
            # no error that depends on a row's value (every geometry column here is SRID 4326), so it leaks
            # nothing. Only a superuser may say so; docs/security.md asks the same of an external database.
            conn.execute("ALTER FUNCTION geometry_overlaps(geometry, geometry) LEAKPROOF")

    def down(self) -> bool:
        """Stop the cluster; returns whether it was running."""
        if not self.running():
            return False
        self._as_owner([str(self.pg_bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"])
        return True

    def destroy(self) -> None:
        """Stop the cluster and delete its files (tests)."""
        self.down()
        shutil.rmtree(self.home, ignore_errors=True)
        shutil.rmtree(self.root, ignore_errors=True)
