"""NuSTAR end to end: schedule page, ObsLoc text, numaster, and normalisation to obsplan.

The pages are *_reconstructed.* files built from real rows (tests/data/nustar/PROVENANCE.md);
malformed variants are derived here in code, never stored.
"""

from __future__ import annotations

import copy
import datetime as dt
import io
import json
import pathlib
import warnings

import lxml.html
import numpy as np
import pandas as pd
import pytest
from astropy.io.votable.tree import Info, VOTableFile
from astropy.table import Table
from astropy.time import Time

from models.tables.obsplan import OBSPLAN
from models.validate import validate
from scrapers import nustar
from scrapers.base import ParseError

DATA = pathlib.Path(__file__).parent / "data" / "nustar"
RECORDINGS = pathlib.Path(__file__).parent.parent / "recordings" / "nustar"
URL = nustar.SCHEDULE_URL


def _bytes(name: str) -> bytes:
    return (DATA / name).read_bytes()


def _mjd(iso: str) -> float:
    """Independent reference: astropy, not the pandas path the parser uses."""
    return float(Time(iso, format="isot", scale="utc").mjd)


def _valid(obsplan: pd.DataFrame, planning_mjd: float) -> None:
    assert validate(obsplan.assign(t_planning=planning_mjd), OBSPLAN) == []


def _normalise(frames: dict[str, pd.DataFrame], as_of: str) -> pd.DataFrame:
    when = dt.datetime.fromisoformat(as_of).replace(tzinfo=dt.UTC)
    out = nustar.normalise(frames, when)["obsplan"]
    _valid(out, _mjd(as_of))
    return out.set_index("obs_id", drop=False)


# --------------------------------------------------------------------------- requests


def test_requests_names_urls_and_adql_window() -> None:
    reqs = nustar.requests(dt.date(2025, 9, 4))
    assert [r.name for r in reqs] == ["schedule", "obsloc_text", "numaster"]
    assert reqs[0].url == "https://nustarsoc.caltech.edu/NuSTAR_Public/NuSTAROperationSite/Schedule.php"
    assert reqs[0].kind == "http"
    tap = reqs[2]
    assert (tap.kind, tap.method, tap.url) == ("tap", "POST", "https://heasarc.gsfc.nasa.gov/xamin/vo/tap")
    # 2025-09-04 = MJD 60922; window [as_of - 30 d, as_of]
    assert "FROM numaster WHERE time <= 60922.0 AND end_time >= 60892.0" in tap.query
    for col in ("obsid", "time", "end_time", "exposure_a", "observation_mode", "status"):
        assert col in tap.query
    # computed from the date only: same date, same request keys
    assert [r.key for r in nustar.requests(dt.date(2025, 9, 4))] == [r.key for r in reqs]
    assert nustar.requests(dt.date(2025, 9, 5))[2].key != tap.key


def test_source_object() -> None:
    src = nustar.SOURCE
    assert (src.name, src.facility) == ("nustar", "NuSTAR")
    assert src.parse is nustar.parse
    assert src.id_pattern == r"\d{11}"


# --------------------------------------------------------------------------- mappings


@pytest.mark.parametrize(
    ("page", "decoded"),
    [
        ("GRS_1915p105", "GRS 1915+105"),
        ("SDSSJ152132d1p391206d9", "SDSSJ152132.1+391206.9"),
        ("ESO_103m35", "ESO 103-35"),
        ("AX_J1841d0m0536", "AX J1841.0-0536"),
        ("3XMM_J181923d7m17061", "3XMM J181923.7-17061"),
        ("ESO353_G009", "ESO353 G009"),
        ("HD_45166", "HD 45166"),
        ("Sol_17282_AR2683_POS11", "Sol 17282 AR2683 POS11"),
    ],
)
def test_decode_name(page: str, decoded: str) -> None:
    assert nustar.decode_name(pd.Series([page])).tolist() == [decoded]


@pytest.mark.parametrize(
    ("notes", "category", "priority"),
    [
        ("coordinated", "Coordinated", 2),
        ("Coordinated with XMM", "Coordinated", 2),
        ("(2/4) coordinated with XMM and VLT", "Coordinated", 2),
        ("I15", "Coordinated", 2),
        ("X16", "Coordinated", 2),
        ("C18", "Coordinated", 2),
        ("phase constrained", "Window", 2),
        ("ToO", "Other", 2),
        ("DDT", "Other", 2),
        ("Extragalactic Legacy Survey", "Other", 0),
        ("ELS", "Other", 0),
        ("GLS", "Other", 0),
        ("EGS", "Other", 0),
        ("BAT AGN", "Other", 1),
        ("N03", "Other", 1),
        ("", "Other", 1),
        (None, "Other", 1),
        ("ToO coordinated with Chandra", "Coordinated", 2),
    ],
)
def test_classify_notes(notes: str | None, category: str, priority: int) -> None:
    cat, prio = nustar.classify_notes(pd.Series([notes], dtype=object))
    assert (cat[0], int(prio[0])) == (category, priority)


def test_tracking_type_solar_targets() -> None:
    got = nustar.tracking_type(pd.Series(["Sol_17282_AR2683_POS11", "Sun", "GRS_1915p105", "Solaris_1", None]))
    assert got.tolist() == [
        "Solar-system-object-tracking",
        "Solar-system-object-tracking",
        "Sidereal",
        "Sidereal",
        "Sidereal",
    ]


# --------------------------------------------------------------------------- schedule page


