"""The TAP load kit: TAP_SCHEMA rows and PostgreSQL (+ pgSphere) DDL generated from the table specs.

A TAP server answers ADQL from a database and describes it in ``TAP_SCHEMA`` (TAP 1.1 section 4);
both are generated here from the same `models.columns.TableSpec` objects that produce the
Parquet and VOTable files, so the database, its metadata and the files cannot disagree.

Choices:

* ``TAP_SCHEMA`` lives in the lower-case schema ``tap_schema``: PostgreSQL folds the unquoted
  ``TAP_SCHEMA.columns`` of ADQL to that. Its five tables are described in themselves, as TAP 1.1
  asks. Re-running the DDL replaces our rows there (delete, then insert) and touches no others.
* ``std`` is 1 for every column whose name is a standard's (all but ``x_``-prefixed ones),
  ``"size"`` is the integer arraysize when there is one (NULL for ``*`` and scalars).
* Tables get NOT NULL from ``not-null`` rules, CHECK constraints for vocabularies, ranges,
  ``t_min <= t_max`` / ``em_min <= em_max`` and ObsLocTAP's "times not null when Scheduled or
  Performed" (the same rules as `models.validate`), so a bad load fails in the database too.
* Unique keys: a PRIMARY KEY when every key column is NOT NULL, otherwise
  ``UNIQUE NULLS NOT DISTINCT`` (PostgreSQL >= 15), matching `models.validate`, which counts two
  NULL collections with the same obs_id as duplicates.
* ``s_region`` is a pgSphere ``spoly`` with a GiST index (load it with
  `models.regions.stcs_to_pgsphere`), or STC-S text when pgSphere is not available.
* Extension tables (radio, HEA) reference ``ivoa.obscore`` by ``obs_publisher_did``: a foreign
  key in the database and a row in ``TAP_SCHEMA.keys`` / ``key_columns``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence

import pandas as pd

from models.columns import TIMED_STATUSES, Column, Datatype, TableSpec
from models.regions import CIRCLE_VERTICES
from models.validate import ORDERED_PAIRS

#: The schema clients see TAP metadata in (folded to lower case by PostgreSQL).
TAP_SCHEMA = "TAP_SCHEMA"
_TAP_SCHEMA_SQL = "tap_schema"
#: The join column of ObsCore extension tables.
JOIN_COLUMN = "obs_publisher_did"

_SCHEMA_DESCRIPTIONS = {
    "ivoa": "IVOA data models: ObsLocTAP observation plans, ObsCore 1.1 and its radio and high-energy extensions",
    TAP_SCHEMA: "TAP 1.1 metadata: the schemas, tables, columns and keys of this service",
}


def _c(name: str, datatype: Datatype, description: str, *, not_null: bool = False) -> Column:
    return Column(name, datatype, description=description, null_rule="not-null" if not_null else "nullable")


#: TAP_SCHEMA's own tables (TAP 1.1 section 4), as specs so that they are created and described
#: by the same code as the data tables.
TAP_SCHEMA_SPECS: tuple[TableSpec, ...] = (
    TableSpec(
        name="schemas",
        schema=TAP_SCHEMA,
        description="Schemas in this service",
        columns=(
            _c("schema_name", "char", "Schema name for reference to tap_schema.schemas", not_null=True),
            _c("utype", "char", "Lists the utypes of schemas in the tableset"),
            _c("description", "char", "Describes schemas in the tableset"),
            _c("schema_index", "int", "Recommended sort order when listing schemas"),
        ),
        unique=(("schema_name",),),
    ),
    TableSpec(
        name="tables",
        schema=TAP_SCHEMA,
        description="Tables in this service",
        columns=(
            _c("schema_name", "char", "The schema this table belongs to", not_null=True),
            _c("table_name", "char", "The fully qualified table name", not_null=True),
            _c("table_type", "char", "One of: table or view", not_null=True),
            _c("utype", "char", "Lists the utype of tables in the tableset"),
            _c("description", "char", "Describes tables in the tableset"),
            _c("table_index", "int", "Recommended sort order when listing tables"),
        ),
        unique=(("table_name",),),
    ),
    TableSpec(
        name="columns",
        schema=TAP_SCHEMA,
        description="Columns in this service",
        columns=(
            _c("table_name", "char", "The table this column belongs to", not_null=True),
            _c("column_name", "char", "The column name", not_null=True),
            _c("datatype", "char", "The ADQL datatype as in VOTable", not_null=True),
            _c("arraysize", "char", "Lists the size of variable-length columns in the tableset"),
            _c("xtype", "char", "A DALI or custom extended type annotation"),
            _c("size", "int", 'Deprecated: use arraysize (integer arraysize, NULL for "*")'),
            _c("description", "char", "Describes the columns in the tableset"),
            _c("utype", "char", "Lists the utypes of columns in the tableset"),
            _c("unit", "char", "Unit in VO standard format"),
            _c("ucd", "char", "UCD of column if any"),
            _c("indexed", "int", "An indexed column; 1 means true, 0 means false", not_null=True),
            _c("principal", "int", "A principal column; 1 means true, 0 means false", not_null=True),
            _c("std", "int", "A standard column; 1 means true, 0 means false", not_null=True),
            _c("column_index", "int", "Recommended sort order when listing columns"),
        ),
        unique=(("table_name", "column_name"),),
    ),
    TableSpec(
        name="keys",
        schema=TAP_SCHEMA,
        description="Foreign keys between tables of this service",
        columns=(
            _c("key_id", "char", "Unique key identifier", not_null=True),
            _c("from_table", "char", "Fully qualified table name", not_null=True),
            _c("target_table", "char", "Fully qualified table name", not_null=True),
            _c("description", "char", "Description of this key"),
            _c("utype", "char", "Utype of this key"),
        ),
        unique=(("key_id",),),
    ),
    TableSpec(
        name="key_columns",
        schema=TAP_SCHEMA,
        description="Columns of the foreign keys of this service",
        columns=(
            _c("key_id", "char", "Key identifier from TAP_SCHEMA.keys", not_null=True),
            _c("from_column", "char", "Key column name in the from_table", not_null=True),
            _c("target_column", "char", "Key column name in the target_table", not_null=True),
        ),
        unique=(("key_id", "from_column", "target_column"),),
    ),
)


# --------------------------------------------------------------------------------------------
# TAP_SCHEMA rows
# --------------------------------------------------------------------------------------------


def _none_if_empty(value: str | None) -> str | None:
    return value if value else None


def _size(arraysize: str | None) -> int | None:
    return int(arraysize) if arraysize and arraysize.isdigit() else None


def _join_keys(specs: Sequence[TableSpec]) -> list[tuple[str, TableSpec, TableSpec]]:
    """``(key_id, extension, obscore)`` for every extension table joined to a listed ivoa.obscore."""
    target = next((s for s in specs if s.qualified_name == "ivoa.obscore"), None)
    if target is None:
        return []
    return [
        (f"{s.name}_{target.name}", s, target)
        for s in specs
        if s is not target and s.schema == target.schema and JOIN_COLUMN in s.names
    ]


def tap_schema_rows(
    specs: Iterable[TableSpec], *, include_tap_schema: bool = True, indexed_regions: bool = False
) -> dict[str, pd.DataFrame]:
    """The rows of ``TAP_SCHEMA.schemas``, ``tables``, ``columns``, ``keys`` and ``key_columns``.

    Parameters
    ----------
    specs
        The published tables, in publication order (it sets ``table_index``).
    include_tap_schema
        Also describe TAP_SCHEMA's own tables (TAP 1.1 asks services to).
    indexed_regions
        Mark region columns as indexed (true when the DDL gives them a pgSphere GiST index).

    Returns
    -------
    dict of str to pandas.DataFrame
        Keyed by TAP_SCHEMA table name; columns in TAP 1.1 order; NULLs are missing values
        (``pandas.isna``); integer columns are ``Int32``.
    """
    data = list(specs)
    tables = data + (list(TAP_SCHEMA_SPECS) if include_tap_schema else [])
    schema_names = list(dict.fromkeys(t.schema for t in tables))
    schemas = pd.DataFrame(
        {
            "schema_name": schema_names,
            "utype": [None] * len(schema_names),
            "description": [_SCHEMA_DESCRIPTIONS.get(n) for n in schema_names],
            "schema_index": pd.array(range(len(schema_names)), dtype="Int32"),
        }
    )
    table_rows = pd.DataFrame(
        {
            "schema_name": [t.schema for t in tables],
            "table_name": [t.qualified_name for t in tables],
            "table_type": ["table"] * len(tables),
            "utype": [_none_if_empty(t.utype) for t in tables],
            "description": [_none_if_empty(t.description) for t in tables],
            "table_index": pd.array(range(len(tables)), dtype="Int32"),
        }
    )
    col_records = []
    for t in tables:
        for i, c in enumerate(t.columns, start=1):
            col_records.append(
                {
                    "table_name": t.qualified_name,
                    "column_name": c.name,
                    "datatype": c.votable_datatype,
                    "arraysize": c.votable_arraysize,
                    "xtype": c.votable_xtype,
                    "size": _size(c.votable_arraysize),
                    "description": _none_if_empty(c.description),
                    "utype": _none_if_empty(c.utype and t.tap_utype_prefix + c.utype),
                    "unit": _none_if_empty(c.unit),
                    "ucd": _none_if_empty(c.ucd),
                    "indexed": int(c.indexed or (indexed_regions and c.datatype == "region")),
                    "principal": int(c.principal),
                    "std": int(not c.name.startswith("x_")),
                    "column_index": i,
                }
            )
    columns = pd.DataFrame.from_records(col_records, columns=[c.name for c in TAP_SCHEMA_SPECS[2].columns])
    for name in ("size", "indexed", "principal", "std", "column_index"):
        columns[name] = pd.array(columns[name], dtype="Int32")
    joins = _join_keys(data)
    keys = pd.DataFrame(
        {
            "key_id": [k for k, _, _ in joins],
            "from_table": [s.qualified_name for _, s, _ in joins],
            "target_table": [t.qualified_name for _, _, t in joins],
            "description": [f"{s.qualified_name} extends {t.qualified_name} row by row" for _, s, t in joins],
            "utype": [None] * len(joins),
        }
    )
    key_columns = pd.DataFrame(
        {
            "key_id": [k for k, _, _ in joins],
            "from_column": [JOIN_COLUMN] * len(joins),
            "target_column": [JOIN_COLUMN] * len(joins),
        }
    )
    return {
        "schemas": schemas,
        "tables": table_rows,
        "columns": columns,
        "keys": keys.astype(object),
        "key_columns": key_columns.astype(object),
    }


# --------------------------------------------------------------------------------------------
# SQL
# --------------------------------------------------------------------------------------------

_PLAIN_IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")
#: Words that need quoting as column names (PostgreSQL keywords we might meet).
_KEYWORDS = frozenset({"size", "user", "order", "group", "table", "column", "default", "select", "from", "where"})

_PG_TYPES = {
    "double": "double precision",
    "int": "integer",
    "long": "bigint",
    "char": "text",
    "unicodeChar": "text",
    "timestamp": "timestamptz",
    "moc": "text",
}


def ident(name: str) -> str:
    """A PostgreSQL identifier, double-quoted only when it must be."""
    if _PLAIN_IDENT.match(name) and name not in _KEYWORDS:
        return name
    return '"' + name.replace('"', '""') + '"'


def sql_literal(value: object) -> str:
    """A SQL literal: NULL, a number, or a quoted string (``E''`` when it holds backslashes).

    Raises
    ------
    ValueError
        For NUL characters (PostgreSQL text cannot hold them) and non-finite floats.
    """
    if value is None or value is pd.NA:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        if math.isnan(value):
            return "NULL"
        if not math.isfinite(value):
            raise ValueError(f"cannot write {value!r} as a SQL literal")
        return repr(value)
    text = str(value)
    if "\x00" in text:
        raise ValueError(f"NUL character in SQL string {text!r}")
    quoted = text.replace("'", "''")
    if "\\" in text:
        return "E'" + quoted.replace("\\", "\\\\") + "'"
    return "'" + quoted + "'"


def _table_sql_name(spec: TableSpec) -> str:
    schema = _TAP_SCHEMA_SQL if spec.schema == TAP_SCHEMA else ident(spec.schema)
    return f"{schema}.{ident(spec.name)}"


def _column_type(c: Column, pgsphere: bool) -> str:
    if c.datatype == "region":
        return "spoly" if pgsphere else "text"
    return _PG_TYPES[c.datatype]


def _number(v: float | int) -> str:
    return str(int(v)) if float(v).is_integer() else repr(float(v))


def _checks(spec: TableSpec) -> list[tuple[str, str]]:
    """``(constraint name, condition)`` for the spec's vocabularies, ranges and cross-field rules."""
    out = []
    names = set(spec.names)
    for c in spec.columns:
        col = ident(c.name)
        if c.values is not None:
            out.append(
                (f"{spec.name}_{c.name}_vocabulary", f"{col} IN ({', '.join(sql_literal(v) for v in c.values)})")
            )
        parts = []
        if c.minimum is not None:
            parts.append(f"{col} {'>' if c.exclusive_min else '>='} {_number(c.minimum)}")
        if c.maximum is not None:
            parts.append(f"{col} {'<' if c.exclusive_max else '<='} {_number(c.maximum)}")
        if parts:
            out.append((f"{spec.name}_{c.name}_range", " AND ".join(parts)))
        if c.null_rule == "not-null-if-scheduled-or-performed" and "execution_status" in names:
            statuses = ", ".join(sql_literal(s) for s in TIMED_STATUSES)
            out.append((f"{spec.name}_{c.name}_timed", f"{col} IS NOT NULL OR execution_status NOT IN ({statuses})"))
    for low, high in ORDERED_PAIRS:
        if low in names and high in names:
            out.append((f"{spec.name}_{low}_le_{high}", f"{ident(low)} <= {ident(high)}"))
    return out


