"""The tabular-input layer: VOTable, FITS and CSV answers become frames here, by one set of rules.

Archives answer in three tabular forms (HEASARC TAP and W3Browse VOTables, ISDC and HEASARC FITS
tables, CSV exports) and each form has its traps. The rules, the same for every source:

Cells first, types second
    Every reader returns *cells*: a frame of stripped text (``str``) or ``None`` for NULL, one
    column per field (lower-case name), with the declared type of each field in
    ``frame.attrs["declared"]`` (``int``, ``float``, ``bool``, ``text`` or ``other``). Types are
    applied afterwards by :func:`coerce` (the kinds the caller asks for: strict, an unreadable
    value is a :class:`~scrapers.base.ParseError` naming source, URL, row and column) or
    :func:`typed` (every other column by its declared type *when all its values fit it*; a
    column whose values contradict its declaration stays text and is listed in
    ``attrs["type_conflicts"]``; so is an ``int`` column written with leading zeros, an id
    such as ``063500630010`` that a number would change). So a FIELD declared ``int`` that holds
    ``POINTING`` (ISDC) is read, not refused, and a wrong declaration never silently changes a
    value.

NULL
    * VOTable TABLEDATA: an empty ``<TD>`` (or one holding only whitespace) is NULL for *every*
      datatype and *every* VOTable version. astropy reads an empty ``int`` cell of VOTable
      1.0-1.2 as 0 (measured: astropy 8.0, an INTEGRAL window with blank ``GOOD_ISGRI`` became
      ``t_exptime = 0``); here it is NULL, as VOTable 1.3 defines it. A cell equal to the
      field's ``<VALUES null="...">`` is NULL. ``NaN`` of a float field is NULL.
    * FITS ASCII tables: a blank field or one equal to ``TNULLn`` is NULL.
    * FITS binary tables: ``TNULLn`` of integer columns, NaN of floats and empty strings are NULL.
    * CSV: an empty field is NULL.
    So the FITS form and the VOTable form of one table give the same frame, NULLs included.

Bytes
    Leading whitespace (and a byte-order mark) before the XML declaration is skipped before
    parsing, not only when sniffing (ISDC VOTables start with blank lines; XML parsers refuse
    them). Text is decoded by :func:`scrapers.text.decode` (BOM > HTTP charset > XML
    declaration > UTF-8, strict). FITS ASCII tables are read from their raw bytes with the
    ``TBCOL``/``TFORM`` widths only: ISDC declares every column ``I`` (``I8`` for ``POINTING``,
    ``I19`` for ISO dates) so astropy fails on the first data access; fields with embedded
    newlines (ISDC ``PI_NAME``) have their whitespace runs collapsed to one space.

Rows named in errors are 0-based data rows (the first ``<TR>``, the first FITS row, the first
CSV line after the header). BINARY/BINARY2 VOTable serialisations carry typed values and their
own null flags: they are decoded by astropy and returned typed (masked -> NULL). Array-valued
fields (``arraysize`` on a non-character type) stay text (declared ``other``).
"""

from __future__ import annotations

import io
import re
import warnings
from collections.abc import Mapping, Sequence

import lxml.etree
import numpy as np
import pandas as pd
from astropy.io import fits

from models.errors import ValueParseError
from scrapers import text as text_layer
from scrapers.base import ParseError, value_error

#: Kinds a caller may ask :func:`coerce` for.
KINDS = ("text", "int", "float", "bool")

_VOT_INT = {"short", "int", "long", "unsignedbyte"}
_VOT_FLOAT = {"float", "double"}
_VOT_TEXT = {"char", "unicodechar"}
_XML_DECL = re.compile(r"^\s*<\?xml[^>]*\?>")
_TRUE = {"t", "true", "1", "y", "yes"}
_FALSE = {"f", "false", "0", "n", "no"}
_BOOL_NULL = {"?"}
_HEX = r"^[+-]?0[xX][0-9a-fA-F]+$"


