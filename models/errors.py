"""The one error type of the value layers (times, coordinates, text, tabular input).

The value layers live in ``models/`` and know nothing of sources or URLs; they report *which
positions* of a column are wrong and why. A source wraps such an error once, with
:func:`scrapers.base.value_error`, into a :class:`scrapers.base.ParseError` that names source,
URL, row and column. So every source reports bad values the same way, and a new value layer
needs no new error handling in the sources.
"""

from __future__ import annotations

from collections.abc import Sequence


class ValueParseError(ValueError):
    """Some values of a column cannot be read or are out of range.

    Parameters
    ----------
    reason
        What is wrong, without the column or source (``"not a time"``, ``"RA outside [0, 360]"``).
    rows
        0-based positions of the offending values in the input sequence (all of them).
    values
        The offending values as text (the first few), to show in the message.
    """

    def __init__(self, reason: str, rows: Sequence[int], values: Sequence[str]):
        self.reason = reason
        self.rows = [int(r) for r in rows]
        self.values = [str(v) for v in values][:5]
        shown = ", ".join(repr(v) for v in self.values)
        more = f" and {len(self.rows) - len(self.values)} more" if len(self.rows) > len(self.values) else ""
        super().__init__(f"{reason}: {shown}{more} (rows {self.rows[:5]})")
