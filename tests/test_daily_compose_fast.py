"""A day's compose copies the million previous rows once: each shortcut is pinned to the general path.

``models.compose.compose`` on a daily run takes the previous rows in runs and never unites them first:

* ``models.rows.take_from`` takes rows of several frames as the union of the frames would give them;
* ``models.rows.take_few`` takes a few rows of a frame whose text columns have several Arrow chunks
  without Arrow joining the chunks first;
* ``models.history.match_positions`` finds today's keys in the previous (sorted) keys by walking both;
* ``models.history._column_differs`` compares runs of rows in place and rounds only the numbers that differ;
* ``models.compose._merged_order`` places the few new ObsCore rows among the previous ones by binary search;
* ``models.compose._xray_pieces`` finds the previous X-ray rows by walking their sorted identifiers
  (``_old_dids``: joined by Arrow kernels).

Each is compared with the rule it replaces on generated frames, and the whole ``compose`` of generated
days (several sources, changed, added, withdrawn and newly performed observations, a source carried over,
previous tables read back in several chunks) with the general path: every frame equal, dtypes and attrs
included.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import models.compose as compose_module
import models.history as history_module
import models.rows as rows_module
from models.arrow import conform, to_frame
from models.columns import Column, TableSpec
from models.compose import carry_over, compose
from models.history import _column_differs, _comparable, _differs
from models.rows import (
    consecutive_runs,
    key_positions,
    match_positions,
    take_few,
    take_from,
    take_rows,
)
from models.tables import OBSCORE, OBSCORE_HEA, OBSPLAN, OBSPLAN_HISTORY

DAY1, DAY2 = dt.date(2025, 9, 4), dt.date(2025, 9, 5)
T1, T2 = 60922.0, 60923.0
SOURCES = {"nustar": "NuSTAR", "xmm": "XMM-Newton", "integral": "INTEGRAL", "eso": "ESO-VLT"}


# -- the general path --------------------------------------------------------------------------------------
def _column_differs_reference(
    a: pd.Series,
    b: pd.Series,
    column: Column,
    a_rows: np.ndarray | None = None,
    b_rows: np.ndarray | None = None,
    runs: object = None,
) -> np.ndarray:
    """The comparison before runs: rows gathered, every number rounded."""
    if column.is_string:
        try:
            x = pa.array(a, type=pa.large_string(), from_pandas=True)
            y = pa.array(b, type=pa.large_string(), from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            x = y = None
        if x is not None and y is not None:
            x = x if a_rows is None else x.take(pa.array(a_rows))
            y = y if b_rows is None else y.take(pa.array(b_rows))
            same = pc.or_kleene(pc.equal(x, y), pc.and_(x.is_null(), y.is_null())).fill_null(False)
            return ~np.asarray(same.to_numpy(zero_copy_only=False), dtype=bool)
    x, y = _comparable(a, column), _comparable(b, column)
    return _differs(x if a_rows is None else x[a_rows], y if b_rows is None else y[b_rows])


def _union_take(frames: list[pd.DataFrame], positions: np.ndarray) -> pd.DataFrame:
    return take_rows(pd.concat(list(frames), ignore_index=True, sort=False), positions)


@contextlib.contextmanager
def _general_path() -> Iterator[None]:
    """Compose by the general path: unions, gathers, hashes and sorts."""
    order = history_module._history_order
    with pytest.MonkeyPatch.context() as m:
        for module in (history_module, compose_module, rows_module):  # where the rows helpers are called
            m.setattr(module, "take_from", _union_take)
            m.setattr(module, "take_few", lambda frame, rows: frame.iloc[rows])
            m.setattr(module, "is_ascending", lambda values: False)
        for module in (history_module, compose_module, rows_module):
            m.setattr(module, "match_positions", lambda keys, values, sorted_values: key_positions(keys, values))
        m.setattr(history_module, "consecutive_runs", lambda a, b: None)
        m.setattr(history_module, "_column_differs", _column_differs_reference)
        m.setattr(
            history_module, "_history_order", lambda hist, added, versions, keys=None: order(hist, added, versions)
        )
        m.setattr(compose_module, "_merged_order", lambda *a: None)
        m.setattr(compose_module, "text_array", lambda *a, **k: None)  # identifiers by publisher_did
        yield


def _assert_same(got: dict[str, pd.DataFrame], expected: dict[str, pd.DataFrame]) -> None:
    assert list(got) == list(expected)
    for name in expected:
        pd.testing.assert_frame_equal(got[name], expected[name], check_exact=True, obj=name)
        assert got[name].attrs == expected[name].attrs, name


# -- generated days ----------------------------------------------------------------------------------------
def _chunked(frame: pd.DataFrame, spec: TableSpec, size: int) -> pd.DataFrame:
    """``frame`` as read back from a file of row groups of ``size`` rows (text columns in several chunks)."""
    table = conform(frame, spec)
    return to_frame(pa.Table.from_batches(table.to_batches(max_chunksize=max(size, 1)), schema=table.schema))


def _rows(rng: np.random.Generator, source: str, ids: list[str], nulls: bool) -> pd.DataFrame:
    n = len(ids)
    facility = SOURCES[source]
    t_min = T1 - 20.0 + rng.uniform(0.0, 30.0, n)
    collection: object = np.where(rng.random(n) < 0.3, None, facility) if nulls and source == "eso" else facility
    return pd.DataFrame(
        {
            "obs_id": pd.array(ids, dtype="str"),
            "obs_collection": collection,
            "facility_name": facility,
            "instrument_name": "FPMA/FPMB",
            "target_name": [f"target {i}" for i in rng.integers(0, 50, n)],
            "s_ra": rng.uniform(0.0, 360.0, n),
            "s_dec": rng.uniform(-60.0, 60.0, n),
            "s_fov": 0.2,
            "s_region": [f"CIRCLE ICRS {ra:.3f} 10.0 0.1" for ra in rng.uniform(0.0, 360.0, n)],
            "t_min": t_min,
            "t_max": t_min + 0.5,
            "t_exptime": rng.choice([10e3, 20e3, 40e3], n),
            "t_plan_exptime": 20e3,
            "em_min": 1.57e-11,
            "em_max": 4.13e-10,
            "pol_states": pd.Series([None] * n, dtype=object),
            "priority": pd.array(rng.integers(0, 3, n), dtype="Int32"),
            "category": "Other",
            "tracking_type": "Sidereal",
            "execution_status": rng.choice(["Performed", "Scheduled", "Planned"], n),
        }
    )


def _ids(rng: np.random.Generator, n: int, taken: set[str]) -> list[str]:
    out: list[str] = []
    while len(out) < n:
        key = f"{rng.integers(0, 400):03d}" + ("é" if rng.random() < 0.2 else "") + ("0" if rng.random() < 0.2 else "")
        if key not in taken:
            taken.add(key)
            out.append(key)
    return out


def _day(seed: int, sizes: list[int], shuffle: bool, drop_source: bool, chunk: int, nulls: bool) -> tuple:
    """Two harvests of the same sources, the first published: (day 2's compose arguments)."""
    rng = np.random.default_rng(seed)
    day1: dict[str, pd.DataFrame] = {}
    for source, n in zip(SOURCES, sizes, strict=True):
        day1[source] = _rows(rng, source, sorted(_ids(rng, n, set())), nulls)
    first = compose({s: {"obsplan": f} for s, f in day1.items()}, None, None, DAY1, T1)
    previous_history = _chunked(first["obsplan_history"], OBSPLAN_HISTORY, chunk)
    previous_obscore = {
        "obscore": _chunked(first["obscore"], OBSCORE, chunk),
        "obscore_hea": _chunked(first["obscore_hea"], OBSCORE_HEA, chunk),
    }
    day2: dict[str, pd.DataFrame] = {}
    for source, frame in day1.items():
        frame = frame.copy()
        n = len(frame)
        if n:
            moved = rng.random(n) < 0.2
            frame.loc[moved, "t_min"] = frame.loc[moved, "t_min"] + 0.25  # changed: a new version
            performed = rng.random(n) < 0.2
            frame.loc[performed, "execution_status"] = "Performed"  # some performed today: built today
            frame = frame[rng.random(n) > 0.15]  # absent: withdrawn (if open) or carried
        added = _rows(rng, source, _ids(rng, int(rng.integers(0, 3)), set(day1[source]["obs_id"])), nulls)
        frame = pd.concat([frame, added], ignore_index=True)
        key = [frame["obs_collection"].fillna("").astype(str), frame["obs_id"].astype(str)]
        frame = frame.iloc[np.lexsort(key[::-1])] if not shuffle else frame.sample(frac=1.0, random_state=seed % 1000)
        day2[source] = frame.reset_index(drop=True)
    order = list(rng.permutation(list(day2)))
    harvested = {s: {"obsplan": day2[s]} for s in order}
    carried = None
    if drop_source:
        gone = order[-1]
        del harvested[gone]
        carried = carry_over(previous_obscore, [SOURCES[gone]])
    return harvested, previous_history, carried, DAY2, T2, previous_obscore


def _small_day(m: pytest.MonkeyPatch, window: int) -> None:
    """The thresholds of a million-row day scaled to a few rows, so that the shortcuts are taken."""
    m.setattr(rows_module, "MATCH_WINDOW", window)  # short windows: the walk parts and resumes often
    m.setattr(rows_module, "FEW_FRACTION", 1.0)  # a few rows of a dozen taken by pieces
    m.setattr(compose_module, "_MERGE_FRACTION", 1.0)  # today's rows merged among as many previous ones


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    sizes=st.lists(st.integers(0, 12), min_size=4, max_size=4),
    shuffle=st.booleans(),
    drop_source=st.booleans(),
    chunk=st.integers(1, 7),
    window=st.sampled_from([1, 2, 256]),
    nulls=st.booleans(),
)
def test_compose_equals_the_general_path(
    seed: int,
    sizes: list[int],
    shuffle: bool,
    drop_source: bool,
    chunk: int,
    window: int,
    nulls: bool,
) -> None:
    harvested, history, carried, date, as_of, previous = _day(seed, sizes, shuffle, drop_source, chunk, nulls)
    with pytest.MonkeyPatch.context() as m:
        _small_day(m, window)
        got = compose(harvested, history, carried, date, as_of, previous_obscore=previous)
    with _general_path():
        expected = compose(harvested, history, carried, date, as_of, previous_obscore=previous)
    _assert_same(got, expected)


