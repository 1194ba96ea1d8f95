"""GADF DL3 indexes -> ObsCore + obscore_hea: H.E.S.S. DL3 DR1 field by field, and the importer's errors."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import io
import json
import math
import pathlib
import shutil
import warnings

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from astropy import units as u
from astropy.io import fits
from astropy.io.votable import parse as parse_votable
from astropy.table import Table
from astropy.time import Time, TimeDelta

from models.arrow import conform
from models.tables import OBSCORE, OBSCORE_HEA, OBSPLAN
from models.timeutil import mjd_from_datetime
from models.validate import validate
from scrapers import gadf
from scrapers.base import ParseError

DATA = pathlib.Path(__file__).parent / "data" / "gadf"
RECORDINGS = pathlib.Path(__file__).parent.parent / "recordings" / "hess_dl3_dr1"
AS_OF = dt.datetime(2025, 9, 4, tzinfo=dt.UTC)
HC_EV_M = 1.239841984e-6
CHECKED_RUNS = (20136, 20137, 23523, 33787, 47829)


@pytest.fixture(scope="module")
def raw_obs() -> Table:
    """The obs-index read straight with astropy: the independent reference for the field checks."""
    return Table.read(DATA / "obs-index.fits.gz", hdu="OBS_INDEX")


@pytest.fixture(scope="module")
def raw_hdu() -> Table:
    return Table.read(DATA / "hdu-index.fits.gz", hdu="HDU_INDEX")


@pytest.fixture(scope="module")
def hess() -> dict[str, pd.DataFrame]:
    frames = {
        "obs_index": gadf.parse("obs_index", (DATA / "obs-index.fits.gz").read_bytes(), "obs"),
        "hdu_index": gadf.parse("hdu_index", (DATA / "hdu-index.fits.gz").read_bytes(), "hdu"),
    }
    return gadf.normalise(frames, AS_OF)


def _row(table: Table, obs_id: int) -> Table.Row:
    return table[np.flatnonzero(table["OBS_ID"] == obs_id)[0]]


# --------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------


def test_parse_obs_index_keeps_time_reference() -> None:
    frame = gadf.parse_obs_index((DATA / "obs-index.fits.gz").read_bytes(), "u")
    assert len(frame) == 105
    assert frame["OBS_ID"].min() == 20136 and frame["OBS_ID"].max() == 47829
    assert set(frame["MJDREFI"]) == {51910.0}
    assert set(frame["MJDREFF"]) == {0.000742870370370241}
    assert set(frame["TIMESYS"]) == {"TT"} and set(frame["TIMEREF"]) == {"LOCAL"}
    assert frame.attrs["units"]["SAFE_ENERGY_LO"] == "TeV"
    assert frame.loc[frame["OBS_ID"] == 20136, "OBJECT"].iloc[0] == "MSH15-52"


def test_parse_hdu_index() -> None:
    frame = gadf.parse_hdu_index((DATA / "hdu-index.fits.gz").read_bytes(), "u")
    assert len(frame) == 630
    assert set(frame["HDU_TYPE"]) == {"aeff", "bkg", "edisp", "events", "gti", "psf"}
    ev = frame[(frame["OBS_ID"] == 20136) & (frame["HDU_TYPE"] == "events")].iloc[0]
    assert ev["FILE_NAME"] == "hess_dl3_dr1_obs_id_020136.fits.gz" and ev["SIZE"] == 414720


# --------------------------------------------------------------------------------------------
# H.E.S.S. DR1 rows, field by field against the index values
# --------------------------------------------------------------------------------------------


def test_hess_row_count_ids_and_validity(hess: dict[str, pd.DataFrame]) -> None:
    core, hea = hess["obscore"], hess["obscore_hea"]
    assert len(core) == 105 and len(hea) == 105
    assert core["obs_publisher_did"].is_unique
    assert list(core["obs_publisher_did"]) == list(hea["obs_publisher_did"])
    assert validate(core, OBSCORE) == []
    assert validate(hea, OBSCORE_HEA) == []
    assert set(core["obs_collection"]) == {"HESS-DL3-DR1"}
    assert set(core["facility_name"]) == {"H.E.S.S."}


@pytest.mark.parametrize("obs_id", CHECKED_RUNS)
def test_hess_times_against_astropy(hess: dict[str, pd.DataFrame], raw_obs: Table, obs_id: int) -> None:
    core = hess["obscore"].set_index("obs_id")
    ref = _row(raw_obs, obs_id)
    header = raw_obs.meta
    assert header["TIMESYS"] == "TT"
    epoch = Time(header["MJDREFI"], header["MJDREFF"], format="mjd", scale="tt")
    t_start = (epoch + TimeDelta(float(ref["TSTART"]) * u.s)).utc.mjd
    t_stop = (epoch + TimeDelta(float(ref["TSTOP"]) * u.s)).utc.mjd
    row = core.loc[str(obs_id)]
    assert abs(row["t_min"] - t_start) * 86400 < 1e-4  # 0.1 ms
    assert abs(row["t_max"] - t_stop) * 86400 < 1e-4
    # DR1's DATE-OBS/TIME-OBS strings are TT, not UTC (every TIME-OBS ends in .184: TT-UTC is 64.184 s
    # before 2006, 65.184 s after): read as TT they give t_min exactly; read as UTC they would be a
    # minute late, which is the error t_min must not have.
    start_text = f"{ref['DATE-OBS']}T{ref['TIME-OBS']}"
    end_text = f"{ref['DATE-END']}T{ref['TIME-END']}"
    assert abs(row["t_min"] - Time(start_text, scale="tt").utc.mjd) * 86400 < 1e-3
    assert abs(row["t_max"] - Time(end_text, scale="tt").utc.mjd) * 86400 < 1e-3
    assert 64.0 < (Time(start_text, scale="utc").mjd - row["t_min"]) * 86400 < 65.5
    assert row["t_exptime"] == pytest.approx(float(ref["LIVETIME"]), rel=1e-7)
    assert row["t_exptime"] < (row["t_max"] - row["t_min"]) * 86400


@pytest.mark.parametrize("obs_id", CHECKED_RUNS)
def test_hess_energies_in_metres_and_ev(hess: dict[str, pd.DataFrame], raw_obs: Table, obs_id: int) -> None:
    core = hess["obscore"].set_index("obs_id").loc[str(obs_id)]
    hea = hess["obscore_hea"].set_index("obs_publisher_did").loc[core["obs_publisher_did"]]
    ref = _row(raw_obs, obs_id)
    e_lo = (float(ref["SAFE_ENERGY_LO"]) * u.TeV).to_value(u.eV)
    e_hi = (float(ref["SAFE_ENERGY_HI"]) * u.TeV).to_value(u.eV)
    assert hea["energy_min"] == pytest.approx(e_lo, rel=1e-12)
    assert hea["energy_max"] == pytest.approx(e_hi, rel=1e-12)
    assert core["em_min"] == pytest.approx((e_hi * u.eV).to_value(u.m, equivalencies=u.spectral()), rel=1e-8)
    assert core["em_max"] == pytest.approx((e_lo * u.eV).to_value(u.m, equivalencies=u.spectral()), rel=1e-8)
    assert core["em_min"] < 1e-16 and core["em_max"] < 1e-16  # 100 TeV ~ 1.2e-20 m, 0.4 TeV ~ 3e-18 m
    assert core["em_min"] < core["em_max"]
    assert core["em_min"] * hea["energy_max"] == pytest.approx(HC_EV_M, rel=1e-9)
    assert hea["ev_xel"] == int(ref["EVENT_COUNT"])


@pytest.mark.parametrize("obs_id", CHECKED_RUNS)
def test_hess_access_position_and_constants(
    hess: dict[str, pd.DataFrame], raw_obs: Table, raw_hdu: Table, obs_id: int
) -> None:
    core = hess["obscore"].set_index("obs_id").loc[str(obs_id)]
    ref = _row(raw_obs, obs_id)
    url = f"https://hess-dr.obspm.fr/retrieve/hess_dl3_dr1_obs_id_{obs_id:06d}.fits.gz"
    assert core["access_url"] == url and len(core["access_url"]) == len(url) == 68
    assert core["access_format"] == "application/x-fits-gadf"
    ev = raw_hdu[(raw_hdu["OBS_ID"] == obs_id) & (raw_hdu["HDU_TYPE"] == "events")][0]
    assert ev["FILE_NAME"].strip() == url.rsplit("/", 1)[1]
    assert core["access_estsize"] == math.ceil(int(ev["SIZE"]) / 1024)
    assert core["obs_publisher_did"] == f"ivo://voharvest/HESS-DL3-DR1?{obs_id}"
    assert core["target_name"] == ref["OBJECT"].strip()
    assert core["s_ra"] == pytest.approx(float(ref["RA_PNT"]), abs=1e-9)
    assert core["s_dec"] == pytest.approx(float(ref["DEC_PNT"]), abs=1e-9)
    assert core["s_fov"] == 5.0
    assert core["s_region"] == f"Circle ICRS {float(ref['RA_PNT']):.6f} {float(ref['DEC_PNT']):.6f} 2.500000"
    assert (core["dataproduct_type"], core["dataproduct_subtype"], core["calib_level"]) == ("event", "event-list", 2)
    assert (core["s_xel1"], core["s_xel2"], core["t_xel"], core["em_xel"]) == (-1, -1, -1, -1)
    assert core["instrument_name"] == "H.E.S.S. Phase I" and core["data_rights"] == "public"


def test_hess_estsize_rounds_up(hess: dict[str, pd.DataFrame]) -> None:
    core = hess["obscore"].set_index("obs_id")
    assert core.loc["20136", "access_estsize"] == 405  # 414720 B = 405.0 kB exactly
    assert core.loc["20137", "access_estsize"] == 211  # 216000 B = 210.9 kB


def test_hess_unknowns_are_null_not_zero(hess: dict[str, pd.DataFrame]) -> None:
    core = conform(hess["obscore"], OBSCORE)
    hea = conform(hess["obscore_hea"], OBSCORE_HEA)
    for name in ("o_ucd", "pol_states", "pol_xel", "s_resolution", "t_resolution", "em_res_power", "proposal_id"):
        assert core.column(name).null_count == 105, name
    for name in ("obs_mode", "tracking_mode", "s_ref_energy", "event_type"):  # DR1 index has no OBS_MODE
        assert hea.column(name).null_count == 105, name
    assert hea.column("t_intervals").null_count == 0
    assert set(hess["obscore_hea"]["messenger_pdgid"]) == {"+22"}


def test_hess_t_intervals_cover_each_run(hess: dict[str, pd.DataFrame]) -> None:
    from mocpy import TimeMOC

    core, hea = hess["obscore"], hess["obscore_hea"]
    for i in (0, 50, 104):
        moc = TimeMOC.from_string(hea["t_intervals"].iloc[i])
        assert moc.min_time.utc.mjd <= core["t_min"].iloc[i] <= core["t_max"].iloc[i] <= moc.max_time.utc.mjd


# --------------------------------------------------------------------------------------------
# The importer on other GADF indexes
# --------------------------------------------------------------------------------------------


def _variant(
    tmp_path: pathlib.Path,
    *,
    drop: tuple[str, ...] = (),
    header_drop: tuple[str, ...] = (),
    header_set: dict[str, object] | None = None,
    edit=None,
    hdu_edit=None,
    hdu_header_set: dict[str, object] | None = None,
) -> pathlib.Path:
    """A copy of the DR1 index directory whose indexes lost/changed columns or keywords (written with astropy)."""
    out = tmp_path / "index"
    out.mkdir()
    if hdu_edit is None and hdu_header_set is None:
        shutil.copy(DATA / "hdu-index.fits.gz", out / "hdu-index.fits.gz")
    else:
        with fits.open(DATA / "hdu-index.fits.gz") as hdul:
            table = Table.read(hdul["HDU_INDEX"])
            if hdu_edit is not None:
                hdu_edit(table)
            hdu = fits.table_to_hdu(table)
            hdu.header.update(hdu_header_set or {})
            hdu.name = "HDU_INDEX"
            fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(out / "hdu-index.fits.gz")
    with fits.open(DATA / "obs-index.fits.gz") as hdul:
        table = Table.read(hdul["OBS_INDEX"])
        table.remove_columns(list(drop))
        if edit is not None:
            edit(table)
        hdu = fits.table_to_hdu(table)
        for key in header_drop:
            hdu.header.remove(key, ignore_missing=True)
        hdu.header.update(header_set or {})
        hdu.name = "OBS_INDEX"
        fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(out / "obs-index.fits.gz")
    return out


def test_import_with_optional_columns_missing_gives_nulls(tmp_path: pathlib.Path) -> None:
    optional = ("LIVETIME", "DEADC", "SAFE_ENERGY_LO", "SAFE_ENERGY_HI", "EVENT_COUNT", "OBJECT")
    out = gadf.import_directory(
        _variant(tmp_path, drop=optional), "VARIANT", "https://example.org/{file_name}", fov_deg=3.5
    )
    core, hea = out["obscore"], out["obscore_hea"]
    assert len(core) == 105
    assert core["t_exptime"].isna().all() and core["target_name"].isna().all()
    assert core["em_min"].isna().all() and core["em_max"].isna().all()
    assert hea["energy_min"].isna().all() and hea["ev_xel"].isna().all()
    assert not (core["t_exptime"] == 0).any() and not (core["em_min"] == 0).any()
    assert core["t_min"].notna().all() and core["s_fov"].eq(3.5).all()
    assert core["access_url"].iloc[0] == "https://example.org/hess_dl3_dr1_obs_id_020136.fits.gz"
    assert core["facility_name"].isna().all()  # not in a GADF index, not given
    assert validate(core, OBSCORE) == [] and validate(hea, OBSCORE_HEA) == []


def test_import_livetime_from_ontime_and_deadc(tmp_path: pathlib.Path, raw_obs: Table) -> None:
    out = gadf.import_directory(_variant(tmp_path, drop=("LIVETIME",)), "V", gadf.HESS_DR1_URL_TEMPLATE)
    ref = _row(raw_obs, 20136)
    assert out["obscore"]["t_exptime"].iloc[0] == pytest.approx(float(ref["ONTIME"]) * float(ref["DEADC"]), rel=1e-6)
    assert out["obscore"]["s_fov"].isna().all() and out["obscore"]["s_region"].isna().all()  # no FoV given


@pytest.mark.parametrize("column", ["TSTART", "RA_PNT", "OBS_ID"])
def test_import_missing_required_column_is_a_clear_error(tmp_path: pathlib.Path, column: str) -> None:
    index = _variant(tmp_path, drop=(column,))
    with pytest.raises(ParseError) as info:
        gadf.import_directory(index, "V", gadf.HESS_DR1_URL_TEMPLATE)
    err = info.value
    assert err.column == column
    assert str(index / "obs-index.fits.gz") in str(err)
    assert f"required column {column} missing" in str(err)
    assert "TSTOP" in err.found and column not in err.found


def test_import_without_time_reference_is_refused(tmp_path: pathlib.Path) -> None:
    with pytest.raises(ParseError, match="MJDREFI/MJDREFF or MJDREF"):
        gadf.import_directory(_variant(tmp_path, header_drop=("MJDREFI", "MJDREFF")), "V", gadf.HESS_DR1_URL_TEMPLATE)


def test_import_other_instrument_layout(tmp_path: pathlib.Path) -> None:
    """Lower-case names, energies in GeV, OBS_MODE present, no hdu-index (as e.g. a CTA simulation may have)."""

    def edit(table: Table) -> None:
        table["SAFE_ENERGY_LO"] = (table["SAFE_ENERGY_LO"] * 1000).astype("float64")
        table["SAFE_ENERGY_LO"].unit = "GeV"
        table["OBS_MODE"] = "POINTING"
        table.rename_columns(table.colnames, [c.lower() for c in table.colnames])

    index = _variant(tmp_path, edit=edit)
    (index / "hdu-index.fits.gz").unlink()
    out = gadf.import_directory(index, "OTHER", "https://example.org/run_{obs_id}.fits", instrument="sim")
    core, hea = out["obscore"], out["obscore_hea"]
    assert hea["energy_min"].iloc[0] == pytest.approx(0.40738028e12, rel=1e-6)
    assert set(hea["obs_mode"]) == {"POINTING"} and set(hea["tracking_mode"]) == {"sidereal"}
    assert core["access_url"].iloc[0] == "https://example.org/run_20136.fits"
    assert core["access_estsize"].isna().all()  # no hdu-index: size unknown
    assert len(out["datalink"]) == 0
    with pytest.raises(ParseError, match="only the hdu-index provides"):
        gadf.import_directory(index, "OTHER", "https://example.org/{file_name}")


def test_import_refuses_non_fits_and_missing_index(tmp_path: pathlib.Path) -> None:
    html = (pathlib.Path(__file__).parent.parent / "tests" / "data" / "gadf" / "README.txt").read_bytes()
    with pytest.raises(ParseError, match="expected a FITS file"):
        gadf.parse_obs_index(b"<html><body>502 Bad Gateway</body></html>", "https://x/obs-index.fits.gz")
    with pytest.raises(ParseError, match="expected a FITS file"):
        gadf.parse_hdu_index(html, "https://x/hdu-index.fits.gz")
    (tmp_path / "other.txt").write_text("x")
    with pytest.raises(ParseError, match="no obs-index") as info:
        gadf.import_directory(tmp_path, "V", gadf.HESS_DR1_URL_TEMPLATE)
    assert info.value.found == ["other.txt"]


def test_parse_rejects_bad_values(tmp_path: pathlib.Path) -> None:
    def nan_start(table: Table) -> None:
        table["TSTART"][3] = np.nan

    with pytest.raises(ParseError, match="no usable value") as info:
        gadf.import_directory(_variant(tmp_path, edit=nan_start), "V", gadf.HESS_DR1_URL_TEMPLATE)
    assert (info.value.row, info.value.column) == (3, "TSTART")

    def dup(table: Table) -> None:
        table["OBS_ID"][1] = table["OBS_ID"][0]

    with pytest.raises(ParseError, match="OBS_ID 20136 repeats"):
        gadf.parse_obs_index(_fits_bytes(dup), "u")

    def empty(table: Table) -> None:
        table.remove_rows(slice(None))

    with pytest.raises(ParseError, match="no rows"):
        gadf.parse_obs_index(_fits_bytes(empty), "u")


def _fits_bytes(edit) -> bytes:
    table = Table.read(DATA / "obs-index.fits.gz", hdu="OBS_INDEX")
    edit(table)
    hdu = fits.table_to_hdu(table)
    hdu.name = "OBS_INDEX"
    buf = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(buf)
    return buf.getvalue()


def test_import_with_datalink_and_write(tmp_path: pathlib.Path) -> None:
    out = gadf.import_directory(
        DATA,
        "HESS-DL3-DR1",
        gadf.HESS_DR1_URL_TEMPLATE,
        facility="H.E.S.S.",
        instrument="H.E.S.S. Phase I",
        fov_deg=5.0,
        datalink_base_url="https://data.example.org/hess/datalink/",
    )
    core = out["obscore"].set_index("obs_id")
    assert core.loc["20136", "access_url"] == "https://data.example.org/hess/datalink/20136.xml"
    assert set(core["access_format"]) == {"application/x-votable+xml;content=datalink"}
    written = gadf.write_import(out, tmp_path / "out")
    assert len([k for k in written if k.startswith("datalink/")]) == 105
    assert pq.read_table(written["obscore.parquet"]).num_rows == 105
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        vot = parse_votable(str(written["obscore_hea.vot"]), verify="warn").get_first_table().to_table()
    # The HEA draft's UCD words (e.g. instr.detection) are not in the UCD list astropy knows: nothing else.
    assert {type(w.message).__name__ for w in caught} <= {"W06"}
    assert parse_votable(str(written["obscore.vot"]), verify="exception").get_first_table().nrows == 105
    assert len(vot) == 105 and vot["energy_max"].unit == u.eV
    links = parse_votable(str(written["datalink/20136.xml"]), verify="exception").get_first_table().to_table()
    this = links[links["semantics"] == "#this"][0]
    assert this["access_url"] == "https://hess-dr.obspm.fr/retrieve/hess_dl3_dr1_obs_id_020136.fits.gz#events"


# --------------------------------------------------------------------------------------------
# The harvest source and its recordings
# --------------------------------------------------------------------------------------------


def test_requests_match_recordings() -> None:
    reqs = gadf.requests(dt.date(2025, 9, 4))
    entries = json.loads((RECORDINGS / "responses.json").read_text())
    assert sorted(r.name for r in reqs) == sorted(e["request"] for e in entries)
    assert all(r.source == "hess_dl3_dr1" and r.url.startswith("https://") for r in reqs)
    for entry in entries:
        assert (RECORDINGS / entry["file"]).read_bytes() == (DATA / entry["file"]).read_bytes()


def test_recorded_responses_parse_and_normalise() -> None:
    entries = json.loads((RECORDINGS / "responses.json").read_text())
    urls = {r.name: r.url for r in gadf.requests(dt.date(2025, 9, 4))}
    frames = {
        e["request"]: gadf.SOURCE.parse(e["request"], (RECORDINGS / e["file"]).read_bytes(), urls[e["request"]])
        for e in entries
    }
    out = gadf.SOURCE.normalise(frames, AS_OF)
    obsplan = out["obsplan"]
    assert len(obsplan) == 0 and "t_planning" not in obsplan.columns
    assert set(obsplan.columns) == set(OBSPLAN.names) - {"t_planning"}
    assert validate(obsplan.assign(t_planning=mjd_from_datetime(AS_OF)), OBSPLAN) == []
    assert len(out["obscore"]) == 105 and validate(out["obscore"], OBSCORE) == []
    assert out["obscore"]["obs_id"].str.fullmatch(gadf.SOURCE.id_pattern).all()
    assert gadf.SOURCE.cron is None and gadf.SOURCE.name == "hess_dl3_dr1"


def test_normalise_without_obs_index_gives_only_empty_obsplan() -> None:
    out = gadf.normalise({}, AS_OF)
    assert list(out) == ["obsplan"] and len(out["obsplan"]) == 0


def test_parse_unknown_request_name() -> None:
    with pytest.raises(ParseError, match="unknown request name"):
        gadf.parse("events", b"", "u")


def test_import_options_are_those_of_gadf_to_ivoa(tmp_path: pathlib.Path) -> None:
    """import_directory forwards every gadf_to_ivoa option (declared once, there) and rejects unknown ones."""
    out = gadf.import_directory(
        DATA, "HESS-DL3-DR1", gadf.HESS_DR1_URL_TEMPLATE, data_rights="public", auth="example.org", fov_deg=5.0
    )
    core = out["obscore"].set_index("obs_id")
    assert core.loc["20136", "obs_publisher_did"] == "ivo://example.org/HESS-DL3-DR1?20136"
    assert set(core["data_rights"]) == {"public"}
    assert set(core["s_fov"]) == {5.0}
    with pytest.raises(TypeError, match="fov_degree"):
        # rejected before the directory is looked at: it does not even exist
        gadf.import_directory(tmp_path / "absent", "V", gadf.HESS_DR1_URL_TEMPLATE, fov_degree=5.0)


# --------------------------------------------------------------------------------------------
# Time references: UTC and TT, across leap seconds; where the reference is found
# --------------------------------------------------------------------------------------------

UTC_DIR = DATA / "utc_reconstructed"
UTC_INDEX = UTC_DIR / "obs-index-utc_reconstructed.fits.gz"
LEAP_2006 = Time("2006-01-01T00:00:00", scale="utc").mjd  # the 2005-12-31 23:59:60 leap second ends here


def _astropy_utc(mjdref: float, scale: str, seconds: np.ndarray) -> np.ndarray:
    """UTC MJD of elapsed seconds since ``mjdref`` in ``scale``: astropy Time + TimeDelta, nothing of ours."""
    return (Time(mjdref, format="mjd", scale=scale) + TimeDelta(seconds * u.s)).utc.mjd


def test_utc_referenced_index_gives_astropy_times_across_the_2006_leap_second(raw_obs: Table) -> None:
    """The UTC copy of DR1 (MJDREF 2004-01-01 UTC, runs 2004..2008) gives the TT import's instants."""
    utc_raw = Table.read(UTC_INDEX, hdu="OBS_INDEX")
    assert (utc_raw.meta["MJDREFI"], utc_raw.meta["MJDREFF"], utc_raw.meta["TIMESYS"]) == (53005, 0.0, "UTC")
    out = gadf.import_directory(UTC_DIR, "UTC", "https://example.org/{obs_id}")
    core = out["obscore"]
    start = np.asarray(utc_raw["TSTART"], dtype="float64")
    stop = np.asarray(utc_raw["TSTOP"], dtype="float64")
    expected_start = _astropy_utc(53005.0, "utc", start)
    expected_stop = _astropy_utc(53005.0, "utc", stop)
    assert np.max(np.abs(core["t_min"].to_numpy() - expected_start)) * 86400 < 1e-3
    assert np.max(np.abs(core["t_max"].to_numpy() - expected_stop)) * 86400 < 1e-3
    # Same instants as the real TT-referenced index, computed by astropy from the recorded file.
    tt = _astropy_utc(raw_obs.meta["MJDREFI"] + raw_obs.meta["MJDREFF"], "tt", np.asarray(raw_obs["TSTART"], "f8"))
    assert np.max(np.abs(core["t_min"].to_numpy() - tt)) * 86400 < 1e-3
    # Runs on both sides of the leap second; the old rule (seconds as a fraction of a UTC day) would
    # be exact before it and 1 s late after it: the test can tell the two apart.
    after = core["t_min"].to_numpy() > LEAP_2006
    assert after.any() and (~after).any()
    naive = 53005.0 + start / 86400.0
    late = (naive - core["t_min"].to_numpy()) * 86400
    assert np.allclose(late[~after], 0.0, atol=1e-3) and np.allclose(late[after], 1.0, atol=1e-3)
    assert validate(core, OBSCORE) == [] and validate(out["obscore_hea"], OBSCORE_HEA) == []
    assert out.provenance["time_reference"]["chosen"]["timesys"] == "UTC"


