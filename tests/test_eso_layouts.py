"""ESO sched_rep_arc: every evidenced layout variant, both run-id formats, modes and run types.

Pages are the ``*_reconstructed.*`` files of tests/data/eso (PROVENANCE.md: layouts from sources.md
evidence ids 31384208192, 36951584479, 19058544301; values from real recorded ESO files).
"""

from __future__ import annotations

import datetime as dt
import pathlib

import numpy as np
import pandas as pd
import pytest
from astropy.time import Time

from scrapers import eso
from scrapers.base import ParseError

DATA = pathlib.Path(__file__).parent / "data" / "eso"
QUERY = "https://archive.eso.org/wdb/wdb/eso/sched_rep_arc/query?wdbo=html/display&progid="
AS_OF = dt.datetime(2025, 9, 5, tzinfo=dt.UTC)
G2_TITLE = "WATCHING THE GAS CLOUD G2 DISRUPT AS IT APPROACHES THE MASSIVE BLACK HOLE IN THE GALACTIC CENTRE"


def _bytes(name: str) -> bytes:
    return (DATA / name).read_bytes()


def _mjd(iso: str) -> float:
    return float(Time(iso, scale="utc").mjd)


def test_layouts_are_described_with_their_evidence():
    assert set(eso.LAYOUTS) == {
        "csv",
        "display-dotted",
        "display-dotted-colon",
        "display-table",
        "table-records",
        "tabular",
    }
    assert "31384208192" in eso.LAYOUTS["display-dotted"]
    assert "36951584479" in eso.LAYOUTS["display-table"]


def test_dotted_labels_without_colon_one_record_run_id_from_the_query():
    """The older html/display (id 31384208192): labels padded with dots, no colon, run id only in the query."""
    url = QUERY + "091.B-0088(B)"
    runs = eso.parse("sched_rep_arc", _bytes("sched_rep_arc_display_091.B-0088B_reconstructed.html"), url)
    assert runs.attrs["layout"] == "display-dotted"
    assert len(runs) == 1
    r = runs.iloc[0]
    assert (r["run_id"], r["programme_id"], r["period"]) == ("091.B-0088(B)", "091.B-0088", 91)
    assert (r["obs_mode"], r["telescope"], r["instrument"], r["facility"]) == ("Visitor", "UT4", "SINFONI", "ESO-VLT")
    assert (r["alloc_value"], r["alloc_unit"]) == (2.0, "nights")
    # PI/CoI as dbo.raw gives it; the PI is the first name
    assert r["pi_coi"] == "GILLESSEN/ GENZEL/ EISENHAUER/ OTT/ PFUHL/ FRITZ/ BLIND"
    assert r["pi"] == "GILLESSEN"
    assert r["title"] == G2_TITLE
    # P91 = 1 April .. 30 September 2013 (odd period), noon UT boundaries
    assert r["period_t_min"] == pytest.approx(_mjd("2013-04-01T12:00:00"))
    assert r["period_t_max"] == pytest.approx(_mjd("2013-10-01T12:00:00"))


def test_new_run_id_format_parses_and_gives_its_programme():
    """``106.212B.001`` (id 19058544301): programme ``106.212B``; P106 = 2020-10-01 .. 2021-03-31."""
    url = QUERY + "106.212B.001"
    runs = eso.parse("sched_rep_arc", _bytes("sched_rep_arc_display_106.212B.001_reconstructed.html"), url)
    r = runs.iloc[0]
    assert (r["run_id"], r["programme_id"], r["period"], r["facility"]) == (
        "106.212B.001",
        "106.212B",
        106,
        "ESO-VLT",
    )
    assert r["period_t_min"] == pytest.approx(_mjd("2020-10-01T12:00:00"))
    assert r["period_t_max"] == pytest.approx(_mjd("2021-04-01T12:00:00"))
    assert np.isnan(r["alloc_value"]) and r["n_nights"] == 0


def test_dotted_answer_without_run_id_or_progid_is_refused():
    page = _bytes("sched_rep_arc_display_091.B-0088B_reconstructed.html")
    with pytest.raises(ParseError, match="required header missing") as err:
        eso.parse("sched_rep_arc", page, "https://archive.eso.org/wdb/wdb/eso/sched_rep_arc/query?wdbo=html")
    assert err.value.column == "run_id"
    assert "PI/CoI" in err.value.found and "Proposal Title" in err.value.found


def test_record_table_of_th_td_rows():
    """Newer html/display (id 36951584479): <table id=wdbresults1> of <tr><th>Label</th><td>value</td></tr>."""
    url = QUERY + "093.B-0217%28F%29"
    runs = eso.parse("sched_rep_arc", _bytes("sched_rep_arc_record_table_093.B-0217F_reconstructed.html"), url)
    assert runs.attrs["layout"] == "display-table"
    r = runs.iloc[0]
    assert (r["run_id"], r["period"], r["obs_mode"], r["pi"]) == ("093.B-0217(F)", 93, "Visitor", "GILLESSEN")
    # P93 = 1 April .. 30 September 2014
    assert r["period_t_min"] == pytest.approx(_mjd("2014-04-01T12:00:00"))


