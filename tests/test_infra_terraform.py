"""The Terraform of infra/: parsed with python-hcl2 (no providers offline), checked against its promises."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import hcl2
import pytest
from hcl2 import SerializationOptions

INFRA = Path(__file__).resolve().parent.parent / "infra"
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
        [terraform, "fmt", "-check", "-recursive", str(INFRA)], capture_output=True, text=True
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


def test_no_allow_statement_grants_a_wildcard_action_or_resource(tf):
    seen = 0
    for name, statement in _statements(tf):
        if statement.get("effect", "Allow") != "Allow":
            continue
        seen += 1
        for action in statement.get("actions", []):
            assert action != "*" and not action.endswith(":*"), (name, statement.get("sid"), action)
        for resource in statement.get("resources", []):
            assert resource != "*" and resource != "arn:aws:s3:::*", (name, statement.get("sid"), resource)
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
    assert function["runtime"] == "python3.11"
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
        "LINE_CHANNEL_SECRET",
        "LINE_CHANNEL_ACCESS_TOKEN",
        "OPENAI_API_KEY",
        "DEPENDENCIES_BUCKET",
    ):
        assert name in environment, name


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
    assert unvalidated <= {"tags", "openai_api_key"}
    for secret in ("line_channel_secret", "line_channel_access_token", "openai_api_key"):
        assert variables[secret]["sensitive"] is True


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
