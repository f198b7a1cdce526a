"""Backfill: `tickerlake run` as a user runs it, over N synthetic tickers × Y years, against its floor.

For each universe size, in this order and in the same bench run:

- **run**: `tickerlake run --universe FILE --start S --end E --no-reports --format json` in a fresh process
  with a brand-new DAGSTER_HOME (recorded, the default), into a fresh local lake, source `sample` (the
  default on a local lake). The figure is the process's wall time (what the user waits, start-up
  included); its summary gives the Dagster events recorded and the rows written; the resident memory of
  its process tree is sampled every 50 ms (`peak_rss_mb`).
- **floor**: `bench.floor.backfill` in a fresh process (`python -m bench.backfill --child floor`), timed
  the same way: the same bars fetched, stored, parsed, computed by the project's functions and written
  with one pyarrow write per dataset and month.

Then the lake's own stages alone (`pipelines.stages`, no Dagster, no checks) at the largest size — the
history lake the query and increment families reuse — and a cProfile of one run (`profile_scale`),
bucketed by where the time goes.
"""

from __future__ import annotations

import json
import pstats
import sys
import time
from pathlib import Path
from typing import Any

from bench import _lakes
from bench._common import (
    END_DATE,
    bench_env,
    child_main,
    log,
    p50,
    run_child,
    run_process,
    scratch,
    tickerlake_command,
    work_dir,
)

MODULE = "bench.backfill"

#: Bucket → (file suffix, function) whose cumulative time it counts. Buckets overlap where noted in
#: docs/benchmarks.md (a check reads the lake, a stage validates): each is "time inside these functions".
PROFILE_FUNCTIONS: dict[str, list[tuple[str, str]]] = {
    "run_total": [("dagster_project/runner.py", "run_lake")],
    "dagster_execute_in_process": [("execution/execute_in_process.py", "core_execute_in_process")],
    "asset_bodies": [("dagster_project/assets.py", "raw_prices"), ("dagster_project/assets.py", "_asset")],
    "stage_ingest_raw": [("pipelines/stages.py", "ingest_raw")],
    "stage_build_prices": [("pipelines/stages.py", "build_prices")],
    "stage_build_derived": [("pipelines/stages.py", "build_derived")],
    "asset_metadata_and_preview": [("dagster_project/assets.py", "_metadata")],
    "checks_total": [("dagster_project/checks.py", "_check")],
    "check_quality_rules": [("quality.py", "check_dataset")],
    "check_missing_sessions": [("pipelines/stages.py", "missing_sessions")],
    "check_quarantined_now": [("pipelines/stages.py", "quarantined_now")],
    "validation_pandera": [("schemas/derive.py", "validate")],
    "lake_write_month": [("lake/api.py", "write_month")],
    "lake_put_raw": [("lake/api.py", "put_raw")],
    "lake_read_dataset": [("lake/api.py", "read_dataset")],
    "lake_raw_reads": [("lake/api.py", "raw_fetches"), ("lake/api.py", "get_raw")],
    "parquet_encode": [("lake/api.py", "_parquet_bytes")],
    "lineage_manifests": [("lake/api.py", "_put_manifest")],
    "fsync": [("~", "<built-in method posix.fsync>")],
    "parse": [("pipelines/parsing.py", "parse_fetch")],
    "compute": [
        ("pipelines/indicators.py", "compute_indicators"),
        ("pipelines/percentiles.py", "compute_percentiles"),
        ("pipelines/features.py", "compute_features"),
    ],
    "source_fetch": [("pipelines/sources/sample.py", "fetch")],
    "dagster_store_event": [("event_log/sqlite/sqlite_event_log.py", "store_event")],
    "dagster_planned_events": [("instance/runs/run_domain.py", "_log_asset_planned_events")],
    "dagster_run_summary": [("dagster_project/runner.py", "get_records_for_run")],
}


def breakdown(path: Path) -> dict[str, Any]:
    """Seconds per bucket (cumulative time of its functions, each counted once) and the top functions by
    their own time, from a cProfile output file."""
    stats = pstats.Stats(str(path)).stats  # type: ignore[attr-defined]
    found: dict[str, float] = {}
    for bucket, wanted in PROFILE_FUNCTIONS.items():
        total = 0.0
        for (filename, _line, name), (_cc, _nc, _tt, cumulative, _callers) in stats.items():
            if any(filename.endswith(suffix) and name == fn for suffix, fn in wanted):
                total += cumulative
        found[bucket] = round(total, 2)
    own = sorted(stats.items(), key=lambda item: item[1][2], reverse=True)[:25]
    top = [
        {
            "function": f"{Path(filename).name}:{line}({name})" if filename != "~" else name,
            "own_s": round(tt, 2),
            "cumulative_s": round(cumulative, 2),
            "calls": nc,
        }
        for (filename, line, name), (_cc, nc, tt, cumulative, _callers) in own
    ]
    total = max((v[3] for v in stats.values()), default=0.0)
    return {"buckets": found, "top_own_time": top, "profiled_s": round(total, 2)}


