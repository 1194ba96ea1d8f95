"""A re-run of a published date from byte-identical raw inputs is recognised before any rebuilding.

The bundled replay archive (recordings/replay: real recorded responses, see recordings/*/PROVENANCE.md)
is harvested once into a temporary output root in a child process; the second run, in another child,
must print "unchanged", leave every file of the snapshot untouched (inode and mtime) and never import
Dagster, astropy, mocpy or pandas. Anything else (one changed byte, a tampered blob, another code
version, other options, another previous snapshot, a carried-over source, an extra request, a broken
manifest, --rebuild) must not count as unchanged. Nothing here is timed: ``benchmarks/bench_unchanged.py``
measures the speed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from models import unchanged
from models.unchanged import check_inputs, check_replay, options_difference, recorded_options

REPO = Path(__file__).resolve().parent.parent
REPLAY = REPO / "recordings" / "replay"
DATE = dt.date(2025, 9, 5)
HEAVY = ("dagster", "astropy", "mocpy", "pandas")
#: Runs ``voharvest`` in a child and reports which heavy modules the run imported.
WRAPPER = (
    "import sys\n"
    "from pipelines.cli import main\n"
    "code = main(sys.argv[1:])\n"
    f"heavy = [m for m in {HEAVY!r} if m in sys.modules]\n"
    "print('HEAVY=' + ','.join(heavy), file=sys.stderr)\n"
    "sys.exit(code)\n"
)
#: The options the fixture publishes with (tests/conftest.py: no visibility MOCs, default authority).
ENV = {"VOHARVEST_VISIBILITY_DAYS": "0"}


def voharvest(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """``voharvest ARGS`` in a child process (the working directory is the repository, read only here)."""
    env = {**os.environ, **ENV}
    env.pop("VOHARVEST_AUTHORITY", None)
    return subprocess.run(
        [sys.executable, "-c", WRAPPER, *map(str, args)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def heavy_imports(run: subprocess.CompletedProcess[str]) -> list[str]:
    line = [x for x in run.stderr.splitlines() if x.startswith("HEAVY=")][-1]
    return [m for m in line.removeprefix("HEAVY=").split(",") if m]


def tree_state(root: Path) -> dict[str, tuple[int, int, int]]:
    """(inode, mtime_ns, size) of a directory and everything under it."""
    paths = [root, *sorted(root.rglob("*"))]
    return {p.relative_to(root).as_posix(): (p.lstat().st_ino, p.lstat().st_mtime_ns, p.lstat().st_size) for p in paths}


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An output root holding the snapshot of 2025-09-05 harvested from recordings/replay."""
    output = tmp_path_factory.mktemp("unchanged") / "output"
    run = voharvest("harvest", "--replay", REPLAY, "--output", output, "--ephemeral")
    assert run.returncode == 0, run.stderr
    assert "dagster" in heavy_imports(run)  # the first run built it
    return output


@pytest.fixture
def output(published: Path, tmp_path: Path) -> Path:
    """A private copy of the published output root (tests may edit it)."""
    copy = tmp_path / "output"
    shutil.copytree(published, copy, symlinks=True)
    return copy


@pytest.fixture
def replay(tmp_path: Path) -> Path:
    """A private copy of the bundled replay archive."""
    copy = tmp_path / "replay"
    shutil.copytree(REPLAY, copy)
    return copy


def check(output: Path, archive: Path = REPLAY, environ: dict[str, str] = ENV) -> unchanged.Verdict | None:
    """The rule without its code-age part (other helpers edit the code while these tests run; tested apart)."""
    return check_replay(output, archive, environ=environ, code_root=None)


def as_if_just_published(output: Path) -> None:
    """Date the manifest now: the code-age rule then holds even if another helper edited a file meanwhile."""
    os.utime(manifest_of(output))


def manifest_of(output: Path) -> Path:
    return output / "snapshots" / DATE.isoformat() / "manifest.json"


def edit_manifest(output: Path, **changes: object) -> None:
    path = manifest_of(output)
    document = json.loads(path.read_text())
    document.update(changes)
    path.write_text(json.dumps(document, indent=1, sort_keys=True))


def nustar_schedule(archive: Path) -> Path:
    """The record of NuSTAR's schedule page in a raw archive."""
    for path in sorted((archive / "records").glob("*.json")):
        entry = json.loads(path.read_text())
        if (entry["source"], entry["name"]) == ("nustar", "schedule"):
            return path
    raise AssertionError("no NuSTAR schedule record")


