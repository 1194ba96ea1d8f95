"""Durable file-system steps of publication: fsync, atomic swaps and locks.

A rename is atomic against a killed process but not against a power cut: the new directory entry
may reach the disk before the file contents do. So publication writes and ``fsync``s every file,
``fsync``s the staging directory, renames, and ``fsync``s the parent (:func:`fsync_tree`,
:func:`fsync_dir`). Replacing a published date swaps the two directories in one step with Linux's
``renameat2(RENAME_EXCHANGE)`` (:func:`exchange`), so the date is never missing and ``latest``
never dangles; where the call is not available it falls back to two renames.

Locks are ``flock`` locks, released by the kernel when their process dies: :func:`root_lock`
serialises publications into one output root (a second harvest waits, then fails with a message
naming the holder), :func:`hold_staging` marks a staging directory as belonging to a live run,
and :func:`stale_staging` finds those whose run died (kill -9, power cut) so they can be removed.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import os
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np

LOCK_NAME = ".voharvest.lock"
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100
_held: dict[str, int] = {}


def fsync_dir(path: Path) -> None:
    """Flush a directory's entries (new names, renames) to disk."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


#: Above this many files :func:`fsync_tree` flushes with one ``sync`` instead of one ``fsync`` per file.
SYNC_ALL_ABOVE = 2_000


