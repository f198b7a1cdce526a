"""Athena (Trino) SQL for the local engine: one read-only query, checked, typed, translated to DuckDB.

sqlglot parses the query as Athena SQL and writes DuckDB SQL; most of Trino maps one to one. Where DuckDB
would silently answer differently, this module either rewrites the construct so the answer is Athena's or
refuses the query naming the construct (`QueryRefused`) — a different answer is never returned silently:

==========================================  ==================================================================
Athena                                      local (DuckDB)
==========================================  ==================================================================
``a / b``, both integers                    ``a // b`` (truncates toward zero; division by zero is an error)
``a / b``, a decimal literal and no double  refused: Athena keeps DECIMAL scale (``1.0 / 3`` = ``0.3``)
``a / b``, operand type unknown             refused: CAST an operand to DOUBLE or BIGINT
``date_add(unit, n, <date>)``               ``CAST(<date> + INTERVAL n unit AS DATE)`` (DuckDB gives TIMESTAMP)
``<date> ± INTERVAL ...``                   cast back to DATE as above
``date_trunc(unit, <date>)``                ``CAST(date_trunc(...) AS DATE)``
``date_diff(unit, a, b)``                   ``date_sub(unit, a, b)``: whole units elapsed (DuckDB's
                                            ``date_diff`` counts boundaries crossed)
``format_datetime(t, 'joda')``              ``strftime(t, '<strftime>')`` through JODA_TO_STRFTIME; unknown
                                            pattern letters refused
``parse_datetime``                          refused (use ``date_parse`` with a MySQL-style format)
``approx_percentile(x, p)``                 ``quantile_disc(x, p)``: the exact percentile (a value of the
                                            data); Athena's answer lies within its ~1% rank error of it
``approx_percentile(x, w, p)``              refused (weighted form)
``approx_distinct(x)``                      ``count(DISTINCT x)``: exact; Athena's is within ~2.3%
``regexp_extract`` with no match            NULL, as in Athena (DuckDB returns '')
``"$path"``, ``"$file_size"``, ...          refused: hidden columns (see ``tickerlake sql --show-files``)
``typeof``, ``checksum``, other functions   refused: different or no DuckDB counterpart
sqlglot does not know
unnamed output columns                      named ``_col0``, ``_col1``, ... as Athena names them
==========================================  ==================================================================

Examples
--------
>>> from glue.translate import parse_query, to_duckdb
>>> to_duckdb(parse_query("SELECT 7 / 2 AS q"), schema={})
'SELECT 7 // 2 AS q'
"""

import logging
import re
from collections.abc import Mapping, Sequence

import sqlglot
from sqlglot import exp
from sqlglot.errors import OptimizeError, ParseError, SqlglotError
from sqlglot.optimizer.annotate_types import annotate_types
from sqlglot.optimizer.qualify import qualify

__all__ = [
    "JODA_TO_STRFTIME",
    "QueryRefused",
    "Schema",
    "joda_to_strftime",
    "parse_query",
    "qualify_query",
    "to_duckdb",
]

logging.getLogger("sqlglot").setLevel(
    logging.ERROR
)  # its "falling back to Command" warnings: we refuse those

READ_DIALECT = "athena"
#: table name -> column name -> SQL type (Trino spelling), in Athena's column order
Schema = Mapping[str, Mapping[str, str]]


class QueryRefused(ValueError):
    """The query is not one read-only SELECT, or uses a construct the local engine would answer differently."""


# Statement kinds and clauses that never belong in an analyst's read-only query.
_FORBIDDEN_NODES: tuple[type[exp.Expression], ...] = tuple(
    node
    for node in (
        getattr(exp, name, None)
        for name in (
            "Alter",
            "Analyze",
            "Cache",
            "Command",
            "Commit",
            "Copy",
            "Create",
            "Delete",
            "Describe",
            "Drop",
            "Grant",
            "Insert",
            "Into",
            "Kill",
            "LoadData",
            "Merge",
            "Pragma",
            "Refresh",
            "Rollback",
            "Set",
            "Show",
            "Transaction",
            "TruncateTable",
            "Uncache",
            "Update",
            "Use",
        )
    )
    if isinstance(node, type)
)