def change_one_byte(archive: Path) -> str:
    """A new fetch of NuSTAR's schedule differing by one byte (the title's 'N' in lower case), stored properly."""
    record_path = nustar_schedule(archive)
    entry = json.loads(record_path.read_text())
    old = (archive / "blobs" / entry["sha256"][:2] / entry["sha256"]).read_bytes()
    at = old.index(b"<title>NuSTAR") + len(b"<title>")
    new = old[:at] + b"n" + old[at + 1 :]
    assert len(new) == len(old) and sum(a != b for a, b in zip(old, new, strict=True)) == 1
    sha = hashlib.sha256(new).hexdigest()
    blob = archive / "blobs" / sha[:2] / sha
    blob.parent.mkdir(parents=True, exist_ok=True)
    blob.write_bytes(new)
    entry["sha256"] = sha
    record_path.write_text(json.dumps(entry, sort_keys=True, indent=1, ensure_ascii=False))
    return sha


# -- the command line, in child processes -----------------------------------------------------------
def test_second_harvest_is_unchanged_touches_nothing_and_imports_no_dagster(published: Path) -> None:
    snap = published / "snapshots" / DATE.isoformat()
    as_if_just_published(published)
    before, latest = tree_state(published), os.readlink(published / "latest")
    run = voharvest("harvest", "--replay", REPLAY, "--output", published, "--ephemeral")
    assert run.returncode == 0, run.stderr
    assert heavy_imports(run) == []
    assert run.stdout.strip().splitlines()[-1] == str(snap.resolve())
    head = run.stderr.splitlines()[0]
    assert head.startswith(f"snapshot {DATE.isoformat()}: {snap.resolve()} (unchanged") and "nothing rebuilt" in head
    # every file, the snapshot directory, staging and latest untouched
    assert tree_state(published) == before
    assert os.readlink(published / "latest") == latest
    # the summary's counts are the published tables' (read independently with pyarrow)
    obsplan = pq.read_table(snap / "obsplan.parquet").to_pandas()
    per = obsplan["facility_name"].value_counts().sort_index()
    expected = f"  obsplan: {len(obsplan)} rows ({', '.join(f'{k} {v}' for k, v in per.items())})"
    assert expected in run.stderr.splitlines()
    assert f"  landing page: {snap.resolve() / 'index.html'}" in run.stderr.splitlines()


def test_one_changed_byte_rebuilds(published: Path, replay: Path) -> None:
    change_one_byte(replay)
    as_if_just_published(published)  # so the reason given is the byte, not a code edit of another helper
    before = tree_state(published / "snapshots")  # the rebuild rewrites the work area .work/, never a snapshot
    run = voharvest("harvest", "--replay", replay, "--output", published, "--ephemeral")
    assert "(unchanged" not in run.stderr
    assert "nustar/schedule: raw record" in run.stderr and "-- rebuilding" in run.stderr
    assert "dagster" in heavy_imports(run)
    # rebuilt, and refused: the date is published with other bytes and snapshots are immutable without --force
    assert run.returncode == 1 and "already published with different content" in run.stderr
    assert tree_state(published / "snapshots") == before


def test_rebuild_flag_bypasses_the_check(published: Path) -> None:
    before = tree_state(published / "snapshots")
    run = voharvest("harvest", "--replay", REPLAY, "--output", published, "--ephemeral", "--rebuild")
    assert run.returncode == 0, run.stderr
    assert "dagster" in heavy_imports(run)
    snap = published / "snapshots" / DATE.isoformat()
    assert f"snapshot {DATE.isoformat()}: {snap.resolve()} (identical)" in run.stderr
    assert tree_state(published / "snapshots") == before  # identical bytes: the stage was discarded


def test_help_explains_the_check(capsys: pytest.CaptureFixture[str]) -> None:
    from pipelines.cli import main

    with pytest.raises(SystemExit) as stop:
        main(["harvest", "--help"])
    assert stop.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "--rebuild" in text and "byte-identical" in text and "'unchanged'" in text
    assert "VOHARVEST_VISIBILITY_DAYS" in text and "code version" in text


