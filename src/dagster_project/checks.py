"""Asset checks on every processed dataset, per month partition, over the tickers and dates of the run.

- `<dataset>_matches_schema`: the stored rows (latest version) valid under the dataset's pandera model (run
  inside the check: dagster-pandera is beta). The stages validate every row before they write it and stamp
  the month version with the model's fingerprint (`schemas.fingerprint`); the check validates the rows of
  every month whose current version lacks the stamp of the model as it is now (written by another path,
  or before the model changed), and counts the others as validated when written;
- `<dataset>_not_quarantined`: no (ticker, date) of the run is currently quarantined (a quarantined row is a
  failed check, not a silent gap);
- `<dataset>_complete`: every session of each ticker's exchange calendar in the run has a row (WARN: a
  source may legitimately miss a day);
- `<dataset>_quality`: the rules a schema cannot say (`pipelines.quality`: freshness, no duplicate (ticker, date),
  price continuity unless a split explains it, indicator identities and ranges); WARN, and each failing
  rule raises one alert per incident (`lake.alerts`).

Each check's metadata lists the failing tickers and dates. The schema, completeness and quality checks of a
dataset read its rows once per run and scope (`_shared_rows`): the same snapshot, one read instead of three.
"""

import threading

import dagster as dg

from dagster_project.partitions import month_partitions
from dagster_project.resources import LakeResource, ScopeResource
from pipelines import stages

PROCESSED = ("prices", "indicators", "percentiles", "features")
MAX_LISTED = 50


#: The checks that read a dataset's rows (the quarantine check reads only its quarantine records).
READERS = 3
_shared: dict[tuple, list] = {}  # at most one entry: key → [rows, readers left]
_shared_lock = threading.Lock()


def _scope(context: dg.AssetCheckExecutionContext, scope: ScopeResource) -> tuple[list[str], str, str]:
    return scope.resolve(context.partition_time_window)


def _shared_rows(context: dg.AssetCheckExecutionContext, lake, dataset: str, tickers, start: str, end: str):
    """The dataset's stored rows of the run's tickers from the quality rules' context start to `end`, read
    once for the `READERS` checks of the same run and scope, then dropped (one frame held at a time)."""
    from pipelines.quality import context_start

    key = (context.run.run_id, lake.uri, dataset, tuple(tickers), start, end)
    with _shared_lock:
        entry = _shared.get(key)
        if entry is None:
            _shared.clear()  # another dataset's or run's rows: let them go before reading these
            rows = lake.lake().read_dataset(dataset, tickers, context_start(start), end)
            entry = _shared[key] = [rows, READERS]
        entry[1] -= 1
        if entry[1] <= 0:
            _shared.pop(key, None)
        return entry[0]


def _unstamped(lake, dataset: str, start: str, end: str) -> set[str]:
    """The months of [start, end] whose current version is not stamped as validated against the dataset's
    model as it is now (`schemas.fingerprint`): the rows the schema check must validate itself."""
    import schemas
    from lake import layout

    stamp = schemas.fingerprint(dataset)
    found = set()
    for month in layout.months_between(start, end):
        version = lake.month_version(dataset, month)
        if version is not None and version.schema_validated != stamp:
            found.add(month)
    return found


