"""Storage faults during publication: a full disk and a read-only output root (real tmpfs mounts).

Mounting needs root (CI runs as root); elsewhere these cases are skipped with the reason printed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from models import snapshot
from models.arrow import empty_frame
from models.history import change_counts, reconcile
from models.tables import IVOA_TABLES

DAY = dt.date(2025, 9, 4)


def _mount_tmpfs(path: Path, size: str) -> bool:
    if os.geteuid() != 0:
        return False
    path.mkdir(parents=True, exist_ok=True)
    return (
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=False).returncode == 0
    )


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    if not _mount_tmpfs(mount, "8m"):
        pytest.skip("cannot mount a tmpfs here (needs root); CI runs as root and runs this case")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _stage_full(root: Path, date: dt.date, plan: pd.DataFrame) -> Path:
    result = reconcile(plan, None, date, 60922.0)
    tables = {name: empty_frame(spec) for name, spec in IVOA_TABLES.items()}
    tables.update(obsplan=result.obsplan, obsplan_history=result.history)
    provenance = {
        "as_of_mjd": 60922.0,
        "previous_snapshot": None,
        "changes": change_counts(result.changes),
        "sources": {"nustar": {"rows": len(plan)}},
        "violations": [],
    }
    return snapshot.stage_snapshot(root, date, tables, result.changes, provenance, lambda raw: {})


def _hashes(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in folder.rglob("*")
        if p.is_file()
    }


def test_disk_full_while_staging_publishes_nothing_and_keeps_the_previous(small_disk: Path, plan: pd.DataFrame) -> None:
    first = snapshot.publish_snapshot(_stage_full(small_disk, DAY, plan), small_disk, DAY)
    before = _hashes(first.path)
    filler = small_disk / "filler"
    with open(filler, "wb") as out:  # fill the disk to the last block
        try:
            while True:
                out.write(b"\0" * 65536)
                out.flush()
        except OSError:
            pass
    later = DAY + dt.timedelta(days=1)
    with pytest.raises(OSError, match="No space left on device"):
        _stage_full(small_disk, later, plan)
    assert _hashes(first.path) == before
    assert os.readlink(small_disk / "latest") == "snapshots/2025-09-04"
    assert [p for p in (small_disk / ".staging").iterdir() if p.is_dir()] == [], "the half-written stage is removed"
    assert snapshot.published_dates(small_disk) == [DAY]


def test_read_only_output_root_fails_clearly_and_changes_nothing(small_disk: Path, plan: pd.DataFrame) -> None:
    first = snapshot.publish_snapshot(_stage_full(small_disk, DAY, plan), small_disk, DAY)
    before = _hashes(first.path)
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    with pytest.raises(OSError, match="Read-only file system"):
        _stage_full(small_disk, DAY + dt.timedelta(days=1), plan)
    assert _hashes(first.path) == before
    assert snapshot.validate_snapshot(first.path) == []
