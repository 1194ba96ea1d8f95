"""Valid, realistic synthetic schedules for benchmarks and scale tests (numpy/pandas only, no per-row loop).

Four facilities, each with its real footprint shape and instrument facts (the constants of the
scrapers and of :mod:`models.facilities`):

* **ESO-VLT** raw frames (the bulk, as in ESO's archive): FORS2-like 6.8' fields (circles of 0.057 deg
  radius), grouped in observation blocks of 1-12 consecutive frames on the same pointing (so many rows
  share a footprint), 2-40 min each;
* **XMM-Newton**: the EPIC octagon circumscribing the 30' field (``scrapers.xmm_newton.epic_footprint``)
  at a position angle, 5-130 ks;
* **NuSTAR**: 12' circles (``scrapers.nustar.FOV_DEG``), 20-200 ks;
* **INTEGRAL**: IBIS coverage circles of radius 4.5 deg + the dither offset (up to 2.5 deg),
  1-3 d revolutions split in observations; all Performed (the mission ended 2025-02-28).

Per facility the observations are consecutive and never overlap (a single pointing platform). When
more rows are asked for than realistic durations fit into the facility's window (launch/first light
to the as-of time plus its planning horizon), durations are scaled down so that they do, which keeps
the rows valid (a 1 M-row X-ray schedule is denser than any real one; the footprints stay real); when
fewer, the idle time between observations is stretched so that the schedule spans the window.
Targets are re-observed: X-ray targets come from a pool of a fifth of the rows, ESO blocks repeat a
pointing for all their frames.

Status follows time: rows that ended a day before the as-of time (so before the previous snapshot's
as-of time too) are Performed (3 % Aborted), later rows
are Scheduled in the first 30 days and then Planned (5 % Unscheduled). ``t_exptime`` is the
(performed or scheduled) exposure, at most the duration, and NULL only on Planned, Unscheduled and
Aborted rows, so ``models.validate.validate`` accepts every row.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from models.facilities import ESO_VLT, INTEGRAL, NUSTAR, XMM_NEWTON, Facility
from models.regions import circle_stcs, polygon_stcs
from models.tables.obsplan import OBSPLAN
from models.timeutil import mjd_from_date
from models.units import kev_band_to_em
from scrapers.xmm_newton import epic_footprint

#: The as-of date of generated snapshots (a fixed date: the same arguments give the same rows).
AS_OF_DATE = dt.date(2025, 11, 30)


@dataclass(frozen=True)
class Profile:
    """How one facility's rows look."""

    facility: Facility
    source: str
    share: float
    instrument: str
    exposure_s: tuple[float, float]  # log-uniform range of durations
    gap_s: tuple[float, float]  # slews / overheads between observations
    block: int  # consecutive rows on one pointing (1 = every row its own pointing)
    radius_deg: tuple[float, float]  # circle radius range (ignored for polygons)
    em: tuple[float, float]
    s_fov: float
    s_resolution: float
    id_digits: int


_VLT_EM = (330e-9, 1100e-9)
PROFILES: tuple[Profile, ...] = (
    Profile(ESO_VLT, "eso", 0.55, "FORS2", (120.0, 2400.0), (30.0, 600.0), 12, (0.057, 0.057), _VLT_EM, 0.114,
            0.2, 0),
    Profile(XMM_NEWTON, "xmm_newton", 0.15, "EPIC", (5e3, 1.3e5), (2e3, 2e4), 1, (0.25, 0.25),
            kev_band_to_em(0.15, 15.0), 0.5, 6.0, 10),
    Profile(NUSTAR, "nustar", 0.15, "FPMA/FPMB", (2e4, 2e5), (1e3, 1e4), 1, (0.1, 0.1),
            kev_band_to_em(3.0, 79.0), 0.2, 18.0, 11),
    Profile(INTEGRAL, "integral", 0.15, "IBIS", (8.64e4, 2.6e5), (3.6e3, 2e4), 1, (4.5, 7.0),
            kev_band_to_em(15.0, 10_000.0), 9.0, 720.0, 12),
)  # fmt: skip


def as_of_mjd(date: dt.date = AS_OF_DATE) -> float:
    """The as-of time of a generated snapshot: noon UTC of its date."""
    return float(mjd_from_date(date)) + 0.5


def _window(profile: Profile, as_of: float) -> tuple[float, float]:
    facility = profile.facility
    lo = facility.start_mjd + 1.0
    hi = min(facility.end_mjd - 1.0, as_of + facility.horizon_days - 1.0)
    return lo, hi


