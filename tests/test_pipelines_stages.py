"""The stages against a real lake: one fetch per ticker, the newest fetch wins per bar date, bad bars are
quarantined without losing the rest, a narrowed run keeps the other tickers, and an increment computed from
the warm-up window equals a one-pass computation over the whole history."""

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

from lake import Lake
from lake.store import LocalStore
from pipelines import stages
from pipelines.features import compute_features
from pipelines.indicators import compute_indicators
from pipelines.percentiles import compute_percentiles
from pipelines.sources import SampleSource, get_source

T = "D05.SI"
RUN = "test-run"


def _lake(root) -> Lake:
    lake = Lake(LocalStore(root, durable=False))  # durability is not what these tests are about
    lake.init()
    return lake


def _run(lake: Lake, tickers, start: str, end: str, run_id: str = RUN, source=None) -> dict:
    stages.ingest_raw(lake, source or get_source("sample"), tickers, start, end, run_id)
    results = {"prices": stages.build_prices(lake, tickers, start, end, run_id)}
    for dataset in stages.DERIVED:
        results[dataset] = stages.build_derived(lake, dataset, tickers, start, end, run_id)
    return results


def _envelope(bars, fetched_at="2025-06-06T12:00:00.000000Z", symbol=T):
    return {
        "envelope_version": 1,
        "source": "sample",
        "ticker": symbol,
        "symbol": symbol,
        "as_of": bars[-1]["date"],
        "fetched_at": fetched_at,
        "request": {},
        "payload": {"history": bars, "facts": {}},
    }


def _bar(date, close=10.0, high=None, low=None):
    return {
        "date": date,
        "open": close,
        "high": high if high is not None else close + 1,
        "low": low if low is not None else close - 1,
        "close": close,
        "adj_close": close,
        "volume": 100,
        "dividends": 0.0,
        "splits": 0.0,
    }


def _assert_values_close(got: pd.DataFrame, expected: pd.DataFrame, label: str) -> None:
    """Every value column of `expected` (not its keys) equals the stored one within 1e-9."""
    for column in expected.columns:
        if column in ("date", "ticker"):
            continue
        np.testing.assert_allclose(
            got[column].to_numpy(dtype=float),
            expected[column].to_numpy(dtype=float),
            rtol=1e-9,
            atol=1e-9,
            err_msg=f"{label}: {column}",
        )


def test_a_backfill_stores_one_raw_fetch_per_ticker_and_one_object_per_dataset_and_month(tmp_path):
    lake = _lake(tmp_path / "lake")
    results = _run(lake, [T, "NVDA"], "2025-04-01", "2025-06-30")
    assert {key.split("/ticker=")[1].split("/")[0] for key in lake.list_keys("raw/sample/")} == {T, "NVDA"}
    assert len(lake.list_keys("raw/sample/")) == 2
    for dataset in ("prices", "indicators", "percentiles", "features"):
        assert lake.months(dataset) == ["2025-04", "2025-05", "2025-06"]
        assert [w.month for w in results[dataset].writes] == ["2025-04", "2025-05", "2025-06"]
        frame = lake.read_dataset(dataset)
        assert set(frame["ticker"]) == {T, "NVDA"}
        assert frame[["ticker", "date"]].duplicated().sum() == 0
    assert not lake.list_keys("raw/yfinance/")  # sample data never lands under yfinance/


def test_for_each_bar_date_the_newest_fetch_wins_and_rows_name_it(tmp_path):
    lake = _lake(tmp_path / "lake")
    days = ["2025-06-02", "2025-06-03", "2025-06-04"]
    old = lake.put_raw(
        _envelope([_bar(d, 10.0) for d in days], "2025-06-04T12:00:00.000000Z"), ticker=T, source="sample"
    )
    new = lake.put_raw(
        _envelope([_bar("2025-06-04", 12.0)], "2025-06-05T12:00:00.000000Z"), ticker=T, source="sample"
    )
    stages.build_prices(lake, [T], "2025-06-01", "2025-06-30", RUN)
    prices = lake.read_dataset("prices", [T]).set_index(prices_date := "date")
    by_day = {d.isoformat(): row for d, row in prices.iterrows()}
    assert by_day["2025-06-04"]["close"] == 12.0 and by_day["2025-06-04"]["source_raw_key"] == new.key
    assert by_day["2025-06-02"]["close"] == 10.0 and by_day["2025-06-02"]["source_raw_key"] == old.key
    assert by_day["2025-06-02"]["source_raw_version"] == old.version_id
    assert prices_date == "date"


