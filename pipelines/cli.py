"""``voharvest``: the operator's command line, a thin layer over Dagster and :mod:`models.snapshot`.

``harvest`` (and ``backfill``, one run per archived date) materialises snapshot dates in-process on the
Dagster instance of ``DAGSTER_HOME`` (default ``./.dagster_home``), the one ``ui`` serves, so every CLI
run, its logs, checks and materialisations are visible there (``--ephemeral``: a throw-away instance).
It prints one progress line per step, asset and check on stderr, a closing summary, and the snapshot
path on stdout. ``validate``, ``diff`` and ``list`` never import Dagster; nor does ``probe``
(:mod:`scrapers.probe`: fetch once, run only the parsers, publish nothing).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

DEFAULT_OUTPUT = Path("output")
DEFAULT_REPLAY = Path("recordings/replay")


if TYPE_CHECKING:  # the unchanged check is imported lazily (no heavy imports before it)
    from models.unchanged import Verdict


def _progress_logger() -> Any:
    """A Dagster logger printing one line per step start/failure, materialisation and check."""
    import logging

    import dagster as dg

    marks = {
        "STEP_START": "..",
        "ASSET_MATERIALIZATION": "ok",
        "STEP_FAILURE": "FAILED",
        "STEP_UP_FOR_RETRY": "retry",
    }

    class _Handler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            meta = getattr(record, "dagster_meta", None) or {}
            event = meta.get("dagster_event")
            if event is None:
                return
            kind = event.event_type_value
            if kind == "ASSET_CHECK_EVALUATION":
                data = event.event_specific_data
                mark = "pass" if data.passed else "FAIL"
                line = f"[{mark:>6}] check {data.asset_key.to_user_string()}:{data.check_name}"
                if not data.passed and data.description:
                    line += f" -- {data.description}"
            elif kind in marks:
                what = (
                    event.asset_key.to_user_string() if event.asset_key else (event.step_key or "").replace("__", "/")
                )
                line = f"[{marks[kind]:>6}] {what}"
                if kind == "STEP_FAILURE":
                    error = event.event_specific_data.error
                    line += f" -- {error.message.strip() if error else record.getMessage()}"
            else:
                return
            print(line, file=sys.stderr, flush=True)

    @dg.logger(description="voharvest CLI progress lines")
    def progress(_init_context: Any) -> logging.Logger:
        log = logging.Logger("voharvest.progress", level=logging.DEBUG)
        log.addHandler(_Handler())
        return log

    return progress


#: The project's Dagster home when ``DAGSTER_HOME`` is unset (git-ignored; holds a copy of ``dagster.yaml``).
DEFAULT_DAGSTER_HOME = Path(".dagster_home")
#: The project's instance configuration, copied into a new Dagster home.
PROJECT_DAGSTER_YAML = Path(__file__).resolve().parent.parent / "dagster.yaml"
#: Run tags naming the CLI process that runs a job (to tell a killed CLI's run from a live one).
PID_TAG, HOST_TAG = "voharvest/pid", "voharvest/host"


def dagster_home() -> Path:
    """The Dagster home the CLI and the UI share: ``$DAGSTER_HOME``, else ``./.dagster_home``.

    Returns
    -------
    Path
        An absolute directory holding ``dagster.yaml``; created with the project's configuration
        (SQLite storage under it, telemetry and the sign-up prompt off) when it has none.
    """
    home = Path(os.environ.get("DAGSTER_HOME") or DEFAULT_DAGSTER_HOME).resolve()
    config = home / "dagster.yaml"
    if not config.exists():
        home.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(PROJECT_DAGSTER_YAML, config)
    return home


@contextlib.contextmanager
def open_instance(*, ephemeral: bool) -> Iterator[tuple[Any, str]]:
    """The Dagster instance a CLI harvest records into, and a description of it for the log line.

    ``ephemeral`` gives a throw-away instance in a temporary directory (nothing kept); otherwise the
    instance of :func:`dagster_home`, which the UI (``voharvest ui``) shows. Runs of CLI processes
    that died (killed, power loss) are marked failed first, so they do not look alive for ever.
    """
    import dagster as dg

    if ephemeral:
        with tempfile.TemporaryDirectory(prefix="voharvest-dagster-") as tmp:
            settings = {"telemetry": {"enabled": False}, "nux": {"enabled": False}}
            with dg.DagsterInstance.ephemeral(tempdir=tmp, settings=settings) as instance:
                yield instance, "throw-away instance"
        return
    home = dagster_home()
    with dg.DagsterInstance.from_config(str(home)) as instance:
        _fail_dead_runs(instance)
        yield instance, f"instance {home}"


def _fail_dead_runs(instance: Any) -> None:
    """Mark runs started by a CLI process of this host that no longer exists as failed."""
    import dagster as dg

    host = socket.gethostname()
    records = instance.get_runs(
        filters=dg.RunsFilter(
            statuses=[dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING], tags={HOST_TAG: host}
        )
    )
    for run in records:
        pid = run.tags.get(PID_TAG, "")
        if pid.isdigit() and not _alive(int(pid)):
            instance.report_run_failed(run, message=f"voharvest process {pid} ended without finishing the run")
            if instance.event_log_storage.supports_global_concurrency_limits:
                instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def parse_date(text: str) -> dt.date:
    """An ISO calendar date (``YYYY-MM-DD``) for argparse; a clear message otherwise."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date: expected YYYY-MM-DD, e.g. 2025-09-05") from None


