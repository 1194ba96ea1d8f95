"""Plan history: honest ``t_planning``, visible withdrawals and a changelog per snapshot.

ObsLocTAP clients poll ``t_planning > X`` to learn what changed. That only works if ``t_planning``
moves exactly when an observation's content moves, and if observations that leave a schedule are
re-emitted instead of silently dropped. :func:`reconcile` does this against the previous snapshot's
``obsplan_history``; it is pure (no clock, no files).

Rules (keyed by ``(obs_collection, obs_id)``; a NULL collection counts as the empty string):

* **added** -- a key not seen before: version 1, ``t_planning`` = the as-of MJD.
* **unchanged** -- same content (every obsplan column except ``t_planning``, floats compared after
  rounding to the precision that matters: 1 s for MJDs, 1 ms for durations, 1e-7 deg for angles,
  9 significant digits otherwise): the previous version is kept as it was, ``t_planning`` included.
* **changed** -- any content column differs: a new version with ``t_planning`` = as-of MJD; the
  changelog says whether it *moved* (``t_min``/``t_max``), had its *exposure changed*
  (``t_plan_exptime``/``t_exptime``), its *status changed* (``execution_status``, including a source
  reporting ``Aborted``) or was otherwise *modified*.
* **withdrawn** -- a key whose current version is ``Planned`` or ``Scheduled``, absent from this
  harvest although its source was harvested, and whose window has not ended yet (``t_max`` NULL or
  after the as-of time): a new version with ``execution_status = Unscheduled`` and ``t_planning`` =
  as-of MJD, other columns as last seen.
* **expired** -- a ``Planned`` or ``Scheduled`` observation whose window ended more than
  :data:`models.staleness.STALE_AFTER_DAYS` days before the as-of time (present in this harvest or
  not): a new version with ``execution_status = Unscheduled`` and ``t_planning`` = as-of MJD, listed
  as *expired* in the changelog (see :mod:`models.staleness` for why). A harvest still listing it as
  planned is read as ``Unscheduled``, so it does not flip back every day.
* **carried over** unchanged -- absent keys that are history rather than withdrawals: rows already
  ``Performed``, ``Unscheduled`` or ``Aborted``; rows whose window ended before the as-of time (they
  rolled off a look-ahead schedule; nothing says they were withdrawn, so their last known state
  stands); and rows of sources not harvested in this run (a ``--source nustar`` run must not
  withdraw XMM-Newton rows).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from models.arrow import conform, empty_frame, text_column
from models.columns import Column
from models.rows import (
    bool_mask,
    consecutive_runs,
    is_ascending,
    lex_compare,
    lower_bounds,
    match_positions,
    order_keys,
    sort_order,
    sorted_by,
    strictly_ascending,
    take_few,
    take_from,
)
from models.staleness import expire, stale_mask
from models.tables.history import CHANGE_KINDS, CHANGES, OBSPLAN_HISTORY
from models.tables.obsplan import OBSPLAN

#: Columns identifying an observation across snapshots.
KEY: tuple[str, str] = ("obs_collection", "obs_id")
#: Column of the current frame naming the source that harvested each row.
SOURCE_COLUMN = "x_source"
#: The observation's content: what a new version is made of.
CONTENT_COLUMNS: tuple[str, ...] = tuple(c.name for c in OBSPLAN.columns if c.name != "t_planning")
#: Statuses whose disappearance from a harvested schedule is a withdrawal.
OPEN_STATUSES: tuple[str, ...] = ("Planned", "Scheduled")
#: Status given to withdrawn observations.
WITHDRAWN_STATUS = "Unscheduled"

#: Rounding quantum by unit: the precision below which a difference is float noise.
_QUANTUM_BY_UNIT: dict[str, float] = {"d": 1.0 / 86_400.0, "s": 1e-3, "deg": 1e-7, "arcsec": 1e-4}
_SIGNIFICANT_DIGITS = 9
_MOVE_FIELDS = ("t_min", "t_max")
_EXPOSURE_FIELDS = ("t_plan_exptime", "t_exptime")
_STATUS_FIELDS = ("execution_status",)
_SHOWN = 5


class HistoryError(ValueError):
    """Inputs that cannot be reconciled (duplicate keys, missing identifiers, a corrupt history)."""


class Reconciled(NamedTuple):
    """Result of :func:`reconcile`, all sorted by ``(obs_collection, obs_id)``."""

    obsplan: pd.DataFrame
    history: pd.DataFrame
    changes: pd.DataFrame
    #: What the reconciliation touched (see :func:`reconcile`): the work is in these counts, not in the
    #: length of the history.
    counts: dict[str, int] = {}


def _key(frame: pd.DataFrame) -> pd.Index:
    coll = frame["obs_collection"].astype("string").fillna("")
    return pd.Index((coll + "\x1f" + frame["obs_id"].astype("string")).astype(object))


def _arrow_key(frame: pd.DataFrame, text: list[pa.Array] | None = None) -> pa.Array:
    """The values of :func:`_key` as one Arrow array (collection, unit separator, obs_id), by Arrow kernels.

    ``text``: the two key columns already read by :func:`models.arrow.text_column` (or
    :func:`order_keys`, the same arrays for text columns), not read again.
    """
    collection, obs_id = (
        text if text is not None else (text_column(frame["obs_collection"]), text_column(frame["obs_id"]))
    )
    collection = pc.fill_null(collection, pa.scalar("", pa.large_string()))
    return pc.binary_join_element_wise(collection, obs_id, pa.scalar("\x1f", pa.large_string()))


def _require_unique_arrow(keys: pa.Array, frame: pd.DataFrame, what: str) -> None:
    """:func:`_require_unique` with Arrow's hash count; the keys are spelled out only when some repeat."""
    if len(keys) < 2 or pc.all(pc.less(keys[:-1], keys[1:])).as_py():  # strictly ascending (a sorted history)
        return
    if len(pc.unique(keys)) != len(keys):
        _require_unique(_key(frame), what)


