"""Hand-made report data for the report-bot tests (no lake, no pipelines needed)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from report_app.report import DataSource, ReportData, row_values

SYMBOL = "D05.SI"
DISPLAY = "DBS19"
DATE = "2025-11-11"


def indicator_history(sessions: int = 260, *, trend: float = 0.08, seed: int = 7) -> pd.DataFrame:
    """Indicator-like rows (close, SMAs, bands, RSI, volume fields) ending on DATE."""
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range(end=DATE, periods=sessions)
    close = 30 + np.cumsum(rng.normal(trend, 0.4, sessions))
    s = pd.Series(close)
    frame = pd.DataFrame({"ticker": SYMBOL, "date": dates.date, "close": close})
    for n in (20, 50, 200):
        frame[f"sma_{n}"] = s.rolling(n).mean()
    std = s.rolling(20).std(ddof=0)
    frame["bb_middle"] = frame["sma_20"]
    frame["bb_upper"] = frame["sma_20"] + 2 * std
    frame["bb_lower"] = frame["sma_20"] - 2 * std
    delta = s.diff()
    gain = delta.clip(lower=0).ewm(alpha=1 / 14).mean()
    loss = (-delta.clip(upper=0)).ewm(alpha=1 / 14).mean()
    frame["rsi_14"] = 100 - 100 / (1 + gain / loss)
    frame["volume_sma_20"] = 1_000_000 + rng.normal(0, 50_000, sessions)
    frame["volume_ratio"] = rng.uniform(0.6, 1.6, sessions)
    return frame


def make_report_data(**overrides) -> ReportData:
    history = indicator_history()
    last = history.iloc[-1].to_dict()
    indicators = row_values(last) | {
        "ema_12": last["close"] * 0.99,
        "ema_26": last["close"] * 0.98,
        "macd": 0.4123,
        "macd_signal": 0.3011,
        "macd_hist": 0.1112,
        "atr_14": 0.6543,
        "atr_pct": 1.8765,
        "vwap_20": last["close"] * 0.985,
        "price_vwap_pct": 1.5234,
        "uncertainty_score": 42.5,
    }
    indicators["rsi_14"] = 63.2109
    percentiles = {
        "rsi_14_percentile": 71.4,
        "atr_pct_percentile": 45.0,
        "volume_ratio_percentile": 55.0,
        "uncertainty_score_percentile": 38.0,
        "rsi_freq_above_70": 12.3,
        "rsi_freq_below_30": 4.1,
    }
    features = {"ret_1d": 0.0042, "ret_5d": 0.0123, "ret_20d": 0.0456, "vol_20d": 0.2134,
                "dist_52w_high_pct": -3.21, "dist_52w_low_pct": 25.4}  # fmt: skip
    sources = [
        DataSource(
            "indicators",
            f"processed/indicators/month={DATE[:7]}/data.parquet",
            "v-ind-1",
            "2025-11-11T10:00:00Z",
            "1",
            f"raw/yfinance/ticker={SYMBOL}/date={DATE}/20251111T100000000000Z.json",
            "v-raw-1",
            "run-1",
        ),
        DataSource(
            "percentiles",
            f"processed/percentiles/month={DATE[:7]}/data.parquet",
            "v-pct-1",
            "2025-11-11T10:00:01Z",
            "1",
        ),
    ]
    values = dict(
        symbol=SYMBOL,
        date=DATE,
        display=DISPLAY,
        indicators=indicators,
        percentiles=percentiles,
        features=features,
        facts={
            "name": "DBS Group Holdings Ltd",
            "currency": "SGD",
            "market_cap": 1.2345e11,
            "pe_ratio": 11.42,
        },
        history=history,
        sources=sources,
    )
    values.update(overrides)
    return ReportData(**values)


def build_sample_lake(
    lake,
    text: str = "DBS19",
    *,
    end: str = "2025-11-11",
    sessions: int = 300,
    chart_sessions: int = 130,
    report_days: int = 3,
) -> dict:
    """Fill `lake` the way the daily pipeline does, from the offline `sample` source, at the month grain.

    Raw: one backfill fetch holding every bar up to the day before the last `report_days` dates, then one
    daily fetch on each of those dates (each made that evening, holding its last two weeks of bars).
    Processed (`Lake.write_month`): indicators of the last `chart_sessions` dates, percentiles and features
    of the last `report_days` dates, all computed over `sessions` sessions of prices; each row's lineage
    names the fetch its bar came from (the newest fetch holding it). No prices are written, which proves the
    report never needs them. Returns {"symbol", "dates", "indicators", "percentiles", "features", "raw"}
    (the computed frames, and the raw PutResults by the date of their last bar)."""
    import datetime as dt

    from pipelines.features import compute_features
    from pipelines.indicators import compute_indicators
    from pipelines.percentiles import compute_percentiles
    from pipelines.sources import SampleSource
    from tests.fixtures.lake_data import write_rows

    first = (dt.date.fromisoformat(end) - dt.timedelta(days=int(sessions * 1.5))).isoformat()
    prices = SampleSource().history(text, first, end).tail(sessions).reset_index(drop=True)
    symbol = str(prices["ticker"].iloc[0])
    indicators = compute_indicators(prices)
    percentiles = compute_percentiles(indicators)
    features = compute_features(prices, indicators)
    dates = [d.isoformat() for d in prices["date"]]

    def fetch(start: str, day: str) -> object:
        evening = dt.datetime.combine(dt.date.fromisoformat(day), dt.time(12, 0), dt.UTC)  # after SGX's close
        (envelope,) = SampleSource(clock=lambda: evening).fetch(text, start, day)
        assert envelope["as_of"] == day
        return lake.put_raw(envelope, ticker=symbol, source="sample")

    daily = dates[-report_days:]
    backfill = fetch(dates[0], dates[-report_days - 1])
    raw = {day: fetch((dt.date.fromisoformat(day) - dt.timedelta(days=14)).isoformat(), day) for day in daily}
    computed_at = dt.datetime(2025, 11, 11, 12, 0, tzinfo=dt.UTC)

    def write(dataset: str, frame: pd.DataFrame, count: int) -> None:
        write_rows(
            lake,
            dataset,
            symbol,
            frame.iloc[-count:],
            lambda day: raw.get(day, backfill),
            computed_at=computed_at,
        )

    write("indicators", indicators, chart_sessions)
    write("percentiles", percentiles, report_days)
    write("features", features, report_days)
    return {
        "symbol": symbol,
        "dates": dates,
        "indicators": indicators,
        "percentiles": percentiles,
        "features": features,
        "raw": raw,
    }
