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

from models.arrow import empty_frame
from models.hea import xray_performed_to_obscore
from models.history import SOURCE_COLUMN, reconcile
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
    if not by or frame.empty:
        return frame.reset_index(drop=True)
    return frame.sort_values(by, kind="stable", na_position="last").reset_index(drop=True)


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


def compose(
    harvested: Mapping[str, Mapping[str, pd.DataFrame]],
    previous_history: pd.DataFrame | None,
    carried: Mapping[str, pd.DataFrame] | None,
    snapshot_date: dt.date,
    as_of_mjd: float,
) -> dict[str, pd.DataFrame]:
    """All tables of a snapshot.

    Parameters
    ----------
    harvested
        Frames returned by each harvested source's ``normalise``, by source name.
    previous_history
        ``obsplan_history`` of the previous snapshot (``None`` for the first one).
    carried
        ObsCore rows of sources not harvested in this run (:func:`carry_over`), or ``None``.
    snapshot_date, as_of_mjd
        Snapshot date and as-of time (MJD UTC): the ``t_planning`` of new versions.

    Returns
    -------
    dict
        ``obsplan``, ``obsplan_history``, ``changes``, ``obscore``, ``obscore_radio``, ``obscore_hea``.
    """
    plans = [f["obsplan"].assign(**{SOURCE_COLUMN: name}) for name, f in harvested.items() if "obsplan" in f]
    current = _union(plans, ["obs_id", "obs_collection", SOURCE_COLUMN])
    result = reconcile(current, previous_history, snapshot_date, as_of_mjd, harvested_sources=list(harvested))
    xray = xray_performed_to_obscore(result.obsplan)
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
