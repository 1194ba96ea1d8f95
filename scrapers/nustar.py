"""NuSTAR: the SOC schedule page (short and long range), its text exports, and HEASARC numaster.

Requests (``requests(as_of)``)
------------------------------
``schedule``
    ``Schedule.php``: one page, two tables. ``parse("schedule", ...)`` returns both, stacked, with
    a ``table`` discriminator (``short_range`` / ``long_range``).
``obsloc_text``
    The short-range schedule as a text file. **Its URL is a guess** (:data:`OBSLOC_TEXT_URL`): the
    page says the file is linked "above" the short-range table but no stored rendering shows the
    link's target. The schedule parser lists the page's links to text/csv files in
    ``frame.attrs["linked_files"]`` and whether the guessed URL is among them
    (``frame.attrs["obsloc_url_linked"]``), so ``voharvest probe`` shows the real link on the first
    live run. The parser accepts every evidenced text layout (see :data:`LAYOUTS`).
``numaster``
    HEASARC TAP (ADQL): the as-flown record of observations overlapping ``[as_of - 30 d, as_of]``.

Layouts (evidence: ``sources.md``, "Evidence of the live layouts", NuSTAR; :data:`LAYOUTS`)
-------------------------------------------------------------------------------------------
``Schedule.php`` (text renderings of srl.caltech.edu 2015-2018 and nustarsoc.caltech.edu 2025)::

    Short Range Observatory Schedule        <- heading (followed by icons/links: the text file "above")
    <intro paragraphs; 2025: Google Calendar and ObsLoc paragraphs>
    Table Header Explanations obs_start - Observation start time (UTC)   <- 2015-2018 renderings
    ... Exp - Approximate exposure time (ksec)   [(ks) from 2018]
    <table> obs_start obs_end sequenceID Name J2000_RA J2000_Dec Exp Notes   [2025: J2000 RA, J2000 Dec]
    Long Range Observatory Schedule
    <intro: the date is the Monday of the week in which the observation is scheduled to begin>
    <table>

The short-range table is the **first** table of the page (NASA-ACROSS reads ``read_html(...)[0]``).
The explanation block may be wrapped in a heading-like element, so a table's nearest heading is not
its section title: tables are found by their **columns** (short range: ``obs_start``/``obs_end``;
long range: a week date) and assigned to a section by the last "Short/Long Range Observatory
Schedule" text before them in the document; without such text, by order (short range first).
The ``Exp`` unit is read from the explanation block when present (``ksec``/``ks`` = 1000 s; any
other unit there is a layout change and an error); without the block (2025 rendering) it is ks.

Text files (request ``obsloc_text``), told apart by their first lines:

- ``obsloc-tap``: ``|``-delimited, rows 1-3 column name, unit, type, then data; ObsLocTAP column
  names (whatever subset is present: ``obs_id``, ``target_name``, ``s_ra``, ``s_dec``, ``t_min``,
  ``t_max``, ``t_plan_exptime``/``t_exptime``, ``execution_status``, ...) and many ``NULL`` cells
  (``NULL`` and empty are missing). Units come from the unit row; a ``NULL``/empty unit means the
  ObsLocTAP unit of that column (``d`` = MJD for times, ``deg``, ``s``). Times: ``d``/``mjd``
  numbers (``jd`` also), or text (``utc``/``iso``/``yday``...) read as ISO or day-of-year by form;
  an unknown unit is an error naming the column.
- ``obsloc-page-columns``: ``|``-delimited with the page's eight columns and the same three header
  rows (the project's earlier reconstruction, not evidenced; kept).
- ``sr-schedule-txt``: the older ``Download.php?file=sr-schedule.txt`` (evidence id 33953425244):
  whitespace-delimited; header lines (about 13) including ``Generated on: ...``; data lines
  ``start end sequenceID Name RA Dec Exp Notes...`` (notes = rest of the line). Exp taken as ks.

Parsing rules
-------------
A missing required header, a garbage value, an empty schedule table (short or long range: the SOC
always lists something, so an empty table means a broken page) or a page that is not the schedule
raise :class:`ParseError` naming source, URL, row (1-based row of its table or data row of a text
file) and column (with the headers found); a page or file that matches no layout names the layouts
tried and what was found. Unknown extra headers are tolerated. A numaster answer with zero rows is a
valid statement (nothing flown in the window), not an error.

Times go through :mod:`models.timeutil` (day-of-year ``YYYY:DDD:HH:MM:SS[.f]``, ISO, MJD), checked
to :data:`VALID_MJD` (NuSTAR launch 2012-06-13 to 2100); positions through :mod:`models.coords`
(decimal degrees or sexagesimal; RA 360 wraps to 0). Long-range dates are the Monday of the planned
week (``YYYY-MM-DD`` or ``YYYY:DDD``), so that row spans Monday 00:00 to the next Monday. A
short-range exposure longer than its on-target period is refused (the SOC's exposure discounts
occultations, so it is always shorter). Sequence IDs stay 11-digit strings. Target names are
decoded (``_`` -> space, and between digits ``p`` -> ``+``, ``m`` -> ``-``, ``d`` -> ``.``:
``GRS_1915p105`` -> ``GRS 1915+105``); the page's own name is kept beside it.

Identity: one sequence ID listed in several rows of one table is one observation only when the rows
agree (:func:`scrapers.identity.merge_duplicate_ids`: same page name, positions within 60 arcsec);
rows repeated verbatim (same start and end) count once; otherwise the rows are segments of one
interrupted observation and become one row with the earliest start, the latest end and the **sum**
of the segments' exposures (each segment's exposure is its own time on target). Rows that disagree
raise :class:`ParseError` naming both rows.

Notes -> category and priority (:func:`classify_notes`; first matching rule wins for category)
------------------------------------------------------------------------------------------------
==============================================================  ============  ========
notes (case-insensitive unless stated)                          category      priority
==============================================================  ============  ========
contains ``coordinat`` (``Coordinated with XMM``, ``(2/4)       Coordinated   2
coordinated with XMM and VLT``) or a partner-cycle code
``I``/``X``/``C`` + 2 digits (``I15``, ``X16``, ``C18``; case
sensitive)
contains ``constrained`` (``phase constrained``)                Window        2
``ToO`` or ``DDT`` (word)                                       Other         2
legacy-survey fill: ``ELS``, ``GLS``, ``EGS`` (word),           Other         0
``legacy survey``
anything else (empty, ``BAT AGN``, ``N03`` GO cycle codes)      Other         1
==============================================================  ============  ========

ToO/DDT are ``Other``, not ``Fixed``: the page states no fixed-time requirement, only that the
observation was inserted at short notice; they are hard to move again, hence priority 2.
Coordinated and window-constrained observations are tied to external times (priority 2); survey
fill targets are moved freely (priority 0). Targets whose page name starts with ``Sol_``/``Sun``
are solar pointings: ``tracking_type`` ``Solar-system-object-tracking`` (else ``Sidereal``).

Normalisation to obsplan
------------------------
One row per sequence ID. Plan precedence: short-range page > text file > long-range table
(Scheduled beats Planned). Short-range rows are Scheduled (``t_exptime`` = ``t_plan_exptime`` =
``Exp``); long-range rows are Planned (``t_exptime`` NULL). A numaster row counts as performed
when ``observation_mode`` is ``SCIENCE`` and ``status`` is ``processed`` or ``archived``
(``accepted``/``scheduled`` proposals and ``SLEW`` segments are not observations). A performed ID
becomes one Performed row: ``t_min``/``t_max`` from numaster ``time``/``end_time``, ``t_exptime``
from ``exposure_a``, ``t_plan_exptime`` from the plan (NULL when the plan never listed it); the
difference is in ``x_nustar_exptime_diff_s``. A planned row whose end is past stays as planned
unless numaster confirms it. ``t_planning`` is left to the history step.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import warnings
from collections.abc import Mapping, Sequence
from urllib.parse import urljoin

import numpy as np
import pandas as pd

from models.coords import parse_dec, parse_ra
from models.errors import ValueParseError
from models.regions import circle_stcs
from models.tables.obsplan import OBSPLAN
from models.timeutil import check_mjd, mjd_from_datetime, mjd_from_doy, mjd_from_iso
from models.units import kev_band_to_em
from scrapers import html_tables
from scrapers import text as text_layer
from scrapers.base import ParseError, Request, Source, value_error
from scrapers.heasarc import HEASARC_TAP, tap_request
from scrapers.identity import merge_duplicate_ids
from scrapers.votable_io import read_votable

NAME = "nustar"
FACILITY = "NuSTAR"
INSTRUMENT = "FPMA/FPMB"
SCHEDULE_URL = "https://nustarsoc.caltech.edu/NuSTAR_Public/NuSTAROperationSite/Schedule.php"
#: GUESS: the page links an ObsLoc ('|'-delimited) file "above" the short-range table; its URL is not
#: in any stored rendering. ``parse_schedule`` reports the page's real links (attrs "linked_files").
OBSLOC_TEXT_URL = "https://nustarsoc.caltech.edu/NuSTAR_Public/NuSTAROperationSite/ObsLoc/NuSTAR_ObsLoc_short_range.txt"

#: Layout variants this module recognises (``frame.attrs["layout"]``), with their evidence.
LAYOUTS: dict[str, str] = {
    "html-underscore": (
        "Schedule.php 2015-2018 (srl.caltech.edu renderings, sources.md NuSTAR evidence): 'Table Header "
        "Explanations' block between heading and table; headers obs_start obs_end sequenceID Name J2000_RA "
        "J2000_Dec Exp Notes; Exp (ksec) to 2017, (ks) from 2018; short range first, then long range (Monday dates)"
    ),
    "html-space": (
        "Schedule.php 2025 (nustarsoc.caltech.edu rendering; NASA-ACROSS pandas re-export, fixtures/nustar/"
        "short_range_rows_2025-09_pandas.csv): as html-underscore with headers 'J2000 RA'/'J2000 Dec'; Exp in ks"
    ),
    "obsloc-tap": (
        "'|'-delimited 'IVOA ObsLoc format' file linked from Schedule.php (page text, sources.md): rows 1-3 "
        "column name, unit, type; ObsLocTAP column names, NULL values. URL a GUESS; column subset and units unseen"
    ),
    "obsloc-page-columns": (
        "'|'-delimited with names/units/types rows and the page's eight columns: earlier reconstruction, "
        "NOT evidenced (kept as a tolerated variant)"
    ),
    "sr-schedule-txt": (
        "Download.php?file=sr-schedule.txt (evidence id 33953425244): whitespace-delimited, ~13 header lines "
        "incl. 'Generated on:', rows start end sequenceID Name RA Dec Exp Notes"
    ),
    "numaster-votable": "HEASARC TAP answer (VOTable) of the numaster ADQL (sources.md; ACROSS numaster mock rows)",
    "numaster-fits": "HEASARC numaster FITS table (astroquery test data numaster_19rows_2016.fits)",
}
_PAGE_LAYOUTS = ("html-underscore", "html-space")
_TEXT_LAYOUTS = ("obsloc-tap", "obsloc-page-columns", "sr-schedule-txt")

#: Instrument facts (sources.md): 3-79 keV, ~12 arcmin FoV diameter, 18 arcsec FWHM.
BAND_KEV = (3.0, 79.0)
EM_MIN_M, EM_MAX_M = kev_band_to_em(*BAND_KEV)
FOV_DEG = 0.2
RESOLUTION_ARCSEC = 18.0
O_UCD = "phot.count"
#: Days of numaster history asked for, ending at the as-of date.
NUMASTER_LOOKBACK_DAYS = 30
ID_PATTERN = r"\d{11}"
#: The same, ASCII digits only (Python's ``\d`` also matches other scripts' digits).
_ID_RE = r"[0-9]{11}"
#: Plausible times of a NuSTAR schedule: launch (2012-06-13, MJD 56091) to 2100-01-01.
VALID_MJD: tuple[float, float] = (56091.0, 88069.0)
#: Largest exposure of one row (ks): longer than any NuSTAR observation (~1.5 Ms deep fields are split).
MAX_EXP_KS = 1e4
#: Slack allowed between a short-range exposure and its on-target period (s).
EXP_SLACK_S = 60.0

_COMMON = {
    "sequence_id": ("sequenceID", "sequence id", "seq id", "seqid", "obsid"),
    "name": ("Name", "target", "target name"),
    "ra": ("J2000_RA", "J2000 RA", "RA", "RA J2000", "RA deg"),
    "dec": ("J2000_Dec", "J2000 Dec", "Dec", "Dec J2000", "Dec deg"),
    "exp_ks": ("Exp", "Exp ks", "Exp ksec", "Exposure", "Exposure ks", "ks", "ksec"),
    "notes": ("Notes", "Note", "Comments", "Program", "Programme"),
}
#: Canonical column -> header texts accepted (compared by :func:`html_tables.normalise_header`).
SHORT_COLUMNS: dict[str, tuple[str, ...]] = {
    "obs_start": ("obs_start", "start", "start time"),
    "obs_end": ("obs_end", "end", "end time", "stop"),
    **_COMMON,
}
LONG_COLUMNS: dict[str, tuple[str, ...]] = {
    "week": ("Date", "Week", "Week of", "Week start", "Monday"),
    **_COMMON,
}
SHORT_REQUIRED = ("obs_start", "obs_end", "sequence_id", "name", "ra", "dec", "exp_ks")
LONG_REQUIRED = ("week", "sequence_id", "name", "ra", "dec", "exp_ks")
#: ObsLocTAP column names read from the ObsLoc file (the rest are ignored; NuSTAR-specific extras too).
OBSLOC_COLUMNS: dict[str, tuple[str, ...]] = {
    "obs_id": ("obs_id",),
    "target_name": ("target_name",),
    "s_ra": ("s_ra",),
    "s_dec": ("s_dec",),
    "t_min": ("t_min",),
    "t_max": ("t_max",),
    "t_exptime": ("t_exptime",),
    "t_plan_exptime": ("t_plan_exptime",),
    "execution_status": ("execution_status",),
    "notes": ("notes", "comments", "nustar_notes"),
}
OBSLOC_REQUIRED = ("obs_id", "target_name", "s_ra", "s_dec", "t_min", "t_max")
#: The ObsLocTAP unit of a column, used when the unit row gives none.
_OBSLOC_DEFAULT_UNITS = {
    "s_ra": "deg",
    "s_dec": "deg",
    "t_min": "d",
    "t_max": "d",
    "t_exptime": "s",
    "t_plan_exptime": "s",
}
NUMASTER_REQUIRED = ("obsid", "name", "ra", "dec", "time", "end_time", "exposure_a", "observation_mode", "status")
NUMASTER_OPTIONAL = ("ontime_a", "obs_type", "cycle", "coordinated", "comments")
_PERFORMED_STATUSES = ("processed", "archived")
_EXP_UNITS = {"ks": 1e3, "ksec": 1e3, "s": 1.0, "sec": 1.0, "seconds": 1.0}
_ANGLE_UNITS = ("deg", "degree", "degrees")
_MJD_UNITS = {"d": 0.0, "mjd": 0.0, "day": 0.0, "days": 0.0, "jd": -2400000.5}
_TEXT_TIME_UNITS = ("utc", "iso", "isot", "iso8601", "yday", "doy", "yyyy:ddd:hh:mm:ss", "yyyy-mm-ddthh:mm:ss")
_NO_UNIT = ("", "null", "-", "none")
_NULLS = ("", "null")
_EXEC_STATUSES = ("Planned", "Scheduled", "Unscheduled", "Performed", "Aborted")
_DOY_RE = r"[0-9]{4}:[0-9]{3}:[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]*)?"
_SECTION_RE = re.compile(r"\b(short|long)\s+range\s+observatory\s+schedule", re.IGNORECASE)
_EXP_EXPLAINED = re.compile(r"\bExp\s*-\s*[^()\n]*\(\s*([^)\s]+)\s*\)", re.IGNORECASE)
_LINKED_FILE = re.compile(r"(?:download\.php|\.txt$|\.csv$|\.txt\?|\.csv\?|obsloc)", re.IGNORECASE)
_SR_ROW = r"^(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)(?:\s+(.*?))?\s*$"

_PLAN_COLUMNS = (
    "sequence_id",
    "table",
    "name",
    "target_name",
    "ra_deg",
    "dec_deg",
    "exp_s",
    "notes",
    "t_start",
    "t_end",
)
_PERF_COLUMNS = ("sequence_id", "nm_name", "nm_ra", "nm_dec", "nm_start", "nm_end", "nm_exposure", "nm_notes")
_PLAN_RANK = {"short_range": 0, "obsloc_text": 1, "long_range": 2}
_PLAN_STATUS = {"short_range": "Scheduled", "obsloc_text": "Scheduled", "long_range": "Planned"}


# --------------------------------------------------------------------------- requests


def numaster_adql(as_of: dt.date) -> str:
    """ADQL for numaster rows overlapping ``[as_of - 30 d, as_of]`` (MJD UTC, from the date only)."""
    end = mjd_from_datetime(dt.datetime(as_of.year, as_of.month, as_of.day, tzinfo=dt.UTC))
    start = end - NUMASTER_LOOKBACK_DAYS
    cols = ", ".join((*NUMASTER_REQUIRED, *NUMASTER_OPTIONAL))
    return f"SELECT {cols} FROM numaster WHERE time <= {end:.1f} AND end_time >= {start:.1f} ORDER BY time"


def requests(as_of: dt.date) -> list[Request]:
    """The schedule page, its text export (URL a guess, see module doc) and the numaster query."""
    return [
        Request(source=NAME, name="schedule", url=SCHEDULE_URL),
        Request(source=NAME, name="obsloc_text", url=OBSLOC_TEXT_URL),
        tap_request(NAME, "numaster", numaster_adql(as_of)),
    ]


# --------------------------------------------------------------------------- parsing helpers


def decode_name(names: pd.Series) -> pd.Series:
    """Page target names to text: ``_`` -> space; between digits ``p`` -> ``+``, ``m`` -> ``-``, ``d`` -> ``.``."""
    out = names.astype("string")
    for code, char in (("p", "+"), ("m", "-"), ("d", ".")):
        out = out.str.replace(rf"(?<=\d){code}(?=\d)", char, regex=True)
    return out.str.replace("_", " ", regex=False).str.strip().astype(object)


def _header(frame: pd.DataFrame, name: str) -> str:
    return frame.attrs.get("header_of", {}).get(name, name)


def _fail(frame: pd.DataFrame, mask: np.ndarray, name: str, what: str, where: tuple[str, str]) -> None:
    """Raise naming the first offending row (1-based position) and the page's header."""
    if not mask.any():
        return
    k = int(np.flatnonzero(mask)[0])
    value = frame[name].iloc[k] if name in frame.columns else None
    raise ParseError(
        *where,
        f"{what}: {value!r}",
        row=k + 1,
        column=_header(frame, name),
        found=frame.attrs.get("headers"),
    )


