"""Reading VOTable answers (TAP results, HEASARC tables) into frames without guessing types away."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pandas as pd
from astropy.io.votable import parse as parse_votable

from scrapers.base import ParseError


def read_votable(content: bytes, *, source: str, url: str, string_columns: tuple[str, ...] = ()) -> pd.DataFrame:
    """First table of a VOTable document as a frame; lower-case column names.

    A TAP error document (``QUERY_STATUS=ERROR``) or bytes that are not a VOTable raise
    :class:`ParseError` with the service's own message. ``string_columns`` are read back as text
    (ids such as ``obsid``): a service that types them as numbers would otherwise lose leading
    zeros.
    """
    head = content[:2048].lstrip().lower()
    if not head.startswith(b"<?xml") and b"<votable" not in head:
        snippet = content[:120].decode("utf-8", "replace")
        raise ParseError(source, url, f"expected a VOTable, got {snippet!r}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            vot = parse_votable(io.BytesIO(content), verify="ignore")
    except Exception as exc:  # astropy raises many types for broken XML
        raise ParseError(source, url, f"unreadable VOTable: {exc}") from exc
    for resource in vot.resources:
        for info in resource.infos:
            if info.name == "QUERY_STATUS" and str(info.value).upper() == "ERROR":
                raise ParseError(source, url, f"service error: {(info.content or '').strip()}")
    for info in vot.infos:
        if info.name == "QUERY_STATUS" and str(info.value).upper() == "ERROR":
            raise ParseError(source, url, f"service error: {(info.content or '').strip()}")
    try:
        table = vot.get_first_table().to_table(use_names_over_ids=True)
    except (IndexError, ValueError) as exc:
        raise ParseError(source, url, "VOTable has no table") from exc
    table.convert_bytestring_to_unicode()  # fixed-width char columns, vectorised
    frame = table.to_pandas()
    frame.columns = [str(c).lower() for c in frame.columns]
    for name in string_columns:
        if name in frame.columns:
            frame[name] = _as_text(frame[name])
    return frame


def _decode(value: object) -> object:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _as_text(series: pd.Series) -> pd.Series:
    if pd.api.types.is_integer_dtype(series.dtype):
        return series.astype("Int64").astype("string").astype(object)
    if pd.api.types.is_float_dtype(series.dtype):
        ints = series.to_numpy(dtype="float64")
        text = pd.Series(np.char.mod("%d", np.nan_to_num(ints)), index=series.index, dtype=object)
        return text.where(series.notna(), None)
    return series.map(_decode, na_action="ignore").astype(object)
