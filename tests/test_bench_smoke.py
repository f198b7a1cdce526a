"""The benchmark harness runs end to end at a tiny scale and writes well-formed results (no timing asserted)."""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

EXPECTED = {
    "backfill": [
        "seconds",
        "floor_seconds",
        "ratio",
        "peak_rss_mb",
        "dagster_events",
        "dagster_events_per_month",
        "seconds_per_ticker_year_spread",
        "marginal_seconds_per_ticker_year_spread",
        "objects_written",
    ],
    "increment": ["seconds_10y_history", "seconds_2y_history", "ratio", "history_ratio"],
    "query": [
        f"{shape}_{figure}"
        for shape in ("point", "series_10y", "cross_section", "full_scan")
        for figure in ("ms_p50", "over_duckdb")
    ],
    "athena": ["series_10y_objects", "objects_in_table", "table_bytes"],
    "cache": ["l1_hit_ms_p50", "l2_hit_ms_p50", "raw_get_ms_p50", "l2_over_raw", "miss_report_s"],
    "cold_start": ["zip_mb", "cold_s", "floor_s", "ratio", "warm_ms"],
}


def _number(value: object) -> bool:
    return isinstance(value, int | float) and math.isfinite(value) and value >= 0


@pytest.mark.slow
def test_bench_harness_writes_every_figure_at_a_tiny_scale(tmp_path):
    out, chart = tmp_path / "latest.json", tmp_path / "chart.png"
    completed = subprocess.run(
        [sys.executable, "-m", "bench.run", "--smoke", "--out", str(out), "--chart", str(chart)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    results = json.loads(out.read_text())
    for family, keys in EXPECTED.items():
        assert family in results, f"{family} missing from {sorted(results)}"
        for key in keys:
            assert _number(results[family][key]), (family, key, results[family][key])
        assert results[family]["run"]["scale"] == "smoke"
    backfill = results["backfill"]
    assert backfill["objects_written"] > 0 and backfill["dagster_events"] > 0
    assert set(backfill["seconds_per_ticker_year"]) == {"1", "2"}
    assert all(_number(v) for v in backfill["seconds_per_ticker_year"].values())
    assert {"run_total", "stage_build_derived", "dagster_store_event"} <= set(backfill["profile"]["buckets"])
    assert _number(backfill["stages_only"]["seconds"])
    assert _number(backfill["fixed"]["seconds"]) and backfill["fixed"]["events"] > 0
    assert set(backfill["marginal_seconds_per_ticker_year"]) == {"2"}
    for shape in ("point", "series_10y", "cross_section", "full_scan"):
        assert _number(results["athena"]["objects_read"][shape])
        assert _number(results["athena"]["bytes_scanned"][shape])
    assert results["athena"]["objects_read_with_month"]["point"] == 1
    assert chart.stat().st_size > 0
