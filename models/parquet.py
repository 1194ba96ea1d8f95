"""Parquet snapshots with VOParquet metadata (IVOA Note VOParquet 1.0, as astropy reads it).

The file carries the spec twice over, for two kinds of readers: Arrow field metadata (unit, ucd,
utype, description) for plain Parquet tools, and a FIELD-only VOTable document for VO readers
(``Table.read(path, format="parquet.votable")``). The FIELDs come from :mod:`models.votable`, so
VOTable and Parquet snapshots cannot disagree about a column.
"""

from __future__ import annotations

import os

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from astropy.table import MaskedColumn, Table

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


def read_astropy(path: str | os.PathLike[str]) -> Table:
    """A snapshot Parquet file as an astropy Table: masked NULLs, units, UCDs, utypes, descriptions.

    astropy 8's own Parquet readers lose NULLs (``"None"`` strings, NaN integers) and its
    ``parquet.votable`` reader cannot merge variable-length string FIELDs, so researchers get this
    reader; the metadata comes from the Arrow fields written by :func:`write_parquet`.
    """
    table = pq.read_table(path)
    out = Table(
        meta={k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items() if k.startswith(b"ivoa.")}
    )
    for field, column in zip(table.schema, table.columns, strict=True):
        meta = {k.decode(): v.decode() for k, v in (field.metadata or {}).items()}
        mask = column.is_null().to_numpy(zero_copy_only=False)
        if pa.types.is_string(field.type) or pa.types.is_timestamp(field.type):
            text = (
                column.cast(pa.string()) if pa.types.is_string(field.type) else pc.strftime(column, "%Y-%m-%dT%H:%M:%S")
            )
            values = text.fill_null("").to_numpy(zero_copy_only=False).astype(str)
        else:
            values = column.fill_null(0).to_numpy(zero_copy_only=False)
        out[field.name] = MaskedColumn(
            values,
            mask=mask,
            unit=meta.get("unit") or None,
            description=meta.get("description"),
            meta={k: meta[k] for k in ("ucd", "utype", "xtype") if meta.get(k)},
        )
    return out
