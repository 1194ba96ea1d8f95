"""INTEGRAL: ISOC listings, science windows (HEASARC intscw, ISDC integral_rev3_scw) -> obsplan rows."""

from __future__ import annotations

import datetime as dt
import io
import json
import pathlib
import warnings

import numpy as np
import pandas as pd
import pytest
from astropy.coordinates import Angle
from astropy.io import fits
from astropy.table import Table
from astropy.time import Time

from models.arrow import conform
from models.parquet import read_parquet, write_parquet
from models.tables.obsplan import OBSPLAN
from models.timeutil import datetime_from_mjd, mjd_from_datetime
from models.validate import validate
from models.votable import votable_bytes
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
EV_CSV = DATA / "schedule_evidenced_reconstructed.csv"
EV_HTML = DATA / "schedule_evidenced_reconstructed.html"
MULTIREV = DATA / "schedule_multirev_3c273_reconstructed.csv"
VOT7_BLANK = DATA / "intscw_7rows_blank_isgri_reconstructed.xml"
CRAB_BLANK = DATA / "intscw_Crab_11rows_blank_isgri_reconstructed.fits"
ISDC_VOT = DATA / "integral_rev3_scw_3c273_isdc_votable_reconstructed.xml"
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
    assert scw.attrs["layout"] == "scw-votable" and _scw(ISDC_RECENT).attrs["layout"] == "scw-fits-ascii"


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


# ------------------------------------------------------------------------------- legacy listings
# The first reconstruction's named-header layout (no evidence) is still read: *-named-legacy.
@pytest.fixture(scope="module")
def listing() -> pd.DataFrame:
    return integral.parse("executed", LISTING_HTML.read_bytes(), URL)


def test_listing_html_and_csv_read_the_same(listing: pd.DataFrame) -> None:
    from_csv = integral.parse("executed_csv", LISTING_CSV.read_bytes(), URL)
    assert listing.attrs["layout"] == "html-named-legacy" and from_csv.attrs["layout"] == "csv-named-legacy"
    pd.testing.assert_frame_equal(listing.drop(columns="form"), from_csv.drop(columns="form"))
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


def test_header_drift_is_refused_naming_the_column_found() -> None:
    # Changed with the evidence: a renamed header no longer fails on the missing name; the table is
    # tried as the evidenced layout, whose columns the named headers contradict (PI at position 9).
    drifted = LISTING_HTML.read_text().replace("<th>Exp. time (s)</th>", "<th>Length</th>")
    with pytest.raises(ParseError, match="matches no known layout .*its header names 'pi'") as err:
        integral.parse("executed", drifted.encode(), URL)
    assert "Length" in err.value.found and "Rev" in err.value.found
    # without a header that gives the shift away, the values do: column 7 holds no dither pattern
    unnamed = drifted.replace("<th>PI</th>", "<th>Who</th>").replace("<th>Observation</th>", "<th>Id</th>")
    with pytest.raises(ParseError, match="should hold a dither pattern") as err:
        integral.parse("executed", unnamed.encode(), URL)
    assert err.value.column == "RA (deg)" and err.value.row == 0
    drifted_csv = LISTING_CSV.read_text().replace("Observation", "Obs")
    with pytest.raises(ParseError, match="matches no known layout .*its header names 'pi'") as err:
        integral.parse("executed_csv", drifted_csv.encode(), URL)
    assert "Obs" in err.value.found


