"""Static DataLink ``{links}`` documents (DataLink 1.1 response tables) for event-list datasets.

An event list is useless without its instrument responses (effective area, energy dispersion, PSF,
background). ObsCore has one ``access_url`` per dataset, so the IVOA route to the rest is a DataLink
document: ``#this`` for the events, ``#calibration`` rows qualified by a response-type term for each
response. Published snapshots are static files, so the documents are pre-generated VOTables (one per
dataset) rather than a service; ``obscore.access_url`` points at them with ``access_format``
:data:`DATALINK_FORMAT`.

The documents are written by the spec-driven VOTable writer (:mod:`models.votable`) in TABLEDATA, as
DataLink requires. All documents of a harvest are encoded in one vectorised pass and then cut per
dataset, so the cost does not grow with a Python loop over link rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from models.arrow import conform
from models.columns import Column, TableSpec
from models.votable import document_head, document_tail, votable_bytes

#: ``access_format`` of an ObsCore row whose ``access_url`` is a DataLink document (ObsCore 1.1 section 4.7).
DATALINK_FORMAT = "application/x-votable+xml;content=datalink"

#: DataLink core vocabulary (``http://www.ivoa.net/rdf/datalink/core``, 2026-03), written with ``#``.
SEMANTICS = frozenset(
    "#this #progenitor #derivation #auxiliary #weight #error #noise #calibration #bias #dark #flat #preview "
    "#preview-image #preview-plot #thumbnail #proc #cutout #documentation #detached-header #coderived "
    "#counterpart #package".split()
)

#: GADF HDU_TYPE -> response-type vocabulary term (``http://www.ivoa.net/rdf/response-type``, 2026-02-05).
#: GADF's ``bkg`` is a background *rate* model: the vocabulary calls it ``bkgrate`` (he.md section 2.4);
#: ``rad_max`` (a directional cut) has no term of its own and gets the generic ``response-function``.
RESPONSE_TYPES: dict[str, str] = {
    "aeff": "aeff",
    "edisp": "edisp",
    "psf": "psf",
    "bkg": "bkgrate",
    "rad_max": "response-function",
}

DATALINK = TableSpec(
    name="links",
    schema="datalink",
    description="DataLink 1.1 links of a dataset",
    utype="",
    columns=(
        Column(
            "ID",
            "char",
            ucd="meta.id;meta.main",
            description="Identifier of the dataset (obs_publisher_did)",
            null_rule="not-null",
        ),
        Column("access_url", "char", ucd="meta.ref.url", description="URL of the linked resource"),
        Column("service_def", "char", ucd="meta.ref", description="Reference to a service descriptor"),
        Column("error_message", "char", ucd="meta.code.error", description="Why no link could be given"),
        Column(
            "semantics",
            "char",
            ucd="meta.code",
            description="Relation of the link to the dataset (DataLink core vocabulary)",
            null_rule="not-null",
        ),
        Column("description", "char", ucd="meta.note", description="Human-readable description of the link"),
        Column("content_type", "char", ucd="meta.code.mime", description="MIME type of the linked resource"),
        Column(
            "content_length",
            "long",
            unit="byte",
            ucd="phys.size;meta.file",
            description="Size of the linked resource in bytes",
            minimum=0,
        ),
        Column("content_qualifier", "char", description="Product-type or response-type term of the linked resource"),
    ),
)

_LINK_COLUMNS = tuple(DATALINK.names)
_TRAILER_ROW = b"</TR>\n"
#: Characters that cannot appear in a URI (RFC 3986 section 2): they must be percent-encoded.
_NOT_URI = r'[\s"<>\\^`{|}]'


class DataLinkError(ValueError):
    """Link rows that would make an invalid DataLink document."""


def check_links(links: pd.DataFrame) -> None:
    """Refuse link rows DataLink forbids, naming the offending rows.

    Rules (DataLink 1.1 section 3.2): ``ID`` and ``semantics`` set; exactly one of ``access_url``,
    ``service_def``, ``error_message`` per row; ``access_url`` an escaped URI (no spaces etc.);
    ``semantics`` a ``#term`` of the core vocabulary (:data:`SEMANTICS`; a custom vocabulary would need
    full URIs, not used here); no line breaks in values (each link is one TABLEDATA row).
    """
    missing = [c for c in ("ID", "semantics") if c not in links.columns]
    if missing:
        raise DataLinkError(f"link rows lack column(s) {missing}; columns found: {list(links.columns)}")
    if links["ID"].isna().any():
        raise DataLinkError(f"link rows {_first(links['ID'].isna())} have no ID")
    n_targets = sum(
        links[c].notna().to_numpy().astype(int) for c in ("access_url", "service_def", "error_message") if c in links
    )
    bad = np.asarray(n_targets) != 1
    if np.any(bad):
        raise DataLinkError(f"link rows {_first(bad)} need exactly one of access_url, service_def, error_message")
    bad = ~links["semantics"].isin(SEMANTICS).to_numpy(dtype=bool)
    if bad.any():
        shown = list(links["semantics"].iloc[_first(bad)[:3]])
        raise DataLinkError(f"link rows {_first(bad)}: semantics {shown} not a '#term' of the DataLink core vocabulary")
    if "access_url" in links.columns:
        # RFC 3986: no whitespace, quotes, angle brackets, braces, backslash, caret, backtick or '|' in a
        # URI; index values (file names, HDU names) must have been escaped (models.hea.url_part).
        bad = links["access_url"].astype("string").str.contains(_NOT_URI, regex=True).fillna(False)
        if bad.any():
            shown = list(links["access_url"][bad.to_numpy(dtype=bool)][:3])
            raise DataLinkError(f"link rows {_first(bad)}: access_url {shown} is not an escaped URI")
    for c in (c for c in _LINK_COLUMNS if c in links.columns and c != "content_length"):
        bad = links[c].astype("string").str.contains(r"[\r\n]", regex=True).fillna(False).to_numpy(dtype=bool)
        if bad.any():
            raise DataLinkError(f"link rows {_first(bad)}: column {c!r} contains a line break")


def _first(mask: np.ndarray | pd.Series) -> list[int]:
    return [int(i) for i in np.flatnonzero(np.asarray(mask, dtype=bool))[:10]]


def _as_frame(rows: pd.DataFrame | Sequence[Mapping[str, object]]) -> pd.DataFrame:
    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    return frame.reset_index(drop=True)


def datalink_table(rows: pd.DataFrame | Sequence[Mapping[str, object]]) -> bytes:
    """The DataLink VOTable (TABLEDATA) of one dataset's links.

    ``rows`` carry the :data:`DATALINK` columns (missing optional ones are NULL); all rows must share
    one ``ID``. Use :func:`datalink_documents` for many datasets at once.
    """
    frame = _as_frame(rows)
    check_links(frame)
    if frame["ID"].nunique() != 1:
        raise DataLinkError(f"one document holds one dataset; IDs found: {sorted(frame['ID'].unique())[:5]}")
    return votable_bytes(conform(frame, DATALINK), DATALINK, serialization="tabledata")


def datalink_documents(links: pd.DataFrame, *, by: str = "document") -> dict[str, bytes]:
    """One DataLink VOTable per value of column ``by`` (e.g. the document's file name).

    All rows are encoded in one pass by the VOTable writer, then the TABLEDATA rows are cut per
    document, so rows of one dataset stay consecutive as DataLink requires.
    """
    if by not in links.columns:
        raise DataLinkError(f"link rows lack the document column {by!r}; columns found: {list(links.columns)}")
    if links.empty:
        return {}
    check_links(links)
    keys = links[by]
    if keys.isna().any():
        raise DataLinkError(f"link rows {_first(keys.isna())} have no {by!r}")
    per_doc_ids = links.groupby(by, sort=False)["ID"].nunique()
    if (per_doc_ids > 1).any():
        raise DataLinkError(f"documents {list(per_doc_ids[per_doc_ids > 1].index[:5])} would mix several IDs")
    order = np.argsort(keys.to_numpy(dtype=str), kind="stable")
    ordered = links.iloc[order].reset_index(drop=True)
    whole = votable_bytes(conform(ordered, DATALINK), DATALINK, serialization="tabledata")
    start = whole.index(b"<TABLEDATA>\n") + len(b"<TABLEDATA>\n")
    stop = whole.index(b"</TABLEDATA>")
    body = whole[start:stop]
    ends = _row_ends(body, len(ordered))
    head = (document_head(DATALINK, nrows=None) + "<DATA>\n<TABLEDATA>\n").encode("utf-8")
    tail = ("</TABLEDATA>\n</DATA>\n" + document_tail()).encode("utf-8")
    sorted_keys = ordered[by].to_numpy(dtype=str)
    first = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
    last = np.r_[first[1:], len(sorted_keys)] - 1
    row_start = np.r_[0, ends[:-1]]
    # One bytes concatenation per document (documents are files; rows are never looped over).
    return {str(sorted_keys[a]): head + body[row_start[a] : ends[b]] + tail for a, b in zip(first, last, strict=True)}


def _row_ends(body: bytes, n_rows: int) -> np.ndarray:
    """Byte offset just after each row end (``</TR>`` and newline) of a TABLEDATA body."""
    raw = np.frombuffer(body, dtype=np.uint8)
    newlines = np.flatnonzero(raw == ord("\n")) + 1
    if len(newlines) != n_rows or not body.endswith(_TRAILER_ROW):
        raise DataLinkError(f"TABLEDATA has {len(newlines)} lines for {n_rows} link rows: cannot cut per document")
    return newlines
