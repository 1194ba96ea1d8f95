"""INTEGRAL: ISOC schedule listings (HTML and CSV) and performed science windows.

INTEGRAL ended science observations on 2025-02-28 (``END_OF_SCIENCE``); its schedule is history
since. The harvest asks ISOC for the schedule of a revolution range (the whole mission up to the
revolution after as-of, or the last one) in both forms, and HEASARC for the science windows of
the year before min(as-of, end of science).

Layout of the listings (sources.md, "Evidence of the live layouts"; :data:`LAYOUTS`)
------------------------------------------------------------------------------------
* Requests: ``schedule.html?action=schedule&startRevno=N&endRevno=M&reverseSort=&format=csv``
  (CSV: ids 33886144196, 33961128571, 38325047964) and
  ``schedule.html?selectMode=rev&action=schedule&startRevno=N&endRevno=M`` (HTML: id 8932510205).
  ``selectMode=date&startDate=YYYY-MM-DD&endDate=...`` (id 5670910451) and ``action=intro``
  ("Schedule for current revolution (N)", id 34234265947; :func:`current_revolution`) exist too.
* CSV: 12 fields, every one double-quoted, header included; by position 0 revolution, 1 start,
  2 end, 3 duration (s), 4 target, 5 RA, 6 Dec (sexagesimal), 7 dither pattern (``5x5``/``HEX``,
  first word: the xsats-era script cuts the field at the first blank), 8 PI, 9 proposal id,
  10 observation id. **The 12th field is not described by any evidence**: it is kept as text
  (``extra``) and not interpreted. Times ``Y-m-d H:i:s.u`` (fractional seconds).
* HTML: the schedule is the **last** ``<table>``, header ``<th>Rev</th>``, cells with classes
  ``number``/``current`` (``current`` marks the current revolution's rows: ``current`` in the
  frame), the same 12 cells in the same order (the Go scraper reads 12 cells, cell 7 a link);
  ToO rows hold ``<div class="too">`` (``too`` in the frame; the xsats script shows the div
  adds two lines before the target text, so it is read as wrapping the target); the pattern cell
  is a ``javascript:`` link whose first quoted string is the pattern page. HTML times are whole
  seconds. A row of one cell (the map under the intro page's table) is not an observation.
* Header texts beyond ``Rev`` are **not** evidenced. Columns are therefore located in two steps:
  a header that matches a field's synonyms (:data:`FIELD_HEADERS`, compared by
  :func:`html_tables.normalise_header`) places that field where the header is; every other field
  takes its **evidenced position** (a declared fallback, recorded in ``attrs["located_by"]``).
  Then every column is checked by the **shape** of its values (:data:`SHAPES`: revolution an
  integer, start/end ISO times, duration a number, RA/Dec sexagesimal, pattern in
  :data:`PATTERNS`, ids digits) and a column that does not fit is refused with its row, position,
  header and value -- a shifted or renamed layout is never read into the wrong fields.
* The named-header layout of the first reconstruction (``RA (deg)``, ``Dec (deg)``,
  ``Proposer``, ``Observation``; no evidence) is still read when its headers are all present
  (variants ``*-named-legacy``), for archives made with it.

Documented interpretations
--------------------------
* ``obs_id`` = the digits of the observation-id cell (``21200090004``, the 11-digit ``OBS_ID`` of
  the science-window tables; ``2120009 / 0004`` gives the same digits). The text form of the real
  cell is not evidenced. The cell is kept (``x_integral_observation``), so are the revolution,
  proposal id and dither pattern.
* One observation can be listed in several revolutions: the real science windows of
  ``07200060001`` span revolutions 876-949, ``01200230006`` 148-149 (ISDC 3c273 recording). Rows
  sharing an id are merged by :func:`scrapers.identity.merge_duplicate_ids` when they name the
  same target at the same position (60"): start = first start, end = last end, duration summed,
  revolution = first, ToO if any part is; otherwise a ParseError names both rows. Identical
  repeated rows (same id, start and end) count once.
* Rows ending before the harvest time are Performed (executed revolutions), later ones
  Scheduled. Before the end of science a listing with nothing after as-of is an error; after it,
  that is the expected answer.
* Science windows (HEASARC ``intscw``, ISDC ``integral_rev3_scw``) are read by the tabular layer
  (:mod:`scrapers.tabular`: empty cells NULL for every datatype and VOTable version, ISDC's
  all-``int`` declarations read as text, ASCII FITS from the raw bytes). Pointings with an
  ``OBS_ID`` are aggregated per observation: t_min = first start, t_max = last end, t_exptime =
  sum of ``GOOD_ISGRI``; **when every window leaves ``GOOD_ISGRI`` blank: the listed duration,
  else the summed pointing durations** (never 0). A window listing several ids (``a,b,c(C)``)
  counts for each. Slews, engineering windows and windows without ``OBS_ID`` are left out.
* IBIS defines a row's coverage (``instrument_name`` IBIS, ``em_*`` 15 keV-10 MeV,
  ``s_resolution`` 12'); SPI, JEM-X and OMC facts are in :data:`INSTRUMENTS`, their good times
  kept per row (``x_integral_good_<instrument>_s``).
* ``s_region``: one circle around the unit-vector mean of the pointing directions, radius =
  largest pointing offset + 4.5 deg (half the IBIS fully coded field); ``s_fov`` twice that.
  Rows without science windows get the 4.5 deg circle around the listed position.
* ``category`` ``Other`` (ObsLocTAP has no ToO category; NuSTAR maps ToO the same way);
  ``priority`` 2 for ToO observations (``<div class="too">`` in the listing or ``OBS_TYPE``
  ``TOO``), else 1; ``x_integral_too`` says which; ``tracking_type`` ``Sidereal``.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import lxml.html
import numpy as np
import pandas as pd

from models import coords
from models.errors import ValueParseError
from models.facilities import INTEGRAL as INTEGRAL_FACTS
from models.regions import circle_stcs
from models.timeutil import check_mjd, mjd_from_date, mjd_from_datetime, mjd_from_iso
from models.units import kev_band_to_em
from scrapers import html_tables, tabular
from scrapers import text as text_layer
from scrapers.base import ParseError, Request, Source, value_error
from scrapers.heasarc import HEASARC_TAP, tap_request
from scrapers.identity import merge_duplicate_ids

NAME = "integral"
FACILITY = "INTEGRAL"
#: ISOC "Target and Scheduling Information" (query parameters: see the module docstring).
SCHEDULE_URL = "https://integral.esac.esa.int/isocweb/schedule.html"
#: Last day of science observations.
END_OF_SCIENCE = dt.date(2025, 2, 28)
#: Days of science windows asked from HEASARC before min(as-of, end of science).
SCW_LOOKBACK_DAYS = 365
#: Plausible times of any INTEGRAL record: launch (2002-10-17) to the end of science (inclusive),
#: MJD UTC; from :data:`models.facilities.INTEGRAL`. A time outside is a ParseError at parse time.
MISSION_MJD = (
    mjd_from_date(INTEGRAL_FACTS.start),
    mjd_from_date(END_OF_SCIENCE + dt.timedelta(days=1)),
)
#: Slack of a duration over its start..end span (s), as models.validate.EXPTIME_TOLERANCE_S.
DURATION_SLACK_S = 60.0
#: Largest pointing offset from an observation's centre (deg): the coverage circle (offset + 4.5)
#: then stays within the 180 deg field models.facilities allows INTEGRAL rows.
MAX_POINTING_OFFSET_DEG = 85.5

#: Layout variant id -> description with its evidence (sources.md "Evidence of the live layouts").
LAYOUTS: dict[str, str] = {
    "csv-quoted-12col": (
        "CSV, 12 double-quoted fields incl. the header; by position rev, start, end, duration (s), target, "
        "RA, Dec (sexagesimal), pattern (5x5/HEX), PI, proposal id, observation id, 12th undescribed; "
        "times Y-m-d H:i:s.u (ids 33886144196, 33961128571, 38325047964)"
    ),
    "html-last-table": (
        "HTML, the last <table>, header <th>Rev</th>, 12 cells per row in the CSV order, classes "
        'number/current, ToO rows with <div class="too">, pattern cell a javascript link '
        "(ids 8932510205, 34234265947; rubyvanrooyen/xsats readINTEGRALwebdata.py)"
    ),
    "csv-named-legacy": (
        "CSV with the named headers of the first reconstruction (Rev ... RA (deg), Dec (deg), PI, Proposer, "
        "Observation): no evidence, read for archives made with it"
    ),
    "html-named-legacy": "HTML table with the named headers of the first reconstruction: no evidence, as above",
    "scw-votable": "science windows as a VOTable (HEASARC TAP / W3Browse 1.0, ISDC 1.1 with int FIELDs), any version",
    "scw-fits-ascii": "science windows as a FITS ASCII table (HEASARC intscw; ISDC integral_rev3_scw, all TFORM I)",
    "scw-fits-binary": "science windows as a FITS binary table",
}

#: Request name -> form. ``executed``/``current``/``future`` (+ ``_csv``) are the request names of
#: archives made before the evidenced parameters were known; they are still parsed.
LISTING_REQUESTS: dict[str, str] = {
    "schedule": "html",
    "schedule_csv": "csv",
    **{k: "html" for k in ("executed", "current", "future")},
    **{f"{k}_csv": "csv" for k in ("executed", "current", "future")},
}
SCW_REQUESTS = ("intscw", "integral_rev3_scw")

#: Revolution clock fitted on the real science windows of the recordings (first pointing of each
#: revolution, revs 1600-2771): rev 2771 began by MJD 60427.35, 2.6595 d per revolution since
#: the 2015 orbit change. Used only to choose the revolution range of the requests (with margin).
_REV_ANCHOR = (2771, 60427.35)
_REV_DAYS = 2.6595
_REV_MARGIN = 3


@dataclass(frozen=True)
class Instrument:
    """Facility metadata of one INTEGRAL instrument (sources.md); s_fov a diameter in degrees."""

    name: str
    em_min: float
    em_max: float
    s_fov: float
    s_resolution: float | None


_IBIS_EM = kev_band_to_em(15.0, 10_000.0)
_SPI_EM = kev_band_to_em(20.0, 8_000.0)
_JEMX_EM = kev_band_to_em(3.0, 35.0)

#: Resolution in arcsec. OMC: Johnson V band taken as 500-600 nm; 5x5 deg field as its inscribed
#: 5 deg circle; no resolution given by the sources.
INSTRUMENTS: dict[str, Instrument] = {
    "IBIS": Instrument("IBIS", _IBIS_EM[0], _IBIS_EM[1], 9.0, 12.0 * 60.0),
    "SPI": Instrument("SPI", _SPI_EM[0], _SPI_EM[1], 16.0, 2.5 * 3600.0),
    "JEM-X": Instrument("JEM-X", _JEMX_EM[0], _JEMX_EM[1], 4.8, 3.0 * 60.0),
    "OMC": Instrument("OMC", 500e-9, 600e-9, 5.0, None),
}
#: The instrument whose coverage an obsplan row describes.
COVERAGE_INSTRUMENT = "IBIS"

#: Fields of the evidenced layout in their evidenced order (position = index); ``extra`` is the
#: undescribed 12th column.
EVIDENCED_ORDER = (
    "rev",
    "start",
    "end",
    "duration",
    "target",
    "ra",
    "dec",
    "pattern",
    "pi",
    "proposal",
    "observation",
    "extra",
)
#: Header texts that locate a field when the page has them (none but ``Rev`` is evidenced).
FIELD_HEADERS: dict[str, tuple[str, ...]] = {
    "rev": ("rev", "revolution", "revno", "rev no"),
    "start": ("start", "start time", "start time utc", "start date", "obs start"),
    "end": ("end", "end time", "end time utc", "end date", "obs end"),
    "duration": ("duration", "duration s", "exp time s", "exposure", "exposure s", "exp time"),
    "target": ("target", "target name", "source", "object"),
    "ra": ("ra", "ra j2000", "ra hh mm ss"),
    "dec": ("dec", "dec j2000", "dec dd mm ss"),
    "pattern": ("pattern", "dither", "dither pattern"),
    "pi": ("pi", "pi name"),
    "proposal": ("proposal", "proposal id", "prop id", "proposal no"),
    "observation": ("observation", "observation id", "obs id", "obsid"),
}
#: Dither patterns: ``5x5`` and ``HEX`` are evidenced (38325047964); ``staring`` is INTEGRAL's third
#: dither mode (AO documentation), not seen in a listing.
PATTERNS = ("5x5", "hex", "staring")
_SEXA = r"\d{1,2}[: ]\d{1,2}[: ]\d{1,2}(?:\.\d*)?"
#: Field -> (regular expression every non-empty cell must match, what it means).
SHAPES: dict[str, tuple[str, str]] = {
    "rev": (r"\d{1,5}", "a revolution number"),
    "start": (r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(?:\.\d+)?", "an ISO time"),
    "end": (r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(?:\.\d+)?", "an ISO time"),
    "duration": (r"\d+(?:\.\d*)?", "a duration in seconds"),
    "ra": (_SEXA, "a sexagesimal RA"),
    "dec": (r"[+-]?" + _SEXA, "a sexagesimal Dec"),
    "pattern": (r"(?i)(?:" + "|".join(PATTERNS) + r")(?:\s.*)?", f"a dither pattern {PATTERNS}"),
    "proposal": (r"\d{1,7}", "a proposal id"),
    "observation": (r"\d{11}|\d{1,7}\s*/\s*\d{1,4}", "an observation id"),
}
#: Fields that may not be empty in a listing row.
REQUIRED_CELLS = ("rev", "start", "end", "duration", "ra", "dec", "observation")

#: Named headers of the first reconstruction (legacy variants).
LEGACY_HEADERS: dict[str, tuple[str, ...]] = {
    "rev": ("rev", "revolution", "revn"),
    "start": ("start time utc", "start time", "start"),
    "end": ("end time utc", "end time", "end"),
    "duration": ("exp time s", "exposure time s", "exp time", "exposure s"),
    "target": ("target", "target name"),
    "ra": ("ra j2000",),
    "dec": ("dec j2000",),
    "ra_deg": ("ra deg",),
    "dec_deg": ("dec deg",),
    "pi": ("pi",),
    "proposer": ("proposer",),
    "observation": ("observation", "observation id", "obs id"),
}
_LEGACY_OPTIONAL: dict[str, tuple[str, ...]] = {"status": ("status", "st", "s", "stat")}

#: Science-window columns (lower case); ISDC names on the left are synonyms.
SCW_SYNONYMS = {"ra_x": "ra", "dec_x": "dec", "dsize": "data_size"}
SCW_REQUIRED = ("scw_id", "scw_type", "ra", "dec", "start_date", "end_date", "obs_id", "good_isgri")
SCW_TEXT = ("scw_id", "scw_ver", "scw_type", "obs_id", "obs_type", "pi_name", "status", "ps")
SCW_NUMBERS = ("ra", "dec", "good_spi", "good_isgri", "good_picsit", "good_jemx1", "good_jemx2", "good_omc")
SCW_TIMES = ("start_date", "end_date")
GOOD_COLUMNS = {"spi": "good_spi", "jemx1": "good_jemx1", "jemx2": "good_jemx2", "omc": "good_omc"}


# --------------------------------------------------------------------------------------- requests
def revolution_estimate(day: dt.date) -> int:
    """Revolution running on ``day`` by the clock fitted on real science windows (+-2 revolutions).

    Parameters
    ----------
    day
        A UTC date after the 2015 orbit change.

    Returns
    -------
    int
        The estimated revolution number (only used to bound request ranges, with a margin).
    """
    mjd = mjd_from_datetime(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC))
    return int(_REV_ANCHOR[0] + np.floor((mjd - _REV_ANCHOR[1]) / _REV_DAYS))


def requests(as_of: dt.date) -> list[Request]:
    """The ISOC schedule (HTML and CSV) of revolutions 1..after as-of, and HEASARC intscw for a year.

    The range ends a few revolutions after as-of (or after the end of science): a range past the
    last revolution only lists what exists. The science windows cover the year before
    min(as-of, end of science).
    """
    last_day = min(as_of + dt.timedelta(days=7), END_OF_SCIENCE + dt.timedelta(days=1))
    end_rev = str(revolution_estimate(last_day) + _REV_MARGIN)
    html_params = (
        ("selectMode", "rev"),
        ("action", "schedule"),
        ("startRevno", "1"),
        ("endRevno", end_rev),
    )
    csv_params = (
        ("action", "schedule"),
        ("startRevno", "1"),
        ("endRevno", end_rev),
        ("reverseSort", ""),
        ("format", "csv"),
    )
    out = [
        Request(source=NAME, name="schedule", url=SCHEDULE_URL, params=html_params),
        Request(source=NAME, name="schedule_csv", url=SCHEDULE_URL, params=csv_params),
    ]
    last = min(as_of, END_OF_SCIENCE + dt.timedelta(days=1))
    hi = mjd_from_datetime(dt.datetime(last.year, last.month, last.day, tzinfo=dt.UTC))
    adql = (
        "SELECT scw_id, scw_type, ra, dec, start_date, end_date, obs_id, obs_type, pi_name, "
        "good_spi, good_isgri, good_picsit, good_jemx1, good_jemx2, good_omc FROM intscw "
        f"WHERE end_date > {hi - SCW_LOOKBACK_DAYS:.1f} AND start_date < {hi:.1f}"
    )
    out.append(tap_request(NAME, "intscw", adql))
    return out


def current_revolution(content: bytes, url: str, content_type: str | None = None) -> int | None:
    """The revolution the ``action=intro`` page links ("Schedule for current revolution (N)").

    Returns ``None`` when the page has no such link (after the end of the mission);
    a link whose number is not an integer raises :class:`ParseError`.
    """
    page = text_layer.decode(content, source=NAME, url=url, content_type=content_type)
    found = re.search(r"Schedule for current revolution\s*\(([^)]*)\)", page)
    if found is None:
        return None
    if not found.group(1).strip().isdigit():
        raise ParseError(NAME, url, f"current revolution is not a number: {found.group(1)!r}")
    return int(found.group(1))


# --------------------------------------------------------------------------------------- listings
def _no_layout(url: str, detail: str, found: list[str] | None) -> ParseError:
    return ParseError(
        NAME, url, f"the listing matches no known layout ({detail}); layouts known: {sorted(LAYOUTS)}", found=found
    )


def _locate(headers: list[str], width: int, url: str) -> tuple[dict[str, int], dict[str, str]]:
    """Field -> column position for the evidenced layout, and how each was found (header/position)."""
    if width < len(EVIDENCED_ORDER) - 1:
        raise _no_layout(url, f"{width} columns, the evidenced layout has 12", headers)
    norm = [html_tables.normalise_header(h) for h in headers] + [""] * max(0, width - len(headers))
    bare = [html_tables.strip_unit(h) for h in norm]
    pos: dict[str, int] = {}
    how: dict[str, str] = {}
    for name, synonyms in FIELD_HEADERS.items():
        wanted = {html_tables.normalise_header(s) for s in synonyms}
        hits = [k for k, h in enumerate(norm) if h in wanted] or [k for k, h in enumerate(bare) if h in wanted]
        if len(hits) > 1:
            raise _no_layout(url, f"{len(hits)} headers match {name!r}", headers)
        if hits:
            pos[name], how[name] = hits[0], "header"
    for k, name in enumerate(EVIDENCED_ORDER):
        if name in pos or k >= width:
            continue
        if k in pos.values():
            taken = next(n for n, p in pos.items() if p == k)
            raise _no_layout(
                url, f"column {k} is {name!r} by the evidenced order but its header names {taken!r}", headers
            )
        pos[name], how[name] = k, "position"
    return pos, how


def _check_shapes(raw: pd.DataFrame, layout: str, url: str, headers: list[str], pos: dict[str, int]) -> None:
    """Refuse a layout whose columns do not hold the values their fields must hold."""
    for name, (pattern, what) in SHAPES.items():
        if name not in raw:
            continue
        cells = raw[name].astype("string")
        fits_ = cells.str.fullmatch(pattern).fillna(True).to_numpy(dtype=bool)
        if not fits_.all():
            i = int(np.flatnonzero(~fits_)[0])
            k = pos.get(name)
            header = headers[k] if k is not None and k < len(headers) else ""
            raise ParseError(
                NAME,
                url,
                f"layout {layout}: column {k} (header {header!r}) should hold {what} ({name}), "
                f"found {raw[name].iloc[i]!r}; layouts known: {sorted(LAYOUTS)}",
                row=int(raw.index[i]),
                column=header or name,
                found=headers,
            )
    for name in REQUIRED_CELLS:
        if name in raw:
            empty = raw[name].isna().to_numpy()
            if empty.any():
                i = int(np.flatnonzero(empty)[0])
                raise ParseError(NAME, url, f"empty {name} cell", row=int(raw.index[i]), column=name, found=headers)


def _select(grid: pd.DataFrame, headers: list[str], url: str, form: str) -> pd.DataFrame:
    """Canonical text columns of a listing grid (integer-labelled columns), with its layout in attrs."""
    try:
        legacy = html_tables.match_columns(
            headers, LEGACY_HEADERS | _LEGACY_OPTIONAL, required=LEGACY_HEADERS, source=NAME, url=url
        )
    except ParseError:
        legacy = None
    if legacy is not None:
        layout = f"{form}-named-legacy"
        pos, how = legacy, dict.fromkeys(legacy, "header")
    else:
        layout = "csv-quoted-12col" if form == "csv" else "html-last-table"
        pos, how = _locate(headers, grid.shape[1], url)
    raw = pd.DataFrame({name: grid[k] for name, k in pos.items()}, index=grid.index)
    _check_shapes(raw, layout, url, headers, pos)
    raw.attrs.update(
        layout=layout,
        headers=headers,
        located_by=how,
        header_of={n: (headers[k] if k < len(headers) else "") for n, k in pos.items()},
    )
    return raw


def read_listing_csv(content: bytes, url: str, content_type: str | None = None) -> pd.DataFrame:
    """Text cells of the CSV form of a listing, canonical column names, 0-based data rows."""
    head = content[:512].lstrip().lower()
    if not head:
        raise ParseError(NAME, url, "empty response instead of a CSV listing")
    if head.startswith((b"<!doctype", b"<html", b"<?xml")):
        raise ParseError(NAME, url, "expected a CSV listing, got an HTML/XML page")
    cells = tabular.read_csv_cells(content, source=NAME, url=url, content_type=content_type)
    headers = list(cells.attrs["headers"])
    if not headers:
        raise ParseError(NAME, url, "CSV listing has no header line")
    return _select(cells, headers, url, "csv")


_TOO_XPATH = ".//div[contains(concat(' ', normalize-space(@class), ' '), ' too ')]"


def _cell_text(element: lxml.html.HtmlElement) -> str:
    return " ".join(element.text_content().split())


def read_listing_html(content: bytes, url: str, content_type: str | None = None) -> pd.DataFrame:
    """Text cells of the schedule table (the page's last ``<table>``), 0-based data rows.

    Besides the fields: ``too`` (the row holds ``<div class="too">``), ``current`` (a cell of
    class ``current``) and ``pattern_url`` (the page a ``javascript:`` pattern link opens).
    A table with its header and no rows is returned empty (the caller decides if it may be).
    """
    doc = html_tables.parse_html(content, source=NAME, url=url, content_type=content_type)
    tables = doc.xpath("//table")
    if not tables:
        raise ParseError(NAME, url, "no schedule table: the page has no <table>", found=[])
    table = tables[-1]
    trs = table.xpath("./tr | ./thead/tr | ./tbody/tr | ./tfoot/tr")
    head_at = next((k for k, tr in enumerate(trs) if tr.xpath("./th")), None)
    if head_at is None:
        found = [f"#{t.index}: {list(t.headers)}" for t in html_tables.read_tables(content, source=NAME, url=url)]
        raise ParseError(NAME, url, "no schedule table: the last <table> has no header row", found=found)
    headers = [_cell_text(c) for c in trs[head_at].xpath("./th | ./td")]
    if "rev" not in {html_tables.normalise_header(h) for h in headers}:
        raise ParseError(NAME, url, "no schedule table: the last <table> has no 'Rev' header", found=headers)
    rows, too, current, links, labels = [], [], [], [], []
    for tr in trs[head_at + 1 :]:
        tds = tr.xpath("./td | ./th")
        texts = [_cell_text(td) for td in tds]
        if len(tds) <= 1 or not any(texts) or tr.xpath("./th"):
            continue  # the map row under the table, separators, repeated headers
        if len(tds) != len(headers):
            raise ParseError(
                NAME,
                url,
                f"{len(tds)} cells where the header has {len(headers)}: {texts}",
                row=len(rows),
                found=headers,
            )
        divs = tr.xpath(_TOO_XPATH)
        if divs:
            for td_k, td in enumerate(tds):
                if td.xpath(_TOO_XPATH):
                    marker = " ".join(" ".join(d.text_content().split()) for d in td.xpath(_TOO_XPATH))
                    if marker.lower() in ("too", "t.o.o.") and texts[td_k] != marker:
                        texts[td_k] = " ".join(texts[td_k].replace(marker, "", 1).split())
        href = next((a.get("href", "") for a in tr.xpath(".//a[starts-with(@href, 'javascript')]")), "")
        quoted = re.search(r"'([^']*)'", href)
        classes = " ".join(td.get("class", "") for td in tds).split()
        rows.append(texts)
        too.append(bool(divs))
        current.append("current" in classes)
        links.append(quoted.group(1) if quoted else None)
        labels.append(len(labels))
    width = len(headers)
    grid = (
        pd.DataFrame(rows, columns=range(width), dtype=object)
        if rows
        else pd.DataFrame(columns=range(width), dtype=object)
    )
    grid = grid.where(grid.ne("").fillna(False), None) if rows else grid
    raw = _select(grid, headers, url, "html")
    raw["too"] = np.array(too, dtype=bool)
    raw["current"] = np.array(current, dtype=bool)
    raw["pattern_url"] = pd.Series(links, index=raw.index, dtype=object)
    return raw


def _text_col(raw: pd.DataFrame, key: str) -> pd.Series:
    if key not in raw:
        return pd.Series([None] * len(raw), index=raw.index, dtype=object)
    text = raw[key].astype("string").str.strip()
    return text.astype(object).where(text.ne("").fillna(False), None)


def _wrap(exc: ValueParseError, url: str, raw: pd.DataFrame, key: str) -> ParseError:
    label = raw.attrs.get("header_of", {}).get(key) or key
    return value_error(exc, source=NAME, url=url, column=label, index=raw.index, found=raw.attrs.get("headers"))


def listing_frame(raw: pd.DataFrame, url: str, listing: str) -> pd.DataFrame:
    """Typed source frame of one listing: one row per observation (parts in several revolutions merged).

    Columns: ``rev`` (int, first revolution), ``obs_id`` (digits of the observation id),
    ``observation`` (the cell), ``t_min``/``t_max`` (MJD UTC), ``exptime_s``, ``target``,
    ``ra``/``dec`` (deg), ``pi``, ``proposal``, ``proposer``, ``pattern``, ``status_letter``, ``too``,
    ``current``, ``extra`` (the undescribed 12th column), ``listing``. ``attrs``: ``layout``,
    ``empty_listing``.
    """
    out = pd.DataFrame(index=raw.index)
    try:
        rev = tabular.to_int(raw["rev"]).to_numpy(dtype="float64", na_value=np.nan)
    except ValueParseError as exc:
        raise _wrap(exc, url, raw, "rev") from exc
    out["rev"] = np.nan_to_num(rev).astype("int64")
    obs = _text_col(raw, "observation")
    out["obs_id"] = obs.astype("string").str.replace(r"[\s/]", "", regex=True).astype(object)
    bad = ~out["obs_id"].astype("string").str.fullmatch(r"\d+").fillna(False).to_numpy(dtype=bool)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ParseError(
            NAME,
            url,
            f"not an observation id: {raw['observation'].iloc[i]!r}",
            row=int(raw.index[i]),
            column="Observation",
        )
    out["observation"] = obs
    for key, col in (("start", "t_min"), ("end", "t_max")):
        try:
            out[col] = mjd_from_iso(raw[key], valid=MISSION_MJD)
        except ValueParseError as exc:
            raise _wrap(exc, url, raw, key) from exc
    order = (out["t_max"] < out["t_min"]).to_numpy()
    if order.any():
        i = int(np.flatnonzero(order)[0])
        raise ParseError(NAME, url, "observation ends before it starts", row=int(raw.index[i]))
    try:
        out["exptime_s"] = tabular.to_float(raw["duration"])
    except ValueParseError as exc:
        raise _wrap(exc, url, raw, "duration") from exc
    negative = (out["exptime_s"] < 0).to_numpy()
    if negative.any():
        i = int(np.flatnonzero(negative)[0])
        raise ParseError(NAME, url, "negative duration", row=int(raw.index[i]), column="duration")
    span = (out["t_max"] - out["t_min"]).to_numpy() * 86_400.0
    longer = out["exptime_s"].to_numpy() > span + DURATION_SLACK_S
    if longer.any():
        i = int(np.flatnonzero(longer)[0])
        raise ParseError(
            NAME,
            url,
            f"duration {out['exptime_s'].iloc[i]:g} s longer than start..end ({span[i]:.0f} s)",
            row=int(raw.index[i]),
            column=raw.attrs.get("header_of", {}).get("duration") or "duration",
        )
    out["target"] = _text_col(raw, "target")
    try:
        ra_s = coords.parse_ra(raw["ra"])
    except ValueParseError as exc:
        raise _wrap(exc, url, raw, "ra") from exc
    try:
        dec_s = coords.parse_dec(raw["dec"])
    except ValueParseError as exc:
        raise _wrap(exc, url, raw, "dec") from exc
    if "ra_deg" in raw:  # legacy variant: decimal columns checked against the sexagesimal ones
        try:
            ra_d, dec_d = coords.parse_ra(raw["ra_deg"]), coords.parse_dec(raw["dec_deg"])
        except ValueParseError as exc:
            raise _wrap(exc, url, raw, "ra_deg") from exc
        dra = np.abs(((ra_s - ra_d + 180.0) % 360.0) - 180.0) * np.cos(np.deg2rad(dec_d))
        mismatch = ~(np.hypot(dra, dec_s - dec_d) * 3600.0 < 5.0)
        if mismatch.any():
            i = int(np.flatnonzero(mismatch)[0])
            raise ParseError(
                NAME, url, "RA/Dec (J2000) and RA/Dec (deg) disagree by more than 5 arcsec", row=int(raw.index[i])
            )
        ra_s, dec_s = ra_d, dec_d
    out["ra"], out["dec"] = ra_s, dec_s
    out["pi"] = _text_col(raw, "pi")
    out["proposal"] = _text_col(raw, "proposal")
    out["proposer"] = _text_col(raw, "proposer")
    pattern = _text_col(raw, "pattern").astype("string").str.split().str[0].str.upper()
    out["pattern"] = pattern.str.replace("5X5", "5x5").astype(object).where(pattern.notna(), None)
    out["status_letter"] = _text_col(raw, "status")
    out["too"] = raw["too"].to_numpy(dtype=bool) if "too" in raw else False
    out["current"] = raw["current"].to_numpy(dtype=bool) if "current" in raw else False
    out["extra"] = _text_col(raw, "extra")
    out["listing"] = listing
    out = _merge_parts(out, url)
    out = out.reset_index(drop=True)
    out.attrs.update(layout=raw.attrs.get("layout"), empty_listing=out.empty, headers=raw.attrs.get("headers"))
    return out


def _merge_parts(frame: pd.DataFrame, url: str) -> pd.DataFrame:
    """One row per observation: identical repeats dropped, parts in several revolutions merged."""
    frame = frame[~frame.duplicated(["obs_id", "t_min", "t_max"])]
    return merge_duplicate_ids(
        frame,
        "obs_id",
        source=NAME,
        url=url,
        same=("target",),
        ra="ra",
        dec="dec",
        combine={"t_min": "min", "t_max": "max", "exptime_s": "sum", "rev": "min", "too": "max", "current": "max"},
    )


# --------------------------------------------------------------------------------- science windows
def read_scw_table(content: bytes, url: str, source: str = NAME, content_type: str | None = None) -> pd.DataFrame:
    """Science windows from a HEASARC/ISDC FITS table or a (TAP / W3Browse / ISDC) VOTable.

    Read by :mod:`scrapers.tabular` (NULL = empty cell for every datatype and VOTable version;
    declared types ignored). Columns: ``scw_id``/``obs_id`` strings, ``scw_type`` lower case,
    ``ra``/``dec`` deg, ``start_date``/``end_date`` MJD UTC (from MJD numbers or ISO strings),
    ``good_*`` seconds (NaN = blank), ``rev``.
    """
    cells = tabular.read_cells(content, source=source, url=url, content_type=content_type)
    cells = cells.rename(columns={c: SCW_SYNONYMS.get(c, c) for c in cells.columns})
    missing = [c for c in SCW_REQUIRED if c not in cells.columns]
    if missing:
        raise ParseError(NAME, url, f"science-window columns missing: {missing}", column=missing[0], found=list(cells))
    kinds = {c: "text" for c in SCW_TEXT} | {c: "float" for c in SCW_NUMBERS}
    frame = tabular.coerce(cells, kinds, source=NAME, url=url)
    out = pd.DataFrame(index=frame.index)
    for col in SCW_TEXT:
        if col in frame:
            out[col] = frame[col]
    out["scw_type"] = out["scw_type"].astype("string").str.lower().astype(object).where(out["scw_type"].notna(), None)
    bad_id = ~out["scw_id"].astype("string").str.fullmatch(r"\d{12}").fillna(False).to_numpy(dtype=bool)
    if bad_id.any():
        i = int(np.flatnonzero(bad_id)[0])
        raise ParseError(NAME, url, f"SCW_ID {cells['scw_id'].iloc[i]!r} is not 12 digits", row=i, column="SCW_ID")
    for col in SCW_NUMBERS:
        if col in frame:
            out[col] = frame[col].to_numpy(dtype="float64")
    for col in ("ra", "dec"):
        try:
            out[col] = coords.wrap_ra(out[col]) if col == "ra" else coords.check_dec(out[col])
        except ValueParseError as exc:
            raise value_error(exc, source=NAME, url=url, column=col.upper()) from exc
    for col in SCW_TIMES:
        out[col] = _scw_times(cells[col], url, col)
    _check_pointings(out, url)
    out["rev"] = out["scw_id"].astype("string").str.slice(0, 4).astype("int64")
    for col in SCW_TEXT:
        if col in out:
            out[col] = pd.Series(out[col].to_numpy(dtype=object), index=out.index, dtype=object)
            out[col] = out[col].where(out[col].notna(), None)
    out.attrs["format"] = cells.attrs.get("format")
    out.attrs["layout"] = f"scw-{cells.attrs.get('format')}"
    return out.reset_index(drop=True)


def _check_pointings(out: pd.DataFrame, url: str) -> None:
    """Pointings of an observation need position and times, in order, and ISGRI time within them."""
    obs = (out["scw_type"].astype("string").eq("pointing") & out["obs_id"].notna()).fillna(False).to_numpy(dtype=bool)
    for col in ("ra", "dec", "start_date", "end_date"):
        missing = obs & np.isnan(out[col].to_numpy(dtype="float64"))
        if missing.any():
            i = int(np.flatnonzero(missing)[0])
            raise ParseError(NAME, url, "pointing of an observation without a value", row=i, column=col.upper())
    span = (out["end_date"] - out["start_date"]).to_numpy(dtype="float64") * 86_400.0
    reversed_ = span < 0
    if reversed_.any():
        i = int(np.flatnonzero(reversed_)[0])
        raise ParseError(NAME, url, "science window ends before it starts", row=i, column="END_DATE")
    good = out["good_isgri"].to_numpy(dtype="float64")
    with np.errstate(invalid="ignore"):
        bad = (good < 0) | (good > span + DURATION_SLACK_S)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ParseError(
            NAME,
            url,
            f"GOOD_ISGRI {good[i]:g} s outside 0..window length ({span[i]:.0f} s)",
            row=i,
            column="GOOD_ISGRI",
        )


def _scw_times(values: pd.Series, url: str, col: str) -> np.ndarray:
    """MJD from MJD numbers (HEASARC) or ``YYYY-MM-DD HH:MM:SS`` (ISDC), range-checked."""
    try:
        text = tabular.to_text(values)
        numeric = text.astype("string").str.fullmatch(r"[+-]?\d+(?:\.\d*)?(?:[eE][+-]?\d+)?").fillna(True).all()
        if numeric:
            return check_mjd(tabular.to_float(text), valid=MISSION_MJD, what="MJD")
        return mjd_from_iso(text, valid=MISSION_MJD)
    except ValueParseError as exc:
        raise value_error(exc, source=NAME, url=url, column=col.upper()) from exc


def aggregate_observations(scw: pd.DataFrame) -> pd.DataFrame:
    """Performed observations from science windows: pointings with an OBS_ID, grouped by it.

    Vectorised groupby. Columns: ``obs_id``, ``t_min``, ``t_max``, ``good_<instrument>_s`` sums
    (NULL when every window leaves it blank), ``pointing_s`` (summed pointing durations),
    ``n_pointings``, ``ra``/``dec`` (unit-vector mean), ``radius`` (largest offset + 4.5 deg),
    ``rev`` (of the first pointing), ``obs_type``, ``pi_name``.
    """
    pts = scw[(scw["scw_type"] == "pointing") & scw["obs_id"].notna()].copy()
    # A window shared by several observations lists them all: ``05200730001,05297000001(C)``.
    pts["obs_id"] = pts["obs_id"].astype("string").str.split(",")
    pts = pts.explode("obs_id", ignore_index=True)
    pts["obs_id"] = pts["obs_id"].str.replace(r"\(.*?\)|\s", "", regex=True).astype(object)
    pts = pts[pts["obs_id"].astype("string").str.len().fillna(0) > 0]
    pts["_dur"] = (pts["end_date"] - pts["start_date"]) * 86_400.0
    pts = pts.sort_values(["obs_id", "start_date"], kind="stable")
    ra, dec = np.deg2rad(pts["ra"].to_numpy(dtype="float64")), np.deg2rad(pts["dec"].to_numpy(dtype="float64"))
    pts["_x"], pts["_y"], pts["_z"] = np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)
    g = pts.groupby("obs_id", sort=True)
    agg = g.agg(
        t_min=("start_date", "min"),
        t_max=("end_date", "max"),
        pointing_s=("_dur", "sum"),
        n_pointings=("scw_id", "size"),
        _x=("_x", "mean"),
        _y=("_y", "mean"),
        _z=("_z", "mean"),
        rev=("rev", "first"),
    )
    agg["good_isgri_s"] = g["good_isgri"].sum(min_count=1)
    for inst, col in GOOD_COLUMNS.items():
        agg[f"good_{inst}_s"] = g[col].sum(min_count=1) if col in pts else np.nan
    for col in ("obs_type", "pi_name"):
        agg[col] = g[col].first() if col in pts else None
    norm = np.sqrt(agg["_x"] ** 2 + agg["_y"] ** 2 + agg["_z"] ** 2)
    agg["ra"] = np.rad2deg(np.arctan2(agg["_y"], agg["_x"])) % 360.0
    agg["dec"] = np.rad2deg(np.arcsin(np.clip(agg["_z"] / norm, -1.0, 1.0)))
    cx, cy, cz = (g[c].transform("mean").to_numpy() for c in ("_x", "_y", "_z"))
    cn = np.sqrt(cx**2 + cy**2 + cz**2)
    cos_sep = (pts["_x"].to_numpy() * cx + pts["_y"].to_numpy() * cy + pts["_z"].to_numpy() * cz) / cn
    pts["_sep"] = np.rad2deg(np.arccos(np.clip(cos_sep, -1.0, 1.0)))
    agg["radius"] = pts.groupby("obs_id", sort=True)["_sep"].max() + INSTRUMENTS[COVERAGE_INSTRUMENT].s_fov / 2.0
    return agg.drop(columns=["_x", "_y", "_z"]).reset_index()


# ------------------------------------------------------------------------------------------ parse
def parse(name: str, content: bytes, url: str, content_type: str | None = None) -> pd.DataFrame:
    """Source frame of one response, dispatched on the request name.

    Listings set ``attrs["layout"]`` to the variant of :data:`LAYOUTS` that matched.
    """
    if name in LISTING_REQUESTS:
        form = LISTING_REQUESTS[name]
        if form == "csv":
            raw = read_listing_csv(content, url, content_type)
        else:
            raw = read_listing_html(content, url, content_type)
        listing = name.removesuffix("_csv")
        frame = listing_frame(raw, url, listing)
        frame["form"] = form
        if listing == "executed" and frame.empty:
            raise ParseError(NAME, url, "executed listing has no rows (the mission's history cannot be empty)")
        if listing == "schedule" and frame.empty:
            raise ParseError(NAME, url, "schedule listing has no rows (the range starts at revolution 1)")
        return frame
    if name in SCW_REQUESTS:
        frame = read_scw_table(content, url, content_type=content_type)
        if frame.empty:
            raise ParseError(NAME, url, "science-window table has no rows")
        if frame.attrs["layout"] not in LAYOUTS:
            raise ParseError(NAME, url, f"science windows in an unknown form {frame.attrs['layout']!r}")
        return frame
    raise ParseError(NAME, url, f"unknown request name {name!r}")


# -------------------------------------------------------------------------------------- normalise
_RANK = {"executed": 0, "schedule": 0, "current": 1, "future": 2}


def _listings(frames: dict[str, pd.DataFrame], as_of: dt.datetime) -> pd.DataFrame:
    """Every listing row once (HTML and CSV forms of one observation merged; ToO if either says so)."""
    parts = [frames[n] for n in LISTING_REQUESTS if n in frames]
    future = [frames[n] for n in ("future", "future_csv") if n in frames]
    if future and all(f.empty for f in future) and as_of.date() <= END_OF_SCIENCE:
        raise ParseError(
            NAME, SCHEDULE_URL, f"empty future listing on {as_of.date()}, before the end of science {END_OF_SCIENCE}"
        )
    ranged = [frames[n] for n in ("schedule", "schedule_csv") if n in frames]
    if ranged and as_of.date() <= END_OF_SCIENCE:
        now = mjd_from_datetime(as_of)
        if not any((f["t_max"] > now).any() for f in ranged):
            raise ParseError(
                NAME,
                SCHEDULE_URL,
                f"schedule lists nothing after {as_of.date()}, before the end of science {END_OF_SCIENCE}",
            )
    if not parts:
        empty = pd.DataFrame({k: pd.Series(dtype=object) for k in ("rev", "start", "end", "duration", "ra", "dec")})
        empty = empty.assign(observation=pd.Series(dtype=object))
        return listing_frame(empty, "", "executed")
    listed = pd.concat([p for p in parts if not p.empty] or parts[:1], ignore_index=True)
    too = listed.groupby("obs_id")["too"].transform("max").astype(bool) if len(listed) else listed["too"]
    # executed before current before future; within one listing the CSV first (fractional seconds)
    form = listed["form"] if "form" in listed else pd.Series("html", index=listed.index)
    listed = listed.assign(too=too, _rank=listed["listing"].map(_RANK).fillna(0), _html=form.eq("html"))
    listed = listed.sort_values(["_rank", "_html"], kind="stable").drop_duplicates("obs_id")
    return listed.drop(columns=["_rank", "_html"])


def normalise(frames: dict[str, pd.DataFrame], as_of: dt.datetime) -> dict[str, pd.DataFrame]:
    """``obsplan`` rows: listings (Performed / Scheduled) merged on obs id with science windows."""
    if as_of.tzinfo is None:
        raise ValueError("as_of must be tz-aware UTC")
    listed = _listings(frames, as_of).set_index("obs_id", drop=False)
    scw_parts = [frames[n] for n in SCW_REQUESTS if n in frames and not frames[n].empty]
    if scw_parts:
        scw = pd.concat(scw_parts, ignore_index=True).drop_duplicates("scw_id")
        flown = aggregate_observations(scw).set_index("obs_id", drop=False)
        spread = (flown["radius"] - INSTRUMENTS[COVERAGE_INSTRUMENT].s_fov / 2.0).to_numpy(dtype="float64")
        wide = spread > MAX_POINTING_OFFSET_DEG
        if wide.any():
            i = int(np.flatnonzero(wide)[0])
            raise ParseError(
                NAME,
                HEASARC_TAP,
                f"pointings of observation {flown.index[i]} lie {spread[i]:.1f} deg from their centre "
                f"(more than {MAX_POINTING_OFFSET_DEG} deg: not one observation)",
                column="RA/DEC",
            )
    else:
        cols = ["obs_id", "t_min", "t_max", "good_isgri_s", "pointing_s", "ra", "dec", "radius", "rev"]
        flown = pd.DataFrame({c: pd.Series(dtype=object if c == "obs_id" else "float64") for c in cols})
        flown = flown.set_index("obs_id", drop=False)
    ids = pd.Index(listed.index).append(pd.Index(flown.index).difference(listed.index))
    in_list, in_flown = ids.isin(listed.index), ids.isin(flown.index)
    lst, fl = listed.reindex(ids), flown.reindex(ids)
    ibis = INSTRUMENTS[COVERAGE_INSTRUMENT]
    now = mjd_from_datetime(as_of)

    out = pd.DataFrame({"obs_id": ids.to_numpy(dtype=object)})
    out["target_name"] = lst["target"].astype(object).to_numpy()
    out["obs_collection"] = FACILITY
    out["s_ra"] = np.where(in_list, lst["ra"], fl["ra"]).astype("float64")
    out["s_dec"] = np.where(in_list, lst["dec"], fl["dec"]).astype("float64")
    radius = np.where(in_flown, fl["radius"].astype("float64"), ibis.s_fov / 2.0)
    c_ra = np.where(in_flown, fl["ra"].astype("float64"), out["s_ra"])
    c_dec = np.where(in_flown, fl["dec"].astype("float64"), out["s_dec"])
    out["s_fov"] = 2.0 * radius
    out["s_region"] = circle_stcs(c_ra, c_dec, radius).to_numpy(dtype=object)
    out["s_resolution"] = ibis.s_resolution
    out["t_min"] = np.where(in_flown, fl["t_min"], lst["t_min"]).astype("float64")
    out["t_max"] = np.where(in_flown, fl["t_max"], lst["t_max"]).astype("float64")
    out["t_plan_exptime"] = lst["exptime_s"].to_numpy(dtype="float64")
    # Performed exposure: ISGRI good time; if every window leaves it blank, the listed duration,
    # else the summed pointing durations (a blank is never 0).
    # (The listed duration only when it fits the flown span, as models.validate requires.)
    fl_span = (fl["t_max"].astype("float64") - fl["t_min"].astype("float64")) * 86_400.0 + DURATION_SLACK_S
    listed_exp = lst["exptime_s"].astype("float64").where(lst["exptime_s"].astype("float64") <= fl_span)
    flown_exp = fl["good_isgri_s"].astype("float64").fillna(listed_exp).fillna(fl["pointing_s"])
    out["t_exptime"] = np.where(in_flown, flown_exp, lst["exptime_s"]).astype("float64")
    out["t_resolution"] = np.nan
    out["em_min"] = ibis.em_min
    out["em_max"] = ibis.em_max
    out["em_res_power"] = np.nan
    out["o_ucd"] = "phot.count"
    out["pol_states"] = None
    out["pol_xel"] = pd.array([pd.NA] * len(out), dtype="Int32")
    out["facility_name"] = FACILITY
    out["instrument_name"] = COVERAGE_INSTRUMENT
    out["category"] = "Other"
    obs_type = fl["obs_type"].astype("string").str.upper() if "obs_type" in fl else pd.Series(pd.NA, index=ids)
    listed_too = lst["too"].astype("boolean").fillna(False).to_numpy(dtype=bool)
    too = obs_type.eq("TOO").fillna(False).to_numpy(dtype=bool) | listed_too
    out["priority"] = np.where(too, 2, 1).astype("int32")
    ended = lst["t_max"].to_numpy(dtype="float64") <= now
    listing = lst["listing"].to_numpy(dtype=object)
    performed = in_flown | (listing == "executed") | ((listing == "schedule") & ended)
    out["execution_status"] = np.where(performed, "Performed", "Scheduled").astype(object)
    out["tracking_type"] = "Sidereal"
    out["x_integral_rev"] = pd.array(np.where(in_list, lst["rev"], fl["rev"]), dtype="Float64").astype("Int64")
    out["x_integral_observation"] = lst["observation"].astype(object).to_numpy()
    out["x_integral_listing"] = lst["listing"].astype(object).to_numpy()
    out["x_integral_proposal"] = lst["proposal"].astype(object).to_numpy() if "proposal" in lst else None
    out["x_integral_pattern"] = lst["pattern"].astype(object).to_numpy() if "pattern" in lst else None
    out["x_integral_too"] = too
    out["x_integral_pi"] = (
        lst["pi"].where(in_list, fl["pi_name"] if "pi_name" in fl else None).astype(object).to_numpy()
    )
    out["x_integral_obs_type"] = obs_type.astype(object).to_numpy()
    out["x_integral_n_pointings"] = pd.array(fl["n_pointings"] if "n_pointings" in fl else [pd.NA] * len(ids), "Int64")
    out["x_integral_good_isgri_s"] = fl["good_isgri_s"].to_numpy(dtype="float64")
    for inst in GOOD_COLUMNS:
        col = f"good_{inst}_s"
        out[f"x_integral_{col}"] = fl[col].to_numpy(dtype="float64") if col in fl else np.nan
    text = [c for c in out.columns if out[c].dtype == object]
    out[text] = out[text].astype(object).where(out[text].notna(), None)
    return {"obsplan": out}


SOURCE = Source(
    name=NAME,
    facility=FACILITY,
    hosts=("integral.esac.esa.int", HEASARC_TAP.split("/")[2]),
    cron="0 3 1 * *",
    requests=requests,
    parse=parse,
    normalise=normalise,
    id_pattern=r"^\d+$",
    description="INTEGRAL ISOC schedule listings and HEASARC science windows (archive only since 2025-02-28)",
)
