"""Snapshot provenance (PROV-JSON, PROV-N, ProvenanceDM VOTable), row provenance and ``voharvest provenance``.

Everything runs on a snapshot harvested from the bundled replay (``recordings/replay``), so the
facts checked are the real recorded responses; expected values are recomputed independently
(hashlib over the blob bytes, the archive records' JSON, the manifest's own lists).
"""

from __future__ import annotations

import atexit
import datetime as dt
import functools
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from astropy.io.votable import parse as parse_votable
from prov.model import ProvDocument

from models.provenance import (
    PROV_FILES,
    PROV_JSON,
    PROV_N,
    PROV_VOTABLE,
    build_document,
    derive_row_provenance,
    provenance_chain,
    row_provenance,
    write_provenance,
)
from models.tables.row_provenance import ROW_PROVENANCE
from models.validate import validate
from pipelines.cli import main
from tests.votlint import votlint

ROOT = Path(__file__).resolve().parent.parent
REPLAY = ROOT / "recordings" / "replay"
HESS_DID = "ivo://voharvest/HESS-DL3-DR1?20136"
NUSTAR_DID = "ivo://voharvest/NuSTAR?31002031015"


@functools.cache
def harvested_snapshot() -> Path:
    """A snapshot harvested from the bundled replay (once per test session; removed at exit)."""
    out = Path(tempfile.mkdtemp(prefix="voharvest-prov-"))
    atexit.register(shutil.rmtree, out, True)
    proc = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "harvest", "--replay", str(REPLAY), "--output", str(out / "out")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return Path(proc.stdout.strip().splitlines()[-1])


def staged_copy(tmp_path: Path) -> tuple[Path, dict, dict]:
    """A writable copy of the harvested snapshot, its manifest document (without files) and file entries.

    The entries are those publication gives the PROV record: the manifest's files and the DataLink
    documents its file index lists.
    """
    from models.snapshot import listed_files

    stage = tmp_path / "stage"
    shutil.copytree(harvested_snapshot(), stage)
    manifest = json.loads((stage / "manifest.json").read_text())
    files = listed_files(stage, manifest)
    manifest.pop("files")
    manifest.pop("format")
    return stage, manifest, files


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, dict]:
    stage, manifest, files = staged_copy(tmp_path_factory.mktemp("prov"))
    assert write_provenance(stage, manifest, files) == list(PROV_FILES)
    return stage, manifest, files


def _doc(stage: Path) -> ProvDocument:
    return ProvDocument.deserialize(content=(stage / PROV_JSON).read_text(), format="json")


def _records(doc: ProvDocument, kind: str) -> list:
    return [r for r in doc.get_records() if r.get_type().localpart == kind]


def _attr(record: object, name: str) -> object:
    values = [v for k, v in record.attributes if str(k) == name]  # type: ignore[attr-defined]
    return values[0] if values else None


def test_prov_json_parses_back_and_every_manifest_file_is_an_entity(written: tuple[Path, dict, dict]) -> None:
    stage, _, files = written
    doc = _doc(stage)
    entities = {r.identifier.localpart: r for r in _records(doc, "Entity")}
    listed = set(files) | set(PROV_FILES) | {"manifest.json"}  # the manifest will list the PROV files too
    assert listed <= set(entities)
    for rel, entry in files.items():  # the digest of every file, as in the manifest
        assert _attr(entities[rel], "voh:sha256") == entry["sha256"]
        assert int(_attr(entities[rel], "voh:size")) == entry["size"]
    # spot check against an independent hash of the bytes on disk
    assert (
        _attr(entities["obscore.parquet"], "voh:sha256")
        == hashlib.sha256((stage / "obscore.parquet").read_bytes()).hexdigest()
    )


