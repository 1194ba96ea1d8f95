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

import contextlib
import datetime as dt
import hashlib
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from models.arrow import arrow_schema, conform, contiguous, empty_frame, string_array, text_column, to_frame
from models.columns import Column, TableSpec
from models.durable import background_thread, in_threads, link_many, link_or_copy
from models.layout import SNAPSHOTS
from models.parquet import write_parquet
from models.rows import lex_compare
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

#: Link to a resource's provenance (W3C PROV-AQ section 3, ``has_provenance``). The DataLink core
#: vocabulary has no provenance term (spec/obscore.md section 6 lists them), and DataLink 1.1 takes a
#: term of another vocabulary as its full URI.
HAS_PROVENANCE = "http://www.w3.org/ns/prov#has_provenance"
#: A term of another vocabulary: a full http(s) URI with a fragment, nothing that would need escaping.
_OTHER_VOCABULARY = r'https?://[^\s"<>\\^`{|}#]+#[A-Za-z][A-Za-z0-9_.-]*'

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
    ``semantics`` a ``#term`` of the core vocabulary (:data:`SEMANTICS`) or the full ``http(s)`` URI of
    a term of another vocabulary (e.g. :data:`HAS_PROVENANCE`); no line breaks in values (each link is
    one TABLEDATA row).
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
    semantics = links["semantics"].astype("string")
    other = semantics.str.fullmatch(_OTHER_VOCABULARY).fillna(False).to_numpy(dtype=bool)
    bad = ~(links["semantics"].isin(SEMANTICS).to_numpy(dtype=bool) | other)
    if bad.any():
        shown = list(links["semantics"].iloc[_first(bad)[:3]])
        raise DataLinkError(
            f"link rows {_first(bad)}: semantics {shown} not a '#term' of the DataLink core vocabulary "
            "(nor a full http(s) URI of another vocabulary)"
        )
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
    # One bytes join per document (documents are files; rows are never looped over); plain Python ints
    # and strings, not numpy scalars, in the loop.
    starts, stops, names = row_start[first].tolist(), ends[last].tolist(), sorted_keys[first].tolist()
    view = memoryview(body)
    return {name: b"".join((head, view[a:b], tail)) for name, a, b in zip(names, starts, stops, strict=True)}


def _row_ends(body: bytes, n_rows: int) -> np.ndarray:
    """Byte offset just after each row end (``</TR>`` and newline) of a TABLEDATA body."""
    raw = np.frombuffer(body, dtype=np.uint8)
    newlines = np.flatnonzero(raw == ord("\n")) + 1
    if len(newlines) != n_rows or not body.endswith(_TRAILER_ROW):
        raise DataLinkError(f"TABLEDATA has {len(newlines)} lines for {n_rows} link rows: cannot cut per document")
    return newlines


# --------------------------------------------------------------------------------------------
# DataLink documents of a snapshot
# --------------------------------------------------------------------------------------------

#: Folder of a snapshot's DataLink documents (``datalink/<collection>/<obs_id>.xml``).
DATALINK_DIR = "datalink"
#: ``obs_publisher_did`` -> document table of a snapshot (for a TAP kit pointing ``access_url`` at them),
#: with each document's ``size`` and ``sha256``: the manifest lists this index instead of the documents
#: (one line per dataset would make it grow with the rows; see ``models.snapshot.FILE_INDEXES``).
DATALINK_INDEX = f"{DATALINK_DIR}/documents.csv"
#: The snapshot's provenance record, the target of every ``#provenance`` link (PROV-JSON).
PROVENANCE_TARGET = "provenance/prov.json"
#: W3C PROV-JSON is served as JSON (PROV-JSON submission, section 1).
PROVENANCE_TYPE = "application/json"
#: Why an X-ray event list (a mission of :data:`models.hea.XRAY_ARCHIVES`) has no ``#calibration`` link
#: (an ``error_message`` row says so; other event lists without responses get no ``#calibration`` row).
NO_RESPONSE = (
    "NotFoundFault: no instrument-response link is given for this observation: X-ray responses depend on the "
    "extraction region and are generated from the mission calibration database with the mission's analysis software"
)


#: Environment variable holding the public base URL of the publish root (``voharvest harvest --public-base-url``).
PUBLIC_BASE_URL_ENV = "VOHARVEST_PUBLIC_BASE_URL"
#: A public base URL: absolute http(s), a host, no query or fragment, nothing that would need escaping.
_PUBLIC_BASE = r'https?://[^/\s"<>\\^`{|}?#]+(/[^\s"<>\\^`{|}?#]*)?'


def check_public_base_url(value: str | None) -> str | None:
    """The configured public base URL of the publish root, checked; ``None`` when unset or blank.

    The publish root (``output/``) is what an operator puts on a web server; snapshots are then
    at ``<base>/snapshots/<date>/`` (:func:`snapshot_url`). The value is refused here, when it is
    configured, rather than when a DataLink document would carry a broken URL.

    Parameters
    ----------
    value
        ``--public-base-url`` or ``$VOHARVEST_PUBLIC_BASE_URL``, e.g. ``https://data.example.org/voharvest``.

    Returns
    -------
    str or None
        The URL without trailing ``/``; ``None`` for ``None`` or a blank string (documents are
        still written; the TAP kit points at them through the serving DaCHS, see ``models.dachs``).

    Raises
    ------
    DataLinkError
        Not an absolute http(s) URL with a host, or it has a query/fragment or characters that
        must be percent-encoded (RFC 3986 section 2).
    """
    if value is None or not value.strip():
        return None
    url = value.strip().rstrip("/")
    if not re.fullmatch(_PUBLIC_BASE, url):
        raise DataLinkError(
            f"public base URL {value!r} is not an absolute http(s) URL of the publish root without query, fragment "
            "or characters needing escaping (e.g. https://data.example.org/voharvest)"
        )
    return url


