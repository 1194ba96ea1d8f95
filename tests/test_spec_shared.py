"""obsplan takes its ObsCore-derived columns from OBSCORE; only ObsLocTAP's own differences remain."""

from __future__ import annotations

import csv
import dataclasses

from models.tables import OBSCORE, OBSPLAN
from tests.conftest import DATA

OWN = ("t_planning", "t_plan_exptime", "category", "priority", "execution_status", "tracking_type")

#: Fields in which each ObsCore-derived obsplan column differs from ObsCore's, as the two specs stood
#: before obsplan was derived from OBSCORE (recorded then; every other field is identical).
DIFFERENCES: dict[str, set[str]] = {
    "target_name": {"description"},
    "obs_id": set(),
    "obs_collection": {"null_rule"},
    "s_ra": set(),
    "s_dec": set(),
    "s_fov": {"description"},
    "s_region": {"description"},
    "s_resolution": {"description"},
    "t_min": {"null_rule"},
    "t_max": {"null_rule"},
    "t_exptime": {"description", "null_rule"},
    "t_resolution": set(),
    "em_min": {"description"},
    "em_max": set(),
    "em_res_power": set(),
    "o_ucd": {"description"},
    "pol_states": {"description"},
    "pol_xel": {"datatype", "minimum"},
    "facility_name": {"description", "null_rule"},
    "instrument_name": {"description"},
}
#: The ObsLocTAP columns that ObsCore defines (ObsLocTAP 1.0 section 3.1), in obsplan order.
DERIVED = tuple(DIFFERENCES)
IDENTITY = ("datatype", "unit", "ucd", "utype")


def _differing(a: object, b: object) -> set[str]:
    return {f.name for f in dataclasses.fields(a) if getattr(a, f.name) != getattr(b, f.name)}


def _obsplan_reference() -> dict[str, dict[str, str]]:
    with open(DATA / "spec" / "obsplan.csv", newline="") as fh:
        return {r["name"]: r for r in csv.DictReader(fh)}


def test_derived_and_own_columns_make_up_obsplan() -> None:
    assert len(DERIVED) == 20
    assert [n for n in OBSPLAN.names if n in OBSCORE.names] == list(DERIVED)
    assert sorted(DERIVED + OWN) == sorted(OBSPLAN.names)
    assert not set(OWN) & set(OBSCORE.names)


def test_derived_columns_equal_obscore_in_datatype_unit_ucd_utype() -> None:
    mismatches = []
    for name in DERIVED:
        mine, core = OBSPLAN.column(name), OBSCORE.column(name)
        for key in IDENTITY:
            if getattr(mine, key) != getattr(core, key):
                mismatches.append(f"{name}.{key}: obsplan {getattr(mine, key)!r}, obscore {getattr(core, key)!r}")
    # The one ObsLocTAP deviation: its column table types pol_xel as (integer).
    assert mismatches == ["pol_xel.datatype: obsplan 'int', obscore 'long'"]


def test_derived_columns_differ_only_where_obsloctap_says() -> None:
    got = {name: _differing(OBSPLAN.column(name), OBSCORE.column(name)) for name in DERIVED}
    assert got == DIFFERENCES
    reference = _obsplan_reference()
    for name, fields in DIFFERENCES.items():
        col = OBSPLAN.column(name)
        if "description" in fields:
            assert col.description == reference[name]["description"], name
        if "null_rule" in fields:
            assert col.null_rule == reference[name]["null_rule"], name
    pol_xel = OBSPLAN.column("pol_xel")
    assert (pol_xel.datatype, pol_xel.minimum) == ("int", 0)
    assert OBSCORE.column("pol_xel").minimum is None


def test_planned_exposure_is_obscore_t_exptime_renamed() -> None:
    plan, core = OBSPLAN.column("t_plan_exptime"), OBSCORE.column("t_exptime")
    assert _differing(plan, core) == {"name", "description"}
    assert (plan.unit, plan.ucd, plan.utype, plan.minimum) == ("s", "time.duration;obs.exposure", core.utype, 0.0)
    assert plan.description == _obsplan_reference()["t_plan_exptime"]["description"]
    assert plan.null_rule == "nullable"


def test_a_changed_obscore_column_shows_in_the_comparison() -> None:
    """The check is real: a column that drifts from ObsCore is named."""
    altered = dataclasses.replace(OBSPLAN.column("s_ra"), ucd="pos.eq.ra;meta.main")
    assert _differing(altered, OBSCORE.column("s_ra")) == {"ucd"}
