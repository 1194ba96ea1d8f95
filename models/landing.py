"""Landing pages: ``index.html`` inside each snapshot and one for the publish root.

A researcher who downloads a dated snapshot opens ``index.html`` and sees what it holds: date,
sources with fetch times and raw hashes, validation status and code version; per table and
facility the row counts by ``execution_status`` and the time span; every file with size and
SHA-256; the column metadata (from the specs of :mod:`models.tables`); a timeline of the
observation plan (one lane per facility, ``as_of`` marked); an all-sky map of the footprints; the
changelog; and copy-paste snippets for pyvo, astropy, pandas/pyarrow, DuckDB, TOPCAT and the
ObsLocTAP example queries.

Pages are static and self-contained: inline CSS, pictures as inline SVG generated with numpy
(no matplotlib, no JavaScript, no request to any other host), so they render from ``file://``
offline. Links are relative and point only at files of the snapshot (or, on the root page, at the
snapshots' pages and manifests), so a copied or mirrored snapshot keeps working.

Pages hold no wall-clock time: the same snapshot gives the same bytes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from models.arrow import text_array
from models.layout import walk_files
from models.regions import circumscribed_polygon, parse_stcs

INDEX = "index.html"
#: Days shown on the timeline before and after the as-of time.
TIMELINE_BEFORE_DAYS = 30.0
TIMELINE_AFTER_DAYS = 60.0
#: Colours of the ObsLocTAP execution statuses (timeline) and of facilities (sky map).
STATUS_COLOURS = {
    "Planned": "#9ecae1",
    "Scheduled": "#3182bd",
    "Unscheduled": "#fdae6b",
    "Performed": "#31a354",
    "Aborted": "#de2d26",
    "Withdrawn": "#7f7f7f",
}
_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22")
#: Above this many rows in one timeline lane, the lane is drawn binned (one bar per run of time bins with the
#: same dominant status) instead of one bar per observation: the page's size must not grow with the rows.
TIMELINE_MAX_BARS = 2000
#: Number of time bins of a binned lane (2 px each at the default width).
TIMELINE_BINS = 480
#: Distinct footprints drawn per facility on the sky map at most (an even spread of them when there are more).
SKY_MAX_FOOTPRINTS = 400
#: Above this many DataLink documents, the files table shows them as one row (each is in manifest.json).
FILES_MAX_DATALINK = 500
#: Stale Planned/Scheduled rows named in the note at most (the note gives the total).
STALE_SHOWN = 50
#: Changelog rows shown on the page (all are in changes.parquet / changes.vot / changes.json).
CHANGES_SHOWN = 300
_MJD0 = dt.datetime(1858, 11, 17, tzinfo=dt.UTC)

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#16324f;color:#fff;padding:1em 2em}header h1{margin:0 0 .2em 0;font-size:1.6em}
header p{margin:.2em 0;color:#dde}main{padding:0 2em 2em 2em;max-width:1300px}
h2{border-bottom:2px solid #16324f;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.5em 0;font-size:.9em;background:#fff}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#e8eef4}td.n{text-align:right;font-variant-numeric:tabular-nums}
code,pre{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.88em}
pre{background:#f0f3f6;border:1px solid #d0d7de;padding:.7em;overflow-x:auto}
.ok{color:#1a7f37;font-weight:bold}.bad{color:#cf222e;font-weight:bold}
.note{background:#fff8c5;border:1px solid #d4a72c;padding:.5em .8em;margin:.6em 0}
figure{margin:.6em 0;background:#fff;border:1px solid #ccc;padding:.4em}
figcaption{font-size:.85em;color:#555}details{margin:.4em 0}summary{cursor:pointer;font-weight:600}
nav a{margin-right:1em}svg{max-width:100%;height:auto}td code{word-break:break-all}
.hash{font-family:ui-monospace,monospace;font-size:.8em;color:#555}
"""


