"""X-ray ObsCore rows of a day: the previous snapshot's rows reused, only versions new today built.

``models.compose.xray_obscore`` takes the ObsCore and obscore_hea rows of performed X-ray observations
whose version is older than the harvest from the previous snapshot and builds the others; the tables
must be the ones building everything gives (``models.hea.xray_performed_to_obscore``), row for row.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.arrow import conform
from models.compose import _order, xray_obscore
from models.hea import xray_performed_to_obscore
from models.tables import OBSCORE, OBSCORE_HEA

AS_OF = 60923.0


def _obsplan() -> pd.DataFrame:
    n = 12
    t_min = 60900.0 + np.arange(n)
    frame = pd.DataFrame(
        {
            "obs_id": [f"{30000000000 + i:011d}" for i in range(n)],  # NuSTAR's 11-digit sequence ids
            "obs_collection": "NuSTAR",
            "facility_name": ["NuSTAR"] * (n - 2) + ["ESO-VLT", "ESO-VLT"],  # not X-ray: never in ObsCore here
            "instrument_name": "FPMA/FPMB",
            "target_name": [f"target {i}" for i in range(n)],
            "s_ra": 10.0 + np.arange(n),
            "s_dec": -5.0,
            "s_fov": 0.2,
            "s_region": [f"CIRCLE ICRS {10.0 + i} -5.0 0.1" for i in range(n)],
            "t_min": t_min,
            "t_max": t_min + 0.5,
            "t_exptime": 20e3,
            "em_min": 1.57e-11,
            "em_max": 4.13e-10,
            "execution_status": ["Performed"] * 8 + ["Scheduled"] * 4,
            # rows 0-4 unchanged since an earlier harvest, 5-7 performed versions written today
            "t_planning": [AS_OF - 3.0] * 5 + [AS_OF] * 3 + [AS_OF - 3.0] * 4,
        }
    )
    return frame


def _same(a: dict[str, pd.DataFrame], b: dict[str, pd.DataFrame]) -> None:
    for name, spec in (("obscore", OBSCORE), ("obscore_hea", OBSCORE_HEA)):
        assert conform(_order(a[name], name), spec).equals(conform(_order(b[name], name), spec)), name


def test_rows_of_older_versions_come_from_the_previous_snapshot() -> None:
    obsplan = _obsplan()
    everything = xray_performed_to_obscore(obsplan)
    assert len(everything["obscore"]) == 8  # performed NuSTAR rows only
    # the previous snapshot holds rows 0-4 (and one of a row performed today, which is rebuilt)
    previous = {name: frame.iloc[:6].copy() for name, frame in everything.items()}
    marker = previous["obscore"]["target_name"].astype(object).to_numpy(copy=True)
    marker[:5] = "from the previous snapshot"
    previous["obscore"]["target_name"] = marker
    out = xray_obscore(obsplan, AS_OF, previous)
    assert len(out["obscore"]) == 8 and len(out["obscore_hea"]) == 8
    taken = out["obscore"].set_index("obs_id")["target_name"]
    assert (taken[obsplan["obs_id"].iloc[:5]] == "from the previous snapshot").all()  # reused as they were
    assert (taken[obsplan["obs_id"].iloc[5:8]] == obsplan["target_name"].iloc[5:8].to_numpy()).all()  # built
    previous = {name: frame.iloc[:5] for name, frame in everything.items()}
    _same(xray_obscore(obsplan, AS_OF, previous), everything)


def test_missing_previous_rows_build_everything() -> None:
    obsplan = _obsplan()
    everything = xray_performed_to_obscore(obsplan)
    previous = {name: frame.iloc[1:4] for name, frame in everything.items()}  # row 0 missing: a gap
    _same(xray_obscore(obsplan, AS_OF, previous), everything)
    _same(xray_obscore(obsplan, AS_OF, None), everything)
