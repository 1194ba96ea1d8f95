"""ESO source frames -> IVOA frames (``obsplan``, ``obscore``, ``obscore_radio``).

Runs -> ObsLocTAP rows (``obs_id`` = run id): ``Scheduled`` when nights are given, else
``Planned`` spanning the run's period (:mod:`scrapers.eso.periods`). Category and priority
(ObsLocTAP vocabulary: category Fixed/Coordinated/Window/Other; priority 2 = "hard to
re-schedule", 0 = "can be easily shifted"), first matching line wins:

=====================================  ==========  ========  =============================================
observing mode / run type              category    priority  why
=====================================  ==========  ========  =============================================
Visitor                                Fixed       2         nights fixed, the observer travels
Designated visitor                     Fixed       2         nights fixed, executed by ESO staff for the PI
run type containing ToO (``ToO/ToO``)  Other       1         triggered: no fixed time, urgent once triggered
Service                                Other       0         queue, easily shifted
anything else / empty                  Other       1         unknown
=====================================  ==========  ========  =============================================

Combined run types (``Large/GTO``) are kept as written in ``x_eso_run_type``; only the ToO part
changes the mapping. Observations (performed exposures grouped per OB and night) are matched to
runs by programme id and time (:mod:`scrapers.eso.matching`); a past run with matched
observations is replaced by them.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from models import radio
from models.regions import circle_stcs
from models.tables.obscore import OBSCORE
from models.tables.obscore_radio import OBSCORE_RADIO
from models.tables.obsplan import OBSPLAN
from models.timeutil import mjd_from_datetime
from scrapers.base import SourceError
from scrapers.eso.common import MAIN_URL, NAME, SCHED_REP_URL, facility_of, programme_of
from scrapers.eso.matching import exposures, match_runs, observations
from scrapers.eso.periods import period_bounds
from scrapers.eso.schedule import canonical_modes

#: Optical/IR instruments: (em_min m, em_max m, field-of-view diameter deg) from ESO's instrument
#: pages; the diameter is that of the circle enclosing the largest imaging/IFU field (a superset, so
#: cone searches never miss). Interferometric and radio instruments live in ``models.radio``.
OPTICAL_INSTRUMENTS: dict[str, tuple[float, float, float]] = {
    "SINFONI": (1.1e-6, 2.45e-6, 8.0 * 2**0.5 / 3600.0),  # 8" x 8" IFU field
    "MUSE": (465e-9, 930e-9, 60.0 * 2**0.5 / 3600.0),  # 1' x 1' wide-field mode
    "NACO": (1.0e-6, 5.0e-6, 56.0 * 2**0.5 / 3600.0),  # 56" x 56" widest camera
    "HAWKI": (0.85e-6, 2.5e-6, 7.5 * 2**0.5 / 60.0),  # 7.5' x 7.5'
    "FORS2": (330e-9, 1100e-9, 6.8 * 2**0.5 / 60.0),  # 6.8' x 6.8'
    "VIRCAM": (0.83e-6, 2.5e-6, 1.65),  # VISTA's 1.65 deg diameter field
    "OMEGACAM": (330e-9, 1000e-9, 2**0.5),  # VST 1 deg x 1 deg
}


def mode_mapping(mode: pd.Series, run_type: pd.Series | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(category, priority) per the module's table.

    Parameters
    ----------
    mode
        Observing modes (any spelling :func:`scrapers.eso.schedule.canonical_modes` knows).
    run_type
        Run types (``ToO/ToO``, ``Large/GTO``), if known.

    Returns
    -------
    tuple of numpy.ndarray
        ObsLocTAP ``category`` (object) and ``priority`` (int64).
    """
    m = canonical_modes(mode)
    fixed = m.isin(["Visitor", "Designated visitor"]).to_numpy()
    too = np.zeros(len(m), bool)
    if run_type is not None:
        too = (
            run_type.fillna("")
            .astype(str)
            .str.contains(r"(?:^|/)\s*(?:ToO|Target of opportunity)\s*(?:/|$)", case=False)
            .to_numpy()
        )
    service = m.eq("Service").to_numpy()
    category = np.where(fixed, "Fixed", "Other").astype(object)
    priority = np.select([fixed, too, service], [2, 1, 0], default=1).astype("int64")
    return category, priority


def _empty_obsplan(n: int) -> pd.DataFrame:
    cols = [c for c in OBSPLAN.columns if c.name != "t_planning"]
    return pd.DataFrame(
        {c.name: pd.Series([None] * n, dtype="float64" if c.datatype == "double" else object) for c in cols}
    )


