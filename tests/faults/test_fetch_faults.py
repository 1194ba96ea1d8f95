"""Fetch faults against real servers on 127.0.0.1: deadlines, redirects, bombs, truncation.

The scripted server of ``tests/httpserver.py`` answers whole bodies; the slow-drip and truncation
cases need byte-level control, so this file also runs a tiny raw-socket server of its own.
"""

from __future__ import annotations

import gzip
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from scrapers.archive import RawArchive
from scrapers.base import Request
from scrapers.fetch import (
    FetchTimeout,
    HttpFetcher,
    RedirectRefused,
    ReplayFetcher,
    ResponseTooLarge,
    TruncatedResponse,
)
from tests.httpserver import Reply, ScriptedServer, running_server


class RawServer:
    """One-shot-per-connection socket server: sends scripted header bytes then body pieces with pauses."""

    def __init__(self, head: bytes, pieces: list[bytes], pause: float, close_after: bool = True) -> None:
        self.head, self.pieces, self.pause, self.close_after = head, pieces, pause, close_after
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/page"
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.sock.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            with conn:
                conn.recv(65536)
                try:
                    conn.sendall(self.head)
                    for piece in self.pieces:
                        if self.stop.is_set():
                            break
                        conn.sendall(piece)
                        time.sleep(self.pause)
                except OSError:
                    continue
                if self.close_after:
                    conn.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        self.sock.close()


@pytest.fixture(name="http_server")
def _http_server() -> Iterator[ScriptedServer]:
    with running_server() as server:
        yield server


@pytest.fixture
def archive(tmp_path: Path) -> RawArchive:
    return RawArchive(tmp_path / "raw")


def fetcher(archive: RawArchive, **kw: object) -> HttpFetcher:
    options: dict[str, object] = {
        "timeout": (2.0, 2.0),
        "max_retries": 0,
        "min_interval_per_host": 0.0,
        "sleep": lambda s: None,
    }
    options.update(kw)
    return HttpFetcher(archive, **options)  # type: ignore[arg-type]


def req(url: str, source: str = "nustar") -> Request:
    return Request(source=source, name="page", url=url)


def test_slow_drip_body_stops_at_the_total_deadline(archive: RawArchive) -> None:
    # 1 byte every 0.1 s for 200 bytes (20 s); each read is quick, so only a total deadline stops it.
    server = RawServer(b"HTTP/1.1 200 OK\r\nContent-Length: 200\r\n\r\n", [b"x"] * 200, pause=0.1)
    try:
        start = time.monotonic()
        with pytest.raises(FetchTimeout, match=r"deadline of 1 s exceeded mid-body after \d+ bytes") as info:
            fetcher(archive, deadline=1.0).fetch(req(server.url))
        elapsed = time.monotonic() - start
    finally:
        server.close()
    assert elapsed < 3.0, f"the drip was read for {elapsed:.1f} s"
    assert "nustar" in str(info.value) and server.url in str(info.value)
    (line,) = [json.loads(x) for x in archive.log_path.read_text().splitlines()]
    assert line["error"].startswith("FetchTimeout")


def test_per_source_deadline_overrides_the_default(archive: RawArchive) -> None:
    server = RawServer(b"HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n", [b"y"] * 40, pause=0.05)
    try:
        record = fetcher(archive, deadline=0.5, deadlines={"eso": 30.0}).fetch(req(server.url, source="eso"))
    finally:
        server.close()
    assert record.content == b"y" * 40


