"""A real HTTP server on 127.0.0.1 whose answers are scripted per path by the test.

Each path has a queue of :class:`Reply` objects (status, headers, body, delays, a cut after *n* body
bytes, no Content-Length); the last reply repeats once the queue is down to one. A path can instead
have a responder, a function of the request received (:class:`Seen`) returning its reply, for
answers that depend on the query string or form (:meth:`ScriptedServer.respond`). Every request
received is recorded (method, path, query, headers, body) so tests can assert what was retried and
which conditional headers were sent. Use :func:`running_server` or the ``http_server`` fixture.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import pytest


@dataclass
class Reply:
    """One scripted answer."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before the status line
    cut_after: int | None = None  # send only this many body bytes, then drop the connection
    content_length: bool = True  # False: no Content-Length, body delimited by closing the connection


@dataclass
class Seen:
    """One request as the server received it."""

    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: bytes

    def form(self) -> dict[str, str]:
        """The body read as an URL-encoded form."""
        return dict(parse_qsl(self.body.decode()))


class ScriptedServer:
    """Threaded ``http.server`` bound to 127.0.0.1 on a free port."""

    def __init__(self) -> None:
        self._scripts: dict[str, deque[Reply]] = {}
        self._responders: dict[str, Callable[[Seen], Reply]] = {}
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._active = 0
        self.seen: list[Seen] = []
        self.bytes_sent: dict[str, int] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

            def _handle(self) -> None:
                with server._lock:
                    server._active += 1
                try:
                    self._answer()
                finally:
                    with server._lock:
                        server._active -= 1
                        server._idle.notify_all()

            def _answer(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                seen = Seen(self.command, parts.path, parse_qsl(parts.query), dict(self.headers.items()), body)
                with server._lock:
                    server.seen.append(seen)
                    queue = server._scripts.get(parts.path)
                    responder = server._responders.get(parts.path)
                    if responder is not None:
                        reply = None
                    elif queue:
                        reply = queue.popleft() if len(queue) > 1 else queue[0]
                    else:
                        reply = Reply(404, b"unscripted path " + parts.path.encode())
                if reply is None:
                    try:
                        reply = responder(seen)  # type: ignore[misc]
                    except Exception as exc:  # a broken responder is a 500 naming it, not a hung client
                        reply = Reply(500, f"responder failed: {exc!r}".encode())
                try:
                    self._send(reply, parts.path)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True

            def _send(self, reply: Reply, path: str) -> None:
                if reply.delay:
                    time.sleep(reply.delay)
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                if reply.content_length and "Content-Length" not in reply.headers:
                    self.send_header("Content-Length", str(len(reply.body)))
                if not reply.content_length or reply.cut_after is not None:
                    self.send_header("Connection", "close")
                    self.close_connection = True
                self.end_headers()
                body = reply.body if reply.cut_after is None else reply.body[: reply.cut_after]
                sent = 0
                try:
                    for start in range(0, len(body), 65536):
                        chunk = body[start : start + 65536]
                        self.wfile.write(chunk)
                        sent += len(chunk)
                    self.wfile.flush()
                finally:
                    with server._lock:
                        server.bytes_sent[path] = server.bytes_sent.get(path, 0) + sent
                if reply.cut_after is not None:
                    self.connection.shutdown(socket.SHUT_RDWR)

            do_GET = _handle  # noqa: N815
            do_POST = _handle  # noqa: N815
            do_HEAD = _handle  # noqa: N815

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def script(self, path: str, *replies: Reply) -> str:
        """Queue replies for ``path``; returns the full URL of the path."""
        with self._lock:
            self._scripts[path] = deque(replies)
        return self.url + path

    def respond(self, path: str, responder: Callable[[Seen], Reply]) -> str:
        """Answer ``path`` with ``responder(request)`` (takes precedence over scripted replies); returns the URL."""
        with self._lock:
            self._responders[path] = responder
        return self.url + path

    def requests_to(self, path: str) -> list[Seen]:
        """Requests received for ``path``, in order."""
        with self._lock:
            return [s for s in self.seen if s.path == path]

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Block until no request is being answered (e.g. a handler still writing a large body)."""
        with self._idle:
            if not self._idle.wait_for(lambda: self._active == 0, timeout=timeout):
                raise TimeoutError(f"server still answering {self._active} request(s) after {timeout} s")

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


@contextlib.contextmanager
def running_server() -> Iterator[ScriptedServer]:
    """A started server, stopped on exit."""
    server = ScriptedServer()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def http_server() -> Iterator[ScriptedServer]:
    """For a conftest or ``pytest_plugins``; a module importing this file can wrap :func:`running_server`."""
    with running_server() as server:
        yield server