# Functions sqlglot does not model (exp.Anonymous) that DuckDB has with Athena's meaning.
_SAME_MEANING_FUNCTIONS = frozenset(
    {
        "cbrt",
        "cosh",
        "degrees",
        "radians",
        "sign",
        "tanh",
        "e",
        "pi",
        "is_nan",
        "is_finite",
        "is_infinite",
        "bit_count",
        "starts_with",
        "ends_with",
        "ltrim",
        "rtrim",
        "trim",
        "translate",
        "codepoint",
        "normalize",
        "array_distinct",
        "array_max",
        "array_min",
        "array_position",
        "array_remove",
        "array_sort",
        "array_intersect",
        "array_except",
        "arrays_overlap",
        "flatten",
        "kurtosis",
        "skewness",
        "regr_slope",
        "regr_intercept",
        "covar_pop",
        "covar_samp",
        "bool_and",
        "every",
        "year_of_week",
        "yow",
        "millisecond",
        "second",
        "minute",
        "hour",
    }
)

# Hidden columns of Athena tables; locally the files read are shown by `tickerlake sql --show-files`.
_HIDDEN_COLUMN = re.compile(r"^\$")

_INTEGER_TYPES = {
    exp.DataType.Type.TINYINT,
    exp.DataType.Type.SMALLINT,
    exp.DataType.Type.INT,
    exp.DataType.Type.BIGINT,
}
_FLOAT_TYPES = {exp.DataType.Type.DOUBLE, exp.DataType.Type.FLOAT}
_DECIMAL_TYPES = {exp.DataType.Type.DECIMAL}
_DATE_UNITS = {"DAY", "WEEK", "MONTH", "QUARTER", "YEAR"}


# --- parsing and refusing -------------------------------------------------------------------------------


def parse_query(sql: str, params: Sequence[str] = ()) -> exp.Query:
    """Parse exactly one read-only Athena query; substitute `?` parameters; raise QueryRefused otherwise.

    Parameters
    ----------
    sql
        One SELECT (or WITH ... SELECT, or a set operation of them); a single trailing ';' is allowed.
    params
        Values of the `?` placeholders, in order, as Athena's execution parameters take them: SQL literals
        (``'NVDA'``, ``10``, ``DATE '2024-01-02'``).

    Returns
    -------
    The query's syntax tree (Trino dialect), comments removed.
    """
    if not isinstance(sql, str) or not sql.strip():
        raise QueryRefused("the query is empty: expected one SELECT statement")
    try:
        statements = [s for s in sqlglot.parse(sql, read=READ_DIALECT) if s is not None]
    except ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        where = f" at line {first.get('line')}, column {first.get('col')}" if first.get("line") else ""
        detail = first.get("description") or str(exc).splitlines()[0]
        raise QueryRefused(f"cannot parse the query{where}: {detail}") from None
    except SqlglotError as exc:
        raise QueryRefused(f"cannot parse the query: {str(exc).splitlines()[0]}") from None
    if len(statements) != 1:
        raise QueryRefused(
            f"expected exactly one statement, found {len(statements)}: stacked statements are refused"
        )
    query = statements[0]
    if not isinstance(query, exp.Query):
        raise QueryRefused(
            f"only SELECT queries are allowed, got {_statement_name(query)}: the lake is read-only here"
        )
    for node in query.walk():
        if isinstance(node, _FORBIDDEN_NODES):
            raise QueryRefused(
                f"only SELECT queries are allowed: {_statement_name(node)} found inside the query"
            )
        if isinstance(node, exp.Select) and node.args.get("into"):
            raise QueryRefused("SELECT ... INTO is not allowed: the lake is read-only here")
    for node in query.walk():
        node.comments = None
    return _bind_params(query, params)


def _statement_name(node: exp.Expression) -> str:
    if isinstance(node, exp.Command):
        return str(node.this).upper()
    return type(node).__name__.upper()


def _bind_params(query: exp.Query, params: Sequence[str]) -> exp.Query:
    placeholders = [p for p in query.find_all(exp.Placeholder) if not p.this]
    if len(placeholders) != len(params):
        raise QueryRefused(
            f"the query has {len(placeholders)} '?' parameter(s) but {len(params)} value(s) were given"
        )
    for placeholder, text in zip(placeholders, params, strict=True):
        placeholder.replace(_parse_literal(text))
    return query


