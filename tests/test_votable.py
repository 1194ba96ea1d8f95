"""VOTable writer: round trips through astropy, an independent BINARY2 decoder and STILTS votlint."""

from __future__ import annotations

import base64
import io
import pathlib
import re
import struct
import threading
import time
import warnings
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from astropy.io.votable import parse
from astropy.io.votable.ucd import check_ucd

import models.votable as mv
from models import IVOA_TABLES, OBSCORE, OBSPLAN, Column, TableSpec
from models.arrow import arrow_schema, conform
from models.regions import circle_stcs, polygon_stcs
from tests.votlint import votlint

NS = {"v": "http://www.ivoa.net/xml/VOTable/v1.3"}
SERIALIZATIONS = ("binary2", "tabledata")

TARGETS = ["Cygnus X-1 – état", "η Carinae", 'M31 & <M32> "core"', "𝔐 astral 𝔑", "Sgr A*", "3C 273"]
LONG_URL = "https://archive.example.org/datalink?ID=ivo://example/obs&chunk=" + "x" * 2100 + "&sig=<a>"


# --------------------------------------------------------------------------------------------
# Frames
# --------------------------------------------------------------------------------------------


def _values_for(column: Column, n: int, rng: np.random.Generator) -> pd.Series:
    if column.values is not None:
        return pd.Series([column.values[i % len(column.values)] for i in range(n)], dtype=object)
    if column.name == "target_name" or column.unicode:
        return pd.Series([TARGETS[i % len(TARGETS)] for i in range(n)], dtype=object)
    if column.name == "access_url":
        return pd.Series([f"{LONG_URL}&i={i}" for i in range(n)], dtype=object)
    if column.datatype == "region":
        circles = circle_stcs(rng.uniform(0, 360, n), rng.uniform(-89, 89, n), rng.uniform(0.01, 1, n))
        ra0 = rng.uniform(0, 350, n)[:, None]
        dec0 = rng.uniform(-80, 80, n)[:, None]
        polygons = polygon_stcs(ra0 + np.array([0.0, 0.2, 0.2, 0.0]), dec0 + np.array([0.0, 0.0, 0.2, 0.2]))
        return circles.where(np.arange(n) % 2 == 0, polygons)
    if column.datatype == "timestamp":
        return pd.Series(pd.date_range("2023-12-31 23:59:59", periods=n, freq="29h", tz="UTC"))
    if column.datatype == "double":
        lo = column.minimum if column.minimum is not None else -1e3
        hi = column.maximum if column.maximum is not None else 1e5
        return pd.Series(rng.uniform(lo, hi, n) + (1e-12 if column.exclusive_min else 0.0))
    if column.datatype in ("int", "long"):
        hi = 2**31 - 1 if column.datatype == "int" else 2**53
        values = rng.integers(0, hi, n)
        values[0] = hi  # extreme values survive the byte layout
        return pd.Series(values).astype("Int64")
    return pd.Series([f"{column.name}_{i:04d}" for i in range(n)], dtype=object)


def spec_frame(spec: TableSpec, n: int = 12, seed: int = 0) -> pd.DataFrame:
    """A frame for any spec: every nullable column has NULLs (in different rows) and values."""
    rng = np.random.default_rng(seed)
    data = {}
    for j, column in enumerate(spec.columns):
        values = _values_for(column, n, rng)
        if column.null_rule != "not-null":
            values = values.astype(object)
            values[(np.arange(n) + j) % 3 == 0] = None
        data[column.name] = values
    return pd.DataFrame(data)


def obsplan_frame(n: int = 40, seed: int = 1) -> pd.DataFrame:
    """Plausible NuSTAR-like plan rows: STC-S circles and polygons, MJD times, X-ray band."""
    rng = np.random.default_rng(seed)
    status = np.array(["Planned", "Scheduled", "Performed", "Unscheduled", "Aborted"])[np.arange(n) % 5]
    timed = np.isin(status, ["Scheduled", "Performed"])
    t_min = 60400 + np.arange(n) * 0.8 + rng.uniform(0, 0.1, n)
    exp = rng.uniform(2e4, 1e5, n)
    ra = rng.uniform(0, 360, n)
    dec = rng.uniform(-85, 85, n)
    circles = circle_stcs(ra, dec, 0.1)
    polygons = polygon_stcs(ra[:, None] + np.array([0, 0.2, 0.2, 0]), dec[:, None] + np.array([0, 0, 0.2, 0.2]))
    frame = pd.DataFrame(
        {
            "t_planning": 60390.5 + np.arange(n) * 0.01,
            "target_name": [TARGETS[i % len(TARGETS)] for i in range(n)],
            "obs_id": [f"309010{i:05d}" for i in range(n)],
            "obs_collection": "NuSTAR",
            "s_ra": ra,
            "s_dec": dec,
            "s_fov": 0.2,
            "s_region": circles.where(np.arange(n) % 2 == 0, polygons),
            "s_resolution": 58.0,
            "t_min": np.where(timed | (status == "Planned"), t_min, np.nan),
            "t_max": np.where(timed | (status == "Planned"), t_min + exp / 86400, np.nan),
            "t_exptime": np.where(status == "Performed", exp, np.nan),
            "t_resolution": 2e-6,
            "em_min": 1.55e-11,
            "em_max": 4.13e-10,
            "em_res_power": np.nan,
            "o_ucd": "phot.count",
            "pol_states": None,
            "pol_xel": pd.array([None] * n, dtype="Int64"),
            "facility_name": "NuSTAR",
            "instrument_name": "FPMA/FPMB",
            "t_plan_exptime": exp,
            "category": "Fixed",
            "priority": 1,
            "execution_status": status,
            "tracking_type": "Sidereal",
        }
    )
    frame["target_name"] = frame["target_name"].where(np.arange(n) != 3, None)
    frame["s_region"] = frame["s_region"].where(np.arange(n) != 7, None)
    return frame


