"""Spectral and time helpers against independent values."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from astropy import units as u
from astropy.time import Time

from models.timeutil import (
    TimeParseError,
    datetime_from_mjd,
    mjd_from_datetime,
    mjd_from_doy,
    mjd_from_iso,
    mjd_from_met,
    utc_mjd_to_tcb_jd,
)
from models.units import energy_band_to_em, energy_ev_to_wavelength_m, kev_band_to_em, wavelength_m_to_energy_ev


def test_nustar_band_in_metres_matches_astropy_spectral_equivalency() -> None:
    em_min, em_max = kev_band_to_em(3.0, 79.0)
    assert em_min == pytest.approx((79 * u.keV).to(u.m, equivalencies=u.spectral()).value, rel=1e-8)
    assert em_max == pytest.approx((3 * u.keV).to(u.m, equivalencies=u.spectral()).value, rel=1e-8)
    assert em_min < em_max
    assert 1.4e-11 < em_min < 1.7e-11 and 3.9e-10 < em_max < 4.5e-10


def test_energy_wavelength_round_trip_and_tev() -> None:
    e = np.array([1e3, 1e12, 1e14])
    assert np.allclose(wavelength_m_to_energy_ev(energy_ev_to_wavelength_m(e)), e)
    em_min, em_max = energy_band_to_em(np.array([1e12]), np.array([1e14]))
    assert em_min[0] < 1e-16 and em_min[0] < em_max[0]


def test_mjd_from_doy_matches_astropy() -> None:
    got = mjd_from_doy(["2017:281:19:05:02", "2025:254:05:30:11"])
    want = Time(["2017:281:19:05:02", "2025:254:05:30:11"], format="yday", scale="utc").mjd
    assert np.allclose(got, want, atol=1e-9)
    assert got.dtype == np.float64


def test_mjd_from_doy_names_the_bad_row() -> None:
    with pytest.raises(TimeParseError) as info:
        mjd_from_doy(["2017:281:19:05:02", "2017:999:00:00:00", "soon"])
    assert info.value.rows == [1, 2]


def test_mjd_from_iso_and_datetime() -> None:
    got = mjd_from_iso(["2025-09-04 08:40:22"])
    assert got[0] == pytest.approx(Time("2025-09-04T08:40:22", scale="utc").mjd, abs=1e-9)
    when = dt.datetime(2025, 9, 4, tzinfo=dt.UTC)
    assert mjd_from_datetime(when) == 60922.0
    assert datetime_from_mjd(60922.5) == dt.datetime(2025, 9, 4, 12, tzinfo=dt.UTC)
    with pytest.raises(ValueError, match="naive"):
        mjd_from_datetime(dt.datetime(2025, 9, 4))  # noqa: DTZ001 - the point of the test


def test_mjd_from_met_tt_to_utc() -> None:
    # 1 day after MJDREF=51910 (TT) expressed in UTC: TT-UTC = 64.184 s in 2001
    got = mjd_from_met([86_400.0, np.nan], 51910.0, "TT", 7.428703703703703e-4)
    want = (Time(51910.0, 7.428703703703703e-4, format="mjd", scale="tt") + 1 * u.day).utc.mjd
    assert got[0] == pytest.approx(want, abs=1e-10)
    assert np.isnan(got[1])


def test_tcb_is_ahead_of_utc() -> None:
    jd = utc_mjd_to_tcb_jd([60922.0])
    # TCB - UTC is about 69.2 s + 37 s leap ... well over a minute in 2025
    assert (jd[0] - (60922.0 + 2400000.5)) * 86400 > 60
