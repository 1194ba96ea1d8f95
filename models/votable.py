"""VOTable 1.4 writer (BINARY2 and TABLEDATA) driven by the table specs.

astropy's writer converts cell by cell (minutes for a million rows), so the XML header is written
here from the spec and the data are encoded in row chunks with numpy and pyarrow kernels: fixed-width
columns as one packed big-endian record per row, strings as length-prefixed byte runs joined by
``binary_join_element_wise``. Memory stays bounded by the chunk size, and the output bytes depend
only on the input table.
"""

from __future__ import annotations

import binascii
import os
import pathlib
import queue
import re
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import IO, Literal, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from models.arrow import arrow_schema
from models.columns import Column, TableSpec

Serialization = Literal["binary2", "tabledata"]
T = TypeVar("T")

VOTABLE_VERSION = "1.4"
VOTABLE_NS = "http://www.ivoa.net/xml/VOTable/v1.3"
_SCHEMA_LOCATION = f"{VOTABLE_NS} http://www.ivoa.net/xml/VOTable/VOTable-1.4.xsd"

#: Coordinate and time systems a ``Column.ref`` may name, as the element declaring them.
SYSTEMS: dict[str, str] = {
    "icrs": '<COOSYS ID="icrs" system="ICRS"/>',
    "mjd_utc": '<TIMESYS ID="mjd_utc" timeorigin="MJD-origin" timescale="UTC" refposition="TOPOCENTER"/>',
}

#: Rows encoded at a time: bounds the memory of the index and join arrays. 16,384 rows (~5 MB of
#: BINARY2, ~7 MB of base64) keep the buffers cache- and allocator-friendly: 1 M obsplan rows took
#: 1.5 s against 1.5-1.9 s with 65,536 and 2.0-2.3 s with 262,144 (benchmarks/README.md).
CHUNK_ROWS = 16_384

_FIXED_DTYPES: dict[str, str] = {"double": ">f8", "int": ">i4", "long": ">i8"}
_FILL: dict[str, object] = {"double": float("nan"), "int": 0, "long": 0}
_STRING_ARRAYSIZE = re.compile(r"^(\d*)\*$")
_XML_FORBIDDEN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_B64_LINE = 76  # base64 characters per line (57 input bytes), as MIME and astropy do
_B64_IN = _B64_LINE // 4 * 3


class SchemaMismatchError(ValueError):
    """The table handed to a writer is not conformed to its spec (see ``models.arrow.conform``)."""


# --------------------------------------------------------------------------------------------
# Header (shared with the VOParquet writer)
# --------------------------------------------------------------------------------------------


def xml_text(value: str) -> str:
    """Escape element content; refuse characters XML 1.0 cannot carry at all."""
    _check_xml_chars(value, "text")
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")


def xml_attr(value: str) -> str:
    """Escape an attribute value (quotes and whitespace kept through attribute normalisation)."""
    _check_xml_chars(value, "attribute")
    return xml_text(value).replace('"', "&quot;").replace("\n", "&#10;").replace("\t", "&#9;").replace("\r", "&#13;")


def _check_xml_chars(value: str, where: str) -> None:
    bad = _XML_FORBIDDEN.search(value)
    if bad:
        raise ValueError(f"character {bad.group()!r} cannot be written in an XML {where}: {value!r}")


def _attrs(pairs: list[tuple[str, str | None]]) -> str:
    return "".join(f' {k}="{xml_attr(v)}"' for k, v in pairs if v)


def field_xml(column: Column) -> str:
    """The FIELD element of a column: the only place FIELD metadata is written."""
    if column.ref is not None and column.ref not in SYSTEMS:
        raise ValueError(f"column {column.name!r} refers to unknown system {column.ref!r}; known: {sorted(SYSTEMS)}")
    attrs = _attrs(
        [
            ("name", column.name),
            ("datatype", column.votable_datatype),
            ("arraysize", column.votable_arraysize),
            ("unit", column.unit),
            ("ucd", column.ucd),
            ("utype", column.utype),
            ("xtype", column.votable_xtype),
            ("ref", column.ref),
        ]
    )
    if column.description:
        return f"<FIELD{attrs}>\n <DESCRIPTION>{xml_text(column.description)}</DESCRIPTION>\n</FIELD>"
    return f"<FIELD{attrs}/>"


