"""Rebuild the ``*_reconstructed.*`` files of this directory from the recorded ones (run by hand).

* ``tap_dbo_raw_sgra_reconstructed.vot`` / ``tap_apex_quicklooks_reconstructed.vot``: the real rows
  of the pandas CSV exports, written back as the VOTable a TAP sync query answers (pandas' index
  column dropped; column types as pandas infers them, so ``ob_id`` is an integer as in dbo.raw).
* ``sched_rep_arc_P116_reconstructed.csv`` / ``.html``: schedule-report records in the wdb
  ``csv/download`` dialect and in the ``html/display`` dot-padded label layout, built from the real
  programme ids, PIs, instruments and titles of the recorded files (see PROVENANCE.md).

Usage: ``.venv/bin/python tests/data/eso/build_reconstructed.py``
"""

from __future__ import annotations

import csv
import html
import io
import pathlib

import pandas as pd
from astropy.io.votable import from_table, writeto
from astropy.table import Table

HERE = pathlib.Path(__file__).parent

#: (header, label in html/display); labels other than Period and PI/CoI are assumed.
FIELDS = (
    ("Period", "Period"),
    ("Run ID", "Run ID"),
    ("Obs. Mode", "Obs. Mode"),
    ("Run Type", "Run Type"),
    ("Telescope", "Telescope"),
    ("Instrument", "Instrument"),
    ("Time", "Time"),
    ("Nights", "Nights"),
    ("PI/CoI", "PI/CoI"),
    ("Title", "Title"),
)

GC_PI = "GILLESSEN"
RUNS = (
    # Real runs at their own periods (period = id prefix; dbo.raw 'period' column agrees for P91).
    {"Period": "76", "Run ID": "076.B-0863(A)", "Telescope": "VLTI", "Instrument": "AMBER"},
    {
        "Period": "91",
        "Run ID": "091.B-0088(B)",
        "Obs. Mode": "Visitor",
        "Telescope": "UT4",
        "Instrument": "SINFONI",
        "Time": "2n",
        "Nights": "2013-08-26, 2013-08-30",
        "PI/CoI": GC_PI,
        "Title": "WATCHING THE GAS CLOUD G2 DISRUPT AS IT APPROACHES THE MASSIVE BLACK HOLE IN THE GALACTIC CENTRE",
    },
    {
        "Period": "95",
        "Run ID": "095.F-9802(A)",
        "Run Type": "Normal",
        "Telescope": "APEX",
        "Instrument": "APEXHET",
        "PI/CoI": "Ginsburg, A",
        "Title": "Density and Temperature in The Brick",
    },
    # Real programme identities placed in P116 (assumed period, mode, time and nights).
    {
        "Period": "116",
        "Run ID": "093.B-0217(F)",
        "Obs. Mode": "Visitor",
        "Telescope": "UT4",
        "Instrument": "SINFONI",
        "Time": "2n",
        "Nights": "2025-10-20, 2025-10-21",
        "PI/CoI": GC_PI,
        "Title": "STELLAR DYNAMICS IN THE CENTRAL ARCSECOND AROUND THE MASSIVE BLACK HOLE IN THE GALACTIC CENTER",
    },
    {
        "Period": "116",
        "Run ID": "179.B-2002(B)",
        "Obs. Mode": "Service",
        "Run Type": "Large",
        "Telescope": "VISTA",
        "Instrument": "VIRCAM",
        "Time": "20h",
        "PI/CoI": "MINNITI, DANTE",
    },
)

NOTE = (
    "RECONSTRUCTED by voharvest (tests/data/eso/build_reconstructed.py), not an ESO answer: "
    "real programme ids, PIs, instruments and titles from recorded ESO files; rows of period 116 "
    "re-use them with assumed periods, modes, times and nights."
)


def _votable(src: str, dst: str) -> None:
    frame = pd.read_csv(HERE / src, index_col=0)
    table = Table.from_pandas(frame)
    vot = from_table(table)
    vot.resources[0].tables[0].ID = "result"
    buf = io.BytesIO()
    writeto(vot, buf)
    (HERE / dst).write_bytes(buf.getvalue())


def _csv() -> bytes:
    out = io.StringIO()
    out.write("\n")
    out.write(f"# {NOTE}\n#\n")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([h for h, _ in FIELDS])
    for run in RUNS:
        writer.writerow([run.get(h, "") for h, _ in FIELDS])
    out.write(f"\n# A total of {len(RUNS)} records were found matching the provided criteria.\n#\n")
    return b"\xef\xbb\xbf" + out.getvalue().encode("utf-8")


def _html() -> bytes:
    width = 23
    records = []
    for run in RUNS:
        lines = [
            f"<b>{html.escape(label)}{'.' * (width - len(label))}:</b>&nbsp; {html.escape(run.get(h, ''))}"
            for h, label in FIELDS
        ]
        records.append("<pre>\n" + "\n".join(lines) + "\n</pre>")
    body = "\n<hr>\n".join(records)
    page = (
        "<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>ESO Archive Schedule Report</title></head>\n"
        f"<body>\n<!-- {NOTE} -->\n<h2>Schedule report</h2>\n{body}\n"
        f"<p>{len(RUNS)} records</p>\n</body></html>\n"
    )
    return page.encode("utf-8")


def main() -> None:
    _votable("tap_dbo_raw_sgra_pandas.csv", "tap_dbo_raw_sgra_reconstructed.vot")
    _votable("tap_apex_quicklooks_pandas.csv", "tap_apex_quicklooks_reconstructed.vot")
    (HERE / "sched_rep_arc_P116_reconstructed.csv").write_bytes(_csv())
    (HERE / "sched_rep_arc_P116_reconstructed.html").write_bytes(_html())


if __name__ == "__main__":
    main()
