"""Visibility windows checked against independent computations (astropy, astroplan, orbit geometry by hand).

Real TLE sets: tests/data/visibility (PROVENANCE.md). Sun/Moon: astropy built-in ephemeris (offline).
"""

from __future__ import annotations

import io
from pathlib import Path

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import (
    AltAz,
    CartesianRepresentation,
    EarthLocation,
    GeocentricTrueEcliptic,
    SkyCoord,
    get_body,
    get_sun,
)
from astropy.io.votable import parse as parse_votable
from astropy.time import Time

from models import orbits
from models.orbits import PropagationError
from models.visibility import VisibilityError, visibility
from models.visibility import facilities as fac
from models.visibility import geometry as geo
from models.visibility.ovap import to_csv, to_json, to_votable
from scrapers.tle import load

# the tests measure separations in the body's GCRS frame on purpose (see _sep); astropy warns on every such call
pytestmark = pytest.mark.filterwarnings("ignore::astropy.coordinates.NonRotationTransformationWarning")

DATA = Path(__file__).parent / "data" / "visibility"
XMM = load(DATA / "xmm-newton_2025-08-03.tle")[0]
NUSTAR = load(DATA / "nustar_2025-08-02.tle")[0]
MU_EARTH = 398600.4418  # km^3 s^-2 (WGS-84)


def _sep(ra: float, dec: float, body: SkyCoord) -> np.ndarray:
    """Separation measured in the body's own (geocentric or topocentric GCRS) frame: the ICRS target is
    transformed into it (the other way round would move a body at finite distance to the barycentre)."""
    return body.separation(SkyCoord(ra * u.deg, dec * u.deg)).deg


# --- orbit ----------------------------------------------------------------------------------------


def test_xmm_radius_matches_elements_by_hand() -> None:
    # a = (mu / n^2)^(1/3) with n = 0.50136658 rev/day; perigee a(1-e), apogee a(1+e), e = 0.4816564
    n = 0.50136658 * 2 * np.pi / 86400.0
    a = (MU_EARTH / n**2) ** (1 / 3)
    period_days = 1 / 0.50136658
    mjd = XMM.epoch_mjd + np.linspace(0, period_days, 2000)
    r = np.linalg.norm(orbits.propagate_gcrs(XMM, mjd, max_days=60), axis=1)
    assert r.min() == pytest.approx(a * (1 - 0.4816564), rel=0.01)
    assert r.max() == pytest.approx(a * (1 + 0.4816564), rel=0.01)


def test_xmm_time_above_46000_km_matches_kepler() -> None:
    # Kepler by hand: r = a (1 - e cos E); below r0 while |E| < E0 = acos((1 - r0/a) / e); time from
    # Kepler's equation M = E - e sin E -> fraction below = (E0 - e sin E0) / pi
    n = 0.50136658 * 2 * np.pi / 86400.0
    a, e = (MU_EARTH / n**2) ** (1 / 3), 0.4816564
    e0 = np.arccos((1 - (6378.137 + 46000) / a) / e)
    period_s = 86400 / 0.50136658
    kepler_ks = (1 - (e0 - e * np.sin(e0)) / np.pi) * period_s / 1000  # 135.4 ks
    mjd = XMM.epoch_mjd + 30 + np.arange(0, 10 / 0.50136658, 60 / 86400)
    alt = np.linalg.norm(orbits.propagate_gcrs(XMM, mjd, max_days=60), axis=1) - geo.EARTH_RADIUS_KM
    per_orbit_ks = np.mean(alt >= fac.XMM_MIN_ALTITUDE_KM) * period_s / 1000
    assert per_orbit_ks == pytest.approx(kepler_ks, abs=1.0)
    # UHB radbelts.html gives 143 ks per orbit for its (older, e ~ 0.56) orbit; 2025's e = 0.48 gives less
    assert 125 < per_orbit_ks < 143


def test_refuses_beyond_propagation_limit() -> None:
    with pytest.raises(PropagationError, match=r"2025-08-02T14:00:01.*at most 7 days"):
        visibility("NuSTAR", 83.6, 22.0, "2025-09-05", "2025-09-06", tle=NUSTAR)
    with pytest.raises(PropagationError, match="at most 150 days"):
        visibility("XMM-Newton", 83.6, 22.0, "2026-01-05", "2026-01-06", tle=XMM)