# --------------------------------------------------------------------------------------------
# Independent readers
# --------------------------------------------------------------------------------------------


def parse_strict(content: bytes, spec: TableSpec):
    """astropy parse with verify="exception"; the only tolerated complaint is a spec UCD astropy rejects.

    The HEA draft's UCDs (``instr.detection``, ``meta.ref.pdgid``) are not UCD1+ words: astropy
    reports W06 for them whatever the writer does. Anything else fails the test.
    """
    bad_ucds = {c.ucd for c in spec.columns if c.ucd and not check_ucd(c.ucd, True, True)}
    if not bad_ucds:
        return parse(io.BytesIO(content), verify="exception")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        vot = parse(io.BytesIO(content), verify="warn")
    messages = [str(w.message) for w in caught]
    assert messages, "expected astropy W06 for the spec's non-UCD1+ UCDs"
    for message in messages:
        assert "W06" in message and any(u in message for u in bad_ucds), message
    return vot


def astropy_columns(content: bytes, spec: TableSpec) -> dict[str, list]:
    """Column values as astropy reads them, masked cells as None."""
    array = parse_strict(content, spec).get_first_table().array
    out = {}
    for name in spec.names:
        data = array[name].data.tolist()
        mask = np.ma.getmaskarray(array[name]).tolist()
        out[name] = [None if m else v for v, m in zip(data, mask, strict=True)]
    return out


