"""ESO (La Silla Paranal Observatory): schedule report runs and raw-archive exposures.

Requests (all on ``archive.eso.org``, harvested weekly):

``sched_rep_arc``
    The schedule report archive, wdb form ``sched_rep_arc`` queried with ``wdbo=csv/download``
    for the as-of period and the next one (``period=<p>..<p+1>``, wdb range syntax, assumed).
    :func:`parse` also reads the ``html/display`` answer of the same form (records printed as
    dot-padded label lines), so an operator can switch ``wdbo`` without touching the code.
``eso_archive_main``
    Raw-archive exposures (wdb ``eso_archive_main``, CSV) of the eight nights before as-of.
``amber``
    The AMBER wdb form (CSV) for the same window: it names the VLTI stations of every exposure
    (``ISS.CONF.STATION1..3``), which the uv coverage needs.
``tap_raw``
    TAP ``dbo.raw`` (``https://archive.eso.org/tap_obs``) for the same window, interferometric
    and radio instruments only (ob_id, telescope and observing mode that the wdb answer lacks).
``apex_quicklooks``
    TAP ``ist.apex_quicklooks``: APEX per-night quick-look products released in the window.

Normalisation:

* Runs -> ObsLocTAP rows (``obs_id`` = run id): ``Scheduled`` when nights are given (visitor
  runs), else ``Planned`` spanning the period. Mapping: visitor -> category ``Fixed``, priority
  2 (nights fixed, hard to move); service -> ``Other``, priority 0 (queue, easily shifted);
  unknown mode -> ``Other``, 1. ``tracking_type`` ``Sidereal`` (ESO telescopes track the sky).
* Exposures (science only) -> observations grouped per OB and night; without an OB id per
  (run, instrument, object, night). A *night* is the date of its evening: the ESO archive's night
  starts at 12:00 UT (eso_archive_main form: "night begin [12:00 UT]"), i.e.
  ``night = floor(MJD-OBS - 0.5)``. ``obs_id`` = ``<OB id>-<YYYYMMDD>`` (else
  ``<run id>-<instrument>-<object>-<YYYYMMDD>``). ``t_min``/``t_max`` from the first start and
  the last end, ``t_exptime`` = sum of exposure times; ``Performed``.
* Observations are matched to runs by programme id (run ``099.C-0667(B)`` -> programme
  ``099.C-0667``) and time (inside the run's nights or period). A run whose end is before
  as-of and that has matched observations is replaced by them; otherwise it stays as it was.
* VLTI observations also give ``obscore`` + ``obscore_radio`` rows (:mod:`models.radio`), and
  APEX quick-looks give single-dish ones.
"""

from __future__ import annotations

import datetime as dt
import io
import re

import lxml.html
import numpy as np
import pandas as pd

from models import radio
from models.regions import circle_stcs
from models.tables.obscore import OBSCORE
from models.tables.obscore_radio import OBSCORE_RADIO
from models.tables.obsplan import OBSPLAN
from models.timeutil import MJD_EPOCH, mjd_from_iso
from scrapers.base import ParseError, Request, Source, SourceError
from scrapers.votable_io import read_votable

NAME = "eso"
ARCHIVE = "https://archive.eso.org"
SCHED_REP_URL = f"{ARCHIVE}/wdb/wdb/eso/sched_rep_arc/query"
MAIN_URL = f"{ARCHIVE}/wdb/wdb/eso/eso_archive_main/query"
AMBER_URL = f"{ARCHIVE}/wdb/wdb/eso/amber/query"
TAP_URL = f"{ARCHIVE}/tap_obs"
#: Nights looked back by the weekly archive queries (one week plus a night of overlap).
LOOKBACK_NIGHTS = 8
#: Instruments the TAP query asks for: VLTI and APEX (models.radio.INSTRUMENTS).
RADIO_INSTRUMENTS = tuple(sorted(radio.INSTRUMENTS))

RUN_ID = r"\d{2,4}\.[A-Z]-\d{4}\([A-Z]\)"
#: APEX quick-look product names as the archive lists them (``E-095.F-9802A.2015JUL15.TAR``).
APEX_QUICKLOOK_ID = r"E-\d{2,4}\.[A-Z]-\d{4}[A-Z]\.\d{4}[A-Z]{3}\d{2}\.TAR"
ID_PATTERN = rf"{RUN_ID}|\d+-\d{{8}}|{RUN_ID}-[A-Z0-9]+-.+-\d{{8}}|{APEX_QUICKLOOK_ID}"
_RUN_ID_RE = re.compile(rf"^{RUN_ID}$")
_DATE_RE = r"\d{4}-\d{2}-\d{2}"
_NIGHT_DAYS = 1.0

#: Facility by instrument, for records that do not name the telescope (wdb answers).
INSTRUMENT_FACILITY: dict[str, str] = {
    **{k: v.facility for k, v in radio.INSTRUMENTS.items()},
    "MIDI": "ESO-VLTI",
    **dict.fromkeys(
        (
            "CRIRES",
            "ERIS",
            "ESPRESSO",
            "FLAMES",
            "FORS1",
            "FORS2",
            "GIRAFFE",
            "HAWKI",
            "ISAAC",
            "KMOS",
            "MUSE",
            "NACO",
            "SINFONI",
            "SPHERE",
            "UVES",
            "VIMOS",
            "VISIR",
            "XSHOOTER",
        ),
        "ESO-VLT",
    ),
    "VIRCAM": "ESO-VISTA",
    "OMEGACAM": "ESO-VST",
    "HARPS": "ESO-3.6m",
    "EFOSC": "ESO-NTT",
    "SOFI": "ESO-NTT",
    "APEXBOL": "APEX",
}
#: Facility by telescope text (schedule ``Telescope`` column, TAP ``telescope``), first match wins.
TELESCOPE_FACILITY: tuple[tuple[str, str], ...] = (
    (r"VLTI", "ESO-VLTI"),
    (r"^(?:ESO-VLT-)?U[1-4T]|^UT[1-4]|^VLT", "ESO-VLT"),
    (r"VISTA", "ESO-VISTA"),
    (r"VST", "ESO-VST"),
    (r"APEX", "APEX"),
    (r"NTT", "ESO-NTT"),
    (r"3\.?6|3P6", "ESO-3.6m"),
)