# ------------------------------------------------------------------------------------------ sniff
def _skip_space(content: bytes) -> bytes:
    for bom in (b"\xef\xbb\xbf",):
        if content.startswith(bom):
            content = content[len(bom) :]
    return content.lstrip()


def sniff(content: bytes) -> str:
    """Form of a tabular answer: ``fits``, ``votable``, ``html`` or ``text`` (CSV or anything else).

    Leading whitespace and a UTF-8 byte-order mark are skipped; nothing is guessed from file names.
    """
    if content[:9] == b"SIMPLE  =":
        return "fits"
    head = _skip_space(content[:4096]).lower()
    if head.startswith((b"<!doctype html", b"<html")):
        return "html"
    if head.startswith((b"<?xml", b"<votable")) or (head.startswith(b"<!") and b"<votable" in head):
        return "votable"
    return "text"


# ---------------------------------------------------------------------------------------- VOTable
def _local(tag: object) -> str:
    return lxml.etree.QName(tag).localname if isinstance(tag, str) else ""


def _children(element: lxml.etree._Element, name: str) -> list[lxml.etree._Element]:
    return [c for c in element if _local(c.tag) == name]


def _service_error(root: lxml.etree._Element, source: str, url: str) -> None:
    """Raise the service's own message for ``QUERY_STATUS=ERROR`` (TAP error documents)."""
    for info in root.iter():
        if _local(info.tag) == "INFO" and info.get("name") == "QUERY_STATUS":
            if str(info.get("value", "")).upper() == "ERROR":
                message = " ".join("".join(info.itertext()).split())
                raise ParseError(source, url, f"service error: {message}")


def _declared_kind(datatype: str, arraysize: str | None) -> str:
    kind = datatype.lower()
    if kind in _VOT_TEXT:
        return "text"
    if arraysize not in (None, "", "1"):
        return "other"
    if kind in _VOT_INT:
        return "int"
    if kind in _VOT_FLOAT:
        return "float"
    if kind == "boolean":
        return "bool"
    return "other"


def read_votable_cells(content: bytes, *, source: str, url: str, content_type: str | None = None) -> pd.DataFrame:
    """Cells of the first table of a VOTable document (any version, with or without namespace).

    Parameters
    ----------
    content
        Response bytes; whitespace or a byte-order mark before the XML declaration is allowed.
    source, url
        Named in errors.
    content_type
        The recorded HTTP ``Content-Type`` (its charset is honoured by the text layer).

    Returns
    -------
    pandas.DataFrame
        Stripped text or ``None`` (NULL) per cell, lower-case column names, RangeIndex rows.
        ``attrs``: ``declared`` (name -> kind), ``datatypes`` (as written), ``units``,
        ``version`` (VOTable version), ``format`` (``votable``), ``serialization``.

    Raises
    ------
    ParseError
        Not a VOTable, unreadable XML, a service error document, no table, a row whose cell
        count differs from the FIELD count (naming the row).
    """
    if sniff(content) != "votable":
        snippet = content[:120].decode("utf-8", "replace")
        raise ParseError(source, url, f"expected a VOTable, got {snippet!r}")
    text = text_layer.decode(_skip_space(content), source=source, url=url, content_type=content_type)
    text = _XML_DECL.sub("", text.lstrip(), count=1)
    # Entities are refused outright: unexpanded, one would silently become an empty cell.
    text_layer.refuse_entities(text, source=source, url=url)
    parser = lxml.etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True)
    try:
        root = lxml.etree.fromstring(text.encode("utf-8"), parser=parser)
    except lxml.etree.XMLSyntaxError as exc:
        raise ParseError(source, url, f"unreadable VOTable: {exc}") from exc
    if _local(root.tag) != "VOTABLE":
        raise ParseError(source, url, f"expected a VOTable, got a <{_local(root.tag)}> document")
    _service_error(root, source, url)
    table = next((e for e in root.iter() if _local(e.tag) == "TABLE"), None)
    if table is None:
        raise ParseError(source, url, "VOTable has no table")
    fields = _children(table, "FIELD")
    if not fields:
        raise ParseError(source, url, "VOTable table has no FIELD")
    names = [str(f.get("name") or f.get("ID") or f"col{k}").strip().lower() for k, f in enumerate(fields)]
    datatypes = [str(f.get("datatype", "char")) for f in fields]
    declared = {n: _declared_kind(d, f.get("arraysize")) for n, d, f in zip(names, datatypes, fields, strict=True)}
    nulls: dict[str, str] = {}
    for name, field in zip(names, fields, strict=True):
        values = _children(field, "VALUES")
        if values and values[0].get("null") is not None:
            nulls[name] = str(values[0].get("null")).strip()
    data = _children(table, "DATA")
    body = _children(data[0], "TABLEDATA") if data else []
    version = str(root.get("version", ""))
    if data and not body:
        frame = _astropy_votable(content, source=source, url=url, names=names)
        serialization = "binary"
    else:
        frame = _tabledata(body[0] if body else None, names, source=source, url=url)
        serialization = "tabledata"
    for name, null in nulls.items():
        if frame[name].dtype == object:
            frame[name] = frame[name].where(frame[name].ne(null).fillna(True), None)
    frame.attrs.update(
        declared=declared,
        datatypes=dict(zip(names, datatypes, strict=True)),
        units={n: f.get("unit") for n, f in zip(names, fields, strict=True)},
        nulls=nulls,
        version=version,
        format="votable",
        serialization=serialization,
    )
    return frame


