"""Is a harvest's published snapshot already what these raw inputs would give? Decided before any rebuilding.

A snapshot is a deterministic function of (the raw records it was built from, the code version, the
options that change its bytes, the previous snapshot's content). Its ``manifest.json`` records the
first three: ``sources.<name>.responses`` (request key, status, fetch time and SHA-256 of every response
parsed), ``files["raw/records/<key>.json"]`` (the SHA-256 of each raw record as exported: headers,
status, fetch time and blob address), ``code_version``, and the visibility window / authority in what
it published. So a re-run of a date whose raw inputs are byte-identical to the manifest's can say
"unchanged" without importing Dagster, astropy, mocpy or pandas and without parsing anything.

The rule (:func:`check_inputs`), every item required, anything unreadable counting as "changed":

* ``snapshots/<date>/manifest.json`` exists, is JSON of format ``voharvest-snapshot/1`` for ``date``;
* the code version equals the manifest's ``code_version`` (a new version always rebuilds), and the code
  and the reference data it reads (:data:`CODE_DIRS`: ``models/``, ``scrapers/``, ``pipelines/`` with
  their data files, ``recordings/visibility/`` TLE sets) hash to the manifest's ``code_digest``
  (:func:`models.layout.code_digest`): an edit without a version bump or an upgrade rebuilds, a
  checkout that only touches files does not (file times are not compared);
* the options that change snapshot bytes (:func:`effective_options`: visibility window
  ``VOHARVEST_VISIBILITY_DAYS``, IVOA authority ``VOHARVEST_AUTHORITY``) equal the snapshot's
  (:func:`recorded_options`; inferred from ``visibility`` and ``provenance/prov.json`` for manifests
  that do not record ``options``); anything that cannot be confirmed counts as different;
* the previous snapshot is the same date as then, and was not replaced since (its manifest is not
  newer than this one): history, changes and row provenance depend on it;
* ``latest`` points at the newest published date (else the rebuild's publication repairs it);
* the same sources, all harvested (none carried over), with exactly the same request keys;
* each raw record is byte-identical to the one exported into the snapshot (manifest SHA-256 of
  ``raw/records/<key>.json``), and each response blob hashes to its address (a tampered archive
  is not "unchanged": the rebuild reports it).

Cost: one read of the manifest, of every raw record and blob (proportional to the raw bytes, never to
the snapshot's rows), one ``stat`` per published date, one read of each code file (~100 files, 1.4 MB).
Pure: standard library only (the optional summary reads one Parquet column with ``pyarrow.parquet``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from models.layout import (
    CODE_ROOT,
    LATEST,
    MANIFEST,
    MANIFEST_FORMAT,
    SNAPSHOTS,
    code_digest,
    code_version,
    published_dates,
    sha256_file,
)

#: Defaults of the options that change snapshot bytes; must equal ``pipelines.assets.VISIBILITY_DAYS`` and
#: ``models.identifiers.DEFAULT_AUTHORITY`` (a test keeps them together).
DEFAULT_VISIBILITY_DAYS = 30.0
DEFAULT_AUTHORITY = "voharvest"
#: Two visibility windows closer than this (days, ~0.1 s) are the same window.
_WINDOW_TOLERANCE = 1e-6
_AUTHORITY = re.compile(r'"snapshots"\s*:\s*"ivo://(?P<auth>[^"]+?)/snapshot/"')


@dataclass(frozen=True)
class Verdict:
    """Outcome of an unchanged check.

    Attributes
    ----------
    unchanged
        True when the published snapshot is exactly what a rebuild from these inputs would give.
    snapshot
        The snapshot directory looked at (it may not exist).
    reason
        Why it is unchanged (what was compared) or the first difference found.
    manifest
        The snapshot's manifest when it could be read.
    """

    unchanged: bool
    snapshot: Path
    reason: str
    manifest: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def exists(self) -> bool:
        """Whether a published snapshot (with a readable manifest) was found."""
        return self.manifest is not None


# -- what the current code and environment would write ----------------------------------------------
def effective_options(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The options of this process that change a snapshot's bytes (besides raw inputs and code).

    Parameters
    ----------
    environ
        Environment to read (default ``os.environ``).

    Returns
    -------
    dict
        ``visibility_days`` (float, ``VOHARVEST_VISIBILITY_DAYS``, default 30; <= 0 means none) and
        ``authority`` (``VOHARVEST_AUTHORITY``, default ``voharvest``: it is in every publisher DID).

    Raises
    ------
    ValueError
        ``VOHARVEST_VISIBILITY_DAYS`` is not a number (the harvest would fail the same way).
    """
    env = os.environ if environ is None else environ
    days = float(env.get("VOHARVEST_VISIBILITY_DAYS", DEFAULT_VISIBILITY_DAYS))
    return {"visibility_days": max(days, 0.0), "authority": env.get("VOHARVEST_AUTHORITY", DEFAULT_AUTHORITY)}


