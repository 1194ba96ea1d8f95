"""Space, time and space-time MOCs from real pointings and times, their files, and an independent reader.

Inputs: H.E.S.S. DL3 DR1 runs (real pointings and TT start/stop times) with 2.5 deg circles, and
INTEGRAL science windows (real pointings and MJD start/end) with footprints built here from the
pointing: 9 x 9 deg squares and, every third row, 4.5 deg hexagons (test-built shapes, not recorded).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import astropy.units as u
import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from astropy.table import Table
from astropy.time import Time
from mocpy import MOC, STMOC, TimeMOC

from models.moc import SPACE_ORDER, TIME_ORDER, space_moc, space_time_moc, tcb_microseconds, time_moc, write_moc
from models.regions import circle_stcs, circumscribed_polygon, polygon_stcs
from models.timeutil import mjd_from_met, utc_mjd_to_time

MOC_CLI = Path(sys.executable).parent / "moc"
TOOL = "voharvest-test"


# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hess(data_dir) -> pd.DataFrame:
    t = Table.read(data_dir / "moc" / "hess_dl3_dr1_obs-index.fits.gz", hdu="OBS_INDEX")
    mjdref = float(t.meta["MJDREFI"])
    mjdref_f = float(t.meta["MJDREFF"])
    ra = np.asarray(t["RA_PNT"], dtype=float)
    dec = np.asarray(t["DEC_PNT"], dtype=float)
    return pd.DataFrame(
        {
            "s_ra": ra,
            "s_dec": dec,
            "radius": 2.5,
            "s_region": circle_stcs(ra, dec, 2.5),
            "t_min": mjd_from_met(np.asarray(t["TSTART"], float), mjdref, t.meta["TIMESYS"], mjdref_f),
            "t_max": mjd_from_met(np.asarray(t["TSTOP"], float), mjdref, t.meta["TIMESYS"], mjdref_f),
        }
    )


@pytest.fixture(scope="module")
def integral(data_dir) -> pd.DataFrame:
    t = Table.read(data_dir / "moc" / "intscw_last-month_177rows_rec2024-05-27.fits", unit_parse_strict="silent")
    ra = np.asarray(t["RA"], dtype=float)
    dec = np.asarray(t["DEC"], dtype=float)
    half = 4.5
    w = half / np.cos(np.radians(dec))
    square = polygon_stcs(
        np.column_stack([ra - w, ra + w, ra + w, ra - w]),
        np.column_stack([dec - half, dec - half, dec + half, dec + half]),
    )
    h_ra, h_dec = circumscribed_polygon(ra, dec, np.full(len(ra), half), 6)
    hexagon = polygon_stcs(h_ra, h_dec)
    region = square.where(np.arange(len(ra)) % 3 != 0, hexagon)
    return pd.DataFrame(
        {
            "s_ra": ra,
            "s_dec": dec,
            "s_region": region,
            "t_min": np.asarray(t["START_DATE"]).astype(float),
            "t_max": np.asarray(t["END_DATE"]).astype(float),
        }
    )


@pytest.fixture(scope="module")
def rows(hess, integral) -> pd.DataFrame:
    """Circles, squares, hexagons, plus rows without region or times (skipped by the builders)."""
    both = pd.concat([hess.drop(columns="radius"), integral], ignore_index=True)
    extra = pd.DataFrame(
        {
            "s_ra": [np.nan, 150.0, 151.0],
            "s_dec": [np.nan, 2.0, 3.0],
            "s_region": [None, "Circle ICRS 150 2 0.5", "Circle ICRS 151 3 0.5"],
            "t_min": [60000.0, np.nan, 60001.0],
            "t_max": [60000.5, np.nan, np.nan],
        }
    )
    return pd.concat([both, extra], ignore_index=True)


def _unit(ra_deg, dec_deg) -> np.ndarray:
    ra, dec = np.radians(ra_deg), np.radians(dec_deg)
    return np.stack([np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)], axis=-1)


def _exact_tcb_us(mjd: np.ndarray) -> np.ndarray:
    """TCB microseconds by astropy's full per-value conversion (the reference)."""
    tcb = utc_mjd_to_time(mjd).tcb
    day = np.round(tcb.jd1)
    frac = (tcb.jd1 - day) + tcb.jd2
    return day.astype(np.int64) * 86_400_000_000 + np.floor(frac * 86_400_000_000).astype(np.int64)


