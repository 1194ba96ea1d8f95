"""GADF DL3 index tables (obs-index, hdu-index), the ``import-gadf`` importer and the H.E.S.S. DR1 source.

GADF (gamma-astro-data-formats v0.2/0.3, "Data storage") is the common DL3 layout of H.E.S.S.,
VERITAS, MAGIC, HAWC and CTA simulations: an observation index (one row per run) and an HDU index
(one row per events/GTI/response HDU). Columns are found by name (upper-cased), never by position.
Only what ObsCore needs is required; every other column is optional and its absence gives NULLs.

Parsed frames keep GADF column names with values in GADF's canonical units (times in s, angles in
deg, energies in TeV, converted from each column's TUNIT), and carry the time reference as
columns (``MJDREFI``, ``MJDREFF``, ``TIMESYS``, ``TIMEREF``) so it survives any frame store; the
full header is also in ``frame.attrs["header"]``.

Rules decided here (issue 11):

* Times: TSTART/TSTOP are elapsed SI seconds since MJDREF in TIMESYS; :func:`models.timeutil.mjd_from_met`
  converts them (leap seconds after a UTC reference counted). Values outside 1950..2100, the facility's
  window or after the as-of time are :class:`ParseError` naming file, row and column.
* Time reference precedence for ``import-gadf`` (:data:`REFERENCE_PRECEDENCE`): ``--mjdref/--timesys``
  > obs-index header > hdu-index header > events/GTI headers of the referenced files; the one used and
  what every place held go to ``provenance.json``.
* Drift scans (HAWC) without TSTART and TSTOP are imported with NULL ``t_min``/``t_max``/``t_intervals``
  (nullable in ObsCore 1.1) and the provenance says so; an index with only one of the two is refused.
* FITS character columns are decoded strictly as UTF-8 (ASCII by the FITS standard): see
  :func:`_decode_strings`. URLs are built by :func:`models.hea.expand_template` (escaping and joining).
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import inspect
import io
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from astropy import units as u
from astropy.io import fits
from astropy.table import Table

from models.arrow import conform, empty_frame
from models.coords import check_dec, wrap_ra
from models.datalink import datalink_documents
from models.errors import ValueParseError
from models.hea import gadf_to_ivoa
from models.tables import OBSCORE, OBSCORE_HEA, OBSPLAN
from models.timeutil import SCALES, mjd_from_datetime, mjd_from_met
from scrapers.base import ParseError, Request, Source, value_error

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
_FITS_SUFFIXES = (".fits.gz", ".fits", ".fit.gz", ".fit", ".fits.fz")


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
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            hdul = fits.open(io.BytesIO(data), memmap=False, lazy_load_hdus=False)
            hdul.verify("silentfix")
            for hdu in hdul:
                _ = hdu.data  # read now: a short file must fail here, not give rows of padding
    except Exception as exc:  # astropy raises many types for broken FITS
        raise ParseError(source, url, f"unreadable FITS: {exc}") from exc
    truncated = [str(w.message) for w in caught if "truncated" in str(w.message)]
    if truncated:
        raise ParseError(source, url, f"truncated FITS file: {truncated[0]}")
    return hdul


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


def _decode_strings(raw: np.ndarray, name: str, url: str, source: str) -> np.ndarray:
    """FITS character cells -> stripped ``str``, strictly (never a silent replacement character).

    FITS 4.0 (section 7.3.3.1) allows only ASCII text in character columns and declares no charset,
    so :func:`scrapers.text.decode` (BOM, HTTP charset, XML declaration: document-level evidence)
    has nothing to go on here. The cells are decoded as UTF-8, a superset of ASCII: every conforming
    file gives the same text as an ASCII decoder, and a writer that put UTF-8 names in (outside the
    standard, but seen) keeps them right. Anything else is a :class:`ParseError` naming file, row and
    column, vectorised: only the rows holding a byte >= 0x80 are looked at one by one, and only when
    decoding failed.
    """
    arr = np.asarray(raw)
    try:
        return np.char.strip(np.char.decode(arr, "utf-8", "strict"))
    except UnicodeDecodeError:
        width = arr.dtype.itemsize
        high = (arr.view(np.uint8).reshape(len(arr), width) >= 0x80).any(axis=1) if width else np.zeros(len(arr), bool)
        for row in np.flatnonzero(high):  # error path only
            try:
                bytes(arr[row]).decode("utf-8")
            except UnicodeDecodeError as exc:
                raise ParseError(
                    source,
                    url,
                    f"character cell is neither ASCII (FITS) nor UTF-8: byte 0x{bytes(arr[row])[exc.start]:02x} "
                    f"at offset {exc.start} of {bytes(arr[row])!r}",
                    row=int(row),
                    column=name,
                ) from None
        raise


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
            table[name] = _decode_strings(np.asarray(col), name, url, source)
    frame = table.to_pandas()
    frame.attrs.update({"url": url, "header": header, "units": units})
    return frame, header


def _convert_units(frame: pd.DataFrame, header: dict, url: str, source: str) -> None:
    """Bring quantity columns to GADF's canonical units, in place (refusing unknown units and text)."""
    units = frame.attrs["units"]
    timeunit = str(header.get("TIMEUNIT", "s")).strip() or "s"
    targets = dict(CANONICAL_UNITS) | dict.fromkeys(TIME_COLUMNS, u.s)
    for name, target in targets.items():
        if name not in frame.columns:
            continue
        try:
            values = pd.to_numeric(frame[name], errors="raise").astype("float64")
        except (ValueError, TypeError) as exc:
            raise ParseError(source, url, f"not a number: {exc}", column=name) from exc
        given = units.get(name) or (timeunit if name in TIME_COLUMNS else None)
        if not given or given == str(target):
            frame[name] = values
            continue
        try:
            factor = u.Unit(given).to(target)
        except (ValueError, u.UnitConversionError) as exc:
            raise ParseError(source, url, f"unit {given!r} cannot be converted to {target}", column=name) from exc
        with np.errstate(over="ignore", invalid="ignore"):
            frame[name] = values * factor


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


