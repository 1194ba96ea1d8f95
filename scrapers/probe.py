"""``voharvest probe``: fetch a source's pages once, run only its parsers, and say what was seen.

The first thing an operator runs when a source changes. For every request of a source it reports
the HTTP status, content type and size, the charset the text layer chose, the structure of the
answer (HTML tables with their titles and headers, VOTable FIELDs, the first lines of a CSV/text
file), the rows parsed and the layout variant the parser recognised (``frame.attrs["layout"]``,
described by the source module's ``LAYOUTS`` dict) -- or the parser's :class:`ParseError`, which
names what it found and the variants it knows.

Layout drift: when a baseline raw archive is given (the dated archive of the last good harvest, or
the bundled ``recordings/replay``), each answer's structure is compared with the baseline's answer
to the same request and the differences are named (tables gone or added, headers removed, added or
reordered, VOTable FIELDs, CSV columns). That says *what changed* when a live page matches no known
variant any more.

Nothing is published. The fetch uses :class:`scrapers.fetch.HttpFetcher` with its policies
(timeouts, retries, size cap, per-host rate limit, User-Agent); its own archive is a throw-away
directory, and outcomes are copied, under the source's real requests, into a raw archive only when
the caller passes one (it is then replayable with ``voharvest harvest --replay``). ``via`` rewrites
the scheme and host of every request URL to another base (a local test server or a mirror).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import gzip
import importlib
import io
import re
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import pandas as pd

from scrapers import html_tables
from scrapers import text as text_layer
from scrapers.archive import RawArchive, request_from_entry, sha256_hex
from scrapers.base import ParseError, RawRecord, Request, Source
from scrapers.fetch import Fetcher, FetchError

#: Lines of a text/CSV answer shown in the report (NuSTAR's ObsLoc file has three header rows).
HEAD_LINES = 3
#: Characters of one shown line or cell list before it is cut.
LINE_CHARS = 200
#: Characters at the start of a text answer looked at for its first lines (the rest is the parser's job).
TEXT_WINDOW = 64 * 1024
#: Decompressed bytes of a gzip answer read for its structure (a bound against decompression bombs).
GUNZIP_CAP = 512 * 1024 * 1024

_FIELD = re.compile(r"""<FIELD\b[^>]*?\bname\s*=\s*["']([^"']*)["']""", re.IGNORECASE)
_VOTABLE = re.compile(r"<VOTABLE\b", re.IGNORECASE)
_VOTABLE_DATA = re.compile(r"<DATA\b", re.IGNORECASE)
_HTML = re.compile(r"<(?:html|table|body)\b", re.IGNORECASE)
_DELIMITERS = ("|", "\t", ";", ",")


# -- what a page looks like --------------------------------------------------------------------
@dataclass(frozen=True)
class TableInfo:
    """One HTML table as found: position, title, header cells as shown, number of body rows."""

    index: int
    title: str
    headers: tuple[str, ...]
    rows: int


@dataclass(frozen=True)
class PageStructure:
    """What an answer is made of, independent of any parser.

    Attributes
    ----------
    kind
        ``html``, ``votable``, ``text`` (CSV and other delimited text), ``fits`` (table HDUs as
        ``tables``), ``binary`` (anything else not text), ``empty`` or ``undecodable``.
    charset, charset_from
        The encoding :func:`scrapers.text.detect` chose and where it was declared (text kinds only).
    tables
        HTML tables.
    fields
        VOTable FIELD names.
    head
        First non-blank lines of a text answer.
    columns
        Header cells of a delimited text answer (first line split on its delimiter, quotes removed;
        ``#`` comment lines skipped).
    note
        Why the structure could not be read (undecodable bytes, not HTML...), else empty.
    """

    kind: str
    charset: str | None = None
    charset_from: str | None = None
    tables: tuple[TableInfo, ...] = ()
    fields: tuple[str, ...] = ()
    head: tuple[str, ...] = ()
    columns: tuple[str, ...] = ()
    note: str = ""


def _cut(text: str, limit: int = LINE_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _split_header(line: str) -> tuple[str, ...]:
    counts = {d: line.count(d) for d in _DELIMITERS}
    delimiter = max(_DELIMITERS, key=lambda d: counts[d])
    if counts[delimiter] == 0:
        return tuple(line.split())
    return tuple(cell.strip().strip('"').strip() for cell in line.split(delimiter))


def _fits_structure(content: bytes) -> PageStructure:
    """FITS (optionally gzip-compressed): its table HDUs as tables (title = EXTNAME, headers = columns)."""
    from astropy.io import fits

    note = ""
    if content.startswith(b"\x1f\x8b"):
        note = "gzip-compressed"
        try:
            with gzip.GzipFile(fileobj=io.BytesIO(content)) as unzipped:
                content = unzipped.read(GUNZIP_CAP + 1)
        except (OSError, EOFError) as exc:
            return PageStructure("binary", note=f"gzip-compressed, not decompressible: {exc}")
        if len(content) > GUNZIP_CAP:
            return PageStructure("binary", note=f"gzip-compressed, more than {GUNZIP_CAP} bytes uncompressed")
    if not content.startswith(b"SIMPLE  ="):
        return PageStructure("binary", note=note)
    try:
        with fits.open(io.BytesIO(content), memmap=False) as hdus:
            tables = tuple(
                TableInfo(i, hdu.name, tuple(hdu.columns.names), int(hdu.header.get("NAXIS2", 0)))
                for i, hdu in enumerate(hdus)
                if isinstance(hdu, fits.BinTableHDU | fits.TableHDU)
            )
    except Exception as exc:  # astropy raises many types for a broken file
        return PageStructure("binary", note=f"not readable as FITS: {exc}")
    return PageStructure("fits", tables=tables, note=note)


def page_structure(content: bytes, content_type: str | None, *, source: str, url: str) -> PageStructure:
    """The structure of an answer, read without the source's parser.

    Parameters
    ----------
    content
        Response bytes.
    content_type
        The HTTP ``Content-Type`` of the response (drives the charset and the HTML/text decision).
    source, url
        Named in errors of the text layer.

    Returns
    -------
    PageStructure
        Kind, charset and the tables / FIELDs / first lines found: what the report shows and what
        :func:`structure_changes` compares.
    """
    if not content.strip():
        return PageStructure("empty")
    if content.startswith((b"\x1f\x8b", b"SIMPLE  =")):
        return _fits_structure(content)
    encoding = text_layer.detect(content, content_type)
    try:
        text = text_layer.decode(content, source=source, url=url, content_type=content_type)
    except ParseError as exc:
        return PageStructure("undecodable", encoding.name, encoding.declared_by, note=exc.detail)
    common = {"charset": encoding.name, "charset_from": encoding.declared_by}
    start = text[:4096]
    if _VOTABLE.search(start):
        data = _VOTABLE_DATA.search(text)  # FIELDs precede the data: do not scan tens of MiB of rows
        fields = tuple(_FIELD.findall(text, 0, data.start() if data else len(text)))
        return PageStructure("votable", fields=fields, **common)
    is_html = "html" in (content_type or "").lower() or (start.lstrip().startswith("<") and _HTML.search(start))
    if is_html:
        try:
            tables = html_tables.read_tables(text, source=source, url=url)
        except ParseError as exc:
            return PageStructure("html", note=exc.detail, **common)
        infos = tuple(TableInfo(t.index, t.title, t.headers, len(t.rows)) for t in tables)
        return PageStructure("html", tables=infos, **common)
    comments, lines = 0, []
    for raw in text[:TEXT_WINDOW].splitlines():  # the first lines only, however long the answer
        line = raw.strip()
        if line.startswith("#"):
            comments += 1
        elif line:
            lines.append(line)
            if len(lines) == HEAD_LINES:
                break
    head = tuple(_cut(line) for line in lines)
    columns = _split_header(lines[0]) if lines else ()
    note = f"{comments} '#' comment line(s) not shown" if comments else ""
    return PageStructure("text", head=head, columns=columns, note=note, **common)


def _list_change(what: str, before: Sequence[str], after: Sequence[str]) -> list[str]:
    removed = [h for h in before if h not in after]
    added = [h for h in after if h not in before]
    out = []
    if removed:
        out.append(f"{what}: removed {removed}")
    if added:
        out.append(f"{what}: added {added}")
    if not removed and not added and list(before) != list(after):
        out.append(f"{what}: reordered {list(before)} -> {list(after)}")
    return out


def _table_label(table: TableInfo) -> str:
    return f"table #{table.index} {table.title!r}" if table.title else f"table #{table.index}"


def structure_changes(before: PageStructure, after: PageStructure) -> list[str]:
    """What differs between a known-good answer's structure and a new one, in words.

    Tables are paired by title when the title is unique on both pages, else by position; header
    cells are compared as shown on the page, so a renamed header appears as one removed and one
    added. An empty list means the structure is unchanged (values may still differ).

    Parameters
    ----------
    before
        Structure of the baseline answer (the last one the parser accepted).
    after
        Structure of the answer being probed.

    Returns
    -------
    list[str]
        One line per difference, naming the table / FIELD / column.
    """
    if before.kind != after.kind:
        return [f"answer kind: {before.kind} -> {after.kind}" + (f" ({after.note})" if after.note else "")]
    changes: list[str] = []
    if before.charset != after.charset:
        changes.append(f"charset: {before.charset} ({before.charset_from}) -> {after.charset} ({after.charset_from})")
    if after.kind == "votable":
        changes += _list_change("VOTable FIELDs", before.fields, after.fields)
    elif after.kind == "text":
        changes += _list_change("columns of the first line", before.columns, after.columns)
    elif after.kind in ("html", "fits"):
        if len(before.tables) != len(after.tables):
            changes.append(f"tables: {len(before.tables)} -> {len(after.tables)}")
        titles_after = [t.title for t in after.tables]
        titles_before = [t.title for t in before.tables]
        paired: set[int] = set()  # positions in after.tables
        for position, old in enumerate(before.tables):
            unique = old.title and titles_before.count(old.title) == 1 and titles_after.count(old.title) == 1
            if unique:
                match = titles_after.index(old.title)
            elif position < len(after.tables) and position not in paired:
                match = position
            else:
                changes.append(f"{_table_label(old)} with headers {list(old.headers)}: gone")
                continue
            paired.add(match)
            new = after.tables[match]
            label = _table_label(old)
            if new.index != old.index or new.title != old.title:
                changes.append(f"{label}: now {_table_label(new)}")
            changes += _list_change(f"{label} headers", old.headers, new.headers)
            if old.rows and not new.rows:
                changes.append(f"{label}: {old.rows} body rows -> none")
        for position, new in enumerate(after.tables):
            if position not in paired:
                changes.append(f"new {_table_label(new)} with headers {list(new.headers)}")
    return changes


def answer_changes(before: RawRecord, after: RawRecord, *, source: str) -> list[str]:
    """What changed in the structure of an answer since a known-good answer to the same request.

    For a harvest's drift report too: when a page fails to parse, this names the tables, headers,
    FIELDs or columns that differ from the previous good harvest's raw archive
    (:func:`baseline_records`).

    Parameters
    ----------
    before
        The known-good answer.
    after
        The new answer.
    source
        Named in text-layer errors.

    Returns
    -------
    list[str]
        :func:`structure_changes` of the two answers (empty: same structure).
    """
    old = page_structure(before.content, before.headers.get("Content-Type"), source=source, url=before.request.url)
    new = page_structure(after.content, after.headers.get("Content-Type"), source=source, url=after.request.url)
    return structure_changes(old, new)


# -- the probe ---------------------------------------------------------------------------------
@dataclass
class RequestReport:
    """What the probe saw for one request (JSON-ready through :func:`dataclasses.asdict`).

    ``outcome`` is ``parsed``, ``parse failed``, ``parser crashed`` (an exception that is not a
    :class:`ParseError`: a parser bug) or ``fetch failed``.
    """

    name: str
    method: str
    kind: str
    url: str
    fetched_url: str
    params: list[tuple[str, str]] = field(default_factory=list)
    query: str | None = None
    outcome: str = "fetch failed"
    status: int | None = None
    content_type: str | None = None
    size: int | None = None
    from_cache: bool = False
    structure: PageStructure | None = None
    rows: int | None = None
    columns: list[str] = field(default_factory=list)
    layout: str | None = None
    layout_description: str | None = None
    error: str | None = None
    baseline_changes: list[str] | None = None

    @property
    def ok(self) -> bool:
        """Whether the answer was fetched and parsed."""
        return self.outcome == "parsed"


@dataclass
class ProbeReport:
    """The probe of one source: one :class:`RequestReport` per request and the variants it knows."""

    source: str
    as_of: str
    via: str | None
    layouts: dict[str, str] | None
    layouts_module: str
    requests: list[RequestReport]
    baseline: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the requests could be built and every one was fetched and parsed."""
        return self.error is None and all(r.ok for r in self.requests)

    def to_json(self) -> dict[str, Any]:
        """The report as plain JSON types (the ``--json`` output)."""
        out = dataclasses.asdict(self)
        out["ok"] = self.ok
        for entry, report in zip(out["requests"], self.requests, strict=True):
            entry["ok"] = report.ok
        return out


def find_source(name: str) -> Source:
    """The registered source called ``name``, importing only as many source modules as needed.

    A probe of one source should work while another source's module is broken (that is often why
    the operator probes); a module that fails to import is named only when ``name`` is not found.

    Parameters
    ----------
    name
        Source name (``nustar``, ``hess_dl3_dr1``...).

    Returns
    -------
    Source
        The source.

    Raises
    ------
    UnknownSource
        No registered module defines ``name`` (the message lists the names found and the modules that failed).
    """
    from scrapers.registry import SOURCE_MODULES, UnknownSource

    known: list[str] = []
    broken: list[str] = []
    for module in SOURCE_MODULES:
        try:
            mod = importlib.import_module(f"scrapers.{module}")
        except Exception as exc:  # any import-time failure of another source must not stop this probe
            broken.append(f"scrapers.{module} ({type(exc).__name__}: {exc})")
            continue
        source = getattr(mod, "SOURCE", None)
        if not isinstance(source, Source):
            broken.append(f"scrapers.{module} (no SOURCE)")
            continue
        if source.name == name:
            return source
        known.append(source.name)
    more = f"; modules that could not be loaded: {broken}" if broken else ""
    raise UnknownSource(f"unknown source {name!r}; known: {sorted(known)}{more}")


def rewrite_url(url: str, via: str) -> str:
    """``url`` with scheme and host replaced by those of ``via`` (its path, if any, is prefixed).

    ``rewrite_url("https://host/a/b.php?x=1", "http://127.0.0.1:8000/mirror")`` is
    ``http://127.0.0.1:8000/mirror/a/b.php?x=1``: a local server or mirror answers the very
    requests the source would make live.

    Parameters
    ----------
    url
        A request URL of a source.
    via
        ``http(s)://host[:port][/prefix]``.

    Returns
    -------
    str
        The rewritten URL.
    """
    base = urlsplit(via)
    if base.scheme not in ("http", "https") or not base.netloc:
        raise ValueError(f"--via needs http(s)://host[:port][/prefix], got {via!r}")
    parts = urlsplit(url)
    return urlunsplit((base.scheme, base.netloc, base.path.rstrip("/") + parts.path, parts.query, parts.fragment))


def layouts_of(source: Source) -> tuple[dict[str, str] | None, str]:
    """The source module's ``LAYOUTS`` dict and the module defining it, or ``None`` and the parser's module.

    Looked up in the module of ``source.parse``, then its parent packages, then
    ``scrapers.<source.name>`` (a source split into a package may keep ``LAYOUTS`` at the top).

    Parameters
    ----------
    source
        The source whose variants are wanted.

    Returns
    -------
    tuple[dict[str, str] | None, str]
        Variant id -> one-line description (``None`` when the module defines no ``LAYOUTS``), and
        the module where it was found (else the parser's module, for the report).
    """
    candidates: list[str] = []
    module = getattr(source.parse, "__module__", None) or ""
    while module:
        candidates.append(module)
        module = module.rpartition(".")[0]
    candidates.append(f"scrapers.{source.name}")
    for name in candidates:
        try:
            mod = importlib.import_module(name)
        except ImportError:
            continue
        layouts = getattr(mod, "LAYOUTS", None)
        if isinstance(layouts, Mapping):
            return {str(k): str(v) for k, v in layouts.items()}, name
    return None, candidates[0]


def baseline_records(baseline: RawArchive | None, source: str) -> dict[str, RawRecord]:
    """Successful answers of ``source`` in a raw archive, by request name.

    Matched by name, not by request key: a previous date's requests carry other date parameters.

    Parameters
    ----------
    baseline
        A raw archive of known-good answers (``None``: no baseline).
    source
        The source's name.

    Returns
    -------
    dict[str, RawRecord]
        The latest successful answer of each request name.
    """
    if baseline is None:
        return {}
    out: dict[str, RawRecord] = {}
    for entry in baseline.entries():
        if entry.get("source") != source or entry.get("error") is not None:
            continue
        request = request_from_entry(entry)
        record = baseline.get_ok(request)
        if record is not None:
            out[request.name] = record
    return out


def probe_record(
    source: Source,
    request: Request,
    record: RawRecord,
    *,
    layouts: Mapping[str, str] | None = None,
    baseline: RawRecord | None = None,
) -> RequestReport:
    """Report on one fetched answer: its structure, then what the source's parser makes of it.

    Pure (no network, no clock): the unit the command runs per request, and the place tests can
    feed recorded answers to.

    Parameters
    ----------
    source
        The source whose parser runs.
    request
        The source's request (its real URL: the parser sees it, as in a harvest).
    record
        The answer, possibly fetched from another URL (``record.request.url``).
    layouts
        The source module's ``LAYOUTS`` (variant id -> description), if it has one.
    baseline
        A known-good answer to the same request, to name what changed.

    Returns
    -------
    RequestReport
        Status, structure, rows parsed, layout variant or the parser's error.
    """
    content_type = record.headers.get("Content-Type")
    report = RequestReport(
        name=request.name,
        method="POST" if request.kind == "tap" else request.method,
        kind=request.kind,
        url=request.url,
        fetched_url=record.request.url,
        params=list(request.params),
        query=request.query,
        status=record.status or None,
        content_type=content_type,
        size=len(record.content) if record.ok else None,
        from_cache=record.from_cache,
    )
    if not record.ok:
        report.error = record.error or f"HTTP {record.status}"
        return report
    report.structure = page_structure(record.content, content_type, source=source.name, url=request.url)
    if baseline is not None:
        report.baseline_changes = answer_changes(baseline, record, source=source.name)
    try:
        frame = source.parse(request.name, record.content, request.url, content_type=content_type)
    except ParseError as exc:
        report.outcome = "parse failed"
        report.error = str(exc)
        return report
    except Exception as exc:  # a parser bug must still give the operator a report
        report.outcome = "parser crashed"
        report.error = f"{type(exc).__name__}: {exc} (a parser bug: a bad page must raise ParseError)"
        return report
    report.outcome = "parsed"
    if isinstance(frame, pd.DataFrame):
        report.rows = len(frame)
        report.columns = [str(c) for c in frame.columns]
        layout = frame.attrs.get("layout")
        report.layout = None if layout is None else str(layout)
    if report.layout is not None and layouts is not None:
        report.layout_description = layouts.get(report.layout)
    if baseline is not None and report.baseline_changes is not None:
        before = _layout_of(source, baseline)
        if before is not None and report.layout is not None and before != report.layout:
            report.baseline_changes.append(f"layout variant: {before} -> {report.layout}")
    return report


def _layout_of(source: Source, record: RawRecord) -> str | None:
    """The layout variant the parser reports for an archived answer (``None`` if none or it fails)."""
    try:
        frame = source.parse(
            record.request.name, record.content, record.request.url, content_type=record.headers.get("Content-Type")
        )
    except Exception:  # the baseline is context only: a failure to read it must not hide the probe's result
        return None
    layout = frame.attrs.get("layout") if isinstance(frame, pd.DataFrame) else None
    return None if layout is None else str(layout)


def probe(
    source: Source,
    fetcher: Fetcher,
    as_of: dt.date,
    *,
    via: str | None = None,
    archive: RawArchive | None = None,
    baseline: RawArchive | None = None,
    baseline_label: str | None = None,
) -> ProbeReport:
    """Fetch each request of ``source`` for ``as_of`` once and report what its parsers make of it.

    Parameters
    ----------
    source
        The source to probe.
    fetcher
        Executes the requests (an :class:`~scrapers.fetch.HttpFetcher` on a throw-away archive).
    as_of
        Date the source's requests are built for.
    via
        Base URL replacing scheme and host of every request (:func:`rewrite_url`).
    archive
        When given, every outcome is also kept there under the source's real request, so the
        probe's bytes can be replayed or attached to a fix.
    baseline
        A raw archive holding known-good answers of the same requests (matched by request name).
    baseline_label
        How the report names the baseline (default: its path).

    Returns
    -------
    ProbeReport
        One block per request; ``ok`` when every request was fetched and parsed.
    """
    layouts, module = layouts_of(source)
    label = baseline_label or (str(baseline.root) if baseline is not None else None)
    try:
        requests = source.requests(as_of)
    except Exception as exc:  # e.g. a date beyond the source's known calendar: say so, do not crash
        error = f"requests for {as_of.isoformat()} could not be built: {type(exc).__name__}: {exc}"
        return ProbeReport(source.name, as_of.isoformat(), via, layouts, module, [], label, error)
    known_good = baseline_records(baseline, source.name)
    reports = []
    for request in requests:
        sent = request if via is None else dataclasses.replace(request, url=rewrite_url(request.url, via))
        try:
            record = fetcher.fetch(sent)
        except FetchError as exc:
            record = RawRecord(
                request=sent,
                status=getattr(exc, "status", 0),
                headers={},
                fetched_at=dt.datetime.now(dt.UTC),
                content=b"",
                sha256=sha256_hex(b""),
                error=f"{type(exc).__name__}: {exc.detail}",
            )
        if archive is not None:
            archive.put(dataclasses.replace(record, request=request), log_extra={"origin": "probe", "via": via})
        reports.append(probe_record(source, request, record, layouts=layouts, baseline=known_good.get(request.name)))
    return ProbeReport(source.name, as_of.isoformat(), via, layouts, module, reports, label)


def probe_live(
    source: Source,
    as_of: dt.date,
    *,
    via: str | None = None,
    archive_dir: Path | None = None,
    baseline_dir: Path | None = None,
    fetcher_factory: Callable[[RawArchive], Any] | None = None,
) -> ProbeReport:
    """:func:`probe` with an :class:`~scrapers.fetch.HttpFetcher` on a temporary archive.

    Parameters
    ----------
    source, as_of, via
        As for :func:`probe`.
    archive_dir
        Raw archive to keep the outcomes in (created; its as-of date set when new), else none.
    baseline_dir
        Raw archive of known-good answers, else none.
    fetcher_factory
        Builds the fetcher on the throw-away archive (default ``HttpFetcher(archive)``: the
        harvest's policies).

    Returns
    -------
    ProbeReport
        As :func:`probe`.
    """
    from scrapers.fetch import HttpFetcher

    factory = fetcher_factory or HttpFetcher
    keep = RawArchive(archive_dir) if archive_dir is not None else None
    if keep is not None and keep.as_of is None:
        keep.set_as_of(as_of)
    baseline = RawArchive(baseline_dir) if baseline_dir is not None else None
    with tempfile.TemporaryDirectory(prefix="voharvest-probe-") as scratch:
        fetcher = factory(RawArchive(scratch))
        try:
            return probe(source, fetcher, as_of, via=via, archive=keep, baseline=baseline)
        finally:
            close = getattr(fetcher, "close", None)
            if close is not None:
                close()


# -- the text report ---------------------------------------------------------------------------
def _size(n: int | None) -> str:
    return "-" if n is None else f"{n} bytes"


def format_request(report: RequestReport) -> list[str]:
    """The block of one request: aligned ``label: value`` lines, the verdict last.

    Parameters
    ----------
    report
        One request's report.

    Returns
    -------
    list[str]
        Lines without trailing newlines.
    """
    tail = "/sync" if report.kind == "tap" else ""
    query_string = f"?{urlencode(report.params)}" if report.params else ""
    url = report.url.rstrip("/") if tail else report.url
    lines = [f"== {report.name}  {report.method} {url}{tail}{query_string}"]
    if report.kind == "tap":
        lines.append(f"   ADQL:     {_cut(' '.join((report.query or '').split()))}")
    if report.fetched_url != report.url:
        fetched = report.fetched_url.rstrip("/") if tail else report.fetched_url
        lines.append(f"   fetched:  {fetched}{tail}{query_string}")
    status = "none (no response)" if report.status is None else str(report.status)
    if report.from_cache:
        status += " (not modified: archived copy)"
    lines.append(f"   status:   {status}  {report.content_type or '(no content type)'}  {_size(report.size)}")
    page = report.structure
    if page is not None:
        if page.charset:
            origin = page.charset_from or ""
            origin = "default: nothing declared" if origin.startswith("default") else f"from {origin}"
            lines.append(f"   charset:  {page.charset} ({origin})")
        lines.append(f"   answer:   {page.kind}" + (f" -- {page.note}" if page.note else ""))
        if page.kind in ("html", "fits"):
            what = ("tables", "body rows", "headers") if page.kind == "html" else ("HDUs", "rows", "columns")
            lines.append(f"   {what[0] + ':':<9} {len(page.tables)}")
            for table in page.tables:
                title = repr(table.title) if table.title else "(no title)"
                lines.append(f"     #{table.index} {title}: {table.rows} {what[1]}")
                lines.append(f"        {what[2]} {list(table.headers)}")
        elif page.kind == "votable":
            lines.append(f"   fields:   {list(page.fields)}")
        elif page.kind == "text":
            for i, line in enumerate(page.head):
                lines.append(f"   {'first:' if i == 0 else '':<9} {line}")
    if report.ok:
        lines.append(f"   parsed:   {report.rows} rows, {len(report.columns)} columns")
        if report.layout is None:
            lines.append("   layout:   not reported (the parser sets no frame.attrs['layout'])")
        else:
            description = report.layout_description or "(not in the module's LAYOUTS)"
            lines.append(f"   layout:   {report.layout} -- {description}")
    if report.baseline_changes is not None:
        if report.baseline_changes:
            lines.append("   changed since baseline:")
            lines.extend(f"     - {change}" for change in report.baseline_changes)
        else:
            lines.append("   changed since baseline: nothing in the structure")
    verdict = "OK" if report.ok else report.outcome.upper()
    lines.append(f"   result:   {verdict}" + (f": {report.error}" if report.error else ""))
    if report.outcome == "parse failed" and report.baseline_changes is None:
        lines.append("   hint:     --baseline DIR (a raw archive of a good harvest) names what changed in the page")
    return lines


def format_report(report: ProbeReport) -> str:
    """The whole probe as text: a summary line, one block per request, the variants known.

    Parameters
    ----------
    report
        A source's probe.

    Returns
    -------
    str
        Text ending with a newline.
    """
    failed = [r.name for r in report.requests if not r.ok]
    verdict = "all parsed" if not failed else f"{len(failed)} of {len(report.requests)} failed: {failed}"
    head = f"probe {report.source} as of {report.as_of}"
    if report.via:
        head += f" via {report.via}"
    if report.baseline:
        head += f", baseline {report.baseline}"
    lines = [f"{head}: {len(report.requests)} request(s), {verdict}", ""]
    if report.error is not None:
        lines[0] = f"{head}: FAILED"
        lines.insert(1, f"   {report.error}")
    for request in report.requests:
        lines += format_request(request)
        lines.append("")
    if report.layouts is None:
        lines.append(f"layouts known: not reported (no LAYOUTS dict in {report.layouts_module})")
    else:
        lines.append(f"layouts known ({report.layouts_module}.LAYOUTS):")
        lines.extend(f"  {key}: {value}" for key, value in report.layouts.items())
    return "\n".join(lines) + "\n"
