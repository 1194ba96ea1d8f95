"""Daily partitions keyed by the snapshot (as-of) date, UTC.

Which dates can actually be materialised depends on the raw bytes: today's date live, any other date
only from its raw archive (``raw_archive/<date>/`` of a live harvest, or an archive given with
``--replay`` / ``VOHARVEST_REPLAY_DIR``). The partition set itself is a plain daily range from
:data:`FIRST_SNAPSHOT` to today: a date outside it is refused with one line by the CLI.
"""

from __future__ import annotations

import datetime as dt
import itertools

import dagster as dg

from scrapers.base import Source

#: First snapshot date offered; ``end_offset=1`` makes today's (still running) day a partition.
FIRST_SNAPSHOT = "2025-01-01"

SNAPSHOT_DAYS = dg.DailyPartitionsDefinition(start_date=FIRST_SNAPSHOT, timezone="UTC", end_offset=1)


def partition_date(context: dg.AssetExecutionContext) -> dt.date:
    """The snapshot date of the partition being materialised."""
    return dt.date.fromisoformat(context.partition_key)


def partition_range(now: dt.datetime | None = None) -> tuple[dt.date, dt.date]:
    """First and last snapshot date the partitions offer (the last is today, UTC).

    Parameters
    ----------
    now
        The current time (default: the clock); the pipeline layer may read it, parsers never do.

    Returns
    -------
    tuple of datetime.date
        ``(FIRST_SNAPSHOT, today)``, both included.
    """
    now = now or dt.datetime.now(dt.UTC)
    keys = SNAPSHOT_DAYS.get_partition_keys(current_time=now)
    return dt.date.fromisoformat(keys[0]), dt.date.fromisoformat(keys[-1])


#: Slack on top of a source's cadence before it counts as stale (a harvest takes minutes; retries wait).
FRESHNESS_GRACE = dt.timedelta(hours=2)
#: Reference start of the cadence computation: a leap year's first day (every month length occurs).
_CADENCE_EPOCH = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def cadence(cron: str) -> dt.timedelta:
    """The longest gap between two ticks of ``cron`` (UTC) over a year: 6 h, 1 day, 7 days, 31 days...

    Parameters
    ----------
    cron
        A five-field cron string (``Source.cron``).

    Returns
    -------
    datetime.timedelta
        The largest interval between consecutive ticks during 2024 (a leap year).
    """
    from dagster._utils.schedules import cron_string_iterator

    ticks = cron_string_iterator(_CADENCE_EPOCH.timestamp(), cron, "UTC")
    horizon = _CADENCE_EPOCH + dt.timedelta(days=366 + 31)
    times = list(itertools.takewhile(lambda t: t <= horizon, ticks))
    return max(b - a for a, b in itertools.pairwise(times))


def freshness_window(source: Source) -> dt.timedelta | None:
    """How old a source's latest harvest may be: its cadence plus :data:`FRESHNESS_GRACE` (None: archive-only)."""
    return None if not source.cron else cadence(source.cron) + FRESHNESS_GRACE