def systems_xml(spec: TableSpec) -> list[str]:
    """COOSYS/TIMESYS elements the spec's columns refer to (only those: votlint warns on unused ones)."""
    used = {c.ref for c in spec.columns if c.ref}
    unknown = used - SYSTEMS.keys()
    if unknown:
        raise ValueError(
            f"{spec.qualified_name}: unknown COOSYS/TIMESYS refs {sorted(unknown)}; known: {sorted(SYSTEMS)}"
        )
    return [xml for ref, xml in SYSTEMS.items() if ref in used]


def document_head(
    spec: TableSpec,
    *,
    nrows: int | None,
    infos: Mapping[str, str] | None = None,
    description: str | None = None,
    query_status: bool = True,
) -> str:
    """XML from the declaration to the last FIELD: VOTABLE, RESOURCE, INFOs, systems, TABLE, FIELDs.

    ``description`` documents the RESOURCE (the snapshot); the TABLE keeps the spec's description.
    ``query_status`` adds the DALI ``QUERY_STATUS=OK`` INFO (not wanted in metadata-only documents).
    """
    infos = dict(infos or {})
    if "QUERY_STATUS" in infos:
        raise ValueError("QUERY_STATUS is written by the writer (OK); do not pass it in infos")
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<VOTABLE version="{VOTABLE_VERSION}" xmlns="{VOTABLE_NS}" '
        f'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="{_SCHEMA_LOCATION}">',
        '<RESOURCE type="results">',
    ]
    if description:
        lines.append(f"<DESCRIPTION>{xml_text(description)}</DESCRIPTION>")
    if query_status:
        lines.append('<INFO name="QUERY_STATUS" value="OK"/>')
    lines += [f'<INFO{_attrs([("name", str(k))])} value="{xml_attr(str(v))}"/>' for k, v in infos.items()]
    lines += systems_xml(spec)
    table_attrs = _attrs([("name", spec.name), ("utype", spec.utype)])
    if nrows is not None:
        table_attrs += f' nrows="{nrows:d}"'
    lines.append(f"<TABLE{table_attrs}>")
    if spec.description:
        lines.append(f"<DESCRIPTION>{xml_text(spec.description)}</DESCRIPTION>")
    lines += [field_xml(c) for c in spec.columns]
    return "\n".join(lines) + "\n"


def document_tail() -> str:
    """Closing tags matching :func:`document_head`."""
    return "</TABLE>\n</RESOURCE>\n</VOTABLE>\n"


# --------------------------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------------------------


def check_table(table: pa.Table, spec: TableSpec) -> None:
    """Refuse a table that is not ``conform(frame, spec)``: wrong columns, types or nulls.

    Writers trust the column types to choose byte layouts, so a mismatch would otherwise be written
    as wrong bytes or as invented values.
    """
    expected = arrow_schema(spec)
    problems = []
    if table.schema.names != expected.names:
        problems.append(f"columns {table.schema.names} != spec columns {expected.names}")
    else:
        for got, want in zip(table.schema, expected, strict=True):
            if not got.type.equals(want.type):
                problems.append(f"column {got.name!r} has type {got.type}, spec wants {want.type}")
    if problems:
        raise SchemaMismatchError(
            f"{spec.qualified_name}: table does not match the spec (use models.arrow.conform): " + "; ".join(problems)
        )
    for column in spec.columns:
        if column.null_rule == "not-null" and table.column(column.name).null_count:
            n = table.column(column.name).null_count
            raise SchemaMismatchError(f"{spec.qualified_name}: {n} null(s) in not-null column {column.name!r}")
        if column.is_string:
            _check_string_arraysize(table.column(column.name), column, spec)
        if column.votable_datatype == "char" and column.datatype != "timestamp":
            _check_ascii(table.column(column.name), column, spec)


