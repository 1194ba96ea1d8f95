"""Publication under faults: concurrent publishers, dead runs' staging, atomic --force, durability.

Real processes hold real ``flock`` locks and are killed with SIGKILL; nothing is mocked.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

from models import durable, snapshot
from tests.test_snapshot import _stage

DAY = dt.date(2025, 9, 4)
ROOT = Path(__file__).resolve().parents[2]


def _hashes(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in folder.rglob("*")
        if p.is_file()
    }


def _holder(code: str) -> subprocess.Popen:
    """A Python process running ``code`` (which prints READY once it holds what it should)."""
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "READY"
    return proc


def test_a_second_publisher_waits_then_fails_naming_the_holder(tmp_path: Path, plan: pd.DataFrame) -> None:
    holder = _holder(
        f"""
        import time
        from models.durable import root_lock
        with root_lock({str(tmp_path)!r}):
            print("READY", flush=True)
            time.sleep(60)
        """
    )
    try:
        stage = _stage(tmp_path, DAY, plan)
        with pytest.raises(durable.RootLocked, match=rf"pid {holder.pid}"):
            snapshot.publish_snapshot(stage, tmp_path, DAY, lock_wait=0.5)
        assert not (tmp_path / "snapshots").exists()
    finally:
        holder.kill()
        holder.wait()
    # The holder died: the lock is free again and the same stage publishes.
    assert snapshot.publish_snapshot(stage, tmp_path, DAY, lock_wait=5).status == "published"


def test_staging_of_a_killed_run_is_cleaned_but_a_live_runs_is_kept(tmp_path: Path, plan: pd.DataFrame) -> None:
    code = f"""
        import datetime as dt, time
        from models import snapshot
        stage = snapshot.new_staging({str(tmp_path)!r}, dt.date(2025, 9, 3))
        (stage / "half-written.parquet").write_bytes(b"PAR1")
        print("READY", flush=True)
        time.sleep(60)
        """
    dead, live = _holder(code), _holder(code)
    os.kill(dead.pid, signal.SIGKILL)
    dead.wait()
    try:
        stages = sorted((tmp_path / ".staging").glob("2025-09-03-*"))
        stages = [p for p in stages if p.is_dir()]
        assert len(stages) == 2
        snapshot.publish_snapshot(_stage(tmp_path, DAY, plan), tmp_path, DAY)
        left = [p for p in (tmp_path / ".staging").iterdir() if p.is_dir()]
        assert len(left) == 1, "exactly the live run's staging directory survives"
        assert (left[0] / "half-written.parquet").exists()
    finally:
        live.kill()
        live.wait()


def test_force_replaces_atomically_and_latest_never_dangles(tmp_path: Path, plan: pd.DataFrame) -> None:
    first = snapshot.publish_snapshot(_stage(tmp_path, DAY, plan), tmp_path, DAY)
    before = _hashes(first.path)
    changed = plan.copy()
    changed.loc[changed.index[0], "target_name"] = "renamed target"
    stage = _stage(tmp_path, DAY, changed)
    # Probe the exchange on two scratch directories of the same file system first.
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    (a / "x").write_text("a")
    assert durable.exchange(a, b) is True, "renameat2(RENAME_EXCHANGE) should work on this file system"
    assert (b / "x").read_text() == "a" and not (a / "x").exists()
    replaced = snapshot.publish_snapshot(stage, tmp_path, DAY, force=True)
    assert replaced.status == "replaced"
    after = _hashes(replaced.path)
    assert after != before and snapshot.validate_snapshot(replaced.path) == []
    assert (tmp_path / "latest").resolve() == replaced.path.resolve()
    assert [p for p in (tmp_path / ".staging").iterdir() if p.is_dir()] == [], "the replaced copy is removed"


def test_sigkill_while_publishing_leaves_previous_snapshot_and_latest_intact(
    tmp_path: Path,
    plan: pd.DataFrame,
) -> None:
    first = snapshot.publish_snapshot(_stage(tmp_path, DAY, plan), tmp_path, DAY)
    before = _hashes(first.path)
    later = DAY + dt.timedelta(days=1)
    outcomes = []
    for delay in (0.0, 0.3, 0.6, 0.9, 1.2, 1.6, 2.0, 3.0):
        stage = _stage(tmp_path, later, plan)
        proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import datetime as dt, sys; from models import snapshot; "
                f"snapshot.publish_snapshot({str(stage)!r}, {str(tmp_path)!r}, "
                f"dt.date.fromisoformat({later.isoformat()!r}))",
            ],
            cwd=ROOT,
        )
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        outcomes.append(proc.wait())
        assert _hashes(first.path) == before, f"killed after {delay} s: the previous snapshot changed"
        link = os.readlink(tmp_path / "latest")
        assert link in ("snapshots/2025-09-04", f"snapshots/{later.isoformat()}")
        assert (tmp_path / link / "manifest.json").is_file()
        for date in snapshot.published_dates(tmp_path):
            assert snapshot.validate_snapshot(snapshot.snapshot_path(tmp_path, date)) == []
        snapshot.discard(stage)
    assert -signal.SIGKILL in outcomes, "at least one run was killed mid-way"


@pytest.mark.parametrize(
    ("mutate", "finding"),
    [
        (lambda m: [m], "a JSON list, expected an object"),
        (lambda m: "manifest", "a JSON str, expected an object"),
        (lambda m: {**m, "files": ["obsplan.parquet"]}, "no 'files' mapping"),
        (
            lambda m: {**m, "files": {**m["files"], "obsplan.parquet": "abc"}},
            "files['obsplan.parquet'] is not an object",
        ),
        (lambda m: {**m, "tables": ["obsplan"]}, "'tables' is a JSON list"),
        (lambda m: {**m, "tables": {**m["tables"], "obsplan": 3}}, "tables['obsplan'] is not an object"),
        (lambda m: {**m, "format": None}, "format None"),
    ],
    ids=["list", "string", "files-list", "file-entry-string", "tables-list", "table-entry-int", "format"],
)
def test_malformed_manifests_are_findings_not_tracebacks(
    tmp_path: Path, plan: pd.DataFrame, mutate, finding: str
) -> None:  # noqa: ANN001
    import json

    published = snapshot.publish_snapshot(_stage(tmp_path, DAY, plan), tmp_path, DAY)
    path = published.path / "manifest.json"
    path.write_text(json.dumps(mutate(json.loads(path.read_text()))))
    problems = snapshot.validate_snapshot(published.path)
    assert any(finding in p for p in problems), problems
