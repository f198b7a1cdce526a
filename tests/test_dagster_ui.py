"""The Dagster UI for real: `tickerlake ui` on a free port, its GraphQL API, and headless Chromium."""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

import dagster as dg
import pytest

from dagster_project.definitions import build_defs
from lake import Lake
from tests.browser import dump_dom, png_is_blank, require_chromium, screenshot
from tests.moto_server import free_port

pytestmark = pytest.mark.slow
DAY = "2025-06-04"


def _graphql(base: str, query: str) -> dict:
    request = urllib.request.Request(
        base + "/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


@pytest.fixture
def dagster_ui(tmp_path):
    """A lake with one materialized ticker-day, and `tickerlake ui` serving it on a free port."""
    home = tmp_path / "dagster_home"
    home.mkdir(exist_ok=True)
    uri = str(tmp_path / "lake")
    Lake.open(uri).init()
    env = dict(os.environ, DAGSTER_HOME=str(home), TICKERLAKE_LAKE_URI=uri)
    os.environ["DAGSTER_HOME"] = str(home)
    with dg.DagsterInstance.get() as instance:
        job = build_defs(lake_uri=uri).resolve_implicit_global_asset_job_def()
        selection = {dg.AssetKey(n) for n in ("raw_prices", "prices", "indicators")}
        key = str(dg.MultiPartitionKey({"ticker": "D05.SI", "date": DAY}))
        assert (
            job.get_subset(asset_selection=selection)
            .execute_in_process(instance=instance, partition_key=key)
            .success
        )
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "tickerlake_cli.main", "ui", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(base + "/server_info", timeout=2).read()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"tickerlake ui did not come up on {base} (exit {process.poll()})")
            time.sleep(0.5)
    yield base
    process.send_signal(signal.SIGINT)
    try:
        assert process.wait(30) is not None
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail("tickerlake ui did not stop on SIGINT")


def test_graphql_lists_the_assets_and_the_materialized_partition(dagster_ui):
    nodes = _graphql(dagster_ui, "{ assetNodes { assetKey { path } } }")["data"]["assetNodes"]
    names = {"/".join(node["assetKey"]["path"]) for node in nodes}
    assert {"raw_prices", "prices", "indicators", "percentiles", "features", "reports"} <= names
    status = _graphql(
        dagster_ui,
        '{ assetNodeOrError(assetKey: {path: ["indicators"]}) { ... on AssetNode { '
        "partitionKeysByDimension { name partitionKeys } } } }",
    )["data"]["assetNodeOrError"]["partitionKeysByDimension"]
    dims = {d["name"]: d["partitionKeys"] for d in status}
    assert "D05.SI" in dims["ticker"] and DAY in dims["date"]


def test_chromium_renders_the_indicators_partitions_page(dagster_ui, tmp_path):
    require_chromium()
    seen = _graphql(dagster_ui, "mutation { setNuxSeen }")
    assert "errors" not in seen
    url = dagster_ui + "/assets/indicators?view=partitions"
    dom = dump_dom(url, virtual_time_budget_ms=15000, timeout=120)
    assert "indicators" in dom
    assert "D05.SI" in dom  # the ticker dimension of the partitions view
    png = screenshot(url, tmp_path / "indicators.png", virtual_time_budget_ms=15000, timeout=120)
    assert not png_is_blank(png)
