"""The coordinate layer against astropy's own angle parsing, at the edges and as properties."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.coordinates import Angle
from hypothesis import given
from hypothesis import strategies as st

from models.coords import CoordParseError, parse_dec, parse_ra


def test_sexagesimal_forms_match_astropy() -> None:
    ra_text = ["17:45:40.036", "17 45 40.036", "17h45m40.036s", "00:00:00.1", "23:59:59.999"]
    got = parse_ra(ra_text)
    want = Angle(["17h45m40.036s", "17h45m40.036s", "17h45m40.036s", "0h0m0.1s", "23h59m59.999s"]).degree
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)
    dec_text = ["-29:00:28.17", "-00:30:00", "-00 00 01", "+12d34m56s", "+89:59:59.9"]
    got = parse_dec(dec_text)
    want = Angle(["-29d00m28.17s", "-0d30m00s", "-0d0m1s", "12d34m56s", "89d59m59.9s"]).degree
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)
    assert got[1] == -0.5 and got[2] < 0, "the sign of a zero-degree declination is the sign written"


def test_decimal_degrees_and_missing() -> None:
    got = parse_ra(["266.41683", 266.41683, "", None, "1e1"])
    assert got[0] == got[1] == 266.41683 and got[4] == 10.0
    assert np.isnan(got[2:4]).all()


def test_ra_360_wraps_to_zero() -> None:
    got = parse_ra(["360", "360.0", "24:00:00", 360.0])
    assert (got == 0.0).all() and not np.signbit(got).any()


@pytest.mark.parametrize(
    ("func", "value", "message"),
    [
        (parse_ra, "360.0001", "RA outside"),
        (parse_ra, "-0.5", "RA outside"),
        (parse_ra, "24:00:01", "RA outside"),
        (parse_ra, "12:60:00", "60 or more"),
        (parse_ra, "12:00:60", "60 or more"),
        (parse_ra, "inf", "not a RA"),
        (parse_ra, "12h", "not a RA"),
        (parse_dec, "-90.0001", "Dec outside"),
        (parse_dec, "+90:00:01", "Dec outside"),
        (parse_dec, "north", "not a Dec"),
    ],
)
def test_out_of_range_and_garbage_name_the_row(func, value: str, message: str) -> None:  # noqa: ANN001
    with pytest.raises(CoordParseError, match=message) as info:
        func(["10.0", value])
    assert info.value.rows == [1]
    assert info.value.values == [value]


@given(st.floats(min_value=0, max_value=360, allow_nan=False), st.floats(min_value=-90, max_value=90))
def test_property_sexagesimal_round_trip_against_astropy(ra: float, dec: float) -> None:
    ra_text = Angle(ra, "deg").to_string(unit="hourangle", sep=":", precision=4, pad=True)
    dec_text = Angle(dec, "deg").to_string(unit="deg", sep=":", precision=3, alwayssign=True, pad=True)
    got_ra, got_dec = parse_ra([ra_text])[0], parse_dec([dec_text])[0]
    assert 0 <= got_ra < 360 and -90 <= got_dec <= 90
    want_ra = Angle(ra_text, unit="hourangle").wrap_at("360d").degree
    assert abs(((got_ra - want_ra + 180) % 360) - 180) < 1e-9
    assert got_dec == pytest.approx(Angle(dec_text, unit="deg").degree, abs=1e-9)


@given(st.text(max_size=20))
def test_property_any_text_is_a_position_or_a_coordinate_error(text: str) -> None:
    try:
        got = parse_dec([text])[0]
    except CoordParseError as exc:
        assert exc.rows == [0]  # noqa: PT017 - the error's contents are the property
    else:
        assert np.isnan(got) or -90 <= got <= 90


@pytest.mark.parametrize("value", ["١٢", "٠", "12:3٤:00", "１２"])
def test_non_ascii_digits_are_a_coordinate_error(value: str) -> None:
    with pytest.raises(CoordParseError, match="not a RA"):
        parse_ra([value])
