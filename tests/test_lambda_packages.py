"""The report bot's Lambda: what it imports, the function package it runs from, and the `[bot]` install.

The probe (tests/fixtures/bot_probe.py) runs in a separate interpreter with Dagster, Great Expectations,
yfinance, DuckDB, ... blocked by an import hook: it imports the handler, calls it, and builds a report
with its chart and PDF from a lake of precomputed rows, as the bot does.
"""

import hashlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import boto3
import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from typer.testing import CliRunner

from lake.api import Lake
from lake.store import LocalStore
from report_app import packaging
from tests.report_factory import build_sample_lake
from tests.test_packaging import make_wheel
from tickerlake_cli.main import app

REPO = Path(__file__).resolve().parents[1]
PROBE = REPO / "tests" / "fixtures" / "bot_probe.py"
FORBIDDEN = {"dagster", "great_expectations", "yfinance", "duckdb", "awswrangler", "glue", "dagster_project"}
#: In the Lambda runtime itself; the loader imports boto3 before the dependencies zip is on sys.path.
RUNTIME_PROVIDED = {"boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six", "urllib3"}
runner = CliRunner()


@pytest.fixture(scope="module")
def lake_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("lake")
    build_sample_lake(Lake(LocalStore(root)))
    return root


def probe_env(tmp_path: Path, lake: Path | None = None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DEPENDENCIES_", "PYTHON"))}
    env.update(
        LINE_CHANNEL_SECRET="secret",
        LINE_CHANNEL_ACCESS_TOKEN="token",
        CACHE_BACKEND="sqlite",
        CACHE_SQLITE_PATH=str(tmp_path / "cache" / "cache.db"),
        MPLCONFIGDIR=str(tmp_path / "mpl"),
    )
    env.pop("TICKERLAKE_LAKE_URI", None)
    if lake is not None:
        env["TICKERLAKE_LAKE_URI"] = str(lake)
    env.update(extra)
    return env


def run_probe(python: str, env: dict[str, str], cwd: Path, *flags: str) -> dict:
    result = subprocess.run(
        [python, *flags, str(PROBE)], env=env, cwd=cwd, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def assert_served_a_report(out: dict) -> None:
    assert out["blocked"] == [], out["blocked"]
    assert not FORBIDDEN & set(out["modules"])
    assert out["status"] == 401  # the handler answered: an unsigned webhook call is refused
    report = out["report"]
    assert (
        "DBS19" in report["text"]
        and report["chart"]
        and report["pdf_key"] == "reports/D05.SI/2025-11-11/th.pdf"
    )


# ---------------------------------------------------------------------------------- what the bot imports


def _closure(names: set[str]) -> set[str]:
    """Canonical names of the installed distributions `names` need, with theirs, markers evaluated."""
    seen: set[str] = set()
    todo = [(canonicalize_name(n), frozenset()) for n in names]
    while todo:
        name, extras = todo.pop()
        if name in seen and not extras:
            continue
        seen.add(name)
        for line in importlib.metadata.requires(name) or []:
            requirement = Requirement(line)
            envs = [default_environment() | {"extra": e} for e in (extras or {""})]
            if requirement.marker is None or any(requirement.marker.evaluate(e) for e in envs):
                todo.append((canonicalize_name(requirement.name), frozenset(requirement.extras)))
    return seen


def test_the_bot_imports_no_dagster_and_only_what_the_bot_extra_installs(tmp_path, lake_dir):
    out = run_probe(sys.executable, probe_env(tmp_path, lake_dir), tmp_path)
    assert_served_a_report(out)

    providers = importlib.metadata.packages_distributions()
    imported = {canonicalize_name(d) for m in out["modules"] for d in providers.get(m, [])} - {"tickerlake"}
    in_the_zip = _closure(set(packaging.bot_packages()))
    assert imported - in_the_zip - RUNTIME_PROVIDED == set()  # the dependencies zip holds all of it
    assert {"numpy", "pandas", "pyarrow", "matplotlib", "reportlab", "line-bot-sdk"} <= imported


def test_the_probe_notices_a_forbidden_import(tmp_path):
    env = probe_env(tmp_path, PROBE_IMPORTS="duckdb")
    result = subprocess.run(
        [sys.executable, str(PROBE)], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode != 0 and "the report bot must not import duckdb" in result.stderr


# ----------------------------------------------------------------------------------- function package


def test_function_package_from_s3_runs_the_handler_with_the_dependencies_zip(
    tmp_path, lake_dir, moto_server, s3_bucket
):
    """Built and uploaded to Terraform's key, downloaded and unpacked as Lambda does into a fresh folder,
    the handler runs from it with nothing of the checkout on sys.path, its cold start loading the
    dependencies zip (here a tiny library) from the same bucket."""
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=s3_bucket)
    wheelhouse, lock = tmp_path / "wheels", tmp_path / "deps.lock"
    make_wheel(wheelhouse, "tinylib", "1.0.0", "from-s3")
    lock.write_text("tinylib==1.0.0\n")
    deps = runner.invoke(
        app,
        ["deploy", "package-deps", "--bucket", s3_bucket, "--packages", "tinylib", "--lock", str(lock),
         "--wheelhouse", str(wheelhouse), "--out", str(tmp_path / "deps")],
    )  # fmt: skip
    assert deps.exit_code == 0, deps.output

    first = runner.invoke(
        app, ["deploy", "package-function", "--bucket", s3_bucket, "--out", str(tmp_path / "a")]
    )
    assert first.exit_code == 0, first.output
    local = tmp_path / "a" / "report_app.zip"
    sha = hashlib.sha256(local.read_bytes()).hexdigest()
    assert f"built {local} sha256={sha} " in first.output
    assert f"uploaded s3://{s3_bucket}/lambda/report_app.zip" in first.output
    again = runner.invoke(
        app, ["deploy", "package-function", "--bucket", s3_bucket, "--out", str(tmp_path / "b")]
    )
    assert again.exit_code == 0, again.output
    assert (tmp_path / "b" / "report_app.zip").read_bytes() == local.read_bytes()  # reproducible
    assert f"unchanged s3://{s3_bucket}/lambda/report_app.zip" in again.output

    head = s3.head_object(Bucket=s3_bucket, Key="lambda/report_app.zip")
    assert head["ServerSideEncryption"] == "AES256" and head["Metadata"]["sha256"] == sha
    manifest = json.loads(
        s3.get_object(Bucket=s3_bucket, Key="lambda/report_app.zip.manifest.json")["Body"].read()
    )
    assert manifest["handler"] == "report_app.lambda_handler.handler" and manifest["runtime"] == "python3.12"

    task = tmp_path / "var-task"
    downloaded = tmp_path / "downloaded.zip"
    s3.download_file(s3_bucket, "lambda/report_app.zip", str(downloaded))
    with zipfile.ZipFile(downloaded) as archive:
        names = archive.namelist()
        archive.extractall(task)
    assert {n.split("/")[0] for n in names} == {"lake", "pipelines", "report_app", "schemas"}
    assert {"report_app/fonts/Loma.ttf", "pipelines/sources/universe.csv"} <= set(names)
    assert not [n for n in names if n.endswith((".pyc", ".lock")) or "__pycache__" in n]

    # -S: no site-packages .pth files, so the checkout's editable install is not on sys.path; the venv's
    # libraries stand in for the dependencies zip of the real deployment.
    libraries = sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})
    env = probe_env(
        tmp_path,
        lake_dir,
        PYTHONPATH=os.pathsep.join([str(task), *libraries]),
        DEPENDENCIES_BUCKET=s3_bucket,
        DEPENDENCIES_DIR=str(tmp_path / "python-libs"),
        PROBE_IMPORTS="tinylib",
    )
    out = run_probe(sys.executable, env, tmp_path, "-S")
    assert_served_a_report(out)
    for package in ("report_app", "lake", "schemas", "pipelines"):
        assert out["origins"][package].startswith(str(task) + os.sep), out["origins"]
    assert out["origins"]["tinylib"].startswith(str(tmp_path / "python-libs") + os.sep)


