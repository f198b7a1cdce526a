"""The cache event log: events buffered, flushed as Parquet under ops/cache_events/day=<D>/, read back."""

from __future__ import annotations

import datetime as dt
import importlib
import logging

import pyarrow.parquet as pq
import pytest

from lake import layout
from lake.store import LocalStore, S3Store
from report_app.cache_events import CacheEvent, CacheEventLog, flush_all, read_cache_events

DAY1 = dt.datetime(2025, 11, 11, 9, 30, tzinfo=dt.UTC)
DAY2 = dt.datetime(2025, 11, 12, 1, 0, tzinfo=dt.UTC)


def event(ts=DAY1, ticker="D05.SI", tier="l1", **kw) -> CacheEvent:
    return CacheEvent(ts=ts, ticker=ticker, date="2025-11-11", lang="th", tier=tier, lookup_ms=1.5, **kw)


class CountingStore(LocalStore):
    def __init__(self, root, fail: int = 0):
        super().__init__(root)
        self.puts: list[str] = []
        self.fail = fail

    def put(self, key, data, **kw):
        if self.fail:
            self.fail -= 1
            raise ConnectionError("store down")
        self.puts.append(key)
        return super().put(key, data, **kw)


@pytest.fixture
def store(tmp_path) -> CountingStore:
    return CountingStore(tmp_path / "lake")


def test_events_key_is_built_in_the_layout_with_a_day_partition():
    key = layout.cache_events_key("2025-11-11", "20251111T093000123456Z-0a1b2c3d")
    assert key == "ops/cache_events/day=2025-11-11/20251111T093000123456Z-0a1b2c3d.parquet"
    assert layout.cache_events_day(key) == "2025-11-11"


@pytest.mark.parametrize("token", ["../x", "20251111T093000123456Z", "20251111T093000123456Z-XYZ", ""])
def test_events_key_refuses_a_hostile_or_malformed_token(token):
    with pytest.raises(ValueError, match="token"):
        layout.cache_events_key("2025-11-11", token)


def test_an_event_needs_an_aware_timestamp_and_a_known_tier():
    with pytest.raises(ValueError, match="timezone-aware"):
        event(ts=dt.datetime(2025, 11, 11, 9, 30))
    with pytest.raises(ValueError, match="tier"):
        event(tier="l3")


def test_recording_writes_nothing_until_the_flush(store):
    log = CacheEventLog(store, background=False)
    for _ in range(5):
        log.record(event())
    assert store.puts == [] and log.pending == 5


def test_a_flush_writes_one_parquet_object_per_utc_day(store):
    log = CacheEventLog(store, background=False)
    log.record(event(DAY1))
    log.record(event(DAY1 + dt.timedelta(minutes=1), tier="miss", generate_ms=900.0, ttl_hours=24.0))
    log.record(event(DAY2, tier="l2"))

    keys = log.flush()

    assert [layout.cache_events_day(k) for k in keys] == ["2025-11-11", "2025-11-12"]
    assert log.pending == 0
    table = pq.read_table(store.root / keys[0])
    assert table.num_rows == 2
    assert str(table.schema.field("ts").type) == "timestamp[us, tz=UTC]"


def test_events_read_back_with_every_column_and_the_latency_of_a_miss(store):
    log = CacheEventLog(store, background=False)
    log.record(event(tier="miss", generate_ms=900.0, ttl_hours=12.0, reason="absent", origin="prewarm"))
    log.flush()

    row = read_cache_events(store).iloc[0]
    assert (row["ticker"], row["date"], row["lang"], row["tier"]) == ("D05.SI", "2025-11-11", "th", "miss")
    assert row["latency_ms"] == pytest.approx(901.5)
    assert (row["ttl_hours"], row["reason"], row["origin"], row["backend"]) == (
        12.0,
        "absent",
        "prewarm",
        "hybrid",
    )
    assert row["ts"] == DAY1


def test_reading_a_day_range_only_reads_those_days(store):
    log = CacheEventLog(store, background=False)
    log.record(event(DAY1))
    log.record(event(DAY2))
    log.flush()

    assert len(read_cache_events(store, start="2025-11-12", end="2025-11-12")) == 1
    assert read_cache_events(store, start="2025-11-13").empty


def test_an_empty_log_reads_as_an_empty_frame_with_the_columns(store):
    frame = read_cache_events(store)
    assert frame.empty and {"ts", "ticker", "tier", "latency_ms"} <= set(frame.columns)


