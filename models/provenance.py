"""Provenance of a snapshot in W3C PROV / IVOA ProvenanceDM, and row-level provenance.

The snapshot's ``manifest.json`` already holds every fact (sources, the raw responses they parsed
with URL, fetch time and SHA-256, every published file with its SHA-256, the validation outcome, the
code version); :func:`write_provenance` restates those facts as a PROV graph, so nothing is recorded
twice and the graph can never disagree with the manifest:

* entities: every raw response (``prov:location`` = URL; fetch time; HTTP status and validators
  ``ETag``/``Last-Modified`` from the archive record; SHA-256; the archive record and blob in
  ``raw/``), each source's normalised IVOA frames, every published file (SHA-256, size) -- above
  :data:`DATALINK_ENTITY_LIMIT` per-dataset DataLink documents those become one ``prov:Collection``
  entity ``datalink`` (their number grows with the rows; the manifest has each one's digest,
  ``row_provenance`` the per-dataset lineage) --, the validation report and the previous snapshot
  (when there is one);
* activities: ``fetch/<source>`` (from the first to the last fetch time), ``parse/<source>``
  (parse + normalise, with parser module and code version), ``validate`` and ``publish``;
* agents: voharvest (``prov:SoftwareAgent``, version, commit when the manifest has one) and the
  observatory of each source (``prov:Organization``);
* relations: ``used``, ``wasGeneratedBy``, ``wasDerivedFrom``, ``wasAttributedTo``,
  ``wasAssociatedWith``, ``hadMember`` (the snapshot as a ``prov:Collection`` of its files).

Written with the ``prov`` library as PROV-JSON (``provenance/prov.json``) and PROV-N
(``provenance/prov.provn``), and as a VOTable in the tabular form of the ProvenanceDM that ProvTAP
serves (``provenance/prov.vot``: one TABLE per class and relation). Every output is deterministic:
no wall-clock time, records in manifest order.

Row-level provenance (:func:`row_provenance`) ties every published dataset to the raw responses it was
derived from (``voharvest.row_provenance``); :func:`provenance_chain` follows it back to the bytes.
"""

from __future__ import annotations

import json
import operator
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from prov.model import PROV, ProvDocument

from models.identifiers import authority, publisher_did

#: Where the provenance record lives in a snapshot.
PROV_JSON = "provenance/prov.json"
PROV_N = "provenance/prov.provn"
PROV_VOTABLE = "provenance/prov.vot"
PROV_FILES = (PROV_JSON, PROV_N, PROV_VOTABLE)
#: Namespace of voharvest's own PROV attributes.
VOH_NS = "urn:x-voharvest:provenance#"
#: IVOA ProvenanceDM namespace (``voprov:`` attributes of ProvenanceDM 1.0 section 2).
VOPROV_NS = "http://www.ivoa.net/documents/ProvenanceDM/ns/voprov/"
MANIFEST = "manifest.json"
#: The snapshot's landing page (``models.landing.INDEX``), written after the provenance record.
LANDING_PAGE = "index.html"

_TOKEN = re.compile(r"[^A-Za-z0-9_.-]+")


def _token(text: str) -> str:
    return _TOKEN.sub("_", str(text)).strip("_") or "unknown"


# -- facts ---------------------------------------------------------------------------------------
def parser_modules(sources: Iterable[str]) -> dict[str, str]:
    """Module of each source's parser (``scrapers.eso.wdb`` ...), from the source registry.

    Parameters
    ----------
    sources
        Source names as in the manifest.

    Returns
    -------
    dict
        Source name -> module of its ``parse`` function; ``scrapers.<name>`` for a source this
        voharvest no longer registers (its module cannot be looked up).
    """
    try:
        from scrapers.registry import all_sources  # lazily: models must not need scrapers at import

        known = {name: src.parse.__module__ for name, src in all_sources().items()}
    except Exception:  # noqa: BLE001 - a broken source module must not stop provenance; fall back to the name
        known = {}
    return {name: known.get(name, f"scrapers.{name}") for name in sources}


