"""What-if, measured: the same stages behind ticker × *month* Dagster partitions instead of ticker × day.

Not the shipped graph (DESIGN.md asks for tickers × trading dates): a throwaway Definitions whose five lake
assets are partitioned by (ticker, month) and hand each month's weekdays to the same `lake.stages`, run like
`run_lake` does (one run per chunk of 4 adjacent tickers over the whole range, a fresh in-memory instance
per chunk, no asset checks), against the floor of the backfill family, in the same invocation:

    python -m bench.whatif_monthly [--tickers 4] [--years 2]

It prints the figures as JSON; docs/benchmarks.md quotes them in "The plan".
"""

import argparse
import datetime as dt
import json
import tempfile
from pathlib import Path
from typing import Any

from bench import _lakes
from bench._common import END_DATE, child_main, log, run_child, timed

MODULE = "bench.whatif_monthly"


def _defs(uri: str, start: str):
    import dagster as dg

    from dagster_project.partitions import ticker_partitions, weekday_keys
    from dagster_project.resources import LakeResource, SourceResource
    from lake import stages

    month_partitions = dg.MonthlyPartitionsDefinition(start_date=start[:8] + "01", end_offset=1)
    partitions = dg.MultiPartitionsDefinition({"ticker": ticker_partitions, "month": month_partitions})

    def pairs(context: dg.AssetExecutionContext) -> list[tuple[str, str]]:
        found = []
        for key in context.partition_keys:
            dims = key.keys_by_dimension if isinstance(key, dg.MultiPartitionKey) else None
            if dims is None:
                month, ticker = str(key).split("|")
            else:
                month, ticker = dims["month"], dims["ticker"]
            first = dt.date.fromisoformat(month)
            last = (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
            found += [
                (ticker, day)
                for day in weekday_keys(first, min(last, dt.date.fromisoformat(END_DATE)))
                if day >= start
            ]
        return found

    policy = dg.BackfillPolicy.single_run()

    @dg.asset(partitions_def=partitions, backfill_policy=policy)
    def raw_prices(context: dg.AssetExecutionContext, lake: LakeResource, source: SourceResource) -> None:
        stages.ingest_raw(lake.lake(), source.source(), pairs(context), context.run_id)

    def derived(name: str, upstream: list[str]):
        @dg.asset(name=name, deps=upstream, partitions_def=partitions, backfill_policy=policy)
        def _asset(context: dg.AssetExecutionContext, lake: LakeResource) -> None:
            if name == "prices":
                stages.build_prices(lake.lake(), pairs(context), context.run_id)
            else:
                stages.build_derived(lake.lake(), name, pairs(context), context.run_id)

        return _asset

    assets = [
        raw_prices,
        derived("prices", ["raw_prices"]),
        derived("indicators", ["prices"]),
        derived("percentiles", ["indicators"]),
        derived("features", ["prices", "indicators"]),
    ]
    return dg.Definitions(
        assets=assets,
        resources={"lake": LakeResource(uri=uri), "source": SourceResource(name="sample")},
        jobs=[dg.define_asset_job("monthly_job", selection=assets)],
    )


def task_monthly(args: dict[str, Any]) -> dict[str, Any]:
    import dagster as dg

    from dagster_project.partitions import contiguous_chunks
    from dagster_project.runner import QUIET

    symbols = _lakes.tickers(args["tickers"])
    start = _lakes.years_before(END_DATE, args["years"])
    first_month, last_month = start[:8] + "01", END_DATE[:8] + "01"

    def run(root: Path, tickers: list[str], begin: str, end: str) -> int:
        uri = str(root / "lake")
        _lakes.open_lake(root / "lake")
        job = _defs(uri, begin).resolve_job_def("monthly_job")
        partitions = 0
        for chunk in contiguous_chunks(tickers, 4):
            instance = dg.DagsterInstance.ephemeral()
            try:
                tags = {
                    "dagster/asset_partition_range_start": str(
                        dg.MultiPartitionKey({"ticker": chunk[0], "month": begin[:8] + "01"})
                    ),
                    "dagster/asset_partition_range_end": str(
                        dg.MultiPartitionKey({"ticker": chunk[-1], "month": end[:8] + "01"})
                    ),
                }
                result = job.execute_in_process(instance=instance, tags=tags, run_config=QUIET)
                assert result.success
                partitions += len({e.partition for e in result.get_asset_materialization_events()})
            finally:
                instance.dispose()
        return partitions

    with tempfile.TemporaryDirectory(prefix="tickerlake-whatif-warm-") as warm:
        run(Path(warm), symbols[:1], _lakes.years_before(END_DATE, 0.05), END_DATE)
    with tempfile.TemporaryDirectory(prefix="tickerlake-whatif-") as root:
        seconds, partitions = timed(lambda: run(Path(root), symbols, start, END_DATE))
        lake = _lakes.open_lake(Path(root) / "lake")
        features = sum(len(lake.partitions("features", s)) for s in symbols)
    return {
        "tickers": len(symbols),
        "years": args["years"],
        "months": f"{first_month[:7]}..{last_month[:7]}",
        "seconds": round(seconds, 3),
        "dagster_partitions_per_asset": partitions,
        "features_written": features,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.whatif_monthly", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--tickers", type=int, default=4)
    parser.add_argument("--years", type=float, default=2.0)
    args = parser.parse_args(argv)
    config = {"tickers": args.tickers, "years": args.years}
    log(f"what-if: ticker × month partitions, {args.tickers} tickers × {args.years} years")
    monthly = run_child(MODULE, "monthly", config)
    log(f"what-if: {monthly['seconds']} s; floor")
    floor = run_child("bench.backfill", "floor", config)
    log(f"what-if: floor {floor['seconds']} s")
    found = {
        "monthly": monthly,
        "floor": floor,
        "ratio": round(monthly["seconds"] / floor["seconds"], 2),
        "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    print(json.dumps(found, indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    import sys

    if "--child" in sys.argv:
        child_main({"monthly": task_monthly})
    else:
        raise SystemExit(main())
