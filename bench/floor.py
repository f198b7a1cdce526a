"""The floor: the physical work of a backfill or an increment, with nothing the lake or Dagster adds.

The same raw bars (the sample source's fetch, one per ticker, stored verbatim as a plain file) parsed by
the project's own parser (`pipelines.parsing.parse_fetch`), computed by its own pure functions
(`compute_indicators`, `compute_percentiles`, `compute_features`, one vectorised pass per ticker) and
written with **one pyarrow write per dataset and month** into `processed/<dataset>/month=M/data.parquet`
(the lake's schema, its zstd compression and row-group size, sorted by ticker and date). No versions, no
tags, no lineage manifests, no validation, no locks, no Dagster, one thread.

An increment's floor: one new session for every ticker — fetch, store and parse the new bar, read the
prices window the indicators need (one pyarrow dataset read of the months in the warm-up window), compute
the new day, then read each dataset's current month object, add the new rows and write it back (one read
and one write per dataset).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np

DATASETS = ("prices", "indicators", "percentiles", "features")
RUN_ID = "floor"
COMPUTATION_VERSION = "floor"


def _schema(dataset: str) -> Any:
    from lake.api import dataset_schema

    return dataset_schema(dataset)


def _write(table: Any, path: Path) -> int:
    """One Parquet write, the lake's settings (zstd, 2,048-row groups, statistics)."""
    import pyarrow.parquet as pq

    from lake.api import ROW_GROUP_ROWS

    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, compression="zstd", row_group_size=ROW_GROUP_ROWS, write_statistics=True)
    return table.num_rows


def _store_raw(root: Path, symbol: str, body: bytes, fetched_at: dt.datetime) -> str:
    from lake import layout

    key = layout.raw_key("sample", symbol, fetched_at)
    path = root / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(body)
    return key


def _ticker_frames(root: Path, source: Any, symbol: str, start: str, end: str, fetched_at: dt.datetime):
    """{dataset: frame} of one ticker over [start, end] from one fetch (None when it has no bar)."""
    import pandas as pd

    from pipelines.parsing import parse_fetch
    from pipelines.sources import envelope_bytes

    parts = []
    for envelope in source.fetch(symbol, start, end):
        body = envelope_bytes(envelope)
        key = _store_raw(root, symbol, body, fetched_at)
        frame, _rejected = parse_fetch(body, expected_symbol=symbol)
        parts.append(frame.assign(source_raw_key=key, source_raw_version="floor"))
    if not parts:
        return None
    prices = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    return prices


def _derive(prices: Any) -> dict[str, Any]:
    """{dataset: frame} of one ticker's prices (sorted by date), with ticker, date and raw lineage."""
    from pipelines.features import compute_features
    from pipelines.indicators import compute_indicators
    from pipelines.percentiles import compute_percentiles

    values = prices.drop(columns=["ticker", "source_raw_key", "source_raw_version"], errors="ignore")
    indicators = compute_indicators(values)
    keep = {
        "ticker": prices["ticker"].to_numpy(),
        "date": prices["date"].to_numpy(),
        "source_raw_key": prices["source_raw_key"].to_numpy(),
        "source_raw_version": prices["source_raw_version"].to_numpy(),
    }
    return {
        "prices": prices,
        "indicators": indicators.assign(**keep),
        "percentiles": compute_percentiles(indicators).assign(**keep),
        "features": compute_features(values, indicators).assign(**keep),
    }


def _table(dataset: str, frames: list[Any], computed_at: dt.datetime) -> Any:
    """The rows of every ticker as one Arrow table in the lake's schema, sorted by ticker and date."""
    import pandas as pd
    import pyarrow as pa

    schema = _schema(dataset)
    frame = pd.concat(frames, ignore_index=True)
    frame["computation_version"] = COMPUTATION_VERSION
    frame["computed_at"] = pd.Timestamp(computed_at)
    frame["run_id"] = RUN_ID
    table = pa.Table.from_pandas(frame[schema.names], schema=schema, preserve_index=False)
    return table


def _months(table: Any) -> list[tuple[str, Any]]:
    """(month, rows of the month sorted by ticker and date) of a table."""
    import pyarrow as pa

    days = table.column("date").cast(pa.int32()).to_numpy()
    months = (days.astype("datetime64[D]").astype("datetime64[M]")).astype(np.int64)
    tickers = table.column("ticker").to_numpy(zero_copy_only=False)
    order = np.lexsort((days, tickers, months))
    table = table.take(pa.array(order))
    months = months[order]
    bounds = np.flatnonzero(np.diff(months)) + 1
    starts = [0, *bounds.tolist()]
    ends = [*bounds.tolist(), len(months)]
    found = []
    for lo, hi in zip(starts, ends, strict=True):
        month = np.datetime64(int(months[lo]), "M").astype(str)
        found.append((month, table.slice(lo, hi - lo)))
    return found


