"""Per-facility visibility: the documented constraints, each with its source, as boolean masks.

:func:`mask` answers, for ``m`` positions and ``n`` UTC sample times, whether each facility could
observe each position at each time (shape ``(m, n)``). Sources are quoted in
``../shared/visibility.md`` (copied into the README "Visibility" section); UNVERIFIED marks a value
no source confirmed, kept only as a user-settable default.

Spacecraft (XMM-Newton, NuSTAR): position from a real TLE propagated with SGP4
(:mod:`models.orbits`), Sun and Moon from astropy's built-in ephemeris (:mod:`.geometry`); angles
are measured from the spacecraft (the Moon's parallax reaches 15 deg at XMM's apogee).
Ground (VLT/VLTI at Paranal, APEX at Chajnantor): astroplan constraints on an ``Observer``.
INTEGRAL: science operations ended on 2025-02-28: never visible.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import astropy.units as u
import numpy as np
import numpy.typing as npt
from astropy.coordinates import EarthLocation, NonRotationTransformationWarning, SkyCoord
from astropy.time import Time

from models import orbits
from models.orbits import TLE
from models.radio import PARANAL_LAT_DEG, PARANAL_LON_DEG
from models.visibility import geometry as geo

# --- XMM-Newton -------------------------------------------------------------------------------------
#: Solar aspect angle range, deg. UHB "Celestial constraints"
#: (https://xmm-tools.cosmos.esa.int/external/xmm_user_support/documentation/uhb/celest.html): "A solar
#: aspect angle within the range 70-110 [deg] ... be maintained at all times"; ESA orbit-details
#: (https://www.cosmos.esa.int/web/xmm-newton/orbit-details): "Solar Avoidance Angle 70 - 110".
XMM_SOLAR_ASPECT_DEG = (70.0, 110.0)
#: Earth-limb avoidance, deg: UHB celest.html "Minimum avoidance angle: 42.5" (orbit-details says 42;
#: the larger value is kept: conservative).
XMM_EARTH_LIMB_DEG = 42.5
#: Moon avoidance, deg: UHB celest.html "Nominal minimum avoidance angle: 22." and "Minimum avoidance
#: angle during eclipses: 35." (also orbit-details). "Eclipse" is read here as the spacecraft being in
#: the Earth's shadow (cylindrical model, :func:`geometry.in_earth_shadow`).
XMM_MOON_DEG = 22.0
XMM_MOON_ECLIPSE_DEG = 35.0
#: Science only above this altitude, km: UHB "Radiation belts"
#: (https://xmm-tools.cosmos.esa.int/external/xmm_user_support/documentation/uhb/radbelts.html):
#: "the minimum satellite elevation is 46000 km" (orbit-details: "ranges between 40000 - 46000").
XMM_MIN_ALTITUDE_KM = 46000.0

# --- NuSTAR -----------------------------------------------------------------------------------------
#: Earth occultation: the target must be above the geometric Earth limb seen from NuSTAR's ~600 km orbit.
#: NuSTAR SOC schedule page (http://www.srl.caltech.edu/NuSTAR_Public/NuSTAROperationSite/Schedule.php):
#: "The estimated exposure time takes into account Earth occultation and the SAA passage time".
#: The limb margin (0 deg: solid Earth, no atmosphere) is UNVERIFIED.
NUSTAR_EARTH_LIMB_DEG = 0.0

# --- ESO sites --------------------------------------------------------------------------------------
#: Paranal height above sea level, m: https://www.eso.org/sci/facilities/paranal/astroclimate/site.html
#: "Altitude above sea level 2635.43 m"; latitude/longitude are the project's (models.radio, sources.md).
PARANAL_HEIGHT_M = 2635.43
#: VLT pointing limits, deg altitude: https://www.eso.org/sci/facilities/paranal/sciops/At_Telescope.html
#: "The telescope will not point closer than 3 degrees from zenith crossing and to zenith distances
#: larger than 70 degrees" -> altitude 20..87 deg.
VLT_ALTITUDE_DEG = (20.0, 87.0)
#: Astronomical night: Sun 18 deg below the horizon (ESO twilight constraints count from "the end of the
#: evening astronomical twilight", e.g. the GRAVITY constraint-set page).
NIGHT_SUN_ALT_DEG = -18.0
#: Moon distance, deg. ESO's is a per-OB constraint ("the allowable smallest moon-to-object angular
#: separation", Phase 2 constraint-set pages); 30 deg is an UNVERIFIED default, settable by the caller.
VLT_MOON_DEG = 30.0
#: APEX site (Chajnantor): -23:00:20.8, -67:45:33.0, 5105 m -- from public observing code (see
#: ../shared/visibility.md section 4); UNVERIFIED on an ESO page. Height: ESO "5100m high Chajnantor plateau".
APEX_LAT_DEG = -(23.0 + 0.0 / 60 + 20.8 / 3600)
APEX_LON_DEG = -(67.0 + 45.0 / 60 + 33.0 / 3600)
APEX_HEIGHT_M = 5105.0
#: APEX minimum altitude, deg: UNVERIFIED default (no published number found), settable by the caller.
APEX_MIN_ALTITUDE_DEG = 20.0
#: APEX observes day and night (ESO blog "Astronomer on tour", 2019: "Unlike optical telescopes that only
#: operate at night, submillimetre telescopes can also observe when the Sun is up"; Klein et al., SPIE:
#: "observing 24/7"), with a Sun Avoidance System whose angle is not published: 30 deg is an UNVERIFIED default.
APEX_SUN_DEG = 30.0

# --- INTEGRAL ---------------------------------------------------------------------------------------
#: End of INTEGRAL science observations (https://www.theregister.com/2025/02/28/esa_integral_end/ "on
#: February 28, the end will come, and observations will cease"; no ESA page found).
INTEGRAL_END = "2025-02-28"

FACILITIES = ("XMM-Newton", "NuSTAR", "VLT", "VLTI", "APEX", "INTEGRAL")
_ALIASES = {f.lower(): f for f in FACILITIES} | {"xmm": "XMM-Newton", "paranal": "VLT", "eso": "VLT"}


class VisibilityError(ValueError):
    """A request the models cannot answer (unknown facility, bad time range, stale TLE)."""


def facility_name(name: str) -> str:
    """The canonical facility name of ``name`` (case-insensitive; ``xmm``, ``paranal`` accepted)."""
    try:
        return _ALIASES[name.strip().lower()]
    except KeyError:
        raise VisibilityError(f"unknown facility {name!r}: known {', '.join(FACILITIES)}") from None


@dataclass(frozen=True)
class Model:
    """What a facility's answer depends on, echoed as INFOs in every result."""

    facility: str
    constraints: dict[str, str]
    tle: TLE | None = None
    notes: list[str] = field(default_factory=list)


