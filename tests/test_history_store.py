"""The history kept as parts (issue 13): reconciliation against the current versions only, parts of
closed versions, the reader of all parts, and snapshots written before the parts existed.

Rows: the four real NuSTAR short-range rows of September 2025 (``tests/data/history``, fixture ``plan``
of ``tests/test_history.py``), changed day by day in code; and the benchmark generator's schedules
(generated) for the counts at a larger size. Nothing here is timed: the work is asserted as counts.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from benchmarks import schedules
from models.arrow import conform, to_frame
from models.compose import compose
from models.history import reconcile
from models.history_store import (
    CURRENT_PART,
    LEGACY_FILE,
    closed_part,
    history_files,
    read_history,
    read_previous_history,
    write_history,
)
from models.parquet import write_parquet
from models.tables import OBSPLAN_HISTORY
from tests.test_history import ABELL, DAY1, DAY2, DAY3, ESO353, T1, T2, T3, plan  # noqa: F401

KEY = ["obs_collection", "obs_id", "x_version"]


def _days(plan: pd.DataFrame) -> list[tuple[dt.date, float, pd.DataFrame]]:  # noqa: F811
    """Day 1 as recorded; day 2: ABELL's exposure cut, ESO353 withdrawn; day 3: ABELL moved by an hour."""
    day2 = plan[plan["obs_id"] != ESO353].copy()
    day2.loc[day2["obs_id"] == ABELL, "t_plan_exptime"] = 20_000.0
    day3 = day2.copy()
    day3.loc[day3["obs_id"] == ABELL, ["t_min", "t_max"]] += 1.0 / 24.0
    return [(DAY1, T1, plan), (DAY2, T2, day2), (DAY3, T3, day3)]


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(KEY).reset_index(drop=True)


def test_current_versions_suffice_for_reconcile(plan: pd.DataFrame) -> None:  # noqa: F811
    full = None
    current = None
    for date, as_of, rows in _days(plan):
        with_all = reconcile(rows, full, date, as_of)
        with_current = reconcile(rows, current, date, as_of)
        pd.testing.assert_frame_equal(with_all.obsplan, with_current.obsplan)
        pd.testing.assert_frame_equal(with_all.changes, with_current.changes)
        # what differs is only the closed versions passed through
        closed_before = 0 if full is None else int(full["x_valid_to"].notna().sum())
        assert with_all.counts["previous_closed"] == closed_before
        assert with_current.counts["previous_closed"] == 0
        assert {k: v for k, v in with_all.counts.items() if k != "previous_closed"} == {
            k: v for k, v in with_current.counts.items() if k != "previous_closed"
        }
        full = with_all.history
        current = with_current.history[with_current.history["x_valid_to"].isna()]
    # day 3 against day 2: one observation moved (ABELL), three compared (ESO353 withdrawn on day 2 stays)
    assert with_current.counts == {
        "previous_current": 4,
        "previous_closed": 0,
        "compared": 3,
        "added": 0,
        "changed": 1,
        "withdrawn": 0,
        "expired": 0,
        "closed": 1,
        "written": 1,
    }
    # the whole history: ABELL has 3 versions (recorded, exposure cut, moved), ESO353 2 (recorded, withdrawn)
    versions = full.groupby("obs_id")["x_version"].max()
    assert versions[ABELL] == 3 and versions[ESO353] == 2


def test_reconcile_compares_every_current_row_and_writes_only_the_changes() -> None:
    current = schedules.harvest(20_000, seed=5)
    before = schedules.previous_harvest(current, 37, seed=6)
    date, as_of = schedules.AS_OF_DATE, schedules.as_of_mjd()
    first = compose({k: {"obsplan": f} for k, f in before.items()}, None, None, date - dt.timedelta(days=1), as_of - 1)
    history = first["obsplan_history"]
    day = compose({k: {"obsplan": f} for k, f in current.items()}, history, None, date, as_of)
    counts = day["obsplan_history"].attrs["reconcile_counts"]
    # independent count: rows whose planned exposure differs between the two harvests
    differ = sum(int((~np.isclose(current[s]["t_plan_exptime"], before[s]["t_plan_exptime"])).sum()) for s in current)
    assert differ == 37
    assert counts["compared"] == 20_000 and counts["previous_current"] == 20_000
    assert counts["changed"] == counts["written"] == counts["closed"] == 37
    assert counts["added"] == counts["withdrawn"] == 0
    hist = day["obsplan_history"]
    assert len(hist) == 20_000 + 37 and int(hist["x_valid_to"].notna().sum()) == 37


def _write_days(root: Path, plan: pd.DataFrame) -> dict[dt.date, Path]:  # noqa: F811
    """The three days written with `write_history` only (as `stage_snapshot` does), each linking the last."""
    out: dict[dt.date, Path] = {}
    previous = None
    manifest = None
    for date, as_of, rows in _days(plan):
        result = reconcile(rows, read_previous_history(previous), date, as_of)
        folder = root / date.isoformat()
        folder.mkdir(parents=True)
        written = write_history(folder, result.history, date, previous, manifest)
        manifest = {"as_of_mjd": as_of, "tables": {"obsplan_history": written.entry}, "files": written.files}
        out[date] = folder
        previous = folder
    return out


