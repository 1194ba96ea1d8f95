"""Reading VOTable answers (TAP results, HEASARC/ISDC tables) into frames without guessing types away.

A thin front of the tabular-input layer (:mod:`scrapers.tabular`), kept for the sources that read
TAP answers (NuSTAR, XMM-Newton, ESO, INTEGRAL): cells are read as text with the layer's NULL rules
(an empty ``<TD>`` is NULL for every datatype and VOTable version; ``<VALUES null>``; leading
whitespace before the XML declaration allowed), then typed by their declared datatype where the
values fit it, by the caller's ``types`` strictly, and ``string_columns`` kept as written.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from scrapers import tabular


def read_votable(
    content: bytes,
    *,
    source: str,
    url: str,
    string_columns: tuple[str, ...] = (),
    types: Mapping[str, str] | None = None,
    content_type: str | None = None,
) -> pd.DataFrame:
    """First table of a VOTable document as a frame; lower-case column names.

    Parameters
    ----------
    content
        Response bytes.
    source, url
        Named in every error.
    string_columns
        Columns read back as text exactly as the service wrote them (ids such as ``obsid``: a
        service that types them as numbers would otherwise lose leading zeros).
    types
        Column -> ``text``/``int``/``float``/``bool`` the caller needs, applied strictly: a value
        that does not fit is a :class:`~scrapers.base.ParseError` naming row and column, whatever
        the FIELD declares (ISDC declares every FIELD ``int``).
    content_type
        The recorded HTTP ``Content-Type`` (charset).

    Returns
    -------
    pandas.DataFrame
        Declared ``int`` -> ``Int64``, ``float``/``double`` -> ``float64``, ``boolean`` ->
        ``boolean``, text -> object with ``None`` for NULL; a column whose values contradict its
        declared type stays text (``attrs["type_conflicts"]``).

    Raises
    ------
    ParseError
        A TAP error document (``QUERY_STATUS=ERROR``, with the service's message), bytes that are
        not a VOTable, a table without FIELDs or rows of the wrong width, values not fitting
        ``types``.
    """
    cells = tabular.read_votable_cells(content, source=source, url=url, content_type=content_type)
    kinds = {name: "text" for name in string_columns}
    kinds.update(types or {})
    return tabular.typed(cells, source=source, url=url, kinds=kinds)