def test_a_full_buffer_flushes_by_itself(store):
    log = CacheEventLog(store, flush_every=3, max_age_seconds=3600, background=False)
    for _ in range(3):
        log.record(event())
    assert len(store.puts) == 1 and log.pending == 0


def test_the_size_triggered_flush_runs_in_the_background(store):
    log = CacheEventLog(store, flush_every=2, max_age_seconds=3600, background=True)
    log.record(event())
    log.record(event())
    log.close()  # waits for a flush in progress, then writes what is left
    assert len(read_cache_events(store)) == 2


def test_an_unwritable_store_keeps_the_events_for_the_next_flush(tmp_path, caplog):
    store = CountingStore(tmp_path / "lake", fail=1)
    log = CacheEventLog(store, background=False)
    log.record(event())

    with caplog.at_level(logging.WARNING, logger="tickerlake.report_app.cache_events"):
        assert log.flush() == []
    assert log.pending == 1
    assert "cache events not written" in caplog.text

    assert len(log.flush()) == 1
    assert len(read_cache_events(store)) == 1


def test_the_buffer_is_bounded_and_drops_the_oldest(tmp_path):
    store = CountingStore(tmp_path / "lake", fail=100)
    log = CacheEventLog(store, flush_every=1000, max_age_seconds=3600, max_buffer=1000, background=False)
    for i in range(1005):
        log.record(event(DAY1 + dt.timedelta(seconds=i)))
    assert log.pending == 1000 and log.dropped == 5


def test_cache_events_off_means_no_log(monkeypatch, store):
    monkeypatch.setenv("CACHE_EVENTS", "0")
    assert CacheEventLog.from_env(store) is None
    monkeypatch.setenv("CACHE_EVENTS", "maybe")
    with pytest.raises(ValueError, match="CACHE_EVENTS"):
        CacheEventLog.from_env(store)


def test_flush_all_writes_every_live_log(store, tmp_path):
    other = CountingStore(tmp_path / "other")
    first, second = CacheEventLog(store, background=False), CacheEventLog(other, background=False)
    first.record(event())
    second.record(event())
    flush_all()
    assert first.pending == second.pending == 0
    assert len(store.puts) == len(other.puts) == 1


@pytest.mark.s3
def test_events_flushed_to_s3_read_back_through_the_arrow_filesystem(s3_bucket):
    store = S3Store(f"s3://{s3_bucket}/lake", max_attempts=2)
    store.client.create_bucket(Bucket=s3_bucket)
    log = CacheEventLog(store, background=False)
    log.record(event(DAY1))
    log.record(event(DAY2, tier="miss", generate_ms=10.0))
    (first, second) = log.flush()

    assert store.head(first).metadata["events"] == "1"
    frame = read_cache_events(store, start="2025-11-12")
    assert list(frame["tier"]) == ["miss"]


def test_lambda_invocation_end_flushes_the_buffered_events(store, monkeypatch):
    from report_app import lambda_handler
    from report_app.line_bot import Response

    log = CacheEventLog(store, background=False)

    class App:
        def handle(self, method, path, headers, body):
            log.record(event())
            return Response.text(200, "OK")

    monkeypatch.setattr(lambda_handler, "_app", App())
    answer = lambda_handler.handler({"httpMethod": "POST", "path": "/callback", "body": "{}"})
    assert answer["statusCode"] == 200
    assert log.pending == 0 and len(store.puts) == 1


def test_lambda_cold_start_loads_nothing_without_dependencies_bucket(monkeypatch):
    from report_app import dependency_loader

    calls = []
    monkeypatch.delenv("DEPENDENCIES_BUCKET", raising=False)
    monkeypatch.setattr(dependency_loader, "load_configured_dependencies", lambda **kw: calls.append(kw))
    import report_app.lambda_handler as handler_module

    importlib.reload(handler_module)
    assert calls == []
    assert handler_module.load_dependencies_at_cold_start() is False


def test_lambda_cold_start_loads_the_bundle_when_dependencies_bucket_is_set(monkeypatch, tmp_path):
    from report_app import dependency_loader

    calls = []
    monkeypatch.setenv("DEPENDENCIES_BUCKET", "deploy-bucket")
    monkeypatch.setattr(
        dependency_loader, "load_configured_dependencies", lambda **kw: calls.append(kw) or tmp_path
    )
    import report_app.lambda_handler as handler_module

    try:
        importlib.reload(handler_module)  # module import = cold start
        assert len(calls) == 1
    finally:
        monkeypatch.delenv("DEPENDENCIES_BUCKET")
        importlib.reload(handler_module)
