"""INTEGRAL: ISOC schedule listings (executed / current / future) and performed science windows.

INTEGRAL ended science observations on 2025-02-28 (``END_OF_SCIENCE``); its schedule is history
since. The source still asks for the current and future listings: after the end of the mission an
*empty* listing (the table with its header and no rows) is the expected answer, before it an empty
future listing is an error; a page without the table is a layout error at any date.

Documented interpretations
--------------------------
* Listings: executed revolutions -> Performed, current and future -> Scheduled. ``obs_id`` = the
  digits of the ``Observation`` cell (``2120009 / 0004`` -> ``21200090004``, the 11-digit
  ``OBS_ID`` of the science-window tables); the cell itself is kept (``x_integral_observation``),
  so is the revolution (``x_integral_rev``). Times are UTC, ``Exp. time (s)`` is seconds.
  HTML and CSV forms of a listing are both read; the same observation in both counts once.
* Science windows (HEASARC ``intscw``, ISDC ``integral_rev3_scw``): pointings (``SCW_TYPE``
  pointing) with an ``OBS_ID`` are aggregated per observation: t_min = first start, t_max = last
  end, t_exptime = sum of ``GOOD_ISGRI`` (blank everywhere: the listed exposure, else the summed
  pointing durations). Slews, engineering windows and windows without ``OBS_ID`` are not
  observations and are left out; a window listing several ids (``a,b,c(C)``) counts for each.
* IBIS defines a row's coverage: it is the prime wide-field imager INTEGRAL observations are
  proposed for, and ISGRI is its imaging detector. ``instrument_name`` IBIS; ``em_*`` 15 keV–10
  MeV; ``s_resolution`` 12'. SPI, JEM-X and OMC facts are in ``INSTRUMENTS``; their good times are
  kept per row (``x_integral_good_<instrument>_s``).
* ``s_region``: INTEGRAL dithers (5x5 or hexagonal patterns, ~2 deg steps), so the field covered is
  approximated by one circle: centre = mean of the pointing directions (unit-vector mean),
  radius = largest pointing offset from that centre + 4.5 deg (half the 9 deg IBIS fully coded
  field, i.e. the circle inscribed in it). ``s_fov`` = twice that radius. Rows without science
  windows get the 4.5 deg circle around the listed position.
* ``s_ra``/``s_dec`` = the listed target position, else the pointing centre.
* ``category`` ``Other`` (the listings carry no coordination data); ``priority`` 2 for ``TOO``
  observations (``OBS_TYPE``), else 1; ``tracking_type`` ``Sidereal``.
* ISDC ``integral_rev3_scw`` FITS declares every column of its ASCII table as integer (``I8``
  for ``SCW_TYPE`` holding ``POINTING``, ``I19`` for ISO dates, names with embedded newlines), so
  astropy cannot read its data. Every ASCII-table FITS is therefore read here from its raw bytes
  (``TBCOL``/``TFORM`` widths) with the types this module expects per column; a value that does
  not fit the expected type raises :class:`~scrapers.base.ParseError` naming column and row.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from astropy.io import fits

from models.regions import circle_stcs
from models.timeutil import TimeParseError, mjd_from_datetime, mjd_from_iso
from models.units import kev_band_to_em
from scrapers import html_tables
from scrapers.base import ParseError, Request, Source
from scrapers.heasarc import HEASARC_TAP, tap_request
from scrapers.votable_io import read_votable

NAME = "integral"
FACILITY = "INTEGRAL"
#: ISOC "Target and Scheduling Information" listings. Query parameter names are UNVERIFIED.
SCHEDULE_URL = "https://integral.esac.esa.int/isocweb/schedule.html"
#: Last day of science observations.
END_OF_SCIENCE = dt.date(2025, 2, 28)
#: Days of science windows asked from HEASARC before min(as-of, end of science).
SCW_LOOKBACK_DAYS = 365

LISTINGS = ("executed", "current", "future")
#: Request name -> (listing, form).
LISTING_REQUESTS: dict[str, tuple[str, str]] = {
    **{k: (k, "html") for k in LISTINGS},
    **{f"{k}_csv": (k, "csv") for k in LISTINGS},
}
SCW_REQUESTS = ("intscw", "integral_rev3_scw")


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

#: Canonical field -> accepted header texts (compared by :func:`html_tables.normalise_header`).
LISTING_HEADERS: dict[str, tuple[str, ...]] = {
    "rev": ("rev", "revolution", "revn"),
    "start": ("start time utc", "start time", "start"),
    "end": ("end time utc", "end time", "end"),
    "exptime": ("exp time s", "exposure time s", "exp time", "exposure s"),
    "target": ("target", "target name"),
    "ra_sex": ("ra j2000",),
    "dec_sex": ("dec j2000",),
    "ra_deg": ("ra deg",),
    "dec_deg": ("dec deg",),
    "pi": ("pi",),
    "proposer": ("proposer",),
    "observation": ("observation", "observation id", "obs id"),
}
OPTIONAL_HEADERS: dict[str, tuple[str, ...]] = {"status": ("status", "st", "s", "stat")}
#: Every listing column, required and optional.
LISTING_COLUMNS: dict[str, tuple[str, ...]] = LISTING_HEADERS | OPTIONAL_HEADERS

#: Science-window columns (lower case); ISDC names on the right are synonyms.
SCW_SYNONYMS = {"ra_x": "ra", "dec_x": "dec", "dsize": "data_size"}
SCW_REQUIRED = ("scw_id", "scw_type", "ra", "dec", "start_date", "end_date", "obs_id", "good_isgri")
SCW_TEXT = ("scw_id", "scw_ver", "scw_type", "obs_id", "obs_type", "pi_name", "status", "ps")
SCW_NUMBERS = ("ra", "dec", "good_spi", "good_isgri", "good_picsit", "good_jemx1", "good_jemx2", "good_omc")
SCW_TIMES = ("start_date", "end_date")
GOOD_COLUMNS = {"spi": "good_spi", "jemx1": "good_jemx1", "jemx2": "good_jemx2", "omc": "good_omc"}


# --------------------------------------------------------------------------------------- requests
def requests(as_of: dt.date) -> list[Request]:
    """The three ISOC listings (HTML and CSV) and HEASARC intscw for the year before min(as-of, end)."""
    out = []
    for name, (listing, form) in LISTING_REQUESTS.items():
        params: tuple[tuple[str, str], ...] = (("action", listing),)  # parameter names unverified
        if form == "csv":
            params += (("format", "csv"),)
        out.append(Request(source=NAME, name=name, url=SCHEDULE_URL, params=params))
    last = min(as_of, END_OF_SCIENCE + dt.timedelta(days=1))
    hi = mjd_from_datetime(dt.datetime(last.year, last.month, last.day, tzinfo=dt.UTC))
    adql = (
        "SELECT scw_id, scw_type, ra, dec, start_date, end_date, obs_id, obs_type, pi_name, "
        "good_spi, good_isgri, good_picsit, good_jemx1, good_jemx2, good_omc FROM intscw "
        f"WHERE end_date > {hi - SCW_LOOKBACK_DAYS:.1f} AND start_date < {hi:.1f}"
    )
    out.append(tap_request(NAME, "intscw", adql))
    return out


# --------------------------------------------------------------------------------------- listings
def read_listing_html(content: bytes, url: str) -> pd.DataFrame:
    """Text cells of the schedule table of an ISOC listing page (found by its header texts).

    A table with its header and no rows is returned empty: after the end of the mission that is
    the expected current/future listing (the caller decides whether it may be empty).
    """
    raw = html_tables.read_table(
        content,
        LISTING_COLUMNS,
        required=LISTING_HEADERS,
        source=NAME,
        url=url,
        what="schedule table",
        allow_empty=True,
    )
    return raw.reset_index(drop=True)  # rows in errors are 0-based positions, as for every later check


def read_listing_csv(content: bytes, url: str) -> pd.DataFrame:
    """Text cells of the CSV form of a listing (same headers as the page)."""
    head = content[:512].lstrip().lower()
    if not head:
        raise ParseError(NAME, url, "empty response instead of a CSV listing")
    if head.startswith((b"<!doctype", b"<html", b"<?xml")):
        raise ParseError(NAME, url, "expected a CSV listing, got an HTML/XML page")
    try:
        raw = pd.read_csv(io.BytesIO(content), dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise ParseError(NAME, url, f"unreadable CSV listing: {exc}") from exc
    header = [str(c).strip() for c in raw.columns]
    pos = html_tables.match_columns(header, LISTING_COLUMNS, required=LISTING_HEADERS, source=NAME, url=url)
    return pd.DataFrame({key: raw.iloc[:, k].astype(object) for key, k in pos.items()}, index=pd.RangeIndex(len(raw)))


def _sexagesimal(values: pd.Series, hours: bool) -> np.ndarray:
    parts = values.astype("string").str.strip().str.extract(r"^([+-]?)(\d{1,3})[: ](\d{1,2})[: ](\d{1,2}(?:\.\d*)?)$")
    d, m, s = (parts[k].astype("float64").to_numpy() for k in (1, 2, 3))
    value = np.where(parts[0].to_numpy(dtype=object) == "-", -1.0, 1.0) * (d + m / 60.0 + s / 3600.0)
    return value * 15.0 if hours else value


def _numbers(raw: pd.DataFrame, key: str, url: str, label: str) -> np.ndarray:
    text = raw[key].astype("string").str.strip()
    num = pd.to_numeric(text, errors="coerce")
    bad = (num.isna() & text.ne("").fillna(False)).to_numpy(dtype=bool) | text.eq("").fillna(True).to_numpy(dtype=bool)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ParseError(NAME, url, f"not a number: {raw[key].iloc[i]!r}", row=i, column=label)
    return num.to_numpy(dtype="float64")


def listing_frame(raw: pd.DataFrame, url: str, listing: str) -> pd.DataFrame:
    """Typed source frame of one listing: one row per observation, revolution and id kept.

    Columns: ``rev`` (int), ``obs_id`` (digits of ``Observation``), ``observation`` (the cell),
    ``t_min``/``t_max`` (MJD UTC), ``exptime_s``, ``target``, ``ra``/``dec`` (deg), ``pi``,
    ``proposer``, ``status_letter``, ``listing``. ``attrs["empty_listing"]`` says the table had no rows.
    """
    out = pd.DataFrame(index=raw.index)
    out["rev"] = _numbers(raw, "rev", url, "Rev").astype("int64")
    obs = raw["observation"].astype("string").str.strip()
    digits = obs.str.replace(r"[\s/]", "", regex=True)
    bad = ~digits.str.fullmatch(r"\d+").fillna(False).to_numpy(dtype=bool)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ParseError(
            NAME, url, f"not an observation id: {raw['observation'].iloc[i]!r}", row=i, column="Observation"
        )
    out["obs_id"] = digits.astype(object)
    out["observation"] = obs.astype(object)
    for key, col, label in (("start", "t_min", "Start time (UTC)"), ("end", "t_max", "End time (UTC)")):
        try:
            out[col] = mjd_from_iso(raw[key].astype("string").str.strip())
        except TimeParseError as exc:
            raise ParseError(NAME, url, str(exc), row=exc.rows[0], column=label) from exc
        if len(raw) and out[col].isna().any():
            i = int(np.flatnonzero(out[col].isna().to_numpy())[0])
            raise ParseError(NAME, url, "missing time", row=i, column=label)
    order = (out["t_max"] < out["t_min"]).to_numpy()
    if order.any():
        raise ParseError(NAME, url, "observation ends before it starts", row=int(np.flatnonzero(order)[0]))
    out["exptime_s"] = _numbers(raw, "exptime", url, "Exp. time (s)")
    out["target"] = raw["target"].astype("string").str.strip().replace("", pd.NA).astype(object)
    out["ra"] = _numbers(raw, "ra_deg", url, "RA (deg)")
    out["dec"] = _numbers(raw, "dec_deg", url, "Dec (deg)")
    off = (out["ra"] < 0) | (out["ra"] >= 360) | (out["dec"].abs() > 90)
    if off.any():
        raise ParseError(NAME, url, "position out of range", row=int(np.flatnonzero(off.to_numpy())[0]))
    ra_s, dec_s = _sexagesimal(raw["ra_sex"], True), _sexagesimal(raw["dec_sex"], False)
    dra = np.abs(((ra_s - out["ra"].to_numpy() + 180.0) % 360.0) - 180.0) * np.cos(np.deg2rad(out["dec"].to_numpy()))
    mismatch = ~(np.hypot(dra, dec_s - out["dec"].to_numpy()) * 3600.0 < 5.0)
    if mismatch.any():
        i = int(np.flatnonzero(mismatch)[0])
        raise ParseError(NAME, url, "RA/Dec (J2000) and RA/Dec (deg) disagree by more than 5 arcsec", row=i)
    out["pi"] = raw["pi"].astype("string").str.strip().replace("", pd.NA).astype(object)
    out["proposer"] = raw["proposer"].astype("string").str.strip().replace("", pd.NA).astype(object)
    status = raw["status"] if "status" in raw else pd.Series(pd.NA, index=raw.index)
    out["status_letter"] = status.astype("string").str.strip().replace("", pd.NA).astype(object)
    out["listing"] = listing
    text = ["target", "pi", "proposer", "status_letter"]
    out[text] = out[text].astype(object).where(out[text].notna(), None)
    dup = out["obs_id"].duplicated(keep=False).to_numpy()
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        raise ParseError(NAME, url, f"observation {out['obs_id'].iloc[i]} listed twice", row=i, column="Observation")
    out = out.reset_index(drop=True)
    out.attrs["empty_listing"] = out.empty
    return out


# --------------------------------------------------------------------------------- science windows
def _fits_ascii_columns(content: bytes, url: str) -> pd.DataFrame:
    """Every column of the first ASCII-table extension as stripped text, read from the raw bytes.

    Types are not taken from ``TFORM`` (ISDC declares text and floats as ``I``): only the widths and
    ``TBCOL`` offsets are used. Vectorised through a fixed-width structured numpy dtype.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            hdul = fits.open(io.BytesIO(content), memmap=False, lazy_load_hdus=False)
    except (OSError, ValueError) as exc:
        raise ParseError(NAME, url, f"unreadable FITS: {exc}") from exc
    for hdu in hdul[1:]:
        hdr = hdu.header
        if str(hdr.get("XTENSION", "")).strip() == "BINTABLE":
            frame = pd.DataFrame({c.name.strip().lower(): np.asarray(hdu.data[c.name]) for c in hdu.columns})
            return frame.apply(lambda s: s.astype(str).str.strip() if s.dtype.kind in "SUO" else s.astype(str))
        if str(hdr.get("XTENSION", "")).strip() != "TABLE":
            continue
        n_rows, row_len, n_cols = int(hdr["NAXIS2"]), int(hdr["NAXIS1"]), int(hdr["TFIELDS"])
        names, offsets, formats = [], [], []
        for k in range(1, n_cols + 1):
            width = re.match(r"^\s*[AIFEDaifed](\d+)", str(hdr[f"TFORM{k}"]))
            if width is None:
                raise ParseError(NAME, url, f"unsupported TFORM{k} {hdr[f'TFORM{k}']!r}", column=str(hdr[f"TTYPE{k}"]))
            names.append(str(hdr[f"TTYPE{k}"]).strip().lower())
            offsets.append(int(hdr[f"TBCOL{k}"]) - 1)
            formats.append(f"S{width.group(1)}")
        start = hdu.fileinfo()["datLoc"]
        if start + n_rows * row_len > len(content):
            raise ParseError(NAME, url, f"FITS table truncated: {n_rows} rows of {row_len} bytes announced")
        dtype = np.dtype({"names": names, "formats": formats, "offsets": offsets, "itemsize": row_len})
        rec = np.frombuffer(content, dtype=dtype, count=n_rows, offset=start)
        cols = {}
        for name in names:
            text = pd.Series(np.char.decode(rec[name], "latin-1"), dtype="string")
            cols[name] = text.str.replace(r"\s+", " ", regex=True).str.strip()
        return pd.DataFrame(cols)
    raise ParseError(NAME, url, "FITS file has no table extension")


