"""Issue 14: a failing harvest and a stale source reach the operator through the one alert route.

A real failing ``voharvest harvest`` (a raw-archive record that is not JSON) runs into a SQLite
instance under a temporary ``DAGSTER_HOME``; the run-failure sensor is then evaluated against that
instance the way the daemon does it (``evaluate_tick`` with the cursor of the previous tick), and
the alert must arrive on an HTTP receiver bound to 127.0.0.1 and through a command. The freshness
sensor is evaluated the same way. Nothing is mocked: the HTTP server, the command and the Dagster
instance are real.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dagster as dg
import pytest

from pipelines.alerts import COMMAND_ENV, WEBHOOK_ENV, Alert, AlertDeliveryError, AlertRoute
from pipelines.cli import main
from pipelines.partitions import cadence, freshness_window
from pipelines.sensors import build_freshness_sensor, build_run_failure_sensor
from scrapers.recordings import build_from_sources
from scrapers.registry import all_sources, select_sources

REPO = Path(__file__).resolve().parent.parent
DAY = dt.date(2025, 9, 5)


class Receiver:
    """An HTTP server on 127.0.0.1 keeping every JSON body POSTed to it."""

    def __init__(self, status: int = 200) -> None:
        received: list[dict] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append(json.loads(body))
                self.send_response(status)
                self.end_headers()

            def log_message(self, *_: object) -> None:
                pass

        self.received = received
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "dagster_home"
    monkeypatch.setenv("DAGSTER_HOME", str(path))
    return path


def test_cadences_come_from_the_registry() -> None:
    sources = all_sources()
    # hand-counted from the cron strings: every 6 h, daily 06:00, Mondays, the 1st of each month
    assert cadence("0 */6 * * *") == dt.timedelta(hours=6)
    assert cadence("0 6 * * *") == dt.timedelta(days=1)
    assert cadence("0 7 * * 1") == dt.timedelta(days=7)
    assert cadence("0 3 1 * *") == dt.timedelta(days=31)  # January, March... (31-day months)
    grace = dt.timedelta(hours=2)
    assert freshness_window(sources["xmm_newton"]) == dt.timedelta(hours=6) + grace
    assert freshness_window(sources["nustar"]) == dt.timedelta(days=1) + grace
    assert freshness_window(sources["eso"]) == dt.timedelta(days=7) + grace
    assert freshness_window(sources["integral"]) == dt.timedelta(days=31) + grace
    assert freshness_window(sources["hess_dl3_dr1"]) is None  # archive-only: never stale


def test_failed_harvest_alert_reaches_webhook_and_command(
    home: Path, tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = tmp_path / "replay"
    build_from_sources(REPO / "recordings", archive, select_sources(["nustar"]).values(), DAY)
    record = sorted((archive / "records").glob("*.json"))[0]
    url = json.loads(record.read_text())["url"]
    record.write_text("not json")
    got = tmp_path / "command.txt"
    monkeypatch.setenv(WEBHOOK_ENV, receiver.url)
    script = f"import sys, os; open({str(got)!r}, 'w').write(sys.stdin.read() + os.environ['VOHARVEST_ALERT_SOURCE'])"
    monkeypatch.setenv(COMMAND_ENV, f"{sys.executable} -c {json.dumps(script)}")
    sensor = build_run_failure_sensor()
    home.mkdir()
    shutil.copyfile(REPO / "dagster.yaml", home / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        # the daemon's first tick only records where the event log stands
        first = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, sensor_name=sensor.name))
        assert receiver.received == []
        code = main(["harvest", "--replay", str(archive), "--source", "nustar", "--output", str(tmp_path / "out")])
        assert code == 1
        [run] = instance.get_runs()
        assert run.status == dg.DagsterRunStatus.FAILURE
        context = dg.build_sensor_context(instance=instance, sensor_name=sensor.name, cursor=first.cursor)
        second = sensor.evaluate_tick(context)
        assert len(receiver.received) == 1, receiver.received
        alert = receiver.received[0]
        assert (alert["kind"], alert["source"], alert["partition"], alert["where"], alert["run_id"]) == (
            "run_failure",
            "nustar",
            DAY.isoformat(),
            "raw/nustar_raw",
            run.run_id,
        )
        assert url in alert["error"] and str(record) in alert["error"] and "not JSON" in alert["error"]
        assert alert["text"].startswith(f"voharvest nustar {DAY.isoformat()} FAILED at raw/nustar_raw: ")
        assert got.read_text() == alert["text"] + "\nnustar"
        # the next tick does not repeat it
        sensor.evaluate_tick(dg.build_sensor_context(instance=instance, sensor_name=sensor.name, cursor=second.cursor))
        assert len(receiver.received) == 1


def test_freshness_sensor_alerts_once_per_stale_source(home: Path, tmp_path: Path, receiver: Receiver) -> None:
    home.mkdir()
    shutil.copyfile(REPO / "dagster.yaml", home / "dagster.yaml")
    sources = all_sources()
    sensor = build_freshness_sensor(sources, route=lambda: AlertRoute(webhook_url=receiver.url))
    with dg.DagsterInstance.from_config(str(home)) as instance:
        # a fresh instance is not stale at once: the age of "never harvested" counts from the first tick
        tick = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, sensor_name=sensor.name))
        assert receiver.received == []
        # NuSTAR harvested now; the sensor first saw the instance 8 days ago: every other scheduled source is stale
        instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=["core", "nustar_core"]))
        state = json.loads(tick.cursor)
        state["first_seen"] -= dt.timedelta(days=8).total_seconds()
        tick = sensor.evaluate_tick(
            dg.build_sensor_context(instance=instance, sensor_name=sensor.name, cursor=json.dumps(state))
        )
        by_source = {a["source"]: a for a in receiver.received}
        # 8 days > XMM-Newton 8 h and ESO 7 d + 2 h; < INTEGRAL 31 d + 2 h; NuSTAR is fresh; H.E.S.S. has no cadence
        assert sorted(by_source) == ["eso", "xmm_newton"]
        assert by_source["eso"]["where"] == "core/eso_core" and by_source["eso"]["kind"] == "freshness"
        assert "never harvested; expected at least every 7.1 d" in by_source["eso"]["error"]
        assert "STALE" in by_source["xmm_newton"]["text"]
        # the same stale episode is not alerted again
        sensor.evaluate_tick(dg.build_sensor_context(instance=instance, sensor_name=sensor.name, cursor=tick.cursor))
        assert len(receiver.received) == 2


def test_a_refused_alert_is_an_error_naming_the_destination(tmp_path: Path) -> None:
    refusing = Receiver(status=500)
    try:
        route = AlertRoute(webhook_url=refusing.url, command=f"{sys.executable} -c 'raise SystemExit(3)'")
        with pytest.raises(AlertDeliveryError) as exc:
            route.send(Alert("run_failure", "nustar", "2025-09-05", "raw/nustar_raw", "boom"))
        assert refusing.url in str(exc.value) and "500" in str(exc.value) and "exit 3" in str(exc.value)
        assert len(refusing.received) == 1
    finally:
        refusing.close()
    assert AlertRoute.from_env({WEBHOOK_ENV: " ", COMMAND_ENV: ""}).configured is False


def test_every_step_and_check_of_the_graph_names_its_source() -> None:
    from pipelines.alerts import source_of
    from pipelines.assets import core_key, raw_key, source_key
    from pipelines.definitions import build_definitions

    defs = build_definitions()
    graph = defs.resolve_asset_graph()
    sources = all_sources()
    for name, source in sources.items():
        for key in (raw_key(source), core_key(source)):
            # the asset key, the step key Dagster derives from it, and a check on it all name the source
            step = graph.get(key).assets_def.node_def.name
            assert [source_of(key.to_user_string()), source_of(step), source_of(f"{key.to_user_string()}:x")] == [
                name,
                name,
                name,
            ], (key, step)
            # the label the lineage graph prints (the key's last part) holds the source's name, untruncated even
            # zoomed out (dagster-webserver's AssetNode.tsx: withMiddleTruncation(displayName, {maxLength: 18}))
            assert key.path[-1].startswith(name) and len(key.path[-1]) <= 18, key
    assert source_of("out/ivoa/obsplan:schema") == "out" and source_of("out__publish__snapshot") == "publish"
    with pytest.raises(ValueError, match="layer 'out'"):
        source_key("out", "nustar")