def _parse_literal(text: str) -> exp.Expression:
    try:
        statements = sqlglot.parse(f"SELECT {text}", read=READ_DIALECT)
    except SqlglotError:
        statements = []
    value = None
    if len(statements) == 1 and isinstance(statements[0], exp.Select) and len(statements[0].expressions) == 1:
        value = statements[0].expressions[0]
        if statements[0].args.get("from") or statements[0].args.get("where"):
            value = None
    ok = isinstance(value, exp.Literal | exp.Boolean | exp.Null) or (
        isinstance(value, exp.Neg) and isinstance(value.this, exp.Literal) and not value.this.is_string
    )
    if isinstance(value, exp.Cast | exp.TsOrDsToDate | exp.StrToDate) and isinstance(value.this, exp.Literal):
        ok = True  # DATE '...' / TIMESTAMP '...'
    if not ok:
        raise QueryRefused(
            f"parameter {text!r} is not a SQL literal: expected e.g. 'NVDA' (quoted), 10, DATE '2024-01-02'"
        )
    return value


# --- names and types ------------------------------------------------------------------------------------


def qualify_query(query: exp.Query, schema: Schema, database: str | None = None) -> exp.Query:
    """Resolve every column to its table and annotate every node with its type (sqlglot's optimizer).

    Only the tables of `schema` (and the query's own CTEs) may be read; a table may be qualified with
    `database` (and the `awsdatacatalog` catalog), a qualifier that is dropped. Unnamed output columns get
    Athena's names (`_col0`, ...). The tree stays Trino SQL.
    """
    for node in query.find_all(exp.Column):
        if _HIDDEN_COLUMN.match(node.name or ""):
            raise QueryRefused(
                f'the hidden column "{node.name}" is not available locally (use --show-files to see the '
                "files read, or run with --athena)"
            )
    query = query.copy()
    _check_tables(query, schema, database)
    unnamed = _unnamed_outputs(query)
    try:
        qualified = qualify(
            query,
            schema={name: dict(columns) for name, columns in schema.items()},
            dialect="trino",
            validate_qualify_columns=True,
            quote_identifiers=False,
            identify=False,
        )
        annotate_types(qualified, schema={name: dict(cols) for name, cols in schema.items()}, dialect="trino")
    except OptimizeError as exc:
        raise QueryRefused(f"cannot resolve the query: {str(exc).splitlines()[0]}") from None
    _name_outputs_like_athena(qualified, unnamed)
    return qualified


def _check_tables(query: exp.Query, schema: Schema, database: str | None) -> None:
    ctes = {cte.alias_or_name.lower() for cte in query.find_all(exp.CTE)}
    shadowing = sorted(ctes & {name.lower() for name in schema})
    if shadowing:  # engines disagree on what the name means inside its own definition
        raise QueryRefused(
            f"WITH {shadowing[0]} AS (...) shadows the table {shadowing[0]}: give the subquery another name"
        )
    for table in query.find_all(exp.Table):
        if not isinstance(table.this, exp.Identifier):
            raise QueryRefused(
                f"table function {table.this.sql(dialect='trino')} is not allowed: query the tables "
                f"{', '.join(schema)}"
            )
        name = table.name.lower()
        qualifier = [part.lower() for part in (table.catalog, table.db) if part]
        if not qualifier and name in ctes:
            continue
        allowed_qualifiers = (
            ([], [database.lower()], ["awsdatacatalog", database.lower()]) if database else ([],)
        )
        if name not in schema or qualifier not in allowed_qualifiers:
            shown = table.sql(dialect="trino").split(" AS ")[0]
            raise QueryRefused(f"table {shown} does not exist: the tables are {', '.join(schema)}")
        table.set("db", None)
        table.set("catalog", None)


def _unnamed_outputs(query: exp.Query) -> set[int]:
    select = _outer_select(query)
    if select is None:
        return set()
    return {
        i
        for i, projection in enumerate(select.expressions)
        if not isinstance(projection, exp.Alias | exp.Column | exp.Star) and not projection.is_star
    }


def _name_outputs_like_athena(query: exp.Query, unnamed: set[int]) -> None:
    select = _outer_select(query)
    if select is None:
        return
    for i, projection in enumerate(select.expressions):
        if i in unnamed and isinstance(projection, exp.Alias):
            projection.set("alias", exp.to_identifier(f"_col{i}"))


