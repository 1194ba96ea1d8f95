"""Rebuild the *_reconstructed files of this directory from the real pandas CSV next to it.

Run once by hand (``.venv/bin/python tests/data/xmm/build_reconstructed.py``); tests only read the
outputs. See PROVENANCE.md for what is real and what is reconstructed.
"""

from __future__ import annotations

import html
import pathlib

import numpy as np
import pandas as pd
from astropy.io.votable.tree import Field, Resource, TableElement, VOTableFile

HERE = pathlib.Path(__file__).parent
CSV = HERE / "short_term_schedule_rows_rev4714_pandas.csv"

HEADERS = [
    "Revn #",
    "Obs Id.",
    "Target Name",
    "RA hh:mm:ss",
    "DEC dd:mm:ss",
    "PA ddd.dd",
    "UTC Obs Start yyyy-mm-dd hh:mm:ss",
    "UTC Obs End yyyy-mm-dd hh:mm:ss",
    "Prime Instr.",
    "PN Dur Ks",
    "MOS1 Dur. Ks",
    "MOS2 Dur. Ks",
    "RGS1 Dur. Ks",
    "RGS2 Dur. Ks",
    "OM Dur. Ks",
    "PI",
]


def rows() -> pd.DataFrame:
    """The five real rows as text, Obs Id. restored to its 10 digits."""
    frame = pd.read_csv(CSV, dtype=str, keep_default_na=False, index_col=0)
    frame["Obs Id."] = frame["Obs Id."].str.zfill(10)
    return frame[HEADERS]


def page(frame: pd.DataFrame) -> str:
    """The schedule table in the documented layout (header row of <th>, one <tr> per observation)."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in HEADERS)
    body = "\n".join(
        "<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in row) + "</tr>" for row in frame.itertuples(index=False)
    )
    return (
        "<!DOCTYPE html>\n<html><head><title>XMM-Newton Short Term Schedule</title></head><body>\n"
        "<h2>XMM-Newton Short Term Schedule</h2>\n"
        f'<table border="1">\n<tr>{head}</tr>\n{body}\n</table>\n</body></html>\n'
    )


def master(frame: pd.DataFrame, indexes: list[int]) -> VOTableFile:
    """xmmmaster-like TAP answer: the given schedule rows as observed, times and durations from the page."""
    sel = frame.iloc[indexes]
    start = pd.to_datetime(sel["UTC Obs Start yyyy-mm-dd hh:mm:ss"], utc=True)
    end = pd.to_datetime(sel["UTC Obs End yyyy-mm-dd hh:mm:ss"], utc=True)
    epoch = pd.Timestamp("1858-11-17", tz="UTC")
    t0 = ((start - epoch).dt.total_seconds() / 86400).to_numpy()
    t1 = ((end - epoch).dt.total_seconds() / 86400).to_numpy()

    def ks(col: str) -> np.ndarray:
        return sel[col].str.strip("() ").astype(float).to_numpy() * 1000

    def deg(col: str, hours: bool) -> np.ndarray:
        parts = sel[col].str.extract(r"([+-]?)(\d+):(\d+):(\d+)")
        v = parts[1].astype(float) + parts[2].astype(float) / 60 + parts[3].astype(float) / 3600
        v = np.where(parts[0] == "-", -v, v)
        return np.round(v * (15 if hours else 1), 5)

    vot = VOTableFile()
    res = Resource()
    vot.resources.append(res)
    table = TableElement(vot)
    res.tables.append(table)
    spec = [
        ("obsid", "char", "*", None),
        ("name", "char", "*", None),
        ("ra", "double", None, "deg"),
        ("dec", "double", None, "deg"),
        ("time", "double", None, "d"),
        ("end_time", "double", None, "d"),
        ("duration", "double", None, "s"),
        ("pn_time", "double", None, "s"),
        ("mos1_time", "double", None, "s"),
        ("mos2_time", "double", None, "s"),
        ("rgs1_time", "double", None, "s"),
        ("rgs2_time", "double", None, "s"),
        ("om_time", "double", None, "s"),
        ("status", "char", "*", None),
        ("xmm_revolution", "int", None, None),
    ]
    table.fields.extend(Field(vot, name=n, datatype=t, arraysize=a, unit=u) for n, t, a, u in spec)
    table.create_arrays(len(sel))
    cols = {
        "obsid": sel["Obs Id."].to_numpy(),
        "name": sel["Target Name"].to_numpy(),
        "ra": deg("RA hh:mm:ss", True),
        "dec": deg("DEC dd:mm:ss", False),
        "time": t0,
        "end_time": t1,
        "duration": np.round((t1 - t0) * 86400),
        "pn_time": ks("PN Dur Ks"),
        "mos1_time": ks("MOS1 Dur. Ks"),
        "mos2_time": ks("MOS2 Dur. Ks"),
        "rgs1_time": ks("RGS1 Dur. Ks"),
        "rgs2_time": ks("RGS2 Dur. Ks"),
        "om_time": ks("OM Dur. Ks"),
        "status": np.array(["observed"] * len(sel)),
        "xmm_revolution": sel["Revn #"].astype(int).to_numpy(),
    }
    for i in range(len(sel)):
        table.array[i] = tuple(cols[n][i] for n, *_ in spec)
    return vot


if __name__ == "__main__":
    f = rows()
    (HERE / "short_term_schedule_rev4714_reconstructed.html").write_text(page(f), encoding="utf-8")
    master(f, [3, 4]).to_xml(str(HERE / "xmmmaster_rev4714_reconstructed.vot"))
