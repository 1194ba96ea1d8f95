"""The raw archive: every response a harvest saw, kept on disk so a snapshot can be rebuilt offline.

Layout under ``root``::

    blobs/<sha[:2]>/<sha256>     exact response bytes, content-addressed (unchanged pages stored once)
    records/<request.key>.json   the latest outcome of each request (success or failure)
    log.jsonl                    append-only lineage: one line per fetch outcome, failures included
    as_of.json                   {"as_of": "YYYY-MM-DD"}: the snapshot date a replay stands for

Blobs and records are written to a temporary file and renamed into place, so a reader never sees a
half-written file. Log lines are appended under a per-process lock with one ``write`` each; separate
processes appending short lines to the same log rely on POSIX ``O_APPEND``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import tempfile
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from scrapers.base import RawRecord, Request, SourceError

#: Response headers worth keeping: validators for conditional GETs, type/size, server time.
KEPT_HEADERS: tuple[str, ...] = ("ETag", "Last-Modified", "Content-Type", "Content-Length", "Retry-After", "Date")

_EMPTY_SHA = hashlib.sha256(b"").hexdigest()


class ArchiveError(SourceError):
    """The archive cannot give back what it claims to hold (missing or tampered blob, broken record)."""


def sha256_hex(content: bytes) -> str:
    """SHA-256 of bytes as lower-case hex: the blob address."""
    return hashlib.sha256(content).hexdigest()


def keep_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The subset of response headers the archive keeps, with canonical capitalisation."""
    lower = {k.lower(): v for k, v in headers.items()}
    return {name: str(lower[name.lower()]) for name in KEPT_HEADERS if name.lower() in lower}