def test_teme_to_gcrs_interpolation_agrees_with_astropy() -> None:
    from astropy.coordinates import GCRS, TEME

    mjd = XMM.epoch_mjd + np.array([0.1, 3.37, 17.9, 41.05])
    teme = orbits.propagate_teme(XMM, mjd, max_days=60)
    t = Time(mjd, format="mjd")
    ref = TEME(CartesianRepresentation(teme.T * u.km), obstime=t).transform_to(GCRS(obstime=t))
    ours = orbits.propagate_gcrs(XMM, mjd, max_days=60)
    assert np.abs(ours - ref.cartesian.xyz.to_value(u.km).T).max() < 0.01  # km


# --- XMM-Newton -----------------------------------------------------------------------------------


def test_xmm_constraints_against_astropy_separations() -> None:
    """At every sample, the mask equals the constraints recomputed with astropy SkyCoord separations."""
    ra, dec = 83.633, 22.014  # Crab
    mjd = 60923.0 + np.arange(0, 4, 10 / 1440)  # 2025-09-05 .. 09-09, 10 min
    mask = fac.space_mask("XMM-Newton", ra, dec, mjd, XMM)[0]
    t = Time(mjd, format="mjd")
    sc = orbits.propagate_gcrs(XMM, mjd, max_days=60)
    sc_rep = CartesianRepresentation(sc.T * u.km)
    sun = get_body("sun", t)
    moon = get_body("moon", t)
    # directions from the spacecraft: body minus spacecraft, as astropy SkyCoords
    sun_from_sc = SkyCoord(sun.cartesian - sc_rep, frame="gcrs", obstime=t, representation_type="cartesian")
    moon_from_sc = SkyCoord(moon.cartesian - sc_rep, frame="gcrs", obstime=t, representation_type="cartesian")
    earth_from_sc = SkyCoord(-sc_rep, frame="gcrs", obstime=t, representation_type="cartesian")
    target = SkyCoord(ra * u.deg, dec * u.deg, frame="gcrs", obstime=t)
    solar = target.separation(sun_from_sc).deg
    lunar = target.separation(moon_from_sc).deg
    r = np.linalg.norm(sc, axis=1)
    limb = target.separation(earth_from_sc).deg - np.rad2deg(np.arcsin(6378.137 / r))
    shadow = fac.geo.in_earth_shadow(sc, sun.cartesian.xyz.to_value(u.km).T)
    expected = (
        (solar >= 70) & (solar <= 110) & (limb >= 42.5) & (lunar >= np.where(shadow, 35, 22)) & (r - 6378.137 >= 46000)
    )
    # GCRS target vs ICRS unit vector differ by aberration (20"): allow disagreement only within 0.01 deg of an edge
    near_edge = (
        (np.abs(solar - 70) < 0.01)
        | (np.abs(solar - 110) < 0.01)
        | (np.abs(limb - 42.5) < 0.01)
        | (np.abs(lunar - 22) < 0.01)
    )
    assert np.array_equal(mask[~near_edge], expected[~near_edge])
    assert 0.2 < mask.mean() < 0.9  # the Crab in September: solar aspect ~80 deg, visible most of each orbit
    # the Sun's parallax from the spacecraft is < 0.04 deg: geocentric astropy separation agrees
    assert np.abs(solar - _sep(ra, dec, get_sun(t))).max() < 0.04


@pytest.mark.parametrize(("ra", "dec"), [(270.0, 66.560708), (90.0, -66.560708)])
def test_ecliptic_poles_inside_solar_aspect_range_all_year(ra: float, dec: float) -> None:
    mjd = 60676.0 + np.arange(0, 366, 0.25)  # 2025, every 6 h
    ours = fac.solar_aspect_deg(ra, dec, mjd)[0]
    theirs = _sep(ra, dec, get_sun(Time(mjd, format="mjd")))
    # the Sun stays within 0.001 deg of the ecliptic (of date) and the J2000 pole moves 0.36 deg in 25 yr:
    assert np.abs(theirs - 90).max() < 0.5
    assert np.abs(ours - theirs).max() < 0.01
    assert ((ours >= 70) & (ours <= 110)).all()


