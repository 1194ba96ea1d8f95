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


def test_in_threads_covers_every_item_once_and_raises_a_slice_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(durable, "ITEMS_PER_THREAD", 1)
    seen: list[int] = []
    durable.in_threads(lambda lo, hi: seen.extend(range(lo, hi)), 1001, threads=2)
    assert sorted(seen) == list(range(1001))  # two slices, every item once

    done: list[tuple[int, int]] = []

    def work(lo: int, hi: int) -> None:
        if lo == 0:
            raise OSError(28, "No space left on device")  # e.g. a full disk in the first slice
        done.append((lo, hi))

    with pytest.raises(OSError, match="No space left"):
        durable.in_threads(work, 10, threads=2)
    assert done == [(5, 10)]  # the other slice ran to its end before the error was raised


def test_link_many_links_what_it_can_and_says_which(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(durable, "ITEMS_PER_THREAD", 1)
    (tmp_path / "a" / "d").mkdir(parents=True)
    (tmp_path / "b" / "d").mkdir(parents=True)
    for i in range(6):
        if i != 3:  # one source missing: not linked, the caller writes it
            (tmp_path / "a" / "d" / f"{i}.xml").write_bytes(b"<x/>")
    rels = [f"d/{i}.xml" for i in range(6)]
    done = durable.link_many(tmp_path / "a", tmp_path / "b", rels)
    assert done.tolist() == [True, True, True, False, True, True]
    for i in (0, 1, 2, 4, 5):
        assert os.stat(tmp_path / "b" / "d" / f"{i}.xml").st_ino == os.stat(tmp_path / "a" / "d" / f"{i}.xml").st_ino


def test_flush_early_runs_sync_off_the_calling_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """The early flush is one ``sync`` in the flusher thread: the caller is not held while it runs."""
    import threading

    release, seen = threading.Event(), []

    def slow_sync() -> None:
        seen.append(threading.current_thread().name)
        release.wait(timeout=30)

    monkeypatch.setattr(durable.os, "sync", slow_sync)
    future = durable.flush_early()
    assert not future.done()  # returned while the flush is still running
    release.set()
    future.result(timeout=30)
    assert seen and seen[0].startswith("voharvest-flush") and seen[0] != threading.current_thread().name


def test_background_work_runs_in_a_forked_child() -> None:
    """A process forked after a publication used the background thread gets its own (no queue that never runs)."""
    durable.flush_early().result(timeout=30)  # the parent's flusher thread exists now
    pid = os.fork()
    if pid == 0:  # the child: submitted work must run, in a thread of the child
        try:
            done = durable.background_thread("flush").submit(lambda: os.getpid()).result(timeout=20)
            os._exit(0 if done == os.getpid() else 1)
        except BaseException:  # noqa: BLE001 - any failure is the child's exit code
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert durable.background_thread("flush") is durable.background_thread("flush")  # one per process
