"""The stale-plan rule (models.staleness) against a hand calculation and at its edges."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
from astropy.time import Time
from hypothesis import given
from hypothesis import strategies as st

from models.staleness import STALE_AFTER_DAYS, expire, stale_mask

STATUSES = ["Planned", "Scheduled", "Unscheduled", "Performed", "Aborted"]
AS_OF = Time("2025-09-05T00:00:00", scale="utc").mjd


def _frame(status: list[str], t_max: list[float | None]) -> pd.DataFrame:
    return pd.DataFrame({"execution_status": status, "t_max": pd.array(t_max, dtype="Float64"), "obs_id": "x"})


def test_apex_2015_run_expires_and_recent_ones_do_not() -> None:
    # The APEX run of ESO period P95 ended 2015-09-30 (period boundary): ten years before the as-of date.
    p95_end = Time("2015-10-01T00:00:00", scale="utc").mjd
    edge = AS_OF - STALE_AFTER_DAYS  # ended exactly the grace period ago: not yet stale
    frame = _frame(
        ["Planned", "Scheduled", "Performed", "Scheduled", "Planned", "Planned"],
        [p95_end, p95_end, p95_end, edge, edge - 1e-6, None],
    )
    assert stale_mask(frame, AS_OF).tolist() == [True, True, False, False, True, False]
    out = expire(frame, AS_OF)
    assert out["execution_status"].tolist() == [
        "Unscheduled",
        "Unscheduled",
        "Performed",
        "Scheduled",
        "Unscheduled",
        "Planned",
    ]
    assert frame["execution_status"].iloc[0] == "Planned"  # input untouched


def test_no_stale_rows_returns_the_same_frame() -> None:
    frame = _frame(["Planned"], [AS_OF + 1])
    assert expire(frame, AS_OF) is frame
    assert stale_mask(frame.iloc[:0], AS_OF).shape == (0,)


@given(
    st.lists(
        st.tuples(
            st.sampled_from(STATUSES),
            st.one_of(st.none(), st.floats(min_value=33282.0, max_value=88069.0)),  # 1950..2100
        ),
        max_size=40,
    ),
    st.dates(min_value=dt.date(1960, 1, 1), max_value=dt.date(2090, 1, 1)),
)
def test_mask_matches_a_row_by_row_reading_of_the_rule(rows: list[tuple[str, float | None]], as_of: dt.date) -> None:
    as_of_mjd = Time(as_of.isoformat(), scale="utc").mjd
    frame = _frame([s for s, _ in rows], [t for _, t in rows])
    expected = [s in ("Planned", "Scheduled") and t is not None and t < as_of_mjd - 30.0 for s, t in rows]
    assert stale_mask(frame, as_of_mjd).tolist() == expected
    out = expire(frame, as_of_mjd)
    assert (out["execution_status"].to_numpy()[np.array(expected, dtype=bool)] == "Unscheduled").all()
    unchanged = ~np.array(expected, dtype=bool)
    assert (
        out["execution_status"].to_numpy()[unchanged].tolist()
        == frame["execution_status"].to_numpy()[unchanged].tolist()
    )