def test_every_raw_response_is_an_entity_with_url_time_and_hash(written: tuple[Path, dict, dict]) -> None:
    stage, manifest, _ = written
    doc = _doc(stage)
    entities = {r.identifier.localpart: r for r in _records(doc, "Entity")}
    generated = {
        (str(r.formal_attributes[0][1]), str(r.formal_attributes[1][1])): r.formal_attributes[2][1]
        for r in _records(doc, "Generation")
    }
    n = 0
    for record_file in sorted((stage / "raw" / "records").glob("*.json")):  # the archive, read independently
        record = json.loads(record_file.read_text())
        ident = f"response/{record['source']}/{record['name']}"
        entity = entities[ident]
        assert _attr(entity, "prov:location") == record["url"]
        assert _attr(entity, "voh:http_status") == record["status"]
        blob = stage / "raw" / "blobs" / record["sha256"][:2] / record["sha256"]
        assert _attr(entity, "voh:sha256") == hashlib.sha256(blob.read_bytes()).hexdigest()
        assert _attr(entity, "voh:archive_record") == f"raw/records/{record_file.name}"
        when = generated[(f"snap:{ident}", f"snap:fetch/{record['source']}")]
        assert when == dt.datetime.fromisoformat(record["fetched_at"])
        n += 1
    assert n == sum(len(s["responses"] or []) for s in manifest["sources"].values()) == 15


def test_activities_agents_and_relations(written: tuple[Path, dict, dict]) -> None:
    stage, manifest, _ = written
    doc = _doc(stage)
    activities = {r.identifier.localpart: r for r in _records(doc, "Activity")}
    sources = sorted(manifest["sources"])
    assert set(activities) == {"publish", "validate"} | {f"{k}/{s}" for s in sources for k in ("fetch", "parse")}
    assert _attr(activities["parse/hess_dl3_dr1"], "voh:parser_module") == "scrapers.gadf"
    assert _attr(activities["parse/eso"], "voprov:version") == manifest["code_version"]
    agents = {r.identifier.localpart: r for r in _records(doc, "Agent")}
    assert set(agents) == {"voharvest", *sources}
    assert _attr(agents["hess_dl3_dr1"], "prov:label") == "H.E.S.S."
    assert _attr(agents["voharvest"], "voprov:version") == manifest["code_version"]

    def pairs(kind: str) -> set[tuple[str, str]]:
        return {(str(r.formal_attributes[0][1]), str(r.formal_attributes[1][1])) for r in _records(doc, kind)}

    used, derived, attributed = pairs("Usage"), pairs("Derivation"), pairs("Attribution")
    assert ("snap:parse/hess_dl3_dr1", "snap:response/hess_dl3_dr1/hdu_index") in used
    assert ("snap:frames/hess_dl3_dr1", "snap:response/hess_dl3_dr1/obs_index") in derived
    # a table is derived from the frames of exactly the sources that list it in the manifest
    feeding = {f"snap:frames/{s}" for s, m in manifest["sources"].items() if "obscore_hea" in m["tables"]}
    assert {u for g, u in derived if g == "snap:obscore_hea.parquet"} == feeding
    assert ("snap:response/eso/tap_raw", "agent:eso") in attributed
    assert ("snap:validate", "snap:obsplan.parquet") in used
    report = {r.identifier.localpart: r for r in _records(doc, "Entity")}["validation-report"]
    assert _attr(report, "voh:violations") == len(manifest["validation"]["violations"])


def test_provn_lists_the_same_records(written: tuple[Path, dict, dict]) -> None:
    stage, _, _ = written
    text = (stage / PROV_N).read_text()
    assert text.startswith("document\n") and text.rstrip().endswith("endDocument")
    doc = _doc(stage)
    lines = text.splitlines()
    assert sum(line.lstrip().startswith("entity(") for line in lines) == len(_records(doc, "Entity"))
    assert sum(line.lstrip().startswith("wasDerivedFrom(") for line in lines) == len(_records(doc, "Derivation"))
    assert "entity(snap:obscore.parquet, " in text


def test_provenance_votable_is_valid_and_matches_the_graph(written: tuple[Path, dict, dict]) -> None:
    stage, _, files = written
    tables = {t.name: t.to_table() for t in parse_votable(stage / PROV_VOTABLE, verify="exception").iter_tables()}
    doc = _doc(stage)
    assert len(tables["entity"]) == len(_records(doc, "Entity"))
    assert len(tables["wasGeneratedBy"]) == len(_records(doc, "Generation"))
    date = json.loads((stage / "manifest.json").read_text())["snapshot"]
    ids = set(tables["entity"]["id"])
    assert {f"ivo://voharvest/snapshot/{date}/{rel}" for rel in files} <= ids
    report = votlint(stage / PROV_VOTABLE)
    assert report.errors == [] and report.warnings == [], report.raw


