"""Parsing recorded taplint output (no services): totals, message kinds, and a clear error when the
run did not finish."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.serve_check import ServeCheckError, ServeCheckReport, judge, parse_taplint

RECORDED = Path(__file__).resolve().parents[1] / "data" / "serve_check" / "taplint_dachs27.txt"


def test_parse_recorded_taplint() -> None:
    lint = parse_taplint(RECORDED.read_text(encoding="utf-8"))
    assert (lint.errors, lint.warnings, lint.infos, lint.summaries, lint.failures) == (1, 11, 194, 24, 0)
    assert lint.error_lines == ["E-OBS-CUCD-1 Wrong UCD in ObsCore column bib_reference: meta.bib != meta.bib.bibcode"]
    assert len(lint.warning_lines) == 11
    assert lint.summary("S-LOC-PCLS") == ["S-LOC-PCLS-1 ivoa.obsplan columns: 26/26 required, 0 custom"]
    assert lint.totals_line == "Totals: Errors: 1; Warnings: 11; Infos: 194; Summaries: 24; Failures: 0"
    report = ServeCheckReport(Path("s"), "http://x/tap", "rd", Path("s.rc"), ["obsplan"], "", taplint=lint)
    judge(report)
    assert report.problems == ["taplint reported 1 error(s)"] and not report.ok


def test_truncated_output_is_an_error() -> None:
    text = RECORDED.read_text(encoding="utf-8")
    with pytest.raises(ServeCheckError, match="no 'Totals:' line"):
        parse_taplint(text[: text.index("Totals:")])