def test_ecliptic_poles_in_september_2025() -> None:
    """South pole: limited only by the 46 000 km altitude; north pole: also by the Earth limb near apogee."""
    period_s = 86400 / 0.50136658
    n = 0.50136658 * 2 * np.pi / 86400.0
    a, e = (MU_EARTH / n**2) ** (1 / 3), 0.4816564
    e0 = np.arccos((1 - (6378.137 + 46000) / a) / e)
    kepler_ks = (1 - (e0 - e * np.sin(e0)) / np.pi) * period_s / 1000  # time above 46 000 km per orbit
    south = visibility("XMM-Newton", 90.0, -66.560708, "2025-09-01", "2025-09-21", tle=XMM)
    whole = south.durations_s[1:-1] / 1000  # the first and last windows are cut by the query
    assert whole.size >= 8 and np.allclose(whole, kepler_ks, atol=1.5)
    north = visibility("XMM-Newton", 270.0, 66.560708, "2025-09-01", "2025-09-21", tle=XMM)
    assert north.starts.size == 2 * south.starts.size - 2  # each revolution split in two
    # apogee lies south (argument of perigee 70 deg): from there the Earth is ~40 deg from the north pole
    gaps = 0.5 * (north.ends[:-1] + north.starts[1:])
    sc = orbits.propagate_gcrs(XMM, gaps, max_days=60)
    alt = np.linalg.norm(sc, axis=1) - 6378.137
    limb = geo.earth_limb_deg(geo.unit_vectors([270.0], [66.560708]), sc)[0]
    assert ((alt < 46000) | (limb < 42.5)).all()
    assert (limb[alt >= 46000] < 42.5).sum() >= 8


def test_ecliptic_plane_two_windows_centred_90_deg_from_sun() -> None:
    ra, dec = 0.0, 0.0  # ecliptic longitude 0, latitude 0
    mjd = 60676.0 + np.arange(0, 365.25, 1 / 24)
    ok = (lambda a: (a >= 70) & (a <= 110))(fac.solar_aspect_deg(ra, dec, mjd)[0])
    starts, ends = geo.windows(ok, mjd)
    # the year is cut at Jan 1: the December window continues in January -> 3 runs, 2 windows a year
    assert starts.size == 3 and starts[0] == mjd[0] and ends[-1] == mjd[-1]
    length_days = (ends[1] - starts[1], (ends[0] - starts[0]) + (ends[2] - starts[2]))
    assert all(36 < d < 45 for d in length_days)  # 40 deg of solar longitude at ~1 deg/day
    for lo, hi in ((starts[1], ends[1]), (starts[2], ends[0] + 365.25)):
        centre = Time(0.5 * (lo + hi), format="mjd")
        lon = get_sun(centre).transform_to(GeocentricTrueEcliptic(equinox=centre)).lon.deg
        assert min(abs(lon - 90), abs(lon - 270)) < 1.5  # elongation 90 deg at the centre


def test_moon_parallax_is_measured_from_spacecraft() -> None:
    mjd = XMM.epoch_mjd + np.arange(0, 2, 0.01)
    sc = orbits.propagate_gcrs(XMM, mjd, max_days=60)
    moon = geo.body_gcrs_km("moon", mjd)
    direction = geo.angle_deg(geo.unit_vectors([0.0], [0.0]), moon - sc)[0]
    geocentric = geo.angle_deg(geo.unit_vectors([0.0], [0.0]), moon)[0]
    # at ~1e5 km from the Earth the Moon (3.8e5 km) shifts by up to asin(1e5/3.8e5) ~ 15 deg
    assert np.abs(direction - geocentric).max() > 5


# --- NuSTAR ---------------------------------------------------------------------------------------


def test_nustar_occultation_by_hand() -> None:
    # orbit-plane normal from i and RAAN (TEME ~ GCRS to 0.01 deg); ascending node direction is in the plane
    inc, raan = np.deg2rad(6.0265), np.deg2rad(256.1944)
    pole = np.array([np.sin(inc) * np.sin(raan), -np.sin(inc) * np.cos(raan), np.cos(inc)])
    pole_ra, pole_dec = np.rad2deg(np.arctan2(pole[1], pole[0])) % 360, np.rad2deg(np.arcsin(pole[2]))
    start, end = NUSTAR.epoch_mjd + 0.5, NUSTAR.epoch_mjd + 1.5
    in_plane = visibility("NuSTAR", 256.1944, 0.0, start, end, tle=NUSTAR, step_s=10)
    polar = visibility("NuSTAR", pole_ra, pole_dec, start, end, tle=NUSTAR, step_s=10)
    assert polar.starts.size == 1 and polar.durations_s[0] == pytest.approx(86400, abs=10)
    # in the plane: hidden while within asin(R/r) of the nadir -> visible fraction 1 - 2 asin(R/r) / 360
    r = np.linalg.norm(orbits.propagate_gcrs(NUSTAR, np.linspace(start, end, 500), max_days=7), axis=1).mean()
    expected = 1 - 2 * np.rad2deg(np.arcsin(6378.137 / r)) / 360
    assert in_plane.durations_s.sum() / 86400 == pytest.approx(expected, abs=0.01)
    assert abs(in_plane.starts.size - 15.04278865) <= 1  # one window per revolution


