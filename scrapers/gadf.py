"""GADF DL3 index tables (obs-index, hdu-index), the ``import-gadf`` importer and the H.E.S.S. DR1 source.

GADF (gamma-astro-data-formats v0.2/0.3, "Data storage") is the common DL3 layout of H.E.S.S.,
VERITAS, MAGIC, HAWC and CTA simulations: an observation index (one row per run) and an HDU index
(one row per events/GTI/response HDU). Columns are found by name (upper-cased), never by position.
Only what ObsCore needs is required; every other column is optional and its absence gives NULLs.

Parsed frames keep GADF column names with values in GADF's canonical units (times in s, angles in
deg, energies in TeV, converted from each column's TUNIT), and carry the time reference as
columns (``MJDREFI``, ``MJDREFF``, ``TIMESYS``, ``TIMEREF``) so it survives any frame store; the
full header is also in ``frame.attrs["header"]``.
"""

from __future__ import annotations

import datetime as dt
import gzip
import inspect
import io
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from astropy import units as u
from astropy.io import fits
from astropy.table import Table

from models.arrow import conform, empty_frame
from models.datalink import datalink_documents
from models.hea import gadf_to_ivoa
from models.tables import OBSCORE, OBSCORE_HEA, OBSPLAN
from scrapers.base import ParseError, Request, Source

SOURCE_NAME = "hess_dl3_dr1"
_IMPORT_SOURCE = "gadf"

#: obs-index columns ObsCore cannot do without (GADF lists OBS_MODE and ALT/AZ_PNT as required too,
#: but H.E.S.S. DR1, written to GADF 0.2, has no OBS_MODE, and ALT/AZ only matter for drift scans).
OBS_REQUIRED = ("OBS_ID", "TSTART", "TSTOP", "RA_PNT", "DEC_PNT")
#: hdu-index columns GADF requires (SIZE, MTIME, MD5 are optional).
HDU_REQUIRED = ("OBS_ID", "HDU_TYPE", "HDU_CLASS", "FILE_DIR", "FILE_NAME", "HDU_NAME")
#: Canonical unit per quantity column: values are converted from the column's TUNIT when it has one.
CANONICAL_UNITS = {
    "RA_PNT": u.deg,
    "DEC_PNT": u.deg,
    "ALT_PNT": u.deg,
    "AZ_PNT": u.deg,
    "ZEN_PNT": u.deg,
    "GLON_PNT": u.deg,
    "GLAT_PNT": u.deg,
    "RA_OBJ": u.deg,
    "DEC_OBJ": u.deg,
    "ONTIME": u.s,
    "LIVETIME": u.s,
    "SAFE_ENERGY_LO": u.TeV,
    "SAFE_ENERGY_HI": u.TeV,
    "EVENT_ENERGY_MEDIAN": u.TeV,
}
#: Time columns: seconds since MJDREF, unit from TUNIT or the TIMEUNIT header (GADF default 's').
TIME_COLUMNS = ("TSTART", "TSTOP", "TMID", "EVENT_TIME_MIN", "EVENT_TIME_MAX")
_INDEX_NAMES = {"obs": ("obs-index", "obs_index"), "hdu": ("hdu-index", "hdu_index")}
_FITS_SUFFIXES = (".fits.gz", ".fits", ".fit.gz", ".fits.fz")


# --------------------------------------------------------------------------------------------
# FITS reading
# --------------------------------------------------------------------------------------------


def _open_fits(content: bytes, url: str, source: str) -> fits.HDUList:
    data = content
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise ParseError(source, url, f"corrupt gzip stream: {exc}") from exc
    if not data.startswith(b"SIMPLE  ="):
        snippet = data[:80].decode("latin-1", "replace")
        raise ParseError(source, url, f"expected a FITS file, got {snippet!r}")
    try:
        hdul = fits.open(io.BytesIO(data), memmap=False)
        hdul.verify("silentfix")
        return hdul
    except Exception as exc:  # astropy raises many types for broken FITS
        raise ParseError(source, url, f"unreadable FITS: {exc}") from exc


