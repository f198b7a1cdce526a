"""The benchmark harness runs end to end at a tiny scale and writes well-formed results (no timing asserted)."""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

EXPECTED = {
    "backfill": ["seconds", "floor_seconds", "ratio", "peak_rss_mb", "objects_written"],
    "increment": ["seconds_2y_history", "seconds_10y_history", "ratio"],
    "query": ["point_ms_p50", "series_2y_ms_p50", "cross_section_ms_p50"],
    "cache": ["l1_hit_ms_p50", "l2_hit_ms_p50", "raw_get_ms_p50", "l2_over_raw", "miss_report_s"],
    "cold_start": ["zip_mb", "cold_s", "floor_s", "ratio", "warm_ms"],
}


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
            value = results[family][key]
            assert isinstance(value, int | float) and math.isfinite(value) and value >= 0, (
                family,
                key,
                value,
            )
        assert results[family]["run"]["scale"] == "smoke"
    assert results["backfill"]["objects_written"] > 0
    assert set(results["backfill"]["profile"]) >= {"stages_total", "dagster_run_total", "compute"}
    bound = results["backfill"]["per_day_partitions_lower_bound"]
    assert bound["dagster_event_ms"]["events"] > 0 and bound["dagster_event_ms"]["sqlite_ms"] > 0
    assert bound["ratio"] > 0 and bound["ticker_days"] > 0
    assert chart.stat().st_size > 0
