"""A headless Chromium driven over the DevTools protocol: just enough to look at a web UI like a user.

No browser-automation package is needed: Chromium (the Debian package) is started in its own process
group with a fresh profile and ``--remote-debugging-port=0``; the port it picked is read from the
``DevToolsActivePort`` file it writes, and one page is driven over a websocket (``websockets``, a
Dagster dependency). Every wait polls a condition in the page with a deadline, never a fixed sleep.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect

#: Flags that work on a machine without a display, sandbox or outside network (env notes).
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-proxy-server",
    "--disable-dev-shm-usage",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
)


#: HTTP to 127.0.0.1 only: never through a proxy from the environment.
LOCAL = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class BrowserError(RuntimeError):
    """A browser or server step failed, or a page or server never reached the expected state in time."""


def find_chromium() -> str:
    """The Chromium executable (``$CHROMIUM``, else ``chromium`` on PATH)."""
    exe = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        raise BrowserError(
            "chromium not found (PATH or $CHROMIUM): install the Debian package `chromium` (.ci/run does)"
        )
    return exe


def group_members(pgid: int) -> list[str]:
    """Live (non-zombie) processes of a process group, as ``pid command`` strings (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
            cmdline = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # the process ended while we looked
            continue
        state, _ppid, pgrp = text[text.rindex(")") + 2 :].split()[:3]
        if int(pgrp) == pgid and state != "Z":
            found.append(f"{stat.parent.name} {cmdline.strip()[:200]}")
    return found


def stop_group(proc: subprocess.Popen[Any], grace_s: float = 20.0) -> list[str]:
    """SIGTERM a process group led by ``proc``, SIGKILL what is left after ``grace_s``; returns survivors."""
    pgid = proc.pid
    for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 10.0)):
        if not group_members(pgid):
            break
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + wait
        while group_members(pgid) and time.monotonic() < deadline:
            if proc.poll() is None:
                try:
                    proc.wait(timeout=0.2)
                except subprocess.TimeoutExpired:
                    pass
            else:
                time.sleep(0.1)
    if proc.poll() is None:
        proc.wait(timeout=5)
    return group_members(pgid)


