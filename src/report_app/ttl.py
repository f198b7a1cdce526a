"""Adaptive TTL for the report cache (the seed system's "intelligent TTL"), and a replay to judge it.

The signal: **how often users ask for a ticker**, from the cache event log — not its trading volume.

- What a TTL trades is the cost of a miss (a generation: seconds, and an LLM call) against the age of the
  answers served (a report regenerated later picks up a reprocessed partition, news, a better narrative).
  Both sides scale with the request rate r of the ticker: over one entry lifetime T a ticker gets about
  r·T requests, one miss and r·T − 1 hits, each hit as old as the entry.
- So a popular ticker can afford a short TTL (it still hits almost always, and many users get fresher
  answers), and a quiet one needs a long one to hit at all (few users see its older answers).
- How much shorter: a ticker costs about 1/T regenerations per key and day, and serves about r·T/2 old
  answers per change of its data. Minimising the old answers Σ r·T for a given number of regenerations
  Σ 1/T gives T ∝ 1/√r (the square-root rule of cache refresh): a ticker asked 4× as often as a typical
  one gets half the TTL, not a quarter.
- `volume_ratio` describes the market, not the cache: a partition of (T, D) is immutable once computed,
  whatever the day's volume, and a heavily traded ticker nobody asks for gains nothing from a short TTL.

The rule: ``ttl = clamp(CACHE_TTL_HOURS × √(r_ref / r), CACHE_TTL_MIN_HOURS, CACHE_TTL_MAX_HOURS)`` where r is
the ticker's user requests per day over the last `CACHE_TTL_WINDOW_DAYS` (7) days and r_ref the median over
the tickers asked for in that window: a ticker of typical popularity keeps CACHE_TTL_HOURS, a ticker nobody
asked for gets the maximum, and without any activity data every ticker gets CACHE_TTL_HOURS (the fixed
behaviour). The rates are published once a day (`publish_ticker_activity`, called by the pre-warm) as one
small JSON object, ``ops/cache_activity/latest.json``, so a Lambda cold start reads one object, not the log.

Opt-in: ``CACHE_TTL_ADAPTIVE=1`` (default off: a TTL that moves with traffic changes the freshness
contract, so it is switched on deliberately, once the event log holds traffic). Bounds default to 6 h and
72 h (the seed's figures); ``CACHE_TTL_MIN_HOURS <= CACHE_TTL_HOURS <= CACHE_TTL_MAX_HOURS`` is required.
On AWS the ``cache/`` lifecycle rule removes L2 objects about a day after they are written, whatever their
TTL: raise it before using a maximum above 24 h (docs/report-bot.md).

`replay(requests, ttl_hours, updates=...)` replays a request log through a cache with a TTL policy and
counts hits, misses and stale answers (served after the entry's data changed), so a policy can be
compared with the fixed TTL on recorded or synthetic traffic.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import statistics
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lake import layout
from lake.exceptions import ObjectNotFound

log = logging.getLogger(f"tickerlake.{__name__}")

EXPONENT = 0.5  # the square-root rule (module docstring)

__all__ = [
    "AdaptiveTtl",
    "ReplayResult",
    "TickerActivity",
    "TtlConfig",
    "adaptive_ttl_hours",
    "compute_ticker_activity",
    "load_ticker_activity",
    "publish_ticker_activity",
    "replay",
]


@dataclass(frozen=True)
class TtlConfig:
    """CACHE_TTL_HOURS (the base), CACHE_TTL_MIN_HOURS, CACHE_TTL_MAX_HOURS, CACHE_TTL_ADAPTIVE,
    CACHE_TTL_WINDOW_DAYS."""

    base_hours: float = 24.0
    min_hours: float = 6.0
    max_hours: float = 72.0
    adaptive: bool = False
    window_days: int = 7

    def __post_init__(self) -> None:
        if not self.base_hours > 0:
            raise ValueError(f"CACHE_TTL_HOURS must be positive, got {self.base_hours}")
        if self.window_days < 1:
            raise ValueError(f"CACHE_TTL_WINDOW_DAYS must be at least 1, got {self.window_days}")
        if self.adaptive and not (0 < self.min_hours <= self.base_hours <= self.max_hours):
            raise ValueError(
                "the adaptive TTL needs 0 < CACHE_TTL_MIN_HOURS <= CACHE_TTL_HOURS <= CACHE_TTL_MAX_HOURS; "
                f"got {self.min_hours} <= {self.base_hours} <= {self.max_hours}"
            )

    @classmethod
    def from_env(cls, base_hours: float | None = None) -> TtlConfig:
        from report_app.settings import ReportSettings

        return cls.from_settings(ReportSettings.from_env(), base_hours=base_hours)

    @classmethod
    def from_settings(cls, settings: Any, base_hours: float | None = None) -> TtlConfig:
        """The TTL configuration of a `report_app.settings.ReportSettings` (CACHE_TTL_*)."""
        return cls(
            base_hours=base_hours if base_hours is not None else settings.cache_ttl_hours,
            min_hours=settings.cache_ttl_min_hours,
            max_hours=settings.cache_ttl_max_hours,
            adaptive=settings.cache_ttl_adaptive,
            window_days=settings.cache_ttl_window_days,
        )


def adaptive_ttl_hours(
    rate: float | None, reference_rate: float | None, *, base: float, low: float, high: float
) -> float:
    """The TTL in hours for a ticker asked `rate` times a day when a typical ticker is asked
    `reference_rate` times: base × √(reference / rate), within [low, high]. Unknown rates give `base`; a
    ticker never asked for gets `high`."""
    if rate is None or reference_rate is None or reference_rate <= 0:
        return base
    if rate <= 0:
        return high
    return min(high, max(low, base * (reference_rate / rate) ** EXPONENT))


# ------------------------------------------------------------------------------------------ activity


@dataclass(frozen=True)
class TickerActivity:
    """User requests per day of each ticker over a window of UTC days (the adaptive TTL's input)."""

    start: str
    end: str
    rates: dict[str, float]
    generated_at: str = ""

    @property
    def reference_rate(self) -> float | None:
        """The median rate of the tickers asked for in the window; None when nobody asked for anything."""
        positive = [rate for rate in self.rates.values() if rate > 0]
        return statistics.median(positive) if positive else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "generated_at": self.generated_at,
            "reference_rate": self.reference_rate,
            "rates": dict(sorted(self.rates.items())),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TickerActivity:
        rates = data.get("rates")
        if not isinstance(rates, Mapping):
            raise ValueError("ticker activity has no 'rates' object")
        clean = {}
        for ticker, rate in rates.items():
            layout.validate_ticker(ticker)
            value = float(rate)
            if not value >= 0 or value == float("inf"):
                raise ValueError(f"ticker activity rate of {ticker} is not a finite non-negative number")
            clean[ticker] = value
        return cls(
            start=layout.validate_date(data["start"]),
            end=layout.validate_date(data["end"]),
            rates=clean,
            generated_at=str(data.get("generated_at", "")),
        )


def compute_ticker_activity(events, *, start: str, end: str) -> TickerActivity:
    """Requests per day by ticker from the event frame, user requests only (``origin = request``)."""
    import pandas as pd

    start, end = layout.validate_date(start), layout.validate_date(end)
    days = (dt.date.fromisoformat(end) - dt.date.fromisoformat(start)).days + 1
    rates: dict[str, float] = {}
    if not events.empty:
        frame = events[events["origin"].fillna("request") == "request"]
        day = pd.to_datetime(frame["ts"], utc=True).dt.strftime("%Y-%m-%d")
        frame = frame[(day >= start) & (day <= end)]
        counts = frame.groupby("ticker").size()
        rates = {str(ticker): float(count) / days for ticker, count in counts.items()}
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return TickerActivity(start=start, end=end, rates=rates, generated_at=now)


def publish_ticker_activity(
    store: Any, *, days: int = 7, today: str | dt.date | None = None
) -> TickerActivity:
    """Compute the activity of the last `days` UTC days from the event log and write
    ``ops/cache_activity/latest.json`` (one PUT); returns it."""
    from report_app.cache_events import read_cache_events
    from report_app.cache_stats import window

    start, end = window(days, today)
    activity = compute_ticker_activity(read_cache_events(store, start=start, end=end), start=start, end=end)
    key = layout.cache_activity_key()
    store.put(
        key,
        json.dumps(activity.to_dict(), separators=(",", ":")).encode("utf-8"),
        content_type="application/json",
    )
    log.info("cache activity write", extra={"key": key, "tickers": len(activity.rates)})
    return activity


def load_ticker_activity(store: Any) -> TickerActivity | None:
    """The published activity, or None when there is none (ValueError when it is unreadable)."""
    try:
        stored = store.get(layout.cache_activity_key())
    except ObjectNotFound:
        return None
    try:
        return TickerActivity.from_dict(json.loads(stored.data.decode("utf-8")))
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{layout.cache_activity_key()} is not readable ticker activity: {exc}") from None


class AdaptiveTtl:
    """The TTL policy `ReportCache(ttl_policy=...)` calls with a Yahoo symbol; answers hours.

    Parameters
    ----------
    config: the bounds and the base.
    activity: the rates, or None for "no data yet" (every ticker gets the base).
    loader: reloads the activity (e.g. ``lambda: load_ticker_activity(store)``) every `refresh_seconds`;
        a failing reload keeps the previous rates and logs a warning.
    """

    def __init__(
        self,
        config: TtlConfig,
        activity: TickerActivity | None = None,
        *,
        loader: Callable[[], TickerActivity | None] | None = None,
        refresh_seconds: float = 3600.0,
    ) -> None:
        self.config = config
        self.activity = activity
        self.loader = loader
        self.refresh_seconds = refresh_seconds
        self._loaded_at: float | None = None if loader is not None else time.monotonic()
        self._lock = threading.Lock()

    @classmethod
    def from_store(cls, store: Any, config: TtlConfig, **kwargs: Any) -> AdaptiveTtl:
        """The policy over the activity published in `store` (read on first use, then hourly)."""
        return cls(config, loader=lambda: load_ticker_activity(store), **kwargs)

    def _refresh(self) -> None:
        if self.loader is None:
            return
        now = time.monotonic()
        if self._loaded_at is not None and now - self._loaded_at < self.refresh_seconds:
            return
        with self._lock:
            if self._loaded_at is not None and now - self._loaded_at < self.refresh_seconds:
                return
            try:
                self.activity = self.loader()
            except Exception as exc:
                log.warning(
                    "cache activity not loaded: TTLs use the previous rates",
                    extra={"error": f"{type(exc).__name__}: {exc}"},
                )
            self._loaded_at = now

    def hours(self, symbol: str) -> float:
        self._refresh()
        config, activity = self.config, self.activity
        if activity is None or not activity.rates:
            return config.base_hours
        return adaptive_ttl_hours(
            activity.rates.get(symbol, 0.0),
            activity.reference_rate,
            base=config.base_hours,
            low=config.min_hours,
            high=config.max_hours,
        )

    __call__ = hours


# ------------------------------------------------------------------------------------------ replay


@dataclass
class ReplayResult:
    """What a cache with one TTL policy would have done with a request log."""

    requests: int = 0
    hits: int = 0
    misses: int = 0
    stale: int = 0  # hits served after the entry's data had changed
    ages_hours: list[float] = field(default_factory=list, repr=False)  # age of each answer served from cache
    ttls_hours: list[float] = field(default_factory=list, repr=False)  # TTL of each entry written

    @property
    def hit_ratio(self) -> float:
        return self.hits / self.requests if self.requests else 0.0

    @property
    def stale_ratio(self) -> float:
        """Stale answers over all answers."""
        return self.stale / self.requests if self.requests else 0.0

    @property
    def mean_age_hours(self) -> float:
        """Mean age of the answers served from the cache (a staleness measure that needs no updates)."""
        return statistics.fmean(self.ages_hours) if self.ages_hours else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "hits": self.hits,
            "misses": self.misses,
            "hit_ratio": round(self.hit_ratio, 4),
            "stale": self.stale,
            "stale_ratio": round(self.stale_ratio, 4),
            "mean_age_hours": round(self.mean_age_hours, 3),
        }


