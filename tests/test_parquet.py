"""Parquet writer: values and nulls through pyarrow, VO metadata through astropy (VOParquet 1.0)."""

from __future__ import annotations

import io
import warnings
from dataclasses import replace

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from astropy.io import votable
from astropy.io.votable.ucd import check_ucd
from astropy.table import Table

import models.votable as mv
from models import IVOA_TABLES, OBSPLAN, TableSpec
from models.arrow import arrow_schema, conform, field_metadata
from models.parquet import read_parquet, voparquet_content, write_parquet
from tests.test_votable import LONG_URL, TARGETS, fields_of, obsplan_frame, spec_frame

CONTENT = b"IVOA.VOTable-Parquet.content"
VERSION = b"IVOA.VOTable-Parquet.version"


def parse_content(content: bytes, spec: TableSpec):
    """astropy parse of the VOParquet XML; tolerated: W10 for the PARQUET element and W06 for spec UCDs.

    ``PARQUET`` is defined by the VOParquet Note, not by the VOTable 1.4 schema, so astropy flags it
    (its own ``write_parquet_votable`` output gets the same W10).
    """
    bad_ucds = {c.ucd for c in spec.columns if c.ucd and not check_ucd(c.ucd, True, True)}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        vot = votable.parse(io.BytesIO(content), verify="warn")
    messages = [str(w.message) for w in caught]
    assert any("W10" in m and "PARQUET" in m for m in messages)
    for message in messages:
        ok = ("W10" in message and "'PARQUET'" in message) or ("W06" in message and any(u in message for u in bad_ucds))
        assert ok, message
    return vot


def _astropy_meta(column) -> dict[str, str]:
    """unit/ucd/utype/description of an astropy column, empty string when absent."""
    return {
        "unit": "" if column.unit is None else column.unit.to_string(),
        "ucd": column.meta.get("ucd", ""),
        "utype": column.meta.get("utype", ""),
        "description": column.description or "",
    }


def _spec_meta(column) -> dict[str, str]:
    return {"unit": column.unit, "ucd": column.ucd, "utype": column.utype, "description": column.description}


@pytest.mark.parametrize("name", list(IVOA_TABLES))
def test_round_trip_values_and_nulls(name: str, tmp_path) -> None:
    spec = IVOA_TABLES[name]
    frame = spec_frame(spec, n=15, seed=5)
    if "target_name" in spec.names:
        frame["target_name"] = [TARGETS[i % len(TARGETS)] if i % 4 else None for i in range(15)]
    table = conform(frame, spec)
    path = tmp_path / f"{name}.parquet"
    write_parquet(table, spec, path)
    got = read_parquet(path)
    assert got.schema.equals(table.schema)  # names, types, nullability and column order
    for column in spec.columns:
        assert got.column(column.name).to_pylist() == table.column(column.name).to_pylist(), column.name
        assert got.column(column.name).null_count == table.column(column.name).null_count
        if column.null_rule != "not-null":
            assert got.column(column.name).null_count > 0, column.name
        field = got.schema.field(column.name)
        assert field.metadata == field_metadata(column)
        assert field.nullable == (column.null_rule != "not-null")
    assert got.schema.metadata[b"ivoa.table"] == spec.qualified_name.encode()
    if "target_name" in spec.names:
        names = got.column("target_name").to_pylist()
        assert set(names) == {*TARGETS, None}
    if "access_url" in spec.names:
        urls = [u for u in got.column("access_url").to_pylist() if u]
        assert urls and all(len(u) > 2000 and u.startswith(LONG_URL) for u in urls)


@pytest.mark.parametrize("name", list(IVOA_TABLES))
def test_voparquet_metadata_is_the_votable_header(name: str, tmp_path) -> None:
    spec = IVOA_TABLES[name]
    table = conform(spec_frame(spec, n=4), spec)
    path = tmp_path / f"{name}.parquet"
    write_parquet(table, spec, path)
    meta = pq.ParquetFile(path).metadata.metadata
    assert meta[VERSION] == b"1.0"
    content = meta[CONTENT]
    assert content == voparquet_content(spec)
    assert b'<PARQUET type="Parquet-local-XML"/>' in content and b"<DATA>" not in content
    assert b"QUERY_STATUS" not in content  # a metadata document, not a query response
    # The FIELDs are exactly the VOTable writer's (one generator for both).
    assert fields_of(content) == fields_of(mv.votable_bytes(table, spec))
    for column in spec.columns:
        assert mv.field_xml(column).encode() in content
    # astropy reads the metadata half of VOParquet (what Table.read(format="parquet.votable") merges in).
    meta_table = Table.read(parse_content(content, spec))
    assert meta_table.colnames == spec.names
    for column in spec.columns:
        assert _astropy_meta(meta_table[column.name]) == _spec_meta(column), column.name