def test_a_bad_bar_is_quarantined_and_the_fetch_s_other_bars_are_written(tmp_path):
    lake = _lake(tmp_path / "lake")
    bars = [_bar("2025-06-02"), _bar("2025-06-03", 10.0, high=9.0, low=11.0), _bar("2025-06-04")]
    raw = lake.put_raw(_envelope(bars), ticker=T, source="sample")
    result = stages.build_prices(lake, [T], "2025-06-01", "2025-06-30", RUN)
    assert list(result.quarantined) == [(T, "2025-06-03")]
    records = lake.quarantine_records("prices", T, "2025-06-03")
    assert len(records) == 1 and "high" in records[0]["reason"] and "history[1]" in records[0]["reason"]
    assert records[0]["source_key"] == raw.key
    days = [d.isoformat() for d in lake.read_dataset("prices", [T])["date"]]
    assert days == ["2025-06-02", "2025-06-04"]
    assert json.loads(lake.get_raw(raw.key)) == _envelope(bars)  # the raw fetch is kept verbatim


def test_an_unreadable_fetch_is_quarantined_and_a_later_good_fetch_repairs_it(tmp_path):
    lake = _lake(tmp_path / "lake")
    bad = _envelope([_bar("2025-06-02")])
    bad["payload"] = "not an object"
    lake.put_raw(
        json.dumps(bad).encode(),
        ticker=T,
        source="sample",
        fetched_at=dt.datetime(2025, 6, 2, 12, tzinfo=dt.UTC),
    )
    result = stages.build_prices(lake, [T], "2025-06-02", "2025-06-02", RUN)
    assert (T, "2025-06-02") in result.quarantined and "payload" in result.quarantined[(T, "2025-06-02")]
    assert stages.quarantined_now(lake, "prices", [T], "2025-06-01", "2025-06-30") == {
        (T, "2025-06-02"): result.quarantined[(T, "2025-06-02")]
    }
    lake.put_raw(_envelope([_bar("2025-06-02")], "2025-06-03T12:00:00.000000Z"), ticker=T, source="sample")
    stages.build_prices(lake, [T], "2025-06-02", "2025-06-02", "repair")
    assert stages.quarantined_now(lake, "prices", [T], "2025-06-01", "2025-06-30") == {}


def test_a_run_narrowed_to_one_ticker_keeps_the_other_tickers_rows(tmp_path):
    lake = _lake(tmp_path / "lake")
    _run(lake, [T, "NVDA"], "2025-06-02", "2025-06-13", "first")
    before = lake.read_dataset("indicators", ["NVDA"])
    _run(lake, [T], "2025-06-02", "2025-06-13", "second")
    after = lake.read_dataset("indicators")
    assert set(after.loc[after["ticker"] == T, "run_id"]) == {"second"}
    pd.testing.assert_frame_equal(after[after["ticker"] == "NVDA"].reset_index(drop=True), before)
    versions = lake.month_versions("indicators", "2025-06")
    assert [v.run_id for v in versions] == ["second", "first"]


class _FailingFor:
    source_tag = "sample"

    def __init__(self, bad):
        self.bad, self.inner = bad, SampleSource()

    def fetch(self, symbol, start, end):
        if symbol in self.bad:
            raise ConnectionError(f"source down for {symbol}")
        return self.inner.fetch(symbol, start, end)


def test_a_source_error_for_one_ticker_does_not_stop_the_others(tmp_path):
    lake = _lake(tmp_path / "lake")
    result = stages.ingest_raw(lake, _FailingFor({"NVDA"}), [T, "NVDA"], "2025-06-02", "2025-06-06", RUN)
    assert result.tickers == {T} and "source down for NVDA" in result.failed["NVDA"]
    with pytest.raises(ConnectionError, match="NVDA"):
        stages.ingest_raw(lake, _FailingFor({"NVDA"}), ["NVDA"], "2025-06-02", "2025-06-06", RUN)