def band(instrument: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(em_min, em_max) in metres by instrument (radio/VLTI from models.radio, optical above); NaN if unknown."""
    lo = {**{k: v.em_min for k, v in radio.INSTRUMENTS.items()}, **{k: v[0] for k, v in OPTICAL_INSTRUMENTS.items()}}
    hi = {**{k: v.em_max for k, v in radio.INSTRUMENTS.items()}, **{k: v[1] for k, v in OPTICAL_INSTRUMENTS.items()}}
    return instrument.map(lo).to_numpy(dtype="float64"), instrument.map(hi).to_numpy(dtype="float64")


def fov(instrument: pd.Series) -> np.ndarray:
    """Field-of-view diameter (deg) of optical instruments; NaN if unknown."""
    return instrument.map({k: v[2] for k, v in OPTICAL_INSTRUMENTS.items()}).to_numpy(dtype="float64")


def run_rows(runs: pd.DataFrame) -> pd.DataFrame:
    """ObsLocTAP rows of the schedule runs (Planned, or Scheduled when nights are given).

    Parameters
    ----------
    runs
        Output of :func:`scrapers.eso.schedule.parse_schedule`.

    Returns
    -------
    pandas.DataFrame
        obsplan rows without ``t_planning``, plus ``x_eso_*`` run columns.
    """
    if "period_t_min" in runs:
        p_lo, p_hi = runs["period_t_min"].to_numpy("float64"), runs["period_t_max"].to_numpy("float64")
    else:
        p_lo, p_hi = period_bounds(runs["period"].to_numpy())
    scheduled = runs["n_nights"].to_numpy() > 0
    t_min = np.where(scheduled, runs["night_t_min"], p_lo)
    t_max = np.where(scheduled, runs["night_t_max"], p_hi)
    hours = np.where(runs["alloc_unit"].eq("hours"), runs["alloc_value"] * 3600.0, np.nan)
    plan = np.where(scheduled & np.isnan(hours), (t_max - t_min) * 86400.0, hours)
    facility = facility_of(runs["instrument"], runs["telescope"])
    if facility.isna().any():
        i = int(np.flatnonzero(facility.isna().to_numpy())[0])
        raise SourceError(NAME, SCHED_REP_URL, f"no facility for telescope {runs['telescope'].iloc[i]!r} (row {i})")
    category, priority = mode_mapping(runs["obs_mode"], runs["run_type"])
    em_lo, em_hi = band(runs["instrument"])
    return _empty_obsplan(len(runs)).assign(
        s_fov=fov(runs["instrument"]),
        obs_id=runs["run_id"].to_numpy(),
        obs_collection=facility.to_numpy(),
        facility_name=facility.to_numpy(),
        instrument_name=runs["instrument"].to_numpy(),
        t_min=t_min,
        t_max=t_max,
        t_plan_exptime=plan,
        t_exptime=np.where(scheduled, plan, np.nan),
        em_min=em_lo,
        em_max=em_hi,
        category=category,
        priority=priority,
        execution_status=np.where(scheduled, "Scheduled", "Planned"),
        tracking_type="Sidereal",
        x_eso_run_id=runs["run_id"].to_numpy(),
        x_eso_period=runs["period"].to_numpy(),
        x_eso_obs_mode=runs["obs_mode"].to_numpy(),
        x_eso_run_type=runs["run_type"].to_numpy(),
        x_eso_telescope=runs["telescope"].to_numpy(),
        x_eso_pi=runs["pi"].to_numpy(),
        x_eso_title=runs["title"].to_numpy(),
    )


def _archive_link(obs: pd.DataFrame) -> pd.Series:
    """Raw-archive listing of the observation's exposures (full URL, never truncated)."""
    night = obs["night"].str[:4] + "+" + obs["night"].str[4:6] + "+" + obs["night"].str[6:]
    by_ob = MAIN_URL + "?wdbo=html%2Fdisplay&ob_id=" + obs["ob_id"].astype(str) + "&night=" + night
    by_run = MAIN_URL + "?wdbo=html%2Fdisplay&prog_id=" + obs["run_id"] + "&night=" + night
    return by_ob.where(obs["ob_id"].notna(), by_run)


def _observation_rows(obs: pd.DataFrame, runs: pd.DataFrame) -> tuple[pd.DataFrame, list, list]:
    mode = obs["obs_mode"].astype(object)
    run_type = pd.Series([None] * len(obs), index=obs.index, dtype=object)
    if not runs.empty:
        by_run = runs.drop_duplicates("run_id").set_index("run_id")
        mode = mode.where(obs["matched_run"].isna(), obs["matched_run"].map(by_run["obs_mode"]))
        run_type = obs["matched_run"].map(by_run["run_type"])
    category, priority = mode_mapping(mode, run_type)
    obs["access_url"] = _archive_link(obs)
    radio_obs = obs[obs["instrument_name"].isin(radio.INSTRUMENTS)]
    core_parts, radio_parts = [], []
    geometry = None
    if not radio_obs.empty:
        core, rad = radio.radio_tables(
            radio_obs.assign(
                proposal_id=radio_obs["run_id"],
                access_format="text/html",
                calib_level=1,
                dataproduct_type=np.where(radio_obs["obs_collection"].eq("ESO-VLTI"), "visibility", None).astype(
                    object
                ),
                obs_release_date=radio_obs["release_date"],
            )
        )
        core_parts.append(core)
        radio_parts.append(rad)
        geometry = core.set_index("obs_id")[["s_fov", "s_resolution", "s_region"]]
    em_lo, em_hi = band(obs["instrument_name"])
    rows = _empty_obsplan(len(obs)).assign(
        obs_id=obs["obs_id"],
        obs_collection=obs["obs_collection"],
        facility_name=obs["obs_collection"],
        instrument_name=obs["instrument_name"],
        target_name=obs["target_name"],
        s_ra=obs["s_ra"],
        s_dec=obs["s_dec"],
        t_min=obs["t_min"],
        t_max=obs["t_max"],
        t_exptime=obs["t_exptime"],
        em_min=em_lo,
        em_max=em_hi,
        category=category,
        priority=priority,
        execution_status="Performed",
        tracking_type="Sidereal",
        x_eso_run_id=obs["matched_run"].fillna(obs["run_id"]),
        x_eso_ob_id=obs["ob_id"],
        x_eso_n_exposures=obs["n_exposures"],
    )
    rows["s_fov"] = fov(obs["instrument_name"])
    if geometry is not None:
        for col in ("s_fov", "s_resolution"):
            rows[col] = rows["obs_id"].map(geometry[col]).astype("float64").fillna(rows[col])
        rows["s_region"] = rows["obs_id"].map(geometry["s_region"]).astype(object)
    return rows, core_parts, radio_parts


def _quicklook_rows(ql: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    core, rad = radio.radio_tables(
        pd.DataFrame(
            {
                "obs_id": ql["quicklook_id"],
                "obs_collection": "APEX",
                "instrument_name": ql["instrument"],
                "target_name": None,
                "s_ra": np.nan,
                "s_dec": np.nan,
                "t_min": ql["t_min"],
                "t_max": ql["t_max"],
                "t_exptime": np.nan,
                "proposal_id": ql["run_id"],
                "access_url": ql["access_url"],
                "access_format": "application/x-tar",
                "calib_level": 1,
                "dataproduct_type": None,
                "dataproduct_subtype": "quicklook",
                "obs_title": ql["title"],
                "obs_release_date": ql["release_date"],
                "stations": None,
            }
        )
    )
    core["access_estsize"] = pd.array(ql["access_estsize"].to_numpy(), dtype="Int64")
    return core, rad


def normalise(frames: dict[str, pd.DataFrame], as_of: dt.datetime) -> dict[str, pd.DataFrame]:
    """IVOA frames (``obsplan``, and ``obscore`` + ``obscore_radio`` when VLTI/APEX rows exist).

    Parameters
    ----------
    frames
        Source frames by request name (any subset of the five requests).
    as_of
        Snapshot instant (tz-aware): past runs with matched observations are replaced by them.

    Returns
    -------
    dict
        ``obsplan`` (without ``t_planning``), and ``obscore``/``obscore_radio`` when present.
    """
    if as_of.tzinfo is None:
        raise ValueError("as_of must be a tz-aware UTC datetime")
    as_of_mjd = mjd_from_datetime(as_of)
    runs = frames.get("sched_rep_arc", pd.DataFrame())
    plan_runs = run_rows(runs) if not runs.empty else _empty_obsplan(0)
    exp = exposures(frames)
    obs = observations(exp) if not exp.empty else pd.DataFrame()
    obsplan_parts, core_parts, radio_parts = [], [], []
    if not obs.empty:
        if plan_runs.empty:
            runs_timed = pd.DataFrame(columns=["run_id", "programme_id", "t_min", "t_max"])
        else:
            runs_timed = plan_runs[["x_eso_run_id", "t_min", "t_max"]].rename(columns={"x_eso_run_id": "run_id"})
            runs_timed["programme_id"] = programme_of(runs_timed["run_id"])
        obs["matched_run"] = match_runs(obs, runs_timed)
        rows, core_parts, radio_parts = _observation_rows(obs, runs)
        obsplan_parts.append(rows)
        if not plan_runs.empty:
            done = set(obs.loc[obs["matched_run"].notna(), "matched_run"])
            replaced = plan_runs["x_eso_run_id"].isin(done) & (plan_runs["t_max"] < as_of_mjd)
            plan_runs = plan_runs[~replaced]
    obsplan = pd.concat([plan_runs, *obsplan_parts], ignore_index=True)
    obsplan["s_region"] = obsplan["s_region"].where(
        obsplan["s_region"].notna(), circle_stcs(obsplan["s_ra"], obsplan["s_dec"], obsplan["s_fov"] / 2.0)
    )
    out = {"obsplan": obsplan}
    ql = frames.get("apex_quicklooks", pd.DataFrame())
    if not ql.empty:
        core, rad = _quicklook_rows(ql)
        core_parts.append(core)
        radio_parts.append(rad)
    if core_parts:
        out["obscore"] = pd.concat(core_parts, ignore_index=True)[OBSCORE.names]
        out["obscore_radio"] = pd.concat(radio_parts, ignore_index=True)[OBSCORE_RADIO.names]
    return out