def _index_hdu(hdul: fits.HDUList, extname: str, clas2: str, url: str, source: str) -> fits.BinTableHDU:
    """The index table: by EXTNAME, else by HDUCLAS2, else the only binary table."""
    tables = [h for h in hdul if isinstance(h, fits.BinTableHDU)]
    for test in (
        lambda h: str(h.header.get("EXTNAME", "")).strip().upper() == extname,
        lambda h: str(h.header.get("HDUCLAS2", "")).strip().upper() == clas2,
    ):
        found = [h for h in tables if test(h)]
        if found:
            return found[0]
    if len(tables) == 1:
        return tables[0]
    names = [str(h.header.get("EXTNAME", f"#{i}")) for i, h in enumerate(hdul)]
    raise ParseError(source, url, f"no {extname} table (EXTNAME or HDUCLAS2={clas2!r}); HDUs found: {names}")


def _read_table(hdu: fits.BinTableHDU, url: str, source: str, required: tuple[str, ...]) -> tuple[pd.DataFrame, dict]:
    """Table of ``hdu`` as a frame with upper-case names, decoded strings and units applied."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", u.UnitsWarning)
        table = Table.read(hdu)
    table.rename_columns(table.colnames, [c.strip().upper() for c in table.colnames])
    found = list(table.colnames)
    missing = [c for c in required if c not in found]
    if missing:
        raise ParseError(source, url, f"required column {missing[0]} missing", column=missing[0], found=found)
    if len(table) == 0:
        raise ParseError(source, url, "index table has no rows", found=found)
    header = {k: hdu.header[k] for k in hdu.header if k not in ("COMMENT", "HISTORY", "")}
    units: dict[str, str] = {}
    for name in list(table.colnames):
        col = table[name]
        if col.ndim > 1:  # vector cells (rare in indexes) have no ObsCore use
            table.remove_column(name)
            continue
        if col.unit is not None:
            units[name] = str(col.unit)
            col.unit = None
        if col.dtype.kind == "S":
            table[name] = np.char.strip(np.char.decode(np.asarray(col), "utf-8", "replace"))
    frame = table.to_pandas()
    frame.attrs.update({"url": url, "header": header, "units": units})
    return frame, header


def _convert_units(frame: pd.DataFrame, header: dict, url: str, source: str) -> None:
    """Bring quantity columns to GADF's canonical units, in place (refusing unknown units)."""
    units = frame.attrs["units"]
    timeunit = str(header.get("TIMEUNIT", "s")).strip() or "s"
    targets = dict(CANONICAL_UNITS) | dict.fromkeys(TIME_COLUMNS, u.s)
    for name, target in targets.items():
        if name not in frame.columns:
            continue
        given = units.get(name) or (timeunit if name in TIME_COLUMNS else None)
        if not given or given == str(target):
            frame[name] = pd.to_numeric(frame[name], errors="raise").astype("float64")
            continue
        try:
            factor = u.Unit(given).to(target)
        except (ValueError, u.UnitConversionError) as exc:
            raise ParseError(source, url, f"unit {given!r} cannot be converted to {target}", column=name) from exc
        frame[name] = frame[name].astype("float64") * factor


def _check_finite(frame: pd.DataFrame, columns: tuple[str, ...], url: str, source: str) -> None:
    for name in columns:
        values = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            raise ParseError(
                source,
                url,
                f"no usable value (got {frame[name].iloc[bad[0]]!r})",
                row=int(bad[0]),
                column=name,
                found=list(frame.columns),
            )


