"""INTEGRAL: ISOC listings, science windows (HEASARC intscw, ISDC integral_rev3_scw) -> obsplan rows."""

from __future__ import annotations

import datetime as dt
import json
import pathlib
import warnings

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from astropy.table import Table

from models.tables.obsplan import OBSPLAN
from models.timeutil import mjd_from_datetime
from models.validate import validate
from scrapers import integral
from scrapers.base import ParseError

DATA = pathlib.Path(__file__).parent / "data" / "integral"
RECORDINGS = pathlib.Path(__file__).parent.parent / "recordings" / "integral"
ISDC_RECENT = DATA / "integral_rev3_scw_last-month_177rows_rec2024-05-27.fits"
ISDC_3C273 = DATA / "integral_rev3_scw_3c273_274rows_rec2023.fits"
HEASARC_RECENT = DATA / "intscw_last-month_177rows_rec2024-05-27.fits"
HEASARC_CRAB = DATA / "intscw_Crab_11rows_rec2024-05-27.fits"
VOTABLE_7 = DATA / "intscw_7rows_votable_rec2022-03-31.xml"
LISTING_HTML = DATA / "schedule_reconstructed.html"
LISTING_CSV = DATA / "schedule_reconstructed.csv"
EMPTY_HTML = DATA / "schedule_empty_reconstructed.html"
EMPTY_CSV = DATA / "schedule_empty_reconstructed.csv"
TAP = DATA / "intscw_tap_2024-04-27_reconstructed.vot"
URL = integral.SCHEDULE_URL
AS_OF = dt.datetime(2025, 9, 4, tzinfo=dt.UTC)


def _valid(frame: pd.DataFrame, as_of: dt.datetime) -> list:
    return validate(frame.assign(t_planning=mjd_from_datetime(as_of)), OBSPLAN)


def _scw(path: pathlib.Path) -> pd.DataFrame:
    return integral.parse("intscw", path.read_bytes(), str(path))


# ------------------------------------------------------------------------------ science windows
def test_astropy_cannot_decode_the_isdc_table() -> None:
    with fits.open(ISDC_RECENT) as hdul:
        assert hdul[1].header["TTYPE3"] == "SCW_TYPE" and hdul[1].header["TFORM3"].strip() == "I8"
        with pytest.raises(ValueError, match="POINTING"):
            _ = hdul[1].data["SCW_TYPE"]


def test_isdc_table_is_decoded_from_its_bytes() -> None:
    scw = _scw(ISDC_RECENT)
    assert len(scw) == 177
    first = scw.iloc[0]
    assert first["scw_id"] == "277100570010"
    assert first["scw_type"] == "pointing"
    assert first["obs_id"] == "21200090004"
    assert first["pi_name"] == "DR PIETRO UBERTINI"  # embedded newlines of the record become spaces
    assert first["ra"] == pytest.approx(107.322959899902)
    assert first["dec"] == pytest.approx(-10.4153614044189)
    assert first["good_isgri"] == 3275 and first["good_spi"] == 3277
    assert first["start_date"] == pytest.approx(mjd_from_datetime(dt.datetime(2024, 4, 29, 1, 20, 28, tzinfo=dt.UTC)))
    assert first["rev"] == 2771
    assert scw["scw_type"].value_counts().to_dict() == {"pointing": 88, "slew": 88, "other": 1}


def test_isdc_and_heasarc_recordings_of_the_same_windows_agree() -> None:
    isdc, heasarc = _scw(ISDC_RECENT), _scw(HEASARC_RECENT)
    both = isdc.merge(heasarc, on="scw_id", suffixes=("_i", "_h"))
    assert len(both) == 177
    assert (both["ra_i"] - both["ra_h"]).abs().max() < 1e-4
    assert (both["good_isgri_i"] == both["good_isgri_h"]).all()
    assert (both["obs_id_i"].fillna("") == both["obs_id_h"].fillna("")).all()
    # the two archives' times differ by a constant ~4.4 s (ISDC ISO dates vs HEASARC MJD)
    offset = (both["start_date_i"] - both["start_date_h"]) * 86_400
    assert offset.between(4.0, 5.0).all()


