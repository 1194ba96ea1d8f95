"""Property tests of the NuSTAR parsers (issue 11 item 8).

For arbitrary bytes, and for the reconstructed pages/files with one cell replaced by an arbitrary or
edge value (times, coordinates, exposures, ids, dates, text), ``nustar.parse`` either returns a
frame whose normalised obsplan passes :func:`models.validate.validate` with the obsplan spec and
keeps every time inside NuSTAR's plausible window, or raises :class:`ParseError` naming the source
and URL -- never any other exception. The number of examples comes from the hypothesis profile
(``tests/conftest.py``).
"""

from __future__ import annotations

import datetime as dt
import html
import pathlib

import lxml.html
import numpy as np
import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from models.tables.obsplan import OBSPLAN
from models.timeutil import mjd_from_datetime
from models.validate import validate
from scrapers import nustar
from scrapers.base import ParseError

DATA = pathlib.Path(__file__).parent / "data" / "nustar"
URL = nustar.SCHEDULE_URL
AS_OF = dt.datetime(2025, 9, 4, tzinfo=dt.UTC)
PAGES = ("schedule_2017-10_explained_reconstructed.html", "schedule_2025-09_reconstructed.html")
TEXTS = (
    "obsloc_short_range_2025-09_reconstructed.txt",
    "obsloc_page_columns_2025-09_reconstructed.txt",
    "sr_schedule_2017-10_reconstructed.txt",
)


def _check_frame(frame: pd.DataFrame) -> None:
    """A parsed frame normalises to an obsplan without violations or implausible values."""
    out = nustar.normalise(
        {"schedule": frame} if "short_range" in set(frame["table"]) else {"obsloc_text": frame}, AS_OF
    )
    obsplan = out["obsplan"].assign(t_planning=mjd_from_datetime(AS_OF))
    assert validate(obsplan, OBSPLAN) == []
    lo, hi = nustar.VALID_MJD
    for col in ("t_min", "t_max"):
        assert obsplan[col].between(lo, hi).all()
    assert obsplan["s_ra"].between(0, 360, inclusive="left").all()
    assert obsplan["s_dec"].between(-90, 90).all()
    assert (obsplan["t_plan_exptime"].dropna() >= 0).all()
    scheduled = obsplan["execution_status"] == "Scheduled"
    span = (obsplan["t_max"] - obsplan["t_min"]) * 86400.0
    assert (obsplan.loc[scheduled, "t_exptime"] <= span[scheduled] + nustar.EXP_SLACK_S).all()


def _parse_or_parse_error(name: str, content: bytes, url: str, content_type: str | None = None) -> None:
    error: ParseError | None = None
    try:
        frame = nustar.parse(name, content, url, content_type)
    except ParseError as exc:
        error = exc
    if error is not None:
        assert error.source == "nustar"
        assert url in str(error)
    elif name != "numaster":
        _check_frame(frame)


# --------------------------------------------------------------------------- arbitrary bytes


@given(
    name=st.sampled_from(["schedule", "obsloc_text", "numaster"]),
    content=st.binary(max_size=2000),
    content_type=st.sampled_from(
        [None, "text/html; charset=utf-8", "text/plain; charset=iso-8859-1", "text/x; charset=nope"]
    ),
)
def test_arbitrary_bytes(name: str, content: bytes, content_type: str | None) -> None:
    _parse_or_parse_error(name, content, URL, content_type)


@given(
    prefix=st.sampled_from([b"<html><body><table>", b"obs_id|t_min|t_max\n", b"Generated on: x\n", b"<?xml "]),
    content=st.binary(max_size=500),
)
def test_arbitrary_bytes_after_a_plausible_start(prefix: bytes, content: bytes) -> None:
    for name in ("schedule", "obsloc_text"):
        _parse_or_parse_error(name, prefix + content, URL)


# --------------------------------------------------------------------------- mutated cells

_DOY = st.builds(
    lambda y, d, h, m, s, f: f"{y:04d}:{d:03d}:{h:02d}:{m:02d}:{s:02d}{f}",
    st.integers(0, 9999),
    st.integers(0, 400),
    st.integers(0, 25),
    st.integers(0, 61),
    st.integers(0, 61),
    st.sampled_from(["", ".5", ".123456789", "."]),
)
_NEAR_DOY = st.builds(
    lambda d, h: f"2017:{d:03d}:{h:02d}:00:00", st.integers(270, 300), st.integers(0, 23)
)  # plausible times: ends before starts, overlaps, exposures that no longer fit
_NUMBER = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["360", "360.0", "-0.0", "0", "90", "-90", "90.0001", "1e300", "-1e300", "nan", "inf", "12:30:00"]),
    st.decimals(-400, 400, places=5).map(str),
)
_ID = st.one_of(st.from_regex(r"\A\d{9,13}\Z"), st.sampled_from(["60368001002", "90201021006", "", "NULL"]))
_WEEK = st.one_of(
    st.dates(dt.date(1, 1, 1), dt.date(9999, 12, 31)).map(dt.date.isoformat),
    st.builds(lambda y, d: f"{y:04d}:{d:03d}", st.integers(1900, 2200), st.integers(0, 400)),
)
_TEXT = st.text(max_size=40)
_PLACEHOLDER = "@@CELL@@"
_CELL = st.one_of(_DOY, _NEAR_DOY, _NUMBER, _ID, _WEEK, _TEXT)