def _in_ranges(values: np.ndarray, ranges: np.ndarray) -> np.ndarray:
    ranges = np.asarray(ranges, dtype=np.int64)
    i = np.searchsorted(ranges[:, 0], values, side="right") - 1
    ok = i >= 0
    out = np.zeros(len(values), dtype=bool)
    out[ok] = values[ok] < ranges[i[ok], 1]
    return out


# --------------------------------------------------------------------------------------------
# Building
# --------------------------------------------------------------------------------------------


def test_space_moc_covers_every_footprint_and_nothing_far(hess, rows):
    moc = space_moc(rows["s_region"])
    assert moc.max_order == SPACE_ORDER
    has = rows["s_region"].notna().to_numpy()
    assert moc.contains_lonlat(rows["s_ra"][has].to_numpy() * u.deg, rows["s_dec"][has].to_numpy() * u.deg).all()
    # points just inside each H.E.S.S. circle (0.99 r, 8 bearings)
    r_in = np.degrees(np.arctan(np.tan(np.radians(2.5 * 0.99)) * np.cos(np.pi / 8)))
    e_ra, e_dec = circumscribed_polygon(hess["s_ra"], hess["s_dec"], np.full(len(hess), r_in), 8)
    assert moc.contains_lonlat(e_ra.ravel() * u.deg, e_dec.ravel() * u.deg).all()
    # every polygon vertex
    verts = rows["s_region"].str.extract(r"^Polygon ICRS (.*)$")[0].dropna().str.split().explode().astype(float)
    vv = verts.to_numpy().reshape(-1, 2)
    assert moc.contains_lonlat(vv[:, 0] * u.deg, vv[:, 1] * u.deg).all()
    # far from every footprint (more than its size + one order-10 cell): outside
    rng = np.random.default_rng(3)
    p_ra = rng.uniform(0, 360, 20_000)
    p_dec = np.degrees(np.arcsin(rng.uniform(-1, 1, 20_000)))
    centres = _unit(rows["s_ra"][has].to_numpy(), rows["s_dec"][has].to_numpy())
    reach = np.where(rows["s_region"][has].str.startswith("Circle"), 2.6, 6.5)
    reach[-2:] = 0.6
    sep = np.degrees(np.arccos(np.clip(_unit(p_ra, p_dec) @ centres.T, -1, 1)))
    far = (sep > reach[None, :] + 0.1).all(axis=1)
    assert far.sum() > 10_000
    assert not moc.contains_lonlat(p_ra[far] * u.deg, p_dec[far] * u.deg).any()
    near = (sep[:, : len(hess)] < 2.4).any(axis=1)  # inside some H.E.S.S. circle
    assert near.sum() > 50
    assert moc.contains_lonlat(p_ra[near] * u.deg, p_dec[near] * u.deg).all()


def test_space_moc_is_union_of_parts_and_strategies_agree(hess, integral):
    circles = space_moc(hess["s_region"], max_depth=8)
    polys = space_moc(integral["s_region"], max_depth=8)
    both = space_moc(pd.concat([hess["s_region"], integral["s_region"]], ignore_index=True), max_depth=8)
    assert both == circles.union(polys)
    assert circles == space_moc(hess["s_region"], max_depth=8, union_strategy="small_cones")
    # repeated pointings are computed once and change nothing
    assert circles == space_moc(pd.concat([hess["s_region"]] * 3, ignore_index=True), max_depth=8)
    # coarser boundary decisions only ever add cells
    coarse = space_moc(hess["s_region"], max_depth=8, delta_depth=0)
    assert coarse.contains_lonlat(hess["s_ra"].to_numpy() * u.deg, hess["s_dec"].to_numpy() * u.deg).all()
    assert circles.difference(coarse).empty()
    # mocpy's own STC-S reader agrees on a single circle
    assert space_moc(hess["s_region"][:1], max_depth=8) == MOC.from_stcs(
        hess["s_region"][0], max_depth=8, delta_depth=2
    )
    assert circles.sky_fraction > 0


