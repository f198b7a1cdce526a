"""Drive the asset graph in-process for tickers × dates: what `tickerlake run` does.

Not a second code path: each chunk of tickers is one run of `lake_job` over a partition range (a
single-run backfill), executed by Dagster against the instance in DAGSTER_HOME, so the runs, checks and
materializations show up in `tickerlake ui`.
"""

import contextlib
import datetime as dt
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg

from dagster_project.partitions import (
    contiguous_chunks,
    partitions_start,
    range_tags,
    ticker_partitions,
    weekday_keys,
)
from lake import layout

LAKE_ASSET_NAMES = ("raw_prices", "prices", "indicators", "percentiles", "features")


@dataclass
class RunSummary:
    partitions: int = 0
    done: int = 0  # partitions whose features were written
    quarantined: set[tuple[str, str]] = field(default_factory=set)
    skipped: int = 0
    failed: list[str] = field(default_factory=list)  # one line per failed run chunk
    failed_partitions: int = 0
    objects_written: int = 0
    checks_failed: list[str] = field(default_factory=list)
    checks_warned: list[str] = field(default_factory=list)
    run_ids: list[str] = field(default_factory=list)
    reports: int = 0
    elapsed_s: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed


def dagster_home() -> Path:
    """DAGSTER_HOME, or ./.dagster_home (created with a minimal dagster.yaml) when it is not set."""
    home = Path(os.environ.get("DAGSTER_HOME") or Path.cwd() / ".dagster_home").resolve()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text("telemetry:\n  enabled: false\n")
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def _relaxed_sqlite_sync() -> None:
    """Run history lives in SQLite; WAL with synchronous=NORMAL cannot corrupt it, and skips an fsync per
    event (Dagster writes several events per partition: this is 4× faster for a backfill on a disk)."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    if getattr(_relaxed_sqlite_sync, "done", False):
        return

    @event.listens_for(Engine, "connect")
    def _pragma(dbapi_connection: Any, _record: Any) -> None:
        if type(dbapi_connection).__module__.startswith("sqlite3"):
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

    _relaxed_sqlite_sync.done = True  # type: ignore[attr-defined]


#: Dagster's switch (an environment variable its event log storage reads) for one ASSET_MATERIALIZATION_PLANNED
#: event per asset and run instead of one per partition; the cost: partitions of a failed run are not
#: marked failed in the instance. `run_lake(record=False)` sets it, since its instance is thrown away.
PLANNED_SUBSET_ENV = "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS"


@contextlib.contextmanager
def _planned_events_per_run(enabled: bool) -> Iterator[None]:
    """With `enabled`, Dagster writes one planned event per asset and run (not per partition: measured,
    those were 57 of the 102 s a ticker's 2-year backfill took); restored afterwards."""
    if not enabled:
        yield
        return
    before = os.environ.get(PLANNED_SUBSET_ENV)
    os.environ[PLANNED_SUBSET_ENV] = "true"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(PLANNED_SUBSET_ENV, None)
        else:
            os.environ[PLANNED_SUBSET_ENV] = before


def date_keys(start: str, end: str) -> list[str]:
    """The date partition keys (weekdays) in [start, end], refusing dates outside the partitions."""
    start, end = layout.validate_date(start), layout.validate_date(end)
    if start > end:
        raise ValueError(f"start date {start} is after end date {end}")
    first = partitions_start()
    if start < first:
        raise ValueError(
            f"start date {start} is before the first date partition {first} (set TICKERLAKE_PARTITIONS_START)"
        )
    today = dt.datetime.now(dt.UTC).date().isoformat()
    if end > today:
        raise ValueError(f"end date {end} is in the future (today is {today} UTC)")
    keys = weekday_keys(dt.date.fromisoformat(start), dt.date.fromisoformat(end))
    if not keys:
        raise ValueError(f"no weekday between {start} and {end}")
    return keys


def _metadata_value(metadata: dict[str, Any], name: str) -> int:
    value = metadata.get(name)
    return int(getattr(value, "value", value) or 0)


QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


@dataclass
class ChunkResult:
    """What one run (a chunk of tickers × the date range) did; picklable, so workers can return it."""

    tickers: list[str]
    partitions: int
    run_id: str = ""
    success: bool = True
    error: str = ""
    written: dict[str, int] = field(default_factory=dict)
    skipped: int = 0
    quarantined: list[tuple[str, str]] = field(default_factory=list)
    checks_failed: list[str] = field(default_factory=list)
    checks_warned: list[str] = field(default_factory=list)


def run_chunk(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    tickers: list[str],
    start: str,
    end: str,
    partitions: int,
) -> ChunkResult:
    """One run of `lake_job` over tickers × [start, end] (a single-run backfill of that rectangle)."""
    job = defs.resolve_job_def("lake_job")
    result = job.execute_in_process(
        instance=instance, tags=range_tags(tickers, start, end), raise_on_error=False, run_config=QUIET
    )
    chunk = ChunkResult(
        tickers=list(tickers), partitions=partitions, run_id=result.run_id, success=result.success
    )
    counts: dict[str, dict[str, Any]] = {}
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization
        counts.setdefault(materialization.asset_key.to_user_string(), dict(materialization.metadata))
    for name in LAKE_ASSET_NAMES:
        chunk.written[name] = _metadata_value(counts.get(name, {}), "partitions_written")
    chunk.skipped = _metadata_value(counts.get("raw_prices", {}), "partitions_skipped")
    for evaluation in result.get_asset_check_evaluations():
        if not evaluation.passed:
            target = (
                chunk.checks_warned
                if evaluation.severity == dg.AssetCheckSeverity.WARN
                else chunk.checks_failed
            )
            target.append(f"{evaluation.check_name} ({', '.join(tickers)})")
        listed = evaluation.metadata.get("partitions")
        if evaluation.check_name.endswith("_not_quarantined") and listed is not None:
            for key in getattr(listed, "value", {}) or {}:
                ticker, date = key.split("|")
                chunk.quarantined.append((ticker, date))
    if not result.success:
        failures = [
            e.step_failure_data.error.message.strip().splitlines()[0]
            for e in result.all_events
            if e.is_step_failure and e.step_failure_data and e.step_failure_data.error
        ]
        chunk.error = failures[0] if failures else "run failed"
    return chunk


_WORKER: dict[str, Any] = {}


def _worker_init(lake_uri: str, source: str | None, dagster_home_dir: str, record: bool) -> None:
    os.environ["DAGSTER_HOME"] = dagster_home_dir
    if not record:  # the worker's instances are thrown away: nothing reads per-partition planned events
        os.environ[PLANNED_SUBSET_ENV] = "true"
    from dagster_project.definitions import build_defs

    _relaxed_sqlite_sync()
    _WORKER["defs"] = build_defs(lake_uri=lake_uri, source=source)
    _WORKER["instance"] = dg.DagsterInstance.get() if record else None


def _chunk_instance(instance: dg.DagsterInstance | None) -> dg.DagsterInstance:
    """The recorded instance, or a fresh in-memory one per chunk: an in-memory instance keeps every event
    of every run it executed (measured: ~375 MB more per ticker-2-years), so it must not outlive a chunk."""
    return instance if instance is not None else dg.DagsterInstance.ephemeral()


def _worker_run(tickers: list[str], start: str, end: str, partitions: int) -> ChunkResult:
    instance = _chunk_instance(_WORKER["instance"])
    try:
        return run_chunk(_WORKER["defs"], instance, tickers, start, end, partitions)
    finally:
        if _WORKER["instance"] is None:
            instance.dispose()


def run_lake(
    defs: dg.Definitions,
    tickers: Sequence[str],
    start: str,
    end: str,
    *,
    chunk_size: int = 4,
    workers: int = 1,
    instance: dg.DagsterInstance | None = None,
    on_chunk: Callable[[list[str], int], None] | None = None,
    with_reports: bool = True,
    lake_uri: str | None = None,
    source: str | None = None,
    record: bool = True,
) -> RunSummary:
    """Materialize raw → features for tickers × weekdays in [start, end], one run per chunk of tickers.

    With `workers` > 1 the chunks run in that many processes (each its own Dagster in-process execution
    against the same DAGSTER_HOME instance; pass `lake_uri`/`source` so the workers build the same defs).
    `record=False` keeps the Dagster run history in memory: the lake is written the same way, but
    `tickerlake ui` will not show these runs (Dagster stores several events per partition and asset, which
    dominates a long backfill on SQLite: see docs/dagster.md).
    """
    started = time.monotonic()
    known = set(ticker_partitions.get_partition_keys())
    unknown = [t for t in tickers if t not in known]
    if unknown:
        raise ValueError(f"ticker(s) {', '.join(unknown)} are not in the universe's partitions")
    dates = date_keys(start, end)
    chunks = contiguous_chunks(tickers, chunk_size)
    summary = RunSummary(partitions=len(tickers) * len(dates))
    results: list[ChunkResult] = []

    def collect(chunk: ChunkResult) -> None:
        results.append(chunk)
        if on_chunk:
            on_chunk(chunk.tickers, chunk.partitions)

    if workers > 1 and instance is None and len(chunks) > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        home = str(dagster_home())
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(
            max_workers=min(workers, len(chunks)),
            mp_context=context,
            initializer=_worker_init,
            initargs=(lake_uri or defs.resources["lake"].uri, source, home, record),
        ) as pool:
            futures = [
                pool.submit(_worker_run, chunk, dates[0], dates[-1], len(chunk) * len(dates))
                for chunk in chunks
            ]
            for future in as_completed(futures):
                collect(future.result())
        dagster_home()
        instance = dg.DagsterInstance.get() if record else None
    else:
        if instance is None and record:
            dagster_home()
            _relaxed_sqlite_sync()
            instance = dg.DagsterInstance.get()
        with _planned_events_per_run(instance is None):
            for chunk in chunks:
                chunk_instance = _chunk_instance(instance)
                try:
                    collect(
                        run_chunk(defs, chunk_instance, chunk, dates[0], dates[-1], len(chunk) * len(dates))
                    )
                finally:
                    if chunk_instance is not instance:
                        chunk_instance.dispose()

    for chunk in results:
        summary.run_ids.append(chunk.run_id)
        summary.objects_written += sum(chunk.written.values())
        summary.done += chunk.written.get("features", 0)
        summary.skipped += chunk.skipped
        summary.quarantined.update(chunk.quarantined)
        summary.checks_failed.extend(chunk.checks_failed)
        summary.checks_warned.extend(chunk.checks_warned)
        if not chunk.success:
            summary.failed.append(f"{', '.join(chunk.tickers)}: {chunk.error}")
            summary.failed_partitions += chunk.partitions
    if with_reports and not summary.failed:
        summary.reports = run_reports(defs, tickers, _chunk_instance(instance))
    summary.elapsed_s = time.monotonic() - started
    return summary


def run_reports(defs: dg.Definitions, tickers: Sequence[str], instance: dg.DagsterInstance) -> int:
    """Pre-warm the report cache (the `reports` asset) for the tickers' latest dates."""
    job = defs.resolve_job_def("reports_job")
    done = 0
    for chunk in contiguous_chunks(tickers, len(tickers)):
        result = job.execute_in_process(
            instance=instance,
            tags={
                "dagster/asset_partition_range_start": chunk[0],
                "dagster/asset_partition_range_end": chunk[-1],
            },
            raise_on_error=False,
            run_config=QUIET,
        )
        if result.success:
            done += len(chunk)
    return done
