"""Adaptive TTL: the rule, its bounds, its use by ReportCache, and a replayed request log versus fixed TTLs."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from lake import layout
from lake.store import LocalStore
from report_app.cache import EXPIRES_AT, CacheEntry, ReportCache
from report_app.cache_events import CacheEvent, CacheEventLog, events_frame
from report_app.document import build_document
from report_app.ttl import (
    AdaptiveTtl,
    TickerActivity,
    TtlConfig,
    adaptive_ttl_hours,
    compute_ticker_activity,
    load_ticker_activity,
    publish_ticker_activity,
    replay,
)
from tests.report_factory import DATE, SYMBOL, make_report_data
from tickerlake_cli.main import app as cli

CONFIG = TtlConfig(base_hours=24, min_hours=6, max_hours=72, adaptive=True)

# ------------------------------------------------------------------------------------------ the rule


def test_a_ticker_of_typical_popularity_keeps_the_base_ttl():
    assert adaptive_ttl_hours(10.0, 10.0, base=24, low=6, high=72) == 24


def test_four_times_the_requests_halves_the_ttl():
    assert adaptive_ttl_hours(40.0, 10.0, base=24, low=6, high=72) == pytest.approx(12)


def test_the_ttl_stays_within_the_bounds():
    assert adaptive_ttl_hours(10_000.0, 1.0, base=24, low=6, high=72) == 6
    assert adaptive_ttl_hours(0.001, 1.0, base=24, low=6, high=72) == 72


def test_a_ticker_nobody_asked_for_gets_the_maximum():
    assert adaptive_ttl_hours(0.0, 5.0, base=24, low=6, high=72) == 72


def test_without_activity_data_every_ticker_gets_the_base():
    assert AdaptiveTtl(CONFIG, None)("D05.SI") == 24
    assert AdaptiveTtl(CONFIG, TickerActivity("2025-11-01", "2025-11-07", {}))("D05.SI") == 24


def test_the_reference_is_the_median_rate_of_the_requested_tickers():
    activity = TickerActivity("2025-11-01", "2025-11-07", {"A": 1.0, "B": 4.0, "C": 16.0, "D": 0.0})
    assert activity.reference_rate == 4.0
    policy = AdaptiveTtl(CONFIG, activity)
    assert (policy("A"), policy("B"), policy("C"), policy("D")) == (48, 24, 12, 72)


def test_bounds_must_surround_the_base_when_adaptive(monkeypatch):
    with pytest.raises(ValueError, match="CACHE_TTL_MIN_HOURS <= CACHE_TTL_HOURS <= CACHE_TTL_MAX_HOURS"):
        TtlConfig(base_hours=100, min_hours=6, max_hours=72, adaptive=True)
    TtlConfig(base_hours=100, min_hours=6, max_hours=72, adaptive=False)  # unused bounds are not checked


def test_config_from_the_environment(monkeypatch):
    monkeypatch.setenv("CACHE_TTL_ADAPTIVE", "1")
    monkeypatch.setenv("CACHE_TTL_HOURS", "12")
    monkeypatch.setenv("CACHE_TTL_MIN_HOURS", "2")
    monkeypatch.setenv("CACHE_TTL_MAX_HOURS", "48")
    assert TtlConfig.from_env() == TtlConfig(12, 2, 48, True, 7)
    monkeypatch.setenv("CACHE_TTL_MAX_HOURS", "lots")
    with pytest.raises(ValueError, match="CACHE_TTL_MAX_HOURS must be a number"):
        TtlConfig.from_env()


def test_adaptive_ttl_is_off_by_default(monkeypatch):
    monkeypatch.delenv("CACHE_TTL_ADAPTIVE", raising=False)
    assert TtlConfig.from_env().adaptive is False


# ------------------------------------------------------------------------------------------ activity


def test_activity_counts_user_requests_per_day_only():
    t = dt.datetime(2025, 11, 3, 9, tzinfo=dt.UTC)
    events = events_frame(
        [CacheEvent(t, "AAA", DATE, "th", "l1", 1.0)] * 4
        + [CacheEvent(t, "BBB", DATE, "th", "miss", 1.0, origin="prewarm")]
    )
    activity = compute_ticker_activity(events, start="2025-11-03", end="2025-11-04")
    assert activity.rates == {"AAA": 2.0}


def test_published_activity_reads_back(tmp_path):
    store = LocalStore(tmp_path / "lake")
    log = CacheEventLog(store, background=False)
    log.record(CacheEvent(dt.datetime(2025, 11, 7, tzinfo=dt.UTC), "D05.SI", DATE, "th", "l1", 1.0))
    log.flush()
    published = publish_ticker_activity(store, days=7, today="2025-11-07")
    assert store.exists(layout.cache_activity_key())
    assert load_ticker_activity(store).rates == published.rates == {"D05.SI": 1 / 7}


def test_unreadable_activity_is_a_clear_error(tmp_path):
    store = LocalStore(tmp_path / "lake")
    store.put(layout.cache_activity_key(), b'{"rates": {"../x": 1}}')
    with pytest.raises(ValueError, match="not readable ticker activity"):
        load_ticker_activity(store)


def test_a_failing_reload_keeps_the_previous_rates():
    activity = TickerActivity("2025-11-01", "2025-11-07", {"A": 1.0, "B": 4.0, "C": 16.0})
    answers = iter([activity])

    def loader():
        try:
            return next(answers)
        except StopIteration:
            raise ConnectionError("S3 down") from None

    policy = AdaptiveTtl(CONFIG, loader=loader, refresh_seconds=0)
    assert policy("C") == 12
    assert policy("C") == 12  # reload failed: same rates


# ------------------------------------------------------------------------------------------ the cache


@pytest.fixture(scope="module")
def entry() -> CacheEntry:
    return CacheEntry(build_document(make_report_data()))


def expiry_hours(store, key: str) -> float:
    expires = dt.datetime.fromisoformat(store.head(key).metadata[EXPIRES_AT].replace("Z", "+00:00"))
    return (expires - dt.datetime.now(dt.UTC)).total_seconds() / 3600


def test_the_cache_writes_entries_with_the_policy_ttl(tmp_path, entry):
    store = LocalStore(tmp_path / "cache")
    policy = AdaptiveTtl(
        CONFIG, TickerActivity("2025-11-01", "2025-11-07", {SYMBOL: 64.0, "O39.SI": 4.0, "Z74.SI": 1.0})
    )
    cache = ReportCache.create("hybrid", sqlite_path=tmp_path / "l1.db", store=store, ttl_policy=policy)
    cache.put(SYMBOL, DATE, entry)
    hours = expiry_hours(store, layout.cache_key(SYMBOL, DATE, "report.json"))
    assert 5.9 < hours <= 6.0  # 16x the median rate: 24 / 4 = 6 h


def test_the_cache_without_a_policy_keeps_cache_ttl_hours(tmp_path, entry):
    store = LocalStore(tmp_path / "cache")
    cache = ReportCache.create("s3", store=store, ttl_hours=24)
    cache.put(SYMBOL, DATE, entry)
    assert 23.9 < expiry_hours(store, layout.cache_key(SYMBOL, DATE, "report.json")) <= 24.0


def test_a_failing_policy_falls_back_to_the_fixed_ttl(tmp_path):
    def broken(symbol):
        raise RuntimeError("boom")

    cache = ReportCache.create("sqlite", sqlite_path=tmp_path / "l1.db", ttl_hours=24, ttl_policy=broken)
    assert cache.ttl_for(SYMBOL) == dt.timedelta(hours=24)


def test_from_settings_turns_the_policy_on_with_cache_ttl_adaptive(tmp_path, monkeypatch):
    from report_app.service import ReportService

    monkeypatch.setenv("TICKERLAKE_LAKE_URI", str(tmp_path / "lake"))
    assert ReportService.from_settings().cache.ttl_policy is None
    monkeypatch.setenv("CACHE_TTL_ADAPTIVE", "1")
    assert isinstance(ReportService.from_settings().cache.ttl_policy, AdaptiveTtl)


# ------------------------------------------------------------------------------------------ replay

START = dt.datetime(2025, 11, 3, tzinfo=dt.UTC)  # a Monday
TICKERS = [f"T{i:02d}" for i in range(20)]


def latest_report_date(ts: dt.datetime) -> str:
    """The date users get at `ts`: the last weekday whose data had landed (10:00 UTC)."""
    day = ts.date()
    while day.weekday() >= 5 or dt.datetime.combine(day, dt.time(10), tzinfo=dt.UTC) > ts:
        day -= dt.timedelta(days=1)
    return day.isoformat()


def request_log(days: int, *, per_day: int = 600, seed: int = 1) -> list[tuple[dt.datetime, str, str]]:
    """Deterministic synthetic traffic: Zipf-like popularity over 20 tickers, requests uniform over the day."""
    rng = np.random.default_rng(seed)
    weights = np.array([1 / (i + 1) ** 1.2 for i in range(len(TICKERS))])
    weights /= weights.sum()
    requests = []
    for day in range(days):
        count = rng.poisson(per_day)
        seconds = np.sort(rng.uniform(0, 86400, count))
        who = rng.choice(len(TICKERS), count, p=weights)
        for second, index in zip(seconds, who, strict=True):
            ts = START + dt.timedelta(days=day, seconds=float(second))
            requests.append((ts, TICKERS[index], latest_report_date(ts)))
    return requests


def data_updates(days: int, *, seed: int = 2) -> dict[tuple[str, str], list[dt.datetime]]:
    """Half the (ticker, date) rows are corrected 1-12 h after they landed (reprocessing)."""
    rng = np.random.default_rng(seed)
    updates = {}
    for offset in range(-3, days):
        day = (START + dt.timedelta(days=offset)).date()
        if day.weekday() >= 5:
            continue
        landed = dt.datetime.combine(day, dt.time(10), tzinfo=dt.UTC)
        for ticker in TICKERS:
            if rng.random() < 0.5:
                updates[(ticker, day.isoformat())] = [landed + dt.timedelta(hours=float(rng.uniform(1, 12)))]
    return updates


@pytest.fixture(scope="module")
def traffic():
    """Week 1 trains the policy (its event log), week 2 is replayed."""
    requests = request_log(14)
    split = START + dt.timedelta(days=7)
    week1 = [r for r in requests if r[0] < split]
    week2 = [r for r in requests if r[0] >= split] + [(split + dt.timedelta(hours=30), "NEW", "2025-11-11")]
    events = events_frame([CacheEvent(ts, ticker, date, "th", "l1", 1.0) for ts, ticker, date in week1])
    activity = compute_ticker_activity(events, start="2025-11-03", end="2025-11-09")
    return week2, AdaptiveTtl(CONFIG, activity), data_updates(14)


def test_replay_counts_hits_misses_and_stale_answers():
    t = START
    updates = {("A", "d1"): [t + dt.timedelta(hours=2)]}
    requests = [
        (t, "A", "d1"),
        (t + dt.timedelta(hours=1), "A", "d1"),
        (t + dt.timedelta(hours=3), "A", "d1"),
    ]
    result = replay(requests, lambda ticker: 24, updates=updates)
    assert (result.misses, result.hits, result.stale) == (1, 2, 1)
    assert replay(requests, lambda ticker: 0.5).misses == 3  # expired between requests


def test_replayed_ttls_respect_the_bounds_and_reach_both(traffic):
    week2, policy, updates = traffic
    ttls = replay(week2, policy, updates=updates).ttls_hours
    assert min(ttls) == 6 and max(ttls) == 72  # the busiest ticker / a ticker nobody asked for last week
    assert all(6 <= hours <= 72 for hours in ttls)


def test_adaptive_ttl_serves_far_fewer_stale_answers_than_the_fixed_base_for_a_small_hit_ratio_cost(traffic):
    week2, policy, updates = traffic
    fixed = replay(week2, lambda ticker: CONFIG.base_hours, updates=updates)
    adaptive = replay(week2, policy, updates=updates)
    assert adaptive.stale_ratio < 0.5 * fixed.stale_ratio
    assert adaptive.hit_ratio > fixed.hit_ratio - 0.02
    assert adaptive.mean_age_hours < fixed.mean_age_hours


def test_no_fixed_ttl_matches_the_adaptive_hit_ratio_with_as_few_stale_answers(traffic):
    week2, policy, updates = traffic
    adaptive = replay(week2, policy, updates=updates)
    for half_hours in range(2, 145):  # 1 h to 72 h in 30-minute steps
        fixed = replay(week2, lambda ticker, h=half_hours / 2: h, updates=updates)
        if fixed.hit_ratio >= adaptive.hit_ratio:
            assert fixed.stale_ratio > 1.5 * adaptive.stale_ratio, half_hours / 2


def test_uniform_traffic_makes_the_adaptive_ttl_the_fixed_one():
    activity = TickerActivity("2025-11-03", "2025-11-09", dict.fromkeys(TICKERS, 30.0))
    policy = AdaptiveTtl(CONFIG, activity)
    assert {policy(ticker) for ticker in TICKERS} == {24}


# ------------------------------------------------------------------------------------------ CLI


def test_cli_ttl_shows_each_tickers_ttl_and_the_replay(tmp_path):
    store = LocalStore(tmp_path / "lake")
    log = CacheEventLog(store, background=False)
    t = dt.datetime(2025, 11, 7, 9, tzinfo=dt.UTC)
    for i in range(16):
        log.record(CacheEvent(t + dt.timedelta(minutes=i), "D05.SI", DATE, "th", "l1", 1.0))
    log.record(CacheEvent(t, "O39.SI", DATE, "th", "miss", 1.0, generate_ms=5.0))
    log.flush()
    result = CliRunner().invoke(
        cli,
        [
            "cache",
            "ttl",
            "--lake",
            str(tmp_path / "lake"),
            "--today",
            "2025-11-07",
            "--format",
            "json",
            "--publish",
        ],
    )
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    ttl = {row["ticker"]: row["ttl_hours"] for row in body["tickers"]}
    assert ttl["D05.SI"] < 24 < ttl["O39.SI"]
    assert body["replay"]["fixed"]["requests"] == 17
    assert store.exists(layout.cache_activity_key())
