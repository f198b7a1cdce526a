"""Cache metrics from the event log, what the service records, and `tickerlake cache stats`."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from typer.testing import CliRunner

from lake.api import Lake
from lake.store import LocalStore
from report_app.cache import ReportCache
from report_app.cache_events import CacheEvent, CacheEventLog, events_frame, read_cache_events
from report_app.cache_stats import compute_cache_stats, load_cache_stats
from report_app.service import ReportService
from tests.cache_ops_fixtures import sample_lake
from tickerlake_cli.main import app as cli

T0 = dt.datetime(2025, 11, 10, 8, 0, tzinfo=dt.UTC)


def ev(hours: float, ticker: str, tier: str, lookup_ms: float, generate_ms: float | None = None, **kw):
    return CacheEvent(
        ts=T0 + dt.timedelta(hours=hours),
        ticker=ticker,
        date="2025-11-10",
        lang="th",
        tier=tier,
        lookup_ms=lookup_ms,
        generate_ms=generate_ms,
        **kw,
    )


# day 1 (2025-11-10): A miss, A l1, A l1, B l2; day 2: B miss (error), A l1; plus one pre-warm miss on day 2
EVENTS = [
    ev(0, "AAA", "miss", 2.0, 998.0),
    ev(1, "AAA", "l1", 1.0),
    ev(2, "AAA", "l1", 3.0),
    ev(3, "BBB", "l2", 40.0),
    ev(24, "BBB", "miss", 5.0, None, error="ReportDataNotFound"),
    ev(25, "AAA", "l1", 2.0),
    ev(26, "CCC", "miss", 1.0, 2000.0, origin="prewarm"),
]


@pytest.fixture
def stats():
    return compute_cache_stats(events_frame(EVENTS), start="2025-11-09", end="2025-11-11")


def tier(stats, name):
    return next(row for row in stats.by_tier if row["tier"] == name)


def test_hit_ratio_counts_l1_and_l2_over_user_lookups(stats):
    assert stats.requests == 6  # the pre-warm lookup is left out
    assert stats.hits == 4
    assert stats.hit_ratio == pytest.approx(4 / 6)


def test_share_by_tier(stats):
    assert tier(stats, "l1")["share"] == pytest.approx(0.5)
    assert tier(stats, "l2")["share"] == pytest.approx(1 / 6, abs=1e-4)
    assert tier(stats, "miss")["requests"] == 2


def test_latency_percentiles_per_tier(stats):
    l1 = tier(stats, "l1")
    assert l1["p50_ms"] == pytest.approx(2.0)
    assert l1["p95_ms"] == pytest.approx(2.9)  # linear interpolation over 1, 2, 3
    assert tier(stats, "miss")["p95_ms"] == pytest.approx(
        5.0 + (1000.0 - 5.0) * 0.95
    )  # latency = lookup + generate


def test_every_day_of_the_window_has_a_row(stats):
    days = {row["day"]: row for row in stats.by_day}
    assert list(days) == ["2025-11-09", "2025-11-10", "2025-11-11"]
    assert days["2025-11-09"]["requests"] == 0 and days["2025-11-09"]["hit_ratio"] is None
    assert days["2025-11-10"]["hit_ratio"] == pytest.approx(0.75)
    assert (days["2025-11-11"]["l1"], days["2025-11-11"]["miss"]) == (1, 1)


def test_by_ticker_busiest_first_with_its_hit_ratio(stats):
    assert [row["ticker"] for row in stats.by_ticker] == ["AAA", "BBB"]
    assert stats.by_ticker[0]["hit_ratio"] == pytest.approx(0.75)
    assert stats.errors == 1


def test_prewarm_lookups_count_when_asked():
    stats = compute_cache_stats(
        events_frame(EVENTS), start="2025-11-10", end="2025-11-11", include_prewarm=True
    )
    assert stats.requests == 7 and "CCC" in [row["ticker"] for row in stats.by_ticker]


def test_events_outside_the_window_are_ignored():
    stats = compute_cache_stats(events_frame(EVENTS), start="2025-11-11", end="2025-11-11")
    assert stats.requests == 2


# ------------------------------------------------------------------------------------ the service records


@pytest.fixture(scope="module")
def lake_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("lake")
    sample_lake(root, report_days=1)
    return root


@pytest.fixture
def service(lake_dir, tmp_path):
    lake = Lake(LocalStore(lake_dir))
    cache = ReportCache.create("hybrid", sqlite_path=tmp_path / "l1.db", store=LocalStore(tmp_path / "cache"))
    events = CacheEventLog(LocalStore(tmp_path / "events"), background=False)
    return ReportService(lake, cache, None, events=events)


def test_service_records_a_miss_then_hits_with_generation_time_and_ttl(service):
    service.report("DBS19", lang="en")
    service.report("DBS19", lang="th")
    service.cache.l1.clear()
    service.report("D05.SI", lang="en")
    service.close()

    frame = read_cache_events(service.events.store)
    assert list(frame["tier"]) == ["miss", "l1", "l2"]
    assert list(frame["lang"]) == ["en", "th", "en"]
    assert set(frame["ticker"]) == {"D05.SI"}
    miss, hit = frame.iloc[0], frame.iloc[1]
    assert miss["generate_ms"] > 0 and miss["ttl_hours"] == 24.0 and miss["reason"] == "absent-or-expired"
    assert pd_isna(hit["generate_ms"]) and pd_isna(hit["ttl_hours"])
    assert hit["lookup_ms"] >= 0 and (frame["backend"] == "hybrid").all()


def test_a_failed_generation_is_recorded_with_its_error(service):
    with pytest.raises(Exception, match="percentiles"):
        service.report("DBS19", date="2025-11-10")  # indicators only: no percentiles that day
    service.close()
    row = read_cache_events(service.events.store).iloc[0]
    assert (row["tier"], row["error"]) == ("miss", "ReportDataNotFound")


def pd_isna(value) -> bool:
    import pandas as pd

    return bool(pd.isna(value))


def test_from_settings_records_into_the_lake(lake_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("TICKERLAKE_LAKE_URI", str(lake_dir))
    monkeypatch.setenv("CACHE_SQLITE_PATH", str(tmp_path / "c.db"))
    service = ReportService.from_settings()
    assert service.events is not None and service.events.store.uri == service.lake.store.uri


# ------------------------------------------------------------------------------------------------ CLI


def run(*args):
    return CliRunner().invoke(cli, list(args))


@pytest.fixture
def logged_lake(tmp_path):
    store = LocalStore(tmp_path / "lake")
    log = CacheEventLog(store, background=False)
    for event in EVENTS:
        log.record(event)
    log.flush()
    return tmp_path / "lake"


def test_cli_stats_json(logged_lake):
    result = run(
        "cache",
        "stats",
        "--lake",
        str(logged_lake),
        "--days",
        "2",
        "--today",
        "2025-11-11",
        "--format",
        "json",
    )
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert (body["start"], body["end"], body["requests"]) == ("2025-11-10", "2025-11-11", 6)
    assert body["hit_ratio"] == pytest.approx(0.6667)
    assert [row["tier"] for row in body["by_tier"]] == ["l1", "l2", "miss"]


def test_cli_stats_table_shows_the_tiers_and_tickers(logged_lake):
    result = run("cache", "stats", "--lake", str(logged_lake), "--days", "2", "--today", "2025-11-11")
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())  # rich wraps at the terminal width
    assert "hit ratio 66.7%" in text
    assert "by tier" in text and "AAA" in text and "2025-11-10" in text


def test_cli_stats_on_an_empty_log_says_so(tmp_path):
    result = run("cache", "stats", "--lake", str(tmp_path / "empty"))
    assert result.exit_code == 0 and "no cache events" in result.output


def test_cli_stats_refuses_a_bad_format(logged_lake):
    result = run("cache", "stats", "--lake", str(logged_lake), "--format", "xml")
    assert result.exit_code == 2 and "--format" in result.output


def test_cli_stats_refuses_zero_days(logged_lake):
    result = run("cache", "stats", "--lake", str(logged_lake), "--days", "0")
    assert result.exit_code == 2 and "--days" in result.output


def test_load_cache_stats_reads_the_window_from_the_lake(logged_lake):
    stats = load_cache_stats(LocalStore(logged_lake), days=1, today="2025-11-10")
    assert stats.requests == 4
