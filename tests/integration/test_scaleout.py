"""Issue 14: scale-out proven, not just documented -- PostgreSQL instance storage + Celery workers on Redis.

What an operator runs on more than one machine (deploy/README.md), run here for real on 127.0.0.1:

* the instance is ``deploy/dagster.yaml`` unchanged: runs and event logs in PostgreSQL (``dagster-postgres``,
  a fresh database in the suite's throw-away PostgreSQL 15 cluster of ``tests/pg.py``), step outputs under a
  shared ``VOHARVEST_DAGSTER_STORAGE``;
* the broker is a Debian ``redis-server`` started by this test on a free port;
* two Celery workers (``dagster-celery worker start ... --concurrency=1``: two worker processes) execute
  the steps (``VOHARVEST_EXECUTOR=celery``);
* the daily job (``dagster job execute ... -j harvest``) publishes 2025-09-05, then ``dagster-daemon`` runs a
  three-date backfill (``dagster job backfill ... --partitions 2025-09-06,2025-09-07,2025-09-08``).

Raw archives of the four dates are built from the bundled recordings (real rows; NuSTAR withdraws one
observation on 09-07 and moves one on 09-08, so the snapshots differ from day to day). The same archives
are harvested in-process (Dagster's default executor, an ephemeral instance) into another output root:
every published file, ``manifest.json`` first, must be byte-identical. Nothing is mocked; every server is
stopped at the end and no process of the test survives it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scrapers.recordings import build_from_sources
from scrapers.registry import all_sources
from tests.pg import PgCluster, _free_port
from tests.ui.browser import stop_group

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
DAILY = dt.date(2025, 9, 5)
BACKFILL = [dt.date(2025, 9, d) for d in (6, 7, 8)]
DATES = [DAILY, *BACKFILL]
WITHDRAWN, MOVED = "60061013002", "31101012004"
NUSTAR_FILES = ("schedule_2025-09_reconstructed.html", "obsloc_short_range_2025-09_reconstructed.txt")
#: Bounds of the slow steps (2 loaded cores; every wait polls a condition).
RUN_TIMEOUT_S = 600
START_TIMEOUT_S = 120

#: The commands of deploy/README.md, as run here (``{...}``: the values of this test's environment).
WORKER = [
    "dagster-celery",
    *("worker", "start", "-A", "dagster_celery.app", "-y", "deploy/celery-worker.yaml", "-n", "{name}"),
    *("--", "--concurrency=1"),
]
DAILY_JOB = [
    "dagster",
    *("job", "execute", "-m", "pipelines.definitions", "-j", "harvest"),
    *("--tags", json.dumps({"dagster/partition": DAILY.isoformat()})),
]
DAEMON = ["dagster-daemon", "run", "-m", "pipelines.definitions"]
BACKFILL_JOB = [
    "dagster",
    *("job", "backfill", "-m", "pipelines.definitions", "-j", "harvest"),
    *("--partitions", ",".join(d.isoformat() for d in BACKFILL), "--noprompt"),
]


def _recordings(tmp: Path, day: dt.date) -> Path:
    """The bundled recordings as the schedule pages read on ``day`` (changes are cumulative)."""
    rec = tmp / f"recordings-{day.isoformat()}"
    for source in all_sources():
        shutil.copytree(ROOT / "recordings" / source, rec / source)
    for name in NUSTAR_FILES:
        path = rec / "nustar" / name
        lines = path.read_text().splitlines(keepends=True)
        if day >= dt.date(2025, 9, 7):
            lines = [line for line in lines if WITHDRAWN not in line]
        if day >= dt.date(2025, 9, 8):
            lines = [line.replace("2025:257:04:35:05", "2025:257:06:35:05") for line in lines]
        path.write_text("".join(lines))
    return rec


def _hashes(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _marked(marker: str) -> list[int]:
    """Processes whose environment carries this test's marker (whatever their process group)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if f"VOHARVEST_SCALEOUT_TEST={marker}".encode() in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
    return found