def raw_responses(manifest_document: Mapping[str, Any], raw_dir: Path | None = None) -> pd.DataFrame:
    """Every raw response of the manifest as one frame, with the HTTP headers of its archive record.

    Parameters
    ----------
    manifest_document
        The manifest (or the document about to become it): ``sources[<name>]["responses"]``.
    raw_dir
        The snapshot's ``raw/`` archive; its ``records/<key>.json`` give the kept HTTP headers
        (``ETag``, ``Last-Modified``, ``Content-Type``). ``None`` or a missing record leaves them NULL.

    Returns
    -------
    pandas.DataFrame
        Columns ``source, name, url, method, key, status, sha256, size, fetched_at, etag,
        last_modified, content_type, record, blob`` (``record``/``blob``: paths inside the snapshot).
    """
    rows: list[dict[str, Any]] = []
    for source, meta in (manifest_document.get("sources") or {}).items():  # a handful of sources
        for entry in meta.get("responses") or []:  # a handful of requests each
            headers: Mapping[str, str] = {}
            record = raw_dir / "records" / f"{entry['key']}.json" if raw_dir is not None else None
            if record is not None and record.is_file():
                headers = json.loads(record.read_text()).get("headers", {})
            sha = entry.get("sha256")
            rows.append(
                {
                    "source": source,
                    **{k: entry.get(k) for k in ("name", "url", "method", "key", "status", "sha256", "size")},
                    "fetched_at": entry.get("fetched_at"),
                    "etag": headers.get("ETag"),
                    "last_modified": headers.get("Last-Modified"),
                    "content_type": headers.get("Content-Type"),
                    "record": f"raw/records/{entry['key']}.json",
                    "blob": f"raw/blobs/{sha[:2]}/{sha}" if sha else None,
                }
            )
    columns = [
        "source", "name", "url", "method", "key", "status", "sha256", "size", "fetched_at",
        "etag", "last_modified", "content_type", "record", "blob",
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


# -- the PROV document ---------------------------------------------------------------------------
def build_document(stage: Path, manifest_document: Mapping[str, Any], file_entries: Mapping[str, Mapping]) -> Any:
    """The PROV document of a snapshot, from the manifest's facts.

    Parameters
    ----------
    stage
        The snapshot directory (its ``raw/records`` give the HTTP validators).
    manifest_document
        The manifest's content (``snapshot``, ``code_version``, ``tables``, ``sources``, ``mocs``,
        ``validation``, ``previous_snapshot``; ``code_commit`` if present).
    file_entries
        ``{relative path: {size, sha256}}`` of the published files (as in ``manifest.json``).

    Returns
    -------
    prov.model.ProvDocument
        The document; the provenance files themselves, ``manifest.json`` and the landing page
        ``index.html`` (written after this record) are entities without a hash (a file cannot
        contain its own digest; the manifest has theirs). With a public base URL (manifest
        ``datalink.base_url``) the snapshot entity's ``prov:location`` is the snapshot's public URL.
    """
    stage = Path(stage)
    date = str(manifest_document["snapshot"])
    auth = authority()
    doc = ProvDocument()
    doc.add_namespace("voh", VOH_NS)
    doc.add_namespace("voprov", VOPROV_NS)
    snap = doc.add_namespace("snap", f"ivo://{auth}/snapshot/{date}/")
    agents = doc.add_namespace("agent", f"ivo://{auth}/agent/")
    hist = doc.add_namespace("snapshots", f"ivo://{auth}/snapshot/")
    version = str(manifest_document.get("code_version", "0+unknown"))
    sources: Mapping[str, Mapping[str, Any]] = manifest_document.get("sources") or {}
    modules = parser_modules(sources)

    software = {
        "prov:type": PROV["SoftwareAgent"],
        "prov:label": "voharvest",
        "voprov:version": version,
    }
    if manifest_document.get("code_commit"):
        software["voh:commit"] = str(manifest_document["code_commit"])
    voharvest = doc.agent(agents["voharvest"], software)
    snapshot_attrs = {
        "prov:type": PROV["Collection"],
        "prov:label": f"voharvest snapshot {date}",
        "voh:as_of_mjd": _num(manifest_document.get("as_of_mjd")),
    }
    public_url = (manifest_document.get("datalink") or {}).get("base_url")
    if public_url:  # the snapshot's public URL (configured public base URL + snapshots/<date>)
        snapshot_attrs["prov:location"] = str(public_url)
    snapshot_entity = doc.entity(snap["snapshot"], snapshot_attrs)
    previous = manifest_document.get("previous_snapshot")
    prev_entity = (
        doc.entity(hist[str(previous)], {"prov:type": PROV["Collection"], "prov:label": f"snapshot {previous}"})
        if previous
        else None
    )

    responses = raw_responses(manifest_document, stage / "raw")
    frames: dict[str, Any] = {}
    for source, meta in sources.items():
        observatory = doc.agent(
            agents[_token(source)],
            {"prov:type": PROV["Organization"], "prov:label": str(meta.get("facility") or source)},
        )
        frame_attrs = {
            "prov:label": f"IVOA frames of {source}",
            "voh:tables": ",".join(meta.get("tables") or []),
            "voh:rows": json.dumps(meta.get("rows") or {}, sort_keys=True),
        }
        carried = meta.get("carried_over_from")
        if carried:
            frame_attrs["voh:carried_over_from"] = str(carried)
        frame = doc.entity(snap[f"frames/{_token(source)}"], frame_attrs)
        frames[source] = frame
        doc.wasAttributedTo(frame, observatory)
        if carried:  # no fetch in this harvest: the frames come from the earlier snapshot
            doc.wasDerivedFrom(frame, hist[str(carried)])
            continue
        mine = responses[responses["source"] == source]
        times = pd.to_datetime(mine["fetched_at"], utc=True)
        fetch = doc.activity(
            snap[f"fetch/{_token(source)}"],
            times.min().to_pydatetime() if len(mine) else None,
            times.max().to_pydatetime() if len(mine) else None,
            {"prov:label": f"fetch {source}", "voprov:type": "fetch", "voh:requests": len(mine)},
        )
        doc.wasAssociatedWith(fetch, voharvest)
        parse = doc.activity(
            snap[f"parse/{_token(source)}"],
            None,
            None,
            {
                "prov:label": f"parse and normalise {source}",
                "voprov:type": "parse+normalise",
                "voh:parser_module": modules[source],
                "voprov:version": version,
                "voh:as_of": str(meta.get("as_of", "")),
            },
        )
        doc.wasAssociatedWith(parse, voharvest)
        for row, when in zip(mine.itertuples(index=False), times, strict=True):  # responses, not data rows
            attrs = {
                "prov:label": f"{source} {row.name}",
                "prov:location": str(row.url),
                "voh:method": str(row.method),
                "voh:request_key": str(row.key),
                "voh:http_status": int(row.status),
                "voh:fetched_at": str(row.fetched_at),
                "voh:archive_record": str(row.record),
            }
            if row.sha256:
                attrs.update({"voh:sha256": str(row.sha256), "voh:size": int(row.size), "voh:blob": str(row.blob)})
            for key, value in (("etag", row.etag), ("last_modified", row.last_modified)):
                if isinstance(value, str):
                    attrs[f"voh:{key}"] = value
            if isinstance(row.content_type, str):
                attrs["voh:content_type"] = row.content_type
            response = doc.entity(snap[f"response/{_token(source)}/{_token(row.name)}"], attrs)
            doc.wasGeneratedBy(response, fetch, when.to_pydatetime())
            doc.wasAttributedTo(response, observatory)
            doc.used(parse, response)
            doc.wasDerivedFrom(frame, response)
            for path in (row.record, row.blob):
                if path in file_entries:  # the copies kept in raw/
                    doc.wasDerivedFrom(snap[path], response)
        doc.wasGeneratedBy(frame, parse)

    # published files: one entity each, generated by publish; tables derived from the frames that fed them
    publish = doc.activity(snap["publish"], None, None, {"prov:label": f"publish snapshot {date}"})
    doc.wasAssociatedWith(publish, voharvest)
    for frame in frames.values():
        doc.used(publish, frame)
    if prev_entity is not None:
        doc.used(publish, prev_entity)
    table_files = _table_files(manifest_document)
    listed, n_documents, documents_size = document_entities(stage, file_entries)
    for rel, entry in listed.items():  # files whose number does not grow with the rows
        doc.entity(
            snap[rel],
            {
                "prov:location": rel,
                "voh:sha256": str(entry.get("sha256")),
                "voh:size": int(entry.get("size", 0)),
            },
        )
        doc.wasGeneratedBy(snap[rel], publish)
        doc.hadMember(snapshot_entity, snap[rel])
    if n_documents:  # one entity for the per-dataset DataLink documents (their digests are in their index)
        collection = doc.entity(
            snap[DATALINK_COLLECTION],
            {
                "prov:type": PROV["Collection"],
                "prov:location": f"{DATALINK_COLLECTION}/",
                "prov:label": f"{n_documents} DataLink documents, one per event-list dataset "
                f"(dataset -> document, and each file's size and SHA-256, in {DATALINK_COLLECTION}/documents.csv, "
                f"whose own SHA-256 is in manifest.json; per-dataset lineage in {ROW_PROVENANCE_FILE})",
                "voh:documents": n_documents,
                "voh:size": documents_size,
            },
        )
        doc.wasGeneratedBy(collection, publish)
        doc.hadMember(snapshot_entity, collection)
        for rel in table_files.get("obscore", []):
            if rel in file_entries:
                doc.wasDerivedFrom(collection, snap[rel])
    for extra in (*PROV_FILES, MANIFEST, LANDING_PAGE):  # written after this record: digests in the manifest
        if extra not in file_entries:
            doc.entity(snap[extra], {"prov:location": extra, "prov:label": "listed in manifest.json (own digest)"})
            doc.wasGeneratedBy(snap[extra], publish)
            doc.hadMember(snapshot_entity, snap[extra])
    for table, files in table_files.items():
        feeding = [s for s, meta in sources.items() if table in (meta.get("tables") or [])]
        for rel in files:
            if rel not in file_entries:
                continue
            for source in feeding:
                doc.wasDerivedFrom(snap[rel], frames[source])
            if table in ("obsplan_history", "changes") and prev_entity is not None:
                doc.wasDerivedFrom(snap[rel], prev_entity)
    for rel in manifest_document.get("mocs") or []:
        base = Path(rel).name.split("-", 1)[0]
        for parquet in table_files.get(base, [])[:1]:
            if rel in file_entries:
                doc.wasDerivedFrom(snap[rel], snap[parquet])
    doc.wasGeneratedBy(snapshot_entity, publish)

    validation = manifest_document.get("validation") or {}
    check = doc.activity(
        snap["validate"],
        None,
        None,
        {"prov:label": "validate tables against their specs", "voprov:type": "validate"},
    )
    doc.wasAssociatedWith(check, voharvest)
    report = doc.entity(
        snap["validation-report"],
        {
            "prov:location": f"{MANIFEST}#validation",
            "voh:checks": str(validation.get("checks", "")),
            "voh:violations": len(validation.get("violations") or []),
        },
    )
    for files in table_files.values():
        for rel in files:
            if rel in file_entries:
                doc.used(check, snap[rel])
    doc.wasGeneratedBy(report, check)
    doc.used(publish, report)
    return doc


#: The PROV entity standing for all DataLink documents of a snapshot (``datalink/<collection>/<obs_id>.xml``).
DATALINK_COLLECTION = "datalink"
#: Up to this many DataLink documents each is a PROV entity of its own (every file of the manifest is then
#: an entity); above it, at archive scale (about 420,000 documents at 1 M obsplan rows: a 571 MB record
#: taking two minutes), they become the one collection entity :data:`DATALINK_COLLECTION`.
DATALINK_ENTITY_LIMIT = 10_000


def datalink_documents(file_entries: Mapping[str, Any]) -> frozenset[str]:
    """The per-dataset DataLink documents among a snapshot's files (their number grows with the rows).

    The PROV record describes them by one ``prov:Collection`` entity (:data:`DATALINK_COLLECTION`):
    one entity per document would make the record grow with the table rows (about 420,000 at 1 M
    obsplan rows), while the manifest already lists each document's size and SHA-256 and
    ``row_provenance`` ties each dataset to its raw responses. ``datalink/documents.csv`` stays a file
    entity of its own.

    Parameters
    ----------
    file_entries
        ``{relative path: {size, sha256}}`` (or any mapping or iterable keyed by relative path).

    Returns
    -------
    frozenset of str
        Paths ``datalink/.../*.xml``.
    """
    # the keys are already Python strings: two C string methods each, no pandas Index of 420,000 objects
    prefix = f"{DATALINK_COLLECTION}/"
    return frozenset(p for p in file_entries if (text := str(p)).startswith(prefix) and text.endswith(".xml"))


def document_entities(stage: Path, file_entries: Mapping[str, Any]) -> tuple[dict[str, Any], int, int]:
    """The files the PROV record describes one by one, and the DataLink documents it describes as one.

    The documents and their digests are read from the snapshot's index (``datalink/documents.csv``)
    when there is one, so callers pass the manifest's few dozen entries, not 420,000 (merging them
    in cost a second per record at a million rows); a snapshot without an index lists them among
    ``file_entries``.

    Parameters
    ----------
    stage
        The snapshot (or stage) directory.
    file_entries
        ``{relative path: {size, sha256}}``: the manifest's files (documents may be among them).

    Returns
    -------
    tuple
        Entries of the files that are entities of their own (sorted by path), and the number and total
        bytes of the documents made one collection entity (0 and 0 when there are at most
        :data:`DATALINK_ENTITY_LIMIT`: then each document is an entity, listed with the others).
    """
    from models.datalink import read_document_index

    index = read_document_index(stage)
    if index is None:
        documents = datalink_documents(file_entries)
        if len(documents) <= DATALINK_ENTITY_LIMIT:  # every file its own entity, as long as that stays readable
            return dict(file_entries), 0, 0
        listed = {rel: entry for rel, entry in file_entries.items() if rel not in documents}
        return listed, len(documents), total_size(file_entries, documents)
    names = index.column("document").to_pylist()
    indexed = frozenset(names)
    listed = {rel: entry for rel, entry in file_entries.items() if rel not in indexed}
    if len(names) > DATALINK_ENTITY_LIMIT:
        return listed, len(names), int(pc.sum(index.column("size")).as_py() or 0)
    sizes, digests = index.column("size").to_pylist(), index.column("sha256").to_pylist()
    listed.update((rel, {"size": n, "sha256": h}) for rel, n, h in zip(names, sizes, digests, strict=True))
    return dict(sorted(listed.items())), 0, 0


def total_size(file_entries: Mapping[str, Any], paths: Iterable[str], stage: Path | None = None) -> int:
    """Total bytes of ``paths`` as ``file_entries`` lists them (DataLink documents: hundreds of thousands).

    Summed in C when every listed size is an ``int`` (as in a manifest); otherwise one entry at a time,
    with a path not listed ``stat``-ed under ``stage`` (0 without one).

    Parameters
    ----------
    file_entries
        ``{relative path: {"size", ...}}`` (a manifest's ``files``).
    paths
        The files to add up.
    stage
        The snapshot or stage holding them, for files not listed.

    Returns
    -------
    int
        Their total size in bytes.
    """
    paths = list(paths)
    entries = list(map(file_entries.get, paths))
    try:
        total = sum(map(operator.itemgetter("size"), entries))
        if type(total) is int:  # noqa: E721 - only exact ints (a float or text falls through to the rule below)
            return total
    except (KeyError, TypeError):
        pass
    total = 0
    for rel, entry in zip(paths, entries, strict=True):  # a caller that did not list them all
        if isinstance(entry, Mapping) and "size" in entry:
            total += int(entry["size"])
        elif stage is not None:
            total += (Path(stage) / rel).stat().st_size
    return total


def _num(value: Any) -> Any:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else str(value)


def _table_files(manifest_document: Mapping[str, Any]) -> dict[str, list[str]]:
    tables = manifest_document.get("tables") or {}
    return {name: list(entry.get("files") or []) for name, entry in tables.items() if isinstance(entry, Mapping)}


def write_provenance(
    stage: Path, manifest_document: Mapping[str, Any], file_entries: Mapping[str, Mapping]
) -> list[str]:
    """Write the snapshot's provenance record (PROV-JSON, PROV-N, ProvenanceDM VOTable).

    Call it last before the manifest is written: every other file must already be in
    ``file_entries`` (the manifest then lists the provenance files too, with their digests).

    Parameters
    ----------
    stage
        The staged snapshot directory.
    manifest_document
        The manifest's content (see :func:`build_document`).
    file_entries
        ``{relative path: {size, sha256}}`` of the snapshot's files (``models.snapshot.file_entries``).

    Returns
    -------
    list of str
        The written files, relative to ``stage`` (:data:`PROV_FILES`).
    """
    stage = Path(stage)
    doc = build_document(stage, manifest_document, file_entries)
    folder = stage / "provenance"
    folder.mkdir(exist_ok=True)
    (stage / PROV_JSON).write_text(doc.serialize(format="json", indent=1) + "\n", encoding="utf-8")
    (stage / PROV_N).write_text(doc.get_provn() + "\n", encoding="utf-8")
    (stage / PROV_VOTABLE).write_bytes(prov_votable(doc))
    return list(PROV_FILES)


# -- ProvenanceDM VOTable serialization ----------------------------------------------------------
#: Tables of the tabular serialization and their columns (ProvenanceDM 1.0 classes and relations).
_VOT_TABLES: dict[str, tuple[str, ...]] = {
    "entity": ("id", "name", "location", "annotation"),
    "activity": ("id", "name", "startTime", "stopTime", "annotation"),
    "agent": ("id", "name", "type", "annotation"),
    "used": ("activity", "entity"),
    "wasGeneratedBy": ("entity", "activity", "time"),
    "wasDerivedFrom": ("generatedEntity", "usedEntity"),
    "wasAttributedTo": ("entity", "agent"),
    "wasAssociatedWith": ("activity", "agent"),
    "hadMember": ("collection", "entity"),
}
_REL_ROLES = {
    "used": ("prov:activity", "prov:entity"),
    "wasGeneratedBy": ("prov:entity", "prov:activity", "prov:time"),
    "wasDerivedFrom": ("prov:generatedEntity", "prov:usedEntity"),
    "wasAttributedTo": ("prov:entity", "prov:agent"),
    "wasAssociatedWith": ("prov:activity", "prov:agent"),
    "hadMember": ("prov:collection", "prov:entity"),
}


def _votable_rows(doc: Any) -> dict[str, list[tuple[str, ...]]]:
    """The PROV document's records as rows of :data:`_VOT_TABLES` (strings; '' for none)."""
    data = json.loads(doc.serialize(format="json"))
    prefixes = {**data.get("prefix", {})}

    def full(qname: Any) -> str:
        text = qname["$"] if isinstance(qname, dict) else str(qname)
        prefix, _, local = text.partition(":")
        return prefixes[prefix] + local if prefix in prefixes and local else text

    def value(v: Any) -> str:
        return str(v["$"]) if isinstance(v, dict) else str(v)

    out: dict[str, list[tuple[str, ...]]] = {name: [] for name in _VOT_TABLES}
    for ident, attrs in data.get("entity", {}).items():
        rest = {k: value(v) for k, v in attrs.items() if k not in ("prov:label", "prov:location")}
        out["entity"].append(
            (full(ident), value(attrs.get("prov:label", "")), value(attrs.get("prov:location", "")), _kv(rest))
        )
    for ident, attrs in data.get("activity", {}).items():
        rest = {k: value(v) for k, v in attrs.items() if k not in ("prov:label", "prov:startTime", "prov:endTime")}
        out["activity"].append(
            (
                full(ident),
                value(attrs.get("prov:label", "")),
                value(attrs.get("prov:startTime", "")),
                value(attrs.get("prov:endTime", "")),
                _kv(rest),
            )
        )
    for ident, attrs in data.get("agent", {}).items():
        rest = {k: value(v) for k, v in attrs.items() if k not in ("prov:label", "prov:type")}
        out["agent"].append(
            (full(ident), value(attrs.get("prov:label", "")), full(attrs.get("prov:type", "")), _kv(rest))
        )
    for relation, roles in _REL_ROLES.items():
        for attrs in data.get(relation, {}).values():
            out[relation].append(
                tuple((full(attrs[r]) if r != "prov:time" else value(attrs[r])) if r in attrs else "" for r in roles)
            )
    return out


def _kv(attrs: Mapping[str, str]) -> str:
    return "; ".join(f"{k}={v}" for k, v in attrs.items())


def prov_votable(doc: Any) -> bytes:
    """The PROV document as a VOTable with one TABLE per ProvenanceDM class and relation (TABLEDATA).

    The tabular form ProvTAP serves: classes and relations become tables whose columns carry the
    ProvenanceDM attribute names (``id``, ``name``, ``location``, ``startTime``/``stopTime``, ``type``;
    relation tables hold the identifiers they connect); other attributes go to ``annotation`` as
    ``key=value`` pairs. Identifiers are written as full URIs so the tables join on string equality.
    """
    from models.votable import VOTABLE_NS, VOTABLE_VERSION, xml_text

    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<VOTABLE version="{VOTABLE_VERSION}" xmlns="{VOTABLE_NS}" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">',
        '<RESOURCE type="results" name="provenance">',
        "<DESCRIPTION>IVOA ProvenanceDM (W3C PROV) record of a voharvest snapshot, one table per class</DESCRIPTION>",
    ]
    for name, rows in _votable_rows(doc).items():  # nine tables
        columns = _VOT_TABLES[name]
        lines.append(f'<TABLE name="{name}" nrows="{len(rows)}">')
        lines += [f'<FIELD name="{c}" datatype="unicodeChar" arraysize="*"/>' for c in columns]
        lines.append("<DATA><TABLEDATA>")
        lines += ["<TR>" + "".join(f"<TD>{xml_text(cell)}</TD>" for cell in row) + "</TR>" for row in rows]
        lines.append("</TABLEDATA></DATA>")
        lines.append("</TABLE>")
    lines += ["</RESOURCE>", "</VOTABLE>", ""]
    return "\n".join(lines).encode("utf-8")


