"""The manifest lists the DataLink documents through their index (issue 13: a day costs its changes).

A snapshot holds one DataLink document per event list (420,000 at a million obsplan rows). The
manifest lists ``datalink/documents.csv`` (with its SHA-256) and records it under ``file_index``; the
index gives each document's size and SHA-256. These tests check, on the snapshot harvested from the
bundled recordings (real NuSTAR, XMM-Newton, INTEGRAL and H.E.S.S. rows), that the index is exact
(sizes and digests computed here from the files with hashlib) and that validation finds every kind of
damage it would find if the documents were listed in the manifest itself.
"""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
from pathlib import Path

import pytest

from models.datalink import DATALINK_INDEX
from models.snapshot import MANIFEST, listed_files, read_manifest, validate_snapshot
from tests.test_provenance import harvested_snapshot


@pytest.fixture(scope="module")
def published() -> Path:
    return harvested_snapshot()


def _copy(published: Path, tmp_path: Path) -> Path:
    target = tmp_path / "snap"
    shutil.copytree(published, target)
    return target


def _documents(snapshot: Path) -> dict[str, bytes]:
    return {
        p.relative_to(snapshot).as_posix(): p.read_bytes()
        for p in (snapshot / "datalink").rglob("*")
        if p.is_file() and p.parent != snapshot / "datalink"
    }


def test_the_manifest_lists_the_index_and_the_index_every_document_exactly(published: Path) -> None:
    manifest = read_manifest(published)
    documents = _documents(published)
    assert len(documents) > 100  # the bundled harvest's event lists
    assert not set(documents) & set(manifest["files"])  # no manifest line per dataset
    index_bytes = (published / DATALINK_INDEX).read_bytes()
    assert manifest["files"][DATALINK_INDEX] == {
        "size": len(index_bytes),
        "sha256": hashlib.sha256(index_bytes).hexdigest(),
    }
    rows = list(csv.DictReader(index_bytes.decode("utf-8").splitlines()))
    assert [*rows[0]] == ["obs_publisher_did", "document", "size", "sha256"]
    by_document = {r["document"]: r for r in rows}
    assert set(by_document) == set(documents)
    for rel, content in documents.items():
        assert int(by_document[rel]["size"]) == len(content)
        assert by_document[rel]["sha256"] == hashlib.sha256(content).hexdigest()
    assert manifest["file_index"] == {
        DATALINK_INDEX: {
            "folder": "datalink/",
            "files": len(documents),
            "bytes": sum(len(c) for c in documents.values()),
        }
    }
    # one mapping for readers that want it: the manifest's files and the indexed ones
    everything = listed_files(published, manifest)
    assert set(everything) == set(manifest["files"]) | set(documents)
    assert validate_snapshot(published) == []


@pytest.mark.parametrize("damage", ["changed", "truncated", "removed", "unlisted", "index edited"])
def test_validation_finds_damage_to_indexed_documents(published: Path, tmp_path: Path, damage: str) -> None:
    snap = _copy(published, tmp_path)
    rel = sorted(_documents(snap))[len(_documents(snap)) // 2]
    path = snap / rel
    if damage == "changed":  # same size, other bytes: only the digest tells
        content = bytearray(path.read_bytes())
        content[-10] ^= 0x01
        path.write_bytes(bytes(content))
        expect = f"{rel}: SHA-256"
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:-1])
        expect = f"{rel}: size"
    elif damage == "removed":
        path.unlink()
        expect = f"{rel}: listed in {MANIFEST} but missing"
    elif damage == "unlisted":
        (path.parent / "extra.xml").write_bytes(b"<VOTABLE/>")
        rel = (path.parent / "extra.xml").relative_to(snap).as_posix()
        expect = f"{rel}: file not listed in {MANIFEST} or its file index"
    else:  # the index itself edited to vouch for a changed document: its own digest no longer matches
        index = snap / DATALINK_INDEX
        text = index.read_text(encoding="utf-8")
        line = next(x for x in text.splitlines() if f",{rel}," in x)
        fields = line.split(",")
        fields[-1] = "0" * 64
        index.write_text(text.replace(line, ",".join(fields)), encoding="utf-8")
        expect = f"{DATALINK_INDEX}: SHA-256"
    problems = validate_snapshot(snap)
    assert any(p.startswith(expect) for p in problems), problems
    if damage in ("truncated", "removed", "unlisted"):  # publication's check (sizes, no rehash) sees it too
        assert any(p.startswith(expect) for p in validate_snapshot(snap, rehash=False))