def parse_obs_index(content: bytes, url: str, *, source: str = _IMPORT_SOURCE) -> pd.DataFrame:
    """GADF observation index (FITS, gzip or not) -> one row per observation.

    Raises :class:`ParseError` naming the file when a required column (:data:`OBS_REQUIRED`) or
    the time reference (MJDREFI+MJDREFF or MJDREF, and TIMESYS: GADF gives no default) is missing,
    when a required value is not finite, an OBS_ID repeats, or TSTOP precedes TSTART.
    """
    hdul = _open_fits(content, url, source)
    hdu = _index_hdu(hdul, "OBS_INDEX", "OBS", url, source)
    frame, header = _read_table(hdu, url, source, OBS_REQUIRED)
    found = list(frame.columns)
    if "MJDREFI" in header:
        mjdref_i, mjdref_f = float(header["MJDREFI"]), float(header.get("MJDREFF", 0.0))
    elif "MJDREF" in header:
        mjdref_i, mjdref_f = float(np.floor(header["MJDREF"])), float(header["MJDREF"] - np.floor(header["MJDREF"]))
    else:
        raise ParseError(source, url, "header has no MJDREFI/MJDREFF or MJDREF (GADF: no default)", found=found)
    timesys = str(header.get("TIMESYS", "")).strip()
    if not timesys:
        raise ParseError(source, url, "header has no TIMESYS (GADF: no default)", found=found)
    if timesys.lower() not in ("tt", "utc", "tai", "tdb", "tcb", "tcg", "ut1"):
        raise ParseError(source, url, f"TIMESYS {timesys!r} is not a time scale astropy knows", found=found)
    _convert_units(frame, header, url, source)
    _check_finite(frame, ("OBS_ID", "TSTART", "TSTOP", "RA_PNT", "DEC_PNT"), url, source)
    frame["OBS_ID"] = frame["OBS_ID"].astype("Int64")
    dup = np.flatnonzero(frame["OBS_ID"].duplicated().to_numpy())
    if dup.size:
        raise ParseError(
            source, url, f"OBS_ID {frame['OBS_ID'].iloc[dup[0]]} repeats", row=int(dup[0]), column="OBS_ID"
        )
    back = np.flatnonzero((frame["TSTOP"] < frame["TSTART"]).to_numpy())
    if back.size:
        raise ParseError(source, url, "TSTOP before TSTART", row=int(back[0]), column="TSTOP")
    for name in ("EVENT_COUNT", "N_TELS", "QUALITY"):
        if name in frame.columns:
            frame[name] = pd.to_numeric(frame[name], errors="raise").astype("Int64")
    return frame.assign(
        MJDREFI=mjdref_i,
        MJDREFF=mjdref_f,
        TIMESYS=timesys.upper(),
        TIMEREF=str(header.get("TIMEREF", "LOCAL")).strip().upper() or "LOCAL",
    )


def parse_hdu_index(content: bytes, url: str, *, source: str = _IMPORT_SOURCE) -> pd.DataFrame:
    """GADF HDU index (FITS, gzip or not) -> one row per HDU; HDU_TYPE lower-cased.

    ``BASE_DIR`` (header, optional) is kept as a column; ``SIZE`` (bytes) is optional.
    """
    hdul = _open_fits(content, url, source)
    hdu = _index_hdu(hdul, "HDU_INDEX", "HDU", url, source)
    frame, header = _read_table(hdu, url, source, HDU_REQUIRED)
    _check_finite(frame, ("OBS_ID",), url, source)
    frame["OBS_ID"] = frame["OBS_ID"].astype("Int64")
    for name in ("HDU_TYPE", "HDU_CLASS", "FILE_DIR", "FILE_NAME", "HDU_NAME"):
        text = frame[name].astype("string").str.strip()
        if name in ("HDU_TYPE", "HDU_CLASS", "FILE_NAME", "HDU_NAME"):
            empty = np.flatnonzero((text.isna() | (text == "")).to_numpy())
            if empty.size:
                raise ParseError(source, url, "empty value", row=int(empty[0]), column=name, found=list(frame.columns))
        frame[name] = text
    frame["HDU_TYPE"] = frame["HDU_TYPE"].str.lower()
    if "SIZE" in frame.columns:
        frame["SIZE"] = pd.to_numeric(frame["SIZE"], errors="raise").astype("Int64")
    base = str(header.get("BASE_DIR", "")).strip()
    return frame.assign(BASE_DIR=base or None)


