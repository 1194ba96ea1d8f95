"""Static DataLink documents: content, validity (astropy strict parse, STILTS votlint) and refusals."""

from __future__ import annotations

import datetime as dt
import io
import pathlib

import numpy as np
import pandas as pd
import pytest
from astropy.io.votable import parse as parse_votable

from models.datalink import (
    DATALINK_FORMAT,
    DataLinkError,
    check_public_base_url,
    datalink_documents,
    datalink_table,
    snapshot_url,
)
from scrapers import gadf
from tests.votlint import votlint

DATA = pathlib.Path(__file__).parent / "data" / "gadf"
DID = "ivo://voharvest/HESS-DL3-DR1?20136"
FILE = "https://hess-dr.obspm.fr/retrieve/hess_dl3_dr1_obs_id_020136.fits.gz"


@pytest.fixture(scope="module")
def hess_links() -> pd.DataFrame:
    out = gadf.import_directory(
        DATA, "HESS-DL3-DR1", gadf.HESS_DR1_URL_TEMPLATE, fov_deg=5.0, datalink_base_url="https://d.example.org/dl"
    )
    return out["datalink"]


def _read(content: bytes):
    return parse_votable(io.BytesIO(content), verify="exception").get_first_table()


def test_single_document_round_trip() -> None:
    rows = [
        {
            "ID": DID,
            "access_url": FILE + "#events",
            "semantics": "#this",
            "content_type": "application/x-fits-gadf",
            "content_length": 414720,
            "content_qualifier": "event-list",
            "description": "events",
        },
        {
            "ID": DID,
            "access_url": FILE + "#aeff",
            "semantics": "#calibration",
            "content_type": "application/x-fits-gadf",
            "content_length": 11520,
            "content_qualifier": "aeff",
            "description": "effective area & <more>",
        },
        {"ID": DID, "error_message": "NotFoundFault: no preview for this run", "semantics": "#preview"},
    ]
    table = _read(datalink_table(rows))
    names = [f.name for f in table.fields]
    assert names == [
        "ID",
        "access_url",
        "service_def",
        "error_message",
        "semantics",
        "description",
        "content_type",
        "content_length",
        "content_qualifier",
    ]
    assert table.get_field_by_id_or_name("content_length").datatype == "long"
    assert table.get_field_by_id_or_name("content_length").unit == "byte"
    assert table.get_field_by_id_or_name("ID").ucd == "meta.id;meta.main"
    t = table.to_table()
    assert list(t["semantics"]) == ["#this", "#calibration", "#preview"]
    assert t["access_url"][0] == FILE + "#events" and t["description"][1] == "effective area & <more>"
    assert t["content_length"][0] == 414720 and bool(np.ma.is_masked(t["content_length"][2]))
    assert t["access_url"][2] == "" and t["error_message"][2].startswith("NotFoundFault")  # <TD/>: null char


def test_hess_documents_one_per_run(hess_links: pd.DataFrame) -> None:
    docs = datalink_documents(hess_links)
    assert len(docs) == 105 and "20136.xml" in docs
    t = _read(docs["20136.xml"]).to_table()
    assert len(t) == 6 and set(t["ID"]) == {DID}
    by_sem = {s: list(t[t["semantics"] == s]["content_qualifier"]) for s in set(t["semantics"])}
    assert by_sem["#this"] == ["event-list"]
    assert sorted(by_sem["#calibration"]) == ["aeff", "bkgrate", "edisp", "psf"]
    assert list(t[t["semantics"] == "#auxiliary"]["access_url"]) == [FILE + "#gti"]
    assert t["semantics"][0] == "#this" and t["access_url"][0] == FILE + "#events"
    assert dict(zip(t["content_qualifier"], t["content_length"], strict=False))["aeff"] == 11520
    assert set(t["content_type"]) == {"application/x-fits-gadf"}


def test_cut_documents_equal_single_encoding(hess_links: pd.DataFrame) -> None:
    docs = datalink_documents(hess_links)
    for doc in ("20137.xml", "47829.xml"):
        rows = hess_links[hess_links["document"] == doc].drop(columns=["document", "x_obs_id"])
        single = _read(datalink_table(rows)).to_table()
        cut = _read(docs[doc]).to_table()
        assert len(cut) == len(single) == 6
        for name in single.colnames:
            assert list(cut[name].filled(-1) if hasattr(cut[name], "filled") else cut[name]) == list(
                single[name].filled(-1) if hasattr(single[name], "filled") else single[name]
            ), name


def test_obscore_points_to_documents(hess_links: pd.DataFrame) -> None:
    out = gadf.import_directory(
        DATA, "HESS-DL3-DR1", gadf.HESS_DR1_URL_TEMPLATE, datalink_base_url="https://d.example.org/dl/"
    )
    core = out["obscore"]
    assert set(core["access_format"]) == {DATALINK_FORMAT}
    assert core["access_url"].iloc[0] == "https://d.example.org/dl/20136.xml"
    assert set(hess_links["ID"]) == set(core["obs_publisher_did"])