# --- ground ---------------------------------------------------------------------------------------


def test_paranal_southern_target_against_astropy_and_astroplan() -> None:
    from astroplan import is_always_observable, is_observable

    ra, dec = 6.0236, -72.0813  # 47 Tuc: circumpolar-ish at Paranal, from 6.6 to 42.5 deg altitude
    result = visibility("VLT", ra, dec, "2025-09-05T12:00", "2025-09-08T12:00", step_s=300)
    mjd = result.start_mjd + np.arange(0, 3 * 288 + 1) * 300 / 86400
    t = Time(mjd, format="mjd")
    loc = EarthLocation(lat=-24.6279 * u.deg, lon=-70.4048 * u.deg, height=2635.43 * u.m)
    frame = AltAz(obstime=t, location=loc)
    alt = SkyCoord(ra * u.deg, dec * u.deg).transform_to(frame).alt.deg
    sun_alt = get_sun(t).transform_to(frame).alt.deg
    moon_sep = _sep(ra, dec, get_body("moon", t, location=loc))
    expected = (alt >= 20) & (alt <= 87) & (sun_alt <= -18) & (moon_sep >= 30)
    starts, ends = geo.windows(expected, mjd)
    assert result.starts.size == starts.size == 3  # one window per night
    assert np.allclose(result.starts, starts, atol=301 / 86400) and np.allclose(result.ends, ends, atol=301 / 86400)
    # the upper culmination of 47 Tuc is 90 - |-72.08 + 24.63| = 42.5 deg by hand
    # (+0.14 deg: J2000 -> 2025 precession in Dec at RA ~ 0 is ~20"/yr)
    assert alt.max() == pytest.approx(90 - abs(dec - -24.6279), abs=0.2)
    observer = fac.observer("VLT")
    constraints = fac.ground_constraints("VLT")
    target = __import__("astroplan").FixedTarget(SkyCoord(ra * u.deg, dec * u.deg))
    for lo, hi in zip(result.starts, result.ends, strict=True):
        inside = Time(np.linspace(lo, hi, 12), format="mjd")
        assert is_always_observable(constraints, observer, [target], times=inside).all()
    gaps = zip(result.ends[:-1], result.starts[1:], strict=True)
    for lo, hi in gaps:
        between = Time(np.linspace(lo + 600 / 86400, hi - 600 / 86400, 24), format="mjd")
        assert not is_observable(constraints, observer, [target], times=between).any()


def test_apex_observes_in_daytime() -> None:
    # Cen A transits ~2.4 h after the Sun in early September: a submm telescope sees it in the afternoon
    result = visibility("APEX", 201.365, -43.019, "2025-09-05T12:00", "2025-09-06T12:00")
    loc = EarthLocation(lat=fac.APEX_LAT_DEG * u.deg, lon=fac.APEX_LON_DEG * u.deg, height=5105 * u.m)
    inside = Time(
        np.concatenate([np.linspace(lo, hi, 20) for lo, hi in zip(result.starts, result.ends, strict=True)]),
        format="mjd",
    )
    frame = AltAz(obstime=inside, location=loc)
    sun_alt = get_sun(inside).transform_to(frame).alt.deg
    target_alt = SkyCoord(201.365 * u.deg, -43.019 * u.deg).transform_to(frame).alt.deg
    assert (sun_alt > 30).any()  # no night constraint
    assert (target_alt >= 20 - 0.01).all()
    assert (_sep(201.365, -43.019, get_sun(inside)) >= 30 - 0.01).all()


# --- INTEGRAL and the answer formats --------------------------------------------------------------


def test_integral_empty_with_info() -> None:
    result = visibility("INTEGRAL", 83.6, 22.0, "2025-09-05", "2025-09-06")
    assert result.starts.size == 0
    assert "2025-02-28" in result.infos["FACILITY_STATUS"]
    table = parse_votable(io.BytesIO(to_votable(result)), verify="exception")
    infos = {i.name: i for i in table.resources[0].infos}
    assert "2025-02-28" in infos["FACILITY_STATUS"].value
    assert table.get_first_table().array.shape == (0,)


