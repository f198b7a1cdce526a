"""Indicators against independent references: TA-Lib, hand-worked cases and plain loops."""

import math

import numpy as np
import pandas as pd
import pytest
import talib

import schemas
from pipelines.indicators import INDICATOR_COLUMNS, compute_indicators, ema, rsi
from tests.fixtures.series import random_prices

SEEDS = [1, 7, 42]


def _same_nans_and_close(actual, expected, rtol=1e-10, atol=0.0):
    actual, expected = np.asarray(actual, dtype=float), np.asarray(expected, dtype=float)
    np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected))
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol, equal_nan=True)


@pytest.fixture(scope="module", params=SEEDS)
def prices(request):
    return random_prices(request.param, 700)


@pytest.fixture(scope="module")
def result(prices):
    return compute_indicators(prices)


def _arrays(prices):
    return (prices[c].to_numpy(dtype=float) for c in ("open", "high", "low", "close", "volume"))


# -- TA-Lib -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("period", [20, 50, 200])
def test_sma_matches_talib(prices, result, period):
    _same_nans_and_close(result[f"sma_{period}"], talib.SMA(prices["close"].to_numpy(), period))


@pytest.mark.parametrize("period", [12, 26])
def test_ema_matches_talib(prices, result, period):
    _same_nans_and_close(result[f"ema_{period}"], talib.EMA(prices["close"].to_numpy(), period))


def test_rsi_matches_talib(prices, result):
    _same_nans_and_close(result["rsi_14"], talib.RSI(prices["close"].to_numpy(), 14))


def test_macd_matches_talib(prices, result):
    line, signal, hist = talib.MACD(prices["close"].to_numpy(), 12, 26, 9)
    scale = prices["close"].abs().max()
    for column, expected in (("macd", line), ("macd_signal", signal), ("macd_hist", hist)):
        _same_nans_and_close(result[column], expected, rtol=1e-8, atol=1e-10 * scale)


def test_bollinger_matches_talib_with_population_sigma(prices, result):
    upper, middle, lower = talib.BBANDS(prices["close"].to_numpy(), 20, 2.0, 2.0, 0)
    for column, expected in (("bb_upper", upper), ("bb_middle", middle), ("bb_lower", lower)):
        _same_nans_and_close(result[column], expected, rtol=1e-9)


def test_atr_matches_talib(prices, result):
    _, high, low, close, _ = _arrays(prices)
    _same_nans_and_close(result["atr_14"], talib.ATR(high, low, close, 14))


# -- hand-worked ------------------------------------------------------------------------------------


def test_rsi_worked_by_hand_on_16_closes():
    # Wilder's classic example. Changes 1..14 give gains 3.34 and losses 1.40 in total, so at row 14
    # RSI = 100 * (3.34/14) / (3.34/14 + 1.40/14) = 100 * 3.34 / 4.74.
    # Row 15 falls 0.28: gain = 3.34/14 * 13/14 = 43.42/196, loss = (1.40/14 * 13 + 0.28)/14 = 22.12/196,
    # RSI = 100 * 43.42 / 65.54.
    closes = np.array([44.34, 44.09, 44.15, 43.61, 44.33, 44.83, 45.10, 45.42, 45.84, 46.08, 45.89, 46.03,
                       45.61, 46.28, 46.28, 46.00])  # fmt: skip
    values = rsi(closes)
    assert np.isnan(values[:14]).all()
    assert values[14] == pytest.approx(100 * 3.34 / 4.74, rel=1e-12)
    assert values[15] == pytest.approx(100 * 43.42 / 65.54, rel=1e-12)


def test_ema_worked_by_hand():
    # EMA(3): seeded at row 2 with mean(1, 2, 3) = 2; k = 2/(3+1) = 0.5: 2 + 0.5*(4-2) = 3; 3 + 0.5*(5-3) = 4.
    np.testing.assert_array_equal(ema(np.array([1.0, 2, 3, 4, 5]), 3), [np.nan, np.nan, 2.0, 3.0, 4.0])


def test_rsi_of_a_flat_series_is_neutral():
    # Documented deviation: TA-Lib answers 0 when nothing moved; a flat market is neither over-bought nor sold.
    assert rsi(np.full(20, 10.0))[14:].tolist() == [50.0] * 6


def test_macd_starts_where_talib_does():
    out = compute_indicators(random_prices(3, 40))
    assert out["macd"].isna().sum() == out["macd_signal"].isna().sum() == out["macd_hist"].isna().sum() == 33


# -- loop references -------------------------------------------------------------------------------


