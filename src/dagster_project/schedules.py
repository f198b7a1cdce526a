"""When the graph runs: the daily schedule after the close, and the report pre-warm after new data.

The universe's markets close by 21:00 UTC (New York, the last, at 16:00 local); the daily run starts at
22:30 UTC on weekdays and materializes the current month's partition for the whole universe: a new
version of each month object, with the sessions fetched again so that revised bars are picked up.
`reports` follows the data rather than a clock: the `reports_after_features` sensor requests it whenever
`features` has been materialized.
"""

import datetime as dt

import dagster as dg

from dagster_project.assets import LAKE_ASSETS, reports
from dagster_project.partitions import month_partitions

lake_job = dg.define_asset_job(
    "lake_job",
    selection=dg.AssetSelection.assets(*LAKE_ASSETS),
    partitions_def=month_partitions,
    description="raw_prices → prices → indicators → percentiles → features for a range of months "
    "(the universe, or the tickers of the run config's `scope`).",
)

reports_job = dg.define_asset_job(
    "reports_job",
    selection=dg.AssetSelection.assets(reports),
    description="Pre-warm the report cache for the latest date of each ticker.",
)


@dg.schedule(
    cron_schedule="30 22 * * 1-5",
    job=lake_job,
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,  # `tickerlake ui` / `dagster dev` run it as they start
)
def daily_after_close(context: dg.ScheduleEvaluationContext):
    day = context.scheduled_execution_time.astimezone(dt.UTC).date()
    return dg.RunRequest(run_key=f"daily-{day.isoformat()}", partition_key=day.strftime("%Y-%m"))


@dg.asset_sensor(
    asset_key=dg.AssetKey("features"),
    job=reports_job,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Pre-warm the reports after each materialization of `features`.",
)
def reports_after_features(context: dg.SensorEvaluationContext, asset_event: dg.EventLogEntry):
    return dg.RunRequest(run_key=f"reports-after-{asset_event.run_id}")
