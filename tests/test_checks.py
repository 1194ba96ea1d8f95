"""pipelines.checks: one blocking spec check per group of models.validate.CODE_GROUPS, fed with as_of."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pandas as pd
from astropy.time import Time

from models import OBSPLAN
from models.validate import CODE_GROUPS, GROUPS
from pipelines.checks import _SPEC_CHECK_TEXT, SPEC_CHECKS, spec_check_results, spec_check_specs
from tests.test_validate import good_obsplan

KEY = dg.AssetKey(["out", "ivoa", "obsplan"])


def test_one_blocking_check_per_declared_group() -> None:
    specs = spec_check_specs(KEY, OBSPLAN)
    assert [s.name for s in specs] == list(GROUPS) == list(SPEC_CHECKS)
    assert all(s.blocking for s in specs)
    for spec in specs:
        for code in SPEC_CHECKS[spec.name]:
            assert CODE_GROUPS[code] == spec.name and code in spec.description
    assert set(_SPEC_CHECK_TEXT) == set(GROUPS), "every group has a description written for the UI"


def test_plausibility_check_fails_on_a_performed_row_after_as_of() -> None:
    frame = good_obsplan()  # row 2 is Performed, ending 2017-10-13 02:39:50 UTC (MJD 58036.111)
    end = Time(58036.111, format="mjd", scale="utc").to_datetime(timezone=dt.UTC)
    before = end - dt.timedelta(hours=1)
    results, violations = spec_check_results(KEY, frame, OBSPLAN, as_of=before)
    by_name = {r.check_name: r for r in results}
    assert set(by_name) == set(GROUPS)
    assert not by_name["plausibility"].passed
    assert all(r.passed for n, r in by_name.items() if n != "plausibility")
    # it started 1.49 h before its end (58036.049): only t_max is after the as-of time
    assert [(v.code, v.column, v.rows) for v in violations] == [("performed-in-future", "t_max", (2,))]
    assert "ivoa.obsplan.t_max" in by_name["plausibility"].description
    results, violations = spec_check_results(KEY, frame, OBSPLAN, as_of=end + dt.timedelta(seconds=1))
    assert violations == [] and all(r.passed for r in results)


def test_without_as_of_the_rows_t_planning_is_the_reference() -> None:
    frame = good_obsplan().assign(t_planning=58036.0)  # before the Performed row's end
    _, violations = spec_check_results(KEY, frame, OBSPLAN)
    assert {v.code for v in violations} == {"performed-in-future"}
    _, violations = spec_check_results(KEY, pd.DataFrame(good_obsplan()), OBSPLAN)
    assert violations == []