def _schema_check(dataset: str):
    @dg.asset_check(
        asset=dataset,
        name=f"{dataset}_matches_schema",
        partitions_def=month_partitions,
        description=(
            f"The stored {dataset} rows of the run validate against the pandera model: each month version "
            "written from rows validated against the model as it is now says so; the rows of any other "
            "version are validated here."
        ),
    )
    def _check(
        context: dg.AssetCheckExecutionContext, lake: LakeResource, scope: ScopeResource
    ) -> dg.AssetCheckResult:
        import numpy as np
        import pandas as pd

        from pipelines.quality import in_range

        tickers, start, end = _scope(context, scope)
        frame = in_range(_shared_rows(context, lake, dataset, tickers, start, end), start, end)
        if frame.empty:
            return dg.AssetCheckResult(passed=True, metadata={"rows_checked": 0})
        unstamped = _unstamped(lake.lake(), dataset, start, end)
        if not unstamped:
            part = frame.iloc[0:0]
        else:
            months = np.datetime_as_string(
                pd.to_datetime(frame["date"]).to_numpy().astype("datetime64[M]"), unit="M"
            )
            todo = np.isin(months, sorted(unstamped))
            part = frame if todo.all() else frame[todo].reset_index(drop=True)
        counts = {
            "rows_checked": len(part),
            "rows_validated_when_written": len(frame) - len(part),
            "months_validated_here": len(unstamped),
        }
        failures = stages.schema_failures(dataset, part) if len(part) else {}
        if failures:
            positions = sorted(failures)[:MAX_LISTED]
            rows = part.iloc[positions]
            failing = [f"{r.ticker}|{r.date}" for r in rows.itertuples()]
            return dg.AssetCheckResult(
                passed=False,
                metadata={
                    **counts,
                    "failures": len(failures),
                    "failing_rows": dg.MetadataValue.json(failing),
                    "failure_cases": dg.MetadataValue.json(
                        {key: failures[p] for key, p in zip(failing, positions, strict=True)}
                    ),
                },
            )
        return dg.AssetCheckResult(passed=True, metadata=counts)

    return _check


def _quarantine_check(dataset: str):
    @dg.asset_check(
        asset=dataset,
        name=f"{dataset}_not_quarantined",
        partitions_def=month_partitions,
        description=f"No {dataset} row of the run is quarantined (bad input kept aside with its reason).",
    )
    def _check(
        context: dg.AssetCheckExecutionContext, lake: LakeResource, scope: ScopeResource
    ) -> dg.AssetCheckResult:
        tickers, start, end = _scope(context, scope)
        found = stages.quarantined_now(lake.lake(), dataset, tickers, start, end)
        listed = {f"{t}|{d}": reason for (t, d), reason in list(found.items())[:MAX_LISTED]}
        return dg.AssetCheckResult(
            passed=not found,
            metadata={"quarantined": len(found), "rows": dg.MetadataValue.json(listed)},
        )

    return _check


def _completeness_check(dataset: str):
    @dg.asset_check(
        asset=dataset,
        name=f"{dataset}_complete",
        partitions_def=month_partitions,
        description=f"Every session of the run (each ticker's exchange calendar) has a {dataset} row.",
    )
    def _check(
        context: dg.AssetCheckExecutionContext, lake: LakeResource, scope: ScopeResource
    ) -> dg.AssetCheckResult:
        tickers, start, end = _scope(context, scope)
        rows = _shared_rows(context, lake, dataset, tickers, start, end)
        missing = stages.missing_sessions(lake.lake(), dataset, tickers, start, end, rows=rows)
        listed = [f"{ticker}|{date}" for ticker, dates in missing.items() for date in dates]
        return dg.AssetCheckResult(
            passed=not missing,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                "tickers_checked": len(tickers),
                "tickers_incomplete": len(missing),
                "missing_rows": len(listed),
                "missing": dg.MetadataValue.json(listed[:MAX_LISTED]),
            },
        )

    return _check


def _quality_check(dataset: str):
    @dg.asset_check(
        asset=dataset,
        name=f"{dataset}_quality",
        partitions_def=month_partitions,
        description=f"Quality rules over the run's {dataset} rows (continuity, freshness, uniqueness, ranges).",
    )
    def _check(
        context: dg.AssetCheckExecutionContext, lake: LakeResource, scope: ScopeResource
    ) -> dg.AssetCheckResult:
        from pipelines.quality import alert_failures, check_dataset

        tickers, start, end = _scope(context, scope)
        # The rules only: `<dataset>_matches_schema` validates the same rows with the pandera model.
        rows = _shared_rows(context, lake, dataset, tickers, start, end)
        report = check_dataset(lake.lake(), dataset, tickers, start, end, engine="rules", rows=rows)
        failed = [f"{r.name}: {r.message}" for r in report.failures]
        if not report.passed:
            alert_failures(lake.lake(), report, run_id=context.run.run_id)
        return dg.AssetCheckResult(
            passed=report.passed,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                "tickers_checked": len(tickers),
                "failures": dg.MetadataValue.json(failed[:MAX_LISTED]),
            },
        )

    return _check


CHECKS = [
    factory(dataset)
    for dataset in PROCESSED
    for factory in (_schema_check, _quarantine_check, _completeness_check, _quality_check)
]