def _create_table(spec: TableSpec, *, pgsphere: bool, if_not_exists: bool) -> list[str]:
    table = _table_sql_name(spec)
    lines = []
    for c in spec.columns:
        line = f"    {ident(c.name)} {_column_type(c, pgsphere)}"
        if c.null_rule == "not-null":
            line += " NOT NULL"
        lines.append(line)
    for name, cond in _checks(spec):
        lines.append(f"    CONSTRAINT {ident(name)} CHECK ({cond})")
    by_name = {c.name: c for c in spec.columns}
    for i, key in enumerate(spec.unique):
        cols = ", ".join(ident(k) for k in key)
        if i == 0 and all(by_name[k].null_rule == "not-null" for k in key):
            lines.append(f"    CONSTRAINT {ident(spec.name + '_pkey')} PRIMARY KEY ({cols})")
        else:
            lines.append(
                f"    CONSTRAINT {ident(spec.name + '_' + '_'.join(key) + '_key')} UNIQUE NULLS NOT DISTINCT ({cols})"
            )
    head = f"CREATE TABLE {'IF NOT EXISTS ' if if_not_exists else ''}{table} ("
    out = [head + "\n" + ",\n".join(lines) + "\n);"]
    if spec.description:
        out.append(f"COMMENT ON TABLE {table} IS {sql_literal(spec.description)};")
    for c in spec.columns:
        note = c.description
        if c.datatype == "region":
            note += (
                f" [pgSphere spoly; circles as circumscribing {CIRCLE_VERTICES}-gons]"
                if pgsphere
                else " [STC-S string]"
            )
        if note:
            out.append(f"COMMENT ON COLUMN {table}.{ident(c.name)} IS {sql_literal(note)};")
    exists = "IF NOT EXISTS " if if_not_exists else ""
    for c in spec.columns:
        col = ident(c.name)
        if c.datatype == "region" and pgsphere:
            out.append(f"CREATE INDEX {exists}{ident(f'{spec.name}_{c.name}_gist')} ON {table} USING gist ({col});")
        elif c.indexed and not any(key[0] == c.name for key in spec.unique):
            out.append(f"CREATE INDEX {exists}{ident(f'{spec.name}_{c.name}_idx')} ON {table} ({col});")
    return out


