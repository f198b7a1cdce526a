"""Query: the analysts' four query shapes through the local SQL engine, each against DuckDB reading the
same month files directly.

The lake is the history lake of the universe (`_lakes.history_lake`, N tickers × 10 years through the
stages: one object per dataset and month). The queries, on `indicators`, as an analyst writes them (no
`month` condition; see `bench.athena` for what one changes on Athena):

- point:          one ticker, one date (`SELECT *`);
- series_10y:     one ticker, every date of the 10 years, 4 columns, ordered by date;
- cross_section:  one date, every ticker, ordered by RSI (the issue's example);
- full_scan:      average RSI per ticker and year over the whole table.

`glue.local_sql.run_local` (what `tickerlake sql` runs) is called in-process with the lake's URI, every
call opening the store and listing the month objects as the CLI does; DuckDB's own figure is a
persistent connection with `indicators` a view over `read_parquet('<lake>/processed/indicators/month=*/
data.parquet', hive_partitioning = true)` and the same SQL. The two alternate, one warm-up call each,
then `reps` calls; figures are medians (ms).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench import _lakes
from bench._common import END_DATE, child_main, log, p50, run_child, timed

MODULE = "bench.query"
DATASET = "indicators"
SHAPES = ("point", "series_10y", "cross_section", "full_scan")


def queries(ticker: str, first: str, day: str) -> dict[str, str]:
    """The four queries (Athena SQL, also valid DuckDB SQL)."""
    return {
        "point": f"SELECT * FROM {DATASET} WHERE ticker = '{ticker}' AND date = DATE '{day}'",
        "series_10y": f"SELECT date, close, rsi_14, macd FROM {DATASET} WHERE ticker = '{ticker}' "
        f"AND date BETWEEN DATE '{first}' AND DATE '{day}' ORDER BY date",
        "cross_section": f"SELECT ticker, rsi_14 FROM {DATASET} WHERE date = DATE '{day}' ORDER BY rsi_14 DESC, ticker",
        "full_scan": f"SELECT ticker, year(date) AS year, avg(rsi_14) AS avg_rsi FROM {DATASET} "
        "GROUP BY ticker, year(date) ORDER BY ticker, year",
    }


def shape_args(count: int, years: float) -> dict[str, Any]:
    """The ticker and dates the queries use: the universe's first ticker, the history's range."""
    from bench import universe

    return {
        "ticker": universe.symbols(count)[0],
        "first": _lakes.years_before(END_DATE, years),
        "day": END_DATE,
    }


def duckdb_view(lake: Path) -> Any:
    """A DuckDB connection where `indicators` reads the month files directly."""
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    pattern = str(lake / "processed" / DATASET / "month=*" / "data.parquet").replace("'", "''")
    con.execute(f"CREATE VIEW {DATASET} AS SELECT * FROM read_parquet('{pattern}', hive_partitioning = true)")
    return con


def task_queries(args: dict[str, Any]) -> dict[str, Any]:
    from glue.local_sql import run_local

    lake = _lakes.history_lake(args["tickers"], args["years"])
    uri = str(lake)
    sqls = queries(**shape_args(args["tickers"], args["years"]))
    con = duckdb_view(lake)
    found: dict[str, Any] = {"tickers": args["tickers"], "years": args["years"], "queries": sqls}
    for name, sql in sqls.items():
        local = run_local(sql, lake_uri=uri)  # warm-up, and the answer to compare
        direct = con.execute(sql).to_arrow_table()
        if local.table.num_rows != direct.num_rows:
            raise RuntimeError(
                f"{name}: local SQL gave {local.table.num_rows} rows, DuckDB {direct.num_rows}"
            )
        ours, theirs = [], []
        for _ in range(args["reps"]):
            ours.append(timed(lambda sql=sql: run_local(sql, lake_uri=uri))[0])
            theirs.append(timed(lambda sql=sql: con.execute(sql).to_arrow_table())[0])
        found[name] = {
            "ms_p50": round(p50(ours) * 1000, 2),
            "duckdb_ms_p50": round(p50(theirs) * 1000, 2),
            "over_duckdb": round(p50(ours) / p50(theirs), 2),
            "rows": local.table.num_rows,
            "files_read": len(local.files_read),
            "files_total": local.files_total,
            "ms_samples": [round(s * 1000, 1) for s in ours],
            "duckdb_ms_samples": [round(s * 1000, 1) for s in theirs],
        }
    return found


def measure(config: dict[str, Any]) -> dict[str, Any]:
    """config: tickers, years, reps."""
    _lakes.ensure("history", config["tickers"], config["years"])
    log(f"query: {config['tickers']} tickers × {config['years']} years, {config['reps']} reps")
    found = run_child(MODULE, "queries", config)
    figures: dict[str, Any] = {}
    for name in SHAPES:
        figures[f"{name}_ms_p50"] = found[name]["ms_p50"]
        figures[f"{name}_over_duckdb"] = found[name]["over_duckdb"]
        figures[f"{name}_duckdb_ms_p50"] = found[name]["duckdb_ms_p50"]
        log(
            f"query {name}: {found[name]['ms_p50']} ms (DuckDB direct {found[name]['duckdb_ms_p50']} ms, "
            f"{found[name]['over_duckdb']}×), {found[name]['files_read']} of {found[name]['files_total']} files"
        )
    figures["scale"] = {"tickers": config["tickers"], "years": config["years"], "reps": config["reps"]}
    figures["details"] = found
    return figures


if __name__ == "__main__":
    child_main({"queries": task_queries})
