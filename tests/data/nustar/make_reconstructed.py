"""Build the *_reconstructed.* NuSTAR files of this directory from the real recorded rows beside them.

Run from the project root: ``.venv/bin/python tests/data/nustar/make_reconstructed.py``. Deterministic:
re-running rewrites identical bytes. What each file holds and how it was built is in PROVENANCE.md;
no raw Schedule.php page or TAP answer was available, so these files put real rows into the
documented layouts (sources.md).
"""

from __future__ import annotations

import datetime as dt
import html
import io
import pathlib

import numpy as np
import pandas as pd
from astropy.io.votable.tree import Info, VOTableFile
from astropy.table import Table

HERE = pathlib.Path(__file__).parent
SHORT_2025 = HERE / "short_range_rows_2025-09_pandas.csv"
NUMASTER_ASCII = HERE / "numaster_6rows_2025-05.ascii"

#: Columns the numaster ADQL of scrapers.nustar selects (a TAP answer holds exactly these).
NUMASTER_COLUMNS = [
    "obsid",
    "name",
    "ra",
    "dec",
    "time",
    "end_time",
    "exposure_a",
    "ontime_a",
    "observation_mode",
    "status",
    "obs_type",
    "cycle",
    "coordinated",
    "comments",
]

#: The 2017 rows quoted in sources.md (from a Schedule.php page of that year).
ROWS_2017 = [
    ("2017:281:19:05:02", "2017:283:00:30:00", "90201021006", "Kepler", "262.671620", "-21.491957", "60.6", "DDT"),
    (
        "2017:283:01:11:23",
        "2017:283:02:40:00",
        "90311211001",
        "Sol_17282_AR2683_POS11",
        "195.15715",
        "-6.38520",
        "3.4",
        "ToO",
    ),
    (
        "2017:285:21:20:06",
        "2017:286:08:20:00",
        "30302020004",
        "GRS_1915p105",
        "288.79813",
        "10.94578",
        "21.9",
        "(2/4) coordinated with XMM and VLT",
    ),
    ("2017:287:15:50:11", "2017:288:03:20:00", "60368001002", "NGC_1144", "43.80083", "-0.18361", "22.0", ""),
    (
        "2017:288:23:30:08",
        "2017:290:05:45:00",
        "30301026002",
        "AX_J1841d0m0536",
        "280.25179",
        "-5.59625",
        "59.7",
        "phase constrained",
    ),
]


def monday_of(doy_time: str) -> str:
    """ISO date of the Monday of the week holding a ``YYYY:DDD:...`` time."""
    day = dt.datetime.strptime(doy_time[:8], "%Y:%j").replace(tzinfo=dt.UTC).date()
    return (day - dt.timedelta(days=day.weekday())).isoformat()


def doy(mjd: float) -> str:
    """``YYYY:DDD:HH:MM:SS`` (UTC) of an MJD, rounded to the second."""
    t = pd.Timestamp("1858-11-17", tz="UTC") + pd.to_timedelta(round(mjd * 86400), unit="s")
    return t.strftime("%Y:%j:%H:%M:%S")


