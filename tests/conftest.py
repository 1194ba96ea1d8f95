"""Shared test fixtures: paths to recorded data; astropy kept offline."""

from __future__ import annotations

import pathlib

import pytest

import models.timeutil  # noqa: F401  (switches IERS auto-download off before any test)

DATA = pathlib.Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def data_dir() -> pathlib.Path:
    return DATA
