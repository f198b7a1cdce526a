"""The command line's conventions (docs/cli.md): one `--format table|csv|json` on every command that prints
data, stdout holding only the data, exit codes 2/3/1, `--debug`, and a `--help` that loads no heavy module."""

import csv
import datetime as dt
import io
import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lake.api import Lake
from lake.store import LocalStore
from report_app.cache_events import CacheEvent, CacheEventLog
from tests.cache_ops_fixtures import sample_lake
from tickerlake_cli import main as cli_main
from tickerlake_cli._output import OutputFormat
from tickerlake_cli.main import app

REPO = Path(__file__).resolve().parents[1]
SYMBOL = "D05.SI"
HEAVY = {"pandas", "pyarrow", "dagster", "boto3", "botocore", "duckdb", "matplotlib", "reportlab", "numpy"}
#: every command that prints data, the one place the set is stated (docs/cli.md lists the others and why)
DATA_COMMANDS = {
    "ls",
    "lineage",
    "run",
    "sql",
    "report",
    "cache stats",
    "cache ttl",
    "cache prewarm",
    "quality check",
}


@pytest.fixture(scope="module")
def lake_root(tmp_path_factory) -> Path:
    """DBS19's indicators, percentiles and features (the sample source) and a few cache events."""
    root = tmp_path_factory.mktemp("cli") / "lake"
    built = sample_lake(root)
    assert built["symbol"] == SYMBOL
    log = CacheEventLog(LocalStore(root), background=False)
    at = dt.datetime(2025, 11, 10, 8, tzinfo=dt.UTC)
    for hours, tier in ((0, "miss"), (1, "l1"), (2, "l2")):
        log.record(
            CacheEvent(
                ts=at + dt.timedelta(hours=hours),
                ticker=SYMBOL,
                date="2025-11-10",
                lang="en",
                tier=tier,
                lookup_ms=1.0,
                generate_ms=900.0 if tier == "miss" else None,
            )
        )
    log.flush()
    return root


def _invoke(*args: str):
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "250"})


def _main(*args: str, env: dict | None = None, python: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *python, "-m", "tickerlake_cli.main", *args],
        cwd=REPO,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


# --- every data command has the one --format option ---------------------------------------------------


def _is_group(command) -> bool:
    return hasattr(command, "list_commands")


def _walk(command, ctx, path: tuple[str, ...] = ()):
    yield path, command
    if _is_group(command):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            yield from _walk(sub, sub.context_class(sub, parent=ctx, info_name=name), (*path, name))


def _commands() -> dict:
    """Every command and group by its path ("cache stats"), from the app as `tickerlake` builds it."""
    import typer

    root = typer.main.get_command(app)
    return {" ".join(path): command for path, command in _walk(root, root.context_class(root)) if path}


def test_every_data_command_and_only_those_have_the_shared_format_choice():
    formats = {}
    for name, command in _commands().items():
        option = next((p for p in command.params if "--format" in getattr(p, "opts", ())), None)
        if option is not None:
            formats[name] = option.type_descriptor.annotation
    assert set(formats) == DATA_COMMANDS
    assert set(formats.values()) == {OutputFormat}  # the one choice, declared once
    assert [f.value for f in OutputFormat] == ["table", "csv", "json"]


def test_the_reference_names_every_command_and_why_a_command_has_no_format():
    reference = (REPO / "docs" / "cli.md").read_text()
    leaves = {name for name, command in _commands().items() if not _is_group(command)}
    for name in leaves:
        assert f"`tickerlake {name}" in reference, name
    status_only = reference.split("## Commands that print no data", 1)[1].split("\n## ", 1)[0]
    for name in leaves - DATA_COMMANDS:
        assert f"`tickerlake {name}`" in status_only, name


def test_each_command_line_in_the_root_help_starts_its_own_help():
    commands = _commands()
    for name, (_module, line) in cli_main.COMMANDS.items():
        own = " ".join((commands[name].help or "").split())
        assert own.startswith(line.rstrip(".")), (name, line, own)


# --- the three formats, command by command -------------------------------------------------------------


