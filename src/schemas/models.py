"""One pandera model per dataset: the one place a column is declared.

Every row has the keys ``ticker`` and ``date``, the dataset's value columns, and the lineage columns
(``source_raw_key``, ``source_raw_version``, ``computation_version``, ``computed_at`` in UTC, ``run_id``).
Value columns are nullable exactly where an indicator's warm-up leaves them empty. ``Config`` is strict
(no other column) and coerces (e.g. a datetime64 ``date`` becomes a calendar date). Arrow and Glue types
are derived from these classes in ``schemas.derive``.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Annotated

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera import dtypes
from pandera.engines import pandas_engine
from pandera.typing import Series

_ZSCORE_BOUND = math.sqrt(19) + 1e-9  # |z| of a value within its own 20-row window (population sigma)


def _all(data_container: pd.Series | None, kind: type) -> bool:
    """Whether every value of an object column is exactly a `kind` (no null, no subclass: a datetime is
    not a date), in one C pass (`map(type, …)` into a set)."""
    return (
        isinstance(data_container, pd.Series)
        and data_container.dtype == object
        and set(map(type, data_container.to_numpy())) <= {kind}
    )


class Text(pandas_engine.NpString):
    """``str``: Python strings in an object column, pandera's ``str`` with its checks done in C.

    pandera checks and coerces a ``str`` column with a Python call per value (70 % of validating a
    10-year frame); the set of the values' types answers "is every value a string?" in one C pass.
    A column that holds anything else takes pandera's own path, so failures name the same rows and values.
    """

    def coerce(self, data_container):
        return data_container if _all(data_container, str) else super().coerce(data_container)

    def check(self, pandera_dtype: dtypes.DataType, data_container: pd.Series | None = None):
        if super().check(pandera_dtype) and _all(data_container, str):
            return True
        return super().check(pandera_dtype, data_container)

    def __str__(self) -> str:
        return "str"


class Day(pandas_engine.Date):
    """A calendar date (``datetime.date`` in an object column), pandera's ``date`` checked and coerced in
    one C pass when every value is already a date (a datetime is not); anything else takes pandera's path."""

    def coerce(self, data_container):
        return data_container if _all(data_container, dt.date) else super().coerce(data_container)

    def check(self, pandera_dtype: dtypes.DataType, data_container: pd.Series | None = None):
        if super().check(pandera_dtype) and _all(data_container, dt.date):
            return True
        return super().check(pandera_dtype, data_container)


def _nullable_floats_ok(frame: pd.DataFrame) -> pd.Series:
    floats = frame.select_dtypes("float")
    return (np.isfinite(floats) | floats.isna()).all(axis=1)


def _ordered(frame: pd.DataFrame, *columns: str) -> pd.Series:
    """column[0] >= column[1] >= ... on each row, ignoring rows where any of them is null."""
    ok = pd.Series(True, index=frame.index)
    for upper, lower in zip(columns, columns[1:], strict=False):
        ok &= (frame[upper] >= frame[lower]) | frame[upper].isna() | frame[lower].isna()
    return ok


class LakeRow(pa.DataFrameModel):
    """Keys and lineage: the columns every processed row carries."""

    ticker: Series[Text] = pa.Field(str_matches=r"^[A-Z0-9^][A-Z0-9.\-=^]{0,23}$", description="Yahoo symbol")
    date: Series[Day] = pa.Field(description="trading date, exchange-local")
    source_raw_key: Series[Text] = pa.Field(str_length={"min_value": 1}, description="raw object key")
    source_raw_version: Series[Text] = pa.Field(description="raw object version id")
    computation_version: Series[Text] = pa.Field(str_length={"min_value": 1})
    computed_at: Series[Annotated[pd.DatetimeTZDtype, "us", "UTC"]] = pa.Field(description="UTC")
    run_id: Series[Text] = pa.Field(str_length={"min_value": 1})

    class Config:
        strict = True
        coerce = True

    @pa.dataframe_check(error="float values must be finite (or null)")
    def floats_are_finite(cls, frame: pd.DataFrame) -> pd.Series:
        return _nullable_floats_ok(frame)


class Prices(LakeRow):
    """Daily OHLCV bars (``adj_close`` adjusted for splits and dividends, Yahoo's convention)."""

    open: Series[float] = pa.Field(gt=0)
    high: Series[float] = pa.Field(gt=0)
    low: Series[float] = pa.Field(gt=0)
    close: Series[float] = pa.Field(gt=0)
    adj_close: Series[float] = pa.Field(gt=0)
    volume: Series[np.int64] = pa.Field(ge=0)

    @pa.dataframe_check(error="high must be >= low")
    def high_at_least_low(cls, frame: pd.DataFrame) -> pd.Series:
        return frame["high"] >= frame["low"]

    @pa.dataframe_check(error="high must be >= max(open, close)")
    def high_at_least_open_close(cls, frame: pd.DataFrame) -> pd.Series:
        return frame["high"] >= frame[["open", "close"]].max(axis=1)

    @pa.dataframe_check(error="low must be <= min(open, close)")
    def low_at_most_open_close(cls, frame: pd.DataFrame) -> pd.Series:
        return frame["low"] <= frame[["open", "close"]].min(axis=1)