def test_tcb_microseconds_matches_astropy_per_value_conversion():
    rng = np.random.default_rng(7)
    mjd = np.concatenate(
        [
            # dense (5,000 values over 3 years: the interpolated daily-table path)
            rng.uniform(57000.0, 58100.0, 5_000),
            [57753.999999, 57754.0, 57754.000001],  # around the 2016-12-31 leap second
        ]
    )
    diff = tcb_microseconds(mjd) - _exact_tcb_us(mjd)
    assert np.abs(diff).max() <= 1
    up = tcb_microseconds(mjd, ceil=True) - tcb_microseconds(mjd)
    assert set(np.unique(up)) <= {0, 1}
    assert tcb_microseconds([]).shape == (0,)
    # few values far apart (1972..2026): interpolated in many cached blocks of the daily table
    sparse = np.concatenate([rng.uniform(41317.0, 61400.0, 500), [41317.0, 53004.99999999]])
    assert np.abs(tcb_microseconds(sparse) - _exact_tcb_us(sparse)).max() <= 1
    with pytest.raises(ValueError, match=r"non-finite MJD at positions \[1\]"):
        tcb_microseconds([60000.0, np.nan])


def test_time_moc_contains_every_interval_and_skips_nulls(rows):
    tmoc = time_moc(rows["t_min"], rows["t_max"])
    assert tmoc.max_order == TIME_ORDER
    ok = rows["t_min"].notna() & rows["t_max"].notna()
    ranges = tmoc.to_depth61_ranges
    for col in ("t_min", "t_max"):
        assert _in_ranges(_exact_tcb_us(rows.loc[ok, col].to_numpy()), ranges).all(), col
    mid = ((rows["t_min"] + rows["t_max"]) / 2)[ok].to_numpy()
    assert _in_ranges(_exact_tcb_us(mid), ranges).all()
    # null rows contribute nothing
    assert tmoc == time_moc(rows.loc[ok, "t_min"], rows.loc[ok, "t_max"])
    # nothing a day beyond the last interval or before the first
    edges = np.array([rows["t_max"].max() + 1.0, rows["t_min"].min() - 1.0])
    assert not _in_ranges(_exact_tcb_us(edges), ranges).any()
    # coverage is at least the intervals and at most each widened by two cells
    cell_s = 2 ** (61 - TIME_ORDER) / 1e6
    total_s = tmoc.total_duration.to_value("s")
    dur_s = ((rows["t_max"] - rows["t_min"])[ok] * 86400).to_numpy()
    assert total_s <= dur_s.sum() + 2 * cell_s * ok.sum()
    assert total_s >= dur_s.max()


def test_time_moc_refuses_reversed_interval():
    with pytest.raises(ValueError, match=r"t_min > t_max in 1 row\(s\) \(positions \[1\]\)"):
        time_moc([60000.0, 60002.0], [60001.0, 60001.5])