def snapshot_url(public_base_url: str | None, date: dt.date | str) -> str | None:
    """Public URL of a snapshot directory: ``<base>/snapshots/<date>``; ``None`` without a base URL.

    Parameters
    ----------
    public_base_url
        Public URL of the publish root (checked by :func:`check_public_base_url`), or ``None``.
    date
        The snapshot date (``datetime.date`` or ISO string).

    Returns
    -------
    str or None
        The base the snapshot's DataLink documents and ``access_url`` values are built on.
    """
    base = check_public_base_url(public_base_url)
    if base is None:
        return None
    day = date.isoformat() if isinstance(date, dt.date) else dt.date.fromisoformat(str(date)).isoformat()
    return f"{base}/{SNAPSHOTS}/{day}"


def document_paths(obscore: pd.DataFrame) -> pd.Series:
    """Relative path of each row's DataLink document (NULL for rows that are not event lists).

    ``datalink/<obs_collection>/<obs_id>.xml``: both parts are used as they are when they are plain
    names (letters, digits, ``.``, ``_``, ``-``; every harvested collection and id is), so the path is
    also a URL path needing no escaping; any other value is replaced by the first 16 hex digits of the
    SHA-256 of ``obs_publisher_did`` (unique, still a plain name).

    Parameters
    ----------
    obscore
        ObsCore rows; event lists are ``dataproduct_type = 'event'`` rows.

    Returns
    -------
    pandas.Series
        Object values on ``obscore``'s index: the path (``str``) of an event list's document, ``None``
        for any other row.
    """
    paths, _, _ = _document_path_array(obscore)
    return pd.Series(paths.to_numpy(zero_copy_only=False), index=obscore.index, dtype=object)


def _text(values: pd.Series) -> pa.Array:
    """A column as text (NULL where missing) in one Arrow ``string`` array (joined with ``str`` literals)."""
    return text_column(values).cast(pa.string())


def _string_column(values: pd.Series) -> pa.Array:
    """A column as :func:`models.arrow.conform` makes a ``char`` column of it (one Arrow ``string`` array)."""
    return contiguous(string_array(values))


#: A plain name (letters, digits, ``.``, ``_``, ``-``) in RE2 (Arrow) syntax; ``\n?`` keeps the rule the
#: Python pattern had (its ``$`` also matched before a final newline; RE2's matches only at the end).
_SAFE_NAME_RE2 = r"^[A-Za-z0-9][A-Za-z0-9._-]*\n?$"


def _document_path_array(obscore: pd.DataFrame) -> tuple[pa.Array, pa.Array, pa.Array]:
    """:func:`document_paths` as one Arrow array (NULL: not an event list), with the collection and obs_id text.

    Arrow kernels over the rows; Python runs only for the rare event lists whose names are not plain.
    """
    events = pc.fill_null(pc.equal(_text(obscore["dataproduct_type"]), "event"), False)
    coll, obs_id = _text(obscore["obs_collection"]), _text(obscore["obs_id"])
    plain = pc.and_(
        pc.fill_null(pc.match_substring_regex(coll, _SAFE_NAME_RE2), False),
        pc.fill_null(pc.match_substring_regex(obs_id, _SAFE_NAME_RE2), False),
    )
    paths = pc.binary_join_element_wise(DATALINK_DIR + "/", coll, "/", obs_id, ".xml", "")
    odd_mask = pc.and_(events, pc.invert(plain))
    odd = np.flatnonzero(odd_mask.to_numpy(zero_copy_only=False))
    if odd.size:  # rare: ids with characters that would need escaping
        dids = obscore["obs_publisher_did"].iloc[odd].astype(str).to_numpy()
        hashed = [f"{DATALINK_DIR}/x/{hashlib.sha256(d.encode()).hexdigest()[:16]}.xml" for d in dids]
        paths = pc.replace_with_mask(paths, odd_mask, pa.array(hashed, pa.string()))
    return pc.if_else(events, paths, pa.scalar(None, pa.string())), coll, obs_id


def _gadf_links_from_raw(raw_dir: Path, obscore: pd.DataFrame) -> pd.DataFrame:
    """H.E.S.S. DL3 link rows (events, each IRF, GTI) from the hdu-index in the snapshot's ``raw/``."""
    import datetime as dt

    from models.hea import empty_links, gadf_to_ivoa
    from scrapers import gadf
    from scrapers.archive import RawArchive

    archive = RawArchive(raw_dir)
    # Only the two index records are read (and their blobs checked against their SHA-256); the
    # release's requests do not depend on the date.
    records = [archive.get_ok(request) for request in gadf.requests(dt.date(2000, 1, 1))]
    found = {r.request.name: r for r in records if r is not None}
    hess = obscore[obscore["obs_collection"] == gadf.HESS_DR1_COLLECTION]
    if len(found) < 2 or hess.empty:
        return empty_links()
    frames = {name: gadf.parse(name, r.content, r.request.url) for name, r in found.items()}
    out = gadf_to_ivoa(
        frames["obs_index"],
        frames["hdu_index"],
        collection=gadf.HESS_DR1_COLLECTION,
        access_url_template=gadf.HESS_DR1_URL_TEMPLATE,
        datalink_base_url="/",  # only to have the links built; documents are placed by document_paths
    )
    links = out["datalink"]
    return links[links["ID"].isin(set(hess["obs_publisher_did"]))].reset_index(drop=True)