def test_heasarc_fits_decoding_matches_astropy() -> None:
    ours = _scw(HEASARC_CRAB)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = Table.read(HEASARC_CRAB, hdu=1).to_pandas()
    assert list(ours["scw_id"]) == [v.decode().strip() for v in ref["SCW_ID"]]
    assert np.allclose(ours["ra"], ref["RA"]) and np.allclose(ours["good_isgri"], ref["GOOD_ISGRI"])
    assert np.allclose(ours["start_date"], [float(v) for v in ref["START_DATE"]])


def test_votable_keeps_ids_as_strings() -> None:
    scw = _scw(VOTABLE_7)
    assert len(scw) == 7
    assert scw["scw_id"].iloc[0] == "228000160010" and scw["obs_id"].iloc[0] == "88603930001"
    assert scw["start_date"].iloc[0] == pytest.approx(59121.9224768039)


def test_shared_windows_count_for_each_observation_and_no_extname_is_fine() -> None:
    obs = integral.aggregate_observations(_scw(ISDC_3C273)).set_index("obs_id")
    for oid in ("05200730001", "05200790001", "05297000001"):
        assert obs.loc[oid, "n_pointings"] == 3
    assert not obs.index.str.contains(r"[,(]").any()


def test_aggregation_of_pointings_by_obs_id() -> None:
    obs = integral.aggregate_observations(_scw(HEASARC_RECENT)).set_index("obs_id")
    assert list(obs.index) == ["21200070020", "21200090004", "21700040002"]
    assert obs["n_pointings"].to_dict() == {"21200070020": 6, "21200090004": 24, "21700040002": 50}
    assert obs.loc["21200070020", "good_isgri_s"] == 1980 + 1946 + 1950 + 1990 + 1925 + 1984
    assert obs.loc["21200070020", "t_min"] == pytest.approx(60427.022516998)
    assert obs.loc["21200070020", "rev"] == 2770
    # a 5x5 dither ~2 deg apart: coverage circle = largest offset + 4.5 deg
    assert 9.0 < obs.loc["21200090004", "radius"] < 12.0


def test_broken_science_window_tables_raise() -> None:
    raw = ISDC_RECENT.read_bytes()
    bad = raw.replace(b"107.322959899902", b"1O7.3229598999O2", 1)
    assert len(bad) == len(raw)
    with pytest.raises(ParseError, match="not a number") as err:
        _scw_bytes(bad)
    assert err.value.column == "RA" and err.value.row == 0
    with pytest.raises(ParseError, match="truncated|unreadable"):
        _scw_bytes(raw[: len(raw) - 8000])
    with pytest.raises(ParseError, match="expected a VOTable"):
        _scw_bytes(b"<html><body>BatchStart Table integral_rev3_scw does not seem to exist!</body></html>")
    no_obs = VOTABLE_7.read_text().replace('name="obs_id"', 'name="observation"')
    with pytest.raises(ParseError, match="obs_id"):
        _scw_bytes(no_obs.encode())


def _scw_bytes(content: bytes) -> pd.DataFrame:
    return integral.parse("integral_rev3_scw", content, "https://isdc/w3query.pl")


# --------------------------------------------------------------------------------------- listings
@pytest.fixture(scope="module")
def listing() -> pd.DataFrame:
    return integral.parse("executed", LISTING_HTML.read_bytes(), URL)


def test_listing_html_and_csv_read_the_same(listing: pd.DataFrame) -> None:
    from_csv = integral.parse("executed_csv", LISTING_CSV.read_bytes(), URL)
    pd.testing.assert_frame_equal(listing, from_csv)
    assert len(listing) == 8
    crab = listing.iloc[0]
    assert (crab["rev"], crab["obs_id"], crab["observation"]) == (2280, "88603930001", "8860393 / 0001")
    assert crab["target"] == "Crab" and crab["exptime_s"] == 3594
    assert crab["t_min"] == pytest.approx(mjd_from_datetime(dt.datetime(2020, 9, 29, 22, 8, 22, tzinfo=dt.UTC)))
    assert crab["ra"] == pytest.approx(83.7697)
    assert listing["target"].iloc[5] is None  # no record names the 2024 targets
    assert list(listing["rev"]) == [2280, 2281, 2284, 2284, 2284, 2770, 2771, 2771]


