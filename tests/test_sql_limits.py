"""Bounded local SQL: deep nesting ends in one line (exit 2), a query is streamed and stopped by its time,
memory or row limit with a line naming the limit (exit 3), and no DuckDB error reaches the analyst raw.

The command line runs in a subprocess (`tickerlake sql ...`), as an analyst runs it: exit codes, stdout and
stderr are exactly what they see, no traceback.
"""

import datetime as dt
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import schemas
from glue.local_sql import Limits, QueryStopped, open_local, run_local
from glue.translate import (
    MAX_EXPRESSION_DEPTH,
    MAX_NESTING,
    MAX_QUERY_BYTES,
    QueryRefused,
    parse_query,
    to_duckdb,
)
from lake import layout
from lake.store import LocalStore
from tickerlake_cli.main import app

TICKERS = [f"T{i:02d}.SI" for i in range(6)]
DATES = [d.date() for d in pd.bdate_range("2024-01-02", "2024-02-29")]  # 43 sessions, 2 months
CLI = [str(Path(sys.executable).with_name("tickerlake"))]


def _prices(month: str) -> pa.Table:
    rows = [
        {
            "ticker": t,
            "date": d,
            "open": 10.0 + i,
            "high": 11.0 + i,
            "low": 9.0 + i,
            "close": 10.5 + i + j / 100,
            "adj_close": 10.5 + i,
            "volume": 1000 * (i + 1) + j,
            "source_raw_key": f"raw/yfinance/ticker={t}/date={d}/x.json",
            "source_raw_version": "v1",
            "computation_version": "1",
            # a microsecond part: Athena reads Parquet timestamps with millisecond precision
            "computed_at": dt.datetime(2024, 3, 1, 12, 0, 0, 123_456, tzinfo=dt.UTC),
            "run_id": "run-1",
        }
        for i, t in enumerate(TICKERS)
        for j, d in enumerate(DATES)
        if layout.month_of(d) == month
    ]
    return pa.Table.from_pylist(rows, schema=schemas.arrow_schema("prices"))


@pytest.fixture(scope="module")
def lake_dir(tmp_path_factory) -> Path:
    """A local lake with 258 price rows (6 tickers x 43 sessions) in two month objects."""
    root = tmp_path_factory.mktemp("limits") / "lake"
    store = LocalStore(root)
    store.initialize()
    for month in ("2024-01", "2024-02"):
        sink = io.BytesIO()
        pq.write_table(_prices(month), sink, row_group_size=64)
        store.put(layout.month_key("prices", month), sink.getvalue())
    return root


# 258^4 = 4.4e9 rows to add up: minutes of work (DuckDB counts a bare count(*) of a cross join at once)
CROSS_4 = (
    "SELECT sum(a.volume + b.volume + c.volume + d.volume) AS n FROM prices a, prices b, prices c, prices d"
)
CROSS_2 = "SELECT a.ticker, b.ticker AS t2, a.close FROM prices a, prices b"
SORTED_CROSS_3 = "SELECT a.ticker, b.close, c.volume FROM prices a, prices b, prices c ORDER BY b.close, c.volume, a.ticker"


# The command-line runs, started together (each pays the CLI's start-up once, in parallel): name -> arguments
# after `tickerlake sql` (the lake is added), and extra environment.
DEEP_QUERIES = {
    "50-parentheses": ("SELECT " + "(" * 50 + "1" + ")" * 50 + " AS x",),
    "1200-ands": (
        "SELECT count(*) AS n FROM prices WHERE " + " AND ".join(f"volume <> {-i}" for i in range(1200)),
    ),
    "3000-plus": ("SELECT " + " + ".join("1" for _ in range(3000)),),
    "300-parentheses": ("SELECT " + "(" * 300 + "1" + ")" * 300,),
    "3000-minus": ("SELECT " + "- " * 3000 + "1",),
    "recursive": ("WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t) SELECT count(*) FROM t",),
}