def _tabledata(body: lxml.etree._Element | None, names: list[str], *, source: str, url: str) -> pd.DataFrame:
    """Text cells of a TABLEDATA element; empty / blank ``<TD>`` is NULL whatever the datatype."""
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise ParseError(source, url, f"VOTable FIELD names repeated: {dup}", found=names)
    if body is None:
        return pd.DataFrame({n: pd.Series([], dtype=object) for n in names})
    rows = _children(body, "TR")
    counts = np.fromiter((sum(1 for c in tr if _local(c.tag) == "TD") for tr in rows), dtype=np.int64, count=len(rows))
    bad = np.flatnonzero(counts != len(names))
    if bad.size:
        k = int(bad[0])
        raise ParseError(source, url, f"{counts[k]} cells where the table has {len(names)} FIELDs", row=k, found=names)
    cells = np.array(
        ["".join(td.itertext()) for tr in rows for td in tr if _local(td.tag) == "TD"], dtype=object
    ).reshape(len(rows), len(names))
    frame = pd.DataFrame(cells, columns=names, dtype=object)
    return _clean(frame)


def _clean(frame: pd.DataFrame) -> pd.DataFrame:
    """Stripped text, blank -> None (vectorised per column)."""
    out = {}
    for name in frame.columns:
        text = frame[name].astype("string").str.strip()
        out[name] = text.astype(object).where(text.ne("").fillna(False), None)
    return pd.DataFrame(out, index=pd.RangeIndex(len(frame)))


def _astropy_votable(content: bytes, *, source: str, url: str, names: list[str]) -> pd.DataFrame:
    """BINARY/BINARY2/FITS-serialised VOTable data by astropy: typed, masked cells -> NULL."""
    from astropy.io.votable import parse as parse_votable

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            vot = parse_votable(io.BytesIO(_skip_space(content)), verify="ignore")
            table = vot.get_first_table().to_table(use_names_over_ids=True)
    except Exception as exc:  # astropy raises many types for broken binary streams
        raise ParseError(source, url, f"unreadable VOTable: {exc}") from exc
    return _astropy_frame(table, names)


