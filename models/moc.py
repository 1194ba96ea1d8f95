"""MOC 2.0 coverage maps of a table: space (SMOC), time (TMOC) and space-time (STMOC), and their files.

Orders, chosen per table and facility from what the rows describe (:func:`choose_orders`):

* **Space order: four cells across the typical footprint.** The order whose mean cell
  (58.6 deg / 2^order) is at most a quarter of the median footprint diameter (distinct footprints:
  circle diameter, or twice the largest vertex distance of a polygon from its centre), e.g. 5 for
  INTEGRAL's 9-14 deg fields, 9 for XMM-Newton's 30' octagon, 11 for NuSTAR's 12', 12 for a 6.8'
  VLT field. A MOC always covers its footprints (cells overlapping a footprint are kept), so the
  order only sets how much sky around a footprint is included, at most about a cell width: a
  quarter of the footprint. Finer orders add boundary cells (and building time: mocpy's cost per
  footprint grows with the cells across it) without telling a user more about where the
  instrument looked; a fixed order would make INTEGRAL's MOCs huge and a VLT field a few cells.
  Never finer than the instrument resolution (median ``s_resolution``: a cell below it describes
  nothing), and within [`MIN_SPACE_ORDER`, `MAX_SPACE_ORDER`].
* **Time order: one cell no longer than the shortest exposures.** The order whose cell
  (2^(61-order) us) is at most the 5th percentile of ``t_max - t_min`` (a percentile, so that one
  aborted seconds-long row does not set the order of a whole facility), and at most order 31
  (2^30 us, 17.9 min): the schedules give UTC at the observatory, and we do not correct to the
  solar-system barycentre, so finer cells would be false precision (MOC 2.0, section 4.2,
  recommends order 31 when the reference position is not barycentric). A VLT frame of minutes gets
  31, an XMM-Newton observation of hours 29, an INTEGRAL revolution of a day 25.
* **Budget** (:func:`plan_snapshot_mocs`): all MOC files of a snapshot together may not be larger
  than the snapshot's VOTables. Over budget, the largest file's MOC is degraded by one order (both
  orders for a space-time MOC, which is rebuilt from its distinct footprints), and again, until the
  files fit or every MOC is at the floor (`MIN_SPACE_ORDER`, `MIN_TIME_ORDER`). Largest first,
  ties by file name: the same rows always give the same files. The FITS framing (two 2880-byte
  header blocks per file, the size of an empty MOC) is not charged: a snapshot of a few rows could
  not pay it from its VOTables, and degrading would not shrink it.

Building: every distinct footprint (same ``s_region`` text) is computed once, as one MOC, by
mocpy's vectorised constructors (``MOC.from_cones`` without union; ``MOC.from_polygons`` in batches
of `POLYGON_BATCH`: one call with all polygons is quadratic in mocpy 0.21). The space MOC is their
union (one ``multi_union``); the space-time MOC is built from the distinct footprints too: the rows
sharing a footprint have their time ranges merged at the time order, and each merged range refers
to its footprint's MOC (``STMOC.from_spatial_coverages``), so a pointing observed a thousand times
is computed once and costs one entry per run of time cells, not one per row.

Time axis: MOC 2.0 counts microseconds of **TCB** since JD 0. `tcb_microseconds` converts UTC MJD
exactly for leap seconds (astropy UTC->TAI) and interpolates the smooth TCB-TAI offset from a
daily table computed by astropy (its 1.7 ms periodic TDB-TT term varies by less than 0.1 us
within a day), which is 50 times faster than astropy's per-value series and agrees with it to
within 1 us. Intervals are closed: ``t_max`` itself is inside the MOC.

Empty input (no row with a region, or with both times) gives a valid empty MOC of the requested
order, which writes and reloads like any other: an empty collection still publishes its coverage.

Files: FITS (MOC 2.0, the standard serialisation) for every MOC, plus JSON for space and time MOCs
(small, and what web clients such as Aladin Lite read). Space-time MOCs get no JSON: MOC 2.0's JSON
is a non-normative suggestion whose space-time example is not even valid JSON, mocpy calls it
unofficial, and it would double the largest files of a snapshot. Space MOCs use NUNIQ ordering, as
MOC 2.0 recommends for compatibility with MOC 1.x readers (mocpy's ``v1_compatible``; it also keeps
the 1.1 keyword ``MOCORDER``); time and space-time MOCs can only be RANGE-ordered. Headers carry
MOCVERS, MOCDIM, ORDERING, COORDSYS / TIMESYS, MOCORD_S / MOCORD_T, MOCID and MOCTOOL, and no date,
so the same coverage always gives the same bytes.
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import astropy.units as u
import numpy as np
import numpy.typing as npt
import pandas as pd
from astropy.time import Time
from erfa import ErfaWarning
from mocpy import MOC, STMOC, TimeMOC

from models.durable import link_or_copy
from models.regions import ParsedRegions, RegionParseError, parse_stcs
from models.timeutil import utc_mjd_to_time

#: Default HEALPix order of space MOCs when nothing says otherwise (3.4 arcmin cells).
SPACE_ORDER = 10
#: Finest time order (2^30 us = 17.9 min cells): the default, and the limit without barycentric correction.
TIME_ORDER = 31
#: Cells across the median footprint that set the space order (see the module notes).
CELLS_ACROSS = 4
#: Coarsest space order of a published MOC (7.3 deg cells: below it a MOC no longer says where).
MIN_SPACE_ORDER = 3
#: Finest space order (0.8 arcsec cells): pointings are not known better.
MAX_SPACE_ORDER = 18
#: Coarsest time order (2^44 us = 204 d cells: half a year, the scale of an observing period).
MIN_TIME_ORDER = 17
#: Percentile of the durations that sets the time order (robust to a single very short row).
DURATION_PERCENTILE = 5.0
#: Polygons per ``MOC.from_polygons`` call: one call is quadratic in its size in mocpy 0.21
#: (5 k / 50 k / 150 k polygons: 0.11 / 9.0 / 88 s), batches of 5 k are linear.
POLYGON_BATCH = 5_000
#: How mocpy merges many cones in `space_moc`: our footprints overlap (the same field observed repeatedly),
#: and "large_cones" was the faster strategy in benchmarks/bench_moc.py for such inputs (for 8 deg
#: cones 1.6 to 4 times faster than "small_cones"; about equal for sub-degree ones).
UNION_STRATEGY = "large_cones"
#: mocpy computes cone coverage this many orders deeper, then degrades: cells only grazed by the
#: cone are dropped (about 11 % less area for 0.1 deg cones at order 10), at 2-5 times the cost.
DELTA_DEPTH = 2
#: Mean HEALPix cell size at order 0 (deg): sqrt(4 pi / 12) rad.
_CELL0_DEG = float(np.degrees(np.sqrt(4.0 * np.pi / 12.0)))
#: Bytes of FITS framing per MOC file (primary header + table header blocks), not charged to the budget.
FITS_FRAMING = 2 * 2880

_US_PER_DAY = 86_400_000_000
#: Keywords that would make two writes of the same MOC differ.
_VOLATILE_KEYWORDS = ("DATE", "DATE-HDU", "CHECKSUM", "DATASUM")


# --------------------------------------------------------------------------------------------
# Time axis
# --------------------------------------------------------------------------------------------


#: Days per block of the cached daily TCB-TAI table (2.8 years: 1,025 astropy conversions, ~15 ms once).
_BLOCK_DAYS = 1024


@functools.cache
def _offset_block(block: int) -> np.ndarray:
    """TCB - TAI (days) at the TAI Julian dates ``block * _BLOCK_DAYS + 0 .. _BLOCK_DAYS`` (astropy, exact)."""
    nodes = (block * _BLOCK_DAYS + np.arange(_BLOCK_DAYS + 1)).astype("float64")
    tai = Time(nodes, format="jd", scale="tai")
    with warnings.catch_warnings():  # nodes past the data ("dubious year"): TCB-TAI needs no leap seconds
        warnings.simplefilter("ignore", ErfaWarning)
        tcb = tai.tcb
    offset = (tcb.jd1 - tai.jd1) + (tcb.jd2 - tai.jd2)
    offset.setflags(write=False)
    return offset


def _tcb_minus_tai_days(tai_jd: np.ndarray) -> np.ndarray:
    """TCB - TAI (days) at TAI Julian dates, interpolated linearly from an exact daily astropy table.

    The table is computed in cached blocks of `_BLOCK_DAYS` days, so every call (whatever its size)
    uses the same nodes: the same instant always gets the same microsecond, and a process pays for
    each block once.
    """
    first = int(np.floor(tai_jd.min())) // _BLOCK_DAYS
    last = int(np.floor(tai_jd.max())) // _BLOCK_DAYS
    table = np.concatenate([_offset_block(b)[:-1] for b in range(first, last + 1)] + [_offset_block(last)[-1:]])
    x = tai_jd - first * _BLOCK_DAYS
    i = np.clip(np.floor(x).astype(np.int64), 0, len(table) - 2)
    frac = x - i
    return table[i] + frac * (table[i + 1] - table[i])


def tcb_microseconds(mjd_utc: npt.ArrayLike, *, ceil: bool = False) -> np.ndarray:
    """Microseconds of TCB since JD 0 (the MOC 2.0 time axis) of UTC MJDs, as int64.

    Parameters
    ----------
    mjd_utc
        Finite UTC MJDs.
    ceil
        Round up instead of down (for interval ends, so that the MOC covers the whole interval).

    Returns
    -------
    numpy.ndarray
        int64 microseconds.
    """
    mjd = np.asarray(mjd_utc, dtype="float64")
    if mjd.size == 0:
        return np.empty(0, dtype="int64")
    if not np.isfinite(mjd).all():
        raise ValueError(f"non-finite MJD at positions {np.flatnonzero(~np.isfinite(mjd))[:5].tolist()}")
    tai = utc_mjd_to_time(mjd).tai  # exact leap seconds; cheap
    day = np.round(tai.jd1)
    frac = (tai.jd1 - day) + tai.jd2 + _tcb_minus_tai_days(day + tai.jd2)
    us = frac * _US_PER_DAY
    us = np.ceil(us) if ceil else np.floor(us)
    return day.astype("int64") * _US_PER_DAY + us.astype("int64")


def _check_times(t_min: np.ndarray, t_max: np.ndarray) -> np.ndarray:
    """Rows with both times; ValueError naming rows whose start is after their end."""
    ok = np.isfinite(t_min) & np.isfinite(t_max)
    with np.errstate(invalid="ignore"):
        bad = ok & (t_min > t_max)
    if bad.any():
        rows = np.flatnonzero(bad)
        raise ValueError(
            f"t_min > t_max in {len(rows)} row(s) (positions {rows[:5].tolist()}): "
            f"t_min={t_min[rows[:5]].tolist()} t_max={t_max[rows[:5]].tolist()}"
        )
    return ok


def _tcb_ranges(t_min: np.ndarray, t_max: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Half-open TCB microsecond ranges ``[start, end)`` covering closed UTC intervals."""
    start = tcb_microseconds(t_min)
    end = tcb_microseconds(t_max, ceil=True) + 1
    return start, end


