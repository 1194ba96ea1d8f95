"""Uniqueness found without hashing when the keys are already in order gives pandas' answer.

Snapshots are written in key order, so ``_unique_violations`` first checks for keys strictly ascending
(one pass of Arrow comparisons) and only then hashes them with ``DataFrame.duplicated``. The oracle is
``duplicated(keep=False)`` itself, on keys with NULLs, repeats and non-ASCII text, sorted and not.
"""

from __future__ import annotations

import dataclasses

import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models import OBSPLAN
from models.columns import TableSpec
from models.validate import _unique_violations

_TEXT = st.one_of(st.none(), st.sampled_from(["", "a", "b", "é", "ä0", "B", "zz", "\u65e5"]))
_NUMBER = st.one_of(st.none(), st.sampled_from([-1.5, 0.0, 2.0, 1e300]))


def _spec(key: tuple[str, ...]) -> TableSpec:
    return dataclasses.replace(OBSPLAN, unique=(key,))


def _oracle(frame: pd.DataFrame, key: tuple[str, ...]) -> tuple[int, ...]:
    mask = frame.duplicated(list(key), keep=False).to_numpy()
    return tuple(int(i) for i in mask.nonzero()[0])


def _found(frame: pd.DataFrame, key: tuple[str, ...]) -> tuple[int, ...]:
    found = _unique_violations(frame, _spec(key))
    assert len(found) <= 1
    return found[0].rows if found else ()


@settings(max_examples=300, deadline=None)
@given(
    rows=st.lists(st.tuples(_TEXT, _NUMBER), max_size=30),
    order=st.sampled_from(["as drawn", "sorted", "sorted, nulls first"]),
    arrow_backed=st.booleans(),
)
def test_unique_rule_agrees_with_duplicated(rows: list, order: str, arrow_backed: bool) -> None:
    table = pa.table({"k1": pa.array([r[0] for r in rows], pa.large_string()), "k2": [r[1] for r in rows]})
    if order != "as drawn":
        placement = "at_end" if order == "sorted" else "at_start"
        table = table.sort_by([("k1", "ascending", placement), ("k2", "ascending", placement)])
    frame = table.to_pandas(types_mapper=pd.ArrowDtype) if arrow_backed else table.to_pandas()
    for key in (("k1",), ("k1", "k2")):
        assert _found(frame, key) == _oracle(frame, key)


def test_sorted_unique_keys_are_not_hashed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The design: a table in key order is never passed to ``duplicated`` (its million keys unhashed)."""
    calls = []
    original = pd.DataFrame.duplicated
    monkeypatch.setattr(pd.DataFrame, "duplicated", lambda self, *a, **k: calls.append(a) or original(self, *a, **k))
    in_order = pd.DataFrame({"k1": ["a", "a", "b", "é", None], "k2": [1.0, 2.0, 0.0, 0.0, 5.0]})
    assert _found(in_order, ("k1", "k2")) == ()
    assert calls == []
    # a repeat in order (two NULL keys) and keys out of order both take the hashing path and are found
    repeated = pd.DataFrame({"k1": ["a", None, None], "k2": [1.0, None, None]})
    assert _found(repeated, ("k1", "k2")) == (1, 2)
    shuffled = pd.DataFrame({"k1": ["b", "a", "b"], "k2": [1.0, 1.0, 1.0]})
    assert _found(shuffled, ("k1", "k2")) == (0, 2)
    assert len(calls) == 2
