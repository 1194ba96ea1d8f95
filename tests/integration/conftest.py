"""Fixtures of the integration suite: a snapshot harvested from the replay archive, served by a real
GAVO DaCHS (through ``pipelines.serve_check``) and loaded into a throwaway PostgreSQL + pgSphere.

Nothing is mocked: the snapshot comes from ``voharvest harvest --replay`` (or from
``VOHARVEST_IT_SNAPSHOT``, an already published snapshot directory), DaCHS and PostgreSQL are the
Debian packages that ``.ci/run`` installs, bound to 127.0.0.1 and stopped at the end. A missing
prerequisite fails the tests with the reason; nothing is skipped.

The taplint totals and warnings are printed in pytest's terminal summary, so the CI log shows them.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from pipelines import serve_check as sc
from tests.pg import postgres  # noqa: F401  (session fixture: throwaway PostgreSQL 15 + pgSphere)

ROOT = Path(__file__).resolve().parents[2]
_TAPLINT: list[sc.TaplintResult] = []


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run(cmd: list[str], what: str) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=900, check=False)
    if proc.returncode != 0:
        pytest.fail(f"{what} failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stdout}\n{proc.stderr[-6000:]}")
    return proc.stdout


@pytest.fixture(scope="session")
def snapshot_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A snapshot published from the bundled replay archive (``voharvest harvest --replay``)."""
    given = os.environ.get("VOHARVEST_IT_SNAPSHOT")
    if given:
        path = Path(given)
        if not (path / "manifest.json").is_file():
            pytest.fail(f"VOHARVEST_IT_SNAPSHOT={given} is not a published snapshot (no manifest.json)")
        return path
    work = tmp_path_factory.mktemp("harvest")
    replay = ROOT / "recordings" / "replay"
    if not replay.is_dir():  # rebuild it from recordings/<source>/ (deterministic)
        replay = work / "replay"
        _run([sys.executable, "-m", "pipelines.cli", "build-replay", "--archive", str(replay)], "build-replay")
    out = _run(
        [sys.executable, "-m", "pipelines.cli", "harvest", "--replay", str(replay), "--output", str(work / "output")],
        "voharvest harvest --replay",
    )
    path = Path(out.strip().splitlines()[-1])
    if not (path / "manifest.json").is_file():
        pytest.fail(f"harvest printed {path}, which is not a snapshot")
    return path


@pytest.fixture(scope="session")
def tables(snapshot_dir: Path) -> dict[str, pd.DataFrame]:
    """The snapshot's IVOA tables read from Parquet (the reference the servers are checked against)."""
    from models.tables import IVOA_TABLES

    return {name: pd.read_parquet(snapshot_dir / f"{name}.parquet") for name in IVOA_TABLES}


_SC_INSTALL = sc.install


def _install_with_static(snapshot: Path, resdir: str, gavo_root: Path = sc.GAVO_ROOT) -> tuple[Path, list[str]]:
    """``serve_check.install`` plus the snapshot's ``datalink/`` and ``provenance/`` (``models.dachs.install_static``).

    The RD's ``files`` service and its ObsCore rowmaker need them next to the VOTables before
    ``dachs imp``; this wrapper does it only when ``install`` did not already.
    """
    from models.dachs import STATIC_DIRS, install_static

    target, names = _SC_INSTALL(snapshot, resdir, gavo_root)
    if any((snapshot / d).is_dir() and not (target / d).is_dir() for d in STATIC_DIRS):
        install_static(snapshot, target)
    return target, names


@pytest.fixture(scope="session")
def dachs(snapshot_dir: Path) -> Iterator[sc.ServeCheckReport]:
    """The snapshot served by DaCHS on 127.0.0.1 after ``serve_check`` (taplint included); stopped after."""
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(sc, "install", _install_with_static)
            report = sc.serve_check(snapshot_dir, port=_free_port(), keep_running=True, resdir="voharvest_it")
    except sc.ServeCheckError as exc:
        pytest.fail(f"serve-check could not run: {exc}")
    if report.taplint is not None:
        _TAPLINT.append(report.taplint)
    try:
        yield report
    finally:
        sc.stop(report)


@pytest.fixture(scope="session")
def pg_dsn(postgres, snapshot_dir: Path) -> str:  # noqa: F811 - the fixture imported above
    """A fresh database in the throwaway cluster, created by ``tap/schema.sql`` and bulk-loaded."""
    from models.tap_kit import load_snapshot

    dbname = postgres.new_database()
    dsn = postgres.dsn(dbname)
    conn = postgres.connect(dbname)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute((snapshot_dir / "tap" / "schema.sql").read_text(encoding="utf-8"))
    conn.close()
    load_snapshot(snapshot_dir, dsn)
    return dsn


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # noqa: ANN001, ARG001 - pytest hook
    """Show taplint's totals and every warning/error line in the CI log."""
    for lint in _TAPLINT:
        terminalreporter.section("STILTS taplint against the DaCHS-served snapshot")
        for line in lint.summary("S-LOC-PCLS") + lint.summary("S-OBS-COLS"):
            terminalreporter.write_line(line)
        for line in lint.failure_lines + lint.error_lines + lint.warning_lines:
            terminalreporter.write_line(line)
        terminalreporter.write_line(lint.totals_line)
