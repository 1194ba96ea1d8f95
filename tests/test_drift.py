"""Drift findings: empty harvests, collapsing row counts and changed identifier formats."""

from __future__ import annotations

import pandas as pd

from scrapers.drift import DRIFT_CHECKS, drift_findings
from scrapers.nustar import SOURCE as NUSTAR

IDS = ["71001002005", "60061013002", "31101012004", "31101005002"]  # real 2025 sequence ids


def test_a_healthy_harvest_has_no_findings() -> None:
    frames = {"obsplan": pd.DataFrame({"obs_id": IDS})}
    previous = {"snapshot": "2025-09-04", "sources": {"nustar": {"rows": {"obsplan": 5}}}}
    assert drift_findings(NUSTAR, frames, previous) == {name: [] for name in DRIFT_CHECKS}


def test_empty_collapsed_and_reformatted_harvests_are_named() -> None:
    previous = {"snapshot": "2025-09-04", "sources": {"nustar": {"rows": {"obsplan": 11}}}}
    empty = drift_findings(NUSTAR, {"obsplan": pd.DataFrame({"obs_id": []})}, previous)
    assert empty["not_empty"] == ["nustar: no rows in any table (['obsplan'])"]
    assert empty["row_count_drift"] == ["nustar/obsplan: 0 rows, previous snapshot 2025-09-04 had 11"]
    # ids that lost their leading digits (a number-inferring reader) break the 11-digit format
    damaged = drift_findings(NUSTAR, {"obsplan": pd.DataFrame({"obs_id": [*IDS, "1017001"]})}, previous)
    assert damaged["id_format"] == [r"nustar/obsplan: 1 obs_id not matching '\\d{11}', e.g. ['1017001']"]
    assert damaged["row_count_drift"] == ["nustar/obsplan: 5 rows, previous snapshot 2025-09-04 had 11"]
    # exactly half is not a collapse
    half = drift_findings(
        NUSTAR,
        {"obsplan": pd.DataFrame({"obs_id": IDS[:2]})},
        {**previous, "sources": {"nustar": {"rows": {"obsplan": 4}}}},
    )
    assert half["row_count_drift"] == []


def test_small_previous_tables_may_fluctuate() -> None:
    previous = {"snapshot": "2025-09-04", "sources": {"nustar": {"rows": {"obsplan": 3}}}}
    found = drift_findings(NUSTAR, {"obsplan": pd.DataFrame({"obs_id": IDS[:1]})}, previous)
    assert found["row_count_drift"] == []
