"""XMM-Newton: the SOC short-term schedule (Scheduled rows) and HEASARC ``xmmmaster`` (as flown).

The short-term schedule page lists one row per observation of the current revolutions, with the
prime instrument and one duration per camera (``sources.md``). ``xmmmaster`` confirms what was
flown. ``normalise`` gives one ``obsplan`` row per observation id: Scheduled from the page,
Performed once ``xmmmaster`` reports it observed (plan and as-flown merged on the id).

Layout of the schedule (``sources.md``, "Evidence of the live layouts", XMM-Newton)
-----------------------------------------------------------------------------------
* Header cells carry their unit on a second line, ``Label<br>unit``: ``RA<br>hh:mm:ss``,
  ``DEC<br>dd:mm:ss``, ``UTC Obs Start<br>yyyy-mm-dd hh:mm:ss``, ``UTC Obs End<br>...``
  (id 40802067601 reads them with older pandas as ``RAhh:mm:ss``; NASA-ACROSS
  ``across_data_ingestion/tasks/schedules/xmm_newton/low_fidelity_planned.py`` with newer pandas
  as ``RA hh:mm:ss``). Other labels (``Revn #``, ``Obs Id.``, ``Target Name``, ``PA ddd.dd``,
  ``Prime Instr.``, ``PN Dur Ks``, ``MOS1 Dur. Ks`` ... ``OM Dur. Ks``, ``PI``) as ACROSS reads them.
  Headers are matched by :mod:`scrapers.html_tables` (``<br>`` = space, trailing unit ignored
  when no exact match), so ``RA<br>hh:mm:ss``, ``RA hh:mm:ss``, ``RAhh:mm:ss`` and ``RA`` are one
  column.
* Body rows are ``<TR ALIGN=CENTER >`` with one ``<TD>`` per cell, in the order revolution, obs id,
  target, RA, Dec, PA, start, end, ... (id 34337503711); the obs-id cell holds an ``<A>`` link
  (id 34455471219): the cell's text is the id.
* The page's table count is not certain (id 40802067601 takes the last table, ACROSS the first):
  the schedule is *the one table that has the schedule's columns*, wherever it is.
* Rows may be listed newest first (ACROSS's recorded rows): the parser keeps the page order and
  relies on none.
* The SOC also offers the schedule as CSV; its exact dialect is not evidenced. A CSV with the
  page's header labels (comma, semicolon or tab separated, optional quotes) is read the same way,
  and so is a pandas re-export of the page (an unnamed index column first, obs ids that lost
  their leading zero: ACROSS ``tests/tasks/schedules/xmm_newton/mocks/planned_schedule_table.csv``).

:data:`LAYOUTS` names each accepted variant; a parsed frame says which one matched in
``frame.attrs["layout"]``. A page that matches none raises a :class:`~scrapers.base.ParseError`
listing the tables and headers found and the variants known.

Documented interpretations
--------------------------
* ``Obs Id.`` is a 10-digit string. Every XMM input (page, CSV export, ``xmmmaster``) goes through
  :func:`obs_ids`: 1 to 10 digits, zero-padded on the left to 10 (a number-inferring reader drops
  the leading zero), anything else an error.
* One obs id listed in two rows: merged when the rows agree (same target, prime instrument, PA and
  durations, position within 60"; times spanning both), else a ``ParseError`` naming both rows
  (:func:`scrapers.identity.merge_duplicate_ids`).
* Durations are ks. ``( 15.1)`` = the camera exposes with its filter closed (calibration): still an
  exposure, counted in the prime instrument's duration and flagged (``x_xmm_newton_filter_closed``).
  ``0.0`` = camera not used. Any other cell is a :class:`~scrapers.base.ParseError`.
* ``t_plan_exptime`` = the longest duration among the prime instrument's cameras (EPIC: pn, MOS1,
  MOS2; RGS: RGS1, RGS2; OM: OM), filter-closed or not. A prime instrument with no exposure at all
  is an error, never a silently dropped row; so is one longer than its start-to-end window (plus
  :data:`EXPOSURE_SLACK_S` for the 0.1 ks rounding of the page).
* Times are UTC, read by :func:`models.timeutil.mjd_from_iso`; a time before XMM-Newton's launch
  (:data:`LAUNCH_MJD`) or after 2100 is an error. RA/Dec by :func:`models.coords.parse_ra` /
  :func:`~models.coords.parse_dec`; PA must be in [0, 360] deg.
* ``s_region``: the EPIC field is a 30' diameter circle; it is published as a regular octagon
  *circumscribing* that circle (vertices 16.2' from the centre, so every point of the field is
  inside; area overshoot 5 %), its first vertex at position angle PA, vertices counter-clockwise
  (N through E, as seen from inside the sphere). xmmmaster-only rows (no PA) get the 15' circle.
* ``s_fov`` / ``s_resolution`` / ``em_*`` follow the prime instrument (``INSTRUMENTS``); RGS rows
  use the EPIC field for ``s_fov`` (the RGS field is a strip across it).
* ``category`` ``Other`` and ``priority`` 1 for every row: the page says nothing about coordination
  or constraints. ``tracking_type`` ``Sidereal``: XMM-Newton points inertially.
* Performed: xmmmaster ``status`` in observed / processed / archived. ``t_exptime`` = the longest
  as-flown camera time of the prime instrument (``duration`` when those are empty); t_min/t_max
  from the as-flown record. ``scheduled`` xmmmaster rows add nothing (the page is the plan).
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from models.coords import CoordParseError, check_dec, parse_dec, parse_ra, wrap_ra
from models.errors import ValueParseError
from models.facilities import XMM_NEWTON
from models.regions import circle_stcs, polygon_stcs
from models.timeutil import PLAUSIBLE_MJD, check_mjd, mjd_from_datetime, mjd_from_iso
from models.units import kev_band_to_em
from models.validate import EXPTIME_TOLERANCE_S
from scrapers import html_tables
from scrapers import text as text_layer
from scrapers.base import ParseError, Request, Source, value_error
from scrapers.heasarc import HEASARC_TAP, tap_request
from scrapers.identity import merge_duplicate_ids
from scrapers.votable_io import read_votable

NAME = "xmm_newton"
FACILITY = "XMM-Newton"
SCHEDULE_URL = "https://xmm-tools.cosmos.esa.int/external/xmm_sched/short_term_schedule.php"
OBS_ID_DIGITS = 10
OBS_ID_PATTERN = rf"[0-9]{{{OBS_ID_DIGITS}}}"

#: XMM-Newton's launch (1999-12-10, :data:`models.facilities.XMM_NEWTON`) as UTC MJD: no schedule
#: row or as-flown time lies before it.
LAUNCH_MJD = XMM_NEWTON.start_mjd
#: Plausible range of XMM-Newton times read here: launch to the project's 2100 limit. How far
#: after the as-of time a row may lie is a per-harvest rule (``models.validate``, horizon).
XMM_MJD = (LAUNCH_MJD, PLAUSIBLE_MJD[1])
#: Slack (s) allowed between the prime exposure and the start-to-end window: the tolerance of
#: ``models.validate`` (durations are written to 0.1 ks, so rounding alone can add 50 s).
EXPOSURE_SLACK_S = EXPTIME_TOLERANCE_S

#: Days of xmmmaster history (before the as-of date) and of future (after it) asked for.
MASTER_DAYS_BEFORE = 7
MASTER_DAYS_AFTER = 7

#: EPIC field of view (diameter, degrees) and the footprint polygon's vertex count.
EPIC_FOV_DEG = 0.5
FOOTPRINT_VERTICES = 8

#: Layout variants of the short-term schedule this parser accepts (variant id -> description).
LAYOUTS: dict[str, str] = {
    "html-br-units": (
        "HTML table, header cells 'Label<br>unit' (RA<br>hh:mm:ss, UTC Obs Start<br>yyyy-mm-dd hh:mm:ss), rows "
        "<TR ALIGN=CENTER>, obs id inside <A> (sources.md ids 40802067601, 34337503711, 34455471219; "
        "NASA-ACROSS low_fidelity_planned.py)"
    ),
    "html-spaced-units": (
        "HTML table, header 'Label unit' on one line (RA hh:mm:ss; sources.md column list, how ACROSS's newer "
        "pandas reads the <br> headers)"
    ),
    "html-glued-units": (
        "HTML table, header text 'Labelunit' (RAhh:mm:ss, UTC Obs Startyyyy-mm-dd hh:mm:ss; the <br> joined "
        "without a space, as id 40802067601's older pandas shows it)"
    ),
    "html-bare-labels": "HTML table, headers without units (RA, DEC, UTC Obs Start): units assumed as documented",
    "csv-export": (
        "CSV with the page's header labels, one row per observation (the SOC's CSV export; dialect unverified: "
        "comma/semicolon/tab, optional quotes)"
    ),
    "csv-pandas-reexport": (
        "pandas re-export of the page table: unnamed index column first, obs ids without their leading zero "
        "(NASA-ACROSS tests/tasks/schedules/xmm_newton/mocks/planned_schedule_table.csv @ 74bd7c9f)"
    ),
}


@dataclass(frozen=True)
class Instrument:
    """Facility metadata of one XMM-Newton instrument (sources.md)."""

    name: str
    cameras: tuple[str, ...]
    em_min: float
    em_max: float
    s_fov: float
    s_resolution: float | None
    em_res_power: float | None


_EPIC_EM = kev_band_to_em(0.15, 15.0)
_RGS_EM = kev_band_to_em(0.33, 2.5)

#: Prime instrument -> metadata. RGS resolving power 150-800: the lower bound is published.
INSTRUMENTS: dict[str, Instrument] = {
    "EPIC": Instrument("EPIC", ("pn", "mos1", "mos2"), _EPIC_EM[0], _EPIC_EM[1], EPIC_FOV_DEG, 6.0, None),
    "RGS": Instrument("RGS", ("rgs1", "rgs2"), _RGS_EM[0], _RGS_EM[1], EPIC_FOV_DEG, None, 150.0),
    "OM": Instrument("OM", ("om",), 170e-9, 650e-9, 17.0 / 60.0, None, None),
}

CAMERAS = ("pn", "mos1", "mos2", "rgs1", "rgs2", "om")


def _camera_synonyms(cam: str) -> tuple[str, ...]:
    # "PN Dur Ks", "MOS1 Dur. Ks", with the unit on a second line joined without a space ("PN DurKs")
    return (f"{cam} dur ks", f"{cam} durks", f"{cam} dur")


#: Canonical field -> accepted header texts (compared by :func:`html_tables.normalise_header`;
#: a trailing unit such as ``hh:mm:ss`` is ignored when no text matches exactly).
SCHEDULE_HEADERS: dict[str, tuple[str, ...]] = {
    "revolution": ("revn", "rev", "revolution", "revn no"),
    "obs_id": ("obs id", "obsid", "observation id"),
    "target_name": ("target name", "target"),
    "ra": ("ra hh:mm:ss", "ra"),
    "dec": ("dec dd:mm:ss", "dec"),
    "pa": ("pa ddd dd", "pa dddd", "pa"),
    "start": ("utc obs start yyyy-mm-dd hh:mm:ss", "utc obs start", "obs start"),
    "end": ("utc obs end yyyy-mm-dd hh:mm:ss", "utc obs end", "obs end"),
    "prime": ("prime instr", "prime instrument"),
    **{cam: _camera_synonyms(cam) for cam in CAMERAS},
    "pi": ("pi",),
}

#: Page header shown in errors when the page's own text is not at hand.
_LABELS = {
    "revolution": "Revn #",
    "obs_id": "Obs Id.",
    "target_name": "Target Name",
    "ra": "RA hh:mm:ss",
    "dec": "DEC dd:mm:ss",
    "pa": "PA ddd.dd",
    "start": "UTC Obs Start",
    "end": "UTC Obs End",
    "prime": "Prime Instr.",
    **{cam: f"{cam.upper()} Dur. Ks" for cam in CAMERAS},
    "pi": "PI",
}

#: xmmmaster statuses that mean "flown" and the one that means "still planned".
PERFORMED_STATUSES = ("observed", "processed", "archived")
KNOWN_STATUSES = (*PERFORMED_STATUSES, "scheduled")

MASTER_COLUMNS = (
    "obsid",
    "name",
    "ra",
    "dec",
    "time",
    "end_time",
    "duration",
    "pn_time",
    "mos1_time",
    "mos2_time",
    "rgs1_time",
    "rgs2_time",
    "om_time",
    "status",
    "xmm_revolution",
)


# --------------------------------------------------------------------------------------- requests
def requests(as_of: dt.date) -> list[Request]:
    """The short-term schedule page and xmmmaster rows around the as-of date.

    Parameters
    ----------
    as_of
        Snapshot date; xmmmaster is asked for the observations overlapping the week before and after.

    Returns
    -------
    list of Request
        ``short_term_schedule`` (HTTP GET of the page) and ``xmmmaster`` (HEASARC TAP).
    """
    day = mjd_from_datetime(dt.datetime(as_of.year, as_of.month, as_of.day, tzinfo=dt.UTC))
    adql = (
        f"SELECT {', '.join(MASTER_COLUMNS)} FROM xmmmaster "
        f"WHERE end_time > {day - MASTER_DAYS_BEFORE:.1f} AND time < {day + MASTER_DAYS_AFTER:.1f}"
    )
    return [
        Request(source=NAME, name="short_term_schedule", url=SCHEDULE_URL),
        tap_request(NAME, "xmmmaster", adql),
    ]


# ------------------------------------------------------------------------------------- identity
def obs_ids(values: pd.Series | list | npt.ArrayLike) -> np.ndarray:
    """XMM-Newton observation ids as 10-character strings: the one rule for every XMM input.

    An id is 10 digits with leading zeros (``0963230101``). Tools that infer numbers drop the
    zeros (ACROSS's re-export shows ``963230101``; a TAP service may type ``obsid`` as a long), so
    1 to 10 digits are zero-padded on the left; anything else cannot be an id.

    Parameters
    ----------
    values
        Cells as text or integers (surrounding spaces ignored).

    Returns
    -------
    numpy.ndarray
        object array of 10-digit strings.

    Raises
    ------
    models.errors.ValueParseError
        Missing ids, or ids that are not 1 to 10 digits (0-based positions), for
        :func:`scrapers.base.value_error` to name source, URL, row and column.
    """
    series = values if isinstance(values, pd.Series) else pd.Series(values, dtype="object")
    text = series.reset_index(drop=True).astype("object").astype("string").str.strip()
    ok = text.str.fullmatch(rf"[0-9]{{1,{OBS_ID_DIGITS}}}").fillna(False).to_numpy(dtype=bool)
    if not ok.all():
        rows = np.flatnonzero(~ok)
        shown = [text.iloc[i] if pd.notna(text.iloc[i]) else "" for i in rows[:5]]
        raise ValueParseError(f"not an XMM obs id (1 to {OBS_ID_DIGITS} digits)", rows, shown)
    return text.str.zfill(OBS_ID_DIGITS).to_numpy(dtype=object)


# ------------------------------------------------------------------------------------- conversions
def _first_bad(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def _durations(values: pd.Series, *, url: str, column: str, header: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(ks, filter_closed) from cells ``12.3`` / ``( 15.1)`` / ``0.0``."""
    parts = values.astype("string").str.extract(r"^\s*(\()?\s*([0-9]+(?:\.[0-9]*)?)\s*(\))?\s*$")
    unbalanced = parts[0].notna() != parts[2].notna()
    bad = (parts[1].isna() | unbalanced).to_numpy()
    if bad.any():
        i = _first_bad(bad)
        raise ParseError(NAME, url, f"not a duration in ks: {values.iloc[i]!r}", row=i, column=column, found=header)
    return parts[1].astype("float64").to_numpy(), parts[0].notna().to_numpy()


def _prime(values: pd.Series, *, url: str, column: str) -> np.ndarray:
    text = values.astype("string").str.strip().str.upper()
    family = pd.Series(pd.NA, index=values.index, dtype="string")
    family = family.mask(text.str.match(r"^(EPIC|PN|MOS)").fillna(False), "EPIC")
    family = family.mask(text.str.match(r"^RGS").fillna(False), "RGS")
    family = family.mask(text.str.match(r"^OM").fillna(False), "OM")
    bad = family.isna().to_numpy()
    if bad.any():
        i = _first_bad(bad)
        raise ParseError(NAME, url, f"unknown prime instrument {values.iloc[i]!r}", row=i, column=column)
    return family.to_numpy(dtype=object)


def _looks_like_html(text: str, content_type: str | None) -> bool:
    """HTML unless the body is plainly not markup (a CSV export); the body decides, not the header."""
    head = text.lstrip()[:1]
    if head == "<":
        return True
    if content_type and "csv" in content_type.lower():
        return False
    return "<table" in text[:65536].lower()


def _html_layout(text: str, table: html_tables.HtmlTable, ra_header: str, *, url: str) -> str:
    """Which HTML variant of :data:`LAYOUTS` the schedule table is (by its header row's markup and text)."""
    doc = html_tables.parse_html(text, source=NAME, url=url)
    element = list(doc.iter("table"))[table.index]
    rows = element.xpath("./tr | ./thead/tr | ./tbody/tr")
    head = next((r for r in rows if r.xpath("./th")), rows[0] if rows else None)
    if head is not None and head.xpath(".//br"):
        return "html-br-units"
    norm = html_tables.normalise_header(ra_header)
    if norm == "ra":
        return "html-bare-labels"
    return "html-spaced-units" if norm.startswith("ra ") else "html-glued-units"


def _no_layout(exc: ParseError, url: str) -> ParseError:
    """The table finder's error, saying also which layout variants are known (drift report)."""
    detail = exc.detail
    if exc.found is not None:
        detail = detail.removesuffix(f"; headers found: {exc.found}")
    where = [f"row {exc.row}"] if exc.row is not None else []
    where += [f"column {exc.column!r}"] if exc.column is not None else []
    detail = detail.removesuffix(f" ({', '.join(where)})") if where else detail
    return ParseError(
        NAME,
        url,
        f"the short-term schedule matches no known layout ({detail}); layouts known: {sorted(LAYOUTS)}",
        row=exc.row,
        column=exc.column,
        found=exc.found,
    )


def _read_html(text: str, url: str) -> pd.DataFrame:
    """Canonical text columns of the page's schedule table (found by its columns, not its position)."""
    tables = html_tables.read_tables(text, source=NAME, url=url)
    try:
        table = html_tables.find_table(
            tables,
            source=NAME,
            url=url,
            columns=SCHEDULE_HEADERS,
            required=SCHEDULE_HEADERS,
            what="schedule table (Revn #, Obs Id., Target Name, RA, DEC, PA, UTC Obs Start/End, Prime Instr., "
            "durations, PI)",
        )
    except ParseError as exc:
        raise _no_layout(exc, url) from exc
    raw = html_tables.select_columns(table, SCHEDULE_HEADERS, required=SCHEDULE_HEADERS, source=NAME, url=url)
    raw.attrs["layout"] = _html_layout(text, table, raw.attrs["header_of"]["ra"], url=url)
    return raw


def _read_csv(text: str, url: str) -> pd.DataFrame:
    """Canonical text columns of a CSV export of the schedule (delimiter from the header line)."""
    first = text.lstrip("\r\n").split("\n", 1)[0]
    sep = max(",;\t", key=first.count)
    try:
        grid = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False, skip_blank_lines=True)
    except (ValueError, pd.errors.ParserError) as exc:  # EmptyDataError is a ValueError
        raise ParseError(NAME, url, f"the short-term schedule matches no known layout: not HTML, CSV {exc}") from exc
    headers = [str(c) for c in grid.columns]
    try:
        pos = html_tables.match_columns(headers, SCHEDULE_HEADERS, required=SCHEDULE_HEADERS, source=NAME, url=url)
    except ParseError as exc:
        raise _no_layout(exc, url) from exc
    if grid.empty:
        raise ParseError(NAME, url, "the CSV schedule has no rows", found=headers)
    raw = pd.DataFrame({name: grid.iloc[:, k].astype(object) for name, k in pos.items()})
    raw.attrs["headers"] = headers
    raw.attrs["header_of"] = {name: headers[k] for name, k in pos.items()}
    index_first = headers[0] == "" or headers[0].startswith("Unnamed: ")
    raw.attrs["layout"] = "csv-pandas-reexport" if index_first else "csv-export"
    return raw


