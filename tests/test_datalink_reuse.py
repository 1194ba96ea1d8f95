"""A day re-encodes only the DataLink documents whose link rows changed; the others are links to the previous
snapshot's files, and every document is byte-identical to what a full rebuild writes.

``unchanged_documents`` is checked against a plain reading of the rule (group each table's rows per
document, compare the lists of row tuples) on generated tables, and the writer on the real harvested
snapshot (105 H.E.S.S. runs with their IRF links, INTEGRAL, NuSTAR and XMM-Newton event lists).
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from models import datalink, durable
from models.arrow import conform
from models.datalink import (
    DATALINK,
    DATALINK_INDEX,
    LINK_ROWS,
    LINKS_TABLE,
    unchanged_documents,
    write_snapshot_datalinks,
)
from tests.test_provenance import harvested_snapshot

# -- the comparison, against a plain reading of the rule -------------------------------------------------
_VALUES = {
    "access_url": st.sampled_from([None, "http://a.example/1", "http://a.example/2"]),
    "service_def": st.sampled_from([None, "svc"]),
    "error_message": st.sampled_from([None, "NotFoundFault: none"]),
    "semantics": st.sampled_from(["#this", "#calibration"]),
    "description": st.sampled_from([None, "", "événement", "x"]),  # "" is not NULL
    "content_type": st.sampled_from([None, "application/fits"]),
    "content_length": st.sampled_from([None, 0, 5, 2**40]),
    "content_qualifier": st.sampled_from([None, "aeff", "psf"]),
}
_ROW = st.fixed_dictionaries(_VALUES)


@st.composite
def _tables(draw: st.DrawFn) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A day's link rows and the previous day's: the same documents, some changed in one of many ways."""
    names = draw(st.lists(st.sampled_from([f"datalink/c/{i}.xml" for i in range(8)]), unique=True, max_size=6))
    today: dict[str, list[dict]] = {n: draw(st.lists(_ROW, min_size=1, max_size=3)) for n in sorted(names)}
    before = {n: [dict(r) for r in rows] for n, rows in today.items()}
    for name in list(before):
        change = draw(st.sampled_from(["none", "none", "value", "drop_row", "add_row", "swap", "gone"]))
        rows = before[name]
        if change == "value":
            row = draw(st.integers(0, len(rows) - 1))
            column = draw(st.sampled_from(sorted(_VALUES)))
            rows[row][column] = draw(_VALUES[column])  # may draw the same value: then unchanged
        elif change == "drop_row" and len(rows) > 1:
            rows.pop()
        elif change == "add_row":
            rows.append(draw(_ROW))
        elif change == "swap" and len(rows) > 1:
            rows[0], rows[-1] = rows[-1], rows[0]  # same rows, another order: other bytes
        elif change == "gone":
            del before[name]
    extra = draw(st.lists(st.sampled_from([f"datalink/d/{i}.xml" for i in range(3)]), unique=True, max_size=2))
    for name in extra:  # documents only the previous day had
        before[name] = draw(st.lists(_ROW, min_size=1, max_size=2))
    return _frame(today), _frame(dict(sorted(before.items())))


def _frame(documents: dict[str, list[dict]]) -> pd.DataFrame:
    rows = [{**r, "ID": "ivo://x/" + name, "document": name} for name, rs in documents.items() for r in rs]
    frame = pd.DataFrame(rows, columns=[*DATALINK.names, "document"])
    frame["content_length"] = frame["content_length"].astype("Int64")
    return frame


def _expected(today: pd.DataFrame, before: pd.DataFrame) -> dict[str, bool]:
    """Per document of ``today``: does ``before`` hold the same rows in the same order (NULL == NULL)?"""

    def rows(frame: pd.DataFrame) -> dict[str, list[tuple]]:
        out: dict[str, list[tuple]] = {}
        for record in frame.astype(object).where(frame.notna(), None).to_dict("records"):
            out.setdefault(record["document"], []).append(tuple(record[c] for c in DATALINK.names))
        return out

    now, then = rows(today), rows(before)
    return {name: then.get(name) == listed for name, listed in now.items()}


