"""The offline ``sample`` source: realistic, deterministic daily bars in the Yahoo envelope.

Every value is a function of (Yahoo symbol, date) alone, never of the range asked for:

- one series per symbol runs over every weekday from ``SAMPLE_EPOCH`` (2000-01-03) to ``SAMPLE_END``
  (2035-12-31), drawn from random streams seeded with SHA-256 of the symbol and the stream's name
  (never Python's salted ``hash()``); a fetch slices it. DR symbols use their Yahoo symbol's series.
- the close follows a geometric random walk with a slowly varying volatility, scaled so that the close on
  2025-01-02 sits at a level typical of the market (yen in thousands, dong in tens of thousands, ...);
  prices are rounded to the market's price step.
- the open gaps from the previous close: a small overnight move every day, and on ~2% of days a jump of a
  few daily standard deviations (opening gaps). High and low extend beyond open and close.
- volume is log-normal around a per-symbol level and rises with the size of the day's move.
- ~60% of symbols pay dividends (quarterly in the US, twice a year in Asia, yearly in Vietnam); the price
  drops by the dividend on the ex-date. ``adj_close`` is back-adjusted (Yahoo's convention) for every
  dividend up to ``ADJUSTMENT_ANCHOR`` (2027-12-31): Yahoo re-adjusts the past whenever a dividend is paid,
  a deterministic source cannot, so it anchors the adjustment at a fixed date. No splits.
- a bar exists on the sessions of the symbol's exchange calendar (weekends and holidays have none), except
  on a deterministic ~0.5% of sessions (``MISSING_DAY_RATE``) which have no bar at all, as real feeds
  sometimes do. A dividend whose ex-date has no bar is reported on the next bar.
- no bar is dated after the fetch's local date: the sample never invents the future.

A fetch is one envelope holding every bar of the range (or none when the range has no bar). Its facts
(name, currency, exchange, market cap, P/E, EPS, sector, 52-week high/low, dividend yield, beta) are
computed as of its last bar, the envelope's ``as_of``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from pipelines.sources.calendars import Exchange, date_range, exchange_for, session_mask
from pipelines.sources.envelope import HistoryRow, RawEnvelope, make_envelope, utc_iso
from pipelines.sources.universe import Listing, Universe, load_universe, normalize_text

SAMPLE_EPOCH = dt.date(2000, 1, 3)
SAMPLE_END = dt.date(2035, 12, 31)
MISSING_DAY_RATE = 0.005
JUMP_RATE = 0.02
GENERATOR = "tickerlake-sample/1"
ADJUSTMENT_ANCHOR = dt.date(2027, 12, 31)
_ANCHOR = np.datetime64("2025-01-02", "D")
_ALL_DAYS = np.arange(
    np.datetime64(SAMPLE_EPOCH, "D"), np.datetime64(SAMPLE_END, "D") + 1, dtype="datetime64[D]"
)
_WEEKDAYS = _ALL_DAYS[np.is_busday(_ALL_DAYS)]
_SECTORS = (
    "Technology",
    "Financial Services",
    "Healthcare",
    "Industrials",
    "Consumer Cyclical",
    "Consumer Defensive",
    "Communication Services",
    "Energy",
    "Basic Materials",
    "Real Estate",
    "Utilities",
)
# Typical price level (log-uniform range) and daily volume level by currency.
_PRICE_LEVELS = {
    "JPY": (500, 15000),
    "VND": (15000, 150000),
    "SGD": (0.8, 50),
    "HKD": (2, 500),
    "TWD": (30, 900),
}
_VOLUME_LEVELS = {
    "JPY": (3e5, 2e7),
    "VND": (2e5, 1e7),
    "SGD": (2e5, 1e7),
    "HKD": (1e6, 6e7),
    "TWD": (1e6, 3e7),
}
_DIVIDENDS_PER_YEAR = {"US": 4, "HOSE": 1, "HNX": 1}


def _rng(symbol: str, stream: str) -> np.random.Generator:
    digest = hashlib.sha256(f"{GENERATOR}|{symbol}|{stream}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:16], "big"))


@dataclass(frozen=True)
class _Series:
    """Every bar of one symbol, epoch to SAMPLE_END (arrays aligned on ``days``), and its fixed facts."""

    days: np.ndarray  # datetime64[D]
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    adj_close: np.ndarray
    volume: np.ndarray
    dividends: np.ndarray
    high_52w: np.ndarray
    low_52w: np.ndarray
    dividends_12m: np.ndarray
    eps: float | None
    shares: float
    beta: float
    sector: str | None
    quote_type: str


def _quantize(values: np.ndarray, exchange: Exchange) -> np.ndarray:
    step = exchange.price_step or 10.0**-exchange.price_decimals
    return np.round(np.maximum(np.round(values / step), 1.0) * step, exchange.price_decimals)


@cache
def _sessions(exchange: Exchange) -> np.ndarray:
    return session_mask(exchange, _WEEKDAYS)


@lru_cache(maxsize=64)
def _series(symbol: str, listing: Listing | None) -> _Series:
    exchange = exchange_for(symbol)
    currency = (listing.currency if listing else None) or exchange.currency or "USD"
    n = len(_WEEKDAYS)
    p = _rng(symbol, "profile").random(12)

    low_price, high_price = _PRICE_LEVELS.get(currency, (8, 400))
    level = float(np.exp(np.log(low_price) + p[0] * (np.log(high_price) - np.log(low_price))))
    sigma = 0.010 + 0.015 * p[1]  # daily volatility 1.0%-2.5%
    mu = (0.02 + 0.08 * p[2]) / 252 - sigma**2 / 2  # 2%-10% a year
    low_volume, high_volume = _VOLUME_LEVELS.get(currency, (5e5, 4e7))
    volume_level = float(np.exp(np.log(low_volume) + p[3] * (np.log(high_volume) - np.log(low_volume))))
    regime_period, regime_phase = 120 + 300 * p[4], 2 * np.pi * p[5]

    steps = np.arange(n)
    vol = sigma * np.exp(0.35 * np.sin(2 * np.pi * steps / regime_period + regime_phase))
    jumps = (_rng(symbol, "jump").random(n) < JUMP_RATE) * _rng(symbol, "jump-size").standard_normal(n) * 3.0
    gap = vol * (0.35 * _rng(symbol, "gap").standard_normal(n) + jumps)
    intraday = vol * 0.9 * _rng(symbol, "intraday").standard_normal(n)

    quote_type = listing.quote_type if listing else "EQUITY"
    pays = p[6] < 0.6
    per_year = _DIVIDENDS_PER_YEAR.get(exchange.code, 2)
    dividend_yield = 0.01 + 0.04 * p[7] if pays else 0.0
    period = 261 // per_year
    ex_dates = pays & ((steps - int(p[8] * period)) % period == 0) & (steps > 0)
    drop = np.where(ex_dates, dividend_yield / per_year, 0.0)

    log_close = np.cumsum(mu + gap + intraday + np.log1p(-drop))
    log_close += np.log(level) - log_close[np.searchsorted(_WEEKDAYS, _ANCHOR)]
    prev_log_close = np.concatenate([[log_close[0] - (mu + gap[0] + intraday[0])], log_close[:-1]])
    open_raw = np.exp(prev_log_close + gap + np.log1p(-drop))
    close_raw = np.exp(log_close)
    wick = 0.5 * vol
    high_raw = np.maximum(open_raw, close_raw) * np.exp(
        wick * np.abs(_rng(symbol, "high").standard_normal(n))
    )
    low_raw = np.minimum(open_raw, close_raw) * np.exp(-wick * np.abs(_rng(symbol, "low").standard_normal(n)))

    open_, close = _quantize(open_raw, exchange), _quantize(close_raw, exchange)
    high = np.maximum.reduce([_quantize(high_raw, exchange), open_, close])
    low = np.minimum.reduce([_quantize(low_raw, exchange), open_, close])

    prev_close = np.concatenate([[close[0]], close[:-1]])
    dividends = np.round(drop * prev_close, 4)
    factor_log = np.where(
        _WEEKDAYS <= np.datetime64(ADJUSTMENT_ANCHOR, "D"), np.log1p(-dividends / prev_close), 0.0
    )
    adj_close = np.round(close * np.exp(factor_log.sum() - np.cumsum(factor_log)), 6)

    surprise = np.abs(gap + intraday) / vol
    log_volume = (
        np.log(volume_level) + 0.45 * _rng(symbol, "volume").standard_normal(n) + 0.5 * (surprise - 0.8)
    )
    volume = np.maximum(np.round(np.exp(log_volume)), 0).astype(np.int64)

    bars = _sessions(exchange) & ~(_rng(symbol, "missing").random(n) < MISSING_DAY_RATE)
    cumulative_dividends = np.cumsum(dividends)[bars]
    reported_dividends = np.round(np.diff(cumulative_dividends, prepend=0.0), 4)

    high_52w = pd.Series(high[bars]).rolling(252, min_periods=1).max().to_numpy()
    low_52w = pd.Series(low[bars]).rolling(252, min_periods=1).min().to_numpy()
    dividends_12m = pd.Series(reported_dividends).rolling(252, min_periods=1).sum().to_numpy()
    is_fund = quote_type != "EQUITY"
    return _Series(
        days=_WEEKDAYS[bars],
        open=open_[bars],
        high=high[bars],
        low=low[bars],
        close=close[bars],
        adj_close=adj_close[bars],
        volume=volume[bars],
        dividends=reported_dividends,
        high_52w=high_52w,
        low_52w=low_52w,
        dividends_12m=dividends_12m,
        eps=None if is_fund else round(float(level / (8 + 27 * p[9])), 4),
        shares=float(np.exp(np.log(2e9) + p[10] * (np.log(4e11) - np.log(2e9)))) / level,
        beta=round(float(0.6 + p[11]), 3),
        sector=None
        if is_fund
        else (listing.sector if listing and listing.sector else _SECTORS[int(p[9] * 11)]),
        quote_type=quote_type,
    )


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class SampleSource:
    """Deterministic offline bars in the same envelope as the Yahoo source (``source: "sample"``).

    Parameters
    ----------
    universe:
        Resolves DR symbols and supplies names, currencies and sectors; the bundled universe by default.
        Symbols outside it work too (any well-formed Yahoo symbol).
    clock:
        Returns the current UTC time (``fetched_at``; no bar is dated after its local date).

    Examples
    --------
    >>> [envelope] = SampleSource().fetch("DBS19", dt.date(2025, 6, 2), dt.date(2025, 6, 6))
    >>> [row["date"] for row in envelope["payload"]["history"]][:2], envelope["symbol"]
    (['2025-06-02', '2025-06-03'], 'D05.SI')
    """

    name = "sample"
    source_tag = "sample"  # where its fetches are stored: raw/sample/

    def __init__(
        self, *, universe: Universe | None = None, clock: Callable[[], dt.datetime] = _utc_now
    ) -> None:
        self.universe = universe or load_universe()
        self.clock = clock

    def _slice(self, symbol: str, start: dt.date | str, end: dt.date | str) -> tuple[str, _Series, slice]:
        start_d, end_d = date_range(start, end)
        listing = self.universe.lookup(symbol)
        yahoo = listing.yahoo_symbol if listing else self.universe.yahoo_symbol(symbol)
        series = _series(yahoo, listing)
        today = self.clock().astimezone(ZoneInfo(exchange_for(yahoo).timezone)).date()
        last = min(end_d, today)
        lo = np.searchsorted(series.days, np.datetime64(start_d, "D"), side="left")
        hi = np.searchsorted(series.days, np.datetime64(last, "D"), side="right")
        return yahoo, series, slice(lo, max(lo, hi))

    def history(self, symbol: str, start: dt.date | str, end: dt.date | str) -> pd.DataFrame:
        """The bars in [start, end] directly as ``prices`` rows (no envelope): for benches and tests."""
        yahoo, s, window = self._slice(symbol, start, end)
        return pd.DataFrame(
            {
                "ticker": yahoo,
                "date": pd.DatetimeIndex(s.days[window]).date,
                "open": s.open[window],
                "high": s.high[window],
                "low": s.low[window],
                "close": s.close[window],
                "adj_close": s.adj_close[window],
                "volume": s.volume[window],
            }
        )

    def fetch(self, symbol: str, start: dt.date | str, end: dt.date | str) -> list[RawEnvelope]:
        """One fetch: a list holding one envelope with every bar in [start, end] (trading days minus the
        sample's missing days), its `as_of` the last bar's date; an empty list when the range has no bar."""
        fetched_at = self.clock()
        asked = normalize_text(symbol)
        start_d, end_d = date_range(start, end)
        yahoo, s, window = self._slice(symbol, start_d, end_d)
        listing = self.universe.lookup(yahoo)
        exchange = exchange_for(yahoo)
        request = {
            "start": start_d.isoformat(),
            "end": end_d.isoformat(),
            "interval": "1d",
            "auto_adjust": False,
            "actions": True,
            "generator": GENERATOR,
        }
        fixed: dict[str, Any] = {
            "name": listing.name if listing else f"{yahoo} (sample)",
            "currency": (listing.currency if listing else None) or exchange.currency,
            "exchange": listing.exchange if listing else exchange.code,
            "exchange_name": exchange.name,
            "quote_type": s.quote_type,
            "sector": s.sector,
            "industry": None,
            "beta": s.beta,
            "timezone": exchange.timezone,
        }
        envelopes: list[RawEnvelope] = []
        stamp = utc_iso(fetched_at)
        shares = int(round(s.shares))
        close = s.close[window]
        derived = (
            np.round(close * s.shares).astype(np.int64),
            np.round(close / s.eps, 2) if s.eps else np.full(len(close), None),
            np.round(100 * s.dividends_12m[window] / close, 2),
        )
        days = pd.DatetimeIndex(s.days[window]).date
        columns = [
            a[window].tolist() for a in (s.open, s.high, s.low, s.close, s.adj_close, s.volume, s.dividends)
        ]
        columns += [s.high_52w[window].tolist(), s.low_52w[window].tolist()] + [a.tolist() for a in derived]
        history: list[HistoryRow] = []
        facts = dict(fixed)
        for day, o, h, lo, c, adj, v, div, h52, l52, cap, pe, dy in zip(days, *columns, strict=True):
            history.append(
                {
                    "date": day.isoformat(),
                    "open": o,
                    "high": h,
                    "low": lo,
                    "close": c,
                    "adj_close": adj,
                    "volume": v,
                    "dividends": div,
                    "splits": 0.0,
                }
            )
            facts.update(  # the facts as of the fetch's last bar
                market_cap=cap,
                shares_outstanding=shares,
                pe_ratio=pe,
                forward_pe=None,
                eps=s.eps,
                dividend_yield=dy,
                fifty_two_week_high=h52,
                fifty_two_week_low=l52,
            )
        if history:
            envelopes.append(
                make_envelope(
                    source="sample",
                    ticker=asked,
                    symbol=yahoo,
                    as_of=days[-1],
                    fetched_at=stamp,
                    request=request,
                    history=history,
                    facts=facts,
                )
            )
        return envelopes
