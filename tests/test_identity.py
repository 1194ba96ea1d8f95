"""Rows of one source sharing an id: merged only when they agree."""

from __future__ import annotations

import pandas as pd
import pytest

from scrapers.base import ParseError
from scrapers.identity import merge_duplicate_ids


def _frame(names: list[str], ras: list[float]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "seq": ["30302020004", "60368001002", "30302020004"],
            "name": names,
            "ra": ras,
            "dec": [10.94578, -0.18361, 10.94578],
            "t_min": [58031.9, 58033.6, 58032.5],
            "t_max": [58032.3, 58034.1, 58032.9],
        },
        index=pd.RangeIndex(1, 4, name="row"),
    )


def test_agreeing_rows_merge_with_declared_aggregations() -> None:
    frame = _frame(["GRS_1915p105", "NGC_1144", "grs_1915p105 "], [288.79813, 43.80083, 288.79820])
    out = merge_duplicate_ids(
        frame, "seq", source="nustar", url="u", same=("name",), combine={"t_min": "min", "t_max": "max"}
    )
    assert list(out["seq"]) == ["30302020004", "60368001002"]
    assert list(out.index) == [1, 2]
    row = out.loc[1]
    assert (row["t_min"], row["t_max"], row["name"]) == (58031.9, 58032.9, "GRS_1915p105")


def test_different_targets_under_one_id_name_both_rows() -> None:
    frame = _frame(["GRS_1915p105", "NGC_1144", "Kepler"], [288.79813, 43.80083, 288.79813])
    with pytest.raises(ParseError, match=r"'GRS_1915p105' \(row 1\) and 'Kepler' \(row 3\)") as info:
        merge_duplicate_ids(frame, "seq", source="nustar", url="https://x", same=("name",))
    assert info.value.row == 3 and info.value.column == "name"


def test_positions_apart_beyond_tolerance_are_refused() -> None:
    # 0.1 deg of RA at Dec 10.9 deg: 0.1 * cos(10.94578 deg) * 3600 = 353.6 arcsec apart.
    frame = _frame(["GRS_1915p105", "NGC_1144", "GRS_1915p105"], [288.79813, 43.80083, 288.89813])
    with pytest.raises(ParseError, match=r"353\.\d arcsec apart \(rows 1 and 3"):
        merge_duplicate_ids(frame, "seq", source="nustar", url="u", same=("name",))


def test_no_duplicates_returns_the_frame_itself() -> None:
    frame = _frame(["a", "b", "c"], [1.0, 2.0, 3.0]).assign(seq=["1", "2", "3"])
    assert merge_duplicate_ids(frame, "seq", source="s", url="u") is frame


def test_a_null_in_the_first_row_is_compared_as_such_and_both_rows_named() -> None:
    frame = pd.DataFrame(
        {"obs_id": ["a", "b", "a"], "target": [None, "Crab", "3C 273"], "ra": [1.0, 5.0, 1.0], "dec": [2.0, 2.0, 2.0]}
    )
    with pytest.raises(ParseError, match=r"target NULL \(row 0\) and '3C 273' \(row 2\)"):
        merge_duplicate_ids(frame, "obs_id", source="s", url="u", same=("target",))