def test_parse_schedule_2025_both_tables() -> None:
    frame = nustar.parse("schedule", _bytes("schedule_2025-09_plain_reconstructed.html"), URL)
    assert frame["table"].value_counts().to_dict() == {"long_range": 7, "short_range": 4}
    short = frame[frame["table"] == "short_range"].reset_index(drop=True)
    assert short["sequence_id"].tolist() == ["71001002005", "60061013002", "31101012004", "31101005002"]
    assert all(isinstance(v, str) for v in short["sequence_id"])
    assert short["name"].tolist() == ["Abell_520", "ESO353_G009", "3XMM_J181923d7m17061", "HD_45166"]
    assert short["target_name"].tolist() == ["Abell 520", "ESO353 G009", "3XMM J181923.7-17061", "HD 45166"]
    assert short["ra_deg"].tolist() == [73.57913, 22.958799, 274.84904, 96.579833]
    assert short["dec_deg"].tolist() == [2.94689, -33.119701, -17.10439, 7.974461]
    assert short["exp_s"].tolist() == [114900.0, 23800.0, 58900.0, 123500.0]
    assert short["notes"].tolist() == ["", "BAT AGN", "", ""]
    assert short["t_start"][0] == pytest.approx(_mjd("2025-09-11T05:30:11"), abs=1e-8)
    assert short["t_end"][0] == pytest.approx(_mjd("2025-09-13T15:45:00"), abs=1e-8)
    long = frame[frame["table"] == "long_range"].reset_index(drop=True)
    # Monday 00:00 to the next Monday
    assert long["t_start"][4] == _mjd("2025-09-22T00:00:00")
    assert long["t_end"][4] == _mjd("2025-09-29T00:00:00")
    assert long["sequence_id"][4] == "31002031017"


def test_golden_obsplan_2017_page() -> None:
    """The 5 real 2017 rows, old header (J2000_RA, ksec), checked field by field."""
    frame = nustar.parse("schedule", _bytes("schedule_2017-10_reconstructed.html"), URL)
    out = _normalise({"schedule": frame}, "2017-10-08T00:00:00")
    expected = {
        # obs_id: (target, page name, start, end, ra, dec, exp s, category, priority, tracking)
        "90201021006": (
            "Kepler",
            "Kepler",
            "2017-10-08T19:05:02",
            "2017-10-10T00:30:00",
            262.671620,
            -21.491957,
            60600.0,
            "Other",
            2,
            "Sidereal",
        ),
        "90311211001": (
            "Sol 17282 AR2683 POS11",
            "Sol_17282_AR2683_POS11",
            "2017-10-10T01:11:23",
            "2017-10-10T02:40:00",
            195.15715,
            -6.38520,
            3400.0,
            "Other",
            2,
            "Solar-system-object-tracking",
        ),
        "30302020004": (
            "GRS 1915+105",
            "GRS_1915p105",
            "2017-10-12T21:20:06",
            "2017-10-13T08:20:00",
            288.79813,
            10.94578,
            21900.0,
            "Coordinated",
            2,
            "Sidereal",
        ),
        "60368001002": (
            "NGC 1144",
            "NGC_1144",
            "2017-10-14T15:50:11",
            "2017-10-15T03:20:00",
            43.80083,
            -0.18361,
            22000.0,
            "Other",
            1,
            "Sidereal",
        ),
        "30301026002": (
            "AX J1841.0-0536",
            "AX_J1841d0m0536",
            "2017-10-15T23:30:08",
            "2017-10-17T05:45:00",
            280.25179,
            -5.59625,
            59700.0,
            "Window",
            2,
            "Sidereal",
        ),
    }
    # the three long-range rows of the same observations merge into the Scheduled rows
    assert out["obs_id"].tolist() == list(expected)
    for obs_id, (target, page, start, end, ra, dec, exp, cat, prio, track) in expected.items():
        row = out.loc[obs_id]
        assert row["target_name"] == target
        assert row["x_nustar_name"] == page
        assert row["execution_status"] == "Scheduled"
        assert row["t_min"] == pytest.approx(_mjd(start), abs=1e-8)
        assert row["t_max"] == pytest.approx(_mjd(end), abs=1e-8)
        assert (row["s_ra"], row["s_dec"]) == (ra, dec)
        assert row["s_region"] == f"Circle ICRS {ra:.6f} {dec:.6f} 0.100000"
        assert row["t_plan_exptime"] == exp
        assert row["t_exptime"] == exp
        assert (row["category"], int(row["priority"]), row["tracking_type"]) == (cat, prio, track)
        assert row["x_nustar_origin"] == "short_range"
        assert row["facility_name"] == "NuSTAR"
        assert row["obs_collection"] == "NuSTAR"
        assert row["instrument_name"] == "FPMA/FPMB"
        assert row["s_fov"] == 0.2
        assert row["s_resolution"] == 18.0
        assert row["em_min"] == pytest.approx(1.239841984e-6 / 79e3, rel=1e-12)
        assert row["em_max"] == pytest.approx(1.239841984e-6 / 3e3, rel=1e-12)
        assert row["o_ucd"] == "phot.count"
    assert "t_planning" not in out.columns


def test_golden_obsplan_2025_09_snapshot() -> None:
    frames = {
        "schedule": nustar.parse("schedule", _bytes("schedule_2025-09_plain_reconstructed.html"), URL),
        "obsloc_text": nustar.parse(
            "obsloc_text", _bytes("obsloc_page_columns_2025-09_reconstructed.txt"), nustar.OBSLOC_TEXT_URL
        ),
        "numaster": nustar.parse("numaster", _bytes("numaster_2025-05_reconstructed.vot"), nustar.HEASARC_TAP),
    }
    out = _normalise(frames, "2025-09-04T00:00:00")
    assert out["execution_status"].value_counts().to_dict() == {"Performed": 4, "Scheduled": 4, "Planned": 3}
    assert not out["obs_id"].duplicated().any()
    scheduled = out[out["execution_status"] == "Scheduled"]
    assert set(scheduled["x_nustar_origin"]) == {"short_range"}
    eso = out.loc["60061013002"]
    assert (eso["t_plan_exptime"], eso["t_exptime"], eso["x_nustar_notes"]) == (23800.0, 23800.0, "BAT AGN")
    gx = out.loc["31002031017"]
    assert gx["execution_status"] == "Planned"
    assert np.isnan(gx["t_exptime"])
    assert (gx["t_min"], gx["t_max"]) == (_mjd("2025-09-22T00:00:00"), _mjd("2025-09-29T00:00:00"))
    assert (gx["category"], int(gx["priority"]), gx["target_name"]) == ("Coordinated", 2, "GX 1+4")
    rbs = out.loc["60061081004"]
    assert (rbs["category"], int(rbs["priority"])) == ("Other", 0)
    # numaster-only Performed rows: no plan, so no planned exposure
    sgr = out.loc["31002033006"]
    assert sgr["execution_status"] == "Performed"
    assert (sgr["t_min"], sgr["t_max"], sgr["t_exptime"]) == (60800.3411, 60801.3411, 45262.0)
    assert np.isnan(sgr["t_plan_exptime"])
    assert sgr["x_nustar_origin"] == "numaster"
    # SLEW segments are not observations
    assert "31002031014" not in out.index
    assert "60061081001" not in out.index


