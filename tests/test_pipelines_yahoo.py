"""The Yahoo source, fed recorded-shape payloads through a fake ``yfinance.Ticker`` (no network)."""

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest

import schemas
from pipelines.exceptions import PayloadError, SourceError
from pipelines.parsing import parse_envelope, parse_fetch
from pipelines.sources import YahooSource, envelope_bytes, get_source

FIXTURES = Path(__file__).parent / "fixtures" / "yahoo"
FETCHED_AT = dt.datetime(2025, 6, 14, 2, 0, tzinfo=dt.UTC)


class FakeTicker:
    """Behaves like ``yfinance.Ticker`` for ``history`` (start inclusive, end exclusive) and ``info``."""

    def __init__(self, symbol, *, history=None, info=None, history_error=None, info_error=None):
        self.symbol = symbol
        self._history = history
        self._info = info or {}
        self._history_error = history_error
        self._info_error = info_error
        self.calls = []

    @classmethod
    def recorded(cls, symbol, **kwargs):
        info = json.loads((FIXTURES / f"{symbol}.info.json").read_text())
        frame = pd.read_csv(FIXTURES / f"{symbol}.history.csv")
        index = pd.to_datetime(frame.pop("Date"), utc=True).dt.tz_convert(info["exchangeTimezoneName"])
        frame.index = pd.DatetimeIndex(index, name="Date")
        return cls(symbol, history=frame, info=info, **kwargs)

    def history(self, **kwargs):
        self.calls.append(kwargs)
        if self._history_error:
            raise self._history_error
        frame = self._history
        tz = frame.index.tz
        start = pd.Timestamp(kwargs["start"], tz=tz)
        end = pd.Timestamp(kwargs["end"], tz=tz)
        return frame[(frame.index >= start) & (frame.index < end)]

    @property
    def info(self):
        if self._info_error:
            raise self._info_error
        return self._info


def source_for(*tickers):
    by_symbol = {t.symbol: t for t in tickers}
    made = []

    def factory(symbol):
        made.append(symbol)
        return by_symbol[symbol]

    source = YahooSource(ticker_factory=factory, clock=lambda: FETCHED_AT)
    source.made = made
    return source


def test_fetch_makes_one_history_request_for_the_range():
    ticker = FakeTicker.recorded("D05.SI")
    source = source_for(ticker)
    source.fetch("D05.SI", dt.date(2025, 6, 3), dt.date(2025, 6, 10))
    assert len(ticker.calls) == 1
    call = ticker.calls[0]
    assert (call["start"], call["end"]) == ("2025-06-03", "2025-06-11")  # yfinance's end is exclusive
    assert (call["interval"], call["auto_adjust"], call["actions"]) == ("1d", False, True)


def test_fetch_returns_one_envelope_with_every_bar_of_the_range():
    source = source_for(FakeTicker.recorded("D05.SI"))
    envelopes = source.fetch("D05.SI", dt.date(2025, 6, 3), dt.date(2025, 6, 10))
    assert len(envelopes) == 1
    envelope = envelopes[0]
    assert [row["date"] for row in envelope["payload"]["history"]] == [
        "2025-06-03", "2025-06-04", "2025-06-05", "2025-06-06", "2025-06-09", "2025-06-10"
    ]  # fmt: skip
    assert envelope["as_of"] == "2025-06-10"
    assert (envelope["source"], envelope["ticker"], envelope["symbol"]) == ("yfinance", "D05.SI", "D05.SI")
    assert envelope["fetched_at"] == "2025-06-14T02:00:00.000000Z"
    assert envelope["request"] == {"start": "2025-06-03", "end": "2025-06-10", "interval": "1d",
                                   "auto_adjust": False, "actions": True}  # fmt: skip
    assert envelope["payload"]["history"][0] == {
        "date": "2025-06-03", "open": 45.60, "high": 46.08, "low": 45.52, "close": 45.98, "adj_close": 44.739,
        "volume": 2876100, "dividends": 0.0, "splits": 0.0
    }  # fmt: skip
    assert envelope["payload"]["history"][-1]["close"] == 46.52


