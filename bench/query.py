"""Query: `tickerlake sql`-equivalent queries in-process (`glue.local_sql.run_local`) on a local lake.

The lake holds `indicators` for N tickers × 2 years, written through `Lake.write_partitions` (the same
objects, versions and sidecar records a backfill writes; fsync off while seeding). Three shapes: a point
(ticker, date), a series (one ticker, 2 years), a cross-section (every ticker, one date).

Each shape is measured twice in the same process: on the partitions alone (one object per ticker-day,
as the lake was before month compaction), then after compacting every closed month (`Lake.compact`, what
`tickerlake run` leaves behind); the figures are the compacted lake's, the others are kept as `uncompacted`.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from typing import Any

from bench import _lakes
from bench._common import END_DATE, child_main, log, p50, repeat, run_child, timed

MODULE = "bench.query"
DATASET = "indicators"


def seed_indicators(root: Path, symbols: list[str], years: float) -> int:
    """indicators rows for symbols × years, one object per (ticker, date), through the lake API."""
    from lake import Lineage

    lake = _lakes.open_lake(root, durable=False)
    start = _lakes.years_before(END_DATE, years)
    computed_at = dt.datetime.now(dt.UTC)
    written = 0
    for symbol in symbols:
        frames, _ = _lakes.computed_frames(symbol, start, END_DATE)
        frame = frames[DATASET].drop(columns=["ticker"])
        frame["date"] = frame["date"].astype(str)
        lineage = {
            day: Lineage(
                f"raw/yfinance/ticker={symbol}/date={day}/seed.json",
                "seed",
                "1",
                computed_at,
                "bench-seed",
                DATASET,
            )
            for day in frame["date"]
        }
        written += len(lake.write_partitions(DATASET, symbol, frame, lineage))
    return written


def task_queries(args: dict[str, Any]) -> dict[str, Any]:
    from glue.local_sql import run_local

    symbols = _lakes.tickers(args["tickers"])
    with tempfile.TemporaryDirectory(prefix="tickerlake-bench-query-") as root:
        seed_s, objects = timed(lambda: seed_indicators(Path(root), symbols, args["years"]))
        days = _lakes.weekdays(_lakes.years_before(END_DATE, args["years"]), END_DATE)
        day, first = days[-1], days[0]
        queries = {
            "point": f"SELECT * FROM {DATASET} WHERE ticker = '{symbols[0]}' AND date = '{day}'",
            "series_2y": f"SELECT date, close, rsi_14, macd FROM {DATASET} WHERE ticker = '{symbols[0]}' "
            f"AND date BETWEEN '{first}' AND '{day}' ORDER BY date",
            "cross_section": f"SELECT ticker, close, rsi_14 FROM {DATASET} WHERE date = '{day}' ORDER BY ticker",
        }
        results: dict[str, Any] = {
            "tickers": len(symbols),
            "years": args["years"],
            "objects": objects,
            "seed_s": round(seed_s, 1),
            "queries": queries,
        }

        def measure_all() -> dict[str, Any]:
            found: dict[str, Any] = {}
            for name, sql in queries.items():
                result = run_local(sql, lake_uri=root)
                samples = repeat(lambda sql=sql: run_local(sql, lake_uri=root), args["reps"], warmup=1)
                found[name] = {
                    "ms_p50": round(p50(samples) * 1000, 1),
                    "rows": result.table.num_rows,
                    "files_read": len(result.files_read),
                    "ms_samples": [round(s * 1000, 1) for s in samples],
                }
            return found

        results["uncompacted"] = measure_all()
        results["compact_s"], _ = timed(lambda: compact_closed_months(Path(root), symbols))
        results.update(measure_all())
    return results


def compact_closed_months(root: Path, symbols: list[str]) -> None:
    """Every month before the current one gets its compacted copy, as the stages leave a backfilled lake."""
    from lake import Lake
    from lake.compaction import month_of

    lake = Lake.open(str(root))
    this_month = month_of(dt.datetime.now(dt.UTC).date().isoformat())
    for symbol in symbols:
        months = {month_of(date) for _, date in lake.partitions(DATASET, symbol)}
        lake.compact(DATASET, symbol, sorted(m for m in months if m < this_month))


def measure(config: dict[str, Any]) -> dict[str, Any]:
    log(f"query: seeding indicators for {config['tickers']} tickers × {config['years']} years")
    found = run_child(MODULE, "queries", config)
    for label, figures in (("uncompacted", found["uncompacted"]), ("compacted", found)):
        log(
            f"query ({label}): point {figures['point']['ms_p50']} ms, series {figures['series_2y']['ms_p50']}"
            f" ms, cross-section {figures['cross_section']['ms_p50']} ms"
        )
    return {
        "point_ms_p50": found["point"]["ms_p50"],
        "series_2y_ms_p50": found["series_2y"]["ms_p50"],
        "cross_section_ms_p50": found["cross_section"]["ms_p50"],
        "uncompacted": {
            name: found["uncompacted"][name]["ms_p50"] for name in ("point", "series_2y", "cross_section")
        },
        "scale": {"tickers": found["tickers"], "years": found["years"], "objects": found["objects"]},
        "details": found,
    }


if __name__ == "__main__":
    child_main({"queries": task_queries})
