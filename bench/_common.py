"""Shared helpers of the benchmark families: timing, medians, memory, child processes, scratch folders.

Every family measures a figure *and its floor in the same run*, takes the median of several repetitions,
and reports ratios: the machine is shared and noisy, absolute numbers move, ratios much less.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

#: The date partitions start early enough for 10 years of history (the increment family needs it).
PARTITIONS_START = "2015-01-01"
#: The last date of every generated history: a fixed weekday in the past, so runs are reproducible.
END_DATE = "2026-11-20"
REPO = Path(__file__).resolve().parents[1]


def p50(samples: list[float]) -> float:
    return float(statistics.median(samples))


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """(seconds, result) of one call."""
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def repeat(fn: Callable[[], Any], times: int, *, warmup: int = 1) -> list[float]:
    """Seconds of `times` calls after `warmup` untimed ones."""
    for _ in range(warmup):
        fn()
    return [timed(fn)[0] for _ in range(times)]


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def bench_env(**extra: str) -> dict[str, str]:
    """The environment of a child: partitions from PARTITIONS_START, no telemetry, src on the path."""
    env = dict(os.environ)
    env["TICKERLAKE_PARTITIONS_START"] = PARTITIONS_START
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO / "src"), str(REPO), env.get("PYTHONPATH", "")) if p
    )
    env.update(extra)
    return env


def run_child(module: str, task: str, args: dict[str, Any], *, timeout: float = 3600) -> dict[str, Any]:
    """Run `python -m <module> --child <task> <json>` in a fresh process and return the JSON it prints last.

    A fresh process per measurement: its peak RSS is that run's, and no Dagster or import state leaks
    from one measurement into the next.
    """
    with scratch("dagster-home-") as home:
        completed = subprocess.run(
            [sys.executable, "-m", module, "--child", task, json.dumps(args)],
            cwd=REPO,
            env=bench_env(DAGSTER_HOME=str(home)),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    if completed.returncode != 0:
        tail = "\n".join(completed.stderr.strip().splitlines()[-15:])
        raise RuntimeError(f"{module} {task} {args} failed (exit {completed.returncode}):\n{tail}")
    lines = [line for line in completed.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"{module} {task} printed no result:\n{completed.stdout[-2000:]}")
    return json.loads(lines[-1])


def child_main(tasks: dict[str, Callable[[dict[str, Any]], dict[str, Any]]]) -> None:
    """The `--child TASK JSON` entry point of a family module: run the task, print its JSON result."""
    if len(sys.argv) != 4 or sys.argv[1] != "--child" or sys.argv[2] not in tasks:
        raise SystemExit(f"usage: python -m {sys.argv[0]} --child {{{','.join(tasks)}}} JSON")
    result = tasks[sys.argv[2]](json.loads(sys.argv[3]))
    result.setdefault("peak_rss_mb", round(peak_rss_mb(), 1))
    print(json.dumps(result), flush=True)


@contextmanager
def scratch(prefix: str) -> Iterator[Path]:
    """A temporary folder removed afterwards (under BENCH_TMP when set: lakes can be large)."""
    folder = Path(tempfile.mkdtemp(prefix=f"tickerlake-bench-{prefix}", dir=os.environ.get("BENCH_TMP")))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)