def test_bad_arguments_reach_the_full_parser(capsys: pytest.CaptureFixture[str]) -> None:
    from pipelines.cli import main

    with pytest.raises(SystemExit) as stop:
        main(["harvest", "--as-of", "2025-13-01", "--replay", str(REPLAY)])
    assert stop.value.code == 2
    assert "is not a date" in capsys.readouterr().err


def test_source_subset_and_force_bypass(published: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pipelines.cli import _harvest_unchanged

    base = ["--replay", str(REPLAY), "--output", str(published)]
    monkeypatch.setenv("VOHARVEST_VISIBILITY_DAYS", "0")
    monkeypatch.delenv("VOHARVEST_AUTHORITY", raising=False)
    assert _harvest_unchanged([*base, "--source", "nustar"]) is None
    assert _harvest_unchanged([*base, "--force"]) is None
    assert _harvest_unchanged([*base, "--as-of", "2025-09-06"]) is None  # the archive's date differs


# -- the rule, in process (pure) -------------------------------------------------------------------
def test_identical_inputs_are_unchanged(output: Path) -> None:
    verdict = check(output, REPLAY, ENV)
    assert verdict is not None and verdict.unchanged, verdict
    records = len(list((REPLAY / "records").glob("*.json")))
    assert f"{records} responses of 5 sources" in verdict.reason
    # the snapshot's own raw/ is the same inputs
    raw = check(output, output / "snapshots" / DATE.isoformat() / "raw", ENV)
    assert raw is not None and raw.unchanged


def test_record_digest_matches_the_exported_records(output: Path) -> None:
    raw = output / "snapshots" / DATE.isoformat() / "raw" / "records"
    for path in sorted((REPLAY / "records").glob("*.json")):
        exported = hashlib.sha256((raw / path.name).read_bytes()).hexdigest()
        assert unchanged.record_digest(path.read_bytes()) == exported
        # the same record written with other whitespace and key order is the same record
        reordered = json.dumps(dict(reversed(json.loads(path.read_text()).items())))
        assert unchanged.record_digest(reordered.encode()) == exported


def test_changed_tampered_or_extra_raw_inputs_are_not_unchanged(output: Path, replay: Path) -> None:
    record = nustar_schedule(replay)
    entry = json.loads(record.read_text())
    blob = replay / "blobs" / entry["sha256"][:2] / entry["sha256"]
    original = blob.read_bytes()

    blob.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))  # tampered: the record still names the old bytes
    verdict = check(output, replay, ENV)
    assert not verdict.unchanged and "does not hash to its address" in verdict.reason
    blob.write_bytes(original)
    assert check(output, replay, ENV).unchanged

    refetched = {**entry, "fetched_at": "2025-09-05T00:00:01+00:00"}  # same bytes, fetched again
    record.write_text(json.dumps(refetched, sort_keys=True, indent=1))
    verdict = check(output, replay, ENV)
    assert not verdict.unchanged and "nustar/schedule: raw record" in verdict.reason
    record.write_text(json.dumps(entry, sort_keys=True, indent=1))
    assert check(output, replay, ENV).unchanged

    extra = {**entry, "url": entry["url"] + "?page=2", "key": "0" * 64}  # a request the snapshot never parsed
    (replay / "records" / f"{'0' * 64}.json").write_text(json.dumps(extra, sort_keys=True, indent=1))
    verdict = check(output, replay, ENV)
    assert not verdict.unchanged and verdict.reason.startswith("nustar: requests")

    (replay / "records" / f"{'0' * 64}.json").unlink()
    change_one_byte(replay)
    assert not check(output, replay, ENV).unchanged


@pytest.mark.parametrize(
    ("content", "reason"),
    [(None, "no published snapshot"), (b"{not json", "not readable JSON"), (b"[1, 2]", "not a JSON object")],
)
def test_missing_or_unreadable_manifest(output: Path, content: bytes | None, reason: str) -> None:
    path = manifest_of(output)
    if content is None:
        path.unlink()
    else:
        path.write_bytes(content)
    verdict = check(output, REPLAY, ENV)
    assert not verdict.unchanged and reason in verdict.reason


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"format": "voharvest-snapshot/0"}, "manifest format"),
        ({"snapshot": "2025-09-04"}, "manifest is for"),
        ({"files": None}, "no valid 'files'"),
        ({"code_version": "0.0.1"}, "code version"),
        ({"previous_snapshot": "2025-09-01"}, "previous snapshot is now None"),
        ({"options": {"visibility_days": 30.0, "authority": "voharvest"}}, "visibility window 0 d"),
    ],
)
def test_invalid_manifest_other_code_or_options_are_not_unchanged(
    output: Path, changes: dict[str, object], reason: str
) -> None:
    edit_manifest(output, **changes)
    verdict = check(output, REPLAY, ENV)
    assert not verdict.unchanged and reason in verdict.reason, verdict.reason


