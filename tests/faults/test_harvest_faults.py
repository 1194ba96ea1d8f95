"""Bad input through the whole harvest (`voharvest harvest --replay`), one fault per case.

Each case copies the bundled NuSTAR (or INTEGRAL) recordings, breaks one thing (a cell, the bytes, the
markup, the archive), builds a replay archive for the day after a good snapshot and runs the CLI. The
outcome asked of every case: exit 1, a message naming the source and what is wrong (URL, row, column or
the archive record), nothing published, the previous snapshot byte-identical and ``latest`` unchanged.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import io
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from pipelines.cli import main
from scrapers.recordings import build_from_sources
from scrapers.registry import select_sources

RECORDINGS = Path(__file__).resolve().parents[2] / "recordings"
GOOD_DAY, BAD_DAY = dt.date(2025, 9, 5), dt.date(2025, 9, 6)
PAGE = "schedule_2025-09_reconstructed.html"
OBSLOC = "obsloc_short_range_2025-09_reconstructed.txt"
NUMASTER = "numaster_2025-05_reconstructed.vot"
NUSTAR_URL = "https://nustarsoc.caltech.edu/NuSTAR_Public/NuSTAROperationSite/Schedule.php"
ROW = "<tr><td>2025:257:04:35:05</td><td>2025:258:10:45:00</td><td>31101012004</td><td>3XMM_J181923d7m17061</td>"


def _harvest(archive: Path, output: Path, source: str) -> tuple[int, str]:
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        code = main(["harvest", "--replay", str(archive), "--output", str(output), "--source", source])
    return code, err.getvalue() + out.getvalue()


def _hashes(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in folder.rglob("*")
        if p.is_file()
    }


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One good NuSTAR + INTEGRAL snapshot of GOOD_DAY per source (the state every fault must keep)."""
    roots = {}
    for source in ("nustar", "integral"):
        tmp = tmp_path_factory.mktemp(f"good-{source}")
        archive = tmp / "replay"
        build_from_sources(RECORDINGS, archive, list(select_sources([source]).values()), GOOD_DAY)
        code, text = _harvest(archive, tmp / "out", source)
        assert code == 0, text
        roots[source] = tmp / "out"
    return roots


def _run_fault(
    tmp_path: Path,
    published: dict[str, Path],
    source: str,
    break_recordings: Callable[[Path], None] | None = None,
    break_archive: Callable[[Path], None] | None = None,
) -> str:
    output = tmp_path / "out"
    shutil.copytree(published[source], output, symlinks=True)
    before = _hashes(output / "snapshots")
    latest = os.readlink(output / "latest")
    recordings = tmp_path / "recordings"
    shutil.copytree(RECORDINGS / source, recordings / source)
    if break_recordings is not None:
        break_recordings(recordings / source)
    archive = tmp_path / "replay"
    build_from_sources(recordings, archive, list(select_sources([source]).values()), BAD_DAY)
    if break_archive is not None:
        break_archive(archive)
    code, text = _harvest(archive, output, source)
    assert code == 1, f"the fault was published:\n{text}"
    assert _hashes(output / "snapshots") == before, "the previous snapshot changed"
    assert os.readlink(output / "latest") == latest
    assert not (output / "snapshots" / BAD_DAY.isoformat()).exists()
    return text


def _edit(path: Path, old: str, new: str, count: int = 1) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, count), encoding="utf-8")


# -- values ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("2025:257:04:35:05", "9999:001:00:00:00", "outside"),
        ("<td>274.84904</td>", "<td>nan</td>", "RA"),
        ("<td>274.84904</td>", "<td>inf</td>", "RA"),
        ("<td>-17.10439</td>", "<td>-95.0</td>", "Dec outside"),
        ("<td>58.9</td>", "<td>1e300</td>", "column 'Exp'"),
    ],
    ids=["year-9999", "nan-ra", "inf-ra", "dec-95", "exposure-1e300"],
)
def test_implausible_cells_stop_the_harvest(
    tmp_path: Path, published: dict[str, Path], old: str, new: str, message: str
) -> None:
    text = _run_fault(tmp_path, published, "nustar", lambda rec: _edit(rec / PAGE, old, new))
    assert "nustar" in text and NUSTAR_URL in text and message in text
    assert "row" in text


def test_same_sequence_id_for_two_targets_names_both_rows(tmp_path: Path, published: dict[str, Path]) -> None:
    twin = ROW.replace("2025:257:04:35:05", "2025:257:05:00:00").replace("3XMM_J181923d7m17061", "Kepler")
    text = _run_fault(
        tmp_path,
        published,
        "nustar",
        lambda rec: _edit(
            rec / PAGE, ROW, twin + "<td>274.84904</td><td>-17.10439</td><td>1.0</td><td></td></tr>\n" + ROW
        ),
    )
    assert "31101012004" in text and "Kepler" in text and "3XMM_J181923d7m17061" in text


