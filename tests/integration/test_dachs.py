"""A snapshot from the replay archive, loaded unchanged into GAVO DaCHS: taplint, ObsLocTAP example
queries through pyvo, ObsCore extension joins, and the snapshot's own DaCHS RD."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import pyvo

from models.dachs import resource_descriptor
from models.tables import IVOA_TABLES
from pipelines.serve_check import ServeCheckReport
from tests.integration.expected import QUERIES, independent_ids

pytestmark = pytest.mark.integration


def _tap(dachs: ServeCheckReport) -> pyvo.dal.TAPService:
    return pyvo.dal.TAPService(dachs.tap_url)


def _ids(result) -> list[str]:  # noqa: ANN001 - pyvo result
    return sorted(str(v) for v in result.to_table()["obs_id"])


def test_taplint_reports_no_errors_and_full_obsloctap(dachs: ServeCheckReport) -> None:
    lint = dachs.taplint
    assert lint is not None
    print("\n" + "\n".join(lint.warning_lines + [lint.totals_line]))
    assert lint.errors == 0, "\n".join(lint.error_lines)
    assert lint.failures == 0, "\n".join(lint.failure_lines)
    assert lint.summary("S-LOC-PCLS") == ["S-LOC-PCLS-1 ivoa.obsplan columns: 26/26 required, 0 custom"]
    # The ObsCore stage ran on our table and found every mandatory column, without errors.
    assert any("30/30 required" in line for line in lint.summary("S-OBS-COLS")), lint.summary("S-OBS-COLS")
    assert not [line for line in lint.error_lines if line.startswith("E-OBS")]
    # taplint executed the ObsLocTAP examples served at /tap/examples.
    assert any("Execution success/attempt: 5/5" in line for line in lint.summary("S-EXA-XVAL"))
    assert dachs.ok, dachs.problems


def test_every_table_loaded_with_all_rows(dachs: ServeCheckReport, tables: dict[str, pd.DataFrame]) -> None:
    tap = _tap(dachs)
    for name, frame in tables.items():
        count = int(tap.run_sync(f"SELECT COUNT(*) AS n FROM ivoa.{name}").to_table()["n"][0])
        assert count == len(frame), name
    assert len(tables["obsplan"]) > 0 and len(tables["obscore"]) > 0


@pytest.mark.parametrize("query", QUERIES, ids=[q.name for q in QUERIES])
def test_obsloctap_example_queries(dachs: ServeCheckReport, tables: dict[str, pd.DataFrame], query) -> None:  # noqa: ANN001
    assert independent_ids(tables["obsplan"], query.name) == sorted(query.expected)
    assert _ids(_tap(dachs).run_sync(query.adql)) == sorted(query.expected)


def test_async_query_agrees(dachs: ServeCheckReport) -> None:
    query = QUERIES[-1]
    assert _ids(_tap(dachs).run_async(query.adql)) == sorted(query.expected)


def test_extension_tables_natural_join_on_publisher_did_only(
    dachs: ServeCheckReport, tables: dict[str, pd.DataFrame]
) -> None:
    tap = _tap(dachs)
    cols = tap.run_sync(
        "SELECT table_name, column_name FROM TAP_SCHEMA.columns WHERE table_name LIKE 'ivoa.obscore%'"
    ).to_table()
    by_table = pd.DataFrame({"t": [str(t) for t in cols["table_name"]], "c": [str(c) for c in cols["column_name"]]})
    core = set(by_table.loc[by_table.t == "ivoa.obscore", "c"])
    assert core == set(IVOA_TABLES["obscore"].names)
    for ext in ("obscore_radio", "obscore_hea"):
        shared = core & set(by_table.loc[by_table.t == f"ivoa.{ext}", "c"])
        assert shared == {"obs_publisher_did"}, ext
        expected = len(tables["obscore"].merge(tables[ext], on="obs_publisher_did"))
        assert expected == len(tables[ext])  # every extension row has its ObsCore row
        got = tap.run_sync(f"SELECT COUNT(*) AS n FROM ivoa.obscore NATURAL JOIN ivoa.{ext}").to_table()["n"][0]
        assert int(got) == expected, ext
    assert len(tables["obscore_hea"]) > 0


def test_regions_are_circumscribing_polygons(dachs: ServeCheckReport, tables: dict[str, pd.DataFrame]) -> None:
    """A circle row comes back as the 16-gon of the load kit, every vertex outside the circle."""
    frame = tables["obsplan"]
    row = frame[frame.obs_id == "31101012004"].iloc[0]
    res = _tap(dachs).run_sync("SELECT s_region FROM ivoa.obsplan WHERE obs_id = '31101012004'").to_table()
    words = str(res["s_region"][0]).split()
    assert words[0].lower() == "polygon"
    nums = np.array([float(w) for w in words if w.replace(".", "", 1).replace("-", "", 1).isdigit()])
    ra, dec = nums[0::2], nums[1::2]
    assert len(ra) == 16
    from astropy.coordinates import SkyCoord

    sep = SkyCoord(row.s_ra, row.s_dec, unit="deg").separation(SkyCoord(ra, dec, unit="deg")).deg
    assert np.all(sep >= 0.1 - 1e-6) and np.all(sep <= 0.1 / np.cos(np.pi / 16) + 1e-5)


def test_snapshot_ships_the_generated_dachs_rd(snapshot_dir: Path) -> None:
    """The tap/ kit of the snapshot carries the RD that was served (generated from the specs)."""
    rd = snapshot_dir / "tap" / "dachs" / "q.rd"
    assert rd.is_file(), "tap/dachs/q.rd missing: models.tap_kit.write_tap_kit must call models.dachs.write_dachs_rd"
    names = [n for n in IVOA_TABLES if (snapshot_dir / f"{n}.vot").is_file()]
    assert rd.read_text(encoding="utf-8") == resource_descriptor([IVOA_TABLES[n] for n in names])
