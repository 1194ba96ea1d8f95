"""The IVOA layer of a snapshot: the sources' frames united, reconciled with history, completed.

Pure: frames in, frames out. ``obsplan`` goes through :func:`models.history.reconcile`; ObsCore
rows come from the sources, from performed X-ray observations (:mod:`models.hea`) and, for sources
not harvested in this run, from the previous snapshot (so a one-source run does not drop the
others' rows).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from models.arrow import empty_frame, text_array
from models.columns import TableSpec
from models.hea import XRAY_ARCHIVES, xray_performed_to_obscore
from models.history import SOURCE_COLUMN, reconcile
from models.identifiers import publisher_did, publisher_did_array
from models.rows import (
    is_ascending,
    lower_bounds,
    match_positions,
    order_keys,
    sort_order,
    sorted_by,
    strictly_ascending,
    take_few,
    take_from,
)
from models.tables import OBSCORE, OBSCORE_HEA, OBSCORE_RADIO

#: ObsCore tables and their sort keys.
OBSCORE_TABLES = {"obscore": OBSCORE, "obscore_radio": OBSCORE_RADIO, "obscore_hea": OBSCORE_HEA}
#: Tables a source's ``normalise`` may return.
SOURCE_TABLES = ("obsplan", *OBSCORE_TABLES)
_DID = "obs_publisher_did"


def _union(frames: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    kept = [f for f in frames if len(f)]
    if not kept:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    return pd.concat(kept, ignore_index=True, sort=False)


def _sort_keys(name: str, columns: Collection[str]) -> list[str]:
    """The columns an ObsCore table is ordered by (those present)."""
    by = ["obs_collection", "obs_id", _DID] if name == "obscore" else [_DID]
    return [c for c in by if c in columns]


def _order(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    return sorted_by(frame, _sort_keys(name, frame.columns))


def source_collections(frames: Mapping[str, pd.DataFrame]) -> list[str]:
    """``obs_collection`` values of a source's own ObsCore rows (recorded for later carry-over)."""
    obscore = frames.get("obscore")
    if obscore is None or obscore.empty or "obs_collection" not in obscore.columns:
        return []
    return sorted(obscore["obs_collection"].dropna().astype(str).unique().tolist())


def carry_over(previous: Mapping[str, pd.DataFrame], collections: list[str]) -> dict[str, pd.DataFrame]:
    """Previous snapshot's ObsCore rows of ``collections`` and their extension rows."""
    obscore = previous.get("obscore", empty_frame(OBSCORE))
    rows = obscore[obscore["obs_collection"].isin(collections)]
    dids = rows[_DID]
    out = {"obscore": rows.reset_index(drop=True)}
    for name in ("obscore_radio", "obscore_hea"):
        ext = previous.get(name, empty_frame(OBSCORE_TABLES[name]))
        out[name] = ext[ext[_DID].isin(dids)].reset_index(drop=True)
    return out


#: :func:`_merged_order` merges when the rows besides the large frame's are at most this fraction of them.
_MERGE_FRACTION = 1 / 16

#: A part of an ObsCore table before it is assembled: a frame and the positions of its rows taken (``None``: all).
_Piece = tuple[pd.DataFrame, "np.ndarray | None"]


def xray_obscore(
    obsplan: pd.DataFrame, as_of_mjd: float, previous: Mapping[str, pd.DataFrame] | None = None
) -> dict[str, pd.DataFrame]:
    """ObsCore and obscore_hea rows of the performed X-ray observations, built only for versions new today.

    :func:`models.hea.xray_performed_to_obscore` is a function of the obsplan row alone; a row whose
    current version is older than this harvest (``t_planning`` before ``as_of_mjd``) had the same
    version in the previous snapshot, so its derived rows are the previous snapshot's (matched by
    ``obs_publisher_did``). When any of them is missing there, everything is built.

    Parameters
    ----------
    obsplan
        The reconciled obsplan (current versions).
    as_of_mjd
        This harvest's as-of time (the ``t_planning`` of versions written now).
    previous
        The previous snapshot's ``obscore`` and ``obscore_hea`` frames, written by the same code version
        (the caller checks the manifest's ``code_version``); ``None`` builds every row.

    Returns
    -------
    dict
        ``obscore`` and ``obscore_hea`` frames.
    """
    pieces = _xray_pieces(obsplan, as_of_mjd, previous)
    out = {}
    for name, parts in pieces.items():
        frames = [f if rows is None else f.iloc[rows] for f, rows in parts]
        out[name] = frames[0] if len(frames) == 1 else _union(frames, [_DID])
    return out


