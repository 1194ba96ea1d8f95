"""Spacecraft positions from two-line element sets (TLE), propagated with SGP4/SDP4.

A TLE is an input like any page (:mod:`scrapers.tle` reads it); this module turns one into
geocentric positions at many times at once:

- :class:`TLE` holds the two lines, the NORAD number and the epoch (UTC MJD);
- :func:`propagate_gcrs` runs ``sgp4``'s vectorised ``Satrec.sgp4_array`` (TEME frame, km) and
  rotates TEME to GCRS with astropy's ``TEME`` frame (Vallado et al. 2006, "Revisiting Spacetrack
  Report #3", AIAA 2006-6753, is the definition of TEME that both libraries follow);
- it refuses (:class:`PropagationError`) to go further than ``max_days`` from the epoch.

Why a limit: a TLE is a mean-element fit, its error grows with the distance from the epoch. Measured
here on real XMM-Newton sets (``tests/data/visibility``): propagating the 2026-05-11 set to the epoch
of the 2026-06-28 set (47.9 days) misses that set's position by 322 km; 231 days (2024-12-14 to
2025-08-03) misses by 2615 km. At XMM's 28 000-93 000 km radius 322 km moves the Earth-limb angle
by < 0.7 deg and the 46 000 km altitude crossing by about a minute. The error grows about linearly
(~11 km/day): at the limit chosen, :data:`MAX_DAYS` ``["XMM-Newton"] = 150``, it is ~1700 km, i.e. the
Earth-limb angle within ~2 deg at the 46 000 km science altitude (< 1 deg near apogee) and window
edges within a few minutes -- an error budget chosen so that a ToO coordinator can ask about the
next three months from one recorded set; answers state the TLE epoch used.
NuSTAR flies at ~600 km with a large drag term
(n-dot/2 ~ 2e-4 rev/day^2, B* ~ 1e-3 in its 2025 sets): its along-track error grows fast and one
orbit lasts 96 min, so Earth-occultation edges are only meaningful a few days from the epoch:
``MAX_DAYS["NuSTAR"] = 7`` (``../shared/visibility.md`` section 5: "NuSTAR TLEs go stale quickly;
prefer an epoch within a few days"; no pair of real NuSTAR sets close enough to measure it was found).
"""

from __future__ import annotations

from dataclasses import dataclass

import astropy.units as u
import numpy as np
import numpy.typing as npt
from astropy.coordinates import GCRS, TEME, CartesianRepresentation
from astropy.time import Time
from sgp4.api import Satrec

import models.timeutil  # noqa: F401  (switches astropy's IERS auto-download off: nothing is fetched)

#: Largest distance in days between a TLE epoch and a propagated time, per spacecraft (see module text).
MAX_DAYS: dict[str, float] = {"XMM-Newton": 150.0, "NuSTAR": 7.0}

#: Spacing of the TEME->GCRS rotation grid, days (see :func:`_teme_to_gcrs`).
_ROTATION_GRID_DAYS = 0.25

#: Days from the Julian Date to the MJD.
_JD_MJD = 2400000.5

#: SGP4 error codes (``sgp4.api.SGP4_ERRORS``) worth naming.
_SGP4_ERRORS = {
    1: "mean eccentricity out of range",
    2: "mean motion negative",
    3: "perturbed eccentricity out of range",
    4: "semi-latus rectum negative",
    6: "orbit decayed",
}


class PropagationError(ValueError):
    """A time lies too far from the TLE epoch, or SGP4 failed for it."""


@dataclass(frozen=True)
class TLE:
    """One two-line element set (lines exactly as published; checksums checked by the reader)."""

    name: str
    line1: str
    line2: str
    source: str = ""

    @property
    def norad(self) -> int:
        """NORAD catalogue number (columns 3-7 of line 1)."""
        return int(self.line1[2:7])

    @property
    def epoch_mjd(self) -> float:
        """Epoch (UTC MJD) decoded by ``sgp4`` from columns 19-32 of line 1."""
        sat = self.satrec()
        return float(sat.jdsatepoch - _JD_MJD + sat.jdsatepochF)

    @property
    def epoch_iso(self) -> str:
        """Epoch as ISO 8601 UTC text (ms)."""
        return Time(self.epoch_mjd, format="mjd", scale="utc").isot + "Z"

    def satrec(self) -> Satrec:
        """The ``sgp4`` satellite record of this set."""
        return Satrec.twoline2rv(self.line1, self.line2)


