"""The tabular-input layer (scrapers.tabular, scrapers.votable_io): NULLs, whitespace, lying datatypes, FITS.

Real data: the HEASARC intscw VOTable 1.0 (7 rows), the HEASARC and ISDC FITS tables; the
pre-1.3 / ISDC-style VOTables with blanks are rebuilt from those real rows
(tests/data/integral/build_reconstructed.py, PROVENANCE.md).
"""

from __future__ import annotations

import io
import pathlib
import warnings

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from astropy.io.votable import parse as astropy_parse
from astropy.io.votable import writeto
from astropy.io.votable.tree import VOTableFile
from astropy.table import MaskedColumn, Table

from scrapers import tabular
from scrapers.base import ParseError
from scrapers.votable_io import read_votable

DATA = pathlib.Path(__file__).parent / "data" / "integral"
VOT7 = DATA / "intscw_7rows_votable_rec2022-03-31.xml"
VOT7_BLANK = DATA / "intscw_7rows_blank_isgri_reconstructed.xml"
CRAB_FITS = DATA / "intscw_Crab_11rows_rec2024-05-27.fits"
CRAB_FITS_BLANK = DATA / "intscw_Crab_11rows_blank_isgri_reconstructed.fits"
ISDC_FITS = DATA / "integral_rev3_scw_3c273_274rows_rec2023.fits"
ISDC_VOT = DATA / "integral_rev3_scw_3c273_isdc_votable_reconstructed.xml"
URL = "https://example.invalid/tap/sync"
NUMBERS = {"ra": "float", "dec": "float", "start_date": "float", "end_date": "float"} | {
    f"good_{k}": "float" for k in ("spi", "isgri", "picsit", "jemx1", "jemx2", "omc")
}


def _astropy(content: bytes) -> Table:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return astropy_parse(io.BytesIO(content), verify="ignore").get_first_table().to_table()


def _vot(version: str, cells: str, fields: str) -> bytes:
    return (
        f'<?xml version="1.0"?><VOTABLE version="{version}"><RESOURCE><TABLE>{fields}'
        f"<DATA><TABLEDATA>{cells}</TABLEDATA></DATA></TABLE></RESOURCE></VOTABLE>"
    ).encode()


# ------------------------------------------------------------------------------------------ NULLs
def test_real_votable_values_match_astropy() -> None:
    ours = read_votable(VOT7.read_bytes(), source="t", url=URL, string_columns=("scw_id", "obs_id"))
    ref = _astropy(VOT7.read_bytes())
    assert list(ours["scw_id"]) == [str(v) for v in ref["scw_id"]]
    assert ours["good_isgri"].dtype == "Int64" and list(ours["good_isgri"]) == [int(v) for v in ref["good_isgri"]]
    np.testing.assert_array_equal(ours["start_date"].to_numpy(), np.asarray(ref["start_date"], dtype=float))
    assert ours.attrs["version"] == "1.0" and ours.attrs["type_conflicts"] == []


def test_empty_int_cell_of_votable_1_0_is_null_not_zero() -> None:
    content = VOT7_BLANK.read_bytes()
    # the defect: astropy reads the empty <TD> of an int FIELD of VOTable 1.0 as 0, unmasked
    ref = _astropy(content)
    assert int(ref["good_isgri"][0]) == 0 and not np.ma.is_masked(ref["good_isgri"][0])
    ours = read_votable(content, source="t", url=URL)
    assert pd.isna(ours["good_isgri"].iloc[0])
    assert ours["good_isgri"].iloc[1] == 3150  # the next row is untouched


@pytest.mark.parametrize("version", ["1.0", "1.1", "1.2", "1.3", "1.4"])
def test_empty_cell_is_null_for_every_datatype_and_version(version: str) -> None:
    fields = (
        '<FIELD name="i" datatype="int"/><FIELD name="s" datatype="short"/><FIELD name="d" datatype="double"/>'
        '<FIELD name="b" datatype="boolean"/><FIELD name="c" datatype="char" arraysize="*"/>'
        '<FIELD name="n" datatype="int"><VALUES null="-999"/></FIELD>'
    )
    rows = "<TR><TD></TD><TD> </TD><TD/><TD></TD><TD></TD><TD>-999</TD></TR>"
    rows += "<TR><TD>7</TD><TD>-3</TD><TD>1.5</TD><TD>T</TD><TD>x</TD><TD>4</TD></TR>"
    frame = read_votable(_vot(version, rows, fields), source="t", url=URL)
    assert frame.iloc[0].isna().all(), frame.iloc[0].to_dict()
    assert frame.iloc[1].tolist() == [7, -3, 1.5, True, "x", 4]
    assert str(frame["i"].dtype) == "Int64" and frame["b"].dtype == "boolean"