def _times_for_mocpy(us: np.ndarray, *, later: bool) -> Time:
    """TCB `Time` from microseconds, safe for mocpy's own conversion (which truncates ``jd``).

    mocpy takes ``int(jd)`` of the float sum; a value within float64 rounding (20 us) of the next
    midnight would round to it and make mocpy's remainder negative. Such values are moved to the
    safe side: earlier for interval starts, later for interval ends, so coverage only grows.
    """
    day, rem = np.divmod(us, _US_PER_DAY)
    limit = _US_PER_DAY - 1000
    near = rem > limit
    if later:
        day = np.where(near, day + 1, day)
        rem = np.where(near, 0, rem)
    else:
        rem = np.where(near, limit, rem)
    return Time(day.astype("float64"), rem / _US_PER_DAY, format="jd", scale="tcb")


def time_moc(t_min: npt.ArrayLike, t_max: npt.ArrayLike, *, order: int = TIME_ORDER) -> TimeMOC:
    """Time MOC (TCB) of the closed intervals ``[t_min, t_max]`` given in UTC MJD.

    Rows where either time is null are skipped (a Planned observation has no time yet).

    Parameters
    ----------
    t_min, t_max
        UTC MJD (float64; NaN for null).
    order
        MOC time order (default `TIME_ORDER`).

    Returns
    -------
    mocpy.TimeMOC
        Empty (of ``order``) when no row has both times.

    Raises
    ------
    ValueError
        If a row has ``t_min > t_max``.
    """
    lo = np.asarray(t_min, dtype="float64")
    hi = np.asarray(t_max, dtype="float64")
    ok = _check_times(lo, hi)
    if not ok.any():
        return TimeMOC.new_empty(order)
    start, end = _tcb_ranges(lo[ok], hi[ok])
    ranges = np.column_stack([start, end]).astype(np.uint64)
    return TimeMOC.from_depth61_ranges(order, ranges)


