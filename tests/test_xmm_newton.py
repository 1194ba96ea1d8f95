"""XMM-Newton: short-term schedule page -> Scheduled rows, xmmmaster -> Performed, footprint polygon."""

from __future__ import annotations

import datetime as dt
import json
import pathlib

import numpy as np
import pandas as pd
import pytest
from astropy.coordinates import SkyCoord

from models.tables.obsplan import OBSPLAN
from models.timeutil import mjd_from_datetime
from models.validate import validate
from scrapers import xmm_newton as xmm
from scrapers.base import ParseError

DATA = pathlib.Path(__file__).parent / "data" / "xmm"
RECORDINGS = pathlib.Path(__file__).parent.parent / "recordings" / "xmm_newton"
PAGE = DATA / "short_term_schedule_rev4714_reconstructed.html"
MASTER = DATA / "xmmmaster_rev4714_reconstructed.vot"
URL = xmm.SCHEDULE_URL
AS_OF = dt.datetime(2025, 9, 4, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def schedule() -> pd.DataFrame:
    return xmm.parse("short_term_schedule", PAGE.read_bytes(), URL)


@pytest.fixture(scope="module")
def master() -> pd.DataFrame:
    return xmm.parse("xmmmaster", MASTER.read_bytes(), "https://heasarc.gsfc.nasa.gov/xamin/vo/tap/sync")


def _valid(frame: pd.DataFrame, as_of: dt.datetime) -> list:
    return validate(frame.assign(t_planning=mjd_from_datetime(as_of)), OBSPLAN)


def test_number_inferring_reader_loses_the_leading_zero_the_parser_keeps(schedule: pd.DataFrame) -> None:
    damaged = pd.read_csv(DATA / "short_term_schedule_rows_rev4714_pandas.csv", index_col=0)
    assert pd.api.types.is_integer_dtype(damaged["Obs Id."])
    assert str(damaged["Obs Id."].iloc[0]) == "963230101"  # 9 characters: the zero is gone
    assert b"<td>0963230101</td>" in PAGE.read_bytes()
    assert schedule["obs_id"].iloc[0] == "0963230101"
    assert schedule["obs_id"].str.len().eq(10).all()
    assert list(schedule["obs_id"]) == ["0963230101", "0811026701", "0960860801", "0811026501", "0811026601"]


def test_schedule_values(schedule: pd.DataFrame) -> None:
    row = schedule.iloc[0]
    assert row["target_name"] == "Sgr A*"
    assert row["revolution"] == 4714
    assert row["ra"] == pytest.approx(15 * (17 + 45 / 60 + 40 / 3600))
    assert row["dec"] == pytest.approx(-(29 + 0 / 60 + 28 / 3600))
    assert row["pa"] == pytest.approx(268.27)
    start = mjd_from_datetime(dt.datetime(2025, 9, 5, 8, 9, 36, tzinfo=dt.UTC))
    assert row["t_min"] == pytest.approx(start, abs=1e-9)
    assert row["prime"] == "EPIC"
    assert (row["pn_ks"], row["mos1_ks"], row["om_ks"]) == (46.3, 47.9, 45.8)
    # BW Cir: southern declination with leading minus on the degrees only
    assert schedule.iloc[2]["dec"] == pytest.approx(-(64 + 44 / 60 + 5 / 3600))


def test_parenthesised_durations_are_filter_closed_and_zero_is_unused(schedule: pd.DataFrame) -> None:
    crab = schedule.set_index("obs_id").loc["0811026601"]
    assert (crab["pn_ks"], crab["mos1_ks"], crab["mos2_ks"]) == (15.1, 16.6, 16.6)
    assert bool(crab["pn_closed"]) and bool(crab["mos1_closed"]) and bool(crab["mos2_closed"])
    assert (crab["rgs1_ks"], crab["rgs2_ks"], crab["om_ks"]) == (0.0, 0.0, 0.0)
    assert not crab["rgs1_closed"]
    assert not schedule.set_index("obs_id").loc["0963230101", "pn_closed"]


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
    plan = xmm.normalise({"xmmmaster": master}, AS_OF)["obsplan"]
    assert _valid(plan, AS_OF) == []
    assert set(plan["execution_status"]) == {"Performed"}
    assert plan["t_plan_exptime"].isna().all()
    assert plan["s_region"].str.startswith("Circle ICRS 83.633330 22.014440 0.250000").all()


def test_master_restores_zeros_of_numeric_obsid_and_checks_status() -> None:
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


def _page_variant(old: str, new: str) -> bytes:
    text = PAGE.read_text()
    assert old in text
    return text.replace(old, new, 1).encode()


def test_missing_header_names_it_and_the_headers_found() -> None:
    with pytest.raises(ParseError) as err:
        xmm.parse("short_term_schedule", _page_variant("<th>PA ddd.dd</th>", "<th>Roll</th>"), URL)
    assert err.value.column == "pa"
    assert "Roll" in err.value.found and "Obs Id." in err.value.found
    assert URL in str(err.value) and "xmm_newton" in str(err.value)


@pytest.mark.parametrize(
    ("old", "new", "message", "row"),
    [
        ("<td>( 15.1)</td>", "<td>( 15.1</td>", "not a duration", 4),
        ("<td>0963230101</td>", "<td>963230101</td>", "not 10 digits", 0),
        ("<td>17:45:40</td>", "<td>17h45m40</td>", "not sexagesimal", 0),
        ("<td>2025-09-05 08:09:36</td>", "<td>05/09/2025 08:09</td>", "not an ISO time", 0),
        ("<td>EPIC</td>", "<td>HRC</td>", "unknown prime instrument", 0),
    ],
)
def test_garbage_cells_raise_with_row(old: str, new: str, message: str, row: int) -> None:
    with pytest.raises(ParseError, match=message) as err:
        xmm.parse("short_term_schedule", _page_variant(old, new), URL)
    assert err.value.row == row


def test_prime_instrument_without_exposure_is_an_error_not_a_dropped_row() -> None:
    text = PAGE.read_text()
    row = text.splitlines()[5]  # Sgr A*
    zero = row.replace("<td>46.3</td><td>47.9</td><td>47.8</td>", "<td>0.0</td><td>0.0</td><td>0.0</td>")
    with pytest.raises(ParseError, match="prime instrument EPIC has no exposure"):
        xmm.parse("short_term_schedule", text.replace(row, zero).encode(), URL)


def test_pages_without_the_table_or_rows_are_errors() -> None:
    with pytest.raises(ParseError, match="no table"):
        xmm.parse("short_term_schedule", b"<html><body><p>Maintenance</p></body></html>", URL)
    empty = "\n".join(line for line in PAGE.read_text().splitlines() if not line.startswith("<tr><td>"))
    with pytest.raises(ParseError, match="no rows"):
        xmm.parse("short_term_schedule", empty.encode(), URL)
    with pytest.raises(ParseError, match="empty response"):
        xmm.parse("short_term_schedule", b"", URL)
    with pytest.raises(ParseError, match="unknown request name"):
        xmm.parse("long_term", b"x", URL)


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
        e["request"]: xmm.parse(e["request"], (RECORDINGS / e["file"]).read_bytes(), reqs[e["request"]].url)
        for e in entries
    }
    plan = xmm.normalise(frames, AS_OF)["obsplan"]
    assert _valid(plan, AS_OF) == []
    assert len(plan) == 5
    assert plan["obs_id"].str.fullmatch(xmm.SOURCE.id_pattern.strip("^$")).all()
    assert (plan["execution_status"] == "Performed").sum() == 2


