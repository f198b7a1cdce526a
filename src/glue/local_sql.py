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
DATE, the values, the lineage columns; timestamps in UTC), then the partition key `month`, a VARCHAR
'YYYY-MM' taken from the object's folder.

Examples
--------
>>> from glue.local_sql import run_local
>>> result = run_local("SELECT ticker, rsi_14 FROM indicators WHERE date = DATE '2025-03-28' "
...                    "ORDER BY rsi_14 DESC", lake_uri="./lake")  # doctest: +SKIP
>>> result.files_read, result.files_total  # doctest: +SKIP
(['processed/indicators/month=2025-03/data.parquet'], 120)
"""

import datetime as dt
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pyarrow.fs as pafs
from sqlglot import exp
from sqlglot.optimizer.scope import traverse_scope

from glue.translate import QueryRefused, parse_query, qualify_query, to_duckdb
from lake import layout

__all__ = [
    "MONTH_COLUMN",
    "LocalResult",
    "PartitionFilter",
    "lake_schema",
    "month_files",
    "partition_filter",
    "run_local",
    "trino_type",
]

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
        elif arrow_field is not None and pa.types.is_timestamp(arrow_field.type) and arrow_field.type.tz:
            parts.append(f"CAST({quoted} AS TIMESTAMP) AS {quoted}")  # UTC: the session time zone is UTC
        else:
            parts.append(quoted)
    return f"SELECT {', '.join(parts)} FROM {source}"


_DATABASES: "OrderedDict[str | None, duckdb.DuckDBPyConnection]" = OrderedDict()
_DATABASES_KEPT = 8
_DATABASES_LOCK = threading.Lock()


def _database(readable: str | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB database for local queries, opened once per `readable` folder (opening one costs
    ~30 ms, more than a point query) and locked down at once: UTC session time zone, no network, no file
    access except reading under `readable` (a local lake's `processed/`; None: no file at all, the query
    reads only Arrow data registered on its own cursor), configuration frozen."""
    with _DATABASES_LOCK:
        database = _DATABASES.get(readable)
        if database is None:
            database = duckdb.connect(config={"threads": 4})
            database.execute("SET GLOBAL TimeZone = 'UTC'")
            if readable is not None:
                database.execute("SET allowed_directories = ?", [[readable]])
            database.execute("SET enable_external_access = false")
            database.execute("SET lock_configuration = true")
            _DATABASES[readable] = database
            while len(_DATABASES) > _DATABASES_KEPT:  # cursors in use keep their database alive
                _DATABASES.popitem(last=False)
        else:
            _DATABASES.move_to_end(readable)
        return database


def _schema_with_month(schema: pa.Schema) -> pa.Schema:
    return schema.append(pa.field(MONTH_COLUMN, pa.string()))


def _date_notes(tree: exp.Expression) -> list[str]:
    """Comparisons of a DATE with a string literal: DuckDB casts the string, Athena refuses the query."""
    notes = []
    for node in tree.find_all(exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Between, exp.In):
        if isinstance(node, exp.Between):
            subject, others = node.this, [node.args.get("low"), node.args.get("high")]
        elif isinstance(node, exp.In):
            subject, others = node.this, list(node.expressions)
        else:
            subject, others = node.this, [node.expression]
            if _text(subject) is not None:
                subject, others = node.expression, [node.this]
        if subject is None or subject.type is None or subject.type.this != exp.DataType.Type.DATE:
            continue
        text = next((_text(o) for o in others if o is not None and _text(o) is not None), None)
        if text is None:
            continue
        shown = node.sql(dialect="trino")
        notes.append(
            f"on Athena, {shown} is an error (a DATE compared with a string: Cannot apply operator: "
            f"date = varchar): write a DATE literal, e.g. DATE '{text}'"
        )
    return notes


def run_local(
    sql: str,
    *,
    lake_uri: str | None = None,
    store=None,
    params: Sequence[str] = (),
    database: str = "tickerlake",
    arrow_schemas: dict[str, pa.Schema] | None = None,
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

    Raises
    ------
    QueryRefused
        The query is not one SELECT or uses a construct the local engine would answer differently.
    """
    if store is None:
        from lake.store import open_store

        store = open_store(lake_uri)
    arrow_schemas = arrow_schemas if arrow_schemas is not None else _arrow_schemas()
    schema = lake_schema(arrow_schemas)

    tree = qualify_query(parse_query(sql, params), schema, database)
    refs = _table_refs(tree, arrow_schemas)
    notes = _date_notes(tree)

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
    con = _database(f"{base}/processed/" if direct else None).cursor()  # its registrations end with it
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
                data = pads.dataset(
                    [f"{base}/{key}" for key in wanted],
                    schema=_schema_with_month(file_schema),
                    format="parquet",
                    filesystem=fs,
                    partitioning=pads.partitioning(pa.schema([(MONTH_COLUMN, pa.string())]), flavor="hive"),
                    partition_base_dir=f"{base}/{layout.dataset_root(ref.dataset)}".rstrip("/"),
                )
                row_filter = ref.filter.row_filter()
                con.register(source, data.filter(row_filter) if row_filter is not None else data)
            ref.view = f"__{ref.dataset}_{i}"
            view_sql = _view_select(source, file_schema, used[ref.dataset], month_sql)
            con.execute(f"CREATE TEMP VIEW {ref.view} AS {view_sql}")
            ref.node.set("this", exp.to_identifier(ref.view))
        duck_sql = to_duckdb(tree, schema, database)
        statements = duckdb.extract_statements(duck_sql)
        if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
            raise QueryRefused("the translated query is not a single SELECT; refusing to run it")
        try:
            table = con.sql(duck_sql).to_arrow_table()
        except duckdb.Error as exc:
            message = str(exc).splitlines()[0]
            raise QueryRefused(f"the query failed: {message}") from None
    finally:
        con.close()

    return LocalResult(
        table=table,
        files_read=sorted(files_read),
        files_total=sum(len(files) for files in listings.values()),
        columns_read=used,
        notes=sorted(set(notes)),
        sql=duck_sql,
    )