def describe(facility: str, tle: TLE | None = None) -> Model:
    """The constraints ``facility`` is evaluated with (text for INFOs and the README table)."""
    name = facility_name(facility)
    if name == "XMM-Newton":
        return Model(
            name,
            {
                "solar_aspect_deg": f"{XMM_SOLAR_ASPECT_DEG[0]:g}..{XMM_SOLAR_ASPECT_DEG[1]:g}",
                "earth_limb_min_deg": f"{XMM_EARTH_LIMB_DEG:g}",
                "moon_min_deg": f"{XMM_MOON_DEG:g} ({XMM_MOON_ECLIPSE_DEG:g} in Earth shadow)",
                "altitude_min_km": f"{XMM_MIN_ALTITUDE_KM:g}",
            },
            tle,
            ["no roll/position-angle constraint, no planet avoidance (ESA checks Earth, Sun, Moon only)"],
        )
    if name == "NuSTAR":
        return Model(
            name,
            {"earth_limb_min_deg": f"{NUSTAR_EARTH_LIMB_DEG:g} (UNVERIFIED margin)"},
            tle,
            ["no SAA, no Sun or Moon constraint: their values are UNVERIFIED (NuSTAR Observatory Guide not read)"],
        )
    if name in ("VLT", "VLTI"):
        return Model(
            name,
            {
                "altitude_deg": f"{VLT_ALTITUDE_DEG[0]:g}..{VLT_ALTITUDE_DEG[1]:g}",
                "sun_altitude_max_deg": f"{NIGHT_SUN_ALT_DEG:g}",
                "moon_min_deg": f"{VLT_MOON_DEG:g} (UNVERIFIED default)",
            },
            None,
            ["VLTI: delay-line and shadowing limits per baseline not modelled (ESO VisCalc)"] if name == "VLTI" else [],
        )
    if name == "APEX":
        return Model(
            name,
            {
                "altitude_min_deg": f"{APEX_MIN_ALTITUDE_DEG:g} (UNVERIFIED default)",
                "sun_min_deg": f"{APEX_SUN_DEG:g} (UNVERIFIED default)",
            },
            None,
            ["observes day and night: no twilight constraint"],
        )
    return Model(name, {}, None, [f"INTEGRAL science operations ended on {INTEGRAL_END}: no visibility"])


