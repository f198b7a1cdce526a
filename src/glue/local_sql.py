"""Athena SQL on a laptop: DuckDB over the lake's Parquet files, with Athena's table names and answers.

The query is checked and translated by `glue.translate`. Every reference to a lake table (`prices`,
`indicators`, `percentiles`, `features`) becomes its own DuckDB view over only the partition files its
`WHERE` clause can match — the local counterpart of Athena's partition projection — so a query for one
ticker and one month reads that ticker's files for that month and nothing else.

The views show the table as Athena does: the data columns in the Glue order, then the partition keys
`ticker` and `date`, where `date` is a `varchar` 'YYYY-MM-DD' (the Glue partition key is a string, so
`CAST(date AS DATE)` is needed for date arithmetic, on Athena and here alike); timestamps are shown in UTC.

Examples
--------
>>> from glue.local_sql import run_local
>>> result = run_local("SELECT ticker, max(close) AS high FROM prices WHERE ticker = 'NVDA' GROUP BY 1",
...                    lake_uri="./lake")  # doctest: +SKIP
>>> result.files_read, result.files_total  # doctest: +SKIP
(['processed/prices/ticker=NVDA/date=2025-01-02/data.parquet', ...], 1260)
"""

import posixpath
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import InitVar, dataclass, field

import duckdb
import pyarrow as pa
import pyarrow.dataset as pads
from sqlglot import exp
from sqlglot.optimizer.scope import traverse_scope

from glue.translate import QueryRefused, parse_query, qualify_query, to_duckdb
from lake import compaction, layout

__all__ = ["LocalResult", "PartitionFilter", "lake_schema", "partition_filter", "run_local", "trino_type"]

PARTITION_KEYS = ("ticker", "date")


@dataclass(frozen=True)
class PartitionFilter:
    """Which (ticker, date) partitions a table reference can match; None means any."""

    tickers: frozenset[str] | None = None
    dates: frozenset[str] | None = None
    low: tuple[str, bool] | None = None  # (date, inclusive)
    high: tuple[str, bool] | None = None

    def matches(self, ticker: str, date: str) -> bool:
        if self.tickers is not None and ticker not in self.tickers:
            return False
        if self.dates is not None and date not in self.dates:
            return False
        if self.low is not None and (date < self.low[0] or (date == self.low[0] and not self.low[1])):
            return False
        return not (
            self.high is not None and (date > self.high[0] or (date == self.high[0] and not self.high[1]))
        )


@dataclass
class LocalResult:
    """The answer of `run_local`: the rows, the partition files read, and how many the tables hold.

    `files_total` is counted on first access when the query was pruned (counting walks every partition
    folder of the tables, which a pruned query otherwise never touches).
    """

    table: pa.Table
    files_read: list[str]
    total: InitVar[int | Callable[[], int]]
    notes: list[str] = field(default_factory=list)
    sql: str = ""

    def __post_init__(self, total: int | Callable[[], int]) -> None:
        self._files_total = total

    @property
    def files_total(self) -> int:
        if callable(self._files_total):
            self._files_total = self._files_total()
        return self._files_total


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
    """Table -> column -> Athena type, in Athena's order: data columns, then `ticker`, `date` (varchar)."""
    arrow_schemas = arrow_schemas if arrow_schemas is not None else _arrow_schemas()
    tables: dict[str, dict[str, str]] = {}
    for dataset, schema in arrow_schemas.items():
        columns = {f.name: trino_type(f.type) for f in schema if f.name not in PARTITION_KEYS}
        columns.update({"ticker": "VARCHAR", "date": "VARCHAR"})
        tables[dataset] = columns
    return tables


# --- partition pruning -----------------------------------------------------------------------------------


def _conjuncts(condition: exp.Expression | None) -> Iterable[exp.Expression]:
    if condition is None:
        return []
    if isinstance(condition, exp.Paren):
        return _conjuncts(condition.this)
    if isinstance(condition, exp.And):
        return [*_conjuncts(condition.this), *_conjuncts(condition.expression)]
    return [condition]