def fsync_tree(root: Path) -> None:
    """Make every file and directory below ``root`` (and ``root`` itself) durable before a rename.

    Small trees get an ``fsync`` per file and directory, deepest first. A snapshot with tens of
    thousands of DataLink documents would spend most of its publication in those calls (15 s for
    42 000 files measured on the 2-core machine), so above :data:`SYNC_ALL_ABOVE` files one
    ``os.sync()`` flushes everything instead (on Linux it returns only when the data is written,
    ``sync(2)``), followed by the directories' own ``fsync``.

    Parameters
    ----------
    root
        The staged snapshot directory.
    """
    root = Path(root)
    walked = list(os.walk(root, topdown=False))
    many = sum(len(files) for _, _, files in walked) > SYNC_ALL_ABOVE
    if many:
        os.sync()
    for dirpath, _dirnames, filenames in walked:
        if not many:
            for name in filenames:
                path = os.path.join(dirpath, name)
                if os.path.islink(path):
                    continue
                fd = os.open(path, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
        fsync_dir(Path(dirpath))


_background: dict[tuple[str, int], ThreadPoolExecutor] = {}


def background_thread(name: str) -> ThreadPoolExecutor:
    """The one worker thread named ``name`` of this process, for work that overlaps a publication.

    One per process: a thread does not survive ``fork``, and an executor inherited from the parent
    would queue work that never runs (the pipeline's executors may fork worker processes).

    Parameters
    ----------
    name
        What the thread does (its name is ``voharvest-<name>``).

    Returns
    -------
    concurrent.futures.ThreadPoolExecutor
        A single-thread executor: work submitted to it runs in order.
    """
    key = (name, os.getpid())
    if key not in _background:
        _background[key] = ThreadPoolExecutor(1, thread_name_prefix=f"voharvest-{name}")
    return _background[key]


def flush_early() -> Future[None]:
    """Start flushing what has been written so far to disk (``sync(2)``) in a background thread.

    A snapshot's bulk (hundreds of thousands of DataLink documents, gigabytes of VOTable) is written
    long before its publication; :func:`fsync_tree` then waits for all of it to reach the disk. Started
    once each bulk is written (the documents, then the tables), the flush overlaps the CPU work that
    follows (tables, MOCs, PROV) and the final :func:`fsync_tree` waits only for what was written since;
    flushes asked for while one runs queue behind it. Durability still rests on :func:`fsync_tree`
    alone: this only moves disk time off the critical path (a 1 M-row day's ``publish`` stage: 3.0-3.2 s
    with the first flush only, 2.4-3.0 s with both).

    Returns
    -------
    concurrent.futures.Future
        Done when the flush has returned (nothing waits for it).
    """
    return background_thread("flush").submit(os.sync)


def link_or_copy(source: Path, target: Path) -> bool:
    """Make ``target`` a hard link to ``source`` (an immutable file of a published snapshot), else a copy.

    A snapshot directory must stay complete on its own: a hard link shares the bytes without
    depending on the other directory (deleting the previous snapshot keeps them), and a copy is the
    fallback where links cannot be made (another file system, ``EMLINK``, a file system without
    hard links).

    Parameters
    ----------
    source
        The existing file.
    target
        The new name (its parent must exist; it must not exist yet).

    Returns
    -------
    bool
        ``True`` for a hard link, ``False`` for a copy.
    """
    try:
        os.link(source, target)
        return True
    except OSError:
        shutil.copy2(source, target)
        return False


#: Threads making hard links or small files: the system calls release the GIL and two threads halve the
#: time of 100,000 links on the 2-core machine (1.6 s -> 0.8 s; four threads: 1.2 s).
FILE_THREADS = 2
#: Fewest items per thread of :func:`in_threads` (a thread is not worth fewer).
ITEMS_PER_THREAD = 1_000


def in_threads(work: Callable[[int, int], None], count: int, threads: int = FILE_THREADS) -> None:
    """Run ``work(start, stop)`` on ``threads`` contiguous slices of ``range(count)`` at once.

    For loops of one system call per file over hundreds of thousands of files (DataLink documents):
    ``link``, ``open``/``write`` and SHA-256 of a few kilobytes release the GIL, so the slices overlap
    in the kernel. An exception in any slice is raised here, after every slice has ended.

    Parameters
    ----------
    work
        Called once per slice with its bounds; must be safe to run concurrently on disjoint slices.
    count
        Items to work on.
    threads
        Slices (at most one per :data:`ITEMS_PER_THREAD` items).
    """
    n = max(1, min(threads, count // ITEMS_PER_THREAD))
    if n == 1:
        work(0, count)
        return
    bounds = [count * i // n for i in range(n + 1)]
    with ThreadPoolExecutor(n) as pool:
        futures = [pool.submit(work, bounds[i], bounds[i + 1]) for i in range(n)]
    for future in futures:
        future.result()


def link_many(
    source_root: str | Path, target_root: str | Path, rels: Sequence[str], *, threads: int = FILE_THREADS
) -> np.ndarray:
    """Hard-link ``source_root/rel`` to ``target_root/rel`` for each ``rel``, in threads (:func:`in_threads`).

    Parameters
    ----------
    source_root, target_root
        The previous published snapshot and the stage (target folders must exist).
    rels
        Relative posix paths.
    threads
        Threads making the links (:func:`in_threads`).

    Returns
    -------
    numpy.ndarray
        One boolean per path: linked. ``False`` (another file system, a missing source, ...) leaves
        the file to the caller to write.
    """
    source, target = str(source_root) + os.sep, str(target_root) + os.sep
    done = np.zeros(len(rels), dtype=bool)

    def work(start: int, stop: int) -> None:
        for i in range(start, stop):  # one system call per file
            try:
                os.link(source + rels[i], target + rels[i])
            except OSError:
                continue
            done[i] = True

    in_threads(work, len(rels), threads)
    return done


def exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (``renameat2`` with ``RENAME_EXCHANGE``); ``False`` if unsupported.

    Parameters
    ----------
    a, b
        Existing paths on one file system.

    Returns
    -------
    bool
        Whether the swap was done (``False``: the kernel, file system or C library lacks the call).
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    result = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if result == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(a), None, str(b))


class RootLocked(RuntimeError):
    """Another process is publishing into the same output root."""


@contextlib.contextmanager
def root_lock(output_root: Path, *, wait: float = 120.0, poll: float = 0.2) -> Iterator[None]:
    """Exclusive lock on an output root for the duration of a publication.

    Parameters
    ----------
    output_root
        The publish root (the lock file ``.voharvest.lock`` lives there).
    wait
        Seconds to queue behind another publication before giving up.
    poll
        Seconds between attempts.

    Raises
    ------
    RootLocked
        The lock was not free within ``wait`` seconds; names the holder's process id.
    """
    root = Path(output_root)
    root.mkdir(parents=True, exist_ok=True)
    path = root / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip() or "unknown"
                    raise RootLocked(
                        f"output root {root} is being published by another voharvest process (pid {holder}); "
                        f"waited {wait:g} s — try again when it has finished"
                    ) from None
                time.sleep(poll)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


def hold_staging(stage: Path) -> None:
    """Mark ``stage`` as owned by this live process (a lock file beside it, kept open)."""
    lock = Path(f"{stage}.lock")
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    _held[str(stage)] = fd


def release_staging(stage: Path) -> None:
    """Drop the ownership mark of ``stage`` (after it was published or discarded)."""
    fd = _held.pop(str(stage), None)
    Path(f"{stage}.lock").unlink(missing_ok=True)
    if fd is not None:
        os.close(fd)


def stale_staging(staging_root: Path) -> list[Path]:
    """Staging directories whose owning process is gone (their lock is free, or they have none).

    Parameters
    ----------
    staging_root
        The ``.staging`` directory of an output root.

    Returns
    -------
    list of Path
        Directories safe to remove: no live run holds them.
    """
    root = Path(staging_root)
    if not root.is_dir():
        return []
    stale = []
    for entry in sorted(root.iterdir()):
        if not entry.is_dir() or str(entry) in _held:
            continue
        lock = Path(f"{entry}.lock")
        if not lock.exists():
            stale.append(entry)
            continue
        fd = os.open(lock, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            continue  # a live run holds it
        else:
            stale.append(entry)
        finally:
            os.close(fd)
    return stale
