"""The coordinate layer: every RA/Dec a source gives becomes ICRS degrees here, and only here.

One parser for decimal degrees and sexagesimal text (``hh:mm:ss.s``, ``hh mm ss``,
``12h34m56.7s``, ``-00:30:00``, ``+12d34m56s``), vectorised over a column, with one set of rules:

- decimal RA is degrees; sexagesimal RA is hours (x 15); Dec is degrees in both forms;
- the sign of a sexagesimal Dec is the sign *written*, so ``-00:30:00`` is -0.5 deg;
- minutes and seconds must be below 60;
- RA may equal 360 (or 24h): it wraps to 0; any other RA outside [0, 360] is an error;
- Dec outside [-90, 90] is an error;
- empty cells (``None``, ``""``, NaN) are missing (NaN): whether a position may be missing is
  the caller's rule.

Errors are :class:`CoordParseError` (a :class:`models.errors.ValueParseError`) listing the
positions; sources wrap them with :func:`scrapers.base.value_error` to name source, URL, row and
column.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from models.errors import ValueParseError

# ASCII digits only: `\d` would accept other scripts' digits that pandas then cannot convert.
_SEXAGESIMAL = r"^([+-]?)\s*([0-9]{1,3})\s*[:hd° ]\s*([0-9]{1,2})\s*[:m' ]\s*([0-9]{1,2}(?:\.[0-9]*)?)\s*[s\"]?$"
_DECIMAL = r"^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$"


class CoordParseError(ValueParseError):
    """Some values could not be read as a coordinate, or lie outside its range."""


def _text(values: pd.Series | list | npt.ArrayLike) -> pd.Series:
    series = values.astype("object") if isinstance(values, pd.Series) else pd.Series(values, dtype="object")
    text = series.reset_index(drop=True).astype("string").str.strip()
    return text.mask(text == "", pd.NA)


def _raise(mask: np.ndarray, reason: str, text: pd.Series) -> None:
    if mask.any():
        rows = np.flatnonzero(mask)
        raise CoordParseError(reason, rows, [text.iloc[i] for i in rows[:5]])


def parse_angle(
    values: pd.Series | list | npt.ArrayLike, *, sexagesimal_unit: Literal["hour", "deg"], what: str
) -> np.ndarray:
    """Degrees of decimal or sexagesimal text, without range rules (see :func:`parse_ra`).

    Parameters
    ----------
    values
        Cells (text or numbers); missing cells give NaN.
    sexagesimal_unit
        Unit of the first field of sexagesimal values (``hour`` for RA, ``deg`` for Dec).
    what
        Name of the quantity in error messages.

    Returns
    -------
    numpy.ndarray
        float64 degrees.
    """
    text = _text(values)
    present = text.notna().to_numpy()
    out = np.full(len(text), np.nan)
    decimal = text.str.fullmatch(_DECIMAL).fillna(False).to_numpy(dtype=bool)
    out[decimal] = pd.to_numeric(text[decimal]).to_numpy(dtype="float64")
    sexa = present & ~decimal
    if sexa.any():
        parts = text[sexa].str.lower().str.extract(_SEXAGESIMAL)
        _raise_at = np.flatnonzero(sexa)
        unreadable = parts[1].isna().to_numpy()
        if unreadable.any():
            mask = np.zeros(len(text), bool)
            mask[_raise_at[unreadable]] = True
            _raise(mask, f"not a {what} (decimal degrees or sexagesimal)", text)
        d, m, s = (parts[k].astype("float64").to_numpy() for k in (1, 2, 3))
        over = (m >= 60) | (s >= 60)
        if over.any():
            mask = np.zeros(len(text), bool)
            mask[_raise_at[over]] = True
            _raise(mask, f"{what}: minutes or seconds of 60 or more", text)
        sign = np.where(parts[0].to_numpy(dtype=object) == "-", -1.0, 1.0)
        value = sign * (d + m / 60.0 + s / 3600.0)
        out[sexa] = value * (15.0 if sexagesimal_unit == "hour" else 1.0)
    return out


def parse_ra(values: pd.Series | list | npt.ArrayLike) -> np.ndarray:
    """Right ascension in degrees in [0, 360) from decimal degrees or sexagesimal hours.

    Parameters
    ----------
    values
        Cells (text or numbers); missing cells give NaN.

    Returns
    -------
    numpy.ndarray
        float64 degrees; 360 (24h) wraps to 0.

    Raises
    ------
    CoordParseError
        Unreadable values, minutes/seconds >= 60, or RA outside [0, 360].
    """
    ra = parse_angle(values, sexagesimal_unit="hour", what="RA")
    return wrap_ra(ra, shown=_text(values))


def wrap_ra(ra: npt.ArrayLike, *, shown: pd.Series | None = None) -> np.ndarray:
    """RA in degrees checked to [0, 360] and wrapped to [0, 360); NaN stays NaN.

    Raises
    ------
    CoordParseError
        Values outside [0, 360] or infinite.
    """
    arr = np.array(ra, dtype="float64")
    with np.errstate(invalid="ignore"):
        bad = np.isinf(arr) | (arr < 0) | (arr > 360)
    _raise(bad, "RA outside [0, 360] deg", shown if shown is not None else pd.Series(arr).astype(str))
    arr[arr == 360.0] = 0.0
    return arr + 0.0  # no negative zero


def parse_dec(values: pd.Series | list | npt.ArrayLike) -> np.ndarray:
    """Declination in degrees in [-90, 90] from decimal or sexagesimal degrees.

    Parameters
    ----------
    values
        Cells (text or numbers); missing cells give NaN.

    Returns
    -------
    numpy.ndarray
        float64 degrees.

    Raises
    ------
    CoordParseError
        Unreadable values, minutes/seconds >= 60, or Dec outside [-90, 90].
    """
    dec = parse_angle(values, sexagesimal_unit="deg", what="Dec")
    return check_dec(dec, shown=_text(values))


def check_dec(dec: npt.ArrayLike, *, shown: pd.Series | None = None) -> np.ndarray:
    """Dec in degrees checked to [-90, 90]; NaN stays NaN.

    Raises
    ------
    CoordParseError
        Values outside [-90, 90] or infinite.
    """
    arr = np.array(dec, dtype="float64")
    with np.errstate(invalid="ignore"):
        bad = np.isinf(arr) | (np.abs(arr) > 90)
    _raise(bad, "Dec outside [-90, 90] deg", shown if shown is not None else pd.Series(arr).astype(str))
    return arr + 0.0