def _wrap(exc: ValueParseError, frame: pd.DataFrame, name: str, where: tuple[str, str]) -> ParseError:
    """A value layer's error as a ParseError naming the 1-based row and the page's header."""
    rows = np.arange(1, len(frame) + 1)
    return value_error(
        exc, source=where[0], url=where[1], column=_header(frame, name), index=rows, found=frame.attrs.get("headers")
    )


def _text(frame: pd.DataFrame, name: str) -> pd.Series:
    """Stripped text of a column, ``NULL``/empty as <NA>."""
    # a plain Series: pandas deep-copies a frame's attrs into every result derived from its columns
    text = pd.Series(frame[name].to_numpy(dtype=object), dtype="string").str.strip()
    return text.mask(text.str.lower().isin(_NULLS), pd.NA)


def _required_text(frame: pd.DataFrame, name: str, where: tuple[str, str], what: str) -> pd.Series:
    text = _text(frame, name)
    _fail(frame, text.isna().to_numpy(), name, f"empty {what}", where)
    return text


def _ids(frame: pd.DataFrame, name: str, where: tuple[str, str]) -> np.ndarray:
    ids = _required_text(frame, name, where, "sequence ID")
    _fail(frame, ~ids.str.fullmatch(_ID_RE).fillna(False).to_numpy(dtype=bool), name, "not an 11-digit ID", where)
    return ids.astype(object).to_numpy()


