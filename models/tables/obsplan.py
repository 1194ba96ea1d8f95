"""ObsLocTAP 1.0 ``ivoa.obsplan`` (REC 2021-07-24): 26 columns, all mandatory to exist.

ObsLocTAP takes 20 of its columns from ObsCore ("the exact description of these fields is present
in the IVOA ObsCore standard", section 3.1), so they are taken from :data:`OBSCORE` here and only
what ObsLocTAP's own column table states differently is overridden (descriptions, ObsLocTAP null
rules, ``pol_xel`` as an integer). ``t_plan_exptime`` is ``t_exptime`` of the plan.
"""

from dataclasses import replace

from models.columns import Column, NullRule, TableSpec
from models.tables.obscore import OBSCORE

#: ObsLocTAP requires these for Scheduled and Performed rows (ObsCore lets them be NULL).
_TIMED: NullRule = "not-null-if-scheduled-or-performed"


def _obscore(obscore_name: str, /, **overrides: object) -> Column:
    """ObsCore's column ``obscore_name`` with ObsLocTAP's differences (description, null rule, ...)."""
    return replace(OBSCORE.column(obscore_name), **overrides)


OBSPLAN = TableSpec(
    name="obsplan",
    schema="ivoa",
    description="Observation plan (ObsLocTAP 1.0): planned, scheduled, performed and withdrawn observations",
    utype="ivo://ivoa.net/std/obsloctap#table-1.0",
    standard="ivo://ivoa.net/std/ObsLocTAP",
    unique=(("obs_collection", "obs_id"),),
    columns=(
        Column(
            "t_planning",
            "double",
            unit="d",
            description="Time (MJD) when this observation was added to or last modified in the plan",
            null_rule="not-null",
            ref="mjd_utc",
            indexed=True,
        ),
        _obscore("target_name", description="Astronomical object observed if any"),
        _obscore("obs_id"),
        _obscore("obs_collection", null_rule="nullable"),
        _obscore("s_ra"),
        _obscore("s_dec"),
        _obscore("s_fov", description="Diameter of the covered region"),
        _obscore("s_region", description="Sky region covered (ICRS); STC-S string or DALI shape"),
        _obscore("s_resolution", description="Spatial resolution as FWHM"),
        _obscore("t_min", null_rule=_TIMED),
        _obscore("t_max", null_rule=_TIMED),
        _obscore("t_exptime", description="Total (performed) exposure time", null_rule=_TIMED),
        _obscore("t_resolution"),
        _obscore("em_min", description="Minimum vacuum wavelength (for X-rays: the highest energy)"),
        _obscore("em_max"),
        _obscore("em_res_power"),
        _obscore("o_ucd", description="UCD of the observable"),
        _obscore("pol_states", description="List of polarization states or NULL"),
        # ObsLocTAP types pol_xel as (integer): int, not ObsCore's long.
        _obscore("pol_xel", datatype="int", minimum=0),
        _obscore("facility_name", description="Facility used for the observation", null_rule="not-null"),
        _obscore("instrument_name", description="Instrument used for the observation"),
        _obscore("t_exptime", name="t_plan_exptime", description="Planned or scheduled exposure time"),
        Column(
            "category",
            "char",
            description="One of Fixed Coordinated Window Other",
            null_rule="not-null",
            values=("Fixed", "Coordinated", "Window", "Other"),
        ),
        Column(
            "priority",
            "int",
            description="Priority level 0 1 or 2 (2 = hard to reschedule)",
            null_rule="not-null",
            values=(0, 1, 2),
        ),
        Column(
            "execution_status",
            "char",
            description="One of Planned Scheduled Unscheduled Performed Aborted",
            null_rule="not-null",
            values=("Planned", "Scheduled", "Unscheduled", "Performed", "Aborted"),
        ),
        Column(
            "tracking_type",
            "char",
            description="One of Sidereal Solar-system-object-tracking Fixed-az-el-transit",
            null_rule="not-null",
            values=("Sidereal", "Solar-system-object-tracking", "Fixed-az-el-transit"),
        ),
    ),
)