def test_empty_listing_after_the_end_of_the_mission_is_legitimate() -> None:
    for name, path in (("future", EMPTY_HTML), ("future_csv", EMPTY_CSV), ("current", EMPTY_HTML)):
        frame = integral.parse(name, path.read_bytes(), URL)
        assert frame.empty and frame.attrs["empty_listing"]
    frames = {
        "executed": integral.parse("executed", LISTING_HTML.read_bytes(), URL),
        "future": integral.parse("future", EMPTY_HTML.read_bytes(), URL),
    }
    plan = integral.normalise(frames, AS_OF)["obsplan"]
    assert _valid(plan, AS_OF) == [] and len(plan) == 8
    before_end = dt.datetime(2024, 6, 1, tzinfo=dt.UTC)
    with pytest.raises(ParseError, match="empty future listing on 2024-06-01"):
        integral.normalise(frames, before_end)


def test_executed_listing_without_rows_is_an_error() -> None:
    with pytest.raises(ParseError, match="executed listing has no rows"):
        integral.parse("executed", EMPTY_HTML.read_bytes(), URL)


def test_page_without_the_table_is_a_layout_error_even_after_the_end() -> None:
    page = b"<html><body><h2>Future revolutions</h2><p>No data</p></body></html>"
    with pytest.raises(ParseError, match="no schedule table"):
        integral.parse("future", page, URL)
    with pytest.raises(ParseError, match="expected a CSV listing"):
        integral.parse("future_csv", page, URL)


def test_header_drift_names_missing_headers_and_found_ones() -> None:
    drifted = LISTING_HTML.read_text().replace("<th>Exp. time (s)</th>", "<th>Duration</th>")
    with pytest.raises(ParseError) as err:
        integral.parse("executed", drifted.encode(), URL)
    assert err.value.column == "exptime" and "Duration" in err.value.found and "Rev" in err.value.found
    drifted_csv = LISTING_CSV.read_text().replace("Observation", "Obs")
    with pytest.raises(ParseError, match="observation") as err:
        integral.parse("executed_csv", drifted_csv.encode(), URL)
    assert "Obs" in err.value.found


@pytest.mark.parametrize(
    ("old", "new", "message", "row"),
    [
        ("<td>3594</td>", "<td>about 1h</td>", "not a number", 0),
        ("<td>2020-09-29 22:08:22</td>", "<td>29/09/2020</td>", "not an ISO time", 0),
        ("<td>8860393 / 0002</td>", "<td>TBD</td>", "not an observation id", 1),
        ("<td>83.7697</td>", "<td>84.7697</td>", "disagree", 0),
    ],
)
def test_garbage_listing_cells_raise_with_row(old: str, new: str, message: str, row: int) -> None:
    text = LISTING_HTML.read_text()
    assert old in text
    with pytest.raises(ParseError, match=message) as err:
        integral.parse("executed", text.replace(old, new, 1).encode(), URL)
    assert err.value.row == row


# -------------------------------------------------------------------------------------- normalise
def test_future_rows_are_scheduled_until_science_windows_confirm_them(listing: pd.DataFrame) -> None:
    as_of = dt.datetime(2024, 4, 30, tzinfo=dt.UTC)
    future = integral.parse("future", LISTING_HTML.read_bytes(), URL)
    plan = integral.normalise({"future": future}, as_of)["obsplan"]
    assert _valid(plan, as_of) == []
    assert set(plan["execution_status"]) == {"Scheduled"}  # ended before as-of, not confirmed
    assert (plan["t_exptime"] == plan["t_plan_exptime"]).all()

    plan = integral.normalise({"future": future, "intscw": _scw(TAP)}, as_of)["obsplan"]
    assert _valid(plan, as_of) == []
    by_id = plan.set_index("obs_id")
    performed = by_id[by_id["execution_status"] == "Performed"]
    assert sorted(performed.index) == ["21200070020", "21200090004", "21700040002"]
    row = by_id.loc["21200070020"]
    assert row["t_plan_exptime"] == 14_484  # listing
    assert row["t_exptime"] == 11_775  # summed GOOD_ISGRI of the 6 pointings
    assert row["x_integral_rev"] == 2770 and row["x_integral_n_pointings"] == 6
    assert by_id.loc["21700040002", "priority"] == 2  # TOO
    assert by_id.loc["88603930001", "execution_status"] == "Scheduled"


