"""The snapshot's MOC files load in mocpy and agree with the rows: every row's position lies in its
table's space MOC and every row's time range in its time MOC."""

from __future__ import annotations

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
    checked = 0
    for facility, rows in frame.groupby(frame["facility_name"].fillna("unknown")):
        base = snapshot_dir / "moc" / f"{table}-{_token(str(facility))}"
        smoc = MOC.load(f"{base}-smoc.fits", "fits")
        tmoc = TimeMOC.load(f"{base}-tmoc.fits", "fits")
        pos = rows.dropna(subset=["s_ra", "s_dec"])
        inside = smoc.contains_lonlat(pos["s_ra"].to_numpy() * u.deg, pos["s_dec"].to_numpy() * u.deg)
        assert inside.all(), f"{base}-smoc.fits misses {pos.loc[~inside, 'obs_id'].tolist()}"
        timed = rows.dropna(subset=["t_min", "t_max"])
        row_moc = TimeMOC.from_time_ranges(
            Time(timed["t_min"].to_numpy(), format="mjd", scale="utc"),
            Time(timed["t_max"].to_numpy(), format="mjd", scale="utc"),
            delta_t=TimeDelta(2 ** (61 - int(tmoc.max_order)) * 1e-6, format="sec"),  # the file's cell size
        )
        assert row_moc.difference(tmoc).empty(), f"{base}-tmoc.fits does not cover every [t_min, t_max]"
        # A MOC is empty exactly when no row of the facility has that coverage (APEX runs: no position).
        assert tmoc.empty() == timed.empty
        assert smoc.empty() == rows["s_region"].isna().all()
        checked += len(rows)
    assert checked == len(frame) > 0
    assert np.isfinite(frame["t_min"]).any()