#: Columns that must agree (besides the position, within 60") for two rows with one obs id to be
#: one observation; their times are then merged to span both.
SAME_OBSERVATION = ("target_name", "prime", "pa", *(f"{c}_ks" for c in CAMERAS), *(f"{c}_closed" for c in CAMERAS))


def parse_schedule(content: bytes, url: str, content_type: str | None = None) -> pd.DataFrame:
    """Source frame of the short-term schedule (HTML page or its CSV export), page vocabulary kept.

    Parameters
    ----------
    content
        Response bytes, decoded by :func:`scrapers.text.decode` (BOM, HTTP charset, meta charset).
    url
        Where they came from (named in errors).
    content_type
        The recorded HTTP ``Content-Type``.

    Returns
    -------
    pandas.DataFrame
        One row per observation, in page order: ``obs_id`` (10-char string), ``revolution`` (int),
        ``target_name``, ``ra``/``dec`` (deg), ``pa`` (deg), ``t_min``/``t_max`` (MJD UTC), ``prime``
        (EPIC/RGS/OM), ``prime_text``, ``<camera>_ks`` and ``<camera>_closed`` per camera, ``pi``.
        ``attrs["layout"]`` names the variant of :data:`LAYOUTS` that matched.

    Raises
    ------
    ParseError
        Undecodable bytes, no known layout, or a bad cell (row = 0-based body row, column = page header).
    """
    if not content.strip():
        raise ParseError(NAME, url, "empty response, expected the short-term schedule (HTML or CSV)")
    text = text_layer.decode(content, source=NAME, url=url, content_type=content_type)
    raw = _read_html(text, url) if _looks_like_html(text, content_type) else _read_csv(text, url)
    layout = raw.attrs["layout"]
    out = _schedule_values(raw.reset_index(drop=True), url)
    out.attrs = {"layout": layout, "headers": list(raw.attrs["headers"])}
    return out