def test_a_day_takes_the_shortcuts(monkeypatch: pytest.MonkeyPatch) -> None:
    """On an ordinary day the shortcuts are really taken (the comparison above is not vacuous)."""
    harvested, history, carried, date, as_of, previous = _day(7, [12, 12, 12, 12], False, False, 5, nulls=False)
    _small_day(monkeypatch, 2)
    merged, walked, gathered = [], [], []
    real_merge, real_match = compose_module._merged_order, history_module.match_positions
    monkeypatch.setattr(compose_module, "_merged_order", lambda *a: merged.append(real_merge(*a)) or merged[-1])
    monkeypatch.setattr(
        compose_module, "match_positions", lambda *a, **k: walked.append(real_match(*a, **k)) or walked[-1]
    )
    monkeypatch.setattr(rows_module, "key_positions", lambda *a: gathered.append(a) or key_positions(*a))
    compose(harvested, history, carried, date, as_of, previous_obscore=previous)
    assert merged and all(order is not None for order in merged)  # both X-ray tables merged, not sorted
    assert walked  # the previous X-ray identifiers walked, not hashed
    assert not gathered  # today's keys found in the previous ones without a hash table


# -- the helpers, one by one -------------------------------------------------------------------------------
_DTYPES = {
    "float64": lambda v: pd.Series(v, dtype="float64"),
    "Int32": lambda v: pd.Series(v, dtype="Int32"),
    "int64": lambda v: pd.Series(v, dtype="int64"),
    "str": lambda v: pd.Series([f"v{x}" if x % 3 else None for x in v], dtype="str"),
    "object": lambda v: pd.Series([f"v{x}" if x % 4 else None for x in v], dtype=object),
}


