"""Increment: one new trading day for k tickers through `run_lake`, with 2 and with 10 years in the lake.

The history is seeded through `lake.stages` (the same objects a backfill writes, without Dagster's
bookkeeping, and without fsync: seeding is not measured). Then `run_lake` adds the next weekdays, one run
each, the way the daily schedule does; the figure is the median over those days.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from typing import Any

from bench import _lakes
from bench._common import END_DATE, child_main, log, p50, run_child, timed

MODULE = "bench.increment"


def _next_weekdays(after: str, count: int) -> list[str]:
    day, found = dt.date.fromisoformat(after), []
    while len(found) < count:
        day += dt.timedelta(days=1)
        if day.weekday() < 5:
            found.append(day.isoformat())
    return found


def task_increment(args: dict[str, Any]) -> dict[str, Any]:
    from dagster_project.definitions import build_defs
    from dagster_project.runner import run_lake

    symbols = _lakes.tickers(args["tickers"])
    record = bool(args.get("record"))
    with tempfile.TemporaryDirectory(prefix="tickerlake-bench-increment-") as root:
        uri = f"{root}/lake"
        seed = _lakes.open_lake(Path(uri), durable=False)
        seconds_seed, _ = timed(
            lambda: _lakes.seed_with_stages(
                seed, symbols, _lakes.years_before(END_DATE, args["years"]), END_DATE
            )
        )
        defs = build_defs(lake_uri=uri, source="sample")
        days = _next_weekdays(END_DATE, args["days"] + 1)
        samples, objects = [], []
        for index, day in enumerate(days):
            seconds, summary = timed(
                lambda day=day: run_lake(
                    defs,
                    symbols,
                    day,
                    day,
                    chunk_size=4,
                    workers=1,
                    record=record,
                    with_reports=False,
                    lake_uri=uri,
                    source="sample",
                )
            )
            if summary.failed:
                raise RuntimeError(f"increment {day} failed: {summary.failed}")
            if index:  # the first day warms imports and Dagster up
                samples.append(seconds)
                objects.append(summary.objects_written)
    return {
        "tickers": len(symbols),
        "years": args["years"],
        "seed_s": round(seconds_seed, 1),
        "samples_s": [round(s, 3) for s in samples],
        "seconds": round(p50(samples), 3),
        "objects_written": objects,
    }


def measure(config: dict[str, Any]) -> dict[str, Any]:
    """config: tickers, days (timed increments per history), history_years (short, long)."""
    short, long = config["history_years"]
    results = {}
    for years in (short, long):
        log(f"increment: {config['tickers']} tickers, {years} years of history")
        results[years] = run_child(
            MODULE, "increment", {"tickers": config["tickers"], "years": years, "days": config["days"]}
        )
        log(f"increment: {results[years]['seconds']} s (seed {results[years]['seed_s']} s)")
    return {
        "seconds_2y_history": results[short]["seconds"],
        "seconds_10y_history": results[long]["seconds"],
        "ratio": round(results[long]["seconds"] / results[short]["seconds"], 2),
        "scale": {"tickers": config["tickers"], "history_years": [short, long], "days": config["days"]},
        "mode": "run_lake(record=False, workers=1) over one new weekday",
        "runs": {str(k): v for k, v in results.items()},
    }


if __name__ == "__main__":
    child_main({"increment": task_increment})