def _check_date(as_of: dt.date, replay: Path | None) -> str | None:
    """Why ``as_of`` cannot be harvested (outside the partitions, or not held by the replay archive), or None."""
    from pipelines.partitions import partition_range
    from scrapers.archive import RawArchive

    first, last = partition_range()
    if not first <= as_of <= last:
        return (
            f"{as_of.isoformat()} is outside the snapshot dates {first.isoformat()} .. {last.isoformat()} "
            "(daily partitions, UTC)"
        )
    if replay is not None:
        held = RawArchive(replay).as_of
        if held is not None and held != as_of:
            return f"replay archive {replay} is for {held.isoformat()}, not {as_of.isoformat()} -- nothing published"
    return None


def _run_job(defs: Any, instance: Any, as_of: dt.date, job: str = "harvest") -> Any:
    """Execute ``job`` for the partition ``as_of`` on ``instance`` (in-process, tagged with this process)."""
    tags = {PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname(), "voharvest/cli": "harvest"}
    return defs.resolve_job_def(job).execute_in_process(
        partition_key=as_of.isoformat(),
        instance=instance,
        raise_on_error=False,
        run_config={"loggers": {"progress": {}}},
        tags=tags,
    )


def _published(result: Any) -> tuple[str | None, str | None]:
    """Path and status (published / identical) of the snapshot the run materialised, if any."""
    for event in result.get_asset_materialization_events():
        mat = event.event_specific_data.materialization
        if mat.asset_key.path == ["out", "publish", "snapshot"]:
            status = mat.metadata.get("status")
            return mat.metadata["path"].value, None if status is None else status.value
    return None, None


def failure_lines(result: Any) -> list[str]:
    """One readable line per failed step and blocking check of a run.

    The step's :class:`dagster.Failure` description (source, URL, archive record, row and column,
    as the assets word it) is printed, not the innermost exception's class.
    """
    from pipelines.alerts import step_failure_text

    lines = []
    for check in (e for e in result.get_asset_check_evaluations() if not e.passed):
        key = check.asset_key.to_user_string()
        lines.append(f"  blocking check failed: {key}:{check.check_name}: {check.description or ''}".rstrip(": "))
    for event in (e for e in result.all_events if e.event_type_value == "STEP_FAILURE"):
        where = (event.step_key or "").replace("__", "/")
        lines.append(f"  {where}: {step_failure_text(event.event_specific_data)}")
    return lines


def _harvest(args: argparse.Namespace) -> int:
    if args.replay is not None and not Path(args.replay).is_dir():
        print(f"voharvest harvest: replay archive {args.replay} does not exist", file=sys.stderr)
        return 2

    from scrapers.archive import RawArchive
    from scrapers.registry import UnknownSource, select_sources

    as_of = args.as_of
    if as_of is None:
        as_of = RawArchive(args.replay).as_of if args.replay is not None else None
        as_of = as_of or dt.datetime.now(dt.UTC).date()
    try:
        sources = select_sources(args.source)
    except UnknownSource as exc:
        print(f"voharvest harvest: {exc}", file=sys.stderr)
        return 2
    problem = _check_date(as_of, args.replay)
    if problem is not None:
        print(f"voharvest harvest: {problem}", file=sys.stderr)
        return 2 if "outside" in problem else 1
    replay = None if args.replay is None else Path(args.replay).resolve()
    with open_instance(ephemeral=args.ephemeral) as (instance, where):
        return _harvest_date(args, sources, as_of, replay, instance, where)