# --------------------------------------------------------------------------------------------
# Footprints
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Footprints:
    """The distinct footprints of an ``s_region`` column and which row has which.

    Attributes
    ----------
    parsed
        The distinct regions, parsed (one entry per footprint; no null entries).
    codes
        Per row of the column, the index of its footprint in ``parsed``; -1 for rows without a region.
    """

    parsed: ParsedRegions
    codes: np.ndarray

    def __len__(self) -> int:
        return len(self.parsed)


def distinct_footprints(s_region: pd.Series) -> Footprints:
    """Group the rows of an STC-S column by footprint (identical region text), vectorised.

    Raises
    ------
    models.regions.RegionParseError
        For unreadable regions, naming their rows in ``s_region``.
    """
    values = pd.Series(s_region, copy=False).astype(object)
    values = values.where(values.notna() & (values.astype(str).str.strip() != ""), None)
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    try:
        parsed = parse_stcs(pd.Series(np.asarray(uniques, dtype=object), dtype=object))
    except RegionParseError:
        parse_stcs(pd.Series(s_region, copy=False))  # error path: name the rows of the column itself
        raise
    return Footprints(parsed, codes.astype(np.int64))


def footprint_diameters(parsed: ParsedRegions) -> np.ndarray:
    """Angular diameter (deg) of each region: circles 2r; polygons twice the largest vertex distance from the centre."""
    out = np.where(parsed.is_circle, 2.0 * parsed.radius, np.nan)
    for rows, v_ra, v_dec in parsed.polygon_groups():
        ra, dec = np.radians(v_ra), np.radians(v_dec)
        xyz = np.stack([np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)], axis=-1)
        centre = xyz.sum(axis=1)
        centre /= np.linalg.norm(centre, axis=1, keepdims=True)
        cos_sep = np.clip(np.einsum("mkc,mc->mk", xyz, centre), -1.0, 1.0)
        out[rows] = 2.0 * np.degrees(np.arccos(cos_sep.min(axis=1)))
    return out


def _fromiter(mocs: list[MOC]) -> np.ndarray:
    return np.fromiter(mocs, dtype=object, count=len(mocs))


def footprint_mocs(
    parsed: ParsedRegions, order: int, *, use: np.ndarray | None = None, delta_depth: int = DELTA_DEPTH
) -> np.ndarray:
    """One space MOC per region (object array aligned with ``parsed``; ``None`` where not built).

    Circles go to one ``MOC.from_cones`` call (no union), polygons to ``MOC.from_polygons`` per
    vertex count in batches of `POLYGON_BATCH` (linear; one call with all would be quadratic).

    Parameters
    ----------
    parsed
        Regions, normally distinct (`distinct_footprints`): each is computed once.
    order
        HEALPix order.
    use
        Build only these regions (boolean mask); default all that are not null.
    delta_depth
        Extra orders mocpy uses to decide which boundary cells a cone touches (`DELTA_DEPTH`).

    Returns
    -------
    numpy.ndarray
        dtype object, ``len(parsed)`` entries.
    """
    keep = ~parsed.is_null if use is None else (use & ~parsed.is_null)
    out = np.full(len(parsed), None, dtype=object)
    circles = np.flatnonzero(parsed.is_circle & keep)
    if len(circles):
        out[circles] = _fromiter(
            MOC.from_cones(
                lon=parsed.ra[circles] * u.deg,
                lat=parsed.dec[circles] * u.deg,
                radius=parsed.radius[circles] * u.deg,
                max_depth=order,
                union_strategy=None,
                delta_depth=delta_depth,
            )
        )
    for rows, v_ra, v_dec in parsed.polygon_groups():
        sel = keep[rows]
        rows, v_ra, v_dec = rows[sel], v_ra[sel], v_dec[sel]
        for lo in range(0, len(rows), POLYGON_BATCH):  # batches, not rows
            hi = lo + POLYGON_BATCH
            lonlat = np.empty((2 * len(rows[lo:hi]), v_ra.shape[1]), dtype="float64")
            lonlat[0::2], lonlat[1::2] = v_ra[lo:hi], v_dec[lo:hi]  # mocpy's array form: lon1, lat1, ...
            out[rows[lo:hi]] = _fromiter(MOC.from_polygons(lonlat, max_depth=order))
    return out


def union_all(mocs: npt.ArrayLike, order: int) -> MOC:
    """Union of many space MOCs in one mocpy ``multi_union`` call; empty MOC of ``order`` for none."""
    mocs = [m for m in np.asarray(mocs, dtype=object).ravel().tolist() if m is not None]
    if not mocs:
        return MOC.new_empty(order)
    if len(mocs) == 1:
        return mocs[0]
    return mocs[0].union(*mocs[1:])


# --------------------------------------------------------------------------------------------
# Space axis
# --------------------------------------------------------------------------------------------


