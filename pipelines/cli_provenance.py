"""``voharvest provenance OBS_PUBLISHER_DID [SNAPSHOT]``: from a published row back to the raw bytes.

Prints the chain dataset -> source -> parser -> raw response (URL, fetch time, SHA-256) -> the archive
record and blob in the snapshot's ``raw/``, checking that the blob's bytes still have their SHA-256;
``--write-raw FILE`` writes those bytes out. Reads ``row_provenance.parquet`` (or derives it from the
snapshot's tables and manifest for older snapshots); never imports Dagster.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def format_chain(chain: dict[str, Any]) -> str:
    """Human-readable chain (one block per raw response), as printed by the command.

    Parameters
    ----------
    chain
        :func:`models.provenance.provenance_chain`'s result.

    Returns
    -------
    str
        Text ending with a newline.
    """
    ds = chain["dataset"]
    lines = [
        f"{ds['obs_publisher_did']}",
        f"  published in   snapshot {chain['snapshot']} (tables: {ds['tables']}; first seen {ds['first_seen']}, "
        f"last seen {ds['last_seen']})",
        f"  collection     {ds['obs_collection']}  obs_id {ds['obs_id']}",
        f"  source         {ds['source']}",
        f"  written by     voharvest {chain['code_version']}",
    ]
    if chain.get("provenance_record"):
        lines.append(f"  PROV record    {', '.join(chain['provenance_record'])}")
    n = len(chain["responses"])
    for i, r in enumerate(chain["responses"], 1):  # a handful of responses
        lines += [
            f"  <- [{i}/{n}] request {r['request']!r} ({'the only response' if r['attribution'] == 'request' else 'one of the source responses'})",  # noqa: E501
            f"       parser       {r['parser']}",
            f"       fetched      {r['fetched_at']} from {r['url']}",
            f"       sha256       {r['sha256']}",
            f"       record       {r['record']}",
            f"       bytes        {r['blob']} ({'verified' if r['verified'] else 'MISSING OR ALTERED'})",
        ]
    return "\n".join(lines) + "\n"


def _provenance(args: argparse.Namespace) -> int:
    from models.provenance import provenance_chain
    from models.snapshot import resolve_snapshot

    directory = resolve_snapshot(args.snapshot, args.output)
    if not (directory / "manifest.json").is_file():
        print(f"voharvest provenance: {directory} is not a snapshot (no manifest.json)", file=sys.stderr)
        return 2
    try:
        chain = provenance_chain(directory, args.obs_publisher_did)
    except KeyError as exc:
        print(f"voharvest provenance: {exc.args[0]}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(chain, indent=1, sort_keys=True))
    else:
        sys.stdout.write(format_chain(chain))
    if args.write_raw is not None:
        responses = chain["responses"]
        if args.request is not None:
            responses = [r for r in responses if r["request"] == args.request]
        if len(responses) != 1:
            names = [r["request"] for r in chain["responses"]]
            print(
                f"voharvest provenance: --write-raw needs one response; {len(responses)} match "
                f"(choose with --request NAME among {names})",
                file=sys.stderr,
            )
            return 2
        chosen = responses[0]
        if not chosen["verified"]:
            print(f"voharvest provenance: {chosen['blob']} is missing or altered; nothing written", file=sys.stderr)
            return 1
        content = Path(chosen["blob"]).read_bytes()
        Path(args.write_raw).write_bytes(content)
        print(f"wrote {len(content)} bytes of {chosen['request']!r} (sha256 {chosen['sha256']}) to {args.write_raw}")
    if not all(r["verified"] for r in chain["responses"]):
        return 1
    return 0


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``provenance`` subcommand to the ``voharvest`` parser.

    Parameters
    ----------
    subparsers
        The ``add_subparsers()`` object of :func:`pipelines.cli.parser`.

    Returns
    -------
    argparse.ArgumentParser
        The subcommand's parser.
    """
    p = subparsers.add_parser(
        "provenance",
        help="print the chain from a published row back to the raw bytes it was derived from",
        description=(
            "Follow OBS_PUBLISHER_DID through the snapshot's row provenance to the raw responses it was "
            "derived from: source, parser, URL, fetch time, SHA-256, archive record and blob (re-hashed). "
            "Exit 0 when every blob matches its SHA-256, 1 when the dataset is unknown or a blob is missing "
            "or altered, 2 on usage errors."
        ),
    )
    p.add_argument("obs_publisher_did", help="e.g. 'ivo://voharvest/HESS-DL3-DR1?20136'")
    p.add_argument("snapshot", nargs="?", default=None, help="snapshot directory or date (default: OUTPUT/latest)")
    p.add_argument("--output", type=Path, default=Path("output"), help="output root (default: output)")
    p.add_argument("--json", action="store_true", help="print the chain as JSON")
    p.add_argument("--write-raw", type=Path, default=None, metavar="FILE", help="write the raw response bytes to FILE")
    p.add_argument("--request", default=None, help="with --write-raw: which response, when the source parsed several")
    p.set_defaults(func=_provenance)
    return p
