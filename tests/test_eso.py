"""ESO source: requests, parsers on recorded/reconstructed answers, normalisation, recordings."""

from __future__ import annotations

import datetime as dt
import json
import pathlib
import re

import numpy as np
import pandas as pd
import pytest
from astropy.time import Time

from models.tables import OBSCORE, OBSCORE_RADIO, OBSPLAN
from models.timeutil import mjd_from_datetime, mjd_from_iso
from models.validate import validate
from scrapers import eso
from scrapers.base import ParseError, SourceError

DATA = pathlib.Path(__file__).parent / "data" / "eso"
RECORDINGS = pathlib.Path(__file__).parent.parent / "recordings" / "eso"
AS_OF = dt.datetime(2025, 9, 4, tzinfo=dt.UTC)
URL = "https://archive.eso.org/test"

FILES = {
    "sched_rep_arc": "sched_rep_arc_P115_reconstructed.csv",
    "eso_archive_main": "wdb_eso_archive_main_sgra_results_2017.csv",
    "amber": "wdb_amber_sgra_results_2017.csv",
    "tap_raw": "tap_dbo_raw_sgra_reconstructed.vot",
    "apex_quicklooks": "tap_apex_quicklooks_reconstructed.vot",
}


def _bytes(name: str) -> bytes:
    return (DATA / name).read_bytes()


@pytest.fixture(scope="module")
def frames() -> dict[str, pd.DataFrame]:
    return {k: eso.parse(k, _bytes(f), URL) for k, f in FILES.items()}


@pytest.fixture(scope="module")
def ivoa(frames) -> dict[str, pd.DataFrame]:
    return eso.normalise(frames, AS_OF)


# ---------------------------------------------------------------- requests and periods


def test_periods_come_from_the_table_of_published_boundaries():
    """Hand calculation: P104 starts 2019-10-01 (MJD 58757: 2020-01-01 is MJD 58849, 92 days later) at noon UT."""
    assert eso.period_of(dt.date(2019, 10, 1)) == 104
    assert eso.period_of(dt.date(2020, 3, 31)) == 104
    assert eso.period_of(dt.date(2025, 9, 4)) == 115
    assert eso.period_of(dt.date(2025, 9, 30)) == 115
    assert eso.period_of(dt.date(2006, 3, 14)) == 76
    lo, hi = eso.period_bounds(np.array([104, 115]))
    assert lo[0] == 58849 - 92 + 0.5
    expected = Time(["2019-10-01T12:00:00", "2025-04-01T12:00:00"], scale="utc").mjd
    np.testing.assert_allclose(lo, expected, rtol=0, atol=1e-9)
    np.testing.assert_allclose(hi, Time(["2020-04-01T12:00:00", "2025-10-01T12:00:00"], scale="utc").mjd, atol=1e-9)
    # every published period agrees with the table (first and last day)
    for period, (first, last, source) in eso.PUBLISHED.items():
        row = eso.PERIODS.loc[period]
        assert (row["first_day"].isoformat(), row["last_day"].isoformat()) == (first, last), source
        assert row["source"] == source
    # consecutive periods tile time without gap or overlap
    assert (eso.PERIODS["t_min"].to_numpy()[1:] == eso.PERIODS["t_max"].to_numpy()[:-1]).all()


def test_periods_beyond_the_table_are_a_clear_error():
    """ESO moved to a yearly cycle (P117); no published P116 dates were found: the table ends at P115."""
    with pytest.raises(eso.PeriodError, match=r"P116.*|P66..P115") as err:
        eso.period_bounds([115, 116])
    assert err.value.rows == [1] and err.value.values == ["P116"]
    with pytest.raises(eso.PeriodError, match="2025-10-01"):
        eso.period_of(dt.date(2025, 10, 1))
    with pytest.raises(eso.PeriodError):
        eso.period_bounds([65])
    sched = _bytes(FILES["sched_rep_arc"]).replace(b"\n115,179.B-2002(B)", b"\n116,179.B-2002(B)")
    with pytest.raises(ParseError, match="P116") as perr:
        eso.parse("sched_rep_arc", sched, URL)
    assert perr.value.column == "period" and perr.value.row == 4
    assert URL in str(perr.value) and "yearly cycle" in str(perr.value)