def test_obsplan_systems_in_voparquet_content(tmp_path) -> None:
    path = tmp_path / "obsplan.parquet"
    write_parquet(conform(obsplan_frame(6), OBSPLAN), OBSPLAN, path)
    vot = parse_content(pq.ParquetFile(path).metadata.metadata[CONTENT], OBSPLAN)
    resource = vot.resources[0]
    assert [c.ID for c in resource.coordinate_systems] == ["icrs"]
    assert [t.ID for t in resource.time_systems] == ["mjd_utc"]
    fields = {f.name: f for f in vot.get_first_table().fields}
    assert fields["s_ra"].ref == "icrs" and fields["t_min"].ref == "mjd_utc"
    assert vot.get_first_table().utype == OBSPLAN.utype


def test_astropy_parquet_votable_reader(tmp_path) -> None:
    """astropy's own VOParquet reader gives the spec's unit/ucd/utype/description.

    Uses the numeric ObsLocTAP columns: astropy 8's ``parquet.votable`` reader ``vstack``s the
    empty VOTable table (variable-length ``arraysize="*"`` strings are object columns) with the
    Parquet data (fixed-width str), and refuses that merge whatever the file says
    (tests/test_readers.py checks the failure on a real snapshot).
    """
    numeric = tuple(c for c in OBSPLAN.columns if not c.is_string)
    spec = replace(OBSPLAN, name="obsplan_numeric", columns=numeric)
    table = conform(obsplan_frame(9)[[c.name for c in numeric]], spec)
    path = tmp_path / "numeric.parquet"
    write_parquet(table, spec, path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = Table.read(path, format="parquet.votable")
    assert got.colnames == spec.names
    for column in spec.columns:
        assert _astropy_meta(got[column.name]) == _spec_meta(column), column.name
        want = np.array([np.nan if v is None else v for v in table.column(column.name).to_pylist()], dtype=float)
        np.testing.assert_array_equal(np.asarray(got[column.name], dtype=float), want)
    assert np.isnan(np.asarray(got["t_exptime"], dtype=float)).any()  # nulls arrive as NaN, not 0


def test_deterministic_bytes_and_zstd(tmp_path) -> None:
    spec = IVOA_TABLES["obscore"]
    paths = [tmp_path / "a.parquet", tmp_path / "b.parquet"]
    for path in paths:
        write_parquet(conform(spec_frame(spec, n=20), spec), spec, path)
    assert paths[0].read_bytes() == paths[1].read_bytes()
    meta = pq.ParquetFile(paths[0]).metadata
    codecs = {meta.row_group(0).column(i).compression for i in range(meta.num_columns)}
    assert codecs == {"ZSTD"}


def test_schema_matches_spec_after_read(tmp_path) -> None:
    path = tmp_path / "obsplan.parquet"
    write_parquet(conform(obsplan_frame(5), OBSPLAN), OBSPLAN, path)
    got = read_parquet(path).schema
    want = arrow_schema(OBSPLAN)
    assert got.names == want.names
    assert [f.type for f in got] == [f.type for f in want]
    assert all(g.metadata == w.metadata for g, w in zip(got, want, strict=True))


def test_refuses_table_not_conformed(tmp_path) -> None:
    table = conform(obsplan_frame(4), OBSPLAN)
    i = OBSPLAN.names.index("s_ra")
    wrong = table.set_column(i, pa.field("s_ra", pa.float32()), table.column(i).cast(pa.float32()))
    with pytest.raises(mv.SchemaMismatchError, match="'s_ra' has type float"):
        write_parquet(wrong, OBSPLAN, tmp_path / "x.parquet")
    assert not (tmp_path / "x.parquet").exists()
    j = OBSPLAN.names.index("facility_name")
    nulls = table.set_column(j, table.schema.field(j), pa.array([None, "a", "b", "c"]))
    with pytest.raises(mv.SchemaMismatchError, match="not-null column 'facility_name'"):
        write_parquet(nulls, OBSPLAN, tmp_path / "y.parquet")


def test_non_ivoa_spec_round_trip(tmp_path) -> None:
    from tests.test_votable import HISTORY, history_table

    table = history_table()
    path = tmp_path / "history.parquet"
    write_parquet(table, HISTORY, path)
    got = read_parquet(path)
    assert got.schema.equals(table.schema)
    for name in HISTORY.names:
        if name != "score":
            assert got.column(name).to_pylist() == table.column(name).to_pylist(), name
    np.testing.assert_array_equal(got.column("score").to_numpy(), [np.nan, np.inf, -np.inf])
    content = pq.ParquetFile(path).metadata.metadata[CONTENT]
    vot = parse_content(content, HISTORY)
    assert [f.name for f in vot.get_first_table().fields] == HISTORY.names
    assert b"COOSYS" not in content and b"TIMESYS" not in content


@pytest.mark.parametrize("name", list(IVOA_TABLES))
def test_read_back_as_astropy_table_with_metadata_and_masks(name: str, tmp_path) -> None:
    from astropy import units as u

    from models.parquet import read_astropy

    spec = IVOA_TABLES[name]
    frame = spec_frame(spec, n=15, seed=7)
    if "target_name" in spec.names:
        frame["target_name"] = [TARGETS[i % len(TARGETS)] if i % 4 else None for i in range(15)]
    table = conform(frame, spec)
    path = tmp_path / f"{name}.parquet"
    write_parquet(table, spec, path)
    got = read_astropy(path)
    assert got.colnames == spec.names
    for column in spec.columns:
        col = got[column.name]
        want = table.column(column.name)
        assert list(col.mask) == [v is None for v in want.to_pylist()], column.name
        assert (col.unit or "") == (u.Unit(column.unit) if column.unit else ""), column.name
        assert col.description == column.description
        assert col.meta.get("ucd", "") == column.ucd and col.meta.get("utype", "") == column.utype
        if column.is_string and column.datatype != "timestamp":
            assert [None if m else str(v) for v, m in zip(col, col.mask, strict=True)] == want.to_pylist()
        elif not column.is_string:
            assert [None if m else v for v, m in zip(col.tolist(), col.mask, strict=True)] == want.to_pylist()


@pytest.mark.parametrize("name", list(IVOA_TABLES))
def test_plain_astropy_table_read(name: str, tmp_path) -> None:
    """``Table.read("x.parquet")`` (no format, no helper): values, units, descriptions, UCDs.

    Before astropy's header was written, astropy 8 computed string widths itself and failed on the
    first NULL (``TypeError: object of type 'NoneType' has no len()``).
    """
    from astropy import units as u

    spec = IVOA_TABLES[name]
    frame = spec_frame(spec, n=15, seed=11)
    if "target_name" in spec.names:
        frame["target_name"] = [TARGETS[i % len(TARGETS)] if i % 4 else None for i in range(15)]
    table = conform(frame, spec)
    path = tmp_path / f"{name}.parquet"
    write_parquet(table, spec, path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = Table.read(str(path))
    assert got.colnames == spec.names and len(got) == 15
    assert got.meta["name"] == spec.name and got.meta["description"] == spec.description
    for column in spec.columns:
        col = got[column.name]
        assert col.unit == (u.Unit(column.unit) if column.unit else None), column.name
        assert (col.description or "") == column.description
        assert col.meta.get("ucd", "") == column.ucd and col.meta.get("utype", "") == column.utype
        want = table.column(column.name).to_pylist()
        if column.datatype in ("char", "unicodeChar", "region", "moc"):
            # every non-NULL string whole (the width is the longest value, counted in characters)
            assert [v for v, w in zip(col.tolist(), want, strict=True) if w is not None] == [
                w for w in want if w is not None
            ], column.name
        elif not column.is_string:
            np.testing.assert_array_equal(
                np.asarray(col, dtype=float), np.array([np.nan if w is None else w for w in want], dtype=float)
            )


def test_astropy_header_widths_count_characters(tmp_path) -> None:
    """``table::len::`` is the longest value in characters (UTF-8 bytes would over-count), at least 1."""
    from models.parquet import astropy_metadata

    frame = obsplan_frame(3)
    frame["target_name"] = ["\u03b1 Cen", None, "Sgr A*"]  # "α Cen": 5 characters, 6 bytes
    table = conform(frame, OBSPLAN)
    meta = astropy_metadata(table, OBSPLAN)
    assert meta[b"table::len::target_name"] == b"6"
    assert meta[b"table::len::pol_states"] == b"1"  # all NULL
    assert b"table_meta_yaml" in meta and b"unit: d" in meta[b"table_meta_yaml"]
    path = tmp_path / "o.parquet"
    write_parquet(table, OBSPLAN, path)
    assert Table.read(str(path))["target_name"].tolist()[::2] == ["\u03b1 Cen", "Sgr A*"]