def test_binary2_votable_nulls_follow_its_flags() -> None:
    table = Table({"a": MaskedColumn([1, 2], mask=[True, False], dtype="int32"), "b": [0.5, np.nan]})
    vot = VOTableFile.from_table(table)
    vot.get_first_table().format = "binary2"
    buf = io.BytesIO()
    writeto(vot, buf)
    frame = read_votable(buf.getvalue(), source="t", url=URL)
    assert frame.attrs["serialization"] == "binary"
    assert pd.isna(frame["a"].iloc[0]) and frame["a"].iloc[1] == 2
    assert frame["b"].iloc[0] == 0.5 and np.isnan(frame["b"].iloc[1])


# ------------------------------------------------------------------------- whitespace, datatypes
def test_isdc_votable_with_leading_whitespace_and_int_fields_is_read() -> None:
    content = ISDC_VOT.read_bytes()
    assert content.startswith(b"\n\n   <?xml")
    with pytest.raises(ValueError, match="declaration"):
        _astropy(content)  # what the old reader handed it to
    frame = read_votable(content, source="t", url=URL)
    assert frame.attrs["version"] == "1.1" and set(frame.attrs["declared"].values()) == {"int"}
    # declared int, holding text / floats / ISO dates: kept as text, listed, never forced
    assert {"scw_type", "ra_x", "start_date", "obs_id", "pi_name"} <= set(frame.attrs["type_conflicts"])
    row = frame.set_index("scw_id").loc["063500630010"]  # read as written: the leading zero is kept
    assert row["scw_type"] == "POINTING" and row["ra_x"] == "186.506577"
    # what the caller asks for is applied strictly
    typed = read_votable(content, source="t", url=URL, types={"ra_x": "float", "good_isgri": "float"})
    assert typed.set_index("scw_id").loc["063500630010", "ra_x"] == pytest.approx(186.506577)


def test_value_contradicting_the_asked_type_names_row_and_column() -> None:
    content = ISDC_VOT.read_bytes()
    row = tabular.read_votable_cells(content, source="t", url=URL)["ra_x"].tolist().index("186.508591")
    content = content.replace(b"<TD>186.508591</TD>", b"<TD>186.5O8591</TD>", 1)
    with pytest.raises(ParseError, match="not a number") as err:
        read_votable(content, source="isdc", url=URL, types={"ra_x": "float"})
    assert err.value.row == row and err.value.column == "RA_X" and err.value.source == "isdc"
    assert URL in str(err.value)


def test_broken_votables_raise_parse_errors() -> None:
    error = (
        b'<?xml version="1.0"?><VOTABLE version="1.3" xmlns="http://www.ivoa.net/xml/VOTable/v1.3"><RESOURCE '
        b'type="results"><INFO name="QUERY_STATUS" value="ERROR">Table intscw2 does not exist</INFO>'
        b"</RESOURCE></VOTABLE>"
    )
    with pytest.raises(ParseError, match="service error: Table intscw2 does not exist"):
        read_votable(error, source="t", url=URL)
    with pytest.raises(ParseError, match="expected a VOTable"):
        read_votable(b"<html><body>BatchStart Table does not exist</body></html>", source="t", url=URL)
    short = _vot("1.3", "<TR><TD>1</TD><TD>2</TD></TR><TR><TD>3</TD></TR>", '<FIELD name="a" datatype="int"/>' * 2)
    with pytest.raises(ParseError, match="1 cells where the table has 2") as err:
        read_votable(
            short.replace(b'name="a" datatype="int"/><FIELD name="a"', b'name="a" datatype="int"/><FIELD name="b"'),
            source="t",
            url=URL,
        )
    assert err.value.row == 1
    with pytest.raises(ParseError, match="unreadable VOTable"):
        read_votable(VOT7.read_bytes()[:3000], source="t", url=URL)


