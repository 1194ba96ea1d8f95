"""Each byte of a snapshot is hashed once on the way to publication (issue 13, target 4)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from models import snapshot
from tests.test_history import plan  # noqa: F401
from tests.test_snapshot import _stage

DAY = dt.date(2025, 9, 4)


def test_publication_hashes_each_file_once_and_validate_rereads(
    tmp_path: Path,
    plan: pd.DataFrame,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[str] = []
    real = snapshot.sha256_file

    def counting(path: Path) -> str:
        calls.append(Path(path).name)
        return real(path)

    monkeypatch.setattr(snapshot, "sha256_file", counting)
    stage = _stage(tmp_path, DAY, plan)
    files = [p for p in stage.rglob("*") if p.is_file() and p.name != "manifest.json"]
    assert len(calls) == len(files), "write_manifest hashes every file once"
    calls.clear()
    published = snapshot.publish_snapshot(stage, tmp_path, DAY)
    assert calls == [], "publication reuses the manifest's hashes"
    assert snapshot.validate_snapshot(published.path) == []
    assert len(calls) == len(files), "voharvest validate re-reads every file"


def test_a_file_changed_after_hashing_is_still_caught_by_size_or_by_validate(
    tmp_path: Path,
    plan: pd.DataFrame,  # noqa: F811
) -> None:
    stage = _stage(tmp_path, DAY, plan)
    (stage / "obsplan.vot").write_bytes(b"<VOTABLE/>")
    with pytest.raises(snapshot.SnapshotInvalid, match="obsplan.vot: size"):
        snapshot.publish_snapshot(stage, tmp_path, DAY)
