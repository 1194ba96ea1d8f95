"""Raw-archive wdb answers: ``eso_archive_main`` exposures and AMBER records (VLTI stations)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from models import radio
from models.coords import parse_dec, parse_ra
from models.errors import ValueParseError
from models.timeutil import check_mjd, mjd_from_iso
from scrapers.base import ParseError, value_error
from scrapers.eso.common import NAME, bad, facility_of, numbers, pick, run_ids
from scrapers.eso.wdb import read_wdb_csv

MAIN_HEADERS = {
    "object": ("object", "target"),
    "ra": ("ra",),
    "dec": ("dec",),
    "run_id": ("programid", "progid"),
    "instrument": ("instrument",),
    "dp_cat": ("category", "dpcatg", "dpcat"),
    "dp_type": ("type", "dptype"),
    "dp_tech": ("mode", "dptech"),
    "dp_id": ("datasetid", "dpid"),
    "release_date": ("releasedate",),
    "tpl_start": ("tplstart",),
    "exptime": ("exptime",),
    "mjd_obs": ("mjdobs",),
    "ob_id": ("obid",),
}
MAIN_REQUIRED = ("object", "ra", "dec", "run_id", "instrument", "dp_id", "exptime", "mjd_obs")
AMBER_HEADERS = {
    "object": ("object",),
    "ra": ("ra",),
    "dec": ("dec",),
    "run_id": ("progid", "programid"),
    "dp_id": ("dpid", "datasetid"),
    "ob_id": ("obid",),
    "dp_cat": ("dpcatg", "category"),
    "station1": ("issconfstation1",),
    "station2": ("issconfstation2",),
    "station3": ("issconfstation3",),
    "station4": ("issconfstation4",),
}
AMBER_REQUIRED = ("dp_id", "ob_id", "run_id", "station1", "station2")


def angles(
    frame: pd.DataFrame, what: str, url: str, found: list[str], ra_col: str = "ra", dec_col: str = "dec"
) -> tuple[np.ndarray, np.ndarray]:
    """RA/Dec degrees through :mod:`models.coords` (decimal or sexagesimal; errors name row and column)."""
    try:
        ra = parse_ra(frame[ra_col])
    except ValueParseError as exc:
        raise value_error(exc, source=NAME, url=url, column=ra_col, found=found) from exc
    try:
        dec = parse_dec(frame[dec_col])
    except ValueParseError as exc:
        raise value_error(exc, source=NAME, url=url, column=dec_col, found=found) from exc
    return ra, dec


def checked_mjd(mjd: np.ndarray, column: str, url: str, found: list[str], shown: pd.Series, what: str) -> np.ndarray:
    """MJD present and inside the time layer's plausible range (1950..2100), else a ParseError."""
    bad(np.isnan(mjd), column, what, url, shown, found)
    try:
        return check_mjd(mjd, what=column)
    except ValueParseError as exc:
        raise value_error(exc, source=NAME, url=url, column=column, found=found) from exc


def parse_archive_main(content: bytes, url: str, content_type: str | None = None) -> pd.DataFrame:
    """Exposures of the ``eso_archive_main`` wdb answer (CSV).

    Parameters
    ----------
    content, url, content_type
        The answer, its URL and recorded ``Content-Type``.

    Returns
    -------
    pandas.DataFrame
        dp_id, run_id, ob_id, object, ra/dec (deg), instrument, telescope (None), dp_cat,
        exptime (s), mjd_obs, obs_mode (None), release_date; ``attrs["layout"] = "csv"``.
    """
    what = "eso_archive_main"
    raw = read_wdb_csv(content, url, what, content_type)
    found = list(raw.columns)
    f = pick(raw, MAIN_HEADERS, MAIN_REQUIRED, what, url)
    ra, dec = angles(f, what, url, found)
    exptime = numbers(f, "exptime", what, url, found)
    mjd = checked_mjd(numbers(f, "mjd_obs", what, url, found), "mjd_obs", url, found, f["mjd_obs"], what)
    bad(np.isnan(exptime) | (exptime < 0) | ~np.isfinite(exptime), "exptime", what, url, f["exptime"], found)
    instrument = f["instrument"].str.upper()
    bad(facility_of(instrument).isna(), "instrument", f"{what} (no facility known)", url, instrument, found)
    release = pd.to_datetime(f.get("release_date", pd.Series("", index=f.index)), format="%b %d %Y", errors="coerce")
    out = pd.DataFrame(
        {
            "dp_id": f["dp_id"],
            "run_id": run_ids(f["run_id"], what, url, found, "run_id"),
            "ob_id": f["ob_id"].replace("", None) if "ob_id" in f else None,
            "object": f["object"],
            "ra": ra,
            "dec": dec,
            "instrument": instrument,
            "telescope": None,
            "dp_cat": f["dp_cat"].str.upper() if "dp_cat" in f else "SCIENCE",
            "exptime": exptime,
            "mjd_obs": mjd,
            "obs_mode": None,
            "release_date": release.dt.tz_localize("UTC"),
        }
    )
    out.attrs["layout"] = "csv"
    return out


def mjd_from_dp_id(dp_id: pd.Series) -> np.ndarray:
    """Exposure start from an ESO dataset id (``AMBER.2006-03-14T07:40:03.741``); NaN without a stamp."""
    stamp = dp_id.str.extract(r"\.(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?)$", expand=False)
    return mjd_from_iso(stamp.where(stamp.notna(), None))


def parse_amber(content: bytes, url: str, content_type: str | None = None) -> pd.DataFrame:
    """AMBER exposures with their VLTI stations (``ISS.CONF.STATION1..3``) and OB ids.

    Parameters
    ----------
    content, url, content_type
        The answer, its URL and recorded ``Content-Type``.

    Returns
    -------
    pandas.DataFrame
        dp_id, run_id, ob_id, stations (space-separated), mjd_start.
    """
    what = "amber"
    raw = read_wdb_csv(content, url, what, content_type)
    found = list(raw.columns)
    f = pick(raw, AMBER_HEADERS, AMBER_REQUIRED, what, url)
    station_cols = [c for c in ("station1", "station2", "station3", "station4") if c in f]
    st = f[station_cols]
    known = set(radio.vlti_stations().index)
    unknown = ~(st.isin(known) | st.eq("")).all(axis=1)
    if unknown.any():
        i = int(np.flatnonzero(unknown.to_numpy())[0])
        raise ParseError(
            NAME, url, f"{what}: unknown VLTI station in {st.iloc[i].tolist()}", row=i, column="ISS.CONF.STATION"
        )
    joined = st[station_cols[0]].str.cat([st[c] for c in station_cols[1:]], sep=" ").str.split().str.join(" ")
    ob = f["ob_id"]
    bad(~ob.str.fullmatch(r"-?\d+"), "ob_id", what, url, ob, found)
    try:
        start = mjd_from_dp_id(f["dp_id"])
    except ValueParseError as exc:
        raise value_error(exc, source=NAME, url=url, column="dp_id", found=found) from exc
    out = pd.DataFrame(
        {
            "dp_id": f["dp_id"],
            "run_id": run_ids(f["run_id"], what, url, found, "run_id"),
            "ob_id": ob,
            "stations": joined,
            "mjd_start": start,
        }
    )
    out.attrs["layout"] = "csv"
    return out
