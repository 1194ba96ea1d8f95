"""Every common reader opens the bundled snapshot's files unchanged: astropy, pandas, pyarrow, DuckDB, STILTS.

The snapshot is harvested from ``recordings/replay`` here. Each reader's values and NULLs are compared
with pyarrow's reading of the same file (pyarrow is Parquet's reference implementation), units with
the table specs. What a reader cannot do is asserted as such, so that a change in it shows up:

* astropy's Parquet reader does not mask NULLs: NULL doubles read as NaN, integer columns holding
  NULLs as float64 with NaN, NULL strings as the text ``"None"`` (cut to the column's width). The
  ``.vot`` files give astropy masked NULLs.
* astropy's VOTable reader masks NULL numbers but reads a NULL string of BINARY2 as ``""``,
  unmasked (our strings are never empty, so ``""`` means NULL there).
* astropy's ``format="parquet.votable"`` reader fails on variable-length string FIELDs
  (``arraysize="*"``: its ``vstack`` of the empty VOTable table with the data refuses object vs str).
* Debian's STILTS has no Parquet handler; it reads the ``.vot`` files (NULLs as empty cells).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import warnings
from pathlib import Path

import astropy.units as u
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from astropy.table import Table, TableMergeError

from models.history_store import CURRENT_PART
from models.snapshot import SNAPSHOT_TABLES, VOTABLE_TABLES, read_manifest
from pipelines.cli import main

REPO = Path(__file__).resolve().parent.parent
PARQUET_TABLES = ("obsplan", "obscore", "obscore_radio", "obscore_hea", "obsplan_history", "changes")


def _parquet(snapshot: Path, name: str) -> Path:
    """A table's Parquet file; the history's is its part of current versions (one day: every version)."""
    return snapshot / (CURRENT_PART if name == "obsplan_history" else f"{name}.parquet")


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled snapshot: ``voharvest harvest --replay recordings/replay --output <tmp>``."""
    tmp = tmp_path_factory.mktemp("readers")
    cwd = os.getcwd()
    os.chdir(tmp)
    try:
        assert main(["harvest", "--replay", str(REPO / "recordings" / "replay"), "--output", str(tmp / "out")]) == 0
    finally:
        os.chdir(cwd)
    (path,) = (tmp / "out" / "snapshots").iterdir()
    return path


def _unit(text: str) -> u.UnitBase | None:
    return u.Unit(text) if text else None


@pytest.mark.parametrize("name", PARQUET_TABLES)
def test_astropy_plain_table_read_parquet(snapshot: Path, name: str) -> None:
    path = _parquet(snapshot, name)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "guessing string length" or unit warnings either
        table = Table.read(str(path))
    reference = pq.read_table(path)
    spec = SNAPSHOT_TABLES[name]
    assert table.colnames == spec.names
    assert len(table) == read_manifest(snapshot)["tables"][name]["rows"] == reference.num_rows
    for column in spec.columns:
        col = table[column.name]
        assert col.unit == _unit(column.unit), column.name
        assert (col.description or "") == column.description
        assert col.meta.get("ucd", "") == column.ucd and col.meta.get("utype", "") == column.utype
        values = reference.column(column.name)
        nulls = values.is_null().to_numpy(zero_copy_only=False)
        if pa.types.is_string(values.type):
            present = [v for v, null in zip(col.tolist(), nulls, strict=True) if not null]
            assert present == [v for v in values.to_pylist() if v is not None], column.name
            # the limitation: astropy writes the text "None" for NULL strings (cut to the width)
            assert all("None".startswith(v) for v in np.asarray(col)[nulls]), column.name
        elif pa.types.is_floating(values.type) or pa.types.is_integer(values.type):
            got = np.asarray(col, dtype="float64")
            want = values.to_numpy(zero_copy_only=False).astype("float64")
            np.testing.assert_array_equal(got, want)  # NULLs are NaN on both sides
            if values.null_count and pa.types.is_integer(values.type):
                assert col.dtype.kind == "f"  # integers holding NULLs become float64 in astropy


@pytest.mark.parametrize("name", VOTABLE_TABLES + ("changes",))
def test_astropy_reads_votable_with_masked_nulls(snapshot: Path, name: str) -> None:
    table = Table.read(snapshot / f"{name}.vot", format="votable")
    reference = pq.read_table(snapshot / f"{name}.parquet")
    spec = SNAPSHOT_TABLES[name]
    assert table.colnames == spec.names and len(table) == reference.num_rows
    for column in spec.columns:
        col = table[column.name]
        nulls = reference.column(column.name).is_null().to_numpy(zero_copy_only=False)
        mask = np.asarray(getattr(col, "mask", np.zeros(len(col), bool)), dtype=bool)
        if column.is_string:
            # the limitation: astropy 8 reads a NULL string of BINARY2 as "" and does not mask it
            assert not mask.any() and all(v == "" for v in np.asarray(col)[nulls]), column.name
            assert all(v != "" for v in np.asarray(col)[~nulls]), column.name  # so "" means NULL here
        else:
            np.testing.assert_array_equal(mask, nulls, err_msg=column.name)
        assert col.unit == _unit(column.unit), column.name


