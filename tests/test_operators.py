"""Issue 14: the CLI records into the instance the UI shows; closing summary; clear date errors; backfill.

Every harvest is a real in-process Dagster run of the bundled NuSTAR recordings (real rows, see
recordings/nustar/PROVENANCE.md) into a SQLite instance under a temporary ``DAGSTER_HOME`` (holding a
copy of the repository's ``dagster.yaml``). The instance is then read back through Dagster's own
``DagsterInstance`` API, which is what the UI's GraphQL layer queries.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq
import pytest

from pipelines.cli import HOST_TAG, PID_TAG, main, open_instance, parser
from pipelines.partitions import partition_range
from scrapers.recordings import build_from_sources
from scrapers.registry import all_sources, select_sources

REPO = Path(__file__).resolve().parent.parent
DAY = dt.date(2025, 9, 5)  # the recordings' as-of date
SNAPSHOT_KEY = dg.AssetKey(["out", "publish", "snapshot"])


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Replay archives of the NuSTAR recordings for two consecutive dates, as a live harvest leaves them."""
    tmp = tmp_path_factory.mktemp("operators")
    sources = select_sources(["nustar"]).values()
    for day in (DAY, DAY + dt.timedelta(days=1)):
        build_from_sources(REPO / "recordings", tmp / "raw_archive" / day.isoformat(), sources, day)
    return tmp


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh DAGSTER_HOME with the project's dagster.yaml (what ``voharvest`` creates when it is missing)."""
    path = tmp_path / "dagster_home"
    monkeypatch.setenv("DAGSTER_HOME", str(path))
    return path


def _harvest(work: Path, output: Path, day: dt.date, *extra: str) -> int:
    archive = work / "raw_archive" / day.isoformat()
    return main(["harvest", "--replay", str(archive), "--source", "nustar", "--output", str(output), *extra])


