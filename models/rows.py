"""Rows of frames by position and by sorted keys: vectorised takes, orders and matches.

What the daily publication needs to cost its changes rather than its rows: a day's tables are
yesterday's rows in yesterday's order with a few rows replaced or inserted, so rows are taken in runs
of consecutive positions (slices, not a gather of every column), keys are matched by walking two
sorted lists, and new keys are placed among sorted ones by binary search. Every shortcut checks the
assumption it rests on (sorted, unique, few runs) and otherwise takes the general path:
``DataFrame.take``, a hash join, a sort. Used by :mod:`models.history` (reconcile) and
:mod:`models.compose` (the ObsCore tables).
"""

from __future__ import annotations

from collections.abc import Sequence
from copy import deepcopy

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from models.arrow import column_array


def key_positions(keys: pa.Array, value_set: pa.Array) -> np.ndarray:
    """Position in ``value_set`` (unique keys) of each key, -1 where absent."""
    found = pc.index_in(keys, value_set=value_set)
    return np.asarray(pc.fill_null(found, -1).to_numpy(zero_copy_only=False), dtype=np.int64)


def is_ascending(keys: pa.Array) -> bool:
    """Whether ``keys`` (no NULL) are strictly ascending: sorted without a repeat."""
    n = len(keys)
    return not keys.null_count and (n < 2 or pc.all(pc.less(keys.slice(0, n - 1), keys.slice(1))).as_py())


def _bisect(values: pa.Array, key: str, lo: int) -> int:
    """How many of ``values`` (strictly ascending, no NULL) are below ``key``, searched from ``lo`` on.

    Python compares ``str`` by code point, as Arrow compares UTF-8 bytes.
    """
    hi = len(values)
    while lo < hi:
        mid = (lo + hi) // 2
        if values[mid].as_py() < key:
            lo = mid + 1
        else:
            hi = mid
    return lo


def match_positions(keys: pa.Array, value_set: pa.Array, *, sorted_values: bool) -> np.ndarray:
    """:func:`key_positions` of ``keys`` in ``value_set``, walking both in order instead of hashing.

    With ``value_set`` strictly ascending (``sorted_values``; text, no NULL), each ascending run of
    ``keys`` (a day's rows: each source's rows in key order) is matched by comparing it with the values
    from its first key's place on, in windows that double while they agree; where they part, the key is
    new (below the value) or values are skipped (a binary search). A day's few new or absent keys cost
    a few comparisons each, not a hash table of the history. Many runs or partings hash the rest.
    """
    n = len(keys)
    text = (pa.types.is_large_string(keys.type) or pa.types.is_string(keys.type)) and keys.type == value_set.type
    if not sorted_values or not text or not n or not len(value_set) or keys.null_count or value_set.null_count:
        return key_positions(keys, value_set)
    up = bool_mask(pc.less(keys.slice(0, n - 1), keys.slice(1))) if n > 1 else np.ones(0, dtype=bool)
    cut = np.flatnonzero(~up) + 1
    if len(cut) + 1 > MAX_RUNS:
        return key_positions(keys, value_set)
    m = len(value_set)
    out = np.empty(n, dtype=np.int64)
    partings = 0
    for a, b in zip(np.r_[0, cut].tolist(), np.r_[cut, n].tolist(), strict=True):
        i, j, width = a, _bisect(value_set, keys[a].as_py(), 0), MATCH_WINDOW
        while i < b:  # every value before j is below keys[i]
            if partings > MAX_RUNS:  # many new or absent keys: hash the rest of the run against its range
                stop = _bisect(value_set, keys[b - 1].as_py(), j)
                stop += stop < m and value_set[stop].as_py() == keys[b - 1].as_py()
                at = key_positions(keys.slice(i, b - i), value_set.slice(j, stop - j))
                out[i:b] = np.where(at >= 0, at + j, -1)
                break
            size = min(width, b - i, m - j)
            if size == 0:  # past the last value: the rest of the run is new
                out[i:b] = -1
                break
            same = bool_mask(pc.equal(keys.slice(i, size), value_set.slice(j, size)))
            k = int(np.argmin(same)) if not same.all() else size
            out[i : i + k] = np.arange(j, j + k, dtype=np.int64)
            i, j = i + k, j + k
            if k == size:
                width *= 2
                continue
            partings += 1
            width = MATCH_WINDOW
            key = keys[i].as_py()
            if key > value_set[j].as_py():  # values absent from the run: skip to the key's place
                j = _bisect(value_set, key, j)
                if j < m and value_set[j].as_py() == key:
                    continue
            out[i] = -1  # below the next value: a new key
            i += 1
    return out


