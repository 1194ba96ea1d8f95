"""Finding HTML tables and columns by header text (scrapers.html_tables)."""

from __future__ import annotations

import pytest

from scrapers.base import ParseError
from scrapers.html_tables import (
    find_table,
    match_columns,
    normalise_header,
    read_table,
    read_tables,
    select_columns,
)

PAGE = b"""<html><body>
<h2>First Schedule</h2>
<table>
<tr><th>obs_start</th><th>J2000_RA</th><th>Exp (ksec)</th><th>Extra</th></tr>
<tr><td> 2017:281:19:05:02 </td><td>262.67</td><td>60.6</td><td>x</td></tr>
<tr><td colspan="4">--- today ---</td></tr>
<tr><td></td><td></td><td></td><td></td></tr>
<tr><th>obs_start</th><th>J2000_RA</th><th>Exp (ksec)</th><th>Extra</th></tr>
<tr><td>2017:283:01:11:23</td><td>195.157</td><td>3.4</td><td>y</td></tr>
</table>
<table><caption>Second  table</caption>
<tr><td>Start</td><td>J2000 RA</td><td>ks</td></tr>
<tr><td>a</td><td>b</td><td>c</td></tr>
</table>
<h3>Layout</h3>
<table><tr><td><table><tr><th>inner</th></tr><tr><td>1</td></tr></table></td></tr></table>
</body></html>"""

COLUMNS = {"start": ("obs_start", "start"), "ra": ("J2000_RA", "J2000 RA"), "exp": ("Exp ksec", "ks", "Exp")}


def test_read_tables_titles_headers_rows() -> None:
    tables = read_tables(PAGE, source="src", url="http://x")
    assert [t.title for t in tables] == ["First Schedule", "Second table", "Layout", "Layout"]
    first = tables[0]
    assert first.headers == ("obs_start", "J2000_RA", "Exp (ksec)", "Extra")
    # the spanning separator, the blank row and the repeated header row are left out
    assert first.rows == (
        ("2017:281:19:05:02", "262.67", "60.6", "x"),
        ("2017:283:01:11:23", "195.157", "3.4", "y"),
    )
    # no <th>: the first row is the header
    assert tables[1].headers == ("Start", "J2000 RA", "ks")
    assert tables[1].rows == (("a", "b", "c"),)
    # nested tables: the outer one does not swallow the inner one's rows
    assert len(tables[2].headers) == 1
    assert tables[2].rows == ()
    assert tables[3].headers == ("inner",)
    assert tables[3].rows == (("1",),)


def test_normalise_header_ignores_case_underscores_brackets() -> None:
    assert normalise_header("J2000_RA") == normalise_header("J2000 RA") == normalise_header(" j2000  ra ") == "j2000 ra"
    assert normalise_header("Exp (ksec)") == "exp ksec"
    assert normalise_header("Exp [ks]") == "exp ks"


def test_normalise_header_ignores_dots_hashes_colons() -> None:
    """XMM-Newton and INTEGRAL spell headers with ``.``/``#``/``:``; they compare equal to plain words."""
    assert normalise_header("Obs Id.") == "obs id"
    assert normalise_header("Revn #") == "revn"
    assert normalise_header("MOS1 Dur. Ks") == "mos1 dur ks"
    assert normalise_header("RA hh:mm:ss") == normalise_header("ra hh mm ss") == "ra hh mm ss"
    assert normalise_header("Exp. time (s)") == "exp time s"
    assert normalise_header("PA ddd.dd") != normalise_header("PA dddd")


def test_match_columns_by_synonym_any_order() -> None:
    pos = match_columns(["ks", "J2000 RA", "Start"], COLUMNS, required=COLUMNS, source="s", url="u")
    assert pos == {"exp": 0, "ra": 1, "start": 2}


def test_match_columns_missing_required_names_header_and_found() -> None:
    with pytest.raises(ParseError) as err:
        match_columns(["obs_start", "Exp"], COLUMNS, required=("start", "ra"), source="src", url="http://x/p")
    e = err.value
    assert e.column == "ra"
    assert e.found == ["obs_start", "Exp"]
    assert "src" in str(e)
    assert "http://x/p" in str(e)
    assert "j2000 ra" in str(e)


def test_match_columns_optional_absent_is_fine() -> None:
    assert match_columns(["obs_start"], COLUMNS, required=("start",), source="s", url="u") == {"start": 0}


def test_match_columns_ambiguous() -> None:
    with pytest.raises(ParseError, match="ambiguous"):
        match_columns(["start", "obs_start"], COLUMNS, required=(), source="s", url="u")


def test_find_table_by_title_and_errors() -> None:
    tables = read_tables(PAGE, source="s", url="u")
    assert find_table(tables, title="first", source="s", url="u").index == 0
    assert find_table(tables, title="second", columns=COLUMNS, required=COLUMNS, source="s", url="u").index == 1
    with pytest.raises(ParseError, match="no table titled 'Long Range'") as err:
        find_table(tables, title="Long Range", source="s", url="u")
    assert "First Schedule" in str(err.value)
    with pytest.raises(ParseError, match="2 tables match"):
        find_table(tables, title="Layout", source="s", url="u")
    # a single table by title that lacks a column reports that column
    with pytest.raises(ParseError) as err:
        find_table(tables, title="first", columns={"dec": ("J2000_Dec",)}, required=("dec",), source="s", url="u")
    assert err.value.column == "dec"


