"""HEASARC's TAP service: as-flown records of NuSTAR, XMM-Newton and INTEGRAL.

Only request builders live here; each mission module parses its own table (numaster, xmmmaster, intscw)
through the one tabular-input layer, :mod:`scrapers.tabular` (VOTable of any version with empty cells
NULL, FITS ASCII/binary tables with TNULL, CSV), usually via :func:`scrapers.votable_io.read_votable`.
"""

from __future__ import annotations

from scrapers.base import Request

#: HEASARC Xamin TAP service (sources.md).
HEASARC_TAP = "https://heasarc.gsfc.nasa.gov/xamin/vo/tap"


def tap_request(source: str, name: str, adql: str) -> Request:
    """A TAP sync query against HEASARC, archived and replayed like any page."""
    return Request(source=source, name=name, url=HEASARC_TAP, method="POST", kind="tap", query=adql)
