"""Local Athena SQL over the month objects: DuckDB gives the answers pandas gives over the same files, opens
only the months the WHERE clause's `month`/`date` conditions can match (and only the columns the query
names), needs no ticker, answers an empty table with its columns, and refuses anything but one SELECT.
The same queries run on a local lake and on an S3 lake (moto server)."""

import datetime as dt
import io
import json
import os

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import schemas
from glue.local_sql import _database, run_local
from glue.translate import QueryRefused
from lake import layout
from lake.store import LocalStore, S3Store
from tickerlake_cli.main import app

TICKERS = ("AAA", "BBB.SI", "CCC")
DATES = [d.date().isoformat() for d in pd.bdate_range("2024-01-02", "2024-03-08")]  # 49 sessions
MONTHS = ("2024-01", "2024-02", "2024-03")
COMPUTED_AT = dt.datetime(2024, 3, 10, 12, 30, tzinfo=dt.UTC)


def _day(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def _rows(dataset: str, ticker: str, rng: np.random.Generator) -> pd.DataFrame:
    """One ticker's full rows of a dataset over DATES (values random, lineage columns filled)."""
    n = len(DATES)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, n)))
    frame = pd.DataFrame({"ticker": ticker, "date": [_day(d) for d in DATES]})
    schema = schemas.arrow_schema(dataset)
    for name in schemas.data_columns(dataset):
        if pa.types.is_integer(schema.field(name).type):
            frame[name] = rng.integers(1_000, 5_000_000, n)
        else:
            values = rng.normal(50, 20, n)
            if schema.field(name).nullable:
                values[:3] = np.nan  # warm-up rows: no value yet
            frame[name] = values
    if dataset in ("prices", "indicators"):
        frame["close"] = close
    if dataset == "prices":
        frame["open"] = close * (1 + rng.normal(0, 0.005, n))
        frame["high"] = np.maximum(frame["open"], close) * 1.01
        frame["low"] = np.minimum(frame["open"], close) * 0.99
        frame["adj_close"] = close
    frame["source_raw_key"] = [f"raw/sample/ticker={ticker}/date={d}/x.json" for d in DATES]
    frame["source_raw_version"] = "v1"
    frame["computation_version"] = "1"
    frame["computed_at"] = pd.Timestamp(COMPUTED_AT)
    frame["run_id"] = "run-1"
    return frame


def write_month(store, dataset: str, month: str, frame: pd.DataFrame) -> str:
    """A month object as the lake writes it: every ticker's rows of the month, sorted by ticker and date,
    exactly the dataset's Arrow schema (no `month` column), row groups with statistics."""
    rows = frame[[layout.month_of(d) == month for d in frame["date"]]].sort_values(["ticker", "date"])
    table = pa.Table.from_pandas(rows, schema=schemas.arrow_schema(dataset), preserve_index=False)
    sink = io.BytesIO()
    pq.write_table(table, sink, row_group_size=16, compression="snappy", write_statistics=True)
    key = layout.month_key(dataset, month)
    store.put(key, sink.getvalue())
    return key


def _fill(store) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(7)
    frames = {}
    for dataset in layout.DATASETS:
        frame = pd.concat([_rows(dataset, t, rng) for t in TICKERS], ignore_index=True)
        for month in MONTHS:
            write_month(store, dataset, month, frame)
        frames[dataset] = frame
    return frames


@pytest.fixture(scope="module")
def lake_dir(tmp_path_factory):
    """A local lake of 3 tickers x 49 sessions (Jan-Mar 2024) x 4 datasets: 3 month objects each. The lake's
    own folder is named like a partition (`month=1999-01`): a month comes from the object's folder only."""
    root = tmp_path_factory.mktemp("sql") / "month=1999-01" / "lake"
    store = LocalStore(root)
    store.initialize()
    _fill(store)
    return root