# --------------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------------
def _e(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _iso(mjd: float | None, *, minutes: bool = True) -> str:
    if mjd is None or not np.isfinite(mjd):
        return ""
    when = _MJD0 + dt.timedelta(days=float(mjd))
    return when.strftime("%Y-%m-%d %H:%M" if minutes else "%Y-%m-%d")


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _table_html(header: Sequence[str], rows: Sequence[Sequence[object]], numeric: Sequence[int] = ()) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = "".join(
            f'<td class="n">{_e(v)}</td>' if i in numeric else f"<td>{v if _is_markup(v) else _e(v)}</td>"
            for i, v in enumerate(row)
        )
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


class _Markup(str):
    """Text already escaped (links)."""


def _is_markup(value: object) -> bool:
    return isinstance(value, _Markup)


def _link(href: str, text: str | None = None) -> _Markup:
    return _Markup(f'<a href="{_e(href)}">{_e(text if text is not None else href)}</a>')


def _facility_colours(names: Sequence[str]) -> dict[str, str]:
    return {name: _PALETTE[i % len(_PALETTE)] for i, name in enumerate(sorted(set(names)))}


def _mjd(frame: pd.DataFrame, column: str) -> np.ndarray:
    if column not in frame.columns:
        return np.full(len(frame), np.nan)
    return pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


# --------------------------------------------------------------------------------------------
# pictures (inline SVG, numpy only)
# --------------------------------------------------------------------------------------------
def timeline_svg(obsplan: pd.DataFrame, as_of_mjd: float, *, width: int = 1100) -> tuple[str, int]:
    """Per-facility lanes of the plan around ``as_of``: one bar per observation, coloured by status.

    Parameters
    ----------
    obsplan
        The ``obsplan`` frame (``facility_name``, ``execution_status``, ``t_min``, ``t_max``).
    as_of_mjd
        The snapshot's as-of time, drawn as a vertical line.
    width
        SVG width in pixels.

    Returns
    -------
    tuple of (str, int)
        An ``<svg>`` element (``id="timeline"``) and the number of rows drawn (the others fall
        outside the window; the caption says how many).
    """
    lo, hi = as_of_mjd - TIMELINE_BEFORE_DAYS, as_of_mjd + TIMELINE_AFTER_DAYS
    facilities = sorted(obsplan["facility_name"].dropna().astype(str).unique()) if len(obsplan) else []
    left, right, top, lane = 120, 20, 30, 28
    height = top + lane * max(len(facilities), 1) + 60
    span = width - left - right
    t_min, t_max = _mjd(obsplan, "t_min"), _mjd(obsplan, "t_max")
    t_max = np.where(np.isnan(t_max), t_min, t_max)

    def x(t: np.ndarray | float) -> np.ndarray:
        return left + (np.clip(np.asarray(t, dtype=float), lo, hi) - lo) / (hi - lo) * span

    parts = [
        f'<svg id="timeline" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="Timeline of the observation plan">',
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#fff"/>',
    ]
    # month ticks
    first = _MJD0 + dt.timedelta(days=lo)
    month = dt.datetime(first.year, first.month, 1, tzinfo=dt.UTC)
    while True:
        month = (month + dt.timedelta(days=32)).replace(day=1)
        m = (month - _MJD0).total_seconds() / 86400.0
        if m > hi:
            break
        xm = float(x(m))
        parts.append(f'<line x1="{xm:.1f}" y1="{top - 5}" x2="{xm:.1f}" y2="{height - 50}" stroke="#ddd"/>')
        if xm < width - right - 60:  # no label cut at the right edge
            parts.append(f'<text x="{xm + 2:.1f}" y="{height - 36}" font-size="11" fill="#555">{month:%Y-%m-%d}</text>')
    shown = 0
    in_window = ~np.isnan(t_min) & (t_max >= lo) & (t_min <= hi)
    facility_of = obsplan["facility_name"].astype(str) if facilities else None  # once, not per lane
    for i, facility in enumerate(facilities):  # a handful of lanes
        y = top + i * lane
        parts.append(f'<text x="{left - 8}" y="{y + 17}" font-size="12" text-anchor="end">{_e(facility)}</text>')
        parts.append(f'<line x1="{left}" y1="{y + lane - 2}" x2="{width - right}" y2="{y + lane - 2}" stroke="#eee"/>')
        visible = (facility_of == facility).to_numpy() & in_window
        rows = np.flatnonzero(visible)  # only the rows drawn are turned into Python strings
        shown += len(rows)
        statuses = obsplan["execution_status"].iloc[rows].astype(str).to_numpy()
        x0, x1 = x(t_min[visible]), x(t_max[visible])
        w = np.maximum(x1 - x0, 2.0)
        if len(rows) > TIMELINE_MAX_BARS:  # binned: the number of bars does not grow with the rows
            parts += _binned_lane(t_min[visible], t_max[visible], statuses, lo, hi, x, y + 4, lane - 10)
            continue
        ids = obsplan["obs_id"].iloc[rows].astype(str).to_numpy()
        for a, b, s, o in zip(x0, w, statuses, ids, strict=True):  # bars of one lane (at most TIMELINE_MAX_BARS)
            colour = STATUS_COLOURS.get(s, "#999")
            parts.append(
                f'<rect x="{a:.1f}" y="{y + 4}" width="{b:.1f}" height="{lane - 10}" fill="{colour}" '
                f'stroke="#333" stroke-width="0.5" opacity="0.85"><title>{_e(o)} {_e(s)}</title></rect>'
            )
    xa = float(x(as_of_mjd))
    parts.append(
        f'<line x1="{xa:.1f}" y1="{top - 12}" x2="{xa:.1f}" y2="{height - 50}" stroke="#d62728" '
        f'stroke-width="2" stroke-dasharray="5,3"/>'
    )
    parts.append(f'<text x="{xa + 4:.1f}" y="{top - 14}" font-size="11" fill="#d62728">as of {_iso(as_of_mjd)}</text>')
    legend_x = left
    for status, colour in STATUS_COLOURS.items():
        parts.append(f'<rect x="{legend_x}" y="{height - 18}" width="12" height="10" fill="{colour}"/>')
        parts.append(f'<text x="{legend_x + 16}" y="{height - 9}" font-size="11">{status}</text>')
        legend_x += 95
    parts.append("</svg>")
    return "\n".join(parts), shown


def _binned_lane(
    start: np.ndarray, end: np.ndarray, statuses: np.ndarray, lo: float, hi: float, x: Any, y: float, h: float
) -> list[str]:
    """SVG bars of one crowded lane: per time bin the status most observations overlapping it have.

    Counts are vectorised (sorted starts and ends, ``searchsorted``: observations overlapping a bin =
    starts before its end - ends before its start); consecutive bins of one dominant status make one
    bar, so at most :data:`TIMELINE_BINS` bars are drawn whatever the number of rows.
    """
    edges = np.linspace(lo, hi, TIMELINE_BINS + 1)
    names = list(STATUS_COLOURS) + sorted(set(statuses.tolist()) - set(STATUS_COLOURS))  # a handful of statuses
    counts = np.zeros((len(names), TIMELINE_BINS), dtype=np.int64)
    for k, name in enumerate(names):
        mine = statuses == name
        counts[k] = np.searchsorted(np.sort(start[mine]), edges[1:], side="left") - np.searchsorted(
            np.sort(end[mine]), edges[:-1], side="left"
        )
    total = counts.sum(axis=0)
    dominant = np.where(total > 0, counts.argmax(axis=0), -1)
    cut = np.flatnonzero(np.r_[True, dominant[1:] != dominant[:-1]])
    stops = np.r_[cut[1:], TIMELINE_BINS]
    out = []
    for a, b in zip(cut, stops, strict=True):  # runs of bins: at most TIMELINE_BINS per lane
        if dominant[a] < 0:
            continue
        name = names[dominant[a]]
        x0, x1 = float(x(edges[a])), float(x(edges[b]))
        out.append(
            f'<rect class="binned" x="{x0:.1f}" y="{y}" width="{max(x1 - x0, 1.0):.1f}" height="{h}" '
            f'fill="{STATUS_COLOURS.get(name, "#999")}" opacity="0.85"><title>{_e(name)}: up to '
            f"{int(total[a:b].max())} observations per bin, from {_iso(edges[a])} to {_iso(edges[b])}"
            "</title></rect>"
        )
    return out


def _hammer(ra: np.ndarray, dec: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hammer-Aitoff projection, RA increasing to the left (sky view), in units of the half-axes (|x|<=2)."""
    lon = np.radians(((np.asarray(ra, dtype=float) + 180.0) % 360.0) - 180.0)
    lat = np.radians(np.asarray(dec, dtype=float))
    z = np.sqrt(1.0 + np.cos(lat) * np.cos(lon / 2.0))
    return -2.0 * np.cos(lat) * np.sin(lon / 2.0) / z, np.sin(lat) / z


def _distinct_footprints(regions: pd.Series, bold: np.ndarray) -> pd.DataFrame:
    """Distinct (``s_region``, bold) pairs in order of first appearance, the bold ones last.

    The rule is ``drop_duplicates`` then a stable sort on ``bold``; for text columns it is computed
    with Arrow's hash kernel (distinct values in order of first appearance), per bold flag, so that a
    million footprints are never turned into Python strings (a handful of thousands are distinct).
    """
    text = text_array(regions)  # None: not plain text without NULL
    if text is None:
        distinct = pd.DataFrame({"s_region": regions.astype(str).to_numpy(), "bold": bold})
        return distinct.drop_duplicates().sort_values("bold", kind="stable").reset_index(drop=True)
    parts = []
    for flag in (False, True):
        values = pc.unique(text.filter(pa.array(bold == flag))).to_pylist()  # distinct footprints only
        parts.append(pd.DataFrame({"s_region": pd.Series(values, dtype=object), "bold": flag}))
    return pd.concat(parts, ignore_index=True)


def _facility_footprints_rows(tables: Mapping[str, pd.DataFrame]) -> tuple[dict[str, pd.Series], dict[str, np.ndarray]]:
    """Per facility, the ``s_region`` of every obsplan then obscore row that has one, and its bold flag.

    The rule :func:`sky_svg` draws from (its distinct footprints are taken there); at a million rows
    :func:`_facility_footprints` gives the same drawing from the distinct footprints alone.
    """
    footprints: dict[str, pd.Series] = {}
    upcoming: dict[str, np.ndarray] = {}
    for name in ("obsplan", "obscore"):
        frame = tables.get(name)
        if frame is None or not len(frame):
            continue
        has = frame["s_region"].notna().to_numpy()
        facility_of = frame["facility_name"].astype(str)  # once, not per facility
        for facility in sorted(frame["facility_name"].dropna().astype(str).unique()):  # a handful
            rows = np.flatnonzero(has & (facility_of == facility).to_numpy())
            if not len(rows):
                continue
            # the two columns drawn, not the whole rows
            planned = (
                frame["execution_status"].iloc[rows].isin(["Planned", "Scheduled"]).to_numpy()
                if "execution_status" in frame.columns
                else np.zeros(len(rows), bool)
            )
            region = frame["s_region"].iloc[rows]
            footprints[facility] = pd.concat([footprints.get(facility, pd.Series(dtype=object)), region])
            upcoming[facility] = np.concatenate([upcoming.get(facility, np.zeros(0, bool)), planned])
    return footprints, upcoming


def _facility_footprints(tables: Mapping[str, pd.DataFrame]) -> tuple[dict[str, pd.Series], dict[str, np.ndarray]]:
    """:func:`_facility_footprints_rows` reduced to each facility's distinct (``s_region``, bold) pairs.

    :func:`sky_svg` draws the distinct pairs in order of first appearance, bold ones last
    (:func:`_distinct_footprints`); given them already distinct and in that order it draws the same. They
    are found with Arrow kernels on the whole columns (one filter and one hash per facility and flag), so
    a million rows are neither copied per facility nor concatenated. Columns that are not plain text
    without NULL take the row-by-row rule.
    """
    columns = {}
    for name in ("obsplan", "obscore"):
        frame = tables.get(name)
        if frame is None or not len(frame):
            continue
        region = text_array(frame["s_region"], nulls=True)
        facility = text_array(frame["facility_name"].astype(str), nulls=False)
        if region is None or facility is None:
            return _facility_footprints_rows(tables)
        has = ~np.asarray(region.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        planned = (
            frame["execution_status"].isin(["Planned", "Scheduled"]).to_numpy(dtype=bool)
            if "execution_status" in frame.columns
            else np.zeros(len(frame), bool)
        )
        names = sorted(frame["facility_name"].dropna().astype(str).unique())  # a handful
        columns[name] = (region, facility, has, planned, names)
    rows: dict[str, list[tuple[pa.Array, np.ndarray, np.ndarray]]] = {}  # facility -> (regions, mask, bold)
    for region, facility_of, has, planned, names in columns.values():  # facilities in the order the rule meets them
        for facility in names:  # a handful
            mine = has & np.asarray(pc.equal(facility_of, facility).to_numpy(zero_copy_only=False), dtype=bool)
            if mine.any():
                rows.setdefault(facility, []).append((region, mine, planned))
    footprints: dict[str, pd.Series] = {}
    upcoming: dict[str, np.ndarray] = {}
    for facility, found in rows.items():
        parts = {flag: [r.filter(pa.array(m & (p == flag))) for r, m, p in found] for flag in (False, True)}
        values, bold = [], []
        for flag in (False, True):
            distinct = pc.unique(pa.concat_arrays(parts[flag])).to_pylist()  # the distinct footprints only
            values += distinct
            bold += [flag] * len(distinct)
        footprints[facility] = pd.Series(values, dtype=object)
        upcoming[facility] = np.asarray(bold, dtype=bool)
    return footprints, upcoming


def sky_svg(
    footprints: Mapping[str, pd.Series],
    upcoming: Mapping[str, np.ndarray],
    *,
    width: int = 900,
    limit: int = SKY_MAX_FOOTPRINTS,
) -> tuple[str, int]:
    """All-sky map (ICRS, Hammer-Aitoff, RA 0 at the centre) of the footprints of each facility.

    Parameters
    ----------
    footprints
        ``s_region`` columns by facility.
    upcoming
        Per facility, a boolean mask of its footprints that are Planned or Scheduled (drawn bold).
    width
        SVG width in pixels (height is half of it plus the legend).
    limit
        Distinct footprints (``s_region`` text and bold flag) drawn per facility at most; when a
        facility has more, an even, deterministic spread of them is drawn (the caption says so).

    Returns
    -------
    tuple of (str, int)
        An ``<svg>`` element (``id="skymap"``) and the number of distinct footprints drawn.
        Circles are drawn as 16-gons; footprints crossing RA 180 deg are drawn on the side of
        their centre.
    """
    height = width // 2
    cx, cy, sx, sy = width / 2, height / 2, (width / 2 - 10) / 2.0, height / 2 - 10
    colours = _facility_colours(list(footprints))
    parts = [
        f'<svg id="skymap" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + 30}" '
        f'viewBox="0 0 {width} {height + 30}" role="img" aria-label="Sky coverage per facility">',
        f'<rect x="0" y="0" width="{width}" height="{height + 30}" fill="#fff"/>',
        f'<ellipse cx="{cx}" cy="{cy}" rx="{2 * sx}" ry="{sy}" fill="#f4f6fa" stroke="#333"/>',
    ]

    def path(ra: np.ndarray, dec: np.ndarray) -> str:
        px, py = _hammer(ra, dec)
        return " ".join(f"{cx + sx * a:.1f},{cy - sy * b:.1f}" for a, b in zip(px, py, strict=True))

    for dec0 in (-60, -30, 0, 30, 60):  # graticule
        ra = np.linspace(-179.999, 179.999, 73)
        parts.append(f'<polyline points="{path(ra, np.full_like(ra, dec0))}" fill="none" stroke="#ccc"/>')
    for ra0 in (-120, -60, 0, 60, 120):
        dec = np.linspace(-90, 90, 37)
        parts.append(f'<polyline points="{path(np.full_like(dec, ra0), dec)}" fill="none" stroke="#ccc"/>')
    for ra0 in (0, 90, 270):
        px, py = _hammer(np.array([ra0]), np.array([0.0]))
        parts.append(f'<text x="{cx + sx * px[0] + 3:.1f}" y="{cy - 3:.1f}" font-size="10" fill="#777">{ra0}°</text>')
    drawn = 0
    for facility, series in footprints.items():
        strong_rows = np.asarray(upcoming.get(facility, np.zeros(len(series), bool)), dtype=bool)
        distinct = _distinct_footprints(series, strong_rows)
        if len(distinct) > limit:  # an even spread, bold (upcoming) footprints last so they are on top
            distinct = distinct.iloc[np.unique(np.linspace(0, len(distinct) - 1, limit).round().astype(int))]
        regions = parse_stcs(distinct["s_region"].reset_index(drop=True))
        bold = distinct["bold"].to_numpy(dtype=bool)
        shapes: list[tuple[np.ndarray, np.ndarray, bool]] = []
        circles = np.flatnonzero(regions.is_circle & (regions.radius < 89.0))
        if len(circles):
            v_ra, v_dec = circumscribed_polygon(regions.ra[circles], regions.dec[circles], regions.radius[circles])
            shapes += [(v_ra[i], v_dec[i], bool(bold[r])) for i, r in enumerate(circles)]
        for rows, v_ra, v_dec in regions.polygon_groups():
            shapes += [(v_ra[i], v_dec[i], bool(bold[r])) for i, r in enumerate(rows)]
        colour = colours[facility]
        seen: set[str] = set()
        for ra, dec, strong in shapes:  # distinct footprints of one facility (at most ``limit``)
            centre = float(np.degrees(np.arctan2(np.sin(np.radians(ra)).mean(), np.cos(np.radians(ra)).mean())))
            rel = ((ra - centre + 180.0) % 360.0) - 180.0
            lon = np.clip(((centre + 180.0) % 360.0) - 180.0 + rel, -179.999, 179.999)
            points = path(np.append(lon, lon[0]), np.append(dec, dec[0]))
            key = points + str(strong)
            if key in seen:
                continue
            seen.add(key)
            drawn += 1
            parts.append(
                f'<polygon points="{points}" fill="{colour}" fill-opacity="{0.45 if strong else 0.15}" '
                f'stroke="{colour}" stroke-width="{1.6 if strong else 0.7}"><title>{_e(facility)}</title></polygon>'
            )
            # a marker at the centre, so that arcminute fields (NuSTAR, XMM-Newton) are visible at all
            mx, my = _hammer(np.array([np.mean(lon)]), np.array([np.mean(dec)]))
            parts.append(
                f'<circle cx="{cx + sx * mx[0]:.1f}" cy="{cy - sy * my[0]:.1f}" r="{3.5 if strong else 2.5}" '
                f'fill="{colour}" stroke="{"#000" if strong else "none"}" stroke-width="0.8">'
                f"<title>{_e(facility)}</title></circle>"
            )
    x = 10
    for facility, colour in colours.items():
        parts.append(f'<rect x="{x}" y="{height + 10}" width="12" height="10" fill="{colour}"/>')
        parts.append(f'<text x="{x + 16}" y="{height + 19}" font-size="11">{_e(facility)}</text>')
        x += 16 + 7 * len(facility) + 20
    parts.append("</svg>")
    return "\n".join(parts), drawn


# --------------------------------------------------------------------------------------------
# sections
# --------------------------------------------------------------------------------------------
def _sources_section(manifest: Mapping[str, Any]) -> str:
    rows = []
    for name, meta in sorted((manifest.get("sources") or {}).items()):
        meta = meta or {}
        responses = meta.get("responses") or []
        fetched = sorted({str(r.get("fetched_at", "")) for r in responses if isinstance(r, Mapping)})
        hashes = _Markup(
            "<br>".join(
                f'{_e(r.get("name") or r.get("method", ""))} <span class="hash">{_e(r.get("sha256", ""))}</span> '
                f"({_e(r.get('size', ''))} B, HTTP {_e(r.get('status', ''))}) "
                f"<code>{_e(r.get('method', ''))} {_e(r.get('url', ''))}</code>"
                for r in responses
                if isinstance(r, Mapping)
            )
        )
        counts = meta.get("rows", "")
        if isinstance(counts, Mapping):
            counts = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        rows.append((name, meta.get("facility", ""), counts, ", ".join(fetched), hashes))
    return "<h2 id='sources'>Sources</h2>" + _table_html(
        ("source", "facility", "rows", "fetched at (UTC)", "raw responses: SHA-256 of the bytes parsed, request"), rows
    )


def _counts_section(tables: Mapping[str, pd.DataFrame]) -> str:
    out = ["<h2 id='tables'>Tables: rows by facility and status</h2>"]
    for name, frame in tables.items():
        if not len(frame) or "facility_name" not in frame.columns:
            out.append(f"<h3>{_e(name)}</h3><p>{len(frame)} rows.</p>")
            continue
        status = frame["execution_status"] if "execution_status" in frame.columns else None
        key = frame["facility_name"].fillna("(none)").astype(str)
        grouped = pd.DataFrame(
            {
                "facility": key,
                "status": "archived" if status is None else status.fillna("").astype(str),
                "t_min": _mjd(frame, "t_min"),
                "t_max": _mjd(frame, "t_max"),
            }
        )
        counts = grouped.pivot_table(index="facility", columns="status", values="t_min", aggfunc="size", fill_value=0)
        spans = grouped.groupby("facility").agg(t_min=("t_min", "min"), t_max=("t_max", "max"))
        statuses = list(counts.columns)
        rows = [
            (fac, *[int(counts.loc[fac, s]) for s in statuses], int(counts.loc[fac].sum()),
             _iso(spans.loc[fac, "t_min"], minutes=False), _iso(spans.loc[fac, "t_max"], minutes=False))
            for fac in counts.index
        ]  # fmt: skip
        header = ("facility", *statuses, "total", "first start", "last end")
        out.append(f"<h3>{_e(name)} ({len(frame)} rows)</h3>")
        out.append(_table_html(header, rows, tuple(range(1, len(statuses) + 2))))
    return "\n".join(out)


def _files_section(stage: Path, manifest: Mapping[str, Any]) -> tuple[str, list[str]]:
    from models.datalink import DATALINK_DIR, read_document_index
    from models.provenance import datalink_documents, total_size

    known = manifest.get("files") if isinstance(manifest.get("files"), Mapping) else {}
    from_index: dict[str, tuple[int, str]] = {}  # documents listed one by one: (size, SHA-256) from the index
    index = read_document_index(stage)  # the DataLink documents with their sizes: the folder is not walked
    if index is not None:
        walked = walk_files(stage, skip_below={f"{DATALINK_DIR}/"})
        indexed = index.column("document").to_pylist()
        total = int(pc.sum(index.column("size")).as_py() or 0)
        files = sorted([*walked, *indexed]) if len(indexed) <= FILES_MAX_DATALINK else walked
        documents = frozenset(indexed) if len(indexed) > FILES_MAX_DATALINK else frozenset()
        if not documents:  # each listed as its index gives it (publication checks the files against it)
            sizes, digests = index.column("size").to_pylist(), index.column("sha256").to_pylist()
            from_index = {rel: (n, h) for rel, n, h in zip(indexed, sizes, digests, strict=True)}
    else:
        files = walk_files(stage)
        documents = datalink_documents(files)
        documents = frozenset() if len(documents) <= FILES_MAX_DATALINK else documents
        total = total_size(known, documents, stage) if documents else 0
        files = [rel for rel in files if rel not in documents] if documents else files
    files = [rel for rel in files if rel not in (INDEX, "manifest.json")]
    rows, raw_rows, links = [], [], []
    if documents:  # one row for all of them: the page must not grow with the rows
        rows.append(
            (
                _Markup(
                    f"<code>datalink/</code>: {len(documents)} DataLink documents, one per event-list dataset "
                    '(listed with each one\'s size and SHA-256 in <a href="datalink/documents.csv">'
                    "datalink/documents.csv</a>, whose own SHA-256 is in "
                    '<a href="manifest.json">manifest.json</a>)'
                ),
                _size(total),
                "",
            )
        )
    for rel in files:
        path = stage / rel
        links.append(rel)
        if rel in from_index:  # a document may still be being linked in the background: not read here
            size, digest = from_index[rel]
        else:
            size = path.stat().st_size
            entry = known.get(rel) if isinstance(known.get(rel), Mapping) else {}
            # hashes the caller already computed are reused (each byte hashed once on the way to publication)
            digest = entry["sha256"] if entry.get("size") == size and entry.get("sha256") else _sha256(path)
        row = (_link(rel), _size(size), _Markup(f'<span class="hash">{digest}</span>'))
        (raw_rows if rel.startswith("raw/") else rows).append(row)
    out = ["<h2 id='files'>Files</h2>"]
    out.append(
        "<p>Every file with its size and SHA-256 (also in <code>manifest.json</code>, "
        'which covers this page too: <a href="manifest.json">manifest.json</a>).</p>'
    )
    out.append(_table_html(("file", "size", "SHA-256"), rows, (1,)))
    if raw_rows:
        out.append(f"<details><summary>raw/: {len(raw_rows)} files of the raw archive</summary>")
        out.append(_table_html(("file", "size", "SHA-256"), raw_rows, (1,)))
        out.append("</details>")
    return "\n".join(out), [*links, "manifest.json"]


def _listed(rows: pd.DataFrame, t_max: np.ndarray, total: int) -> str:
    listed = ", ".join(
        f"{f} {o} ({s}, ended {_iso(t, minutes=False)})"
        for f, o, s, t in zip(rows["facility_name"], rows["obs_id"], rows["execution_status"], t_max, strict=True)
    )
    more = total - len(rows)
    return listed + (f" and {more} more (select them in obsplan.parquet)" if more > 0 else "")


def _stale_rows(obsplan: pd.DataFrame, as_of_mjd: float) -> str:
    """Notes on plans whose window has ended: expired ones (published Unscheduled), and open ones not yet expired."""
    from models.staleness import EXPIRED_STATUS, OPEN_STATUSES, STALE_AFTER_DAYS

    if not len(obsplan) or "execution_status" not in obsplan.columns:
        return ""
    t_max = _mjd(obsplan, "t_max")
    status = obsplan["execution_status"]
    notes = []
    expired = (status == EXPIRED_STATUS).to_numpy() & (t_max < as_of_mjd - STALE_AFTER_DAYS)
    if expired.any():
        rows = obsplan.loc[expired].head(STALE_SHOWN)  # the note does not grow with the rows
        notes.append(
            f"<p class='note' id='expired'>{int(expired.sum())} obsplan row(s) are published as {EXPIRED_STATUS}: "
            f"their window ended more than {STALE_AFTER_DAYS:g} days before the as-of time and their source never "
            f"reported them performed (expired plans; the changelog lists them as <code>expired</code> the day "
            f"it happens) or they were withdrawn: {_e(_listed(rows, t_max[expired][: len(rows)], int(expired.sum())))}"
            ".</p>"
        )
    recent = status.isin(OPEN_STATUSES).to_numpy() & (t_max < as_of_mjd)
    if recent.any():
        rows = obsplan.loc[recent].head(STALE_SHOWN)
        listed = _listed(rows, t_max[recent][: len(rows)], int(recent.sum()))
        notes.append(
            f"<p class='note' id='stale'>{int(recent.sum())} obsplan row(s) are still Planned or Scheduled although "
            f"their window ended before the as-of time (the source has not reported them performed yet; after "
            f"{STALE_AFTER_DAYS:g} days they expire): {_e(listed)}"
            ".</p>"
        )
    return "".join(notes)


def _allowed(values: Sequence[object] | None) -> str:
    return f" ({', '.join(map(str, values))})" if values else ""


def _columns_section(table_names: Sequence[str]) -> str:
    from models.snapshot import SNAPSHOT_TABLES

    out = ["<h2 id='columns'>Columns</h2><p>Generated from the table specifications of this voharvest version.</p>"]
    for name in table_names:
        spec = SNAPSHOT_TABLES.get(name)
        if spec is None:
            continue
        rows = [
            (c.name, c.datatype, c.unit, c.ucd, c.null_rule, c.description + _allowed(c.values)) for c in spec.columns
        ]
        out.append(f"<details><summary>{_e(spec.qualified_name)}: {_e(spec.description)}</summary>")
        out.append(_table_html(("name", "datatype", "unit", "UCD", "NULL", "description"), rows))
        out.append("</details>")
    return "\n".join(out)


def _changes_section(changes: pd.DataFrame, manifest: Mapping[str, Any]) -> str:
    counts = manifest.get("changes") or {}
    summary = ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "none"
    previous = manifest.get("previous_snapshot") or "none (first snapshot: every observation is added)"
    out = [
        "<h2 id='changes'>Changes since the previous snapshot</h2>",
        f"<p>Previous snapshot: {_e(previous)}. Counts: {_e(summary)}. "
        'All rows: <a href="changes.json">changes.json</a>, <a href="changes.vot">changes.vot</a>, '
        '<a href="changes.parquet">changes.parquet</a>.</p>',
    ]
    if len(changes):
        shown = changes.head(CHANGES_SHOWN)
        cols = [
            c
            for c in (
                "x_change",
                "facility_name",
                "obs_id",
                "target_name",
                "execution_status",
                "x_prev_execution_status",
            )
            if c in shown.columns
        ]
        rows = [
            (*[("" if pd.isna(v) else v) for v in rec[:-2]], _iso(rec[-2]), _iso(rec[-1]))
            for rec in zip(*[shown[c] for c in cols], _mjd(shown, "t_min"), _mjd(shown, "t_max"), strict=True)
        ]
        out.append(_table_html((*cols, "start (UTC)", "end (UTC)"), rows))
        if len(changes) > CHANGES_SHOWN:
            out.append(f"<p>{len(changes) - CHANGES_SHOWN} more rows in the files above.</p>")
    return "\n".join(out)


def _usage_section(date: str, as_of_mjd: float) -> str:
    too = "1=INTERSECTS(s_region, CIRCLE('ICRS', 274.849, -17.104, 0.0167))"
    snippets = {
        "Who observes my target when (no TAP server)": (
            "voharvest lookup 274.84904 -17.10439 --radius 1arcmin --snapshot .\n"
            'voharvest lookup --target "Crab" --start 2025-09-01 --end 2025-10-01 --format csv --snapshot .\n\n'
            "from models.lookup import lookup\n"
            'print(lookup(".", ra="18:19:23.77", dec="-17:06:15.8", radius_deg=1 / 60))'
        ),
        "astropy": (
            "from astropy.table import Table\n"
            't = Table.read("obsplan.parquet")      # units, descriptions, UCDs (NULLs: see below)\n'
            't = Table.read("obsplan.vot")          # VOTable: NULL numbers masked'
        ),
        "pandas / pyarrow": (
            "import pandas as pd, pyarrow.parquet as pq\n"
            'df = pd.read_parquet("obsplan.parquet", dtype_backend="numpy_nullable")\n'
            'schema = pq.read_schema("obsplan.parquet")\n'
            'print(schema.field("t_min").metadata)   # unit, ucd, utype, description'
        ),
        "DuckDB": (
            "SELECT facility_name, execution_status, count(*)\nFROM 'obsplan.parquet' GROUP BY ALL ORDER BY ALL;"
        ),
        "TOPCAT / STILTS": (
            "topcat obsplan.vot obscore.vot\nstilts tpipe in=obsplan.vot cmd='select \"t_min > 60923\"' ofmt=csv"
        ),
        "pyvo (a TAP service loaded from tap/)": (
            "import pyvo\n"
            'tap = pyvo.dal.TAPService("http://localhost:8080/tap")   # your service\n'
            f'print(tap.search("SELECT * FROM ivoa.obsplan WHERE t_min < {as_of_mjd + 30:.0f} '
            f'AND t_max > {as_of_mjd:.0f}").to_table())'
        ),
        "ObsLocTAP example queries (section 4)": (
            f"-- what is observed in the next 30 days\nSELECT * FROM ivoa.obsplan WHERE t_min < {as_of_mjd + 30:.0f} "
            f"AND t_max > {as_of_mjd:.0f}\n"
            f"-- what changed in the plan since {date}\nSELECT * FROM ivoa.obsplan WHERE t_planning > {as_of_mjd:.1f}\n"
            f"-- target of opportunity: who observes this position\nSELECT * FROM ivoa.obsplan WHERE {too}\n"
            "-- 20-50 keV observations scheduled now\nSELECT * FROM ivoa.obsplan WHERE em_min < 6.2e-11 AND "
            f"em_max > 2.48e-11 AND t_min < {as_of_mjd + 1:.0f} AND t_max > {as_of_mjd:.0f}"
        ),
    }
    out = ["<h2 id='usage'>How to use it</h2>"]
    for title, code in snippets.items():
        out.append(f"<h3>{_e(title)}</h3><pre><code>{_e(code)}</code></pre>")
    out.append(
        "<div class='note'><b>What readers cannot do.</b> astropy's Parquet reader does not mask NULLs: NULL "
        "doubles read as NaN, integer columns holding NULLs as float64 with NaN, NULL strings as the text "
        "<code>None</code>. astropy's VOTable reader masks NULL numbers but reads a NULL string as "
        '<code>""</code> (strings here are never empty, so <code>""</code> means NULL). '
        '<code>Table.read(..., format="parquet.votable")</code> fails in astropy 8 on variable-length strings; '
        'plain <code>Table.read("x.parquet")</code> already carries the same units and descriptions. '
        "Debian's STILTS/TOPCAT has no Parquet handler: open the <code>.vot</code> files. "
        'pandas (<code>dtype_backend="numpy_nullable"</code>), pyarrow and DuckDB keep every NULL.</div>'
    )
    return "\n".join(out)


def _mocs_section(manifest: Mapping[str, Any], links: Sequence[str]) -> str:
    mocs = [m for m in (manifest.get("mocs") or []) if m in links]
    omitted = manifest.get("mocs_omitted") or {}
    out = ["<h2 id='mocs'>Coverage maps (MOC 2.0)</h2>"]
    if mocs:
        out.append(
            "<p>Space, time and space-time MOCs per table and facility (FITS; JSON for space and time). "
            "Aladin, TOPCAT and mocpy read them.</p><ul>" + "".join(f"<li>{_link(m)}</li>" for m in mocs) + "</ul>"
        )
    if omitted:
        out.append("<p>Not written, because they would cover nothing:</p><ul>")
        out += [f"<li><code>{_e(base)}</code>: {_e(why)}</li>" for base, why in sorted(omitted.items())]
        out.append("</ul>")
    return "\n".join(out)


# --------------------------------------------------------------------------------------------
# pages
# --------------------------------------------------------------------------------------------
def _page(title: str, header: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<link rel="icon" href="data:,">\n'
        f"<title>{_e(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        f"<header>{header}</header>\n<main>\n{body}\n</main>\n</body>\n</html>\n"
    )


def write_landing_page(
    stage: Path, manifest_document: Mapping[str, Any], tables: Mapping[str, pd.DataFrame], changes: pd.DataFrame
) -> list[str]:
    """Write ``index.html`` into a staged snapshot; returns the relative paths written.

    Call it after every other file of the snapshot is written and before ``manifest.json`` (the page
    lists every file's size and SHA-256, and the manifest then covers the page).

    Parameters
    ----------
    stage
        The snapshot directory being staged.
    manifest_document
        What the manifest will hold (``snapshot``, ``as_of_mjd``, ``code_version``, ``sources``,
        ``tables``, ``changes``, ``mocs``, ``mocs_omitted``, ``validation``, ...). ``files``
        (``{path: {size, sha256}}``, as :func:`models.snapshot.file_entries` gives) is optional: the
        hashes given there are shown as they are (when the size still matches), any other file is hashed.
    tables
        The snapshot's frames by table name (``obsplan``, ``obscore``, ...).
    changes
        The changelog frame (``voharvest.changes``).

    Returns
    -------
    list of str
        ``["index.html"]``.
    """
    stage = Path(stage)
    m = manifest_document
    date = str(m.get("snapshot", ""))
    as_of = float(m.get("as_of_mjd") or 0.0)
    validation = m.get("validation") or {}
    violations = validation.get("violations") or []
    status = (
        f"<span class='ok'>valid</span> ({_e(validation.get('checks', ''))})"
        if not violations
        else f"<span class='bad'>{len(violations)} non-blocking violation(s)</span>"
    )
    obsplan = tables.get("obsplan", pd.DataFrame(columns=["facility_name", "execution_status", "t_min", "t_max"]))
    timeline, on_timeline = timeline_svg(obsplan, as_of)
    footprints, upcoming = _facility_footprints(tables)
    sky, drawn = sky_svg(footprints, upcoming)
    no_footprint = sorted(
        {str(f) for t in ("obsplan", "obscore") if t in tables for f in tables[t]["facility_name"].dropna().unique()}
        - set(footprints)
    )
    files_html, links = _files_section(stage, m)
    header = (
        f"<h1>voharvest snapshot {_e(date)}</h1>"
        f"<p>As of {_e(_iso(as_of))} UTC (MJD {as_of:.5f}) &middot; code version {_e(m.get('code_version', ''))} "
        f"&middot; validation: {status}</p>"
        f"<p>Previous snapshot: {_e(m.get('previous_snapshot') or 'none')} &middot; "
        "Observation plans and archive records harvested from the observatories' public pages; each source's "
        "own terms apply to its data. Provenance: every raw response parsed is in <code>raw/</code> with its "
        "SHA-256 below.</p>"
    )
    nav = (
        "<nav>"
        + "".join(
            f'<a href="#{a}">{t}</a>'
            for a, t in (
                ("timeline", "Timeline"),
                ("sky", "Sky"),
                ("tables", "Tables"),
                ("sources", "Sources"),
                ("files", "Files"),
                ("columns", "Columns"),
                ("changes", "Changes"),
                ("usage", "How to use"),
            )
        )
        + "</nav>"
    )
    body = [
        nav,
        "<h2 id='timeline-h'>Timeline of the observation plan</h2>",
        f"<figure id='timeline-fig'>{timeline}<figcaption>obsplan rows from "
        f"{_iso(as_of - TIMELINE_BEFORE_DAYS, minutes=False)} to {_iso(as_of + TIMELINE_AFTER_DAYS, minutes=False)}, "
        "one lane per facility, coloured by execution_status (a lane with more than "
        f"{TIMELINE_MAX_BARS} rows in the window is drawn binned: per time bin the status most of its rows "
        "have); "
        f"{on_timeline} of {len(obsplan)} rows fall in this window (hover a bar for its obs_id). "
        "The dashed line is the as-of time.</figcaption></figure>",
        "<h2 id='sky'>Sky coverage</h2>",
        f"<figure id='sky-fig'>{sky}<figcaption>Footprints (s_region) of obsplan and obscore per facility, ICRS, "
        f"Hammer-Aitoff, RA 0 at the centre increasing to the left; bold: Planned or Scheduled. {drawn} distinct "
        f"footprints drawn (at most {SKY_MAX_FOOTPRINTS} per facility: an even spread of a facility's distinct "
        "footprints when it has more).</figcaption></figure>",
    ]
    stale = _stale_rows(obsplan, as_of)
    if stale:
        body.append(stale)
    if no_footprint:
        body.append(
            f"<p class='note'>No footprint (s_region is NULL in every row) for: {_e(', '.join(no_footprint))}; "
            "these facilities have no sky coverage to draw.</p>"
        )
    body += [
        _counts_section({k: tables[k] for k in tables if k != "obsplan_history"}),
        _sources_section(m),
        files_html,
        _mocs_section(m, links),
        _columns_section(list(tables) + (["changes"] if "changes" not in tables else [])),
        _changes_section(changes, m),
        _usage_section(date, as_of),
    ]
    page = _page(f"voharvest snapshot {date}", header, "\n".join(body))
    (stage / INDEX).write_text(page, encoding="utf-8")
    return [INDEX]


def write_root_index(output_root: Path) -> Path:
    """Write ``<output_root>/index.html``: every published snapshot, newest first, with rows and changes.

    Parameters
    ----------
    output_root
        The publish root (``snapshots/<date>/`` below it).

    Returns
    -------
    pathlib.Path
        The page written.
    """
    from models.snapshot import LATEST, published_dates, read_manifest, snapshot_path

    root = Path(output_root)
    dates = published_dates(root)[::-1]
    latest = (root / LATEST).resolve() if (root / LATEST).is_symlink() else None
    rows = []
    for date in dates:
        path = snapshot_path(root, date)
        manifest = read_manifest(path)
        rel = f"snapshots/{date.isoformat()}"
        page = f"{rel}/{INDEX}" if (path / INDEX).is_file() else f"{rel}/manifest.json"
        counts = ", ".join(f"{k} {v.get('rows')}" for k, v in sorted((manifest.get("tables") or {}).items()))
        changes = ", ".join(f"{k} {v}" for k, v in sorted((manifest.get("changes") or {}).items()) if v) or "none"
        mark = " (latest)" if latest is not None and latest == path.resolve() else ""
        rows.append(
            (_link(page, date.isoformat() + mark), _iso(manifest.get("as_of_mjd")), counts, changes,
             manifest.get("code_version", ""), _link(f"{rel}/manifest.json", "manifest"))
        )  # fmt: skip
    header = (
        "<h1>voharvest snapshots</h1>"
        f"<p>{len(dates)} published snapshot(s), newest first. Each snapshot is immutable and has its own page.</p>"
    )
    body = _table_html(("snapshot", "as of (UTC)", "rows per table", "changes", "code", "manifest"), rows)
    body += (
        "<h2>Layout</h2><pre><code>snapshots/&lt;YYYY-MM-DD&gt;/   one complete snapshot (index.html, *.parquet, *.vot,"
        " moc/, tap/, raw/, manifest.json)\nlatest -&gt; snapshots/&lt;newest date&gt;</code></pre>"
    )
    out = root / INDEX
    tmp = root / f".{INDEX}.tmp"  # replaced in one rename: a reader never sees half a page
    tmp.write_text(_page("voharvest snapshots", header, body), encoding="utf-8")
    os.replace(tmp, out)
    return out


def manifest_json(manifest: Mapping[str, Any]) -> str:
    """The manifest as indented JSON (for debugging pages)."""
    return json.dumps(manifest, indent=1, sort_keys=True, default=str)
