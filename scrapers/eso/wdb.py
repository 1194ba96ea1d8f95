"""Readers of ESO wdb answers: the ``csv/download`` dialect and the ``html/display`` layouts.

All of them decode through :func:`scrapers.text.decode` (BOM, HTTP charset, meta charset, UTF-8;
strict) and return text cells under the answer's own labels; mapping labels to fields is the
caller's job (:mod:`scrapers.eso.schedule`).

HTML layouts (sources.md, "Evidence of the live layouts", ESO ``sched_rep_arc``):

``display-dotted``
    Older ``html/display``: one line per field, the label padded with dots to a fixed width and
    **no colon** (``Period................. 099``; id 31384208192, which reads the lines Period,
    Observing Mode, Programme Type, Allocated time, Telescope, Instrument, PI/CoI, Proposal Title,
    Remarks, Abstract, Observer, Raw Files, Publications of a ``progid=`` answer).
``display-dotted-colon``
    The same with a colon after the dots (``<b>Period....:</b>&nbsp; 76``): the layout of this
    project's first reconstruction, not evidenced; kept as a further accepted case.
``display-table``
    Newer ``html/display``: ``<table id="wdbresults1">`` of ``<tr><th>PI/CoI</th><td>…</td></tr>``
    rows, one record (id 36951584479).
``table-records``
    Newer multi-record answer: rows ``<tr id="1">`` whose first cell links to the record
    (id 36951584479); read like the tabular mode.
``tabular``
    ``force_tabular_mode=on``: a header row of ``<th>`` labels and one ``<tr>`` per run.
"""

from __future__ import annotations

import csv
import io
import re
import urllib.parse

import lxml.html
import pandas as pd

from scrapers import text as text_layer
from scrapers.base import ParseError
from scrapers.eso.common import NAME, RUN_ID
from scrapers.html_tables import parse_html

#: The HTML layout variants this module reads (descriptions in :data:`scrapers.eso.schedule.LAYOUTS`).
HTML_LAYOUTS = ("display-dotted", "display-dotted-colon", "display-table", "table-records", "tabular")
_LEADING = "\ufeff\ufffd \r\n\t"
#: A label line: label (no colon; "Obs. Mode" keeps its single dot), two or more dots, an optional colon, the value.
_LABEL_LINE = (
    r"^[ \t\u00a0]*(?P<label>[^\s.:][^:]*?)[ \t\u00a0]*\.{2,}(?P<colon>[ \t\u00a0]*:)?[ \t\u00a0]*(?P<value>.*?)\s*$"
)
_PROGID_IN_URL = re.compile(rf"[?&](?:progid|prog_id)=({RUN_ID})(?:&|$)")


def as_text(content: bytes | str, url: str, content_type: str | None = None) -> str:
    """Text of an answer through the text layer (``str`` passes unchanged)."""
    if isinstance(content, str):
        return content
    return text_layer.decode(content, source=NAME, url=url, content_type=content_type)


def is_html(text: str) -> bool:
    """Whether an answer is an HTML (or XML) document rather than CSV."""
    return text.lstrip(_LEADING)[:1] == "<"


def _refuse_html(text: str, url: str, what: str) -> None:
    if is_html(text):
        title = re.search(r"<title>(.*?)</title>", text[:4096], re.I | re.S)
        shown = (title.group(1) if title else text.lstrip(_LEADING)[:100]).strip()
        raise ParseError(NAME, url, f"{what}: expected wdb CSV, got an HTML page ({shown!r})")


def read_wdb_csv(content: bytes | str, url: str, what: str, content_type: str | None = None) -> pd.DataFrame:
    """A wdb ``csv/download`` answer as text cells.

    The dialect (real answers in tests/data/eso): UTF-8 BOM (sometimes re-encoded as U+FFFD), a
    blank first line, ``#`` comment lines (query notes, row-limit and total-count messages) before
    and after the CSV block.

    Parameters
    ----------
    content
        Response bytes (or text already decoded).
    url, what
        Named in errors.
    content_type
        Recorded HTTP ``Content-Type`` (charset), for the text layer.

    Returns
    -------
    pandas.DataFrame
        Stripped text cells under the stripped header texts; ``attrs["layout"] = "csv"``.

    Raises
    ------
    ParseError
        An HTML page instead of CSV, no header, no rows, or rows the CSV reader cannot split.
    """
    text = as_text(content, url, content_type).lstrip("\ufeff\ufffd")
    _refuse_html(text, url, what)
    lines = pd.Series(text.splitlines(), dtype=object)
    keep = lines.str.strip().ne("") & ~lines.str.lstrip().str.startswith("#")
    if not keep.any():
        raise ParseError(NAME, url, f"{what}: no CSV header in the answer", found=[])
    try:
        frame = pd.read_csv(
            io.StringIO("\n".join(lines[keep])), dtype=str, keep_default_na=False, skipinitialspace=False
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError, csv.Error) as exc:
        raise ParseError(NAME, url, f"{what}: not a readable CSV table: {exc}") from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    if frame.empty:
        raise ParseError(NAME, url, f"{what}: the table has no rows", found=list(frame.columns))
    out = frame.astype(str).apply(lambda col: col.str.strip())
    out.attrs["layout"] = "csv"
    return out


def _cell(element: lxml.html.HtmlElement) -> str:
    return " ".join(element.text_content().split())


