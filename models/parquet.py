"""Parquet snapshots with VOParquet metadata (IVOA Note VOParquet 1.0, as astropy reads it).

The file carries the spec three times over, for three kinds of readers, and none of them needs voharvest:

* Arrow field metadata (unit, ucd, utype, description) for plain Parquet tools (pyarrow, pandas,
  DuckDB's ``parquet_kv_metadata``/``parquet_schema``);
* a FIELD-only VOTable document for VO readers (``Table.read(path, format="parquet.votable")``).
  The FIELDs come from :mod:`models.votable`, so VOTable and Parquet snapshots cannot disagree;
* astropy's own Parquet header (``table_meta_yaml`` and ``table::len::<column>``), so that plain
  ``astropy.table.Table.read("obsplan.parquet")`` works and gives units, descriptions, UCDs and
  utypes. Without ``table::len::`` astropy 8 computes the longest string itself, calling ``len()``
  on every value, and fails on the first NULL (``TypeError: object of type 'NoneType' has no len()``).

What astropy's Parquet reader cannot do, whatever the file says: mask NULLs. It reads a NULL
double as NaN, an integer column holding NULLs as float64 with NaN, a NULL string as the text
``"None"`` (cut to the column's width). The VOTable files (``.vot``) give astropy masked NULLs, and
:func:`read_astropy` does for Parquet.
"""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from astropy.table import Column as AstropyColumn
from astropy.table import MaskedColumn, Table
from astropy.table.meta import get_yaml_from_table

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


def _numpy_dtype(field: pa.Field) -> np.dtype:
    """The numpy dtype astropy's Parquet reader gives a column (strings: ``U1`` stands for any width)."""
    if pa.types.is_string(field.type) or pa.types.is_large_string(field.type):
        return np.dtype("U1")
    if pa.types.is_timestamp(field.type):
        return np.dtype(f"datetime64[{field.type.unit}]")
    return np.dtype(field.type.to_pandas_dtype())


def astropy_metadata(table: pa.Table, spec: TableSpec) -> dict[bytes, bytes]:
    """Astropy's Parquet header for ``table``: ``table_meta_yaml`` and ``table::len::<string column>``.

    The YAML is astropy's own serialisation (:func:`astropy.table.meta.get_yaml_from_table`) of an
    empty table carrying the spec's units, descriptions, UCDs, utypes and xtypes, as astropy's
    Parquet writer would store it. String widths are the longest value in characters (at least 1).
    """
    # the TABLE name and description of the VOParquet content: the same values, so that astropy's
    # parquet.votable reader merges the two headers without a conflict warning
    out = Table(meta={"name": spec.name, "description": spec.description} | _utype(spec))
    for field, column in zip(arrow_schema(spec), spec.columns, strict=True):
        meta = {k: v for k, v in (("ucd", column.ucd), ("utype", column.utype), ("xtype", column.votable_xtype)) if v}
        out[field.name] = AstropyColumn(
            np.zeros(0, dtype=_numpy_dtype(field)),
            unit=column.unit or None,
            description=column.description or None,
            meta=meta,
        )
    metadata = {b"table_meta_yaml": "\n".join(get_yaml_from_table(out)).encode("utf-8")}
    for field in table.schema:
        if pa.types.is_string(field.type) or pa.types.is_large_string(field.type):
            longest = pc.max(pc.utf8_length(table.column(field.name))).as_py() if table.num_rows else None
            metadata[f"table::len::{field.name}".encode()] = str(max(longest or 0, 1)).encode()
    return metadata


def _utype(spec: TableSpec) -> dict[str, str]:
    return {"utype": spec.utype} if spec.utype else {}


def write_parquet(table: pa.Table, spec: TableSpec, path: str | os.PathLike[str]) -> None:
    """Write ``table`` (conformed to ``spec``) as zstd Parquet with VO metadata; same input, same bytes."""
    check_table(table, spec)
    schema = arrow_schema(spec)
    metadata = {
        **(schema.metadata or {}),
        _VERSION_KEY: VOPARQUET_VERSION,
        _CONTENT_KEY: voparquet_content(spec),
        **astropy_metadata(table, spec),
    }
    out = pa.Table.from_arrays(table.columns, schema=schema.with_metadata(metadata))
    with atomic_path(path) as tmp:
        pq.write_table(out, tmp, compression="zstd")


def read_parquet(path: str | os.PathLike[str]) -> pa.Table:
    """Read a snapshot written by :func:`write_parquet` (field and file metadata included)."""
    return pq.read_table(path)


def read_astropy(path: str | os.PathLike[str]) -> Table:
    """A snapshot Parquet file as an astropy Table: masked NULLs, units, UCDs, utypes, descriptions.

    astropy 8's own Parquet reader (``Table.read(path)``) reads these files with their units and
    descriptions but cannot mask NULLs (``"None"`` strings, NaN integers); this reader masks them,
    taking the metadata from the Arrow fields written by :func:`write_parquet`.
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
