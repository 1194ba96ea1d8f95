"""The generated DaCHS resource descriptor (no services needed): structure, ObsLocTAP metadata, and
the rowmaker's region code agreeing with the plain-PostgreSQL load kit."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd

from models.dachs import ROWMAKER_STCS_CODE, resource_descriptor, userconfig_rd, write_dachs_rd
from models.regions import stcs_to_pgsphere
from models.tables import IVOA_TABLES

# Real s_region values of the replayed inputs: a NuSTAR field, an INTEGRAL fully-coded field and an
# XMM-Newton EPIC footprint (the latter as published in the 2025-09-04 snapshot).
REGIONS = [
    "Circle ICRS 274.849040 -17.104390 0.100000",
    "Circle ICRS 276.651591 -21.237252 9.590617",
    "Circle ICRS 359.990000 89.000000 0.500000",
    "Polygon ICRS 83.924352 22.035466 83.855039 21.838592 83.633333 21.764444 83.411627 21.838592 "
    "83.342314 22.035466 83.633333 22.264444",
    None,
]


def _rd() -> ET.Element:
    return ET.fromstring(resource_descriptor(list(IVOA_TABLES.values())).encode())


def test_rowmaker_code_matches_load_kit_polygons() -> None:
    scope: dict = {}
    exec(compile(ROWMAKER_STCS_CODE, "rowmaker", "exec"), scope)  # noqa: S102 - our own generated code
    literals = stcs_to_pgsphere(pd.Series(REGIONS, dtype=object))
    for text, literal in zip(REGIONS, literals, strict=True):
        vertices = scope["stcs_vertices"](text)
        if text is None:
            assert vertices is None and literal is None
            continue
        expected = np.array([float(x) for x in re.findall(r"(-?\d+\.\d+)d", literal)]).reshape(-1, 2)
        assert np.allclose(np.array(vertices), expected, atol=1.5e-6, rtol=0), text
    assert len(scope["stcs_vertices"](REGIONS[0])) == 16


def test_obsplan_table_metadata() -> None:
    table = _rd().find("table[@id='obsplan']")
    assert table is not None
    assert table.find("meta[@name='utype']").text == "ivo://ivoa.net/std/obsloctap#table-1.0"
    cols = {c.get("name"): c for c in table.findall("column")}
    assert list(cols) == IVOA_TABLES["obsplan"].names and len(cols) == 26
    for name in ("t_planning", "category", "priority", "execution_status", "tracking_type"):
        assert cols[name].get("ucd") is None, name
    assert not [c for c in cols.values() if (c.get("utype") or "").startswith("obscore:")]
    assert cols["s_region"].get("type") == "spoly"
    options = [o.text for o in cols["execution_status"].find("values").findall("option")]
    assert options == ["Planned", "Scheduled", "Unscheduled", "Performed", "Aborted"]


def test_obscore_and_extensions() -> None:
    rd = _rd()
    core = rd.find("table[@id='obscore']")
    assert core.get("primary") == "obs_publisher_did"
    assert core.find("column[@name='obs_id']").get("utype") == "obscore:DataID.observationID"
    props = {p.get("key"): p.text for p in core.findall("property")}
    assert props["supportsModelURI"] == "ivo://ivoa.net/std/obscore#core-1.1"
    for ext in ("obscore_radio", "obscore_hea"):
        table = rd.find(f"table[@id='{ext}']")
        assert table.find("foreignKey").get("inTable") == "obscore"
        names = {c.get("name") for c in table.findall("column")}
        assert names & set(IVOA_TABLES["obscore"].names) == {"obs_publisher_did"}
    sources = [d.find("sources").text for d in rd.findall("data")]
    assert sources == [f"../../{n}.vot" for n in IVOA_TABLES]


def test_examples_and_written_files(tmp_path) -> None:  # noqa: ANN001
    examples = ET.fromstring(userconfig_rd().encode()).findall("STREAM/meta[@name='_example']")
    assert len(examples) == 5
    assert "INTERSECTS(s_region, CIRCLE(" in examples[3].text
    written = write_dachs_rd(tmp_path / "tap", list(IVOA_TABLES.values()))
    assert written == ["tap/dachs/q.rd", "tap/dachs/userconfig.rd"]
    assert (tmp_path / "tap/dachs/q.rd").read_text() == resource_descriptor(list(IVOA_TABLES.values()))
