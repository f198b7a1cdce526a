"""The Terraform of infra/: parsed with python-hcl2 (no providers offline), checked against its promises."""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import hcl2
import pytest
from hcl2 import SerializationOptions

INFRA = Path(__file__).resolve().parent.parent / "infra"


def _tf_env() -> dict[str, str]:
    """The environment of a terraform command: no update check (it would reach the internet), no prompts."""
    return {**os.environ, "CHECKPOINT_DISABLE": "1", "TF_IN_AUTOMATION": "1", "TF_INPUT": "0"}


_OPTIONS = SerializationOptions(with_comments=False, explicit_blocks=False, strip_string_quotes=True)


def _unquote(value):
    if isinstance(value, dict):
        return {k.strip('"'): _unquote(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unquote(v) for v in value]
    return value


@pytest.fixture(scope="module")
def tf() -> dict[str, list]:
    """Every top-level block kind of every .tf file, merged."""
    merged: dict[str, list] = {}
    for path in sorted(INFRA.glob("*.tf")):
        with path.open() as handle:
            parsed = _unquote(hcl2.load(handle, serialization_options=_OPTIONS))
        for kind, blocks in parsed.items():
            merged.setdefault(kind, []).extend(blocks if isinstance(blocks, list) else [blocks])
    return merged


def _resources(tf, kind: str) -> dict[str, dict]:
    return {
        name: body
        for block in tf["resource"]
        for rtype, named in block.items()
        if rtype == kind
        for name, body in named.items()
    }


def _data(tf, kind: str) -> dict[str, dict]:
    return {
        name: body
        for block in tf["data"]
        for dtype, named in block.items()
        if dtype == kind
        for name, body in named.items()
    }


def _one(block):
    return block[0] if isinstance(block, list) else block


def _variables(tf) -> dict[str, dict]:
    return {name: body for block in tf["variable"] for name, body in block.items()}


def test_terraform_fmt_is_clean():
    terraform = shutil.which("terraform")
    if terraform is None:
        pytest.skip("terraform is not installed")
    result = subprocess.run(
        [terraform, "fmt", "-check", "-recursive", str(INFRA)], capture_output=True, text=True, env=_tf_env()
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_bucket_setting_is_keyed_by_the_same_bucket_map(tf):
    buckets = _resources(tf, "aws_s3_bucket")
    assert list(buckets) == ["this"] and buckets["this"]["for_each"] == "${local.buckets}"
    for kind in (
        "aws_s3_bucket_versioning",
        "aws_s3_bucket_server_side_encryption_configuration",
        "aws_s3_bucket_public_access_block",
        "aws_s3_bucket_ownership_controls",
        "aws_s3_bucket_policy",
    ):
        assert _resources(tf, kind)["this"]["for_each"] == "${aws_s3_bucket.this}", kind
    locals_ = {k: v for block in tf["locals"] for k, v in block.items()}
    assert set(locals_["buckets"]) == {"lake", "reports", "deploy"}


def test_buckets_are_versioned_encrypted_and_private(tf):
    versioning = _one(_resources(tf, "aws_s3_bucket_versioning")["this"]["versioning_configuration"])
    assert versioning["status"] == "Enabled"
    sse = _one(_resources(tf, "aws_s3_bucket_server_side_encryption_configuration")["this"]["rule"])
    assert _one(sse["apply_server_side_encryption_by_default"])["sse_algorithm"] == "AES256"
    pab = _resources(tf, "aws_s3_bucket_public_access_block")["this"]
    for flag in ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"):
        assert pab[flag] is True, flag


def _rules(lifecycle: dict) -> dict[str, dict]:
    rules = {}
    for rule in lifecycle.get("rule", []):
        rules[rule["id"]] = rule
    for dynamic in lifecycle.get("dynamic", []):
        for body in dynamic.values():
            content = _one(body["content"])
            for value in re.findall(r'"(\w+)"', body["for_each"]):
                rules[content["id"].replace("${rule.value}", value)] = json.loads(
                    json.dumps(content).replace("${rule.value}", value)
                )
    return rules


def test_lake_lifecycle_keeps_current_raw_and_processed_readable_and_archives_old_versions(tf):
    rules = _rules(_resources(tf, "aws_s3_bucket_lifecycle_configuration")["lake"])
    for area in ("raw", "processed"):
        rule = rules[f"{area}-archive"]
        assert rule["status"] == "Enabled"
        assert _one(rule["filter"])["prefix"] == "${local.lake_prefix}" + f"{area}/"
        transitions = {t["storage_class"]: t["days"] for t in rule["transition"]}
        assert transitions == {"STANDARD_IA": 90}  # GetObject works: month objects are read for years
        old = _one(rule["noncurrent_version_transition"])
        assert (old["storage_class"], old["noncurrent_days"]) == ("GLACIER", 90)
        assert (
            _one(rule["noncurrent_version_expiration"])["noncurrent_days"]
            == "${var.lake_noncurrent_version_days}"
        )


def test_reports_lifecycle_expires_cache_after_one_day_and_pdfs_after_thirty(tf):
    rules = _rules(_resources(tf, "aws_s3_bucket_lifecycle_configuration")["reports"])
    assert _one(rules["cache-expire"]["filter"])["prefix"] == "cache/"
    assert _one(rules["cache-expire"]["expiration"])["days"] == 1
    assert _one(rules["reports-expire"]["filter"])["prefix"] == "reports/"
    assert _one(rules["reports-expire"]["expiration"])["days"] == 30
    for rule in ("cache-expire", "reports-expire", "athena-results-expire"):
        assert _one(rules[rule]["noncurrent_version_expiration"])["noncurrent_days"] == 1


def test_every_versioned_bucket_expires_noncurrent_versions(tf):
    lifecycles = _resources(tf, "aws_s3_bucket_lifecycle_configuration")
    assert set(lifecycles) == {"lake", "reports", "deploy"}
    for name, lifecycle in lifecycles.items():
        assert any("noncurrent_version_expiration" in rule for rule in _rules(lifecycle).values()), name


def _statements(tf):
    for name, document in _data(tf, "aws_iam_policy_document").items():
        for statement in document.get("statement", []):
            yield name, statement


# AWS defines no resource type for these read actions: a policy can grant them on "*" only (Dagster on ECS).
_ACTIONS_WITHOUT_RESOURCE_LEVEL_PERMISSIONS = {"ecr:GetAuthorizationToken", "ecs:DescribeTaskDefinition"}


def _key_policies(tf) -> set[str]:
    """The policy documents used as KMS key policies (there "*" as a resource means the key itself)."""
    return {
        re.fullmatch(r"\$\{data\.aws_iam_policy_document\.(\w+)\.json\}", key["policy"]).group(1)
        for key in _resources(tf, "aws_kms_key").values()
    }


def test_no_allow_statement_grants_a_wildcard_action_or_resource(tf):
    seen = 0
    key_policies = _key_policies(tf)
    for name, statement in _statements(tf):
        if statement.get("effect", "Allow") != "Allow" or name in key_policies:
            continue
        seen += 1
        for action in statement.get("actions", []):
            assert action != "*" and not action.endswith(":*"), (name, statement.get("sid"), action)
        unscopable = set(statement.get("actions", [])) <= _ACTIONS_WITHOUT_RESOURCE_LEVEL_PERMISSIONS
        for resource in statement.get("resources", []):
            assert resource != "*" or unscopable, (name, statement.get("sid"), resource)
            assert resource != "arn:aws:s3:::*", (name, statement.get("sid"), resource)
    assert seen >= 10


def _sid(tf, policy: str, sid: str) -> dict:
    return next(s for s in _data(tf, "aws_iam_policy_document")[policy]["statement"] if s.get("sid") == sid)


def test_lambda_reads_processed_and_raw_only_from_the_lake(tf):
    read = _sid(tf, "report_lambda", "ReadLake")
    assert read["actions"] == ["s3:GetObject"]
    areas = ("processed", "raw")
    assert sorted(read["resources"]) == sorted(
        f"${{local.lake_arn}}/${{local.lake_prefix}}{a}/*" for a in areas
    )
    listing = _sid(tf, "report_lambda", "ListLake")
    assert _one(listing["condition"])["variable"] == "s3:prefix"
    assert sorted(_one(listing["condition"])["values"]) == sorted(
        f"${{local.lake_prefix}}{a}/*" for a in areas
    )
    # S3Store lists the version listing (each key with its version id): ListBucket alone is refused.
    assert sorted(listing["actions"]) == ["s3:ListBucket", "s3:ListBucketVersions"]


def test_lambda_writes_only_cache_reports_and_its_event_log_and_reads_only_python_libs(tf):
    writes = [
        s for _, s in _statements(tf) if _ in ("report_lambda",) and "s3:PutObject" in s.get("actions", [])
    ]
    assert sorted(r for s in writes for r in s["resources"]) == [
        "${local.lake_arn}/${local.lake_prefix}ops/cache_events/*",
        "${local.reports_arn}/cache/*",
        "${local.reports_arn}/reports/*",
    ]
    deps = _sid(tf, "report_lambda", "ReadDependencies")
    assert deps["resources"] == ["${local.deploy_arn}/${local.dependencies_prefix}*"]
    locals_ = {k: v for block in tf["locals"] for k, v in block.items()}
    assert locals_["dependencies_prefix"] == "python-libs/"


def test_lambda_has_the_handler_configurable_tmp_and_the_interface_environment(tf):
    function = _resources(tf, "aws_lambda_function")["report"]
    assert function["handler"] == "report_app.lambda_handler.handler"
    assert function["runtime"] == "${var.lambda_runtime}"
    assert _one(function["ephemeral_storage"])["size"] == "${var.lambda_ephemeral_storage_mb}"
    lambda_locals = next(block for block in tf["locals"] if "lambda_environment" in block)
    environment = lambda_locals["lambda_environment"]
    for name in (
        "TICKERLAKE_LAKE_URI",
        "TICKERLAKE_GLUE_DATABASE",
        "CACHE_BACKEND",
        "CACHE_TTL_HOURS",
        "PDF_BUCKET_NAME",
        "PDF_URL_EXPIRATION_HOURS",
        "DEPENDENCIES_BUCKET",
        "TICKERLAKE_ALERT_SNS_TOPIC",
    ):
        assert re.search(rf"\b{name} = ", environment), name
    assert "local.bot_secret_environment" in environment


def test_athena_workgroup_enforces_a_result_location_and_a_scan_cutoff(tf):
    workgroup = _resources(tf, "aws_athena_workgroup")["tickerlake"]
    configuration = _one(workgroup["configuration"])
    assert configuration["enforce_workgroup_configuration"] is True
    assert configuration["bytes_scanned_cutoff_per_query"] == "${var.athena_bytes_scanned_cutoff_per_query}"
    result = _one(configuration["result_configuration"])
    assert result["output_location"].startswith("s3://${local.reports_bucket}/")
    assert _one(result["encryption_configuration"])["encryption_option"] == "SSE_S3"


def test_every_variable_is_described_and_the_tunable_ones_validated(tf):
    variables = _variables(tf)
    for name, body in variables.items():
        assert body.get("description"), name
        assert "type" in body, name
    unvalidated = {name for name, body in variables.items() if "validation" not in body}
    assert unvalidated <= {"tags", "enable_llm_narrative"}


def test_outputs_are_described(tf):
    outputs = {name: body for block in tf["output"] for name, body in block.items()}
    assert {"lake_uri", "bucket_names", "glue_database", "athena_workgroup", "webhook_url"} <= set(outputs)
    assert all(body.get("description") for body in outputs.values())


def test_glue_tables_json_is_valid_terraform_json_for_the_declared_database(tf):
    document = json.loads((INFRA / "glue_tables.tf.json").read_text())
    tables = document["resource"]["aws_glue_catalog_table"]
    assert set(tables) == {"prices", "indicators", "percentiles", "features"}
    assert "tickerlake" in _resources(tf, "aws_glue_catalog_database")
    for name, table in tables.items():
        assert table["database_name"] == "${aws_glue_catalog_database.tickerlake.name}"
        template = table["parameters"]["storage.location.template"]
        # a literal ${month} must be escaped in Terraform JSON, the lake root must not
        assert template == "${local.lake_uri}/processed/" + name + "/month=$${month}/"
        assert [key["name"] for key in table["partition_keys"]] == ["month"]
        assert table["parameters"]["projection.month.interval.unit"] == "MONTHS"


# --- issue 17: secrets, runtime, alerts topic, monitoring, examples ------------------------------------------

SECRET_VARIABLES = ("LINE_CHANNEL_SECRET", "LINE_CHANNEL_ACCESS_TOKEN", "OPENAI_API_KEY")


def _locals(tf) -> dict:
    return {k: v for block in tf["locals"] for k, v in block.items()}


def _tf_text() -> str:
    return "\n".join(path.read_text() for path in sorted(INFRA.rglob("*.tf")))


def test_lambda_runtime_is_a_current_python_validated_to_312_or_313(tf):
    runtime = _variables(tf)["lambda_runtime"]
    assert runtime["default"] == "python3.12"
    condition = _one(runtime["validation"])["condition"]
    assert re.findall(r"python3\.\d+", condition) == ["python3.12", "python3.13"]
    assert not re.search(r"python3\.(?:[0-9]|1[01])\b", _tf_text())  # no older runtime anywhere


def test_no_secret_value_reaches_terraform_or_the_lambda_environment(tf):
    environment = _locals(tf)["lambda_environment"]
    for name in SECRET_VARIABLES:
        assert not re.search(rf"\b{name} = ", environment), name
    # no variable that could carry a value, and no resource that stores one in the state
    assert not {"line_channel_secret", "line_channel_access_token", "openai_api_key"} & set(_variables(tf))
    assert not any("aws_secretsmanager_secret_version" in block for block in tf["resource"])
    assert "aws_ssm_parameter" not in _tf_text()
    # what the Lambda gets instead: <NAME>_ARN => the ARN, for exactly the bot's three variables
    secrets = _locals(tf)
    assert {body["variable"] for body in secrets["bot_secrets_all"].values()} == set(SECRET_VARIABLES)
    assert '"${secret.variable}_ARN" => local.bot_secret_arns[key]' in secrets["bot_secret_environment"]


def test_the_secret_variable_names_are_those_the_runtime_resolves(tf):
    from report_app.secrets import ARN_SUFFIX
    from report_app.secrets import SECRET_VARIABLES as RESOLVED

    assert set(RESOLVED) == set(SECRET_VARIABLES) and ARN_SUFFIX == "_ARN"


def test_lambda_reads_exactly_its_secrets_and_nothing_else_from_secrets_manager(tf):
    read = _sid(tf, "report_lambda", "ReadBotSecrets")
    assert read["actions"] == ["secretsmanager:GetSecretValue"]
    assert read["resources"] == "${values(local.bot_secret_arns)}"
    other = [
        (name, s.get("sid"))
        for name, s in _statements(tf)
        if s.get("sid") != "ReadBotSecrets"
        and any(a.startswith("secretsmanager:") for a in s.get("actions", []))
        and ("bot_secret" in json.dumps(s) or name == "report_lambda")
    ]
    assert other == []  # no other statement of the Lambda, and no other role, reads the bot's secrets
    secret = _resources(tf, "aws_secretsmanager_secret")["bot"]
    assert "secret.existing_arn == null" in secret["for_each"]  # an existing secret's ARN is used as is
    assert secret["recovery_window_in_days"] == "${var.secret_recovery_window_days}"


def test_existing_secret_arns_are_validated_as_full_secrets_manager_arns(tf):
    variables = _variables(tf)
    for name in ("line_channel_secret_arn", "line_channel_access_token_arn", "openai_api_key_arn"):
        assert variables[name]["default"] is None
        condition = _one(variables[name]["validation"])["condition"]
        pattern = re.search(r'regex\("(.+?)", var\.', condition).group(1).replace("\\\\", "\\")
        assert re.fullmatch(
            pattern, "arn:aws:secretsmanager:ap-southeast-1:123456789012:secret:line/x-AbC123"
        )
        assert not re.fullmatch(pattern, "arn:aws:secretsmanager:ap-southeast-1:123456789012:secret:line/x")
        assert not re.fullmatch(pattern, "arn:aws:ssm:ap-southeast-1:123456789012:parameter/line/x")


def test_alerts_topic_is_encrypted_with_a_key_the_alarms_may_use_and_named_to_the_code(tf):
    from lake.alerts import SNS_TOPIC_ENV

    topic = _resources(tf, "aws_sns_topic")["alerts"]
    assert topic["kms_master_key_id"] == "${aws_kms_key.alerts.arn}"
    key = _resources(tf, "aws_kms_key")["alerts"]
    assert key["enable_key_rotation"] is True
    grants = {s["sid"]: s for s in _data(tf, "aws_iam_policy_document")["alerts_key"]["statement"]}
    alarms = grants["CloudWatchAlarmsPublishEncrypted"]
    assert _one(alarms["principals"])["identifiers"] == ["cloudwatch.amazonaws.com"]
    assert sorted(alarms["actions"]) == ["kms:Decrypt", "kms:GenerateDataKey*"]
    assert _one(grants["AccountIamPoliciesGovernTheKey"]["principals"])["identifiers"] == [
        "arn:${local.partition}:iam::${local.account_id}:root"
    ]
    assert f"{SNS_TOPIC_ENV} = aws_sns_topic.alerts.arn" in _locals(tf)["lambda_environment"]


def test_alarms_of_this_account_may_publish_and_plain_http_may_not(tf):
    statements = {s["sid"]: s for s in _data(tf, "aws_iam_policy_document")["alerts_topic"]["statement"]}
    alarms = statements["CloudWatchAlarmsOfThisAccount"]
    assert alarms["actions"] == ["sns:Publish"] and alarms["resources"] == ["${aws_sns_topic.alerts.arn}"]
    condition = _one(alarms["condition"])
    assert condition["variable"] == "aws:SourceArn"
    assert condition["values"] == [
        "arn:${local.partition}:cloudwatch:${local.region}:${local.account_id}:alarm:*"
    ]
    assert statements["DenyInsecureTransport"]["effect"] == "Deny"


def test_lambda_may_publish_alerts_and_the_policy_is_offered_to_other_roles(tf):
    publish = {s["sid"]: s for s in _data(tf, "aws_iam_policy_document")["alerts_publish"]["statement"]}
    assert publish["PublishAlerts"]["resources"] == ["${aws_sns_topic.alerts.arn}"]
    assert publish["EncryptAlertsThroughSns"]["resources"] == ["${aws_kms_key.alerts.arn}"]
    attachment = _resources(tf, "aws_iam_role_policy_attachment")["report_lambda_alerts"]
    assert attachment == {
        "role": "${aws_iam_role.report_lambda.name}",
        "policy_arn": "${aws_iam_policy.alerts_publish.arn}",
    }
    outputs = {name: body for block in tf["output"] for name, body in block.items()}
    assert outputs["alerts_topic_arn"]["value"] == "${aws_sns_topic.alerts.arn}"
    assert outputs["alerts_publish_policy_arn"]["value"] == "${aws_iam_policy.alerts_publish.arn}"


def test_email_subscriptions_are_optional_and_validated(tf):
    subscription = _resources(tf, "aws_sns_topic_subscription")["alert_email"]
    assert subscription["for_each"] == "${toset(var.alert_email_addresses)}"
    assert subscription["protocol"] == "email"
    variable = _variables(tf)["alert_email_addresses"]
    assert variable["default"] == []
    pattern = re.search(r'regex\("(.+?)", address', _one(variable["validation"])["condition"]).group(1)
    pattern = pattern.replace("\\\\", "\\")
    assert re.fullmatch(pattern, "oncall@example.com") and not re.fullmatch(pattern, "oncall")


def test_every_alarm_notifies_the_alerts_topic_on_alarm_and_recovery(tf):
    alarm = _resources(tf, "aws_cloudwatch_metric_alarm")["report"]
    assert alarm["for_each"] == "${local.report_alarms}"
    assert alarm["alarm_actions"] == alarm["ok_actions"] == ["${aws_sns_topic.alerts.arn}"]
    specs = _locals(tf)["report_alarms"]
    assert {"errors", "throttles", "duration", "error_logs"} <= set(specs)
    assert specs["errors"]["namespace"] == "AWS/Lambda" and specs["errors"]["metric_name"] == "Errors"
    namespace = _locals(tf)["report_metrics"]["namespace"]
    assert {spec["namespace"] for spec in specs.values()} == {
        "AWS/Lambda",
        "${local.report_metrics.namespace}",
    }
    assert namespace == "tickerlake"
    metric_filter = _resources(tf, "aws_cloudwatch_log_metric_filter")["report_error_logs"]
    assert _one(metric_filter["metric_transformation"])["namespace"] == "${local.report_metrics.namespace}"


def test_the_emf_metric_names_are_one_local(tf):
    metrics = _locals(tf)["report_metrics"]
    assert metrics == {
        "namespace": "tickerlake",
        "cache_hit": "CacheHit",
        "tier_dimension": "Tier",
        "tiers": ["l1", "l2"],
        "cache_miss": "CacheMiss",
        "report_latency": "ReportLatencyMs",
        "cold_start": "ColdStart",
        "error_logs": "ErrorLogs",
    }
    dashboard = _resources(tf, "aws_cloudwatch_dashboard")["report"]
    assert dashboard["dashboard_body"] == "${module.report_dashboard.body}"
    module = next(block["report_dashboard"] for block in tf["module"] if "report_dashboard" in block)
    assert module["metrics"] == "${local.report_metrics}"
    # the only namespaces the dashboard module names literally
    module_text = (INFRA / "modules" / "report_dashboard" / "main.tf").read_text()
    assert set(re.findall(r'"(AWS/\w+)"', module_text)) == {"AWS/Lambda"}


def _terraform() -> str:
    terraform = shutil.which("terraform")
    if terraform is None:
        pytest.skip("terraform is not installed")
    return terraform


def _run(terraform: str, *args: str, cwd: Path, env: dict | None = None) -> str:
    result = subprocess.run(
        [terraform, *args], cwd=cwd, capture_output=True, text=True, env=env or _tf_env(), timeout=600
    )
    assert result.returncode == 0, f"terraform {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def _dashboard_metric_rows(body: dict) -> list[list]:
    return [
        row
        for widget in body["widgets"]
        if widget["type"] == "metric"
        for row in widget["properties"]["metrics"]
    ]


def _check_dashboard(body: dict, *, function_name: str) -> None:
    rows = _dashboard_metric_rows(body)
    assert rows
    shown = set()
    for row in rows:
        if isinstance(row[0], dict):  # a metric math expression over the rows' ids
            assert "expression" in row[0]
            continue
        namespace, name, *rest = row
        assert namespace in ("AWS/Lambda", "tickerlake"), row
        dimensions = [part for part in rest if not isinstance(part, dict)]
        if namespace == "AWS/Lambda":
            assert dimensions == ["FunctionName", function_name], row
        shown.add((namespace, name, *dimensions))
    assert {
        ("tickerlake", "CacheHit", "Tier", "l1"),
        ("tickerlake", "CacheHit", "Tier", "l2"),
        ("tickerlake", "CacheMiss"),
        ("tickerlake", "ReportLatencyMs"),
        ("tickerlake", "ColdStart"),
        ("AWS/Lambda", "Errors", "FunctionName", function_name),
        ("AWS/Lambda", "Duration", "FunctionName", function_name),
        ("AWS/Lambda", "Throttles", "FunctionName", function_name),
    } <= shown
    ids = {opts["id"] for row in rows for opts in row if isinstance(opts, dict) and "id" in opts}
    for row in rows:
        if isinstance(row[0], dict):
            assert set(re.findall(r"\b(hit_\w+|miss)\b", row[0]["expression"])) <= ids


def test_dashboard_body_evaluates_to_json_showing_only_lambda_and_tickerlake_metrics(tf, tmp_path):
    terraform = _terraform()
    module = tmp_path / "report_dashboard"
    shutil.copytree(INFRA / "modules" / "report_dashboard", module)
    inputs = {
        "region": "ap-southeast-1",
        "function_name": "tickerlake-report",
        "timeout_seconds": 120,
        "metrics": _locals(tf)["report_metrics"],
        "alarm_arns": ["arn:aws:cloudwatch:ap-southeast-1:123456789012:alarm:tickerlake-report-errors"],
    }
    (module / "test.auto.tfvars.json").write_text(json.dumps(inputs))
    _run(terraform, "init", "-backend=false", cwd=module)  # no provider: works offline
    _run(terraform, "apply", "-auto-approve", cwd=module)
    body = json.loads(json.loads(_run(terraform, "output", "-json", "body", cwd=module)))
    _check_dashboard(body, function_name="tickerlake-report")
    widths = [(w["x"], w["y"], w["width"], w["height"]) for w in body["widgets"]]
    assert all(x + width <= 24 for x, _, width, _ in widths)  # CloudWatch's grid is 24 columns
    alarm_widget = next(w for w in body["widgets"] if w["type"] == "alarm")
    assert alarm_widget["properties"]["alarms"] == inputs["alarm_arns"]


def test_tfvars_example_sets_only_declared_variables_and_no_secret(tf):
    with (INFRA / "terraform.tfvars.example").open() as handle:
        example = _unquote(hcl2.load(handle, serialization_options=_OPTIONS))
    variables = _variables(tf)
    assert set(example) <= set(variables), set(example) - set(variables)
    assert example["lambda_runtime"] in ("python3.12", "python3.13")
    text = (INFRA / "terraform.tfvars.example").read_text()
    assert not re.search(
        r"^\s*(line_channel_secret|line_channel_access_token|openai_api_key)\s*=", text, re.M
    )


def test_backend_example_is_s3_encrypted_with_locking():
    with (INFRA / "backend.tf.example").open() as handle:
        parsed = _unquote(hcl2.load(handle, serialization_options=_OPTIONS))
    backend = _one(_one(parsed["terraform"])["backend"])["s3"]
    assert backend["encrypt"] is True
    assert backend.get("use_lockfile") is True or backend.get("dynamodb_table")
    assert {"bucket", "key", "region"} <= set(backend)


def test_readme_gives_the_order_of_steps_and_links_the_dagster_doc():
    readme = (INFRA / "README.md").read_text()
    steps = [
        "tickerlake deploy package-deps",
        "tickerlake deploy package-function",
        "terraform plan",
        "aws secretsmanager put-secret-value",
    ]
    positions = [readme.index(step) for step in steps]
    assert positions[:2] == sorted(positions[:2]) and positions[1] < positions[2] < positions[3]
    assert "## The pipeline on AWS (Dagster)" in readme and "(../docs/dagster-aws.md)" in readme
    for path in sorted(INFRA.glob("*.tf")):
        if not path.name.startswith("dagster_"):
            assert f"`{path.name}`" in readme, path.name


# --- the whole configuration applied against the moto server -------------------------------------------------

_PLUGIN_DIRS = [Path(os.environ.get("TICKERLAKE_TF_PLUGIN_DIR", "/opt/tf-plugins"))]


@pytest.mark.slow
def test_apply_against_moto_deploys_a_lambda_that_resolves_its_secrets(moto_server, tmp_path):
    """The README's order against the moto server: deploy bucket, upload the zip, apply, set the secrets;
    then the deployed function's environment resolves through report_app.secrets."""
    import boto3

    terraform = _terraform()
    plugins = next(
        (p for p in _PLUGIN_DIRS if (p / "registry.terraform.io" / "hashicorp" / "aws").is_dir()), None
    )
    if plugins is None:
        pytest.skip("no local mirror of the hashicorp/aws provider (terraform init would need the internet)")
    root = tmp_path / "infra"
    shutil.copytree(INFRA, root, ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*", "dagster_*.tf"))
    (root / "moto_override.tf").write_text(
        'provider "aws" {\n  s3_use_path_style = true\n  skip_credentials_validation = true\n'
        "  skip_metadata_api_check = true\n}\n"
    )
    prefix = f"tl{os.getpid() % 100000}t"
    (root / "terraform.tfvars.json").write_text(
        json.dumps({"region": "us-east-1", "name_prefix": prefix, "glue_database_name": f"{prefix}_db"})
    )
    env = _tf_env()
    _run(terraform, "init", "-backend=false", f"-plugin-dir={plugins}", cwd=root, env=env)
    buckets = [  # step 2 of the README
        f"-target=aws_s3_bucket{kind}.this"
        for kind in ("_versioning", "_server_side_encryption_configuration", "_public_access_block")
    ]
    _run(terraform, "apply", "-auto-approve", *buckets, cwd=root, env=env)
    account = boto3.client("sts").get_caller_identity()["Account"]
    boto3.client("s3").put_object(
        Bucket=f"{prefix}-deploy-{account}", Key="lambda/report_app.zip", Body=b"PK"
    )
    _run(terraform, "apply", "-auto-approve", cwd=root, env=env)
    outputs = {
        k: v["value"] for k, v in json.loads(_run(terraform, "output", "-json", cwd=root, env=env)).items()
    }

    function = boto3.client("lambda").get_function_configuration(FunctionName=f"{prefix}-report")
    assert function["Runtime"] == "python3.12"
    variables = function["Environment"]["Variables"]
    assert not set(SECRET_VARIABLES) & set(variables)
    assert "OPENAI_API_KEY_ARN" not in variables  # the LLM narrative is off by default
    arns = outputs["bot_secret_arns"]
    assert {f"{name}_ARN": arn for name, arn in arns.items()} == {
        k: v for k, v in variables.items() if k.endswith("_ARN")
    }
    assert variables["TICKERLAKE_ALERT_SNS_TOPIC"] == outputs["alerts_topic_arn"]

    policy = boto3.client("iam").get_role_policy(
        RoleName=f"{prefix}-report-lambda", PolicyName=f"{prefix}-report-lambda"
    )
    read = next(s for s in policy["PolicyDocument"]["Statement"] if s.get("Sid") == "ReadBotSecrets")
    assert sorted(read["Resource"]) == sorted(arns.values())

    topic = boto3.client("sns").get_topic_attributes(TopicArn=outputs["alerts_topic_arn"])["Attributes"]
    assert topic["KmsMasterKeyId"].startswith("arn:aws:kms:")
    cloudwatch = boto3.client("cloudwatch")
    alarms = cloudwatch.describe_alarms(AlarmNamePrefix=f"{prefix}-report-")["MetricAlarms"]
    assert len(alarms) == 4 and all(a["AlarmActions"] == [outputs["alerts_topic_arn"]] for a in alarms)
    body = json.loads(cloudwatch.get_dashboard(DashboardName=f"{prefix}-report")["DashboardBody"])
    _check_dashboard(body, function_name=f"{prefix}-report")

    # step 5 of the README, then a cold start with the function's own environment
    from report_app.secrets import reset_secrets, resolve_secrets

    secretsmanager = boto3.client("secretsmanager")
    for name, arn in arns.items():
        secretsmanager.put_secret_value(SecretId=arn, SecretString=f"{name.lower()}-value\n")
    environ = dict(variables)
    reset_secrets()
    try:
        assert resolve_secrets(environ=environ) == {
            "LINE_CHANNEL_SECRET": "secretsmanager",
            "LINE_CHANNEL_ACCESS_TOKEN": "secretsmanager",
            "OPENAI_API_KEY": "unset",
        }
    finally:
        reset_secrets()
    assert environ["LINE_CHANNEL_ACCESS_TOKEN"] == "line_channel_access_token-value"
