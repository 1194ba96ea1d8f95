"""DataLink documents of a harvested snapshot: one per event list, valid, pointing at events, IRFs, GTI, provenance."""

from __future__ import annotations

import datetime as dt
import functools
import gzip
import io
import json
import shutil
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urljoin

import numpy as np
import pandas as pd
import pytest
import pyvo
from astropy.io import fits
from astropy.io.votable import parse as parse_votable
from astropy.table import Table
from prov.model import ProvDocument

from models.arrow import conform
from models.datalink import (
    DATALINK_FORMAT,
    DATALINK_INDEX,
    HAS_PROVENANCE,
    PROVENANCE_TARGET,
    DataLinkError,
    datalink_access,
    datalink_table,
    document_paths,
    snapshot_links,
    snapshot_url,
    write_snapshot_datalinks,
)
from models.provenance import write_provenance
from models.tables import OBSCORE
from models.votable import write_votable
from scrapers.archive import RawArchive
from tests.test_provenance import HESS_DID, harvested_snapshot
from tests.votlint import votlint

BASE = "https://data.example.org/voharvest/snapshots/2025-09-05"


@pytest.fixture(scope="module")
def stage(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("dl") / "stage"
    shutil.copytree(harvested_snapshot(), path)
    return path


@pytest.fixture(scope="module")
def frames(stage: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    return pd.read_parquet(stage / "obscore.parquet"), pd.read_parquet(stage / "obscore_hea.parquet")


@pytest.fixture(scope="module")
def written(stage: Path, frames: tuple[pd.DataFrame, pd.DataFrame]) -> list[str]:
    return write_snapshot_datalinks(stage, *frames, None)


def _table(path: Path) -> Table:
    return parse_votable(path, verify="exception").get_first_table().to_table()


def _hdu_index(stage: Path) -> Table:
    """The H.E.S.S. hdu-index straight from the raw bytes (astropy, not the project's parser)."""
    record = next(r for r in RawArchive(stage / "raw").records() if r.request.name == "hdu_index")
    with fits.open(io.BytesIO(gzip.decompress(record.content))) as hdul:
        return Table(hdul["HDU_INDEX"].data)


def test_one_document_per_event_list(
    stage: Path, written: list[str], frames: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    obscore, _ = frames
    events = obscore[obscore["dataproduct_type"] == "event"]
    docs = [w for w in written if w.endswith(".xml")]
    assert len(docs) == len(events) == 119  # 105 H.E.S.S. runs + 8 INTEGRAL + 4 NuSTAR + 2 XMM-Newton
    assert DATALINK_INDEX in written
    index = pd.read_csv(stage / DATALINK_INDEX)
    assert set(index["obs_publisher_did"]) == set(events["obs_publisher_did"])
    assert sorted(index["document"]) == sorted(docs)


def test_hess_run_links_events_irfs_gti_and_provenance(stage: Path, written: list[str]) -> None:
    t = _table(stage / "datalink" / "HESS-DL3-DR1" / "20136.xml")
    assert set(t["ID"]) == {HESS_DID}
    assert list(t["semantics"][:1]) == ["#this"]
    hdu = _hdu_index(stage)
    run = hdu[hdu["OBS_ID"] == 20136]
    size = {str(k).strip().lower(): int(v) for k, v in zip(run["HDU_TYPE"], run["SIZE"], strict=True)}
    cal = t[t["semantics"] == "#calibration"]
    assert sorted(cal["content_qualifier"]) == ["aeff", "bkgrate", "edisp", "psf"]
    # content_length of each response = the SIZE the release's hdu-index gives for that HDU
    by_q = dict(zip(cal["content_qualifier"], cal["content_length"], strict=True))
    assert by_q["aeff"] == size["aeff"] and by_q["bkgrate"] == size["bkg"] and by_q["psf"] == size["psf"]
    aux = t[t["semantics"] == "#auxiliary"]
    assert list(aux["access_url"]) == ["https://hess-dr.obspm.fr/retrieve/hess_dl3_dr1_obs_id_020136.fits.gz#gti"]
    assert int(aux["content_length"][0]) == size["gti"]
    prov = t[t["semantics"] == HAS_PROVENANCE]
    assert len(prov) == 1 and prov["content_type"][0] == "application/json"
    doc_url = f"{BASE}/datalink/HESS-DL3-DR1/20136.xml"
    assert urljoin(doc_url, str(prov["access_url"][0])) == f"{BASE}/{PROVENANCE_TARGET}"  # RFC 3986 resolution


def test_xray_rows_link_events_and_say_why_no_response(stage: Path, frames: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    obscore, _ = frames
    t = _table(stage / "datalink" / "NuSTAR" / "31002031015.xml")
    this = t[t["semantics"] == "#this"]
    row = obscore[obscore["obs_publisher_did"] == "ivo://voharvest/NuSTAR?31002031015"].iloc[0]
    assert this["access_url"][0] == row["access_url"] and this["content_type"][0] == row["access_format"]
    cal = t[t["semantics"] == "#calibration"]
    assert cal["access_url"][0] == "" and str(cal["error_message"][0]).startswith("NotFoundFault")
    # INTEGRAL ids without a known archive URL: #this is an error row, never a guessed URL
    t = _table(stage / "datalink" / "INTEGRAL" / "21200070020.xml")
    this = t[t["semantics"] == "#this"]
    assert this["access_url"][0] == "" and str(this["error_message"][0]).startswith("NotFoundFault")


def test_every_document_is_strictly_valid_and_votlint_clean(stage: Path, written: list[str]) -> None:
    for rel in (w for w in written if w.endswith(".xml")):  # 119 small files
        _table(stage / rel)
    for rel in ("datalink/HESS-DL3-DR1/20136.xml", "datalink/XMM-Newton/0811026501.xml"):
        report = votlint(stage / rel)
        assert report.errors == [] and report.warnings == [], report.raw


def test_access_points_at_documents_only_with_a_base_url(frames: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    obscore, _ = frames
    assert datalink_access(obscore, None) is obscore
    out = datalink_access(obscore, BASE + "/")
    events = (obscore["dataproduct_type"] == "event").to_numpy()
    assert set(out.loc[events, "access_format"]) == {DATALINK_FORMAT}
    assert (out.loc[~events, "access_format"] != DATALINK_FORMAT).all()
    for column in ("access_url", "access_format", "access_estsize"):  # other rows untouched
        pd.testing.assert_series_equal(out.loc[~events, column], obscore.loc[~events, column], check_dtype=False)
    hess = out[out["obs_publisher_did"] == HESS_DID].iloc[0]
    assert hess["access_url"] == f"{BASE}/datalink/HESS-DL3-DR1/20136.xml"
    assert pd.isna(hess["access_estsize"])


def test_configured_public_base_url_points_rows_and_documents_at_the_snapshot(
    tmp_path: Path, frames: tuple[pd.DataFrame, pd.DataFrame], stage: Path
) -> None:
    """``--public-base-url https://data.example.org/voharvest``: what stage_snapshot publishes for 2025-09-05."""
    obscore, hea = frames
    public = "https://data.example.org/voharvest/"
    base = snapshot_url(public, dt.date(2025, 9, 5))
    assert base == "https://data.example.org/voharvest/snapshots/2025-09-05"
    target = tmp_path / "snap"
    shutil.copytree(stage / "raw", target / "raw")
    written = write_snapshot_datalinks(target, obscore, hea, base)
    out = datalink_access(obscore, base)
    events = (obscore["dataproduct_type"] == "event").to_numpy()
    expected = (
        "https://data.example.org/voharvest/snapshots/2025-09-05/datalink/"
        + obscore["obs_collection"]
        + "/"
        + obscore["obs_id"].astype(str)
        + ".xml"
    )
    assert (out.loc[events, "access_url"] == expected[events]).all()
    assert set(out.loc[events, "access_format"]) == {"application/x-votable+xml;content=datalink"}
    # every such URL is a written document: the URL minus the snapshot URL is its path in the snapshot
    docs = set(out.loc[events, "access_url"].str.removeprefix(base + "/"))
    assert docs == {w for w in written if w.endswith(".xml")}
    t = _table(target / "datalink" / "HESS-DL3-DR1" / "20136.xml")
    (prov,) = t[t["semantics"] == HAS_PROVENANCE]["access_url"]
    assert prov == "https://data.example.org/voharvest/snapshots/2025-09-05/provenance/prov.json"


def test_links_with_base_url_are_absolute_and_odd_ids_get_plain_names(
    frames: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    obscore, hea = frames
    links = snapshot_links(obscore, hea, BASE)
    prov = links[links["semantics"] == HAS_PROVENANCE]
    assert set(prov["access_url"]) == {f"{BASE}/{PROVENANCE_TARGET}"}
    odd = obscore[obscore["dataproduct_type"] == "event"].head(2).copy()
    odd["obs_id"] = ["a b/c", "../x"]
    paths = document_paths(odd)
    assert all(p.startswith("datalink/x/") and p.count("/") == 2 for p in paths)
    assert paths.nunique() == 2
    assert document_paths(obscore[obscore["dataproduct_type"] != "event"]).isna().all()


def test_check_links_accepts_full_uri_terms_only() -> None:
    row = {"ID": HESS_DID, "access_url": BASE + "/x", "semantics": HAS_PROVENANCE}
    assert _read_semantics(datalink_table([row])) == [HAS_PROVENANCE]
    for bad in ("#provenance", "provenance", "http://w3.org/ns/prov has_provenance"):
        with pytest.raises(DataLinkError, match="'#term'"):
            datalink_table([{**row, "semantics": bad}])


def _read_semantics(content: bytes) -> list[str]:
    return list(parse_votable(io.BytesIO(content), verify="exception").get_first_table().to_table()["semantics"])


def test_no_event_lists_writes_nothing(tmp_path: Path, frames: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    obscore, hea = frames
    none = obscore[obscore["dataproduct_type"] != "event"]
    assert write_snapshot_datalinks(tmp_path, none, hea.iloc[:0], None) == []
    assert not (tmp_path / "datalink").exists()
    assert np.all(document_paths(none).isna())


# -- a real client follows the links -------------------------------------------------------------
class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's signature
        """No access log on stderr."""


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A copy of the snapshot with DataLink documents, ``access_url`` pointing at them and the PROV record,
    served over HTTP on 127.0.0.1 by the standard library's file server."""
    root = tmp_path_factory.mktemp("served") / "snap"
    shutil.copytree(harvested_snapshot(), root)
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(root)))
    base = f"http://127.0.0.1:{server.server_address[1]}"
    obscore = pd.read_parquet(root / "obscore.parquet")
    write_snapshot_datalinks(root, obscore, pd.read_parquet(root / "obscore_hea.parquet"), base)
    write_votable(conform(datalink_access(obscore, base), OBSCORE), OBSCORE, root / "obscore_dl.vot")
    manifest = json.loads((root / "manifest.json").read_text())
    files = manifest.pop("files")
    write_provenance(root, manifest, files)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield base, root
    finally:
        server.shutdown()
        server.server_close()


def test_pyvo_follows_datalink_to_irfs_gti_and_provenance(served: tuple[str, Path]) -> None:
    base, root = served
    results = pyvo.dal.TAPResults.from_result_url(f"{base}/obscore_dl.vot")
    links = {str(dl.original_row["obs_publisher_did"]): dl for dl in results.iter_datalinks()}
    obscore = pd.read_parquet(root / "obscore.parquet")
    assert set(links) == set(obscore.loc[obscore["dataproduct_type"] == "event", "obs_publisher_did"])
    run = links[HESS_DID]
    calibration = run.bysemantics("#calibration", include_narrower=False)
    assert sorted(str(r["content_qualifier"]) for r in calibration) == ["aeff", "bkgrate", "edisp", "psf"]
    gti = run.bysemantics("#auxiliary", include_narrower=False)
    assert [r.access_url for r in gti] == ["https://hess-dr.obspm.fr/retrieve/hess_dl3_dr1_obs_id_020136.fits.gz#gti"]
    this = run.bysemantics("#this", include_narrower=False)
    assert [r.access_url for r in this] == [
        "https://hess-dr.obspm.fr/retrieve/hess_dl3_dr1_obs_id_020136.fits.gz#events"
    ]
    # the one link served here: the snapshot's PROV record, fetched and parsed back with prov
    (record,) = run.bysemantics(HAS_PROVENANCE, include_narrower=False)
    assert record.access_url == f"{base}/{PROVENANCE_TARGET}"
    content = record.getdataset().read()
    assert content == (root / PROVENANCE_TARGET).read_bytes()
    doc = ProvDocument.deserialize(content=content.decode("utf-8"), format="json")
    entities = {r.identifier.localpart for r in doc.get_records() if r.get_type().localpart == "Entity"}
    assert "obscore.parquet" in entities and "response/hess_dl3_dr1/hdu_index" in entities


def test_event_list_without_index_gets_this_and_provenance_only(frames: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    """A GADF run whose indexes are not in raw/ (e.g. a carried-over source): no invented response links."""
    obscore, hea = frames
    links = snapshot_links(obscore, hea, BASE, gadf_links=None)
    run = links[links["ID"] == HESS_DID]
    assert list(run["semantics"]) == ["#this", HAS_PROVENANCE]
    row = obscore[obscore["obs_publisher_did"] == HESS_DID].iloc[0]
    assert run["access_url"].iloc[0] == row["access_url"]
    nustar = links[links["ID"] == "ivo://voharvest/NuSTAR?31002031015"]
    assert list(nustar["semantics"]) == ["#this", "#calibration", HAS_PROVENANCE]
