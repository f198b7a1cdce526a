"""The hybrid report cache: SQLite L1 in front of an object-store L2 (the moto server), TTL and failures."""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3

import pytest

from lake.store import LocalStore, S3Store
from report_app.cache import (
    EXPIRES_AT,
    CacheEntry,
    ReportCache,
    SqliteTier,
    StoreTier,
    format_expiry,
)
from report_app.chart import render_chart, to_base64
from report_app.document import build_document
from tests.moto_server import MotoServer, free_port
from tests.report_factory import DATE, SYMBOL, make_report_data

REPORT_KEY = f"cache/reports/{SYMBOL}/{DATE}/report.json"
CHART_KEY = f"cache/reports/{SYMBOL}/{DATE}/chart.b64"

pytestmark = pytest.mark.s3


@pytest.fixture(scope="module")
def entry() -> CacheEntry:
    data = make_report_data()
    return CacheEntry(build_document(data), to_base64(render_chart(data.history, "DBS19")))


@pytest.fixture
def store(s3_bucket) -> S3Store:
    store = S3Store(f"s3://{s3_bucket}", max_attempts=2)
    store.client.create_bucket(Bucket=s3_bucket)
    return store


@pytest.fixture
def cache(tmp_path, store) -> ReportCache:
    return ReportCache.create("hybrid", sqlite_path=tmp_path / "l1.db", store=store, ttl_hours=24)


def test_miss_then_write_through_then_l1_hit(cache, store, entry, caplog):
    caplog.set_level(logging.INFO, logger="tickerlake.report_app.cache")
    assert cache.get(SYMBOL, DATE).tier == "miss"
    cache.put(SYMBOL, DATE, entry)

    lookup = cache.get(SYMBOL, DATE)
    assert lookup.tier == "l1"
    assert lookup.entry.document.to_dict() == entry.document.to_dict()
    assert lookup.entry.chart_png == entry.chart_png
    head = store.head(REPORT_KEY)  # written through to L2, with the TTL as metadata
    expires = dt.datetime.fromisoformat(head.metadata[EXPIRES_AT].replace("Z", "+00:00"))
    assert dt.timedelta(hours=23) < expires - dt.datetime.now(dt.UTC) <= dt.timedelta(hours=24)
    assert store.exists(CHART_KEY)
    lines = [(r.getMessage(), getattr(r, "tier", None), getattr(r, "key", None)) for r in caplog.records]
    assert ("cache miss", "miss", REPORT_KEY) in lines  # structured fields (extra=), not k=v text
    assert [r.reason for r in caplog.records if r.getMessage() == "cache miss"] == ["absent-or-expired"]
    assert ("cache hit", "l1", REPORT_KEY) in lines


def test_l1_wiped_is_an_l2_hit_that_backfills_l1(cache, entry, caplog):
    caplog.set_level(logging.INFO, logger="tickerlake.report_app.cache")
    cache.put(SYMBOL, DATE, entry)
    cache.l1.clear()

    assert cache.get(SYMBOL, DATE).tier == "l2"
    assert ("cache hit", "l2", REPORT_KEY) in [
        (r.getMessage(), getattr(r, "tier", None), getattr(r, "key", None)) for r in caplog.records
    ]
    again = cache.get(SYMBOL, DATE)
    assert again.tier == "l1"
    assert again.entry.chart_b64 == entry.chart_b64


def test_a_new_instance_with_an_empty_l1_finds_the_report_in_l2(tmp_path, store, entry):
    ReportCache.create("hybrid", sqlite_path=tmp_path / "a.db", store=store).put(SYMBOL, DATE, entry)
    other = ReportCache.create("hybrid", sqlite_path=tmp_path / "b.db", store=store)
    assert other.get(SYMBOL, DATE).tier == "l2"


def test_expired_entries_are_misses_in_both_tiers(cache, store, entry):
    cache.put(SYMBOL, DATE, entry)
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    cache.l1.put(REPORT_KEY, cache.l1.get(REPORT_KEY)[0], past)
    data = store.get(REPORT_KEY).data
    store.put(REPORT_KEY, data, metadata={EXPIRES_AT: format_expiry(past)})
    assert cache.get(SYMBOL, DATE).tier == "miss"


def test_an_l2_object_without_expiry_is_a_miss(cache, store, entry):
    cache.put(SYMBOL, DATE, entry)
    cache.l1.clear()
    store.put(REPORT_KEY, store.get(REPORT_KEY).data)  # no expires-at metadata
    assert cache.get(SYMBOL, DATE).tier == "miss"