def _atomic_write(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _request_fields(request: Request) -> dict[str, Any]:
    return {
        "key": request.key,
        "source": request.source,
        "name": request.name,
        "url": request.url,
        "method": request.method,
        "params": [list(p) for p in request.params],
        "data": [list(p) for p in request.data],
        "kind": request.kind,
        "query": request.query,
    }


def request_from_entry(entry: Mapping[str, Any]) -> Request:
    """The :class:`Request` an archive log entry records (``source``, ``name``, ``url``, ``params``, ...)."""
    return Request(
        source=entry["source"],
        name=entry["name"],
        url=entry["url"],
        method=entry["method"],
        params=tuple((str(k), str(v)) for k, v in entry["params"]),
        data=tuple((str(k), str(v)) for k, v in entry["data"]),
        kind=entry["kind"],
        query=entry["query"],
    )


def record_entry(record: RawRecord) -> dict[str, Any]:
    """JSON-ready description of a record (everything but the bytes)."""
    if record.fetched_at.tzinfo is None or record.fetched_at.utcoffset() is None:
        raise ValueError(f"fetched_at must be tz-aware UTC, got {record.fetched_at!r}")
    entry = {
        **_request_fields(record.request),
        "status": record.status,
        "headers": keep_headers(record.headers),
        "fetched_at": record.fetched_at.astimezone(dt.UTC).isoformat(),
        "sha256": record.sha256 if record.error is None else None,
        "size": len(record.content) if record.error is None else None,
        "error": record.error,
    }
    if record.redirects:  # provenance: the bytes are the final URL's, every hop recorded
        entry["redirects"] = list(record.redirects)
        entry["final_url"] = record.final_url
    return entry


class RawArchive:
    """Content-addressed store of raw responses, the single source of truth for replay.

    Parameters
    ----------
    root
        Archive directory; created on first write.
    """

    def __init__(self, root: Path | str):
        self.root = Path(root)
        self._log_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"RawArchive({str(self.root)!r})"

    # -- paths -----------------------------------------------------------------------------
    def blob_path(self, sha256: str) -> Path:
        """Where the bytes with this SHA-256 live."""
        return self.root / "blobs" / sha256[:2] / sha256

    def record_path(self, request: Request) -> Path:
        """Where the latest outcome of ``request`` is described."""
        return self.root / "records" / f"{request.key}.json"

    @property
    def log_path(self) -> Path:
        """The append-only fetch log."""
        return self.root / "log.jsonl"

    # -- blobs -----------------------------------------------------------------------------
    def put_blob(self, content: bytes) -> str:
        """Store bytes once under their SHA-256; returns the hex digest."""
        sha = sha256_hex(content)
        path = self.blob_path(sha)
        if not path.exists():
            _atomic_write(path, content)
        return sha

    def read_blob(self, sha256: str, request: Request) -> bytes:
        """Bytes of a blob, checked against their address so a tampered archive is caught."""
        path = self.blob_path(sha256)
        try:
            content = path.read_bytes()
        except FileNotFoundError:
            raise ArchiveError(
                request.source, request.url, f"archive {self.root}: blob {sha256} of {request.name!r} is missing"
            ) from None
        actual = sha256_hex(content)
        if actual != sha256:
            raise ArchiveError(
                request.source,
                request.url,
                f"archive {self.root}: blob {path} of {request.name!r} is corrupt or tampered "
                f"(SHA-256 {actual}, expected {sha256})",
            )
        return content

    # -- records ---------------------------------------------------------------------------
    def put(self, record: RawRecord, *, log: bool = True, log_extra: Mapping[str, Any] | None = None) -> None:
        """Keep one fetch outcome: bytes as a blob (successes only), the latest record, a log line.

        A failure replaces the latest record (replay then fails the same way) but keeps the last
        successful record inside it (``last_ok``) so the next live fetch can still ask
        conditionally.
        """
        entry = record_entry(record)
        if record.error is None:
            sha = self.put_blob(record.content)
            if sha != record.sha256:
                raise ArchiveError(
                    record.request.source,
                    record.request.url,
                    f"record SHA-256 {record.sha256} does not match its bytes ({sha})",
                )
        else:
            previous = self._read_entry(record.request)
            if previous is not None:
                last_ok = previous if previous.get("error") is None else previous.get("last_ok")
                if last_ok is not None:
                    entry["last_ok"] = last_ok
        # a 304 revalidation lands here too: same bytes, newer fetch time
        _atomic_write(self.record_path(record.request), _dumps(entry, indent=1).encode())
        if log:
            self.log(record, extra=log_extra)

    def log(self, record: RawRecord, *, extra: Mapping[str, Any] | None = None) -> None:
        """Append one outcome to ``log.jsonl``; ``extra`` adds or overrides fields (attempts, 304...)."""
        entry = record_entry(record)
        entry["from_cache"] = record.from_cache
        entry.update(extra or {})
        line = (_dumps(entry) + "\n").encode()
        self.root.mkdir(parents=True, exist_ok=True)
        with self._log_lock:
            fd = os.open(self.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)

    def _read_entry(self, request: Request) -> dict[str, Any] | None:
        path = self.record_path(request)
        try:
            text = path.read_text()
        except FileNotFoundError:
            return None
        try:
            entry = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ArchiveError(request.source, request.url, f"archive record {path} is not JSON: {exc}") from exc
        return entry

    def _record_from(self, entry: Mapping[str, Any], request: Request) -> RawRecord:
        fetched_at = dt.datetime.fromisoformat(entry["fetched_at"])
        if entry.get("error") is not None:
            return RawRecord(
                request=request,
                status=int(entry["status"]),
                headers=dict(entry.get("headers", {})),
                fetched_at=fetched_at,
                content=b"",
                sha256=_EMPTY_SHA,
                error=str(entry["error"]),
                redirects=tuple(entry.get("redirects", ())),
            )
        sha = str(entry["sha256"])
        return RawRecord(
            request=request,
            status=int(entry["status"]),
            headers=dict(entry.get("headers", {})),
            fetched_at=fetched_at,
            content=self.read_blob(sha, request),
            sha256=sha,
            redirects=tuple(entry.get("redirects", ())),
        )

    def get(self, request: Request) -> RawRecord | None:
        """Latest archived outcome of ``request`` (a failure has ``error`` set), or ``None``."""
        entry = self._read_entry(request)
        return None if entry is None else self._record_from(entry, request)

    def get_ok(self, request: Request) -> RawRecord | None:
        """Latest successful response of ``request`` even if a failure came after it."""
        entry = self._read_entry(request)
        if entry is None:
            return None
        if entry.get("error") is not None:
            entry = entry.get("last_ok")
            if entry is None:
                return None
        return self._record_from(entry, request)

    def entries(self) -> Iterator[dict[str, Any]]:
        """Record descriptions (no bytes read), ordered by request key for stable output."""
        folder = self.root / "records"
        if not folder.is_dir():
            return
        for path in sorted(folder.glob("*.json")):
            yield json.loads(path.read_text())

    def records(self) -> Iterator[RawRecord]:
        """Every request's latest outcome, bytes verified."""
        for entry in self.entries():
            yield self._record_from(entry, request_from_entry(entry))

    # -- snapshot date ---------------------------------------------------------------------
    @property
    def as_of(self) -> dt.date | None:
        """Snapshot date the archive stands for, so a replay needs no clock."""
        path = self.root / "as_of.json"
        if not path.exists():
            return None
        return dt.date.fromisoformat(json.loads(path.read_text())["as_of"])

    def set_as_of(self, as_of: dt.date) -> None:
        """Record the snapshot date of the archive."""
        _atomic_write(self.root / "as_of.json", (_dumps({"as_of": as_of.isoformat()}, indent=1) + "\n").encode())

    # -- export ----------------------------------------------------------------------------
    def export(self, dest: Path | str, requests: list[Request]) -> RawArchive:
        """Copy the latest records of ``requests`` and their blobs into a new replayable archive.

        A snapshot's ``raw/`` can be such an export: exactly the bytes it was built from, still
        content-addressed and verifiable. Missing requests raise :class:`ArchiveError`.
        """
        target = RawArchive(dest)
        for request in requests:
            entry = self._read_entry(request)
            if entry is None:
                raise ArchiveError(
                    request.source, request.url, f"archive {self.root} has no record of {request.name!r}"
                )
            if entry.get("error") is None:
                target.put_blob(self.read_blob(str(entry["sha256"]), request))
            _atomic_write(target.record_path(request), _dumps(entry, indent=1).encode())
        if self.as_of is not None:
            target.set_as_of(self.as_of)
        return target


def _dumps(obj: Any, indent: int | None = None) -> str:
    return json.dumps(obj, sort_keys=True, indent=indent, ensure_ascii=False)