def _schedule_values(raw: pd.DataFrame, url: str) -> pd.DataFrame:
    """Typed schedule columns from the canonical text cells (0-based rows), every value checked."""
    header = list(raw.attrs["headers"])
    label = {k: raw.attrs["header_of"].get(k, v) for k, v in _LABELS.items()}

    def fail(exc: ValueParseError, key: str) -> ParseError:
        return value_error(exc, source=NAME, url=url, column=label[key], found=header)

    try:
        out = pd.DataFrame({"obs_id": obs_ids(raw["obs_id"])})
    except ValueParseError as exc:
        raise fail(exc, "obs_id") from exc
    rev = raw["revolution"].astype("string").str.strip()
    bad = ~rev.str.fullmatch(r"[0-9]{1,6}").fillna(False).to_numpy(dtype=bool)
    if bad.any():
        i = _first_bad(bad)
        raise ParseError(NAME, url, f"bad revolution {raw['revolution'].iloc[i]!r}", row=i, column=label["revolution"])
    out["revolution"] = rev.astype("int64").to_numpy()
    out["target_name"] = raw["target_name"].astype("string").str.strip().replace("", pd.NA).astype(object).to_numpy()
    for key, parser in (("ra", parse_ra), ("dec", parse_dec)):
        try:
            values = parser(raw[key])
            if np.isnan(values).any():
                rows = np.flatnonzero(np.isnan(values))
                raise CoordParseError("missing position", rows, [""] * len(rows))
        except ValueParseError as exc:
            raise fail(exc, key) from exc
        out[key] = values
    pa_text = raw["pa"].astype("string").str.strip()
    pa = pd.to_numeric(pa_text.where(pa_text.str.fullmatch(r"[+-]?[0-9]+(?:\.[0-9]*)?|[+-]?\.[0-9]+").fillna(False)))
    bad = (pa.isna() | (pa < 0) | (pa > 360)).to_numpy(dtype=bool)
    if bad.any():
        i = _first_bad(bad)
        raise ParseError(
            NAME, url, f"not a position angle in [0, 360] deg: {raw['pa'].iloc[i]!r}", row=i, column=label["pa"]
        )
    out["pa"] = pa.to_numpy(dtype="float64")
    for key, col in (("start", "t_min"), ("end", "t_max")):
        try:
            mjd = mjd_from_iso(raw[key], valid=XMM_MJD)
            if np.isnan(mjd).any():
                rows = np.flatnonzero(np.isnan(mjd))
                raise ValueParseError("missing time", rows, [""] * len(rows))
        except ValueParseError as exc:
            raise fail(exc, key) from exc
        out[col] = mjd
    reversed_ = (out["t_max"] <= out["t_min"]).to_numpy()
    if reversed_.any():
        raise ParseError(NAME, url, "observation ends before it starts", row=_first_bad(reversed_), column=label["end"])
    out["prime_text"] = raw["prime"].astype(object).to_numpy()
    out["prime"] = _prime(raw["prime"], url=url, column=label["prime"])
    for cam in CAMERAS:
        ks, closed = _durations(raw[cam], url=url, column=label[cam], header=header)
        out[f"{cam}_ks"] = ks
        out[f"{cam}_closed"] = closed
    out["pi"] = raw["pi"].astype("string").str.strip().astype(object).to_numpy()
    prime_s = _prime_seconds(out, "ks")
    none = ~(prime_s > 0)
    if none.any():
        i = _first_bad(none)
        raise ParseError(NAME, url, f"prime instrument {out['prime'].iloc[i]} has no exposure", row=i)
    window_s = (out["t_max"] - out["t_min"]).to_numpy() * 86_400.0
    long = prime_s > window_s + EXPOSURE_SLACK_S
    if long.any():
        i = _first_bad(long)
        raise ParseError(
            NAME,
            url,
            f"prime instrument {out['prime'].iloc[i]} exposes {prime_s[i] / 1000:.1f} ks, longer than the "
            f"{window_s[i] / 1000:.1f} ks from start to end",
            row=i,
        )
    out = merge_duplicate_ids(
        out,
        "obs_id",
        source=NAME,
        url=url,
        same=SAME_OBSERVATION,
        combine={"t_min": "min", "t_max": "max", "revolution": "min"},
    )
    return out.reset_index(drop=True)


