"""Dated, immutable snapshots: staging, manifest, validation, atomic publication and ``latest``.

Layout under an output root::

    snapshots/<YYYY-MM-DD>/     one complete snapshot (see the README's "Snapshot layout")
    latest -> snapshots/<date>  relative symlink to the newest published date
    .staging/<date>-<random>/   snapshots being written (same file system, so publishing is a rename)

A snapshot is written into a staging directory, validated (:func:`validate_snapshot`), and moved
into place with one ``rename``; ``latest`` is switched afterwards with an atomic symlink
replacement. A harvest that fails anywhere before that leaves no trace under ``snapshots/`` and does
not touch ``latest``. A date that is already published is immutable: publishing identical bytes again
succeeds without writing; different bytes are refused unless ``force`` (which swaps the two
directories in one atomic exchange, so the date is never missing; see :mod:`models.durable`).

Durability: every staged file and directory is ``fsync``ed before the rename and the parent after
it, ``latest`` is replaced by renaming a new symlink over it and its directory ``fsync``ed.
Publications into one output root are serialised by a lock; staging directories carry a lock of
their own while their run lives, so the next publication removes those of dead runs only.

Every file is covered by ``manifest.json`` (size and SHA-256); the manifest holds no wall-clock
time, only the as-of time and the raw records' fetch times, so the same raw archive gives the same
bytes.

Daily cost follows the changes, not the archive: a file whose content is the previous published
snapshot's is a hard link to it (a copy where links fail), with the previous manifest entry (no
rehash) and no re-validation at publication: a table whose Parquet bytes equal the previous ones
(its VOTable is then not written at all), a MOC whose inputs hash as before (``moc_inputs`` in the
manifest, see :func:`models.moc.plan_snapshot_mocs`), the history's closed parts (immutable, see
:mod:`models.history_store`), and anything else written byte-identical (DataLink documents, ``raw/``).
Each snapshot directory stays complete: deleting an older one keeps the linked bytes.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from models import identifiers
from models.arrow import arrow_schema, conform, contiguous, to_frame
from models.columns import TableSpec
from models.datalink import (
    DATALINK_DIR,
    DATALINK_INDEX,
    PendingDataLinks,
    datalink_access,
    read_document_index,
    snapshot_url,
    start_snapshot_datalinks,
)
from models.datalink import manifest_entry as datalink_manifest_entry
from models.durable import (
    exchange,
    flush_early,
    fsync_dir,
    fsync_tree,
    hold_staging,
    link_or_copy,
    release_staging,
    root_lock,
    stale_staging,
)
from models.history import changes_document
from models.history_store import HISTORY_TABLE, history_files, write_history
from models.landing import write_landing_page, write_root_index
from models.layout import (  # noqa: F401 (re-exported: the snapshot layout)
    DATE_NAME,
    LATEST,
    MANIFEST,
    MANIFEST_FORMAT,
    SNAPSHOTS,
    STAGING,
    code_digest,
    code_version,
    published_dates,
    sha256_file,
    snapshot_path,
    walk_files,
    written_by_this_code,
)
from models.moc import plan_snapshot_mocs, votable_budget
from models.parquet import write_parquet
from models.provenance import read_previous_row_provenance, row_provenance, write_provenance
from models.rows import is_ascending
from models.tables import HISTORY_TABLES, IVOA_TABLES, PROVENANCE_TABLES
from models.tap_kit import write_tap_kit
from models.validate import VALIDATE_SLICE, key_columns, validate_batches
from models.visibility.moc import write_snapshot_visibility
from models.votable import write_votable

#: Every table a snapshot may hold, by short name.
SNAPSHOT_TABLES: dict[str, TableSpec] = {**IVOA_TABLES, **HISTORY_TABLES, **PROVENANCE_TABLES}


class SnapshotError(Exception):
    """A snapshot that cannot be published or read as one."""


class SnapshotInvalid(SnapshotError):
    """A staged snapshot failed validation; ``problems`` lists every finding."""

    def __init__(self, path: Path, problems: list[str]):
        shown = "\n  ".join(problems[:20])
        super().__init__(f"snapshot {path} is invalid ({len(problems)} problem(s)):\n  {shown}")
        self.problems = problems


class SnapshotExists(SnapshotError):
    """The date is already published with different content (snapshots are immutable)."""


@dataclass(frozen=True)
class Published:
    """Outcome of :func:`publish_snapshot`."""

    path: Path
    status: Literal["published", "identical", "replaced"]


# -- paths ---------------------------------------------------------------------------------------
def previous_snapshot(output_root: Path, date: dt.date) -> Path | None:
    """The newest published snapshot strictly before ``date``.

    History is based on the previous *date*, never on an earlier run of the same date, so
    re-running a date reproduces its bytes.
    """
    earlier = [d for d in published_dates(output_root) if d < date]
    return snapshot_path(output_root, earlier[-1]) if earlier else None


def resolve_snapshot(snapshot: str | Path | None, output: Path) -> Path:
    """The snapshot directory meant by ``SNAPSHOT``: a path, a date under ``output``, or ``output/latest``.

    Parameters
    ----------
    snapshot
        A snapshot directory, a ``YYYY-MM-DD`` date, or ``None`` for the latest snapshot.
    output
        The output root (``--output``).

    Returns
    -------
    pathlib.Path
        The directory (not checked for existence here).
    """
    if snapshot is None:
        return (Path(output) / LATEST).resolve()
    if DATE_NAME.match(str(snapshot)) and not Path(snapshot).exists():
        return Path(output) / SNAPSHOTS / str(snapshot)
    return Path(snapshot)


def new_staging(output_root: Path, date: dt.date) -> Path:
    """A fresh staging directory for ``date`` on the output root's file system."""
    base = Path(output_root) / STAGING
    base.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f"{date.isoformat()}-", dir=base))
    hold_staging(stage)  # marks it as a live run's: never cleaned while this process lives
    # mkdtemp makes it private (0700); a published snapshot is read by other users (TAP servers).
    stage.chmod(0o755)
    return stage