def _string_value(node: exp.Expression) -> str | None:
    """The text of a constant string (or a DATE '...' literal's text); None if not a constant."""
    if isinstance(node, exp.Literal) and node.is_string:
        return node.this
    if (
        isinstance(node, exp.Cast | exp.TsOrDsToDate)
        and isinstance(node.this, exp.Literal)
        and node.this.is_string
    ):
        return node.this.this
    return None


def _iso_date(text: str | None) -> str | None:
    try:
        return layout.validate_date(text)
    except Exception:
        return None


def partition_filter(where: exp.Expression | None, alias: str, only_source: bool) -> PartitionFilter:
    """The partitions a table reference (`alias`) can match under the WHERE clause of its own SELECT.

    Only top-level AND-ed conditions of the forms `ticker = 'X'`, `ticker IN ('X', ...)`,
    `date = | < | <= | > | >= '<YYYY-MM-DD>'`, `date BETWEEN ... AND ...` and `date IN (...)` are used; they
    reject NULLs, so pruning by them never changes a result, whatever the joins. Anything else reads all
    partitions.
    """
    tickers: set[str] | None = None
    dates: set[str] | None = None
    low: tuple[str, bool] | None = None
    high: tuple[str, bool] | None = None

    def key_of(node: exp.Expression) -> str | None:
        if isinstance(node, exp.Column) and node.name in PARTITION_KEYS:
            if node.table == alias or (not node.table and only_source):
                return node.name
        return None

    def tighten_low(value: str, inclusive: bool) -> None:
        nonlocal low
        if low is None or value > low[0] or (value == low[0] and not inclusive):
            low = (value, inclusive)

    def tighten_high(value: str, inclusive: bool) -> None:
        nonlocal high
        if high is None or value < high[0] or (value == high[0] and not inclusive):
            high = (value, inclusive)

    flipped = {exp.GT: exp.LT, exp.GTE: exp.LTE, exp.LT: exp.GT, exp.LTE: exp.GTE, exp.EQ: exp.EQ}
    for condition in _conjuncts(where):
        if isinstance(condition, exp.EQ | exp.GT | exp.GTE | exp.LT | exp.LTE):
            op, left, right = type(condition), condition.this, condition.expression
            if key_of(left) is None:
                op, left, right = flipped[op], right, left
            key, value = key_of(left), _string_value(right)
            if key is None or value is None:
                continue
            if key == "ticker":
                if op is exp.EQ:
                    tickers = {value} if tickers is None else tickers & {value}
                continue
            value = _iso_date(value)
            if value is None:
                continue
            if op is exp.EQ:
                dates = {value} if dates is None else dates & {value}
            elif op in (exp.GT, exp.GTE):
                tighten_low(value, op is exp.GTE)
            else:
                tighten_high(value, op is exp.LTE)
        elif isinstance(condition, exp.In) and not condition.args.get("query"):
            key = key_of(condition.this)
            values = [_string_value(v) for v in condition.expressions]
            if key is None or any(v is None for v in values):
                continue
            if key == "date":
                values = [_iso_date(v) for v in values]
                if any(v is None for v in values):
                    continue
            found = {v for v in values if v is not None}
            if key == "ticker":
                tickers = found if tickers is None else tickers & found
            else:
                dates = found if dates is None else dates & found
        elif isinstance(condition, exp.Between) and key_of(condition.this) == "date":
            low_value = _iso_date(_string_value(condition.args["low"]))
            high_value = _iso_date(_string_value(condition.args["high"]))
            if low_value is not None and high_value is not None:
                tighten_low(low_value, True)
                tighten_high(high_value, True)
    return PartitionFilter(
        tickers=frozenset(tickers) if tickers is not None else None,
        dates=frozenset(dates) if dates is not None else None,
        low=low,
        high=high,
    )


@dataclass
class _TableRef:
    node: exp.Table
    dataset: str
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
            refs.append(_TableRef(table, table.name, partition_filter(condition, alias, only_source)))
    return refs


# --- the engine ------------------------------------------------------------------------------------------


