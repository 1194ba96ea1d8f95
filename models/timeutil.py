"""Time helpers: tz-aware UTC inside, MJD (UTC, float64) in IVOA columns, TCB for time MOCs.

Importing this module switches astropy's IERS auto-download off: UTC<->TCB needs only the
bundled leap-second table, and a harvest must never stall on a download.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import numpy.typing as npt
import pandas as pd
from astropy.time import Time
from astropy.utils import iers

iers.conf.auto_download = False
iers.conf.auto_max_age = None

#: MJD 0 as a tz-aware UTC datetime.
MJD_EPOCH = pd.Timestamp("1858-11-17T00:00:00", tz="UTC")
_DAY_NS = 86_400 * 1_000_000_000


class TimeParseError(ValueError):
    """Some values could not be read as times; ``rows`` gives their positions."""

    def __init__(self, message: str, rows: list[int], values: list[str]):
        super().__init__(message)
        self.rows = rows
        self.values = values


def _to_utc(values: pd.Series | list[str] | npt.ArrayLike, fmt: str | None, what: str) -> pd.Series:
    series = pd.Series(values, dtype="object")
    parsed = pd.to_datetime(series, format=fmt, utc=True, errors="coerce")
    bad = parsed.isna() & series.notna() & (series.astype(str).str.strip() != "")
    if bad.any():
        rows = [int(i) for i in np.flatnonzero(bad.to_numpy())]
        vals = [str(series.iloc[i]) for i in rows[:5]]
        raise TimeParseError(f"cannot read {what} {vals} (rows {rows[:5]})", rows, vals)
    return parsed


def timestamps_to_mjd(ts: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """MJD (float64, UTC) of tz-aware UTC timestamps; NaT becomes NaN."""
    series = pd.Series(ts)
    ns = (series - MJD_EPOCH).to_numpy(dtype="timedelta64[ns]").astype("int64").astype("float64")
    ns[series.isna().to_numpy()] = np.nan
    return ns / _DAY_NS


def mjd_from_doy(values: pd.Series | list[str]) -> np.ndarray:
    """MJD from day-of-year strings ``YYYY:DDD:HH:MM:SS`` (NuSTAR), vectorised."""
    return timestamps_to_mjd(_to_utc(values, "%Y:%j:%H:%M:%S", "day-of-year time"))


def mjd_from_iso(values: pd.Series | list[str], fmt: str | None = "ISO8601") -> np.ndarray:
    """MJD from ISO 8601 strings (``YYYY-MM-DD[ T]hh:mm:ss``, taken as UTC when naive)."""
    return timestamps_to_mjd(_to_utc(values, fmt, "ISO time"))


def mjd_from_datetime(value: dt.datetime) -> float:
    """MJD of one tz-aware datetime (naive datetimes are refused: they hide their zone)."""
    if value.tzinfo is None:
        raise ValueError("naive datetime: give a tz-aware UTC datetime")
    return float(timestamps_to_mjd(pd.Series([pd.Timestamp(value).tz_convert("UTC")]))[0])


def datetime_from_mjd(mjd: float) -> dt.datetime:
    """tz-aware UTC datetime of an MJD."""
    return (MJD_EPOCH + pd.to_timedelta(mjd, unit="D")).to_pydatetime()


def mjd_from_met(seconds: npt.ArrayLike, mjdref: float, timesys: str = "TT", mjdref_f: float = 0.0) -> np.ndarray:
    """UTC MJD of mission elapsed times ``seconds`` since ``mjdref (+ mjdref_f)`` in ``timesys``.

    Event-list indexes (GADF, OGIP) give TSTART/TSTOP in seconds from MJDREF in TT (or another
    scale); ObsCore wants UTC MJD, so the scale conversion goes through astropy.
    """
    sec = np.asarray(seconds, dtype="float64")
    missing = np.isnan(sec)
    scale = timesys.strip().lower()
    # Two-part JD (reference, offset in days) keeps full precision over decades of seconds.
    t = Time(np.full(sec.shape, mjdref), mjdref_f + np.where(missing, 0.0, sec) / 86_400.0, format="mjd", scale=scale)
    out = np.asarray(t.utc.mjd, dtype="float64")
    out[missing] = np.nan
    return out


def utc_mjd_to_time(mjd: npt.ArrayLike) -> Time:
    """Astropy Time (UTC) of MJDs; the form mocpy needs to build TCB time MOCs."""
    return Time(np.asarray(mjd, dtype="float64"), format="mjd", scale="utc")


def utc_mjd_to_tcb_jd(mjd: npt.ArrayLike) -> np.ndarray:
    """JD in TCB of UTC MJDs (the time axis of MOC 2.0)."""
    return np.asarray(utc_mjd_to_time(mjd).tcb.jd, dtype="float64")
