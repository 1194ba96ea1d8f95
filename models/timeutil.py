"""The time layer: every time a source gives becomes an MJD (float64, UTC) here, and only here.

Inside the project times are tz-aware UTC; IVOA columns hold MJD in UTC (float64); time MOCs are
in TCB. Every conversion a source needs goes through this module:

- strings: ISO 8601 (:func:`mjd_from_iso`, with or without ``T``, fractional seconds, ``Z``, leap
  second ``23:59:60``) and day-of-year (:func:`mjd_from_doy`, ``YYYY:DDD:HH:MM:SS[.f]``);
- elapsed seconds since a reference in a time scale (:func:`mjd_from_met`): seconds since a UTC
  reference are elapsed SI seconds, so leap seconds in between are counted (astropy ``Time`` +
  ``TimeDelta``);
- MJDs given in another scale (:func:`mjd_to_utc`) and numeric MJD columns (:func:`check_mjd`);
- datetimes (:func:`mjd_from_datetime`, :func:`datetime_from_mjd`, :func:`timestamps_to_mjd`);
- UTC -> TCB for MOCs (:func:`utc_mjd_to_tcb_jd`).

Nothing here wraps around: a value outside the plausible range (:data:`PLAUSIBLE_MJD`, 1950 to
2100 unless a caller narrows or widens it) or not finite is a :class:`TimeParseError` naming the
positions, which a source turns into a ``ParseError`` with its source, URL, row and column
(:func:`scrapers.base.value_error`). Empty cells (``None``, ``""``, NaN) are missing values
(NaN), not errors: whether a time may be missing is the caller's rule.

Strings are parsed by pandas (vectorised, microsecond resolution: no ``timedelta64[ns]``
overflow past 2262); rows on a day that ends with a leap second are recomputed with astropy, whose
UTC MJD counts that day as 86 401 s. Importing this module switches astropy's IERS auto-download
off: the conversions here need only the bundled leap-second table.
"""

from __future__ import annotations

import datetime as dt
import warnings

import erfa
import numpy as np
import numpy.typing as npt
import pandas as pd
from astropy.time import Time, TimeDelta
from astropy.utils import iers

from models.errors import ValueParseError

iers.conf.auto_download = False
iers.conf.auto_max_age = None

#: MJD 0 as a tz-aware UTC datetime.
MJD_EPOCH = pd.Timestamp("1858-11-17T00:00:00", tz="UTC")
_DAY_US = 86_400 * 1_000_000

#: Default plausible range of any time in this project: [1950-01-01, 2100-01-01) as UTC MJD. A
#: wider span is a typo or a placeholder (``9999:001``), never an observation.
PLAUSIBLE_MJD: tuple[float, float] = (33282.0, 88069.0)

#: Time scales accepted for references and MJD columns (FITS ``TIMESYS`` values, lower case).
SCALES = ("utc", "tt", "tai", "tdb", "tcb", "tcg", "ut1")


class TimeParseError(ValueParseError):
    """Some values could not be read as times, or lie outside the plausible range."""


def _leap_days() -> np.ndarray:
    """MJD (integer) of every UTC day that ends with a leap second, from ERFA's bundled table."""
    table = erfa.leap_seconds.get()
    starts = [dt.date(int(y), int(m), 1) for y, m, _ in table if int(y) >= 1972]
    return np.array([(d - dt.date(1858, 11, 17)).days - 1 for d in starts], dtype="int64")


_LEAP_DAYS = _leap_days()


def _text(values: pd.Series | list | npt.ArrayLike) -> pd.Series:
    """Values as stripped strings, missing (None/NaN/empty) as <NA>."""
    series = pd.Series(values, dtype="object") if not isinstance(values, pd.Series) else values.astype("object")
    series = series.reset_index(drop=True)
    text = series.astype("string").str.strip()
    return text.mask(text == "", pd.NA)


