"""Validation of frames against the table specs.

Each rule is derived from the spec (null rules, vocabularies, ranges) or from the standards'
cross-field rules, and reports a :class:`Violation` with a stable code, so blocking checks,
reports and tests can rely on the code while people read the message.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from models.columns import TIMED_STATUSES, Column, TableSpec

#: Stable violation codes.
CODES = (
    "missing-column",
    "datatype",
    "not-null",
    "not-null-if-scheduled-or-performed",
    "vocabulary",
    "range",
    "order",
    "unique",
)

#: Cross-field ordering rules: (low column, high column).
ORDERED_PAIRS = (("t_min", "t_max"), ("em_min", "em_max"))

_MAX_ROWS_SHOWN = 10


@dataclass(frozen=True)
class Violation:
    """A rule broken by some rows of a table."""

    code: str
    table: str
    column: str
    rule: str
    rows: tuple[int, ...] = field(default=())

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


def validate(frame: pd.DataFrame, spec: TableSpec) -> list[Violation]:
    """Check ``frame`` against every rule of ``spec``; an empty list means valid.

    Rules: presence of mandatory columns, datatypes, null rules (including ObsLocTAP's
    "t_min, t_max, t_exptime not null when Scheduled or Performed"), vocabularies, ranges,
    ``t_min <= t_max`` and ``em_min <= em_max``, and the spec's uniqueness constraints.
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

    for key in spec.unique:
        if all(k in frame.columns for k in key):
            m = frame.duplicated(list(key), keep=False).to_numpy()
            if m.any():
                out.append(Violation("unique", table, ",".join(key), f"({', '.join(key)}) must be unique", _rows(m)))
    return out


def report(violations: list[Violation]) -> str:
    """Plain-text report, one violation per line."""
    if not violations:
        return "no violations"
    return "\n".join(v.message for v in violations)