def space_moc(
    s_region: pd.Series,
    *,
    max_depth: int = SPACE_ORDER,
    union_strategy: str = UNION_STRATEGY,
    delta_depth: int = DELTA_DEPTH,
) -> MOC:
    """Space MOC (ICRS) of an STC-S ``s_region`` column: the union of every row's footprint.

    Each distinct footprint is computed once: all distinct circles in one ``MOC.from_cones`` call
    with a union strategy, polygons in batches of `POLYGON_BATCH` per vertex count; null regions
    are skipped.

    Parameters
    ----------
    s_region
        STC-S circles and polygons (see `models.regions.parse_stcs`).
    max_depth
        HEALPix order (default `SPACE_ORDER`).
    union_strategy
        mocpy's ``"large_cones"`` (overlapping cones) or ``"small_cones"``.
    delta_depth
        Extra orders mocpy uses to decide which boundary cells a cone touches (`DELTA_DEPTH`).

    Returns
    -------
    mocpy.MOC
        Empty (of ``max_depth``) when no row has a region.

    Raises
    ------
    models.regions.RegionParseError
        For unreadable regions.
    """
    parsed = distinct_footprints(s_region).parsed
    parts: list[MOC] = []
    circles = np.flatnonzero(parsed.is_circle)
    if len(circles):
        parts.append(
            MOC.from_cones(
                lon=parsed.ra[circles] * u.deg,
                lat=parsed.dec[circles] * u.deg,
                radius=parsed.radius[circles] * u.deg,
                max_depth=max_depth,
                union_strategy=union_strategy,
                delta_depth=delta_depth,
            )
        )
    polygons = footprint_mocs(parsed, max_depth, use=parsed.is_polygon)
    parts += polygons[parsed.is_polygon].tolist()
    return union_all(parts, max_depth)


# --------------------------------------------------------------------------------------------
# Space-time
# --------------------------------------------------------------------------------------------


