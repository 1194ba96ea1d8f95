"""Landing pages of a snapshot and of the publish root, looked at in a real headless Chromium.

The bundled snapshot is harvested from ``recordings/replay``; its files are staged again as the
coordinator's ``stage_snapshot`` will do it (every file, then :func:`models.landing.write_landing_page`,
then the manifest), and the publish root gets :func:`models.landing.write_root_index`. Both pages are
opened over ``file://`` and over a local HTTP server on 127.0.0.1 with no network: no console error,
no request to any other host, every link resolves to a file of the snapshot (or of the root), the
timeline and sky map are present and non-empty. What the pages show is checked against pandas and
hashlib computations on the snapshot's files. Screenshots go to the test's temporary directory.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import threading
import time
import urllib.parse
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from models.arrow import to_frame
from models.history_store import read_history
from models.landing import TIMELINE_AFTER_DAYS, TIMELINE_BEFORE_DAYS, write_landing_page, write_root_index
from models.snapshot import MANIFEST, file_entries, read_manifest, update_latest, validate_snapshot, write_manifest
from pipelines.cli import main
from tests.ui.browser import LOCAL, Chromium, find_chromium

REPO = Path(__file__).resolve().parent.parent
DATE = "2025-09-05"
TABLES = ("obsplan", "obscore", "obscore_radio", "obscore_hea", "obsplan_history")


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A publish root holding the bundled snapshot with its landing page, and an older copy of it."""
    tmp = tmp_path_factory.mktemp("landing")
    cwd = os.getcwd()
    os.chdir(tmp)
    try:
        assert main(["harvest", "--replay", str(REPO / "recordings" / "replay"), "--output", str(tmp / "h")]) == 0
    finally:
        os.chdir(cwd)
    root = tmp / "root"
    stage = root / "snapshots" / DATE
    shutil.copytree(tmp / "h" / "snapshots" / DATE, stage)
    manifest = read_manifest(stage)
    (stage / MANIFEST).unlink()
    document = {k: v for k, v in manifest.items() if k not in ("files", "format")}
    tables = {
        name: to_frame(read_history(stage) if name == "obsplan_history" else pq.read_table(stage / f"{name}.parquet"))
        for name in TABLES
    }
    changes = to_frame(pq.read_table(stage / "changes.parquet"))
    written = write_landing_page(stage, document, tables, changes)
    write_manifest(stage, document)
    # an older snapshot (a copy relabelled 2025-09-04) so that the root page lists two, newest first
    older = root / "snapshots" / "2025-09-04"
    shutil.copytree(stage, older)
    old_manifest = json.loads((older / MANIFEST).read_text())
    old_manifest.update(snapshot="2025-09-04", as_of_mjd=60922.0)
    (older / MANIFEST).write_text(json.dumps(old_manifest))
    update_latest(root)
    index = write_root_index(root)
    return {"root": root, "stage": stage, "written": written, "tables": tables, "index": index, "tmp": tmp}


