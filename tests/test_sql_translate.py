"""Athena -> DuckDB translation: what is rewritten, what is refused (by name), and the Athena path."""

import boto3
import pytest
from typer.testing import CliRunner

from glue.athena import AthenaQueryFailed, run_athena
from glue.local_sql import PartitionFilter, partition_filter
from glue.translate import QueryRefused, joda_to_strftime, parse_query, to_duckdb
from tickerlake_cli.main import app

SCHEMA = {
    "prices": {
        "ticker": "VARCHAR",
        "date": "DATE",
        "close": "DOUBLE",
        "volume": "BIGINT",
        "computed_at": "TIMESTAMP",
        "month": "VARCHAR",
    },
}


def duck(sql: str, *params: str) -> str:
    return to_duckdb(parse_query(sql, params), SCHEMA, "tickerlake")


@pytest.mark.parametrize(
    ("athena", "duckdb"),
    [
        ("SELECT 7 / 2 AS x", "SELECT 7 // 2 AS x"),
        ("SELECT volume / 2 AS x FROM prices", "SELECT prices.volume // 2 AS x FROM prices AS prices"),
        ("SELECT close / 2 AS x FROM prices", "SELECT prices.close / 2 AS x FROM prices AS prices"),
        (
            "SELECT CAST(volume AS DOUBLE) / 2 AS x FROM prices",
            "SELECT CAST(prices.volume AS DOUBLE) / 2 AS x FROM prices AS prices",
        ),
        (
            "SELECT approx_percentile(close, 0.5) AS x FROM prices",
            "SELECT QUANTILE_DISC(prices.close, 0.5) AS x FROM prices AS prices",
        ),
        (
            "SELECT approx_distinct(ticker) AS x FROM prices",
            "SELECT COUNT(DISTINCT prices.ticker) AS x FROM prices AS prices",
        ),
        (
            "SELECT date_diff('month', DATE '2024-01-31', DATE '2024-02-29') AS x",
            "SELECT DATE_SUB('month', CAST('2024-01-31' AS DATE), CAST('2024-02-29' AS DATE)) AS x",
        ),
        (
            "SELECT date_add('day', 1, DATE '2024-01-31') AS x",
            "SELECT CAST((CAST('2024-01-31' AS DATE)) + INTERVAL 1 DAY AS DATE) AS x",
        ),
        (
            "SELECT date_trunc('week', DATE '2024-01-31') AS x",
            "SELECT CAST(DATE_TRUNC('week', CAST('2024-01-31' AS DATE)) AS DATE) AS x",
        ),
        (
            "SELECT format_datetime(computed_at, 'dd/MM/yyyy HH:mm:ss') AS x FROM prices",
            "SELECT STRFTIME(prices.computed_at, '%d/%m/%Y %H:%M:%S') AS x FROM prices AS prices",
        ),
        ("SELECT * FROM tickerlake.prices WHERE ticker = ?", None),
    ],
)
def test_translations(athena, duckdb):
    got = duck(athena, "'A'") if "?" in athena else duck(athena)
    if duckdb is not None:
        assert got == duckdb
    else:
        assert "FROM prices AS prices WHERE prices.ticker = 'A'" in got


def test_regexp_extract_without_a_match_is_null_like_athena():
    assert duck("SELECT regexp_extract(ticker, 'X(-)', 1) AS x FROM prices") == (
        "SELECT CASE WHEN REGEXP_MATCHES(prices.ticker, 'X(-)') THEN REGEXP_EXTRACT(prices.ticker, 'X(-)', 1) END AS x "
        "FROM prices AS prices"
    )
    # '.' reads line breaks differently in the two engines: such a string is refused when the query runs
    assert "line break" in duck("SELECT regexp_extract(ticker, 'X(.)', 1) AS x FROM prices")


