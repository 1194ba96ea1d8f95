"""The manifest's JSON: one line per file, the same JSON value as the plain indented encoding, deterministic."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from models.snapshot import dumps

_SCALARS = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=8)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
_ENTRY = st.fixed_dictionaries(
    {"size": st.integers(0, 2**40), "sha256": st.text("0123456789abcdef", min_size=64, max_size=64)}
)
# paths with non-ASCII, quotes and the marker text itself (a key named "files" further down must not confuse it)
_PATHS = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=12) | st.just(
    '\n "files": null'
)


@given(
    st.dictionaries(st.text(max_size=8).filter(lambda k: k != "files"), _VALUES, max_size=4),
    st.dictionaries(_PATHS, _ENTRY, max_size=6),
)
def test_manifest_json_is_the_same_value_one_file_per_line(rest: dict, files: dict) -> None:
    document = {**rest, "files": files, "datalink": {"files": None}}
    text = dumps(document).decode("utf-8")
    assert json.loads(text) == document
    assert dumps(json.loads(text)) == text.encode("utf-8")  # deterministic: a re-dump is byte-identical
    if files:
        body = text[text.index('\n "files": {\n') :]
        for rel, entry in files.items():  # one line per file, path first
            line = f"  {json.dumps(rel, ensure_ascii=False)}: "
            assert line + json.dumps(entry, sort_keys=True) in body
    else:
        assert text == json.dumps(document, sort_keys=True, indent=1, ensure_ascii=False) + "\n"
