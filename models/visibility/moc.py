"""A visibility space-time MOC per facility: which sky could the facility observe, when.

Cells and orders:

* **Space order 5** (HEALPix cells of 1.83 deg, 12 288 cells): about the ~2 deg x 2 deg bins of ESA's own
  XMM-Newton Visibility Checker (https://www.cosmos.esa.int/web/xmm-newton/orbit-details: "the size of
  each bin is, approximately, 2x 2"); each cell is evaluated at its centre.
* **Time order 29** for XMM-Newton (cells of 2^32 us = 71.6 min; its windows last hours to days), **31**
  for NuSTAR and the ground (17.9 min; NuSTAR is occulted every 96-min orbit, a night edge moves by
  minutes). Each time cell is sampled :data:`SAMPLES_PER_CELL` times, its first and last microsecond
  included, and a sky cell counts as visible in it only if it is visible at every sample: conservative,
  as the checker's rule that "all four corners of the bin should be constraint free" (a constraint that
  opens and closes again between two samples, 24 min apart at order 29, would be missed).

The time axis is the MOC 2.0 one (TCB microseconds, :func:`models.moc.tcb_microseconds`); cells are
aligned on it, and their sample times converted back to UTC with astropy.
"""

from __future__ import annotations

from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.time import Time
from mocpy import MOC, STMOC

from models import orbits
from models.moc import tcb_microseconds, write_moc
from models.orbits import TLE
from models.visibility import STEP_S, Result, check_tle, default_tles, select_tle
from models.visibility import facilities as fac

SPACE_ORDER = 5
TIME_ORDER = {"XMM-Newton": 29, "NuSTAR": 31, "VLT": 31, "VLTI": 31, "APEX": 31, "INTEGRAL": 29}
SAMPLES_PER_CELL = 4
_US_PER_DAY = 86_400_000_000

_JRLL = np.array([2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4], dtype=np.int64)
_JPLL = np.array([1, 3, 5, 7, 0, 2, 4, 6, 1, 3, 5, 7], dtype=np.int64)


def _compact_bits(v: np.ndarray) -> np.ndarray:
    """Every other bit of ``v`` (bits 0, 2, 4, ...) packed together: the NESTED index de-interleave."""
    out = np.zeros_like(v)
    for bit in range(31):
        out |= ((v >> (2 * bit)) & 1) << bit
    return out


def cell_centres(order: int) -> tuple[np.ndarray, np.ndarray]:
    """RA, Dec (deg) of the centres of all HEALPix NESTED cells of ``order``.

    Górski et al. 2005 (ApJ 622, 759) pix2ang for the NESTED scheme, as in HEALPix's ``pix2ang_nest``:
    face number, in-face x/y from the bit de-interleave, ring index ``jr`` and in-ring index ``jp``.
    """
    nside = 1 << order
    ipix = np.arange(12 * nside * nside, dtype=np.int64)
    face, p = np.divmod(ipix, nside * nside)
    x, y = _compact_bits(p), _compact_bits(p >> 1)
    jr = _JRLL[face] * nside - x - y - 1
    north, south = jr < nside, jr > 3 * nside
    nr = np.where(north, jr, np.where(south, 4 * nside - jr, nside))
    z = np.where(
        north,
        1 - nr**2 / (3.0 * nside**2),
        np.where(south, nr**2 / (3.0 * nside**2) - 1, (2 * nside - jr) * 2.0 / (3.0 * nside)),
    )
    kshift = np.where(north | south, 0, (jr - nside) & 1)
    jp = (_JPLL[face] * nr + x - y + 1 + kshift) // 2
    jp = np.where(jp > 4 * nside, jp - 4 * nside, np.where(jp < 1, jp + 4 * nside, jp))
    phi = (jp - (kshift + 1) * 0.5) * (np.pi / 2 / nr)
    return np.rad2deg(phi) % 360.0, np.rad2deg(np.arcsin(z))


