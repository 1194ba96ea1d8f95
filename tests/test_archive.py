"""The raw archive on disk and the replay archive built from recordings."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import pytest

from scrapers.archive import ArchiveError, RawArchive
from scrapers.base import RawRecord, Request, Source
from scrapers.fetch import HttpStatusError, ReplayFetcher, ReplayMissing, tap_results
from scrapers.recordings import RecordingError, build_archive, build_from_sources

VOTABLE = Path(__file__).parent / "data" / "fetch" / "intscw_7rows_votable_rec2022-03-31.xml"
T0 = dt.datetime(2025, 9, 4, tzinfo=dt.UTC)


def rec(request: Request, content: bytes, *, at: dt.datetime = T0, **headers: str) -> RawRecord:
    return RawRecord(request, 200, headers, at, content, hashlib.sha256(content).hexdigest())


def fail(request: Request, status: int, at: dt.datetime = T0) -> RawRecord:
    return RawRecord(request, status, {}, at, b"", hashlib.sha256(b"").hexdigest(), error=f"HttpStatusError: {status}")


REQ = Request("nustar", "short_range", "https://nustarsoc.caltech.edu/NuSTAR_Public/NuSTAROperationSite/Schedule.php")


def all_files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_put_get_round_trip_and_layout(tmp_path: Path) -> None:
    archive = RawArchive(tmp_path / "a")
    body = b"<table>rows</table>"
    archive.put(rec(REQ, body, ETag='"e1"', **{"Content-Type": "text/html", "X-Other": "dropped"}))
    sha = hashlib.sha256(body).hexdigest()
    assert archive.blob_path(sha) == tmp_path / "a" / "blobs" / sha[:2] / sha
    assert archive.blob_path(sha).read_bytes() == body
    got = archive.get(REQ)
    assert got is not None and got.content == body and got.sha256 == sha and got.ok
    assert got.request == REQ and got.fetched_at == T0 and got.fetched_at.tzinfo is not None
    assert dict(got.headers) == {"ETag": '"e1"', "Content-Type": "text/html"}
    assert archive.get(Request("nustar", "long_range", REQ.url + "?x")) is None
    assert not list((tmp_path / "a").rglob("*.tmp"))  # atomic writes leave no temp files
    assert [r.request for r in archive.records()] == [REQ]


def test_unchanged_content_is_stored_once(tmp_path: Path) -> None:
    archive = RawArchive(tmp_path)
    other = Request("nustar", "long_range", REQ.url + "?range=long")
    archive.put(rec(REQ, b"same"))
    archive.put(rec(other, b"same"))
    archive.put(rec(REQ, b"same", at=T0 + dt.timedelta(days=1)))
    assert len([p for p in (tmp_path / "blobs").rglob("*") if p.is_file()]) == 1
    assert len((tmp_path / "log.jsonl").read_text().splitlines()) == 3
    assert archive.get(REQ).fetched_at == T0 + dt.timedelta(days=1)


def test_record_with_wrong_hash_is_refused(tmp_path: Path) -> None:
    archive = RawArchive(tmp_path)
    bad = RawRecord(REQ, 200, {}, T0, b"abc", "0" * 64)
    with pytest.raises(ArchiveError, match="does not match"):
        archive.put(bad)


def test_naive_fetch_time_is_refused(tmp_path: Path) -> None:
    naive = dt.datetime(2025, 9, 4)  # noqa: DTZ001  (the point of the test)
    with pytest.raises(ValueError, match="tz-aware"):
        RawArchive(tmp_path).put(rec(REQ, b"x", at=naive))


def test_tampered_and_missing_blobs_are_clear_errors(tmp_path: Path) -> None:
    archive = RawArchive(tmp_path)
    archive.put(rec(REQ, b"original bytes"))
    path = archive.blob_path(hashlib.sha256(b"original bytes").hexdigest())
    path.write_bytes(b"edited bytes")
    with pytest.raises(ArchiveError, match="tampered") as info:
        archive.get(REQ)
    assert info.value.source == "nustar" and info.value.url == REQ.url
    path.unlink()
    with pytest.raises(ArchiveError, match="missing"):
        archive.get(REQ)


def test_failure_becomes_latest_but_keeps_last_good_copy(tmp_path: Path) -> None:
    archive = RawArchive(tmp_path)
    archive.put(rec(REQ, b"good", ETag='"g"'))
    archive.put(fail(REQ, 503, T0 + dt.timedelta(hours=1)))
    latest = archive.get(REQ)
    assert latest is not None and not latest.ok and latest.status == 503 and latest.error
    good = archive.get_ok(REQ)
    assert good is not None and good.content == b"good" and good.headers["ETag"] == '"g"'
    archive.put(fail(REQ, 500, T0 + dt.timedelta(hours=2)))  # a second failure still remembers it
    assert archive.get_ok(REQ).content == b"good"
    log = [json.loads(line) for line in archive.log_path.read_text().splitlines()]
    assert [e["status"] for e in log] == [200, 503, 500]


def test_as_of_round_trip(tmp_path: Path) -> None:
    archive = RawArchive(tmp_path)
    assert archive.as_of is None
    archive.set_as_of(dt.date(2025, 9, 4))
    assert archive.as_of == dt.date(2025, 9, 4)
    assert json.loads((tmp_path / "as_of.json").read_text()) == {"as_of": "2025-09-04"}


def test_export_copies_exactly_the_requested_records(tmp_path: Path) -> None:
    archive = RawArchive(tmp_path / "a")
    other = Request("xmm_newton", "short_term", "https://xmm-tools.cosmos.esa.int/external/xmm_sched/short.php")
    archive.put(rec(REQ, b"nustar page"))
    archive.put(rec(other, b"xmm page"))
    archive.set_as_of(dt.date(2025, 9, 4))
    out = archive.export(tmp_path / "b", [other])
    assert [r.content for r in out.records()] == [b"xmm page"] and out.as_of == dt.date(2025, 9, 4)
    with pytest.raises(ArchiveError, match="no record"):
        archive.export(tmp_path / "c", [Request("eso", "runs", "https://example.invalid/")])


# -- recordings -> replay archive ---------------------------------------------------------------
NUSTAR_REQS = [
    Request("nustar", "short_range", REQ.url),
    Request("nustar", "numaster", "https://heasarc.gsfc.nasa.gov/xamin/vo/tap", "POST", kind="tap", query="SELECT 1"),
]
XMM_REQ = Request("xmm_newton", "short_term", "https://xmm-tools.cosmos.esa.int/external/xmm_sched/short.php")


def make_recordings(root: Path) -> Path:
    (root / "nustar").mkdir(parents=True)
    (root / "xmm_newton").mkdir()
    (root / "nustar" / "short_range_reconstructed.html").write_bytes(b"<html>short range</html>")
    (root / "nustar" / "numaster.xml").write_bytes(VOTABLE.read_bytes())
    (root / "nustar" / "responses.json").write_text(
        json.dumps(
            [
                {"request": "short_range", "file": "short_range_reconstructed.html", "status": 200,
                 "content_type": "text/html"},
                {"request": "numaster", "file": "numaster.xml", "status": 200, "content_type": "text/xml"},
            ]
        )
    )  # fmt: skip
    (root / "xmm_newton" / "gone.html").write_bytes(b"<html>404</html>")
    (root / "xmm_newton" / "responses.json").write_text(
        json.dumps([{"request": "short_term", "file": "gone.html", "status": 404, "content_type": "text/html"}])
    )
    return root


def test_build_archive_round_trip(tmp_path: Path) -> None:
    recordings = make_recordings(tmp_path / "recordings")
    fetched = dt.datetime(2025, 9, 4, 0, 0, tzinfo=dt.UTC)
    archive = build_archive(recordings, tmp_path / "replay", [*NUSTAR_REQS, XMM_REQ], dt.date(2025, 9, 4), fetched)
    assert archive.as_of == dt.date(2025, 9, 4)

    replay = ReplayFetcher(tmp_path / "replay")
    page = replay.fetch(NUSTAR_REQS[0])
    assert page.content == b"<html>short range</html>" and page.fetched_at == fetched
    assert page.headers["Content-Type"] == "text/html"
    tap = replay.fetch(NUSTAR_REQS[1])
    assert tap.content == VOTABLE.read_bytes() and len(tap_results(tap).to_table()) == 7
    with pytest.raises(HttpStatusError, match="HTTP 404"):
        replay.fetch(XMM_REQ)
    with pytest.raises(ReplayMissing, match="long_range"):
        replay.fetch(Request("nustar", "long_range", REQ.url + "?long"))


def test_build_archive_is_deterministic_and_replaces_previous(tmp_path: Path) -> None:
    recordings = make_recordings(tmp_path / "recordings")
    reqs = [*NUSTAR_REQS, XMM_REQ]
    build_archive(recordings, tmp_path / "one", reqs, dt.date(2025, 9, 4), T0)
    build_archive(recordings, tmp_path / "two", reqs, dt.date(2025, 9, 4), T0)
    first = all_files(tmp_path / "one")
    assert first == all_files(tmp_path / "two")
    assert "log.jsonl" in first and "as_of.json" in first
    # rebuilding in place gives the same bytes, not an appended log
    build_archive(recordings, tmp_path / "one", reqs, dt.date(2025, 9, 4), T0)
    assert all_files(tmp_path / "one") == first
    # a smaller request list replaces the archive: no stale records
    build_archive(recordings, tmp_path / "one", NUSTAR_REQS[:1], dt.date(2025, 9, 5), T0)
    assert [r.request.name for r in RawArchive(tmp_path / "one").records()] == ["short_range"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one", "recordings", "two"]


def test_build_archive_errors_are_clear(tmp_path: Path) -> None:
    recordings = make_recordings(tmp_path / "recordings")
    missing = Request("nustar", "long_range", REQ.url + "?long")
    with pytest.raises(RecordingError, match=r"no recording for request 'long_range'.*\['numaster', 'short_range'\]"):
        build_archive(recordings, tmp_path / "replay", [*NUSTAR_REQS, missing], dt.date(2025, 9, 4), T0)
    assert not (tmp_path / "replay").exists()  # nothing half-built

    with pytest.raises(RecordingError, match="no recordings index"):
        build_archive(recordings, tmp_path / "replay", [Request("eso", "runs", "https://x.invalid/")],
                      dt.date(2025, 9, 4), T0)  # fmt: skip

    (recordings / "nustar" / "numaster.xml").unlink()
    with pytest.raises(RecordingError, match=r"numaster\.xml of request 'numaster' does not exist"):
        build_archive(recordings, tmp_path / "replay", NUSTAR_REQS, dt.date(2025, 9, 4), T0)

    (tmp_path / "precious").mkdir()
    (tmp_path / "precious" / "notes.txt").write_text("keep me")
    with pytest.raises(RecordingError, match="not a raw archive"):
        build_archive(recordings, tmp_path / "precious", NUSTAR_REQS[:1], dt.date(2025, 9, 4), T0)
    assert (tmp_path / "precious" / "notes.txt").read_text() == "keep me"

    with pytest.raises(ValueError, match="tz-aware"):
        build_archive(recordings, tmp_path / "replay", NUSTAR_REQS[:1], dt.date(2025, 9, 4),
                      dt.datetime(2025, 9, 4))  # noqa: DTZ001  # fmt: skip


def test_build_from_sources_uses_each_source_requests_for_the_date(tmp_path: Path) -> None:
    recordings = make_recordings(tmp_path / "recordings")
    asked: list[dt.date] = []

    def requests(as_of: dt.date) -> list[Request]:
        asked.append(as_of)
        return NUSTAR_REQS

    source = Source("nustar", "NuSTAR", ("nustarsoc.caltech.edu",), None, requests, lambda *a: None, lambda *a: {})
    archive = build_from_sources(recordings, tmp_path / "replay", [source], dt.date(2025, 9, 4))
    assert asked == [dt.date(2025, 9, 4)]
    assert archive.as_of == dt.date(2025, 9, 4)
    assert {r.request.name: r.fetched_at for r in archive.records()} == {
        "short_range": T0,
        "numaster": T0,
    }
