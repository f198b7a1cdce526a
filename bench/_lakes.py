"""Building the lakes the families measure: through the lake's own stages (no Dagster), or the floor."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

DATASETS = ("prices", "indicators", "percentiles", "features")


def tickers(count: int) -> list[str]:
    """The first `count` tickers of the bundled universe (consecutive: one Dagster range per chunk)."""
    from pipelines.sources import load_universe

    symbols = list(load_universe().symbols)
    if count > len(symbols):
        raise ValueError(f"the universe has {len(symbols)} tickers, {count} were asked")
    return symbols[:count]


def years_before(end: str, years: float) -> str:
    """The first date of `years` years ending on `end` (inclusive range)."""
    last = dt.date.fromisoformat(end)
    return (last - dt.timedelta(days=round(365.25 * years)) + dt.timedelta(days=1)).isoformat()


def weekdays(start: str, end: str) -> list[str]:
    from dagster_project.partitions import weekday_keys

    return weekday_keys(dt.date.fromisoformat(start), dt.date.fromisoformat(end))


def open_lake(root: Path, *, durable: bool = True) -> Any:
    """A lake in `root`; `durable=False` skips fsync (only to *seed* history faster, never to measure)."""
    from lake import Lake
    from lake.store import LocalStore

    lake = Lake(LocalStore(root, durable=durable))
    lake.init()
    return lake


def seed_with_stages(lake: Any, symbols: list[str], start: str, end: str, run_id: str = "bench-seed") -> None:
    """raw → features for symbols × weekdays in [start, end] with `lake.stages`, one ticker at a time."""
    from lake import stages
    from pipelines.sources import get_source

    source = get_source("sample")
    dates = weekdays(start, end)
    for symbol in symbols:
        partitions = [(symbol, day) for day in dates]
        stages.ingest_raw(lake, source, partitions)
        stages.build_prices(lake, partitions, run_id)
        for dataset in stages.DERIVED:
            stages.build_derived(lake, dataset, partitions, run_id)


def computed_frames(symbol: str, start: str, end: str) -> tuple[dict[str, Any], list[Any]]:
    """{dataset: rows} of one ticker, computed in one vectorised pass from the sample source's envelopes."""
    from pipelines.features import compute_features
    from pipelines.indicators import compute_indicators
    from pipelines.parsing import parse_envelopes
    from pipelines.percentiles import compute_percentiles
    from pipelines.sources import envelope_bytes, get_source

    envelopes = get_source("sample").fetch(symbol, start, end)
    prices = parse_envelopes([envelope_bytes(e) for e in envelopes], expected_symbol=symbol)
    prices = prices.drop(columns=[c for c in ("ticker",) if c in prices.columns])
    indicators = compute_indicators(prices)
    dates = prices["date"].to_numpy()
    frames = {
        "prices": prices,
        "indicators": indicators.assign(date=dates),
        "percentiles": compute_percentiles(indicators).assign(date=dates),
        "features": compute_features(prices, indicators).assign(date=dates),
    }
    return {name: frame.assign(ticker=symbol) for name, frame in frames.items()}, envelopes


def write_floor(root: Path, symbols: list[str], start: str, end: str) -> int:
    """The floor of a backfill: the same rows, computed per ticker in one pass, written with one
    `pyarrow.dataset.write_dataset` per dataset into the same hive layout (ticker=/date=), plus the raw
    envelopes as plain files. Returns the number of files written."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.dataset as pads

    from pipelines.sources import envelope_bytes

    collected: dict[str, list[Any]] = {name: [] for name in DATASETS}
    files = 0
    for symbol in symbols:
        frames, envelopes = computed_frames(symbol, start, end)
        for envelope in envelopes:
            folder = root / "raw" / f"ticker={symbol}" / f"date={envelope['as_of']}"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "raw.json").write_bytes(envelope_bytes(envelope))
            files += 1
        for name, frame in frames.items():
            collected[name].append(frame)
    for name, parts in collected.items():
        frame = pd.concat(parts, ignore_index=True)
        frame["date"] = frame["date"].astype(str)
        table = pa.Table.from_pandas(frame, preserve_index=False)
        pads.write_dataset(
            table,
            root / "processed" / name,
            format="parquet",
            partitioning=["ticker", "date"],
            partitioning_flavor="hive",
            max_partitions=10_000_000,
            max_open_files=4096,
            existing_data_behavior="overwrite_or_ignore",
        )
        files += len(frame)
    return files
