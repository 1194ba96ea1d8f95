"""Visibility (OVAP): when can a facility observe a sky position.

:func:`visibility` answers the Object Visibility Access Protocol question (IVOA Note OVAP 0.1:
``RA``, ``DEC``, ``START_TIME``, ``END_TIME``, ``MIN_VIS``) for one facility: the windows in which
every documented constraint of the facility holds (:mod:`.facilities`, each constraint cited there).
Times are sampled on a fixed grid (``step_s``: 60 s for XMM-Newton, 30 s for NuSTAR, 300 s on the
ground), each constraint is evaluated for all samples at once, and runs of visible samples become
windows (edges accurate to one step) -- the scheme of NASA ACROSS ``across-tools``
(``across/tools/visibility/base.py``: fixed step, OR of constraints, contiguous runs, ``min_vis``).
:mod:`.ovap` writes the answer as an OVAP VOTable, CSV or JSON; :mod:`.service` reads OVAP request
parameters and builds the answer (or the DALI error document) that ``voharvest serve-ovap`` sends.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from models import orbits
from models.orbits import TLE
from models.timeutil import check_mjd, mjd_from_iso
from models.visibility import facilities as fac
from models.visibility import geometry as geo
from models.visibility.facilities import FACILITIES, VisibilityError, facility_name

__all__ = [
    "FACILITIES",
    "Result",
    "VisibilityError",
    "check_tle",
    "default_tles",
    "facility_name",
    "select_tle",
    "visibility",
]

#: Default sample step per facility, seconds (window edges are accurate to one step).
STEP_S = {"XMM-Newton": 60.0, "NuSTAR": 30.0, "VLT": 300.0, "VLTI": 300.0, "APEX": 300.0, "INTEGRAL": 300.0}

#: Longest query span, days (the sample grid is held in memory: 366 d at 60 s is 527 040 samples).
MAX_SPAN_DAYS = 366.0

#: The bundled real TLE sets (``recordings/visibility/PROVENANCE.md``).
TLE_DIRECTORY = Path(__file__).resolve().parents[2] / "recordings" / "visibility"

_NORAD = {"XMM-Newton": 25989, "NuSTAR": 38358}


@dataclass(frozen=True)
class Result:
    """Visibility windows of one position for one facility, with everything the answer depends on."""

    facility: str
    ra: float
    dec: float
    start_mjd: float
    end_mjd: float
    min_vis_s: float
    step_s: float
    starts: np.ndarray
    ends: np.ndarray
    model: fac.Model
    infos: dict[str, str] = field(default_factory=dict)
    max_vis_s: float = float("inf")

    @property
    def durations_s(self) -> np.ndarray:
        """Window durations in seconds (END - START)."""
        return (self.ends - self.starts) * 86400.0

    @property
    def validity_mjd(self) -> float:
        """Until when the prediction holds: TLE epoch + the propagation limit, else the query end."""
        if self.model.tle is None:
            return self.end_mjd
        return self.model.tle.epoch_mjd + orbits.MAX_DAYS[self.facility]


def _mjd(value: str | float, what: str) -> float:
    """A time given as ISO 8601 text or as a UTC MJD number (numbers checked by :func:`models.timeutil.check_mjd`)."""
    if isinstance(value, int | float | np.floating):
        out = float(value)
    else:
        text = str(value).strip()
        try:
            out = float(text)
        except ValueError:
            out = float(mjd_from_iso([text])[0])
    if np.isnan(out):
        raise VisibilityError(f"{what} is missing")
    return float(check_mjd([out], what=what)[0])  # an MJD of 1e9 or inf is refused, not propagated


def _durations(min_vis: float, max_vis: float | None) -> tuple[float, float]:
    """``MIN_VIS`` and ``MAX_VIS`` (s) checked: finite, not negative, ``MIN_VIS <= MAX_VIS``."""
    lo = float(min_vis)
    hi = float("inf") if max_vis is None else float(max_vis)
    if not (np.isfinite(lo) and lo >= 0):
        raise VisibilityError(f"MIN_VIS must be a number of seconds >= 0, got {min_vis!r}")
    if np.isnan(hi) or hi < 0:
        raise VisibilityError(f"MAX_VIS must be a number of seconds >= 0, got {max_vis!r}")
    if hi < lo:
        raise VisibilityError(f"MAX_VIS ({hi:g} s) is smaller than MIN_VIS ({lo:g} s)")
    return lo, hi


def _position(ra: float | str, dec: float | str) -> tuple[float, float]:
    """ICRS degrees of a position given as numbers or as text (the one coordinate parser, models.coords)."""
    from models.coords import check_dec, parse_dec, parse_ra, wrap_ra

    if isinstance(ra, str):
        ra_deg = float(parse_ra([ra])[0])  # decimal degrees or sexagesimal hours
    else:
        ra_deg = float(wrap_ra(np.array([float(ra)]))[0])
    dec_deg = float(parse_dec([dec])[0]) if isinstance(dec, str) else float(check_dec(np.array([float(dec)]))[0])
    if not (np.isfinite(ra_deg) and np.isfinite(dec_deg)):
        raise VisibilityError("RA and DEC are required")
    return ra_deg, dec_deg


def default_tles(directory: str | Path | None = None) -> list[TLE]:
    """Every TLE set recorded in ``directory`` (default :data:`TLE_DIRECTORY`)."""
    from scrapers.tle import load

    path = Path(directory) if directory is not None else TLE_DIRECTORY
    out = [tle for file in sorted(path.glob("*.tle")) for tle in load(file)]
    if directory is None:  # name the bundled files by their place in the repository, not this machine's path
        out = [replace(t, source=f"recordings/visibility/{Path(t.source).name}") for t in out]
    return out


def check_tle(facility: str, tle: TLE, start_mjd: float, end_mjd: float) -> None:
    """Refuse (:class:`models.orbits.PropagationError`) a range reaching beyond the TLE's propagation limit.

    The message says which epoch is held (and the file it came from), the limit, the range that set can
    answer, and where a current set is fetched (CelesTrak's GP service, :func:`scrapers.tle.requests`) and
    how it is given (``--tle FILE``): a NuSTAR set goes stale within days, so the bundled one often is.

    Parameters
    ----------
    facility : str
        ``XMM-Newton`` or ``NuSTAR``.
    tle : TLE
        The set that would be propagated.
    start_mjd, end_mjd : float
        The requested range (UTC MJD).
    """
    from scrapers.tle import requests as tle_requests

    name = facility_name(facility)
    limit = orbits.MAX_DAYS[name]
    gaps = np.abs(np.array([start_mjd, end_mjd]) - tle.epoch_mjd)
    if gaps.max() <= limit:
        return
    worst = (start_mjd, end_mjd)[int(np.argmax(gaps))]
    (request,) = tle_requests((name,))
    url = f"{request.url}?{'&'.join(f'{k}={v}' for k, v in request.params)}"
    lo, hi = (_iso_minutes(tle.epoch_mjd + d) for d in (-limit, limit))
    where = f" ({tle.source})" if tle.source else ""
    raise orbits.PropagationError(
        f"{name}: the TLE held{where} has epoch {tle.epoch_iso}; {_iso_minutes(worst)} is {gaps.max():.1f} days "
        f"from it and {name} answers are propagated at most {limit:g} days from a TLE epoch (this set answers "
        f"{lo} .. {hi}). Fetch a current set from {url} and give it with --tle FILE "
        "(or add it to recordings/visibility)"
    )


def _iso_minutes(mjd: float) -> str:
    """UTC MJD as ``YYYY-MM-DDTHH:MMZ`` (for messages)."""
    from astropy.time import Time

    return Time(mjd, format="mjd", scale="utc").isot[:16] + "Z"


def select_tle(tles: Sequence[TLE], facility: str, start_mjd: float, end_mjd: float) -> TLE:
    """The set of ``facility``'s spacecraft whose epoch is closest to the middle of the query.

    Raises :class:`VisibilityError` when none is recorded; the propagation limit is checked later.
    """
    name = facility_name(facility)
    mine = [t for t in tles if t.norad == _NORAD[name]]
    if not mine:
        raise VisibilityError(f"no TLE of {name} (NORAD {_NORAD[name]}) available")
    middle = 0.5 * (start_mjd + end_mjd)
    return min(mine, key=lambda t: abs(t.epoch_mjd - middle))


def visibility(
    facility: str,
    ra: float | str,
    dec: float | str,
    start: str | float,
    end: str | float,
    *,
    min_vis: float = 0.0,
    max_vis: float | None = None,
    step_s: float | None = None,
    tle: TLE | None = None,
    tles: Sequence[TLE] | None = None,
    moon_min_deg: float | None = None,
) -> Result:
    """Visibility windows of (``ra``, ``dec``) for ``facility`` between ``start`` and ``end``.

    Parameters
    ----------
    facility : str
        One of :data:`FACILITIES` (case-insensitive; ``xmm``, ``paranal`` accepted).
    ra, dec : float or str
        ICRS position: degrees, or text read by :mod:`models.coords` (``05:34:31.9``).
    start, end : str or float
        ISO 8601 UTC text or UTC MJD.
    min_vis : float
        Drop windows shorter than this, seconds (OVAP ``MIN_VIS``).
    max_vis : float, optional
        Drop windows longer than this, seconds (OVAP ``MAX_VIS``; read as the upper bound of the duration
        filter whose lower bound is ``MIN_VIS``: the Note's own definition was not found).
    step_s : float, optional
        Sample step, seconds (default :data:`STEP_S`).
    tle : TLE, optional
        Element set to propagate (spacecraft); default: from ``tles`` the set closest to the query.
    tles : sequence of TLE, optional
        Candidate sets (default :func:`default_tles`, the bundled real sets); the one closest to the
        middle of the query is used.
    moon_min_deg : float, optional
        Minimum Moon distance for VLT/VLTI (a per-OB constraint at ESO).

    Returns
    -------
    Result
        Windows (MJD UTC) and the model (constraints, TLE epoch) they were computed with.

    Raises
    ------
    VisibilityError
        Unknown facility, end before start, span over :data:`MAX_SPAN_DAYS`, no TLE, bad MIN_VIS/MAX_VIS.
    models.orbits.PropagationError
        A sample lies further than :data:`models.orbits.MAX_DAYS` from the TLE epoch (:func:`check_tle`).
    """
    name = facility_name(facility)
    start_mjd, end_mjd = _mjd(start, "START_TIME"), _mjd(end, "END_TIME")
    lo_vis, hi_vis = _durations(min_vis, max_vis)
    if not end_mjd > start_mjd:
        raise VisibilityError(f"END_TIME ({end_mjd}) must be after START_TIME ({start_mjd})")
    if end_mjd - start_mjd > MAX_SPAN_DAYS:
        raise VisibilityError(f"query spans {end_mjd - start_mjd:.1f} days; at most {MAX_SPAN_DAYS:g} are answered")
    ra_deg, dec_deg = _position(ra, dec)
    step = float(step_s if step_s is not None else STEP_S[name])
    count = int(np.floor((end_mjd - start_mjd) * 86400.0 / step)) + 1
    times = start_mjd + np.arange(count) * step / 86400.0
    infos: dict[str, str] = {}
    model: fac.Model
    if name == "INTEGRAL":
        model = fac.describe(name)
        mask = np.zeros(count, dtype=bool)
        infos["FACILITY_STATUS"] = model.notes[0]
    elif name in _NORAD:
        chosen = tle or select_tle(tles if tles is not None else default_tles(), name, start_mjd, end_mjd)
        check_tle(name, chosen, start_mjd, end_mjd)
        model = fac.describe(name, chosen)
        mask = fac.space_mask(name, ra_deg, dec_deg, times, chosen)[0]
        infos["TLE_EPOCH"] = chosen.epoch_iso
        infos["TLE_MAX_DAYS"] = f"{orbits.MAX_DAYS[name]:g}"
        infos["TLE_SOURCE"] = chosen.source
    else:
        model = fac.describe(name)
        mask = fac.ground_mask(name, ra_deg, dec_deg, times, moon_min_deg)[0]
        if moon_min_deg is not None and name in ("VLT", "VLTI"):
            model.constraints["moon_min_deg"] = f"{moon_min_deg:g}"
    starts, ends = geo.windows(mask, times)
    durations = (ends - starts) * 86400.0
    keep = (durations >= lo_vis) & (durations <= hi_vis)
    return Result(
        name, ra_deg, dec_deg, start_mjd, end_mjd, lo_vis, step, starts[keep], ends[keep], model, infos, hi_vis
    )