def _astropy_frame(table: object, names: list[str]) -> pd.DataFrame:
    """Columns of an astropy Table as NULL-aware pandas columns (text stripped, masked -> NULL)."""
    out: dict[str, pd.Series] = {}
    for name, col in zip(names, table.columns.values(), strict=True):  # type: ignore[attr-defined]
        data = np.ma.asarray(col)
        mask = np.ma.getmaskarray(data)
        values = np.ma.getdata(data)
        if values.ndim > 1:
            out[name] = pd.Series([" ".join(map(str, v)) for v in values], dtype=object)
            continue
        if values.dtype.kind in "SU":
            text = pd.Series(np.char.decode(values, "utf-8") if values.dtype.kind == "S" else values, dtype="string")
            text = text.str.strip().mask(mask)
            out[name] = text.astype(object).where(text.ne("").fillna(False), None)
        elif values.dtype.kind == "O":
            text = _decoded(pd.Series(values, dtype=object)).astype("string").str.strip().mask(mask)
            out[name] = text.astype(object).where(text.ne("").fillna(False), None)
        elif values.dtype.kind in "iu":
            out[name] = pd.Series(pd.array(values.astype("int64"), dtype="Int64")).mask(mask)
        elif values.dtype.kind == "f":
            out[name] = pd.Series(np.where(mask, np.nan, values.astype("float64")))
        elif values.dtype.kind == "b":
            out[name] = pd.Series(pd.array(values, dtype="boolean")).mask(mask)
        else:
            out[name] = pd.Series(values.astype(str), dtype=object).where(~mask, None)
    return pd.DataFrame(out, index=pd.RangeIndex(len(table)))  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------- FITS
def _fits_kind(tform: str) -> str:
    code = tform.strip().lstrip("0123456789")[:1].upper()
    if code == "A":
        return "text"
    if code in "IJKBS":
        return "int"
    if code in "FEDG":
        return "float"
    if code == "L":
        return "bool"
    return "other"


