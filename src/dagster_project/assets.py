"""The asset graph: raw_prices → prices → indicators → percentiles → features → reports.

Thin: each asset hands its partitions to a stage of `lake.stages` and reports what it did. Every asset
runs a whole partition range in one run (BackfillPolicy.single_run), so a backfill of a long history costs
one run, not one per day.
"""

import dagster as dg

from dagster_project.partitions import split_keys, ticker_date_partitions, ticker_partitions
from dagster_project.resources import LakeResource, SourceResource
from lake import stages

SOURCE_RETRY = dg.RetryPolicy(
    max_retries=3, delay=2, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)
LAKE_RETRY = dg.RetryPolicy(max_retries=2, delay=1, backoff=dg.Backoff.EXPONENTIAL)
SINGLE_RUN = dg.BackfillPolicy.single_run()
PREVIEW_ROWS = 10


def _metadata(result: stages.StageResult) -> dict[str, dg.MetadataValue]:
    counts = result.counts()
    metadata: dict[str, dg.MetadataValue] = {
        "partitions_written": dg.MetadataValue.int(counts["written"]),
        "partitions_quarantined": dg.MetadataValue.int(counts["quarantined"]),
        "partitions_skipped": dg.MetadataValue.int(counts["skipped"]),
        "row_count": dg.MetadataValue.int(counts["rows"]),
    }
    if len(result.written) == 1:
        item = next(iter(result.written.values()))
        metadata["object_key"] = dg.MetadataValue.path(item["key"])
        metadata["version_id"] = dg.MetadataValue.text(item["version_id"])
        if item.get("source_raw_key"):
            metadata["source_raw_key"] = dg.MetadataValue.path(item["source_raw_key"])
    preview = result.preview(PREVIEW_ROWS)
    if preview:
        columns = sorted(
            {name for line in preview for name in line}, key=lambda n: (n != "ticker", n != "date", n)
        )
        header = "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns) + "\n"
        body = "".join("| " + " | ".join(str(line.get(c, "")) for c in columns) + " |\n" for line in preview)
        metadata["preview"] = dg.MetadataValue.md(header + body)
    if result.quarantined:
        metadata["quarantined"] = dg.MetadataValue.json(
            {f"{t}|{d}": reason for (t, d), reason in list(result.quarantined.items())[:50]}
        )
    return metadata


def _log(context: dg.AssetExecutionContext, result: stages.StageResult) -> None:
    counts = result.counts()
    context.log.info(
        f"{result.dataset}: written={counts['written']} quarantined={counts['quarantined']} "
        f"skipped={counts['skipped']} rows={counts['rows']}"
    )
    for (ticker, date), reason in list(result.quarantined.items())[:20]:
        context.log.warning(f"quarantined {result.dataset} {ticker} {date}: {reason}")


@dg.asset(
    partitions_def=ticker_date_partitions,
    backfill_policy=SINGLE_RUN,
    retry_policy=SOURCE_RETRY,
    group_name="lake",
    kinds={"python", "json"},
    description="Raw daily bars and company facts as fetched, stored verbatim: raw/yfinance/ticker=T/date=D/<ts>.json",
)
def raw_prices(
    context: dg.AssetExecutionContext, lake: LakeResource, source: SourceResource
) -> dg.MaterializeResult:
    result = stages.ingest_raw(
        lake.lake(), source.source(), split_keys(context.partition_keys), context.run_id
    )
    _log(context, result)
    return dg.MaterializeResult(metadata=_metadata(result))


def _derived_asset(name: str, upstream: list[str], description: str):
    @dg.asset(
        name=name,
        deps=upstream,
        partitions_def=ticker_date_partitions,
        backfill_policy=SINGLE_RUN,
        retry_policy=LAKE_RETRY,
        group_name="lake",
        kinds={"python", "parquet"},
        description=description,
    )
    def _asset(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
        pairs = split_keys(context.partition_keys)
        if name == "prices":
            result = stages.build_prices(lake.lake(), pairs, context.run_id)
        else:
            result = stages.build_derived(lake.lake(), name, pairs, context.run_id)
        _log(context, result)
        return dg.MaterializeResult(metadata=_metadata(result))

    return _asset


prices = _derived_asset(
    "prices",
    ["raw_prices"],
    "Daily OHLCV rows parsed from the newest raw object; bad payloads are quarantined.",
)
indicators = _derived_asset(
    "indicators",
    ["prices"],
    "TA-Lib indicators (SMA, EMA, Wilder RSI/ATR, MACD, Bollinger) and derived figures.",
)
percentiles = _derived_asset(
    "percentiles", ["indicators"], "Trailing-252-session percentiles and frequency fields of the indicators."
)
features = _derived_asset(
    "features",
    ["prices", "indicators"],
    "Returns, volatility, z-scores, gaps, 52-week distances, normalised RSI/MACD.",
)

LAKE_ASSETS = [raw_prices, prices, indicators, percentiles, features]


@dg.asset(
    partitions_def=ticker_partitions,
    deps=[
        dg.AssetDep(
            "features",
            partition_mapping=dg.MultiToSingleDimensionPartitionMapping(partition_dimension_name="ticker"),
        )
    ],
    group_name="reports",
    backfill_policy=SINGLE_RUN,
    kinds={"python", "pdf"},
    description="The report bot's precomputed report (text, chart, PDF) for the ticker's latest date: cache pre-warm.",
)
def reports(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    from report_app.prewarm import prewarm_reports

    results = prewarm_reports(lake.lake(), list(context.partition_keys), None, refresh=True)
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