def test_utc_reference_five_leap_seconds_back(tmp_path: pathlib.Path, raw_obs: Table) -> None:
    """MJDREF 1994-01-01 UTC: 4 leap seconds before the first DR1 run, 5 before the 2006+ runs."""
    ref94 = Time(49353, format="mjd", scale="utc")
    tt_ref = Time(raw_obs.meta["MJDREFI"], raw_obs.meta["MJDREFF"], format="mjd", scale="tt")

    def rebase(table: Table) -> None:
        for col in ("TSTART", "TSTOP"):
            table[col] = ((tt_ref + TimeDelta(np.asarray(table[col], "f8") * u.s)) - ref94).sec

    index = _variant(tmp_path, edit=rebase, header_set={"MJDREFI": 49353, "MJDREFF": 0.0, "TIMESYS": "UTC"})
    core = gadf.import_directory(index, "V", "https://example.org/{obs_id}")["obscore"]
    seconds = Table.read(next(index.glob("obs-index*")), hdu="OBS_INDEX")["TSTART"]
    expected = _astropy_utc(49353.0, "utc", np.asarray(seconds, "f8"))
    assert np.max(np.abs(core["t_min"].to_numpy() - expected)) * 86400 < 1e-3
    late = (49353.0 + np.asarray(seconds, "f8") / 86400.0 - core["t_min"].to_numpy()) * 86400
    after = core["t_min"].to_numpy() > LEAP_2006
    assert np.allclose(late[~after], 4.0, atol=1e-3) and np.allclose(late[after], 5.0, atol=1e-3)


