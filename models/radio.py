"""ESO interferometric (VLTI) and radio (APEX) facts, and the ObsCore + radio-extension rows built from them.

The uv coverage is computed, not guessed: baselines come from the published VLTI station
coordinates (``models/data/vlti_stations.csv``, ESO's VLTI station table as reproduced in the
VisCalc documentation page "vltistations"; see ``models/data/PROVENANCE.md``), uv tracks from the
target declination, the Paranal latitude and the hour-angle range of the exposures
(:mod:`models.uv`), at the instrument's band edges and mid wavelength.
"""

from __future__ import annotations

import functools
import pathlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from models.identifiers import publisher_did
from models.regions import circle_stcs
from models.tables.obscore import OBSCORE
from models.tables.obscore_radio import OBSCORE_RADIO
from models.uv import baseline_lengths, baselines_enu, uv_stats, uv_tracks, with_conjugates

#: Paranal (VLTI) geodetic latitude and longitude, degrees (sources.md).
PARANAL_LAT_DEG = -24.6279
PARANAL_LON_DEG = -70.4048
#: Unit Telescope and Auxiliary Telescope primary-mirror diameters, metres (sources.md).
UT_DIAMETER_M = 8.2
AT_DIAMETER_M = 1.8
#: APEX dish diameter, metres (sources.md: "APEX (12 m single dish, sub-mm)").
APEX_DIAMETER_M = 12.0

#: Hour-angle samples per observation: enough that a track steps less than one fill-grid cell.
HA_SAMPLES = 128
#: Sidereal degrees per solar (UTC) day.
SIDEREAL_DEG_PER_DAY = 360.98564736629
_RAD_TO_ARCSEC = 180.0 / np.pi * 3600.0

_STATIONS_CSV = pathlib.Path(__file__).parent / "data" / "vlti_stations.csv"


@dataclass(frozen=True)
class InstrumentFacts:
    """What the radio rows need to know of an instrument.

    ``em_min``/``em_max`` are vacuum wavelengths in metres; ``kind`` selects interferometric or
    single-dish formulas; ``source`` says where the band comes from.
    """

    name: str
    facility: str
    kind: Literal["interferometer", "single-dish"]
    em_min: float
    em_max: float
    source: str
    diameter_m: float | None = None
    f_resolution_khz: float | None = None


_BAND_SOURCE = "ESO instrument pages, as summarised in the voharvest brief for the radio issue"

#: Instruments that make obscore + obscore_radio rows, by the name ESO's archive gives them.
INSTRUMENTS: dict[str, InstrumentFacts] = {
    f.name: f
    for f in (
        InstrumentFacts("AMBER", "ESO-VLTI", "interferometer", 1.1e-6, 2.4e-6, f"J, H, K; {_BAND_SOURCE}"),
        InstrumentFacts("GRAVITY", "ESO-VLTI", "interferometer", 1.95e-6, 2.45e-6, f"K; {_BAND_SOURCE}"),
        InstrumentFacts("MATISSE", "ESO-VLTI", "interferometer", 2.8e-6, 13e-6, f"L, M, N; {_BAND_SOURCE}"),
        InstrumentFacts("PIONIER", "ESO-VLTI", "interferometer", 1.5e-6, 1.8e-6, f"H; {_BAND_SOURCE}"),
        # APEX facility heterodyne receivers (SEPIA, nFLASH, CHAMP+) together span about
        # 159-950 GHz; the archive's instrument name APEXHET does not say which one was used.
        InstrumentFacts(
            "APEXHET",
            "APEX",
            "single-dish",
            299_792_458.0 / 950e9,
            299_792_458.0 / 159e9,
            "APEX heterodyne receivers 159-950 GHz (APEX instrument pages; receiver not given by the archive)",
            diameter_m=APEX_DIAMETER_M,
        ),
    )
}


@functools.cache
def vlti_stations() -> pd.DataFrame:
    """The VLTI station table (station, P, Q, E, N in metres), indexed by station name."""
    table = pd.read_csv(_STATIONS_CSV, dtype={"station": str})
    return table.set_index("station")


def station_diameter(stations: Sequence[str]) -> np.ndarray:
    """Telescope diameter per station: UTs sit on U1..U4, ATs on every other station."""
    names = np.asarray(stations, dtype=str)
    return np.where(np.char.startswith(names, "U"), UT_DIAMETER_M, AT_DIAMETER_M)


@dataclass(frozen=True)
class ArrayGeometry:
    """Instrumental columns of one VLTI configuration, from the station table."""

    stations: tuple[str, ...]
    baselines_en: np.ndarray
    min_dist: float
    max_dist: float
    diameter: float

    @property
    def n_tel(self) -> int:
        """Number of telescopes combined."""
        return len(self.stations)


