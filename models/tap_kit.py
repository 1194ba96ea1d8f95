"""The TAP load kit of a snapshot (``tap/``) and the loader it calls.

``tap/`` holds what a TAP server needs to serve the snapshot from PostgreSQL + pgSphere:

* ``schema.sql``  -- DDL of every published table and its TAP_SCHEMA rows (:func:`models.tap_schema.postgres_ddl`);
* ``tap_schema/<schemas|tables|columns|keys|key_columns>.csv`` -- the TAP_SCHEMA rows as data;
* ``load.sh`` -- ``load.sh DSN``: runs ``schema.sql`` then :func:`load_snapshot` on this snapshot.

:func:`write_tap_kit` is the hook for more server flavours (e.g. a GAVO DaCHS resource descriptor):
add files under ``tap/`` there and list them in its return value.
"""

from __future__ import annotations

import argparse
import io
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from models.columns import TableSpec
from models.dachs import write_dachs_rd
from models.regions import stcs_to_pgsphere
from models.tap_schema import postgres_ddl, tap_schema_rows

TAP_DIR = "tap"

_LOAD_SH = """#!/bin/sh
# Load this snapshot into PostgreSQL (+ pgSphere): ./load.sh "postgresql://user@host/db"
# Needs psql and a Python with voharvest installed (it reads the Parquet files next to tap/).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
psql "$1" -v ON_ERROR_STOP=1 -q -f "$here/schema.sql"
python -m models.tap_kit load "$here/.." "$1"
"""


def write_tap_kit(snapshot_dir: Path, specs: Sequence[TableSpec]) -> list[str]:
    """Write ``tap/`` for the tables ``specs`` of a snapshot; returns the files (relative paths)."""
    folder = Path(snapshot_dir) / TAP_DIR
    (folder / "tap_schema").mkdir(parents=True, exist_ok=True)
    written = []
    (folder / "schema.sql").write_text(postgres_ddl(specs, pgsphere=True), encoding="utf-8")
    written.append(f"{TAP_DIR}/schema.sql")
    for name, frame in sorted(tap_schema_rows(specs, indexed_regions=True).items()):
        frame.to_csv(folder / "tap_schema" / f"{name}.csv", index=False, lineterminator="\n")
        written.append(f"{TAP_DIR}/tap_schema/{name}.csv")
    load = folder / "load.sh"
    load.write_text(_LOAD_SH, encoding="utf-8")
    load.chmod(0o755)
    written.append(f"{TAP_DIR}/load.sh")
    # The DaCHS RD publishes the IVOA schema; our own history tables stay in the SQL kit.
    written += write_dachs_rd(folder, [s for s in specs if s.schema == "ivoa"])
    return sorted(written)


def _csv_for_copy(table: pa.Table) -> bytes:
    """CSV for ``COPY ... (FORMAT csv)``: region columns as pgSphere literals, NULL as empty field."""
    columns = []
    for field, column in zip(table.schema, table.columns, strict=True):
        meta = field.metadata or {}
        if meta.get(b"xtype") == b"adql:REGION":
            column = pa.array(stcs_to_pgsphere(column.to_pandas()).tolist(), type=pa.string())
        columns.append(column)
    out = io.BytesIO()
    pacsv.write_csv(
        pa.Table.from_arrays(columns, names=table.column_names),
        out,
        pacsv.WriteOptions(include_header=False, quoting_style="needed"),
    )
    return out.getvalue()


def load_snapshot(snapshot_dir: Path, dsn: str, specs: Sequence[TableSpec] | None = None) -> dict[str, int]:
    """COPY a snapshot's Parquet tables into tables created by ``tap/schema.sql``; rows per table."""
    import psycopg2  # optional dependency of the loader only
    from psycopg2 import sql

    from models.history_store import HISTORY_TABLE, read_history
    from models.snapshot import SNAPSHOT_TABLES, read_manifest

    if specs is None:
        names = read_manifest(Path(snapshot_dir))["tables"]
        specs = [SNAPSHOT_TABLES[n] for n in names]
    loaded: dict[str, int] = {}
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        for spec in specs:  # obscore before its extensions: they reference it
            table = (
                read_history(Path(snapshot_dir))  # every part of the history as one table
                if spec.name == HISTORY_TABLE
                else pq.read_table(Path(snapshot_dir) / f"{spec.name}.parquet")
            )
            statement = sql.SQL("COPY {}.{} ({}) FROM STDIN WITH (FORMAT csv)").format(
                sql.Identifier(spec.schema.lower()),
                sql.Identifier(spec.name),
                sql.SQL(", ").join(sql.Identifier(c) for c in table.column_names),
            )
            cur.copy_expert(statement.as_string(conn), io.BytesIO(_csv_for_copy(table)))
            loaded[spec.name] = table.num_rows
    return loaded


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m models.tap_kit load SNAPSHOT DSN``."""
    parser = argparse.ArgumentParser(prog="python -m models.tap_kit")
    sub = parser.add_subparsers(dest="command", required=True)
    load = sub.add_parser("load", help="COPY a snapshot's tables into PostgreSQL (after tap/schema.sql)")
    load.add_argument("snapshot", type=Path)
    load.add_argument("dsn")
    args = parser.parse_args(argv)
    for name, rows in load_snapshot(args.snapshot, args.dsn).items():
        print(f"{name}: {rows} rows")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
