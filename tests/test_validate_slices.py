"""Validation slice by slice (publication re-checks million-row tables this way) finds exactly what
validating the whole table finds, on the real harvested obsplan rows with damage anywhere."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models import OBSPLAN
from models.arrow import conform, to_frame
from models.validate import key_columns, validate, validate_batches
from tests.test_provenance import harvested_snapshot


@pytest.fixture(scope="module")
def obsplan() -> pa.Table:
    table = pq.read_table(Path(harvested_snapshot()) / "obsplan.parquet")
    assert table.num_rows == 33
    return table


def _in_slices(table: pa.Table, slice_rows: int) -> list:
    """validate_batches over consecutive slices of ``table`` (the key columns of all its rows)."""
    slices = (table.slice(start, slice_rows) for start in range(0, table.num_rows, slice_rows))
    return validate_batches(slices, OBSPLAN, as_of=60923.0, keys=table.select(key_columns(OBSPLAN)))


def _key(violations: list) -> list[tuple]:
    return sorted((v.code, v.table, v.column, v.rule, v.rows) for v in violations)


_DAMAGE = st.sampled_from(["null_id", "reverse_times", "bad_status", "duplicate", "negative_exposure"])


@given(st.data())
def test_slices_find_what_the_whole_table_finds(obsplan: pa.Table, data: st.DataObject) -> None:
    frame = to_frame(obsplan).copy()
    for _ in range(data.draw(st.integers(0, 4))):
        row = data.draw(st.integers(0, len(frame) - 1))
        damage = data.draw(_DAMAGE)
        if damage == "null_id":
            frame.loc[row, "obs_id"] = None
        elif damage == "reverse_times":
            frame.loc[row, ["t_min", "t_max"]] = frame.loc[row, ["t_max", "t_min"]].to_numpy()
        elif damage == "bad_status":
            frame.loc[row, "execution_status"] = "Done"
        elif damage == "negative_exposure":
            frame.loc[row, "t_exptime"] = -1.0
        else:  # another row takes this row's identity: a duplicate key, possibly in another slice
            other = data.draw(st.integers(0, len(frame) - 1))
            frame.loc[other, ["obs_collection", "obs_id"]] = frame.loc[row, ["obs_collection", "obs_id"]].to_numpy()
    table = conform(frame, OBSPLAN)
    slice_rows = data.draw(st.integers(1, 40))
    whole = validate(to_frame(table), OBSPLAN, as_of=60923.0)
    assert _key(_in_slices(table, slice_rows)) == _key(whole)


def test_damage_in_two_slices_is_one_violation_with_both_rows(obsplan: pa.Table) -> None:
    frame = to_frame(obsplan).copy()
    frame.loc[[2, 30], "execution_status"] = "Done"
    frame.loc[31, ["obs_collection", "obs_id"]] = frame.loc[1, ["obs_collection", "obs_id"]].to_numpy()
    found = _in_slices(conform(frame, OBSPLAN), 10)
    status = [v for v in found if v.column == "execution_status"]
    assert len(status) == 1 and status[0].rows == (2, 30)
    (unique,) = [v for v in found if v.code == "unique"]
    assert unique.rows == (1, 31)


@settings(max_examples=25, deadline=None)  # each example validates a few batches: about a second
@given(data=st.data())
def test_batches_read_back_from_parquet_find_what_the_whole_table_finds(
    obsplan: pa.Table, data: st.DataObject, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Publication's path: rows read back a batch at a time from the written file, keys read whole."""
    frame = to_frame(obsplan).copy()
    for _ in range(data.draw(st.integers(1, 3))):
        row, other = data.draw(st.integers(0, len(frame) - 1)), data.draw(st.integers(0, len(frame) - 2))
        other += other >= row  # another row: a duplicate key
        frame.loc[row, "execution_status"] = "Done"
        frame.loc[other, ["obs_collection", "obs_id"]] = frame.loc[row, ["obs_collection", "obs_id"]].to_numpy()
    table = conform(frame, OBSPLAN)
    path = tmp_path_factory.mktemp("batches") / "obsplan.parquet"
    pq.write_table(table, path, row_group_size=data.draw(st.integers(4, 40)))
    keys = pq.read_table(path, columns=key_columns(OBSPLAN))
    batches = pq.ParquetFile(path).iter_batches(batch_size=data.draw(st.integers(6, 40)))
    found = validate_batches(batches, OBSPLAN, as_of=60923.0, keys=keys)
    assert _key(found) == _key(validate(to_frame(table), OBSPLAN, as_of=60923.0))
    assert any(v.code == "unique" for v in found) and any(v.column == "execution_status" for v in found)
