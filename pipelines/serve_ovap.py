"""``voharvest serve-ovap``: the OVAP answers of :mod:`models.visibility.service` over HTTP (wiring only).

Routes (GET and POST, ``application/x-www-form-urlencoded`` bodies; names case-insensitive):

* ``/ovap/<facility>?RA=..&DEC=..&START_TIME=..&END_TIME=..[&MIN_VIS=..][&MAX_VIS=..]`` -- one OVAP
  service per facility (``xmm-newton``, ``nustar``, ``vlt``, ``vlti``, ``apex``, ``integral``);
* ``/ovap?FACILITY=<facility>&...`` -- the same with the facility as a parameter;
* ``/`` -- a plain-text list of the above.

Everything else is a 404 with a DALI error VOTable. The server is the standard library's
``ThreadingHTTPServer``; it binds 127.0.0.1 unless ``--host`` says otherwise. Computations run one at a
time (a lock): astropy's ephemeris and IERS caches are not documented as thread-safe, and they are
CPU-bound under the GIL anyway; the threads only keep a slow client from blocking the others.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, unquote, urlsplit

from models.orbits import TLE
from models.visibility import FACILITIES
from models.visibility.service import Answer, SnapshotMocs, answer, error_answer

#: Largest POST body read, bytes (an OVAP request is a handful of short parameters).
MAX_BODY = 64 * 1024

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


class OvapServer(ThreadingHTTPServer):
    """A ``ThreadingHTTPServer`` carrying the answer's configuration (TLE sets, snapshot MOCs)."""

    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        *,
        tles: Sequence[TLE] | None = None,
        snapshot: SnapshotMocs | None = None,
        quiet: bool = False,
    ) -> None:
        super().__init__(address, OvapHandler)
        self.tles = tles
        self.snapshot = snapshot
        self.quiet = quiet
        self.compute_lock = threading.Lock()

    @property
    def url(self) -> str:
        """``http://host:port`` the server listens on (the port actually bound when 0 was asked)."""
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


class OvapHandler(BaseHTTPRequestHandler):
    """Routes a request to :func:`models.visibility.service.answer` and writes its answer."""

    server: OvapServer
    server_version = "voharvest-ovap/1.0"

    def do_GET(self) -> None:  # noqa: N802  (http.server's method name)
        """Answer a GET: parameters from the query string."""
        self._dispatch(b"")

    def do_POST(self) -> None:  # noqa: N802
        """Answer a POST: parameters from the query string and the form-encoded body."""
        length = self.headers.get("Content-Length")
        try:
            size = int(length) if length is not None else 0
        except ValueError:
            self._send(error_answer(f"Content-Length {length!r} is not a number", 400))
            return
        if size < 0 or size > MAX_BODY:
            self._send(error_answer(f"request body of {size} bytes: at most {MAX_BODY} are read", 413))
            return
        kind = (self.headers.get("Content-Type") or "application/x-www-form-urlencoded").split(";")[0].strip()
        body = self.rfile.read(size) if size else b""
        if kind.lower() != "application/x-www-form-urlencoded":
            self._send(error_answer(f"POST body of type {kind!r}: send application/x-www-form-urlencoded", 415))
            return
        self._dispatch(body)

    def _dispatch(self, body: bytes) -> None:
        split = urlsplit(self.path)
        parts = [unquote(p) for p in split.path.split("/") if p]
        if not parts:
            self._send(Answer(200, "text/plain; charset=utf-8", _index().encode()))
            return
        if parts[0].lower() != "ovap" or len(parts) > 2:
            self._send(error_answer(f"no such resource {split.path!r}: ask /ovap/<facility> or /ovap", 404))
            return
        try:
            pairs = parse_qsl(split.query, keep_blank_values=True, encoding="utf-8", errors="strict")
            pairs += parse_qsl(body.decode("utf-8"), keep_blank_values=True, encoding="utf-8", errors="strict")
        except UnicodeDecodeError as exc:
            self._send(error_answer(f"parameters are not UTF-8 ({exc.reason} at byte {exc.start})", 400))
            return
        facility = parts[1] if len(parts) == 2 else None
        with self.server.compute_lock:
            result = answer(pairs, facility, tles=self.server.tles, snapshot=self.server.snapshot)
        self._send(result)

    def _send(self, reply: Answer) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002  (http.server's signature)
        """One line per request on stderr, unless the server is quiet."""
        if not self.server.quiet:
            super().log_message(format, *args)


def _index() -> str:
    lines = ["voharvest OVAP services (IVOA Note OVAP 0.1 parameters; GET or POST):", ""]
    lines += [f"  /ovap/{f.lower()}?RA=..&DEC=..&START_TIME=..&END_TIME=..[&MIN_VIS=s][&MAX_VIS=s]" for f in FACILITIES]
    lines += ["  /ovap?FACILITY=<facility>&RA=..  (the same, facility as a parameter)", ""]
    lines += ["Optional: RESPONSEFORMAT=votable|csv|json, FLAVOUR=ovap|objobssap.", ""]
    return "\n".join(lines)


def make_server(
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    *,
    tles: Sequence[TLE] | None = None,
    snapshot: SnapshotMocs | None = None,
    quiet: bool = False,
) -> OvapServer:
    """A bound (not yet serving) OVAP server.

    Parameters
    ----------
    host : str
        Address to bind (default 127.0.0.1: local only).
    port : int
        Port (0: any free port; read it back from ``server.url``).
    tles : sequence of TLE, optional
        Element sets to choose from (default: the bundled ones).
    snapshot : SnapshotMocs, optional
        Answer from a snapshot's visibility MOCs instead of computing.
    quiet : bool
        No request log on stderr.

    Returns
    -------
    OvapServer
        Call ``serve_forever()`` (and ``shutdown()`` from another thread).
    """
    return OvapServer((host, port), tles=tles, snapshot=snapshot, quiet=quiet)


def serve(server: OvapServer) -> int:
    """Serve until interrupted (Ctrl-C); announce the URL on stderr."""
    print(f"voharvest serve-ovap: listening on {server.url}/ovap/<facility> (Ctrl-C stops)", file=sys.stderr)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
