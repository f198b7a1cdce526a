"""The Dagster UI for real: `tickerlake ui` (webserver and daemon, as `dagster dev`) on a free port over a
DAGSTER_HOME holding one recorded run of a month, its GraphQL API, and headless Chromium."""

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from dagster_project.definitions import build_defs
from dagster_project.runner import recorded_instance, run_lake
from lake import Lake
from tests.browser import dump_dom, png_is_blank, require_chromium, screenshot
from tests.moto_server import free_port

pytestmark = pytest.mark.slow
TICKER, START, END, MONTH = "D05.SI", "2025-06-02", "2025-06-06", "2025-06"
LAKE_ASSETS = ("raw_prices", "prices", "indicators", "percentiles", "features")


def _graphql(base: str, query: str) -> dict:
    request = urllib.request.Request(
        base + "/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        answer = json.loads(response.read())
    assert "errors" not in answer, answer["errors"]
    return answer["data"]


def _group(pid: int) -> list[int]:
    """The processes of process group `pid` still alive."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.getpgid(int(entry)) == pid:
                    found.append(int(entry))
            except ProcessLookupError:
                continue
    return found


@pytest.fixture(scope="module")
def dagster_ui(tmp_path_factory):
    """One recorded run of lake_job over the month 2025-06 (one ticker, one week) in a fresh DAGSTER_HOME,
    and `tickerlake ui` serving it on a free port; stopped with SIGINT at the end, its services with it."""
    tmp_path = tmp_path_factory.mktemp("ui")
    home = tmp_path / "dagster_home"
    home.mkdir()
    uri = str(tmp_path / "lake")
    Lake.open(uri).init()
    saved = os.environ.get("DAGSTER_HOME")
    os.environ["DAGSTER_HOME"] = str(home)
    try:
        with recorded_instance() as instance:
            summary = run_lake(
                build_defs(lake_uri=uri), [TICKER], START, END, instance=instance, with_reports=False
            )
    finally:
        if saved is None:
            os.environ.pop("DAGSTER_HOME", None)
        else:
            os.environ["DAGSTER_HOME"] = saved
    assert summary.ok, summary.to_dict()
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("TICKERLAKE_", "CACHE_", "PDF_", "LINE_"))
    }
    env.update(DAGSTER_HOME=str(home), TICKERLAKE_LAKE_URI=uri, CACHE_SQLITE_PATH=str(tmp_path / "cache.db"))
    port = free_port()
    log = open(tmp_path / "ui.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [sys.executable, "-m", "tickerlake_cli.main", "ui", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while True:
        try:
            urllib.request.urlopen(base + "/server_info", timeout=2).read()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(
                    f"tickerlake ui did not come up on {base} (exit {process.poll()}): "
                    + (tmp_path / "ui.log").read_text()[-3000:]
                )
            time.sleep(0.5)
    services = [
        int(p)
        for p in subprocess.run(
            ["pgrep", "-P", str(process.pid)], capture_output=True, text=True
        ).stdout.split()
    ]
    yield {"base": base, "run_id": summary.run_id, "home": home, "services": services}
    process.send_signal(signal.SIGINT)
    try:
        assert process.wait(90) == 0, (tmp_path / "ui.log").read_text()[-3000:]
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail("tickerlake ui did not stop on SIGINT")
    finally:
        log.close()
    time.sleep(0.5)
    left = [p for group in services for p in _group(group)]
    assert left == [], f"processes of `dagster dev` outlived `tickerlake ui`: {left}"


def test_graphql_lists_the_assets_and_the_materialized_month(dagster_ui):
    base = dagster_ui["base"]
    nodes = _graphql(base, "{ assetNodes { assetKey { path } } }")["assetNodes"]
    names = {"/".join(node["assetKey"]["path"]) for node in nodes}
    assert {*LAKE_ASSETS, "reports"} <= names
    node = _graphql(
        base,
        '{ assetNodeOrError(assetKey: {path: ["indicators"]}) { ... on AssetNode { '
        "partitionKeysByDimension { name partitionKeys } "
        "partitionStats { numMaterialized numPartitions } } } }",
    )["assetNodeOrError"]
    [dimension] = node["partitionKeysByDimension"]  # one partitioning: months
    keys = dimension["partitionKeys"]
    assert keys[0] == "2015-01" and MONTH in keys and keys[-1] == time.strftime("%Y-%m", time.gmtime())
    assert all(len(key) == 7 and key[4] == "-" for key in keys)
    assert node["partitionStats"]["numMaterialized"] == 1
    for name in LAKE_ASSETS:
        events = _graphql(
            base,
            f'{{ assetOrError(assetKey: {{path: ["{name}"]}}) {{ ... on Asset {{ '
            "assetMaterializations(limit: 5) { partition runId } } } }",
        )["assetOrError"]["assetMaterializations"]
        assert [(e["partition"], e["runId"]) for e in events] == [(MONTH, dagster_ui["run_id"])], name


def test_the_daemon_runs_the_schedule_and_the_sensor(dagster_ui):
    base = dagster_ui["base"]
    deadline = time.monotonic() + 120
    while True:
        statuses = _graphql(
            base, "{ instance { daemonHealth { allDaemonStatuses { daemonType healthy required } } } }"
        )["instance"]["daemonHealth"]["allDaemonStatuses"]
        healthy = {s["daemonType"] for s in statuses if s["healthy"]}
        if {"SCHEDULER", "SENSOR"} <= healthy:
            break
        assert time.monotonic() < deadline, f"the scheduler and sensor daemons are not healthy: {statuses}"
        time.sleep(1)
    repository = _graphql(
        base,
        "{ repositoriesOrError { ... on RepositoryConnection { nodes { "
        "schedules { name cronSchedule executionTimezone futureTicks(limit: 1) { results { timestamp } } } "
        "sensors { name sensorState { status } } } } } }",
    )["repositoriesOrError"]["nodes"][0]
    [schedule] = repository["schedules"]
    assert (schedule["name"], schedule["cronSchedule"], schedule["executionTimezone"]) == (
        "daily_after_close",
        "30 22 * * 1-5",
        "UTC",
    )
    assert schedule["futureTicks"]["results"][0]["timestamp"] > time.time()
    [sensor] = repository["sensors"]
    assert (sensor["name"], sensor["sensorState"]["status"]) == ("reports_after_features", "RUNNING")
    # The sensor daemon evaluates it: the recorded run materialized `features`, so a tick requests the
    # report pre-warm (a run of reports_job, launched by the daemon).
    query = (
        '{ sensorOrError(sensorSelector: {repositoryName: "__repository__", repositoryLocationName: '
        '"dagster_project.definitions", sensorName: "reports_after_features"}) { ... on Sensor { '
        "sensorState { ticks(limit: 5) { status runIds error { message } } } } } }"
    )
    deadline = time.monotonic() + 120
    while True:
        ticks = _graphql(base, query)["sensorOrError"]["sensorState"]["ticks"]
        requested = [t for t in ticks if t["status"] == "SUCCESS" and t["runIds"]]
        if requested:
            break
        assert time.monotonic() < deadline, f"no sensor tick requested a run: {ticks}"
        time.sleep(1)
    [run_id] = requested[0]["runIds"]
    deadline = time.monotonic() + 240
    while True:  # launched by the daemon in its own process, it pre-warms the reports and ends
        run = _graphql(base, f'{{ runOrError(runId: "{run_id}") {{ ... on Run {{ jobName status }} }} }}')
        run = run["runOrError"]
        if run["status"] in ("SUCCESS", "FAILURE", "CANCELED"):
            break
        assert time.monotonic() < deadline, f"the sensor's run did not finish: {run}"
        time.sleep(1)
    assert run == {"jobName": "reports_job", "status": "SUCCESS"}


def _text(html: str) -> str:
    """The visible text of a DOM dump, tags removed and spaces collapsed."""
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_chromium_renders_the_indicators_month_partitions(dagster_ui, tmp_path):
    require_chromium()
    base = dagster_ui["base"]
    _graphql(base, "mutation { setNuxSeen }")  # the first visit's pop-up would cover the page
    url = base + "/assets/indicators?view=partitions"
    text = _text(dump_dom(url, virtual_time_budget_ms=20000, timeout=180))
    now = time.gmtime()
    months = (now.tm_year - 2015) * 12 + now.tm_mon  # 2015-01 … the current month
    assert f"{months} Partitions" in text, text[:2000]
    assert "Materialized (1)" in text and f"Missing ({months - 1})" in text, text[:2000]
    assert time.strftime("%Y-%m", now) in text  # the newest month partitions are listed first
    png = screenshot(url, tmp_path / "indicators.png", virtual_time_budget_ms=20000, timeout=180)
    assert not png_is_blank(png)
    text = _text(dump_dom(f"{url}&partition={MONTH}", virtual_time_budget_ms=20000, timeout=180))
    assert MONTH in text and dagster_ui["run_id"][:8] in text, text[:2000]  # its run, in the detail pane


def test_dagster_loads_the_definitions_from_the_repository_root(tmp_path):
    """`dagster dev` / `dagster definitions validate` with no -m: pyproject's [tool.dagster] names the module."""
    root = Path(__file__).resolve().parents[1]
    dagster = Path(sys.executable).with_name("dagster")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TICKERLAKE_", "DAGSTER_"))}
    env["DAGSTER_HOME"] = str(tmp_path)
    done = subprocess.run(
        [str(dagster), "definitions", "validate"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Validation successful for code location dagster_project.definitions" in done.stdout + done.stderr
