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

import dagster as dg
import pandas as pd

from models.columns import TableSpec
from models.validate import Violation, validate
from scrapers.base import Source
from scrapers.drift import DRIFT_CHECKS, DRIFT_MIN_FRACTION, DRIFT_MIN_PREVIOUS_ROWS

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
