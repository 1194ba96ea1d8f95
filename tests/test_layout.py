"""The code digest: what decides whether a later day may reuse what a snapshot derived."""

from __future__ import annotations

import hashlib
from pathlib import Path

from models import layout


def _project(root: Path) -> Path:
    for rel, text in {
        "models/a.py": "x = 1\n",
        "scrapers/b.py": "y = 2\n",
        "recordings/visibility/n.tle": "1 ...\n",
    }.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def test_code_digest_is_sha256_of_paths_and_bytes_and_ignores_caches(tmp_path: Path) -> None:
    root = _project(tmp_path / "p")
    digest = layout.code_digest.__wrapped__(root)
    # independent: the documented framing, path NUL then 8-byte little-endian length then bytes, in the
    # order of CODE_DIRS (models, scrapers, pipelines, recordings/visibility)
    expected = hashlib.sha256()
    for rel in ("models/a.py", "scrapers/b.py", "recordings/visibility/n.tle"):
        content = (root / rel).read_bytes()
        expected.update(rel.encode() + b"\0" + len(content).to_bytes(8, "little") + content)
    assert digest == expected.hexdigest()
    (root / "models" / "__pycache__").mkdir()
    (root / "models" / "__pycache__" / "a.cpython-311.pyc").write_bytes(b"\0")
    assert layout.code_digest.__wrapped__(root) == digest  # written by imports: not code
    (root / "scrapers" / "b.py").write_text("y = 3\n")  # one byte, same size, same names
    assert layout.code_digest.__wrapped__(root) != digest
    (root / "scrapers" / "b.py").write_text("y = 2\n")
    (root / "scrapers" / "b.py").rename(root / "scrapers" / "c.py")  # same bytes, another file
    assert layout.code_digest.__wrapped__(root) != digest


def test_only_a_manifest_of_this_code_qualifies_for_reuse() -> None:
    assert layout.written_by_this_code({"code_digest": layout.code_digest()})
    assert not layout.written_by_this_code({"code_digest": "0" * 64, "code_version": layout.code_version()})
    assert not layout.written_by_this_code({"code_version": layout.code_version()})  # written before the digest
    assert not layout.written_by_this_code(None)
