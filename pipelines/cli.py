"""``voharvest``: the operator's command line, a thin layer over Dagster and :mod:`models.snapshot`.

``harvest`` materialises one snapshot date in-process (a throw-away Dagster instance in a temporary
directory: no DAGSTER_HOME needed, nothing left behind), printing one progress line per step, asset
and check on stderr and the snapshot path on stdout. ``validate``, ``diff`` and ``list`` never import
Dagster.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

DEFAULT_OUTPUT = Path("output")
DEFAULT_REPLAY = Path("recordings/replay")


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


def _harvest(args: argparse.Namespace) -> int:
    if args.replay is not None and not Path(args.replay).is_dir():
        print(f"voharvest harvest: replay archive {args.replay} does not exist", file=sys.stderr)
        return 2

    import dagster as dg

    from pipelines.definitions import build_definitions
    from pipelines.resources import FetcherResource, OutputStore
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
    fetcher = FetcherResource(
        replay_dir=None if args.replay is None else str(Path(args.replay).resolve()),
        archive_root=str(args.archive_dir),
    )
    store = OutputStore(root=str(Path(args.output).resolve()), force=args.force)
    defs = build_definitions(sources, fetcher=fetcher, store=store, loggers={"progress": _progress_logger()})
    print(
        f"harvest {as_of.isoformat()}: {', '.join(sources)} "
        f"({'replay of ' + str(args.replay) if args.replay else 'live'}) -> {args.output}",
        file=sys.stderr,
    )
    with tempfile.TemporaryDirectory(prefix="voharvest-dagster-") as home:
        instance = dg.DagsterInstance.ephemeral(tempdir=home, settings={"telemetry": {"enabled": False}})
        result = defs.resolve_job_def("harvest").execute_in_process(
            partition_key=as_of.isoformat(),
            instance=instance,
            raise_on_error=False,
            run_config={"loggers": {"progress": {}}},
        )
        path = None
        for event in result.get_asset_materialization_events():
            mat = event.event_specific_data.materialization
            if mat.asset_key.path == ["out", "publish", "snapshot"]:
                path = mat.metadata["path"].value
        failed_checks = [e for e in result.get_asset_check_evaluations() if not e.passed]
        failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    if result.success and path is not None:
        print(path)
        return 0
    print(f"voharvest harvest: {as_of.isoformat()} FAILED -- nothing published", file=sys.stderr)
    for check in failed_checks:
        key = check.asset_key.to_user_string()
        print(f"  blocking check failed: {key}:{check.check_name}: {check.description or ''}", file=sys.stderr)
    for event in failures:
        print(f"  step {event.step_key} failed: {_root_cause(event.event_specific_data.error)}", file=sys.stderr)
    return 1


def _root_cause(error: object) -> str:
    """The innermost error's message: Dagster wraps the user's exception in its own step error."""
    if error is None:
        return ""
    while getattr(error, "cause", None) is not None:
        error = error.cause
    return f"{getattr(error, 'cls_name', '') or ''}: {getattr(error, 'message', '').strip()}".strip(": ")


def _validate(args: argparse.Namespace) -> int:
    from models.snapshot import read_manifest, validate_snapshot

    problems = validate_snapshot(args.snapshot)
    if problems:
        print(f"{args.snapshot}: INVALID ({len(problems)} problem(s))")
        for problem in problems:
            print(f"  {problem}")
        return 1
    manifest = read_manifest(args.snapshot)
    rows = ", ".join(f"{k} {v['rows']}" for k, v in sorted(manifest.get("tables", {}).items()))
    print(f"{args.snapshot}: valid ({len(manifest['files'])} files checked; rows: {rows})")
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
        )
    except ParseError as exc:
        print(f"voharvest import-gadf: {exc}", file=sys.stderr)
        return 1
    output = args.output or DEFAULT_OUTPUT / "imports" / args.collection
    for name in sorted(write_import(result, output)):
        print(Path(output) / name)
    return 0


def parser() -> argparse.ArgumentParser:
    """The argument parser (subcommands harvest, validate, diff, list, build-replay, import-gadf, serve-check)."""
    p = argparse.ArgumentParser(prog="voharvest", description="Harvest observatory schedules into IVOA snapshots.")
    sub = p.add_subparsers(dest="command", required=True)

    h = sub.add_parser("harvest", help="harvest one snapshot date and publish it")
    h.add_argument(
        "--as-of", type=dt.date.fromisoformat, default=None, help="snapshot date (default: replay's or today)"
    )
    h.add_argument("--source", action="append", default=None, help="harvest only this source (repeatable)")
    h.add_argument("--replay", type=Path, default=None, help="replay this raw archive instead of fetching live")
    h.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="output root (default: output)")
    h.add_argument("--archive-dir", type=Path, default=Path("raw_archive"), help="live raw archives (default)")
    h.add_argument("--force", action="store_true", help="replace a published date whose content differs")
    h.set_defaults(func=_harvest)

    v = sub.add_parser("validate", help="re-check a snapshot's schemas and manifest checksums")
    v.add_argument("snapshot", type=Path)
    v.set_defaults(func=_validate)

    d = sub.add_parser("diff", help="compare two snapshots")
    d.add_argument("old", type=Path)
    d.add_argument("new", type=Path)
    d.add_argument("--json", action="store_true", help="print the full report as JSON")
    d.add_argument("--limit", type=int, default=20, help="observations listed per kind (default 20)")
    d.set_defaults(func=_diff)

    ls = sub.add_parser("list", help="list published snapshots")
    ls.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    ls.set_defaults(func=_list)

    sub.add_parser(
        "build-replay",
        help="rebuild recordings/replay from recordings/*/responses.json (options: build-replay --help)",
        add_help=False,
    )

    g = sub.add_parser("import-gadf", help="ObsCore + HEA tables from a GADF DL3 index directory")
    g.add_argument("index_dir", type=Path)
    g.add_argument("--collection", required=True)
    g.add_argument("--access-url-template", required=True, help="e.g. https://host/data/{file_dir}/{file_name}")
    g.add_argument("--facility", default=None)
    g.add_argument("--instrument", default=None)
    g.add_argument("--fov-deg", type=float, default=None)
    g.add_argument("--datalink-base-url", default=None)
    g.add_argument(
        "--output", type=Path, default=None, help="default: output/imports/<collection> under the working directory"
    )
    g.set_defaults(func=_import_gadf)

    sub.add_parser(
        "serve-check",
        help="load a snapshot into a local GAVO DaCHS and run STILTS taplint (options: serve-check --help)",
        add_help=False,
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``voharvest`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["build-replay"]:  # its options belong to scrapers.recordings
        from scrapers.recordings import main as recordings_main

        return int(recordings_main(argv[1:]))
    if argv[:1] == ["serve-check"]:  # its options belong to pipelines.serve_check
        from pipelines.serve_check import main as serve_check_main

        return int(serve_check_main(argv[1:]))
    args = parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