def run_command(
    lake: Path, universe: Path, start: str, end: str, *, profile: Path | None = None
) -> list[str]:
    args = [
        "run",
        "--lake",
        str(lake),
        "--universe",
        str(universe),
        "--start",
        start,
        "--end",
        end,
        "--no-reports",
        "--format",
        "json",
    ]
    if profile is not None:
        return [sys.executable, "-m", "cProfile", "-o", str(profile), "-m", "tickerlake_cli.main", *args]
    return [*tickerlake_command(), *args]


def step_seconds(home: Path, run_id: str) -> dict[str, Any]:
    """Where the run's time went, without a profiler: from the run's own event log in DAGSTER_HOME (SQLite),
    each step's STEP_START → STEP_SUCCESS/FAILURE, summed by kind (asset bodies, each kind of check), and
    the run's span from its first event (planning) to PIPELINE_SUCCESS/FAILURE."""
    import datetime as dt
    import sqlite3

    path = home / "history" / "runs" / f"{run_id}.db"
    if not path.exists():
        return {}
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = con.execute(
            "SELECT dagster_event_type, step_key, timestamp FROM event_logs ORDER BY id"
        ).fetchall()
    finally:
        con.close()

    def when(value: Any) -> dt.datetime:
        return dt.datetime.fromisoformat(str(value))

    started: dict[str, dt.datetime] = {}
    steps: dict[str, float] = {}
    for kind, step, stamp in rows:
        if kind == "STEP_START":
            started[step] = when(stamp)
        elif kind in ("STEP_SUCCESS", "STEP_FAILURE") and step in started:
            steps[step] = round((when(stamp) - started[step]).total_seconds(), 3)
    kinds: dict[str, float] = {}
    for step, seconds in steps.items():
        suffix = next(
            (s for s in ("_quality", "_matches_schema", "_complete", "_not_quarantined") if step.endswith(s)),
            None,
        )
        kind = f"check{suffix}" if suffix else "asset_bodies"
        kinds[kind] = round(kinds.get(kind, 0.0) + seconds, 3)
    span = (when(rows[-1][2]) - when(rows[0][2])).total_seconds() if rows else 0.0
    kinds["run_span"] = round(span, 3)
    kinds["outside_steps"] = round(span - sum(steps.values()), 3)
    return {"by_kind": kinds, "steps": steps}


def summary_of(stdout: str) -> dict[str, Any]:
    """The JSON summary `tickerlake run --format json` prints."""
    start = stdout.find("{")
    if start < 0:
        raise RuntimeError(f"tickerlake run printed no JSON summary:\n{stdout[-2000:]}")
    return json.loads(stdout[start:])


def run_once(count: int, years: float, *, profile: bool = False) -> dict[str, Any]:
    """One `tickerlake run` of `count` tickers × `years` in a fresh process, lake and DAGSTER_HOME."""
    universe = _lakes.universe_file(count)
    start = _lakes.years_before(END_DATE, years)
    with scratch("backfill-") as root:
        home = root / "dagster_home"
        env = bench_env(DAGSTER_HOME=str(home))
        env.pop("TICKERLAKE_UNIVERSE", None)  # the --universe option says it, as a user would
        prof = root / "run.prof" if profile else None
        done = run_process(
            run_command(root / "lake", universe, start, END_DATE, profile=prof), env=env, cwd=root
        )
        if done["returncode"] != 0:
            raise RuntimeError(f"tickerlake run failed (exit {done['returncode']}):\n{done['stderr_tail']}")
        summary = summary_of(done["stdout"])
        if not summary.get("success"):
            raise RuntimeError(
                f"tickerlake run reported a failure: {summary.get('error')} {summary.get('failed')}"
            )
        result = {
            "tickers": count,
            "years": years,
            "start": start,
            "end": END_DATE,
            "seconds": round(done["seconds"], 3),
            "run_elapsed_s": summary["elapsed_s"],
            "peak_rss_mb": done["peak_rss_mb"],
            "events": summary["events"],
            "months": summary["months"],
            "rows": summary["rows"],
            "objects": summary["objects"],
            "checks_failed": summary["checks_failed"],
            "checks_warned": summary["checks_warned"],
            "quarantined": summary["quarantined"],
            "skipped": summary["skipped"],
            "lake_mb": round(
                sum(f.stat().st_size for f in (root / "lake").rglob("*") if f.is_file()) / 2**20, 1
            ),
        }
        result["step_seconds"] = step_seconds(home, summary["run_id"])
        if prof is not None:
            result["profile"] = breakdown(prof)
    return result


