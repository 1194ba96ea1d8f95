"""Plan history: honest t_planning, withdrawals, carry-over rules and the changelog.

Rows are the four real NuSTAR short-range rows of September 2025 (tests/data/history), turned into
obsplan rows with the model helpers; later "days" are derived from them in code.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from models.history import HistoryError, change_counts, changes_document, diff_obsplan, reconcile
from models.regions import circle_stcs
from models.tables import CHANGES, OBSPLAN, OBSPLAN_HISTORY
from models.timeutil import mjd_from_doy
from models.units import kev_band_to_em
from models.validate import validate

DAY1, DAY2, DAY3 = dt.date(2025, 9, 4), dt.date(2025, 9, 5), dt.date(2025, 9, 6)
T1, T2, T3 = 60922.0, 60923.0, 60924.0  # as-of MJDs (midnight UTC of each day)
ABELL, ESO353, XMMJ, HD = "71001002005", "60061013002", "31101012004", "31101005002"


@pytest.fixture
def plan(data_dir) -> pd.DataFrame:
    raw = pd.read_csv(data_dir / "history" / "short_range_rows_2025-09_pandas.csv", dtype={"sequenceID": str})
    em_min, em_max = kev_band_to_em(3.0, 79.0)
    return pd.DataFrame(
        {
            "target_name": raw["Name"],
            "obs_id": raw["sequenceID"],
            "obs_collection": "NuSTAR",
            "s_ra": raw["J2000 RA"],
            "s_dec": raw["J2000 Dec"],
            "s_fov": 0.2,
            "s_region": circle_stcs(raw["J2000 RA"], raw["J2000 Dec"], 0.1),
            "t_min": mjd_from_doy(raw["obs_start"]),
            "t_max": mjd_from_doy(raw["obs_end"]),
            "t_exptime": raw["Exp"] * 1e3,
            "t_plan_exptime": raw["Exp"] * 1e3,
            "em_min": em_min,
            "em_max": em_max,
            "facility_name": "NuSTAR",
            "instrument_name": "FPMA/FPMB",
            "category": "Other",
            "priority": 1,
            "execution_status": "Scheduled",
            "tracking_type": "Sidereal",
            "x_source": "nustar",
        }
    )


def _by_id(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.set_index("obs_id")


def test_first_snapshot_adds_everything(plan: pd.DataFrame) -> None:
    r = reconcile(plan, None, DAY1, T1)
    assert sorted(r.obsplan["obs_id"]) == sorted(plan["obs_id"])
    assert (r.obsplan["t_planning"] == T1).all()
    assert r.obsplan.columns.tolist() == OBSPLAN.names
    assert r.history.columns.tolist() == OBSPLAN_HISTORY.names
    assert (r.history["x_version"] == 1).all() and r.history["x_valid_to"].isna().all()
    assert change_counts(r.changes) == {
        "added": 4,
        "withdrawn": 0,
        "expired": 0,
        "moved": 0,
        "exposure_changed": 0,
        "status_changed": 0,
        "modified": 0,
    }
    for frame, spec in ((r.obsplan, OBSPLAN), (r.history, OBSPLAN_HISTORY), (r.changes, CHANGES)):
        assert validate(frame, spec) == []


def test_unchanged_rows_keep_t_planning_despite_float_noise(plan: pd.DataFrame) -> None:
    day1 = reconcile(plan, None, DAY1, T1)
    noisy = plan.assign(t_min=plan["t_min"] + 1e-9, s_ra=plan["s_ra"] + 1e-9, t_exptime=plan["t_exptime"] + 1e-6)
    day2 = reconcile(noisy, day1.history, DAY2, T2)
    assert (day2.obsplan["t_planning"] == T1).all()
    assert day2.changes.empty
    # unchanged rows are carried exactly as first published
    pd.testing.assert_frame_equal(day2.obsplan, day1.obsplan)


def test_changes_make_new_versions_and_a_changelog(plan: pd.DataFrame) -> None:
    day1 = reconcile(plan, None, DAY1, T1)
    p2 = plan[plan["obs_id"] != ESO353].copy()
    p2.loc[p2["obs_id"] == XMMJ, "t_min"] += 2 / 24  # moved by two hours
    p2.loc[p2["obs_id"] == HD, "t_plan_exptime"] = 100_000.0  # exposure changed
    p2.loc[p2["obs_id"] == HD, "target_name"] = "HD 45166"  # and renamed
    day2 = reconcile(p2, day1.history, DAY2, T2)
    now = _by_id(day2.obsplan)
    assert now.loc[ABELL, "t_planning"] == T1
    assert now.loc[XMMJ, "t_planning"] == T2
    assert now.loc[HD, "t_planning"] == T2
    assert (now.loc[ESO353, "execution_status"], now.loc[ESO353, "t_planning"]) == ("Unscheduled", T2)
    got = sorted(zip(day2.changes["x_change"], day2.changes["obs_id"], strict=True))
    assert got == [("exposure_changed", HD), ("modified", HD), ("moved", XMMJ), ("withdrawn", ESO353)]
    moved = day2.changes.set_index("x_change").loc["moved"]
    assert moved["x_delta_t_min"] == pytest.approx(7200.0, abs=1e-3)
    assert moved["x_changed_fields"] == "t_min"
    hd = day2.changes[day2.changes["obs_id"] == HD].iloc[0]
    assert hd["x_changed_fields"] == "target_name,t_plan_exptime"
    assert (hd["x_prev_t_plan_exptime"], hd["t_plan_exptime"]) == (123_500.0, 100_000.0)
    hist = day2.history[day2.history["obs_id"] == XMMJ]
    assert hist["x_version"].tolist() == [1, 2]
    assert hist["x_valid_to"].iloc[0] == T2 and np.isnan(hist["x_valid_to"].iloc[1])
    assert hist["x_change"].tolist() == ["added", "changed"]
    assert len(day2.history) == 4 + 3
    for frame, spec in ((day2.obsplan, OBSPLAN), (day2.history, OBSPLAN_HISTORY), (day2.changes, CHANGES)):
        assert validate(frame, spec) == []


def test_withdrawn_then_back_is_a_status_change(plan: pd.DataFrame) -> None:
    day1 = reconcile(plan, None, DAY1, T1)
    day2 = reconcile(plan[plan["obs_id"] != ESO353], day1.history, DAY2, T2)
    day3 = reconcile(plan, day2.history, DAY3, T3)
    now = _by_id(day3.obsplan)
    assert (now.loc[ESO353, "execution_status"], now.loc[ESO353, "t_planning"]) == ("Scheduled", T3)
    assert day3.changes[["x_change", "obs_id"]].values.tolist() == [["status_changed", ESO353]]
    assert day3.history.loc[day3.history["obs_id"] == ESO353, "x_version"].tolist() == [1, 2, 3]


def test_absent_rows_that_are_history_are_carried_over(plan: pd.DataFrame) -> None:
    performed = plan.assign(execution_status=np.where(plan["obs_id"] == ABELL, "Performed", "Scheduled"))
    day1 = reconcile(performed, None, DAY1, T1)
    late = mjd_from_doy(["2025:257:12:00:00"])[0]  # after ESO353's window (ends DOY 257 03:50)
    day2 = reconcile(plan[plan["obs_id"].isin([XMMJ, HD])], day1.history, DAY2, late)
    now = _by_id(day2.obsplan)
    # Performed row vanishing: history, not a withdrawal; ESO353 rolled off after its window ended
    assert (now.loc[ABELL, "execution_status"], now.loc[ABELL, "t_planning"]) == ("Performed", T1)
    assert (now.loc[ESO353, "execution_status"], now.loc[ESO353, "t_planning"]) == ("Scheduled", T1)
    assert day2.changes.empty


def test_only_harvested_sources_withdraw(plan: pd.DataFrame) -> None:
    xmm = plan.iloc[:1].assign(obs_id="0811026701", obs_collection="XMM-Newton", x_source="xmm_newton")
    day1 = reconcile(pd.concat([plan, xmm], ignore_index=True), None, DAY1, T1)
    day2 = reconcile(plan, day1.history, DAY2, T2, harvested_sources=["nustar"])
    kept = _by_id(day2.obsplan).loc["0811026701"]
    assert (kept["execution_status"], kept["t_planning"]) == ("Scheduled", T1)
    assert day2.changes.empty
    day2_all = reconcile(plan, day1.history, DAY2, T2, harvested_sources=["nustar", "xmm_newton"])
    assert _by_id(day2_all.obsplan).loc["0811026701", "execution_status"] == "Unscheduled"


def test_bad_inputs_are_refused(plan: pd.DataFrame) -> None:
    with pytest.raises(HistoryError, match=r"not unique: \['NuSTAR/71001002005'\]"):
        reconcile(pd.concat([plan, plan.iloc[:1]]), None, DAY1, T1)
    with pytest.raises(HistoryError, match="lacks \\['x_source'\\]"):
        reconcile(plan.drop(columns="x_source"), None, DAY1, T1)
    day2 = reconcile(plan, None, DAY2, T2)
    with pytest.raises(HistoryError, match="t_planning after this as-of"):
        reconcile(plan, day2.history, DAY1, T1)


def test_changes_document_and_diff(plan: pd.DataFrame) -> None:
    day1 = reconcile(plan, None, DAY1, T1)
    day2 = reconcile(plan[plan["obs_id"] != ESO353], day1.history, DAY2, T2)
    doc = changes_document(day2.changes, DAY2, "2025-09-04", T2)
    assert doc["counts"]["withdrawn"] == 1 and doc["previous_snapshot"] == "2025-09-04"
    (row,) = doc["changes"]
    assert row["obs_id"] == ESO353 and row["t_exptime"] == 23_800.0 and row["x_delta_t_min"] == 0.0
    assert row["target_name"] == "ESO353_G009"
    diff = diff_obsplan(day1.obsplan, day2.obsplan)
    assert diff == {"added": [], "removed": [], "changed": [f"NuSTAR/{ESO353}: t_planning,execution_status"]}


def test_stale_plans_expire_once_present_or_absent(plan: pd.DataFrame) -> None:
    # Real NuSTAR rows of 2025-09 (windows end DOY 246..259); ask 31 and 45 days after each as-of date.
    t_max = _by_id(plan)["t_max"]
    day1 = reconcile(plan, None, DAY1, T1)
    assert set(day1.obsplan["execution_status"]) == {"Scheduled"}  # nothing ended 30 d before 2025-09-04
    # 30 d + 1 h after ABELL's window ended, before HD's: only rows whose t_max < as-of - 30 d expire
    later = float(t_max[ABELL]) + 30.0 + 1.0 / 24.0
    expected = sorted(t_max.index[t_max.to_numpy() < later - 30.0])
    assert ABELL in expected and HD not in expected
    still_listed = plan[plan["obs_id"] != ABELL]  # ABELL absent from the page; the others still listed
    day2 = reconcile(still_listed, day1.history, DAY2, later)
    now = _by_id(day2.obsplan)
    assert sorted(now.index[now["execution_status"] == "Unscheduled"]) == expected
    assert (now.loc[expected, "t_planning"] == later).all()
    assert sorted(day2.changes["obs_id"]) == expected
    assert set(day2.changes["x_change"]) == {"expired"}  # not also "status_changed", nor "withdrawn"
    new_versions = day2.history[day2.history["x_snapshot"] == DAY2.isoformat()]
    assert set(new_versions["x_change"]) == {"expired"} and day2.counts["expired"] == len(expected)
    # the page keeps listing them as Scheduled the next day: no flip back, no new version
    day3 = reconcile(still_listed, day2.history, DAY3, later + 1.0)
    newly = sorted(set(t_max.index[t_max.to_numpy() < later + 1.0 - 30.0]) - set(expected))
    assert sorted(day3.changes["obs_id"]) == newly and set(day3.changes["x_change"]) <= {"expired"}
    assert (_by_id(day3.obsplan).loc[expected, "t_planning"] == later).all()
    assert validate(day3.history, OBSPLAN_HISTORY) == [] and validate(day2.changes, CHANGES) == []


def test_a_stale_row_reported_performed_moves_on(plan: pd.DataFrame) -> None:
    t_max = float(_by_id(plan).loc[ABELL, "t_max"])
    day1 = reconcile(plan, None, DAY1, T1)
    day2 = reconcile(plan, day1.history, DAY2, t_max + 31.0)
    assert _by_id(day2.obsplan).loc[ABELL, "execution_status"] == "Unscheduled"
    performed = plan.assign(execution_status=np.where(plan["obs_id"] == ABELL, "Performed", "Scheduled"))
    day3 = reconcile(performed, day2.history, DAY3, t_max + 32.0)
    assert _by_id(day3.obsplan).loc[ABELL, "execution_status"] == "Performed"
    assert day3.changes.loc[day3.changes["obs_id"] == ABELL, "x_change"].tolist() == ["status_changed"]
