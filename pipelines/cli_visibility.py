"""``voharvest visibility``: OVAP visibility windows of one position for one facility.

``voharvest visibility --facility F --ra RA --dec DEC --start T --end T [--min-vis S] [--format votable|csv|json]``
prints the answer (:mod:`models.visibility`) on stdout (or ``--output FILE``). RA/Dec are read by
:mod:`models.coords` (decimal degrees or sexagesimal), times by :mod:`models.timeutil` (ISO 8601) or as
MJD numbers. Exit status 2 with a one-line message for a request the models cannot answer (unknown
facility, a time too far from the TLE epoch, ...). ``--joint [--snapshot DIR]`` answers, per facility,
whether it can observe the position in the range and which obsplan rows already plan to
(:mod:`models.visibility.joint`), as CSV or JSON. ``--tle FILE`` adds element sets (e.g. a current NuSTAR
set fetched from CelesTrak) to the bundled ones; the set closest to the middle of the query is used.

``voharvest serve-ovap [--host 127.0.0.1] [--port 8765] [--snapshot DIR] [--tle FILE]`` answers the same
over HTTP with OVAP's parameter names (:mod:`pipelines.serve_ovap`, :mod:`models.visibility.service`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def _joint(args: argparse.Namespace) -> int:
    from models.coords import CoordParseError
    from models.errors import ValueParseError
    from models.lookup import LookupFailed
    from models.visibility import FACILITIES, VisibilityError, facility_name
    from models.visibility.joint import joint

    if args.format == "votable":
        print("voharvest visibility: --joint answers as csv or json", file=sys.stderr)
        return 2
    try:
        names = FACILITIES if args.facility in (None, "all") else [facility_name(f) for f in args.facility.split(",")]
        from models.snapshot import resolve_snapshot

        snapshot = resolve_snapshot(args.snapshot, Path("output"))
        if not Path(snapshot).is_dir():
            raise VisibilityError(f"snapshot {snapshot} does not exist (give --snapshot)")
        table = joint(snapshot, args.ra, args.dec, args.start, args.end, facilities=names, min_vis=args.min_vis)
    except (CoordParseError, ValueParseError, VisibilityError, LookupFailed) as exc:
        print(f"voharvest visibility: {exc}", file=sys.stderr)
        return 2
    text = table.to_json(orient="records", indent=1) + "\n" if args.format == "json" else table.to_csv(index=False)
    if args.output is not None:
        Path(args.output).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


def _tles(args: argparse.Namespace) -> list | None:
    """Candidate TLE sets: ``--tle-dir`` (default the bundled ones) plus every ``--tle FILE``; None: the default."""
    from models.visibility import VisibilityError, default_tles
    from scrapers.tle import load

    if args.tle_dir is None and not args.tle:
        return None
    out = default_tles(args.tle_dir) if args.tle_dir is not None else default_tles()
    for path in args.tle:
        if not Path(path).is_file():
            raise VisibilityError(f"no TLE file {path}")
        out += load(path)
    return out


def _snapshot_moc(args: argparse.Namespace) -> Path:
    """The visibility MOC file a snapshot publishes for ``args.facility`` (``--from-snapshot``)."""
    from models.snapshot import SnapshotError, resolve_snapshot
    from models.visibility.facilities import VisibilityError, facility_name
    from models.visibility.service import SnapshotMocs

    try:
        mocs = SnapshotMocs.open(resolve_snapshot(args.snapshot, Path("output")))
    except SnapshotError as exc:
        raise VisibilityError(str(exc)) from exc
    name = facility_name(args.facility)
    entry = mocs.entry(name)
    if not entry or not entry.get("file"):
        why = (entry or {}).get("why", "the manifest does not describe it")
        raise VisibilityError(f"snapshot {mocs.directory} publishes no visibility MOC for {name}: {why}")
    return mocs.directory / str(entry["file"])


def _run(args: argparse.Namespace) -> int:
    if args.joint:
        return _joint(args)
    if args.facility is None:
        print("voharvest visibility: --facility is required (or --joint)", file=sys.stderr)
        return 2
    if args.format is None:
        args.format = "votable"
    from models.coords import CoordParseError, parse_dec, parse_ra
    from models.errors import ValueParseError
    from models.orbits import PropagationError
    from models.visibility import VisibilityError, visibility
    from models.visibility.ovap import to_csv, to_json, to_votable
    from scrapers.base import SourceError

    try:
        ra = float(parse_ra([args.ra])[0])
        dec = float(parse_dec([args.dec])[0])
        tles = _tles(args)
        if args.from_snapshot:
            args.from_moc = _snapshot_moc(args)
        if args.from_moc is not None:
            from mocpy import STMOC

            from models.visibility.moc import windows_from_stmoc

            if not Path(args.from_moc).is_file():
                raise VisibilityError(f"no MOC file {args.from_moc}")
            stmoc = STMOC.from_fits(args.from_moc)
            result = windows_from_stmoc(
                stmoc, args.facility, ra, dec, args.start, args.end, min_vis=args.min_vis, max_vis=args.max_vis
            )
        else:
            result = visibility(
                args.facility,
                ra,
                dec,
                args.start,
                args.end,
                min_vis=args.min_vis,
                max_vis=args.max_vis,
                step_s=args.step,
                tles=tles,
                moon_min_deg=args.moon_min,
            )
    except (CoordParseError, ValueParseError, VisibilityError, PropagationError, SourceError) as exc:
        print(f"voharvest visibility: {exc}", file=sys.stderr)
        return 2
    if args.format == "votable":
        payload: bytes = to_votable(result, args.flavour)
    elif args.format == "csv":
        payload = to_csv(result, args.flavour).encode()
    else:
        payload = (to_json(result, args.flavour) + "\n").encode()
    if args.output is not None:
        Path(args.output).write_bytes(payload)
    else:
        sys.stdout.buffer.write(payload)
        sys.stdout.flush()
    return 0


#: Help of ``--tle`` (both sub-commands).
TLE_HELP = (
    "a TLE file (2 or 3 lines per set, e.g. https://celestrak.org/NORAD/elements/gp.php?CATNR=38358&FORMAT=TLE) "
    "added to the candidate sets; repeatable. The set closest to the middle of the query is used"
)


def _serve(args: argparse.Namespace) -> int:
    from models.snapshot import SnapshotError, resolve_snapshot
    from models.visibility import VisibilityError
    from models.visibility.service import SnapshotMocs
    from pipelines.serve_ovap import make_server, serve
    from scrapers.base import SourceError

    try:
        tles = _tles(args)
        snapshot = None
        if args.snapshot is not None:
            wanted = None if args.snapshot == "latest" else args.snapshot
            snapshot = SnapshotMocs.open(resolve_snapshot(wanted, Path(args.output_root)))
        server = make_server(args.host, args.port, tles=tles, snapshot=snapshot, quiet=args.quiet)
    except (VisibilityError, SnapshotError, SourceError, OSError) as exc:
        print(f"voharvest serve-ovap: {exc}", file=sys.stderr)
        return 2
    return serve(server)


def register(subparsers: Any) -> None:
    """Add the ``visibility`` sub-command to ``voharvest``'s sub-parsers.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        What ``ArgumentParser.add_subparsers`` returned in :func:`pipelines.cli.parser`.
    """
    from models.visibility import FACILITIES

    p = subparsers.add_parser(
        "visibility",
        help="OVAP visibility windows of a position for one facility",
        description="Visibility windows (OVAP 0.1 VOTable, CSV or JSON) of a sky position for "
        f"one of {', '.join(FACILITIES)}, from the facility's documented constraints.",
    )
    p.add_argument(
        "--facility",
        default=None,
        help=f"one of {', '.join(FACILITIES)} (case-insensitive); with --joint a comma list or 'all' (default)",
    )
    p.add_argument("--ra", required=True, help="ICRS RA: degrees or hh:mm:ss")
    p.add_argument("--dec", required=True, help="ICRS Dec: degrees or dd:mm:ss")
    p.add_argument("--start", required=True, help="ISO 8601 UTC or MJD")
    p.add_argument("--end", required=True, help="ISO 8601 UTC or MJD")
    p.add_argument("--min-vis", type=float, default=0.0, help="drop windows shorter than this (s; OVAP MIN_VIS)")
    p.add_argument("--max-vis", type=float, default=None, help="drop windows longer than this (s; OVAP MAX_VIS)")
    p.add_argument("--format", choices=("votable", "csv", "json"), default=None, help="default votable (--joint: csv)")
    p.add_argument(
        "--flavour", choices=("ovap", "objobssap"), default="ovap", help="OVAP 0.1 fields or ObjObsSAP draft fields"
    )
    p.add_argument("--step", type=float, default=None, help="sample step in s (default per facility)")
    p.add_argument("--moon-min", type=float, default=None, help="VLT/VLTI minimum Moon distance, deg (default 30)")
    p.add_argument("--tle-dir", type=Path, default=None, help="directory of *.tle files (default: bundled sets)")
    p.add_argument("--tle", type=Path, action="append", default=[], metavar="FILE", help=TLE_HELP)
    p.add_argument("--output", type=Path, default=None, help="write here instead of stdout")
    p.add_argument(
        "--joint",
        action="store_true",
        help="per facility: can it observe (visibility) and does it already plan to (the snapshot's obsplan)",
    )
    p.add_argument("--snapshot", type=Path, default=None, help="snapshot for --joint (default output/latest)")
    p.add_argument(
        "--from-snapshot",
        action="store_true",
        help="answer from the visibility MOC published in --snapshot (default output/latest) instead of recomputing",
    )
    p.add_argument(
        "--from-moc",
        type=Path,
        default=None,
        help="answer from a visibility space-time MOC file (models.visibility.moc) instead of recomputing",
    )
    p.set_defaults(func=_run)
    from pipelines.serve_ovap import DEFAULT_HOST, DEFAULT_PORT

    s = subparsers.add_parser(
        "serve-ovap",
        help="answer OVAP visibility requests over HTTP (/ovap/<facility>?RA=&DEC=&START_TIME=&END_TIME=)",
        description="Serve the visibility answers over HTTP with OVAP's parameter names (RA, DEC, START_TIME, "
        "END_TIME, MIN_VIS, MAX_VIS; names case-insensitive; GET or POST): one service per facility at "
        "/ovap/<facility>, or /ovap?FACILITY=. Errors are DALI error VOTables (QUERY_STATUS=ERROR).",
    )
    s.add_argument("--host", default=DEFAULT_HOST, help=f"address to bind (default {DEFAULT_HOST}: local only)")
    s.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0: any free port)")
    s.add_argument(
        "--snapshot",
        default=None,
        help="answer from this snapshot's visibility MOCs (a directory, a date under --output-root, or 'latest') "
        "instead of computing",
    )
    s.add_argument("--output-root", type=Path, default=Path("output"), help="where dated snapshots live")
    s.add_argument("--tle-dir", type=Path, default=None, help="directory of *.tle files (default: bundled sets)")
    s.add_argument("--tle", type=Path, action="append", default=[], metavar="FILE", help=TLE_HELP)
    s.add_argument("--quiet", action="store_true", help="no request log on stderr")
    s.set_defaults(func=_serve)