def test_provenance_is_deterministic_and_carries_http_validators(tmp_path: Path) -> None:
    stage, manifest, files = staged_copy(tmp_path)
    record = next((stage / "raw" / "records").glob("*.json"))
    entry = json.loads(record.read_text())
    entry["headers"].update({"ETag": '"abc-123"', "Last-Modified": "Thu, 04 Sep 2025 10:00:00 GMT"})
    record.write_text(json.dumps(entry))
    write_provenance(stage, manifest, files)
    first = {p: (stage / p).read_bytes() for p in PROV_FILES}
    write_provenance(stage, manifest, files)
    assert {p: (stage / p).read_bytes() for p in PROV_FILES} == first
    entity = {r.identifier.localpart: r for r in _records(_doc(stage), "Entity")}[
        f"response/{entry['source']}/{entry['name']}"
    ]
    assert _attr(entity, "voh:etag") == '"abc-123"'
    assert _attr(entity, "voh:last_modified") == "Thu, 04 Sep 2025 10:00:00 GMT"


def test_carried_over_source_is_derived_from_the_earlier_snapshot(tmp_path: Path) -> None:
    stage, manifest, files = staged_copy(tmp_path)
    manifest["sources"]["eso"] = {**manifest["sources"]["eso"], "responses": None, "carried_over_from": "2025-09-01"}
    doc = build_document(stage, manifest, files)
    derivations = {
        (str(r.formal_attributes[0][1]), str(r.formal_attributes[1][1]))
        for r in doc.get_records()
        if r.get_type().localpart == "Derivation"
    }
    assert ("snap:frames/eso", "snapshots:2025-09-01") in derivations
    assert not any(r.identifier and r.identifier.localpart == "fetch/eso" for r in doc.get_records())


def test_landing_page_written_after_the_record_is_an_entity(tmp_path: Path) -> None:
    """stage_snapshot writes index.html after the PROV record: it is still an entity (its digest is in the manifest)."""
    from models.landing import INDEX

    stage, manifest, files = staged_copy(tmp_path)
    before = {rel: entry for rel, entry in files.items() if rel != INDEX}
    entities = {r.identifier.localpart: r for r in _records(build_document(stage, manifest, before), "Entity")}
    assert INDEX in entities and _attr(entities[INDEX], "voh:sha256") is None
    assert set(files) <= set(entities)  # every file the published manifest lists


def test_datalink_documents_beyond_the_limit_are_one_collection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import models.provenance as provenance

    monkeypatch.setattr(provenance, "DATALINK_ENTITY_LIMIT", 0)  # as at archive scale (> 10,000 documents)
    stage, manifest, files = staged_copy(tmp_path)
    entities = {r.identifier.localpart: r for r in _records(build_document(stage, manifest, files), "Entity")}
    # the per-dataset DataLink documents, found on disk independently of the code
    documents = {p.relative_to(stage).as_posix() for p in (stage / "datalink").rglob("*.xml")}
    assert documents and documents <= set(files)
    assert not documents & set(entities)  # the record does not grow with the rows
    assert set(files) - documents <= set(entities)
    collection = entities["datalink"]
    assert int(_attr(collection, "voh:documents")) == len(documents)
    assert int(_attr(collection, "voh:size")) == sum((stage / rel).stat().st_size for rel in documents)
    assert str(_attr(collection, "prov:location")) == "datalink/"


@pytest.mark.parametrize("limit", [0, 10_000])
def test_documents_are_read_from_their_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, limit: int) -> None:
    """Publication passes the manifest's files only: the record is the one built with every document listed."""
    import models.provenance as provenance

    monkeypatch.setattr(provenance, "DATALINK_ENTITY_LIMIT", limit)  # one collection entity, or one per document
    stage, manifest, files = staged_copy(tmp_path)
    documents = {p.relative_to(stage).as_posix() for p in (stage / "datalink").rglob("*.xml")}
    manifest_files = {rel: entry for rel, entry in files.items() if rel not in documents}
    assert documents and len(manifest_files) == len(files) - len(documents)
    from_index = build_document(stage, manifest, manifest_files).serialize(format="json")
    assert from_index == build_document(stage, manifest, files).serialize(format="json")
    entities = {r.identifier.localpart for r in _records(build_document(stage, manifest, manifest_files), "Entity")}
    assert (documents <= entities) == (limit > 0) and ("datalink" in entities) == (limit == 0)


