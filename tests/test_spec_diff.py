"""The declarative specs must match the normative CSVs column by column."""

from __future__ import annotations

import csv

import pytest

from models import IVOA_TABLES
from tests.conftest import DATA

FIELDS = ("datatype", "unit", "ucd", "utype", "null_rule", "presence")


def _reference(table: str) -> list[dict[str, str]]:
    with open(DATA / "spec" / f"{table}.csv", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.parametrize("table", sorted(IVOA_TABLES))
def test_spec_matches_reference_csv(table: str) -> None:
    spec = IVOA_TABLES[table]
    reference = _reference(table)
    published = [r for r in reference if r["name"] not in spec.omitted]
    assert [r["name"] for r in published] == spec.names, f"{table}: column names or order differ"
    for name in spec.omitted:
        ref = next((r for r in reference if r["name"] == name), None)
        assert ref is not None, f"{table}.{name}: omitted but not in the reference"
        assert ref["presence"] == "optional", f"{table}.{name}: a mandatory column cannot be omitted"
    mismatches = []
    for ref in published:
        col = spec.column(ref["name"])
        for key in FIELDS:
            got = getattr(col, key)
            if got != ref[key]:
                mismatches.append(f"{table}.{ref['name']}: {key} = {got!r}, reference says {ref[key]!r}")
    assert not mismatches, "\n".join(mismatches)


def test_obsplan_has_26_columns_and_obsloctap_utype() -> None:
    spec = IVOA_TABLES["obsplan"]
    assert len(spec.columns) == 26
    assert spec.utype == "ivo://ivoa.net/std/obsloctap#table-1.0"


def test_extension_tables_share_only_the_join_key_with_obscore() -> None:
    core = set(IVOA_TABLES["obscore"].names)
    for ext in ("obscore_radio", "obscore_hea"):
        common = core & set(IVOA_TABLES[ext].names)
        assert common == {"obs_publisher_did"}, f"{ext} repeats obscore columns {sorted(common)}"


def test_a_changed_unit_is_reported_with_the_column_named(monkeypatch: pytest.MonkeyPatch) -> None:
    """The diff is real: alter one column and the comparison names it."""
    import dataclasses

    spec = IVOA_TABLES["obsplan"]
    altered = tuple(dataclasses.replace(c, unit="m") if c.name == "facility_name" else c for c in spec.columns)
    fake = dataclasses.replace(spec, columns=altered)
    monkeypatch.setitem(IVOA_TABLES, "obsplan", fake)
    with pytest.raises(AssertionError, match=r"obsplan\.facility_name: unit"):
        test_spec_matches_reference_csv("obsplan")
