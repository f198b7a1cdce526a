"""Backfill: tickers × years, raw → features into a local lake through `run_lake` (what `tickerlake run`
calls), against its floor (the same rows in one vectorised pass, one `pyarrow.dataset` write per dataset).

Each scale runs in a fresh process (its peak RSS is that run's). Dagster's per-partition bookkeeping makes a
universe × 2 years backfill take about an hour, so the full figure is fitted: seconds = a + b × tickers over
2-3 measured ticker counts of the same date range, then evaluated at the asked universe size.
"""

from __future__ import annotations

import cProfile
import pstats
import tempfile
from pathlib import Path
from typing import Any

from bench import _lakes
from bench._common import END_DATE, child_main, log, run_child, scratch, timed

MODULE = "bench.backfill"

#: (file suffix, function) → the bucket of the breakdown its cumulative time goes to.
PROFILE_BUCKETS: dict[str, list[tuple[str, str]]] = {
    "stages_total": [
        ("lake/stages.py", "ingest_raw"),
        ("lake/stages.py", "build_prices"),
        ("lake/stages.py", "build_derived"),
    ],
    "source_fetch": [("pipelines/sources/sample.py", "fetch")],
    "compute": [
        ("pipelines/parsing.py", "parse_envelope"),
        ("pipelines/parsing.py", "parse_bar"),
        ("pipelines/indicators.py", "compute_indicators"),
        ("pipelines/percentiles.py", "compute_percentiles"),
        ("pipelines/features.py", "compute_features"),
    ],
    "validation": [("lake/stages.py", "_schema_errors")],
    "lake_writes": [
        ("lake/api.py", "write_partitions"),
        ("lake/api.py", "put_raw"),
        ("lake/api.py", "quarantine"),
    ],
    "compaction": [("lake/compaction.py", "compact")],  # inside lake_writes: write_partitions calls it
    "lake_reads": [
        ("lake/api.py", "read_dataset"),
        ("lake/stages.py", "_latest_raw_by_date"),
        ("lake/api.py", "get_raw"),
    ],
    "dagster_event_storage": [("storage/event_log/sql_event_log.py", "store_event")],
    "dagster_planned_events": [("instance/runs/run_domain.py", "_log_asset_planned_events")],
    "dagster_run_total": [("execution/execute_in_process.py", "core_execute_in_process")],
}


def breakdown(profile: cProfile.Profile) -> dict[str, float]:
    """Seconds per bucket from cumulative times (a function counted once, not per recursive frame)."""
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    found: dict[str, float] = {}
    for bucket, wanted in PROFILE_BUCKETS.items():
        total = 0.0
        for (filename, _line, name), (_cc, _nc, _tt, cumulative, _callers) in stats.items():
            if any(filename.endswith(suffix) and name == fn for suffix, fn in wanted):
                total += cumulative
        found[bucket] = round(total, 3)
    return found


def _warm_up(record: bool) -> None:
    """One tiny run first: imports, pandera models and Dagster's definitions are then warm (this venv does
    not write bytecode, so a cold import of Dagster alone costs ~10 s that is not the backfill's)."""
    from dagster_project.definitions import build_defs
    from dagster_project.runner import run_lake

    with scratch("warm-") as root:
        uri = str(root / "lake")
        _lakes.open_lake(root / "lake")
        symbol = _lakes.tickers(1)
        days = _lakes.weekdays(_lakes.years_before(END_DATE, 0.05), END_DATE)
        run_lake(
            build_defs(lake_uri=uri, source="sample"),
            symbol,
            days[0],
            days[-1],
            record=record,
            with_reports=False,
            lake_uri=uri,
            source="sample",
        )


def task_lake_run(args: dict[str, Any]) -> dict[str, Any]:
    from dagster_project.definitions import build_defs
    from dagster_project.runner import run_lake

    record, profile = bool(args.get("record")), bool(args.get("profile"))
    _warm_up(record)
    symbols = _lakes.tickers(args["tickers"])
    start = _lakes.years_before(END_DATE, args["years"])
    days = _lakes.weekdays(start, END_DATE)
    with tempfile.TemporaryDirectory(prefix="tickerlake-bench-backfill-") as root:
        uri = f"{root}/lake"
        _lakes.open_lake(Path(uri))
        defs = build_defs(lake_uri=uri, source="sample")
        profiler = cProfile.Profile() if profile else None

        def go():
            return run_lake(
                defs,
                symbols,
                days[0],
                days[-1],
                chunk_size=args.get("chunk", 4),
                workers=1,
                record=record,
                with_reports=False,
                lake_uri=uri,
                source="sample",
            )

        if profiler:
            profiler.enable()
        seconds, summary = timed(go)
        if profiler:
            profiler.disable()
    result = {
        "tickers": len(symbols),
        "years": args["years"],
        "record": record,
        "seconds": round(seconds, 3),
        "partitions": summary.partitions,
        "objects_written": summary.objects_written,
        "features_written": summary.done,
        "skipped": summary.skipped,
        "failed": summary.failed,
    }
    if profiler:
        result["profile"] = breakdown(profiler)
    return result