def read_scw_table(content: bytes, url: str, source: str = NAME) -> pd.DataFrame:
    """Science windows from a HEASARC/ISDC FITS table or a TAP VOTable, typed and lower-cased.

    Columns: ``scw_id``/``obs_id`` strings, ``scw_type`` lower case, ``ra``/``dec`` deg,
    ``start_date``/``end_date`` MJD UTC (from MJD numbers or ISO strings), ``good_*`` seconds.
    """
    if content[:9] == b"SIMPLE  =":
        frame = _fits_ascii_columns(content, url)
    else:
        frame = read_votable(content, source=source, url=url, string_columns=("scw_id", "obs_id", "scw_ver"))
        frame = frame.apply(lambda s: s.astype("string").str.strip() if s.dtype == object else s)
    frame = frame.rename(columns={c: SCW_SYNONYMS.get(c, c) for c in frame.columns})
    missing = [c for c in SCW_REQUIRED if c not in frame.columns]
    if missing:
        raise ParseError(NAME, url, f"science-window columns missing: {missing}", column=missing[0], found=list(frame))
    out = pd.DataFrame(index=frame.index)
    for col in SCW_TEXT:
        if col in frame:
            out[col] = frame[col].astype("string").str.strip().replace("", pd.NA)
    out["scw_type"] = out["scw_type"].str.lower()
    bad_id = ~out["scw_id"].str.fullmatch(r"\d{12}").fillna(False).to_numpy(dtype=bool)
    if bad_id.any():
        i = int(np.flatnonzero(bad_id)[0])
        raise ParseError(NAME, url, f"SCW_ID {frame['scw_id'].iloc[i]!r} is not 12 digits", row=i, column="SCW_ID")
    for col in SCW_NUMBERS:
        if col in frame:
            out[col] = _scw_numbers(frame[col], url, col)
    for col in SCW_TIMES:
        out[col] = _scw_times(frame[col], url, col)
    out["rev"] = out["scw_id"].str.slice(0, 4).astype("int64")
    for col in out.columns:
        if isinstance(out[col].dtype, pd.StringDtype):
            out[col] = out[col].astype(object).where(out[col].notna(), None)
    return out.reset_index(drop=True)


