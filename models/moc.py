"""MOC 2.0 coverage maps of a table: space (SMOC), time (TMOC) and space-time (STMOC), and their files.

Default orders, and why:

* **Space order 10** (HEALPix cells of 3.4 arcmin). The footprints we publish range from about
  12 arcmin (NuSTAR, XMM-Newton) to 16 deg (INTEGRAL fully-coded fields): order 10 resolves the
  smallest with a few cells across while the largest still cost only their boundary cells.
  A MOC always covers its footprints (cells overlapping a footprint are kept), so sub-arcminute
  radio fields come out as one or a few cells: a superset, never a miss.
* **Time order 31** (cells of 2^30 us, about 17.9 min). The schedules give UTC at the
  observatory, and we do not correct to the solar-system barycentre: the light-travel time
  Earth-barycentre (up to about 8.3 min, and more for planned times that shift anyway) makes
  finer cells false precision. MOC 2.0 (section 4.2) recommends order 31 exactly when the
  reference position is not barycentric.

Time axis: MOC 2.0 counts microseconds of **TCB** since JD 0. `tcb_microseconds` converts UTC MJD
exactly for leap seconds (astropy UTC->TAI) and interpolates the smooth TCB-TAI offset from a
daily table computed by astropy (its 1.7 ms periodic TDB-TT term varies by less than 0.1 us
within a day), which is 50 times faster than astropy's per-value series and agrees with it to
within 1 us. Intervals are closed: ``t_max`` itself is inside the MOC.

Empty input (no row with a region, or with both times) gives a valid empty MOC of the requested
order, which writes and reloads like any other: an empty collection still publishes its coverage.

FITS files: space MOCs use NUNIQ ordering, as MOC 2.0 recommends for compatibility with MOC 1.x
readers (mocpy's ``v1_compatible``; it also keeps the 1.1 keyword ``MOCORDER``); time and
space-time MOCs can only be RANGE-ordered. Headers carry MOCVERS, MOCDIM, ORDERING, COORDSYS /
TIMESYS, MOCORD_S / MOCORD_T, MOCID and MOCTOOL, and no date, so the same coverage always gives
the same bytes.
"""

from __future__ import annotations

import os
from pathlib import Path

import astropy.units as u
import numpy as np
import numpy.typing as npt
import pandas as pd
from astropy.io import fits
from astropy.time import Time
from mocpy import MOC, STMOC, TimeMOC

from models.regions import ParsedRegions, parse_stcs
from models.timeutil import utc_mjd_to_time

#: Default HEALPix order of space MOCs (3.4 arcmin cells).
SPACE_ORDER = 10
#: Default order of time MOCs (2^30 us = 17.9 min cells).
TIME_ORDER = 31
#: How mocpy merges many cones: our footprints overlap (the same field observed repeatedly), and
#: "large_cones" was the faster strategy in benchmarks/bench_moc.py for such inputs (for 8 deg
#: cones 1.6 to 4 times faster than "small_cones"; about equal for sub-degree ones).
UNION_STRATEGY = "large_cones"
#: mocpy computes cone coverage this many orders deeper, then degrades: cells only grazed by the
#: cone are dropped (about 11 % less area for 0.1 deg cones at order 10), at 2-5 times the cost.
DELTA_DEPTH = 2

_US_PER_DAY = 86_400_000_000
#: Keywords that would make two writes of the same MOC differ.
_VOLATILE_KEYWORDS = ("DATE", "DATE-HDU", "CHECKSUM", "DATASUM")


# --------------------------------------------------------------------------------------------
# Time axis
# --------------------------------------------------------------------------------------------


#: Above this many days between the earliest and latest time, a daily table would cost more than
#: converting each value: astropy converts them one by one instead.
_MAX_TABLE_DAYS = 50_000


def _tcb_minus_tai_days(tai_jd: np.ndarray) -> np.ndarray:
    """TCB - TAI (days) at TAI Julian dates, interpolated from an exact daily astropy table."""
    lo = np.floor(tai_jd.min()) - 1.0
    hi = np.ceil(tai_jd.max()) + 1.0
    if hi - lo > min(_MAX_TABLE_DAYS, 2 * tai_jd.size):
        tai = Time(tai_jd, format="jd", scale="tai")
        tcb = tai.tcb
        return (tcb.jd1 - tai.jd1) + (tcb.jd2 - tai.jd2)
    nodes = np.arange(lo, hi + 1.0)
    tai = Time(nodes, format="jd", scale="tai")
    tcb = tai.tcb
    offset = (tcb.jd1 - tai.jd1) + (tcb.jd2 - tai.jd2)
    return np.interp(tai_jd, nodes, offset)


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
# Space axis
# --------------------------------------------------------------------------------------------


def _cones(
    parsed: ParsedRegions, rows: np.ndarray, order: int, strategy: str | None, delta_depth: int = DELTA_DEPTH
) -> MOC | list[MOC]:
    """Cone MOCs of circle rows: their union (``strategy`` given) or one per row (``None``)."""
    ra, dec, radius = parsed.ra[rows], parsed.dec[rows], parsed.radius[rows]
    if strategy is not None:
        # observation logs repeat pointings: each distinct cone is computed once
        ra, dec, radius = np.unique(np.column_stack([ra, dec, radius]), axis=0).T
    return MOC.from_cones(
        lon=ra * u.deg,
        lat=dec * u.deg,
        radius=radius * u.deg,
        max_depth=order,
        union_strategy=strategy,
        delta_depth=delta_depth,
    )