#: Files of each live stage reused unchanged from the previous snapshot (kept in memory, not in the stage:
#: a stage holds only manifest-listed files). Filled by :func:`stage_snapshot`, read by :func:`publish_snapshot`.
_REUSED: dict[str, frozenset[str]] = {}


def reused_files(stage: Path) -> frozenset[str]:
    """Relative paths of the files a stage reused unchanged from the previous snapshot (hard links or copies)."""
    return _REUSED.get(str(Path(stage)), frozenset())


def discard(path: Path) -> None:
    """Remove a staging directory (no error if already gone)."""
    shutil.rmtree(path, ignore_errors=True)
    _REUSED.pop(str(Path(path)), None)
    release_staging(path)


def clean_stale_staging(output_root: Path) -> list[Path]:
    """Remove staging directories left by dead runs (killed, crashed); returns what was removed."""
    removed = stale_staging(Path(output_root) / STAGING)
    for path in removed:
        discard(path)
    return removed


# -- manifest ------------------------------------------------------------------------------------
#: Index files listing, with size and SHA-256, the files in the subfolders of a folder, in place of
#: the manifest: ``{index: (folder, reader)}``; a reader gives an Arrow table with ``document``,
#: ``size`` and ``sha256`` per file (or ``None`` for an index without them). A snapshot holds one
#: DataLink document per event list (420,000 at a million obsplan rows); one manifest line each made
#: every day's manifest, its JSON reading and writing, and the publication's checks grow with the
#: archive, not with the day's changes. The manifest lists the index (its SHA-256 covers every
#: document's) and records it under ``file_index``; :func:`validate_snapshot` checks the indexed files
#: against it as against the manifest.
FILE_INDEXES: dict[str, tuple[str, Callable[[Path], pa.Table | None]]] = {
    DATALINK_INDEX: (f"{DATALINK_DIR}/", read_document_index)
}


def indexed_folders(directory: Path) -> dict[str, str]:
    """The :data:`FILE_INDEXES` a snapshot (or stage) has, with the folder each lists: ``{index: folder}``.

    An index counts when it has ``size`` and ``sha256`` columns (a DataLink index of an earlier
    version has not: its documents are in the manifest). Reads one line per index.
    """
    out = {}
    for index, (folder, _reader) in FILE_INDEXES.items():
        try:
            with open(Path(directory) / index, encoding="utf-8") as handle:
                header = handle.readline().rstrip("\n").split(",")
        except OSError:
            continue
        if {"size", "sha256"} <= set(header):
            out[index] = folder
    return out


def read_file_index(directory: Path, index: str) -> pa.Table:
    """``path``, ``size``, ``sha256`` of the files an index of :data:`FILE_INDEXES` lists (one row per file).

    Raises
    ------
    SnapshotError
        The index cannot be read or lacks its columns.
    """
    table = FILE_INDEXES[index][1](Path(directory))
    if table is None:
        raise SnapshotError(f"{index}: cannot be read as a file index (path, size and sha256 per file)")
    return pa.table({"path": table.column("document"), "size": table.column("size"), "sha256": table.column("sha256")})


def file_entries(directory: Path, known: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, dict[str, Any]]:
    """``{relative posix path: {size, sha256}}`` of every file but the manifest, sorted by path.

    Files listed by an index (:func:`indexed_folders`) are not among them: the index is.

    Parameters
    ----------
    directory
        The snapshot (or stage).
    known
        Entries already computed for files of this directory by whoever wrote (or linked) them, from
        the bytes written: reused as they are, without reading or even ``stat``-ing the file (each byte
        hashed once on the way to publication; publication still compares every file's size with the
        manifest). Other files are read and hashed.
    """
    known = known or {}
    top = str(directory) + os.sep
    out: dict[str, dict[str, Any]] = {}
    for rel in walk_files(Path(directory), set(indexed_folders(directory).values())):
        if rel == MANIFEST:
            continue
        entry = known.get(rel)
        if entry is not None:
            out[rel] = {"size": entry["size"], "sha256": entry["sha256"]}
        else:
            out[rel] = {"size": os.stat(top + rel).st_size, "sha256": sha256_file(Path(top + rel))}
    return out


def file_index_record(directory: Path) -> dict[str, dict[str, Any]]:
    """The manifest's ``file_index``: per index, the folder it lists, its files and their bytes."""
    out = {}
    for index, folder in sorted(indexed_folders(directory).items()):
        table = read_file_index(directory, index)
        out[index] = {
            "folder": folder,
            "files": table.num_rows,
            "bytes": int(pc.sum(table.column("size")).as_py() or 0),
        }
    return out


def file_count(manifest: Mapping[str, Any]) -> int:
    """How many files a manifest vouches for: its ``files`` and those its ``file_index`` indexes list."""
    indexes = manifest.get("file_index") or {}
    return len(manifest.get("files") or {}) + sum(int(r.get("files", 0)) for r in indexes.values())