def _scw_numbers(values: pd.Series, url: str, col: str) -> np.ndarray:
    if pd.api.types.is_numeric_dtype(values.dtype):
        return pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    text = values.astype("string").str.strip().replace("", pd.NA)
    num = pd.to_numeric(text, errors="coerce")
    bad = (num.isna() & text.notna()).to_numpy(dtype=bool)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ParseError(NAME, url, f"not a number: {values.iloc[i]!r}", row=i, column=col.upper())
    return num.to_numpy(dtype="float64", na_value=np.nan)


def _scw_times(values: pd.Series, url: str, col: str) -> np.ndarray:
    """MJD from MJD numbers (HEASARC) or ``YYYY-MM-DD HH:MM:SS`` (ISDC)."""
    if pd.api.types.is_numeric_dtype(values.dtype):
        return pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    text = values.astype("string").str.strip().replace("", pd.NA)
    num = pd.to_numeric(text, errors="coerce")
    if num.notna().sum() == text.notna().sum():
        return num.to_numpy(dtype="float64", na_value=np.nan)
    try:
        return mjd_from_iso(text.astype(object).where(text.notna(), None))
    except TimeParseError as exc:
        raise ParseError(NAME, url, str(exc), row=exc.rows[0], column=col.upper()) from exc


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
    pts = pts[pts["obs_id"].str.len() > 0]
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
    """Source frame of one response, dispatched on the request name."""
    if name in LISTING_REQUESTS:
        listing, form = LISTING_REQUESTS[name]
        raw = read_listing_csv(content, url) if form == "csv" else read_listing_html(content, url)
        frame = listing_frame(raw, url, listing)
        if listing == "executed" and frame.empty:
            raise ParseError(NAME, url, "executed listing has no rows (the mission's history cannot be empty)")
        return frame
    if name in SCW_REQUESTS:
        frame = read_scw_table(content, url)
        if frame.empty:
            raise ParseError(NAME, url, "science-window table has no rows")
        return frame
    raise ParseError(NAME, url, f"unknown request name {name!r}")