# --------------------------------------------------------------------------- plan + performed


def _may_frames() -> dict[str, pd.DataFrame]:
    return {
        "schedule": nustar.parse("schedule", _bytes("schedule_2025-05_reconstructed.html"), URL),
        "numaster": nustar.parse("numaster", _bytes("numaster_2025-05_reconstructed.vot"), nustar.HEASARC_TAP),
    }


def test_plan_and_performed_merge_into_one_row() -> None:
    out = _normalise(_may_frames(), "2025-05-10T00:00:00")
    assert sorted(out["obs_id"]) == ["31002031015", "31002033005", "31002033006", "60061081002"]
    assert set(out["execution_status"]) == {"Performed"}
    gx = out.loc["31002031015"]
    assert gx["t_exptime"] == 20586.0  # numaster exposure_a
    assert gx["t_plan_exptime"] == 22700.0  # the page's Exp (22.7 ks)
    assert gx["x_nustar_exptime_diff_s"] == -2114.0
    assert (gx["t_min"], gx["t_max"]) == (60799.8654, 60800.3202)  # as flown
    assert (gx["category"], int(gx["priority"])) == ("Coordinated", 2)  # from the plan's notes
    assert gx["x_nustar_origin"] == "short_range+numaster"
    rbs = out.loc["60061081002"]
    assert (rbs["t_exptime"], rbs["t_plan_exptime"]) == (20335.0, 21900.0)
    # the short STELLAR segment was never on the page: Performed, no planned exposure
    seg = out.loc["31002033005"]
    assert (seg["t_exptime"], seg["x_nustar_origin"]) == (153.0, "numaster")
    assert np.isnan(seg["t_plan_exptime"])


def test_past_schedule_row_stays_scheduled_without_as_flown_record() -> None:
    frames = _may_frames()
    frames["numaster"] = frames["numaster"][frames["numaster"]["obsid"] != "31002031015"]
    out = _normalise(frames, "2025-05-10T00:00:00")
    gx = out.loc["31002031015"]
    assert gx["execution_status"] == "Scheduled"
    assert bool(gx["x_nustar_ended_before_as_of"])
    assert gx["t_exptime"] == gx["t_plan_exptime"] == 22700.0
    assert gx["t_min"] == pytest.approx(_mjd("2025-05-04T20:46:11"), abs=1e-8)


def test_normalise_refuses_naive_as_of() -> None:
    with pytest.raises(ValueError, match="naive"):
        nustar.normalise(_may_frames(), dt.datetime(2025, 5, 10))  # noqa: DTZ001 - the point of the test


# --------------------------------------------------------------------------- malformed pages


def _variant(name: str, table: int, edit) -> bytes:
    """Page ``name`` with ``edit(rows)`` applied to the ``<tr>`` cell lists of table ``table``."""
    doc = lxml.html.fromstring(_bytes(name))
    tab = doc.xpath("//table")[table]
    edit([tr for tr in tab.xpath(".//tr")])
    return lxml.html.tostring(doc)


def _drop_column(k: int):
    def edit(rows):
        for tr in rows:
            tr.remove(tr.xpath("./th|./td")[k])

    return edit


def test_missing_column_names_header_and_found() -> None:
    page = _variant("schedule_2025-09_plain_reconstructed.html", 0, _drop_column(4))  # J2000 RA
    with pytest.raises(ParseError) as err:
        nustar.parse("schedule", page, URL)
    e = err.value
    assert e.column == "ra"
    assert e.found == ["obs_start", "obs_end", "sequenceID", "Name", "J2000 Dec", "Exp", "Notes"]
    assert str(e).startswith("nustar: missing required header 'ra'")
    assert URL in str(e)


def test_garbage_time_names_row_and_column() -> None:
    def edit(rows):
        rows[2].xpath("./td")[0].text = "2025:2x6:16:15:09"

    page = _variant("schedule_2025-09_plain_reconstructed.html", 0, edit)
    with pytest.raises(ParseError) as err:
        nustar.parse("schedule", page, URL)
    assert (err.value.row, err.value.column) == (2, "obs_start")
    assert "2025:2x6:16:15:09" in str(err.value)


def test_shuffled_columns_parse_identically() -> None:
    order = [7, 3, 6, 0, 5, 2, 4, 1]

    def edit(rows):
        for tr in rows:
            cells = tr.xpath("./th|./td")
            for c in cells:
                tr.remove(c)
            for k in order:
                tr.append(cells[k])

    page = _variant("schedule_2025-09_plain_reconstructed.html", 0, edit)
    original = nustar.parse("schedule", _bytes("schedule_2025-09_plain_reconstructed.html"), URL)
    pd.testing.assert_frame_equal(nustar.parse("schedule", page, URL), original)


def test_empty_short_range_table_is_an_error() -> None:
    def edit(rows):
        for tr in rows[1:]:
            tr.getparent().remove(tr)

    page = _variant("schedule_2025-09_plain_reconstructed.html", 0, edit)
    with pytest.raises(ParseError, match="'Short Range Observatory Schedule' has no rows"):
        nustar.parse("schedule", page, URL)


