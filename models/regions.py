"""``s_region`` values: STC-S strings (``Circle ICRS ra dec r``, ``Polygon ICRS ra1 dec1 ...``).

STC-S (TAP 1.0 section 6) is what ObsLocTAP allows for ``s_region`` alongside DALI shapes, and the
one encoding that holds circles and polygons in one column; TAP loaders turn it into pgSphere
geometries. Formatting is vectorised and fixed-precision (1e-6 deg) so output is deterministic.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

_FMT = "%.6f"


def _fmt(values: npt.ArrayLike) -> np.ndarray:
    arr = np.asarray(values, dtype="float64")
    return np.char.mod(_FMT, arr)


def circle_stcs(ra: npt.ArrayLike, dec: npt.ArrayLike, radius_deg: npt.ArrayLike) -> pd.Series:
    """``Circle ICRS ra dec r`` per row; rows with a NULL position give NULL."""
    ra_a = np.asarray(ra, dtype="float64")
    dec_a = np.asarray(dec, dtype="float64")
    r_a = np.broadcast_to(np.asarray(radius_deg, dtype="float64"), ra_a.shape)
    text = np.char.add(
        np.char.add(np.char.add("Circle ICRS ", _fmt(ra_a)), np.char.add(" ", _fmt(dec_a))),
        np.char.add(" ", _fmt(r_a)),
    )
    out = pd.Series(text.astype(object))
    out[np.isnan(ra_a) | np.isnan(dec_a) | np.isnan(r_a)] = None
    return out


def polygon_stcs(ra_vertices: npt.ArrayLike, dec_vertices: npt.ArrayLike) -> pd.Series:
    """``Polygon ICRS ...`` per row from ``(n_rows, n_vertices)`` vertex arrays (counter-clockwise)."""
    ra_v = np.asarray(ra_vertices, dtype="float64") % 360.0
    dec_v = np.asarray(dec_vertices, dtype="float64")
    parts = np.empty(ra_v.shape[:1], dtype=object)
    parts[:] = "Polygon ICRS"
    for k in range(ra_v.shape[1]):  # loop over vertices (a handful), not rows
        parts = np.char.add(np.char.add(parts.astype(str), " "), _fmt(ra_v[:, k]))
        parts = np.char.add(np.char.add(parts, " "), _fmt(dec_v[:, k]))
    out = pd.Series(np.asarray(parts).astype(object))
    out[np.isnan(ra_v).any(axis=1) | np.isnan(dec_v).any(axis=1)] = None
    return out
