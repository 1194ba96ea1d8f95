"""What every ESO module shares: names, URLs, id patterns, facilities and error helpers."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from models import radio
from scrapers.base import ParseError

NAME = "eso"
ARCHIVE = "https://archive.eso.org"
SCHED_REP_URL = f"{ARCHIVE}/wdb/wdb/eso/sched_rep_arc/query"
MAIN_URL = f"{ARCHIVE}/wdb/wdb/eso/eso_archive_main/query"
AMBER_URL = f"{ARCHIVE}/wdb/wdb/eso/amber/query"
TAP_URL = f"{ARCHIVE}/tap_obs"

#: Classic run id: period (2-4 digits), category letter, programme number, run letter (``099.C-0667(B)``,
#: ``0101.C-0123(A)``).
CLASSIC_RUN_ID = r"\d{2,4}\.[A-Z]-\d{4}\([A-Z]\)"
#: Run id used since about P106: period, 4-character programme code, 3-digit run (``106.212B.001``;
#: sources.md, evidence id 19058544301).
NEW_RUN_ID = r"\d{3,4}\.[0-9A-Z]{4}\.\d{3}"
RUN_ID = rf"(?:{CLASSIC_RUN_ID}|{NEW_RUN_ID})"
#: The run part of a run id: ``(B)`` of the classic form, ``.001`` of the new one.
RUN_SUFFIX = r"(?:\([A-Z]\)|(?<=\.[0-9A-Z]{4})\.\d{3})$"
#: APEX quick-look product names as the archive lists them (``E-095.F-9802A.2015JUL15.TAR``).
APEX_QUICKLOOK_ID = r"E-\d{2,4}\.[A-Z]-\d{4}[A-Z]\.\d{4}[A-Z]{3}\d{2}\.TAR"
ID_PATTERN = rf"{RUN_ID}|\d+-\d{{8}}|{RUN_ID}-[A-Z0-9]+-.+-\d{{8}}|{APEX_QUICKLOOK_ID}"

#: Facility by instrument, for records that do not name the telescope (wdb answers).
INSTRUMENT_FACILITY: dict[str, str] = {
    **{k: v.facility for k, v in radio.INSTRUMENTS.items()},
    "MIDI": "ESO-VLTI",
    **dict.fromkeys(
        (
            "CRIRES",
            "ERIS",
            "ESPRESSO",
            "FLAMES",
            "FORS1",
            "FORS2",
            "GIRAFFE",
            "HAWKI",
            "ISAAC",
            "KMOS",
            "MUSE",
            "NACO",
            "SINFONI",
            "SPHERE",
            "UVES",
            "VIMOS",
            "VISIR",
            "XSHOOTER",
        ),
        "ESO-VLT",
    ),
    "VIRCAM": "ESO-VISTA",
    "OMEGACAM": "ESO-VST",
    "HARPS": "ESO-3.6m",
    "EFOSC": "ESO-NTT",
    "SOFI": "ESO-NTT",
    "APEXBOL": "APEX",
}
#: Facility by telescope text (schedule ``Telescope`` column, TAP ``telescope``), first match wins.
TELESCOPE_FACILITY: tuple[tuple[str, str], ...] = (
    (r"VLTI", "ESO-VLTI"),
    (r"^(?:ESO-VLT-)?U[1-4T]|^UT[1-4]|^VLT", "ESO-VLT"),
    (r"VISTA", "ESO-VISTA"),
    (r"VST", "ESO-VST"),
    (r"APEX", "APEX"),
    (r"NTT", "ESO-NTT"),
    (r"3\.?6|3P6", "ESO-3.6m"),
)


def norm(text: str) -> str:
    """Comparable form of a header or label: lower case letters and digits only."""
    return re.sub(r"[^a-z0-9]", "", str(text).lower())


def pick(
    frame: pd.DataFrame, headers: dict[str, tuple[str, ...]], required: tuple[str, ...], what: str, url: str
) -> pd.DataFrame:
    """Columns found by header text (synonyms, first listed wins) renamed to canonical names.

    Parameters
    ----------
    frame
        Text cells with the answer's headers.
    headers
        Canonical name -> normalised header synonyms (:func:`norm`).
    required
        Canonical names that must be found.
    what, url
        For the error.

    Returns
    -------
    pandas.DataFrame
        The found columns under their canonical names.

    Raises
    ------
    ParseError
        A required header is missing (names it and lists the headers found).
    """
    found = [str(c) for c in frame.columns]
    by_norm: dict[str, object] = {}
    for c in frame.columns:
        by_norm.setdefault(norm(c), c)
    rename = {}
    for canon, synonyms in headers.items():
        hit = next((by_norm[s] for s in synonyms if s in by_norm and by_norm[s] not in rename), None)
        if hit is not None:
            rename[hit] = canon
        elif canon in required:
            raise ParseError(NAME, url, f"{what}: required header missing", column=canon, found=found)
    return frame[list(rename)].rename(columns=rename)


def bad(mask: np.ndarray | pd.Series, column: str, what: str, url: str, values: pd.Series, found: list[str]) -> None:
    """Raise a ParseError naming the first row where ``mask`` holds (its value, column, headers found)."""
    mask = np.asarray(mask, dtype=bool)
    if mask.any():
        i = int(np.flatnonzero(mask)[0])
        raise ParseError(NAME, url, f"{what}: unreadable value {values.iloc[i]!r}", row=i, column=column, found=found)


def numbers(frame: pd.DataFrame, col: str, what: str, url: str, found: list[str]) -> np.ndarray:
    """float64 of a text column; empty cells NaN, anything else unreadable is a ParseError."""
    text = frame[col].astype(str).str.strip()
    num = pd.to_numeric(text, errors="coerce")
    bad(num.isna() & text.ne(""), col, what, url, text, found)
    return num.to_numpy(dtype="float64")


def run_ids(values: pd.Series, what: str, url: str, found: list[str], column: str) -> pd.Series:
    """Run ids checked against both ESO formats (``099.C-0667(B)``, ``106.212B.001``)."""
    ids = values.astype(str).str.strip()
    bad(
        ~ids.str.fullmatch(RUN_ID),
        column,
        f"{what} (run id like 099.C-0667(B) or 106.212B.001)",
        url,
        ids,
        found,
    )
    return ids


def programme_of(run_id: pd.Series) -> pd.Series:
    """Programme id of run ids of either format: ``099.C-0667(B)`` -> ``099.C-0667``, ``106.212B.001`` -> ``106.212B``.

    Parameters
    ----------
    run_id
        Run ids (text); values in neither format are returned unchanged.

    Returns
    -------
    pandas.Series
        Programme ids, the key on which archive exposures are matched to schedule runs.
    """
    return run_id.astype(str).str.replace(RUN_SUFFIX, "", regex=True)


def facility_of(instrument: pd.Series, telescope: pd.Series | None = None) -> pd.Series:
    """``ESO-<telescope>`` (or ``APEX``) from the telescope text, else from the instrument; None if unknown.

    Parameters
    ----------
    instrument
        Instrument names (upper case).
    telescope
        Telescope text as the answer gives it (``UT4``, ``ESO-VLT-U4``, ``VISTA``), if any.

    Returns
    -------
    pandas.Series
        Facility names (object), None where neither is known. Interferometric instruments are
        always ``ESO-VLTI`` whatever telescope the record names.
    """
    out = pd.Series([None] * len(instrument), index=instrument.index, dtype=object)
    if telescope is not None:
        tel = telescope.fillna("").astype(str).str.upper()
        for pattern, facility in reversed(TELESCOPE_FACILITY):
            out = out.mask(tel.str.contains(pattern, regex=True), facility)
    by_instrument = instrument.astype(str).str.upper().map(INSTRUMENT_FACILITY)
    interferometric = by_instrument.eq("ESO-VLTI")
    out = out.mask(interferometric, "ESO-VLTI")
    return out.fillna(by_instrument).astype(object)
