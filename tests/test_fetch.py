"""The real fetch code against a real HTTP server on 127.0.0.1 (only sleeping and clocks are injected)."""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import json
import random
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from scrapers.archive import ArchiveError, RawArchive
from scrapers.base import Request
from scrapers.fetch import (
    USER_AGENT,
    FetchConnectionError,
    FetchTimeout,
    HttpFetcher,
    HttpStatusError,
    ReplayFetcher,
    ReplayMissing,
    ResponseTooLarge,
    TapQueryError,
    TruncatedResponse,
    tap_error_message,
    tap_results,
)
from tests.httpserver import Reply, ScriptedServer, running_server

VOTABLE = Path(__file__).parent / "data" / "fetch" / "intscw_7rows_votable_rec2022-03-31.xml"
NOW = dt.datetime(2025, 9, 4, 6, 0, tzinfo=dt.UTC)


class FakeTime:
    """Monotonic clock that advances only when slept: waits are recorded, never spent."""

    def __init__(self) -> None:
        self.t = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds


def make_fetcher(archive: RawArchive, fake: FakeTime, **kw) -> HttpFetcher:
    options = {
        "timeout": (2.0, 2.0),
        "max_retries": 2,
        "backoff": 1.0,
        "min_interval_per_host": 0.0,
        "sleep": fake.sleep,
        "clock": fake.clock,
        "now": lambda: NOW,
        "rng": random.Random(7),
    }
    options.update(kw)
    return HttpFetcher(archive, **options)


def req(url: str, name: str = "page", **kw) -> Request:
    return Request(source="testsrc", name=name, url=url, **kw)


def log_lines(archive: RawArchive) -> list[dict]:
    return [json.loads(line) for line in archive.log_path.read_text().splitlines()]


def blob_files(archive: RawArchive) -> list[Path]:
    folder = archive.root / "blobs"
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


@pytest.fixture(name="http_server")
def _http_server() -> Iterator[ScriptedServer]:
    """A real scripted HTTP server on 127.0.0.1."""
    with running_server() as server:
        yield server


@pytest.fixture
def archive(tmp_path: Path) -> RawArchive:
    return RawArchive(tmp_path / "raw")


def test_success_is_archived_with_hash_time_and_user_agent(http_server: ScriptedServer, archive: RawArchive) -> None:
    body = b"<html><table><tr><td>80801324002</td></tr></table></html>"
    url = http_server.script("/sched", Reply(200, body, {"Content-Type": "text/html", "ETag": '"v1"'}))
    fake = FakeTime()
    record = make_fetcher(archive, fake).fetch(req(url, params=(("week", "36"),)))

    assert record.ok and record.content == body and record.status == 200
    sha = hashlib.sha256(body).hexdigest()
    assert record.sha256 == sha
    assert record.fetched_at == NOW and record.fetched_at.utcoffset() == dt.timedelta(0)
    assert record.headers["ETag"] == '"v1"' and record.headers["Content-Type"] == "text/html"
    seen = http_server.requests_to("/sched")
    assert len(seen) == 1
    assert seen[0].headers["User-Agent"] == USER_AGENT and USER_AGENT.startswith("voharvest/")
    assert seen[0].query == [("week", "36")]
    assert archive.blob_path(sha).read_bytes() == body
    stored = json.loads(archive.record_path(record.request).read_text())
    assert stored["sha256"] == sha and stored["status"] == 200 and stored["error"] is None
    assert stored["fetched_at"] == "2025-09-04T06:00:00+00:00"
    assert stored["params"] == [["week", "36"]]
    (line,) = log_lines(archive)
    assert line["sha256"] == sha and line["attempts"] == 1 and line["retried"] == []
    assert fake.sleeps == []


def test_slow_response_times_out_after_retries(http_server: ScriptedServer, archive: RawArchive) -> None:
    url = http_server.script("/slow", Reply(200, b"late", delay=1.5))
    fake = FakeTime()
    fetcher = make_fetcher(archive, fake, timeout=(2.0, 0.2), max_retries=2)
    with pytest.raises(FetchTimeout, match=r"after 3 attempts") as info:
        fetcher.fetch(req(url))
    assert info.value.attempts == 3
    assert len(http_server.requests_to("/slow")) == 3
    assert len(fake.sleeps) == 2  # two backoffs, jittered within [0.5, 1) x 1 s and x 2 s
    assert 0.5 <= fake.sleeps[0] < 1.0 and 1.0 <= fake.sleeps[1] < 2.0
    (line,) = log_lines(archive)
    assert line["error"].startswith("FetchTimeout:") and line["attempts"] == 3 and len(line["retried"]) == 2
    assert blob_files(archive) == []