@pytest.fixture(scope="module")
def cli(lake_dir) -> dict[str, subprocess.CompletedProcess]:
    runs: dict[str, tuple[tuple[str, ...], dict[str, str]]] = {
        "50-parentheses": ((*DEEP_QUERIES["50-parentheses"], "--format", "json"), {}),
        "3000-plus": (DEEP_QUERIES["3000-plus"], {}),
        "recursive": (DEEP_QUERIES["recursive"], {}),
        "timeout": ((CROSS_4,), {"TICKERLAKE_SQL_TIMEOUT": "1"}),
        "max-rows-json": ((CROSS_2, "--format", "json", "--max-rows", "5"), {}),
        "memory": ((SORTED_CROSS_3, "--memory-limit", "64MB"), {}),
        "subscript": (("SELECT split(ticker, '.')[5] FROM prices",), {}),
    }
    started = {
        name: subprocess.Popen(
            [*CLI, "sql", *args, "--lake", str(lake_dir)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **env},
        )
        for name, (args, env) in runs.items()
    }
    results = {}
    for name, process in started.items():
        stdout, stderr = process.communicate(timeout=300)
        results[name] = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    return results


def _one_error_line(result: subprocess.CompletedProcess) -> str:
    lines = result.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    assert "Traceback" not in result.stderr and "RecursionError" not in result.stderr, result.stderr
    for raw in ("Max expression depth", "Catalog Error", "Binder Error", "Parser Error", "INTERRUPT Error"):
        assert raw not in result.stderr, result.stderr
    return errors[0]


# --- deep nesting: handled, or refused in one line --------------------------------------------------------------


def test_fifty_nested_parentheses_are_answered(lake_dir):
    query = "SELECT " + "(" * 50 + "1" + ")" * 50 + " AS x"
    assert run_local(query, store=LocalStore(lake_dir)).table.to_pylist() == [{"x": 1}]
    calls = "SELECT " + "abs(" * 90 + "-1" + ")" * 90 + " AS x"
    assert run_local(calls, store=LocalStore(lake_dir)).table.to_pylist() == [{"x": 1}]


def test_twelve_hundred_anded_conditions_are_answered(lake_dir):
    conditions = " AND ".join(f"volume <> {-i}" for i in range(1200))
    result = run_local(f"SELECT count(*) AS n FROM prices WHERE {conditions}", store=LocalStore(lake_dir))
    assert result.table.to_pylist() == [{"n": len(TICKERS) * len(DATES)}]


def test_twelve_hundred_ored_conditions_are_answered(lake_dir):
    volumes = [*range(1000, 1000 + len(DATES)), *range(-1, -1158, -1)]
    conditions = " OR ".join(f"volume = {v}" for v in volumes)
    result = run_local(f"SELECT count(*) AS n FROM prices WHERE {conditions}", store=LocalStore(lake_dir))
    assert result.table.to_pylist() == [{"n": len(DATES)}]  # the first ticker's volumes: 1000 + j


def test_a_sum_of_three_thousand_terms_is_refused_naming_the_depth():
    long_sum = parse_query("SELECT " + " + ".join("1" for _ in range(3000)))  # for --athena: Athena decides
    with pytest.raises(
        QueryRefused,
        match=f"nested 3,00[01] levels deep: the local engine accepts up to {MAX_EXPRESSION_DEPTH}",
    ):
        to_duckdb(long_sum, {})
    assert to_duckdb(parse_query("SELECT " + " + ".join("1" for _ in range(200))), {})  # a long sum runs


def test_parentheses_past_the_limit_are_refused():
    deep = parse_query("SELECT " + "(" * 300 + "1" + ")" * 300)
    with pytest.raises(QueryRefused, match=f"nests parentheses 300 levels deep.*up to {MAX_NESTING}"):
        to_duckdb(deep, {})
    with pytest.raises(QueryRefused, match="nests parentheses 5000 levels deep: more than can be read"):
        parse_query("SELECT " + "(" * 5000 + "1" + ")" * 5000)


def test_a_query_longer_than_athena_accepts_is_refused():
    with pytest.raises(QueryRefused, match="Athena accepts at most 262,144 bytes"):
        parse_query("SELECT 1" + " " * MAX_QUERY_BYTES)


