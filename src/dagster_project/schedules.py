"""The daily schedule after the close of the universe's markets, and the report pre-warm after it.

The universe's markets close by 21:00 UTC (New York, the last, at 16:00 local); the run starts at 22:30 UTC
on weekdays and materializes today's date partition for every ticker in one run.
"""

import datetime as dt

import dagster as dg

from dagster_project.assets import LAKE_ASSETS, reports
from dagster_project.partitions import range_tags, ticker_date_partitions, ticker_partitions

lake_job = dg.define_asset_job(
    "lake_job",
    selection=dg.AssetSelection.assets(*LAKE_ASSETS),
    partitions_def=ticker_date_partitions,
    description="raw_prices → prices → indicators → percentiles → features for a range of tickers × dates.",
)

reports_job = dg.define_asset_job(
    "reports_job",
    selection=dg.AssetSelection.assets(reports),
    partitions_def=ticker_partitions,
    description="Pre-warm the report cache for the latest date of each ticker.",
)


@dg.schedule(cron_schedule="30 22 * * 1-5", job=lake_job, execution_timezone="UTC")
def daily_after_close(context: dg.ScheduleEvaluationContext):
    day = context.scheduled_execution_time.astimezone(dt.UTC).date().isoformat()
    tickers = ticker_partitions.get_partition_keys()
    return dg.RunRequest(run_key=f"daily-{day}", tags=range_tags(tickers, day, day))


@dg.schedule(cron_schedule="30 23 * * 1-5", job=reports_job, execution_timezone="UTC")
def prewarm_reports(context: dg.ScheduleEvaluationContext):
    day = context.scheduled_execution_time.astimezone(dt.UTC).date().isoformat()
    tickers = ticker_partitions.get_partition_keys()
    return dg.RunRequest(
        run_key=f"prewarm-{day}",
        tags={
            "dagster/asset_partition_range_start": tickers[0],
            "dagster/asset_partition_range_end": tickers[-1],
        },
    )
