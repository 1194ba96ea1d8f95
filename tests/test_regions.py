"""STC-S parsing and the pgSphere conversion of s_region."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from astropy.table import Table

from models.regions import (
    CIRCLE_VERTICES,
    ROUNDING_MARGIN_DEG,
    RegionParseError,
    circle_stcs,
    circumscribed_polygon,
    parse_stcs,
    polygon_stcs,
    stcs_to_pgsphere,
)


@pytest.fixture(scope="module")
def hess(data_dir) -> Table:
    return Table.read(data_dir / "moc" / "hess_dl3_dr1_obs-index.fits.gz", hdu="OBS_INDEX")


def _unit(ra_deg: np.ndarray, dec_deg: np.ndarray) -> np.ndarray:
    ra, dec = np.radians(ra_deg), np.radians(dec_deg)
    return np.stack([np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)], axis=-1)


def _sep_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.degrees(np.arctan2(np.linalg.norm(np.cross(a, b), axis=-1), np.sum(a * b, axis=-1)))


def test_circles_round_trip_real_pointings(hess):
    ra = np.asarray(hess["RA_PNT"], dtype=float)
    dec = np.asarray(hess["DEC_PNT"], dtype=float)
    parsed = parse_stcs(circle_stcs(ra, dec, 2.5))
    assert (parsed.kind == "circle").all()
    np.testing.assert_allclose(parsed.ra, ra, atol=1e-6)
    np.testing.assert_allclose(parsed.dec, dec, atol=1e-6)
    np.testing.assert_array_equal(parsed.radius, 2.5)
    assert len(parsed.polygon_rows) == 0


def test_mixed_column_kinds_nulls_and_ragged_polygons():
    s = pd.Series(
        [
            "Circle ICRS 10 20 1",
            None,
            "Polygon ICRS 10 0 11 0 11 1 10 1 10 0",  # closing vertex repeated: dropped
            "",
            "polygon icrs GEOCENTER 350 -5 355 -5 352 0",  # case-insensitive, reference position allowed
            "  Circle ICRS SPHER2 -0.5 -89 0.5  ",
            pd.NA,
        ],
        index=list("abcdefg"),
    )
    p = parse_stcs(s)
    assert p.kind.tolist() == ["circle", "null", "polygon", "null", "polygon", "circle", "null"]
    assert p.is_null.sum() == 3
    np.testing.assert_allclose(p.ra[[0, 5]], [10.0, 359.5])
    np.testing.assert_allclose(p.radius[[0, 5]], [1.0, 0.5])
    assert np.isnan(p.ra[[1, 2, 3, 4, 6]]).all()
    assert p.polygon_rows.tolist() == [2, 4]
    assert p.vertex_counts.tolist() == [4, 3]
    assert p.vertex_ra.tolist() == [10, 11, 11, 10, 350, 355, 352]
    assert p.vertex_dec.tolist() == [0, 0, 1, 1, -5, -5, 0]
    by_k = {ra.shape[1]: rows.tolist() for rows, ra, _ in p.polygon_groups()}
    assert by_k == {3: [4], 4: [2]}


def test_string_dtypes_and_scientific_notation():
    s = pd.Series(["Circle ICRS 1.5e2 -2.5E+1 .5", None, "Polygon ICRS +1 -2 3 4 5 6"], dtype="string")
    p = parse_stcs(s)
    assert p.kind.tolist() == ["circle", "null", "polygon"]
    assert (p.ra[0], p.dec[0], p.radius[0]) == (150.0, -25.0, 0.5)
    assert p.vertex_ra.tolist() == [1, 3, 5] and p.vertex_dec.tolist() == [-2, 4, 6]
    empty = parse_stcs(pd.Series([], dtype=object))
    assert len(empty) == 0 and len(empty.polygon_offsets) == 1


def test_polygons_round_trip_from_writer():
    ra = np.array([[10.0, 12.0, 12.0, 10.0], [359.0, 1.0, 1.0, 359.0]])
    dec = np.array([[-1.0, -1.0, 1.0, 1.0], [80.0, 80.0, 82.0, 82.0]])
    p = parse_stcs(polygon_stcs(ra, dec))
    np.testing.assert_allclose(p.vertex_ra.reshape(2, 4), ra % 360.0)
    np.testing.assert_allclose(p.vertex_dec.reshape(2, 4), dec)


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        ("Box ICRS 1 2 3 4", "unsupported STC-S shape"),
        ("Circle FK5 1 2 3", "frame is not ICRS"),
        ("Circle ICRS 1 2", "circle needs three finite numbers"),
        ("Circle ICRS 1 2 x", "circle needs three finite numbers"),
        ("Circle ICRS 1 2 inf", "circle needs three finite numbers"),
        ("Circle ICRS 1 2 3 4", "circle needs three finite numbers"),
        ("Circle ICRS 1 2 0", "radius outside"),
        ("Circle ICRS 1 95 1", "declination outside"),
        ("Polygon ICRS 1 2 3 4 5", "even number of coordinates"),
        ("Polygon ICRS 1 2 3 4", "even number of coordinates"),
        ("Polygon ICRS 1 2 3 nan 5 6", "not a finite number"),
        ("Polygon ICRS 1 2 3 4 1 2", "fewer than 3 distinct vertices"),
        ("Polygon ICRS 1 2 3 4 5 91", "declination outside"),
        ("hello", "not an STC-S shape"),
        (5.0, "not a string"),
        (7, "not a string"),
    ],
)
def test_unreadable_regions_name_row_and_value(bad, why):
    s = pd.Series(["Circle ICRS 1 2 3", "Circle ICRS 4 5 6", bad], index=[10, 11, 12])
    with pytest.raises(RegionParseError, match=re.escape(why)) as err:
        parse_stcs(s)
    msg = str(err.value)
    assert "row 2 (index 12)" in msg
    assert repr(bad) in msg
    assert err.value.rows == [2]
    assert isinstance(err.value, ValueError)


def test_circumscribed_polygon_touches_circle_from_outside():
    ra = np.array([10.0, 200.0, 359.9, 45.0])
    dec = np.array([20.0, -60.0, 0.0, 89.5])
    r = np.array([1.0, 8.0, 0.2, 0.4])
    v_ra, v_dec = circumscribed_polygon(ra, dec, r, 16)
    centre = _unit(ra, dec)[:, None, :]
    verts = _unit(v_ra, v_dec)
    big_r = np.degrees(np.arctan(np.tan(np.radians(r)) / np.cos(np.pi / 16)))
    np.testing.assert_allclose(_sep_deg(verts, centre), np.broadcast_to(big_r[:, None], (4, 16)), rtol=1e-9)
    # great-circle edge midpoints lie exactly on the circle: the polygon touches it from outside
    mid = verts + np.roll(verts, -1, axis=1)
    mid /= np.linalg.norm(mid, axis=-1, keepdims=True)
    np.testing.assert_allclose(_sep_deg(mid, centre), np.broadcast_to(r[:, None], (4, 16)), rtol=1e-9)
    # counter-clockwise on the sky: second vertex is east (larger RA) of the first, which is north
    assert (v_dec[:, 0] > dec).all()
    with pytest.raises(ValueError, match="90 deg"):
        circumscribed_polygon([0.0], [0.0], [90.0])


def test_stcs_to_pgsphere_literals():
    s = pd.Series(
        ["Circle ICRS 10 20 1", None, "Polygon ICRS 10 0 11 0 11 1 10 1", "Polygon ICRS 350 -5 355 -5 352 0"],
        index=[7, 8, 9, 10],
    )
    out = stcs_to_pgsphere(s)
    assert out.index.tolist() == [7, 8, 9, 10]
    assert out[8] is None
    assert out[9] == "{(10.000000d,0.000000d),(11.000000d,0.000000d),(11.000000d,1.000000d),(10.000000d,1.000000d)}"
    assert out[10] == "{(350.000000d,-5.000000d),(355.000000d,-5.000000d),(352.000000d,0.000000d)}"
    points = re.findall(r"\(([-\d.]+)d,([-\d.]+)d\)", out[7])
    assert len(points) == CIRCLE_VERTICES
    assert out[7].startswith("{(10.000000d,21.019589d),") and out[7].endswith("}")
    big_r = np.degrees(np.arctan(np.tan(np.radians(1.0 + ROUNDING_MARGIN_DEG)) / np.cos(np.pi / CIRCLE_VERTICES)))
    assert float(points[8][0]) == pytest.approx(10.0, abs=1e-6)  # due south
    assert float(points[8][1]) == pytest.approx(20.0 - big_r, abs=1e-6)


def test_stcs_to_pgsphere_rejects_bad_rows():
    with pytest.raises(RegionParseError, match="row 1"):
        stcs_to_pgsphere(pd.Series(["Circle ICRS 1 2 3", "Ellipse ICRS 1 2 3 4 5"]))