def _folder_filter(filters: Sequence[PartitionFilter]) -> Callable[[str], bool] | None:
    """Which folders of a dataset a walk must enter for these table references; None: all of them."""
    if any(f == PartitionFilter() for f in filters):
        return None

    def descend(folder: str) -> bool:
        parts = folder.rstrip("/").split("/")  # processed, <dataset>, ticker=T[, date=D[, ...]]
        if len(parts) < 3 or len(parts) > 4:
            return True
        name, _, ticker = parts[2].partition("=")
        if name != "ticker":
            return True
        if len(parts) == 3:
            return any(f.tickers is None or ticker in f.tickers for f in filters)
        name, _, date = parts[3].partition("=")
        return name != "date" or any(f.matches(ticker, date) for f in filters)

    return descend


def _partition_files(
    store, dataset: str, filters: Sequence[PartitionFilter] | None = None
) -> tuple[list[tuple[str, str, str]], dict[str, str]]:
    """(key, ticker, date) of every object Athena would read for the dataset, in key order, and the
    fingerprint of each key's latest version (what `lake.compaction` checks its month copies against).

    Like Athena, every object inside a ticker=/date= folder is data except names starting with '_' or '.'.
    With `filters` and a store that lists by folder (LocalStore), folders no filter can match are not
    entered, so the answer may leave out objects that none of the filters would read.
    """
    files = []
    prefix = layout.dataset_root(dataset)
    current = _named_dates(store, dataset, filters)
    if current is None:
        descend = _folder_filter(filters) if filters and hasattr(store, "list_keys") else None
        current = compaction.fingerprints(store, prefix, descend)
    for key in sorted(current):
        name = posixpath.basename(key)
        if name.startswith(("_", ".")):
            continue
        try:
            ticker, date = layout.parse_partition(key)
        except ValueError:
            continue
        files.append((key, ticker, date))
    return files, current


def _named_dates(store, dataset: str, filters: Sequence[PartitionFilter] | None) -> dict[str, str] | None:
    """When every reference names its dates (`date = ...`, `date IN (...)`) on a store with folders
    (LocalStore): only those date folders of each ticker folder are looked into, instead of walking every
    date folder of every ticker to find them (a cross-section of 61 tickers × 2 years: 61 folders, not
    ~32,000). None when the shortcut does not apply."""
    if not filters or any(f.dates is None for f in filters) or not hasattr(store, "list_folders"):
        return None
    root = layout.dataset_root(dataset)
    found: dict[str, str] = {}
    for folder in store.list_folders(root):
        name, _, ticker = folder.partition("=")
        if name != "ticker":
            continue
        dates = sorted(
            {d for f in filters if f.tickers is None or ticker in f.tickers for d in f.dates or ()}
        )
        for date in dates:
            try:
                prefix = layout.dataset_prefix(dataset, ticker, date)
            except ValueError:  # a foreign folder name, or a date no partition can have
                continue
            found.update(compaction.fingerprints(store, prefix))
    return found


def _columns_used(tree: exp.Expression, names: Iterable[str]) -> set[str] | None:
    """Which of `names` (a table's columns) the query can look at: every one some identifier of the query
    spells (a superset: an alias or another table's column of that name counts too); None, all of them,
    while a `*` is left that is not `count(*)` (qualify expands `SELECT *`, this is the safety net)."""
    for star in tree.find_all(exp.Star):
        if not isinstance(star.parent, exp.Count):
            return None
    spelled = {identifier.name.lower() for identifier in tree.find_all(exp.Identifier)}
    return {name for name in names if name.lower() in spelled}


def _view_select(source: str, schema: pa.Schema, columns: dict[str, str]) -> str:
    """SELECT over a registered Arrow source giving Athena's column order and types."""
    by_name = {f.name: f for f in schema}
    parts = []
    for name in columns:
        quoted = '"' + name.replace('"', '""') + '"'
        arrow_field = by_name.get(name)
        if name == "date":
            parts.append(f"strftime(CAST({quoted} AS DATE), '%Y-%m-%d') AS {quoted}")
        elif arrow_field is not None and pa.types.is_timestamp(arrow_field.type) and arrow_field.type.tz:
            parts.append(f"CAST({quoted} AS TIMESTAMP) AS {quoted}")  # UTC: the session time zone is UTC
        else:
            parts.append(quoted)
    return f"SELECT {', '.join(parts)} FROM {source}"