# Canonical source-frame columns and the header texts (normalised) that name them.
_RUN_HEADERS = {
    "period": ("period",),
    "run_id": ("runid", "programid", "programmeid", "progid", "program", "programme", "run"),
    "obs_mode": ("obsmode", "observingmode", "mode"),
    "run_type": ("runtype", "type"),
    "telescope": ("telescope", "tel"),
    "instrument": ("instrument", "instr"),
    "allocation": ("time", "timeallocated", "allocatedtime", "allocation", "nightsorhours"),
    "nights": ("nights", "schedulednights", "dates"),
    "pi": ("picoi", "pi"),
    "title": ("title", "programmetitle", "programtitle"),
}
_RUN_REQUIRED = ("period", "run_id", "telescope", "instrument")
_MAIN_HEADERS = {
    "object": ("object", "target"),
    "ra": ("ra",),
    "dec": ("dec",),
    "run_id": ("programid", "progid"),
    "instrument": ("instrument",),
    "dp_cat": ("category", "dpcatg", "dpcat"),
    "dp_type": ("type", "dptype"),
    "dp_tech": ("mode", "dptech"),
    "dp_id": ("datasetid", "dpid"),
    "release_date": ("releasedate",),
    "tpl_start": ("tplstart",),
    "exptime": ("exptime",),
    "mjd_obs": ("mjdobs",),
    "ob_id": ("obid",),
}
_MAIN_REQUIRED = ("object", "ra", "dec", "run_id", "instrument", "dp_id", "exptime", "mjd_obs")
_AMBER_HEADERS = {
    "object": ("object",),
    "ra": ("ra",),
    "dec": ("dec",),
    "run_id": ("progid", "programid"),
    "dp_id": ("dpid", "datasetid"),
    "ob_id": ("obid",),
    "dp_cat": ("dpcatg", "category"),
    "station1": ("issconfstation1",),
    "station2": ("issconfstation2",),
    "station3": ("issconfstation3",),
    "station4": ("issconfstation4",),
}
_AMBER_REQUIRED = ("dp_id", "ob_id", "run_id", "station1", "station2")
_TAP_RAW_REQUIRED = ("dp_id", "prog_id", "ob_id", "instrument", "telescope", "exposure", "mjd_obs", "ra", "dec")
_TAP_RAW_COLUMNS = (
    "dp_id",
    "prog_id",
    "ob_id",
    "object",
    "target",
    "ra",
    "dec",
    "instrument",
    "telescope",
    "exposure",
    "mjd_obs",
    "date_obs",
    "obs_mode",
    "dp_cat",
    "dp_type",
    "dp_tech",
    "pi_coi",
    "prog_title",
    "release_date",
)
_APEX_QL_REQUIRED = ("quicklook_id", "prog_id", "instrument", "access_url")


# ----------------------------------------------------------------------------------- requests


def period_of(day: dt.date) -> int:
    """ESO period containing ``day``: even periods start 1 October, odd ones 1 April (P104 = 2019-10)."""
    if day.month >= 10:
        return 104 + 2 * (day.year - 2019)
    if day.month >= 4:
        return 103 + 2 * (day.year - 2019)
    return 104 + 2 * (day.year - 2020)