# ------------------------------------------------------------------------------- FITS == VOTable
def test_isdc_fits_and_isdc_votable_give_the_same_cells_and_nulls() -> None:
    from_fits = tabular.read_fits_cells(ISDC_FITS.read_bytes(), source="t", url=URL)
    from_vot = tabular.read_votable_cells(ISDC_VOT.read_bytes(), source="t", url=URL)
    assert from_fits.attrs["format"] == "fits-ascii" and from_fits.attrs["declared"]["scw_type"] == "int"
    same = from_fits.set_index("scw_id").loc[from_vot["scw_id"]].reset_index()
    pd.testing.assert_frame_equal(same, from_vot, check_dtype=False)
    assert from_vot["good_isgri"].isna().sum() == 13  # the real blanks (observation 01200230003 and others)
    kinds = {"ra_x": "float", "dec_x": "float", "good_isgri": "float", "good_spi": "float"}
    a = tabular.coerce(same, kinds, source="t", url=URL)
    b = tabular.coerce(from_vot, kinds, source="t", url=URL)
    pd.testing.assert_frame_equal(a[list(kinds)], b[list(kinds)])


def test_heasarc_fits_and_votable_1_0_give_the_same_answer_with_a_blank() -> None:
    vot = read_votable(VOT7_BLANK.read_bytes(), source="t", url=URL, types=NUMBERS)
    fits_cells = tabular.read_fits_cells(CRAB_FITS_BLANK.read_bytes(), source="t", url=URL)
    fit = tabular.coerce(fits_cells, NUMBERS, source="t", url=URL).set_index("scw_id").loc[vot["scw_id"]]
    for col in NUMBERS:
        np.testing.assert_allclose(fit[col].to_numpy(), vot[col].to_numpy(), rtol=0, atol=1e-9, equal_nan=True)
    assert np.isnan(vot["good_isgri"].iloc[0]) and np.isnan(fit["good_isgri"].iloc[0])
    # astropy reads the blank (= TNULL9) field of the ASCII table as 0 too, unmasked
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = Table.read(CRAB_FITS_BLANK, hdu=1)
    assert int(ref["GOOD_ISGRI"][0]) == 0 and not np.ma.is_masked(ref["GOOD_ISGRI"][0])


def test_fits_binary_table_nulls() -> None:
    cols = [
        fits.Column(name="ID", format="12A", array=np.array(["063500630010", ""])),
        fits.Column(name="GOOD", format="J", null=-1, array=np.array([2625, -1])),
        fits.Column(name="RA", format="D", array=np.array([186.5, np.nan])),
    ]
    buf = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(cols)]).writeto(buf)
    frame = tabular.read_fits_cells(buf.getvalue(), source="t", url=URL)
    assert frame.attrs["format"] == "fits-binary"
    assert frame["id"].tolist() == ["063500630010", None]
    assert frame["good"].iloc[0] == 2625 and pd.isna(frame["good"].iloc[1])
    assert frame["ra"].iloc[0] == 186.5 and np.isnan(frame["ra"].iloc[1])
    assert tabular.to_text(frame["good"]).tolist() == ["2625", None]


def test_broken_fits_raise_parse_errors() -> None:
    raw = ISDC_FITS.read_bytes()
    with pytest.raises(ParseError, match="truncated|unreadable"):
        tabular.read_fits_cells(raw[: len(raw) - 30000], source="t", url=URL)
    buf = io.BytesIO()
    fits.PrimaryHDU().writeto(buf)
    with pytest.raises(ParseError, match="no table extension"):
        tabular.read_fits_cells(buf.getvalue(), source="t", url=URL)


# -------------------------------------------------------------------------------------------- CSV
def test_csv_cells_quoted_empty_and_non_ascii() -> None:
    body = '"Rev","Target",""\n"2771","η Car – Café",""\n"2772","",""\n'.encode()
    frame = tabular.read_csv_cells(body, source="t", url=URL, content_type="text/csv; charset=utf-8")
    assert frame.attrs["headers"] == ["Rev", "Target", ""]
    assert frame[1].tolist() == ["η Car – Café", None] and frame[2].isna().all()
    with pytest.raises(ParseError, match="byte offset 23"):
        tabular.read_csv_cells(b'"Rev","Target"\n"1","Caf\xe9"\n', source="t", url=URL)


def test_coercion_edges() -> None:
    assert tabular.to_int(pd.Series(["0x1F", "12", None, "-3"])).tolist()[:2] == [31, 12]
    with pytest.raises(Exception, match="not an integer"):
        tabular.to_int(pd.Series(["1.5"]))
    with pytest.raises(Exception, match="infinite"):
        tabular.to_float(pd.Series(["inf"]))
    assert tabular.to_bool(pd.Series(["T", "false", "?", None])).tolist()[:2] == [True, False]
    assert tabular.sniff(b"  \n<?xml version='1.0'?><VOTABLE/>") == "votable"
    assert tabular.sniff(b"SIMPLE  =                    T") == "fits"
    assert tabular.sniff(b"<!DOCTYPE html><html>") == "html"
