"""Snapshot staging, manifest, validation, atomic publication, immutability and ``latest``.

Tables are real NuSTAR short-range rows (tests/data/history) reconciled into obsplan/history/changes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from pathlib import Path

import pandas as pd
import pytest

from models import snapshot
from models.history import reconcile
from models.tables import CHANGES, OBSPLAN, OBSPLAN_HISTORY
from models.tap_kit import write_tap_kit
from tests.test_history import plan  # noqa: F401  (fixture: real rows as obsplan frame)

DAY1, DAY2 = dt.date(2025, 9, 4), dt.date(2025, 9, 5)


def _stage(root: Path, date: dt.date, frame: pd.DataFrame) -> Path:
    result = reconcile(frame, None, date, 60922.0)
    stage = snapshot.new_staging(root, date)
    tables = {
        name: snapshot.write_table(stage, name, data, votable=name in snapshot.VOTABLE_TABLES)
        for name, data in (("obsplan", result.obsplan), ("obsplan_history", result.history))
    }
    snapshot.write_changes(stage, result.changes, {"snapshot": date.isoformat(), "changes": []})
    tables["changes"] = {"table": CHANGES.qualified_name, "rows": len(result.changes), "files": ["changes.parquet"]}
    snapshot.write_mocs(stage, {"obsplan": result.obsplan}, "voharvest test")
    write_tap_kit(stage, [OBSPLAN, OBSPLAN_HISTORY, CHANGES])
    snapshot.write_manifest(stage, {"snapshot": date.isoformat(), "tables": tables})
    return stage


def _hashes(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in folder.rglob("*")
        if p.is_file()
    }


def test_publish_layout_manifest_and_latest(tmp_path: Path, plan: pd.DataFrame) -> None:  # noqa: F811
    published = snapshot.publish_snapshot(_stage(tmp_path, DAY1, plan), tmp_path, DAY1)
    path = tmp_path / "snapshots" / "2025-09-04"
    assert published == snapshot.Published(path, "published")
    assert os.readlink(tmp_path / "latest") == "snapshots/2025-09-04"
    assert snapshot.validate_snapshot(path) == []
    names = {p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file()}
    assert {"obsplan.parquet", "obsplan.vot", "obsplan_history.parquet", "changes.json", "changes.vot"} <= names
    assert {f"moc/obsplan-nustar-{k}.{e}" for k in ("smoc", "tmoc") for e in ("fits", "json")} <= names
    assert "moc/obsplan-nustar-stmoc.fits" in names and "moc/obsplan-nustar-stmoc.json" not in names
    assert {"tap/schema.sql", "tap/load.sh", "tap/tap_schema/columns.csv"} <= names
    manifest = json.loads((path / "manifest.json").read_text())
    assert set(manifest["files"]) == names - {"manifest.json"}
    entry = manifest["files"]["obsplan.parquet"]
    assert entry == {
        "size": (path / "obsplan.parquet").stat().st_size,
        "sha256": hashlib.sha256((path / "obsplan.parquet").read_bytes()).hexdigest(),
    }
    assert manifest["tables"]["obsplan"]["rows"] == 4
    assert list((tmp_path / ".staging").iterdir()) == []
    # readable by other users (a TAP server's account loads it)
    assert path.stat().st_mode & 0o777 == 0o755


def test_republishing_is_idempotent_and_immutable(tmp_path: Path, plan: pd.DataFrame) -> None:  # noqa: F811
    snapshot.publish_snapshot(_stage(tmp_path, DAY1, plan), tmp_path, DAY1)
    path = tmp_path / "snapshots" / "2025-09-04"
    before = _hashes(path)
    again = snapshot.publish_snapshot(_stage(tmp_path, DAY1, plan), tmp_path, DAY1)
    assert again.status == "identical"
    other = plan.assign(target_name=plan["target_name"].str.replace("_", " "))
    with pytest.raises(snapshot.SnapshotExists, match="immutable"):
        snapshot.publish_snapshot(_stage(tmp_path, DAY1, other), tmp_path, DAY1)
    assert _hashes(path) == before
    replaced = snapshot.publish_snapshot(_stage(tmp_path, DAY1, other), tmp_path, DAY1, force=True)
    assert replaced.status == "replaced"
    assert _hashes(path) != before and snapshot.validate_snapshot(path) == []
    assert list((tmp_path / ".staging").iterdir()) == []


def test_invalid_stage_publishes_nothing(tmp_path: Path, plan: pd.DataFrame) -> None:  # noqa: F811
    snapshot.publish_snapshot(_stage(tmp_path, DAY1, plan), tmp_path, DAY1)
    before = _hashes(tmp_path / "snapshots")
    bad = plan.assign(category="Sometimes")  # not ObsLocTAP vocabulary
    stage = _stage(tmp_path, DAY2, bad)
    with pytest.raises(snapshot.SnapshotInvalid) as info:
        snapshot.publish_snapshot(stage, tmp_path, DAY2)
    assert any("obsplan.parquet: [vocabulary] ivoa.obsplan.category" in p for p in info.value.problems)
    assert not stage.exists()
    assert _hashes(tmp_path / "snapshots") == before
    assert os.readlink(tmp_path / "latest") == "snapshots/2025-09-04"


def test_validate_reports_tampering(tmp_path: Path, plan: pd.DataFrame) -> None:  # noqa: F811
    path = snapshot.publish_snapshot(_stage(tmp_path, DAY1, plan), tmp_path, DAY1).path
    with open(path / "obsplan.parquet", "ab") as handle:
        handle.write(b"x")
    (path / "changes.json").unlink()
    (path / "extra.txt").write_text("not in the manifest")
    problems = snapshot.validate_snapshot(path)
    assert "extra.txt: file not listed in manifest.json" in problems
    assert "changes.json: listed in manifest.json but missing" in problems
    assert any(p.startswith("obsplan.parquet: size ") for p in problems)
    assert any(p.startswith("obsplan.parquet: SHA-256 ") for p in problems)
    (path / "manifest.json").write_text("{")
    assert snapshot.validate_snapshot(path)[0].startswith(f"{path / 'manifest.json'}: not JSON")


def test_previous_snapshot_and_latest_never_move_back(tmp_path: Path, plan: pd.DataFrame) -> None:  # noqa: F811
    snapshot.publish_snapshot(_stage(tmp_path, DAY2, plan), tmp_path, DAY2)
    snapshot.publish_snapshot(_stage(tmp_path, DAY1, plan), tmp_path, DAY1)  # a late backfill
    assert os.readlink(tmp_path / "latest") == "snapshots/2025-09-05"
    (tmp_path / "snapshots" / "2025-09-03").mkdir()  # no manifest: not a published snapshot
    assert snapshot.published_dates(tmp_path) == [DAY1, DAY2]
    assert snapshot.previous_snapshot(tmp_path, DAY2) == tmp_path / "snapshots" / "2025-09-04"
    assert snapshot.previous_snapshot(tmp_path, dt.date(2025, 9, 6)) == tmp_path / "snapshots" / "2025-09-05"
    assert snapshot.previous_snapshot(tmp_path, DAY1) is None


def test_diff_snapshots(tmp_path: Path, plan: pd.DataFrame) -> None:  # noqa: F811
    a = snapshot.publish_snapshot(_stage(tmp_path / "a", DAY1, plan), tmp_path / "a", DAY1).path
    moved = plan.assign(t_min=plan["t_min"].where(plan["obs_id"] != "31101012004", plan["t_min"] + 0.5))
    b = snapshot.publish_snapshot(_stage(tmp_path / "b", DAY1, moved.iloc[1:]), tmp_path / "b", DAY1).path
    report = snapshot.diff_snapshots(a, b)
    assert report["obsplan"] == {
        "added": [],
        "removed": ["NuSTAR/71001002005"],
        "changed": ["NuSTAR/31101012004: t_min"],
    }
    assert report["rows"]["obsplan"] == (4, 3)
    assert "obsplan.parquet" in report["files"]["changed"]
