"""The Dagster code location on the month grain: definitions load, a month partition materializes every
dataset with lineage and metadata, a run narrowed to some tickers keeps the others, bad raw data ends in
quarantine with a failed check, a backfill of many months is one run, and `tickerlake run` drives it."""

import datetime as dt
import json
import subprocess
import sys

import dagster as dg
import pytest

import schemas
from dagster_project.definitions import build_defs, defs
from dagster_project.partitions import month_partitions, range_tags
from dagster_project.runner import run_lake
from lake import Lake

MONTH = "2025-06"
SCOPE_DAYS = {"start": "2025-06-02", "end": "2025-06-06"}


@pytest.fixture
def lake_uri(tmp_path):
    uri = str(tmp_path / "lake")
    Lake.open(uri).init()
    return uri


@pytest.fixture
def instance():
    with dg.instance_for_test() as test_instance:
        yield test_instance


def _materialize(uri, selection, instance, tickers, *, first=MONTH, last=MONTH, days=SCOPE_DAYS):
    local_defs = build_defs(lake_uri=uri, source="sample")
    job = local_defs.resolve_job_def("lake_job")
    config = {"resources": {"scope": {"config": {"tickers": list(tickers), **days}}}}
    return job.get_subset(asset_selection={dg.AssetKey(name) for name in selection}).execute_in_process(
        instance=instance, tags=range_tags(first, last), run_config=config, raise_on_error=False
    )


LAKE = ["raw_prices", "prices", "indicators", "percentiles", "features"]


def test_definitions_load_with_month_partitions_checks_schedule_and_sensor():
    graph = defs.resolve_asset_graph()
    names = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert names == {"raw_prices", "prices", "indicators", "percentiles", "features", "reports"}
    assert graph.get(dg.AssetKey("indicators")).parent_keys == {dg.AssetKey("prices")}
    for name in LAKE:
        assert graph.get(dg.AssetKey(name)).partitions_def == month_partitions
    checks = {key.name for key in graph.asset_check_keys}
    for dataset in ("prices", "indicators", "percentiles", "features"):
        assert {
            f"{dataset}_{kind}" for kind in ("matches_schema", "not_quarantined", "complete", "quality")
        } <= checks
    assert defs.resolve_job_def("lake_job").partitions_def == month_partitions
    assert {s.name for s in defs.schedules} == {"daily_after_close"}
    assert {s.name for s in defs.sensors} == {"reports_after_features"}


def test_partitions_are_months_including_the_current_one_whatever_the_universe():
    keys = month_partitions.get_partition_keys()
    today = dt.datetime.now(dt.UTC).date()
    assert keys[0] == "2015-01" and keys[-1] == today.strftime("%Y-%m")
    assert len(keys) == (today.year - 2015) * 12 + today.month  # ten years are 120 partitions


def test_materializing_a_month_writes_every_dataset_with_lineage_and_metadata(lake_uri, instance):
    result = _materialize(lake_uri, LAKE, instance, ["D05.SI", "NVDA"])
    assert result.success
    lake = Lake.open(lake_uri)
    fetches = {ticker: lake.raw_fetches(ticker) for ticker in ("D05.SI", "NVDA")}
    assert all(len(found) == 1 for found in fetches.values())  # one fetch per ticker and run
    assert fetches["D05.SI"][0].key.startswith("raw/sample/ticker=D05.SI/date=")
    for dataset in ("prices", "indicators", "percentiles", "features"):
        frame = lake.read_dataset(dataset)
        assert sorted(set(frame["ticker"])) == ["D05.SI", "NVDA"]
        assert {d.isoformat() for d in frame["date"]} <= {f"2025-06-0{d}" for d in range(2, 7)}
        assert set(frame["run_id"]) == {result.run_id}
        d05 = frame[frame["ticker"] == "D05.SI"]
        assert set(d05["source_raw_key"]) == {fetches["D05.SI"][0].key}
        version = lake.month_versions(dataset, MONTH)[0]
        assert version.run_id == result.run_id and version.ticker_count == 2
        manifest = lake.read_manifest(version.manifest_key)
        assert {s["key"] for s in manifest["raw_sources"]} == {f[0].key for f in fetches.values()}
    materialization = result.asset_materializations_for_node("prices")[0]
    metadata = materialization.metadata
    assert materialization.partition == MONTH
    assert metadata["object_key"].value == "processed/prices/month=2025-06/data.parquet"
    assert metadata["version_id"].value == lake.month_versions("prices", MONTH)[0].version_id
    assert metadata["lineage_manifest"].value.startswith("lineage/prices/month=2025-06/")
    assert metadata["tickers"].value == 2 and metadata["first_date"].value == "2025-06-02"
    assert isinstance(metadata["preview"], dg.TableMetadataValue) and metadata["preview"].records
    evaluations = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert evaluations["prices_matches_schema"] and evaluations["prices_not_quarantined"]