def _history_order(
    hist: pd.DataFrame,
    added: pd.DataFrame,
    versions: list[tuple[pd.DataFrame, np.ndarray]],
    keys: list[pa.Array] | None = None,
) -> np.ndarray | None:
    """:func:`sort_order` of ``_concat([hist, added, *versions])`` by (key, ``x_version``), without sorting.

    ``hist`` holds the current versions only, in key order (the previous snapshot's current part, as
    written); each frame of ``versions`` holds new versions of its rows ``hist.iloc[positions]`` (same
    key, a higher ``x_version``), so each goes right after its previous version; the few ``added`` keys
    are placed by binary search. Every assumption is checked on the rows (strictly ascending keys,
    equal keys, higher versions, one new version per row, added keys new and distinct); when one does
    not hold, ``None`` and the caller sorts. The positions are then the sort's: all keys differ, so the
    stable sort has exactly one result.

    ``keys``: ``order_keys(hist, [*KEY, "x_version"])`` when the caller has it already.

    Returns
    -------
    numpy.ndarray or None
        Positions into the concatenated frame, in history order (``None``: sort instead).
    """
    n = len(hist)
    by = [*KEY, "x_version"]
    keys = order_keys(hist, by) if keys is None else keys
    if keys is None or keys[2].null_count or not strictly_ascending(keys[:2]):
        return None
    n_added = len(added)
    start = n + n_added
    major, minor, source = [], [], []  # an inserted row goes after hist row ``major`` (-1: before all)
    seen = np.zeros(n, dtype=bool)
    for frame, positions in versions:
        if not len(frame):
            continue
        if seen[positions].any() or len(np.unique(positions)) != len(positions):
            return None  # two new versions of one row: sort
        seen[positions] = True
        new = order_keys(frame, by)
        if new is None or new[2].null_count:
            return None
        at = pa.array(positions)
        _, same_key = lex_compare([k.take(at) for k in keys[:2]], new[:2])
        later = bool_mask(pc.greater(new[2], keys[2].take(at)))
        if not (same_key.all() and later.all()):
            return None
        major.append(positions)
        minor.append(np.zeros(len(frame), dtype=np.int64))
        source.append(start + np.arange(len(frame), dtype=np.int64))
        start += len(frame)
    if n_added:
        own = sort_order(added, by)
        own = np.arange(n_added, dtype=np.int64) if own is None else own
        new = order_keys(added.iloc[own], by)
        if new is None or not strictly_ascending(new[:2]):
            return None
        bounds, found = lower_bounds(keys[:2], new[:2])
        if found.any():
            return None
        major.append(bounds - 1)
        minor.append(1 + np.arange(n_added, dtype=np.int64))  # after a new version of the same gap's row
        source.append(n + own)
    if not major:
        return None if n == 0 else np.arange(n, dtype=np.int64)
    ins_major = np.concatenate(major)
    arrange = np.lexsort((np.concatenate(minor), ins_major))
    ins_major, ins_source = ins_major[arrange], np.concatenate(source)[arrange]
    order = np.empty(n + len(ins_major), dtype=np.int64)
    rows = np.arange(n, dtype=np.int64)
    order[rows + np.searchsorted(ins_major, rows, side="left")] = rows
    order[ins_major + 1 + np.arange(len(ins_major), dtype=np.int64)] = ins_source
    return order


