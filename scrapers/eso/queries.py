"""The requests of a weekly ESO harvest (wdb forms and TAP), built from the evidenced parameters."""

from __future__ import annotations

import datetime as dt

from models import radio
from scrapers.base import Request
from scrapers.eso.common import AMBER_URL, MAIN_URL, NAME, SCHED_REP_URL, TAP_URL
from scrapers.eso.periods import LAST_PERIOD, last_known_day, period_of
from scrapers.eso.tap import TAP_RAW_COLUMNS

#: Nights looked back by the weekly archive queries (one week plus a night of overlap).
LOOKBACK_NIGHTS = 8
#: Instruments the TAP query asks for: VLTI and APEX (models.radio.INSTRUMENTS).
RADIO_INSTRUMENTS = tuple(sorted(radio.INSTRUMENTS))


def _wdb_date(day: dt.date) -> str:
    return day.strftime("%Y %m %d")


def schedule_periods(as_of: dt.date) -> str:
    """The ``period`` parameter of the schedule query: the as-of period and the next, when known.

    Only periods of the table (:mod:`scrapers.eso.periods`) are asked for, so an answer never
    holds a run the parser must refuse for want of period dates. Past the table's last day the
    periods after it are asked for: the answer then holds runs the parser refuses with a message
    naming the period (the operator adds the period's published dates).
    """
    if as_of > last_known_day():
        return f"{LAST_PERIOD + 1}..{LAST_PERIOD + 2}"
    p = period_of(as_of)
    return f"{p}..{p + 1}" if p < LAST_PERIOD else str(p)


def schedule_params(*, period: str = "", progid: str = "", wdbo: str = "csv/download") -> tuple[tuple[str, str], ...]:
    """Parameters of a ``sched_rep_arc`` query, in the order of the evidenced query string.

    The query string of sources.md (ESO section: ``wdbo``, ``max_rows_returned``, ``tab_period``,
    ``period``, ``tab_obs_mode``, ``tab_run_type``, ``run_type=%``, ``start``, ``tab_nights``,
    ``tel=%``, ``tab_instrument``, ``instrument``, ``instrument_user``, ``progid``, ``tab_pi_coi``,
    ``pi_coi``, ``pi_coi_name=PI_only``, ``title``, ``tab_dp_id``, ``tab_publications``,
    ``order=PERIOD_PROGID``), plus ``force_tabular_mode=on`` (sources.md evidence: one row per run)
    and ``tab_title=on`` (assumed: the title column is not in the evidenced string).
    """
    return (
        ("wdbo", wdbo),
        ("max_rows_returned", "10000"),
        ("tab_period", "on"),
        ("period", period),
        ("tab_obs_mode", "on"),
        ("tab_run_type", "on"),
        ("run_type", "%"),
        ("start", ""),
        ("tab_nights", "on"),
        ("tel", "%"),
        ("tab_instrument", "on"),
        ("instrument", "%"),
        ("instrument_user", ""),
        ("progid", progid),
        ("tab_pi_coi", "on"),
        ("pi_coi", ""),
        ("pi_coi_name", "PI_only"),
        ("tab_title", "on"),
        ("title", ""),
        ("tab_dp_id", "on"),
        ("tab_publications", "on"),
        ("order", "PERIOD_PROGID"),
        ("force_tabular_mode", "on"),
    )


def programme_request(progid: str) -> Request:
    """The ``html/display`` record of one run: ``?wdbo=html/display&progid=099.C-0667(B)``.

    The query the evidenced scrapers make (ids 36951584479, 31384208192); for ``voharvest probe``
    and manual checks, not part of the weekly harvest.
    """
    return Request(
        source=NAME,
        name="sched_rep_arc",
        url=SCHED_REP_URL,
        params=(("wdbo", "html/display"), ("progid", progid)),
    )


def tap_raw_adql(as_of: dt.date) -> str:
    """ADQL on ``dbo.raw``: science exposures of VLTI/APEX instruments in the look-back window."""
    start = as_of - dt.timedelta(days=LOOKBACK_NIGHTS)
    instruments = ", ".join(f"'{i}'" for i in RADIO_INSTRUMENTS)
    return (
        f"SELECT {', '.join(TAP_RAW_COLUMNS)} FROM dbo.raw "
        f"WHERE dp_cat = 'SCIENCE' AND instrument IN ({instruments}) "
        f"AND exp_start >= '{start.isoformat()}T12:00:00' AND exp_start < '{as_of.isoformat()}T12:00:00'"
    )


def apex_quicklooks_adql(as_of: dt.date) -> str:
    """ADQL on ``ist.apex_quicklooks``: products released in the look-back window."""
    start = as_of - dt.timedelta(days=LOOKBACK_NIGHTS)
    return (
        "SELECT * FROM ist.apex_quicklooks "
        f"WHERE release_date >= '{start.isoformat()}' AND release_date < '{as_of.isoformat()}'"
    )


def requests(as_of: dt.date) -> list[Request]:
    """The five requests of a weekly ESO harvest for snapshot date ``as_of``.

    Parameters
    ----------
    as_of
        Snapshot date.

    Returns
    -------
    list of Request
        ``sched_rep_arc`` (wdb CSV), ``eso_archive_main`` and ``amber`` (wdb CSV, the eight
        nights before as-of), ``tap_raw`` and ``apex_quicklooks`` (TAP).
    """
    start, end = _wdb_date(as_of - dt.timedelta(days=LOOKBACK_NIGHTS)), _wdb_date(as_of)
    main = (
        ("wdbo", "csv/download"),
        ("max_rows_returned", "30000"),
        ("stime", start),
        ("starttime", "12"),
        ("etime", end),
        ("endtime", "12"),
        ("dp_cat", "SCIENCE"),
        ("tab_object", "on"),
        ("tab_target_coord", "on"),
        ("tab_prog_id", "on"),
        ("tab_instrument", "on"),
        ("tab_dp_cat", "on"),
        ("tab_dp_type", "on"),
        ("tab_dp_tech", "on"),
        ("tab_dp_id", "on"),
        ("tab_rel_date", "on"),
        ("tab_tpl_start", "on"),
        ("tab_exptime", "on"),
        ("tab_mjd_obs", "on"),
        ("tab_ob_id", "on"),
    )
    amber = (
        ("wdbo", "csv/download"),
        ("max_rows_returned", "30000"),
        ("stime", start),
        ("etime", end),
        ("dp_cat", "SCIENCE"),
        ("tab_prog_id", "on"),
        ("tab_dp_id", "on"),
        ("tab_ob_id", "on"),
        ("tab_dp_cat", "on"),
        ("tab_iss_conf_station1", "on"),
        ("tab_iss_conf_station2", "on"),
        ("tab_iss_conf_station3", "on"),
    )
    return [
        Request(
            source=NAME, name="sched_rep_arc", url=SCHED_REP_URL, params=schedule_params(period=schedule_periods(as_of))
        ),
        Request(source=NAME, name="eso_archive_main", url=MAIN_URL, params=main),
        Request(source=NAME, name="amber", url=AMBER_URL, params=amber),
        Request(source=NAME, name="tap_raw", url=TAP_URL, method="POST", kind="tap", query=tap_raw_adql(as_of)),
        Request(
            source=NAME,
            name="apex_quicklooks",
            url=TAP_URL,
            method="POST",
            kind="tap",
            query=apex_quicklooks_adql(as_of),
        ),
    ]
