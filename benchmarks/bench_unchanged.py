"""Benchmark the unchanged day: a second ``voharvest harvest --replay`` of a date already published from it.

Issue 13's target: recognised before any rebuilding, in <= 2x the wall time of ``python -c "import
dagster"`` measured in the same run. Every timing is a fresh child process (interpreter start-up
included, as an operator sees it); the two commands alternate so that load from other jobs hits both
alike, and the medians are compared. The first harvest (a full build) is timed once for reference.
No assertions: figures go into benchmarks/README.md.

    .venv/bin/python benchmarks/bench_unchanged.py [--repeat 7] [--archive recordings/replay] [--visibility-days 0]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def timed(command: list[str], env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    """Wall seconds of one child process, and its outcome."""
    start = time.perf_counter()
    proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    return time.perf_counter() - start, proc


def run(archive: Path, repeat: int, visibility_days: float) -> dict[str, object]:
    """Publish once, then time ``repeat`` alternating runs of ``import dagster`` and the second harvest."""
    with tempfile.TemporaryDirectory(prefix="bench-unchanged-") as tmp:
        env = {
            **os.environ,
            "DAGSTER_HOME": str(Path(tmp) / "dagster_home"),
            "VOHARVEST_VISIBILITY_DAYS": f"{visibility_days:g}",
        }
        harvest = [
            sys.executable,
            "-m",
            "pipelines.cli",
            "harvest",
            "--replay",
            str(archive),
            "--output",
            str(Path(tmp) / "output"),
            "--ephemeral",
        ]
        first, proc = timed(harvest, env)
        if proc.returncode != 0:
            raise SystemExit(f"first harvest failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        dagster, again = [], []
        for _ in range(repeat):
            seconds, proc = timed([sys.executable, "-c", "import dagster"], env)
            if proc.returncode != 0:
                raise SystemExit(f"import dagster failed:\n{proc.stderr[-2000:]}")
            dagster.append(seconds)
            seconds, proc = timed(harvest, env)
            if proc.returncode != 0 or "(unchanged" not in proc.stderr:
                raise SystemExit(
                    f"second harvest not recognised as unchanged ({proc.returncode}):\n{proc.stderr[-3000:]}"
                )
            again.append(seconds)
        rebuild, proc = timed([*harvest, "--rebuild"], env)  # the same day rebuilt (the behaviour before)
        if proc.returncode != 0:
            raise SystemExit(f"--rebuild failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    floor, second = statistics.median(dagster), statistics.median(again)
    return {
        "benchmark": "unchanged_day",
        "archive": str(archive),
        "repeat": repeat,
        "visibility_days": visibility_days,
        "import_dagster_s": round(floor, 3),
        "import_dagster_runs_s": [round(s, 3) for s in dagster],
        "unchanged_harvest_s": round(second, 3),
        "unchanged_harvest_runs_s": [round(s, 3) for s in again],
        "ratio": round(second / floor, 3),
        "target_ratio": 2.0,
        "first_harvest_s": round(first, 3),
        "rebuild_harvest_s": round(rebuild, 3),
    }


def main() -> None:
    """Parse options, run, print a table and one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=7, help="timed runs of each command (default 7; medians)")
    parser.add_argument(
        "--archive", type=Path, default=ROOT / "recordings" / "replay", help="replay archive (default: the bundled)"
    )
    parser.add_argument(
        "--visibility-days",
        type=float,
        default=0.0,
        help="VOHARVEST_VISIBILITY_DAYS of both harvests (default 0: the first build skips ~15 s of visibility MOCs)",
    )
    args = parser.parse_args()
    result = run(args.archive.resolve(), args.repeat, args.visibility_days)
    print("| what | wall s (median) |")
    print("|---|---|")
    print(f'| `python -c "import dagster"` | {result["import_dagster_s"]} |')
    print(f"| second `voharvest harvest --replay` (unchanged) | {result['unchanged_harvest_s']} |")
    print(f"| ratio (target <= 2) | {result['ratio']} |")
    print(f"| first harvest (full build, once) | {result['first_harvest_s']} |")
    print(f"| same day with `--rebuild` (once) | {result['rebuild_harvest_s']} |")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
