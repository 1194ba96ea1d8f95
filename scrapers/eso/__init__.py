"""ESO (La Silla Paranal Observatory): schedule report runs and raw-archive exposures.

One module per job:

:mod:`~scrapers.eso.common`
    Names, URLs, run-id formats (classic ``099.C-0667(B)`` and, since ~P106, ``106.212B.001``),
    facilities, error helpers.
:mod:`~scrapers.eso.periods`
    ESO periods from a table of published boundaries (P66..P115); later periods are an error.
:mod:`~scrapers.eso.queries`
    The requests (wdb ``sched_rep_arc``/``eso_archive_main``/``amber``, TAP ``dbo.raw`` and
    ``ist.apex_quicklooks``) from the evidenced parameters.
:mod:`~scrapers.eso.wdb`
    Readers of wdb answers: the ``csv/download`` dialect and the ``html/display`` layouts.
:mod:`~scrapers.eso.schedule`
    The schedule report parser (:data:`LAYOUTS`: every evidenced layout variant).
:mod:`~scrapers.eso.archive`, :mod:`~scrapers.eso.tap`
    Raw-archive exposures (wdb CSV, TAP VOTables) and APEX quick-looks.
:mod:`~scrapers.eso.matching`
    Exposures -> observations per OB and night, matched to runs by programme id and time.
:mod:`~scrapers.eso.normalise`
    IVOA frames; the observing-mode/run-type -> ObsLocTAP category/priority table.

Requests (all on ``archive.eso.org``, harvested weekly): ``sched_rep_arc`` (the as-of period and
the next known one), ``eso_archive_main`` and ``amber`` (the eight nights before as-of), ``tap_raw``
(VLTI/APEX instruments only) and ``apex_quicklooks``.
"""

from __future__ import annotations

import pandas as pd

from scrapers.base import ParseError, Source
from scrapers.eso.archive import parse_amber, parse_archive_main
from scrapers.eso.common import (
    AMBER_URL,
    APEX_QUICKLOOK_ID,
    ARCHIVE,
    CLASSIC_RUN_ID,
    ID_PATTERN,
    INSTRUMENT_FACILITY,
    MAIN_URL,
    NAME,
    NEW_RUN_ID,
    RUN_ID,
    SCHED_REP_URL,
    TAP_URL,
    TELESCOPE_FACILITY,
    facility_of,
    programme_of,
)
from scrapers.eso.normalise import OPTICAL_INSTRUMENTS, mode_mapping, normalise
from scrapers.eso.periods import FIRST_PERIOD, LAST_PERIOD, PERIODS, PUBLISHED, PeriodError, period_bounds, period_of
from scrapers.eso.queries import (
    LOOKBACK_NIGHTS,
    RADIO_INSTRUMENTS,
    apex_quicklooks_adql,
    programme_request,
    requests,
    schedule_params,
    tap_raw_adql,
)
from scrapers.eso.schedule import LAYOUTS, parse_schedule
from scrapers.eso.tap import parse_apex_quicklooks, parse_tap_raw
from scrapers.eso.wdb import read_wdb_csv, read_wdb_display

__all__ = [
    "AMBER_URL",
    "APEX_QUICKLOOK_ID",
    "ARCHIVE",
    "CLASSIC_RUN_ID",
    "FIRST_PERIOD",
    "ID_PATTERN",
    "INSTRUMENT_FACILITY",
    "LAST_PERIOD",
    "LAYOUTS",
    "LOOKBACK_NIGHTS",
    "MAIN_URL",
    "NAME",
    "NEW_RUN_ID",
    "OPTICAL_INSTRUMENTS",
    "PERIODS",
    "PUBLISHED",
    "RADIO_INSTRUMENTS",
    "RUN_ID",
    "SCHED_REP_URL",
    "SOURCE",
    "TAP_URL",
    "TELESCOPE_FACILITY",
    "PeriodError",
    "apex_quicklooks_adql",
    "facility_of",
    "mode_mapping",
    "normalise",
    "parse",
    "parse_amber",
    "parse_apex_quicklooks",
    "parse_archive_main",
    "parse_schedule",
    "parse_tap_raw",
    "period_bounds",
    "period_of",
    "programme_of",
    "programme_request",
    "read_wdb_csv",
    "read_wdb_display",
    "requests",
    "schedule_params",
    "tap_raw_adql",
]

_PARSERS = {
    "sched_rep_arc": parse_schedule,
    "eso_archive_main": parse_archive_main,
    "amber": parse_amber,
    "tap_raw": parse_tap_raw,
    "apex_quicklooks": parse_apex_quicklooks,
}


def parse(name: str, content: bytes, url: str, content_type: str | None = None) -> pd.DataFrame:
    """Source frame of one ESO answer, by request name.

    Parameters
    ----------
    name
        Request name (``sched_rep_arc``, ``eso_archive_main``, ``amber``, ``tap_raw``, ``apex_quicklooks``).
    content
        Response bytes.
    url
        Request URL (named in errors).
    content_type
        Recorded HTTP ``Content-Type`` (its charset decides the decoding of text answers).

    Returns
    -------
    pandas.DataFrame
        The parser's source frame; ``attrs["layout"]`` names the layout variant that matched.

    Raises
    ------
    ParseError
        Unknown request name or an answer no variant reads.
    """
    try:
        parser = _PARSERS[name]
    except KeyError:
        raise ParseError(NAME, url, f"unknown request name {name!r}; known: {sorted(_PARSERS)}") from None
    return parser(content, url, content_type)


SOURCE = Source(
    name=NAME,
    facility="ESO-VLT, ESO-VLTI, ESO-VISTA, ESO-VST, APEX, ESO-3.6m, ESO-NTT",
    hosts=("archive.eso.org",),
    cron="0 7 * * 1",
    requests=requests,
    parse=parse,
    normalise=normalise,
    id_pattern=ID_PATTERN,
    description="ESO schedule report runs (sched_rep_arc), raw-archive exposures (wdb + TAP dbo.raw), "
    "VLTI/APEX ObsCore + radio-extension rows with computed uv coverage",
    extras={"tap": TAP_URL},
)