def test_requests_for_the_snapshot_date():
    reqs = eso.requests(dt.date(2025, 9, 4))
    assert [r.name for r in reqs] == ["sched_rep_arc", "eso_archive_main", "amber", "tap_raw", "apex_quicklooks"]
    sched = dict(reqs[0].params)
    assert reqs[0].url == "https://archive.eso.org/wdb/wdb/eso/sched_rep_arc/query"
    assert sched["wdbo"] == "csv/download"
    # P116 has no published dates (yearly cycle from P117): only the known as-of period is asked for
    assert sched["period"] == "115"
    assert (sched["force_tabular_mode"], sched["progid"], sched["pi_coi_name"]) == ("on", "", "PI_only")
    assert dict(eso.requests(dt.date(2019, 12, 1))[0].params)["period"] == "104..105"
    assert dict(eso.requests(dt.date(2026, 11, 30))[0].params)["period"] == "116..117"
    one = eso.programme_request("106.212B.001")
    assert dict(one.params) == {"wdbo": "html/display", "progid": "106.212B.001"}
    main = dict(reqs[1].params)
    assert (main["stime"], main["etime"]) == ("2025 08 27", "2025 09 04")
    tap = reqs[3]
    assert (tap.kind, tap.method, tap.url) == ("tap", "POST", "https://archive.eso.org/tap_obs")
    assert "FROM dbo.raw" in tap.query and "'GRAVITY'" in tap.query and "'APEXHET'" in tap.query
    assert "exp_start >= '2025-08-27T12:00:00'" in tap.query
    assert "ist.apex_quicklooks" in reqs[4].query
    assert len({r.key for r in reqs}) == 5


# ---------------------------------------------------------------- parsing


def test_schedule_csv_and_colon_label_display_give_the_same_runs(frames):
    csv_runs = frames["sched_rep_arc"]
    html_runs = eso.parse("sched_rep_arc", _bytes("sched_rep_arc_P115_colon_labels_reconstructed.html"), URL)
    pd.testing.assert_frame_equal(csv_runs, html_runs)
    assert (csv_runs.attrs["layout"], html_runs.attrs["layout"]) == ("csv", "display-dotted-colon")
    assert csv_runs["run_id"].tolist() == [
        "076.B-0863(A)",
        "091.B-0088(B)",
        "095.F-9802(A)",
        "093.B-0217(F)",
        "179.B-2002(B)",
    ]
    r = csv_runs.set_index("run_id")
    assert r.loc["091.B-0088(B)", "programme_id"] == "091.B-0088"
    assert r.loc["091.B-0088(B)", "n_nights"] == 2
    # nights 2013-08-26 and 2013-08-30: from noon UT of the first to noon UT after the last
    assert r.loc["091.B-0088(B)", "night_t_min"] == pytest.approx(mjd_from_iso(["2013-08-26T12:00:00"])[0])
    assert r.loc["091.B-0088(B)", "night_t_max"] == pytest.approx(mjd_from_iso(["2013-08-31T12:00:00"])[0])
    assert r.loc["179.B-2002(B)", "alloc_value"] == 20.0
    assert r.loc["179.B-2002(B)", "alloc_unit"] == "hours"
    assert r.loc["095.F-9802(A)", "pi"] == "Ginsburg, A"


def test_wdb_csv_dialect_on_a_real_answer_with_a_mangled_bom():
    vvv = eso.read_wdb_csv(_bytes("wdb_vvv_sgra_results_2014-09.csv"), URL, "vvv")
    assert vvv.columns[0] == "Collection"
    assert len(vvv) == 82  # "# A total of 82 records were found"
    assert vvv["Run/Program ID"].iloc[0] == "179.B-2002(C)"


def test_archive_main_exposures(frames):
    main = frames["eso_archive_main"]
    assert len(main) == 50
    first = main.iloc[0]
    assert first["dp_id"] == "AMBER.2006-03-14T07:40:03.741"
    assert first["ra"] == pytest.approx((17 + 45 / 60 + 40.09 / 3600) * 15)
    assert first["dec"] == pytest.approx(-(29 + 0 / 60 + 22.1 / 3600))
    assert first["exptime"] == pytest.approx(0.2)
    assert first["mjd_obs"] == pytest.approx(53808.319488)
    assert first["release_date"] == pd.Timestamp("2007-03-14", tz="UTC")


def test_amber_stations_and_ob_ids(frames):
    amber = frames["amber"]
    assert set(amber["stations"]) == {"U1 U3 U4"}
    assert set(amber["ob_id"]) == {"200156177"}
    assert amber["mjd_start"].iloc[0] == pytest.approx(mjd_from_iso(["2006-03-14T07:40:03.741"])[0])


def test_tap_raw_keeps_ids_as_text(frames):
    raw = frames["tap_raw"]
    assert len(raw) == 23
    assert raw["ob_id"].iloc[0] == "200282039"
    assert raw["telescope"].iloc[0] == "ESO-VLT-U4"
    # exact start from date_obs, not the 1e-3 d rounded mjd_obs
    assert raw["mjd_obs"].iloc[0] == pytest.approx(mjd_from_iso(["2013-08-27T01:05:24.3279"])[0], abs=1e-9)