def test_cli_harvest_is_recorded_in_the_shared_instance(
    work: Path, home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _harvest(work, tmp_path / "out", DAY) == 0
    captured = capsys.readouterr()
    snap = tmp_path / "out" / "snapshots" / DAY.isoformat()
    assert captured.out.strip().splitlines()[-1] == str(snap)
    # the home was created with the project's configuration
    assert (home / "dagster.yaml").read_text() == (REPO / "dagster.yaml").read_text()
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert not instance.nux_enabled and not instance.telemetry_enabled
        runs = instance.get_runs()
        assert len(runs) == 1
        run = runs[0]
        assert (run.job_name, run.status) == ("harvest", dg.DagsterRunStatus.SUCCESS)
        assert run.tags["dagster/partition"] == DAY.isoformat()
        assert run.tags[PID_TAG] == str(os.getpid())
        # every asset of the run materialised the partition (what the UI's partition bar shows)
        for key in (SNAPSHOT_KEY, dg.AssetKey(["raw", "nustar_raw"]), dg.AssetKey(["out", "ivoa", "obsplan"])):
            assert instance.get_materialized_partitions(key) == {DAY.isoformat()}, key
        event = instance.get_latest_materialization_event(SNAPSHOT_KEY)
        assert event.run_id == run.run_id
        assert event.asset_materialization.metadata["path"].value == str(snap)
        # the blocking checks' results are in the instance, attached to that run
        for key, check in [(("out", "ivoa", "obsplan"), "schema"), (("core", "nustar_core"), "not_empty")]:
            history = instance.event_log_storage.get_asset_check_execution_history(
                dg.AssetCheckKey(dg.AssetKey(list(key)), check), limit=1
            )
            assert [(h.run_id, h.status.value) for h in history] == [(run.run_id, "SUCCEEDED")], (key, check)
        # and its logs (the progress the CLI printed is Dagster's event log)
        kinds = {e.dagster_event.event_type_value for e in instance.all_logs(run.run_id) if e.dagster_event}
        wanted = ("RUN_SUCCESS", "STEP_SUCCESS", "ASSET_MATERIALIZATION", "ASSET_CHECK_EVALUATION")
        assert {dg.DagsterEventType[name].value for name in wanted} <= kinds


def test_summary_rows_per_table_and_facility_then_unchanged(
    work: Path, home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "out"
    assert _harvest(work, output, DAY) == 0
    first = capsys.readouterr().err.splitlines()
    snap = output / "snapshots" / DAY.isoformat()
    plan = pq.read_table(snap / "obsplan.parquet").to_pandas()
    nustar = int((plan["facility_name"] == "NuSTAR").sum())
    assert nustar == len(plan) == 11  # independent count from the published table
    assert f"snapshot {DAY.isoformat()}: {snap} (published)" in first
    assert f"  obsplan: {len(plan)} rows (NuSTAR {nustar})" in first
    assert "  changes: first snapshot (added 11)" in first
    # the next day replays the same pages: nothing changed, and the summary says so
    nxt = DAY + dt.timedelta(days=1)
    assert _harvest(work, output, nxt) == 0
    second = capsys.readouterr().err.splitlines()
    assert f"  unchanged since {DAY.isoformat()}" in second
    # the same date again, same raw bytes: recognised in the publish step, nothing rebuilt
    before = {p: p.stat().st_mtime_ns for p in (output / "snapshots" / nxt.isoformat()).rglob("*")}
    assert _harvest(work, output, nxt) == 0
    third = capsys.readouterr().err.splitlines()
    assert f"snapshot {nxt.isoformat()}: {output / 'snapshots' / nxt.isoformat()} (unchanged)" in third, third
    assert {p: p.stat().st_mtime_ns for p in (output / "snapshots" / nxt.isoformat()).rglob("*")} == before


def test_ephemeral_leaves_no_instance(work: Path, home: Path, tmp_path: Path) -> None:
    assert _harvest(work, tmp_path / "out", DAY, "--ephemeral") == 0
    assert not home.exists()


def test_a_failed_source_is_one_line_naming_source_url_and_archive_record(
    work: Path, home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    archive = tmp_path / "broken"
    shutil.copytree(work / "raw_archive" / DAY.isoformat(), archive)
    record = sorted((archive / "records").glob("*.json"))[0]
    url = json.loads(record.read_text())["url"]
    record.write_text("not json")
    code = main(["harvest", "--replay", str(archive), "--source", "nustar", "--output", str(tmp_path / "o")])
    assert code == 1
    err = capsys.readouterr().err
    assert f"{DAY.isoformat()} FAILED -- nothing published" in err
    failed = [line for line in err.splitlines() if line.startswith("  raw/nustar_raw: ")]
    assert len(failed) == 1, err
    assert "nustar" in failed[0] and url in failed[0] and str(record) in failed[0] and "not JSON" in failed[0]
    assert "Traceback" not in err and not (tmp_path / "o" / "snapshots").exists()
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert [r.status for r in instance.get_runs()] == [dg.DagsterRunStatus.FAILURE]


def test_dates_outside_the_partitions_or_the_archive_are_one_line(
    work: Path, home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, last = partition_range()
    assert first == dt.date(2025, 1, 1) and last == dt.datetime.now(dt.UTC).date()
    archive = str(work / "raw_archive" / DAY.isoformat())
    out = ["--output", str(tmp_path / "o")]
    assert main(["harvest", "--replay", archive, "--as-of", "2024-12-31", *out]) == 2
    assert capsys.readouterr().err.strip() == (
        f"voharvest harvest: 2024-12-31 is outside the snapshot dates 2025-01-01 .. {last.isoformat()} "
        "(daily partitions, UTC)"
    )
    too_late = (last + dt.timedelta(days=1)).isoformat()
    assert main(["harvest", "--as-of", too_late, *out]) == 2
    assert f"{too_late} is outside the snapshot dates" in capsys.readouterr().err
    assert main(["harvest", "--replay", archive, "--as-of", "2025-09-07", *out]) == 1
    err = capsys.readouterr().err.strip()
    assert err == f"voharvest harvest: replay archive {archive} is for 2025-09-05, not 2025-09-07 -- nothing published"
    with pytest.raises(SystemExit) as exc:
        main(["harvest", "--as-of", "2025-13-01"])
    assert exc.value.code == 2
    assert "argument --as-of: '2025-13-01' is not a date: expected YYYY-MM-DD" in capsys.readouterr().err
    assert not home.exists()  # refused before any Dagster run


def test_backfill_harvests_every_archived_date(
    work: Path, home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "out"
    code = main(
        ["backfill", "--from", "2025-09-04", "--to", "2025-09-06", "--source", "nustar"]
        + ["--archive-dir", str(work / "raw_archive"), "--output", str(output)]
    )
    assert code == 0
    err = capsys.readouterr().err
    assert "no raw archive in" in err and "1 date(s), skipped: 2025-09-04" in err
    assert "backfill: 2 of 2 date(s) published" in err
    assert sorted(p.name for p in (output / "snapshots").iterdir()) == ["2025-09-05", "2025-09-06"]
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert instance.get_materialized_partitions(SNAPSHOT_KEY) == {"2025-09-05", "2025-09-06"}
        assert len(instance.get_runs()) == 2


def test_a_killed_cli_run_is_marked_failed(home: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    with open_instance(ephemeral=False) as (instance, _):
        run = instance.add_run(
            dg.DagsterRun(
                job_name="harvest",
                status=dg.DagsterRunStatus.STARTED,
                tags={PID_TAG: str(dead.pid), HOST_TAG: socket.gethostname()},
            )
        )
        alive = instance.add_run(
            dg.DagsterRun(
                job_name="harvest",
                status=dg.DagsterRunStatus.STARTED,
                tags={PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()},
            )
        )
    with open_instance(ephemeral=False) as (instance, _):
        assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.FAILURE
        assert instance.get_run_by_id(alive.run_id).status == dg.DagsterRunStatus.STARTED


def _subcommands() -> dict[str, object]:
    action = next(a for a in parser()._actions if a.dest == "command")
    return dict(action.choices)


@pytest.mark.parametrize(
    "name", ["harvest", "backfill", "validate", "diff", "list", "build-replay", "import-gadf", "probe", "ui"]
)
def test_every_option_is_explained(name: str) -> None:
    sub = _subcommands()[name]
    text = sub.format_help()
    assert "``" not in text and ":func:" not in text
    for action in sub._actions:
        if action.option_strings and action.dest != "help":
            assert (action.help or "").strip(), f"{name} {action.option_strings[0]} has no help"
    if name in ("harvest", "backfill"):
        assert all(source in text for source in all_sources())
    if name == "build-replay":
        assert "{" + ",".join(all_sources()) + "}" in text.replace("\n", "").replace(" ", "")


def test_definitions_replay_a_past_date_from_its_raw_archive(work: Path, tmp_path: Path) -> None:
    """What a UI backfill runs: the code location's live fetcher serves past dates from raw_archive/<date>/."""
    from pipelines.definitions import build_definitions
    from pipelines.resources import FetcherResource, OutputStore

    fetcher = FetcherResource(archive_root=str(work / "raw_archive"))
    assert not fetcher.is_replay
    defs = build_definitions(select_sources(["nustar"]), fetcher=fetcher, store=OutputStore(root=str(tmp_path / "out")))
    job = defs.resolve_job_def("harvest")
    result = job.execute_in_process(partition_key=DAY.isoformat(), instance=dg.DagsterInstance.ephemeral())
    assert result.success
    assert (tmp_path / "out" / "snapshots" / DAY.isoformat() / "manifest.json").is_file()
    # a past date without an archive is refused with the way out named
    missing = job.execute_in_process(
        partition_key="2025-09-01", instance=dg.DagsterInstance.ephemeral(), raise_on_error=False
    )
    assert not missing.success
    [failure] = [e for e in missing.all_events if e.event_type_value == "STEP_FAILURE"]
    assert "live harvest of 2025-09-01 refused" in failure.step_failure_data.user_failure_data.description


def test_voharvest_ui_serves_the_shared_instance_without_warnings(tmp_path: Path) -> None:
    """``voharvest ui``: webserver + daemon on DAGSTER_HOME, no warning printed, SIGTERM stops both."""
    from tests.ui.browser import LOCAL, group_members, wait_until

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER_", "VOHARVEST_"))}
    env.update(DAGSTER_HOME=str(home), PYTHONPATH=str(REPO))
    log = tmp_path / "ui.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pipelines.cli", "ui", "--port", str(port)],
            cwd=REPO,  # the repository root, whose dagster.yaml `dagster dev` would warn about
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    children: list[int] = []
    try:

        def answering() -> bool:
            assert proc.poll() is None, log.read_text()
            try:
                with LOCAL.open(f"http://127.0.0.1:{port}/server_info", timeout=5) as resp:
                    return resp.status == 200
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                return False

        wait_until(answering, 120, "voharvest ui to answer", interval_s=0.5)
        children = [int(p) for p in Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()]
        assert len(children) == 2  # dagster-webserver and dagster-daemon
        body = json.dumps({"query": "{ shouldShowNux }"}).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/graphql", data=body, headers={"Content-Type": "application/json"}
        )
        with LOCAL.open(request, timeout=30) as resp:
            assert json.load(resp)["data"] == {"shouldShowNux": False}
        wait_until(lambda: "SensorDaemon" in log.read_text(), 120, "the daemon's sensor loop", interval_s=0.5)
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
    assert code == 0, log.read_text()
    assert [group_members(pid) for pid in children] == [[], []]
    text = log.read_text()
    assert (home / "dagster.yaml").is_file()
    assert "warn" not in text.lower() and "superseded" not in text.lower(), text