@pytest.mark.slow
def test_cli_in_a_subprocess_answers_in_one_line_with_the_right_exit_code(cli):
    """As an analyst runs it: a deep query answered (exit 0); too deep or recursive refused (2); stopped by
    the time limit (from the environment), the row limit, the memory limit (3); Athena's error (2)."""
    assert cli["50-parentheses"].returncode == 0, cli["50-parentheses"].stderr
    assert cli["50-parentheses"].stdout == '[\n  {\n    "x": 1\n  }\n]\n'
    for name, code, named in [
        ("3000-plus", 2, "nested 3,001 levels deep"),
        ("recursive", 2, "WITH RECURSIVE"),
        ("timeout", 3, "stopped after 1 s (the time limit, --timeout)"),
        ("max-rows-json", 3, "stopped after 5 rows (the row limit, --max-rows)"),
        ("memory", 3, "memory limit of 64MB (--memory-limit)"),
        ("subscript", 2, "the query failed (as on Athena): Array subscript must be less than or equal"),
    ]:
        result = cli[name]
        assert result.returncode == code, (name, result.stderr)
        assert named in _one_error_line(result), name
    assert cli["3000-plus"].stdout == "" and cli["timeout"].stdout == ""
    assert len(json.loads(cli["max-rows-json"].stdout)) == 5  # the rows before the stop: still a JSON array


def _cli(*args: str, env: dict[str, str] | None = None):
    """`tickerlake sql ...` in-process; the result with `line`, its one error line."""
    result = CliRunner().invoke(app, ["sql", *args], env=env)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"traceback: {result.exception!r}")
    return result


def _line(result) -> str:
    lines = result.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    for raw in ("Max expression depth", "Catalog Error", "Binder Error", "Parser Error", "INTERRUPT Error"):
        assert raw not in result.stderr, result.stderr
    return errors[0]


