"""Local Athena SQL: DuckDB over the lake's Parquet files gives the answers pandas gives over the same files,
reads only the partitions the WHERE clause can match, and refuses anything but one SELECT."""

import datetime as dt
import json

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import schemas
from glue.local_sql import run_local
from glue.translate import QueryRefused
from lake import layout
from lake.api import Lake, Lineage
from tickerlake_cli.main import app

TICKERS = ("AAA", "BBB.SI", "CCC")
DATES = [d.date().isoformat() for d in pd.bdate_range("2024-01-02", "2024-02-09")]  # 29 sessions
COMPUTED_AT = dt.datetime(2024, 3, 1, 12, 30, tzinfo=dt.UTC)


def _rows(dataset: str, ticker: str, rng: np.random.Generator) -> pd.DataFrame:
    n = len(DATES)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, n)))
    frame = pd.DataFrame({"date": DATES})
    schema = schemas.arrow_schema(dataset)
    for name in schemas.data_columns(dataset):
        field = schema.field(name)
        if str(field.type) == "int64":
            frame[name] = rng.integers(1_000, 5_000_000, n)
        else:
            values = rng.normal(50, 20, n)
            if field.nullable:
                values[:3] = np.nan  # warm-up rows: no value yet
            frame[name] = values
    if dataset in ("prices", "indicators"):
        frame["close"] = close
    if dataset == "prices":
        frame["open"] = close * (1 + rng.normal(0, 0.005, n))
        frame["high"] = np.maximum(frame["open"], close) * 1.01
        frame["low"] = np.minimum(frame["open"], close) * 0.99
        frame["adj_close"] = close
    return frame


@pytest.fixture(scope="module")
def lake_dir(tmp_path_factory):
    """A local lake of 3 tickers x 29 sessions x 4 datasets, written through lake.api."""
    root = tmp_path_factory.mktemp("lake")
    lake = Lake.open(str(root))
    lake.init()
    rng = np.random.default_rng(7)
    for dataset in layout.DATASETS:
        for ticker in TICKERS:
            lineages = {
                day: Lineage(
                    f"raw/yfinance/ticker={ticker}/date={day}/x.json",
                    "v1",
                    "1",
                    COMPUTED_AT,
                    "run-1",
                    dataset,
                )
                for day in DATES
            }
            lake.write_partitions(dataset, ticker, _rows(dataset, ticker, rng), lineages)
    return root


@pytest.fixture(scope="module")
def frames(lake_dir) -> dict[str, pd.DataFrame]:
    """Each dataset read straight from its Parquet files with pyarrow: the reference for every answer."""
    out = {}
    for dataset in layout.DATASETS:
        parts = [
            pq.read_table(path) for path in sorted((lake_dir / "processed" / dataset).rglob("*.parquet"))
        ]
        frame = pd.concat([p.to_pandas() for p in parts], ignore_index=True)
        frame["date"] = frame["date"].astype(str)
        out[dataset] = frame
    return out


def _sql(lake_dir, query: str, **kwargs) -> pd.DataFrame:
    return run_local(query, lake_uri=str(lake_dir), **kwargs).table.to_pandas()


# --- same answers as pandas ---------------------------------------------------------------------------------


def test_group_by_month_with_date_trunc(lake_dir, frames):
    got = _sql(
        lake_dir,
        "SELECT ticker, date_trunc('month', CAST(date AS DATE)) AS month, count(*) AS n, avg(close) AS avg_close "
        "FROM prices WHERE ticker IN ('AAA', 'CCC') GROUP BY 1, 2 ORDER BY 1, 2",
    )
    p = frames["prices"][frames["prices"].ticker.isin(["AAA", "CCC"])].copy()
    p["month"] = pd.to_datetime(p["date"]).dt.to_period("M").dt.start_time.dt.date
    want = p.groupby(["ticker", "month"]).agg(n=("close", "size"), avg_close=("close", "mean")).reset_index()
    assert list(got.columns) == ["ticker", "month", "n", "avg_close"]
    assert got["month"].tolist() == want["month"].tolist()  # DATE, not a timestamp
    assert got["n"].tolist() == want["n"].tolist()
    np.testing.assert_allclose(got["avg_close"], want["avg_close"], rtol=1e-12)