def test_truncated_body_counts_the_bytes_that_arrived(archive: RawArchive) -> None:
    server = RawServer(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", [b"z" * 500], pause=0.05)
    try:
        with pytest.raises(TruncatedResponse, match=r"after 500 bytes|got 500 bytes"):
            fetcher(archive).fetch(req(server.url))
    finally:
        server.close()


def test_gzip_bomb_stops_at_the_decoded_size_cap(http_server: ScriptedServer, archive: RawArchive) -> None:
    bomb = gzip.compress(b"\0" * (64 * 1024 * 1024))  # 64 MiB of zeros in ~64 KiB
    assert len(bomb) < 200_000
    url = http_server.script("/bomb", Reply(body=bomb, headers={"Content-Encoding": "gzip"}))
    with pytest.raises(ResponseTooLarge, match="1048576-byte cap"):
        fetcher(archive, max_bytes=1024 * 1024).fetch(req(url))


def test_same_host_redirect_is_followed_and_every_hop_recorded(
    http_server: ScriptedServer, archive: RawArchive
) -> None:
    http_server.script("/moved", Reply(301, headers={"Location": "/step"}))
    http_server.script("/step", Reply(302, headers={"Location": http_server.url + "/final?x=1"}))
    http_server.script("/final", Reply(body=b"<html>here</html>"))
    record = fetcher(archive).fetch(req(http_server.url + "/moved"))
    assert record.content == b"<html>here</html>"
    assert record.redirects == (http_server.url + "/step", http_server.url + "/final?x=1")
    assert record.final_url == http_server.url + "/final?x=1"
    replayed = ReplayFetcher(archive).fetch(req(http_server.url + "/moved"))
    assert replayed.redirects == record.redirects and replayed.content == record.content


def test_cross_host_redirect_is_refused_and_nothing_is_read(http_server: ScriptedServer, archive: RawArchive) -> None:
    http_server.script("/elsewhere", Reply(302, headers={"Location": f"http://localhost:{http_server.port}/x"}))
    http_server.script("/x", Reply(body=b"other host's bytes"))
    with pytest.raises(RedirectRefused, match=r"host 'localhost' is not the request's host nor allowed for 'nustar'"):
        fetcher(archive).fetch(req(http_server.url + "/elsewhere"))
    assert http_server.requests_to("/x") == []
    (line,) = [json.loads(x) for x in archive.log_path.read_text().splitlines()]
    assert line["error"].startswith("RedirectRefused")


def test_allow_listed_host_is_followed(http_server: ScriptedServer, archive: RawArchive) -> None:
    http_server.script("/elsewhere", Reply(302, headers={"Location": f"http://localhost:{http_server.port}/x"}))
    http_server.script("/x", Reply(body=b"mirror"))
    record = fetcher(archive, redirect_hosts={"nustar": ["localhost"]}).fetch(req(http_server.url + "/elsewhere"))
    assert record.content == b"mirror" and record.final_url.startswith("http://localhost:")


@pytest.mark.parametrize("location", ["file:///etc/passwd", "ftp://127.0.0.1/x", "gopher://127.0.0.1/"])
def test_non_http_redirects_are_refused(http_server: ScriptedServer, archive: RawArchive, location: str) -> None:
    http_server.script("/trap", Reply(302, headers={"Location": location}))
    with pytest.raises(RedirectRefused, match="is not http"):
        fetcher(archive).fetch(req(http_server.url + "/trap"))


def test_redirect_loop_is_refused(http_server: ScriptedServer, archive: RawArchive) -> None:
    http_server.script("/a", Reply(302, headers={"Location": "/b"}))
    http_server.script("/b", Reply(302, headers={"Location": "/a"}))
    with pytest.raises(RedirectRefused, match="redirect loop"):
        fetcher(archive).fetch(req(http_server.url + "/a"))


def test_public_source_may_not_be_sent_to_a_loopback_address(archive: RawArchive) -> None:
    # The policy alone: a public request URL whose allow-listed redirect target is loopback.
    live = fetcher(archive, redirect_hosts={"nustar": ["127.0.0.1"]})
    request = req("https://nustarsoc.caltech.edu/NuSTAR_Public/NuSTAROperationSite/Schedule.php")
    with pytest.raises(RedirectRefused, match="private or loopback"):
        live._check_redirect(request, request.url, "http://127.0.0.1:8080/admin", [])


def test_429_with_a_huge_retry_after_fails_at_once_naming_it(http_server: ScriptedServer, archive: RawArchive) -> None:
    url = http_server.script("/busy", Reply(429, b"slow down", headers={"Retry-After": "86400"}))
    waits: list[float] = []
    with pytest.raises(Exception, match=r"Retry-After 86400 s exceeds 300 s") as info:
        fetcher(archive, max_retries=3, sleep=waits.append).fetch(req(url))
    assert waits == [], "a day-long Retry-After is not waited for"
    assert len(http_server.requests_to("/busy")) == 1
    assert "nustar" in str(info.value) and url in str(info.value)


def test_oversized_body_is_not_read_past_the_cap(http_server: ScriptedServer, archive: RawArchive) -> None:
    url = http_server.script("/huge", Reply(body=b"x" * (3 * 1024 * 1024)))
    with pytest.raises(ResponseTooLarge, match="exceeds the 1048576-byte cap"):
        fetcher(archive, max_bytes=1024 * 1024).fetch(req(url))
    assert not any((archive.root / "blobs").rglob("*")) if (archive.root / "blobs").exists() else True
