"""Point-in-time: a row uses only rows dated on or before it, so computing on the first k rows gives
exactly the first k rows of computing on all of them (appending later data never changes a row)."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines import features, indicators, percentiles
from pipelines.features import compute_features
from pipelines.indicators import compute_indicators
from pipelines.percentiles import compute_percentiles
from tests.fixtures.series import random_prices


def _assert_prefix(prefix: pd.DataFrame, full: pd.DataFrame) -> None:
    head = full.iloc[: len(prefix)]
    assert list(prefix["date"]) == list(head["date"])
    for column in prefix.columns.drop("date"):
        a, b = prefix[column].to_numpy(dtype=float), head[column].to_numpy(dtype=float)
        assert np.array_equal(a, b, equal_nan=True), column  # exact, not approximately equal


series = st.builds(
    lambda seed, n, sigma, flat, zero: random_prices(
        seed, n, sigma=sigma, flat_from=flat if flat < n else None,
        zero_volume=(zero, zero + 25) if zero < n else None,
    ),
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 320),
    sigma=st.sampled_from([0.001, 0.02, 0.08]),
    flat=st.integers(0, 600),
    zero=st.integers(0, 600),
)  # fmt: skip


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prices=series, cut=st.floats(0.0, 1.0))
def test_every_dataset_is_point_in_time(prices, cut):
    k = int(round(cut * len(prices)))
    head = prices.iloc[:k]

    full_indicators = compute_indicators(prices)
    head_indicators = compute_indicators(head)
    _assert_prefix(head_indicators, full_indicators)
    _assert_prefix(compute_percentiles(head_indicators), compute_percentiles(full_indicators))
    _assert_prefix(compute_features(head, head_indicators), compute_features(prices, full_indicators))


def _assert_close_tail(window: pd.DataFrame, full: pd.DataFrame, rows: int, rtol: float) -> None:
    a, b = window.iloc[-rows:], full.iloc[-rows:]
    assert list(a["date"]) == list(b["date"])
    for column in a.columns.drop("date"):
        x, y = a[column].to_numpy(dtype=float), b[column].to_numpy(dtype=float)
        assert np.array_equal(np.isnan(x), np.isnan(y)), column
        np.testing.assert_allclose(x, y, rtol=rtol, atol=1e-9, equal_nan=True, err_msg=column)


@pytest.mark.parametrize("seed", [3, 11, 2024])
def test_warmup_sessions_give_the_full_history_values(seed):
    """What an incremental run relies on: the last rows computed from WARMUP_SESSIONS rows before them
    equal the same rows computed from the first session (10 years back), to floating-point noise."""
    prices = random_prices(seed, 2600, sigma=0.03)
    rows = 30
    full_indicators = compute_indicators(prices)

    tail = prices.iloc[-(rows + indicators.WARMUP_SESSIONS) :].reset_index(drop=True)
    _assert_close_tail(compute_indicators(tail), full_indicators, rows, rtol=1e-9)

    start = len(prices) - rows - percentiles.WARMUP_SESSIONS
    window = full_indicators.iloc[start:].reset_index(drop=True)
    _assert_close_tail(compute_percentiles(window), compute_percentiles(full_indicators), rows, rtol=0)

    start = len(prices) - rows - features.WARMUP_SESSIONS
    _assert_close_tail(
        compute_features(
            prices.iloc[start:].reset_index(drop=True), full_indicators.iloc[start:].reset_index(drop=True)
        ),
        compute_features(prices, full_indicators),
        rows,
        rtol=1e-9,
    )


def test_a_shorter_warmup_would_change_the_values():
    """The warm-up is not decorative: 200 sessions leave the exponential recursions off by far more."""
    prices = random_prices(5, 1500, sigma=0.03)
    full = compute_indicators(prices)
    short = compute_indicators(prices.iloc[-230:].reset_index(drop=True))
    a, b = short["rsi_14"].to_numpy()[-30:], full["rsi_14"].to_numpy()[-30:]
    assert np.nanmax(np.abs(a - b)) > 1e-6
