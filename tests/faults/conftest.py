"""Fixtures shared by the fault suite, and its summary line (cases run / survived)."""

from __future__ import annotations

import pytest

from tests.test_history import plan  # noqa: F401  (fixture: real NuSTAR rows as an obsplan frame)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print how many fault cases ran and how many voharvest survived (the fault matrix's score)."""
    stats = terminalreporter.stats
    ours = [
        r
        for key in ("passed", "failed", "error")
        for r in stats.get(key, [])
        if getattr(r, "when", "call") in ("call", "setup") and "tests/faults/" in r.nodeid.replace("\\", "/")
    ]
    ran = {r.nodeid for r in ours}
    bad = {r.nodeid for r in ours if r.outcome != "passed"}
    if ran:
        terminalreporter.write_line(f"fault matrix: {len(ran)} cases run, {len(ran) - len(bad)} survived")