_DATABASE: duckdb.DuckDBPyConnection | None = None
_DATABASE_LOCK = threading.Lock()


def _database() -> duckdb.DuckDBPyConnection:
    """The process's in-memory DuckDB database for local queries, opened once (opening one costs ~30 ms,
    more than a point query) and locked down at once: UTC session time zone, no file or network access
    (a query reads only the Arrow sources registered on its own cursor), configuration frozen."""
    global _DATABASE
    with _DATABASE_LOCK:
        if _DATABASE is None:
            database = duckdb.connect(config={"threads": 4})
            database.execute("SET GLOBAL TimeZone = 'UTC'")
            database.execute("SET enable_external_access = false")
            database.execute("SET lock_configuration = true")
            _DATABASE = database
        return _DATABASE


def run_local(
    sql: str,
    *,
    lake_uri: str | None = None,
    store=None,
    params: Sequence[str] = (),
    database: str = "tickerlake",
    arrow_schemas: dict[str, pa.Schema] | None = None,
) -> LocalResult:
    """Run one Athena query on DuckDB over the lake's latest partition files.

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

    listings: dict[str, list[tuple[str, str, str]]] = {}
    current: dict[str, str] = {}
    for ref in refs:
        if ref.dataset not in listings:
            filters = [other.filter for other in refs if other.dataset == ref.dataset]
            listings[ref.dataset], found = _partition_files(store, ref.dataset, filters)
            current.update(found)
    folder_filter = _folder_filter([ref.filter for ref in refs])
    pruned = folder_filter is not None and hasattr(store, "list_keys")

    # The columns each table's rows are read with from month copies (one walk of the query, not per reference).
    used = {dataset: _columns_used(tree, arrow_schemas[dataset].names) for dataset in listings}
    fs, base = store.arrow_filesystem()
    con = _database().cursor()  # a connection of its own: its registrations and views end with it
    try:
        files_read: set[str] = set()
        for i, ref in enumerate(refs):
            wanted = [item for item in listings[ref.dataset] if ref.filter.matches(item[1], item[2])]
            source = f"__source_{i}"
            file_schema = arrow_schemas[ref.dataset]
            # A month's compacted copy stands in for its partitions while their fingerprints match; only
            # the columns the query names are read from it (the view shows the others as null, unread).
            rows = compaction.read_rows(
                store,
                ref.dataset,
                wanted,
                current,
                file_schema,
                descend=folder_filter if pruned else None,
                columns=used[ref.dataset],
            )
            files_read.update(rows.copies_read)
            files_read.update(rows.partitions)
            # The partition files stay a lazy dataset: DuckDB reads only the columns the query uses.
            sources = []
            if rows.partitions or rows.copies is None:
                data = (
                    pads.dataset(
                        [f"{base}/{key}" for key in rows.partitions],
                        schema=file_schema,
                        format="parquet",
                        filesystem=fs,
                    )
                    if rows.partitions
                    else file_schema.empty_table()
                )
                con.register(f"{source}_files", data)
                sources.append(f"SELECT * FROM {source}_files")
            if rows.copies is not None:
                con.register(f"{source}_copies", rows.copies)
                sources.append(f"SELECT * FROM {source}_copies")
            ref.view = f"__{ref.dataset}_{i}"
            union = "(" + " UNION ALL ".join(sources) + ")"
            con.execute(
                f"CREATE TEMP VIEW {ref.view} AS {_view_select(union, file_schema, schema[ref.dataset])}"
            )
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

    notes = [
        f"on Athena, {ref.dataset} needs ticker = '...' or ticker IN (...) in the WHERE clause of the SELECT "
        "that reads it (injected partition projection)"
        for ref in refs
        if ref.filter.tickers is None
    ]
    if pruned:
        datasets = list(listings)

        def total() -> int:
            return sum(len(_partition_files(store, dataset)[0]) for dataset in datasets)

    else:
        total = sum(len(files) for files in listings.values())  # type: ignore[assignment]
    return LocalResult(
        table=table,
        files_read=sorted(files_read),
        total=total,
        notes=sorted(set(notes)),
        sql=duck_sql,
    )