class RecordingChromium(Chromium):
    """Chromium that keeps the DevTools events (console messages, exceptions, requests) it receives."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, params: dict[str, Any] | None = None, timeout_s: float = 30.0) -> dict[str, Any]:
        if self._ws is None:
            raise RuntimeError("chromium is not started")
        ident = next(self._ids)
        self._ws.send(json.dumps({"id": ident, "method": method, "params": params or {}}))
        deadline = time.monotonic() + timeout_s
        while True:
            message = json.loads(self._ws.recv(timeout=max(deadline - time.monotonic(), 0.1)))
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method} failed: {message['error']}")
                return message.get("result", {})
            if "method" in message:
                self.events.append(message)

    def problems(self) -> list[str]:
        """Console errors, uncaught exceptions and failed loads seen so far."""
        out = []
        for event in self.events:
            method, params = event["method"], event.get("params", {})
            if method == "Runtime.exceptionThrown":
                out.append(f"exception: {params}")
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                out.append(f"console.{params.get('type')}: {params.get('args')}")
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                out.append(f"log: {params['entry'].get('text')} {params['entry'].get('url', '')}")
            elif method == "Network.loadingFailed":
                out.append(f"load failed: {params.get('errorText')}")
        return out

    def requested(self) -> list[str]:
        return [e["params"]["request"]["url"] for e in self.events if e["method"] == "Network.requestWillBeSent"]


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RecordingChromium]:
    try:
        find_chromium()
    except Exception as exc:  # noqa: BLE001 - no browser on this machine: say why
        pytest.skip(str(exc))
    tmp = tmp_path_factory.mktemp("chromium")
    chrome = RecordingChromium(tmp / "profile", tmp / "chromium.log", width=1300, height=1000)
    chrome.start()
    chrome.call("Log.enable")
    chrome.call("Network.enable")
    try:
        yield chrome
    finally:
        assert chrome.stop() == []


@pytest.fixture(scope="module")
def server(published: dict[str, Any]) -> Iterator[str]:
    """``http.server`` on 127.0.0.1 serving the publish root (stopped at the end)."""
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(published["root"]))
    handler.log_message = lambda *a, **k: None  # type: ignore[method-assign]
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(10)


def _open(chrome: RecordingChromium, url: str) -> None:
    chrome.events.clear()
    chrome.goto(url)


def _links(chrome: RecordingChromium) -> list[str]:
    return chrome.evaluate("Array.from(document.querySelectorAll('a[href]')).map(a => a.href)")


def _check_links(links: list[str], base: str, root: Path, inside: Path) -> int:
    """Every link is to a file below ``inside``: on disk for file://, answered 200 over HTTP."""
    checked = 0
    for link in links:
        target = link.split("#", 1)[0]
        assert target.startswith(base), f"link leaves the snapshot: {link}"
        rel = urllib.parse.unquote(target[len(base) :]).lstrip("/")
        path = (root / rel).resolve()
        assert path.is_file() and path.is_relative_to(inside.resolve()), link
        if base.startswith("http"):
            with LOCAL.open(target, timeout=10) as resp:
                assert resp.status == 200 and resp.read() == path.read_bytes(), link
        checked += 1
    return checked


def _only_local(requested: list[str], base: str) -> None:
    for url in requested:
        assert url.startswith(base) or url.startswith("data:"), f"request to another host: {url}"


def _svg_box(chrome: RecordingChromium, selector: str) -> dict[str, float]:
    return chrome.evaluate(
        f"(() => {{ const r = document.querySelector('{selector}').getBoundingClientRect();"
        " return {w: r.width, h: r.height}; })()"
    )


@pytest.mark.parametrize("via", ["file", "http"])
def test_snapshot_page_in_chromium(
    published: dict[str, Any], browser: RecordingChromium, server: str, via: str, tmp_path: Path
) -> None:
    root, stage = published["root"], published["stage"]
    base = root.resolve().as_uri() + "/" if via == "file" else server + "/"
    _open(browser, f"{base}snapshots/{DATE}/index.html")
    text = browser.wait_for_text([f"voharvest snapshot {DATE}", "Timeline", "Sky coverage", "How to use it"])
    browser.screenshot(tmp_path / f"snapshot-{via}.png")
    assert (tmp_path / f"snapshot-{via}.png").stat().st_size > 10_000
    assert browser.problems() == []
    _only_local(browser.requested(), base)
    # every link resolves to a file of the snapshot; every file of the snapshot is linked
    links = _links(browser)
    assert _check_links(links, base, root, stage) == len(links)
    linked = {urllib.parse.unquote(x.split("#")[0][len(base) :]) for x in links}
    on_disk = {f"snapshots/{DATE}/{p.relative_to(stage).as_posix()}" for p in stage.rglob("*") if p.is_file()}
    assert on_disk <= linked  # every file (the page itself through its section anchors)
    # timeline: one bar per obsplan row in the window (pandas), the as-of line, a visible picture
    obsplan = published["tables"]["obsplan"]
    as_of = read_manifest(stage)["as_of_mjd"]
    t_max = obsplan["t_max"].fillna(obsplan["t_min"])
    in_window = obsplan["t_min"].notna() & (t_max >= as_of - TIMELINE_BEFORE_DAYS)
    in_window &= obsplan["t_min"] <= as_of + TIMELINE_AFTER_DAYS
    bars = browser.evaluate("document.querySelectorAll('#timeline rect[stroke]').length")
    assert bars == int(in_window.sum()) > 0
    box = _svg_box(browser, "#timeline")
    assert box["w"] > 500 and box["h"] > 100
    assert f"as of {DATE} 00:00" in text
    # sky map: footprints drawn, visible
    assert browser.evaluate("document.querySelectorAll('#skymap polygon').length") > 10
    box = _svg_box(browser, "#skymap")
    assert box["w"] > 500 and box["h"] > 200
    # counts of obsplan by facility and status, as pandas counts them
    cells = browser.evaluate(
        "(() => { const h = Array.from(document.querySelectorAll('h3'))"
        ".find(e => e.textContent.startsWith('obsplan ('));"
        " const t = h.nextElementSibling; return Array.from(t.querySelectorAll('tr')).map("
        "r => Array.from(r.children).map(c => c.textContent)); })()"
    )
    header, rows = cells[0], cells[1:]
    want = pd.crosstab(obsplan["facility_name"], obsplan["execution_status"])
    for row in rows:
        for status in want.columns:
            assert int(row[header.index(status)]) == int(want.loc[row[0], status]), (row[0], status)
    # SHA-256 shown for each file = hashlib of the file
    hashes = browser.evaluate(
        "Array.from(document.querySelectorAll('#files ~ table tr, details tr')).filter(r => r.querySelector('a'))"
        ".map(r => [r.querySelector('a').getAttribute('href'), r.querySelector('.hash') ? "
        "r.querySelector('.hash').textContent : ''])"
    )
    checked = 0
    for href, digest in hashes:
        if digest:
            assert hashlib.sha256((stage / href).read_bytes()).hexdigest() == digest, href
            checked += 1
    assert checked >= len([p for p in stage.rglob("*") if p.is_file()]) - 2  # all but the page and the manifest