def decode_binary2(content: bytes, spec: TableSpec) -> list[list]:
    """Independent, row-by-row BINARY2 decoder (struct based) that also checks null-cell bytes."""
    stream = re.search(rb'<STREAM encoding="base64">(.*?)</STREAM>', content, re.S)
    assert stream is not None
    raw = base64.b64decode(b"".join(stream.group(1).split()), validate=True)
    pos = 0
    rows = []
    nflags = (len(spec.columns) + 7) // 8
    formats = {"double": ">d", "int": ">i", "long": ">q"}
    while pos < len(raw):
        flags = raw[pos : pos + nflags]
        pos += nflags
        row = []
        for k, column in enumerate(spec.columns):
            null = bool(flags[k // 8] & (0x80 >> (k % 8)))
            if column.is_string:
                (count,) = struct.unpack_from(">I", raw, pos)
                pos += 4
                width = 2 if column.votable_datatype == "unicodeChar" else 1
                cell = raw[pos : pos + count * width]
                pos += count * width
                if null:
                    assert count == 0, f"{column.name}: null string must have count 0"
                    row.append(None)
                else:
                    row.append(cell.decode("utf-16-be" if width == 2 else "ascii"))
            else:
                fmt = formats[column.datatype]
                (value,) = struct.unpack_from(fmt, raw, pos)
                cell = raw[pos : pos + struct.calcsize(fmt)]
                pos += struct.calcsize(fmt)
                if null:
                    if column.datatype == "double":
                        assert np.isnan(value), f"{column.name}: null double must be NaN"
                    else:
                        assert cell == b"\0" * len(cell), f"{column.name}: null int must be zero bytes"
                    row.append(None)
                else:
                    row.append(value)
        rows.append(row)
    return rows


def expected_columns(table: pa.Table, spec: TableSpec) -> dict[str, list]:
    """What a reader should see: timestamps as DALI strings, everything else as in Arrow."""
    out = {}
    for column in spec.columns:
        values = table.column(column.name).to_pylist()
        if column.datatype == "timestamp":
            values = [None if v is None else v.strftime("%Y-%m-%dT%H:%M:%S") for v in values]
        out[column.name] = values
    return out


def fields_of(content: bytes) -> list[dict[str, str]]:
    root = ET.fromstring(content)
    return [dict(f.attrib) for f in root.iterfind(".//v:FIELD", NS)]


# --------------------------------------------------------------------------------------------
# Round trips
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("serialization", SERIALIZATIONS)
@pytest.mark.parametrize("name", list(IVOA_TABLES))
def test_round_trip_values_through_astropy(name: str, serialization: str) -> None:
    spec = IVOA_TABLES[name]
    table = conform(spec_frame(spec), spec)
    content = mv.votable_bytes(table, spec, serialization=serialization)
    got = astropy_columns(content, spec)
    want = expected_columns(table, spec)
    for column in spec.columns:
        if column.is_string:
            # astropy ignores null flags on strings (astropy issue 8995): null reads as "".
            assert got[column.name] == ["" if v is None else v for v in want[column.name]], column.name
        else:
            assert got[column.name] == want[column.name], column.name
    assert any(v is None for v in want["s_ra" if "s_ra" in want else spec.names[1]])


@pytest.mark.parametrize("name", list(IVOA_TABLES))
def test_binary2_null_flags_and_bytes(name: str) -> None:
    spec = IVOA_TABLES[name]
    table = conform(spec_frame(spec, n=17, seed=3), spec)
    rows = decode_binary2(mv.votable_bytes(table, spec), spec)
    want = expected_columns(table, spec)
    assert len(rows) == table.num_rows
    for k, column in enumerate(spec.columns):
        assert [r[k] for r in rows] == want[column.name], column.name
        if column.null_rule != "not-null":
            assert None in want[column.name], f"frame should have a null in {column.name}"


@pytest.mark.parametrize("name", list(IVOA_TABLES))
def test_tabledata_nulls_are_empty_td(name: str) -> None:
    spec = IVOA_TABLES[name]
    table = conform(spec_frame(spec, n=6), spec)
    content = mv.votable_bytes(table, spec, serialization="tabledata")
    root = ET.fromstring(content)
    rows = root.findall(".//v:TR", NS)
    assert len(rows) == 6
    for r, tr in enumerate(rows):
        cells = tr.findall("v:TD", NS)
        assert len(cells) == len(spec.columns)
        for column, td in zip(spec.columns, cells, strict=True):
            value = table.column(column.name)[r].as_py()
            if value is None:
                assert td.text is None, (column.name, td.text)
            elif column.datatype in ("int", "long"):
                assert int(td.text) == value
            elif column.datatype == "double":
                assert float(td.text) == value
            elif column.datatype != "timestamp":
                assert td.text == value


def test_non_ascii_and_long_urls_survive() -> None:
    spec = OBSCORE
    frame = spec_frame(spec, n=8)
    frame["target_name"] = [*TARGETS, None, "Ω Cen"]
    table = conform(frame, spec)
    for serialization in SERIALIZATIONS:
        content = mv.votable_bytes(table, spec, serialization=serialization)
        got = astropy_columns(content, spec)
        assert got["target_name"] == [*TARGETS, "", "Ω Cen"]
        urls = frame["access_url"].tolist()
        assert got["access_url"] == ["" if u is None else u for u in urls]
        assert sum(len(u) > 2000 for u in urls if u) >= 4


@pytest.mark.parametrize("name", list(IVOA_TABLES))
def test_field_metadata_matches_spec(name: str) -> None:
    spec = IVOA_TABLES[name]
    content = mv.votable_bytes(conform(spec_frame(spec, n=3), spec), spec)
    fields = fields_of(content)
    assert [f["name"] for f in fields] == spec.names
    for column, attrs in zip(spec.columns, fields, strict=True):
        want = {
            "name": column.name,
            "datatype": column.votable_datatype,
            "arraysize": column.votable_arraysize,
            "unit": column.unit or None,
            "ucd": column.ucd or None,
            "utype": column.utype or None,
            "xtype": column.votable_xtype,
            "ref": column.ref,
        }
        assert attrs == {k: v for k, v in want.items() if v}, column.name
    table = parse_strict(content, spec).get_first_table()
    assert table.name == spec.name
    assert table.description == spec.description
    assert table.utype == (spec.utype or None)
    for column, field in zip(spec.columns, table.fields, strict=True):
        assert (field.ucd or "") == column.ucd
        assert (field.utype or "") == column.utype
        assert (field.description or "") == column.description
        assert (str(field.unit) if field.unit is not None else "") == column.unit


def test_obsplan_field_details() -> None:
    content = mv.votable_bytes(conform(obsplan_frame(5), OBSPLAN), OBSPLAN)
    by_name = {f["name"]: f for f in fields_of(content)}
    assert by_name["target_name"]["datatype"] == "unicodeChar"
    assert by_name["target_name"]["arraysize"] == "*"
    assert by_name["s_region"] == {
        "name": "s_region",
        "datatype": "char",
        "arraysize": "*",
        "ucd": "pos.outline;obs.field",
        "utype": "Char.SpatialAxis.Coverage.Support.Area",
        "xtype": "adql:REGION",
    }
    assert by_name["t_min"]["ref"] == "mjd_utc" and by_name["s_ra"]["ref"] == "icrs"
    assert "arraysize" not in by_name["priority"]


def test_systems_declared_before_use_and_only_when_used() -> None:
    content = mv.votable_bytes(conform(obsplan_frame(5), OBSPLAN), OBSPLAN)
    resource = ET.fromstring(content).find("v:RESOURCE", NS)
    tags = [child.tag.split("}")[1] for child in resource]
    assert tags[:4] == ["INFO", "COOSYS", "TIMESYS", "TABLE"]
    vot = parse_strict(content, OBSPLAN)
    res = vot.resources[0]
    assert [(c.ID, c.system) for c in res.coordinate_systems] == [("icrs", "ICRS")]
    (ts,) = res.time_systems
    assert (ts.ID, ts.timeorigin, ts.timescale, ts.refposition) == ("mjd_utc", "MJD-origin", "UTC", "TOPOCENTER")
    refs = {f.name: f.ref for f in vot.get_first_table().fields}
    assert refs["s_ra"] == refs["s_dec"] == "icrs"
    assert refs["t_planning"] == refs["t_min"] == refs["t_max"] == "mjd_utc"
    # ivoa.obscore_hea has no positions or MJD columns: no COOSYS/TIMESYS at all.
    hea = IVOA_TABLES["obscore_hea"]
    hea_content = mv.votable_bytes(conform(spec_frame(hea, n=2), hea), hea)
    assert b"<COOSYS" not in hea_content and b"<TIMESYS" not in hea_content


def test_query_status_infos_and_description() -> None:
    infos = {"snapshot_date": "2026-05-01", "provenance": 'NuSTAR "as-flown" & <plan>', "code_version": "0.1.0"}
    content = mv.votable_bytes(
        conform(obsplan_frame(3), OBSPLAN), OBSPLAN, infos=infos, description="voharvest snapshot & test"
    )
    res = parse_strict(content, OBSPLAN).resources[0]
    assert res.type == "results"
    assert [(i.name, i.value) for i in res.infos] == [("QUERY_STATUS", "OK"), *infos.items()]
    assert res.description == "voharvest snapshot & test"
    assert parse_strict(content, OBSPLAN).get_first_table().utype == "ivo://ivoa.net/std/obsloctap#table-1.0"
    with pytest.raises(ValueError, match="QUERY_STATUS"):
        mv.votable_bytes(conform(obsplan_frame(3), OBSPLAN), OBSPLAN, infos={"QUERY_STATUS": "ERROR"})


# --------------------------------------------------------------------------------------------
# votlint
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("serialization", SERIALIZATIONS)
@pytest.mark.parametrize("name", list(IVOA_TABLES))
def test_votlint_clean(name: str, serialization: str, tmp_path) -> None:
    spec = IVOA_TABLES[name]
    frame = obsplan_frame() if name == "obsplan" else spec_frame(spec, n=30)
    path = tmp_path / f"{name}.{serialization}.vot"
    mv.write_votable(
        conform(frame, spec), spec, path, serialization=serialization, infos={"snapshot_date": "2026-05-01"}
    )
    report = votlint(path)
    assert report.errors == [] and report.warnings == [], report.raw
    assert report.messages == (), report.raw


def test_votlint_sees_broken_files(tmp_path) -> None:
    """The helper must not report a clean file when votlint complains."""
    content = mv.votable_bytes(conform(obsplan_frame(3), OBSPLAN), OBSPLAN, serialization="tabledata")
    broken = content.replace(b'ref="mjd_utc"', b'ref="nowhere"', 1).replace(b"<TD>1</TD>", b"<TD>one</TD>", 1)
    path = tmp_path / "broken.vot"
    path.write_bytes(broken)
    report = votlint(path)
    assert any("nowhere" in m.message for m in report.errors), report.raw
    assert any("one" in m.message for m in report.errors), report.raw


# --------------------------------------------------------------------------------------------
# Byte-level properties
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("serialization", SERIALIZATIONS)
def test_deterministic_and_file_equals_bytes(serialization: str, tmp_path) -> None:
    table = conform(obsplan_frame(), OBSPLAN)
    first = mv.votable_bytes(table, OBSPLAN, serialization=serialization, infos={"a": "b"})
    second = mv.votable_bytes(conform(obsplan_frame(), OBSPLAN), OBSPLAN, serialization=serialization, infos={"a": "b"})
    assert first == second
    path = tmp_path / "t.vot"
    mv.write_votable(table, OBSPLAN, path, serialization=serialization, infos={"a": "b"})
    assert path.read_bytes() == first


@pytest.mark.parametrize("serialization", SERIALIZATIONS)
def test_chunking_does_not_change_bytes(serialization: str, monkeypatch) -> None:
    table = conform(obsplan_frame(n=53), OBSPLAN)
    whole = mv.votable_bytes(table, OBSPLAN, serialization=serialization)
    for rows in (1, 5, 7, 19):
        monkeypatch.setattr(mv, "CHUNK_ROWS", rows)
        assert mv.votable_bytes(table, OBSPLAN, serialization=serialization) == whole, rows
    # Multi-chunk Arrow input (e.g. concatenated harvests) gives the same bytes too.
    halves = pa.concat_tables([table.slice(0, 20), table.slice(20)])
    assert halves.column(0).num_chunks == 2
    assert mv.votable_bytes(halves, OBSPLAN, serialization=serialization) == whole


def test_base64_lines_are_76_characters() -> None:
    content = mv.votable_bytes(conform(obsplan_frame(), OBSPLAN), OBSPLAN)
    body = re.search(rb'<STREAM encoding="base64">\n(.*?)</STREAM>', content, re.S).group(1)
    lines = body.split(b"\n")[:-1]
    assert len(lines) > 3
    assert {len(line) for line in lines[:-1]} == {76}
    assert 0 < len(lines[-1]) <= 76


@pytest.mark.parametrize(
    "texts",
    [
        ["plain", "", "η Carinae", "Cygnus X-1 – état", "𝔐𝔑 astral", "mixé 😀 end", "日本語"],
        ["only ascii", "", "x"],
        ["", ""],
    ],
)
def test_utf16be_matches_python_codec(texts: list[str]) -> None:
    arr = pa.array(texts, pa.string())
    offsets, data = mv._offsets_and_bytes(arr)
    new_offsets, encoded = mv.utf16be(offsets, data)
    want = [t.encode("utf-16-be") for t in texts]
    got = [encoded[a:b].tobytes() for a, b in zip(new_offsets[:-1], new_offsets[1:], strict=True)]
    assert got == want


def test_empty_table(tmp_path) -> None:
    empty = conform(obsplan_frame(0), OBSPLAN)
    assert empty.num_rows == 0
    for serialization in SERIALIZATIONS:
        path = tmp_path / f"empty.{serialization}.vot"
        mv.write_votable(empty, OBSPLAN, path, serialization=serialization)
        assert len(parse_strict(path.read_bytes(), OBSPLAN).get_first_table().array) == 0
        report = votlint(path)
        assert report.messages == (), report.raw


# --------------------------------------------------------------------------------------------
# Non-IVOA tables, special values, timestamps
# --------------------------------------------------------------------------------------------

HISTORY = TableSpec(
    name="history",
    schema="voharvest",
    description="Changes between snapshots",
    columns=(
        Column("snapshot", "timestamp", description="Snapshot time", null_rule="not-null"),
        Column("obs_id", "char", ucd="meta.id", null_rule="not-null"),
        Column("n_rows", "long", description="Rows in the snapshot"),
        Column("version", "int"),
        Column("score", "double", unit="s"),
        Column("t_intervals", "moc", description="Time MOC"),
        Column("note", "char", description="Free text", unicode=True),
    ),
)


def history_table() -> pa.Table:
    return pa.Table.from_arrays(
        [
            pa.array(
                pd.to_datetime(["2026-01-02T03:04:05Z", "2026-02-03T00:00:00Z", "1999-12-31T23:59:59Z"]),
                pa.timestamp("us", tz="UTC"),
            ),
            pa.array(["a", "b & <c>", "tab\there"]),
            pa.array([None, 2**62, -(2**62)], pa.int64()),
            pa.array([-(2**31), None, 2**31 - 1], pa.int32()),
            pa.array([float("nan"), float("inf"), float("-inf")]),  # non-null NaN/Inf are values
            pa.array(["t29/1-5 8", None, ""]),
            pa.array(["Straße\nzweite Zeile", None, "😀"]),
        ],
        schema=arrow_schema(HISTORY),
    )


@pytest.mark.parametrize("serialization", SERIALIZATIONS)
def test_non_ivoa_spec(serialization: str, tmp_path) -> None:
    table = history_table()
    path = tmp_path / f"history.{serialization}.vot"
    mv.write_votable(table, HISTORY, path, serialization=serialization)
    content = path.read_bytes()
    assert b"COOSYS" not in content and b"TIMESYS" not in content and b"utype" not in content
    vot = parse_strict(content, HISTORY)
    array = vot.get_first_table().array
    assert array["snapshot"].tolist() == ["2026-01-02T03:04:05", "2026-02-03T00:00:00", "1999-12-31T23:59:59"]
    assert array["obs_id"].tolist() == ["a", "b & <c>", "tab\there"]
    assert array["n_rows"].mask.tolist() == [True, False, False]
    assert array["n_rows"].data.tolist()[1:] == [2**62, -(2**62)]
    assert array["version"].mask.tolist() == [False, True, False]
    assert array["version"].data.tolist()[::2] == [-(2**31), 2**31 - 1]
    score = array["score"].data
    assert np.isnan(score[0]) and score[1] == np.inf and score[2] == -np.inf
    assert array["note"].tolist()[::2] == ["Straße\nzweite Zeile", "😀"]
    report = votlint(path)
    assert report.messages == (), report.raw
    if serialization == "binary2":
        rows = decode_binary2(content, HISTORY)
        assert [r[5] for r in rows] == ["t29/1-5 8", None, ""]  # null and empty string stay distinct
        assert [r[6] for r in rows] == ["Straße\nzweite Zeile", None, "😀"]
        assert np.isnan(rows[0][4])  # NaN value, not flagged null
    else:
        assert b"<TD>NaN</TD><TD>" in content and b"<TD>+Inf</TD>" in content and b"<TD>-Inf</TD>" in content
        # one row per line: a newline inside a cell is written as a character reference
        assert [line.startswith(b"<TR>") for line in content.splitlines() if b"<TD" in line] == [True] * 3


def test_fractional_seconds_are_kept(tmp_path) -> None:
    table = history_table()
    fractional = pa.array(
        pd.to_datetime(
            ["2026-01-02T03:04:05.250Z", "2026-01-02T03:04:06.000Z", "2026-01-02T03:04:07.000001Z"], format="ISO8601"
        ),
        pa.timestamp("us", tz="UTC"),
    )
    table = table.set_column(0, table.schema.field(0), fractional)
    for serialization in SERIALIZATIONS:
        path = tmp_path / f"frac.{serialization}.vot"
        mv.write_votable(table, HISTORY, path, serialization=serialization)
        got = parse_strict(path.read_bytes(), HISTORY).get_first_table().array["snapshot"].tolist()
        assert got == ["2026-01-02T03:04:05.250000", "2026-01-02T03:04:06.000000", "2026-01-02T03:04:07.000001"]
        assert votlint(path).messages == ()


# --------------------------------------------------------------------------------------------
# Refusals
# --------------------------------------------------------------------------------------------


def test_refuses_wrong_dtype() -> None:
    table = conform(obsplan_frame(4), OBSPLAN)
    i = OBSPLAN.names.index("priority")
    wrong = table.set_column(i, pa.field("priority", pa.int64()), pc_cast(table.column(i), pa.int64()))
    with pytest.raises(mv.SchemaMismatchError, match=r"'priority' has type int64, spec wants int32"):
        mv.votable_bytes(wrong, OBSPLAN)


def pc_cast(values: pa.ChunkedArray, target: pa.DataType) -> pa.ChunkedArray:
    return values.cast(target)


def test_refuses_missing_or_reordered_columns() -> None:
    table = conform(obsplan_frame(4), OBSPLAN)
    with pytest.raises(mv.SchemaMismatchError, match="conform"):
        mv.votable_bytes(table.drop_columns(["s_fov"]), OBSPLAN)
    with pytest.raises(mv.SchemaMismatchError, match="columns"):
        mv.votable_bytes(table.select(list(reversed(OBSPLAN.names))), OBSPLAN)


def test_refuses_null_in_not_null_column() -> None:
    table = conform(obsplan_frame(4), OBSPLAN)
    i = OBSPLAN.names.index("obs_id")
    with_null = table.set_column(i, table.schema.field(i), pa.array(["a", None, "c", "d"]))
    for serialization in SERIALIZATIONS:
        with pytest.raises(mv.SchemaMismatchError, match="1 null.*'obs_id'"):
            mv.votable_bytes(with_null, OBSPLAN, serialization=serialization)


def test_conform_refuses_missing_not_null_column() -> None:
    with pytest.raises(KeyError, match="obs_id"):
        conform(obsplan_frame(4).drop(columns=["obs_id"]), OBSPLAN)


def test_refuses_non_ascii_in_char_column() -> None:
    frame = obsplan_frame(4)
    frame.loc[2, "instrument_name"] = "Détecteur"
    with pytest.raises(mv.SchemaMismatchError, match=r"instrument_name row 2: non-ASCII text 'Détecteur'"):
        mv.votable_bytes(conform(frame, OBSPLAN), OBSPLAN)


def test_refuses_control_characters_in_tabledata() -> None:
    frame = obsplan_frame(4)
    frame.loc[1, "target_name"] = "bad\x01name"
    table = conform(frame, OBSPLAN)
    with pytest.raises(ValueError, match=r"'target_name' row 1: control character"):
        mv.votable_bytes(table, OBSPLAN, serialization="tabledata")
    # BINARY2 carries any character; astropy reads it back unchanged.
    got = astropy_columns(mv.votable_bytes(table, OBSPLAN), OBSPLAN)
    assert got["target_name"][1] == "bad\x01name"


def test_refuses_unknown_serialization_and_ref() -> None:
    table = conform(obsplan_frame(2), OBSPLAN)
    with pytest.raises(ValueError, match="serialization"):
        mv.votable_bytes(table, OBSPLAN, serialization="binary")  # type: ignore[arg-type]
    spec = TableSpec("t", "s", "d", (Column("x", "double", ref="galactic"),))
    with pytest.raises(ValueError, match="galactic"):
        mv.votable_bytes(conform(pd.DataFrame({"x": [1.0]}), spec), spec)


def test_chunking_with_rows_smaller_than_a_base64_line(monkeypatch) -> None:
    spec = TableSpec("tiny", "s", "one int per row", (Column("k", "int"),))
    table = pa.Table.from_arrays(
        [pa.array([None if i % 4 == 0 else i for i in range(101)], pa.int32())], schema=arrow_schema(spec)
    )
    whole = mv.votable_bytes(table, spec)
    for rows in (1, 3, 11, 12):  # 5-byte rows: chunks of 5..60 bytes around the 57-byte base64 block
        monkeypatch.setattr(mv, "CHUNK_ROWS", rows)
        assert mv.votable_bytes(table, spec) == whole, rows
    decoded = decode_binary2(whole, spec)
    assert [r[0] for r in decoded] == table.column(0).to_pylist()


def test_failed_write_leaves_no_partial_file(tmp_path) -> None:
    frame = obsplan_frame(70)
    frame.loc[66, "target_name"] = "bad\x02name"  # found while streaming, after the first chunk
    table = conform(frame, OBSPLAN)
    path = tmp_path / "obsplan.vot"
    path.write_bytes(b"previous snapshot")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(mv, "CHUNK_ROWS", 32)
        with pytest.raises(ValueError, match="row 66: control character"):
            mv.write_votable(table, OBSPLAN, path, serialization="tabledata")
    assert path.read_bytes() == b"previous snapshot"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["obsplan.vot"]
    with pytest.raises(mv.SchemaMismatchError):
        mv.write_votable(table.drop_columns(["s_fov"]), OBSPLAN, tmp_path / "new.vot")
    assert not (tmp_path / "new.vot").exists()


# --------------------------------------------------------------------------------------------
# Byte identity: with the writer before issue 13 (golden stream) and with an independent encoder
# --------------------------------------------------------------------------------------------

#: BASE64 STREAM text written for ``golden_table()`` by models/votable.py of commit b9dd800 (before
#: the issue-13 rewrite of the BINARY2 encoder), see tests/data/votable/PROVENANCE.md.
GOLDEN_STREAM = pathlib.Path(__file__).parent / "data" / "votable" / "binary2_stream_b9dd800.b64"

GOLDEN_SPEC = TableSpec(
    name="golden",
    schema="test",
    description="every kind of BINARY2 cell",
    columns=(
        Column("d", "double"),
        Column("s", "char"),
        Column("k", "int", null_rule="not-null"),
        Column("u", "char", unicode=True),
        Column("i", "int"),
        Column("l", "long"),
        Column("t", "timestamp"),
        Column("r", "region"),
        Column("e", "char"),
        Column("z", "double"),
    ),
)


def _masked(values: pa.Array, null: np.ndarray) -> pa.Array:
    """``values`` with the ``null`` rows flagged null while their bytes stay (Arrow leaves them undefined)."""
    validity = pa.py_buffer(np.packbits(~null, bitorder="little").tobytes())
    return pa.Array.from_buffers(values.type, len(values), [validity, *values.buffers()[1:]], int(null.sum()))


def golden_table(n: int = 300) -> pa.Table:
    """Ten columns (two flag bytes) of every cell kind, from exact arithmetic only (no RNG, no libm).

    Null slots keep non-empty strings and non-zero numbers underneath, which must not leak into the
    output; doubles include -0.0, a subnormal and extremes; integers their limits.
    """
    i = np.arange(n)
    d = i * 0.37 - 50.125
    d[5::97], d[6::97], d[7::97], d[8::97] = 1e300, -0.0, 5e-324, -1.5e-300
    k = (i * 7919 % 2**31).astype(np.int32)
    k[0], k[1] = 2**31 - 1, -(2**31)
    ints = (i * 104729 % 2**32 - 2**31).astype(np.int32)
    longs = i.astype(np.int64) * (2**40 + 3) - 2**62
    longs[2], longs[3] = 2**63 - 1, -(2**63)
    words = ["", "a", 'M31 & <M32> "core"', "x" * 57, "line\nbreak", "tab\there", "3C 273"]
    texts = [words[j % 7] + ("" if j % 3 else str(j)) for j in range(n)]
    unicode_words = ["Cygnus X-1 – état", "η Carinae", "𝔐 astral 𝔑", "", "日本語", "mixé 😀 end", "plain"]
    times = np.datetime64("2023-12-31T23:59:59", "us") + i * np.timedelta64(29 * 3600, "s")
    regions = [
        f"Circle ICRS {j * 1.25 % 360} {j * 0.5 % 180 - 90} 0.1" if j % 2 else f"Polygon ICRS 1 2 3 4 5 {j}"
        for j in range(n)
    ]
    arrays = [
        _masked(pa.array(d), i % 7 == 0),
        _masked(pa.array(texts, pa.string()), i % 4 == 1),
        pa.array(k),
        _masked(pa.array([unicode_words[j % 7] for j in range(n)], pa.string()), i % 5 == 2),
        _masked(pa.array(ints), i % 5 == 1),
        _masked(pa.array(longs), i % 6 == 2),
        _masked(pa.array(times, pa.timestamp("us", tz="UTC")), i % 4 == 3),
        pa.array([None if j % 9 == 4 else r for j, r in enumerate(regions)], pa.string()),
        pa.nulls(n, pa.string()),
        pa.nulls(n, pa.float64()),
    ]
    return pa.Table.from_arrays(arrays, schema=arrow_schema(GOLDEN_SPEC))


def stream_text(content: bytes) -> bytes:
    """The text inside ``<STREAM encoding="base64">`` (newlines included)."""
    match = re.search(rb'<STREAM encoding="base64">\n(.*?)</STREAM>', content, re.S)
    assert match is not None
    return match.group(1)


def reference_binary2(table: pa.Table, spec: TableSpec) -> bytes:
    """BINARY2 STREAM text built row by row with ``struct`` and ``base64.encodebytes`` (76-character lines).

    Independent of the writer: null flags bit by bit, NaN / zero bytes under null numbers, a zero
    count under null strings, UTF-16BE for unicodeChar, DALI timestamps (microseconds only when a
    value has them).
    """
    formats = {"double": ">d", "int": ">i", "long": ">q"}
    columns = [table.column(c.name).to_pylist() for c in spec.columns]
    out = bytearray()
    for r in range(table.num_rows):
        flags = bytearray((len(spec.columns) + 7) // 8)
        cells = b""
        for k, (column, values) in enumerate(zip(spec.columns, columns, strict=True)):
            value = values[r]
            if value is None:
                flags[k // 8] |= 0x80 >> (k % 8)
            if column.is_string:
                if value is None:
                    text = ""
                elif column.datatype == "timestamp":
                    fraction = any(v is not None and v.microsecond for v in values)
                    text = value.strftime("%Y-%m-%dT%H:%M:%S.%f" if fraction else "%Y-%m-%dT%H:%M:%S")
                else:
                    text = value
                if column.votable_datatype == "unicodeChar":
                    encoded = text.encode("utf-16-be")
                    cells += struct.pack(">I", len(encoded) // 2) + encoded
                else:
                    cells += struct.pack(">I", len(text)) + text.encode("ascii")
            elif value is None:
                cells += struct.pack(formats[column.datatype], float("nan") if column.datatype == "double" else 0)
            else:
                cells += struct.pack(formats[column.datatype], value)
        out += flags + cells
    return base64.encodebytes(bytes(out))


def test_binary2_stream_same_as_before_issue_13(tmp_path, monkeypatch) -> None:
    table = golden_table()
    golden = GOLDEN_STREAM.read_bytes()
    assert reference_binary2(table, GOLDEN_SPEC) == golden  # the old writer agreed with the reference
    assert stream_text(mv.votable_bytes(table, GOLDEN_SPEC)) == golden
    path = tmp_path / "golden.vot"
    mv.write_votable(table, GOLDEN_SPEC, path)
    assert path.read_bytes() == mv.votable_bytes(table, GOLDEN_SPEC)
    halves = pa.concat_tables([table.slice(0, 101), table.slice(101)])
    for rows in (1, 7, 64, 299):
        monkeypatch.setattr(mv, "CHUNK_ROWS", rows)
        assert stream_text(mv.votable_bytes(halves, GOLDEN_SPEC)) == golden, rows
    # a slice starting inside a validity byte and inside a base64 line gives the slice's rows
    part = table.slice(13, 150)
    assert stream_text(mv.votable_bytes(part, GOLDEN_SPEC)) == reference_binary2(part, GOLDEN_SPEC)


@pytest.mark.parametrize("name", list(IVOA_TABLES))
def test_binary2_stream_matches_reference_encoder(name: str) -> None:
    spec = IVOA_TABLES[name]
    frame = obsplan_frame(61) if name == "obsplan" else spec_frame(spec, n=23, seed=5)
    table = conform(frame, spec)
    assert stream_text(mv.votable_bytes(table, spec)) == reference_binary2(table, spec)
    assert stream_text(mv.votable_bytes(history_table(), HISTORY)) == reference_binary2(history_table(), HISTORY)


class SlowWriter(io.BytesIO):
    def write(self, block) -> int:  # type: ignore[override]
        time.sleep(0.002)
        return super().write(block)


def test_binary2_reused_buffers_and_base64_fallback(tmp_path, monkeypatch) -> None:
    """Files, file objects and ``votable_bytes`` agree with the golden stream whatever the chunking,
    and with OpenSSL's or binascii's base64 (the writer falls back to binascii without libcrypto)."""
    table = golden_table()
    golden = GOLDEN_STREAM.read_bytes()
    openssl = mv._openssl_base64
    for rows in (3, 40, 16_384):
        monkeypatch.setattr(mv, "CHUNK_ROWS", rows)
        for encoder in (openssl, lambda: None):
            monkeypatch.setattr(mv, "_openssl_base64", encoder)
            path = tmp_path / "golden.vot"
            mv.write_votable(table, GOLDEN_SPEC, path)  # one line buffer refilled for every chunk
            handle = SlowWriter()  # the encoding threads run ahead as far as they may while it sleeps
            mv.write_votable(table, GOLDEN_SPEC, handle)
            blocks = list(mv.iter_votable(table, GOLDEN_SPEC))  # every block kept: no buffer reused
            assert stream_text(path.read_bytes()) == golden, rows
            assert handle.getvalue() == path.read_bytes() == b"".join(blocks), rows


def test_openssl_base64_is_standard_base64() -> None:
    encode = mv._openssl_base64()
    if encode is None:
        pytest.skip("libcrypto not loadable here: the writer uses binascii")
    rng = np.random.default_rng(7)
    for size in (0, 1, 2, 3, 56, 57, 58, 57 * 1024 + 5):
        data = rng.integers(0, 256, size, dtype=np.uint8)
        out = np.zeros(size // 3 * 4 + 5, dtype=np.uint8)
        written = encode(out.ctypes.data, data.ctypes.data, size)
        assert out[:written].tobytes() == base64.b64encode(data.tobytes()), size


def test_binary2_failure_mid_stream_leaves_no_file_and_no_thread(tmp_path, monkeypatch) -> None:
    table = golden_table()
    encode = mv._Binary2Layout.encode
    calls = []

    def failing(self, chunk):  # noqa: ANN001, ANN202
        calls.append(chunk.num_rows)
        if len(calls) == 5:
            raise MemoryError("chunk 5")
        return encode(self, chunk)

    monkeypatch.setattr(mv, "CHUNK_ROWS", 20)
    monkeypatch.setattr(mv._Binary2Layout, "encode", failing)
    path = tmp_path / "golden.vot"
    with pytest.raises(MemoryError, match="chunk 5"):
        mv.write_votable(table, GOLDEN_SPEC, path)
    assert list(tmp_path.iterdir()) == []
    assert not [t for t in threading.enumerate() if t.name == "votable-prefetch"]


def test_binary2_writer_failure_stops_the_encoding_threads(monkeypatch) -> None:
    class Full(io.BytesIO):
        def write(self, block) -> int:  # type: ignore[override]
            if self.tell() > 2000:
                raise OSError(28, "No space left on device")
            return super().write(block)

    monkeypatch.setattr(mv, "CHUNK_ROWS", 5)
    with pytest.raises(OSError, match="No space"):
        mv.write_votable(golden_table(), GOLDEN_SPEC, Full())
    assert not [t for t in threading.enumerate() if t.name == "votable-prefetch"]