def _prime_seconds(frame: pd.DataFrame, unit: str) -> np.ndarray:
    """Longest exposure (s) among the prime instrument's cameras; ``unit`` is ``ks`` or ``time`` (s)."""
    scale = 1000.0 if unit == "ks" else 1.0
    out = np.full(len(frame), np.nan)
    prime = frame["prime"].to_numpy(dtype=object)
    for name, inst in INSTRUMENTS.items():  # three instruments, not rows
        cols = [f"{c}_{unit}" for c in inst.cameras if f"{c}_{unit}" in frame.columns]
        if not cols:  # an answer without camera times: the caller falls back to the duration
            continue
        best = frame[cols].astype("float64").max(axis=1, skipna=True).to_numpy() * scale
        out = np.where(prime == name, best, out)
    return out


def parse_master(content: bytes, url: str) -> pd.DataFrame:
    """Xmmmaster rows: ``obsid`` a 10-char string, times MJD, camera times in s, ``status`` lower case.

    Parameters
    ----------
    content
        The TAP answer (VOTable bytes; the XML declaration names its encoding).
    url
        Where it came from (named in errors).

    Returns
    -------
    pandas.DataFrame
        One row per obs id (agreeing duplicates merged, :func:`scrapers.identity.merge_duplicate_ids`).

    Raises
    ------
    ParseError
        Not a VOTable, a service error, missing columns, a bad obs id, status, time or position.
    """
    frame = read_votable(content, source=NAME, url=url, string_columns=("obsid",))
    required = ("obsid", "time", "end_time", "duration", "status")
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise ParseError(
            NAME, url, f"xmmmaster columns missing: {missing}", column=missing[0], found=list(frame.columns)
        )
    if frame.empty:
        return frame.assign(obsid=frame["obsid"].astype(object))
    frame = frame.reset_index(drop=True)
    try:
        frame["obsid"] = obs_ids(frame["obsid"])
    except ValueParseError as exc:
        raise value_error(exc, source=NAME, url=url, column="obsid") from exc
    status = frame["status"].astype("string").str.strip().str.lower()
    unknown = ~status.isin(KNOWN_STATUSES).to_numpy(dtype=bool)
    if unknown.any():
        i = _first_bad(unknown)
        raise ParseError(NAME, url, f"unknown xmmmaster status {frame['status'].iloc[i]!r}", row=i, column="status")
    frame["status"] = status.astype(object)
    for col in ("time", "end_time", "duration", "ra", "dec", *(f"{c}_time" for c in CAMERAS)):
        if col in frame.columns:
            frame[col] = pd.to_numeric(frame[col], errors="coerce").astype("float64")
    checks = [(c, lambda v: check_mjd(v, valid=XMM_MJD)) for c in ("time", "end_time")]
    checks += [(c, f) for c, f in (("ra", wrap_ra), ("dec", check_dec)) if c in frame.columns]
    for col, check in checks:
        try:
            frame[col] = check(frame[col].to_numpy())
        except ValueParseError as exc:
            raise value_error(exc, source=NAME, url=url, column=col) from exc
    has_pos = "ra" in frame.columns and "dec" in frame.columns
    return merge_duplicate_ids(
        frame,
        "obsid",
        source=NAME,
        url=url,
        same=[c for c in ("name", "status") if c in frame.columns],
        ra="ra" if has_pos else None,
        dec="dec" if has_pos else None,
        combine={"time": "min", "end_time": "max"},
    ).reset_index(drop=True)