def consecutive_runs(a_rows: np.ndarray, b_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Runs of rows consecutive on both sides: ``(a_starts, b_starts, lengths)``, ``None`` when there are many."""
    if not len(a_rows):
        return None
    cut = np.flatnonzero((np.diff(a_rows) != 1) | (np.diff(b_rows) != 1)) + 1
    if len(cut) + 1 > MAX_RUNS:
        return None
    starts = np.r_[0, cut]
    return a_rows[starts], b_rows[starts], np.diff(np.r_[starts, len(a_rows)])


def sort_order(frame: pd.DataFrame, by: list[str]) -> np.ndarray | None:
    """Positions that sort ``frame`` as ``frame.sort_values(by, kind="stable", na_position="last")`` does.

    Arrow's stable multi-key sort on the key columns alone (text compared by code point, as Python
    compares ``str``; NULL and NaN last) instead of pandas factorising every key column: at a million rows
    a tenth of the time. Columns Arrow cannot read as one type fall back to pandas.

    Parameters
    ----------
    frame
        The frame.
    by
        Key columns, most significant first.

    Returns
    -------
    numpy.ndarray or None
        The sorting positions, or ``None`` when the frame is already in that order (nothing to move).
    """
    n = len(frame)
    if n < 2:
        return None
    try:
        table = pa.table({f"k{i}": pa.array(frame[c], from_pandas=True) for i, c in enumerate(by)})
        order = pc.sort_indices(table, sort_keys=[(f"k{i}", "ascending", "at_end") for i in range(len(by))])
        positions = np.asarray(order.to_numpy(), dtype=np.int64)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        key = frame[by].reset_index(drop=True)
        positions = key.sort_values(by, kind="stable", na_position="last").index.to_numpy(dtype=np.int64)
    if np.array_equal(positions, np.arange(n, dtype=np.int64)):
        return None
    return positions


def sorted_by(frame: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """``frame.sort_values(by, kind="stable", na_position="last")`` on a fresh index, by :func:`sort_order`."""
    order = sort_order(frame, by) if by else None
    return frame.reset_index(drop=True) if order is None else frame.take(order).reset_index(drop=True)


#: Above this many runs of consecutive rows, :func:`take_rows` gathers row by row (``DataFrame.take``).
MAX_RUNS = 256
#: First window of keys :func:`match_positions` compares at once (doubled while they agree).
MATCH_WINDOW = 256


def take_rows(frame: pd.DataFrame, positions: np.ndarray) -> pd.DataFrame:
    """``frame.take(positions).reset_index(drop=True)``, by slices when the positions are a few runs.

    A day's tables are the previous rows in their order with a few rows inserted or left out: a
    handful of runs of consecutive positions. Concatenating those slices shares the text columns'
    Arrow buffers (chunks, no copy) and copies the numbers in blocks, where a gather copies every
    value again: at a million rows a third of the time or less. The values and dtypes are the gather's;
    text columns then hold one chunk per run (:func:`models.arrow.conform` writes one per column).
    Many runs (a shuffle) take the gather.

    Parameters
    ----------
    frame
        The frame.
    positions
        Row positions, in the order wanted.

    Returns
    -------
    pandas.DataFrame
        The rows, on a fresh ``RangeIndex``.
    """
    positions = np.asarray(positions, dtype=np.int64)
    n = len(positions)
    if n == 0:
        return frame.iloc[:0].reset_index(drop=True)
    cut = np.flatnonzero(np.diff(positions) != 1) + 1
    if len(cut) + 1 > MAX_RUNS or positions.min() < 0 or positions.max() >= len(frame):
        return frame.take(positions).reset_index(drop=True)
    starts = np.r_[0, cut]
    stops = np.r_[cut, n]
    if len(starts) == 1 and positions[0] == 0 and n == len(frame):
        return frame.reset_index(drop=True)
    pieces = [frame.iloc[positions[a] : positions[a] + (b - a)] for a, b in zip(starts, stops, strict=True)]
    return pd.concat(pieces, ignore_index=True) if len(pieces) > 1 else pieces[0].reset_index(drop=True)


#: Above this many pieces, :func:`take_few` lets Arrow join the chunks and gather (``DataFrame.take``).
MAX_PIECES = 64
#: :func:`take_few` takes by pieces up to this fraction of the frame's rows (more: the gather).
FEW_FRACTION = 1 / 4


def _chunk_edges(frame: pd.DataFrame) -> np.ndarray | None:
    """Row positions where a chunk of an Arrow-backed column of ``frame`` starts (and its length), or ``None``.

    ``None`` when every column is in one piece (numpy, or one Arrow chunk).
    """
    edges = []
    for i in range(frame.shape[1]):
        values = frame.iloc[:, i].array
        if isinstance(values, pd.arrays.ArrowExtensionArray):
            chunks = values.__arrow_array__()
            if isinstance(chunks, pa.ChunkedArray) and chunks.num_chunks > 1:
                edges.append(np.cumsum([0] + [len(c) for c in chunks.chunks]))
    return np.unique(np.concatenate(edges)) if edges else None


def take_few(frame: pd.DataFrame, rows: np.ndarray) -> pd.DataFrame:
    """``frame.iloc[rows]`` (same values, dtypes, index and attrs) for a few rows of a large frame.

    Arrow gathers from a column of several chunks (a history read from Parquet row groups, a frame
    sliced and united) by joining the chunks first: taking a hundred rows, or none, copied every text
    column of the million-row frame. Here the rows are taken from the frame's slices within which every
    column is one chunk, the pieces are united and put back in the order asked. Many pieces (rows spread
    over many chunks) take the gather.

    Parameters
    ----------
    frame
        The frame.
    rows
        Row positions (any order; repeats allowed).

    Returns
    -------
    pandas.DataFrame
        ``frame.iloc[rows]``.
    """
    rows = np.asarray(rows, dtype=np.int64)
    edges = _chunk_edges(frame) if len(rows) < len(frame) * FEW_FRACTION else None
    if edges is None:
        return frame.iloc[rows]
    if not len(rows):
        out = frame.iloc[:0]
    else:
        if rows.min() < 0 or rows.max() >= len(frame):
            return frame.iloc[rows]  # raises as iloc does
        piece = np.searchsorted(edges, rows, side="right") - 1
        order = np.argsort(piece, kind="stable")
        grouped, at = rows[order], piece[order]
        firsts = np.flatnonzero(np.r_[True, at[1:] != at[:-1]])
        if len(firsts) > MAX_PIECES:
            return frame.iloc[rows]
        pieces = []
        for a, b in zip(firsts, np.r_[firsts[1:], len(grouped)], strict=True):
            start, stop = edges[at[a]], edges[at[a] + 1]
            pieces.append(frame.iloc[start:stop].take(grouped[a:b] - start))  # one chunk per column: no join
        out = pd.concat(pieces) if len(pieces) > 1 else pieces[0]
        if len(pieces) > 1 and not np.array_equal(order, np.arange(len(rows))):
            back = np.empty(len(rows), dtype=np.int64)
            back[order] = np.arange(len(rows), dtype=np.int64)
            out = out.take(back)  # a few rows: their chunks joined cheaply
    out = out.copy(deep=False)
    out.index = frame.index.take(rows)
    return out


def take_from(frames: Sequence[pd.DataFrame], positions: np.ndarray) -> pd.DataFrame:
    """``take_rows(pd.concat(frames, ignore_index=True, sort=False), positions)`` without the concatenation.

    A day's table is a large frame (the previous rows) with a few rows of small frames inserted: united
    first, the large frame's rows would be copied once into the union and once more into the result.
    Here the positions (into the frames one after the other) are cut into runs of consecutive rows of
    one frame, and those slices are concatenated once. The columns, their order and dtypes are the
    union's: frames that differ in columns or dtypes each lead with a zero-row slice, so that pandas
    resolves every column from the same dtypes (and missing columns) as for the union; ``attrs`` are
    the union's. Many runs take the union and its gather.

    Parameters
    ----------
    frames
        The frames, in union order (at least one).
    positions
        Row positions into their concatenation, in the order wanted.

    Returns
    -------
    pandas.DataFrame
        The rows, on a fresh ``RangeIndex``.
    """
    frames = list(frames)
    if len(frames) == 1:
        return take_rows(frames[0], positions)
    positions = np.asarray(positions, dtype=np.int64)
    starts = np.cumsum([0] + [len(f) for f in frames])
    n = len(positions)
    which = np.searchsorted(starts, positions, side="right") - 1
    cut = np.flatnonzero((np.diff(positions) != 1) | (np.diff(which) != 0)) + 1
    if len(cut) + 1 > MAX_RUNS or (n and (positions.min() < 0 or positions.max() >= starts[-1])):
        return take_rows(pd.concat(frames, ignore_index=True, sort=False), positions)
    first = frames[0]
    uniform = all(f.columns.equals(first.columns) and f.dtypes.equals(first.dtypes) for f in frames[1:])
    pieces = [] if uniform else [f.iloc[:0] for f in frames]
    if n:
        for a, b in zip(np.r_[0, cut], np.r_[cut, n], strict=True):
            at = positions[a] - starts[which[a]]
            pieces.append(frames[which[a]].iloc[at : at + (b - a)])
    if not pieces:
        out = first.iloc[:0].reset_index(drop=True)
    elif len(pieces) == 1:
        out = pieces[0].reset_index(drop=True)
    else:
        out = pd.concat(pieces, ignore_index=True, sort=False)
    attrs = first.attrs  # pandas keeps attrs through a concatenation when all inputs have the same ones
    same = bool(attrs) and all(f.attrs == attrs for f in frames[1:])
    if out.attrs != (attrs if same else {}):
        out.attrs = deepcopy(attrs) if same else {}
    return out


# -- ordering without sorting: a few rows merged into a frame already in key order ---------------------
def order_keys(frame: pd.DataFrame, by: list[str]) -> list[pa.Array] | None:
    """Key columns as single Arrow arrays (text as ``large_string``, integers as ``int64``), or ``None``.

    Only text and integer keys: their order is the one :func:`sort_order` gives (bytes, i.e. code
    points; NULL last) and equality is exact. Floats (NaN placement) and mixed objects take the sort.
    """
    out = []
    for c in by:
        arr = column_array(frame[c])
        if arr is None:
            return None
        if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
            out.append(arr.cast(pa.large_string()))
        elif pa.types.is_integer(arr.type):
            out.append(arr.cast(pa.int64()))
        else:
            return None
    return out


def bool_mask(values: pa.Array) -> np.ndarray:
    """An Arrow boolean array (no NULL) as a numpy mask."""
    return np.asarray(values.to_numpy(zero_copy_only=False), dtype=bool)


def lex_compare(a: list[pa.Array], b: list[pa.Array]) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise ``a < b`` and ``a == b`` of key tuples (columns most significant first), NULL after any value.

    The comparison :func:`sort_order` sorts by, on equal-length arrays, with Arrow kernels (no Python per row).
    """
    n = len(a[0]) if a else 0
    less = np.zeros(n, dtype=bool)
    equal = np.ones(n, dtype=bool)
    for x, y in zip(a, b, strict=True):
        x_null, y_null = bool_mask(x.is_null()), bool_mask(y.is_null())
        lt = bool_mask(pc.less(x, y).fill_null(False)) | (~x_null & y_null)
        eq = bool_mask(pc.equal(x, y).fill_null(False)) | (x_null & y_null)
        less |= equal & lt
        equal &= eq
    return less, equal


