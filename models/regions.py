"""``s_region`` values: STC-S strings (``Circle ICRS ra dec r``, ``Polygon ICRS ra1 dec1 ...``).

STC-S (TAP 1.0 section 6) is what ObsLocTAP allows for ``s_region`` alongside DALI shapes, and the
one encoding that holds circles and polygons in one column; TAP loaders turn it into pgSphere
geometries. Formatting is vectorised and fixed-precision (1e-6 deg) so output is deterministic.

Parsing (`parse_stcs`) goes the other way for the MOC builders and the pgSphere load kit
(`stcs_to_pgsphere`); it runs pyarrow's compute kernels (RE2 regular expressions in C++) over
the whole column: pandas' ``str.extract`` falls back to a Python call per row.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

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


# --------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------

#: ``shape frame [refpos|flavour ...] body`` (RE2 syntax, run by pyarrow on the whole column).
_STCS_HEAD = (
    r"(?i)^(?P<shape>[a-z]+)\s+(?P<frame>[a-z0-9_]+)"
    r"(?:\s+(?:BARYCENTER|GEOCENTER|TOPOCENTER|UNKNOWNREFPOS|SPHER2))*\s+(?P<body>\S.*)$"
)
#: A finite decimal number (no nan/inf: they are not coordinates).
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_THREE = rf"^(?P<a>{_NUMBER})\s+(?P<b>{_NUMBER})\s+(?P<c>{_NUMBER})$"


class RegionParseError(ValueError):
    """Some ``s_region`` strings could not be read; ``rows`` gives their positions."""

    def __init__(self, message: str, rows: list[int]):
        super().__init__(message)
        self.rows = rows


@dataclass(frozen=True)
class ParsedRegions:
    """STC-S regions of a column, in flat arrays (one entry per row, or per polygon vertex).

    Attributes
    ----------
    kind
        ``"circle"``, ``"polygon"`` or ``"null"`` per row.
    ra, dec, radius
        Circle centre and radius (deg) per row; NaN for other kinds.
    polygon_rows
        Row positions of the polygons, in row order.
    polygon_offsets
        ``len(polygon_rows) + 1`` offsets into the vertex arrays (Arrow list layout), so ragged
        polygons need no per-row objects.
    vertex_ra, vertex_dec
        Polygon vertices (deg), all polygons concatenated; RA normalised to [0, 360).
    """

    kind: np.ndarray
    ra: np.ndarray
    dec: np.ndarray
    radius: np.ndarray
    polygon_rows: np.ndarray
    polygon_offsets: np.ndarray
    vertex_ra: np.ndarray
    vertex_dec: np.ndarray

    def __len__(self) -> int:
        return len(self.kind)

    @property
    def is_circle(self) -> np.ndarray:
        """Boolean mask of circle rows."""
        return self.kind == "circle"

    @property
    def is_polygon(self) -> np.ndarray:
        """Boolean mask of polygon rows."""
        return self.kind == "polygon"

    @property
    def is_null(self) -> np.ndarray:
        """Boolean mask of rows without a region."""
        return self.kind == "null"

    @property
    def vertex_counts(self) -> np.ndarray:
        """Number of vertices of each polygon."""
        return np.diff(self.polygon_offsets)

    def polygon_groups(self) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Polygons grouped by vertex count: ``(rows, ra, dec)`` with ``(m, k)`` vertex arrays.

        Grouping turns the ragged layout into rectangular arrays, so per-vertex work (formatting,
        MOC building) loops over the few distinct vertex counts, never over rows.
        """
        counts = self.vertex_counts
        starts = self.polygon_offsets[:-1]
        for k in np.unique(counts):
            which = np.flatnonzero(counts == k)
            idx = starts[which][:, None] + np.arange(k)[None, :]
            yield self.polygon_rows[which], self.vertex_ra[idx], self.vertex_dec[idx]