def _positions(frame: pd.DataFrame, where: tuple[str, str], ra: str = "ra", dec: str = "dec") -> tuple[np.ndarray, ...]:
    """RA/Dec in degrees by the coordinate layer; both required."""
    out = []
    for name, parser in ((ra, parse_ra), (dec, parse_dec)):
        text = _required_text(frame, name, where, "coordinate")
        try:
            out.append(parser(text))
        except ValueParseError as exc:
            raise _wrap(exc, frame, name, where) from exc
    return tuple(out)


def _exposure_s(frame: pd.DataFrame, name: str, factor: float, where: tuple[str, str]) -> np.ndarray:
    """Exposure in seconds from a column in units of ``factor`` seconds; in [0, MAX_EXP_KS ks]."""
    text = _text(frame, name)
    values = pd.to_numeric(text, errors="coerce").to_numpy(dtype="float64", na_value=np.nan) * factor
    with np.errstate(invalid="ignore"):
        bad = ~((values >= 0) & (values <= MAX_EXP_KS * 1e3))
    _fail(frame, bad, name, f"not an exposure in [0, {MAX_EXP_KS:g}] ks", where)
    return values


def _doy(frame: pd.DataFrame, name: str, where: tuple[str, str]) -> np.ndarray:
    text = _required_text(frame, name, where, "time")
    _fail(
        frame,
        ~text.str.fullmatch(_DOY_RE).fillna(False).to_numpy(dtype=bool),
        name,
        "not a day-of-year time YYYY:DDD:HH:MM:SS",
        where,
    )
    try:
        return mjd_from_doy(text, valid=VALID_MJD)
    except ValueParseError as exc:
        raise _wrap(exc, frame, name, where) from exc


