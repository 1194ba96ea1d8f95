"""The joint question: which facilities *can* observe a position in a time range, and which already *plan* to.

Visibility comes from :func:`models.visibility.visibility` for each facility; plans from the snapshot's
``obsplan`` rows whose footprint contains or meets the position and whose ``[t_min, t_max]`` overlaps
the range (:func:`models.lookup.lookup`, ``INTERSECTS(s_region, CIRCLE(...))`` semantics). A facility the
models cannot answer for (a TLE too far from the range) is reported with the reason, not dropped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from models.orbits import PropagationError
from models.visibility import FACILITIES, VisibilityError, visibility

#: ``facility_name`` values the sources publish in obsplan (models/facilities.py), per visibility facility.
PUBLISHED_NAME = {
    "XMM-Newton": "XMM-Newton",
    "NuSTAR": "NuSTAR",
    "INTEGRAL": "INTEGRAL",
    "VLT": "ESO-VLT",
    "VLTI": "ESO-VLTI",
    "APEX": "APEX",
}

COLUMNS = ("facility", "can_observe", "windows", "visible_s", "first_start", "planned", "planned_obs_ids", "note")


def joint(
    snapshot: Path | Mapping[str, pd.DataFrame],
    ra: str | float,
    dec: str | float,
    start: str | float,
    end: str | float,
    *,
    facilities: Sequence[str] = FACILITIES,
    radius_deg: float = 1.0 / 60.0,
    min_vis: float = 0.0,
) -> pd.DataFrame:
    """One row per facility: visibility in [start, end] and the obsplan rows planned there.

    Parameters
    ----------
    snapshot : Path or mapping
        Snapshot directory (``output/latest``) or frames by table name (needs ``obsplan``).
    ra, dec : str or float
        Position (degrees or sexagesimal).
    start, end : str or float
        ISO 8601 UTC or UTC MJD.
    facilities : sequence of str
        Facilities to ask (default all).
    radius_deg : float
        Search radius for planned footprints (default 1 arcmin, as ``voharvest lookup``).
    min_vis : float
        Minimum window length, s.

    Returns
    -------
    pandas.DataFrame
        :data:`COLUMNS`; ``can_observe`` is None when the model could not answer (``note`` says why).
    """
    from models.lookup import lookup

    plans = lookup(snapshot, ra=ra, dec=dec, radius_deg=radius_deg, start=start, end=end, tables=("obsplan",))
    rows = []
    for name in facilities:
        planned = plans[plans["facility_name"] == PUBLISHED_NAME.get(name, name)]
        ids = ", ".join(planned["obs_id"].astype(str).tolist())
        try:
            result = visibility(name, ra, dec, start, end, min_vis=min_vis)
        except (VisibilityError, PropagationError) as exc:
            rows.append((name, None, 0, 0.0, np.nan, len(planned), ids, str(exc)))
            continue
        note = result.infos.get("FACILITY_STATUS", "") or (
            f"TLE epoch {result.infos['TLE_EPOCH']}" if "TLE_EPOCH" in result.infos else ""
        )
        first = float(result.starts[0]) if result.starts.size else np.nan
        rows.append(
            (
                name,
                bool(result.starts.size),
                int(result.starts.size),
                float(result.durations_s.sum()),
                first,
                len(planned),
                ids,
                note,
            )
        )
    return pd.DataFrame(rows, columns=list(COLUMNS))
