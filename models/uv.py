"""uv coverage of an interferometer: baselines, uv tracks and the radio extension's uv statistics.

Pure numpy, vectorised over baselines, hour angles and (for :func:`uv_stats`) over any leading
batch axes, so a harvest computes the coverage of many observations in one call.

Conventions (Thompson, Moran & Swenson, *Interferometry and Synthesis in Radio Astronomy*,
3rd ed., eqs. 4.1 and 4.4):

* A baseline is given in the local ground frame as (E, N, U) metres; stations of one array are
  taken at equal height (U = 0), as the VLTI station table is (sources.md).
* Equatorial components for a site at latitude ``phi``::

      X = -sin(phi) N + cos(phi) U      (towards hour angle 0, declination 0)
      Y =  E                            (towards hour angle -6 h)
      Z =  cos(phi) N + sin(phi) U      (towards the celestial pole)

* For a source at hour angle ``H`` and declination ``delta``::

      u =  sin(H) X + cos(H) Y
      v = -sin(delta) cos(H) X + sin(delta) sin(H) Y + cos(delta) Z
      w =  cos(delta) cos(H) X - cos(delta) sin(H) Y + sin(delta) Z

  (u, v, w) is a rotation of (X, Y, Z): the projected length sqrt(u^2 + v^2) never exceeds the
  baseline length. At ``H = 0`` this gives ``u = E`` and ``v = N cos(phi - delta)`` (for U = 0).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

#: Default grid size N of the filling factor (see :func:`uv_fill`).
FILL_GRID_N = 100


class UVTracks(NamedTuple):
    """uv tracks: metres with shape ``(..., n_baselines, n_hour_angles)``; wavelengths add a last axis."""

    u_m: np.ndarray
    v_m: np.ndarray
    w_m: np.ndarray
    #: u / lambda, shape ``u_m.shape + (n_wavelengths,)``; ``None`` without wavelengths.
    u_wl: np.ndarray | None
    v_wl: np.ndarray | None


class UVStats(NamedTuple):
    """The radio extension's uv columns (arrays over the batch axes, or scalars)."""

    uv_distance_min: np.ndarray
    uv_distance_max: np.ndarray
    uv_distribution_ecc: np.ndarray
    uv_distribution_fill: np.ndarray


def baselines_enu(stations_en: npt.ArrayLike) -> np.ndarray:
    """Baseline vectors ``S_j - S_i`` (i < j) from ``(n, 2)`` station (E, N) positions in metres.

    Pair order is :func:`numpy.triu_indices` ``(n, 1)``; heights are equal, so U = 0 and only
    (E, N) is returned, shape ``(n * (n - 1) / 2, 2)``.
    """
    pos = np.asarray(stations_en, dtype="float64")
    if pos.ndim != 2 or pos.shape[1] != 2:
        raise ValueError(f"station positions must have shape (n, 2), got {pos.shape}")
    i, j = np.triu_indices(pos.shape[0], 1)
    return pos[j] - pos[i]


def baseline_lengths(stations_en: npt.ArrayLike) -> np.ndarray:
    """Ground separations of every station pair (metres), same order as :func:`baselines_enu`."""
    return np.hypot(*baselines_enu(stations_en).T)


def uv_tracks(
    baselines_en: npt.ArrayLike,
    dec_deg: npt.ArrayLike,
    lat_deg: float,
    hour_angles_rad: npt.ArrayLike,
    wavelength_m: npt.ArrayLike | None = None,
) -> UVTracks:
    """Tracks in the uv plane of ground baselines for a source at ``dec_deg`` observed over ``hour_angles_rad``.

    Parameters
    ----------
    baselines_en
        ``(n_baselines, 2)`` (E, N) baseline vectors in metres (U = 0).
    dec_deg
        Source declination; a scalar or an array of shape ``batch`` (one per observation).
    lat_deg
        Site latitude.
    hour_angles_rad
        Hour angles, shape ``(n_h,)`` or ``batch + (n_h,)``.
    wavelength_m
        Optional wavelengths (scalar or 1-D) for the tracks in wavelengths.

    Returns
    -------
    UVTracks
        ``u_m``, ``v_m``, ``w_m`` of shape ``batch + (n_baselines, n_h)``.
    """
    b = np.asarray(baselines_en, dtype="float64")
    if b.ndim != 2 or b.shape[1] != 2:
        raise ValueError(f"baselines must have shape (n, 2), got {b.shape}")
    phi = np.deg2rad(lat_deg)
    e, n = b[:, 0], b[:, 1]
    x = -np.sin(phi) * n
    y = e
    z = np.cos(phi) * n
    dec = np.deg2rad(np.asarray(dec_deg, dtype="float64"))[..., None, None]
    h = np.asarray(hour_angles_rad, dtype="float64")[..., None, :]
    x, y, z = x[:, None], y[:, None], z[:, None]
    sh, ch = np.sin(h), np.cos(h)
    sd, cd = np.sin(dec), np.cos(dec)
    u = sh * x + ch * y
    v = -sd * ch * x + sd * sh * y + cd * z
    w = cd * ch * x - cd * sh * y + sd * z
    u, v, w = np.broadcast_arrays(u, v, w)
    if wavelength_m is None:
        return UVTracks(u, v, w, None, None)
    lam = np.atleast_1d(np.asarray(wavelength_m, dtype="float64"))
    return UVTracks(u, v, w, u[..., None] / lam, v[..., None] / lam)


