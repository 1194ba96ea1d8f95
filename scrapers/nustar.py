"""NuSTAR: the SOC schedule page (short and long range), its ObsLoc text variant, and HEASARC numaster.

Requests (``requests(as_of)``)
------------------------------
``schedule``
    ``Schedule.php``: one page, two tables. ``parse("schedule", ...)`` returns both, stacked, with
    a ``table`` discriminator (``short_range`` / ``long_range``).
``obsloc_text``
    The short-range schedule as ``|``-delimited "ObsLoc" text: row 1 column names, row 2 units,
    row 3 types, then data. Same columns as the short-range table.
``numaster``
    HEASARC TAP (ADQL): the as-flown record of observations overlapping ``[as_of - 30 d, as_of]``.

Parsing
-------
Tables and columns are found by header text with synonyms (:mod:`scrapers.html_tables`); a
missing required header, a garbage value, an empty schedule table (short or long range: the SOC
always lists something, so an empty table means a broken page) or a page that is not the schedule
raise :class:`ParseError` naming source, URL, row (1-based row of its table) and column (with the
headers found). Unknown extra headers are tolerated (listed in the frame's attrs). A numaster
answer with zero rows is a valid statement (nothing flown in the window), not an error.

Short-range times are day-of-year UTC (``YYYY:DDD:HH:MM:SS``); long-range dates are the Monday
of the planned week (``YYYY-MM-DD`` or ``YYYY:DDD``), so that row spans Monday 00:00 to the
next Monday. Sequence IDs stay 11-digit strings. Target names are decoded (``_`` -> space, and
between digits ``p`` -> ``+``, ``m`` -> ``-``, ``d`` -> ``.``: ``GRS_1915p105`` -> ``GRS 1915+105``);
the page's own name is kept beside it.

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
One row per sequence ID. Plan precedence: short-range page > ObsLoc text > long-range table
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
import warnings

import numpy as np
import pandas as pd

from models.regions import circle_stcs
from models.tables.obsplan import OBSPLAN
from models.timeutil import TimeParseError, mjd_from_datetime, mjd_from_doy, timestamps_to_mjd
from models.units import kev_band_to_em
from scrapers import html_tables
from scrapers.base import ParseError, Request, Source
from scrapers.heasarc import HEASARC_TAP, tap_request
from scrapers.votable_io import read_votable

NAME = "nustar"
FACILITY = "NuSTAR"
INSTRUMENT = "FPMA/FPMB"
SCHEDULE_URL = "https://nustarsoc.caltech.edu/NuSTAR_Public/NuSTAROperationSite/Schedule.php"
#: UNVERIFIED: sources.md says the page offers an ObsLoc text file; its exact URL is not known.
OBSLOC_TEXT_URL = "https://nustarsoc.caltech.edu/NuSTAR_Public/NuSTAROperationSite/ObsLoc/NuSTAR_ObsLoc_short_range.txt"

#: Instrument facts (sources.md): 3-79 keV, ~12 arcmin FoV diameter, 18 arcsec FWHM.
BAND_KEV = (3.0, 79.0)
EM_MIN_M, EM_MAX_M = kev_band_to_em(*BAND_KEV)
FOV_DEG = 0.2
RESOLUTION_ARCSEC = 18.0
O_UCD = "phot.count"
#: Days of numaster history asked for, ending at the as-of date.
NUMASTER_LOOKBACK_DAYS = 30
ID_PATTERN = r"\d{11}"

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
NUMASTER_REQUIRED = ("obsid", "name", "ra", "dec", "time", "end_time", "exposure_a", "observation_mode", "status")
NUMASTER_OPTIONAL = ("ontime_a", "obs_type", "cycle", "coordinated", "comments")
_PERFORMED_STATUSES = ("processed", "archived")
_EXP_UNITS = {"ks": 1e3, "ksec": 1e3, "s": 1.0, "sec": 1.0}
_ANGLE_UNITS = ("deg", "degree", "degrees")

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
    """The schedule page, its ObsLoc text and the numaster as-flown query for ``as_of``."""
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


def _fail(frame: pd.DataFrame, mask: np.ndarray, name: str, what: str, source_url: tuple[str, str]) -> None:
    """Raise naming the first offending row (1-based) and the page's header."""
    if not mask.any():
        return
    k = int(np.flatnonzero(mask)[0])
    value = frame[name].iloc[k]
    raise ParseError(
        *source_url,
        f"{what}: {value!r}",
        row=k + 1,
        column=_header(frame, name),
        found=frame.attrs.get("headers"),
    )