def array_geometry(stations: Sequence[str]) -> ArrayGeometry:
    """Baselines, separations and largest diameter of the named stations (KeyError if unknown)."""
    table = vlti_stations()
    names = tuple(str(s).strip() for s in stations)
    unknown = [s for s in names if s not in table.index]
    if unknown:
        raise KeyError(f"unknown VLTI station(s) {unknown}; known: {list(table.index)}")
    if len(names) < 2:
        raise ValueError(f"an interferometric configuration needs two stations at least, got {names}")
    en = table.loc[list(names), ["E_m", "N_m"]].to_numpy(dtype="float64")
    lengths = baseline_lengths(en)
    return ArrayGeometry(
        names, baselines_enu(en), float(lengths.min()), float(lengths.max()), float(station_diameter(names).max())
    )


def gmst_deg(mjd_utc: np.ndarray | float) -> np.ndarray:
    """Greenwich mean sidereal time in degrees (IAU 1982 expression, Meeus eq. 12.4).

    UT1 is taken as UTC (|UT1 - UTC| < 0.9 s, i.e. < 0.004 deg of hour angle): no IERS table is
    needed, so the harvest runs offline for any date.
    """
    d = np.asarray(mjd_utc, dtype="float64") - 51544.5
    t = d / 36525.0
    return np.mod(280.46061837 + SIDEREAL_DEG_PER_DAY * d + 0.000387933 * t**2 - t**3 / 38_710_000.0, 360.0)


def hour_angle_deg(mjd_utc: np.ndarray | float, ra_deg: np.ndarray | float, lon_deg: float) -> np.ndarray:
    """Local hour angle in (-180, 180] degrees: local mean sidereal time minus right ascension."""
    ha = np.mod(gmst_deg(mjd_utc) + lon_deg - np.asarray(ra_deg, dtype="float64"), 360.0)
    return np.where(ha > 180.0, ha - 360.0, ha)


#: Columns :func:`radio_tables` reads from its input frame.
INPUT_COLUMNS = (
    "obs_id",
    "obs_collection",
    "instrument_name",
    "target_name",
    "s_ra",
    "s_dec",
    "t_min",
    "t_max",
    "t_exptime",
    "proposal_id",
    "access_url",
    "access_format",
    "calib_level",
    "dataproduct_type",
    "stations",
)


def _facts_column(instruments: pd.Series, attr: str) -> np.ndarray:
    return instruments.map({k: getattr(v, attr) for k, v in INSTRUMENTS.items()}).to_numpy()


def _uv_columns(obs: pd.DataFrame) -> pd.DataFrame:
    """The uv and instrumental columns of interferometric rows, one vectorised pass per configuration."""
    out = pd.DataFrame(
        np.nan,
        index=obs.index,
        columns=["uv_distance_min", "uv_distance_max", "uv_distribution_ecc", "uv_distribution_fill"]
        + ["instr_tel_min_dist", "instr_tel_max_dist", "instr_tel_diameter", "instr_tel_number"],
    )
    keys = obs["stations"].astype("string").str.strip()
    configs = keys[keys.str.contains(" ", regex=False).fillna(False)]
    for config, rows in configs.groupby(configs).groups.items():  # loop over configurations, not rows
        geom = array_geometry(str(config).split())
        part = obs.loc[rows]
        ha0 = np.deg2rad(hour_angle_deg(part["t_min"].to_numpy(), part["s_ra"].to_numpy(), PARANAL_LON_DEG))
        span = np.deg2rad((part["t_max"].to_numpy() - part["t_min"].to_numpy()) * SIDEREAL_DEG_PER_DAY)
        ha = ha0[:, None] + span[:, None] * np.linspace(0.0, 1.0, HA_SAMPLES)[None, :]
        tr = uv_tracks(geom.baselines_en, part["s_dec"].to_numpy(), PARANAL_LAT_DEG, ha)
        n = len(part)
        st = uv_stats(*with_conjugates(tr.u_m.reshape(n, -1), tr.v_m.reshape(n, -1)))
        out.loc[rows, "uv_distance_min"] = st.uv_distance_min
        out.loc[rows, "uv_distance_max"] = st.uv_distance_max
        out.loc[rows, "uv_distribution_ecc"] = st.uv_distribution_ecc
        out.loc[rows, "uv_distribution_fill"] = st.uv_distribution_fill
        out.loc[rows, "instr_tel_min_dist"] = geom.min_dist
        out.loc[rows, "instr_tel_max_dist"] = geom.max_dist
        out.loc[rows, "instr_tel_diameter"] = geom.diameter
        out.loc[rows, "instr_tel_number"] = geom.n_tel
    return out


