"""The benchmark suite: `python -m bench.run [--quick] [--only NAME]`.

Families (one module each): backfill, increment, query, athena, cache, cold_start. Every goal is a ratio
against a floor measured in the same run (or an absolute figure where the issue says so), every figure a
median of repetitions, each heavy step in a fresh process. The universe is synthetic (`bench.universe`:
500 tickers over five markets); the lakes the families share (the universe's history through the stages,
the floor's lake) are built once per bench run in a session folder (BENCH_WORK, else a temporary folder
removed at the end; BENCH_TMP says where temporary folders go). Results go to bench/results/latest.json
(families not run keep their previous figures, with the scale they were measured at) and the chart to
docs/benchmarks.png.

    python -m bench.run --quick          # every family at 10-40 tickers × 10 years: under 10 minutes here
    python -m bench.run                  # = make bench: 50, 100, 200, 500 tickers × 10 years
    python -m bench.run --only query --only athena   # some families (repeat --only)
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from bench import _common

FAMILIES = ("backfill", "increment", "query", "athena", "cache", "cold_start")
RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"
CHART = _common.REPO / "docs" / "benchmarks.png"


def configs(quick: bool, smoke: bool) -> dict[str, dict[str, Any]]:
    """What each family measures at this scale."""
    if smoke:  # the harness test: seconds, not figures
        lake = (2, 0.2)
        return {
            "backfill": {"counts": [1, 2], "years": 0.1, "stages": True, "profile_scale": (1, 0.1)},
            "increment": {"tickers": 2, "history_years": (0.1, 0.2), "days": 2},
            "query": {"tickers": lake[0], "years": lake[1], "reps": 2},
            "athena": {"tickers": lake[0], "years": lake[1]},
            "cache": {"lake": lake, "reps": 2, "miss_reps": 1},
            "cold_start": {"zip_mb": 1, "reps": 1},
        }
    if quick:
        lake = (40, 10)
        return {
            "backfill": {
                "counts": [10, 20, 40],
                "years": 10,
                "reps": {40: 2},
                "stages": True,
                "profile_scale": (10, 10),
            },
            "increment": {"tickers": 40, "history_years": (2, 10), "days": 3},
            "query": {"tickers": lake[0], "years": lake[1], "reps": 7},
            "athena": {"tickers": lake[0], "years": lake[1]},
            "cache": {"lake": lake, "reps": 15, "miss_reps": 3},
            "cold_start": {"zip_mb": 30, "reps": 3},
        }
    lake = (500, 10)
    return {
        "backfill": {
            "counts": [50, 100, 200, 500],
            "years": 10,
            "reps": {50: 2, 100: 2, 200: 2, 500: 2},
            "stages": True,
            "profile_scale": (100, 10),
        },
        "increment": {"tickers": 500, "history_years": (2, 10), "days": 4},
        "query": {"tickers": lake[0], "years": lake[1], "reps": 15},
        "athena": {"tickers": lake[0], "years": lake[1]},
        "cache": {"lake": lake, "reps": 30, "miss_reps": 5},
        "cold_start": {"zip_mb": 75, "reps": 5},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="every family at a small scale (< 10 minutes)")
    parser.add_argument("--smoke", action="store_true", help="the harness at a tiny scale (the smoke test)")
    parser.add_argument("--only", choices=FAMILIES, action="append", help="run this family (repeatable)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results JSON (merged into if present)")
    parser.add_argument("--chart", default=str(CHART), help="chart PNG (none with --chart '')")
    parser.add_argument("--keep-work", action="store_true", help="keep the session's lakes (BENCH_WORK)")
    args = parser.parse_args(argv)
    plan = configs(args.quick, args.smoke)
    families = [name for name in FAMILIES if name in (args.only or FAMILIES)]

    own_work = not os.environ.get("BENCH_WORK")
    work = _common.work_dir()  # sets BENCH_WORK for every child
    _common.PYCACHE.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = json.loads(args.out.read_text()) if args.out.exists() else {}
    scale = "smoke" if args.smoke else "quick" if args.quick else "full"
    started_all = time.perf_counter()
    try:
        for name in families:
            module = __import__(f"bench.{name}", fromlist=["measure"])
            started = dt.datetime.now(dt.UTC)
            figures = module.measure(plan[name])
            figures["run"] = {
                "scale": scale,
                "config": plan[name],
                "at": started.isoformat(timespec="seconds"),
                "minutes": round((dt.datetime.now(dt.UTC) - started).total_seconds() / 60, 2),
            }
            results[name] = figures
            results["machine"] = {
                "python": platform.python_version(),
                "platform": platform.platform(),
                "cpus": os.cpu_count(),
                "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
            }
            results["session"] = {
                "scale": scale,
                "families": families,
                "minutes": round((time.perf_counter() - started_all) / 60, 2),
                "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            }
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(results, indent=1, sort_keys=True, default=str) + "\n")
    finally:
        if own_work and not args.keep_work:
            shutil.rmtree(work, ignore_errors=True)
    if args.chart.strip():
        from bench.chart import draw

        draw(results, Path(args.chart))
    if results:
        from bench.chart import goal_table

        for label, value, goal, met in goal_table(results):
            print(f"{label:<32} {value:>12g}  goal {goal:<10} {'met' if met else 'MISSED'}")
    print(
        f"results: {args.out} ({(time.perf_counter() - started_all) / 60:.1f} minutes)",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
