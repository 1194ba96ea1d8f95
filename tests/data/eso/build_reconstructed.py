"""Rebuild the ``*_reconstructed.*`` files of this directory from the recorded ones (run by hand).

* ``tap_dbo_raw_sgra_reconstructed.vot`` / ``tap_apex_quicklooks_reconstructed.vot``: the real rows
  of the pandas CSV exports, written back as the VOTable a TAP sync query answers (pandas' index
  column dropped; column types as pandas infers them, so ``ob_id`` is an integer as in dbo.raw).
* ``sched_rep_arc_*_reconstructed.*``: schedule-report answers in every evidenced layout (wdb CSV,
  dot-padded labels without colon, ``<th>/<td>`` record table, ``<tr id=N>`` records, tabular mode)
  and the first reconstruction's colon layout, built from the real programme ids, PIs,
  instruments and titles of the recorded files (see PROVENANCE.md).

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

#: CSV headers: the evidenced html/display labels (id 31384208192) plus the run-id header of the real
#: vvv wdb CSV (``Run/Program ID``) and ``Nights`` (assumed: no evidence of the nights column).
CSV_FIELDS = (
    "Period",
    "Run/Program ID",
    "Observing Mode",
    "Programme Type",
    "Telescope",
    "Instrument",
    "Allocated time",
    "Nights",
    "PI/CoI",
    "Proposal Title",
)
#: (csv header, label of the first reconstruction's colon layout): kept as a further accepted variant.
COLON_FIELDS = (
    ("Period", "Period"),
    ("Run/Program ID", "Run ID"),
    ("Observing Mode", "Obs. Mode"),
    ("Programme Type", "Run Type"),
    ("Telescope", "Telescope"),
    ("Instrument", "Instrument"),
    ("Allocated time", "Time"),
    ("Nights", "Nights"),
    ("PI/CoI", "PI/CoI"),
    ("Proposal Title", "Title"),
)
#: Evidenced dot-padded labels in page order (id 31384208192), padded to 23 characters.
DOTTED_LABELS = (
    "Period",
    "Observing Mode",
    "Programme Type",
    "Allocated time",
    "Telescope",
    "Instrument",
    "PI/CoI",
    "Proposal Title",
    "Remarks",
    "Abstract",
    "Observer",
    "Raw Files",
    "Publications",
)

GC_PI = "GILLESSEN"
#: PI/CoI strings as dbo.raw's pi_coi gives them (tap_dbo_raw_sgra_pandas.csv).
G2_PI_COI = "GILLESSEN/ GENZEL/ EISENHAUER/ OTT/ PFUHL/ FRITZ/ BLIND"
GC_PI_COI = "GILLESSEN/ GENZEL/ EISENHAUER/ OTT/ PFUHL/ PLEWA/ FRITZ"
G2_TITLE = "WATCHING THE GAS CLOUD G2 DISRUPT AS IT APPROACHES THE MASSIVE BLACK HOLE IN THE GALACTIC CENTRE"
GC_TITLE = "STELLAR DYNAMICS IN THE CENTRAL ARCSECOND AROUND THE MASSIVE BLACK HOLE IN THE GALACTIC CENTER"

#: The replayed runs (csv answer, pi_coi_name=PI_only so PI/CoI holds the PI).
RUNS = (
    # Real runs at their own periods (period = id prefix; dbo.raw 'period' column agrees for P91).
    {"Period": "76", "Run/Program ID": "076.B-0863(A)", "Telescope": "VLTI", "Instrument": "AMBER"},
    {
        "Period": "91",
        "Run/Program ID": "091.B-0088(B)",
        "Observing Mode": "Visitor",
        "Telescope": "UT4",
        "Instrument": "SINFONI",
        "Allocated time": "2n",
        "Nights": "2013-08-26, 2013-08-30",
        "PI/CoI": GC_PI,
        "Proposal Title": G2_TITLE,
    },
    {
        "Period": "95",
        "Run/Program ID": "095.F-9802(A)",
        "Programme Type": "Normal",
        "Telescope": "APEX",
        "Instrument": "APEXHET",
        "PI/CoI": "Ginsburg, A",
        "Proposal Title": "Density and Temperature in The Brick",
    },
    # Real programme identities placed in P115 (assumed period, mode, time and nights), around the
    # 2025-09-05 replay date; P115 (1 Apr - 30 Sep 2025) is the last period with published dates.
    {
        "Period": "115",
        "Run/Program ID": "093.B-0217(F)",
        "Observing Mode": "Visitor",
        "Telescope": "UT4",
        "Instrument": "SINFONI",
        "Allocated time": "2n",
        "Nights": "2025-09-10, 2025-09-11",
        "PI/CoI": GC_PI,
        "Proposal Title": GC_TITLE,
    },
    {
        "Period": "115",
        "Run/Program ID": "179.B-2002(B)",
        "Observing Mode": "Service",
        "Programme Type": "Large",
        "Telescope": "VISTA",
        "Instrument": "VIRCAM",
        "Allocated time": "20h",
        "PI/CoI": "MINNITI, DANTE",
    },
)

#: Single-run html/display answers (query ?wdbo=html/display&progid=<id>): file stem -> record.
DISPLAY = {
    "091.B-0088B": {
        "Period": "91",
        "Observing Mode": "Visitor",
        "Allocated time": "2n",
        "Telescope": "UT4",
        "Instrument": "SINFONI",
        "PI/CoI": G2_PI_COI,
        "Proposal Title": G2_TITLE,
        "progid": "091.B-0088(B)",
    },
    # New run-id format (id 19058544301: a P106 GIRAFFE/FLAMES programme of the Carina Nebula).
    "106.212B.001": {"Period": "106", "Telescope": "UT2", "Instrument": "FLAMES", "progid": "106.212B.001"},
}
#: One-record <th>/<td> answer (id 36951584479): 093.B-0217(F) at its real period (dbo.raw: 93, 'v').
RECORD_TABLE = {
    "Period": "93",
    "Observing Mode": "Visitor",
    "Telescope": "UT4",
    "Instrument": "SINFONI",
    "PI/CoI": GC_PI_COI,
    "Proposal Title": GC_TITLE,
}
#: Runs of the multi-record and tabular answers (real identities, real periods).
TABLE_RUNS = (
    {**RUNS[1], "PI/CoI": G2_PI_COI},
    {
        **{k: v for k, v in RUNS[3].items() if k not in ("Nights", "Allocated time")},
        "Period": "93",
        "PI/CoI": GC_PI_COI,
    },
    {"Period": "106", "Run/Program ID": "106.212B.001", "Telescope": "UT2", "Instrument": "FLAMES"},
)

NOTE = (
    "RECONSTRUCTED by voharvest (tests/data/eso/build_reconstructed.py), not an ESO answer: "
    "real programme ids, PIs, instruments and titles from recorded ESO files; rows of period 115 "
    "re-use them with assumed periods, modes, times and nights."
)
NOTE_LAYOUT = (
    "RECONSTRUCTED by voharvest (tests/data/eso/build_reconstructed.py), not an ESO answer: layout "
    "from sources.md evidence ({ev}); real programme identities from recorded ESO files; values the "
    "evidence does not give are left empty or marked assumed in PROVENANCE.md."
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
    writer.writerow(CSV_FIELDS)
    for run in RUNS:
        writer.writerow([run.get(h, "") for h in CSV_FIELDS])
    out.write(f"\n# A total of {len(RUNS)} records were found matching the provided criteria.\n#\n")
    return b"\xef\xbb\xbf" + out.getvalue().encode("utf-8")


def _page(title: str, note: str, body: str) -> bytes:
    return (
        "<!DOCTYPE html>\n<html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title></head>\n<body>\n<!-- {note} -->\n{body}\n</body></html>\n"
    ).encode()


def _colon_html() -> bytes:
    width = 23
    records = []
    for run in RUNS:
        lines = [
            f"<b>{html.escape(label)}{'.' * (width - len(label))}:</b>&nbsp; {html.escape(run.get(h, ''))}"
            for h, label in COLON_FIELDS
        ]
        records.append("<pre>\n" + "\n".join(lines) + "\n</pre>")
    body = "<h2>Schedule report</h2>\n" + "\n<hr>\n".join(records) + f"\n<p>{len(RUNS)} records</p>"
    return _page("ESO Archive Schedule Report", NOTE, body)


def _dotted_html(record: dict[str, str]) -> bytes:
    progid = record["progid"]
    q = html.escape(progid)
    links = {
        "Abstract": f'<a href="/wdb/wdb/eso/abstract/query?progid={q}">Abstract of proposal</a>',
        "Raw Files": f'<a href="/wdb/wdb/eso/eso_archive_main/query?prog_id={q}">Raw files</a>',
        "Publications": f'<a href="https://telbib.eso.org/?programid={q}">Publications</a>',
    }
    lines = []
    for label in DOTTED_LABELS:
        value = links.get(label, html.escape(record.get(label, "")))
        lines.append(f"{label}{'.' * (23 - len(label))} {value}")
    body = "<pre>\n" + "\n".join(lines) + "\n</pre>"
    return _page("ESO Archive Schedule Report", NOTE_LAYOUT.format(ev="id 31384208192"), body)


def _record_table_html() -> bytes:
    rows = "\n".join(
        f"<tr><th>{html.escape(label)}</th><td>{html.escape(RECORD_TABLE.get(label, ''))}</td></tr>"
        for label in DOTTED_LABELS[:8]
    )
    body = f'<table id="wdbresults1">\n{rows}\n</table>'
    return _page("ESO Archive Schedule Report", NOTE_LAYOUT.format(ev="id 36951584479"), body)


def _table_html(record_links: bool) -> bytes:
    headers = [h for h in CSV_FIELDS if h != "Nights"]
    if record_links:
        headers = ["Record", *[h for h in headers if h != "Run/Program ID"]]
    head = "<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in headers) + "</tr>"
    rows = []
    for i, run in enumerate(TABLE_RUNS, start=1):
        link = f"/wdb/wdb/eso/sched_rep_arc/query?wdbo=html/display&amp;progid={html.escape(run['Run/Program ID'])}"
        cells = []
        for h in headers:
            if h == "Record":
                cells.append(f'<td><a href="{link}">{i}</a></td>')
            elif h == "Run/Program ID":
                cells.append(f'<td><a href="{link}">{html.escape(run[h])}</a></td>')
            else:
                cells.append(f"<td>{html.escape(run.get(h, ''))}</td>")
        rows.append((f'<tr id="{i}">' if record_links else "<tr>") + "".join(cells) + "</tr>")
    body = f'<table id="wdbresults1">\n{head}\n' + "\n".join(rows) + "\n</table>"
    ev = "id 36951584479, rows <tr id=N>" if record_links else "sources.md: force_tabular_mode=on"
    return _page("ESO Archive Schedule Report", NOTE_LAYOUT.format(ev=ev), body)


def main() -> None:
    _votable("tap_dbo_raw_sgra_pandas.csv", "tap_dbo_raw_sgra_reconstructed.vot")
    _votable("tap_apex_quicklooks_pandas.csv", "tap_apex_quicklooks_reconstructed.vot")
    (HERE / "sched_rep_arc_P115_reconstructed.csv").write_bytes(_csv())
    (HERE / "sched_rep_arc_P115_colon_labels_reconstructed.html").write_bytes(_colon_html())
    for stem, record in DISPLAY.items():
        (HERE / f"sched_rep_arc_display_{stem}_reconstructed.html").write_bytes(_dotted_html(record))
    (HERE / "sched_rep_arc_record_table_093.B-0217F_reconstructed.html").write_bytes(_record_table_html())
    (HERE / "sched_rep_arc_table_records_reconstructed.html").write_bytes(_table_html(record_links=True))
    (HERE / "sched_rep_arc_tabular_reconstructed.html").write_bytes(_table_html(record_links=False))


if __name__ == "__main__":
    main()