def progid_of_url(url: str) -> str | None:
    """Run id given in the ``progid=`` parameter of a query URL (decoded), else None."""
    match = _PROGID_IN_URL.search(urllib.parse.unquote(url))
    return match.group(1) if match else None


def _record_tables(doc: lxml.html.HtmlElement) -> list[lxml.html.HtmlElement]:
    return doc.xpath('//table[starts-with(@id, "wdbresults")]')


def _read_result_tables(tables: list[lxml.html.HtmlElement], url: str, what: str) -> pd.DataFrame:
    """``wdbresults`` tables: ``<th>label</th><td>value</td>`` records, or a header row and run rows."""
    records: list[dict[str, str]] = []
    tabular: list[pd.DataFrame] = []
    layout = "display-table"
    for table in tables:
        trs = table.xpath("./tr | ./thead/tr | ./tbody/tr")
        pairs = [tr for tr in trs if len(tr.xpath("./th")) == 1 and len(tr.xpath("./td")) >= 1]
        head = next((tr for tr in trs if len(tr.xpath("./th")) > 1), None)
        if head is not None:
            headers = [_cell(c) for c in head.xpath("./th")]
            rows = [tr for tr in trs if tr is not head and tr.xpath("./td") and not tr.xpath("./th")]
            layout = "table-records" if any(tr.get("id") for tr in rows) else "tabular"
            cells = []
            for tr in rows:
                tds = tr.xpath("./td")
                values = [_cell(c) for c in tds][: len(headers)]
                values += [""] * (len(headers) - len(values))
                links = tds[0].xpath(".//a/@href") if tds else []
                values.append(progid_of_url(str(links[0])) or "" if links else "")
                cells.append(values)
            frame = pd.DataFrame(cells, columns=[*headers, "__link_run_id"], dtype=object)
            tabular.append(frame)
        elif pairs:
            record: dict[str, str] = {}
            for tr in pairs:
                label = _cell(tr.xpath("./th")[0])
                if label in record:
                    raise ParseError(NAME, url, f"{what}: label {label!r} repeats inside one record")
                record[label] = _cell(tr.xpath("./td")[0])
            records.append(record)
    if tabular:
        out = pd.concat(tabular, ignore_index=True).fillna("")
    elif records:
        out = pd.DataFrame.from_records(records).fillna("").astype(str)
    else:
        found = [_cell(c) for t in tables for c in t.xpath(".//th")]
        raise ParseError(NAME, url, f"{what}: wdbresults table without records", found=found)
    out.attrs["layout"] = layout
    return out


def _read_dotted(doc: lxml.html.HtmlElement, url: str, what: str) -> pd.DataFrame:
    """Records of dot-padded label lines, one record per ``Period`` line."""
    lines = pd.Series(doc.text_content().splitlines(), dtype=object)
    parts = lines.str.extract(_LABEL_LINE)
    parts = parts[parts["label"].notna()]
    labels = parts["label"].str.replace(r"\s+", " ", regex=True).str.strip()
    first = labels.str.lower().str.replace(r"[^a-z0-9]", "", regex=True).eq("period")
    if not first.any():
        found = sorted(set(labels))
        raise ParseError(
            NAME,
            url,
            f"{what}: no layout matched: no wdbresults table and no record starting with a 'Period....' line; "
            f"known layouts: {list(HTML_LAYOUTS)}",
            found=found,
        )
    record = first.cumsum()
    colon = parts["colon"].notna()
    parts = parts.assign(label=labels, record=record)[record > 0]
    dup = parts.duplicated(["record", "label"])
    if dup.any():
        row = int(parts.loc[dup, "record"].iloc[0])
        raise ParseError(NAME, url, f"{what}: a label repeats inside one record", row=row - 1)
    table = parts.pivot(index="record", columns="label", values="value").reset_index(drop=True)
    table.columns.name = None
    table = table.fillna("").astype(str)
    table.attrs["layout"] = "display-dotted-colon" if colon[record > 0].mean() > 0.5 else "display-dotted"
    return table


def read_wdb_display(content: bytes | str, url: str, what: str, content_type: str | None = None) -> pd.DataFrame:
    """Records of a wdb ``html/display`` (or tabular) answer as text cells under their labels.

    Parameters
    ----------
    content
        Response bytes (or text).
    url, what
        Named in errors; a ``progid=`` in ``url`` is the run id of a one-record answer that does
        not print it.
    content_type
        Recorded HTTP ``Content-Type``.

    Returns
    -------
    pandas.DataFrame
        One row per record; ``attrs["layout"]`` names the layout (module docstring). A column
        ``__link_run_id`` holds the run id of the first cell's link (tabular answers), a column
        ``__query_run_id`` the URL's ``progid`` when the answer has exactly one record.

    Raises
    ------
    ParseError
        Not HTML, or no known layout found (lists what was found and the known layouts).
    """
    doc = parse_html(content, source=NAME, url=url, content_type=content_type)
    tables = _record_tables(doc)
    frame = _read_result_tables(tables, url, what) if tables else _read_dotted(doc, url, what)
    layout = frame.attrs["layout"]
    query_id = progid_of_url(url)
    if query_id is not None and len(frame) == 1:
        frame = frame.assign(__query_run_id=query_id)
    frame.attrs["layout"] = layout
    return frame
