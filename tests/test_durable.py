"""models.durable.fsync_tree: what it flushes, counted on real files (the kernel's work itself cannot be observed)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import models.durable as durable


def _tree(root: Path, files: int) -> None:
    for i in range(files):
        folder = root / f"d{i % 3}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"f{i}.xml").write_bytes(b"x" * (i % 7))
    (root / "link").symlink_to(root / "d0" / "f0.xml")


def _count(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    calls = {"fsync": 0, "sync": 0}
    real_fsync, real_sync = os.fsync, os.sync

    def fsync(fd: int) -> None:
        calls["fsync"] += 1
        real_fsync(fd)

    def sync() -> None:
        calls["sync"] += 1
        real_sync()

    monkeypatch.setattr(durable.os, "fsync", fsync)
    monkeypatch.setattr(durable.os, "sync", sync)
    return calls


def test_small_tree_fsyncs_every_file_and_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _tree(tmp_path / "s", 10)
    calls = _count(monkeypatch)
    durable.fsync_tree(tmp_path / "s")
    assert calls == {"fsync": 10 + 4, "sync": 0}  # 10 files (not the symlink) + 3 folders + the root


def test_large_tree_is_flushed_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(durable, "SYNC_ALL_ABOVE", 5)
    _tree(tmp_path / "s", 10)
    calls = _count(monkeypatch)
    durable.fsync_tree(tmp_path / "s")
    assert calls == {"fsync": 4, "sync": 1}  # one sync for the files, then each directory's entries
