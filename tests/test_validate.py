"""Every validation rule, each with a failing and a passing frame."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models import OBSCORE, OBSPLAN
from models.validate import CODES, validate

#: h*c in eV*m (CODATA 2018 exact-based), written here so the NuSTAR band edges are computed
#: independently of models.units: lambda = hc / E.
HC_EV_M = 1.239841984e-6
NUSTAR_EM = (HC_EV_M / 79e3, HC_EV_M / 3e3)


def good_obsplan() -> pd.DataFrame:
    """Three valid rows taken from the real NuSTAR 2017 schedule rows (sources.md).

    ``t_planning`` 58037.5 (2017-10-15 12:00 UTC) is after every row's end, as it must be for the
    Performed row; the band is NuSTAR's 3-79 keV exactly.
    """
    return pd.DataFrame(
        {
            "t_planning": [58037.5, 58037.5, 58037.5],
            "target_name": ["Kepler", "GRS 1915+105", "Sol_17282_AR2683_POS11"],
            "obs_id": ["90201021006", "30302020004", "90311211001"],
            "obs_collection": ["NuSTAR", "NuSTAR", "NuSTAR"],
            "s_ra": [262.671620, 288.79813, 195.15715],
            "s_dec": [-21.491957, 10.94578, -6.38520],
            "s_fov": [0.2, 0.2, 0.2],
            "s_region": ["Circle ICRS 262.671620 -21.491957 0.1"] * 3,
            "s_resolution": [18.0, 18.0, 18.0],
            "t_min": [58034.795, 58036.889, 58036.049],
            "t_max": [58036.021, 58037.347, 58036.111],
            "t_exptime": [60600.0, 21900.0, 3400.0],
            "t_resolution": [np.nan] * 3,
            "em_min": [NUSTAR_EM[0]] * 3,
            "em_max": [NUSTAR_EM[1]] * 3,
            "em_res_power": [np.nan] * 3,
            "o_ucd": [None] * 3,
            "pol_states": [None] * 3,
            "pol_xel": pd.array([pd.NA] * 3, dtype="Int32"),
            "facility_name": ["NuSTAR"] * 3,
            "instrument_name": ["FPMA/FPMB"] * 3,
            "t_plan_exptime": [60600.0, 21900.0, 3400.0],
            "category": ["Other", "Coordinated", "Other"],
            "priority": [2, 2, 2],
            "execution_status": ["Scheduled", "Scheduled", "Performed"],
            "tracking_type": ["Sidereal", "Sidereal", "Solar-system-object-tracking"],
        }
    )


def codes(frame: pd.DataFrame, spec=OBSPLAN) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for v in validate(frame, spec):
        out.setdefault(v.code, set()).add(v.column)
    return out


def test_valid_frame_has_no_violations() -> None:
    assert validate(good_obsplan(), OBSPLAN) == []


def test_missing_mandatory_column() -> None:
    assert codes(good_obsplan().drop(columns="tracking_type")) == {"missing-column": {"tracking_type"}}


def test_datatype_violation_names_rows() -> None:
    f = good_obsplan()
    f["s_ra"] = f["s_ra"].astype(object)
    f.loc[1, "s_ra"] = "17:45:40"
    found = validate(f, OBSPLAN)
    assert [(v.code, v.column, v.rows) for v in found] == [("datatype", "s_ra", (1,))]
    assert "ivoa.obsplan.s_ra" in found[0].message and "rows [1]" in found[0].message


def test_int_column_rejects_fractions() -> None:
    f = good_obsplan()
    f["priority"] = [2.0, 1.5, 0.0]
    assert ("datatype", (1,)) in [(v.code, v.rows) for v in validate(f, OBSPLAN) if v.column == "priority"]


def test_not_null() -> None:
    f = good_obsplan()
    f.loc[2, "obs_id"] = None
    f.loc[0, "facility_name"] = None
    assert codes(f) == {"not-null": {"obs_id", "facility_name"}}


@pytest.mark.parametrize("column", ["t_min", "t_max", "t_exptime"])
def test_times_required_when_scheduled_or_performed(column: str) -> None:
    f = good_obsplan()
    f.loc[[0, 2], column] = np.nan
    found = [v for v in validate(f, OBSPLAN) if v.code == "not-null-if-scheduled-or-performed"]
    assert [(v.column, v.rows) for v in found] == [(column, (0, 2))]


def test_times_may_be_null_when_planned_or_unscheduled() -> None:
    f = good_obsplan()
    f["execution_status"] = ["Planned", "Unscheduled", "Aborted"]
    f[["t_min", "t_max", "t_exptime"]] = np.nan
    assert validate(f, OBSPLAN) == []


@pytest.mark.parametrize(
    ("column", "bad"),
    [
        ("category", "coordinated"),
        ("execution_status", "Archived"),
        ("tracking_type", "sidereal"),
        ("priority", 3),
    ],
)
def test_vocabularies_are_exact(column: str, bad: object) -> None:
    f = good_obsplan()
    f[column] = f[column].astype(object)
    f.loc[1, column] = bad
    found = validate(f, OBSPLAN)
    assert [(v.code, v.column, v.rows) for v in found] == [("vocabulary", column, (1,))]


@pytest.mark.parametrize(
    ("column", "bad"),
    [("s_ra", 360.0), ("s_ra", -0.1), ("s_dec", 90.5), ("s_fov", 0.0), ("t_exptime", -1.0), ("em_min", 0.0)],
)
def test_ranges(column: str, bad: float) -> None:
    f = good_obsplan()
    f.loc[0, column] = bad
    found = [v for v in validate(f, OBSPLAN) if v.code == "range"]
    assert [(v.column, v.rows) for v in found] == [(column, (0,))]


def test_range_limits_are_inclusive_where_the_standard_says() -> None:
    f = good_obsplan()
    f.loc[0, "s_ra"] = 0.0
    f.loc[1, "s_dec"] = -90.0
    f.loc[2, "t_exptime"] = 0.0
    assert validate(f, OBSPLAN) == []


def test_t_min_after_t_max_and_em_order() -> None:
    f = good_obsplan()
    f.loc[1, "t_min"] = f.loc[1, "t_max"] + 1
    f.loc[2, ["em_min", "em_max"]] = [4e-10, 2e-11]  # swapped, both inside NuSTAR's band
    found = {(v.code, v.column, v.rows) for v in validate(f, OBSPLAN)}
    assert found == {("order", "t_min,t_max", (1,)), ("order", "em_min,em_max", (2,))}


def test_unique_collection_and_obs_id_in_obsplan() -> None:
    f = good_obsplan()
    f.loc[2, "obs_id"] = f.loc[0, "obs_id"]
    found = validate(f, OBSPLAN)
    assert [(v.code, v.column, v.rows) for v in found] == [("unique", "obs_collection,obs_id", (0, 2))]


def test_unique_publisher_did_in_obscore() -> None:
    f = pd.DataFrame(
        {
            "calib_level": [2, 2],
            "obs_collection": ["HESS-DL3-DR1"] * 2,
            "obs_id": ["23523", "23526"],
            "obs_publisher_did": ["ivo://voharvest/HESS-DL3-DR1?23523"] * 2,
        }
    )
    found = [v for v in validate(f, OBSCORE) if v.code == "unique"]
    assert [(v.column, v.rows) for v in found] == [("obs_publisher_did", (0, 1))]
    f.loc[1, "obs_publisher_did"] = "ivo://voharvest/HESS-DL3-DR1?23526"
    assert [v for v in validate(f, OBSCORE) if v.code == "unique"] == []


def test_every_code_is_exercised_here() -> None:
    """Guard: a new rule needs a test in this module or in test_plausibility (the facility rules)."""
    import inspect
    import sys

    from tests import test_plausibility

    source = inspect.getsource(sys.modules[__name__]) + inspect.getsource(test_plausibility)
    assert all(f'"{code}"' in source for code in CODES)
