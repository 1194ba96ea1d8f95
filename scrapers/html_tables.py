"""Find HTML tables and their columns by header text (with synonyms), never by position.

Schedule pages change their layout without notice: a column is renamed (``J2000_RA`` became
``J2000 RA``), reordered, or a table moves. Reading columns by position turns such a change into
silently wrong data; reading them by header text turns it into a clear :class:`ParseError` that
names the source, the URL, the missing header and the headers actually found.

The API is three functions, and one that chains them for the common case:

- :func:`read_tables` -- every ``<table>`` of a page with its title, header texts and body rows;
- :func:`find_table` -- the one table with a given title (and, optionally, the given columns);
- :func:`select_columns` -- a frame of text cells keyed by canonical column names;
- :func:`read_table` -- the three in one call: the page's one table with the columns, as a frame.

Header texts are compared after :func:`normalise_header` (case, ``_``, brackets, ``.``, ``#``,
``:``, ``,``, ``/``, non-breaking spaces and spacing ignored), so ``J2000_RA``, ``J2000 RA`` and
``j2000  ra`` are the same header, and so are ``Obs Id.`` and ``obs id`` or ``Revn #`` and
``revn``. A ``<br>`` inside a cell is a space (``RA<br>hh:mm:ss`` reads ``RA hh:mm:ss``). When no
header matches a synonym exactly, a trailing unit is ignored on both sides (:func:`strip_unit`):
``RA hh:mm:ss``, ``RAhh:mm:ss`` (``<br>`` joined without a space by other tools) and ``RA`` all
match ``ra``. Exact matches win, so ``RA (J2000)`` and ``RA (deg)`` on one page stay apart.

Bytes are decoded by :func:`scrapers.text.decode` (BOM, HTTP charset, ``<meta charset>``), never
by lxml's own guess.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import lxml.etree
import lxml.html
import pandas as pd

from scrapers import text as text_layer
from scrapers.base import ParseError

_TITLE_XPATH = (
    "preceding::*[self::h1 or self::h2 or self::h3 or self::h4 or self::h5 or self::h6 or self::b or self::strong][1]"
)
_ROWS_XPATH = "./tr | ./thead/tr | ./tbody/tr | ./tfoot/tr"
_PUNCT = re.compile(r"[_()\[\]:,/.#]+")
_XML_DECL = re.compile(r"^\s*<\?xml[^>]*\?>")
#: Units written after a label, as normalised text. Spaced: after a space only; glued: also
#: straight after the label (``RAhh:mm:ss``), so only patterns that cannot end a word.
_SPACED_UNITS = ("ks", "ksec", "kev", "s", "sec", "deg", "degrees", "arcmin", "utc", "mjd", "days", "h", "hours")
_GLUED_UNITS = ("yyyy-mm-dd hh mm ss", "yyyy-mm-dd", "hh mm ss", "dd mm ss", "ddd dd", "dddd")
_UNIT_SUFFIX = re.compile(
    r"(?:\s(?:"
    + "|".join(map(re.escape, _SPACED_UNITS))
    + r")|\s?(?:"
    + "|".join(map(re.escape, _GLUED_UNITS))
    + r"))$"
)


@dataclass(frozen=True)
class HtmlTable:
    """One ``<table>`` of a page as text.

    Attributes
    ----------
    index
        Position of the table in the page (for error messages only).
    title
        The table's ``<caption>``, else the nearest heading before it (h1-h6, b, strong).
    headers
        Header cell texts as shown on the page (whitespace collapsed).
    rows
        Body rows (cell texts); separator rows (one spanning cell), blank rows and repeated
        header rows are left out.
    """

    index: int
    title: str
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


def normalise_header(text: str) -> str:
    """Comparable form of a header: lower case, ``_``/brackets/``.#:,/`` as spaces, spacing collapsed."""
    return " ".join(_PUNCT.sub(" ", text).lower().split())


def strip_unit(normalised: str) -> str:
    """A normalised header without its trailing unit (``ra hh mm ss`` / ``rahh mm ss`` -> ``ra``)."""
    stripped = _UNIT_SUFFIX.sub("", normalised).strip()
    return stripped or normalised


def _text(element: lxml.html.HtmlElement) -> str:
    return " ".join(element.text_content().split())


