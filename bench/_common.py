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

#: The month partitions start early enough for 10 years of history (the default, set explicitly).
PARTITIONS_START = "2015-01"
#: The last date of every generated history: a fixed Friday in the past, so runs are reproducible. The
#: increments add the sessions after it (`INCREMENT_DAYS`), each a session on every market of the universe.
END_DATE = "2026-11-20"
#: One new session each (Mon 2026-11-23 is a Tokyo holiday, Thu 11-26 a New York one: not used).
INCREMENT_DAYS = ("2026-11-24", "2026-11-25", "2026-11-27", "2026-11-30")
REPO = Path(__file__).resolve().parents[1]
#: Where the bench's child processes keep their bytecode (see `bench_env`).
PYCACHE = Path(os.environ.get("BENCH_PYCACHE") or Path(tempfile.gettempdir()) / "tickerlake-bench-pycache")


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
    # A user's Python keeps the bytecode of what it imported; this sandbox sets PYTHONDONTWRITEBYTECODE,
    # which makes every fresh process compile Dagster and pandas again (~3 s of `compile` in a profile).
    # The children keep their bytecode in a cache of their own, outside the venv.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
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


def _children_of() -> dict[int, list[int]]:
    """Parent pid → child pids of every process (from /proc)."""
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        tree.setdefault(int(fields[1]), []).append(int(entry))
    return tree


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants now (MB; 0 once it is gone)."""
    tree, total, todo = _children_of(), 0, [pid]
    while todo:
        current = todo.pop()
        todo.extend(tree.get(current, []))
        try:
            with open(f"/proc/{current}/statm") as handle:
                total += int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, IndexError):
            continue
    return total / 1024 / 1024


def run_process(
    command: list[str], *, env: dict[str, str], cwd: Path | None = None, timeout: float = 7200
) -> dict[str, Any]:
    """Run a command as a user would, sampling the resident memory of its process tree every 50 ms.

    Returns wall seconds, exit code, stdout, stderr's tail, `peak_rss_mb` (the largest sum over the tree,
    and never less than the largest single process's own peak from the kernel's rusage)."""
    import threading

    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, env=env, cwd=cwd, stdout=out, stderr=err)
        peak = [0.0]
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                peak[0] = max(peak[0], tree_rss_mb(process.pid))
                done.wait(0.05)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            _pid, status, usage = os.wait4(process.pid, 0)
        finally:
            done.set()
            sampler.join()
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    if seconds > timeout:
        raise RuntimeError(f"{command[:3]} took {seconds:.0f} s, over {timeout:.0f} s")
    return {
        "seconds": seconds,
        "returncode": process.returncode,
        "stdout": stdout,
        "stderr_tail": "\n".join(stderr.strip().splitlines()[-15:]),
        "peak_rss_mb": round(max(peak[0], usage.ru_maxrss / 1024), 1),
    }


def tickerlake_command() -> list[str]:
    """`tickerlake` as installed in this venv (the console script next to this interpreter)."""
    script = Path(sys.executable).with_name("tickerlake")
    return [str(script)] if script.exists() else [sys.executable, "-m", "tickerlake_cli.main"]


def work_dir() -> Path:
    """The bench session's folder for lakes shared between families (BENCH_WORK, made by bench.run)."""
    folder = os.environ.get("BENCH_WORK")
    if not folder:
        folder = tempfile.mkdtemp(prefix="tickerlake-bench-work-", dir=os.environ.get("BENCH_TMP"))
        os.environ["BENCH_WORK"] = folder
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    return path