@dataclasses.dataclass
class Cluster:
    """The running pieces of the scale-out deployment and what they produced."""

    work: Path
    env: dict[str, str]
    marker: str
    procs: dict[str, subprocess.Popen[bytes]] = dataclasses.field(default_factory=dict)
    outputs: dict[str, str] = dataclasses.field(default_factory=dict)
    seconds: dict[str, float] = dataclasses.field(default_factory=dict)

    def command(self, argv: list[str], **values: str) -> list[str]:
        """A documented command with this deployment's values; the executable from the test's venv."""
        filled = list(argv)
        for key, value in values.items():
            filled = [a.replace(f"{{{key}}}", value) for a in filled]
        return [str(BIN / filled[0]), *filled[1:]]

    def start(self, name: str, argv: list[str], ready: str) -> None:
        """Start a long-running process in its own process group; wait for ``ready`` in its output."""
        log = self.work / f"{name}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                argv,
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.procs[name] = proc
        deadline = time.monotonic() + START_TIMEOUT_S
        while ready not in log.read_text(errors="replace"):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"{name} did not start ({' '.join(argv)}), exit {proc.poll()}:\n{self.tail(name)}")
            time.sleep(0.25)

    def run(self, name: str, argv: list[str]) -> str:
        """Run a command to completion (its own process group); its output, or a failure showing it."""
        log = self.work / f"{name}.log"
        started = time.monotonic()
        with log.open("wb") as out:
            proc = subprocess.Popen(
                argv, cwd=ROOT, env=self.env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
            )
            try:
                code = proc.wait(timeout=RUN_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                code = proc.wait()
        self.seconds[name] = time.monotonic() - started
        text = log.read_text(errors="replace")
        if code != 0:
            pytest.fail(f"{' '.join(argv)} exited {code}:\n{text[-6000:]}\n{self.tail('worker-1')}")
        self.outputs[name] = text
        return text

    def tail(self, name: str, chars: int = 4000) -> str:
        log = self.work / f"{name}.log"
        return f"--- {log.name} ---\n" + (log.read_text(errors="replace")[-chars:] if log.is_file() else "(none)")

    def stop(self) -> list[int]:
        """Stop every process group (newest first), then anything else carrying the marker; the survivors."""
        for proc in reversed(list(self.procs.values())):
            stop_group(proc, grace_s=20)
        for pid in _marked(self.marker):  # e.g. a code server that left the daemon's process group
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        while _marked(self.marker) and time.monotonic() < deadline:
            time.sleep(0.2)
        for pid in _marked(self.marker):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.5)
        return _marked(self.marker)


@contextlib.contextmanager
def _instance(env: dict[str, str]) -> Iterator[Any]:
    """The deployment's instance opened from this process (its variables set only meanwhile)."""
    import dagster as dg

    keys = ("DAGSTER_HOME", "VOHARVEST_DAGSTER_PG_URL", "VOHARVEST_DAGSTER_STORAGE")
    with pytest.MonkeyPatch.context() as mp:
        for key in keys:
            mp.setenv(key, env[key])
        with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
            yield instance