def observer(facility: str):  # noqa: ANN201  (astroplan.Observer; imported lazily: astroplan is optional elsewhere)
    """The astroplan ``Observer`` of a ground facility (Paranal for VLT/VLTI, Chajnantor for APEX)."""
    from astroplan import Observer

    name = facility_name(facility)
    if name in ("VLT", "VLTI"):
        loc = EarthLocation(lat=PARANAL_LAT_DEG * u.deg, lon=PARANAL_LON_DEG * u.deg, height=PARANAL_HEIGHT_M * u.m)
        return Observer(location=loc, name="Paranal")
    if name == "APEX":
        loc = EarthLocation(lat=APEX_LAT_DEG * u.deg, lon=APEX_LON_DEG * u.deg, height=APEX_HEIGHT_M * u.m)
        return Observer(location=loc, name="Chajnantor")
    raise VisibilityError(f"{name} is not a ground facility")


def ground_constraints(facility: str, moon_min_deg: float | None = None) -> list:
    """The astroplan constraints of a ground facility (defaults above; ``moon_min_deg`` overrides VLT's)."""
    from astroplan import AltitudeConstraint, AtNightConstraint, MoonSeparationConstraint, SunSeparationConstraint

    name = facility_name(facility)
    if name in ("VLT", "VLTI"):
        moon = VLT_MOON_DEG if moon_min_deg is None else moon_min_deg
        return [
            AltitudeConstraint(VLT_ALTITUDE_DEG[0] * u.deg, VLT_ALTITUDE_DEG[1] * u.deg),
            AtNightConstraint(max_solar_altitude=NIGHT_SUN_ALT_DEG * u.deg),
            MoonSeparationConstraint(min=moon * u.deg),
        ]
    if name == "APEX":
        return [AltitudeConstraint(APEX_MIN_ALTITUDE_DEG * u.deg), SunSeparationConstraint(min=APEX_SUN_DEG * u.deg)]
    raise VisibilityError(f"{name} is not a ground facility")


def space_mask(
    facility: str, ra_deg: npt.ArrayLike, dec_deg: npt.ArrayLike, mjd: npt.ArrayLike, tle: TLE
) -> np.ndarray:
    """Visibility of ``m`` positions at ``n`` times from a spacecraft, shape (m, n).

    Parameters
    ----------
    facility : str
        ``XMM-Newton`` or ``NuSTAR``.
    ra_deg, dec_deg : array_like
        ICRS positions, degrees.
    mjd : array_like
        UTC MJD samples.
    tle : TLE
        The element set; refused beyond :data:`models.orbits.MAX_DAYS` days from its epoch.

    Returns
    -------
    numpy.ndarray
        Boolean mask, True where every constraint holds.
    """
    name = facility_name(facility)
    times = np.atleast_1d(np.asarray(mjd, dtype="float64"))
    targets = geo.unit_vectors(ra_deg, dec_deg)
    sc = orbits.propagate_gcrs(tle, times, max_days=orbits.MAX_DAYS[name])
    limb = geo.earth_limb_deg(targets, sc)
    if name == "NuSTAR":
        return limb > NUSTAR_EARTH_LIMB_DEG
    if name != "XMM-Newton":
        raise VisibilityError(f"{name} is not a modelled spacecraft")
    sun = geo.body_gcrs_km("sun", times)
    moon = geo.body_gcrs_km("moon", times)
    solar = geo.angle_deg(targets, sun - sc)
    moon_sep = geo.angle_deg(targets, moon - sc)
    moon_min = np.where(geo.in_earth_shadow(sc, sun), XMM_MOON_ECLIPSE_DEG, XMM_MOON_DEG)
    altitude = np.linalg.norm(sc, axis=-1) - geo.EARTH_RADIUS_KM
    return (
        (solar >= XMM_SOLAR_ASPECT_DEG[0])
        & (solar <= XMM_SOLAR_ASPECT_DEG[1])
        & (limb >= XMM_EARTH_LIMB_DEG)
        & (moon_sep >= moon_min[None, :])
        & (altitude >= XMM_MIN_ALTITUDE_KM)[None, :]
    )


