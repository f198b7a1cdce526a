"""Athena SQL on a laptop: DuckDB over the lake's month objects, with Athena's table names and answers.

The query is checked and translated by `glue.translate`. Every reference to a lake table (`prices`,
`indicators`, `percentiles`, `features`) becomes its own DuckDB view over only the month objects
(`processed/<dataset>/month=YYYY-MM/data.parquet`) its `WHERE` clause can match — the local counterpart of
Athena's `month` partition projection — and over only the columns the query names:

- months are pruned by conditions on `month` (`month = '2025-03'`, `IN`, ranges) and on `date`
  (`date = DATE '2025-03-28'`, `BETWEEN`, `>=`, `IN`, ...), before anything is opened;
- inside a month object (sorted by ticker, then date, in row groups with statistics) DuckDB skips the row
  groups a `ticker` or `date` condition rules out; a lake on S3 is read through pyarrow datasets on the
  store's filesystem with those conditions pushed into the scan.

On a local lake DuckDB reads the files itself, with file access limited to the lake's `processed/` folder;
on S3 it reads only Arrow data handed to it (no file or network access at all).

The views show the table as Athena does: the month objects' columns in storage order (`ticker`, `date` as a
DATE, the values, the lineage columns; timestamps in UTC, rounded to milliseconds as Athena reads them), then
the partition key `month`, a VARCHAR 'YYYY-MM' taken from the object's folder.

Every query is bounded (`Limits`): a time limit (DuckDB's interrupt() from a timer), a memory limit (DuckDB's
`memory_limit`, no spilling to disk) and, for the command line, a number of result rows; the result is
streamed in Arrow batches (`open_local`), never built as Python objects for all rows. A query a limit stops
raises `QueryStopped` naming the limit; an error Athena raises too is `QueryFailed` (Athena's message);
everything else the engine cannot answer as Athena is `QueryRefused` — never a raw DuckDB error.

Examples
--------
>>> from glue.local_sql import run_local
>>> result = run_local("SELECT ticker, rsi_14 FROM indicators WHERE date = DATE '2025-03-28' "
...                    "ORDER BY rsi_14 DESC", lake_uri="./lake")  # doctest: +SKIP
>>> result.files_read, result.files_total  # doctest: +SKIP
(['processed/indicators/month=2025-03/data.parquet'], 120)
"""

import datetime as dt
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
from sqlglot import exp
from sqlglot.optimizer.scope import traverse_scope

from glue.translate import (
    ATHENA_ERROR,
    REFUSED,
    QueryRefused,
    parse_query,
    qualify_query,
    register_trino_functions,
    to_duckdb,
)
from lake import layout

__all__ = [
    "DEFAULT_MAX_ROWS",
    "DEFAULT_MEMORY_LIMIT",
    "DEFAULT_TIMEOUT",
    "MONTH_COLUMN",
    "Limits",
    "LocalQuery",
    "LocalResult",
    "PartitionFilter",
    "QueryFailed",
    "QueryStopped",
    "lake_schema",
    "month_files",
    "open_local",
    "partition_filter",
    "run_local",
    "trino_type",
]

#: seconds a query may run (TICKERLAKE_SQL_TIMEOUT)
DEFAULT_TIMEOUT = 300.0
#: DuckDB's memory limit for a query (TICKERLAKE_SQL_MEMORY_LIMIT)
DEFAULT_MEMORY_LIMIT = "2GB"
#: rows `tickerlake sql` prints before it stops (TICKERLAKE_SQL_MAX_ROWS); the Python API has no row limit
DEFAULT_MAX_ROWS = 100_000
_BATCH_ROWS = 8192
#: Threads that read month objects from a store without local files (S3)
_READ_THREADS = 4
_MEMORY_LIMIT = re.compile(r"^\s*(\d+(\.\d+)?)\s*(B|KB|MB|GB|TB|KIB|MIB|GIB|TIB)\s*$", re.IGNORECASE)


class QueryFailed(ValueError):
    """The query raised an error that Athena raises too for the same data (division by zero, an array index
    out of bounds, a numeric overflow, an invalid cast); the message is Athena's."""


class QueryStopped(RuntimeError):
    """A limit stopped the query: `limit` is "timeout", "memory" or "max_rows" (the option to raise it)."""

    def __init__(self, message: str, limit: str) -> None:
        super().__init__(message)
        self.limit = limit


