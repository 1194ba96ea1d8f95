"""Stale plans: observations still ``Planned`` or ``Scheduled`` long after their window ended.

Some schedule pages keep listing what was once allocated: ESO's run lists carry a 2015 APEX run as
allocated, and a look-ahead schedule's last known state of an observation that rolled off it is
``Scheduled`` forever. Published as is, such a row tells an ObsLocTAP client that something ten years
ago may still happen. ObsLocTAP 1.0 (section 3.1) lets a planned observation become ``Unscheduled``
("removed from the schedule; may return to Planned") with a new ``t_planning``; that is the rule here:

* an observation is **stale** when its ``execution_status`` is ``Planned`` or ``Scheduled`` and its
  window ended (``t_max``) more than :data:`STALE_AFTER_DAYS` days before the as-of time;
* a stale observation is published as ``Unscheduled``; the plan history records the new version with
  ``x_change = "expired"`` and the changelog lists it under ``expired``, so a client polling
  ``t_planning`` learns of it once, and a source that later reports it performed moves it on again.

Thirty days is longer than any lag seen between an observation and its source reporting it performed
(NuSTAR's as-flown list and XMM-Newton's revolution pages follow within days; ESO periods are six
months, so an ESO run expires a month after its period ended). A row without ``t_max`` never expires.
Pure: no clock, the as-of time is passed in.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Days after the end of its window at which an unperformed open observation is stale.
STALE_AFTER_DAYS = 30.0
#: Statuses that still promise an observation.
OPEN_STATUSES: tuple[str, ...] = ("Planned", "Scheduled")
#: Status given to stale observations.
EXPIRED_STATUS = "Unscheduled"


def stale_mask(frame: pd.DataFrame, as_of_mjd: float, *, after_days: float = STALE_AFTER_DAYS) -> np.ndarray:
    """Which rows of an obsplan-like frame are stale at ``as_of_mjd``.

    Parameters
    ----------
    frame
        Rows with ``execution_status`` and ``t_max`` (MJD, UTC; NULL allowed).
    as_of_mjd
        The harvest's as-of time (MJD, UTC): never the clock, so a replay gives the same answer.
    after_days
        Grace period after ``t_max`` (days).

    Returns
    -------
    numpy.ndarray
        Boolean mask, one entry per row; ``False`` where ``t_max`` is NULL.
    """
    if not len(frame):
        return np.zeros(0, dtype=bool)
    t_max = pd.to_numeric(frame["t_max"], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    open_status = frame["execution_status"].isin(OPEN_STATUSES).to_numpy()
    with np.errstate(invalid="ignore"):
        ended = t_max < as_of_mjd - after_days
    return open_status & ended


def expire(frame: pd.DataFrame, as_of_mjd: float, *, after_days: float = STALE_AFTER_DAYS) -> pd.DataFrame:
    """A copy of ``frame`` with its stale rows marked ``Unscheduled`` (other columns untouched).

    Parameters
    ----------
    frame
        This harvest's obsplan rows (before reconciliation with the history).
    as_of_mjd
        The harvest's as-of time (MJD, UTC).
    after_days
        Grace period after ``t_max`` (days).

    Returns
    -------
    pandas.DataFrame
        The frame, stale rows' ``execution_status`` set to :data:`EXPIRED_STATUS`.
    """
    mask = stale_mask(frame, as_of_mjd, after_days=after_days)
    if not mask.any():
        return frame
    out = frame.copy()
    status = out["execution_status"].astype(object).to_numpy(copy=True)
    status[mask] = EXPIRED_STATUS
    out["execution_status"] = status
    return out