def test_multi_record_answer_takes_run_ids_from_the_record_links():
    """Rows <tr id="N"> whose first cell links to the record (id 36951584479); both id formats."""
    url = "https://archive.eso.org/wdb/wdb/eso/sched_rep_arc/query?wdbo=html/display&instrument=SINFONI"
    runs = eso.parse("sched_rep_arc", _bytes("sched_rep_arc_table_records_reconstructed.html"), url)
    assert runs.attrs["layout"] == "table-records"
    assert runs["run_id"].tolist() == ["091.B-0088(B)", "093.B-0217(F)", "106.212B.001"]
    assert runs["programme_id"].tolist() == ["091.B-0088", "093.B-0217", "106.212B"]
    assert runs["period"].tolist() == [91, 93, 106]


def test_tabular_mode_gives_the_same_runs_as_the_record_links():
    tab = eso.parse("sched_rep_arc", _bytes("sched_rep_arc_tabular_reconstructed.html"), QUERY)
    rec = eso.parse("sched_rep_arc", _bytes("sched_rep_arc_table_records_reconstructed.html"), QUERY)
    assert tab.attrs["layout"] == "tabular"
    pd.testing.assert_frame_equal(tab, rec)


def test_unknown_html_layout_lists_the_known_ones():
    page = b"<html><body><table><tr><th>Foo</th><th>Bar</th></tr><tr><td>1</td><td>2</td></tr></table></body></html>"
    with pytest.raises(ParseError, match="no layout matched") as err:
        eso.parse("sched_rep_arc", page, QUERY)
    assert "display-table" in str(err.value) and "tabular" in str(err.value)


@pytest.mark.parametrize(
    ("mode", "run_type", "category", "priority"),
    [
        ("Visitor", "Normal", "Fixed", 2),
        ("Designated visitor", "", "Fixed", 2),
        ("Designated Visitor Mode", "Large/GTO", "Fixed", 2),
        ("Service", "ToO/ToO", "Other", 1),
        ("Service", "Large/GTO", "Other", 0),
        ("Service", "Target of Opportunity", "Other", 1),
        ("", "", "Other", 1),
        ("s", "", "Other", 0),
    ],
)
def test_modes_and_combined_run_types_map_to_obsloctap(mode, run_type, category, priority):
    cat, pri = eso.mode_mapping(pd.Series([mode]), pd.Series([run_type]))
    assert (cat[0], int(pri[0])) == (category, priority)


def test_combined_run_types_and_designated_visitor_through_the_csv():
    text = _bytes("sched_rep_arc_P115_reconstructed.csv")
    text = text.replace(b"115,179.B-2002(B),Service,Large,", b"115,179.B-2002(B),Service,ToO / ToO,")
    text = text.replace(b"115,093.B-0217(F),Visitor,", b"115,093.B-0217(F),Designated visitor,")
    runs = eso.parse("sched_rep_arc", text, QUERY).set_index("run_id")
    assert runs.loc["179.B-2002(B)", "run_type"] == "ToO/ToO"
    assert runs.loc["093.B-0217(F)", "obs_mode"] == "Designated visitor"
    plan = eso.normalise({"sched_rep_arc": runs.reset_index()}, AS_OF)["obsplan"].set_index("obs_id")
    assert tuple(plan.loc["179.B-2002(B)", ["category", "priority"]]) == ("Other", 1)
    assert tuple(plan.loc["093.B-0217(F)", ["category", "priority"]]) == ("Fixed", 2)
    assert plan.loc["179.B-2002(B)", "x_eso_run_type"] == "ToO/ToO"


def test_new_format_runs_match_archive_exposures_by_programme():
    """An exposure of run 106.212B.001 inside P106 matches the schedule run; classic ids still match."""
    runs = eso.parse("sched_rep_arc", _bytes("sched_rep_arc_tabular_reconstructed.html"), QUERY)
    exp_mjd = _mjd("2021-01-15T03:00:00")
    exposures = pd.DataFrame(
        {
            "dp_id": ["GIRAF.2021-01-15T03:00:00.000", "SINFO.2013-08-27T01:05:24.328"],
            "run_id": ["106.212B.001", "091.B-0088(B)"],
            "ob_id": ["3000001", "200282039"],
            "object": ["Tr 14", "SGR A"],
            "ra": [160.9, 266.4],
            "dec": [-59.5, -29.0],
            "instrument": ["FLAMES", "SINFONI"],
            "telescope": ["ESO-VLT-U2", "ESO-VLT-U4"],
            "dp_cat": ["SCIENCE", "SCIENCE"],
            "exptime": [600.0, 300.0],
            "mjd_obs": [exp_mjd, _mjd("2013-08-27T01:05:24.328")],
            "obs_mode": ["s", "v"],
            "release_date": pd.to_datetime(["2022-01-15", "2014-08-27"], utc=True),
        }
    )
    out = eso.normalise({"sched_rep_arc": runs, "tap_raw": exposures}, AS_OF)["obsplan"]
    performed = out[out["execution_status"].eq("Performed")].set_index("x_eso_run_id")
    assert set(performed.index) == {"106.212B.001", "091.B-0088(B)"}
    # both past runs were replaced by their observations
    assert not out["obs_id"].isin(["106.212B.001", "091.B-0088(B)"]).any()
    assert out["obs_id"].isin(["093.B-0217(F)"]).any()


def test_run_id_formats_and_programme_ids():
    ids = pd.Series(["099.C-0667(B)", "0101.C-0123(A)", "106.212B.001", "110.23GM.002"])
    assert ids.str.fullmatch(eso.RUN_ID).all()
    assert eso.programme_of(ids).tolist() == ["099.C-0667", "0101.C-0123", "106.212B", "110.23GM"]
    assert not pd.Series(["91B-88", "106.212B", "106.212B.1"]).str.fullmatch(eso.RUN_ID).any()
