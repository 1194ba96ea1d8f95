"""Daily cost proportional to changes (issue 13): unchanged files are shared with the previous snapshot.

Three days are published with :func:`models.snapshot.stage_snapshot` (the code path of the pipeline)
into one output root, from the benchmark generator's valid schedules (``benchmarks.schedules``: ESO-VLT,
XMM-Newton, NuSTAR and INTEGRAL rows, generated, not recorded):

* day 1: the schedule with ``CHANGED`` planned exposures different (cold: nothing to reuse);
* day 2: the schedule itself, so ``CHANGED`` observations changed;
* day 3: the same schedule again (nothing changed).

Asserted on files and counts (inode numbers, link counts, manifest entries), never on time.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmarks import schedules
from models import snapshot
from models.compose import compose
from models.history_store import CURRENT_PART, closed_part, read_history, read_previous_history
from models.regions import circle_stcs

ROWS = 600
CHANGED = 25
DAY1 = schedules.AS_OF_DATE - dt.timedelta(days=1)
DAY2 = schedules.AS_OF_DATE
DAY3 = schedules.AS_OF_DATE + dt.timedelta(days=1)
AS_OF = {DAY1: schedules.as_of_mjd() - 1.0, DAY2: schedules.as_of_mjd(), DAY3: schedules.as_of_mjd() + 1.0}
#: Files rewritten every day whatever the rows: they carry the date, the as-of time or the changelog.
DATED = ("manifest.json", "index.html", "changes.", "provenance")


def publish(root: Path, date: dt.date, harvest: dict[str, pd.DataFrame]) -> tuple[Path, dict]:
    """Publish ``harvest`` as the snapshot of ``date`` the way the pipeline does; returns path and reconcile counts."""
    previous = snapshot.previous_snapshot(root, date)
    frames = compose(
        {k: {"obsplan": f} for k, f in harvest.items()}, read_previous_history(previous), None, date, AS_OF[date]
    )
    provenance = {
        "as_of_mjd": AS_OF[date],
        "previous_snapshot": None if previous is None else previous.name,
        "changes": {},
        "violations": [],
        "sources": {k: {"obs_collections": []} for k in harvest},
    }
    tables = {k: frames[k] for k in ("obsplan", "obscore", "obscore_radio", "obscore_hea", "obsplan_history")}
    stage = snapshot.stage_snapshot(root, date, tables, frames["changes"], provenance, lambda raw: {})
    published = snapshot.publish_snapshot(stage, root, date)
    return published.path, frames["obsplan_history"].attrs["reconcile_counts"]


@pytest.fixture(scope="module")
def days(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("links")
    current = schedules.harvest(ROWS, seed=3)
    before = schedules.previous_harvest(current, CHANGED, seed=4)
    out: dict = {"root": root, "current": current, "before": before}
    for date, harvest in ((DAY1, before), (DAY2, current), (DAY3, current)):
        out[date] = publish(root, date, harvest)
    return out


def _changed_keys(before: dict[str, pd.DataFrame], after: dict[str, pd.DataFrame]) -> set[tuple[str, str]]:
    """Observations whose planned exposure differs between two harvests (computed here, not by reconcile)."""
    keys = set()
    for source, frame in after.items():
        old = before[source]
        differs = ~np.isclose(frame["t_plan_exptime"].to_numpy(float), old["t_plan_exptime"].to_numpy(float))
        keys |= set(zip(frame["obs_collection"][differs], frame["obs_id"][differs], strict=True))
    return keys


def _shared(a: Path, b: Path) -> bool:
    return os.stat(a).st_ino == os.stat(b).st_ino


def test_no_change_day_links_every_table_and_moc_file(days: dict) -> None:
    (day2, _), (day3, counts) = days[DAY2], days[DAY3]
    m2, m3 = snapshot.read_manifest(day2), snapshot.read_manifest(day3)
    content = sorted(rel for rel in m3["files"] if not rel.startswith(DATED))
    assert {"obsplan.parquet", "obsplan.vot", "obscore.parquet", "obscore.vot", CURRENT_PART} <= set(content)
    for folder in ("moc/", "tap/", "datalink/"):  # the TAP kit and DataLink documents: written, then linked
        assert any(rel.startswith(folder) for rel in content), folder
    for rel in content:
        assert _shared(day2 / rel, day3 / rel), rel  # one inode: a hard link, not a copy
        assert os.stat(day3 / rel).st_nlink >= 2, rel
        assert m3["files"][rel] == m2["files"][rel], rel  # manifest entry carried over, not recomputed
    assert m3["moc_inputs"] == m2["moc_inputs"]
    assert counts["written"] == 0 and counts["closed"] == 0 and counts["compared"] == ROWS


def test_change_day_writes_only_what_changed(days: dict) -> None:
    (day1, _), (day2, counts) = days[DAY1], days[DAY2]
    m1, m2 = snapshot.read_manifest(day1), snapshot.read_manifest(day2)
    # obsplan changed (CHANGED exposures): written anew; the X-ray ObsCore rows (performed rows) did not
    assert not _shared(day1 / "obsplan.parquet", day2 / "obsplan.parquet")
    assert m2["files"]["obsplan.parquet"]["sha256"] != m1["files"]["obsplan.parquet"]["sha256"]
    for rel in ("obscore.parquet", "obscore.vot", "obscore_hea.parquet", "obscore_hea.vot"):
        assert _shared(day1 / rel, day2 / rel), rel
    # planned exposures are not MOC inputs (footprints and times are): every MOC is the previous file
    mocs = [rel for rel in m2["files"] if rel.startswith("moc/")]
    assert mocs and all(_shared(day1 / rel, day2 / rel) for rel in mocs)
    assert counts == {
        "previous_current": ROWS,
        "previous_closed": 0,
        "compared": ROWS,
        "added": 0,
        "changed": CHANGED,
        "withdrawn": 0,
        "expired": 0,
        "closed": CHANGED,
        "written": CHANGED,
    }


def test_moc_of_a_changed_facility_is_rebuilt_the_others_linked(tmp_path: Path, days: dict) -> None:
    root = tmp_path / "out"
    shutil.copytree(days["root"] / "snapshots" / DAY1.isoformat(), root / "snapshots" / DAY1.isoformat())
    harvest = {k: f.copy() for k, f in days["before"].items()}
    nustar = harvest["nustar"]
    row = int(np.flatnonzero(nustar["s_ra"].to_numpy(float) < 300.0)[0])  # one NuSTAR field 30 deg east
    moved = nustar.loc[row, "s_ra"] + 30.0
    nustar.loc[row, "s_ra"] = moved
    nustar.loc[row, "s_region"] = circle_stcs([moved], [nustar.loc[row, "s_dec"]], [0.1]).iloc[0]
    path, counts = publish(root, DAY2, harvest)
    previous = root / "snapshots" / DAY1.isoformat()
    assert counts["changed"] == 1
    m1, m2 = snapshot.read_manifest(previous), snapshot.read_manifest(path)
    mocs = sorted(rel for rel in m2["files"] if rel.startswith("moc/"))
    rebuilt = {rel for rel in mocs if not _shared(previous / rel, path / rel)}
    # the field is in obsplan and, performed, in the X-ray ObsCore rows: NuSTAR's MOCs of both are new
    assert rebuilt and all(rel.startswith(("moc/obsplan-nustar-", "moc/obscore-nustar-")) for rel in rebuilt)
    assert {"moc/obsplan-nustar-smoc.fits", "moc/obsplan-nustar-stmoc.fits"} <= rebuilt
    nustar_mocs = {"obsplan-nustar", "obscore-nustar"}
    assert all(m2["moc_inputs"][k]["sha256"] != m1["moc_inputs"][k]["sha256"] for k in nustar_mocs)
    unchanged = set(m2["moc_inputs"]) - nustar_mocs
    assert all(m2["moc_inputs"][k] == m1["moc_inputs"][k] for k in unchanged)


def test_snapshot_stays_valid_after_the_previous_ones_are_deleted(tmp_path: Path, days: dict) -> None:
    root = tmp_path / "copy"
    shutil.copytree(days["root"] / "snapshots", root / "snapshots", copy_function=os.link)  # links, as published
    day3 = root / "snapshots" / DAY3.isoformat()
    expected = read_history(day3)
    for date in (DAY1, DAY2):
        shutil.rmtree(root / "snapshots" / date.isoformat())
    assert snapshot.validate_snapshot(day3) == []  # every file re-read and re-hashed, every table re-validated
    assert read_history(day3).equals(expected)


def test_copy_when_hard_links_fail(tmp_path: Path, days: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "out"
    shutil.copytree(days["root"] / "snapshots" / DAY2.isoformat(), root / "snapshots" / DAY2.isoformat())

    def no_link(src: object, dst: object) -> None:
        raise OSError(18, "Invalid cross-device link")  # EXDEV

    monkeypatch.setattr(os, "link", no_link)
    path, _ = publish(root, DAY3, days["current"])
    previous = root / "snapshots" / DAY2.isoformat()
    m2, m3 = snapshot.read_manifest(previous), snapshot.read_manifest(path)
    assert not _shared(previous / "obsplan.parquet", path / "obsplan.parquet")
    assert (path / "obsplan.vot").read_bytes() == (previous / "obsplan.vot").read_bytes()
    assert m3["files"]["obsplan.vot"] == m2["files"]["obsplan.vot"]
    assert snapshot.validate_snapshot(path) == []


def test_history_part_of_the_day_holds_exactly_the_closed_versions(days: dict) -> None:
    (day1, _), (day2, _) = days[DAY1], days[DAY2]
    changed = _changed_keys(days["before"], days["current"])
    assert len(changed) == CHANGED
    m2 = snapshot.read_manifest(day2)
    assert m2["tables"]["obsplan_history"]["files"] == [closed_part(DAY2), CURRENT_PART]
    assert m2["tables"]["obsplan_history"]["rows"] == ROWS + CHANGED
    part = pd.read_parquet(day2 / closed_part(DAY2))
    assert set(zip(part["obs_collection"], part["obs_id"], strict=True)) == changed
    assert (part["x_version"] == 1).all() and (part["x_snapshot"] == DAY1.isoformat()).all()
    assert (part["x_valid_to"] == AS_OF[DAY2]).all()  # closed by day 2's versions
    before = pd.concat(days["before"].values()).set_index(["obs_collection", "obs_id"])
    np.testing.assert_array_equal(
        part.set_index(["obs_collection", "obs_id"])["t_plan_exptime"].to_numpy(),
        before.loc[part.set_index(["obs_collection", "obs_id"]).index, "t_plan_exptime"].to_numpy(),
    )
    current = pd.read_parquet(day2 / CURRENT_PART)
    new = current[current["x_snapshot"] == DAY2.isoformat()]
    assert set(zip(new["obs_collection"], new["obs_id"], strict=True)) == changed
    assert (new["x_version"] == 2).all() and new["x_valid_to"].isna().all()
    assert (new["t_planning"] == AS_OF[DAY2]).all()
    assert len(current) == ROWS and current["x_valid_to"].isna().all()
    # day 1 had no closed versions: no part for it; day 3 closed none: day 2's part is linked, no part of its own
    assert snapshot.read_manifest(day1)["tables"]["obsplan_history"]["files"] == [CURRENT_PART]
    day3 = days[DAY3][0]
    assert snapshot.read_manifest(day3)["tables"]["obsplan_history"]["files"] == [closed_part(DAY2), CURRENT_PART]


def test_same_rows_give_the_same_parquet_bytes_however_pandas_holds_them(tmp_path: Path, days: dict) -> None:
    """Frames read back from Parquet hold their strings in chunks; the file must not depend on them
    (the Parquet writer cuts row groups at chunk boundaries), or an unchanged table would look changed."""
    import hashlib

    import pyarrow as pa

    from models.arrow import conform, to_frame
    from models.parquet import write_parquet
    from models.tables import OBSPLAN

    frame = pd.read_parquet(days[DAY2][0] / "obsplan.parquet")
    table = conform(frame, OBSPLAN)
    chunked = to_frame(pa.Table.from_batches(table.to_batches(max_chunksize=97)))
    assert chunked["obs_id"].array._pa_array.num_chunks > 1  # really held in pieces
    write_parquet(conform(frame, OBSPLAN), OBSPLAN, tmp_path / "a.parquet")
    write_parquet(conform(chunked, OBSPLAN), OBSPLAN, tmp_path / "b.parquet")
    digests = {hashlib.sha256((tmp_path / n).read_bytes()).hexdigest() for n in ("a.parquet", "b.parquet")}
    assert len(digests) == 1


def test_xray_obscore_taken_from_the_previous_snapshot_equals_the_rows_built_again(
    days: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unchanged performed X-ray observations keep their ObsCore rows from the previous snapshot; the
    result is the table built from scratch (only versions new today are derived again)."""
    from models import compose as compose_module
    from models.arrow import conform
    from models.compose import xray_obscore
    from models.hea import XRAY_ARCHIVES
    from models.tables import OBSCORE, OBSCORE_HEA

    derived: list[int] = []
    real = compose_module.xray_performed_to_obscore

    def xray_performed(frame: pd.DataFrame) -> pd.Series:
        return (frame["execution_status"] == "Performed") & frame["facility_name"].isin(list(XRAY_ARCHIVES))

    def counting(frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
        derived.append(int(xray_performed(frame).sum()))
        return real(frame)

    monkeypatch.setattr(compose_module, "xray_performed_to_obscore", counting)
    day1 = days[DAY1][0]
    previous = {n: pd.read_parquet(day1 / f"{n}.parquet") for n in ("obscore", "obscore_hea")}
    obsplan = pd.read_parquet(days[DAY2][0] / "obsplan.parquet")
    reused = xray_obscore(obsplan, AS_OF[DAY2], previous)
    built = xray_obscore(obsplan, AS_OF[DAY2], None)
    new_today = obsplan["t_planning"] == AS_OF[DAY2]
    performed = int(xray_performed(obsplan).sum())
    # only the performed X-ray rows of versions written today were derived again (at most the CHANGED ones)
    assert derived == [int((new_today & xray_performed(obsplan)).sum()), performed]
    assert derived[0] <= CHANGED < performed
    for name, spec in (("obscore", OBSCORE), ("obscore_hea", OBSCORE_HEA)):
        a = conform(reused[name].sort_values("obs_publisher_did").reset_index(drop=True), spec)
        b = conform(built[name].sort_values("obs_publisher_did").reset_index(drop=True), spec)
        assert a.num_rows == b.num_rows > 0 and a.equals(b), name
    # and a previous snapshot lacking some rows is not trusted: everything is built
    partial = {n: f.iloc[1:] for n, f in previous.items()}
    again = xray_obscore(obsplan, AS_OF[DAY2], partial)
    assert len(again["obscore"]) == len(built["obscore"])