def test_public_snapshot_url_is_the_snapshot_location(tmp_path: Path) -> None:
    stage, manifest, files = staged_copy(tmp_path)
    snapshot = {r.identifier.localpart: r for r in _records(build_document(stage, manifest, files), "Entity")}
    assert _attr(snapshot["snapshot"], "prov:location") is None  # the bundled harvest has no public base URL
    url = f"https://data.example.org/voharvest/snapshots/{manifest['snapshot']}"
    manifest["datalink"] = {**manifest["datalink"], "base_url": url}
    snapshot = {r.identifier.localpart: r for r in _records(build_document(stage, manifest, files), "Entity")}
    assert str(_attr(snapshot["snapshot"], "prov:location")) == url


# -- row provenance ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    return derive_row_provenance(harvested_snapshot())


def test_row_provenance_covers_every_dataset_and_validates(rows: pd.DataFrame) -> None:
    snap = harvested_snapshot()
    obscore = pd.read_parquet(snap / "obscore.parquet")
    obsplan = pd.read_parquet(snap / "obsplan.parquet")
    assert validate(rows, ROW_PROVENANCE) == []
    assert set(obscore["obs_publisher_did"]) <= set(rows["obs_publisher_did"])
    plan_dids = {f"ivo://voharvest/{c}?{o}" for c, o in zip(obsplan["obs_collection"], obsplan["obs_id"], strict=True)}
    assert plan_dids <= set(rows["obs_publisher_did"])
    assert rows["obs_publisher_did"].nunique() == len(plan_dids | set(obscore["obs_publisher_did"]))
    # every raw SHA-256 names bytes in raw/ that hash to it
    for sha in rows["x_raw_sha256"].unique():
        assert hashlib.sha256((snap / "raw" / "blobs" / sha[:2] / sha).read_bytes()).hexdigest() == sha
    hess = rows[rows["obs_publisher_did"] == HESS_DID]
    assert sorted(hess["x_request"]) == ["hdu_index", "obs_index"]
    assert set(hess["x_parser"]) == {"scrapers.gadf 0.1.0"} and set(hess["x_attribution"]) == {"source"}
    nustar = rows[rows["obs_publisher_did"] == NUSTAR_DID]
    assert set(nustar["x_source"]) == {"nustar"} and set(nustar["x_tables"]) == {"obscore,obsplan"}


def test_row_provenance_first_seen_carry_over_and_single_response() -> None:
    manifest = {
        "snapshot": "2025-09-06",
        "code_version": "9.9",
        "sources": {
            "a": {
                "obs_collections": ["A"],
                "responses": [
                    {
                        "name": "only",
                        "url": "https://a.example/x",
                        "key": "k1",
                        "sha256": "1" * 64,
                        "fetched_at": "2025-09-06T01:02:03+00:00",
                        "status": 200,
                        "size": 3,
                        "method": "GET",
                    },
                ],  # fmt: skip
            },
            "b": {"obs_collections": ["B"], "responses": None, "carried_over_from": "2025-09-05"},
        },
    }
    obscore = pd.DataFrame(
        {
            "obs_publisher_did": ["ivo://voharvest/A?1", "ivo://voharvest/A?2", "ivo://voharvest/B?9"],
            "obs_collection": ["A", "A", "B"],
            "obs_id": ["1", "2", "9"],
        }
    )
    previous = row_provenance(
        pd.DataFrame(columns=["obs_collection", "obs_id"]),
        obscore.iloc[[0]],
        {**manifest, "snapshot": "2025-09-01", "sources": {"a": manifest["sources"]["a"]}},
    )
    prev_b = previous.assign(
        obs_publisher_did="ivo://voharvest/B?9", obs_collection="B", obs_id="9", x_source="b",
        x_fetch_snapshot="2025-09-05", x_first_seen="2025-08-30",
    )  # fmt: skip
    out = row_provenance(
        pd.DataFrame(columns=["obs_collection", "obs_id"]), obscore, manifest, pd.concat([previous, prev_b])
    )
    by = out.set_index("obs_publisher_did")
    assert by.loc["ivo://voharvest/A?1", "x_first_seen"] == "2025-09-01"  # seen before
    assert by.loc["ivo://voharvest/A?2", "x_first_seen"] == "2025-09-06"  # new
    assert set(out["x_last_seen"]) == {"2025-09-06"}
    assert by.loc["ivo://voharvest/A?1", "x_attribution"] == "request"  # its source parsed one response
    assert by.loc["ivo://voharvest/A?1", "x_parser"] == "scrapers.a 9.9"
    assert by.loc["ivo://voharvest/B?9", "x_fetch_snapshot"] == "2025-09-05"  # bytes live in the earlier raw/
    assert by.loc["ivo://voharvest/B?9", "x_first_seen"] == "2025-08-30"
    assert validate(out, ROW_PROVENANCE) == []