@pytest.mark.parametrize(
    ("sql", "named"),
    [
        ("SELECT 1.0 / 3", "DECIMAL division"),
        ('SELECT "$path" FROM prices', '"$path"'),
        ("SELECT typeof(close) FROM prices", "typeof()"),
        ("SELECT checksum(close) FROM prices", "checksum()"),
        ("SELECT parse_datetime(month, 'yyyy-MM') FROM prices", "parse_datetime()"),
        ("SELECT approx_percentile(close, volume, 0.5) FROM prices", "with a weight"),
        ("SELECT format_datetime(computed_at, 'yyyy QQ') FROM prices", "'QQ'"),
        ("SELECT format_datetime(computed_at, 'yyyy' || ticker) FROM prices", "constant pattern"),
        ("SELECT format_datetime(computed_at, date) FROM prices", "does not take a DATE as argument 2"),
        ("SELECT foo_bar(close) FROM prices", "function foo_bar() is not supported"),
        ("SELECT * FROM other", "table other does not exist"),
        ("SELECT * FROM elsewhere.prices", "does not exist"),
        ("SELECT ?", "1 '?' parameter(s) but 0"),
        ("WITH prices AS (SELECT * FROM prices) SELECT * FROM prices", "shadows the table prices"),
    ],
)
def test_refusals_name_the_construct(sql, named):
    with pytest.raises(QueryRefused) as caught:
        duck(sql)
    assert named in str(caught.value)


def test_a_division_is_typed_through_unnest_and_with_queries():
    with pytest.raises(QueryRefused, match="no operator VARCHAR / INTEGER"):
        duck("SELECT t.x / 2 FROM prices CROSS JOIN UNNEST(split(ticker, '.')) AS t(x)")
    assert "//" in duck("WITH c AS (SELECT volume AS v FROM prices) SELECT v / 2 AS x FROM c")
    with pytest.raises(QueryRefused, match="DECIMAL division"):
        duck("WITH c AS (SELECT 1.5 AS v) SELECT v / 2 AS x FROM c")


@pytest.mark.parametrize("value", ["1; DROP TABLE prices", "close", "(SELECT 1)", "'a' || 'b'"])
def test_parameters_must_be_literals(value):
    with pytest.raises(QueryRefused, match="not a SQL literal"):
        parse_query("SELECT * FROM prices WHERE ticker = ?", [value])


def test_comments_never_reach_duckdb():
    assert "/*" not in duck("SELECT /* */ 1 AS x -- trailing\n")


def test_joda_translation_table():
    assert joda_to_strftime("yyyy-MM-dd'T'HH:mm:ss.SSS") == "%Y-%m-%dT%H:%M:%S.%g"
    assert joda_to_strftime("EEE, d MMM yy 'at' h a") == "%a, %-d %b %y at %-I %p"
    assert joda_to_strftime("100%") == "100%%"


def _filter(where: str, alias="p", only=True) -> PartitionFilter:
    tree = parse_query(f"SELECT 1 FROM prices AS p WHERE {where}")
    return partition_filter(tree.args["where"].this, alias, only)


def _months(f: PartitionFilter, months=("2023-12", "2024-01", "2024-02", "2024-03", "2024-04")) -> list[str]:
    return [m for m in months if f.matches_month(m)]


def test_partition_filters_from_date_conditions():
    f = _filter("p.ticker = 'A' AND date BETWEEN DATE '2024-01-01' AND DATE '2024-02-10' AND close > 1")
    assert f.tickers == {"A"} and f.low == ("2024-01-01", True) and f.high == ("2024-02-10", True)
    assert _months(f) == ["2024-01", "2024-02"]
    assert _filter("ticker IN ('A', 'B') AND ticker = 'B'").tickers == {"B"}
    assert _months(_filter("date = DATE '2024-01-02'")) == ["2024-01"]
    assert _months(_filter("date = CAST('2024-03-31' AS DATE)")) == ["2024-03"]
    assert _months(_filter("date = '2024-02-29'")) == ["2024-02"]  # an ISO string: DuckDB casts it
    assert _months(_filter("date IN (DATE '2024-01-02', DATE '2024-03-04')")) == ["2024-01", "2024-03"]
    assert _months(_filter("DATE '2024-02-01' <= date")) == ["2024-02", "2024-03", "2024-04"]
    # an exclusive bound on a month's last (first) day leaves that month out
    assert _months(_filter("date > DATE '2024-01-31' AND date < DATE '2024-03-01'")) == ["2024-02"]
    assert _months(_filter("date < TIMESTAMP '2024-01-01'")) == ["2023-12"]
    assert _months(_filter("date = DATE '2024-01-02' AND date = DATE '2024-02-02'")) == []  # contradiction


