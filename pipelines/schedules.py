"""Schedules: each source at its own cadence, and one daily publication.

Per-source jobs refresh ``raw/<source>`` and ``core/<source>`` for today's snapshot date (XMM-Newton
several times a day, NuSTAR daily, ESO weekly...; archive-only sources have no schedule). The daily
``publish`` job then builds the snapshot from each source's latest harvest of the day; sources not
harvested that day are carried over from the previous snapshot without being withdrawn.
"""

from collections.abc import Mapping
from typing import Any

import dagster as dg

from pipelines.assets import PUBLISH_KEY, core_key, raw_key
from pipelines.partitions import cadence, freshness_window  # noqa: F401 - re-exported
from scrapers.base import Source

#: Publication time (UTC): late in the day, after the last XMM-Newton refresh.
PUBLISH_CRON = "45 23 * * *"


def harvest_job_name(source: Source) -> str:
    """Name of the job refreshing one source."""
    return f"harvest_{source.name}"


def build_jobs(sources: Mapping[str, Source]) -> list[Any]:
    """``harvest`` (everything), ``harvest_<source>`` (one source's raw + core) and ``publish``."""
    jobs = [
        dg.define_asset_job(
            "harvest", selection=dg.AssetSelection.all(), description="Full harvest and publication of a date"
        ),
        dg.define_asset_job(
            "publish",
            selection=dg.AssetSelection.assets(PUBLISH_KEY).upstream() - dg.AssetSelection.groups("raw", "core"),
            description="Build and publish the snapshot from the sources harvested for the date",
        ),
    ]
    for source in sources.values():
        jobs.append(
            dg.define_asset_job(
                harvest_job_name(source),
                selection=dg.AssetSelection.assets(raw_key(source), core_key(source)),
                description=f"Refresh {source.name} for the date (raw responses and IVOA frames)",
            )
        )
    return jobs


def _today_schedule(name: str, cron: str, job_name: str, description: str) -> dg.ScheduleDefinition:
    @dg.schedule(name=name, cron_schedule=cron, job_name=job_name, execution_timezone="UTC", description=description)
    def _schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        key = context.scheduled_execution_time.date().isoformat()  # the snapshot date is the tick's UTC day
        return dg.RunRequest(run_key=f"{job_name}:{context.scheduled_execution_time.isoformat()}", partition_key=key)

    return _schedule


def build_schedules(sources: Mapping[str, Source]) -> list[dg.ScheduleDefinition]:
    """One schedule per source with a cadence, plus the daily publication."""
    schedules = [
        _today_schedule(
            f"{harvest_job_name(s)}_schedule", s.cron, harvest_job_name(s), f"{s.name} at its cadence ({s.cron})"
        )
        for s in sources.values()
        if s.cron
    ]
    schedules.append(_today_schedule("publish_daily", PUBLISH_CRON, "publish", "Daily snapshot publication"))
    return schedules