def strictly_ascending(keys: list[pa.Array]) -> bool:
    """Whether every row's key tuple is strictly greater than the one before (sorted, no repeat)."""
    n = len(keys[0]) if keys else 0
    if n < 2:
        return True
    less, _ = lex_compare([k.slice(0, n - 1) for k in keys], [k.slice(1) for k in keys])
    return bool(less.all())


def lower_bounds(big: list[pa.Array], small: list[pa.Array]) -> tuple[np.ndarray, np.ndarray]:
    """Per key of ``small``: how many keys of ``big`` (strictly ascending) are below it, and whether ``big`` has it.

    A binary search run for all of ``small`` at once: about log2(len(big)) rounds of Arrow comparisons on
    ``len(small)`` values each, so merging a day's new versions costs the changes, not the history.
    """
    n, k = len(big[0]), len(small[0])
    lo = np.zeros(k, dtype=np.int64)
    hi = np.full(k, n, dtype=np.int64)
    while True:
        active = np.flatnonzero(lo < hi)
        if not len(active):
            break
        mid = (lo[active] + hi[active]) // 2
        at_mid, rows = pa.array(mid), pa.array(active)
        below, _ = lex_compare([c.take(at_mid) for c in big], [c.take(rows) for c in small])
        lo[active[below]] = mid[below] + 1
        hi[active[~below]] = mid[~below]
    inside = np.flatnonzero(lo < n)
    found = np.zeros(k, dtype=bool)
    if len(inside):
        at, rows = pa.array(lo[inside]), pa.array(inside)
        _, same = lex_compare([c.take(at) for c in big], [c.take(rows) for c in small])
        found[inside] = same
    return lo, found
