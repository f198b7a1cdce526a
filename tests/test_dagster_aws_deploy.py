"""Dagster's production deployment on AWS (issue 18): the image, the instance file and the Terraform.

- deploy/dagster/dagster.yaml, rendered by the image's entrypoint, loads as a real `DagsterInstance`: its
  storage in a real Postgres (tests/postgres_server.py), its compute logs in S3 and its `EcsRunLauncher`
  constructed against the moto server's ECS (it reads the run task definition at construction); every
  section is also validated by Dagster's own config system without any server.
- The image's dependency set (deploy/dagster/install.sh, as the Dockerfile runs it) installs from the lock
  into a fresh virtualenv and loads the code location.
- The Dockerfile and the Terraform are parsed and held to their promises: the UI is never reachable
  without authentication, no Dagster role may delete anything, the run task gets what the instance reads.
"""

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import boto3
import pytest
import yaml

from tests import test_infra_terraform as infra_tests
from tests.test_infra_terraform import _data, _one, _resources, _variables

tf = infra_tests.tf  # the parsed infra/*.tf fixture, shared with the infra tests

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy" / "dagster"
SUBNETS = "subnet-0123456789abcdef0,subnet-0fedcba9876543210"
SECURITY_GROUP = "sg-0123456789abcdef0"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"deploy_{name}", DEPLOY / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


entrypoint = _load("entrypoint")
healthcheck = _load("healthcheck")


def _env_names(document) -> set[str]:
    """Every `{env: NAME}` a Dagster YAML document reads."""
    if isinstance(document, dict):
        if set(document) == {"env"}:
            return {document["env"]}
        return set().union(*(_env_names(v) for v in document.values())) if document else set()
    if isinstance(document, list):
        return set().union(*(_env_names(v) for v in document)) if document else set()
    return set()


def _network_env() -> dict[str, str]:
    return {"DAGSTER_RUN_SUBNETS": SUBNETS, "DAGSTER_RUN_SECURITY_GROUPS": SECURITY_GROUP}


# --- the entrypoint ------------------------------------------------------------------------------------------


def test_entrypoint_fills_the_run_network_and_keeps_everything_else():
    template = (DEPLOY / "dagster.yaml").read_text()
    rendered = yaml.safe_load(entrypoint.render_instance(template, _network_env()))
    original = yaml.safe_load(template)
    vpc = rendered["run_launcher"]["config"]["run_task_kwargs"]["networkConfiguration"]["awsvpcConfiguration"]
    assert vpc == {
        "subnets": SUBNETS.split(","),
        "securityGroups": [SECURITY_GROUP],
        "assignPublicIp": "DISABLED",
    }
    for section in ("storage", "run_coordinator", "compute_logs", "run_monitoring", "run_retries"):
        assert rendered[section] == original[section], section


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DAGSTER_RUN_SECURITY_GROUPS": SECURITY_GROUP}, "DAGSTER_RUN_SUBNETS is not set"),
        ({"DAGSTER_RUN_SUBNETS": SUBNETS, "DAGSTER_RUN_SECURITY_GROUPS": " "}, "DAGSTER_RUN_SECURITY_GROUPS is not set"),
        ({"DAGSTER_RUN_SUBNETS": "subnet-0123456789abcdef0,vpc-1", "DAGSTER_RUN_SECURITY_GROUPS": SECURITY_GROUP},
         "DAGSTER_RUN_SUBNETS has 'vpc-1'"),
        ({"DAGSTER_RUN_SUBNETS": SUBNETS, "DAGSTER_RUN_SECURITY_GROUPS": "sg-0123456789abcdef0,sg-0123456789abcdef0"},
         "DAGSTER_RUN_SECURITY_GROUPS lists an id twice"),
    ],
)  # fmt: skip
def test_entrypoint_refuses_a_bad_network_with_one_line_naming_the_variable(tmp_path, capsys, env, message):
    env = {
        "DAGSTER_HOME": str(tmp_path / "home"),
        "DAGSTER_INSTANCE_TEMPLATE": str(DEPLOY / "dagster.yaml"),
        **env,
    }
    assert entrypoint.main(["true"], env) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
    assert not (tmp_path / "home" / "dagster.yaml").exists()