def test_space_time_moc_contains_each_row_and_folds_to_the_single_axis_mocs(rows):
    stmoc = space_time_moc(rows["s_region"], rows["t_min"], rows["t_max"], time_order=31, space_order=9)
    assert stmoc.max_depth == (31, 9)
    use = (rows["s_region"].notna() & rows["t_min"].notna() & rows["t_max"].notna()).to_numpy()
    sub = rows[use]
    for col in ("t_min", "t_max"):
        times = utc_mjd_to_time(sub[col].to_numpy()).tcb  # mocpy converts TCB input exactly
        assert stmoc.contains(times, sub["s_ra"].to_numpy() * u.deg, sub["s_dec"].to_numpy() * u.deg).all(), col
    # at a time outside every interval, no position is covered
    later = Time(np.full(3, rows["t_max"].max() + 2.0), format="mjd", scale="utc").tcb
    assert not stmoc.contains(later, sub["s_ra"].to_numpy()[:3] * u.deg, sub["s_dec"].to_numpy()[:3] * u.deg).any()
    # folds: all-sky space fold = time MOC of the same rows; all-time fold = space MOC of them
    full_sky = MOC.from_str("0/0-11")
    assert TimeMOC.from_stmoc_space_fold(full_sky, stmoc) == time_moc(sub["t_min"], sub["t_max"], order=31)
    all_time = time_moc([40000.0], [61000.0], order=31)
    assert MOC.from_stmoc_time_fold(all_time, stmoc) == space_moc(sub["s_region"], max_depth=9)


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def written(rows, tmp_path_factory) -> dict[str, tuple[object, list[Path]]]:
    out = tmp_path_factory.mktemp("mocs")
    mocs = {
        "smoc": space_moc(rows["s_region"]),
        "tmoc": time_moc(rows["t_min"], rows["t_max"]),
        "stmoc": space_time_moc(rows["s_region"], rows["t_min"], rows["t_max"]),
    }
    return {
        k: (m, write_moc(m, out / f"obscore-test-{k}", moc_id=f"ivo://voharvest/test?{k}", tool=TOOL))
        for k, m in mocs.items()
    }


EXPECTED_KEYWORDS = {
    "smoc": {"MOCVERS": "2.0", "MOCDIM": "SPACE", "ORDERING": "NUNIQ", "COORDSYS": "C", "MOCORD_S": SPACE_ORDER},
    "tmoc": {"MOCVERS": "2.0", "MOCDIM": "TIME", "ORDERING": "RANGE", "TIMESYS": "TCB", "MOCORD_T": TIME_ORDER},
    "stmoc": {
        "MOCVERS": "2.0",
        "MOCDIM": "TIME.SPACE",
        "ORDERING": "RANGE",
        "COORDSYS": "C",
        "TIMESYS": "TCB",
        "MOCORD_S": SPACE_ORDER,
        "MOCORD_T": TIME_ORDER,
    },
}
LOADERS = {"smoc": MOC, "tmoc": TimeMOC, "stmoc": STMOC}


@pytest.mark.parametrize("kind", ["smoc", "tmoc", "stmoc"])
def test_fits_header_has_moc2_keywords(written, kind):
    _, paths = written[kind]
    fits_path = paths[0]
    # JSON only for space and time MOCs (MOC 2.0's JSON is non-normative; none for space-time MOCs)
    assert [p.suffix for p in paths] == ([".fits"] if kind == "stmoc" else [".fits", ".json"])
    with fits.open(fits_path) as hdul:
        assert hdul[0].header["NAXIS"] == 0
        h = hdul[1].header
        for key, value in EXPECTED_KEYWORDS[kind].items():
            assert h[key] == value, key
        assert h["MOCID"] == f"ivo://voharvest/test?{kind}"
        assert h["MOCTOOL"] == TOOL
        assert "DATE" not in h and "DATE" not in hdul[0].header
        if kind == "smoc":
            assert h["TTYPE1"] == "UNIQ"
        assert len(hdul[1].data) > 0


@pytest.mark.parametrize("kind", ["smoc", "tmoc", "stmoc"])
def test_files_reload_equal(written, kind):
    moc, (fits_path, *json_path) = written[kind]
    cls = LOADERS[kind]
    assert cls.load(fits_path, format="fits") == moc
    for path in json_path:
        assert cls.load(path, format="json") == moc


