"""Landing page at archive scale: the distinct footprints and the DataLink total, computed without a Python
object per row, are the ones the plain rules give."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models.landing import _distinct_footprints
from models.provenance import total_size


@pytest.mark.parametrize("dtype", ["str", object])
def test_distinct_footprints_first_appearance_bold_last(dtype: object) -> None:
    regions = pd.Series(["C 1", "C 2", "C 1", "C 3", "C 2", "C 1", "P é", "C 3"], dtype=dtype)
    bold = np.array([False, True, False, False, False, True, True, False])
    out = _distinct_footprints(regions, bold)
    # the rule spelled out by hand: (region, bold) pairs in order of first appearance, non-bold ones first
    expected = [("C 1", False), ("C 3", False), ("C 2", False), ("C 2", True), ("C 1", True), ("P é", True)]
    assert list(zip(out["s_region"], out["bold"], strict=True)) == expected
    plain = pd.DataFrame({"s_region": regions.astype(str).to_numpy(), "bold": bold})
    plain = plain.drop_duplicates().sort_values("bold", kind="stable").reset_index(drop=True)
    assert out["s_region"].tolist() == plain["s_region"].tolist()
    assert out["bold"].tolist() == plain["bold"].tolist()


def test_distinct_footprints_of_non_text_take_the_plain_rule() -> None:
    regions = pd.Series([1, 2, 1], dtype=object)
    out = _distinct_footprints(regions, np.array([False, False, False]))
    assert out["s_region"].tolist() == ["1", "2"]


def test_documents_size_uses_listed_sizes_and_stats_the_rest(tmp_path: Path) -> None:
    for name, text in (("a.xml", b"12345"), ("b.xml", b"1234567")):
        (tmp_path / name).write_bytes(text)
    documents = frozenset({"a.xml", "b.xml"})
    assert total_size({"a.xml": {"size": 5}, "b.xml": {"size": 7}}, documents, tmp_path) == 12
    assert total_size({"a.xml": {"size": 5}}, documents, tmp_path) == 12  # b.xml: from the file itself
    assert total_size({}, documents, tmp_path) == 12
