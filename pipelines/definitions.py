"""The one Dagster code location of voharvest (``dagster dev -m pipelines.definitions``).

Resources are configured from the environment: ``VOHARVEST_REPLAY_DIR`` (replay a raw archive
instead of fetching live), ``VOHARVEST_ARCHIVE_DIR`` (live raw archives, default ``raw_archive``)
and ``VOHARVEST_OUTPUT_DIR`` (default ``output``). ``VOHARVEST_EXECUTOR`` selects where steps run
without a code change: unset (Dagster's default, in-process or multiprocess), ``celery``
(``dagster-celery``) or ``k8s`` (``dagster-k8s``, a pod per step); see pipelines/README.md.
``VOHARVEST_ALERT_WEBHOOK`` / ``VOHARVEST_ALERT_COMMAND`` route the alerts of the run-failure and
freshness sensors (:mod:`pipelines.sensors`).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping

import dagster as dg

from pipelines.assets import build_assets
from pipelines.resources import FetcherResource, OutputStore
from pipelines.schedules import build_jobs, build_schedules
from pipelines.sensors import build_sensors
from scrapers.base import Source
from scrapers.registry import all_sources

#: ``VOHARVEST_EXECUTOR`` values -> (module, executor attribute).
EXECUTORS = {"celery": ("dagster_celery", "celery_executor"), "k8s": ("dagster_k8s", "k8s_job_executor")}


def executor_from_env() -> dg.ExecutorDefinition | None:
    """The executor named by ``VOHARVEST_EXECUTOR`` (``None``: Dagster's default)."""
    name = os.environ.get("VOHARVEST_EXECUTOR", "").strip().lower()
    if not name:
        return None
    if name not in EXECUTORS:
        raise ValueError(f"VOHARVEST_EXECUTOR={name!r}: expected one of {sorted(EXECUTORS)} or unset")
    module, attr = EXECUTORS[name]
    return getattr(importlib.import_module(module), attr)


def build_definitions(
    sources: Mapping[str, Source] | None = None,
    *,
    fetcher: FetcherResource | None = None,
    store: OutputStore | None = None,
    loggers: Mapping[str, dg.LoggerDefinition] | None = None,
) -> dg.Definitions:
    """Definitions for ``sources`` (all registered ones by default) with the given resources."""
    sources = all_sources() if sources is None else sources
    fetcher = fetcher or FetcherResource(
        replay_dir=os.environ.get("VOHARVEST_REPLAY_DIR") or None,
        archive_root=os.environ.get("VOHARVEST_ARCHIVE_DIR", "raw_archive"),
    )
    store = store or OutputStore(root=os.environ.get("VOHARVEST_OUTPUT_DIR", "output"))
    return dg.Definitions(
        assets=build_assets(sources),
        jobs=build_jobs(sources),
        schedules=build_schedules(sources),
        sensors=build_sensors(sources),
        resources={"fetcher": fetcher, "store": store},
        loggers=dict(loggers or {}),
        executor=executor_from_env(),
    )


@dg.definitions
def defs() -> dg.Definitions:
    """The code location loaded by ``dagster dev`` / ``dg``."""
    return build_definitions()