@given(
    page=st.sampled_from(PAGES),
    table=st.integers(0, 1),
    row=st.integers(1, 7),
    column=st.integers(0, 7),
    value=_CELL,
)
def test_schedule_page_with_a_mutated_cell(page: str, table: int, row: int, column: int, value: str) -> None:
    doc = lxml.html.fromstring((DATA / page).read_bytes())
    trs = doc.xpath("//table")[table].xpath(".//tr")
    cells = trs[min(row, len(trs) - 1)].xpath("./td")
    cells[min(column, len(cells) - 1)].text = _PLACEHOLDER  # lxml refuses control characters: put them in as text
    page = lxml.html.tostring(doc, encoding="utf-8").replace(_PLACEHOLDER.encode(), html.escape(value).encode("utf-8"))
    _parse_or_parse_error("schedule", page, URL, "text/html; charset=utf-8")


_HEADERS = st.sampled_from(
    ["obs_start", "obs_end", "sequenceID", "Name", "J2000_RA", "J2000 Dec", "Exp", "Exp (s)", "Notes", "Date", "RA", ""]
)


@given(
    page=st.sampled_from(PAGES),
    table=st.integers(0, 1),
    column=st.integers(0, 7),
    value=st.one_of(_HEADERS, _TEXT),
    explanation=st.sampled_from(["(ksec)", "(ks)", "(s)", "(min)", "()", "(ks"]),
)
def test_schedule_page_with_a_mutated_header(page: str, table: int, column: int, value: str, explanation: str) -> None:
    """Renamed, duplicated or emptied headers and changed explanation units: drift errors, never crashes."""
    doc = lxml.html.fromstring((DATA / page).read_bytes())
    ths = doc.xpath("//table")[table].xpath(".//th")
    ths[min(column, len(ths) - 1)].text = _PLACEHOLDER
    page_bytes = lxml.html.tostring(doc, encoding="utf-8").replace(_PLACEHOLDER.encode(), html.escape(value).encode())
    page_bytes = page_bytes.replace(b"(ksec)", explanation.encode()).replace(b"(ks)", explanation.encode())
    _parse_or_parse_error("schedule", page_bytes, URL, "text/html; charset=utf-8")


@given(
    name=st.sampled_from(TEXTS),
    line=st.integers(0, 20),
    field=st.integers(0, 30),
    value=st.one_of(_CELL, st.sampled_from(["NULL", "", "d", "MJD", "UTC", "ks", "s", "|", "  "])),
)
def test_text_export_with_a_mutated_field(name: str, line: int, field: int, value: str) -> None:
    lines = (DATA / name).read_text(encoding="utf-8").splitlines()
    k = min(line, len(lines) - 1)
    if "|" in lines[0]:
        parts = lines[k].split("|")
        parts[min(field, len(parts) - 1)] = value
        lines[k] = "|".join(parts)
    else:
        parts = lines[k].split()
        if parts:
            parts[min(field, len(parts) - 1)] = value
        lines[k] = "  ".join(parts)
    _parse_or_parse_error("obsloc_text", ("\n".join(lines) + "\n").encode("utf-8"), nustar.OBSLOC_TEXT_URL)


@given(
    rows=st.lists(
        st.tuples(st.integers(0, 4), _NEAR_DOY, _NEAR_DOY, st.sampled_from(["NGC_1144", "Kepler"])), max_size=4
    )
)
def test_duplicate_ids_merge_or_fail_cleanly(rows: list[tuple[int, str, str, str]]) -> None:
    """Extra rows reusing real sequence IDs: merged when they agree, a ParseError otherwise."""
    doc = lxml.html.fromstring((DATA / PAGES[0]).read_bytes())
    table = doc.xpath("//table")[0]
    trs = table.xpath(".//tr")
    for source, start, end, name in rows:
        extra = lxml.html.fromstring(lxml.html.tostring(trs[1 + source]))
        tds = extra.xpath("./td")
        tds[0].text, tds[1].text, tds[3].text = start, end, name  # plain ASCII: lxml accepts it
        trs[-1].addnext(extra)
    _parse_or_parse_error("schedule", lxml.html.tostring(doc), URL)


def test_property_helpers_accept_the_unmodified_files() -> None:
    """The mutation tests start from files that parse and validate."""
    for page in PAGES:
        _check_frame(nustar.parse("schedule", (DATA / page).read_bytes(), URL))
    for name in TEXTS:
        frame = nustar.parse("obsloc_text", (DATA / name).read_bytes(), nustar.OBSLOC_TEXT_URL)
        assert len(frame) and np.isfinite(frame["t_start"]).all()
        _check_frame(frame)
