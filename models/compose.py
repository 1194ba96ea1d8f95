"""The IVOA layer of a snapshot: the sources' frames united, reconciled with history, completed.

Pure: frames in, frames out. ``obsplan`` goes through :func:`models.history.reconcile`; ObsCore
rows come from the sources, from performed X-ray observations (:mod:`models.hea`) and, for sources
not harvested in this run, from the previous snapshot (so a one-source run does not drop the
others' rows).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from models.arrow import empty_frame
from models.hea import XRAY_ARCHIVES, xray_performed_to_obscore
from models.history import SOURCE_COLUMN, reconcile, sort_order
from models.identifiers import publisher_did
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


def _order(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    by = ["obs_collection", "obs_id", _DID] if name == "obscore" else [_DID]
    by = [c for c in by if c in frame.columns]
    order = sort_order(frame, by) if by and not frame.empty else None  # Arrow's sort; None: already in order
    return frame.reset_index(drop=True) if order is None else frame.take(order).reset_index(drop=True)


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
    if previous is None or previous.get("obscore") is None or previous.get("obscore_hea") is None:
        return xray_performed_to_obscore(obsplan)
    t_planning = pd.to_numeric(obsplan["t_planning"], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    performed = (obsplan["execution_status"] == "Performed").to_numpy(dtype=bool, na_value=False)
    xray = obsplan["facility_name"].isin(list(XRAY_ARCHIVES)).to_numpy(dtype=bool, na_value=False)
    old = performed & xray & (t_planning < as_of_mjd)
    if not old.any():
        return xray_performed_to_obscore(obsplan)
    rows = np.flatnonzero(old)  # only the three columns the identifier needs are taken, not the whole rows
    collection = obsplan["obs_collection"].iloc[rows]
    collection = collection.where(collection.notna(), obsplan["facility_name"].iloc[rows]).astype(object)
    dids = pa.array(
        publisher_did(collection, obsplan["obs_id"].iloc[rows].astype(str)), type=pa.string(), from_pandas=True
    )
    unique = len(pc.unique(dids)) == len(dids)
    kept = {}
    for name in ("obscore", "obscore_hea"):
        frame = previous[name]
        present = pa.array(frame[_DID], type=pa.string(), from_pandas=True)
        mask = np.asarray(pc.is_in(present, value_set=dids).to_numpy(zero_copy_only=False), dtype=bool)
        if int(mask.sum()) != len(dids) or not unique:
            return xray_performed_to_obscore(obsplan)  # not all there (another code version, a gap): build all
        kept[name] = frame if mask.all() else frame[mask]  # every previous row kept: no copy
    # what xray_performed_to_obscore would select among the other rows: performed X-ray rows new today
    built = xray_performed_to_obscore(obsplan.loc[performed & xray & ~old])
    return {name: _union([built[name], kept[name]], [_DID]) for name in kept}


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
    xray = xray_obscore(result.obsplan, as_of_mjd, previous_obscore)
    result.history.attrs["reconcile_counts"] = dict(result.counts)  # what reconcile touched (counts)
    out: dict[str, pd.DataFrame] = {
        "obsplan": result.obsplan,
        "obsplan_history": result.history,
        "changes": result.changes,
    }
    for name, spec in OBSCORE_TABLES.items():
        fresh = _union([f[name] for f in harvested.values() if name in f] + [xray.get(name, empty_frame(spec))], [_DID])
        old = (carried or {}).get(name)
        if old is not None and len(old):
            old = old[~old[_DID].isin(fresh[_DID])] if _DID in fresh.columns else old
            fresh = _union([fresh, old], [_DID])
        if fresh.empty:
            fresh = empty_frame(spec)
        out[name] = _order(fresh, name)
    return out


def as_of_mjd(as_of_values: list[float]) -> float:
    """The snapshot's as-of time: the latest of the harvested sources' as-of times."""
    if not as_of_values:
        raise ValueError("no harvested source: nothing to publish")
    return float(np.max(as_of_values))
