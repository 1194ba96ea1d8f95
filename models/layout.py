"""Where a snapshot's files are, and the few facts about them that need no table library.

Standard library only: :mod:`models.unchanged` decides whether a day is unchanged before pandas,
pyarrow or Dagster are imported, and :mod:`models.snapshot` writes what it reads. Both take these from
here, so the layout, the manifest format, the digest and the code version exist once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.metadata
import re
import tomllib
from pathlib import Path

SNAPSHOTS = "snapshots"
LATEST = "latest"
STAGING = ".staging"
MANIFEST = "manifest.json"
#: Identifies the manifest layout (bumped on incompatible changes).
MANIFEST_FORMAT = "voharvest-snapshot/1"

DATE_NAME = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_CHUNK = 1 << 20


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
