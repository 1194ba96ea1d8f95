"""The visibility space-time MOC reloads with mocpy and agrees with `visibility()` at its resolution."""

from __future__ import annotations

from pathlib import Path

import astropy.units as u
import numpy as np
import pytest
from astropy.time import Time
from mocpy import MOC, STMOC

from models.visibility import visibility
from models.visibility.moc import cell_centres, stmoc_span, visibility_stmoc, write_visibility_stmoc

pytestmark = pytest.mark.filterwarnings("ignore::astropy.coordinates.NonRotationTransformationWarning")


def test_cell_centres_lie_in_their_cells() -> None:
    ra, dec = cell_centres(5)
    assert ra.size == 12 * 4**5
    picks = np.arange(0, ra.size, 53)
    for i in picks:  # mocpy's own HEALPix answers which cell holds the point
        cell = MOC.from_healpix_cells(np.array([i], dtype=np.uint64), 5, 5)
        assert cell.contains_lonlat(ra[i] * u.deg, dec[i] * u.deg)[0]
    # the poles of the HEALPix grid: the first cell of face 0 is the ring nearest the north pole
    assert dec.max() == pytest.approx(np.rad2deg(np.arcsin(1 - 1 / (3 * 32**2))), abs=1e-9)


@pytest.mark.parametrize(("facility", "start", "days"), [("XMM-Newton", "2025-09-05", 4), ("VLT", "2025-09-05", 2)])
def test_stmoc_agrees_with_windows(facility: str, start: str, days: float, tmp_path: Path) -> None:
    stmoc = visibility_stmoc(facility, start, days)
    (path,) = write_visibility_stmoc(stmoc, tmp_path, facility)
    reloaded = STMOC.from_fits(path)
    assert reloaded == stmoc
    ra, dec = cell_centres(5)
    order = 29 if facility == "XMM-Newton" else 31
    cell_days = 2 ** (61 - order) / 86400e6
    t0 = _end(start, 0)
    samples = t0 + cell_days + np.arange(0, days - 2 * cell_days, 5 / 1440)  # every 5 min, clear of the ends
    both = 0
    for i in (1000, 3000, 5000, 9000, 11000):
        in_moc = reloaded.contains(
            Time(samples, format="mjd"), np.full(samples.size, ra[i]) * u.deg, np.full(samples.size, dec[i]) * u.deg
        )
        result = visibility(facility, ra[i], dec[i], start, t0 + days)
        inside = ((samples[:, None] >= result.starts[None, :]) & (samples[:, None] <= result.ends[None, :])).any(axis=1)
        # distance of each sample to the nearest window edge
        edges = np.concatenate([result.starts, result.ends])
        near = (
            np.abs(samples[:, None] - edges[None, :]).min(axis=1) <= 1.01 * cell_days
            if edges.size
            else np.zeros(samples.size, dtype=bool)
        )
        # conservative: in the MOC -> visible; complete at the resolution: visible away from edges -> in the MOC
        assert not (in_moc & ~inside & ~near).any(), (facility, i)
        assert not (inside & ~in_moc & ~near).any(), (facility, i)
        both += int((in_moc & inside).sum())
    assert both > 0


def _end(start: str, days: float) -> float:
    from models.timeutil import mjd_from_iso

    return float(mjd_from_iso([start])[0]) + days


def test_xmm_stmoc_is_clipped_at_the_tle_limit() -> None:
    from models.orbits import MAX_DAYS

    start, end, tle = stmoc_span("XMM-Newton", _end("2025-11-15", 0), 60)
    assert tle is not None and tle.epoch_mjd + MAX_DAYS["XMM-Newton"] < start + 60, "the window passes the limit"
    assert end == pytest.approx(tle.epoch_mjd + MAX_DAYS["XMM-Newton"], abs=1e-5)


def test_integral_stmoc_empty_and_reloads(tmp_path: Path) -> None:
    stmoc = visibility_stmoc("INTEGRAL", "2025-09-05", 30)
    assert stmoc.is_empty()
    (path,) = write_visibility_stmoc(stmoc, tmp_path, "INTEGRAL")
    assert STMOC.from_fits(path).is_empty()


def test_answer_from_the_moc_agrees_with_recomputation(tmp_path: Path) -> None:
    from models.visibility.moc import windows_from_stmoc
    from models.visibility.ovap import to_votable

    (path,) = write_visibility_stmoc(visibility_stmoc("XMM-Newton", "2025-09-05", 6), tmp_path, "XMM-Newton")
    stmoc = STMOC.from_fits(path)
    ra, dec = cell_centres(5)
    cell_days = 2**32 / 86400e6  # time order 29
    for i in (1000, 5000, 9000):
        from_moc = windows_from_stmoc(stmoc, "XMM-Newton", ra[i], dec[i], "2025-09-05T12:00", "2025-09-10")
        direct = visibility("XMM-Newton", ra[i], dec[i], "2025-09-05T12:00", "2025-09-10")
        # each MOC window sits inside a recomputed one; each recomputed window of > 3 cells has a MOC window
        # whose edges are within one cell (plus the 60-s sampling step) of its own
        for lo, hi in zip(from_moc.starts, from_moc.ends, strict=True):
            assert ((direct.starts <= lo + 61 / 86400) & (direct.ends >= hi - 61 / 86400)).any()
        for lo, hi in zip(direct.starts, direct.ends, strict=True):
            if hi - lo > 3 * cell_days:
                near = (np.abs(from_moc.starts - lo) <= cell_days + 61 / 86400) | (from_moc.starts <= lo)
                near &= (np.abs(from_moc.ends - hi) <= cell_days + 61 / 86400) | (from_moc.ends >= hi)
                assert near.any(), (i, lo, hi)
        assert b"visibility space-time MOC" in to_votable(from_moc)


def test_nustar_moc_refusal_is_the_manifest_note(monkeypatch: pytest.MonkeyPatch) -> None:
    """The snapshot's manifest says why NuSTAR has no MOC: the epoch held, the limit, where to fetch."""
    import models.visibility.moc as moc
    from models.orbits import PropagationError

    with pytest.raises(PropagationError) as info:
        stmoc_span("NuSTAR", 60923.0, 30)  # the bundled as-of date, 2025-09-05
    message = str(info.value)
    assert "recordings/visibility/nustar_2025-08-02.tle" in message and "2025-08-02T14:00:01.000Z" in message
    assert "at most 7 days" in message and "https://celestrak.org/NORAD/elements/gp.php?CATNR=38358" in message
    assert "33.4 days" in message  # 2025-09-05 - 2025-08-02T14:00:01 = 33.42 days by hand
    monkeypatch.setattr(moc, "SNAPSHOT_FACILITIES", ("NuSTAR",))  # the others take seconds each
    written, described = moc.write_snapshot_visibility("/nonexistent", 60923.0, 30)
    assert written == [] and described["NuSTAR"] == {"file": None, "why": message}