@pytest.fixture(scope="module")
def frames(lake_dir) -> dict[str, pd.DataFrame]:
    """Each dataset read straight from its month objects with pyarrow: the reference for every answer."""
    out = {}
    for dataset in layout.DATASETS:
        parts = []
        for month in MONTHS:
            part = pq.read_table(lake_dir / layout.month_key(dataset, month)).to_pandas()
            parts.append(part.assign(month=month))
        out[dataset] = pd.concat(parts, ignore_index=True)
    return out


def _sql(lake_dir, query: str, **kwargs) -> pd.DataFrame:
    return run_local(query, lake_uri=str(lake_dir), **kwargs).table.to_pandas()


def _keys(dataset: str, months) -> list[str]:
    return [layout.month_key(dataset, m) for m in months]


# --- same answers as pandas ---------------------------------------------------------------------------------


def test_a_cross_section_of_one_day_needs_no_ticker_and_opens_one_month(lake_dir, frames):
    result = run_local(
        "SELECT ticker, rsi_14 FROM indicators WHERE date = DATE '2024-02-28' ORDER BY rsi_14 DESC",
        lake_uri=str(lake_dir),
    )
    i = frames["indicators"]
    want = i[i.date == _day("2024-02-28")].sort_values("rsi_14", ascending=False)
    assert result.table.to_pylist() == want[["ticker", "rsi_14"]].to_dict("records")
    assert len(want) == len(TICKERS)
    assert result.files_read == _keys("indicators", ["2024-02"])
    assert result.files_total == len(MONTHS)
    assert result.columns_read == {"indicators": ["ticker", "date", "rsi_14"]}  # not the 25 others
    assert result.notes == []


def test_group_by_month_and_date_trunc(lake_dir, frames):
    got = _sql(
        lake_dir,
        "SELECT ticker, month, date_trunc('month', date) AS first, count(*) AS n, avg(close) AS avg_close "
        "FROM prices WHERE ticker IN ('AAA', 'CCC') GROUP BY 1, 2, 3 ORDER BY 1, 2",
    )
    p = frames["prices"][frames["prices"].ticker.isin(["AAA", "CCC"])]
    want = p.groupby(["ticker", "month"]).agg(n=("close", "size"), avg_close=("close", "mean")).reset_index()
    assert list(got.columns) == ["ticker", "month", "first", "n", "avg_close"]
    assert got["month"].tolist() == want["month"].tolist()  # the partition key: 'YYYY-MM' text
    assert got["first"].tolist() == [_day(m + "-01") for m in want["month"]]  # a DATE, not a timestamp
    assert got["n"].tolist() == want["n"].tolist()
    np.testing.assert_allclose(got["avg_close"], want["avg_close"], rtol=1e-12)


def test_the_month_partition_key_is_the_month_of_each_rows_date(lake_dir):
    got = _sql(lake_dir, "SELECT count(*) AS bad FROM prices WHERE month <> date_format(date, '%Y-%m')")
    assert got["bad"].tolist() == [0]
    assert "1999-01" not in _sql(lake_dir, "SELECT DISTINCT month FROM prices")["month"].tolist()


