"""XMM-Newton: the SOC short-term schedule (Scheduled rows) and HEASARC ``xmmmaster`` (as flown).

The short-term schedule page lists one row per observation of the current revolutions, with the
prime instrument and one duration per camera (``sources.md``). ``xmmmaster`` confirms what was
flown. ``normalise`` gives one ``obsplan`` row per observation id: Scheduled from the page,
Performed once ``xmmmaster`` reports it observed (plan and as-flown merged on the id).

Documented interpretations
--------------------------
* ``Obs Id.`` is a 10-digit string; leading zeros are kept (a number-inferring reader drops them).
* Durations are ks. ``( 15.1)`` = the camera exposes with its filter closed (calibration): still an
  exposure, counted in the prime instrument's duration and flagged (``x_xmm_newton_filter_closed``).
  ``0.0`` = camera not used. Any other cell is a :class:`~scrapers.base.ParseError`.
* ``t_plan_exptime`` = the longest duration among the prime instrument's cameras (EPIC: pn, MOS1,
  MOS2; RGS: RGS1, RGS2; OM: OM), filter-closed or not. A prime instrument with no exposure at all
  is an error, never a silently dropped row.
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
from dataclasses import dataclass

import numpy as np
import pandas as pd

from models.regions import circle_stcs, polygon_stcs
from models.timeutil import TimeParseError, mjd_from_datetime, mjd_from_iso
from models.units import kev_band_to_em
from scrapers import html_tables
from scrapers.base import ParseError, Request, Source
from scrapers.heasarc import HEASARC_TAP, tap_request
from scrapers.votable_io import read_votable

NAME = "xmm_newton"
FACILITY = "XMM-Newton"
SCHEDULE_URL = "https://xmm-tools.cosmos.esa.int/external/xmm_sched/short_term_schedule.php"
OBS_ID_PATTERN = r"\d{10}"

#: Days of xmmmaster history (before the as-of date) and of future (after it) asked for.
MASTER_DAYS_BEFORE = 7
MASTER_DAYS_AFTER = 7

#: EPIC field of view (diameter, degrees) and the footprint polygon's vertex count.
EPIC_FOV_DEG = 0.5
FOOTPRINT_VERTICES = 8


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

#: Canonical field -> accepted header texts (compared by :func:`html_tables.normalise_header`).
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
    "pn": ("pn dur ks",),
    "mos1": ("mos1 dur ks",),
    "mos2": ("mos2 dur ks",),
    "rgs1": ("rgs1 dur ks",),
    "rgs2": ("rgs2 dur ks",),
    "om": ("om dur ks",),
    "pi": ("pi",),
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
    """The short-term schedule page and xmmmaster rows around the as-of date."""
    day = mjd_from_datetime(dt.datetime(as_of.year, as_of.month, as_of.day, tzinfo=dt.UTC))
    adql = (
        f"SELECT {', '.join(MASTER_COLUMNS)} FROM xmmmaster "
        f"WHERE end_time > {day - MASTER_DAYS_BEFORE:.1f} AND time < {day + MASTER_DAYS_AFTER:.1f}"
    )
    return [
        Request(source=NAME, name="short_term_schedule", url=SCHEDULE_URL),
        tap_request(NAME, "xmmmaster", adql),
    ]


# ------------------------------------------------------------------------------------- conversions
def _first_bad(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def sexagesimal_to_deg(values: pd.Series, *, hours: bool, url: str, column: str, header: list[str]) -> np.ndarray:
    """Degrees from ``[+-]hh:mm:ss[.s]`` (hours) or ``[+-]dd:mm:ss[.s]`` strings, vectorised."""
    text = values.astype("string").str.strip()
    parts = text.str.extract(r"^([+-]?)(\d{1,3})[: ](\d{1,2})[: ](\d{1,2}(?:\.\d*)?)$")
    bad = parts[1].isna().to_numpy()
    if bad.any():
        i = _first_bad(bad)
        raise ParseError(NAME, url, f"not sexagesimal: {values.iloc[i]!r}", row=i, column=column, found=header)
    d, m, s = (parts[k].astype("float64").to_numpy() for k in (1, 2, 3))
    sign = np.where(parts[0].to_numpy(dtype=object) == "-", -1.0, 1.0)
    value = sign * (d + m / 60.0 + s / 3600.0)
    if hours:
        value = value * 15.0
    limit_bad = (m >= 60) | (s >= 60) | ((value < 0) | (value >= 360) if hours else (np.abs(value) > 90))
    if limit_bad.any():
        i = _first_bad(limit_bad)
        raise ParseError(NAME, url, f"out of range: {values.iloc[i]!r}", row=i, column=column, found=header)
    return value


def _durations(values: pd.Series, *, url: str, column: str, header: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(ks, filter_closed) from cells ``12.3`` / ``( 15.1)`` / ``0.0``."""
    parts = values.astype("string").str.extract(r"^\s*(\()?\s*(\d+(?:\.\d*)?)\s*(\))?\s*$")
    unbalanced = parts[0].notna() != parts[2].notna()
    bad = (parts[1].isna() | unbalanced).to_numpy()
    if bad.any():
        i = _first_bad(bad)
        raise ParseError(NAME, url, f"not a duration in ks: {values.iloc[i]!r}", row=i, column=column, found=header)
    return parts[1].astype("float64").to_numpy(), parts[0].notna().to_numpy()


