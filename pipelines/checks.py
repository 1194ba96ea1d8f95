"""Asset checks: generated from the table specs (blocking) and per-source drift checks (blocking).

Spec checks group :func:`models.validate.validate`'s violation codes into one check per group, as
declared with each code in :data:`models.validate.CODE_GROUPS` (the one place a code and its group
are written), so the UI says *what kind* of rule broke and a new code cannot pass every check
unseen. Drift checks compare a source's harvest with the previous
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
from models.validate import GROUPS, AsOf, Violation, codes_of, validate
from scrapers.base import Source
from scrapers.drift import DRIFT_CHECKS, DRIFT_MIN_FRACTION, DRIFT_MIN_PREVIOUS_ROWS

#: Spec check name -> the violation codes it covers, derived from models.validate.CODE_GROUPS.
SPEC_CHECKS: dict[str, tuple[str, ...]] = {group: codes_of(group) for group in GROUPS}
_SPEC_CHECK_TEXT = {
    "schema": "every mandatory column present with the spec's datatype",
    "null_rules": "not-null columns filled; t_min, t_max, t_exptime filled when Scheduled or Performed",
    "vocabularies": "vocabulary columns hold exactly the standard's terms",
    "ranges": "values within the spec's ranges; t_min <= t_max and em_min <= em_max",
    "unique_keys": "the table's key columns are unique",
    "plausibility": (
        "known facility; times inside its operating window, Performed rows not after the as-of time and "
        "planned ones within its horizon; t_exptime <= t_max - t_min; em_min/em_max inside its band; "
        "s_fov inside its instruments' range (models.facilities)"
    ),
}


def check_text(group: str) -> str:
    """What a spec check verifies, for its description (a group without text still gets a check)."""
    return _SPEC_CHECK_TEXT.get(group, f"models.validate group {group!r}")


def spec_check_specs(asset_key: dg.AssetKey, spec: TableSpec) -> list[dg.AssetCheckSpec]:
    """The blocking checks of one table, generated from its spec."""
    return [
        dg.AssetCheckSpec(
            name=name,
            asset=asset_key,
            blocking=True,
            description=f"{spec.qualified_name}: {check_text(name)} (models.validate codes {', '.join(codes)})",
        )
        for name, codes in SPEC_CHECKS.items()
    ]


def spec_check_results(
    asset_key: dg.AssetKey, frame: pd.DataFrame, spec: TableSpec, *, as_of: AsOf = None
) -> tuple[list[dg.AssetCheckResult], list[Violation]]:
    """Evaluate a table's spec checks; also returns the violations for reports.

    ``as_of`` is the snapshot's as-of time (MJD UTC or datetime), passed on to
    :func:`models.validate.validate` for the plausibility rules (``None``: its default).
    """
    violations = validate(frame, spec, as_of=as_of)
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
