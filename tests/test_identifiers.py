"""The two builders of ``obs_publisher_did`` (pandas and Arrow) give the same identifiers.

The hand-written expectation is the IVOA form ``ivo://<authority>/<collection>?<obs_id>``; the Arrow
builder (used on the million-row daily path) must agree with it and with the pandas builder on any text,
non-ASCII included.
"""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st

from models.identifiers import publisher_did, publisher_did_array

_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)


def test_the_ivoa_form_by_hand() -> None:
    did = publisher_did_array(pa.array(["XMM-Newton", "ESO-VLT"]), pa.array(["0123456789", "FORS2.é"]), "org.example")
    assert did.to_pylist() == ["ivo://org.example/XMM-Newton?0123456789", "ivo://org.example/ESO-VLT?FORS2.é"]
    assert did.type == pa.string()


@given(st.lists(st.tuples(_TEXT, _TEXT), max_size=20))
def test_arrow_and_pandas_builders_agree(pairs: list[tuple[str, str]]) -> None:
    collections, ids = [p[0] for p in pairs], [p[1] for p in pairs]
    expected = publisher_did(pd.Series(collections, dtype=object), pd.Series(ids, dtype=object), "auth")
    arrow = publisher_did_array(pa.array(collections, pa.large_string()), pa.array(ids, pa.string()), "auth")
    assert arrow.to_pylist() == expected.tolist() == [f"ivo://auth/{c}?{i}" for c, i in pairs]
