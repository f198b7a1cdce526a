"""Exchanges and their trading calendars, chosen from a Yahoo symbol's suffix.

``trading_days(symbol, start, end)`` lists the sessions of the symbol's market (it builds the Dagster date
partitions). Calendars come from ``exchange_calendars`` and are built once per process (building one takes
a few tenths of a second). Where no calendar applies the sessions are the weekdays:

- markets ``exchange_calendars`` does not cover (Vietnam: HOSE/HNX, no ``XHOS`` calendar exists), FX;
- dates outside the calendar's bounds (before 2000-01-03, after ``RULES_END`` (2035-12-31), or after the
  last year whose holidays the calendar records, e.g. XSES ends with 2026).
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass
from functools import cache, lru_cache

import numpy as np
import pandas as pd

from lake.layout import validate_ticker

#: The first day every calendar (and the sample source) covers.
CALENDAR_EPOCH = dt.date(2000, 1, 3)


@dataclass(frozen=True)
class Exchange:
    """A market as the pipelines need it: its calendar, currency, time zone and price precision."""

    code: str  # short name shown in reports: SGX, HKEX, TSE, ...
    name: str
    calendar: str | None  # exchange_calendars name; None: weekdays
    currency: str | None
    timezone: str
    price_decimals: int = 2  # precision the sample source quotes prices at
    price_step: float = 0.0  # minimum price step of the sample source (0: 10**-decimals)


US = Exchange("US", "NYSE / Nasdaq", "XNYS", "USD", "America/New_York")
_SUFFIXES: dict[str, Exchange] = {
    "SI": Exchange("SGX", "Singapore Exchange", "XSES", "SGD", "Asia/Singapore", 3),
    "HK": Exchange("HKEX", "Hong Kong Exchanges", "XHKG", "HKD", "Asia/Hong_Kong", 2),
    "T": Exchange("TSE", "Tokyo Stock Exchange", "XTKS", "JPY", "Asia/Tokyo", 1),
    "TW": Exchange("TWSE", "Taiwan Stock Exchange", "XTAI", "TWD", "Asia/Taipei", 2),
    "TWO": Exchange("TPEx", "Taipei Exchange", "XTAI", "TWD", "Asia/Taipei", 2),
    "VN": Exchange("HOSE", "Ho Chi Minh Stock Exchange", None, "VND", "Asia/Ho_Chi_Minh", 0, 100.0),
    "HM": Exchange("HOSE", "Ho Chi Minh Stock Exchange", None, "VND", "Asia/Ho_Chi_Minh", 0, 100.0),
    "HN": Exchange("HNX", "Hanoi Stock Exchange", None, "VND", "Asia/Ho_Chi_Minh", 0, 100.0),
    "KS": Exchange("KRX", "Korea Exchange", "XKRX", "KRW", "Asia/Seoul", 0),
    "KQ": Exchange("KOSDAQ", "Korea Exchange (KOSDAQ)", "XKRX", "KRW", "Asia/Seoul", 0),
    "BK": Exchange("SET", "Stock Exchange of Thailand", "XBKK", "THB", "Asia/Bangkok", 2),
    "KL": Exchange("Bursa", "Bursa Malaysia", "XKLS", "MYR", "Asia/Kuala_Lumpur", 3),
    "JK": Exchange("IDX", "Indonesia Stock Exchange", "XIDX", "IDR", "Asia/Jakarta", 0),
    "SS": Exchange("SSE", "Shanghai Stock Exchange", "XSHG", "CNY", "Asia/Shanghai", 2),
    "SZ": Exchange("SZSE", "Shenzhen Stock Exchange", "XSHG", "CNY", "Asia/Shanghai", 2),
    "NS": Exchange("NSE", "National Stock Exchange of India", "XBOM", "INR", "Asia/Kolkata", 2),
    "BO": Exchange("BSE", "BSE India", "XBOM", "INR", "Asia/Kolkata", 2),
    "AX": Exchange("ASX", "Australian Securities Exchange", "XASX", "AUD", "Australia/Sydney", 2),
    "L": Exchange("LSE", "London Stock Exchange", "XLON", "GBp", "Europe/London", 1),
    "DE": Exchange("XETRA", "Deutsche Boerse XETRA", "XETR", "EUR", "Europe/Berlin", 2),
    "PA": Exchange("EPA", "Euronext Paris", "XPAR", "EUR", "Europe/Paris", 2),
    "TO": Exchange("TSX", "Toronto Stock Exchange", "XTSE", "CAD", "America/Toronto", 2),
}
_FX = Exchange("FX", "Foreign exchange", None, None, "UTC", 4)


def exchange_for(symbol: str) -> Exchange:
    """The market of a Yahoo symbol: by suffix (``D05.SI`` -> SGX), plain symbols are US listings."""
    symbol = validate_ticker(symbol)
    if symbol.endswith("=X"):
        return _FX
    if "." not in symbol.lstrip("^"):
        return US
    suffix = symbol.rsplit(".", 1)[1]
    try:
        return _SUFFIXES[suffix]
    except KeyError:
        raise ValueError(
            f"symbol {symbol!r} has an unknown market suffix {suffix!r}: expected one of "
            f"{', '.join('.' + s for s in sorted(_SUFFIXES))} or none (US)"
        ) from None


@dataclass(frozen=True)
class _Sessions:
    sessions: np.ndarray  # datetime64[D], sorted
    covered_from: np.datetime64  # days in [covered_from, covered_to] follow the calendar
    covered_to: np.datetime64


#: Holiday rules are evaluated up to this date (or the calendar's own bound, if earlier).
RULES_END = dt.date(2035, 12, 31)
_lock = threading.Lock()


def _sessions_from_rules(calendar: str) -> _Sessions:
    """The sessions from the calendar's holiday rules alone: what ``ExchangeCalendar.sessions`` holds, at a
    tenth of the cost of building the calendar (which also computes every open, close and break time).

    Reads the calendar class's ``regular_holidays``, ``adhoc_holidays``, ``special_weekmasks`` (e.g.
    XBOM's Saturday sessions) and ``weekmask`` (constant properties) on an instance that skipped ``__init__``; ``_calendar_sessions`` falls back to building the
    calendar if that fails, and tests prove both give the same sessions.
    """
    from exchange_calendars.calendar_utils import _default_calendar_factories

    cls = _default_calendar_factories[calendar]
    shell = cls.__new__(cls)
    start = pd.Timestamp(CALENDAR_EPOCH)
    end = pd.Timestamp(RULES_END)
    bound = cls.bound_max() if hasattr(cls, "bound_max") else None
    if bound is not None:
        end = min(end, pd.Timestamp(bound))
    holidays = []
    if shell.regular_holidays is not None:
        holidays.append(shell.regular_holidays.holidays(start, end))
    holidays.append(pd.DatetimeIndex(list(shell.adhoc_holidays)))
    closed = np.concatenate(
        [h.normalize().values.astype("datetime64[D]") for h in holidays if len(h)] or [[]]
    )
    days = np.arange(np.datetime64(start, "D"), np.datetime64(end, "D") + 1, dtype="datetime64[D]")
    workdays = np.is_busday(days, weekmask=shell.weekmask)
    for first, last, weekmask in getattr(shell, "special_weekmasks", None) or []:
        span = np.ones(len(days), dtype=bool)
        if first is not None:
            span &= days >= np.datetime64(pd.Timestamp(first).date(), "D")
        if last is not None:
            span &= days <= np.datetime64(pd.Timestamp(last).date(), "D")
        workdays[span] = np.is_busday(days[span], weekmask=weekmask)
    open_days = workdays & ~np.isin(days, closed.astype("datetime64[D]"))
    return _Sessions(days[open_days], days[0], days[-1])


def _sessions_from_calendar(calendar: str) -> _Sessions:
    import exchange_calendars as xc

    cal = xc.get_calendar(calendar, start=CALENDAR_EPOCH.isoformat())
    sessions = cal.sessions.values.astype("datetime64[D]")
    return _Sessions(sessions, np.datetime64(CALENDAR_EPOCH, "D"), sessions[-1])


@cache
def _calendar_sessions(calendar: str) -> _Sessions:
    with _lock:
        try:
            return _sessions_from_rules(calendar)
        except Exception:  # noqa: BLE001 - any change in the library's internals: take the slow, public way
            return _sessions_from_calendar(calendar)


def session_mask(exchange: Exchange, days: np.ndarray) -> np.ndarray:
    """For each day (datetime64[D]), whether it is a session of the exchange (weekdays where no calendar)."""
    days = np.asarray(days, dtype="datetime64[D]")
    weekdays = np.is_busday(days)
    if exchange.calendar is None:
        return weekdays
    cal = _calendar_sessions(exchange.calendar)
    covered = (days >= cal.covered_from) & (days <= cal.covered_to)
    return np.where(covered, np.isin(days, cal.sessions), weekdays)


def _as_date(value: dt.date | str, name: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise ValueError(f"{name} {value!r} is not a date: expected a datetime.date or 'YYYY-MM-DD'")


def date_range(start: dt.date | str, end: dt.date | str) -> tuple[dt.date, dt.date]:
    """Validated (start, end) dates, start <= end."""
    start_d, end_d = _as_date(start, "start"), _as_date(end, "end")
    if start_d > end_d:
        raise ValueError(f"start {start_d.isoformat()} is after end {end_d.isoformat()}")
    return start_d, end_d


def trading_days(symbol: str, start: dt.date | str, end: dt.date | str) -> list[dt.date]:
    """The sessions of ``symbol``'s market (a Yahoo or DR symbol) in [start, end] (inclusive), oldest first.

    Examples
    --------
    >>> trading_days("NVDA", "2025-12-24", "2025-12-29")
    [datetime.date(2025, 12, 24), datetime.date(2025, 12, 26), datetime.date(2025, 12, 29)]
    """
    return list(_sessions_between(*_market_range(symbol, start, end)))


def session_days(symbol: str, start: dt.date | str, end: dt.date | str) -> np.ndarray:
    """`trading_days` as a read-only sorted ``datetime64[D]`` array, shared by every symbol of the same
    market and range (a completeness check over 500 tickers builds 5 arrays, not 500)."""
    return _session_array(*_market_range(symbol, start, end))


def _market_range(symbol: str, start: dt.date | str, end: dt.date | str) -> tuple[Exchange, dt.date, dt.date]:
    from pipelines.sources.universe import (
        load_universe,
    )  # DR symbols (DBS19) trade where their Yahoo symbol does

    start_d, end_d = date_range(start, end)
    return exchange_for(load_universe().yahoo_symbol(symbol)), start_d, end_d


@lru_cache(maxsize=1024)
def _session_array(exchange: Exchange, start_d: dt.date, end_d: dt.date) -> np.ndarray:
    """The exchange's sessions in [start, end]: computed once per exchange and range (a check asks it for
    each of hundreds of tickers that share a few exchanges)."""
    days = np.arange(np.datetime64(start_d, "D"), np.datetime64(end_d, "D") + 1, dtype="datetime64[D]")
    days = days[session_mask(exchange, days)]
    days.flags.writeable = False
    return days


@lru_cache(maxsize=4096)
def _sessions_between(exchange: Exchange, start_d: dt.date, end_d: dt.date) -> tuple[dt.date, ...]:
    """`_session_array` as dates (what `trading_days` hands out)."""
    return tuple(d.date() for d in pd.DatetimeIndex(_session_array(exchange, start_d, end_d)))