@pytest.mark.parametrize("scale", ["tai", "tdb"])
def test_other_scales_against_astropy(tmp_path: pathlib.Path, raw_obs: Table, scale: str) -> None:
    index = _variant(tmp_path, header_set={"TIMESYS": scale.upper()})
    core = gadf.import_directory(index, "V", "https://example.org/{obs_id}")["obscore"]
    expected = _astropy_utc(
        raw_obs.meta["MJDREFI"] + raw_obs.meta["MJDREFF"], scale, np.asarray(raw_obs["TSTART"], "f8")
    )
    assert np.max(np.abs(core["t_min"].to_numpy() - expected)) * 86400 < 1e-3


def _obs_meta() -> dict[str, object]:
    meta = Table.read(DATA / "obs-index.fits.gz", hdu="OBS_INDEX").meta
    return {k: meta[k] for k in ("MJDREFI", "MJDREFF", "TIMESYS")}


def test_reference_from_hdu_index_header(tmp_path: pathlib.Path, hess: dict[str, pd.DataFrame]) -> None:
    index = _variant(tmp_path, header_drop=("MJDREFI", "MJDREFF", "TIMESYS"), hdu_header_set=_obs_meta())
    out = gadf.import_directory(index, "HESS-DL3-DR1", gadf.HESS_DR1_URL_TEMPLATE)
    assert np.array_equal(out["obscore"]["t_min"].to_numpy(), hess["obscore"]["t_min"].to_numpy())
    chosen = out.provenance["time_reference"]["chosen"]
    assert chosen["origin"].startswith("hdu-index header") and chosen["timesys"] == "TT"


