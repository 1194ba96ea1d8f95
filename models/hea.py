"""ObsCore + ``obscore_hea`` rows for high-energy event lists.

Two producers share the rules of ObsCore 1.1 section 4 and the HEA extension draft (spec/he.md):

* GADF DL3 releases (:func:`gadf_to_ivoa`), from the parsed obs-index and hdu-index tables;
* performed X-ray observations (:func:`xray_performed_to_obscore`), from ObsLocTAP ``Performed`` rows
  of NuSTAR, XMM-Newton and INTEGRAL, pointing to each archive's event-list product.

Rules that existing exporters break and that are kept here (landscape.md): ``em_min``/``em_max`` are
vacuum wavelengths in metres (``em_min`` from the *highest* energy), native energies go to
``energy_min``/``energy_max`` in eV; ``t_max`` is the end of the observation (TSTOP), not of the
first good-time interval; times are UTC MJD; strings are never truncated; unknown values are NULL,
never 0; event lists have axis lengths -1 and ``o_ucd`` NULL (ObsCore B.6.5).
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from urllib.parse import quote

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from models.arrow import empty_frame
from models.columns import TableSpec
from models.datalink import DATALINK, DATALINK_FORMAT, RESPONSE_TYPES
from models.identifiers import publisher_did
from models.moc import TIME_ORDER, tcb_microseconds
from models.regions import circle_stcs
from models.tables import OBSCORE, OBSCORE_HEA
from models.timeutil import mjd_from_met
from models.units import HC_EV_M, energy_band_to_em

#: ObsCore 1.1 dataproduct_type of event lists.
EVENT_TYPE = "event"
#: Product-type vocabulary term (``http://www.ivoa.net/rdf/product-type``; ``event`` renamed 2023-07-27).
EVENT_SUBTYPE = "event-list"
#: Proposed MIME type of GADF files (HEA ObsCore roadmap section 5.4, with the ``application/`` prefix
#: ObsCore requires; not registered).
GADF_FORMAT = "application/x-fits-gadf"
#: Time-MOC order of ``t_intervals``: the project's time-MOC order (:data:`models.moc.TIME_ORDER`, 31,
#: ~17.9 min cells). MOC 2.0 section 4.2 recommends it when times are not barycentric: index and
#: schedule times are topocentric/geocentric, off the solar-system barycentre by up to ~500 s.
TMOC_ORDER = TIME_ORDER
#: TeV -> eV.
TEV_EV = 1e12

#: GADF OBS_MODE -> HEA ``tracking_mode``: a pointed IACT run tracks the sky; a drift scan does not.
GADF_TRACKING = {"POINTING": "sidereal", "WOBBLE": "sidereal", "DRIFT": "fixed-az-el-transit"}
#: ObsLocTAP tracking_type -> HEA ``tracking_mode`` vocabulary (lower case).
OBSPLAN_TRACKING = {
    "Sidereal": "sidereal",
    "Solar-system-object-tracking": "solar-system-object-tracking",
    "Fixed-az-el-transit": "fixed-az-el-transit",
}

_TEMPLATE_FIELDS = ("obs_id", "file_dir", "file_name", "hdu_name")


# --------------------------------------------------------------------------------------------
# Time MOCs
# --------------------------------------------------------------------------------------------


def time_moc_ascii(t_min_mjd: npt.ArrayLike, t_max_mjd: npt.ArrayLike, order: int = TMOC_ORDER) -> pd.Series:
    """MOC 2.0 ASCII time MOC of ``[t_min, t_max]`` (UTC MJD) per row, on the TCB axis.

    Gives exactly ``models.moc.time_moc(t_min, t_max).to_string("ascii")`` for each row (closed
    interval, same TCB conversion; the tests check this) without one mocpy call per row: the range of
    cells at ``order`` is reduced to its well-formed multi-order form level by level with numpy.
    Rows with a NULL bound give NULL.
    """
    if not 0 < order <= 61:
        raise ValueError(f"time MOC order must be in 1..61, got {order}")
    t0 = np.asarray(t_min_mjd, dtype="float64")
    t1 = np.asarray(t_max_mjd, dtype="float64")
    ok = np.isfinite(t0) & np.isfinite(t1)
    out = pd.Series([None] * t0.size, dtype=object)
    if not ok.any():
        return out
    if np.any(t0[ok] > t1[ok]):
        raise ValueError(f"t_min > t_max at rows {np.flatnonzero(ok & (t0 > t1))[:10].tolist()}")
    start = tcb_microseconds(t0[ok])
    last = tcb_microseconds(t1[ok], ceil=True)  # closed interval: t_max itself is covered
    shift = 61 - order
    lo = start >> shift
    hi = last >> shift
    text = _moc_text(lo, hi, order)
    out[np.flatnonzero(ok)] = text
    return out


def _moc_text(lo: np.ndarray, hi: np.ndarray, order: int) -> list[str]:
    """Well-formed ASCII of the inclusive cell ranges ``[lo, hi]`` at ``order`` (one per row).

    Level by level, a cell whose sibling is outside the range is emitted at that level (at most one
    at each end); the rest merge into their parents. Strings are built with Arrow kernels.
    """
    tokens: list[pa.Array] = []  # one per order, deepest first; null where the row has no cell
    emitted_deepest = None
    low, high = lo.copy(), hi.copy()
    for depth in range(order, -1, -1):  # loop over orders (at most 62), not rows
        active = low <= high
        if depth == 0:
            take_low, take_high = active, active & (high > low)
            joiner = np.full(low.size, "-")
        else:
            take_low = active & (low % 2 == 1)
            take_high = active & (high % 2 == 0) & (low + take_low <= high)
            joiner = np.where(high == low + 1, "-", " ")
        if emitted_deepest is None:
            emitted_deepest = take_low | take_high
        lo_txt = pc.cast(pa.array(low), pa.string())
        hi_txt = pc.cast(pa.array(high), pa.string())
        both = pc.binary_join_element_wise(lo_txt, pa.array(joiner), hi_txt, "")
        cells = pc.if_else(
            pa.array(take_low & take_high),
            both,
            pc.if_else(
                pa.array(take_low), lo_txt, pc.if_else(pa.array(take_high), hi_txt, pa.nulls(low.size, pa.string()))
            ),
        )
        tokens.append(pc.binary_join_element_wise(f"{depth}/", cells, ""))
        low = (low + take_low) >> 1
        high = (high - take_high - 1) >> 1
    text = pc.binary_join_element_wise(*reversed(tokens), " ", null_handling="skip")
    text = pc.if_else(pa.array(emitted_deepest), text, pc.binary_join_element_wise(text, f"{order}/", " "))
    return text.to_pylist()


# --------------------------------------------------------------------------------------------
# URL templates
# --------------------------------------------------------------------------------------------


def url_part(values: pd.Series, part: str) -> pd.Series:
    """Percent-encode ``values`` for one part of a URL: the one place URLs of index values are escaped.

    Parameters
    ----------
    values
        Text taken from an index (file directory, file name, HDU name), not yet URL-encoded: a ``%``
        in a file name is a character of the name and becomes ``%25``.
    part
        ``"path"``: a relative directory (``/`` separates segments and is kept; leading ``./``, leading
        and trailing ``/`` and repeated ``/`` are dropped, ``.`` alone is empty); ``"segment"``: one
        path segment or query value (``/`` escaped too); ``"fragment"``: a URL fragment (HDU names,
        ``#events``; spaces and every reserved character escaped).

    Returns
    -------
    pandas.Series
        Encoded text (``string`` dtype), NULL where the value is NULL.
    """
    text = values.astype("string")
    if part == "path":
        text = text.str.strip().str.replace(r"/+", "/", regex=True).str.replace(r"^(?:\./)+|^/|/$", "", regex=True)
        text = text.mask(text == ".", "")
        safe = "/"
    elif part in ("segment", "fragment"):
        safe = ""
    else:
        raise ValueError(f"unknown URL part {part!r} (path, segment, fragment)")
    # Only values holding a character outside RFC 3986's unreserved set (plus '/' for paths) go through
    # quote(): real file names never do, so the Python-level call runs on the rare rows that need it.
    unsafe = text.str.contains(r"[^A-Za-z0-9_.~/-]" if safe else r"[^A-Za-z0-9_.~-]", regex=True).fillna(False)
    if unsafe.any():
        text = text.copy()
        text[unsafe] = [quote(v, safe=safe) for v in text[unsafe]]
    return text


#: The URL part each template field lands in (:func:`url_part`).
_FIELD_PART = {"file_dir": "path", "file_name": "segment", "hdu_name": "segment"}


def expand_template(template: str, fields: Mapping[str, pd.Series], *, fragment: pd.Series | None = None) -> pd.Series:
    """Fill ``template`` per row from ``fields``, vectorised, escaping and joining correctly.

    Supported: ``{obs_id}``, ``{file_dir}``, ``{file_name}``, ``{hdu_name}``; ``{obs_id}`` may carry a
    width spec such as ``{obs_id:06d}`` (zero-padded, as H.E.S.S. file names are). Anything else is
    refused, so a mistyped template fails loudly instead of producing wrong URLs. Values are
    percent-encoded by :func:`url_part` (``{file_dir}`` as a relative path, the others as one
    segment); an empty ``{file_dir}`` followed by ``/`` in the template takes that ``/`` with it, so
    ``.../{file_dir}/{file_name}`` never gives ``//``. ``fragment`` (e.g. the HDU name) is appended
    as ``#<encoded fragment>``.
    """
    parts = list(string.Formatter().parse(template))
    names = [name for _, name, _, _ in parts if name is not None]
    if not names:
        raise ValueError(f"URL template {template!r} has no placeholder: every dataset would get the same URL")
    unknown = sorted({n for n in names if n not in _TEMPLATE_FIELDS})
    if unknown:
        raise ValueError(
            f"URL template {template!r}: unknown placeholder(s) {unknown}; known: {list(_TEMPLATE_FIELDS)}"
        )
    missing = sorted({n for n in names if n not in fields})
    if missing:
        raise ValueError(f"URL template {template!r} needs {missing}, which only the hdu-index provides")
    n = len(next(iter(fields.values())))
    out = pd.Series([""] * n, dtype="string")
    drop_slash = pd.Series(np.zeros(n, dtype=bool))  # previous field was an empty directory
    for literal, name, spec, conversion in parts:
        if literal.startswith("/"):
            out = out + pd.Series(np.where(drop_slash, literal[1:], literal), dtype="string")
        else:
            out = out + literal
        drop_slash = pd.Series(np.zeros(n, dtype=bool))
        if name is None:
            continue
        if conversion:
            raise ValueError(f"URL template {template!r}: conversions like '!{conversion}' are not supported")
        values = fields[name].reset_index(drop=True)
        if name in _FIELD_PART:
            if spec:
                raise ValueError(f"URL template {template!r}: {{{name}}} takes no format spec")
            piece = url_part(values, _FIELD_PART[name])
            if name == "file_dir":
                drop_slash = (piece.fillna("") == "").to_numpy(dtype=bool)
            out = out + piece
        else:
            out = out + _format_field(values, name, spec or "", template)
    if fragment is not None:
        out = out + "#" + url_part(fragment.reset_index(drop=True), "fragment")
    return out.astype(object).where(out.notna(), None)


def _format_field(values: pd.Series, name: str, spec: str, template: str) -> pd.Series:
    if not spec:
        return values.astype("string")
    if not (spec.endswith("d") and spec[:-1].isdigit()):
        raise ValueError(f"URL template {template!r}: format spec {spec!r} of {{{name}}} unsupported (use e.g. 06d)")
    if not pd.api.types.is_integer_dtype(values.dtype):
        raise ValueError(f"URL template {template!r}: {{{name}:{spec}}} needs integers, {name} is {values.dtype}")
    width = int(spec[:-1])
    text = values.astype("string")
    return text.str.zfill(width) if spec.startswith("0") else text.str.rjust(width)


# --------------------------------------------------------------------------------------------
# GADF DL3 indexes
# --------------------------------------------------------------------------------------------


def _column(frame: pd.DataFrame, name: str, dtype: str = "float64") -> pd.Series:
    """A column as ``dtype``, or all-NULL when the (optional) column is absent."""
    if name in frame.columns:
        return frame[name].reset_index(drop=True).astype(dtype)
    return pd.Series(np.nan if dtype == "float64" else pd.NA, index=range(len(frame)), dtype=dtype)


def _text(frame: pd.DataFrame, name: str) -> pd.Series:
    """Stripped text of an optional column; empty strings and absent columns give NULL."""
    if name not in frame.columns:
        return pd.Series([None] * len(frame), dtype=object)
    text = frame[name].astype("string").str.strip().reset_index(drop=True)
    return text.astype(object).where(text.notna() & (text != ""), None)


def gadf_times(obs_index: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """UTC MJD of TSTART/TSTOP (seconds since MJDREFI+MJDREFF in TIMESYS), per row.

    The reference is carried as columns (``MJDREFI``, ``MJDREFF``, ``TIMESYS``) so that indexes with
    different references can be concatenated; each distinct reference is converted in one call.
    """
    for name in ("MJDREFI", "MJDREFF", "TIMESYS", "TSTART", "TSTOP"):
        if name not in obs_index.columns:
            raise KeyError(f"obs-index frame lacks {name!r} (use scrapers.gadf.parse_obs_index)")
    t_min = np.full(len(obs_index), np.nan)
    t_max = np.full(len(obs_index), np.nan)
    keys = obs_index[["MJDREFI", "MJDREFF", "TIMESYS"]].reset_index(drop=True)
    for (mjdref_i, mjdref_f, timesys), rows in keys.groupby(["MJDREFI", "MJDREFF", "TIMESYS"]).indices.items():
        for out, col in ((t_min, "TSTART"), (t_max, "TSTOP")):
            sec = obs_index[col].to_numpy(dtype="float64")[rows]
            out[rows] = mjd_from_met(sec, float(mjdref_i), str(timesys), float(mjdref_f))
    return t_min, t_max


def _events_rows(obs_id: pd.Series, hdu_index: pd.DataFrame) -> pd.DataFrame:
    """The events HDU row of every observation, aligned with ``obs_id`` (errors name the ids)."""
    events = hdu_index[hdu_index["HDU_TYPE"] == "events"]
    dup = events["OBS_ID"].duplicated(keep=False)
    if dup.any():
        raise ValueError(f"hdu-index lists several events HDUs for OBS_ID {sorted(set(events['OBS_ID'][dup]))[:10]}")
    aligned = pd.DataFrame({"OBS_ID": obs_id}).merge(events, on="OBS_ID", how="left", validate="one_to_one")
    lost = aligned["HDU_NAME"].isna()
    if lost.any():
        raise ValueError(f"hdu-index has no events HDU for OBS_ID {list(aligned['OBS_ID'][lost][:10])}")
    return aligned


def _file_fields(rows: pd.DataFrame) -> dict[str, pd.Series]:
    return {
        "obs_id": rows["OBS_ID"].astype("Int64").reset_index(drop=True),
        "file_dir": rows["FILE_DIR"].astype("string").reset_index(drop=True),
        "file_name": rows["FILE_NAME"].astype("string").reset_index(drop=True),
        "hdu_name": rows["HDU_NAME"].astype("string").reset_index(drop=True),
    }


def _ceil_kb(size_bytes: pd.Series) -> pd.Series:
    """Bytes -> kilobytes (ObsCore access_estsize), rounded up so a small file is never 0 kB."""
    b = pd.to_numeric(size_bytes, errors="coerce").astype("Float64")
    return np.ceil(b / 1024.0).astype("Int64")


def gadf_to_ivoa(
    obs_index: pd.DataFrame,
    hdu_index: pd.DataFrame | None,
    *,
    collection: str,
    access_url_template: str,
    facility: str | None = None,
    instrument: str | None = None,
    fov_deg: float | None = None,
    datalink_base_url: str | None = None,
    data_rights: str | None = None,
    auth: str | None = None,
) -> dict[str, pd.DataFrame]:
    """ObsCore, obscore_hea and DataLink rows of a GADF DL3 release, one dataset per OBS_ID.

    Parameters
    ----------
    obs_index, hdu_index
        Frames of :func:`scrapers.gadf.parse_obs_index` / ``parse_hdu_index`` (GADF column names,
        times in s, angles in deg, energies in TeV, reference time as columns). ``hdu_index`` may be
        ``None``: then no size and no DataLink.
    collection
        ``obs_collection`` (e.g. ``HESS-DL3-DR1``); also the path part of ``obs_publisher_did``.
    access_url_template
        URL of the file holding an HDU, see :func:`expand_template`.
    facility, instrument
        ``facility_name`` / ``instrument_name`` (GADF indexes do not name them).
    fov_deg
        Field-of-view diameter (instrument fact); ``None`` leaves ``s_fov``/``s_region`` NULL.
    datalink_base_url
        If given and the hdu-index lists responses, each dataset gets a static DataLink document
        at ``<base>/<obs_id>.xml`` and ``access_url`` points to it.
    data_rights
        ``public``/``secure``/``proprietary`` when the release states it.

    Returns
    -------
    dict
        ``obscore`` and ``obscore_hea`` frames (spec columns) and ``datalink``: link rows with a
        ``document`` column (relative file name), empty when no documents are made.
    """
    n = len(obs_index)
    if n == 0:
        raise ValueError("obs-index has no rows")
    obs = obs_index.reset_index(drop=True)
    obs_id_int = obs["OBS_ID"].astype("Int64")
    obs_id = obs_id_int.astype("string").astype(object)
    did = publisher_did(collection, pd.Series(obs_id), auth)

    events = _events_rows(obs_id_int, hdu_index) if hdu_index is not None else None
    if events is not None:
        fields = _file_fields(events)
    else:
        fields = {"obs_id": obs_id_int}
    file_url = expand_template(access_url_template, fields)

    t_min, t_max = gadf_times(obs)
    live = _column(obs, "LIVETIME")
    if "LIVETIME" not in obs.columns and {"ONTIME", "DEADC"} <= set(obs.columns):
        live = _column(obs, "ONTIME") * _column(obs, "DEADC")  # GADF: LIVETIME = DEADC x ONTIME

    e_lo = _column(obs, "SAFE_ENERGY_LO").to_numpy(dtype="float64") * TEV_EV
    e_hi = _column(obs, "SAFE_ENERGY_HI").to_numpy(dtype="float64") * TEV_EV
    unusable = ~(np.isfinite(e_lo) & np.isfinite(e_hi) & (e_lo > 0) & (e_hi > 0))
    e_lo[unusable] = np.nan
    e_hi[unusable] = np.nan
    inverted = np.flatnonzero(e_lo > e_hi)
    if inverted.size:
        raise ValueError(f"SAFE_ENERGY_LO > SAFE_ENERGY_HI for OBS_ID {list(obs_id[inverted][:10])}")
    em_min, em_max = energy_band_to_em(e_lo, e_hi)

    ra = obs["RA_PNT"].to_numpy(dtype="float64") % 360.0
    dec = obs["DEC_PNT"].to_numpy(dtype="float64")
    fov = np.full(n, np.nan if fov_deg is None else float(fov_deg))
    obs_mode = _text(obs, "OBS_MODE")

    size_kb = (
        _ceil_kb(events["SIZE"])
        if events is not None and "SIZE" in events.columns
        else pd.array([None] * n, dtype="Int64")
    )

    links = (
        _gadf_links(obs_id_int, did, hdu_index, access_url_template, collection)
        if (datalink_base_url is not None and hdu_index is not None)
        else empty_links()
    )
    has_links = pd.Series(obs_id).isin(links["x_obs_id"]).to_numpy() if len(links) else np.zeros(n, dtype=bool)
    doc_url = datalink_base_url.rstrip("/") + "/" + pd.Series(obs_id) + ".xml" if datalink_base_url else None
    access_url = pd.Series(np.where(has_links, doc_url, file_url) if doc_url is not None else file_url, dtype=object)
    access_format = np.where(has_links, DATALINK_FORMAT, GADF_FORMAT)

    obscore = pd.DataFrame(
        {
            "dataproduct_type": EVENT_TYPE,
            "dataproduct_subtype": EVENT_SUBTYPE,
            "calib_level": 2,
            "obs_collection": collection,
            "obs_id": obs_id,
            "obs_publisher_did": did,
            "access_url": access_url.where(pd.Series(access_url).notna(), None),
            "access_format": access_format,
            "access_estsize": pd.array(size_kb, dtype="Int64"),
            "target_name": _text(obs, "OBJECT"),
            "s_ra": ra,
            "s_dec": dec,
            "s_fov": fov,
            "s_region": circle_stcs(ra, dec, fov / 2.0),
            "s_resolution": np.nan,
            "s_xel1": -1,
            "s_xel2": -1,
            "t_min": t_min,
            "t_max": t_max,
            "t_exptime": live.to_numpy(dtype="float64"),
            "t_resolution": np.nan,
            "t_xel": -1,
            "em_min": em_min,
            "em_max": em_max,
            "em_res_power": np.nan,
            "em_xel": -1,
            "o_ucd": None,
            "pol_states": None,
            "pol_xel": pd.array([None] * n, dtype="Int64"),
            "facility_name": facility,
            "instrument_name": instrument,
            "data_rights": data_rights,
            "s_calib_status": "calibrated",
            "t_calib_status": "calibrated",
            "em_calib_status": "calibrated",
        }
    )
    hea = pd.DataFrame(
        {
            "obs_publisher_did": did,
            "ev_xel": _column(obs, "EVENT_COUNT", "Int64"),
            "energy_min": e_lo,
            "energy_max": e_hi,
            "t_intervals": time_moc_ascii(t_min, t_max),
            "obs_mode": obs_mode,
            "tracking_mode": _tracking(obs_mode),
            "messenger_name": "photon",
            "messenger_pdgid": "+22",
        }
    )
    return {"obscore": _spec_order(obscore, OBSCORE), "obscore_hea": _spec_order(hea, OBSCORE_HEA), "datalink": links}


def _tracking(obs_mode: pd.Series) -> pd.Series:
    mapped = obs_mode.astype("string").str.upper().map(GADF_TRACKING)
    return mapped.astype(object).where(mapped.notna(), None)


def empty_links() -> pd.DataFrame:
    """Zero link rows with the DataLink columns plus ``document`` and ``x_obs_id``."""
    frame = empty_frame(DATALINK)
    return frame.assign(document=pd.Series(dtype=object), x_obs_id=pd.Series(dtype=object))


def _gadf_links(
    obs_id: pd.Series, did: pd.Series, hdu_index: pd.DataFrame, template: str, collection: str
) -> pd.DataFrame:
    """DataLink rows for every HDU of the listed observations that have at least one response HDU."""
    key = pd.DataFrame({"OBS_ID": obs_id, "ID": did})
    rows = hdu_index.merge(key, on="OBS_ID", how="inner").reset_index(drop=True)
    irf = rows["HDU_TYPE"].isin(list(RESPONSE_TYPES))
    with_irf = set(rows.loc[irf, "OBS_ID"])
    rows = rows[rows["OBS_ID"].isin(with_irf)].reset_index(drop=True)
    if rows.empty:
        return empty_links()
    hdu_type = rows["HDU_TYPE"].astype("string")
    semantics = np.select(
        [hdu_type == "events", hdu_type.isin(list(RESPONSE_TYPES))], ["#this", "#calibration"], default="#auxiliary"
    )
    qualifier = hdu_type.map(RESPONSE_TYPES).astype(object)
    qualifier = qualifier.where(hdu_type != "events", EVENT_SUBTYPE).where(lambda q: q.notna(), None)
    hdu_name = rows["HDU_NAME"].astype("string")
    url = expand_template(template, _file_fields(rows), fragment=hdu_name).astype("string")
    sid = rows["OBS_ID"].astype("Int64").astype("string")
    description = (
        collection + " observation " + sid + ": " + hdu_type + " HDU '" + hdu_name + "' (GADF class "
        + rows["HDU_CLASS"].astype("string") + ")"
    )  # fmt: skip
    size = rows["SIZE"].astype("Int64") if "SIZE" in rows.columns else pd.array([None] * len(rows), dtype="Int64")
    links = pd.DataFrame(
        {
            "ID": rows["ID"],
            "access_url": url,
            "service_def": None,
            "error_message": None,
            "semantics": semantics,
            "description": description,
            "content_type": GADF_FORMAT,
            "content_length": size,
            "content_qualifier": qualifier,
            "document": sid + ".xml",
            "x_obs_id": sid,
            "_rank": np.select([semantics == "#this", semantics == "#calibration"], [0, 1], default=2),
        }
    )
    return links.sort_values(["document", "_rank"], kind="stable").drop(columns="_rank").reset_index(drop=True)


def _spec_order(frame: pd.DataFrame, spec: TableSpec) -> pd.DataFrame:
    """Spec columns first, in spec order; absent mandatory columns are added as NULL.

    Absent optional columns stay absent (NULL on :func:`models.arrow.conform`).
    """
    n = len(frame)
    for c in spec.columns:
        if c.presence == "mandatory" and c.name not in frame.columns:
            if c.datatype == "double":
                frame = frame.assign(**{c.name: np.full(n, np.nan)})
            elif c.datatype in ("int", "long"):
                frame = frame.assign(**{c.name: pd.array([None] * n, dtype="Int64")})
            else:
                frame = frame.assign(**{c.name: pd.Series([None] * n, dtype=object, index=frame.index)})
    cols = [c for c in spec.names if c in frame.columns] + [c for c in frame.columns if c not in spec.names]
    return frame[cols]


# --------------------------------------------------------------------------------------------
# X-ray performed observations
# --------------------------------------------------------------------------------------------

#: Per mission: id pattern, archive URL of the event-list product ({id}, {id1_3}, {id0}, {rev}),
#: access_format and calib_level. Assumptions, marked:
#:  * NuSTAR: HEASARC archive directory ``obs/<obsid[1:3]>/<obsid[0]>/<obsid>/`` (as given by HEASARC
#:    Xamin "FTP paths", e.g. ``/FTP/nustar/data/obs/00/6/60001110002/``); ``event_cl/`` holds the
#:    cleaned (level 2) event files of both modules FPMA/FPMB, hence a directory.
#:  * XMM-Newton: XSA AIO ``level=PPS&name=PIEVLI`` returns a tar of the pipeline (PPS) EPIC-pn
#:    calibrated event lists [assumed from common XSA AIO usage; MOS lists are name=MIEVLI].
#:  * INTEGRAL: obs_id a 12-digit science-window id (first 4 digits = revolution) -> HEASARC mirror
#:    of the ISDC science-window directory ``scw/<rev>/<scw>.001/`` (prepared data, level 1);
#:    other ids get a NULL access_url rather than a guessed one [assumed version .001].
XRAY_ARCHIVES: dict[str, dict[str, object]] = {
    "NuSTAR": {
        "pattern": r"^\d{11}$",
        "url": "https://heasarc.gsfc.nasa.gov/FTP/nustar/data/obs/{id1_3}/{id0}/{id}/event_cl/",
        "format": "application/x-directory",
        "calib_level": 2,
    },
    "XMM-Newton": {
        "pattern": r"^\d{10}$",
        "url": "https://nxsa.esac.esa.int/nxsa-sl/servlet/data-action-aio?obsno={id}&level=PPS&name=PIEVLI",
        "format": "application/x-tar",
        "calib_level": 2,
    },
    "INTEGRAL": {
        "pattern": r"^\d{12}$",
        "url": "https://heasarc.gsfc.nasa.gov/FTP/integral/data/scw/{rev}/{id}.001/",
        "format": "application/x-directory",
        "calib_level": 1,
    },
}

_OBSPLAN_COPY = (
    "target_name",
    "obs_id",
    "s_ra",
    "s_dec",
    "s_fov",
    "s_region",
    "s_resolution",
    "t_min",
    "t_max",
    "t_exptime",
    "em_min",
    "em_max",
    "em_res_power",
    "facility_name",
    "instrument_name",
)


def _archive_url(obs_id: pd.Series, archive: Mapping[str, object]) -> pd.Series:
    """Archive URL per row; ids not matching the mission's id pattern get NULL, never a guessed URL."""
    ids = obs_id.astype("string").str.strip()
    ok = ids.str.fullmatch(str(archive["pattern"])).fillna(False).to_numpy(dtype=bool)
    pieces = {"{id}": ids, "{id1_3}": ids.str.slice(1, 3), "{id0}": ids.str.slice(0, 1), "{rev}": ids.str.slice(0, 4)}
    return _replace_all(str(archive["url"]), pieces).astype(object).where(ok, None)


def _replace_all(url: str, pieces: Mapping[str, pd.Series]) -> pd.Series:
    """Substitute every ``{placeholder}`` of ``url`` with the row's value, vectorised."""
    fmt = list(string.Formatter().parse(url))
    first = next(iter(pieces.values()))
    out = pd.Series([""] * len(first), dtype="string", index=first.index)
    for literal, name, _, _ in fmt:
        out = out + literal
        if name is not None:
            out = out + pieces["{" + name + "}"]
    return out


def xray_performed_to_obscore(
    obsplan_performed: pd.DataFrame,
    *,
    auth: str | None = None,
    archives: Mapping[str, Mapping[str, object]] = XRAY_ARCHIVES,
) -> dict[str, pd.DataFrame]:
    """ObsCore ``event`` rows + obscore_hea rows for performed observations of the missions in ``archives``.

    Parameters
    ----------
    obsplan_performed
        ObsLocTAP frames (``models.tables.obsplan`` columns); only ``Performed`` rows of a facility in
        ``archives`` are used (others are skipped: they have no event list yet). Band, field of view,
        footprint and times come from the obsplan row, so both tables describe the same observation;
        ``energy_min``/``energy_max`` (eV) are ``hc/em_max``/``hc/em_min``.
    auth
        Authority of ``obs_publisher_did``.
    archives
        ``facility_name`` -> archive description (keys ``pattern``, ``url`` with ``{id}``, ``{id1_3}``,
        ``{id0}``, ``{rev}``, ``format``, ``calib_level``). The archive layouts belong to the sources
        that know them; the default :data:`XRAY_ARCHIVES` is kept until they provide theirs.

    Returns
    -------
    dict
        ``obscore`` and ``obscore_hea`` frames.
    """
    needed = {"obs_id", "facility_name", "execution_status", "t_min", "t_max", "em_min", "em_max"}
    missing = sorted(needed - set(obsplan_performed.columns))
    if missing:
        raise KeyError(f"obsplan frame lacks {missing}; columns found: {list(obsplan_performed.columns)}")
    rows = obsplan_performed[
        (obsplan_performed["execution_status"] == "Performed") & obsplan_performed["facility_name"].isin(list(archives))
    ].reset_index(drop=True)
    n = len(rows)
    collection = (
        rows["obs_collection"].where(rows["obs_collection"].notna(), rows["facility_name"])
        if "obs_collection" in rows.columns
        else rows["facility_name"]
    ).astype(object)
    url = np.full(n, None, dtype=object)
    fmt = np.full(n, None, dtype=object)
    calib = np.zeros(n, dtype=np.int64)
    for facility, archive in archives.items():  # one per mission, not per row
        sel = (rows["facility_name"] == facility).to_numpy()
        if sel.any():
            url[sel] = _archive_url(rows.loc[sel, "obs_id"], archive).to_numpy(dtype=object)
            fmt[sel] = archive["format"]
            calib[sel] = int(archive["calib_level"])  # type: ignore[call-overload]
    fmt[pd.isna(url)] = None
    url[pd.isna(url)] = None
    did = publisher_did(collection, rows["obs_id"].astype(str), auth)
    obscore = pd.DataFrame({c: rows[c] for c in _OBSPLAN_COPY if c in rows.columns})
    em_min = rows["em_min"].to_numpy(dtype="float64")
    em_max = rows["em_max"].to_numpy(dtype="float64")
    obscore = obscore.assign(
        dataproduct_type=EVENT_TYPE,
        dataproduct_subtype=EVENT_SUBTYPE,
        calib_level=calib,
        obs_collection=collection.to_numpy(),
        obs_publisher_did=did.to_numpy(),
        access_url=url,
        access_format=fmt,
        access_estsize=pd.array([None] * n, dtype="Int64"),
        s_xel1=-1,
        s_xel2=-1,
        t_xel=-1,
        em_xel=-1,
        o_ucd=None,
        pol_states=None,
        pol_xel=pd.array([None] * n, dtype="Int64"),
        t_resolution=np.nan,
    )
    tracking = rows["tracking_type"].map(OBSPLAN_TRACKING) if "tracking_type" in rows.columns else None
    with np.errstate(divide="ignore"):
        hea = pd.DataFrame(
            {
                "obs_publisher_did": did.to_numpy(),
                "energy_min": np.where(em_max > 0, HC_EV_M / em_max, np.nan),
                "energy_max": np.where(em_min > 0, HC_EV_M / em_min, np.nan),
                "t_intervals": time_moc_ascii(
                    rows["t_min"].to_numpy(dtype="float64"), rows["t_max"].to_numpy(dtype="float64")
                ),
                "tracking_mode": tracking.astype(object).where(tracking.notna(), None)
                if tracking is not None
                else None,
                "messenger_name": "photon",
                "messenger_pdgid": "+22",
            }
        )
    return {"obscore": _spec_order(obscore, OBSCORE), "obscore_hea": _spec_order(hea, OBSCORE_HEA)}