def test_date_functions_work_on_the_date_column(lake_dir):
    got = _sql(
        lake_dir,
        "SELECT date, date_add('day', 7, date) AS next_week, "
        "date_add('month', 1, DATE '2024-01-31') AS end_feb, "
        "date_diff('day', DATE '2024-01-01', date) AS age, "
        "date_diff('month', DATE '2023-12-31', date) AS months, "
        "day_of_week(date) AS dow, from_iso8601_date(month || '-01') AS d, "
        "format_datetime(computed_at, 'yyyy-MM-dd''T''HH:mm') AS stamp "
        "FROM prices WHERE ticker = 'AAA' ORDER BY date",
    )
    days = [_day(d) for d in DATES]
    assert got["date"].tolist() == days
    assert got["next_week"].tolist() == [d + dt.timedelta(days=7) for d in days]
    assert set(got["end_feb"]) == {dt.date(2024, 2, 29)}
    assert got["age"].tolist() == [(d - dt.date(2024, 1, 1)).days for d in days]
    # whole months elapsed since 2023-12-31 (Trino semantics, not boundaries crossed): the largest k with
    # 2023-12-31 plus k months (clamped to the month's end, so +2 is 2024-02-29) not after the date
    ends = [dt.date(2023, 12, 31), dt.date(2024, 1, 31), dt.date(2024, 2, 29), dt.date(2024, 3, 31)]
    want_months = [max(k for k, end in enumerate(ends) if end <= d) for d in days]
    assert got["months"].tolist() == want_months
    assert got["dow"].tolist() == [d.isoweekday() for d in days]
    assert got["d"].tolist() == [d.replace(day=1) for d in days]
    assert set(got["stamp"]) == {"2024-03-10T12:30"}


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


def test_window_functions_across_a_month_boundary(lake_dir, frames):
    got = _sql(
        lake_dir,
        "SELECT ticker, date, close, "
        "avg(close) OVER (PARTITION BY ticker ORDER BY date ROWS BETWEEN 4 PRECEDING AND CURRENT ROW) AS ma5, "
        "lag(close) OVER (PARTITION BY ticker ORDER BY date) AS prev, "
        "rank() OVER (PARTITION BY date ORDER BY close DESC) AS rnk "
        "FROM prices WHERE date BETWEEN DATE '2024-01-22' AND DATE '2024-02-09' ORDER BY ticker, date",
    )
    p = frames["prices"]
    p = (
        p[(p.date >= _day("2024-01-22")) & (p.date <= _day("2024-02-09"))]
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
        "WHERE p.ticker = 'BBB.SI' ORDER BY p.date",
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
        "WHERE p.ticker = 'AAA' AND p.date = DATE '2024-01-02' ORDER BY t.n",
    )
    row = frames["prices"].query("ticker == 'AAA' and date == @dt.date(2024, 1, 2)").iloc[0]
    assert got["v"].tolist() == [row["open"], row["close"]]
    assert got["n"].tolist() == [1, 2]


def test_unnest_of_several_arrays_is_refused_by_name(lake_dir):
    with pytest.raises(QueryRefused, match="UNNEST of several arrays"):
        run_local(
            "SELECT t.k, t.v FROM prices p CROSS JOIN UNNEST(ARRAY['open'], ARRAY[p.open]) AS t(k, v)",
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
        "SELECT * FROM prices WHERE ticker = 'AAA' AND date = DATE '2024-01-02'", lake_uri=str(lake_dir)
    )
    assert result.table.column_names == [*schemas.arrow_schema("prices").names, "month"]
    assert result.table.schema.field("date").type == pa.date32()
    row = result.table.to_pylist()[0]
    assert row["date"] == dt.date(2024, 1, 2)
    assert row["month"] == "2024-01"  # the partition key, from the object's folder
    assert row["computed_at"] == dt.datetime(2024, 3, 10, 12, 30)  # UTC, naive like Athena's timestamp
    assert row["source_raw_key"] == "raw/sample/ticker=AAA/date=2024-01-02/x.json"


def test_unnamed_columns_are_named_like_athena(lake_dir):
    result = run_local("SELECT count(*), max(date) FROM prices WHERE ticker = 'AAA'", lake_uri=str(lake_dir))
    assert result.table.column_names == ["_col0", "_col1"]
    assert result.table.to_pylist() == [{"_col0": len(DATES), "_col1": _day(DATES[-1])}]


def test_parameters_are_sql_literals(lake_dir):
    result = run_local(
        "SELECT count(*) AS n FROM prices WHERE ticker = ? AND date >= ?",
        lake_uri=str(lake_dir),
        params=["'AAA'", "DATE '2024-02-01'"],
    )
    assert result.table.to_pylist() == [{"n": sum(d >= "2024-02-01" for d in DATES)}]
    assert result.files_read == _keys("prices", ["2024-02", "2024-03"])