def wait_until(condition: Callable[[], Any], timeout_s: float, what: str, interval_s: float = 0.2) -> Any:
    """Poll ``condition`` until it returns something truthy; :class:`BrowserError` naming ``what`` if it never does."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise BrowserError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(interval_s)


class Chromium:
    """One headless Chromium with one page; use as a context manager (always stopped on exit)."""

    def __init__(self, profile_dir: Path, log_path: Path, width: int = 1600, height: int = 1000) -> None:
        self.profile_dir = Path(profile_dir)
        self.log_path = Path(log_path)
        self.width, self.height = width, height
        self.proc: subprocess.Popen[bytes] | None = None
        self._ws: ClientConnection | None = None
        self._ids = itertools.count(1)
        self._stack = contextlib.ExitStack()

    def start(self, timeout_s: float = 30.0) -> Chromium:
        """Start Chromium in its own process group and attach to its first page."""
        exe = find_chromium()
        self.profile_dir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [exe, *CHROMIUM_FLAGS, f"--user-data-dir={self.profile_dir}", "about:blank"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        active = self.profile_dir / "DevToolsActivePort"

        def port() -> int | None:
            if self.proc is not None and self.proc.poll() is not None:
                raise BrowserError(f"chromium exited with {self.proc.returncode}: {self.log_tail()}")
            lines = active.read_text().split() if active.is_file() else []
            return int(lines[0]) if lines else None

        devtools = wait_until(port, timeout_s, "chromium's DevToolsActivePort")

        def page_ws() -> str | None:
            try:
                with LOCAL.open(f"http://127.0.0.1:{devtools}/json/list", timeout=5) as resp:
                    targets = json.load(resp)
            except (urllib.error.URLError, ConnectionError, TimeoutError):  # not listening yet
                return None
            return next((t["webSocketDebuggerUrl"] for t in targets if t.get("type") == "page"), None)

        url = wait_until(page_ws, timeout_s, "a chromium page target")
        self._ws = self._stack.enter_context(connect(url, max_size=None, open_timeout=10, proxy=None))
        self.call("Page.enable")
        self.call("Runtime.enable")
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": self.width, "height": self.height, "deviceScaleFactor": 1, "mobile": False},
        )
        return self

    def log_tail(self, chars: int = 3000) -> str:
        """The end of Chromium's own output, for error messages."""
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.is_file() else ""

    def call(self, method: str, params: dict[str, Any] | None = None, timeout_s: float = 30.0) -> dict[str, Any]:
        """Send one DevTools command and return its result (events received meanwhile are dropped)."""
        if self._ws is None:
            raise BrowserError("chromium is not started")
        ident = next(self._ids)
        self._ws.send(json.dumps({"id": ident, "method": method, "params": params or {}}))
        deadline = time.monotonic() + timeout_s
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BrowserError(f"no answer to {method} within {timeout_s:.0f} s")
            message = json.loads(self._ws.recv(timeout=remaining))
            if message.get("id") == ident:
                if "error" in message:
                    raise BrowserError(f"{method} failed: {message['error']}")
                return message.get("result", {})

    def evaluate(self, expression: str) -> Any:
        """Value of a JavaScript expression in the page (promises awaited)."""
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in result:
            raise BrowserError(f"page script failed: {result['exceptionDetails'].get('text')} in {expression!r}")
        return result["result"].get("value")

    def goto(self, url: str) -> None:
        """Navigate and wait for the document to be loaded (the app renders afterwards: use :meth:`wait_for_text`)."""
        result = self.call("Page.navigate", {"url": url})
        if result.get("errorText"):
            raise BrowserError(f"navigation to {url} failed: {result['errorText']}")
        wait_until(lambda: self.evaluate("document.readyState") == "complete", 30, f"{url} to load")

    def text(self) -> str:
        """The rendered text of the page (``innerText``: what a reader sees, no scripts or styles)."""
        return self.evaluate("document.body ? document.body.innerText : ''") or ""

    def dom(self) -> str:
        """The serialised DOM as rendered now."""
        return self.evaluate("document.documentElement.outerHTML") or ""

    def wait_for(self, check: Callable[[str], bool], what: str, timeout_s: float = 45.0) -> str:
        """Wait until ``check(page text)`` holds; the page text, or an error showing what was rendered."""
        try:
            return wait_until(lambda: (t := self.text()) and check(t) and t, timeout_s, what)
        except BrowserError as exc:
            raise BrowserError(f"{exc}; page {self.evaluate('location.href')} shows: {self.text()[:3000]!r}") from exc

    def wait_for_text(self, needles: list[str], timeout_s: float = 45.0) -> str:
        """Wait until every string of ``needles`` is rendered; the page text."""
        return self.wait_for(lambda t: all(n in t for n in needles), f"the page to show {needles}", timeout_s)

    def press(self, key: str, code: str, key_code: int, modifiers: int = 0) -> None:
        """Type one key (``modifiers``: 1 Alt, 2 Ctrl, 4 Meta, 8 Shift), as a keyboard user would."""
        for kind in ("keyDown", "keyUp"):
            self.call(
                "Input.dispatchKeyEvent",
                {"type": kind, "modifiers": modifiers, "key": key, "code": code, "windowsVirtualKeyCode": key_code},
            )

    def screenshot(self, path: Path) -> Path:
        """Save a PNG of the viewport."""
        data = self.call("Page.captureScreenshot", {"format": "png"})["data"]
        Path(path).write_bytes(base64.b64decode(data))
        return Path(path)

    def stop(self) -> list[str]:
        """Close the browser and its process group; the processes still alive afterwards (should be none)."""
        if self._ws is not None:
            try:
                self._ws.send(json.dumps({"id": next(self._ids), "method": "Browser.close"}))
            except Exception:  # noqa: BLE001 - already gone: the group is stopped below anyway
                pass
            self._stack.close()
            self._ws = None
        if self.proc is None:
            return []
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        return stop_group(self.proc, grace_s=5.0)

    def __enter__(self) -> Chromium:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
