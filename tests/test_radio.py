"""VLTI/APEX facts and the obscore + obscore_radio rows built from them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from astropy import units as u
from astropy.coordinates import EarthLocation
from astropy.time import Time

from models.radio import (
    AT_DIAMETER_M,
    PARANAL_LAT_DEG,
    PARANAL_LON_DEG,
    UT_DIAMETER_M,
    array_geometry,
    gmst_deg,
    hour_angle_deg,
    radio_tables,
    station_diameter,
    vlti_stations,
)
from models.tables import OBSCORE, OBSCORE_RADIO
from models.validate import validate

ARCSEC = 180 / np.pi * 3600


def test_station_table_is_the_published_one():
    st = vlti_stations()
    assert len(st) == 34
    assert st.loc["U4", "E_m"] == pytest.approx(103.306)
    assert st.loc["U4", "N_m"] == pytest.approx(43.999)
    assert st.loc["A0", "P_m"] == pytest.approx(-32.001)


def test_ut_baselines_match_the_known_lengths():
    g = array_geometry(["U1", "U3", "U4"])
    # UT1-UT4 130.2 m, UT3-UT4 62.5 m (ESO's VLTI configuration table)
    assert g.max_dist == pytest.approx(130.23, abs=0.01)
    assert g.min_dist == pytest.approx(62.46, abs=0.01)
    assert g.n_tel == 3
    assert g.diameter == UT_DIAMETER_M
    assert g.baselines_en.shape == (3, 2)


def test_at_configuration_uses_at_diameter_and_rejects_unknown_stations():
    assert array_geometry(["A0", "G1", "J2", "K0"]).diameter == AT_DIAMETER_M
    np.testing.assert_array_equal(station_diameter(["U2", "D0"]), [UT_DIAMETER_M, AT_DIAMETER_M])
    with pytest.raises(KeyError, match="Z9"):
        array_geometry(["U1", "Z9"])
    with pytest.raises(ValueError, match="two stations"):
        array_geometry(["U1"])


@pytest.mark.parametrize("iso", ["2006-03-14T07:48:00", "2013-08-27T01:05:24", "2019-06-01T23:59:00"])
def test_sidereal_time_agrees_with_astropy(iso):
    t = Time(iso, scale="utc")
    lst = t.sidereal_time("mean", longitude=PARANAL_LON_DEG * u.deg, model="IAU1982").deg
    ours = (gmst_deg(t.mjd) + PARANAL_LON_DEG) % 360.0
    diff = (ours - lst + 180.0) % 360.0 - 180.0
    assert abs(diff) < 0.005  # UT1 taken as UTC: < 0.9 s of time


def test_paranal_site_constants():
    loc = EarthLocation.from_geodetic(PARANAL_LON_DEG * u.deg, PARANAL_LAT_DEG * u.deg)
    assert loc.lat.deg == pytest.approx(-24.6279)
    assert loc.lon.deg == pytest.approx(-70.4048)


def _obs(**over) -> pd.DataFrame:
    row = {
        "obs_id": "200156177-20060313",
        "obs_collection": "ESO-VLTI",
        "instrument_name": "AMBER",
        "target_name": "GC_IRS7",
        "s_ra": 266.417056,
        "s_dec": -29.006140,
        "t_min": 53808.319488,
        "t_max": 53808.330466,
        "t_exptime": 10.0,
        "proposal_id": "076.B-0863(A)",
        "access_url": "https://archive.eso.org/wdb/wdb/eso/eso_archive_main/query?ob_id=200156177",
        "access_format": "text/html",
        "calib_level": 1,
        "dataproduct_type": "visibility",
        "stations": "U1 U3 U4",
    }
    row.update(over)
    return pd.DataFrame([row])


def test_zenith_transit_snapshot_projects_the_ground_baselines():
    # at HA = 0 for a source at the zenith, (u, v) = (E, N): the projected baselines are the ground ones
    t = 53808.3
    ra = float((gmst_deg(t) + PARANAL_LON_DEG) % 360.0)
    assert hour_angle_deg(t, ra, PARANAL_LON_DEG) == pytest.approx(0.0, abs=1e-9)
    core, radio = radio_tables(_obs(s_ra=ra, s_dec=PARANAL_LAT_DEG, t_min=t, t_max=t))
    r = radio.iloc[0]
    assert r["uv_distance_max"] == pytest.approx(130.23, abs=0.01)
    assert r["uv_distance_min"] == pytest.approx(62.46, abs=0.01)
    lam_mid = (1.1e-6 + 2.4e-6) / 2
    assert core.loc[0, "s_resolution"] == pytest.approx(lam_mid / r["uv_distance_max"] * ARCSEC)
    assert r["s_resolution_min"] == pytest.approx(1.1e-6 / r["uv_distance_max"] * ARCSEC)
    assert r["s_resolution_max"] == pytest.approx(2.4e-6 / r["uv_distance_max"] * ARCSEC)
    assert r["s_largest_angular_scale"] == pytest.approx(lam_mid / r["uv_distance_min"] * ARCSEC)
    assert r["s_largest_angular_scale_min"] == pytest.approx(1.1e-6 / r["uv_distance_min"] * ARCSEC)
    assert r["s_largest_angular_scale_max"] == pytest.approx(2.4e-6 / r["uv_distance_min"] * ARCSEC)
    assert r["instr_tel_number"] == 3
    assert r["instr_tel_diameter"] == UT_DIAMETER_M
    assert core.loc[0, "s_fov"] == pytest.approx(np.rad2deg(lam_mid / UT_DIAMETER_M))
    assert r["s_fov_min"] == pytest.approx(np.rad2deg(1.1e-6 / UT_DIAMETER_M))
    assert np.isnan(r["f_resolution"])


def test_real_amber_observation_rows_are_valid_and_bounded():
    core, radio = radio_tables(_obs())
    assert validate(core, OBSCORE) == []
    assert validate(radio, OBSCORE_RADIO) == []
    r = radio.iloc[0]
    assert 0 < r["uv_distance_min"] <= r["uv_distance_max"] <= 130.23 + 1e-9
    assert 0 < r["uv_distribution_fill"] < 1
    assert 0 <= r["uv_distribution_ecc"] <= 1
    assert core.loc[0, "obs_publisher_did"] == radio.loc[0, "obs_publisher_did"]
    assert core.loc[0, "obs_publisher_did"].endswith("/ESO-VLTI?200156177-20060313")
    assert core.loc[0, "facility_name"] == "ESO-VLTI"
    assert core.loc[0, "s_region"].startswith("Circle ICRS 266.417056 -29.006140 ")


def test_longer_track_spreads_the_uv_coverage():
    short = radio_tables(_obs())[1].iloc[0]
    long = radio_tables(_obs(t_max=53808.319488 + 4 / 24))[1].iloc[0]
    assert long["uv_distribution_fill"] > short["uv_distribution_fill"]


def test_missing_stations_leave_uv_null_but_keep_the_row():
    core, radio = radio_tables(_obs(stations=None))
    assert radio["uv_distance_max"].isna().all()
    assert radio["instr_tel_number"].isna().all()
    assert validate(radio, OBSCORE_RADIO) == []
    assert core.loc[0, "em_min"] == pytest.approx(1.1e-6)


def test_apex_single_dish_uses_lambda_over_d():
    core, radio = radio_tables(
        _obs(
            obs_id="E-095.F-9802A.2015JUL15.TAR",
            obs_collection="APEX",
            instrument_name="APEXHET",
            stations=None,
            dataproduct_type=None,
            s_ra=np.nan,
            s_dec=np.nan,
        )
    )
    r = radio.iloc[0]
    lam_min, lam_max = 299_792_458.0 / 950e9, 299_792_458.0 / 159e9
    assert r["s_resolution_min"] == pytest.approx(lam_min / 12.0 * ARCSEC)
    assert r["s_fov_max"] == pytest.approx(np.rad2deg(lam_max / 12.0))
    assert r["instr_tel_diameter"] == 12.0
    assert np.isnan(r["uv_distance_max"]) and np.isnan(r["s_largest_angular_scale"])
    assert core.loc[0, "facility_name"] == "APEX"
    assert pd.isna(core.loc[0, "s_region"])
    assert validate(core, OBSCORE) == [] and validate(radio, OBSCORE_RADIO) == []


def test_radio_and_obscore_share_only_the_join_key():
    core, radio = radio_tables(_obs())
    assert set(core.columns) & set(radio.columns) == {"obs_publisher_did"}
    assert set(OBSCORE.names) & set(OBSCORE_RADIO.names) == {"obs_publisher_did"}


def test_unknown_instrument_is_refused():
    with pytest.raises(KeyError, match="SINFONI"):
        radio_tables(_obs(instrument_name="SINFONI"))


def test_batch_of_configurations_matches_single_rows():
    a = _obs()
    b = _obs(obs_id="x2", stations="A0 G1 J2 K0", s_dec=-60.0)
    both = radio_tables(pd.concat([a, b, a.assign(obs_id="x3")], ignore_index=True))[1]
    single_b = radio_tables(b)[1].iloc[0]
    assert both.loc[1, "uv_distance_max"] == pytest.approx(single_b["uv_distance_max"])
    assert both.loc[1, "instr_tel_number"] == 4
    assert both.loc[0, "uv_distribution_fill"] == pytest.approx(both.loc[2, "uv_distribution_fill"])