def test_apex_quicklook_days(frames):
    ql = frames["apex_quicklooks"]
    assert ql["t_min"].iloc[0] == pytest.approx(mjd_from_iso(["2015-07-15T00:00:00"])[0])
    assert ql["run_id"].iloc[0] == "095.F-9802(A)"


def test_unknown_request_name_is_refused():
    with pytest.raises(ParseError, match="unknown request name 'nope'"):
        eso.parse("nope", b"", URL)


def test_html_error_page_instead_of_csv():
    page = b"<html><head><title>503 Service Unavailable</title></head><body>down</body></html>"
    with pytest.raises(ParseError, match="503 Service Unavailable"):
        eso.parse("eso_archive_main", page, URL)


def test_renamed_header_names_what_was_found():
    text = _bytes(FILES["eso_archive_main"]).replace(b"MJD-OBS", b"MJD_START")
    with pytest.raises(ParseError) as err:
        eso.parse("eso_archive_main", text, URL)
    assert err.value.column == "mjd_obs"
    assert "MJD_START" in err.value.found
    assert URL in str(err.value)


def test_garbage_value_names_row_and_column():
    text = _bytes(FILES["eso_archive_main"]).replace(b"53808.320034", b"soon", 1)
    with pytest.raises(ParseError, match="'soon'") as err:
        eso.parse("eso_archive_main", text, URL)
    assert (err.value.row, err.value.column) == (3, "mjd_obs")


def test_header_only_answer_is_an_error():
    head = b"\n# nothing\n#\nOBJECT,RA,DEC,Program_ID,Instrument,Dataset ID,Exptime,MJD-OBS\n"
    with pytest.raises(ParseError, match="no rows"):
        eso.parse("eso_archive_main", head, URL)
    with pytest.raises(ParseError, match="no CSV header"):
        eso.parse("eso_archive_main", b"\n# A total of 0 records\n#\n", URL)


def test_bad_run_id_and_unknown_station_are_refused():
    sched = _bytes(FILES["sched_rep_arc"]).replace(b"091.B-0088(B)", b"91B-88", 1)
    with pytest.raises(ParseError, match="91B-88") as err:
        eso.parse("sched_rep_arc", sched, URL)
    assert err.value.column == "run_id"
    amber = _bytes(FILES["amber"]).replace(b",U1,U3,U4,", b",U1,X9,U4,", 1)
    with pytest.raises(ParseError, match="unknown VLTI station"):
        eso.parse("amber", amber, URL)


def test_display_page_without_records_is_refused():
    with pytest.raises(ParseError, match="Period"):
        eso.parse("sched_rep_arc", b"<html><body><p>No data returned</p></body></html>", URL)


def test_nights_in_an_unknown_format_are_refused():
    sched = _bytes(FILES["sched_rep_arc"]).replace(b"2025-09-10, 2025-09-11", b"10-11 Sep 2025")
    with pytest.raises(ParseError, match="nights"):
        eso.parse("sched_rep_arc", sched, URL)


def test_tap_error_document_is_refused():
    err = (
        b'<?xml version="1.0"?><VOTABLE version="1.4" xmlns="http://www.ivoa.net/xml/VOTable/v1.3">'
        b'<RESOURCE type="results"><INFO name="QUERY_STATUS" value="ERROR">column exp_strat not found</INFO>'
        b"</RESOURCE></VOTABLE>"
    )
    with pytest.raises(ParseError, match="exp_strat"):
        eso.parse("tap_raw", err, URL)


# ---------------------------------------------------------------- normalisation


def test_obsplan_is_valid_and_ids_match_the_pattern(ivoa):
    plan = ivoa["obsplan"]
    assert "t_planning" not in plan.columns
    assert validate(plan.assign(t_planning=mjd_from_datetime(AS_OF)), OBSPLAN) == []
    assert plan["obs_id"].str.fullmatch(eso.ID_PATTERN).all()
    assert set(plan["obs_collection"]) == {"ESO-VLTI", "ESO-VLT", "ESO-VISTA", "APEX"}
    assert (plan["facility_name"] == plan["obs_collection"]).all()


