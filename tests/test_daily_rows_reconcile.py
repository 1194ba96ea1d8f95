"""A day's reconciliation merges its new versions into the previous order instead of sorting a million keys.

``models.history._history_order`` places each new version right after its previous version and the
added observations by binary search (``lower_bounds``), checking every assumption on the rows. These
tests pin it to the rule it replaces: ``sort_order`` of the concatenated frame (Arrow's stable sort),
on the real NuSTAR rows and on generated keys (NULL collections, non-ASCII and prefix ids, added keys
before, between and after the previous ones), and the whole ``reconcile`` to the sorting path.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import models.history as history_module
from models.arrow import conform
from models.history import KEY, _history_order, reconcile
from models.rows import lower_bounds, sort_order, take_rows
from models.tables import CHANGES, OBSPLAN, OBSPLAN_HISTORY
from tests.test_history import T1, T2, plan  # noqa: F401 - the real NuSTAR rows fixture

DAY1, DAY2 = dt.date(2025, 9, 4), dt.date(2025, 9, 5)
BY = [*KEY, "x_version"]


def _tables(result: history_module.Reconciled) -> dict[str, pa.Table]:
    return {
        "obsplan": conform(result.obsplan, OBSPLAN),
        "history": conform(result.history, OBSPLAN_HISTORY),
        "changes": conform(result.changes, CHANGES),
    }


def _reference(monkeypatch: pytest.MonkeyPatch, *args: object) -> history_module.Reconciled:
    """``reconcile`` by the sorting path (the merge declined), the rule the merge must reproduce."""
    with monkeypatch.context() as m:
        m.setattr(history_module, "_history_order", lambda *a, **k: None)
        return reconcile(*args)


def _day2(plan: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:  # noqa: F811
    other = plan.assign(obs_collection=None, obs_id=plan["obs_id"] + "é", x_source="nustar")
    day1 = pd.concat([plan, other], ignore_index=True)
    day2 = day1.copy()
    day2.loc[1, "t_min"] += 0.5  # moved
    day2.loc[len(plan) + 1, "execution_status"] = "Performed"  # a row of the NULL collection
    day2 = day2.drop(index=[2])  # absent: withdrawn
    added = pd.concat(
        [
            plan.iloc[[0]].assign(obs_id="0"),  # before every previous key of its collection
            plan.iloc[[3]].assign(obs_id=plan.loc[3, "obs_id"] + "0"),  # right after an existing key
            plan.iloc[[1]].assign(obs_id="zzz"),  # after all of them
            plan.iloc[[2]].assign(obs_collection="AAA"),  # a collection before NuSTAR
            other.iloc[[0]].assign(obs_id="new-null"),  # in the NULL collection (last)
        ],
        ignore_index=True,
    )
    return day1, pd.concat([day2, added], ignore_index=True)


def test_reconcile_merge_equals_the_sorting_path(plan: pd.DataFrame, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    day1, day2 = _day2(plan)
    first = reconcile(day1, None, DAY1, T1)
    current = first.history[first.history["x_valid_to"].isna()]  # the previous snapshot's current part
    merged = reconcile(day2, current, DAY2, T2)
    calls = []
    with monkeypatch.context() as m:  # the merge is really taken on these rows
        m.setattr(history_module, "_history_order", lambda *a: calls.append(_history_order(*a)) or calls[-1])
        reconcile(day2, current, DAY2, T2)
    assert calls and calls[0] is not None
    sorted_ = _reference(monkeypatch, day2, current, DAY2, T2)
    for name, table in _tables(merged).items():
        assert table.equals(_tables(sorted_)[name]), name
    for name in ("obsplan", "history", "changes"):
        pd.testing.assert_frame_equal(getattr(merged, name), getattr(sorted_, name), check_exact=True)
    assert merged.counts == sorted_.counts
    assert (merged.counts["added"], merged.counts["changed"], merged.counts["withdrawn"]) == (5, 2, 1)
    # the NULL collection's rows (and its added one) come last, new versions right after their old one
    null = merged.history["obs_collection"].isna().to_numpy()
    assert null.sum() == len(plan) + 2 and null[int(np.argmax(null)) :].all()


def test_reconcile_with_nothing_changed_keeps_the_previous_rows(plan: pd.DataFrame) -> None:  # noqa: F811
    first = reconcile(plan, None, DAY1, T1)
    again = reconcile(plan, first.history, DAY2, T2)
    assert again.counts["written"] == 0
    assert conform(again.history, OBSPLAN_HISTORY).equals(conform(first.history, OBSPLAN_HISTORY))
    assert conform(again.obsplan, OBSPLAN).equals(conform(first.obsplan, OBSPLAN))


def test_merge_declines_what_it_cannot_place(plan: pd.DataFrame) -> None:  # noqa: F811
    hist = reconcile(plan, None, DAY1, T1).history
    shuffled = hist.iloc[::-1].reset_index(drop=True)  # not in key order: sort instead
    assert _history_order(shuffled, hist.iloc[:0], []) is None
    again = hist.iloc[[3]].assign(x_version=2)
    # two new versions of one row, or a new version whose key is not its row's: sort instead
    assert _history_order(hist, hist.iloc[:0], [(again, np.array([3])), (again, np.array([3]))]) is None
    assert _history_order(hist, hist.iloc[:0], [(again, np.array([2]))]) is None
    assert _history_order(hist, hist.iloc[[1]], []) is None  # an "added" key that is not new


_TEXT = st.text(alphabet=st.sampled_from(list("ab?-\x1fé")), min_size=0, max_size=3)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    keys=st.lists(st.tuples(st.one_of(st.none(), _TEXT), _TEXT), min_size=1, max_size=30, unique=True),
    new=st.lists(st.tuples(st.one_of(st.none(), _TEXT), _TEXT), max_size=8, unique=True),
    changed=st.sets(st.integers(min_value=0, max_value=29), max_size=6),
)
def test_history_order_is_the_stable_sort(keys: list, new: list, changed: set) -> None:
    hist = pd.DataFrame(
        {
            "obs_collection": pd.Series([c for c, _ in keys], dtype="str"),
            "obs_id": pd.Series([i for _, i in keys], dtype="str"),
            "x_version": pd.array(np.arange(len(keys)) % 3 + 1, dtype="Int64"),
        }
    )
    order = sort_order(hist, BY)
    hist = hist if order is None else hist.take(order).reset_index(drop=True)  # the previous part: in key order
    fresh = [(c, i) for c, i in new if (c, i) not in set(keys)]
    added = pd.DataFrame(
        {
            "obs_collection": pd.Series([c for c, _ in fresh], dtype="str"),
            "obs_id": pd.Series([i for _, i in fresh], dtype="str"),
            "x_version": pd.array([1] * len(fresh), dtype="Int64"),
        }
    )
    rows = np.array(sorted(p for p in changed if p < len(hist)), dtype=np.int64)
    versions = hist.iloc[rows].assign(x_version=hist["x_version"].to_numpy()[rows] + 1).iloc[::-1]
    positions = rows[::-1].copy()
    merged = _history_order(hist, added, [(versions, positions)])
    union = pd.concat([hist, added, versions], ignore_index=True)
    expected = sort_order(union, BY)
    expected = np.arange(len(union)) if expected is None else expected
    assert merged is not None
    np.testing.assert_array_equal(merged, expected)


@settings(max_examples=100, deadline=None)
@given(
    big=st.lists(st.tuples(st.one_of(st.none(), _TEXT), _TEXT), max_size=40, unique=True),
    small=st.lists(st.tuples(st.one_of(st.none(), _TEXT), _TEXT), min_size=1, max_size=10),
)
def test_lower_bounds_count_the_keys_below(big: list, small: list) -> None:
    def key(t: tuple) -> tuple:  # NULL after every text; text by code point
        return (t[0] is None, t[0] or "", t[1])

    big = sorted(big, key=key)
    arrays = [pa.array([t[i] for t in big], pa.large_string()) for i in (0, 1)]
    probe = [pa.array([t[i] for t in small], pa.large_string()) for i in (0, 1)]
    bounds, found = lower_bounds(arrays, probe) if big else (np.zeros(len(small), int), np.zeros(len(small), bool))
    for j, t in enumerate(small):
        assert bounds[j] == sum(key(b) < key(t) for b in big)
        assert found[j] == (t in big)


@settings(max_examples=100, deadline=None)
@given(
    n=st.integers(min_value=0, max_value=40),
    cuts=st.lists(st.integers(min_value=0, max_value=40), max_size=6),
    shuffle=st.booleans(),
)
def test_take_rows_is_the_gather(n: int, cuts: list, shuffle: bool) -> None:
    frame = pd.DataFrame(
        {
            "text": pd.Series([None if i % 7 == 3 else f"r{i}é" for i in range(n)], dtype="str"),
            "number": np.arange(n, dtype="float64") / 3,
            "count": pd.array([None if i % 5 == 0 else i for i in range(n)], dtype="Int32"),
            "other": pd.Series([f"o{i}" for i in range(n)], dtype=object),
        },
        index=np.arange(n) * 2 + 5,  # not a RangeIndex: the result has a fresh one
    )
    positions = np.arange(n, dtype=np.int64)
    for c in sorted(set(cuts)):  # a few rows left out and one repeated: runs, as a day's tables are
        if c < len(positions):
            positions = np.r_[positions[:c], positions[c + 1 :], positions[c : c + 1]]
    if shuffle:
        positions = np.random.default_rng(n).permutation(positions)
    got = take_rows(frame, positions)
    expected = frame.take(positions).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, expected, check_exact=True)
    for column in ("text", "count"):  # the same Arrow values, whatever the chunks
        assert (
            pa.chunked_array(pa.array(got[column], from_pandas=True))
            .combine_chunks()
            .equals(pa.chunked_array(pa.array(expected[column], from_pandas=True)).combine_chunks())
        )
