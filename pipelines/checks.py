"""Asset checks: generated from the table specs (blocking) and per-source drift checks (blocking).

Spec checks group :func:`models.validate.validate`'s violation codes into five checks per table,
so the UI says *what kind* of rule broke. Drift checks compare a source's harvest with the previous
published snapshot (its manifest): a collapsing row count or identifiers that stop matching the
source's format mean the page changed under us, and publishing would be wrong. A missing required
header is caught earlier: the parser raises :class:`scrapers.base.ParseError` and the core asset
fails, which blocks everything downstream the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg
import pandas as pd

from models.columns import TableSpec
from models.validate import Violation, validate
from scrapers.base import Source

#: Spec check name -> the violation codes it covers.
SPEC_CHECKS: dict[str, tuple[str, ...]] = {
    "schema": ("missing-column", "datatype"),
    "null_rules": ("not-null", "not-null-if-scheduled-or-performed"),
    "vocabularies": ("vocabulary",),
    "ranges": ("range", "order"),
    "unique_keys": ("unique",),
}
_SPEC_CHECK_TEXT = {
    "schema": "every mandatory column present with the spec's datatype",
    "null_rules": "not-null columns filled; t_min, t_max, t_exptime filled when Scheduled or Performed",
    "vocabularies": "vocabulary columns hold exactly the standard's terms",
    "ranges": "values within the spec's ranges; t_min <= t_max and em_min <= em_max",
    "unique_keys": "the table's key columns are unique",
}

#: A source's row count "collapses" when it falls below this fraction of the previous snapshot's...
DRIFT_MIN_FRACTION = 0.5
#: ...and the previous count was at least this large (tiny tables fluctuate legitimately).
DRIFT_MIN_PREVIOUS_ROWS = 4
DRIFT_CHECKS = ("not_empty", "row_count_drift", "id_format")


def spec_check_specs(asset_key: dg.AssetKey, spec: TableSpec) -> list[dg.AssetCheckSpec]:
    """The blocking checks of one table, generated from its spec."""
    return [
        dg.AssetCheckSpec(
            name=name,
            asset=asset_key,
            blocking=True,
            description=f"{spec.qualified_name}: {_SPEC_CHECK_TEXT[name]} (models.validate codes {', '.join(codes)})",
        )
        for name, codes in SPEC_CHECKS.items()
    ]


def spec_check_results(
    asset_key: dg.AssetKey, frame: pd.DataFrame, spec: TableSpec
) -> tuple[list[dg.AssetCheckResult], list[Violation]]:
    """Evaluate a table's spec checks; also returns the violations for reports."""
    violations = validate(frame, spec)
    results = []
    for name, codes in SPEC_CHECKS.items():
        found = [v for v in violations if v.code in codes]
        results.append(
            dg.AssetCheckResult(
                asset_key=asset_key,
                check_name=name,
                passed=not found,
                severity=dg.AssetCheckSeverity.ERROR,
                metadata={"rows": len(frame), "violations": dg.MetadataValue.json([v.as_dict() for v in found])},
                description="; ".join(v.message for v in found[:5]) or None,
            )
        )
    return results, violations


def drift_check_specs(asset_key: dg.AssetKey, source: Source) -> list[dg.AssetCheckSpec]:
    """The blocking drift checks of a source's core asset."""
    text = {
        "not_empty": "the harvest produced rows",
        "row_count_drift": (
            f"no table's row count fell below {DRIFT_MIN_FRACTION:.0%} of the previous snapshot's "
            f"(when that had at least {DRIFT_MIN_PREVIOUS_ROWS} rows)"
        ),
        "id_format": f"every obs_id matches {source.id_pattern!r}",
    }
    return [
        dg.AssetCheckSpec(name=n, asset=asset_key, blocking=True, description=f"{source.name}: {text[n]}")
        for n in DRIFT_CHECKS
    ]


def row_counts(frames: Mapping[str, pd.DataFrame]) -> dict[str, int]:
    """Rows per table of a source's harvest."""
    return {name: len(frame) for name, frame in sorted(frames.items())}


def drift_findings(
    source: Source, frames: Mapping[str, pd.DataFrame], previous_manifest: Mapping[str, Any] | None
) -> dict[str, list[str]]:
    """What each drift check found (empty lists pass)."""
    counts = row_counts(frames)
    findings: dict[str, list[str]] = {name: [] for name in DRIFT_CHECKS}
    if sum(counts.values()) == 0:
        findings["not_empty"].append(f"{source.name}: no rows in any table ({sorted(counts)})")
    previous = ((previous_manifest or {}).get("sources", {}).get(source.name) or {}).get("rows", {})
    for table, before in sorted(previous.items()):
        now = counts.get(table, 0)
        if before >= DRIFT_MIN_PREVIOUS_ROWS and now < DRIFT_MIN_FRACTION * before:
            findings["row_count_drift"].append(
                f"{source.name}/{table}: {now} rows, previous snapshot {previous_manifest.get('snapshot')} had {before}"
            )
    pattern = source.id_pattern
    for table, frame in sorted(frames.items()):
        if "obs_id" not in frame.columns or frame.empty:
            continue
        ids = frame["obs_id"].astype("string")
        bad = ~ids.str.fullmatch(pattern).fillna(False).to_numpy(dtype=bool)
        if bad.any():
            shown = ids[bad].head(5).tolist()
            findings["id_format"].append(
                f"{source.name}/{table}: {int(bad.sum())} obs_id not matching {pattern!r}, e.g. {shown}"
            )
    return findings


def drift_check_results(asset_key: dg.AssetKey, findings: Mapping[str, list[str]]) -> list[dg.AssetCheckResult]:
    """Check results from :func:`drift_findings`."""
    return [
        dg.AssetCheckResult(
            asset_key=asset_key,
            check_name=name,
            passed=not found,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={"findings": dg.MetadataValue.json(found)},
            description="; ".join(found) or None,
        )
        for name, found in findings.items()
    ]


def table_schema(spec: TableSpec) -> dg.TableSchema:
    """Dagster column schema of a table (shown in the UI), from its spec."""
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                name=c.name,
                type=c.datatype + (f" [{c.unit}]" if c.unit else ""),
                description=c.description,
                constraints=dg.TableColumnConstraints(
                    nullable=c.null_rule != "not-null",
                    other=[f"one of {list(c.values)}"] if c.values else [],
                ),
            )
            for c in spec.columns
        ]
    )
