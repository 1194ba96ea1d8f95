"""High-energy ObsCore rows: time MOCs, URL templates and X-ray performed observations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from astropy import units as u

from models.arrow import conform
from models.hea import (
    TMOC_ORDER,
    XRAY_ARCHIVES,
    expand_template,
    time_moc_ascii,
    url_part,
    xray_performed_to_obscore,
)
from models.moc import time_moc
from models.regions import circle_stcs
from models.tables import OBSCORE, OBSCORE_HEA
from models.units import HC_EV_M, kev_band_to_em
from models.validate import validate

# --------------------------------------------------------------------------------------------
# t_intervals
# --------------------------------------------------------------------------------------------


def test_time_moc_ascii_equals_mocpy_per_row() -> None:
    rng = np.random.default_rng(7)
    start = 53000.0 + rng.random(400) * 8000.0
    length = rng.choice([0.0, 1e-7, 1e-4, 0.012, 0.02, 0.7, 3.0, 90.0], 400) * rng.random(400)
    # Exact cell boundaries and an instant as well.
    start[:3] = [60922.0, 60922.5, 53090.122708]
    length[:3] = [0.0, 1.0, 0.0]
    got = time_moc_ascii(start, start + length)
    for i in range(len(start)):
        assert got[i] == time_moc([start[i]], [start[i] + length[i]], order=TMOC_ORDER).to_string("ascii"), i


@pytest.mark.parametrize("order", [20, 35, 41])
def test_time_moc_ascii_other_orders(order: int) -> None:
    start = np.array([55000.25, 58000.0001, 60000.9])
    stop = start + np.array([0.03, 2.5, 0.0004])
    got = time_moc_ascii(start, stop, order)
    for i in range(3):
        assert got[i] == time_moc([start[i]], [stop[i]], order=order).to_string("ascii")


def test_time_moc_ascii_covers_interval_and_nulls() -> None:
    from mocpy import TimeMOC

    got = time_moc_ascii(np.array([53090.122708, np.nan]), np.array([53090.142176, 53091.0]))
    assert got[1] is None
    moc = TimeMOC.from_string(got[0])
    assert moc.min_time.utc.mjd <= 53090.122708
    assert moc.max_time.utc.mjd >= 53090.142176
    # order 31 cells are 2**30 us: the MOC is no more than two cells wider than the interval.
    assert (moc.max_time.utc.mjd - moc.min_time.utc.mjd) * 86400 < (
        53090.142176 - 53090.122708
    ) * 86400 + 2 * 2**30 / 1e6
    with pytest.raises(ValueError, match="t_min > t_max"):
        time_moc_ascii(np.array([2.0]), np.array([1.0]))


# --------------------------------------------------------------------------------------------
# URL templates
# --------------------------------------------------------------------------------------------


def test_expand_template_pads_and_joins_fields() -> None:
    ids = pd.Series([20136, 7, 123456], dtype="Int64")
    names = pd.Series(["a.fits.gz", "b.fits", "c.fits"])
    got = expand_template("https://h/x_{obs_id:06d}/{file_name}", {"obs_id": ids, "file_name": names})
    assert list(got) == ["https://h/x_020136/a.fits.gz", "https://h/x_000007/b.fits", "https://h/x_123456/c.fits"]


@pytest.mark.parametrize(
    ("template", "match"),
    [
        ("https://h/static.fits", "no placeholder"),
        ("https://h/{run}.fits", "unknown placeholder"),
        ("https://h/{obs_id:.2f}", "unsupported"),
        ("https://h/{file_name}", "only the hdu-index provides"),
        ("https://h/{obs_id!r}", "conversions"),
    ],
)
def test_expand_template_refuses_bad_templates(template: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        expand_template(template, {"obs_id": pd.Series([1], dtype="Int64")})


def test_expand_template_joins_empty_dirs_without_double_slash() -> None:
    fields = {
        "file_dir": pd.Series(["", "data", "data/", "./a//b/", ".", None, "/abs/dir"]),
        "file_name": pd.Series(["f.fits"] * 7),
    }
    got = list(expand_template("https://h/r/{file_dir}/{file_name}", fields))
    assert got == [
        "https://h/r/f.fits",
        "https://h/r/data/f.fits",
        "https://h/r/data/f.fits",
        "https://h/r/a/b/f.fits",
        "https://h/r/f.fits",
        "https://h/r/f.fits",
        "https://h/r/abs/dir/f.fits",
    ]
    assert all("//" not in url[len("https://") :] for url in got)


def test_expand_template_escapes_segments_and_fragment() -> None:
    from urllib.parse import unquote, urlsplit

    fields = {
        "file_dir": pd.Series(["run 1/é"]),
        "file_name": pd.Series(["a b%#?.fits"]),
    }
    hdu = pd.Series(["EVENTS 1/2"])
    url = expand_template("https://h/{file_dir}/{file_name}", fields, fragment=hdu).iloc[0]
    assert url == "https://h/run%201/%C3%A9/a%20b%25%23%3F.fits#EVENTS%201%2F2"
    parts = urlsplit(url)  # the standard library reads back exactly the index values
    assert unquote(parts.path) == "/run 1/é/a b%#?.fits" and unquote(parts.fragment) == "EVENTS 1/2"
    assert parts.query == ""
    with pytest.raises(ValueError, match="unknown URL part"):
        url_part(hdu, "query")


def test_xray_archive_templates_are_a_parameter() -> None:
    """The source that owns an archive layout can pass it; only the facilities given are used."""
    mirror = {"NuSTAR": dict(XRAY_ARCHIVES["NuSTAR"], url="https://mirror.example.org/nustar/{id}/")}
    out = xray_performed_to_obscore(_performed(), archives=mirror)
    assert list(out["obscore"]["obs_id"]) == ["71001002005"]
    assert out["obscore"]["access_url"].iloc[0] == "https://mirror.example.org/nustar/71001002005/"
    assert validate(out["obscore"], OBSCORE) == []


# --------------------------------------------------------------------------------------------
# X-ray performed observations
# --------------------------------------------------------------------------------------------

NUSTAR_EM = kev_band_to_em(3.0, 79.0)
XMM_EM = kev_band_to_em(0.15, 15.0)
IBIS_EM = kev_band_to_em(15.0, 10_000.0)


def _performed() -> pd.DataFrame:
    """Performed rows with real ids, targets and times from the recorded fixtures.

    NuSTAR 71001002005 Abell_520 (short_range_rows_2025-09_pandas.csv), XMM-Newton 0811026501 Crab
    (short_term_schedule_rows_rev4714_pandas.csv, leading zero restored), INTEGRAL science window
    228000160010 (intscw_7rows_votable_rec2022-03-31.xml); an INTEGRAL row with a non-scw id, a
    Scheduled NuSTAR row and an ESO row must not give event lists.
    """
    rows = pd.DataFrame(
        {
            "obs_id": ["71001002005", "0811026501", "228000160010", "0267-0001", "60061013002", "P115.X"],
            "obs_collection": ["NuSTAR", "XMM-Newton", "INTEGRAL", "INTEGRAL", "NuSTAR", "ESO-VLT"],
            "facility_name": ["NuSTAR", "XMM-Newton", "INTEGRAL", "INTEGRAL", "NuSTAR", "ESO-VLT"],
            "instrument_name": ["FPMA/FPMB", "EPIC", "IBIS", "IBIS", "FPMA/FPMB", "UVES"],
            "target_name": ["Abell_520", "Crab", "Crab", "Crab", "ESO353_G009", "x"],
            "execution_status": ["Performed", "Performed", "Performed", "Performed", "Scheduled", "Performed"],
            "tracking_type": ["Sidereal"] * 6,
            "s_ra": [73.57913, 83.633, 83.76971, 83.76971, 22.958799, 10.0],
            "s_dec": [2.94689, 22.0144, 22.02981, 22.02981, -33.119701, -5.0],
            "s_fov": [0.2, 0.5, 9.0, 9.0, 0.2, 0.1],
            "t_min": [60927.22929, 60922.5673, 59121.9224768039, 59121.9224768039, 60929.6772, 60900.0],
            "t_max": [60929.65625, 60922.7062, 59121.9640740517, 59121.9640740517, 60930.1597, 60900.1],
            "t_exptime": [114900.0, 8600.0, 3117.0, 3117.0, 23800.0, 100.0],
            "em_min": [NUSTAR_EM[0], XMM_EM[0], IBIS_EM[0], IBIS_EM[0], NUSTAR_EM[0], 3e-7],
            "em_max": [NUSTAR_EM[1], XMM_EM[1], IBIS_EM[1], IBIS_EM[1], NUSTAR_EM[1], 1e-6],
        }
    )
    radius = rows["s_fov"].to_numpy() / 2
    return rows.assign(s_region=circle_stcs(rows["s_ra"], rows["s_dec"], radius))


def test_xray_performed_rows_point_to_archive_event_lists() -> None:
    out = xray_performed_to_obscore(_performed())
    core, hea = out["obscore"], out["obscore_hea"]
    assert list(core["obs_id"]) == ["71001002005", "0811026501", "228000160010", "0267-0001"]
    assert list(core["access_url"].iloc[:3]) == [
        "https://heasarc.gsfc.nasa.gov/FTP/nustar/data/obs/10/7/71001002005/event_cl/",
        "https://nxsa.esac.esa.int/nxsa-sl/servlet/data-action-aio?obsno=0811026501&level=PPS&name=PIEVLI",
        "https://heasarc.gsfc.nasa.gov/FTP/integral/data/scw/2280/228000160010.001/",
    ]
    assert list(core["access_format"].iloc[:3]) == [
        "application/x-directory",
        "application/x-tar",
        "application/x-directory",
    ]
    # A non-science-window INTEGRAL id gets no URL rather than a guessed one.
    assert pd.isna(core["access_url"].iloc[3]) and pd.isna(core["access_format"].iloc[3])
    assert list(core["calib_level"]) == [2, 2, 1, 1]
    assert set(core["dataproduct_type"]) == {"event"}
    assert set(core["dataproduct_subtype"]) == {"event-list"}
    assert list(core["obs_publisher_did"]) == list(hea["obs_publisher_did"])
    assert core["obs_publisher_did"].iloc[1] == "ivo://voharvest/XMM-Newton?0811026501"
    for col in ("s_xel1", "s_xel2", "t_xel", "em_xel"):
        assert (core[col] == -1).all()
    assert core["o_ucd"].isna().all() and core["pol_xel"].isna().all() and core["access_estsize"].isna().all()
    # Band, field and times straight from the obsplan row.
    assert core["s_fov"].tolist() == [0.2, 0.5, 9.0, 9.0]
    assert core["t_exptime"].tolist() == [114900.0, 8600.0, 3117.0, 3117.0]
    assert core["s_region"].iloc[0] == "Circle ICRS 73.579130 2.946890 0.100000"


def test_xray_energies_in_ev_match_wavelengths() -> None:
    out = xray_performed_to_obscore(_performed())
    core, hea = out["obscore"], out["obscore_hea"]
    # NuSTAR 3-79 keV, XMM 0.15-15 keV, IBIS 15 keV - 10 MeV, independently via astropy.
    expected = [(3.0, 79.0), (0.15, 15.0), (15.0, 10_000.0), (15.0, 10_000.0)]
    for i, (lo, hi) in enumerate(expected):
        assert hea["energy_min"].iloc[i] == pytest.approx((lo * u.keV).to_value(u.eV), rel=1e-9)
        assert hea["energy_max"].iloc[i] == pytest.approx((hi * u.keV).to_value(u.eV), rel=1e-9)
        assert core["em_min"].iloc[i] == pytest.approx((hi * u.keV).to(u.m, equivalencies=u.spectral()).value, rel=1e-8)
    assert np.allclose(hea["energy_max"] * core["em_min"], HC_EV_M)
    assert np.allclose(hea["energy_min"] * core["em_max"], HC_EV_M)
    assert list(hea["tracking_mode"]) == ["sidereal"] * 4
    assert set(hea["messenger_name"]) == {"photon"} and set(hea["messenger_pdgid"]) == {"+22"}
    assert conform(hea, OBSCORE_HEA).column("ev_xel").null_count == 4  # event counts unknown: NULL, not 0


def test_xray_t_intervals_cover_the_observation() -> None:
    from mocpy import TimeMOC

    perf = _performed()
    hea = xray_performed_to_obscore(perf)["obscore_hea"]
    for i in range(4):
        moc = TimeMOC.from_string(hea["t_intervals"].iloc[i])
        assert moc.min_time.utc.mjd <= perf["t_min"].iloc[i] + 1e-9
        assert moc.max_time.utc.mjd >= perf["t_max"].iloc[i] - 1e-9


def test_xray_rows_validate() -> None:
    out = xray_performed_to_obscore(_performed())
    assert validate(out["obscore"], OBSCORE) == []
    assert validate(out["obscore_hea"], OBSCORE_HEA) == []
    table = conform(out["obscore"], OBSCORE)
    assert table.column("o_ucd").null_count == 4
    assert table.column("access_estsize").null_count == 4


def test_xray_missing_columns_and_no_rows() -> None:
    with pytest.raises(KeyError, match="execution_status"):
        xray_performed_to_obscore(_performed().drop(columns="execution_status"))
    out = xray_performed_to_obscore(_performed().iloc[4:])
    assert len(out["obscore"]) == 0 and len(out["obscore_hea"]) == 0
    assert validate(out["obscore"], OBSCORE) == []