def _ids(profile: Profile, n: int, t_min: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    if profile.id_digits:
        base = 10 ** (profile.id_digits - 1)
        step = max(1, (9 * base) // max(n, 1))
        return (base + np.arange(n, dtype=np.int64) * step).astype(str).astype(object)
    # ESO archive file ids: INSTRUMENT.<UTC start to the ms>, unique because frames never overlap
    stamp = pd.to_datetime((t_min - 40587.0) * 86_400_000.0, unit="ms").strftime("%Y-%m-%dT%H:%M:%S.%f").str[:-3]
    return (profile.instrument + "." + stamp).to_numpy(dtype=object)


def facility_rows(profile: Profile, n: int, as_of: float, rng: np.random.Generator) -> pd.DataFrame:
    """``n`` consecutive, non-overlapping obsplan rows of one facility (obsplan columns but ``t_planning``)."""
    lo, hi = _window(profile, as_of)
    duration = np.exp(rng.uniform(*np.log(profile.exposure_s), n))
    gap = rng.uniform(*profile.gap_s, n)
    span_s = (hi - lo) * 86_400.0
    fill = 0.98 * span_s
    if duration.sum() + gap.sum() > fill:  # denser than real: shorten everything to fit the window
        scale = fill / float(duration.sum() + gap.sum())
        duration, gap = duration * scale, gap * scale
    elif n:  # sparser: idle time (and observations not in this schedule) spread between the rows
        gap = gap * (fill - duration.sum()) / gap.sum()
    # the schedule ends just before the horizon: consecutive rows ending near `hi`
    ends = np.cumsum(duration + gap)
    start_s = span_s - ends[-1] if n else 0.0
    t_min = lo + (start_s + ends - duration - gap) / 86_400.0
    t_max = t_min + duration / 86_400.0
    # pointings: blocks of consecutive frames share one; X-ray targets are drawn from a pool (re-observations)
    block = np.arange(n) // profile.block
    n_point = int(block[-1]) + 1 if n else 0
    pool = max(1, n_point // 5) if profile.block == 1 else n_point
    t_ra = rng.uniform(0.0, 360.0, pool)
    t_dec = np.degrees(np.arcsin(rng.uniform(-0.999, 0.999, pool)))
    pick = rng.integers(0, pool, n_point) if profile.block == 1 else np.arange(n_point)
    ra = np.round(t_ra[pick][block], 6)
    dec = np.round(t_dec[pick][block], 6)
    radius = np.round(rng.uniform(*profile.radius_deg, pool)[pick][block], 4)
    if profile.facility is XMM_NEWTON:
        pa = np.round(rng.uniform(0.0, 360.0, n_point)[block], 1)
        v_ra, v_dec = epic_footprint(ra, dec, pa)
        region = polygon_stcs(v_ra, v_dec).to_numpy(dtype=object)
    else:
        region = circle_stcs(ra, dec, radius).to_numpy(dtype=object)
    s_fov = 2.0 * radius if profile.facility is INTEGRAL else np.full(n, profile.s_fov)

    ended = t_max <= as_of - 1.0  # ended before the previous day's harvest: Performed in both snapshots
    roll = rng.uniform(0.0, 1.0, n)
    status = np.where(
        ended,
        np.where(roll < 0.03, "Aborted", "Performed"),
        np.where(t_min <= as_of + 30.0, "Scheduled", np.where(roll < 0.05, "Unscheduled", "Planned")),
    ).astype(object)
    exposure = np.round(duration * rng.uniform(0.8, 1.0, n), 3)
    timed = (status == "Performed") | (status == "Scheduled")
    frame = pd.DataFrame(
        {
            "target_name": ("T" + pd.Series(pick[block] if n else [], dtype="int64").astype(str)).to_numpy(object),
            "obs_id": _ids(profile, n, t_min, rng),
            "obs_collection": profile.facility.name,
            "s_ra": ra,
            "s_dec": dec,
            "s_fov": s_fov,
            "s_region": region,
            "s_resolution": profile.s_resolution,
            "t_min": t_min,
            "t_max": t_max,
            "t_exptime": np.where(timed, exposure, np.nan),
            "t_resolution": np.nan,
            "em_min": profile.em[0],
            "em_max": profile.em[1],
            "em_res_power": np.nan,
            "o_ucd": "phot.count" if profile.id_digits else "phot.flux.density",
            "pol_states": None,
            "pol_xel": pd.array([pd.NA] * n, dtype="Int32"),
            "facility_name": profile.facility.name,
            "instrument_name": profile.instrument,
            "t_plan_exptime": np.round(duration, 3),
            "category": "Fixed",
            "priority": (np.arange(n) % 3).astype(np.int32),
            "execution_status": status,
            "tracking_type": "Sidereal",
        }
    )
    return frame[[c.name for c in OBSPLAN.columns if c.name != "t_planning"]]


def harvest(n: int, *, seed: int = 0, as_of: float | None = None) -> dict[str, pd.DataFrame]:
    """``n`` obsplan rows split over the facilities: ``{source name: obsplan frame}``, as ``normalise`` gives."""
    as_of = as_of_mjd() if as_of is None else as_of
    rng = np.random.default_rng(seed)
    counts = np.floor(np.array([p.share for p in PROFILES]) * n).astype(int)
    counts[0] += n - counts.sum()
    return {p.source: facility_rows(p, int(k), as_of, rng) for p, k in zip(PROFILES, counts, strict=True)}


def previous_harvest(current: dict[str, pd.DataFrame], changes: int, *, seed: int = 1) -> dict[str, pd.DataFrame]:
    """The harvest of the day before: ``current`` with ``changes`` rows' planned exposure different.

    Reconciling ``current`` against it gives exactly ``changes`` changed observations.
    """
    rng = np.random.default_rng(seed)
    sizes = np.array([len(f) for f in current.values()])
    picked = np.sort(rng.choice(sizes.sum(), size=min(changes, int(sizes.sum())), replace=False))
    out: dict[str, pd.DataFrame] = {}
    offset = 0
    for (source, frame), size in zip(current.items(), sizes, strict=True):
        rows = picked[(picked >= offset) & (picked < offset + size)] - offset
        frame = frame.copy()
        col = frame.columns.get_loc("t_plan_exptime")
        frame.iloc[rows, col] = frame.iloc[rows, col] * 0.9
        out[source] = frame
        offset += size
    return out
