"""Spectral unit helpers: energies and frequencies to vacuum wavelength in metres."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

#: h*c in eV*m (CODATA 2018 exact-based value, as quoted by the HEA ObsCore extension).
HC_EV_M = 1.239841984e-6
#: Speed of light in m/s.
C_M_S = 299_792_458.0

ArrayLike = npt.ArrayLike


def energy_ev_to_wavelength_m(energy_ev: ArrayLike) -> np.ndarray:
    """Vacuum wavelength (m) of photons of the given energy (eV)."""
    return HC_EV_M / np.asarray(energy_ev, dtype="float64")


def wavelength_m_to_energy_ev(wavelength_m: ArrayLike) -> np.ndarray:
    """Photon energy (eV) of the given vacuum wavelength (m)."""
    return HC_EV_M / np.asarray(wavelength_m, dtype="float64")


def frequency_hz_to_wavelength_m(frequency_hz: ArrayLike) -> np.ndarray:
    """Vacuum wavelength (m) of the given frequency (Hz)."""
    return C_M_S / np.asarray(frequency_hz, dtype="float64")


def energy_band_to_em(e_lo_ev: ArrayLike, e_hi_ev: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """``(em_min, em_max)`` in metres for an energy band: em_min comes from the *highest* energy."""
    return energy_ev_to_wavelength_m(e_hi_ev), energy_ev_to_wavelength_m(e_lo_ev)


def kev_band_to_em(e_lo_kev: float, e_hi_kev: float) -> tuple[float, float]:
    """Scalar convenience for instrument facts given in keV (e.g. NuSTAR 3-79 keV)."""
    em_min, em_max = energy_band_to_em(e_lo_kev * 1e3, e_hi_kev * 1e3)
    return float(em_min), float(em_max)
