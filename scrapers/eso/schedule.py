"""The schedule report (``sched_rep_arc``): runs of every evidenced layout as one source frame.

Layouts (:data:`LAYOUTS`; evidence ids from sources.md, "Evidence of the live layouts"):
``csv`` (the wdb ``csv/download`` dialect), ``display-dotted`` (older ``html/display``, dot-padded
labels without a colon), ``display-dotted-colon`` (this project's first reconstruction),
``display-table`` (``<table id="wdbresults1">`` of ``<th>``/``<td>`` rows), ``table-records``
(``<tr id="N">`` rows) and ``tabular`` (``force_tabular_mode=on``).

Labels are matched after lower-casing and dropping everything but letters and digits. The
evidenced labels are Period, Observing Mode, Programme Type, Allocated time, Telescope, Instrument,
PI/CoI and Proposal Title (id 31384208192); the synonyms ``Run ID``, ``Obs. Mode``, ``Run Type``,
``Time``, ``Nights`` and ``Title`` of the first reconstruction are still accepted (harmless: no
evidenced label normalises to them). The run id is read from a run-id column when there is one,
else from the link of the first cell (``table-records``/``tabular``), else from the ``progid=`` of
the query when the answer holds one record (the evidenced single-programme queries).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.errors import ValueParseError
from models.timeutil import mjd_from_iso
from scrapers.base import ParseError, value_error
from scrapers.eso.common import NAME, bad, facility_of, norm, pick, programme_of, run_ids
from scrapers.eso.periods import period_bounds
from scrapers.eso.wdb import as_text, is_html, read_wdb_csv, read_wdb_display

WHAT = "sched_rep_arc"

#: Layout variant id -> description (with the evidence id of sources.md).
LAYOUTS: dict[str, str] = {
    "csv": "wdbo=csv/download: BOM, blank line, # comments, CSV header (dialect of the real wdb CSVs; "
    "sources.md ESO section)",
    "display-dotted": "wdbo=html/display, older: 'Period................. 099' label lines, dots, no colon "
    "(id 31384208192)",
    "display-dotted-colon": "dot-padded label lines with a colon ('<b>Period....:</b>&nbsp; 76'); first "
    "reconstruction, not evidenced",
    "display-table": "wdbo=html/display, newer: <table id=wdbresults1> of <tr><th>PI/CoI</th><td>... rows "
    "(id 36951584479)",
    "table-records": "multi-record answer: <tr id=N> rows, first cell links to the record (id 36951584479)",
    "tabular": "force_tabular_mode=on: header row of <th> labels, one <tr> per run (sources.md ESO evidence)",
}

# Canonical fields and the normalised labels/headers that name them (evidenced label first).
RUN_HEADERS: dict[str, tuple[str, ...]] = {
    "period": ("period",),
    "run_id": (
        "runid",
        "runprogramid",
        "progid",
        "programid",
        "programmeid",
        "program",
        "programme",
        "run",
    ),
    "obs_mode": ("observingmode", "obsmode", "mode"),
    "run_type": ("programmetype", "programtype", "runtype", "type"),
    "telescope": ("telescope", "tel"),
    "instrument": ("instrument", "instr"),
    "allocation": ("allocatedtime", "timeallocated", "time", "allocation", "nightsorhours"),
    "nights": ("nights", "schedulednights", "dates"),
    "pi": ("picoi", "pi"),
    "title": ("proposaltitle", "title", "programmetitle", "programtitle"),
}
RUN_REQUIRED = ("period", "run_id", "telescope", "instrument")

_DATE = r"\d{4}-\d{2}-\d{2}"
_ALLOCATION = r"^\s*(?P<value>\d+(?:\.\d+)?)\s*(?P<unit>[nNhH])(?:[a-zA-Z]*)(?:\(s\))?\s*$"
#: Observing modes as written -> canonical spelling (lower-cased, spaces collapsed).
MODES: dict[str, str] = {
    "v": "Visitor",
    "vm": "Visitor",
    "visitor": "Visitor",
    "visitor mode": "Visitor",
    "s": "Service",
    "sm": "Service",
    "service": "Service",
    "service mode": "Service",
    "designated visitor": "Designated visitor",
    "designated visitor mode": "Designated visitor",
    "dvm": "Designated visitor",
}


def _run_id_column(raw: pd.DataFrame) -> pd.DataFrame:
    """The answer's run-id column, filled where empty from the first cell's link, then the query's ``progid``."""
    helpers = [h for h in ("__link_run_id", "__query_run_id") if h in raw.columns]
    if not helpers:
        return raw
    names = {norm(c): c for c in raw.columns}
    column = next((names[s] for s in RUN_HEADERS["run_id"] if s in names), None)
    ids = raw[column].fillna("").astype(str).str.strip() if column is not None else pd.Series("", index=raw.index)
    for helper in helpers:
        ids = ids.where(ids.ne(""), raw[helper].fillna("").astype(str))
    out = raw.drop(columns=helpers)
    out[column if column is not None else "Run ID"] = ids
    return out


def canonical_modes(mode: pd.Series) -> pd.Series:
    """Observing modes in one spelling: ``Visitor``, ``Service``, ``Designated visitor`` (dbo.raw ``v``/``s`` too)."""
    key = mode.fillna("").astype(str).str.strip().str.lower().str.replace(r"\s+", " ", regex=True)
    return key.map(MODES).fillna(mode.fillna("").astype(str).str.strip().str.capitalize())


def _run_types(run_type: pd.Series) -> pd.Series:
    """Run types as written, combined values normalised to ``A/B`` without spaces (``ToO/ToO``, ``Large/GTO``)."""
    return run_type.fillna("").astype(str).str.strip().str.replace(r"\s*/\s*", "/", regex=True)


