"""A facility whose rows have no footprint gets no empty MOC file, and the manifest says why."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from mocpy import MOC

from models import snapshot
from models.history import reconcile
from tests.test_history import plan  # noqa: F401
from tests.test_snapshot import DAY1


def test_no_footprint_no_empty_moc_and_a_manifest_reason(tmp_path: Path, plan: pd.DataFrame) -> None:  # noqa: F811
    frame = plan.copy()
    frame.loc[frame.index[:3], "facility_name"] = "APEX"  # three real rows moved to a facility ...
    frame.loc[frame.index[:3], "s_region"] = None  # ... whose runs have no pointing yet
    obsplan = reconcile(frame, None, DAY1, 60922.0).obsplan
    stage = snapshot.new_staging(tmp_path, DAY1)
    snapshot.write_table(stage, "obsplan", obsplan, votable=True)
    written, omitted = snapshot.write_mocs(stage, {"obsplan": obsplan}, "voharvest test")
    assert "moc/obsplan-apex-tmoc.fits" in written, "its times are still covered"
    assert not any(p.startswith(("moc/obsplan-apex-smoc", "moc/obsplan-apex-stmoc")) for p in written)
    assert omitted == {
        "moc/obsplan-apex-smoc": "no row has a footprint (s_region NULL)",
        "moc/obsplan-apex-stmoc": "no row has a footprint and both times",
    }
    nustar = MOC.from_fits(stage / "moc/obsplan-nustar-smoc.fits")
    assert not nustar.empty()
    json.dumps(omitted)  # goes into the manifest as is