def _check_ascii(values: pa.ChunkedArray, column: Column, spec: TableSpec) -> None:
    """``char`` is ASCII up to VOTable 1.5 (astropy cannot even decode UTF-8 there): say which column."""
    if not pa.types.is_string(values.type) and not pa.types.is_large_string(values.type):
        return  # timestamps are written as ASCII text
    # Fast path: no byte >= 0x80 in the data buffers (one numpy pass; Arrow's per-string kernel is
    # ~20 times slower). Only a column with such a byte is searched string by string for the row.
    if not any(_offsets_and_bytes(chunk)[1].max(initial=0) >= 0x80 for chunk in values.chunks if len(chunk)):
        return
    ascii_ok = pc.string_is_ascii(values)
    if pc.all(ascii_ok, skip_nulls=True).as_py() is False:
        row = int(pc.index(ascii_ok, False).as_py())
        raise SchemaMismatchError(
            f"{spec.qualified_name}.{column.name} row {row}: non-ASCII text {values[row].as_py()!r} in a VOTable "
            "'char' column; declare the column unicode=True (unicodeChar) or transliterate it upstream"
        )


def _check_string_arraysize(values: pa.ChunkedArray, column: Column, spec: TableSpec) -> None:
    arraysize = column.votable_arraysize or "*"
    match = _STRING_ARRAYSIZE.match(arraysize)
    if match is None:
        raise SchemaMismatchError(
            f"{spec.qualified_name}.{column.name}: string arraysize {arraysize!r} unsupported (use '*' or 'N*')"
        )
    if match.group(1) and column.datatype != "timestamp" and len(values):
        longest = pc.max(pc.utf8_length(values)).as_py() or 0
        if longest > int(match.group(1)):
            raise SchemaMismatchError(
                f"{spec.qualified_name}.{column.name}: value of {longest} characters exceeds arraysize {arraysize}"
            )


# --------------------------------------------------------------------------------------------
# Cell encodings
# --------------------------------------------------------------------------------------------


def _timestamp_text(values: pa.Array) -> pa.Array:
    """DALI timestamps without ``Z``; fractional seconds only when some value has them (never lost)."""
    micros = pc.fill_null(pc.cast(values, pa.int64()), 0).to_numpy(zero_copy_only=False)
    if np.any(np.mod(micros, 1_000_000)):
        text = pc.strftime(values, format="%Y-%m-%dT%H:%M:%S")  # Arrow prints %S with 6 decimals for us
    else:
        text = pc.strftime(pc.cast(values, pa.timestamp("s", tz="UTC")), format="%Y-%m-%dT%H:%M:%S")
    return pc.cast(text, pa.string())


def _string_values(values: pa.Array, column: Column) -> pa.Array:
    """Text of a string-like column as ``string`` (nulls kept)."""
    if column.datatype == "timestamp":
        return _timestamp_text(values)
    return values


