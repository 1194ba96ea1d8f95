"""Parquet snapshots with VOParquet metadata (IVOA Note VOParquet 1.0, as astropy reads it).

The file carries the spec twice over, for two kinds of readers: Arrow field metadata (unit, ucd,
utype, description) for plain Parquet tools, and a FIELD-only VOTable document for VO readers
(``Table.read(path, format="parquet.votable")``). The FIELDs come from :mod:`models.votable`, so
VOTable and Parquet snapshots cannot disagree about a column.
"""

from __future__ import annotations

import os

import pyarrow as pa
import pyarrow.parquet as pq

from models.arrow import arrow_schema
from models.columns import TableSpec
from models.votable import atomic_path, check_table, document_head, document_tail

VOPARQUET_VERSION = b"1.0"
_VERSION_KEY = b"IVOA.VOTable-Parquet.version"
_CONTENT_KEY = b"IVOA.VOTable-Parquet.content"


def voparquet_content(spec: TableSpec) -> bytes:
    """The VOTable document stored in the Parquet footer: FIELDs, no DATA, a ``PARQUET`` marker."""
    head = document_head(spec, nrows=None, query_status=False)
    return (head + '<PARQUET type="Parquet-local-XML"/>\n' + document_tail()).encode("utf-8")


def write_parquet(table: pa.Table, spec: TableSpec, path: str | os.PathLike[str]) -> None:
    """Write ``table`` (conformed to ``spec``) as zstd Parquet with VO metadata; same input, same bytes."""
    check_table(table, spec)
    schema = arrow_schema(spec)
    metadata = {
        **(schema.metadata or {}),
        _VERSION_KEY: VOPARQUET_VERSION,
        _CONTENT_KEY: voparquet_content(spec),
    }
    out = pa.Table.from_arrays(table.columns, schema=schema.with_metadata(metadata))
    with atomic_path(path) as tmp:
        pq.write_table(out, tmp, compression="zstd")


def read_parquet(path: str | os.PathLike[str]) -> pa.Table:
    """Read a snapshot written by :func:`write_parquet` (field and file metadata included)."""
    return pq.read_table(path)
