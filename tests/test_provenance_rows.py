"""Row provenance at archive scale: the Arrow path gives the rows of the pandas rule, and the right ones.

``models.provenance.row_provenance`` builds its rows with Arrow kernels (hash look-ups, one repeat per
response, no merge or group-by on text keys) and falls back to the pandas rule
(``_row_provenance_reference``) for inputs outside that path. These tests check both against each other
on inputs that exercise every branch (several responses per source, ties in request names, datasets in
both tables, collections claimed by the manifest or by the history only, an unclaimed collection,
previous rows with several rows per dataset, unsorted previous rows) and check the values by hand.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.arrow import conform
from models.identifiers import authority
from models.provenance import _row_provenance_arrow, _row_provenance_reference, row_provenance
from models.tables.row_provenance import ROW_PROVENANCE
from models.validate import validate


def _response(name: str, key: str, digit: str, url: str) -> dict[str, object]:
    return {
        "name": name,
        "url": url,
        "key": key,
        "sha256": digit * 64,
        "fetched_at": "2025-09-06T01:02:03+00:00",
        "status": 200,
        "size": 3,
        "method": "GET",
    }


def _did(collection: str, obs_id: str) -> str:
    return f"ivo://{authority()}/{collection}?{obs_id}"


MANIFEST = {
    "snapshot": "2025-09-06",
    "code_version": "9.9",
    "sources": {
        # two responses with the same request name: their order must be the response order
        "a": {
            "obs_collections": ["A"],
            "responses": [
                _response("page", "k2", "2", "https://a.example/2"),
                _response("index", "k1", "1", "https://a.example/1"),
                _response("page", "k3", "3", "https://a.example/3"),
            ],
        },
        # claims no ObsCore collection: its obsplan collection "N" is known from the history only
        "n": {"obs_collections": [], "responses": [_response("schedule", "n1", "4", "https://n.example/s")]},
    },
}


def _frames(n: int = 60) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    ids = [f"{i:03d}" for i in range(n)]
    obsplan = pd.DataFrame(
        {
            "obs_collection": pd.Series(["A"] * (n // 2) + ["N"] * (n - n // 2 - 2) + ["Z", "Z"], dtype="str"),
            "obs_id": pd.Series(ids, dtype="str"),
        }
    ).iloc[::-1]  # not in identifier order
    # ObsCore: part of A's obsplan rows (both tables) and rows of A that are not planned (obscore only)
    core_ids = ids[: n // 4] + ["x1", "x0"]
    obscore = pd.DataFrame(
        {
            "obs_publisher_did": pd.Series([_did("A", i) for i in core_ids], dtype="str"),
            "obs_collection": pd.Series(["A"] * len(core_ids), dtype="str"),
            "obs_id": pd.Series(core_ids, dtype="str"),
        }
    )
    history = pd.DataFrame(
        {
            "obs_collection": pd.Series(["N", "A", "Z"], dtype="str"),
            "x_source": pd.Series(["n", "a", "gone"], dtype="str"),  # "gone" is not a source of this run
        }
    )
    return obsplan, obscore, history


def _same(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    return conform(a, ROW_PROVENANCE).equals(conform(b, ROW_PROVENANCE))


@pytest.mark.parametrize("with_previous", [False, True])
def test_arrow_rows_equal_the_pandas_rule(with_previous: bool) -> None:
    obsplan, obscore, history = _frames()
    previous = None
    if with_previous:
        first = _row_provenance_reference(obsplan, obscore, {**MANIFEST, "snapshot": "2025-09-01"}, None, history)
        previous = first.iloc[::3]  # some datasets seen before, several rows each for source a
    fast = _row_provenance_arrow(obsplan, obscore, MANIFEST, previous, history)
    assert fast is not None  # the inputs are inside the Arrow path
    assert _same(fast, _row_provenance_reference(obsplan, obscore, MANIFEST, previous, history))
    assert validate(fast, ROW_PROVENANCE) == []


def test_rows_by_hand() -> None:
    obsplan, obscore, history = _frames()
    out = row_provenance(obsplan, obscore, MANIFEST, None, history)
    # datasets: A 0-29 (obsplan; 0-14 also ObsCore) + x0, x1 (ObsCore only) -> 32 datasets x 3 responses of a;
    # N 30-57 -> 28 datasets x 1 response of n; Z is claimed by no source of this run: left out
    assert len(out) == 32 * 3 + 28
    assert not (out["obs_collection"] == "Z").any()
    by = out.groupby("obs_publisher_did")
    assert set(by.size()[[_did("A", "000"), _did("A", "x0")]]) == {3}
    row = out[out["obs_publisher_did"] == _did("A", "000")]
    assert set(row["x_tables"]) == {"obscore,obsplan"}
    assert set(out.loc[out["obs_publisher_did"] == _did("A", "x0"), "x_tables"]) == {"obscore"}
    assert set(out.loc[out["obs_publisher_did"] == _did("A", "020"), "x_tables"]) == {"obsplan"}
    # within a dataset: request names sorted, ties in response order (k2 before k3)
    assert row["x_request_key"].tolist() == ["k1", "k2", "k3"]
    assert set(row["x_attribution"]) == {"source"}  # a parsed three responses
    assert set(out.loc[out["x_source"] == "n", "x_attribution"]) == {"request"}
    # sorted by identifier (Python's own string order)
    dids = out["obs_publisher_did"].tolist()
    assert dids == sorted(dids)


def test_first_seen_is_the_earliest_even_when_previous_rows_disagree() -> None:
    obsplan, obscore, history = _frames()
    did = _did("A", "001")
    base = _row_provenance_reference(obsplan, obscore, {**MANIFEST, "snapshot": "2025-09-01"}, None, history)
    previous = base[base["obs_publisher_did"] == did].copy()
    previous["x_first_seen"] = ["2025-08-03", "2025-07-01", "2025-08-01"]  # unsorted, disagreeing: the minimum
    previous = previous.iloc[::-1]
    out = row_provenance(obsplan, obscore, MANIFEST, previous, history)
    assert set(out.loc[out["obs_publisher_did"] == did, "x_first_seen"]) == {"2025-07-01"}
    assert set(out.loc[out["obs_publisher_did"] != did, "x_first_seen"]) == {"2025-09-06"}
    assert _same(out, _row_provenance_reference(obsplan, obscore, MANIFEST, previous, history))


def test_inputs_outside_the_arrow_path_take_the_pandas_rule() -> None:
    obsplan, obscore, history = _frames()
    carried = {
        **MANIFEST,
        "sources": {**MANIFEST["sources"], "c": {"obs_collections": ["C"], "carried_over_from": "2025-09-05"}},
    }
    assert _row_provenance_arrow(obsplan, obscore, carried, None, history) is None
    with_null = obsplan.assign(obs_collection=obsplan["obs_collection"].where(np.arange(len(obsplan)) != 3))
    assert _row_provenance_arrow(with_null, obscore, MANIFEST, None, history) is None
    repeated = pd.concat([obscore, obscore.iloc[[0]]], ignore_index=True)
    assert _row_provenance_arrow(obsplan, repeated, MANIFEST, None, history) is None
    for args in ((with_null, obscore), (obsplan, repeated)):
        assert _same(
            row_provenance(*args, MANIFEST, None, history), _row_provenance_reference(*args, MANIFEST, None, history)
        )


def test_total_size_of_documents() -> None:
    from models.provenance import total_size

    entries = {"d/a.xml": {"size": 5}, "d/b.xml": {"size": 7}, "other": {"size": 100}}
    assert total_size(entries, frozenset({"d/a.xml", "d/b.xml"})) == 12
    entries["d/b.xml"] = {"sha256": "0" * 64}  # no size listed: counts 0, as the record always did
    assert total_size(entries, frozenset({"d/a.xml", "d/b.xml"})) == 5
    entries["d/b.xml"] = {"size": "7"}  # text: converted
    assert total_size(entries, frozenset({"d/a.xml", "d/b.xml"})) == 12