def test_code_version_is_the_snapshot_writers() -> None:
    from models import identifiers, snapshot
    from pipelines import assets

    assert unchanged.code_version() == snapshot.code_version()
    assert unchanged.MANIFEST_FORMAT == snapshot.MANIFEST_FORMAT
    assert unchanged.DEFAULT_VISIBILITY_DAYS == assets.VISIBILITY_DAYS
    assert unchanged.DEFAULT_AUTHORITY == identifiers.DEFAULT_AUTHORITY


def test_options_of_the_environment_must_match(output: Path) -> None:
    for env, word in (
        ({}, "visibility window 30 d"),  # the default window: the snapshot has none
        ({"VOHARVEST_VISIBILITY_DAYS": "7"}, "visibility window 7 d"),
        ({**ENV, "VOHARVEST_AUTHORITY": "example.org"}, "authority 'example.org'"),
    ):
        verdict = check(output, REPLAY, env)
        assert not verdict.unchanged and word in verdict.reason
    # a manifest recording its options (the proposed "options" entry) is read as such
    edit_manifest(output, options={"visibility_days": 7, "authority": "voharvest"})
    assert check(output, REPLAY, {"VOHARVEST_VISIBILITY_DAYS": "7"}).unchanged
    assert not check(output, REPLAY, ENV).unchanged


def test_visibility_window_inferred_from_a_real_manifest_entry(tmp_path: Path) -> None:
    # as a 2-day harvest of 2025-09-05 records it: ground sites span the window, XMM-Newton is TLE-bound
    start = 60923.0  # MJD of 2025-09-05T00:00Z
    visibility = {
        "APEX": {"start_mjd": start, "end_mjd": start + 2, "tle_epoch_mjd": None},
        "INTEGRAL": {"file": None, "why": "no visibility in the window (INTEGRAL: science ended 2025-02-28)"},
        "XMM-Newton": {"start_mjd": start, "end_mjd": start + 2, "tle_epoch_mjd": 60890.24021804},
    }
    recorded = recorded_options(tmp_path, {"visibility": visibility})
    assert recorded == {"visibility_days": 2.0, "authority": None}
    assert options_difference({"visibility_days": 2.0, "authority": None}, recorded) is None
    assert "3 d" in options_difference({"visibility_days": 3.0, "authority": None}, recorded)
    # every span clipped by a TLE (shorter than the window asked for): cannot confirm, so different
    clipped = {"XMM-Newton": {"start_mjd": start, "end_mjd": start + 1.5, "tle_epoch_mjd": 60890.2}}
    assert options_difference(
        {"visibility_days": 2.0, "authority": None}, recorded_options(tmp_path, {"visibility": clipped})
    )


def test_previous_snapshot_added_or_replaced(output: Path) -> None:
    earlier = output / "snapshots" / "2025-09-04"
    earlier.mkdir()
    (earlier / "manifest.json").write_text("{}")
    verdict = check(output, REPLAY, ENV)
    assert not verdict.unchanged and "previous snapshot is now 2025-09-04" in verdict.reason
    # built on 2025-09-04: unchanged while that one is older, changed once it was replaced afterwards
    edit_manifest(output, previous_snapshot="2025-09-04")
    ours = manifest_of(output).stat().st_mtime_ns
    os.utime(earlier / "manifest.json", ns=(ours - 10**9, ours - 10**9))
    assert check(output, REPLAY, ENV).unchanged
    os.utime(earlier / "manifest.json", ns=(ours + 10**9, ours + 10**9))
    verdict = check(output, REPLAY, ENV)
    assert not verdict.unchanged and "replaced after" in verdict.reason


