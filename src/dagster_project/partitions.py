"""Partitions of the asset graph: tickers of the universe × trading dates.

The date dimension holds weekdays (cron `0 0 * * 1-5`) from `TICKERLAKE_PARTITIONS_START` (default
2024-01-01) to today; each exchange's own holidays are weekdays with no bar, which the raw stage records as
skipped. With the bundled universe (61 tickers) two years are about 61 × 522 ≈ 32,000 partitions per asset,
within Dagster's guidance of at most 100,000 partitions per asset (its UI slows beyond that). Five years of
the same universe (~80,000) is the practical ceiling; a larger universe wants several code locations or a
coarser date dimension (see docs/dagster.md).
"""

import datetime as dt
import os
from collections import defaultdict
from collections.abc import Iterable, Sequence

import dagster as dg

from lake import layout
from pipelines.sources import load_universe

DEFAULT_START = "2024-01-01"
DATE_FORMAT = "%Y-%m-%d"
RECOMMENDED_MAX_PARTITIONS = 100_000


def partitions_start() -> str:
    return layout.validate_date(os.environ.get("TICKERLAKE_PARTITIONS_START") or DEFAULT_START)


def universe_tickers() -> list[str]:
    """The ticker dimension: the universe's Yahoo symbols, in the universe file's order."""
    return list(load_universe().symbols)


ticker_partitions = dg.StaticPartitionsDefinition(universe_tickers())

date_partitions = dg.TimeWindowPartitionsDefinition(
    cron_schedule="0 0 * * 1-5",
    start=partitions_start(),
    fmt=DATE_FORMAT,
    end_offset=1,  # today's date is a partition: the daily run after the close fills it
)

ticker_date_partitions = dg.MultiPartitionsDefinition({"ticker": ticker_partitions, "date": date_partitions})


def split_keys(keys: Iterable[str]) -> list[tuple[str, str]]:
    """Multi-partition keys ('2025-01-02|D05.SI', dimensions in name order: date, ticker) → [(ticker, date)]."""
    pairs = []
    for key in keys:
        if isinstance(key, dg.MultiPartitionKey):
            dims = key.keys_by_dimension
        else:
            date, ticker = str(key).split("|")
            dims = {"date": date, "ticker": ticker}
        pairs.append((dims["ticker"], dims["date"]))
    return pairs


def weekday_keys(start: dt.date, end: dt.date) -> list[str]:
    """Date partition keys (weekdays) in [start, end]."""
    days = []
    day = start
    while day <= end:
        if day.weekday() < 5:
            days.append(day.isoformat())
        day += dt.timedelta(days=1)
    return days


def contiguous_chunks(tickers: Sequence[str], size: int) -> list[list[str]]:
    """Split `tickers` into runs of consecutive universe tickers of at most `size`.

    A Dagster partition range over the ticker dimension is a rectangle in the universe's order, so a run
    may only cover tickers that sit next to each other there.
    """
    order = {ticker: index for index, ticker in enumerate(ticker_partitions.get_partition_keys())}
    chunks: list[list[str]] = []
    for ticker in sorted(tickers, key=order.__getitem__):
        last = chunks[-1] if chunks else None
        if last and len(last) < size and order[ticker] == order[last[-1]] + 1:
            last.append(ticker)
        else:
            chunks.append([ticker])
    return chunks


def range_tags(tickers: Sequence[str], start: str, end: str) -> dict[str, str]:
    """Run tags that make one run cover tickers × [start, end] (a single-run backfill)."""
    return {
        "dagster/asset_partition_range_start": str(
            dg.MultiPartitionKey({"ticker": tickers[0], "date": start})
        ),
        "dagster/asset_partition_range_end": str(dg.MultiPartitionKey({"ticker": tickers[-1], "date": end})),
    }


def by_ticker(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = defaultdict(list)
    for ticker, date in pairs:
        grouped[ticker].append(date)
    return {ticker: sorted(dates) for ticker, dates in grouped.items()}