def _event_files(
    index: pathlib.Path,
    obs_ids: tuple[int, ...],
    header: dict[str, object],
    gti_header: dict[str, object] | None = None,
) -> None:
    """Event files (headers only) at the hdu-index's FILE_DIR/FILE_NAME, with the given EVENTS (and GTI) keywords."""
    hdu = Table.read(index / "hdu-index.fits.gz", hdu="HDU_INDEX")
    for obs_id in obs_ids:
        row = hdu[(hdu["OBS_ID"] == obs_id) & (hdu["HDU_TYPE"] == "events")][0]
        path = index / row["FILE_DIR"].strip() / row["FILE_NAME"].strip()
        path.parent.mkdir(parents=True, exist_ok=True)
        events = fits.BinTableHDU.from_columns([fits.Column("TIME", "D", array=np.zeros(1))], name="EVENTS")
        events.header.update(header)
        gti = fits.BinTableHDU.from_columns([fits.Column("START", "D", array=np.zeros(1))], name="GTI")
        gti.header.update(gti_header or {})
        fits.HDUList([fits.PrimaryHDU(), events, gti]).writeto(path)


def test_reference_from_gti_header_when_events_lack_it(tmp_path: pathlib.Path, hess: dict[str, pd.DataFrame]) -> None:
    index = _variant(tmp_path, header_drop=("MJDREFI", "MJDREFF", "TIMESYS"))
    _event_files(index, (20136,), {}, gti_header=_obs_meta())
    out = gadf.import_directory(index, "HESS-DL3-DR1", gadf.HESS_DR1_URL_TEMPLATE)
    assert np.array_equal(out["obscore"]["t_min"].to_numpy(), hess["obscore"]["t_min"].to_numpy())
    assert out.provenance["time_reference"]["chosen"]["origin"].startswith("gti header")