def _harvest_date(
    args: argparse.Namespace, sources: dict[str, Any], as_of: dt.date, replay: Path | None, instance: Any, where: str
) -> int:
    """Run the ``harvest`` job for one date and print the closing report; the exit status."""
    from models.snapshot import snapshot_summary
    from pipelines.definitions import build_definitions
    from pipelines.resources import FetcherResource, OutputStore

    fetcher = FetcherResource(replay_dir=None if replay is None else str(replay), archive_root=str(args.archive_dir))
    store = OutputStore(
        root=str(Path(args.output).resolve()),
        force=args.force,
        rebuild=getattr(args, "rebuild", False),
        public_base_url=args.public_base_url,
    )
    defs = build_definitions(sources, fetcher=fetcher, store=store, loggers={"progress": _progress_logger()})
    print(
        f"harvest {as_of.isoformat()}: {', '.join(sources)} "
        f"({'replay of ' + str(replay) if replay else 'live'}) -> {args.output} [{where}]",
        file=sys.stderr,
    )
    result = _run_job(defs, instance, as_of)
    path, status = _published(result)
    if result.success and path is not None:
        for line in snapshot_summary(Path(path), status):
            print(line, file=sys.stderr)
        print(path, flush=True)
        return 0
    print(f"voharvest harvest: {as_of.isoformat()} FAILED -- nothing published (run {result.run_id})", file=sys.stderr)
    for line in failure_lines(result):
        print(line, file=sys.stderr)
    return 1


def _backfill(args: argparse.Namespace) -> int:
    """Harvest every date of a range whose raw archive exists, oldest first; the worst exit status."""
    from scrapers.archive import RawArchive
    from scrapers.registry import UnknownSource, select_sources

    if args.end < args.start:
        print(f"voharvest backfill: --to {args.end} is before --from {args.start}", file=sys.stderr)
        return 2
    try:
        sources = select_sources(args.source)
    except UnknownSource as exc:
        print(f"voharvest backfill: {exc}", file=sys.stderr)
        return 2
    root = Path(args.archive_dir)
    days = [args.start + dt.timedelta(days=n) for n in range((args.end - args.start).days + 1)]
    held = [d for d in days if (root / d.isoformat()).is_dir()]
    missing = [d.isoformat() for d in days if d not in held]
    if missing:
        print(
            f"voharvest backfill: no raw archive in {root} for {len(missing)} date(s), skipped: {', '.join(missing)}",
            file=sys.stderr,
        )
    if not held:
        print(f"voharvest backfill: nothing to do (no raw archive under {root} between the dates)", file=sys.stderr)
        return 1
    results: dict[str, int] = {}
    with open_instance(ephemeral=args.ephemeral) as (instance, where):
        for day in held:
            archive = (root / day.isoformat()).resolve()
            problem = _check_date(day, archive)
            if problem is not None or RawArchive(archive).as_of is None:
                print(f"voharvest backfill: {problem or f'{archive} records no as-of date'}", file=sys.stderr)
                results[day.isoformat()] = 1
                continue
            if not (args.force or args.source or getattr(args, "rebuild", False)):
                from models.unchanged import check_replay

                verdict = check_replay(Path(args.output), archive, day, public_base_url=args.public_base_url)
                if verdict is not None and verdict.unchanged:  # published from these very bytes: skip
                    results[day.isoformat()] = _report_unchanged(verdict)
                    continue
            results[day.isoformat()] = _harvest_date(args, sources, day, archive, instance, where)
    failed = [d for d, code in results.items() if code]
    print(
        f"backfill: {len(results) - len(failed)} of {len(results)} date(s) published"
        + (f"; failed: {', '.join(failed)}" if failed else ""),
        file=sys.stderr,
    )
    return 1 if failed else 0


