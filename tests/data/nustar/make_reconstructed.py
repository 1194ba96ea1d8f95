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
from astropy.time import Time

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


#: Text of the Schedule.php page as the stored renderings show it (sources.md NuSTAR evidence).
INTRO = (
    "This is the confirmed schedule of NuSTAR observations. This sequence of observations has been uploaded to "
    "the spacecraft and will execute autonomously unless interrupted by a new schedule, Target of Opportunity, or "
    "instrument and spacecraft anomalies. This schedule will cover various time ranges depending on the exposure "
    "time goal of the observations, but will usually be for a period of at least one week."
)
TIMES = (
    "The times reported here are the start and end of the on-target period (day of year UTC). The estimated "
    "exposure time takes into account Earth occultation and the SAA passage time where detector background is "
    "increased. The end time of the observation is the start of the slew to the next target. Please examine the "
    "NuSTAR As-Flown Timeline (AFT) for the log of past observations."
)
OBSLOC_PARAGRAPH = (
    "This schedule is also available above as a csv file in the IVOA Observation Locator Access Protocol (ObsLoc) "
    "format currently under development. The first three rows in the csv file list the Column Name, Unit, and "
    "Type. Note that columns are delimited by a '|' symbol and that many of the fields have NULL values or values "
    "specific to the NuSTAR observatory and instruments."
)
LONG_INTRO = (
    "This is the latest NuSTAR long-term schedule. Observations have been sorted into one-week intervals, taking "
    "into account Sun, Moon, required exposure time, and other constraints. So the date is the Monday of the week "
    "in which the observation is scheduled to begin."
)
#: GUESS (no rendering shows the link target): the href of the ObsLoc file "above" the short-range table.
OBSLOC_HREF = "ObsLoc/NuSTAR_ObsLoc_short_range.txt"


def explanations(ra: str, dec: str, exp_unit: str) -> str:
    """The 'Table Header Explanations' block: verbatim item texts of the 2015-2018 renderings."""
    items = [
        "obs_start - Observation start time (UTC)",
        "obs_end - Observation end (UTC)",
        "sequenceID - Observation ID",
        "Name - Target name",
        f"{ra} - J2000 epoch Right Ascension (degrees)",
        f"{dec} - J2000 epoch Declination (degrees)",
        f"Exp - Approximate exposure time ({exp_unit})",
        "Notes - Observation notes",
    ]
    return "<p><b>Table Header Explanations</b> " + "<br>\n".join(html.escape(i) for i in items) + "</p>"


def explained_page(
    short_headers, short_rows, long_headers, long_rows, exp_unit: str, example_monday: str, with_obsloc: bool
) -> str:
    """Schedule.php as the renderings show it: heading, intro, explanation block, then the table."""
    ra, dec = short_headers[4], short_headers[5]
    link = f' <a href="{OBSLOC_HREF}">csv</a>' if with_obsloc else ""
    obsloc = f"<p>{html.escape(OBSLOC_PARAGRAPH)}</p>\n" if with_obsloc else ""
    next_monday = (dt.date.fromisoformat(example_monday) + dt.timedelta(days=7)).isoformat()
    example = (
        f"E.g. An observation with a date {example_monday} in this table is scheduled to have the observation "
        f"starting sometime between {example_monday} 0000Z and {next_monday} 0000Z."
    )
    return f"""<!DOCTYPE html>
<html><head><title>NuSTAR Observing schedules</title></head>
<body>
<h1>Observing schedules</h1>
<h2>Short Range Observatory Schedule{link}</h2>
<p>{html.escape(INTRO)}</p>
<p>{html.escape(TIMES)}</p>
{obsloc}{explanations(ra, dec, exp_unit)}
{table_html(short_headers, short_rows)}
<h2>Long Range Observatory Schedule</h2>
<p>{html.escape(LONG_INTRO)}</p>
<p>{html.escape(example)}</p>
{table_html(long_headers, long_rows)}
</body></html>
"""


def yday_mjd(doy_time: str) -> float:
    """UTC MJD of a ``YYYY:DDD:HH:MM:SS`` time by astropy (format ``yday``)."""
    return float(Time(doy_time, format="yday", scale="utc").mjd)


#: ObsLocTAP 1.0 columns (shared/spec/obsloctap.md) with their unit and type; NULL where unitless.
OBSLOC_TAP = [
    ("t_planning", "d", "double"),
    ("target_name", "NULL", "char"),
    ("obs_id", "NULL", "char"),
    ("obs_collection", "NULL", "char"),
    ("s_ra", "deg", "double"),
    ("s_dec", "deg", "double"),
    ("s_fov", "deg", "double"),
    ("s_region", "NULL", "char"),
    ("s_resolution", "arcsec", "double"),
    ("t_min", "d", "double"),
    ("t_max", "d", "double"),
    ("t_exptime", "s", "double"),
    ("t_resolution", "s", "double"),
    ("em_min", "m", "double"),
    ("em_max", "m", "double"),
    ("em_res_power", "NULL", "double"),
    ("o_ucd", "NULL", "char"),
    ("pol_states", "NULL", "char"),
    ("pol_xel", "NULL", "int"),
    ("facility_name", "NULL", "char"),
    ("instrument_name", "NULL", "char"),
    ("t_plan_exptime", "s", "double"),
    ("category", "NULL", "char"),
    ("priority", "NULL", "int"),
    ("execution_status", "NULL", "char"),
    ("tracking_type", "NULL", "char"),
]


