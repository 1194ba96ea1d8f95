"""Where a snapshot's files are, and the few facts about them that need no table library.

Standard library only: :mod:`models.unchanged` decides whether a day is unchanged before pandas,
pyarrow or Dagster are imported, and :mod:`models.snapshot` writes what it reads. Both take these from
here, so the layout, the manifest format, the digest and the code version exist once.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import importlib.metadata
import os
import re
import tomllib
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

SNAPSHOTS = "snapshots"
LATEST = "latest"
STAGING = ".staging"
MANIFEST = "manifest.json"
#: Identifies the manifest layout (bumped on incompatible changes).
MANIFEST_FORMAT = "voharvest-snapshot/1"

DATE_NAME = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_CHUNK = 1 << 20

#: The project root (``models/`` is below it), where :data:`CODE_DIRS` are looked for.
CODE_ROOT = Path(__file__).resolve().parents[1]
#: What a snapshot's bytes depend on besides raw inputs and options: the code with its data files, and the
#: TLE sets of the visibility MOCs (``models.visibility.TLE_DIRECTORY``). Relative to :data:`CODE_ROOT`.
CODE_DIRS = ("models", "scrapers", "pipelines", "recordings/visibility")


def snapshot_path(output_root: Path, date: dt.date) -> Path:
    """Where the snapshot of ``date`` lives (published or not)."""
    return Path(output_root) / SNAPSHOTS / date.isoformat()


def published_dates(output_root: Path) -> list[dt.date]:
    """Dates with a published snapshot (a directory holding a manifest), oldest first."""
    folder = Path(output_root) / SNAPSHOTS
    if not folder.is_dir():
        return []
    return sorted(
        dt.date.fromisoformat(p.name) for p in folder.iterdir() if DATE_NAME.match(p.name) and (p / MANIFEST).is_file()
    )


def walk_files(directory: Path, skip_below: Collection[str] = ()) -> list[str]:
    """Relative posix path of every file and symlink under ``directory``, sorted.

    ``os.scandir`` with plain strings (no :class:`~pathlib.Path` or ``os.path.join`` per file): snapshots
    hold one DataLink document per event list, hundreds of thousands of files at archive scale. A
    symlinked folder is listed like a file (not followed). Subfolders of the folders in ``skip_below``
    (``"datalink/"``) are not entered (their files are listed by an index, ``models.snapshot.FILE_INDEXES``).
    """
    top = str(directory) + os.sep
    found: list[str] = []
    folders = [""]
    while folders:
        prefix = folders.pop()
        with os.scandir(top + prefix) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    if prefix not in skip_below:
                        folders.append(prefix + entry.name + "/")
                else:
                    found.append(prefix + entry.name)
    found.sort()
    return found


def sha256_file(path: Path) -> str:
    """SHA-256 hex digest of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def code_version() -> str:
    """The voharvest version that writes a snapshot (installed metadata, else pyproject.toml).

    Returns
    -------
    str
        E.g. ``0.1.0``; ``0+unknown`` when neither is readable.
    """
    try:
        return importlib.metadata.version("voharvest")
    except importlib.metadata.PackageNotFoundError:
        pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
        try:
            return str(tomllib.loads(pyproject.read_text())["project"]["version"])
        except (OSError, KeyError, tomllib.TOMLDecodeError):
            return "0+unknown"


def code_files(root: Path = CODE_ROOT) -> list[Path]:
    """Every file of the code and its reference data (:data:`CODE_DIRS` under ``root``), sorted.

    Compiled caches (``__pycache__``) are skipped: importing writes them after a snapshot.

    Parameters
    ----------
    root
        Project root (default: the one this module is installed in).

    Returns
    -------
    list of Path
        The files, in a stable order: :data:`CODE_DIRS` in turn, each walked sorted.
    """
    found: list[Path] = []
    for name in CODE_DIRS:
        for folder, dirs, files in os.walk(Path(root) / name):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            found += [Path(folder) / file for file in sorted(files)]
    return found


@functools.cache
def code_digest(root: Path = CODE_ROOT) -> str:
    """SHA-256 of the code and reference data a snapshot's bytes depend on (:data:`CODE_DIRS`).

    The package version alone does not change with every edit; this digest does. A snapshot records it
    (manifest ``code_digest``) so that later days reuse what it derived (DataLink documents, X-ray
    ObsCore rows) only when the same code would derive the same bytes. About 100 files, 1.4 MB: a few
    milliseconds, once per process (a long-running process keeps the digest of the code it started with).

    Parameters
    ----------
    root
        Project root whose :func:`code_files` are hashed.

    Returns
    -------
    str
        Hex digest over each file's relative path, a NUL, its length (8 bytes, little-endian) and its bytes,
        in :func:`code_files` order (``__pycache__`` skipped).
    """
    digest = hashlib.sha256()
    for path in code_files(root):
        try:
            content = path.read_bytes()
        except OSError:
            continue
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(len(content).to_bytes(8, "little") + content)
    return digest.hexdigest()


def written_by_this_code(manifest: Mapping[str, Any] | None) -> bool:
    """Whether a snapshot (by its manifest) was written by exactly this code (:func:`code_digest`).

    Only then may a later day reuse what it derived instead of deriving it again: the same rows give
    the same bytes. Manifests written before the digest was recorded never qualify.

    Parameters
    ----------
    manifest
        A snapshot's manifest, or ``None``.

    Returns
    -------
    bool
        True when the manifest records this process's code digest.
    """
    return manifest is not None and manifest.get("code_digest") == code_digest()