def test_reference_from_event_file_headers(tmp_path: pathlib.Path, hess: dict[str, pd.DataFrame]) -> None:
    index = _variant(tmp_path, header_drop=("MJDREFI", "MJDREFF", "TIMESYS"))
    _event_files(index, (20136, 47829), _obs_meta())
    out = gadf.import_directory(index, "HESS-DL3-DR1", gadf.HESS_DR1_URL_TEMPLATE)
    assert np.array_equal(out["obscore"]["t_max"].to_numpy(), hess["obscore"]["t_max"].to_numpy())
    chosen = out.provenance["time_reference"]["chosen"]
    assert chosen["origin"].startswith("events header") and "020136" in chosen["origin"]
    assert chosen["origin"].endswith("#events")  # DR1's HDU_NAME; EXTNAME matched without case


def test_event_files_that_disagree_are_refused(tmp_path: pathlib.Path) -> None:
    index = _variant(tmp_path, header_drop=("MJDREFI", "MJDREFF", "TIMESYS"))
    _event_files(index, (20136,), _obs_meta())
    _event_files(index, (47829,), _obs_meta() | {"TIMESYS": "UTC"})
    with pytest.raises(ParseError, match="event/GTI files disagree"):
        gadf.import_directory(index, "V", gadf.HESS_DR1_URL_TEMPLATE)


