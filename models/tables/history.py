"""voharvest's own plan-history tables: ``voharvest.obsplan_history`` and ``voharvest.changes``.

Both reuse ObsLocTAP's column definitions (one description per column, as everywhere) and add
``x_``-prefixed extras, so a history row is an ``ivoa.obsplan`` row plus its version bookkeeping.
"""

from dataclasses import replace

from models.columns import Column, TableSpec
from models.tables.obsplan import OBSPLAN

#: Kinds of change that create a new version of an observation (``obsplan_history.x_change``).
VERSION_CHANGES: tuple[str, ...] = ("added", "changed", "withdrawn", "expired")

#: Kinds of change listed in the changelog (``changes.x_change``); one observation can have several.
CHANGE_KINDS: tuple[str, ...] = (
    "added",
    "withdrawn",
    "expired",
    "moved",
    "exposure_changed",
    "status_changed",
    "modified",
)

_SOURCE = Column(
    "x_source",
    "char",
    ucd="meta.id",
    description="voharvest source that harvested the observation (nustar, xmm_newton, ...)",
    null_rule="not-null",
)

_SNAPSHOT = Column(
    "x_snapshot",
    "char",
    ucd="time.epoch;meta.dataset",
    description="Snapshot date (YYYY-MM-DD, the as-of date) in which this version was first published",
    null_rule="not-null",
)

OBSPLAN_HISTORY = TableSpec(
    name="obsplan_history",
    schema="voharvest",
    description=(
        "Every version of every observation of ivoa.obsplan: a new version (with a new t_planning) only when the "
        "observation's content changed or it was withdrawn; the plan valid at MJD T is "
        "t_planning <= T AND (x_valid_to IS NULL OR x_valid_to > T)"
    ),
    unique=(("obs_collection", "obs_id", "x_version"),),
    columns=(
        *OBSPLAN.columns,
        _SOURCE,
        Column(
            "x_version",
            "int",
            ucd="meta.version",
            description="Version number of the observation, from 1",
            null_rule="not-null",
            minimum=1,
        ),
        _SNAPSHOT,
        Column(
            "x_valid_to",
            "double",
            unit="d",
            ucd="time.end",
            description="t_planning (MJD) of the version that replaced this one; NULL for the current version",
            ref="mjd_utc",
        ),
        Column(
            "x_change",
            "char",
            ucd="meta.code",
            description="What created this version: added, changed or withdrawn",
            null_rule="not-null",
            values=VERSION_CHANGES,
        ),
        Column(
            "x_changed_fields",
            "char",
            ucd="meta.id",
            description="Comma-separated obsplan columns that differ from the previous version",
        ),
    ),
)


def _previous(name: str) -> Column:
    col = OBSPLAN.column(name)
    return replace(
        col,
        name=f"x_prev_{name}",
        utype="",
        description=f"{name} of the previous version",
        null_rule="nullable",
        indexed=False,
    )


CHANGES = TableSpec(
    name="changes",
    schema="voharvest",
    description=(
        "Changelog of one snapshot against the previous one: one row per observation and kind of change "
        "(added, withdrawn, moved, exposure_changed, status_changed, modified); obsplan columns give the new values"
    ),
    unique=(("obs_collection", "obs_id", "x_change"),),
    columns=(
        _SNAPSHOT,
        Column(
            "x_change",
            "char",
            ucd="meta.code",
            description="Kind of change",
            null_rule="not-null",
            values=CHANGE_KINDS,
        ),
        _SOURCE,
        *(
            OBSPLAN.column(n)
            for n in (
                "obs_collection",
                "obs_id",
                "facility_name",
                "target_name",
                "t_planning",
                "execution_status",
                "t_min",
                "t_max",
                "t_exptime",
                "t_plan_exptime",
            )
        ),
        *(_previous(n) for n in ("execution_status", "t_min", "t_max", "t_exptime", "t_plan_exptime")),
        Column(
            "x_delta_t_min",
            "double",
            unit="s",
            ucd="time.interval",
            description="New minus previous t_min, in seconds (moved observations)",
        ),
        Column(
            "x_changed_fields",
            "char",
            ucd="meta.id",
            description="Comma-separated obsplan columns that differ from the previous version",
        ),
    ),
)

#: voharvest's own tables by short name.
HISTORY_TABLES: dict[str, TableSpec] = {t.name: t for t in (OBSPLAN_HISTORY, CHANGES)}