def _int_column(frame: pd.DataFrame, name: str, url: str, source: str, *, minimum: int | None = 0) -> pd.Series:
    """An integer column as ``Int64`` (NaN -> NULL); fractions, inf, overflow or values < ``minimum`` refused."""
    try:
        values = pd.to_numeric(frame[name], errors="raise").to_numpy(dtype="float64", na_value=np.nan)
    except (ValueError, TypeError) as exc:
        raise ParseError(source, url, f"not an integer: {exc}", column=name) from exc
    with np.errstate(invalid="ignore"):
        bad = np.isinf(values) | (np.abs(values) >= 2.0**63) | (values != np.round(values))
        if minimum is not None:
            bad |= values < minimum
    bad &= ~np.isnan(values)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        rule = "an integer" if minimum is None else f"an integer >= {minimum}"
        raise ParseError(source, url, f"not {rule} (got {frame[name].iloc[row]!r})", row=row, column=name)
    if pd.api.types.is_integer_dtype(frame[name].dtype):
        return frame[name].astype("Int64")
    missing = np.isnan(values)
    out = pd.array(np.where(missing, 0, values).astype("int64"), dtype="Int64")
    out[missing] = pd.NA
    return pd.Series(out, index=frame.index)


# --------------------------------------------------------------------------------------------
# Time reference
# --------------------------------------------------------------------------------------------

#: Where the importer looks for the time reference, highest precedence first (see
#: :func:`resolve_reference`).
REFERENCE_PRECEDENCE = (
    "option (--mjdref/--timesys)",
    "obs-index header",
    "hdu-index header",
    "events/GTI HDU header of the referenced files",
)


