"""Reconciliation by Arrow kernels: key matching, in-place comparison and the stable sort are exact.

``models.history.reconcile`` matches observations by hashing their keys with Arrow, compares a side in
place when its rows are already aligned, and sorts with Arrow's stable multi-key sort
(``models.rows.sort_order``). These tests pin that down against pandas' own stable sort and
against a reconciliation whose inputs are shuffled (which must not change a single value).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from models.arrow import conform
from models.history import HistoryError, reconcile
from models.rows import sort_order
from models.tables import CHANGES, OBSPLAN, OBSPLAN_HISTORY
from tests.test_history import T1, T2, plan  # noqa: F401 - the real NuSTAR rows fixture

DAY1, DAY2 = dt.date(2025, 9, 4), dt.date(2025, 9, 5)


def _pandas_order(frame: pd.DataFrame, by: list[str]) -> np.ndarray:
    return frame.reset_index(drop=True).sort_values(by, kind="stable", na_position="last").index.to_numpy()


@pytest.mark.parametrize("dtype", ["str", object])
def test_sort_order_is_pandas_stable_sort_with_nulls_last(dtype: object) -> None:
    # NULL collections, case, non-ASCII (code point order = UTF-8 byte order), prefixes and ties
    collection = ["b", None, "B", "é", "a", "b", None, "ab", "a", "e", "b"]
    obs_id = ["2", "1", "1", "1", "10", "2", "0", "1", "9", "1", "1"]
    version = [2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]
    frame = pd.DataFrame(
        {
            "obs_collection": pd.Series(collection, dtype=dtype),
            "obs_id": pd.Series(obs_id, dtype=dtype),
            "x_version": version,
            "tag": range(len(obs_id)),
        }
    )
    order = sort_order(frame, ["obs_collection", "obs_id", "x_version"])
    assert order is not None
    expected = _pandas_order(frame, ["obs_collection", "obs_id", "x_version"])
    assert order.tolist() == expected.tolist()
    # hand check of the ends: "B" < "a" (ids as text: "10" < "9") < "ab" < "b" < "e" < "é"; NULL collections
    # last, stable among themselves
    assert frame["tag"].to_numpy()[order].tolist()[:3] == [2, 4, 8]
    assert frame["tag"].to_numpy()[order].tolist()[-2:] == [6, 1]
    assert sort_order(frame.iloc[expected].reset_index(drop=True), ["obs_collection", "obs_id"]) is None


def test_sort_order_falls_back_to_pandas_for_mixed_objects() -> None:
    frame = pd.DataFrame({"obs_collection": ["b", "a", "a"], "obs_id": pd.Series([2, "1", 0.5], dtype=object)})
    order = sort_order(frame, ["obs_collection", "obs_id"])  # Arrow cannot read the column: pandas' order
    assert order is not None
    assert order.tolist() == _pandas_order(frame, ["obs_collection", "obs_id"]).tolist()


def _tables(result) -> dict[str, object]:
    return {
        "obsplan": conform(result.obsplan, OBSPLAN),
        "history": conform(result.history, OBSPLAN_HISTORY),
        "changes": conform(result.changes, CHANGES),
    }


def test_reconcile_does_not_depend_on_row_order(plan: pd.DataFrame) -> None:  # noqa: F811
    # a second collection with a NULL key and non-ASCII ids, so that keys of both kinds are matched
    other = plan.assign(obs_collection=None, obs_id=plan["obs_id"] + "é", x_source="nustar")
    day1 = pd.concat([plan, other], ignore_index=True)
    first = reconcile(day1, None, DAY1, T1)
    day2 = day1.copy()
    day2.loc[1, "t_min"] += 0.5  # moved
    day2.loc[5, "execution_status"] = "Performed"  # status changed (a row of the NULL collection)
    day2 = day2.drop(index=[2])  # absent: withdrawn (Scheduled, window open)
    day2 = pd.concat([day2, plan.iloc[[0]].assign(obs_id="new")], ignore_index=True)  # added
    ordered = reconcile(day2, first.history, DAY2, T2)
    shuffled = reconcile(
        day2.sample(frac=1.0, random_state=7), first.history.sample(frac=1.0, random_state=3), DAY2, T2
    )
    for name, table in _tables(ordered).items():
        assert table.equals(_tables(shuffled)[name]), name
    assert ordered.counts == shuffled.counts
    assert ordered.counts["compared"] == len(day1) - 1
    assert (ordered.counts["added"], ordered.counts["changed"], ordered.counts["withdrawn"]) == (1, 2, 1)
    # t_planning moves on exactly the rows that changed; the others keep the first day's
    moved = ordered.obsplan.set_index(["obs_id"])["t_planning"]
    assert moved[plan.loc[1, "obs_id"]] == T2 and moved[other.loc[1, "obs_id"]] == T2 and moved["new"] == T2
    assert moved[plan.loc[3, "obs_id"]] == T1
    # the history is in key order, NULL collection last
    assert ordered.history["obs_collection"].isna().to_numpy()[-len(other) :].all()


def test_duplicate_keys_are_still_named(plan: pd.DataFrame) -> None:  # noqa: F811
    twice = pd.concat([plan, plan.iloc[[2]]], ignore_index=True)
    with pytest.raises(HistoryError, match=plan.loc[2, "obs_id"]):
        reconcile(twice, None, DAY1, T1)
    history = reconcile(plan, None, DAY1, T1).history
    with pytest.raises(HistoryError, match=plan.loc[2, "obs_id"]):  # repeated key of a known observation
        reconcile(twice, history, DAY2, T2)
    new_twice = pd.concat([plan, plan.iloc[[0, 0]].assign(obs_id="brand-new")], ignore_index=True)
    with pytest.raises(HistoryError, match="brand-new"):  # repeated key of a new observation
        reconcile(new_twice, history, DAY2, T2)
    bad = pd.concat([history, history.iloc[[1]]], ignore_index=True)
    with pytest.raises(HistoryError, match="previous obsplan_history"):
        reconcile(plan, bad, DAY2, T2)