def test_missing_sessions_names_each_ticker_s_gaps_against_its_exchange_calendar(tmp_path):
    lake = _lake(tmp_path / "lake")
    lake.put_raw(_envelope([_bar("2025-06-02"), _bar("2025-06-04")]), ticker=T, source="sample")
    stages.build_prices(lake, [T], "2025-06-02", "2025-06-04", RUN)
    assert stages.missing_sessions(lake, "prices", [T], "2025-06-02", "2025-06-04") == {T: ["2025-06-03"]}


def test_empty_and_reversed_scopes_are_refused_naming_the_value(tmp_path):
    lake = _lake(tmp_path / "lake")
    with pytest.raises(ValueError, match="no ticker"):
        stages.build_prices(lake, [], "2025-06-02", "2025-06-04", RUN)
    with pytest.raises(ValueError, match="start 2025-06-04 is after end 2025-06-02"):
        stages.build_prices(lake, [T], "2025-06-04", "2025-06-02", RUN)
    with pytest.raises(ValueError, match="'bogus'"):
        stages.build_derived(lake, "bogus", [T], "2025-06-02", "2025-06-04", RUN)


@pytest.mark.slow
def test_an_increment_reads_only_the_warmup_and_matches_a_full_history_pass(tmp_path):
    first, last, new = "2022-09-01", "2025-05-30", ("2025-06-02", "2025-06-04")
    lake = _lake(tmp_path / "incremental")
    _run(lake, [T], first, last)
    history = lake.read_dataset("prices", [T])
    # The oldest months become unreadable: any read of the whole history would now fail.
    for dataset in ("prices", "indicators"):
        for month in lake.months(dataset)[:3]:
            lake.store.put(f"processed/{dataset}/month={month}/data.parquet", b"not parquet")
    results = _run(lake, [T], *new)
    assert all(r.rows == 3 for r in results.values()), {n: r.counts() for n, r in results.items()}

    prices = pd.concat([history, lake.read_dataset("prices", [T], *new)], ignore_index=True)
    indicators = compute_indicators(prices)
    want = {
        "indicators": indicators,
        "percentiles": compute_percentiles(indicators),
        "features": compute_features(prices, indicators),
    }
    for dataset, frame in want.items():
        expected = frame.tail(3).reset_index(drop=True)
        got = lake.read_dataset(dataset, [T], *new).reset_index(drop=True)
        _assert_values_close(got, expected, dataset)


def test_a_bad_bar_is_recorded_once_however_often_its_fetch_is_read_again(tmp_path):
    lake = _lake(tmp_path / "lake")
    bars = [_bar("2025-06-02"), _bar("2025-06-03", 10.0, high=9.0, low=11.0)]
    lake.put_raw(_envelope(bars), ticker=T, source="sample")
    for run in ("daily-1", "daily-2"):
        result = stages.build_prices(lake, [T], "2025-06-01", "2025-06-30", run)
        assert list(result.quarantined) == [(T, "2025-06-03")]
    assert len(lake.quarantine_records("prices", T)) == 1


def test_a_bad_bar_a_newer_fetch_repairs_is_recorded_but_not_counted_as_quarantined(tmp_path):
    lake = _lake(tmp_path / "lake")
    bad = [_bar("2025-06-02", 10.0, high=9.0, low=11.0)]
    lake.put_raw(_envelope(bad, "2025-06-02T12:00:00.000000Z"), ticker=T, source="sample")
    lake.put_raw(_envelope([_bar("2025-06-02")], "2025-06-03T12:00:00.000000Z"), ticker=T, source="sample")
    result = stages.build_prices(lake, [T], "2025-06-02", "2025-06-02", RUN)
    assert result.quarantined == {} and result.rows == 1
    assert len(lake.quarantine_records("prices", T, "2025-06-02")) == 1
    assert stages.quarantined_now(lake, "prices", [T], "2025-06-02", "2025-06-02") == {}