@pytest.mark.parametrize(
    ("old", "new", "message", "row"),
    [
        ("<td>3594</td>", "<td>about 1h</td>", "should hold a duration", 0),
        ("<td>2020-09-29 22:08:22</td>", "<td>29/09/2020</td>", "should hold an ISO time", 0),
        ("<td>2020-09-29 22:08:22</td>", "<td>2020-13-29 22:08:22</td>", "not an ISO time", 0),
        ("<td>8860393 / 0002</td>", "<td>TBD</td>", "should hold an observation id", 1),
        ("<td>83.7697</td>", "<td>84.7697</td>", "disagree", 0),
        ("<td>05 35 04.73</td>", "<td>05 75 04.73</td>", "minutes or seconds of 60", 0),
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


def test_requests_use_the_evidenced_parameters() -> None:
    reqs = integral.requests(dt.date(2025, 9, 4))
    assert [r.name for r in reqs] == ["schedule", "schedule_csv", "intscw"]
    html, csv = dict(reqs[0].params), dict(reqs[1].params)
    assert html == {"selectMode": "rev", "action": "schedule", "startRevno": "1", "endRevno": html["endRevno"]}
    assert csv == {
        "action": "schedule",
        "startRevno": "1",
        "endRevno": html["endRevno"],
        "reverseSort": "",
        "format": "csv",
    }
    assert [k for k, _ in reqs[1].params] == ["action", "startRevno", "endRevno", "reverseSort", "format"]
    # the range ends past the last revolution of science: 2025-03-01 is ~115 revolutions after 2771
    # (2024-04-28): (MJD 60735 - 60427.35) / 2.6595 = 115.7
    assert int(html["endRevno"]) == 2771 + 115 + 3
    assert integral.requests(dt.date(2026, 1, 1))[0].params == reqs[0].params
    tap = reqs[-1]
    # window: the year before 2025-03-01 (MJD 60735), whatever the later as-of date
    assert tap.kind == "tap" and "FROM intscw WHERE end_date > 60370.0 AND start_date < 60735.0" in tap.query
    assert integral.requests(dt.date(2026, 1, 1))[-1].query == tap.query
    assert integral.SOURCE.facility == "INTEGRAL" and integral.SOURCE.cron == "0 3 1 * *"


@pytest.mark.parametrize("path", [HEASARC_CRAB, HEASARC_RECENT, ISDC_3C273])
def test_revolution_clock_matches_real_science_windows(path: pathlib.Path) -> None:
    scw = _scw(path) if path.name.startswith("intscw") else _scw_bytes(path.read_bytes())
    late = scw[scw["rev"] >= 1600]
    if late.empty:
        pytest.skip("no window after the 2015 orbit change in this recording")
    days = [datetime_from_mjd(v).date() for v in late["start_date"]]
    estimate = np.array([integral.revolution_estimate(d) for d in days])
    assert np.abs(estimate - late["rev"].to_numpy()).max() <= 2


def test_current_revolution_of_the_intro_page() -> None:
    page = (
        b"<html><body><a href='schedule.html?action=schedule'>Schedule for current revolution (2771)</a></body></html>"
    )
    assert integral.current_revolution(page, URL) == 2771
    assert integral.current_revolution(b"<html><body>Mission ended</body></html>", URL) is None


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
    # same observations as the named-header recordings they replace (8 obs ids, same exposures)
    old = integral.normalise(
        {"executed": integral.parse("executed", LISTING_HTML.read_bytes(), URL), "intscw": _scw(TAP)}, AS_OF
    )["obsplan"].set_index("obs_id")
    new = plan.set_index("obs_id").loc[old.index]
    np.testing.assert_array_equal(new["t_exptime"], old["t_exptime"])
    np.testing.assert_array_equal(new["priority"], old["priority"])
    assert (np.abs(new["t_min"] - old["t_min"]) * 86_400 < 0.5).all()  # CSV ms vs HTML whole seconds
    for e in entries:
        assert (RECORDINGS / e["file"]).read_bytes() == (DATA / e["file"]).read_bytes()


# ------------------------------------------------------------------------- evidenced listing layout
@pytest.fixture(scope="module")
def evidenced() -> tuple[pd.DataFrame, pd.DataFrame]:
    html = integral.parse("schedule", EV_HTML.read_bytes(), URL, content_type="text/html; charset=utf-8")
    csv = integral.parse("schedule_csv", EV_CSV.read_bytes(), URL, content_type="text/csv; charset=utf-8")
    return html, csv


def test_evidenced_csv_values_against_astropy(evidenced: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    _, csv = evidenced
    assert csv.attrs["layout"] == "csv-quoted-12col" and len(csv) == 8
    lines = EV_CSV.read_text().splitlines()
    assert all(line.startswith('"') and line.endswith('"') and line.count('","') == 11 for line in lines)
    row = csv.set_index("obs_id").loc["21200090004"]
    # "2771","2024-04-28 20:17:27.573","2024-04-29 20:40:38.624",...,"07 22 40.97","-15 42 25.6"
    assert row["t_min"] == pytest.approx(Time("2024-04-28 20:17:27.573", scale="utc").mjd, abs=1e-9)
    assert row["t_max"] == pytest.approx(Time("2024-04-29 20:40:38.624", scale="utc").mjd, abs=1e-9)
    assert row["ra"] == pytest.approx(Angle("07h22m40.97s").deg, abs=1e-9)
    assert row["dec"] == pytest.approx(Angle("-15d42m25.6s").deg, abs=1e-9)
    assert (row["rev"], row["pattern"], row["proposal"], row["pi"]) == (2771, "5x5", "2120009", "Dr. Pietro Ubertini")
    assert row["exptime_s"] == 85002 and row["extra"] is None
    # the real science windows of this observation: first start 60428.8454580228 (HEASARC MJD)
    assert abs(row["t_min"] - 60428.8454580228) * 86_400 < 1e-3


def test_evidenced_html_matches_csv(evidenced: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    html, csv = evidenced
    assert html.attrs["layout"] == "html-last-table"
    cols = ["rev", "obs_id", "target", "pi", "proposal", "pattern", "exptime_s"]
    pd.testing.assert_frame_equal(html[cols], csv[cols])
    assert (np.abs(html["t_min"] - csv["t_min"]) * 86_400 <= 0.5).all()  # HTML whole seconds
    assert np.allclose(html["ra"], csv["ra"]) and np.allclose(html["dec"], csv["dec"])
    too = html.set_index("obs_id")["too"]
    assert too[too].index.tolist() == ["21700040002"]  # OBS_TYPE TOO in the science windows
    assert not csv["too"].any()  # the CSV carries no ToO marker


def test_html_schedule_is_the_last_table_with_classes_and_links() -> None:
    page = EV_HTML.read_text()
    assert page.count("<table") == 3 and '<div class="too">' in page and "javascript:" in page
    current = page.replace('<td class="number ">2771</td>', '<td class="number current">2771</td>')
    current = current.replace(
        "</table>\n</body>", '<tr><td colspan="12"><img src="map.png"></td></tr>\n</table>\n</body>'
    )
    frame = integral.read_listing_html(current.encode(), URL)
    assert frame["current"].tolist() == [False] * 6 + [True, True]
    assert frame["pattern_url"].iloc[7] == "schedule.html?action=pattern&id=27271&revno=2771"
    assert len(frame) == 8  # the map row is not an observation
    flipped = EV_HTML.read_text().replace('<table class="schedule">', '<table class="schedule"><caption>x</caption>')
    extra = flipped.replace("</body>", "<table><tr><th>Legend</th></tr><tr><td>a</td></tr></table></body>")
    with pytest.raises(ParseError, match="no 'Rev' header"):
        integral.parse("schedule", extra.encode(), URL)


def test_unknown_headers_fall_back_to_the_evidenced_positions(evidenced: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    _, csv = evidenced
    lines = EV_CSV.read_text().splitlines()
    nonsense = ",".join(f'"c{k}"' for k in range(12))
    frame = integral.parse("schedule_csv", "\n".join([nonsense, *lines[1:]]).encode(), URL)
    assert set(frame.attrs.get("located_by", {"x": "position"}).values()) <= {"position"}
    pd.testing.assert_frame_equal(frame, csv)
    # a header that names a field places it: RA and Dec swapped with their headers read right
    swapped = []
    for line in lines:
        cells = line.split('","')
        cells[5], cells[6] = cells[6], cells[5]
        swapped.append('","'.join(cells))
    frame = integral.parse("schedule_csv", "\n".join(swapped).encode(), URL)
    pd.testing.assert_frame_equal(frame, csv)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda c: c[:7] + c[8:] + ['""'], "should hold"),  # pattern column dropped: everything shifts
        (lambda c: c[:5] + [c[6], c[5]] + c[7:], "should hold a sexagesimal RA"),  # RA/Dec swapped, headers kept
        (lambda c: c[:1] + [c[2], c[1]] + c[3:], None),  # start/end swapped, headers kept
    ],
)
def test_shifted_columns_are_refused_not_misread(edit, message: str | None) -> None:
    lines = EV_CSV.read_text().splitlines()
    header = lines[0].split(",")
    body = [",".join(edit(line.split(","))) for line in lines[1:]]
    content = "\n".join([",".join(header), *body]).encode()
    with pytest.raises(ParseError, match=message or "ends before it starts") as err:
        integral.parse("schedule_csv", content, URL)
    assert err.value.row is not None and err.value.source == "integral"


def test_observation_over_two_revolutions_is_merged() -> None:
    frame = integral.parse("schedule_csv", MULTIREV.read_bytes(), URL)
    assert len(frame) == 1
    row = frame.iloc[0]
    # the real ISDC windows of 01200230006: revolutions 148 and 149
    scw = _scw_bytes(ISDC_3C273.read_bytes())
    pts = scw[(scw["obs_id"] == "01200230006") & (scw["scw_type"] == "pointing")]
    assert sorted(pts["rev"].unique()) == [148, 149] and row["rev"] == 148
    assert abs(row["t_min"] - pts["start_date"].min()) * 86_400 < 1e-3
    assert abs(row["t_max"] - pts["end_date"].max()) * 86_400 < 1e-3
    assert row["exptime_s"] == 18553 + 7810
    lines = MULTIREV.read_text().splitlines()
    other = lines[2].replace('"","12 28 35.38"', '"3C 273","12 28 35.38"')
    with pytest.raises(ParseError, match="two different observations") as err:
        integral.parse("schedule_csv", "\n".join([lines[0], lines[1], other]).encode(), URL)
    assert "row 0" in str(err.value) and err.value.row == 1


def test_listing_with_nothing_after_as_of_before_the_end_is_an_error(evidenced) -> None:
    html, csv = evidenced
    with pytest.raises(ParseError, match="lists nothing after 2024-06-01"):
        integral.normalise({"schedule": html, "schedule_csv": csv}, dt.datetime(2024, 6, 1, tzinfo=dt.UTC))
    plan = integral.normalise({"schedule": html}, dt.datetime(2024, 4, 28, tzinfo=dt.UTC))["obsplan"]
    status = plan.set_index("obs_id")["execution_status"]
    assert status["21200090004"] == "Scheduled" and status["88603930001"] == "Performed"
    assert plan.set_index("obs_id").loc["21700040002", "priority"] == 2  # ToO from the HTML marker


def test_non_ascii_target_through_votable_and_parquet(tmp_path: pathlib.Path, evidenced) -> None:
    name = "η Car – Café"
    page = EV_HTML.read_text().replace('<td class="">Crab</td>', f'<td class="">{name}</td>', 1)
    assert "<meta" not in page
    frame = integral.parse("schedule", page.encode("utf-8"), URL, content_type="text/html; charset=utf-8")
    assert frame["target"].iloc[0] == name
    plan = integral.normalise({"schedule": frame}, AS_OF)["obsplan"].assign(t_planning=mjd_from_datetime(AS_OF))
    table = conform(plan, OBSPLAN)
    vot = _astropy_table(votable_bytes(table, OBSPLAN, serialization="tabledata"))
    assert str(vot["target_name"][0]) == name
    write_parquet(table, OBSPLAN, tmp_path / "obsplan.parquet")
    assert read_parquet(tmp_path / "obsplan.parquet").column("target_name")[0].as_py() == name


def _astropy_table(content: bytes) -> Table:
    from astropy.io.votable import parse as parse_votable

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return parse_votable(io.BytesIO(content)).get_first_table().to_table()


# ----------------------------------------------------------------- blank GOOD_ISGRI (issue 11)
def test_blank_isgri_in_votable_1_0_gives_the_documented_fallback_not_zero() -> None:
    scw = integral.parse("intscw", VOT7_BLANK.read_bytes(), URL)
    assert np.isnan(scw.set_index("scw_id").loc["228000160010", "good_isgri"])
    plan = integral.normalise({"intscw": scw}, AS_OF)["obsplan"].set_index("obs_id")
    # 88603930001 has one window, 59121.9224768039 .. 59121.9640740517 (MJD): no listing, so the
    # fallback is the pointing duration, by hand (59121.9640740517 - 59121.9224768039) * 86400
    expected = (59121.9640740517 - 59121.9224768039) * 86_400
    assert plan.loc["88603930001", "t_exptime"] == pytest.approx(expected, abs=1e-6) and expected > 3593
    # with the listing, the listed duration (3594 s)
    listed = integral.parse("schedule_csv", EV_CSV.read_bytes(), URL)
    plan = integral.normalise({"schedule_csv": listed, "intscw": scw}, AS_OF)["obsplan"].set_index("obs_id")
    assert plan.loc["88603930001", "t_exptime"] == 3594
    # the FITS form of the same table gives the same answer
    from_fits = integral.parse("intscw", CRAB_BLANK.read_bytes(), URL)
    plan_fits = integral.normalise({"intscw": from_fits}, AS_OF)["obsplan"].set_index("obs_id")
    assert plan_fits.loc["88603930001", "t_exptime"] == pytest.approx(expected, abs=0.01)


def test_isdc_votable_and_isdc_fits_give_the_same_observations() -> None:
    vot = integral.parse("integral_rev3_scw", ISDC_VOT.read_bytes(), URL)
    fit = _scw_bytes(ISDC_3C273.read_bytes())
    fit = fit[fit["scw_id"].isin(vot["scw_id"])].reset_index(drop=True)
    pd.testing.assert_frame_equal(vot.drop(columns=[], errors="ignore"), fit, check_like=True, check_dtype=False)
    a = integral.normalise({"integral_rev3_scw": vot}, AS_OF)["obsplan"].set_index("obs_id")
    b = integral.normalise({"integral_rev3_scw": fit}, AS_OF)["obsplan"].set_index("obs_id")
    pd.testing.assert_series_equal(a["t_exptime"], b["t_exptime"])
    # 01200230003: GOOD_ISGRI blank in its 3 real windows -> summed pointing durations, not 0
    pts = fit[(fit["obs_id"] == "01200230003") & (fit["scw_type"] == "pointing")]
    assert pts["good_isgri"].isna().all() and len(pts) == 3
    expected = ((pts["end_date"] - pts["start_date"]) * 86_400).sum()
    assert a.loc["01200230003", "t_exptime"] == pytest.approx(expected) and expected > 0
