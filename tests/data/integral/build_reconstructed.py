"""Rebuild the *_reconstructed files of this directory from the real recordings next to it.

Run once by hand (``.venv/bin/python tests/data/integral/build_reconstructed.py``); tests only read
the outputs. No raw ISOC listing could be obtained, so the listings are rebuilt in the layout
documented in sources.md from real observations: science windows of the HEASARC intscw recordings
aggregated by OBS_ID (see PROVENANCE.md for every choice).
"""

from __future__ import annotations

import csv
import html
import io
import pathlib

import numpy as np
import pandas as pd
from astropy.io.votable.tree import Field, Resource, TableElement, VOTableFile

from models.timeutil import MJD_EPOCH
from scrapers.integral import aggregate_observations, read_scw_table

HERE = pathlib.Path(__file__).parent
CRAB = HERE / "intscw_Crab_11rows_rec2024-05-27.fits"
LAST_MONTH = HERE / "intscw_last-month_177rows_rec2024-05-27.fits"

HEADERS = [
    "Rev",
    "Start time (UTC)",
    "End time (UTC)",
    "Exp. time (s)",
    "Target",
    "RA (J2000)",
    "Dec (J2000)",
    "RA (deg)",
    "Dec (deg)",
    "PI",
    "Proposer",
    "Observation",
]


def _iso(mjd: pd.Series) -> pd.Series:
    return (MJD_EPOCH + pd.to_timedelta(mjd.to_numpy(), unit="D")).round("s").strftime("%Y-%m-%d %H:%M:%S")


def _sex(value: np.ndarray, hours: bool) -> list[str]:
    v = value / 15.0 if hours else value
    sign = np.where(v < 0, "-", "" if hours else "+")
    a = np.abs(v)
    d = np.floor(a)
    m = np.floor((a - d) * 60)
    s = (a - d - m / 60) * 3600
    prec = 2 if hours else 1
    return [
        f"{sg}{int(dd):02d} {int(mm):02d} {ss:0{3 + prec}.{prec}f}"
        for sg, dd, mm, ss in zip(sign, d, m, s, strict=True)
    ]


def rows() -> pd.DataFrame:
    """One listing row per real observation of the two intscw recordings."""
    crab = aggregate_observations(read_scw_table(CRAB.read_bytes(), str(CRAB))).assign(target="Crab")
    recent = aggregate_observations(read_scw_table(LAST_MONTH.read_bytes(), str(LAST_MONTH))).assign(target="")
    obs = pd.concat([crab, recent], ignore_index=True).sort_values("t_min", ignore_index=True)
    ra = np.round(obs["ra"].to_numpy(), 4)
    dec = np.round(obs["dec"].to_numpy(), 4)
    return pd.DataFrame(
        {
            "Rev": obs["rev"].astype(int).astype(str),
            "Start time (UTC)": _iso(obs["t_min"]),
            "End time (UTC)": _iso(obs["t_max"]),
            "Exp. time (s)": np.round(obs["pointing_s"]).astype(int).astype(str),
            "Target": obs["target"],
            "RA (J2000)": _sex(ra, True),
            "Dec (J2000)": _sex(dec, False),
            "RA (deg)": [f"{v:.4f}" for v in ra],
            "Dec (deg)": [f"{v:.4f}" for v in dec],
            "PI": obs["pi_name"],
            "Proposer": "",
            "Observation": obs["obs_id"].str.slice(0, 7) + " / " + obs["obs_id"].str.slice(7),
        }
    )[HEADERS]


def page(frame: pd.DataFrame, title: str) -> str:
    """The listing in the documented layout (header row of <th>, one <tr> per observation)."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in HEADERS)
    body = "\n".join(
        "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in r) + "</tr>" for r in frame.itertuples(index=False)
    )
    return (
        f"<!DOCTYPE html>\n<html><head><title>INTEGRAL {title}</title></head><body>\n<h2>{title}</h2>\n"
        '<p><a href="schedule.html?format=csv">in csv-format</a></p>\n'
        f'<table border="1">\n<tr>{head}</tr>\n{body}\n</table>\n</body></html>\n'
    )


def as_csv(frame: pd.DataFrame) -> str:
    """The CSV form: same header texts, RFC 4180 quoting."""
    buf = io.StringIO()
    frame.to_csv(buf, index=False, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
    return buf.getvalue()


def tap_votable(path: pathlib.Path) -> VOTableFile:
    """The real science windows of a HEASARC FITS recording as a TAP answer (lower-case columns)."""
    scw = read_scw_table(path.read_bytes(), str(path))
    spec = [
        ("scw_id", "char"),
        ("scw_type", "char"),
        ("ra", "double"),
        ("dec", "double"),
        ("start_date", "double"),
        ("end_date", "double"),
        ("obs_id", "char"),
        ("obs_type", "char"),
        ("pi_name", "char"),
        ("good_spi", "int"),
        ("good_isgri", "int"),
        ("good_picsit", "int"),
        ("good_jemx1", "int"),
        ("good_jemx2", "int"),
        ("good_omc", "int"),
    ]
    vot = VOTableFile()
    res = Resource()
    vot.resources.append(res)
    table = TableElement(vot)
    res.tables.append(table)
    table.fields.extend(
        Field(vot, name=n, datatype=t, arraysize="*" if t == "char" else None, unit=_unit(n)) for n, t in spec
    )
    table.create_arrays(len(scw))
    for i in range(len(scw)):
        row = []
        for n, t in spec:
            v = scw[n].iloc[i]
            if t == "char":
                row.append("" if v is None else str(v))
            elif t == "int":
                row.append(int(v))
            else:
                row.append(float(v))
        table.array[i] = tuple(row)
    return vot


def _unit(name: str) -> str | None:
    if name in ("ra", "dec"):
        return "deg"
    if name.endswith("_date"):
        return "d"
    return "s" if name.startswith("good_") else None


if __name__ == "__main__":
    listing = rows()
    (HERE / "schedule_reconstructed.html").write_text(page(listing, "Executed revolutions"), encoding="utf-8")
    (HERE / "schedule_reconstructed.csv").write_text(as_csv(listing), encoding="utf-8")
    empty = listing.iloc[0:0]
    (HERE / "schedule_empty_reconstructed.html").write_text(page(empty, "Future revolutions"), encoding="utf-8")
    (HERE / "schedule_empty_reconstructed.csv").write_text(as_csv(empty), encoding="utf-8")
    tap_votable(LAST_MONTH).to_xml(str(HERE / "intscw_tap_2024-04-27_reconstructed.vot"))