def test_select_columns_frame_and_attrs() -> None:
    table = read_tables(PAGE, source="s", url="u")[0]
    frame = select_columns(table, COLUMNS, required=COLUMNS, source="s", url="u")
    assert list(frame.columns) == ["start", "ra", "exp"]
    assert frame["start"].tolist() == ["2017:281:19:05:02", "2017:283:01:11:23"]
    assert frame["exp"].tolist() == ["60.6", "3.4"]
    assert frame.index.tolist() == [1, 2]
    assert frame.attrs["unmatched_headers"] == ["Extra"]
    assert frame.attrs["header_of"] == {"start": "obs_start", "ra": "J2000_RA", "exp": "Exp (ksec)"}


def test_select_columns_ragged_row_and_empty_table() -> None:
    ragged = b"<table><tr><th>start</th><th>ks</th></tr><tr><td>1</td><td>2</td></tr><tr><td>3</td></tr></table>"
    table = read_tables(ragged, source="s", url="u")[0]
    cols = {"start": (), "exp": ("ks",)}
    with pytest.raises(ParseError) as err:
        select_columns(table, cols, required=cols, source="s", url="u")
    assert err.value.row == 2
    empty = read_tables(b"<table><tr><th>start</th><th>ks</th></tr></table>", source="s", url="u")[0]
    with pytest.raises(ParseError, match="has no rows"):
        select_columns(empty, cols, required=cols, source="s", url="u")
    frame = select_columns(empty, cols, required=cols, source="s", url="u", allow_empty=True)
    assert list(frame.columns) == ["start", "exp"]
    assert len(frame) == 0


def test_read_tables_rejects_empty_bytes() -> None:
    with pytest.raises(ParseError, match="empty response"):
        read_tables(b"  \n", source="s", url="u")


def test_find_table_names_the_table_it_wanted() -> None:
    tables = read_tables(PAGE, source="s", url="u")
    with pytest.raises(ParseError, match=r"no schedule table; tables found: \[") as err:
        find_table(
            tables, columns={"dec": ("J2000_Dec",)}, required=("dec",), source="s", url="u", what="schedule table"
        )
    assert "First Schedule" in str(err.value) and "Second table" in str(err.value)
    with pytest.raises(ParseError, match="no table with the expected columns"):
        find_table(tables, columns={"dec": ("J2000_Dec",)}, required=("dec",), source="s", url="u")


def test_read_table_finds_the_one_table_with_the_columns() -> None:
    page = b"""<html><body><h2>Schedule</h2>
    <table><tr><th>Revn #</th><th>Obs Id.</th><th>Extra</th></tr>
    <tr><td>4714</td><td>0963230101</td><td>x</td></tr>
    <tr><td colspan="3">separator</td></tr>
    <tr><td>4715</td><td>0811026701</td><td>y</td></tr></table>
    <table><tr><th>Other</th></tr><tr><td>1</td></tr></table>
    </body></html>"""
    cols = {"rev": ("revn",), "obs_id": ("obs id",)}
    frame = read_table(page, cols, required=cols, source="s", url="u")
    assert list(frame.columns) == ["rev", "obs_id"]
    assert frame["obs_id"].tolist() == ["0963230101", "0811026701"]  # text: leading zero kept
    assert frame["rev"].tolist() == ["4714", "4715"]
    assert frame.index.tolist() == [1, 2]
    assert frame.attrs["headers"] == ["Revn #", "Obs Id.", "Extra"]
    assert frame.attrs["title"] == "Schedule"
    # several tables, none with the columns: every table is listed
    with pytest.raises(ParseError, match="no table with the expected columns") as err:
        read_table(page.replace(b"Obs Id.", b"Observation"), cols, required=cols, source="s", url="u")
    assert "'Observation'" in str(err.value) and "'Other'" in str(err.value)
    # the page's only table lacks a column: that column is named, with the headers found
    single = b"<table><tr><th>Revn #</th><th>Observation</th></tr><tr><td>1</td><td>2</td></tr></table>"
    with pytest.raises(ParseError, match="missing required header 'obs_id'") as err:
        read_table(single, cols, required=cols, source="s", url="u")
    assert err.value.column == "obs_id" and err.value.found == ["Revn #", "Observation"]
    # header-only table: empty frame only when allowed
    empty = b"<table><tr><th>Revn #</th><th>Obs Id.</th></tr></table>"
    with pytest.raises(ParseError, match="has no rows"):
        read_table(empty, cols, required=cols, source="s", url="u")
    assert len(read_table(empty, cols, required=cols, source="s", url="u", allow_empty=True)) == 0
    with pytest.raises(ParseError, match="no table with the expected columns"):
        read_table(b"<html><body><p>Maintenance</p></body></html>", cols, required=cols, source="s", url="u")