@pytest.mark.parametrize("bad", [b"{not json", b'{"schema": 1, "symbol": "D05.SI"', b"", b"\xff\xfe"])
def test_corrupt_l2_entry_is_a_miss(cache, store, entry, bad):
    cache.put(SYMBOL, DATE, entry)
    cache.l1.clear()
    future = format_expiry(dt.datetime.now(dt.UTC) + dt.timedelta(hours=1))
    store.put(REPORT_KEY, bad, metadata={EXPIRES_AT: future})
    assert cache.get(SYMBOL, DATE).tier == "miss"


def test_corrupt_chart_makes_the_entry_a_miss(cache, store, entry):
    cache.put(SYMBOL, DATE, entry)
    cache.l1.clear()
    future = format_expiry(dt.datetime.now(dt.UTC) + dt.timedelta(hours=1))
    store.put(CHART_KEY, b"bm90IGEgcG5n", metadata={EXPIRES_AT: future})  # base64 of "not a png"
    assert cache.get(SYMBOL, DATE).tier == "miss"


def test_corrupt_l1_row_is_a_miss_and_falls_through_to_l2(cache, entry):
    cache.put(SYMBOL, DATE, entry)
    cache.l1.put(REPORT_KEY, '{"truncated": ', dt.datetime.now(dt.UTC) + dt.timedelta(hours=1))
    assert cache.get(SYMBOL, DATE).tier == "l2"


def test_a_damaged_sqlite_file_is_set_aside(tmp_path, entry):
    path = tmp_path / "l1.db"
    path.write_bytes(b"this is not a database" * 100)
    cache = ReportCache.create("sqlite", sqlite_path=path)
    assert cache.get(SYMBOL, DATE).tier == "miss"
    cache.put(SYMBOL, DATE, entry)
    assert cache.get(SYMBOL, DATE).tier == "l1"
    assert list(tmp_path.glob("l1.db.corrupt-*"))


def test_l1_uses_wal_and_an_expires_at_column(tmp_path):
    tier = SqliteTier(tmp_path / "l1.db")
    conn = sqlite3.connect(tmp_path / "l1.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    columns = {row[1] for row in conn.execute("PRAGMA table_info(report_cache)")}
    assert {"key", "value", "expires_at"} <= columns
    tier.close()


def test_backend_sqlite_never_touches_the_store(tmp_path, entry):
    cache = ReportCache.create("sqlite", sqlite_path=tmp_path / "l1.db")
    assert cache.l2 is None
    cache.put(SYMBOL, DATE, entry)
    assert cache.get(SYMBOL, DATE).tier == "l1"


def test_backend_s3_has_no_l1(store, entry):
    cache = ReportCache.create("s3", store=store)
    assert cache.l1 is None
    cache.put(SYMBOL, DATE, entry)
    assert cache.get(SYMBOL, DATE).tier == "l2"


def test_unknown_backend_is_refused(tmp_path):
    with pytest.raises(ValueError, match="CACHE_BACKEND"):
        ReportCache.create("redis", sqlite_path=tmp_path / "x.db")


def test_local_store_works_as_l2(tmp_path, entry):
    cache = ReportCache.create("s3", store=LocalStore(tmp_path / "lake"))
    cache.put(SYMBOL, DATE, entry)
    assert cache.get(SYMBOL, DATE).tier == "l2"


def test_store_on_a_closed_port_still_answers_from_l1_and_warns(tmp_path, entry, caplog):
    dead = S3Store("s3://gone", endpoint_url=f"http://127.0.0.1:{free_port()}", max_attempts=1)
    cache = ReportCache.create("hybrid", sqlite_path=tmp_path / "l1.db", store=dead)
    caplog.set_level(logging.INFO, logger="tickerlake.report_app.cache")

    assert cache.get(SYMBOL, DATE).tier == "miss"  # no crash
    cache.put(SYMBOL, DATE, entry)  # L1 still written
    assert cache.get(SYMBOL, DATE).tier == "l1"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("S3 is unreachable" in m for m in warnings)


def test_stopped_s3_server_after_a_write(tmp_path, entry, caplog, monkeypatch):
    server = MotoServer(free_port()).start()
    for name, value in server.env().items():  # credentials for this private server, whatever ran before
        monkeypatch.setenv(name, value)
    try:
        store = S3Store("s3://soon-gone", endpoint_url=server.endpoint, max_attempts=1)
        store.client.create_bucket(Bucket="soon-gone")
        cache = ReportCache.create("hybrid", sqlite_path=tmp_path / "l1.db", store=store)
        cache.put(SYMBOL, DATE, entry)
    finally:
        server.stop()
    caplog.set_level(logging.WARNING, logger="tickerlake.report_app.cache")
    cache.l1.clear()
    assert cache.get(SYMBOL, DATE).tier == "miss"
    assert any("S3 is unreachable" in r.getMessage() for r in caplog.records)
    # While the store is marked down, lookups skip it instead of waiting for it again.
    assert cache._l2_available() is False


def test_store_tier_passes_through_absent_keys(store):
    assert StoreTier(store).get(REPORT_KEY) is None