# --------------------------------------------------------------------------------------------
# Importer (voharvest import-gadf)
# --------------------------------------------------------------------------------------------


def find_index(index_dir: Path, kind: str) -> Path | None:
    """``obs-index.fits[.gz]`` / ``hdu-index.fits[.gz]`` (or ``_`` spelling) in ``index_dir``."""
    for stem in _INDEX_NAMES[kind]:
        for suffix in _FITS_SUFFIXES:
            path = index_dir / f"{stem}{suffix}"
            if path.is_file():
                return path
    return None


def import_directory(
    index_dir: Path,
    collection: str,
    access_url_template: str,
    **options: str | float | None,
) -> dict[str, pd.DataFrame]:
    """ObsCore, obscore_hea and DataLink rows of the GADF index in ``index_dir``.

    The obs-index is required, the hdu-index optional (without it: no sizes, no DataLink).
    ``collection``, ``access_url_template`` and the keyword ``options`` (``facility``,
    ``instrument``, ``fov_deg``, ``datalink_base_url``, ``data_rights``, ``auth``) are those of
    :func:`models.hea.gadf_to_ivoa`, declared there only (an unknown option is a ``TypeError``).
    :func:`write_import` writes the result.

    Raises
    ------
    ParseError
        Naming the file: no obs-index, a missing required column (with the columns found), bad
        values, or an index inconsistent with the URL template.
    """
    # A misspelt option fails here, before any file is read.
    inspect.signature(gadf_to_ivoa).bind(
        None, None, collection=collection, access_url_template=access_url_template, **options
    )
    index_dir = Path(index_dir)
    if not index_dir.is_dir():
        raise ParseError(_IMPORT_SOURCE, str(index_dir), "not a directory")
    obs_path = find_index(index_dir, "obs")
    if obs_path is None:
        listing = sorted(p.name for p in index_dir.iterdir())
        raise ParseError(_IMPORT_SOURCE, str(index_dir), "no obs-index.fits[.gz] in the directory", found=listing)
    obs = parse_obs_index(obs_path.read_bytes(), str(obs_path))
    hdu_path = find_index(index_dir, "hdu")
    hdu = parse_hdu_index(hdu_path.read_bytes(), str(hdu_path)) if hdu_path is not None else None
    try:
        return gadf_to_ivoa(obs, hdu, collection=collection, access_url_template=access_url_template, **options)
    except ValueError as exc:
        where = str(hdu_path or obs_path)
        raise ParseError(_IMPORT_SOURCE, where, str(exc)) from exc


def write_import(result: dict[str, pd.DataFrame], output_dir: Path) -> dict[str, Path]:
    """Write an import: ``obscore``/``obscore_hea`` as Parquet + VOTable, DataLink documents under ``datalink/``.

    Returns the written paths by name (``obscore.parquet``, ``datalink/20136.xml`` ...).
    """
    from models.parquet import write_parquet
    from models.votable import write_votable

    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for name, spec in (("obscore", OBSCORE), ("obscore_hea", OBSCORE_HEA)):
        table = conform(result[name], spec)
        for suffix, writer in ((".parquet", write_parquet), (".vot", write_votable)):
            path = output_dir / f"{name}{suffix}"
            writer(table, spec, path)
            written[path.name] = path
    links = result.get("datalink")
    if links is not None and len(links):
        (output_dir / "datalink").mkdir(exist_ok=True)
        for doc, content in datalink_documents(links).items():
            path = output_dir / "datalink" / doc
            path.write_bytes(content)
            written[f"datalink/{doc}"] = path
    return written


# --------------------------------------------------------------------------------------------
# The H.E.S.S. DL3 DR1 source
# --------------------------------------------------------------------------------------------

