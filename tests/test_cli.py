"""The ``voharvest`` command line: harvest from a replay archive, validate, tamper detection, list, diff.

The replay archive is built by ``voharvest build-replay`` from the NuSTAR recordings shipped in the
repository (real rows; recordings/nustar/PROVENANCE.md). Every command runs with the working
directory in a temporary folder, so nothing can be written into the repository.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipelines.cli import main

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def harvested(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    tmp = tmp_path_factory.mktemp("cli")
    cwd = os.getcwd()
    os.chdir(tmp)
    try:
        archive = tmp / "replay"
        build = main(
            ["build-replay", "--recordings", str(REPO / "recordings"), "--archive", str(archive), "--source", "nustar"]
        )
        output = tmp / "output"
        # --ephemeral: a throw-away Dagster instance (the shared one is tested in test_operators.py)
        code = main(["harvest", "--replay", str(archive), "--output", str(output), "--source", "nustar", "--ephemeral"])
        entries = sorted(p.name for p in tmp.iterdir())
    finally:
        os.chdir(cwd)
    return {"tmp": tmp, "archive": archive, "output": output, "build": build, "code": code, "entries": entries}


def test_harvest_prints_the_snapshot_path(harvested: dict, capsys: pytest.CaptureFixture[str]) -> None:
    assert harvested["build"] == 0 and harvested["code"] == 0
    snap = harvested["output"] / "snapshots" / "2025-09-05"
    assert (snap / "manifest.json").is_file()
    assert os.readlink(harvested["output"] / "latest") == "snapshots/2025-09-05"
    # nothing but the archive and the output root appeared in the working directory (--ephemeral: no Dagster home)
    assert harvested["entries"] == ["output", "replay"]
    table = pq.read_table(snap / "obsplan.parquet").to_pandas()
    assert len(table) == 11 and set(table["facility_name"]) == {"NuSTAR"}
    # re-running the date reproduces the same bytes: accepted as identical, path printed
    code = main(
        ["harvest", "--replay", str(harvested["archive"]), "--output", str(harvested["output"]), "--source", "nustar"]
        + ["--ephemeral"]
    )
    assert code == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == str(snap)


def test_validate_fresh_and_tampered(harvested: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    snap = harvested["output"] / "snapshots" / "2025-09-05"
    assert main(["validate", str(snap)]) == 0
    assert "valid" in capsys.readouterr().out
    copy = tmp_path / "copy"
    shutil.copytree(snap, copy)
    with open(copy / "obsplan.parquet", "ab") as handle:
        handle.write(b"x")
    assert main(["validate", str(copy)]) == 1
    out = capsys.readouterr().out
    assert "INVALID" in out
    assert "obsplan.parquet: SHA-256 " in out and "obsplan.parquet: size " in out


def test_list_and_diff(harvested: dict, capsys: pytest.CaptureFixture[str]) -> None:
    output = harvested["output"]
    assert main(["list", "--output", str(output)]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith("2025-09-05") and "obsplan 11" in line and line.endswith("<- latest")
    snap = output / "snapshots" / "2025-09-05"
    assert main(["diff", str(snap), str(snap)]) == 0
    out = capsys.readouterr().out
    assert "obsplan: 11 -> 11 rows" in out and "obsplan changed: 0" in out


def test_harvest_errors_are_clear(harvested: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["harvest", "--replay", str(tmp_path / "nowhere"), "--output", str(tmp_path / "o")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["harvest", "--replay", str(harvested["archive"]), "--source", "bogus"]) == 2
    assert "unknown source(s) ['bogus']" in capsys.readouterr().err
    code = main(
        ["harvest", "--replay", str(harvested["archive"]), "--as-of", "2025-09-06", "--source", "nustar"]
        + ["--output", str(tmp_path / "o")]
    )
    assert code == 1
    err = capsys.readouterr().err
    assert "is for 2025-09-05, not 2025-09-06" in err and "nothing published" in err
    assert not (tmp_path / "o" / "snapshots").exists()


def test_import_gadf(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["import-gadf", str(REPO / "tests" / "data" / "gadf"), "--collection", "HESS-DL3-DR1"]
        + ["--access-url-template", "https://example.org/{file_name}", "--output", str(tmp_path)]
    )
    assert code == 0
    assert len(pq.read_table(tmp_path / "obscore.parquet")) == 105
    assert str(tmp_path / "obscore.vot") in capsys.readouterr().out.splitlines()
