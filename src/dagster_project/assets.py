"""The asset graph: raw_prices → prices → indicators → percentiles → features, and reports after them.

Thin: each asset resolves what its run covers (month partitions × the run's tickers), hands it to a stage of
`pipelines.stages`, and reports what it did. A backfill of many months is one run
(`BackfillPolicy.single_run()`), in which each asset computes each ticker over the whole range in one pass.
"""

import dagster as dg

from dagster_project.partitions import month_partitions
from dagster_project.resources import LakeResource, ScopeResource, SourceResource
from pipelines import stages

SOURCE_RETRY = dg.RetryPolicy(
    max_retries=3, delay=2, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)
LAKE_RETRY = dg.RetryPolicy(max_retries=2, delay=1, backoff=dg.Backoff.EXPONENTIAL)
SINGLE_RUN = dg.BackfillPolicy.single_run()
PREVIEW_ROWS = 10
MAX_LISTED = 50
PREVIEW_COLUMNS = {
    "prices": ["close", "volume"],
    "indicators": ["close", "rsi_14", "macd"],
    "percentiles": ["rsi_14_percentile", "macd_percentile"],
    "features": ["ret_1d", "vol_20d"],
}


def _preview(lake, dataset: str, result: stages.StageResult) -> dg.MetadataValue | None:
    """The first rows of the last month written, as a Dagster table."""
    if not result.writes:
        return None
    last = result.writes[-1]
    frame = lake.read_dataset(
        dataset,
        sorted(result.tickers)[:PREVIEW_ROWS],
        last.first_date,
        last.last_date,
        columns=PREVIEW_COLUMNS[dataset] + ["run_id"],
    )
    frame = frame.sort_values(["date", "ticker"], ascending=[False, True]).head(PREVIEW_ROWS)
    columns = list(frame.columns)
    records = [
        dg.TableRecord({c: (str(v) if c in ("date", "ticker", "run_id") else v) for c, v in row.items()})
        for row in frame.astype(object).where(frame.notna(), None).to_dict("records")
    ]
    schema = dg.TableSchema(
        columns=[
            dg.TableColumn(c, "string" if c in ("date", "ticker", "run_id") else "float") for c in columns
        ]
    )
    return dg.MetadataValue.table(records=records, schema=schema)


def _metadata(
    context: dg.AssetExecutionContext, lake, result: stages.StageResult
) -> dict[str, dg.MetadataValue]:
    """The run's counts on every partition it materialized; each month's own object, version, rows and
    manifest on that month's partition; the lists and the preview once, on the newest month written.

    (Metadata returned with the result is copied into every partition's materialization event: a
    120-month list and a preview table copied 121 times were most of what a backfill's events weighed.)
    """
    counts = result.counts()
    metadata: dict[str, dg.MetadataValue] = {
        "objects_written": dg.MetadataValue.int(counts["objects"]),
        "rows": dg.MetadataValue.int(counts["rows"]),
        "tickers": dg.MetadataValue.int(counts["tickers"]),
        "quarantined": dg.MetadataValue.int(counts["quarantined"]),
        "skipped": dg.MetadataValue.int(counts["skipped"]),
        "failed": dg.MetadataValue.int(counts["failed"]),
    }
    keys = (
        set(context.partition_keys) if context.has_partition_key_range or context.has_partition_key else set()
    )
    extra: dict[str, dg.MetadataValue] = {}
    if result.writes:
        last = result.writes[-1]
        extra["first_date"] = dg.MetadataValue.text(min(w.first_date or "" for w in result.writes))
        extra["last_date"] = dg.MetadataValue.text(max(w.last_date or "" for w in result.writes))
        extra["months"] = dg.MetadataValue.json(
            [
                {"month": w.month, "version_id": w.version_id, "rows": w.rows, "manifest": w.manifest_key}
                for w in result.writes[-120:]
            ]
        )
        preview = _preview(lake, result.dataset, result)
        if preview is not None:
            extra["preview"] = preview
        for write in result.writes:
            own = {
                "object_key": dg.MetadataValue.path(write.key),
                "version_id": dg.MetadataValue.text(write.version_id),
                "lineage_manifest": dg.MetadataValue.path(write.manifest_key),
                "month_rows": dg.MetadataValue.int(write.rows),
                "month_rows_written": dg.MetadataValue.int(write.rows_written),
            }
            if write.month in keys and len(keys) > 1:
                context.add_asset_metadata(own, partition_key=write.month)
            elif write is last:
                metadata.update(own)
    if result.raw:
        extra["raw_keys"] = dg.MetadataValue.json(
            {ticker: keys for ticker, keys in sorted(result.raw.items())[:MAX_LISTED]}
        )
    for name in ("quarantined", "skipped", "failed"):
        items = getattr(result, name)
        if items:
            listed = {
                (f"{k[0]}|{k[1]}" if isinstance(k, tuple) else k): reason
                for k, reason in sorted(items.items())[:MAX_LISTED]
            }
            extra[f"{name}_list"] = dg.MetadataValue.json(listed)
    newest = result.writes[-1].month if result.writes else None
    if len(keys) > 1 and extra:
        target = newest if newest in keys else max(keys)
        context.add_asset_metadata(extra, partition_key=target)
    else:
        metadata.update(extra)
    return metadata