def test_ovap_votable_layout_and_votlint(tmp_path: Path) -> None:
    from tests.votlint import votlint

    result = visibility("XMM-Newton", "05:34:31.9", 22.0145, "2025-09-05", "2025-09-07", tle=XMM)
    for flavour in ("ovap", "objobssap"):
        path = tmp_path / f"{flavour}.vot"
        path.write_bytes(to_votable(result, flavour))
        report = votlint(path)
        assert not report.errors and not report.warnings, report.raw
        doc = parse_votable(path, verify="exception")
        infos = {i.name: i for i in doc.resources[0].infos}
        assert infos["QUERY_STATUS"].value == "OK"
        assert infos["SERVICE_PROTOCOL"].value == "1.0" and infos["SERVICE_PROTOCOL"].content == "OVAP"
        assert float(infos["RA"].value) == pytest.approx(83.63292, abs=1e-5)  # 05:34:31.9 by hand: 83.6329 deg
        assert infos["TLE_EPOCH"].value == "2025-08-03T05:45:54.839Z"
        table = doc.get_first_table()
        if flavour == "ovap":
            utypes = {f.name: f.utype for f in table.fields}
            assert utypes == {
                "START_VISIBILITY": "ovdm:Visibility.startVisibility.value",
                "END_VISIBILITY": "ovdm:Visibility.endVisibility.value",
                "DURATION": "ovdm:Visibility.duration.value",
            }
            arr = table.array
            assert np.allclose(arr["DURATION"], (arr["END_VISIBILITY"] - arr["START_VISIBILITY"]) * 86400)
        else:
            assert [f.name for f in table.fields] == ["t_start", "t_stop", "t_observability", "t_validity", "facility"]
            assert np.allclose(table.array["t_validity"], XMM.epoch_mjd + orbits.MAX_DAYS["XMM-Newton"])


def test_min_vis_and_csv_json() -> None:
    result = visibility("NuSTAR", 83.6, 22.0, NUSTAR.epoch_mjd, NUSTAR.epoch_mjd + 0.5, tle=NUSTAR)
    longest = result.durations_s.max()
    shorter = visibility("NuSTAR", 83.6, 22.0, NUSTAR.epoch_mjd, NUSTAR.epoch_mjd + 0.5, tle=NUSTAR, min_vis=longest)
    assert (shorter.durations_s >= longest).all() and shorter.starts.size >= 1
    csv = to_csv(result).splitlines()
    assert csv[0] == "START_VISIBILITY,END_VISIBILITY,DURATION" and len(csv) == result.starts.size + 1
    assert '"SERVICE_PROTOCOL": "1.0 (OVAP)"' in to_json(result)


def test_bad_requests() -> None:
    with pytest.raises(VisibilityError, match="unknown facility"):
        visibility("Hubble", 0, 0, "2025-09-05", "2025-09-06")
    with pytest.raises(VisibilityError, match="after"):
        visibility("VLT", 0, 0, "2025-09-06", "2025-09-05")
    with pytest.raises(VisibilityError, match="MIN_VIS must be"):
        visibility("VLT", 0, 0, "2025-09-05", "2025-09-06", min_vis=-1)
    with pytest.raises(VisibilityError, match="smaller than MIN_VIS"):
        visibility("VLT", 0, 0, "2025-09-05", "2025-09-06", min_vis=600, max_vis=60)
    from models.timeutil import TimeParseError

    with pytest.raises(TimeParseError):  # a number is an MJD, checked like any other (1e9 is year 2.7 million)
        visibility("VLT", 0, 0, 1e9, 1e9 + 1)


def test_offline_no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every facility answers with sockets disabled: built-in ephemeris, bundled IERS tables, bundled TLEs."""
    import socket

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    for facility, start in (("XMM-Newton", "2025-09-05"), ("NuSTAR", "2025-08-03"), ("VLTI", "2026-11-30")):
        assert visibility(facility, 201.365, -43.019, start, _plus_days(start, 1)).step_s > 0
    assert visibility("APEX", 201.365, -43.019, "2026-11-30", "2026-12-01").starts.size >= 1


def _plus_days(iso: str, days: float) -> float:
    return float(Time(iso, scale="utc").mjd + days)
