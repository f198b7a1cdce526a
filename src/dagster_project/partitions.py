"""The one partitioning of the asset graph: months.

Every asset is partitioned by month (`MonthlyPartitionsDefinition`, keys `YYYY-MM`, the current month
included through `end_offset=1`) from `TICKERLAKE_PARTITIONS_START` (default 2015-01). A month partition
covers the whole universe: ten years are 120 partitions, however many tickers there are. A run may be
narrowed to some tickers (and dates inside its months) by run config (`ScopeResource`), never by
redefining partitions.
"""

import datetime as dt

import dagster as dg

from dagster_project.settings import DagsterSettings
from lake import layout

MONTH_FORMAT = "%Y-%m"


def partitions_start() -> str:
    """The first month partition: TICKERLAKE_PARTITIONS_START as YYYY-MM (a date is read as its month)."""
    return DagsterSettings.from_env().partitions_start


month_partitions = dg.MonthlyPartitionsDefinition(
    start_date=partitions_start(),
    fmt=MONTH_FORMAT,
    end_offset=1,  # the current month is a partition: the daily run writes new versions of it
)


def window_dates(window: dg.TimeWindow) -> tuple[str, str]:
    """The first and last calendar dates of a partition time window (its end is exclusive)."""
    first = window.start.date()
    last = window.end.date() - dt.timedelta(days=1)
    return first.isoformat(), last.isoformat()


def range_tags(first_month: str, last_month: str) -> dict[str, str]:
    """Run tags that make one run cover the months [first, last] (a single-run backfill)."""
    return {
        "dagster/asset_partition_range_start": layout.validate_month(first_month),
        "dagster/asset_partition_range_end": layout.validate_month(last_month),
    }