def _week_start(frame: pd.DataFrame, name: str, where: tuple[str, str]) -> np.ndarray:
    """MJD of a long-range week date (``YYYY-MM-DD`` or ``YYYY:DDD``), which must be a Monday."""
    text = _required_text(frame, name, where, "week date")
    iso = text.str.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}").fillna(False).to_numpy(dtype=bool)
    doy = text.str.fullmatch(r"[0-9]{4}:[0-9]{3}").fillna(False).to_numpy(dtype=bool)
    _fail(frame, ~(iso | doy), name, "not a date YYYY-MM-DD or YYYY:DDD", where)
    mjd = np.full(len(text), np.nan)
    for mask, values, parser in ((iso, text[iso], mjd_from_iso), (doy, text[doy] + ":00:00:00", mjd_from_doy)):
        if mask.any():
            pos = np.flatnonzero(mask)
            try:
                mjd[pos] = parser(values, valid=VALID_MJD)
            except ValueParseError as exc:
                moved = ValueParseError(exc.reason, [int(pos[r]) for r in exc.rows], exc.values)
                raise _wrap(moved, frame, name, where) from exc
    # MJD 0 (1858-11-17) was a Wednesday: Monday is (mjd + 2) % 7 == 0.
    _fail(frame, (np.floor(mjd) + 2) % 7 != 0, name, "week date is not a Monday", where)
    return mjd


def _typed(
    raw: pd.DataFrame,
    table: str,
    where: tuple[str, str],
    *,
    ids: np.ndarray,
    names: pd.Series,
    ra: np.ndarray,
    dec: np.ndarray,
    exp_s: np.ndarray,
    notes: pd.Series,
    t_start: np.ndarray,
    t_end: np.ndarray,
    exp_column: str,
    end_column: str,
    scheduled: bool,
) -> pd.DataFrame:
    """The source frame of one schedule table (common to every layout), duplicates merged.

    ``scheduled`` tables (short range, text exports) must have exposures that fit their on-target
    period (:data:`EXP_SLACK_S`); ``exp_column``/``end_column`` name the columns in errors.
    """
    n = len(raw)
    out = pd.DataFrame(
        {
            "table": np.full(n, table, dtype=object),
            "row": np.arange(1, n + 1),
            "sequence_id": ids,
            "name": names.astype(object).to_numpy(),
            "target_name": decode_name(names.reset_index(drop=True)).to_numpy(),
            "ra_deg": ra,
            "dec_deg": dec,
            "exp_s": exp_s,
            "notes": notes.fillna("").astype(str).str.strip().to_numpy(dtype=object),
            "t_start": t_start,
            "t_end": t_end,
        }
    )
    _fail(raw, t_end < t_start, end_column, "end before start", where)
    if scheduled:
        too_long = exp_s > (t_end - t_start) * 86400.0 + EXP_SLACK_S
        _fail(raw, too_long, exp_column, "exposure longer than the on-target period", where)
    return _merge_duplicates(out, where, table)


def _merge_duplicates(frame: pd.DataFrame, where: tuple[str, str], table: str) -> pd.DataFrame:
    """One row per sequence ID of one table (identity rule of the module docstring)."""
    if not frame["sequence_id"].duplicated().any():
        return frame
    # the same row listed twice is one row, not two segments
    frame = frame.drop_duplicates(subset=["sequence_id", "t_start", "t_end"], keep="first")
    labelled = frame.set_index(frame["row"].to_numpy())
    try:
        merged = merge_duplicate_ids(
            labelled,
            "sequence_id",
            source=where[0],
            url=where[1],
            same=("name",),
            ra="ra_deg",
            dec="dec_deg",
            combine={"t_start": "min", "t_end": "max", "exp_s": "sum"},
        )
    except ParseError as exc:
        err = ParseError(where[0], where[1], f"{table} table: {exc.detail}")
        err.row, err.column = exc.row, exc.column
        raise err from exc
    return merged.reset_index(drop=True)


# --------------------------------------------------------------------------- Schedule.php


def _fits(table: html_tables.HtmlTable, columns: Mapping[str, Sequence[str]], required: Sequence[str]) -> bool:
    try:
        html_tables.match_columns(table.headers, columns, required=required, source=NAME, url="")
    except ParseError:
        return False
    return True


def _sections(doc: object) -> list[str | None]:
    """Section (``short``/``long``) of each ``<table>`` of the page, by the last section title before it.

    The title is found as text ("Short Range Observatory Schedule"), whatever element holds it, so a
    "Table Header Explanations" heading between title and table does not hide it.
    """
    tables = list(doc.iter("table"))  # type: ignore[attr-defined]
    section: dict[int, str] = {}
    for text in doc.xpath("//text()"):  # type: ignore[attr-defined]
        match = _SECTION_RE.search(str(text))
        if not match:
            continue
        owner = text.getparent()
        if owner is None:
            continue
        following = owner.xpath("following::table") if text.is_tail else owner.xpath(".//table | following::table")
        for table in following:
            section[id(table)] = match.group(1).lower()
    return [section.get(id(t)) for t in tables]


def _linked_files(doc: object, url: str) -> list[str]:
    """Absolute URLs of the page's links to downloadable schedule files (text/csv, Download.php)."""
    hrefs = [str(h).strip() for h in doc.xpath("//a/@href")]  # type: ignore[attr-defined]
    out: list[str] = []
    for href in hrefs:
        if href and _LINKED_FILE.search(href):
            absolute = urljoin(url, href)
            if absolute not in out:
                out.append(absolute)
    return out


def _exp_unit(doc: object, short_index: int, where: tuple[str, str]) -> tuple[float, str]:
    """Seconds per ``Exp`` unit from the explanation block before the short-range table; ks without one.

    Only the text before that table is read (``Exp - Approximate exposure time (ksec)``), so a notes
    cell can never change the unit.
    """
    table = list(doc.iter("table"))[short_index]  # type: ignore[attr-defined]
    before = " ".join(" ".join(str(t) for t in table.xpath("preceding::text()")).split())
    matches = list(_EXP_EXPLAINED.finditer(before))
    match = matches[-1] if matches else None  # the last explanation before the table
    if match is None:
        return 1e3, "ks (no explanation block)"
    unit = match.group(1).lower()
    if unit not in _EXP_UNITS:
        raise ParseError(
            *where,
            f"the header explanations give Exp in {match.group(1)!r}; known units: {sorted(_EXP_UNITS)}",
            column="Exp",
        )
    return _EXP_UNITS[unit], unit


def _describe(tables: Sequence[html_tables.HtmlTable], sections: Sequence[str | None]) -> list[str]:
    return [f"#{t.index} section={sections[t.index]!r} {list(t.headers)}" for t in tables]