def _time_cells(start_mjd: float, end_mjd: float, order: int) -> np.ndarray:
    """TCB microsecond starts of the time cells of ``order`` covering [start, end] (UTC MJD)."""
    cell = 1 << (61 - order)
    first = int(tcb_microseconds([start_mjd])[0]) // cell
    last = int(tcb_microseconds([end_mjd], ceil=True)[0]) // cell
    return (np.arange(first, last + 1, dtype=np.int64)) * cell


def _utc_mjd(tcb_us: np.ndarray) -> np.ndarray:
    """UTC MJD of TCB microseconds since JD 0 (astropy)."""
    day, rem = np.divmod(tcb_us, _US_PER_DAY)
    return Time(day.astype("float64"), rem / _US_PER_DAY, format="jd", scale="tcb").utc.mjd


def stmoc_span(facility: str, start_mjd: float, days: float, *, clip: bool = True) -> tuple[float, float, TLE | None]:
    """The (start, end) UTC MJD a visibility MOC covers and the TLE it uses (to describe it on a manifest).

    A spacecraft's window ends at the TLE epoch + :data:`models.orbits.MAX_DAYS` when ``clip`` (else the
    propagation limit raises :class:`models.orbits.PropagationError`).
    """
    name = fac.facility_name(facility)
    end_mjd = start_mjd + days
    if name not in ("XMM-Newton", "NuSTAR"):
        return start_mjd, end_mjd, None
    tle = select_tle(default_tles(), name, start_mjd, end_mjd)
    if clip:
        end_mjd = min(end_mjd, tle.epoch_mjd + orbits.MAX_DAYS[name] - 1e-6)
    # refused with the epoch held, the limit and where to fetch a current set (the manifest's "why")
    check_tle(name, tle, start_mjd, max(end_mjd, start_mjd))
    if end_mjd <= start_mjd:  # the start sits within a microsecond of the limit
        raise orbits.PropagationError(f"{name}: the TLE epoch {tle.epoch_iso} leaves no time after the start")
    return start_mjd, end_mjd, tle


def visibility_stmoc(
    facility: str,
    start: str | float,
    days: float,
    *,
    space_order: int = SPACE_ORDER,
    time_order: int | None = None,
    chunk_cells: int = 64,
    clip: bool = True,
) -> STMOC:
    """Space-time MOC of the sky ``facility`` can observe from ``start`` for ``days``.

    Parameters
    ----------
    facility : str
        One of :data:`models.visibility.FACILITIES`.
    start : str or float
        ISO 8601 UTC or UTC MJD (e.g. a snapshot's as-of date).
    days : float
        Length of the forward window.
    space_order, time_order : int
        MOC orders (defaults: module text).
    chunk_cells : int
        Time cells evaluated per batch (memory: cells x samples x 12 288 sky cells).
    clip : bool
        End the MOC where the TLE stops being propagated (:func:`stmoc_span`) instead of refusing.

    Returns
    -------
    mocpy.STMOC
        Empty for INTEGRAL; spacecraft models refuse windows too far from their TLE epoch.
    """
    from models.visibility import _mjd

    name = fac.facility_name(facility)
    t_order = TIME_ORDER[name] if time_order is None else time_order
    start_mjd = _mjd(start, "start")
    if name == "INTEGRAL":
        return STMOC.new_empty(t_order, space_order)
    start_mjd, end_mjd, tle = stmoc_span(name, start_mjd, float(days), clip=clip)
    cells = _time_cells(start_mjd, end_mjd, t_order)
    width = 1 << (61 - t_order)
    # both edges of the cell are samples: a window edge inside a cell always excludes that cell
    offsets = np.linspace(0, width - 1, SAMPLES_PER_CELL).astype(np.int64)
    ra, dec = cell_centres(space_order)
    visible = np.zeros((ra.size, cells.size), dtype=bool)
    for lo in range(0, cells.size, chunk_cells):
        block = cells[lo : lo + chunk_cells]
        samples = _utc_mjd((block[:, None] + offsets[None, :]).ravel())
        if tle is not None:
            mask = fac.space_mask(name, ra, dec, samples, tle)
        else:
            mask = fac.ground_mask_grid(name, ra, dec, samples)
        visible[:, lo : lo + block.size] = mask.reshape(ra.size, block.size, SAMPLES_PER_CELL).all(axis=2)
    # one entry per run of time cells with the same visible sky (consecutive identical columns merged)
    change = np.ones(cells.size, dtype=bool)
    change[1:] = (visible[:, 1:] != visible[:, :-1]).any(axis=0)
    firsts = np.flatnonzero(change)
    lasts = np.append(firsts[1:], cells.size) - 1
    keep = [k for k in range(firsts.size) if visible[:, firsts[k]].any()]
    if not keep:
        return STMOC.new_empty(t_order, space_order)
    cells_moc = (
        MOC.from_healpix_cells(np.flatnonzero(visible[:, firsts[k]]).astype(np.uint64), space_order, space_order)
        for k in keep
    )
    mocs = np.fromiter(cells_moc, dtype=object, count=len(keep))  # not a list: np.atleast_1d would unpack MOCs
    inset = width // 4  # a quarter cell inside the bounds: mocpy rounds back onto exactly these cells
    t0 = cells[firsts[keep]] + inset
    t1 = cells[lasts[keep]] + width - inset

    def tcb(us: np.ndarray) -> Time:
        day, rem = np.divmod(us, _US_PER_DAY)
        return Time(day.astype("float64"), rem / _US_PER_DAY, format="jd", scale="tcb")

    return STMOC.from_spatial_coverages(tcb(t0), tcb(t1), mocs, time_depth=t_order)


