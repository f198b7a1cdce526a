"""`tickerlake init` and `tickerlake lineage`, through typer's CliRunner and the real entry point."""

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow as pa
import typer
from typer.testing import CliRunner

from lake.api import Lake
from lake.store import LocalStore
from tickerlake_cli import lake_cmds

REPO = Path(__file__).resolve().parents[1]
SCHEMA = pa.schema([("close", pa.float64())])
T, D = "D05.SI", "2025-01-02"
RAW = f"raw/yfinance/ticker={T}/date={D}/20250102T100000000000Z.json"


def _app() -> typer.Typer:
    app = typer.Typer()
    lake_cmds.register(app)
    return app


def _invoke(*args: str):
    return CliRunner().invoke(_app(), list(args))


def _write(lake: Lake, ticker: str, close: float, n: int):
    at = dt.datetime(2025, 1, 2, 10, tzinfo=dt.UTC) + dt.timedelta(hours=n)
    rows = pd.DataFrame(
        {
            "ticker": [ticker],
            "date": [D],
            "source_raw_key": [RAW],
            "source_raw_version": [f"raw-v{n}"],
            "close": [close],
        }
    )
    return lake.write_month(
        "prices",
        "2025-01",
        rows,
        run_id=f"run-{n}",
        computation_version=str(n),
        computed_at=at,
        schema=SCHEMA,
    )


def _two_versions(root: Path) -> list[str]:
    """Two computations of (T, D), then a write of another ticker only (a third version of the month
    object, the same version of the row). The month versions holding a new computation of the row, newest
    first."""
    lake = Lake(LocalStore(root))
    ids = [_write(lake, T, float(n), n).version_id for n in (1, 2)]
    _write(lake, "U11.SI", 9.0, 3)
    return list(reversed(ids))


def test_init_creates_the_local_lake_and_is_idempotent(tmp_path):
    first = _invoke("init", "--lake", str(tmp_path / "lake"))
    assert first.exit_code == 0, first.output
    assert "created lake folder" in first.stdout and (tmp_path / "lake" / ".tickerlake").is_dir()
    again = _invoke("init", "--lake", str(tmp_path / "lake"))
    assert again.exit_code == 0 and "created" not in again.stdout and "exists" in again.stdout


def test_init_defaults_to_the_configured_lake(tmp_path, monkeypatch):
    monkeypatch.setenv("TICKERLAKE_LAKE_URI", str(tmp_path / "configured"))
    assert _invoke("init").exit_code == 0
    assert (tmp_path / "configured" / ".tickerlake").is_dir()


def test_init_configures_an_s3_bucket_and_is_idempotent(s3_bucket):
    first = _invoke("init", "--lake", f"s3://{s3_bucket}/lake")
    assert first.exit_code == 0, first.output
    assert f"created bucket {s3_bucket}" in first.stdout and "enabled versioning" in first.stdout
    again = _invoke("init", "--lake", f"s3://{s3_bucket}/lake")
    assert again.exit_code == 0
    assert "versioning already enabled" in again.stdout and "lifecycle rules already set" in again.stdout


def test_lineage_json_lists_every_version_newest_first(tmp_path):
    ids = _two_versions(tmp_path / "lake")
    result = _invoke("lineage", "prices", T, D, "--lake", str(tmp_path / "lake"), "--json")
    assert result.exit_code == 0, result.output
    versions = json.loads(result.stdout)
    assert [v["version_id"] for v in versions] == ids
    assert [v["is_latest"] for v in versions] == [True, False]  # the row of the latest month version
    assert {
        k: versions[1][k]
        for k in (
            "computation_version",
            "run_id",
            "source_raw_key",
            "source_raw_version",
            "computed_at",
            "key",
        )
    } == {
        "computation_version": "1",
        "run_id": "run-1",
        "source_raw_key": RAW,
        "source_raw_version": "raw-v1",
        "computed_at": "2025-01-02T11:00:00.000000+00:00",
        "key": "processed/prices/month=2025-01/data.parquet",
    }


def test_lineage_table_shows_ids_and_sources(tmp_path):
    ids = _two_versions(tmp_path / "lake")
    result = CliRunner().invoke(
        _app(), ["lineage", "prices", T, D, "--lake", str(tmp_path / "lake")], env={"COLUMNS": "300"}
    )
    assert result.exit_code == 0, result.output
    assert all(version_id in result.stdout for version_id in ids)
    assert "raw-v1" in result.stdout and "raw-v2" in result.stdout
    assert "run-1" in result.stdout and "run-2" in result.stdout and "run-3" not in result.stdout