def test_no_reference_anywhere_lists_places_and_the_way_out(tmp_path: pathlib.Path) -> None:
    index = _variant(tmp_path, header_drop=("MJDREFI", "MJDREFF", "TIMESYS"))
    with pytest.raises(ParseError, match="give --mjdref MJD --timesys SCALE") as info:
        gadf.import_directory(index, "V", gadf.HESS_DR1_URL_TEMPLATE)
    assert "obs-index header" in str(info.value) and "hdu-index header" in str(info.value)


def test_precedence_option_over_obs_over_hdu_index(tmp_path: pathlib.Path, raw_obs: Table) -> None:
    # The hdu-index claims UTC: the obs-index (TT) describes its own columns and wins.
    index = _variant(tmp_path, hdu_header_set=_obs_meta() | {"TIMESYS": "UTC"})
    out = gadf.import_directory(index, "V", gadf.HESS_DR1_URL_TEMPLATE)
    assert out.provenance["time_reference"]["chosen"]["origin"].startswith("obs-index header")
    looked = out.provenance["time_reference"]["looked_at"]
    assert [p["used"] for p in looked] == [True, False] and looked[1]["timesys"] == "UTC"
    # An explicit option wins over both. MJDREF 51910 TT lies 64.184 s (TT-UTC in 2001) before DR1's
    # reference 51910.000742870 TT; MJDREF 51910 UTC is the very instant of DR1's reference.
    for scale, offset in (("tt", 64.184), ("utc", 0.0)):
        opt = gadf.import_directory(index, "V", gadf.HESS_DR1_URL_TEMPLATE, mjdref=51910.0, timesys=scale)
        expected = _astropy_utc(51910.0, scale, np.asarray(raw_obs["TSTART"], "f8"))
        assert np.max(np.abs(opt["obscore"]["t_min"].to_numpy() - expected)) * 86400 < 1e-3
        shift = (out["obscore"]["t_min"] - opt["obscore"]["t_min"]).to_numpy() * 86400
        assert np.allclose(shift, offset, atol=1e-3)
    assert opt.provenance["time_reference"]["chosen"]["origin"] == "option --mjdref/--timesys"
    with pytest.raises(ParseError, match="go together"):
        gadf.import_directory(index, "V", gadf.HESS_DR1_URL_TEMPLATE, mjdref=51910.0)
    with pytest.raises(ParseError, match="not a time scale"):
        gadf.import_directory(index, "V", gadf.HESS_DR1_URL_TEMPLATE, mjdref=51910.0, timesys="GPS")