def ground_mask(
    facility: str,
    ra_deg: npt.ArrayLike,
    dec_deg: npt.ArrayLike,
    mjd: npt.ArrayLike,
    moon_min_deg: float | None = None,
) -> np.ndarray:
    """Visibility of ``m`` positions at ``n`` times from Paranal or Chajnantor (astroplan), shape (m, n).

    Parameters
    ----------
    facility : str
        ``VLT``, ``VLTI`` or ``APEX``.
    ra_deg, dec_deg : array_like
        ICRS positions, degrees.
    mjd : array_like
        UTC MJD samples.
    moon_min_deg : float, optional
        Minimum Moon distance for VLT/VLTI (default :data:`VLT_MOON_DEG`).

    Returns
    -------
    numpy.ndarray
        Boolean mask, True where every astroplan constraint holds.
    """
    from astroplan import FixedTarget

    times = Time(np.atleast_1d(np.asarray(mjd, dtype="float64")), format="mjd", scale="utc")
    coords = SkyCoord(np.atleast_1d(ra_deg) * u.deg, np.atleast_1d(dec_deg) * u.deg, frame="icrs")
    targets = [FixedTarget(c) for c in coords]
    obs = observer(facility)
    result = np.ones((len(targets), len(times)), dtype=bool)
    with warnings.catch_warnings():
        # astroplan's Moon/Sun separation goes ICRS -> GCRS(obsgeoloc): astropy warns that such a separation
        # "can depend on the direction of the transformation" (topocentric parallax); harmless at these angles.
        warnings.simplefilter("ignore", NonRotationTransformationWarning)
        for constraint in ground_constraints(facility, moon_min_deg):  # a handful of constraints, each vectorised
            value = constraint(obs, targets, times=times, grid_times_targets=True)
            result &= np.asarray(value, dtype=bool).reshape(result.shape)
    return result


def solar_aspect_deg(ra_deg: npt.ArrayLike, dec_deg: npt.ArrayLike, mjd: npt.ArrayLike) -> np.ndarray:
    """Geocentric Sun-target angle (deg), shape (m, n): XMM's solar-aspect angle without the orbit.

    The spacecraft-centred angle differs by the Sun's parallax, < 0.04 deg at XMM's 10^5 km apogee;
    this is what a year-long question (which months can XMM see a position?) needs: no TLE is valid for a year.
    """
    times = np.atleast_1d(np.asarray(mjd, dtype="float64"))
    return geo.angle_deg(geo.unit_vectors(ra_deg, dec_deg), geo.body_gcrs_km("sun", times))


def ground_mask_grid(facility: str, ra_deg: npt.ArrayLike, dec_deg: npt.ArrayLike, mjd: npt.ArrayLike) -> np.ndarray:
    """The :func:`ground_mask` constraints for many positions at once (sky grids for the visibility MOC), (m, n).

    astroplan builds one ``SkyCoord`` per position and time (about 40 s for 12 288 cells x 320 times); here
    the positions are rotated once to the true equator and equinox of the middle time (astropy ``TETE``:
    precession and nutation change by < 0.01 deg within a month) and the altitude follows from the hour
    angle, ``sin h = sin(phi) sin(dec) + cos(phi) cos(dec) cos(LAST - ra)``, with the apparent sidereal
    time from astropy. Sun altitude and the Moon direction come from astropy per time (the Moon
    geocentric: its topocentric parallax, < 1 deg, is below the MOC's 1.8 deg cells). No refraction,
    as astroplan's default (``pressure=0``).
    """
    from astropy.coordinates import TETE, AltAz, get_sun

    name = facility_name(facility)
    times = np.atleast_1d(np.asarray(mjd, dtype="float64"))
    obs = observer(name)
    loc = obs.location
    t = Time(times, format="mjd", scale="utc")
    middle = Time(np.median(times), format="mjd", scale="utc")
    coords = SkyCoord(np.atleast_1d(ra_deg) * u.deg, np.atleast_1d(dec_deg) * u.deg, frame="icrs")
    true = coords.transform_to(TETE(obstime=middle, location=loc))
    ra, dec = true.ra.rad[:, None], true.dec.rad[:, None]
    lat = loc.lat.rad
    last = t.sidereal_time("apparent", longitude=loc.lon).rad[None, :]
    alt = np.rad2deg(np.arcsin(np.sin(lat) * np.sin(dec) + np.cos(lat) * np.cos(dec) * np.cos(last - ra)))
    frame = AltAz(obstime=t, location=loc)
    sun = get_sun(t)
    targets = geo.unit_vectors(coords.ra.deg, coords.dec.deg)
    if name in ("VLT", "VLTI"):
        sun_alt = sun.transform_to(frame).alt.deg
        moon = geo.body_gcrs_km("moon", times)
        return (
            (alt >= VLT_ALTITUDE_DEG[0])
            & (alt <= VLT_ALTITUDE_DEG[1])
            & (sun_alt <= NIGHT_SUN_ALT_DEG)[None, :]
            & (geo.angle_deg(targets, moon) >= VLT_MOON_DEG)
        )
    if name == "APEX":
        sun_sep = geo.angle_deg(targets, geo.body_gcrs_km("sun", times))
        return (alt >= APEX_MIN_ALTITUDE_DEG) & (sun_sep >= APEX_SUN_DEG)
    raise VisibilityError(f"{name} is not a ground facility")