def obsloc_tap_text(rows: list[tuple[str, ...]]) -> str:
    """The ObsLoc file: names, units, types rows, then one row per page row; NULL where the page has nothing."""
    lines = ["|".join(c[0] for c in OBSLOC_TAP), "|".join(c[1] for c in OBSLOC_TAP), "|".join(c[2] for c in OBSLOC_TAP)]
    for start, end, seq, name, ra, dec, exp, _notes in rows:
        value = {
            "target_name": name,
            "obs_id": seq,
            "s_ra": ra,
            "s_dec": dec,
            "t_min": f"{yday_mjd(start):.8f}",
            "t_max": f"{yday_mjd(end):.8f}",
            "facility_name": "NuSTAR",
            "t_plan_exptime": f"{float(exp) * 1000:.1f}",
            "execution_status": "Scheduled",
        }
        lines.append("|".join(value.get(c[0], "NULL") for c in OBSLOC_TAP))
    return "\n".join(lines) + "\n"


def sr_schedule_text(rows: list[tuple[str, ...]], generated_on: str) -> str:
    """The older whitespace-delimited sr-schedule.txt: 13 header lines incl. 'Generated on:', then rows."""
    header = [
        "NuSTAR Short Range Observatory Schedule",
        f"Generated on: {generated_on}",
        "Table Header Explanations",
        "obs_start - Observation start time (UTC)",
        "obs_end - Observation end (UTC)",
        "sequenceID - Observation ID",
        "Name - Target name",
        "J2000_RA - J2000 epoch Right Ascension (degrees)",
        "J2000_Dec - J2000 epoch Declination (degrees)",
        "Exp - Approximate exposure time (ksec)",
        "Notes - Observation notes",
        "obs_start          obs_end            sequenceID   Name                    "
        "J2000_RA    J2000_Dec   Exp    Notes",
        "-" * 110,
    ]
    body = [f"{r[0]}  {r[1]}  {r[2]}  {r[3]:<22}  {r[4]:<10}  {r[5]:<10}  {r[6]:<5}  {r[7]}".rstrip() for r in rows]
    return "\n".join(header + body) + "\n"


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
    (HERE / "schedule_2025-09_plain_reconstructed.html").write_text(
        page("NuSTAR Schedule", new_short, short_rows, new_long, long_rows, "ks"), encoding="utf-8"
    )

    # ObsLoc |-delimited text of the same 2025-09 short-range rows.
    lines = [
        "obs_start|obs_end|sequenceID|Name|J2000_RA|J2000_Dec|Exp|Notes",
        "UTC|UTC|-|-|deg|deg|ks|-",
        "char|char|char|char|double|double|double|char",
    ]
    lines += ["|".join(r) for r in short_rows]
    (HERE / "obsloc_page_columns_2025-09_reconstructed.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")

    # 2017: the 5 rows of sources.md with the old header; long range lists the three non-ToO/DDT
    # observations on the Monday of their week (same sequence IDs).
    old_short = ["obs_start", "obs_end", "sequenceID", "Name", "J2000_RA", "J2000_Dec", "Exp", "Notes"]
    old_long = ["Date", "sequenceID", "Name", "J2000_RA", "J2000_Dec", "Exp", "Notes"]
    long_2017 = [(monday_of(r[0]), *r[2:]) for r in ROWS_2017 if r[7] not in ("DDT", "ToO")]
    (HERE / "schedule_2017-10_reconstructed.html").write_text(
        page("NuSTAR Schedule", old_short, ROWS_2017, old_long, long_2017, "ksec"), encoding="utf-8"
    )

    # Evidence-following pages (sources.md "Evidence of the live layouts", NuSTAR): heading, intro, the
    # "Table Header Explanations" block, then the table.
    (HERE / "schedule_2017-10_explained_reconstructed.html").write_text(
        explained_page(old_short, ROWS_2017, old_long, long_2017, "ksec", "2017-10-09", with_obsloc=False),
        encoding="utf-8",
    )
    (HERE / "schedule_2025-09_reconstructed.html").write_text(
        explained_page(new_short, short_rows, new_long, long_rows, "ks", "2025-09-08", with_obsloc=True),
        encoding="utf-8",
    )
    (HERE / "obsloc_short_range_2025-09_reconstructed.txt").write_text(obsloc_tap_text(short_rows), encoding="utf-8")
    (HERE / "sr_schedule_2017-10_reconstructed.txt").write_text(
        sr_schedule_text(ROWS_2017, "2017-10-08"), encoding="utf-8"
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
