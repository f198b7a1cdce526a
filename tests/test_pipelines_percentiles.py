"""Percentiles and frequencies against hand-worked windows and a plain loop over the definition."""

import math

import numpy as np
import pandas as pd
import pytest

import schemas
from pipelines.indicators import compute_indicators
from pipelines.percentiles import (
    FREQUENCIES,
    PERCENTILE_COLUMNS,
    PERCENTILE_INPUTS,
    compute_percentiles,
    trailing_frequency,
    trailing_percentile,
)
from tests.fixtures.series import random_prices


def test_percentile_window_worked_by_hand():
    # window 5, at least 3 values:
    # row 3: window [3, 1, -, 2] -> values <= 2 are 1, 2: 2 of 3 -> 66.67
    # row 4: [3, 1, -, 2, 5] -> all 4 <= 5 -> 100
    # row 5: [1, -, 2, 5, 2] -> 1, 2, 2 <= 2: 3 of 4 -> 75
    # row 6: [-, 2, 5, 2, 4] -> 2, 2, 4 <= 4: 3 of 4 -> 75
    x = np.array([3, 1, np.nan, 2, 5, 2, 4], dtype=float)
    out = trailing_percentile(x, window=5, min_values=3)
    np.testing.assert_array_equal(out, [np.nan, np.nan, np.nan, 200 / 3, 100.0, 75.0, 75.0])


def test_frequency_window_worked_by_hand():
    # share of the window's values above 70 (window 4, at least 2 values):
    # row 1: [80, 60] -> 1 of 2; row 2: [80, 60, -] -> 1 of 2; row 3: [80, 60, -, 75] -> 2 of 3;
    # row 4: [60, -, 75, 71] -> 2 of 3
    x = np.array([80, 60, np.nan, 75, 71], dtype=float)
    out = trailing_frequency(x, ">", 70.0, window=4, min_values=2)
    np.testing.assert_array_equal(out, [np.nan, 50.0, 50.0, 200 / 3, 200 / 3])


def test_twenty_values_are_needed():
    x = np.arange(30, dtype=float)
    out = trailing_percentile(x)
    assert np.isnan(out[:19]).all()
    assert out[19] == 100.0


def test_window_is_252_sessions():
    x = np.concatenate([np.full(252, 10.0), [5.0, 20.0]])
    out = trailing_percentile(x)
    assert out[251] == 100.0
    assert out[252] == pytest.approx(100 / 252)  # only itself <= 5 among the last 252
    assert out[253] == 100.0  # the window dropped the first 10 and holds 250 tens, the 5 and the 20


def _reference(values, predicate_current):
    out = []
    for t in range(len(values)):
        window = [v for v in values[max(0, t - 251) : t + 1] if not math.isnan(v)]
        out.append(predicate_current(window, values[t]) if len(window) >= 20 else math.nan)
    return np.array(out)


@pytest.fixture(scope="module")
def indicators():
    frame = compute_indicators(random_prices(11, 420))
    frame.loc[300:304, "volume_ratio"] = np.nan  # a gap inside the window, not only warm-up
    return frame


def test_percentiles_match_a_loop_over_the_definition(indicators):
    out = compute_percentiles(indicators)
    inputs = {name: indicators[name].to_numpy() for name in ("rsi_14", "macd", "uncertainty_score", "atr_pct",
                                                              "price_vwap_pct", "volume_ratio")}  # fmt: skip
    for n in (20, 50, 200):
        inputs[f"sma_{n}_dev_pct"] = ((indicators["close"] / indicators[f"sma_{n}"] - 1) * 100).to_numpy()

    def percentile(window, current):
        return math.nan if math.isnan(current) else 100 * sum(v <= current for v in window) / len(window)

    for name in PERCENTILE_INPUTS:
        expected = _reference(inputs[name], percentile)
        np.testing.assert_allclose(out[f"{name}_percentile"], expected, rtol=1e-12, equal_nan=True)

    for name, (source, comparison, threshold) in FREQUENCIES.items():

        def share(window, _current, comparison=comparison, threshold=threshold):
            hits = sum((v > threshold) if comparison == ">" else (v < threshold) for v in window)
            return 100 * hits / len(window)

        expected = _reference(inputs[source], share)
        np.testing.assert_allclose(out[name], expected, rtol=1e-12, equal_nan=True)


def test_interface_thresholds():
    assert FREQUENCIES == {
        "rsi_freq_above_70": ("rsi_14", ">", 70.0), "rsi_freq_below_30": ("rsi_14", "<", 30.0),
        "macd_freq_positive": ("macd", ">", 0.0), "uncertainty_freq_low": ("uncertainty_score", "<", 25.0),
        "uncertainty_freq_high": ("uncertainty_score", ">", 75.0), "atr_pct_freq_low": ("atr_pct", "<", 1.0),
        "atr_pct_freq_high": ("atr_pct", ">", 4.0), "vwap_freq_above_3": ("price_vwap_pct", ">", 3.0),
        "vwap_freq_below_neg3": ("price_vwap_pct", "<", -3.0),
        "volume_ratio_freq_high": ("volume_ratio", ">", 2.0), "volume_ratio_freq_low": ("volume_ratio", "<", 0.7),
    }  # fmt: skip


def test_output_shape(indicators):
    out = compute_percentiles(indicators)
    assert list(out.columns) == ["date", *PERCENTILE_COLUMNS]
    assert list(PERCENTILE_COLUMNS) == schemas.data_columns("percentiles")
    assert list(out.index) == list(indicators.index)
    values = out.drop(columns="date").to_numpy()
    assert np.nanmin(values) >= 0 and np.nanmax(values) <= 100


def test_missing_indicator_column_is_refused(indicators):
    with pytest.raises(ValueError, match=r"indicators lacks columns \['macd'\]"):
        compute_percentiles(indicators.drop(columns="macd"))


def test_empty_input_gives_empty_output():
    empty = compute_indicators(random_prices(1, 1)).iloc[:0]
    out = compute_percentiles(empty)
    assert len(out) == 0 and list(out.columns) == ["date", *PERCENTILE_COLUMNS]
    assert isinstance(out, pd.DataFrame)