def _fail(series: pd.Series, bad: np.ndarray, why: str) -> None:
    rows = [int(i) for i in np.flatnonzero(bad)]
    if not rows:
        return
    shown = ", ".join(f"row {r} (index {series.index[r : r + 1].tolist()[0]!r}): {series.iloc[r]!r}" for r in rows[:5])
    more = f" and {len(rows) - 5} more" if len(rows) > 5 else ""
    raise RegionParseError(
        f"s_region: {why} in {len(rows)} row(s): {shown}{more}; "
        "expected 'Circle ICRS ra dec radius' or 'Polygon ICRS ra1 dec1 ra2 dec2 ra3 dec3 ...' (degrees)",
        rows,
    )


def _np_bool(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Boolean numpy array of an Arrow boolean array, nulls as False."""
    return pc.fill_null(values, False).to_numpy(zero_copy_only=False).astype(bool)


def _np_float(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """float64 numpy array of Arrow strings already checked to be numbers."""
    return pc.cast(values, pa.float64()).to_numpy(zero_copy_only=False)


def parse_stcs(series: pd.Series) -> ParsedRegions:
    """Read an STC-S ``s_region`` column (circles and polygons, ICRS, degrees), vectorised.

    Only what ``s_region`` needs is accepted: ``Circle`` and ``Polygon`` in the ``ICRS`` frame
    (optionally followed by a reference position or ``SPHER2``). Other shapes or frames would be
    silently misread by MOC and pgSphere builders, so they are errors, not guesses. A closing
    vertex that repeats the first is dropped (STC-S polygons are implicitly closed and pgSphere
    refuses repeated vertices). Empty strings and nulls are ``"null"`` rows.

    Parameters
    ----------
    series
        The ``s_region`` column.

    Returns
    -------
    ParsedRegions

    Raises
    ------
    RegionParseError
        (a ValueError) naming the row positions, index labels and strings that cannot be read.
    """
    src = pd.Series(series, copy=False)
    n = len(src)
    try:
        arr = pa.array(src.to_numpy(dtype=object), type=pa.string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        # error path only: find the offending rows
        bad = src.map(lambda v: not (v is None or isinstance(v, str) or (isinstance(v, float) and np.isnan(v))))
        _fail(src, bad.to_numpy(dtype=bool), "value is not a string")
        raise
    text = pc.utf8_trim_whitespace(arr)
    null = _np_bool(pc.or_kleene(pc.is_null(text), pc.equal(text, "")))

    head = pc.extract_regex(text, _STCS_HEAD)
    matched = _np_bool(pc.is_valid(head))
    shape = pc.utf8_lower(pc.struct_field(head, "shape"))
    frame = pc.utf8_upper(pc.struct_field(head, "frame"))
    _fail(src, ~null & ~matched, "not an STC-S shape")
    is_circle = ~null & _np_bool(pc.equal(shape, "circle"))
    is_poly = ~null & _np_bool(pc.equal(shape, "polygon"))
    _fail(src, ~null & ~is_circle & ~is_poly, "unsupported STC-S shape (only Circle, Polygon)")
    _fail(src, ~null & ~_np_bool(pc.equal(frame, "ICRS")), "frame is not ICRS")
    body = pc.struct_field(head, "body")

    kind = np.full(n, "null", dtype="<U7")
    kind[is_circle] = "circle"
    kind[is_poly] = "polygon"
    ra = np.full(n, np.nan)
    dec = np.full(n, np.nan)
    radius = np.full(n, np.nan)
    circle_rows = np.flatnonzero(is_circle)
    if len(circle_rows):
        three = pc.extract_regex(pc.take(body, pa.array(circle_rows)), _THREE)
        bad = np.zeros(n, dtype=bool)
        bad[circle_rows] = ~_np_bool(pc.is_valid(three))
        _fail(src, bad, "circle needs three finite numbers (ra dec radius)")
        ra[circle_rows] = _np_float(pc.struct_field(three, "a")) % 360.0
        dec[circle_rows] = _np_float(pc.struct_field(three, "b"))
        radius[circle_rows] = _np_float(pc.struct_field(three, "c"))
        _fail(src, is_circle & ((radius <= 0) | (radius >= 180)), "circle radius outside (0, 180) deg")
        _fail(src, is_circle & (np.abs(dec) > 90.0), "circle declination outside [-90, 90]")

    poly_rows = np.flatnonzero(is_poly)
    offsets = np.zeros(1, dtype="int64")
    v_ra = v_dec = np.empty(0)
    if len(poly_rows):
        tokens = pc.split_pattern_regex(pc.take(body, pa.array(poly_rows)), r"\s+")
        counts = pc.list_value_length(tokens).to_numpy(zero_copy_only=False).astype("int64")
        bad = np.zeros(n, dtype=bool)
        bad[poly_rows] = (counts % 2 != 0) | (counts < 6)
        _fail(src, bad, "polygon needs an even number of coordinates, at least 3 vertices")
        flat = pc.list_flatten(tokens)
        numeric = _np_bool(pc.match_substring_regex(flat, f"^{_NUMBER}$"))
        bad = np.zeros(n, dtype=bool)
        bad[poly_rows[np.repeat(np.arange(len(poly_rows)), counts)[~numeric]]] = True
        _fail(src, bad, "polygon coordinate is not a finite number")
        nums = _np_float(flat)
        v_ra, v_dec = nums[0::2] % 360.0, nums[1::2]
        nvert = counts // 2
        offsets = np.concatenate([[0], np.cumsum(nvert)])
        first, last = offsets[:-1], offsets[1:] - 1
        closing = (v_ra[first] == v_ra[last]) & (v_dec[first] == v_dec[last])
        keep = np.ones(len(v_ra), dtype=bool)
        keep[last[closing]] = False
        v_ra, v_dec = v_ra[keep], v_dec[keep]
        nvert = nvert - closing
        bad = np.zeros(n, dtype=bool)
        bad[poly_rows] = nvert < 3
        _fail(src, bad, "polygon has fewer than 3 distinct vertices")
        offsets = np.concatenate([[0], np.cumsum(nvert)]).astype("int64")
        bad = np.zeros(n, dtype=bool)
        bad[np.repeat(poly_rows, nvert)[np.abs(v_dec) > 90.0]] = True
        _fail(src, bad, "polygon declination outside [-90, 90]")

    return ParsedRegions(
        kind=kind,
        ra=ra,
        dec=dec,
        radius=radius,
        polygon_rows=poly_rows.astype("int64"),
        polygon_offsets=offsets,
        vertex_ra=np.asarray(v_ra, dtype="float64"),
        vertex_dec=np.asarray(v_dec, dtype="float64"),
    )


# --------------------------------------------------------------------------------------------
# pgSphere
# --------------------------------------------------------------------------------------------

#: Vertices of the polygon that replaces a circle in pgSphere. 16 keeps the literal short
#: (~400 characters) while overshooting the radius by only 1/cos(pi/16) - 1 = 2 %.
CIRCLE_VERTICES = 16
#: Added to circle radii before building their polygons, so that rounding the vertices to the
#: literals' 1e-6 deg (at most 7.1e-7 deg of arc) can never cut into the circle.
ROUNDING_MARGIN_DEG = 2e-6


def circumscribed_polygon(
    ra: npt.ArrayLike, dec: npt.ArrayLike, radius_deg: npt.ArrayLike, n_vertices: int = CIRCLE_VERTICES
) -> tuple[np.ndarray, np.ndarray]:
    """Vertices ``(m, n_vertices)`` of regular spherical polygons circumscribing circles.

    The polygon contains the whole circle (its great-circle edges touch the circle), so any query
    region that intersects the circle also intersects the polygon: replacing a circle by it may add
    false positives at the 2 % level, never lose a match. On the sphere a regular N-gon with
    circumradius R has inradius r where ``tan r = tan R cos(pi/N)``. Vertices run
    counter-clockwise as seen on the sky (bearings north through east).
    """
    ra_r = np.radians(np.asarray(ra, dtype="float64"))[:, None]
    dec_r = np.radians(np.asarray(dec, dtype="float64"))[:, None]
    r = np.radians(np.asarray(radius_deg, dtype="float64"))[:, None]
    if np.any(r >= np.pi / 2):
        raise ValueError("a circle of radius >= 90 deg has no circumscribing polygon")
    big_r = np.arctan(np.tan(r) / np.cos(np.pi / n_vertices))
    bearing = 2.0 * np.pi * np.arange(n_vertices)[None, :] / n_vertices
    sin_dec2 = np.sin(dec_r) * np.cos(big_r) + np.cos(dec_r) * np.sin(big_r) * np.cos(bearing)
    dec2 = np.arcsin(np.clip(sin_dec2, -1.0, 1.0))
    ra2 = ra_r + np.arctan2(np.sin(bearing) * np.sin(big_r) * np.cos(dec_r), np.cos(big_r) - np.sin(dec_r) * sin_dec2)
    return np.degrees(ra2) % 360.0, np.degrees(dec2)


def _fixed6(values: np.ndarray) -> pa.Array:
    """Arrow strings of finite floats with 6 decimals (integer arithmetic; C++ kernels only)."""
    micro = np.round(np.asarray(values, dtype="float64") * 1e6).astype("int64")
    whole, frac = np.divmod(np.abs(micro), 1_000_000)
    sign = pc.if_else(pa.array(micro < 0), "-", "")
    frac_text = pc.utf8_lpad(pc.cast(pa.array(frac), pa.string()), 6, "0")
    return pc.binary_join_element_wise(sign, pc.cast(pa.array(whole), pa.string()), ".", frac_text, "")


def _spoly(ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
    """``{(ra1d,dec1d),(...)}`` for ``(m, k)`` vertex arrays, joined column-wise by pyarrow."""
    parts: list[pa.Array | str] = ["{"]
    for k in range(ra.shape[1]):
        parts += ["(" if k == 0 else ",(", _fixed6(ra[:, k]), "d,", _fixed6(dec[:, k]), "d)"]
    parts.append("}")
    return pc.binary_join_element_wise(*parts, "").to_numpy(zero_copy_only=False)


def stcs_to_pgsphere(series: pd.Series, *, circle_vertices: int = CIRCLE_VERTICES) -> pd.Series:
    """The pgSphere ``spoly`` literals of an STC-S ``s_region`` column (the TAP load kit's input).

    One column type (``spoly``) holds both shapes, so circles become circumscribing regular
    polygons of ``circle_vertices`` vertices (see `circumscribed_polygon`: ``INTERSECTS`` queries
    never miss a row), their radius widened by `ROUNDING_MARGIN_DEG` so that the 1e-6 deg
    formatting keeps the circle inside. Null regions stay null; the index is kept.

    Raises
    ------
    RegionParseError
        For strings `parse_stcs` cannot read.
    """
    parsed = parse_stcs(series)
    out = np.full(len(parsed), None, dtype=object)
    circles = np.flatnonzero(parsed.is_circle)
    if len(circles):
        v_ra, v_dec = circumscribed_polygon(
            parsed.ra[circles], parsed.dec[circles], parsed.radius[circles] + ROUNDING_MARGIN_DEG, circle_vertices
        )
        out[circles] = _spoly(v_ra, v_dec)
    for rows, v_ra, v_dec in parsed.polygon_groups():
        out[rows] = _spoly(v_ra, v_dec)
    return pd.Series(out, index=pd.Series(series, copy=False).index, name="s_region", dtype=object)
