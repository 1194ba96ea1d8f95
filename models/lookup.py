"""Who observes my target when: every obsplan/obscore row whose footprint meets a circle on the sky.

The ToO coordinator's question of the ObsLocTAP use cases (ObsLocTAP 1.0 section 4.4), answered from a
downloaded snapshot without a TAP server: given a position (decimal degrees or sexagesimal, read by
:mod:`models.coords`) or a target name resolved offline from the snapshot's own ``target_name``
values, a radius (default 1 arcmin) and optionally a time range, list every row of ``obsplan`` and
``obscore`` whose ``s_region`` footprint contains or intersects the circle.

Geometry (vectorised over rows, numpy only). For every row the angular distance from the query
position to the footprint is computed, 0 when the position is inside it:

* circles: ``max(separation - radius, 0)``;
* polygons (STC-S, great-circle edges, smaller than a hemisphere): 0 when the point is inside (the
  winding number of the polygon around the point, measured in the tangent plane at the point, is
  +-1 and the polygon lies on the point's side of the sphere), else the distance to the nearest
  edge (to the arc's great circle when the foot of the perpendicular falls inside the arc, else to
  the nearer end).

A row matches when that distance is at most the query radius: this is exactly "the query circle
intersects the footprint" (``INTERSECTS(s_region, CIRCLE(...))``). Polygons are processed in groups
of equal vertex count (:meth:`models.regions.ParsedRegions.polygon_groups`), so loops run over the few
distinct vertex counts and polygon edges, never over rows. Rows without a region never match.

Prefilter: polygons whose bounding cap (centred on the mean vertex, radius to the farthest vertex)
is farther than the query radius are dropped before the edge geometry, which then runs on the few
polygons near the position. The snapshot's MOCs are not needed: the exact test is cheaper than
reading a MOC per facility, and a MOC (a cover at some order) could only remove rows that the exact
test removes anyway.

Times: with ``start``/``end`` a row matches when its ``[t_min, t_max]`` overlaps the range (closed
intervals, UTC MJD); rows without both times are left out then, because nothing says when they are.
ObsCore rows are archived observations: their status is reported as ``Performed``.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow.parquet as pq

from models.arrow import to_frame
from models.coords import parse_dec, parse_ra
from models.regions import ParsedRegions, parse_stcs
from models.timeutil import mjd_from_iso

#: Tables searched by default, in output order.
LOOKUP_TABLES: tuple[str, ...] = ("obsplan", "obscore")
#: Default search radius (deg): 1 arcmin.
DEFAULT_RADIUS_DEG = 1.0 / 60.0
#: Columns of a lookup answer, in order.
RESULT_COLUMNS: tuple[str, ...] = (
    "table",
    "facility_name",
    "instrument_name",
    "obs_id",
    "target_name",
    "execution_status",
    "t_min",
    "t_max",
    "t_exptime",
    "t_plan_exptime",
    "t_planning",
    "s_ra",
    "s_dec",
    "s_region",
    "distance",
)
#: Units of the numeric result columns (for VOTable output and the text header).
RESULT_UNITS: dict[str, str] = {
    "t_min": "d",
    "t_max": "d",
    "t_exptime": "s",
    "t_plan_exptime": "s",
    "t_planning": "d",
    "s_ra": "deg",
    "s_dec": "deg",
    "distance": "arcmin",
}
#: Descriptions of the result columns that are not the tables' own.
RESULT_DESCRIPTIONS: dict[str, str] = {
    "table": "Snapshot table of the row (obsplan or obscore)",
    "execution_status": "ObsLocTAP execution status (obscore rows are archived, i.e. Performed)",
    "distance": "Angular distance from the query position to the footprint (0 inside it)",
}
#: Positions of one target name further apart than this (deg) are reported as a spread.
_SAME_POSITION_DEG = 1.0 / 3600.0


class LookupFailed(ValueError):
    """A lookup that cannot be answered (unknown target, bad position, bad time range)."""


# --------------------------------------------------------------------------------------------
# Spherical geometry (unit vectors)
# --------------------------------------------------------------------------------------------


def unit_vectors(ra_deg: npt.ArrayLike, dec_deg: npt.ArrayLike) -> np.ndarray:
    """Cartesian unit vectors ``(..., 3)`` of ICRS positions in degrees."""
    ra = np.radians(np.asarray(ra_deg, dtype="float64"))
    dec = np.radians(np.asarray(dec_deg, dtype="float64"))
    cos_dec = np.cos(dec)
    return np.stack([cos_dec * np.cos(ra), cos_dec * np.sin(ra), np.sin(dec)], axis=-1)


def _angle(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angle (rad) between unit vectors, accurate at all separations (atan2 of cross and dot)."""
    return np.arctan2(np.linalg.norm(np.cross(a, b), axis=-1), np.sum(a * b, axis=-1))