def task_stages(args: dict[str, Any]) -> dict[str, Any]:
    """The same backfill through `lake.stages` without Dagster: the lake's own share of the cost."""
    from pathlib import Path

    with scratch("warm-") as root:
        lake = _lakes.open_lake(root)
        _lakes.seed_with_stages(lake, _lakes.tickers(1), _lakes.years_before(END_DATE, 0.05), END_DATE)
    symbols = _lakes.tickers(args["tickers"])
    start = _lakes.years_before(END_DATE, args["years"])
    with tempfile.TemporaryDirectory(prefix="tickerlake-bench-stages-") as root:
        lake = _lakes.open_lake(Path(root))
        seconds, _ = timed(lambda: _lakes.seed_with_stages(lake, symbols, start, END_DATE))
    return {"tickers": len(symbols), "years": args["years"], "seconds": round(seconds, 3)}


def task_floor(args: dict[str, Any]) -> dict[str, Any]:
    from pathlib import Path

    with scratch("warm-") as root:
        _lakes.write_floor(root, _lakes.tickers(1), _lakes.years_before(END_DATE, 0.05), END_DATE)
    symbols = _lakes.tickers(args["tickers"])
    start = _lakes.years_before(END_DATE, args["years"])
    with tempfile.TemporaryDirectory(prefix="tickerlake-bench-floor-") as root:
        seconds, files = timed(lambda: _lakes.write_floor(Path(root), symbols, start, END_DATE))
    return {"tickers": len(symbols), "years": args["years"], "seconds": round(seconds, 3), "files": files}


