"""Daily partitions keyed by the snapshot (as-of) date, UTC."""

from __future__ import annotations

import datetime as dt

import dagster as dg

#: First snapshot date offered; ``end_offset=1`` makes today's (still running) day a partition.
FIRST_SNAPSHOT = "2025-01-01"

SNAPSHOT_DAYS = dg.DailyPartitionsDefinition(start_date=FIRST_SNAPSHOT, timezone="UTC", end_offset=1)


def partition_date(context: dg.AssetExecutionContext) -> dt.date:
    """The snapshot date of the partition being materialised."""
    return dt.date.fromisoformat(context.partition_key)
