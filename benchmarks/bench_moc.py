"""Benchmark the MOC builders (models.moc) and the s_region parsers (models.regions).

Cases (each in a fresh subprocess, so peak RSS from ``resource.getrusage`` belongs to one case; the
parent prints medians of ``--repeat`` runs as a Markdown table). Synthetic inputs: cone radii
log-uniform in 0.1-8 deg (NuSTAR/XMM fields up to INTEGRAL's), positions either uniform on the sphere
(every cone new: worst case) or clustered (5,000 targets re-observed with small dithers, like an
observation log); time ranges of 0.5-50 h starting anywhere in 2004-2030 (UTC MJD). No assertions: figures go into
benchmarks/README.md.

    .venv/bin/python benchmarks/bench_moc.py [--repeat 3] [--cases smoc_large_100k,...]
"""

from __future__ import annotations

import argparse
import json
import pathlib
import resource
import statistics
import subprocess
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import astropy.units as u  # noqa: E402
from mocpy import MOC  # noqa: E402

from models.moc import SPACE_ORDER, TIME_ORDER, space_moc, tcb_microseconds, time_moc  # noqa: E402
from models.regions import circle_stcs, parse_stcs, stcs_to_pgsphere  # noqa: E402
from models.timeutil import utc_mjd_to_time  # noqa: E402

CASES = {
    # name: (kind, rows, options); "uniform": every cone somewhere new (worst case),
    # otherwise clustered: 5,000 targets re-observed with < 0.5 deg dithers (observation logs).
    "cones_uniform_large_100k": ("cones", 100_000, {"union_strategy": "large_cones", "uniform": True}),
    "cones_uniform_small_100k": ("cones", 100_000, {"union_strategy": "small_cones", "uniform": True}),
    "cones_large_100k": ("cones", 100_000, {"union_strategy": "large_cones"}),
    "cones_small_100k": ("cones", 100_000, {"union_strategy": "small_cones"}),
    "cones_large_1m": ("cones", 1_000_000, {"union_strategy": "large_cones"}),
    "space_moc_stcs_100k": ("space_moc", 100_000, {}),
    # exact repeats of 5,000 pointings (schedules list the same target coordinates again)
    "space_moc_repeats_1m": ("space_moc", 1_000_000, {"dither": False}),
    "parse_stcs_1m": ("parse", 1_000_000, {}),
    "pgsphere_1m": ("pgsphere", 1_000_000, {}),
    "time_moc_1m": ("time_moc", 1_000_000, {}),
    "tcb_astropy_100k": ("tcb_astropy", 100_000, {}),
}


def synthetic_cones(
    n: int, *, uniform: bool = False, dither: bool = True, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    m = n if uniform else 5_000
    t_ra = rng.uniform(0.0, 360.0, m)
    t_dec = np.degrees(np.arcsin(rng.uniform(-1.0, 1.0, m)))
    t_radius = np.exp(rng.uniform(np.log(0.1), np.log(8.0), m))  # one instrument field per target
    pick = np.arange(n) if uniform else rng.integers(0, m, n)
    shift = rng.uniform(-0.5, 0.5, (2, n)) if dither and not uniform else np.zeros((2, n))
    dec = np.clip(t_dec[pick] + shift[1], -89.9, 89.9)
    ra = (t_ra[pick] + shift[0]) % 360.0
    return ra, dec, t_radius[pick]


def synthetic_ranges(n: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    t_min = rng.uniform(53005.0, 62502.0, n)
    return t_min, t_min + rng.uniform(0.5, 50.0, n) / 24.0


def run_case(name: str) -> dict[str, float]:
    kind, n, opts = CASES[name]
    out: dict[str, float] = {}
    if kind in ("cones", "space_moc", "parse", "pgsphere"):
        opts = dict(opts)
        ra, dec, radius = synthetic_cones(n, uniform=opts.pop("uniform", False), dither=opts.pop("dither", True))
        stcs = circle_stcs(ra, dec, radius) if kind != "cones" else None
        t0 = time.perf_counter()
        if kind == "cones":
            moc = MOC.from_cones(lon=ra * u.deg, lat=dec * u.deg, radius=radius * u.deg, max_depth=SPACE_ORDER, **opts)
            out["sky_fraction"] = moc.sky_fraction
        elif kind == "space_moc":
            moc = space_moc(stcs)
            out["sky_fraction"] = moc.sky_fraction
        elif kind == "parse":
            parse_stcs(stcs)
        else:
            stcs_to_pgsphere(stcs)
        out["seconds"] = time.perf_counter() - t0
    elif kind == "time_moc":
        t_min, t_max = synthetic_ranges(n)
        t0 = time.perf_counter()
        tmoc = time_moc(t_min, t_max, order=TIME_ORDER)
        out["seconds"] = time.perf_counter() - t0
        out["coverage_days"] = tmoc.total_duration.to_value("day")
    elif kind == "tcb_astropy":
        t_min, _ = synthetic_ranges(n)
        t0 = time.perf_counter()
        utc_mjd_to_time(t_min).tcb.jd  # noqa: B018 - astropy's per-value conversion, for comparison
        out["seconds"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        tcb_microseconds(t_min)
        out["seconds_interpolated"] = time.perf_counter() - t0
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_case(args.child)))
        return
    print("| case | rows | seconds (median) | peak RSS MB (max) | notes |")
    print("|---|---|---|---|---|")
    for name in args.cases.split(","):
        runs = []
        for _ in range(args.repeat):
            proc = subprocess.run(
                [sys.executable, __file__, "--child", name], capture_output=True, text=True, check=True
            )
            runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        secs = statistics.median(r["seconds"] for r in runs)
        rss = max(r["peak_rss_mb"] for r in runs)
        notes = {k: v for k, v in runs[0].items() if k not in ("seconds", "peak_rss_mb")}
        if "seconds_interpolated" in notes:
            notes["seconds_interpolated"] = statistics.median(r["seconds_interpolated"] for r in runs)
        note = ", ".join(f"{k}={v:.4g}" for k, v in notes.items())
        print(f"| {name} | {CASES[name][1]:,} | {secs:.2f} | {rss:.0f} | {note} |", flush=True)


if __name__ == "__main__":
    main()