def _args(lake_root: Path) -> dict[str, list[str]]:
    lake = ["--lake", str(lake_root)]
    return {
        "ls": ["ls", *lake],
        "lineage": ["lineage", "indicators", SYMBOL, "2025-11-11", *lake],
        "sql": [
            "sql",
            "SELECT ticker, date, ret_1d FROM features WHERE month = '2025-11' ORDER BY date",
            *lake,
        ],
        "report": ["report", "DBS19", "--date", "2025-11-11", "--lang", "en", *lake],
        "cache stats": ["cache", "stats", "--days", "2", "--today", "2025-11-11", "--by", "tier", *lake],
        "cache ttl": ["cache", "ttl", "--today", "2025-11-11", *lake],
        "cache prewarm": [
            "cache",
            "prewarm",
            "--tickers",
            "DBS19",
            "--date",
            "2025-11-11",
            "--no-pdf",
            *lake,
        ],
        "quality check": ["quality", "check", "features", "--no-save", *lake],
    }


#: the rows each command's json holds (a key of a json object, or None: the json is the array of rows)
ROWS_IN = {"cache ttl": "tickers", "report": None}
#: a value every format of the command shows
SHOWN = {
    "ls": "month=2025-11",
    "lineage": SYMBOL,
    "sql": "2025-11-11",
    "report": "DBS19",
    "cache stats": "miss",
    "cache ttl": SYMBOL,
    "cache prewarm": "DBS19",
    "quality check": "features",
}
CAPTIONS = ("row(s)", "version(s)", "month object(s)", "report cache", "adaptive TTL")


@pytest.mark.parametrize("name", sorted(SHOWN))
def test_the_three_formats_hold_the_same_rows_and_stdout_no_caption(lake_root, name):
    args = _args(lake_root)[name]
    outputs = {fmt: _invoke(*args, "--format", fmt) for fmt in ("table", "csv", "json")}
    codes = {fmt: result.exit_code for fmt, result in outputs.items()}
    assert len(set(codes.values())) == 1 and codes["json"] in (0, 1), {
        f: r.output for f, r in outputs.items()
    }
    document = json.loads(outputs["json"].stdout)
    if name in ROWS_IN:
        key = ROWS_IN[name]
        rows = document[key] if key else [document]
    else:
        rows = document
    assert isinstance(rows, list) and rows, document
    parsed = list(csv.DictReader(io.StringIO(outputs["csv"].stdout)))
    assert len(parsed) == len(rows)
    for from_csv, from_json in zip(parsed, rows, strict=True):
        for key, value in from_json.items():
            if key in from_csv and key != "seconds":  # the CSV cell is the JSON value as text (not a timing)
                expected = "" if value is None else value if isinstance(value, str) else json.dumps(value)
                assert from_csv[key] == expected, (name, key)
    for fmt, result in outputs.items():
        assert SHOWN[name] in result.stdout, (fmt, result.stdout)
        if fmt != "table":
            assert not any(caption in result.stdout for caption in CAPTIONS), (fmt, result.stdout)


def test_a_table_caption_goes_to_stderr_and_a_bad_format_is_a_usage_error(lake_root):
    result = _invoke(*_args(lake_root)["ls"])
    assert (
        result.exit_code == 0
        and "month object(s)" in result.stderr
        and "month object(s)" not in result.stdout
    )
    bad = _invoke(*_args(lake_root)["ls"], "--format", "xml")
    assert bad.exit_code == 2 and "'xml'" in bad.output and "table" in bad.output


def test_piped_csv_and_json_stdout_hold_only_the_data(lake_root):
    lake = ["--lake", str(lake_root)]
    sql = ["sql", "SELECT ticker, date FROM indicators WHERE month = '2025-11' ORDER BY date", *lake]
    piped = _main(*sql, "--format", "csv")
    assert piped.returncode == 0, piped.stderr
    lines = piped.stdout.splitlines()
    assert lines[0] == "ticker,date" and all(
        re.fullmatch(rf"{re.escape(SYMBOL)},2025-11-\d\d", x) for x in lines[1:]
    )
    assert "files read" in piped.stderr
    table = _main(*sql)  # the table's row count is a caption: on stderr
    assert "row(s)" in table.stderr and "row(s)" not in table.stdout and SYMBOL in table.stdout
    listing = _main("ls", *lake, "--format", "json")
    assert listing.returncode == 0, listing.stderr
    assert {row["dataset"] for row in json.loads(listing.stdout)} == {"indicators", "percentiles", "features"}