def _offsets_and_bytes(values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Offsets (int64, from 0) and data bytes of a string/binary array without nulls."""
    width = np.int64 if pa.types.is_large_string(values.type) or pa.types.is_large_binary(values.type) else np.int32
    buffers = values.buffers()
    n = len(values)
    offsets = np.frombuffer(buffers[1], dtype=width)[values.offset : values.offset + n + 1].astype(np.int64)
    data = np.frombuffer(buffers[2], dtype=np.uint8) if buffers[2] is not None else np.zeros(0, np.uint8)
    data = data[offsets[0] : offsets[-1]]
    return offsets - offsets[0], data


def utf16be(offsets: np.ndarray, data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Re-encode concatenated UTF-8 runs as UTF-16BE: one codec call per chunk, offsets by numpy.

    Returns the new byte offsets and bytes; element counts are ``diff(offsets) // 2``. Characters
    outside the BMP become surrogate pairs, as the VOTable ``unicodeChar`` (UTF-16) needs. A
    concatenation of valid UTF-8 strings is valid UTF-8, so the whole run converts at once.
    """
    if not (data >= 0x80).any():
        out = np.zeros(2 * data.size, dtype=np.uint8)
        out[1::2] = data
        return offsets * 2, out
    encoded = data.tobytes().decode("utf-8").encode("utf-16-be")
    # UTF-16 units per string: its code points (Arrow's C++ count), plus one per astral character
    # (4-byte UTF-8 lead), which becomes a surrogate pair.
    n = len(offsets) - 1
    text = pa.Array.from_buffers(
        pa.large_string(), n, [None, pa.py_buffer(offsets.astype(np.int64)), pa.py_buffer(data)]
    )
    units = pc.utf8_length(text).to_numpy(zero_copy_only=False).astype(np.int64)
    astral = data >= 0xF0
    if astral.any():
        per_byte = np.concatenate([[0], np.cumsum(astral, dtype=np.int64)])
        units += per_byte[offsets[1:]] - per_byte[offsets[:-1]]
    unit_offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(units, out=unit_offsets[1:])
    return unit_offsets * 2, np.frombuffer(encoded, dtype=np.uint8)


def _one_array(values: pa.ChunkedArray) -> pa.Array:
    """The column as one array: a slice of a single-chunk table needs no copy (``combine_chunks`` makes one)."""
    return values.chunk(0) if values.num_chunks == 1 else values.combine_chunks()


def _binary_array(offsets: np.ndarray, data: np.ndarray) -> pa.Array:
    return pa.Array.from_buffers(
        pa.large_binary(), len(offsets) - 1, [None, pa.py_buffer(offsets.astype(np.int64)), pa.py_buffer(data)]
    )


class _Binary2Layout:
    """Row layout of one spec: [null flags + fixed columns + next string's count][string bytes]...

    Each string's 4-byte count is appended to the fixed block before it, so a row is an alternation
    of fixed-width numpy records and variable byte runs joined by one pyarrow kernel.
    """

    def __init__(self, spec: TableSpec) -> None:
        self.spec = spec
        self.nflag_bytes = (len(spec.columns) + 7) // 8
        # Each block: list of (kind, index) with kind "fixed" or "count"; followed by a string index or None.
        self.blocks: list[tuple[list[tuple[str, int]], int | None]] = []
        current: list[tuple[str, int]] = []
        for i, column in enumerate(spec.columns):
            if column.is_string:
                current.append(("count", i))
                self.blocks.append((current, i))
                current = []
            else:
                current.append(("fixed", i))
        self.blocks.append((current, None))

    def encode(self, chunk: pa.Table) -> memoryview:
        """BINARY2 bytes of the rows in ``chunk``."""
        n = chunk.num_rows
        columns = [_one_array(chunk.column(i)) for i in range(chunk.num_columns)]
        nulls = np.zeros((n, len(columns)), dtype=bool)
        for i, values in enumerate(columns):
            if values.null_count:
                nulls[:, i] = pc.is_null(values).to_numpy(zero_copy_only=False)
        flags = np.packbits(nulls, axis=1, bitorder="big")
        strings: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        for i, column in enumerate(self.spec.columns):
            if column.is_string:
                text = pc.fill_null(_string_values(columns[i], column), "")
                offsets, data = _offsets_and_bytes(text)
                counts = np.diff(offsets)
                if column.votable_datatype == "unicodeChar":
                    offsets, data = utf16be(offsets, data)
                    counts = np.diff(offsets) // 2
                strings[i] = (offsets, data, counts)
        parts: list[pa.Array] = []
        for b, (members, string_index) in enumerate(self.blocks):
            fields: list[tuple[str, str]] = []
            if b == 0:
                fields.append(("flags", f"V{self.nflag_bytes}"))
            fields += [
                (f"c{i}", ">u4" if kind == "count" else _FIXED_DTYPES[self.spec.columns[i].datatype])
                for kind, i in members
            ]
            if fields:
                record = np.empty(n, dtype=np.dtype(fields))  # packed: no alignment padding
                if b == 0:
                    record["flags"] = flags.view(f"V{self.nflag_bytes}").reshape(n)
                for kind, i in members:
                    if kind == "count":
                        record[f"c{i}"] = strings[i][2]
                    else:
                        datatype = self.spec.columns[i].datatype
                        record[f"c{i}"] = pc.fill_null(columns[i], _FILL[datatype]).to_numpy(zero_copy_only=False)
                width = record.dtype.itemsize
                parts.append(_binary_array(np.arange(n + 1, dtype=np.int64) * width, record.view(np.uint8)))
            if string_index is not None:
                offsets, data, _ = strings[string_index]
                parts.append(_binary_array(offsets, data))
        if not parts or n == 0:
            return memoryview(b"")
        rows = pc.binary_join_element_wise(*parts, pa.scalar(b"", pa.large_binary())) if len(parts) > 1 else parts[0]
        return memoryview(_offsets_and_bytes(rows)[1])


def _base64_lines(chunks: Iterator[memoryview]) -> Iterator[memoryview | bytes]:
    """Base64 of the concatenated chunks in 76-character lines, without holding the whole stream.

    Only the < 57 bytes left over between chunks are copied; the rest is encoded in place.
    """
    carry = b""
    for chunk in chunks:
        if carry:
            take = min(_B64_IN - len(carry), len(chunk))
            carry += bytes(chunk[:take])
            chunk = chunk[take:]
            if len(carry) < _B64_IN:
                continue
            yield _lines(binascii.b2a_base64(carry, newline=False))
            carry = b""
        whole = len(chunk) // _B64_IN * _B64_IN
        if whole:
            yield _lines(binascii.b2a_base64(chunk[:whole], newline=False))
        carry = bytes(chunk[whole:])
    if carry:
        yield binascii.b2a_base64(carry, newline=True)


def _lines(encoded: bytes) -> memoryview:
    text = np.frombuffer(encoded, dtype=np.uint8).reshape(-1, _B64_LINE)
    out = np.empty((text.shape[0], _B64_LINE + 1), dtype=np.uint8)
    out[:, :_B64_LINE] = text
    out[:, _B64_LINE] = ord("\n")
    return memoryview(out.reshape(-1))


def _xml_escape_array(values: pa.Array, name: str, first_row: int) -> pa.Array:
    if not pc.any(pc.match_substring_regex(values, r"[&<>\x00-\x1f\x{fffe}\x{ffff}]")).as_py():
        return values  # the common case: nothing to escape or refuse (one pass instead of six)
    bad = pc.match_substring_regex(values, r"[\x00-\x08\x0b\x0c\x0e-\x1f\x{fffe}\x{ffff}]")
    if pc.any(bad).as_py():
        row = int(pc.index(bad, True).as_py())
        raise ValueError(
            f"column {name!r} row {first_row + row}: control character cannot be written in XML: {values[row]!r}"
        )
    # Newlines as character references keep one <TR> per line (readers may cut documents by line).
    for old, new in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ("\r", "&#13;"), ("\n", "&#10;")):
        values = pc.replace_substring(values, old, new)
    return values


