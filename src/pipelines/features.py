"""Model-ready features of one ticker's prices and indicators (INTERFACE.md, ``features``).

| column | definition | first value (row) |
|---|---|---|
| ret_1d, ret_5d, ret_20d | ln(close_t / close_{t-k}), k = 1, 5, 20 | k |
| vol_20d | sample standard deviation (ddof=1) of the last 20 daily log returns x sqrt(252) | 20 |
| zscore_close_20 | (close - SMA20(close)) / population sigma20(close) | 19 (null if sigma is 0) |
| volume_zscore_20 | (volume - SMA20(volume)) / population sigma20(volume) | 19 (null if sigma is 0) |
| gap_pct | (open_t / close_{t-1} - 1) x 100 | 1 |
| range_pct | (high - low) / close x 100 | 0 |
| dist_52w_high_pct | (close / max(high over the last 252 sessions) - 1) x 100, <= 0 | 19 |
| dist_52w_low_pct | (close / min(low over the last 252 sessions) - 1) x 100, >= 0 | 19 |
| rsi_14_norm | (rsi_14 - 50) / 50, in [-1, 1] | with rsi_14 |
| macd_hist_norm | macd_hist / atr_14 (histogram in ATRs, comparable across tickers) | with macd_hist |

The 52-week extremes use the sessions available when fewer than 252 exist, from 20 sessions on (the
percentiles' rule).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipelines._frames import require, values

__all__ = ["FEATURE_COLUMNS", "TRADING_DAYS_PER_YEAR", "WARMUP_SESSIONS", "compute_features"]

FEATURE_COLUMNS: tuple[str, ...] = (
    "ret_1d",
    "ret_5d",
    "ret_20d",
    "vol_20d",
    "zscore_close_20",
    "volume_zscore_20",
    "gap_pct",
    "range_pct",
    "dist_52w_high_pct",
    "dist_52w_low_pct",
    "rsi_14_norm",
    "macd_hist_norm",
)
TRADING_DAYS_PER_YEAR = 252
WINDOW_52W = 252
MIN_SESSIONS_52W = 20
# The longest look-back is the 52-week window (251 sessions before the row); one more for a lagged close.
WARMUP_SESSIONS = WINDOW_52W


def _lagged(x: np.ndarray, k: int) -> np.ndarray:
    return np.concatenate([np.full(min(k, len(x)), np.nan), x[:-k]]) if k else x


def _zscore(x: np.ndarray, period: int = 20) -> np.ndarray:
    rolling = pd.Series(x).rolling(period, min_periods=period)
    mean = rolling.mean().to_numpy()
    sigma = np.sqrt(np.clip(rolling.var(ddof=0).to_numpy(), 0.0, None))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(sigma > 0, (x - mean) / sigma, np.nan)


def compute_features(prices: pd.DataFrame, indicators: pd.DataFrame) -> pd.DataFrame:
    """The ``features`` values of one ticker's ``prices`` and ``indicators`` rows (same dates, sorted).

    Returns one row per price row, same order and index: ``date`` and ``FEATURE_COLUMNS``.
    """
    require(prices, ("open", "high", "low", "close", "volume"), what="prices")
    require(indicators, ("rsi_14", "macd_hist", "atr_14"), what="indicators", allow_null=True)
    if len(prices) != len(indicators) or not np.array_equal(
        pd.to_datetime(prices["date"]).to_numpy(), pd.to_datetime(indicators["date"]).to_numpy()
    ):
        raise ValueError("prices and indicators must cover the same dates in the same order")
    open_, high, low = values(prices, "open"), values(prices, "high"), values(prices, "low")
    close, volume = values(prices, "close"), values(prices, "volume")
    atr_14 = values(indicators, "atr_14")

    log_close = np.log(close)
    ret_1d = log_close - _lagged(log_close, 1)
    high_52w = pd.Series(high).rolling(WINDOW_52W, min_periods=MIN_SESSIONS_52W).max().to_numpy()
    low_52w = pd.Series(low).rolling(WINDOW_52W, min_periods=MIN_SESSIONS_52W).min().to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        columns = {
            "date": prices["date"].to_numpy(),
            "ret_1d": ret_1d,
            "ret_5d": log_close - _lagged(log_close, 5),
            "ret_20d": log_close - _lagged(log_close, 20),
            "vol_20d": pd.Series(ret_1d).rolling(20, min_periods=20).std(ddof=1).to_numpy()
            * np.sqrt(TRADING_DAYS_PER_YEAR),
            "zscore_close_20": _zscore(close),
            "volume_zscore_20": _zscore(volume),
            "gap_pct": (open_ / _lagged(close, 1) - 1.0) * 100.0,
            "range_pct": (high - low) / close * 100.0,
            "dist_52w_high_pct": (close / high_52w - 1.0) * 100.0,
            "dist_52w_low_pct": (close / low_52w - 1.0) * 100.0,
            "rsi_14_norm": (values(indicators, "rsi_14") - 50.0) / 50.0,
            "macd_hist_norm": np.where(atr_14 > 0, values(indicators, "macd_hist") / atr_14, np.nan),
        }
    return pd.DataFrame(columns, index=prices.index)