def test_month_chunks_cover_every_row_once_in_whole_months(monkeypatch):
    rng = np.random.default_rng(7)
    months = np.array([f"2025-{m:02d}" for m in rng.integers(1, 13, size=5_000)])
    monkeypatch.setattr(stages, "CHUNK_ROWS", 1_000)
    chunks = list(stages._month_chunks(months))
    assert sorted(np.concatenate(chunks).tolist()) == list(range(len(months)))  # each row exactly once
    seen: set[str] = set()
    for chunk in chunks:
        names = set(months[chunk])
        assert not names & seen  # a month never spans two chunks
        seen |= names
        assert len(chunk) <= 1_000 or len(names) == 1  # bounded, unless one month is larger on its own
    assert len(chunks) > 1


def test_a_backfill_validated_in_chunks_writes_what_one_pass_writes(tmp_path, monkeypatch):
    whole = _lake(tmp_path / "whole")
    _run(whole, [T, "NVDA"], "2025-01-02", "2025-06-30")
    monkeypatch.setattr(stages, "CHUNK_ROWS", 50)  # about one month of two tickers per chunk
    chunked = _lake(tmp_path / "chunked")
    results = _run(chunked, [T, "NVDA"], "2025-01-02", "2025-06-30")
    assert [w.month for w in results["features"].writes] == [f"2025-0{m}" for m in range(1, 7)]
    for dataset in ("prices", "indicators", "percentiles", "features"):
        lineage = ["computed_at", "run_id", "source_raw_key", "source_raw_version"]  # differ per lake
        expected = whole.read_dataset(dataset).drop(columns=lineage)
        found = chunked.read_dataset(dataset).drop(columns=lineage)
        pd.testing.assert_frame_equal(found, expected)


def test_each_ticker_of_a_backfill_is_computed_from_its_own_rows_only(tmp_path):
    """The derived stages slice each ticker's block of the inputs: every ticker's rows equal a one-ticker
    computation, and features are computed on the dates where prices and indicators both have a row."""
    tickers, first, last = ["D05.SI", "NVDA", "7203.T"], "2024-09-02", "2025-05-30"
    lake = _lake(tmp_path / "lake")
    stages.ingest_raw(lake, get_source("sample"), tickers, first, last, RUN)
    stages.build_prices(lake, tickers, first, last, RUN)
    stages.build_derived(lake, "indicators", tickers, first, last, RUN)
    gone = lake.read_dataset("indicators", ["NVDA"], "2025-03-03", "2025-03-31")
    keep = lake.read_month("indicators", "2025-03")
    keep = keep[~keep["ticker"].eq("NVDA") | ~keep["date"].isin(set(gone["date"][:5]))]
    lake.store.delete("processed/indicators/month=2025-03/data.parquet")
    lake.write_month(
        "indicators",
        "2025-03",
        keep.drop(columns=["computation_version", "computed_at", "run_id"]),
        run_id=RUN,
        computation_version="x",
    )
    for dataset in ("percentiles", "features"):
        stages.build_derived(lake, dataset, tickers, first, last, RUN)
    for ticker in tickers:
        prices = lake.read_dataset("prices", [ticker])
        indicators = lake.read_dataset("indicators", [ticker])
        common = prices[prices["date"].isin(set(indicators["date"]))].reset_index(drop=True)
        want = {
            "percentiles": (compute_percentiles(indicators), indicators["date"]),
            "features": (compute_features(common, indicators), common["date"]),
        }
        for dataset, (frame, dates) in want.items():
            got = lake.read_dataset(dataset, [ticker]).reset_index(drop=True)
            assert got["date"].tolist() == dates.tolist(), (dataset, ticker)
            _assert_values_close(got, frame, f"{dataset} {ticker}")
    assert len(lake.read_dataset("features", ["NVDA"])) == len(lake.read_dataset("prices", ["NVDA"])) - 5


def test_ticker_blocks_refuse_rows_not_sorted_by_ticker():
    frame = pd.DataFrame({"ticker": ["A", "A", "B", "A"], "date": [1, 2, 1, 3]})
    with pytest.raises(ValueError, match="not sorted by ticker"):
        stages._ticker_blocks(frame)
    assert stages._ticker_blocks(frame.iloc[:3]) == {"A": (0, 2), "B": (2, 3)}