def _inserts(table: str, frame: pd.DataFrame) -> str:
    if frame.empty:
        return ""
    cols = ", ".join(ident(c) for c in frame.columns)
    values = ",\n".join(
        "    (" + ", ".join(sql_literal(None if pd.isna(v) else v) for v in row) + ")"
        for row in frame.astype(object).itertuples(index=False, name=None)
    )
    return f"INSERT INTO {table} ({cols}) VALUES\n{values};"


def postgres_ddl(
    specs: Iterable[TableSpec], *, pgsphere: bool = True, include_tap_schema: bool = True, replace: bool = False
) -> str:
    """One SQL script that creates the tables and fills TAP_SCHEMA, in a single transaction.

    Parameters
    ----------
    specs
        The published tables.
    pgsphere
        ``s_region`` as pgSphere ``spoly`` with a GiST index (creates the ``pg_sphere`` extension);
        otherwise STC-S text.
    include_tap_schema
        Describe TAP_SCHEMA's own tables in it.
    replace
        Drop the data tables first (a re-load of a snapshot); by default an existing table is an
        error, so a load never mixes snapshots silently.

    Returns
    -------
    str
        The script (``psql -v ON_ERROR_STOP=1 -f``, or one ``execute`` call).
    """
    data = list(specs)
    rows = tap_schema_rows(data, include_tap_schema=include_tap_schema, indexed_regions=pgsphere)
    out = [
        "-- Generated by voharvest (models.tap_schema) from the table specs; do not edit by hand.",
        "BEGIN;",
    ]
    if pgsphere:
        out.append("CREATE EXTENSION IF NOT EXISTS pg_sphere;")
    for schema in dict.fromkeys(s.schema for s in data):
        out.append(f"CREATE SCHEMA IF NOT EXISTS {ident(schema)};")
    if replace:
        for spec in reversed(data):
            out.append(f"DROP TABLE IF EXISTS {_table_sql_name(spec)} CASCADE;")
    for spec in data:
        out.extend(_create_table(spec, pgsphere=pgsphere, if_not_exists=False))
    for key_id, ext, target in _join_keys(data):
        out.append(
            f"ALTER TABLE {_table_sql_name(ext)} ADD CONSTRAINT {ident(key_id + '_fkey')} "
            f"FOREIGN KEY ({ident(JOIN_COLUMN)}) REFERENCES {_table_sql_name(target)} ({ident(JOIN_COLUMN)});"
        )

    out.append(f"CREATE SCHEMA IF NOT EXISTS {_TAP_SCHEMA_SQL};")
    for spec in TAP_SCHEMA_SPECS:
        out.extend(_create_table(spec, pgsphere=False, if_not_exists=True))
    ts = {spec.name: _table_sql_name(spec) for spec in TAP_SCHEMA_SPECS}
    table_list = ", ".join(sql_literal(t) for t in rows["tables"]["table_name"])
    schema_list = ", ".join(sql_literal(s) for s in rows["schemas"]["schema_name"])
    out += [
        f"DELETE FROM {ts['key_columns']} WHERE key_id IN "
        f"(SELECT key_id FROM {ts['keys']} WHERE from_table IN ({table_list}) OR target_table IN ({table_list}));",
        f"DELETE FROM {ts['keys']} WHERE from_table IN ({table_list}) OR target_table IN ({table_list});",
        f"DELETE FROM {ts['columns']} WHERE table_name IN ({table_list});",
        f"DELETE FROM {ts['tables']} WHERE table_name IN ({table_list});",
        f"DELETE FROM {ts['schemas']} WHERE schema_name IN ({schema_list});",
    ]
    for name in ("schemas", "tables", "columns", "keys", "key_columns"):
        sql = _inserts(ts[name], rows[name])
        if sql:
            out.append(sql)
    out.append("COMMIT;")
    return "\n".join(out) + "\n"
