"""The generated DaCHS resource descriptor (no services needed): structure, ObsLocTAP metadata, and
the rowmaker's region code agreeing with the plain-PostgreSQL load kit."""

from __future__ import annotations

import os
import re
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd

from models.dachs import (
    ROWMAKER_DATALINK_CODE,
    ROWMAKER_DATALINK_SETUP,
    ROWMAKER_STCS_CODE,
    STATIC_DIRS,
    install_static,
    resource_descriptor,
    userconfig_rd,
    write_dachs_rd,
)
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


def test_static_service_serves_the_snapshot_root() -> None:
    """DaCHS's static renderer over the snapshot root (staticData is relative to the RD's resdir, tap/dachs)."""
    rd = _rd()
    assert rd.get("resdir") == "."
    (service,) = rd.findall("service")
    assert service.get("id") == "files" and service.get("allowed") == "static"
    props = {p.get("name"): p.text for p in service.findall("property")}
    assert props == {"staticData": "../.."}
    assert service.find("nullCore") is not None
    # tap/dachs/../.. is the snapshot root, where datalink/ and provenance/ are
    assert os.path.normpath("snap/tap/dachs/../..") == "snap"


def test_only_obscore_rowmaker_points_rows_at_served_documents() -> None:
    rd = _rd()
    applies = {d.get("id"): [a.get("name") for a in d.iter("apply")] for d in rd.findall("data")}
    assert applies["import_obscore"] == ["datalink_access", "stcs_to_spoly"]
    assert all("datalink_access" not in names for data, names in applies.items() if data != "import_obscore")
    setup = rd.find("data[@id='import_obscore']").find(".//apply[@name='datalink_access']/setup/code").text
    assert "rd.getAbsPath('../../datalink/documents.csv')" in setup


def _datalink_apply(resdir: Path, server: str, rd_id: str):  # noqa: ANN202 - returns the compiled apply
    """The generated apply run as DaCHS runs it: setup in a namespace holding ``rd`` and ``base``."""
    rd = SimpleNamespace(sourceId=rd_id, getAbsPath=lambda rel: os.path.join(resdir, rel))
    # DaCHS: makeAbsoluteURL(path, canonical=True) = [web]serverURL + nevowRoot ("/") + path.lstrip("/")
    base = SimpleNamespace(makeAbsoluteURL=lambda path, canonical=False: server + "/" + path.lstrip("/"))
    scope: dict = {"rd": rd, "base": base}
    exec(compile(ROWMAKER_DATALINK_SETUP.format(index="../../datalink/documents.csv"), "setup", "exec"), scope)  # noqa: S102
    body = "def datalink_access(vars):\n" + textwrap.indent(ROWMAKER_DATALINK_CODE, "    ") + "    return vars\n"
    exec(compile(body, "apply", "exec"), scope)  # noqa: S102 - our own generated code
    return scope["datalink_access"]


def test_rowmaker_points_event_rows_at_dachs_served_documents(tmp_path: Path) -> None:
    resdir = tmp_path / "tap" / "dachs"
    resdir.mkdir(parents=True)
    (tmp_path / "datalink").mkdir()
    hess, nustar = "ivo://voharvest/HESS-DL3-DR1?20136", "ivo://voharvest/NuSTAR?31002031015"
    (tmp_path / "datalink" / "documents.csv").write_text(
        "obs_publisher_did,document\n"
        f"{hess},datalink/HESS-DL3-DR1/20136.xml\n"
        f"{nustar},datalink/NuSTAR/31002031015.xml\n",
        encoding="utf-8",
    )
    apply = _datalink_apply(resdir, "http://127.0.0.1:8089", "voharvest/tap/dachs/q")
    event = {
        "obs_publisher_did": hess,
        "access_url": "https://hess-dr.obspm.fr/retrieve/hess_dl3_dr1_obs_id_020136.fits.gz",
        "access_format": "application/x-fits-gadf",
        "access_estsize": 25000,
    }
    out = apply(dict(event))
    assert (
        out["access_url"] == "http://127.0.0.1:8089/voharvest/tap/dachs/q/files/static/datalink/HESS-DL3-DR1/20136.xml"
    )
    assert out["access_format"] == "application/x-votable+xml;content=datalink"
    assert out["access_estsize"] is None
    # a row already pointing at a public DataLink document (snapshot with a public base URL) keeps it
    public = {
        "obs_publisher_did": nustar,
        "access_url": "https://data.example.org/voharvest/snapshots/2025-09-05/datalink/NuSTAR/31002031015.xml",
        "access_format": "application/x-votable+xml;content=datalink",
        "access_estsize": None,
    }
    assert apply(dict(public)) == public
    other = {"obs_publisher_did": "ivo://voharvest/ESO?1", "access_url": None, "access_format": None}
    assert apply(dict(other)) == other


def test_rowmaker_without_documents_changes_nothing(tmp_path: Path) -> None:
    """An older snapshot (no datalink/): rows are loaded as published."""
    apply = _datalink_apply(tmp_path / "tap" / "dachs", "http://127.0.0.1:8089", "voharvest/tap/dachs/q")
    row = {"obs_publisher_did": "ivo://voharvest/HESS-DL3-DR1?20136", "access_url": "x", "access_format": "y"}
    assert apply(dict(row)) == row


def test_install_static_copies_documents_and_provenance(tmp_path: Path) -> None:
    snap = tmp_path / "snap"
    (snap / "datalink" / "NuSTAR").mkdir(parents=True)
    (snap / "datalink" / "NuSTAR" / "31002031015.xml").write_bytes(b"<VOTABLE/>")
    (snap / "datalink" / "documents.csv").write_text("obs_publisher_did,document\n", encoding="utf-8")
    (snap / "provenance").mkdir()
    (snap / "provenance" / "prov.json").write_text("{}", encoding="utf-8")
    (snap / "raw").mkdir()  # not served
    target = tmp_path / "inputs" / "voharvest"
    target.mkdir(parents=True)
    expected = ["datalink/NuSTAR/31002031015.xml", "datalink/documents.csv", "provenance/prov.json"]
    assert STATIC_DIRS == ("datalink", "provenance")
    assert install_static(snap, target) == expected
    assert install_static(snap, target) == expected  # idempotent
    assert (target / "provenance" / "prov.json").read_text() == "{}"
    assert not (target / "raw").exists()
    assert (target / "datalink" / "documents.csv").stat().st_mode & 0o777 == 0o644
