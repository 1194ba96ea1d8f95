"""ESO parsers on input never seen before (hypothesis, profile "ci" of tests/conftest.py).

Property: for arbitrary bytes, and for valid answers with one mutated cell, ``parse`` (then
``normalise``) gives frames that pass ``models.validate.validate`` or raises a ``ParseError`` naming
the source and the URL; never any other exception.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import io
import pathlib

import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from models.tables import OBSCORE, OBSCORE_RADIO, OBSPLAN
from models.timeutil import mjd_from_datetime
from models.validate import validate
from scrapers import eso
from scrapers.base import ParseError

DATA = pathlib.Path(__file__).parent / "data" / "eso"
URL = "https://archive.eso.org/wdb/wdb/eso/sched_rep_arc/query?wdbo=html/display&progid=091.B-0088(B)"
AS_OF = dt.datetime(2025, 9, 5, tzinfo=dt.UTC)
NAMES = ("sched_rep_arc", "eso_archive_main", "amber", "tap_raw", "apex_quicklooks")

#: Cell values that have broken parsers before: far dates, infinities, unknown periods, other id formats.
NASTY = st.sampled_from(
    [
        "",
        " ",
        "116",
        "P115",
        "0",
        "-1",
        "1e300",
        "inf",
        "nan",
        "NaN",
        "9999-01-01",
        "2200-01-01",
        "2025-13-45",
        "2025-09-10, 2025-09-11",
        "1950-01-01",
        "106.212B.001",
        "091.B-0088(B)",
        "ToO/ToO",
        "Large/GTO",
        "Designated visitor",
        "η Car – Ségransan",
        "360",
        "24:00:00",
        "-90:00:01",
        "17:45:40.09",
        "-29:00:22.1",
        "2n",
        "20h",
        "3 nights",
        "U1",
        '"',
        "a,b",
        "\x00",
    ]
)
CELLS = st.one_of(NASTY, st.text(max_size=30))


def _bytes(name: str) -> bytes:
    return (DATA / name).read_bytes()


@functools.cache
def _unmutated(name: str, file: str) -> pd.DataFrame:
    """Parsed once: the partner answer of a mutated one (read-only use)."""
    return eso.parse(name, _bytes(file), URL)


def _check_error(err: ParseError, url: str) -> None:
    text = str(err)
    assert "eso" in text and url in text


def _valid_ivoa(frames: dict[str, pd.DataFrame]) -> None:
    try:
        out = eso.normalise(frames, AS_OF)
    except ParseError as err:
        _check_error(err, URL)
        return
    plan = out["obsplan"].assign(t_planning=mjd_from_datetime(AS_OF))
    assert validate(plan, OBSPLAN) == []
    if "obscore" in out:
        assert validate(out["obscore"], OBSCORE) == []
        assert validate(out["obscore_radio"], OBSCORE_RADIO) == []


def _mutate_csv(content: bytes, row: int, col: int, value: str) -> bytes:
    """The wdb CSV with one body cell replaced (comment lines and dialect kept)."""
    text = content.decode("utf-8")
    lines = text.split("\n")
    body = [i for i, line in enumerate(lines) if line.strip() and not line.lstrip("\ufeff").startswith("#")]
    header, rows = body[0], body[1:]
    target = rows[row % len(rows)]
    cells = next(csv.reader([lines[target]]))
    cells[col % len(cells)] = value
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(cells)
    lines[target] = out.getvalue()
    assert header < target
    return "\n".join(lines).encode("utf-8")


@given(name=st.sampled_from(NAMES), content=st.binary(max_size=400))
def test_arbitrary_bytes_give_a_frame_or_a_parse_error(name, content):
    try:
        eso.parse(name, content, URL)
    except ParseError as err:
        _check_error(err, URL)


@given(name=st.sampled_from(NAMES), text=st.text(max_size=300), prefix=st.sampled_from(["", "<html>", "\ufeff\n#\n"]))
def test_arbitrary_text_gives_a_frame_or_a_parse_error(name, text, prefix):
    try:
        eso.parse(name, (prefix + text).encode("utf-8"), URL, content_type="text/html; charset=utf-8")
    except ParseError as err:
        _check_error(err, URL)


@given(row=st.integers(0, 10), col=st.integers(0, 10), value=CELLS)
def test_schedule_csv_with_a_mutated_cell(row, col, value):
    content = _mutate_csv(_bytes("sched_rep_arc_P115_reconstructed.csv"), row, col, value)
    try:
        runs = eso.parse("sched_rep_arc", content, URL, content_type="text/csv; charset=utf-8")
    except ParseError as err:
        _check_error(err, URL)
        return
    _valid_ivoa({"sched_rep_arc": runs})


@given(line=st.integers(0, 12), value=CELLS)
def test_dotted_display_with_a_mutated_value(line, value):
    page = _bytes("sched_rep_arc_display_091.B-0088B_reconstructed.html").decode("utf-8")
    head, _, rest = page.partition("<pre>\n")
    body, _, tail = rest.partition("\n</pre>")
    lines = body.split("\n")
    i = line % len(lines)
    lines[i] = lines[i][:23] + " " + value.replace("<", "&lt;")
    content = (head + "<pre>\n" + "\n".join(lines) + "\n</pre>" + tail).encode("utf-8")
    try:
        runs = eso.parse("sched_rep_arc", content, URL)
    except ParseError as err:
        _check_error(err, URL)
        return
    _valid_ivoa({"sched_rep_arc": runs})


@given(row=st.integers(0, 60), col=st.integers(0, 20), value=CELLS)
def test_archive_main_with_a_mutated_cell(row, col, value):
    content = _mutate_csv(_bytes("wdb_eso_archive_main_sgra_results_2017.csv"), row, col, value)
    try:
        main = eso.parse("eso_archive_main", content, URL)
        amber = _unmutated("amber", "wdb_amber_sgra_results_2017.csv")
    except ParseError as err:
        _check_error(err, URL)
        return
    _valid_ivoa({"eso_archive_main": main, "amber": amber})


@given(row=st.integers(0, 60), col=st.integers(0, 20), value=CELLS)
def test_amber_with_a_mutated_cell(row, col, value):
    content = _mutate_csv(_bytes("wdb_amber_sgra_results_2017.csv"), row, col, value)
    try:
        amber = eso.parse("amber", content, URL)
        main = _unmutated("eso_archive_main", "wdb_eso_archive_main_sgra_results_2017.csv")
    except ParseError as err:
        _check_error(err, URL)
        return
    _valid_ivoa({"eso_archive_main": main, "amber": amber})