def test_a_run_narrowed_to_some_tickers_replaces_only_their_rows(lake_uri, instance):
    first = _materialize(lake_uri, ["raw_prices", "prices"], instance, ["D05.SI", "NVDA"])
    second = _materialize(lake_uri, ["raw_prices", "prices"], instance, ["NVDA"])
    assert first.success and second.success
    lake = Lake.open(lake_uri)
    frame = lake.read_dataset("prices")
    assert set(frame.loc[frame["ticker"] == "D05.SI", "run_id"]) == {first.run_id}
    assert set(frame.loc[frame["ticker"] == "NVDA", "run_id"]) == {second.run_id}
    versions = lake.month_versions("prices", MONTH)
    assert [v.run_id for v in versions] == [second.run_id, first.run_id]
    assert len(lake.raw_fetches("NVDA")) == 2  # raw is immutable: a new fetch is a new object


def test_a_bad_raw_fetch_is_quarantined_and_fails_the_check(lake_uri, instance):
    lake = Lake.open(lake_uri)
    day = "2025-06-04"
    bar = {"date": day, "open": 10, "high": 9, "low": 11, "close": 10, "adj_close": 10, "volume": 5}
    envelope = {
        "source": "sample",
        "ticker": "D05.SI",
        "symbol": "D05.SI",
        "as_of": day,
        "fetched_at": f"{day}T12:00:00+00:00",
        "request": {},
        "payload": {"history": [bar], "facts": {}},
    }
    raw = lake.put_raw(json.dumps(envelope).encode(), ticker="D05.SI", source="sample")
    result = _materialize(lake_uri, ["prices"], instance, ["D05.SI"], days={"start": day, "end": day})
    assert result.success  # the run completes; the bad row is set aside, not a crash
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert not evaluations["prices_not_quarantined"].passed
    assert f"D05.SI|{day}" in evaluations["prices_not_quarantined"].metadata["rows"].value
    records = lake.quarantine_records("prices", "D05.SI", day)
    assert len(records) == 1 and "high" in records[0]["reason"] and records[0]["source_key"] == raw.key
    assert lake.get_raw(raw.key) == json.dumps(envelope).encode()  # the raw object is kept verbatim
    assert lake.months("prices") == []


def test_run_lake_backfills_many_months_in_one_recorded_run(lake_uri, instance):
    local_defs = build_defs(lake_uri=lake_uri, source="sample")
    summary = run_lake(
        local_defs, ["C6L.SI", "S63.SI"], "2025-03-03", "2025-06-06", instance=instance, with_reports=False
    )
    assert summary.ok, summary.error
    assert summary.months == 4 and len(instance.get_runs()) == 1
    assert summary.objects == {name: 4 for name in ("prices", "indicators", "percentiles", "features")} | {
        "raw_prices": 2
    }
    lake = Lake.open(lake_uri)
    frame = lake.read_dataset("features")
    assert summary.rows["features"] == len(frame) and set(frame["ticker"]) == {"C6L.SI", "S63.SI"}
    assert min(frame["date"]).isoformat() == "2025-03-03" and max(frame["date"]).isoformat() == "2025-06-06"
    assert summary.events <= 50 * summary.months  # Dagster's bookkeeping stays per month, not per row
    planned = instance.get_records_for_run(
        summary.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED
    ).records
    assert len(planned) <= 5 * summary.months
    # Each month's materialization names its own object version; the lists and the preview are recorded
    # once, on the newest month, not copied into every month's event.
    events = instance.get_records_for_run(
        summary.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
    ).records
    by_month = {
        e.event_log_entry.dagster_event.partition: e.event_log_entry.asset_materialization.metadata
        for e in events
        if e.event_log_entry.asset_materialization.asset_key == dg.AssetKey("prices")
    }
    assert sorted(by_month) == ["2025-03", "2025-04", "2025-05", "2025-06"]
    assert len(summary.versions) == 4 * 4  # every month version the run wrote, each named once
    for month, metadata in by_month.items():
        version = lake.month_versions("prices", month)[0]
        assert metadata["object_key"].value == f"processed/prices/month={month}/data.parquet"
        assert metadata["version_id"].value == version.version_id
        assert metadata["month_rows"].value == version.row_count
        assert metadata["rows"].value == summary.rows["prices"]  # the run's totals on every month
        assert ("preview" in metadata) == (month == "2025-06")
        assert ("months" in metadata) == (month == "2025-06")