def test_html_error_page_is_an_error() -> None:
    with pytest.raises(ParseError, match="no 'Short Range Observatory Schedule' table") as err:
        nustar.parse("schedule", _bytes("heasarc_bad_table.html"), URL)
    assert URL in str(err.value)
    assert "layouts tried: html-underscore, html-space" in str(err.value)
    assert "Archive Error from Browse" in str(err.value)  # the tables found are listed


def test_bad_sequence_id_and_non_monday_week() -> None:
    def bad_id(rows):
        rows[3].xpath("./td")[2].text = "3110101200"  # 10 digits

    with pytest.raises(ParseError) as err:
        nustar.parse("schedule", _variant("schedule_2025-09_plain_reconstructed.html", 0, bad_id), URL)
    assert (err.value.row, err.value.column) == (3, "sequenceID")

    def tuesday(rows):
        rows[5].xpath("./td")[0].text = "2025-09-23"

    with pytest.raises(ParseError, match="not a Monday") as err:
        nustar.parse("schedule", _variant("schedule_2025-09_plain_reconstructed.html", 1, tuesday), URL)
    assert (err.value.row, err.value.column) == (5, "Date")


def test_exposure_header_synonym_and_doy_week() -> None:
    def edit(rows):
        rows[0].xpath("./th")[5].text = "Exp (ks)"
        rows[1].xpath("./td")[0].text = "2025:251"  # Monday 2025-09-08 as day of year

    page = _variant("schedule_2025-09_plain_reconstructed.html", 1, edit)
    long = nustar.parse("schedule", page, URL).query("table == 'long_range'")
    assert long["exp_s"].iloc[0] == 114900.0
    assert long["t_start"].iloc[0] == _mjd("2025-09-08T00:00:00")


# --------------------------------------------------------------------------- ObsLoc text


def test_obsloc_text_matches_the_short_range_table() -> None:
    text = nustar.parse("obsloc_text", _bytes("obsloc_page_columns_2025-09_reconstructed.txt"), "u")
    page = nustar.parse("schedule", _bytes("schedule_2025-09_plain_reconstructed.html"), URL)
    short = page[page["table"] == "short_range"].reset_index(drop=True)
    assert set(text["table"]) == {"obsloc_text"}
    pd.testing.assert_frame_equal(text.drop(columns="table"), short.drop(columns="table"))


def test_obsloc_text_units_row_is_used() -> None:
    lines = _bytes("obsloc_page_columns_2025-09_reconstructed.txt").decode().splitlines()
    lines[1] = lines[1].replace("|ks|", "|s|")
    text = nustar.parse("obsloc_text", "\n".join(lines).encode(), "u")
    assert text["exp_s"].tolist() == [114.9, 23.8, 58.9, 123.5]
    lines[1] = lines[1].replace("|s|", "|min|")
    with pytest.raises(ParseError, match="unknown exposure unit 'min'"):
        nustar.parse("obsloc_text", "\n".join(lines).encode(), "u")


def test_obsloc_text_errors() -> None:
    with pytest.raises(ParseError, match="got markup"):
        nustar.parse("obsloc_text", _bytes("heasarc_bad_table.html"), "u")
    lines = _bytes("obsloc_page_columns_2025-09_reconstructed.txt").decode().splitlines()
    with pytest.raises(ParseError, match="no data rows"):
        nustar.parse("obsloc_text", "\n".join(lines[:3]).encode(), "u")
    garbled = lines[:4] + [lines[4].replace("2025:256:16:15:09", "yesterday")]
    with pytest.raises(ParseError) as err:
        nustar.parse("obsloc_text", "\n".join(garbled).encode(), "u")
    assert (err.value.row, err.value.column) == (2, "obs_start")
    ragged = lines[:4] + [lines[4] + "|extra"]
    with pytest.raises(ParseError, match="fields per row|ragged"):
        nustar.parse("obsloc_text", "\n".join(ragged).encode(), "u")


# --------------------------------------------------------------------------- numaster


def test_parse_numaster_votable() -> None:
    frame = nustar.parse("numaster", _bytes("numaster_2025-05_reconstructed.vot"), nustar.HEASARC_TAP)
    assert len(frame) == 6
    assert frame["obsid"].tolist() == [
        "31002031015",
        "31002033006",
        "31002033005",
        "60061081002",
        "31002031014",
        "60061081001",
    ]
    assert frame["performed"].tolist() == [True, True, True, True, False, False]
    assert frame["exposure_a"].tolist()[:4] == [20586.0, 45262.0, 153.0, 20335.0]


def test_numaster_2016_fits_lacks_end_time() -> None:
    with pytest.raises(ParseError) as err:
        nustar.parse("numaster", _bytes("numaster_19rows_2016.fits"), nustar.HEASARC_TAP)
    assert err.value.column == "end_time"
    assert "obsid" in err.value.found
    assert "exposure_a" in err.value.found


def _votable_bytes(table: Table, status: str = "OK", message: str = "") -> bytes:
    vot = VOTableFile.from_table(table)
    vot.resources[0].type = "results"
    info = Info(name="QUERY_STATUS", value=status)
    info.content = message or None
    vot.resources[0].infos.append(info)
    buf = io.BytesIO()
    vot.to_xml(buf)
    return buf.getvalue()