def backfill(
    root: Path, symbols: list[str], start: str, end: str, *, fetched_at: dt.datetime | None = None
) -> dict[str, Any]:
    """The floor of a backfill of `symbols` over [start, end] into `root`; what it wrote."""
    from pipelines.sources import get_source

    fetched_at = fetched_at or dt.datetime.now(dt.UTC)
    source = get_source("sample")
    collected: dict[str, list[Any]] = {name: [] for name in DATASETS}
    for symbol in symbols:
        prices = _ticker_frames(root, source, symbol, start, end, fetched_at)
        if prices is None:
            continue
        for name, frame in _derive(prices).items():
            collected[name].append(frame)
    computed_at = dt.datetime.now(dt.UTC)
    rows, objects = {}, len(symbols)
    for name, frames in collected.items():
        table = _table(name, frames, computed_at)
        collected[name] = []
        rows[name] = table.num_rows
        for month, part in _months(table):
            _write(part, root / "processed" / name / f"month={month}" / "data.parquet")
            objects += 1
    return {"rows": rows, "objects": objects}


def increment(root: Path, symbols: list[str], day: str) -> dict[str, Any]:
    """The floor of one new session `day` for `symbols` on the floor lake in `root`."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.dataset as pads
    import pyarrow.parquet as pq

    from lake import layout
    from pipelines import indicators as indicator_module
    from pipelines.sources import get_source
    from pipelines.stages import warmup_start

    fetched_at = dt.datetime.now(dt.UTC)
    source = get_source("sample")
    new_bars = []
    for symbol in symbols:
        prices = _ticker_frames(root, source, symbol, day, day, fetched_at)
        if prices is not None:
            new_bars.append(prices)
    if not new_bars:
        return {"month_rows": {}, "objects": 0}
    new = pd.concat(new_bars, ignore_index=True)
    low = warmup_start(day, indicator_module.WARMUP_SESSIONS)
    months = layout.months_between(low, day)
    schema = _schema("prices")
    paths = [
        str(root / "processed" / "prices" / f"month={m}" / "data.parquet")
        for m in months
        if (root / "processed" / "prices" / f"month={m}" / "data.parquet").exists()
    ]
    window = (
        pads.dataset(paths, format="parquet", schema=schema)
        .to_table(
            columns=[n for n in schema.names if n not in ("computation_version", "computed_at", "run_id")],
            filter=(pc.field("date") >= pa.scalar(dt.date.fromisoformat(low), pa.date32()))
            & (pc.field("date") < pa.scalar(dt.date.fromisoformat(day), pa.date32())),
        )
        .to_pandas()
    )
    history = dict(tuple(window.groupby("ticker", sort=False)))
    collected: dict[str, list[Any]] = {name: [] for name in DATASETS}
    target = dt.date.fromisoformat(day)
    for ticker, bars in new.groupby("ticker", sort=False):
        past = history.get(ticker)
        prices = pd.concat([past, bars], ignore_index=True) if past is not None else bars
        prices = prices.sort_values("date", ignore_index=True)
        for name, frame in _derive(prices).items():
            collected[name].append(frame[frame["date"] == target])
    computed_at = dt.datetime.now(dt.UTC)
    month = day[:7]
    rows = {}
    for name, frames in collected.items():
        table = _table(name, frames, computed_at)
        path = root / "processed" / name / f"month={month}" / "data.parquet"
        if path.exists():
            old = pq.read_table(path)
            old_keys = pc.binary_join_element_wise(old["ticker"], pc.cast(old["date"], pa.string()), "|")
            new_keys = pc.binary_join_element_wise(table["ticker"], pc.cast(table["date"], pa.string()), "|")
            old = old.filter(pc.invert(pc.is_in(old_keys, value_set=new_keys)))
            table = pa.concat_tables([old.cast(table.schema), table])
        table = table.sort_by([("ticker", "ascending"), ("date", "ascending")])
        rows[name] = _write(table, path)
    return {"month_rows": rows, "objects": len(new_bars) + len(DATASETS)}