# -- row-level provenance ------------------------------------------------------------------------
def dataset_ids(obsplan: pd.DataFrame, obscore: pd.DataFrame) -> pd.DataFrame:
    """Every published dataset once: ``obs_publisher_did, obs_collection, obs_id, x_tables``.

    ObsCore rows carry their ``obs_publisher_did``; ObsLocTAP rows get the same identifier from
    ``obs_collection`` and ``obs_id`` (:func:`models.identifiers.publisher_did`), so a performed
    observation in both tables is one dataset.
    """
    parts = []
    if len(obscore):
        parts.append(
            pd.DataFrame(
                {
                    "obs_publisher_did": obscore["obs_publisher_did"].astype(str).to_numpy(),
                    "obs_collection": obscore["obs_collection"].astype(str).to_numpy(),
                    "obs_id": obscore["obs_id"].astype(str).to_numpy(),
                    "table": "obscore",
                }
            )
        )
    if len(obsplan):
        plan = obsplan.reset_index(drop=True)
        parts.append(
            pd.DataFrame(
                {
                    "obs_publisher_did": publisher_did(plan["obs_collection"], plan["obs_id"].astype(str)).to_numpy(),
                    "obs_collection": plan["obs_collection"].astype(str).to_numpy(),
                    "obs_id": plan["obs_id"].astype(str).to_numpy(),
                    "table": "obsplan",
                }
            )
        )
    if not parts:
        return pd.DataFrame(columns=["obs_publisher_did", "obs_collection", "obs_id", "x_tables"])
    both = pd.concat(parts, ignore_index=True)
    flags = both.assign(core=both["table"] == "obscore", plan=both["table"] == "obsplan")
    seen = flags.groupby("obs_publisher_did", sort=False)[["core", "plan"]].any()
    names = pd.Series(
        np.select([seen["core"] & seen["plan"], seen["core"]], ["obscore,obsplan", "obscore"], default="obsplan"),
        index=seen.index,
    )
    first = both.drop_duplicates("obs_publisher_did").drop(columns="table")
    return first.assign(x_tables=first["obs_publisher_did"].map(names)).reset_index(drop=True)