def task_floor(args: dict[str, Any]) -> dict[str, Any]:
    """The floor in this (fresh) process: no warm-up, like the run it is compared with."""
    from bench import floor

    started = time.perf_counter()
    symbols = _lakes.use_universe(args["tickers"])
    with scratch("floor-") as root:
        work_started = time.perf_counter()
        wrote = floor.backfill(root, symbols, _lakes.years_before(END_DATE, args["years"]), END_DATE)
        work_s = time.perf_counter() - work_started
    return {"work_s": round(work_s, 3), "in_process_s": round(time.perf_counter() - started, 3), **wrote}


def floor_once(count: int, years: float) -> dict[str, Any]:
    """The floor in a fresh process, timed by its wall clock as the run is."""
    env = bench_env()
    command = [
        sys.executable,
        "-m",
        MODULE,
        "--child",
        "floor",
        json.dumps({"tickers": count, "years": years}),
    ]
    done = run_process(command, env=env, cwd=work_dir())
    if done["returncode"] != 0:
        raise RuntimeError(f"floor failed:\n{done['stderr_tail']}")
    lines = [line for line in done["stdout"].splitlines() if line.startswith("{")]
    found = json.loads(lines[-1])
    found.pop("peak_rss_mb", None)
    return {
        "tickers": count,
        "years": years,
        "seconds": round(done["seconds"], 3),
        "peak_rss_mb": done["peak_rss_mb"],
        **found,
    }


def task_stages(args: dict[str, Any]) -> dict[str, Any]:
    """The history lake of `tickers` × `years` through the stages alone (built now, kept for the other
    families): the lake's own share of a backfill, without Dagster or checks."""
    path = _lakes.history_lake(args["tickers"], args["years"])
    seconds = float((path.parent / ".bench-complete").read_text())
    return {
        "tickers": args["tickers"],
        "years": args["years"],
        "seconds": round(seconds, 3),
        "built": str(path),
    }


def task_floor_lake(args: dict[str, Any]) -> dict[str, Any]:
    """The floor's lake of `tickers` × `years` (built now, kept for the increment family)."""
    path = _lakes.floor_lake(args["tickers"], args["years"])
    return {"tickers": args["tickers"], "years": args["years"], "built": str(path)}


def median_kinds(runs: list[dict[str, Any]]) -> dict[str, float]:
    """The median over repetitions of each kind of step's seconds (`step_seconds`)."""
    kinds = sorted({k for run in runs for k in run.get("step_seconds", {}).get("by_kind", {})})
    return {
        kind: round(p50([run["step_seconds"]["by_kind"].get(kind, 0.0) for run in runs]), 2) for kind in kinds
    }


def spread(values: dict[str, float]) -> float:
    """The largest relative distance of a value from the median of all of them."""
    middle = p50(list(values.values()))
    return round(max(abs(v / middle - 1.0) for v in values.values()), 3) if middle else 0.0