def parse_html(
    content: bytes | str, *, source: str, url: str, content_type: str | None = None
) -> lxml.html.HtmlElement:
    """An HTML document from response bytes (decoded by the text layer) or text.

    ``<br>`` elements get a space after them, so a cell ``Label<br>unit`` reads ``Label unit``.
    Raises :class:`ParseError` on an empty response or one that is not an HTML document.
    """
    if isinstance(content, bytes):
        if not content.strip():
            raise ParseError(source, url, "empty response, expected an HTML page")
        content = text_layer.decode(content, source=source, url=url, content_type=content_type)
    if not content.strip():
        raise ParseError(source, url, "empty response, expected an HTML page")
    text_layer.refuse_entities(content, source=source, url=url)
    parser = lxml.html.HTMLParser(no_network=True, remove_comments=True, remove_pis=True)
    try:
        doc = lxml.html.fromstring(_XML_DECL.sub("", content, count=1), parser=parser)
    except (lxml.etree.ParserError, ValueError) as exc:
        raise ParseError(source, url, f"not an HTML document: {exc}") from exc
    for br in doc.iter("br"):
        br.tail = " " + (br.tail or "")
    return doc


def read_tables(content: bytes | str, *, source: str, url: str, content_type: str | None = None) -> list[HtmlTable]:
    """Every table of an HTML page, with its title, headers and body rows.

    The header row is the first row holding ``<th>`` cells, else the first row. Raises
    :class:`ParseError` on bytes that are not an HTML document (or not valid in their declared
    encoding, :func:`scrapers.text.decode`).
    """
    doc = parse_html(content, source=source, url=url, content_type=content_type)
    out: list[HtmlTable] = []
    for i, table in enumerate(doc.iter("table")):
        caption = table.find("caption")
        if caption is not None and _text(caption):
            title = _text(caption)
        else:
            heading = table.xpath(_TITLE_XPATH)
            title = _text(heading[0]) if heading else ""
        trs = table.xpath(_ROWS_XPATH)
        cells = [(tr.xpath("./th | ./td"), bool(tr.xpath("./th"))) for tr in trs]
        head_at = next((k for k, (_, has_th) in enumerate(cells) if has_th), 0)
        if not cells:
            out.append(HtmlTable(i, title, (), ()))
            continue
        headers = tuple(_text(c) for c in cells[head_at][0])
        body = []
        for tds, _ in cells[head_at + 1 :]:
            texts = tuple(_text(c) for c in tds)
            spanning = len(tds) == 1 and int(tds[0].get("colspan", "1") or 1) > 1
            if spanning or not any(texts) or texts == headers:
                continue
            body.append(texts)
        out.append(HtmlTable(i, title, headers, tuple(body)))
    return out


def _describe(tables: Sequence[HtmlTable]) -> list[str]:
    return [f"#{t.index} {t.title!r}: {list(t.headers)}" for t in tables]


def match_columns(
    headers: Sequence[str],
    columns: Mapping[str, Sequence[str]],
    *,
    required: Collection[str],
    source: str,
    url: str,
) -> dict[str, int]:
    """Position of each canonical column among ``headers``, found by synonym.

    Parameters
    ----------
    headers
        Header texts as found.
    columns
        Canonical name -> accepted header texts (compared normalised).
    required
        Canonical names that must be present; others are optional.

    Raises
    ------
    ParseError
        A required column is missing, or two headers match one column (ambiguous).
    """
    norm = [normalise_header(h) for h in headers]
    bare = [strip_unit(h) for h in norm]
    found: dict[str, int] = {}
    for name, synonyms in columns.items():
        wanted = {normalise_header(s) for s in (name, *synonyms)}
        hits = [k for k, h in enumerate(norm) if h in wanted]
        if not hits:  # no exact match: compare without trailing units
            wanted_bare = {strip_unit(w) for w in wanted}
            hits = [k for k, h in enumerate(bare) if h in wanted_bare and k not in found.values()]
        if len(hits) > 1:
            raise ParseError(
                source, url, f"ambiguous header: {len(hits)} headers match {name!r}", column=name, found=list(headers)
            )
        if hits:
            found[name] = hits[0]
        elif name in required:
            raise ParseError(
                source,
                url,
                f"missing required header {name!r} (accepted: {sorted(wanted)})",
                column=name,
                found=list(headers),
            )
    return found


