"""Rebuild ``utc_reconstructed/obs-index-utc_reconstructed.fits.gz`` from the real DR1 obs-index.

The H.E.S.S. DL3 DR1 obs-index (``obs-index.fits.gz``, recorded, TIMESYS TT) is re-expressed with a
UTC reference so that every row denotes the same instants: MJDREF becomes 2004-01-01T00:00:00 UTC
(MJDREFI 53005, MJDREFF 0, TIMESYS UTC), before the 2005-12-31 leap second, while DR1 runs lie on
both sides of it (2004-03-26 .. 2008-08-28). TSTART/TSTOP become the elapsed SI seconds from that
reference to the original instants, computed with astropy ``Time`` (TT reference + TSTART, minus the
UTC reference); DATE-OBS/TIME-OBS/DATE-END/TIME-END (TT strings in DR1) are rewritten as UTC. Every
other column and keyword is kept. Run from the repository root:
``.venv/bin/python tests/data/gadf/build_reconstructed.py``.
"""

from __future__ import annotations

import pathlib

import numpy as np
from astropy.io import fits
from astropy.time import Time, TimeDelta

HERE = pathlib.Path(__file__).parent
SOURCE = HERE / "obs-index.fits.gz"
TARGET = HERE / "utc_reconstructed" / "obs-index-utc_reconstructed.fits.gz"
UTC_REF = Time(53005, 0.0, format="mjd", scale="utc")  # 2004-01-01T00:00:00 UTC


def main() -> None:
    with fits.open(SOURCE) as hdul:
        hdu = hdul["OBS_INDEX"].copy()
    header = hdu.header
    assert header["TIMESYS"].strip() == "TT"
    tt_ref = Time(header["MJDREFI"], header["MJDREFF"], format="mjd", scale="tt")
    data = hdu.data
    for col, date_col, time_col in (("TSTART", "DATE-OBS", "TIME-OBS"), ("TSTOP", "DATE-END", "TIME-END")):
        instant = tt_ref + TimeDelta(np.asarray(data[col], dtype="float64"), format="sec")
        data[col] = (instant - UTC_REF).sec  # elapsed SI seconds since the UTC reference
        iso = instant.utc.isot  # 'YYYY-MM-DDThh:mm:ss.sss'
        data[date_col] = [s[:10] for s in iso]
        data[time_col] = [s[11:23] for s in iso]
    header["MJDREFI"] = 53005
    header["MJDREFF"] = 0.0
    header["TIMESYS"] = "UTC"
    header.add_history("voharvest reconstruction: H.E.S.S. DL3 DR1 obs-index re-expressed with a UTC reference")
    header.add_history("(MJDREF 2004-01-01T00:00:00 UTC); TSTART/TSTOP = elapsed SI s to the same instants.")
    TARGET.parent.mkdir(exist_ok=True)
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(TARGET, overwrite=True)


if __name__ == "__main__":
    main()