def test_numaster_numeric_obsid_keeps_leading_zeros() -> None:
    """2016 recording as a TAP answer typing obsid as a number (derived here; end_time = time + exposure)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = Table.read(DATA / "numaster_19rows_2016.fits")
    out = Table()
    for name in ("NAME", "RA", "DEC", "TIME", "EXPOSURE_A", "OBSERVATION_MODE", "STATUS"):
        out[name.lower()] = np.asarray(t[name])  # values only: the FITS units are not VO units
    out["obsid"] = np.array([int(v) for v in t["OBSID"]], dtype="int64")
    out["end_time"] = np.asarray(t["TIME"]) + np.asarray(t["EXPOSURE_A"]) / 86400.0
    frame = nustar.parse("numaster", _votable_bytes(out), nustar.HEASARC_TAP)
    assert frame["obsid"].tolist()[10:13] == ["00015017001", "00015016001", "00015011001"]
    assert frame["performed"].sum() == 18  # the ACCEPTED proposal (obsid 80201032) is not an observation
    perf = _normalise({"numaster": frame}, "2016-07-01T00:00:00")
    assert len(perf) == 18
    assert perf.loc["00015017001", "t_exptime"] == 3003.0
    assert perf["obs_id"].str.fullmatch(r"\d{11}").all()


def test_numaster_tap_error_and_html() -> None:
    err_doc = _votable_bytes(Table({"obsid": ["x"]}), status="ERROR", message="Table numaster not found")
    with pytest.raises(ParseError, match="Table numaster not found"):
        nustar.parse("numaster", err_doc, nustar.HEASARC_TAP)
    with pytest.raises(ParseError, match="expected a VOTable"):
        nustar.parse("numaster", _bytes("heasarc_bad_table.html"), nustar.HEASARC_TAP)


def test_numaster_performed_row_without_end_time() -> None:
    frame = Table.read(io.BytesIO(_bytes("numaster_2025-05_reconstructed.vot")), format="votable")
    frame["end_time"] = np.ma.masked_array(frame["end_time"], mask=[False, True, False, False, False, False])
    with pytest.raises(ParseError) as err:
        nustar.parse("numaster", _votable_bytes(frame), nustar.HEASARC_TAP)
    assert (err.value.row, err.value.column) == (2, "end_time")


def test_unknown_request_name() -> None:
    with pytest.raises(ParseError, match="unknown request name"):
        nustar.parse("long_range", b"", URL)


# --------------------------------------------------------------------------- recordings


def test_recordings_cover_requests_and_give_valid_obsplan() -> None:
    as_of = dt.date(2025, 9, 4)
    entries = json.loads((RECORDINGS / "responses.json").read_text())
    reqs = {r.name: r for r in nustar.requests(as_of)}
    assert sorted(e["request"] for e in entries) == sorted(reqs)
    frames = {}
    for e in entries:
        assert e["status"] == 200
        content = (RECORDINGS / e["file"]).read_bytes()
        assert content == (DATA / e["file"]).read_bytes()  # the same files the tests use
        frames[e["request"]] = nustar.parse(e["request"], content, reqs[e["request"]].url, e["content_type"])
    out = _normalise(frames, "2025-09-04T00:00:00")
    assert {"Scheduled", "Planned", "Performed"} <= set(out["execution_status"])
    assert out["obs_id"].str.fullmatch(r"\d{11}").all()
    assert out["em_min"].between(1.4e-11, 1.7e-11).all()
    assert out["em_max"].between(3.9e-10, 4.5e-10).all()
    assert out["s_region"].notna().all()
    assert not out["obs_id"].duplicated().any()
    assert frames["schedule"].attrs["layout"] == "html-space"
    assert frames["obsloc_text"].attrs["layout"] == "obsloc-tap"


# --------------------------------------------------------------------------- evidence-following layouts (issue 10)

#: The five real 2017 rows quoted in sources.md (NuSTAR, "Real rows (2017, from a page of that year)").
EVIDENCE_2017 = [
    ("2017:281:19:05:02", "2017:283:00:30:00", "90201021006", "Kepler", 262.671620, -21.491957, 60.6, "DDT"),
    (
        "2017:283:01:11:23",
        "2017:283:02:40:00",
        "90311211001",
        "Sol_17282_AR2683_POS11",
        195.15715,
        -6.38520,
        3.4,
        "ToO",
    ),
    (
        "2017:285:21:20:06",
        "2017:286:08:20:00",
        "30302020004",
        "GRS_1915p105",
        288.79813,
        10.94578,
        21.9,
        "(2/4) coordinated with XMM and VLT",
    ),
    ("2017:287:15:50:11", "2017:288:03:20:00", "60368001002", "NGC_1144", 43.80083, -0.18361, 22.0, ""),
    (
        "2017:288:23:30:08",
        "2017:290:05:45:00",
        "30301026002",
        "AX_J1841d0m0536",
        280.25179,
        -5.59625,
        59.7,
        "phase constrained",
    ),
]


def _yday(values) -> np.ndarray:
    """Independent reference for day-of-year strings: astropy ``Time(..., format="yday")``."""
    return np.asarray(Time(list(values), format="yday", scale="utc").mjd, dtype="float64")


def _rows_2025() -> pd.DataFrame:
    """The four real 2025 rows (pandas re-export of the live table), read independently of the parser."""
    return pd.read_csv(DATA / "short_range_rows_2025-09_pandas.csv", dtype={"sequenceID": str}, keep_default_na=False)


def _check_2017(frame: pd.DataFrame) -> None:
    ev = pd.DataFrame(EVIDENCE_2017, columns=["start", "end", "seq", "name", "ra", "dec", "exp", "notes"])
    assert frame["sequence_id"].tolist() == ev["seq"].tolist()
    assert frame["name"].tolist() == ev["name"].tolist()
    assert frame["ra_deg"].tolist() == ev["ra"].tolist()
    assert frame["dec_deg"].tolist() == ev["dec"].tolist()
    np.testing.assert_allclose(frame["exp_s"], ev["exp"] * 1000.0, rtol=1e-12)  # ksec
    assert frame["notes"].tolist() == ev["notes"].tolist()
    np.testing.assert_allclose(frame["t_start"], _yday(ev["start"]), rtol=0, atol=1e-9)
    np.testing.assert_allclose(frame["t_end"], _yday(ev["end"]), rtol=0, atol=1e-9)


def test_explained_2017_page_parses_to_the_evidence_rows() -> None:
    """2017 layout: a 'Table Header Explanations' block (a <b> heading) between title and table."""
    content = _bytes("schedule_2017-10_explained_reconstructed.html")
    # the trap: the short-range table's nearest heading is the explanation block, not its section title
    tables = nustar.html_tables.read_tables(content, source="nustar", url=URL)
    assert tables[0].title == "Table Header Explanations"
    frame = nustar.parse("schedule", content, URL, "text/html; charset=utf-8")
    assert (frame.attrs["layout"], frame.attrs["exp_unit"]) == ("html-underscore", "ksec")
    _check_2017(frame[frame["table"] == "short_range"].reset_index(drop=True))
    long = frame[frame["table"] == "long_range"]
    assert long["t_start"].tolist() == [_mjd("2017-10-09T00:00:00")] * 3  # Monday of the week


def test_explained_2025_page_parses_to_the_pandas_rows() -> None:
    rows = _rows_2025()
    frame = nustar.parse("schedule", _bytes("schedule_2025-09_reconstructed.html"), URL, "text/html")
    assert (frame.attrs["layout"], frame.attrs["exp_unit"]) == ("html-space", "ks")
    short = frame[frame["table"] == "short_range"].reset_index(drop=True)
    assert short["sequence_id"].tolist() == rows["sequenceID"].tolist()
    assert short["name"].tolist() == rows["Name"].tolist()
    assert short["ra_deg"].tolist() == rows["J2000 RA"].tolist()
    assert short["dec_deg"].tolist() == rows["J2000 Dec"].tolist()
    np.testing.assert_allclose(short["exp_s"], rows["Exp"] * 1000.0, rtol=1e-12)
    np.testing.assert_allclose(short["t_start"], _yday(rows["obs_start"]), rtol=0, atol=1e-9)
    np.testing.assert_allclose(short["t_end"], _yday(rows["obs_end"]), rtol=0, atol=1e-9)
    # the ObsLoc link "above" the table is reported (its href in the page is a guess, see PROVENANCE.md)
    assert frame.attrs["linked_files"] == [nustar.OBSLOC_TEXT_URL]
    assert frame.attrs["obsloc_url_linked"] is True


def _explained(wrapper: str, title_tag: str = "h2") -> bytes:
    """The 2017 explained page with the explanation heading / section titles in other elements."""
    text = _bytes("schedule_2017-10_explained_reconstructed.html").decode()
    text = text.replace("<b>Table Header Explanations</b>", wrapper.format("Table Header Explanations"))
    for title in ("Short Range Observatory Schedule", "Long Range Observatory Schedule"):
        text = text.replace(f"<h2>{title}</h2>", f"<{title_tag}>{title}</{title_tag.split()[0]}>")
    return text.encode()


@pytest.mark.parametrize(
    ("wrapper", "title_tag"),
    [
        ("<h3>{}</h3>", "h2"),
        ("<strong>{}</strong>", "b"),
        ("<details><summary>{}</summary></details>", "h3"),
        ("<span class='expl'>{}</span>", 'font size="+1"'),
        ("{}", "div"),
    ],
)
def test_explanation_block_in_any_element(wrapper: str, title_tag: str) -> None:
    frame = nustar.parse("schedule", _explained(wrapper, title_tag), URL)
    _check_2017(frame[frame["table"] == "short_range"].reset_index(drop=True))
    assert (frame["table"] == "long_range").sum() == 3


def test_page_without_section_titles_takes_the_first_table_as_short_range() -> None:
    text = _bytes("schedule_2017-10_explained_reconstructed.html").decode()
    text = text.replace("Short Range Observatory Schedule", "Schedule").replace("Long Range Observatory", "Weekly")
    frame = nustar.parse("schedule", text.encode(), URL)
    _check_2017(frame[frame["table"] == "short_range"].reset_index(drop=True))


def test_explanation_unit_is_used_or_refused() -> None:
    text = _bytes("schedule_2017-10_explained_reconstructed.html").decode()
    frame = nustar.parse("schedule", text.replace("exposure time (ksec)", "exposure time (s)").encode(), URL)
    assert frame["exp_s"].iloc[0] == pytest.approx(60.6)
    with pytest.raises(ParseError, match="Exp in 'min'") as err:
        nustar.parse("schedule", text.replace("exposure time (ksec)", "exposure time (min)").encode(), URL)
    assert err.value.column == "Exp"


def test_drift_error_names_layouts_tried_and_headers_found() -> None:
    page = _variant("schedule_2025-09_reconstructed.html", 0, _drop_column(4))
    with pytest.raises(ParseError) as err:
        nustar.parse("schedule", page, URL)
    assert err.value.column == "ra"
    assert "layouts tried: html-underscore, html-space" in str(err.value)
    assert err.value.found == ["obs_start", "obs_end", "sequenceID", "Name", "J2000 Dec", "Exp", "Notes"]


def test_fractional_seconds_ra_360_and_out_of_range_times() -> None:
    def edit(rows):
        rows[1].xpath("./td")[0].text = "2017:281:19:05:02.250"
        rows[1].xpath("./td")[4].text = "360.0"

    frame = nustar.parse("schedule", _variant("schedule_2017-10_explained_reconstructed.html", 0, edit), URL)
    assert frame["t_start"].iloc[0] == pytest.approx(_yday(["2017:281:19:05:02.250"])[0], abs=1e-9)
    assert frame["ra_deg"].iloc[0] == 0.0
    for bad in ("9999:001:00:00:00", "2011:001:00:00:00", "2017:366:00:00:00"):  # far future, before launch, no day 366

        def put(rows, bad=bad):
            rows[3].xpath("./td")[1].text = bad

        with pytest.raises(ParseError) as err:
            nustar.parse("schedule", _variant("schedule_2017-10_explained_reconstructed.html", 0, put), URL)
        assert (err.value.row, err.value.column) == (3, "obs_end")
        assert bad in str(err.value)


def test_exposure_longer_than_the_on_target_period_is_refused() -> None:
    def edit(rows):
        rows[2].xpath("./td")[6].text = "6.0"  # the 1.5 h ToO slot (5317 s) cannot hold 6 ks

    with pytest.raises(ParseError, match="exposure longer than the on-target period") as err:
        nustar.parse("schedule", _variant("schedule_2017-10_explained_reconstructed.html", 0, edit), URL)
    assert (err.value.row, err.value.column) == (2, "Exp")


# --------------------------------------------------------------------------- identity (issue 11 item 5)


def _duplicate(second_name: str, second_ra: str, start: str, end: str, exp: str) -> bytes:
    """The 2017 page with a sixth row reusing NGC_1144's sequence ID (row 4)."""

    def edit(rows):
        extra = copy.deepcopy(rows[4])
        cells = extra.xpath("./td")
        cells[0].text, cells[1].text, cells[3].text, cells[4].text, cells[6].text = (
            start,
            end,
            second_name,
            second_ra,
            exp,
        )
        rows[-1].addnext(extra)

    return _variant("schedule_2017-10_explained_reconstructed.html", 0, edit)