def _wait_for_backfill_runs(env: dict[str, str], cluster: Cluster) -> list[Any]:
    """The backfill's runs once all have finished (the daemon dequeues and launches them)."""
    import dagster as dg

    finished = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}
    deadline = time.monotonic() + RUN_TIMEOUT_S
    started = time.monotonic()
    with _instance(env) as instance:
        while True:
            runs = [r for r in instance.get_runs() if "dagster/backfill" in r.tags]
            if len(runs) == len(BACKFILL) and all(r.status in finished for r in runs):
                cluster.seconds["backfill runs"] = time.monotonic() - started
                return sorted(runs, key=lambda r: r.tags["dagster/partition"])
            if time.monotonic() > deadline or cluster.procs["daemon"].poll() is not None:
                states = [(r.tags.get("dagster/partition"), r.status.value) for r in runs]
                pytest.fail(f"backfill runs not finished: {states}\n{cluster.tail('daemon')}")
            time.sleep(1)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Raw archives of the four dates, and their snapshots harvested in-process (Dagster's default executor)."""
    import dagster as dg

    from pipelines.definitions import build_definitions
    from pipelines.resources import FetcherResource, OutputStore

    tmp = tmp_path_factory.mktemp("scaleout")
    archives = tmp / "raw_archive"
    for day in DATES:
        build_from_sources(_recordings(tmp, day), archives / day.isoformat(), all_sources().values(), day)
    output = tmp / "in_process"
    defs = build_definitions(fetcher=FetcherResource(archive_root=str(archives)), store=OutputStore(root=str(output)))
    with dg.DagsterInstance.ephemeral() as instance:
        for day in DATES:
            result = defs.resolve_job_def("harvest").execute_in_process(
                partition_key=day.isoformat(), instance=instance, raise_on_error=False
            )
            assert result.success, f"in-process harvest of {day} failed"
    return {"tmp": tmp, "archives": archives, "output": output}


@pytest.fixture(scope="module")
def cluster(postgres: PgCluster, reference: dict[str, Path]) -> Iterator[Cluster]:
    """Redis, two Celery workers and dagster-daemon over a PostgreSQL instance; the daily job and the backfill run."""
    work = reference["tmp"] / "cluster"
    home = work / "dagster_home"
    home.mkdir(parents=True)
    shutil.copyfile(ROOT / "deploy" / "dagster.yaml", home / "dagster.yaml")
    redis_port = _free_port()
    marker = uuid.uuid4().hex
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VOHARVEST_", "DAGSTER_"))}
    env.update(
        DAGSTER_HOME=str(home),
        VOHARVEST_DAGSTER_PG_URL=f"postgresql+psycopg2://{postgres.user}@{postgres.host}:{postgres.port}/"
        f"{postgres.new_database()}",
        VOHARVEST_DAGSTER_STORAGE=str(work / "dagster_storage"),
        VOHARVEST_EXECUTOR="celery",
        VOHARVEST_CELERY_BROKER=f"redis://127.0.0.1:{redis_port}/0",
        VOHARVEST_CELERY_BACKEND=f"redis://127.0.0.1:{redis_port}/1",
        VOHARVEST_ARCHIVE_DIR=str(reference["archives"]),
        VOHARVEST_OUTPUT_DIR=str(work / "output"),
        VOHARVEST_VISIBILITY_DAYS=os.environ.get("VOHARVEST_VISIBILITY_DAYS", "0"),
        VOHARVEST_SCALEOUT_TEST=marker,
        PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p),
        # an activated venv: dagster-celery starts `celery` from PATH
        PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    running = Cluster(work=work, env=env, marker=marker)
    redis = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not Path(redis).exists():
        pytest.fail("redis-server not installed (apt-get install -y redis-server; .ci/run does it)")
    try:
        running.start(
            "redis",
            [redis, "--bind", "127.0.0.1", "--port", str(redis_port), "--save", "", "--appendonly", "no"],
            "Ready to accept connections",
        )
        for n in (1, 2):
            running.start(f"worker-{n}", running.command(WORKER, name=f"voharvest-{n}"), " ready.")
        running.run("daily", running.command(DAILY_JOB))
        running.start("daemon", running.command(DAEMON), "Instance is configured with the following daemons")
        running.run("backfill", running.command(BACKFILL_JOB))
        _wait_for_backfill_runs(env, running)
        yield running
    finally:
        left = running.stop()
    assert not left, f"processes of the scale-out test still running: {left}"


def test_daily_job_and_backfill_succeed_on_the_postgres_instance(cluster: Cluster, postgres: PgCluster) -> None:
    import dagster as dg

    with _instance(cluster.env) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        runs = instance.get_runs()
        assert len(runs) == 1 + len(BACKFILL)
        assert {(r.job_name, r.status) for r in runs} == {("harvest", dg.DagsterRunStatus.SUCCESS)}
        assert sorted(r.tags["dagster/partition"] for r in runs) == [d.isoformat() for d in DATES]
        run_ids = {r.run_id for r in runs}
    print(f"scale-out timings (s): {json.dumps({k: round(v, 1) for k, v in cluster.seconds.items()})}")
    # the events are rows of the PostgreSQL database (read with psycopg2, not through Dagster), no SQLite
    db = cluster.env["VOHARVEST_DAGSTER_PG_URL"].rsplit("/", 1)[1]
    with contextlib.closing(postgres.connect(db)) as conn, conn.cursor() as cur:
        cur.execute("SELECT run_id, COUNT(*) FROM event_logs GROUP BY run_id")
        counts = dict(cur.fetchall())
    assert set(counts) >= run_ids and all(counts[r] > 50 for r in run_ids), counts
    assert not list(Path(cluster.env["DAGSTER_HOME"]).rglob("*.db"))


def test_steps_ran_on_both_celery_workers(cluster: Cluster) -> None:
    import dagster as dg

    per_run: dict[str, dict[str, str]] = {}
    with _instance(cluster.env) as instance:
        for run in instance.get_runs():
            placed = {}
            for record in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
                event = record.dagster_event
                if event is None or not (event.message or "").endswith("in celery worker"):
                    continue
                placed[event.step_key] = event.engine_event_data.metadata["Celery worker"].value
            per_run[run.tags["dagster/partition"]] = placed
    sources = all_sources()
    steps = {f"{layer}__{s}_{layer}" for s in sources for layer in ("raw", "core")} | {
        "out_ivoa",
        "out__publish__snapshot",
    }
    for date, placed in per_run.items():
        assert set(placed) == steps, (date, sorted(placed))
    workers = {w for placed in per_run.values() for w in placed.values()}
    assert {w.split("@")[0] for w in workers} == {"voharvest-1", "voharvest-2"}, workers


def test_backfill_runs_one_date_at_a_time_in_date_order(cluster: Cluster) -> None:
    with _instance(cluster.env) as instance:
        runs = sorted(
            (r for r in instance.get_runs() if "dagster/backfill" in r.tags), key=lambda r: r.tags["dagster/partition"]
        )
        stats = [instance.get_run_stats(r.run_id) for r in runs]
    assert len({r.tags["dagster/backfill"] for r in runs}) == 1
    # each date starts after the previous one ended: 09-07's snapshot builds on 09-06's
    for before, after in itertools.pairwise(stats):
        assert after.start_time >= before.end_time, (before, after)


@pytest.mark.parametrize("day", DATES, ids=[d.isoformat() for d in DATES])
def test_snapshots_are_byte_identical_to_in_process(cluster: Cluster, reference: dict[str, Path], day: dt.date) -> None:
    ours = Path(cluster.env["VOHARVEST_OUTPUT_DIR"]) / "snapshots" / day.isoformat()
    theirs = reference["output"] / "snapshots" / day.isoformat()
    assert (ours / "manifest.json").read_bytes() == (theirs / "manifest.json").read_bytes()
    mine, expected = _hashes(ours), _hashes(theirs)
    assert mine == expected
    # the manifest's own hashes hold for the files published by the workers
    manifest = json.loads((ours / "manifest.json").read_text())
    listed = {name: entry["sha256"] for name, entry in manifest["files"].items()}
    assert listed and all(mine[name] == sha for name, sha in listed.items())


def test_the_snapshots_differ_where_the_schedule_changed(cluster: Cluster) -> None:
    snapshots = Path(cluster.env["VOHARVEST_OUTPUT_DIR"]) / "snapshots"
    docs = {d: json.loads((snapshots / d.isoformat() / "changes.json").read_text()) for d in DATES}
    nustar = {
        d: sorted((c["x_change"], c["obs_id"]) for c in doc["changes"] if c["x_source"] == "nustar")
        for d, doc in docs.items()
    }
    assert nustar[dt.date(2025, 9, 6)] == []
    assert nustar[dt.date(2025, 9, 7)] == [("withdrawn", WITHDRAWN)]
    assert nustar[dt.date(2025, 9, 8)] == [("moved", MOVED)]
    assert [docs[d]["previous_snapshot"] for d in BACKFILL] == ["2025-09-05", "2025-09-06", "2025-09-07"]
    assert (Path(cluster.env["VOHARVEST_OUTPUT_DIR"]) / "latest").readlink() == Path("snapshots/2025-09-08")
