"""One alert route for operators: a webhook and/or a command, configured in the environment.

The run-failure and freshness sensors (:mod:`pipelines.sensors`) build an :class:`Alert` naming the
source, the partition (snapshot date), the failed step or check and the one-line error, and hand it
to :class:`AlertRoute`. The route is read from the environment of the process evaluating the sensors
(the Dagster daemon started by ``voharvest ui``):

``VOHARVEST_ALERT_WEBHOOK``
    URL receiving a JSON ``POST`` (``{"text": <one line>, "kind": ..., "source": ..., ...}``: the
    ``text`` member is what Slack/Mattermost/Teams-style incoming webhooks display).
``VOHARVEST_ALERT_COMMAND``
    Command line (split like a shell would, no shell involved) run with the one-line message on
    standard input and the fields as ``VOHARVEST_ALERT_<FIELD>`` environment variables, e.g.
    ``mail -s voharvest ops@example.org`` or ``logger -t voharvest``.

Both may be set; with neither, alerts are only logged.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
import subprocess
import urllib.request
from collections.abc import Mapping
from typing import Any

WEBHOOK_ENV = "VOHARVEST_ALERT_WEBHOOK"
COMMAND_ENV = "VOHARVEST_ALERT_COMMAND"
#: Seconds a webhook or command may take before delivery counts as failed.
DELIVERY_TIMEOUT_S = 30


class AlertDeliveryError(RuntimeError):
    """The webhook or the command did not accept an alert."""


@dataclasses.dataclass(frozen=True)
class Alert:
    """What broke: one alert per failed step / check, or per stale source.

    Parameters
    ----------
    kind
        ``run_failure`` or ``freshness``.
    source
        Source name (``nustar``...), or ``publish`` / ``ivoa`` for steps after the sources.
    partition
        Snapshot date of the failed run (``None`` for freshness alerts).
    where
        The failed step or check (``raw/nustar_raw``, ``core/nustar_core:not_empty``), or the stale
        asset.
    error
        One line: the step's failure description (source, URL, archive record, row, column) or why
        the source is stale.
    run_id
        The failed run, if any.
    """

    kind: str
    source: str
    partition: str | None
    where: str
    error: str
    run_id: str | None = None

    @property
    def text(self) -> str:
        """The alert as one line for a chat message, a mail subject or a log."""
        when = f" {self.partition}" if self.partition else ""
        run = f" (run {self.run_id})" if self.run_id else ""
        label = "FAILED" if self.kind == "run_failure" else "STALE"
        return f"voharvest {self.source}{when} {label} at {self.where}: {self.error}{run}"

    def as_json(self) -> dict[str, Any]:
        """JSON body of the webhook: ``text`` plus every field."""
        return {"text": self.text, **dataclasses.asdict(self)}


@dataclasses.dataclass(frozen=True)
class AlertRoute:
    """Where alerts go: a webhook URL and/or a command (either may be ``None``)."""

    webhook_url: str | None = None
    command: str | None = None
    timeout_s: float = DELIVERY_TIMEOUT_S

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AlertRoute:
        """The route configured by ``VOHARVEST_ALERT_WEBHOOK`` / ``VOHARVEST_ALERT_COMMAND``.

        Parameters
        ----------
        env
            Environment to read (default ``os.environ``, read at each call so that a changed
            environment applies without reloading the code location).

        Returns
        -------
        AlertRoute
            Empty fields for unset or blank variables.
        """
        env = os.environ if env is None else env
        return cls(
            webhook_url=(env.get(WEBHOOK_ENV) or "").strip() or None,
            command=(env.get(COMMAND_ENV) or "").strip() or None,
        )

    @property
    def configured(self) -> bool:
        """Whether any destination is set."""
        return bool(self.webhook_url or self.command)

    def send(self, alert: Alert) -> list[str]:
        """Deliver ``alert`` to every configured destination.

        Parameters
        ----------
        alert
            The alert.

        Returns
        -------
        list of str
            The destinations that accepted it (``webhook <url>``, ``command <argv0>``).

        Raises
        ------
        AlertDeliveryError
            When a destination refused it (HTTP status >= 300, connection error, non-zero exit,
            timeout); the others are still tried first.
        """
        delivered, errors = [], []
        if self.webhook_url:
            try:
                self._post(alert)
                delivered.append(f"webhook {self.webhook_url}")
            except (OSError, ValueError) as exc:
                errors.append(f"webhook {self.webhook_url}: {exc}")
        if self.command:
            try:
                self._run(alert)
                delivered.append(f"command {shlex.split(self.command)[0]}")
            except (OSError, ValueError, subprocess.SubprocessError) as exc:
                errors.append(f"command {self.command!r}: {exc}")
        if errors:
            raise AlertDeliveryError("; ".join(errors))
        return delivered

    def _post(self, alert: Alert) -> None:
        body = json.dumps(alert.as_json()).encode()
        request = urllib.request.Request(
            self.webhook_url or "", data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        with urllib.request.urlopen(request, timeout=self.timeout_s) as resp:  # noqa: S310 - operator's URL
            if resp.status >= 300:
                raise ValueError(f"HTTP {resp.status}")

    def _run(self, alert: Alert) -> None:
        fields = {f"VOHARVEST_ALERT_{k.upper()}": "" if v is None else str(v) for k, v in alert.as_json().items()}
        done = subprocess.run(  # noqa: S603 - the operator's own command, no shell
            shlex.split(self.command or ""),
            input=alert.text + "\n",
            text=True,
            capture_output=True,
            timeout=self.timeout_s,
            env={**os.environ, **fields},
            check=False,
        )
        if done.returncode != 0:
            raise ValueError(f"exit {done.returncode}: {done.stderr.strip()[-500:]}")


def step_failure_text(data: Any) -> str:
    """A Dagster step failure as one line: the Failure's description, else the user error's class and message.

    Parameters
    ----------
    data
        A ``StepFailureData`` (``error`` and ``user_failure_data`` of a ``STEP_FAILURE`` event).

    Returns
    -------
    str
        ``description`` of a raised :class:`dagster.Failure` (the assets put source, URL, archive
        record, row and column in it); for any other exception the user code's own error (Dagster
        wraps it in an execution error), as ``Class: message``.
    """
    user = getattr(data, "user_failure_data", None)
    if user is not None and (user.description or "").strip():
        return " ".join(user.description.split())
    error = getattr(data, "error", None)
    while error is not None and error.cls_name == "DagsterExecutionStepExecutionError" and error.cause is not None:
        error = error.cause
    if error is None:
        return "failed (no error recorded)"
    return " ".join(f"{error.cls_name}: {error.message.strip()}".split())


def source_of(path: str) -> str:
    """The source a step, asset or check belongs to; else its layer.

    Parameters
    ----------
    path
        An asset key or step key (``raw/nustar_raw``, ``raw__nustar_raw``), optionally followed by
        ``:<check name>`` (``core/nustar_core:not_empty``).

    Returns
    -------
    str
        ``nustar`` for the per-source assets (``<layer>/<source>_<layer>``); ``publish`` for the
        snapshot, else the first part of the key (``out`` for the IVOA tables).
    """
    parts = path.split(":", 1)[0].replace("__", "/").split("/")
    if len(parts) >= 2 and parts[0] in ("raw", "core") and parts[1].endswith(f"_{parts[0]}"):
        return parts[1].removesuffix(f"_{parts[0]}")
    return "publish" if "publish" in parts else parts[0]