def test_science_window_only_observations_are_performed() -> None:
    plan = integral.normalise({"integral_rev3_scw": _scw(ISDC_3C273)}, AS_OF)["obsplan"]
    assert _valid(plan, AS_OF) == []
    assert set(plan["execution_status"]) == {"Performed"}
    assert plan["t_plan_exptime"].isna().all()
    blank = plan.set_index("obs_id").loc["01200230003"]  # ISGRI blank in every window
    assert blank["t_exptime"] > 0
    assert plan["s_region"].str.startswith("Circle ICRS ").all()
    assert (plan["s_fov"] >= 9.0).all()


def test_instrument_metadata_and_coverage_instrument(listing: pd.DataFrame) -> None:
    plan = integral.normalise({"executed": listing}, AS_OF)["obsplan"]
    assert set(plan["instrument_name"]) == {"IBIS"} == {integral.COVERAGE_INSTRUMENT}
    assert plan["em_min"].iloc[0] == pytest.approx(1.239841984e-6 / 10e6)
    assert plan["em_max"].iloc[0] == pytest.approx(1.239841984e-6 / 15e3)
    assert plan["s_resolution"].iloc[0] == 720.0 and plan["s_fov"].iloc[0] == 9.0
    assert set(plan["facility_name"]) == {"INTEGRAL"} == set(plan["obs_collection"])
    spi, jemx = integral.INSTRUMENTS["SPI"], integral.INSTRUMENTS["JEM-X"]
    assert spi.s_fov == 16.0 and spi.s_resolution == 9000.0
    assert jemx.em_min == pytest.approx(1.239841984e-6 / 35e3)
    assert set(integral.INSTRUMENTS) == {"IBIS", "SPI", "JEM-X", "OMC"}


def test_requests_after_the_end_of_science() -> None:
    reqs = integral.requests(dt.date(2025, 9, 4))
    names = [r.name for r in reqs]
    assert names == ["executed", "current", "future", "executed_csv", "current_csv", "future_csv", "intscw"]
    assert dict(reqs[1].params) == {"action": "current"} and dict(reqs[4].params)["format"] == "csv"
    tap = reqs[-1]
    # window: the year before 2025-03-01 (MJD 60735), whatever the later as-of date
    assert tap.kind == "tap" and "FROM intscw WHERE end_date > 60370.0 AND start_date < 60735.0" in tap.query
    assert integral.requests(dt.date(2026, 1, 1))[-1].query == tap.query
    assert integral.SOURCE.facility == "INTEGRAL" and integral.SOURCE.cron == "0 3 1 * *"


def test_recordings_cover_the_requests_and_give_valid_rows() -> None:
    entries = json.loads((RECORDINGS / "responses.json").read_text())
    reqs = {r.name: r for r in integral.requests(dt.date(2025, 9, 4))}
    assert sorted(e["request"] for e in entries) == sorted(reqs)
    frames = {
        e["request"]: integral.parse(e["request"], (RECORDINGS / e["file"]).read_bytes(), reqs[e["request"]].url)
        for e in entries
    }
    plan = integral.normalise(frames, AS_OF)["obsplan"]
    assert _valid(plan, AS_OF) == []
    assert len(plan) == 8 and plan["obs_id"].is_unique
    assert set(plan["execution_status"]) == {"Performed"}
    assert plan["obs_id"].str.fullmatch(r"\d+").all()
    for e in entries:
        assert (RECORDINGS / e["file"]).read_bytes() == (DATA / e["file"]).read_bytes()