def _comparable(values: pd.Series, column: Column) -> np.ndarray:
    """Values as compared between versions: floats rounded, text as objects with None for NULL."""
    if column.is_string:
        return values.astype(object).where(values.notna(), None).to_numpy()
    return _rounded(_numbers(values), column)


def _numbers(values: pd.Series) -> np.ndarray:
    """A column as float64 (NaN where missing or not a number), before :func:`_rounded`; read-only.

    A float64 column is returned as it is (a view: no copy).
    """
    if values.dtype == np.float64:
        return values.to_numpy()
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def _rounded(x: np.ndarray, column: Column) -> np.ndarray:
    """Numbers as compared between versions (:func:`_comparable`): rounded to the column's precision."""
    if column.datatype in ("int", "long"):
        return x
    quantum = _QUANTUM_BY_UNIT.get(column.unit)
    if quantum is not None:
        return np.round(x / quantum)
    with np.errstate(divide="ignore", invalid="ignore"):
        mag = np.floor(np.log10(np.abs(x)))
    scale = 10.0 ** (_SIGNIFICANT_DIGITS - 1 - np.where(np.isfinite(mag), mag, 0.0))
    return np.round(x * scale) / scale


def _differs(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Element-wise "not equal", NULL equal to NULL."""
    a_na = pd.isna(a)
    b_na = pd.isna(b)
    with np.errstate(invalid="ignore"):
        eq = np.asarray(a == b, dtype=bool)
    return ~(eq | (a_na & b_na))


def _column_differs(
    a: pd.Series,
    b: pd.Series,
    column: Column,
    a_rows: np.ndarray | None = None,
    b_rows: np.ndarray | None = None,
    runs: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Element-wise "content differs" of ``a[a_rows]`` and ``b[b_rows]`` (see :func:`_comparable`), NULL equal to NULL.

    Text is compared by Arrow's kernels on the columns' own buffers (no Python object per value: a
    million-row comparison of ten text columns is the bulk of a day's reconciliation otherwise); only
    the rows compared are taken, and a side whose rows are all of it in order (``None``) is not copied.
    ``runs`` (:func:`consecutive_runs` of the two row lists) compares slices instead of taking rows. Numbers equal
    before rounding are equal after it: only the others are rounded.
    """
    if column.is_string:
        try:
            x = pa.array(a, type=pa.large_string(), from_pandas=True)
            y = pa.array(b, type=pa.large_string(), from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            x = y = None
        if x is not None and y is not None:
            if runs is not None:
                pairs = [(x.slice(i, k), y.slice(j, k)) for i, j, k in zip(*runs, strict=True)]
            else:
                pairs = [
                    (
                        x if a_rows is None else x.take(pa.array(a_rows)),
                        y if b_rows is None else y.take(pa.array(b_rows)),
                    )
                ]
            same = [pc.or_kleene(pc.equal(u, v), pc.and_(u.is_null(), v.is_null())).fill_null(False) for u, v in pairs]
            return ~np.concatenate([bool_mask(t) for t in same]) if len(same) > 1 else ~bool_mask(same[0])
        x, y = _comparable(a, column), _comparable(b, column)
        return _differs(x if a_rows is None else x[a_rows], y if b_rows is None else y[b_rows])
    x, y = _numbers(a), _numbers(b)
    if runs is None:
        x = x if a_rows is None else x[a_rows]
        y = y if b_rows is None else y[b_rows]
        out = _unequal(x, y)
        rows = np.flatnonzero(out)
        x_at, y_at = rows, rows
    else:  # the runs compared in place (views), and only the rows that differ gathered
        out = np.concatenate([_unequal(x[i : i + k], y[j : j + k]) for i, j, k in zip(*runs, strict=True)])
        rows = np.flatnonzero(out)
        run = np.searchsorted(np.cumsum(runs[2]), rows, side="right")
        within = rows - (np.cumsum(runs[2]) - runs[2])[run]
        x_at, y_at = runs[0][run] + within, runs[1][run] + within
    if len(rows):  # equal numbers round alike: only the others are rounded
        out[rows] = _differs(_rounded(x[x_at], column), _rounded(y[y_at], column))
    return out


def _unequal(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Element-wise ``x != y`` of float arrays, NaN equal to NaN."""
    with np.errstate(invalid="ignore"):
        return ~((x == y) | (np.isnan(x) & np.isnan(y)))


def _require_unique(keys: pd.Index, what: str) -> None:
    dup = keys.duplicated(keep=False)
    if dup.any():
        shown = sorted({k.replace("\x1f", "/") for k in keys[dup]})[:_SHOWN]
        raise HistoryError(f"{what}: (obs_collection, obs_id) not unique: {shown}")


def _prepare_current(current: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in ("obs_id", SOURCE_COLUMN) if c not in current.columns]
    if missing:
        raise HistoryError(f"current obsplan lacks {missing}; columns found: {list(current.columns)}")
    if current["obs_id"].isna().any() or current[SOURCE_COLUMN].isna().any():
        rows = np.flatnonzero((current["obs_id"].isna() | current[SOURCE_COLUMN].isna()).to_numpy())
        raise HistoryError(f"current obsplan has NULL obs_id or {SOURCE_COLUMN} in rows {rows[:_SHOWN].tolist()}")
    out = current.reset_index(drop=True)  # copy-on-write: columns added below never reach the caller's frame
    for name in CONTENT_COLUMNS:
        if name not in out.columns:
            out[name] = None if OBSPLAN.column(name).is_string else np.nan
    return out


def _prepare_history(previous: pd.DataFrame | None) -> pd.DataFrame:
    if previous is None:
        return empty_frame(OBSPLAN_HISTORY)
    missing = [c for c in OBSPLAN_HISTORY.names if c not in previous.columns]
    if missing:
        raise HistoryError(f"previous obsplan_history lacks columns {missing}")
    return previous[OBSPLAN_HISTORY.names].reset_index(drop=True)  # copy-on-write: no copy until written


def _changed_fields(masks: dict[str, np.ndarray], n: int) -> np.ndarray:
    """Comma-separated names of the columns flagged in ``masks`` (loop over columns, not rows)."""
    text = np.full(n, "", dtype=object)
    for name, mask in masks.items():
        text = np.where(mask, np.where(text == "", name, text + "," + name), text)
    return text


def _concat(frames: list[pd.DataFrame], columns: list[str], spec_empty: pd.DataFrame) -> pd.DataFrame:
    kept = [f[columns] for f in frames if len(f)]
    if not kept:
        return spec_empty[columns].copy()
    return pd.concat(kept, ignore_index=True)


def _sorted(frame: pd.DataFrame, extra: list[str]) -> pd.DataFrame:
    return sorted_by(frame, [*KEY, *extra])


def reconcile(
    current: pd.DataFrame,
    previous_history: pd.DataFrame | None,
    snapshot_date: dt.date,
    as_of_mjd: float,
    harvested_sources: Collection[str] | None = None,
) -> Reconciled:
    """Merge this harvest's observations into the plan history (see the module rules).

    Parameters
    ----------
    current
        This harvest's obsplan rows without ``t_planning``, plus ``x_source`` naming the source.
    previous_history
        ``obsplan_history`` of the previous snapshot date, or ``None`` for the first snapshot.
    snapshot_date
        The snapshot (as-of) date, recorded as ``x_snapshot`` on new versions.
    as_of_mjd
        The harvest's as-of time (MJD, UTC): the ``t_planning`` of every new version.
    harvested_sources
        Sources harvested in this run; only their absent rows can be withdrawn. ``None`` means the
        sources present in ``current``.

    Returns
    -------
    Reconciled
        ``obsplan`` (current version of every observation, obsplan columns), ``history`` (the
        versions given in ``previous_history``, the superseded ones now closed, plus the new
        versions; ``obsplan_history`` columns), ``changes`` (``changes`` columns) and ``counts``:
        ``previous_current`` (current versions compared against), ``previous_closed`` (closed versions
        passed through untouched), ``compared`` (observations present in both and compared column by
        column), ``added``, ``changed``, ``withdrawn``, ``closed`` (versions given an end of validity)
        and ``written`` (new versions).

    Notes
    -----
    Only the current versions take part: passing just those (``x_valid_to`` NULL; the
    ``history/obsplan_history-current.parquet`` of the previous snapshot, see
    :mod:`models.history_store`) gives the same ``obsplan`` and ``changes`` as passing the whole
    history, and a ``history`` made of the current versions plus the versions closed now.
    """
    cur = _prepare_current(current)
    cur_stale = stale_mask(cur, as_of_mjd)
    cur = expire(cur, as_of_mjd)  # still listed as planned long after its window: read as Unscheduled
    hist = _prepare_history(previous_history)
    harvested = set(cur[SOURCE_COLUMN].unique()) if harvested_sources is None else set(harvested_sources)
    snapshot = snapshot_date.isoformat()

    cur_keys = _arrow_key(cur)  # Arrow hashing: no Python string per row
    is_current_version = hist["x_valid_to"].isna().to_numpy()
    prev_rows = np.flatnonzero(is_current_version)
    # the current versions (all of ``hist`` when only those were given: no copy)
    prev = hist if len(prev_rows) == len(hist) else hist.iloc[prev_rows].reset_index(drop=True)
    # the previous key columns are read once, for the match here and for the history's order below
    hist_keys = order_keys(prev, [*KEY, "x_version"]) if prev is hist and len(hist) else None
    text = hist_keys is not None and all(pa.types.is_large_string(k.type) for k in hist_keys[:2])
    prev_keys = _arrow_key(prev, hist_keys[:2] if text else None)
    prev_sorted = is_ascending(prev_keys)  # the previous snapshot's rows as written: in key order, unique
    # position in prev of each current row, -1 if new (a source's rows in key order: runs along prev, no hashing)
    in_prev = match_positions(cur_keys, prev_keys, sorted_values=prev_sorted)
    # current keys unique: no two rows found at one previous row, no repeat among the new ones (few)
    found = in_prev[in_prev >= 0]
    repeated = len(found) and int(np.bincount(found, minlength=len(prev)).max()) > 1
    new_keys = cur_keys.filter(pa.array(in_prev < 0))
    if repeated or len(pc.unique(new_keys)) != len(new_keys):
        _require_unique(_key(cur), "current obsplan")
    if not prev_sorted:
        _require_unique_arrow(prev_keys, prev, "previous obsplan_history (current versions)")
    if len(prev) and np.nanmax(prev["t_planning"].to_numpy(dtype="float64")) > as_of_mjd:
        raise HistoryError("previous obsplan_history has t_planning after this as-of time: wrong previous snapshot?")

    in_cur = np.full(len(prev), -1, dtype=np.int64)  # position in cur of each previous row, -1 if absent
    in_cur[in_prev[in_prev >= 0]] = np.flatnonzero(in_prev >= 0)  # keys are unique on both sides

    # Matched observations: compare content column by column (vectorised over rows); a side whose
    # matched rows are all its rows in order is compared in place (no copy of its columns).
    matched_cur = np.flatnonzero(in_prev >= 0)
    matched_prev = in_prev[matched_cur]
    cur_rows = None if len(matched_cur) == len(cur) else matched_cur
    same_order = len(matched_prev) == len(prev) and bool(np.all(matched_prev == np.arange(len(prev))))
    prev_rows_cmp = None if same_order else matched_prev
    runs = (
        None if same_order and cur_rows is None else consecutive_runs(matched_cur, matched_prev)
    )  # slices, not gathers
    masks: dict[str, np.ndarray] = {}
    for name in CONTENT_COLUMNS:
        column = OBSPLAN.column(name)
        masks[name] = _column_differs(cur[name], prev[name], column, cur_rows, prev_rows_cmp, runs)
    any_change = np.zeros(len(matched_cur), dtype=bool)
    for mask in masks.values():
        any_change |= mask
    changed_masks = {k: v[any_change] for k, v in masks.items()}  # the work below scales with the changes
    fields = _changed_fields(changed_masks, int(any_change.sum()))

    # Absent observations: withdrawn, or carried over as history.
    absent = in_cur < 0
    open_status = prev["execution_status"].isin(OPEN_STATUSES).to_numpy()
    t_max = prev["t_max"].to_numpy(dtype="float64", na_value=np.nan)
    window_open = np.isnan(t_max) | (t_max > as_of_mjd)
    source_harvested = prev["x_source"].isin(harvested).to_numpy()
    withdraw = absent & open_status & window_open & source_harvested
    expire_absent = absent & stale_mask(prev, as_of_mjd)  # whatever was harvested: time alone decides

    # New versions.
    added = take_few(cur, np.flatnonzero(in_prev < 0)).assign(
        t_planning=as_of_mjd,
        x_version=1,
        x_snapshot=snapshot,
        x_valid_to=np.nan,
        x_change="added",
        x_changed_fields=None,
    )
    changed_cur = matched_cur[any_change]
    changed_prev = matched_prev[any_change]
    # a present observation whose only news is that it went stale is "expired", not "changed"
    expired_present = cur_stale[changed_cur] & open_status[changed_prev]
    changed = take_few(cur, changed_cur).assign(
        t_planning=as_of_mjd,
        x_version=prev["x_version"].to_numpy()[changed_prev].astype("int64") + 1,
        x_snapshot=snapshot,
        x_valid_to=np.nan,
        x_change=np.where(expired_present, "expired", "changed"),
        x_changed_fields=fields,
    )

    def unscheduled(mask: np.ndarray, kind: str) -> pd.DataFrame:
        """New ``Unscheduled`` versions of the previous rows in ``mask`` (withdrawn or expired)."""
        return take_few(prev, np.flatnonzero(mask)).assign(
            execution_status=WITHDRAWN_STATUS,
            t_planning=as_of_mjd,
            x_version=lambda f: f["x_version"].astype("int64") + 1,
            x_snapshot=snapshot,
            x_valid_to=np.nan,
            x_change=kind,
            x_changed_fields="execution_status",
        )

    withdrawn = unscheduled(withdraw, "withdrawn")
    expired = unscheduled(expire_absent, "expired")

    # Superseded versions get their end of validity.
    superseded = np.concatenate([changed_prev, np.flatnonzero(withdraw), np.flatnonzero(expire_absent)])
    valid_to = hist["x_valid_to"].to_numpy(dtype="float64", na_value=np.nan).copy()
    valid_to[prev_rows[superseded]] = as_of_mjd
    hist["x_valid_to"] = valid_to

    empty_hist = empty_frame(OBSPLAN_HISTORY)
    parts = [f[OBSPLAN_HISTORY.names] for f in (hist, added, changed, withdrawn, expired) if len(f)]
    # Only the current versions given (the usual day): the new versions are merged into the previous
    # order instead of sorting a million keys, and history and obsplan are each taken once from the
    # parts by positions (:func:`take_from`: the previous rows in runs, sliced; never united first).
    order = None
    if len(prev) == len(hist) and len(hist):
        versions = [
            (changed, changed_prev),
            (withdrawn, np.flatnonzero(withdraw)),
            (expired, np.flatnonzero(expire_absent)),
        ]
        order = _history_order(hist, added, versions, hist_keys)
    if order is None:
        union = pd.concat(parts, ignore_index=True) if parts else empty_hist[OBSPLAN_HISTORY.names].copy()
        history = _sorted(union, ["x_version"])
        obsplan = history.loc[history["x_valid_to"].isna(), OBSPLAN.names].reset_index(drop=True)
    else:
        history = take_from(parts, order)  # the previous rows in runs: sliced, not gathered
        closed_rows = np.zeros(len(order), dtype=bool)
        closed_rows[prev_rows[superseded]] = True  # hist rows (positions 0..n-1 of the parts) closed now
        obsplan = take_from([f[OBSPLAN.names] for f in parts], order[~closed_rows[order]])

    changes = _changelog(
        snapshot,
        added=added,
        changed=changed,
        changed_prev=take_few(prev, changed_prev),
        change_masks=changed_masks,
        withdrawn=withdrawn,
        withdrawn_prev=take_few(prev, np.flatnonzero(withdraw)),
        expired=expired,
        expired_prev=take_few(prev, np.flatnonzero(expire_absent)),
        expired_changed=expired_present,
    )
    counts = {
        "previous_current": len(prev),
        "previous_closed": len(hist) - len(prev),
        "compared": len(matched_cur),
        "added": len(added),
        "changed": len(changed),
        "withdrawn": len(withdrawn),
        "expired": len(expired) + int(expired_present.sum()),
        "closed": len(superseded),
        "written": len(added) + len(changed) + len(withdrawn) + len(expired),
    }
    return Reconciled(obsplan=obsplan, history=history, changes=changes, counts=counts)


def _with_previous(new: pd.DataFrame, old: pd.DataFrame) -> pd.DataFrame:
    """New versions with the previous version's values in ``x_prev_*`` columns."""
    out = new.reset_index(drop=True).copy()
    old = old.reset_index(drop=True)
    for name in ("execution_status", "t_min", "t_max", "t_exptime", "t_plan_exptime"):
        out[f"x_prev_{name}"] = old[name].to_numpy()
    t_new = pd.to_numeric(out["t_min"], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    t_old = pd.to_numeric(out["x_prev_t_min"], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    out["x_delta_t_min"] = (t_new - t_old) * 86_400.0
    return out


def _changelog(
    snapshot: str,
    *,
    added: pd.DataFrame,
    changed: pd.DataFrame,
    changed_prev: pd.DataFrame,
    change_masks: dict[str, np.ndarray],
    withdrawn: pd.DataFrame,
    withdrawn_prev: pd.DataFrame,
    expired: pd.DataFrame,
    expired_prev: pd.DataFrame,
    expired_changed: np.ndarray,
) -> pd.DataFrame:
    """One row per observation and kind of change, in key order (an expiry is not also a status change)."""

    def any_of(names: tuple[str, ...]) -> np.ndarray:
        out = np.zeros(len(changed), dtype=bool)
        for n in names:
            out |= change_masks[n]
        return out

    other = tuple(n for n in CONTENT_COLUMNS if n not in (*_MOVE_FIELDS, *_EXPOSURE_FIELDS, *_STATUS_FIELDS))
    both = _with_previous(changed, changed_prev)
    kinds = {
        "moved": any_of(_MOVE_FIELDS),
        "exposure_changed": any_of(_EXPOSURE_FIELDS),
        "expired": expired_changed,
        "status_changed": any_of(_STATUS_FIELDS) & ~expired_changed,
        "modified": any_of(other),
    }
    frames = [
        added.assign(x_change="added"),
        _with_previous(withdrawn, withdrawn_prev).assign(x_change="withdrawn"),
        _with_previous(expired, expired_prev).assign(x_change="expired"),
    ]
    frames += [both.iloc[np.flatnonzero(mask)].assign(x_change=kind) for kind, mask in kinds.items()]
    frames = [f.assign(x_snapshot=snapshot) for f in frames]
    for f in frames:
        for name in CHANGES.names:
            if name not in f.columns:
                f[name] = np.nan
    out = _concat(frames, CHANGES.names, empty_frame(CHANGES))
    order = pd.Categorical(out["x_change"], categories=list(CHANGE_KINDS), ordered=True)
    out = out.assign(_order=order.codes)
    return _sorted(out, ["_order"]).drop(columns="_order")


def change_counts(changes: pd.DataFrame) -> dict[str, int]:
    """Number of changelog rows of every kind (zeros included, fixed order)."""
    counts = changes["x_change"].value_counts()
    return {kind: int(counts.get(kind, 0)) for kind in CHANGE_KINDS}


def changes_document(
    changes: pd.DataFrame, snapshot_date: dt.date, previous_snapshot: str | None, as_of_mjd: float
) -> dict[str, object]:
    """The changelog as a JSON-ready document (``changes.json``): header, counts and rows."""
    return {
        "snapshot": snapshot_date.isoformat(),
        "previous_snapshot": previous_snapshot,
        "as_of_mjd": as_of_mjd,
        "counts": change_counts(changes),
        "changes": conform(changes, CHANGES).to_pylist(),  # NULLs (never NaN) through Arrow
    }


def diff_obsplan(old: pd.DataFrame, new: pd.DataFrame) -> dict[str, list[str]]:
    """Observations added, removed and changed between two obsplan tables (any two snapshots).

    Changed entries name the columns that differ (content compared as in :func:`reconcile`, plus
    ``t_planning``) as ``collection/obs_id: col,col``.
    """
    old_keys, new_keys = _key(old), _key(new)
    in_old = old_keys.get_indexer(new_keys)
    matched_new = np.flatnonzero(in_old >= 0)
    matched_old = in_old[matched_new]
    masks = {}
    for name in ("t_planning", *CONTENT_COLUMNS):
        column = OBSPLAN.column(name)
        a = _comparable(new[name].iloc[matched_new], column) if name in new.columns else np.full(len(matched_new), None)
        b = _comparable(old[name].iloc[matched_old], column) if name in old.columns else np.full(len(matched_old), None)
        masks[name] = _differs(a, b)
    fields = _changed_fields(masks, len(matched_new))
    changed = fields != ""
    shown = pd.Series(new_keys[matched_new][changed], dtype="string").str.replace("\x1f", "/", regex=False)
    text = shown + ": " + pd.Series(fields[changed], dtype="string")  # both on a fresh RangeIndex
    return {
        "added": sorted(k.replace("\x1f", "/") for k in new_keys[in_old < 0]),
        "removed": sorted(k.replace("\x1f", "/") for k in old_keys[new_keys.get_indexer(old_keys) < 0]),
        "changed": sorted(text.tolist()),
    }
