"""Vectorised geometry for visibility: unit vectors, angles, Sun/Moon positions, Earth shadow, windows.

Every function broadcasts: targets have shape ``(m, 1, 3)`` and bodies ``(1, n, 3)`` so one call
answers ``m`` positions at ``n`` time samples (boolean masks of shape ``(m, n)``).

Sun and Moon positions come from astropy's ``get_body`` with the built-in ephemeris (VSOP87/ELP
analytic theories bundled with ERFA; https://docs.astropy.org/en/stable/coordinates/solarsystem.html:
"the built-in ephemerides ... do not require any additional downloads"), evaluated on an hourly
grid and interpolated linearly in Cartesian GCRS: ``get_body`` costs about 1 ms per time, and
over one hour the Moon's chord departs from its arc by < 5 km (0.0007 deg at 384 000 km), the
Sun's by less than 1 km; far below every constraint used here.
"""

from __future__ import annotations

import astropy.units as u
import numpy as np
import numpy.typing as npt
from astropy.coordinates import get_body
from astropy.time import Time

import models.timeutil  # noqa: F401  (IERS auto-download off: everything below stays offline)

#: Earth equatorial radius, km (WGS-84; the radius SGP4's WGS-72 constants differ from by 2 m).
EARTH_RADIUS_KM = 6378.137

#: Spacing of the Sun/Moon ephemeris grid that is interpolated to the samples, days.
BODY_GRID_DAYS = 1.0 / 24.0


def unit_vectors(ra_deg: npt.ArrayLike, dec_deg: npt.ArrayLike) -> np.ndarray:
    """ICRS unit vectors, shape (m, 3), of positions in degrees."""
    ra = np.deg2rad(np.atleast_1d(np.asarray(ra_deg, dtype="float64")))
    dec = np.deg2rad(np.atleast_1d(np.asarray(dec_deg, dtype="float64")))
    return np.stack([np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)], axis=-1)


def angle_deg(targets: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """Angles (deg) between unit ``targets`` (m, 3) and any ``vectors`` (n, 3): shape (m, n).

    Uses ``atan2(|a x b|, a . b)``, accurate at 0 and 180 deg where ``arccos`` loses digits.
    """
    b = vectors / np.linalg.norm(vectors, axis=-1, keepdims=True)
    a = targets[:, None, :]
    b = b[None, :, :]
    cross = np.linalg.norm(np.cross(a, b), axis=-1)
    dot = np.sum(a * b, axis=-1)
    return np.rad2deg(np.arctan2(cross, dot))


def body_gcrs_km(body: str, mjd: npt.ArrayLike) -> np.ndarray:
    """Geocentric GCRS position (km), shape (n, 3), of ``body`` ('sun', 'moon') at UTC MJDs.

    Evaluated on a grid of :data:`BODY_GRID_DAYS` covering the samples and interpolated linearly.
    """
    times = np.atleast_1d(np.asarray(mjd, dtype="float64"))
    lo = np.floor(times.min() / BODY_GRID_DAYS) * BODY_GRID_DAYS
    hi = np.ceil(times.max() / BODY_GRID_DAYS) * BODY_GRID_DAYS
    grid = lo + BODY_GRID_DAYS * np.arange(int(round((hi - lo) / BODY_GRID_DAYS)) + 1)
    xyz = get_body(body, Time(grid, format="mjd", scale="utc")).cartesian.xyz.to_value(u.km)
    return np.stack([np.interp(times, grid, xyz[k]) for k in range(3)], axis=-1)


def earth_limb_deg(targets: np.ndarray, spacecraft_km: np.ndarray) -> np.ndarray:
    """Angle (deg) between each target and the nearest Earth limb seen from the spacecraft, (m, n).

    Angle to the Earth's centre minus the Earth's angular radius ``asin(R / |r|)`` (spherical Earth);
    negative when the target is behind the Earth (occulted).
    """
    distance = np.linalg.norm(spacecraft_km, axis=-1)
    radius = np.rad2deg(np.arcsin(np.clip(EARTH_RADIUS_KM / distance, -1.0, 1.0)))
    return angle_deg(targets, -spacecraft_km) - radius[None, :]


def in_earth_shadow(spacecraft_km: np.ndarray, sun_km: np.ndarray) -> np.ndarray:
    """True where the spacecraft is inside the Earth's cylindrical shadow, shape (n,).

    Cylindrical model: behind the Earth as seen from the Sun and closer than one Earth radius to the
    Sun-Earth line (the umbra's 0.27 deg taper is ignored: < 500 km at XMM's apogee).
    """
    s = sun_km / np.linalg.norm(sun_km, axis=-1, keepdims=True)
    along = np.sum(spacecraft_km * s, axis=-1)
    perp = np.linalg.norm(spacecraft_km - along[:, None] * s, axis=-1)
    return (along < 0) & (perp < EARTH_RADIUS_KM)


def windows(mask: npt.ArrayLike, mjd: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Start and end MJDs of the runs of True in ``mask`` sampled at ``mjd`` (1-D).

    A window runs from its first visible sample to its last; edges are thus accurate to one step.
    """
    ok = np.asarray(mask, dtype=bool)
    times = np.asarray(mjd, dtype="float64")
    if ok.size == 0:
        return np.empty(0), np.empty(0)
    edges = np.diff(np.concatenate([[0], ok.astype("int8"), [0]]))
    first = np.flatnonzero(edges == 1)
    last = np.flatnonzero(edges == -1) - 1
    return times[first], times[last]