def _outer_select(query: exp.Expression) -> exp.Select | None:
    while isinstance(query, exp.SetOperation):
        query = query.this  # the first branch names the columns
    while isinstance(query, exp.Subquery):
        query = query.this
    return query if isinstance(query, exp.Select) else None


def _numeric_kind(node: exp.Expression) -> str:
    """'int', 'decimal', 'float' or 'unknown': the Trino type family of a numeric expression."""
    if isinstance(node, exp.Paren | exp.Neg):
        return _numeric_kind(node.this)
    if isinstance(node, exp.Literal) and not node.is_string:
        text = node.this.lower()
        if "e" in text:
            return "float"
        return "decimal" if "." in text else "int"
    if isinstance(node, exp.Add | exp.Sub | exp.Mul | exp.Mod | exp.Div):
        kinds = {_numeric_kind(node.this), _numeric_kind(node.expression)}
        for kind in ("float", "unknown", "decimal"):
            if kind in kinds:
                return kind
        return "int"
    data_type = node.to if isinstance(node, exp.Cast) else node.type
    if data_type is None:
        return "unknown"
    if data_type.this in _INTEGER_TYPES:
        return "int"
    if data_type.this in _FLOAT_TYPES:
        return "float"
    if data_type.this in _DECIMAL_TYPES:
        return "decimal"
    return "unknown"


def _is_date(node: exp.Expression) -> bool:
    return node.type is not None and node.type.this == exp.DataType.Type.DATE


# --- Joda (format_datetime) -> strftime -----------------------------------------------------------------

#: Joda-Time pattern letters (Trino's format_datetime) and their DuckDB strftime equivalents.
JODA_TO_STRFTIME: dict[str, str] = {
    "yyyy": "%Y",
    "yy": "%y",
    "xxxx": "%G",
    "MMMM": "%B",
    "MMM": "%b",
    "MM": "%m",
    "M": "%-m",
    "dd": "%d",
    "d": "%-d",
    "DDD": "%j",
    "EEEE": "%A",
    "EEE": "%a",
    "E": "%a",
    "ww": "%V",
    "HH": "%H",
    "H": "%-H",
    "hh": "%I",
    "h": "%-I",
    "mm": "%M",
    "m": "%-M",
    "ss": "%S",
    "s": "%-S",
    "SSS": "%g",
    "SSSSSS": "%f",
    "a": "%p",
    "Z": "%z",
}