def test_function_package_key_and_bucket_errors_are_one_line(tmp_path):
    result = runner.invoke(app, ["deploy", "package-function", "--out", str(tmp_path)])
    assert result.exit_code == 2 and result.stderr == "error: --bucket (or DEPENDENCIES_BUCKET) is required\n"
    build = packaging.build_function_package(out_dir=tmp_path)
    with pytest.raises(packaging.PackagingError, match=r"invalid function package key '/abs\.zip'"):
        packaging.upload_function_package(build, "bucket", key="/abs.zip")
    with pytest.raises(packaging.PackagingError, match="package 'dagster_projekt' is not an importable"):
        packaging.build_function_package(out_dir=tmp_path, packages=["dagster_projekt"])


# ------------------------------------------------------------------------------- installed, not a checkout


def _uv() -> str:
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    if uv is None:
        pytest.fail("uv is not installed: run `make setup`")
    return uv


@pytest.mark.slow
def test_core_and_bot_install_from_the_lock_serves_reports_without_dagster(tmp_path, lake_dir):
    """A wheel of the project, installed with its [bot] extra into a fresh venv from the lock (uv's cache,
    offline): the bot works, Dagster is not even installed, and the shipped lock and `catalog terraform`
    work with no checkout around."""
    uv = _uv()
    offline = {**os.environ, "UV_OFFLINE": "1", "UV_NO_PROGRESS": "1"}
    dist = tmp_path / "dist"
    subprocess.run([uv, "build", "--wheel", "--out-dir", str(dist), str(REPO)], env=offline, check=True,
                   capture_output=True)  # fmt: skip
    [wheel] = dist.glob("tickerlake-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(venv)], env=offline, check=True)
    python = str(venv / "bin" / "python")
    install = subprocess.run(
        [uv, "pip", "install", "-q", "--python", python, "-c", str(REPO / "requirements.lock"), f"tickerlake[bot] @ {wheel.as_uri()}"],
        env=offline, capture_output=True, text=True,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr[-3000:]
    outside = tmp_path / "elsewhere"
    outside.mkdir()

    out = run_probe(python, probe_env(tmp_path, lake_dir), outside)
    assert_served_a_report(out)
    assert out["origins"]["report_app"].startswith(str(venv))
    check = "import importlib.util as u; print([n for n in ('dagster', 'great_expectations', 'yfinance') if u.find_spec(n)])"
    assert (
        subprocess.run([python, "-c", check], capture_output=True, text=True, check=True).stdout.strip()
        == "[]"
    )

    pins = subprocess.run(
        [python, "-c", "from report_app import packaging as p; print(p.DEFAULT_LOCK); print(p.select_requirements())"],
        capture_output=True, text=True, check=True, cwd=outside,
    ).stdout.splitlines()  # fmt: skip
    assert pins[0].startswith(str(venv)) and "'line-bot-sdk==" in pins[1] and "'reportlab==" in pins[1]

    tickerlake = str(venv / "bin" / "tickerlake")
    printed = subprocess.run([tickerlake, "catalog", "terraform", "--out", "-"], capture_output=True, text=True,
                             cwd=outside)  # fmt: skip
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout == (REPO / "infra" / "glue_tables.tf.json").read_text()
    nowhere = subprocess.run(
        [tickerlake, "catalog", "terraform"], capture_output=True, text=True, cwd=outside
    )
    assert nowhere.returncode == 2 and nowhere.stderr.startswith(
        "error: --out infra/glue_tables.tf.json: the folder"
    )
    (outside / "infra").mkdir()
    wrote = subprocess.run([tickerlake, "catalog", "terraform"], capture_output=True, text=True, cwd=outside)
    assert wrote.returncode == 0, wrote.stderr
    assert (outside / "infra" / "glue_tables.tf.json").read_text() == printed.stdout