def recorded_options(snapshot: Path, manifest: Mapping[str, Any]) -> dict[str, Any]:
    """The options a published snapshot was written with, as far as it records them.

    ``manifest["options"]`` when present (the proposed record); otherwise inferred: the visibility
    window from ``manifest["visibility"]`` (empty: none; else the longest facility span: a ground
    site's span is the window, a spacecraft's may be shorter, ending at its TLE's validity, so a window
    whose every span was clipped reads shorter and counts as different) and the authority from the
    namespace of ``provenance/prov.json``.

    Parameters
    ----------
    snapshot
        The published snapshot directory.
    manifest
        Its manifest.

    Returns
    -------
    dict
        ``visibility_days`` (float, or ``None`` when it cannot be told) and ``authority`` (``None`` when
        not found).
    """
    options = manifest.get("options")
    if isinstance(options, Mapping):
        days = options.get("visibility_days")
        return {
            "visibility_days": float(days) if isinstance(days, int | float) else None,
            "authority": options.get("authority"),
        }
    visibility = manifest.get("visibility")
    days = None
    if visibility == {}:
        days = 0.0
    elif isinstance(visibility, Mapping):
        spans = [
            float(v["end_mjd"]) - float(v["start_mjd"])
            for v in visibility.values()
            if isinstance(v, Mapping)
            and isinstance(v.get("start_mjd"), int | float)
            and isinstance(v.get("end_mjd"), int | float)
        ]
        # ground sites (APEX, VLT) span the whole window; a spacecraft's span may end early at its TLE's validity
        days = max(spans) if spans else None
    return {"visibility_days": days, "authority": _prov_authority(snapshot)}


def _prov_authority(snapshot: Path) -> str | None:
    try:
        with open(Path(snapshot) / "provenance" / "prov.json", encoding="utf-8", errors="replace") as handle:
            head = handle.read(1 << 16)
    except OSError:
        return None
    match = _AUTHORITY.search(head)
    return None if match is None else match.group("auth")


def options_difference(wanted: Mapping[str, Any], recorded: Mapping[str, Any]) -> str | None:
    """Why a snapshot written with ``recorded`` options differs from one written with ``wanted``, or None.

    Parameters
    ----------
    wanted
        :func:`effective_options` of this run.
    recorded
        :func:`recorded_options` of the snapshot.

    Returns
    -------
    str or None
        One line naming the option, or ``None`` when they agree.
    """
    days, then = float(wanted["visibility_days"]), recorded.get("visibility_days")
    if then is None:
        return f"visibility window {days:g} d: the snapshot's window cannot be read from its manifest"
    if abs(days - float(then)) > _WINDOW_TOLERANCE:
        return f"visibility window {days:g} d (VOHARVEST_VISIBILITY_DAYS), the snapshot has {float(then):g} d"
    if wanted["authority"] != recorded.get("authority"):
        return (
            f"authority {wanted['authority']!r} (VOHARVEST_AUTHORITY), the snapshot has {recorded.get('authority')!r}"
        )
    return None


# -- raw inputs ---------------------------------------------------------------------------------------
def record_digest(content: bytes) -> str:
    """SHA-256 of a raw record as :meth:`scrapers.archive.RawArchive.export` writes it into ``raw/records/``.

    The export re-serialises the record (sorted keys, indent 1, UTF-8, no trailing newline); records
    written by the archive are already in that form, others are normalised the same way.

    Parameters
    ----------
    content
        The bytes of ``records/<key>.json`` in a raw archive.

    Returns
    -------
    str
        Hex digest, comparable with the manifest's entry of ``raw/records/<key>.json``.
    """
    canonical = json.dumps(json.loads(content), sort_keys=True, indent=1, ensure_ascii=False).encode()
    return hashlib.sha256(canonical).hexdigest()


