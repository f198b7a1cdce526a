"""Scale-out by simulation: N worker processes, one per ticker shard, against a local lake and a moto server.

`python -m bench.scale_out [--quick | --smoke]` prints the figures and writes `bench/results/scale_out.json`
(docs/scale-out.md reads them). Not part of `make bench` (`bench.run`): it is a capacity study, run by hand.

What one *run* is: the synthetic universe (`bench.universe`) over whole months to END_DATE, split into N
shards by a hash of the ticker (`shard_of`: BLAKE2b of the symbol, modulo N). Each shard is one worker
process (multiprocessing, spawn: a fresh interpreter, as an ECS task is) that runs the lake's own stages
(`pipelines.stages`: raw → prices → indicators → percentiles → features, no Dagster) for its tickers. The
workers import and open their lake, wait at a barrier, and start together; the clock runs from the barrier
to the last worker's end.

- **sharded**: each worker writes its own lake root (`<work>/.../shard=NN/`, `s3://bucket/lake/shard=NN/`):
  exactly the month objects a shard dimension of the layout would produce, one writer per object.
- **shared** (the layout of today): the N workers write the same month objects; `Lake.write_month`'s
  compare-and-swap makes the losers read, merge and write again. The retries are counted by the workers
  (`MonthWrite.attempts`) and, on S3, by the server (412 answers); a write that loses `MAX_WRITE_ATTEMPTS`
  times raises WriteConflict, and the worker re-runs that stage (what Dagster's retry policy would do),
  at most `STAGE_ATTEMPTS` times.

Per worker: work seconds, CPU seconds (getrusage: the process and its threads), peak RSS (ru_maxrss) and
the RSS after imports, rows written, CAS retries. Per S3 run: every request the moto server answered,
from its access log (`LoggedMotoServer`), by shard, by lake area (raw/, processed/, lineage/, ...) and by
S3's price classes (PUT/COPY/POST/LIST vs GET/HEAD). After the backfill of each sharded lake, an
*increment* (one new session, as the daily run adds it) by the same N workers.

Every run is verified: the (ticker, date) rows of every dataset, over all the run's lakes, are exactly the
sample source's bars (none missing, none extra, none twice), and each ticker sits only in its own shard.
The projection to 50,000 tickers × 20 years on Fargate (`project`) uses the measured figures and the
prices and assumptions in `ASSUMPTIONS`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import multiprocessing as mp
import os
import platform
import queue
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse
import urllib.request
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import _lakes
from bench._common import END_DATE, INCREMENT_DAYS, log
from tests.moto_server import MotoServer, free_port

RESULTS = Path(__file__).resolve().parent / "results" / "scale_out.json"
DATASETS = ("prices", "indicators", "percentiles", "features")
#: A worker re-runs a stage that raised WriteConflict (a month lost MAX_WRITE_ATTEMPTS races) this often.
STAGE_ATTEMPTS = 3
#: Seconds a worker may take to import and open its lake, and a run to finish.
READY_TIMEOUT_S = 600
RUN_TIMEOUT_S = 3600

CONFIGS: dict[str, dict[str, Any]] = {
    # The test's scale: seconds of work, every code path (both backends, both modes, the increment).
    "smoke": {"tickers": 6, "months": 2, "workers": [1, 2], "backends": ["local", "s3"]},
    "quick": {"tickers": 24, "months": 12, "workers": [1, 2, 4], "backends": ["local", "s3"]},
    # Bounded by moto, not by the lake: see LoggedMotoServer.memory_limit_mb (and ~15 minutes here).
    "full": {"tickers": 60, "months": 24, "workers": [1, 2, 4], "backends": ["local", "s3"]},
}

#: Prices and assumptions of the projection. Prices: AWS us-east-1 list prices, on-demand, as published on
#: the AWS Fargate and Amazon S3 pricing pages and quoted by third parties on the dates given; check them
#: again before quoting a figure.
ASSUMPTIONS: dict[str, Any] = {
    "prices_as_of": "2026-06 (aws.amazon.com/fargate/pricing, aws.amazon.com/s3/pricing; quoted by "
    "vantage.sh/blog/fargate-pricing and factualminds.com, June 2026)",
    "fargate_vcpu_hour_usd": 0.04048,  # Linux/x86, us-east-1
    "fargate_gb_hour_usd": 0.004445,
    "fargate_arm_vcpu_hour_usd": 0.03238,  # Linux/ARM (Graviton), for reference
    "fargate_arm_gb_hour_usd": 0.00356,
    "fargate_minimum_billed_s": 60,  # per task, billed per second after the first minute
    "s3_class_a_per_1000_usd": 0.005,  # PUT, COPY, POST, LIST (S3 Standard)
    "s3_class_b_per_1000_usd": 0.0004,  # GET, HEAD and the others
    "universe_tickers": 50_000,
    "years": 20,
    "sessions_per_year": 252,
    "task_vcpu": 1,  # the stages use one core (the I/O threads wait, pandas holds the GIL)
    "task_memory_choices_gb": [2, 3, 4, 5, 6, 7, 8],  # Fargate's sizes for 1 vCPU
    "memory_headroom": 1.3,  # task memory ≥ 1.3 × the predicted peak RSS
    "task_startup_s": 60,  # image pull, Python and library imports, before the first request (billed)
    "shard_tickers": 1000,  # tickers per shard (50 shards → 64 with a power-of-two hash space)
    "shards": 64,
}


# ---------------------------------------------------------------------------------------------- sharding


def shard_of(symbol: str, shards: int) -> int:
    """The shard of a ticker: BLAKE2b of the symbol modulo `shards` (stable across processes and runs).

    Not CRC32: it is linear, and its low bits on symbols that differ in a counter are far from uniform
    (BX0000..BX0199 modulo 4 gives 72/72/28/28 tickers); BLAKE2b gives 54/47/48/51.
    """
    if not isinstance(shards, int) or isinstance(shards, bool) or shards < 1:
        raise ValueError(f"shards {shards!r} is not valid: expected a whole number ≥ 1")
    if not isinstance(symbol, str) or not symbol:
        raise ValueError(f"symbol {symbol!r} is not valid: expected a non-empty ticker")
    digest = hashlib.blake2b(symbol.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % shards


def split(symbols: list[str], shards: int) -> list[list[str]]:
    """The symbols of each shard, in universe order."""
    found: list[list[str]] = [[] for _ in range(shards)]
    for symbol in symbols:
        found[shard_of(symbol, shards)].append(symbol)
    return found


def history_range(months: int, end: str = END_DATE) -> tuple[str, str]:
    """(first day of the month `months - 1` months before `end`'s month, end): `months` months, the
    first whole, the last up to `end`."""
    last = dt.date.fromisoformat(end)
    index = last.year * 12 + last.month - 1 - (months - 1)
    return dt.date(index // 12, index % 12 + 1, 1).isoformat(), end


# ---------------------------------------------------------------------------------------------- moto server

#: An access-log line of the moto server (werkzeug): `... "PUT /bucket/key?x HTTP/1.1" 200 -`; werkzeug
#: colours the request of an error answer with ANSI escapes inside the quotes (removed before matching).
_ACCESS = re.compile(r'"([A-Z]+) (\S+) HTTP/[\d.]+" (\d{3})')
#: A key (or listing prefix) under a run's lake: `lake/[shard=NN/]<area>/...`.
_ANSI = re.compile(r"\x1b\[[\d;]*m")
_LAKE_KEY = re.compile(r"lake/(?:shard=(\d+)/)?([^/]*)")
_AREAS = ("raw", "processed", "lineage", "quarantine", "alerts")


@dataclass
class LoggedMotoServer(MotoServer):
    """`tests.moto_server.MotoServer` with its access log kept in a file: every request it answered."""

    log_path: Path = field(default_factory=lambda: Path(tempfile.mkstemp(suffix=".log")[1]))
    #: The server's address-space limit. moto's ListObjectVersions deep-copies every version of every key
    #: in the bucket, data included, on each call (moto/s3/models.py); a run that lists a large bucket
    #: many times grew the server past 23 GB and the kernel's OOM killer stopped it. With the limit the
    #: server fails its requests instead (the run stops with an error) and the machine is left alone.
    memory_limit_mb: int = 8192

    def _limit(self) -> None:
        limit = self.memory_limit_mb * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    def start(self, timeout: float = 30.0) -> LoggedMotoServer:
        handle = open(self.log_path, "ab")  # noqa: SIM115 - the server process owns it until it stops
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                stdout=subprocess.DEVNULL,
                stderr=handle,
                start_new_session=True,
                preexec_fn=self._limit,  # noqa: PLW1509 - a setrlimit only, no threads started yet
            )
        finally:
            handle.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"moto server exited with code {self.process.returncode}")
            try:
                urllib.request.urlopen(self.endpoint + "/moto-api/", timeout=1).read()
                return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"moto server did not answer on {self.endpoint} within {timeout}s")

    def restart(self) -> LoggedMotoServer:
        """A fresh server process on a new port (moto does not give back the memory of its buckets, even
        after its reset API); the caller points the AWS variables at `env()` again."""
        self.stop()
        self.port = free_port()
        return self.start()

    def log_offset(self) -> int:
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def requests_since(self, offset: int, bucket: str) -> list[tuple[str, str, int]]:
        """(method, path?query as sent, status) of the requests logged after `offset` to `bucket` and to its
        per-shard buckets (`<bucket>-sNN`)."""
        time.sleep(0.2)  # the server logs a request after it answered it
        with open(self.log_path, "rb") as handle:
            handle.seek(offset)
            text = _ANSI.sub("", handle.read().decode(errors="replace"))
        found = []
        for match in _ACCESS.finditer(text):
            method, target, status = match.group(1), match.group(2), int(match.group(3))
            name = target.partition("?")[0].split("/")[1]
            if name == bucket or re.fullmatch(re.escape(bucket) + r"-s\d+", name):
                found.append((method, target, status))
        return found

    def peak_rss_mb(self) -> float:
        """The server's peak resident memory so far (VmHWM; 0 if the server is not ours)."""
        if self.process is None:
            return 0.0
        try:
            with open(f"/proc/{self.process.pid}/status") as handle:
                for line in handle:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) / 1024
        except OSError:
            pass
        return 0.0

    def cpu_seconds(self) -> float:
        """CPU seconds the server process has used so far (user + system, from /proc; 0 if not ours)."""
        if self.process is None:
            return 0.0
        try:
            with open(f"/proc/{self.process.pid}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _key_and_query(target: str) -> tuple[str, dict[str, list[str]]]:
    """(object key, or the listing's prefix for a bucket-level call; query parameters) of a request."""
    path, _, query = target.partition("?")
    params = urllib.parse.parse_qs(query, keep_blank_values=True)
    parts = urllib.parse.unquote(path).split("/", 2)
    key = parts[2] if len(parts) == 3 else ""
    return (key or params.get("prefix", [""])[0]), params


def price_class(method: str, target: str) -> str:
    """S3's request price class of one logged request: "a" (PUT, COPY, POST, LIST), "b" (GET, HEAD and
    the others), "free" (DELETE)."""
    if method in ("PUT", "POST", "COPY"):
        return "a"
    if method == "DELETE":
        return "free"
    path, _, _query = target.partition("?")
    _key, params = _key_and_query(target)
    on_bucket = len(urllib.parse.unquote(path).rstrip("/").split("/")) == 2
    listing = not params or any(p in params for p in ("list-type", "versions", "prefix", "delimiter"))
    return "a" if method == "GET" and on_bucket and listing else "b"


def request_area(target: str) -> str:
    """The lake area a request touched (raw, processed, lineage, quarantine, alerts), "bucket" for a
    bucket-level call, "other" for anything else."""
    key, _params = _key_and_query(target)
    match = _LAKE_KEY.match(key)
    if not key:
        return "bucket"
    return match.group(2) if match and match.group(2) in _AREAS else "other"


def request_shard(target: str) -> str:
    """The shard (`"0"`, `"1"`, ...) whose lake a request touched; "-" for a shared lake or the bucket."""
    match = _LAKE_KEY.match(_key_and_query(target)[0])
    return str(int(match.group(1))) if match and match.group(1) is not None else "-"


def tally(requests: list[tuple[str, str, int]]) -> dict[str, Any]:
    """Requests by price class, by area, by shard and by status; each 412 is a lost compare-and-swap."""
    by_class: Counter[str] = Counter()
    by_area: dict[str, Counter[str]] = {}
    by_shard: dict[str, Counter[str]] = {}
    statuses: Counter[str] = Counter()
    for method, target, status in requests:
        kind = price_class(method, target)
        by_class[kind] += 1
        by_area.setdefault(request_area(target), Counter())[kind] += 1
        by_shard.setdefault(request_shard(target), Counter())[kind] += 1
        statuses[str(status)] += 1
    return {
        "total": len(requests),
        "class_a": by_class["a"],
        "class_b": by_class["b"],
        "delete": by_class["free"],
        "by_area": {k: dict(v) for k, v in sorted(by_area.items())},
        "by_shard": {k: dict(v) for k, v in sorted(by_shard.items())},
        "status": dict(sorted(statuses.items())),
        "precondition_failed": statuses["412"],
    }


# ---------------------------------------------------------------------------------------------- workers


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _memory_mb(field_name: str) -> float:
    """VmRSS (now) or VmHWM (peak) of this process, in MB, from /proc/self/status.

    Not getrusage's ru_maxrss: Linux carries the parent's high-water mark into a child across fork and
    exec, so a worker started by a large coordinator would report the coordinator's peak."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field_name + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field_name} not in /proc/self/status")


def _open_lake(location: str) -> Any:
    from lake import Lake
    from lake.store import LocalStore, S3Store

    if location.startswith("s3://"):
        return Lake(S3Store(location))
    return Lake(LocalStore(location))


def _stages(spec: dict[str, Any], lake: Any) -> dict[str, Any]:
    """raw → features for the worker's tickers over [start, end]; what each stage did."""
    from lake.exceptions import WriteConflict
    from pipelines import stages
    from pipelines.sources import get_source

    tickers, start, end, run_id = spec["tickers"], spec["start"], spec["end"], spec["run_id"]
    fetched_at = dt.datetime.fromisoformat(spec["fetched_at"])
    source = get_source("sample")
    done: dict[str, Any] = {
        "rows": {},
        "writes": 0,
        "cas_retries": 0,
        "stage_retries": 0,
        "quarantined": 0,
        "seconds": {},
    }

    def run(name: str, call: Any) -> Any:
        started = time.perf_counter()
        for attempt in range(1, STAGE_ATTEMPTS + 1):
            try:
                result = call()
                break
            except WriteConflict:
                done["stage_retries"] += 1
                if attempt == STAGE_ATTEMPTS:
                    raise
        done["seconds"][name] = round(time.perf_counter() - started, 3)
        if name != "raw":
            done["rows"][name] = result.rows
            done["writes"] += len(result.writes)
            done["cas_retries"] += sum(write.attempts - 1 for write in result.writes)
        done["quarantined"] += len(result.quarantined)
        if result.failed:
            raise RuntimeError(f"stage {name} failed for {result.failed}")
        return result

    run("raw", lambda: stages.ingest_raw(lake, source, tickers, start, end, run_id, clock=lambda: fetched_at))
    run("prices", lambda: stages.build_prices(lake, tickers, start, end, run_id))
    for dataset in stages.DERIVED:
        run(dataset, lambda dataset=dataset: stages.build_derived(lake, dataset, tickers, start, end, run_id))
    return done


def _worker(spec: dict[str, Any], barrier: Any, results: Any) -> None:
    """One shard's worker process: import, open the lake, wait for the others, run the stages, report."""
    try:
        # Everything the stages import lazily, before the barrier: a task's start-up, not its work.
        import pandas  # noqa: F401
        import pandera  # noqa: F401
        import pyarrow.parquet  # noqa: F401

        import lake.alerts  # noqa: F401
        import pipelines.features  # noqa: F401
        import pipelines.indicators  # noqa: F401
        import pipelines.parsing  # noqa: F401
        import pipelines.percentiles  # noqa: F401
        import pipelines.sources  # noqa: F401
        import pipelines.stages  # noqa: F401
        import schemas  # noqa: F401

        lake = _open_lake(spec["lake"])
        ready_rss = _memory_mb("VmRSS")
        barrier.wait(READY_TIMEOUT_S)
        started, cpu = time.time(), _cpu_seconds()
        done = _stages(spec, lake)
        finished = time.time()
        results.put(
            {
                "shard": spec["shard"],
                "tickers": len(spec["tickers"]),
                "months": spec["months"],
                "started": started,
                "finished": finished,
                "work_s": round(finished - started, 3),
                "cpu_s": round(_cpu_seconds() - cpu, 3),
                "ready_rss_mb": round(ready_rss, 1),
                "peak_rss_mb": round(_memory_mb("VmHWM"), 1),
                **done,
            }
        )
    except BaseException as exc:  # noqa: BLE001 - reported to the coordinator, which raises it
        try:
            barrier.abort()
        except Exception:  # noqa: BLE001
            pass
        tail = "".join(traceback.format_exception(exc)[-6:])
        results.put({"shard": spec["shard"], "error": f"{type(exc).__name__}: {exc}\n{tail}"})


def run_workers(specs: list[dict[str, Any]]) -> tuple[float, list[dict[str, Any]]]:
    """Start one process per spec, release them together, and return (wall seconds from the release to
    the last worker's end, each worker's report in shard order)."""
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(len(specs) + 1)
    results = ctx.Queue()
    processes = [ctx.Process(target=_worker, args=(spec, barrier, results), daemon=True) for spec in specs]
    for process in processes:
        process.start()
    reports: list[dict[str, Any]] = []
    try:
        try:
            barrier.wait(READY_TIMEOUT_S)
        except threading.BrokenBarrierError:
            pass  # a worker failed before the start: its report says why
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while len(reports) < len(specs):
            if time.monotonic() > deadline:
                raise RuntimeError(f"workers did not finish within {RUN_TIMEOUT_S} s")
            try:
                reports.append(results.get(timeout=1.0))
            except queue.Empty:  # check that the workers are alive
                dead = [p for p in processes if p.exitcode not in (None, 0)]
                if dead and results.empty():
                    time.sleep(1.0)
                    if results.empty():
                        raise RuntimeError(f"worker exited with code {dead[0].exitcode}") from None
        for process in processes:
            process.join(30)
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
                process.join(5)
    failed = [r for r in reports if "error" in r]
    if failed:
        raise RuntimeError(f"shard {failed[0]['shard']} failed: {failed[0]['error']}")
    reports.sort(key=lambda r: r["shard"])
    wall = max(r["finished"] for r in reports) - min(r["started"] for r in reports)
    return wall, reports


# ---------------------------------------------------------------------------------------------- verification


def expected_rows(symbols: list[str], ranges: list[tuple[str, str]]) -> set[tuple[str, str]]:
    """(ticker, date) of every bar the sample source serves for the symbols in the date ranges."""
    from pipelines.sources import get_source

    source = get_source("sample")
    found = set()
    for symbol in symbols:
        for start, end in ranges:
            frame = source.history(symbol, start, end)
            found.update((symbol, day.isoformat()) for day in frame["date"])
    return found


def lake_rows(location: str, dataset: str, start: str, end: str) -> list[tuple[str, str]]:
    """(ticker, date) of every row of a dataset in one lake, in [start, end] (duplicates kept)."""
    frame = _open_lake(location).read_dataset(dataset, start=start, end=end, columns=["date"])
    return [(t, d.isoformat()) for t, d in zip(frame["ticker"], frame["date"], strict=True)]


def verify(lakes: list[str], shards: list[list[str]], ranges: list[tuple[str, str]]) -> dict[str, Any]:
    """Do the lakes (one per shard, or one shared) hold exactly the source's bars of the date ranges the
    runs covered, each once, each ticker in its own shard? Counts per dataset and `exact`."""
    wanted = expected_rows([s for shard in shards for s in shard], ranges)
    start, end = min(r[0] for r in ranges), max(r[1] for r in ranges)
    report: dict[str, Any] = {"expected_rows": len(wanted), "datasets": {}}
    exact = True
    for dataset in DATASETS:
        seen: Counter[tuple[str, str]] = Counter()
        misplaced = 0
        for index, location in enumerate(lakes):
            rows = lake_rows(location, dataset, start, end)
            seen.update(rows)
            if len(lakes) > 1:
                own = set(shards[index])
                misplaced += sum(1 for ticker, _ in rows if ticker not in own)
        found = set(seen)
        counts = {
            "rows": sum(seen.values()),
            "missing": len(wanted - found),
            "extra": len(found - wanted),
            "duplicates": sum(n - 1 for n in seen.values() if n > 1),
            "misplaced": misplaced,
        }
        exact = exact and not any(counts[k] for k in ("missing", "extra", "duplicates", "misplaced"))
        report["datasets"][dataset] = counts
    report["exact"] = exact
    return report


# ---------------------------------------------------------------------------------------------- runs


def _locations(backend: str, mode: str, workers: int, work: Path, bucket: str | None) -> list[str]:
    name = f"{mode}-n{workers}"
    if backend == "local":
        root = work / "local" / name
        return [str(root / f"shard={i:02d}") for i in range(workers)] if mode == "sharded" else [str(root)]
    assert bucket is not None
    if mode == "sharded":  # a bucket per shard: moto's listing cost grows with the whole bucket (above)
        return [f"s3://{bucket}-s{i:02d}/lake/shard={i:02d}" for i in range(workers)]
    return [f"s3://{bucket}/lake"]


def _bucket(mode: str, workers: int, session: str) -> str:
    return f"tlscale-{session}-{mode}-n{workers}"


def one_run(
    *,
    backend: str,
    mode: str,
    kind: str,
    shards: list[list[str]],
    lakes: list[str],
    start: str,
    end: str,
    months: int,
    fetched_at: dt.datetime,
    server: LoggedMotoServer | None,
    bucket: str | None,
) -> dict[str, Any]:
    """One run of N workers (`kind`: backfill or increment); its figures, not yet verified."""
    workers = len(shards)
    specs = [
        {
            "shard": index,
            "tickers": shards[index],
            "lake": lakes[index if mode == "sharded" else 0],
            "start": start,
            "end": end,
            "months": months,
            "fetched_at": fetched_at.isoformat(),
            "run_id": f"scale-{kind}-{mode}-n{workers}-s{index:02d}",
        }
        for index in range(workers)
    ]
    offset = server.log_offset() if server else 0
    server_cpu = server.cpu_seconds() if server else 0.0
    load = os.getloadavg()[0]
    wall, reports = run_workers(specs)
    tickers = sum(len(s) for s in shards)
    rows = sum(sum(r["rows"].values()) for r in reports)
    figures: dict[str, Any] = {
        "backend": backend,
        "mode": mode,
        "kind": kind,
        "workers": workers,
        "tickers": tickers,
        "months": months,
        "ticker_months": tickers * months,
        "shard_months": workers * months if mode == "sharded" else months,
        "start": start,
        "end": end,
        "wall_s": round(wall, 3),
        "rows": rows,
        "ticker_months_per_s": round(tickers * months / wall, 2),
        "rows_per_s": round(rows / wall, 1),
        "cpu_s": round(sum(r["cpu_s"] for r in reports), 3),
        "cas_retries": sum(r["cas_retries"] for r in reports),
        "stage_retries": sum(r["stage_retries"] for r in reports),
        "writes": sum(r["writes"] for r in reports),
        "quarantined": sum(r["quarantined"] for r in reports),
        "max_peak_rss_mb": max(r["peak_rss_mb"] for r in reports),
        "load_average_1m_before": round(load, 2),
        "lakes": lakes,
        "shard_tickers": [len(s) for s in shards],
        "workers_detail": reports,
    }
    if server is not None and bucket is not None:
        figures["requests"] = tally(server.requests_since(offset, bucket))
        figures["server_cpu_s"] = round(server.cpu_seconds() - server_cpu, 2)
        figures["server_peak_rss_mb"] = round(server.peak_rss_mb(), 1)
    return figures


def _prepare(lakes: list[str]) -> None:
    for location in lakes:
        _open_lake(location).init()


def measure(
    config: dict[str, Any],
    *,
    work: Path,
    server: LoggedMotoServer | None,
    keep: bool = False,
    partial: Path | None = None,
) -> dict[str, Any]:
    """Every run of the config (backends × workers × modes, and the increments); the figures. After each
    run the runs so far are written to `partial` (JSON), so that a failed run loses only itself."""
    symbols = _lakes.use_universe(config["tickers"])
    start, end = history_range(config["months"])
    day = INCREMENT_DAYS[0]
    session = f"{os.getpid()}-{int(time.time()) % 100000}"
    runs: list[dict[str, Any]] = []
    for backend in config["backends"]:
        if backend == "s3" and server is None:
            raise ValueError("backend 's3' needs a moto server")
        for workers in config["workers"]:
            for mode in ("sharded", "shared") if workers > 1 else ("sharded",):
                bucket = _bucket(mode, workers, session) if backend == "s3" else None
                if backend == "s3" and server is not None and server.process is not None:
                    server.restart()  # one server per run: its memory and CPU are that run's
                    os.environ.update(server.env())
                lakes = _locations(backend, mode, workers, work, bucket)
                _prepare(lakes)
                shards = split(symbols, workers)
                log(
                    f"scale_out: {backend} {mode} backfill, {workers} worker(s), {len(symbols)} tickers × "
                    f"{config['months']} months"
                )
                run = one_run(
                    backend=backend,
                    mode=mode,
                    kind="backfill",
                    shards=shards,
                    lakes=lakes,
                    start=start,
                    end=end,
                    months=config["months"],
                    fetched_at=_lakes.HISTORY_FETCHED_AT,
                    server=server,
                    bucket=bucket,
                )
                run["verified"] = verify(lakes, shards, [(start, end)])
                runs.append(run)
                log(
                    f"scale_out: {run['wall_s']:.1f} s, {run['ticker_months_per_s']:.0f} ticker-months/s, "
                    f"{run['cas_retries']} CAS retries, exact={run['verified']['exact']}"
                )
                if mode == "sharded":
                    log(f"scale_out: {backend} increment {day}, {workers} worker(s)")
                    increment = one_run(
                        backend=backend,
                        mode=mode,
                        kind="increment",
                        shards=shards,
                        lakes=lakes,
                        start=day,
                        end=day,
                        months=1,
                        fetched_at=dt.datetime.fromisoformat(day + "T23:00:00+00:00"),
                        server=server,
                        bucket=bucket,
                    )
                    increment["verified"] = verify(lakes, shards, [(start, end), (day, day)])
                    runs.append(increment)
                if partial is not None:
                    partial.write_text(json.dumps({"runs": runs, "config": config}, default=str) + "\n")
                if not keep and backend == "local":
                    shutil.rmtree(work / "local" / f"{mode}-n{workers}", ignore_errors=True)
    return summarize(runs, config)


# ---------------------------------------------------------------------------------------------- figures


def _fit(points: list[tuple[float, float]]) -> dict[str, float] | None:
    """Least-squares line y = base + slope·x through the points (None with fewer than two distinct x)."""
    import numpy as np

    xs = np.array([p[0] for p in points], dtype=float)
    ys = np.array([p[1] for p in points], dtype=float)
    if len(set(xs.tolist())) < 2:
        return None
    slope, base = np.polyfit(xs, ys, 1)
    return {"base": round(float(base), 2), "slope": round(float(slope), 5), "points": len(points)}


def _wall_per_cpu(runs: list[dict[str, Any]]) -> float:
    """Work seconds per CPU second of the first run's first worker (1.0 without a run)."""
    if not runs or not runs[0]["workers_detail"] or not runs[0]["workers_detail"][0]["cpu_s"]:
        return 1.0
    worker = runs[0]["workers_detail"][0]
    return round(worker["work_s"] / worker["cpu_s"], 3)


def _find(runs: list[dict[str, Any]], **match: Any) -> list[dict[str, Any]]:
    return [r for r in runs if all(r.get(k) == v for k, v in match.items())]


def summarize(runs: list[dict[str, Any]], config: dict[str, Any]) -> dict[str, Any]:
    """Throughput against N, cost per shard-month and per ticker-month, memory fits, the projection."""
    throughput: dict[str, Any] = {}
    cost: dict[str, Any] = {}
    memory: dict[str, Any] = {}
    increments: dict[str, Any] = {}
    for backend in config["backends"]:
        backfills = _find(runs, backend=backend, kind="backfill")
        base = _find(backfills, mode="sharded", workers=1)
        single = base[0]["ticker_months_per_s"] if base else None
        table: dict[str, Any] = {}
        for run in backfills:
            entry = {
                "wall_s": run["wall_s"],
                "ticker_months_per_s": run["ticker_months_per_s"],
                "rows_per_s": run["rows_per_s"],
                "speedup": round(run["ticker_months_per_s"] / single, 2) if single else None,
                "efficiency": round(run["ticker_months_per_s"] / single / run["workers"], 2)
                if single
                else None,
                "cpu_s": run["cpu_s"],
                "cas_retries": run["cas_retries"],
                "stage_retries": run["stage_retries"],
                "exact": run["verified"]["exact"],
            }
            if "requests" in run:
                entry["precondition_failed"] = run["requests"]["precondition_failed"]
                entry["requests"] = run["requests"]["total"]
                entry["server_cpu_s"] = run["server_cpu_s"]
            table.setdefault(run["mode"], {})[str(run["workers"])] = entry
        throughput[backend] = table
        sharded = _find(backfills, mode="sharded")
        details = [w for run in sharded for w in run["workers_detail"]]
        ticker_months = sum(w["tickers"] * w["months"] for w in details)
        shard_months = sum(w["months"] for w in details)
        cost[backend] = {
            # A worker's CPU and wall seconds against its ticker-months: `base` is the fixed cost of a
            # task (first calls, schema set-up), `slope` the cost of one more ticker-month.
            "cpu_s_vs_ticker_months": _fit([(w["tickers"] * w["months"], w["cpu_s"]) for w in details]),
            "work_s_vs_ticker_months": _fit([(w["tickers"] * w["months"], w["work_s"]) for w in details]),
            # Wall seconds per CPU second of the lone worker (N=1, a core to itself): what waiting on the
            # store adds. The wall-time fits across N are not used: with N > cores, wall time is queueing.
            "wall_per_cpu_s_n1": _wall_per_cpu(base),
            "cpu_s_per_ticker_month": round(sum(w["cpu_s"] for w in details) / ticker_months, 5),
            "work_s_per_ticker_month": round(sum(w["work_s"] for w in details) / ticker_months, 5),
            "per_shard": [
                {
                    "tickers": w["tickers"],
                    "months": w["months"],
                    "cpu_s_per_shard_month": round(w["cpu_s"] / w["months"], 4),
                    "work_s_per_shard_month": round(w["work_s"] / w["months"], 4),
                    "peak_rss_mb": w["peak_rss_mb"],
                }
                for w in details
            ],
            "shard_months": shard_months,
            "ticker_months": ticker_months,
        }
        if backend == "s3":
            areas: Counter[str] = Counter()
            for run in sharded:
                for area, classes in run["requests"]["by_area"].items():
                    for kind, n in classes.items():
                        areas[f"{area}.{kind}"] += n
            tickers_total = sum(run["tickers"] for run in sharded)
            per_ticker = {k: v for k, v in areas.items() if k.startswith("raw.")}
            per_month = {k: v for k, v in areas.items() if not k.startswith(("raw.", "bucket."))}
            cost[backend]["requests_per_ticker"] = {
                k: round(v / tickers_total, 2) for k, v in per_ticker.items()
            }
            cost[backend]["requests_per_shard_month"] = {
                k: round(v / shard_months, 2) for k, v in sorted(per_month.items())
            }
        memory[backend] = {
            "backfill_rss_mb_vs_ticker_months": _fit(
                [(w["tickers"] * w["months"], w["peak_rss_mb"]) for w in details]
            ),
            "ready_rss_mb": round(min(w["ready_rss_mb"] for w in details), 1) if details else None,
        }
        incs = _find(runs, backend=backend, kind="increment")
        inc_details = [w for run in incs for w in run["workers_detail"]]
        if inc_details:
            memory[backend]["increment_rss_mb_vs_tickers"] = _fit(
                [(w["tickers"], w["peak_rss_mb"]) for w in inc_details]
            )
            entry = {
                "wall_per_cpu_s_n1": _wall_per_cpu(_find(incs, workers=1)),
                "cpu_s_vs_tickers": _fit([(w["tickers"], w["cpu_s"]) for w in inc_details]),
                "work_s_vs_tickers": _fit([(w["tickers"], w["work_s"]) for w in inc_details]),
                "by_workers": {
                    str(run["workers"]): {
                        "wall_s": run["wall_s"],
                        "cpu_s": run["cpu_s"],
                        "exact": run["verified"]["exact"],
                        **({"requests": run["requests"]["total"]} if "requests" in run else {}),
                    }
                    for run in incs
                },
            }
            if backend == "s3":
                shards_total = sum(run["workers"] for run in incs)
                totals: Counter[str] = Counter()
                for run in incs:
                    for area, classes in run["requests"]["by_area"].items():
                        for kind, n in classes.items():
                            totals[f"{area}.{kind}"] += n
                raw = {k: v for k, v in totals.items() if k.startswith("raw.")}
                rest = {k: v for k, v in totals.items() if not k.startswith(("raw.", "bucket."))}
                tickers_total = sum(run["tickers"] for run in incs)
                entry["requests_per_ticker"] = {k: round(v / tickers_total, 2) for k, v in raw.items()}
                entry["requests_per_shard"] = {k: round(v / shards_total, 2) for k, v in sorted(rest.items())}
            increments[backend] = entry
    figures = {
        "throughput": throughput,
        "cost": cost,
        "memory": memory,
        "increment": increments,
        "all_exact": all(run["verified"]["exact"] for run in runs),
        "runs": runs,
    }
    if "s3" in cost and "s3" in increments:
        figures["projection"] = project(figures)
    return figures


def _task_memory_gb(peak_mb: float) -> float | None:
    need = peak_mb * ASSUMPTIONS["memory_headroom"] / 1024
    return next((gb for gb in ASSUMPTIONS["task_memory_choices_gb"] if gb >= need), None)


def _price(task_seconds: float, memory_gb: float) -> float:
    hours = task_seconds / 3600
    return hours * (
        ASSUMPTIONS["task_vcpu"] * ASSUMPTIONS["fargate_vcpu_hour_usd"]
        + memory_gb * ASSUMPTIONS["fargate_gb_hour_usd"]
    )


def _request_price(class_a: float, class_b: float) -> float:
    return (
        class_a / 1000 * ASSUMPTIONS["s3_class_a_per_1000_usd"]
        + class_b / 1000 * ASSUMPTIONS["s3_class_b_per_1000_usd"]
    )


def _split_classes(per: dict[str, float], times: float) -> tuple[float, float]:
    a = sum(v for k, v in per.items() if k.endswith(".a")) * times
    b = sum(v for k, v in per.items() if k.endswith(".b")) * times
    return a, b


def project(figures: dict[str, Any]) -> dict[str, Any]:
    """50,000 tickers × 20 years on Fargate, from the S3 runs' measured costs and `ASSUMPTIONS`."""
    a = ASSUMPTIONS
    cost, memory, inc = figures["cost"]["s3"], figures["memory"]["s3"], figures["increment"]["s3"]
    tickers, months = a["universe_tickers"], a["years"] * 12
    shards = a["shards"]
    per_shard = -(-tickers // shards)
    fit = memory["backfill_rss_mb_vs_ticker_months"] or {"base": 0.0, "slope": 0.0}
    # Months per backfill run: as many as fit the largest 1-vCPU task (8 GB) with the headroom.
    budget_mb = max(a["task_memory_choices_gb"]) * 1024 / a["memory_headroom"]
    fit_months = int((budget_mb - fit["base"]) / max(fit["slope"] * per_shard, 1e-9))
    months_per_run = max(1, min(months, fit_months))
    runs_per_shard = -(-months // months_per_run)
    tasks = shards * runs_per_shard
    run_peak = fit["base"] + fit["slope"] * per_shard * months_per_run
    run_memory = _task_memory_gb(run_peak) or max(a["task_memory_choices_gb"])
    ticker_months = tickers * months
    run_ticker_months = per_shard * months_per_run
    bounds = {}
    line = cost["cpu_s_vs_ticker_months"] or {"base": 0.0, "slope": cost["cpu_s_per_ticker_month"]}
    for label, factor in (("cpu_bound", 1.0), ("measured_wall", cost["wall_per_cpu_s_n1"])):
        task_s = max(0.0, line["base"] + line["slope"] * run_ticker_months) * factor
        billed = task_s + a["task_startup_s"]
        bounds[label] = {
            "task_s": round(task_s, 1),
            "task_hours": round(tasks * billed / 3600, 1),
            "fargate_usd": round(tasks * _price(billed, run_memory), 2),
            "hours_with_all_tasks_parallel": round(runs_per_shard * billed / 3600, 2),
        }
    a_req, b_req = _split_classes(cost["requests_per_ticker"], tickers)
    a_month, b_month = _split_classes(cost["requests_per_shard_month"], shards * months)
    backfill_requests = {"class_a": round(a_req + a_month), "class_b": round(b_req + b_month)}
    backfill = {
        "ticker_months": ticker_months,
        "shards": shards,
        "tickers_per_shard": per_shard,
        "months_per_run": months_per_run,
        "tasks": tasks,
        "task_peak_rss_mb": round(run_peak),
        "task_memory_gb": run_memory,
        **bounds,
        "s3_requests": backfill_requests,
        "s3_request_usd": round(
            _request_price(backfill_requests["class_a"], backfill_requests["class_b"]), 2
        ),
    }
    # The daily increment: one task per shard, one new session for its tickers.
    mem_fit = memory.get("increment_rss_mb_vs_tickers") or {"base": 0.0, "slope": 0.0}
    cpu_fit = inc["cpu_s_vs_tickers"] or {"base": 0.0, "slope": 0.0}
    inc_peak = mem_fit["base"] + mem_fit["slope"] * per_shard
    inc_memory = _task_memory_gb(inc_peak) or max(a["task_memory_choices_gb"])
    a_inc, b_inc = _split_classes(inc["requests_per_ticker"], tickers)
    a_inc2, b_inc2 = _split_classes(inc["requests_per_shard"], shards)
    day_requests = {"class_a": round(a_inc + a_inc2), "class_b": round(b_inc + b_inc2)}
    day_requests_usd = _request_price(day_requests["class_a"], day_requests["class_b"])
    increment: dict[str, Any] = {
        "tasks": shards,
        "task_peak_rss_mb": round(inc_peak),
        "task_memory_gb": inc_memory,
        "s3_requests_per_day": day_requests,
        "s3_request_usd_per_day": round(day_requests_usd, 3),
    }
    for label, factor in (("cpu_bound", 1.0), ("measured_wall", inc["wall_per_cpu_s_n1"])):
        task_s = max(0.0, cpu_fit["base"] + cpu_fit["slope"] * per_shard) * factor
        billed = max(a["fargate_minimum_billed_s"], task_s + a["task_startup_s"])
        day_fargate = shards * _price(billed, inc_memory)
        increment[label] = {
            "task_s": round(task_s, 1),
            "task_billed_s": round(billed, 1),
            "wall_minutes_all_parallel": round((task_s + a["task_startup_s"]) / 60, 1),
            "fargate_usd_per_day": round(day_fargate, 3),
            "usd_per_year": round((day_fargate + day_requests_usd) * a["sessions_per_year"], 2),
        }
    # Where one month of the whole universe (one task, no shard) stops fitting: the increment's memory line.
    limits = {}
    if mem_fit["slope"] > 0:
        for gb in (8, 30, 120):  # 1 vCPU's largest, 4 vCPU's largest, Fargate's largest (16 vCPU)
            limits[f"{gb}_gb"] = int((gb * 1024 / a["memory_headroom"] - mem_fit["base"]) / mem_fit["slope"])
    return {"assumptions": a, "backfill": backfill, "increment": increment, "tickers_per_task_limit": limits}


# ---------------------------------------------------------------------------------------------- main


def _print(figures: dict[str, Any]) -> None:
    for backend, modes in figures["throughput"].items():
        for mode, by_n in modes.items():
            for n, e in by_n.items():
                extra = f", 412s {e['precondition_failed']}" if "precondition_failed" in e else ""
                print(
                    f"{backend:<5} {mode:<7} N={n}: {e['wall_s']:8.1f} s  {e['ticker_months_per_s']:8.1f} "
                    f"ticker-months/s  {e['rows_per_s']:9.0f} rows/s  speedup {e['speedup']}  "
                    f"CAS retries {e['cas_retries']}{extra}  exact {e['exact']}"
                )
    for backend, c in figures["cost"].items():
        print(
            f"{backend:<5} CPU s per ticker-month {c['cpu_s_per_ticker_month']}, per shard: {c['per_shard']}"
        )
    for backend, m in figures["memory"].items():
        print(f"{backend:<5} memory {m}")
    if "projection" in figures:
        p = figures["projection"]
        print(f"projection backfill: {json.dumps({k: v for k, v in p['backfill'].items()})}")
        print(f"projection increment: {json.dumps(p['increment'])}")
        print(f"one task holds a month of at most: {p['tickers_per_task_limit']} tickers")
    print(f"every run exact: {figures['all_exact']}")


@contextmanager
def _server(endpoint: str | None, server_log: Path | None, work: Path):
    """The moto server to use: the one at `endpoint` (its access log at `server_log`), else a new one."""
    if endpoint:
        if server_log is None:
            raise ValueError("--endpoint needs --server-log: the requests are counted from the server's log")
        port = urllib.parse.urlsplit(endpoint).port
        if port is None:
            raise ValueError(f"--endpoint {endpoint!r} is not valid: expected http://127.0.0.1:PORT")
        yield LoggedMotoServer(port, log_path=server_log)
        return
    server = LoggedMotoServer(free_port(), log_path=work / "moto-access.log").start()
    try:
        yield server
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scale_out", description=__doc__.splitlines()[0])
    scale = parser.add_mutually_exclusive_group()
    scale.add_argument("--quick", action="store_true", help="24 tickers × 12 months")
    scale.add_argument("--smoke", action="store_true", help="6 tickers × 2 months (the test's scale)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results JSON (default: %(default)s)")
    parser.add_argument("--work", type=Path, help="folder for the lakes (default: a temporary one, removed)")
    parser.add_argument("--keep", action="store_true", help="keep every lake (local folders and S3 buckets)")
    parser.add_argument("--backend", choices=("local", "s3"), action="append", help="only this backend")
    parser.add_argument("--endpoint", help="use the moto server at this URL (default: start one)")
    parser.add_argument("--server-log", type=Path, help="that server's access log (with --endpoint)")
    parser.add_argument(
        "--from-results",
        action="store_true",
        help="measure nothing: derive the figures and the projection again from the runs in --out "
        "(after a change of ASSUMPTIONS)",
    )
    args = parser.parse_args(argv)
    if args.from_results:
        previous = json.loads(args.out.read_text())
        figures = summarize(previous["runs"], previous["run"]["config"])
        figures["run"] = previous["run"]
        args.out.write_text(json.dumps(figures, indent=1, sort_keys=True, default=str) + "\n")
        _print(figures)
        return 0 if figures["all_exact"] else 1
    name = "smoke" if args.smoke else "quick" if args.quick else "full"
    config = dict(CONFIGS[name])
    if args.backend:
        config["backends"] = [b for b in config["backends"] if b in args.backend]
    own_work = args.work is None
    work = args.work or Path(
        tempfile.mkdtemp(prefix="tickerlake-scale-out-", dir=os.environ.get("BENCH_TMP"))
    )
    work.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("BENCH_WORK", str(work / "session"))
    started = time.perf_counter()
    try:
        with _server(args.endpoint, args.server_log, work) as server:
            saved = {k: os.environ.get(k) for k in server.env()}
            os.environ.update(server.env())
            try:
                partial = args.out.with_suffix(".partial.json")
                figures = measure(config, work=work, server=server, keep=args.keep, partial=partial)
                partial.unlink(missing_ok=True)
            finally:
                for key, value in saved.items():
                    if value is None:
                        os.environ.pop(key, None)
                    else:
                        os.environ[key] = value
    finally:
        if own_work and not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    figures["run"] = {
        "scale": name,
        "config": config,
        "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "minutes": round((time.perf_counter() - started) / 60, 2),
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=1, sort_keys=True, default=str) + "\n")
    _print(figures)
    print(f"results: {args.out} ({figures['run']['minutes']} minutes)", file=sys.stderr)
    return 0 if figures["all_exact"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