def test_a_date_compared_with_a_string_is_refused_as_athena_refuses_it(lake_dir):
    with pytest.raises(QueryRefused, match=r"compares a DATE with a string.*DATE '2024-01-02'"):
        run_local("SELECT count(*) AS n FROM prices WHERE date = '2024-01-02'", lake_uri=str(lake_dir))
    result = run_local(
        "SELECT count(*) AS n FROM prices WHERE date = DATE '2024-01-02'", lake_uri=str(lake_dir)
    )
    assert result.table.to_pylist() == [{"n": len(TICKERS)}]
    assert result.files_read == _keys("prices", ["2024-01"])


def test_only_the_latest_version_of_a_month_is_seen(tmp_path):
    store = LocalStore(tmp_path / "lake")
    store.initialize()
    frame = _rows("prices", "AAA", np.random.default_rng(1))
    write_month(store, "prices", "2024-01", frame)
    write_month(store, "prices", "2024-01", frame.assign(close=1.0))
    assert len(store.list_versions(layout.month_key("prices", "2024-01"))) == 2
    got = run_local("SELECT DISTINCT close FROM prices", store=store).table.to_pylist()
    assert got == [{"close": 1.0}]


def test_month_objects_written_by_the_lake_are_what_the_tables_show(lake):
    """Through `Lake.write_month` on each backend: a cross-section needs no ticker, and a second write
    for one ticker (a narrowed run) shows its new rows next to the others' kept ones."""
    rng = np.random.default_rng(3)
    value_columns = schemas.data_columns("indicators")
    for ticker in TICKERS:
        frame = _rows("indicators", ticker, rng)
        frame = frame[frame["date"] < dt.date(2024, 2, 1)]
        lake.write_month(
            "indicators",
            "2024-01",
            frame[["ticker", "date", "source_raw_key", "source_raw_version", *value_columns]],
            run_id="run-1",
            computation_version="1",
            computed_at=COMPUTED_AT,
        )
    redo = _rows("indicators", "BBB.SI", rng).iloc[:5].assign(rsi_14=99.5)
    lake.write_month(
        "indicators",
        "2024-01",
        redo[["ticker", "date", "source_raw_key", "source_raw_version", *value_columns]],
        run_id="run-2",
        computation_version="1",
        computed_at=COMPUTED_AT,
    )

    result = run_local(
        "SELECT ticker, rsi_14, run_id FROM indicators WHERE date = DATE '2024-01-08' ORDER BY rsi_14 DESC",
        store=lake.store,
    )
    rows = {r["ticker"]: r for r in result.table.to_pylist()}
    assert sorted(rows) == sorted(TICKERS)
    assert rows["BBB.SI"] == {"ticker": "BBB.SI", "rsi_14": 99.5, "run_id": "run-2"}
    assert rows["AAA"]["run_id"] == rows["CCC"]["run_id"] == "run-1"
    assert result.files_read == [layout.month_key("indicators", "2024-01")] and result.files_total == 1
    everything = run_local(
        "SELECT count(*) AS n, count(DISTINCT month) AS months FROM indicators", store=lake.store
    )
    assert everything.table.to_pylist() == [
        {"n": len(TICKERS) * sum(d < "2024-02" for d in DATES), "months": 1}
    ]


# --- pruning: months by month/date conditions, columns by the names the query uses ---------------------------