def _log(context: dg.AssetExecutionContext, result: stages.StageResult) -> None:
    counts = result.counts()
    context.log.info(
        f"{result.dataset}: objects={counts['objects']} rows={counts['rows']} tickers={counts['tickers']} "
        f"quarantined={counts['quarantined']} skipped={counts['skipped']} failed={counts['failed']}"
    )
    for (ticker, date), reason in list(result.quarantined.items())[:20]:
        context.log.warning(f"quarantined {result.dataset} {ticker} {date}: {reason}")
    for ticker, reason in list(result.failed.items())[:20]:
        context.log.warning(f"failed {result.dataset} {ticker}: {reason}")


@dg.asset(
    partitions_def=month_partitions,
    backfill_policy=SINGLE_RUN,
    retry_policy=SOURCE_RETRY,
    group_name="lake",
    kinds={"python", "json"},
    description="One source fetch per ticker and run, stored verbatim: raw/<source>/ticker=T/date=<fetch date>/<ts>.json",
)
def raw_prices(
    context: dg.AssetExecutionContext, lake: LakeResource, source: SourceResource, scope: ScopeResource
) -> dg.MaterializeResult:
    tickers, start, end = scope.resolve(context.partition_time_window)
    result = stages.ingest_raw(lake.lake(), source.source(), tickers, start, end, context.run_id)
    _log(context, result)
    return dg.MaterializeResult(metadata=_metadata(context, lake.lake(), result))


def _processed_asset(name: str, upstream: list[str], description: str):
    @dg.asset(
        name=name,
        deps=upstream,
        partitions_def=month_partitions,
        backfill_policy=SINGLE_RUN,
        retry_policy=LAKE_RETRY,
        group_name="lake",
        kinds={"python", "parquet"},
        description=description,
    )
    def _asset(
        context: dg.AssetExecutionContext, lake: LakeResource, scope: ScopeResource
    ) -> dg.MaterializeResult:
        tickers, start, end = scope.resolve(context.partition_time_window)
        if name == "prices":
            result = stages.build_prices(lake.lake(), tickers, start, end, context.run_id)
        else:
            result = stages.build_derived(lake.lake(), name, tickers, start, end, context.run_id)
        _log(context, result)
        return dg.MaterializeResult(metadata=_metadata(context, lake.lake(), result))

    return _asset


prices = _processed_asset(
    "prices",
    ["raw_prices"],
    "Daily OHLCV rows of every ticker, one object per month; for each bar date the newest fetch wins, bad bars are quarantined.",
)
indicators = _processed_asset(
    "indicators",
    ["prices"],
    "TA-Lib indicators (SMA, EMA, Wilder RSI/ATR, MACD, Bollinger) and derived figures, one object per month.",
)
percentiles = _processed_asset(
    "percentiles",
    ["indicators"],
    "Trailing-252-session percentiles and frequency fields of the indicators, one object per month.",
)
features = _processed_asset(
    "features",
    ["prices", "indicators"],
    "Returns, volatility, z-scores, gaps, 52-week distances, normalised RSI/MACD, one object per month.",
)

LAKE_ASSETS = [raw_prices, prices, indicators, percentiles, features]


@dg.asset(
    deps=["features", "percentiles"],
    group_name="reports",
    kinds={"python", "pdf"},
    description="The report bot's precomputed reports (text, chart, PDF) for each ticker's latest date: the "
    "cache pre-warm. Follows the data: the `reports_after_features` sensor requests it after `features`.",
)
def reports(
    context: dg.AssetExecutionContext, lake: LakeResource, scope: ScopeResource
) -> dg.MaterializeResult:
    from pipelines.sources import load_universe
    from report_app.prewarm import prewarm_reports

    tickers = list(scope.tickers) or list(load_universe().symbols)
    results = prewarm_reports(lake.lake(), tickers, None, refresh=True)
    for item in results:
        context.log.info(f"report {item['ticker']} {item.get('date')} status={item.get('status')}")
    errors = {item["ticker"]: item.get("error", "") for item in results if item.get("status") == "error"}
    metadata: dict[str, dg.MetadataValue] = {
        "reports": dg.MetadataValue.int(len(results) - len(errors)),
        "errors": dg.MetadataValue.json(errors),
    }
    if len(results) == 1 and results[0].get("pdf_key"):
        metadata["pdf_key"] = dg.MetadataValue.path(results[0]["pdf_key"])
        metadata["report_date"] = dg.MetadataValue.text(str(results[0].get("date")))
    if errors and len(errors) == len(results):
        raise RuntimeError(f"no report could be built: {errors}")
    return dg.MaterializeResult(metadata=metadata)
