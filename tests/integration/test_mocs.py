"""The snapshot's MOC files load in mocpy and agree with the rows: every row's position lies in its
table's space MOC and every row's time range in its time MOC."""

from __future__ import annotations

import json
import re
from pathlib import Path

import astropy.units as u
import numpy as np
import pandas as pd
import pytest
from astropy.time import Time, TimeDelta
from mocpy import MOC, TimeMOC

pytestmark = pytest.mark.integration


def _token(facility: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", facility.lower()).strip("_")


@pytest.mark.parametrize("table", ["obsplan", "obscore"])
def test_rows_inside_their_mocs(snapshot_dir: Path, tables: dict[str, pd.DataFrame], table: str) -> None:
    frame = tables[table]
    omitted = json.loads((snapshot_dir / "manifest.json").read_text())["mocs_omitted"]
    checked = 0
    for facility, rows in frame.groupby(frame["facility_name"].fillna("unknown")):
        base = snapshot_dir / "moc" / f"{table}-{_token(str(facility))}"
        rel = f"moc/{base.name}"
        # A MOC is written exactly when some row of the facility has that coverage; otherwise the
        # manifest says why it is missing (APEX runs: no position yet).
        assert (f"{rel}-smoc" in omitted) == rows["s_region"].isna().all()
        if f"{rel}-smoc" not in omitted:
            smoc = MOC.load(f"{base}-smoc.fits", "fits")
            pos = rows.dropna(subset=["s_ra", "s_dec"])
            inside = smoc.contains_lonlat(pos["s_ra"].to_numpy() * u.deg, pos["s_dec"].to_numpy() * u.deg)
            assert inside.all(), f"{base}-smoc.fits misses {pos.loc[~inside, 'obs_id'].tolist()}"
            assert not smoc.empty()
        timed = rows.dropna(subset=["t_min", "t_max"])
        assert (f"{rel}-tmoc" in omitted) == timed.empty
        if not timed.empty:
            tmoc = TimeMOC.load(f"{base}-tmoc.fits", "fits")
            row_moc = TimeMOC.from_time_ranges(
                Time(timed["t_min"].to_numpy(), format="mjd", scale="utc"),
                Time(timed["t_max"].to_numpy(), format="mjd", scale="utc"),
                delta_t=TimeDelta(2 ** (61 - int(tmoc.max_order)) * 1e-6, format="sec"),  # the file's cell size
            )
            assert row_moc.difference(tmoc).empty(), f"{base}-tmoc.fits does not cover every [t_min, t_max]"
        checked += len(rows)
    assert checked == len(frame) > 0
    assert np.isfinite(frame["t_min"]).any()
