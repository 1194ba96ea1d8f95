"""Benchmark the VOTable (BINARY2, TABLEDATA) and Parquet writers on synthetic ivoa.obsplan rows.

Each measurement runs in a fresh subprocess (so peak RSS from ``resource.getrusage`` belongs to one
write). The writers take turns within each round (BINARY2, TABLEDATA, Parquet, BINARY2, ...), so a
change of machine load falls on all of them alike, and the BINARY2 / Parquet ratio is taken per round
(the median of those is printed). ``--before FILE`` also times the BINARY2 writer of another copy of
``models/votable.py`` (e.g. ``git show <commit>:models/votable.py > /tmp/votable_before.py``) in the
same rounds. No assertions: figures go into benchmarks/README.md.

    .venv/bin/python benchmarks/bench_writers.py [--rows 1000000] [--repeat 3] [--before FILE]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import pathlib
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import types

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from models.arrow import arrow_schema  # noqa: E402
from models.parquet import write_parquet  # noqa: E402
from models.tables.obsplan import OBSPLAN  # noqa: E402

OPERATIONS = ("binary2", "tabledata", "parquet")


def _fmt(values: np.ndarray) -> pa.Array:
    return pc.cast(pc.round(pa.array(values), 6), pa.string())


def _join(*parts: pa.Array | str) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")


def synthetic_obsplan(n: int, seed: int = 0) -> pa.Table:
    """``n`` plausible obsplan rows built with numpy/pyarrow only (no Python loop over rows)."""
    rng = np.random.default_rng(seed)
    idx = np.arange(n)
    ra = rng.uniform(0, 360, n)
    dec = rng.uniform(-89, 89, n)
    status = np.array(["Planned", "Scheduled", "Performed", "Unscheduled", "Aborted"])[idx % 5]
    t_min = 60000 + idx * 0.01
    exp = rng.uniform(1e3, 1e5, n)
    null_10 = idx % 10 == 0
    ids = pc.cast(pa.array(idx + 30_000_000_000), pa.string())
    circle = _join("Circle ICRS ", _fmt(ra), " ", _fmt(dec), " 0.1")
    corners = [_fmt(ra + d) if k % 2 == 0 else _fmt(dec + d) for k, d in enumerate((0, 0, 0.2, 0, 0.2, 0.2, 0, 0.2))]
    polygon = pc.binary_join_element_wise("Polygon ICRS", *corners, " ")
    region = pc.if_else(pa.array(idx % 2 == 0), circle, polygon)
    names = pa.array(np.array(["Cygnus X-1 – état", "η Carinae", "Sgr A*", "3C 273", "Vela X-1"])[idx % 5])
    target = _join(names, " #", ids)
    columns = {
        "t_planning": pa.array(t_min - 30),
        "target_name": pc.if_else(pa.array(null_10), pa.scalar(None, pa.string()), target),
        "obs_id": ids,
        "obs_collection": pa.array(np.full(n, "NuSTAR")),
        "s_ra": pa.array(ra),
        "s_dec": pa.array(dec),
        "s_fov": pa.array(np.full(n, 0.2)),
        "s_region": region,
        "s_resolution": pa.array(np.full(n, 58.0)),
        "t_min": pa.array(t_min),
        "t_max": pa.array(t_min + exp / 86400),
        "t_exptime": pa.array(np.where(status == "Performed", exp, np.nan), from_pandas=True),
        "t_resolution": pa.array(np.full(n, 2e-6)),
        "em_min": pa.array(np.full(n, 1.55e-11)),
        "em_max": pa.array(np.full(n, 4.13e-10)),
        "em_res_power": pa.nulls(n, pa.float64()),
        "o_ucd": pa.array(np.full(n, "phot.count")),
        "pol_states": pa.nulls(n, pa.string()),
        "pol_xel": pa.nulls(n, pa.int32()),
        "facility_name": pa.array(np.full(n, "NuSTAR")),
        "instrument_name": pa.array(np.full(n, "FPMA/FPMB")),
        "t_plan_exptime": pa.array(exp),
        "category": pa.array(np.full(n, "Fixed")),
        "priority": pa.array((idx % 3).astype(np.int32)),
        "execution_status": pa.array(status),
        "tracking_type": pa.array(np.full(n, "Sidereal")),
    }
    schema = arrow_schema(OBSPLAN)
    return pa.Table.from_arrays([columns[f.name].cast(f.type) for f in schema], schema=schema)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _current_rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _votable_module(before: pathlib.Path | None) -> types.ModuleType:
    """``models.votable``, or the copy of it in ``before`` (loaded under another name)."""
    if before is None:
        import models.votable

        return models.votable
    spec = importlib.util.spec_from_file_location("votable_before", before)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {before}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_one(operation: str, source: pathlib.Path, before: pathlib.Path | None = None) -> dict[str, float]:
    """Map the prepared table (Arrow IPC), then time one write; this process measures only that.

    ``seconds`` is wall time, ``cpu_seconds`` user + system time of all threads of the process.
    """
    # Memory-mapped, zero-copy: the table costs RSS only as the writer touches it, so the peak is
    # the writer's (plus at most the table itself), not an artefact of loading.
    table = pa.ipc.open_file(pa.memory_map(str(source), "r")).read_all()
    votable = _votable_module(before if operation == "before" else None)
    loaded = _current_rss_mb()
    with tempfile.TemporaryDirectory() as tmp:
        path = pathlib.Path(tmp) / f"obsplan.{operation}"
        cpu = _cpu_seconds()
        start = time.perf_counter()
        if operation == "parquet":
            write_parquet(table, OBSPLAN, path)
        else:
            serialization = "binary2" if operation == "before" else operation
            votable.write_votable(table, OBSPLAN, path, serialization=serialization)
        seconds = time.perf_counter() - start
        cpu = _cpu_seconds() - cpu
        size = path.stat().st_size
    return {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "peak_rss_mb": _peak_rss_mb(),
        "loaded_rss_mb": loaded,
        "bytes": size,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--before", type=pathlib.Path, help="another models/votable.py whose BINARY2 writer is timed too"
    )
    parser.add_argument("--one", choices=(*OPERATIONS, "before"), help=argparse.SUPPRESS)
    parser.add_argument("--source", type=pathlib.Path, help=argparse.SUPPRESS)
    parser.add_argument("--prepare", type=pathlib.Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one, args.source, args.before)))
        return
    if args.prepare:
        table = synthetic_obsplan(args.rows)
        with pa.OSFile(str(args.prepare), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)
        print(table.nbytes / 1e6)
        return
    operations = (*OPERATIONS, "before") if args.before else OPERATIONS
    with tempfile.TemporaryDirectory() as tmp:
        source = pathlib.Path(tmp) / "obsplan.arrow"
        # Built in a child too: Linux keeps ru_maxrss across fork+exec, so a parent that had built the
        # table would lend its own peak to every measurement.
        built = subprocess.run(
            [sys.executable, __file__, "--prepare", str(source), "--rows", str(args.rows)],
            capture_output=True,
            text=True,
            check=True,
        )
        table_mb = float(built.stdout.strip())
        load_start = os.getloadavg()[0]
        runs: dict[str, list[dict[str, float]]] = {operation: [] for operation in operations}
        for _ in range(args.repeat):
            for operation in operations:  # take turns: a change of load falls on every writer
                command = [sys.executable, __file__, "--one", operation, "--source", str(source)]
                if operation == "before":
                    command += ["--before", str(args.before.resolve())]
                out = subprocess.run(
                    command, capture_output=True, text=True, check=True, env={**os.environ, "PYTHONPATH": str(ROOT)}
                )
                runs[operation].append(json.loads(out.stdout.strip().splitlines()[-1]))
        load_end = os.getloadavg()[0]
        print(
            f"{args.rows:,} synthetic ivoa.obsplan rows x {len(OBSPLAN.columns)} columns "
            f"({table_mb:.0f} MB in Arrow), median of {args.repeat}, load average {load_start:.1f} -> {load_end:.1f}"
        )
        print(
            f"{'writer':<10} {'seconds':>8} {'CPU s':>6} {'rows/s':>12} {'MB out':>8} {'peak RSS MB':>12} "
            f"{'RSS before':>11} {'/ Parquet':>9}"
        )
        summary: dict[str, dict[str, float]] = {}
        for operation in operations:
            done = runs[operation]
            seconds = statistics.median(r["seconds"] for r in done)
            ratio = statistics.median(r["seconds"] / p["seconds"] for r, p in zip(done, runs["parquet"], strict=True))
            summary[operation] = {
                "seconds": seconds,
                "cpu_seconds": statistics.median(r["cpu_seconds"] for r in done),
                "peak_rss_mb": statistics.median(r["peak_rss_mb"] for r in done),
                "loaded_rss_mb": statistics.median(r["loaded_rss_mb"] for r in done),
                "bytes": done[0]["bytes"],
                "ratio_to_parquet": ratio,
            }
            s = summary[operation]
            print(
                f"{operation:<10} {seconds:8.2f} {s['cpu_seconds']:6.2f} {args.rows / seconds:12,.0f} "
                f"{s['bytes'] / 1e6:8.1f} {s['peak_rss_mb']:12.0f} {s['loaded_rss_mb']:11.0f} {ratio:9.2f}"
            )
        print(
            json.dumps(
                {
                    "rows": args.rows,
                    "repeat": args.repeat,
                    "load_average": [load_start, load_end],
                    "writers": summary,
                    "binary2_runs_s": [r["seconds"] for r in runs["binary2"]],
                    "parquet_runs_s": [r["seconds"] for r in runs["parquet"]],
                }
            )
        )


if __name__ == "__main__":
    main()
