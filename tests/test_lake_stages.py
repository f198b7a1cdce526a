"""The stages' history reads: adding a day reads a bounded window (the warm-up sessions), not the whole
history, and still writes the values a one-pass computation over the whole history gives."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from dagster_project.partitions import weekday_keys
from lake import Lake, layout, stages
from lake.store import LocalStore
from pipelines.features import compute_features
from pipelines.indicators import compute_indicators
from pipelines.percentiles import compute_percentiles
from pipelines.sources import get_source

T = "D05.SI"
FIRST, LAST = "2022-09-01", "2025-06-03"  # ~690 SGX sessions: the oldest 60 lie beyond every warm-up
NEW = "2025-06-04"


def _lake(root) -> Lake:
    lake = Lake(LocalStore(root, durable=False))  # durability is not what this test is about
    lake.init()
    return lake


def _run(lake: Lake, start: str, end: str) -> dict[str, stages.StageResult]:
    partitions = [(T, day) for day in weekday_keys(dt.date.fromisoformat(start), dt.date.fromisoformat(end))]
    source = get_source("sample")
    stages.ingest_raw(lake, source, partitions)
    results = {"prices": stages.build_prices(lake, partitions, "test-run")}
    for dataset in stages.DERIVED:
        results[dataset] = stages.build_derived(lake, dataset, partitions, "test-run")
    return results


@pytest.mark.slow
def test_adding_a_day_reads_only_the_warmup_and_matches_a_full_history_pass(tmp_path):
    incremental = _lake(tmp_path / "incremental")
    _run(incremental, FIRST, LAST)
    # The oldest sessions become unreadable: any read of the whole history would now fail.
    history = incremental.read_dataset("prices", [T])
    sessions = history["date"].astype(str).tolist()
    for dataset in ("prices", "indicators"):
        for date in sessions[:60]:
            incremental.store.put(layout.dataset_key(dataset, T, date), b"not parquet")
    results = _run(incremental, NEW, NEW)
    assert all(list(r.written) == [(T, NEW)] for r in results.values()), {
        name: r.counts() for name, r in results.items()
    }

    # The same day computed in one pass over the whole history, with the pure functions.
    prices = pd.concat([history, incremental.read_partition("prices", T, NEW)], ignore_index=True)
    prices["date"] = prices["date"].astype(str)
    indicators = compute_indicators(prices)
    want = {
        "indicators": indicators,
        "percentiles": compute_percentiles(indicators),
        "features": compute_features(prices, indicators),
    }
    for dataset in stages.DERIVED:
        got = incremental.read_partition(dataset, T, NEW)
        expected = want[dataset].iloc[[-1]]
        columns = [c for c in expected.columns if c != "date"]
        np.testing.assert_allclose(
            got[columns].to_numpy(float), expected[columns].to_numpy(float), rtol=1e-9, equal_nan=True,
            err_msg=dataset,
        )  # fmt: skip
