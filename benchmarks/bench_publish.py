"""End-to-end publication benchmark: a generated schedule through every stage of a snapshot.

    .venv/bin/python benchmarks/bench_publish.py                      # 10,000 rows (well under a minute)
    .venv/bin/python benchmarks/bench_publish.py --rows 10000 100000 1000000 [--changes 100]

Each size runs in a fresh subprocess (peak RSS is that process's). The rows come from
``benchmarks.schedules`` (valid, realistic schedules of four facilities); the previous snapshot's
history is the same rows with ``--changes`` planned exposures different, composed before timing.
Timed stages, in the order ``pipelines.assets`` runs them:

``compose`` (reconcile with the previous history, changelog, X-ray ObsCore rows), ``validate``
(``models.validate.validate`` of every table), ``conform`` (frames to Arrow), ``parquet`` (every table),
``votable`` (BINARY2 of obsplan, obscore, its extensions and changes), ``changes_json``, ``mocs``
(space, time and space-time MOCs per table and facility, within the snapshot's VOTable bytes),
``tap_kit``, ``manifest`` and ``publish`` (``publish_snapshot``: ``validate_snapshot`` + rename).

The floor is measured in the same process on the same rows: a bare ``pyarrow.parquet.write_table``
(zstd) of every conformed table, plus bare mocpy builds per MOC table and facility at the former fixed
orders (space 10, time 31): ``MOC.from_cones`` (distinct circles, ``large_cones``) and
``MOC.from_polygons`` in batches of 5,000 united, and ``TimeMOC.from_time_ranges_approx``. The ratio is
the publication's total over the floor. Because the published MOCs now have orders per facility (coarser
than 10 for INTEGRAL's degree-wide fields, finer for arcminute ones), a second floor builds the same bare
MOCs at the published orders (``floor*``, ``ratio_published_orders``). Peak RSS: a thread samples
``VmRSS`` every 10 ms during the stages; ``ru_maxrss`` (whole process, generation included) is printed
too. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import pathlib
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

STAGES = (
    "compose",
    "validate",
    "conform",
    "parquet",
    "votable",
    "changes_json",
    "mocs",
    "tap_kit",
    "manifest",
    "publish",
)


def _rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


class RssSampler:
    """Highest VmRSS seen by a background thread (10 ms period) between start and stop."""

    def __init__(self, period: float = 0.01) -> None:
        self.period = period
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss_mb())
            self._stop.wait(self.period)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_mb())


def _timed(seconds: dict[str, float], name: str, fn: Callable[[], Any]) -> Any:
    start = time.perf_counter()
    out = fn()
    seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - start
    return out


def _sizes(directory: pathlib.Path) -> dict[str, int]:
    out = {"parquet": 0, "votable": 0, "moc": 0, "tap": 0, "other": 0}
    for path in directory.rglob("*"):
        if not path.is_file():
            continue
        rel = path.relative_to(directory).as_posix()
        size = path.stat().st_size
        if rel.endswith(".parquet"):
            out["parquet"] += size
        elif rel.endswith(".vot"):
            out["votable"] += size
        elif rel.startswith("moc/"):
            out["moc"] += size
        elif rel.startswith("tap/"):
            out["tap"] += size
        else:
            out["other"] += size
    return out


def floor_seconds(
    tables: dict[str, Any], frames: dict[str, Any], directory: pathlib.Path, *, published_orders: bool = False
) -> dict[str, float]:
    """Bare pyarrow Parquet writes of every table + bare mocpy MOC builds of the MOC tables' rows.

    The MOCs are built at space order 10 and time order 31 (the fixed orders before issue 13), or with
    ``published_orders`` at the orders ``models.moc.choose_orders`` gives each table and facility.
    """
    import astropy.units as u
    import numpy as np
    import pyarrow.parquet as pq
    from astropy.time import Time
    from mocpy import MOC, TimeMOC

    from models.regions import parse_stcs
    from models.snapshot import MOC_TABLES

    out: dict[str, float] = {}
    start = time.perf_counter()
    for name, table in tables.items():
        pq.write_table(table, directory / f"floor-{name}.parquet", compression="zstd")
    out["parquet"] = time.perf_counter() - start
    start = time.perf_counter()
    for name in MOC_TABLES:
        frame = frames[name]
        for _, rows in frame.groupby(frame["facility_name"].fillna("unknown"), sort=True):
            space, time_order = 10, 31
            if published_orders:
                from models.moc import choose_orders

                orders = choose_orders(rows["s_region"], rows["t_min"], rows["t_max"], rows["s_resolution"])
                space, time_order = orders.space, orders.time
            parsed = parse_stcs(rows["s_region"])
            parts = []
            circles = np.flatnonzero(parsed.is_circle)
            if len(circles):
                cones = np.unique(np.column_stack([parsed.ra, parsed.dec, parsed.radius])[circles], axis=0)
                parts.append(
                    MOC.from_cones(
                        lon=cones[:, 0] * u.deg,
                        lat=cones[:, 1] * u.deg,
                        radius=cones[:, 2] * u.deg,
                        max_depth=space,
                        union_strategy="large_cones",
                        delta_depth=2,
                    )
                )
            for _, v_ra, v_dec in parsed.polygon_groups():
                for lo in range(0, len(v_ra), 5000):
                    lonlat = np.empty((2 * len(v_ra[lo : lo + 5000]), v_ra.shape[1]))
                    lonlat[0::2], lonlat[1::2] = v_ra[lo : lo + 5000], v_dec[lo : lo + 5000]
                    batch = MOC.from_polygons(lonlat, max_depth=space)
                    parts.append(batch[0].union(*batch[1:]) if len(batch) > 1 else batch[0])
            if len(parts) > 1:
                parts[0].union(*parts[1:])
            timed = rows.dropna(subset=["t_min", "t_max"])
            if len(timed):
                TimeMOC.from_time_ranges_approx(
                    Time(timed["t_min"].to_numpy(), format="mjd", scale="utc"),
                    Time(timed["t_max"].to_numpy(), format="mjd", scale="utc"),
                    order=time_order,
                )
    out["mocs"] = time.perf_counter() - start
    return out


def run(rows: int, changes: int, keep: pathlib.Path | None = None) -> dict[str, Any]:
    """Generate, publish and measure one snapshot of ``rows`` obsplan rows; returns the figures."""
    from benchmarks import schedules
    from models import moc as moc_module
    from models import snapshot
    from models.arrow import conform
    from models.compose import compose
    from models.history import change_counts
    from models.parquet import write_parquet
    from models.tap_kit import write_tap_kit
    from models.validate import validate
    from models.votable import write_votable

    t0 = time.perf_counter()
    current = schedules.harvest(rows)
    previous = schedules.previous_harvest(current, changes)
    date = schedules.AS_OF_DATE
    as_of = schedules.as_of_mjd()
    before = compose(
        {k: {"obsplan": f} for k, f in previous.items()}, None, None, date - dt.timedelta(days=1), as_of - 1
    )
    prev_history = before["obsplan_history"]
    del before, previous
    generate_s = time.perf_counter() - t0

    seconds: dict[str, float] = {}
    tool = f"voharvest {snapshot.code_version()}"
    root = pathlib.Path(tempfile.mkdtemp(prefix="bench_publish-", dir=keep))
    with RssSampler() as rss:
        frames = _timed(
            seconds,
            "compose",
            lambda: compose({k: {"obsplan": f} for k, f in current.items()}, prev_history, None, date, as_of),
        )
        found = _timed(
            seconds,
            "validate",
            lambda: {n: validate(f, snapshot.SNAPSHOT_TABLES[n], as_of=as_of) for n, f in frames.items()},
        )
        bad = {n: [v.message for v in vs] for n, vs in found.items() if vs}
        if bad:
            raise SystemExit(f"generated rows fail validation: {json.dumps(bad)[:2000]}")
        stage = snapshot.new_staging(root, date)
        tables = _timed(
            seconds, "conform", lambda: {n: conform(f, snapshot.SNAPSHOT_TABLES[n]) for n, f in frames.items()}
        )
        entries: dict[str, Any] = {}
        for name, table in tables.items():
            spec = snapshot.SNAPSHOT_TABLES[name]
            _timed(seconds, "parquet", lambda t=table, s=spec, n=name: write_parquet(t, s, stage / f"{n}.parquet"))
            files = [f"{name}.parquet"]
            if name in (*snapshot.VOTABLE_TABLES, "changes"):
                _timed(seconds, "votable", lambda t=table, s=spec, n=name: write_votable(t, s, stage / f"{n}.vot"))
                files.append(f"{name}.vot")
            entries[name] = {"table": spec.qualified_name, "rows": table.num_rows, "files": files}
        document = {"snapshot": date.isoformat(), "changes": change_counts(frames["changes"])}
        _timed(seconds, "changes_json", lambda: (stage / "changes.json").write_bytes(snapshot.dumps(document)))
        moc_module_new = hasattr(moc_module, "write_snapshot_mocs")
        if moc_module_new:  # the budgeted writer (issue 13)
            votable_bytes = sum(p.stat().st_size for p in stage.glob("*.vot"))
            mocs = _timed(
                seconds,
                "mocs",
                lambda: moc_module.write_snapshot_mocs(
                    stage, {n: frames[n] for n in snapshot.MOC_TABLES}, tool, budget_bytes=votable_bytes
                ),
            )
        else:  # the code before issue 13
            mocs = _timed(
                seconds,
                "mocs",
                lambda: snapshot.write_mocs(stage, {n: frames[n] for n in snapshot.MOC_TABLES}, tool)[0],
            )
        tap = _timed(seconds, "tap_kit", lambda: write_tap_kit(stage, [snapshot.SNAPSHOT_TABLES[n] for n in entries]))
        sizes = _sizes(stage)
        _timed(
            seconds,
            "manifest",
            lambda: snapshot.write_manifest(
                stage,
                {"snapshot": date.isoformat(), "as_of_mjd": as_of, "tables": entries, "mocs": mocs, "tap": tap},
            ),
        )
        published = _timed(seconds, "publish", lambda: snapshot.publish_snapshot(stage, root, date))
    total = sum(seconds.values())
    floor_dir = pathlib.Path(tempfile.mkdtemp(prefix="floor-", dir=keep))
    floor = floor_seconds(tables, frames, floor_dir)
    floor_total = sum(floor.values())
    same = floor_seconds(tables, frames, floor_dir, published_orders=True) if moc_module_new else None
    result = {
        "rows": rows,
        "changes": changes,
        "status": published.status,
        "generate_s": round(generate_s, 3),
        "stages_s": {k: round(seconds.get(k, 0.0), 3) for k in STAGES},
        "total_s": round(total, 3),
        "floor_s": {k: round(v, 3) for k, v in floor.items()},
        "floor_total_s": round(floor_total, 3),
        "ratio": round(total / floor_total, 2),
        "floor_published_orders_s": None if same is None else {k: round(v, 3) for k, v in same.items()},
        "ratio_published_orders": None if same is None else round(total / sum(same.values()), 2),
        "peak_rss_mb": round(rss.peak, 1),
        "ru_maxrss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "sizes_bytes": sizes,
        "moc_files": len(mocs),
        "table_rows": {k: v["rows"] for k, v in entries.items()},
        "load_average": round(os.getloadavg()[0], 2),
    }
    if keep is None:
        import shutil

        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(floor_dir, ignore_errors=True)
    return result


def _print_table(result: dict[str, Any]) -> None:
    mb = 1e6
    print(f"\n{result['rows']:,} obsplan rows ({result['changes']} changed; load average {result['load_average']})")
    print(f"{'stage':<14} {'seconds':>9}")
    for name, secs in result["stages_s"].items():
        print(f"{name:<14} {secs:9.2f}")
    print(f"{'total':<14} {result['total_s']:9.2f}")
    floor = result["floor_s"]
    print(f"{'floor':<14} {result['floor_total_s']:9.2f}  (parquet {floor['parquet']:.2f} + mocpy {floor['mocs']:.2f})")
    print(f"{'ratio':<14} {result['ratio']:9.2f}")
    if result.get("floor_published_orders_s"):
        same = result["floor_published_orders_s"]
        print(
            f"{'floor*':<14} {sum(same.values()):9.2f}  (mocpy at the published orders: {same['mocs']:.2f}); "
            f"ratio {result['ratio_published_orders']:.2f}"
        )
    print(f"peak RSS {result['peak_rss_mb']:.0f} MB during the stages, ru_maxrss {result['ru_maxrss_mb']:.0f} MB")
    sizes = result["sizes_bytes"]
    print("sizes MB: " + ", ".join(f"{k} {v / mb:.1f}" for k, v in sizes.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000])
    parser.add_argument("--changes", type=int, default=100)
    parser.add_argument("--keep", type=pathlib.Path, help="write the snapshots under this directory and keep them")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run(args.rows[0], args.changes, args.keep)))
        return
    for rows in args.rows:
        cmd = [sys.executable, __file__, "--child", "--rows", str(rows), "--changes", str(args.changes)]
        if args.keep:
            cmd += ["--keep", str(args.keep)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=ROOT)
        if proc.returncode:
            print(proc.stdout[-4000:], proc.stderr[-4000:], file=sys.stderr)
            raise SystemExit(proc.returncode)
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        _print_table(result)
        print(json.dumps(result))


if __name__ == "__main__":
    main()