def test_cli_answers_deep_queries(lake_dir):
    result = _cli(*DEEP_QUERIES["1200-ands"], "--lake", str(lake_dir), "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [{"n": len(TICKERS) * len(DATES)}]


@pytest.mark.parametrize(
    ("name", "named"),
    [
        ("3000-plus", "nested 3,001 levels deep"),
        ("300-parentheses", "nests parentheses 300 levels deep"),
        ("3000-minus", "levels deep"),
        ("recursive", "WITH RECURSIVE"),
    ],
)
def test_cli_refuses_too_deep_queries_in_one_line_exit_2(lake_dir, name, named):
    result = _cli(*DEEP_QUERIES[name], "--lake", str(lake_dir))
    assert result.exit_code == 2, result.output
    assert named in _line(result)
    assert result.stdout == ""


def test_cli_timeout_names_the_limit_exit_3(lake_dir):
    result = _cli(CROSS_4, "--lake", str(lake_dir), "--timeout", "1")
    assert result.exit_code == 3, result.output
    assert "stopped after 1 s (the time limit, --timeout)" in _line(result)
    assert result.stdout == ""


def test_cli_max_rows_json_csv_and_table(lake_dir):
    as_json = _cli(CROSS_2, "--lake", str(lake_dir), "--format", "json", "--max-rows", "5")
    assert as_json.exit_code == 3 and len(json.loads(as_json.stdout)) == 5
    assert "stopped after 5 rows (the row limit, --max-rows)" in _line(as_json)
    as_csv = _cli(CROSS_2, "--lake", str(lake_dir), "--format", "csv", "--max-rows", "3")
    assert as_csv.exit_code == 3 and len(as_csv.stdout.splitlines()) == 4  # header and 3 rows
    table = _cli(CROSS_2, "--lake", str(lake_dir), "--max-rows", "3")
    assert table.exit_code == 3 and "3 row(s)" in table.stderr and "stopped" in table.stderr
    assert "--max-rows" in _line(table)


def test_cli_default_row_limit_stops_a_cross_join(lake_dir):
    result = _cli(
        "SELECT a.volume FROM prices a, prices b, prices c", "--lake", str(lake_dir), "--format", "csv"
    )
    assert result.exit_code == 3, result.output
    assert len(result.stdout.splitlines()) == 100_001
    assert "stopped after 100,000 rows" in _line(result)


def test_cli_row_limit_from_the_environment(lake_dir):
    result = _cli(CROSS_2, "--lake", str(lake_dir), "--format", "csv", env={"TICKERLAKE_SQL_MAX_ROWS": "2"})
    assert result.exit_code == 3 and len(result.stdout.splitlines()) == 3


def test_cli_memory_limit_names_the_limit(lake_dir):
    result = _cli(SORTED_CROSS_3, "--lake", str(lake_dir), "--memory-limit", "64MB")
    assert result.exit_code == 3, result.output
    assert "memory limit of 64MB (--memory-limit)" in _line(result)


def test_cli_rejects_bad_limits(lake_dir):
    bad_memory = _cli("SELECT 1", "--lake", str(lake_dir), "--memory-limit", "lots")
    assert bad_memory.exit_code == 2 and "memory limit must be a size" in _line(bad_memory)
    bad_timeout = _cli("SELECT 1", "--lake", str(lake_dir), "--timeout", "-5")
    assert bad_timeout.exit_code == 2 and "timeout must be" in _line(bad_timeout)


def test_cli_runtime_errors_are_athenas_not_duckdbs(lake_dir):
    result = _cli("SELECT split(ticker, '.')[5] FROM prices", "--lake", str(lake_dir))
    assert result.exit_code == 2
    assert "the query failed (as on Athena): Array subscript must be less than or equal" in _line(result)
    overflow = _cli("SELECT sum(volume * 4611686018427387904) FROM prices", "--lake", str(lake_dir))
    assert overflow.exit_code == 2 and "overflow" in _line(overflow)


# --- limits: time, rows, memory ---------------------------------------------------------------------------------


def test_the_time_limit_interrupts_a_running_query(lake_dir):
    started = time.monotonic()
    with pytest.raises(QueryStopped, match=r"stopped after 1 s \(the time limit, --timeout\)") as caught:
        run_local(CROSS_4, store=LocalStore(lake_dir), limits=Limits(timeout=1))
    assert caught.value.limit == "timeout"
    assert time.monotonic() - started < 15


def test_the_row_limit_stops_a_streamed_result_without_computing_it(lake_dir):
    started = time.monotonic()
    with open_local(
        "SELECT a.ticker, b.close FROM prices a, prices b, prices c, prices d",  # 4.4e9 rows
        store=LocalStore(lake_dir),
        limits=Limits(max_rows=10_000),
    ) as query:
        seen = 0
        with pytest.raises(
            QueryStopped, match=r"stopped after 10,000 rows \(the row limit, --max-rows\)"
        ) as caught:
            for batch in query.batches():
                seen += batch.num_rows
    assert seen == 10_000 and caught.value.limit == "max_rows"
    assert time.monotonic() - started < 15


def test_the_memory_limit_stops_a_query_that_needs_more(lake_dir):
    with pytest.raises(QueryStopped, match=r"memory limit of 64MB \(--memory-limit\)") as caught:
        run_local(SORTED_CROSS_3, store=LocalStore(lake_dir), limits=Limits(memory_limit="64MB", timeout=60))
    assert caught.value.limit == "memory"


def test_limits_are_validated():
    with pytest.raises(ValueError, match="memory limit must be a size"):
        Limits(memory_limit="lots")
    with pytest.raises(ValueError, match="timeout must be a positive"):
        Limits(timeout=-1)
    assert Limits.from_env(timeout=0, max_rows=0).timeout is None
    assert Limits.from_env().max_rows == 100_000


def test_a_sum_of_a_bigint_column_stays_bigint(lake_dir):
    table = run_local("SELECT sum(volume) AS s FROM prices", store=LocalStore(lake_dir)).table
    assert table.schema.field("s").type == pa.int64()
    assert table.to_pylist() == [
        {"s": sum(1000 * (i + 1) + j for i in range(len(TICKERS)) for j in range(len(DATES)))}
    ]


def test_timestamps_are_read_with_athenas_millisecond_precision(lake_dir):
    row = run_local("SELECT computed_at FROM prices LIMIT 1", store=LocalStore(lake_dir)).table.to_pylist()[0]
    assert row["computed_at"] == dt.datetime(2024, 3, 1, 12, 0, 0, 123_000)  # .123456 rounds to .123


def test_a_translation_that_would_grow_without_bound_is_refused():
    nested = "SELECT " + "greatest(close, " * 40 + "close" + ")" * 40 + " FROM prices"
    started = time.monotonic()
    with pytest.raises(QueryRefused, match="grows past 50,000 nodes"):
        run_local(nested, store=LocalStore(Path("/nonexistent-lake")))
    assert time.monotonic() - started < 10
