"""Validation of frames against the table specs.

Each rule is derived from the spec (null rules, vocabularies, ranges), from the standards'
cross-field rules, or from facility facts (:mod:`models.facilities`: the plausibility rules), and
reports a :class:`Violation` with a stable code. Every code is declared once, with its check group,
in :data:`CODE_GROUPS`, so blocking checks, reports and tests can rely on the code while people
read the message.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from models.columns import TIMED_STATUSES, Column, TableSpec
from models.facilities import BAND_RTOL, FACILITIES, Facility, instrument_bands, instrument_fov
from models.timeutil import mjd_from_date, mjd_from_datetime

if TYPE_CHECKING:
    import pyarrow as pa

#: Every violation code and the check group it belongs to: the ONE place where a code is declared.
#: ``pipelines.checks`` builds one blocking check per group from this mapping, so a new code joins a
#: check by being declared here (a test fails if ``validate`` emits a code that is not).
CODE_GROUPS: dict[str, str] = {
    "missing-column": "schema",
    "datatype": "schema",
    "not-null": "null_rules",
    "not-null-if-scheduled-or-performed": "null_rules",
    "vocabulary": "vocabularies",
    "range": "ranges",
    "order": "ranges",
    "unique": "unique_keys",
    # Plausibility (models.facilities): values inside the generic ranges that the facility cannot have.
    "unknown-facility": "plausibility",
    "time-outside-operations": "plausibility",
    "time-beyond-horizon": "plausibility",
    "performed-in-future": "plausibility",
    "exptime-exceeds-duration": "plausibility",
    "em-outside-band": "plausibility",
    "fov-outside-range": "plausibility",
}

#: Stable violation codes (in declaration order).
CODES: tuple[str, ...] = tuple(CODE_GROUPS)

#: Check groups in the order their codes are declared.
GROUPS: tuple[str, ...] = tuple(dict.fromkeys(CODE_GROUPS.values()))


def codes_of(group: str) -> tuple[str, ...]:
    """The violation codes of one check group (KeyError naming the groups if unknown)."""
    if group not in GROUPS:
        raise KeyError(f"unknown check group {group!r}; known: {list(GROUPS)}")
    return tuple(c for c, g in CODE_GROUPS.items() if g == group)


#: Allowance of ``t_exptime`` over ``(t_max - t_min)`` in seconds. Exposures are published rounded to
#: 0.1 ks (NuSTAR ``Exp``, XMM ``Dur. Ks``: up to 50 s off) and times to whole seconds (up to 2 s off
#: on a duration); float round-off of an MJD difference is below 1 us. An exposure longer than the
#: window by more than that is a sum over parallel instruments/detectors or a unit error.
EXPTIME_TOLERANCE_S = 60.0

#: Cross-field ordering rules: (low column, high column).
ORDERED_PAIRS = (("t_min", "t_max"), ("em_min", "em_max"))

_MAX_ROWS_SHOWN = 10

#: An as-of time: MJD (UTC), a tz-aware datetime, a date (00:00 UTC) or None.
AsOf = float | dt.datetime | dt.date | None


@dataclass(frozen=True)
class Violation:
    """A rule broken by some rows of a table."""

    code: str
    table: str
    column: str
    rule: str
    rows: tuple[int, ...] = field(default=())

    def __post_init__(self) -> None:
        # A code outside CODE_GROUPS would belong to no check and pass every one: refuse it here.
        if self.code not in CODE_GROUPS:
            raise ValueError(f"violation code {self.code!r} is not declared in models.validate.CODE_GROUPS")

    @property
    def message(self) -> str:
        """Human-readable message naming table, column, rule and offending rows."""
        shown = ", ".join(str(r) for r in self.rows[:_MAX_ROWS_SHOWN])
        more = f" (+{len(self.rows) - _MAX_ROWS_SHOWN} more)" if len(self.rows) > _MAX_ROWS_SHOWN else ""
        where = f" in rows [{shown}{more}]" if self.rows else ""
        return f"[{self.code}] {self.table}.{self.column}: {self.rule}{where}"

    def as_dict(self) -> dict[str, object]:
        """JSON-friendly form for reports and manifests."""
        return {
            "code": self.code,
            "table": self.table,
            "column": self.column,
            "rule": self.rule,
            "n_rows": len(self.rows),
            "rows": list(self.rows[:_MAX_ROWS_SHOWN]),
            "message": self.message,
        }


def _rows(mask: np.ndarray | pd.Series) -> tuple[int, ...]:
    return tuple(int(i) for i in np.flatnonzero(np.asarray(mask, dtype=bool)))


def _datatype_ok(series: pd.Series, column: Column) -> np.ndarray:
    """Mask of rows whose value does not fit the column's datatype (nulls fit)."""
    notna = series.notna().to_numpy()
    if column.is_string:
        if column.datatype == "timestamp" and pd.api.types.is_datetime64_any_dtype(series):
            return np.zeros(len(series), dtype=bool)
        if pd.api.types.is_string_dtype(series.dtype) and series.dtype != object:
            return np.zeros(len(series), dtype=bool)
        if pd.api.types.infer_dtype(series, skipna=True) in ("string", "empty"):
            return np.zeros(len(series), dtype=bool)
        # Only on a failing column: find the offending rows to name them.
        is_str = np.fromiter((isinstance(v, str) for v in series), dtype=bool, count=len(series))
        return notna & ~is_str
    if pd.api.types.is_bool_dtype(series):
        return notna
    numeric = pd.to_numeric(series, errors="coerce")
    bad = notna & numeric.isna().to_numpy()
    if column.datatype in ("int", "long"):
        values = numeric.to_numpy(dtype="float64", na_value=np.nan)
        with np.errstate(invalid="ignore"):
            bad |= notna & ~np.isnan(values) & (np.floor(values) != values)
    return bad


