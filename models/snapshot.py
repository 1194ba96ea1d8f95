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
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.metadata
import json
import os
import re
import shutil
import tempfile
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import pyarrow.parquet as pq

from models.arrow import arrow_schema, conform, to_frame
from models.columns import TableSpec
from models.datalink import DATALINK_INDEX, datalink_access, write_snapshot_datalinks
from models.durable import exchange, fsync_dir, fsync_tree, hold_staging, release_staging, root_lock, stale_staging
from models.history import changes_document
from models.landing import write_landing_page, write_root_index
from models.moc import plan_snapshot_mocs, votable_budget
from models.parquet import write_parquet
from models.provenance import row_provenance, write_provenance
from models.tables import HISTORY_TABLES, IVOA_TABLES, PROVENANCE_TABLES
from models.tap_kit import write_tap_kit
from models.validate import validate
from models.visibility.moc import write_snapshot_visibility
from models.votable import write_votable

SNAPSHOTS = "snapshots"
LATEST = "latest"
STAGING = ".staging"
MANIFEST = "manifest.json"
#: Identifies the manifest layout (bumped on incompatible changes).
MANIFEST_FORMAT = "voharvest-snapshot/1"
#: Every table a snapshot may hold, by short name.
SNAPSHOT_TABLES: dict[str, TableSpec] = {**IVOA_TABLES, **HISTORY_TABLES, **PROVENANCE_TABLES}

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_CHUNK = 1 << 20


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
def snapshot_path(output_root: Path, date: dt.date) -> Path:
    """Where the snapshot of ``date`` lives (published or not)."""
    return Path(output_root) / SNAPSHOTS / date.isoformat()


def published_dates(output_root: Path) -> list[dt.date]:
    """Dates with a published snapshot (a directory holding a manifest), oldest first."""
    folder = Path(output_root) / SNAPSHOTS
    if not folder.is_dir():
        return []
    dates = [
        dt.date.fromisoformat(p.name) for p in folder.iterdir() if _DATE.match(p.name) and (p / MANIFEST).is_file()
    ]
    return sorted(dates)


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
    if _DATE.match(str(snapshot)) and not Path(snapshot).exists():
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


def discard(path: Path) -> None:
    """Remove a staging directory (no error if already gone)."""
    shutil.rmtree(path, ignore_errors=True)
    release_staging(path)


def clean_stale_staging(output_root: Path) -> list[Path]:
    """Remove staging directories left by dead runs (killed, crashed); returns what was removed."""
    removed = stale_staging(Path(output_root) / STAGING)
    for path in removed:
        discard(path)
    return removed