def test_date_add_date_diff_day_of_week_and_format_datetime(lake_dir, frames):
    got = _sql(
        lake_dir,
        "SELECT date, date_add('day', 7, CAST(date AS DATE)) AS next_week, "
        "date_add('month', 1, DATE '2024-01-31') AS end_feb, "
        "date_diff('day', DATE '2024-01-01', CAST(date AS DATE)) AS age, "
        "date_diff('month', DATE '2023-12-31', CAST(date AS DATE)) AS months, "
        "day_of_week(CAST(date AS DATE)) AS dow, from_iso8601_date(date) AS d, "
        "format_datetime(computed_at, 'yyyy-MM-dd''T''HH:mm') AS stamp "
        "FROM prices WHERE ticker = 'AAA' ORDER BY date",
    )
    days = [dt.date.fromisoformat(d) for d in DATES]
    assert got["date"].tolist() == DATES
    assert got["next_week"].tolist() == [d + dt.timedelta(days=7) for d in days]
    assert set(got["end_feb"]) == {dt.date(2024, 2, 29)}
    assert got["age"].tolist() == [(d - dt.date(2024, 1, 1)).days for d in days]
    # whole months elapsed since 2023-12-31: Jan 31 is the first full month (Trino semantics, not boundaries)
    assert got["months"].tolist() == [1 if d >= dt.date(2024, 1, 31) else 0 for d in days]
    assert got["dow"].tolist() == [d.isoweekday() for d in days]
    assert got["d"].tolist() == days
    assert set(got["stamp"]) == {"2024-03-01T12:30"}


def test_approx_percentile_is_the_exact_nearest_rank_percentile(lake_dir, frames):
    got = _sql(
        lake_dir,
        "SELECT ticker, approx_percentile(close, 0.5) AS p50, approx_percentile(close, 0.9) AS p90 "
        "FROM prices GROUP BY ticker ORDER BY ticker",
    )
    p = frames["prices"]
    for _, row in got.iterrows():
        values = p.loc[p.ticker == row["ticker"], "close"].to_numpy()
        assert row["p50"] == np.quantile(values, 0.5, method="inverted_cdf")
        assert row["p90"] == np.quantile(values, 0.9, method="inverted_cdf")
        assert row["p50"] in values  # a value of the data, as Athena's is


def test_window_functions(lake_dir, frames):
    got = _sql(
        lake_dir,
        "SELECT ticker, date, close, "
        "avg(close) OVER (PARTITION BY ticker ORDER BY date ROWS BETWEEN 4 PRECEDING AND CURRENT ROW) AS ma5, "
        "lag(close) OVER (PARTITION BY ticker ORDER BY date) AS prev, "
        "rank() OVER (PARTITION BY date ORDER BY close DESC) AS rnk "
        "FROM prices WHERE date BETWEEN '2024-01-10' AND '2024-01-31' ORDER BY ticker, date",
    )
    p = frames["prices"]
    p = (
        p[(p.date >= "2024-01-10") & (p.date <= "2024-01-31")]
        .sort_values(["ticker", "date"])
        .reset_index(drop=True)
    )
    want_ma5 = p.groupby("ticker")["close"].transform(lambda s: s.rolling(5, min_periods=1).mean())
    want_prev = p.groupby("ticker")["close"].shift(1)
    want_rank = p.groupby("date")["close"].rank(ascending=False, method="min").astype(int)
    np.testing.assert_allclose(got["ma5"], want_ma5, rtol=1e-12)
    np.testing.assert_allclose(got["prev"].astype(float), want_prev, rtol=1e-12)
    assert got["rnk"].tolist() == want_rank.tolist()


