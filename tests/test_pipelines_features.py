"""Features against a plain per-row loop over their documented definitions."""

import math
import statistics

import numpy as np
import pytest

import schemas
from pipelines.features import FEATURE_COLUMNS, compute_features
from pipelines.indicators import compute_indicators
from tests.fixtures.series import random_prices


@pytest.fixture(scope="module", params=[21, 22])
def inputs(request):
    prices = random_prices(request.param, 400)
    return prices, compute_indicators(prices)


def _pop_z(values, current):
    sigma = statistics.pstdev(values)
    return math.nan if sigma == 0 else (current - statistics.fmean(values)) / sigma


def _reference(prices, indicators):
    o, h, lo, c, v = (prices[k].to_numpy(dtype=float) for k in ("open", "high", "low", "close", "volume"))
    rows = []
    for t in range(len(prices)):
        row = {}
        for k in (1, 5, 20):
            row[f"ret_{k}d"] = math.log(c[t] / c[t - k]) if t >= k else math.nan
        daily = [math.log(c[i] / c[i - 1]) for i in range(t - 19, t + 1)] if t >= 20 else None
        row["vol_20d"] = statistics.stdev(daily) * math.sqrt(252) if daily else math.nan
        row["zscore_close_20"] = _pop_z(c[t - 19 : t + 1], c[t]) if t >= 19 else math.nan
        row["volume_zscore_20"] = _pop_z(v[t - 19 : t + 1], v[t]) if t >= 19 else math.nan
        row["gap_pct"] = (o[t] / c[t - 1] - 1) * 100 if t >= 1 else math.nan
        row["range_pct"] = (h[t] - lo[t]) / c[t] * 100
        first = max(0, t - 251)
        row["dist_52w_high_pct"] = (c[t] / max(h[first : t + 1]) - 1) * 100 if t >= 19 else math.nan
        row["dist_52w_low_pct"] = (c[t] / min(lo[first : t + 1]) - 1) * 100 if t >= 19 else math.nan
        row["rsi_14_norm"] = (indicators["rsi_14"][t] - 50) / 50
        row["macd_hist_norm"] = indicators["macd_hist"][t] / indicators["atr_14"][t]
        rows.append(row)
    return rows


def test_features_match_a_loop_over_the_definitions(inputs):
    prices, indicators = inputs
    out = compute_features(prices, indicators)
    expected = _reference(prices, indicators)
    for name in FEATURE_COLUMNS:
        np.testing.assert_allclose(
            out[name].to_numpy(),
            [r[name] for r in expected],
            rtol=1e-9,
            atol=1e-12,
            equal_nan=True,
            err_msg=name,
        )


def test_output_shape(inputs):
    prices, indicators = inputs
    out = compute_features(prices, indicators)
    assert list(out.columns) == ["date", *FEATURE_COLUMNS]
    assert list(FEATURE_COLUMNS) == schemas.data_columns("features")
    assert len(out) == len(prices)


def test_misaligned_inputs_are_refused(inputs):
    prices, indicators = inputs
    with pytest.raises(ValueError, match="same dates in the same order"):
        compute_features(prices, indicators.iloc[1:])


def test_flat_prices_give_null_zscores_not_infinities():
    prices = random_prices(4, 60, flat_from=20)
    out = compute_features(prices, compute_indicators(prices))
    assert out.loc[45:, "zscore_close_20"].isna().all()
    assert out.loc[45:, "vol_20d"].eq(0).all()
    assert np.isfinite(
        out.drop(columns="date").to_numpy(dtype=float)[
            ~np.isnan(out.drop(columns="date").to_numpy(dtype=float))
        ]
    ).all()
