"""TAP answers of ``archive.eso.org/tap_obs``: ``dbo.raw`` exposures and APEX quick-look products."""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.coords import check_dec, wrap_ra
from models.errors import ValueParseError
from models.timeutil import mjd_from_iso, timestamps_to_mjd
from scrapers.base import ParseError, value_error
from scrapers.eso.archive import checked_mjd
from scrapers.eso.common import NAME, bad, facility_of, run_ids
from scrapers.votable_io import read_votable

TAP_RAW_REQUIRED = ("dp_id", "prog_id", "ob_id", "instrument", "telescope", "exposure", "mjd_obs", "ra", "dec")
TAP_RAW_COLUMNS = (
    "dp_id",
    "prog_id",
    "ob_id",
    "object",
    "target",
    "ra",
    "dec",
    "instrument",
    "telescope",
    "exposure",
    "mjd_obs",
    "date_obs",
    "obs_mode",
    "dp_cat",
    "dp_type",
    "dp_tech",
    "pi_coi",
    "prog_title",
    "release_date",
)
APEX_QL_REQUIRED = ("quicklook_id", "prog_id", "instrument", "access_url")


def read_tap(
    content: bytes, url: str, what: str, required: tuple[str, ...], string_columns: tuple[str, ...]
) -> pd.DataFrame:
    """A TAP VOTable answer with its required columns and at least one row (ESO always lists some)."""
    t = read_votable(content, source=NAME, url=url, string_columns=string_columns)
    found = list(t.columns)
    missing = [c for c in required if c not in t.columns]
    if missing:
        raise ParseError(NAME, url, f"{what}: required column missing", column=missing[0], found=found)
    if t.empty:
        raise ParseError(NAME, url, f"{what}: the table has no rows", found=found)
    return t


def _text(column: pd.Series) -> pd.Series:
    """Cells as text, missing ones as empty strings."""
    return column.astype(object).where(column.notna(), "").astype(str)


def _float(t: pd.DataFrame, column: str) -> np.ndarray:
    return pd.to_numeric(t[column], errors="coerce").to_numpy(dtype="float64")


def parse_tap_raw(content: bytes, url: str, content_type: str | None = None) -> pd.DataFrame:
    """Exposures of a TAP ``dbo.raw`` VOTable answer (ids kept as text).

    Parameters
    ----------
    content, url, content_type
        The answer, its URL and recorded ``Content-Type`` (the VOTable's XML declaration rules).

    Returns
    -------
    pandas.DataFrame
        Same columns as :func:`scrapers.eso.archive.parse_archive_main`, with telescope and
        observing mode; the start is the exact ``date_obs`` where given (``mjd_obs`` is rounded).
    """
    what = "tap_raw"
    t = read_tap(content, url, what, TAP_RAW_REQUIRED, ("ob_id", "prog_id", "dp_id"))
    found = list(t.columns)
    text = {c: _text(t[c]) for c in ("dp_id", "prog_id", "instrument", "telescope")}
    exptime = _float(t, "exposure")
    bad(np.isnan(exptime) | (exptime < 0) | ~np.isfinite(exptime), "exposure", what, url, _text(t["exposure"]), found)
    mjd = _float(t, "mjd_obs")
    if "date_obs" in t:
        # mjd_obs is rounded to 1e-3 d in dbo.raw; the ISO start is exact.
        dates = _text(t["date_obs"])
        try:
            iso = mjd_from_iso(dates.where(dates.ne(""), None))
        except ValueParseError as exc:
            raise value_error(exc, source=NAME, url=url, column="date_obs", found=found) from exc
        mjd = np.where(np.isnan(iso), mjd, iso)
    mjd = checked_mjd(mjd, "mjd_obs", url, found, _text(t["mjd_obs"]), what)
    try:
        ra = wrap_ra(_float(t, "ra"), shown=_text(t["ra"]))
        dec = check_dec(_float(t, "dec"), shown=_text(t["dec"]))
    except ValueParseError as exc:
        raise value_error(exc, source=NAME, url=url, column="ra/dec", found=found) from exc
    instrument = text["instrument"].str.upper()
    facility = facility_of(instrument, text["telescope"])
    bad(facility.isna(), "instrument", f"{what} (no facility known)", url, instrument, found)
    obj = t["object"] if "object" in t else t.get("target")
    release = pd.to_datetime(t["release_date"], utc=True, errors="coerce") if "release_date" in t else None
    ob = _text(t["ob_id"]).where(t["ob_id"].notna(), None)
    out = pd.DataFrame(
        {
            "dp_id": text["dp_id"],
            "run_id": run_ids(text["prog_id"], what, url, found, "prog_id"),
            "ob_id": ob,
            "object": obj.astype(object) if obj is not None else None,
            "ra": ra,
            "dec": dec,
            "instrument": instrument,
            "telescope": text["telescope"],
            "dp_cat": _text(t["dp_cat"]).str.upper() if "dp_cat" in t else "SCIENCE",
            "exptime": exptime,
            "mjd_obs": mjd,
            "obs_mode": t["obs_mode"].astype(object) if "obs_mode" in t else None,
            "release_date": release,
        }
    )
    out.attrs["layout"] = "votable"
    return out


def parse_apex_quicklooks(content: bytes, url: str, content_type: str | None = None) -> pd.DataFrame:
    """APEX quick-look products (one per project and UT day, ``E-095.F-9802A.2015JUL15.TAR``).

    Parameters
    ----------
    content, url, content_type
        The answer, its URL and recorded ``Content-Type``.

    Returns
    -------
    pandas.DataFrame
        quicklook_id, run_id, instrument, access_url, access_estsize, pi, title, t_min/t_max
        (the UT day of the id), release_date.
    """
    what = "apex_quicklooks"
    t = read_tap(content, url, what, APEX_QL_REQUIRED, ("prog_id", "quicklook_id", "project_id"))
    found = list(t.columns)
    ql = _text(t["quicklook_id"])
    day_text = ql.str.extract(r"\.(\d{4}[A-Z]{3}\d{2})\.TAR$", expand=False)
    day = pd.to_datetime(day_text.str.title(), format="%Y%b%d", errors="coerce", utc=True)
    bad(day.isna(), "quicklook_id", f"{what} (id ending .YYYYMONDD.TAR)", url, ql, found)
    t_min = checked_mjd(timestamps_to_mjd(day), "quicklook_id", url, found, ql, what)
    out = pd.DataFrame(
        {
            "quicklook_id": ql,
            "run_id": run_ids(_text(t["prog_id"]), what, url, found, "prog_id"),
            "instrument": _text(t["instrument"]).str.upper(),
            "access_url": _text(t["access_url"]),
            "access_estsize": pd.to_numeric(t.get("access_estsize"), errors="coerce"),
            "pi": t["pi_coi"].astype(object) if "pi_coi" in t else None,
            "title": t["prog_title"].astype(object) if "prog_title" in t else None,
            "t_min": t_min,
            "t_max": t_min + 1.0,
            "release_date": pd.to_datetime(t["release_date"], utc=True, errors="coerce")
            if "release_date" in t
            else None,
        }
    )
    out.attrs["layout"] = "votable"
    return out