def _pick_table(
    tables: Sequence[html_tables.HtmlTable],
    sections: Sequence[str | None],
    section: str,
    columns: Mapping[str, Sequence[str]],
    required: Sequence[str],
    where: tuple[str, str],
    exclude: int | None = None,
) -> html_tables.HtmlTable:
    """The table of ``section`` with the columns; else the first table with them; else a drift error."""
    fitting = [t for t in tables if t.index != exclude and _fits(t, columns, required)]
    in_section = [t for t in fitting if sections[t.index] == section]
    if in_section or fitting:
        return (in_section or fitting)[0]
    title = f"{section.capitalize()} Range Observatory Schedule"
    tried = f"layouts tried: {', '.join(_PAGE_LAYOUTS)}"
    own = [t for t in tables if sections[t.index] == section and t.index != exclude and t.headers]
    missing = None
    if own:  # the section's table is there but lost a column: name it
        found = html_tables.match_columns(own[0].headers, columns, required=(), source=NAME, url=where[1])
        missing = next((name for name in required if name not in found), None)
    if missing is not None:
        accepted = sorted({html_tables.normalise_header(s) for s in (missing, *columns[missing])})
        raise ParseError(
            *where,
            f"missing required header {missing!r} (accepted: {accepted}) in the {title!r} table; {tried}",
            column=missing,
            found=list(own[0].headers),
        )
    raise ParseError(
        *where,
        f"no {title!r} table (no table under that title, none with its columns); {tried}; "
        f"tables found: {_describe(tables, sections)}",
    )


def _page_table(
    table: html_tables.HtmlTable, columns: Mapping[str, Sequence[str]], required: Sequence[str], title: str, where
) -> pd.DataFrame:
    raw = html_tables.select_columns(table, columns, required=required, source=NAME, url=where[1], allow_empty=True)
    if not len(raw):
        raise ParseError(*where, f"table {title!r} has no rows", found=list(table.headers))
    return raw.reset_index(drop=True)


def _page_rows(raw: pd.DataFrame, table: str, factor: float, where: tuple[str, str]) -> pd.DataFrame:
    ra, dec = _positions(raw, where)
    if table == "long_range":
        start = _week_start(raw, "week", where)
        end = start + 7.0
    else:
        start = _doy(raw, "obs_start", where)
        end = _doy(raw, "obs_end", where)
    notes = _text(raw, "notes") if "notes" in raw.columns else pd.Series(pd.NA, index=range(len(raw)), dtype="string")
    return _typed(
        raw,
        table,
        where,
        ids=_ids(raw, "sequence_id", where),
        names=_required_text(raw, "name", where, "target name"),
        ra=ra,
        dec=dec,
        exp_s=_exposure_s(raw, "exp_ks", factor, where),
        notes=notes,
        t_start=start,
        t_end=end,
        exp_column="exp_ks",
        end_column="obs_end",
        scheduled=table == "short_range",
    )


def parse_schedule(content: bytes, url: str, content_type: str | None = None) -> pd.DataFrame:
    """Both tables of ``Schedule.php``, stacked with a ``table`` column (short_range/long_range).

    Parameters
    ----------
    content
        Response bytes (decoded by :func:`scrapers.text.decode` with ``content_type``).
    url
        Where they came from (named in errors).
    content_type
        The recorded HTTP ``Content-Type`` (its charset wins over a ``<meta charset>``).

    Returns
    -------
    pandas.DataFrame
        One row per observation of each table; ``attrs``: ``layout``, ``exp_unit``,
        ``linked_files``, ``obsloc_url_linked``, ``headers`` (short range), ``url``.
    """
    where = (NAME, url)
    if not content.strip():
        raise ParseError(*where, "empty response, expected the Schedule.php page")
    text = text_layer.decode(content, source=NAME, url=url, content_type=content_type)
    tables = html_tables.read_tables(text, source=NAME, url=url)
    doc = html_tables.parse_html(text, source=NAME, url=url)
    sections = _sections(doc)
    short_table = _pick_table(tables, sections, "short", SHORT_COLUMNS, SHORT_REQUIRED, where)
    long_table = _pick_table(tables, sections, "long", LONG_COLUMNS, LONG_REQUIRED, where, exclude=short_table.index)
    factor, unit = _exp_unit(doc, short_table.index, where)
    short = _page_table(short_table, SHORT_COLUMNS, SHORT_REQUIRED, "Short Range Observatory Schedule", where)
    long = _page_table(long_table, LONG_COLUMNS, LONG_REQUIRED, "Long Range Observatory Schedule", where)
    out = pd.concat(
        [_page_rows(short, "short_range", factor, where), _page_rows(long, "long_range", factor, where)],
        ignore_index=True,
    )
    ra_header = short.attrs["header_of"]["ra"]
    linked = _linked_files(doc, url)
    out.attrs = {
        "layout": "html-underscore" if "_" in ra_header else "html-space",
        "exp_unit": unit,
        "headers": short.attrs["headers"],
        "long_range_headers": long.attrs["headers"],
        "linked_files": linked,
        "obsloc_url_linked": OBSLOC_TEXT_URL in linked,
        "url": url,
    }
    return out


# --------------------------------------------------------------------------- text exports


def _unit(units: Mapping[str, str], name: str, default: str) -> str:
    unit = units.get(name, "").strip().lower()
    return default if unit in _NO_UNIT else unit


