"""The lakes the families measure on: the synthetic universe, date ranges, and history lakes built once per
bench session and shared (read-only, or copied before a family changes them).

A *history lake* is what a universe's lake looks like after its backfill: every dataset's month objects,
written through the lake's own stages (`pipelines.stages`, no Dagster), with its raw fetches made on the
last day of the history (`END_DATE`, evening UTC) — so that a daily run afterwards reads only its own new
fetch, as it does in production, where the backfill was fetched days or years before.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import time
from pathlib import Path
from typing import Any

from bench import universe
from bench._common import END_DATE, log, work_dir

DATASETS = ("prices", "indicators", "percentiles", "features")
#: The history's fetch time: the evening (UTC) of its last session.
HISTORY_FETCHED_AT = dt.datetime.fromisoformat(END_DATE + "T23:00:00+00:00")


def universe_file(count: int) -> Path:
    """The CSV of the first `count` synthetic tickers, in the session folder (made once)."""
    path = work_dir() / "universes" / f"universe-{count}.csv"
    if not path.exists():
        universe.write(count, path)
    return path


def use_universe(count: int) -> list[str]:
    """Point this process at the `count`-ticker universe (TICKERLAKE_UNIVERSE); its symbols."""
    os.environ["TICKERLAKE_UNIVERSE"] = str(universe_file(count))
    return universe.symbols(count)


def years_before(end: str, years: float) -> str:
    """The first date of `years` years ending on `end` (inclusive range): 10 years to 2026-11-20 start on
    2016-11-21."""
    last = dt.date.fromisoformat(end)
    whole, part = int(years), years - int(years)
    try:
        first = last.replace(year=last.year - whole)
    except ValueError:  # 29 February
        first = last.replace(year=last.year - whole, day=28)
    first -= dt.timedelta(days=round(365.25 * part))
    return (first + dt.timedelta(days=1)).isoformat()


def open_lake(root: Path, *, durable: bool = True) -> Any:
    """A lake in `root`; `durable=False` skips fsync (only to *seed* history, never to measure)."""
    from lake import Lake
    from lake.store import LocalStore

    lake = Lake(LocalStore(root, durable=durable))
    lake.init()
    return lake


def seed_with_stages(
    lake: Any, symbols: list[str], start: str, end: str, run_id: str = "bench-seed"
) -> float:
    """raw → features for `symbols` over [start, end] through `pipelines.stages` (what the assets call),
    the raw fetches made at `HISTORY_FETCHED_AT`. Returns the seconds it took."""
    from pipelines import stages
    from pipelines.sources import get_source

    started = time.perf_counter()
    source = get_source("sample")
    raw = stages.ingest_raw(lake, source, symbols, start, end, run_id, clock=lambda: HISTORY_FETCHED_AT)
    if raw.failed:
        raise RuntimeError(f"seeding failed: {raw.failed}")
    stages.build_prices(lake, symbols, start, end, run_id)
    for dataset in stages.DERIVED:
        stages.build_derived(lake, dataset, symbols, start, end, run_id)
    return time.perf_counter() - started


def _cached(name: str, build) -> Path:
    """A lake folder in the session folder, built once (a marker file says it is complete)."""
    folder = work_dir() / name
    marker = folder / ".bench-complete"
    if marker.exists():
        return folder / "lake"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    seconds = build(folder / "lake")
    marker.write_text(f"{seconds:.3f}\n")
    return folder / "lake"


def history_lake(count: int, years: float) -> Path:
    """The lake of the first `count` synthetic tickers over `years` years to END_DATE (built once per
    session through the stages; never change it: copy it first)."""

    def build(root: Path) -> float:
        symbols = use_universe(count)
        log(f"seeding a history lake: {count} tickers × {years} years through pipelines.stages")
        lake = open_lake(root, durable=False)
        seconds = seed_with_stages(lake, symbols, years_before(END_DATE, years), END_DATE)
        log(f"seeded in {seconds:.1f} s")
        return seconds

    return _cached(f"history-{count}x{years:g}y", build)


def floor_lake(count: int, years: float) -> Path:
    """The floor's own lake for the same tickers and years (`bench.floor.backfill`), built once per session."""
    from bench import floor

    def build(root: Path) -> float:
        symbols = use_universe(count)
        started = time.perf_counter()
        floor.backfill(root, symbols, years_before(END_DATE, years), END_DATE, fetched_at=HISTORY_FETCHED_AT)
        return time.perf_counter() - started

    return _cached(f"floor-{count}x{years:g}y", build)


def copy_lake(source: Path, target: Path) -> Path:
    """A private copy of a lake (files copied, not linked: the copy is then written to)."""
    shutil.copytree(source, target, symlinks=True)
    return target


def ensure(kind: str, count: int, years: float) -> Path:
    """The cached history (`kind="history"`) or floor (`"floor"`) lake, built in a child process when the
    session does not have it yet (so that building it leaves nothing in this process's memory)."""
    from bench._common import run_child

    name = f"{kind}-{count}x{years:g}y"
    if not (work_dir() / name / ".bench-complete").exists():
        task = "stages" if kind == "history" else "floor_lake"
        run_child("bench.backfill", task, {"tickers": count, "years": years})
    return work_dir() / name / "lake"