def test_runs_become_planned_or_scheduled(ivoa):
    plan = ivoa["obsplan"].set_index("obs_id")
    visitor = plan.loc["093.B-0217(F)"]
    assert visitor["execution_status"] == "Scheduled"
    assert (visitor["category"], visitor["priority"]) == ("Fixed", 2)
    assert visitor["t_min"] == pytest.approx(Time("2025-09-10T12:00:00", scale="utc").mjd)
    assert visitor["t_max"] == pytest.approx(Time("2025-09-12T12:00:00", scale="utc").mjd)
    assert visitor["t_exptime"] == visitor["t_plan_exptime"] == pytest.approx(2 * 86400.0)
    service = plan.loc["179.B-2002(B)"]
    assert service["execution_status"] == "Planned"
    assert (service["category"], service["priority"]) == ("Other", 0)
    # the whole of P115 (1 April - 30 September 2025), noon UT to noon UT
    assert service["t_min"] == pytest.approx(Time("2025-04-01T12:00:00", scale="utc").mjd)
    assert service["t_max"] == pytest.approx(Time("2025-10-01T12:00:00", scale="utc").mjd)
    assert service["t_plan_exptime"] == pytest.approx(20 * 3600.0)
    assert np.isnan(service["t_exptime"])
    assert service["x_eso_pi"] == "MINNITI, DANTE"
    # past run without an as-flown record stays as it was
    assert plan.loc["095.F-9802(A)", "execution_status"] == "Planned"


def test_performed_observations_replace_their_past_runs(ivoa):
    plan = ivoa["obsplan"].set_index("obs_id")
    assert "076.B-0863(A)" not in plan.index
    assert "091.B-0088(B)" not in plan.index
    amber = plan.loc["200156177-20060313"]
    assert amber["execution_status"] == "Performed"
    assert amber["x_eso_run_id"] == "076.B-0863(A)"
    assert amber["x_eso_n_exposures"] == 50
    assert amber["t_min"] == pytest.approx(53808.319488)
    assert amber["t_max"] == pytest.approx(53808.330466 + 0.1 / 86400)
    assert amber["t_exptime"] == pytest.approx(7.6)  # 0.2 s x 26 + 0.1 s x 24
    assert (amber["em_min"], amber["em_max"]) == (1.1e-6, 2.4e-6)
    sinfoni = plan[plan["x_eso_run_id"].eq("091.B-0088(B)")]
    # three OBs, on the nights of 2013-08-26 and 2013-08-30 (two OBs that night)
    assert sorted(sinfoni.index) == ["200282039-20130826", "200282283-20130830", "200282301-20130830"]
    assert (sinfoni["t_exptime"] == 1800.0).all()
    assert (sinfoni["category"] == "Fixed").all()
    # optical instruments carry their own field: SINFONI's 8" x 8" IFU inside a circle of 11.3" diameter
    assert sinfoni["s_fov"].tolist() == pytest.approx([8 * 2**0.5 / 3600] * 3)
    assert sinfoni["em_min"].tolist() == [1.1e-6] * 3
    first = sinfoni.loc["200282039-20130826"]
    assert first["s_region"] == f"Circle ICRS {first['s_ra']:.6f} {first['s_dec']:.6f} {8 * 2**0.5 / 7200:.6f}"


def test_vlti_and_apex_rows_in_obscore_and_radio(ivoa):
    core, rad = ivoa["obscore"], ivoa["obscore_radio"]
    assert validate(core, OBSCORE) == []
    assert validate(rad, OBSCORE_RADIO) == []
    assert set(core.columns) & set(rad.columns) == {"obs_publisher_did"}
    assert core["obs_publisher_did"].tolist() == rad["obs_publisher_did"].tolist()
    vlti = core[core["obs_collection"].eq("ESO-VLTI")]
    assert len(vlti) == 1
    v = vlti.iloc[0]
    assert v["dataproduct_type"] == "visibility"
    assert v["calib_level"] == 1
    assert v["access_url"].startswith("https://archive.eso.org/wdb/wdb/eso/eso_archive_main/query?")
    assert "ob_id=200156177" in v["access_url"] and "night=2006+03+13" in v["access_url"]
    r = rad.set_index("obs_publisher_did").loc[v["obs_publisher_did"]]
    assert r["instr_tel_number"] == 3
    assert r["instr_tel_max_dist"] == pytest.approx(130.23, abs=0.01)
    assert 0 < r["uv_distance_min"] < r["uv_distance_max"] <= r["instr_tel_max_dist"]
    assert len(core[core["obs_collection"].eq("APEX")]) == 5
    assert rad["uv_distance_max"].notna().sum() == 1


def test_radio_and_obsplan_agree_on_vlti_geometry(ivoa):
    plan = ivoa["obsplan"].set_index("obs_id")
    core = ivoa["obscore"].set_index("obs_id")
    oid = "200156177-20060313"
    assert plan.loc[oid, "s_resolution"] == pytest.approx(core.loc[oid, "s_resolution"])
    assert plan.loc[oid, "s_region"] == core.loc[oid, "s_region"]