def _obsloc_times(raw: pd.DataFrame, name: str, unit: str, where: tuple[str, str]) -> np.ndarray:
    """MJD of an ObsLoc time column by its unit: MJD/JD numbers, or ISO / day-of-year text."""
    text = _required_text(raw, name, where, "time")
    if unit in _MJD_UNITS:
        numbers = pd.to_numeric(text, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        _fail(raw, np.isnan(numbers), name, f"not a number (unit {unit!r})", where)
        try:
            return check_mjd(numbers + _MJD_UNITS[unit], valid=VALID_MJD, what="time")
        except ValueParseError as exc:
            raise _wrap(exc, raw, name, where) from exc
    if unit not in _TEXT_TIME_UNITS:
        raise ParseError(
            *where,
            f"unknown time unit {unit!r} (known: {sorted(_MJD_UNITS)} or text {list(_TEXT_TIME_UNITS)})",
            column=_header(raw, name),
            found=raw.attrs.get("headers"),
        )
    doy = text.str.fullmatch(_DOY_RE).fillna(False).to_numpy(dtype=bool)
    mjd = np.full(len(text), np.nan)
    for mask, parser in ((doy, mjd_from_doy), (~doy, mjd_from_iso)):
        if mask.any():
            pos = np.flatnonzero(mask)
            try:
                mjd[pos] = parser(text[mask], valid=VALID_MJD)
            except ValueParseError as exc:
                moved = ValueParseError(exc.reason, [int(pos[r]) for r in exc.rows], exc.values)
                raise _wrap(moved, raw, name, where) from exc
    return mjd


def _obsloc_exposure(raw: pd.DataFrame, units: Mapping[str, str], where: tuple[str, str]) -> tuple[np.ndarray, str]:
    """Planned exposure (s): ``t_plan_exptime``, else ``t_exptime``; one of them per row."""
    present = [c for c in ("t_plan_exptime", "t_exptime") if c in raw.columns]
    if not present:
        raise ParseError(*where, "no exposure column (t_plan_exptime or t_exptime)", found=raw.attrs.get("headers"))
    values = np.full(len(raw), np.nan)
    for name in reversed(present):  # t_plan_exptime last: it wins
        unit = _unit(units, name, "s")
        if unit not in _EXP_UNITS:
            raise ParseError(
                *where, f"unknown exposure unit {unit!r}", column=_header(raw, name), found=list(units.values())
            )
        text = _text(raw, name)
        numbers = pd.to_numeric(text, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        _fail(raw, text.notna().to_numpy() & np.isnan(numbers), name, "not a number", where)
        values = np.where(np.isnan(numbers), values, numbers * _EXP_UNITS[unit])
    with np.errstate(invalid="ignore"):
        bad = ~((values >= 0) & (values <= MAX_EXP_KS * 1e3))
    _fail(raw, bad, present[0], f"no exposure in [0, {MAX_EXP_KS:g}] ks", where)
    return values, present[0]


def _pipe_text(lines: list[str], where: tuple[str, str]) -> pd.DataFrame:
    """The ``|``-delimited ObsLoc file: names, units, types rows, then data (either column naming)."""
    if len(lines) < 3:
        raise ParseError(*where, f"expected 3 header rows (names, units, types), got {len(lines)} lines")
    series = pd.Series(lines, dtype="string")
    counts = series.str.count(r"\|").to_numpy()
    heads = [c.strip() for c in lines[0].split("|")]
    if not (counts[1] == counts[2] == counts[0]):
        raise ParseError(*where, "names, units and types rows differ in length", found=heads)
    ragged = counts != counts[0]
    if ragged.any():
        k = int(np.flatnonzero(ragged)[0])
        raise ParseError(
            *where,
            f"ragged ObsLoc text: {counts[k] + 1} fields per row where the header has {counts[0] + 1}",
            row=k - 2,
            found=heads,
        )
    grid = series.str.split("|", expand=True, regex=False)
    grid = grid.apply(lambda col: col.str.strip())  # per column, not per row
    if (grid.iloc[:, -1].fillna("") == "").all() and grid.shape[1] > 1:  # trailing '|'
        grid = grid.iloc[:, :-1]
    names = grid.iloc[0].tolist()
    units = dict(zip(names, grid.iloc[1].fillna("").tolist(), strict=True))
    types = grid.iloc[2].tolist()
    if len(lines) == 3:
        raise ParseError(*where, "ObsLoc text has no data rows", found=names)
    data = grid.iloc[3:].reset_index(drop=True)
    try:
        pos = html_tables.match_columns(names, OBSLOC_COLUMNS, required=OBSLOC_REQUIRED, source=NAME, url=where[1])
        layout = "obsloc-tap"
    except ParseError as tap_error:
        try:
            pos = html_tables.match_columns(names, SHORT_COLUMNS, required=SHORT_REQUIRED, source=NAME, url=where[1])
            layout = "obsloc-page-columns"
        except ParseError as page_error:
            raise ParseError(
                *where,
                f"'|'-delimited text matches no known layout: obsloc-tap ({tap_error.detail.split(';')[0]}), "
                f"obsloc-page-columns ({page_error.detail.split(';')[0]})",
                found=names,
            ) from page_error
    raw = pd.DataFrame({name: data[k] for name, k in pos.items()}, dtype=object)
    raw.attrs["headers"] = names
    raw.attrs["header_of"] = {name: names[k] for name, k in pos.items()}
    units_of = {name: units[names[k]] for name, k in pos.items()}
    if layout == "obsloc-tap":
        frame = _obsloc_tap_rows(raw, units_of, where)
    else:
        frame = _obsloc_page_rows(raw, units_of, where)
    frame.attrs.update({"layout": layout, "headers": names, "units": list(units.values()), "types": types})
    return frame


def _check_angle_units(raw: pd.DataFrame, units: Mapping[str, str], names: Sequence[str], where) -> None:
    for name in names:
        unit = _unit(units, name, "deg")
        if unit not in _ANGLE_UNITS:
            raise ParseError(
                *where, f"unknown angle unit {unit!r}", column=_header(raw, name), found=list(units.values())
            )


def _obsloc_tap_rows(raw: pd.DataFrame, units: Mapping[str, str], where: tuple[str, str]) -> pd.DataFrame:
    _check_angle_units(raw, units, ("s_ra", "s_dec"), where)
    ra, dec = _positions(raw, where, "s_ra", "s_dec")
    exp_s, exp_column = _obsloc_exposure(raw, units, where)
    start = _obsloc_times(raw, "t_min", _unit(units, "t_min", "d"), where)
    end = _obsloc_times(raw, "t_max", _unit(units, "t_max", "d"), where)
    status = _text(raw, "execution_status") if "execution_status" in raw.columns else None
    if status is not None:
        _fail(
            raw,
            (status.notna() & ~status.isin(_EXEC_STATUSES)).to_numpy(dtype=bool),
            "execution_status",
            f"not one of {_EXEC_STATUSES}",
            where,
        )
    notes = _text(raw, "notes") if "notes" in raw.columns else pd.Series(pd.NA, index=range(len(raw)), dtype="string")
    frame = _typed(
        raw,
        "obsloc_text",
        where,
        ids=_ids(raw, "obs_id", where),
        names=_required_text(raw, "target_name", where, "target name"),
        ra=ra,
        dec=dec,
        exp_s=exp_s,
        notes=notes,
        t_start=start,
        t_end=end,
        exp_column=exp_column,
        end_column="t_max",
        scheduled=True,
    )
    return frame


def _obsloc_page_rows(raw: pd.DataFrame, units: Mapping[str, str], where: tuple[str, str]) -> pd.DataFrame:
    exp_unit = _unit(units, "exp_ks", "")
    if exp_unit not in _EXP_UNITS:
        raise ParseError(*where, f"unknown exposure unit {exp_unit!r}", column=_header(raw, "exp_ks"))
    _check_angle_units(raw, units, ("ra", "dec"), where)
    return _page_rows(raw, "obsloc_text", _EXP_UNITS[exp_unit], where)


def _sr_schedule_text(lines: list[str], where: tuple[str, str]) -> pd.DataFrame:
    """The older whitespace-delimited ``sr-schedule.txt`` (header lines with ``Generated on:``)."""
    series = pd.Series(lines, dtype="string")
    is_data = series.str.match(r"\s*[0-9]{4}:[0-9]{3}:").fillna(False).to_numpy(dtype=bool)
    if not is_data.any():
        raise ParseError(*where, "sr-schedule text has no data rows", found=lines[:13])
    first = int(np.argmax(is_data))
    header = lines[:first]
    generated = next((h.split(":", 1)[1].strip() for h in header if "generated on:" in h.lower()), None)
    parts = series.iloc[first:].str.strip().str.extract(_SR_ROW).reset_index(drop=True)
    headers = ["obs_start", "obs_end", "sequenceID", "Name", "RA", "Dec", "Exp", "Notes"]
    raw = pd.DataFrame(
        {
            name: parts[k]
            for k, name in enumerate(("obs_start", "obs_end", "sequence_id", "name", "ra", "dec", "exp_ks", "notes"))
        },
        dtype=object,
    )
    raw.attrs["headers"] = headers
    raw.attrs["header_of"] = {**dict(zip(raw.columns, headers, strict=True)), "_line": "line"}
    raw["_line"] = series.iloc[first:].reset_index(drop=True)
    _fail(
        raw,
        parts[0].isna().to_numpy(),
        "_line",
        "not a schedule row (start end sequenceID Name RA Dec Exp Notes)",
        where,
    )
    frame = _page_rows(raw.drop(columns="_line"), "obsloc_text", 1e3, where)
    frame.attrs.update({"layout": "sr-schedule-txt", "headers": headers, "generated_on": generated})
    return frame


def parse_obsloc_text(content: bytes, url: str, content_type: str | None = None) -> pd.DataFrame:
    """The short-range schedule as text: the ObsLoc ``|`` file (either naming) or ``sr-schedule.txt``.

    Parameters
    ----------
    content
        Response bytes (decoded by :func:`scrapers.text.decode`).
    url
        Where they came from (named in errors).
    content_type
        The recorded HTTP ``Content-Type``.

    Returns
    -------
    pandas.DataFrame
        The source frame (``table`` = ``obsloc_text``); ``attrs["layout"]`` names the variant.
    """
    where = (NAME, url)
    text = text_layer.decode(content, source=NAME, url=url, content_type=content_type)
    if text.lstrip()[:1] == "<":
        raise ParseError(*where, f"expected a text schedule, got markup: {text.strip()[:80]!r}")
    lines = [line for line in text.splitlines() if line.strip()]
    if lines and "|" in lines[0]:
        frame = _pipe_text(lines, where)
    elif any("generated on:" in line.lower() for line in lines[:20]):
        frame = _sr_schedule_text(lines, where)
    else:
        raise ParseError(
            *where,
            f"text matches no known layout (tried {', '.join(_TEXT_LAYOUTS)}: a '|' header row, or "
            f"'Generated on:' in the first lines); first lines found: {lines[:3]!r}",
        )
    frame.attrs["url"] = url
    return frame


# --------------------------------------------------------------------------- numaster


def _numaster_fits(content: bytes, url: str) -> pd.DataFrame:
    from astropy.table import Table

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            table = Table.read(io.BytesIO(content), format="fits")
    except Exception as exc:  # astropy raises many types for broken FITS
        raise ParseError(NAME, url, f"unreadable FITS table: {exc}") from exc
    table.convert_bytestring_to_unicode()  # vectorised, instead of decoding cell by cell
    frame = table.to_pandas()
    frame.columns = [str(c).lower() for c in frame.columns]
    return frame


def _obsid_text(series: pd.Series) -> pd.Series:
    """Obsids as 11-digit text; a service typing them as numbers lost leading zeros: pad back."""
    if pd.api.types.is_numeric_dtype(series.dtype):
        text = series.astype("Int64").astype("string").str.zfill(11)
    else:
        text = series.astype("string").str.strip()
    return text.astype(object).where(text.notna(), None)


def parse_numaster(content: bytes, url: str) -> pd.DataFrame:
    """Rows of numaster (TAP VOTable, or a HEASARC FITS table) with a ``performed`` flag.

    A valid answer with zero rows is legitimate (nothing flown in the window). Performed rows
    must have an 11-digit obsid, start and end times inside :data:`VALID_MJD`, an exposure and a
    valid position.
    """
    if content[:9] == b"SIMPLE  =":
        frame, layout = _numaster_fits(content, url), "numaster-fits"
    else:
        frame, layout = read_votable(content, source=NAME, url=url), "numaster-votable"
    found = list(frame.columns)
    for name in NUMASTER_REQUIRED:
        if name not in frame.columns:
            raise ParseError(NAME, url, f"numaster answer lacks column {name!r}", column=name, found=found)
    out = frame[[c for c in (*NUMASTER_REQUIRED, *NUMASTER_OPTIONAL) if c in frame.columns]].copy()
    out = out.reset_index(drop=True)
    out.attrs["headers"] = found
    out["obsid"] = _obsid_text(out["obsid"])
    for name in ("name", "observation_mode", "status", "obs_type", "coordinated", "comments"):
        if name in out.columns:
            out[name] = out[name].astype("string").str.strip().fillna("").astype(object)
    for name in ("ra", "dec", "time", "end_time", "exposure_a", "ontime_a"):
        if name in out.columns:
            out[name] = pd.to_numeric(out[name], errors="coerce").astype("float64")
    mode = out["observation_mode"].str.upper()
    out["performed"] = (mode == "SCIENCE") & out["status"].str.lower().isin(_PERFORMED_STATUSES)
    perf = out["performed"].to_numpy()
    where = (NAME, url)
    ids_ok = out["obsid"].astype("string").str.fullmatch(_ID_RE).fillna(False).to_numpy(dtype=bool)
    _fail(out, perf & ~ids_ok, "obsid", "performed row without an 11-digit obsid", where)
    for name in ("time", "end_time", "exposure_a"):
        _fail(out, perf & out[name].isna().to_numpy(), name, "performed row without a value", where)
    for name in ("time", "end_time"):
        try:
            check_mjd(out[name].where(perf), valid=VALID_MJD, what="time")
        except ValueParseError as exc:
            raise _wrap(exc, out, name, where) from exc
    with np.errstate(invalid="ignore"):
        _fail(out, perf & ~(out["exposure_a"] >= 0).to_numpy(), "exposure_a", "negative exposure", where)
        _fail(out, perf & (out["end_time"] < out["time"]).to_numpy(), "end_time", "end before start", where)
    for name, parser in (("ra", parse_ra), ("dec", parse_dec)):
        try:
            out[name] = np.where(perf, parser(out[name].where(perf)), out[name])
        except ValueParseError as exc:
            raise _wrap(exc, out, name, where) from exc
    out.attrs.update({"layout": layout, "url": url})
    return out


def parse(name: str, content: bytes, url: str, content_type: str | None = None) -> pd.DataFrame:
    """Parse one response by request name (``schedule``, ``obsloc_text``, ``numaster``).

    Parameters
    ----------
    name
        The request's name (:func:`requests`).
    content
        Response bytes.
    url
        Where they came from (named in every error).
    content_type
        The recorded HTTP ``Content-Type``, handed to the text layer.

    Returns
    -------
    pandas.DataFrame
        The source frame, ``attrs["layout"]`` naming the layout variant (:data:`LAYOUTS`).
    """
    if name == "schedule":
        return parse_schedule(content, url, content_type)
    if name == "obsloc_text":
        return parse_obsloc_text(content, url, content_type)
    if name == "numaster":
        return parse_numaster(content, url)
    raise ParseError(NAME, url, f"unknown request name {name!r}")


# --------------------------------------------------------------------------- normalisation


def classify_notes(notes: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """ObsLocTAP ``category`` and ``priority`` from the Notes text (mapping in the module docstring)."""
    text = notes.fillna("").astype(str)
    coordinated = (
        text.str.contains("coordinat", case=False, regex=False) | text.str.contains(r"\b[IXC]\d{2}\b", regex=True)
    ).to_numpy()
    window = text.str.contains("constrained", case=False, regex=False).to_numpy()
    urgent = text.str.contains(r"\b(?:ToO|DDT)\b", case=False, regex=True).to_numpy()
    survey = text.str.contains(r"\b(?:ELS|GLS|EGS)\b|legacy survey", case=False, regex=True).to_numpy()
    category = np.select([coordinated, window], ["Coordinated", "Window"], "Other").astype(object)
    priority = np.select([coordinated | window | urgent, survey], [2, 0], 1).astype("int32")
    return category, priority


def tracking_type(page_names: pd.Series) -> np.ndarray:
    """``Solar-system-object-tracking`` for solar pointings (``Sol_...``, ``Sun``), else ``Sidereal``."""
    solar = page_names.fillna("").astype(str).str.contains(r"^(?:sol_|sun\b|sun_)", case=False, regex=True)
    return np.where(solar.to_numpy(), "Solar-system-object-tracking", "Sidereal").astype(object)


def _plan(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per sequence ID from the schedule sources, best source first (rank).

    Each table's duplicate IDs were merged when parsed; a frame assembled otherwise is checked
    again by the same identity rule (disagreeing rows raise :class:`ParseError`).
    """
    parts = [frames[n] for n in ("schedule", "obsloc_text") if n in frames and len(frames[n])]
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in _PLAN_COLUMNS})
    url = next((p.attrs.get("url") for p in parts if p.attrs.get("url")), SCHEDULE_URL)
    plan = pd.concat(parts, ignore_index=True)
    plan["rank"] = plan["table"].map(_PLAN_RANK)
    best = plan.groupby("sequence_id")["rank"].transform("min")
    plan = plan[plan["rank"] == best].sort_values(["sequence_id", "t_start"], kind="stable")
    plan = _merge_duplicates(plan.reset_index(drop=True), (NAME, url), "plan")
    return plan[list(_PLAN_COLUMNS)].reset_index(drop=True)


def _performed(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per performed obsid from numaster (segments of one obsid summed)."""
    nm = frames.get("numaster")
    if nm is not None:
        nm = nm[nm["performed"]].copy()
    if nm is None or not len(nm):
        return pd.DataFrame({c: pd.Series(dtype=object) for c in _PERF_COLUMNS})
    extra = pd.Series("", index=nm.index, dtype=object)
    coord = nm["coordinated"] if "coordinated" in nm.columns else extra
    obs_type = nm["obs_type"] if "obs_type" in nm.columns else extra
    nm["nm_notes"] = (
        obs_type.astype(str) + np.where(coord.astype(str) != "", " coordinated with " + coord, "")
    ).str.strip()
    return (
        nm.rename(columns={"obsid": "sequence_id"})
        .groupby("sequence_id", as_index=False)
        .agg(
            nm_name=("name", "first"),
            nm_ra=("ra", "first"),
            nm_dec=("dec", "first"),
            nm_start=("time", "min"),
            nm_end=("end_time", "max"),
            nm_exposure=("exposure_a", "sum"),
            nm_notes=("nm_notes", "first"),
        )
    )


def normalise(frames: dict[str, pd.DataFrame], as_of: dt.datetime) -> dict[str, pd.DataFrame]:
    """The obsplan frame (all ObsLocTAP columns but ``t_planning``, plus ``x_nustar_*``)."""
    as_of_mjd = mjd_from_datetime(as_of)  # refuses naive datetimes
    plan = _plan(frames)
    perf = _performed(frames)
    rows = plan.merge(perf, on="sequence_id", how="outer", indicator=True, sort=True)
    in_plan = rows["_merge"].isin(["both", "left_only"]).to_numpy()
    done = rows["_merge"].isin(["both", "right_only"]).to_numpy()
    plan_status = rows["table"].map(_PLAN_STATUS).to_numpy(dtype=object)
    status = np.where(done, "Performed", plan_status).astype(object)

    page_name = rows["name"].where(in_plan, rows["nm_name"])
    target = rows["target_name"].where(in_plan, decode_name(rows["nm_name"].fillna("")))
    notes = rows["notes"].where(in_plan, rows["nm_notes"])
    category, priority = classify_notes(notes)
    ra = rows["nm_ra"].where(done & rows["nm_ra"].notna(), rows["ra_deg"]).astype("float64")
    dec = rows["nm_dec"].where(done & rows["nm_dec"].notna(), rows["dec_deg"]).astype("float64")
    plan_exp = rows["exp_s"].astype("float64")
    t_exptime = np.where(done, rows["nm_exposure"], np.where(status == "Scheduled", plan_exp, np.nan))
    t_min = np.where(done, rows["nm_start"], rows["t_start"]).astype("float64")
    t_max = np.where(done, rows["nm_end"], rows["t_end"]).astype("float64")
    n = len(rows)
    origin = np.where(in_plan & done, rows["table"].astype(str) + "+numaster", rows["table"].fillna("numaster"))

    out = pd.DataFrame(
        {
            "target_name": target.astype(object).to_numpy(),
            "obs_id": rows["sequence_id"].astype(object).to_numpy(),
            "obs_collection": FACILITY,
            "s_ra": ra.to_numpy(),
            "s_dec": dec.to_numpy(),
            "s_fov": np.full(n, FOV_DEG),
            "s_region": circle_stcs(ra, dec, FOV_DEG / 2).to_numpy(),
            "s_resolution": np.full(n, RESOLUTION_ARCSEC),
            "t_min": t_min,
            "t_max": t_max,
            "t_exptime": t_exptime.astype("float64"),
            "t_resolution": np.full(n, np.nan),
            "em_min": np.full(n, EM_MIN_M),
            "em_max": np.full(n, EM_MAX_M),
            "em_res_power": np.full(n, np.nan),
            "o_ucd": O_UCD,
            "pol_states": pd.Series([None] * n, dtype=object),
            "pol_xel": pd.array([pd.NA] * n, dtype="Int32"),
            "facility_name": FACILITY,
            "instrument_name": INSTRUMENT,
            "t_plan_exptime": plan_exp.to_numpy(),
            "category": category,
            "priority": priority,
            "execution_status": status,
            "tracking_type": tracking_type(page_name),
            "x_nustar_name": page_name.astype(object).to_numpy(),
            "x_nustar_notes": notes.fillna("").astype(object).to_numpy(),
            "x_nustar_origin": origin.astype(object),
            "x_nustar_exptime_diff_s": (t_exptime - plan_exp.to_numpy()).astype("float64"),
            "x_nustar_ended_before_as_of": t_max < as_of_mjd,
        }
    )
    if n:
        out = out.sort_values(["t_min", "obs_id"], kind="stable", na_position="last").reset_index(drop=True)
    ordered = [c for c in OBSPLAN.names if c != "t_planning"]
    return {"obsplan": out[ordered + [c for c in out.columns if c.startswith("x_nustar_")]]}


SOURCE = Source(
    name=NAME,
    facility=FACILITY,
    hosts=("nustarsoc.caltech.edu", "heasarc.gsfc.nasa.gov"),
    cron="0 6 * * *",
    requests=requests,
    parse=parse,
    normalise=normalise,
    id_pattern=ID_PATTERN,
    description="NuSTAR SOC short/long-range schedule and HEASARC numaster as-flown record",
    extras={"tap": HEASARC_TAP},
)

__all__ = [
    "EM_MAX_M",
    "EM_MIN_M",
    "LAYOUTS",
    "OBSLOC_TEXT_URL",
    "VALID_MJD",
    "SOURCE",
    "classify_notes",
    "decode_name",
    "normalise",
    "numaster_adql",
    "parse_obsloc_text",
    "parse_schedule",
    "parse",
    "requests",
    "tracking_type",
]