def test_page_bytes_invalid_in_the_declared_charset(tmp_path: Path, published: dict[str, Path]) -> None:
    def latin1(rec: Path) -> None:
        text = (rec / PAGE).read_text(encoding="utf-8").replace("Abell_520", "Abell_520_Caf\xe9")
        (rec / PAGE).write_bytes(text.encode("latin-1"))  # served as charset=utf-8 (responses.json)

    text = _run_fault(tmp_path, published, "nustar", latin1)
    assert "not valid utf-8" in text and "byte offset" in text and NUSTAR_URL in text


def test_layout_drift_names_the_headers_found(tmp_path: Path, published: dict[str, Path]) -> None:
    text = _run_fault(tmp_path, published, "nustar", lambda rec: _edit(rec / PAGE, "sequenceID", "seq_no", -1))
    assert "nustar" in text and "seq_no" in text


def test_empty_page(tmp_path: Path, published: dict[str, Path]) -> None:
    text = _run_fault(tmp_path, published, "nustar", lambda rec: (rec / PAGE).write_bytes(b""))
    assert "nustar" in text and "empty" in text


# -- markup attacks -------------------------------------------------------------------------------
XXE_DOCTYPE = '<!DOCTYPE html [<!ENTITY xxe SYSTEM "file:///etc/hostname">]>'
LAUGHS_DOCTYPE = (
    '<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
)


@pytest.mark.parametrize(
    ("doctype", "entity"), [(XXE_DOCTYPE, "&xxe;"), (LAUGHS_DOCTYPE, "&lol3;")], ids=["xxe", "laughs"]
)
def test_entities_in_the_html_page_are_refused(
    tmp_path: Path, published: dict[str, Path], doctype: str, entity: str
) -> None:
    def attack(rec: Path) -> None:
        text = (rec / PAGE).read_text(encoding="utf-8")
        (rec / PAGE).write_text(doctype + text.replace("Abell_520", entity), encoding="utf-8")

    text = _run_fault(tmp_path, published, "nustar", attack)
    assert "entities" in text and NUSTAR_URL in text


@pytest.mark.parametrize(
    ("doctype", "entity"), [(XXE_DOCTYPE, "&xxe;"), (LAUGHS_DOCTYPE, "&lol3;")], ids=["xxe", "laughs"]
)
def test_entities_in_the_tap_votable_are_refused(
    tmp_path: Path, published: dict[str, Path], doctype: str, entity: str
) -> None:
    def attack(rec: Path) -> None:
        text = (rec / NUMASTER).read_text(encoding="utf-8")
        head, sep, rest = text.partition("?>")
        rest = rest.replace("<TD>GX_1p4</TD>", f"<TD>{entity}</TD>", 1) if "<TD>GX_1p4</TD>" in rest else rest
        (rec / NUMASTER).write_text(head + sep + doctype.replace("html", "VOTABLE") + rest, encoding="utf-8")

    text = _run_fault(tmp_path, published, "nustar", attack)
    assert "entities" in text and "heasarc" in text.lower()


# -- archive faults -------------------------------------------------------------------------------
def _records(archive: Path) -> list[Path]:
    return sorted((archive / "records").glob("*.json"))


def test_tampered_blob_is_refused_naming_the_record(tmp_path: Path, published: dict[str, Path]) -> None:
    def tamper(archive: Path) -> None:
        entry = json.loads(_records(archive)[0].read_text())
        if entry.get("sha256") is None:
            entry = json.loads(_records(archive)[1].read_text())
        blob = archive / "blobs" / entry["sha256"][:2] / entry["sha256"]
        blob.write_bytes(blob.read_bytes() + b"tampered")

    text = _run_fault(tmp_path, published, "nustar", break_archive=tamper)
    assert "nustar" in text and ("SHA-256" in text or "sha256" in text.lower()) and "archive record" in text


def test_non_json_archive_record_is_refused_naming_the_file(tmp_path: Path, published: dict[str, Path]) -> None:
    def garble(archive: Path) -> None:
        _records(archive)[0].write_text("{not json")

    text = _run_fault(tmp_path, published, "nustar", break_archive=garble)
    assert "not JSON" in text and "records/" in text


def test_missing_request_in_the_archive(tmp_path: Path, published: dict[str, Path]) -> None:
    text = _run_fault(tmp_path, published, "nustar", break_archive=lambda a: [p.unlink() for p in _records(a)])
    assert "is not in replay archive" in text and "nustar" in text


# -- another source -------------------------------------------------------------------------------
def test_integral_csv_year_9999_is_refused(tmp_path: Path, published: dict[str, Path]) -> None:
    def far(rec: Path) -> None:
        csv = next(p for p in rec.glob("*.csv") if "evidenced" in p.name)
        text = csv.read_text(encoding="utf-8")
        first = text.splitlines()[1]
        start = first.split('","')[1]
        csv.write_text(text.replace(start, "9999" + start[4:], 1), encoding="utf-8")

    text = _run_fault(tmp_path, published, "integral", far)
    assert "integral" in text and "9999" in text