def _prime(values: pd.Series, *, url: str, header: list[str]) -> np.ndarray:
    text = values.astype("string").str.strip().str.upper()
    family = pd.Series(pd.NA, index=values.index, dtype="string")
    family = family.mask(text.str.match(r"^(EPIC|PN|MOS)"), "EPIC")
    family = family.mask(text.str.match(r"^RGS"), "RGS")
    family = family.mask(text.str.match(r"^OM"), "OM")
    bad = family.isna().to_numpy()
    if bad.any():
        i = _first_bad(bad)
        raise ParseError(NAME, url, f"unknown prime instrument {values.iloc[i]!r}", row=i, column="Prime Instr.")
    return family.to_numpy(dtype=object)


def parse_schedule(content: bytes, url: str) -> pd.DataFrame:
    """Source frame of the short-term schedule: one row per observation, page vocabulary kept.

    Columns: ``revolution`` (int), ``obs_id`` (10-char string), ``target_name``, ``ra``/``dec``
    (deg), ``pa`` (deg), ``t_min``/``t_max`` (MJD UTC), ``prime`` (EPIC/RGS/OM), ``prime_text``,
    ``<camera>_ks`` and ``<camera>_closed`` per camera, ``pi``.
    """
    raw = html_tables.read_table(content, SCHEDULE_HEADERS, required=SCHEDULE_HEADERS, source=NAME, url=url)
    header = raw.attrs["headers"]
    raw = raw.reset_index(drop=True)  # rows in errors are 0-based positions, as for every later check
    obs_id = raw["obs_id"].astype("string").str.strip()
    bad = ~obs_id.str.fullmatch(OBS_ID_PATTERN).fillna(False).to_numpy(dtype=bool)
    if bad.any():
        i = _first_bad(bad)
        raise ParseError(NAME, url, f"Obs Id. {raw['obs_id'].iloc[i]!r} is not 10 digits", row=i, column="Obs Id.")
    out = pd.DataFrame({"obs_id": obs_id.astype(object)})
    rev = pd.to_numeric(raw["revolution"], errors="coerce")
    if rev.isna().any():
        i = _first_bad(rev.isna().to_numpy())
        raise ParseError(NAME, url, f"bad revolution {raw['revolution'].iloc[i]!r}", row=i, column="Revn #")
    out["revolution"] = rev.astype("int64")
    out["target_name"] = raw["target_name"].astype("string").str.strip().replace("", pd.NA).astype(object)
    out["ra"] = sexagesimal_to_deg(raw["ra"], hours=True, url=url, column="RA hh:mm:ss", header=header)
    out["dec"] = sexagesimal_to_deg(raw["dec"], hours=False, url=url, column="DEC dd:mm:ss", header=header)
    pa = pd.to_numeric(raw["pa"], errors="coerce")
    if pa.isna().any():
        i = _first_bad(pa.isna().to_numpy())
        raise ParseError(NAME, url, f"bad position angle {raw['pa'].iloc[i]!r}", row=i, column="PA ddd.dd")
    out["pa"] = pa.to_numpy(dtype="float64")
    for key, col in (("start", "t_min"), ("end", "t_max")):
        try:
            out[col] = mjd_from_iso(raw[key])
        except TimeParseError as exc:
            raise ParseError(NAME, url, str(exc), row=exc.rows[0], column=f"UTC Obs {key.title()}") from exc
    reversed_ = (out["t_max"] <= out["t_min"]).to_numpy()
    if reversed_.any():
        raise ParseError(NAME, url, "observation ends before it starts", row=_first_bad(reversed_))
    out["prime_text"] = raw["prime"].astype(object)
    out["prime"] = _prime(raw["prime"], url=url, header=header)
    for cam in CAMERAS:
        ks, closed = _durations(raw[cam], url=url, column=f"{cam.upper()} Dur Ks", header=header)
        out[f"{cam}_ks"] = ks
        out[f"{cam}_closed"] = closed
    out["pi"] = raw["pi"].astype("string").str.strip().astype(object)
    prime_ks = _prime_seconds(out, "ks") / 1000.0
    none = ~(prime_ks > 0)
    if none.any():
        i = _first_bad(none)
        raise ParseError(NAME, url, f"prime instrument {out['prime'].iloc[i]} has no exposure", row=i)
    dup = out["obs_id"].duplicated(keep=False).to_numpy()
    if dup.any():
        i = _first_bad(dup)
        raise ParseError(NAME, url, f"Obs Id. {out['obs_id'].iloc[i]} listed twice", row=i, column="Obs Id.")
    return out


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
    """Xmmmaster rows: ``obsid`` a 10-char string, times MJD, camera times in s, ``status`` lower case."""
    frame = read_votable(content, source=NAME, url=url, string_columns=("obsid",))
    required = ("obsid", "time", "end_time", "duration", "status")
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise ParseError(
            NAME, url, f"xmmmaster columns missing: {missing}", column=missing[0], found=list(frame.columns)
        )
    if frame.empty:
        return frame.assign(obsid=frame["obsid"].astype(object))
    obsid = frame["obsid"].astype("string").str.strip()
    # obsid is 10 digits by definition; a service typing it as a number drops the leading zeros.
    obsid = obsid.where(~obsid.str.fullmatch(r"\d{1,9}").fillna(False), obsid.str.zfill(10))
    bad = ~obsid.str.fullmatch(OBS_ID_PATTERN).fillna(False).to_numpy(dtype=bool)
    if bad.any():
        i = _first_bad(bad)
        raise ParseError(NAME, url, f"obsid {frame['obsid'].iloc[i]!r} is not 10 digits", row=i, column="obsid")
    frame["obsid"] = obsid.astype(object)
    status = frame["status"].astype("string").str.strip().str.lower()
    unknown = ~status.isin(KNOWN_STATUSES).to_numpy(dtype=bool)
    if unknown.any():
        i = _first_bad(unknown)
        raise ParseError(NAME, url, f"unknown xmmmaster status {frame['status'].iloc[i]!r}", row=i, column="status")
    frame["status"] = status.astype(object)
    for col in ("time", "end_time", "duration", "ra", "dec", *(f"{c}_time" for c in CAMERAS)):
        if col in frame.columns:
            frame[col] = pd.to_numeric(frame[col], errors="coerce").astype("float64")
    return frame


def parse(name: str, content: bytes, url: str, content_type: str | None = None) -> pd.DataFrame:
    """Source frame of one response, dispatched on the request name."""
    if name == "short_term_schedule":
        return parse_schedule(content, url)
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
    id_pattern=r"^\d{10}$",
    description="XMM-Newton short-term schedule (Scheduled) reconciled with HEASARC xmmmaster (Performed)",
)

__all__ = [
    "FACILITY",
    "INSTRUMENTS",
    "SCHEDULE_HEADERS",
    "SOURCE",
    "epic_footprint",
    "normalise",
    "parse",
    "parse_master",
    "parse_schedule",
    "requests",
    "sexagesimal_to_deg",
]