def test_a_manifest_whose_index_record_disagrees_is_invalid(published: Path, tmp_path: Path) -> None:
    snap = _copy(published, tmp_path)
    manifest = json.loads((snap / MANIFEST).read_text())
    manifest["file_index"][DATALINK_INDEX]["files"] += 1
    (snap / MANIFEST).write_text(json.dumps(manifest))
    assert any("files, manifest.json says" in p for p in validate_snapshot(snap))
    manifest["file_index"] = {"raw/other.csv": {"folder": "raw/", "files": 0, "bytes": 0}}
    (snap / MANIFEST).write_text(json.dumps(manifest))
    problems = validate_snapshot(snap)
    assert any("not a file index of this voharvest version" in p for p in problems)
    # without the index record, the documents are files nobody lists
    assert any(p.endswith(f"file not listed in {MANIFEST}") and p.startswith("datalink/") for p in problems)


def test_a_document_listed_by_the_manifest_and_the_index_is_reported(published: Path, tmp_path: Path) -> None:
    """One file vouched for twice (its manifest line could disagree with its index line) is a finding."""
    snap = _copy(published, tmp_path)
    rel = sorted(_documents(snap))[0]
    manifest = json.loads((snap / MANIFEST).read_text())
    content = (snap / rel).read_bytes()
    manifest["files"][rel] = {"size": len(content), "sha256": hashlib.sha256(content).hexdigest()}
    (snap / MANIFEST).write_text(json.dumps(manifest))
    assert f"{rel}: listed both in {MANIFEST} and in its file index" in validate_snapshot(snap)


def test_documents_trusted_by_publication_are_not_statted_but_the_rest_are(published: Path, tmp_path: Path) -> None:
    """Publication skips the ``stat`` of documents it hard-linked itself; any other damage is still found."""
    snap = _copy(published, tmp_path)
    documents = sorted(_documents(snap))
    linked, written = documents[:-1], documents[-1]
    (snap / written).write_bytes((snap / written).read_bytes() + b" ")
    problems = validate_snapshot(snap, rehash=False, trusted=frozenset(linked))
    assert [p for p in problems if p.startswith("datalink/")] == [
        f"{written}: size {len((snap / written).read_bytes())} bytes, manifest says "
        f"{len((snap / written).read_bytes()) - 1}"
    ]


def test_trusted_documents_missing_and_stray_files_are_still_found_without_rehash(
    published: Path, tmp_path: Path
) -> None:
    """Trust skips a linked document's ``stat``, never the check that it is there; nor strays."""
    snap = _copy(published, tmp_path)
    documents = sorted(_documents(snap))
    gone = documents[1]
    (snap / gone).unlink()
    stray = Path(documents[0]).parent / "stray.xml"
    (snap / stray).write_bytes(b"<VOTABLE/>")
    problems = validate_snapshot(snap, rehash=False, trusted=frozenset(documents))
    assert [p for p in problems if p.startswith("datalink/")] == [
        f"{stray.as_posix()}: file not listed in {MANIFEST} or its file index",
        f"{gone}: listed in {MANIFEST} but missing",
    ]


