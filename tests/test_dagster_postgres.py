"""Dagster's storage in a real Postgres (tests/postgres_server.py): `tickerlake run` uses the operator's
dagster.yaml as it is, records runs, month materializations and asset checks in Postgres (read back through
`DagsterInstance` and with SQL on Dagster's tables), backfills several months in one run, runs twice at
once on a brand-new database, and the Dagster webserver's GraphQL reads it all. A broken dagster.yaml or an
unreachable Postgres is one line on stderr with exit 2 or 3.

Every test has its own database and DAGSTER_HOME (the `pg_home` fixture)."""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from tests.moto_server import free_port
from tests.postgres_server import DAGSTER_YAML, SUPERUSER, PostgresServer

LAKE_ASSETS = ("raw_prices", "prices", "indicators", "percentiles", "features")
PROCESSED = ("prices", "indicators", "percentiles", "features")
RUN_TIMEOUT = 600


@dataclass
class PgHome:
    server: PostgresServer
    database: str
    home: Path
    tmp: Path

    def sql(self, statement: str, *params: object) -> list[tuple]:
        return self.server.query(self.database, statement, *params)

    def instance(self) -> dg.DagsterInstance:
        return dg.DagsterInstance.from_config(str(self.home))


@pytest.fixture
def pg_home(postgres_server, tmp_path, monkeypatch) -> PgHome:
    """A fresh database on the test Postgres and a DAGSTER_HOME whose dagster.yaml (docs/dagster.md's)
    points at it through the DAGSTER_PG_* variables."""
    database = postgres_server.create_database(f"dagster_{uuid.uuid4().hex[:12]}")
    home = tmp_path / "dagster_home"  # made by conftest's _isolated_env, which points DAGSTER_HOME at it
    (home / "dagster.yaml").write_text(DAGSTER_YAML)
    for name, value in postgres_server.env(database).items():
        monkeypatch.setenv(name, value)
    yield PgHome(postgres_server, database, home, tmp_path)
    postgres_server.drop_database(database)


