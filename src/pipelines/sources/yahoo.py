"""The live Yahoo Finance source, through ``yfinance``.

``fetch(symbol, start, end)`` makes ONE history request for the whole range (daily bars, unadjusted OHLC
plus ``Adj Close``, dividends and splits: ``auto_adjust=False, actions=True``) and one ``info`` request for
the company facts, and returns ONE envelope holding every bar Yahoo returned for the range (its ``as_of``
the last bar's date; ``request`` records the range asked for), or an empty list for a range of holidays.
Facts are Yahoo's *current* snapshot (Yahoo has no point-in-time facts); when only the facts request fails,
the envelope still carries the bars and ``payload.facts_error`` says why.

Errors become ``SourceError`` naming the symbol and the range, with ``transient`` set when trying again
may help (network, rate limit). Retrying with backoff is the orchestrator's job, never this module's.

The network library is reached only through ``ticker_factory`` (``yfinance.Ticker`` by default), so tests
pass a fake built from recorded payloads.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import pandas as pd

from pipelines.exceptions import SourceError
from pipelines.sources.calendars import date_range, trading_days
from pipelines.sources.envelope import HistoryRow, RawEnvelope, json_number, make_envelope
from pipelines.sources.universe import Universe, load_universe, normalize_text

# yfinance `info` key -> envelope fact (first present wins).
_FACT_KEYS: dict[str, tuple[str, ...]] = {
    "name": ("longName", "shortName", "displayName"),
    "currency": ("currency",),
    "exchange": ("exchange",),
    "exchange_name": ("fullExchangeName", "exchange"),
    "quote_type": ("quoteType",),
    "sector": ("sector",),
    "industry": ("industry",),
    "market_cap": ("marketCap",),
    "shares_outstanding": ("sharesOutstanding",),
    "pe_ratio": ("trailingPE",),
    "forward_pe": ("forwardPE",),
    "eps": ("trailingEps", "epsTrailingTwelveMonths"),
    "dividend_yield": ("dividendYield",),  # percent, as yfinance >= 0.2.54 reports it
    "beta": ("beta",),
    "fifty_two_week_high": ("fiftyTwoWeekHigh",),
    "fifty_two_week_low": ("fiftyTwoWeekLow",),
    "timezone": ("exchangeTimezoneName",),
}
_TEXT_FACTS = {
    "name",
    "currency",
    "exchange",
    "exchange_name",
    "quote_type",
    "sector",
    "industry",
    "timezone",
}
_TRANSIENT_NAMES = ("RateLimit", "Timeout", "Connection", "HTTPError", "SSLError", "ChunkedEncoding")
_NO_DATA_NAMES = ("PricesMissing", "TickerMissing")


class TickerLike(Protocol):
    """The part of ``yfinance.Ticker`` the source uses."""

    def history(self, **kwargs: Any) -> pd.DataFrame: ...

    @property
    def info(self) -> Mapping[str, Any]: ...


def _default_factory(symbol: str) -> TickerLike:
    import yfinance  # the network library, imported only when the live source is used

    return yfinance.Ticker(symbol)


def _class_names(exc: BaseException) -> str:
    return " ".join(cls.__name__ for cls in type(exc).__mro__)


def _is_transient(exc: BaseException) -> bool:
    names = _class_names(exc)
    return isinstance(exc, TimeoutError | ConnectionError) or any(n in names for n in _TRANSIENT_NAMES)


def _is_no_data(exc: BaseException) -> bool:
    return any(n in _class_names(exc) for n in _NO_DATA_NAMES)


def _facts(info: Mapping[str, Any]) -> dict[str, Any]:
    facts: dict[str, Any] = {}
    for fact, keys in _FACT_KEYS.items():
        value = next((info[k] for k in keys if info.get(k) not in (None, "")), None)
        if fact in _TEXT_FACTS:
            facts[fact] = str(value) if value is not None else None
        else:
            facts[fact] = json_number(value)
    return facts


def _history_rows(frame: pd.DataFrame, start: dt.date, end: dt.date) -> list[HistoryRow]:
    """Rows of a yfinance history frame in [start, end]; the date is the bar's exchange-local date."""
    if not isinstance(frame.index, pd.DatetimeIndex):
        raise TypeError(f"history index is {type(frame.index).__name__}, expected a DatetimeIndex")
    missing = [c for c in ("Open", "High", "Low", "Close", "Volume") if c not in frame.columns]
    if missing:
        raise KeyError(f"history lacks columns {missing}; has {list(frame.columns)}")
    rows: list[HistoryRow] = []
    # The index is midnight in the exchange's time zone: its calendar date is the trading date (no UTC shift).
    for stamp, record in zip(frame.index, frame.to_dict("records"), strict=True):
        day = stamp.date()
        if not start <= day <= end:
            continue
        rows.append(
            {
                "date": day.isoformat(),
                "open": json_number(record.get("Open")),
                "high": json_number(record.get("High")),
                "low": json_number(record.get("Low")),
                "close": json_number(record.get("Close")),
                "adj_close": json_number(record.get("Adj Close", record.get("Close"))),
                "volume": _whole(json_number(record.get("Volume"))),
                "dividends": json_number(record.get("Dividends")) or 0.0,
                "splits": json_number(record.get("Stock Splits")) or 0.0,
            }
        )
    return rows