def radio_tables(obs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(obscore, obscore_radio)`` rows for VLTI and APEX observations.

    ``obs`` has the columns :data:`INPUT_COLUMNS` (``stations``: the VLTI station names separated
    by spaces, ``"U1 U3 U4"``, or None when the records do not give them: the uv columns are then
    NULL). Interferometric rows: uv statistics from the hour-angle range ``t_min..t_max`` (both
    Hermitian halves), resolution
    ``lambda / uv_distance_max`` and largest scale ``lambda / uv_distance_min`` at the band edges
    and the mid wavelength, field of view ``lambda / D`` of the largest telescope. Single-dish
    rows: resolution and field of view ``lambda / D``. ``f_resolution`` stays NULL unless known.
    """
    missing = [c for c in INPUT_COLUMNS if c not in obs.columns]
    if missing:
        raise KeyError(f"radio_tables input lacks columns {missing}")
    obs = obs.reset_index(drop=True)
    unknown = sorted(set(obs["instrument_name"]) - set(INSTRUMENTS))
    if unknown:
        raise KeyError(f"no radio facts for instrument(s) {unknown}; known: {sorted(INSTRUMENTS)}")
    inst = obs["instrument_name"]
    kind = _facts_column(inst, "kind")
    em_min = _facts_column(inst, "em_min").astype("float64")
    em_max = _facts_column(inst, "em_max").astype("float64")
    em_mid = 0.5 * (em_min + em_max)
    sd = kind == "single-dish"

    uv = _uv_columns(obs.loc[~sd])
    uv = uv.reindex(obs.index)
    diameter = np.where(sd, _facts_column(inst, "diameter_m").astype("float64"), uv["instr_tel_diameter"])
    # Resolution: the longest uv distance for an interferometer, the dish for a single dish.
    scale_res = np.where(sd, diameter, uv["uv_distance_max"].to_numpy())
    with np.errstate(invalid="ignore", divide="ignore"):
        uv_min = uv["uv_distance_min"].to_numpy()
        uv_min = np.where(uv_min > 0, uv_min, np.nan)
        fov_deg = np.rad2deg(em_mid / diameter)
        radio = pd.DataFrame(
            {
                "obs_publisher_did": publisher_did(obs["obs_collection"], obs["obs_id"]),
                "s_resolution_min": em_min / scale_res * _RAD_TO_ARCSEC,
                "s_resolution_max": em_max / scale_res * _RAD_TO_ARCSEC,
                "s_fov_min": np.rad2deg(em_min / diameter),
                "s_fov_max": np.rad2deg(em_max / diameter),
                "f_resolution": _facts_column(inst, "f_resolution_khz").astype("float64"),
                "s_largest_angular_scale": em_mid / uv_min * _RAD_TO_ARCSEC,
                "s_largest_angular_scale_min": em_min / uv_min * _RAD_TO_ARCSEC,
                "s_largest_angular_scale_max": em_max / uv_min * _RAD_TO_ARCSEC,
                "uv_distance_min": uv["uv_distance_min"],
                "uv_distance_max": uv["uv_distance_max"],
                "uv_distribution_ecc": uv["uv_distribution_ecc"],
                "uv_distribution_fill": uv["uv_distribution_fill"],
                "instr_tel_number": pd.array(uv["instr_tel_number"].to_numpy(), dtype="Int32"),
                "instr_tel_min_dist": uv["instr_tel_min_dist"],
                "instr_tel_max_dist": uv["instr_tel_max_dist"],
                "instr_tel_diameter": diameter,
                "instr_feed": pd.array([pd.NA] * len(obs), dtype="Int32"),
                "scan_mode": None,
                "tracking_type": "sidereal",
            }
        )
        s_resolution = em_mid / scale_res * _RAD_TO_ARCSEC
    core = pd.DataFrame({c.name: pd.Series([None] * len(obs), dtype=object) for c in OBSCORE.columns})
    for name in ("obs_id", "obs_collection", "instrument_name", "target_name", "proposal_id"):
        core[name] = obs[name].astype(object).where(obs[name].notna(), None)
    core["obs_publisher_did"] = radio["obs_publisher_did"]
    core["dataproduct_type"] = obs["dataproduct_type"].astype(object)
    core["calib_level"] = pd.array(obs["calib_level"], dtype="Int32")
    core["access_url"] = obs["access_url"].astype(object)
    core["access_format"] = obs["access_format"].astype(object)
    core["facility_name"] = _facts_column(inst, "facility")
    for name in ("s_ra", "s_dec", "t_min", "t_max", "t_exptime"):
        core[name] = obs[name].astype("float64")
    core["s_fov"] = fov_deg
    core["s_region"] = circle_stcs(obs["s_ra"], obs["s_dec"], fov_deg / 2.0)
    core["s_resolution"] = s_resolution
    core["em_min"] = em_min
    core["em_max"] = em_max
    core["o_ucd"] = np.where(sd, None, "stat.fourier")
    for name in ("obs_title", "obs_release_date", "dataproduct_subtype"):
        if name in obs.columns:
            core[name] = obs[name]
    core = core.astype({c.name: "float64" for c in OBSCORE.columns if c.datatype == "double"})
    radio = radio[[c.name for c in OBSCORE_RADIO.columns]]
    return core[[c.name for c in OBSCORE.columns]], radio