def _validate(args: argparse.Namespace) -> int:
    from models.snapshot import file_count, read_manifest, validate_snapshot

    problems = validate_snapshot(args.snapshot)
    if problems:
        print(f"{args.snapshot}: INVALID ({len(problems)} problem(s))")
        for problem in problems:
            print(f"  {problem}")
        return 1
    manifest = read_manifest(args.snapshot)
    rows = ", ".join(f"{k} {v['rows']}" for k, v in sorted(manifest.get("tables", {}).items()))
    print(f"{args.snapshot}: valid ({file_count(manifest)} files checked; rows: {rows})")
    return 0


def _diff(args: argparse.Namespace) -> int:
    from models.snapshot import SnapshotError, diff_snapshots

    try:
        report = diff_snapshots(args.old, args.new)
    except SnapshotError as exc:
        print(f"voharvest diff: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(report, indent=1, sort_keys=True))
        return 0
    print(f"{args.old} -> {args.new}")
    for name, (old, new) in sorted(report["rows"].items()):
        print(f"  {name}: {old} -> {new} rows")
    print(
        f"  files changed: {len(report['files']['changed'])}, added: {len(report['files']['added'])}, "
        f"removed: {len(report['files']['removed'])}"
    )
    for kind, entries in report["obsplan"].items():
        print(f"  obsplan {kind}: {len(entries)}")
        for entry in entries[: args.limit]:
            print(f"    {entry}")
    return 0


def _list(args: argparse.Namespace) -> int:
    from models.snapshot import LATEST, published_dates, read_manifest, snapshot_path

    root = Path(args.output)
    dates = published_dates(root)
    latest = (root / LATEST).resolve() if (root / LATEST).is_symlink() else None
    if not dates:
        print(f"no snapshots under {root}")
        return 0
    for date in dates:
        path = snapshot_path(root, date)
        manifest = read_manifest(path)
        rows = ", ".join(f"{k} {v['rows']}" for k, v in sorted(manifest.get("tables", {}).items()))
        mark = "  <- latest" if latest == path.resolve() else ""
        print(f"{date.isoformat()}  {path}  {rows}{mark}")
    return 0


def _import_gadf(args: argparse.Namespace) -> int:
    from scrapers.base import ParseError
    from scrapers.gadf import import_directory, write_import

    try:
        result = import_directory(
            args.index_dir,
            args.collection,
            args.access_url_template,
            facility=args.facility,
            instrument=args.instrument,
            fov_deg=args.fov_deg,
            datalink_base_url=args.datalink_base_url,
            mjdref=args.mjdref,
            timesys=args.timesys,
        )
    except ParseError as exc:
        print(f"voharvest import-gadf: {exc}", file=sys.stderr)
        return 1
    print(f"time reference: {result.provenance['time_reference']['statement']}", file=sys.stderr)
    output = args.output or DEFAULT_OUTPUT / "imports" / args.collection
    for name in sorted(write_import(result, output)):
        print(Path(output) / name)
    return 0


def _probe(args: argparse.Namespace) -> int:
    """Fetch one source's pages once, run only its parsers, print what was seen (exit 1 if any failed)."""
    from scrapers.fetch import HttpFetcher
    from scrapers.probe import find_source, format_report, probe_live, rewrite_url
    from scrapers.registry import UnknownSource

    try:
        source = find_source(args.source)
    except UnknownSource as exc:
        print(f"voharvest probe: {exc}", file=sys.stderr)
        return 2
    if args.via is not None:
        try:
            rewrite_url("http://x/", args.via)
        except ValueError as exc:
            print(f"voharvest probe: {exc}", file=sys.stderr)
            return 2
    if args.baseline is not None and not Path(args.baseline).is_dir():
        print(f"voharvest probe: baseline archive {args.baseline} does not exist", file=sys.stderr)
        return 2
    as_of = args.as_of or dt.datetime.now(dt.UTC).date()
    retries = args.retries

    def fetcher(archive: Any) -> HttpFetcher:
        return HttpFetcher(archive) if retries is None else HttpFetcher(archive, max_retries=retries)

    report = probe_live(
        source, as_of, via=args.via, archive_dir=args.archive, baseline_dir=args.baseline, fetcher_factory=fetcher
    )
    if args.json:
        print(json.dumps(report.to_json(), indent=1, default=str))
    else:
        sys.stdout.write(format_report(report))
    return 0 if report.ok else 1


def _source_names() -> list[str]:
    """Names of the registered sources (the ``--source`` choices)."""
    from scrapers.registry import all_sources

    return list(all_sources())


def _public_base_url(value: str) -> str | None:
    """``--public-base-url``: checked here, so a bad URL is a usage error (exit 2) before any fetch."""
    from models.datalink import DataLinkError, check_public_base_url

    try:
        return check_public_base_url(value)
    except DataLinkError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _harvest_options(sub: argparse.ArgumentParser, names: str) -> None:
    """Options shared by ``harvest`` and ``backfill``."""
    sub.add_argument(
        "--source",
        action="append",
        default=None,
        metavar="NAME",
        help=f"harvest only this source (repeatable; default: all). Sources: {names}",
    )
    sub.add_argument(
        "--output", type=Path, default=DEFAULT_OUTPUT, metavar="DIR", help="publish root (default: output)"
    )
    sub.add_argument(
        "--archive-dir",
        type=Path,
        default=Path("raw_archive"),
        metavar="DIR",
        help="raw archives of live harvests, one folder per date (default: raw_archive)",
    )
    sub.add_argument(
        "--force", action="store_true", help="replace an already published date whose content differs (atomic swap)"
    )
    sub.add_argument(
        "--public-base-url",
        type=_public_base_url,
        default=os.environ.get("VOHARVEST_PUBLIC_BASE_URL"),
        metavar="URL",
        help="URL the publish root is served at, e.g. https://data.example.org/voharvest: DataLink documents and "
        "ObsCore access_url of event lists point at URL/snapshots/<date>/datalink/... (recorded in manifest.json; "
        "default $VOHARVEST_PUBLIC_BASE_URL; unset: the documents are still written and the DaCHS kit serves them)",
    )
    sub.add_argument(
        "--ephemeral",
        action="store_true",
        help="run on a throw-away Dagster instance (nothing recorded; the UI will not show the run)",
    )


def _harvest_arguments(h: argparse.ArgumentParser, names: str) -> None:
    """Options of ``harvest`` (the full parser and the unchanged fast path share them)."""
    _harvest_options(h, names)
    h.add_argument(
        "--as-of",
        type=parse_date,
        default=None,
        metavar="YYYY-MM-DD",
        help="snapshot date, UTC (default: the replay archive's date, else today); live pages can only be "
        "fetched for today, other dates need --replay or their raw archive",
    )
    h.add_argument(
        "--replay",
        type=Path,
        default=None,
        metavar="DIR",
        help="answer every request from this raw archive instead of the network (e.g. recordings/replay, "
        "raw_archive/<date>, output/snapshots/<date>/raw)",
    )
    h.add_argument(
        "--rebuild",
        action="store_true",
        help="rebuild even when the raw inputs are byte-identical to those of the published snapshot (the "
        "result is then compared with it: identical bytes keep it as it is, different ones need --force)",
    )


def _build_replay(args: argparse.Namespace) -> int:
    """Rebuild a replay archive from the recordings (see ``scrapers.recordings``)."""
    from scrapers.recordings import RecordingError, build_from_sources
    from scrapers.registry import select_sources

    sources = list(select_sources(args.source).values())
    try:
        archive = build_from_sources(args.recordings, args.archive, sources, args.as_of, args.fetched_at)
    except (RecordingError, ValueError) as exc:
        print(f"voharvest build-replay: {exc}", file=sys.stderr)
        return 1
    count = sum(1 for _ in archive.entries())
    print(f"{archive.root}: {count} responses of {len(sources)} source(s), as of {args.as_of.isoformat()}")
    return 0


def _ui(args: argparse.Namespace) -> int:
    """Run dagster-webserver and dagster-daemon on the shared instance until interrupted."""
    import signal
    import subprocess

    import dagster as dg

    home = dagster_home()
    # Create the SQLite storage once, here: webserver and daemon starting together on a new home would
    # both create its tables ("table alembic_version already exists").
    with dg.DagsterInstance.from_config(str(home)) as instance:
        instance.get_runs(limit=1)
        instance.all_instigator_state()
        instance.get_latest_materialization_event(dg.AssetKey(["out", "publish", "snapshot"]))
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    bindir = Path(sys.executable).parent
    commands = [
        [str(bindir / "dagster-webserver"), "-m", "pipelines.definitions", "-h", args.host, "-p", str(args.port)]
    ]
    if not args.no_daemon:
        commands.append([str(bindir / "dagster-daemon"), "run", "-m", "pipelines.definitions"])
    print(f"Dagster instance {home}; UI on http://{args.host}:{args.port} (Ctrl-C stops)", file=sys.stderr)

    def _stop(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    # Ctrl-C and SIGTERM stop both servers (a background shell job would otherwise ignore SIGINT)
    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    procs = [subprocess.Popen(cmd, env=env, start_new_session=True) for cmd in commands]
    try:
        while all(p.poll() is None for p in procs):
            try:
                procs[0].wait(timeout=1)
            except subprocess.TimeoutExpired:
                continue
    except KeyboardInterrupt:
        pass
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        for proc in procs:  # what they started (the daemon's code server) stops after them: wait for it too
            _wait_for_group(proc.pid, 30.0)
    return 0 if all(p.returncode in (0, -signal.SIGTERM) for p in procs) else 1


def _wait_for_group(pgid: int, timeout_s: float) -> None:
    """Wait until no process of group ``pgid`` is left; SIGKILL the rest after ``timeout_s`` seconds."""
    import signal

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
            return
        time.sleep(0.1)


def parser() -> argparse.ArgumentParser:
    """The ``voharvest`` argument parser: one subcommand per operator task, each with a documented ``--help``."""
    p = argparse.ArgumentParser(prog="voharvest", description="Harvest observatory schedules into IVOA snapshots.")
    sub = p.add_subparsers(dest="command", required=True)

    names = ", ".join(_source_names())
    h = sub.add_parser(
        "harvest",
        help="harvest one snapshot date and publish it",
        description=(
            "Fetch (or replay) every source's pages for one snapshot date, parse, check and publish "
            "OUTPUT/snapshots/<date>/ and move OUTPUT/latest to it. The run is recorded in the Dagster instance "
            "of $DAGSTER_HOME (default ./.dagster_home), so `voharvest ui` shows its logs, checks and "
            "materialisations. Progress lines go to stderr, then a summary (rows per table and facility, changes "
            "since the previous snapshot or 'unchanged'); the snapshot path is the last line on stdout. "
            "A re-run for a date already published is recognised before anything is imported or parsed when its "
            "raw inputs (--replay DIR, or raw_archive/<date> of a past date) are byte-identical to those recorded in "
            "that snapshot's manifest (every response's bytes, status, headers and fetch time; the same sources, "
            "none carried over), with the same code version and no file of models/, scrapers/, pipelines/ or "
            "recordings/visibility/ modified since the snapshot was written (a new version, an edit or a checkout "
            "rebuilds), the same options (VOHARVEST_VISIBILITY_DAYS, VOHARVEST_AUTHORITY) and the same previous "
            "snapshot: it prints 'unchanged', the summary and the path, touches nothing (no Dagster run is "
            "recorded) and exits 0; otherwise it says why and rebuilds. --source, --force and --rebuild always "
            "rebuild. "
            "Exit 0 published or unchanged, 1 failed (nothing published; one line per failed source or check), "
            "2 usage error."
        ),
    )
    _harvest_arguments(h, names)
    h.set_defaults(func=_harvest)

    b = sub.add_parser(
        "backfill",
        help="harvest a range of dates from their raw archives (raw_archive/<date>/)",
        description=(
            "Harvest and publish every date from --from to --to (both included, oldest first) whose raw archive "
            "ARCHIVE_DIR/<date>/ exists, replaying it; dates without an archive are listed and skipped. Each date "
            "is one run in the Dagster instance. Exit 0 when every date held was published, 1 otherwise."
        ),
    )
    _harvest_options(b, names)
    b.add_argument("--from", dest="start", type=parse_date, required=True, metavar="YYYY-MM-DD", help="first date")
    b.add_argument("--to", dest="end", type=parse_date, required=True, metavar="YYYY-MM-DD", help="last date")
    b.set_defaults(func=_backfill)

    v = sub.add_parser("validate", help="re-check a snapshot's schemas and manifest checksums")
    v.add_argument("snapshot", type=Path, help="snapshot directory, e.g. output/latest")
    v.set_defaults(func=_validate)

    d = sub.add_parser("diff", help="compare two snapshots")
    d.add_argument("old", type=Path, help="older snapshot directory")
    d.add_argument("new", type=Path, help="newer snapshot directory")
    d.add_argument("--json", action="store_true", help="print the full report as JSON")
    d.add_argument("--limit", type=int, default=20, help="observations listed per kind (default 20)")
    d.set_defaults(func=_diff)

    ls = sub.add_parser("list", help="list published snapshots")
    ls.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="publish root (default: output)")
    ls.set_defaults(func=_list)

    r = sub.add_parser(
        "build-replay",
        help="rebuild the bundled replay archive recordings/replay from recordings/<source>/responses.json",
        description=(
            "Build a replay archive (the raw-archive layout `harvest --replay` reads) from the recorded responses "
            "listed in RECORDINGS/<source>/responses.json; the bundled recordings/replay is built with it."
        ),
    )
    r.add_argument(
        "--recordings",
        type=Path,
        default=Path("recordings"),
        metavar="DIR",
        help="recordings root (default: recordings)",
    )
    r.add_argument(
        "--archive",
        type=Path,
        default=DEFAULT_REPLAY,
        metavar="DIR",
        help="replay archive to write (default: recordings/replay)",
    )
    r.add_argument(
        "--as-of",
        type=parse_date,
        default=dt.date(2025, 9, 5),
        metavar="YYYY-MM-DD",
        help="snapshot date the archive is for (default: 2025-09-05, the recordings' date)",
    )
    r.add_argument(
        "--fetched-at",
        type=dt.datetime.fromisoformat,
        default=None,
        metavar="ISO-TIME",
        help="fetch time recorded for every response, with a UTC offset (default: midnight UTC of --as-of)",
    )
    r.add_argument(
        "--source",
        action="append",
        default=None,
        choices=_source_names(),
        help="only this source (repeatable; default: all)",
    )
    r.set_defaults(func=_build_replay)

    u = sub.add_parser(
        "ui",
        help="start the Dagster UI and daemon on the instance the CLI records into",
        description=(
            "Start dagster-webserver (the UI) and dagster-daemon (schedules, sensors, freshness, backfills) on "
            "the Dagster instance of $DAGSTER_HOME (default ./.dagster_home with the project's dagster.yaml), "
            "loading the code location pipelines.definitions. Ctrl-C stops both."
        ),
    )
    u.add_argument("--host", default="127.0.0.1", help="address the UI listens on (default 127.0.0.1)")
    u.add_argument("--port", type=int, default=3000, help="UI port (default 3000)")
    u.add_argument("--no-daemon", action="store_true", help="UI only: no schedules, sensors or backfills")
    u.set_defaults(func=_ui)

    g = sub.add_parser("import-gadf", help="ObsCore + HEA tables from a GADF DL3 index directory")
    g.add_argument("index_dir", type=Path, help="directory holding the GADF obs-index (and hdu-index) FITS files")
    g.add_argument("--collection", required=True, help="obs_collection of the rows, e.g. HESS-DL3-DR1")
    g.add_argument("--access-url-template", required=True, help="e.g. https://host/data/{file_dir}/{file_name}")
    g.add_argument("--facility", default=None, help="facility_name of the rows (GADF indexes do not name it)")
    g.add_argument("--instrument", default=None, help="instrument_name of the rows (GADF indexes do not name it)")
    g.add_argument(
        "--fov-deg", type=float, default=None, help="field-of-view diameter in degrees (default: s_fov/s_region NULL)"
    )
    g.add_argument(
        "--datalink-base-url",
        default=None,
        help="write a DataLink document per dataset served at <URL>/<obs_id>.xml; access_url points to it",
    )
    g.add_argument(
        "--mjdref",
        type=float,
        default=None,
        help="time reference MJD of TSTART/TSTOP (with --timesys); overrides every header, stated in provenance.json",
    )
    g.add_argument("--timesys", default=None, help="time scale of --mjdref: TT, UTC, TAI, TDB, TCB, TCG, UT1")
    g.add_argument(
        "--output", type=Path, default=None, help="default: output/imports/<collection> under the working directory"
    )
    g.set_defaults(func=_import_gadf)

    sub.add_parser(
        "serve-check",
        help="load a snapshot into a local GAVO DaCHS and run STILTS taplint (options: serve-check --help)",
        add_help=False,
    )

    pr = sub.add_parser(
        "probe",
        help="fetch a source's pages once, run only its parsers, report status/tables/headers/rows/layout",
        description=(
            "Fetch every request of SOURCE once (the harvest's fetcher: timeouts, retries, size cap, User-Agent), "
            "run only the parsers and print one block per request: HTTP status, content type and size, charset, "
            "tables and headers found, rows parsed and the layout variant matched, or the parser's error. "
            "Publishes nothing. Exit 0 when every request parsed, 1 otherwise, 2 on usage errors."
        ),
    )
    pr.add_argument("source", help="source name (nustar, xmm_newton, integral, eso, hess_dl3_dr1)")
    pr.add_argument(
        "--as-of", type=dt.date.fromisoformat, default=None, help="date the requests are built for (default: today UTC)"
    )
    pr.add_argument("--json", action="store_true", help="print the report as JSON")
    pr.add_argument(
        "--via",
        default=None,
        metavar="BASE_URL",
        help="replace scheme and host of every request URL by BASE_URL (http://127.0.0.1:8000[/prefix]): "
        "a testing/mirroring aid; parsers still see the real URLs",
    )
    pr.add_argument(
        "--archive",
        type=Path,
        default=None,
        metavar="DIR",
        help="also keep every answer in this raw archive, under the real requests (default: keep nothing)",
    )
    pr.add_argument(
        "--baseline",
        type=Path,
        default=None,
        metavar="DIR",
        help="raw archive of known-good answers (e.g. raw_archive/<last good date> or recordings/replay): "
        "name what changed in each answer's tables/headers/fields",
    )
    pr.add_argument("--retries", type=int, default=None, help="retries per request (default: the harvest fetcher's)")
    pr.set_defaults(func=_probe)
    from pipelines.cli_provenance import register as register_provenance

    register_provenance(sub)
    from pipelines.cli_visibility import register as register_visibility

    register_visibility(sub)
    from pipelines.cli_lookup import register as register_lookup

    register_lookup(sub)
    return p


class _NotFast(Exception):
    """The fast path cannot parse these arguments: the full parser reports them."""


class _FastParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _NotFast(message)


def _harvest_unchanged(argv: Sequence[str]) -> int | None:
    """``harvest`` of a date already published from byte-identical raw inputs: report it, rebuild nothing.

    Runs before the full parser (whose source list imports every parser: pandas, astropy) and before
    Dagster: standard library only, plus ``pyarrow.parquet`` for the per-facility rows of the summary.
    See :mod:`models.unchanged` for the rule.

    Returns
    -------
    int or None
        0 when the snapshot is unchanged (summary on stderr, path on stdout); ``None`` when the
        harvest must run (or the arguments are for the full parser to judge).
    """
    if any(a in ("-h", "--help") for a in argv):
        return None
    fast = _FastParser(prog="voharvest harvest", add_help=False)
    _harvest_arguments(fast, "")
    try:
        args = fast.parse_args(argv)
    except _NotFast:
        return None
    if args.rebuild or args.force or args.source:
        return None
    archive = args.replay
    if archive is None:  # a past date whose live harvest left its raw archive is replayed from it
        if args.as_of is None or args.as_of >= dt.datetime.now(dt.UTC).date():
            return None
        archive = Path(args.archive_dir) / args.as_of.isoformat()
    from models.unchanged import check_replay

    if not Path(archive).is_dir():
        return None
    verdict = check_replay(Path(args.output), Path(archive), args.as_of, public_base_url=args.public_base_url)
    if verdict is None:
        return None
    if not verdict.unchanged:
        if verdict.exists:
            print(
                f"harvest: {verdict.snapshot} is published but differs: {verdict.reason} -- rebuilding", file=sys.stderr
            )
        return None
    return _report_unchanged(verdict)


def _report_unchanged(verdict: Verdict) -> int:
    """Print an unchanged snapshot's summary (stderr) and path (stdout), as a harvest ends; returns 0."""
    from models.unchanged import summary_lines

    for line in summary_lines(verdict):
        print(line, file=sys.stderr)
    print(verdict.snapshot.resolve(), flush=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``voharvest`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["serve-check"]:  # its options belong to pipelines.serve_check
        from pipelines.serve_check import main as serve_check_main

        return int(serve_check_main(argv[1:]))
    if argv[:1] == ["harvest"]:
        code = _harvest_unchanged(argv[1:])
        if code is not None:
            return code
    args = parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
