"""The only code that touches the network, and its offline twin.

:class:`HttpFetcher` executes a :class:`~scrapers.base.Request` politely (timeouts, bounded retries
with exponential backoff and jitter, Retry-After, a size cap, a per-host rate limit, conditional
GETs, a User-Agent naming the project) and keeps every outcome in a
:class:`~scrapers.archive.RawArchive`. :class:`ReplayFetcher` answers the same requests from such an
archive, so tests and the offline demo run the very same downstream code as a live harvest. TAP
queries (``kind="tap"``) are ordinary POSTs to ``<service>/sync`` whose VOTable answer is the raw
record; :func:`tap_results` turns it into pyvo results identically for live and replayed answers.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import html
import importlib.metadata
import io
import ipaddress
import random
import re
import socket
import threading
import time
import warnings
from collections.abc import Callable, Collection, Mapping
from itertools import count
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urljoin, urlsplit

import requests
import urllib3.exceptions

from scrapers.archive import RawArchive, keep_headers, sha256_hex
from scrapers.base import ParseError, RawRecord, Request, SourceError
from scrapers.text import decode, refuse_entities

if TYPE_CHECKING:  # pyvo is imported lazily: only TAP answers need it
    from pyvo.dal import TAPResults

MiB = 1024 * 1024
_ERROR_BODY_BYTES = 64 * 1024
_CHUNK = 64 * 1024


def _version() -> str:
    try:
        return importlib.metadata.version("voharvest")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


#: Sent with every request so operators can see who is harvesting and how to reach us.
USER_AGENT = f"voharvest/{_version()} (+https://github.com/voharvest/voharvest)"


# -- errors -------------------------------------------------------------------------------------
class FetchError(SourceError):
    """A request that gave no usable response; names source and URL.

    ``retryable`` says whether another attempt may help (connection trouble, 429, 5xx);
    ``status`` is the HTTP status when one was received (0 otherwise).
    """

    retryable: bool = False

    def __init__(
        self,
        source: str,
        url: str,
        message: str,
        *,
        status: int = 0,
        retryable: bool | None = None,
        retry_after: float | None = None,
    ):
        super().__init__(source, url, message)
        self.status = status
        if retryable is not None:
            self.retryable = retryable
        self.retry_after = retry_after
        self.attempts = 1


class FetchConnectionError(FetchError):
    """No connection could be made or it broke before a response started."""

    retryable = True


class FetchTimeout(FetchError):
    """Connecting or reading took longer than the configured timeout."""

    retryable = True


class TruncatedResponse(FetchError):
    """The body ended early: connection cut mid-body or fewer bytes than Content-Length."""

    retryable = True


class HttpStatusError(FetchError):
    """The server answered with a status that is not success (after retries for 429/5xx)."""


class ResponseTooLarge(FetchError):
    """The body exceeds the size cap; reading stopped at the cap."""


class TapQueryError(FetchError):
    """The TAP service answered with an error document (DALI ``QUERY_STATUS=ERROR``)."""


class ReplayMissing(FetchError):
    """A replayed request that the archive does not hold: never served as an empty page."""


class RedirectRefused(FetchError):
    """A redirect the policy does not follow (another host, another scheme, a private address, a loop)."""


#: Error classes by name, so a replay raises the type the live fetch raised.
ERROR_TYPES: dict[str, type[FetchError]] = {
    cls.__name__: cls
    for cls in (
        FetchError,
        FetchConnectionError,
        FetchTimeout,
        TruncatedResponse,
        HttpStatusError,
        ResponseTooLarge,
        TapQueryError,
        ReplayMissing,
        RedirectRefused,
    )
}

#: Redirect statuses followed (after the policy allows the target) and the most hops taken.
_REDIRECTS = (301, 302, 303, 307, 308)
MAX_REDIRECTS = 5


def _is_private(host: str) -> bool:
    """Whether ``host`` is, or resolves to, a loopback, private, link-local or reserved address."""
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except (socket.gaierror, UnicodeError):
        return False  # unresolvable: the connection attempt will fail with its own clear error
    for text in addresses:
        ip = ipaddress.ip_address(text.split("%")[0])
        if ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_reserved or ip.is_multicast:
            return True
    return False


def _amend(exc: FetchError, text: str) -> None:
    exc.detail += text
    exc.args = (f"{exc.source}: {exc.detail} [{exc.url}]",)


def _error_text(exc: FetchError) -> str:
    return f"{type(exc).__name__}: {exc.detail}"


# -- interface ----------------------------------------------------------------------------------
class Fetcher(Protocol):
    """What assets depend on: live or replayed, a request in, a raw record out (or a typed error)."""

    def fetch(self, request: Request) -> RawRecord:
        """Execute or replay ``request``."""
        ...


def tap_form(request: Request) -> tuple[str, list[tuple[str, str]]]:
    """URL and form fields of a TAP sync query (TAP 1.1 §2: ``<service>/sync`` with doQuery)."""
    if request.query is None:
        raise ValueError(f"{request.describe()}: a TAP request needs an ADQL query")
    fields = [("REQUEST", "doQuery"), ("LANG", "ADQL"), ("FORMAT", "votable"), ("QUERY", request.query)]
    return request.url.rstrip("/") + "/sync", fields + list(request.data)


_INFO_STATUS = re.compile(rb"<INFO\b[^>]*\bname\s*=\s*[\"']QUERY_STATUS[\"'][^>]*>", re.IGNORECASE)
_VALUE_ERROR = re.compile(rb"\bvalue\s*=\s*[\"']ERROR[\"']", re.IGNORECASE)
_TAGS = re.compile(r"<[^>]+>")


def tap_error_message(content: bytes) -> str | None:
    """The service's message when a VOTable says ``QUERY_STATUS=ERROR``, else ``None``.

    A byte scan rather than a full parse: answers can be tens of MiB and the status INFO is small.
    """
    for match in _INFO_STATUS.finditer(content):
        tag = match.group(0)
        if not _VALUE_ERROR.search(tag):
            continue
        if tag.rstrip(b">").rstrip().endswith(b"/"):
            return "(no message)"
        end = content.find(b"</INFO>", match.end())
        body = content[match.end() : end if end >= 0 else match.end() + 2000].decode("utf-8", "replace")
        text = " ".join(html.unescape(_TAGS.sub(" ", body)).split())
        return text or "(no message)"
    return None


def tap_results(record: RawRecord) -> TAPResults:
    """Pyvo results of an archived TAP answer: the same code path for live and replayed queries.

    Raises :class:`TapQueryError` for an error document and :class:`~scrapers.base.ParseError` for
    bytes that are not a usable VOTable.
    """
    from astropy.io.votable import parse as parse_votable
    from pyvo.dal import DALFormatError, DALQueryError, TAPResults

    request = record.request
    if not record.ok:
        raise TapQueryError(request.source, request.url, f"no TAP answer for {request.name!r}: {record.error}")
    text = decode(
        record.content, source=request.source, url=request.url, content_type=record.headers.get("Content-Type")
    )
    refuse_entities(text, source=request.source, url=request.url)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            votable = parse_votable(io.BytesIO(record.content), verify="ignore")
    except Exception as exc:  # astropy raises many types for broken XML
        raise ParseError(
            request.source, request.url, f"TAP answer of {request.name!r} is not a VOTable: {exc}"
        ) from exc
    try:
        return TAPResults(votable, url=request.url)
    except DALQueryError as exc:
        raise TapQueryError(request.source, request.url, f"TAP query {request.name!r} failed: {exc}") from exc
    except DALFormatError as exc:
        raise ParseError(request.source, request.url, f"TAP answer of {request.name!r}: {exc}") from exc


# -- live ---------------------------------------------------------------------------------------
def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class HttpFetcher:
    """Polite HTTP/TAP fetcher writing every outcome to a raw archive.

    Parameters
    ----------
    archive
        Where responses, records and the fetch log go.
    timeout
        ``(connect, read)`` seconds; the read timeout applies to each socket read.
    max_retries
        Extra attempts after the first for connection errors, timeouts, truncated bodies, 429, 5xx.
    backoff, max_backoff
        Delay before retry *n* is ``min(max_backoff, backoff * 2**(n-1))`` times a jitter factor in
        [0.5, 1), raised to the server's Retry-After when it sends one.
    max_retry_after
        A Retry-After longer than this is not waited for: the fetch fails instead.
    max_bytes
        Size cap of a response body after content decoding (a gzip bomb stops at the cap); larger
        bodies raise :class:`ResponseTooLarge`.
    deadline
        Total seconds one attempt may take, from connecting to the last body byte. The read
        timeout bounds each socket read only: a server dripping one byte a second would otherwise
        be read for hours. Exceeding it raises :class:`FetchTimeout` (retryable).
    deadlines
        Per-source deadlines overriding ``deadline`` (source name -> seconds).
    redirect_hosts
        Per-source hosts that redirects may lead to besides the request's own host (source name ->
        host names; typically the source's declared ``hosts``). Every other redirect is refused
        with :class:`RedirectRefused`: another scheme than http(s) (``file:``), another host, and
        a loopback/private/link-local address when the request's own host is not one. Every hop
        is recorded in the archive record (``redirects``, ``final_url``).
    min_interval_per_host
        Seconds between the starts of two requests to the same host. The limit is per process
        (thread-safe); several processes each keep their own, so Dagster's per-host concurrency
        pools should bound processes.
    user_agent
        Sent with every request.
    sleep, clock, now, rng
        Injected waits, monotonic clock, UTC wall clock and jitter source (tests record instead of
        waiting; the HTTP itself stays real).
    """

    def __init__(
        self,
        archive: RawArchive,
        *,
        timeout: tuple[float, float] = (10.0, 60.0),
        max_retries: int = 4,
        backoff: float = 1.0,
        max_backoff: float = 60.0,
        max_retry_after: float = 300.0,
        max_bytes: int = 50 * MiB,
        deadline: float = 300.0,
        deadlines: Mapping[str, float] | None = None,
        redirect_hosts: Mapping[str, Collection[str]] | None = None,
        min_interval_per_host: float = 1.0,
        user_agent: str = USER_AGENT,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], dt.datetime] = _utc_now,
        rng: random.Random | None = None,
    ):
        self.archive = archive
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.max_retry_after = max_retry_after
        self.max_bytes = max_bytes
        self.deadline = deadline
        self.deadlines = dict(deadlines or {})
        self.redirect_hosts = {k: {h.lower() for h in v} for k, v in (redirect_hosts or {}).items()}
        self.min_interval_per_host = min_interval_per_host
        self.user_agent = user_agent
        self.sleep = sleep
        self.clock = clock
        self.now = now
        self.rng = rng or random.Random()
        self.session = requests.Session()
        self.session.headers["User-Agent"] = user_agent
        self._rate_lock = threading.Lock()
        self._next_slot: dict[str, float] = {}

    def close(self) -> None:
        """Release pooled connections."""
        self.session.close()

    def __enter__(self) -> HttpFetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- policies ----------------------------------------------------------------------------
    def _wait_turn(self, url: str) -> None:
        """Reserve the next slot for the host under a lock, then wait outside it."""
        host = (urlsplit(url).hostname or "").lower()
        with self._rate_lock:
            now = self.clock()
            slot = max(now, self._next_slot.get(host, now))
            self._next_slot[host] = slot + self.min_interval_per_host
        if slot > now:
            self.sleep(slot - now)

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        delay = min(self.max_backoff, self.backoff * 2 ** (attempt - 1)) * (0.5 + 0.5 * self.rng.random())
        if retry_after is not None:
            delay = max(delay, retry_after)
        return delay

    def _retry_after(self, value: str | None) -> float | None:
        if not value:
            return None
        value = value.strip()
        if value.isdigit():
            return float(value)
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:  # HTTP dates are GMT by definition
            when = when.replace(tzinfo=dt.UTC)
        return max(0.0, (when - self.now()).total_seconds())

    # -- fetching ----------------------------------------------------------------------------
    def fetch(self, request: Request) -> RawRecord:
        """Execute ``request`` with retries; archive and return the response or record and raise."""
        prior = self.archive.get_ok(request) if request.kind == "http" and request.method == "GET" else None
        retried: list[str] = []
        for attempt in count(1):
            self._wait_turn(request.url)
            try:
                return self._attempt(request, prior, attempt, retried)
            except FetchError as exc:
                exc.attempts = attempt
                if exc.retryable and attempt <= self.max_retries:
                    if exc.retry_after is not None and exc.retry_after > self.max_retry_after:
                        _amend(exc, f"; Retry-After {exc.retry_after:.0f} s exceeds {self.max_retry_after:.0f} s")
                    else:
                        retried.append(exc.detail)
                        self.sleep(self._delay(attempt, exc.retry_after))
                        continue
                if attempt > 1:
                    _amend(exc, f" (after {attempt} attempts)")
                failure = RawRecord(
                    request=request,
                    status=exc.status,
                    headers={},
                    fetched_at=self.now(),
                    content=b"",
                    sha256=sha256_hex(b""),
                    error=_error_text(exc),
                )
                self.archive.put(failure, log_extra={"attempts": attempt, "retried": retried})
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _attempt(self, request: Request, prior: RawRecord | None, attempt: int, retried: list[str]) -> RawRecord:
        if request.kind == "tap":
            url, data = tap_form(request)
            method = "POST"
        else:
            url, data, method = request.url, list(request.data), request.method
        headers: dict[str, str] = {}
        if prior is not None:
            if "ETag" in prior.headers:
                headers["If-None-Match"] = prior.headers["ETag"]
            if "Last-Modified" in prior.headers:
                headers["If-Modified-Since"] = prior.headers["Last-Modified"]
        started = self.clock()
        limit = self.deadlines.get(request.source, self.deadline)
        params = list(request.params) or None
        redirects: list[str] = []
        while True:
            response = self._send(request, method, url, params, data, headers, started, limit)
            if response.status_code not in _REDIRECTS or "Location" not in response.headers:
                break
            target = urljoin(url, response.headers["Location"])
            response.close()
            self._check_redirect(request, url, target, redirects)
            redirects.append(target)
            url, params = target, None  # the Location carries its own query
            if response.status_code == 303 or (response.status_code in (301, 302) and method == "POST"):
                method, data = "GET", []
        with response:
            status = response.status_code
            kept = keep_headers(response.headers)
            log_extra = {"attempts": attempt, "retried": retried}
            if status == 304 and prior is not None:
                record = RawRecord(
                    request=request,
                    status=prior.status,
                    headers={**prior.headers, **kept},
                    fetched_at=self.now(),
                    content=prior.content,
                    sha256=prior.sha256,
                    from_cache=True,
                    redirects=tuple(redirects),
                )
                self.archive.put(record, log_extra={**log_extra, "status": 304})
                return record
            if not 200 <= status < 300:
                raise self._status_error(request, response, status)
            content = self._read_body(request, response, started, limit)
        if request.kind == "tap":
            message = tap_error_message(content)
            if message is not None:
                raise TapQueryError(
                    request.source, request.url, f"TAP query {request.name!r} failed: {message}", status=status
                )
        record = RawRecord(
            request=request,
            status=status,
            headers=kept,
            fetched_at=self.now(),
            content=content,
            sha256=sha256_hex(content),
            redirects=tuple(redirects),
        )
        self.archive.put(record, log_extra=log_extra)
        return record

    def _send(
        self,
        request: Request,
        method: str,
        url: str,
        params: list[tuple[str, str]] | None,
        data: list[tuple[str, str]],
        headers: dict[str, str],
        started: float,
        limit: float,
    ) -> requests.Response:
        """One HTTP exchange up to the response headers, redirects not followed."""
        connect, read = self.timeout
        remaining = limit - (self.clock() - started)
        if remaining <= 0:
            raise FetchTimeout(request.source, request.url, f"deadline of {limit:g} s passed before {url} was asked")
        try:
            return self.session.request(
                method,
                url,
                params=params,
                data=data or None,
                headers=headers,
                timeout=(min(connect, remaining), min(read, remaining)),
                stream=True,
                allow_redirects=False,
            )
        except requests.exceptions.Timeout as exc:
            raise FetchTimeout(request.source, request.url, f"timed out ({self.timeout} s): {exc}") from exc
        except requests.exceptions.ConnectionError as exc:
            raise FetchConnectionError(request.source, request.url, f"connection failed: {exc}") from exc
        except requests.exceptions.RequestException as exc:
            raise FetchError(request.source, request.url, f"request failed: {exc}") from exc

    def _check_redirect(self, request: Request, current: str, target: str, hops: list[str]) -> None:
        """Raise :class:`RedirectRefused` unless the redirect policy allows ``current`` -> ``target``."""
        parts, here = urlsplit(target), urlsplit(current)
        origin = urlsplit(request.url)
        why = None
        if parts.scheme not in ("http", "https"):
            why = f"scheme {parts.scheme or '(none)'!r} is not http(s)"
        elif len(hops) >= MAX_REDIRECTS:
            why = f"more than {MAX_REDIRECTS} redirects"
        elif target in hops or target == request.url:
            why = "redirect loop"
        else:
            host = (parts.hostname or "").lower()
            allowed = {(origin.hostname or "").lower(), (here.hostname or "").lower()}
            allowed |= self.redirect_hosts.get(request.source, set())
            if host not in allowed:
                why = f"host {host!r} is not the request's host nor allowed for {request.source!r}"
            elif _is_private(host) and not _is_private(origin.hostname or ""):
                why = f"host {host!r} is a private or loopback address"
        if why is not None:
            chain = " -> ".join([request.url, *hops, target])
            raise RedirectRefused(request.source, request.url, f"redirect refused ({why}): {chain}")

    def _status_error(self, request: Request, response: requests.Response, status: int) -> FetchError:
        retryable = status == 429 or status >= 500
        retry_after = self._retry_after(response.headers.get("Retry-After")) if retryable else None
        try:
            body = response.raw.read(_ERROR_BODY_BYTES, decode_content=True) or b""
        except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError, OSError):
            body = b""
        tap_message = tap_error_message(body) if request.kind == "tap" else None
        if tap_message is not None:
            return TapQueryError(
                request.source,
                request.url,
                f"TAP query {request.name!r} failed (HTTP {status}): {tap_message}",
                status=status,
                retryable=retryable,
                retry_after=retry_after,
            )
        snippet = " ".join(body[:200].decode("utf-8", "replace").split())
        text = f"HTTP {status} {response.reason or ''}".rstrip()
        if retry_after is not None:
            text += f" (Retry-After {retry_after:g} s)"
        return HttpStatusError(
            request.source,
            request.url,
            f"{text} for {request.name!r}" + (f": {snippet!r}" if snippet else ""),
            status=status,
            retryable=retryable,
            retry_after=retry_after,
        )

    def _read_body(self, request: Request, response: requests.Response, started: float, limit: float) -> bytes:
        status = response.status_code
        encoded = bool(response.headers.get("Content-Encoding", "").strip().lower() not in ("", "identity"))
        length_text = response.headers.get("Content-Length")
        length = int(length_text) if length_text and length_text.strip().isdigit() else None
        if length is not None and not encoded and length > self.max_bytes:
            raise ResponseTooLarge(
                request.source,
                request.url,
                f"Content-Length {length} exceeds the {self.max_bytes}-byte cap; body not read",
                status=status,
            )
        chunks: list[bytes] = []
        total = 0
        try:
            while True:
                # read1: whatever one socket read brings (<= _CHUNK), so the deadline is checked
                # between reads even when the server drips a byte at a time.
                chunk = response.raw.read1(_CHUNK, decode_content=True)
                if not chunk:  # urllib3 returns b"" only at the end of the body
                    break
                total += len(chunk)
                if total > self.max_bytes:
                    raise ResponseTooLarge(
                        request.source,
                        request.url,
                        f"body exceeds the {self.max_bytes}-byte cap; stopped after {total} bytes",
                        status=status,
                    )
                chunks.append(chunk)
                if self.clock() - started > limit:
                    raise FetchTimeout(
                        request.source,
                        request.url,
                        f"deadline of {limit:g} s exceeded mid-body after {total} bytes",
                        status=status,
                    )
        except (urllib3.exceptions.ReadTimeoutError, TimeoutError) as exc:
            raise FetchTimeout(
                request.source, request.url, f"read timed out mid-body after {total} bytes", status=status
            ) from exc
        except (urllib3.exceptions.ProtocolError, urllib3.exceptions.HTTPError, OSError) as exc:
            raise TruncatedResponse(
                request.source, request.url, f"body cut after {total} bytes: {exc}", status=status
            ) from exc
        content = b"".join(chunks)
        if length is not None and not encoded and len(content) != length:
            raise TruncatedResponse(
                request.source,
                request.url,
                f"got {len(content)} bytes, Content-Length said {length}",
                status=status,
            )
        return content


# -- replay -------------------------------------------------------------------------------------
class ReplayFetcher:
    """Serves requests from a raw archive: same interface and same errors as a live fetch."""

    def __init__(self, archive: RawArchive | Path | str):
        self.archive = archive if isinstance(archive, RawArchive) else RawArchive(archive)
        if not self.archive.root.is_dir():
            raise FileNotFoundError(f"replay archive {self.archive.root} does not exist")

    @property
    def as_of(self) -> dt.date | None:
        """Snapshot date of the archive."""
        return self.archive.as_of

    def fetch(self, request: Request) -> RawRecord:
        """The archived response; a missing request or a recorded failure raises, never an empty page."""
        record = self.archive.get(request)
        if record is None:
            known = sorted({e["name"] for e in self.archive.entries() if e.get("source") == request.source})
            raise ReplayMissing(
                request.source,
                request.url,
                f"request {request.name!r} ({request.method} {request.url}, key {request.key[:12]}) is not in "
                f"replay archive {self.archive.root}; archived requests of {request.source!r}: {known}",
            )
        if record.error is not None:
            kind, _, detail = record.error.partition(": ")
            cls = ERROR_TYPES.get(kind, FetchError)
            raise cls(
                request.source,
                request.url,
                f"replayed failure recorded {record.fetched_at.isoformat()}: {detail or record.error}",
                status=record.status,
            )
        return record
