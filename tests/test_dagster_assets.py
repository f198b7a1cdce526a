"""The Dagster code location: definitions load, partitions materialize with lineage, re-runs version,
bad raw payloads end in quarantine with a failed check, and `tickerlake run` drives the same graph."""

import json
import os
import subprocess
import sys

import dagster as dg
import pytest

from dagster_project.definitions import build_defs, defs
from dagster_project.partitions import (
    RECOMMENDED_MAX_PARTITIONS,
    contiguous_chunks,
    range_tags,
    split_keys,
    ticker_date_partitions,
    ticker_partitions,
)
from dagster_project.runner import run_lake
from lake import Lake

DAY = "2025-06-04"  # a Wednesday, a session on SGX and NYSE


@pytest.fixture
def lake_uri(tmp_path):
    uri = str(tmp_path / "lake")
    Lake.open(uri).init()
    return uri


@pytest.fixture
def instance():
    with dg.instance_for_test() as test_instance:
        yield test_instance


def _materialize(uri, selection, partition_key, instance):
    local_defs = build_defs(lake_uri=uri, source="sample")
    job = local_defs.resolve_implicit_global_asset_job_def()
    return job.get_subset(asset_selection={dg.AssetKey(name) for name in selection}).execute_in_process(
        instance=instance, partition_key=partition_key, raise_on_error=False
    )


def _key(ticker, date):
    return str(dg.MultiPartitionKey({"ticker": ticker, "date": date}))


def test_definitions_load_with_the_asset_graph_checks_jobs_and_schedules():
    names = {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}
    assert names == {"raw_prices", "prices", "indicators", "percentiles", "features", "reports"}
    graph = defs.resolve_asset_graph()
    assert graph.get(dg.AssetKey("indicators")).parent_keys == {dg.AssetKey("prices")}
    assert graph.get(dg.AssetKey("prices")).parent_keys == {dg.AssetKey("raw_prices")}
    checks = {key.name for key in graph.asset_check_keys}
    for dataset in ("prices", "indicators", "percentiles", "features"):
        assert {f"{dataset}_matches_schema", f"{dataset}_not_quarantined", f"{dataset}_complete"} <= checks
    assert defs.resolve_job_def("lake_job").partitions_def == ticker_date_partitions
    assert {s.name for s in defs.schedules} == {"daily_after_close", "prewarm_reports"}


def test_partition_count_stays_within_dagster_guidance_for_two_years_of_the_universe():
    tickers = len(ticker_partitions.get_partition_keys())
    two_years_of_weekdays = 2 * 261
    assert tickers * two_years_of_weekdays < RECOMMENDED_MAX_PARTITIONS


def test_multi_partition_keys_split_into_ticker_and_date():
    assert split_keys([_key("D05.SI", DAY)]) == [("D05.SI", DAY)]
    tags = range_tags(["C6L.SI", "S63.SI"], "2025-06-02", "2025-06-06")
    assert tags["dagster/asset_partition_range_start"] == "2025-06-02|C6L.SI"
    assert tags["dagster/asset_partition_range_end"] == "2025-06-06|S63.SI"


def test_chunks_only_group_tickers_adjacent_in_the_universe():
    keys = ticker_partitions.get_partition_keys()
    chunks = contiguous_chunks([keys[5], keys[0], keys[1], keys[2]], 2)
    assert chunks == [[keys[0], keys[1]], [keys[2]], [keys[5]]]


def test_materializing_one_partition_writes_every_dataset_with_lineage(lake_uri, instance):
    result = _materialize(
        lake_uri,
        ["raw_prices", "prices", "indicators", "percentiles", "features"],
        _key("D05.SI", DAY),
        instance,
    )
    assert result.success
    lake = Lake.open(lake_uri)
    raw = lake.latest_raw("D05.SI", DAY)
    assert raw is not None and raw.key.startswith(f"raw/yfinance/ticker=D05.SI/date={DAY}/")
    for dataset in ("prices", "indicators", "percentiles", "features"):
        frame = lake.read_partition(dataset, "D05.SI", DAY)
        assert len(frame) == 1
        assert frame["source_raw_key"].iloc[0] == raw.key
        assert frame["source_raw_version"].iloc[0] == raw.version_id
        assert frame["run_id"].iloc[0] == result.run_id
        versions = lake.list_versions(dataset, "D05.SI", DAY)
        assert versions[0].lineage.source_raw_key == raw.key
    materialization = result.asset_materializations_for_node("prices")[0]
    assert (
        materialization.metadata["object_key"].value
        == f"processed/prices/ticker=D05.SI/date={DAY}/data.parquet"
    )
    assert materialization.metadata["source_raw_key"].value == raw.key
    assert materialization.metadata["version_id"].value
    assert "preview" in materialization.metadata
    evaluations = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert evaluations["prices_matches_schema"] and evaluations["prices_not_quarantined"]


