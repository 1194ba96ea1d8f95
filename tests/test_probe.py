"""``voharvest probe`` against a real HTTP server on 127.0.0.1 serving the recorded answers.

Every source's requests (built for the recordings' date) are answered from ``recordings/<source>/``
through ``--via``; the expected status, headers, FIELDs, rows and layout of each request are
computed here independently (lxml for HTML headers, astropy for VOTable FIELDs, the source's own
parser called directly for rows/layout), so the test checks what the probe *reports*, whatever the
parsers currently accept.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import gzip
import io
import json
import os
import re
import subprocess
import sys
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import lxml.html
import pytest
from astropy.io import fits
from astropy.io.votable import parse as parse_votable

from scrapers.archive import RawArchive
from scrapers.base import ParseError, Request, Source
from scrapers.fetch import ReplayFetcher
from scrapers.probe import (
    PageStructure,
    TableInfo,
    find_source,
    layouts_of,
    page_structure,
    rewrite_url,
    structure_changes,
)
from scrapers.recordings import build_archive
from tests.httpserver import Reply, ScriptedServer, Seen, running_server

ROOT = Path(__file__).resolve().parents[1]
RECORDINGS = ROOT / "recordings"
VOHARVEST = ROOT / ".venv" / "bin" / "voharvest"
#: The date the bundled recordings stand for (recordings/replay/as_of.json).
AS_OF = dt.date(2025, 9, 5)
#: Sources with recordings (the names of recordings/<source>/responses.json).
RECORDED = sorted(p.parent.name for p in RECORDINGS.glob("*/responses.json"))


# -- serving the recordings ---------------------------------------------------------------------
def _recordings(source: str) -> dict[str, dict[str, Any]]:
    entries = json.loads((RECORDINGS / source / "responses.json").read_text(encoding="utf-8"))
    return {e["request"]: e for e in entries}


def _served_path(request: Request | str) -> str:
    if isinstance(request, str):
        return urlsplit(request).path
    path = urlsplit(request.url).path
    return path.rstrip("/") + "/sync" if request.kind == "tap" else path


def _matches(seen: Seen, request: Request) -> bool:
    """Whether the server received exactly ``request`` (blank values are dropped by parse_qsl on both sides)."""
    if request.kind == "tap":
        return seen.method == "POST" and seen.form().get("QUERY") == request.query
    wanted = sorted((k, v) for k, v in request.params if v != "")
    form = sorted((k, v) for k, v in request.data if v != "")
    return seen.method == request.method and sorted(seen.query) == wanted and sorted(seen.form().items()) == form


Override = Callable[[Request], Reply | None]


def serve_source(server: ScriptedServer, source: Source, override: Override | None = None) -> dict[str, Reply]:
    """Answer every request of ``source`` from its recordings (or ``override``); returns the replies by name."""
    recorded = _recordings(source.name)
    replies: dict[str, Reply] = {}
    by_path: dict[str, list[Request]] = {}
    for request in source.requests(AS_OF):
        reply = override(request) if override is not None else None
        if reply is None:
            entry = recorded[request.name]
            body = (RECORDINGS / source.name / entry["file"]).read_bytes()
            reply = Reply(int(entry.get("status", 200)), body, {"Content-Type": entry["content_type"]})
        replies[request.name] = reply
        by_path.setdefault(_served_path(request), []).append(request)

    def responder_for(candidates: list[Request]) -> Callable[[Seen], Reply]:
        def respond(seen: Seen) -> Reply:
            for request in candidates:
                if _matches(seen, request):
                    return replies[request.name]
            return Reply(404, f"no recording for {seen.method} {seen.path} {seen.query}".encode())

        return respond

    for path, candidates in by_path.items():
        server.respond(path, responder_for(candidates))
    return replies


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with running_server() as srv:
        yield srv


def run_probe(*args: str) -> subprocess.CompletedProcess[str]:
    """The installed console script, for real (a fresh process: no state shared with the test)."""
    command = [str(VOHARVEST)] if VOHARVEST.exists() else [sys.executable, "-m", "pipelines.cli"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [*command, "probe", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
    )


def blocks(stdout: str) -> dict[str, str]:
    """The report's per-request blocks by request name."""
    out = {}
    for block in re.split(r"\n(?=== )", stdout):
        match = re.match(r"== (\S+)  ", block)
        if match:
            out[match.group(1)] = block.split("\n\n")[0]
    return out