def _nights(nights: pd.Series, url: str, found: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(count, first night start, last night end) of ``YYYY-MM-DD`` evening dates, noon UT to noon UT."""
    text = nights.fillna("").astype(str)
    leftover = text.str.replace(_DATE, "", regex=True).str.replace(r"[\s,;]", "", regex=True)
    bad(leftover.ne(""), "nights", f"{WHAT} (nights as YYYY-MM-DD dates)", url, text, found)
    count = text.str.count(_DATE).to_numpy(dtype="int64")
    lo = np.full(len(text), np.nan)
    hi = np.full(len(text), np.nan)
    dates = text.reset_index(drop=True).str.extractall(f"({_DATE})")
    if not dates.empty:
        rows = dates.index.get_level_values(0).to_numpy()
        try:
            mjd = mjd_from_iso(dates[0].to_numpy())
        except ValueParseError as exc:
            raise value_error(exc, source=NAME, url=url, column="nights", index=list(rows), found=found) from exc
        per_row = pd.Series(mjd).groupby(rows)
        lo[per_row.min().index.to_numpy()] = per_row.min().to_numpy() + 0.5
        hi[per_row.max().index.to_numpy()] = per_row.max().to_numpy() + 1.5
    return count, lo, hi


def parse_schedule(content: bytes, url: str, content_type: str | None = None) -> pd.DataFrame:
    """Runs of the schedule report, whichever evidenced layout the answer has.

    Parameters
    ----------
    content
        Response bytes (wdb CSV or HTML).
    url
        Request URL (errors; ``progid=`` of single-record answers).
    content_type
        Recorded HTTP ``Content-Type`` for the text layer.

    Returns
    -------
    pandas.DataFrame
        One row per run: period, run_id, programme_id, obs_mode (``Visitor``, ``Service``,
        ``Designated visitor`` or as written), run_type (combined values kept, ``Large/GTO``),
        telescope, instrument, facility, alloc_value/alloc_unit, n_nights, night_t_min/max,
        period_t_min/max (MJD), pi (first name of PI/CoI), pi_coi, title. ``attrs["layout"]``
        names the layout that matched (:data:`LAYOUTS`).

    Raises
    ------
    ParseError
        Unknown layout, missing label, unreadable value, a period beyond the table of known ESO
        periods, an unknown telescope/instrument, or a run listed twice with different contents.
    """
    text = as_text(content, url, content_type)
    if is_html(text):
        raw = read_wdb_display(text, url, WHAT)
    else:
        raw = read_wdb_csv(text, url, WHAT)
    layout = raw.attrs.get("layout", "csv")
    found = [str(c) for c in raw.columns if not str(c).startswith("__")]
    raw = _run_id_column(raw)
    runs = pick(raw, RUN_HEADERS, RUN_REQUIRED, WHAT, url)
    for col in RUN_HEADERS:
        if col not in runs.columns:
            runs[col] = ""
    runs = runs.fillna("").astype(str)
    period_text = runs["period"].str.strip()
    period_num = period_text.str.extract(r"^P?\s*(\d{1,4})$", expand=False)
    bad(period_num.isna(), "period", WHAT, url, period_text, found)
    period = period_num.astype("int64").to_numpy()
    run_id = run_ids(runs["run_id"], WHAT, url, found, "run_id")
    try:
        p_lo, p_hi = period_bounds(period)
    except ValueParseError as exc:
        raise value_error(exc, source=NAME, url=url, column="period", found=found) from exc
    alloc = runs["allocation"].str.extract(_ALLOCATION)
    bad(
        alloc["value"].isna() & runs["allocation"].str.strip().ne(""),
        "allocation",
        WHAT,
        url,
        runs["allocation"],
        found,
    )
    n_nights, night_lo, night_hi = _nights(runs["nights"], url, found)
    instrument = runs["instrument"].str.strip().str.upper()
    telescope = runs["telescope"].str.strip()
    facility = facility_of(instrument, telescope)
    bad(
        facility.isna(),
        "telescope",
        f"{WHAT} (no facility known for telescope/instrument)",
        url,
        telescope + " / " + instrument,
        found,
    )
    pi_coi = runs["pi"].str.strip()
    frame = pd.DataFrame(
        {
            "period": period,
            "run_id": run_id.to_numpy(),
            "programme_id": programme_of(run_id).to_numpy(),
            "obs_mode": canonical_modes(runs["obs_mode"]).to_numpy(),
            "run_type": _run_types(runs["run_type"]).to_numpy(),
            "telescope": telescope.to_numpy(),
            "instrument": instrument.to_numpy(),
            "facility": facility.to_numpy(),
            "alloc_value": pd.to_numeric(alloc["value"]).astype("float64").to_numpy(),
            "alloc_unit": alloc["unit"].str.lower().map({"n": "nights", "h": "hours"}).to_numpy(),
            "n_nights": n_nights,
            "night_t_min": night_lo,
            "night_t_max": night_hi,
            "period_t_min": p_lo,
            "period_t_max": p_hi,
            "pi": pi_coi.str.split("/").str[0].str.strip().to_numpy(),
            "pi_coi": pi_coi.to_numpy(),
            "title": runs["title"].str.strip().to_numpy(),
        }
    ).drop_duplicates()
    dup = frame["run_id"].duplicated(keep=False)
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        raise ParseError(NAME, url, f"{WHAT}: run {frame['run_id'].iloc[i]} listed twice", row=i, column="run_id")
    out = frame.reset_index(drop=True)
    out.attrs["layout"] = layout
    return out