def period_bounds(period: int | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(start, end)`` MJD of periods: 12:00 UT of 1 April / 1 October to 12:00 UT six months later.

    Historical rule (P104 = 2019-10-01 .. 2020-03-31; sources.md); the COVID-era P105/P106 dates
    were not checked against the page. Noon UT is the ESO archive's night boundary.
    """
    p = np.asarray(period, dtype="int64")
    even = p % 2 == 0
    year = np.where(even, 2019 + (p - 104) // 2, 2020 + (p - 105) // 2)
    start_month = np.where(even, 10, 4)
    start = pd.to_datetime(
        pd.DataFrame({"year": year, "month": start_month, "day": 1, "hour": 12}).astype("int64"), utc=True
    )
    end = start + pd.DateOffset(months=6)
    return _ts_mjd(start), _ts_mjd(end)


def _ts_mjd(ts: pd.Series) -> np.ndarray:
    return ((ts - MJD_EPOCH) / pd.Timedelta(days=1)).to_numpy(dtype="float64")


def _wdb_date(day: dt.date) -> str:
    return day.strftime("%Y %m %d")


def tap_raw_adql(as_of: dt.date) -> str:
    """ADQL on ``dbo.raw``: science exposures of VLTI/APEX instruments in the look-back window."""
    start = as_of - dt.timedelta(days=LOOKBACK_NIGHTS)
    instruments = ", ".join(f"'{i}'" for i in RADIO_INSTRUMENTS)
    return (
        f"SELECT {', '.join(_TAP_RAW_COLUMNS)} FROM dbo.raw "
        f"WHERE dp_cat = 'SCIENCE' AND instrument IN ({instruments}) "
        f"AND exp_start >= '{start.isoformat()}T12:00:00' AND exp_start < '{as_of.isoformat()}T12:00:00'"
    )


def apex_quicklooks_adql(as_of: dt.date) -> str:
    """ADQL on ``ist.apex_quicklooks``: products released in the look-back window."""
    start = as_of - dt.timedelta(days=LOOKBACK_NIGHTS)
    return (
        "SELECT * FROM ist.apex_quicklooks "
        f"WHERE release_date >= '{start.isoformat()}' AND release_date < '{as_of.isoformat()}'"
    )


def requests(as_of: dt.date) -> list[Request]:
    """The five requests of a weekly ESO harvest for snapshot date ``as_of``."""
    p = period_of(as_of)
    start, end = _wdb_date(as_of - dt.timedelta(days=LOOKBACK_NIGHTS)), _wdb_date(as_of)
    sched = (
        ("wdbo", "csv/download"),
        ("max_rows_returned", "10000"),
        ("tab_period", "on"),
        ("period", f"{p}..{p + 1}"),
        ("tab_obs_mode", "on"),
        ("tab_run_type", "on"),
        ("run_type", "%"),
        ("tab_nights", "on"),
        ("tel", "%"),
        ("tab_instrument", "on"),
        ("instrument", "%"),
        ("tab_pi_coi", "on"),
        ("pi_coi_name", "PI_only"),
        ("tab_title", "on"),
        ("order", "PERIOD_PROGID"),
    )
    main = (
        ("wdbo", "csv/download"),
        ("max_rows_returned", "30000"),
        ("stime", start),
        ("starttime", "12"),
        ("etime", end),
        ("endtime", "12"),
        ("dp_cat", "SCIENCE"),
        ("tab_object", "on"),
        ("tab_target_coord", "on"),
        ("tab_prog_id", "on"),
        ("tab_instrument", "on"),
        ("tab_dp_cat", "on"),
        ("tab_dp_type", "on"),
        ("tab_dp_tech", "on"),
        ("tab_dp_id", "on"),
        ("tab_rel_date", "on"),
        ("tab_tpl_start", "on"),
        ("tab_exptime", "on"),
        ("tab_mjd_obs", "on"),
        ("tab_ob_id", "on"),
    )
    amber = (
        ("wdbo", "csv/download"),
        ("max_rows_returned", "30000"),
        ("stime", start),
        ("etime", end),
        ("dp_cat", "SCIENCE"),
        ("tab_prog_id", "on"),
        ("tab_dp_id", "on"),
        ("tab_ob_id", "on"),
        ("tab_dp_cat", "on"),
        ("tab_iss_conf_station1", "on"),
        ("tab_iss_conf_station2", "on"),
        ("tab_iss_conf_station3", "on"),
    )
    return [
        Request(source=NAME, name="sched_rep_arc", url=SCHED_REP_URL, params=sched),
        Request(source=NAME, name="eso_archive_main", url=MAIN_URL, params=main),
        Request(source=NAME, name="amber", url=AMBER_URL, params=amber),
        Request(source=NAME, name="tap_raw", url=TAP_URL, method="POST", kind="tap", query=tap_raw_adql(as_of)),
        Request(
            source=NAME,
            name="apex_quicklooks",
            url=TAP_URL,
            method="POST",
            kind="tap",
            query=apex_quicklooks_adql(as_of),
        ),
    ]


# ------------------------------------------------------------------------------------ parsing


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", str(text).lower())


def _pick(
    frame: pd.DataFrame, headers: dict[str, tuple[str, ...]], required: tuple[str, ...], what: str, url: str
) -> pd.DataFrame:
    """Rename columns found by header text (synonyms) to canonical names; ParseError on missing ones."""
    found = [str(c) for c in frame.columns]
    by_norm = {_norm(c): c for c in frame.columns}
    rename = {}
    for canon, synonyms in headers.items():
        hit = next((by_norm[s] for s in synonyms if s in by_norm), None)
        if hit is not None:
            rename[hit] = canon
        elif canon in required:
            raise ParseError(NAME, url, f"{what}: required header missing", column=canon, found=found)
    return frame[list(rename)].rename(columns=rename)


def _refuse_html(content: bytes, url: str, what: str) -> None:
    head = content[:512].lstrip(b"\xef\xbb\xbf\r\n\t ").lower()
    if head.startswith(b"<"):
        title = re.search(rb"<title>(.*?)</title>", content[:4096], re.I | re.S)
        shown = (title.group(1) if title else content[:100]).decode("utf-8", "replace").strip()
        raise ParseError(NAME, url, f"{what}: expected wdb CSV, got an HTML page ({shown!r})")


def read_wdb_csv(content: bytes, url: str, what: str) -> pd.DataFrame:
    """A wdb ``csv/download`` answer as text cells.

    The dialect: UTF-8 BOM (sometimes re-encoded as U+FFFD), a blank first line, ``#`` comment
    lines (query notes, row-limit and total-count messages) before and after the CSV block.
    """
    _refuse_html(content, url, what)
    text = content.decode("utf-8", "replace").lstrip("\ufeff\ufffd")
    lines = pd.Series(text.splitlines(), dtype=object)
    keep = lines.str.strip().ne("") & ~lines.str.lstrip().str.startswith("#")
    if not keep.any():
        raise ParseError(NAME, url, f"{what}: no CSV header in the answer", found=[])
    frame = pd.read_csv(io.StringIO("\n".join(lines[keep])), dtype=str, keep_default_na=False)
    frame.columns = [str(c).strip() for c in frame.columns]
    if frame.empty:
        raise ParseError(NAME, url, f"{what}: the table has no rows", found=list(frame.columns))
    return frame.apply(lambda col: col.str.strip())


_LABEL_LINE = re.compile(r"^\s*(?P<label>[^\s.:][^:]*?)\s*\.{2,}\s*:?\s*(?P<value>.*?)\s*$")


def read_wdb_display(content: bytes, url: str, what: str) -> pd.DataFrame:
    """A wdb ``html/display`` answer: records of dot-padded label lines, one record per ``Period``."""
    try:
        root = lxml.html.fromstring(content)
    except (ValueError, lxml.etree.ParserError) as exc:
        raise ParseError(NAME, url, f"{what}: unreadable HTML: {exc}") from exc
    lines = pd.Series(root.text_content().splitlines(), dtype=object)
    parts = lines.str.extract(_LABEL_LINE.pattern)
    parts = parts[parts["label"].notna()]
    labels = parts["label"].str.replace(r"\s+", " ", regex=True)
    first = labels.str.lower().str.replace(r"[^a-z0-9]", "", regex=True).eq("period")
    if not first.any():
        found = sorted(set(labels))
        raise ParseError(NAME, url, f"{what}: no record starts with a 'Period....' line", found=found)
    record = first.cumsum()
    parts = parts.assign(label=labels, record=record)[record > 0]
    dup = parts.duplicated(["record", "label"])
    if dup.any():
        row = int(parts.loc[dup, "record"].iloc[0])
        raise ParseError(NAME, url, f"{what}: a label repeats inside one record", row=row - 1)
    table = parts.pivot(index="record", columns="label", values="value").reset_index(drop=True)
    table.columns.name = None
    return table.fillna("")


def _bad(mask: np.ndarray | pd.Series, column: str, what: str, url: str, values: pd.Series, found: list[str]) -> None:
    mask = np.asarray(mask, dtype=bool)
    if mask.any():
        i = int(np.flatnonzero(mask)[0])
        raise ParseError(NAME, url, f"{what}: unreadable value {values.iloc[i]!r}", row=i, column=column, found=found)


def _numbers(frame: pd.DataFrame, col: str, what: str, url: str, found: list[str]) -> np.ndarray:
    text = frame[col].astype(str).str.strip()
    num = pd.to_numeric(text, errors="coerce")
    _bad(num.isna() & text.ne(""), col, what, url, text, found)
    return num.to_numpy(dtype="float64")


def _sexagesimal(text: pd.Series, hours: bool) -> np.ndarray:
    """Degrees from ``hh:mm:ss.s`` / ``dd:mm:ss.s`` (or plain degrees), vectorised; NaN if unreadable."""
    t = text.astype(str).str.strip()
    parts = t.str.split(":", expand=True).reindex(columns=[0, 1, 2])
    nums = parts.apply(pd.to_numeric, errors="coerce")
    sign = np.where(t.str.startswith("-"), -1.0, 1.0)
    sexa = sign * (nums[0].abs() + nums[1] / 60.0 + nums[2] / 3600.0)
    sexa = sexa * (15.0 if hours else 1.0)
    plain = pd.to_numeric(t, errors="coerce")
    return np.where(t.str.contains(":"), sexa, plain).astype("float64")


def _angles(frame: pd.DataFrame, what: str, url: str, found: list[str]) -> tuple[np.ndarray, np.ndarray]:
    ra = _sexagesimal(frame["ra"], hours=True)
    dec = _sexagesimal(frame["dec"], hours=False)
    _bad(np.isnan(ra) & frame["ra"].ne("") | (ra < 0) | (ra >= 360), "ra", what, url, frame["ra"], found)
    _bad(np.isnan(dec) & frame["dec"].ne("") | (np.abs(dec) > 90), "dec", what, url, frame["dec"], found)
    return ra, dec


def _run_ids(values: pd.Series, what: str, url: str, found: list[str], column: str) -> pd.Series:
    ids = values.astype(str).str.strip()
    _bad(~ids.str.fullmatch(RUN_ID), column, f"{what} (run id like 099.C-0667(B))", url, ids, found)
    return ids


def parse_schedule(content: bytes, url: str) -> pd.DataFrame:
    """Runs of the schedule report (CSV or html/display answer) as a source frame."""
    what = "sched_rep_arc"
    head = content[:2048].lstrip(b"\xef\xbb\xbf\r\n\t ").lower()
    raw = read_wdb_display(content, url, what) if head.startswith(b"<") else read_wdb_csv(content, url, what)
    found = [str(c) for c in raw.columns]
    runs = _pick(raw, _RUN_HEADERS, _RUN_REQUIRED, what, url)
    for col in _RUN_HEADERS:
        if col not in runs.columns:
            runs[col] = ""
    period = _numbers(runs, "period", what, url, found)
    _bad(np.isnan(period) | (period < 1) | (period % 1 != 0), "period", what, url, runs["period"], found)
    run_id = _run_ids(runs["run_id"], what, url, found, "run_id")
    alloc = runs["allocation"].str.extract(r"^\s*(?P<value>\d+(?:\.\d+)?)\s*(?P<unit>[nNhH])[a-zA-Z]*\s*$")
    _bad(alloc["value"].isna() & runs["allocation"].ne(""), "allocation", what, url, runs["allocation"], found)
    nights = runs["nights"].astype(str)
    n_nights = nights.str.count(_DATE_RE)
    leftover = nights.str.replace(_DATE_RE, "", regex=True).str.replace(r"[\s,;]", "", regex=True)
    _bad(leftover.ne(""), "nights", f"{what} (nights as YYYY-MM-DD dates)", url, nights, found)
    first = nights.str.extract(rf"({_DATE_RE})", expand=False)
    last = nights.str.extract(rf".*({_DATE_RE})", expand=False)
    night_lo = mjd_from_iso(first.where(first.notna(), None)) + 0.5
    night_hi = mjd_from_iso(last.where(last.notna(), None)) + 0.5 + _NIGHT_DAYS
    frame = pd.DataFrame(
        {
            "period": period.astype("int64"),
            "run_id": run_id,
            "programme_id": run_id.str.replace(r"\([A-Z]\)$", "", regex=True),
            "obs_mode": runs["obs_mode"].str.strip().str.capitalize(),
            "run_type": runs["run_type"].str.strip(),
            "telescope": runs["telescope"].str.strip(),
            "instrument": runs["instrument"].str.strip().str.upper(),
            "alloc_value": pd.to_numeric(alloc["value"]).astype("float64"),
            "alloc_unit": alloc["unit"].str.lower().map({"n": "nights", "h": "hours"}),
            "n_nights": n_nights.astype("int64"),
            "night_t_min": night_lo,
            "night_t_max": night_hi,
            "pi": runs["pi"].str.strip(),
            "title": runs["title"].str.strip(),
        }
    ).drop_duplicates()
    dup = frame["run_id"].duplicated(keep=False)
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        raise ParseError(NAME, url, f"{what}: run {frame['run_id'].iloc[i]} listed twice", row=i, column="run_id")
    return frame.reset_index(drop=True)


def _night_start_mjd(mjd: np.ndarray) -> np.ndarray:
    """MJD (noon UT) at which the night of each instant began."""
    return np.floor(mjd - 0.5) + 0.5


def _mjd_from_dp_id(dp_id: pd.Series) -> np.ndarray:
    """Exposure start from an ESO dataset id (``AMBER.2006-03-14T07:40:03.741``)."""
    stamp = dp_id.str.extract(r"\.(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?)$", expand=False)
    return mjd_from_iso(stamp.where(stamp.notna(), None))


def parse_archive_main(content: bytes, url: str) -> pd.DataFrame:
    """Exposures of the ``eso_archive_main`` wdb answer."""
    what = "eso_archive_main"
    raw = read_wdb_csv(content, url, what)
    found = list(raw.columns)
    f = _pick(raw, _MAIN_HEADERS, _MAIN_REQUIRED, what, url)
    ra, dec = _angles(f, what, url, found)
    exptime = _numbers(f, "exptime", what, url, found)
    mjd = _numbers(f, "mjd_obs", what, url, found)
    _bad(np.isnan(mjd) | (mjd < 40000) | (mjd > 100000), "mjd_obs", what, url, f["mjd_obs"], found)
    _bad(np.isnan(exptime) | (exptime < 0), "exptime", what, url, f["exptime"], found)
    release = pd.to_datetime(f.get("release_date", pd.Series("", index=f.index)), format="%b %d %Y", errors="coerce")
    return pd.DataFrame(
        {
            "dp_id": f["dp_id"],
            "run_id": _run_ids(f["run_id"], what, url, found, "run_id"),
            "ob_id": f["ob_id"].replace("", None) if "ob_id" in f else None,
            "object": f["object"],
            "ra": ra,
            "dec": dec,
            "instrument": f["instrument"].str.upper(),
            "telescope": None,
            "dp_cat": f["dp_cat"].str.upper() if "dp_cat" in f else "SCIENCE",
            "exptime": exptime,
            "mjd_obs": mjd,
            "obs_mode": None,
            "release_date": release.dt.tz_localize("UTC"),
        }
    )


def parse_amber(content: bytes, url: str) -> pd.DataFrame:
    """AMBER exposures with their VLTI stations (``ISS.CONF.STATION1..3``) and OB ids."""
    what = "amber"
    raw = read_wdb_csv(content, url, what)
    found = list(raw.columns)
    f = _pick(raw, _AMBER_HEADERS, _AMBER_REQUIRED, what, url)
    station_cols = [c for c in ("station1", "station2", "station3", "station4") if c in f]
    st = f[station_cols]
    known = set(radio.vlti_stations().index)
    bad = ~(st.isin(known) | st.eq("")).all(axis=1)
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise ParseError(
            NAME, url, f"{what}: unknown VLTI station in {st.iloc[i].tolist()}", row=i, column="ISS.CONF.STATION"
        )
    joined = st[station_cols[0]].str.cat([st[c] for c in station_cols[1:]], sep=" ").str.split().str.join(" ")
    ob = f["ob_id"]
    _bad(~ob.str.fullmatch(r"-?\d+"), "ob_id", what, url, ob, found)
    start = _mjd_from_dp_id(f["dp_id"])
    return pd.DataFrame(
        {
            "dp_id": f["dp_id"],
            "run_id": _run_ids(f["run_id"], what, url, found, "run_id"),
            "ob_id": ob,
            "stations": joined,
            "mjd_start": start,
        }
    )


def _read_tap(
    content: bytes, url: str, what: str, required: tuple[str, ...], string_columns: tuple[str, ...]
) -> pd.DataFrame:
    """A TAP VOTable answer with its required columns and at least one row (ESO always lists some)."""
    t = read_votable(content, source=NAME, url=url, string_columns=string_columns)
    found = list(t.columns)
    missing = [c for c in required if c not in t.columns]
    if missing:
        raise ParseError(NAME, url, f"{what}: required column missing", column=missing[0], found=found)
    if t.empty:
        raise ParseError(NAME, url, f"{what}: the table has no rows", found=found)
    return t


def parse_tap_raw(content: bytes, url: str) -> pd.DataFrame:
    """Exposures of a TAP ``dbo.raw`` VOTable answer (ids kept as text)."""
    what = "tap_raw"
    t = _read_tap(content, url, what, _TAP_RAW_REQUIRED, ("ob_id", "prog_id", "dp_id"))
    found = list(t.columns)
    text = t.astype({c: str for c in ("dp_id", "prog_id", "instrument", "telescope")})
    ra = pd.to_numeric(t["ra"], errors="coerce").to_numpy(dtype="float64")
    dec = pd.to_numeric(t["dec"], errors="coerce").to_numpy(dtype="float64")
    exptime = pd.to_numeric(t["exposure"], errors="coerce").to_numpy(dtype="float64")
    mjd = pd.to_numeric(t["mjd_obs"], errors="coerce").to_numpy(dtype="float64")
    _bad(np.isnan(mjd) | (mjd < 40000), "mjd_obs", what, url, t["mjd_obs"].astype(str), found)
    _bad(np.isnan(exptime) | (exptime < 0), "exposure", what, url, t["exposure"].astype(str), found)
    _bad((ra < 0) | (ra >= 360) | (np.abs(dec) > 90), "ra", what, url, t["ra"].astype(str), found)
    if "date_obs" in t:
        # mjd_obs is rounded to 1e-3 d in dbo.raw; the ISO start is exact.
        iso = mjd_from_iso(t["date_obs"].astype(object).where(t["date_obs"].notna(), None))
        mjd = np.where(np.isnan(iso), mjd, iso)
    obj = t["object"] if "object" in t else t.get("target")
    release = pd.to_datetime(t["release_date"], utc=True, errors="coerce") if "release_date" in t else None
    ob = text["ob_id"].where(t["ob_id"].notna(), None)
    return pd.DataFrame(
        {
            "dp_id": text["dp_id"],
            "run_id": _run_ids(text["prog_id"], what, url, found, "prog_id"),
            "ob_id": ob,
            "object": obj.astype(object) if obj is not None else None,
            "ra": ra,
            "dec": dec,
            "instrument": text["instrument"].str.upper(),
            "telescope": text["telescope"],
            "dp_cat": t["dp_cat"].astype(str).str.upper() if "dp_cat" in t else "SCIENCE",
            "exptime": exptime,
            "mjd_obs": mjd,
            "obs_mode": t["obs_mode"].astype(object) if "obs_mode" in t else None,
            "release_date": release,
        }
    )


def parse_apex_quicklooks(content: bytes, url: str) -> pd.DataFrame:
    """APEX quick-look products (one per project and UT day, ``E-095.F-9802A.2015JUL15.TAR``)."""
    what = "apex_quicklooks"
    t = _read_tap(content, url, what, _APEX_QL_REQUIRED, ("prog_id", "quicklook_id", "project_id"))
    found = list(t.columns)
    ql = t["quicklook_id"].astype(str)
    day_text = ql.str.extract(r"\.(\d{4}[A-Z]{3}\d{2})\.TAR$", expand=False)
    day = pd.to_datetime(day_text.str.title(), format="%Y%b%d", errors="coerce", utc=True)
    _bad(day.isna(), "quicklook_id", f"{what} (id ending .YYYYMONDD.TAR)", url, ql, found)
    t_min = _ts_mjd(day)
    return pd.DataFrame(
        {
            "quicklook_id": ql,
            "run_id": _run_ids(t["prog_id"].astype(str), what, url, found, "prog_id"),
            "instrument": t["instrument"].astype(str).str.upper(),
            "access_url": t["access_url"].astype(str),
            "access_estsize": pd.to_numeric(t.get("access_estsize"), errors="coerce"),
            "pi": t["pi_coi"].astype(object) if "pi_coi" in t else None,
            "title": t["prog_title"].astype(object) if "prog_title" in t else None,
            "t_min": t_min,
            "t_max": t_min + 1.0,
            "release_date": pd.to_datetime(t["release_date"], utc=True, errors="coerce")
            if "release_date" in t
            else None,
        }
    )


_PARSERS = {
    "sched_rep_arc": parse_schedule,
    "eso_archive_main": parse_archive_main,
    "amber": parse_amber,
    "tap_raw": parse_tap_raw,
    "apex_quicklooks": parse_apex_quicklooks,
}


def parse(name: str, content: bytes, url: str, content_type: str | None = None) -> pd.DataFrame:
    """Source frame of one ESO answer, by request name."""
    try:
        parser = _PARSERS[name]
    except KeyError:
        raise ParseError(NAME, url, f"unknown request name {name!r}; known: {sorted(_PARSERS)}") from None
    return parser(content, url)


# ------------------------------------------------------------------------------- normalising


def facility_of(instrument: pd.Series, telescope: pd.Series | None = None) -> pd.Series:
    """``ESO-<telescope>`` (or ``APEX``) from the telescope text, else from the instrument; None if unknown."""
    out = pd.Series([None] * len(instrument), index=instrument.index, dtype=object)
    if telescope is not None:
        tel = telescope.fillna("").astype(str).str.upper()
        for pattern, facility in reversed(TELESCOPE_FACILITY):
            out = out.mask(tel.str.contains(pattern, regex=True), facility)
    by_instrument = instrument.astype(str).str.upper().map(INSTRUMENT_FACILITY)
    interferometric = by_instrument.eq("ESO-VLTI")
    out = out.mask(interferometric, "ESO-VLTI")
    return out.fillna(by_instrument).astype(object)


def _mode_mapping(mode: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(category, priority): visitor -> Fixed/2, service -> Other/0, unknown -> Other/1."""
    m = mode.fillna("").astype(str).str.strip().str.lower()
    visitor = m.str.startswith("v")
    service = m.str.startswith("s")
    category = np.where(visitor, "Fixed", "Other")
    priority = np.where(visitor, 2, np.where(service, 0, 1))
    return category, priority


def _empty_obsplan(n: int) -> pd.DataFrame:
    cols = [c for c in OBSPLAN.columns if c.name != "t_planning"]
    return pd.DataFrame(
        {c.name: pd.Series([None] * n, dtype="float64" if c.datatype == "double" else object) for c in cols}
    )


#: Optical/IR instruments: (em_min m, em_max m, field-of-view diameter deg) from ESO's instrument
#: pages; the diameter is that of the circle enclosing the largest imaging/IFU field (a superset, so
#: cone searches never miss). Interferometric and radio instruments live in ``models.radio``.
OPTICAL_INSTRUMENTS: dict[str, tuple[float, float, float]] = {
    "SINFONI": (1.1e-6, 2.45e-6, 8.0 * 2**0.5 / 3600.0),  # 8" x 8" IFU field
    "MUSE": (465e-9, 930e-9, 60.0 * 2**0.5 / 3600.0),  # 1' x 1' wide-field mode
    "NACO": (1.0e-6, 5.0e-6, 56.0 * 2**0.5 / 3600.0),  # 56" x 56" widest camera
    "HAWKI": (0.85e-6, 2.5e-6, 7.5 * 2**0.5 / 60.0),  # 7.5' x 7.5'
    "FORS2": (330e-9, 1100e-9, 6.8 * 2**0.5 / 60.0),  # 6.8' x 6.8'
    "VIRCAM": (0.83e-6, 2.5e-6, 1.65),  # VISTA's 1.65 deg diameter field
    "OMEGACAM": (330e-9, 1000e-9, 2**0.5),  # VST 1 deg x 1 deg
}


def _band(instrument: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    lo = {**{k: v.em_min for k, v in radio.INSTRUMENTS.items()}, **{k: v[0] for k, v in OPTICAL_INSTRUMENTS.items()}}
    hi = {**{k: v.em_max for k, v in radio.INSTRUMENTS.items()}, **{k: v[1] for k, v in OPTICAL_INSTRUMENTS.items()}}
    return instrument.map(lo).to_numpy(dtype="float64"), instrument.map(hi).to_numpy(dtype="float64")


def _fov(instrument: pd.Series) -> np.ndarray:
    return instrument.map({k: v[2] for k, v in OPTICAL_INSTRUMENTS.items()}).to_numpy(dtype="float64")


def _exposures(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Science exposures from every archive answer, one row per dataset, enriched with AMBER stations."""
    parts = [frames[k] for k in ("tap_raw", "eso_archive_main") if k in frames and not frames[k].empty]
    if not parts:
        return pd.DataFrame()
    exp = pd.concat(parts, ignore_index=True).drop_duplicates("dp_id", keep="first")
    exp = exp[exp["dp_cat"].fillna("SCIENCE").eq("SCIENCE")]
    exp = exp.assign(stations=None)
    if "amber" in frames and not frames["amber"].empty:
        amber = frames["amber"].set_index("dp_id")
        hit = exp["dp_id"].map(amber["ob_id"])
        exp["ob_id"] = exp["ob_id"].where(exp["ob_id"].notna(), hit)
        exp["stations"] = exp["dp_id"].map(amber["stations"])
    return exp.reset_index(drop=True)


def _observations(exp: pd.DataFrame) -> pd.DataFrame:
    """Exposures grouped per OB (else run/instrument/object) and night."""
    night = _night_start_mjd(exp["mjd_obs"].to_numpy())
    night_label = (MJD_EPOCH + pd.to_timedelta(night - 0.5, unit="D")).strftime("%Y%m%d")
    has_ob = exp["ob_id"].notna() & exp["ob_id"].astype(str).str.fullmatch(r"\d+")
    key = np.where(
        has_ob,
        exp["ob_id"].astype(str),
        exp["run_id"] + "-" + exp["instrument"] + "-" + exp["object"].fillna("").astype(str),
    )
    exp = exp.assign(
        obs_id=pd.Series(key, index=exp.index) + "-" + pd.Series(night_label, index=exp.index),
        t_end=exp["mjd_obs"] + exp["exptime"] / 86400.0,
        facility=facility_of(exp["instrument"], exp["telescope"]),
    )
    unknown = exp["facility"].isna()
    if unknown.any():
        raise SourceError(
            NAME, ARCHIVE, f"no facility known for instrument(s) {sorted(set(exp.loc[unknown, 'instrument']))}"
        )
    g = exp.sort_values("mjd_obs").groupby("obs_id", sort=True)
    obs = g.agg(
        run_id=("run_id", "first"),
        ob_id=("ob_id", "first"),
        target_name=("object", "first"),
        s_ra=("ra", "first"),
        s_dec=("dec", "first"),
        instrument_name=("instrument", "first"),
        obs_collection=("facility", "first"),
        obs_mode=("obs_mode", "first"),
        t_min=("mjd_obs", "min"),
        t_max=("t_end", "max"),
        t_exptime=("exptime", "sum"),
        n_exposures=("dp_id", "size"),
        first_dp_id=("dp_id", "first"),
        stations=("stations", "first"),
        release_date=("release_date", "min"),
    ).reset_index()
    obs["night"] = obs["obs_id"].str[-8:]
    obs["programme_id"] = obs["run_id"].str.replace(r"\([A-Z]\)$", "", regex=True)
    return obs


def _match_runs(obs: pd.DataFrame, runs: pd.DataFrame) -> pd.Series:
    """Run id of the schedule run each observation belongs to (programme id and time), else None."""
    if runs.empty or obs.empty:
        return pd.Series([None] * len(obs), index=obs.index, dtype=object)
    cand = obs[["obs_id", "run_id", "programme_id", "t_min"]].merge(
        runs[["run_id", "programme_id", "t_min", "t_max"]].rename(
            columns={"run_id": "sched_run", "t_min": "run_t_min", "t_max": "run_t_max"}
        ),
        on="programme_id",
    )
    cand = cand[(cand["t_min"] >= cand["run_t_min"]) & (cand["t_min"] < cand["run_t_max"])]
    cand = cand.assign(exact=cand["sched_run"].eq(cand["run_id"])).sort_values(["obs_id", "exact"], ascending=False)
    best = cand.drop_duplicates("obs_id").set_index("obs_id")["sched_run"]
    return obs["obs_id"].map(best).astype(object)


def _run_rows(runs: pd.DataFrame) -> pd.DataFrame:
    """ObsLocTAP rows of the schedule runs (Planned, or Scheduled when nights are given)."""
    p_lo, p_hi = period_bounds(runs["period"].to_numpy())
    scheduled = runs["n_nights"].to_numpy() > 0
    t_min = np.where(scheduled, runs["night_t_min"], p_lo)
    t_max = np.where(scheduled, runs["night_t_max"], p_hi)
    hours = np.where(runs["alloc_unit"].eq("hours"), runs["alloc_value"] * 3600.0, np.nan)
    plan = np.where(scheduled & np.isnan(hours), (t_max - t_min) * 86400.0, hours)
    out = _empty_obsplan(len(runs))
    facility = facility_of(runs["instrument"], runs["telescope"])
    if facility.isna().any():
        i = int(np.flatnonzero(facility.isna().to_numpy())[0])
        raise SourceError(NAME, SCHED_REP_URL, f"no facility for telescope {runs['telescope'].iloc[i]!r} (row {i})")
    category, priority = _mode_mapping(runs["obs_mode"])
    em_lo, em_hi = _band(runs["instrument"])
    out = out.assign(
        s_fov=_fov(runs["instrument"]),
        obs_id=runs["run_id"].to_numpy(),
        obs_collection=facility.to_numpy(),
        facility_name=facility.to_numpy(),
        instrument_name=runs["instrument"].to_numpy(),
        t_min=t_min,
        t_max=t_max,
        t_plan_exptime=plan,
        t_exptime=np.where(scheduled, plan, np.nan),
        em_min=em_lo,
        em_max=em_hi,
        category=category,
        priority=priority,
        execution_status=np.where(scheduled, "Scheduled", "Planned"),
        tracking_type="Sidereal",
        x_eso_run_id=runs["run_id"].to_numpy(),
        x_eso_period=runs["period"].to_numpy(),
        x_eso_obs_mode=runs["obs_mode"].to_numpy(),
        x_eso_run_type=runs["run_type"].to_numpy(),
        x_eso_telescope=runs["telescope"].to_numpy(),
        x_eso_pi=runs["pi"].to_numpy(),
        x_eso_title=runs["title"].to_numpy(),
    )
    return out


def _archive_link(obs: pd.DataFrame) -> pd.Series:
    """Raw-archive listing of the observation's exposures (full URL, never truncated)."""
    night = obs["night"].str[:4] + "+" + obs["night"].str[4:6] + "+" + obs["night"].str[6:]
    by_ob = MAIN_URL + "?wdbo=html%2Fdisplay&ob_id=" + obs["ob_id"].astype(str) + "&night=" + night
    by_run = MAIN_URL + "?wdbo=html%2Fdisplay&prog_id=" + obs["run_id"] + "&night=" + night
    return by_ob.where(obs["ob_id"].notna(), by_run)


def normalise(frames: dict[str, pd.DataFrame], as_of: dt.datetime) -> dict[str, pd.DataFrame]:
    """IVOA frames (``obsplan``, ``obscore``, ``obscore_radio``) from the parsed ESO answers."""
    if as_of.tzinfo is None:
        raise ValueError("as_of must be a tz-aware UTC datetime")
    as_of_mjd = (pd.Timestamp(as_of).tz_convert("UTC") - MJD_EPOCH) / pd.Timedelta(days=1)
    runs = frames.get("sched_rep_arc", pd.DataFrame())
    run_rows = _run_rows(runs) if not runs.empty else _empty_obsplan(0)

    exp = _exposures(frames)
    obs = _observations(exp) if not exp.empty else pd.DataFrame()
    obsplan_parts = []
    core_parts, radio_parts = [], []
    if not obs.empty:
        if run_rows.empty:
            runs_timed = pd.DataFrame(columns=["run_id", "programme_id", "t_min", "t_max"])
        else:
            runs_timed = run_rows[["x_eso_run_id", "t_min", "t_max"]].rename(columns={"x_eso_run_id": "run_id"})
            runs_timed["programme_id"] = runs_timed["run_id"].str.replace(r"\([A-Z]\)$", "", regex=True)
        matched = _match_runs(obs, runs_timed)
        obs["matched_run"] = matched
        mode = obs["obs_mode"].astype(object)
        if not runs.empty:
            mode = mode.where(matched.isna(), matched.map(runs.set_index("run_id")["obs_mode"]))
        category, priority = _mode_mapping(mode)
        obs["access_url"] = _archive_link(obs)
        radio_obs = obs[obs["instrument_name"].isin(radio.INSTRUMENTS)]
        geometry = None
        if not radio_obs.empty:
            core, rad = radio.radio_tables(
                radio_obs.assign(
                    proposal_id=radio_obs["run_id"],
                    access_format="text/html",
                    calib_level=1,
                    dataproduct_type=np.where(radio_obs["obs_collection"].eq("ESO-VLTI"), "visibility", None).astype(
                        object
                    ),
                    obs_release_date=radio_obs["release_date"],
                )
            )
            core_parts.append(core)
            radio_parts.append(rad)
            geometry = core.set_index("obs_id")[["s_fov", "s_resolution", "s_region"]]
        em_lo, em_hi = _band(obs["instrument_name"])
        rows = _empty_obsplan(len(obs)).assign(
            obs_id=obs["obs_id"],
            obs_collection=obs["obs_collection"],
            facility_name=obs["obs_collection"],
            instrument_name=obs["instrument_name"],
            target_name=obs["target_name"],
            s_ra=obs["s_ra"],
            s_dec=obs["s_dec"],
            t_min=obs["t_min"],
            t_max=obs["t_max"],
            t_exptime=obs["t_exptime"],
            em_min=em_lo,
            em_max=em_hi,
            category=category,
            priority=priority,
            execution_status="Performed",
            tracking_type="Sidereal",
            x_eso_run_id=obs["matched_run"].fillna(obs["run_id"]),
            x_eso_ob_id=obs["ob_id"],
            x_eso_n_exposures=obs["n_exposures"],
        )
        rows["s_fov"] = _fov(obs["instrument_name"])
        if geometry is not None:
            for col in ("s_fov", "s_resolution"):
                rows[col] = rows["obs_id"].map(geometry[col]).astype("float64").fillna(rows[col])
            rows["s_region"] = rows["obs_id"].map(geometry["s_region"]).astype(object)
        obsplan_parts.append(rows)
        if not run_rows.empty:
            done = set(obs.loc[obs["matched_run"].notna(), "matched_run"])
            replaced = run_rows["x_eso_run_id"].isin(done) & (run_rows["t_max"] < as_of_mjd)
            run_rows = run_rows[~replaced]
    obsplan = pd.concat([run_rows, *obsplan_parts], ignore_index=True)
    obsplan["s_region"] = obsplan["s_region"].where(
        obsplan["s_region"].notna(), circle_stcs(obsplan["s_ra"], obsplan["s_dec"], obsplan["s_fov"] / 2.0)
    )
    out = {"obsplan": obsplan}

    ql = frames.get("apex_quicklooks", pd.DataFrame())
    if not ql.empty:
        core, rad = radio.radio_tables(
            pd.DataFrame(
                {
                    "obs_id": ql["quicklook_id"],
                    "obs_collection": "APEX",
                    "instrument_name": ql["instrument"],
                    "target_name": None,
                    "s_ra": np.nan,
                    "s_dec": np.nan,
                    "t_min": ql["t_min"],
                    "t_max": ql["t_max"],
                    "t_exptime": np.nan,
                    "proposal_id": ql["run_id"],
                    "access_url": ql["access_url"],
                    "access_format": "application/x-tar",
                    "calib_level": 1,
                    "dataproduct_type": None,
                    "dataproduct_subtype": "quicklook",
                    "obs_title": ql["title"],
                    "obs_release_date": ql["release_date"],
                    "stations": None,
                }
            )
        )
        core["access_estsize"] = pd.array(ql["access_estsize"].to_numpy(), dtype="Int64")
        core_parts.append(core)
        radio_parts.append(rad)
    if core_parts:
        out["obscore"] = pd.concat(core_parts, ignore_index=True)[OBSCORE.names]
        out["obscore_radio"] = pd.concat(radio_parts, ignore_index=True)[OBSCORE_RADIO.names]
    return out


SOURCE = Source(
    name=NAME,
    facility="ESO-VLT, ESO-VLTI, ESO-VISTA, ESO-VST, APEX, ESO-3.6m, ESO-NTT",
    hosts=("archive.eso.org",),
    cron="0 7 * * 1",
    requests=requests,
    parse=parse,
    normalise=normalise,
    id_pattern=ID_PATTERN,
    description="ESO schedule report runs (sched_rep_arc), raw-archive exposures (wdb + TAP dbo.raw), "
    "VLTI/APEX ObsCore + radio-extension rows with computed uv coverage",
    extras={"tap": TAP_URL},
)