def test_entrypoint_replaces_itself_with_the_command_after_writing_the_instance(tmp_path):
    home = tmp_path / "home"
    env = {
        **os.environ,
        **_network_env(),
        "DAGSTER_HOME": str(home),
        "DAGSTER_INSTANCE_TEMPLATE": str(DEPLOY / "dagster.yaml"),
    }
    done = subprocess.run(
        [sys.executable, str(DEPLOY / "entrypoint.py"), sys.executable, "-c", "import os; print(os.getpid())"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rendered = yaml.safe_load((home / "dagster.yaml").read_text())
    assert rendered["run_launcher"]["config"]["run_task_kwargs"]["networkConfiguration"][
        "awsvpcConfiguration"
    ]["securityGroups"] == [SECURITY_GROUP]
    assert [p.name for p in home.iterdir()] == ["dagster.yaml"]  # no temp file left behind


def test_healthcheck_refuses_an_unknown_service(capsys):
    assert healthcheck.main(["scheduler"]) == 2
    assert "service 'scheduler' is not valid" in capsys.readouterr().err
    assert healthcheck.main(["run"]) == 0


# --- dagster.yaml ----------------------------------------------------------------------------------------------


@pytest.fixture
def instance_env(monkeypatch, tmp_path) -> Path:
    """Dummy values for every variable the instance reads, and the rendered file in a fresh DAGSTER_HOME."""
    values = {
        "DAGSTER_PG_HOST": "db.invalid",
        "DAGSTER_PG_PORT": "5432",
        "DAGSTER_PG_DB": "dagster",
        "DAGSTER_PG_USERNAME": "dagster",
        "DAGSTER_PG_PASSWORD": "not-a-secret",
        "DAGSTER_MAX_CONCURRENT_RUNS": "4",
        "DAGSTER_RUN_TASK_DEFINITION": "tickerlake-dagster-run",
        "DAGSTER_ECS_CLUSTER": "tickerlake-dagster",
        "DAGSTER_COMPUTE_LOGS_BUCKET": "tickerlake-reports-test",
        "DAGSTER_COMPUTE_LOGS_PREFIX": "dagster/compute-logs",
        **_network_env(),
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    home = tmp_path / "prod_home"
    entrypoint.write_instance(DEPLOY / "dagster.yaml", home, os.environ)
    return home


def test_every_section_of_the_instance_validates_with_dagsters_own_config_system(instance_env):
    from dagster._config import process_config
    from dagster._core.instance.config import dagster_instance_config
    from dagster_aws.ecs import EcsRunLauncher
    from dagster_aws.s3.compute_log_manager import S3ComputeLogManager

    config, _ = dagster_instance_config(str(instance_env))  # the whole schema; raises on any bad section
    launcher = process_config(EcsRunLauncher.config_type(), config["run_launcher"]["config"])
    assert launcher.success, launcher.errors
    value = launcher.value
    # EcsRunLauncher reads this variable itself at construction (and then the task definition from ECS).
    assert value["task_definition"] == {"env": "DAGSTER_RUN_TASK_DEFINITION"}
    assert value["container_name"] == "run" and value["include_sidecars"] is False
    assert value["use_current_ecs_task_config"] is False and value["secrets_tag"] is None
    kwargs = value["run_task_kwargs"]
    assert kwargs["cluster"] == "tickerlake-dagster" and kwargs["launchType"] == "FARGATE"
    assert kwargs["networkConfiguration"]["awsvpcConfiguration"]["assignPublicIp"] == "DISABLED"
    logs = process_config(S3ComputeLogManager.config_type(), config["compute_logs"]["config"])
    assert logs.success, logs.errors
    assert (logs.value["bucket"], logs.value["prefix"]) == ("tickerlake-reports-test", "dagster/compute-logs")
    assert logs.value["upload_extra_args"] == {"ServerSideEncryption": "AES256"}


def test_a_missing_variable_fails_the_instance_naming_it(instance_env, monkeypatch):
    from dagster import DagsterInstance
    from dagster._core.errors import DagsterInvalidConfigError

    monkeypatch.delenv("DAGSTER_PG_PASSWORD")
    with pytest.raises(DagsterInvalidConfigError, match="DAGSTER_PG_PASSWORD"):
        DagsterInstance.from_config(str(instance_env))


def test_the_run_queue_allows_one_run_per_month_and_one_backfill_at_a_time(instance_env):
    from dagster._core.instance.config import dagster_instance_config

    config, _ = dagster_instance_config(str(instance_env))
    coordinator = config["run_coordinator"]
    assert coordinator["class"] == "QueuedRunCoordinator"
    limits = {limit["key"]: limit for limit in coordinator["config"]["tag_concurrency_limits"]}
    assert limits["dagster/partition"] == {
        "key": "dagster/partition",
        "limit": 1,
        "value": {"applyLimitPerUniqueValue": True},
    }
    assert limits["dagster/asset_partition_range_start"]["limit"] == 1
    assert coordinator["config"]["max_concurrent_runs"] == {"env": "DAGSTER_MAX_CONCURRENT_RUNS"}


@pytest.mark.s3
def test_the_production_instance_loads_on_postgres_with_the_ecs_launcher_and_s3_compute_logs(
    instance_env, postgres_server, moto_server, monkeypatch
):
    """The real thing: Dagster opens the database (creating its tables), the launcher reads the run task
    definition from ECS (moto), and the compute log manager writes a step's log to S3 (moto)."""
    from dagster import DagsterInstance
    from dagster._core.storage.compute_log_manager import ComputeIOType
    from dagster_aws.ecs import EcsRunLauncher
    from dagster_aws.s3.compute_log_manager import S3ComputeLogManager

    database = postgres_server.create_database(f"dagster_{uuid.uuid4().hex[:12]}")
    ecs = boto3.client("ecs")
    registered = ecs.register_task_definition(
        family=f"tickerlake-dagster-run-{uuid.uuid4().hex[:8]}",
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu="1024",
        memory="4096",
        containerDefinitions=[{"name": "run", "image": "tickerlake-dagster:test", "essential": True}],
    )["taskDefinition"]
    bucket = f"tickerlake-logs-{uuid.uuid4().hex[:8]}"
    boto3.client("s3").create_bucket(Bucket=bucket)
    for name, value in {
        **postgres_server.env(database),
        "DAGSTER_RUN_TASK_DEFINITION": registered["family"],
        "DAGSTER_COMPUTE_LOGS_BUCKET": bucket,
    }.items():
        monkeypatch.setenv(name, value)
    # The test server speaks no TLS; production's sslmode=require is otherwise the file's, unchanged.
    path = instance_env / "dagster.yaml"
    path.write_text(path.read_text().replace("sslmode: require", "sslmode: disable"))
    try:
        with DagsterInstance.from_config(str(instance_env)) as instance:
            assert type(instance.run_storage).__name__ == "PostgresRunStorage"
            assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
            assert type(instance.schedule_storage).__name__ == "PostgresScheduleStorage"
            tables = {row[0] for row in postgres_server.query(database, "SELECT tablename FROM pg_tables")}
            assert {"runs", "event_logs", "jobs", "job_ticks"} <= tables

            launcher = instance.run_launcher
            assert isinstance(launcher, EcsRunLauncher)
            assert launcher.task_definition == registered["taskDefinitionArn"]  # resolved through ECS
            assert launcher.run_task_kwargs["networkConfiguration"]["awsvpcConfiguration"]["subnets"] == (
                SUBNETS.split(",")
            )
            assert instance.run_coordinator.get_run_queue_config().max_concurrent_runs == 4

            logs = instance.compute_log_manager
            assert isinstance(logs, S3ComputeLogManager)
            key = ["run-1", "step"]
            with logs.open_log_stream(key, ComputeIOType.STDOUT) as stream:
                stream.write("hello from a step\n")
            objects = boto3.client("s3").list_objects_v2(Bucket=bucket)["Contents"]
            assert [o["Key"] for o in objects] == ["dagster/compute-logs/storage/run-1/step.out"]
            head = boto3.client("s3").head_object(Bucket=bucket, Key=objects[0]["Key"])
            assert head["ServerSideEncryption"] == "AES256"
    finally:
        postgres_server.drop_database(database)


def test_workspace_loads_the_code_location_from_the_code_server_by_its_module_name():
    workspace = yaml.safe_load((DEPLOY / "workspace.yaml").read_text())
    (location,) = workspace["load_from"]
    server = location["grpc_server"]
    assert server["host"] == {"env": "DAGSTER_CODE_SERVER_HOST"} and server["port"] == {
        "env": "DAGSTER_CODE_SERVER_PORT"
    }
    assert server["location_name"] == "dagster_project.definitions"  # the [tool.dagster] module's name


# --- the image -------------------------------------------------------------------------------------------------


def _dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "")
        for line in lines
        if line and not line.startswith("#")
    ]


def test_dockerfile_builds_on_the_projects_python_installs_from_the_lock_and_runs_as_a_user():
    instructions = _dockerfile()
    args = {a.split("=", 1)[0]: a.split("=", 1)[1] for kind, a in instructions if kind == "ARG" and "=" in a}
    bases = [
        a.split()[0].replace("${PYTHON_IMAGE}", args["PYTHON_IMAGE"])
        for kind, a in instructions
        if kind == "FROM"
    ]
    assert bases and all(base.startswith("python:3.11-slim") for base in bases)
    runs = " ".join(a for kind, a in instructions if kind == "RUN")
    copies = [a for kind, a in instructions if kind == "COPY"]
    assert any("requirements.lock" in c for c in copies)
    assert (
        any("deploy/dagster/install.sh" in c for c in copies)
        and "tickerlake-install /opt/venv/bin/python /src pipeline" in runs
    )
    assert args["UV_VERSION"] in (ROOT / "Makefile").read_text()  # the uv the Makefile uses
    users = [a for kind, a in instructions if kind == "USER"]
    assert users and users[-1].split(":")[0] not in ("0", "root")
    env = " ".join(a for kind, a in instructions if kind == "ENV")
    home = re.search(r"DAGSTER_HOME=(\S+)", env).group(1)
    assert any("deploy/dagster/dagster.yaml" in c and c.split()[-1].rstrip("/") == home for c in copies)
    assert any(kind == "HEALTHCHECK" and "healthcheck.py" in a for kind, a in instructions)
    assert any(kind == "ENTRYPOINT" and "entrypoint.py" in a for kind, a in instructions)
    assert any(kind == "CMD" and "dagster_project.definitions" in a for kind, a in instructions)


def test_dockerignore_sends_only_what_the_image_copies():
    ignore = [line for line in (ROOT / ".dockerignore").read_text().splitlines() if line and line[0] != "#"]
    assert ignore[0] == "*"
    for needed in ("!requirements.lock", "!pyproject.toml", "!src/", "!deploy/dagster/"):
        assert needed in ignore, needed


@pytest.mark.slow
def test_the_images_dependency_set_installs_from_the_lock_into_a_fresh_venv_and_loads_the_location(tmp_path):
    """deploy/dagster/install.sh, as the Dockerfile runs it: offline from uv's cache where it can, else from
    the package index; every installed package must be the lock's pin (the script checks it)."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    uv = Path(sys.executable).parent / "uv"
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env["UV"] = str(uv if uv.exists() else shutil.which("uv"))
    command = [str(DEPLOY / "install.sh"), str(python), str(ROOT), "pipeline"]
    done = subprocess.run(
        command, env={**env, "UV_OFFLINE": "1"}, capture_output=True, text=True, timeout=900
    )
    if done.returncode != 0:  # not everything in the local cache: the registry, as the image build does
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "each at its requirements.lock version" in done.stdout
    freeze = subprocess.run(
        [env["UV"], "pip", "freeze", "--python", str(python)], capture_output=True, text=True
    )
    installed = {line.split("==")[0].lower() for line in freeze.stdout.splitlines()}
    assert {"dagster", "dagster-aws", "dagster-postgres", "dagster-webserver"} <= installed
    assert not {"pytest", "moto", "ruff", "ta-lib"} & installed  # the [dev] tools stay out of the image
    run_env = {**env, "DAGSTER_HOME": str(tmp_path / "home")}
    (tmp_path / "home").mkdir()
    imported = subprocess.run([str(python), "-c", "import dagster_project.definitions as d; print(type(d.defs).__name__)"],
                              cwd=tmp_path, env=run_env, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert imported.returncode == 0 and imported.stdout.strip() == "Definitions", imported.stderr[-3000:]
    validated = subprocess.run([str(venv / "bin" / "dagster"), "definitions", "validate", "-m", "dagster_project.definitions"],
                               cwd=tmp_path, env=run_env, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert validated.returncode == 0, validated.stdout[-3000:] + validated.stderr[-3000:]


# --- the Terraform -------------------------------------------------------------------------------------------

DAGSTER_ROLES = ("dagster_execution", "dagster_daemon", "dagster_webserver", "dagster_run")


def _locals(tf) -> dict:
    return {k: v for block in tf["locals"] for k, v in block.items()}


def test_terraform_declares_the_dagster_deployment(tf):
    assert set(_resources(tf, "aws_ecs_cluster")) == {"dagster"}
    assert _resources(tf, "aws_ecs_service")["dagster"]["for_each"] == "${local.dagster_containers}"
    assert set(_locals(tf)["dagster_containers"]) == {"webserver", "daemon", "code_server"}
    assert {"dagster", "dagster_run"} <= set(_resources(tf, "aws_ecs_task_definition"))
    db = _resources(tf, "aws_db_instance")["dagster"]
    assert db["engine"] == "postgres" and db["manage_master_user_password"] is True  # no password in state
    assert "password" not in db
    assert db["storage_encrypted"] is True and db["publicly_accessible"] is False
    assert _resources(tf, "aws_lb")["dagster"]["drop_invalid_header_fields"] is True
    assert (
        _resources(tf, "aws_cloudwatch_log_group")["dagster"]["for_each"]
        == "${toset(local.dagster_services)}"
    )
    assert set(_locals(tf)["dagster_services"]) == {"webserver", "daemon", "code_server", "run"}
    assert _resources(tf, "aws_ecr_repository")["dagster"]["image_tag_mutability"] == "IMMUTABLE"
    assert {"dagster_task", "dagster_execution"} <= set(_resources(tf, "aws_iam_role"))
    outputs = {name for block in tf["output"] for name in block}
    assert {
        "dagster_ui_url",
        "dagster_ecr_repository_url",
        "dagster_ecs_cluster",
        "dagster_db_secret_arn",
    } <= outputs
    variables = _variables(tf)
    for name in (
        "dagster_image_tag",
        "dagster_domain_name",
        "dagster_certificate_arn",
        "dagster_ui_allowed_cidrs",
    ):
        assert "default" not in variables[name], name  # the operator decides these


def test_services_run_in_private_subnets_without_public_ips_and_one_daemon(tf):
    service = _resources(tf, "aws_ecs_service")["dagster"]
    network = _one(service["network_configuration"])
    assert network["assign_public_ip"] is False
    assert "aws_subnet.dagster_private" in network["subnets"]
    assert service["desired_count"] == 1
    assert "daemon" in service["deployment_maximum_percent"]  # the daemon is never doubled during a deploy
    dagster_yaml = yaml.safe_load((DEPLOY / "dagster.yaml").read_text())
    vpc = dagster_yaml["run_launcher"]["config"]["run_task_kwargs"]["networkConfiguration"][
        "awsvpcConfiguration"
    ]
    assert vpc["assignPublicIp"] == "DISABLED"
    env = _locals(tf)["dagster_base_environment"]
    assert "aws_subnet.dagster_private" in env["DAGSTER_RUN_SUBNETS"]
    assert env["DAGSTER_RUN_SECURITY_GROUPS"] == '${aws_security_group.dagster["run"].id}'


def _forwards_to_webserver(action: dict) -> bool:
    return action.get("type") == "forward" and "aws_lb_target_group.dagster_webserver" in str(action)


def test_nothing_forwards_to_the_webserver_without_authenticating_first(tf):
    listeners = _resources(tf, "aws_lb_listener")
    rules = _resources(tf, "aws_lb_listener_rule")
    forwarding = 0
    for name, body in [*listeners.items(), *rules.items()]:
        actions = body.get("default_action", []) + body.get("action", [])
        actions = sorted(actions, key=lambda action: action.get("order", 0))
        for index, action in enumerate(actions):
            if _forwards_to_webserver(action):
                forwarding += 1
                assert body.get("protocol") == "HTTPS" or name in rules, name
                before = {a["type"] for a in actions[:index]}
                assert before & {"authenticate-cognito", "authenticate-oidc"}, name
                assert all(a.get("order") is not None for a in actions), name  # order explicit, not implied
    assert forwarding == 1  # the HTTPS listener, and nothing else
    http = listeners["dagster_http"]
    assert [a["type"] for a in http["default_action"]] == ["redirect"]
    assert _one(_one(http["default_action"])["redirect"])["protocol"] == "HTTPS"
    cognito = _one(listeners["dagster_https"]["default_action"][0]["authenticate_cognito"])
    assert cognito["on_unauthenticated_request"] == "authenticate"
    pool = _resources(tf, "aws_cognito_user_pool")["dagster"]
    assert _one(pool["admin_create_user_config"])["allow_admin_create_user_only"] is True  # no self sign-up
    # The target group is attached to the webserver service only (no other way in).
    target_users = [
        name
        for name, body in _resources(tf, "aws_ecs_service").items()
        if "dagster_webserver" in json.dumps(body)
    ]
    assert target_users == ["dagster"]


def _ingress(tf) -> list[dict]:
    rules = list(_resources(tf, "aws_vpc_security_group_ingress_rule").values())
    for group in _resources(tf, "aws_security_group").values():
        rules += group.get("ingress", [])
    return rules


def test_the_webserver_admits_the_alb_only_and_no_group_but_the_albs_is_open_to_an_address_range(tf):
    assert not _resources(tf, "aws_security_group_rule")  # every rule is one of the per-rule resources
    for rule in _ingress(tf):
        group = rule.get("security_group_id", "")
        if "dagster" not in group:
            continue
        open_cidr = rule.get("cidr_ipv4") or rule.get("cidr_blocks")
        assert "0.0.0.0/0" not in str(open_cidr), rule
        if open_cidr:
            assert group == '${aws_security_group.dagster["alb"].id}', rule
            assert open_cidr == "${each.value}" and "var.dagster_ui_allowed_cidrs" in str(
                _resources(tf, "aws_vpc_security_group_ingress_rule")
            )
    webserver = [
        r
        for r in _ingress(tf)
        if r.get("security_group_id") == '${aws_security_group.dagster["webserver"].id}'
    ]
    assert [r["referenced_security_group_id"] for r in webserver] == [
        '${aws_security_group.dagster["alb"].id}'
    ]
    assert all(r["from_port"] == r["to_port"] == 3000 for r in webserver)


def _policy_statements(tf, name: str) -> list[dict]:
    return [
        s
        for s in _data(tf, "aws_iam_policy_document")[name]["statement"]
        if s.get("effect", "Allow") == "Allow"
    ]


def test_no_dagster_role_may_delete_anything_or_hold_a_wildcard_action(tf):
    # The run role also carries iam.tf's pipeline policy: it is checked with the Dagster ones.
    assert _resources(tf, "aws_iam_role_policy_attachment")["dagster_run_pipeline"]["policy_arn"] == (
        "${aws_iam_policy.pipeline.arn}"
    )
    attached = {"dagster_execution"} | set(_locals(tf)["dagster_task_policies"])
    assert {f"dagster_{name}" if not name.startswith("dagster_") else name for name in attached} == set(
        DAGSTER_ROLES
    )
    unscoped = {"ecr:GetAuthorizationToken", "ecs:DescribeTaskDefinition"}
    for policy in (*DAGSTER_ROLES, "pipeline"):
        for statement in _policy_statements(tf, policy):
            for action in statement["actions"]:
                assert "*" not in action, (policy, statement.get("sid"), action)
                assert "delete" not in action.lower(), (policy, statement.get("sid"), action)
                assert action not in ("s3:PutLifecycleConfiguration", "s3:PutBucketVersioning"), (
                    policy,
                    action,
                )
            assert isinstance(statement["resources"], list), (policy, statement.get("sid"))
            if "*" in statement["resources"]:
                assert set(statement["actions"]) <= unscoped, (policy, statement.get("sid"))


def test_the_run_role_writes_exactly_the_prefixes_the_pipeline_writes(tf):
    from lake import layout

    lake_writes = next(s for s in _policy_statements(tf, "pipeline") if "s3:PutObject" in s["actions"])
    areas = {re.search(r"\}(\w+)/\*$", r).group(1) for r in lake_writes["resources"]}
    assert areas == {"raw", "processed", "lineage", "quarantine"}
    assert layout.raw_root().rstrip("/") in areas and layout.dataset_root("prices").split("/")[0] in areas
    run_writes = [
        r
        for s in _policy_statements(tf, "dagster_run")
        if "s3:PutObject" in s["actions"]
        for r in s["resources"]
    ]
    assert sorted(run_writes) == sorted([
        "${local.dagster_compute_logs_arn}",
        "${local.reports_arn}/cache/*",
        "${local.reports_arn}/reports/*",
        "${local.lake_arn}/${local.lake_prefix}ops/cache_events/*",
        "${local.lake_arn}/${local.lake_prefix}ops/cache_activity/*",
    ])  # fmt: skip


def test_only_the_daemon_launches_runs_and_passes_only_the_run_tasks_roles(tf):
    launchers = [
        name for name in DAGSTER_ROLES for s in _policy_statements(tf, name) if "ecs:RunTask" in s["actions"]
    ]
    assert launchers == ["dagster_daemon"]
    (run_task,) = [s for s in _policy_statements(tf, "dagster_daemon") if "ecs:RunTask" in s["actions"]]
    assert run_task["resources"] == ["${local.dagster_run_family_arn}"]
    assert _one(run_task["condition"])["variable"] == "ecs:cluster"
    passers = [
        (n, s) for n in DAGSTER_ROLES for s in _policy_statements(tf, n) if "iam:PassRole" in s["actions"]
    ]
    assert [n for n, _ in passers] == ["dagster_daemon"]
    statement = passers[0][1]
    assert sorted(statement["resources"]) == [
        "${aws_iam_role.dagster_execution.arn}",
        '${aws_iam_role.dagster_task["run"].arn}',
    ]
    assert _one(statement["condition"])["values"] == ["ecs-tasks.amazonaws.com"]


def test_the_task_definitions_give_the_instance_every_variable_it_reads(tf):
    """A variable dagster.yaml or workspace.yaml reads but no task sets would fail the container at start."""
    instance = _env_names(yaml.safe_load((DEPLOY / "dagster.yaml").read_text()))
    workspace = _env_names(yaml.safe_load((DEPLOY / "workspace.yaml").read_text()))
    local = _locals(tf)
    base = set(local["dagster_base_environment"])
    launcher = base | set(re.findall(r"\b([A-Z][A-Z0-9_]+)\s*=", local["dagster_launcher_environment"]))
    secrets = {s["name"] for s in local["dagster_db_secrets"]}
    entrypoint_needs = set(entrypoint.NETWORK_VARIABLES)
    # Webserver and daemon construct the launcher and load the workspace.
    assert instance | workspace | entrypoint_needs <= launcher | secrets
    # Run tasks open the instance (storage, compute logs) but never construct the launcher.
    assert (instance - {"DAGSTER_RUN_TASK_DEFINITION"}) | entrypoint_needs <= base | secrets
    assert {"TICKERLAKE_LAKE_URI", "TICKERLAKE_GLUE_DATABASE", "PDF_BUCKET_NAME"} <= base
    assert local["dagster_compute_logs_prefix"] == "dagster/compute-logs"
    run = _resources(tf, "aws_ecs_task_definition")["dagster_run"]
    assert run["container_definitions"].startswith(
        '${jsonencode([{name = "run", image = local.dagster_image,'
    )
    assert (
        yaml.safe_load((DEPLOY / "dagster.yaml").read_text())["run_launcher"]["config"]["container_name"]
        == "run"
    )
