"""Rebuild the *_reconstructed files of this directory from the real pandas CSV next to it.

Run once by hand (``.venv/bin/python tests/data/xmm/build_reconstructed.py``); tests only read the
outputs. See PROVENANCE.md for what is real and what is reconstructed. The evidence page
(``*_brunits_reconstructed.html``) is also the bundled recording (``recordings/xmm_newton/``).
"""

from __future__ import annotations

import csv
import html
import io
import pathlib

import numpy as np
import pandas as pd
from astropy.io.votable.tree import Field, Resource, TableElement, VOTableFile

from models.coords import parse_dec, parse_ra

HERE = pathlib.Path(__file__).parent
CSV = HERE / "short_term_schedule_rows_rev4714_pandas.csv"
RECORDINGS = HERE.parent.parent.parent / "recordings" / "xmm_newton"

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


#: Header cells of the evidence page: the unit on a second line (``Label<BR>unit``) where the
#: evidence shows it (id 40802067601 reads RAhh:mm:ss, DECdd:mm:ss, UTC Obs Start/End
#: yyyy-mm-dd hh:mm:ss); the other labels as NASA-ACROSS reads them (sources.md).
BR_HEADERS = [h.replace(" hh:mm:ss", "<BR>hh:mm:ss").replace(" dd:mm:ss", "<BR>dd:mm:ss") for h in HEADERS]
BR_HEADERS = [h.replace(" yyyy-mm-dd<BR>hh:mm:ss", "<BR>yyyy-mm-dd hh:mm:ss") for h in BR_HEADERS]


def br_page(frame: pd.DataFrame) -> str:
    """The schedule as the evidence shows it: ``Label<BR>unit`` headers, ``<TR ALIGN=CENTER >`` rows with
    one ``<TD>`` per line (id 34337503711), the obs id inside an ``<A>`` (id 34455471219).

    The link target is not evidenced: a same-page fragment stands in for it.
    """
    head = "\n".join(f"<TH>{h}</TH>" for h in BR_HEADERS)
    rows = []
    for row in frame.itertuples(index=False):
        cells = [html.escape(v) for v in row]
        cells[1] = f'<A HREF="#{cells[1]}">{cells[1]}</A>'
        rows.append("<TR ALIGN=CENTER >\n" + "\n".join(f"<TD>{c}</TD>" for c in cells) + "\n</TR>")
    return (
        "<HTML>\n<HEAD><TITLE>XMM-Newton Short Term Schedule</TITLE></HEAD>\n<BODY>\n"
        f"<TABLE BORDER=1>\n<TR>\n{head}\n</TR>\n" + "\n".join(rows) + "\n</TABLE>\n</BODY>\n</HTML>\n"
    )


def export_csv(frame: pd.DataFrame) -> str:
    """The rows as a plain CSV with the page's labels (the SOC's CSV export; its dialect is unverified)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADERS)
    writer.writerows(frame.itertuples(index=False))
    return out.getvalue()


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
        return np.round((parse_ra if hours else parse_dec)(sel[col]), 5)

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
    evidence = br_page(f)
    (HERE / "short_term_schedule_rev4714_brunits_reconstructed.html").write_text(evidence, encoding="utf-8")
    (RECORDINGS / "short_term_schedule_rev4714_brunits_reconstructed.html").write_text(evidence, encoding="utf-8")
    (HERE / "short_term_schedule_rev4714_export_reconstructed.csv").write_text(export_csv(f), encoding="utf-8")
    master(f, [3, 4]).to_xml(str(HERE / "xmmmaster_rev4714_reconstructed.vot"))
