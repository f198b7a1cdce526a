"""Increment: one new session for the whole universe, as the daily run adds it, against its floor; on a
10-year lake and on a 2-year lake.

Each lake is a private copy of a history lake (`_lakes.history_lake`: the universe's backfill through the
stages, fetched on the evening of END_DATE). For each new session (`INCREMENT_DAYS`, after END_DATE), in
this order: `tickerlake run --universe FILE --start D --end D --no-reports --format json` on the 10-year
lake (a fresh process, recorded in the lake's own DAGSTER_HOME, kept from day to day as a deployment keeps
it), the floor on the 10-year floor lake (`bench.floor.increment`, a fresh process), then the same two on
the 2-year lakes. Every figure is a process's wall time; the first session is a warm-up, the figure is the
median of the others.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from bench import _lakes
from bench._common import (
    INCREMENT_DAYS,
    bench_env,
    child_main,
    log,
    p50,
    run_process,
    scratch,
    tickerlake_command,
    work_dir,
)
from bench.backfill import median_kinds, step_seconds, summary_of

MODULE = "bench.increment"


def task_floor(args: dict[str, Any]) -> dict[str, Any]:
    from bench import floor

    symbols = _lakes.use_universe(args["tickers"])
    started = time.perf_counter()
    wrote = floor.increment(Path(args["root"]), symbols, args["day"])
    return {"work_s": round(time.perf_counter() - started, 3), **wrote}


def _run(lake: Path, home: Path, count: int, day: str) -> dict[str, Any]:
    env = bench_env(DAGSTER_HOME=str(home))
    env.pop("TICKERLAKE_UNIVERSE", None)
    command = [
        *tickerlake_command(),
        "run",
        "--lake",
        str(lake),
        "--universe",
        str(_lakes.universe_file(count)),
        "--start",
        day,
        "--end",
        day,
        "--no-reports",
        "--format",
        "json",
    ]
    done = run_process(command, env=env, cwd=home.parent)
    if done["returncode"] != 0:
        raise RuntimeError(f"increment {day} failed (exit {done['returncode']}):\n{done['stderr_tail']}")
    summary = summary_of(done["stdout"])
    if not summary.get("success"):
        raise RuntimeError(f"increment {day} reported a failure: {summary.get('error')}")
    return {
        "day": day,
        "seconds": round(done["seconds"], 3),
        "run_elapsed_s": summary["elapsed_s"],
        "peak_rss_mb": done["peak_rss_mb"],
        "events": summary["events"],
        "rows": summary["rows"],
        "skipped": summary["skipped"],
        "step_seconds": step_seconds(home, summary["run_id"]),
    }


def _floor(root: Path, count: int, day: str) -> dict[str, Any]:
    command = [
        sys.executable,
        "-m",
        MODULE,
        "--child",
        "floor",
        json.dumps({"root": str(root), "tickers": count, "day": day}),
    ]
    done = run_process(command, env=bench_env(), cwd=work_dir())
    if done["returncode"] != 0:
        raise RuntimeError(f"increment floor {day} failed:\n{done['stderr_tail']}")
    found = json.loads([line for line in done["stdout"].splitlines() if line.startswith("{")][-1])
    found.pop("peak_rss_mb", None)
    return {"day": day, "seconds": round(done["seconds"], 3), "peak_rss_mb": done["peak_rss_mb"], **found}


def measure(config: dict[str, Any]) -> dict[str, Any]:
    """config: tickers, history_years (short, long), days (how many of INCREMENT_DAYS; the first warms up)."""
    count = config["tickers"]
    short, long = config["history_years"]
    days = list(INCREMENT_DAYS[: config["days"]])
    histories = (long, short)
    runs: dict[float, list[dict[str, Any]]] = {years: [] for years in histories}
    floors: dict[float, list[dict[str, Any]]] = {years: [] for years in histories}
    with scratch("increment-") as root:
        lakes = {}
        for years in histories:
            log(f"increment: {count} tickers, {years}-year lake and floor lake (copies)")
            source, floor_source = (
                _lakes.ensure("history", count, years),
                _lakes.ensure("floor", count, years),
            )
            folder = root / f"{years:g}y"
            folder.mkdir()
            lakes[years] = (
                _lakes.copy_lake(source, folder / "lake"),
                _lakes.copy_lake(floor_source, folder / "floor"),
                folder / "dagster_home",
            )
        for day in days:
            for years in histories:
                lake, floor_root, home = lakes[years]
                run = _run(lake, home, count, day)
                floor = _floor(floor_root, count, day)
                log(
                    f"increment {day}, {years:g}-year lake: run {run['seconds']:.2f} s "
                    f"(in-run {run['run_elapsed_s']:.2f} s), floor {floor['seconds']:.2f} s"
                )
                runs[years].append(run)
                floors[years].append(floor)

    def med(items: list[dict[str, Any]], key: str) -> float:
        counted = items[1:] if len(items) > 1 else items  # the first session warms up
        return p50([item[key] for item in counted])

    run_long, run_short = med(runs[long], "seconds"), med(runs[short], "seconds")
    floor_long, floor_short = med(floors[long], "seconds"), med(floors[short], "seconds")
    return {
        "ratio": round(run_long / floor_long, 2),
        "history_ratio": round(run_short / run_long, 2),
        "seconds_10y_history": round(run_long, 3),
        "seconds_2y_history": round(run_short, 3),
        "floor_seconds_10y_history": round(floor_long, 3),
        "floor_seconds_2y_history": round(floor_short, 3),
        "floor_history_ratio": round(floor_short / floor_long, 2),
        "run_elapsed_s_10y": round(med(runs[long], "run_elapsed_s"), 3),
        "floor_work_s_10y": round(med(floors[long], "work_s"), 3),
        "ratio_in_process": round(med(runs[long], "run_elapsed_s") / med(floors[long], "work_s"), 2),
        "dagster_events": runs[long][-1]["events"],
        "step_seconds_10y": median_kinds(runs[long][1:] or runs[long]),
        "peak_rss_mb": max(r["peak_rss_mb"] for r in runs[long]),
        "scale": {"tickers": count, "history_years": [short, long], "days": days, "warm_up": days[0]},
        "mode": "tickerlake run --start D --end D (process wall time) vs bench.floor.increment (process wall "
        "time); the first day warms up, median of the others",
        "runs": {f"{k:g}": v for k, v in runs.items()},
        "floors": {f"{k:g}": v for k, v in floors.items()},
    }


if __name__ == "__main__":
    child_main({"floor": task_floor})