@pytest.mark.parametrize("via", ["file", "http"])
def test_root_page_in_chromium(
    published: dict[str, Any], browser: RecordingChromium, server: str, via: str, tmp_path: Path
) -> None:
    root = published["root"]
    base = root.resolve().as_uri() + "/" if via == "file" else server + "/"
    _open(browser, f"{base}index.html")
    text = browser.wait_for_text(["voharvest snapshots", DATE, "2025-09-04"])
    browser.screenshot(tmp_path / f"root-{via}.png")
    assert browser.problems() == []
    _only_local(browser.requested(), base)
    links = _links(browser)
    assert _check_links(links, base, root, root) == len(links) >= 4
    assert text.index(DATE) < text.index("2025-09-04")  # newest first
    assert f"{DATE} (latest)" in text
    rows = read_manifest(published["stage"])["tables"]["obsplan"]["rows"]
    assert f"obsplan {rows}" in text


def test_page_is_in_the_manifest_and_the_snapshot_validates(published: dict[str, Any]) -> None:
    stage = published["stage"]
    assert published["written"] == ["index.html"]
    assert "index.html" in read_manifest(stage)["files"]
    assert validate_snapshot(stage) == []
    page = (stage / "index.html").read_text()
    assert "<script" not in page and "http://" not in page.split("<pre>")[0].replace("http://www.w3.org", "")
    # column metadata from the specs: every obsplan column with its unit
    from models.tables import OBSPLAN

    for column in OBSPLAN.columns:
        assert f"<td>{column.name}</td>" in page
    # notes computed independently with pandas: facilities without any footprint, stale plan rows
    obsplan, obscore = published["tables"]["obsplan"], published["tables"]["obscore"]
    both = pd.concat([obsplan[["facility_name", "s_region"]], obscore[["facility_name", "s_region"]]])
    without = sorted(set(both["facility_name"]) - set(both.dropna()["facility_name"]))
    assert without == ["APEX", "ESO-VISTA"]  # ESO schedule runs and APEX archive rows carry no position
    assert "no sky coverage to draw" in page and ", ".join(without) in page
    as_of = read_manifest(stage)["as_of_mjd"]
    stale = obsplan[obsplan["execution_status"].isin(["Planned", "Scheduled"]) & (obsplan["t_max"] < as_of)]
    assert stale.empty  # nothing open whose window ended in the bundled snapshot
    expired = obsplan[(obsplan["execution_status"] == "Unscheduled") & (obsplan["t_max"] < as_of - 30.0)]
    assert expired["obs_id"].tolist() == ["095.F-9802(A)"]  # the APEX run of period 95 (2015), ten years on
    assert "1 obsplan row(s) are published as Unscheduled" in page and "095.F-9802(A)" in page
    # MOCs the manifest says were not written (empty coverage) are named with the reason
    for base, why in (read_manifest(stage).get("mocs_omitted") or {}).items():
        assert f"<code>{base}</code>: {why}" in page
    # same inputs, same bytes
    again = published["tmp"] / "again"
    shutil.copytree(stage, again)
    (again / "index.html").unlink()
    (again / MANIFEST).unlink()
    document = {k: v for k, v in read_manifest(stage).items() if k not in ("files", "format")}
    changes = to_frame(pq.read_table(stage / "changes.parquet"))
    write_landing_page(again, document, published["tables"], changes)
    assert (again / "index.html").read_bytes() == (stage / "index.html").read_bytes()
    # hashes computed once by the caller (models.snapshot.file_entries) are reused: same page
    (again / "index.html").unlink()
    write_landing_page(again, {**document, "files": file_entries(again)}, published["tables"], changes)
    assert (again / "index.html").read_bytes() == (stage / "index.html").read_bytes()