def test_half_a_reference_must_agree_with_the_one_used(tmp_path: pathlib.Path) -> None:
    """obs-index with TIMESYS UTC but no MJDREF, hdu-index with MJDREF in TT: contradiction, refused."""
    index = _variant(tmp_path, header_drop=("MJDREFI", "MJDREFF"), header_set={"TIMESYS": "UTC"},
                     hdu_header_set=_obs_meta())  # fmt: skip
    with pytest.raises(ParseError, match="TIMESYS UTC but no complete reference"):
        gadf.import_directory(index, "V", gadf.HESS_DR1_URL_TEMPLATE)


def test_cli_mjdref_timesys_and_provenance(tmp_path: pathlib.Path, raw_obs: Table, capsys) -> None:
    from pipelines.cli import main

    index = _variant(tmp_path, header_drop=("MJDREFI", "MJDREFF", "TIMESYS"))
    out_dir = tmp_path / "out"
    args = ["import-gadf", str(index), "--collection", "V", "--access-url-template", "https://e.org/{file_name}"]
    assert main(args + ["--output", str(out_dir)]) == 1
    assert "no time reference" in capsys.readouterr().err
    mjdref = raw_obs.meta["MJDREFI"] + raw_obs.meta["MJDREFF"]
    assert main(args + ["--output", str(out_dir), "--mjdref", repr(mjdref), "--timesys", "TT"]) == 0
    captured = capsys.readouterr()
    assert "time reference: MJDREF 51910" in captured.err and "option --mjdref/--timesys" in captured.err
    assert str(out_dir / "provenance.json") in captured.out.splitlines()
    prov = json.loads((out_dir / "provenance.json").read_text())
    assert prov["time_reference"]["chosen"]["timesys"] == "TT"
    assert prov["time_reference"]["precedence"][0].startswith("option")
    assert prov["obs_index"]["sha256"] == hashlib.sha256((index / "obs-index.fits.gz").read_bytes()).hexdigest()
    t_min = pq.read_table(out_dir / "obscore.parquet").column("t_min").to_numpy()
    expected = _astropy_utc(mjdref, "tt", np.asarray(raw_obs["TSTART"], "f8"))
    assert np.max(np.abs(np.sort(t_min) - np.sort(expected))) * 86400 < 1e-3


# --------------------------------------------------------------------------------------------
# File names, drift scans, URLs, strings, bad values
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "hdu_name"),
    [
        ("obs-index-hess-dl3-dr3.fits.gz", "hdu-index-hess-dl3-dr3.fits.gz"),
        # HAWC's public DL3 release (gammapy-data hawc/crab_events_pass4, as listed by download rules).
        ("obs-index-table-GP-Crab.fits.gz", "hdu-index-table-GP-Crab.fits.gz"),
        ("obs_index.fits", "hdu_index.fits"),
        ("OBS-INDEX.fits.gz", "hdu-index.fits.gz"),
    ],
)
def test_index_file_name_variants(tmp_path: pathlib.Path, name: str, hdu_name: str) -> None:
    index = _variant(tmp_path)
    for old, new in (("obs-index.fits.gz", name), ("hdu-index.fits.gz", hdu_name)):
        raw = (index / old).read_bytes()
        (index / old).unlink()
        (index / new).write_bytes(gzip.decompress(raw) if not new.endswith(".gz") else raw)
    out = gadf.import_directory(index, "V", gadf.HESS_DR1_URL_TEMPLATE)
    assert len(out["obscore"]) == 105 and out.provenance["obs_index"]["path"].endswith(name)
    assert out.provenance["hdu_index"]["path"].endswith(hdu_name)
    assert out["obscore"]["access_estsize"].notna().all()  # sizes come from the renamed hdu-index


def test_several_obs_indexes_are_ambiguous(tmp_path: pathlib.Path) -> None:
    index = _variant(tmp_path)
    shutil.copy(index / "obs-index.fits.gz", index / "obs-index-copy.fits.gz")
    with pytest.raises(ParseError, match="several obs-index files") as info:
        gadf.import_directory(index, "V", gadf.HESS_DR1_URL_TEMPLATE)
    assert info.value.found == ["obs-index-copy.fits.gz", "obs-index.fits.gz"]