@given(_tables())
def test_unchanged_documents_follow_the_rule(tables: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    today, before = tables
    names, same = unchanged_documents(conform(today, LINK_ROWS), conform(before, LINK_ROWS))
    assert dict(zip(names.tolist(), same.tolist(), strict=True)) == _expected(today, before)


def test_nothing_is_unchanged_against_another_schema() -> None:
    today = _frame({"datalink/c/1.xml": [dict.fromkeys(_VALUES) | {"semantics": "#this", "access_url": "http://a/"}]})
    table = conform(today, LINK_ROWS)
    names, same = unchanged_documents(table, table.drop_columns(["content_qualifier"]))
    assert names.tolist() == ["datalink/c/1.xml"] and same.tolist() == [False]
    assert unchanged_documents(table, table)[1].tolist() == [True]


# -- the writer on the real snapshot ---------------------------------------------------------------------
def _stage(tmp_path: Path, name: str) -> Path:
    stage = tmp_path / name
    shutil.copytree(harvested_snapshot() / "raw", stage / "raw")  # the H.E.S.S. indexes give the IRF links
    return stage


@pytest.fixture(scope="module")
def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    root = harvested_snapshot()
    return pd.read_parquet(root / "obscore.parquet"), pd.read_parquet(root / "obscore_hea.parquet")


def _documents(stage: Path) -> dict[str, bytes]:
    return {p.relative_to(stage).as_posix(): p.read_bytes() for p in (stage / "datalink").rglob("*.xml") if p.is_file()}


def _published(tmp_path: Path, obscore: pd.DataFrame, hea: pd.DataFrame) -> tuple[Path, dict[str, dict]]:
    """The previous snapshot's documents and their manifest entries."""
    first = _stage(tmp_path, "first")
    entries: dict[str, dict] = {}
    write_snapshot_datalinks(first, obscore, hea, None, entries=entries)
    return first, entries


def test_a_day_encodes_only_changed_documents_and_matches_a_full_rebuild(
    tmp_path: Path, frames: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    obscore, hea = frames
    first, entries = _published(tmp_path, obscore, hea)
    assert (first / LINKS_TABLE).is_file()
    # the next day: one NuSTAR event list moved to another URL, one XMM-Newton observation gone
    events = obscore[obscore["dataproduct_type"] == "event"]
    moved = events[events["obs_collection"] == "NuSTAR"].index[0]
    gone = events[events["obs_collection"] == "XMM-Newton"].index[0]
    day = obscore.drop(index=gone).copy()
    day.loc[moved, "access_url"] = "https://heasarc.gsfc.nasa.gov/FTP/nustar/data/obs/moved/events.evt.gz"
    path = f"datalink/NuSTAR/{obscore.loc[moved, 'obs_id']}.xml"
    removed = f"datalink/XMM-Newton/{obscore.loc[gone, 'obs_id']}.xml"

    second = _stage(tmp_path, "second")
    day_entries: dict[str, dict] = {}
    day_linked: list[str] = []
    written = write_snapshot_datalinks(
        second, day, hea, None, previous=first, entries=day_entries, linked=day_linked, reuse_documents=True
    )
    rebuilt = _stage(tmp_path, "rebuilt")
    write_snapshot_datalinks(rebuilt, day, hea, None)  # no previous snapshot: everything encoded
    assert _documents(second) == _documents(rebuilt)  # the same bytes as a full rebuild
    assert removed not in written and not (second / removed).exists()
    linked = {rel for rel in _documents(second) if os.stat(second / rel).st_ino == os.stat(first / rel).st_ino}
    assert linked == set(_documents(second)) - {path}  # every unchanged document is the previous file
    assert sorted(day_linked) == sorted(linked)  # and the caller is told which (publication trusts them)
    assert (second / path).read_bytes() != (first / path).read_bytes()
    assert b"moved/events.evt.gz" in (second / path).read_bytes()
    # manifest entries: reused for links, computed from the bytes for the new one
    index = pd.read_csv(second / DATALINK_INDEX)
    assert sorted(index["document"]) == sorted(_documents(second))
    for rel, content in _documents(second).items():
        assert day_entries[rel] == {"size": len(content), "sha256": hashlib.sha256(content).hexdigest()}
        row = index[index["document"] == rel].iloc[0]  # the index the manifest lists in their place
        assert (int(row["size"]), row["sha256"]) == (len(content), hashlib.sha256(content).hexdigest())
    assert day_entries[path] != entries[path]
    assert pq.read_table(second / LINKS_TABLE).equals(pq.read_table(rebuilt / LINKS_TABLE))
    # one document fewer: the XMM-Newton observation's #this, #calibration and #provenance rows
    assert pq.read_table(second / LINKS_TABLE).num_rows == pq.read_table(first / LINKS_TABLE).num_rows - 3


def test_another_base_url_or_no_reuse_rebuilds_every_document(
    tmp_path: Path, frames: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    obscore, hea = frames
    first, entries = _published(tmp_path, obscore, hea)
    base = "https://data.example.org/voharvest/snapshots/2025-09-06"
    second = _stage(tmp_path, "second")
    write_snapshot_datalinks(second, obscore, hea, base, previous=first, reuse_documents=True)
    docs = _documents(second)
    # every #provenance link is now absolute: no document is the previous one
    assert all(os.stat(second / rel).st_ino != os.stat(first / rel).st_ino for rel in docs)
    assert all(f"{base}/provenance/prov.json".encode() in content for content in docs.values())
    # not written by the same code (reuse_documents False): rows are not compared, yet a document that
    # comes out byte-identical is still linked rather than stored twice
    third = _stage(tmp_path, "third")
    write_snapshot_datalinks(third, obscore, hea, None, previous=first)
    assert all(os.stat(third / rel).st_ino == os.stat(first / rel).st_ino for rel in _documents(third))
    assert _documents(third) == _documents(first)


def test_documents_written_in_batches_are_the_same_bytes(
    tmp_path: Path, frames: tuple[pd.DataFrame, pd.DataFrame], monkeypatch: pytest.MonkeyPatch
) -> None:
    obscore, hea = frames
    whole = _stage(tmp_path, "whole")
    write_snapshot_datalinks(whole, obscore, hea, None)
    monkeypatch.setattr(datalink, "DOCUMENT_BATCH", 7)  # 119 documents: 17 batches, the last one short
    batched = _stage(tmp_path, "batched")
    entries: dict[str, dict] = {}
    write_snapshot_datalinks(batched, obscore, hea, None, entries=entries)
    assert _documents(batched) == _documents(whole) and len(entries) == 119
    # in two threads (a slice per thread from 1 document on): the same bytes, index and links
    monkeypatch.setattr(durable, "ITEMS_PER_THREAD", 1)
    threaded = _stage(tmp_path, "threaded")
    write_snapshot_datalinks(threaded, obscore, hea, None, entries=entries)
    assert _documents(threaded) == _documents(whole)
    assert (threaded / DATALINK_INDEX).read_bytes() == (whole / DATALINK_INDEX).read_bytes()
    again = _stage(tmp_path, "again")
    linked: list[str] = []
    write_snapshot_datalinks(again, obscore, hea, None, previous=threaded, linked=linked, reuse_documents=True)
    assert sorted(linked) == sorted(_documents(whole))  # every document linked, by two threads
    assert all(os.stat(again / r).st_ino == os.stat(threaded / r).st_ino for r in linked)


def test_a_day_without_changes_links_the_index_and_link_table_too(
    tmp_path: Path, frames: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    obscore, hea = frames
    first, _ = _published(tmp_path, obscore, hea)
    second = _stage(tmp_path, "second")
    write_snapshot_datalinks(second, obscore, hea, None, previous=first, reuse_documents=True)
    rebuilt = _stage(tmp_path, "rebuilt")
    write_snapshot_datalinks(rebuilt, obscore, hea, None)
    for rel in (DATALINK_INDEX, LINKS_TABLE):
        assert os.stat(second / rel).st_ino == os.stat(first / rel).st_ino  # linked, not written
        assert (second / rel).read_bytes() == (rebuilt / rel).read_bytes()  # the bytes a rebuild gives
    # one NuSTAR event list moved: the index and the link table are written anew, with the new row
    day = obscore.copy()
    moved = day[(day["dataproduct_type"] == "event") & (day["obs_collection"] == "NuSTAR")].index[0]
    day.loc[moved, "access_url"] = "https://example.org/moved/events.fits.gz"
    third = _stage(tmp_path, "third")
    write_snapshot_datalinks(third, day, hea, None, previous=first, reuse_documents=True)
    for rel in (DATALINK_INDEX, LINKS_TABLE):
        assert os.stat(third / rel).st_ino != os.stat(first / rel).st_ino
    assert (
        b"moved/events.fits.gz"
        in pq.read_table(third / LINKS_TABLE).column("access_url").to_pylist().__repr__().encode()
    )


def test_links_made_in_the_background_fall_back_to_writing_when_a_link_fails(
    tmp_path: Path, frames: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    """A link the background thread cannot make (previous file gone) is encoded and written by ``wait``."""
    obscore, hea = frames
    first, _ = _published(tmp_path, obscore, hea)
    lost = sorted(_documents(first))[3]
    content = (first / lost).read_bytes()
    (first / lost).unlink()  # the previous snapshot damaged after publication: nothing to link to
    second = _stage(tmp_path, "second")
    pending = datalink.start_snapshot_datalinks(second, obscore, hea, None, previous=first, reuse_documents=True)
    linked: list[str] = []
    written = pending.wait(linked=linked)
    assert pending.wait() == written  # waiting again returns the same files, nothing redone
    assert lost in written and lost not in linked and (second / lost).read_bytes() == content
    assert sorted(linked) == sorted(set(_documents(first)))  # all the others are the previous files
    index = pd.read_csv(second / DATALINK_INDEX)
    row = index[index["document"] == lost].iloc[0]
    assert (int(row["size"]), row["sha256"]) == (len(content), hashlib.sha256(content).hexdigest())
    rebuilt = _stage(tmp_path, "rebuilt")
    write_snapshot_datalinks(rebuilt, obscore, hea, None)
    assert _documents(second) == _documents(rebuilt)
    assert (second / DATALINK_INDEX).read_bytes() == (rebuilt / DATALINK_INDEX).read_bytes()


def test_a_failed_publication_waits_for_the_background_links_before_removing_the_stage(
    tmp_path: Path, frames: tuple[pd.DataFrame, pd.DataFrame], monkeypatch: pytest.MonkeyPatch
) -> None:
    """stage_snapshot's error path: ``cancel`` lets the links end, so no link lands in a removed stage."""
    import threading

    obscore, hea = frames
    first, _ = _published(tmp_path, obscore, hea)
    release = threading.Event()
    real_link_many = durable.link_many

    def slow_link_many(*args: object, **kwargs: object) -> object:
        release.wait(timeout=30)  # the links are still running when the caller fails
        return real_link_many(*args, **kwargs)

    monkeypatch.setattr(datalink, "link_many", slow_link_many)
    second = _stage(tmp_path, "second")
    pending = datalink.start_snapshot_datalinks(second, obscore, hea, None, previous=first, reuse_documents=True)
    assert not _documents(second)  # nothing changed: every document waits for its link
    threading.Timer(0.2, release.set).start()
    pending.cancel()  # returns only once the links have ended
    assert release.is_set() and sorted(_documents(second)) == sorted(_documents(first))
    shutil.rmtree(second)  # what discard does next: nothing is created in it afterwards
    assert not second.exists()