def measure(config: dict[str, Any]) -> dict[str, Any]:
    """config: counts (ascending), years, reps (per count: {count: n}, default 1), profile_scale,
    stages (build the history lake of the largest count through the stages alone: bool)."""
    years = config["years"]
    counts = list(config["counts"])
    reps = {int(k): int(v) for k, v in config.get("reps", {}).items()}
    runs: dict[int, list[dict[str, Any]]] = {}
    floors: dict[int, list[dict[str, Any]]] = {}
    log("backfill: warm-up (bytecode, page cache): one tiny run and floor, not counted")
    run_once(1, 0.05)
    floor_once(1, 0.05)
    for count in counts:
        for rep in range(reps.get(count, 1)):
            log(f"backfill: tickerlake run, {count} tickers × {years} years (rep {rep + 1})")
            run = run_once(count, years)
            log(
                f"backfill: {run['seconds']:.1f} s, {run['events']} events, peak {run['peak_rss_mb']:.0f} MB; floor"
            )
            floor = floor_once(count, years)
            log(f"backfill: floor {floor['seconds']:.1f} s ({floor['work_s']:.1f} s of work)")
            if floor["rows"] != run["rows"]:
                log(f"backfill: rows differ: run {run['rows']} floor {floor['rows']}")
            runs.setdefault(count, []).append(run)
            floors.setdefault(count, []).append(floor)
    largest = counts[-1]
    log(f"backfill: the fixed cost: one ticker over the same {years} years (median of 2)")
    fixed_runs = [run_once(1, years) for _ in range(2)]
    fixed_floors = [floor_once(1, years) for _ in range(2)]

    def median_of(items: list[dict[str, Any]], key: str) -> float:
        return p50([item[key] for item in items])

    per_size = {}
    for count in counts:
        run_s, floor_s = median_of(runs[count], "seconds"), median_of(floors[count], "seconds")
        per_size[str(count)] = {
            "run_s": round(run_s, 2),
            "floor_s": round(floor_s, 2),
            "ratio": round(run_s / floor_s, 2),
            "run_elapsed_s": round(median_of(runs[count], "run_elapsed_s"), 2),
            "floor_work_s": round(median_of(floors[count], "work_s"), 2),
            "peak_rss_mb": max(r["peak_rss_mb"] for r in runs[count]),
            "floor_peak_rss_mb": max(f["peak_rss_mb"] for f in floors[count]),
            "events": runs[count][-1]["events"],
            "months": runs[count][-1]["months"],
            "reps": len(runs[count]),
            "step_seconds": median_kinds(runs[count]),
        }
    per_ticker_year = {str(c): round(per_size[str(c)]["run_s"] / (c * years), 4) for c in counts}
    floor_per_ticker_year = {str(c): round(per_size[str(c)]["floor_s"] / (c * years), 4) for c in counts}
    top = per_size[str(largest)]
    # What a run costs whatever the universe (Dagster's ~1,300 events, 484 month versions and manifests,
    # start-up, 21 steps), and what each further ticker-year costs on top of it.
    fixed_s = median_of(fixed_runs, "seconds")
    marginal = {
        str(c): round((per_size[str(c)]["run_s"] - fixed_s) / ((c - 1) * years), 4) for c in counts if c > 1
    }
    figures: dict[str, Any] = {
        "ratio": top["ratio"],
        "seconds": top["run_s"],
        "floor_seconds": top["floor_s"],
        "seconds_per_ticker_year": per_ticker_year,
        "seconds_per_ticker_year_spread": spread(per_ticker_year),
        "floor_seconds_per_ticker_year": floor_per_ticker_year,
        "fixed": {
            "seconds": round(fixed_s, 2),
            "floor_seconds": round(median_of(fixed_floors, "seconds"), 2),
            "step_seconds": median_kinds(fixed_runs),
            "events": fixed_runs[-1]["events"],
            "note": "one ticker over the same years: the run's cost that does not grow with the universe",
        },
        "marginal_seconds_per_ticker_year": marginal,
        "marginal_seconds_per_ticker_year_spread": spread(marginal),
        "peak_rss_mb": top["peak_rss_mb"],
        "dagster_events": top["events"],
        "dagster_events_per_month": round(top["events"] / top["months"], 2),
        "objects_written": sum(runs[largest][-1]["objects"].values()),
        "rows_written": sum(runs[largest][-1]["rows"].values()),
        "scale": {"tickers": largest, "years": years, "counts": counts},
        "mode": "tickerlake run --universe FILE --start --end --no-reports --format json; recorded in a fresh "
        "DAGSTER_HOME; source sample; process wall time (start-up included), floor likewise",
        "by_size": per_size,
        "runs": {str(c): runs[c] for c in counts},
        "floors": {str(c): floors[c] for c in counts},
    }
    if config.get("stages"):
        log(f"backfill: the stages alone (no Dagster, no checks), {largest} tickers × {years} years")
        stages = run_child(MODULE, "stages", {"tickers": largest, "years": years})
        figures["stages_only"] = {
            **stages,
            "ratio": round(stages["seconds"] / top["floor_work_s"], 2),
            "note": "in-process time of pipelines.stages (raw→features) into a lake without fsync, against the "
            "floor's in-process work at the same size",
        }
    if config.get("profile_scale"):
        count, prof_years = config["profile_scale"]
        log(f"backfill: cProfile of tickerlake run, {count} tickers × {prof_years} years")
        profiled = run_once(count, prof_years, profile=True)
        figures["profile"] = {
            "tickers": count,
            "years": prof_years,
            "wall_s": profiled["seconds"],
            **profiled["profile"],
        }
    return figures


if __name__ == "__main__":
    child_main({"floor": task_floor, "stages": task_stages, "floor_lake": task_floor_lake})