def test_the_daily_schedule_materializes_the_current_month():
    from dagster_project.schedules import daily_after_close

    when = dt.datetime(2025, 6, 4, 22, 30, tzinfo=dt.UTC)
    request = daily_after_close(dg.build_schedule_context(scheduled_execution_time=when))
    assert request.partition_key == "2025-06" and request.run_key == "daily-2025-06-04"


def test_reports_follow_the_data_through_the_sensor(lake_uri, instance):
    from dagster_project.schedules import reports_after_features

    assert _materialize(lake_uri, LAKE, instance, ["D05.SI"]).success
    context = dg.build_sensor_context(instance=instance, definitions=build_defs(lake_uri=lake_uri))
    requests = list(reports_after_features(context) or [])
    assert len(requests) == 1 and requests[0].job_name in (None, "reports_job")


def _cli(*args, env=None, timeout=120):
    return subprocess.run(
        [sys.executable, "-m", "tickerlake_cli.main", "run", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def test_cli_run_refuses_bad_input_in_one_line(tmp_path):
    lake = str(tmp_path / "lake")
    a_file = tmp_path / "file"
    a_file.write_text("x")
    bad_universe = tmp_path / "universe.csv"
    bad_universe.write_text("yahoo_symbol,name\nNVDA,Nvidia\nnot a ticker,x\n")
    for args, fragment in (
        (["--tickers", ""], "--tickers ''"),
        (["--tickers", " , "], "--tickers"),
        (["--tickers", "../x"], "../x"),
        (["--tickers", "DBS91"], "DBS19"),
        (["--start", "2025-13-40"], "2025-13-40"),
        (["--start", "2025-06-06", "--end", "2025-06-01"], "after"),
        (["--start", "2001-01-02"], "TICKERLAKE_PARTITIONS_START"),
        (["--source", "bogus"], "bogus"),
        (["--source", "dir:/nonexistent"], "/nonexistent"),
        (["--universe", str(bad_universe)], "line 3"),
        (["--universe", str(tmp_path / "missing.csv")], "missing.csv"),
    ):
        done = _cli("--lake", lake, *args)
        assert done.returncode == 2, (args, done.stderr)
        assert fragment in done.stderr and "Traceback" not in done.stderr, (args, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1, (args, done.stderr)
    done = _cli("--lake", str(a_file), "--tickers", "NVDA")
    assert done.returncode == 2 and "is a file" in done.stderr and "Traceback" not in done.stderr


def test_the_default_source_follows_the_deployment_and_sample_data_is_stored_as_sample(tmp_path):
    from tickerlake_cli.run_cmds import _check_source

    assert _check_source(None, "s3://bucket/prefix") == "yahoo"  # never synthetic bars in an S3 lake
    assert _check_source(None, str(tmp_path / "lake")) == "sample"
    assert _check_source("dir:" + str(tmp_path), "s3://bucket/prefix") == "dir:" + str(tmp_path)


def test_a_one_month_run_is_that_partition_so_checks_are_recorded_on_the_month(lake_uri, instance):
    local_defs = build_defs(lake_uri=lake_uri, source="sample")
    summary = run_lake(
        local_defs, ["D05.SI"], "2025-06-02", "2025-06-06", instance=instance, with_reports=False
    )
    assert summary.ok, summary.error
    assert instance.get_run_by_id(summary.run_id).tags.get("dagster/partition") == "2025-06"


def test_the_scope_refuses_a_ticker_outside_the_universe(lake_uri, instance):
    result = _materialize(lake_uri, ["raw_prices"], instance, ["O39.SI"])
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "O39.SI" in str(failure.step_failure_data.error) and "universe" in str(
        failure.step_failure_data.error
    )


@pytest.mark.slow  # the steps' retries wait out their backoff
def test_a_failed_run_reports_its_root_cause_not_the_retry_limit(tmp_path, instance):
    a_file = tmp_path / "not-a-lake"
    a_file.write_text("x")
    local_defs = build_defs(lake_uri=str(a_file / "lake"), source="sample")
    summary = run_lake(
        local_defs, ["D05.SI"], "2025-06-02", "2025-06-06", instance=instance, with_reports=False
    )
    assert not summary.ok and "max_retries" not in summary.error and summary.error


def test_the_schema_check_fails_naming_the_stored_rows_its_model_refuses(lake_uri, instance):
    assert _materialize(
        lake_uri, ["raw_prices", "prices", "indicators"], instance, ["D05.SI", "NVDA"]
    ).success
    lake = Lake.open(lake_uri)
    stored = lake.read_dataset("indicators", ["NVDA"], "2025-06-03", "2025-06-03")
    bad = stored.drop(columns=["computation_version", "computed_at", "run_id"]).assign(rsi_14=150.0)
    lake.write_month("indicators", MONTH, bad, run_id="hand-edit", computation_version="x")  # no model
    job = build_defs(lake_uri=lake_uri, source="sample").resolve_job_def("lake_job")
    key = dg.AssetCheckKey(dg.AssetKey("indicators"), "indicators_matches_schema")
    config = {"resources": {"scope": {"config": {"tickers": ["D05.SI", "NVDA"], **SCOPE_DAYS}}}}
    result = job.get_subset(asset_selection=set(), asset_check_selection={key}).execute_in_process(
        instance=instance, partition_key=MONTH, run_config=config, raise_on_error=False
    )
    [evaluation] = result.get_asset_check_evaluations()
    assert not evaluation.passed
    metadata = evaluation.metadata
    assert metadata["failing_rows"].value == ["NVDA|2025-06-03"]
    assert "rsi_14" in metadata["failure_cases"].value["NVDA|2025-06-03"]
    assert metadata["rows_checked"].value == len(lake.read_dataset("indicators"))  # every stored row read


def test_the_schema_check_validates_only_the_months_not_stamped_by_the_current_model(lake_uri, instance):
    """The stages stamp each month version they validated; the check trusts the stamp of the model as it
    is now and validates every other version's rows (an older model's stamp counts as none)."""
    assert _materialize(lake_uri, ["raw_prices", "prices"], instance, ["D05.SI", "NVDA"]).success
    lake = Lake.open(lake_uri)
    version = lake.month_version("prices", MONTH)
    assert version.schema_validated == schemas.fingerprint("prices")
    job = build_defs(lake_uri=lake_uri, source="sample").resolve_job_def("lake_job")
    key = dg.AssetCheckKey(dg.AssetKey("prices"), "prices_matches_schema")
    config = {"resources": {"scope": {"config": {"tickers": ["D05.SI", "NVDA"], **SCOPE_DAYS}}}}

    def check():
        result = job.get_subset(asset_selection=set(), asset_check_selection={key}).execute_in_process(
            instance=instance, partition_key=MONTH, run_config=config, raise_on_error=False
        )
        [evaluation] = result.get_asset_check_evaluations()
        return evaluation

    trusted = check()
    assert trusted.passed
    assert trusted.metadata["rows_checked"].value == 0
    assert trusted.metadata["rows_validated_when_written"].value > 0
    stored = lake.read_dataset("prices", ["NVDA"], "2025-06-03", "2025-06-03")
    again = stored.drop(columns=["computation_version", "computed_at", "run_id"])
    lake.write_month("prices", MONTH, again, run_id="old-model", computation_version="x", validated="0" * 16)
    revalidated = check()
    assert revalidated.passed and revalidated.metadata["months_validated_here"].value == 1
    assert revalidated.metadata["rows_checked"].value == trusted.metadata["rows_validated_when_written"].value
