"""The benchmark suite: `python -m bench.run [--quick] [--only NAME] [--scale TICKERS,YEARS]`.

Families (one module each): backfill, increment, query, cache, cold_start. Every figure is measured in
this run against its floor where it has one, as the median of several repetitions, each heavy step in a
fresh process. Results go to bench/results/latest.json (families not run keep their previous figures,
with the scale they were measured at) and the chart to docs/benchmarks.png.

    python -m bench.run --quick                  # every family at a small scale, a few minutes
    python -m bench.run --only backfill           # one family at the default (full) scale
    python -m bench.run --scale 61,2 --counts 1,2,4   # backfill fitted from 1, 2, 4 tickers to 61 × 2 years
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import sys
from pathlib import Path
from typing import Any

from bench import _common

FAMILIES = ("backfill", "increment", "query", "cache", "cold_start")
RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"
CHART = _common.REPO / "docs" / "benchmarks.png"


def configs(
    quick: bool, smoke: bool, tickers: int, years: float, counts: list[int]
) -> dict[str, dict[str, Any]]:
    """What each family measures at this scale."""
    if smoke:  # the harness test: seconds, not figures
        return {
            "backfill": {
                "ticker_counts": [1],
                "years": 0.02,
                "target_tickers": 1,
                "record_scale": (1, 0.02),
                "profile_scale": (1, 0.02),
            },
            "increment": {"tickers": 1, "days": 1, "history_years": (0.05, 0.1)},
            "query": {"tickers": 2, "years": 0.05, "reps": 2},
            "cache": {"years": 0.2, "reps": 2, "miss_reps": 1},
            "cold_start": {"zip_mb": 1, "reps": 1},
        }
    if quick:
        return {
            "backfill": {
                "ticker_counts": [2, 4],
                "years": 0.25,
                "target_tickers": 4,
                "record_scale": (2, 0.1),
                "profile_scale": (2, 0.25),
            },
            "increment": {"tickers": 1, "days": 2, "history_years": (2, 10)},
            "query": {"tickers": 4, "years": 2, "reps": 7},
            "cache": {"years": 1.5, "reps": 15, "miss_reps": 3},
            "cold_start": {"zip_mb": 75, "reps": 3},
        }
    return {
        "backfill": {
            "ticker_counts": counts,
            "years": years,
            "target_tickers": tickers,
            "record_scale": (2, 0.25),
            "profile_scale": (1, years),
        },
        "increment": {"tickers": 4, "days": 3, "history_years": (2, 10)},
        "query": {"tickers": tickers, "years": years, "reps": 15},
        "cache": {"years": 1.5, "reps": 30, "miss_reps": 5},
        "cold_start": {"zip_mb": 75, "reps": 5},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="every family at a small scale (minutes)")
    parser.add_argument("--smoke", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--only", choices=FAMILIES, action="append", help="run this family (repeatable)")
    parser.add_argument("--scale", default="61,2", help="TICKERS,YEARS of the full figures (default 61,2)")
    parser.add_argument("--counts", default="1,2,4", help="ticker counts the backfill is measured at")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results JSON (merged into if present)")
    parser.add_argument("--chart", type=Path, default=CHART, help="chart PNG (none with --chart '')")
    args = parser.parse_args(argv)
    tickers, years = args.scale.split(",")
    counts = [int(c) for c in args.counts.split(",")]
    plan = configs(args.quick, args.smoke, int(tickers), float(years), counts)
    families = args.only or list(FAMILIES)

    results: dict[str, Any] = json.loads(args.out.read_text()) if args.out.exists() else {}
    scale = "smoke" if args.smoke else "quick" if args.quick else f"full ({tickers} tickers × {years} years)"
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
        args.out.parent.mkdir(parents=True, exist_ok=True)
        results["machine"] = {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": __import__("os").cpu_count(),
        }
        args.out.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    if str(args.chart):
        from bench.chart import draw, goal_table

        draw(results, args.chart)
        for label, value, goal, met in goal_table(results):
            print(f"{label:<24} {value:>10g}  goal ≤ {goal:g}  {'met' if met else 'MISSED'}")
    print(f"results: {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
