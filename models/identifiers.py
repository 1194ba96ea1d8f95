"""Identifiers: ``obs_publisher_did = ivo://<authority>/<collection>?<obs_id>``."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    import pyarrow as pa

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


def publisher_did_array(collection: pa.Array, obs_id: pa.Array, auth: str | None = None) -> pa.Array:
    """:func:`publisher_did` of Arrow text arrays, joined by Arrow's kernels (no Python string per row).

    Parameters
    ----------
    collection, obs_id
        Text arrays of equal length (``string`` or ``large_string``); a NULL in either gives NULL.
    auth
        Authority (default :func:`authority`).

    Returns
    -------
    pyarrow.Array
        One ``string`` array.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    text = pa.large_string()
    base = pa.scalar(f"ivo://{auth or authority()}/", text)
    parts = (base, collection.cast(text), pa.scalar("?", text), obs_id.cast(text), pa.scalar("", text))
    return pc.binary_join_element_wise(*parts).cast(pa.string())