def _xray_pieces(
    obsplan: pd.DataFrame, as_of_mjd: float, previous: Mapping[str, pd.DataFrame] | None
) -> dict[str, list[_Piece]]:
    """:func:`xray_obscore` before assembly: the rows built today, then the previous frame with the rows kept.

    The previous snapshot's tables (hundreds of thousands of rows) are not filtered and concatenated
    here: :func:`compose` takes every piece of a table once, in its final order (:func:`_assemble`).
    """

    def all_built_today() -> dict[str, list[_Piece]]:
        return {name: [(frame, None)] for name, frame in xray_performed_to_obscore(obsplan).items()}

    if previous is None or previous.get("obscore") is None or previous.get("obscore_hea") is None:
        return all_built_today()
    t_planning = pd.to_numeric(obsplan["t_planning"], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    performed = (obsplan["execution_status"] == "Performed").to_numpy(dtype=bool, na_value=False)
    xray = obsplan["facility_name"].isin(list(XRAY_ARCHIVES)).to_numpy(dtype=bool, na_value=False)
    old = performed & xray & (t_planning < as_of_mjd)
    if not old.any():
        return all_built_today()
    rows = np.flatnonzero(old)  # only the three columns the identifier needs are taken, not the whole rows
    dids = _old_dids(obsplan, rows)
    ascending = is_ascending(dids)  # in key order, as the previous tables are written: distinct
    unique = ascending or len(pc.unique(dids)) == len(dids)
    kept: dict[str, _Piece] = {}
    for name in ("obscore", "obscore_hea"):
        frame = previous[name]
        present = pa.array(frame[_DID], type=pa.string(), from_pandas=True)
        if ascending and is_ascending(present):  # both in order: walked along, not hashed
            at = match_positions(dids, present, sorted_values=True)
            missing = bool((at < 0).any())
            taken = None if len(at) == len(present) else at  # ascending: the previous rows with these identifiers
        else:
            mask = np.asarray(pc.is_in(present, value_set=dids).to_numpy(zero_copy_only=False), dtype=bool)
            missing = int(mask.sum()) != len(dids)
            taken = None if mask.all() else np.flatnonzero(mask)
        if missing or not unique:
            return all_built_today()  # not all there: build all
        kept[name] = (frame, taken)  # every previous row kept: no copy
    # what xray_performed_to_obscore would select among the other rows: performed X-ray rows new today
    built = xray_performed_to_obscore(take_few(obsplan, np.flatnonzero(performed & xray & ~old)))
    return {name: [(built[name], None), kept[name]] for name in kept}


def _old_dids(obsplan: pd.DataFrame, rows: np.ndarray) -> pa.Array:
    """``obs_publisher_did`` of the obsplan rows ``rows`` (one Arrow string array), as the X-ray rows name them.

    The identifier of :func:`models.identifiers.publisher_did` (collection, or the facility where it is
    NULL), joined by Arrow's kernels when the three columns are text: no Python string per row.
    Other columns go through :func:`~models.identifiers.publisher_did`.
    """
    take = pa.array(rows, type=pa.int64())
    obs_id = text_array(obsplan["obs_id"])
    collection = text_array(obsplan["obs_collection"], nulls=True)
    facility = text_array(obsplan["facility_name"], nulls=True)
    if obs_id is None or collection is None or facility is None:
        collection = obsplan["obs_collection"].iloc[rows]
        collection = collection.where(collection.notna(), obsplan["facility_name"].iloc[rows]).astype(object)
        ids = obsplan["obs_id"].iloc[rows].astype(str)
        return pa.array(publisher_did(collection, ids), type=pa.string(), from_pandas=True)
    return publisher_did_array(pc.coalesce(collection.take(take), facility.take(take)), obs_id.take(take))


def _merged_order(frames: list[pd.DataFrame], rows: list[np.ndarray | None], by: list[str]) -> np.ndarray | None:
    """:func:`models.rows.sort_order` of the rows taken (``rows`` of each of ``frames``, united), by merging.

    A table is mostly one large frame already in key order (the previous snapshot's rows kept) and a
    few other rows (built today, harvested, carried over). When that frame's keys are strictly
    ascending (checked), only the few rows are sorted, and each is placed by binary search: before
    the large frame's rows of an equal key when its frame comes first in the union, after them
    otherwise (the stable sort's tie order). ``None`` when this does not apply (then sort).

    Parameters
    ----------
    frames
        The pieces' frames, in union order.
    rows
        The positions taken in each (``None``: all), ascending.
    by
        Key columns, present in every frame.

    Returns
    -------
    numpy.ndarray or None
        Positions into the rows taken (concatenated in union order), in key order.
    """
    counts = [len(f) if r is None else len(r) for f, r in zip(frames, rows, strict=True)]
    big = int(np.argmax(counts))
    n_big, n = counts[big], sum(counts)
    n_small = n - n_big
    if n_big < 2 or n_small > n_big * _MERGE_FRACTION:
        return None
    big_rows = rows[big]
    if big_rows is not None and (len(big_rows) > 1 and not bool(np.all(np.diff(big_rows) > 0))):
        return None
    big_keys = order_keys(frames[big], by)
    if big_keys is None or not strictly_ascending(big_keys):
        return None
    offsets = np.cumsum([0, *counts])
    if not n_small:
        return np.arange(n, dtype=np.int64)
    small = [i for i in range(len(frames)) if i != big and counts[i]]
    keys = pd.concat(
        [frames[i][by] if rows[i] is None else frames[i][by].iloc[rows[i]] for i in small], ignore_index=True
    )
    source = np.concatenate([np.arange(offsets[i], offsets[i + 1], dtype=np.int64) for i in small])
    after = np.concatenate([np.full(counts[i], i > big) for i in small])
    own = sort_order(keys, by)
    if own is not None:
        keys, source, after = keys.take(own).reset_index(drop=True), source[own], after[own]
    small_keys = order_keys(keys, by)
    if small_keys is None or [k.type for k in small_keys] != [k.type for k in big_keys]:
        return None
    bounds, found = lower_bounds(big_keys, small_keys)
    bounds = bounds + (after & found)  # a row after the large frame in the union goes after its equal key
    if big_rows is not None:
        bounds = np.searchsorted(big_rows, bounds, side="left")  # among the rows taken
    if len(bounds) > 1 and bool(np.any(np.diff(bounds) < 0)):
        return None
    order = np.empty(n, dtype=np.int64)
    order[bounds + np.arange(n_small, dtype=np.int64)] = source
    at = np.arange(n_big, dtype=np.int64)
    order[at + np.searchsorted(bounds, at, side="right")] = offsets[big] + at
    return order


def _assemble(pieces: list[_Piece], name: str, spec: TableSpec) -> pd.DataFrame:
    """``_order(_union([the rows of each piece]), name)`` with one take instead of a copy per step.

    The order of the rows taken is found without uniting the pieces: the few rows besides the previous
    snapshot's (already in key order) are merged among them (:func:`_merged_order`; otherwise the key
    columns alone are united and sorted), and the table is taken once in that order from the pieces
    themselves (:func:`models.rows.take_from`: by slices, the previous rows being runs in their
    published order). At a million rows the previous snapshot's X-ray ObsCore rows are neither united
    with today's nor sorted again: they are copied once, into the table.

    Parameters
    ----------
    pieces
        The table's parts in union order (harvested rows, X-ray rows built today, the previous rows kept,
        carried-over rows), each with the positions of its rows taken (``None``: all).
    name
        The ObsCore table (names its sort keys, as :func:`_order`).
    spec
        Its spec (an empty table when no piece has a row).

    Returns
    -------
    pandas.DataFrame
        The table, on a fresh ``RangeIndex``.
    """
    pieces = [(f, rows) for f, rows in pieces if len(f) and (rows is None or len(rows))]
    if not pieces:
        return empty_frame(spec)
    frames = [f for f, _ in pieces]
    starts = np.cumsum([0] + [len(f) for f in frames])
    taken = [
        np.arange(start, start + len(f), dtype=np.int64) if rows is None else start + np.asarray(rows, dtype=np.int64)
        for (f, rows), start in zip(pieces, starts, strict=False)
    ]
    positions = np.concatenate(taken)
    present = [c for f in frames for c in _sort_keys(name, f.columns)]
    by = _sort_keys(name, present)
    if by and len(positions) > 1:
        order = None
        if all(c in f.columns for f in frames for c in by):  # no key missing from a piece (NULL in the union)
            order = _merged_order(frames, [rows for _, rows in pieces], by)
        if order is None:  # the same keys in the same order as the frame _order sorts
            keys = take_from([f[[c for c in by if c in f.columns]] for f in frames], positions)[by]
            order = sort_order(keys, by)
        if order is not None:
            positions = positions[order]
    return take_from(frames, positions)  # every piece sliced once: the previous rows in runs, no union first


def compose(
    harvested: Mapping[str, Mapping[str, pd.DataFrame]],
    previous_history: pd.DataFrame | None,
    carried: Mapping[str, pd.DataFrame] | None,
    snapshot_date: dt.date,
    as_of_mjd: float,
    *,
    previous_obscore: Mapping[str, pd.DataFrame] | None = None,
) -> dict[str, pd.DataFrame]:
    """All tables of a snapshot.

    Parameters
    ----------
    harvested
        Frames returned by each harvested source's ``normalise``, by source name.
    previous_history
        ``obsplan_history`` of the previous snapshot (``None`` for the first one): its current versions
        are enough (:func:`models.history_store.read_previous_history`); closed versions given are passed through.
    carried
        ObsCore rows of sources not harvested in this run (:func:`carry_over`), or ``None``.
    snapshot_date, as_of_mjd
        Snapshot date and as-of time (MJD UTC): the ``t_planning`` of new versions.
    previous_obscore
        The previous snapshot's ObsCore frames when it was written by this code version: the X-ray
        ObsCore rows of unchanged performed observations are taken from there (:func:`xray_obscore`).

    Returns
    -------
    dict
        ``obsplan``, ``obsplan_history``, ``changes``, ``obscore``, ``obscore_radio``, ``obscore_hea``;
        ``obsplan_history.attrs["reconcile_counts"]`` holds :attr:`models.history.Reconciled.counts`.
    """
    plans = [f["obsplan"].assign(**{SOURCE_COLUMN: name}) for name, f in harvested.items() if "obsplan" in f]
    current = _union(plans, ["obs_id", "obs_collection", SOURCE_COLUMN])
    result = reconcile(current, previous_history, snapshot_date, as_of_mjd, harvested_sources=list(harvested))
    del plans, current  # the union of today's rows: not kept alive next to the reconciled frames
    xray = _xray_pieces(result.obsplan, as_of_mjd, previous_obscore)
    result.history.attrs["reconcile_counts"] = dict(result.counts)  # what reconcile touched (counts)
    out: dict[str, pd.DataFrame] = {
        "obsplan": result.obsplan,
        "obsplan_history": result.history,
        "changes": result.changes,
    }
    for name, spec in OBSCORE_TABLES.items():
        pieces: list[_Piece] = [(f[name], None) for f in harvested.values() if name in f]
        pieces += xray.get(name, [])
        old = (carried or {}).get(name)
        if old is not None and len(old):
            fresh = [f if rows is None else f.iloc[rows] for f, rows in pieces if len(f)]
            fresh = [f for f in fresh if len(f)]
            if any(_DID in f.columns for f in fresh):  # the rows carried over are those no fresh row replaces
                dids = pd.concat([f.reindex(columns=[_DID]) for f in fresh], ignore_index=True)[_DID]
                pieces.append((old, np.flatnonzero(~old[_DID].isin(dids).to_numpy())))
            else:
                pieces.append((old, None))
        out[name] = _assemble(pieces, name, spec)
    return out


def as_of_mjd(as_of_values: list[float]) -> float:
    """The snapshot's as-of time: the latest of the harvested sources' as-of times."""
    if not as_of_values:
        raise ValueError("no harvested source: nothing to publish")
    return float(np.max(as_of_values))