def test_join_across_datasets(lake_dir, frames):
    got = _sql(
        lake_dir,
        "SELECT p.date, p.close, i.rsi_14, f.ret_1d FROM prices p "
        "JOIN indicators i ON p.ticker = i.ticker AND p.date = i.date "
        "LEFT JOIN features f ON f.ticker = p.ticker AND f.date = p.date "
        "WHERE p.ticker = 'BBB.SI' AND i.ticker = 'BBB.SI' ORDER BY p.date",
    )
    p, i, f = (frames[d][frames[d].ticker == "BBB.SI"] for d in ("prices", "indicators", "features"))
    want = p.merge(i[["date", "rsi_14"]], on="date").merge(f[["date", "ret_1d"]], on="date", how="left")
    want = want.sort_values("date").reset_index(drop=True)
    assert got["date"].tolist() == want["date"].tolist()
    np.testing.assert_allclose(got["rsi_14"].astype(float), want["rsi_14"], rtol=1e-12)
    np.testing.assert_allclose(got["ret_1d"].astype(float), want["ret_1d"], rtol=1e-12)


def test_unnest_with_ordinality(lake_dir, frames):
    got = _sql(
        lake_dir,
        "SELECT t.v, t.n FROM prices p "
        "CROSS JOIN UNNEST(ARRAY[p.open, p.close]) WITH ORDINALITY AS t(v, n) "
        "WHERE p.ticker = 'AAA' AND p.date = '2024-01-02' ORDER BY t.n",
    )
    row = frames["prices"].query("ticker == 'AAA' and date == '2024-01-02'").iloc[0]
    assert got["v"].tolist() == [row["open"], row["close"]]
    assert got["n"].tolist() == [1, 2]


def test_unnest_of_several_arrays_is_refused_by_name(lake_dir):
    with pytest.raises(QueryRefused, match="UNNEST of several arrays"):
        run_local(
            "SELECT t.k, t.v FROM prices p CROSS JOIN UNNEST(ARRAY['open'], ARRAY[p.open]) AS t(k, v) "
            "WHERE p.ticker = 'AAA'",
            lake_uri=str(lake_dir),
        )