#: ``error_message`` of a ``#this`` row when no event-list URL is known.
_NO_EVENT_LIST = "NotFoundFault: no event-list URL is known for this observation"
#: A NULL text value (``pc.if_else`` operand).
_NULL = pa.scalar(None, pa.string())
#: ``description`` of every ``#provenance`` row.
_PROVENANCE_DESCRIPTION = (
    "W3C PROV / IVOA ProvenanceDM record of the snapshot this dataset was published in "
    "(PROV-JSON; also provenance/prov.provn and provenance/prov.vot)"
)


def snapshot_links(
    obscore: pd.DataFrame,
    obscore_hea: pd.DataFrame,
    base_url: str | None,
    *,
    gadf_links: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Link rows of every event-list dataset of a snapshot, with a ``document`` column.

    :func:`snapshot_link_table` as a pandas frame (:func:`models.arrow.to_frame`).

    Parameters
    ----------
    obscore, obscore_hea
        The snapshot's ObsCore frames (see :func:`snapshot_link_table`).
    base_url
        Public URL of the snapshot directory, or ``None`` (see :func:`snapshot_link_table`).
    gadf_links
        Link rows of GADF releases (see :func:`snapshot_link_table`).

    Returns
    -------
    pandas.DataFrame
        :data:`DATALINK` columns plus ``document``; rows of one document together, ``#this`` first.
    """
    return to_frame(snapshot_link_table(obscore, obscore_hea, base_url, gadf_links=gadf_links))


def snapshot_link_table(
    obscore: pd.DataFrame,
    obscore_hea: pd.DataFrame,
    base_url: str | None,
    *,
    gadf_links: pd.DataFrame | None = None,
) -> pa.Table:
    """Link rows of every event-list dataset of a snapshot, as one :data:`LINK_ROWS` table.

    Each event list gets, in its document: the GADF rows of its run when ``gadf_links`` has any (events,
    responses, GTI), otherwise a ``#this`` row (its ``access_url``, or an ``error_message`` when it has
    none) and, for a mission of :data:`models.hea.XRAY_ARCHIVES`, a ``#calibration`` row saying why there
    is no response (:data:`NO_RESPONSE`); then always the ``#provenance`` row (:data:`HAS_PROVENANCE`).
    Rows are ordered by document name (bytewise), then ``#this``, ``#calibration``, ``#auxiliary``, the
    rest; rows of one rank keep the order GADF, ``#this``, ``#calibration``, provenance and their input
    order. Built with Arrow kernels and numpy index arithmetic (each column is one ``take``): no Python
    object per link row.

    Parameters
    ----------
    obscore, obscore_hea
        The snapshot's ObsCore frames; event lists are ``dataproduct_type = 'event'`` rows (their
        ``obs_publisher_did`` must be unique). ``obscore_hea`` is not read: the ``#this`` row is described
        from ``obscore`` (collection, obs_id, facility).
    base_url
        Public URL of the snapshot directory; the ``#provenance`` link is ``<base>/provenance/prov.json``,
        or the relative reference ``../../provenance/prov.json`` (resolved against the document's own
        URL, RFC 3986 section 5) when unset.
    gadf_links
        Link rows of GADF releases (``models.hea.gadf_to_ivoa``'s ``datalink``): events (``#this``), each
        response (``#calibration`` with its response type) and GTI (``#auxiliary``) of a run. Rows whose
        ``ID`` is no event list's ``obs_publisher_did`` are ignored.

    Returns
    -------
    pyarrow.Table
        :data:`LINK_ROWS` (schema :func:`models.arrow.arrow_schema`, one chunk per column); rows of one
        document together, ``#this`` first. No rows when there is no event list.

    Raises
    ------
    DataLinkError
        Two event lists share an ``obs_publisher_did``.
    """
    from models.hea import XRAY_ARCHIVES

    schema = arrow_schema(LINK_ROWS)
    paths, coll, obs_id = _document_path_array(obscore)
    events = np.flatnonzero(paths.is_valid().to_numpy(zero_copy_only=False))
    n_events = len(events)
    if not n_events:
        return pa.Table.from_arrays([pa.array([], f.type) for f in schema], schema=schema)
    at = pa.array(events)
    documents = paths.take(at)
    ids = _string_column(obscore["obs_publisher_did"]).take(at)
    if len(pc.unique(ids)) != n_events:
        raise DataLinkError("event lists share an obs_publisher_did: each needs a document of its own")
    # each event list's place in document-name order (a stable sort; the names are ASCII, so bytewise order
    # is code-point order)
    by_name = pc.sort_indices(documents).to_numpy()
    place = np.empty(n_events, dtype=np.int64)
    place[by_name] = np.arange(n_events)

    gadf, gadf_event = _gadf_rows(gadf_links, ids)
    has_gadf = np.zeros(n_events, dtype=bool)
    has_gadf[gadf_event] = True
    rest = np.flatnonzero(~has_gadf)  # event lists described by a #this row (and #calibration for X-ray)
    facility = _text(obscore["facility_name"]).take(at)
    is_xray = pc.is_in(facility, value_set=pa.array(list(XRAY_ARCHIVES), pa.string())).to_numpy(zero_copy_only=False)
    xray = np.flatnonzero(is_xray & ~has_gadf)

    # rows per document: GADF rows, or #this (+ #calibration); then #provenance. Where each row goes:
    counts = np.bincount(gadf_event, minlength=n_events) + 1
    counts[rest] += 1
    counts[xray] += 1
    ordered = counts[by_name]
    start = np.empty(n_events, dtype=np.int64)
    start[by_name] = np.cumsum(ordered) - ordered
    n_rows = int(ordered.sum())
    this_at, calibration_at, provenance_at = start[rest], start[xray] + 1, start + counts - 1
    gadf_at = _gadf_places(gadf.column("semantics"), gadf_event, place, start)

    url = _string_column(obscore["access_url"]).take(pa.array(events[rest]))
    has_url = url.is_valid()
    label = pc.binary_join_element_wise(coll.take(at), " observation ", obs_id.take(at), "")
    facility_rest = facility.take(pa.array(rest))
    fmt = _string_column(obscore["access_format"]).take(pa.array(events[rest]))
    target = base_url.rstrip("/") + "/" + PROVENANCE_TARGET if base_url else "../../" + PROVENANCE_TARGET
    parts: dict[str, tuple[object, object, object]] = {
        # column: values of its #this rows (one per `rest` event list), #calibration rows, #provenance rows
        "access_url": (url, None, target),
        "service_def": (None, None, None),
        "error_message": (pc.if_else(has_url, _NULL, _NO_EVENT_LIST), NO_RESPONSE, None),
        "semantics": ("#this", "#calibration", HAS_PROVENANCE),
        "description": (
            pc.binary_join_element_wise(
                label.take(pa.array(rest)), ": event list (", facility_rest, " archive product)", ""
            ),
            pc.binary_join_element_wise(label.take(pa.array(xray)), ": instrument response", ""),
            _PROVENANCE_DESCRIPTION,
        ),
        "content_type": (pc.if_else(has_url, fmt, _NULL), None, PROVENANCE_TYPE),
        "content_length": (None, None, None),
        "content_qualifier": (pc.if_else(has_url, "event-list", _NULL), None, None),
    }
    dests = (this_at, calibration_at, provenance_at)
    event_of_row = pa.array(np.repeat(by_name, ordered))
    arrays = []
    for field in schema:
        if field.name in ("ID", "document"):
            arrays.append((ids if field.name == "ID" else documents).take(event_of_row))
            continue
        sources = [(contiguous(gadf.column(field.name)), gadf_at), *zip(parts[field.name], dests, strict=True)]
        arrays.append(_gather(sources, n_rows, field.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def _gather(sources: Sequence[tuple[object, np.ndarray]], n_rows: int, kind: pa.DataType) -> pa.Array:
    """One column in link-row order: each source's values put at its rows' places, with one ``take``.

    A source is an array with a value per row or a single value (``None``: NULL) for all its rows.
    """
    pieces, index, offset = [], np.empty(n_rows, dtype=np.int64), 0
    for values, where in sources:
        if isinstance(values, pa.Array) and len(values) == len(where):
            index[where] = np.arange(offset, offset + len(where))
            pieces.append(values)
            offset += len(where)
        elif len(where):  # one value for every row of this source
            index[where] = offset
            pieces.append(pa.array([values], kind))
            offset += 1
    return pa.concat_arrays(pieces).take(pa.array(index))


def _gadf_rows(gadf_links: pd.DataFrame | None, ids: pa.Array) -> tuple[pa.Table, np.ndarray]:
    """GADF link rows of the event lists ``ids`` (as a :data:`DATALINK` table, input order) and each row's event."""
    if gadf_links is None or not len(gadf_links):
        return conform(empty_frame(DATALINK), DATALINK), np.zeros(0, dtype=np.int64)
    frame = gadf_links.drop(columns=["document", "x_obs_id"], errors="ignore")
    gadf_ids = _string_column(frame["ID"])
    # hash the few GADF IDs, not the million event lists: first the event lists they name, then each row's
    named = np.flatnonzero(pc.is_in(ids, value_set=pc.unique(gadf_ids)).to_numpy(zero_copy_only=False))
    at = pc.fill_null(pc.index_in(gadf_ids, value_set=ids.take(pa.array(named))), -1).to_numpy()
    where = np.where(at >= 0, named[np.maximum(at, 0)], -1) if len(named) else np.full(len(at), -1)
    keep = where >= 0
    frame = frame[keep]
    if "semantics" not in frame.columns:  # no term: NULL, ranked last
        frame = frame.assign(semantics=None)
    return conform(frame, DATALINK), where[keep].astype(np.int64)


def _gadf_places(semantics: pa.ChunkedArray, event: np.ndarray, place: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Row of each GADF link in the link table: its document's first row plus its rank among the document's rows.

    Within a document: ``#this``, ``#calibration``, ``#auxiliary``, the rest, each in input order.
    """
    n = len(event)
    if not n:
        return np.zeros(0, dtype=np.int64)
    rank = np.full(n, 3, dtype=np.int64)
    for i, term in enumerate(("#this", "#calibration", "#auxiliary")):
        rank[pc.fill_null(pc.equal(semantics, term), False).to_numpy(zero_copy_only=False)] = i
    order = np.lexsort((np.arange(n), rank, place[event]))
    doc = event[order]
    first = np.flatnonzero(np.r_[True, doc[1:] != doc[:-1]])
    within = np.arange(n) - np.repeat(first, np.diff(np.r_[first, n]))
    out = np.empty(n, dtype=np.int64)
    out[order] = start[doc] + within
    return out


def manifest_entry(written: Sequence[str], public_base_url: str | None, base_url: str | None) -> dict[str, object]:
    """The manifest's ``datalink`` record of a snapshot.

    Parameters
    ----------
    written
        What :func:`write_snapshot_datalinks` returned (documents, index, link table).
    public_base_url, base_url
        The configured public URL of the publish root and the snapshot's own (``None`` when unset).

    Returns
    -------
    dict
        ``public_base_url``, ``base_url``, ``documents`` (how many) and ``index`` (or ``None``).
    """
    return {
        "public_base_url": public_base_url,
        "base_url": base_url,
        "documents": sum(rel.endswith(".xml") for rel in written),
        "index": DATALINK_INDEX if written else None,
    }


def datalink_access(obscore: pd.DataFrame, base_url: str | None) -> pd.DataFrame:
    """ObsCore rows pointing at their DataLink documents when the snapshot has a public base URL.

    Event-list rows get ``access_url = <base>/datalink/<collection>/<obs_id>.xml`` and ``access_format``
    :data:`DATALINK_FORMAT` (exactly where a DataLink document is the target); ``access_estsize`` is
    cleared there (it described the event file). Without a base URL the rows are returned unchanged
    (their ``access_url`` is the archive's event file; the TAP kit points them at the documents through
    the serving TAP server's base URL, using ``datalink/documents.csv``).
    """
    if not base_url:
        return obscore
    paths = document_paths(obscore)
    has = paths.notna().to_numpy(dtype=bool)
    out = obscore.copy()
    out["access_url"] = out["access_url"].astype(object).where(~has, base_url.rstrip("/") + "/" + paths)
    out["access_format"] = out["access_format"].astype(object).where(~has, DATALINK_FORMAT)
    out["access_estsize"] = out["access_estsize"].astype("Int64").mask(has, pd.NA)
    return out


#: Every link row of a snapshot's documents as one table (:data:`LINK_ROWS`): what the documents are made
#: of, loadable by a TAP server as a DataLink table, and what the next day compares its rows with.
LINKS_TABLE = f"{DATALINK_DIR}/links.parquet"
LINK_ROWS = TableSpec(
    name="links",
    schema="datalink",
    description="DataLink 1.1 links of every event-list dataset of a snapshot, with the document holding each",
    utype="",
    columns=(
        *DATALINK.columns,
        Column(
            "document",
            "char",
            description="Path, in the snapshot, of the DataLink document holding this link",
            null_rule="not-null",
        ),
    ),
)
#: Documents encoded and written per batch: bounds the memory of a snapshot with a million datasets.
DOCUMENT_BATCH = 50_000


def unchanged_documents(today: pa.Table, before: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """Which documents of ``today`` have exactly the link rows, in the same order, that ``before`` has.

    A document's bytes are a function of its link rows (and of the writer: callers compare only tables
    written by the same code). Rows of a document are consecutive in both tables (as
    :func:`snapshot_links` orders them), so a document is unchanged when ``before`` holds it with as
    many rows and each row equals, column by column, the row at the same position (NULL equal to NULL).
    Vectorised over rows with Arrow kernels: no per-document Python.

    Parameters
    ----------
    today, before
        :data:`LINK_ROWS` tables (``before``: the previous snapshot's :data:`LINKS_TABLE`).

    Returns
    -------
    tuple of numpy.ndarray
        Document names of ``today`` in order, and a boolean per name: unchanged.
    """
    names, first, counts = _document_runs(today)
    if not before.schema.equals(today.schema) or before.num_rows == 0:
        return names, np.zeros(len(names), dtype=bool)
    before_names, before_first, before_counts = _document_runs(before)
    index = pd.Index(before_names)
    if not index.is_unique:  # documents not consecutive: nothing is compared, everything rebuilt
        return names, np.zeros(len(names), dtype=bool)
    where = index.get_indexer(names)
    candidate = where >= 0
    candidate[candidate] = before_counts[where[candidate]] == counts[candidate]
    doc_of_row = np.repeat(np.arange(len(names)), counts)
    offset = np.arange(today.num_rows) - np.repeat(first, counts)
    rows = np.flatnonzero(candidate[doc_of_row])
    before_rows = before_first[where[doc_of_row[rows]]] + offset[rows]
    # the usual day: the same documents in the same places, so the columns are compared as they are
    aligned = len(rows) == today.num_rows == before.num_rows and np.array_equal(rows, before_rows)
    same = np.ones(len(rows), dtype=bool)
    for name in DATALINK.names:
        if aligned:
            a, b = today.column(name), before.column(name)
        else:
            a, b = today.column(name).take(rows), before.column(name).take(before_rows)
        equal = pc.or_(pc.fill_null(pc.equal(a, b), False), pc.and_(pc.is_null(a), pc.is_null(b)))
        same &= equal.to_numpy(zero_copy_only=False)
    differs = np.ones(today.num_rows, dtype=np.int64)
    differs[rows] = ~same
    return names, candidate & (np.add.reduceat(differs, first) == 0)


def _document_runs(links: pa.Table) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Names, first row and row count of each run of equal ``document`` values.

    Runs are found with Arrow kernels (NULL equal to NULL); only the names become Python strings.
    """
    documents = contiguous(links.column("document"))
    n = len(documents)
    if n == 0:
        return np.zeros(0, dtype=object), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    _, same_as_before = lex_compare([documents.slice(0, n - 1)], [documents.slice(1)])
    first = np.flatnonzero(np.r_[True, ~same_as_before])
    names = documents.take(pa.array(first)).to_numpy(zero_copy_only=False).astype(object)
    return names, first, np.diff(np.r_[first, n])


def read_document_index(snapshot: Path) -> pa.Table | None:
    """The DataLink document index of a snapshot (:data:`DATALINK_INDEX`), or ``None``.

    Parameters
    ----------
    snapshot
        A snapshot (or stage) directory.

    Returns
    -------
    pyarrow.Table or None
        ``obs_publisher_did``, ``document``, ``size`` and ``sha256`` per document; ``None`` when there is
        no index or it predates the ``size`` and ``sha256`` columns (then the manifest lists the documents).
    """
    path = Path(snapshot) / DATALINK_INDEX
    if not path.is_file():
        return None
    import pyarrow.csv as pcsv

    types = {"obs_publisher_did": pa.string(), "document": pa.string(), "size": pa.int64(), "sha256": pa.string()}
    options = pcsv.ConvertOptions(column_types=types, strings_can_be_null=False)
    try:
        table = pcsv.read_csv(path, convert_options=options)
    except (pa.ArrowInvalid, OSError):
        return None
    if not set(types) <= set(table.column_names) or table.column("size").null_count:
        return None
    return table.select(list(types))


def write_snapshot_datalinks(
    stage: Path,
    obscore: pd.DataFrame,
    obscore_hea: pd.DataFrame,
    base_url: str | None,
    *,
    gadf_links: pd.DataFrame | None = None,
    previous: Path | None = None,
    entries: dict[str, dict[str, object]] | None = None,
    linked: list[str] | None = None,
    reuse_documents: bool = False,
) -> list[str]:
    """Write a DataLink document for every event-list dataset of a snapshot, their index and link table.

    :func:`start_snapshot_datalinks` and its :meth:`PendingDataLinks.wait` in one call.

    Parameters
    ----------
    stage, obscore, obscore_hea, base_url, gadf_links, previous, reuse_documents
        As for :func:`start_snapshot_datalinks`.
    entries, linked
        As for :meth:`PendingDataLinks.wait`.

    Returns
    -------
    list of str
        Written files relative to ``stage`` (:meth:`PendingDataLinks.wait`).
    """
    pending = start_snapshot_datalinks(
        stage,
        obscore,
        obscore_hea,
        base_url,
        gadf_links=gadf_links,
        previous=previous,
        reuse_documents=reuse_documents,
    )
    return pending.wait(entries=entries, linked=linked)


class PendingDataLinks:
    """A snapshot's DataLink documents while their hard links are being made in a background thread.

    :func:`start_snapshot_datalinks` returns once the changed documents, the index and the link table
    are written: the index is right before the links exist, since an unchanged document's bytes (and so
    its size and SHA-256) are the previous snapshot's whether it is linked or written again. The
    hundreds of thousands of links to the previous snapshot's unchanged documents (one system call
    each, the GIL released) go on in the background while the caller writes the rest of the snapshot,
    its manifest included; :meth:`wait` ends them: a document whose link failed is encoded and written
    (and must come out as the index says). The caller must call :meth:`wait` (or :meth:`cancel`)
    before it validates, publishes or discards the stage.

    Parameters
    ----------
    files
        What the stage holds of DataLink once :meth:`wait` returns (:attr:`files`).
    documents
        The documents being written (``None``: no event list, nothing left to do).
    linking
        The documents (indices of ``documents``) to hard-link in the background.
    """

    def __init__(
        self, files: list[str], documents: _Documents | None = None, linking: np.ndarray | None = None
    ) -> None:
        #: Files of the stage this writes: ``datalink/<collection>/<obs_id>.xml`` per event list,
        #: ``datalink/documents.csv`` (``obs_publisher_did,document,size,sha256``) and :data:`LINKS_TABLE`
        #: (none when the snapshot has no event list).
        self.files = files
        self._documents = documents
        self._linking = np.zeros(0, dtype=np.int64) if linking is None else linking
        self._background = (
            background_thread("datalink").submit(documents.link, self._linking)
            if documents is not None and len(self._linking)
            else None
        )
        self._done = False

    def wait(
        self, *, entries: dict[str, dict[str, object]] | None = None, linked: list[str] | None = None
    ) -> list[str]:
        """Wait for the links, write the documents whose link failed, and return :attr:`files`.

        Parameters
        ----------
        entries
            When given, filled with ``{relative path: {"size", "sha256"}}`` of every document written or linked.
        linked
            When given, extended with the documents hard-linked from the previous snapshot (unchanged bytes).

        Returns
        -------
        list of str
            :attr:`files`.

        Raises
        ------
        OSError, DataLinkError
            What the background links or the remaining writes raised.
        """
        if not self._done:
            if self._background is not None:
                self._background.result()
            if self._documents is not None:
                self._documents.rewrite_unlinked(self._linking)
                self._documents.report(entries, linked)
            self._done = True
        return self.files

    def cancel(self) -> None:
        """Let the background links end (errors ignored) so the stage can be discarded."""
        if self._background is not None:
            with contextlib.suppress(Exception):
                self._background.result()


def start_snapshot_datalinks(
    stage: Path,
    obscore: pd.DataFrame,
    obscore_hea: pd.DataFrame,
    base_url: str | None,
    *,
    gadf_links: pd.DataFrame | None = None,
    previous: Path | None = None,
    reuse_documents: bool = False,
) -> PendingDataLinks:
    """Start writing a DataLink document for every event-list dataset of a snapshot.

    Documents are encoded in batches of :data:`DOCUMENT_BATCH` (memory bounded at any size) and hashed
    in memory as they are written: their size and SHA-256 go to the index (:data:`DATALINK_INDEX`,
    which the manifest lists in their place: no second read, and no manifest line per dataset). With
    ``reuse_documents``, a document whose link rows equal those of the previous snapshot's
    :data:`LINKS_TABLE` (:func:`unchanged_documents`) is not encoded at all: it becomes a hard link to the
    previous snapshot's immutable file, with the size and SHA-256 of the previous index, so a day costs
    its changed datasets plus one link per unchanged one. Those links are made in the background
    (:class:`PendingDataLinks`): on the 2-core machine they overlap the writing of the tables. Without
    ``reuse_documents``, a document that comes out identical to the previous one (same size and SHA-256
    in its index) is still a link instead of a second copy. Links and writes run in
    :data:`models.durable.FILE_THREADS` threads.

    Parameters
    ----------
    stage
        The staged snapshot (its ``raw/`` must already hold the raw records: the H.E.S.S. indexes
        give each run's IRF and GTI links).
    obscore, obscore_hea
        The ObsCore frames as they were *before* :func:`datalink_access` (``access_url`` = the event file).
    base_url
        Public URL of the snapshot directory, or ``None`` (see :func:`snapshot_link_table`).
    gadf_links
        GADF link rows to use instead of reading the indexes from ``raw/`` (tests, imports).
    previous
        The previous published snapshot (``None``: write everything).
    reuse_documents
        The previous snapshot was written by this very code (same :func:`models.layout.code_digest`), so
        equal link rows mean equal documents.

    Returns
    -------
    PendingDataLinks
        Call its :meth:`~PendingDataLinks.wait` for the written files.
    """
    stage = Path(stage)
    if gadf_links is None and (stage / "raw" / "records").is_dir():
        gadf_links = _gadf_links_from_raw(stage / "raw", obscore)
    prev_links = None if previous is None else Path(previous) / LINKS_TABLE
    # the previous link table is read (Arrow's threads, the GIL released) while today's is built
    reading = None
    if reuse_documents and prev_links is not None:
        reading = background_thread("datalink").submit(pq.read_table, prev_links)
    table = snapshot_link_table(obscore, obscore_hea, base_url, gadf_links=gadf_links)
    if not table.num_rows:
        return PendingDataLinks([])
    documents = _Documents.of(table, stage, previous)
    try:
        before_links = None if reading is None else reading.result()
    except OSError:  # no readable link table: every document is encoded
        before_links = None
    unchanged = np.zeros(0, dtype=np.int64)
    if documents.before is not None and before_links is not None:
        _, same = unchanged_documents(table, before_links)
        unchanged = np.flatnonzero(same & (documents.at_before >= 0))
    documents.write(np.setdiff1d(np.arange(len(documents.names)), unchanged, assume_unique=True))
    same_links = before_links is not None and before_links.schema.equals(table.schema) and before_links.equals(table)
    del before_links
    documents.take_previous(unchanged)
    names, sizes, digests = documents.names, documents.sizes, documents.digests
    ids = table.column("ID").take(pa.array(documents.first)).to_numpy(zero_copy_only=False)  # a dataset each
    if same_links and len(unchanged) == len(names) and _same_index(documents.before, ids, names, sizes, digests):
        # every document and its link rows as the previous snapshot (same code) had them: so are the
        # index and the link table, byte for byte; linked like the documents, not written again
        for rel in (DATALINK_INDEX, LINKS_TABLE):
            link_or_copy(Path(previous) / rel, stage / rel)
    else:
        index = pd.DataFrame({"obs_publisher_did": ids, "document": names, "size": sizes, "sha256": digests})
        (stage / DATALINK_INDEX).write_text(index.to_csv(index=False, lineterminator="\n"), encoding="utf-8")
        write_parquet(table, LINK_ROWS, stage / LINKS_TABLE)
    return PendingDataLinks(sorted([*names.tolist(), DATALINK_INDEX, LINKS_TABLE]), documents, unchanged)


class _Documents:
    """The DataLink documents of one stage: names in order, their link rows, sizes, digests, what is linked.

    Arrays are indexed by document (name order); ``at_before`` is each one's row in the previous
    snapshot's index (-1: not there). :meth:`write` encodes and writes documents (a byte-identical one
    becomes a link), :meth:`link` hard-links unchanged ones (the background part), and
    :meth:`rewrite_unlinked` writes those whose link failed.
    """

    def __init__(self, table: pa.Table, stage: Path, previous: Path | None, before: pa.Table | None) -> None:
        at = None if before is None else pd.Index(before.column("document").to_numpy(zero_copy_only=False))
        if at is not None and not at.is_unique:  # not an index this code wrote: nothing is reused
            before, at = None, None
        self.table, self.stage, self.previous, self.before = table, stage, previous, before
        self.names, self.first, self.counts = _document_runs(table)
        n = len(self.names)
        self.sizes = np.full(n, -1, dtype=np.int64)
        self.digests = np.full(n, None, dtype=object)
        self.done = np.zeros(n, dtype=bool)  # linked to the previous snapshot's file
        self.at_before = np.full(n, -1, dtype=np.int64) if at is None else at.get_indexer(self.names)
        self.before_size = None if before is None else before.column("size").to_numpy()
        self.before_sha = None if before is None else before.column("sha256").to_numpy(zero_copy_only=False)
        self._root = str(stage) + os.sep
        self._prev_root = None if previous is None else str(previous) + os.sep

    @classmethod
    def of(cls, table: pa.Table, stage: Path, previous: Path | None) -> _Documents:
        """The documents of ``table``, their folders made, matched with the previous snapshot's index."""
        documents = cls(table, stage, previous, None if previous is None else read_document_index(previous))
        for folder in sorted({rel.rpartition("/")[0] for rel in documents.names.tolist()}):  # a few collections
            (stage / folder).mkdir(parents=True, exist_ok=True)
        return documents

    def write(self, todo: np.ndarray) -> None:
        """Encode the documents ``todo`` (indices in name order) a batch at a time and write (or link) them."""
        if not len(todo):
            return
        names, counts = self.names, self.counts
        chosen = np.zeros(len(names), dtype=bool)
        chosen[todo] = True
        pending = self.table if chosen.all() else self.table.filter(pa.array(np.repeat(chosen, counts)))
        starts = np.r_[0, np.cumsum(counts[todo])[:-1]].astype(np.int64)
        for at in range(0, len(starts), DOCUMENT_BATCH):
            stop = starts[at + DOCUMENT_BATCH] if at + DOCUMENT_BATCH < len(starts) else pending.num_rows
            encoded = datalink_documents(to_frame(pending.slice(starts[at], stop - starts[at])))
            which = todo[at : at + len(encoded)]  # documents in name order, as the link rows are
            if list(encoded) != names[which].tolist():
                raise DataLinkError("DataLink documents are not in the order of their link rows")
            batch = list(encoded.values())
            del encoded
            in_threads(lambda lo, hi, batch=batch, which=which: self._write_files(batch, which, lo, hi), len(batch))
            del batch

    def _write_files(self, batch: list[bytes], which: np.ndarray, lo: int, hi: int) -> None:
        for i in range(lo, hi):  # one file per dataset: plain os calls, no Path object each
            doc, content = int(which[i]), batch[i]
            rel = self.names[doc]
            self.sizes[doc], self.digests[doc] = len(content), hashlib.sha256(content).hexdigest()
            old = self.at_before[doc]
            if old >= 0 and self.before_size[old] == self.sizes[doc] and self.before_sha[old] == self.digests[doc]:
                try:  # the previous snapshot's immutable, identical file
                    os.link(self._prev_root + rel, self._root + rel)
                    self.done[doc] = True
                    continue
                except OSError:
                    pass  # another file system, a missing file: write it
            with open(self._root + rel, "wb") as handle:
                handle.write(content)

    def take_previous(self, unchanged: np.ndarray) -> None:
        """Give the ``unchanged`` documents the previous index's size and SHA-256.

        An unchanged document is the previous snapshot's bytes (same link rows, same code), whether its
        link succeeds or it is written again: the index can be written before the links are made.
        """
        if len(unchanged):
            where = self.at_before[unchanged]
            self.sizes[unchanged], self.digests[unchanged] = self.before_size[where], self.before_sha[where]

    def link(self, unchanged: np.ndarray) -> None:
        """Hard-link the ``unchanged`` documents to the previous snapshot's (the background part)."""
        self.done[unchanged] = link_many(
            self.previous, self.stage, self.names[unchanged].tolist(), threads=_BACKGROUND_THREADS
        )

    def rewrite_unlinked(self, unchanged: np.ndarray) -> None:
        """Encode and write the ``unchanged`` documents whose link failed; they must come out as indexed.

        Raises
        ------
        DataLinkError
            A document written again differs from the previous snapshot's (the index says otherwise).
        """
        failed = unchanged[~self.done[unchanged]]
        if not len(failed):
            return
        indexed = self.sizes[failed].copy(), self.digests[failed].copy()
        self.write(failed)
        differ = (self.sizes[failed] != indexed[0]) | (self.digests[failed] != indexed[1])
        if differ.any():  # the index already written says otherwise: never published
            raise DataLinkError(
                f"{self.names[failed[differ]][0]}: encoded again, its bytes differ from the previous snapshot's "
                "although its link rows are equal (the DataLink writer is not a function of the link rows)"
            )

    def report(self, entries: dict[str, dict[str, object]] | None, linked: list[str] | None) -> None:
        """Fill ``entries`` with every document's size and SHA-256 and ``linked`` with the linked ones."""
        if entries is not None:
            entries.update(
                zip(
                    self.names.tolist(),
                    ({"size": s, "sha256": h} for s, h in zip(self.sizes.tolist(), self.digests.tolist(), strict=True)),
                    strict=True,
                )
            )
        if linked is not None:
            linked += self.names[self.done].tolist()


#: Threads making the background links: one, so the caller's thread keeps the other core (on the 2-core
#: machine a daily 1 M-row publication took 16.7-17.4 s with one, 18.2-19.5 s with two).
_BACKGROUND_THREADS = 1


def _same_index(
    before: pa.Table | None, ids: np.ndarray, names: np.ndarray, sizes: np.ndarray, digests: np.ndarray
) -> bool:
    """Whether the previous index holds exactly these rows in this order (then its bytes are these)."""
    if before is None or before.num_rows != len(names):
        return False
    columns = {"obs_publisher_did": ids, "document": names, "size": sizes, "sha256": digests}
    return all(
        np.array_equal(before.column(c).to_numpy(zero_copy_only=False), np.asarray(v)) for c, v in columns.items()
    )