def test_500_then_200_succeeds_after_one_retry(http_server: ScriptedServer, archive: RawArchive) -> None:
    url = http_server.script("/flaky", Reply(500, b"oops"), Reply(200, b"fine"))
    fake = FakeTime()
    record = make_fetcher(archive, fake, backoff=4.0).fetch(req(url))
    assert record.content == b"fine"
    assert len(http_server.requests_to("/flaky")) == 2
    assert len(fake.sleeps) == 1 and 2.0 <= fake.sleeps[0] < 4.0
    (line,) = log_lines(archive)
    assert line["attempts"] == 2 and line["retried"][0].startswith("HTTP 500")


def test_429_honours_retry_after_seconds(http_server: ScriptedServer, archive: RawArchive) -> None:
    url = http_server.script("/busy", Reply(429, b"slow down", {"Retry-After": "2"}), Reply(200, b"ok"))
    fake = FakeTime()
    record = make_fetcher(archive, fake, backoff=0.1).fetch(req(url))
    assert record.content == b"ok"
    assert len(fake.sleeps) == 1 and fake.sleeps[0] >= 2.0
    assert len(http_server.requests_to("/busy")) == 2


def test_429_honours_retry_after_http_date(http_server: ScriptedServer, archive: RawArchive) -> None:
    when = email.utils.format_datetime(NOW + dt.timedelta(seconds=30), usegmt=True)
    url = http_server.script("/busy", Reply(503, b"", {"Retry-After": when}), Reply(200, b"ok"))
    fake = FakeTime()
    make_fetcher(archive, fake, backoff=0.1).fetch(req(url))
    assert fake.sleeps == [30.0]


def test_retry_after_beyond_cap_fails_without_waiting(http_server: ScriptedServer, archive: RawArchive) -> None:
    url = http_server.script("/busy", Reply(429, b"", {"Retry-After": "3600"}), Reply(200, b"ok"))
    fake = FakeTime()
    with pytest.raises(HttpStatusError, match="Retry-After 3600 s exceeds 300 s") as info:
        make_fetcher(archive, fake).fetch(req(url))
    assert info.value.status == 429
    assert fake.sleeps == [] and len(http_server.requests_to("/busy")) == 1


def test_404_is_not_retried_and_recorded_as_failure(http_server: ScriptedServer, archive: RawArchive) -> None:
    url = http_server.script("/gone", Reply(404, b"Not Found here"), Reply(200, b"never"))
    fake = FakeTime()
    request = req(url)
    with pytest.raises(HttpStatusError) as info:
        make_fetcher(archive, fake).fetch(request)
    assert info.value.status == 404 and info.value.url == url and "Not Found here" in str(info.value)
    assert len(http_server.requests_to("/gone")) == 1 and fake.sleeps == []
    assert blob_files(archive) == []
    (line,) = log_lines(archive)
    assert line["status"] == 404 and line["error"].startswith("HttpStatusError: HTTP 404") and line["sha256"] is None
    failed = archive.get(request)
    assert failed is not None and not failed.ok and failed.status == 404
    # the failure replays as the same error type
    with pytest.raises(HttpStatusError, match="replayed failure"):
        ReplayFetcher(archive.root).fetch(request)


def test_connection_cut_mid_body_is_truncated_and_not_archived(
    http_server: ScriptedServer, archive: RawArchive
) -> None:
    body = b"x" * 200_000
    url = http_server.script("/cut", Reply(200, body, cut_after=70_000))
    fake = FakeTime()
    request = req(url)
    with pytest.raises(TruncatedResponse):
        make_fetcher(archive, fake, max_retries=1).fetch(request)
    assert len(http_server.requests_to("/cut")) == 2  # retried once
    assert blob_files(archive) == []
    assert archive.get_ok(request) is None
    (line,) = log_lines(archive)
    assert line["error"].startswith("TruncatedResponse:")


def test_cut_does_not_overwrite_earlier_good_copy(http_server: ScriptedServer, archive: RawArchive) -> None:
    url = http_server.script("/page", Reply(200, b"good copy"))
    fake = FakeTime()
    request = req(url)
    make_fetcher(archive, fake).fetch(request)
    http_server.script("/page", Reply(200, b"new copy that breaks", cut_after=5))
    with pytest.raises(TruncatedResponse):
        make_fetcher(archive, fake, max_retries=0).fetch(request)
    kept = archive.get_ok(request)
    assert kept is not None and kept.content == b"good copy"
    assert [p.read_bytes() for p in blob_files(archive)] == [b"good copy"]


def test_oversized_body_with_content_length_is_not_read(http_server: ScriptedServer, archive: RawArchive) -> None:
    url = http_server.script("/big", Reply(200, b"y" * 3_000_000))
    fake = FakeTime()
    with pytest.raises(ResponseTooLarge, match="Content-Length 3000000 exceeds the 1000000-byte cap"):
        make_fetcher(archive, fake, max_bytes=1_000_000).fetch(req(url))
    assert len(http_server.requests_to("/big")) == 1  # not retried
    assert blob_files(archive) == []