def replay(
    requests: Iterable[tuple[dt.datetime, str, str]],
    ttl_hours: Callable[[str], float],
    *,
    updates: Mapping[tuple[str, str], Sequence[dt.datetime]] | None = None,
) -> ReplayResult:
    """Replay (ts, ticker, date) requests, in time order, through one shared cache with `ttl_hours(ticker)`.

    A request hits when the (ticker, date) entry was written less than its TTL ago, else it misses and
    writes the entry. With `updates` — when the data behind (ticker, date) changed (e.g. the computed_at of
    each partition version) — a hit is *stale* if the data changed after its entry was written.
    """
    result = ReplayResult()
    entries: dict[tuple[str, str], tuple[dt.datetime, dt.datetime]] = {}  # key -> (written, expires)
    changes = {key: sorted(times) for key, times in (updates or {}).items()}
    for ts, ticker, date in sorted(requests, key=lambda request: request[0]):
        key = (ticker, date)
        result.requests += 1
        cached = entries.get(key)
        if cached is not None and ts < cached[1]:
            written = cached[0]
            result.hits += 1
            result.ages_hours.append((ts - written).total_seconds() / 3600.0)
            if any(written < change <= ts for change in changes.get(key, ())):
                result.stale += 1
            continue
        result.misses += 1
        hours = float(ttl_hours(ticker))
        result.ttls_hours.append(hours)
        entries[key] = (ts, ts + dt.timedelta(hours=hours))
    return result