def test_vwap_and_volume_figures_match_a_loop(prices, result):
    _, high, low, close, volume = _arrays(prices)
    for t in range(len(prices)):
        if t < 19:
            assert math.isnan(result["vwap_20"][t]) and math.isnan(result["volume_sma_20"][t])
            continue
        window = range(t - 19, t + 1)
        traded = sum((high[i] + low[i] + close[i]) / 3 * volume[i] for i in window)
        shares = sum(volume[i] for i in window)
        vwap = traded / shares
        assert result["vwap_20"][t] == pytest.approx(vwap, rel=1e-11)
        assert result["price_vwap_pct"][t] == pytest.approx((close[t] / vwap - 1) * 100, rel=1e-9, abs=1e-9)
        assert result["volume_sma_20"][t] == pytest.approx(shares / 20, rel=1e-11)
        assert result["volume_ratio"][t] == pytest.approx(volume[t] / (shares / 20), rel=1e-11)


def test_atr_pct_is_atr_over_close(prices, result):
    expected = result["atr_14"] / prices["close"] * 100
    _same_nans_and_close(result["atr_pct"], expected, rtol=1e-14)


def test_uncertainty_score_matches_its_documented_formula(prices, result):
    _, high, low, close, volume = _arrays(prices)
    upper, middle, lower = talib.BBANDS(close, 20, 2.0, 2.0, 0)
    atr_pct = talib.ATR(high, low, close, 14) / close * 100
    for t in range(len(prices)):
        score = result["uncertainty_score"][t]
        if t < 19:
            assert math.isnan(score)
            continue
        bandwidth = (upper[t] - lower[t]) / middle[t] * 100
        volume_ratio = volume[t] / volume[t - 19 : t + 1].mean()
        vwap = (
            sum((high[i] + low[i] + close[i]) / 3 * volume[i] for i in range(t - 19, t + 1))
            / volume[t - 19 : t + 1].sum()
        )
        distance = abs(close[t] / vwap - 1) * 100
        expected = 100 * (
            0.35 * min(atr_pct[t] / 6, 1)
            + 0.25 * min(bandwidth / 25, 1)
            + 0.20 * min(max((volume_ratio - 1) / 2, 0), 1)
            + 0.20 * min(distance / 8, 1)
        )
        assert score == pytest.approx(expected, rel=1e-8)
        assert 0 <= score <= 100


def test_window_without_volume_leaves_vwap_and_ratio_null_but_scores():
    out = compute_indicators(random_prices(5, 80, zero_volume=(30, 60)))
    assert out.loc[49:59, "vwap_20"].isna().all() and out.loc[49:59, "volume_ratio"].isna().all()
    assert out.loc[49:59, "uncertainty_score"].notna().all()


# -- shape and input ------------------------------------------------------------------------------


def test_output_has_one_row_per_input_row_in_order(prices, result):
    shuffled_index = prices.set_axis(np.arange(len(prices))[::-1] + 100)
    out = compute_indicators(shuffled_index)
    assert list(out.index) == list(shuffled_index.index)
    assert list(out["date"]) == list(prices["date"])
    assert list(out.columns) == ["date", *INDICATOR_COLUMNS]
    assert list(INDICATOR_COLUMNS) == schemas.data_columns("indicators")


def test_warm_up_nulls_end_where_documented(result):
    first_valid = {c: int(result[c].first_valid_index()) for c in INDICATOR_COLUMNS}
    assert first_valid == {
        "close": 0, "sma_20": 19, "sma_50": 49, "sma_200": 199, "ema_12": 11, "ema_26": 25, "rsi_14": 14,
        "macd": 33, "macd_signal": 33, "macd_hist": 33, "bb_upper": 19, "bb_middle": 19, "bb_lower": 19,
        "atr_14": 14, "atr_pct": 14, "vwap_20": 19, "price_vwap_pct": 19, "volume_sma_20": 19,
        "volume_ratio": 19, "uncertainty_score": 19,
    }  # fmt: skip


def test_short_history_gives_nulls_not_errors():
    out = compute_indicators(random_prices(9, 5))
    assert len(out) == 5 and out["sma_20"].isna().all() and out["macd"].isna().all()


def test_unsorted_dates_are_refused():
    prices = random_prices(1, 30).iloc[::-1]
    with pytest.raises(ValueError, match="dates must be strictly ascending; row 1"):
        compute_indicators(prices)


def test_missing_column_is_refused():
    with pytest.raises(ValueError, match=r"prices lacks columns \['volume'\]"):
        compute_indicators(random_prices(1, 30).drop(columns="volume"))


def test_null_close_is_refused():
    prices = random_prices(1, 30)
    prices.loc[7, "close"] = np.nan
    with pytest.raises(ValueError, match="prices column 'close' has a null in row 7"):
        compute_indicators(prices)


def test_rows_of_two_tickers_are_refused():
    prices = random_prices(1, 30)
    prices.loc[3, "ticker"] = "OTHER"
    with pytest.raises(ValueError, match="one ticker's rows"):
        compute_indicators(prices)


def test_dates_as_timestamps_work_too():
    prices = random_prices(2, 60)
    as_timestamps = prices.assign(date=pd.to_datetime(prices["date"]))
    out = compute_indicators(as_timestamps)
    pd.testing.assert_frame_equal(out.drop(columns="date"), compute_indicators(prices).drop(columns="date"))