@pytest.mark.parametrize(
    ("where", "months"),
    [
        ("month = '2024-02'", ["2024-02"]),
        ("month IN ('2024-01', '2024-03')", ["2024-01", "2024-03"]),
        ("month >= '2024-02'", ["2024-02", "2024-03"]),
        ("date = DATE '2024-03-04'", ["2024-03"]),
        ("date BETWEEN DATE '2024-01-29' AND DATE '2024-02-02'", ["2024-01", "2024-02"]),
        ("date > DATE '2024-01-31'", ["2024-02", "2024-03"]),
        ("date < DATE '2024-02-01' AND ticker = 'AAA'", ["2024-01"]),
        ("DATE '2024-02-15' <= date AND month <= '2024-02'", ["2024-02"]),
        ("date IN (DATE '2024-01-05', DATE '2024-03-05')", ["2024-01", "2024-03"]),
        ("ticker = 'AAA'", list(MONTHS)),  # a ticker is a column now: every month, row groups skipped
        ("date = DATE '2024-02-01' OR close > 0", list(MONTHS)),  # OR does not prune
    ],
)
def test_month_and_date_conditions_open_only_the_months_they_can_match(lake_dir, frames, where, months):
    result = run_local(f"SELECT ticker, date, close FROM prices WHERE {where}", lake_uri=str(lake_dir))
    assert result.files_read == _keys("prices", months)
    assert result.files_total == len(MONTHS)
    # the answer is the unpruned answer: `OR 1 = 0` hides the conditions from pruning, not from the query
    unpruned = run_local(
        f"SELECT ticker, date, close FROM prices WHERE ({where}) OR 1 = 0", lake_uri=str(lake_dir)
    )
    assert unpruned.files_read == _keys("prices", MONTHS)
    order = ("ticker", "date")
    assert result.table.sort_by([(c, "ascending") for c in order]) == unpruned.table.sort_by(
        [(c, "ascending") for c in order]
    )
    assert result.table.num_rows > 0


def test_a_month_with_no_object_reads_nothing_and_answers_no_rows(lake_dir):
    result = run_local("SELECT * FROM prices WHERE month = '2030-01'", lake_uri=str(lake_dir))
    assert result.files_read == [] and result.table.num_rows == 0
    assert result.table.column_names == [*schemas.arrow_schema("prices").names, "month"]


def test_an_unknown_ticker_returns_no_rows(lake_dir):
    result = run_local("SELECT * FROM prices WHERE ticker = 'NOPE'", lake_uri=str(lake_dir))
    assert result.table.num_rows == 0


def test_each_table_of_a_join_is_pruned_by_its_own_conditions(lake_dir):
    result = run_local(
        "SELECT p.close, i.rsi_14 FROM prices p JOIN indicators i ON p.ticker = i.ticker AND p.date = i.date "
        "WHERE p.month = '2024-01' AND i.date >= DATE '2024-01-15' AND i.date <= DATE '2024-02-20'",
        lake_uri=str(lake_dir),
    )
    assert result.files_read == sorted(
        _keys("prices", ["2024-01"]) + _keys("indicators", ["2024-01", "2024-02"])
    )
    assert result.files_total == 2 * len(MONTHS)
    assert result.columns_read == {  # each table's own columns, not the other's of the same name
        "prices": ["ticker", "date", "close", "month"],
        "indicators": ["ticker", "date", "rsi_14"],
    }


def test_a_subquery_is_pruned_separately(lake_dir):
    result = run_local(
        "SELECT count(*) FROM prices WHERE date = (SELECT max(date) FROM prices WHERE month = '2024-02')",
        lake_uri=str(lake_dir),
    )
    assert result.files_read == _keys("prices", MONTHS)  # the outer reference names no constant date
    assert result.table.to_pylist() == [{"_col0": len(TICKERS)}]
    inner = run_local("SELECT max(date) AS d FROM prices WHERE month = '2024-02'", lake_uri=str(lake_dir))
    assert inner.files_read == _keys("prices", ["2024-02"])


def test_count_star_reads_no_value_column(lake_dir):
    result = run_local("SELECT count(*) AS n FROM features WHERE month = '2024-03'", lake_uri=str(lake_dir))
    assert result.table.to_pylist() == [{"n": len(TICKERS) * sum(d >= "2024-03" for d in DATES)}]
    assert result.columns_read == {"features": ["month"]}