def test_partition_filters_from_month_conditions():
    assert _months(_filter("month = '2024-02'")) == ["2024-02"]
    assert _months(_filter("p.month IN ('2024-01', '2024-03')")) == ["2024-01", "2024-03"]
    assert _months(_filter("month BETWEEN '2024-01' AND '2024-02'")) == ["2024-01", "2024-02"]
    assert _months(_filter("month > '2024-02' AND '2024-04' > month")) == ["2024-03"]
    assert _months(_filter("month >= '2024'")) == ["2024-01", "2024-02", "2024-03", "2024-04"]  # text order
    assert _months(_filter("month = '2024-2'")) == []  # never equal, on Athena either
    # month and date conditions together: both hold
    assert _months(_filter("month >= '2024-02' AND date <= DATE '2024-03-15'")) == ["2024-02", "2024-03"]


def test_conditions_that_do_not_prune():
    assert _filter("ticker = 'A' OR ticker = 'B'") == PartitionFilter()
    assert _filter("date = DATE '2024-01-02' OR close > 1") == PartitionFilter()
    assert _filter("date >= '2024-1-5'") == PartitionFilter()  # not ISO: no pruning
    assert _filter("date >= TIMESTAMP '2024-01-05 10:00:00'") == PartitionFilter()
    assert _filter("month = DATE '2024-01-01'") == PartitionFilter()  # not a string: an error, not a prune
    assert _filter("date_trunc('month', date) = DATE '2024-01-01'") == PartitionFilter()
    assert _filter("x.ticker = 'A'") == PartitionFilter()  # another table's column
    assert _filter("ticker = 'A'", only=False) == PartitionFilter()  # unqualified in a join: ambiguous
    assert all(PartitionFilter().matches_month(m) for m in ("1999-01", "2024-01"))


def test_row_filters_push_tickers_and_dates_into_a_pyarrow_scan():
    import datetime as dt

    import pyarrow as pa

    table = pa.table(
        {
            "ticker": ["A", "A", "B", "B", "C"],
            "date": pa.array([dt.date(2024, 1, d) for d in (2, 3, 2, 3, 3)], pa.date32()),
        }
    )
    f = _filter("ticker IN ('A', 'B') AND date > DATE '2024-01-02'")
    assert table.filter(f.row_filter()).to_pylist() == [
        {"ticker": "A", "date": dt.date(2024, 1, 3)},
        {"ticker": "B", "date": dt.date(2024, 1, 3)},
    ]
    assert table.filter(_filter("date IN (DATE '2024-01-02')").row_filter()).num_rows == 2
    assert _filter("month = '2024-01'").row_filter() is None  # months prune objects, not rows
    assert PartitionFilter().row_filter() is None


# --- Athena: only as far as the moto server can go (it runs no SQL) -------------------------------------


@pytest.fixture
def athena_session(moto_server, s3_bucket):
    session = boto3.Session()
    session.client("s3").create_bucket(Bucket=s3_bucket)
    session.client("athena").create_work_group(
        Name="tickerlake",
        Configuration={
            "ResultConfiguration": {"OutputLocation": f"s3://{s3_bucket}/athena-results/"},
            "EnforceWorkGroupConfiguration": True,
        },
    )
    yield session
    session.client("athena").delete_work_group(WorkGroup="tickerlake", RecursiveDeleteOption=True)


@pytest.mark.s3
def test_athena_query_is_started_with_server_side_parameters_workgroup_and_database(athena_session):
    started: list[dict] = []
    athena_session.events.register(
        "before-parameter-build.athena.StartQueryExecution", lambda params, **kw: started.append(dict(params))
    )
    sql = "SELECT close FROM prices WHERE ticker = ? AND date = ?"
    with pytest.raises(AthenaQueryFailed):  # moto has no result file to read back
        run_athena(
            sql, params=["'AAA'", "DATE '2024-01-02'"], database="tickerlake", boto3_session=athena_session
        )
    assert len(started) == 1
    call = started[0]
    assert call["QueryString"] == sql  # sent as written: Athena is the reference dialect
    assert call["ExecutionParameters"] == ["'AAA'", "DATE '2024-01-02'"]
    assert call["WorkGroup"] == "tickerlake"
    assert call["QueryExecutionContext"]["Database"] == "tickerlake"


@pytest.mark.s3
def test_athena_refuses_before_sending_anything(athena_session):
    started: list[dict] = []
    athena_session.events.register("before-call.athena.StartQueryExecution", lambda **kw: started.append(kw))
    with pytest.raises(QueryRefused):
        run_athena("DROP TABLE prices", boto3_session=athena_session)
    assert started == []


def test_cli_athena_refusal_is_one_line_exit_2():
    result = CliRunner().invoke(app, ["sql", "SELECT 1; DROP TABLE prices", "--athena"])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: expected exactly one statement")