def test_apex_exposure_from_the_raw_archive_gives_single_dish_rows(frames):
    apex = frames["tap_raw"].iloc[:3].assign(instrument="APEXHET", telescope="APEX-12m", obs_mode="s")
    out = eso.normalise({"tap_raw": apex}, AS_OF)
    plan = out["obsplan"]
    assert set(plan["obs_collection"]) == {"APEX"}
    assert (plan["category"] == "Other").all() and (plan["priority"] == 0).all()
    rad = out["obscore_radio"]
    assert rad["uv_distance_max"].isna().all()
    assert (rad["instr_tel_diameter"] == 12.0).all()
    assert validate(plan.assign(t_planning=60922.0), OBSPLAN) == []


def test_unknown_instrument_without_telescope_is_an_error(frames):
    odd = frames["eso_archive_main"].iloc[:2].assign(instrument="NEWCAM")
    with pytest.raises(SourceError, match="NEWCAM"):
        eso.normalise({"eso_archive_main": odd}, AS_OF)


def test_naive_as_of_is_refused(frames):
    with pytest.raises(ValueError, match="tz-aware"):
        eso.normalise(frames, dt.datetime(2025, 9, 4))  # noqa: DTZ001


def test_only_a_schedule_gives_only_obsplan(frames):
    out = eso.normalise({"sched_rep_arc": frames["sched_rep_arc"]}, AS_OF)
    assert set(out) == {"obsplan"}
    assert len(out["obsplan"]) == 5
    assert validate(out["obsplan"].assign(t_planning=60922.0), OBSPLAN) == []


def test_facility_mapping():
    inst = pd.Series(["SINFONI", "GRAVITY", "VIRCAM", "HARPS", "X", "X"])
    tel = pd.Series(["ESO-VLT-U4", "ESO-VLTI-U1234", None, None, "ESO-NTT", "APEX-12m"])
    assert eso.facility_of(inst, tel).tolist() == ["ESO-VLT", "ESO-VLTI", "ESO-VISTA", "ESO-3.6m", "ESO-NTT", "APEX"]


# ---------------------------------------------------------------- recordings


def test_recordings_cover_exactly_the_requests():
    entries = json.loads((RECORDINGS / "responses.json").read_text())
    assert sorted(e["request"] for e in entries) == sorted(r.name for r in eso.requests(dt.date(2025, 9, 4)))
    for e in entries:
        assert (RECORDINGS / e["file"]).is_file()
        assert e["status"] == 200
        assert (RECORDINGS / e["file"]).read_bytes() == (DATA / e["file"]).read_bytes()


def test_recorded_harvest_is_valid_and_has_uv_coverage():
    entries = json.loads((RECORDINGS / "responses.json").read_text())
    urls = {r.name: r.url for r in eso.requests(dt.date(2025, 9, 4))}
    frames = {
        e["request"]: eso.parse(e["request"], (RECORDINGS / e["file"]).read_bytes(), urls[e["request"]])
        for e in entries
    }
    out = eso.normalise(frames, AS_OF)
    assert validate(out["obsplan"].assign(t_planning=mjd_from_datetime(AS_OF)), OBSPLAN) == []
    assert validate(out["obscore"], OBSCORE) == []
    assert validate(out["obscore_radio"], OBSCORE_RADIO) == []
    assert out["obscore_radio"]["uv_distance_max"].notna().any()
    assert re.fullmatch(eso.SOURCE.id_pattern, out["obsplan"]["obs_id"].iloc[0])


@pytest.mark.parametrize(("name", "column"), [("tap_raw", "mjd_obs"), ("apex_quicklooks", "quicklook_id")])
def test_tap_answers_without_a_required_column_or_rows_are_refused(name, column):
    """Both TAP parsers share one check: a missing column is named with the columns found; zero rows is an error."""
    vot = _bytes(FILES[name])
    field = f'name="{column}"'.encode()
    assert field in vot
    with pytest.raises(ParseError, match=f"{name}: required column missing") as err:
        eso.parse(name, vot.replace(field, b'name="renamed"'), URL)
    assert err.value.column == column and "renamed" in err.value.found and column not in err.value.found
    head, _, rest = vot.partition(b"<TABLEDATA>")
    no_rows = head + b"<TABLEDATA>" + rest[rest.index(b"</TABLEDATA>") :]
    with pytest.raises(ParseError, match=f"{name}: the table has no rows") as err:
        eso.parse(name, no_rows, URL)
    assert column in err.value.found