def test_same_id_same_target_merges_segments() -> None:
    page = _duplicate("NGC_1144", "43.80083", "2017:291:01:00:00", "2017:291:10:00:00", "15.0")
    frame = nustar.parse("schedule", page, URL)
    short = frame[frame["table"] == "short_range"].set_index("sequence_id")
    assert len(short) == 5  # merged
    ngc = short.loc["60368001002"]
    assert ngc["t_start"] == pytest.approx(_yday(["2017:287:15:50:11"])[0], abs=1e-9)  # earliest start
    assert ngc["t_end"] == pytest.approx(_yday(["2017:291:10:00:00"])[0], abs=1e-9)  # latest end
    assert ngc["exp_s"] == 22000.0 + 15000.0  # the segments' exposures add up
    out = _normalise({"schedule": frame}, "2017-10-08T00:00:00")
    assert out.loc["60368001002", "t_exptime"] == 37000.0


def test_same_row_listed_twice_counts_once() -> None:
    page = _duplicate("NGC_1144", "43.80083", "2017:287:15:50:11", "2017:288:03:20:00", "22.0")
    short = nustar.parse("schedule", page, URL).query("table == 'short_range'").set_index("sequence_id")
    assert short.loc["60368001002", "exp_s"] == 22000.0


def test_same_id_different_target_is_an_error_naming_both_rows() -> None:
    page = _duplicate("NGC_1145", "43.80083", "2017:291:01:00:00", "2017:291:10:00:00", "15.0")
    with pytest.raises(ParseError) as err:
        nustar.parse("schedule", page, URL)
    message = str(err.value)
    assert "'60368001002' is listed for two different observations" in message
    assert "'NGC_1144' (row 4)" in message and "'NGC_1145' (row 6)" in message
    assert message.startswith("nustar: short_range table:") and URL in message
    assert (err.value.row, err.value.column) == (6, "name")
    far = _duplicate("NGC_1144", "44.80083", "2017:291:01:00:00", "2017:291:10:00:00", "15.0")
    with pytest.raises(ParseError, match=r"listed at two positions .* \(rows 4 and 6"):
        nustar.parse("schedule", far, URL)