# --------------------------------------------------------------------------------------------
# Scale (issue 13): what the page draws and lists does not grow with the rows
# --------------------------------------------------------------------------------------------
def test_crowded_lane_is_drawn_binned_by_dominant_status() -> None:
    """5,000 consecutive one-hour observations (Performed, then Scheduled) give two binned bars, not 5,000."""
    import re

    from models import landing

    as_of = 60923.0
    start = as_of - 40.0 + np.arange(5000) / 24.0  # 5,000 hours = 208 days from before the window to after it
    switch = as_of + 1.0  # Performed before, Scheduled after
    frame = pd.DataFrame(
        {
            "facility_name": "ESO-VLT",
            "obs_id": [f"o{i}" for i in range(len(start))],
            "execution_status": np.where(start + 1 / 24 <= switch, "Performed", "Scheduled"),
            "t_min": start,
            "t_max": start + 1 / 24,
        }
    )
    svg, shown = landing.timeline_svg(frame, as_of)
    lo, hi = as_of - landing.TIMELINE_BEFORE_DAYS, as_of + landing.TIMELINE_AFTER_DAYS
    assert shown == int(((frame["t_max"] >= lo) & (frame["t_min"] <= hi)).sum()) > landing.TIMELINE_MAX_BARS
    assert 'stroke="#333"' not in svg  # no per-observation bar
    bars = re.findall(r'<rect class="binned" x="([\d.]+)" y="[\d.]+" width="([\d.]+)"[^>]* fill="(#\w+)"', svg)
    assert [b[2] for b in bars] == [landing.STATUS_COLOURS["Performed"], landing.STATUS_COLOURS["Scheduled"]]
    # the bars meet where the status changes, to within one bin; they cover the lane from lo to hi
    left, right, width = 120, 20, 1100
    x_switch = left + (switch - lo) / (hi - lo) * (width - left - right)
    bin_px = (width - left - right) / landing.TIMELINE_BINS
    assert abs(float(bars[1][0]) - x_switch) <= bin_px + 0.1
    assert float(bars[0][0]) == pytest.approx(left, abs=0.1)
    assert float(bars[1][0]) + float(bars[1][1]) == pytest.approx(width - right, abs=0.2)


def test_sky_map_draws_at_most_the_limit_of_distinct_footprints() -> None:
    from models import landing

    ra = np.repeat(np.arange(10) * 30.0 + 5.0, 100)  # 10 distinct circles, each 100 times
    few = pd.Series([f"CIRCLE ICRS {r:.1f} -20.0 1.0" for r in ra])
    svg, drawn = landing.sky_svg({"XMM-Newton": few}, {"XMM-Newton": np.zeros(len(few), bool)})
    assert drawn == 10 == svg.count("<polygon")
    many = pd.Series([f"CIRCLE ICRS {r:.3f} 10.0 0.5" for r in np.linspace(0.0, 359.0, 3000)])
    svg, drawn = landing.sky_svg({"NuSTAR": many}, {"NuSTAR": np.zeros(len(many), bool)}, limit=50)
    assert drawn == 50 == svg.count("<polygon")


def test_many_datalink_documents_are_one_row_of_the_files_table(tmp_path: Path) -> None:
    from models import landing

    n = landing.FILES_MAX_DATALINK + 1
    (tmp_path / "datalink" / "NuSTAR").mkdir(parents=True)
    for i in range(n):
        (tmp_path / "datalink" / "NuSTAR" / f"{i}.xml").write_bytes(b"x" * (i + 1))
    (tmp_path / "datalink" / "documents.csv").write_text("obs_publisher_did,document\n")
    (tmp_path / "obsplan.parquet").write_bytes(b"PAR1")
    section, links = landing._files_section(tmp_path, {})
    assert f"{n} DataLink documents" in section
    assert sorted(links) == ["datalink/documents.csv", "manifest.json", "obsplan.parquet"]
    total = sum(i + 1 for i in range(n))  # 1 + 2 + ... + n bytes
    assert landing._size(total) in section
    assert hashlib.sha256(b"PAR1").hexdigest() in section
    assert section.count("<tr>") == 1 + 3  # header, the documents, documents.csv, obsplan.parquet