def _moc_cli(*args: str) -> str:
    assert MOC_CLI.exists(), f"moc-cli not installed at {MOC_CLI} (pip install moc-cli)"
    proc = subprocess.run([str(MOC_CLI), *map(str, args)], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.mark.parametrize("kind", ["smoc", "tmoc", "stmoc"])
def test_independent_reader_moc_cli_agrees(written, kind):
    moc, (fits_path, *_) = written[kind]
    info = _moc_cli("info", fits_path)
    ascii_text = _moc_cli("convert", fits_path, "ascii")
    cls = LOADERS[kind]
    assert cls.from_string(ascii_text.strip(), format="ascii") == moc
    if kind == "smoc":
        assert "MOC type: SPACE" in info and f"MOC depth: {SPACE_ORDER}" in info
        coverage = float(re.search(r"MOC coverage:\s*([\d.]+) %", info).group(1))
        assert coverage == pytest.approx(moc.sky_fraction * 100, abs=1e-8)
        # decode NUNIQ from the raw FITS column with numpy: same sky fraction
        uniq = fits.getdata(fits_path, 1)["UNIQ"].astype(np.int64)
        order = (np.floor(np.log2(uniq // 4) / 2)).astype(int)
        assert ((uniq - 4 * 4**order) < 12 * 4**order).all()
        assert np.sum(1.0 / (12 * 4.0**order)) == pytest.approx(moc.sky_fraction, rel=1e-12)
        assert coverage == pytest.approx(np.sum(1.0 / (12 * 4.0**order)) * 100, abs=1e-8)
    elif kind == "tmoc":
        assert "MOC type: TIME" in info and f"MOC depth: {TIME_ORDER}" in info
        # RANGE column is half-open [start, end) microsecond pairs at order 61, as mocpy reports
        raw = fits.getdata(fits_path, 1)["RANGE"].astype(np.int64).reshape(-1, 2)
        np.testing.assert_array_equal(raw, moc.to_depth61_ranges.astype(np.int64))
    else:
        assert "MOC type: TIME-SPACE" in info
        assert f"MOC time depth: {TIME_ORDER}" in info and f"MOC hpx depth: {SPACE_ORDER}" in info


def test_writes_are_deterministic_and_do_not_overwrite(written, tmp_path):
    for kind, (moc, paths) in written.items():
        again = write_moc(moc, tmp_path / kind, moc_id=f"ivo://voharvest/test?{kind}", tool=TOOL)
        for a, b in zip(paths, again, strict=True):
            assert a.read_bytes() == b.read_bytes(), (kind, a.name)
        with pytest.raises(FileExistsError, match="overwrite=True"):
            write_moc(moc, tmp_path / kind, moc_id="x", tool=TOOL)
        write_moc(moc, tmp_path / kind, moc_id="x", tool=TOOL, overwrite=True)
        assert fits.getheader(tmp_path / f"{kind}.fits", 1)["MOCID"] == "x"
    assert not list(tmp_path.glob(".*tmp*")), "temporary files left behind"


def test_empty_inputs_give_valid_empty_mocs(tmp_path):
    nothing = pd.Series([None, ""], dtype=object)
    nan2 = np.array([np.nan, np.nan])
    cases = {
        "smoc": space_moc(pd.Series([], dtype=object), max_depth=7),
        "smoc_nulls": space_moc(nothing),
        "tmoc": time_moc(nan2, nan2),
        "stmoc": space_time_moc(pd.Series(["Circle ICRS 1 2 3", None]), [np.nan, 60000.0], [np.nan, 60001.0]),
    }
    assert cases["smoc"].empty() and cases["smoc"].max_order == 7
    assert cases["smoc_nulls"].empty() and cases["smoc_nulls"].max_order == SPACE_ORDER
    assert cases["tmoc"].empty() and cases["tmoc"].max_order == TIME_ORDER
    assert cases["stmoc"].is_empty() and cases["stmoc"].max_depth == (TIME_ORDER, SPACE_ORDER)
    for name, moc in cases.items():
        fits_path, *_ = write_moc(moc, tmp_path / name, moc_id="ivo://voharvest/empty", tool=TOOL)
        cls = LOADERS[name.split("_")[0]]
        assert cls.load(fits_path, format="fits") == moc
        assert "MOC type:" in _moc_cli("info", fits_path)
        assert fits.getheader(fits_path, 1)["MOCVERS"] == "2.0"


def test_moc_cli_is_installed():
    assert shutil.which(str(MOC_CLI)) is not None
