"""Input checks shared by the computations: one ticker's rows, sorted by date, numeric and complete."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd


def require(frame: pd.DataFrame, columns: Iterable[str], *, what: str, allow_null: bool = False) -> None:
    """Raise ValueError unless ``frame`` has the columns (numeric, and non-null unless allowed) and a
    strictly ascending ``date`` column."""
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{what} must be a pandas DataFrame, got {type(frame).__name__}")
    needed = ["date", *columns]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} lacks columns {missing}; has {list(frame.columns)}")
    for column in needed[1:]:
        if not pd.api.types.is_numeric_dtype(frame[column]) or pd.api.types.is_bool_dtype(frame[column]):
            raise ValueError(f"{what} column {column!r} must be numeric, has dtype {frame[column].dtype}")
        if not allow_null and frame[column].isna().any():
            row = int(np.flatnonzero(frame[column].isna().to_numpy())[0])
            raise ValueError(f"{what} column {column!r} has a null in row {row}")
    if "ticker" in frame.columns and frame["ticker"].nunique(dropna=False) > 1:
        raise ValueError(
            f"{what} must hold one ticker's rows, has {sorted(map(str, frame['ticker'].unique()))}"
        )
    dates = pd.to_datetime(frame["date"]).to_numpy()
    if len(dates) > 1 and not (dates[1:] > dates[:-1]).all():
        row = int(np.flatnonzero(~(dates[1:] > dates[:-1]))[0]) + 1
        raise ValueError(f"{what} dates must be strictly ascending; row {row} is {frame['date'].iloc[row]!r}")


def values(frame: pd.DataFrame, column: str) -> np.ndarray:
    return frame[column].to_numpy(dtype=np.float64, na_value=np.nan)
