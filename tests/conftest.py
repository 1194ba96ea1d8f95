"""Shared test fixtures: paths to recorded data; astropy kept offline; hypothesis profiles."""

from __future__ import annotations

import os
import pathlib

import pytest
from hypothesis import HealthCheck, settings

import models.timeutil  # noqa: F401  (switches IERS auto-download off before any test)

DATA = pathlib.Path(__file__).parent / "data"

# Property-based tests: CI runs a fixed, derandomised number of examples (bounded time, same
# examples every run); `HYPOTHESIS_PROFILE=long pytest tests -k properties` explores far more.
settings.register_profile(
    "ci", max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("long", max_examples=5000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session")
def data_dir() -> pathlib.Path:
    return DATA


@pytest.fixture(scope="session", autouse=True)
def _private_dagster_home(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Harvests run by tests record into a throw-away instance, never the developer's ``.dagster_home``.

    Tests that need a particular instance set ``DAGSTER_HOME`` themselves (monkeypatch or env).
    """
    os.environ["DAGSTER_HOME"] = str(tmp_path_factory.mktemp("instance") / "dagster_home")
    # Visibility MOCs cost ~15 s per harvest: tests that need them ask for them.
    os.environ.setdefault("VOHARVEST_VISIBILITY_DAYS", "0")