def test_an_empty_result_is_a_header_or_an_empty_array(tmp_path):
    Lake(LocalStore(tmp_path / "lake")).init()
    lake = ["--lake", str(tmp_path / "lake")]
    assert _invoke("ls", *lake, "--format", "json").stdout.strip() == "[]"
    header = _invoke("ls", *lake, "--format", "csv").stdout.splitlines()
    assert header == [
        "dataset,month,key,version_id,last_modified,size,rows,tickers,computation_version,computed_at,run_id"
    ]
    assert _invoke("lineage", "prices", SYMBOL, "2025-11-11", *lake, "--format", "csv").stdout.startswith(
        "version_id,"
    )


# --- exit codes, --debug -------------------------------------------------------------------------------


def test_a_typo_in_an_option_is_exit_2():
    result = _main("ls", "--fromat", "csv")
    assert result.returncode == 2 and "--fromat" in result.stderr and result.stdout == ""


def test_an_unreachable_s3_endpoint_is_exit_3_naming_it():
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    endpoint = f"http://127.0.0.1:{port}"
    env = {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
    result = _main("ls", "--lake", "s3://tickerlake-down/lake", "--format", "csv", env=env)
    assert result.returncode == 3, result.stderr
    assert result.stderr.strip().splitlines() == [result.stderr.strip()] and endpoint in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


_BUG = "import lake.api as a; a.Lake.months = lambda *_: 1 / 0; from tickerlake_cli.main import main; main()"


def test_an_unexpected_error_is_one_line_exit_1_and_names_debug(lake_root):
    # a bug (ZeroDivisionError in the lake API) cannot be caused from outside: it is planted
    result = subprocess.run(
        [sys.executable, "-c", _BUG, "ls", "--lake", str(lake_root)],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: unexpected ZeroDivisionError: division by zero (run with --debug for the traceback)"
    ]


@pytest.mark.parametrize("how", [["--debug"], ["TICKERLAKE_DEBUG=1"]])
def test_debug_shows_the_full_traceback(lake_root, how):
    env = dict(os.environ)
    args = ["ls", "--lake", str(lake_root)]
    if how == ["--debug"]:
        args = ["--debug", *args]
    else:
        env["TICKERLAKE_DEBUG"] = "1"
    result = subprocess.run(
        [sys.executable, "-c", _BUG, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 1
    assert result.stderr.startswith("Traceback (most recent call last):")
    assert "lake_cmds.py" in result.stderr and result.stderr.rstrip().endswith(
        "ZeroDivisionError: division by zero"
    )


@pytest.mark.slow
def test_a_failed_run_is_exit_1_with_its_summary_in_every_format(tmp_path):
    """A damaged month object (not Parquet) makes the prices step fail: the run fails, exit 1."""
    lake = tmp_path / "lake"
    damaged = lake / "processed" / "prices" / "month=2025-01" / "data.parquet"
    damaged.parent.mkdir(parents=True)
    damaged.write_bytes(b"not parquet")
    args = ["run", "--lake", str(lake), "--tickers", "NVDA", "--start", "2025-01-27", "--end", "2025-01-31"]
    args += ["--no-reports", "--no-record"]
    env = {"DAGSTER_HOME": str(tmp_path / "home")}
    as_json = _main(*args, "--format", "json", env=env)
    assert as_json.returncode == 1, as_json.stderr[-2000:]
    summary = json.loads(as_json.stdout)
    assert summary["success"] is False and "Parquet" in summary["error"]
    as_csv = _main(*args, "--format", "csv", env=env)
    assert as_csv.returncode == 1
    fields = {row["field"]: row["value"] for row in csv.DictReader(io.StringIO(as_csv.stdout))}
    assert fields["success"] == "false" and fields["tickers"] == "1" and "Parquet" in fields["error"]


# --- --help is fast: it imports no heavy module ----------------------------------------------------------


def _imported(*args: str) -> set[str]:
    result = _main(*args, python=("-X", "importtime"))
    assert result.returncode == 0, result.stderr[-2000:]
    names = re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s*([\w.]+)$", result.stderr, flags=re.M)
    assert names, result.stderr[:500]
    return {name.split(".")[0] for name in names}


@pytest.mark.parametrize("args", [["--help"], ["sql", "--help"], ["run", "--help"], ["ls", "--help"]])
def test_help_imports_no_heavy_module(args):
    loaded = _imported(*args)
    assert "typer" in loaded and not (loaded & HEAVY), sorted(loaded & HEAVY)
