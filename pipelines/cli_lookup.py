"""``voharvest lookup``: who observes a position (or a target of the snapshot) when, from a snapshot on disk.

A thin command over :func:`models.lookup.lookup`: no TAP server, no network, no Dagster.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

FORMATS = ("text", "csv", "json", "votable")
DEFAULT_OUTPUT = Path("output")


def _lookup(args: argparse.Namespace) -> int:
    from models.coords import CoordParseError
    from models.lookup import LookupFailed, format_result, lookup, parse_radius
    from models.snapshot import resolve_snapshot
    from models.timeutil import TimeParseError

    snapshot = resolve_snapshot(args.snapshot, Path(args.output))
    if not snapshot.is_dir():
        print(f"voharvest lookup: no snapshot at {snapshot} (give --snapshot DIR)", file=sys.stderr)
        return 2
    position = list(args.position or [])
    if args.ra is not None or args.dec is not None:
        if position or args.ra is None or args.dec is None:
            print("voharvest lookup: give the position once: RA DEC, or --ra and --dec", file=sys.stderr)
            return 2
        position = [args.ra, args.dec]
    if args.target is None and len(position) != 2:
        print("voharvest lookup: give RA DEC (deg or sexagesimal) or --target NAME", file=sys.stderr)
        return 2
    if args.target is not None and position:
        print("voharvest lookup: give either RA DEC or --target, not both", file=sys.stderr)
        return 2
    try:
        result = lookup(
            snapshot,
            ra=position[0] if position else None,
            dec=position[1] if position else None,
            target=args.target,
            radius_deg=parse_radius(args.radius),
            start=args.start,
            end=args.end,
            tables=args.table or ("obsplan", "obscore"),
        )
    except (LookupFailed, CoordParseError, TimeParseError) as exc:
        print(f"voharvest lookup: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(format_result(result, args.format))
    return 0


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``lookup`` subcommand to the ``voharvest`` argument parser.

    Parameters
    ----------
    subparsers
        What ``ArgumentParser.add_subparsers`` returned.

    Returns
    -------
    argparse.ArgumentParser
        The subcommand's parser.
    """
    p = subparsers.add_parser(
        "lookup",
        help="list every observation of a snapshot whose footprint meets a position (no TAP server needed)",
        description=(
            "List every obsplan and obscore row of a snapshot whose s_region footprint contains or intersects "
            "a circle: facility, status, times, exposure, obs_id, planning time, distance to the footprint. "
            "Position as decimal degrees or sexagesimal (RA in hours: 18:19:23.77 -17:06:15.8), or --target "
            "NAME resolved offline from the snapshot's own target names."
        ),
    )
    p.add_argument("position", nargs="*", metavar="RA DEC", help="position (deg, or hh:mm:ss +dd:mm:ss)")
    p.add_argument("--ra", default=None, help="RA (same as the first positional value)")
    p.add_argument("--dec", default=None, help="Dec; use --dec=-17:06:15.8 for a negative sexagesimal Dec")
    p.add_argument("--target", default=None, help="a target_name of the snapshot instead of a position")
    p.add_argument(
        "--radius",
        default="1",
        help="radius: a number of arcmin, or with a unit: 30arcsec, 2arcmin, 0.5deg (default 1 arcmin)",
    )
    p.add_argument("--start", default=None, help="only observations ending at or after this (MJD or ISO UTC)")
    p.add_argument("--end", default=None, help="only observations starting at or before this (MJD or ISO UTC)")
    p.add_argument(
        "--table", action="append", choices=("obsplan", "obscore"), default=None, help="search only this table"
    )
    p.add_argument("--snapshot", type=Path, default=None, help="snapshot directory (default: <output>/latest)")
    p.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="output root (default: output)")
    p.add_argument("--format", choices=FORMATS, default="text", help="text (default), csv, json or votable")
    p.set_defaults(func=_lookup)
    return p
