"""Sensors that tell an operator when a source breaks: a failed run, or a source gone stale.

Both call the one alert route of :mod:`pipelines.alerts` (``VOHARVEST_ALERT_WEBHOOK`` and/or
``VOHARVEST_ALERT_COMMAND``) and are on by default, evaluated by the Dagster daemon (``voharvest ui``
starts it):

* ``voharvest_run_failure_alert``: every failed run in the instance, including CLI harvests (they
  have no code-location origin, hence ``monitor_all_code_locations``); one alert per failed step and
  per failed blocking check, naming source, partition, step or check and the one-line error;
* ``voharvest_freshness_alert``: every scheduled source whose latest harvest (``core/<source>_core``) is
  older than its cadence plus a grace (:func:`pipelines.schedules.freshness_window`); one alert per
  stale episode, not one per tick.

A delivery that fails raises, so the daemon shows the sensor tick failed and evaluates the same
runs again at the next tick.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping
from typing import Any

import dagster as dg

from pipelines.alerts import Alert, AlertRoute, source_of, step_failure_text
from pipelines.assets import core_key
from pipelines.partitions import freshness_window
from scrapers.base import Source

RUN_FAILURE_SENSOR = "voharvest_run_failure_alert"
FRESHNESS_SENSOR = "voharvest_freshness_alert"
#: Seconds between two evaluations of the freshness sensor.
FRESHNESS_INTERVAL_S = 600


def run_failure_alerts(instance: dg.DagsterInstance, run: dg.DagsterRun) -> list[Alert]:
    """One alert per failed step and failed check of ``run`` (one for the run if neither is recorded).

    Parameters
    ----------
    instance
        The instance holding the run's event log.
    run
        The failed run.

    Returns
    -------
    list of Alert
        Kind ``run_failure``, with the run's partition (snapshot date) and id.
    """
    partition = run.tags.get("dagster/partition")
    alerts = []
    records = instance.all_logs(
        run.run_id, of_type={dg.DagsterEventType.STEP_FAILURE, dg.DagsterEventType.ASSET_CHECK_EVALUATION}
    )
    for record in records:
        event = record.dagster_event
        if event is None:
            continue
        if event.event_type == dg.DagsterEventType.STEP_FAILURE:
            where = (event.step_key or "").replace("__", "/")
            error = step_failure_text(event.step_failure_data)
        else:
            data = event.event_specific_data
            if data.passed:
                continue
            where = f"{data.asset_key.to_user_string()}:{data.check_name}"
            error = " ".join((data.description or "blocking check failed").split())
        alerts.append(Alert("run_failure", source_of(where), partition, where, error, run.run_id))
    if not alerts:
        alerts.append(Alert("run_failure", run.job_name, partition, f"job {run.job_name}", "run failed", run.run_id))
    return alerts


def deliver(route: AlertRoute, alerts: list[Alert], log: Any) -> None:
    """Send every alert (log it when no route is configured); raise after trying all if any failed."""
    from pipelines.alerts import AlertDeliveryError

    failed = []
    for alert in alerts:
        if not route.configured:
            log.warning(f"alert (no VOHARVEST_ALERT_WEBHOOK / VOHARVEST_ALERT_COMMAND set): {alert.text}")
            continue
        try:
            log.info(f"alert sent to {', '.join(route.send(alert))}: {alert.text}")
        except AlertDeliveryError as exc:
            failed.append(f"{alert.text}: {exc}")
    if failed:
        raise AlertDeliveryError("alert delivery failed: " + " | ".join(failed))


def build_run_failure_sensor(route: Callable[[], AlertRoute] = AlertRoute.from_env) -> dg.SensorDefinition:
    """The run-failure sensor: alerts for every failed run of the instance (UI, schedules and CLI runs)."""

    @dg.run_failure_sensor(
        name=RUN_FAILURE_SENSOR,
        monitor_all_code_locations=True,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            "Sends one alert per failed step or blocking check of any failed run (source, snapshot date, step or "
            "check, error) to VOHARVEST_ALERT_WEBHOOK and/or VOHARVEST_ALERT_COMMAND"
        ),
    )
    def _alert(context: dg.RunFailureSensorContext) -> None:
        deliver(route(), run_failure_alerts(context.instance, context.dagster_run), context.log)

    return _alert


def stale_alerts(
    instance: dg.DagsterInstance, sources: Mapping[str, Source], now: dt.datetime, state: dict[str, Any]
) -> tuple[list[Alert], dict[str, Any]]:
    """Alerts for sources whose latest harvest is older than their freshness window.

    Parameters
    ----------
    instance
        Where the materialisations are recorded.
    sources
        The sources (those without a cadence are never stale).
    now
        Evaluation time (UTC).
    state
        The previous evaluation's state (the sensor cursor): ``first_seen`` (when the sensor first
        ran: the age of a source never harvested counts from then) and ``alerted`` (per source, the
        materialisation timestamp already alerted about, so one stale episode gives one alert).

    Returns
    -------
    tuple
        The new alerts and the new state.
    """
    first_seen = float(state.get("first_seen", now.timestamp()))
    alerted = dict(state.get("alerted", {}))
    alerts = []
    for name, source in sources.items():
        window = freshness_window(source)
        if window is None:
            continue
        key = core_key(source)
        event = instance.get_latest_materialization_event(key)
        last = event.timestamp if event is not None else None
        age = dt.timedelta(seconds=now.timestamp() - (last if last is not None else first_seen))
        if age <= window:
            alerted.pop(name, None)
            continue
        marker = last if last is not None else 0.0
        if alerted.get(name) == marker:
            continue
        when = "never harvested" if last is None else f"last harvest {_ago(age)} ago"
        error = f"{when}; expected at least every {_ago(window)} (cron {source.cron} UTC plus grace)"
        alerts.append(Alert("freshness", name, None, key.to_user_string(), error))
        alerted[name] = marker
    return alerts, {"first_seen": first_seen, "alerted": alerted}


def _ago(delta: dt.timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours / 24:.1f} d" if hours >= 48 else f"{hours:.1f} h"


def build_freshness_sensor(
    sources: Mapping[str, Source], route: Callable[[], AlertRoute] = AlertRoute.from_env
) -> dg.SensorDefinition:
    """The freshness sensor: one alert when a scheduled source's latest harvest gets older than its cadence."""

    @dg.sensor(
        name=FRESHNESS_SENSOR,
        minimum_interval_seconds=FRESHNESS_INTERVAL_S,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            "Alerts (VOHARVEST_ALERT_WEBHOOK / VOHARVEST_ALERT_COMMAND) when a source's latest harvest is older "
            "than its cadence plus 2 h: XMM-Newton 6 h, NuSTAR 1 day, ESO 7 days, INTEGRAL 31 days"
        ),
    )
    def _freshness(context: dg.SensorEvaluationContext) -> dg.SkipReason:
        now = dt.datetime.now(dt.UTC)
        state = json.loads(context.cursor) if context.cursor else {}
        alerts, state = stale_alerts(context.instance, sources, now, state)
        deliver(route(), alerts, context.log)
        context.update_cursor(json.dumps(state, sort_keys=True))
        stale = sorted(state["alerted"])
        return dg.SkipReason(f"stale: {', '.join(stale)}" if stale else "every scheduled source is fresh")

    return _freshness


def build_sensors(sources: Mapping[str, Source]) -> list[dg.SensorDefinition]:
    """The run-failure and the freshness alert sensors."""
    return [build_run_failure_sensor(), build_freshness_sensor(sources)]
