"""Properties: the TLE reader fails only with ParseError; windows are ordered, disjoint, inside the query."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from models import orbits
from models.visibility import visibility
from scrapers.base import ParseError
from scrapers.tle import load, parse

DATA = Path(__file__).parent / "data" / "visibility"
XMM = load(DATA / "xmm-newton_2025-08-03.tle")[0]
TEXT = (DATA / "xmm-newton_2025-08-03.tle").read_bytes()
URL = "https://celestrak.org/NORAD/elements/gp.php?CATNR=25989&FORMAT=TLE"


@given(st.binary(max_size=400))
def test_arbitrary_bytes_parse_or_parse_error(content: bytes) -> None:
    try:
        sets = parse("norad_25989", content, URL)
    except ParseError as exc:
        message = str(exc)
    else:
        assert all(len(t.line1) == 69 and len(t.line2) == 69 for t in sets)
        return
    assert "tle" in message and URL in message


@given(st.integers(0, len(TEXT) - 1), st.sampled_from(list(b"0123456789 -+.AUZ\n")))
def test_mutated_set_parses_or_parse_error(position: int, byte: int) -> None:
    mutated = TEXT[:position] + bytes([byte]) + TEXT[position + 1 :]
    try:
        (tle,) = parse("norad_25989", mutated, URL)
    except ParseError:
        return
    # what passes the checks has a finite epoch and either a finite position or a named SGP4 failure
    assert np.isfinite(tle.epoch_mjd)
    try:
        position = orbits.propagate_teme(tle, [tle.epoch_mjd], max_days=1)
    except orbits.PropagationError as exc:
        assert "SGP4 failed" in str(exc)  # noqa: PT017  (a named failure is the other allowed outcome)
    else:
        assert np.isfinite(position).all()


@given(
    st.floats(0, 359.999),
    st.floats(-90, 90),
    st.floats(0, 40),
    st.sampled_from(["XMM-Newton", "VLT", "APEX", "INTEGRAL"]),
)
def test_windows_ordered_disjoint_inside(ra: float, dec: float, offset: float, facility: str) -> None:
    start = XMM.epoch_mjd + offset
    result = visibility(facility, ra, dec, start, start + 0.5, tle=XMM if facility == "XMM-Newton" else None)
    assert (result.starts >= result.start_mjd).all() and (result.ends <= result.end_mjd).all()
    assert (result.ends >= result.starts).all()
    assert (result.starts[1:] > result.ends[:-1]).all()
    assert np.allclose(result.durations_s, (result.ends - result.starts) * 86400)