# --- an empty lake, an S3 lake, the sandbox ------------------------------------------------------------------


def test_an_empty_lake_answers_every_table_empty_with_its_columns(tmp_path):
    store = LocalStore(tmp_path / "empty")
    store.initialize()
    for dataset in layout.DATASETS:
        result = run_local(f"SELECT * FROM {dataset}", store=store)
        assert result.table.num_rows == 0 and result.files_read == [] and result.files_total == 0
        assert result.table.column_names == [*schemas.arrow_schema(dataset).names, "month"]
    count = run_local("SELECT count(*) AS n, max(date) AS d FROM prices", store=store)
    assert count.table.to_pylist() == [{"n": 0, "d": None}]


@pytest.fixture(scope="module")
def s3_lake(moto_server):
    """The same months on an S3 lake (moto server): (store, frames)."""
    store = S3Store(f"s3://tickerlake-sql-{os.getpid()}/tl", max_attempts=3)
    store.initialize()
    return store, _fill(store)


S3_QUERIES = [
    "SELECT ticker, rsi_14 FROM indicators WHERE date = DATE '2024-02-28' ORDER BY rsi_14 DESC",
    "SELECT month, ticker, count(*) AS n, avg(close) AS c FROM prices GROUP BY 1, 2 ORDER BY 1, 2",
    "SELECT * FROM features WHERE ticker = 'CCC' AND date BETWEEN DATE '2024-01-30' AND DATE '2024-02-02' "
    "ORDER BY date",
    "SELECT count(*) AS n FROM percentiles WHERE month = '2024-03' AND ticker IN ('AAA', 'BBB.SI')",
    "SELECT p.date, p.close, i.rsi_14 FROM prices p JOIN indicators i ON p.ticker = i.ticker "
    "AND p.date = i.date WHERE p.ticker = 'AAA' AND p.date >= DATE '2024-03-01' ORDER BY 1",
]


@pytest.mark.s3
@pytest.mark.parametrize("query", S3_QUERIES)
def test_an_s3_lake_gives_the_same_answers_and_opens_the_same_months(s3_lake, lake_dir, query):
    store, _ = s3_lake
    on_s3 = run_local(query, store=store)
    local = run_local(query, lake_uri=str(lake_dir))
    # same data (same seed); sums may differ in the last bit with the order DuckDB's threads add them
    pd.testing.assert_frame_equal(on_s3.table.to_pandas(), local.table.to_pandas(), rtol=1e-12)
    assert on_s3.table.schema == local.table.schema
    assert on_s3.files_read == local.files_read and on_s3.files_total == local.files_total


@pytest.mark.s3
def test_an_s3_lake_prunes_months_and_pushes_ticker_and_date_filters(s3_lake):
    store, frames = s3_lake
    result = run_local(
        "SELECT date, close FROM prices WHERE ticker = 'BBB.SI' AND date >= DATE '2024-03-06' ORDER BY date",
        store=store,
    )
    assert result.files_read == _keys("prices", ["2024-03"])
    p = frames["prices"]
    want = p[(p.ticker == "BBB.SI") & (p.date >= _day("2024-03-06"))]
    assert result.table.to_pylist() == want[["date", "close"]].to_dict("records")


@pytest.mark.s3
def test_an_empty_s3_lake_answers_empty_tables(moto_server, s3_bucket):
    store = S3Store(f"s3://{s3_bucket}/tl", max_attempts=3)
    store.initialize()
    result = run_local("SELECT ticker, date, rsi_14 FROM indicators WHERE month = '2024-01'", store=store)
    assert result.table.num_rows == 0 and result.table.column_names == ["ticker", "date", "rsi_14"]
    assert result.files_total == 0