def test_oversized_body_without_length_stops_at_cap(http_server: ScriptedServer, archive: RawArchive) -> None:
    size = 48 * 1024 * 1024
    url = http_server.script("/stream", Reply(200, b"z" * size, content_length=False))
    fake = FakeTime()
    with pytest.raises(ResponseTooLarge, match="stopped after") as info:
        make_fetcher(archive, fake, max_bytes=1_000_000).fetch(req(url))
    read = int(str(info.value).split("stopped after ")[1].split(" ")[0])
    assert 1_000_000 < read <= 1_000_000 + 65536
    http_server.wait_idle()  # the handler has noticed the closed connection
    assert http_server.bytes_sent["/stream"] < size
    assert blob_files(archive) == []


def test_304_reuses_archived_bytes(http_server: ScriptedServer, archive: RawArchive) -> None:
    lm = "Wed, 03 Sep 2025 10:00:00 GMT"
    url = http_server.script(
        "/cond",
        Reply(200, b"schedule v1", {"ETag": '"abc"', "Last-Modified": lm}),
        Reply(304, b"", {"ETag": '"abc"'}),
    )
    fake = FakeTime()
    request = req(url)
    first = make_fetcher(archive, fake).fetch(request)
    later = dt.datetime(2025, 9, 5, tzinfo=dt.UTC)
    second = make_fetcher(archive, fake, now=lambda: later).fetch(request)

    seen = http_server.requests_to("/cond")
    assert "If-None-Match" not in seen[0].headers
    assert seen[1].headers["If-None-Match"] == '"abc"' and seen[1].headers["If-Modified-Since"] == lm
    assert second.from_cache and not first.from_cache
    assert second.content == b"schedule v1" and second.sha256 == first.sha256 and second.status == 200
    assert second.fetched_at == later
    assert len(blob_files(archive)) == 1
    lines = log_lines(archive)
    assert [ln["status"] for ln in lines] == [200, 304] and lines[1]["from_cache"] is True
    assert ReplayFetcher(archive.root).fetch(request).content == b"schedule v1"


def test_identical_content_is_stored_once(http_server: ScriptedServer, archive: RawArchive) -> None:
    a = http_server.script("/a", Reply(200, b"same bytes"))
    b = http_server.script("/b", Reply(200, b"same bytes"))
    fake = FakeTime()
    fetcher = make_fetcher(archive, fake)
    fetcher.fetch(req(a, "a"))
    fetcher.fetch(req(b, "b"))
    fetcher.fetch(req(a, "a"))
    assert len(blob_files(archive)) == 1
    assert len(list(archive.entries())) == 2
    assert len(log_lines(archive)) == 3


def test_per_host_rate_limit_spaces_requests(http_server: ScriptedServer, archive: RawArchive) -> None:
    url = http_server.script("/r", Reply(200, b"r"))
    fake = FakeTime()
    fetcher = make_fetcher(archive, fake, min_interval_per_host=5.0)
    fetcher.fetch(req(url, "one"))
    fetcher.fetch(req(url + "?p=2", "two"))
    assert fake.sleeps == [5.0]
    fake.t += 10  # time passes: no wait needed
    fetcher.fetch(req(url + "?p=3", "three"))
    assert fake.sleeps == [5.0]
    other_host = f"http://localhost:{http_server.port}/r"
    fetcher.fetch(req(url + "?p=4", "four"))  # hits 127.0.0.1 again: waits
    fetcher.fetch(req(other_host, "five"))  # a different host name: its own slot
    assert fake.sleeps == [5.0, 5.0]


def test_connection_refused_is_retried_then_raised(archive: RawArchive) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    fake = FakeTime()
    with pytest.raises(FetchConnectionError) as info:
        make_fetcher(archive, fake, max_retries=1).fetch(req(f"http://127.0.0.1:{port}/x"))
    assert info.value.attempts == 2 and len(fake.sleeps) == 1
    assert log_lines(archive)[0]["status"] == 0


ADQL = "SELECT scw_id, ra, dec FROM intscw WHERE start_date > 59000"


def test_tap_query_is_posted_archived_and_parsed(http_server: ScriptedServer, archive: RawArchive) -> None:
    votable = VOTABLE.read_bytes()
    http_server.script("/tap/sync", Reply(200, votable, {"Content-Type": "text/xml"}))
    request = Request("integral", "intscw", http_server.url + "/tap", method="POST", kind="tap", query=ADQL)
    fake = FakeTime()
    record = make_fetcher(archive, fake).fetch(request)

    (seen,) = http_server.requests_to("/tap/sync")
    assert seen.method == "POST"
    assert seen.form() == {"REQUEST": "doQuery", "LANG": "ADQL", "FORMAT": "votable", "QUERY": ADQL}
    assert record.content == votable
    assert archive.blob_path(record.sha256).read_bytes() == votable
    live = tap_results(record).to_table()
    assert len(live) == 7
    assert list(live["scw_id"][:2]) == ["228000160010", "228100180010"]

    replayed = ReplayFetcher(archive.root).fetch(request)
    assert replayed.content == votable
    again = tap_results(replayed).to_table()
    assert list(again["scw_id"]) == list(live["scw_id"])


