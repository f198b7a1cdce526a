"""Configuration: every variable the code reads is a typed setting and a row of README's table, and a bad
value is one line naming the variable and the value."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from dagster_project.settings import DagsterSettings
from glue.settings import GlueSettings
from lake.config import ConfigError, EnvSettings, LakeSettings
from pipelines.settings import PipelineSettings
from report_app.settings import DependencySettings, ReportSettings

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
SETTINGS_CLASSES = (
    LakeSettings,
    GlueSettings,
    PipelineSettings,
    DagsterSettings,
    ReportSettings,
    DependencySettings,
)

#: Direct reads of the environment that are right where they are: (file under src/, variable or "*").
ALLOWED_DIRECT_READS = {
    ("lake/store/_s3.py", "AWS_ENDPOINT_URL_S3"),  # the AWS SDK's own variables, handed to pyarrow too
    ("lake/store/_s3.py", "AWS_ENDPOINT_URL"),
    ("lake/logs.py", "AWS_LAMBDA_FUNCTION_NAME"),  # set by the Lambda runtime: "am I on Lambda"
    ("report_app/metrics.py", "AWS_LAMBDA_FUNCTION_NAME"),
    ("dagster_project/runner.py", "DAGSTER_HOME"),  # Dagster's own variable, set for Dagster
    # Functions that take an environment mapping (os.environ by default) for their tests:
    ("report_app/dependency_loader.py", "*"),  # Limits.from_env: DEPENDENCIES_MAX_* (DependencySettings)
    ("report_app/secrets.py", "*"),  # resolve_secrets writes *_ARN's values into the plain variables
    ("lake/config.py", "*"),  # EnvSettings.from_env: its reuse key is the class's own variables' values
}


def _is_os_environ(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Attribute)
        and node.attr == "environ"
        and isinstance(node.value, ast.Name)
        and node.value.id == "os"
    )


def _literal(node: ast.AST | None) -> str:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else "*"


def scan_environment_reads(root: Path = SRC) -> list[tuple[str, str, int, str]]:
    """(file, variable or "*", line, how) of every read of the environment in the source: os.environ[...],
    os.environ.get(...), os.getenv(...), "X" in os.environ, any other use of os.environ as a mapping, and
    typer's envvar=. Writes (os.environ[X] = ..., setdefault) and copies for a child process
    (dict(os.environ), os.environ.copy()) are not reads."""
    found = []
    for path in sorted(root.rglob("*.py")):
        if ".egg-info" in str(path):
            continue
        rel = path.relative_to(root).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"))
        parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        for node in ast.walk(tree):
            if isinstance(node, ast.keyword) and node.arg == "envvar":
                values = node.value.elts if isinstance(node.value, (ast.List, ast.Tuple)) else [node.value]
                found += [(rel, _literal(v), node.value.lineno, "envvar") for v in values]
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                func = node.func
                if func.attr == "getenv" and isinstance(func.value, ast.Name) and func.value.id == "os":
                    found.append((rel, _literal(node.args[0] if node.args else None), node.lineno, "getenv"))
            elif _is_os_environ(node):
                parent = parents.get(node)
                if isinstance(parent, ast.Subscript):
                    if not isinstance(parent.ctx, ast.Store):
                        found.append((rel, _literal(parent.slice), node.lineno, "os.environ[]"))
                elif isinstance(parent, ast.Attribute):
                    call = parents.get(parent)
                    if parent.attr in ("setdefault", "copy", "update", "pop"):
                        continue
                    arg = call.args[0] if isinstance(call, ast.Call) and call.args else None
                    found.append((rel, _literal(arg), node.lineno, f"os.environ.{parent.attr}"))
                elif isinstance(parent, ast.Compare):
                    found.append((rel, _literal(parent.left), node.lineno, "in os.environ"))
                elif (
                    isinstance(parent, ast.Call)
                    and isinstance(parent.func, ast.Name)
                    and parent.func.id == "dict"
                ):
                    continue
                else:
                    found.append((rel, "*", node.lineno, "os.environ as a mapping"))
    return found


def settings_variables() -> dict[str, str]:
    """{variable: Class.field} of every settings class."""
    return {
        variable: f"{cls.__name__}.{field}"
        for cls in SETTINGS_CLASSES
        for variable, field in cls.variables().items()
    }


def readme_table_variables() -> set[str]:
    """The variables named in the first column of README's Configuration table."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"^## Configuration\n(.*?)(?=^## )", text, re.S | re.M)
    assert match, "README.md has no '## Configuration' section"
    names = set()
    for line in match.group(1).splitlines():
        if line.startswith("| `"):
            first = line.split("|")[1]
            names.update(re.findall(r"`([A-Z][A-Z0-9_]+)`", first))
    return names


# ------------------------------------------------------------------------------------------- coverage