def _numbers(frame: pd.DataFrame, name: str, where: tuple[str, str], lo: float, hi: float) -> np.ndarray:
    text = frame[name].astype("string").str.strip()
    values = pd.to_numeric(text, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    bad = np.isnan(values) | (values < lo) | (values > hi)
    _fail(frame, bad, name, f"not a number in [{lo}, {hi}]", where)
    return values


def _doy(frame: pd.DataFrame, name: str, where: tuple[str, str]) -> np.ndarray:
    text = frame[name].astype("string").str.strip()
    try:
        values = mjd_from_doy(text.where(text != "", "<empty>"))
    except TimeParseError as exc:
        mask = np.zeros(len(frame), dtype=bool)
        mask[exc.rows] = True
        _fail(frame, mask, name, "not a day-of-year time YYYY:DDD:HH:MM:SS", where)
        raise  # pragma: no cover - _fail always raises on a non-empty mask
    return values


def _week_start(frame: pd.DataFrame, name: str, where: tuple[str, str]) -> np.ndarray:
    text = frame[name].astype("string").str.strip()
    iso = pd.to_datetime(text, format="%Y-%m-%d", utc=True, errors="coerce")
    doy = pd.to_datetime(text, format="%Y:%j", utc=True, errors="coerce")
    days = iso.fillna(doy)
    _fail(frame, days.isna().to_numpy(), name, "not a date YYYY-MM-DD or YYYY:DDD", where)
    _fail(frame, (days.dt.day_of_week != 0).to_numpy(), name, "week date is not a Monday", where)
    return timestamps_to_mjd(days)


def _ids(frame: pd.DataFrame, name: str, where: tuple[str, str]) -> pd.Series:
    ids = frame[name].astype("string").str.strip()
    _fail(frame, ~ids.str.fullmatch(ID_PATTERN).fillna(False).to_numpy(dtype=bool), name, "not an 11-digit ID", where)
    return ids.astype(object)


def _rows_frame(raw: pd.DataFrame, table: str, where: tuple[str, str]) -> pd.DataFrame:
    """Typed source frame of one schedule table (short/long range, or the ObsLoc text)."""
    out = pd.DataFrame(index=range(len(raw)))
    out["table"] = table
    out["row"] = np.arange(1, len(raw) + 1)
    out["sequence_id"] = _ids(raw, "sequence_id", where).to_numpy()
    out["name"] = raw["name"].astype("string").str.strip().astype(object).to_numpy()
    _fail(raw, (out["name"].fillna("") == "").to_numpy(), "name", "empty target name", where)
    out["target_name"] = decode_name(out["name"]).to_numpy()
    out["ra_deg"] = _numbers(raw, "ra", where, 0.0, 360.0)
    out["dec_deg"] = _numbers(raw, "dec", where, -90.0, 90.0)
    out["exp_s"] = _numbers(raw, "exp_ks", where, 0.0, 1e4) * raw.attrs.get("exp_factor", 1e3)
    notes = raw["notes"] if "notes" in raw.columns else pd.Series("", index=raw.index)
    out["notes"] = notes.fillna("").astype(str).str.strip().to_numpy()
    if table == "long_range":
        start = _week_start(raw, "week", where)
        out["t_start"] = start
        out["t_end"] = start + 7.0
    else:
        out["t_start"] = _doy(raw, "obs_start", where)
        out["t_end"] = _doy(raw, "obs_end", where)
        _fail(raw, out["t_end"].to_numpy() < out["t_start"].to_numpy(), "obs_end", "end before start", where)
    return out


def _html_table(tables: list[html_tables.HtmlTable], title: str, columns, required, where) -> pd.DataFrame:
    table = html_tables.find_table(tables, title=title, source=where[0], url=where[1])
    raw = html_tables.select_columns(table, columns, required=required, source=where[0], url=where[1])
    return raw.reset_index(drop=True)


def parse_schedule(content: bytes, url: str) -> pd.DataFrame:
    """Both tables of ``Schedule.php``, stacked with a ``table`` column (short_range/long_range)."""
    where = (NAME, url)
    tables = html_tables.read_tables(content, source=NAME, url=url)
    short = _html_table(tables, "Short Range", SHORT_COLUMNS, SHORT_REQUIRED, where)
    long = _html_table(tables, "Long Range", LONG_COLUMNS, LONG_REQUIRED, where)
    return pd.concat(
        [_rows_frame(short, "short_range", where), _rows_frame(long, "long_range", where)], ignore_index=True
    )


def parse_obsloc_text(content: bytes, url: str) -> pd.DataFrame:
    """The ``|``-delimited ObsLoc short-range text: names, units, types rows, then data."""
    where = (NAME, url)
    text = content.decode("utf-8", "replace")
    if text.lstrip()[:1] == "<":
        raise ParseError(NAME, url, f"expected |-delimited ObsLoc text, got markup: {text.strip()[:80]!r}")
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) < 3 or "|" not in lines[0]:
        raise ParseError(NAME, url, f"expected 3 header rows (names, units, types), got {len(lines)} lines")
    split = [[c.strip() for c in line.split("|")] for line in lines[:3]]
    names, units, _types = split
    if not (len(names) == len(units) == len(_types)):
        raise ParseError(NAME, url, "names, units and types rows differ in length", found=names)
    pos = html_tables.match_columns(names, SHORT_COLUMNS, required=SHORT_REQUIRED, source=NAME, url=url)
    if len(lines) == 3:
        raise ParseError(NAME, url, "ObsLoc text has no data rows", found=names)
    try:
        grid = pd.read_csv(
            io.StringIO("\n".join(lines[3:])), sep="|", header=None, dtype=str, keep_default_na=False, engine="python"
        )
    except pd.errors.ParserError as exc:
        raise ParseError(NAME, url, f"ragged ObsLoc text: {exc}", found=names) from exc
    if grid.shape[1] != len(names):
        raise ParseError(NAME, url, f"{grid.shape[1]} fields per row, header has {len(names)}", found=names)
    raw = pd.DataFrame({name: grid[k] for name, k in pos.items()}, dtype=object)
    raw.attrs["headers"] = names
    raw.attrs["header_of"] = {name: names[k] for name, k in pos.items()}
    exp_unit = units[pos["exp_ks"]].lower()
    if exp_unit not in _EXP_UNITS:
        raise ParseError(NAME, url, f"unknown exposure unit {exp_unit!r}", column=names[pos["exp_ks"]], found=units)
    raw.attrs["exp_factor"] = _EXP_UNITS[exp_unit]
    for axis in ("ra", "dec"):
        if units[pos[axis]].lower() not in _ANGLE_UNITS:
            raise ParseError(NAME, url, f"unknown angle unit {units[pos[axis]]!r}", column=names[pos[axis]])
    return _rows_frame(raw, "obsloc_text", where)


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
    must have an 11-digit obsid, start and end times and an exposure.
    """
    if content[:9] == b"SIMPLE  =":
        frame = _numaster_fits(content, url)
    else:
        frame = read_votable(content, source=NAME, url=url)
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
    ids_ok = out["obsid"].astype("string").str.fullmatch(ID_PATTERN).fillna(False).to_numpy(dtype=bool)
    _fail(out, perf & ~ids_ok, "obsid", "performed row without an 11-digit obsid", where)
    for name in ("time", "end_time", "exposure_a"):
        _fail(out, perf & out[name].isna().to_numpy(), name, "performed row without a value", where)
    _fail(out, perf & (out["end_time"] < out["time"]).to_numpy(), "end_time", "end before start", where)
    return out


def parse(name: str, content: bytes, url: str, content_type: str | None = None) -> pd.DataFrame:
    """Parse one response by request name (``schedule``, ``obsloc_text``, ``numaster``)."""
    if name == "schedule":
        return parse_schedule(content, url)
    if name == "obsloc_text":
        return parse_obsloc_text(content, url)
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
    """One row per sequence ID from the schedule sources, best source first (rank)."""
    parts = [frames[n] for n in ("schedule", "obsloc_text") if n in frames and len(frames[n])]
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in _PLAN_COLUMNS})
    plan = pd.concat(parts, ignore_index=True)
    plan["rank"] = plan["table"].map(_PLAN_RANK)
    best = plan.groupby("sequence_id")["rank"].transform("min")
    plan = plan[plan["rank"] == best]
    # One ID listed twice in one table (an interrupted, resumed observation): one row spanning both.
    return (
        plan.sort_values(["sequence_id", "t_start"], kind="stable")
        .groupby("sequence_id", sort=False, as_index=False)
        .agg(
            table=("table", "first"),
            name=("name", "first"),
            target_name=("target_name", "first"),
            ra_deg=("ra_deg", "first"),
            dec_deg=("dec_deg", "first"),
            exp_s=("exp_s", "sum"),
            notes=("notes", "first"),
            t_start=("t_start", "min"),
            t_end=("t_end", "max"),
        )
    )


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
    "SOURCE",
    "classify_notes",
    "decode_name",
    "normalise",
    "numaster_adql",
    "parse",
    "requests",
    "tracking_type",
]
