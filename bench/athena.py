"""Athena: which objects and bytes the four query shapes of `bench.query` would make Athena read, worked
out from the layout and the Parquet statistics of the same lake (no AWS account needed).

The Glue tables project one partition per month (`month`, `type=date`, `yyyy-MM`); Athena prunes
partitions by conditions on `month` only. `date` and `ticker` are plain columns: every object of the
months left is opened (its footer read), and inside it Trino's Parquet reader skips the row groups whose
min/max statistics rule the `ticker` and `date` conditions out, reading only the columns the query uses
from the others. So, per query:

- objects_read:  the month objects of the partitions left;
- bytes_scanned: for each, its footer (the Thrift metadata + 8 bytes) plus the compressed column chunks
  of the used columns in the row groups the statistics cannot rule out (a small overestimate for a
  point query: Trino also uses page indexes and dictionaries to skip pages, not counted here).

Each shape is worked out as written (no `month` condition) and with the `month` condition an analyst may
add (docs/analysts.md): `month = '2026-11'` for a date, `month BETWEEN` the first and last months for a
series (no change: a 10-year series needs every month). Athena bills at least 10 MB per query.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from bench import _lakes
from bench._common import END_DATE, child_main, log, run_child
from bench.query import DATASET, shape_args

MODULE = "bench.athena"
MIN_BILLED = 10 * 1024 * 1024


def plan(ticker: str, first: str, day: str, columns: list[str]) -> dict[str, dict[str, Any]]:
    """Each shape: the tickers/dates it keeps, the columns it reads, the months its `month` condition keeps."""
    everything = None
    return {
        "point": {"ticker": ticker, "low": day, "high": day, "columns": everything, "months": {day[:7]}},
        "series_10y": {
            "ticker": ticker,
            "low": first,
            "high": day,
            "columns": ["ticker", "date", "close", "rsi_14", "macd"],
            "months": None,  # month BETWEEN first and last: every month of the table
        },
        "cross_section": {
            "ticker": None,
            "low": day,
            "high": day,
            "columns": ["ticker", "date", "rsi_14"],
            "months": {day[:7]},
        },
        "full_scan": {
            "ticker": None,
            "low": None,
            "high": None,
            "columns": ["ticker", "date", "rsi_14"],
            "months": None,
        },
    }


def _may_hold(statistics: Any, low: Any, high: Any) -> bool:
    if statistics is None or not statistics.has_min_max:
        return True
    return not (high is not None and statistics.min > high) and not (low is not None and statistics.max < low)


def scan(path: Path, shape: dict[str, Any], all_columns: list[str]) -> dict[str, int]:
    """What Athena reads of one month object for one shape: footer + column chunks of the row groups kept."""
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(path).metadata
    index = {meta.schema.column(i).name: i for i in range(meta.num_columns)}
    columns = shape["columns"] or all_columns
    wanted = [index[name] for name in columns if name in index]
    low = dt.date.fromisoformat(shape["low"]) if shape["low"] else None
    high = dt.date.fromisoformat(shape["high"]) if shape["high"] else None
    read, groups = meta.serialized_size + 8, 0
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        if shape["ticker"] is not None and not _may_hold(
            group.column(index["ticker"]).statistics, shape["ticker"], shape["ticker"]
        ):
            continue
        if (low or high) and not _may_hold(group.column(index["date"]).statistics, low, high):
            continue
        groups += 1
        read += sum(group.column(i).total_compressed_size for i in wanted)
    return {"bytes": read, "row_groups": groups, "row_groups_total": meta.num_row_groups}


def task_estimate(args: dict[str, Any]) -> dict[str, Any]:
    from lake.api import dataset_schema

    lake = _lakes.history_lake(args["tickers"], args["years"])
    shape_values = shape_args(args["tickers"], args["years"])
    all_columns = list(dataset_schema(DATASET).names)
    root = lake / "processed" / DATASET
    months = sorted(p.name.split("=", 1)[1] for p in root.glob("month=*") if (p / "data.parquet").exists())
    shapes = plan(shape_values["ticker"], shape_values["first"], shape_values["day"], all_columns)
    found: dict[str, Any] = {"objects_in_table": len(months), "table_bytes": 0}
    found["table_bytes"] = sum((root / f"month={m}" / "data.parquet").stat().st_size for m in months)
    for name, shape in shapes.items():
        for variant, keep in (("as_written", None), ("with_month", shape["months"])):
            opened = [m for m in months if keep is None or m in keep]
            scans = [scan(root / f"month={m}" / "data.parquet", shape, all_columns) for m in opened]
            total = sum(s["bytes"] for s in scans)
            found[f"{name}.{variant}"] = {
                "objects_read": len(opened),
                "bytes_scanned": total,
                "billed_bytes": max(total, MIN_BILLED),
                "row_groups_read": sum(s["row_groups"] for s in scans),
                "row_groups_total": sum(s["row_groups_total"] for s in scans),
            }
    return found


def measure(config: dict[str, Any]) -> dict[str, Any]:
    """config: tickers, years (the query family's lake)."""
    _lakes.ensure("history", config["tickers"], config["years"])
    found = run_child(MODULE, "estimate", config)
    shapes = ("point", "series_10y", "cross_section", "full_scan")
    figures: dict[str, Any] = {
        "objects_read": {name: found[f"{name}.as_written"]["objects_read"] for name in shapes},
        "bytes_scanned": {name: found[f"{name}.as_written"]["bytes_scanned"] for name in shapes},
        "objects_read_with_month": {name: found[f"{name}.with_month"]["objects_read"] for name in shapes},
        "bytes_scanned_with_month": {name: found[f"{name}.with_month"]["bytes_scanned"] for name in shapes},
        "series_10y_objects": found["series_10y.as_written"]["objects_read"],
        "objects_in_table": found["objects_in_table"],
        "table_bytes": found["table_bytes"],
        "scale": {"tickers": config["tickers"], "years": config["years"], "end": END_DATE},
        "details": found,
    }
    for name in shapes:
        log(
            f"athena {name}: {figures['objects_read'][name]} objects, {figures['bytes_scanned'][name] / 2**20:.2f} MB "
            f"(with month: {figures['objects_read_with_month'][name]}, "
            f"{figures['bytes_scanned_with_month'][name] / 2**20:.2f} MB)"
        )
    return figures


if __name__ == "__main__":
    child_main({"estimate": task_estimate})
