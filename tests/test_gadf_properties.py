"""Property tests of the GADF readers: mutated real obs-indexes and arbitrary bytes.

Property (common brief): for arbitrary bytes and for the real H.E.S.S. DL3 DR1 obs-index with mutated
cells (TSTART/TSTOP, RA/DEC, energies, exposure, ids; NaN, inf, 1e300, edges) and header keywords
(MJDREF, TIMESYS), the reader either gives frames whose ObsCore/HEA rows pass
:func:`models.validate.validate`, or raises :class:`ParseError` naming the source, the file and
(for cell mutations) the column -- never another exception. The CI profile runs a fixed number of
examples; ``HYPOTHESIS_PROFILE=long`` explores more.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import pathlib

import numpy as np
import pandas as pd
from astropy.io import fits
from astropy.table import Table
from hypothesis import given
from hypothesis import strategies as st

from models.tables import OBSCORE, OBSCORE_HEA
from models.validate import validate
from scrapers import gadf
from scrapers.base import ParseError

DATA = pathlib.Path(__file__).parent / "data" / "gadf"
URL = "https://example.org/hess-dl3-dr1/obs-index.fits.gz"
AS_OF = dt.datetime(2025, 9, 4, tzinfo=dt.UTC)
N_ROWS = 105

MUTABLE = (
    "TSTART",
    "TSTOP",
    "RA_PNT",
    "DEC_PNT",
    "SAFE_ENERGY_LO",
    "SAFE_ENERGY_HI",
    "LIVETIME",
    "ONTIME",
    "DEADC",
    "RA_OBJ",
    "DEC_OBJ",
    "EVENT_COUNT",
    "OBS_ID",
)
EDGES = (np.nan, np.inf, -np.inf, 1e300, -1e300, 0.0, -0.0, 360.0, 90.0, -90.0, 5e-324, 1e-300, 2.0**63, -1.0)
VALUES = st.one_of(
    st.sampled_from(EDGES), st.floats(allow_nan=True, allow_infinity=True), st.integers(-(2**63), 2**63 - 1)
)
CELL = st.tuples(st.sampled_from(MUTABLE), st.integers(0, N_ROWS - 1), VALUES)


@functools.cache
def _table() -> Table:
    return Table.read(DATA / "obs-index.fits.gz", hdu="OBS_INDEX")


@functools.cache
def _hdu_frame() -> pd.DataFrame:
    return gadf.parse("hdu_index", (DATA / "hdu-index.fits.gz").read_bytes(), URL.replace("obs-", "hdu-"))


def _bytes(cells: list[tuple[str, int, float]], header: dict[str, object]) -> bytes:
    table = _table().copy()
    for column, row, value in cells:
        col = table[column]
        with np.errstate(all="ignore"):
            if col.dtype.kind in "iu":
                if not np.isfinite(value) or abs(value) >= 2.0**63:
                    table[column] = col.astype("float64")  # an integer column written as floats
                    table[column][row] = value
                else:
                    col[row] = int(value)
            else:
                col[row] = value
    hdu = fits.table_to_hdu(table)
    hdu.header.update(header)
    hdu.name = "OBS_INDEX"
    buf = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(buf)
    return buf.getvalue()


def _check(content: bytes, *, columns: set[str | None] | None = None) -> None:
    """parse + normalise: valid rows, or a ParseError naming source, URL (and a mutated column)."""
    error: ParseError | None = None
    try:
        obs = gadf.parse("obs_index", content, URL)
        out = gadf.normalise({"obs_index": obs, "hdu_index": _hdu_frame()}, AS_OF)
    except ParseError as exc:
        error = exc
    if error is not None:
        assert error.source == gadf.SOURCE_NAME and error.url == URL and URL in str(error)
        if columns is not None:
            assert error.column in columns, (error.column, columns, str(error))
        return
    assert validate(out["obscore"], OBSCORE, as_of=AS_OF) == []
    assert validate(out["obscore_hea"], OBSCORE_HEA, as_of=AS_OF) == []
    core = out["obscore"]
    for name in ("t_min", "t_max", "s_ra", "s_dec", "em_min", "em_max", "t_exptime"):
        values = core[name].to_numpy(dtype="float64")
        assert not np.isinf(values).any(), name  # NULL or finite, never inf
    assert (core["t_min"].dropna() > 33282).all() and (core["t_max"].dropna() < 88069).all()  # 1950..2100


@given(cells=st.lists(CELL, min_size=1, max_size=3))
def test_mutated_cells_give_valid_rows_or_a_named_error(cells: list[tuple[str, int, float]]) -> None:
    _check(_bytes(cells, {}), columns={c for c, _, _ in cells} | {"SAFE_ENERGY_HI", "TSTART", "TSTOP", "LIVETIME"})


@given(
    mjdrefi=st.one_of(st.sampled_from([0, 51910, 40587, 99999, -51910]), st.integers(-(2**40), 2**40)),
    mjdreff=st.one_of(st.sampled_from([0.0, 0.5, 1e300, -1e300]), st.floats(allow_nan=False, allow_infinity=False)),
    timesys=st.sampled_from(["TT", "UTC", "tai", "TDB", " utc ", "GPS", "", "UT", "LOCAL"]),
)
def test_mutated_time_reference_gives_valid_rows_or_a_named_error(mjdrefi: int, mjdreff: float, timesys: str) -> None:
    content = _bytes([], {"MJDREFI": mjdrefi, "MJDREFF": mjdreff, "TIMESYS": timesys})
    _check(content, columns={None, "TSTART", "TSTOP", "TIMESYS", "MJDREFI"})


@given(content=st.one_of(st.binary(max_size=4000), st.binary(max_size=200).map(lambda b: b"SIMPLE  =" + b)))
def test_arbitrary_bytes_give_a_named_error(content: bytes) -> None:
    for name in ("obs_index", "hdu_index"):
        error: ParseError | None = None
        try:
            gadf.parse(name, content, URL)
        except ParseError as exc:
            error = exc
        assert error is not None, "arbitrary bytes parsed as an index"
        assert error.url == URL and error.source == gadf.SOURCE_NAME


@given(cut=st.integers(0, 20000), flip=st.integers(0, 20000), byte=st.integers(0, 255))
def test_damaged_real_files_give_frames_or_a_named_error(cut: int, flip: int, byte: int) -> None:
    """The real file truncated or with one byte changed (after gunzip): a frame or a ParseError."""
    import gzip

    raw = bytearray(gzip.decompress((DATA / "obs-index.fits.gz").read_bytes()))
    raw[flip % len(raw)] = byte
    content = bytes(raw[: len(raw) - cut % len(raw)])
    _check(content)
