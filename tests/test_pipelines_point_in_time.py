"""Point-in-time: a row uses only rows dated on or before it, so computing on the first k rows gives
exactly the first k rows of computing on all of them (appending later data never changes a row)."""

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