def write_visibility_stmoc(moc: STMOC, directory: str | Path, facility: str, *, overwrite: bool = False) -> list[Path]:
    """Write ``<directory>/visibility_<facility>.fits`` (MOC 2.0, via :func:`models.moc.write_moc`).

    Parameters
    ----------
    moc : mocpy.STMOC
        From :func:`visibility_stmoc`.
    directory : str or Path
        A snapshot's ``moc/`` directory.
    facility : str
        Facility name (file name and ``MOCID``).
    overwrite : bool
        Replace an existing file.

    Returns
    -------
    list of Path
        The FITS file written.
    """
    name = fac.facility_name(facility)
    slug = name.lower().replace("-", "_")
    base = Path(directory) / f"visibility_{slug}"
    return write_moc(
        moc, base, moc_id=f"voharvest visibility {name}", tool="voharvest models.visibility", overwrite=overwrite
    )


__all__ = [
    "SPACE_ORDER",
    "STEP_S",
    "TIME_ORDER",
    "cell_centres",
    "stmoc_span",
    "visibility_stmoc",
    "write_visibility_stmoc",
]


def windows_from_stmoc(
    stmoc: STMOC,
    facility: str,
    ra: float | str,
    dec: float | str,
    start: str | float,
    end: str | float,
    *,
    min_vis: float = 0.0,
    max_vis: float | None = None,
) -> Result:
    """Visibility windows of one position read from a visibility STMOC (no recomputation).

    Each time cell of the MOC's time order between ``start`` and ``end`` is tested at its middle with
    ``STMOC.contains``; runs of covered cells become windows with cell-aligned edges (so they agree with
    :func:`models.visibility.visibility` to one time cell, and are shorter, never longer: the MOC is
    conservative).

    Parameters
    ----------
    stmoc : mocpy.STMOC
        From :func:`visibility_stmoc` (or its FITS file reloaded with ``STMOC.from_fits``).
    facility : str
        The facility the MOC describes (for the INFOs).
    ra, dec : float or str
        ICRS position (degrees or sexagesimal).
    start, end : str or float
        ISO 8601 UTC or UTC MJD.
    min_vis : float
        Drop windows shorter than this, s.
    max_vis : float, optional
        Drop windows longer than this, s.

    Returns
    -------
    Result
        ``step_s`` is the MOC's time cell; INFO ``SOURCE`` names the MOC orders.
    """
    from models.visibility import _durations, _mjd, _position

    name = fac.facility_name(facility)
    start_mjd, end_mjd = _mjd(start, "START_TIME"), _mjd(end, "END_TIME")
    if not end_mjd > start_mjd:
        raise fac.VisibilityError(f"END_TIME ({end_mjd}) must be after START_TIME ({start_mjd})")
    lo_vis, hi_vis = _durations(min_vis, max_vis)
    ra_deg, dec_deg = _position(ra, dec)
    t_order, s_order = stmoc.max_depth
    width = 1 << (61 - t_order)
    cells = _time_cells(start_mjd, end_mjd, t_order)
    middles = cells + width // 2
    day, rem = np.divmod(middles, _US_PER_DAY)
    when = Time(day.astype("float64"), rem / _US_PER_DAY, format="jd", scale="tcb")
    if stmoc.is_empty():
        covered = np.zeros(cells.size, dtype=bool)
    else:
        covered = stmoc.contains(when, np.full(cells.size, ra_deg) * u.deg, np.full(cells.size, dec_deg) * u.deg)
    edges = np.diff(np.concatenate([[0], covered.astype("int8"), [0]]))
    first, last = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1
    starts = np.clip(_utc_mjd(cells[first]) if first.size else np.empty(0), start_mjd, end_mjd)
    ends = np.clip(_utc_mjd(cells[last] + width) if last.size else np.empty(0), start_mjd, end_mjd)
    durations = (ends - starts) * 86400.0
    keep = (ends > starts) & (durations >= lo_vis) & (durations <= hi_vis)
    infos = {"SOURCE": f"visibility space-time MOC (time order {t_order}, space order {s_order}); not recomputed"}
    if name == "INTEGRAL":
        infos["FACILITY_STATUS"] = fac.describe(name).notes[0]
    return Result(
        name,
        ra_deg,
        dec_deg,
        start_mjd,
        end_mjd,
        lo_vis,
        width / 1e6,
        starts[keep],
        ends[keep],
        fac.describe(name),
        infos,
        hi_vis,
    )