def test_code_changed_since_the_snapshot_rebuilds(output: Path, tmp_path: Path) -> None:
    """The code's digest decides, not file times: an edit rebuilds, a touch alone does not."""
    from models.layout import code_digest

    code = tmp_path / "project"
    for rel in ("models/a.py", "scrapers/b.py", "pipelines/c.py", "recordings/visibility/x.tle"):
        (code / rel).parent.mkdir(parents=True, exist_ok=True)
        (code / rel).write_text("x = 1\n")
    edit_manifest(output, code_digest=code_digest(code))  # as if this code had written the snapshot
    assert check_replay(output, REPLAY, environ=ENV, code_root=code).unchanged
    written = manifest_of(output).stat().st_mtime_ns
    for rel in ("scrapers/b.py", "recordings/visibility/x.tle"):  # an edit, or a new TLE set for the MOCs
        (code / rel).write_text("x = 2\n")
        code_digest.cache_clear()
        verdict = check_replay(output, REPLAY, environ=ENV, code_root=code)
        assert not verdict.unchanged and "code changed since the snapshot was written" in verdict.reason
        (code / rel).write_text("x = 1\n")
        os.utime(code / rel, ns=(written + 10**9, written + 10**9))  # back to the same bytes, touched later
        code_digest.cache_clear()
        assert check_replay(output, REPLAY, environ=ENV, code_root=code).unchanged
    cache = code / "models" / "__pycache__" / "a.cpython-311.pyc"  # written by imports after publication: ignored
    cache.parent.mkdir()
    cache.write_bytes(b"")
    code_digest.cache_clear()
    assert check_replay(output, REPLAY, environ=ENV, code_root=code).unchanged
    edit_manifest(output, code_digest=None)  # a manifest of a version that did not record it
    verdict = check_replay(output, REPLAY, environ=ENV, code_root=code)
    assert not verdict.unchanged and "the snapshot's not recorded" in verdict.reason


def test_stale_latest_is_repaired_by_a_rebuild(output: Path) -> None:
    link = output / "latest"
    assert os.readlink(link) == f"snapshots/{DATE.isoformat()}"
    link.unlink()  # a publication interrupted between its rename and the switch of latest
    verdict = check(output, REPLAY, ENV)
    assert not verdict.unchanged and "does not point at" in verdict.reason
    os.symlink(f"snapshots/{DATE.isoformat()}", link)
    assert check(output, REPLAY, ENV).unchanged


def test_past_date_replays_its_raw_archive(
    output: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipelines.cli import _harvest_unchanged

    archive_dir = tmp_path / "raw_archive"
    shutil.copytree(REPLAY, archive_dir / DATE.isoformat())
    as_if_just_published(output)
    monkeypatch.setenv("VOHARVEST_VISIBILITY_DAYS", "0")
    monkeypatch.delenv("VOHARVEST_AUTHORITY", raising=False)
    argv = ["--as-of", DATE.isoformat(), "--archive-dir", str(archive_dir), "--output", str(output)]
    assert _harvest_unchanged(argv) == 0
    captured = capsys.readouterr()
    assert "(unchanged" in captured.err and captured.out.strip() == str(
        output.resolve() / "snapshots" / DATE.isoformat()
    )
    assert _harvest_unchanged([*argv[:2], "--archive-dir", str(tmp_path / "none"), *argv[4:]]) is None


def test_carried_over_or_missing_source(output: Path) -> None:
    document = json.loads(manifest_of(output).read_text())
    sources = document["sources"]
    edit_manifest(output, sources={**sources, "integral": {**sources["integral"], "carried_over_from": "2025-09-04"}})
    verdict = check(output, REPLAY, ENV)
    assert not verdict.unchanged and verdict.reason.startswith("integral: not harvested")
    edit_manifest(output, sources={k: v for k, v in sources.items() if k != "eso"})
    verdict = check(output, REPLAY, ENV)
    assert not verdict.unchanged and verdict.reason.startswith("sources ")


def test_inputs_from_the_pipelines_provenance(output: Path) -> None:
    keys = unchanged.archive_keys(REPLAY)
    sources = {name: {"archive": str(REPLAY), "requests": [{"k": k} for k in ks]} for name, ks in keys.items()}
    inputs = unchanged.inputs_from_provenance(sources, lambda r: r["k"])
    assert inputs is not None and check_inputs(output, DATE, inputs, environ=ENV, code_root=None).unchanged
    carried = {**sources, "integral": {"as_of": "2025-09-04", "carried_over_from": "2025-09-04"}}
    assert unchanged.inputs_from_provenance(carried, lambda r: r["k"]) is None
