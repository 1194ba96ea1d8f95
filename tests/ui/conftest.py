"""A real Dagster UI over a harvest run by the CLI: replay archive -> ``voharvest harvest`` -> webserver.

Everything runs for real in a temporary directory: the replay archive is built from the bundled
recordings, ``voharvest harvest --replay`` materialises the ``harvest`` job for the archive's date into
the SQLite instance of ``DAGSTER_HOME`` (holding a copy of the repository's ``dagster.yaml``), exactly as
an operator's CLI run does, and ``dagster-webserver`` serves that same instance on 127.0.0.1 (what
``voharvest ui`` starts, without the daemon, which nothing here needs). Subprocesses get the environment
explicitly: the pytest process's own environment is never changed. Each server runs in its own process
group, which is stopped at the end (even on failure) and checked to be empty.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scrapers.recordings import build_from_sources
from scrapers.registry import all_sources
from tests.ui.browser import LOCAL, BrowserError, Chromium, find_chromium, stop_group, wait_until

ROOT = Path(__file__).resolve().parents[2]
#: The date of the bundled recordings (``voharvest build-replay``'s default as-of date).
AS_OF = dt.date(2025, 9, 5)
#: Bounds of the slow steps (generous for 2 loaded cores; all waits poll a condition).
MATERIALISE_TIMEOUT_S = 300
SERVER_TIMEOUT_S = 120
#: A viewport tall enough for the whole expanded asset graph (the graph renders only visible nodes).
VIEWPORT = (1600, 2400)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tail(path: Path, chars: int = 4000) -> str:
    return path.read_text(errors="replace")[-chars:] if path.is_file() else "(no output)"


@dataclasses.dataclass
class DagsterUI:
    """A running ``dagster-webserver`` over a materialised instance."""

    url: str
    work: Path
    env: dict[str, str]
    proc: subprocess.Popen[bytes]
    log: Path

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """``POST /graphql``; the ``data`` member, or a failure naming the GraphQL errors."""
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        request = urllib.request.Request(
            f"{self.url}/graphql", data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        with LOCAL.open(request, timeout=60) as resp:
            answer = json.load(resp)
        if answer.get("errors"):
            raise AssertionError(f"GraphQL errors: {answer['errors']}")
        return answer["data"]

    @property
    def run_id(self) -> str:
        """The instance's one run (the materialisation), as the UI lists it."""
        runs = self.graphql("{ runsOrError { ... on Runs { results { runId } } } }")["runsOrError"]["results"]
        assert len(runs) == 1, f"expected the one harvest run in the instance, found {runs}"
        return runs[0]["runId"]

    def stop(self) -> list[str]:
        """Stop the webserver's process group (webserver + code server); the survivors (should be none)."""
        return stop_group(self.proc)


def _environment(work: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER_", "VOHARVEST_"))}
    env.update(
        DAGSTER_HOME=str(work / "dagster_home"),
        VOHARVEST_REPLAY_DIR=str(work / "replay"),
        VOHARVEST_OUTPUT_DIR=str(work / "output"),
        VOHARVEST_ARCHIVE_DIR=str(work / "raw_archive"),
        PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p),
    )
    return env


def _materialise(work: Path, env: dict[str, str]) -> None:
    """``voharvest harvest --replay`` for :data:`AS_OF` into the instance of ``DAGSTER_HOME`` (the CLI's run)."""
    log = work / "materialise.log"
    cmd = [
        sys.executable,
        *("-m", "pipelines.cli", "harvest", "--replay", str(work / "replay")),
        *("--output", str(work / "output"), "--archive-dir", str(work / "raw_archive")),
    ]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=work, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            code = proc.wait(timeout=MATERIALISE_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            code = None
        finally:
            left = stop_group(proc, grace_s=5)
    text = log.read_text(errors="replace")
    snapshot = str(work / "output" / "snapshots" / AS_OF.isoformat())
    if code != 0 or text.strip().splitlines()[-1:] != [snapshot]:
        pytest.fail(f"voharvest harvest for {AS_OF} failed (exit {code}): {' '.join(cmd)}\n{text[-6000:]}")
    if left:
        pytest.fail(f"`voharvest harvest` left processes behind: {left}")


def _start_webserver(work: Path, env: dict[str, str]) -> DagsterUI:
    port = _free_port()
    log = work / "webserver.log"
    cmd = [
        str(Path(sys.executable).with_name("dagster-webserver")),
        *("-m", "pipelines.definitions", "-h", "127.0.0.1", "-p", str(port)),
    ]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd,
            cwd=work,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    ui = DagsterUI(url=f"http://127.0.0.1:{port}", work=work, env=env, proc=proc, log=log)

    def answering() -> bool:
        if proc.poll() is not None:
            raise BrowserError(f"dagster-webserver exited with {proc.returncode}:\n{_tail(log)}")
        try:
            with LOCAL.open(f"{ui.url}/server_info", timeout=5) as resp:
                return resp.status == 200
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False

    def loaded() -> bool:
        entries = ui.graphql("{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus } } } }")
        return [e["loadStatus"] for e in entries["workspaceOrError"]["locationEntries"]] == ["LOADED"]

    try:
        wait_until(answering, SERVER_TIMEOUT_S, f"{ui.url}/server_info", interval_s=0.5)
        wait_until(loaded, SERVER_TIMEOUT_S, "the code location to load", interval_s=0.5)
    except BrowserError as exc:
        left = stop_group(proc)
        pytest.fail(f"dagster-webserver did not come up: {exc}\n{_tail(log)}\nleft running: {left}")
    except BaseException:
        stop_group(proc)
        raise
    return ui


@pytest.fixture(scope="session")
def ui_work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Work directory: replay archive, output root, DAGSTER_HOME, logs, screenshots and DOM dumps."""
    work = tmp_path_factory.mktemp("dagster_ui")
    build_from_sources(ROOT / "recordings", work / "replay", all_sources().values(), AS_OF)
    home = work / "dagster_home"
    home.mkdir()
    shutil.copyfile(ROOT / "dagster.yaml", home / "dagster.yaml")
    (work / "artifacts").mkdir()
    return work


@pytest.fixture(scope="session")
def dagster_ui(ui_work: Path) -> Iterator[DagsterUI]:
    """The webserver over an instance holding one successful ``harvest`` run; stopped (and checked) after."""
    env = _environment(ui_work)
    _materialise(ui_work, env)
    ui = _start_webserver(ui_work, env)
    try:
        yield ui
    finally:
        left = ui.stop()
    assert not left, f"dagster-webserver left processes running: {left}"


@pytest.fixture(scope="session")
def browser(ui_work: Path, dagster_ui: DagsterUI) -> Iterator[Chromium]:
    """A headless Chromium on a fresh profile; stopped (and checked) after the tests."""
    try:
        find_chromium()
    except BrowserError as exc:
        pytest.fail(str(exc))  # a missing browser is a failure, never a skip
    # dagster.yaml turns Dagster's one-time sign-up dialog off (nux.enabled: false): nothing covers the page.
    assert dagster_ui.graphql("{ shouldShowNux }") == {"shouldShowNux": False}
    chromium = Chromium(ui_work / "chromium-profile", ui_work / "chromium.log", *VIEWPORT)
    started = time.monotonic()
    try:
        chromium.start()
    except BrowserError as exc:
        left = chromium.stop()
        pytest.fail(f"headless chromium did not start ({time.monotonic() - started:.0f} s): {exc}; left: {left}")
    try:
        yield chromium
    finally:
        left = chromium.stop()
    assert not left, f"chromium left processes running: {left}"
