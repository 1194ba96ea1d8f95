"""Visibility against XMM-Newton's real schedule (revolution 4714) and the joint can-observe / plans-to answer."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import scrapers.xmm_newton as xmm
from models.visibility import visibility
from models.visibility.joint import joint

PAGE = Path(__file__).parent / "data" / "xmm" / "short_term_schedule_rev4714_brunits_reconstructed.html"

pytestmark = pytest.mark.filterwarnings("ignore::astropy.coordinates.NonRotationTransformationWarning")


@pytest.fixture(scope="module")
def obsplan() -> pd.DataFrame:
    """The 5 real rows of XMM revolution 4714 (tests/data/xmm/PROVENANCE.md) as obsplan rows."""
    schedule = xmm.parse("short_term_schedule", PAGE.read_bytes(), xmm.SCHEDULE_URL, "text/html; charset=utf-8")
    return xmm.normalise({"short_term_schedule": schedule}, dt.datetime(2025, 9, 4, tzinfo=dt.UTC))["obsplan"]


def test_every_real_xmm_observation_lies_in_a_computed_window(obsplan: pd.DataFrame) -> None:
    """ESA scheduled these observations, so they obeyed the constraints: each must fit inside one window."""
    assert len(obsplan) == 5
    for ra, dec, t0, t1 in obsplan[["s_ra", "s_dec", "t_min", "t_max"]].itertuples(index=False):  # 5 rows
        result = visibility("XMM-Newton", ra, dec, t0 - 1, t1 + 1)
        assert ((result.starts <= t0 + 60 / 86400) & (result.ends >= t1 - 60 / 86400)).any(), (ra, dec, t0, t1)
    # the first Crab observation (0811026601) starts when XMM climbs through 46 000 km, to within 2 minutes
    crab = obsplan[obsplan["obs_id"] == "0811026601"].iloc[0]
    result = visibility("XMM-Newton", crab.s_ra, crab.s_dec, crab.t_min - 0.3, crab.t_max)
    assert np.abs(result.starts - crab.t_min).min() * 1440 < 2


def test_joint_answer(obsplan: pd.DataFrame) -> None:
    crab = obsplan[obsplan["target_name"] == "Crab"]
    answer = joint({"obsplan": obsplan}, 83.633333, 22.014444, "2025-09-04", "2025-09-06").set_index("facility")
    assert answer.loc["XMM-Newton", "can_observe"] is True
    assert answer.loc["XMM-Newton", "planned"] == len(crab) == 3
    assert set(answer.loc["XMM-Newton", "planned_obs_ids"].split(", ")) == set(crab["obs_id"])
    assert answer.loc["INTEGRAL", "can_observe"] is False and "2025-02-28" in answer.loc["INTEGRAL", "note"]
    # NuSTAR's only TLE near this date is 2025-08-02: 33+ days away, beyond its 7-day limit -> no answer, a reason
    assert answer.loc["NuSTAR", "can_observe"] is None and "at most 7 days" in answer.loc["NuSTAR", "note"]
    assert (answer.drop(index="XMM-Newton")["planned"] == 0).all()


def test_cli_joint_reads_a_snapshot(obsplan: pd.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    from pipelines.cli_visibility import register

    pq.write_table(pa.Table.from_pandas(obsplan, preserve_index=False), tmp_path / "obsplan.parquet")
    import argparse

    parser = argparse.ArgumentParser(prog="voharvest")
    register(parser.add_subparsers(dest="command", required=True))
    argv = ["visibility", "--joint", "--snapshot", str(tmp_path), "--facility", "xmm,integral", "--format", "json"]
    args = parser.parse_args(
        [*argv, "--ra", "05:34:32", "--dec", "22:00:52", "--start", "2025-09-04", "--end", "60924"]
    )
    assert args.func(args) == 0
    rows = {r["facility"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["XMM-Newton"]["planned"] == 3 and rows["XMM-Newton"]["can_observe"] is True
    assert rows["INTEGRAL"]["can_observe"] is False