@dataclass(frozen=True)
class Limits:
    """What one local query may use: `timeout` seconds (None: no limit), DuckDB's `memory_limit` ("2GB",
    "500MB"), and `max_rows` result rows (None: no limit; past it the query stops with QueryStopped)."""

    timeout: float | None = DEFAULT_TIMEOUT
    memory_limit: str = DEFAULT_MEMORY_LIMIT
    max_rows: int | None = None

    def __post_init__(self) -> None:
        if self.timeout is not None and not self.timeout > 0:
            raise ValueError(f"the timeout must be a positive number of seconds, got {self.timeout!r}")
        if self.max_rows is not None and self.max_rows < 0:
            raise ValueError(f"the maximum number of rows must be 0 or more, got {self.max_rows!r}")
        if not _MEMORY_LIMIT.match(str(self.memory_limit)):
            raise ValueError(
                f"the memory limit must be a size such as 2GB or 500MB, got {self.memory_limit!r}"
            )

    @classmethod
    def from_env(cls, **overrides) -> "Limits":
        """Defaults from TICKERLAKE_SQL_TIMEOUT, TICKERLAKE_SQL_MEMORY_LIMIT and TICKERLAKE_SQL_MAX_ROWS, then
        the `overrides` that are not None."""
        from glue.settings import GlueSettings

        settings = GlueSettings.from_env()  # a bad value is one line naming the variable
        values: dict[str, object] = {
            "timeout": DEFAULT_TIMEOUT if settings.sql_timeout is None else settings.sql_timeout,
            "memory_limit": settings.sql_memory_limit or DEFAULT_MEMORY_LIMIT,
            "max_rows": DEFAULT_MAX_ROWS if settings.sql_max_rows is None else settings.sql_max_rows,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        if values.get("timeout") == 0:
            values["timeout"] = None
        if values.get("max_rows") == 0:
            values["max_rows"] = None
        return cls(**values)  # type: ignore[arg-type]


#: The partition key of every table: the month object's folder, not a column inside the object.
MONTH_COLUMN = "month"
PARTITION_KEYS = (MONTH_COLUMN,)
# The month of a file from its path (the last folder), never from the lake root's own folder names.
_MONTH_OF_FILENAME = r"month=([0-9]{4}-[0-9]{2})/[^/]*$"
_GLOB_CHARACTERS = ("*", "?", "[", "{")


@dataclass(frozen=True)
class PartitionFilter:
    """What a table reference's WHERE clause says about `ticker`, `date` and `month`; None means anything.

    `low`/`high` are (date 'YYYY-MM-DD', inclusive) bounds, `month_low`/`month_high` (text, inclusive)
    bounds compared as strings, like Athena compares the `month` partition key.
    """

    tickers: frozenset[str] | None = None
    dates: frozenset[str] | None = None
    low: tuple[str, bool] | None = None
    high: tuple[str, bool] | None = None
    months: frozenset[str] | None = None
    month_low: tuple[str, bool] | None = None
    month_high: tuple[str, bool] | None = None

    def first_date(self) -> str | None:
        """The earliest date a row can have, or None."""
        if self.low is None:
            return None
        day = dt.date.fromisoformat(self.low[0])
        return (day if self.low[1] else day + dt.timedelta(days=1)).isoformat()

    def last_date(self) -> str | None:
        """The latest date a row can have, or None."""
        if self.high is None:
            return None
        day = dt.date.fromisoformat(self.high[0])
        return (day if self.high[1] else day - dt.timedelta(days=1)).isoformat()

    def matches_month(self, month: str) -> bool:
        """Whether the month object `month` ('YYYY-MM') can hold a row the reference keeps."""
        if self.months is not None and month not in self.months:
            return False
        if self.month_low is not None:
            value, inclusive = self.month_low
            if month < value or (month == value and not inclusive):
                return False
        if self.month_high is not None:
            value, inclusive = self.month_high
            if month > value or (month == value and not inclusive):
                return False
        if self.dates is not None and month not in {d[:7] for d in self.dates}:
            return False
        first, last = self.first_date(), self.last_date()
        if first is not None and month < first[:7]:
            return False
        return last is None or month <= last[:7]

    def row_filter(self) -> pc.Expression | None:
        """A pyarrow filter keeping (at least) the rows the reference can keep, or None: the ticker set
        and the date bounds, pushed into a dataset scan (row groups are skipped by their statistics)."""
        parts = []
        if self.tickers is not None:
            parts.append(pc.field("ticker").isin(sorted(self.tickers)))
        if self.dates is not None:
            dates = sorted(dt.date.fromisoformat(d) for d in self.dates)
            parts.append(pc.field("date").isin(pa.array(dates, pa.date32())))
        first, last = self.first_date(), self.last_date()
        if first is not None:
            parts.append(pc.field("date") >= pa.scalar(dt.date.fromisoformat(first), pa.date32()))
        if last is not None:
            parts.append(pc.field("date") <= pa.scalar(dt.date.fromisoformat(last), pa.date32()))
        if not parts:
            return None
        combined = parts[0]
        for part in parts[1:]:
            combined = combined & part
        return combined


# --- types ---------------------------------------------------------------------------------------------


def trino_type(arrow_type: pa.DataType) -> str:
    """The Athena (Trino) type of an Arrow column type."""
    checks = (
        (pa.types.is_float64, "DOUBLE"),
        (pa.types.is_float32, "REAL"),
        (pa.types.is_int64, "BIGINT"),
        (pa.types.is_int32, "INTEGER"),
        (pa.types.is_int16, "SMALLINT"),
        (pa.types.is_int8, "TINYINT"),
        (pa.types.is_boolean, "BOOLEAN"),
        (pa.types.is_string, "VARCHAR"),
        (pa.types.is_large_string, "VARCHAR"),
        (pa.types.is_date32, "DATE"),
        (pa.types.is_timestamp, "TIMESTAMP"),
    )
    for check, name in checks:
        if check(arrow_type):
            return name
    if pa.types.is_decimal(arrow_type):
        return f"DECIMAL({arrow_type.precision}, {arrow_type.scale})"
    raise ValueError(f"Arrow type {arrow_type} has no Athena counterpart in the lake's tables")


def _arrow_schemas() -> dict[str, pa.Schema]:
    import schemas

    return {dataset: schemas.arrow_schema(dataset) for dataset in layout.DATASETS}


def lake_schema(arrow_schemas: dict[str, pa.Schema] | None = None) -> dict[str, dict[str, str]]:
    """Table -> column -> Athena type, in Athena's order: the objects' columns, then `month` (varchar)."""
    arrow_schemas = arrow_schemas if arrow_schemas is not None else _arrow_schemas()
    tables: dict[str, dict[str, str]] = {}
    for dataset, schema in arrow_schemas.items():
        if MONTH_COLUMN in schema.names:
            raise ValueError(f"the {dataset} schema has a column {MONTH_COLUMN!r}: that is the partition key")
        columns = {f.name: trino_type(f.type) for f in schema}
        columns[MONTH_COLUMN] = "VARCHAR"
        tables[dataset] = columns
    return tables


# --- month pruning ---------------------------------------------------------------------------------------


def _conjuncts(condition: exp.Expression | None) -> Iterable[exp.Expression]:
    if condition is None:
        return []
    if isinstance(condition, exp.Paren):
        return _conjuncts(condition.this)
    if isinstance(condition, exp.And):
        return [*_conjuncts(condition.this), *_conjuncts(condition.expression)]
    return [condition]


def _text(node: exp.Expression) -> str | None:
    """The text of a plain string literal; None otherwise."""
    if isinstance(node, exp.Literal) and node.is_string:
        return node.this
    return None


# Casts of a string literal whose value, for an ISO date text, is that day (at midnight).
_DATE_TYPES = {exp.DataType.Type.DATE, exp.DataType.Type.DATETIME, exp.DataType.Type.TIMESTAMP}


def _date_value(node: exp.Expression) -> str | None:
    """The date 'YYYY-MM-DD' of a constant compared with `date`: a string literal in ISO form (DuckDB casts
    it), `DATE '...'`, `CAST('...' AS DATE)` or a midnight `TIMESTAMP 'YYYY-MM-DD'`; None otherwise (no
    pruning, which is always correct)."""
    text = _text(node)
    if text is None and isinstance(node, exp.Cast | exp.TsOrDsToDate) and _text(node.this) is not None:
        target = node.to.this if isinstance(node, exp.Cast) else exp.DataType.Type.DATE
        if target in _DATE_TYPES:
            text = node.this.this
    if text is None:
        return None
    try:
        return layout.validate_date(text)
    except ValueError:  # InvalidDate: not an ISO date, no pruning
        return None


def partition_filter(where: exp.Expression | None, alias: str, only_source: bool) -> PartitionFilter:
    """What a table reference (`alias`) can match under the WHERE clause of its own SELECT.

    Only top-level AND-ed conditions comparing a column of the reference with constants are used:
    `ticker = 'X'`, `ticker IN (...)`; `date = | < | <= | > | >= <date>`, `date BETWEEN ... AND ...`,
    `date IN (...)` with `<date>` a `DATE '...'` (or an ISO string); `month = | < | <= | > | >= '...'`,
    `month BETWEEN`, `month IN (...)` (compared as text, like Athena compares the partition key). They
    reject NULLs, so pruning by them never changes a result, whatever the joins; anything else (`OR`,
    functions of a column, non-ISO dates) reads more months.
    """
    state: dict[str, object] = {
        "tickers": None,
        "dates": None,
        "low": None,
        "high": None,
        "months": None,
        "month_low": None,
        "month_high": None,
    }

    def key_of(node: exp.Expression) -> str | None:
        if isinstance(node, exp.Column) and node.name in ("ticker", "date", MONTH_COLUMN):
            if node.table == alias or (not node.table and only_source):
                return node.name
        return None

    def narrow(name: str, values: set[str]) -> None:
        current = state[name]
        state[name] = values if current is None else current & values  # type: ignore[operator]

    def tighten(name: str, value: str, inclusive: bool, lower: bool) -> None:
        current = state[name]
        if current is None:
            state[name] = (value, inclusive)
            return
        old, old_inclusive = current  # type: ignore[misc]
        better = value > old if lower else value < old
        if better or (value == old and not inclusive and old_inclusive):
            state[name] = (value, inclusive)

    def value_of(key: str, node: exp.Expression) -> str | None:
        return _date_value(node) if key == "date" else _text(node)

    def bound(key: str, value: str, inclusive: bool, lower: bool) -> None:
        if key == "date":
            tighten("low" if lower else "high", value, inclusive, lower)
        elif key == MONTH_COLUMN:
            tighten("month_low" if lower else "month_high", value, inclusive, lower)
        # ticker ranges are not used

    flipped = {exp.GT: exp.LT, exp.GTE: exp.LTE, exp.LT: exp.GT, exp.LTE: exp.GTE, exp.EQ: exp.EQ}
    sets = {"ticker": "tickers", "date": "dates", MONTH_COLUMN: "months"}
    for condition in _conjuncts(where):
        if isinstance(condition, exp.EQ | exp.GT | exp.GTE | exp.LT | exp.LTE):
            op, left, right = type(condition), condition.this, condition.expression
            if key_of(left) is None:
                op, left, right = flipped[op], right, left
            key = key_of(left)
            value = value_of(key, right) if key is not None else None
            if key is None or value is None:
                continue
            if op is exp.EQ:
                narrow(sets[key], {value})
            elif op in (exp.GT, exp.GTE):
                bound(key, value, op is exp.GTE, lower=True)
            else:
                bound(key, value, op is exp.LTE, lower=False)
        elif isinstance(condition, exp.In) and not condition.args.get("query"):
            key = key_of(condition.this)
            if key is None:
                continue
            values = [value_of(key, v) for v in condition.expressions]
            if values and all(v is not None for v in values):
                narrow(sets[key], {v for v in values if v is not None})
        elif isinstance(condition, exp.Between):
            key = key_of(condition.this)
            if key is None:
                continue
            low = value_of(key, condition.args["low"])
            high = value_of(key, condition.args["high"])
            if low is not None and high is not None:
                bound(key, low, True, lower=True)
                bound(key, high, True, lower=False)
    return PartitionFilter(
        **{
            name: frozenset(value) if isinstance(value, set) else value  # type: ignore[arg-type]
            for name, value in state.items()
        }
    )


@dataclass
class _TableRef:
    node: exp.Table
    dataset: str
    alias: str
    filter: PartitionFilter
    view: str = ""


def _table_refs(tree: exp.Query, datasets: Iterable[str]) -> list[_TableRef]:
    datasets = set(datasets)
    refs: list[_TableRef] = []
    for scope in traverse_scope(tree):
        tables = [(alias, s) for alias, s in scope.sources.items() if isinstance(s, exp.Table)]
        select = scope.expression
        where = select.args.get("where") if isinstance(select, exp.Select) else None
        only_source = len(scope.sources) == 1
        for alias, table in tables:
            if table.name not in datasets:
                continue
            condition = where.this if where is not None else None
            refs.append(_TableRef(table, table.name, alias, partition_filter(condition, alias, only_source)))
    return refs


def month_files(store, dataset: str) -> list[tuple[str, str]]:
    """(key, month) of every month object of a dataset, in month order: the objects Athena's projection
    would find (`processed/<dataset>/month=YYYY-MM/data.parquet`); anything else under the folder is
    ignored."""
    found = []
    for key in store.list_keys(layout.dataset_root(dataset)):  # LocalStore: a folder walk, no version lookup
        try:
            key_dataset, month = layout.parse_month_key(key)
        except ValueError:
            continue
        if key_dataset == dataset:
            found.append((key, month))
    return sorted(found, key=lambda item: item[1])


# --- the engine ------------------------------------------------------------------------------------------


def _columns_used(tree: exp.Expression, aliases: Iterable[str], names: Iterable[str]) -> set[str] | None:
    """Which of `names` (a table's columns) the query can look at through the table references `aliases`:
    every column qualified by one of them (qualify_query qualifies every column of a table), plus any
    unqualified column of such a name (a superset: correct, at worst reading a column more); None, all
    of them, while a `*` is left that is not `count(*)` (qualify expands `SELECT *`, this is the safety
    net)."""
    for star in tree.find_all(exp.Star):
        if not isinstance(star.parent, exp.Count):
            return None
    aliases = set(aliases)
    spelled = {
        column.name.lower()
        for column in tree.find_all(exp.Column)
        if column.table in aliases or not column.table
    }
    return {name for name in names if name.lower() in spelled}


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _view_select(source: str, schema: pa.Schema, columns: Sequence[str], month_sql: str) -> str:
    """SELECT over a source giving Athena's column names and types for `columns` (in that order)."""
    by_name = {f.name: f for f in schema}
    parts = []
    for name in columns:
        quoted = _quote(name)
        arrow_field = by_name.get(name)
        if name == MONTH_COLUMN:
            parts.append(f"{month_sql} AS {quoted}")
        elif arrow_field is not None and pa.types.is_timestamp(arrow_field.type):
            # Athena reads a Parquet timestamp as timestamp(3), UTC without a zone: rounded to milliseconds
            micros = f"epoch_us({quoted})"
            parts.append(
                f"make_timestamp(CAST(floor(({micros} + 500) / 1000.0) AS BIGINT) * 1000) AS {quoted}"
            )
        else:
            parts.append(quoted)
    return f"SELECT {', '.join(parts)} FROM {source}"


_DATABASES: "OrderedDict[tuple[str | None, str], duckdb.DuckDBPyConnection]" = OrderedDict()
_DATABASES_KEPT = 8
_DATABASES_LOCK = threading.Lock()


def _database(
    readable: str | None = None, memory_limit: str = DEFAULT_MEMORY_LIMIT
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB database for local queries, opened once per `readable` folder and memory limit
    (opening one costs ~30 ms, more than a point query) and locked down at once: UTC session time zone,
    NULLs last, Trino's functions (`glue.translate.TRINO_FUNCTIONS`) registered, `memory_limit` with no
    spilling to disk, no network, no file access except reading under `readable` (a local lake's
    `processed/`; None: no file at all, the query reads only Arrow data registered on its own cursor),
    configuration frozen."""
    key = (readable, memory_limit)
    with _DATABASES_LOCK:
        database = _DATABASES.get(key)
        if database is None:
            database = duckdb.connect(config={"threads": 4})
            database.execute("SET GLOBAL TimeZone = 'UTC'")
            database.execute("SET default_null_order = 'nulls_last'")
            database.execute("SET memory_limit = ?", [memory_limit])
            database.execute("SET temp_directory = ''")
            register_trino_functions(database)
            if readable is not None:
                database.execute("SET allowed_directories = ?", [[readable]])
            database.execute("SET enable_external_access = false")
            database.execute("SET lock_configuration = true")
            _DATABASES[key] = database
            while len(_DATABASES) > _DATABASES_KEPT:  # cursors in use keep their database alive
                _DATABASES.popitem(last=False)
        else:
            _DATABASES.move_to_end(key)
        return database


def _schema_with_month(schema: pa.Schema) -> pa.Schema:
    return schema.append(pa.field(MONTH_COLUMN, pa.string()))


def _read_months(
    store,
    keys: Sequence[str],
    months: Mapping[str, str],
    schema: pa.Schema,
    columns: Sequence[str],
    row_filter: pc.Expression | None,
) -> pa.Table:
    """The month objects' rows as one table of `columns` (those of `schema`) plus `month` from each key:
    a column an older object lacks comes back null; row groups and rows outside `row_filter` are skipped."""
    names = [name for name in schema.names if name in columns]
    wanted = _schema_with_month(pa.schema([schema.field(name) for name in names]))

    def read(key: str) -> pa.Table:
        table = store.read_parquet(key, columns=names, filter=row_filter)
        arrays = [
            table.column(name).cast(schema.field(name).type)
            if name in table.column_names
            else pa.nulls(table.num_rows, schema.field(name).type)
            for name in names
        ]
        arrays.append(pa.array([months[key]] * table.num_rows, pa.string()))
        return pa.Table.from_arrays(arrays, schema=wanted)

    with ThreadPoolExecutor(max_workers=max(1, min(_READ_THREADS, len(keys)))) as pool:
        return pa.concat_tables(list(pool.map(read, keys)))


# --- errors ----------------------------------------------------------------------------------------------------

_DUCKDB_PREFIX = re.compile(r"^[A-Za-z ]*(Error|Exception): ")
_OVERFLOW = re.compile(
    r"Overflow in (addition|subtraction|multiplication|negation|division)(?: of| on)? (\w+)"
)
_INT_NAMES = {
    "INT8": "tinyint",
    "INT16": "smallint",
    "INT32": "integer",
    "INT64": "bigint",
    "INT128": "bigint",
}


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _translate_error(exc: duckdb.Error, limits: Limits, timed_out: bool) -> Exception:
    """A DuckDB error as the analyst's error: Athena's own error, a refusal, or the limit that stopped it."""
    text = _first_line(exc)
    if isinstance(exc, duckdb.InterruptException) or timed_out:
        return QueryStopped(
            f"stopped after {limits.timeout:g} s (the time limit, --timeout): the query did not finish; narrow it "
            "(fewer months, tickers or joined rows) or raise --timeout",
            "timeout",
        )
    if isinstance(exc, duckdb.OutOfMemoryException) or "Out of Memory" in text:
        return QueryStopped(
            f"stopped at the memory limit of {limits.memory_limit} (--memory-limit): the query needs more memory; "
            "narrow it (fewer months, tickers or joined rows) or raise --memory-limit",
            "memory",
        )
    for marker, kind in ((ATHENA_ERROR, QueryFailed), (REFUSED, QueryRefused)):
        if marker in text:
            message = text[text.index(marker) + len(marker) :]
            if kind is QueryFailed:
                return QueryFailed(f"the query failed (as on Athena): {message}")
            return QueryRefused(f"refused: {message}")
    message = _DUCKDB_PREFIX.sub("", text)
    if isinstance(exc, duckdb.IOException) or "parquet" in message.lower():
        return QueryFailed(f"cannot read the lake's month objects: {message}")
    if "Division by zero" in message:
        return QueryFailed("the query failed (as on Athena): Division by zero")
    overflow = _OVERFLOW.search(message)
    if overflow:
        operation, kind = overflow.group(1), _INT_NAMES.get(overflow.group(2), overflow.group(2).lower())
        return QueryFailed(f"the query failed (as on Athena): {kind} {operation} overflow ({message})")
    if isinstance(exc, duckdb.ConversionException):
        if "INT128" in message and "INT64" in message:  # CAST(sum(<integer>) AS BIGINT)
            return QueryFailed(
                "the query failed (as on Athena): bigint addition overflow (a sum past 2^63 - 1)"
            )
        return QueryFailed(f"the query failed (as on Athena): cannot convert a value: {message}")
    if isinstance(exc, duckdb.OutOfRangeException | duckdb.InvalidInputException):
        return QueryFailed(f"the query failed: {message}")
    return QueryRefused(
        f"refused: the local engine cannot run this query ({message}); if it is valid Athena SQL, run it with "
        "--athena"
    )


# --- the engine ------------------------------------------------------------------------------------------------


@dataclass
class LocalQuery:
    """A running local query (`open_local`): its Arrow `schema` and `batches()`, the month objects read.

    Use it as a context manager; `batches()` streams the result, stopping with QueryStopped at the time limit
    and past `max_rows` rows (the rows before are yielded first), QueryFailed / QueryRefused on errors.
    """

    schema: pa.Schema
    files_read: list[str]
    files_total: int
    columns_read: dict[str, list[str]]
    notes: list[str]
    sql: str
    limits: Limits
    _reader: object = None
    _cursor: object = None
    _timer: object = None
    _timed_out: threading.Event = field(default_factory=threading.Event)
    rows: int = 0

    def batches(self) -> Iterator[pa.RecordBatch]:
        reader = self._reader
        limit = self.limits.max_rows
        try:
            while True:
                if self._timed_out.is_set():
                    raise _translate_error(duckdb.InterruptException("interrupted"), self.limits, True)
                try:
                    batch = reader.read_next_batch()  # type: ignore[attr-defined]
                except StopIteration:
                    return
                except duckdb.Error as exc:
                    raise _translate_error(exc, self.limits, self._timed_out.is_set()) from None
                except pa.ArrowException as exc:  # a DuckDB error raised through the Arrow stream
                    raise _translate_error(
                        _as_duckdb_error(exc), self.limits, self._timed_out.is_set()
                    ) from None
                if limit is not None and self.rows + batch.num_rows > limit:
                    keep = limit - self.rows
                    if keep:
                        self.rows += keep
                        yield batch.slice(0, keep)
                    raise QueryStopped(
                        f"stopped after {limit:,} rows (the row limit, --max-rows): the result has more rows; "
                        "narrow the query, aggregate it, or raise --max-rows (0: no limit)",
                        "max_rows",
                    )
                self.rows += batch.num_rows
                yield batch
        finally:
            self.close()

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()  # type: ignore[attr-defined]
            self._timer = None
        if self._cursor is not None:
            try:
                self._cursor.close()  # type: ignore[attr-defined]
            except duckdb.Error:
                pass
            self._cursor = None

    def __enter__(self) -> "LocalQuery":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def _as_duckdb_error(exc: Exception) -> duckdb.Error:
    text = _first_line(exc)
    kinds = {
        "INTERRUPT": duckdb.InterruptException,
        "Out of Memory": duckdb.OutOfMemoryException,
        "Conversion Error": duckdb.ConversionException,
        "Out of Range": duckdb.OutOfRangeException,
        "Invalid Input": duckdb.InvalidInputException,
    }
    for needle, kind in kinds.items():
        if needle in text:
            return kind(text)
    return duckdb.Error(text)


@dataclass
class LocalResult:
    """The answer of `run_local`: the rows, the month objects read, and how many the tables hold.

    `files_read` are the keys of the month objects handed to DuckDB (after pruning by `month`/`date`),
    `files_total` the month objects of the tables the query names, `columns_read` the columns read per
    table (every column when the query keeps a `*`), `notes` what would differ on Athena.
    """

    table: pa.Table
    files_read: list[str]
    files_total: int
    columns_read: dict[str, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    sql: str = ""


def run_local(
    sql: str,
    *,
    lake_uri: str | None = None,
    store=None,
    params: Sequence[str] = (),
    database: str = "tickerlake",
    arrow_schemas: dict[str, pa.Schema] | None = None,
    limits: Limits | None = None,
) -> LocalResult:
    """Run one Athena query on DuckDB over the latest version of the lake's month objects.

    Parameters
    ----------
    sql
        Athena (Trino) SQL: exactly one SELECT over `prices`, `indicators`, `percentiles`, `features`.
    lake_uri, store
        The lake (a `lake.store` ObjectStore, or its URI; default TICKERLAKE_LAKE_URI).
    params
        Values of the `?` placeholders as SQL literals (Athena's execution parameters).
    database
        The Glue database name a table may be qualified with (`tickerlake.prices`).
    limits
        Time, memory and row limits (default `Limits()`: DEFAULT_TIMEOUT, DEFAULT_MEMORY_LIMIT, no row limit).

    Raises
    ------
    QueryRefused
        The query is not one SELECT or uses a construct the local engine would answer differently.
    QueryFailed
        The query raised an error Athena raises too.
    QueryStopped
        A limit stopped it.
    """
    with open_local(
        sql,
        lake_uri=lake_uri,
        store=store,
        params=params,
        database=database,
        arrow_schemas=arrow_schemas,
        limits=limits,
    ) as query:
        table = pa.Table.from_batches(list(query.batches()), schema=query.schema)
    return LocalResult(
        table=table,
        files_read=query.files_read,
        files_total=query.files_total,
        columns_read=query.columns_read,
        notes=query.notes,
        sql=query.sql,
    )


def open_local(
    sql: str,
    *,
    lake_uri: str | None = None,
    store=None,
    params: Sequence[str] = (),
    database: str = "tickerlake",
    arrow_schemas: dict[str, pa.Schema] | None = None,
    limits: Limits | None = None,
) -> LocalQuery:
    """Start one Athena query on DuckDB (as `run_local`) and return it running: stream its `batches()`.

    The time limit counts from here to the last batch; the query is interrupted when it is reached.
    """
    limits = limits or Limits()
    if store is None:
        from lake.store import open_store

        store = open_store(lake_uri)
    arrow_schemas = arrow_schemas if arrow_schemas is not None else _arrow_schemas()
    schema = lake_schema(arrow_schemas)

    tree = qualify_query(parse_query(sql, params), schema, database)
    refs = _table_refs(tree, arrow_schemas)

    listings = {dataset: month_files(store, dataset) for dataset in dict.fromkeys(r.dataset for r in refs)}
    used: dict[str, list[str]] = {}
    for dataset in listings:
        aliases = [ref.alias for ref in refs if ref.dataset == dataset]
        names = _columns_used(tree, aliases, schema[dataset])
        # count(*) alone needs rows, not values: `month` comes from the object's folder, nothing is read
        used[dataset] = [n for n in schema[dataset] if names is None or n in names] or [MONTH_COLUMN]

    fs, base = store.arrow_filesystem()
    base = base.rstrip("/")
    direct = isinstance(fs, pafs.LocalFileSystem) and not any(c in base for c in _GLOB_CHARACTERS)
    # its registrations end with it
    con = _database(f"{base}/processed/" if direct else None, limits.memory_limit).cursor()
    timed_out = threading.Event()
    timer = None
    try:
        files_read: set[str] = set()
        for i, ref in enumerate(refs):
            wanted = [key for key, month in listings[ref.dataset] if ref.filter.matches_month(month)]
            files_read.update(wanted)
            file_schema = arrow_schemas[ref.dataset]
            source = f"__source_{i}"
            month_sql = _quote(MONTH_COLUMN)
            if not wanted:  # no month object yet (or none can match): the table's columns, no rows
                con.register(source, _schema_with_month(file_schema).empty_table())
            elif direct:
                # DuckDB's own Parquet reader: projection and row-group pruning by the statistics of the
                # month objects (sorted by ticker, date); `month` from the object's folder, as on Athena
                paths = ", ".join(_sql_string(f"{base}/{key}") for key in wanted)
                source = f"read_parquet([{paths}], filename = true, hive_partitioning = false)"
                month_sql = f"regexp_extract(filename, {_sql_string(_MONTH_OF_FILENAME)}, 1)"
            else:
                # Each month object read at one version, whole (ObjectStore.read_parquet): a ranged reader of
                # the latest key could mix one version's footer with the next's pages while a run writes it.
                months = dict(listings[ref.dataset])
                con.register(
                    source,
                    _read_months(
                        store, wanted, months, file_schema, used[ref.dataset], ref.filter.row_filter()
                    ),
                )
            ref.view = f"__{ref.dataset}_{i}"
            view_sql = _view_select(source, file_schema, used[ref.dataset], month_sql)
            try:
                con.execute(f"CREATE TEMP VIEW {ref.view} AS {view_sql}")
            except duckdb.Error as exc:  # a month object that cannot be read
                raise _translate_error(exc, limits, False) from None
            ref.node.set("this", exp.to_identifier(ref.view))
        duck_sql = to_duckdb(tree, schema, database)
        try:
            statements = duckdb.extract_statements(duck_sql)
        except duckdb.Error as exc:
            raise _translate_error(exc, limits, False) from None
        if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
            raise QueryRefused("the translated query is not a single SELECT; refusing to run it")
        if limits.timeout is not None:

            def interrupt() -> None:
                timed_out.set()
                con.interrupt()

            timer = threading.Timer(limits.timeout, interrupt)
            timer.daemon = True
            timer.start()
        try:
            relation = con.sql(duck_sql)
            reader = relation.to_arrow_reader(_BATCH_ROWS)
        except duckdb.Error as exc:
            raise _translate_error(exc, limits, timed_out.is_set()) from None
    except BaseException:
        if timer is not None:
            timer.cancel()
        con.close()
        raise
    return LocalQuery(
        schema=reader.schema,
        files_read=sorted(files_read),
        files_total=sum(len(files) for files in listings.values()),
        columns_read=used,
        notes=[],
        sql=duck_sql,
        limits=limits,
        _reader=reader,
        _cursor=con,
        _timer=timer,
        _timed_out=timed_out,
    )