def check_span(tle: TLE, mjd: npt.ArrayLike, max_days: float) -> None:
    """Raise :class:`PropagationError` when any time is more than ``max_days`` from the epoch.

    Parameters
    ----------
    tle : TLE
        The element set.
    mjd : array_like
        UTC MJDs that will be propagated.
    max_days : float
        The allowed distance in days (see :data:`MAX_DAYS` for why each value).
    """
    times = np.atleast_1d(np.asarray(mjd, dtype="float64"))
    if times.size == 0:
        return
    gap = np.abs(times - tle.epoch_mjd)
    if np.nanmax(gap) > max_days:
        worst = float(times[int(np.nanargmax(gap))])
        raise PropagationError(
            f"{tle.name} TLE epoch {tle.epoch_iso} is {float(np.nanmax(gap)):.1f} days from "
            f"{Time(worst, format='mjd').isot}Z; this model propagates at most {max_days:g} days from the epoch: "
            "use a TLE closer to the requested time"
        )


def propagate_teme(tle: TLE, mjd: npt.ArrayLike, *, max_days: float) -> np.ndarray:
    """Positions (km, TEME of date) at UTC MJDs ``mjd``, shape (n, 3).

    Parameters
    ----------
    tle : TLE
        The element set.
    mjd : array_like
        UTC MJDs (SGP4 takes UTC Julian dates, Vallado 2006 section "Time").
    max_days : float
        Refuse times further than this from the epoch.

    Returns
    -------
    numpy.ndarray
        TEME position vectors in km.
    """
    times = np.atleast_1d(np.asarray(mjd, dtype="float64"))
    check_span(tle, times, max_days)
    whole = np.floor(times)
    errors, r, _v = tle.satrec().sgp4_array(whole + _JD_MJD, times - whole)
    bad = np.flatnonzero(errors)
    if bad.size:
        code = int(errors[bad[0]])
        raise PropagationError(
            f"SGP4 failed for {tle.name} at MJD {times[bad[0]]:.5f} ({bad.size} times): "
            f"{_SGP4_ERRORS.get(code, f'error {code}')}"
        )
    out = np.asarray(r, dtype="float64")
    if not np.isfinite(out).all():
        bad = np.flatnonzero(~np.isfinite(out).all(axis=1))
        raise PropagationError(f"SGP4 failed for {tle.name} at MJD {times[bad[0]]:.5f}: non-finite position")
    return out


def propagate_gcrs(tle: TLE, mjd: npt.ArrayLike, *, max_days: float) -> np.ndarray:
    """Geocentric GCRS positions (km), shape (n, 3), at UTC MJDs ``mjd``.

    Parameters
    ----------
    tle : TLE
        The element set.
    mjd : array_like
        UTC MJDs.
    max_days : float
        Refuse times further than this from the epoch.

    Returns
    -------
    numpy.ndarray
        GCRS position vectors in km (same axes as astropy's ``get_body`` GCRS cartesian output).
    """
    times = np.atleast_1d(np.asarray(mjd, dtype="float64"))
    teme = propagate_teme(tle, times, max_days=max_days)
    matrices = _teme_to_gcrs(times)
    return np.einsum("nij,nj->ni", matrices, teme)


def _teme_to_gcrs(mjd: np.ndarray) -> np.ndarray:
    """TEME-to-GCRS rotation matrices (n, 3, 3) at UTC MJDs ``mjd``.

    astropy's ``TEME -> GCRS`` costs ~0.2 ms per time; the rotation (precession, nutation, equation
    of the equinoxes: no Earth rotation) changes by < 0.1 arcsec per hour, so it is evaluated on a
    grid of :data:`_ROTATION_GRID_DAYS` by transforming the three axes and interpolated linearly.
    """
    lo = np.floor(mjd.min() / _ROTATION_GRID_DAYS) * _ROTATION_GRID_DAYS
    hi = np.ceil(mjd.max() / _ROTATION_GRID_DAYS) * _ROTATION_GRID_DAYS
    grid = lo + _ROTATION_GRID_DAYS * np.arange(int(round((hi - lo) / _ROTATION_GRID_DAYS)) + 1)
    obstime = Time(np.repeat(grid, 3), format="mjd", scale="utc")
    axes = np.tile(np.eye(3) * 1.0e4, (grid.size, 1))  # three 10 000 km axis vectors per grid time
    rep = CartesianRepresentation(axes.T * u.km)
    out = TEME(rep, obstime=obstime).transform_to(GCRS(obstime=obstime)).cartesian.xyz.to_value(u.km) / 1.0e4
    cols = out.T.reshape(grid.size, 3, 3)  # [grid, axis j, component i] = M[i, j]
    mats = np.transpose(cols, (0, 2, 1))
    flat = mats.reshape(grid.size, 9)
    interp = np.stack([np.interp(mjd, grid, flat[:, k]) for k in range(9)], axis=-1)
    return interp.reshape(mjd.size, 3, 3)