def test_integer_division_truncates_like_athena(lake_dir, frames):
    got = _sql(
        lake_dir,
        "SELECT ticker, sum(volume) / count(*) AS avg_volume, 7 / 2 AS seven_halves, -7 / 2 AS neg, "
        "CAST(sum(volume) AS DOUBLE) / count(*) AS exact FROM prices GROUP BY ticker ORDER BY ticker",
    )
    sums = frames["prices"].groupby("ticker")["volume"].agg(["sum", "count"])
    assert got["avg_volume"].tolist() == [
        int(s // c) for s, c in zip(sums["sum"], sums["count"], strict=True)
    ]
    assert set(got["seven_halves"]) == {3} and set(got["neg"]) == {-3}
    np.testing.assert_allclose(got["exact"], (sums["sum"] / sums["count"]).to_numpy(), rtol=1e-12)


def test_group_by_having_and_nulls_sort_last(lake_dir, frames):
    got = _sql(
        lake_dir,
        "SELECT ticker, count(rsi_14) AS with_rsi, count(*) AS n FROM indicators "
        "GROUP BY ticker HAVING count(*) > 10 ORDER BY ticker",
    )
    i = frames["indicators"]
    assert got["with_rsi"].tolist() == i.groupby("ticker")["rsi_14"].count().tolist()
    ordered = _sql(lake_dir, "SELECT rsi_14 FROM indicators WHERE ticker = 'AAA' ORDER BY rsi_14 DESC")
    want = i[i.ticker == "AAA"]["rsi_14"].sort_values(ascending=False, na_position="last")
    assert ordered["rsi_14"].isna().tolist() == want.isna().tolist()  # NULLS LAST, as in Athena


def test_select_star_has_athenas_column_order_and_types(lake_dir):
    result = run_local(
        "SELECT * FROM prices WHERE ticker = 'AAA' AND date = '2024-01-02'", lake_uri=str(lake_dir)
    )
    data = [f.name for f in schemas.arrow_schema("prices") if f.name not in ("ticker", "date")]
    assert result.table.column_names == [*data, "ticker", "date"]
    row = result.table.to_pylist()[0]
    assert row["date"] == "2024-01-02"  # the partition key is a string, as in Glue
    assert row["computed_at"] == dt.datetime(2024, 3, 1, 12, 30)  # UTC, naive like Athena's timestamp
    assert row["source_raw_key"] == "raw/yfinance/ticker=AAA/date=2024-01-02/x.json"


def test_unnamed_columns_are_named_like_athena(lake_dir):
    result = run_local("SELECT count(*), max(date) FROM prices WHERE ticker = 'AAA'", lake_uri=str(lake_dir))
    assert result.table.column_names == ["_col0", "_col1"]
    assert result.table.to_pylist() == [{"_col0": len(DATES), "_col1": DATES[-1]}]


def test_parameters_are_sql_literals(lake_dir):
    got = _sql(
        lake_dir,
        "SELECT count(*) AS n FROM prices WHERE ticker = ? AND date >= ?",
        params=["'AAA'", "'2024-02-01'"],
    )
    assert got["n"].tolist() == [sum(d >= "2024-02-01" for d in DATES)]


def test_only_the_latest_version_of_a_partition_is_seen(tmp_path):
    lake = Lake.open(str(tmp_path))
    frame = _rows("prices", "AAA", np.random.default_rng(1)).iloc[:1]
    lineage = Lineage(
        "raw/yfinance/ticker=AAA/date=2024-01-02/x.json", "v1", "1", COMPUTED_AT, "run-1", "prices"
    )
    lake.write_partition("prices", "AAA", DATES[0], frame, lineage)
    lake.write_partition("prices", "AAA", DATES[0], frame.assign(close=1.0), lineage)
    got = _sql(tmp_path, "SELECT close FROM prices WHERE ticker = 'AAA'")
    assert got["close"].tolist() == [1.0]


# --- pruning ----------------------------------------------------------------------------------------------


def _keys(dataset, tickers, dates):
    return sorted(layout.dataset_key(dataset, t, d) for t in tickers for d in dates)


def test_ticker_and_date_range_read_only_matching_files(lake_dir):
    result = run_local(
        "SELECT * FROM prices WHERE ticker = 'AAA' AND date BETWEEN '2024-01-03' AND '2024-01-05'",
        lake_uri=str(lake_dir),
    )
    assert result.files_read == _keys("prices", ["AAA"], ["2024-01-03", "2024-01-04", "2024-01-05"])
    assert result.files_total == len(TICKERS) * len(DATES)
    assert result.table.num_rows == 3


def test_in_list_and_open_ranges_prune(lake_dir):
    result = run_local(
        "SELECT * FROM prices WHERE ticker IN ('AAA', 'CCC') AND date > '2024-02-06' AND '2024-02-09' > date",
        lake_uri=str(lake_dir),
    )
    assert result.files_read == _keys("prices", ["AAA", "CCC"], ["2024-02-07", "2024-02-08"])


def test_each_table_of_a_join_is_pruned_by_its_own_conditions(lake_dir):
    result = run_local(
        "SELECT p.close, i.rsi_14 FROM prices p JOIN indicators i ON p.ticker = i.ticker AND p.date = i.date "
        "WHERE p.ticker = 'AAA' AND p.date = '2024-01-02' AND i.ticker = 'AAA'",
        lake_uri=str(lake_dir),
    )
    assert result.files_read == sorted(
        _keys("prices", ["AAA"], ["2024-01-02"]) + _keys("indicators", ["AAA"], DATES)
    )
    assert result.files_total == 2 * len(TICKERS) * len(DATES)


def test_or_conditions_do_not_prune(lake_dir):
    result = run_local(
        "SELECT count(*) FROM prices WHERE ticker = 'AAA' OR close > 0", lake_uri=str(lake_dir)
    )
    assert len(result.files_read) == result.files_total
    assert result.notes  # Athena would need a ticker condition


def test_a_subquery_is_pruned_separately(lake_dir):
    result = run_local(
        "SELECT count(*) FROM prices WHERE ticker = 'CCC' AND date = (SELECT max(date) FROM prices WHERE ticker = 'AAA')",
        lake_uri=str(lake_dir),
    )
    assert result.files_read == sorted(_keys("prices", ["AAA"], DATES) + _keys("prices", ["CCC"], DATES))
    assert result.table.to_pylist() == [{"_col0": 1}]


def test_an_unknown_ticker_reads_nothing_and_returns_no_rows(lake_dir):
    result = run_local("SELECT * FROM prices WHERE ticker = 'NOPE'", lake_uri=str(lake_dir))
    assert result.files_read == [] and result.table.num_rows == 0


# --- the command line ---------------------------------------------------------------------------------------


def _cli(*args):
    return CliRunner().invoke(app, ["sql", *args])


def test_cli_json_output_is_an_array_of_objects(lake_dir):
    result = _cli(
        "SELECT ticker, date, volume FROM prices WHERE ticker = 'AAA' AND date = '2024-01-02'",
        "--lake",
        str(lake_dir),
        "--format",
        "json",
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert rows == [{"ticker": "AAA", "date": "2024-01-02", "volume": rows[0]["volume"]}]
    assert "files read: 1 of 87" in result.stderr


def test_cli_json_output_of_no_rows_is_an_empty_array(lake_dir):
    result = _cli("SELECT * FROM prices WHERE ticker = 'NOPE'", "--lake", str(lake_dir), "--format", "json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == []


def test_cli_csv_and_show_files(lake_dir):
    result = _cli(
        "SELECT ticker, date FROM prices WHERE ticker = 'AAA' AND date <= '2024-01-03' ORDER BY date",
        "--lake",
        str(lake_dir),
        "--format",
        "csv",
        "--show-files",
    )
    assert result.exit_code == 0
    assert result.stdout == "ticker,date\nAAA,2024-01-02\nAAA,2024-01-03\n"
    assert "read processed/prices/ticker=AAA/date=2024-01-02/data.parquet" in result.stderr


def test_cli_table_output(lake_dir):
    result = _cli(
        "SELECT ticker, count(*) AS n FROM prices WHERE ticker = 'AAA' GROUP BY 1", "--lake", str(lake_dir)
    )
    assert result.exit_code == 0
    assert "AAA" in result.stdout and str(len(DATES)) in result.stdout


HOSTILE = [
    ("SELECT 1; DROP TABLE prices", "stacked statements"),
    ("SELECT * FROM prices /* hi */; DELETE FROM prices", "stacked statements"),
    ("SELECT * FROM prices --\n; DROP TABLE prices", "stacked statements"),
    ("DROP TABLE prices", "only SELECT"),
    ("INSERT INTO prices SELECT * FROM prices", "only SELECT"),
    ("WITH x AS (SELECT 1) DELETE FROM prices", "only SELECT"),
    ("CREATE TABLE x AS SELECT * FROM prices", "only SELECT"),
    ("ATTACH '/tmp/x.db' AS x", "cannot parse"),
    ("SET enable_external_access = true", "only SELECT"),
    ("SELECT * FROM read_parquet('/etc/passwd')", "not allowed"),
    ('SELECT * FROM "/etc/passwd"', "does not exist"),
    ("SELECT getenv('HOME')", "getenv() is not supported"),
    ("SELECT * FROM information_schema.tables", "does not exist"),
]


@pytest.mark.parametrize(("query", "reason"), HOSTILE)
def test_cli_refuses_hostile_sql_with_one_line_and_exit_2(lake_dir, query, reason):
    result = _cli(query, "--lake", str(lake_dir))
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and reason in lines[0], result.stderr
    assert result.stdout == ""


def test_a_comment_does_not_hide_a_statement(lake_dir):
    got = _sql(lake_dir, "SELECT count(*) AS n FROM prices WHERE ticker = 'AAA' -- ; DROP TABLE prices")
    assert got["n"].tolist() == [len(DATES)]


def test_unknown_columns_are_named(lake_dir):
    with pytest.raises(QueryRefused, match="'nope' could not be resolved"):
        run_local("SELECT nope FROM prices", lake_uri=str(lake_dir))


def test_a_runtime_error_is_a_user_error(lake_dir):
    result = _cli("SELECT volume / 0 FROM prices WHERE ticker = 'AAA'", "--lake", str(lake_dir))
    assert result.exit_code == 2
    assert "Division by zero" in result.stderr
