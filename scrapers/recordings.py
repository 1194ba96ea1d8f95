"""Turning the recordings shipped in the repo into a raw replay archive.

Each source keeps ``recordings/<source>/responses.json``: a list of
``{"request": <Request.name>, "file": <file in that directory>, "status": 200, "content_type": "..."}``.
:func:`build_archive` stores each file as the archived response of the matching request, so
:class:`~scrapers.fetch.ReplayFetcher` serves the offline harvest through the same code as a live
one. The build is deterministic (the fetch time is an argument, never the clock) so the bundled
archive can be committed and rebuilt byte for byte.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from scrapers.archive import RawArchive, sha256_hex
from scrapers.base import RawRecord, Request, Source

RESPONSES = "responses.json"


class RecordingError(Exception):
    """The recordings do not cover the requests, or a recording entry is unusable."""


def _load_responses(source_dir: Path, source: str) -> dict[str, dict[str, Any]]:
    path = source_dir / RESPONSES
    if not path.is_file():
        raise RecordingError(f"{source}: no recordings index {path}")
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise RecordingError(f"{source}: {path} is not JSON: {exc}") from exc
    if not isinstance(entries, list):
        raise RecordingError(f"{source}: {path} must hold a list of entries, got {type(entries).__name__}")
    by_name: dict[str, dict[str, Any]] = {}
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or "request" not in entry or "file" not in entry:
            raise RecordingError(f"{source}: {path} entry {i} needs 'request' and 'file', got {entry!r}")
        name = str(entry["request"])
        if name in by_name:
            raise RecordingError(f"{source}: {path} lists request {name!r} twice")
        by_name[name] = entry
    return by_name


def _recorded_bytes(source_dir: Path, entry: dict[str, Any], source: str) -> bytes:
    base = source_dir.resolve()
    path = (source_dir / str(entry["file"])).resolve()
    if not path.is_relative_to(base):
        raise RecordingError(f"{source}: recording file {entry['file']!r} lies outside {source_dir}")
    if not path.is_file():
        raise RecordingError(f"{source}: recording file {path} of request {entry['request']!r} does not exist")
    return path.read_bytes()


def _record(request: Request, entry: dict[str, Any], content: bytes, fetched_at: dt.datetime) -> RawRecord:
    status = int(entry.get("status", 200))
    headers = {"Content-Length": str(len(content))}
    if entry.get("content_type"):
        headers["Content-Type"] = str(entry["content_type"])
    if 200 <= status < 300:
        return RawRecord(request, status, headers, fetched_at, content, sha256_hex(content))
    # a recorded failure replays as the error a live fetch would raise
    error = f"HttpStatusError: HTTP {status} for {request.name!r} (recorded)"
    return RawRecord(request, status, headers, fetched_at, b"", sha256_hex(b""), error=error)


def _looks_like_archive(path: Path) -> bool:
    return (path / "records").is_dir() or (path / "as_of.json").is_file()


def build_archive(
    recordings_dir: Path,
    archive_dir: Path,
    requests: list[Request],
    as_of: dt.date,
    fetched_at: dt.datetime,
) -> RawArchive:
    """Build (or rebuild) a replay archive from recordings for exactly ``requests``.

    Every request must have a recording in ``recordings_dir/<source>/responses.json``; a missing
    one raises :class:`RecordingError` naming the source, the request and the names recorded.
    The archive is assembled next to ``archive_dir`` and swapped in at the end, so a failed build
    leaves the previous archive untouched. An existing ``archive_dir`` that is not an archive is
    refused rather than deleted.
    """
    recordings_dir, archive_dir = Path(recordings_dir), Path(archive_dir)
    if fetched_at.tzinfo is None or fetched_at.utcoffset() is None:
        raise ValueError(f"fetched_at must be tz-aware UTC, got {fetched_at!r}")
    fetched_at = fetched_at.astimezone(dt.UTC)
    if archive_dir.exists() and any(archive_dir.iterdir()) and not _looks_like_archive(archive_dir):
        raise RecordingError(f"{archive_dir} exists and is not a raw archive; refusing to replace it")
    indexes: dict[str, dict[str, dict[str, Any]]] = {}
    planned: list[tuple[Request, dict[str, Any], bytes]] = []
    for request in requests:
        source_dir = recordings_dir / request.source
        if request.source not in indexes:
            indexes[request.source] = _load_responses(source_dir, request.source)
        entries = indexes[request.source]
        entry = entries.get(request.name)
        if entry is None:
            raise RecordingError(
                f"{request.source}: no recording for request {request.name!r} ({request.url}) in "
                f"{source_dir / RESPONSES}; recorded: {sorted(entries)}"
            )
        planned.append((request, entry, _recorded_bytes(source_dir, entry, request.source)))

    staging = archive_dir.with_name(f".{archive_dir.name}.building")
    if staging.exists():
        shutil.rmtree(staging)
    archive = RawArchive(staging)
    try:
        for request, entry, content in planned:
            archive.put(_record(request, entry, content, fetched_at), log_extra={"origin": "recording"})
        archive.set_as_of(as_of)
        if archive_dir.exists():
            retired = archive_dir.with_name(f".{archive_dir.name}.old")
            if retired.exists():
                shutil.rmtree(retired)
            archive_dir.rename(retired)
            staging.rename(archive_dir)
            shutil.rmtree(retired)
        else:
            archive_dir.parent.mkdir(parents=True, exist_ok=True)
            staging.rename(archive_dir)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return RawArchive(archive_dir)


def build_from_sources(
    recordings_dir: Path,
    archive_dir: Path,
    sources: Iterable[Source],
    as_of: dt.date,
    fetched_at: dt.datetime | None = None,
) -> RawArchive:
    """Replay archive of every request the sources make for ``as_of`` (fetch time: as-of midnight UTC)."""
    if fetched_at is None:
        fetched_at = dt.datetime.combine(as_of, dt.time(0, 0), tzinfo=dt.UTC)
    requests = [request for source in sources for request in source.requests(as_of)]
    return build_archive(recordings_dir, archive_dir, requests, as_of, fetched_at)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: rebuild the bundled replay archive from ``recordings/*/responses.json``."""
    parser = argparse.ArgumentParser(prog="build-replay", description=main.__doc__)
    parser.add_argument("--recordings", type=Path, default=Path("recordings"))
    parser.add_argument("--archive", type=Path, default=Path("recordings/replay"))
    parser.add_argument("--as-of", type=dt.date.fromisoformat, default=dt.date(2025, 9, 5))
    parser.add_argument("--fetched-at", type=dt.datetime.fromisoformat, default=None, help="ISO time with offset")
    parser.add_argument("--source", action="append", default=None, help="restrict to these sources (repeatable)")
    args = parser.parse_args(argv)
    from scrapers.registry import UnknownSource, select_sources  # the explicit list: no source lost silently

    try:
        sources = list(select_sources(args.source).values())
    except (UnknownSource, ImportError, TypeError) as exc:
        parser.exit(1, f"build-replay: {exc}\n")
    try:
        archive = build_from_sources(args.recordings, args.archive, sources, args.as_of, args.fetched_at)
    except (RecordingError, ValueError) as exc:
        parser.exit(1, f"build-replay: {exc}\n")
    count = sum(1 for _ in archive.entries())
    print(f"{archive.root}: {count} responses of {len(sources)} source(s), as of {args.as_of.isoformat()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