def test_lineage_of_a_row_the_month_does_not_hold(tmp_path):
    _two_versions(tmp_path / "lake")
    result = _invoke("lineage", "prices", T, "2025-01-03", "--lake", str(tmp_path / "lake"))
    assert result.exit_code == 1
    assert "no versions" in result.stderr and "processed/prices/month=2025-01/data.parquet" in result.stderr
    json_out = _invoke("lineage", "prices", T, "2025-01-03", "--lake", str(tmp_path / "lake"), "--json")
    assert json_out.exit_code == 0 and json.loads(json_out.stdout) == []


def test_lineage_of_a_missing_month_names_its_key(tmp_path):
    assert json.loads(_invoke("lineage", "prices", T, D, "--lake", str(tmp_path), "--json").stdout) == []
    result = _invoke("lineage", "prices", T, D, "--lake", str(tmp_path))
    assert result.exit_code == 1 and "no versions" in result.stderr
    assert "processed/prices/month=2025-01/data.parquet" in result.stderr


def _main(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tickerlake_cli.main", *args],
        cwd=REPO,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_lineage_of_a_lake_that_does_not_exist_is_one_line_naming_it(tmp_path):
    missing, a_file = tmp_path / "no-such-lake", tmp_path / "lake.txt"
    a_file.write_text("not a lake")
    for path in (missing, a_file):
        result = _main("lineage", "prices", T, D, "--lake", str(path))
        assert result.returncode != 0 and result.stdout == ""
        assert result.stderr.strip().splitlines() == [result.stderr.strip()]
        assert str(path) in result.stderr and "Traceback" not in result.stderr
    assert not missing.exists()  # a reader creates nothing


def test_bad_ticker_is_one_line_on_stderr_exit_2_without_traceback(tmp_path):
    result = _main("lineage", "prices", "../x", D, "--lake", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert "'../x'" in result.stderr and "Traceback" not in result.stderr
    assert result.stdout == ""


def test_bad_date_and_dataset_are_user_errors(tmp_path):
    for args, shown in ((["prices", T, "2025-13-40"], "2025-13-40"), (["bogus", T, D], "bogus")):
        result = _invoke("lineage", *args, "--lake", str(tmp_path))
        assert result.exit_code == 2 and shown in result.stderr


def test_init_on_a_file_or_below_one_is_one_line_naming_it(tmp_path):
    a_file = tmp_path / "lake.txt"
    a_file.write_text("not a lake")
    for path in (a_file, a_file / "sub"):
        result = _main("init", "--lake", str(path))
        assert result.returncode == 2, result.stderr
        assert result.stderr.strip().splitlines() == [result.stderr.strip()]
        assert (
            str(a_file) in result.stderr and "is a file" in result.stderr and "Traceback" not in result.stderr
        )


def test_lineage_names_a_damaged_version_record_and_lists_the_intact_versions(tmp_path):
    root = tmp_path / "lake"
    ids = _two_versions(root)
    damaged = next((root / ".tickerlake" / "versions").rglob(f"{ids[1]}.json"))
    damaged.write_text("")  # emptied
    _write(Lake(LocalStore(root)), T, 5.0, 5)  # a newer version after the damage
    result = _main("lineage", "prices", T, D, "--lake", str(root), "--json")
    assert result.returncode == 0, result.stderr
    versions = json.loads(result.stdout)
    assert [v["run_id"] for v in versions] == ["run-5", "run-2"]  # run-1's record is the damaged one
    assert str(damaged) in result.stderr and "Traceback" not in result.stderr


def test_an_unreachable_store_is_exit_3_not_a_user_error(tmp_path, monkeypatch):
    import socket

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    result = _main("init", "--lake", "s3://tickerlake-down/lake")
    assert result.returncode == 3, result.stderr
    assert result.stderr.strip().splitlines() == [result.stderr.strip()] and "Traceback" not in result.stderr
    assert "unreachable" in result.stderr or "refusing" in result.stderr


def test_version_prints_the_installed_version():
    from importlib.metadata import version

    result = _main("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"tickerlake {version('tickerlake')}"
