"""Rebuild the *_reconstructed files of this directory from the real recordings next to it.

Two generations of listing reconstructions are built: the first (``schedule_reconstructed.*``,
named headers, no evidence: the ``*-named-legacy`` layouts) and the evidenced one
(``schedule_evidenced_reconstructed.*``: sources.md "Evidence of the live layouts", ids
33886144196, 33961128571, 38325047964, 8932510205, 34234265947, 5670910451 and
rubyvanrooyen/xsats ``readINTEGRALwebdata.py``). Tabular-layer cases (pre-1.3 VOTables with blank
cells, an ISDC-style VOTable) are rebuilt from real rows too.

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


# ------------------------------------------------------------------------ evidenced listing layout
#: Header texts of the evidenced layout are NOT known (only ``Rev`` is, from the HTML); these are
#: placeholders. The parser locates unmatched columns by their evidenced position.
EVIDENCED_HEADERS = [
    "Rev",
    "Start",
    "End",
    "Duration (s)",
    "Target",
    "RA",
    "Dec",
    "Pattern",
    "PI",
    "Proposal",
    "Observation",
    "",
]
#: Pattern ids of the ISOC pattern pages (38325047964: 5x5 -> 27271, HEX -> 93).
PATTERN_IDS = {"5x5": "27271", "HEX": "93"}


def _iso_ms(mjd: pd.Series) -> pd.Series:
    """``Y-m-d H:i:s.u`` with milliseconds (the digit count of the real CSV is not evidenced)."""
    ts = MJD_EPOCH + pd.to_timedelta(mjd.to_numpy(), unit="D")
    return pd.Series(ts.round("ms").strftime("%Y-%m-%d %H:%M:%S.%f")).str.slice(0, -3)


def _pattern(scw: pd.DataFrame) -> pd.Series:
    """``5x5`` where the pointings fill a dither grid (>= 20 distinct positions ~2 deg apart), else unknown."""
    pts = scw[scw["scw_type"] == "pointing"].dropna(subset=["obs_id"])
    distinct = pts.assign(p=pts["ra"].round(1).astype(str) + pts["dec"].round(1).astype(str))
    n = distinct.groupby("obs_id")["p"].nunique()
    return pd.Series(np.where(n >= 20, "5x5", ""), index=n.index)


def evidenced_rows() -> pd.DataFrame:
    """The 8 real observations of :func:`rows` in the evidenced 12-column order."""
    crab_scw = read_scw_table(CRAB.read_bytes(), str(CRAB))
    recent_scw = read_scw_table(LAST_MONTH.read_bytes(), str(LAST_MONTH))
    crab = aggregate_observations(crab_scw).assign(target="")
    crab["target"] = "Crab"
    recent = aggregate_observations(recent_scw).assign(target="")
    obs = pd.concat([crab, recent], ignore_index=True).sort_values("t_min", ignore_index=True)
    pattern = pd.concat([_pattern(crab_scw), _pattern(recent_scw)])
    ra = np.round(obs["ra"].to_numpy(), 4)
    dec = np.round(obs["dec"].to_numpy(), 4)
    return pd.DataFrame(
        {
            "rev": obs["rev"].astype(int).astype(str),
            "start": _iso_ms(obs["t_min"]),
            "end": _iso_ms(obs["t_max"]),
            "start_s": _iso(obs["t_min"]),
            "end_s": _iso(obs["t_max"]),
            "duration": np.round(obs["pointing_s"]).astype(int).astype(str),
            "target": obs["target"],
            "ra": _sex(ra, True),
            "dec": _sex(dec, False),
            "pattern": obs["obs_id"].map(pattern).fillna("").to_numpy(),
            "pi": obs["pi_name"].fillna(""),
            "proposal": obs["obs_id"].str.slice(0, 7),
            "observation": obs["obs_id"],
            "extra": "",
            "too": obs["obs_type"].fillna("").str.upper().eq("TOO").to_numpy(),
        }
    )


def evidenced_csv(frame: pd.DataFrame) -> str:
    """12 fields, every one double-quoted, header included (ids 33886144196, 38325047964)."""
    buf = io.StringIO()
    writer = csv.writer(buf, quoting=csv.QUOTE_ALL, lineterminator="\n")
    writer.writerow(EVIDENCED_HEADERS)
    writer.writerows(frame.drop(columns=["too", "start_s", "end_s"], errors="ignore").itertuples(index=False))
    return buf.getvalue()


def _td(value: str, cls: str = "") -> str:
    return f'<td class="{cls}">{html.escape(value)}</td>'


def evidenced_page(frame: pd.DataFrame, title: str) -> str:
    """The schedule as the last of three tables, one cell per line (the xsats script reads lines)."""
    lines = [
        "<!DOCTYPE html>",
        f"<html><head><title>INTEGRAL {html.escape(title)}</title></head><body>",
        '<table class="banner"><tr><td>INTEGRAL Science Operations Centre</td></tr></table>',
        '<form action="schedule.html"><table class="select">',
        '<tr><td>Start revolution</td><td><input name="startRevno" value="1"></td></tr>',
        '<tr><td>End revolution</td><td><input name="endRevno" value="2889"></td></tr>',
        "</table></form>",
        '<p>Download this schedule in csv-format <a href="schedule.html?action=schedule&amp;startRevno=1'
        '&amp;endRevno=2889&amp;reverseSort=&amp;format=csv">here</a></p>',
        '<table class="schedule">',
        "<tr>",
        *(f"<th>{html.escape(h)}</th>" for h in EVIDENCED_HEADERS),
        "</tr>",
    ]
    for r in frame.itertuples(index=False):
        start, end = r.start_s, r.end_s  # HTML times are whole seconds (rounded)
        lines.append("<tr>")
        lines += [_td(r.rev, "number "), _td(start), _td(end), _td(r.duration, "number ")]
        if r.too:
            lines += ['<td class="">', '\t<div class="too">', f"\t{html.escape(r.target)}", "\t</div>", "</td>"]
        else:
            lines.append(_td(r.target))
        lines += [_td(r.ra), _td(r.dec)]
        if r.pattern:
            link = f"schedule.html?action=pattern&amp;id={PATTERN_IDS[r.pattern]}&amp;revno={r.rev}"
            lines.append(f'<td class=""><a href="javascript:openPattern(\'{link}\')">{r.pattern}</a></td>')
        else:
            lines.append(_td(""))
        lines += [_td(r.pi), _td(r.proposal, "number "), _td(r.observation, "number "), _td(r.extra)]
        lines.append("</tr>")
    lines += ["</table>", "</body></html>", ""]
    return "\n".join(lines)


# ------------------------------------------------------------------ observations over revolutions
ISDC_3C273 = HERE / "integral_rev3_scw_3c273_274rows_rec2023.fits"


def multirev_rows() -> pd.DataFrame:
    """Per (observation, revolution) rows of the real ISDC 3c273 windows of revolutions 148-149."""
    scw = read_scw_table(ISDC_3C273.read_bytes(), str(ISDC_3C273))
    pts = scw[(scw["scw_type"] == "pointing") & scw["rev"].between(148, 149) & scw["obs_id"].notna()].copy()
    pts["_dur"] = (pts["end_date"] - pts["start_date"]) * 86_400.0
    pts["_x"] = np.cos(np.deg2rad(pts["dec"])) * np.cos(np.deg2rad(pts["ra"]))
    pts["_y"] = np.cos(np.deg2rad(pts["dec"])) * np.sin(np.deg2rad(pts["ra"]))
    pts["_z"] = np.sin(np.deg2rad(pts["dec"]))
    g = pts.groupby(["obs_id", "rev"], sort=True)
    agg = g.agg(
        t_min=("start_date", "min"),
        t_max=("end_date", "max"),
        dur=("_dur", "sum"),
        x=("_x", "mean"),
        y=("_y", "mean"),
        z=("_z", "mean"),
        pi=("pi_name", "first"),
    ).reset_index()
    # one position per observation (the listing gives the target's), the mean over all its parts
    pos = pts.groupby("obs_id")[["_x", "_y", "_z"]].mean()
    ra = np.rad2deg(np.arctan2(pos["_y"], pos["_x"])) % 360.0
    dec = np.rad2deg(np.arcsin(pos["_z"] / np.sqrt((pos**2).sum(axis=1))))
    agg = agg.sort_values("t_min", ignore_index=True)
    return pd.DataFrame(
        {
            "rev": agg["rev"].astype(str),
            "start": _iso_ms(agg["t_min"]),
            "end": _iso_ms(agg["t_max"]),
            "duration": np.round(agg["dur"]).astype(int).astype(str),
            "target": "",
            "ra": _sex(np.round(agg["obs_id"].map(ra).to_numpy(), 4), True),
            "dec": _sex(np.round(agg["obs_id"].map(dec).to_numpy(), 4), False),
            "pattern": "",
            "pi": agg["pi"].fillna(""),
            "proposal": agg["obs_id"].str.slice(0, 7),
            "observation": agg["obs_id"],
            "extra": "",
            "too": False,
        }
    )


# ------------------------------------------------------------------------------ tabular-layer cases
VOTABLE_7 = HERE / "intscw_7rows_votable_rec2022-03-31.xml"
BLANK_SCW = "228000160010"


def blank_isgri_votable() -> bytes:
    """The real 7-row HEASARC VOTable 1.0 with the GOOD_ISGRI cell of window 228000160010 emptied."""
    raw = VOTABLE_7.read_bytes()
    row = b"<TD>228000160010</TD><TD>001</TD><TD>pointing</TD><TD>public</TD><TD>Y</TD><TD>83.76971</TD>"
    old = row + b"<TD>22.02981</TD><TD>3539</TD><TD>3117</TD>"
    assert raw.count(old) == 1
    return raw.replace(old, row + b"<TD>22.02981</TD><TD>3539</TD><TD></TD>")


def blank_isgri_fits() -> bytes:
    """The real Crab FITS (ASCII table) with the same GOOD_ISGRI field blanked (its TNULL is blanks)."""
    raw = bytearray(CRAB.read_bytes())
    from astropy.io import fits

    with fits.open(io.BytesIO(bytes(raw))) as hdul:
        hdu = hdul[1]
        hdr = hdu.header
        k = [hdr[f"TTYPE{i}"].strip() for i in range(1, hdr["TFIELDS"] + 1)].index("GOOD_ISGRI") + 1
        width = int(hdr[f"TFORM{k}"].strip()[1:])
        ids = [bytes(v).decode().strip() if isinstance(v, bytes) else str(v).strip() for v in hdu.data["SCW_ID"]]
        row = ids.index(BLANK_SCW)
        at = hdu.fileinfo()["datLoc"] + row * hdr["NAXIS1"] + hdr[f"TBCOL{k}"] - 1
        assert hdr[f"TNULL{k}"] == " " * width or hdr[f"TNULL{k}"].strip() == ""
    raw[at : at + width] = b" " * width
    return bytes(raw)


def isdc_votable() -> bytes:
    """Real ISDC 3c273 rows (revolutions 28-32, 140-160 and every shared window) as an ISDC-style VOTable 1.1.

    As ISDC serves them (sources.md / issue 11): blank lines before the XML declaration, every
    FIELD declared ``int`` (the FITS form declares every column ``I``), values written as text.
    Cells are the stripped FITS fields; a blank field is an empty ``<TD></TD>``.
    """
    from scrapers.tabular import read_fits_cells

    cells = read_fits_cells(ISDC_3C273.read_bytes(), source="build", url=str(ISDC_3C273))
    rev = cells["scw_id"].str.slice(0, 4).astype(int)
    keep = rev.between(28, 32) | rev.between(140, 160) | cells["obs_id"].fillna("").str.contains(",")
    cells = cells[keep.to_numpy()]
    names = [c.upper() for c in cells.columns]
    lines = [
        "",
        "",
        "   " + '<?xml version="1.0" encoding="UTF-8"?>',
        '<VOTABLE version="1.1" xmlns="http://www.ivoa.net/xml/VOTable/v1.1">',
        "<RESOURCE>",
        "<TABLE>",
        *(f'<FIELD name="{n}" datatype="int"/>' for n in names),
        "<DATA>",
        "<TABLEDATA>",
    ]
    for row in cells.itertuples(index=False):
        tds = "".join(f"<TD>{html.escape(v) if v is not None else ''}</TD>" for v in row)
        lines.append(f"<TR>{tds}</TR>")
    lines += ["</TABLEDATA>", "</DATA>", "</TABLE>", "</RESOURCE>", "</VOTABLE>", ""]
    return "\n".join(lines).encode("utf-8")


if __name__ == "__main__":
    listing = rows()
    (HERE / "schedule_reconstructed.html").write_text(page(listing, "Executed revolutions"), encoding="utf-8")
    (HERE / "schedule_reconstructed.csv").write_text(as_csv(listing), encoding="utf-8")
    empty = listing.iloc[0:0]
    (HERE / "schedule_empty_reconstructed.html").write_text(page(empty, "Future revolutions"), encoding="utf-8")
    (HERE / "schedule_empty_reconstructed.csv").write_text(as_csv(empty), encoding="utf-8")
    tap_votable(LAST_MONTH).to_xml(str(HERE / "intscw_tap_2024-04-27_reconstructed.vot"))
    evidenced = evidenced_rows()
    (HERE / "schedule_evidenced_reconstructed.csv").write_text(evidenced_csv(evidenced), encoding="utf-8")
    (HERE / "schedule_evidenced_reconstructed.html").write_text(
        evidenced_page(evidenced, "Schedule for revolutions 1 - 2889"), encoding="utf-8"
    )
    (HERE / "schedule_multirev_3c273_reconstructed.csv").write_text(evidenced_csv(multirev_rows()), encoding="utf-8")
    (HERE / "intscw_7rows_blank_isgri_reconstructed.xml").write_bytes(blank_isgri_votable())
    (HERE / "intscw_Crab_11rows_blank_isgri_reconstructed.fits").write_bytes(blank_isgri_fits())
    (HERE / "integral_rev3_scw_3c273_isdc_votable_reconstructed.xml").write_bytes(isdc_votable())