def test_recorded_page_is_the_tested_page() -> None:
    assert (RECORDINGS / PAGE.name).read_bytes() == PAGE.read_bytes()
    assert (RECORDINGS / MASTER.name).read_bytes() == MASTER.read_bytes()


def test_schedule_table_is_read_through_html_tables() -> None:
    """Headers spelt with ``.``/``#``/``_`` match; a separator row is no observation; two headers for one field fail."""
    text = PAGE.read_text()
    first = text.splitlines()[5]
    assert first.startswith("<tr><td>4714</td><td>0963230101</td>")
    separated = text.replace(first, first + '\n<tr><td colspan="16">--- Revolution 4714 ---</td></tr>', 1)
    schedule = xmm.parse("short_term_schedule", separated.encode(), URL)
    assert schedule["obs_id"].tolist() == xmm.parse("short_term_schedule", PAGE.read_bytes(), URL)["obs_id"].tolist()
    assert len(schedule) == 5 and schedule.index.tolist() == [0, 1, 2, 3, 4]
    renamed = (
        PAGE.read_text().replace("<th>Revn #</th>", "<th>Revn No.</th>").replace("<th>Obs Id.</th>", "<th>OBS_ID</th>")
    )
    assert xmm.parse("short_term_schedule", renamed.encode(), URL)["revolution"].tolist() == [4714] * 5
    with pytest.raises(ParseError, match="ambiguous header"):
        xmm.parse("short_term_schedule", PAGE.read_text().replace("<th>PI</th>", "<th>Target</th>").encode(), URL)