def test_votlint_accepts_documents(hess_links: pd.DataFrame, tmp_path: pathlib.Path) -> None:
    docs = datalink_documents(hess_links)
    path = tmp_path / "20136.xml"
    path.write_bytes(docs["20136.xml"])
    report = votlint(path)
    assert report.errors == [], report.raw
    assert report.warnings == [], report.raw


@pytest.mark.parametrize(
    ("row", "match"),
    [
        ({"ID": DID, "access_url": FILE, "error_message": "x", "semantics": "#this"}, "exactly one of"),
        ({"ID": DID, "semantics": "#this"}, "exactly one of"),
        ({"ID": DID, "access_url": FILE, "semantics": "this"}, "'#term'"),
        ({"ID": DID, "access_url": FILE, "semantics": "#events"}, "'#term'"),
        ({"ID": None, "access_url": FILE, "semantics": "#this"}, "no ID"),
        ({"ID": DID, "access_url": FILE, "semantics": "#this", "description": "two\nlines"}, "line break"),
    ],
)
def test_refuses_invalid_links(row: dict, match: str) -> None:
    with pytest.raises(DataLinkError, match=match):
        datalink_table([row])


def test_refuses_mixed_ids_and_missing_document_column() -> None:
    rows = pd.DataFrame(
        {"ID": [DID, DID + "x"], "access_url": [FILE, FILE], "semantics": ["#this", "#this"], "document": ["a", "a"]}
    )
    with pytest.raises(DataLinkError, match="one dataset"):
        datalink_table(rows.drop(columns="document"))
    with pytest.raises(DataLinkError, match="mix several IDs"):
        datalink_documents(rows)
    with pytest.raises(DataLinkError, match="document column"):
        datalink_documents(rows.drop(columns="document"))
    assert datalink_documents(rows.iloc[:0]) == {}


def test_refuses_unescaped_access_url() -> None:
    with pytest.raises(DataLinkError, match="not an escaped URI"):
        datalink_table([{"ID": DID, "access_url": FILE + "#EVENTS 1", "semantics": "#this"}])


def test_documents_with_empty_file_dir_and_spaced_hdu_names(tmp_path: pathlib.Path) -> None:
    """An hdu-index with FILE_DIR '' and HDU names with spaces gives escaped, valid documents (votlint clean)."""
    from astropy.io import fits
    from astropy.table import Table

    table = Table.read(DATA / "hdu-index.fits.gz", hdu="HDU_INDEX")
    table["FILE_DIR"] = ""
    table["HDU_NAME"] = [f"{name.strip().upper()} HDU" for name in table["HDU_NAME"]]
    hdu = fits.table_to_hdu(table)
    hdu.name = "HDU_INDEX"
    index = tmp_path / "index"
    index.mkdir()
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(index / "hdu-index.fits.gz")
    (index / "obs-index.fits.gz").write_bytes((DATA / "obs-index.fits.gz").read_bytes())
    out = gadf.import_directory(
        index, "HESS-DL3-DR1", "https://d.org/dl3/{file_dir}/{file_name}", datalink_base_url="https://d.org/dl"
    )
    docs = datalink_documents(out["datalink"])
    t = _read(docs["20136.xml"]).to_table()
    assert t["access_url"][0] == "https://d.org/dl3/hess_dl3_dr1_obs_id_020136.fits.gz#EVENTS%20HDU"
    path = tmp_path / "20136.xml"
    path.write_bytes(docs["20136.xml"])
    report = votlint(path)
    assert report.errors == [] and report.warnings == [], report.raw


# -- the public base URL (configuration) ---------------------------------------------------------
def test_snapshot_url_follows_the_publish_layout(tmp_path: pathlib.Path) -> None:
    from models.snapshot import snapshot_path

    day = dt.date(2025, 9, 5)
    rel = snapshot_path(tmp_path, day).relative_to(tmp_path).as_posix()  # where publish_snapshot puts it
    assert rel == "snapshots/2025-09-05"
    for base in ("https://data.example.org/voharvest", "https://data.example.org/voharvest/", " https://h.org/v// "):
        expected = base.strip().rstrip("/") + "/" + rel
        assert snapshot_url(base, day) == expected
        assert snapshot_url(base, "2025-09-05") == expected
    assert snapshot_url("http://127.0.0.1:8080", day) == "http://127.0.0.1:8080/snapshots/2025-09-05"


def test_unset_public_base_url_is_none() -> None:
    for unset in (None, "", "   "):
        assert check_public_base_url(unset) is None
        assert snapshot_url(unset, dt.date(2025, 9, 5)) is None


@pytest.mark.parametrize(
    "bad",
    [
        "data.example.org/voharvest",  # not absolute
        "ftp://data.example.org/voharvest",  # not http(s)
        "https://",  # no host
        "https:///voharvest",
        "https://data.example.org/vo harvest",  # would need escaping
        "https://data.example.org/voharvest?x=1",  # a query would end up inside every document URL
        "https://data.example.org/voharvest#top",
        'https://data.example.org/"v"',
    ],
)
def test_bad_public_base_url_is_refused(bad: str) -> None:
    with pytest.raises(DataLinkError, match="public base URL"):
        check_public_base_url(bad)