# --------------------------------------------------------------------------- non-ASCII (issue 11 item 2)


def test_non_ascii_target_through_votable_and_parquet(tmp_path: pathlib.Path) -> None:
    from astropy.io.votable import parse as parse_votable

    from models.arrow import conform
    from models.parquet import read_parquet, write_parquet
    from models.votable import votable_bytes

    name = "η Car – Café"
    text = _bytes("schedule_2025-09_reconstructed.html").decode()
    assert "<meta" not in text  # the charset is only in the HTTP header
    page = text.replace("<td>ESO353_G009</td>", f"<td>{name}</td>", 1).encode("utf-8")
    frame = nustar.parse("schedule", page, URL, "text/html; charset=utf-8")
    assert frame.loc[frame["sequence_id"] == "60061013002", "name"].tolist()[0] == name
    out = nustar.normalise({"schedule": frame}, dt.datetime(2025, 9, 4, tzinfo=dt.UTC))["obsplan"]
    out = out.assign(t_planning=_mjd("2025-09-04T00:00:00"))
    assert validate(out, OBSPLAN) == []
    table = conform(out, OBSPLAN)
    k = out.index[out["obs_id"] == "60061013002"][0]
    assert out.loc[k, "target_name"] == name  # "η Car – Café" has no page-name codes to decode

    vot = parse_votable(io.BytesIO(votable_bytes(table, OBSPLAN))).get_first_table().to_table()
    assert str(vot["target_name"][k]) == name
    write_parquet(table, OBSPLAN, tmp_path / "obsplan.parquet")
    assert read_parquet(tmp_path / "obsplan.parquet").column("target_name")[k].as_py() == name


def test_latin1_page_served_with_its_charset() -> None:
    text = _bytes("schedule_2025-09_reconstructed.html").decode()
    page = text.replace("<td>ESO353_G009</td>", "<td>Café</td>", 1).encode("iso-8859-1")
    frame = nustar.parse("schedule", page, URL, "text/html; charset=ISO-8859-1")
    assert "Café" in frame["name"].tolist()
    with pytest.raises(ParseError, match="byte offset"):  # same bytes announced as UTF-8: refused, not garbled
        nustar.parse("schedule", page, URL, "text/html; charset=utf-8")


# --------------------------------------------------------------------------- text exports