def with_conjugates(u: npt.ArrayLike, v: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Add the Hermitian points (-u, -v) along the last axis: a visibility samples both."""
    u_a, v_a = np.asarray(u, dtype="float64"), np.asarray(v, dtype="float64")
    return np.concatenate([u_a, -u_a], axis=-1), np.concatenate([v_a, -v_a], axis=-1)


def _principal_axes(u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Samples rotated onto their principal axes (2-component PCA, closed form per batch)."""
    du = u - u.mean(axis=-1, keepdims=True)
    dv = v - v.mean(axis=-1, keepdims=True)
    cuu = (du * du).mean(axis=-1, keepdims=True)
    cvv = (dv * dv).mean(axis=-1, keepdims=True)
    cuv = (du * dv).mean(axis=-1, keepdims=True)
    # Direction of the first component; an isotropic spread has none, keep the axes then.
    isotropic = np.hypot(cuu - cvv, 2.0 * cuv) <= 1e-9 * (cuu + cvv)
    theta = np.where(isotropic, 0.0, 0.5 * np.arctan2(2.0 * cuv, cuu - cvv))
    c, s = np.cos(theta), np.sin(theta)
    return c * u + s * v, -s * u + c * v


def uv_eccentricity(u: npt.ArrayLike, v: npt.ArrayLike) -> np.ndarray:
    """``sqrt(1 - b^2 / a^2)`` after PCA rotation (radio extension, "uv eccentricity").

    a and b are half the extents of the rotated samples along the first and second component
    (the larger half-extent is taken as a). Collinear samples give 1; a single point gives NaN.
    """
    xr, yr = _principal_axes(np.asarray(u, dtype="float64"), np.asarray(v, dtype="float64"))
    ha = 0.5 * (xr.max(axis=-1) - xr.min(axis=-1))
    hb = 0.5 * (yr.max(axis=-1) - yr.min(axis=-1))
    a, b = np.maximum(ha, hb), np.minimum(ha, hb)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(a > 0, np.sqrt(np.clip(1.0 - (b / a) ** 2, 0.0, 1.0)), np.nan)


def uv_fill(u: npt.ArrayLike, v: npt.ArrayLike, n_grid: int = FILL_GRID_N) -> np.ndarray:
    """Fraction of occupied cells of an ``n_grid`` x ``n_grid`` grid over the rotated samples' box.

    The radio extension grids the bounding box of the PCA-rotated samples into N x N equal cells
    and sums the samples per cell divided by N^2 (its preliminary analysis used N = 1000). As
    written that is the mean number of samples per cell, unbounded and dependent on the sampling
    rate, while its use cases filter ``fill > 0.2`` as on a fraction; voharvest therefore counts
    *occupied* cells / N^2 (in [0, 1]) with N = :data:`FILL_GRID_N` = 100, and samples tracks
    finely enough that a track crosses neighbouring cells (see ``models.radio``). A zero extent
    along one axis puts every sample in one row of cells.
    """
    xr, yr = _principal_axes(np.asarray(u, dtype="float64"), np.asarray(v, dtype="float64"))
    cells = _cell_index(xr, n_grid) * n_grid + _cell_index(yr, n_grid)
    ordered = np.sort(cells, axis=-1)
    distinct = 1 + np.count_nonzero(np.diff(ordered, axis=-1), axis=-1)
    return distinct / float(n_grid * n_grid)


def _cell_index(x: np.ndarray, n_grid: int) -> np.ndarray:
    lo = x.min(axis=-1, keepdims=True)
    span = x.max(axis=-1, keepdims=True) - lo
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(span > 0, (x - lo) / np.where(span > 0, span, 1.0), 0.0)
    return np.clip(np.floor(frac * n_grid), 0, n_grid - 1).astype("int64")


def uv_stats(u: npt.ArrayLike, v: npt.ArrayLike, n_grid: int = FILL_GRID_N) -> UVStats:
    """``uv_distance_min/max`` (same unit as u, v), eccentricity and filling factor.

    Samples lie along the last axis; leading axes are a batch (one result per observation).
    Pass both halves of the Hermitian plane (:func:`with_conjugates`) for the usual picture.
    """
    u_a, v_a = np.asarray(u, dtype="float64"), np.asarray(v, dtype="float64")
    if u_a.shape != v_a.shape or u_a.shape[-1] == 0:
        raise ValueError(f"u and v need the same non-empty shape, got {u_a.shape} and {v_a.shape}")
    r = np.hypot(u_a, v_a)
    return UVStats(r.min(axis=-1), r.max(axis=-1), uv_eccentricity(u_a, v_a), uv_fill(u_a, v_a, n_grid))