def test_drift_scan_without_tstart_tstop_imports_with_null_times(tmp_path: pathlib.Path) -> None:
    """HAWC-like: no TSTART/TSTOP and no reference. ObsCore t_min/t_max are nullable: NULL, stated."""

    def drift(table: Table) -> None:
        table["OBS_MODE"] = "DRIFT"

    index = _variant(tmp_path, drop=("TSTART", "TSTOP"), edit=drift, header_drop=("MJDREFI", "MJDREFF", "TIMESYS"))
    out = gadf.import_directory(index, "DRIFT", "https://example.org/{file_name}")
    core, hea = out["obscore"], out["obscore_hea"]
    assert core["t_min"].isna().all() and core["t_max"].isna().all() and hea["t_intervals"].isna().all()
    assert set(hea["tracking_mode"]) == {"fixed-az-el-transit"}
    assert core["t_exptime"].notna().all()  # LIVETIME is still known
    assert validate(core, OBSCORE) == [] and validate(hea, OBSCORE_HEA) == []
    assert out.provenance["time_reference"]["chosen"] is None
    assert "drift scan" in out.provenance["time_reference"]["statement"]
    written = gadf.write_import(out, tmp_path / "out")
    assert pq.read_table(written["obscore.parquet"]).column("t_min").null_count == 105


def test_urls_with_empty_file_dir_and_spaces_are_joined_and_escaped(tmp_path: pathlib.Path) -> None:
    def edit_hdu(table: Table) -> None:
        table["FILE_DIR"] = np.where(table["OBS_ID"] == 20136, "", "run data/")
        table["HDU_NAME"] = np.where(table["HDU_TYPE"] == "events", "EVENTS 1", table["HDU_NAME"])

    index = _variant(tmp_path, hdu_edit=edit_hdu)
    out = gadf.import_directory(
        index, "V", "https://h.org/dl3/{file_dir}/{file_name}", datalink_base_url="https://h.org/dl/"
    )
    links = out["datalink"]
    this = links[links["semantics"] == "#this"].set_index("x_obs_id")["access_url"]
    assert this["20136"] == "https://h.org/dl3/hess_dl3_dr1_obs_id_020136.fits.gz#EVENTS%201"
    assert this["20137"] == "https://h.org/dl3/run%20data/hess_dl3_dr1_obs_id_020137.fits.gz#EVENTS%201"
    assert not links["access_url"].str.slice(8).str.contains("//", regex=False).any()
    assert not links["access_url"].str.contains(" ", regex=False).any()
    gadf.write_import(out, tmp_path / "out")  # the documents are valid (DataLink checks) with these URLs


def test_fits_strings_utf8_kept_and_other_bytes_refused() -> None:
    def utf8(table: Table) -> None:
        table["OBJECT"] = np.array(["η Car – Café".encode()] * len(table), dtype="S24")

    frame = gadf.parse_obs_index(_fits_bytes(utf8), "u")
    assert set(frame["OBJECT"]) == {"η Car – Café"}

    def latin1(table: Table) -> None:
        names = np.array([s.encode() for s in table["OBJECT"]], dtype="S24")
        names[7] = "Café".encode("latin-1")
        table["OBJECT"] = names

    with pytest.raises(ParseError, match="neither ASCII") as info:
        gadf.parse_obs_index(_fits_bytes(latin1), "u")
    assert (info.value.row, info.value.column) == (7, "OBJECT")


@pytest.mark.parametrize(
    ("column", "row", "value", "match"),
    [
        ("TSTART", 4, 1e300, "plausible range"),
        ("TSTOP", 2, 4e9, "plausible range"),
        ("RA_PNT", 5, 400.0, "RA outside"),
        ("DEC_PNT", 6, -91.0, "Dec outside"),
        ("LIVETIME", 1, 1e6, "<= TSTOP - TSTART"),
        ("DEADC", 1, 1.5, "in \\[0.0, 1.0\\]"),
        ("SAFE_ENERGY_HI", 3, 0.1, "above SAFE_ENERGY_HI"),
        ("EVENT_COUNT", 9, -4, "integer >= 0"),
    ],
)
def test_bad_values_name_row_and_column(column: str, row: int, value: float, match: str) -> None:
    def edit(table: Table) -> None:
        table[column][row] = value

    with pytest.raises(ParseError, match=match) as info:
        gadf.parse_obs_index(_fits_bytes(edit), "obs.fits")
    assert (info.value.row, info.value.column) == (row, column)
    assert "obs.fits" in str(info.value)


def test_ra_360_wraps_to_zero() -> None:
    def edit(table: Table) -> None:
        table["RA_PNT"][0] = 360.0

    frame = gadf.parse_obs_index(_fits_bytes(edit), "u")
    assert frame["RA_PNT"].iloc[0] == 0.0


@pytest.mark.parametrize("cut", [100, 2880])
def test_truncated_file_is_refused(cut: int) -> None:
    """A short download (padding bytes missing) must not give rows read past the end of the data."""
    raw = gzip.decompress((DATA / "obs-index.fits.gz").read_bytes())
    with pytest.raises(ParseError, match="truncated FITS|unreadable FITS"):
        gadf.parse_obs_index(raw[:-cut], "https://x/obs-index.fits")


def test_future_or_pre_hess_times_refused_by_the_source(raw_obs: Table) -> None:
    """H.E.S.S. rows before first light (2002-06-01) or after the as-of time are parse errors, not rows."""

    def early(table: Table) -> None:
        table["TSTART"][5] = 0.0  # 2001-01-01: before H.E.S.S. first light

    frame = gadf.parse("obs_index", _fits_bytes(early), "https://x/obs-index.fits.gz")
    with pytest.raises(ParseError, match="H.E.S.S. operating window") as info:
        gadf.normalise({"obs_index": frame}, AS_OF)
    assert (info.value.row, info.value.column, info.value.url) == (5, "TSTART", "https://x/obs-index.fits.gz")
    frame = gadf.parse("obs_index", (DATA / "obs-index.fits.gz").read_bytes(), "u")
    with pytest.raises(ParseError, match="operating window"):
        gadf.normalise({"obs_index": frame}, dt.datetime(2004, 3, 26, 3, 0, tzinfo=dt.UTC))  # before run 20136 ends
