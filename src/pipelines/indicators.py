"""Technical indicators of one ticker's daily prices, by TA-Lib's definitions (docs/computations.md).

Every function is vectorised (rolling windows and pandas' recursive ``ewm``, no loop over rows) and
point-in-time: a row's value uses only the rows up to and including it, so appending rows never changes
earlier values (the recursions run forward and their seeds sit at fixed row positions).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipelines._frames import require, values

__all__ = [
    "INDICATOR_COLUMNS",
    "WARMUP_SESSIONS",
    "atr",
    "bollinger",
    "compute_indicators",
    "ema",
    "macd",
    "rsi",
    "sma",
    "uncertainty_score",
    "vwap",
]

INDICATOR_COLUMNS: tuple[str, ...] = (
    "close",
    "sma_20",
    "sma_50",
    "sma_200",
    "ema_12",
    "ema_26",
    "rsi_14",
    "macd",
    "macd_signal",
    "macd_hist",
    "bb_upper",
    "bb_middle",
    "bb_lower",
    "atr_14",
    "atr_pct",
    "vwap_20",
    "price_vwap_pct",
    "volume_sma_20",
    "volume_ratio",
    "uncertainty_score",
)

# Sessions of history a row's indicators need before it for its value to equal (to ~1e-11 relative, the
# floating-point noise of the rolling sums themselves) the value computed from the ticker's first session:
# SMA-200 needs 199; the exponential recursions (EMA-26, Wilder's alpha = 1/14 for RSI and ATR) keep a
# weight (1 - alpha)^n of their seed, below 1e-17 after 600 sessions. An incremental run reads this many.
WARMUP_SESSIONS = 600

# uncertainty_score: each component reaches its full weight at this level (see docs/computations.md).
UNCERTAINTY_WEIGHTS = {
    "atr_pct": 0.35,
    "bandwidth_pct": 0.25,
    "volume_surge": 0.20,
    "vwap_distance_pct": 0.20,
}
UNCERTAINTY_FULL_SCALE = {
    "atr_pct": 6.0,
    "bandwidth_pct": 25.0,
    "volume_surge": 2.0,
    "vwap_distance_pct": 8.0,
}


def _seeded_recursion(x: np.ndarray, period: int, alpha: float, seed_at: int) -> np.ndarray:
    """TA-Lib's exponential recursions: the value at row ``seed_at`` is the mean of the ``period`` values
    ending there; from the next row on, ``y[t] = y[t-1] + alpha * (x[t] - y[t-1])``. Earlier rows are NaN."""
    out = np.full(len(x), np.nan)
    if len(x) <= seed_at:
        return out
    tail = x[seed_at:].copy()
    tail[0] = x[seed_at - period + 1 : seed_at + 1].mean()
    out[seed_at:] = pd.Series(tail).ewm(alpha=alpha, adjust=False).mean().to_numpy()
    return out


def sma(x: np.ndarray, period: int) -> np.ndarray:
    """Simple moving average; NaN for the first ``period - 1`` rows."""
    return pd.Series(x).rolling(period, min_periods=period).mean().to_numpy()


def ema(x: np.ndarray, period: int) -> np.ndarray:
    """TA-Lib EMA: k = 2/(period+1), seeded with the SMA of the first ``period`` values (row period-1)."""
    return _seeded_recursion(x, period, 2.0 / (period + 1), period - 1)


def rsi(close: np.ndarray, period: int = 14) -> np.ndarray:
    """Wilder's RSI as TA-Lib computes it: average gain/loss seeded with the mean of the first ``period``
    changes, then smoothed with alpha = 1/period; first value at row ``period``.

    Deviation from TA-Lib: when both averages are 0 (a flat series) the RSI is 50, not TA-Lib's 0.
    """
    change = np.diff(close, prepend=np.nan)
    gain = _seeded_recursion(np.where(change > 0, change, 0.0), period, 1.0 / period, period)
    loss = _seeded_recursion(np.where(change < 0, -change, 0.0), period, 1.0 / period, period)
    total = gain + loss
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, 100.0 * gain / total, np.where(np.isnan(total), np.nan, 50.0))


def macd(
    close: np.ndarray, fast: int = 12, slow: int = 26, signal: int = 9
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """TA-Lib MACD (line, signal, histogram); all three start at row ``slow + signal - 2`` (33).

    As in TA-Lib, the fast EMA inside MACD is not the stand-alone EMA: both EMAs start at row ``slow - 1``,
    the fast one seeded with the mean of the ``fast`` closes ending there. The signal line is an EMA of the
    MACD line seeded with the mean of its first ``signal`` values.
    """
    start = slow - 1
    line = _seeded_recursion(close, fast, 2.0 / (fast + 1), start) - ema(close, slow)
    signal_line = np.full(len(close), np.nan)
    if len(close) > start:
        signal_line[start:] = _seeded_recursion(line[start:], signal, 2.0 / (signal + 1), signal - 1)
    line = np.where(np.isnan(signal_line), np.nan, line)
    return line, signal_line, line - signal_line


def bollinger(close: np.ndarray, period: int = 20, width: float = 2.0) -> tuple[np.ndarray, ...]:
    """Bollinger bands (upper, middle, lower): SMA +/- ``width`` population standard deviations."""
    rolling = pd.Series(close).rolling(period, min_periods=period)
    middle = rolling.mean().to_numpy()
    spread = width * np.sqrt(np.clip(rolling.var(ddof=0).to_numpy(), 0.0, None))
    return middle + spread, middle, middle - spread


def atr(high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int = 14) -> np.ndarray:
    """Wilder's average true range as TA-Lib: the true range needs the previous close (from row 1); the
    first ATR (row ``period``) is the mean of the first ``period`` true ranges, then alpha = 1/period."""
    previous = np.concatenate([[np.nan], close[:-1]])
    true_range = np.fmax(high - low, np.fmax(np.abs(high - previous), np.abs(low - previous)))
    true_range[:1] = np.nan
    return _seeded_recursion(true_range, period, 1.0 / period, period)


def vwap(
    high: np.ndarray, low: np.ndarray, close: np.ndarray, volume: np.ndarray, period: int = 20
) -> np.ndarray:
    """Rolling volume-weighted average of the typical price (high+low+close)/3 over ``period`` sessions;
    NaN before ``period`` rows and where the window traded no volume."""
    typical = (high + low + close) / 3.0
    traded = pd.Series(typical * volume).rolling(period, min_periods=period).sum().to_numpy()
    shares = pd.Series(volume).rolling(period, min_periods=period).sum().to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(shares > 0, traded / shares, np.nan)


def uncertainty_score(
    atr_pct: np.ndarray,
    bandwidth_pct: np.ndarray,
    volume_ratio: np.ndarray,
    price_vwap_pct: np.ndarray,
) -> np.ndarray:
    """0-100: a weighted sum of four capped components (volatility, band width, volume surge, distance
    from VWAP), each scaled to [0, 1] by its full-scale level. Null while ATR or the bands warm up; a
    missing volume ratio or VWAP (no volume traded) contributes 0."""
    scale, weight = UNCERTAINTY_FULL_SCALE, UNCERTAINTY_WEIGHTS
    components = {
        "atr_pct": np.clip(atr_pct / scale["atr_pct"], 0.0, 1.0),
        "bandwidth_pct": np.clip(bandwidth_pct / scale["bandwidth_pct"], 0.0, 1.0),
        "volume_surge": np.nan_to_num(np.clip((volume_ratio - 1.0) / scale["volume_surge"], 0.0, 1.0)),
        "vwap_distance_pct": np.nan_to_num(
            np.clip(np.abs(price_vwap_pct) / scale["vwap_distance_pct"], 0.0, 1.0)
        ),
    }
    return 100.0 * sum(weight[name] * component for name, component in components.items())


def compute_indicators(prices: pd.DataFrame) -> pd.DataFrame:
    """The ``indicators`` values of one ticker's ``prices`` rows (sorted by date).

    Returns one row per input row, same order and index: ``date`` and ``INDICATOR_COLUMNS``. Warm-up
    rows are NaN (see docs/computations.md for each column's first valid row).

    Examples
    --------
    >>> from pipelines.sources import SampleSource
    >>> prices = SampleSource().history("NVDA", "2024-01-01", "2024-12-31")
    >>> int(compute_indicators(prices)["sma_200"].notna().sum()) == len(prices) - 199
    True
    """
    require(prices, ("open", "high", "low", "close", "volume"), what="prices")
    high, low, close = values(prices, "high"), values(prices, "low"), values(prices, "close")
    volume = values(prices, "volume")

    macd_line, macd_signal, macd_hist = macd(close)
    bb_upper, bb_middle, bb_lower = bollinger(close)
    atr_14 = atr(high, low, close)
    vwap_20 = vwap(high, low, close, volume)
    volume_sma_20 = sma(volume, 20)
    with np.errstate(invalid="ignore", divide="ignore"):
        atr_pct = atr_14 / close * 100.0
        price_vwap_pct = (close / vwap_20 - 1.0) * 100.0
        volume_ratio = np.where(volume_sma_20 > 0, volume / volume_sma_20, np.nan)
        bandwidth_pct = np.where(bb_middle > 0, (bb_upper - bb_lower) / bb_middle * 100.0, np.nan)

    columns = {
        "date": prices["date"].to_numpy(),
        "close": close,
        "sma_20": bb_middle,
        "sma_50": sma(close, 50),
        "sma_200": sma(close, 200),
        "ema_12": ema(close, 12),
        "ema_26": ema(close, 26),
        "rsi_14": rsi(close),
        "macd": macd_line,
        "macd_signal": macd_signal,
        "macd_hist": macd_hist,
        "bb_upper": bb_upper,
        "bb_middle": bb_middle,
        "bb_lower": bb_lower,
        "atr_14": atr_14,
        "atr_pct": atr_pct,
        "vwap_20": vwap_20,
        "price_vwap_pct": price_vwap_pct,
        "volume_sma_20": volume_sma_20,
        "volume_ratio": volume_ratio,
        "uncertainty_score": uncertainty_score(atr_pct, bandwidth_pct, volume_ratio, price_vwap_pct),
    }
    return pd.DataFrame(columns, index=prices.index)
