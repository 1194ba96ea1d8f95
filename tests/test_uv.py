"""uv formulas against closed-form cases."""

from __future__ import annotations

import numpy as np
import pytest

from models.uv import (
    baseline_lengths,
    baselines_enu,
    uv_eccentricity,
    uv_fill,
    uv_stats,
    uv_tracks,
    with_conjugates,
)

FULL_TURN = np.linspace(-np.pi, np.pi, 721)


def test_baselines_are_pairwise_differences_in_triu_order():
    st = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 20.0]])
    np.testing.assert_allclose(baselines_enu(st), [[10.0, 0.0], [0.0, 20.0], [-10.0, 20.0]])
    np.testing.assert_allclose(baseline_lengths(st), [10.0, 20.0, np.hypot(10, 20)])


def test_baselines_reject_wrong_shape():
    with pytest.raises(ValueError, match=r"\(n, 2\)"):
        baselines_enu(np.zeros((3, 3)))


@pytest.mark.parametrize(("lat", "dec"), [(90.0, 90.0), (-90.0, -90.0), (90.0, -90.0), (-90.0, 90.0)])
def test_east_west_baseline_at_the_pole_traces_a_circle(lat, dec):
    tr = uv_tracks([[100.0, 0.0]], dec, lat, FULL_TURN)
    r = np.hypot(tr.u_m, tr.v_m)
    np.testing.assert_allclose(r, 100.0, rtol=1e-12)
    # u = B cos H, v = B sin(dec) sin H
    np.testing.assert_allclose(tr.u_m[0], 100.0 * np.cos(FULL_TURN), atol=1e-9)
    np.testing.assert_allclose(tr.v_m[0], 100.0 * np.sin(np.deg2rad(dec)) * np.sin(FULL_TURN), atol=1e-9)
    st = uv_stats(*with_conjugates(tr.u_m.ravel(), tr.v_m.ravel()))
    assert st.uv_distribution_ecc == pytest.approx(0.0, abs=1e-3)
    assert st.uv_distance_min == pytest.approx(100.0)
    assert st.uv_distance_max == pytest.approx(100.0)


@pytest.mark.parametrize("dec", [-60.0, -30.0, 20.0, 45.0])
def test_east_west_baseline_at_the_pole_gives_an_ellipse_of_axis_ratio_sin_dec(dec):
    tr = uv_tracks([[50.0, 0.0]], dec, 90.0, FULL_TURN)
    ecc = uv_eccentricity(*with_conjugates(tr.u_m.ravel(), tr.v_m.ravel()))
    # a = B, b = B |sin dec|  ->  e = sqrt(1 - sin^2 dec) = |cos dec|
    assert ecc == pytest.approx(abs(np.cos(np.deg2rad(dec))), abs=1e-6)


def test_east_west_array_at_the_pole_gives_concentric_circles():
    stations = np.array([[0.0, 0.0], [30.0, 0.0], [70.0, 0.0], [150.0, 0.0]])
    b = baselines_enu(stations)
    tr = uv_tracks(b, -90.0, -90.0, FULL_TURN)
    radii = np.hypot(tr.u_m, tr.v_m)
    np.testing.assert_allclose(radii, np.abs(b[:, :1]) * np.ones_like(radii), rtol=1e-12)
    st = uv_stats(*with_conjugates(tr.u_m.ravel(), tr.v_m.ravel()))
    assert st.uv_distance_min == pytest.approx(30.0)
    assert st.uv_distance_max == pytest.approx(150.0)
    assert st.uv_distribution_ecc == pytest.approx(0.0, abs=1e-3)


@pytest.mark.parametrize(("lat", "dec"), [(-24.6279, -29.0), (-24.6279, 10.0), (40.0, 40.0), (0.0, -70.0)])
def test_single_baseline_at_transit_matches_closed_form(lat, dec):
    e, n = 36.0, -58.0
    tr = uv_tracks([[e, n]], dec, lat, [0.0])
    assert tr.u_m[0, 0] == pytest.approx(e)
    assert tr.v_m[0, 0] == pytest.approx(n * np.cos(np.deg2rad(lat - dec)))
    # w is the delay term: N sin(phi) ... for U = 0, w = N sin(dec - phi)
    assert tr.w_m[0, 0] == pytest.approx(n * np.sin(np.deg2rad(dec - lat)))