# -------------------------------------------------------------------------------------- normalise
def _listings(frames: dict[str, pd.DataFrame], as_of: dt.datetime) -> pd.DataFrame:
    parts = [frames[n] for n in LISTING_REQUESTS if n in frames]
    future = [frames[n] for n in ("future", "future_csv") if n in frames]
    if future and all(f.empty for f in future) and as_of.date() <= END_OF_SCIENCE:
        raise ParseError(
            NAME, SCHEDULE_URL, f"empty future listing on {as_of.date()}, before the end of science {END_OF_SCIENCE}"
        )
    if not parts:
        return listing_frame(pd.DataFrame({k: pd.Series(dtype=object) for k in LISTING_HEADERS}), "", "executed")
    listed = pd.concat([p for p in parts if not p.empty] or parts[:1], ignore_index=True)
    rank = listed["listing"].map({"executed": 0, "current": 1, "future": 2})
    return listed.assign(_rank=rank).sort_values("_rank", kind="stable").drop_duplicates("obs_id").drop(columns="_rank")


def normalise(frames: dict[str, pd.DataFrame], as_of: dt.datetime) -> dict[str, pd.DataFrame]:
    """``obsplan`` rows: listings (Performed / Scheduled) merged on obs id with science windows."""
    if as_of.tzinfo is None:
        raise ValueError("as_of must be tz-aware UTC")
    listed = _listings(frames, as_of).set_index("obs_id", drop=False)
    scw_parts = [frames[n] for n in SCW_REQUESTS if n in frames and not frames[n].empty]
    if scw_parts:
        scw = pd.concat(scw_parts, ignore_index=True).drop_duplicates("scw_id")
        flown = aggregate_observations(scw).set_index("obs_id", drop=False)
    else:
        cols = ["obs_id", "t_min", "t_max", "good_isgri_s", "pointing_s", "ra", "dec", "radius", "rev"]
        flown = pd.DataFrame({c: pd.Series(dtype=object if c == "obs_id" else "float64") for c in cols})
        flown = flown.set_index("obs_id", drop=False)
    ids = pd.Index(listed.index).append(pd.Index(flown.index).difference(listed.index))
    in_list, in_flown = ids.isin(listed.index), ids.isin(flown.index)
    lst, fl = listed.reindex(ids), flown.reindex(ids)
    ibis = INSTRUMENTS[COVERAGE_INSTRUMENT]

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
    # Performed exposure: ISGRI good time; if the windows leave it blank, the listed exposure, else
    # the summed pointing durations.
    flown_exp = fl["good_isgri_s"].astype("float64").fillna(lst["exptime_s"]).fillna(fl["pointing_s"])
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
    out["priority"] = np.where(obs_type.eq("TOO").fillna(False).to_numpy(dtype=bool), 2, 1).astype("int32")
    performed = in_flown | (lst["listing"].to_numpy(dtype=object) == "executed")
    out["execution_status"] = np.where(performed, "Performed", "Scheduled").astype(object)
    out["tracking_type"] = "Sidereal"
    out["x_integral_rev"] = pd.array(np.where(in_list, lst["rev"], fl["rev"]), dtype="Float64").astype("Int64")
    out["x_integral_observation"] = lst["observation"].astype(object).to_numpy()
    out["x_integral_listing"] = lst["listing"].astype(object).to_numpy()
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
