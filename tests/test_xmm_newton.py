"""XMM-Newton: short-term schedule (every evidenced layout) -> Scheduled rows, xmmmaster -> Performed, footprint."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import pathlib

import astropy.units as u
import lxml.html
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from astropy.coordinates import Angle, SkyCoord
from astropy.io.votable import parse as parse_votable
from astropy.time import Time

from models.arrow import conform
from models.errors import ValueParseError
from models.parquet import write_parquet
from models.tables.obsplan import OBSPLAN
from models.timeutil import mjd_from_datetime
from models.validate import validate
from models.votable import votable_bytes
from scrapers import html_tables
from scrapers import xmm_newton as xmm
from scrapers.base import ParseError

DATA = pathlib.Path(__file__).parent / "data" / "xmm"
RECORDINGS = pathlib.Path(__file__).parent.parent / "recordings" / "xmm_newton"
#: The page as the evidence shows it (<BR> units, <TR ALIGN=CENTER >, <A> obs id): also the recording.
PAGE = DATA / "short_term_schedule_rev4714_brunits_reconstructed.html"
#: The earlier reconstruction (plain "Label unit" headers), kept as a further variant.
PLAIN = DATA / "short_term_schedule_rev4714_reconstructed.html"
EXPORT = DATA / "short_term_schedule_rev4714_export_reconstructed.csv"
PANDAS_CSV = DATA / "short_term_schedule_rows_rev4714_pandas.csv"
MASTER = DATA / "xmmmaster_rev4714_reconstructed.vot"
URL = xmm.SCHEDULE_URL
AS_OF = dt.datetime(2025, 9, 4, tzinfo=dt.UTC)
#: The bundled snapshot's as-of time: after the two observations xmmmaster reports as flown (a
#: Performed row after its as-of time is implausible, models.validate "performed-in-future").
REPLAY_AS_OF = dt.datetime(2025, 9, 5, tzinfo=dt.UTC)
HTML_UTF8 = "text/html; charset=utf-8"


@pytest.fixture(scope="module")
def schedule() -> pd.DataFrame:
    return xmm.parse("short_term_schedule", PAGE.read_bytes(), URL, content_type=HTML_UTF8)


@pytest.fixture(scope="module")
def master() -> pd.DataFrame:
    return xmm.parse("xmmmaster", MASTER.read_bytes(), "https://heasarc.gsfc.nasa.gov/xamin/vo/tap/sync")


@pytest.fixture(scope="module")
def real_rows() -> pd.DataFrame:
    """The five real rows (ACROSS's pandas re-export) as text, read independently of the parser."""
    return pd.read_csv(PANDAS_CSV, dtype=str, keep_default_na=False, index_col=0)


def _valid(frame: pd.DataFrame, as_of: dt.datetime) -> list:
    return validate(frame.assign(t_planning=mjd_from_datetime(as_of)), OBSPLAN)


def _page(old: str, new: str, *, count: int = 1, source: pathlib.Path = PAGE) -> bytes:
    text = source.read_text()
    assert old in text, old
    return text.replace(old, new, count).encode()


def _parse(content: bytes) -> pd.DataFrame:
    return xmm.parse("short_term_schedule", content, URL)


# --------------------------------------------------------------------------------- the evidence page
def test_evidence_page_follows_the_evidence() -> None:
    """The reconstruction has what sources.md's XMM evidence shows (ids 40802067601, 34337503711, 34455471219)."""
    text = PAGE.read_text()
    for header in ("RA<BR>hh:mm:ss", "DEC<BR>dd:mm:ss", "UTC Obs Start<BR>yyyy-mm-dd hh:mm:ss", "UTC Obs End<BR>"):
        assert f"<TH>{header}" in text
    assert text.count("<TR ALIGN=CENTER >\n<TD>4714</TD>\n<TD><A HREF=") == 5
    assert '<A HREF="#0963230101">0963230101</A>' in text
    # lxml's own text joins <br> without a space: the "RAhh:mm:ss" no synonym matched (issue 10)
    doc = lxml.html.fromstring(text)
    assert doc.xpath("//th")[3].text_content() == "RAhh:mm:ss"


def test_html_tables_reads_br_units_as_spaced_headers() -> None:
    """The shared table reader turns <br> into a space and matches every unit-suffixed header."""
    (table,) = html_tables.read_tables(PAGE.read_bytes(), source="t", url=URL, content_type=HTML_UTF8)
    assert table.headers[3:8] == (
        "RA hh:mm:ss",
        "DEC dd:mm:ss",
        "PA ddd.dd",
        "UTC Obs Start yyyy-mm-dd hh:mm:ss",
        "UTC Obs End yyyy-mm-dd hh:mm:ss",
    )
    assert table.rows[0][1] == "0963230101"  # the text of the <A>
    raw = html_tables.select_columns(table, xmm.SCHEDULE_HEADERS, required=xmm.SCHEDULE_HEADERS, source="t", url=URL)
    assert raw.attrs["header_of"]["ra"] == "RA hh:mm:ss"
    assert raw.attrs["header_of"]["start"] == "UTC Obs Start yyyy-mm-dd hh:mm:ss"
    assert raw.attrs["unmatched_headers"] == []


def test_values_match_astropy_on_the_real_rows(schedule: pd.DataFrame, real_rows: pd.DataFrame) -> None:
    """Times against astropy Time, RA/Dec against astropy's sexagesimal parsing, for all five real rows."""
    assert schedule.attrs["layout"] == "html-br-units"
    start = Time(list(real_rows["UTC Obs Start yyyy-mm-dd hh:mm:ss"]), format="iso", scale="utc").mjd
    end = Time(list(real_rows["UTC Obs End yyyy-mm-dd hh:mm:ss"]), format="iso", scale="utc").mjd
    np.testing.assert_allclose(schedule["t_min"], start, rtol=0, atol=1e-9)  # < 0.1 ms
    np.testing.assert_allclose(schedule["t_max"], end, rtol=0, atol=1e-9)
    sky = SkyCoord(list(real_rows["RA hh:mm:ss"]), list(real_rows["DEC dd:mm:ss"]), unit=(u.hourangle, u.deg))
    np.testing.assert_allclose(schedule["ra"], sky.ra.deg, rtol=0, atol=1e-10)
    np.testing.assert_allclose(schedule["dec"], sky.dec.deg, rtol=0, atol=1e-10)
    assert schedule["dec"].iloc[2] == pytest.approx(Angle("-64:44:05", unit=u.deg).deg)  # BW Cir, sign on degrees
    # by hand: 17:45:40 = 15 * (17 + 45/60 + 40/3600) deg; 2025-09-05 08:09:36 UTC
    assert schedule["ra"].iloc[0] == pytest.approx(266.416666666667, abs=1e-9)
    assert schedule["t_min"].iloc[0] == pytest.approx(
        mjd_from_datetime(dt.datetime(2025, 9, 5, 8, 9, 36, tzinfo=dt.UTC)), abs=1e-9
    )
    # BW Cir crosses midnight: 18:48:03 -> 01:11:22 next day = 22 999 s
    assert (schedule["t_max"].iloc[2] - schedule["t_min"].iloc[2]) * 86400 == pytest.approx(22_999, abs=1e-3)
    assert list(schedule["target_name"]) == list(real_rows["Target Name"])
    assert list(schedule["pa"]) == [float(v) for v in real_rows["PA ddd.dd"]]
    assert list(schedule["revolution"]) == [4714] * 5
    assert list(schedule["pi"]) == list(real_rows["PI"])
    row = schedule.iloc[0]
    assert row["prime"] == "EPIC" and (row["pn_ks"], row["mos1_ks"], row["om_ks"]) == (46.3, 47.9, 45.8)
    # rows stay in page order (newest first on this page)
    assert (np.diff(schedule["t_min"].to_numpy()) < 0).all()


def test_number_inferring_reader_loses_the_leading_zero_the_parser_restores(
    schedule: pd.DataFrame, real_rows: pd.DataFrame
) -> None:
    damaged = pd.read_csv(PANDAS_CSV, index_col=0)
    assert pd.api.types.is_integer_dtype(damaged["Obs Id."])
    assert str(damaged["Obs Id."].iloc[0]) == "963230101"  # 9 characters: the zero is gone
    assert list(schedule["obs_id"]) == ["0963230101", "0811026701", "0960860801", "0811026501", "0811026601"]
    # the real re-export itself is accepted: same ids, padded by the one obs-id rule
    frame = _parse(PANDAS_CSV.read_bytes())
    assert frame.attrs["layout"] == "csv-pandas-reexport"
    assert list(frame["obs_id"]) == ["0" + v for v in real_rows["Obs Id."]]  # ACROSS's own fix, by hand


def test_parenthesised_durations_are_filter_closed_and_zero_is_unused(schedule: pd.DataFrame) -> None:
    crab = schedule.set_index("obs_id").loc["0811026601"]
    assert (crab["pn_ks"], crab["mos1_ks"], crab["mos2_ks"]) == (15.1, 16.6, 16.6)
    assert bool(crab["pn_closed"]) and bool(crab["mos1_closed"]) and bool(crab["mos2_closed"])
    assert (crab["rgs1_ks"], crab["rgs2_ks"], crab["om_ks"]) == (0.0, 0.0, 0.0)
    assert not crab["rgs1_closed"]
    assert not schedule.set_index("obs_id").loc["0963230101", "pn_closed"]


# ------------------------------------------------------------------------------------ every variant
def _csv(sep: str, quoting: int = csv.QUOTE_MINIMAL) -> bytes:
    rows = list(csv.reader(io.StringIO(EXPORT.read_text())))
    out = io.StringIO()
    csv.writer(out, delimiter=sep, quoting=quoting, lineterminator="\r\n").writerows(rows)
    return out.getvalue().encode()


def _variants() -> dict[str, tuple[bytes, str, str | None]]:
    page = PAGE.read_text()
    all_br = (
        page.replace("<TH>PA ddd.dd", "<TH>PA<BR>ddd.dd")
        .replace("<TH>Revn #", "<TH>Revn<BR>#")
        .replace(" Ks</TH>", "<BR>Ks</TH>")
    )
    assert all_br.count("<BR>") == 4 + 1 + 1 + 6
    glued = all_br.replace("<BR>", "")  # what a tool joining <br> without a space would save
    assert "<TH>RAhh:mm:ss</TH>" in glued and "<TH>PN DurKs</TH>" in glued
    bare = page
    for unit in ("<BR>hh:mm:ss", "<BR>dd:mm:ss", "<BR>yyyy-mm-dd hh:mm:ss", " ddd.dd"):
        bare = bare.replace(unit, "")
    assert "<TH>RA</TH>" in bare and "<TH>UTC Obs Start</TH>" in bare
    td_header = page.replace("<TH>", "<TD>").replace("</TH>", "</TD>")
    legend = "<TABLE><TR><TH>Symbol</TH><TH>Meaning</TH></TR><TR><TD>( x)</TD><TD>filter closed</TD></TR></TABLE>"
    among = page.replace("<TABLE BORDER=1>", f"{legend}\n<TABLE BORDER=1>").replace(
        "</TABLE>\n</BODY>", f"</TABLE>\n{legend}\n</BODY>"
    )
    nested = page.replace("<TABLE BORDER=1>", "<TABLE><TR><TD>\n<TABLE BORDER=1>").replace(
        "</TABLE>\n</BODY>", "</TABLE>\n</TD></TR></TABLE>\n</BODY>"
    )
    return {
        "evidence <br> page": (page.encode(), "html-br-units", HTML_UTF8),
        "every unit behind <br>": (all_br.encode(), "html-br-units", None),
        "plain reconstruction": (PLAIN.read_bytes(), "html-spaced-units", None),
        "glued units": (glued.encode(), "html-glued-units", None),
        "bare labels": (bare.encode(), "html-bare-labels", None),
        "header row of <td>": (td_header.encode(), "html-br-units", None),
        "among other tables": (among.encode(), "html-br-units", None),
        "nested in a layout table": (nested.encode(), "html-br-units", None),
        "CSV export": (EXPORT.read_bytes(), "csv-export", "text/csv; charset=utf-8"),
        "CSV export, ; quoted CRLF": (_csv(";", csv.QUOTE_ALL), "csv-export", None),
        "CSV export, tab": (_csv("\t"), "csv-export", "text/plain"),
        "pandas re-export (real)": (PANDAS_CSV.read_bytes(), "csv-pandas-reexport", None),
    }


@pytest.mark.parametrize("variant", list(_variants()))
def test_every_layout_variant_gives_the_same_rows(variant: str, schedule: pd.DataFrame) -> None:
    content, layout, content_type = _variants()[variant]
    frame = xmm.parse("short_term_schedule", content, URL, content_type=content_type)
    assert frame.attrs["layout"] == layout
    assert layout in xmm.LAYOUTS
    pd.testing.assert_frame_equal(frame.drop(columns="prime_text"), schedule.drop(columns="prime_text"))


def test_layouts_are_described_with_their_evidence() -> None:
    assert set(xmm.LAYOUTS) == {v[1] for v in _variants().values()}
    for ref in ("40802067601", "34337503711", "34455471219", "low_fidelity_planned.py"):
        assert ref in xmm.LAYOUTS["html-br-units"]
        assert ref in (xmm.__doc__ or "")
    assert "unverified" in xmm.LAYOUTS["csv-export"]


def test_page_matching_no_layout_lists_what_was_found_and_what_is_known() -> None:
    page = b"<html><body><table><tr><th>Rev</th><th>Target</th><th>Start</th></tr><tr><td>1</td><td>x</td>" + (
        b"<td>2025-01-01</td></tr></table><table><tr><td>News</td></tr></table></body></html>"
    )
    with pytest.raises(ParseError) as err:
        _parse(page)
    text = str(err.value)
    assert "matches no known layout" in text and "tables found" in text
    assert "['Rev', 'Target', 'Start']" in text and "['News']" in text
    for layout in xmm.LAYOUTS:
        assert layout in text
    assert URL in text and "xmm_newton" in text
    # a CSV with other columns: the same report, with the headers found
    with pytest.raises(ParseError, match="matches no known layout") as err:
        _parse(b"rev,target,start\n1,x,2025-01-01\n")
    assert err.value.found == ["rev", "target", "start"] and "csv-export" in str(err.value)


def test_missing_header_names_it_and_the_headers_found() -> None:
    with pytest.raises(ParseError) as err:
        _parse(_page("<TH>PA ddd.dd</TH>", "<TH>Roll</TH>"))
    assert "missing required header 'pa'" in str(err.value) and "layouts known" in str(err.value)
    assert err.value.column == "pa" and "Roll" in err.value.found and "Obs Id." in err.value.found
    assert str(err.value).count("headers found") == 1
    assert URL in str(err.value) and "xmm_newton" in str(err.value)
    with pytest.raises(ParseError) as err:  # CSV: the one header row is named
        _parse(EXPORT.read_bytes().replace(b"PA ddd.dd", b"Roll"))
    assert err.value.column == "pa" and "Roll" in err.value.found


# ------------------------------------------------------------------------------------------ obs ids
def test_obs_ids_are_padded_to_ten_digits_in_one_place() -> None:
    got = xmm.obs_ids(pd.Series(["963230101", 811026701, " 0811026501 ", "1", "0960860801"]))
    assert list(got) == ["0963230101", "0811026701", "0811026501", "0000000001", "0960860801"]
    with pytest.raises(ValueParseError) as err:
        xmm.obs_ids(["0963230101", "", "12345678901", "0963-23010", None, "9.6e8"])
    assert err.value.rows == [1, 2, 3, 4, 5]


def test_short_obs_id_on_the_page_is_padded_like_the_master_table() -> None:
    """Issue 11: the page refused 9-digit ids that parse_master padded; both pad now (one function)."""
    frame = _parse(_page(">0963230101</A>", ">963230101</A>"))
    assert frame["obs_id"].iloc[0] == "0963230101"
    with pytest.raises(ParseError, match="not an XMM obs id") as err:
        _parse(_page(">0963230101</A>", ">09632301011</A>"))
    assert (err.value.row, err.value.column) == (0, "Obs Id.")


# ---------------------------------------------------------------------------------------- duplicates
def _rows_of(text: str) -> list[str]:
    return ["<TR ALIGN=CENTER >" + r.split("</TR>")[0] + "</TR>" for r in text.split("<TR ALIGN=CENTER >")[1:]]


def test_duplicate_obs_ids_merge_when_they_agree_else_name_both_rows(schedule: pd.DataFrame) -> None:
    text = PAGE.read_text()
    first = _rows_of(text)[0]
    repeated = text.replace("</TABLE>", first + "\n</TABLE>")
    frame = _parse(repeated.encode())
    pd.testing.assert_frame_equal(frame, schedule, check_like=False)
    other = first.replace("<TD>Sgr A*</TD>", "<TD>Sgr B2</TD>")
    with pytest.raises(ParseError, match="listed for two different observations") as err:
        _parse(text.replace("</TABLE>", other + "\n</TABLE>").encode())
    assert "'Sgr A*' (row 0)" in str(err.value) and "'Sgr B2' (row 5)" in str(err.value)
    assert err.value.row == 5
    # the three Crab ids differ in durations: one id on two of them is two observations, not one
    crab = _rows_of(text)[4].replace("0811026601", "0811026501")
    with pytest.raises(ParseError, match="two different observations"):
        _parse(text.replace(_rows_of(text)[4], crab).encode())


def test_master_duplicates_merge_only_when_they_agree() -> None:
    text = MASTER.read_text()
    rows = text.split("<TR>")
    twice = text.replace("</TABLEDATA>", "<TR>" + rows[1].split("</TR>")[0] + "</TR>\n</TABLEDATA>")
    assert len(xmm.parse_master(twice.encode(), "u")) == 2
    renamed = "<TR>" + rows[1].split("</TR>")[0].replace("<TD>Crab</TD>", "<TD>Vela</TD>") + "</TR>\n"
    with pytest.raises(ParseError, match="two different observations"):
        xmm.parse_master(text.replace("</TABLEDATA>", renamed + "</TABLEDATA>").encode(), "u")


# --------------------------------------------------------------------------------------- bad cells
@pytest.mark.parametrize(
    ("old", "new", "message", "row", "column"),
    [
        ("<TD>( 15.1)</TD>", "<TD>( 15.1</TD>", "not a duration", 4, "PN Dur Ks"),
        ("<TD>17:45:40</TD>", "<TD>17:45</TD>", "not a RA", 0, "RA hh:mm:ss"),
        ("<TD>17:45:40</TD>", "<TD>24:00:01</TD>", r"RA outside \[0, 360\]", 0, "RA hh:mm:ss"),
        ("<TD>17:45:40</TD>", "<TD></TD>", "missing position", 0, "RA hh:mm:ss"),
        ("<TD>-29:00:28</TD>", "<TD>-90:00:01</TD>", r"Dec outside \[-90, 90\]", 0, "DEC dd:mm:ss"),
        ("<TD>268.27</TD>", "<TD>400</TD>", r"position angle in \[0, 360\]", 0, "PA ddd.dd"),
        ("<TD>268.27</TD>", "<TD>inf</TD>", "position angle", 0, "PA ddd.dd"),
        ("<TD>2025-09-05 08:09:36</TD>", "<TD>05/09/2025 08:09</TD>", "ISO time", 0, None),
        ("<TD>2025-09-05 08:09:36</TD>", "<TD>1999-09-05 08:09:36</TD>", "outside", 0, None),  # before launch
        ("<TD>2025-09-05 21:46:16</TD>", "<TD>2200-09-05 21:46:16</TD>", "outside", 0, None),  # never wraps
        ("<TD>2025-09-05 21:46:16</TD>", "<TD></TD>", "missing time", 0, None),
        ("<TD>2025-09-05 21:46:16</TD>", "<TD>2025-09-05 08:00:00</TD>", "ends before it starts", 0, None),
        ("<TD>EPIC</TD>", "<TD>HRC</TD>", "unknown prime instrument", 0, "Prime Instr."),
        ("<TD>4714</TD>", "<TD>47 14</TD>", "bad revolution", 0, "Revn #"),
        ("<TD>47.9</TD>", "<TD>147.9</TD>", "longer than the 49.0 ks from start to end", 0, None),
    ],
)
def test_garbage_cells_raise_with_row_and_column(old: str, new: str, message: str, row: int, column: str) -> None:
    with pytest.raises(ParseError, match=message) as err:
        _parse(_page(old, new))
    assert err.value.row == row
    if column is not None:
        assert err.value.column == column
    assert URL in str(err.value) and str(err.value).startswith("xmm_newton: ")


def test_prime_instrument_without_exposure_is_an_error_not_a_dropped_row() -> None:
    zero = _page("<TD>46.3</TD>\n<TD>47.9</TD>\n<TD>47.8</TD>", "<TD>0.0</TD>\n<TD>0.0</TD>\n<TD>0.0</TD>")
    with pytest.raises(ParseError, match="prime instrument EPIC has no exposure"):
        _parse(zero)


def test_pages_without_the_table_or_rows_are_errors() -> None:
    with pytest.raises(ParseError, match="no schedule table"):
        _parse(b"<html><body><p>Maintenance</p></body></html>")
    empty = "\n".join(PAGE.read_text().split("<TR ALIGN=CENTER >")[:1]) + "</TABLE></BODY></HTML>"
    with pytest.raises(ParseError, match="no rows"):
        _parse(empty.encode())
    with pytest.raises(ParseError, match="the CSV schedule has no rows"):
        _parse(EXPORT.read_bytes().split(b"\n")[0] + b"\n")
    with pytest.raises(ParseError, match="empty response"):
        _parse(b"  \n")
    with pytest.raises(ParseError, match="unknown request name"):
        xmm.parse("long_term", b"x", URL)


# ------------------------------------------------------------------------------------- text layer
def test_non_ascii_target_survives_to_votable_and_parquet(tmp_path: pathlib.Path) -> None:
    """Served as UTF-8 by the HTTP header only (no <meta charset>): `η Car – Café` arrives unchanged."""
    name = "η Car – Café"
    content = _page("<TD>BW Cir</TD>", f"<TD>{name}</TD>").decode().encode("utf-8")
    assert b"<meta" not in content.lower() and name.encode("utf-8") in content
    frame = xmm.parse("short_term_schedule", content, URL, content_type=HTML_UTF8)
    assert frame["target_name"].iloc[2] == name
    plan = xmm.normalise({"short_term_schedule": frame}, AS_OF)["obsplan"]
    assert _valid(plan, AS_OF) == []
    table = conform(plan.assign(t_planning=mjd_from_datetime(AS_OF)), OBSPLAN)
    for serialization in ("binary2", "tabledata"):
        vot = parse_votable(io.BytesIO(votable_bytes(table, OBSPLAN, serialization=serialization)))
        names = [str(v) for v in vot.get_first_table().array["target_name"]]
        assert names[2] == name and names[0] == "Sgr A*"
    write_parquet(table, OBSPLAN, tmp_path / "obsplan.parquet")
    assert pq.read_table(tmp_path / "obsplan.parquet").column("target_name").to_pylist()[2] == name


def test_http_charset_is_honoured_and_bad_bytes_are_named() -> None:
    """A windows-1252 page decodes by its HTTP charset; read as UTF-8 it is an error, never mojibake."""
    content = _page("<TD>BW Cir</TD>", "<TD>Café – 1</TD>").decode().encode("cp1252")
    frame = xmm.parse("short_term_schedule", content, URL, content_type="text/html; charset=windows-1252")
    assert frame["target_name"].iloc[2] == "Café – 1"
    with pytest.raises(ParseError, match="byte offset") as err:
        xmm.parse("short_term_schedule", content, URL, content_type=HTML_UTF8)
    assert URL in str(err.value)


# -------------------------------------------------------------------------------------- normalise
def test_schedule_only_gives_scheduled_rows(schedule: pd.DataFrame) -> None:
    plan = xmm.normalise({"short_term_schedule": schedule}, AS_OF)["obsplan"]
    assert _valid(plan, AS_OF) == []
    assert "t_planning" not in plan.columns
    assert len(plan) == 5
    assert set(plan["execution_status"]) == {"Scheduled"}
    by_id = plan.set_index("obs_id")
    # EPIC prime: the longest EPIC camera (MOS1 47.9 ks) for Sgr A*
    assert by_id.loc["0963230101", "t_plan_exptime"] == pytest.approx(47_900.0)
    assert by_id.loc["0963230101", "t_exptime"] == pytest.approx(47_900.0)
    # the filter-closed Crab calibration is an observation of 16.6 ks, flagged
    assert by_id.loc["0811026601", "t_plan_exptime"] == pytest.approx(16_600.0)
    assert bool(by_id.loc["0811026601", "x_xmm_newton_filter_closed"])
    assert not bool(by_id.loc["0963230101", "x_xmm_newton_filter_closed"])
    assert by_id.loc["0811026601", "x_xmm_newton_pn_ks"] == 15.1
    assert set(plan["facility_name"]) == {"XMM-Newton"} == set(plan["obs_collection"])
    assert set(plan["instrument_name"]) == {"EPIC"}
    assert set(plan["category"]) == {"Other"} and set(plan["priority"]) == {1}
    assert set(plan["tracking_type"]) == {"Sidereal"}
    assert by_id.loc["0963230101", "em_min"] == pytest.approx(1.239841984e-6 / 15_000)
    assert by_id.loc["0963230101", "em_max"] == pytest.approx(1.239841984e-6 / 150)
    assert by_id.loc["0963230101", "s_fov"] == 0.5 and by_id.loc["0963230101", "s_resolution"] == 6.0
    assert plan["s_region"].str.startswith("Polygon ICRS ").all()


def test_master_confirms_performed_rows_by_obs_id(schedule: pd.DataFrame, master: pd.DataFrame) -> None:
    as_of = dt.datetime(2025, 9, 6, tzinfo=dt.UTC)  # every schedule row ended before this
    plan = xmm.normalise({"short_term_schedule": schedule, "xmmmaster": master}, as_of)["obsplan"]
    assert _valid(plan, as_of) == []
    assert len(plan) == 5 and plan["obs_id"].is_unique
    status = plan.set_index("obs_id")["execution_status"].to_dict()
    assert status == {
        "0963230101": "Scheduled",
        "0811026701": "Scheduled",
        "0960860801": "Scheduled",  # ended before as-of, but nothing confirms it: stays Scheduled
        "0811026501": "Performed",
        "0811026601": "Performed",
    }
    row = plan.set_index("obs_id").loc["0811026501"]
    assert row["t_plan_exptime"] == pytest.approx(10_600.0)  # from the plan
    assert row["t_exptime"] == pytest.approx(10_600.0)  # as flown: longest EPIC camera time
    assert row["t_min"] == pytest.approx(master.set_index("obsid").loc["0811026501", "time"])
    assert row["x_xmm_newton_master_status"] == "observed"


def test_master_only_rows_are_performed_with_a_circle(master: pd.DataFrame) -> None:
    plan = xmm.normalise({"xmmmaster": master}, REPLAY_AS_OF)["obsplan"]
    assert _valid(plan, REPLAY_AS_OF) == []
    assert set(plan["execution_status"]) == {"Performed"}
    assert plan["t_plan_exptime"].isna().all()
    assert plan["s_region"].str.startswith("Circle ICRS 83.633330 22.014440 0.250000").all()


def test_master_restores_zeros_of_numeric_obsid_and_checks_status_time_position() -> None:
    text = MASTER.read_text()
    numeric = text.replace('arraysize="*" datatype="char" name="obsid"', 'datatype="long" name="obsid"')
    numeric = numeric.replace("<TD>0811026501</TD>", "<TD>811026501</TD>").replace(
        "<TD>0811026601</TD>", "<TD>811026601</TD>"
    )
    assert 'datatype="long" name="obsid"' in numeric
    frame = xmm.parse_master(numeric.encode(), "u")
    assert list(frame["obsid"]) == ["0811026501", "0811026601"]
    with pytest.raises(ParseError, match="unknown xmmmaster status 'lost'"):
        xmm.parse_master(text.replace("<TD>observed</TD>", "<TD>lost</TD>", 1).encode(), "u")
    with pytest.raises(ParseError, match="expected a VOTable"):
        xmm.parse_master(b"<html><body>Service unavailable</body></html>", "u")
    time = "<TD>60922.56726851852</TD>"  # 0811026501 start, as the builder wrote it
    assert float(time[4:-5]) == pytest.approx(Time("2025-09-04 13:36:52", scale="utc").mjd, abs=1e-9)
    with pytest.raises(ParseError) as err:
        xmm.parse_master(text.replace(time, "<TD>1e300</TD>", 1).encode(), "u")
    assert (err.value.row, err.value.column) == (0, "time")
    with pytest.raises(ParseError, match="not an XMM obs id"):
        xmm.parse_master(text.replace("<TD>0811026501</TD>", "<TD>08110265011</TD>").encode(), "u")


# -------------------------------------------------------------------------------------- footprint
def test_epic_footprint_is_a_ccw_octagon_around_the_field() -> None:
    ra, dec, pa = np.array([83.633333, 266.416667]), np.array([22.014444, -29.007778]), np.array([85.49, 268.27])
    vra, vdec = xmm.epic_footprint(ra, dec, pa)
    assert vra.shape == (2, 8)
    centre = SkyCoord(ra[:, None], dec[:, None], unit="deg")
    verts = SkyCoord(vra, vdec, unit="deg")
    sep = centre.separation(verts).arcmin
    assert np.allclose(sep, 15.0 / np.cos(np.pi / 8), atol=1e-6)
    angles = centre.position_angle(verts).deg
    assert angles[0, 0] == pytest.approx(85.49, abs=1e-6)
    assert angles[1, 0] == pytest.approx(268.27, abs=1e-6)
    steps = np.diff(np.unwrap(np.deg2rad(angles), axis=1), axis=1)
    assert np.allclose(np.rad2deg(steps), 45.0, atol=1e-6)  # increasing PA: N->E, counter-clockwise


# ------------------------------------------------------------------------------ requests, recordings
def test_requests_and_source() -> None:
    reqs = xmm.requests(dt.date(2025, 9, 4))
    assert [r.name for r in reqs] == ["short_term_schedule", "xmmmaster"]
    assert reqs[0].url == URL and reqs[0].kind == "http"
    tap = reqs[1]
    assert tap.kind == "tap" and tap.method == "POST" and tap.url.endswith("/xamin/vo/tap")
    assert "FROM xmmmaster WHERE end_time > 60915.0 AND time < 60929.0" in tap.query
    assert xmm.SOURCE.facility == "XMM-Newton" and xmm.SOURCE.cron == "0 */6 * * *"
    assert xmm.SOURCE.parse is xmm.parse and xmm.SOURCE.normalise is xmm.normalise


def test_recordings_cover_the_requests_and_give_valid_rows() -> None:
    entries = json.loads((RECORDINGS / "responses.json").read_text())
    reqs = {r.name: r for r in xmm.requests(dt.date(2025, 9, 4))}
    assert sorted(e["request"] for e in entries) == sorted(reqs)
    frames = {
        e["request"]: xmm.parse(
            e["request"], (RECORDINGS / e["file"]).read_bytes(), reqs[e["request"]].url, e.get("content_type")
        )
        for e in entries
    }
    assert frames["short_term_schedule"].attrs["layout"] == "html-br-units"
    plan = xmm.normalise(frames, REPLAY_AS_OF)["obsplan"]
    assert _valid(plan, REPLAY_AS_OF) == []
    assert len(plan) == 5
    assert plan["obs_id"].str.fullmatch(xmm.SOURCE.id_pattern.strip("^$")).all()
    assert (plan["execution_status"] == "Performed").sum() == 2


def test_recorded_page_is_the_tested_page() -> None:
    assert (RECORDINGS / PAGE.name).read_bytes() == PAGE.read_bytes()
    assert (RECORDINGS / MASTER.name).read_bytes() == MASTER.read_bytes()


def test_schedule_table_is_read_through_html_tables() -> None:
    """Headers spelt with ``.``/``#``/``_`` match; a separator row is no observation; two headers for one field fail."""
    first = _rows_of(PAGE.read_text())[0]
    separated = _page(first, first + '\n<TR><TD COLSPAN="16">--- Revolution 4714 ---</TD></TR>')
    schedule = _parse(separated)
    assert schedule["obs_id"].tolist() == _parse(PAGE.read_bytes())["obs_id"].tolist()
    assert len(schedule) == 5 and schedule.index.tolist() == [0, 1, 2, 3, 4]
    renamed = (
        PAGE.read_text().replace("<TH>Revn #</TH>", "<TH>Revn No.</TH>").replace("<TH>Obs Id.</TH>", "<TH>OBS_ID</TH>")
    )
    assert _parse(renamed.encode())["revolution"].tolist() == [4714] * 5
    with pytest.raises(ParseError, match="ambiguous header"):
        _parse(_page("<TH>PI</TH>", "<TH>Target</TH>"))
