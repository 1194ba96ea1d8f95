"""Exposures -> observations (per OB and night) and their matching to schedule runs."""

from __future__ import annotations

import urllib.parse

import numpy as np
import pandas as pd

from models.timeutil import MJD_EPOCH
from scrapers.base import SourceError
from scrapers.eso.common import ARCHIVE, NAME, facility_of, programme_of


def exposures(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Science exposures from every archive answer, one row per dataset, enriched with AMBER stations.

    Parameters
    ----------
    frames
        Source frames by request name (``tap_raw`` wins over ``eso_archive_main`` for a dataset).

    Returns
    -------
    pandas.DataFrame
        The exposures (empty frame when no archive answer has rows).
    """
    parts = [frames[k] for k in ("tap_raw", "eso_archive_main") if k in frames and not frames[k].empty]
    if not parts:
        return pd.DataFrame()
    exp = pd.concat(parts, ignore_index=True).drop_duplicates("dp_id", keep="first")
    exp = exp[exp["dp_cat"].fillna("SCIENCE").eq("SCIENCE")]
    exp = exp.assign(stations=None)
    if "amber" in frames and not frames["amber"].empty:
        amber = frames["amber"].drop_duplicates("dp_id").set_index("dp_id")
        hit = exp["dp_id"].map(amber["ob_id"])
        exp["ob_id"] = exp["ob_id"].where(exp["ob_id"].notna(), hit)
        exp["stations"] = exp["dp_id"].map(amber["stations"])
    return exp.reset_index(drop=True)


#: Characters of object names kept as written in obs ids; any other character is percent-encoded (UTF-8).
_ID_SAFE = " !$&'()*+,-./:;=@[]_~"


def ascii_id_part(text: pd.Series) -> pd.Series:
    """Object names made safe for an ASCII ``obs_id``: non-ASCII characters percent-encoded (UTF-8).

    ``obs_id`` is a VOTable ``char`` (ASCII) column; ``η Car`` becomes ``%CE%B7 Car``, reversible
    and collision-free, while ASCII names (``SGR A``) stay as written. Only distinct non-ASCII
    names go through :func:`urllib.parse.quote`.
    """
    text = text.fillna("").astype(str)
    odd = ~text.map(str.isascii, na_action="ignore").astype(bool)
    if not odd.any():
        return text
    encoded = {v: urllib.parse.quote(v, safe=_ID_SAFE) for v in text[odd].unique()}
    return text.where(~odd, text.map(encoded))


def night_start_mjd(mjd: np.ndarray) -> np.ndarray:
    """MJD (noon UT) at which the night of each instant began (the ESO archive's night boundary)."""
    return np.floor(mjd - 0.5) + 0.5


def observations(exp: pd.DataFrame) -> pd.DataFrame:
    """Exposures grouped per OB (else run/instrument/object) and night.

    Parameters
    ----------
    exp
        Output of :func:`exposures` (non-empty).

    Returns
    -------
    pandas.DataFrame
        One row per observation: obs_id ``<OB>-<YYYYMMDD>`` (else ``<run>-<instrument>-<object>-<YYYYMMDD>``),
        run_id, programme_id, first/last times, summed exposure time, exposure count.
    """
    night = night_start_mjd(exp["mjd_obs"].to_numpy(dtype="float64"))
    night_label = (MJD_EPOCH + pd.to_timedelta(night - 0.5, unit="D")).strftime("%Y%m%d")
    has_ob = exp["ob_id"].notna() & exp["ob_id"].astype(str).str.fullmatch(r"\d+")
    key = np.where(
        has_ob,
        exp["ob_id"].astype(str),
        exp["run_id"] + "-" + exp["instrument"] + "-" + ascii_id_part(exp["object"]),
    )
    exp = exp.assign(
        obs_id=pd.Series(key, index=exp.index) + "-" + pd.Series(night_label, index=exp.index),
        t_end=exp["mjd_obs"] + exp["exptime"] / 86400.0,
        facility=facility_of(exp["instrument"], exp["telescope"]),
    )
    unknown = exp["facility"].isna()
    if unknown.any():
        raise SourceError(
            NAME, ARCHIVE, f"no facility known for instrument(s) {sorted(set(exp.loc[unknown, 'instrument']))}"
        )
    g = exp.sort_values("mjd_obs").groupby("obs_id", sort=True)
    obs = g.agg(
        run_id=("run_id", "first"),
        ob_id=("ob_id", "first"),
        target_name=("object", "first"),
        s_ra=("ra", "first"),
        s_dec=("dec", "first"),
        instrument_name=("instrument", "first"),
        obs_collection=("facility", "first"),
        obs_mode=("obs_mode", "first"),
        t_min=("mjd_obs", "min"),
        t_max=("t_end", "max"),
        t_exptime=("exptime", "sum"),
        n_exposures=("dp_id", "size"),
        first_dp_id=("dp_id", "first"),
        stations=("stations", "first"),
        release_date=("release_date", "min"),
    ).reset_index()
    obs["night"] = obs["obs_id"].str[-8:]
    obs["programme_id"] = programme_of(obs["run_id"])
    return obs


def match_runs(obs: pd.DataFrame, runs: pd.DataFrame) -> pd.Series:
    """Run id of the schedule run each observation belongs to, else None.

    An observation belongs to a run of the same programme (either run-id format: ``099.C-0667``,
    ``106.212B``) whose time span (nights, else period) holds its start; the run with the same
    run id wins over another run of the programme.

    Parameters
    ----------
    obs
        Observations (obs_id, run_id, programme_id, t_min).
    runs
        Runs (run_id, programme_id, t_min, t_max).

    Returns
    -------
    pandas.Series
        Matched run ids aligned with ``obs`` (object, None where none matches).
    """
    if runs.empty or obs.empty:
        return pd.Series([None] * len(obs), index=obs.index, dtype=object)
    cand = obs[["obs_id", "run_id", "programme_id", "t_min"]].merge(
        runs[["run_id", "programme_id", "t_min", "t_max"]].rename(
            columns={"run_id": "sched_run", "t_min": "run_t_min", "t_max": "run_t_max"}
        ),
        on="programme_id",
    )
    cand = cand[(cand["t_min"] >= cand["run_t_min"]) & (cand["t_min"] < cand["run_t_max"])]
    cand = cand.assign(exact=cand["sched_run"].eq(cand["run_id"])).sort_values(["obs_id", "exact"], ascending=False)
    best = cand.drop_duplicates("obs_id").set_index("obs_id")["sched_run"]
    return obs["obs_id"].map(best).astype(object)
