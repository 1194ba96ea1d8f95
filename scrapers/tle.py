"""Two-line element sets (TLE) as a source-like input: request builder and a pure parser.

Orbital elements are fetched, archived raw and replayed like any page. The request asks CelesTrak's
GP service for one NORAD number in the classic TLE text format (``FORMAT=TLE``: an optional name line
followed by lines ``1 ...`` and ``2 ...``; https://celestrak.org/NORAD/documentation/gp-data-formats.php).
This source is deliberately *not* in the harvest registry: the visibility code asks for it.

:func:`parse` decodes through :func:`scrapers.text.decode` (the one text layer) and checks every line:
69 characters, line numbers 1/2, the same catalogue number on both lines and the modulo-10
checksum in column 69 (digits summed, ``-`` counts 1, everything else 0, over columns 1-68: the
NORAD rule, https://celestrak.org/columns/v04n03/), and the fixed-column numeric fields (epoch, drag
terms, angles, eccentricity, mean motion: ``sgp4``'s own reader accepts letters there and propagates
nonsense). Anything else is a
:class:`~scrapers.base.ParseError` naming source, URL and line number.
"""

from __future__ import annotations

import re
from pathlib import Path

from models.orbits import TLE
from scrapers.base import ParseError, Request
from scrapers.text import decode

SOURCE = "tle"

#: CelesTrak GP query URL (documented at https://celestrak.org/NORAD/documentation/gp-data-formats.php).
GP_URL = "https://celestrak.org/NORAD/elements/gp.php"

#: NORAD catalogue numbers of the spacecraft the visibility models propagate (``../shared/visibility.md``).
NORAD = {"XMM-Newton": 25989, "NuSTAR": 38358, "INTEGRAL": 27540}


def requests(spacecraft: list[str] | tuple[str, ...] = ("XMM-Newton", "NuSTAR")) -> list[Request]:
    """One GET per spacecraft for its current TLE.

    Parameters
    ----------
    spacecraft : sequence of str
        Keys of :data:`NORAD`.

    Returns
    -------
    list of Request
        ``name`` is ``norad_<number>``: stable across dates so the raw archive keys the replay.
    """
    return [
        Request(
            source=SOURCE,
            name=f"norad_{NORAD[name]}",
            url=GP_URL,
            params=(("CATNR", str(NORAD[name])), ("FORMAT", "TLE")),
        )
        for name in spacecraft
    ]


def checksum(line: str) -> int:
    """The NORAD modulo-10 checksum of columns 1-68 (digits add their value, ``-`` adds 1)."""
    return sum(int(c) if c.isdigit() else (1 if c == "-" else 0) for c in line[:68]) % 10


#: Fixed-column numeric fields (0-based slices) and their pattern, from the NORAD format
#: (https://celestrak.org/columns/v04n03/): epoch, drag terms, angles, eccentricity, mean motion.
_FIELDS = {
    "1": (
        ("epoch year", slice(18, 20), r"\d{2}"),
        ("epoch day", slice(20, 32), r"[ \d]{3}\.\d{8}"),
        ("n-dot/2", slice(33, 43), r"[ +-]\.\d{8}"),
        ("n-ddot/6", slice(44, 52), r"[ +-]\d{5}[+-]\d"),
        ("B*", slice(53, 61), r"[ +-]\d{5}[+-]\d"),
    ),
    "2": (
        ("inclination", slice(8, 16), r"[ \d]{3}\.\d{4}"),
        ("RAAN", slice(17, 25), r"[ \d]{3}\.\d{4}"),
        ("eccentricity", slice(26, 33), r"\d{7}"),
        ("argument of perigee", slice(34, 42), r"[ \d]{3}\.\d{4}"),
        ("mean anomaly", slice(43, 51), r"[ \d]{3}\.\d{4}"),
        ("mean motion", slice(52, 63), r"[ \d]{2}\.\d{8}"),
    ),
}
#: Upper bounds of the angle fields (the sgp4 reader accepts anything and propagates nonsense).
_LIMITS = {"epoch day": 367.0, "inclination": 180.0, "RAAN": 360.0, "argument of perigee": 360.0, "mean anomaly": 360.0}