def _numeric(series: pd.Series) -> np.ndarray:
    return pd.to_numeric(series, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def validate(frame: pd.DataFrame, spec: TableSpec, *, as_of: AsOf = None) -> list[Violation]:
    """Check ``frame`` against every rule of ``spec``; an empty list means valid.

    Rules: presence of mandatory columns, datatypes, null rules (including ObsLocTAP's
    "t_min, t_max, t_exptime not null when Scheduled or Performed"), vocabularies, ranges,
    ``t_min <= t_max`` and ``em_min <= em_max``, the spec's uniqueness constraints, and the
    plausibility rules of :func:`plausibility` (facility windows, bands, fields, exposure).

    Parameters
    ----------
    frame
        The table's rows.
    spec
        Its specification.
    as_of
        When the rows were known (MJD UTC, or a tz-aware datetime / a date): Performed rows must have
        ended by then and planned ones lie within the facility's horizon after it. ``None``: each
        row's ``t_planning`` where the table has one (the as-of time of the harvest that recorded the
        version), else no as-of rule applies (validation never reads the clock); the operating
        window still ends at 2100 for every facility.

    Returns
    -------
    list[Violation]
        Every broken rule with its stable code (:data:`CODE_GROUPS`), table, column, rule and rows.
    """
    table = spec.qualified_name
    out: list[Violation] = []
    present = [c for c in spec.columns if c.name in frame.columns]
    for c in spec.columns:
        if c.name not in frame.columns and c.presence == "mandatory":
            out.append(Violation("missing-column", table, c.name, "mandatory column is missing"))

    timed = None
    if "execution_status" in frame.columns:
        timed = frame["execution_status"].isin(TIMED_STATUSES).to_numpy()

    for c in present:
        s = frame[c.name]
        isna = s.isna().to_numpy()
        bad = _datatype_ok(s, c)
        if bad.any():
            out.append(Violation("datatype", table, c.name, f"values must be {c.datatype}", _rows(bad)))
        if c.null_rule == "not-null" and isna.any():
            out.append(Violation("not-null", table, c.name, "must not be NULL", _rows(isna)))
        if c.null_rule == "not-null-if-scheduled-or-performed" and timed is not None:
            m = isna & timed
            if m.any():
                out.append(
                    Violation(
                        "not-null-if-scheduled-or-performed",
                        table,
                        c.name,
                        "must not be NULL when execution_status is Scheduled or Performed",
                        _rows(m),
                    )
                )
        if c.values is not None:
            allowed = set(c.values)
            if all(isinstance(v, int) for v in c.values):
                num = _numeric(s)
                m = ~isna & ~np.isin(num, np.array(sorted(allowed), dtype="float64"))
            else:
                m = ~isna & ~s.isin(allowed).to_numpy()
            if m.any():
                shown = ", ".join(str(v) for v in c.values)
                out.append(Violation("vocabulary", table, c.name, f"must be one of {shown} (exact case)", _rows(m)))
        if c.minimum is not None or c.maximum is not None:
            num = _numeric(s)
            m = np.zeros(len(s), dtype=bool)
            with np.errstate(invalid="ignore"):
                if c.minimum is not None:
                    m |= (num <= c.minimum) if c.exclusive_min else (num < c.minimum)
                if c.maximum is not None:
                    m |= (num >= c.maximum) if c.exclusive_max else (num > c.maximum)
            m &= ~np.isnan(num)
            if m.any():
                lo = "" if c.minimum is None else f"{c.minimum} {'<' if c.exclusive_min else '<='} "
                hi = "" if c.maximum is None else f" {'<' if c.exclusive_max else '<='} {c.maximum}"
                out.append(Violation("range", table, c.name, f"must satisfy {lo}{c.name}{hi}", _rows(m)))

    for low, high in ORDERED_PAIRS:
        if low in frame.columns and high in frame.columns:
            with np.errstate(invalid="ignore"):
                m = _numeric(frame[low]) > _numeric(frame[high])
            if m.any():
                out.append(Violation("order", table, f"{low},{high}", f"{low} must be <= {high}", _rows(m)))

    out += _unique_violations(frame, spec)
    out += plausibility(frame, table, reference_mjd(frame, as_of))
    return out


def _unique_violations(keys: pd.DataFrame, spec: TableSpec) -> list[Violation]:
    """The uniqueness rules of ``spec`` whose columns ``keys`` has, on all its rows (NULL equal to NULL)."""
    out = []
    for key in spec.unique:
        if all(k in keys.columns for k in key):
            if _strictly_ascending(keys, key):
                continue  # sorted without a repeat: unique, found without hashing every key
            m = keys.duplicated(list(key), keep=False).to_numpy()
            if m.any():
                rule = f"({', '.join(key)}) must be unique"
                out.append(Violation("unique", spec.qualified_name, ",".join(key), rule, _rows(m)))
    return out


def _strictly_ascending(keys: pd.DataFrame, key: tuple[str, ...]) -> bool:
    """Whether the rows' ``key`` tuples are sorted with no repeat (NULL after any value, equal to NULL).

    Snapshots are written in key order, so this one linear pass of Arrow comparisons usually decides
    uniqueness; a table out of order (or a key Arrow cannot read) is left to pandas' ``duplicated``.
    """
    import pyarrow as pa

    from models.arrow import column_array
    from models.rows import strictly_ascending

    arrays = [column_array(keys[k]) for k in key]
    if any(a is None for a in arrays):
        return False
    try:
        return strictly_ascending(arrays)
    except pa.ArrowNotImplementedError:  # a type Arrow cannot order
        return False


# ------------------------------------------------------------------------------------ plausibility


#: Rows checked at a time when publication reads a table back (:func:`validate_batches`): bounds the
#: memory of a million-row check.
VALIDATE_SLICE = 250_000


def key_columns(spec: TableSpec) -> list[str]:
    """The columns of ``spec``'s uniqueness rules (what :func:`validate_batches` needs of all the rows)."""
    return sorted({k for key in spec.unique for k in key})


def validate_batches(
    batches: Iterable[pa.Table | pa.RecordBatch], spec: TableSpec, *, as_of: AsOf = None, keys: pa.Table
) -> list[Violation]:
    """:func:`validate` of rows given a batch at a time (e.g. read from Parquet a row group at a time).

    The same violations as :func:`validate` of all the rows at once: each batch is checked for every
    rule but uniqueness (its violations' rows shifted by the rows before it), and uniqueness on
    ``keys``, the :func:`key_columns` of all the rows. Only one batch is in memory besides the keys, so a
    million-row table is checked in the memory of a few hundred thousand rows.

    Parameters
    ----------
    batches
        The rows in order.
    spec, as_of
        As for :func:`validate`.
    keys
        The columns of ``spec.unique`` (those present) of all the rows, in the same order.

    Returns
    -------
    list[Violation]
        Grouped per rule, as :func:`validate` gives.
    """
    import pyarrow as pa

    from models.arrow import to_frame

    per_row_rules = dataclasses.replace(spec, unique=())
    merged: dict[tuple[str, str, str, str], list[np.ndarray]] = {}
    start = 0
    for batch in batches:
        table = batch if isinstance(batch, pa.Table) else pa.Table.from_batches([batch])
        for v in validate(to_frame(table), per_row_rules, as_of=as_of):
            rows = np.asarray(v.rows, dtype=np.int64) + start
            merged.setdefault((v.code, v.table, v.column, v.rule), []).append(rows)
        start += table.num_rows
        del table
    out = [Violation(*key, rows=tuple(np.concatenate(parts).tolist())) for key, parts in merged.items()]
    return out + _unique_violations(to_frame(keys), spec)


def as_of_mjd(as_of: AsOf) -> float | None:
    """MJD (UTC) of an as-of time given as MJD, tz-aware datetime or date (00:00 UTC); None stays None."""
    if as_of is None:
        return None
    if isinstance(as_of, dt.datetime):
        return mjd_from_datetime(as_of)
    if isinstance(as_of, dt.date):
        return mjd_from_date(as_of)
    return float(as_of)


def reference_mjd(frame: pd.DataFrame, as_of: AsOf = None) -> np.ndarray:
    """Per row, the time the row was known at (see :func:`validate`'s ``as_of``).

    ``as_of`` when given; else each row's ``t_planning``; else NaN, which skips the rules that
    need it (``performed-in-future``, ``time-beyond-horizon``). Validation never reads the clock:
    the same snapshot validates the same way on any day.
    """
    given = as_of_mjd(as_of)
    if given is not None:
        return np.full(len(frame), given)
    if "t_planning" in frame.columns:
        return _numeric(frame["t_planning"])
    return np.full(len(frame), np.nan)


def _column(frame: pd.DataFrame, name: str) -> np.ndarray:
    return _numeric(frame[name]) if name in frame.columns else np.full(len(frame), np.nan)


def _mjd_text(mjd: float) -> str:
    day = dt.date(1858, 11, 17) + dt.timedelta(days=int(np.floor(mjd)))
    return f"MJD {mjd:g} ({day.isoformat()})"


def _band_text(bands: tuple[tuple[float, float], ...]) -> str:
    return " or ".join(f"[{lo:.6g}, {hi:.6g}] m" for lo, hi in bands)


def _outside_bands(em_min: np.ndarray, em_max: np.ndarray, bands: tuple[tuple[float, float], ...]) -> np.ndarray:
    """Rows whose known band edges do not all lie inside one of ``bands`` (rows without both edges pass)."""
    inside = np.zeros(len(em_min), dtype=bool)
    with np.errstate(invalid="ignore"):
        for lo, hi in bands:  # one or two bands per facility, not rows
            lo_t, hi_t = lo * (1.0 - BAND_RTOL), hi * (1.0 + BAND_RTOL)
            ok_min = np.isnan(em_min) | ((em_min >= lo_t) & (em_min <= hi_t))
            ok_max = np.isnan(em_max) | ((em_max >= lo_t) & (em_max <= hi_t))
            inside |= ok_min & ok_max
    return ~inside & ~(np.isnan(em_min) & np.isnan(em_max))


def _facility_rules(
    facility: Facility,
    rows: np.ndarray,
    instrument: pd.Series | None,
    values: dict[str, np.ndarray],
    performed: np.ndarray,
    ref: np.ndarray,
    table: str,
) -> list[Violation]:
    """Window, horizon, band and field rules for the rows (mask) of one facility."""
    out: list[Violation] = []
    name = facility.name
    lo, hi = facility.start_mjd, facility.end_mjd
    end_text = (
        f"still operating; no time after {_mjd_text(hi)} is plausible"
        if facility.end is None
        else f"{_mjd_text(hi)}, end of science operations"
    )
    with np.errstate(invalid="ignore"):
        for col in ("t_min", "t_max"):
            v = values[col]
            m = rows & ~np.isnan(v) & ((v < lo) | (v > hi))
            if m.any():
                rule = f"{name} rows: {col} must lie in the operating window from {_mjd_text(lo)} ({end_text})"
                out.append(Violation("time-outside-operations", table, col, rule, _rows(m)))
        for col in ("t_min", "t_max"):
            v = values[col]
            m = rows & ~performed & ~np.isnan(v) & (v > ref + facility.horizon_days)
            if m.any():
                rule = f"{name} rows not Performed: {col} must be <= as-of + {facility.horizon_days:g} d"
                out.append(Violation("time-beyond-horizon", table, col, rule, _rows(m)))
            m = rows & performed & ~np.isnan(v) & (v > ref)
            if m.any():
                rule = f"{name} Performed rows: {col} must be <= the as-of time (performed rows are not in the future)"
                out.append(Violation("performed-in-future", table, col, rule, _rows(m)))

    # Per instrument where the registry narrows band and field, else the facility's (a few, not rows).
    groups: list[tuple[str | None, np.ndarray]] = []
    rest = rows.copy()
    if instrument is not None:
        for inst in facility.instruments:
            sel = rows & instrument.eq(inst).fillna(False).to_numpy(dtype=bool)
            if sel.any():
                groups.append((inst, sel))
                rest &= ~sel
    groups.append((None, rest))
    for inst, sel in groups:
        label = name if inst is None else f"{name} {inst}"
        bands = instrument_bands(facility, inst)
        m = sel & _outside_bands(values["em_min"], values["em_max"], bands)
        if m.any():
            rule = f"{label} rows: [em_min, em_max] must lie inside {_band_text(bands)}"
            out.append(Violation("em-outside-band", table, "em_min,em_max", rule, _rows(m)))
        f_lo, f_hi = instrument_fov(facility, inst)
        fov = values["s_fov"]
        with np.errstate(invalid="ignore"):
            m = sel & ~np.isnan(fov) & ((fov < f_lo * (1.0 - BAND_RTOL)) | (fov > f_hi * (1.0 + BAND_RTOL)))
        if m.any():
            rule = f"{label} rows: s_fov must be within [{f_lo:.6g}, {f_hi:.6g}] deg"
            out.append(Violation("fov-outside-range", table, "s_fov", rule, _rows(m)))
    return out


def plausibility(frame: pd.DataFrame, table: str, ref: np.ndarray) -> list[Violation]:
    """Plausibility rules (group ``plausibility``): values the facility cannot have.

    * ``unknown-facility``: a non-NULL ``facility_name`` not in :data:`models.facilities.FACILITIES`.
      Blocking: every harvested source declares its facilities, so an unknown name is a mis-mapped
      name (clients select on it) or a new facility whose facts must be added, with citations, before
      its rows can be checked. Rows with a NULL ``facility_name`` (e.g. a GADF import that does not
      name it) are not checked by the facility rules.
    * ``time-outside-operations``: ``t_min``/``t_max`` before the facility's launch / first light or
      after its end of science operations.
    * ``time-beyond-horizon``: rows that are not Performed later than ``ref`` + the facility's horizon.
    * ``performed-in-future``: Performed rows (every ObsCore row: it describes data that exist)
      with ``t_min``/``t_max`` after ``ref``.
    * ``exptime-exceeds-duration``: ``t_exptime > (t_max - t_min)`` + :data:`EXPTIME_TOLERANCE_S`
      (every row with the three values and ``t_min <= t_max``, whatever its facility).
    * ``em-outside-band`` / ``fov-outside-range``: outside the instrument's (else facility's) bands / field.

    Parameters
    ----------
    frame
        The table's rows; columns it lacks are not checked.
    table
        Qualified table name for the messages.
    ref
        Per row, the time the row was known at (MJD UTC; :func:`reference_mjd`).

    Returns
    -------
    list[Violation]
        One violation per code, column and facility (instrument) with rows.
    """
    out: list[Violation] = []
    values = {c: _column(frame, c) for c in ("t_min", "t_max", "t_exptime", "em_min", "em_max", "s_fov")}
    with np.errstate(invalid="ignore"):
        duration_s = (values["t_max"] - values["t_min"]) * 86_400.0
        # Rows with t_min > t_max have no duration: the ``order`` rule reports them.
        m = (duration_s >= 0) & (values["t_exptime"] > duration_s + EXPTIME_TOLERANCE_S)
    if m.any():
        rule = f"t_exptime must be <= (t_max - t_min) * 86400 s + {EXPTIME_TOLERANCE_S:g} s"
        out.append(Violation("exptime-exceeds-duration", table, "t_exptime", rule, _rows(m)))
    if "facility_name" not in frame.columns or frame.empty:
        return out
    facility = frame["facility_name"]
    unknown = (facility.notna() & ~facility.isin(list(FACILITIES))).to_numpy(dtype=bool)
    if unknown.any():
        found = sorted({str(v) for v in facility[unknown]})
        rule = f"must name a facility of models.facilities (found {found}; known {sorted(FACILITIES)})"
        out.append(Violation("unknown-facility", table, "facility_name", rule, _rows(unknown)))
    if "execution_status" in frame.columns:
        performed = frame["execution_status"].eq("Performed").fillna(False).to_numpy(dtype=bool)
    else:
        performed = np.ones(len(frame), dtype=bool)
    instrument = frame["instrument_name"] if "instrument_name" in frame.columns else None
    for name in facility[~unknown].dropna().unique():  # the facilities present, not rows
        rows = facility.eq(name).fillna(False).to_numpy(dtype=bool)
        out += _facility_rules(FACILITIES[name], rows, instrument, values, performed, ref, table)
    return out


def report(violations: list[Violation]) -> str:
    """Plain-text report, one violation per line."""
    if not violations:
        return "no violations"
    return "\n".join(v.message for v in violations)