def check_mjd(mjd: npt.ArrayLike, *, valid: tuple[float, float] = PLAUSIBLE_MJD, what: str = "time") -> np.ndarray:
    """``mjd`` as float64 after checking every present value is finite and inside ``valid``.

    Parameters
    ----------
    mjd
        MJD values (NaN = missing, allowed).
    valid
        Half-open plausible range ``[lo, hi)`` as MJD.
    what
        Name of the quantity in the error message.

    Returns
    -------
    numpy.ndarray
        The same values as float64.

    Raises
    ------
    TimeParseError
        Listing every infinite or out-of-range position.
    """
    arr = np.asarray(mjd, dtype="float64")
    with np.errstate(invalid="ignore"):
        bad = np.isinf(arr) | ((arr < valid[0]) | (arr >= valid[1]))
    if bad.any():
        rows = np.flatnonzero(bad)
        lo, hi = (datetime_from_mjd(v).date().isoformat() for v in valid)
        raise TimeParseError(f"{what} outside the plausible range {lo} .. {hi}", rows, [str(arr[i]) for i in rows[:5]])
    return arr


def timestamps_to_mjd(ts: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """MJD (float64, UTC) of tz-aware UTC timestamps; NaT becomes NaN (microsecond arithmetic)."""
    series = pd.Series(ts)
    if series.dt.tz is None:
        raise ValueError("naive timestamps: give tz-aware UTC timestamps")
    us = series.dt.tz_convert("UTC").dt.tz_localize(None).astype("datetime64[us]")
    delta = (us - np.datetime64("1858-11-17T00:00:00", "us")).to_numpy(dtype="timedelta64[us]")
    out = delta.astype("int64").astype("float64") / _DAY_US
    out[series.isna().to_numpy()] = np.nan
    return out


def _strings_to_mjd(
    text: pd.Series,
    fmt: str,
    astropy_format: str,
    what: str,
    valid: tuple[float, float],
    *,
    full: pd.Series | None = None,
    invalid: np.ndarray | None = None,
) -> np.ndarray:
    """Shared body of the string parsers: pandas fast path, astropy for leap-second days.

    ``text`` is what pandas parses with ``fmt``; ``full`` the original strings (shown in errors
    and given to astropy); ``invalid`` marks rows already known to be malformed.
    """
    full = text if full is None else full
    present = full.notna().to_numpy()
    parsed = pd.to_datetime(text, format=fmt, utc=True, errors="coerce")
    # pandas gives datetime64[us]: years 1..9999 without overflow.
    mjd = timestamps_to_mjd(parsed)
    # Python's strptime rolls 23:59:60 over into the next day: such strings always go to astropy.
    leap_second = full.str.contains(r"23:59:60(?:\.[0-9]*)?(?:Z|[+-]00:?00)?$", regex=True).fillna(False)
    leap_second = leap_second.to_numpy(dtype=bool)
    day = np.floor(np.where(np.isnan(mjd), -1, mjd)).astype("int64")
    redo = present & (np.isin(day, _LEAP_DAYS) | leap_second)
    if invalid is not None:
        redo &= ~invalid
        mjd[invalid] = np.nan
    if redo.any():
        mjd[redo] = _astropy_mjd(full[redo].to_numpy(dtype=str), astropy_format)
    failed = present & np.isnan(mjd)
    if failed.any():
        rows = np.flatnonzero(failed)
        article = "an" if what[0] in "AEIOU" else "a"
        raise TimeParseError(f"not {article} {what}", rows, [full.iloc[i] for i in rows[:5]])
    try:
        return check_mjd(mjd, valid=valid, what=what)
    except TimeParseError as exc:
        raise TimeParseError(exc.reason, exc.rows, [full.iloc[i] for i in exc.rows[:5]]) from None


def _astropy_mjd(strings: np.ndarray, fmt: str) -> np.ndarray:
    """UTC MJD of ``strings`` by astropy (element-wise NaN where astropy refuses the value)."""
    out = np.full(len(strings), np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return np.asarray(Time(list(strings), format=fmt, scale="utc").mjd, dtype="float64")
        except ValueError:
            for k, s in enumerate(strings):  # error path only: find which ones astropy refuses
                try:
                    out[k] = Time(s, format=fmt, scale="utc").mjd
                except ValueError:
                    pass
    return out


def mjd_from_iso(values: pd.Series | list | npt.ArrayLike, *, valid: tuple[float, float] = PLAUSIBLE_MJD) -> np.ndarray:
    """UTC MJD of ISO 8601 strings, vectorised.

    Accepts ``YYYY-MM-DD``, ``YYYY-MM-DD hh:mm[:ss[.f...]]`` with a space or ``T``, an optional
    ``Z`` or numeric UTC offset (converted), and the leap second ``23:59:60``. Naive strings are
    UTC (every source here publishes UTC).

    Parameters
    ----------
    values
        Strings; ``None``/empty/NaN are missing and give NaN.
    valid
        Plausible range ``[lo, hi)`` as MJD (default :data:`PLAUSIBLE_MJD`).

    Returns
    -------
    numpy.ndarray
        float64 UTC MJD.

    Raises
    ------
    TimeParseError
        Names every unreadable or implausible position.
    """
    text = _text(values)
    # astropy's "iso" wants a space and no zone; pandas copes with both (used first).
    return _strings_to_mjd(text, "ISO8601", "iso", "ISO time", valid)


def mjd_from_doy(values: pd.Series | list | npt.ArrayLike, *, valid: tuple[float, float] = PLAUSIBLE_MJD) -> np.ndarray:
    """UTC MJD of day-of-year strings ``YYYY:DDD:HH:MM:SS[.f]`` (NuSTAR), vectorised.

    Parameters
    ----------
    values
        Strings; ``None``/empty/NaN are missing and give NaN.
    valid
        Plausible range ``[lo, hi)`` as MJD.

    Returns
    -------
    numpy.ndarray
        float64 UTC MJD.

    Raises
    ------
    TimeParseError
        Names every unreadable or implausible position (day 366 of a common year included).
    """
    text = _text(values)
    parts = text.str.extract(r"^([0-9]{4}):([0-9]{3}):([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]*)?$").astype("float64")
    year, doy, hour, minute, second = (parts[k].to_numpy() for k in range(5))
    frac = parts[5].fillna(0.0).to_numpy()
    leap_year = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    with np.errstate(invalid="ignore"):
        # strptime would roll day 366 of a common year, or hour 24, into the next period: refuse.
        invalid = text.notna().to_numpy() & ~(
            (doy >= 1) & (doy <= 365 + leap_year) & (hour <= 23) & (minute <= 59) & (second <= 60)
        )
    whole = text.str.replace(r"\.[0-9]*$", "", regex=True)
    mjd = _strings_to_mjd(whole, "%Y:%j:%H:%M:%S", "yday", "day-of-year time", valid, full=text, invalid=invalid)
    # Rows astropy computed (leap-second days) already hold their fraction of a second.
    on_leap_day = np.isin(np.floor(np.nan_to_num(mjd, nan=-1)).astype("int64"), _LEAP_DAYS)
    return mjd + np.where(on_leap_day, 0.0, frac) / 86_400.0


def mjd_from_met(
    seconds: npt.ArrayLike,
    mjdref: float,
    timesys: str = "TT",
    mjdref_f: float = 0.0,
    *,
    valid: tuple[float, float] = PLAUSIBLE_MJD,
) -> np.ndarray:
    """UTC MJD of elapsed seconds since the reference ``mjdref (+ mjdref_f)`` given in ``timesys``.

    Event-list indexes (GADF, OGIP) give TSTART/TSTOP in seconds since MJDREF in TT, UTC or another
    scale. The seconds are elapsed SI seconds in every scale: after a UTC reference the leap seconds
    in between are counted (adding them as a fraction of a UTC day would make times seconds late).

    Parameters
    ----------
    seconds
        Elapsed seconds (NaN = missing).
    mjdref, mjdref_f
        Reference MJD in ``timesys`` (integer and fractional parts, FITS MJDREFI/MJDREFF).
    timesys
        FITS TIMESYS of the reference (``TT``, ``UTC``, ``TAI``, ``TDB``, ...).
    valid
        Plausible range of the results as UTC MJD.

    Returns
    -------
    numpy.ndarray
        float64 UTC MJD.

    Raises
    ------
    TimeParseError
        Infinite values or results outside ``valid`` (checked before ERFA sees them).
    ValueError
        An unknown time scale.
    """
    scale = timesys.strip().lower()
    if scale not in SCALES:
        raise ValueError(f"unknown time scale {timesys!r} (known: {', '.join(s.upper() for s in SCALES)})")
    sec = np.atleast_1d(np.asarray(seconds, dtype="float64"))
    missing = np.isnan(sec)
    # A first check in days keeps 1e300 and inf away from ERFA; the error shows the seconds given.
    try:
        check_mjd(np.where(missing, valid[0], mjdref + mjdref_f + sec / 86_400.0), valid=(valid[0] - 2, valid[1] + 2))
    except TimeParseError as exc:
        raise TimeParseError(
            f"seconds since MJD {mjdref + mjdref_f} {timesys} give a {exc.reason}",
            exc.rows,
            [f"{sec[i]} s" for i in exc.rows[:5]],
        ) from None
    ref = Time(float(mjdref), float(mjdref_f), format="mjd", scale=scale)
    t = ref + TimeDelta(np.where(missing, 0.0, sec), format="sec")
    out = np.asarray(t.utc.mjd, dtype="float64")
    out[missing] = np.nan
    return check_mjd(out, valid=valid)


def mjd_to_utc(mjd: npt.ArrayLike, scale: str, *, valid: tuple[float, float] = PLAUSIBLE_MJD) -> np.ndarray:
    """UTC MJD of MJD values given in ``scale`` (``tt``, ``tai``, ``utc`` ...); NaN stays NaN.

    Raises
    ------
    TimeParseError
        Infinite or implausible values (checked before ERFA sees them).
    """
    arr = np.atleast_1d(np.asarray(mjd, dtype="float64"))
    check_mjd(arr, valid=(valid[0] - 2, valid[1] + 2))
    name = scale.strip().lower()
    if name not in SCALES:
        raise ValueError(f"unknown time scale {scale!r}")
    if name == "utc":
        return check_mjd(arr, valid=valid)
    missing = np.isnan(arr)
    out = np.asarray(Time(np.where(missing, valid[0], arr), format="mjd", scale=name).utc.mjd, dtype="float64")
    out[missing] = np.nan
    return check_mjd(out, valid=valid)


def mjd_from_datetime(value: dt.datetime) -> float:
    """MJD of one tz-aware datetime (naive datetimes are refused: they hide their zone)."""
    if value.tzinfo is None:
        raise ValueError("naive datetime: give a tz-aware UTC datetime")
    return float(timestamps_to_mjd(pd.Series([pd.Timestamp(value).tz_convert("UTC")]))[0])


def mjd_from_date(day: dt.date) -> float:
    """MJD of 00:00 UTC of a calendar date."""
    return float((day - dt.date(1858, 11, 17)).days)


def datetime_from_mjd(mjd: float) -> dt.datetime:
    """tz-aware UTC datetime of an MJD (microsecond resolution, no overflow before year 9999)."""
    days = float(mjd)
    return dt.datetime(1858, 11, 17, tzinfo=dt.UTC) + dt.timedelta(microseconds=round(days * _DAY_US))


def utc_mjd_to_time(mjd: npt.ArrayLike) -> Time:
    """Astropy Time (UTC) of MJDs; the form mocpy needs to build TCB time MOCs."""
    return Time(np.asarray(mjd, dtype="float64"), format="mjd", scale="utc")


def utc_mjd_to_tcb_jd(mjd: npt.ArrayLike) -> np.ndarray:
    """JD in TCB of UTC MJDs (the time axis of MOC 2.0)."""
    return np.asarray(utc_mjd_to_time(mjd).tcb.jd, dtype="float64")