def test_every_settings_class_derives_from_the_shared_base():
    assert all(issubclass(cls, EnvSettings) for cls in SETTINGS_CLASSES)
    packages = {cls.__module__.split(".")[0] for cls in SETTINGS_CLASSES}
    assert packages == {"lake", "glue", "pipelines", "dagster_project", "report_app"}


def test_every_variable_of_the_settings_is_in_the_readme_table():
    missing = sorted(set(settings_variables()) - readme_table_variables())
    assert missing == [], f"add to README's Configuration table: {missing}"


def test_every_variable_the_source_reads_is_in_the_readme_table():
    read = {variable for _, variable, _, _ in scan_environment_reads() if variable != "*"}
    missing = sorted(read - readme_table_variables())
    assert missing == [], f"add to README's Configuration table: {missing}"


def test_no_direct_environment_read_bypasses_the_settings():
    bypass = [
        f"{file}:{line} reads {variable} ({how})"
        for file, variable, line, how in scan_environment_reads()
        if how != "envvar"
        and (file, variable) not in ALLOWED_DIRECT_READS
        and (file, "*") not in ALLOWED_DIRECT_READS
    ]
    assert bypass == [], "read these through a settings class: " + "; ".join(bypass)


def test_every_cli_envvar_is_a_setting_or_a_cli_only_variable():
    cli_only = {"TICKERLAKE_DEBUG"}  # a flag of the command line alone, documented in README
    envvars = {v for _, v, _, how in scan_environment_reads() if how == "envvar"}
    assert envvars - set(settings_variables()) <= cli_only


def test_the_scan_finds_each_kind_of_read(tmp_path):
    """The scanner itself: a read it missed would let a variable escape README."""
    (tmp_path / "m.py").write_text(
        "import os, typer\n"
        "a = os.environ['A_VAR']\n"
        "b = os.environ.get('B_VAR', '')\n"
        "c = os.getenv('C_VAR')\n"
        "d = 'D_VAR' in os.environ\n"
        "e = os.environ\n"
        "os.environ['WRITTEN'] = '1'\n"
        "os.environ.setdefault('DEFAULTED', '1')\n"
        "child = dict(os.environ)\n"
        "opt = typer.Option(None, envvar='F_VAR')\n"
    )
    found = {(variable, how) for _, variable, _, how in scan_environment_reads(tmp_path)}
    assert found == {
        ("A_VAR", "os.environ[]"),
        ("B_VAR", "os.environ.get"),
        ("C_VAR", "getenv"),
        ("D_VAR", "in os.environ"),
        ("*", "os.environ as a mapping"),
        ("F_VAR", "envvar"),
    }


def test_the_readme_parser_sees_a_missing_row(tmp_path, monkeypatch):
    """The README check can fail: a table without the row of a known variable misses it."""
    assert "CACHE_TTL_HOURS" in readme_table_variables()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    stripped = "\n".join(line for line in readme.splitlines() if "`CACHE_TTL_HOURS`" not in line)
    (tmp_path / "README.md").write_text(stripped + "\n", encoding="utf-8")
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    assert "CACHE_TTL_HOURS" not in readme_table_variables()


# ------------------------------------------------------------------------------------------- values


@pytest.mark.parametrize(
    ("cls", "variable", "value", "message"),
    [
        (ReportSettings, "CACHE_TTL_HOURS", "x", "CACHE_TTL_HOURS must be a number, got 'x'"),
        (ReportSettings, "CACHE_TTL_HOURS", "0", "CACHE_TTL_HOURS must be greater than 0, got '0'"),
        (ReportSettings, "CACHE_BACKEND", "redis", "CACHE_BACKEND must be one of 'hybrid', 's3' or 'sqlite', got 'redis'"),
        (ReportSettings, "CACHE_EVENTS", "maybe", "CACHE_EVENTS must be 1 or 0 (true/false, yes/no, on/off), got 'maybe'"),
        (ReportSettings, "CACHE_EVENTS_FLUSH_EVERY", "2.5", "CACHE_EVENTS_FLUSH_EVERY must be a whole number, got '2.5'"),
        (ReportSettings, "TICKERLAKE_METRICS", "loud", "TICKERLAKE_METRICS must be one of 'auto', 'emf' or 'off', got 'loud'"),
        (LakeSettings, "TICKERLAKE_DEPLOYMENT", "moon", "TICKERLAKE_DEPLOYMENT must be one of 'local' or 'aws', got 'moon'"),
        (LakeSettings, "TICKERLAKE_LOG_LEVEL", "loud", "TICKERLAKE_LOG_LEVEL must be one of 'DEBUG', 'INFO', 'WARNING' or 'ERROR', got 'loud'"),
        (GlueSettings, "TICKERLAKE_SQL_MAX_ROWS", "many", "TICKERLAKE_SQL_MAX_ROWS must be a whole number, got 'many'"),
        (DagsterSettings, "TICKERLAKE_PARTITIONS_START", "soon", "TICKERLAKE_PARTITIONS_START is not valid: expected a month as YYYY-MM, got 'soon'"),
        (DependencySettings, "DEPENDENCIES_MAX_RATIO", "-1", "DEPENDENCIES_MAX_RATIO must be greater than 0, got '-1'"),
    ],
)  # fmt: skip
def test_a_bad_value_is_one_line_naming_the_variable_and_the_value(
    monkeypatch, cls, variable, value, message
):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as caught:
        cls.from_env()
    assert str(caught.value) == message
    assert "\n" not in str(caught.value) and isinstance(caught.value, ValueError)