def read_fits_cells(content: bytes, *, source: str, url: str, extension: int | str | None = None) -> pd.DataFrame:
    """Cells of the first table extension (or ``extension``) of a FITS file.

    ASCII tables (``XTENSION='TABLE'``) are read from the raw bytes with the ``TBCOL`` offsets and
    ``TFORM`` widths only (vectorised through a fixed-width numpy dtype), never by their declared
    types; blank fields and fields equal to ``TNULLn`` are NULL. Binary tables are read by
    astropy; their ``TNULLn``, NaN and empty strings are NULL.

    Parameters
    ----------
    content
        The FITS file's bytes.
    source, url
        Named in errors.
    extension
        HDU index or ``EXTNAME``; default the first table extension.

    Returns
    -------
    pandas.DataFrame
        As :func:`read_votable_cells` (ASCII: text cells; binary: typed NULL-aware columns),
        ``attrs["format"]`` ``fits-ascii`` or ``fits-binary``.

    Raises
    ------
    ParseError
        Unreadable FITS, no table, unsupported ``TFORM``, scaled ASCII columns, truncated data.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            hdul = fits.open(io.BytesIO(content), memmap=False, lazy_load_hdus=False)
    except (OSError, ValueError, TypeError, IndexError, KeyError) as exc:
        raise ParseError(source, url, f"unreadable FITS: {exc}") from exc
    hdus = list(hdul[1:])
    if extension is not None:
        try:
            hdus = [hdul[extension]]
        except (KeyError, IndexError) as exc:
            raise ParseError(source, url, f"FITS file has no extension {extension!r}") from exc
    for hdu in hdus:
        kind = str(hdu.header.get("XTENSION", "")).strip()
        if kind == "TABLE":
            return _fits_ascii(content, hdu, source=source, url=url)
        if kind == "BINTABLE":
            return _fits_binary(hdu, source=source, url=url)
    raise ParseError(source, url, "FITS file has no table extension")


def _card(hdr: fits.Header, key: str, source: str, url: str) -> object:
    try:
        return hdr[key]
    except KeyError as exc:
        raise ParseError(source, url, f"FITS table header lacks {key}") from exc


def _fits_ascii(content: bytes, hdu: fits.hdu.base.ExtensionHDU, *, source: str, url: str) -> pd.DataFrame:
    hdr = hdu.header
    try:
        n_rows, row_len, n_cols = (int(_card(hdr, k, source, url)) for k in ("NAXIS2", "NAXIS1", "TFIELDS"))  # type: ignore[call-overload]
    except (TypeError, ValueError) as exc:
        raise ParseError(source, url, f"FITS table header is not readable: {exc}") from exc
    names: list[str] = []
    offsets: list[int] = []
    formats: list[str] = []
    declared: dict[str, str] = {}
    nulls: dict[str, str] = {}
    for k in range(1, n_cols + 1):
        name = " ".join(str(_card(hdr, f"TTYPE{k}", source, url)).split()).lower()
        tform = str(_card(hdr, f"TFORM{k}", source, url))
        width = re.match(r"^\s*[AIFEDaifed](\d+)", tform)
        if width is None or int(width.group(1)) < 1:
            raise ParseError(source, url, f"unsupported TFORM{k} {tform!r}", column=name)
        if float(hdr.get(f"TSCAL{k}", 1.0)) != 1.0 or float(hdr.get(f"TZERO{k}", 0.0)) != 0.0:
            raise ParseError(source, url, f"scaled ASCII column (TSCAL/TZERO{k}) is not supported", column=name)
        try:
            start = int(_card(hdr, f"TBCOL{k}", source, url)) - 1  # type: ignore[call-overload]
        except (TypeError, ValueError) as exc:
            raise ParseError(source, url, f"TBCOL{k} is not a number", column=name) from exc
        if start < 0 or start + int(width.group(1)) > row_len:
            raise ParseError(source, url, f"TBCOL{k}/TFORM{k} lie outside the {row_len}-byte row", column=name)
        if name in declared:
            raise ParseError(source, url, f"FITS column name {name!r} repeated", column=name)
        names.append(name)
        offsets.append(start)
        formats.append(f"S{width.group(1)}")
        declared[name] = _fits_kind(tform)
        if f"TNULL{k}" in hdr and str(hdr[f"TNULL{k}"]).strip():
            nulls[name] = str(hdr[f"TNULL{k}"]).strip()
    start = hdu.fileinfo()["datLoc"]
    if n_rows < 0 or row_len < 0 or start + n_rows * row_len > len(content):
        raise ParseError(source, url, f"FITS table truncated: {n_rows} rows of {row_len} bytes announced")
    dtype = np.dtype({"names": names, "formats": formats, "offsets": offsets, "itemsize": row_len})
    rec = np.frombuffer(content, dtype=dtype, count=n_rows, offset=start)
    cols = {}
    for name in names:
        text = pd.Series(np.char.decode(rec[name], "latin-1"), dtype="string")
        text = text.str.replace(r"\s+", " ", regex=True).str.strip()
        keep = text.ne("").fillna(False)
        if name in nulls:
            keep &= text.ne(nulls[name]).fillna(True)
        cols[name] = text.astype(object).where(keep, None)
    frame = pd.DataFrame(cols, index=pd.RangeIndex(n_rows))
    frame.attrs.update(declared=declared, nulls=nulls, format="fits-ascii", units=_fits_units(hdr, n_cols, names))
    return frame


def _fits_units(hdr: fits.Header, n_cols: int, names: list[str]) -> dict[str, str | None]:
    return {names[k - 1]: (str(hdr[f"TUNIT{k}"]).strip() if f"TUNIT{k}" in hdr else None) for k in range(1, n_cols + 1)}


def _fits_binary(hdu: fits.BinTableHDU, *, source: str, url: str) -> pd.DataFrame:
    from astropy.table import Table

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            table = Table.read(hdu, mask_invalid=True)
    except (ValueError, TypeError, KeyError, OSError) as exc:
        raise ParseError(source, url, f"unreadable FITS binary table: {exc}") from exc
    names = [" ".join(str(n).split()).lower() for n in table.colnames]
    frame = _astropy_frame(table, names)
    declared = {n: _fits_kind(str(c.format)) for n, c in zip(names, hdu.columns, strict=True)}
    frame.attrs.update(
        declared=declared,
        nulls={},
        format="fits-binary",
        units={n: (str(c.unit) if c.unit else None) for n, c in zip(names, hdu.columns, strict=True)},
    )
    return frame


# -------------------------------------------------------------------------------------------- CSV
def read_csv_cells(
    content: bytes, *, source: str, url: str, content_type: str | None = None, header: bool = True
) -> pd.DataFrame:
    """Cells of a CSV answer (RFC 4180 quoting; every field text; empty field NULL).

    Parameters
    ----------
    content
        Response bytes, decoded by :func:`scrapers.text.decode`.
    source, url
        Named in errors.
    content_type
        The recorded HTTP ``Content-Type``.
    header
        Whether the first line is a header; the header texts are kept, stripped, in
        ``attrs["headers"]`` and the columns are numbered ``0..n-1`` (headers may repeat or be
        unknown: the caller locates columns).

    Returns
    -------
    pandas.DataFrame
        Text cells (``None`` for NULL), RangeIndex rows, integer column labels.

    Raises
    ------
    ParseError
        Empty answer, undecodable bytes, unbalanced quotes, rows wider than the header.
    """
    text = text_layer.decode(content, source=source, url=url, content_type=content_type)
    if not text.strip():
        raise ParseError(source, url, "empty response instead of a CSV table")
    import csv

    try:
        raw = pd.read_csv(
            io.StringIO(text),
            dtype=str,
            header=None,
            keep_default_na=False,
            skip_blank_lines=True,
            quoting=csv.QUOTE_MINIMAL,
            engine="python",
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, csv.Error, ValueError) as exc:
        raise ParseError(source, url, f"unreadable CSV: {exc}") from exc
    raw.columns = range(raw.shape[1])
    if header:
        headers = [str(h).strip() if isinstance(h, str) else "" for h in raw.iloc[0]] if len(raw) else []
        raw = raw.iloc[1:]
    else:
        headers = []
    frame = _clean(raw.reset_index(drop=True))
    frame.columns = range(frame.shape[1])
    frame.attrs.update(headers=headers, format="csv", declared={})
    return frame


# --------------------------------------------------------------------------------------- coercion
def _values(series: pd.Series) -> pd.Series:
    return series.reset_index(drop=True)


def to_float(series: pd.Series, *, null: str | None = None) -> np.ndarray:
    """float64 of text or numeric cells; NULL/NaN -> NaN.

    Raises
    ------
    ValueParseError
        Cells that are not numbers (all positions; infinite values too).
    """
    values = _values(series)
    if pd.api.types.is_bool_dtype(values.dtype):
        raise ValueParseError("not a number", range(len(values)), values.astype(str).tolist()[:5])
    if pd.api.types.is_numeric_dtype(values.dtype):
        out = pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    else:
        text = values.astype("string").str.strip()
        text = text.mask(text.eq("").fillna(False))
        if null is not None:
            text = text.mask(text.eq(null).fillna(False))
        hexa = text.str.fullmatch(_HEX).fillna(False).to_numpy(dtype=bool)
        num = pd.to_numeric(text.mask(hexa), errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        if hexa.any():
            num[hexa] = [float(int(v, 16)) for v in text[hexa]]
        bad = np.isnan(num) & text.notna().to_numpy() & ~text.str.fullmatch(r"(?i)[+-]?nan").fillna(False).to_numpy()
        if bad.any():
            rows = np.flatnonzero(bad)
            raise ValueParseError("not a number", rows, [values.iloc[i] for i in rows[:5]])
        out = num
    inf = np.isinf(out)
    if inf.any():
        rows = np.flatnonzero(inf)
        raise ValueParseError("infinite number", rows, [str(values.iloc[i]) for i in rows[:5]])
    if null is not None:
        try:
            out[out == float(null)] = np.nan
        except ValueError:
            pass
    return out


def to_int(series: pd.Series, *, null: str | None = None) -> pd.Series:
    """Nullable ``Int64`` of text or numeric cells; a non-integral or huge value is an error.

    Raises
    ------
    ValueParseError
        Cells that are not integers.
    """
    values = _values(series)
    num = to_float(values, null=null)
    with np.errstate(invalid="ignore"):
        bad = ~np.isnan(num) & ((num != np.round(num)) | (np.abs(num) > 2**53))
    if bad.any():
        rows = np.flatnonzero(bad)
        raise ValueParseError("not an integer", rows, [str(values.iloc[i]) for i in rows[:5]])
    return pd.Series(pd.array(np.where(np.isnan(num), 0, num).astype("int64"), dtype="Int64")).mask(np.isnan(num))


def to_bool(series: pd.Series) -> pd.Series:
    """Nullable ``boolean`` of VOTable/FITS logical cells (``T``/``F``/``true``/``1``...; ``?`` NULL).

    Raises
    ------
    ValueParseError
        Cells that are not logical values.
    """
    values = _values(series)
    if pd.api.types.is_bool_dtype(values.dtype):
        return values.astype("boolean")
    text = values.astype("string").str.strip().str.lower()
    text = text.mask(text.isin(_BOOL_NULL | {""}).fillna(False))
    true, false = text.isin(_TRUE).fillna(False), text.isin(_FALSE).fillna(False)
    bad = (text.notna() & ~true & ~false).to_numpy(dtype=bool)
    if bad.any():
        rows = np.flatnonzero(bad)
        raise ValueParseError("not a logical value", rows, [str(values.iloc[i]) for i in rows[:5]])
    return pd.Series(pd.array(np.where(true, True, False), dtype="boolean")).mask(text.isna())


def _decoded(values: pd.Series) -> pd.Series:
    """Object cells as text: byte strings decoded as UTF-8 (strict), vectorised when the column is all bytes.

    ``infer_dtype`` looks at the cells in C; only a column mixing bytes and text (not seen from any
    reader here) falls back to a per-cell decode.
    """
    kind = pd.api.types.infer_dtype(values, skipna=True)
    if kind == "bytes":
        return values.str.decode("utf-8")
    if kind == "mixed":
        return values.map(lambda v: v.decode("utf-8") if isinstance(v, bytes) else v, na_action="ignore")
    return values


def to_text(series: pd.Series) -> pd.Series:
    """Stripped text (object, ``None`` for NULL); integers print without a fraction."""
    values = _values(series)
    if pd.api.types.is_integer_dtype(values.dtype):
        return values.astype("Int64").astype("string").astype(object).where(values.notna(), None)
    if pd.api.types.is_float_dtype(values.dtype):
        arr = values.to_numpy(dtype="float64")
        whole = np.isfinite(arr) & (arr == np.round(arr))
        text = pd.Series(np.where(whole, np.char.mod("%d", np.nan_to_num(arr)), values.astype(str)), dtype=object)
        return text.where(values.notna().to_numpy(), None)
    text = _decoded(values).astype("string").str.strip()
    return text.astype(object).where(text.ne("").fillna(False), None)


_CONVERT = {"text": to_text, "int": to_int, "float": to_float, "bool": to_bool}


def _convert(
    cells: pd.DataFrame,
    name: str,
    kind: str,
    *,
    source: str,
    url: str,
    labels: Mapping[str, str] | None,
    index: Sequence[object] | pd.Index | None,
) -> np.ndarray | pd.Series:
    """One column of ``cells`` as ``kind``; a ValueParseError becomes a ParseError naming row and column."""
    if kind not in _CONVERT:
        raise ValueError(f"unknown kind {kind!r}; known: {KINDS}")
    null = cells.attrs.get("nulls", {}).get(name)
    try:
        if kind in ("int", "float"):
            return _CONVERT[kind](cells[name], null=null)  # type: ignore[operator]
        return _CONVERT[kind](cells[name])
    except ValueParseError as exc:
        label = (labels or {}).get(name, str(name).upper())
        raise value_error(exc, source=source, url=url, column=label, index=index) from exc


def _assemble(cells: pd.DataFrame, converted: Mapping[str, np.ndarray | pd.Series]) -> pd.DataFrame:
    data = {
        name: (
            pd.Series(converted[name], index=cells.index)
            if isinstance(converted.get(name), np.ndarray)
            else pd.Series(converted[name].to_numpy(), index=cells.index, dtype=converted[name].dtype)
        )
        if name in converted
        else cells[name]
        for name in cells.columns
    }
    out = pd.DataFrame(data, index=cells.index)
    out.attrs = dict(cells.attrs)
    return out


def coerce(
    cells: pd.DataFrame,
    kinds: Mapping[str, str],
    *,
    source: str,
    url: str,
    labels: Mapping[str, str] | None = None,
    index: Sequence[object] | pd.Index | None = None,
) -> pd.DataFrame:
    """The asked columns of ``cells`` as the asked kinds, strictly (other columns unchanged).

    Parameters
    ----------
    cells
        A frame of this module (text cells, or typed binary columns).
    kinds
        Column -> ``text``/``int``/``float``/``bool``. Columns absent from ``cells`` are skipped
        (the caller checks what it requires).
    source, url
        Named in errors.
    labels
        Column -> name shown in errors (default the column name upper-cased, as archives print it).
    index
        Row labels for errors (default 0-based data rows).

    Returns
    -------
    pandas.DataFrame
        A new frame with the converted columns (``Int64``, ``float64``, ``boolean``, object text).

    Raises
    ------
    ParseError
        A value that does not fit the asked kind, naming source, URL, row and column.
    """
    converted = {
        name: _convert(cells, name, kind, source=source, url=url, labels=labels, index=index)
        for name, kind in kinds.items()
        if name in cells.columns
    }
    return _assemble(cells, converted)


def typed(
    cells: pd.DataFrame,
    *,
    source: str,
    url: str,
    kinds: Mapping[str, str] | None = None,
    index: Sequence[object] | pd.Index | None = None,
) -> pd.DataFrame:
    """Columns by the caller's ``kinds`` (strict), every other one by its declared type if its values fit.

    A column whose values contradict its declared type (ISDC: ``int`` holding ``POINTING``) stays
    text; its name is listed in ``attrs["type_conflicts"]``. Nothing is replaced by a default.

    Parameters
    ----------
    cells
        A frame of this module.
    source, url
        Named in errors.
    kinds
        Column -> kind the caller needs (strict, as :func:`coerce`).
    index
        Row labels for errors.

    Returns
    -------
    pandas.DataFrame
        The typed frame, ``attrs["type_conflicts"]`` listing the columns left as text.
    """
    asked = {name: kind for name, kind in (kinds or {}).items() if name in cells.columns}
    converted = {
        name: _convert(cells, name, kind, source=source, url=url, labels=None, index=index)
        for name, kind in asked.items()
    }
    conflicts = []
    for name, kind in cells.attrs.get("declared", {}).items():
        if name in asked or name not in cells.columns or kind not in ("int", "float", "bool"):
            continue
        if cells[name].dtype != object:
            continue
        if kind == "int" and cells[name].astype("string").str.match(r"[+-]?0\d").fillna(False).any():
            conflicts.append(name)  # leading zeros (ids such as 063500630010): a number would lose them
            continue
        try:
            converted[name] = _convert(cells, name, kind, source=source, url=url, labels=None, index=index)
        except ParseError:
            conflicts.append(name)
    out = _assemble(cells, converted)
    out.attrs["type_conflicts"] = conflicts
    return out


def read_cells(content: bytes, *, source: str, url: str, content_type: str | None = None) -> pd.DataFrame:
    """Cells of a FITS or VOTable answer, chosen by its bytes (:func:`sniff`).

    Raises
    ------
    ParseError
        Anything else (an HTML error page, a CSV where a table service was asked), with the start
        of the answer.
    """
    form = sniff(content)
    if form == "fits":
        return read_fits_cells(content, source=source, url=url)
    if form == "votable":
        return read_votable_cells(content, source=source, url=url, content_type=content_type)
    snippet = content[:120].decode("utf-8", "replace")
    raise ParseError(source, url, f"expected a VOTable or FITS table, got {snippet!r}")