def table_html(headers: list[str], rows: list[tuple[str, ...]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "\n".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f'<table border="1" cellpadding="2">\n<tr>{head}</tr>\n{body}\n</table>'


def page(title: str, short_headers, short_rows, long_headers, long_rows, exp_unit: str) -> str:
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{title}</title></head>
<body>
<h1>NuSTAR Observatory Schedule</h1>
<h2>Short Range Observatory Schedule</h2>
<p>obs_start, obs_end - start and end of the on-target period (UTC, YYYY:DDD:HH:MM:SS);
sequenceID - observation sequence identifier; J2000 coordinates in degrees;
Exp - Approximate exposure time ({exp_unit})</p>
{table_html(short_headers, short_rows)}
<h2>Long Range Observatory Schedule</h2>
<p>Date - Monday of the week in which the observation is planned to start; Exp - exposure goal ({exp_unit})</p>
{table_html(long_headers, long_rows)}
</body></html>
"""


def numaster_table() -> Table:
    t = Table.read(NUMASTER_ASCII, format="ascii.basic")
    out = Table()
    for name in NUMASTER_COLUMNS:
        col = t[name]
        if name == "obsid":
            out[name] = np.array([f"{int(v):011d}" for v in col], dtype=object)
        elif name in ("coordinated", "comments", "obs_type", "name", "observation_mode", "status"):
            values = [("" if np.ma.is_masked(v) else str(v)) for v in col]
            out[name] = np.array(values, dtype=object)
        else:
            out[name] = col
    return out


def write_numaster_vot(path: pathlib.Path) -> None:
    vot = VOTableFile.from_table(numaster_table())
    vot.resources[0].type = "results"
    vot.resources[0].infos.append(Info(name="QUERY_STATUS", value="OK"))
    buf = io.BytesIO()
    vot.to_xml(buf, tabledata_format="tabledata")
    path.write_bytes(buf.getvalue())


def main() -> None:
    # 2025-09: the 4 real short-range rows; long range = the same observations on their Mondays
    # plus three later-week rows of real targets (sequence IDs NOT recorded: next segment numbers).
    short = pd.read_csv(SHORT_2025, dtype=str, keep_default_na=False)
    short_rows = [tuple(r) for r in short.itertuples(index=False)]
    long_rows = [(monday_of(r[0]), r[2], r[3], r[4], r[5], r[6], r[7]) for r in short_rows]
    long_rows += [
        ("2025-09-22", "31002031017", "GX_1p4", "263.0411", "-24.7155", "20.0", "N10 coordinated with NICER"),
        ("2025-09-29", "31101012006", "3XMM_J181923d7m17061", "274.84904", "-17.10439", "58.9", ""),
        ("2025-10-06", "60061081004", "RBS707", "128.0422", "37.0936", "20.0", "EGS"),
    ]
    new_short = ["obs_start", "obs_end", "sequenceID", "Name", "J2000 RA", "J2000 Dec", "Exp", "Notes"]
    new_long = ["Date", "sequenceID", "Name", "J2000 RA", "J2000 Dec", "Exp", "Notes"]
    (HERE / "schedule_2025-09_reconstructed.html").write_text(
        page("NuSTAR Schedule", new_short, short_rows, new_long, long_rows, "ks"), encoding="utf-8"
    )

    # ObsLoc |-delimited text of the same 2025-09 short-range rows.
    lines = [
        "obs_start|obs_end|sequenceID|Name|J2000_RA|J2000_Dec|Exp|Notes",
        "UTC|UTC|-|-|deg|deg|ks|-",
        "char|char|char|char|double|double|double|char",
    ]
    lines += ["|".join(r) for r in short_rows]
    (HERE / "obsloc_short_range_2025-09_reconstructed.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")

    # 2017: the 5 rows of sources.md with the old header; long range lists the three non-ToO/DDT
    # observations on the Monday of their week (same sequence IDs).
    old_short = ["obs_start", "obs_end", "sequenceID", "Name", "J2000_RA", "J2000_Dec", "Exp", "Notes"]
    old_long = ["Date", "sequenceID", "Name", "J2000_RA", "J2000_Dec", "Exp", "Notes"]
    long_2017 = [(monday_of(r[0]), *r[2:]) for r in ROWS_2017 if r[7] not in ("DDT", "ToO")]
    (HERE / "schedule_2017-10_reconstructed.html").write_text(
        page("NuSTAR Schedule", old_short, ROWS_2017, old_long, long_2017, "ksec"), encoding="utf-8"
    )

    # numaster TAP answer: the 6 recorded rows, the ADQL's columns, lower-case names, obsid as text.
    write_numaster_vot(HERE / "numaster_2025-05_reconstructed.vot")

    # 2025-05: a short-range page built from the numaster SCIENCE rows (minus the 153 s STELLAR
    # segment): times from time/end_time, Exp = ontime_a in ks (0.1 ks), notes from 'coordinated'.
    nm = numaster_table().to_pandas()
    sci = nm[(nm["observation_mode"] == "SCIENCE") & (nm["exposure_a"] > 1000)].sort_values("time")
    may_rows = [
        (
            doy(r.time),
            doy(r.end_time),
            r.obsid,
            r.name,
            f"{r.ra:.4f}",
            f"{r.dec:.4f}",
            f"{r.ontime_a / 1000:.1f}",
            f"coordinated with {r.coordinated}" if r.coordinated else "",
        )
        for r in sci.itertuples(index=False)
    ]
    may_long = [(monday_of(r[0]), *r[2:]) for r in may_rows]
    (HERE / "schedule_2025-05_reconstructed.html").write_text(
        page("NuSTAR Schedule", new_short, may_rows, new_long, may_long, "ks"), encoding="utf-8"
    )


if __name__ == "__main__":
    main()