def row_provenance(
    obsplan: pd.DataFrame,
    obscore: pd.DataFrame,
    manifest_document: Mapping[str, Any],
    previous: pd.DataFrame | None = None,
    history: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The ``voharvest.row_provenance`` frame of a snapshot (pure: frames and manifest facts in, frame out).

    Parameters
    ----------
    obsplan, obscore
        The snapshot's ``ivoa.obsplan`` and ``ivoa.obscore`` frames.
    manifest_document
        The manifest's content: ``snapshot``, ``code_version`` and ``sources`` (per source
        ``obs_collections``, ``responses`` and, for a source not harvested this time,
        ``carried_over_from``).
    previous
        The previous snapshot's ``row_provenance`` frame, for ``x_first_seen`` and for the rows of
        carried-over sources (their raw bytes are in the snapshot that fetched them).
    history
        The snapshot's ``voharvest.obsplan_history`` frame: its ``x_source`` names the source of each
        ObsLocTAP collection (the manifest's ``obs_collections`` name only ObsCore collections a
        source produced itself). ObsCore rows made from ObsLocTAP rows (performed X-ray
        observations) share their collection and so their source.

    Returns
    -------
    pandas.DataFrame
        One row per dataset and raw response of its source (``ROW_PROVENANCE`` columns), sorted by
        ``obs_publisher_did`` and ``x_request``. A dataset whose collection no source claims, or a
        carried-over one without previous rows, is left out (its origin is not known).

    Notes
    -----
    The rows are built with Arrow kernels on the identifier columns (hash look-ups, one repeat per
    response, one stable sort): a million datasets take about a second, where pandas merges and
    group-bys on text keys took several. Inputs outside that path's assumptions (a carried-over
    source, NULL or repeated identifiers, text columns that are not text) take the pandas rule
    (:func:`_row_provenance_reference`), which gives the same rows.
    """
    fast = _row_provenance_arrow(obsplan, obscore, manifest_document, previous, history)
    if fast is not None:
        return fast
    return _row_provenance_reference(obsplan, obscore, manifest_document, previous, history)


#: Column order of :func:`row_provenance`'s frame.
_ROW_COLUMNS = (
    "obs_publisher_did", "obs_collection", "obs_id", "x_tables", "x_source", "x_request", "x_request_key",
    "x_url", "x_raw_sha256", "x_fetched_at", "x_attribution", "x_parser", "x_fetch_snapshot",
    "x_first_seen", "x_last_seen",
)  # fmt: skip


def _repeat(text: str, n: int) -> pa.Array:
    """``n`` times the same text as an Arrow ``large_string`` array (no Python object per row)."""
    return pa.array([text], pa.large_string()).take(pa.array(np.zeros(n, dtype=np.int64)))


def _row_provenance_arrow(
    obsplan: pd.DataFrame,
    obscore: pd.DataFrame,
    manifest_document: Mapping[str, Any],
    previous: pd.DataFrame | None,
    history: pd.DataFrame | None,
) -> pd.DataFrame | None:
    """:func:`row_provenance` with Arrow kernels; ``None`` when the inputs need the pandas rule."""
    from models.arrow import text_array, to_frame

    sources: Mapping[str, Mapping[str, Any]] = manifest_document.get("sources") or {}
    if any(meta.get("carried_over_from") for meta in sources.values()):
        return None
    date = str(manifest_document["snapshot"])
    version = str(manifest_document.get("code_version", "0+unknown"))
    string = pa.large_string()

    # every dataset once: ObsCore rows first (their own identifier), then ObsLocTAP rows not among them
    core = {c: text_array(obscore[c]) if len(obscore) else pa.array([], string) for c in _DATASET_COLUMNS}
    plan_coll = text_array(obsplan["obs_collection"]) if len(obsplan) else pa.array([], string)
    plan_id = text_array(obsplan["obs_id"]) if len(obsplan) else pa.array([], string)
    if any(v is None for v in (*core.values(), plan_coll, plan_id)):
        return None
    base = pa.scalar(f"ivo://{authority()}/", string)
    plan_did = pc.binary_join_element_wise(
        pc.binary_join_element_wise(base, plan_coll, pa.scalar("", string)), plan_id, pa.scalar("?", string)
    )
    core_did = core["obs_publisher_did"]
    if len(pc.unique(core_did)) != len(core_did) or len(pc.unique(plan_did)) != len(plan_did):
        return None
    in_plan = pc.is_in(core_did, value_set=plan_did)
    plan_only = pc.invert(pc.is_in(plan_did, value_set=core_did))
    did = pa.concat_arrays([core_did, plan_did.filter(plan_only)])
    coll = pa.concat_arrays([core["obs_collection"], plan_coll.filter(plan_only)])
    obs_id = pa.concat_arrays([core["obs_id"], plan_id.filter(plan_only)])
    tables = pa.concat_arrays(
        [
            pc.if_else(in_plan, pa.scalar("obscore,obsplan", string), pa.scalar("obscore", string)),
            _repeat("obsplan", len(did) - len(core_did)),
        ]
    )

    # the source of each collection: the manifest's claims first, then the history's (first pair wins)
    owner: dict[str, str] = {}
    for name, meta in sources.items():  # a handful of sources and collections
        for c in meta.get("obs_collections") or []:
            owner.setdefault(str(c), name)
    if history is not None and len(history):
        h_coll, h_src = text_array(history["obs_collection"]), text_array(history["x_source"])
        if h_coll is None or h_src is None:
            return None
        mine = pc.is_in(h_src, value_set=pa.array(list(sources), string))
        h_coll, h_src = h_coll.filter(mine), h_src.filter(mine)
        for c in pc.unique(h_coll).to_pylist():  # distinct collections: a handful
            if c not in owner:
                owner[c] = h_src[pc.index(h_coll, c).as_py()].as_py()

    # one row per dataset and response of its source, in dataset order then response order
    responses = raw_responses(manifest_document)
    responses = responses[responses["sha256"].notna()].reset_index(drop=True)
    link_columns = {
        "x_request": responses["name"],
        "x_request_key": responses["key"],
        "x_url": responses["url"],
        "x_raw_sha256": responses["sha256"],
        "x_fetched_at": responses["fetched_at"],
    }
    counts = responses.groupby("source")["key"].transform("size").to_numpy()
    link_columns["x_attribution"] = pd.Series(np.where(counts == 1, "request", "source"), dtype=object)
    modules = parser_modules(sources)
    link_columns["x_parser"] = responses["source"].map(modules).fillna("") + " " + version
    links = {
        k: text_array(v.astype(object), nulls=True) if len(v) else pa.array([], string) for k, v in link_columns.items()
    }
    if any(v is None for v in links.values()):
        return None
    link_source = responses["source"].astype(str).to_numpy()
    names = list(dict.fromkeys(owner.values()))
    per_source = []
    for name in names:  # a handful: each source's responses by request name (stable: ties in response order)
        mine = np.flatnonzero(link_source == name)
        if len(mine) > 1:
            by_name = pc.array_sort_indices(links["x_request"].take(pa.array(mine)), null_placement="at_end")
            mine = mine[np.asarray(by_name.to_numpy(), dtype=np.int64)]
        per_source.append(mine)
    flat = np.concatenate([np.zeros(0, dtype=np.int64), *per_source]).astype(np.int64)
    start = np.cumsum([0] + [len(p) for p in per_source])[:-1].astype(np.int64)
    size = np.array([len(p) for p in per_source], dtype=np.int64)
    colls = list(owner)
    code = pc.index_in(coll, value_set=pa.array(colls, string))
    source_code = np.array([names.index(owner[c]) for c in colls], dtype=np.int64)
    found = np.asarray(pc.fill_null(code, -1).to_numpy(zero_copy_only=False), dtype=np.int64)
    ds_source = np.where(found >= 0, source_code[np.maximum(found, 0)] if len(source_code) else -1, -1)
    # datasets in identifier order (unique identifiers), each expanded into its source's responses in
    # request order: the rows come out sorted by (obs_publisher_did, x_request), nothing to sort afterwards
    order = np.asarray(pc.array_sort_indices(did).to_numpy(), dtype=np.int64)
    order = order[ds_source[order] >= 0]
    m = size[ds_source[order]] if len(order) else np.zeros(0, dtype=np.int64)
    rows = np.repeat(order, m)
    within = np.arange(len(rows), dtype=np.int64) - np.repeat(np.cumsum(m) - m, m)
    link = flat[start[ds_source[rows]] + within] if len(rows) else np.zeros(0, dtype=np.int64)
    take_rows, take_link = pa.array(rows, pa.int64()), pa.array(link, pa.int64())
    source_names = pa.array(names, string)
    columns: dict[str, pa.Array] = {
        "obs_publisher_did": did.take(take_rows),
        "obs_collection": coll.take(take_rows),
        "obs_id": obs_id.take(take_rows),
        "x_tables": tables.take(take_rows),
        "x_source": source_names.take(pa.array(ds_source[rows], pa.int64())),
        **{k: v.take(take_link) for k, v in links.items()},
        "x_fetch_snapshot": _repeat(date, len(rows)),
    }
    first_seen = _repeat(date, len(rows))
    if previous is not None and len(previous):
        p_did, p_first = text_array(previous["obs_publisher_did"]), text_array(previous["x_first_seen"])
        if p_did is None or p_first is None:
            return None
        first_seen = _first_seen(columns["obs_publisher_did"], p_did, p_first, date)
    columns["x_first_seen"] = first_seen
    columns["x_last_seen"] = _repeat(date, len(rows))
    return to_frame(pa.table({c: columns[c] for c in _ROW_COLUMNS}))


def _first_seen(did: pa.Array, previous_did: pa.Array, previous_first: pa.Array, date: str) -> pa.Array:
    """Earliest ``x_first_seen`` of each identifier in the previous rows (``date`` for a new one).

    The previous snapshot's table is sorted by identifier and its rows of one dataset share their first
    sighting (checked: adjacent rows); then the first row of each identifier holds the minimum and one
    hash look-up finds it. Otherwise the minimum is taken per identifier by a group-by.
    """
    string = pa.large_string()
    n = len(previous_did)
    constant_runs = n < 2 or (
        pc.all(pc.less_equal(previous_did[:-1], previous_did[1:])).as_py()
        and not pc.any(
            pc.and_(
                pc.equal(previous_did[:-1], previous_did[1:]), pc.not_equal(previous_first[:-1], previous_first[1:])
            )
        ).as_py()
    )
    same_rows = (
        constant_runs
        and len(did) == n
        and not (previous_did.null_count or previous_first.null_count or did.null_count)
        and (n == 0 or pc.all(pc.equal(did, previous_did)).as_py())
    )
    if same_rows:
        # the same datasets as the previous snapshot, row for row (a day that changed rows but added or
        # removed no dataset): each row's first sighting is the previous row's, no hash table of a million
        return pc.fill_null(previous_first, pa.scalar(date, string))
    if constant_runs:
        at = pc.index_in(did, value_set=previous_did)  # the first row of each identifier
        return pc.fill_null(previous_first.take(at), pa.scalar(date, string))
    seen = pa.table({"d": previous_did, "f": previous_first}).group_by("d", use_threads=False).aggregate([("f", "min")])
    at = pc.index_in(did, value_set=seen["d"])
    return pc.fill_null(seen["f_min"].take(at), pa.scalar(date, string)).combine_chunks()


_DATASET_COLUMNS = ("obs_publisher_did", "obs_collection", "obs_id")


def _row_provenance_reference(
    obsplan: pd.DataFrame,
    obscore: pd.DataFrame,
    manifest_document: Mapping[str, Any],
    previous: pd.DataFrame | None = None,
    history: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """:func:`row_provenance` with pandas merges and group-bys, for every input (the rule, spelled out).

    Used where :func:`_row_provenance_arrow` declines (a carried-over source, NULL or repeated
    identifiers); the tests check that both give the same rows. Parameters and result: those of
    :func:`row_provenance`.
    """
    date = str(manifest_document["snapshot"])
    version = str(manifest_document.get("code_version", "0+unknown"))
    sources: Mapping[str, Mapping[str, Any]] = manifest_document.get("sources") or {}
    modules = parser_modules(sources)
    datasets = dataset_ids(obsplan, obscore)
    owner = pd.DataFrame(
        [(c, name) for name, meta in sources.items() for c in meta.get("obs_collections") or []],
        columns=["obs_collection", "x_source"],
    )
    if history is not None and len(history):
        pairs = history[["obs_collection", "x_source"]].astype(str).drop_duplicates()
        owner = pd.concat([owner, pairs[pairs["x_source"].isin(list(sources))]], ignore_index=True)
    owner = owner.drop_duplicates("obs_collection")
    datasets = datasets.merge(owner, on="obs_collection", how="inner")
    carried = {name for name, meta in sources.items() if meta.get("carried_over_from")}

    responses = raw_responses(manifest_document)
    responses = responses[responses["sha256"].notna()]
    counts = responses.groupby("source")["key"].transform("size")
    links = pd.DataFrame(
        {
            "x_source": responses["source"],
            "x_request": responses["name"],
            "x_request_key": responses["key"],
            "x_url": responses["url"],
            "x_raw_sha256": responses["sha256"],
            "x_fetched_at": responses["fetched_at"],
            "x_attribution": np.where(counts.to_numpy() == 1, "request", "source"),
            "x_parser": responses["source"].map(modules).fillna("") + " " + version,
            "x_fetch_snapshot": date,
        }
    )
    fresh = datasets[~datasets["x_source"].isin(carried)].merge(links, on="x_source", how="inner")
    parts = [fresh]
    if previous is not None and len(previous) and carried:
        old = datasets[datasets["x_source"].isin(carried)][["obs_publisher_did", "x_tables"]]
        kept = previous.drop(columns=["x_tables"]).merge(old, on="obs_publisher_did", how="inner")
        parts.append(kept[[c for c in fresh.columns if c in kept.columns]])
    out = pd.concat(parts, ignore_index=True)
    first_seen = pd.Series(date, index=out.index, dtype=object)
    if previous is not None and len(previous):
        seen = previous.groupby("obs_publisher_did")["x_first_seen"].min()
        first_seen = out["obs_publisher_did"].map(seen).fillna(date).astype(object)
    out = out.assign(x_first_seen=first_seen, x_last_seen=date)
    order = [
        "obs_publisher_did", "obs_collection", "obs_id", "x_tables", "x_source", "x_request", "x_request_key",
        "x_url", "x_raw_sha256", "x_fetched_at", "x_attribution", "x_parser", "x_fetch_snapshot",
        "x_first_seen", "x_last_seen",
    ]  # fmt: skip
    return out[order].sort_values(["obs_publisher_did", "x_request"], kind="stable").reset_index(drop=True)


# -- following a row back to its bytes -----------------------------------------------------------
#: The row-provenance table's Parquet file in a snapshot.
ROW_PROVENANCE_FILE = "row_provenance.parquet"


def derive_row_provenance(snapshot_dir: Path) -> pd.DataFrame:
    """:func:`row_provenance` of a published snapshot, from its own tables and manifest.

    For snapshots written before ``row_provenance.parquet`` existed; ``x_first_seen`` is then this
    snapshot (earlier snapshots are not read).
    """
    import pyarrow.parquet as pq

    snapshot_dir = Path(snapshot_dir)
    manifest = json.loads((snapshot_dir / MANIFEST).read_text())

    def table(name: str) -> pd.DataFrame | None:
        if name == "obsplan_history":  # parts under history/ (or the single file of older snapshots)
            from models.history_store import history_files, read_history

            return read_history(snapshot_dir).to_pandas() if history_files(snapshot_dir) else None
        path = snapshot_dir / f"{name}.parquet"
        return pq.read_table(path).to_pandas() if path.is_file() else None

    from models.arrow import to_frame
    from models.history_store import read_history  # history parts, or the single file of older snapshots

    empty = pd.DataFrame(columns=["obs_collection", "obs_id", "obs_publisher_did"])
    obsplan, obscore = table("obsplan"), table("obscore")
    history = read_history(snapshot_dir, manifest=manifest)
    return row_provenance(
        empty if obsplan is None else obsplan,
        empty if obscore is None else obscore,
        manifest,
        history=to_frame(history) if history.num_rows else None,
    )


def provenance_chain(snapshot_dir: Path, did: str, *, output_root: Path | None = None) -> dict[str, Any]:
    """The chain from one dataset of a snapshot back to the raw bytes it was derived from.

    Parameters
    ----------
    snapshot_dir
        A published snapshot (holding ``row_provenance.parquet`` and ``manifest.json``).
    did
        The dataset's ``obs_publisher_did``.
    output_root
        Where the snapshot of a carried-over source's fetch lives (``snapshots/<date>``); by default
        the directory holding ``snapshot_dir``.

    Returns
    -------
    dict
        ``dataset`` (did, collection, obs_id, tables, source, first/last seen), ``snapshot``,
        ``code_version`` and ``responses``: per raw response its request, URL, fetch time, SHA-256,
        parser, archive record and blob paths, and whether the blob's bytes match their SHA-256
        (``verified``).

    Raises
    ------
    KeyError
        ``did`` is not in the snapshot's row provenance.
    """
    import hashlib

    import pyarrow.parquet as pq

    snapshot_dir = Path(snapshot_dir)
    manifest = json.loads((snapshot_dir / MANIFEST).read_text())
    path = snapshot_dir / ROW_PROVENANCE_FILE
    if path.is_file():
        rows = pq.read_table(path, filters=[("obs_publisher_did", "=", did)]).to_pandas()
    else:  # a snapshot written before the table existed: derive it from the same facts
        rows = derive_row_provenance(snapshot_dir)
        rows = rows[rows["obs_publisher_did"] == did]
    if rows.empty:
        raise KeyError(f"{did} is not a dataset of snapshot {snapshot_dir}")
    first = rows.iloc[0]
    root = Path(output_root) if output_root is not None else snapshot_dir.parent
    responses = []
    for row in rows.itertuples(index=False):  # the responses of one dataset
        home = snapshot_dir if row.x_fetch_snapshot == manifest.get("snapshot") else root / str(row.x_fetch_snapshot)
        blob = home / "raw" / "blobs" / row.x_raw_sha256[:2] / row.x_raw_sha256
        verified = blob.is_file() and hashlib.sha256(blob.read_bytes()).hexdigest() == row.x_raw_sha256
        responses.append(
            {
                "request": row.x_request,
                "url": row.x_url,
                "fetched_at": None if pd.isna(row.x_fetched_at) else pd.Timestamp(row.x_fetched_at).isoformat(),
                "sha256": row.x_raw_sha256,
                "attribution": row.x_attribution,
                "parser": row.x_parser,
                "fetch_snapshot": row.x_fetch_snapshot,
                "record": str(home / "raw" / "records" / f"{row.x_request_key}.json"),
                "blob": str(blob),
                "verified": bool(verified),
            }
        )
    return {
        "dataset": {
            "obs_publisher_did": did,
            "obs_collection": first.obs_collection,
            "obs_id": first.obs_id,
            "tables": first.x_tables,
            "source": first.x_source,
            "first_seen": first.x_first_seen,
            "last_seen": first.x_last_seen,
        },
        "snapshot": manifest.get("snapshot"),
        "code_version": manifest.get("code_version"),
        "provenance_record": [p for p in PROV_FILES if p in manifest.get("files", {})],
        "responses": responses,
    }


def read_previous_row_provenance(
    previous: Path | None, sources: Mapping[str, Mapping[str, Any]]
) -> pd.DataFrame | None:
    """What :func:`row_provenance` needs of the previous snapshot's ``row_provenance`` table, or ``None``.

    Only ``obs_publisher_did`` and ``x_first_seen`` (for the first-seen time of each dataset), unless a
    source is carried over: its rows are then copied whole from the previous table. Reading two of the
    table's columns instead of all of them saves most of a million-row table's time and memory.

    Parameters
    ----------
    previous
        The previous published snapshot, or ``None``.
    sources
        This snapshot's ``sources`` facts (a source not harvested this time has ``carried_over_from``).

    Returns
    -------
    pandas.DataFrame or None
        The previous rows (``None`` without a previous snapshot or table).
    """
    import pyarrow.parquet as pq

    from models.arrow import to_frame

    path = None if previous is None else Path(previous) / ROW_PROVENANCE_FILE
    if path is None or not path.is_file():
        return None
    carried = any(meta.get("carried_over_from") for meta in sources.values())
    return to_frame(pq.read_table(path, columns=None if carried else ["obs_publisher_did", "x_first_seen"]))