@pytest.mark.parametrize(
    ("reorder", "repeated"),
    [
        (lambda rows: [rows[0], *rows], True),  # a repeat next to itself, in order otherwise
        (lambda rows: [*rows, rows[0]], True),  # a repeat out of order
        (lambda rows: rows[::-1], False),  # every file once, out of order
    ],
)
def test_an_index_listing_a_file_twice_is_reported(published: Path, tmp_path: Path, reorder, repeated: bool) -> None:
    snap = _copy(published, tmp_path)
    header, *rows = (snap / DATALINK_INDEX).read_text(encoding="utf-8").splitlines()
    (snap / DATALINK_INDEX).write_text("\n".join([header, *reorder(rows)]) + "\n", encoding="utf-8")
    problems = validate_snapshot(snap, rehash=False)
    assert (f"{DATALINK_INDEX}: lists a file more than once" in problems) is repeated
    assert any(p.startswith(f"{DATALINK_INDEX}: size") for p in problems) is repeated  # the edit itself is seen
    assert f"{DATALINK_INDEX}: SHA-256" not in " ".join(problems)  # not re-read without rehash


def test_landing_page_lists_documents_from_the_index(
    published: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Few documents: one row each (size, digest); many: one summary row with their count and bytes."""
    from models import landing

    snap = _copy(published, tmp_path)
    documents = _documents(snap)
    manifest = read_manifest(snap)
    html, links = landing._files_section(snap, manifest)
    for rel, content in documents.items():
        assert rel in links
        assert hashlib.sha256(content).hexdigest() in html
    monkeypatch.setattr(landing, "FILES_MAX_DATALINK", 10)  # as at archive scale
    html, links = landing._files_section(snap, manifest)
    assert not set(documents) & set(links)
    assert f"{len(documents)} DataLink documents" in html
    assert landing._size(sum(len(c) for c in documents.values())) in html
    assert "datalink/documents.csv</a>, whose own SHA-256 is in" in html
    assert set(manifest["files"]) - {"index.html"} <= set(links)  # every other file still has its row


def test_diff_reports_documents_listed_by_the_index(published: Path, tmp_path: Path) -> None:
    """``voharvest diff`` compares what both snapshots vouch for, indexed documents included."""
    from models.snapshot import diff_snapshots

    snap = _copy(published, tmp_path)
    rel = sorted(_documents(snap))[0]
    index = snap / DATALINK_INDEX
    lines = index.read_text(encoding="utf-8").splitlines()
    at = next(i for i, x in enumerate(lines) if f",{rel}," in x)
    fields = lines[at].split(",")
    fields[-1] = hashlib.sha256(b"another document").hexdigest()  # as if it had been rewritten
    lines[at] = ",".join(fields)
    index.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = diff_snapshots(published, snap)
    assert report["files"]["changed"] == [rel]
    assert report["files"]["added"] == report["files"]["removed"] == []


def test_snapshots_of_earlier_versions_still_validate(published: Path, tmp_path: Path) -> None:
    """A snapshot written before the index (documents listed in the manifest, index without sizes) stays valid."""
    snap = _copy(published, tmp_path)
    manifest = json.loads((snap / MANIFEST).read_text())
    index = snap / DATALINK_INDEX
    old_index = "".join(",".join(line.split(",")[:2]) + "\n" for line in index.read_text(encoding="utf-8").splitlines())
    index.write_text(old_index, encoding="utf-8")
    files = manifest["files"]
    files[DATALINK_INDEX] = {"size": index.stat().st_size, "sha256": hashlib.sha256(index.read_bytes()).hexdigest()}
    for rel, content in _documents(snap).items():
        files[rel] = {"size": len(content), "sha256": hashlib.sha256(content).hexdigest()}
    del manifest["file_index"]
    (snap / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True))
    assert validate_snapshot(snap) == []
    assert listed_files(snap, manifest) == files
    # and damage to a document is still found through the manifest's own entry
    rel = sorted(_documents(snap))[0]
    (snap / rel).write_bytes((snap / rel).read_bytes() + b"\n")
    assert any(p.startswith(f"{rel}: size") for p in validate_snapshot(snap))
