"""Fixtures shared by the fault suite: real NuSTAR rows as an obsplan frame (``plan``)."""

from tests.test_history import plan  # noqa: F401