#: The release as published in gammapy-data, pinned to the commit the recordings come from, so a
#: harvest always reads the same bytes (DR1 is a fixed 2018 release). [unverified: the GitHub raw URL
#: form of that repository path was not fetched from here]
HESS_DR1_BASE = (
    "https://raw.githubusercontent.com/gammapy/gammapy-data/fbafe93016c65778594289fc1127ca25a6e7d742/hess-dl3-dr1"
)
#: Event files (obs id zero-padded to 6; sources.md). Each file also holds the run's GTI and IRF HDUs.
HESS_DR1_URL_TEMPLATE = "https://hess-dr.obspm.fr/retrieve/hess_dl3_dr1_obs_id_{obs_id:06d}.fits.gz"
HESS_DR1_COLLECTION = "HESS-DL3-DR1"
HESS_FACILITY = "H.E.S.S."
#: DR1 runs used the four 12 m telescopes CT1-4 (N_TELS=4, TELLIST '1,2,3,4' in every row).
HESS_INSTRUMENT = "H.E.S.S. Phase I"
#: Field of view of the H.E.S.S. I cameras: 5 deg diameter (instrument fact; the indexes do not
#: state it). ObsCore s_fov is a diameter; s_region is the circle of radius 2.5 deg around the pointing.
HESS_FOV_DEG = 5.0


def requests(as_of: dt.date) -> list[Request]:
    """The two index tables of the release (the same for every date: DR1 is immutable)."""
    del as_of
    return [
        Request(source=SOURCE_NAME, name="obs_index", url=f"{HESS_DR1_BASE}/obs-index.fits.gz"),
        Request(source=SOURCE_NAME, name="hdu_index", url=f"{HESS_DR1_BASE}/hdu-index.fits.gz"),
    ]


def parse(name: str, content: bytes, url: str, content_type: str | None = None) -> pd.DataFrame:
    """Dispatch on the request name to the obs-index or hdu-index parser."""
    if name == "obs_index":
        return parse_obs_index(content, url, source=SOURCE_NAME)
    if name == "hdu_index":
        return parse_hdu_index(content, url, source=SOURCE_NAME)
    raise ParseError(SOURCE_NAME, url, f"unknown request name {name!r} (known: obs_index, hdu_index)")


def normalise(frames: dict[str, pd.DataFrame], as_of: dt.datetime) -> dict[str, pd.DataFrame]:
    """ObsCore + obscore_hea rows of the 105 DR1 runs, and an empty obsplan.

    DR1 holds archival runs of 2004-2008 released in 2018: nothing in it is planned, and its runs
    were never in an ObsLocTAP plan we harvest, so the obsplan frame is empty (with every column but
    ``t_planning``). No DataLink documents here (a harvest has no public URL to serve them from);
    ``access_url`` is the run's file, which holds events, GTI and responses (a GADF event bundle).
    """
    del as_of
    obsplan = empty_frame(OBSPLAN).drop(columns="t_planning")
    obs = frames.get("obs_index")
    if obs is None:
        return {"obsplan": obsplan}
    out = gadf_to_ivoa(
        obs,
        frames.get("hdu_index"),
        collection=HESS_DR1_COLLECTION,
        access_url_template=HESS_DR1_URL_TEMPLATE,
        facility=HESS_FACILITY,
        instrument=HESS_INSTRUMENT,
        fov_deg=HESS_FOV_DEG,
        data_rights="public",
    )
    return {"obsplan": obsplan, "obscore": out["obscore"], "obscore_hea": out["obscore_hea"]}


SOURCE = Source(
    name=SOURCE_NAME,
    facility=HESS_FACILITY,
    hosts=("raw.githubusercontent.com",),
    cron=None,
    requests=requests,
    parse=parse,
    normalise=normalise,
    id_pattern=r"^\d+$",
    description="H.E.S.S. DL3 DR1 (2018 public test release, 105 runs 2004-2008): GADF indexes -> ObsCore event lists",
)