def joda_to_strftime(pattern: str) -> str:
    """Translate a Joda-Time pattern to strftime; QueryRefused names a letter run it cannot translate."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "'":  # quoted literal text; '' is a single quote
            end = pattern.find("'", i + 1)
            if end == -1:
                raise QueryRefused(f"format_datetime pattern {pattern!r} has an unterminated quote")
            literal = pattern[i + 1 : end] or "'"
            out.append(literal.replace("%", "%%"))
            i = end + 1
            continue
        if ch.isalpha():
            run = ch
            while i + len(run) < len(pattern) and pattern[i + len(run)] == ch:
                run += ch
            if run not in JODA_TO_STRFTIME:
                raise QueryRefused(
                    f"format_datetime pattern letters {run!r} (in {pattern!r}) have no local translation; "
                    f"supported: {', '.join(sorted(JODA_TO_STRFTIME))}; or run with --athena"
                )
            out.append(JODA_TO_STRFTIME[run])
            i += len(run)
            continue
        out.append("%%" if ch == "%" else ch)
        i += 1
    return "".join(out)


# --- the translation ------------------------------------------------------------------------------------


def to_duckdb(query: exp.Query, schema: Schema, database: str | None = None) -> str:
    """DuckDB SQL with Athena's answers for the query (already checked by `parse_query`).

    `schema` types the lake's tables; the query is qualified first unless `qualify_query` did it.
    """
    tree = query if _is_annotated(query) else qualify_query(query, schema, database)
    tree = tree.copy()
    _refuse_unsupported(tree)
    tree = tree.transform(_rewrite, copy=False)
    return tree.sql(dialect="duckdb", comments=False)


def _is_annotated(query: exp.Query) -> bool:
    return query.type is not None or any(s.type is not None for s in query.find_all(exp.Select))


def _refuse_unsupported(tree: exp.Expression) -> None:
    for node in tree.walk():
        if isinstance(node, exp.Anonymous):
            name = str(node.this).lower()
            if name not in _SAME_MEANING_FUNCTIONS and name != "format_datetime":
                raise QueryRefused(
                    f"function {name}() is not supported by the local engine (its DuckDB counterpart differs "
                    "or is missing); run it with --athena"
                )
        elif isinstance(node, exp.Unnest) and len(node.expressions) > 1:
            raise QueryRefused(
                "UNNEST of several arrays at once is not supported locally; UNNEST one array (of ROWs) per "
                "CROSS JOIN, or run it with --athena"
            )
        elif isinstance(node, exp.Typeof):
            raise QueryRefused("typeof() names types differently in DuckDB; run it with --athena")
        elif isinstance(node, exp.ParseDatetime):
            raise QueryRefused(
                "parse_datetime() (Joda pattern) is not supported locally; use date_parse(s, '%Y-%m-%d') "
                "or CAST(s AS DATE)"
            )
        elif isinstance(node, exp.ApproxQuantile) and (node.args.get("weight") or node.args.get("accuracy")):
            raise QueryRefused(
                "approx_percentile with a weight is not supported locally; run it with --athena"
            )
        elif isinstance(node, exp.Table) and not isinstance(node.this, exp.Identifier):
            raise QueryRefused(
                f"table function {node.this.sql(dialect='trino')} is not allowed: query the tables "
                "prices, indicators, percentiles, features"
            )


def _rewrite(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.Div):
        return _rewrite_division(node)
    if isinstance(node, exp.Anonymous) and str(node.this).lower() == "format_datetime":
        return _rewrite_format_datetime(node)
    if isinstance(node, exp.DateAdd | exp.TsOrDsAdd):
        if _is_date(node.this):
            return exp.cast(node.copy(), exp.DataType.build("DATE"))
        return node
    if isinstance(node, exp.Add | exp.Sub) and _date_plus_interval(node):
        return exp.cast(node.copy(), exp.DataType.build("DATE"))
    if isinstance(node, exp.DateTrunc | exp.TimestampTrunc) and _is_date(node.this):
        return exp.cast(node.copy(), exp.DataType.build("DATE"))
    if isinstance(node, exp.DateDiff):
        unit = (node.text("unit") or "DAY").lower()
        return exp.Anonymous(
            this="date_sub", expressions=[exp.Literal.string(unit), node.expression, node.this]
        )
    if isinstance(node, exp.ApproxQuantile):
        return exp.Anonymous(this="quantile_disc", expressions=[node.this, node.args["quantile"]])
    if isinstance(node, exp.ApproxDistinct):
        return exp.Count(this=exp.Distinct(expressions=[node.this]))
    if isinstance(node, exp.RegexpExtract):
        matches = exp.RegexpLike(this=node.this.copy(), expression=node.expression.copy())
        return exp.Case(ifs=[exp.If(this=matches, true=node.copy())])
    return node


def _rewrite_division(node: exp.Div) -> exp.Expression:
    kinds = (_numeric_kind(node.this), _numeric_kind(node.expression))
    shown = node.sql(dialect="trino")
    if "float" in kinds:
        return node
    if "unknown" in kinds:
        raise QueryRefused(
            f"cannot tell whether {shown} is an integer division (Athena truncates integer / integer): "
            "CAST an operand to DOUBLE for a fractional result, or to BIGINT for Athena's integer result"
        )
    if "decimal" in kinds:
        raise QueryRefused(
            f"{shown} is a DECIMAL division: Athena keeps the operands' scale (1.0 / 3 = 0.3); "
            "CAST an operand to DOUBLE, or run it with --athena"
        )
    return exp.IntDiv(this=node.this, expression=node.expression)


def _rewrite_format_datetime(node: exp.Anonymous) -> exp.Expression:
    args = node.expressions
    if len(args) != 2 or not (isinstance(args[1], exp.Literal) and args[1].is_string):
        raise QueryRefused("format_datetime(value, pattern) needs a constant pattern string locally")
    return exp.Anonymous(
        this="strftime", expressions=[args[0], exp.Literal.string(joda_to_strftime(args[1].this))]
    )


def _date_plus_interval(node: exp.Add | exp.Sub) -> bool:
    left, right = node.this, node.expression
    if isinstance(left, exp.Interval) and isinstance(node, exp.Add):
        left, right = right, left
    if not (isinstance(right, exp.Interval) and _is_date(left)):
        return False
    return (right.text("unit") or "").upper().rstrip("S") in _DATE_UNITS