# -- voharvest provenance ------------------------------------------------------------------------
def test_chain_reaches_verified_bytes() -> None:
    chain = provenance_chain(harvested_snapshot(), HESS_DID)
    assert chain["dataset"]["source"] == "hess_dl3_dr1"
    assert [r["request"] for r in chain["responses"]] == ["hdu_index", "obs_index"]
    assert all(r["verified"] for r in chain["responses"])
    with pytest.raises(KeyError, match="not a dataset"):
        provenance_chain(harvested_snapshot(), "ivo://voharvest/HESS-DL3-DR1?1")


def test_cli_prints_chain_and_writes_raw_bytes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    snap = harvested_snapshot()
    target = tmp_path / "obs-index.fits.gz"
    code = main(["provenance", HESS_DID, str(snap), "--write-raw", str(target), "--request", "obs_index"])
    out = capsys.readouterr().out
    assert code == 0
    assert "hess_dl3_dr1" in out and "scrapers.gadf" in out and "verified" in out
    record = next(
        json.loads(p.read_text())
        for p in (snap / "raw" / "records").glob("*.json")
        if json.loads(p.read_text())["name"] == "obs_index"
    )
    assert hashlib.sha256(target.read_bytes()).hexdigest() == record["sha256"]
    assert target.read_bytes()[:2] == b"\x1f\x8b"  # the gzip'd FITS file as fetched
    # by date under --output, JSON output
    code = main(["provenance", NUSTAR_DID, snap.name, "--output", str(snap.parent.parent), "--json"])
    assert code == 0 and json.loads(capsys.readouterr().out)["dataset"]["source"] == "nustar"


def test_cli_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    snap = harvested_snapshot()
    assert main(["provenance", "ivo://voharvest/X?1", str(snap)]) == 1
    assert main(["provenance", HESS_DID, str(snap), "--write-raw", str(tmp_path / "x")]) == 2  # two responses
    assert "--request" in capsys.readouterr().err
    assert main(["provenance", HESS_DID, str(tmp_path)]) == 2  # not a snapshot
    copy = tmp_path / "copy"
    shutil.copytree(snap, copy)
    sha = next(r for r in provenance_chain(copy, HESS_DID)["responses"] if r["request"] == "obs_index")["sha256"]
    (copy / "raw" / "blobs" / sha[:2] / sha).write_bytes(b"tampered")
    assert main(["provenance", HESS_DID, str(copy)]) == 1
    assert "MISSING OR ALTERED" in capsys.readouterr().out


def test_row_provenance_table_files_are_valid(rows: pd.DataFrame, tmp_path: Path) -> None:
    from models.arrow import conform
    from models.parquet import read_parquet, write_parquet
    from models.votable import write_votable

    table = conform(rows, ROW_PROVENANCE)
    write_parquet(table, ROW_PROVENANCE, tmp_path / "row_provenance.parquet")
    write_votable(table, ROW_PROVENANCE, tmp_path / "row_provenance.vot")
    back = parse_votable(tmp_path / "row_provenance.vot", verify="exception").get_first_table().to_table()
    assert len(back) == len(rows) == read_parquet(tmp_path / "row_provenance.parquet").num_rows
    report = votlint(tmp_path / "row_provenance.vot")
    assert report.errors == [] and report.warnings == [], report.raw


def test_chain_reads_the_published_table_when_present(rows: pd.DataFrame, tmp_path: Path) -> None:
    from models.arrow import conform
    from models.parquet import write_parquet

    copy = tmp_path / "snap"
    shutil.copytree(harvested_snapshot(), copy)
    derived = provenance_chain(copy, NUSTAR_DID)
    table = rows.assign(x_first_seen=rows["x_first_seen"].where(rows["obs_publisher_did"] != NUSTAR_DID, "2025-01-01"))
    write_parquet(conform(table, ROW_PROVENANCE), ROW_PROVENANCE, copy / "row_provenance.parquet")
    published = provenance_chain(copy, NUSTAR_DID)
    assert published["dataset"]["first_seen"] == "2025-01-01"  # read from the file, not re-derived
    assert published["responses"] == derived["responses"]