# -- manifest ------------------------------------------------------------------------------------
def sha256_file(path: Path) -> str:
    """SHA-256 hex digest of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def file_entries(directory: Path, known: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, dict[str, Any]]:
    """``{relative posix path: {size, sha256}}`` of every file but the manifest, sorted by path.

    Parameters
    ----------
    directory
        The snapshot (or stage).
    known
        Entries already computed for files of this directory (reused when the size still matches:
        each byte is hashed once on the way to publication).
    """
    directory = Path(directory)
    known = known or {}
    out: dict[str, dict[str, Any]] = {}
    for path in sorted(p for p in directory.rglob("*") if p.is_file() or p.is_symlink()):
        rel = path.relative_to(directory).as_posix()
        if rel == MANIFEST:
            continue
        size = path.stat().st_size
        entry = known.get(rel)
        if entry is not None and entry.get("size") == size:
            out[rel] = {"size": size, "sha256": entry["sha256"]}
        else:
            out[rel] = {"size": size, "sha256": sha256_file(path)}
    return out


def code_version() -> str:
    """The voharvest version that wrote a snapshot (installed metadata, else pyproject.toml)."""
    try:
        return importlib.metadata.version("voharvest")
    except importlib.metadata.PackageNotFoundError:
        pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
        try:
            return str(tomllib.loads(pyproject.read_text())["project"]["version"])
        except (OSError, KeyError, tomllib.TOMLDecodeError):
            return "0+unknown"


def dumps(document: Mapping[str, Any]) -> bytes:
    """Deterministic JSON bytes (sorted keys, fixed indentation, trailing newline)."""
    return (json.dumps(document, sort_keys=True, indent=1, ensure_ascii=False, allow_nan=False) + "\n").encode()


def write_manifest(
    directory: Path, document: Mapping[str, Any], known: Mapping[str, Mapping[str, Any]] | None = None
) -> Path:
    """Write ``manifest.json``: ``document`` plus the size and SHA-256 of every other file.

    ``known`` entries (from :func:`file_entries`) are reused instead of hashing those files again.
    """
    manifest = {**document, "format": MANIFEST_FORMAT, "files": file_entries(directory, known)}
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
    directory: Path, listed: Mapping[str, Mapping[str, Any]], *, rehash: bool = True
) -> tuple[list[str], set[str]]:
    problems: list[str] = []
    bad: set[str] = set()
    actual = {p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_file() or p.is_symlink()}
    actual.discard(MANIFEST)
    for rel in sorted(actual - set(listed)):
        problems.append(f"{rel}: file not listed in {MANIFEST}")
        bad.add(rel)
    for rel, entry in sorted(listed.items()):
        path = directory / rel
        if rel not in actual:
            problems.append(f"{rel}: listed in {MANIFEST} but missing")
            bad.add(rel)
            continue
        size = path.stat().st_size
        if size != entry.get("size"):
            problems.append(f"{rel}: size {size} bytes, manifest says {entry.get('size')}")
            bad.add(rel)
        if not rehash:
            continue
        digest = sha256_file(path)
        if digest != entry.get("sha256"):
            problems.append(f"{rel}: SHA-256 {digest} does not match the manifest's {entry.get('sha256')}")
            bad.add(rel)
    return problems, bad


def _check_table(directory: Path, name: str, entry: Mapping[str, Any], as_of: float | None) -> list[str]:
    spec = SNAPSHOT_TABLES.get(name)
    if spec is None:
        return [f"table {name!r}: unknown to this voharvest version"]
    path = directory / f"{name}.parquet"
    try:
        table = pq.read_table(path)
    except Exception as exc:  # noqa: BLE001 - any reader failure is a finding, reported with its cause
        return [f"{path.name}: cannot be read as Parquet ({type(exc).__name__}: {exc})"]
    problems = []
    expected = arrow_schema(spec)
    got = [(f.name, str(f.type)) for f in table.schema]
    want = [(f.name, str(f.type)) for f in expected]
    if got != want:
        missing = [n for n, _ in want if n not in dict(got)]
        extra = [n for n, _ in got if n not in dict(want)]
        problems.append(f"{path.name}: schema differs from {spec.qualified_name} (missing {missing}, extra {extra})")
        return problems
    if table.num_rows != entry.get("rows"):
        problems.append(f"{path.name}: {table.num_rows} rows, manifest says {entry.get('rows')}")
    problems += [f"{path.name}: {v.message}" for v in validate(to_frame(table), spec, as_of=as_of)]
    return problems


def validate_snapshot(directory: Path, *, rehash: bool = True) -> list[str]:
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

    Returns
    -------
    list of str
        One line per problem.
    """
    directory = Path(directory)
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
    file_problems, bad = _check_files(
        directory, {k: v for k, v in listed.items() if isinstance(v, dict)}, rehash=rehash
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
        if f"{name}.parquet" in bad:
            continue  # already reported; its contents cannot be trusted
        problems += _check_table(directory, name, entry, as_of)
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
    stage: Path, output_root: Path, date: dt.date, *, force: bool = False, lock_wait: float = 120.0
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
    with root_lock(output_root, wait=lock_wait):
        return _publish_locked(stage, output_root, date, force=force)


def _publish_locked(stage: Path, output_root: Path, date: dt.date, *, force: bool) -> Published:
    clean_stale_staging(output_root)
    problems = validate_snapshot(stage, rehash=False)  # the manifest was hashed from these very files
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
    spec = SNAPSHOT_TABLES[name]
    table = conform(frame, spec)
    files = [f"{name}.parquet"]
    write_parquet(table, spec, Path(directory) / files[0])
    if votable:
        files.append(f"{name}.vot")
        write_votable(table, spec, Path(directory) / files[1])
    return {"table": spec.qualified_name, "rows": table.num_rows, "files": files}


def write_changes(directory: Path, changes: pd.DataFrame, document: Mapping[str, Any]) -> list[str]:
    """The changelog as ``changes.json`` (``document``) and ``changes.vot``; also ``changes.parquet``."""
    entry = write_table(directory, "changes", changes, votable=True)
    (Path(directory) / "changes.json").write_bytes(dumps(document))
    return [*entry["files"], "changes.json"]


def _file_token(text: str) -> str:
    token = re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower()
    return token or "unknown"


def write_mocs(directory: Path, tables: Mapping[str, pd.DataFrame], tool: str) -> tuple[list[str], dict[str, str]]:
    """``moc/<table>-<facility>-{smoc,tmoc}.{fits,json}`` and ``-stmoc.fits`` for every facility of the tables.

    Orders are chosen per table and facility from what the rows describe, and degraded until all
    MOC files together are no larger than the snapshot's VOTables (written before; see
    :func:`models.moc.plan_snapshot_mocs`). A MOC that would cover nothing (a facility whose rows have
    no footprint, e.g. ESO runs before their pointing is known) is not written.

    Returns
    -------
    tuple
        The files written (relative paths) and the omitted MOCs with the reason, for the manifest.
    """
    names = {n: SNAPSHOT_TABLES[n].qualified_name for n in tables}
    plan = plan_snapshot_mocs(tables, tool, budget_bytes=votable_budget(directory), qualified_names=names)
    return plan.write(directory), plan.omitted


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
    f_old, f_new = m_old.get("files", {}), m_new.get("files", {})
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
    try:
        raw = raw_export(stage / "raw")
        sources = {
            name: {**{k: v for k, v in meta.items() if k not in ("requests", "archive")}, "responses": raw.get(name)}
            for name, meta in provenance["sources"].items()
        }
        facts = {"snapshot": date.isoformat(), "code_version": code_version(), "sources": sources}
        base_url = provenance.get("public_base_url")
        links = write_snapshot_datalinks(stage, tables["obscore"], tables["obscore_hea"], base_url)
        tables = {**tables, "obscore": datalink_access(tables["obscore"], base_url)}
        previous = previous_snapshot(output_root, date)
        previous_rows = (
            to_frame(pq.read_table(previous / "row_provenance.parquet"))
            if previous is not None and (previous / "row_provenance.parquet").is_file()
            else None
        )
        tables["row_provenance"] = row_provenance(
            tables["obsplan"], tables["obscore"], facts, previous_rows, tables["obsplan_history"]
        )
        entries = {
            name: write_table(stage, name, tables[name], votable=name in VOTABLE_TABLES) for name in SNAPSHOT_ORDER
        }
        changelog = changes_document(changes, date, provenance["previous_snapshot"], provenance["as_of_mjd"])
        write_changes(stage, changes, changelog)
        entries["changes"] = {"table": "voharvest.changes", "rows": len(changes), "files": ["changes.parquet"]}
        tool = f"voharvest {code_version()}"
        mocs, mocs_omitted = write_mocs(stage, {name: tables[name] for name in MOC_TABLES}, tool)
        tap = write_tap_kit(stage, [SNAPSHOT_TABLES[n] for n in entries])
        visibility_files, visibility = write_snapshot_visibility(stage, provenance["as_of_mjd"], visibility_days)
        document = {
            "snapshot": date.isoformat(),
            "as_of_mjd": provenance["as_of_mjd"],
            "previous_snapshot": provenance["previous_snapshot"],
            "code_version": code_version(),
            "tables": entries,
            "changes": provenance["changes"],
            "mocs": mocs,
            "mocs_omitted": mocs_omitted,
            "visibility": visibility,
            "tap": tap,
            "raw": "raw/ is a raw archive of exactly the responses parsed (voharvest harvest --replay <it>)",
            "sources": sources,
            "datalink": {
                "base_url": base_url,
                "documents": len(links) - 1 if links else 0,
                "index": DATALINK_INDEX if links else None,
            },
            "validation": {"violations": provenance["violations"], "checks": "all blocking checks passed"},
        }
        files = file_entries(stage)  # every byte written so far, hashed once
        document["provenance"] = write_provenance(stage, document, files)  # PROV of every file above
        files = file_entries(stage, files)  # hashes only the provenance files
        write_landing_page(stage, {**document, "files": files}, tables, changes)
        write_manifest(stage, document, known=files)  # hashes only the landing page
    except BaseException:
        discard(stage)
        raise
    return stage