#: Facilities given a visibility MOC in every snapshot (VLTI shares the VLT's site and constraints).
SNAPSHOT_FACILITIES = ("XMM-Newton", "NuSTAR", "VLT", "APEX", "INTEGRAL")
#: Time order of the published product: 2^(61-28) us = 2.4 h cells. The ground sites' nights and XMM's
#: 48 h orbit are resolved, and a 30-day window of the four facilities builds in seconds (order 31, the
#: interactive default, takes ~20 s per facility-month); finer answers come from `visibility` itself.
SNAPSHOT_TIME_ORDER = 28


def write_snapshot_visibility(
    directory: str | Path, start_mjd: float, days: float
) -> tuple[list[str], dict[str, dict[str, object]]]:
    """Write ``moc/visibility_<facility>.fits`` for the snapshot's forward window; describe each for the manifest.

    Parameters
    ----------
    directory : str or Path
        The snapshot (staging) directory.
    start_mjd : float
        Start of the window (the snapshot's as-of time, UTC MJD).
    days : float
        Length of the forward window (0: nothing is written).

    Returns
    -------
    tuple
        Relative paths written, and per facility either the span, orders and TLE epoch of its MOC or
        the reason it has none (science ended, no TLE close enough to the window).
    """
    root = Path(directory)
    written: list[str] = []
    described: dict[str, dict[str, object]] = {}
    if days <= 0:
        return written, described
    for facility in SNAPSHOT_FACILITIES:
        try:
            lo, hi, tle = stmoc_span(facility, start_mjd, days)
            moc = visibility_stmoc(facility, start_mjd, days, time_order=SNAPSHOT_TIME_ORDER)
        except (orbits.PropagationError, ValueError) as exc:
            described[facility] = {"file": None, "why": str(exc)}
            continue
        if moc.is_empty():
            described[facility] = {
                "file": None,
                "why": "no visibility in the window (INTEGRAL: science ended 2025-02-28)",
            }
            continue
        paths = write_visibility_stmoc(moc, root / "moc", facility, overwrite=True)
        rel = [p.relative_to(root).as_posix() for p in paths]
        written += rel
        described[facility] = {
            "file": rel[0],
            "start_mjd": lo,
            "end_mjd": hi,
            "space_order": SPACE_ORDER,
            "time_order": SNAPSHOT_TIME_ORDER,
            "tle_epoch_mjd": None if tle is None else tle.epoch_mjd,
        }
    return written, described