@pytest.mark.parametrize("name", PARQUET_TABLES)
def test_pandas_and_pyarrow(snapshot: Path, name: str) -> None:
    path = _parquet(snapshot, name)
    reference = pq.read_table(path)
    frame = pd.read_parquet(path)  # pandas with its default (pyarrow) engine
    assert list(frame.columns) == reference.column_names and len(frame) == reference.num_rows
    nullable = pd.read_parquet(path, dtype_backend="numpy_nullable")  # integers with NULLs stay integers
    for field in reference.schema:
        nulls = reference.column(field.name).is_null().to_numpy(zero_copy_only=False)
        np.testing.assert_array_equal(frame[field.name].isna().to_numpy(), nulls, err_msg=field.name)
        if pa.types.is_integer(field.type):
            assert pd.api.types.is_integer_dtype(nullable[field.name].dtype), field.name
        # units and descriptions travel in the Arrow field metadata
        column = SNAPSHOT_TABLES[name].column(field.name)
        assert (field.metadata or {}).get(b"unit", b"").decode() == column.unit


@pytest.mark.parametrize("name", PARQUET_TABLES)
def test_duckdb_selects_from_the_file(snapshot: Path, name: str) -> None:
    duckdb = pytest.importorskip("duckdb")
    path = _parquet(snapshot, name)
    reference = pq.read_table(path)
    con = duckdb.connect()
    count = con.execute(f"SELECT count(*) FROM '{path}'").fetchone()[0]
    assert count == reference.num_rows
    for field in reference.schema:
        nulls = con.execute(f"SELECT count(*) FROM '{path}' WHERE \"{field.name}\" IS NULL").fetchone()[0]
        assert nulls == reference.column(field.name).null_count, field.name
    if name == "obsplan":
        rows = con.execute(
            f"SELECT obs_id, execution_status FROM '{path}' WHERE facility_name = 'NuSTAR' ORDER BY obs_id"
        ).fetchall()
        frame = reference.to_pandas()
        want = frame[frame["facility_name"] == "NuSTAR"].sort_values("obs_id")[["obs_id", "execution_status"]]
        assert rows == list(want.itertuples(index=False, name=None))
        # the VO metadata is readable from SQL too
        meta = dict(con.execute(f"SELECT key::VARCHAR, value::VARCHAR FROM parquet_kv_metadata('{path}')").fetchall())
        assert meta["ivoa.table"] == "ivoa.obsplan" and "table_meta_yaml" in meta


def test_astropy_parquet_votable_reader_limitation(snapshot: Path) -> None:
    """astropy 8 cannot merge ``arraysize="*"`` FIELDs with Parquet strings: documented, checked here."""
    with pytest.raises(TableMergeError, match="incompatible types"):
        Table.read(snapshot / "obsplan.parquet", format="parquet.votable")


@pytest.mark.skipif(shutil.which("stilts") is None, reason="stilts not installed (apt-get install stilts)")
@pytest.mark.parametrize("name", VOTABLE_TABLES)
def test_stilts_reads_votables(snapshot: Path, name: str, tmp_path: Path) -> None:
    out = tmp_path / f"{name}.csv"
    subprocess.run(
        ["stilts", "tpipe", f"in={snapshot / f'{name}.vot'}", "ifmt=votable", "ofmt=csv", f"out={out}"],
        check=True,
        capture_output=True,
        timeout=300,
    )
    reference = pq.read_table(snapshot / f"{name}.parquet")
    frame = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert list(frame.columns) == reference.column_names and len(frame) == reference.num_rows
    for field in reference.schema:
        nulls = reference.column(field.name).is_null().to_numpy(zero_copy_only=False)
        np.testing.assert_array_equal((frame[field.name] == "").to_numpy(), nulls, err_msg=field.name)
    meta = subprocess.run(
        ["stilts", "tpipe", f"in={snapshot / f'{name}.vot'}", "omode=meta"],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    ).stdout
    for column in SNAPSHOT_TABLES[name].columns:
        if column.unit:
            assert f"{column.name}(" in meta and f"/{column.unit}" in meta, column.name
