"""Asset checks on every processed dataset, run over the partitions of the run that materialized it.

- `<dataset>_matches_schema`: the stored rows (latest version) validated by the dataset's pandera model
  (run inside the check: dagster-pandera is beta);
- `<dataset>_not_quarantined`: no partition of the run is currently quarantined (a quarantined partition is
  a failed check, not a silent gap);
- `<dataset>_complete`: every trading day of each ticker's exchange in the run has a stored partition
  (WARN: a source may legitimately miss a day; the metadata lists which).
- `<dataset>_quality`: the rules a schema cannot say (`lake.quality`: freshness, no duplicate (ticker, date)
  in the latest view, price continuity unless a split explains it, indicator identities and ranges);
  WARN, and each failing rule raises one alert per incident (`lake.alerts`).
"""

import datetime as dt

import dagster as dg
import pandas as pd

from dagster_project.partitions import split_keys, ticker_date_partitions
from dagster_project.resources import LakeResource
from lake import stages

PROCESSED = ("prices", "indicators", "percentiles", "features")
MAX_LISTED = 50


def _pairs(context: dg.AssetCheckExecutionContext) -> list[tuple[str, str]]:
    return (
        split_keys(context.partition_keys)
        if context.has_partition_key_range or context.has_partition_key
        else []
    )


def _stored(lake, dataset: str, pairs: list[tuple[str, str]]) -> pd.DataFrame:
    grouped = stages.group_by_ticker(pairs)
    frames = []
    for ticker, dates in grouped.items():
        frame = lake.read_dataset(dataset, [ticker], dates[0], dates[-1])
        if not frame.empty:
            frames.append(frame[frame["date"].astype(str).isin(set(dates))])
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _schema_check(dataset: str):
    @dg.asset_check(
        asset=dataset,
        name=f"{dataset}_matches_schema",
        partitions_def=ticker_date_partitions,
        description=f"The stored {dataset} rows of the run validate against the pandera model.",
    )
    def _check(context: dg.AssetCheckExecutionContext, lake: LakeResource) -> dg.AssetCheckResult:
        import pandera.errors

        import schemas

        frame = _stored(lake.lake(), dataset, _pairs(context))
        if frame.empty:
            return dg.AssetCheckResult(passed=True, metadata={"rows_checked": 0})
        try:
            schemas.validate(dataset, frame)
        except pandera.errors.SchemaErrors as exc:
            cases = exc.failure_cases.head(MAX_LISTED)
            return dg.AssetCheckResult(
                passed=False,
                metadata={
                    "rows_checked": len(frame),
                    "failures": len(exc.failure_cases),
                    "failure_cases": dg.MetadataValue.md(cases.to_markdown(index=False)),
                },
            )
        return dg.AssetCheckResult(passed=True, metadata={"rows_checked": len(frame)})

    return _check


def _quarantine_check(dataset: str):
    @dg.asset_check(
        asset=dataset,
        name=f"{dataset}_not_quarantined",
        partitions_def=ticker_date_partitions,
        description=f"No {dataset} partition of the run is quarantined (bad input kept aside with its reason).",
    )
    def _check(context: dg.AssetCheckExecutionContext, lake: LakeResource) -> dg.AssetCheckResult:
        found = stages.quarantined_now(lake.lake(), dataset, _pairs(context))
        listed = {f"{t}|{d}": reason for (t, d), reason in sorted(found.items())[:MAX_LISTED]}
        return dg.AssetCheckResult(
            passed=not found,
            metadata={"quarantined": len(found), "partitions": dg.MetadataValue.json(listed)},
        )

    return _check


def _completeness_check(dataset: str):
    @dg.asset_check(
        asset=dataset,
        name=f"{dataset}_complete",
        partitions_def=ticker_date_partitions,
        description=f"Every trading day of the run (the ticker's exchange calendar) has a {dataset} partition.",
    )
    def _check(context: dg.AssetCheckExecutionContext, lake: LakeResource) -> dg.AssetCheckResult:
        from pipelines.sources import trading_days

        store = lake.lake()
        missing: list[str] = []
        expected = 0
        for ticker, dates in stages.group_by_ticker(_pairs(context)).items():
            sessions = {d.isoformat() for d in trading_days(ticker, dates[0], dates[-1])}
            wanted = sorted(sessions & set(dates))
            expected += len(wanted)
            present = {date for _, date in store.partitions(dataset, ticker, dates[0], dates[-1])}
            missing.extend(f"{ticker}|{date}" for date in wanted if date not in present)
        return dg.AssetCheckResult(
            passed=not missing,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                "expected_partitions": expected,
                "missing_partitions": len(missing),
                "missing": dg.MetadataValue.json(missing[:MAX_LISTED]),
                "checked_at": dt.datetime.now(dt.UTC).isoformat(),
            },
        )

    return _check


def _quality_check(dataset: str):
    @dg.asset_check(
        asset=dataset,
        name=f"{dataset}_quality",
        partitions_def=ticker_date_partitions,
        description=f"Quality rules over the run's {dataset} rows (continuity, freshness, uniqueness, ranges).",
    )
    def _check(context: dg.AssetCheckExecutionContext, lake: LakeResource) -> dg.AssetCheckResult:
        from lake.quality import alert_failures, check_dataset

        store = lake.lake()
        failed: list[str] = []
        checked = 0
        for ticker, dates in stages.group_by_ticker(_pairs(context)).items():
            # The pandera engine checks the same constraints as the GX suites without GX's import cost
            # in every step process.
            report = check_dataset(store, dataset, [ticker], dates[0], dates[-1], engine="pandera")
            checked += 1
            if not report.passed:
                failed.extend(f"{ticker}: {r.name}: {r.message}" for r in report.failures)
                alert_failures(store, report, run_id=context.run_id)
        return dg.AssetCheckResult(
            passed=not failed,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"tickers_checked": checked, "failures": dg.MetadataValue.json(failed[:MAX_LISTED])},
        )

    return _check


CHECKS = [
    factory(dataset)
    for dataset in PROCESSED
    for factory in (_schema_check, _quarantine_check, _completeness_check)
]
