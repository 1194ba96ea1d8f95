"""``voharvest serve-ovap``: a real server on 127.0.0.1 answered by real clients (urllib, pyvo).

Every answer is compared with the Python function's (:func:`models.visibility.visibility`), every
document is parsed by astropy with ``verify="exception"`` and checked by STILTS votlint, and bad
requests get a DALI error VOTable (``QUERY_STATUS=ERROR``) with a 4xx status, never a traceback.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from astropy.io.votable import parse as parse_votable

from models.visibility import visibility
from pipelines.serve_ovap import OvapServer, make_server
from scrapers.tle import load
from tests.votlint import votlint

pytestmark = pytest.mark.filterwarnings("ignore::astropy.coordinates.NonRotationTransformationWarning")

DATA = Path(__file__).parent / "data" / "visibility"
ROOT = Path(__file__).parents[1]
NUSTAR = load(DATA / "nustar_2025-08-02.tle")[0]

# Crab Nebula (05:34:31.94 +22:00:52.2 = 83.633083, 22.014500 deg by hand) and 47 Tuc at Paranal
CRAB = {"RA": "83.633083", "DEC": "22.0145", "START_TIME": "2025-09-05", "END_TIME": "2025-09-08"}
TUC = {"RA": "6.0236", "DEC": "-72.0813", "START_TIME": "2025-09-05T12:00", "END_TIME": "2025-09-07T12:00"}


@pytest.fixture(scope="module")
def server() -> Iterator[OvapServer]:
    srv = make_server("127.0.0.1", 0, quiet=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(timeout=10)


def _get(url: str, params: dict[str, str] | list[tuple[str, str]] | None = None) -> tuple[int, str, bytes]:
    """GET ``url`` with urllib; (status, Content-Type, body) also for 4xx/5xx answers."""
    full = url + ("?" + urllib.parse.urlencode(params) if params else "")
    return _open(urllib.request.Request(full))


def _post(url: str, params: dict[str, str], content_type: str = "application/x-www-form-urlencoded") -> tuple:
    body = urllib.parse.urlencode(params).encode()
    return _open(urllib.request.Request(url, data=body, headers={"Content-Type": content_type}, method="POST"))


def _open(request: urllib.request.Request) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(request, timeout=120) as reply:  # noqa: S310  (a local test server)
            return reply.status, reply.headers["Content-Type"], reply.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read()


def _infos(body: bytes) -> dict[str, object]:
    doc = parse_votable(io.BytesIO(body), verify="exception")
    return {i.name: i for i in doc.resources[0].infos}


# --- answers equal the function ---------------------------------------------------------------------


def test_get_answers_the_function_with_case_insensitive_names(server: OvapServer, tmp_path: Path) -> None:
    mixed = {"ra": CRAB["RA"], "Dec": CRAB["DEC"], "start_time": CRAB["START_TIME"], "End_Time": CRAB["END_TIME"]}
    status, kind, body = _get(f"{server.url}/ovap/XMM-Newton", {**mixed, "min_vis": "3600"})
    assert status == 200 and kind.startswith("application/x-votable+xml")
    path = tmp_path / "xmm.vot"
    path.write_bytes(body)
    report = votlint(path)
    assert not report.errors and not report.warnings, report.raw
    table = parse_votable(path, verify="exception").get_first_table().array
    expected = visibility("XMM-Newton", 83.633083, 22.0145, "2025-09-05", "2025-09-08", min_vis=3600)
    assert expected.starts.size >= 1
    assert np.array_equal(np.asarray(table["START_VISIBILITY"]), expected.starts)
    assert np.array_equal(np.asarray(table["END_VISIBILITY"]), expected.ends)
    assert np.allclose(table["DURATION"], expected.durations_s)
    infos = _infos(body)
    assert infos["QUERY_STATUS"].value == "OK" and infos["SERVICE_PROTOCOL"].content == "OVAP"
    assert float(infos["MIN_VIS"].value) == 3600
    # the same request with upper-case names (the Note's spelling) and with an alias path: same bytes
    assert _get(f"{server.url}/ovap/xmm", {**CRAB, "MIN_VIS": "3600"})[2] == body


def test_max_vis_bounds_the_durations(server: OvapServer) -> None:
    every = visibility("XMM-Newton", 83.633083, 22.0145, CRAB["START_TIME"], CRAB["END_TIME"])
    assert every.starts.size == 2  # the Crab in early September: 13.8 h, then 29.2 h (a whole orbit's science)
    cut = float(every.durations_s.min()) + 1.0  # keep only the shorter window
    status, _, body = _get(f"{server.url}/ovap/xmm-newton", {**CRAB, "MAX_VIS": f"{cut:.3f}"})
    table = parse_votable(io.BytesIO(body), verify="exception").get_first_table().array
    assert status == 200 and len(table) == 1
    assert table["DURATION"][0] == pytest.approx(every.durations_s.min(), abs=1e-3)
    assert float(_infos(body)["MAX_VIS"].value) == pytest.approx(cut, abs=1e-3)


def test_post_and_facility_parameter_with_pyvo(server: OvapServer) -> None:
    from pyvo.dal.query import DALQuery, DALResults

    query = DALQuery(f"{server.url}/ovap", FACILITY="VLT", **TUC)
    expected = visibility("VLT", 6.0236, -72.0813, TUC["START_TIME"], TUC["END_TIME"])
    for post in (False, True):
        results = DALResults(query.execute_votable(post=post), url=query.queryurl)
        table = results.to_table()
        assert np.array_equal(np.asarray(table["START_VISIBILITY"]), expected.starts)
        assert np.array_equal(np.asarray(table["END_VISIBILITY"]), expected.ends)
    # 47 Tuc culminates at 90 - |-72.08 + 24.63| = 42.5 deg: in September its night window is whole nights
    assert expected.starts.size == 2


def test_csv_json_and_objobssap(server: OvapServer) -> None:
    status, kind, body = _get(f"{server.url}/ovap/apex", {**TUC, "RESPONSEFORMAT": "text/csv"})
    assert status == 200 and kind.startswith("text/csv")
    rows = body.decode().splitlines()
    expected = visibility("APEX", 6.0236, -72.0813, TUC["START_TIME"], TUC["END_TIME"])
    assert rows[0] == "START_VISIBILITY,END_VISIBILITY,DURATION" and len(rows) == expected.starts.size + 1
    status, kind, body = _get(f"{server.url}/ovap/integral", {**TUC, "responseformat": "json"})
    answer = json.loads(body)
    assert status == 200 and kind.startswith("application/json")
    assert answer["windows"] == [] and "2025-02-28" in answer["infos"]["FACILITY_STATUS"]
    status, _, body = _get(f"{server.url}/ovap/vlt", {**TUC, "FLAVOUR": "objobssap"})
    fields = [f.name for f in parse_votable(io.BytesIO(body), verify="exception").get_first_table().fields]
    assert status == 200 and fields == ["t_start", "t_stop", "t_observability", "t_validity", "facility"]


def test_index_and_default_bind_address(server: OvapServer) -> None:
    status, kind, body = _get(server.url + "/")
    assert status == 200 and kind.startswith("text/plain") and b"/ovap/nustar?RA=" in body
    from pipelines.cli import parser

    args = parser().parse_args(["serve-ovap"])
    assert args.host == "127.0.0.1"  # local only unless configured
    assert server.server_address[0] == "127.0.0.1"


# --- errors: a DALI error document, never a traceback ------------------------------------------------

BAD = [
    # (path, parameters, status, fragment of the QUERY_STATUS message)
    ("/ovap/vlt", {k: v for k, v in TUC.items() if k != "RA"}, 400, "missing required parameter: RA"),
    ("/ovap/vlt", {**TUC, "DEC": "95"}, 400, "Dec outside [-90, 90]"),
    ("/ovap/vlt", {**TUC, "START_TIME": "2025-09-07", "END_TIME": "2025-09-05"}, 400, "must be after START_TIME"),
    ("/ovap/hubble", TUC, 404, "unknown facility 'hubble'"),
    ("/ovap", {**TUC, "FACILITY": "Chandra"}, 400, "unknown FACILITY 'Chandra'"),
    ("/ovap", TUC, 400, "FACILITY is required"),
    ("/ovap/vlt", {**TUC, "FACILITY": "APEX"}, 400, "contradicts"),
    ("/ovap/vlt", [*TUC.items(), ("ra", "7")], 400, "RA given more than once"),
    ("/ovap/vlt", {**TUC, "MIN_VIS": "long"}, 400, "MIN_VIS must be a number"),
    ("/ovap/vlt", {**TUC, "MIN_VIS": "600", "MAX_VIS": "60"}, 400, "MAX_VIS (60 s) is smaller than MIN_VIS"),
    ("/ovap/vlt", {**TUC, "START_TIME": "2025-13-05"}, 400, "not an ISO time"),
    ("/ovap/vlt", {**TUC, "START_TIME": "1e9"}, 400, "START_TIME"),
    ("/ovap/vlt", {**TUC, "RESPONSEFORMAT": "fits"}, 400, "RESPONSEFORMAT 'fits' not supported"),
    ("/ovap/nustar", {**CRAB}, 400, "epoch 2025-08-02T14:00:01.000Z"),
    ("/tap/sync", TUC, 404, "no such resource"),
]


@pytest.mark.parametrize(("path", "params", "status", "fragment"), BAD)
def test_bad_requests_give_the_error_document(
    server: OvapServer, path: str, params: dict[str, str], status: int, fragment: str
) -> None:
    got, kind, body = _get(server.url + path, params)
    assert got == status and kind.startswith("application/x-votable+xml")
    assert b"Traceback" not in body
    infos = _infos(body)
    assert infos["QUERY_STATUS"].value == "ERROR"
    assert fragment in infos["QUERY_STATUS"].content


def test_error_documents_pass_votlint(server: OvapServer, tmp_path: Path) -> None:
    for k, (path, params, _status, _fragment) in enumerate(BAD[:4]):
        file = tmp_path / f"error{k}.vot"
        file.write_bytes(_get(server.url + path, params)[2])
        report = votlint(file)
        assert not report.errors and not report.warnings, report.raw


def test_stale_nustar_refusal_says_epoch_limit_and_where_to_fetch(server: OvapServer) -> None:
    message = _infos(_get(f"{server.url}/ovap/nustar", CRAB)[2])["QUERY_STATUS"].content
    # the held epoch, the 7-day limit, the range the set answers (epoch -/+ 7 d), the fetch URL and the option
    assert "2025-08-02T14:00:01.000Z" in message and "at most 7 days" in message
    assert "2025-07-26T14:00Z .. 2025-08-09T14:00Z" in message
    assert "https://celestrak.org/NORAD/elements/gp.php?CATNR=38358&FORMAT=TLE" in message
    assert "--tle FILE" in message


def test_pyvo_reports_the_error_message(server: OvapServer) -> None:
    from pyvo.dal.exceptions import DALQueryError
    from pyvo.dal.query import DALQuery

    with pytest.raises(DALQueryError, match=r"Dec outside \[-90, 90\]"):
        DALQuery(f"{server.url}/ovap/vlt", **{**TUC, "DEC": "-91"}).execute()


def test_post_body_problems(server: OvapServer) -> None:
    status, _, body = _post(f"{server.url}/ovap/vlt", TUC, content_type="multipart/form-data; boundary=x")
    assert status == 415 and _infos(body)["QUERY_STATUS"].value == "ERROR"
    raw = urllib.request.Request(f"{server.url}/ovap/vlt?RA=%ff", method="GET")
    status, _, body = _open(raw)
    assert status == 400 and "not UTF-8" in _infos(body)["QUERY_STATUS"].content
    status, _, body = _post(f"{server.url}/ovap/vlt", {**TUC, "dec": "-72.0813"})
    assert status == 400 and "DEC given more than once" in _infos(body)["QUERY_STATUS"].content


def test_unexpected_failure_is_500_without_details(server: OvapServer, monkeypatch: pytest.MonkeyPatch) -> None:
    import models.visibility.service as service

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("secret internals /etc/passwd")

    monkeypatch.setattr(service, "visibility", broken)
    status, _, body = _get(f"{server.url}/ovap/vlt", TUC)
    assert status == 500 and b"secret" not in body and b"Traceback" not in body
    assert "internal error (RuntimeError)" in _infos(body)["QUERY_STATUS"].content


# --- a user-supplied TLE, a snapshot's MOCs, the command itself ---------------------------------------


def test_server_with_supplied_tle_answers_nustar_near_its_epoch() -> None:
    srv = make_server("127.0.0.1", 0, tles=[NUSTAR], quiet=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        start, end = NUSTAR.epoch_mjd + 1.0, NUSTAR.epoch_mjd + 1.25  # within the 7-day limit
        params = {"RA": "83.633083", "DEC": "22.0145", "START_TIME": f"{start:.8f}", "END_TIME": f"{end:.8f}"}
        status, _, body = _get(f"{srv.url}/ovap/nustar", params)
    finally:
        srv.shutdown()
        srv.server_close()
    assert status == 200
    table = parse_votable(io.BytesIO(body), verify="exception").get_first_table().array
    expected = visibility("NuSTAR", 83.633083, 22.0145, float(f"{start:.8f}"), float(f"{end:.8f}"), tle=NUSTAR)
    assert np.array_equal(np.asarray(table["START_VISIBILITY"]), expected.starts)
    # one window per 95.7-min orbit: 6 h holds 3 or 4 of them
    assert 3 <= len(table) <= 5
    assert _infos(body)["TLE_EPOCH"].value == "2025-08-02T14:00:01.000Z"


def test_snapshot_mode_answers_from_the_published_moc(tmp_path: Path) -> None:
    from models.visibility.moc import visibility_stmoc, windows_from_stmoc, write_visibility_stmoc
    from models.visibility.service import SnapshotMocs

    stmoc = visibility_stmoc("VLT", "2025-09-05", 3)
    (tmp_path / "moc").mkdir()
    (path,) = write_visibility_stmoc(stmoc, tmp_path / "moc", "VLT")
    manifest = {
        "visibility": {
            "VLT": {"file": "moc/" + path.name, "start_mjd": 60923.0, "end_mjd": 60926.0},
            "NuSTAR": {"file": None, "why": "NuSTAR: the TLE held ... at most 7 days"},
        }
    }
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    srv = make_server("127.0.0.1", 0, snapshot=SnapshotMocs.open(tmp_path), quiet=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        ok = _get(f"{srv.url}/ovap/vlti", TUC)
        outside = _get(f"{srv.url}/ovap/vlt", {**TUC, "END_TIME": "2025-09-10"})
        missing = _get(f"{srv.url}/ovap/nustar", TUC)
    finally:
        srv.shutdown()
        srv.server_close()
    assert ok[0] == 200
    table = parse_votable(io.BytesIO(ok[2]), verify="exception").get_first_table().array
    from_moc = windows_from_stmoc(stmoc, "VLTI", 6.0236, -72.0813, TUC["START_TIME"], TUC["END_TIME"])
    assert np.array_equal(np.asarray(table["START_VISIBILITY"]), from_moc.starts)
    direct = visibility("VLT", 6.0236, -72.0813, TUC["START_TIME"], TUC["END_TIME"])
    cell = 2**30 / 86400e6  # time order 31: 17.9 min; the MOC is conservative (never longer)
    assert len(table) == direct.starts.size
    assert np.all(table["START_VISIBILITY"] >= direct.starts - 1e-6)
    assert np.all(table["START_VISIBILITY"] <= direct.starts + cell + 301 / 86400)
    assert "SNAPSHOT" in _infos(ok[2])
    assert outside[0] == 400 and "covers MJD 60923.00000 .. 60926.00000" in _infos(outside[2])["QUERY_STATUS"].content
    assert missing[0] == 400 and "no visibility MOC for NuSTAR" in _infos(missing[2])["QUERY_STATUS"].content


def test_voharvest_serve_ovap_command(tmp_path: Path) -> None:
    """The installed command: starts, says where it listens, answers, stops on SIGTERM."""
    command = [sys.executable, "-m", "pipelines.cli", "serve-ovap", "--port", "0", "--quiet"]
    command += ["--tle", str(DATA / "nustar_2025-08-02.tle")]
    proc = subprocess.Popen(command, cwd=ROOT, stderr=subprocess.PIPE, text=True, env={**os.environ})
    try:
        line = proc.stderr.readline() if proc.stderr else ""
        match = re.search(r"http://127\.0\.0\.1:\d+", line)
        assert match, line
        status, _, body = _get(match.group(0) + "/ovap/integral", TUC)
        assert status == 200 and "2025-02-28" in _infos(body)["FACILITY_STATUS"].value
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if proc.stderr:
            proc.stderr.close()
