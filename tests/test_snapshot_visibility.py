"""Visibility MOCs published in a snapshot: written for the forward window, described in the manifest."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
from mocpy import STMOC

from models import snapshot
from models.arrow import empty_frame
from models.history import change_counts, reconcile
from models.tables import IVOA_TABLES
from models.visibility.moc import SNAPSHOT_TIME_ORDER
from tests.test_history import plan  # noqa: F401

DAY = dt.date(2025, 9, 5)


def test_snapshot_carries_visibility_mocs_and_says_why_some_are_missing(tmp_path: Path, plan: pd.DataFrame) -> None:  # noqa: F811
    result = reconcile(plan, None, DAY, 60923.0)
    tables = {name: empty_frame(spec) for name, spec in IVOA_TABLES.items()}
    tables.update(obsplan=result.obsplan, obsplan_history=result.history)
    provenance = {
        "as_of_mjd": 60923.0,
        "previous_snapshot": None,
        "changes": change_counts(result.changes),
        "sources": {"nustar": {"rows": len(plan)}},
        "violations": [],
    }
    stage = snapshot.stage_snapshot(
        tmp_path, DAY, tables, result.changes, provenance, lambda raw: {}, visibility_days=2
    )
    manifest = json.loads((stage / "manifest.json").read_text())
    described = manifest["visibility"]
    assert described["XMM-Newton"]["file"] == "moc/visibility_xmm_newton.fits"
    assert described["XMM-Newton"]["start_mjd"] == 60923.0 and described["XMM-Newton"]["end_mjd"] == 60925.0
    assert described["XMM-Newton"]["time_order"] == SNAPSHOT_TIME_ORDER
    assert described["NuSTAR"]["file"] is None and "TLE" in described["NuSTAR"]["why"]
    assert described["INTEGRAL"]["file"] is None and "2025-02-28" in described["INTEGRAL"]["why"]
    for facility in ("XMM-Newton", "VLT", "APEX"):
        path = stage / described[facility]["file"]
        assert path.name in {Path(p).name for p in manifest["files"]}
        assert not STMOC.from_fits(path).is_empty()
    assert snapshot.validate_snapshot(stage) == []