def _tabledata_cells(values: pa.Array, column: Column, first_row: int) -> pa.Array:
    """``<TD>text</TD>`` per row, ``<TD/>`` for nulls."""
    if column.is_string:
        text = _xml_escape_array(_string_values(values, column), column.name, first_row)
    elif column.datatype == "double":
        text = pc.cast(values, pa.string())
        for old, new in (("nan", "NaN"), ("-inf", "-Inf"), ("inf", "+Inf")):
            text = pc.if_else(pc.equal(text, old), new, text)
    else:
        text = pc.cast(values, pa.string())
    cells = pc.binary_join_element_wise("<TD>", text, "</TD>", "")
    return pc.fill_null(cells, "<TD/>")


def _tabledata(chunk: pa.Table, spec: TableSpec, first_row: int) -> memoryview:
    if chunk.num_rows == 0:
        return memoryview(b"")
    cells = [_tabledata_cells(_one_array(chunk.column(i)), c, first_row) for i, c in enumerate(spec.columns)]
    rows = pc.binary_join_element_wise("<TR>", *cells, "</TR>\n", "")
    return memoryview(_offsets_and_bytes(rows)[1])


def _chunks(table: pa.Table) -> Iterator[tuple[int, pa.Table]]:
    for start in range(0, table.num_rows, CHUNK_ROWS):
        yield start, table.slice(start, CHUNK_ROWS)