def archive_as_of(root: Path) -> dt.date | None:
    """The snapshot date a raw archive stands for (``as_of.json``), or None."""
    try:
        return dt.date.fromisoformat(json.loads((Path(root) / "as_of.json").read_text())["as_of"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def archive_keys(root: Path) -> dict[str, list[str]]:
    """Request keys of every record in a raw archive, by source (records read, blobs not).

    Parameters
    ----------
    root
        A raw archive (``records/<key>.json``).

    Returns
    -------
    dict
        ``{source: [key, ...]}``; a record that is not readable JSON is listed under the source ``""``.
    """
    out: dict[str, list[str]] = {}
    folder = Path(root) / "records"
    if not folder.is_dir():
        return out
    for path in sorted(folder.glob("*.json")):
        try:
            source = str(json.loads(path.read_bytes()).get("source", ""))
        except (OSError, ValueError, AttributeError):
            source = ""
        out.setdefault(source, []).append(path.stem)
    return out


# -- the snapshot ---------------------------------------------------------------------------------
def _read_manifest(snapshot: Path) -> tuple[dict[str, Any] | None, str | None]:
    path = snapshot / MANIFEST
    try:
        document = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None, f"no published snapshot at {snapshot}"
    except (OSError, ValueError) as exc:
        return None, f"{path} is not readable JSON ({exc})"
    if not isinstance(document, dict):
        return None, f"{path} is not a JSON object"
    return document, None


def _manifest_problem(manifest: Mapping[str, Any], date: dt.date) -> str | None:
    if manifest.get("format") != MANIFEST_FORMAT:
        return f"manifest format {manifest.get('format')!r}, expected {MANIFEST_FORMAT!r}"
    if manifest.get("snapshot") != date.isoformat():
        return f"manifest is for {manifest.get('snapshot')!r}, not {date.isoformat()}"
    for name, kind in (("files", dict), ("sources", dict), ("code_version", str)):
        if not isinstance(manifest.get(name), kind):
            return f"manifest has no valid {name!r}"
    return None


def _previous_problem(output_root: Path, snapshot: Path, manifest: Mapping[str, Any], date: dt.date) -> str | None:
    dates = published_dates(output_root)
    link, newest = Path(output_root) / LATEST, f"{SNAPSHOTS}/{dates[-1].isoformat()}" if dates else None
    if newest is not None and (not link.is_symlink() or os.readlink(link) != newest):
        # a publication interrupted between its rename and the switch of latest: the rebuild repairs it
        return f"{link} does not point at {newest}"
    earlier = [d for d in dates if d < date]
    previous = earlier[-1].isoformat() if earlier else None
    if previous != manifest.get("previous_snapshot"):
        return f"previous snapshot is now {previous}, the snapshot was built on {manifest.get('previous_snapshot')}"
    if previous is not None:
        then = (Path(output_root) / SNAPSHOTS / previous / MANIFEST).stat().st_mtime_ns
        if then > (snapshot / MANIFEST).stat().st_mtime_ns:
            return f"previous snapshot {previous} was replaced after this one was published"
    return None


def check_inputs(
    output_root: Path,
    date: dt.date,
    inputs: Mapping[str, tuple[Path, Iterable[str]]],
    *,
    environ: Mapping[str, str] | None = None,
    code_root: Path | None = CODE_ROOT,
    public_base_url: str | None = None,
) -> Verdict:
    """Whether the published snapshot of ``date`` is exactly what these raw inputs would rebuild.

    Parameters
    ----------
    output_root
        The publish root (``--output``).
    date
        The snapshot date.
    inputs
        Per harvested source: the raw archive holding its records and the request keys the harvest
        parses (the CLI: every record of the replay archive; the pipeline: the keys it fetched).
    environ
        Environment giving the options (default ``os.environ``).
    code_root
        Project root whose :data:`CODE_DIRS` must hash to the manifest's ``code_digest``; ``None`` skips that rule
        (only for callers that vouch for the code themselves, e.g. tests of the other rules).
    public_base_url
        The public base URL of this run (``--public-base-url``, already checked): it is written into
        every DataLink ``access_url``, so a snapshot written with another one is not unchanged.

    Returns
    -------
    Verdict
        ``unchanged`` only when every rule of the module docstring holds; otherwise the first
        difference found.
    """
    output_root = Path(output_root)
    snapshot = output_root / SNAPSHOTS / date.isoformat()
    manifest, problem = _read_manifest(snapshot)
    if manifest is None:
        return Verdict(False, snapshot, problem or "no manifest")

    def changed(reason: str) -> Verdict:
        return Verdict(False, snapshot, reason, manifest)

    problem = _manifest_problem(manifest, date)
    if problem is not None:
        return changed(problem)
    version = code_version()
    if manifest["code_version"] != version:
        return changed(f"code version {version}, the snapshot was written by {manifest['code_version']}")
    digest = None if code_root is None else code_digest(code_root)
    if digest is not None and manifest.get("code_digest") != digest:
        then = manifest.get("code_digest")
        return changed(
            f"code changed since the snapshot was written (code digest {digest[:12]}, the snapshot's "
            f"{then[:12] if isinstance(then, str) else 'not recorded'})"
        )
    try:
        wanted = effective_options(environ)
    except ValueError as exc:
        return changed(f"options unreadable: {exc}")
    problem = options_difference(wanted, recorded_options(snapshot, manifest))
    if problem is not None:
        return changed(problem)
    then = (manifest.get("datalink") or {}).get("public_base_url")
    if (public_base_url or None) != (then or None):
        return changed(f"public base URL {public_base_url!r}, the snapshot has {then!r}")
    problem = _previous_problem(output_root, snapshot, manifest, date)
    if problem is not None:
        return changed(problem)
    recorded: dict[str, Any] = manifest["sources"]
    if sorted(recorded) != sorted(inputs):
        return changed(f"sources {sorted(inputs)}, the snapshot has {sorted(recorded)}")
    files: dict[str, Any] = manifest["files"]
    count = 0
    for name, (root, keys) in sorted(inputs.items()):
        info = recorded[name]
        if (
            not isinstance(info, Mapping)
            or info.get("carried_over_from")
            or not isinstance(info.get("responses"), list)
        ):
            return changed(f"{name}: not harvested into the snapshot (carried over or no responses recorded)")
        then = sorted(str(r.get("key")) for r in info["responses"] if isinstance(r, Mapping))
        now = sorted(keys)
        if then != now:
            return changed(f"{name}: requests {len(now)} ({_first_diff(now, then)}), the snapshot parsed {len(then)}")
        for key in now:
            problem = _record_problem(Path(root), name, key, files)
            if problem is not None:
                return changed(problem)
        count += len(now)
    reason = f"raw inputs byte-identical to its manifest's ({count} responses of {len(inputs)} sources)"
    return Verdict(True, snapshot, reason, manifest)


def _first_diff(now: list[str], then: list[str]) -> str:
    extra, missing = sorted(set(now) - set(then)), sorted(set(then) - set(now))
    return f"new {extra[0][:12]}" if extra else f"missing {missing[0][:12]}"


def _record_problem(root: Path, source: str, key: str, files: Mapping[str, Any]) -> str | None:
    path = root / "records" / f"{key}.json"
    entry = files.get(f"raw/records/{key}.json")
    if not isinstance(entry, Mapping):
        return f"{source}: record {key[:12]} is not in the snapshot's raw/"
    try:
        content = path.read_bytes()
        same = hashlib.sha256(content).hexdigest() == entry.get("sha256") or record_digest(content) == entry.get(
            "sha256"
        )
        record = json.loads(content)
    except (OSError, ValueError) as exc:
        return f"{source}: record {path} unreadable ({exc})"
    what = f"{source}/{record.get('name', key[:12])}" if isinstance(record, dict) else source
    if not same:
        return f"{what}: raw record {path} differs from the snapshot's (bytes, status, headers or fetch time)"
    sha = record.get("sha256")
    if record.get("error") is None and isinstance(sha, str):
        blob = root / "blobs" / sha[:2] / sha
        try:
            actual = sha256_file(blob)
        except OSError as exc:
            return f"{what}: blob {blob} unreadable ({exc})"
        if actual != sha:
            return f"{what}: blob {blob} does not hash to its address (SHA-256 {actual})"
    return None


def check_replay(
    output_root: Path,
    archive: Path,
    as_of: dt.date | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    code_root: Path | None = CODE_ROOT,
    public_base_url: str | None = None,
) -> Verdict | None:
    """The unchanged check of ``voharvest harvest --replay ARCHIVE`` (every source, every record of it).

    Parameters
    ----------
    output_root
        The publish root.
    archive
        The replay archive (or a past date's ``raw_archive/<date>``).
    as_of
        The date asked for (``--as-of``); ``None``: the archive's own.
    environ
        Environment giving the options (default ``os.environ``).
    code_root, public_base_url
        As for :func:`check_inputs`.

    Returns
    -------
    Verdict or None
        ``None`` when the check does not apply (the archive records no date, or another date than
        ``as_of``: the harvest reports that itself).
    """
    held = archive_as_of(archive)
    if held is None or (as_of is not None and as_of != held):
        return None
    inputs = {source: (Path(archive), keys) for source, keys in archive_keys(archive).items()}
    return check_inputs(
        output_root, held, inputs, environ=environ, code_root=code_root, public_base_url=public_base_url
    )


def inputs_from_provenance(
    sources: Mapping[str, Mapping[str, Any]], key: Callable[[Mapping[str, Any]], str]
) -> dict[str, tuple[Path, list[str]]] | None:
    """The inputs of :func:`check_inputs` from the pipeline's provenance (``sources`` of ``out/ivoa/provenance``).

    Parameters
    ----------
    sources
        Per source the harvest's metadata: ``archive`` (raw archive root) and ``requests`` (request
        descriptions); carried-over sources have no ``requests``.
    key
        The request key of one request description (``request_from_json(r).key`` in the pipeline).

    Returns
    -------
    dict or None
        ``{source: (archive, keys)}``; ``None`` when a source was carried over (the run rebuilds).
    """
    out: dict[str, tuple[Path, list[str]]] = {}
    for name, meta in sources.items():
        if "requests" not in meta or "archive" not in meta:
            return None
        out[name] = (Path(meta["archive"]), [key(r) for r in meta["requests"]])
    return out


# -- the closing report ---------------------------------------------------------------------------
def facility_rows(path: Path) -> dict[str, int]:
    """Rows per ``facility_name`` of a Parquet table (reads one column; empty without it or unreadable)."""
    import pyarrow.parquet as pq  # a reader only: ~0.5 s, still far below Dagster's import

    counts: dict[str, int] = {}
    try:
        parquet = pq.ParquetFile(path)
        if "facility_name" not in parquet.schema_arrow.names:
            return {}
        # batches, not read_table: a whole table with pandas metadata makes pyarrow import pandas (~0.5 s)
        for batch in parquet.iter_batches(columns=["facility_name"]):
            for count in batch.column(0).value_counts().to_pylist():
                counts[str(count["values"])] = counts.get(str(count["values"]), 0) + int(count["counts"])
    except (OSError, ValueError):
        return {}
    return dict(sorted(counts.items()))


def summary_lines(verdict: Verdict, *, facilities: bool = True) -> list[str]:
    """The harvest's closing report for an unchanged snapshot (the shape of :func:`models.snapshot.snapshot_summary`).

    Parameters
    ----------
    verdict
        An ``unchanged`` verdict of :func:`check_inputs` / :func:`check_replay`.
    facilities
        Count rows per facility from the Parquet tables (imports ``pyarrow.parquet``).

    Returns
    -------
    list of str
        Snapshot line (path, "unchanged" and why), rows per table (and facility), the changes the
        snapshot recorded against its previous one, the landing page.
    """
    manifest = verdict.manifest or {}
    path = verdict.snapshot.resolve()
    lines = [f"snapshot {manifest.get('snapshot', path.name)}: {path} (unchanged: {verdict.reason}; nothing rebuilt)"]
    tables = manifest.get("tables")
    for table, entry in sorted(tables.items() if isinstance(tables, dict) else []):
        if table == "changes" or not isinstance(entry, Mapping):
            continue
        parquet = path / f"{table}.parquet"
        per = facility_rows(parquet) if facilities and parquet.is_file() else {}
        detail = f" ({', '.join(f'{name} {n}' for name, n in per.items())})" if per else ""
        lines.append(f"  {table}: {entry.get('rows', 0)} rows{detail}")
    previous = manifest.get("previous_snapshot")
    raw = manifest.get("changes")
    counts = {str(k): int(v) for k, v in raw.items() if isinstance(v, int)} if isinstance(raw, dict) else {}
    listed = ", ".join(f"{k} {v}" for k, v in counts.items() if v)
    if previous is None:
        lines.append(f"  changes: first snapshot ({listed or 'no rows'})")
    elif not listed:
        lines.append(f"  unchanged since {previous}")
    else:
        lines.append(f"  changes since {previous}: {listed}")
    landing = path / "index.html"
    if landing.is_file():
        lines.append(f"  landing page: {landing}")
    return lines