def test_parts_hold_closed_versions_and_read_back_as_the_whole_history(tmp_path: Path, plan: pd.DataFrame) -> None:  # noqa: F811
    folders = _write_days(tmp_path, plan)
    day3 = folders[DAY3]
    assert history_files(day3) == [closed_part(DAY2), closed_part(DAY3), CURRENT_PART]
    part2 = pq.read_table(day3 / closed_part(DAY2)).to_pandas()
    assert sorted(part2["obs_id"]) == sorted([ABELL, ESO353])  # day 2 closed ABELL v1 and ESO353 v1
    assert (part2["x_version"] == 1).all() and (part2["x_valid_to"] == T2).all()
    part3 = pq.read_table(day3 / closed_part(DAY3)).to_pandas()
    assert part3["obs_id"].tolist() == [ABELL] and part3["x_version"].tolist() == [2]
    assert part3["x_valid_to"].tolist() == [T3] and part3["t_plan_exptime"].tolist() == [20_000.0]
    # day 2's part in day 3 is the same file (hard link), not a rewrite
    assert (day3 / closed_part(DAY2)).stat().st_ino == (folders[DAY2] / closed_part(DAY2)).stat().st_ino
    # the union of the parts is the history reconcile gives with the whole history in memory
    full = None
    for date, as_of, rows in _days(plan):
        full = reconcile(rows, full, date, as_of).history
    expected = to_frame(conform(_sorted(full), OBSPLAN_HISTORY))
    got = to_frame(read_history(day3))
    pd.testing.assert_frame_equal(got, expected)
    # the spec's query "plan valid at T" on the union: at T2 + 0.5 d ABELL is its version 2
    at = T2 + 0.5
    valid = got[(got["t_planning"] <= at) & (got["x_valid_to"].isna() | (got["x_valid_to"] > at))]
    assert valid.loc[valid["obs_id"] == ABELL, "x_version"].tolist() == [2]
    assert read_history(day3, ["obs_id", "x_version"]).column_names == ["obs_id", "x_version"]


def test_unchanged_day_links_the_current_part(tmp_path: Path, plan: pd.DataFrame) -> None:  # noqa: F811
    first = tmp_path / "d1"
    first.mkdir()
    result = reconcile(plan, None, DAY1, T1)
    w1 = write_history(first, result.history, DAY1)
    manifest = {"as_of_mjd": T1, "tables": {"obsplan_history": w1.entry}, "files": w1.files}
    again = reconcile(plan, read_previous_history(first), DAY2, T2)
    assert again.counts["written"] == 0
    second = tmp_path / "d2"
    second.mkdir()
    w2 = write_history(second, again.history, DAY2, first, manifest)
    assert w2.reused == [CURRENT_PART] and w2.written_rows == {}
    assert (second / CURRENT_PART).stat().st_ino == (first / CURRENT_PART).stat().st_ino
    assert w2.files == w1.files and w2.entry == w1.entry


def test_single_file_history_of_older_snapshots(tmp_path: Path, plan: pd.DataFrame) -> None:  # noqa: F811
    # an older snapshot: one obsplan_history.parquet with every version (written here as it was then)
    old = tmp_path / "old"
    old.mkdir()
    history = None
    for date, as_of, rows in _days(plan)[:2]:
        history = reconcile(rows, history, date, as_of).history
    write_parquet(conform(history, OBSPLAN_HISTORY), OBSPLAN_HISTORY, old / LEGACY_FILE)
    assert history_files(old) == [LEGACY_FILE]
    assert read_history(old).num_rows == len(history) == 6
    previous = read_previous_history(old)
    assert len(previous) == 6  # the whole file: its closed versions must reach the next snapshot
    # the next snapshot takes them into its own first part
    date, as_of, rows = _days(plan)[2]
    result = reconcile(rows, previous, date, as_of)
    new = tmp_path / "new"
    new.mkdir()
    written = write_history(new, result.history, date, old, {"as_of_mjd": T2, "files": {}})
    assert history_files(new) == [closed_part(DAY3), CURRENT_PART]
    assert written.entry["parts"] == {closed_part(DAY3): 3, CURRENT_PART: 4}  # ABELL v1, v2 and ESO353 v1 closed
    assert read_history(new).num_rows == 7


def test_no_history(tmp_path: Path) -> None:
    assert read_previous_history(None) is None
    assert read_previous_history(tmp_path) is None
    assert history_files(tmp_path) == []
    assert read_history(tmp_path).num_rows == 0


@pytest.mark.parametrize("column", ["x_valid_to"])
def test_current_part_never_holds_a_closed_version(tmp_path: Path, plan: pd.DataFrame, column: str) -> None:  # noqa: F811
    folders = _write_days(tmp_path, plan)
    for folder in folders.values():
        current = pq.read_table(folder / CURRENT_PART).to_pandas()
        assert current[column].isna().all()
        for rel in history_files(folder):
            if rel != CURRENT_PART:
                assert pq.read_table(folder / rel).to_pandas()[column].notna().all()