def iter_votable(
    table: pa.Table,
    spec: TableSpec,
    *,
    serialization: Serialization = "binary2",
    infos: Mapping[str, str] | None = None,
    description: str | None = None,
) -> Iterator[bytes | memoryview]:
    """The VOTable document as successive byte blocks (for streaming to a file or socket).

    The table and the header are checked before the first block exists, so a refused table never
    leaves a half-written document behind.
    """
    if serialization not in ("binary2", "tabledata"):
        raise ValueError(f"serialization must be 'binary2' or 'tabledata', not {serialization!r}")
    check_table(table, spec)
    head = document_head(spec, nrows=table.num_rows, infos=infos, description=description).encode("utf-8")
    return _blocks(table, spec, serialization, head)


_END = object()


def _prefetch(items: Iterator[T], depth: int = 2) -> Iterator[T]:
    """``items``, computed ahead by a thread (at most ``depth`` waiting), in the same order.

    Encoding (pyarrow and numpy kernels), base64 and file writes release the GIL for most of their
    time, so a pipeline of them keeps both cores of a small machine busy instead of one. An exception
    in ``items`` is raised here; closing this generator stops the thread after its current item.
    """
    handoff: queue.Queue[tuple[object, BaseException | None]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(entry: tuple[object, BaseException | None]) -> bool:
        while not stop.is_set():
            try:
                handoff.put(entry, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def run() -> None:
        try:
            for item in items:
                if not put((item, None)):
                    return
            put((_END, None))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which raises it
            put((_END, exc))

    worker = threading.Thread(target=run, name="votable-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item, exc = handoff.get()
            if item is _END:
                if exc is not None:
                    raise exc
                return
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        worker.join()


def _blocks(
    table: pa.Table, spec: TableSpec, serialization: Serialization, head: bytes
) -> Iterator[bytes | memoryview]:
    yield head
    if serialization == "binary2":
        layout = _Binary2Layout(spec)
        yield b'<DATA>\n<BINARY2>\n<STREAM encoding="base64">\n'
        yield from _base64_lines(_prefetch(layout.encode(chunk) for _, chunk in _chunks(table)))
        yield b"</STREAM>\n</BINARY2>\n</DATA>\n"
    else:
        yield b"<DATA>\n<TABLEDATA>\n"
        yield from _prefetch(_tabledata(chunk, spec, start) for start, chunk in _chunks(table))
        yield b"</TABLEDATA>\n</DATA>\n"
    yield document_tail().encode("utf-8")


def votable_bytes(
    table: pa.Table,
    spec: TableSpec,
    *,
    serialization: Serialization = "binary2",
    infos: Mapping[str, str] | None = None,
    description: str | None = None,
) -> bytes:
    """The VOTable document for ``table`` (conformed to ``spec``) as bytes."""
    return b"".join(iter_votable(table, spec, serialization=serialization, infos=infos, description=description))


def write_votable(
    table: pa.Table,
    spec: TableSpec,
    path: str | os.PathLike[str] | IO[bytes],
    *,
    serialization: Serialization = "binary2",
    infos: Mapping[str, str] | None = None,
    description: str | None = None,
) -> None:
    """Write ``table`` (conformed to ``spec``) as a VOTable 1.4 file, streaming chunk by chunk.

    Parameters
    ----------
    serialization
        ``binary2`` (compact, null flags per cell) or ``tabledata`` (XML cells, empty ``<TD/>`` for null).
    infos
        Extra ``<INFO name value>`` elements after ``QUERY_STATUS=OK`` (snapshot date, provenance...).
    description
        Text of the RESOURCE DESCRIPTION (the TABLE carries the spec's own description).
    """
    blocks = iter_votable(table, spec, serialization=serialization, infos=infos, description=description)
    if hasattr(path, "write"):
        for block in blocks:
            path.write(block)  # type: ignore[union-attr]
        return
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        for block in _prefetch(blocks):  # the next blocks are encoded while this one is written
            handle.write(block)


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[pathlib.Path]:
    """A temporary sibling of ``path`` renamed onto it on success, removed on failure.

    Snapshot files are immutable once published: readers must never see a truncated one.
    """
    target = pathlib.Path(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
