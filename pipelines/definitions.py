"""The one Dagster code location of voharvest (``dagster dev -m pipelines.definitions``).

Resources are configured from the environment: ``VOHARVEST_REPLAY_DIR`` (replay a raw archive
instead of fetching live), ``VOHARVEST_ARCHIVE_DIR`` (live raw archives, default ``raw_archive``)
and ``VOHARVEST_OUTPUT_DIR`` (default ``output``). ``VOHARVEST_EXECUTOR`` selects where steps run
without a code change: unset (Dagster's default, in-process or multiprocess), ``celery``
(``dagster-celery``) or ``k8s`` (``dagster-k8s``, a pod per step); see deploy/README.md.
``VOHARVEST_ALERT_WEBHOOK`` / ``VOHARVEST_ALERT_COMMAND`` route the alerts of the run-failure and
freshness sensors (:mod:`pipelines.sensors`).

With ``VOHARVEST_EXECUTOR=celery``, ``VOHARVEST_CELERY_BROKER`` and ``VOHARVEST_CELERY_BACKEND`` give the
broker and result-backend URLs (``redis://host:6379/0``); they are read when a run starts, in the run's
process, so the URLs (and any password in them) are never stored with the job. The Celery workers
load this same module, so they need the same ``VOHARVEST_*`` environment (deploy/README.md).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping

import dagster as dg

from models.datalink import PUBLIC_BASE_URL_ENV, check_public_base_url
from pipelines.assets import build_assets
from pipelines.resources import FetcherResource, OutputStore
from pipelines.schedules import build_jobs, build_schedules
from pipelines.sensors import build_sensors
from scrapers.base import Source
from scrapers.registry import all_sources

#: ``VOHARVEST_EXECUTOR`` values -> (module, executor attribute).
EXECUTORS = {"celery": ("dagster_celery", "celery_executor"), "k8s": ("dagster_k8s", "k8s_job_executor")}
#: Celery executor settings -> the environment variable holding each (a broker URL, a result-backend URL).
CELERY_ENV = {"broker": "VOHARVEST_CELERY_BROKER", "backend": "VOHARVEST_CELERY_BACKEND"}


def executor_from_env(env: Mapping[str, str] | None = None) -> dg.ExecutorDefinition | None:
    """The executor named by ``VOHARVEST_EXECUTOR`` (``None``: Dagster's default).

    Parameters
    ----------
    env
        Environment to read (default ``os.environ``).

    Returns
    -------
    dagster.ExecutorDefinition or None
        For ``celery``, configured with the broker / backend variables of :data:`CELERY_ENV` that are
        set (as environment references, resolved when a run starts); unset ones keep dagster-celery's
        defaults (a RabbitMQ broker on localhost, the ``rpc://`` backend).

    Raises
    ------
    ValueError
        For an unknown executor name.
    """
    env = os.environ if env is None else env
    name = env.get("VOHARVEST_EXECUTOR", "").strip().lower()
    if not name:
        return None
    if name not in EXECUTORS:
        raise ValueError(f"VOHARVEST_EXECUTOR={name!r}: expected one of {sorted(EXECUTORS)} or unset")
    module, attr = EXECUTORS[name]
    executor = getattr(importlib.import_module(module), attr)
    if name == "celery":
        config = {key: {"env": var} for key, var in CELERY_ENV.items() if (env.get(var) or "").strip()}
        if config:
            executor = executor.configured(config, name=executor.name)
    return executor


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
    store = store or OutputStore(
        root=os.environ.get("VOHARVEST_OUTPUT_DIR", "output"),
        public_base_url=check_public_base_url(os.environ.get(PUBLIC_BASE_URL_ENV)),
    )
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
