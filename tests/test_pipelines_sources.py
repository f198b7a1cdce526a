"""The offline sample source, trading calendars and the source registry."""

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

import schemas
from lake.exceptions import InvalidTicker
from pipelines.parsing import parse_fetch
from pipelines.sources import (
    DirectorySource,
    SampleSource,
    YahooSource,
    envelope_bytes,
    get_source,
    load_universe,
    trading_days,
)
from pipelines.sources.calendars import exchange_for
from pipelines.sources.sample import MISSING_DAY_RATE

NOW = dt.datetime(2026, 6, 30, 12, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def sample():
    return SampleSource(clock=lambda: NOW)


def _bars(source, symbol, start, end):
    """Date -> history row of one fetch (which is one envelope holding every bar, or none)."""
    envelopes = source.fetch(symbol, start, end)
    assert len(envelopes) <= 1
    return {row["date"]: row for e in envelopes for row in e["payload"]["history"]}


# -- calendars -----------------------------------------------------------------------------------------


def test_us_calendar_skips_weekends_and_christmas():
    days = trading_days("NVDA", "2025-12-20", "2025-12-31")
    assert dt.date(2025, 12, 25) not in days
    assert all(d.weekday() < 5 for d in days)
    assert days == [dt.date(2025, 12, d) for d in (22, 23, 24, 26, 29, 30, 31)]


def test_sgx_calendar_skips_chinese_new_year():
    days = trading_days("D05.SI", "2025-01-27", "2025-02-03")
    assert days == [dt.date(2025, 1, 27), dt.date(2025, 1, 28), dt.date(2025, 1, 31), dt.date(2025, 2, 3)]


def test_dr_symbol_trades_on_its_underlying_market():
    assert trading_days("DBS19", "2025-01-29", "2025-01-30") == []  # SGX closed, NYSE open


def test_market_without_a_calendar_uses_weekdays():
    assert exchange_for("VNM.VN").calendar is None
    assert len(trading_days("VNM.VN", "2025-01-27", "2025-02-02")) == 5


def test_unknown_suffix_is_refused():
    with pytest.raises(ValueError, match=r"unknown market suffix 'XX'"):
        trading_days("ABC.XX", "2025-01-01", "2025-01-31")


def test_reversed_range_is_refused():
    with pytest.raises(ValueError, match="start 2025-02-01 is after end 2025-01-01"):
        trading_days("NVDA", "2025-02-01", "2025-01-01")


# -- sample source -------------------------------------------------------------------------------------


def test_sample_value_does_not_depend_on_the_range(sample):
    wide = _bars(sample, "D05.SI", "2024-01-01", "2025-12-31")
    narrow = _bars(sample, "D05.SI", "2025-03-03", "2025-03-07")
    assert narrow
    assert {d: wide[d] for d in narrow} == narrow


def test_sample_is_deterministic_across_instances():
    first = SampleSource(clock=lambda: NOW).fetch("0700.HK", "2025-01-02", "2025-01-10")
    second = SampleSource(clock=lambda: NOW).fetch("0700.HK", "2025-01-02", "2025-01-10")
    assert first == second


def test_sample_dr_and_yahoo_symbols_give_the_same_bars(sample):
    assert _bars(sample, "DBS19", "2025-03-03", "2025-03-07") == _bars(
        sample, "D05.SI", "2025-03-03", "2025-03-07"
    )


def test_sample_bars_fall_on_trading_days_only(sample):
    bars = _bars(sample, "NVDA", "2025-01-01", "2025-12-31")
    sessions = {d.isoformat() for d in trading_days("NVDA", "2025-01-01", "2025-12-31")}
    assert set(bars) <= sessions
    assert "2025-12-25" not in bars and "2025-07-04" not in bars
    assert all(dt.date.fromisoformat(d).weekday() < 5 for d in bars)


def test_sample_sgx_holiday_has_no_bar(sample):
    assert not set(_bars(sample, "D05.SI", "2025-01-29", "2025-01-30"))


def test_sample_misses_a_small_deterministic_share_of_trading_days(sample):
    symbols = [listing.yahoo_symbol for listing in load_universe()][:20]
    expected = missing = 0
    for symbol in symbols:
        sessions = trading_days(symbol, "2015-01-01", "2025-12-31")
        bars = sample.history(symbol, "2015-01-01", "2025-12-31")
        expected += len(sessions)
        missing += len(sessions) - len(bars)
    assert 0.5 * MISSING_DAY_RATE < missing / expected < 2 * MISSING_DAY_RATE


def test_sample_never_dates_a_bar_after_the_fetch(sample):
    [envelope] = sample.fetch("NVDA", "2026-06-01", "2026-12-31")
    assert envelope["as_of"] == max(row["date"] for row in envelope["payload"]["history"]) <= "2026-06-30"
    assert envelope["request"]["end"] == "2026-12-31"  # what was asked, not what came back


def test_sample_fetch_is_one_envelope_holding_every_bar_of_the_range(sample):
    envelopes = sample.fetch("D05.SI", "2025-01-01", "2025-03-31")
    assert len(envelopes) == 1
    envelope = envelopes[0]
    dates = [row["date"] for row in envelope["payload"]["history"]]
    expected = [d.isoformat() for d in sample.history("D05.SI", "2025-01-01", "2025-03-31")["date"]]
    assert dates == expected and len(dates) > 55  # every bar, oldest first
    assert envelope["as_of"] == dates[-1]
    assert (envelope["request"]["start"], envelope["request"]["end"]) == ("2025-01-01", "2025-03-31")


def test_sample_as_of_is_the_last_bar_when_the_range_ends_on_a_holiday(sample):
    # 2025-01-29 and -30 are Chinese New Year on SGX: the fetch ends with the bar before them.
    [envelope] = sample.fetch("D05.SI", "2025-01-20", "2025-01-30")
    last = sample.history("D05.SI", "2025-01-20", "2025-01-30")["date"].iloc[-1].isoformat()
    assert envelope["as_of"] == envelope["payload"]["history"][-1]["date"] == last <= "2025-01-28"


@pytest.mark.parametrize(
    ("symbol", "start", "end"),
    [("D05.SI", "2025-01-29", "2025-01-30"),  # SGX holidays
     ("NVDA", "2025-06-07", "2025-06-08"),  # a weekend
     ("NVDA", "2026-07-01", "2026-07-31")],  # after the fetch: no bar yet
)  # fmt: skip
def test_sample_range_without_a_bar_is_an_empty_fetch(sample, symbol, start, end):
    assert sample.fetch(symbol, start, end) == []


def test_sample_facts_are_those_of_the_fetchs_last_bar(sample):
    [wide] = sample.fetch("D05.SI", "2024-01-01", "2025-06-30")
    [last_day] = sample.fetch("D05.SI", wide["as_of"], wide["as_of"])
    [earlier] = sample.fetch("D05.SI", "2024-01-01", "2024-06-28")
    assert wide["payload"]["facts"] == last_day["payload"]["facts"]
    assert wide["payload"]["facts"]["market_cap"] != earlier["payload"]["facts"]["market_cap"]
    last = wide["payload"]["history"][-1]
    facts = wide["payload"]["facts"]
    assert facts["fifty_two_week_low"] <= last["close"] <= facts["fifty_two_week_high"]


def test_sample_envelopes_parse_and_validate_as_prices(sample):
    [envelope] = sample.fetch("7974.T", "2024-01-01", "2025-12-31")
    prices, rejected = parse_fetch(envelope_bytes(envelope), expected_symbol="7974.T")
    assert rejected == []
    lineage = {"source_raw_key": "raw/k", "source_raw_version": "v", "computation_version": "1.0.0",
               "computed_at": pd.Timestamp(NOW), "run_id": "r"}  # fmt: skip
    validated = schemas.validate("prices", prices.assign(**lineage))
    assert len(validated) == len(envelope["payload"]["history"]) > 400
    assert prices["date"].iloc[-1].isoformat() == envelope["as_of"]


def test_sample_envelope_shape(sample):
    envelope = sample.fetch("DBS19", "2025-06-02", "2025-06-02")[0]
    assert set(envelope) == {"envelope_version", "source", "ticker", "symbol", "as_of", "fetched_at", "request",
                             "payload"}  # fmt: skip
    assert (envelope["source"], envelope["ticker"], envelope["symbol"]) == ("sample", "DBS19", "D05.SI")
    assert envelope["fetched_at"] == "2026-06-30T12:00:00.000000Z"
    assert envelope["request"]["start"] == envelope["request"]["end"] == "2025-06-02"
    facts = envelope["payload"]["facts"]
    assert (facts["name"], facts["currency"], facts["exchange"]) == ("DBS Group Holdings Ltd", "SGD", "SGX")
    assert facts["market_cap"] > 0 and facts["pe_ratio"] > 0
    assert (
        facts["fifty_two_week_low"]
        <= envelope["payload"]["history"][0]["close"]
        <= facts["fifty_two_week_high"]
    )
    json.loads(envelope_bytes(envelope))  # strict JSON


def test_sample_currency_follows_the_exchange(sample):
    for symbol, currency in [("7974.T", "JPY"), ("0700.HK", "HKD"), ("VNM.VN", "VND"), ("NVDA", "USD")]:
        assert sample.fetch(symbol, "2025-06-02", "2025-06-06")[0]["payload"]["facts"]["currency"] == currency


def test_sample_prices_look_like_a_market(sample):
    prices = sample.history("NVDA", "2016-01-01", "2025-12-31")
    returns = np.diff(np.log(prices["close"].to_numpy()))
    assert 0.005 < returns.std() < 0.05  # daily volatility of a stock
    gaps = prices["open"].to_numpy()[1:] / prices["close"].to_numpy()[:-1] - 1
    assert (np.abs(gaps) > 0.02).mean() > 0.005  # some opening gaps
    moves = np.abs(returns)
    volume = prices["volume"].to_numpy()[1:]
    assert np.corrcoef(moves, np.log(volume))[0, 1] > 0.2  # volume rises with the size of the move


def test_sample_pays_dividends_and_adjusts_the_close(sample):
    payers = 0
    for listing in list(load_universe())[:12]:
        [envelope] = sample.fetch(listing.yahoo_symbol, "2023-01-01", "2024-12-31")
        rows = envelope["payload"]["history"]
        if any(row["dividends"] for row in rows):
            payers += 1
            first = rows[0]
            assert first["adj_close"] < first["close"]
    assert 3 <= payers <= 11


def test_sample_is_fast_enough_for_the_whole_universe(sample):
    # Not a timing assertion: the whole universe x 2 years produces the expected number of bars.
    total = sum(len(sample.history(s, "2024-07-01", "2026-06-30")) for s in load_universe().symbols)
    assert total > 450 * len(load_universe())


def test_hostile_symbol_is_refused(sample):
    with pytest.raises(InvalidTicker):
        sample.fetch("../etc/passwd", "2025-01-01", "2025-01-31")


def test_each_source_names_the_raw_area_its_fetches_go_to(tmp_path):
    assert SampleSource.source_tag == get_source("sample").source_tag == "sample"
    assert YahooSource.source_tag == get_source("yahoo").source_tag == get_source("yfinance").source_tag
    assert YahooSource.source_tag == "yfinance"
    assert DirectorySource.source_tag == get_source(f"dir:{tmp_path}").source_tag == "dir"


def test_unknown_source_is_refused():
    with pytest.raises(ValueError, match=r"source 'bloomberg' is not known: expected one of sample, yahoo"):
        get_source("bloomberg")


@pytest.mark.parametrize("calendar", ["XNYS", "XSES", "XHKG", "XTKS", "XTAI"])
def test_fast_sessions_equal_the_built_calendars(calendar):
    from pipelines.sources.calendars import _sessions_from_calendar, _sessions_from_rules

    fast, built = _sessions_from_rules(calendar), _sessions_from_calendar(calendar)
    end = min(fast.covered_to, built.covered_to)
    np.testing.assert_array_equal(fast.sessions[fast.sessions <= end], built.sessions[built.sessions <= end])
