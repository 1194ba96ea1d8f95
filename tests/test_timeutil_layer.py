"""The time layer against astropy, computed independently, at the edges and as properties."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from astropy import units as u
from astropy.time import Time, TimeDelta
from hypothesis import given
from hypothesis import strategies as st

from models.timeutil import (
    PLAUSIBLE_MJD,
    TimeParseError,
    check_mjd,
    datetime_from_mjd,
    mjd_from_doy,
    mjd_from_iso,
    mjd_from_met,
    mjd_to_utc,
    timestamps_to_mjd,
)

#: Instants around the leap seconds at the ends of 2012-06-30, 2015-06-30 and 2016-12-31.
LEAP_EDGES = [
    "2012-06-30 23:59:59",
    "2012-06-30 23:59:60",
    "2012-07-01 00:00:00",
    "2012-06-30 12:00:00",
    "2015-06-30 23:59:60.5",
    "2015-07-01 00:00:00.25",
    "2016-12-31 23:59:60",
    "2016-12-31 00:00:01",
    "2017-01-01 00:00:00",
]


def test_iso_around_leap_seconds_matches_astropy() -> None:
    got = mjd_from_iso(LEAP_EDGES)
    want = Time(LEAP_EDGES, format="iso", scale="utc").mjd
    # 1 microsecond in days: both are UTC quasi-MJD (a leap-second day counts 86 401 s).
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6 / 86_400)
    assert np.all(np.diff(got[:3]) > 0), "23:59:59 < 23:59:60 < 00:00:00 next day"


def test_iso_variants_are_one_instant() -> None:
    variants = [
        "2025-09-04 08:40:22.5",
        "2025-09-04T08:40:22.5",
        "2025-09-04T08:40:22.5Z",
        "2025-09-04T10:40:22.5+02:00",
    ]
    got = mjd_from_iso(variants)
    want = Time("2025-09-04T08:40:22.5", scale="utc").mjd
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6 / 86_400)


def test_doy_with_fraction_and_leap_second_matches_astropy() -> None:
    values = ["2017:281:19:05:02", "2017:281:19:05:02.250", "2016:366:23:59:60", "2012:182:23:59:60.5"]
    got = mjd_from_doy(values)
    want = Time(values, format="yday", scale="utc").mjd
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6 / 86_400)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("9999:001:00:00:00", "outside the plausible range"),
        ("2200:001:00:00:00", "outside the plausible range"),
        ("2017:366:00:00:00", "not a day-of-year time"),  # 2017 has 365 days
        ("2017:281:25:00:00", "not a day-of-year time"),
        ("soon", "not a day-of-year time"),
    ],
)
def test_doy_never_wraps(value: str, message: str) -> None:
    with pytest.raises(TimeParseError, match=message) as info:
        mjd_from_doy(["2017:281:19:05:02", value])
    assert info.value.rows == [1]
    assert info.value.values == [value]


@pytest.mark.parametrize("value", ["2200-01-01", "9999-12-31 23:59:59", "1949-12-31", "2100-01-01 00:00:00"])
def test_iso_outside_plausible_range_is_an_error(value: str) -> None:
    with pytest.raises(TimeParseError, match="outside the plausible range"):
        mjd_from_iso([value])


def test_edges_inside_the_range_and_wider_ranges_on_request() -> None:
    assert mjd_from_iso(["1970-01-01"])[0] == 40587.0  # the Unix epoch, by hand: MJD 40587
    assert mjd_from_iso(["2099-12-31 23:59:59"])[0] == pytest.approx(88068 + 86399 / 86400, abs=1e-10)
    far = mjd_from_iso(["9999-12-31"], valid=(0.0, 3.0e6))
    assert far[0] == pytest.approx(Time("9999-12-31", scale="utc").mjd, abs=1e-9)  # no wrap into the 19th century


def test_missing_cells_are_nan_not_errors() -> None:
    got = mjd_from_iso(["", None, np.nan, " ", "2025-01-01"])
    assert np.isnan(got[:4]).all() and got[4] == 60676.0


@pytest.mark.parametrize("seconds", [np.inf, -np.inf, 1e300, -1e300, 1e12])
def test_met_extremes_are_errors_before_erfa(seconds: float) -> None:
    with pytest.raises(TimeParseError, match="plausible range") as info:
        mjd_from_met([0.0, seconds], 51910.0, "TT")
    assert info.value.rows == [1]


def test_met_after_utc_reference_counts_leap_seconds() -> None:
    # Seconds since 2010-01-01 UTC to instants after the 2012, 2015 and 2016 leap seconds: elapsed
    # SI seconds, so astropy's Time + TimeDelta is the truth; adding seconds as a fraction of a UTC
    # day would be 1, 2 and 3 s late.
    ref = Time("2010-01-01T00:00:00", scale="utc")
    targets = Time(["2012-07-01T00:00:00", "2015-07-01T00:00:00", "2017-01-01T00:00:01"], scale="utc")
    elapsed = (targets - ref).to_value(u.s)  # TimeDelta in SI seconds (TAI)
    got = mjd_from_met(elapsed, ref.mjd, "UTC")
    np.testing.assert_allclose(got, targets.mjd, rtol=0, atol=1e-3 / 86_400)
    naive = ref.mjd + elapsed / 86_400
    lateness_s = (naive - targets.mjd) * 86_400
    np.testing.assert_allclose(lateness_s, [1.0, 2.0, 3.0], atol=1e-3)


def test_met_tt_reference_matches_astropy() -> None:
    sec = np.array([0.0, 1.0e8, 3.0e8, np.nan])
    got = mjd_from_met(sec, 51910, "TT", 7.428703703703703e-4)
    ref = Time(51910, 7.428703703703703e-4, format="mjd", scale="tt")
    want = (ref + TimeDelta(sec[:3], format="sec")).utc.mjd
    np.testing.assert_allclose(got[:3], want, rtol=0, atol=1e-6 / 86_400)
    assert np.isnan(got[3])


def test_met_refuses_unknown_scale() -> None:
    with pytest.raises(ValueError, match="unknown time scale"):
        mjd_from_met([0.0], 51910, "GPS-ish")


def test_mjd_to_utc_from_tt() -> None:
    got = mjd_to_utc([60000.0, np.nan], "tt")
    assert got[0] == pytest.approx(Time(60000.0, format="mjd", scale="tt").utc.mjd, abs=1e-12)
    assert np.isnan(got[1])
    with pytest.raises(TimeParseError):
        mjd_to_utc([np.inf], "tt")


def test_check_mjd_names_every_bad_position() -> None:
    with pytest.raises(TimeParseError) as info:
        check_mjd([60000.0, np.inf, 1.0, np.nan, 1e300])
    assert info.value.rows == [1, 2, 4]


def test_timestamps_past_2262_do_not_overflow() -> None:
    import pandas as pd

    ts = pd.Series(pd.to_datetime(["2300-01-01", "1900-01-01"], utc=True).astype("datetime64[us, UTC]"))
    got = timestamps_to_mjd(ts)
    want = Time(["2300-01-01", "1900-01-01"], scale="utc").mjd
    np.testing.assert_allclose(got, want, atol=1e-9)
    assert datetime_from_mjd(float(want[0])) == dt.datetime(2300, 1, 1, tzinfo=dt.UTC)


# Naive on purpose: the strings a schedule page shows carry no zone (UTC by convention).
@given(st.datetimes(min_value=dt.datetime(1950, 1, 2), max_value=dt.datetime(2099, 12, 30)))  # noqa: DTZ001
def test_property_iso_round_trip_against_astropy(when: dt.datetime) -> None:
    text = when.isoformat(sep=" ")
    got = mjd_from_iso([text])[0]
    assert PLAUSIBLE_MJD[0] <= got < PLAUSIBLE_MJD[1]
    # 0.1 ms: before 1972 astropy models UTC's rubber seconds, a few microseconds apart.
    assert abs(got - Time(text, format="iso", scale="utc").mjd) * 86_400 < 1e-4


@given(st.text(max_size=30))
def test_property_arbitrary_strings_give_a_time_or_a_time_error(text: str) -> None:
    try:
        got = mjd_from_iso([text])
    except TimeParseError as exc:
        rows = exc.rows
    else:
        rows = []
        assert np.isnan(got[0]) or PLAUSIBLE_MJD[0] <= got[0] < PLAUSIBLE_MJD[1]
    assert rows in ([], [0])


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_property_met_seconds_never_crash_erfa(seconds: float) -> None:
    try:
        got = mjd_from_met([seconds], 51910.0, "TT")
    except TimeParseError:
        return
    assert np.isnan(got[0]) or PLAUSIBLE_MJD[0] <= got[0] < PLAUSIBLE_MJD[1]


@given(st.text(max_size=25))
def test_property_arbitrary_strings_as_day_of_year(text: str) -> None:
    try:
        got = mjd_from_doy([text])
    except TimeParseError as exc:
        rows = exc.rows
    else:
        rows = []
        assert np.isnan(got[0]) or PLAUSIBLE_MJD[0] <= got[0] < PLAUSIBLE_MJD[1]
    assert rows in ([], [0])


@pytest.mark.parametrize("value", ["٢٠١٧:281:19:05:02", "2017-09-0８ 10:00:00"])
def test_non_ascii_digits_are_not_times(value: str) -> None:
    with pytest.raises(TimeParseError):
        (mjd_from_doy if ":" in value[:5] else mjd_from_iso)([value])
