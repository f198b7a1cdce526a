"""The domain's value types and their validation: ticker, date, month and dataset names.

The bottom of the package layers (shared/DESIGN.md): the lake builds keys from these values, the pipelines
and the SQL engine build queries from them, and every layer refuses a bad value with the same error naming
it. Light on purpose (no pandas, no pandera): the Lambda and the command line import it first.

The errors are the project's base classes, re-exported by ``lake.exceptions`` (where ``LakeError`` is
``TickerlakeError``): ``InvalidTicker``, ``InvalidDate`` and ``InvalidDataset`` are ``InvalidArgumentValue``s,
which are ``ValueError``s.
"""

import datetime as dt
import re

__all__ = [
    "DATASETS",
    "InvalidArgumentValue",
    "InvalidDataset",
    "InvalidDate",
    "InvalidTicker",
    "TickerlakeError",
    "month_bounds",
    "month_of",
    "months_between",
    "validate_dataset",
    "validate_date",
    "validate_month",
    "validate_ticker",
]


class TickerlakeError(Exception):
    """Base class of every error the project raises on purpose (``lake.exceptions.LakeError``)."""


class InvalidArgumentValue(TickerlakeError, ValueError):
    """An argument (ticker, date, dataset, URI, ...) was refused before it reached a key or a query."""


class InvalidTicker(InvalidArgumentValue):
    """A ticker that does not match the strict ticker pattern."""


class InvalidDate(InvalidArgumentValue):
    """A date (or month) that is not a real calendar date written as YYYY-MM-DD (YYYY-MM)."""


class InvalidDataset(InvalidArgumentValue):
    """A dataset name that is not one of the lake's datasets."""


DATASETS: tuple[str, ...] = ("prices", "indicators", "percentiles", "features")

# Yahoo symbols: letters, digits and . - ^ = (D05.SI, BRK-B, ^GSPC, EURUSD=X); DR symbols: DBS19.
_TICKER_RE = re.compile(r"[A-Z0-9^][A-Z0-9.\-=^]{0,23}")
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_MONTH_RE = re.compile(r"\d{4}-(0[1-9]|1[0-2])")
_MAX_SHOWN = 40


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_SHOWN else text[:_MAX_SHOWN] + f"... ({len(str(value))} characters)"


def validate_ticker(ticker: object) -> str:
    """Return the ticker if it is safe in a key and a query; raise InvalidTicker naming it otherwise.

    Uppercase letters, digits and . - = ^ only, 1 to 24 characters, no '..'. Lowercase is refused rather
    than silently changed, so a key is never built from a value the caller did not give.
    """
    if not isinstance(ticker, str) or not _TICKER_RE.fullmatch(ticker) or ".." in ticker:
        raise InvalidTicker(
            f"ticker {_shown(ticker)} is not valid: expected 1-24 characters of A-Z, 0-9, '.', '-', '=', '^' "
            "(e.g. 'D05.SI', 'NVDA')"
        )
    return ticker


def validate_date(date: object) -> str:
    """Return the date as 'YYYY-MM-DD'; accepts a datetime.date or such a string; raises InvalidDate."""
    if isinstance(date, dt.datetime):
        try:
            date = date.date()
        except ValueError:  # pandas' NaT is a datetime that has no date
            raise InvalidDate(
                f"date {_shown(date)} is not valid: expected a calendar date as YYYY-MM-DD"
            ) from None
    if isinstance(date, dt.date):
        return date.isoformat()
    if isinstance(date, str) and _DATE_RE.fullmatch(date):
        try:
            dt.date.fromisoformat(date)
            return date
        except ValueError:
            pass
    raise InvalidDate(f"date {_shown(date)} is not valid: expected a calendar date as YYYY-MM-DD")


def validate_month(month: object) -> str:
    """A 'YYYY-MM' month, or InvalidDate naming the value."""
    if not isinstance(month, str) or not _MONTH_RE.fullmatch(month):
        raise InvalidDate(f"month {_shown(month)} is not valid: expected YYYY-MM")
    return month


def validate_dataset(dataset: object) -> str:
    if dataset not in DATASETS:
        raise InvalidDataset(f"dataset {_shown(dataset)} is not valid: expected one of {', '.join(DATASETS)}")
    return dataset  # type: ignore[return-value]


def month_of(date: object) -> str:
    """The 'YYYY-MM' month of a date."""
    return validate_date(date)[:7]


def month_bounds(month: str) -> tuple[str, str]:
    """The first and last calendar dates of a month, as 'YYYY-MM-DD'."""
    first = dt.date.fromisoformat(validate_month(month) + "-01")
    following = (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return first.isoformat(), (following - dt.timedelta(days=1)).isoformat()


def months_between(start: object, end: object) -> list[str]:
    """Every month from the month of `start` to the month of `end`, inclusive, in order."""
    first, last = month_of(start), month_of(end)
    if first > last:
        raise InvalidDate(f"start {validate_date(start)} is after end {validate_date(end)}")
    months = []
    year, month = int(first[:4]), int(first[5:])
    while f"{year:04d}-{month:02d}" <= last:
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months