def _polygon_mocs(
    parsed: ParsedRegions, order: int, use: np.ndarray | None = None
) -> tuple[list[np.ndarray], list[list[MOC]]]:
    """One MOC per polygon row (in ``use`` if given): mocpy's vectorised call per vertex count."""
    rows_out, mocs_out = [], []
    for all_rows, all_ra, all_dec in parsed.polygon_groups():
        keep = np.ones(len(all_rows), dtype=bool) if use is None else use[all_rows]
        if not keep.any():
            continue
        rows, v_ra, v_dec = all_rows[keep], all_ra[keep], all_dec[keep]
        # mocpy's array form: rows lon1, lat1, lon2, lat2, ...
        lonlat = np.empty((2 * len(rows), v_ra.shape[1]), dtype="float64")
        lonlat[0::2], lonlat[1::2] = v_ra, v_dec
        rows_out.append(rows)
        mocs_out.append(MOC.from_polygons(lonlat, max_depth=order))
    return rows_out, mocs_out


def space_moc(
    s_region: pd.Series,
    *,
    max_depth: int = SPACE_ORDER,
    union_strategy: str = UNION_STRATEGY,
    delta_depth: int = DELTA_DEPTH,
) -> MOC:
    """Space MOC (ICRS) of an STC-S ``s_region`` column: the union of every row's footprint.

    All circles go to mocpy in one call (``MOC.from_cones`` with a union strategy) and polygons in
    one call per vertex count (``MOC.from_polygons``); null regions are skipped.

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
    parsed = parse_stcs(s_region)
    parts: list[MOC] = []
    circles = np.flatnonzero(parsed.is_circle)
    if len(circles):
        parts.append(_cones(parsed, circles, max_depth, union_strategy, delta_depth))
    for mocs in _polygon_mocs(parsed, max_depth)[1]:
        parts.extend(mocs)
    if not parts:
        return MOC.new_empty(max_depth)
    if len(parts) == 1:
        return parts[0]
    return parts[0].union(*parts[1:])


def space_time_moc(
    s_region: pd.Series,
    t_min: npt.ArrayLike,
    t_max: npt.ArrayLike,
    *,
    time_order: int = TIME_ORDER,
    space_order: int = SPACE_ORDER,
) -> STMOC:
    """Space-time MOC: each row's footprint during its ``[t_min, t_max]`` (UTC MJD, made TCB).

    Rows without a region or without both times are skipped. Footprints are built per row by
    mocpy's vectorised constructors and combined by one ``STMOC.from_spatial_coverages`` call.

    Returns
    -------
    mocpy.STMOC
        Empty (of the given orders) when no row qualifies.

    Raises
    ------
    ValueError
        If a row has ``t_min > t_max``; `models.regions.RegionParseError` for unreadable regions.
    """
    parsed = parse_stcs(s_region)
    lo = np.asarray(t_min, dtype="float64")
    hi = np.asarray(t_max, dtype="float64")
    if not (len(lo) == len(hi) == len(parsed)):
        raise ValueError(f"s_region, t_min and t_max differ in length: {len(parsed)}, {len(lo)}, {len(hi)}")
    use = _check_times(lo, hi) & ~parsed.is_null
    # One from_spatial_coverages call for all rows (a set: row order does not matter). mocpy 0.21's
    # STMOC.union leaves empty time entries behind (not canonical), so parts are never unioned.
    order: list[np.ndarray] = []
    footprints: list[MOC] = []
    circles = np.flatnonzero(parsed.is_circle & use)
    if len(circles):
        order.append(circles)
        footprints += _cones(parsed, circles, space_order, None)
    for rows, mocs in zip(*_polygon_mocs(parsed, space_order, use), strict=True):
        order.append(rows)
        footprints += mocs
    if not footprints:
        return STMOC.new_empty(time_order, space_order)
    rows = np.concatenate(order)
    start, end = _tcb_ranges(lo[rows], hi[rows])
    return STMOC.from_spatial_coverages(
        _times_for_mocpy(start, later=False), _times_for_mocpy(end, later=True), footprints, time_depth=time_order
    )


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------


def write_moc(
    moc: MOC | TimeMOC | STMOC,
    path_without_suffix: str | Path,
    *,
    moc_id: str,
    tool: str,
    overwrite: bool = False,
) -> list[Path]:
    """Write ``<path>.fits`` (MOC 2.0) and ``<path>.json``; the same MOC always gives the same bytes.

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

    Returns
    -------
    list of pathlib.Path
        The FITS and JSON paths.
    """
    base = Path(path_without_suffix)
    fits_path = base.with_name(base.name + ".fits")
    json_path = base.with_name(base.name + ".json")
    for p in (fits_path, json_path):
        if p.exists() and not overwrite:
            raise FileExistsError(f"{p} exists; pass overwrite=True to replace it")
    is_space = isinstance(moc, MOC)
    tmp = base.with_name(f".{base.name}.{os.getpid()}.tmp.fits")
    try:
        # NUNIQ for space MOCs (v1_compatible); time and space-time MOCs are RANGE only.
        moc.save(tmp, format="fits", overwrite=True, v1_compatible=is_space)
        with fits.open(tmp) as hdul:
            header = hdul[1].header
            for key in _VOLATILE_KEYWORDS:
                header.remove(key, ignore_missing=True, remove_all=True)
            header["MOCID"] = (moc_id, "identifier of the data described")
            header["MOCTOOL"] = (tool, "generator")
            hdul.writeto(fits_path, overwrite=overwrite, output_verify="exception")
    finally:
        tmp.unlink(missing_ok=True)
    json_path.write_text(moc.to_string(format="json") + "\n", encoding="utf-8")
    return [fits_path, json_path]