def test_obsloc_tap_file_parses_to_the_pandas_rows() -> None:
    rows = _rows_2025()
    frame = nustar.parse("obsloc_text", _bytes("obsloc_short_range_2025-09_reconstructed.txt"), nustar.OBSLOC_TEXT_URL)
    assert frame.attrs["layout"] == "obsloc-tap"
    assert frame.attrs["units"][9:11] == ["d", "d"]
    assert frame["sequence_id"].tolist() == rows["sequenceID"].tolist()
    assert frame["name"].tolist() == rows["Name"].tolist()
    assert frame["ra_deg"].tolist() == rows["J2000 RA"].tolist()
    assert frame["dec_deg"].tolist() == rows["J2000 Dec"].tolist()
    np.testing.assert_allclose(frame["exp_s"], rows["Exp"] * 1000.0, rtol=1e-12)  # t_plan_exptime in s
    # MJD written with 8 decimals (<= 0.5 ms from the page's day-of-year times)
    np.testing.assert_allclose(frame["t_start"], _yday(rows["obs_start"]), rtol=0, atol=1e-8)
    np.testing.assert_allclose(frame["t_end"], _yday(rows["obs_end"]), rtol=0, atol=1e-8)
    assert set(frame["notes"]) == {""}  # no notes column: NULLs are missing, never the text "NULL"


def _obsloc_lines() -> list[list[str]]:
    return [line.split("|") for line in _bytes("obsloc_short_range_2025-09_reconstructed.txt").decode().splitlines()]


def _obsloc_bytes(cells: list[list[str]]) -> bytes:
    return ("\n".join("|".join(c) for c in cells) + "\n").encode()


def _with_times(unit: str, render) -> bytes:
    cells = _obsloc_lines()
    rows = _rows_2025()
    k_min, k_max = cells[0].index("t_min"), cells[0].index("t_max")
    cells[1][k_min] = cells[1][k_max] = unit
    for i, (start, end) in enumerate(zip(rows["obs_start"], rows["obs_end"], strict=True)):
        cells[3 + i][k_min], cells[3 + i][k_max] = render(start), render(end)
    return _obsloc_bytes(cells)


@pytest.mark.parametrize(
    ("unit", "render"),
    [
        ("NULL", lambda s: f"{Time(s, format='yday').mjd:.9f}"),  # no unit: ObsLocTAP's MJD
        ("MJD", lambda s: f"{Time(s, format='yday').mjd:.9f}"),
        ("jd", lambda s: f"{Time(s, format='yday').jd:.9f}"),
        ("UTC", lambda s: Time(s, format="yday").isot),  # ISO text, fractional seconds
        ("yday", lambda s: s),  # day-of-year text as on the page
    ],
)
def test_obsloc_time_units(unit: str, render) -> None:
    frame = nustar.parse("obsloc_text", _with_times(unit, render), "u")
    np.testing.assert_allclose(frame["t_start"], _yday(_rows_2025()["obs_start"]), rtol=0, atol=2e-8)


def test_obsloc_errors_name_row_column_and_unit() -> None:
    with pytest.raises(ParseError, match="unknown time unit 's'") as err:
        nustar.parse("obsloc_text", _with_times("s", lambda s: "1e8"), "u")
    assert err.value.column == "t_min"
    cells = _obsloc_lines()
    k = cells[0].index("t_max")
    cells[4][k] = "NULL"
    with pytest.raises(ParseError, match="empty time") as err:
        nustar.parse("obsloc_text", _obsloc_bytes(cells), "u")
    assert (err.value.row, err.value.column) == (2, "t_max")
    cells = _obsloc_lines()
    cells[5][cells[0].index("t_plan_exptime")] = "NULL"  # t_exptime is NULL too
    with pytest.raises(ParseError, match="no exposure") as err:
        nustar.parse("obsloc_text", _obsloc_bytes(cells), "u")
    assert err.value.row == 3
    cells = _obsloc_lines()
    cells[6][cells[0].index("execution_status")] = "Done"
    with pytest.raises(ParseError, match="not one of") as err:
        nustar.parse("obsloc_text", _obsloc_bytes(cells), "u")
    assert (err.value.row, err.value.column) == (4, "execution_status")
    cells = [[c.replace("obs_id", "observation") for c in line] for line in _obsloc_lines()]
    with pytest.raises(ParseError, match="matches no known layout: obsloc-tap") as err:
        nustar.parse("obsloc_text", _obsloc_bytes(cells), "u")
    assert "obsloc-page-columns" in str(err.value)


def test_obsloc_exposure_falls_back_to_t_exptime_and_honours_ks() -> None:
    cells = _obsloc_lines()
    k_plan, k_exp = cells[0].index("t_plan_exptime"), cells[0].index("t_exptime")
    cells[1][k_exp] = "ks"
    cells[3][k_plan], cells[3][k_exp] = "NULL", "114.9"
    frame = nustar.parse("obsloc_text", _obsloc_bytes(cells), "u")
    assert frame["exp_s"].iloc[0] == pytest.approx(114900.0)


def test_sr_schedule_text_parses_to_the_evidence_rows() -> None:
    frame = nustar.parse("obsloc_text", _bytes("sr_schedule_2017-10_reconstructed.txt"), "u", "text/plain")
    assert frame.attrs["layout"] == "sr-schedule-txt"
    assert frame.attrs["generated_on"] == "2017-10-08"
    _check_2017(frame)
    lines = _bytes("sr_schedule_2017-10_reconstructed.txt").decode().splitlines()
    lines[15] = lines[15][:40]  # a truncated data row
    with pytest.raises(ParseError, match="not a schedule row") as err:
        nustar.parse("obsloc_text", "\n".join(lines).encode(), "u")
    assert err.value.row == 3


def test_unknown_text_layout_names_the_layouts_tried() -> None:
    with pytest.raises(ParseError, match="tried obsloc-tap, obsloc-page-columns, sr-schedule-txt"):
        nustar.parse("obsloc_text", b"obs_start,obs_end,sequenceID\n2025:254:05:30:11,x,y\n", "u")


def test_layouts_dict_describes_every_variant() -> None:
    assert set(nustar.LAYOUTS) == {
        "html-underscore",
        "html-space",
        "obsloc-tap",
        "obsloc-page-columns",
        "sr-schedule-txt",
        "numaster-votable",
        "numaster-fits",
    }
    assert "GUESS" in nustar.LAYOUTS["obsloc-tap"]
    assert "33953425244" in nustar.LAYOUTS["sr-schedule-txt"]
