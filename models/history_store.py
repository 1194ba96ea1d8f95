"""Where ``voharvest.obsplan_history`` lives in a snapshot: immutable parts plus the current versions.

The history only grows, but a day changes a handful of observations. Rewriting one history file a
day would make every publication cost the whole past; so the history of a snapshot is split into

* ``history/obsplan_history-<YYYY-MM-DD>.parquet`` -- the versions **closed** by the snapshot of that
  date (superseded by a newer version or withdrawn): rows whose ``x_valid_to`` is that snapshot's
  as-of time. Once closed, a version never changes again, so a part is written once, by the
  snapshot of its date, and every later snapshot holds the same file as a hard link (a copy where
  links cannot be made): its bytes, SHA-256 and validation carry over without being read;
* ``history/obsplan_history-current.parquet`` -- the **current** version of every observation
  (``x_valid_to`` NULL): ``ivoa.obsplan`` plus the version bookkeeping. It is what the next day is
  reconciled against (:func:`models.history.reconcile` compares today's rows with these, never with
  the whole past) and it is rewritten only when a version changes (else linked like a part).

Why parts of *closed* versions and not of the versions *created* each day: ``x_valid_to`` (the
``t_planning`` of the next version) is unknown when a version is created; a part of new versions
would have to be rewritten when they are superseded, or leave ``x_valid_to`` wrong in the file. Here
every row on disk is final, so any Parquet reader of ``history/*.parquet`` (DuckDB
``read_parquet('history/*.parquet')``, ``pyarrow.dataset``) sees the complete, correct history, and the
query of the spec (the plan valid at MJD T: ``t_planning <= T AND (x_valid_to IS NULL OR x_valid_to > T)``)
works on the union. A snapshot directory stays complete and self-contained: deleting an older
snapshot keeps the linked bytes.

Snapshots written before this layout have one ``obsplan_history.parquet`` (every version); the
readers here accept both.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from models.arrow import arrow_schema, conform, to_frame
from models.durable import link_or_copy
from models.parquet import write_parquet
from models.rows import take_rows
from models.tables.history import OBSPLAN_HISTORY

#: Table name of the history in a snapshot's manifest.
HISTORY_TABLE = "obsplan_history"
#: Folder of the history parts in a snapshot.
HISTORY_DIR = "history"
#: The current versions (rewritten when a version changes).
CURRENT_PART = f"{HISTORY_DIR}/{HISTORY_TABLE}-current.parquet"
#: The single history file of snapshots written before the parts existed.
LEGACY_FILE = f"{HISTORY_TABLE}.parquet"


def closed_part(date: dt.date | str) -> str:
    """Relative path of the part holding the versions closed by the snapshot of ``date``."""
    text = date.isoformat() if isinstance(date, dt.date) else str(date)
    return f"{HISTORY_DIR}/{HISTORY_TABLE}-{text}.parquet"


def history_files(snapshot_dir: Path, manifest: Mapping[str, Any] | None = None) -> list[str]:
    """The history files of a snapshot (relative paths): its parts, or the legacy single file.

    Parameters
    ----------
    snapshot_dir
        A snapshot (published or staged).
    manifest
        Its manifest, if already read (the files listed for ``obsplan_history`` win over a listing).

    Returns
    -------
    list of str
        Sorted relative posix paths; empty when the snapshot has no history.
    """
    snapshot_dir = Path(snapshot_dir)
    entry = ((manifest or {}).get("tables") or {}).get(HISTORY_TABLE)
    if isinstance(entry, dict) and isinstance(entry.get("files"), list):
        return sorted(str(f) for f in entry["files"])
    folder = snapshot_dir / HISTORY_DIR
    if folder.is_dir():
        return sorted(p.relative_to(snapshot_dir).as_posix() for p in folder.glob(f"{HISTORY_TABLE}-*.parquet"))
    return [LEGACY_FILE] if (snapshot_dir / LEGACY_FILE).is_file() else []


def read_history(
    snapshot_dir: Path, columns: list[str] | None = None, *, manifest: Mapping[str, Any] | None = None
) -> pa.Table:
    """Every version of every observation of a snapshot as one Arrow table (all parts, one dataset).

    The reader for everything that needs the whole history (``voharvest validate``, the TAP load,
    provenance): parts are read as one ``pyarrow.dataset`` with the spec's schema, so the result has
    the same schema as the single file of older snapshots. Sorted by ``(obs_collection, obs_id,
    x_version)``.

    Parameters
    ----------
    snapshot_dir
        A snapshot directory.
    columns
        Columns to read (default: all).
    manifest
        Its manifest, if already read.

    Returns
    -------
    pyarrow.Table
        The history (zero rows when the snapshot has none).
    """
    schema = arrow_schema(OBSPLAN_HISTORY)
    files = [str(Path(snapshot_dir) / f) for f in history_files(snapshot_dir, manifest)]
    if not files:
        table = schema.empty_table()
        return table.select(columns) if columns else table
    table = ds.dataset(files, schema=schema, format="parquet").to_table(columns=columns)
    keys = [k for k in ("obs_collection", "obs_id", "x_version") if k in table.column_names]
    if keys and table.num_rows:
        table = table.sort_by([(k, "ascending") for k in keys])
    return table


def read_previous_history(snapshot_dir: Path | None) -> pd.DataFrame | None:
    """What the next day is reconciled against: the current versions of a snapshot (a frame).

    For a snapshot with parts, only ``history/obsplan_history-current.parquet`` is read (the closed
    parts never take part in a reconciliation). For an older snapshot with one history file, that
    whole file (its closed versions then go into the next snapshot's first part).

    Parameters
    ----------
    snapshot_dir
        The previous snapshot, or ``None``.

    Returns
    -------
    pandas.DataFrame or None
        ``obsplan_history`` columns; ``None`` when there is no previous history.
    """
    if snapshot_dir is None:
        return None
    snapshot_dir = Path(snapshot_dir)
    for rel in (CURRENT_PART, LEGACY_FILE):
        if (snapshot_dir / rel).is_file():
            return to_frame(pq.read_table(snapshot_dir / rel))
    return None


@dataclass
class HistoryWritten:
    """Outcome of :func:`write_history`: the manifest entry and what was reused."""

    entry: dict[str, Any]
    #: Manifest file entries (size, sha256) of every history file, reused or computed while writing.
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Files linked (or copied) from the previous snapshot unchanged: validated there already.
    reused: list[str] = field(default_factory=list)
    #: Rows written now, per file (the day's closed part and, if it changed, the current part).
    written_rows: dict[str, int] = field(default_factory=dict)


def _previous_parts(previous: Path | None, manifest: Mapping[str, Any] | None) -> list[str]:
    if previous is None:
        return []
    return [f for f in history_files(previous, manifest) if f != CURRENT_PART and f != LEGACY_FILE]


def write_history(
    stage: Path,
    history: pd.DataFrame,
    date: dt.date,
    previous: Path | None = None,
    previous_manifest: Mapping[str, Any] | None = None,
    *,
    sha256: Any = None,
) -> HistoryWritten:
    """Write a snapshot's history as parts (module notes), linking what the previous snapshot holds.

    Parameters
    ----------
    stage
        The snapshot being staged.
    history
        The reconciled history (:attr:`models.history.Reconciled.history`): the current versions and
        the closed ones; closed versions already in a part of the previous snapshot (``x_valid_to`` at
        or before its as-of time) are not written again.
    date
        The snapshot date (names the part of the versions closed now).
    previous, previous_manifest
        The previous snapshot and its manifest (``None`` for the first snapshot).
    sha256
        ``sha256(path) -> str`` used to hash the files written (default :func:`models.snapshot.sha256_file`).

    Returns
    -------
    HistoryWritten
        The manifest entry (``files`` lists every part, ``parts`` their rows) and the file entries.
    """
    from models.snapshot import sha256_file

    hash_file = sha256 or sha256_file
    stage = Path(stage)
    (stage / HISTORY_DIR).mkdir(exist_ok=True)
    prev_files = ((previous_manifest or {}).get("files") or {}) if previous is not None else {}
    prev_entry = ((previous_manifest or {}).get("tables") or {}).get(HISTORY_TABLE) or {}
    prev_rows = prev_entry.get("parts") or {}
    out = HistoryWritten(entry={})
    parts: dict[str, int] = {}

    # 1. the previous snapshot's closed parts: immutable, linked with their manifest entries.
    linked = _previous_parts(previous, previous_manifest)
    for rel in linked:
        link_or_copy(previous / rel, stage / rel)
        size = (stage / rel).stat().st_size
        known = prev_files.get(rel)
        out.files[rel] = (
            {"size": size, "sha256": known["sha256"]}
            if known and known.get("size") == size
            else {"size": size, "sha256": hash_file(stage / rel)}
        )
        parts[rel] = int(prev_rows[rel]) if rel in prev_rows else pq.read_metadata(stage / rel).num_rows
        out.reused.append(rel)

    # 2. versions closed now: not in a linked part (an older single-file history is taken whole).
    valid_to = pd.to_numeric(history["x_valid_to"], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    is_current = np.isnan(valid_to)
    closed = ~is_current
    prev_as_of = (previous_manifest or {}).get("as_of_mjd")
    if linked and isinstance(prev_as_of, int | float):
        closed &= valid_to > float(prev_as_of)
    # Each part's rows are taken by slices of the frame (a day's history is the previous rows with a
    # few inserted: text columns shared, not gathered) and conformed once: the bytes of conforming
    # ``history.loc[mask]``, without the million current rows copied twice.
    if closed.any():
        rel = closed_part(date)
        write_parquet(
            conform(take_rows(history, np.flatnonzero(closed)), OBSPLAN_HISTORY), OBSPLAN_HISTORY, stage / rel
        )
        out.files[rel] = {"size": (stage / rel).stat().st_size, "sha256": hash_file(stage / rel)}
        parts[rel] = int(closed.sum())
        out.written_rows[rel] = parts[rel]

    # 3. the current versions: written, then linked instead when the bytes are the previous ones.
    current = conform(take_rows(history, np.flatnonzero(is_current)), OBSPLAN_HISTORY)
    rel = CURRENT_PART
    write_parquet(current, OBSPLAN_HISTORY, stage / rel)
    entry = {"size": (stage / rel).stat().st_size, "sha256": hash_file(stage / rel)}
    known = prev_files.get(rel)
    if previous is not None and known == entry and (previous / rel).is_file():
        (stage / rel).unlink()
        link_or_copy(previous / rel, stage / rel)
        out.reused.append(rel)
    else:
        out.written_rows[rel] = current.num_rows
    out.files[rel] = entry
    parts[rel] = current.num_rows

    out.entry = {
        "table": OBSPLAN_HISTORY.qualified_name,
        "rows": int(sum(parts.values())),
        "files": sorted(parts),
        "parts": dict(sorted(parts.items())),
    }
    return out