@dataclass(frozen=True)
class TimeReference:
    """The reference TSTART/TSTOP count from: MJD ``mjdref_i + mjdref_f`` in ``timesys``.

    ``origin`` says where it was found (an option, a header and its file), for the provenance.
    """

    mjdref_i: float
    mjdref_f: float
    timesys: str
    origin: str
    timeref: str = "LOCAL"

    @property
    def mjdref(self) -> float:
        """MJDREFI + MJDREFF (float64: ~1 microsecond near MJD 60000)."""
        return self.mjdref_i + self.mjdref_f

    def describe(self) -> str:
        """One line for messages and provenance."""
        return f"MJDREF {self.mjdref_i:.0f} + {self.mjdref_f!r} d in {self.timesys} (from {self.origin})"

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form (provenance.json)."""
        return {
            "mjdrefi": self.mjdref_i,
            "mjdreff": self.mjdref_f,
            "mjdref": self.mjdref,
            "timesys": self.timesys,
            "timeref": self.timeref,
            "origin": self.origin,
        }


def reference_option(mjdref: float | None, timesys: str | None, where: str) -> TimeReference | None:
    """The explicit reference of ``--mjdref MJD --timesys SCALE`` (both or neither).

    Raises
    ------
    ParseError
        Only one of the two given, a non-finite MJD or an unknown scale.
    """
    if mjdref is None and timesys is None:
        return None
    if mjdref is None or timesys is None:
        raise ParseError(_IMPORT_SOURCE, where, "--mjdref and --timesys go together (a reference needs both)")
    if not np.isfinite(mjdref):
        raise ParseError(_IMPORT_SOURCE, where, f"--mjdref {mjdref!r} is not a finite MJD")
    scale = _scale(timesys, "--timesys", where, _IMPORT_SOURCE)
    whole = float(np.floor(mjdref))
    return TimeReference(whole, float(mjdref) - whole, scale, "option --mjdref/--timesys")


def _scale(text: object, what: str, where: str, source: str, column: str | None = None) -> str:
    scale = str(text).strip().upper()
    if scale.lower() not in SCALES:
        known = ", ".join(s.upper() for s in SCALES)
        message = f"{what} {scale!r} is not a time scale astropy knows ({known})"
        raise ParseError(source, where, message, column=column)
    return scale


def header_reference(
    header: Mapping[str, object], origin: str, url: str, *, source: str = _IMPORT_SOURCE
) -> dict[str, object]:
    """The time-reference keywords of one header: ``{"mjdref": (i, f) | None, "timesys": str | None, ...}``.

    MJDREFI (+ MJDREFF, default 0) wins over MJDREF, as in the FITS standard. Values that are present
    but unusable (not numbers, not finite, unknown scale) are errors naming the file ``url``, the
    place ``origin`` and the keyword (as the error's column).
    """
    found: dict[str, object] = {"origin": origin, "mjdref": None, "timesys": None, "timeref": None}
    key = "MJDREFI" if "MJDREFI" in header else "MJDREF"
    try:
        if "MJDREFI" in header:
            parts = (float(header["MJDREFI"]), float(header.get("MJDREFF", 0.0)))  # type: ignore[arg-type]
        elif "MJDREF" in header:
            whole = float(np.floor(float(header["MJDREF"])))  # type: ignore[arg-type]
            parts = (whole, float(header["MJDREF"]) - whole)  # type: ignore[arg-type]
        else:
            parts = None
    except (TypeError, ValueError, OverflowError) as exc:
        raise ParseError(source, url, f"{origin}: MJDREFI/MJDREFF/MJDREF not numbers: {exc}", column=key) from exc
    if parts is not None and not all(np.isfinite(parts)):
        raise ParseError(source, url, f"{origin}: MJDREFI/MJDREFF/MJDREF not finite: {parts}", column=key)
    found["mjdref"] = parts
    if str(header.get("TIMESYS", "")).strip():
        found["timesys"] = _scale(header["TIMESYS"], f"{origin}: TIMESYS", url, source, "TIMESYS")
    if str(header.get("TIMEREF", "")).strip():
        found["timeref"] = str(header["TIMEREF"]).strip().upper()
    return found


def resolve_reference(places: list[dict[str, object]], where: str, *, source: str = _IMPORT_SOURCE) -> TimeReference:
    """The first complete reference (MJDREF and TIMESYS in one place) among ``places``, in order.

    Half a reference in a place of higher precedence (e.g. an obs-index with TIMESYS but no MJDREF)
    must agree with the one chosen: keywords are never mixed across files that contradict each other.

    Raises
    ------
    ParseError
        No place has both, or a higher place contradicts the one chosen; the message lists what was
        found where and the way out (``--mjdref MJD --timesys SCALE``).
    """
    for k, place in enumerate(places):
        if place["mjdref"] is None or place["timesys"] is None:
            continue
        i, f = place["mjdref"]  # type: ignore[misc]
        for higher in places[:k]:
            clash = []
            if higher["timesys"] is not None and higher["timesys"] != place["timesys"]:
                clash.append(f"TIMESYS {higher['timesys']}")
            if higher["mjdref"] is not None and abs(sum(higher["mjdref"]) - (i + f)) > 1e-9:  # type: ignore[arg-type]
                clash.append(f"MJDREF {sum(higher['mjdref'])!r}")  # type: ignore[arg-type]
            if clash:
                raise ParseError(
                    source,
                    where,
                    f"{higher['origin']} has {' and '.join(clash)} but no complete reference, and {place['origin']} "
                    f"says MJDREF {i + f!r} {place['timesys']}: give --mjdref MJD --timesys SCALE",
                )
        timeref = next((p["timeref"] for p in places[: k + 1] if p["timeref"]), "LOCAL")
        return TimeReference(float(i), float(f), str(place["timesys"]), str(place["origin"]), str(timeref))
    seen = "; ".join(
        f"{p['origin']}: "
        + (", ".join(x for x in ("MJDREF" if p["mjdref"] else "", "TIMESYS" if p["timesys"] else "") if x) or "none")
        for p in places
    )
    raise ParseError(
        source,
        where,
        "no time reference (MJDREFI/MJDREFF or MJDREF, and TIMESYS: GADF gives no default) "
        f"in one place; found {seen}; give --mjdref MJD --timesys SCALE",
    )


# --------------------------------------------------------------------------------------------
# Index tables
# --------------------------------------------------------------------------------------------


def _load_obs(content: bytes, url: str, source: str) -> tuple[pd.DataFrame, dict, bool]:
    """obs-index frame (units converted), its header, and whether it has times (TSTART/TSTOP)."""
    hdul = _open_fits(content, url, source)
    hdu = _index_hdu(hdul, "OBS_INDEX", "OBS", url, source)
    names = {str(n).strip().upper() for n in hdu.columns.names}
    timed = bool({"TSTART", "TSTOP"} & names)
    required = OBS_REQUIRED if timed else tuple(c for c in OBS_REQUIRED if c not in ("TSTART", "TSTOP"))
    frame, header = _read_table(hdu, url, source, required)
    _convert_units(frame, header, url, source)
    return frame, header, timed


def parse_obs_index(
    content: bytes, url: str, *, source: str = _IMPORT_SOURCE, reference: TimeReference | None = None
) -> pd.DataFrame:
    """GADF observation index (FITS, gzip or not) -> one row per observation, values checked.

    Parameters
    ----------
    content, url
        The file's bytes and where they came from (named in every error).
    source
        Source name for errors (``gadf`` for imports, ``hess_dl3_dr1`` for the harvest source).
    reference
        The time reference to use (the importer's resolved one, :func:`resolve_reference`); by
        default the obs-index header's own MJDREFI+MJDREFF (or MJDREF) and TIMESYS.

    Returns
    -------
    pandas.DataFrame
        GADF columns in canonical units, with the reference as columns ``MJDREFI``, ``MJDREFF``,
        ``TIMESYS``, ``TIMEREF``. A drift-scan index without TSTART and TSTOP (HAWC) gives NaN
        times (published as NULL ``t_min``/``t_max``: ObsCore allows it) and needs no reference.

    Raises
    ------
    ParseError
        Naming the file, and where known the row (0-based) and column: a required column
        (:data:`OBS_REQUIRED`) or the time reference missing, a required value not finite, times
        outside 1950..2100 UTC, RA outside [0, 360] / Dec outside [-90, 90], an OBS_ID repeating,
        TSTOP before TSTART, SAFE_ENERGY_LO above SAFE_ENERGY_HI, negative or infinite exposure,
        LIVETIME longer than TSTOP - TSTART.
    """
    frame, header, timed = _load_obs(content, url, source)
    if reference is None and timed:
        reference = resolve_reference(
            [header_reference(header, f"obs-index header {url}", url, source=source)], url, source=source
        )
    return _check_obs(frame, reference, timed, url, source)


def _check_obs(
    frame: pd.DataFrame, reference: TimeReference | None, timed: bool, url: str, source: str
) -> pd.DataFrame:
    found = list(frame.columns)
    _check_finite(frame, ("OBS_ID", "RA_PNT", "DEC_PNT") + (("TSTART", "TSTOP") if timed else ()), url, source)
    frame["OBS_ID"] = _int_column(frame, "OBS_ID", url, source, minimum=None)
    dup = np.flatnonzero(frame["OBS_ID"].duplicated().to_numpy())
    if dup.size:
        raise ParseError(
            source, url, f"OBS_ID {frame['OBS_ID'].iloc[dup[0]]} repeats", row=int(dup[0]), column="OBS_ID"
        )
    for name, check in (("RA_PNT", wrap_ra), ("DEC_PNT", check_dec), ("RA_OBJ", wrap_ra), ("DEC_OBJ", check_dec)):
        if name in frame.columns:
            try:
                frame[name] = check(frame[name].to_numpy(dtype="float64"))
            except ValueParseError as exc:
                raise value_error(exc, source=source, url=url, column=name, found=found) from exc
    if timed:
        assert reference is not None
        for name in ("TSTART", "TSTOP"):
            try:
                mjd_from_met(
                    frame[name].to_numpy(dtype="float64"), reference.mjdref_i, reference.timesys, reference.mjdref_f
                )
            except ValueParseError as exc:
                raise value_error(exc, source=source, url=url, column=name, found=found) from exc
        back = np.flatnonzero((frame["TSTOP"] < frame["TSTART"]).to_numpy())
        if back.size:
            raise ParseError(source, url, "TSTOP before TSTART", row=int(back[0]), column="TSTOP")
    else:
        frame["TSTART"] = np.nan
        frame["TSTOP"] = np.nan
    _check_exposure(frame, timed, url, source)
    _check_energies(frame, url, source)
    for name in ("EVENT_COUNT", "N_TELS", "QUALITY"):
        if name in frame.columns:
            frame[name] = _int_column(frame, name, url, source, minimum=None if name == "QUALITY" else 0)
    if reference is None:
        return frame.assign(MJDREFI=np.nan, MJDREFF=np.nan, TIMESYS=None, TIMEREF=None)
    return frame.assign(
        MJDREFI=reference.mjdref_i,
        MJDREFF=reference.mjdref_f,
        TIMESYS=reference.timesys,
        TIMEREF=reference.timeref,
    )


def _check_exposure(frame: pd.DataFrame, timed: bool, url: str, source: str) -> None:
    """ONTIME/LIVETIME finite and >= 0 where given, DEADC in [0, 1], LIVETIME <= TSTOP - TSTART + 1 s."""
    limits = {"ONTIME": (0.0, np.inf), "LIVETIME": (0.0, np.inf), "DEADC": (0.0, 1.0)}
    for name, (lo, hi) in limits.items():
        if name not in frame.columns:
            continue
        values = frame[name].to_numpy(dtype="float64")
        with np.errstate(invalid="ignore"):
            bad = np.isinf(values) | (values < lo) | (values > hi)
            if timed and name in ("ONTIME", "LIVETIME"):
                # 1 s: index values are rounded (DR1 ONTIME is whole seconds of float32).
                bad |= values > (frame["TSTOP"] - frame["TSTART"]).to_numpy(dtype="float64") + 1.0
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            rule = f"in [{lo}, {hi}]" if name == "DEADC" else "finite, >= 0 and <= TSTOP - TSTART"
            raise ParseError(source, url, f"must be {rule} (got {values[row]!r})", row=row, column=name)


def _check_energies(frame: pd.DataFrame, url: str, source: str) -> None:
    """SAFE_ENERGY_LO <= SAFE_ENERGY_HI where both are usable (finite and > 0; others become NULL later)."""
    if not {"SAFE_ENERGY_LO", "SAFE_ENERGY_HI"} <= set(frame.columns):
        return
    lo = frame["SAFE_ENERGY_LO"].to_numpy(dtype="float64")
    hi = frame["SAFE_ENERGY_HI"].to_numpy(dtype="float64")
    with np.errstate(invalid="ignore"):
        bad = np.isfinite(lo) & np.isfinite(hi) & (lo > 0) & (hi > 0) & (lo > hi)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ParseError(
            source,
            url,
            f"SAFE_ENERGY_LO {lo[row]!r} above SAFE_ENERGY_HI {hi[row]!r}",
            row=row,
            column="SAFE_ENERGY_HI",
        )


def check_facility(
    obs: pd.DataFrame, facility: str | None, instrument: str | None, as_of_mjd: float, url: str, source: str
) -> None:
    """Refuse rows the facility cannot have (:mod:`models.facilities`), naming row and column.

    The same facts :func:`models.validate.validate` checks (its plausibility rules), caught here so a
    broken index is a :class:`ParseError` naming the file, row and column instead of a published row
    failing a blocking check: TSTART/TSTOP inside the facility's operating window and not after
    ``as_of_mjd`` (the rows describe data that exist), SAFE_ENERGY_LO/HI inside the instrument's
    band. A facility not in the registry (or none) gets only the as-of rule.

    Parameters
    ----------
    obs
        Frame of :func:`parse_obs_index`.
    facility, instrument
        ``facility_name`` / ``instrument_name`` the rows will be published with.
    as_of_mjd
        UTC MJD the rows were known at (harvest as-of time; the current time for an import).
    url, source
        For the errors.
    """
    from models.facilities import BAND_RTOL, FACILITIES, instrument_bands
    from models.hea import gadf_times
    from models.units import energy_band_to_em

    facts = FACILITIES.get(facility) if facility is not None else None
    lo, hi = (facts.start_mjd, facts.end_mjd) if facts is not None else (-np.inf, np.inf)
    t_min, t_max = gadf_times(obs)
    window = f"{facts.name} operating window" if facts is not None else "past"
    for name, values in (("TSTART", t_min), ("TSTOP", t_max)):
        with np.errstate(invalid="ignore"):
            bad = (values < lo) | (values > min(hi, as_of_mjd))
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise ParseError(
                source,
                url,
                f"time MJD {values[row]:.6f} UTC outside the {window} (MJD {lo:.1f} .. {min(hi, as_of_mjd):.1f})",
                row=row,
                column=name,
            )
    if facts is None or not {"SAFE_ENERGY_LO", "SAFE_ENERGY_HI"} <= set(obs.columns):
        return
    e_lo = obs["SAFE_ENERGY_LO"].to_numpy(dtype="float64") * 1e12
    e_hi = obs["SAFE_ENERGY_HI"].to_numpy(dtype="float64") * 1e12
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        usable = np.isfinite(e_lo) & np.isfinite(e_hi) & (e_lo > 0) & (e_hi > 0)
        em_min, em_max = energy_band_to_em(e_lo, e_hi)
        inside = np.zeros(len(obs), dtype=bool)
        for b_lo, b_hi in instrument_bands(facts, instrument):  # a few bands, not rows
            inside |= (em_min >= b_lo * (1 - BAND_RTOL)) & (em_max <= b_hi * (1 + BAND_RTOL))
    bad = usable & ~inside
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        bands = instrument_bands(facts, instrument)
        too_high = em_min[row] < min(b for b, _ in bands) * (1 - BAND_RTOL)  # short wavelength: high energy
        column = "SAFE_ENERGY_HI" if too_high else "SAFE_ENERGY_LO"
        raise ParseError(
            source,
            url,
            f"SAFE_ENERGY_LO..HI {e_lo[row] / 1e12!r}..{e_hi[row] / 1e12!r} TeV outside the {facts.name} band",
            row=row,
            column=column,
        )


def parse_hdu_index(content: bytes, url: str, *, source: str = _IMPORT_SOURCE) -> pd.DataFrame:
    """GADF HDU index (FITS, gzip or not) -> one row per HDU; HDU_TYPE lower-cased.

    ``BASE_DIR`` (header, optional) is kept as a column; ``SIZE`` (bytes) is optional. The header is in
    ``frame.attrs["header"]`` (the importer looks for a time reference there).
    """
    hdul = _open_fits(content, url, source)
    hdu = _index_hdu(hdul, "HDU_INDEX", "HDU", url, source)
    frame, header = _read_table(hdu, url, source, HDU_REQUIRED)
    _check_finite(frame, ("OBS_ID",), url, source)
    frame["OBS_ID"] = _int_column(frame, "OBS_ID", url, source, minimum=None)
    for name in ("HDU_TYPE", "HDU_CLASS", "FILE_DIR", "FILE_NAME", "HDU_NAME"):
        text = frame[name].astype("string").str.strip()
        if name in ("HDU_TYPE", "HDU_CLASS", "FILE_NAME", "HDU_NAME"):
            empty = np.flatnonzero((text.isna() | (text == "")).to_numpy())
            if empty.size:
                raise ParseError(source, url, "empty value", row=int(empty[0]), column=name, found=list(frame.columns))
        frame[name] = text
    frame["HDU_TYPE"] = frame["HDU_TYPE"].str.lower()
    if "SIZE" in frame.columns:
        frame["SIZE"] = _int_column(frame, "SIZE", url, source)
    base = str(header.get("BASE_DIR", "")).strip()
    out = frame.assign(BASE_DIR=base or None)
    out.attrs["header"] = header
    return out


# --------------------------------------------------------------------------------------------
# Importer (voharvest import-gadf)
# --------------------------------------------------------------------------------------------


class ImportResult(dict):
    """``import_directory``'s frames by name (``obscore``, ``obscore_hea``, ``datalink``) plus ``provenance``.

    A ``dict`` so callers index it as before; ``provenance`` (JSON-ready) says which files were read,
    which time reference was used and where it was found; :func:`write_import` writes it.
    """

    provenance: dict[str, object]


def find_index(index_dir: Path, kind: str) -> Path | None:
    """The obs-/hdu-index file of ``index_dir``: ``obs-index*.fits[.gz]`` (or ``_``, ``.fit``, ``.fits.fz``).

    Release names vary (``obs-index.fits.gz``, ``obs-index-hess-dl3-dr3.fits.gz``); the match ignores
    case. More than one match is ambiguous and refused (naming them) rather than picked silently.
    """
    stems = _INDEX_NAMES[kind]
    hits = sorted(
        p
        for p in Path(index_dir).iterdir()
        if p.is_file()
        and any(p.name.lower().startswith(stem) for stem in stems)
        and any(p.name.lower().endswith(suffix) for suffix in _FITS_SUFFIXES)
    )
    if len(hits) > 1:
        raise ParseError(
            _IMPORT_SOURCE,
            str(index_dir),
            f"several {stems[0]} files, keep one per directory",
            found=[p.name for p in hits],
        )
    return hits[0] if hits else None


def _file_places(index_dir: Path, obs_ids: pd.Series, hdu: pd.DataFrame) -> list[dict[str, object]]:
    """Reference keywords of the events (then GTI) HDU headers of the first and last observation's files.

    Only files present under the index directory (``BASE_DIR``/``FILE_DIR``/``FILE_NAME``, GADF's
    layout) are read; two files, not one per observation, because the obs-index is one table with one
    reference: the first and last runs show whether the release is uniform.
    """
    base = Path(str(hdu["BASE_DIR"].iloc[0])) if hdu["BASE_DIR"].notna().any() else Path()
    root = base if base.is_absolute() else index_dir / base
    places: list[dict[str, object]] = []
    wanted = hdu[hdu["HDU_TYPE"].isin(["events", "gti"]) & hdu["OBS_ID"].isin([obs_ids.iloc[0], obs_ids.iloc[-1]])]
    wanted = wanted.sort_values("HDU_TYPE", kind="stable")  # events before gti
    for row in wanted.itertuples(index=False):  # at most four HDUs
        path = root / (row.FILE_DIR if isinstance(row.FILE_DIR, str) else "") / str(row.FILE_NAME)
        if not path.is_file():
            continue
        origin = f"{row.HDU_TYPE} header {path}#{row.HDU_NAME}"
        try:
            with fits.open(path, memmap=False) as hdul:
                header = next(
                    (
                        h.header
                        for h in hdul
                        if str(h.header.get("EXTNAME", "")).strip().upper() == row.HDU_NAME.upper()
                    ),
                    None,
                )
        except Exception as exc:  # astropy raises many types for broken FITS
            raise ParseError(_IMPORT_SOURCE, str(path), f"unreadable FITS: {exc}") from exc
        if header is not None:
            places.append(header_reference(header, origin, str(path)))
    complete = {(p["mjdref"], p["timesys"]) for p in places if p["mjdref"] is not None and p["timesys"]}
    if len(complete) > 1:
        raise ParseError(
            _IMPORT_SOURCE,
            str(index_dir),
            f"event/GTI files disagree on the time reference: {sorted(map(str, complete))}; "
            "give --mjdref MJD --timesys SCALE",
        )
    return places


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def import_directory(
    index_dir: Path,
    collection: str,
    access_url_template: str,
    *,
    mjdref: float | None = None,
    timesys: str | None = None,
    **options: str | float | None,
) -> ImportResult:
    """ObsCore, obscore_hea and DataLink rows of the GADF index in ``index_dir``, with provenance.

    The obs-index is required, the hdu-index optional (without it: no sizes, no DataLink).
    ``collection``, ``access_url_template`` and the keyword ``options`` (``facility``,
    ``instrument``, ``fov_deg``, ``datalink_base_url``, ``data_rights``, ``auth``) are those of
    :func:`models.hea.gadf_to_ivoa`, declared there only (an unknown option is a ``TypeError``).
    :func:`write_import` writes the result.

    Parameters
    ----------
    mjdref, timesys
        Explicit time reference (``--mjdref MJD --timesys SCALE``), both or neither. Precedence
        (:data:`REFERENCE_PRECEDENCE`): this option > obs-index header > hdu-index header > events/GTI
        HDU headers of the referenced files. The option first because it is the user's correction
        of a release; then the obs-index because its keywords describe its own TSTART/TSTOP columns
        (FITS: keywords of an HDU apply to its columns); then the hdu-index, written by the same tool
        for the same release; the event files last, as their keywords describe their TIME columns
        (GADF uses one reference per release, but nothing guarantees it). The choice and what each
        place held are in ``result.provenance["time_reference"]``.

    Raises
    ------
    ParseError
        Naming the file: no obs-index (or several), a missing required column (with the columns
        found), no time reference anywhere, bad values, or an index inconsistent with the template.
    """
    # A misspelt option fails here, before any file is read.
    inspect.signature(gadf_to_ivoa).bind(
        None, None, collection=collection, access_url_template=access_url_template, **options
    )
    index_dir = Path(index_dir)
    if not index_dir.is_dir():
        raise ParseError(_IMPORT_SOURCE, str(index_dir), "not a directory")
    explicit = reference_option(mjdref, timesys, str(index_dir))
    obs_path = find_index(index_dir, "obs")
    if obs_path is None:
        listing = sorted(p.name for p in index_dir.iterdir())
        raise ParseError(_IMPORT_SOURCE, str(index_dir), "no obs-index*.fits[.gz] in the directory", found=listing)
    hdu_path = find_index(index_dir, "hdu")
    hdu = parse_hdu_index(hdu_path.read_bytes(), str(hdu_path)) if hdu_path is not None else None
    obs_frame, obs_header, timed = _load_obs(obs_path.read_bytes(), str(obs_path), _IMPORT_SOURCE)

    places = [header_reference(obs_header, f"obs-index header {obs_path}", str(obs_path))]
    if hdu is not None:
        places.append(header_reference(hdu.attrs["header"], f"hdu-index header {hdu_path}", str(hdu_path)))
    if explicit is not None:
        reference: TimeReference | None = explicit
    elif timed:
        if hdu is not None and not any(_complete(p) for p in places):
            places += _file_places(index_dir, obs_frame["OBS_ID"], hdu)
        reference = resolve_reference(places, str(obs_path))
    else:
        reference = None  # drift scan: no times to refer
    obs = _check_obs(obs_frame, reference, timed, str(obs_path), _IMPORT_SOURCE)
    check_facility(
        obs,
        options.get("facility"),  # type: ignore[arg-type]
        options.get("instrument"),  # type: ignore[arg-type]
        mjd_from_datetime(dt.datetime.now(dt.UTC)),  # an index lists data that exist: none after now
        str(obs_path),
        _IMPORT_SOURCE,
    )
    try:
        frames = gadf_to_ivoa(obs, hdu, collection=collection, access_url_template=access_url_template, **options)
    except ValueError as exc:
        where = str(hdu_path or obs_path)
        raise ParseError(_IMPORT_SOURCE, where, str(exc)) from exc
    result = ImportResult(frames)
    result.provenance = {
        "importer": "voharvest import-gadf",
        "index_dir": str(index_dir),
        "obs_index": {"path": str(obs_path), "sha256": _sha256(obs_path)},
        "hdu_index": None if hdu_path is None else {"path": str(hdu_path), "sha256": _sha256(hdu_path)},
        "collection": collection,
        "access_url_template": access_url_template,
        "options": {k: v for k, v in options.items() if v is not None},
        "time_reference": {
            "chosen": None if reference is None else reference.as_dict(),
            "statement": (
                reference.describe()
                if reference is not None
                else "none: the obs-index has no TSTART/TSTOP (drift scan); t_min, t_max, t_intervals are NULL"
            ),
            "precedence": list(REFERENCE_PRECEDENCE),
            "looked_at": [
                {
                    "place": p["origin"],
                    "mjdref": None if p["mjdref"] is None else sum(p["mjdref"]),  # type: ignore[arg-type]
                    "timesys": p["timesys"],
                    "used": reference is not None and p["origin"] == reference.origin,
                }
                for p in places
            ],
            "rule": "TSTART/TSTOP are elapsed SI seconds since MJDREF in TIMESYS (leap seconds counted); "
            "published t_min/t_max are UTC MJD",
        },
        "strings": "FITS character columns decoded as UTF-8 (strict; FITS allows ASCII only), then stripped",
    }
    return result


def _complete(place: Mapping[str, object]) -> bool:
    return place["mjdref"] is not None and place["timesys"] is not None


def write_import(result: dict[str, pd.DataFrame], output_dir: Path) -> dict[str, Path]:
    """Write an import: ``obscore``/``obscore_hea`` as Parquet + VOTable, DataLink documents under ``datalink/``.

    When ``result`` is an :class:`ImportResult`, its provenance (files read with their SHA-256, the
    time reference used and where it was found) goes to ``provenance.json``.

    Returns the written paths by name (``obscore.parquet``, ``datalink/20136.xml``, ``provenance.json`` ...).
    """
    import json

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
    provenance = getattr(result, "provenance", None)
    if provenance is not None:
        path = output_dir / "provenance.json"
        path.write_text(json.dumps(provenance, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        written[path.name] = path
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
    obsplan = empty_frame(OBSPLAN).drop(columns="t_planning")
    obs = frames.get("obs_index")
    if obs is None:
        return {"obsplan": obsplan}
    as_of_mjd = mjd_from_datetime(as_of)
    url = str(obs.attrs.get("url") or f"{HESS_DR1_BASE}/obs-index.fits.gz")  # attrs do not survive a frame store
    check_facility(obs, HESS_FACILITY, HESS_INSTRUMENT, as_of_mjd, url, SOURCE_NAME)
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