def find_table(
    tables: Sequence[HtmlTable],
    *,
    source: str,
    url: str,
    title: str | None = None,
    columns: Mapping[str, Sequence[str]] | None = None,
    required: Collection[str] = (),
    what: str | None = None,
) -> HtmlTable:
    """The single table whose title contains ``title`` (case-insensitive) and has the columns.

    Raises :class:`ParseError` listing every table found (title and headers) when none or more
    than one table fits: a page that moved its tables is reported, never half-read. ``what``
    names the table in those messages (default: by its title, else "table with the expected
    columns").
    """
    candidates = list(tables)
    if title is not None:
        key = title.lower()
        candidates = [t for t in candidates if key in t.title.lower()]
    if columns is not None:
        fitting = []
        for t in candidates:
            try:
                match_columns(t.headers, columns, required=required, source=source, url=url)
            except ParseError:
                continue
            fitting.append(t)
        if len(candidates) == 1 and not fitting:
            # One table by title: report its own missing header, the most useful error.
            match_columns(candidates[0].headers, columns, required=required, source=source, url=url)
        candidates = fitting
    if what is None:
        what = f"table titled {title!r}" if title is not None else "table with the expected columns"
    if not candidates:
        raise ParseError(source, url, f"no {what}; tables found: {_describe(tables)}")
    if len(candidates) > 1:
        raise ParseError(source, url, f"{len(candidates)} tables match ({what}): {_describe(candidates)}")
    return candidates[0]


def select_columns(
    table: HtmlTable,
    columns: Mapping[str, Sequence[str]],
    *,
    required: Collection[str],
    source: str,
    url: str,
    allow_empty: bool = False,
) -> pd.DataFrame:
    """Text cells of ``table`` as a frame with canonical column names (object dtype, stripped).

    Optional columns that are absent are left out of the frame. Unknown extra headers are kept
    out too and listed in ``frame.attrs["unmatched_headers"]`` (drift worth a look, not an
    error); ``frame.attrs["headers"]`` holds the headers as found and ``frame.attrs["header_of"]``
    the page header behind each canonical name (for error messages). A body row with a cell count
    other than the header's raises :class:`ParseError` naming the row (1-based body row), and so
    does an empty table unless ``allow_empty``.
    """
    where = f"table {table.title!r}"
    if not table.headers:
        raise ParseError(source, url, f"{where} has no header row", found=[])
    pos = match_columns(table.headers, columns, required=required, source=source, url=url)
    if not table.rows and not allow_empty:
        raise ParseError(source, url, f"{where} has no rows", found=list(table.headers))
    width = len(table.headers)
    for k, row in enumerate(table.rows, start=1):
        if len(row) != width:
            raise ParseError(
                source,
                url,
                f"{where}: {len(row)} cells where the header has {width}: {list(row)}",
                row=k,
                found=list(table.headers),
            )
    grid = pd.DataFrame(list(table.rows), columns=range(width), dtype=object) if table.rows else None
    data = {name: (grid[k] if grid is not None else pd.Series([], dtype=object)) for name, k in pos.items()}
    frame = pd.DataFrame(data, dtype=object)
    frame.index = pd.RangeIndex(1, len(frame) + 1, name="row")
    frame.attrs["headers"] = list(table.headers)
    frame.attrs["header_of"] = {name: table.headers[k] for name, k in pos.items()}
    matched = set(pos.values())
    frame.attrs["unmatched_headers"] = [h for k, h in enumerate(table.headers) if k not in matched]
    frame.attrs["title"] = table.title
    return frame


def read_table(
    content: bytes | str,
    columns: Mapping[str, Sequence[str]],
    *,
    required: Collection[str],
    source: str,
    url: str,
    title: str | None = None,
    what: str | None = None,
    allow_empty: bool = False,
    content_type: str | None = None,
) -> pd.DataFrame:
    """The one table of a page that has the columns (and title), as :func:`select_columns` gives it.

    Pages with a single table of interest need no more than this; every error of
    :func:`read_tables`, :func:`find_table` and :func:`select_columns` is raised as there.
    """
    tables = read_tables(content, source=source, url=url, content_type=content_type)
    table = find_table(tables, source=source, url=url, title=title, columns=columns, required=required, what=what)
    return select_columns(table, columns, required=required, source=source, url=url, allow_empty=allow_empty)