def test_rerunning_a_partition_makes_a_new_version_and_no_duplicate_rows(lake_uri, instance):
    selection = ["raw_prices", "prices", "indicators"]
    first = _materialize(lake_uri, selection, _key("NVDA", DAY), instance)
    second = _materialize(lake_uri, selection, _key("NVDA", DAY), instance)
    assert first.success and second.success
    lake = Lake.open(lake_uri)
    versions = lake.list_versions("indicators", "NVDA", DAY)
    assert len(versions) == 2 and versions[0].is_latest
    assert versions[0].lineage.run_id == second.run_id and versions[1].lineage.run_id == first.run_id
    latest = lake.read_dataset("indicators", ["NVDA"], DAY, DAY)
    assert len(latest) == 1 and latest["run_id"].iloc[0] == second.run_id
    assert len(lake.raw_objects("NVDA", DAY)) == 2  # raw is immutable: a new fetch is a new object


def test_a_bad_raw_payload_is_quarantined_and_fails_the_check(lake_uri, instance):
    lake = Lake.open(lake_uri)
    envelope = {
        "source": "sample",
        "ticker": "D05.SI",
        "symbol": "D05.SI",
        "as_of": DAY,
        "fetched_at": f"{DAY}T12:00:00+00:00",
        "request": {},
        "payload": {
            "history": [
                {
                    "date": DAY,
                    "open": 10,
                    "high": 9,
                    "low": 11,
                    "close": 10,
                    "adj_close": 10,
                    "volume": 5,
                    "dividends": 0,
                    "splits": 0,
                }
            ],
            "facts": {},
        },
    }
    raw = lake.put_raw(json.dumps(envelope).encode(), ticker="D05.SI", date=DAY)
    result = _materialize(lake_uri, ["prices"], _key("D05.SI", DAY), instance)
    assert result.success  # the run completes; the bad partition is set aside, not a crash
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert not evaluations["prices_not_quarantined"].passed
    assert "D05.SI|" + DAY in evaluations["prices_not_quarantined"].metadata["partitions"].value
    records = lake.quarantine_records("prices", "D05.SI", DAY)
    assert len(records) == 1 and "high" in records[0]["reason"]
    assert records[0]["source_key"] == raw.key
    assert lake.get_raw(raw.key) == json.dumps(envelope).encode()  # the raw object is kept verbatim
    assert lake.partitions("prices", "D05.SI") == []


def test_run_lake_backfills_a_range_in_one_run_per_chunk(lake_uri, instance):
    local_defs = build_defs(lake_uri=lake_uri, source="sample")
    summary = run_lake(
        local_defs,
        ["C6L.SI", "S63.SI"],
        "2025-05-26",
        "2025-06-06",
        chunk_size=2,
        instance=instance,
        with_reports=False,
    )
    assert summary.ok and len(summary.run_ids) == 1
    lake = Lake.open(lake_uri)
    days = {d for _, d in lake.partitions("features", "C6L.SI")}
    assert summary.partitions == 2 * 10
    assert summary.done == len(days) + len(lake.partitions("features", "S63.SI"))
    assert "2025-06-02" in days and "2025-05-31" not in days  # a Saturday is no partition
    assert summary.objects_written == 5 * summary.done


def _planned_events(instance, run_id):
    return instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED
    ).records


def test_an_unrecorded_run_writes_one_planned_event_per_asset_not_per_partition(lake_uri, monkeypatch):
    """`run_lake(record=False)` turns on Dagster's range-planned events (its instance is thrown away, so
    nothing reads per-partition ones); a recorded run keeps one per partition and asset. A canary for a
    Dagster upgrade that drops the switch, too."""
    from dagster_project import runner

    monkeypatch.delenv(runner.PLANNED_SUBSET_ENV, raising=False)
    local_defs = build_defs(lake_uri=lake_uri, source="sample")
    counts = {}
    for enabled in (False, True):
        instance = dg.DagsterInstance.ephemeral()
        with runner._planned_events_per_run(enabled):
            chunk = runner.run_chunk(local_defs, instance, ["C6L.SI"], "2025-06-02", "2025-06-04", 3)
        assert chunk.success and chunk.written["features"] == 3
        counts[enabled] = len(_planned_events(instance, chunk.run_id))
        instance.dispose()
    assert counts == {False: 5 * 3, True: 5}
    assert runner.PLANNED_SUBSET_ENV not in os.environ  # restored

    seen = []
    real = runner.run_chunk

    def spy(*args, **kwargs):
        seen.append(os.environ.get(runner.PLANNED_SUBSET_ENV))
        return real(*args, **kwargs)

    monkeypatch.setattr(runner, "run_chunk", spy)
    assert run_lake(local_defs, ["C6L.SI"], "2025-06-02", "2025-06-03", record=False, with_reports=False).ok
    with dg.instance_for_test() as recorded:
        summary = run_lake(
            local_defs, ["C6L.SI"], "2025-06-02", "2025-06-03", instance=recorded, with_reports=False
        )
    assert summary.ok
    assert seen == ["true", None]


def test_cli_run_refuses_hostile_and_unknown_input(tmp_path):
    env_cmd = [sys.executable, "-m", "tickerlake_cli.main", "run", "--lake", str(tmp_path / "lake")]
    for args, fragment in (
        (["--tickers", "../x"], "../x"),
        (["--tickers", "DBS91"], "DBS19"),
        (["--start", "2025-13-40"], "2025-13-40"),
        (["--start", "2025-06-06", "--end", "2025-06-01"], "after"),
    ):
        done = subprocess.run(env_cmd + args, capture_output=True, text=True, timeout=120)
        assert done.returncode == 2, done.stderr
        assert fragment in done.stderr and "Traceback" not in done.stderr
