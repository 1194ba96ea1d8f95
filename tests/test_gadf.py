"""GADF DL3 indexes -> ObsCore + obscore_hea: H.E.S.S. DL3 DR1 field by field, and the importer's errors."""

from __future__ import annotations

import datetime as dt
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
    tmp_path: pathlib.Path, *, drop: tuple[str, ...] = (), header_drop: tuple[str, ...] = (), edit=None
) -> pathlib.Path:
    """A copy of the DR1 index directory whose obs-index lost columns / keywords (written with astropy)."""
    out = tmp_path / "index"
    out.mkdir()
    shutil.copy(DATA / "hdu-index.fits.gz", out / "hdu-index.fits.gz")
    with fits.open(DATA / "obs-index.fits.gz") as hdul:
        table = Table.read(hdul["OBS_INDEX"])
        table.remove_columns(list(drop))
        if edit is not None:
            edit(table)
        hdu = fits.table_to_hdu(table)
        for key in header_drop:
            hdu.header.remove(key, ignore_missing=True)
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
