"""A day's row-proportional steps take each table's rows once; the results are the plain rules'.

* ``models.compose._assemble`` gathers an ObsCore table (harvested rows, X-ray rows built today, the
  previous snapshot's rows kept, carried-over rows) with one take in key order: the same frame as
  filtering, uniting and sorting them one step at a time (``xray_obscore`` then ``_order``);
* ``models.history_store.write_history`` writes each part as a filter of the history conformed once:
  the same bytes as conforming the part's own rows;
* ``models.landing._facility_footprints`` finds each facility's distinct footprints on whole columns:
  the same pairs, facilities and drawing as the row-by-row rule;
* ``models.provenance._first_seen`` of a day with the previous day's datasets is the previous column:
  the same rows as the pandas rule.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from models.arrow import conform
from models.compose import OBSCORE_TABLES, _assemble, _order, _union, _xray_pieces, compose, xray_obscore
from models.hea import xray_performed_to_obscore
from models.history import reconcile
from models.history_store import CURRENT_PART, closed_part, write_history
from models.landing import _distinct_footprints, _facility_footprints, _facility_footprints_rows, sky_svg
from models.parquet import write_parquet
from models.provenance import _row_provenance_arrow, _row_provenance_reference
from models.tables import OBSPLAN_HISTORY, ROW_PROVENANCE
from tests.test_compose_xray import AS_OF, _obsplan
from tests.test_history import T1, T2, plan  # noqa: F401 - the real NuSTAR rows fixture
from tests.test_provenance_rows import MANIFEST, _frames

_DID = "obs_publisher_did"


def _stepwise(pieces: list[pd.DataFrame], carried: pd.DataFrame | None, name: str) -> pd.DataFrame:
    """The assembly spelled out as compose did it before: unite, drop replaced carried rows, unite, sort."""
    spec = OBSCORE_TABLES[name]
    fresh = _union(pieces, [_DID])
    if carried is not None and len(carried):
        carried = carried[~carried[_DID].isin(fresh[_DID])] if _DID in fresh.columns else carried
        fresh = _union([fresh, carried], [_DID])
    if fresh.empty:
        from models.arrow import empty_frame

        fresh = empty_frame(spec)
    return _order(fresh, name)


@pytest.mark.parametrize("kept", ["all", "some"])
def test_assembled_obscore_equals_the_stepwise_rule(kept: str) -> None:
    obsplan = _obsplan()
    everything = xray_performed_to_obscore(obsplan)
    rows = slice(None, 5) if kept == "all" else slice(None, 6)  # "some": a previous row rebuilt today
    previous = {n: f.iloc[rows].iloc[::-1].reset_index(drop=True) for n, f in everything.items()}
    pieces = _xray_pieces(obsplan, AS_OF, previous)
    assert any(r is not None for _, r in pieces["obscore"]) == (kept == "some")  # rows taken, not copied
    # a carried-over source whose rows partly repeat today's datasets (those are dropped)
    carried = {n: f.iloc[[0, 6]].assign(obs_collection="carried") for n, f in everything.items()}
    for name in ("obscore", "obscore_hea"):
        xray = xray_obscore(obsplan, AS_OF, previous)[name]
        for old in (None, carried[name]):
            expected = _stepwise([xray], old, name)
            got = _assemble(
                pieces[name] + ([] if old is None else [(old, np.flatnonzero(~old[_DID].isin(xray[_DID])))]),
                name,
                OBSCORE_TABLES[name],
            )
            pd.testing.assert_frame_equal(got, expected, check_exact=True)
    assert _assemble([], "obscore_radio", OBSCORE_TABLES["obscore_radio"]).empty


def test_compose_equals_the_stepwise_rule_with_carried_rows() -> None:
    obsplan = _obsplan()
    current = obsplan.drop(columns=["t_planning"])
    everything = xray_performed_to_obscore(obsplan)
    previous_history = reconcile(current.assign(x_source="nustar"), None, dt.date(2025, 9, 1), AS_OF - 3.0).history
    previous = {n: f.iloc[:5] for n, f in everything.items()}
    carried = {n: f.iloc[[0, 7]].assign(obs_collection="carried") for n, f in everything.items()}
    out = compose(
        {"nustar": {"obsplan": current}},
        previous_history,
        carried,
        dt.date(2025, 9, 4),
        AS_OF,
        previous_obscore=previous,
    )
    xray = xray_obscore(out["obsplan"], AS_OF, previous)
    for name in OBSCORE_TABLES:
        expected = _stepwise([xray[name]] if name in xray else [], carried.get(name), name)
        pd.testing.assert_frame_equal(out[name], expected, check_exact=True)


def test_history_parts_are_the_bytes_of_their_own_rows(tmp_path: Path, plan: pd.DataFrame) -> None:  # noqa: F811
    first = reconcile(plan, None, dt.date(2025, 9, 4), T1)
    day2 = plan.copy()
    day2.loc[1, "t_min"] += 0.5
    second = reconcile(day2, first.history, dt.date(2025, 9, 5), T2)
    history = second.history
    stage = tmp_path / "stage"
    stage.mkdir()
    written = write_history(stage, history, dt.date(2025, 9, 5))
    current = history["x_valid_to"].isna().to_numpy()
    for rel, mask in ((CURRENT_PART, current), (closed_part(dt.date(2025, 9, 5)), ~current)):
        expected = tmp_path / Path(rel).name
        write_parquet(conform(history.loc[mask], OBSPLAN_HISTORY), OBSPLAN_HISTORY, expected)
        assert (stage / rel).read_bytes() == expected.read_bytes(), rel
        assert written.entry["parts"][rel] == int(mask.sum()) == pq.read_metadata(stage / rel).num_rows
    # no current version at all (every row closed): written as its rows conform, zero rows
    closed_only = history.assign(x_valid_to=T2)
    empty_stage = tmp_path / "empty"
    empty_stage.mkdir()
    write_history(empty_stage, closed_only, dt.date(2025, 9, 5))
    expected = tmp_path / "none.parquet"
    write_parquet(conform(closed_only.iloc[:0], OBSPLAN_HISTORY), OBSPLAN_HISTORY, expected)
    assert (empty_stage / CURRENT_PART).read_bytes() == expected.read_bytes()


def _tables() -> dict[str, pd.DataFrame]:
    rows = ["CIRCLE ICRS 10 -5 0.1", "CIRCLE ICRS 20 -5 0.1", "CIRCLE ICRS 10 -5 0.1", "CIRCLE ICRS 30 5 0.2"]
    obsplan = pd.DataFrame(
        {
            "facility_name": pd.Series(["XMM", "NuSTAR", "XMM", "XMM", "NuSTAR", "ESO"], dtype="str"),
            "s_region": pd.Series([rows[0], rows[1], rows[2], None, rows[1], None], dtype="str"),
            "execution_status": pd.Series(
                ["Planned", "Performed", "Performed", "Scheduled", "Scheduled", "Planned"], dtype="str"
            ),
        }
    )
    obscore = pd.DataFrame(  # a facility only in ObsCore comes after obsplan's, as the rule meets it
        {
            "facility_name": pd.Series(["XMM", "Chandra", "ESO"], dtype="str"),
            "s_region": pd.Series([rows[3], rows[0], rows[3]], dtype="str"),
        }
    )
    return {"obsplan": obsplan, "obscore": obscore}


@pytest.mark.parametrize("dtype", ["str", object])
def test_facility_footprints_equal_the_row_rule(dtype: object) -> None:
    tables = {n: f.astype({"s_region": dtype}) for n, f in _tables().items()}
    fast, fast_bold = _facility_footprints(tables)
    rows, rows_bold = _facility_footprints_rows(tables)
    assert list(fast) == list(rows) == ["NuSTAR", "XMM", "Chandra", "ESO"]  # ESO: only its ObsCore row has one
    for facility in rows:
        expected = _distinct_footprints(rows[facility], rows_bold[facility])
        got = _distinct_footprints(fast[facility], fast_bold[facility])  # already distinct: unchanged
        assert got["s_region"].tolist() == expected["s_region"].tolist() == fast[facility].tolist()
        assert got["bold"].tolist() == expected["bold"].tolist() == fast_bold[facility].tolist()
    assert sky_svg(fast, fast_bold) == sky_svg(rows, rows_bold)
    assert fast["XMM"].tolist() == ["CIRCLE ICRS 10 -5 0.1", "CIRCLE ICRS 30 5 0.2", "CIRCLE ICRS 10 -5 0.1"]
    assert fast_bold["XMM"].tolist() == [False, False, True]


def test_first_seen_of_the_same_datasets_equals_the_pandas_rule() -> None:
    obsplan, obscore, history = _frames()
    first = _row_provenance_reference(obsplan, obscore, {**MANIFEST, "snapshot": "2025-09-01"}, None, history)
    first = first.assign(x_first_seen=np.where(np.arange(len(first)) % 5 == 0, "2025-08-01", "2025-09-01"))
    runs = first.groupby("obs_publisher_did")["x_first_seen"].transform("min")  # one first sighting per dataset
    previous = first.assign(x_first_seen=runs)
    fast = _row_provenance_arrow(obsplan, obscore, MANIFEST, previous, history)
    reference = _row_provenance_reference(obsplan, obscore, MANIFEST, previous, history)
    assert fast is not None
    assert conform(fast, ROW_PROVENANCE).equals(conform(reference, ROW_PROVENANCE))
    assert (fast["x_first_seen"] == "2025-08-01").any() and (fast["x_first_seen"] == "2025-09-01").any()


def test_datalink_documents_are_the_pandas_rule() -> None:
    from models.provenance import DATALINK_COLLECTION, datalink_documents

    paths = [
        f"{DATALINK_COLLECTION}/NuSTAR/1.xml",
        f"{DATALINK_COLLECTION}/documents.csv",
        f"{DATALINK_COLLECTION}/links.parquet",
        "raw/datalink/x.xml",
        f"{DATALINK_COLLECTION}/XMM-Newton/0811026501.xml",
        "obsplan.parquet",
        f"{DATALINK_COLLECTION}.xml",
    ]
    text = pd.Index(paths, dtype=object).astype(str)
    mask = text.str.startswith(f"{DATALINK_COLLECTION}/") & text.str.endswith(".xml")
    expected = frozenset(pd.Index(paths, dtype=object)[np.asarray(mask, dtype=bool)])
    got = datalink_documents({p: {"size": 1} for p in paths})
    assert got == expected == {paths[0], paths[4]}
    assert datalink_documents({}) == frozenset() and datalink_documents(paths) == expected
