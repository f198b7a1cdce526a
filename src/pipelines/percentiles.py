"""Where today's indicator values sit in their own trailing history (INTERFACE.md, ``percentiles``).

- ``<x>_percentile``: 100 x the share of the trailing ``WINDOW`` (252) sessions' non-null values of ``x``,
  the current one included, that are <= the current value. Null when the current value is null or the
  window holds fewer than ``MIN_VALUES`` (20) non-null values.
- frequency fields: 100 x the share of the same window's non-null values meeting a condition (e.g.
  ``rsi_14 > 70``); null with fewer than ``MIN_VALUES`` non-null values.
- ``sma_N_dev_pct`` = (close / sma_N - 1) x 100, the input of ``sma_N_dev_pct_percentile``.

Windows are counted in rows (sessions), not calendar days; computed with numpy's sliding windows.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from pipelines._frames import require, values

__all__ = [
    "FREQUENCIES",
    "MIN_VALUES",
    "PERCENTILE_COLUMNS",
    "PERCENTILE_INPUTS",
    "WARMUP_SESSIONS",
    "WINDOW",
    "compute_percentiles",
    "trailing_frequency",
    "trailing_percentile",
]

WINDOW = 252
MIN_VALUES = 20
WARMUP_SESSIONS = WINDOW - 1  # a row reads the 251 sessions before it, no more: exact on any longer history
PERCENTILE_INPUTS: tuple[str, ...] = (
    "rsi_14",
    "macd",
    "uncertainty_score",
    "atr_pct",
    "price_vwap_pct",
    "volume_ratio",
    "sma_20_dev_pct",
    "sma_50_dev_pct",
    "sma_200_dev_pct",
)
# name -> (input, comparison, threshold): the share of the window where `input comparison threshold`.
FREQUENCIES: dict[str, tuple[str, str, float]] = {
    "rsi_freq_above_70": ("rsi_14", ">", 70.0),
    "rsi_freq_below_30": ("rsi_14", "<", 30.0),
    "macd_freq_positive": ("macd", ">", 0.0),
    "uncertainty_freq_low": ("uncertainty_score", "<", 25.0),
    "uncertainty_freq_high": ("uncertainty_score", ">", 75.0),
    "atr_pct_freq_low": ("atr_pct", "<", 1.0),
    "atr_pct_freq_high": ("atr_pct", ">", 4.0),
    "vwap_freq_above_3": ("price_vwap_pct", ">", 3.0),
    "vwap_freq_below_neg3": ("price_vwap_pct", "<", -3.0),
    "volume_ratio_freq_high": ("volume_ratio", ">", 2.0),
    "volume_ratio_freq_low": ("volume_ratio", "<", 0.7),
}
PERCENTILE_COLUMNS: tuple[str, ...] = tuple(f"{x}_percentile" for x in PERCENTILE_INPUTS) + tuple(FREQUENCIES)
_COMPARISONS: dict[str, Callable[[np.ndarray, float], np.ndarray]] = {">": np.greater, "<": np.less}
_INDICATOR_INPUTS = ("close", "sma_20", "sma_50", "sma_200", "rsi_14", "macd", "uncertainty_score",
                     "atr_pct", "price_vwap_pct", "volume_ratio")  # fmt: skip


def _windows(x: np.ndarray, window: int) -> np.ndarray:
    """(n, window) view: row t holds x[t-window+1 .. t], NaN-padded before the first row."""
    x = np.asarray(x, dtype=np.float64)
    if len(x) == 0:
        return np.empty((0, window))
    return sliding_window_view(np.concatenate([np.full(window - 1, np.nan), x]), window)


def trailing_percentile(x: np.ndarray, window: int = WINDOW, min_values: int = MIN_VALUES) -> np.ndarray:
    """100 x share of the trailing window's non-null values <= the current value (current included)."""
    x = np.asarray(x, dtype=np.float64)
    frame = _windows(x, window)
    count = np.count_nonzero(~np.isnan(frame), axis=1)
    at_or_below = np.count_nonzero(frame <= x[:, None], axis=1)  # NaN compares False
    with np.errstate(invalid="ignore", divide="ignore"):
        out = 100.0 * at_or_below / count
    out[(count < min_values) | np.isnan(x)] = np.nan
    return out


def trailing_frequency(
    x: np.ndarray, comparison: str, threshold: float, window: int = WINDOW, min_values: int = MIN_VALUES
) -> np.ndarray:
    """100 x share of the trailing window's non-null values with ``value <comparison> threshold``."""
    frame = _windows(x, window)
    count = np.count_nonzero(~np.isnan(frame), axis=1)
    hits = np.count_nonzero(_COMPARISONS[comparison](frame, threshold), axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = 100.0 * hits / count
    out[count < min_values] = np.nan
    return out


def compute_percentiles(indicators: pd.DataFrame) -> pd.DataFrame:
    """The ``percentiles`` values of one ticker's ``indicators`` rows (sorted by date).

    Returns one row per input row, same order and index: ``date`` and ``PERCENTILE_COLUMNS``.
    """
    require(indicators, _INDICATOR_INPUTS, what="indicators", allow_null=True)
    inputs = {name: values(indicators, name) for name in _INDICATOR_INPUTS if name != "close"}
    close = values(indicators, "close")
    with np.errstate(invalid="ignore", divide="ignore"):
        for n in (20, 50, 200):
            sma_n = inputs.pop(f"sma_{n}")
            inputs[f"sma_{n}_dev_pct"] = np.where(sma_n > 0, (close / sma_n - 1.0) * 100.0, np.nan)
    columns: dict[str, np.ndarray] = {"date": indicators["date"].to_numpy()}
    for name in PERCENTILE_INPUTS:
        columns[f"{name}_percentile"] = trailing_percentile(inputs[name])
    for name, (source, comparison, threshold) in FREQUENCIES.items():
        columns[name] = trailing_frequency(inputs[source], comparison, threshold)
    return pd.DataFrame(columns, index=indicators.index)