def test_unset_empty_or_blank_takes_the_default(monkeypatch):
    monkeypatch.delenv("CACHE_TTL_HOURS", raising=False)
    assert ReportSettings.from_env().cache_ttl_hours == 24.0
    for blank in ("", "   "):
        monkeypatch.setenv("CACHE_TTL_HOURS", blank)
        assert ReportSettings.from_env().cache_ttl_hours == 24.0


def test_values_are_typed_and_folded(monkeypatch):
    monkeypatch.setenv("CACHE_BACKEND", " S3 ")
    monkeypatch.setenv("CACHE_TTL_ADAPTIVE", "yes")
    monkeypatch.setenv("CACHE_SQLITE_PATH", "/tmp/x/cache.db")
    monkeypatch.setenv("TICKERLAKE_PARTITIONS_START", "2020-03-15")
    report = ReportSettings.from_env()
    assert (report.cache_backend, report.cache_ttl_adaptive, report.cache_sqlite_path) == (
        "s3",
        True,
        Path("/tmp/x/cache.db"),
    )
    assert DagsterSettings.from_env().partitions_start == "2020-03"


def test_the_deployment_follows_the_lake_uri_unless_set(monkeypatch):
    monkeypatch.delenv("TICKERLAKE_DEPLOYMENT", raising=False)
    monkeypatch.setenv("TICKERLAKE_LAKE_URI", "s3://bucket/lake")
    settings = LakeSettings.from_env()
    assert settings.deployment == "aws"
    assert settings.replace(lake_uri="./lake").deployment == "local"
    monkeypatch.setenv("TICKERLAKE_DEPLOYMENT", "LOCAL")
    assert LakeSettings.from_env().deployment == "local"


def test_overrides_win_over_the_environment_and_none_is_ignored(monkeypatch):
    monkeypatch.setenv("TICKERLAKE_LAKE_URI", "/from/env")
    assert ReportSettings.from_env(lake_uri="/given").lake_uri == "/given"
    assert ReportSettings.from_env(lake_uri=None).lake_uri == "/from/env"


def test_settings_are_frozen_and_replace_validates():
    settings = ReportSettings.from_env()
    with pytest.raises(ValueError):
        settings.cache_ttl_hours = 1.0  # type: ignore[misc]
    with pytest.raises(ConfigError, match="CACHE_TTL_HOURS must be greater than 0, got -1"):
        settings.replace(cache_ttl_hours=-1)


def test_the_alert_topic_reads_the_new_name_too(monkeypatch):
    monkeypatch.delenv("TICKERLAKE_ALERT_SNS_TOPIC", raising=False)
    monkeypatch.setenv("ALERTS_TOPIC_ARN", "arn:aws:sns:us-east-1:123456789012:alerts")
    assert LakeSettings.from_env().alert_topic_arn.endswith(":alerts")


def test_dependency_settings_read_a_given_mapping():
    settings = DependencySettings.from_mapping({"DEPENDENCIES_BUCKET": "deploy", "DEPENDENCIES_VERSION": " "})
    assert (settings.bucket, settings.version, settings.prefix) == ("deploy", "", "python-libs")


def test_a_bad_setting_reaches_the_cli_as_one_line(monkeypatch, tmp_path):
    from typer.testing import CliRunner

    from tickerlake_cli.main import app

    monkeypatch.setenv("CACHE_TTL_HOURS", "soon")
    result = CliRunner().invoke(
        app, ["report", "D05.SI", "--json"], env={"TICKERLAKE_LAKE_URI": str(tmp_path)}
    )
    assert result.exit_code == 2
    assert "CACHE_TTL_HOURS must be a number, got 'soon'" in result.output
    assert "Traceback" not in result.output


def test_from_env_reuses_settings_only_while_their_variables_keep_their_values(monkeypatch):
    monkeypatch.setenv("CACHE_TTL_HOURS", "5")
    first = ReportSettings.from_env()
    assert ReportSettings.from_env() is first  # nothing changed: the same frozen object
    monkeypatch.setenv("CACHE_TTL_HOURS", "7")
    assert ReportSettings.from_env().cache_ttl_hours == 7
    monkeypatch.setenv("CACHE_TTL_HOURS", "x")
    with pytest.raises(ConfigError, match="CACHE_TTL_HOURS must be a number, got 'x'"):
        ReportSettings.from_env()  # a bad value is refused every time, never served from before
    monkeypatch.setenv("CACHE_TTL_HOURS", "5")
    assert ReportSettings.from_env() is first
