"""What every source shares: requests, raw records, the source description and parse errors.

A source module (``nustar.py``, ``xmm_newton.py`` ...) is pure: it says which requests to make for
an as-of date, parses raw bytes into a source frame, and normalises source frames into IVOA
frames. Only :mod:`scrapers.fetch` touches the network.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import pandas as pd

from models.errors import ValueParseError


@dataclass(frozen=True)
class Request:
    """One request a source makes: an HTTP GET/POST or a TAP (ADQL) query.

    ``name`` is the logical name inside the source (``short_range``, ``numaster``): stable across
    dates, used to route raw bytes to the right parser and to key replay archives.
    """

    source: str
    name: str
    url: str
    method: Literal["GET", "POST"] = "GET"
    params: tuple[tuple[str, str], ...] = ()
    data: tuple[tuple[str, str], ...] = ()
    kind: Literal["http", "tap"] = "http"
    query: str | None = None

    @property
    def key(self) -> str:
        """Content key of the request (method, URL, parameters, body, query): SHA-256 hex."""
        canon = json.dumps(
            {
                "method": self.method,
                "url": self.url,
                "params": sorted(self.params),
                "data": sorted(self.data),
                "kind": self.kind,
                "query": self.query,
            },
            sort_keys=True,
        )
        return hashlib.sha256(canon.encode()).hexdigest()

    def describe(self) -> str:
        """Short text for errors and logs."""
        return f"{self.source}/{self.name} {self.method} {self.url}"


@dataclass(frozen=True)
class RawRecord:
    """A response as archived: request, status, selected headers, UTC fetch time and exact bytes.

    ``redirects`` lists every redirect hop followed (the URLs redirected *to*, in order); the bytes
    came from the last one. Empty when the request URL answered directly.
    """

    request: Request
    status: int
    headers: Mapping[str, str]
    fetched_at: dt.datetime
    content: bytes
    sha256: str
    error: str | None = None
    from_cache: bool = False
    redirects: tuple[str, ...] = ()

    @property
    def final_url(self) -> str:
        """The URL whose answer the bytes are (the request URL unless redirected)."""
        return self.redirects[-1] if self.redirects else self.request.url

    @property
    def ok(self) -> bool:
        """Whether the response carries usable content."""
        return self.error is None and 200 <= self.status < 300


class SourceError(Exception):
    """Base of errors that name a source and URL."""

    def __init__(self, source: str, url: str, message: str):
        super().__init__(f"{source}: {message} [{url}]")
        self.source = source
        self.url = url
        self.detail = message


class ParseError(SourceError):
    """A page or table that does not have the documented layout or contents.

    Names the source, URL, and where known the row, column / header and the headers found.
    """

    def __init__(
        self,
        source: str,
        url: str,
        message: str,
        *,
        row: int | None = None,
        column: str | None = None,
        found: list[str] | None = None,
    ):
        where = []
        if row is not None:
            where.append(f"row {row}")
        if column is not None:
            where.append(f"column {column!r}")
        text = message + (f" ({', '.join(where)})" if where else "")
        if found is not None:
            text += f"; headers found: {found}"
        super().__init__(source, url, text)
        self.row = row
        self.column = column
        self.found = found


#: IVOA frames produced by a source, by table short name.
IvoaFrames = dict[str, pd.DataFrame]


@dataclass(frozen=True)
class Source:
    """A harvestable source and its pure functions.

    Attributes
    ----------
    name
        Short name used on the CLI and in asset keys (``nustar``).
    facility
        Facility name(s) published in ``facility_name``.
    hosts
        Remote hosts contacted (Dagster concurrency pools are per host).
    cron
        Harvest cadence for the schedule (cron, UTC); ``None`` for archive-only sources.
    requests
        ``requests(as_of)`` -> the requests to make for that snapshot date.
    parse
        ``parse(request_name, content, url, content_type=None)`` -> source frame (pure);
        ``content_type`` is the HTTP ``Content-Type`` recorded with the response, for
        :func:`scrapers.text.decode`.
    normalise
        ``normalise(frames_by_request_name, as_of)`` -> IVOA frames (``obsplan``, ``obscore``...).
    id_pattern
        Regular expression every ``obs_id`` of the source matches (a drift check).
    """

    name: str
    facility: str
    hosts: tuple[str, ...]
    cron: str | None
    requests: Callable[[dt.date], list[Request]]
    parse: Callable[..., pd.DataFrame]
    normalise: Callable[[dict[str, pd.DataFrame], dt.datetime], IvoaFrames]
    id_pattern: str = r".+"
    description: str = ""
    extras: dict[str, str] = field(default_factory=dict)


def value_error(
    exc: ValueParseError,
    *,
    source: str,
    url: str,
    column: str,
    index: Sequence[object] | pd.Index | None = None,
    found: list[str] | None = None,
) -> ParseError:
    """A :class:`ParseError` naming source, URL, row and column for an error of a value layer.

    The value layers (:mod:`models.timeutil`, :mod:`models.coords`, ...) report 0-based positions;
    ``index`` maps them to the row labels the source shows in its errors (a frame's index: the
    1-based body row of an HTML table, the data row of a CSV). Use as
    ``raise value_error(exc, ...) from exc``.

    Parameters
    ----------
    exc
        The value layer's error.
    source, url
        Where the values came from.
    column
        The column as the page names it.
    index
        Row labels by position (default: the positions themselves).
    found
        Headers found, for the message.

    Returns
    -------
    ParseError
        The error to raise.
    """
    rows = [index[r] for r in exc.rows] if index is not None else exc.rows
    first = rows[0] if rows else None
    more = f"; also rows {list(rows[1:5])}" if len(rows) > 1 else ""
    message = f"{exc.reason}: {exc.values[0]!r}{more}" if exc.values else exc.reason
    return ParseError(source, url, message, row=first, column=column, found=found)  # type: ignore[arg-type]