def task_dagster_events(args: dict[str, Any]) -> dict[str, Any]:
    """The cheapest record Dagster keeps of one asset partition: `report_runless_asset_event` of one
    AssetMaterialization per (ticker, date) partition key, on an in-memory instance (what `record=False`
    uses) and on the SQLite one in DAGSTER_HOME (what `tickerlake run` records into). No run, no planned
    events, no checks: a lower bound of what any execution pays per asset partition for as long as each
    (ticker, date) is a Dagster partition."""
    import time

    import dagster as dg

    from dagster_project.runner import _relaxed_sqlite_sync

    count = int(args.get("events", 500))
    symbols = _lakes.tickers(max(1, count // 250))
    days = _lakes.weekdays(_lakes.years_before(END_DATE, 2), END_DATE)
    keys = [dg.MultiPartitionKey({"ticker": symbol, "date": day}) for symbol in symbols for day in days][
        :count
    ]
    found: dict[str, Any] = {"events": len(keys)}
    _relaxed_sqlite_sync()
    for name, make in (("in_memory", dg.DagsterInstance.ephemeral), ("sqlite", dg.DagsterInstance.get)):
        instance = make()
        try:
            instance.report_runless_asset_event(
                dg.AssetMaterialization(asset_key="warm_up", partition=keys[0])
            )
            started = time.perf_counter()
            for key in keys:
                instance.report_runless_asset_event(
                    dg.AssetMaterialization(asset_key="features", partition=key)
                )
            found[f"{name}_ms"] = round((time.perf_counter() - started) / len(keys) * 1000, 3)
        finally:
            instance.dispose()
    return found


def lower_bound(
    events: dict[str, Any], stages_s: float, floor_s: float, tickers: int, years: float
) -> dict[str, Any]:
    """The backfill ratio no execution can beat while each (ticker, date) is a Dagster partition: the
    lake's own path (`stages_s`) plus one materialization per asset (5) and ticker-day at the cheapest
    per-event cost measured (`events`, from `task_dagster_events`), against the floor."""
    ticker_days = expected_objects(tickers, years) // 5
    dagster_s = ticker_days * 5 * events["in_memory_ms"] / 1000
    return {
        "ticker_days": ticker_days,
        "dagster_event_ms": events,
        "dagster_seconds": round(dagster_s, 1),
        "ratio": round((stages_s + dagster_s) / floor_s, 2),
    }


def fit_line(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least squares y = a + b·x (b only, through the origin, with a single point)."""
    if len(xs) == 1:
        return 0.0, ys[0] / xs[0]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / sum(
        (x - mean_x) ** 2 for x in xs
    )
    return mean_y - slope * mean_x, slope


def r_squared(xs: list[float], ys: list[float], a: float, b: float) -> float:
    mean_y = sum(ys) / len(ys)
    total = sum((y - mean_y) ** 2 for y in ys)
    residual = sum((y - (a + b * x)) ** 2 for x, y in zip(xs, ys, strict=True))
    return 1.0 - residual / total if total else 1.0


def expected_objects(count: int, years: float) -> int:
    """Objects a backfill writes: 5 per trading session (raw + 4 datasets), from the exchange calendars."""
    from pipelines.sources import trading_days

    start = _lakes.years_before(END_DATE, years)
    return 5 * sum(len(trading_days(symbol, start, END_DATE)) for symbol in _lakes.tickers(count))


def measure(config: dict[str, Any]) -> dict[str, Any]:
    """The backfill family. config: ticker_counts, years, target_tickers, record_scale, profile_scale."""
    years = config["years"]
    runs, floors, stage_runs = [], [], []
    for count in config["ticker_counts"]:
        log(f"backfill: run_lake {count} tickers × {years} years (record=False)")
        runs.append(run_child(MODULE, "lake_run", {"tickers": count, "years": years}))
        log(f"backfill: {runs[-1]['seconds']} s; stages only")
        stage_runs.append(run_child(MODULE, "stages", {"tickers": count, "years": years}))
        log(f"backfill: stages {stage_runs[-1]['seconds']} s; floor")
        floors.append(run_child(MODULE, "floor", {"tickers": count, "years": years}))
        log(f"backfill: floor {floors[-1]['seconds']} s")
    xs = [float(r["tickers"]) for r in runs]
    fits = {}
    for name, series in (("run_lake", runs), ("stages", stage_runs), ("floor", floors)):
        a, b = fit_line(xs, [r["seconds"] for r in series])
        fits[name] = {
            "intercept_s": round(a, 3),
            "per_ticker_s": round(b, 3),
            "r2": round(r_squared(xs, [r["seconds"] for r in series], a, b), 4),
        }
    target = config["target_tickers"]
    at_target = {name: fit["intercept_s"] + fit["per_ticker_s"] * target for name, fit in fits.items()}
    measured_at_target = next((r for r in runs if r["tickers"] == target), None)
    floor_at_target = next((r for r in floors if r["tickers"] == target), None)
    seconds = measured_at_target["seconds"] if measured_at_target else at_target["run_lake"]
    floor_seconds = floor_at_target["seconds"] if floor_at_target else at_target["floor"]

    count, rec_years = config["record_scale"]
    log(f"backfill: record=True vs False at {count} tickers × {rec_years} years")
    recorded = run_child(MODULE, "lake_run", {"tickers": count, "years": rec_years, "record": True})
    unrecorded = run_child(MODULE, "lake_run", {"tickers": count, "years": rec_years})
    count, prof_years = config["profile_scale"]
    log(f"backfill: profile at {count} tickers × {prof_years} years")
    profiled = run_child(MODULE, "lake_run", {"tickers": count, "years": prof_years, "profile": True})

    log("backfill: the cheapest Dagster record of one asset partition")
    events = run_child(MODULE, "dagster_events", {"events": 500})

    largest = max(runs, key=lambda r: r["tickers"])
    return {
        "seconds": round(seconds, 2),
        "floor_seconds": round(floor_seconds, 2),
        "ratio": round(seconds / floor_seconds, 2),
        "peak_rss_mb": largest["peak_rss_mb"],
        "objects_written": measured_at_target["objects_written"]
        if measured_at_target
        else expected_objects(target, years),
        "extrapolated": measured_at_target is None,
        "scale": {"tickers": target, "years": years, "measured_ticker_counts": config["ticker_counts"]},
        "mode": "run_lake(record=False, workers=1, chunk_size=4), no report pre-warm",
        "fit": fits,
        "stages_only_seconds_at_scale": round(at_target["stages"], 2),
        "stages_ratio": round(at_target["stages"] / at_target["floor"], 2),
        "measured": runs,
        "stages_measured": stage_runs,
        "floor_measured": floors,
        "record": {
            "tickers": recorded["tickers"],
            "years": recorded["years"],
            "record_true_s": recorded["seconds"],
            "record_false_s": unrecorded["seconds"],
            "factor": round(recorded["seconds"] / unrecorded["seconds"], 2),
            "partitions": recorded["partitions"],
        },
        "profile": {
            **profiled["profile"],
            "run_s": profiled["seconds"],
            "tickers": profiled["tickers"],
            "years": profiled["years"],
            "partitions": profiled["partitions"],
        },
        "peak_rss_by_scale": {str(r["tickers"]): r["peak_rss_mb"] for r in runs},
        "per_day_partitions_lower_bound": lower_bound(
            events, at_target["stages"], floor_seconds, target, years
        ),
    }


if __name__ == "__main__":
    child_main(
        {
            "lake_run": task_lake_run,
            "stages": task_stages,
            "floor": task_floor,
            "dagster_events": task_dagster_events,
        }
    )