# -- independent readings of the answers -------------------------------------------------------
def html_headers(body: bytes) -> list[list[str]]:
    """Header cells of every table: the first row with <th>, else the first row (lxml, text nodes joined by spaces)."""
    doc = lxml.html.fromstring(body)
    out = []
    for table in doc.iter("table"):
        rows = table.xpath("./tr | ./thead/tr | ./tbody/tr | ./tfoot/tr")
        head = next((r for r in rows if r.xpath("./th")), rows[0] if rows else None)
        if head is None:
            out.append([])
            continue
        out.append([" ".join(" ".join(c.itertext()).split()) for c in head.xpath("./th | ./td")])
    return out


def votable_fields(body: bytes) -> list[str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = parse_votable(io.BytesIO(body), verify="ignore").get_first_table()
    return [f.name for f in table.fields]


def expected_parse(source: Source, request: Request, reply: Reply) -> tuple[str, Any]:
    """('parsed', frame) or ('parse failed', message) from the source's parser called directly."""
    try:
        frame = source.parse(request.name, reply.body, request.url, content_type=reply.headers.get("Content-Type"))
    except ParseError as exc:
        return "parse failed", str(exc)
    return "parsed", frame


# -- the command against every source's recordings ---------------------------------------------
@pytest.mark.parametrize("name", RECORDED)
def test_probe_reports_every_request_of_the_recordings(server: ScriptedServer, name: str) -> None:
    source = find_source(name)
    unrecorded = sorted({r.name for r in source.requests(AS_OF)} - set(_recordings(name)))
    if unrecorded:  # a source changing its requests updates its recordings: not what this test checks
        pytest.skip(f"recordings/{name}/responses.json has no answer for requests {unrecorded}")
    replies = serve_source(server, source)
    result = run_probe(name, "--as-of", AS_OF.isoformat(), "--via", server.url)
    report = blocks(result.stdout)
    requests = source.requests(AS_OF)
    assert list(report) == [r.name for r in requests], result.stdout + result.stderr
    layouts, _ = layouts_of(source)
    all_parsed = True
    for request in requests:
        reply, block = replies[request.name], report[request.name]
        assert f"{request.method if request.kind == 'http' else 'POST'} {request.url}" in block
        assert f"fetched:  {rewrite_url(request.url, server.url)}" in block
        content_type = reply.headers["Content-Type"]
        assert f"status:   200  {content_type}  {len(reply.body)} bytes" in block
        if "charset=utf-8" in content_type:
            assert "charset:  utf-8 (from HTTP Content-Type)" in block
        if "html" in content_type:
            for headers in html_headers(reply.body):
                assert f"headers {headers}" in block
        elif "votable" in content_type:
            assert f"fields:   {votable_fields(reply.body)}" in block
        outcome, value = expected_parse(source, request, reply)
        if outcome == "parsed":
            assert f"parsed:   {len(value)} rows, {len(value.columns)} columns" in block
            layout = value.attrs.get("layout")
            if layout is None:
                assert "layout:   not reported" in block
            else:
                described = (layouts or {}).get(layout, "(not in the module's LAYOUTS)")
                assert f"layout:   {layout} -- {described}" in block
            assert "result:   OK" in block
        else:
            all_parsed = False
            assert f"result:   PARSE FAILED: {value}" in block
    assert result.returncode == (0 if all_parsed else 1), result.stdout + result.stderr
    if layouts is not None:
        for variant, description in layouts.items():
            assert f"  {variant}: {description}" in result.stdout
    # the harvest's fetcher was used: every request carried the project's User-Agent
    assert server.seen and all(s.headers.get("User-Agent", "").startswith("voharvest/") for s in server.seen)


#: Which request of a source answers with which reconstructed test page (file-name glob -> request name).
VARIANT_FILES: dict[str, tuple[tuple[str, str], ...]] = {
    "xmm_newton": (("short_term_schedule*_reconstructed.*", "short_term_schedule"),),
    "nustar": (("schedule_*_reconstructed.html", "schedule"), ("obsloc_*_reconstructed.txt", "obsloc_text")),
    "integral": (("schedule*_reconstructed.html", "schedule"), ("schedule*_reconstructed.csv", "schedule_csv")),
    "eso": (("sched_rep_arc*_reconstructed.*", "sched_rep_arc"),),
}
DATA_DIRS = {"xmm_newton": "xmm", "nustar": "nustar", "integral": "integral", "eso": "eso"}
CONTENT_TYPES = {".html": "text/html", ".csv": "text/csv", ".txt": "text/plain"}


def _variant_cases() -> list[tuple[str, str, str]]:
    data = ROOT / "tests" / "data"
    cases = []
    for source, patterns in VARIANT_FILES.items():
        for pattern, request in patterns:
            for path in sorted((data / DATA_DIRS[source]).glob(pattern)):
                if path.suffix in CONTENT_TYPES:
                    cases.append((source, request, str(path.relative_to(ROOT))))
    return cases


@pytest.mark.parametrize(("name", "request_name", "page"), _variant_cases())
def test_probe_reports_the_variant_of_each_reconstructed_page(
    server: ScriptedServer, tmp_path: Path, name: str, request_name: str, page: str
) -> None:
    """Each reconstructed page, served over HTTP, is reported as the source's parser reads it directly."""
    from scrapers.fetch import HttpFetcher
    from scrapers.probe import format_request, probe

    source = find_source(name)
    request = next((r for r in source.requests(AS_OF) if r.name == request_name), None)
    if request is None:
        pytest.skip(f"{name} makes no request {request_name!r} any more")
    body = (ROOT / page).read_bytes()
    reply = Reply(200, body, {"Content-Type": CONTENT_TYPES[Path(page).suffix]})
    server.respond(_served_path(rewrite_url(request.url, server.url)), lambda seen: reply)
    only = dataclasses.replace(source, requests=lambda _date: [request])
    with HttpFetcher(RawArchive(tmp_path), max_retries=0, min_interval_per_host=0.0) as fetcher:
        report = probe(only, fetcher, AS_OF, via=server.url)
    (result,) = report.requests
    text = "\n".join(format_request(result))
    assert result.status == 200 and result.size == len(body)
    outcome, value = expected_parse(source, request, reply)
    assert result.outcome == outcome, text
    if outcome == "parsed":
        layouts, _ = layouts_of(source)
        assert (result.rows, result.layout) == (len(value), value.attrs.get("layout"))
        if result.layout is not None:
            described = (layouts or {}).get(result.layout, "(not in the module's LAYOUTS)")
            assert f"layout:   {result.layout} -- {described}" in text
    else:
        assert result.error == value and f"PARSE FAILED: {value}" in text
    if Path(page).suffix == ".html":
        for headers in html_headers(body):
            assert f"headers {headers}" in text


def _xmm_schedule(request: Request) -> bool:
    return request.name == "short_term_schedule"


def _drifted_xmm_page() -> tuple[bytes, str]:
    """The recorded XMM schedule page with its obs-id header cell renamed; returns (page, old header)."""
    body = (RECORDINGS / "xmm_newton" / _recordings("xmm_newton")["short_term_schedule"]["file"]).read_bytes()
    cell = re.search(rb"<th>(Obs[^<]*Id[^<]*)</th>", body, re.IGNORECASE)
    assert cell is not None, "the recorded XMM page has no obs-id header cell"
    old = " ".join(cell.group(1).decode().split())
    return body.replace(cell.group(0), b"<th>Exposure Key</th>", 1), old


def test_probe_names_a_renamed_header_and_exits_1(server: ScriptedServer, tmp_path: Path) -> None:
    source = find_source("xmm_newton")
    drifted, old = _drifted_xmm_page()
    page = Reply(200, drifted, {"Content-Type": "text/html; charset=utf-8"})
    serve_source(server, source, lambda r: page if _xmm_schedule(r) else None)
    baseline = build_archive(
        RECORDINGS, tmp_path / "baseline", source.requests(AS_OF), AS_OF, dt.datetime(2025, 9, 5, tzinfo=dt.UTC)
    )
    result = run_probe(
        "xmm_newton", "--as-of", AS_OF.isoformat(), "--via", server.url, "--baseline", str(baseline.root)
    )
    assert result.returncode == 1, result.stdout + result.stderr
    block = blocks(result.stdout)["short_term_schedule"]
    found = html_headers(drifted)[0]
    assert "Exposure Key" in found and old not in found
    assert f"headers {found}" in block  # the headers found, as on the page
    assert f"headers: removed [{old!r}]" in block  # what changed, against the last good page
    assert "headers: added ['Exposure Key']" in block
    request = next(r for r in source.requests(AS_OF) if _xmm_schedule(r))
    outcome, message = expected_parse(source, request, page)
    assert outcome == "parse failed"
    assert f"result:   PARSE FAILED: {message}" in block
    assert result.stdout.startswith(
        f"probe xmm_newton as of {AS_OF.isoformat()} via {server.url}, baseline {baseline.root}: "
        "2 request(s), 1 of 2 failed: ['short_term_schedule']"
    )
    # the unchanged answer is reported unchanged
    assert "changed since baseline: nothing in the structure" in blocks(result.stdout)["xmmmaster"]


def test_probe_reports_http_500(server: ScriptedServer) -> None:
    source = find_source("nustar")
    error = Reply(500, b"Internal Server Error: database down", {"Content-Type": "text/plain"})
    serve_source(server, source, lambda r: error if r.name == "schedule" else None)
    result = run_probe("nustar", "--as-of", AS_OF.isoformat(), "--via", server.url, "--retries", "0")
    assert result.returncode == 1, result.stdout + result.stderr
    block = blocks(result.stdout)["schedule"]
    assert "status:   500  (no content type)  -" in block
    assert "result:   FETCH FAILED: HttpStatusError: HTTP 500" in block
    assert "database down" in block
    path = urlsplit(next(r for r in source.requests(AS_OF) if r.name == "schedule").url).path
    assert len(server.requests_to(path)) == 1  # --retries 0: one attempt
    # the other requests were still probed
    assert "result:   OK" in blocks(result.stdout)["numaster"]


def test_probe_json_and_archive_replayable_under_real_urls(server: ScriptedServer, tmp_path: Path) -> None:
    source = find_source("xmm_newton")
    replies = serve_source(server, source)
    archive = tmp_path / "kept"
    result = run_probe(
        "xmm_newton", "--as-of", AS_OF.isoformat(), "--via", server.url, "--json", "--archive", str(archive)
    )
    report = json.loads(result.stdout)
    requests = source.requests(AS_OF)
    assert [r["name"] for r in report["requests"]] == [r.name for r in requests]
    assert report["source"] == "xmm_newton" and report["as_of"] == AS_OF.isoformat() and report["via"] == server.url
    for entry, request in zip(report["requests"], requests, strict=True):
        reply = replies[request.name]
        assert entry["status"] == 200 and entry["size"] == len(reply.body)
        assert entry["url"] == request.url and entry["fetched_url"] == rewrite_url(request.url, server.url)
        outcome, value = expected_parse(source, request, reply)
        assert entry["outcome"] == outcome and entry["ok"] == (outcome == "parsed")
        if outcome == "parsed":
            assert entry["rows"] == len(value) and entry["layout"] == value.attrs.get("layout")
    assert result.returncode == (0 if report["ok"] else 1)
    # the kept archive replays the source's real requests (not the --via URLs) with the served bytes
    kept = RawArchive(archive)
    assert kept.as_of == AS_OF
    replay = ReplayFetcher(kept)
    for request in requests:
        record = replay.fetch(request)
        assert record.content == replies[request.name].body
        assert record.headers["Content-Type"] == replies[request.name].headers["Content-Type"]


def test_probe_usage_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from pipelines.cli import main

    assert main(["probe", "no_such_source"]) == 2
    assert "unknown source 'no_such_source'; known: [" in capsys.readouterr().err
    assert main(["probe", "nustar", "--via", "127.0.0.1:8000"]) == 2
    assert "--via needs http(s)://host[:port]" in capsys.readouterr().err
    assert main(["probe", "nustar", "--baseline", str(tmp_path / "missing")]) == 2
    assert "baseline archive" in capsys.readouterr().err


# -- the pure parts ----------------------------------------------------------------------------
def test_rewrite_url_keeps_path_and_query() -> None:
    url = "https://integral.esac.esa.int/isocweb/schedule.html?action=schedule&startRevno=2950&format=csv"
    assert rewrite_url(url, "http://127.0.0.1:8000") == (
        "http://127.0.0.1:8000/isocweb/schedule.html?action=schedule&startRevno=2950&format=csv"
    )
    assert rewrite_url("https://h/a/b", "http://mirror:81/m/") == "http://mirror:81/m/a/b"
    with pytest.raises(ValueError, match="--via"):
        rewrite_url("https://h/a", "ftp://mirror/")


def test_structure_changes_names_tables_and_headers() -> None:
    before = PageStructure(
        "html",
        "utf-8",
        "HTTP Content-Type",
        tables=(TableInfo(0, "Short Range", ("obs_start", "RA", "Dec"), 5), TableInfo(1, "Long Range", ("a",), 2)),
    )
    after = PageStructure(
        "html",
        "utf-8",
        "HTTP Content-Type",
        tables=(
            TableInfo(0, "Table Header Explanations", ("x",), 1),
            TableInfo(1, "Short Range", ("obs_start", "J2000 RA", "Dec"), 5),
        ),
    )
    assert structure_changes(before, after) == [
        "table #0 'Short Range': now table #1 'Short Range'",
        "table #0 'Short Range' headers: removed ['RA']",
        "table #0 'Short Range' headers: added ['J2000 RA']",
        "table #1 'Long Range' with headers ['a']: gone",
        "new table #0 'Table Header Explanations' with headers ['x']",
    ]
    assert structure_changes(before, before) == []
    reordered = PageStructure("text", columns=("b", "a"))
    assert structure_changes(PageStructure("text", columns=("a", "b")), reordered) == [
        "columns of the first line: reordered ['a', 'b'] -> ['b', 'a']"
    ]
    assert structure_changes(before, PageStructure("text")) == ["answer kind: html -> text"]


def test_page_structure_of_csv_votable_binary_and_bad_bytes() -> None:
    csv = b'"Rev","Start","End"\n"2950","2025-09-05 01:02:03.25","2025-09-05 02:00:00.5"\n'
    page = page_structure(csv, "text/csv; charset=utf-8", source="t", url="u")
    assert (
        page.kind == "text" and page.columns == ("Rev", "Start", "End") and page.head[0] == csv.decode().split("\n")[0]
    )
    piped = b"obs_id|target_name|t_min\n|string|double\nchar|char|double\n"
    assert page_structure(piped, None, source="t", url="u").columns == ("obs_id", "target_name", "t_min")
    assert page_structure(b"\x1f\x8b\x08\x00", None, source="t", url="u").kind == "binary"
    bad = page_structure("Café".encode("latin-1"), "text/html; charset=utf-8", source="t", url="u")
    assert bad.kind == "undecodable" and "byte offset 3" in bad.note
    vot = (RECORDINGS / "xmm_newton" / _recordings("xmm_newton")["xmmmaster"]["file"]).read_bytes()
    assert list(page_structure(vot, "application/x-votable+xml", source="t", url="u").fields) == votable_fields(vot)


def test_fits_structure_and_a_dropped_column() -> None:
    body = (RECORDINGS / "hess_dl3_dr1" / "obs-index.fits.gz").read_bytes()
    page = page_structure(body, "application/octet-stream", source="t", url="u")
    with fits.open(io.BytesIO(gzip.decompress(body))) as hdus:
        expected = [(i, h.name, tuple(h.columns.names), len(h.data)) for i, h in enumerate(hdus) if i > 0]
    assert page.kind == "fits" and [(t.index, t.title, t.headers, t.rows) for t in page.tables] == expected
    index, title, columns, rows = expected[0]
    dropped = dataclasses.replace(page, tables=(TableInfo(index, title, columns[1:], rows),))
    assert structure_changes(page, dropped) == [f"table #{index} {title!r} headers: removed [{columns[0]!r}]"]


def test_unbuildable_requests_and_a_crashing_parser_are_reported_not_raised() -> None:
    from scrapers.base import RawRecord
    from scrapers.probe import format_report, probe, probe_record

    nustar = find_source("nustar")

    def beyond_calendar(date: dt.date) -> list[Request]:
        raise ValueError(f"{date} is after the last known period")

    class NoFetch:
        def fetch(self, request: Request) -> RawRecord:  # pragma: no cover - must not be called
            raise AssertionError("nothing to fetch")

    report = probe(dataclasses.replace(nustar, requests=beyond_calendar), NoFetch(), dt.date(2099, 1, 1))
    assert not report.ok and report.requests == []
    text = format_report(report)
    assert "FAILED" in text and "ValueError: 2099-01-01 is after the last known period" in text

    def crash(name: str, content: bytes, url: str, content_type: str | None = None) -> Any:
        raise KeyError("obs_start")

    request = nustar.requests(AS_OF)[0]
    record = RawRecord(
        request, 200, {"Content-Type": "text/html"}, dt.datetime(2025, 9, 5, tzinfo=dt.UTC), b"<html/>", ""
    )
    result = probe_record(dataclasses.replace(nustar, parse=crash), request, record)
    assert result.outcome == "parser crashed" and "KeyError: 'obs_start'" in (result.error or "")


def test_baseline_names_a_changed_layout_variant() -> None:
    """A page that still parses but now matches another variant is named as a change (XMM <br> units -> spaced)."""
    from scrapers.base import RawRecord
    from scrapers.probe import probe_record

    xmm = find_source("xmm_newton")
    request = next(r for r in xmm.requests(AS_OF) if _xmm_schedule(r))
    data = ROOT / "tests" / "data" / "xmm"
    pages = [
        data / "short_term_schedule_rev4714_brunits_reconstructed.html",
        data / "short_term_schedule_rev4714_reconstructed.html",
    ]
    if not all(p.is_file() for p in pages):
        pytest.skip("the XMM variant pages are not there")
    when = dt.datetime(2025, 9, 5, tzinfo=dt.UTC)
    old, new = (RawRecord(request, 200, {"Content-Type": "text/html"}, when, p.read_bytes(), "") for p in pages)
    layouts = [xmm.parse(request.name, r.content, request.url).attrs.get("layout") for r in (old, new)]
    if None in layouts or layouts[0] == layouts[1]:
        pytest.skip(f"the XMM parser reports layouts {layouts}")
    report = probe_record(xmm, request, new, baseline=old)
    assert f"layout variant: {layouts[0]} -> {layouts[1]}" in (report.baseline_changes or [])
