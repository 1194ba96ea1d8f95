"""ESO observing periods: a table of published boundaries, and a clear error beyond it.

ESO allocated time in six-month periods: odd periods from 1 April to 30 September, even periods
from 1 October to 31 March (P104 = 2019-10-01 .. 2020-03-31, sources.md). The table below is that
rule for P66 .. P115, checked at import against every period whose dates we found published
(:data:`PUBLISHED`, each with where it was read). ESO moved its regular Call for Proposals to a
yearly cycle: "ESO has moved to a Yearly Cycle (YC) for its regular call for proposals since P117"
(eso.org/sci/observing/phase1/fast-track-channel.html, read 2026); the Period 115 call still gave
"Period 115 (1 April 2025 – 30 September 2025)" (eso.org/sci/observing/phase1/p115/proposalsopen).
No published dates of P116 or P117 were found (searched: "ESO period 116 117 call for proposals
dates", "ESO P116 observing period", P116/P117 call pages), so the table ends at P115 and any
later period is a :class:`PeriodError` naming it: add the period here, with its source, once ESO's
call gives its dates.

Boundaries are at 12:00 UT, the ESO archive's night boundary (a period's first night starts at noon
UT of its first day; its last night ends at noon UT after its last day). P105/P106 (the 2020
interruption of operations) follow the rule but were not checked individually.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import numpy.typing as npt
import pandas as pd

from models.errors import ValueParseError
from models.timeutil import mjd_from_date

#: First and last period of the table.
FIRST_PERIOD = 66
LAST_PERIOD = 115

#: Periods whose dates were read in a published ESO text: period -> (first day, last day, where).
PUBLISHED: dict[int, tuple[str, str, str]] = {
    66: (
        "2000-10-01",
        "2001-03-31",
        "ESO Phase 1 page as of 2000-03 (copy at spacenews.com): 'Period 66, October 1, 2000'",
    ),
    71: (
        "2003-04-01",
        "2003-09-30",
        "ESO press note 2002-09-03 (spaceref.com): 'Period 71, 1 April 2003 – 30 September 2003'",
    ),
    83: ("2009-04-01", "2009-09-30", "Call for Proposals P83 (riastronomia.es): '1 April 2009 – 30 September 2009'"),
    92: ("2013-10-01", "2014-03-31", "eso.org/sci/publications/announcements/sciann13009.html"),
    98: ("2016-10-01", "2017-03-31", "eso.org/sci/publications/announcements/sciann16015.html"),
    99: ("2017-04-01", "2017-09-30", "eso.org/sci/publications/announcements/sciann16051.html"),
    100: ("2017-10-01", "2018-03-31", "eso.org/sci/publications/announcements/sciann17015.html"),
    101: ("2018-04-01", "2018-09-30", "eso.org/sci/publications/announcements/sciann17058.html"),
    103: ("2019-04-01", "2019-09-30", "eso.org/sci/publications/announcements/sciann17128.html"),
    104: ("2019-10-01", "2020-03-31", "sources.md (ESO section)"),
    110: ("2022-10-01", "2023-03-31", "eso.org/sci/publications/announcements/sciann17473.html"),
    112: ("2023-10-01", "2024-03-31", "eso.org/sci/publications/announcements/sciann17553.html"),
    114: ("2024-10-01", "2025-03-31", "astronomyaustralia.org.au ESO blog (Call for Proposals P114)"),
    115: ("2025-04-01", "2025-09-30", "eso.org/sci/observing/phase1/p115/proposalsopen"),
}


class PeriodError(ValueParseError):
    """A period (or date) outside the table of known ESO periods."""


def _rule_first_day(period: int) -> dt.date:
    """First day of a six-month period: even -> 1 October, odd -> 1 April (P104 = 2019-10-01)."""
    if period % 2 == 0:
        return dt.date(2019 + (period - 104) // 2, 10, 1)
    return dt.date(2020 + (period - 105) // 2, 4, 1)


def _table() -> pd.DataFrame:
    periods = range(FIRST_PERIOD, LAST_PERIOD + 1)
    first = [_rule_first_day(p) for p in periods]
    last = [_rule_first_day(p + 1) - dt.timedelta(days=1) for p in periods]
    table = pd.DataFrame(
        {
            "first_day": first,
            "last_day": last,
            "source": [PUBLISHED.get(p, ("", "", "six-month rule (not checked individually)"))[2] for p in periods],
        },
        index=pd.Index(periods, name="period"),
    )
    for p, (lo, hi, _) in PUBLISHED.items():
        row = table.loc[p]
        if (row["first_day"].isoformat(), row["last_day"].isoformat()) != (lo, hi):
            raise AssertionError(f"ESO period table disagrees with the published dates of P{p}")
    # MJD at 12:00 UT of the first day, and 12:00 UT after the last day (the next period's start).
    table["t_min"] = [mjd_from_date(d) + 0.5 for d in table["first_day"]]
    table["t_max"] = [mjd_from_date(d) + 1.5 for d in table["last_day"]]
    return table


#: period -> first_day, last_day (dates), source (citation), t_min/t_max (MJD, 12:00 UT boundaries).
PERIODS: pd.DataFrame = _table()


def _unknown(period: npt.ArrayLike) -> str:
    return (
        f"ESO period outside the table of known periods P{FIRST_PERIOD}..P{LAST_PERIOD} "
        f"(P{LAST_PERIOD} ends {PERIODS.loc[LAST_PERIOD, 'last_day'].isoformat()}; ESO moved to a yearly cycle "
        "from P117 and no published dates of later periods were found: add them to scrapers/eso/periods.py)"
    )


def period_bounds(period: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """``(start, end)`` MJD of ESO periods, from the table (12:00 UT boundaries).

    Parameters
    ----------
    period
        Period numbers (integers).

    Returns
    -------
    tuple of numpy.ndarray
        float64 MJD of the start (noon UT of the first day) and end (noon UT after the last day).

    Raises
    ------
    PeriodError
        A period outside the table (listing every such position and value).
    """
    p = np.atleast_1d(np.asarray(period, dtype="int64"))
    known = np.isin(p, PERIODS.index.to_numpy())
    if not known.all():
        rows = np.flatnonzero(~known)
        raise PeriodError(_unknown(p), rows, [f"P{p[i]}" for i in rows[:5]])
    return PERIODS["t_min"].reindex(p).to_numpy("float64"), PERIODS["t_max"].reindex(p).to_numpy("float64")


def period_of(day: dt.date) -> int:
    """ESO period containing ``day`` (a calendar date; nights are labelled by their evening).

    Raises
    ------
    PeriodError
        ``day`` outside the table.
    """
    hit = PERIODS.index[(PERIODS["first_day"] <= day) & (PERIODS["last_day"] >= day)]
    if len(hit) != 1:
        raise PeriodError(_unknown(day), [0], [day.isoformat()])
    return int(hit[0])


def last_known_day() -> dt.date:
    """Last day covered by the table."""
    return PERIODS.loc[LAST_PERIOD, "last_day"]