@st.composite
def _frames(draw: st.DrawFn) -> list[pd.DataFrame]:
    frames = []
    for _ in range(draw(st.integers(1, 4))):
        n = draw(st.integers(0, 6))
        columns = draw(st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=3, unique=True))
        data = {}
        for c in columns:
            kind = draw(st.sampled_from(sorted(_DTYPES)))
            values = list(range(len(frames) * 10, len(frames) * 10 + n))
            cut = draw(st.integers(0, n))  # text columns of two chunks
            data[c] = pd.concat([_DTYPES[kind](values[:cut]), _DTYPES[kind](values[cut:])], ignore_index=True)
        frame = pd.DataFrame(data)
        if draw(st.booleans()):
            frame.attrs["origin"] = draw(st.sampled_from(["x", "y"]))
        frames.append(frame)
    return frames


@settings(max_examples=200, deadline=None)
@given(frames=_frames(), data=st.data())
def test_take_from_is_the_union_gather(frames: list[pd.DataFrame], data: st.DataObject) -> None:
    total = sum(len(f) for f in frames)
    if total and data.draw(st.booleans()):  # runs of consecutive rows, as a day's are
        cuts = sorted(data.draw(st.lists(st.integers(0, total), max_size=4)))
        bounds = [0, *cuts, total]
        spans = [np.arange(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
        positions = np.concatenate([spans[i] for i in data.draw(st.permutations(range(len(spans))))])
    else:
        positions = np.array(data.draw(st.lists(st.integers(0, max(total - 1, 0)), max_size=8)) if total else [])
    positions = positions.astype(np.int64)
    got = take_from(frames, positions)
    expected = _union_take(frames, positions)
    pd.testing.assert_frame_equal(got, expected, check_exact=True)
    assert got.attrs == expected.attrs


def _text_chunks(values: list[str | None], cuts: list[int]) -> pd.Series:
    bounds = [0, *sorted(cuts), len(values)]
    chunks = [values[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    array = pa.chunked_array([pa.array(c, type=pa.large_string()) for c in chunks], type=pa.large_string())
    return to_frame(pa.table({"s": array}))["s"]


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(1, 40),
    cuts=st.lists(st.integers(0, 40), max_size=5),
    other_cuts=st.lists(st.integers(0, 40), max_size=5),
    data=st.data(),
)
def test_take_few_is_iloc(n: int, cuts: list[int], other_cuts: list[int], data: st.DataObject) -> None:
    values = [f"row {i}" if i % 5 else None for i in range(n)]
    frame = pd.DataFrame(
        {
            "s": _text_chunks(values, [c for c in cuts if c <= n]),
            "x": np.arange(n, dtype="float64"),
            "t": _text_chunks(values[::-1], [c for c in other_cuts if c <= n]),  # other chunk edges
            "i": pd.array(range(n), dtype="Int32"),
        },
        index=pd.RangeIndex(100, 100 + 2 * n, 2),
    )
    frame.attrs["origin"] = "x"
    rows = np.array(data.draw(st.lists(st.integers(0, n - 1), max_size=max(n // 4, 1))), dtype=np.int64)
    got = take_few(frame, rows)
    expected = frame.iloc[rows]
    pd.testing.assert_frame_equal(got, expected, check_exact=True)
    assert got.attrs == expected.attrs and type(got.index) is type(expected.index)


@settings(max_examples=300, deadline=None)
@given(
    values=st.lists(st.text(alphabet="ab\x1fé0", min_size=1, max_size=4), unique=True, max_size=30),
    data=st.data(),
    window=st.sampled_from([1, 2, 4, 256]),
    max_runs=st.sampled_from([2, 256]),
)
def test_match_positions_is_the_hash(values: list[str], data: st.DataObject, window: int, max_runs: int) -> None:
    values = sorted(values, key=lambda v: v.encode())
    keep = data.draw(st.lists(st.booleans(), min_size=len(values), max_size=len(values)))
    extra = data.draw(st.lists(st.text(alphabet="abc\x1fé", min_size=1, max_size=4), max_size=6))
    keys = sorted({v for v, k in zip(values, keep, strict=True) if k} | set(extra), key=lambda v: v.encode())
    cuts = sorted(data.draw(st.lists(st.integers(0, len(keys)), max_size=3)))
    bounds = [0, *cuts, len(keys)]
    blocks = [keys[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    keys = [k for i in data.draw(st.permutations(range(len(blocks)))) for k in blocks[i]]  # sources in any order
    key_array = pa.array(keys, type=pa.large_string())
    value_array = pa.array(values, type=pa.large_string())
    with pytest.MonkeyPatch.context() as m:
        m.setattr(rows_module, "MATCH_WINDOW", window)  # short windows: many partings
        m.setattr(rows_module, "MAX_RUNS", max_runs)  # few allowed: the hash of the rest
        got = match_positions(key_array, value_array, sorted_values=True)
    np.testing.assert_array_equal(got, key_positions(key_array, value_array))


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(1, 30),
    data=st.data(),
    name=st.sampled_from(["t_min", "s_ra", "t_exptime", "pol_xel", "target_name", "s_fov"]),
)
def test_column_differs_by_runs_is_the_gather(n: int, data: st.DataObject, name: str) -> None:
    column = OBSPLAN.column(name)
    pool = [0.0, 1e-9, 1.0, 1.0 + 1e-12, 1.0 + 1e-3, np.nan, 60922.5, 60922.5 + 1e-7, -3.0, 1e-310, np.inf]
    draw = st.lists(st.sampled_from(pool), min_size=n, max_size=n)
    a, b = np.array(data.draw(draw)), np.array(data.draw(draw))
    if column.is_string:
        a_s = pd.Series([None if np.isnan(v) else f"{v!r}" for v in a], dtype="str")
        b_s = pd.Series([None if np.isnan(v) else f"{v!r}" for v in b], dtype=object)
    elif column.datatype == "int":
        a_s = pd.Series([None if not np.isfinite(v) else int(v) for v in a], dtype="Int32")
        b_s = pd.Series([None if not np.isfinite(v) else int(v) for v in b], dtype="Int32")
    else:
        a_s, b_s = pd.Series(a), pd.Series(b)
    a_rows = np.array(data.draw(st.permutations(range(n))), dtype=np.int64)
    if data.draw(st.booleans()):
        a_rows = np.sort(a_rows)
    b_rows = np.array(data.draw(st.permutations(range(n))), dtype=np.int64)
    if data.draw(st.booleans()):  # mostly in order: a few runs
        b_rows = np.roll(np.arange(n, dtype=np.int64), data.draw(st.integers(0, n)))
    expected = _column_differs_reference(a_s, b_s, column, a_rows, b_rows)
    runs = consecutive_runs(a_rows, b_rows)
    np.testing.assert_array_equal(_column_differs(a_s, b_s, column, a_rows, b_rows, runs), expected)
    np.testing.assert_array_equal(_column_differs(a_s, b_s, column, a_rows, b_rows), expected)


@settings(max_examples=300, deadline=None)
@given(
    big=st.lists(st.tuples(st.sampled_from(["A", "B", None]), st.sampled_from(["1", "2", "é", "1\x1f"])), max_size=12),
    small=st.lists(
        st.lists(st.tuples(st.sampled_from(["A", "B", None]), st.sampled_from(["1", "2", "3", "é"])), max_size=3),
        max_size=3,
    ),
    data=st.data(),
)
def test_merged_order_is_the_sort(
    big: list[tuple[str | None, str]], small: list[list[tuple[str | None, str]]], data: st.DataObject
) -> None:
    by = ["obs_collection", "obs_id"]
    rank = {"A": 0, "B": 1, None: 2}  # NULL last, as the sort places it
    big = sorted(set(big), key=lambda k: (rank[k[0]], k[1].encode()))  # strictly ascending, as published
    frames = [pd.DataFrame(rows or {c: [] for c in by}, columns=by, dtype="str") for rows in small]
    at = data.draw(st.integers(0, len(frames)))  # the previous rows anywhere in the union order
    frames.insert(at, pd.DataFrame(big or {c: [] for c in by}, columns=by, dtype="str"))
    rows = [
        None
        if data.draw(st.booleans())
        else np.flatnonzero(data.draw(st.lists(st.booleans(), min_size=len(f), max_size=len(f))))
        for f in frames
    ]
    taken = [np.arange(len(f)) if r is None else r for f, r in zip(frames, rows, strict=True)]
    union = pd.concat([f.iloc[t] for f, t in zip(frames, taken, strict=True)], ignore_index=True)
    expected = history_module.sort_order(union, by)
    expected = np.arange(len(union)) if expected is None else expected
    with pytest.MonkeyPatch.context() as m:
        m.setattr(compose_module, "_MERGE_FRACTION", 10.0)
        got = compose_module._merged_order(frames, rows, by)
    counts = [len(t) for t in taken]
    if got is None:  # declined only when the largest piece is not the sorted one or too short
        assert max(counts) < 2 or any(c == max(counts) for i, c in enumerate(counts) if i != at)
        return
    np.testing.assert_array_equal(got, expected)


@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from(["NuSTAR", "XMM", "", "é?", None]),
            st.sampled_from(["NuSTAR", "INTEGRAL", None]),
            st.sampled_from(["0001", "x y", "é", ""]),
        ),
        min_size=1,
        max_size=8,
    ),
    text=st.sampled_from(["str", object]),
    data=st.data(),
)
def test_old_identifiers_are_publisher_did(rows: list[tuple], text: object, data: st.DataObject) -> None:
    collection, facility, obs_id = (list(c) for c in zip(*rows, strict=True))
    obsplan = pd.DataFrame(
        {
            "obs_collection": pd.Series(collection, dtype=text),
            "facility_name": pd.Series(facility, dtype=text),
            "obs_id": pd.Series(obs_id, dtype=text),
        }
    )
    taken = np.flatnonzero(data.draw(st.lists(st.booleans(), min_size=len(rows), max_size=len(rows))))
    got = compose_module._old_dids(obsplan, taken)
    coll = obsplan["obs_collection"].iloc[taken]
    coll = coll.where(coll.notna(), obsplan["facility_name"].iloc[taken]).astype(object)
    ids = obsplan["obs_id"].iloc[taken].astype(str)
    expected = pa.array(compose_module.publisher_did(coll, ids), type=pa.string(), from_pandas=True)
    assert got.equals(expected)
