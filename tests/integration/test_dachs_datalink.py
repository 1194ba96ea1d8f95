"""A real client follows DataLink on the DaCHS-served snapshot: ObsCore row -> DataLink document -> the
IRFs, GTI and provenance record of a H.E.S.S. run.

The snapshot is the bundled replay harvested without a public base URL, so its event-list rows point at
the archives' event files; DaCHS (the RD of ``models.dachs``) points them at the DataLink documents it
serves itself with its ``static`` renderer, and serves the provenance record the same way. Nothing is
mocked: pyvo talks to DaCHS on 127.0.0.1; expected values come from the snapshot's Parquet files and
from the bundled H.E.S.S. hdu-index read with astropy.
"""

from __future__ import annotations

import gzip
import io
import json
import urllib.request
from pathlib import Path
from urllib.parse import urljoin

import pandas as pd
import pytest
import pyvo
from astropy.io import fits
from astropy.io.votable import parse as parse_votable
from astropy.table import Table
from prov.model import ProvDocument

from pipelines.serve_check import ServeCheckReport
from tests.votlint import votlint

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
#: The bundled, real H.E.S.S. DL3 DR1 hdu-index (recordings/hess_dl3_dr1/PROVENANCE.md).
HDU_INDEX = ROOT / "recordings" / "hess_dl3_dr1" / "hdu-index.fits.gz"
RUN = 20136
#: ObsCore 1.1 section 4.7 / DataLink 1.1 section 3: the exact MIME type of a DataLink document.
DATALINK_MIME = "application/x-votable+xml;content=datalink"
PROV_HAS_PROVENANCE = "http://www.w3.org/ns/prov#has_provenance"


def _static_root(dachs: ServeCheckReport) -> str:
    """``<serverURL>/<rd id>/files/static/``: DaCHS's static renderer of the RD's ``files`` service."""
    server = dachs.tap_url.removesuffix("/tap")
    return f"{server}/{dachs.rd_id}/files/static/"


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 - a local http URL built here
        assert response.status == 200, url
        return response.read()


def _run_sizes() -> dict[str, int]:
    """HDU_TYPE -> SIZE (bytes) of run 20136 in the release's hdu-index, read with astropy only."""
    with fits.open(io.BytesIO(gzip.decompress(HDU_INDEX.read_bytes()))) as hdul:
        index = Table(hdul["HDU_INDEX"].data)
    run = index[index["OBS_ID"] == RUN]
    return {str(t).strip().lower(): int(s) for t, s in zip(run["HDU_TYPE"], run["SIZE"], strict=True)}


