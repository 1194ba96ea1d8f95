"""Identity rules: rows of one source that share an id are one observation only if they agree.

A schedule can list one observation in several rows (a pointing split around a gap, a listing
repeated across pages). Merging such rows blindly (first name, last end time) publishes an
observation that never existed when the rows are really two observations under one id (a typo,
a re-used sequence number). :func:`merge_duplicate_ids` merges rows that share an id only when
they name the same target and point within a stated tolerance; otherwise it raises a
:class:`~scrapers.base.ParseError` naming both rows. Vectorised (one groupby), so a clean frame
costs one ``duplicated`` call.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from scrapers.base import ParseError

#: Default position tolerance for "the same pointing" (arcsec).
POSITION_TOLERANCE_ARCSEC = 60.0


def _separation_arcsec(ra1: np.ndarray, dec1: np.ndarray, ra2: np.ndarray, dec2: np.ndarray) -> np.ndarray:
    """Great-circle separation (haversine, degrees in, arcsec out)."""
    r1, d1, r2, d2 = (np.deg2rad(a) for a in (ra1, dec1, ra2, dec2))
    hav = np.sin((d2 - d1) / 2) ** 2 + np.cos(d1) * np.cos(d2) * np.sin((r2 - r1) / 2) ** 2
    return np.rad2deg(2 * np.arcsin(np.sqrt(np.clip(hav, 0.0, 1.0)))) * 3600.0


def _show(value: object) -> str:
    return "NULL" if pd.isna(value) else repr(value)


def merge_duplicate_ids(
    frame: pd.DataFrame,
    id_column: str,
    *,
    source: str,
    url: str,
    same: Sequence[str] = (),
    ra: str | None = "ra",
    dec: str | None = "dec",
    tolerance_arcsec: float = POSITION_TOLERANCE_ARCSEC,
    combine: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """One row per id: rows sharing an id merged when they agree, else a :class:`ParseError`.

    Parameters
    ----------
    frame
        Source frame; its index labels are the rows named in errors.
    id_column
        The identifier column.
    source, url
        Named in the error.
    same
        Columns that must be equal within a group (compared as stripped text, case-insensitive).
    ra, dec
        Position columns (degrees) that must agree within ``tolerance_arcsec``; ``None`` to skip.
    tolerance_arcsec
        Largest separation of rows that are the same pointing.
    combine
        Column -> pandas aggregation (``min``, ``max``, ``sum``, ``first``) for merged rows;
        other columns take the first row's value.

    Returns
    -------
    pandas.DataFrame
        ``frame`` with one row per id, in first-appearance order, index of the first row.

    Raises
    ------
    ParseError
        Two rows share an id but disagree (names both rows, the column and both values).
    """
    dup = frame[id_column].duplicated(keep=False).to_numpy()
    if not dup.any():
        return frame
    groups = frame[dup]
    # Each row beside its group's first row, taken by position: "first" of a groupby would skip NULLs.
    positions = pd.Series(np.arange(len(groups)), index=groups.index)
    first_pos = positions.groupby(groups[id_column].to_numpy(), sort=False).transform("first").to_numpy()
    first = groups.iloc[first_pos].set_axis(groups.index)
    labels = frame.index[dup]
    first_label = pd.Series(labels[first_pos], index=groups.index)
    for col in same:
        a = groups[col].astype("string").str.strip().str.casefold()
        b = first[col].astype("string").str.strip().str.casefold()
        differs = (a.fillna("") != b.fillna("")).to_numpy()
        if differs.any():
            k = int(np.flatnonzero(differs)[0])
            raise ParseError(
                source,
                url,
                f"id {groups[id_column].iloc[k]!r} is listed for two different observations: "
                f"{col} {_show(first[col].iloc[k])} (row {first_label.iloc[k]}) "
                f"and {_show(groups[col].iloc[k])} (row {labels[k]})",
                row=labels[k],
                column=col,
            )
    if ra is not None and dec is not None:
        sep = _separation_arcsec(
            groups[ra].to_numpy(float),
            groups[dec].to_numpy(float),
            first[ra].to_numpy(float),
            first[dec].to_numpy(float),
        )
        far = ~(np.nan_to_num(sep, nan=0.0) <= tolerance_arcsec)
        if far.any():
            k = int(np.flatnonzero(far)[0])
            raise ParseError(
                source,
                url,
                f"id {groups[id_column].iloc[k]!r} is listed at two positions {sep[k]:.1f} arcsec apart "
                f"(rows {first_label.iloc[k]} and {labels[k]}; tolerance {tolerance_arcsec} arcsec)",
                row=labels[k],
                column=f"{ra}/{dec}",
            )
    how = {c: "first" for c in frame.columns if c != id_column}
    how.update(combine or {})
    merged = groups.groupby(id_column, sort=False).agg(how).reset_index()
    merged.index = groups.index[~groups[id_column].duplicated()]
    merged = merged[frame.columns]
    out = pd.concat([frame[~dup], merged]).sort_index(kind="stable")
    out.attrs = dict(frame.attrs)
    return out