def _start_run(lake: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    """`tickerlake run` on the sample source in a subprocess, its JSON summary on stdout."""
    return subprocess.Popen(
        [sys.executable, "-m", "tickerlake_cli.main", "run", "--lake", str(lake), "--source", "sample",
         "--format", "json", *args],
        env=env or dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )  # fmt: skip


def _finish(process: subprocess.Popen) -> dict:
    try:
        out, err = process.communicate(timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
        pytest.fail(f"tickerlake run did not finish in {RUN_TIMEOUT}s: {err[-3000:]}")
    assert process.returncode == 0, err[-3000:]
    return json.loads(out)


def _run(lake: Path, *args: str) -> dict:
    return _finish(_start_run(lake, *args))


def _materialized(pg: PgHome, run_id: str) -> set[tuple[str, str]]:
    """(asset, partition) of every materialization of the run, by SQL on Dagster's event log."""
    rows = pg.sql(
        "SELECT asset_key, partition FROM event_logs WHERE run_id = %s AND dagster_event_type = %s",
        run_id,
        "ASSET_MATERIALIZATION",
    )
    return {(dg.AssetKey.from_db_string(key).to_user_string(), partition) for key, partition in rows}


def _lake_tickers(lake: Path, dataset: str, month: str) -> set[str]:
    frame = pd.read_parquet(lake / "processed" / dataset / f"month={month}" / "data.parquet")
    return set(frame["ticker"])


# -- the operator's dagster.yaml, as it is ----------------------------------------------------------------


@pytest.mark.parametrize("form", ["postgres_db", "postgres_url", "no_scheme"])
def test_the_runner_uses_the_operators_postgres_yaml_unchanged(pg_home, form):
    from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage

    from dagster_project.runner import instance_storage, recorded_instance

    config = pg_home.home / "dagster.yaml"
    if form == "postgres_url":
        server = pg_home.server
        config.write_text(
            "storage:\n  postgres:\n    postgres_url: postgresql+psycopg2://"
            f"{SUPERUSER}:{server.password}@{server.host}:{server.port}/{pg_home.database}\n"
        )
    if form == "no_scheme":  # Dagster's usual yaml: SQLAlchemy opens postgresql:// with psycopg 3
        config.write_text(config.read_text().replace("      scheme: postgresql+psycopg2\n", ""))
        assert "scheme" not in config.read_text()
    before = config.read_bytes()
    assert instance_storage(pg_home.home) == "postgres"
    with recorded_instance() as instance:
        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
        assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
    assert config.read_bytes() == before
    tables = {name for (name,) in pg_home.sql("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert {"runs", "event_logs", "asset_keys", "asset_check_executions", "jobs"} <= tables
    # nothing of the run history went to SQLite files in the home
    assert sorted(p.name for p in pg_home.home.rglob("*.db")) == []


@pytest.mark.parametrize(
    ("yaml", "kind"),
    [
        (None, "sqlite"),
        ("telemetry:\n  enabled: false\n", "sqlite"),
        ("storage:\n  sqlite:\n    base_dir: /tmp/x\n", "sqlite"),
        (DAGSTER_YAML, "postgres"),
        ("storage:\n  postgres:\n    postgres_url: postgresql+psycopg2://u:p@h:5432/d\n", "postgres"),
        (
            "run_storage:\n  module: dagster_postgres.run_storage\n  class: PostgresRunStorage\n"
            "event_log_storage:\n  module: dagster_postgres.event_log\n  class: PostgresEventLogStorage\n",
            "postgres",
        ),
        ("storage:\n  mysql:\n    mysql_url: mysql://u:p@h/d\n", "other"),
    ],
)
def test_instance_storage_reads_what_keeps_the_run_history(tmp_path, yaml, kind):
    from dagster_project.runner import instance_storage

    if yaml is not None:
        (tmp_path / "dagster.yaml").write_text(yaml)
    assert instance_storage(tmp_path) == kind


def _cli_error(tmp_path: Path, env: dict[str, str]) -> tuple[int, str]:
    process = _start_run(
        tmp_path / "lake", "--tickers", "NVDA", "--start", "2025-06-02", "--end", "2025-06-06",
        "--no-reports", env=env,
    )  # fmt: skip
    out, err = process.communicate(timeout=RUN_TIMEOUT)
    assert "Traceback" not in err and "Retrying failed database" not in err, err
    assert out == ""
    [line] = [line for line in err.splitlines() if line.startswith("error:")]
    return process.returncode, line


@pytest.mark.parametrize(
    ("edit", "named"),
    [
        (lambda y: y.replace("hostname:", "hostnme:"), '"hostnme" at path root:storage:postgres:postgres_db'),
        (lambda y: y.replace("DAGSTER_PG_PASSWORD", "DAGSTER_PG_SECRET"), "DAGSTER_PG_SECRET is not set"),
        (lambda y: y.replace("    postgres_db:\n", "    postgres_db: [\n"), "not valid YAML at line 5"),
        (
            lambda y: y.replace(
                "    postgres_db:", "    postgres_url: postgresql+psycopg2://u@h/d\n    postgres_db:"
            ),
            "exactly one of `postgres_url` or `postgres_db`",
        ),
    ],
    ids=["unknown-field", "unset-env-var", "not-yaml", "url-and-db"],
)
def test_an_unusable_dagster_yaml_is_refused_in_one_line_naming_what_is_wrong(pg_home, edit, named):
    from dagster_project.runner import InstanceConfigError, recorded_instance

    config = pg_home.home / "dagster.yaml"
    config.write_text(edit(DAGSTER_YAML))
    before = config.read_bytes()
    with pytest.raises(InstanceConfigError) as refused:
        recorded_instance()
    message = str(refused.value)
    assert "\n" not in message and str(config) in message and named in message, message
    assert isinstance(refused.value, ValueError)  # the CLI's user error: exit 2
    assert config.read_bytes() == before
    assert pg_home.sql("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == [(0,)]


@pytest.mark.slow
def test_tickerlake_run_with_an_unusable_dagster_yaml_exits_2_with_one_line(pg_home):
    config = pg_home.home / "dagster.yaml"
    config.write_text(DAGSTER_YAML.replace("hostname:", "hostnme:"))
    code, line = _cli_error(pg_home.tmp, dict(os.environ))
    assert code == 2, line
    assert line.startswith(f"error: {config} is not valid: ") and '"hostnme"' in line, line


@pytest.mark.slow
def test_tickerlake_run_with_postgres_unreachable_exits_3_with_one_line(pg_home):
    closed = free_port()  # nothing listens there
    code, line = _cli_error(pg_home.tmp, dict(os.environ, DAGSTER_PG_PORT=str(closed)))
    assert code == 3, line
    assert line.startswith(f"error: the Dagster database of {pg_home.home / 'dagster.yaml'} is unavailable: ")
    assert f'"127.0.0.1", port {closed} failed: Connection refused' in line, line
    assert pg_home.server.password not in line


# -- recorded runs ----------------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_recorded_run_keeps_its_run_materializations_and_checks_in_postgres(pg_home):
    from dagster_project.checks import CHECKS

    lake = pg_home.tmp / "lake"
    summary = _run(lake, "--tickers", "NVDA,D05.SI,AAPL", "--start", "2025-06-02", "--end", "2025-06-27")
    assert summary["success"] and summary["reports"] == 3, summary
    run_id, month = summary["run_id"], "2025-06"

    # through Dagster's own API, as the UI and the daemon read it
    instance = pg_home.instance()
    run = instance.get_run_by_id(run_id)
    assert (run.job_name, run.status, run.tags["dagster/partition"]) == (
        "lake_job",
        dg.DagsterRunStatus.SUCCESS,
        month,
    )
    jobs = sorted(r.job_name for r in instance.get_runs())
    assert jobs == ["lake_job", "reports_job"]  # the report pre-warm is recorded too
    for name in LAKE_ASSETS:
        records = instance.fetch_materializations(dg.AssetKey(name), limit=10).records
        assert [(r.partition_key, r.run_id) for r in records] == [(month, run_id)], name
    check_keys = [key for check in CHECKS for key in check.check_keys]
    executions = instance.event_log_storage.get_latest_asset_check_execution_by_key(check_keys)
    assert set(executions) == set(check_keys)
    for key, execution in executions.items():
        assert (execution.run_id, execution.partition) == (run_id, month), key
        assert execution.status.value in ("SUCCEEDED", "FAILED"), key  # evaluated, not left planned

    # and the same rows by SQL on Dagster's tables in Postgres
    assert pg_home.sql("SELECT pipeline_name, status FROM runs WHERE run_id = %s", run_id) == [
        ("lake_job", "SUCCESS")
    ]
    assert _materialized(pg_home, run_id) == {(name, month) for name in LAKE_ASSETS}
    checks = pg_home.sql(
        "SELECT check_name, partition, execution_status FROM asset_check_executions WHERE run_id = %s", run_id
    )
    assert {name for name, _, _ in checks} == {key.name for key in check_keys}
    assert {(partition, status in ("SUCCEEDED", "FAILED")) for _, partition, status in checks} == {
        (month, True)
    }
    assert pg_home.sql("SELECT count(*) FROM event_logs WHERE run_id = %s", run_id) == [(summary["events"],)]


@pytest.mark.slow
def test_a_backfill_of_four_months_is_one_run_with_every_partition_in_postgres(pg_home):
    lake = pg_home.tmp / "lake"
    months = ["2025-03", "2025-04", "2025-05", "2025-06"]
    summary = _run(
        lake, "--tickers", "NVDA,D05.SI", "--start", "2025-03-03", "--end", "2025-06-27", "--no-reports"
    )
    assert summary["success"] and summary["months"] == 4, summary
    run_id = summary["run_id"]

    assert pg_home.sql("SELECT run_id, pipeline_name, status FROM runs") == [(run_id, "lake_job", "SUCCESS")]
    assert _materialized(pg_home, run_id) == {(name, month) for name in LAKE_ASSETS for month in months}
    tags = dict(pg_home.sql("SELECT key, value FROM run_tags WHERE run_id = %s", run_id))
    assert (tags["dagster/asset_partition_range_start"], tags["dagster/asset_partition_range_end"]) == (
        "2025-03",
        "2025-06",
    )
    instance = pg_home.instance()
    for name in LAKE_ASSETS:
        assert instance.get_materialized_partitions(dg.AssetKey(name)) == set(months), name
    for dataset in PROCESSED:
        for month in months:
            assert _lake_tickers(lake, dataset, month) == {"NVDA", "D05.SI"}, (dataset, month)


@pytest.mark.slow
@pytest.mark.parametrize("homes", ["one-home", "two-homes"])
def test_two_runs_at_once_on_a_new_postgres_instance_both_succeed_and_are_recorded(pg_home, homes):
    """Same months, different tickers, started together on a database without Dagster's tables. With
    two homes (two machines sharing one Postgres), no file lock orders the creation of the tables."""
    lake = pg_home.tmp / "lake"
    other = pg_home.tmp / "other_home"
    other.mkdir()
    (other / "dagster.yaml").write_text(DAGSTER_YAML)
    second_env = dict(os.environ, DAGSTER_HOME=str(other if homes == "two-homes" else pg_home.home))
    assert pg_home.sql("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == [(0,)]
    common = ("--start", "2025-05-05", "--end", "2025-06-27", "--no-reports")
    first = _start_run(lake, "--tickers", "NVDA,AAPL", *common)
    second = _start_run(lake, "--tickers", "D05.SI,MSFT", *common, env=second_env)
    summaries = [_finish(first), _finish(second)]
    run_ids = {s["run_id"] for s in summaries}
    assert all(s["success"] for s in summaries) and len(run_ids) == 2, summaries

    assert set(pg_home.sql("SELECT run_id, pipeline_name, status FROM runs")) == {
        (run_id, "lake_job", "SUCCESS") for run_id in run_ids
    }
    for run_id in run_ids:
        assert _materialized(pg_home, run_id) == {(n, m) for n in LAKE_ASSETS for m in ("2025-05", "2025-06")}
    records = pg_home.instance().fetch_materializations(dg.AssetKey("features"), limit=10).records
    assert sorted((r.partition_key, r.run_id) for r in records) == sorted(
        (month, run_id) for month in ("2025-05", "2025-06") for run_id in run_ids
    )
    for dataset in PROCESSED:  # each month object holds both runs' tickers: merged, not overwritten
        for month in ("2025-05", "2025-06"):
            assert _lake_tickers(lake, dataset, month) == {"NVDA", "AAPL", "D05.SI", "MSFT"}, (dataset, month)


# -- the UI reads it --------------------------------------------------------------------------------------


def _graphql(base: str, query: str) -> dict:
    request = urllib.request.Request(
        base + "/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        answer = json.loads(response.read())
    assert "errors" not in answer, answer["errors"]
    return answer["data"]


@pytest.fixture
def webserver(pg_home):
    """`dagster-webserver` over pg_home's DAGSTER_HOME on a free port; stopped with SIGINT."""

    def start(lake: Path) -> str:
        port = free_port()
        env = dict(os.environ, TICKERLAKE_LAKE_URI=str(lake))
        log = open(pg_home.tmp / "webserver.log", "wb")  # noqa: SIM115 - closed below
        process = subprocess.Popen(
            [sys.executable, "-m", "dagster_webserver", "-m", "dagster_project.definitions",
             "-h", "127.0.0.1", "-p", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        started.append((process, log))
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 180
        while True:
            try:
                urllib.request.urlopen(base + "/server_info", timeout=2).read()
                return base
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"dagster-webserver did not come up: {_log(pg_home)}")
                time.sleep(0.5)

    started: list[tuple[subprocess.Popen, object]] = []
    yield start
    for process, log in started:
        process.send_signal(signal.SIGINT)
        try:
            code = process.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            pytest.fail(f"dagster-webserver did not stop on SIGINT: {_log(pg_home)}")
        finally:
            log.close()
        assert code in (0, -signal.SIGINT), _log(pg_home)


def _log(pg: PgHome) -> str:
    return (pg.tmp / "webserver.log").read_text(errors="replace")[-3000:]


@pytest.mark.slow
def test_the_webservers_graphql_lists_the_runs_and_partitions_kept_in_postgres(pg_home, webserver):
    lake = pg_home.tmp / "lake"
    backfill = _start_run(
        lake, "--tickers", "NVDA", "--start", "2025-04-01", "--end", "2025-06-27", "--no-reports"
    )
    single = _start_run(
        lake, "--tickers", "D05.SI", "--start", "2025-06-02", "--end", "2025-06-27", "--no-reports"
    )
    backfill_id, single_id = _finish(backfill)["run_id"], _finish(single)["run_id"]
    base = webserver(lake)

    runs = _graphql(base, "{ runsOrError { ... on Runs { results { runId jobName status } } } }")
    assert sorted((r["runId"], r["jobName"], r["status"]) for r in runs["runsOrError"]["results"]) == sorted(
        [(backfill_id, "lake_job", "SUCCESS"), (single_id, "lake_job", "SUCCESS")]
    )
    for name in LAKE_ASSETS:
        asset = _graphql(
            base,
            f'{{ assetNodeOrError(assetKey: {{path: ["{name}"]}}) {{ ... on AssetNode {{ '
            "partitionStats { numMaterialized } "
            "assetMaterializations(limit: 10) { partition runId } } } }",
        )["assetNodeOrError"]
        assert asset["partitionStats"]["numMaterialized"] == 3, name
        assert sorted((m["partition"], m["runId"]) for m in asset["assetMaterializations"]) == sorted(
            [
                ("2025-04", backfill_id),
                ("2025-05", backfill_id),
                ("2025-06", backfill_id),
                ("2025-06", single_id),
            ]
        ), name
    statuses = _graphql(
        base,
        '{ assetNodeOrError(assetKey: {path: ["indicators"]}) { ... on AssetNode { '
        "assetPartitionStatuses { ... on TimePartitionStatuses { ranges { status startKey endKey } } } } } }",
    )["assetNodeOrError"]["assetPartitionStatuses"]["ranges"]
    assert [(r["status"], r["startKey"], r["endKey"]) for r in statuses] == [
        ("MATERIALIZED", "2025-04", "2025-06")
    ]
