"""The whole job, in-process, over four consecutive snapshot dates replayed from recorded rows.

The replay archives are built with ``scrapers.recordings.build_archive`` from copies of the bundled
NuSTAR and XMM-Newton recordings (real rows, see ``recordings/*/PROVENANCE.md``), changed in code:

* 2025-09-05: the recordings as they are (NuSTAR + XMM-Newton; their as-of date: xmmmaster rows flown on
  09-04 would be "performed in the future" on an earlier day);
* 2025-09-06: NuSTAR 60061013002 (ESO353_G009) removed from the schedule page and the ObsLoc text
  (a withdrawal), 31101012004 starting two hours later (a move);
* 2025-09-07: only NuSTAR harvested; HD_45166 (31101005002) planned for 100 ks instead of 123.5 ks;
* 2025-09-08: a NuSTAR page that collapsed to one row: the blocking drift check must stop
  publication and leave 2025-09-07 untouched.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import io
import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from models.history_store import read_history
from models.timeutil import mjd_from_datetime, mjd_from_doy
from pipelines.cli import main
from scrapers.recordings import build_from_sources
from scrapers.registry import select_sources

RECORDINGS = Path(__file__).resolve().parent.parent / "recordings"
SOURCES = ("nustar", "xmm_newton")
# The bundled recordings are of 2025-09-05: xmmmaster reports rows flown on 09-04, so day 1 is 09-05.
DAY1, DAY2, DAY3, DAY4 = (dt.date(2025, 9, d) for d in (5, 6, 7, 8))
WITHDRAWN = "60061013002"
MOVED = "31101012004"
EXPOSURE = "31101005002"
NUSTAR_FILES = ("schedule_2025-09_reconstructed.html", "obsloc_short_range_2025-09_reconstructed.txt")


def _edit_lines(path: Path, edit) -> None:  # noqa: ANN001 - a line -> line | None callable
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(out for line in lines if (out := edit(line)) is not None))


def _recordings(tmp: Path, day: dt.date) -> Path:
    """A copy of the recordings with the changes of ``day`` (cumulative, as a real schedule evolves)."""
    rec = tmp / f"recordings-{day.isoformat()}"
    for source in SOURCES:
        shutil.copytree(RECORDINGS / source, rec / source)
    nustar = rec / "nustar"
    if day >= DAY2:
        for name in NUSTAR_FILES:
            _edit_lines(nustar / name, lambda line: None if WITHDRAWN in line else line)
            _edit_lines(nustar / name, lambda line: line.replace("2025:257:04:35:05", "2025:257:06:35:05"))
    if day >= DAY3:
        for name in NUSTAR_FILES:
            _edit_lines(nustar / name, lambda line: line.replace("123.5", "100.0") if EXPOSURE in line else line)
    if day >= DAY4:
        # the page lost all rows but HD_45166; the as-flown answer kept one row
        for name in NUSTAR_FILES:
            _edit_lines(
                nustar / name, lambda line: None if re.search(r"\b\d{11}\b", line) and EXPOSURE not in line else line
            )
        vot = nustar / "numaster_2025-05_reconstructed.vot"
        text = vot.read_text()
        rows = re.findall(r"<TR>.*?</TR>\s*", text, flags=re.S)
        vot.write_text(text.replace("".join(rows[1:]), "") if len(rows) > 1 else text)
    return rec


def _archive(tmp: Path, day: dt.date, sources: tuple[str, ...]) -> Path:
    archive = tmp / f"replay-{day.isoformat()}"
    build_from_sources(_recordings(tmp, day), archive, list(select_sources(sources).values()), day)
    return archive


def _harvest(archive: Path, output: Path, sources: tuple[str, ...]) -> tuple[int, str]:
    args = ["harvest", "--replay", str(archive), "--output", str(output)]
    for s in sources:
        args += ["--source", s]
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(args)
    return code, err.getvalue()


def _hashes(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _table(output: Path, day: dt.date, name: str) -> pd.DataFrame:
    folder = output / "snapshots" / day.isoformat()
    if name == "obsplan_history":  # the history's parts (models.history_store) read as one table
        return read_history(folder).to_pandas()
    return pq.read_table(folder / f"{name}.parquet").to_pandas()


def _nustar(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["facility_name"] == "NuSTAR"].set_index("obs_id")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    tmp = tmp_path_factory.mktemp("pipeline")
    out = tmp / "output"
    runs = {
        DAY1: _harvest(_archive(tmp, DAY1, SOURCES), out, SOURCES),
        DAY2: _harvest(_archive(tmp, DAY2, SOURCES), out, SOURCES),
        DAY3: _harvest(_archive(tmp, DAY3, ("nustar",)), out, ("nustar",)),
    }
    before = _hashes(out / "snapshots")
    latest_before = (out / "latest").readlink()
    runs[DAY4] = _harvest(_archive(tmp, DAY4, ("nustar",)), out, ("nustar",))
    # determinism: the same raw archive published into a second output root
    twin = tmp / "twin"
    twin_code, _ = _harvest(tmp / f"replay-{DAY1.isoformat()}", twin, SOURCES)
    return {
        "out": out,
        "codes": {day: code for day, (code, _) in runs.items()},
        "stderr": {day: text for day, (_, text) in runs.items()},
        "before": before,
        "latest_before": latest_before,
        "twin": twin,
        "twin_code": twin_code,
    }


def test_three_dates_publish(runs: dict) -> None:
    out = runs["out"]
    assert [runs["codes"][d] for d in (DAY1, DAY2, DAY3)] == [0, 0, 0]
    assert sorted(p.name for p in (out / "snapshots").iterdir()) == ["2025-09-05", "2025-09-06", "2025-09-07"]
    for day in (DAY1, DAY2, DAY3):
        assert main(["validate", str(out / "snapshots" / day.isoformat())]) == 0


def test_t_planning_stable_for_unchanged_and_new_for_changed(runs: dict) -> None:
    out = runs["out"]
    as_of = {d: mjd_from_datetime(dt.datetime.combine(d, dt.time(0), tzinfo=dt.UTC)) for d in (DAY1, DAY2, DAY3)}
    d1, d2, d3 = (_nustar(_table(out, d, "obsplan")) for d in (DAY1, DAY2, DAY3))
    assert set(d1["t_planning"]) == {as_of[DAY1]}
    unchanged = sorted(set(d1.index) - {WITHDRAWN, MOVED, EXPOSURE})
    assert len(unchanged) == 8
    assert (d2.loc[unchanged, "t_planning"] == as_of[DAY1]).all()
    assert (d3.loc[unchanged, "t_planning"] == as_of[DAY1]).all()
    assert d2.loc[MOVED, "t_planning"] == as_of[DAY2]
    assert d2.loc[MOVED, "t_min"] == pytest.approx(mjd_from_doy(["2025:257:06:35:05"])[0], abs=1e-9)
    assert d3.loc[MOVED, "t_planning"] == as_of[DAY2]  # unchanged on day 3
    assert d2.loc[EXPOSURE, "t_planning"] == as_of[DAY1]
    assert d3.loc[EXPOSURE, "t_planning"] == as_of[DAY3]
    assert d3.loc[EXPOSURE, "t_plan_exptime"] == 100_000.0


def test_withdrawal_is_unscheduled_with_new_t_planning(runs: dict) -> None:
    out = runs["out"]
    d1, d2, d3 = (_nustar(_table(out, d, "obsplan")) for d in (DAY1, DAY2, DAY3))
    assert d1.loc[WITHDRAWN, "execution_status"] == "Scheduled"
    assert d2.loc[WITHDRAWN, "execution_status"] == "Unscheduled"
    assert d2.loc[WITHDRAWN, "t_planning"] == d2.loc[MOVED, "t_planning"] > d1.loc[WITHDRAWN, "t_planning"]
    assert d2.loc[WITHDRAWN, "t_min"] == d1.loc[WITHDRAWN, "t_min"]  # last known window kept
    # day 3: still there, unchanged (history, not a second withdrawal)
    assert d3.loc[WITHDRAWN, "execution_status"] == "Unscheduled"
    assert d3.loc[WITHDRAWN, "t_planning"] == d2.loc[WITHDRAWN, "t_planning"]


def test_changelog_matches(runs: dict) -> None:
    out = runs["out"]
    docs = {d: json.loads((out / "snapshots" / d.isoformat() / "changes.json").read_text()) for d in (DAY1, DAY2, DAY3)}
    assert docs[DAY1]["previous_snapshot"] is None
    assert docs[DAY1]["counts"]["added"] == len(_table(out, DAY1, "obsplan"))
    nustar2 = sorted((c["x_change"], c["obs_id"]) for c in docs[DAY2]["changes"] if c["x_source"] == "nustar")
    assert nustar2 == [("moved", MOVED), ("withdrawn", WITHDRAWN)]
    moved = next(c for c in docs[DAY2]["changes"] if c["obs_id"] == MOVED)
    assert moved["x_delta_t_min"] == pytest.approx(7200.0, abs=1e-3)
    assert moved["x_changed_fields"] == "t_min"
    withdrawn = next(c for c in docs[DAY2]["changes"] if c["obs_id"] == WITHDRAWN)
    assert (withdrawn["x_prev_execution_status"], withdrawn["execution_status"]) == ("Scheduled", "Unscheduled")
    # day 3 harvests NuSTAR only: one exposure change, and XMM-Newton rows are carried over, not withdrawn
    assert docs[DAY3]["previous_snapshot"] == "2025-09-06"
    assert [(c["x_change"], c["obs_id"]) for c in docs[DAY3]["changes"]] == [("exposure_changed", EXPOSURE)]
    exp = docs[DAY3]["changes"][0]
    assert (exp["x_prev_t_plan_exptime"], exp["t_plan_exptime"]) == (123_500.0, 100_000.0)
    changes_vot = out / "snapshots" / DAY3.isoformat() / "changes.vot"
    assert changes_vot.read_bytes().count(b"<FIELD ") == 20


def test_history_has_every_version(runs: dict) -> None:
    out = runs["out"]
    hist = _table(out, DAY3, "obsplan_history")
    versions = hist[hist["x_source"] == "nustar"].groupby("obs_id")["x_version"].max()
    assert versions[MOVED] == 2 and versions[WITHDRAWN] == 2 and versions[EXPOSURE] == 2
    assert (versions.drop([MOVED, WITHDRAWN, EXPOSURE]) == 1).all()
    rows = hist[hist["obs_id"] == EXPOSURE].sort_values("x_version")
    assert rows["t_plan_exptime"].tolist() == [123_500.0, 100_000.0]
    assert rows["x_valid_to"].iloc[0] == rows["t_planning"].iloc[1]
    assert pd.isna(rows["x_valid_to"].iloc[1])
    assert rows["x_snapshot"].tolist() == ["2025-09-05", "2025-09-07"]
    # XMM-Newton: not harvested on day 3, identical to day 2
    xmm2 = _table(out, DAY2, "obsplan").query("facility_name == 'XMM-Newton'").reset_index(drop=True)
    xmm3 = _table(out, DAY3, "obsplan").query("facility_name == 'XMM-Newton'").reset_index(drop=True)
    assert len(xmm2) > 0
    pd.testing.assert_frame_equal(xmm2, xmm3)


def test_blocking_check_failure_publishes_nothing(runs: dict) -> None:
    out = runs["out"]
    assert runs["codes"][DAY4] == 1
    report = runs["stderr"][DAY4]
    assert "FAILED -- nothing published" in report
    assert "blocking check failed: core/nustar_core:row_count_drift" in report
    assert "nustar/obsplan: 2 rows, previous snapshot 2025-09-07 had 10" in report
    assert not (out / "snapshots" / DAY4.isoformat()).exists()
    assert _hashes(out / "snapshots") == runs["before"]
    assert (out / "latest").readlink() == runs["latest_before"] == Path("snapshots/2025-09-07")
    assert list((out / ".staging").iterdir()) == []
    # nor did the failed harvest leave its NuSTAR frames for a later publication of that date
    assert not (out / ".work" / DAY4.isoformat() / "nustar").exists()


def test_same_raw_archive_same_bytes(runs: dict) -> None:
    assert runs["twin_code"] == 0
    a = _hashes(runs["out"] / "snapshots" / DAY1.isoformat())
    b = _hashes(runs["twin"] / "snapshots" / DAY1.isoformat())
    assert a == b
    assert "manifest.json" in a and "obsplan.parquet" in a and any(k.startswith("raw/blobs/") for k in a)