# A DALI 1.1 §4.4 error document, written here (not recorded); the message is HEASARC's real
# wording from fixtures/errors/heasarc_table_does_not_exist_rec2024-05-27.txt.
TAP_ERROR = b"""<?xml version="1.0" encoding="UTF-8"?>
<VOTABLE version="1.4" xmlns="http://www.ivoa.net/xml/VOTable/v1.3">
<RESOURCE type="results">
<INFO name="QUERY_STATUS" value="ERROR">Table integral_rev3_scw does not seem to exist!</INFO>
</RESOURCE>
</VOTABLE>
"""


def test_tap_error_document_with_200_is_a_clear_error(http_server: ScriptedServer, archive: RawArchive) -> None:
    http_server.script("/tap/sync", Reply(200, TAP_ERROR, {"Content-Type": "application/x-votable+xml"}))
    request = Request("integral", "rev3", http_server.url + "/tap", method="POST", kind="tap", query=ADQL)
    fake = FakeTime()
    with pytest.raises(TapQueryError, match="does not seem to exist") as info:
        make_fetcher(archive, fake).fetch(request)
    assert info.value.source == "integral" and "'rev3'" in str(info.value)
    assert len(http_server.requests_to("/tap/sync")) == 1 and fake.sleeps == []
    assert blob_files(archive) == []
    with pytest.raises(TapQueryError, match="does not seem to exist"):
        ReplayFetcher(archive.root).fetch(request)


def test_tap_error_document_with_400_is_not_retried(http_server: ScriptedServer, archive: RawArchive) -> None:
    http_server.script("/tap/sync", Reply(400, TAP_ERROR))
    request = Request("integral", "rev3", http_server.url + "/tap", method="POST", kind="tap", query=ADQL)
    fake = FakeTime()
    with pytest.raises(TapQueryError, match=r"HTTP 400.*does not seem to exist") as info:
        make_fetcher(archive, fake).fetch(request)
    assert info.value.status == 400
    assert len(http_server.requests_to("/tap/sync")) == 1


def test_tap_error_message_scan() -> None:
    assert tap_error_message(VOTABLE.read_bytes()) is None
    assert tap_error_message(TAP_ERROR) == "Table integral_rev3_scw does not seem to exist!"
    ok = b'<VOTABLE><RESOURCE><INFO name="QUERY_STATUS" value="OK"/></RESOURCE></VOTABLE>'
    assert tap_error_message(ok) is None


def test_replay_serves_identical_bytes_and_names_missing(http_server: ScriptedServer, archive: RawArchive) -> None:
    fake = FakeTime()
    fetcher = make_fetcher(archive, fake)
    bodies = {"/p1": b"page one", "/p2": bytes(range(256)) * 10}
    requests = []
    for path, body in bodies.items():
        requests.append(req(http_server.script(path, Reply(200, body)), path.strip("/")))
    live = [fetcher.fetch(r) for r in requests]
    http_server.stop()  # no network from here on

    replay = ReplayFetcher(archive.root)
    for request, record in zip(requests, live, strict=True):
        again = replay.fetch(request)
        assert again.content == record.content and again.sha256 == record.sha256
        assert again.fetched_at == record.fetched_at and again.request == request

    missing = req(http_server.url + "/p3", "p3")
    with pytest.raises(ReplayMissing) as info:
        replay.fetch(missing)
    text = str(info.value)
    assert missing.url in text and str(archive.root) in text and "'p3'" in text and "['p1', 'p2']" in text

    # a changed query string is a different request, not a silent match
    with pytest.raises(ReplayMissing):
        replay.fetch(req(requests[0].url, "p1", params=(("x", "1"),)))


def test_replay_detects_tampered_blob(http_server: ScriptedServer, archive: RawArchive) -> None:
    url = http_server.script("/t", Reply(200, b"original"))
    fake = FakeTime()
    request = req(url)
    record = make_fetcher(archive, fake).fetch(request)
    archive.blob_path(record.sha256).write_bytes(b"origina1")
    with pytest.raises(ArchiveError, match="tampered"):
        ReplayFetcher(archive.root).fetch(request)


def test_replay_of_missing_archive_dir_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does-not-exist"):
        ReplayFetcher(tmp_path / "does-not-exist")
