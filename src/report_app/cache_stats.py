"""Cache metrics from the event log: hit ratio by tier, by ticker and by day; latency p50/p95 per tier.

Pure functions on the event frame (`report_app.cache_events.read_cache_events`) plus `load_cache_stats`,
which reads the last N UTC days of the log. Lookups made by the daily pre-warm (``origin = prewarm``) are
left out by default: they are misses on purpose and would hide what users experience.

Definitions (one lookup = one event):

- share of a tier = lookups answered by that tier / all lookups; hit ratio = share of l1 + share of l2;
- latency = what the request waited for its report (`latency_ms`: the lookup, plus the generation on a
  miss); p50/p95 are linear-interpolated quantiles.

Examples
--------
>>> stats = load_cache_stats(lake.store, days=7)          # doctest: +SKIP
>>> stats.hit_ratio, stats.by_tier[0]["p95_ms"]           # doctest: +SKIP
(0.93, 1.8)
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

from lake import layout
from report_app.cache_events import TIERS, read_cache_events

__all__ = ["CacheStats", "compute_cache_stats", "load_cache_stats", "window"]


@dataclass
class CacheStats:
    """The cache metrics of one window of UTC days (row lists are JSON-ready dicts)."""

    start: str
    end: str
    requests: int = 0
    hits: int = 0
    errors: int = 0
    by_tier: list[dict[str, Any]] = field(default_factory=list)
    by_day: list[dict[str, Any]] = field(default_factory=list)
    by_day_tier: list[dict[str, Any]] = field(default_factory=list)
    by_ticker: list[dict[str, Any]] = field(default_factory=list)

    @property
    def hit_ratio(self) -> float | None:
        return self.hits / self.requests if self.requests else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "requests": self.requests,
            "hits": self.hits,
            "hit_ratio": _round(self.hit_ratio),
            "errors": self.errors,
            "by_tier": self.by_tier,
            "by_day": self.by_day,
            "by_day_tier": self.by_day_tier,
            "by_ticker": self.by_ticker,
        }


def window(days: int, today: str | dt.date | None = None) -> tuple[str, str]:
    """(first, last) UTC day of the `days` days ending `today` (default: today, UTC)."""
    if days < 1:
        raise ValueError(f"--days must be at least 1, got {days}")
    last = dt.date.fromisoformat(layout.validate_date(today)) if today else dt.datetime.now(dt.UTC).date()
    return (last - dt.timedelta(days=days - 1)).isoformat(), last.isoformat()


def _round(value: float | None, digits: int = 4) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return round(float(value), digits)


def _quantile(series, q: float) -> float | None:
    values = series.dropna()
    return _round(float(values.quantile(q)), 3) if len(values) else None


def _tier_counts(frame) -> dict[str, int]:
    counts = frame["tier"].value_counts()
    return {tier: int(counts.get(tier, 0)) for tier in TIERS}


def compute_cache_stats(
    events, *, start: str, end: str, include_prewarm: bool = False, top: int | None = None
) -> CacheStats:
    """The metrics of the events whose UTC day is in [start, end]; every day of the window gets a row.

    `top` keeps only the busiest tickers in `by_ticker` (None: all).
    """
    import pandas as pd

    start, end = layout.validate_date(start), layout.validate_date(end)
    frame = events.copy()
    if not frame.empty:
        frame["day"] = pd.to_datetime(frame["ts"], utc=True).dt.strftime("%Y-%m-%d")
        frame = frame[(frame["day"] >= start) & (frame["day"] <= end)]
        if not include_prewarm:
            frame = frame[frame["origin"].fillna("request") != "prewarm"]
    stats = CacheStats(start=start, end=end)
    days = pd.date_range(start, end, freq="D").strftime("%Y-%m-%d")
    if frame.empty:
        stats.by_day = [_day_row(day, {t: 0 for t in TIERS}, None) for day in days]
        return stats

    counts = _tier_counts(frame)
    stats.requests = int(len(frame))
    stats.hits = counts["l1"] + counts["l2"]
    stats.errors = int(frame["error"].notna().sum())

    for tier in TIERS:
        rows = frame[frame["tier"] == tier]
        stats.by_tier.append(
            {
                "tier": tier,
                "requests": int(len(rows)),
                "share": _round(len(rows) / stats.requests),
                "p50_ms": _quantile(rows["latency_ms"], 0.50),
                "p95_ms": _quantile(rows["latency_ms"], 0.95),
                "lookup_p95_ms": _quantile(rows["lookup_ms"], 0.95),
                "generate_p95_ms": _quantile(rows["generate_ms"], 0.95) if tier == "miss" else None,
            }
        )

    grouped = dict(tuple(frame.groupby("day")))
    for day in days:
        rows = grouped.get(day)
        if rows is None:
            stats.by_day.append(_day_row(day, {t: 0 for t in TIERS}, None))
            continue
        stats.by_day.append(_day_row(day, _tier_counts(rows), _quantile(rows["latency_ms"], 0.95)))
        for tier in TIERS:
            tier_rows = rows[rows["tier"] == tier]
            if len(tier_rows):
                stats.by_day_tier.append(
                    {
                        "day": day,
                        "tier": tier,
                        "requests": int(len(tier_rows)),
                        "p50_ms": _quantile(tier_rows["latency_ms"], 0.50),
                        "p95_ms": _quantile(tier_rows["latency_ms"], 0.95),
                    }
                )

    tickers = []
    for ticker, rows in frame.groupby("ticker"):
        tiers = _tier_counts(rows)
        total = int(len(rows))
        tickers.append(
            {
                "ticker": str(ticker),
                "requests": total,
                **tiers,
                "hit_ratio": _round((tiers["l1"] + tiers["l2"]) / total),
                "p95_ms": _quantile(rows["latency_ms"], 0.95),
            }
        )
    tickers.sort(key=lambda row: (-row["requests"], row["ticker"]))
    stats.by_ticker = tickers[:top] if top is not None else tickers
    return stats


def _day_row(day: str, tiers: dict[str, int], p95: float | None) -> dict[str, Any]:
    total = sum(tiers.values())
    share = {f"{tier}_share": _round(tiers[tier] / total) if total else None for tier in TIERS}
    hit = _round((tiers["l1"] + tiers["l2"]) / total) if total else None
    return {"day": day, "requests": total, **tiers, **share, "hit_ratio": hit, "p95_ms": p95}


def load_cache_stats(
    store: Any,
    *,
    days: int = 7,
    today: str | dt.date | None = None,
    include_prewarm: bool = False,
    top: int | None = None,
) -> CacheStats:
    """The metrics of the last `days` UTC days of the event log in `store`."""
    start, end = window(days, today)
    events = read_cache_events(store, start=start, end=end)
    return compute_cache_stats(events, start=start, end=end, include_prewarm=include_prewarm, top=top)
