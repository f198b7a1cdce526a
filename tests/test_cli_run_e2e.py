"""`tickerlake run` as a new user runs it, end to end in subprocesses: runs started together on a brand-new
DAGSTER_HOME all succeed and leave the home usable, and SIGTERM stops every process the run started."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ARGS = ["--tickers", "NVDA,DBS19,AAPL,MSFT", "--start", "2025-01-27", "--end", "2025-01-31", "--no-reports"]


def _start(lake: Path, home: Path, *args: str) -> subprocess.Popen:
    env = dict(os.environ, DAGSTER_HOME=str(home))
    log = open(lake.parent / f"run-{time.monotonic_ns()}.log", "w+")  # noqa: SIM115 - closed with the test
    process = subprocess.Popen(
        [sys.executable, "-m", "tickerlake_cli.main", "run", "--lake", str(lake), *args],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    process.log = log
    return process


def _output(process: subprocess.Popen) -> str:
    process.log.seek(0)
    return process.log.read()[-3000:]


@pytest.mark.parametrize("attempt", range(2))
def test_runs_started_together_on_a_fresh_dagster_home_all_succeed(tmp_path, attempt):
    home = tmp_path / f"home-{attempt}"  # brand new: not even created
    runs = [_start(tmp_path / "lake", home, *ARGS) for _ in range(3)]
    for process in runs:
        process.wait(timeout=300)
        assert process.returncode == 0, _output(process)
    later = _start(tmp_path / "lake", home, *ARGS)  # the home is still usable afterwards
    later.wait(timeout=300)
    assert later.returncode == 0, _output(later)
    assert "Traceback" not in _output(later)


def _living(group: int) -> list[str]:
    """The processes of a process group that still run (a zombie waits for its reaper, it does no work)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == group and fields[0] != "Z":
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            found.append(f"{entry.name} {command}")
    return found


def _lake_files(root: Path) -> dict[str, int]:
    return {
        str(path.relative_to(root)): path.stat().st_mtime_ns
        for path in root.rglob("*")
        if path.is_file() and ".tickerlake" not in path.parts
    }


def test_sigterm_stops_the_run_and_every_process_it_started(tmp_path):
    lake = tmp_path / "lake"
    process = _start(lake, tmp_path / "home", "--start", "2016-01-04", "--end", "2025-12-31", "--no-reports")
    deadline = time.monotonic() + 240
    while not list(lake.glob("processed/*/month=*/data.parquet")):  # the run is writing months now
        if process.poll() is not None:
            pytest.fail(f"the run ended before it could be stopped: {_output(process)}")
        if time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert process.poll() is None, "the run ended before it could be stopped"
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        pytest.fail(f"tickerlake run did not stop within 30 s of SIGTERM: {_output(process)}")
    assert process.returncode != 0
    deadline = time.monotonic() + 15  # Dagster's log tailers notice their parent is gone and exit
    while _living(process.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _living(process.pid) == []  # nothing of the run's process group lives on
    before = _lake_files(lake)
    time.sleep(2)
    assert _lake_files(lake) == before  # and nothing writes to the lake any more