def test_north_south_baseline_at_six_hours():
    # H = +6 h: u = sin H X = -sin(phi) N, v = cos(dec) cos(phi) N
    lat, dec, n = -24.6279, -29.0, 80.0
    tr = uv_tracks([[0.0, n]], dec, lat, [np.pi / 2])
    assert tr.u_m[0, 0] == pytest.approx(-np.sin(np.deg2rad(lat)) * n)
    assert tr.v_m[0, 0] == pytest.approx(np.cos(np.deg2rad(dec)) * np.cos(np.deg2rad(lat)) * n)


def test_projection_never_exceeds_baseline_length():
    rng = np.random.default_rng(3)
    b = rng.uniform(-150, 150, size=(20, 2))
    decs = rng.uniform(-90, 90, size=7)
    tr = uv_tracks(b, decs, -24.6279, FULL_TURN)
    assert tr.u_m.shape == (7, 20, FULL_TURN.size)
    proj = np.hypot(tr.u_m, tr.v_m)
    assert np.all(proj <= np.hypot(*b.T)[None, :, None] * (1 + 1e-12))
    # full 3-D length is conserved: (u, v, w) is a rotation of (X, Y, Z)
    np.testing.assert_allclose(np.sqrt(proj**2 + tr.w_m**2), np.hypot(*b.T)[None, :, None] * np.ones_like(proj))


def test_tracks_in_wavelengths():
    tr = uv_tracks([[100.0, 0.0]], -90.0, -90.0, [0.0], wavelength_m=[1e-6, 2e-6])
    np.testing.assert_allclose(tr.u_wl[0, 0], [1e8, 5e7])


def test_eccentricity_of_a_segment_is_one_and_of_a_point_is_nan():
    assert uv_eccentricity([-10, 0, 10], [-5, 0, 5]) == pytest.approx(1.0)
    assert np.isnan(uv_eccentricity([3.0, 3.0], [1.0, 1.0]))


def test_eccentricity_uses_pca_rotation():
    # an axis-aligned 10 x 6 rectangle of samples, rotated by 30 deg: a = 10, b = 6
    x, y = np.meshgrid(np.linspace(-10, 10, 41), np.linspace(-6, 6, 25))
    t = np.deg2rad(30.0)
    u = np.cos(t) * x - np.sin(t) * y
    v = np.sin(t) * x + np.cos(t) * y
    assert uv_eccentricity(u.ravel(), v.ravel()) == pytest.approx(np.sqrt(1 - 0.36), abs=1e-9)


def test_fill_counts_occupied_cells():
    # a dense regular grid fills every cell
    g = (np.arange(40) + 0.5) / 40
    x, y = np.meshgrid(g, g)
    assert uv_fill(x.ravel(), y.ravel(), n_grid=20) == pytest.approx(1.0)
    # the two diagonal corners of a box occupy 2 of N^2 cells
    assert uv_fill([0.0, 1.0], [0.0, 1.0], n_grid=10) == pytest.approx(2 / 100)
    # repeated samples in one cell count once
    assert uv_fill([0.0, 0.0, 0.0, 1.0], [0.0, 0.0, 0.0, 1.0], n_grid=10) == pytest.approx(2 / 100)


def test_stats_are_batched_over_leading_axes():
    tr = uv_tracks([[100.0, 0.0], [0.0, 40.0]], [-90.0, -30.0], -90.0, FULL_TURN)
    u = tr.u_m.reshape(2, -1)
    v = tr.v_m.reshape(2, -1)
    st = uv_stats(*with_conjugates(u, v))
    assert st.uv_distance_max.shape == (2,)
    np.testing.assert_allclose(st.uv_distance_max, [100.0, 100.0])
    single = uv_stats(*with_conjugates(u[1], v[1]))
    assert st.uv_distribution_fill[1] == pytest.approx(float(single.uv_distribution_fill))
    assert st.uv_distribution_ecc[1] == pytest.approx(float(single.uv_distribution_ecc))


def test_stats_reject_empty_samples():
    with pytest.raises(ValueError, match="non-empty"):
        uv_stats(np.zeros(0), np.zeros(0))