def test_as_of_is_the_last_bar_yahoo_returned_not_the_end_asked():
    source = source_for(FakeTicker.recorded("D05.SI"))
    [weekend_end] = source.fetch("D05.SI", "2025-06-03", "2025-06-08")  # ends on a Sunday
    assert weekend_end["as_of"] == weekend_end["payload"]["history"][-1]["date"] == "2025-06-06"
    [short] = source.fetch("D05.SI", "2025-06-09", "2025-06-20")  # Yahoo has bars up to 06-13 only
    assert short["as_of"] == "2025-06-13"
    assert short["request"]["end"] == "2025-06-20"
    assert len(short["payload"]["history"]) == 5


def test_source_tag_is_yfinance():
    assert YahooSource.source_tag == "yfinance"


def test_bar_dates_are_exchange_local_not_shifted_to_utc():
    # Midnight in Singapore is 16:00 UTC the day before: the trading date must stay the local one.
    envelopes = source_for(FakeTicker.recorded("D05.SI")).fetch("D05.SI", "2025-06-02", "2025-06-02")
    assert [e["as_of"] for e in envelopes] == ["2025-06-02"]


def test_dr_symbol_is_fetched_as_its_yahoo_symbol():
    source = source_for(FakeTicker.recorded("D05.SI"))
    envelope = source.fetch(" dbs19 ", "2025-06-02", "2025-06-02")[0]
    assert source.made == ["D05.SI"]
    assert (envelope["ticker"], envelope["symbol"]) == ("DBS19", "D05.SI")


def test_facts_are_mapped_from_info():
    facts = source_for(FakeTicker.recorded("D05.SI")).fetch("D05.SI", "2025-06-02", "2025-06-02")[0][
        "payload"
    ]["facts"]
    assert facts["name"] == "DBS Group Holdings Ltd"
    assert facts["currency"] == "SGD"
    assert facts["exchange"] == "SES"
    assert facts["market_cap"] == 129473691648
    assert facts["pe_ratio"] == 11.67
    assert facts["eps"] == 3.91
    assert facts["sector"] == "Financial Services"
    assert (facts["fifty_two_week_high"], facts["fifty_two_week_low"]) == (47.68, 34.58)
    assert facts["timezone"] == "Asia/Singapore"


def test_dividends_and_splits_are_carried():
    [envelope] = source_for(FakeTicker.recorded("NVDA")).fetch("NVDA", "2024-06-10", "2024-06-11")
    rows = envelope["payload"]["history"]
    assert [(r["date"], r["splits"], r["dividends"]) for r in rows] == [
        ("2024-06-10", 10.0, 0.0),
        ("2024-06-11", 0.0, 0.01),
    ]


def test_recorded_envelopes_parse_and_validate_as_prices():
    envelopes = source_for(FakeTicker.recorded("NVDA")).fetch("NVDA19", "2024-06-01", "2024-06-30")
    assert len(envelopes) == 1 and envelopes[0]["ticker"] == "NVDA19"
    prices, rejected = parse_fetch(envelope_bytes(envelopes[0]), expected_symbol="NVDA")
    assert rejected == []
    assert len(prices) == 6
    assert prices["date"].iloc[-1].isoformat() == envelopes[0]["as_of"] == "2024-06-12"
    lineage = {"source_raw_key": "raw/k", "source_raw_version": "v", "computation_version": "1.0.0",
               "computed_at": pd.Timestamp(FETCHED_AT), "run_id": "r"}  # fmt: skip
    schemas.validate("prices", prices.assign(**lineage))