def merged_time_entries(
    codes: np.ndarray, start_us: np.ndarray, end_us: np.ndarray, order: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per footprint, the union of its rows' ranges at time ``order``: ``(codes, start, end)`` of the runs.

    Ranges are half-open TCB microseconds; each is widened to whole cells of ``order`` (as the MOC
    will be), then ranges of one footprint that overlap or touch are merged. Vectorised: a sort and
    a grouped running maximum.
    """
    cell = np.int64(1) << np.int64(61 - order)
    s = start_us // cell * cell
    e = -((-end_us) // cell) * cell
    sort = np.lexsort((s, codes))
    c, s, e = codes[sort], s[sort], e[sort]
    if len(c) == 0:
        return c, s, e
    reach = pd.Series(e).groupby(c).cummax().to_numpy()
    new = np.ones(len(c), dtype=bool)
    new[1:] = (c[1:] != c[:-1]) | (s[1:] > reach[:-1])
    first = np.flatnonzero(new)
    return c[first], s[first], np.maximum.reduceat(e, first)


def _stmoc_from_entries(
    codes: np.ndarray, start: np.ndarray, end: np.ndarray, mocs: np.ndarray, time_order: int, space_order: int
) -> STMOC:
    """STMOC of cell-aligned time runs, each with its footprint MOC (``mocs[codes]``)."""
    if len(codes) == 0:
        return STMOC.new_empty(time_order, space_order)
    # Values a quarter cell inside the aligned bounds: mocpy rounds them back to exactly these cells,
    # whatever float rounding its own Time conversion adds.
    inset = (np.int64(1) << np.int64(61 - time_order)) // 4
    return STMOC.from_spatial_coverages(
        _times_for_mocpy(start + inset, later=False),
        _times_for_mocpy(end - inset, later=True),
        mocs[codes],
        time_depth=time_order,
    )


def space_time_moc(
    s_region: pd.Series,
    t_min: npt.ArrayLike,
    t_max: npt.ArrayLike,
    *,
    time_order: int = TIME_ORDER,
    space_order: int = SPACE_ORDER,
) -> STMOC:
    """Space-time MOC: each row's footprint during its ``[t_min, t_max]`` (UTC MJD, made TCB).

    Built from the distinct footprints: each is computed once (`footprint_mocs`), the time ranges
    of the rows sharing it are merged at ``time_order`` (`merged_time_entries`), and one
    ``STMOC.from_spatial_coverages`` call combines them. Rows without a region or without both
    times are skipped.

    Returns
    -------
    mocpy.STMOC
        Empty (of the given orders) when no row qualifies.

    Raises
    ------
    ValueError
        If a row has ``t_min > t_max``; `models.regions.RegionParseError` for unreadable regions.
    """
    footprints = distinct_footprints(s_region)
    lo = np.asarray(t_min, dtype="float64")
    hi = np.asarray(t_max, dtype="float64")
    if not (len(lo) == len(hi) == len(footprints.codes)):
        raise ValueError(f"s_region, t_min and t_max differ in length: {len(footprints.codes)}, {len(lo)}, {len(hi)}")
    use = _check_times(lo, hi) & (footprints.codes >= 0)
    if not use.any():
        return STMOC.new_empty(time_order, space_order)
    codes = footprints.codes[use]
    needed = np.zeros(len(footprints), dtype=bool)
    needed[codes] = True
    mocs = footprint_mocs(footprints.parsed, space_order, use=needed)
    start, end = _tcb_ranges(lo[use], hi[use])
    return _stmoc_from_entries(*merged_time_entries(codes, start, end, time_order), mocs, time_order, space_order)


# --------------------------------------------------------------------------------------------
# Orders
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Orders:
    """Space and time orders of one table's MOCs for one facility, and the quantities that set them."""

    space: int
    time: int
    footprint_deg: float | None = None
    resolution_arcsec: float | None = None
    duration_s: float | None = None


def space_order_for(diameter_deg: float | None, resolution_arcsec: float | None = None) -> int:
    """Space order with `CELLS_ACROSS` cells across ``diameter_deg``, no finer than the resolution.

    Parameters
    ----------
    diameter_deg
        Typical footprint diameter; ``None``/NaN gives `SPACE_ORDER`.
    resolution_arcsec
        Instrument resolution (FWHM); cells are not made smaller than it.

    Returns
    -------
    int
        Within [`MIN_SPACE_ORDER`, `MAX_SPACE_ORDER`].
    """
    order = SPACE_ORDER
    if diameter_deg is not None and np.isfinite(diameter_deg) and diameter_deg > 0:
        order = int(np.ceil(np.log2(_CELL0_DEG * CELLS_ACROSS / diameter_deg) - 1e-9))
    top = MAX_SPACE_ORDER
    if resolution_arcsec is not None and np.isfinite(resolution_arcsec) and resolution_arcsec > 0:
        top = min(top, int(np.floor(np.log2(_CELL0_DEG * 3600.0 / resolution_arcsec) + 1e-9)))
    return int(np.clip(order, MIN_SPACE_ORDER, max(MIN_SPACE_ORDER, top)))


def time_order_for(duration_s: float | None) -> int:
    """Coarsest time order whose cell (2^(61-order) us) is at most ``duration_s``, within [MIN_TIME_ORDER, 31]."""
    if duration_s is None or not np.isfinite(duration_s) or duration_s <= 0:
        return TIME_ORDER
    order = int(np.ceil(61 - np.log2(duration_s * 1e6) - 1e-9))
    return int(np.clip(order, MIN_TIME_ORDER, TIME_ORDER))


def choose_orders(
    s_region: pd.Series | Footprints,
    t_min: npt.ArrayLike,
    t_max: npt.ArrayLike,
    s_resolution: npt.ArrayLike | None = None,
) -> Orders:
    """The space and time orders of the MOCs of these rows (one table, one facility): see the module notes.

    Parameters
    ----------
    s_region
        The rows' regions (or their `distinct_footprints`).
    t_min, t_max
        UTC MJD (NaN for null).
    s_resolution
        Spatial resolution (arcsec) per row, if known.

    Returns
    -------
    Orders
    """
    footprints = s_region if isinstance(s_region, Footprints) else distinct_footprints(s_region)
    diameters = footprint_diameters(footprints.parsed)
    diameters = diameters[np.isfinite(diameters)]
    diameter = float(np.median(diameters)) if len(diameters) else None
    resolution = None
    if s_resolution is not None:
        res = np.asarray(s_resolution, dtype="float64")
        res = res[np.isfinite(res) & (res > 0)]
        resolution = float(np.median(res)) if len(res) else None
    lo = np.asarray(t_min, dtype="float64")
    hi = np.asarray(t_max, dtype="float64")
    with np.errstate(invalid="ignore"):
        seconds = (hi - lo) * 86_400.0
    seconds = seconds[np.isfinite(seconds) & (seconds > 0)]
    duration = float(np.percentile(seconds, DURATION_PERCENTILE)) if len(seconds) else None
    return Orders(space_order_for(diameter, resolution), time_order_for(duration), diameter, resolution, duration)


# --------------------------------------------------------------------------------------------
# Coverage of one table and facility, with a budget
# --------------------------------------------------------------------------------------------


@dataclass
class Coverage:
    """Rows of one table and facility, ready to give their three MOCs at any orders.

    Distinct footprints and TCB ranges are computed once; footprint MOCs are cached per order, so
    a degradation step rebuilds only what changes.
    """

    name: str
    moc_id: str
    orders: Orders
    footprints: Footprints
    t_min: np.ndarray
    t_max: np.ndarray
    _mocs: dict[int, np.ndarray] = field(default_factory=dict, repr=False)
    _cache: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=dict, repr=False)

    @classmethod
    def from_frame(cls, name: str, moc_id: str, frame: pd.DataFrame) -> Coverage:
        """From a frame with ``s_region``, ``t_min``, ``t_max`` (and ``s_resolution`` if present)."""
        footprints = distinct_footprints(frame["s_region"])
        t_min = frame["t_min"].to_numpy(dtype="float64", na_value=np.nan)
        t_max = frame["t_max"].to_numpy(dtype="float64", na_value=np.nan)
        _check_times(t_min, t_max)
        res = frame["s_resolution"] if "s_resolution" in frame.columns else None
        res = None if res is None else res.to_numpy(dtype="float64", na_value=np.nan)
        return cls(name, moc_id, choose_orders(footprints, t_min, t_max, res), footprints, t_min, t_max)

    def _footprint_mocs(self, order: int) -> np.ndarray:
        if order not in self._mocs:
            self._mocs.clear()  # keep one order: memory stays one MOC per footprint
            self._mocs[order] = footprint_mocs(self.footprints.parsed, order)
        return self._mocs[order]

    def release(self) -> None:
        """Drop the cached footprint MOCs (rebuilt if a degradation step needs them)."""
        self._mocs.clear()

    def smoc(self, order: int) -> MOC:
        """Union of the footprints (all rows with a region)."""
        return union_all(self._footprint_mocs(order), order)

    def _ranges(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Rows with both times, and their TCB microsecond ranges (computed once)."""
        if "ranges" not in self._cache:
            timed = np.isfinite(self.t_min) & np.isfinite(self.t_max)
            self._cache["ranges"] = (timed, *_tcb_ranges(self.t_min[timed], self.t_max[timed]))
        return self._cache["ranges"]

    def tmoc(self, order: int) -> TimeMOC:
        """Time MOC of the rows with both times."""
        timed, start, end = self._ranges()
        if not timed.any():
            return TimeMOC.new_empty(order)
        return TimeMOC.from_depth61_ranges(order, np.column_stack([start, end]).astype(np.uint64))

    def stmoc(self, time_order: int, space_order: int) -> STMOC:
        """Space-time MOC from the distinct footprints (rows with a region and both times)."""
        timed, start, end = self._ranges()
        located = self.footprints.codes[timed] >= 0
        if not located.any():
            return STMOC.new_empty(time_order, space_order)
        codes = self.footprints.codes[timed][located]
        entries = merged_time_entries(codes, start[located], end[located], time_order)
        return _stmoc_from_entries(*entries, self._footprint_mocs(space_order), time_order, space_order)


KINDS = ("smoc", "tmoc", "stmoc")


@dataclass
class MocFile:
    """One MOC of a snapshot at its current orders, serialised (``{suffix: bytes}``)."""

    coverage: Coverage | None
    kind: str
    space: int
    time: int
    files: dict[str, bytes] = field(default_factory=dict)
    is_empty: bool = False
    #: ``<table>-<facility>`` when there is no `Coverage` (a MOC reused from the previous snapshot).
    name: str = ""
    #: Files of the previous snapshot holding this very MOC (suffix -> (path, size)): linked, not rebuilt.
    reused: dict[str, tuple[Path, int]] = field(default_factory=dict)
    #: Files already written to the snapshot's ``moc/`` folder when built (suffix -> size): their bytes are
    #: not kept, so a plan holds the sizes of its MOCs, not their contents (bounded memory at any size).
    written: dict[str, int] = field(default_factory=dict)

    @property
    def base(self) -> str:
        """File name without suffix: ``<table>-<facility>-<kind>``."""
        return f"{self.name or self.coverage.name}-{self.kind}"

    @property
    def size(self) -> int:
        """Bytes of its files."""
        return (
            sum(len(b) for b in self.files.values())
            + sum(self.written.values())
            + sum(size for _, size in self.reused.values())
        )

    @property
    def charged(self) -> int:
        """Bytes charged to the budget: the files minus the FITS framing."""
        return max(0, self.size - FITS_FRAMING)

    def build(self, tool: str, folder: Path | None = None) -> None:
        """(Re)build the MOC at the current orders and serialise it.

        Parameters
        ----------
        tool
            ``MOCTOOL``.
        folder
            The snapshot's ``moc/`` folder: the files are written there now (replacing those of an
            earlier build) and only their sizes kept; ``None`` keeps the bytes in `files`.
        """
        c = self.coverage
        if self.kind == "smoc":
            moc: MOC | TimeMOC | STMOC = c.smoc(self.space)
        elif self.kind == "tmoc":
            moc = c.tmoc(self.time)
        else:
            moc = c.stmoc(self.time, self.space)
        self.is_empty = bool(moc.is_empty() if isinstance(moc, STMOC) else moc.empty())
        self.files = moc_bytes(moc, moc_id=c.moc_id, tool=tool)
        del moc
        if folder is not None:
            for suffix in self.written:
                (folder / f"{self.base}.{suffix}").unlink(missing_ok=True)
            self.written = {}
            if not self.is_empty:  # no empty file (see `MocPlan.omitted`)
                for suffix, data in self.files.items():
                    (folder / f"{self.base}.{suffix}").write_bytes(data)
                    self.written[suffix] = len(data)
            self.files = {}

    def can_degrade(self) -> bool:
        """Whether an order of this MOC is above its floor."""
        space_ok = self.space > MIN_SPACE_ORDER
        time_ok = self.time > MIN_TIME_ORDER
        return {"smoc": space_ok, "tmoc": time_ok, "stmoc": space_ok or time_ok}[self.kind]

    def degrade(self) -> None:
        """One order coarser (both axes of a space-time MOC, each down to its floor)."""
        if self.kind in ("smoc", "stmoc"):
            self.space = max(MIN_SPACE_ORDER, self.space - 1)
        if self.kind in ("tmoc", "stmoc"):
            self.time = max(MIN_TIME_ORDER, self.time - 1)


@dataclass
class MocPlan:
    """The MOC files of a snapshot after the budget: contents, orders and whether they fit."""

    mocs: list[MocFile]
    budget_bytes: int | None
    degradations: int
    #: Per ``<table>-<facility>``: the hash of what its MOCs are made of, their orders and whether the
    #: budget degraded them (recorded in the manifest as ``moc_inputs``; the next snapshot reuses the files
    #: of an entry whose hash is unchanged and that was not degraded).
    inputs: dict[str, dict[str, object]] = field(default_factory=dict)

    @property
    def reused(self) -> list[str]:
        """Files linked from the previous snapshot (relative paths), sorted."""
        return sorted(f"moc/{m.base}.{suffix}" for m in self.mocs if not m.is_empty for suffix in m.reused)

    @property
    def charged(self) -> int:
        """Bytes charged to the budget (files minus FITS framing)."""
        return sum(m.charged for m in self.mocs)

    @property
    def size(self) -> int:
        """Bytes of all files."""
        return sum(m.size for m in self.mocs)

    @property
    def omitted(self) -> dict[str, str]:
        """MOCs not written because they cover nothing, with the reason (for the manifest)."""
        why = {
            "smoc": "no row has a footprint (s_region NULL)",
            "tmoc": "no row has both t_min and t_max",
            "stmoc": "no row has a footprint and both times",
        }
        return {f"moc/{m.base}": why[m.kind] for m in self.mocs if m.is_empty}

    @property
    def within_budget(self) -> bool:
        """Whether the charged bytes fit the budget (always true without one)."""
        return self.budget_bytes is None or self.charged <= self.budget_bytes

    def write(self, directory: str | Path) -> list[str]:
        """Write ``moc/<base>.<suffix>`` under ``directory``; returns the relative posix paths, sorted."""
        folder = Path(directory) / "moc"
        folder.mkdir(exist_ok=True)
        written = []
        for moc in self.mocs:
            if moc.is_empty:
                continue  # no footprint or no time: no empty file (see `omitted`)
            for suffix, (source, _) in moc.reused.items():
                path = folder / f"{moc.base}.{suffix}"
                link_or_copy(source, path)
                written.append(path.relative_to(directory).as_posix())
            for suffix, data in moc.files.items():
                path = folder / f"{moc.base}.{suffix}"
                path.write_bytes(data)
                written.append(path.relative_to(directory).as_posix())
            written += [f"moc/{moc.base}.{suffix}" for suffix in moc.written]  # written when built
        return sorted(written)


def file_token(text: str) -> str:
    """File-name token of a facility (as ``models.snapshot`` names MOC files)."""
    token = re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower()
    return token or "unknown"


#: Bumped when the MOC files made from the same inputs change (so that earlier files are not reused).
MOC_INPUTS_VERSION = "1"
_INPUT_COLUMNS = ("s_region", "t_min", "t_max", "s_resolution")


def coverage_inputs_hash(rows: pd.DataFrame, moc_id: str, tool: str) -> str:
    """SHA-256 of what the MOCs of one table and facility are made of (rows' footprints, times, resolution).

    The orders are a function of these (`choose_orders`), and so are the MOCs at those orders: two
    snapshots with the same hash get the same MOC files (same ``tool``, same `MOC_INPUTS_VERSION`).
    Cheap: one vectorised 64-bit hash per row (``pandas.util.hash_pandas_object``), then SHA-256 of those.
    """
    digest = hashlib.sha256(
        "|".join(
            [MOC_INPUTS_VERSION, moc_id, tool, str(MIN_SPACE_ORDER), str(MAX_SPACE_ORDER), str(MIN_TIME_ORDER)]
        ).encode()
    )
    columns = [c for c in _INPUT_COLUMNS if c in rows.columns]
    digest.update(",".join(columns).encode())
    if len(rows):
        digest.update(pd.util.hash_pandas_object(rows[columns], index=False).to_numpy().tobytes())
    return digest.hexdigest()


def _facility_rows(frame: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    # only the columns a coverage is made of are split (a table's other columns: a second copy of it)
    facilities = frame["facility_name"].fillna("unknown").astype(str)
    inputs = frame[[c for c in _INPUT_COLUMNS if c in frame.columns]]
    return [(f, inputs[(facilities == f).to_numpy()]) for f in sorted(facilities.unique())]  # a handful


def table_coverages(name: str, frame: pd.DataFrame, qualified_name: str) -> list[Coverage]:
    """One `Coverage` per facility of a table (a handful of facilities: the loop is not over rows)."""
    return [
        Coverage.from_frame(f"{name}-{file_token(facility)}", f"{qualified_name}/{facility}", rows)
        for facility, rows in _facility_rows(frame)
    ]


@dataclass(frozen=True)
class PreviousMocs:
    """The MOCs of the previous snapshot, for reuse: its directory and manifest."""

    directory: Path
    manifest: Mapping[str, object]

    def reusable(self, name: str, inputs: str) -> list[MocFile] | None:
        """The previous files of coverage ``name`` as `MocFile` s, if they were made from ``inputs`` undegraded."""
        record = (self.manifest.get("moc_inputs") or {}).get(name)  # type: ignore[union-attr]
        if not isinstance(record, dict) or record.get("sha256") != inputs or record.get("degraded"):
            return None
        files = self.manifest.get("files") or {}
        omitted = self.manifest.get("mocs_omitted") or {}
        out = []
        for kind in KINDS:
            base = f"moc/{name}-{kind}"
            moc = MocFile(None, kind, int(record["space"]), int(record["time"]), name=name)
            moc.is_empty = base in omitted  # type: ignore[operator]
            if not moc.is_empty:
                for suffix in ("fits", "json"):
                    rel = f"{base}.{suffix}"
                    if rel in files:  # type: ignore[operator]
                        path = self.directory / rel
                        if not path.is_file():
                            return None
                        moc.reused[suffix] = (path, int(files[rel]["size"]))  # type: ignore[index]
                if "fits" not in moc.reused:
                    return None
            out.append(moc)
        return out


def plan_snapshot_mocs(
    tables: Mapping[str, pd.DataFrame],
    tool: str,
    *,
    budget_bytes: int | None,
    qualified_names: Mapping[str, str] | None = None,
    previous: PreviousMocs | None = None,
    directory: str | Path | None = None,
) -> MocPlan:
    """Build every MOC of a snapshot at the orders of `choose_orders`, then fit them to the budget.

    While the charged bytes exceed ``budget_bytes``, the MOC with the largest files (ties: file
    name) that can still be degraded is degraded by one order and rebuilt (see the module notes).

    With ``previous``, a table and facility whose inputs (`coverage_inputs_hash`) are those of the
    previous snapshot, and whose MOCs were not degraded there, reuses the previous files (linked by
    :meth:`MocPlan.write`) instead of building them: the fresh build would give the same bytes. When the
    files together then exceed the budget, every MOC is built and degraded as without ``previous``,
    so the result never depends on what the previous snapshot held.

    Parameters
    ----------
    tables
        Frames by table name (e.g. ``obsplan``, ``obscore``) with ``facility_name``, ``s_region``,
        ``t_min``, ``t_max`` (and ``s_resolution``).
    tool
        ``MOCTOOL`` of the files.
    budget_bytes
        The snapshot's VOTable bytes (`votable_budget`); ``None``: no budget.
    qualified_names
        ``MOCID`` prefix per table; default ``ivoa.<table>``.
    previous
        The previous snapshot's MOCs (:class:`PreviousMocs`), or ``None`` to build everything.
    directory
        The snapshot (staging) directory: each MOC is written to its ``moc/`` folder as soon as it is
        built, and the plan keeps sizes only; a facility's footprint MOCs are dropped once its three
        MOCs are built. At a million rows, holding every MOC's bytes and footprints until the budget
        is fitted was the publication's peak memory. ``None``: the plan holds the bytes
        (`MocPlan.write` writes them).

    Returns
    -------
    MocPlan
        Serialised files (or their sizes), final orders, number of degradation steps, and whether they fit.
    """
    folder = None if directory is None else Path(directory) / "moc"
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    mocs: list[MocFile] = []
    inputs: dict[str, dict[str, object]] = {}
    pending: list[tuple[str, str, pd.DataFrame, str]] = []
    for name in sorted(tables):
        qualified = (qualified_names or {}).get(name, f"ivoa.{name}")
        for facility, rows in _facility_rows(tables[name]):
            cname, moc_id = f"{name}-{file_token(facility)}", f"{qualified}/{facility}"
            digest = coverage_inputs_hash(rows, moc_id, tool)
            reused = previous.reusable(cname, digest) if previous is not None else None
            if reused is not None:
                mocs += reused
                inputs[cname] = {"sha256": digest, "space": reused[0].space, "time": reused[1].time}
            else:
                pending.append((cname, moc_id, rows, digest))

    def build(cname: str, moc_id: str, rows: pd.DataFrame, digest: str) -> list[MocFile]:
        coverage = Coverage.from_frame(cname, moc_id, rows)
        o = coverage.orders
        inputs[cname] = {"sha256": digest, "space": o.space, "time": o.time}
        built = [MocFile(coverage, kind, o.space, o.time) for kind in KINDS]
        for moc in built:
            moc.build(tool, folder)
        coverage.release()
        return built

    for item in pending:
        mocs += build(*item)
    if budget_bytes is not None and sum(m.charged for m in mocs) > budget_bytes and any(m.reused for m in mocs):
        # over budget: build the reused ones too, then degrade exactly as a build from nothing would
        again = {m.name for m in mocs if m.reused or m.coverage is None}
        mocs = [m for m in mocs if m.coverage is not None and m.coverage.name not in again]
        for name in sorted(tables):
            qualified = (qualified_names or {}).get(name, f"ivoa.{name}")
            for facility, rows in _facility_rows(tables[name]):
                cname = f"{name}-{file_token(facility)}"
                if cname in again:
                    mocs += build(cname, f"{qualified}/{facility}", rows, str(inputs[cname]["sha256"]))
        mocs.sort(key=lambda m: m.base)
    steps = 0
    while budget_bytes is not None and sum(m.charged for m in mocs) > budget_bytes:
        candidates = [m for m in mocs if m.can_degrade()]
        if not candidates:
            break
        largest = min(candidates, key=lambda m: (-m.size, m.base))
        largest.degrade()
        largest.build(tool, folder)
        largest.coverage.release()  # type: ignore[union-attr]
        inputs[largest.coverage.name]["degraded"] = True  # type: ignore[union-attr]
        steps += 1
    for record in inputs.values():
        record.setdefault("degraded", False)
    return MocPlan(sorted(mocs, key=lambda m: m.base), budget_bytes, steps, dict(sorted(inputs.items())))


def votable_budget(directory: str | Path) -> int:
    """Bytes of the VOTables (``*.vot``) of a snapshot directory: the MOC budget."""
    return sum(p.stat().st_size for p in Path(directory).glob("*.vot"))


def write_snapshot_mocs(
    directory: str | Path,
    tables: Mapping[str, pd.DataFrame],
    tool: str,
    *,
    budget_bytes: int | None = None,
    qualified_names: Mapping[str, str] | None = None,
    previous: PreviousMocs | None = None,
) -> list[str]:
    """Write ``moc/<table>-<facility>-{smoc,tmoc,stmoc}`` files of a snapshot, within its VOTable bytes.

    Parameters
    ----------
    directory
        The snapshot (staging) directory; its VOTables must be written already when ``budget_bytes``
        is not given.
    tables
        Frames by table name (`plan_snapshot_mocs`).
    tool
        ``MOCTOOL``.
    budget_bytes
        Bytes the MOC files may take (default: `votable_budget` of ``directory``).
    qualified_names
        ``MOCID`` prefix per table (default ``ivoa.<table>``).
    previous
        The previous snapshot's MOCs: unchanged ones are linked, not rebuilt (`plan_snapshot_mocs`).

    Returns
    -------
    list of str
        Written files, relative to ``directory``.
    """
    budget = votable_budget(directory) if budget_bytes is None else budget_bytes
    plan = plan_snapshot_mocs(
        tables, tool, budget_bytes=budget, qualified_names=qualified_names, previous=previous, directory=directory
    )
    return plan.write(directory)


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------


def moc_bytes(moc: MOC | TimeMOC | STMOC, *, moc_id: str, tool: str, json: bool | None = None) -> dict[str, bytes]:
    """The file contents of a MOC: ``{"fits": ..., "json": ...}``; the same MOC always gives the same bytes.

    Parameters
    ----------
    moc
        Space, time or space-time MOC.
    moc_id
        ``MOCID``: identifier of the data the MOC describes (e.g. the table's IVOA identifier).
    tool
        ``MOCTOOL``: the generator and its version.
    json
        Add the JSON serialisation; default for space and time MOCs only (see the module notes).

    Returns
    -------
    dict
        Suffix to bytes, FITS first.
    """
    is_space = isinstance(moc, MOC)
    if json is None:
        json = not isinstance(moc, STMOC)
    # NUNIQ for space MOCs (v1_compatible); time and space-time MOCs are RANGE only.
    hdul = moc.serialize(format="fits", v1_compatible=is_space)
    header = hdul[1].header
    for key in _VOLATILE_KEYWORDS:
        header.remove(key, ignore_missing=True, remove_all=True)
        hdul[0].header.remove(key, ignore_missing=True, remove_all=True)
    header["MOCID"] = (moc_id, "identifier of the data described")
    header["MOCTOOL"] = (tool, "generator")
    buffer = io.BytesIO()
    hdul.writeto(buffer, output_verify="exception")
    out = {"fits": buffer.getvalue()}
    if json:
        out["json"] = (moc.to_string(format="json") + "\n").encode("utf-8")
    return out


def write_moc(
    moc: MOC | TimeMOC | STMOC,
    path_without_suffix: str | Path,
    *,
    moc_id: str,
    tool: str,
    overwrite: bool = False,
    json: bool | None = None,
) -> list[Path]:
    """Write ``<path>.fits`` (MOC 2.0) and, for space and time MOCs, ``<path>.json`` (see `moc_bytes`).

    Parameters
    ----------
    moc
        Space, time or space-time MOC.
    path_without_suffix
        Target path; ``.fits`` and ``.json`` are appended.
    moc_id
        ``MOCID``: identifier of the data the MOC describes (e.g. the table's IVOA identifier).
    tool
        ``MOCTOOL``: the generator and its version.
    overwrite
        Replace existing files (refused by default, like mocpy and astropy).
    json
        Write JSON too (default: not for space-time MOCs).

    Returns
    -------
    list of pathlib.Path
        The paths written, FITS first.
    """
    base = Path(path_without_suffix)
    contents = moc_bytes(moc, moc_id=moc_id, tool=tool, json=json)
    paths = {suffix: base.with_name(f"{base.name}.{suffix}") for suffix in contents}
    for p in paths.values():
        if p.exists() and not overwrite:
            raise FileExistsError(f"{p} exists; pass overwrite=True to replace it")
    for suffix, data in contents.items():
        tmp = base.with_name(f".{base.name}.{os.getpid()}.tmp.{suffix}")
        try:
            tmp.write_bytes(data)
            os.replace(tmp, paths[suffix])
        finally:
            tmp.unlink(missing_ok=True)
    return list(paths.values())
