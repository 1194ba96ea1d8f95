"""Declarative column and table specifications.

Every artefact voharvest publishes (pyarrow schema, VOTable FIELDs, TAP_SCHEMA rows, SQL DDL,
validation rules, Dagster column schemas) is generated from these objects, so a column is
described exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

#: Abstract datatypes used by the specs (``spec/*.csv`` vocabulary).
Datatype = Literal["double", "int", "long", "char", "unicodeChar", "region", "timestamp", "moc"]
NullRule = Literal["not-null", "nullable", "not-null-if-scheduled-or-performed"]
Presence = Literal["mandatory", "optional"]

#: Statuses for which ObsLocTAP requires t_min, t_max and t_exptime.
TIMED_STATUSES: tuple[str, ...] = ("Scheduled", "Performed")


@dataclass(frozen=True)
class Column:
    """One column of an IVOA table.

    Parameters
    ----------
    name, datatype, unit, ucd, utype, description
        As in the standard's column table (``spec/*.csv``); empty string means "none given".
    null_rule
        ``not-null``, ``nullable`` or ``not-null-if-scheduled-or-performed`` (ObsLocTAP).
    presence
        ``mandatory`` columns must exist in every table; ``optional`` ones are ours to fill.
    arraysize
        VOTable arraysize; ``None`` derives it from the datatype (``*`` for strings).
    xtype
        VOTable / TAP xtype where one applies (``timestamp``, ``adql:REGION``).
    values
        Allowed values (exact case) for vocabulary columns.
    minimum, maximum
        Inclusive range limits; ``exclusive_min``/``exclusive_max`` make them strict.
    ref
        ID of the COOSYS (``icrs``) or TIMESYS (``mjd_utc``) the VOTable FIELD refers to.
    unicode
        Free text that may hold non-ASCII characters: written as ``unicodeChar`` in VOTable
        (``char`` is ASCII up to VOTable 1.5).
    principal, indexed
        TAP_SCHEMA flags.
    """

    name: str
    datatype: Datatype
    unit: str = ""
    ucd: str = ""
    utype: str = ""
    description: str = ""
    null_rule: NullRule = "nullable"
    presence: Presence = "mandatory"
    arraysize: str | None = None
    xtype: str | None = None
    values: tuple[str, ...] | tuple[int, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    exclusive_min: bool = False
    exclusive_max: bool = False
    ref: str | None = None
    unicode: bool = False
    principal: bool = True
    indexed: bool = False

    @property
    def is_string(self) -> bool:
        """Whether the column holds text (STC-S regions, timestamps and MOCs included)."""
        return self.datatype in ("char", "unicodeChar", "region", "moc", "timestamp")

    @property
    def votable_datatype(self) -> str:
        """VOTable primitive for the FIELD."""
        if self.datatype in ("double", "int", "long"):
            return self.datatype
        return "unicodeChar" if self.unicode or self.datatype == "unicodeChar" else "char"

    @property
    def votable_arraysize(self) -> str | None:
        """VOTable arraysize: ``*`` for every string (never truncated), none for scalars."""
        if self.arraysize is not None:
            return self.arraysize
        return "*" if self.is_string else None

    @property
    def votable_xtype(self) -> str | None:
        """Xtype written on the FIELD and in TAP_SCHEMA."""
        if self.xtype is not None:
            return self.xtype
        if self.datatype == "timestamp":
            return "timestamp"
        if self.datatype == "region":
            return "adql:REGION"
        return None


@dataclass(frozen=True)
class TableSpec:
    """A table: its schema-qualified name, description, utype and ordered columns."""

    name: str
    schema: str
    description: str
    columns: tuple[Column, ...]
    utype: str = ""
    #: Column sets that must be unique together (checked by ``validate``).
    unique: tuple[tuple[str, ...], ...] = ()
    #: Extra metadata for publication (e.g. the standard it implements).
    standard: str = ""
    #: Optional columns of the standard deliberately not published, with the reason.
    omitted: dict[str, str] = field(default_factory=dict)
    #: Prefix of column utypes in TAP_SCHEMA (ObsCore wants ``obscore:``; files carry the bare utype).
    tap_utype_prefix: str = ""
    extras: dict[str, str] = field(default_factory=dict)

    @property
    def qualified_name(self) -> str:
        """``schema.table`` as TAP clients see it."""
        return f"{self.schema}.{self.name}"

    @property
    def names(self) -> list[str]:
        """Column names in order."""
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        """The column called ``name`` (KeyError naming the table otherwise)."""
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.qualified_name} has no column {name!r}")
