"""Identifiers: ``obs_publisher_did = ivo://<authority>/<collection>?<obs_id>``."""

from __future__ import annotations

import os

import pandas as pd

#: Default IVOA authority; operators set VOHARVEST_AUTHORITY to their registered one.
DEFAULT_AUTHORITY = "voharvest"


def authority() -> str:
    """The configured authority (environment ``VOHARVEST_AUTHORITY`` or the default)."""
    return os.environ.get("VOHARVEST_AUTHORITY", DEFAULT_AUTHORITY)


def publisher_did(collection: str | pd.Series, obs_id: pd.Series, auth: str | None = None) -> pd.Series:
    """Vectorised ``ivo://<authority>/<collection>?<obs_id>``; obs_id is kept as given."""
    base = f"ivo://{auth or authority()}/"
    ids = obs_id.astype("string")
    coll = collection if isinstance(collection, str) else collection.astype("string")
    return (base + coll + "?" + ids).astype(object)
