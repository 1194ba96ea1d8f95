"""pyarrow schemas generated from the specs, and conformance of frames to them.

Arrow is the in-memory interchange of voharvest: every writer takes a table conformed here, so a
column's type is decided once (from the spec), never inferred from the data.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa

from models.columns import Column, TableSpec

_ARROW_TYPES: dict[str, pa.DataType] = {
    "double": pa.float64(),
    "int": pa.int32(),
    "long": pa.int64(),
    "char": pa.string(),
    "unicodeChar": pa.string(),
    "region": pa.string(),
    "moc": pa.string(),
    "timestamp": pa.timestamp("us", tz="UTC"),
}


def arrow_type(column: Column) -> pa.DataType:
    """The Arrow type of a column."""
    return _ARROW_TYPES[column.datatype]


def field_metadata(column: Column) -> dict[bytes, bytes]:
    """VO metadata kept on the Arrow field (and so in Parquet) for readers that ignore VOTable."""
    meta = {
        "unit": column.unit,
        "ucd": column.ucd,
        "utype": column.utype,
        "description": column.description,
        "xtype": column.votable_xtype or "",
        "null_rule": column.null_rule,
    }
    return {k.encode(): v.encode() for k, v in meta.items() if v}


def arrow_schema(spec: TableSpec) -> pa.Schema:
    """The Arrow schema of a table, nullability from the spec's null rules."""
    fields = [
        pa.field(
            c.name,
            arrow_type(c),
            nullable=c.null_rule != "not-null",
            metadata=field_metadata(c),
        )
        for c in spec.columns
    ]
    meta = {"ivoa.table": spec.qualified_name, "ivoa.utype": spec.utype}
    return pa.schema(fields, metadata={k: v for k, v in meta.items() if v})


def _to_arrow_array(values: pd.Series, column: Column) -> pa.Array:
    target = arrow_type(column)
    if column.datatype == "timestamp":
        ts = pd.to_datetime(values, utc=True)
        return pa.array(ts, type=target, from_pandas=True)
    if column.is_string:
        return string_array(values, target)
    if pa.types.is_integer(target):
        numeric = pd.to_numeric(values, errors="raise")
        if numeric.isna().any():
            mask = numeric.isna().to_numpy()
            filled = numeric.fillna(0).to_numpy().astype(np.int64)
            return pa.array(filled, mask=mask).cast(target)
        return pa.array(numeric.to_numpy().astype(np.int64)).cast(target)
    numeric = pd.to_numeric(values, errors="raise").astype("float64")
    return pa.array(numeric.to_numpy(), type=target, from_pandas=True)


def string_array(values: pd.Series, kind: pa.DataType | None = None) -> pa.Array | pa.ChunkedArray:
    """A column as a ``char`` column is published: strings exactly as given, NaN/None/NA as NULL.

    Never the text "nan". Straight from the column's buffers (pyarrow-backed strings) or object array:
    no Python list of a million strings, except for mixed objects Arrow cannot read as one type.

    Parameters
    ----------
    values
        The column.
    kind
        Arrow string type (default ``string``).

    Returns
    -------
    pyarrow.Array or pyarrow.ChunkedArray
        As Arrow reads the column (:func:`contiguous` makes one array of it).
    """
    kind = pa.string() if kind is None else kind
    try:
        return pa.array(values, type=kind, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        obj = values.astype(object).where(values.notna(), None)
        return pa.array(obj.tolist(), type=kind, from_pandas=True)


def conform(frame: pd.DataFrame, spec: TableSpec) -> pa.Table:
    """Cast ``frame`` to ``spec``'s Arrow schema, in spec column order.

    Missing optional or nullable columns become all-null; columns not in the spec are dropped
    (source-specific ``x_*`` columns stay in the source frames). A missing not-null column is an
    error, because filling it would publish an invented value. Every column is one contiguous array,
    so equal rows give equal files.
    """
    n = len(frame)
    arrays = []
    for column in spec.columns:
        if column.name in frame.columns:
            # one chunk per column, whatever pandas held: the Parquet writer cuts row groups at chunk
            # boundaries, so the same rows always give the same bytes (and the same content hash)
            arrays.append(contiguous(_to_arrow_array(frame[column.name], column)))
        elif column.null_rule == "not-null":
            raise KeyError(f"{spec.qualified_name}: required column {column.name!r} missing")
        else:
            arrays.append(pa.nulls(n, type=arrow_type(column)))
    return pa.Table.from_arrays(arrays, schema=arrow_schema(spec))


def empty_frame(spec: TableSpec) -> pd.DataFrame:
    """A zero-row frame with the spec's columns and pandas dtypes."""
    return arrow_schema(spec).empty_table().to_pandas()


def to_frame(table: pa.Table) -> pd.DataFrame:
    """Arrow table to pandas with nullable integer columns kept as integers."""
    return table.to_pandas(types_mapper={pa.int32(): pd.Int32Dtype(), pa.int64(): pd.Int64Dtype()}.get)


def spec_json(spec: TableSpec) -> str:
    """The spec as JSON (for manifests and the Dagster UI)."""
    return json.dumps(
        {
            "table": spec.qualified_name,
            "utype": spec.utype,
            "columns": [
                {"name": c.name, "datatype": c.datatype, "unit": c.unit, "ucd": c.ucd, "utype": c.utype}
                for c in spec.columns
            ],
        },
        indent=1,
    )


def contiguous(array: pa.Array | pa.ChunkedArray) -> pa.Array:
    """One Arrow array: the chunks of a chunked array joined (a single chunk taken as it is, no copy)."""
    if isinstance(array, pa.ChunkedArray):
        return array.combine_chunks() if array.num_chunks != 1 else array.chunk(0)
    return array


def column_array(values: object) -> pa.Array | None:
    """A pandas column (or any sequence) as one Arrow array, or ``None`` when Arrow cannot read it as one type."""
    try:
        return contiguous(pa.array(values, from_pandas=True))
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None


def text_array(values: object, *, nulls: bool = False) -> pa.Array | None:
    """A column as one Arrow ``large_string`` array, for vectorised text work without a Python object per row.

    Parameters
    ----------
    values
        A pandas Series, Arrow array or sequence.
    nulls
        Accept NULLs (an all-NULL column gives an all-NULL text array).

    Returns
    -------
    pyarrow.Array or None
        ``None`` when the values are not text, or hold NULLs and ``nulls`` is false: the caller then takes
        its general path.
    """
    arr = column_array(values)
    if arr is None:
        return None
    if pa.types.is_null(arr.type) and nulls:
        return pa.nulls(len(arr), pa.large_string())
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)) or (arr.null_count and not nulls):
        return None
    return arr.cast(pa.large_string())


def text_column(values: pd.Series) -> pa.Array:
    """A column as text in one Arrow ``large_string`` array (NULL where missing), as ``astype("string")`` reads it.

    :func:`text_array` when the column is text (its own buffers, no Python object per value); any other
    column (numbers, mixed objects) goes through pandas' ``astype("string")`` first. Always an array,
    for kernels that need text whatever the column held.

    Parameters
    ----------
    values
        A pandas column.

    Returns
    -------
    pyarrow.Array
        One ``large_string`` array.
    """
    arr = text_array(values, nulls=True)
    if arr is None:  # numbers, mixed objects: rare
        arr = contiguous(pa.array(values.astype("string"), from_pandas=True)).cast(pa.large_string())
    return arr