def listed_files(directory: Path, manifest: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Every file a manifest vouches for: its ``files`` plus those of its ``file_index`` indexes.

    For readers that want one mapping (a diff of two snapshots); publication's checks read the
    indexes vectorised instead (:func:`validate_snapshot`).
    """
    out = dict(manifest.get("files") or {})
    for index in manifest.get("file_index") or {}:
        if index in FILE_INDEXES:
            table = read_file_index(directory, index)
            out.update(
                zip(
                    table.column("path").to_pylist(),
                    (
                        {"size": n, "sha256": h}
                        for n, h in zip(
                            table.column("size").to_pylist(), table.column("sha256").to_pylist(), strict=True
                        )
                    ),
                    strict=True,
                )
            )
    return out


def dumps(document: Mapping[str, Any]) -> bytes:
    """Deterministic JSON bytes (sorted keys, fixed indentation, trailing newline).

    A top-level ``files`` mapping (a manifest's: one entry per file, hundreds of thousands at archive
    scale) is written one file per line, ``"path": {"sha256": ..., "size": ...}``, by the C encoder: the
    same JSON value, easier to read and diff, and about ten times faster than the indented encoder.
    """
    files = document.get("files") if isinstance(document, Mapping) else None
    if not isinstance(files, Mapping) or not files:
        return (json.dumps(document, sort_keys=True, indent=1, ensure_ascii=False, allow_nan=False) + "\n").encode()
    rest = {k: v for k, v in document.items() if k != "files"}
    head = json.dumps({**rest, "files": None}, sort_keys=True, indent=1, ensure_ascii=False, allow_nan=False)
    encode = json.JSONEncoder(sort_keys=True, ensure_ascii=False, allow_nan=False, separators=(", ", ": ")).encode
    lines = ",\n".join(f"  {encode(rel)}: {encode(entry)}" for rel, entry in sorted(files.items()))
    marker = '\n "files": null'  # the top level's indentation: nested keys are indented more
    at = head.index(marker)
    return (head[:at] + '\n "files": {\n' + lines + "\n }" + head[at + len(marker) :] + "\n").encode()


def write_manifest(
    directory: Path, document: Mapping[str, Any], known: Mapping[str, Mapping[str, Any]] | None = None
) -> Path:
    """Write ``manifest.json``: ``document`` plus the size and SHA-256 of every other file.

    ``known`` entries (from :func:`file_entries`) are reused instead of hashing those files again.
    """
    manifest = {**document, "format": MANIFEST_FORMAT, "files": file_entries(directory, known)}
    indexes = file_index_record(directory)
    if indexes:
        manifest["file_index"] = indexes
    path = Path(directory) / MANIFEST
    path.write_bytes(dumps(manifest))
    return path


def read_manifest(directory: Path) -> dict[str, Any]:
    """The manifest of a snapshot (:class:`SnapshotError` if missing or unreadable)."""
    path = Path(directory) / MANIFEST
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise SnapshotError(f"{directory}: no {MANIFEST}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SnapshotError(f"{path}: not JSON ({exc})") from exc


# -- validation ----------------------------------------------------------------------------------
def _check_files(
    directory: Path,
    listed: Mapping[str, Mapping[str, Any]],
    *,
    rehash: bool = True,
    indexes: Mapping[str, Any] | None = None,
    trusted: Collection[str] = (),
) -> tuple[list[str], set[str]]:
    """Compare the files present with those the manifest lists, directly or through its ``file_index``.

    Sizes are compared with one ``stat`` per file, except for ``trusted`` files (hard links to the
    previous published snapshot, made by this publication); ``rehash`` re-reads every file.
    """
    problems: list[str] = []
    bad: set[str] = set()
    actual = set(walk_files(directory))  # one walk: no Path object per file
    actual.discard(MANIFEST)
    paths: list[str] = []  # indexed files, with their sizes and digests
    sizes: list[int] = []
    digests: list[str] = []
    for index, record in sorted((indexes or {}).items()):
        folder = FILE_INDEXES[index][0] if index in FILE_INDEXES else None
        if folder is None or not isinstance(record, Mapping) or record.get("folder") != folder:
            problems.append(f"{MANIFEST}: file_index[{index!r}] is not a file index of this voharvest version")
            continue
        if index not in listed:
            problems.append(f"{index}: file index not listed in {MANIFEST}")
            continue
        try:
            table = read_file_index(directory, index)
        except SnapshotError as exc:
            problems.append(str(exc))
            bad.add(index)
            continue
        inside = pc.and_(
            pc.starts_with(table.column("path"), folder),
            pc.match_substring(pc.utf8_slice_codeunits(table.column("path"), len(folder)), "/"),
        )
        outside = table.column("path").filter(pc.invert(pc.fill_null(inside, False))).to_pylist()
        problems += [f"{index}: lists {p}, outside the subfolders of {folder}" for p in outside[:20]]
        if (
            not is_ascending(contiguous(table.column("path")))
            and pc.count_distinct(table.column("path")).as_py() != table.num_rows
        ):  # written in order: distinct at one glance, not by hashing every path
            problems.append(f"{index}: lists a file more than once")
        if table.num_rows != record.get("files"):
            problems.append(f"{index}: lists {table.num_rows} files, {MANIFEST} says {record.get('files')}")
        paths += table.column("path").to_pylist()
        sizes += table.column("size").to_pylist()
        digests += table.column("sha256").to_pylist()
    indexed = set(paths)
    for rel in sorted(actual - listed.keys() - indexed):
        problems.append(f"{rel}: file not listed in {MANIFEST}" + (" or its file index" if indexed else ""))
        bad.add(rel)
    # set operations in C over the hundreds of thousands of indexed files; Python only per file checked
    for rel in sorted(listed.keys() & indexed):
        problems.append(f"{rel}: listed both in {MANIFEST} and in its file index")
        bad.add(rel)
    want = {rel: (entry.get("size"), entry.get("sha256")) for rel, entry in listed.items()}
    want.update(zip(paths, zip(sizes, digests, strict=True), strict=True))
    missing = want.keys() - actual
    for rel in sorted(missing):
        problems.append(f"{rel}: listed in {MANIFEST} but missing")
        bad.add(rel)
    # without rehash, a hard link this publication made to the previous snapshot's file (same inode) is skipped
    check = want.keys() - missing - (frozenset() if rehash else trusted)
    top = str(directory) + os.sep
    for rel in sorted(check):
        want_size, want_digest = want[rel]
        try:
            size = os.stat(top + rel).st_size
        except OSError as exc:  # a dangling symlink
            problems.append(f"{rel}: cannot be read ({exc.strerror})")
            bad.add(rel)
            continue
        if size != want_size:
            problems.append(f"{rel}: size {size} bytes, manifest says {want_size}")
            bad.add(rel)
        if not rehash:
            continue
        digest = sha256_file(Path(top + rel))
        if digest != want_digest:
            problems.append(f"{rel}: SHA-256 {digest} does not match the manifest's {want_digest}")
            bad.add(rel)
    return problems, bad


def _table_files(directory: Path, name: str, entry: Mapping[str, Any]) -> list[str]:
    """The Parquet file(s) of a table: ``<name>.parquet``, or the history parts listed in the manifest."""
    if name == HISTORY_TABLE:
        files = history_files(directory, {"tables": {name: entry}})
        if files:
            return files
    return [f"{name}.parquet"]


def _check_table(
    directory: Path, name: str, entry: Mapping[str, Any], as_of: float | None, trusted: Collection[str] = ()
) -> list[str]:
    spec = SNAPSHOT_TABLES.get(name)
    if spec is None:
        return [f"table {name!r}: unknown to this voharvest version"]
    files = _table_files(directory, name, entry)
    label = files[0] if len(files) == 1 else f"{name} ({len(files)} parts)"
    expected = arrow_schema(spec)
    want = [(f.name, str(f.type)) for f in expected]
    problems: list[str] = []
    rows = 0
    for rel in files:
        try:
            meta = pq.read_metadata(directory / rel)
            schema = pq.read_schema(directory / rel)
        except Exception as exc:  # noqa: BLE001 - any reader failure is a finding, reported with its cause
            problems.append(f"{rel}: cannot be read as Parquet ({type(exc).__name__}: {exc})")
            continue
        got = [(f.name, str(f.type)) for f in schema]
        if got != want:
            missing = [n for n, _ in want if n not in dict(got)]
            extra = [n for n, _ in got if n not in dict(want)]
            problems.append(f"{rel}: schema differs from {spec.qualified_name} (missing {missing}, extra {extra})")
        rows += meta.num_rows
    if problems:
        return problems
    if rows != entry.get("rows"):
        problems.append(f"{label}: {rows} rows, manifest says {entry.get('rows')}")
    # files reused unchanged from the previous snapshot passed these rules there (the as-of rules only
    # relax as the as-of time advances); history parts written now are checked together
    fresh = [f for f in files if f not in trusted]
    if not fresh:
        return problems
    # read back a slice at a time (the key columns whole, for uniqueness): a table written now is never
    # held whole in memory next to the frames it was written from
    keys = key_columns(spec)
    try:
        key_table = pa.concat_tables([pq.read_table(directory / f, columns=keys) for f in fresh])
        batches = (
            batch for f in fresh for batch in pq.ParquetFile(directory / f).iter_batches(batch_size=VALIDATE_SLICE)
        )
        found = validate_batches(batches, spec, as_of=as_of, keys=key_table)
    except Exception as exc:  # noqa: BLE001 - any reader failure is a finding, reported with its cause
        return [*problems, f"{label}: cannot be read as Parquet ({type(exc).__name__}: {exc})"]
    problems += [f"{label}: {v.message}" for v in found]
    return problems


def validate_snapshot(directory: Path, *, rehash: bool = True, trusted: Collection[str] = ()) -> list[str]:
    """Every problem found in a snapshot directory; an empty list means valid.

    Checks the manifest, that it lists exactly the files present with matching sizes and SHA-256,
    and that each table's Parquet file has its spec's schema, the manifest's row count and passes
    the spec's validation rules (types, null rules, vocabularies, ranges, uniqueness).

    Parameters
    ----------
    directory
        A snapshot (published or staged).
    rehash
        Re-read every file to compare its SHA-256 with the manifest. Publication passes ``False``
        for the stage it has just written and hashed (each byte hashed once; sizes and the file
        list are still checked); ``voharvest validate`` re-reads everything.
    trusted
        Relative paths of files hard-linked (or copied) unchanged from the previous published
        snapshot, whose tables passed validation there: a table all of whose files are trusted gets
        its schema and row count checked but not its rows again (publication passes what it
        reused; ``voharvest validate`` passes nothing and checks every row).

    Returns
    -------
    list of str
        One line per problem.
    """
    directory = Path(directory)
    trusted = trusted if isinstance(trusted, frozenset) else frozenset(trusted)  # once: 420,000 paths at 1 M rows
    if not directory.is_dir():
        return [f"{directory}: not a directory"]
    try:
        manifest = read_manifest(directory)
    except SnapshotError as exc:
        return [str(exc)]
    if not isinstance(manifest, dict):
        return [f"{MANIFEST}: a JSON {type(manifest).__name__}, expected an object"]
    problems = []
    if manifest.get("format") != MANIFEST_FORMAT:
        problems.append(f"{MANIFEST}: format {manifest.get('format')!r}, expected {MANIFEST_FORMAT!r}")
    listed = manifest.get("files")
    if not isinstance(listed, dict):
        return [*problems, f"{MANIFEST}: no 'files' mapping"]
    shapeless = sorted(rel for rel, entry in listed.items() if not isinstance(entry, dict))
    problems += [f"{MANIFEST}: files[{rel!r}] is not an object with size and sha256" for rel in shapeless]
    indexes = manifest.get("file_index")
    if indexes is not None and not isinstance(indexes, dict):
        problems.append(f"{MANIFEST}: 'file_index' is a JSON {type(indexes).__name__}, expected an object")
        indexes = None
    file_problems, bad = _check_files(
        directory,
        {k: v for k, v in listed.items() if isinstance(v, dict)},
        rehash=rehash,
        indexes=indexes,
        trusted=trusted,
    )
    problems += [p for p in file_problems if not any(p.startswith(f"{rel}: file not listed") for rel in shapeless)]
    as_of = manifest.get("as_of_mjd")  # the harvest's as-of time: Performed rows must have ended by then
    as_of = float(as_of) if isinstance(as_of, int | float) and not isinstance(as_of, bool) else None
    tables = manifest.get("tables", {})
    if not isinstance(tables, dict):
        return [*problems, f"{MANIFEST}: 'tables' is a JSON {type(tables).__name__}, expected an object"]
    for name, entry in sorted(tables.items()):
        if not isinstance(entry, dict):
            problems.append(f"{MANIFEST}: tables[{name!r}] is not an object")
            continue
        own = history_files(directory, {"tables": {name: entry}}) if name == HISTORY_TABLE else [f"{name}.parquet"]
        if bad & set(own or [f"{name}.parquet"]):
            continue  # already reported; its contents cannot be trusted
        problems += _check_table(directory, name, entry, as_of, trusted)
    return problems


# -- publication ---------------------------------------------------------------------------------
def update_latest(output_root: Path) -> Path | None:
    """Point ``latest`` at the newest published date (relative symlink, replaced atomically)."""
    output_root = Path(output_root)
    dates = published_dates(output_root)
    if not dates:
        return None
    link = output_root / LATEST
    if link.exists() and not link.is_symlink():
        raise SnapshotError(f"{link} exists and is not a symlink; refusing to replace it")
    target = Path(SNAPSHOTS) / dates[-1].isoformat()
    if link.is_symlink() and Path(os.readlink(link)) == target:
        return link
    tmp = output_root / f".{LATEST}.{os.getpid()}.tmp"
    tmp.unlink(missing_ok=True)
    os.symlink(target, tmp, target_is_directory=True)
    os.replace(tmp, link)
    fsync_dir(output_root)
    return link


def publish_snapshot(
    stage: Path,
    output_root: Path,
    date: dt.date,
    *,
    force: bool = False,
    lock_wait: float = 120.0,
    trusted: Collection[str] | None = None,
) -> Published:
    """Validate a staged snapshot and move it into place with one rename, then update ``latest``.

    Parameters
    ----------
    stage
        The staging directory (from :func:`new_staging`), complete with its manifest.
    output_root
        The publish root.
    date
        The snapshot date.
    force
        Replace a published date whose content differs (atomic exchange).
    lock_wait
        Seconds to queue behind another publication into the same root.
    trusted
        Files reused unchanged from the previous snapshot (see :func:`validate_snapshot`); default:
        those the stage records in ``.reused`` (written by :func:`stage_snapshot`).

    Returns
    -------
    Published
        Where the snapshot is and whether it was new, identical or replaced.

    Raises
    ------
    SnapshotInvalid
        The staged snapshot fails :func:`validate_snapshot` (the stage is discarded).
    SnapshotExists
        ``date`` is published with different content and ``force`` is false (stage discarded).
    models.durable.RootLocked
        Another process held the output root for longer than ``lock_wait``.
    """
    stage, output_root = Path(stage), Path(output_root)
    if trusted is None:
        trusted = reused_files(stage)
    with root_lock(output_root, wait=lock_wait):
        return _publish_locked(stage, output_root, date, force=force, trusted=trusted)


def _publish_locked(
    stage: Path, output_root: Path, date: dt.date, *, force: bool, trusted: Collection[str] = ()
) -> Published:
    clean_stale_staging(output_root)
    # the manifest was hashed from these very files; files reused from the previous snapshot were validated there
    problems = validate_snapshot(stage, rehash=False, trusted=trusted)
    if problems:
        discard(stage)
        raise SnapshotInvalid(stage, problems)
    target = snapshot_path(output_root, date)
    target.parent.mkdir(parents=True, exist_ok=True)
    status: Literal["published", "identical", "replaced"] = "published"
    if target.exists():
        if (target / MANIFEST).is_file() and (target / MANIFEST).read_bytes() == (stage / MANIFEST).read_bytes():
            discard(stage)
            update_latest(output_root)
            return Published(target, "identical")
        if not force:
            discard(stage)
            raise SnapshotExists(
                f"{target} is already published with different content; snapshots are immutable "
                "(use --force to replace it)"
            )
        fsync_tree(stage)
        if exchange(stage, target):  # one step: the date is never missing
            fsync_dir(target.parent)
            fsync_dir(stage.parent)
            discard(stage)  # now holds the replaced snapshot
        else:  # no renameat2 here: two renames, the old copy removed only after the new one is in place
            retired = Path(tempfile.mkdtemp(prefix=f"{date.isoformat()}-replaced-", dir=output_root / STAGING))
            os.rename(target, retired / "old")
            os.rename(stage, target)
            fsync_dir(target.parent)
            discard(retired)
            release_staging(stage)
        status = "replaced"
    else:
        fsync_tree(stage)
        fsync_dir(stage.parent)
        os.rename(stage, target)
        fsync_dir(target.parent)
        release_staging(stage)
    update_latest(output_root)
    write_root_index(output_root)
    return Published(target, status)


# -- writing -------------------------------------------------------------------------------------
#: Tables published as VOTable besides Parquet (the history is Parquet only: it grows without bound).
VOTABLE_TABLES = ("obsplan", "obscore", "obscore_radio", "obscore_hea", "row_provenance")
#: Tables whose rows carry position and time: they get space, time and space-time MOCs per facility.
MOC_TABLES = ("obsplan", "obscore")


def write_table(directory: Path, name: str, frame: pd.DataFrame, *, votable: bool) -> dict[str, Any]:
    """Write one table as Parquet (and VOTable); returns its manifest entry."""
    return write_table_reusing(directory, name, frame, votable=votable).entry


@dataclass
class TableWritten:
    """Outcome of :func:`write_table_reusing`."""

    entry: dict[str, Any]
    #: Manifest file entries (size, sha256) known already: the Parquet file hashed to compare with the
    #: previous snapshot's, the reused files' previous entries. Other files are hashed by the manifest.
    files: dict[str, dict[str, Any]]
    #: Files linked (or copied) unchanged from the previous snapshot.
    reused: list[str]


def write_table_reusing(
    directory: Path,
    name: str,
    frame: pd.DataFrame | pa.Table,
    *,
    votable: bool,
    previous: Path | None = None,
    previous_manifest: Mapping[str, Any] | None = None,
) -> TableWritten:
    """Write one table as Parquet (and VOTable), sharing the previous snapshot's files when unchanged.

    The Parquet file is written and hashed (its bytes are a function of the rows and the spec, so
    its SHA-256 is the table's content hash). When it equals the previous snapshot's, the table is
    unchanged: the Parquet and VOTable files become hard links to the previous snapshot's (copies
    where links fail), with the previous manifest entries, and the VOTable (the costly writer) is
    not written at all.

    Parameters
    ----------
    directory
        The stage.
    name
        Table name (:data:`SNAPSHOT_TABLES`).
    frame
        Its rows (a frame, or an Arrow table already conformed to the spec).
    votable
        Write ``<name>.vot`` too.
    previous, previous_manifest
        The previous published snapshot and its manifest (``None``: write everything).

    Returns
    -------
    TableWritten
        Manifest entry, file entries and the reused files.
    """
    spec = SNAPSHOT_TABLES[name]
    directory = Path(directory)
    table = frame if isinstance(frame, pa.Table) else conform(frame, spec)
    del frame
    files = [f"{name}.parquet"] + ([f"{name}.vot"] if votable else [])
    parquet = directory / files[0]
    write_parquet(table, spec, parquet)
    prev_files = (previous_manifest or {}).get("files") or {}
    entries: dict[str, dict[str, Any]] = {}
    reused: list[str] = []
    if previous is not None and files[0] in prev_files:  # hashed here to compare; the manifest reuses it
        entries[files[0]] = {"size": parquet.stat().st_size, "sha256": sha256_file(parquet)}
    same = entries.get(files[0]) is not None and prev_files.get(files[0]) == entries[files[0]]
    if same and all(f in prev_files and (previous / f).is_file() for f in files):
        for rel in files:
            (directory / rel).unlink(missing_ok=True)
            link_or_copy(previous / rel, directory / rel)
            entries[rel] = dict(prev_files[rel])
            reused.append(rel)
    elif votable:
        write_votable(table, spec, directory / files[1])  # hashed once, by the manifest
    entry = {"table": spec.qualified_name, "rows": table.num_rows, "files": files}
    return TableWritten(entry, entries, reused)


def write_changes(directory: Path, changes: pd.DataFrame, document: Mapping[str, Any]) -> list[str]:
    """The changelog as ``changes.json`` (``document``) and ``changes.vot``; also ``changes.parquet``."""
    entry = write_table(directory, "changes", changes, votable=True)
    (Path(directory) / "changes.json").write_bytes(dumps(document))
    return [*entry["files"], "changes.json"]


def _file_token(text: str) -> str:
    token = re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower()
    return token or "unknown"


def write_mocs(
    directory: Path,
    tables: Mapping[str, pd.DataFrame],
    tool: str,
    *,
    previous: Path | None = None,
    previous_manifest: Mapping[str, Any] | None = None,
) -> tuple[list[str], dict[str, str]]:
    """``moc/<table>-<facility>-{smoc,tmoc}.{fits,json}`` and ``-stmoc.fits`` for every facility of the tables.

    Orders are chosen per table and facility from what the rows describe, and degraded until all
    MOC files together are no larger than the snapshot's VOTables (written before; see
    :func:`models.moc.plan_snapshot_mocs`). A MOC that would cover nothing (a facility whose rows have
    no footprint, e.g. ESO runs before their pointing is known) is not written. MOCs whose inputs are
    those of the previous snapshot are hard links to its files (see :func:`write_mocs_reusing`).

    Returns
    -------
    tuple
        The files written (relative paths) and the omitted MOCs with the reason, for the manifest.
    """
    plan = write_mocs_reusing(directory, tables, tool, previous=previous, previous_manifest=previous_manifest)
    return plan.files, plan.omitted


@dataclass
class MocsWritten:
    """Outcome of :func:`write_mocs_reusing`."""

    files: list[str]
    omitted: dict[str, str]
    #: ``moc_inputs`` of the manifest (per table and facility: input hash, orders, degraded).
    inputs: dict[str, dict[str, object]]
    #: Files linked from the previous snapshot, with their previous manifest entries.
    reused: dict[str, dict[str, Any]]


def write_mocs_reusing(
    directory: Path,
    tables: Mapping[str, pd.DataFrame],
    tool: str,
    *,
    previous: Path | None = None,
    previous_manifest: Mapping[str, Any] | None = None,
) -> MocsWritten:
    """Write the snapshot's MOCs (:func:`write_mocs`), linking those whose inputs did not change.

    Parameters
    ----------
    directory
        The stage (its VOTables written: they are the budget).
    tables
        ``obsplan`` and ``obscore`` frames.
    tool
        ``MOCTOOL``.
    previous, previous_manifest
        The previous published snapshot and its manifest (its ``moc_inputs`` say what each MOC was
        made of); ``None`` builds every MOC.

    Returns
    -------
    MocsWritten
        Files, omitted MOCs, the ``moc_inputs`` record and the reused files' manifest entries.
    """
    from models.moc import PreviousMocs

    names = {n: SNAPSHOT_TABLES[n].qualified_name for n in tables}
    prev = None if previous is None or previous_manifest is None else PreviousMocs(Path(previous), previous_manifest)
    plan = plan_snapshot_mocs(
        tables,
        tool,
        budget_bytes=votable_budget(directory),
        qualified_names=names,
        previous=prev,
        directory=directory,
    )
    files = plan.write(directory)
    prev_files = (previous_manifest or {}).get("files") or {}
    reused = {rel: dict(prev_files[rel]) for rel in plan.reused if rel in prev_files}
    return MocsWritten(files, plan.omitted, plan.inputs, reused)


# -- reading back --------------------------------------------------------------------------------
def facility_rows(path: Path) -> dict[str, int]:
    """Rows per ``facility_name`` of one published Parquet table (empty when it has no such column)."""
    if "facility_name" not in pq.read_schema(path).names:
        return {}
    counts = pq.read_table(path, columns=["facility_name"]).column(0).value_counts().to_pylist()
    return {str(c["values"]): int(c["counts"]) for c in sorted(counts, key=lambda c: str(c["values"]))}


def snapshot_summary(path: Path, status: str | None) -> list[str]:
    """The harvest's closing report: snapshot, rows per table and facility, changes or "unchanged".

    Parameters
    ----------
    path
        The published snapshot directory.
    status
        ``published`` (written now) or ``identical`` (the date was already published with these bytes).

    Returns
    -------
    list of str
        Lines for the operator, read back from the published manifest and tables.
    """
    manifest = read_manifest(path)
    lines = [f"snapshot {manifest.get('snapshot', path.name)}: {path} ({status or 'published'})"]
    for table, entry in sorted(manifest.get("tables", {}).items()):
        if table == "changes":  # summarised by kind below
            continue
        parquet = path / f"{table}.parquet"
        per = facility_rows(parquet) if parquet.is_file() else {}
        detail = f" ({', '.join(f'{name} {n}' for name, n in per.items())})" if per else ""
        lines.append(f"  {table}: {entry.get('rows', 0)} rows{detail}")
    previous = manifest.get("previous_snapshot")
    counts = {k: int(v) for k, v in (manifest.get("changes") or {}).items()}
    if previous is None:
        changed = ", ".join(f"{k} {v}" for k, v in counts.items() if v)
        lines.append(f"  changes: first snapshot ({changed or 'no rows'})")
    elif not any(counts.values()):
        lines.append(f"  unchanged since {previous}")
    else:
        lines.append(f"  changes since {previous}: " + ", ".join(f"{k} {v}" for k, v in counts.items() if v))
    landing = path / "index.html"
    if landing.is_file():
        lines.append(f"  landing page: {landing}")
    return lines


def diff_snapshots(old: Path, new: Path) -> dict[str, Any]:
    """What differs between two snapshots: files (by checksum), row counts, obsplan observations."""
    from models.history import diff_obsplan

    old, new = Path(old), Path(new)
    m_old, m_new = read_manifest(old), read_manifest(new)
    f_old, f_new = listed_files(old, m_old), listed_files(new, m_new)  # DataLink documents included
    t_old, t_new = m_old.get("tables", {}), m_new.get("tables", {})
    obsplan = diff_obsplan(
        to_frame(pq.read_table(old / "obsplan.parquet")), to_frame(pq.read_table(new / "obsplan.parquet"))
    )
    return {
        "old": m_old.get("snapshot"),
        "new": m_new.get("snapshot"),
        "files": {
            "added": sorted(set(f_new) - set(f_old)),
            "removed": sorted(set(f_old) - set(f_new)),
            "changed": sorted(k for k in set(f_old) & set(f_new) if f_old[k].get("sha256") != f_new[k].get("sha256")),
        },
        "rows": {
            k: (t_old.get(k, {}).get("rows"), t_new.get(k, {}).get("rows")) for k in sorted(set(t_old) | set(t_new))
        },
        "obsplan": obsplan,
    }


# -- assembly ------------------------------------------------------------------------------------
#: Table order in a snapshot (history last: Parquet only).
SNAPSHOT_ORDER = ("obsplan", "obscore", "obscore_radio", "obscore_hea", "obsplan_history", "row_provenance")


def stage_snapshot(
    output_root: Path,
    date: dt.date,
    tables: Mapping[str, pd.DataFrame],
    changes: pd.DataFrame,
    provenance: Mapping[str, Any],
    raw_export: Callable[[Path], Mapping[str, Any]],
    *,
    visibility_days: float = 0.0,
) -> Path:
    """Write a complete snapshot into a new staging directory; returns the stage (not yet published).

    The one place that decides what a snapshot holds: every table as Parquet (and VOTable), the
    changelog, MOCs per table and facility, the TAP load kit, ``raw/`` and ``manifest.json``.

    Parameters
    ----------
    output_root
        Publish root (the stage is made under its ``.staging``).
    date
        Snapshot date.
    tables
        Frames by name for every table of :data:`SNAPSHOT_ORDER`.
    changes
        The changelog frame (``voharvest.changes``).
    provenance
        ``as_of_mjd``, ``previous_snapshot``, ``changes`` (counts), ``sources`` (per source: as-of,
        rows, ``requests``/``archive`` of harvested sources) and ``violations``.
    raw_export
        Writes the raw records into the given ``raw/`` directory and returns, per source, the
        archived responses described (the caller knows the archives; models does not fetch).
    visibility_days
        Forward window of the published visibility MOCs (``moc/visibility_<facility>.fits``) from
        the as-of time; 0 writes none.

    Returns
    -------
    Path
        The stage; the caller publishes it with :func:`publish_snapshot` or discards it.
    """
    stage = new_staging(output_root, date)
    pending_links: PendingDataLinks | None = None
    try:
        raw = raw_export(stage / "raw")
        sources = {
            name: {**{k: v for k, v in meta.items() if k not in ("requests", "archive")}, "responses": raw.get(name)}
            for name, meta in provenance["sources"].items()
        }
        facts = {"snapshot": date.isoformat(), "code_version": code_version(), "sources": sources}
        public_base_url = provenance.get("public_base_url")
        base_url = snapshot_url(public_base_url, date)  # <public base URL>/snapshots/<date>, or None
        previous = previous_snapshot(output_root, date)
        previous_manifest = _manifest_or_none(previous)
        if previous_manifest is None:
            previous = None
        reused: list[str] = []
        # unchanged documents are linked in the background while the rest is written (waited for at the end)
        pending_links = start_snapshot_datalinks(
            stage,
            tables["obscore"],
            tables["obscore_hea"],
            base_url,
            previous=previous,
            reuse_documents=written_by_this_code(previous_manifest),
        )
        flush_early()  # the DataLink documents written so far reach the disk while the tables are made
        tables = {**tables, "obscore": datalink_access(tables["obscore"], base_url)}
        previous_rows = read_previous_row_provenance(previous, sources)
        tables["row_provenance"] = row_provenance(
            tables["obsplan"], tables["obscore"], facts, previous_rows, tables["obsplan_history"]
        )
        known: dict[str, dict[str, Any]] = {}  # hashed while written
        entries: dict[str, dict[str, Any]] = {}
        for name in SNAPSHOT_ORDER:  # one table at a time: its Arrow copy is freed before the next
            if name == HISTORY_TABLE:
                history = write_history(stage, tables[name], date, previous, previous_manifest)
                entries[name], written = history.entry, history
            else:
                written = write_table_reusing(
                    stage,
                    name,
                    tables[name],
                    votable=name in VOTABLE_TABLES,
                    previous=previous,
                    previous_manifest=previous_manifest,
                )
                entries[name] = written.entry
            known.update(written.files)
            reused += written.reused
        flush_early()  # the tables' gigabyte of VOTable and Parquet reaches the disk while the MOCs are made
        changelog = changes_document(changes, date, provenance["previous_snapshot"], provenance["as_of_mjd"])
        write_changes(stage, changes, changelog)
        entries["changes"] = {"table": "voharvest.changes", "rows": len(changes), "files": ["changes.parquet"]}
        tool = f"voharvest {code_version()}"
        moc_result = write_mocs_reusing(
            stage,
            {name: tables[name] for name in MOC_TABLES},
            tool,
            previous=previous,
            previous_manifest=previous_manifest,
        )
        mocs, mocs_omitted = moc_result.files, moc_result.omitted
        known.update(moc_result.reused)
        reused += list(moc_result.reused)
        tap = write_tap_kit(stage, [SNAPSHOT_TABLES[n] for n in entries])
        visibility_files, visibility = write_snapshot_visibility(stage, provenance["as_of_mjd"], visibility_days)
        document = {
            "snapshot": date.isoformat(),
            "as_of_mjd": provenance["as_of_mjd"],
            "previous_snapshot": provenance["previous_snapshot"],
            "code_version": code_version(),
            "code_digest": code_digest(),
            "tables": entries,
            "changes": provenance["changes"],
            "mocs": mocs,
            "mocs_omitted": mocs_omitted,
            "moc_inputs": moc_result.inputs,
            "visibility": visibility,
            # what reaches the bytes besides raw inputs and code (models.unchanged compares them)
            "options": {"visibility_days": max(float(visibility_days), 0.0), "authority": identifiers.authority()},
            "tap": tap,
            "raw": "raw/ is a raw archive of exactly the responses parsed (voharvest harvest --replay <it>)",
            "sources": sources,
            "datalink": datalink_manifest_entry(pending_links.files, public_base_url, base_url),
            "validation": {"violations": provenance["violations"], "checks": "all blocking checks passed"},
        }
        files = file_entries(stage, known)  # every byte written so far, hashed once (reused files: not at all)
        _share_identical(stage, previous, previous_manifest, files, set(reused))
        # PROV and the landing page describe the DataLink documents too, from their index
        document["provenance"] = write_provenance(stage, document, files)
        files = file_entries(stage, files)  # hashes only the provenance files
        write_landing_page(stage, {**document, "files": files}, tables, changes)
        write_manifest(stage, document, known=files)  # hashes only the landing page
        pending_links.wait(linked=reused)  # the links went on while all of the above was written
        _REUSED[str(stage)] = frozenset(reused)
    except BaseException:
        if pending_links is not None:
            pending_links.cancel()  # no link made into the stage while it is removed
        discard(stage)
        raise
    return stage


def _share_identical(
    stage: Path,
    previous: Path | None,
    previous_manifest: Mapping[str, Any] | None,
    files: Mapping[str, Mapping[str, Any]],
    done: set[str],
) -> int:
    """Replace files written identical to the previous snapshot's (same size and SHA-256) by hard links.

    For what other layers write one file at a time (DataLink documents, ``raw/``, ``tap/``): the bytes
    are already written, this only stops them from taking disk space twice. Returns the files linked.
    """
    if previous is None or previous_manifest is None:
        return 0
    prev_files = previous_manifest.get("files") or {}
    linked = 0
    for rel, entry in files.items():
        if rel in done or prev_files.get(rel) != entry:
            continue
        source, target = previous / rel, stage / rel
        try:
            if not source.is_file() or source.is_symlink() or target.is_symlink():
                continue
            tmp = target.with_name(f".{target.name}.link")
            os.link(source, tmp)
            os.replace(tmp, target)
            linked += 1
        except OSError:
            continue  # keep the written copy
    return linked


def _manifest_or_none(directory: Path | None) -> dict[str, Any] | None:
    """The manifest of a published snapshot, or ``None``.

    ``None`` also for an unreadable manifest: then nothing is reused and everything is written.
    """
    if directory is None:
        return None
    try:
        manifest = read_manifest(directory)
    except SnapshotError:
        return None
    return manifest if isinstance(manifest, dict) else None