def _whole(value: float | int | None) -> float | int | None:
    """Volumes arrive as floats when a column holds NaN; whole ones are stored as integers."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class YahooSource:
    """Daily bars and company facts from Yahoo Finance (``source: "yfinance"``).

    Parameters
    ----------
    ticker_factory:
        ``symbol -> Ticker-like`` with ``history(**kwargs)`` and ``info``; ``yfinance.Ticker`` by default.
    universe:
        Resolves DR symbols (``DBS19`` -> ``D05.SI``); the bundled universe by default.
    clock:
        Returns the current UTC time, recorded as ``fetched_at``.
    timeout:
        Seconds yfinance waits for Yahoo.
    """

    name = "yahoo"
    source_tag = "yfinance"

    def __init__(
        self,
        *,
        ticker_factory: Callable[[str], TickerLike] = _default_factory,
        universe: Universe | None = None,
        clock: Callable[[], dt.datetime] = _utc_now,
        timeout: float = 30.0,
    ) -> None:
        self.ticker_factory = ticker_factory
        self.universe = universe or load_universe()
        self.clock = clock
        self.timeout = timeout

    def fetch(self, symbol: str, start: dt.date | str, end: dt.date | str) -> list[RawEnvelope]:
        """One fetch: a list holding one envelope with every bar Yahoo has in [start, end] (inclusive),
        its `as_of` the last bar's date; an empty list for a range of holidays.

        Raises
        ------
        SourceError
            Yahoo failed or returned no bar although the range holds trading days.
        """
        asked = normalize_text(symbol)
        yahoo = self.universe.yahoo_symbol(asked)
        start_d, end_d = date_range(start, end)
        span = f"{yahoo} from {start_d.isoformat()} to {end_d.isoformat()}"
        request = {
            "start": start_d.isoformat(),
            "end": end_d.isoformat(),
            "interval": "1d",
            "auto_adjust": False,
            "actions": True,
        }
        fetched_at = self.clock()
        try:
            ticker = self.ticker_factory(yahoo)
            frame = ticker.history(
                start=start_d.isoformat(),
                end=(end_d + dt.timedelta(days=1)).isoformat(),  # yfinance's end is exclusive
                interval="1d",
                auto_adjust=False,
                actions=True,
                timeout=self.timeout,
                raise_errors=True,
            )
            rows = _history_rows(frame, start_d, end_d) if frame is not None else []
        except Exception as exc:  # noqa: BLE001 - every failure of the library becomes one clear error
            if _is_no_data(exc) and not trading_days(yahoo, start_d, end_d):
                return []  # yfinance raises for a range of holidays: nothing was there to fetch
            raise SourceError(
                f"Yahoo history request failed for {span}: {type(exc).__name__}: {exc}",
                symbol=yahoo,
                start=start_d,
                end=end_d,
                transient=_is_transient(exc),
            ) from exc
        if not rows:
            if not trading_days(yahoo, start_d, end_d):
                return []
            raise SourceError(
                f"Yahoo returned no daily bars for {span} (unknown or delisted symbol, or no data yet)",
                symbol=yahoo,
                start=start_d,
                end=end_d,
            )
        facts_error = None
        try:
            facts = _facts(ticker.info or {})
        except Exception as exc:  # noqa: BLE001 - facts are optional, the bars still count
            facts, facts_error = _facts({}), f"{type(exc).__name__}: {exc}"
        return [
            make_envelope(
                source="yfinance",
                ticker=asked,
                symbol=yahoo,
                as_of=dt.date.fromisoformat(rows[-1]["date"]),
                fetched_at=fetched_at,
                request=request,
                history=rows,
                facts=facts,
                facts_error=facts_error,
            )
        ]