def test_missing_value_is_stored_as_null_and_only_that_bar_is_rejected():
    [envelope] = source_for(FakeTicker.recorded("C6L.SI")).fetch("C6L.SI", "2025-03-03", "2025-03-05")
    history = envelope["payload"]["history"]
    assert [row["date"] for row in history] == ["2025-03-03", "2025-03-04", "2025-03-05"]
    assert history[1]["open"] is None
    raw = envelope_bytes(envelope)  # strict JSON: no NaN literal
    assert b"NaN" not in raw
    prices, rejected = parse_fetch(raw, expected_symbol="C6L.SI")
    assert [d.isoformat() for d in prices["date"]] == ["2025-03-03", "2025-03-05"]
    assert [(r.date, r.reason) for r in rejected] == [
        ("2025-03-04", "payload.history[1].open: must not be null (value: None)")
    ]
    with pytest.raises(PayloadError, match=r"^payload\.history\[1\]\.open: must not be null"):
        parse_envelope(raw)  # the strict parser refuses the whole fetch


def test_network_failure_is_a_transient_source_error_naming_symbol_and_range():
    ticker = FakeTicker("D05.SI", history_error=ConnectionError("connection reset by peer"))
    with pytest.raises(SourceError) as caught:
        source_for(ticker).fetch("D05.SI", "2025-06-02", "2025-06-06")
    assert str(caught.value) == (
        "Yahoo history request failed for D05.SI from 2025-06-02 to 2025-06-06: "
        "ConnectionError: connection reset by peer"
    )
    assert caught.value.transient
    assert (caught.value.symbol, caught.value.start, caught.value.end) == (
        "D05.SI",
        dt.date(2025, 6, 2),
        dt.date(2025, 6, 6),
    )


def test_no_bars_for_trading_days_is_a_permanent_source_error():
    ticker = FakeTicker.recorded("D05.SI")
    with pytest.raises(
        SourceError, match=r"no daily bars for D05\.SI from 2025-07-01 to 2025-07-04"
    ) as caught:
        source_for(ticker).fetch("D05.SI", "2025-07-01", "2025-07-04")
    assert not caught.value.transient


def test_range_without_trading_days_returns_nothing():
    assert source_for(FakeTicker.recorded("D05.SI")).fetch("D05.SI", "2025-06-07", "2025-06-08") == []


class YFPricesMissingError(Exception):
    """Named like yfinance's error for a range without bars."""


def test_yfinance_no_price_error_on_a_holiday_range_returns_nothing():
    ticker = FakeTicker("NVDA", history_error=YFPricesMissingError("possibly delisted; no price data found"))
    assert source_for(ticker).fetch("NVDA", "2025-12-25", "2025-12-25") == []


def test_yfinance_no_price_error_on_trading_days_is_a_permanent_source_error():
    ticker = FakeTicker("NVDA", history_error=YFPricesMissingError("possibly delisted; no price data found"))
    with pytest.raises(SourceError, match=r"failed for NVDA from 2025-12-22 to 2025-12-24") as caught:
        source_for(ticker).fetch("NVDA", "2025-12-22", "2025-12-24")
    assert not caught.value.transient


def test_volume_is_stored_as_a_whole_number():
    row = source_for(FakeTicker.recorded("C6L.SI")).fetch("C6L.SI", "2025-03-03", "2025-03-03")[0]
    assert type(row["payload"]["history"][0]["volume"]) is int


def test_failed_info_keeps_the_bars_and_says_why():
    ticker = FakeTicker.recorded("D05.SI", info_error=RuntimeError("401 Unauthorized: Invalid Crumb"))
    [envelope] = source_for(ticker).fetch("D05.SI", "2025-06-02", "2025-06-06")
    assert envelope["payload"]["facts"]["name"] is None
    assert envelope["payload"]["facts_error"] == "RuntimeError: 401 Unauthorized: Invalid Crumb"
    prices, rejected = parse_fetch(envelope)
    assert (len(prices), rejected) == (5, [])


def test_get_source_knows_yahoo_by_both_names():
    assert isinstance(get_source("yahoo"), YahooSource)
    assert isinstance(get_source("yfinance"), YahooSource)