#: 0-based columns that are blank separators in each line.
_BLANKS = {"1": (1, 8, 17, 32, 43, 52, 61, 63), "2": (1, 7, 16, 25, 33, 42, 51)}


def _check_fields(line: str, number: str, lineno: int, url: str) -> None:
    for col in _BLANKS[number]:
        if line[col] != " ":
            raise ParseError(SOURCE, url, f"line {lineno}: column {col + 1} should be blank, reads {line[col]!r}")
    for what, cols, pattern in _FIELDS[number]:
        text = line[cols]
        if re.fullmatch(pattern, text) is None:
            raise ParseError(
                SOURCE, url, f"line {lineno}: {what} (columns {cols.start + 1}-{cols.stop}) reads {text!r}"
            )
        if what in _LIMITS and not (float(text) < _LIMITS[what] and (what != "epoch day" or float(text) >= 1.0)):
            raise ParseError(SOURCE, url, f"line {lineno}: {what} {text.strip()} out of range")
    if number == "2" and not float(line[52:63]) > 0:
        raise ParseError(SOURCE, url, f"line {lineno}: mean motion {line[52:63].strip()} is not positive")


def _check_line(line: str, number: str, lineno: int, url: str) -> None:
    where = f"line {lineno}"
    if len(line) != 69:
        raise ParseError(SOURCE, url, f"{where}: a TLE line has 69 characters, found {len(line)}: {line!r}")
    if line[0] != number or line[1] != " ":
        raise ParseError(SOURCE, url, f"{where}: expected TLE line {number}, found {line[:2]!r}")
    if not line[68].isdigit() or checksum(line) != int(line[68]):
        raise ParseError(
            SOURCE, url, f"{where}: checksum {line[68]!r} does not match the computed {checksum(line)}: {line!r}"
        )


def parse(name: str, content: bytes, url: str, content_type: str | None = None) -> list[TLE]:
    """Every element set in a TLE/3LE text response.

    Parameters
    ----------
    name : str
        Request name (``norad_25989``) or file name: used as the set's name when no name line precedes it.
    content : bytes
        Raw response bytes.
    url : str
        Where they came from (for errors and provenance).
    content_type : str, optional
        Recorded HTTP Content-Type (its charset is honoured by the text layer).

    Returns
    -------
    list of TLE
        In file order; ``source`` is ``url``.
    """
    text = decode(content, source=SOURCE, url=url, content_type=content_type)
    lines = [(i + 1, raw.rstrip()) for i, raw in enumerate(text.splitlines()) if raw.strip()]
    out: list[TLE] = []
    title: str | None = None
    k = 0
    while k < len(lines):
        lineno, line = lines[k]
        if line.startswith("1 "):
            if k + 1 >= len(lines):
                raise ParseError(SOURCE, url, f"line {lineno}: TLE line 1 without a line 2")
            lineno2, line2 = lines[k + 1]
            _check_line(line, "1", lineno, url)
            _check_line(line2, "2", lineno2, url)
            _check_fields(line, "1", lineno, url)
            _check_fields(line2, "2", lineno2, url)
            if line[2:7] != line2[2:7]:
                raise ParseError(
                    SOURCE, url, f"lines {lineno}-{lineno2}: catalogue numbers differ ({line[2:7]} vs {line2[2:7]})"
                )
            out.append(TLE(name=(title or name).strip(), line1=line, line2=line2, source=url))
            title = None
            k += 2
        elif line.startswith("2 "):
            raise ParseError(SOURCE, url, f"line {lineno}: TLE line 2 without a line 1")
        else:
            title = line[2:] if line.startswith("0 ") else line
            k += 1
    if not out:
        raise ParseError(SOURCE, url, "no TLE (lines '1 ...' / '2 ...') found")
    return out


def load(path: str | Path) -> list[TLE]:
    """Every set in a recorded TLE file (``recordings/visibility/*.tle``).

    Parameters
    ----------
    path : str or Path
        File holding one or more sets.

    Returns
    -------
    list of TLE
        ``source`` is the file's URI.
    """
    path = Path(path)
    return parse(path.stem, path.read_bytes(), path.resolve().as_uri())
