"""Drift of a source between snapshots: the signs that a page changed under us.

Pure functions over a source's frames and the previous snapshot's manifest; the pipeline turns the
findings into blocking Dagster checks. A collapsing row count or identifiers that stop matching the
source's format mean publishing would be wrong.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from scrapers.base import Source

#: A source's row count "collapses" when it falls below this fraction of the previous snapshot's...
DRIFT_MIN_FRACTION = 0.5
#: ...and the previous count was at least this large (tiny tables fluctuate legitimately).
DRIFT_MIN_PREVIOUS_ROWS = 4
DRIFT_CHECKS = ("not_empty", "row_count_drift", "id_format")


def row_counts(frames: Mapping[str, pd.DataFrame]) -> dict[str, int]:
    """Rows per table of a source's harvest."""
    return {name: len(frame) for name, frame in sorted(frames.items())}


def drift_findings(
    source: Source, frames: Mapping[str, pd.DataFrame], previous_manifest: Mapping[str, Any] | None
) -> dict[str, list[str]]:
    """What each drift check found (empty lists pass)."""
    counts = row_counts(frames)
    findings: dict[str, list[str]] = {name: [] for name in DRIFT_CHECKS}
    if sum(counts.values()) == 0:
        findings["not_empty"].append(f"{source.name}: no rows in any table ({sorted(counts)})")
    previous = ((previous_manifest or {}).get("sources", {}).get(source.name) or {}).get("rows", {})
    for table, before in sorted(previous.items()):
        now = counts.get(table, 0)
        if before >= DRIFT_MIN_PREVIOUS_ROWS and now < DRIFT_MIN_FRACTION * before:
            findings["row_count_drift"].append(
                f"{source.name}/{table}: {now} rows, previous snapshot {previous_manifest.get('snapshot')} had {before}"
            )
    pattern = source.id_pattern
    for table, frame in sorted(frames.items()):
        if "obs_id" not in frame.columns or frame.empty:
            continue
        ids = frame["obs_id"].astype("string")
        bad = ~ids.str.fullmatch(pattern).fillna(False).to_numpy(dtype=bool)
        if bad.any():
            shown = ids[bad].head(5).tolist()
            findings["id_format"].append(
                f"{source.name}/{table}: {int(bad.sum())} obs_id not matching {pattern!r}, e.g. {shown}"
            )
    return findings