def test_event_rows_point_at_documents_served_by_dachs(
    dachs: ServeCheckReport, tables: dict[str, pd.DataFrame], snapshot_dir: Path
) -> None:
    manifest = json.loads((snapshot_dir / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["datalink"]["base_url"] is None  # the bundled harvest has no public base URL
    got = (
        pyvo.dal.TAPService(dachs.tap_url)
        .run_sync("SELECT obs_publisher_did, access_url, access_format, access_estsize FROM ivoa.obscore")
        .to_table()
        .to_pandas()
        .set_index("obs_publisher_did")
    )
    parquet = tables["obscore"].set_index("obs_publisher_did")
    assert set(got.index) == set(parquet.index)
    got = got.loc[parquet.index]
    events = (parquet["dataproduct_type"] == "event").to_numpy()
    assert events.sum() == 119  # 105 H.E.S.S. runs + 8 INTEGRAL + 4 NuSTAR + 2 XMM-Newton
    expected_url = (
        _static_root(dachs) + "datalink/" + parquet["obs_collection"] + "/" + parquet["obs_id"].astype(str) + ".xml"
    )
    assert (got.loc[events, "access_url"] == expected_url[events]).all()
    assert set(got.loc[events, "access_format"]) == {DATALINK_MIME}
    assert got.loc[events, "access_estsize"].isna().all()
    # every other row is served as published
    for column in ("access_url", "access_format"):
        assert (got.loc[~events, column].fillna("") == parquet.loc[~events, column].fillna("")).all(), column


def test_pyvo_follows_datalink_from_every_event_row(dachs: ServeCheckReport, tables: dict[str, pd.DataFrame]) -> None:
    results = pyvo.dal.TAPService(dachs.tap_url).run_sync("SELECT * FROM ivoa.obscore WHERE dataproduct_type = 'event'")
    links = {str(dl.original_row["obs_publisher_did"]): dl for dl in results.iter_datalinks()}
    obscore = tables["obscore"]
    assert set(links) == set(obscore.loc[obscore["dataproduct_type"] == "event", "obs_publisher_did"])
    for did, dl in links.items():
        assert {str(r["ID"]) for r in dl} == {did}
        assert [r.semantics for r in dl][0] == "#this"


def test_hess_run_irfs_gti_and_provenance(
    dachs: ServeCheckReport, tables: dict[str, pd.DataFrame], snapshot_dir: Path
) -> None:
    obscore = tables["obscore"]
    row = obscore[(obscore["obs_collection"] == "HESS-DL3-DR1") & (obscore["obs_id"].astype(str) == str(RUN))].iloc[0]
    results = pyvo.dal.TAPService(dachs.tap_url).run_sync(
        f"SELECT * FROM ivoa.obscore WHERE obs_collection = 'HESS-DL3-DR1' AND obs_id = '{RUN}'"
    )
    assert len(results) == 1
    (record,) = list(results)
    assert record["access_format"] == DATALINK_MIME
    run = record.getdatalink()  # pyvo: the row's access_url is a DataLink document
    assert {str(r["ID"]) for r in run} == {row["obs_publisher_did"]}
    sizes = _run_sizes()

    calibration = list(run.bysemantics("#calibration", include_narrower=False))
    by_type = {str(r["content_qualifier"]): int(r["content_length"]) for r in calibration}
    # GADF HDU types -> the IVOA response-type vocabulary (bkg is a background rate: bkgrate)
    assert by_type == {"aeff": sizes["aeff"], "edisp": sizes["edisp"], "psf": sizes["psf"], "bkgrate": sizes["bkg"]}
    event_file = f"https://hess-dr.obspm.fr/retrieve/hess_dl3_dr1_obs_id_{RUN:06d}.fits.gz"
    assert {r.access_url for r in calibration} == {f"{event_file}#{t}" for t in ("aeff", "edisp", "psf", "bkg")}
    (gti,) = run.bysemantics("#auxiliary", include_narrower=False)
    assert gti.access_url == f"{event_file}#gti" and int(gti["content_length"]) == sizes["gti"]
    (this,) = run.bysemantics("#this", include_narrower=False)
    assert this.access_url == f"{event_file}#events" and int(this["content_length"]) == sizes["events"]

    # #provenance: a reference relative to the document (no public base URL), resolved per RFC 3986
    (prov_link,) = run.bysemantics(PROV_HAS_PROVENANCE, include_narrower=False)
    assert prov_link["content_type"] == "application/json"
    resolved = urljoin(record["access_url"], prov_link.access_url)
    assert resolved == _static_root(dachs) + "provenance/prov.json"
    content = _get(resolved)  # the linked file, fetched from DaCHS's static renderer
    assert content == (snapshot_dir / "provenance" / "prov.json").read_bytes()
    doc = ProvDocument.deserialize(content=content.decode("utf-8"), format="json")
    entities = {str(r.identifier.localpart) for r in doc.get_records() if r.get_type().localpart == "Entity"}
    manifest = json.loads((snapshot_dir / "manifest.json").read_text(encoding="utf-8"))
    assert set(manifest["files"]) <= entities
    assert "response/hess_dl3_dr1/hdu_index" in entities


@pytest.mark.parametrize("document", [f"HESS-DL3-DR1/{RUN}.xml", "XMM-Newton/0811026501.xml", "NuSTAR/31002031015.xml"])
def test_served_documents_are_the_snapshot_files_and_valid(
    dachs: ServeCheckReport, snapshot_dir: Path, tmp_path: Path, document: str
) -> None:
    content = _get(_static_root(dachs) + "datalink/" + document)
    assert content == (snapshot_dir / "datalink" / document).read_bytes()
    path = tmp_path / Path(document).name
    path.write_bytes(content)
    table = parse_votable(path, verify="exception").get_first_table().to_table()
    assert len(table) >= 2  # at least #this and the provenance link
    report = votlint(path)
    assert report.errors == [] and report.warnings == [], report.raw
