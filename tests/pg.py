"""A throwaway PostgreSQL 15 (+ pgSphere) cluster for integration tests.

Use it from any test module with ``from tests.pg import postgres  # noqa: F401`` and a test
argument ``postgres``; `PgCluster.connect` gives a psycopg2 connection, `PgCluster.new_database`
a fresh database. The cluster lives in a temporary directory on 127.0.0.1 and a free port, and is
stopped and deleted after the session. Missing PostgreSQL binaries make the test fail loudly:
these tests exist to prove the load kit works in a real database, so they never skip.

PostgreSQL refuses to run as root; when the tests run as root, the server runs as the
``postgres`` system user (``runuser``) in a directory that user owns.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PG_BIN = Path(os.environ.get("VOHARVEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
PGSPHERE_CONTROL = Path("/usr/share/postgresql/15/extension/pg_sphere.control")
SUPERUSER = "postgres"


@dataclass(frozen=True)
class PgCluster:
    """Connection facts of a running test cluster."""

    host: str
    port: int
    user: str
    datadir: Path

    def dsn(self, dbname: str = "postgres") -> str:
        """libpq connection string."""
        return f"host={self.host} port={self.port} user={self.user} dbname={dbname}"

    def connect(self, dbname: str = "postgres"):  # noqa: ANN201 - psycopg2 connection
        """A psycopg2 connection (autocommit off)."""
        import psycopg2

        return psycopg2.connect(self.dsn(dbname))

    def new_database(self) -> str:
        """Create an empty database with a unique name and return the name."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        conn = self.connect()
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE {name}")
        conn.close()
        return name


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_server_user(cmd: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", SUPERUSER, "--", *cmd]
    return cmd


def _run(cmd: list[str]) -> None:
    proc = subprocess.run(_as_server_user(cmd), capture_output=True, text=True, timeout=120, check=False)
    if proc.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")


def start_cluster() -> PgCluster:
    """initdb + pg_ctl start in a fresh temporary directory; fails the test if PostgreSQL is missing."""
    for tool in ("initdb", "pg_ctl"):
        if not (PG_BIN / tool).exists():
            pytest.fail(
                f"PostgreSQL not installed: {PG_BIN / tool} missing "
                "(apt-get install -y postgresql-15 postgresql-15-pgsphere, or set VOHARVEST_PG_BIN)"
            )
    if not PGSPHERE_CONTROL.exists():
        pytest.fail(f"pgSphere not installed: {PGSPHERE_CONTROL} missing (apt-get install -y postgresql-15-pgsphere)")
    root = Path(tempfile.mkdtemp(prefix="voharvest-pg-"))
    datadir = root / "data"
    datadir.mkdir()
    if os.geteuid() == 0:
        pw = pwd.getpwnam(SUPERUSER)
        for p in (root, datadir):
            os.chown(p, pw.pw_uid, pw.pw_gid)
    _run([str(PG_BIN / "initdb"), "-D", str(datadir), "-U", SUPERUSER, "-A", "trust", "-E", "UTF8", "--no-sync"])
    port = _free_port()
    opts = f"-h 127.0.0.1 -p {port} -k {root} -c fsync=off -c full_page_writes=off"
    log = root / "server.log"
    _run([str(PG_BIN / "pg_ctl"), "-D", str(datadir), "-o", opts, "-l", str(log), "-w", "-t", "60", "start"])
    return PgCluster(host="127.0.0.1", port=port, user=SUPERUSER, datadir=datadir)


def stop_cluster(cluster: PgCluster) -> None:
    """pg_ctl stop (fast) and remove the directory."""
    subprocess.run(
        _as_server_user([str(PG_BIN / "pg_ctl"), "-D", str(cluster.datadir), "-m", "fast", "-w", "stop"]),
        capture_output=True,
        timeout=120,
        check=False,
    )
    shutil.rmtree(cluster.datadir.parent, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PgCluster]:
    """A running PostgreSQL 15 cluster with pgSphere available, for the whole test session."""
    cluster = start_cluster()
    try:
        yield cluster
    finally:
        stop_cluster(cluster)