def parse(name: str, content: bytes, url: str, content_type: str | None = None) -> pd.DataFrame:
    """Source frame of one response, dispatched on the request name.

    Parameters
    ----------
    name
        ``short_term_schedule`` (HTML page or its CSV export) or ``xmmmaster``.
    content, url
        Response bytes and where they came from.
    content_type
        The recorded HTTP ``Content-Type`` (its charset decodes the page).

    Returns
    -------
    pandas.DataFrame
        The source frame (:func:`parse_schedule`, :func:`parse_master`).
    """
    if name in ("short_term_schedule", "short_term_schedule_csv"):
        return parse_schedule(content, url, content_type)
    if name == "xmmmaster":
        return parse_master(content, url)
    raise ParseError(NAME, url, f"unknown request name {name!r}")


# ------------------------------------------------------------------------------------- footprint
def epic_footprint(ra: np.ndarray, dec: np.ndarray, pa: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vertices ``(n, 8)`` of the octagon circumscribing the 30' EPIC field, first vertex at PA, CCW."""
    rho = np.deg2rad(EPIC_FOV_DEG / 2.0 / np.cos(np.pi / FOOTPRINT_VERTICES))
    theta = np.deg2rad(pa[:, None] + 360.0 / FOOTPRINT_VERTICES * np.arange(FOOTPRINT_VERTICES)[None, :])
    d0 = np.deg2rad(dec)[:, None]
    sin_d = np.sin(d0) * np.cos(rho) + np.cos(d0) * np.sin(rho) * np.cos(theta)
    dv = np.arcsin(np.clip(sin_d, -1.0, 1.0))
    dra = np.arctan2(np.sin(theta) * np.sin(rho) * np.cos(d0), np.cos(rho) - np.sin(d0) * sin_d)
    return (ra[:, None] + np.rad2deg(dra)) % 360.0, np.rad2deg(dv)


# ------------------------------------------------------------------------------------- normalise
def normalise(frames: dict[str, pd.DataFrame], as_of: dt.datetime) -> dict[str, pd.DataFrame]:
    """``obsplan`` rows: the schedule (Scheduled), merged on obs id with xmmmaster (Performed)."""
    if as_of.tzinfo is None:
        raise ValueError("as_of must be tz-aware UTC")
    sched = frames.get("short_term_schedule")
    if sched is None:
        sched = _empty_schedule()
    master = frames.get("xmmmaster")
    flown = pd.DataFrame(columns=list(MASTER_COLUMNS))
    if master is not None and not master.empty:
        flown = master[master["status"].isin(PERFORMED_STATUSES)].drop_duplicates("obsid")
    plan = sched.set_index("obs_id", drop=False)
    fl = flown.set_index("obsid", drop=False)
    ids = pd.Index(plan.index).append(pd.Index(fl.index).difference(plan.index))
    out = pd.DataFrame(index=ids)
    out["obs_id"] = ids.to_numpy(dtype=object)
    in_plan = ids.isin(plan.index)
    in_flown = ids.isin(fl.index)
    p = plan.reindex(ids)
    f = fl.reindex(ids)
    prime = p["prime"].where(in_plan, "EPIC").to_numpy(dtype=object)
    f_prime = f.assign(prime=prime)
    flown_exp = _prime_seconds(f_prime, "time") if len(f) else np.array([])
    flown_exp = np.where(flown_exp > 0, flown_exp, f["duration"].to_numpy(dtype="float64"))
    plan_exp = _prime_seconds(p.assign(prime=prime), "ks") if len(p) else np.array([])

    out["target_name"] = p["target_name"].where(in_plan, f["name"] if "name" in f else None).astype(object)
    out["obs_collection"] = FACILITY
    out["s_ra"] = np.where(in_plan, p["ra"], f["ra"] if "ra" in f else np.nan).astype("float64")
    out["s_dec"] = np.where(in_plan, p["dec"], f["dec"] if "dec" in f else np.nan).astype("float64")
    prime_s = pd.Series(prime, dtype=object)
    meta = {
        k: prime_s.map({n: getattr(i, k) for n, i in INSTRUMENTS.items()}).to_numpy(dtype="float64", na_value=np.nan)
        for k in _META
    }
    out["s_fov"] = meta["s_fov"]
    pa = p["pa"].to_numpy(dtype="float64")
    has_pa = in_plan & ~np.isnan(pa)
    region = circle_stcs(out["s_ra"], out["s_dec"], EPIC_FOV_DEG / 2.0)
    if has_pa.any():
        vra, vdec = epic_footprint(out["s_ra"].to_numpy()[has_pa], out["s_dec"].to_numpy()[has_pa], pa[has_pa])
        region[has_pa] = polygon_stcs(vra, vdec).to_numpy()
    out["s_region"] = region.to_numpy(dtype=object)
    out["s_resolution"] = meta["s_resolution"]
    out["t_min"] = np.where(in_flown, f["time"], p["t_min"]).astype("float64")
    out["t_max"] = np.where(in_flown, f["end_time"], p["t_max"]).astype("float64")
    out["t_plan_exptime"] = np.where(in_plan, plan_exp, np.nan)
    out["t_exptime"] = np.where(in_flown, flown_exp, plan_exp)
    out["t_resolution"] = np.nan
    out["em_min"] = meta["em_min"]
    out["em_max"] = meta["em_max"]
    out["em_res_power"] = meta["em_res_power"]
    out["o_ucd"] = "phot.count"
    out["pol_states"] = None
    out["pol_xel"] = pd.array([pd.NA] * len(out), dtype="Int32")
    out["facility_name"] = FACILITY
    out["instrument_name"] = prime
    out["category"] = "Other"
    out["priority"] = np.int32(1)
    out["execution_status"] = np.where(in_flown, "Performed", "Scheduled").astype(object)
    out["tracking_type"] = "Sidereal"
    out["x_xmm_newton_revolution"] = pd.array(
        np.where(in_plan, p["revolution"], f["xmm_revolution"] if "xmm_revolution" in f else np.nan), dtype="Float64"
    ).astype("Int64")
    out["x_xmm_newton_pa"] = pa
    for cam in CAMERAS:
        out[f"x_xmm_newton_{cam}_ks"] = p[f"{cam}_ks"].to_numpy(dtype="float64")
        out[f"x_xmm_newton_{cam}_filter_closed"] = p[f"{cam}_closed"].astype("boolean").to_numpy()
    out["x_xmm_newton_filter_closed"] = _prime_all_closed(p, prime, in_plan)
    out["x_xmm_newton_pi"] = p["pi"].astype(object).to_numpy()
    out["x_xmm_newton_master_status"] = f["status"].astype(object).to_numpy() if "status" in f else None
    text = [c for c in out.columns if out[c].dtype == object]
    out[text] = out[text].astype(object).where(out[text].notna(), None)
    return {"obsplan": out.reset_index(drop=True)}


_META = ("s_fov", "s_resolution", "em_min", "em_max", "em_res_power")


def _prime_all_closed(p: pd.DataFrame, prime: np.ndarray, in_plan: np.ndarray) -> pd.arrays.BooleanArray:
    """Whether every used camera of the prime instrument exposed with its filter closed."""
    result = pd.array([pd.NA] * len(p), dtype="boolean")
    for name, inst in INSTRUMENTS.items():
        used = np.column_stack([p[f"{c}_ks"].to_numpy(dtype="float64") > 0 for c in inst.cameras])
        closed = np.column_stack([p[f"{c}_closed"].fillna(False).to_numpy(dtype=bool) for c in inst.cameras])
        flag = (used & closed).sum(axis=1) == used.sum(axis=1)
        sel = (prime == name) & in_plan
        result[sel] = flag[sel]
    return result


def _empty_schedule() -> pd.DataFrame:
    """An empty schedule frame with the parser's columns (no page fetched)."""
    cols = {"obs_id": object, "revolution": "int64", "target_name": object, "ra": "float64", "dec": "float64"}
    cols |= {"pa": "float64", "t_min": "float64", "t_max": "float64", "prime_text": object, "prime": object}
    for cam in CAMERAS:
        cols[f"{cam}_ks"] = "float64"
        cols[f"{cam}_closed"] = bool
    cols["pi"] = object
    return pd.DataFrame({k: pd.Series(dtype=v) for k, v in cols.items()})


SOURCE = Source(
    name=NAME,
    facility=FACILITY,
    hosts=("xmm-tools.cosmos.esa.int", HEASARC_TAP.split("/")[2]),
    cron="0 */6 * * *",
    requests=requests,
    parse=parse,
    normalise=normalise,
    id_pattern=r"^[0-9]{10}$",
    description="XMM-Newton short-term schedule (Scheduled) reconciled with HEASARC xmmmaster (Performed)",
)

__all__ = [
    "FACILITY",
    "INSTRUMENTS",
    "LAYOUTS",
    "SCHEDULE_HEADERS",
    "SOURCE",
    "epic_footprint",
    "normalise",
    "obs_ids",
    "parse",
    "parse_master",
    "parse_schedule",
    "requests",
]