class Indicators(LakeRow):
    """TA-Lib indicators and the seed system's derived figures (docs/computations.md)."""

    close: Series[float] = pa.Field(gt=0)
    sma_20: Series[float] = pa.Field(gt=0, nullable=True)
    sma_50: Series[float] = pa.Field(gt=0, nullable=True)
    sma_200: Series[float] = pa.Field(gt=0, nullable=True)
    ema_12: Series[float] = pa.Field(gt=0, nullable=True)
    ema_26: Series[float] = pa.Field(gt=0, nullable=True)
    rsi_14: Series[float] = pa.Field(ge=0, le=100, nullable=True)
    macd: Series[float] = pa.Field(nullable=True)
    macd_signal: Series[float] = pa.Field(nullable=True)
    macd_hist: Series[float] = pa.Field(nullable=True)
    bb_upper: Series[float] = pa.Field(gt=0, nullable=True)
    bb_middle: Series[float] = pa.Field(gt=0, nullable=True)
    bb_lower: Series[float] = pa.Field(nullable=True)
    atr_14: Series[float] = pa.Field(ge=0, nullable=True)
    atr_pct: Series[float] = pa.Field(ge=0, nullable=True)
    vwap_20: Series[float] = pa.Field(gt=0, nullable=True)
    price_vwap_pct: Series[float] = pa.Field(gt=-100, nullable=True)
    volume_sma_20: Series[float] = pa.Field(ge=0, nullable=True)
    volume_ratio: Series[float] = pa.Field(ge=0, nullable=True)
    uncertainty_score: Series[float] = pa.Field(ge=0, le=100, nullable=True)

    @pa.dataframe_check(error="bollinger bands must satisfy bb_upper >= bb_middle >= bb_lower")
    def bands_ordered(cls, frame: pd.DataFrame) -> pd.Series:
        return _ordered(frame, "bb_upper", "bb_middle", "bb_lower")


def _pct(**kwargs: object) -> object:
    return pa.Field(ge=0, le=100, nullable=True, **kwargs)


class Percentiles(LakeRow):
    """Trailing-252-session percentile ranks and frequencies, all in [0, 100]."""

    rsi_14_percentile: Series[float] = _pct()
    macd_percentile: Series[float] = _pct()
    uncertainty_score_percentile: Series[float] = _pct()
    atr_pct_percentile: Series[float] = _pct()
    price_vwap_pct_percentile: Series[float] = _pct()
    volume_ratio_percentile: Series[float] = _pct()
    sma_20_dev_pct_percentile: Series[float] = _pct()
    sma_50_dev_pct_percentile: Series[float] = _pct()
    sma_200_dev_pct_percentile: Series[float] = _pct()
    rsi_freq_above_70: Series[float] = _pct()
    rsi_freq_below_30: Series[float] = _pct()
    macd_freq_positive: Series[float] = _pct()
    uncertainty_freq_low: Series[float] = _pct()
    uncertainty_freq_high: Series[float] = _pct()
    atr_pct_freq_low: Series[float] = _pct()
    atr_pct_freq_high: Series[float] = _pct()
    vwap_freq_above_3: Series[float] = _pct()
    vwap_freq_below_neg3: Series[float] = _pct()
    volume_ratio_freq_high: Series[float] = _pct()
    volume_ratio_freq_low: Series[float] = _pct()


class Features(LakeRow):
    """Model-ready features (pipelines/features.py documents each)."""

    ret_1d: Series[float] = pa.Field(nullable=True)
    ret_5d: Series[float] = pa.Field(nullable=True)
    ret_20d: Series[float] = pa.Field(nullable=True)
    vol_20d: Series[float] = pa.Field(ge=0, nullable=True)
    zscore_close_20: Series[float] = pa.Field(ge=-_ZSCORE_BOUND, le=_ZSCORE_BOUND, nullable=True)
    volume_zscore_20: Series[float] = pa.Field(ge=-_ZSCORE_BOUND, le=_ZSCORE_BOUND, nullable=True)
    gap_pct: Series[float] = pa.Field(gt=-100, nullable=True)
    range_pct: Series[float] = pa.Field(ge=0, nullable=True)
    dist_52w_high_pct: Series[float] = pa.Field(gt=-100, le=0, nullable=True)
    dist_52w_low_pct: Series[float] = pa.Field(ge=0, nullable=True)
    rsi_14_norm: Series[float] = pa.Field(ge=-1, le=1, nullable=True)
    macd_hist_norm: Series[float] = pa.Field(nullable=True)


MODELS: dict[str, type[LakeRow]] = {
    "prices": Prices,
    "indicators": Indicators,
    "percentiles": Percentiles,
    "features": Features,
}
