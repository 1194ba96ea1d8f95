"""Property tests of the INTEGRAL parsers and the tabular layer (hypothesis, profile from conftest).

For arbitrary bytes, and for valid listings (CSV, HTML) and VOTables with one mutated cell, the
parser either returns frames that pass ``models.validate.validate`` after ``normalise``, or raises
a ``ParseError`` naming the source and the URL -- never any other exception.
"""

from __future__ import annotations

import datetime as dt
import html
import pathlib
import re

import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from models.tables.obsplan import OBSPLAN
from models.timeutil import mjd_from_datetime
from models.validate import validate
from scrapers import integral, tabular
from scrapers.base import ParseError

DATA = pathlib.Path(__file__).parent / "data" / "integral"
EV_CSV = (DATA / "schedule_evidenced_reconstructed.csv").read_text()
EV_HTML = (DATA / "schedule_evidenced_reconstructed.html").read_text()
VOT7 = (DATA / "intscw_7rows_votable_rec2022-03-31.xml").read_text()
ISDC_VOT = (DATA / "integral_rev3_scw_3c273_isdc_votable_reconstructed.xml").read_text()
URL = "https://integral.esac.esa.int/isocweb/schedule.html?probe"
AS_OF = dt.datetime(2025, 9, 4, tzinfo=dt.UTC)

#: Cell values that sit on the edges of every rule: times, angles, numbers, ids, patterns, text.
EDGES = st.sampled_from(
    [
        "",
        " ",
        "0",
        "-1",
        "1e300",
        "nan",
        "inf",
        "2771",
        "99999",
        "2002-10-16 23:59:59",
        "2002-10-17 00:00:00.000",
        "2025-02-28 23:59:59.999",
        "2025-03-01 00:00:00",
        "2200-01-01 00:00:00",
        "9999-12-31 23:59:59",
        "2016-12-31 23:59:60",
        "2024-02-30 00:00:00",
        "24 00 00",
        "23 59 59.999",
        "00 00 00",
        "12 60 00",
        "+90 00 00",
        "-90 00 00.1",
        "-00 30 00",
        "5x5",
        "HEX",
        "hex 2.17",
        "staring",
        "spiral",
        "21200090004",
        "2120009 / 0004",
        "0120023",
        "η Car – Café",
        '"quoted"',
        "<b>x</b>",
        "a,b",
    ]
)
CELL = st.one_of(EDGES, st.text(max_size=12))


def _check(frames: dict[str, pd.DataFrame]) -> None:
    plan = integral.normalise(frames, AS_OF)["obsplan"]
    violations = validate(plan.assign(t_planning=mjd_from_datetime(AS_OF)), OBSPLAN)
    assert violations == [], violations


def _parse_or_error(name: str, content: bytes, content_type: str | None = None) -> pd.DataFrame | None:
    error: ParseError | None = None
    try:
        return integral.parse(name, content, URL, content_type=content_type)
    except ParseError as exc:
        error = exc
    assert error.source == "integral" and error.url == URL, error
    return None


def _normalise_or_error(frames: dict[str, pd.DataFrame]) -> None:
    error: ParseError | None = None
    try:
        _check(frames)
    except ParseError as exc:
        error = exc
    assert error is None or error.source == "integral", error


@given(st.binary(max_size=2048), st.sampled_from(["schedule", "schedule_csv", "intscw", "executed_csv"]))
def test_arbitrary_bytes(content: bytes, name: str) -> None:
    frame = _parse_or_error(name, content)
    if frame is not None:
        _normalise_or_error({name: frame})


@given(st.data())
def test_csv_listing_with_a_mutated_cell(data: st.DataObject) -> None:
    lines = EV_CSV.splitlines()
    row = data.draw(st.integers(1, len(lines) - 1))
    col = data.draw(st.integers(0, 11))
    value = data.draw(CELL).replace('"', '""')
    cells = lines[row][1:-1].split('","')
    cells[col] = value
    lines[row] = '"' + '","'.join(cells) + '"'
    frame = _parse_or_error("schedule_csv", "\n".join(lines).encode("utf-8"), "text/csv; charset=utf-8")
    if frame is not None:
        _normalise_or_error({"schedule_csv": frame})


_TD = re.compile(r'<td class="[^"]*">[^<\n]*</td>')


@given(st.data())
def test_html_listing_with_a_mutated_cell(data: st.DataObject) -> None:
    cells = list(_TD.finditer(EV_HTML))
    k = data.draw(st.integers(0, len(cells) - 1))
    value = data.draw(CELL)
    escaped = data.draw(st.booleans())
    text = html.escape(value) if escaped else value
    m = cells[k]
    page = EV_HTML[: m.start()] + re.sub(r">[^<]*<", f">{text}<", m.group(0), count=1) + EV_HTML[m.end() :]
    frame = _parse_or_error("schedule", page.encode("utf-8"), "text/html; charset=utf-8")
    if frame is not None:
        _normalise_or_error({"schedule": frame})


_CELL_TD = re.compile(r"<TD>[^<]*</TD>")


@given(st.data(), st.sampled_from(["heasarc", "isdc"]))
def test_votable_with_a_mutated_cell(data: st.DataObject, which: str) -> None:
    doc = VOT7 if which == "heasarc" else ISDC_VOT
    cells = list(_CELL_TD.finditer(doc))
    k = data.draw(st.integers(0, len(cells) - 1))
    value = html.escape(data.draw(CELL))
    m = cells[k]
    mutated = doc[: m.start()] + f"<TD>{value}</TD>" + doc[m.end() :]
    name = "intscw" if which == "heasarc" else "integral_rev3_scw"
    frame = _parse_or_error(name, mutated.encode("utf-8"))
    if frame is not None:
        _normalise_or_error({name: frame})


@given(st.data())
def test_tabular_layer_never_raises_anything_else(data: st.DataObject) -> None:
    cells = list(_CELL_TD.finditer(ISDC_VOT))
    k = data.draw(st.integers(0, len(cells) - 1))
    m = cells[k]
    doc = ISDC_VOT[: m.start()] + f"<TD>{html.escape(data.draw(CELL))}</TD>" + ISDC_VOT[m.end() :]
    kinds = {"ra_x": "float", "good_isgri": "int", "scw_type": "text", "dsize": "float"}
    error: ParseError | None = None
    try:
        frame = tabular.read_votable_cells(doc.encode("utf-8"), source="isdc", url=URL)
        tabular.typed(frame, source="isdc", url=URL, kinds=kinds)
    except ParseError as exc:
        error = exc
    if error is not None:
        assert error.source == "isdc" and error.url == URL
        # a value error names row and column; only a document XML cannot read names neither
        assert (error.row is not None and error.column is not None) or "unreadable VOTable" in str(error)