@pytest.mark.s3
def test_the_latest_version_of_a_month_on_s3(moto_server, s3_bucket):
    store = S3Store(f"s3://{s3_bucket}/tl", max_attempts=3)
    store.initialize()
    frame = _rows("prices", "AAA", np.random.default_rng(1))
    write_month(store, "prices", "2024-02", frame)
    write_month(store, "prices", "2024-02", frame.assign(close=2.0))
    got = run_local("SELECT DISTINCT close FROM prices WHERE month = '2024-02'", store=store)
    assert got.table.to_pylist() == [{"close": 2.0}]


def test_the_engine_reads_files_only_under_the_lakes_processed_folder(lake_dir, tmp_path):
    secret = tmp_path / "secret.csv"
    secret.write_text("a\n1\n")
    processed = f"{lake_dir}/processed/"
    con = _database(processed).cursor()
    try:
        key = layout.month_key("prices", "2024-01")
        assert con.execute(f"SELECT count(*) FROM read_parquet('{lake_dir}/{key}')").fetchone()[0] > 0
        for path in (str(secret), f"{processed}../.tickerlake/store.json", "/etc/passwd"):
            with pytest.raises(duckdb.PermissionException):
                con.sql(f"SELECT * FROM read_text('{path}')").fetchall()
        with pytest.raises(duckdb.Error, match="configuration"):
            con.execute("SET enable_external_access = true")
    finally:
        con.close()
    none = _database(None).cursor()
    try:
        with pytest.raises(duckdb.PermissionException):
            none.sql(f"SELECT count(*) FROM read_parquet('{lake_dir}/{key}')").fetchall()
    finally:
        none.close()


# --- the command line ---------------------------------------------------------------------------------------


def _cli(*args):
    return CliRunner().invoke(app, ["sql", *args])


def test_cli_json_output_is_an_array_of_objects(lake_dir):
    result = _cli(
        "SELECT ticker, date, month, volume FROM prices WHERE ticker = 'AAA' AND date = DATE '2024-01-02'",
        "--lake",
        str(lake_dir),
        "--format",
        "json",
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert rows == [{"ticker": "AAA", "date": "2024-01-02", "month": "2024-01", "volume": rows[0]["volume"]}]
    assert "files read: 1 of 3" in result.stderr


def test_cli_sql_over_a_lake_that_does_not_exist_is_an_error_naming_it(tmp_path):
    a_file = tmp_path / "lake.txt"
    a_file.write_text("x")
    for path, fragment in ((tmp_path / "no-such-lake", "does not exist"), (a_file, "is a file")):
        result = _cli("SELECT count(*) AS n FROM prices", "--lake", str(path))
        assert result.exit_code == 2 and result.stdout == ""
        assert str(path) in result.stderr and fragment in result.stderr
    assert not (tmp_path / "no-such-lake").exists()


def test_cli_table_output_holds_only_the_rows_the_count_goes_to_stderr(lake_dir):
    result = _cli(
        "SELECT ticker FROM prices WHERE date = DATE '2024-01-02' ORDER BY ticker", "--lake", str(lake_dir)
    )
    assert result.exit_code == 0, result.output
    assert "row(s)" not in result.stdout and "row(s)" in result.stderr


def test_cli_json_output_of_no_rows_is_an_empty_array(lake_dir):
    result = _cli("SELECT * FROM prices WHERE ticker = 'NOPE'", "--lake", str(lake_dir), "--format", "json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == []


def test_cli_csv_show_files(lake_dir):
    result = _cli(
        "SELECT ticker, date FROM prices WHERE ticker = 'AAA' AND date <= DATE '2024-01-03' ORDER BY date",
        "--lake",
        str(lake_dir),
        "--format",
        "csv",
        "--show-files",
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == "ticker,date\nAAA,2024-01-02\nAAA,2024-01-03\n"
    assert "read processed/prices/month=2024-01/data.parquet" in result.stderr
    assert "files read: 1 of 3" in result.stderr


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