def polygon_distance(point: np.ndarray, ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
    """Angular distance (deg) from one point to ``m`` polygons of ``k`` vertices each; 0 inside.

    Parameters
    ----------
    point
        Unit vector ``(3,)`` of the query position.
    ra, dec
        ``(m, k)`` vertex arrays (deg) as given by
        :meth:`models.regions.ParsedRegions.polygon_groups`; edges are great-circle arcs between
        consecutive vertices, the last joined to the first.

    Returns
    -------
    numpy.ndarray
        ``(m,)`` distances in degrees: 0 when the point is inside the polygon (either orientation;
        the polygon is taken as the region smaller than a hemisphere), else the distance to the
        nearest edge.
    """
    a = unit_vectors(ra, dec)  # (m, k, 3)
    b = np.roll(a, -1, axis=1)
    # Winding number around the point: the signed angle subtended by each edge in the tangent
    # plane at the point, summed over the edges (+-2 pi inside, 0 outside).
    ta = a - np.sum(a * point, axis=-1, keepdims=True) * point
    tb = b - np.sum(b * point, axis=-1, keepdims=True) * point
    turn = np.arctan2(np.sum(np.cross(ta, tb) * point, axis=-1), np.sum(ta * tb, axis=-1))
    winding = np.sum(turn, axis=1)
    same_side = np.sum(a.sum(axis=1) * point, axis=-1) > 0  # not the antipodal copy of the region
    inside = (np.abs(winding) > np.pi) & same_side

    # Distance to each edge arc.
    normal = np.cross(a, b)
    norm = np.linalg.norm(normal, axis=-1, keepdims=True)
    degenerate = norm[..., 0] < 1e-15  # repeated vertex: the edge is a point
    n_hat = normal / np.where(norm == 0, 1.0, norm)
    s = np.sum(n_hat * point, axis=-1)
    foot = point - s[..., None] * n_hat  # projection of the point on the edge's great circle
    within = (np.sum(np.cross(a, foot) * normal, axis=-1) >= 0) & (np.sum(np.cross(foot, b) * normal, axis=-1) >= 0)
    within &= ~degenerate & (np.linalg.norm(foot, axis=-1) > 1e-15)
    to_circle = np.arcsin(np.clip(np.abs(s), 0.0, 1.0))
    p = np.broadcast_to(point, a.shape)
    to_ends = np.minimum(_angle(p, a), _angle(p, b))
    edge = np.where(within, np.minimum(to_circle, to_ends), to_ends)
    distance = np.degrees(edge.min(axis=1))
    return np.where(inside, 0.0, distance)


def _cap_lower_bound(point: np.ndarray, ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
    """A lower bound (deg) of the point's distance to ``(m, k)`` polygons: to their bounding caps.

    The cap is centred on the normalised sum of the vertices with the largest vertex distance as
    radius; it contains the polygon's edges (great-circle arcs between vertices inside a cap smaller
    than a hemisphere stay inside it), so ``separation - cap radius`` never exceeds the true distance.
    """
    v = unit_vectors(ra, dec)
    centre = v.sum(axis=1)
    centre /= np.linalg.norm(centre, axis=-1, keepdims=True)
    cap = np.arccos(np.clip(np.einsum("mkj,mj->mk", v, centre), -1.0, 1.0)).max(axis=1)
    sep = np.arccos(np.clip(centre @ point, -1.0, 1.0))
    return np.degrees(np.where(cap < np.pi / 2, sep - cap, -np.inf))


def footprint_distance(regions: ParsedRegions, ra: float, dec: float, *, beyond: float | None = None) -> np.ndarray:
    """Angular distance (deg) from a position to every footprint of a parsed ``s_region`` column.

    Parameters
    ----------
    regions
        The parsed column (:func:`models.regions.parse_stcs`).
    ra, dec
        Query position (deg, ICRS).
    beyond
        When given, polygons whose bounding cap is already farther than this get that lower
        bound instead of their exact distance (a lookup only needs to know they are too far):
        the exact edge geometry then runs only on polygons near the position.

    Returns
    -------
    numpy.ndarray
        One distance per row: 0 inside the footprint, NaN for rows without a region.
    """
    out = np.full(len(regions), np.nan)
    point = unit_vectors(ra, dec)
    circles = np.flatnonzero(regions.is_circle)
    if len(circles):
        centre = unit_vectors(regions.ra[circles], regions.dec[circles])
        sep = np.degrees(_angle(centre, np.broadcast_to(point, centre.shape)))
        out[circles] = np.maximum(sep - regions.radius[circles], 0.0)
    for rows, v_ra, v_dec in regions.polygon_groups():
        if beyond is None:
            out[rows] = polygon_distance(point, v_ra, v_dec)
            continue
        bound = _cap_lower_bound(point, v_ra, v_dec)
        near = bound <= beyond
        out[rows] = bound
        out[rows[near]] = polygon_distance(point, v_ra[near], v_dec[near])
    return out


# --------------------------------------------------------------------------------------------
# Query parameters
# --------------------------------------------------------------------------------------------


def parse_position(ra: str | float, dec: str | float) -> tuple[float, float]:
    """One position in degrees from decimal degrees or sexagesimal text (RA in hours).

    Parameters
    ----------
    ra, dec
        ``274.849``, ``"18:19:23.77"``, ``"18h19m23.77s"``; ``-17.104``, ``"-17:06:15.8"``.

    Returns
    -------
    tuple of float
        ``(ra, dec)`` in degrees, RA in [0, 360).

    Raises
    ------
    models.coords.CoordParseError
        Unreadable or out-of-range values.
    """
    ra_deg = float(parse_ra([ra])[0])
    dec_deg = float(parse_dec([dec])[0])
    if np.isnan(ra_deg) or np.isnan(dec_deg):
        raise LookupFailed(f"position ({ra!r}, {dec!r}) is empty")
    return ra_deg, dec_deg


def parse_time(value: str | float | None) -> float | None:
    """UTC MJD of a time bound given as an MJD number or ISO 8601 text (``2025-09-10[T12:00]``)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, int | float):
        return float(value)
    text = value.strip()
    try:
        return float(text)
    except ValueError:
        return float(mjd_from_iso([text])[0])


def _name_key(values: pd.Series) -> pd.Series:
    """Case-, space- and punctuation-insensitive form of target names (``Sgr A*`` ~ ``SGR A``)."""
    return values.astype("string").str.casefold().str.replace(r"[^0-9a-z+\-]", "", regex=True)


@dataclass(frozen=True)
class ResolvedTarget:
    """A target name resolved offline from a snapshot's rows."""

    name: str
    ra: float
    dec: float
    rows: int
    spread_deg: float

    def describe(self) -> str:
        """One line saying where the position came from."""
        spread = f", positions spread over {self.spread_deg * 60:.2f} arcmin" if self.spread_deg > 0 else ""
        return f"{self.name!r} -> RA {self.ra:.6f} Dec {self.dec:+.6f} deg (from {self.rows} row(s){spread})"


def resolve_target(name: str, frames: Mapping[str, pd.DataFrame]) -> ResolvedTarget:
    """Position of a target from the snapshot's own ``target_name`` / ``s_ra`` / ``s_dec`` values.

    Names are compared ignoring case, spaces and punctuation other than ``+``/``-``. When the rows
    of a name give several positions, the one given by most rows is used (ties: the smaller RA,
    then Dec), and the largest distance of the others from it is reported as ``spread_deg``.

    Parameters
    ----------
    name
        Target name as written in the snapshot (``3XMM J181923.7-17061``, ``Crab``).
    frames
        Tables of the snapshot (any with ``target_name``, ``s_ra``, ``s_dec``).

    Returns
    -------
    ResolvedTarget

    Raises
    ------
    LookupFailed
        No row with a position carries that name (the message lists close names).
    """
    key = _name_key(pd.Series([name])).iloc[0]
    parts = []
    for frame in frames.values():
        if {"target_name", "s_ra", "s_dec"} <= set(frame.columns):
            parts.append(frame[["target_name", "s_ra", "s_dec"]])
    every = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["target_name", "s_ra", "s_dec"])
    keys = _name_key(every["target_name"])
    ra = pd.to_numeric(every["s_ra"], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    dec = pd.to_numeric(every["s_dec"], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    hit = (keys == key).fillna(False).to_numpy(dtype=bool) & ~np.isnan(ra) & ~np.isnan(dec)
    if not hit.any() or not key:
        known = sorted(set(every["target_name"].dropna().astype(str)))
        close = [k for k in known if key and (key[:4] in _name_key(pd.Series([k])).iloc[0])][:10]
        hint = f"; similar names: {', '.join(close)}" if close else f"; {len(known)} names known"
        raise LookupFailed(f"target {name!r} is not the target_name of any row with a position{hint}")
    positions = pd.DataFrame({"ra": np.round(ra[hit], 6), "dec": np.round(dec[hit], 6)})
    counts = positions.value_counts().reset_index().sort_values(["count", "ra", "dec"], ascending=[False, True, True])
    best = counts.iloc[0]
    centre = unit_vectors(best["ra"], best["dec"])
    spread = float(np.degrees(_angle(unit_vectors(ra[hit], dec[hit]), np.broadcast_to(centre, (hit.sum(), 3)))).max())
    return ResolvedTarget(
        name=name,
        ra=float(best["ra"]),
        dec=float(best["dec"]),
        rows=int(hit.sum()),
        spread_deg=spread if spread > _SAME_POSITION_DEG else 0.0,
    )


# --------------------------------------------------------------------------------------------
# Lookup
# --------------------------------------------------------------------------------------------


def read_snapshot_tables(snapshot: Path, tables: Sequence[str] = LOOKUP_TABLES) -> dict[str, pd.DataFrame]:
    """The given tables of a snapshot directory as frames (plain Parquet, nothing else needed)."""
    snapshot = Path(snapshot)
    out = {}
    for name in tables:
        path = snapshot / f"{name}.parquet"
        if not path.is_file():
            raise LookupFailed(f"{snapshot} has no {name}.parquet (is it a voharvest snapshot?)")
        out[name] = to_frame(pq.read_table(path))
    return out


def _table_matches(
    name: str, frame: pd.DataFrame, ra: float, dec: float, radius: float, start: float | None, end: float | None
) -> pd.DataFrame:
    distance = footprint_distance(parse_stcs(frame["s_region"]), ra, dec, beyond=radius)
    keep = distance <= radius  # NaN (no region) never matches
    if start is not None or end is not None:
        t_min = pd.to_numeric(frame["t_min"]).to_numpy(dtype="float64", na_value=np.nan)
        t_max = pd.to_numeric(frame["t_max"]).to_numpy(dtype="float64", na_value=np.nan)
        timed = ~np.isnan(t_min) & ~np.isnan(t_max)
        lo = -np.inf if start is None else start
        hi = np.inf if end is None else end
        with np.errstate(invalid="ignore"):
            keep &= timed & (t_max >= lo) & (t_min <= hi)
    rows = frame.loc[keep]
    out = pd.DataFrame(index=range(len(rows)))
    out["table"] = name
    for column in RESULT_COLUMNS:
        if column in ("table", "distance"):
            continue
        if column in rows.columns:
            out[column] = rows[column].to_numpy()
        elif column == "execution_status":
            out[column] = "Performed"  # an ObsCore row is an archived, i.e. performed, observation
        else:
            out[column] = np.nan if column in RESULT_UNITS else None
    out["distance"] = distance[keep] * 60.0
    return out


def lookup(
    snapshot: Path | Mapping[str, pd.DataFrame],
    *,
    ra: str | float | None = None,
    dec: str | float | None = None,
    target: str | None = None,
    radius_deg: float = DEFAULT_RADIUS_DEG,
    start: str | float | None = None,
    end: str | float | None = None,
    tables: Sequence[str] = LOOKUP_TABLES,
) -> pd.DataFrame:
    """Every observation of a snapshot whose footprint contains or intersects a circle on the sky.

    Parameters
    ----------
    snapshot
        A snapshot directory (``output/latest``) or frames by table name.
    ra, dec
        Query position: decimal degrees or sexagesimal (RA in hours). Give these or ``target``.
    target
        A target name resolved from the snapshot's own ``target_name`` values (no network).
    radius_deg
        Radius of the query circle in degrees (default 1 arcmin).
    start, end
        Optional time range (UTC MJD or ISO text); rows whose ``[t_min, t_max]`` overlap it match.
    tables
        Which tables to search (default ``obsplan`` and ``obscore``).

    Returns
    -------
    pandas.DataFrame
        :data:`RESULT_COLUMNS`, one row per matching table row, sorted by table order, ``t_min``,
        facility and ``obs_id``; ``distance`` in arcmin. ``attrs`` holds the query (``ra``,
        ``dec``, ``radius_deg``, ``start``, ``end``, and ``resolved`` for a target name).

    Raises
    ------
    LookupFailed
        No or two positions given, an unknown target, a radius outside [0, 180) deg, or an
        empty time range.
    models.coords.CoordParseError
        An unreadable position.
    """
    frames = read_snapshot_tables(Path(snapshot), tables) if isinstance(snapshot, str | Path) else dict(snapshot)
    unknown = [t for t in tables if t not in frames]
    if unknown:
        raise LookupFailed(f"no table(s) {unknown} to search")
    resolved = None
    if target is not None:
        if ra is not None or dec is not None:
            raise LookupFailed("give either a position (ra, dec) or a target name, not both")
        resolved = resolve_target(target, {t: frames[t] for t in tables})
        ra_deg, dec_deg = resolved.ra, resolved.dec
    elif ra is None or dec is None:
        raise LookupFailed("give a position (ra and dec) or a target name")
    else:
        ra_deg, dec_deg = parse_position(ra, dec)
    radius = float(radius_deg)
    if not 0.0 <= radius < 180.0:
        raise LookupFailed(f"radius {radius} deg outside [0, 180)")
    lo, hi = parse_time(start), parse_time(end)
    if lo is not None and hi is not None and hi < lo:
        raise LookupFailed(f"time range ends ({hi}) before it starts ({lo})")
    parts = [_table_matches(t, frames[t], ra_deg, dec_deg, radius, lo, hi) for t in tables]
    result = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=list(RESULT_COLUMNS))
    order = {t: i for i, t in enumerate(tables)}
    result["_order"] = result["table"].map(order)
    result = result.sort_values(["_order", "t_min", "facility_name", "obs_id"], kind="stable", na_position="last")
    result = result.drop(columns="_order").reset_index(drop=True)[list(RESULT_COLUMNS)]
    result.attrs = {
        "ra": ra_deg,
        "dec": dec_deg,
        "radius_deg": radius,
        "start": lo,
        "end": hi,
        "resolved": None if resolved is None else resolved.describe(),
    }
    return result


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------


def _iso(mjd: pd.Series) -> pd.Series:
    """``YYYY-MM-DD hh:mm`` UTC of MJD values (blank for NULL), vectorised."""
    values = pd.to_numeric(mjd, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    stamps = pd.to_datetime(np.round(values * 86_400.0), unit="s", origin=pd.Timestamp("1858-11-17"), errors="coerce")
    return pd.Series(stamps.strftime("%Y-%m-%d %H:%M")).fillna("")


def format_text(result: pd.DataFrame) -> str:
    """A readable fixed-width table: times as UTC dates, exposures in ks, distance in arcmin."""
    attrs = result.attrs
    head = []
    if attrs.get("resolved"):
        head.append(f"target {attrs['resolved']}")
    if "ra" in attrs:
        head.append(
            f"position RA {attrs['ra']:.6f} Dec {attrs['dec']:+.6f} deg, radius {attrs['radius_deg'] * 60:.3f} arcmin"
        )
    if attrs.get("start") is not None or attrs.get("end") is not None:
        head.append(f"time range MJD {attrs.get('start')} .. {attrs.get('end')}")
    head.append(f"{len(result)} row(s)")
    if result.empty:
        return "\n".join(head) + "\n"
    shown = pd.DataFrame(
        {
            "table": result["table"],
            "facility": result["facility_name"],
            "instrument": result["instrument_name"].fillna(""),
            "obs_id": result["obs_id"],
            "target": result["target_name"].fillna(""),
            "status": result["execution_status"].fillna(""),
            "start (UTC)": _iso(result["t_min"]),
            "end (UTC)": _iso(result["t_max"]),
            "exp (ks)": (pd.to_numeric(result["t_exptime"]).fillna(pd.to_numeric(result["t_plan_exptime"])) / 1e3)
            .round(1)
            .astype("string")
            .fillna(""),
            "planned at (UTC)": _iso(result["t_planning"]),
            "dist (')": pd.to_numeric(result["distance"]).round(3).astype("string"),
        }
    )
    return "\n".join(head) + "\n" + shown.to_string(index=False) + "\n"


def to_astropy(result: pd.DataFrame):  # noqa: ANN201 - astropy Table (imported lazily)
    """The answer as an astropy Table with units, descriptions and masked NULLs."""
    from astropy.table import MaskedColumn, Table

    out = Table(meta={k: v for k, v in result.attrs.items() if v is not None})
    for column in RESULT_COLUMNS:
        values = result[column]
        if column in RESULT_UNITS:
            data = pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
            mask = np.isnan(data)
        else:
            mask = values.isna().to_numpy()
            data = values.astype("string").fillna("").to_numpy(dtype=str)
        out[column] = MaskedColumn(
            data, mask=mask, unit=RESULT_UNITS.get(column), description=RESULT_DESCRIPTIONS.get(column)
        )
    return out


def format_result(result: pd.DataFrame, fmt: str) -> str:
    """The answer as ``text`` (readable), ``csv``, ``json`` (records, NULL as null) or ``votable``."""
    if fmt == "text":
        return format_text(result)
    if fmt == "csv":
        return result.to_csv(index=False, float_format="%.10g")
    if fmt == "json":
        clean = result.astype(object).where(result.notna(), None)
        document = {
            "query": {k: v for k, v in result.attrs.items()},
            "units": RESULT_UNITS,
            "rows": clean.to_dict(orient="records"),
        }
        return json.dumps(document, indent=1, allow_nan=False, default=_json_default) + "\n"
    if fmt == "votable":
        buffer = io.BytesIO()
        table = to_astropy(result)
        table.write(buffer, format="votable", tabledata_format="tabledata")
        return buffer.getvalue().decode("utf-8")
    raise ValueError(f"unknown format {fmt!r} (text, csv, json, votable)")


def _json_default(value: object) -> object:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return None if np.isnan(value) else float(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


_RADIUS = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([a-z\"']*)\s*$", re.IGNORECASE)
_RADIUS_UNITS = {"": 1 / 60, "'": 1 / 60, "arcmin": 1 / 60, '"': 1 / 3600, "arcsec": 1 / 3600, "deg": 1.0, "d": 1.0}


def parse_radius(text: str | float) -> float:
    """Radius in degrees from ``1`` (arcmin), ``1arcmin``, ``30arcsec``, ``30"``, ``0.5deg``."""
    if isinstance(text, int | float):
        return float(text) / 60.0
    match = _RADIUS.match(text)
    unit = match.group(2).lower() if match else None
    if match is None or unit not in _RADIUS_UNITS:
        raise LookupFailed(f"radius {text!r}: give a number of arcmin, or a number with arcsec, arcmin or deg")
    return float(match.group(1)) * _RADIUS_UNITS[unit]
