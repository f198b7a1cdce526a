"""Athena (Trino) SQL for the local engine: one read-only query, checked, typed, translated to DuckDB.

sqlglot parses the query as Athena SQL; this module types it as Trino would, checks every construct against a
list of the ones it knows, and writes DuckDB SQL that gives Athena's answer. A construct is either

- **kept**: DuckDB's meaning is Trino's (checked against Trino's documented examples, see
  tests/test_sql_trino_compat.py);
- **rewritten**: DuckDB SQL (or a function of :data:`TRINO_FUNCTIONS`, Python ports of Trino's code
  registered on the local database) that gives Trino's answer, including Trino's errors: where Athena
  raises (``split('a,b', ',')[3]``, ``split_part(s, '/', 0)``, ``-(INTEGER '-2147483648')``, an overflowing
  ``sum``), the local query raises too, with Athena's message;
- **refused** (`QueryRefused`), naming the construct: anything else — a function or a form of it not on the
  list, a type combination Athena rejects (``date = '2024-01-02'``, ``'a' || 1``), or where the answers
  would differ and no rewrite is exact (``1.0 / 3``). Some refusals happen at run time, for values only:
  ``greatest()`` with a NaN argument, ``round(x, d)`` past 2^63, ... (the message starts with "refused").

A different answer is never returned silently. The summary of what is rewritten or refused is in
docs/analysts.md ("The local engine"); the complete list is `FUNCTIONS` (Trino name -> what happens).

Examples
--------
>>> from glue.translate import parse_query, to_duckdb
>>> to_duckdb(parse_query("SELECT 7 / 2 AS q"), schema={})
'SELECT 7 // 2 AS q'
"""

import logging
import re
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.dialects.trino import Trino
from sqlglot.errors import OptimizeError, ParseError, SqlglotError
from sqlglot.optimizer.annotate_types import annotate_types
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import Scope, traverse_scope
from sqlglot.parsers.trino import TrinoParser
from sqlglot.tokens import TokenType

__all__ = [  # noqa: F822 - FUNCTIONS is computed on first use (module __getattr__)
    "ATHENA_ERROR",
    "FUNCTIONS",
    "JODA_TO_STRFTIME",
    "MAX_EXPRESSION_DEPTH",
    "MAX_NESTING",
    "MAX_QUERY_BYTES",
    "REFUSED",
    "TRINO_FUNCTIONS",
    "QueryRefused",
    "Schema",
    "joda_to_strftime",
    "mysql_to_strftime",
    "parse_query",
    "qualify_query",
    "register_trino_functions",
    "to_duckdb",
]

logging.getLogger("sqlglot").setLevel(
    logging.ERROR
)  # its "falling back to Command" warnings: we refuse those


def _raw_function(lowered: str) -> Callable[[list], exp.Expression]:
    return lambda args: exp.Anonymous(this=lowered, expressions=args)


class _LocalTrinoParser(TrinoParser):
    """Athena's SQL (its DML is Trino's) as sqlglot reads it, keeping apart what sqlglot folds together:
    log10(x) and log(10, x), to_char() and date_format(), the date format strings as written."""

    FUNCTIONS = {
        **TrinoParser.FUNCTIONS,
        **{
            name: _raw_function(name.lower())
            for name in (
                "LOG10",
                "LOG2",
                "TO_CHAR",
                "SHA512",
                "SHA256",
                "SHA1",
                "MD5",
                "DATE_PARSE",
                "DATE_FORMAT",
            )
        },
    }


class _LocalAthena(Trino):
    Parser = _LocalTrinoParser


READ_DIALECT = _LocalAthena
#: table name -> column name -> SQL type (Trino spelling), in Athena's column order
Schema = Mapping[str, Mapping[str, str]]

#: Athena's limit on the text of a query (bytes, UTF-8)
MAX_QUERY_BYTES = 262_144
#: parentheses / brackets nested deeper than this are refused
MAX_NESTING = 100
#: the syntax tree (after AND/OR chains are balanced) deeper than this is refused: DuckDB stops at 1000
#: levels and each level may become a few after translation
MAX_EXPRESSION_DEPTH = 250
# deeper than this, parentheses are not even parsed (sqlglot recurses on them)
_PARSE_NESTING = 400
#: the translated SQL larger than this is refused (a rewrite may repeat an argument)
MAX_TRANSLATED_BYTES = 4_000_000
#: nor a translated syntax tree with more nodes than this (checked while it is built)
MAX_TRANSLATED_NODES = 50_000

#: prefix of a run-time error message that is Athena's own error for the same input
ATHENA_ERROR = "[athena-error] "
#: prefix of a run-time error message that refuses a value the local engine cannot answer as Athena
REFUSED = "[refused] "


class QueryRefused(ValueError):
    """The query is not one read-only SELECT, or uses a construct the local engine would answer differently."""


# --- running the recursive parts on a deep stack -----------------------------------------------------------

_STACK_SIZE = 256 * 1024 * 1024
_RECURSION_LIMIT = 30_000
_DEEP_LOCK = threading.Lock()
_DEEP = threading.local()


def _on_deep_stack(function: Callable, *args, **kwargs):
    """Run `function` in a helper thread with a large stack and recursion limit (sqlglot recurses once or more
    per nesting level); a RecursionError is a refusal, never a traceback."""
    if getattr(_DEEP, "active", False):  # already on the deep stack
        return function(*args, **kwargs)
    outcome: dict[str, object] = {}

    def target() -> None:
        _DEEP.active = True
        try:
            outcome["value"] = function(*args, **kwargs)
        except BaseException as exc:  # handed to the caller's thread
            outcome["error"] = exc

    with _DEEP_LOCK:
        old_stack = threading.stack_size()
        old_limit = sys.getrecursionlimit()
        try:
            threading.stack_size(_STACK_SIZE)
            worker = threading.Thread(target=target, name="tickerlake-sql-translate", daemon=True)
            sys.setrecursionlimit(max(old_limit, _RECURSION_LIMIT))
            worker.start()
        finally:
            threading.stack_size(old_stack)
        try:
            worker.join()
        finally:
            sys.setrecursionlimit(old_limit)
    error = outcome.get("error")
    if isinstance(error, RecursionError):
        raise QueryRefused(
            "the query is nested too deeply for the local engine; simplify it or run it with --athena"
        ) from None
    if error is not None:
        raise error  # type: ignore[misc]
    return outcome.get("value")


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

# Hidden columns of Athena tables; locally the files read are shown by `tickerlake sql --show-files`.
_HIDDEN_COLUMN = re.compile(r"^\$")


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
    The query's syntax tree (Trino dialect), comments removed, chains of AND / OR balanced.
    """
    if not isinstance(sql, str) or not sql.strip():
        raise QueryRefused("the query is empty: expected one SELECT statement")
    size = len(sql.encode("utf-8", "surrogatepass"))
    if size > MAX_QUERY_BYTES:
        raise QueryRefused(
            f"the query is {size:,} bytes long: Athena accepts at most {MAX_QUERY_BYTES:,} bytes of SQL"
        )
    nesting = _check_syntax(sql)
    if nesting > _PARSE_NESTING:
        raise QueryRefused(
            f"the query nests parentheses {nesting} levels deep: more than can be read ({_PARSE_NESTING}); write "
            "the inner parts as WITH queries"
        )
    query = _on_deep_stack(_parse, sql, tuple(params))
    query.meta["nesting"] = nesting
    return query


def _check_syntax(sql: str) -> int:
    """Refuse the syntax sqlglot reads but Athena does not (DuckDB's and PostgreSQL's), before anything
    recurses on the query; the deepest nesting of parentheses and brackets."""
    try:
        tokens = sqlglot.Dialect.get_or_raise(READ_DIALECT).tokenize(sql)
    except SqlglotError as exc:
        raise QueryRefused(f"cannot parse the query: {str(exc).splitlines()[0]}") from None
    depth = deepest = 0
    limit_at: set[int] = set()
    kinds = TokenType
    starts_expression = {  # a "[" after these opens a DuckDB list literal, not a subscript
        kinds.SELECT,
        kinds.COMMA,
        kinds.L_PAREN,
        kinds.L_BRACKET,
        kinds.PLUS,
        kinds.DASH,
        kinds.STAR,
        kinds.SLASH,
        kinds.EQ,
        kinds.NEQ,
        kinds.GT,
        kinds.LT,
        kinds.GTE,
        kinds.LTE,
        kinds.DPIPE,
        kinds.AND,
        kinds.OR,
        kinds.NOT,
        kinds.WHERE,
        kinds.THEN,
        kinds.ELSE,
        kinds.WHEN,
        kinds.ON,
        kinds.IN,
        kinds.HAVING,
        kinds.CASE,
        kinds.DISTINCT,
        kinds.MOD,
    }
    for i, token in enumerate(tokens):
        kind = token.token_type
        previous = tokens[i - 1] if i else None
        if kind in (kinds.L_PAREN, kinds.L_BRACKET):
            if kind == kinds.L_BRACKET and (previous is None or previous.token_type in starts_expression):
                raise QueryRefused("[...] list literals are not Athena SQL: write ARRAY[...]")
            depth += 1
            deepest = max(deepest, depth)
        elif kind in (kinds.R_PAREN, kinds.R_BRACKET):
            limit_at.discard(depth)
            depth -= 1
        elif kind == kinds.DCOLON:
            raise QueryRefused("the x::type cast is not Athena SQL: write CAST(x AS type)")
        elif kind == kinds.L_BRACE:
            raise QueryRefused("{...} struct literals are not Athena SQL")
        elif kind == kinds.LIMIT:
            limit_at.add(depth)
        elif kind == kinds.OFFSET and depth in limit_at:
            raise QueryRefused(
                "LIMIT n OFFSET m is not Athena SQL: write OFFSET m LIMIT n (OFFSET comes first)"
            )
        elif kind == kinds.ON and previous is not None and previous.token_type == kinds.DISTINCT:
            raise QueryRefused("SELECT DISTINCT ON (...) is not Athena SQL; use row_number() OVER (...)")
        elif (
            previous is not None
            and previous.token_type == kinds.STAR
            and token.text.upper() in ("EXCLUDE", "REPLACE")
        ):
            raise QueryRefused(f"SELECT * {token.text.upper()} (...) is not Athena SQL: list the columns")
        elif kind in (kinds.UNION, kinds.INTERSECT, kinds.EXCEPT, kinds.SELECT):
            limit_at.discard(depth)
    return deepest


def _parse(sql: str, params: tuple[str, ...]) -> exp.Query:
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
    query = _balance_connectors(query)
    _one_based_subscripts(query)
    for select in query.find_all(exp.Select):
        if not select.expressions:
            raise QueryRefused("cannot parse the query: a SELECT without a select list")
    return _bind_params(query, params)


def _statement_name(node: exp.Expression) -> str:
    if isinstance(node, exp.Command):
        return str(node.this).upper()
    return type(node).__name__.upper()


def _depth(root: exp.Expression) -> int:
    """The depth of the syntax tree, computed without recursion."""
    deepest = 0
    stack = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in node.iter_expressions())
    return deepest


def _one_based_subscripts(root: exp.Expression) -> None:
    """sqlglot keeps a constant array subscript 0-based (it subtracts Trino's 1 when parsing, adds it back
    when writing SQL); put back the number the analyst wrote, so a subscript is always Trino's."""
    for node in list(root.find_all(exp.Bracket)):
        if node.args.get("offset") is not None or len(node.expressions) != 1:
            continue
        index = node.expressions[0]
        value = _int_value(index)
        if value is not None:
            index.replace(_num(value + 1))
        node.meta["one_based"] = True


def _int_value(node: exp.Expression) -> int | None:
    if isinstance(node, exp.Literal) and node.is_int:
        return int(node.this)
    if isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal) and node.this.is_int:
        return -int(node.this.this)
    return None


def _balance_connectors(root: exp.Expression) -> exp.Expression:
    """Rebuild every chain of AND (of OR) as a balanced tree: the same conditions (AND and OR are
    associative in SQL's three-valued logic), a depth of log2(n) instead of n (1,200 ANDed conditions)."""
    stack = [root]
    chains: list[exp.Connector] = []
    while stack:
        node = stack.pop()
        if isinstance(node, exp.And | exp.Or) and not isinstance(node.parent, type(node)):
            chains.append(node)
        stack.extend(node.iter_expressions())
    for chain in chains:
        kind = type(chain)
        operands: list[exp.Expression] = []
        pending = [chain]
        while pending:
            item = pending.pop()
            if isinstance(item, kind):
                pending.append(item.expression)
                pending.append(item.this)
            else:
                operands.append(item)
        if len(operands) < 4:
            continue
        balanced = _balanced(kind, operands)
        if chain is root:
            root = balanced
        else:
            chain.replace(balanced)
    return root


def _balanced(kind: type[exp.Connector], operands: list[exp.Expression]) -> exp.Expression:
    level = operands
    while len(level) > 1:
        paired = [
            kind(this=level[i], expression=level[i + 1]) if i + 1 < len(level) else level[i]
            for i in range(0, len(level), 2)
        ]
        level = paired
    return level[0]


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


# --- names ----------------------------------------------------------------------------------------------


def qualify_query(query: exp.Query, schema: Schema, database: str | None = None) -> exp.Query:
    """Resolve every column to its table and annotate every node with its type (sqlglot's optimizer).

    Only the tables of `schema` (and the query's own CTEs) may be read; a table may be qualified with
    `database` (and the `awsdatacatalog` catalog), a qualifier that is dropped. Unnamed output columns get
    Athena's names (`_col0`, ...). Output aliases are not visible in WHERE, GROUP BY or HAVING (as on
    Athena). The tree stays Trino SQL.
    """
    return _on_deep_stack(_qualify, query, schema, database)


def _check_local_limits(query: exp.Query) -> None:
    """The local engine's bounds on a query's shape (Athena's are its own): MAX_NESTING parentheses,
    MAX_EXPRESSION_DEPTH levels of expressions (after AND / OR chains are balanced)."""
    nesting = query.meta.get("nesting", 0)
    if nesting > MAX_NESTING:
        raise QueryRefused(
            f"the query nests parentheses {nesting} levels deep: the local engine accepts up to {MAX_NESTING} "
            "(write the inner parts as WITH queries, or run it with --athena)"
        )
    depth = _depth(query)
    if depth > MAX_EXPRESSION_DEPTH:
        raise QueryRefused(
            f"the query's expressions are nested {depth:,} levels deep: the local engine accepts up to "
            f"{MAX_EXPRESSION_DEPTH} (a chain of that many +, - or || is that deep); split the expression "
            "(e.g. sum the terms in parts), or run it with --athena"
        )


def _qualify(query: exp.Query, schema: Schema, database: str | None) -> exp.Query:
    _check_local_limits(query)
    for node in query.find_all(exp.Column):
        if _HIDDEN_COLUMN.match(node.name or ""):
            raise QueryRefused(
                f'the hidden column "{node.name}" is not available locally (use --show-files to see the '
                "files read, or run with --athena)"
            )
    _refuse_before_qualify(query)
    query = query.copy()
    _check_tables(query, schema, database)
    unnamed = _unnamed_outputs(query)
    tables = {name: dict(columns) for name, columns in schema.items()}
    try:
        qualified = qualify(
            query,
            schema=tables,
            dialect="trino",
            validate_qualify_columns=True,
            expand_alias_refs=False,
            quote_identifiers=False,
            identify=False,
        )
        annotate_types(qualified, schema=tables, dialect="trino")
    except OptimizeError as exc:
        raise QueryRefused(f"cannot resolve the query: {str(exc).splitlines()[0]}") from None
    _name_outputs_like_athena(qualified, unnamed)
    return qualified


def _refuse_before_qualify(query: exp.Expression) -> None:
    """Constructs that sqlglot's qualification would rewrite into something Athena does not run."""
    for node in query.walk():
        if isinstance(node, exp.Join) and (node.args.get("method") or "").upper() == "NATURAL":
            raise QueryRefused("NATURAL JOIN is not supported by Athena: join ON or USING the columns")
        if isinstance(node, exp.With) and node.args.get("recursive"):
            raise QueryRefused(
                "WITH RECURSIVE is not supported locally: Athena stops a recursion after 10 steps "
                "(max_recursion_depth) and fails past them, which the local engine cannot reproduce; "
                "run it with --athena"
            )
        if isinstance(node, exp.Group) and node.args.get("all") is not None:
            raise QueryRefused(
                "GROUP BY ALL / DISTINCT (grouping-set quantifiers) are not supported locally: list the "
                "grouping columns, or run it with --athena"
            )


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
        if table.args.get("sample") is not None:
            raise QueryRefused("TABLESAMPLE is not supported locally (a random sample); run it with --athena")
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
    renamed: dict[str, str] = {}
    for i, projection in enumerate(select.expressions):
        if i in unnamed and isinstance(projection, exp.Alias):
            renamed[projection.alias] = f"_col{i}"
            projection.set("alias", exp.to_identifier(f"_col{i}"))
    order = query.args.get("order") if isinstance(query, exp.Select) else None
    if order is not None and renamed:  # ORDER BY 1 became ORDER BY <sqlglot's name for it>
        for column in order.find_all(exp.Column):
            if not column.table and column.name in renamed:
                column.set("this", exp.to_identifier(renamed[column.name]))


def _outer_select(query: exp.Expression) -> exp.Select | None:
    while isinstance(query, exp.SetOperation):
        query = query.this  # the first branch names the columns
    while isinstance(query, exp.Subquery):
        query = query.this
    return query if isinstance(query, exp.Select) else None


# --- Trino types ----------------------------------------------------------------------------------------
#
# A type is a string in Trino's spelling, lower case: 'integer', 'bigint', 'decimal(p,s)', 'double', 'real',
# 'varchar', 'boolean', 'date', 'timestamp', 'interval day to second', 'array(<element>)', ...; 'unknown'
# is a NULL literal (Trino's own name for its type) and '?' a type this module cannot tell.

_INTEGERS = ("tinyint", "smallint", "integer", "bigint")
_FLOATS = ("real", "double")
_INTERVALS = ("interval day to second", "interval year to month")


def _family(t: str) -> str:
    """'int', 'decimal', 'float', 'str', 'bool', 'date', 'timestamp', 'interval', 'array', 'null', '?' or
    'other'."""
    if t in _INTEGERS:
        return "int"
    if t.startswith("decimal"):
        return "decimal"
    if t in _FLOATS:
        return "float"
    if t == "varchar" or t.startswith("varchar(") or t.startswith("char"):
        return "str"
    if t == "boolean":
        return "bool"
    if t == "date":
        return "date"
    if t.startswith("timestamp"):
        return "timestamp"
    if t.startswith("interval"):
        return "interval"
    if t.startswith("array("):
        return "array"
    if t == "unknown":
        return "null"
    if t == "?":
        return "?"
    return "other"


def _element(t: str) -> str:
    return t[len("array(") : -1] if t.startswith("array(") else "?"


def _decimal_ps(t: str) -> tuple[int, int]:
    match = re.fullmatch(r"decimal\((\d+),(\d+)\)", t)
    return (int(match.group(1)), int(match.group(2))) if match else (38, 0)


def _int_rank(t: str) -> int:
    return _INTEGERS.index(t)


def _common_type(types: Sequence[str]) -> str | None:
    """Trino's common super type of `types` (implicit coercion), '?' when one is unknown to this module,
    None when Trino has none (it rejects the combination)."""
    known = [t for t in types if t != "unknown"]
    if not known:
        return "unknown"
    if "?" in known:
        return "?"
    families = {_family(t) for t in known}
    if len(families) == 1:
        family = families.pop()
        if family == "int":
            return max(known, key=_int_rank)
        if family == "decimal":
            pairs = [_decimal_ps(t) for t in known]
            scale = max(s for _, s in pairs)
            digits = max(p - s for p, s in pairs)
            return f"decimal({min(38, digits + scale)},{scale})"
        if family == "float":
            return "double" if "double" in known else "real"
        if family == "str":
            return "varchar"
        if family == "array":
            inner = _common_type([_element(t) for t in known])
            return None if inner is None else f"array({inner})"
        if family == "timestamp":
            return "timestamp" if all(t == "timestamp" for t in known) else known[0]
        return known[0] if all(t == known[0] for t in known) else None
    if families <= {"int", "decimal"}:
        return _common_type([_int_as_decimal(t) for t in known])
    if families <= {"int", "decimal", "float"}:
        return "double" if "double" in known else "real"
    if families == {"date", "timestamp"}:
        return "timestamp"
    return None


def _int_as_decimal(t: str) -> str:
    widths = {"tinyint": 3, "smallint": 5, "integer": 10, "bigint": 19}
    return f"decimal({widths[t]},0)" if t in widths else t


def _from_datatype(data_type: exp.DataType | None) -> str:
    """The Trino type of a sqlglot DataType (a column of the lake's schema, a CAST target)."""
    if data_type is None:
        return "?"
    kind = data_type.this
    T = exp.DataType.Type
    simple = {
        T.TINYINT: "tinyint",
        T.SMALLINT: "smallint",
        T.INT: "integer",
        T.BIGINT: "bigint",
        T.DOUBLE: "double",
        T.FLOAT: "real",
        T.BOOLEAN: "boolean",
        T.DATE: "date",
        T.TIMESTAMP: "timestamp",
        T.DATETIME: "timestamp",
        T.VARCHAR: "varchar",
        T.TEXT: "varchar",
        T.NVARCHAR: "varchar",
        T.NULL: "unknown",
    }
    if kind in simple:
        return simple[kind]
    if kind == T.DECIMAL:
        params = [p.this.name if isinstance(p, exp.DataTypeParam) else p.name for p in data_type.expressions]
        precision = int(params[0]) if params else 38
        scale = int(params[1]) if len(params) > 1 else 0
        return f"decimal({precision},{scale})"
    if kind == T.ARRAY:
        inner = data_type.expressions[0] if data_type.expressions else None
        return f"array({_from_datatype(inner) if isinstance(inner, exp.DataType) else '?'})"
    if kind in (T.TIMESTAMPTZ, T.TIMESTAMPLTZ):
        return "timestamp with time zone"
    if kind == T.CHAR:
        return "char"
    if kind == T.INTERVAL:
        return "interval day to second"
    if kind in (T.UNKNOWN,):
        return "?"
    return kind.name.lower()


def _literal_type(node: exp.Literal) -> str:
    if node.is_string:
        return "varchar"
    text = node.this.lower()
    if "e" in text:
        return "double"
    if "." in text:
        whole, _, fraction = text.partition(".")
        digits = len(whole.lstrip("0")) + len(fraction)
        return f"decimal({max(digits, 1)},{len(fraction)})"
    value = int(text)
    return "integer" if -(2**31) <= value < 2**31 else "bigint"


def _shown(node: exp.Expression, limit: int = 80) -> str:
    """A node as the analyst wrote it (Trino SQL), shortened."""
    text = node.sql(dialect="trino")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _fn_name(node: exp.Expression) -> str:
    """The Trino name of a function call node."""
    if isinstance(node, exp.Anonymous):
        return str(node.this).lower()
    text = node.sql(dialect="trino")
    head = text.split("(", 1)[0].strip().lower()
    return head if re.fullmatch(r"[a-z_][a-z0-9_]*", head) else type(node).__name__.lower()


class _Types:
    """Trino types of the nodes of a qualified query: columns through their tables, WITH queries, subqueries,
    UNNEST and VALUES; expressions by Trino's rules for the constructs this module knows ('?' otherwise)."""

    def __init__(self, tree: exp.Expression, schema: Schema) -> None:
        self.schema = {t.lower(): {c.lower(): v for c, v in cols.items()} for t, cols in schema.items()}
        self.cache: dict[int, str] = {}
        self.keep: list[exp.Expression] = []  # nodes whose id() is a cache key stay alive
        self.sources: dict[int, tuple[Scope, object]] = {}
        self.lambda_vars: dict[int, str] = {}
        for scope in traverse_scope(tree):
            for column in scope.columns:
                self.sources[id(column)] = (scope, self._source(scope, column.table))

    @staticmethod
    def _source(scope: Scope | None, name: str) -> object:
        while scope is not None and name:
            source = scope.sources.get(name)
            if source is not None:
                return source
            scope = scope.parent
        return None

    def of(self, node: exp.Expression | None) -> str:
        if node is None:
            return "?"
        key = id(node)
        if key not in self.cache:
            self.cache[key] = "?"  # a cycle (a column of its own WITH query) stays unknown
            self.keep.append(node)
            self.cache[key] = self._infer(node)
        return self.cache[key]

    def alias(self, new: exp.Expression, old: exp.Expression) -> None:
        """`new` replaces `old`: same type."""
        self.keep.append(new)
        self.cache[id(new)] = self.of(old)

    # -- columns

    def _column(self, node: exp.Column) -> str:
        if id(node) in self.lambda_vars:
            return self.lambda_vars[id(node)]
        found = self.sources.get(id(node))
        source = found[1] if found else None
        name = node.name.lower()
        if isinstance(source, exp.Table):
            table = self.schema.get(source.name.lower())
            if table is not None and name in table:
                return _from_datatype(exp.DataType.build(table[name], dialect="trino"))
            return _from_datatype(node.type)
        if isinstance(source, Scope):
            return self._scope_column(source, name)
        return _from_datatype(node.type) if node.type is not None else "?"

    def _scope_column(self, scope: Scope, name: str) -> str:
        expression = scope.expression
        if isinstance(expression, exp.Unnest):
            return self._unnest_column(expression, name)
        if isinstance(expression, exp.Values):
            alias = expression.args.get("alias")
            names = [c.name.lower() for c in alias.columns] if alias else []
            if name not in names:
                return "?"
            position = names.index(name)
            rows = [r.expressions if isinstance(r, exp.Tuple) else [r] for r in expression.expressions]
            common = _common_type([self.of(r[position]) for r in rows if position < len(r)])
            return common or "?"
        return self._query_column(expression, name)

    def _query_column(self, query: exp.Expression, name: str, position: int | None = None) -> str:
        if isinstance(query, exp.Subquery):
            return self._query_column(query.this, name, position)
        if isinstance(query, exp.SetOperation):
            left = _outer_select(query.this) if not isinstance(query.this, exp.Select) else query.this
            if position is None and left is not None:
                names = [p.alias_or_name.lower() for p in left.expressions]
                position = names.index(name) if name in names else None
            if position is None:
                return "?"
            types = [
                self._query_column(query.this, name, position),
                self._query_column(query.expression, name, position),
            ]
            return _common_type(types) or "?"
        if isinstance(query, exp.Select):
            projections = query.expressions
            if position is not None:
                return self.of(projections[position]) if position < len(projections) else "?"
            for projection in projections:
                if projection.alias_or_name.lower() == name:
                    return self.of(projection)
        return "?"

    def _unnest_column(self, unnest: exp.Unnest, name: str) -> str:
        alias = unnest.args.get("alias")
        columns = [c.name.lower() for c in alias.columns] if alias else []
        offset = unnest.args.get("offset")
        if isinstance(offset, exp.Expression) and offset.name.lower() == name:
            return "bigint"
        arrays = unnest.expressions
        if name in columns and columns.index(name) < len(arrays):
            return _element(self.of(arrays[columns.index(name)]))
        return "?"

    # -- expressions

    def _infer(self, node: exp.Expression) -> str:
        if isinstance(node, exp.Column):
            return self._column(node)
        if isinstance(node, exp.Alias | exp.Paren):
            return self.of(node.this)
        if isinstance(node, exp.Literal):
            return _literal_type(node)
        if isinstance(node, exp.Null):
            return "unknown"
        if isinstance(node, exp.Boolean):
            return "boolean"
        if isinstance(node, exp.Cast | exp.TryCast):
            return _from_datatype(node.to)
        if isinstance(node, exp.Subquery):
            select = _outer_select(node.this) if not isinstance(node.this, exp.Select) else node.this
            if select is not None and select.expressions:
                return self.of(select.expressions[0])
            return "?"
        if isinstance(node, exp.Window):
            return self.of(node.this)
        if isinstance(node, exp.Distinct):
            return self.of(node.expressions[0]) if len(node.expressions) == 1 else "?"
        if isinstance(node, exp.IgnoreNulls | exp.RespectNulls | exp.Filter | exp.WithinGroup):
            return self.of(node.this)
        if isinstance(node, exp.Interval):
            unit = (node.text("unit") or "").upper()
            return "interval year to month" if unit in ("YEAR", "MONTH") else "interval day to second"
        if isinstance(node, exp.Predicate | exp.Connector | exp.Not | exp.Exists):
            return "boolean"
        if isinstance(node, exp.Neg):
            return self.of(node.this)
        if isinstance(node, exp.Add | exp.Sub | exp.Mul | exp.Div | exp.Mod):
            return self._arithmetic(node)
        if isinstance(node, exp.DPipe):
            left, right = self.of(node.this), self.of(node.expression)
            if "array" in (_family(left), _family(right)):
                return left if _family(left) == "array" else right
            return "varchar"
        if isinstance(node, exp.Array):
            return f"array({_common_type([self.of(e) for e in node.expressions]) or '?'})"
        if isinstance(node, exp.Case):
            values = [i.args.get("true") for i in node.args.get("ifs") or []]
            if node.args.get("default") is not None:
                values.append(node.args["default"])
            return _common_type([self.of(v) for v in values]) or "?"
        if isinstance(node, exp.If):
            values = [node.args.get("true"), node.args.get("false")]
            return _common_type([self.of(v) for v in values if v is not None]) or "?"
        if isinstance(node, exp.Coalesce):
            return _common_type([self.of(node.this), *(self.of(e) for e in node.expressions)]) or "?"
        if isinstance(node, exp.Nullif):
            return self.of(node.this)
        if isinstance(node, exp.Bracket):
            base = self.of(node.this)
            return _element(base) if _family(base) == "array" else "?"
        if isinstance(node, exp.Lambda):
            return self.of(node.this)
        lambdas = [a for a in node.iter_expressions() if isinstance(a, exp.Lambda)]
        if lambdas:
            arrays = [a for a in node.iter_expressions() if not isinstance(a, exp.Lambda)]
            element = _element(self.of(arrays[0])) if arrays else "?"
            for function in lambdas:
                names = {p.name.lower() for p in function.expressions}
                for column in function.this.find_all(exp.Column):
                    if not column.table and column.name.lower() in names:
                        self.lambda_vars[id(column)] = element
        spec = _spec_for(node)
        if spec is not None:
            args = [self.of(a) for a in _call_args(node)]
            returns = spec.returns
            return returns(args) if callable(returns) else returns
        return "?"

    def _arithmetic(self, node: exp.Binary) -> str:
        left, right = self.of(node.this), self.of(node.expression)
        families = {_family(left), _family(right)}
        if families & {"date", "timestamp"}:
            return left if _family(left) in ("date", "timestamp") else right
        if families == {"interval"}:
            return left
        if "?" in families:
            return "?"
        if families <= {"int", "null"}:
            known = [t for t in (left, right) if t != "unknown"]
            return max(known, key=_int_rank) if known else "integer"
        if "float" in families:
            return "double" if "double" in (left, right) or families & {"int", "decimal"} else "real"
        if families <= {"int", "decimal", "null"}:
            (p1, s1), (p2, s2) = (_decimal_ps(_int_as_decimal(t)) for t in (left, right))
            if isinstance(node, exp.Add | exp.Sub):
                scale = max(s1, s2)
                return f"decimal({min(38, max(p1 - s1, p2 - s2) + scale + 1)},{scale})"
            if isinstance(node, exp.Mul):
                return f"decimal({min(38, p1 + p2)},{s1 + s2})"
            return "decimal(38,6)"  # division/modulus: refused or rewritten anyway
        return "?"


# --- Trino's functions in Python, registered on the local database -----------------------------------------
#
# Ports of Trino's own code (io.trino.operator.scalar.StringFunctions and friends) where DuckDB's function of
# the same name answers differently. NULL in, NULL out (DuckDB does not call them with a NULL). An error
# Athena raises is raised with its message, prefixed ATHENA_ERROR.

# Java's Character.isWhitespace: what Trino's trim(), ltrim() and rtrim() remove
_JAVA_WHITESPACE = frozenset(
    [*range(0x09, 0x0E), *range(0x1C, 0x21), 0x1680, *range(0x2000, 0x2007), *range(0x2008, 0x200B)]
    + [0x2028, 0x2029, 0x205F, 0x3000]
)


def _athena_error(message: str) -> ValueError:
    return ValueError(ATHENA_ERROR + message)


def _refused(message: str) -> ValueError:
    return ValueError(REFUSED + message)


def _trino_substr(text: str, start: int, length: int | None = None) -> str:
    if start == 0 or not text or (length is not None and length <= 0):
        return ""
    count = len(text)
    if start > 0:
        begin = start - 1
        if begin >= count:
            return ""
    else:
        begin = count + start
        if begin < 0:
            return ""
    return text[begin:] if length is None else text[begin : begin + length]


def _trino_substr2(text: str, start: int) -> str:
    return _trino_substr(text, start)


def _trino_strpos(text: str, sub: str, instance: int) -> int:
    if instance == 0:
        raise _athena_error("'instance' must be a positive or negative number.")
    if not sub:
        return 1
    found = 0
    if instance > 0:
        index = -1
        while found < instance:
            index = text.find(sub, index + 1)
            if index < 0:
                return 0
            found += 1
        return index + 1
    index = len(text)
    while found < -instance:
        index = text.rfind(sub, 0, index - 1 + len(sub)) if index > 0 else -1
        if index < 0:
            return 0
        found += 1
    return index + 1


def _trino_split(text: str, delimiter: str, limit: int | None = None) -> list[str]:
    if limit is None:
        limit = len(text.encode()) + 1
    if limit <= 0:
        raise _athena_error("Limit must be positive")
    if limit > 2**31 - 1:
        raise _athena_error("Limit is too large")
    if not delimiter:
        raise _athena_error("The delimiter may not be the empty string")
    if limit == 1:
        return [text]
    return text.split(delimiter, limit - 1)


def _trino_split2(text: str, delimiter: str) -> list[str]:
    return _trino_split(text, delimiter)


def _trino_split_part(text: str, delimiter: str, index: int) -> str | None:
    if index <= 0:
        raise _athena_error("Index must be greater than zero")
    if not delimiter:
        return text[index - 1] if index <= len(text) else None
    parts = text.split(delimiter)
    return parts[index - 1] if index <= len(parts) else None


def _trino_replace(text: str, search: str, replacement: str) -> str:
    if not search:
        return replacement + "".join(ch + replacement for ch in text)
    return text.replace(search, replacement)


def _trino_reverse(text: str) -> str:
    return text[::-1]


def _pad(text: str, size: int, padding: str, left: bool) -> str:
    if not 0 <= size <= 2**31 - 1:
        raise _athena_error(f"Target length must be in the range [0..{2**31 - 1}]")
    if not padding:
        raise _athena_error("Padding string must not be empty")
    if len(text) >= size:
        return text[:size]
    fill = (padding * (size // len(padding) + 1))[: size - len(text)]
    return fill + text if left else text + fill


def _trino_lpad(text: str, size: int, padding: str) -> str:
    return _pad(text, size, padding, left=True)


def _trino_rpad(text: str, size: int, padding: str) -> str:
    return _pad(text, size, padding, left=False)


def _trino_ltrim(text: str) -> str:
    i = 0
    while i < len(text) and ord(text[i]) in _JAVA_WHITESPACE:
        i += 1
    return text[i:]


def _trino_rtrim(text: str) -> str:
    j = len(text)
    while j > 0 and ord(text[j - 1]) in _JAVA_WHITESPACE:
        j -= 1
    return text[:j]


def _trino_trim(text: str) -> str:
    return _trino_rtrim(_trino_ltrim(text))


def _trino_levenshtein(left: str, right: str) -> int:
    if len(left) < len(right):
        left, right = right, left
    if not right:
        return len(left)
    if len(left) * (len(right) - 1) > 1_000_000:
        raise _athena_error("The combined inputs for Levenshtein distance are too large")
    previous = list(range(len(right) + 1))
    for i, a in enumerate(left, start=1):
        current = [i]
        for j, b in enumerate(right, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a != b)))
        previous = current
    return previous[-1]


def _trino_hamming(left: str, right: str) -> int:
    if len(left) != len(right):
        raise _athena_error("The input strings to hamming_distance function must have the same length")
    return sum(a != b for a, b in zip(left, right, strict=True))


def _trino_codepoint(text: str) -> int:
    if len(text) != 1:
        raise _athena_error("Input string must be a single character string")
    return ord(text)


def _trino_chr(code: int) -> str:
    if not 0 <= code <= 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        raise _athena_error(f"Not a valid Unicode code point: {code}")
    return chr(code)


def _trino_translate(text: str, source: str, target: str) -> str:
    mapping: dict[str, str | None] = {}
    for i, ch in enumerate(source):
        mapping.setdefault(ch, target[i] if i < len(target) else None)
    out = []
    for ch in text:
        if ch not in mapping:
            out.append(ch)
        elif mapping[ch] is not None:
            out.append(mapping[ch])  # type: ignore[arg-type]
    return "".join(out)


def _trino_normalize(text: str, form: str) -> str:
    import unicodedata

    if form not in ("NFD", "NFC", "NFKD", "NFKC"):
        raise _athena_error("Normalization form must be one of [NFD, NFC, NFKD, NFKC]")
    return unicodedata.normalize(form, text)  # type: ignore[arg-type]


def java_double_to_string(value: float) -> str:
    """Java's Double.toString (what Trino's CAST(double AS varchar) gives): the shortest digits that read
    back as the value, in plain notation for 1e-3 <= |x| < 1e7 and as d.dddE<n> otherwise."""
    import math
    from decimal import Decimal

    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    sign, digit_tuple, exponent = Decimal(repr(value)).as_tuple()
    digits = "".join(map(str, digit_tuple))
    stripped = digits.rstrip("0")
    exponent = int(exponent) + len(digits) - len(stripped)  # value = stripped x 10^exponent
    digits = stripped
    prefix = "-" if sign else ""
    if 1e-3 <= abs(value) < 1e7:
        point = len(digits) + exponent  # digits before the decimal point
        if point <= 0:
            return f"{prefix}0.{'0' * -point}{digits}"
        if point >= len(digits):
            return f"{prefix}{digits}{'0' * (point - len(digits))}.0"
        return f"{prefix}{digits[:point]}.{digits[point:]}"
    scientific = exponent + len(digits) - 1  # value = d.ddd x 10^scientific
    return f"{prefix}{digits[0]}.{digits[1:] or '0'}E{scientific}"


def _words(value: float) -> tuple[int, int]:
    import struct

    bits = struct.unpack("<Q", struct.pack("<d", value))[0]
    return bits >> 32, bits & 0xFFFFFFFF


def _from_words(high: int, low: int) -> float:
    import struct

    return struct.unpack("<d", struct.pack("<Q", ((high & 0xFFFFFFFF) << 32) | (low & 0xFFFFFFFF)))[0]


def _trino_cbrt(x: float) -> float:
    """fdlibm's cbrt (Java's StrictMath.cbrt, what Trino's cbrt() calls): exact where the platform's is not
    (cbrt(27) is 3.0, not 3.0000000000000004)."""
    b1, b2 = 715094163, 696219795
    c, d, e = 5.42857142857142815906e-01, -7.05306122448979611050e-01, 1.41428571428571436819e00
    f, g = 1.60714285714285720630e00, 3.57142857142857150787e-01
    hx, lx = _words(x)
    sign = hx & 0x80000000
    hx ^= sign
    if hx >= 0x7FF00000:
        return x + x
    if (hx | lx) == 0:
        return x
    x = _from_words(hx, lx)
    if hx < 0x00100000:  # subnormal
        t = _from_words(0x43500000, 0) * x
        th, tl = _words(t)
        t = _from_words(th // 3 + b2, tl)
    else:
        t = _from_words(hx // 3 + b1, 0)
    r = t * t / x
    s = c + r * t
    t *= g + f / (s + e + d / s)
    th, _ = _words(t)
    t = _from_words(th + 1, 0)
    s = t * t
    r = x / s
    w = t + t
    r = (r - t) / (w + r)
    t = t + t * r
    th, tl = _words(t)
    return _from_words(th | sign, tl)


def _trino_double_to_varchar(value: float) -> str:
    return java_double_to_string(value)


_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


def _check_radix(radix: int) -> None:
    if not 2 <= radix <= 36:
        raise _athena_error("Radix must be between 2 and 36")


def _trino_to_base(value: int, radix: int) -> str:
    _check_radix(radix)
    if value == 0:
        return "0"
    digits = []
    magnitude = abs(value)
    while magnitude:
        magnitude, remainder = divmod(magnitude, radix)
        digits.append(_DIGITS[remainder])
    return ("-" if value < 0 else "") + "".join(reversed(digits))


def _trino_from_base(text: str, radix: int) -> int:
    _check_radix(radix)
    allowed = _DIGITS[:radix]
    body = text[1:] if text[:1] in "+-" else text
    if not body or any(ch.lower() not in allowed for ch in body):
        raise _athena_error(f"Not a valid base-{radix} number: {text}")
    value = int(body, radix) * (-1 if text.startswith("-") else 1)
    if not -(2**63) <= value < 2**63:
        raise _athena_error(f"Not a valid base-{radix} number: {text}")
    return value


def _trino_from_iso8601_date(text: str):
    import datetime as dt

    match = re.fullmatch(r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?", text)
    try:
        if match:
            return dt.date(int(match.group(1)), int(match.group(2) or 1), int(match.group(3) or 1))
        match = re.fullmatch(r"(\d{4})-W(\d{2})(?:-(\d))?", text)
        if match:
            return dt.date.fromisocalendar(int(match.group(1)), int(match.group(2)), int(match.group(3) or 1))
        match = re.fullmatch(r"(\d{4})-(\d{3})", text)
        if match:
            day = int(match.group(2))
            first = dt.date(int(match.group(1)), 1, 1)
            result = first + dt.timedelta(days=day - 1)
            if day < 1 or result.year != first.year:
                raise ValueError
            return result
    except ValueError:
        raise _athena_error(f'Invalid format: "{text}"') from None
    raise _refused(
        f"from_iso8601_date('{text}'): only the forms yyyy, yyyy-MM, yyyy-MM-dd, yyyy-Www[-e] and yyyy-DDD are "
        "read locally"
    )


#: DuckDB function name -> (Python function, parameter types, return type)
TRINO_FUNCTIONS: dict[str, tuple[Callable, tuple[str, ...], str]] = {
    "trino_substr2": (_trino_substr2, ("VARCHAR", "BIGINT"), "VARCHAR"),
    "trino_substr3": (_trino_substr, ("VARCHAR", "BIGINT", "BIGINT"), "VARCHAR"),
    "trino_strpos": (_trino_strpos, ("VARCHAR", "VARCHAR", "BIGINT"), "BIGINT"),
    "trino_split2": (_trino_split2, ("VARCHAR", "VARCHAR"), "VARCHAR[]"),
    "trino_split3": (_trino_split, ("VARCHAR", "VARCHAR", "BIGINT"), "VARCHAR[]"),
    "trino_split_part": (_trino_split_part, ("VARCHAR", "VARCHAR", "BIGINT"), "VARCHAR"),
    "trino_replace": (_trino_replace, ("VARCHAR", "VARCHAR", "VARCHAR"), "VARCHAR"),
    "trino_reverse": (_trino_reverse, ("VARCHAR",), "VARCHAR"),
    "trino_lpad": (_trino_lpad, ("VARCHAR", "BIGINT", "VARCHAR"), "VARCHAR"),
    "trino_rpad": (_trino_rpad, ("VARCHAR", "BIGINT", "VARCHAR"), "VARCHAR"),
    "trino_trim": (_trino_trim, ("VARCHAR",), "VARCHAR"),
    "trino_ltrim": (_trino_ltrim, ("VARCHAR",), "VARCHAR"),
    "trino_rtrim": (_trino_rtrim, ("VARCHAR",), "VARCHAR"),
    "trino_levenshtein": (_trino_levenshtein, ("VARCHAR", "VARCHAR"), "BIGINT"),
    "trino_hamming": (_trino_hamming, ("VARCHAR", "VARCHAR"), "BIGINT"),
    "trino_codepoint": (_trino_codepoint, ("VARCHAR",), "INTEGER"),
    "trino_chr": (_trino_chr, ("BIGINT",), "VARCHAR"),
    "trino_translate": (_trino_translate, ("VARCHAR", "VARCHAR", "VARCHAR"), "VARCHAR"),
    "trino_normalize": (_trino_normalize, ("VARCHAR", "VARCHAR"), "VARCHAR"),
    "trino_double_to_varchar": (_trino_double_to_varchar, ("DOUBLE",), "VARCHAR"),
    "trino_cbrt": (_trino_cbrt, ("DOUBLE",), "DOUBLE"),
    "trino_to_base": (_trino_to_base, ("BIGINT", "BIGINT"), "VARCHAR"),
    "trino_from_base": (_trino_from_base, ("VARCHAR", "BIGINT"), "BIGINT"),
    "trino_from_iso8601_date": (_trino_from_iso8601_date, ("VARCHAR",), "DATE"),
}


def register_trino_functions(connection) -> None:
    """Register TRINO_FUNCTIONS on a DuckDB connection (before its configuration is locked)."""
    import duckdb
    from duckdb import sqltypes

    def duck_type(name: str):
        if name.endswith("[]"):
            return duckdb.list_type(duck_type(name[:-2]))
        return getattr(sqltypes, name)

    from duckdb.func import SPECIAL

    for name, (function, parameters, returns) in TRINO_FUNCTIONS.items():
        connection.create_function(
            name,
            _null_in_null_out(function),
            [duck_type(p) for p in parameters],
            duck_type(returns),
            null_handling=SPECIAL,
            side_effects=False,
        )


def _null_in_null_out(function: Callable) -> Callable:
    import functools

    @functools.wraps(function)
    def call(*args):
        if any(a is None for a in args):
            return None
        return function(*args)

    return call


# --- building DuckDB expressions ----------------------------------------------------------------------------


def _call(name: str, *args: exp.Expression) -> exp.Expression:
    """A call of the DuckDB function `name` (kept as written by the generator)."""
    return exp.Anonymous(this=name, expressions=list(args))


def _str(text: str) -> exp.Literal:
    return exp.Literal.string(text)


def _num(value: int | float | str) -> exp.Literal:
    return exp.Literal.number(value)


def _dup(node: exp.Expression) -> exp.Expression:
    return node.copy()


def _paren(node: exp.Expression) -> exp.Expression:
    return (
        node
        if isinstance(node, exp.Paren | exp.Column | exp.Literal | exp.Anonymous)
        else exp.Paren(this=node)
    )


def _case(pairs: Sequence[tuple[exp.Expression, exp.Expression]], default: exp.Expression | None = None):
    case = exp.Case(ifs=[exp.If(this=c, true=v) for c, v in pairs])
    if default is not None:
        case.set("default", default)
    return case


def _is_null(node: exp.Expression) -> exp.Expression:
    return exp.Is(this=_paren(_dup(node)), expression=exp.Null())


def _any_null(nodes: Sequence[exp.Expression]) -> exp.Expression:
    condition: exp.Expression | None = None
    for node in nodes:
        test = _is_null(node)
        condition = test if condition is None else exp.Or(this=condition, expression=test)
    return condition if condition is not None else exp.false()


def _fail(message: exp.Expression | str, refused: bool = False) -> exp.Expression:
    """DuckDB's error(): an Athena error (or a run-time refusal) with its message."""
    prefix = REFUSED if refused else ATHENA_ERROR
    text = (
        _str(prefix + message)
        if isinstance(message, str)
        else exp.DPipe(this=_str(prefix), expression=message)
    )
    return _call("error", text)


def _text_of(node: exp.Expression) -> exp.Expression:
    """A VARCHAR rendering of a value for an error message."""
    return exp.Cast(this=_dup(node), to=exp.DataType.build("VARCHAR"))


def _isnan(node: exp.Expression) -> exp.Expression:
    return _call("isnan", _dup(node))


# --- the functions the local engine knows -------------------------------------------------------------------

# the Trino argument order of sqlglot's function nodes (default: the node's expressions in declaration order)
_ARG_NAMES: dict[type[exp.Expression], tuple[str, ...]] = {
    exp.Substring: ("this", "start", "length"),
    exp.StrPosition: ("this", "substr", "occurrence"),
    exp.Split: ("this", "expression", "limit"),
    exp.SplitPart: ("this", "delimiter", "part_index"),
    exp.Replace: ("this", "expression", "replacement"),
    exp.Pad: ("this", "expression", "fill_pattern"),
    exp.Trim: ("this", "expression"),
    exp.Round: ("this", "decimals"),
    exp.Trunc: ("this", "decimals"),
    exp.Log: ("this", "expression"),
    exp.Rand: ("this", "lower"),
    exp.Atan: ("this", "expression"),
    exp.Ceil: ("this", "decimals"),
    exp.Floor: ("this", "decimals"),
    exp.Translate: ("this", "from_", "to"),
    exp.Normalize: ("this", "form"),
    exp.Levenshtein: ("this", "expression"),
    exp.RegexpLike: ("this", "expression"),
    exp.RegexpExtract: ("this", "expression", "group"),
    exp.RegexpExtractAll: ("this", "expression", "group"),
    exp.RegexpReplace: ("this", "expression", "replacement"),
    exp.RegexpSplit: ("this", "expression"),
    exp.RegexpCount: ("this", "expression"),
    exp.TimeToStr: ("this", "format"),
    exp.StrToTime: ("this", "format"),
    exp.Count: ("this",),
    exp.Min: ("this", "expressions", "count"),
    exp.Max: ("this", "expressions", "count"),
    exp.ArgMin: ("this", "expression", "count"),
    exp.ArgMax: ("this", "expression", "count"),
    exp.ApproxQuantile: ("this", "weight", "quantile"),
    exp.GroupConcat: ("this", "separator"),
    exp.Lag: ("this", "offset", "default"),
    exp.Lead: ("this", "offset", "default"),
    exp.NthValue: ("this", "offset"),
    exp.ArrayPosition: ("this", "expression"),
    exp.ArrayContains: ("this", "expression"),
    exp.ArrayToString: ("this", "expression", "null"),
    exp.ArrayRemove: ("this", "expression"),
    exp.ArraySort: ("this", "expression"),
    exp.ArraySlice: ("this", "start", "end"),
    exp.GenerateSeries: ("start", "end", "step"),
    exp.Repeat: ("this", "times"),
    exp.WidthBucket: ("this", "min_value", "max_value", "num_buckets"),
    exp.FromBase: ("this", "expression"),
    exp.Corr: ("this", "expression"),
    exp.ArraySize: ("this",),
    exp.CountIf: ("this",),
    exp.ApproxDistinct: ("this", "accuracy"),
    exp.Date: ("this",),
    exp.LastDay: ("this",),
    exp.CurrentDate: (),
    exp.CurrentTimestamp: (),
    exp.UnixToTime: ("this",),
}


def _call_args(node: exp.Expression) -> list[exp.Expression]:
    """The arguments of a function call node, in Trino's order."""
    if isinstance(node, exp.Anonymous):
        return list(node.expressions)
    names = _ARG_NAMES.get(type(node))
    if names is None:
        names = tuple(node.arg_types)
    args: list[exp.Expression] = []
    for name in names:
        value = node.args.get(name)
        if isinstance(value, list):
            args.extend(v for v in value if isinstance(v, exp.Expression))
        elif isinstance(value, exp.Expression):
            args.append(value)
    return args


@dataclass(frozen=True)
class _Fn:
    """A Trino function the local engine answers: argument kinds, result type, and the DuckDB SQL (None:
    sqlglot's DuckDB rendering is Trino's meaning)."""

    args: tuple[str, ...]
    returns: str | Callable[[list[str]], str]
    rewrite: Callable[..., exp.Expression] | None = None
    optional: int = 0  # how many trailing arguments may be left out
    what: str = "kept"  # for FUNCTIONS: kept / rewritten


def _same(types: list[str]) -> str:
    return types[0] if types else "?"


def _double(_types: list[str]) -> str:
    return "double"


def _decimal_integral(types: list[str]) -> str:
    t = types[0] if types else "?"
    if _family(t) == "decimal":
        p, s = _decimal_ps(t)
        return f"decimal({max(1, p - s + min(s, 1))},0)"
    return t


def _sum_type(types: list[str]) -> str:
    t = types[0] if types else "?"
    family = _family(t)
    if family == "int":
        return "bigint"
    if family == "decimal":
        return f"decimal(38,{_decimal_ps(t)[1]})"
    return t


def _array_of(inner: str | Callable[[list[str]], str]) -> Callable[[list[str]], str]:
    def returns(types: list[str]) -> str:
        element = inner(types) if callable(inner) else inner
        return f"array({element})"

    return returns


def _element_type(types: list[str]) -> str:
    return _element(types[0]) if types else "?"


def _kept(args, returns, optional=0) -> _Fn:
    return _Fn(tuple(args), returns, None, optional, "kept")


def _rw(args, returns, rewrite, optional=0) -> _Fn:
    return _Fn(tuple(args), returns, rewrite, optional, "rewritten")


# -- rewrites (tr: the _Translator; args: rewritten arguments; types: their Trino types)


def _udf(name: str) -> Callable[..., exp.Expression]:
    def rewrite(tr, node, args, types):
        return _call(name, *args)

    return rewrite


def _rw_log10(tr, node, args, types):
    return _call("log10", args[0])


def _rw_log2(tr, node, args, types):
    return exp.Div(this=_call("ln", args[0]), expression=_call("ln", _num(2)))


def _rw_log(tr, node, args, types):
    return exp.Div(this=_call("ln", args[1]), expression=_call("ln", args[0]))


def _rw_e(tr, node, args, types):
    return exp.Cast(this=_str("2.718281828459045"), to=exp.DataType.build("DOUBLE"))


def _rw_pi(tr, node, args, types):
    return _call("pi")


def _rw_nan(tr, node, args, types):
    return exp.Cast(this=_str("NaN"), to=exp.DataType.build("DOUBLE"))


def _rw_infinity(tr, node, args, types):
    return exp.Cast(this=_str("Infinity"), to=exp.DataType.build("DOUBLE"))


def _rw_pow(tr, node, args, types):
    x, p = args
    nan = exp.Cast(this=_str("NaN"), to=exp.DataType.build("DOUBLE"))
    one_inf = exp.And(
        this=exp.EQ(this=_call("abs", _dup(x)), expression=_num(1)), expression=_call("isinf", _dup(p))
    )
    return _case([(_isnan(p), nan), (one_inf, nan.copy())], _call("pow", _dup(x), _dup(p)))


def _java_round(value: exp.Expression) -> exp.Expression:
    """Java's Math.round of a non-negative DOUBLE (floor, plus one from a fraction of 0.5 up)."""
    floor = _call("floor", _dup(value))
    up = exp.GTE(this=exp.Sub(this=_dup(value), expression=floor.copy()), expression=_num("0.5"))
    return exp.Add(this=floor, expression=_case([(up, _num(1))], _num(0)))


def _rw_round(tr, node, args, types):
    x = args[0]
    family = _family(types[0])
    if family in ("int", "decimal", "null", "?"):
        return _call("round", *args)
    if family != "float":
        raise QueryRefused(f"round() of a {types[0].upper()} is not a function in Athena: {_shown(node)}")
    digits = args[1] if len(args) > 1 else _num(0)
    factor = _call("pow", _num("10.0"), _dup(digits))
    scaled = exp.Mul(this=_call("abs", _dup(x)), expression=factor)
    rounded = exp.Div(this=_paren(_java_round(scaled)), expression=factor.copy())
    too_big = exp.GTE(this=scaled.copy(), expression=_num("9.223372036854775807E18"))
    negative = exp.LT(this=_dup(x), expression=_num(0))
    return _case(
        [
            (exp.Or(this=_isnan(x), expression=_call("isinf", _dup(x))), _dup(x)),
            (
                too_big,
                _fail(
                    f"{_shown(node)}: rounding a value of 2^63 or more (after scaling) is not supported "
                    "locally (Athena saturates it to 9.223372036854776E18); run it with --athena",
                    refused=True,
                ),
            ),
            (negative, exp.Neg(this=_paren(rounded))),
        ],
        rounded.copy(),
    )


def _rw_sign(tr, node, args, types):
    x = args[0]
    family = _family(types[0])
    if family == "float":
        zero_or_nan = exp.Or(this=_isnan(x), expression=exp.EQ(this=_dup(x), expression=_num(0)))
        return _case(
            [(zero_or_nan, _dup(x))], exp.Cast(this=_call("sign", _dup(x)), to=exp.DataType.build("DOUBLE"))
        )
    if family == "decimal":
        return exp.Cast(this=_call("sign", x), to=exp.DataType.build("DECIMAL(1, 0)"))
    return _call("sign", x)


def _rw_truncate(tr, node, args, types):
    if len(args) > 1 and _family(types[0]) != "decimal":
        raise QueryRefused(f"truncate(x, n) takes a DECIMAL x in Athena: {_shown(node)}")
    return _call("trunc", *args)


def _rw_random(tr, node, args, types):
    if not args:
        return _call("random")
    if len(args) == 1:
        (n,) = args
        target = exp.DataType.build(types[0].upper() if types[0] in _INTEGERS else "BIGINT")
        value = exp.Cast(this=_call("floor", exp.Mul(this=_call("random"), expression=_dup(n))), to=target)
        return _case([(exp.LTE(this=_dup(n), expression=_num(0)), _fail("bound must be positive"))], value)
    low, high = args
    target = exp.DataType.build(
        _common_type(types[:2]).upper() if _common_type(types[:2]) in _INTEGERS else "BIGINT"
    )
    span = exp.Sub(this=_dup(high), expression=_dup(low))
    value = exp.Cast(
        this=exp.Add(
            this=_dup(low), expression=_call("floor", exp.Mul(this=_call("random"), expression=span))
        ),
        to=target,
    )
    return _case(
        [(exp.GTE(this=_dup(low), expression=_dup(high)), _fail("start value must be less than stop value"))],
        value,
    )


def _rw_width_bucket(tr, node, args, types):
    x, b1, b2, n = (
        exp.Cast(this=_dup(a), to=exp.DataType.build("DOUBLE")) if i < 3 else _dup(a)
        for i, a in enumerate(args)
    )
    lower = _call("least", b1.copy(), b2.copy())
    upper = _call("greatest", b1.copy(), b2.copy())
    inside = exp.Cast(
        this=exp.Add(
            this=exp.Div(
                this=exp.Mul(
                    this=exp.Cast(this=n.copy(), to=exp.DataType.build("DOUBLE")),
                    expression=exp.Sub(this=x.copy(), expression=lower.copy()),
                ),
                expression=exp.Sub(this=upper.copy(), expression=lower.copy()),
            ),
            expression=_num(1),
        ),
        to=exp.DataType.build("BIGINT"),
    )
    trunc_inside = exp.Cast(this=_call("trunc", inside.this), to=exp.DataType.build("BIGINT"))
    bucket = _case(
        [
            (exp.LT(this=x.copy(), expression=lower.copy()), _num(0)),
            (exp.GTE(this=x.copy(), expression=upper.copy()), exp.Add(this=n.copy(), expression=_num(1))),
        ],
        trunc_inside,
    )
    flipped = exp.Add(this=exp.Sub(this=n.copy(), expression=_paren(bucket.copy())), expression=_num(1))
    result = _case([(exp.GT(this=b1.copy(), expression=b2.copy()), flipped)], bucket)
    return _case(
        [
            (exp.LTE(this=n.copy(), expression=_num(0)), _fail("bucketCount must be greater than 0")),
            (_isnan(x), _fail("operand must not be NaN")),
            (exp.Not(this=_call("isfinite", b1.copy())), _fail("first bound must be finite")),
            (exp.Not(this=_call("isfinite", b2.copy())), _fail("second bound must be finite")),
            (exp.EQ(this=b1.copy(), expression=b2.copy()), _fail("bounds cannot equal each other")),
        ],
        result,
    )


# strings


def _rw_substr(tr, node, args, types):
    return _call("trino_substr3" if len(args) == 3 else "trino_substr2", *args)


def _rw_strpos(tr, node, args, types):
    return _call("trino_strpos", args[0], args[1], args[2] if len(args) > 2 else _num(1))


def _rw_split(tr, node, args, types):
    return _call("trino_split3" if len(args) == 3 else "trino_split2", *args)


def _rw_replace(tr, node, args, types):
    return _call("trino_replace", args[0], args[1], args[2] if len(args) > 2 else _str(""))


def _rw_reverse(tr, node, args, types):
    if _family(types[0]) == "array":
        return _call("list_reverse", args[0])
    return _call("trino_reverse", args[0])


def _rw_pad(tr, node, args, types):
    if len(args) != 3:
        raise QueryRefused(f"{_fn_name(node)}() takes three arguments in Athena (string, size, padstring)")
    return _call("trino_lpad" if node.args.get("is_left") else "trino_rpad", *args)


def _rw_trim(tr, node, args, types):
    position = (node.args.get("position") or "BOTH").upper() if isinstance(node, exp.Trim) else "BOTH"
    if isinstance(node, exp.Anonymous):
        position = {"ltrim": "LEADING", "rtrim": "TRAILING"}.get(str(node.this).lower(), "BOTH")
    if len(args) == 1:
        name = {"LEADING": "trino_ltrim", "TRAILING": "trino_rtrim"}.get(position, "trino_trim")
        return _call(name, args[0])
    name = {"LEADING": "ltrim", "TRAILING": "rtrim"}.get(position, "trim")
    return _call(name, args[0], args[1])


def _rw_concat(tr, node, args, types):
    if any(_family(t) == "array" for t in types):
        return _concat_arrays(node, args, types)
    for t in types:
        if _family(t) not in ("str", "null", "?"):
            raise QueryRefused(
                f"concat() of a {t.upper()} ({_shown(node)}): Athena concatenates strings only; CAST it to VARCHAR"
            )
    result = _paren(args[0])
    for arg in args[1:]:
        result = exp.DPipe(this=result, expression=_paren(arg))
    return _paren(result)


def _concat_arrays(node, args, types):
    result = None
    for arg, t in zip(args, types, strict=True):
        piece = arg if _family(t) in ("array", "null") else exp.Array(expressions=[arg])
        result = piece if result is None else _call("list_concat", result, piece)
    nulls = _any_null(args)
    return _case([(nulls, exp.Null())], result)


def _rw_concat_ws(tr, node, args, types):
    if len(types) == 2 and _family(types[1]) == "array":
        sep, array = args
        kept = _call(
            "list_filter",
            array,
            exp.Lambda(
                this=exp.Not(this=_is_null(exp.column("__x"))), expressions=[exp.to_identifier("__x")]
            ),
        )
        return _case([(_is_null(sep), exp.Null())], _call("array_to_string", kept, _dup(sep)))
    for t in types:
        if _family(t) not in ("str", "null", "?"):
            raise QueryRefused(f"concat_ws() of a {t.upper()} ({_shown(node)}): Athena takes strings only")
    return _call("concat_ws", *args)


def _rw_chr(tr, node, args, types):
    return _call("trino_chr", *args)


def _rw_length(tr, node, args, types):
    return _call("length", args[0])


def _rw_starts_with(tr, node, args, types):
    return _call("starts_with", *args)


def _rw_ends_with(tr, node, args, types):
    return _call("suffix", *args)


# regular expressions (Athena: Joni, a Java-like engine; DuckDB: RE2)

_RE2_REFUSED = [
    (r"\(\?(?:[=!]|<[=!])", "lookaround (?=, (?!, (?<=, (?<!"),
    (r"(?<!\\)\\[1-9]", "a backreference (\\1)"),
    (r"\\[ZGRXhHKk]", "an escape RE2 does not know (\\Z, \\G, \\R, \\X, \\h, \\K, \\k)"),
    (r"[*+?}]\+", "a possessive quantifier"),
    (r"\(\?>", "an atomic group"),
    (r"\\p\{(?:Is|In|javaL|java)", "a Java Unicode class"),
    (r"\[[^\]]*\[", "a nested character class"),
    (r"&&", "a character class intersection (&&)"),
    (r"\\Q", "\\Q...\\E quoting"),
]


def _pattern(node: exp.Expression, pattern: exp.Expression) -> str:
    """The regular expression of a regexp_*() call: a constant string RE2 reads as Athena does."""
    if not (isinstance(pattern, exp.Literal) and pattern.is_string):
        raise QueryRefused(
            f"{_fn_name(node)}() needs a constant pattern string locally (the pattern is checked for constructs "
            f"the two regular-expression engines read differently): {_shown(node)}"
        )
    text = pattern.this
    for check, what in _RE2_REFUSED:
        if re.search(check, text):
            raise QueryRefused(
                f"the pattern {text!r} of {_fn_name(node)}() uses {what}, which the local engine (RE2) does not "
                "read as Athena does; run it with --athena"
            )
    return text


def _pattern_features(pattern: str) -> tuple[set[str], set[str]]:
    """The metacharacters used outside character classes, and the letters of the escapes used."""
    metas: set[str] = set()
    escapes: set[str] = set()
    i, in_class = 0, False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            escapes.add(pattern[i + 1 : i + 2])
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
        else:
            metas.add(ch)
        i += 1
    return metas, escapes


def _regexp_guard(node: exp.Expression, subject: exp.Expression, pattern: str, result: exp.Expression):
    """Where Athena's regular expressions (Java-like) and RE2 may differ only on some strings, refuse those
    strings at run time: line terminators other than \\n for ^ $ . (Java's '.' skips \\r, its '$' matches before
    a final line break), non-ASCII characters for the classes \\w \\b \\d \\s and case-insensitive matching."""
    metas, escapes = _pattern_features(pattern)
    tests: list[str] = []
    if metas & set("^$.") or escapes & set("sS"):
        tests.append("[\\r\\n\\x0B\\x{85}\\x{2028}\\x{2029}]")
    if escapes & set("wWbBdDsSpP") or "(?i" in pattern:
        tests.append("[^\\x00-\\x7F]")
    if not tests:
        return result
    bad = _call("regexp_matches", _dup(subject), _str("|".join(tests)))
    refusal = _fail(
        f"{_fn_name(node)}() with the pattern {pattern!r} on a string holding a line break or a non-ASCII "
        "character: the local engine (RE2) may not read it as Athena does; run it with --athena",
        refused=True,
    )
    return _case([(bad, refusal)], result)


def _rw_regexp_like(tr, node, args, types):
    pattern = _pattern(node, args[1])
    return _regexp_guard(node, args[0], pattern, _call("regexp_matches", *args))


def _refuse_optional_groups(node: exp.Expression, pattern: str, group: exp.Expression) -> None:
    if _int_value(group) != 0 and _optional_groups(pattern):
        raise QueryRefused(
            f"{_shown(node)}: a group of this pattern may not take part in a match (alternation or an optional "
            "group); Athena gives NULL for it, the local engine (RE2) ''; run it with --athena"
        )


def _rw_regexp_extract(tr, node, args, types):
    _pattern(node, args[1])
    group = args[2] if len(args) > 2 else _num(0)
    _refuse_optional_groups(node, args[1].this, group)
    groups = _count_groups(args[1].this)
    extracted = _call("regexp_extract", _dup(args[0]), _dup(args[1]), _dup(group))
    matches = _call("regexp_matches", _dup(args[0]), _dup(args[1]))
    result = _case([(matches, extracted)])
    return _regexp_guard(node, args[0], args[1].this, _group_check(group, groups, result))


def _group_check(group: exp.Expression, groups: int | None, result: exp.Expression) -> exp.Expression:
    if groups is None:
        return result
    constant = _int_value(group)
    if constant is not None:
        if 0 <= constant <= groups:
            return result
        if constant < 0:
            return _fail("Group cannot be negative")
        return _fail(f"Pattern has {groups} groups. Cannot access group {constant}")
    bad = exp.Or(
        this=exp.LT(this=_dup(group), expression=_num(0)),
        expression=exp.GT(this=_dup(group), expression=_num(groups)),
    )
    message = exp.DPipe(
        this=_str(f"Pattern has {groups} groups. Cannot access group "), expression=_text_of(group)
    )
    return _case([(bad, _fail(message))], result)


def _rw_regexp_extract_all(tr, node, args, types):
    _pattern(node, args[1])
    group = args[2] if len(args) > 2 else _num(0)
    _refuse_optional_groups(node, args[1].this, group)
    groups = _count_groups(args[1].this)
    result = _group_check(
        group, groups, _call("regexp_extract_all", _dup(args[0]), _dup(args[1]), _dup(group))
    )
    return _regexp_guard(node, args[0], args[1].this, result)


def _java_replacement(node: exp.Expression, replacement: exp.Expression) -> str:
    """A Java (Trino) replacement string as RE2's: $n -> \\n, \\$ -> $, \\x -> x; ${name} refused."""
    if not (isinstance(replacement, exp.Literal) and replacement.is_string):
        raise QueryRefused(f"regexp_replace() needs a constant replacement string locally: {_shown(node)}")
    text = replacement.this
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            if i + 1 >= len(text):
                raise QueryRefused(
                    f"the replacement {text!r} ends with a lone backslash (an error in Athena)"
                )
            literal = text[i + 1]
            out.append("\\\\" if literal == "\\" else literal)
            i += 2
        elif ch == "$":
            match = re.match(r"\$(\d)", text[i:])
            if match is None:
                raise QueryRefused(
                    f"the replacement {text!r} uses ${{name}} or a lone $, not supported locally; write $1 (a "
                    "group number) or \\$ for a dollar sign"
                )
            out.append("\\" + match.group(1))
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def _rw_regexp_replace(tr, node, args, types):
    pattern = _pattern(node, args[1])
    replacement = _java_replacement(node, args[2]) if len(args) > 2 else ""
    groups = _count_groups(pattern)
    if groups is not None:
        for used in re.findall(r"\\(\d)", replacement.replace("\\\\", "")):
            if int(used) > groups:
                raise QueryRefused(
                    f"the replacement of {_shown(node)} names group {used}, but the pattern has {groups} "
                    "(an error in Athena)"
                )
    result = _call("regexp_replace", _dup(args[0]), args[1], _str(replacement), _str("g"))
    return _regexp_guard(node, args[0], pattern, result)


def _rw_regexp_count(tr, node, args, types):
    pattern = _pattern(node, args[1])
    return _regexp_guard(node, args[0], pattern, _call("len", _call("regexp_extract_all", *args)))


def _rw_regexp_split(tr, node, args, types):
    pattern = _pattern(node, args[1])
    return _regexp_guard(node, args[0], pattern, _call("string_split_regex", *args))


def _count_groups(pattern: str) -> int:
    """Capturing groups of a regular expression: '(' not escaped, not in a class, not '(?...)' except
    named groups."""
    groups = 0
    i = 0
    in_class = False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
            if pattern[i + 1 : i + 2] == "]":
                i += 1
        elif ch == "(":
            rest = pattern[i + 1 : i + 4]
            if (
                not rest.startswith("?")
                or rest.startswith(("?P<", "?<"))
                and not rest.startswith(("?<=", "?<!"))
            ):
                groups += 1
        i += 1
    return groups


def _optional_groups(pattern: str) -> bool:
    """Whether a group might not take part in a match (alternation, or a group made optional): Athena then
    gives NULL for it, RE2 ''."""
    return "|" in pattern or re.search(r"\)(?:[?*]|\{0)", pattern) is not None


# dates and times


def _unit_of(node: exp.Expression) -> str:
    unit = node.args.get("unit")
    text = unit.name if isinstance(unit, exp.Expression) else str(unit or "")
    return text.strip("'\"").lower()


_DATE_UNITS = ("day", "week", "month", "quarter", "year")
_TIME_UNITS = ("millisecond", "second", "minute", "hour")


def _check_unit(node: exp.Expression, unit: str, value_type: str) -> None:
    if unit not in _DATE_UNITS + _TIME_UNITS:
        raise QueryRefused(f"{_fn_name(node)}() has no unit {unit!r} in Athena: {_shown(node)}")
    if _family(value_type) == "date" and unit in _TIME_UNITS:
        raise QueryRefused(
            f"{_shown(node)}: Athena takes units of a day or more for a DATE ({unit!r} is an error there)"
        )


def _rw_date_add(tr, node, args, types):
    unit = _unit_of(node)
    value, amount = node.this, node.expression
    value_type = tr.types.of(value)
    _check_unit(node, unit, value_type)
    if _family(value_type) not in ("date", "timestamp", "null", "?"):
        raise QueryRefused(f"date_add() of a {value_type.upper()}: {_shown(node)}")
    if _family(tr.types.of(amount)) not in ("int", "null", "?"):
        raise QueryRefused(f"date_add() takes a whole number of {unit}s (BIGINT): {_shown(node)}")
    if unit == "millisecond":
        interval = exp.Interval(
            this=exp.Mul(this=_paren(_dup(amount)), expression=_num(1000)), unit=exp.var("MICROSECOND")
        )
    else:
        interval = exp.Interval(this=_paren(_dup(amount)), unit=exp.var(unit.upper()))
    result = exp.Add(this=_paren(_dup(value)), expression=interval)
    if _family(value_type) == "date":
        return exp.Cast(this=result, to=exp.DataType.build("DATE"))
    return result


def _rw_date_diff(tr, node, args, types):
    unit = _unit_of(node)
    first, second = node.expression, node.this  # DateDiff(this=end, expression=start)
    start_type, end_type = tr.types.of(first), tr.types.of(second)
    _check_unit(node, unit, start_type if _family(start_type) == "date" else end_type)
    for t in (start_type, end_type):
        if _family(t) not in ("date", "timestamp", "null", "?"):
            raise QueryRefused(f"date_diff() of a {t.upper()}: {_shown(node)}")
    if _family(start_type) != _family(end_type) and "null" not in (_family(start_type), _family(end_type)):
        raise QueryRefused(f"date_diff() of a {start_type.upper()} and a {end_type.upper()}: {_shown(node)}")
    return _call("date_sub", _str(unit), _dup(first), _dup(second))


def _rw_date_trunc(tr, node, args, types):
    unit = _unit_of(node)
    value = node.this
    value_type = tr.types.of(value)
    _check_unit(node, unit, value_type)
    truncated = _call("date_trunc", _str(unit), _dup(value))
    if _family(value_type) == "date":
        return exp.Cast(this=truncated, to=exp.DataType.build("DATE"))
    return truncated


def _rw_extract(tr, node, args, types):
    field = node.this.name.upper() if isinstance(node.this, exp.Expression) else str(node.this).upper()
    value = node.expression
    parts = {
        "YEAR": "year",
        "QUARTER": "quarter",
        "MONTH": "month",
        "WEEK": "week",
        "DAY": "day",
        "DAY_OF_MONTH": "day",
        "DAY_OF_WEEK": "isodow",
        "DOW": "isodow",
        "DAY_OF_YEAR": "dayofyear",
        "DOY": "dayofyear",
        "YEAR_OF_WEEK": "isoyear",
        "YOW": "isoyear",
        "HOUR": "hour",
        "MINUTE": "minute",
        "SECOND": "second",
    }
    if field not in parts:
        raise QueryRefused(f"extract({field} FROM ...) is not supported locally; run it with --athena")
    if field in ("HOUR", "MINUTE", "SECOND") and _family(tr.types.of(value)) == "date":
        raise QueryRefused(f"extract({field} FROM <date>) is an error in Athena: {_shown(node)}")
    return exp.Cast(this=_call(parts[field], _dup(value)), to=exp.DataType.build("BIGINT"))


def _extract_fn(part: str, time_only: bool = False) -> Callable[..., exp.Expression]:
    def rewrite(tr, node, args, types):
        if time_only and _family(types[0]) == "date":
            raise QueryRefused(f"{_fn_name(node)}() of a DATE is an error in Athena: {_shown(node)}")
        if part == "millisecond":
            return exp.Cast(
                this=exp.Mod(this=_call("millisecond", args[0]), expression=_num(1000)),
                to=exp.DataType.build("BIGINT"),
            )
        return exp.Cast(this=_call(part, args[0]), to=exp.DataType.build("BIGINT"))

    return rewrite


def _rw_last_day(tr, node, args, types):
    return _call("last_day", args[0])


def _rw_from_iso8601_date(tr, node, args, types):
    return _call("trino_from_iso8601_date", args[0])


def _rw_from_unixtime(tr, node, args, types):
    if len(args) != 1:
        raise QueryRefused("from_unixtime() with a time zone is not supported locally; run it with --athena")
    micros = exp.Cast(
        this=_call("round", exp.Mul(this=_paren(_dup(args[0])), expression=_num(1000))),
        to=exp.DataType.build("BIGINT"),
    )
    return _call("make_timestamptz", exp.Mul(this=_paren(micros), expression=_num(1000)))


def _rw_to_unixtime(tr, node, args, types):
    return _call("epoch", args[0])


def _rw_to_iso8601(tr, node, args, types):
    family = _family(types[0])
    if family == "date":
        return _call("strftime", args[0], _str("%Y-%m-%d"))
    if types[0] == "timestamp":
        return _call("strftime", args[0], _str("%Y-%m-%dT%H:%M:%S.%g"))
    raise QueryRefused(f"to_iso8601() of a {types[0].upper()} is not supported locally: {_shown(node)}")


def _rw_current_date(tr, node, args, types):
    return exp.CurrentDate()


def _rw_now(tr, node, args, types):
    return _call("date_trunc", _str("millisecond"), _call("now"))


def _rw_current_timezone(tr, node, args, types):
    return _str("UTC")


def _rw_date_format(tr, node, args, types):
    fmt = args[1] if len(args) > 1 else None
    if not (isinstance(fmt, exp.Literal) and fmt.is_string):
        raise QueryRefused(f"date_format() needs a constant format string locally: {_shown(node)}")
    if _family(types[0]) not in ("date", "timestamp", "null", "?") or types[0] == "timestamp with time zone":
        raise QueryRefused(f"date_format() of a {types[0].upper()} is not supported locally: {_shown(node)}")
    return _call("strftime", args[0], _str(mysql_to_strftime(fmt.this, parse=False)))


def _rw_date_parse(tr, node, args, types):
    fmt = args[1] if len(args) > 1 else None
    if not (isinstance(fmt, exp.Literal) and fmt.is_string):
        raise QueryRefused(f"date_parse() needs a constant format string locally: {_shown(node)}")
    pattern = mysql_to_strftime(fmt.this, parse=True)
    text = args[0]
    if not re.search(r"%[Yy]", pattern):  # Joda's default year is 1970, strptime's 1900
        text = exp.DPipe(this=_paren(text), expression=_str("\x01" + "1970"))
        pattern += "\x01%Y"
    parsed = _call("strptime", text, _str(pattern))
    if "%I" in pattern and "%p" not in pattern:  # 12-hour clock, no AM/PM: Joda reads 12 as 0
        parsed = _case(
            [
                (
                    exp.EQ(this=_call("hour", parsed.copy()), expression=_num(12)),
                    exp.Sub(this=parsed.copy(), expression=exp.Interval(this=_num(12), unit=exp.var("HOUR"))),
                )
            ],
            parsed.copy(),
        )
    if "%y" in pattern:  # Joda's two-digit years are 1970..2069, strptime's 1969..2068
        parsed = _case(
            [
                (
                    exp.EQ(this=_call("year", parsed.copy()), expression=_num(1969)),
                    exp.Add(
                        this=parsed.copy(), expression=exp.Interval(this=_num(100), unit=exp.var("YEAR"))
                    ),
                )
            ],
            parsed.copy(),
        )
    return parsed


# MySQL specifiers (Trino's date_format / date_parse) -> strftime
_MYSQL_FORMAT = {
    "a": "%a",
    "b": "%b",
    "c": "%-m",
    "d": "%d",
    "e": "%-d",
    "f": "%g000",
    "H": "%H",
    "h": "%I",
    "I": "%I",
    "i": "%M",
    "j": "%j",
    "k": "%-H",
    "l": "%-I",
    "M": "%B",
    "m": "%m",
    "p": "%p",
    "r": "%I:%M:%S %p",
    "S": "%S",
    "s": "%S",
    "T": "%H:%M:%S",
    "v": "%V",
    "W": "%A",
    "x": "%G",
    "Y": "%Y",
    "y": "%y",
    "%": "%%",
}
_MYSQL_PARSE = {
    "b": "%b",
    "c": "%m",
    "d": "%d",
    "e": "%d",
    "H": "%H",
    "h": "%I",
    "I": "%I",
    "i": "%M",
    "j": "%j",
    "k": "%H",
    "l": "%I",
    "M": "%B",
    "m": "%m",
    "p": "%p",
    "r": "%I:%M:%S %p",
    "S": "%S",
    "s": "%S",
    "T": "%H:%M:%S",
    "Y": "%Y",
    "y": "%y",
    "%": "%%",
}
_MYSQL_UNSUPPORTED = "DUuVwX"


def mysql_to_strftime(pattern: str, parse: bool = False) -> str:
    """A MySQL date format (Trino's date_format / date_parse) as strftime / strptime; QueryRefused names a
    specifier Athena rejects or the local engine cannot read as Athena does."""
    table = _MYSQL_PARSE if parse else _MYSQL_FORMAT
    out: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch != "%":
            out.append(ch)
            i += 1
            continue
        if i + 1 >= len(pattern):
            out.append("%%")
            break
        spec = pattern[i + 1]
        i += 2
        if spec in _MYSQL_UNSUPPORTED:
            raise QueryRefused(
                f"the date format specifier %{spec} (in {pattern!r}) is not supported by Athena"
            )
        if spec in table:
            out.append(table[spec])
        elif spec in _MYSQL_FORMAT or spec in _MYSQL_PARSE:
            raise QueryRefused(
                f"date_parse() with %{spec} (in {pattern!r}) is not supported locally; run it with --athena"
            )
        else:
            out.append("%%" if spec == "%" else spec)  # %x for any other x is the character x
    return "".join(out)


# aggregates and window functions


def _core(node: exp.Expression) -> exp.Expression:
    node.meta["aggregate_core"] = True
    return node


def _rw_sum(tr, node, args, types):
    if types and _family(types[0]) not in ("int", "decimal", "float", "null", "?", "interval"):
        raise QueryRefused(f"sum() of a {types[0].upper()} is not a function in Athena: {_shown(node)}")
    if types and _family(types[0]) == "int":
        return exp.Cast(this=_core(node), to=exp.DataType.build("BIGINT"))
    return node


def _rw_avg(tr, node, args, types):
    if types and _family(types[0]) == "decimal":
        raise QueryRefused(
            f"avg() of a DECIMAL ({_shown(node)}): Athena keeps the DECIMAL scale, the local engine averages in "
            "DOUBLE; CAST the argument to DOUBLE, or run it with --athena"
        )
    if types and _family(types[0]) not in ("int", "float", "null", "?", "interval"):
        raise QueryRefused(f"avg() of a {types[0].upper()} is not a function in Athena: {_shown(node)}")
    return node


def _rw_minmax(tr, node, args, types):
    name = "max" if isinstance(node, exp.Max) else "min"
    return _call(name, *args)


def _rw_by(tr, node, args, types):
    name = "arg_max" if isinstance(node, exp.ArgMax) else "arg_min"
    if len(args) == 2:
        return _call(name + "_null", *args)
    return _call(name, *args)


def _rw_skewness(tr, node, args, types):
    x = args[0]

    def count() -> exp.Expression:
        return _core(_call("count", _dup(x)))

    correction = exp.Div(
        this=exp.Sub(this=count(), expression=_num(2)),
        expression=_call("sqrt", exp.Mul(this=count(), expression=exp.Sub(this=count(), expression=_num(1)))),
    )
    return exp.Mul(this=_core(_call("skewness", _dup(x))), expression=_paren(correction))


def _rw_geometric_mean(tr, node, args, types):
    return _call("exp", _core(_call("avg", _call("ln", args[0]))))


def _rw_count_if(tr, node, args, types):
    return exp.Cast(this=_core(_call("count_if", args[0])), to=exp.DataType.build("BIGINT"))


def _rw_bool_and(tr, node, args, types):
    return _call("bool_and", args[0])


def _rw_bool_or(tr, node, args, types):
    return _call("bool_or", args[0])


def _rw_approx_percentile(tr, node, args, types):
    if len(args) != 2:
        raise QueryRefused("approx_percentile with a weight is not supported locally; run it with --athena")
    return _call("quantile_disc", args[0], args[1])


def _rw_approx_distinct(tr, node, args, types):
    if len(args) != 1:
        raise QueryRefused("approx_distinct(x, e) is not supported locally; run it with --athena")
    return exp.Count(this=exp.Distinct(expressions=[args[0]]))


def _rw_offset_window(tr, node, args, types):
    if len(args) > 1:
        offset = node.args.get("offset")
        if not (isinstance(offset, exp.Literal) and offset.is_int):
            raise QueryRefused(f"{_fn_name(node)}() needs a constant offset locally: {_shown(node)}")
        if int(offset.this) < 0 or (isinstance(node, exp.NthValue) and int(offset.this) == 0):
            raise QueryRefused(
                f"{_shown(node)}: the offset must be at least {1 if isinstance(node, exp.NthValue) else 0} in Athena"
            )
    return node


# arrays


def _list_has_null(array: exp.Expression) -> exp.Expression:
    return exp.GT(
        this=_call("len", _call("list_filter", _dup(array), _lambda("__e", _is_null(exp.column("__e"))))),
        expression=_num(0),
    )


def _lambda(name: str, body: exp.Expression) -> exp.Lambda:
    return exp.Lambda(this=body, expressions=[exp.to_identifier(name)])


def _rw_cardinality(tr, node, args, types):
    return _call("len", args[0])


def _rw_contains(tr, node, args, types):
    array, value = args
    found = _call("list_contains", _dup(array), _dup(value))
    return _case(
        [(_is_null(value), exp.Null()), (found, exp.true()), (_list_has_null(array), exp.Null())],
        exp.false(),
    )


def _rw_array_position(tr, node, args, types):
    array, value = args
    return _case(
        [(_is_null(value), exp.Null())],
        _call("coalesce", _call("list_position", _dup(array), _dup(value)), _num(0)),
    )


def _rw_array_minmax(tr, node, args, types):
    name = "list_max" if isinstance(node, exp.ArrayMax) else "list_min"
    array = args[0]
    checks = [(_list_has_null(array), exp.Null())]
    if _family(_element(types[0])) == "float":
        nan = exp.GT(
            this=_call("len", _call("list_filter", _dup(array), _lambda("__e", _isnan(exp.column("__e"))))),
            expression=_num(0),
        )
        checks.append(
            (nan, _fail(f"{_fn_name(node)}() of an array holding NaN is not supported locally", refused=True))
        )
    return _case(checks, _call(name, _dup(array)))


def _rw_array_distinct(tr, node, args, types):
    array = args[0]
    first = _lambda_index(
        "__e",
        "__i",
        exp.EQ(this=_call("list_position", _dup(array), exp.column("__e")), expression=exp.column("__i")),
    )
    return _call("list_filter", _dup(array), first)


def _lambda_index(name: str, index: str, body: exp.Expression) -> exp.Lambda:
    return exp.Lambda(this=body, expressions=[exp.to_identifier(name), exp.to_identifier(index)])


def _rw_array_join(tr, node, args, types):
    array, separator = args[0], args[1]
    element = _element(types[0])
    family = _family(element)
    if family not in ("str", "int", "decimal", "date", "bool", "null", "?"):
        raise QueryRefused(
            f"array_join() of an ARRAY({element.upper()}) is not supported locally: {_shown(node)}"
        )
    items = array
    if family not in ("str", "null", "?"):
        items = _call(
            "list_transform",
            array,
            _lambda("__e", exp.Cast(this=exp.column("__e"), to=exp.DataType.build("VARCHAR"))),
        )
    if len(args) > 2:
        items = _call(
            "list_transform", items, _lambda("__e", _call("coalesce", exp.column("__e"), _dup(args[2])))
        )
    return _case([(_is_null(separator), exp.Null())], _call("array_to_string", items, _dup(separator)))


def _rw_array_sort(tr, node, args, types):
    if len(args) > 1:
        raise QueryRefused(
            "array_sort() with a comparator function is not supported locally; run it with --athena"
        )
    if _family(_element(types[0])) == "float":
        raise QueryRefused(
            "array_sort() of an ARRAY(DOUBLE) is not supported locally (NaN order); run it with --athena"
        )
    return _call("list_sort", args[0], _str("ASC"), _str("NULLS LAST"))


def _rw_array_remove(tr, node, args, types):
    array, value = args
    keep = _lambda("__e", exp.NullSafeNEQ(this=exp.column("__e"), expression=_dup(value)))
    return _case([(_is_null(value), exp.Null())], _call("list_filter", _dup(array), keep))


def _rw_filter(tr, node, args, types):
    return _call("list_filter", args[0], args[1])


def _rw_transform(tr, node, args, types):
    return _call("list_transform", args[0], args[1])


def _match(kind: str) -> Callable[..., exp.Expression]:
    def rewrite(tr, node, args, types):
        array, function = args
        results = _call("list_transform", _dup(array), function)

        def count(test: Callable[[exp.Expression], exp.Expression]) -> exp.Expression:
            return exp.GT(
                this=_call(
                    "len", _call("list_filter", results.copy(), _lambda("__m", test(exp.column("__m"))))
                ),
                expression=_num(0),
            )

        any_true = count(lambda m: m)
        any_false = count(lambda m: exp.Not(this=m))
        any_null = count(lambda m: exp.Is(this=m, expression=exp.Null()))
        if kind == "any":
            return _case([(any_true, exp.true()), (any_null, exp.Null())], exp.false())
        if kind == "all":
            return _case([(any_false, exp.false()), (any_null, exp.Null())], exp.true())
        return _case([(any_true, exp.false()), (any_null, exp.Null())], exp.true())

    return rewrite


def _rw_slice(tr, node, args, types):
    array, start, length = args
    count = _call("len", _dup(array))
    negative = exp.Add(this=exp.Add(this=count, expression=_dup(start)), expression=_num(1))
    begin = _case([(exp.GT(this=_dup(start), expression=_num(0)), _dup(start))], negative)
    end = exp.Sub(this=exp.Add(this=begin.copy(), expression=_dup(length)), expression=_num(1))
    too_short = exp.DPipe(
        this=_str("length must be greater than or equal to 0: "), expression=_text_of(length)
    )
    return _case(
        [
            (exp.LT(this=_dup(length), expression=_num(0)), _fail(too_short)),
            (exp.EQ(this=_dup(start), expression=_num(0)), _fail("SQL array indices start at 1")),
            (
                exp.LT(this=begin.copy(), expression=_num(1)),
                _call("list_slice", _dup(array), _num(1), _num(0)),
            ),
        ],
        _call("list_slice", _dup(array), begin, end),
    )


def _rw_sequence(tr, node, args, types):
    start, stop = args[0], args[1]
    if any(_family(t) not in ("int", "null", "?") for t in types[:2]):
        raise QueryRefused(f"sequence() of dates or timestamps is not supported locally: {_shown(node)}")
    step = (
        args[2]
        if len(args) > 2
        else _case([(exp.LTE(this=_dup(start), expression=_dup(stop)), _num(1))], _num(-1))
    )
    if len(args) > 2 and _family(types[2]) not in ("int", "null", "?"):
        raise QueryRefused(
            f"sequence() with a step of type {types[2].upper()} is not supported locally: {_shown(node)}"
        )
    wrong_way = exp.Or(
        this=exp.And(
            this=exp.GT(this=_dup(step), expression=_num(0)),
            expression=exp.GT(this=_dup(start), expression=_dup(stop)),
        ),
        expression=exp.And(
            this=exp.LT(this=_dup(step), expression=_num(0)),
            expression=exp.LT(this=_dup(start), expression=_dup(stop)),
        ),
    )
    size = exp.Add(
        this=exp.IntDiv(
            this=_paren(exp.Sub(this=_dup(stop), expression=_dup(start))), expression=_paren(_dup(step))
        ),
        expression=_num(1),
    )
    return _case(
        [
            (exp.EQ(this=_dup(step), expression=_num(0)), _fail("step must not be zero")),
            (
                wrong_way,
                _fail(
                    "sequence stop value should be greater than or equal to start value if step is greater "
                    "than zero otherwise stop should be less than or equal to start"
                ),
            ),
            (
                exp.GT(this=size, expression=_num(10000)),
                _fail("result of sequence function must not have more than 10000 entries"),
            ),
        ],
        _call(
            "generate_series",
            exp.Cast(this=_dup(start), to=exp.DataType.build("BIGINT")),
            exp.Cast(this=_dup(stop), to=exp.DataType.build("BIGINT")),
            exp.Cast(this=_dup(step), to=exp.DataType.build("BIGINT")),
        ),
    )


def _rw_repeat(tr, node, args, types):
    value, count = args
    return _case(
        [
            (
                exp.LT(this=_dup(count), expression=_num(0)),
                _fail("count argument of repeat function must be greater than or equal to 0"),
            ),
            (
                exp.GT(this=_dup(count), expression=_num(10000)),
                _fail("count argument of repeat function must be less than or equal to 10000"),
            ),
        ],
        _call(
            "list_transform",
            _call("range", exp.Cast(this=_dup(count), to=exp.DataType.build("BIGINT"))),
            _lambda("__r", _dup(value)),
        ),
    )


def _rw_flatten(tr, node, args, types):
    return _call("flatten", args[0])


def _rw_trim_array(tr, node, args, types):
    array, count = args
    size = _call("len", _dup(array))
    return _case(
        [
            (
                exp.Or(
                    this=exp.LT(this=_dup(count), expression=_num(0)),
                    expression=exp.GT(this=_dup(count), expression=size),
                ),
                _fail(
                    exp.DPipe(
                        this=_str("size must not exceed array cardinality "), expression=_text_of(size.copy())
                    )
                ),
            ),
        ],
        _call("list_slice", _dup(array), _num(1), exp.Sub(this=size.copy(), expression=_dup(count))),
    )


def _rw_greatest(tr, node, args, types):
    common = _common_type(types)
    if common is None:
        raise QueryRefused(
            f"{_fn_name(node)}() of {', '.join(t.upper() for t in types)}: Athena has no common type"
        )
    name = "greatest" if isinstance(node, exp.Greatest) else "least"
    checks = [(_any_null(args), exp.Null())]
    if _family(common) == "float":
        nan = None
        for arg in args:
            test = _isnan(arg)
            nan = test if nan is None else exp.Or(this=nan, expression=test)
        checks.append((nan, _fail(f"Invalid argument to {name}(): NaN")))
    return _case(checks, _call(name, *(_dup(a) for a in args)))


def _rw_to_iso8601_anon(tr, node, args, types):
    return _rw_to_iso8601(tr, node, args, types)


def _rw_format_datetime(tr, node, args, types):
    if len(args) != 2 or not (isinstance(args[1], exp.Literal) and args[1].is_string):
        raise QueryRefused("format_datetime(value, pattern) needs a constant pattern string locally")
    if _family(types[0]) not in ("date", "timestamp", "null", "?"):
        raise QueryRefused(f"format_datetime() of a {types[0].upper()}: {_shown(node)}")
    return _call("strftime", args[0], _str(joda_to_strftime(args[1].this)))


def _rw_parse_datetime(tr, node, args, types):
    raise QueryRefused(
        "parse_datetime() (Joda pattern) is not supported locally; use date_parse(s, '%Y-%m-%d') or CAST(s AS DATE)"
    )


def _rw_typeof(tr, node, args, types):
    raise QueryRefused("typeof() names types differently in DuckDB; run it with --athena")


def _rw_listagg(tr, node, args, types):
    if not isinstance(node.this, exp.Order) and not isinstance(node.parent, exp.WithinGroup):
        raise QueryRefused("listagg() needs WITHIN GROUP (ORDER BY ...) in Athena")
    return node


def _rw_normalize(tr, node, args, types):
    form = node.args.get("form")
    text = form.name.upper() if isinstance(form, exp.Expression) else "NFC"
    if text not in ("NFD", "NFC", "NFKD", "NFKC"):
        raise QueryRefused(f"normalize() form {text!r}: Athena takes NFD, NFC, NFKD or NFKC")
    return _call("trino_normalize", args[0], _str(text))


def _returns_minmax(types: list[str]) -> str:
    return f"array({types[0]})" if len(types) > 1 else _same(types)


def _returns_by(types: list[str]) -> str:
    return f"array({types[0]})" if len(types) > 2 else _same(types)


def _returns_sign(types: list[str]) -> str:
    t = types[0] if types else "?"
    return "decimal(1,0)" if _family(t) == "decimal" else t


def _returns_truncate(types: list[str]) -> str:
    t = types[0] if types else "?"
    if _family(t) == "decimal" and len(types) == 1:
        p, s = _decimal_ps(t)
        return f"decimal({max(1, p - s)},0)"
    return t


def _returns_round(types: list[str]) -> str:
    t = types[0] if types else "?"
    if _family(t) == "decimal":
        p, s = _decimal_ps(t)
        return (
            f"decimal({min(38, p + 1)},{s})" if len(types) > 1 else f"decimal({min(38, p - s + min(1, s))},0)"
        )
    return t


def _returns_avg(types: list[str]) -> str:
    t = types[0] if types else "?"
    return t if _family(t) in ("decimal", "interval") else "double"


def _returns_percentile(types: list[str]) -> str:
    t = types[0] if types else "?"
    return f"array({t})" if len(types) > 1 and _family(types[-1]) == "array" else t


def _returns_concat(types: list[str]) -> str:
    arrays = [t for t in types if _family(t) == "array"]
    return arrays[0] if arrays else "varchar"


def _returns_transform(types: list[str]) -> str:
    return f"array({types[1]})" if len(types) > 1 else "?"


def _returns_flatten(types: list[str]) -> str:
    return _element(types[0]) if types else "?"


def _returns_common(types: list[str]) -> str:
    return _common_type(types) or "?"


def _returns_random(types: list[str]) -> str:
    if not types:
        return "double"
    common = _common_type(types) or "?"
    return common if common in _INTEGERS else "bigint"


_BIGINT, _DOUBLE, _VARCHAR, _BOOLEAN = "bigint", "double", "varchar", "boolean"

# sqlglot node -> what the local engine does with it
_REGISTRY: dict[type[exp.Expression], _Fn] = {
    # math
    exp.Abs: _kept(("num",), _same),
    exp.Acos: _kept(("num",), _double),
    exp.Asin: _kept(("num",), _double),
    exp.Atan: _kept(("num",), _double),
    exp.Atan2: _kept(("num", "num"), _double),
    exp.Cbrt: _rw(("num",), _double, _udf("trino_cbrt")),
    exp.Cos: _kept(("num",), _double),
    exp.Cosh: _kept(("num",), _double),
    exp.Sin: _kept(("num",), _double),
    exp.Sinh: _kept(("num",), _double),
    exp.Tan: _kept(("num",), _double),
    exp.Tanh: _kept(("num",), _double),
    exp.Degrees: _kept(("num",), _double),
    exp.Radians: _kept(("num",), _double),
    exp.Exp: _kept(("num",), _double),
    exp.Ln: _kept(("num",), _double),
    exp.Sqrt: _kept(("num",), _double),
    exp.Log: _rw(("num", "num"), _double, _rw_log),
    exp.Ceil: _rw(
        ("num",),
        _decimal_integral,
        lambda tr, n, a, t: a[0] if _family(t[0]) == "int" else _call("ceil", a[0]),
    ),
    exp.Floor: _rw(
        ("num",),
        _decimal_integral,
        lambda tr, n, a, t: a[0] if _family(t[0]) == "int" else _call("floor", a[0]),
    ),
    exp.Pow: _rw(("num", "num"), _double, _rw_pow),
    exp.Round: _rw(("num", "int"), _returns_round, _rw_round, optional=1),
    exp.Trunc: _rw(("num", "int"), _returns_truncate, _rw_truncate, optional=1),
    exp.Sign: _rw(("num",), _returns_sign, _rw_sign),
    exp.Pi: _rw((), _double, _rw_pi),
    exp.Rand: _rw(("int", "int"), _returns_random, _rw_random, optional=2),
    exp.IsNan: _kept(("num",), _BOOLEAN),
    exp.WidthBucket: _rw(("num", "num", "num", "int"), _BIGINT, _rw_width_bucket),
    exp.FromBase: _rw(("str", "int"), _BIGINT, _udf("trino_from_base")),
    exp.BitwiseAnd: _kept(("int", "int"), _BIGINT),
    exp.BitwiseOr: _kept(("int", "int"), _BIGINT),
    exp.BitwiseXor: _kept(("int", "int"), _BIGINT),
    exp.BitwiseNot: _kept(("int",), _BIGINT),
    # strings
    exp.Substring: _rw(("str", "int", "int"), _VARCHAR, _rw_substr, optional=1),
    exp.StrPosition: _rw(("str", "str", "int"), _BIGINT, _rw_strpos, optional=1),
    exp.Split: _rw(("str", "str", "int"), "array(varchar)", _rw_split, optional=1),
    exp.SplitPart: _rw(("str", "str", "int"), _VARCHAR, _udf("trino_split_part")),
    exp.Replace: _rw(("str", "str", "str"), _VARCHAR, _rw_replace, optional=1),
    exp.Reverse: _rw(("str|array",), _same, _rw_reverse),
    exp.Pad: _rw(("str", "int", "str"), _VARCHAR, _rw_pad, optional=1),
    exp.Trim: _rw(("str", "str"), _VARCHAR, _rw_trim, optional=1),
    exp.Length: _rw(("str",), _BIGINT, _rw_length),
    exp.Lower: _kept(("str",), _VARCHAR),
    exp.Upper: _kept(("str",), _VARCHAR),
    exp.Concat: _rw(("any", "..."), _returns_concat, _rw_concat),
    exp.ConcatWs: _rw(("str", "any", "..."), _VARCHAR, _rw_concat_ws),
    exp.Chr: _rw(("int",), _VARCHAR, _rw_chr),
    exp.Levenshtein: _rw(("str", "str"), _BIGINT, _udf("trino_levenshtein")),
    exp.Translate: _rw(("str", "str", "str"), _VARCHAR, _udf("trino_translate")),
    exp.Normalize: _rw(("str", "any"), _VARCHAR, _rw_normalize, optional=1),
    exp.StartsWith: _rw(("str", "str"), _BOOLEAN, _rw_starts_with),
    exp.EndsWith: _rw(("str", "str"), _BOOLEAN, _rw_ends_with),
    exp.RegexpLike: _rw(("str", "str"), _BOOLEAN, _rw_regexp_like),
    exp.RegexpExtract: _rw(("str", "str", "int"), _VARCHAR, _rw_regexp_extract, optional=1),
    exp.RegexpExtractAll: _rw(("str", "str", "int"), "array(varchar)", _rw_regexp_extract_all, optional=1),
    exp.RegexpReplace: _rw(("str", "str", "str"), _VARCHAR, _rw_regexp_replace, optional=1),
    exp.RegexpSplit: _rw(("str", "str"), "array(varchar)", _rw_regexp_split),
    exp.RegexpCount: _rw(("str", "str"), _BIGINT, _rw_regexp_count),
    # dates and times
    exp.DateAdd: _rw(("any", "any", "any"), lambda t: t[0], _rw_date_add),
    exp.TsOrDsAdd: _rw(("any", "any", "any"), lambda t: t[0], _rw_date_add),
    exp.DateDiff: _rw(("any", "any", "any"), _BIGINT, _rw_date_diff),
    exp.DateTrunc: _rw(("any", "any"), lambda t: t[-1], _rw_date_trunc),
    exp.TimestampTrunc: _rw(("any", "any"), lambda t: t[0], _rw_date_trunc),
    exp.TimeToStr: _rw(("time", "str"), _VARCHAR, _rw_date_format),
    exp.StrToTime: _rw(("str", "str"), "timestamp", _rw_date_parse),
    exp.Extract: _rw(("any", "time"), _BIGINT, _rw_extract),
    exp.Day: _rw(("time",), _BIGINT, _extract_fn("day")),
    exp.DayOfMonth: _rw(("time",), _BIGINT, _extract_fn("day")),
    exp.DayOfWeekIso: _rw(("time",), _BIGINT, _extract_fn("isodow")),
    exp.DayOfYear: _rw(("time",), _BIGINT, _extract_fn("dayofyear")),
    exp.Hour: _rw(("time",), _BIGINT, _extract_fn("hour", time_only=True)),
    exp.Minute: _rw(("time",), _BIGINT, _extract_fn("minute", time_only=True)),
    exp.Second: _rw(("time",), _BIGINT, _extract_fn("second", time_only=True)),
    exp.Month: _rw(("time",), _BIGINT, _extract_fn("month")),
    exp.Quarter: _rw(("time",), _BIGINT, _extract_fn("quarter")),
    exp.WeekOfYear: _rw(("time",), _BIGINT, _extract_fn("week")),
    exp.Year: _rw(("time",), _BIGINT, _extract_fn("year")),
    exp.YearOfWeek: _rw(("time",), _BIGINT, _extract_fn("isoyear")),
    exp.LastDay: _rw(("time",), "date", _rw_last_day),
    exp.FromISO8601Date: _rw(("str",), "date", _rw_from_iso8601_date),
    exp.UnixToTime: _rw(("num",), "timestamp with time zone", _rw_from_unixtime),
    exp.TimeToUnix: _rw(("time",), _DOUBLE, _rw_to_unixtime),
    exp.CurrentDate: _rw((), "date", _rw_current_date),
    exp.CurrentTimestamp: _rw((), "timestamp with time zone", _rw_now),
    exp.CurrentTimezone: _rw((), _VARCHAR, _rw_current_timezone),
    exp.ParseDatetime: _Fn(("any", "any"), "?", _rw_parse_datetime, 0, "refused"),
    exp.Typeof: _Fn(("any",), _VARCHAR, _rw_typeof, 0, "refused"),
    # aggregates
    exp.Count: _kept(("any",), _BIGINT, optional=1),
    exp.Sum: _rw(("num",), _sum_type, _rw_sum),
    exp.Avg: _rw(("num",), _returns_avg, _rw_avg),
    exp.Min: _rw(("any", "int"), _returns_minmax, _rw_minmax, optional=1),
    exp.Max: _rw(("any", "int"), _returns_minmax, _rw_minmax, optional=1),
    exp.ArgMin: _rw(("any", "any", "int"), _returns_by, _rw_by, optional=1),
    exp.ArgMax: _rw(("any", "any", "int"), _returns_by, _rw_by, optional=1),
    exp.AnyValue: _kept(("any",), _same),
    exp.ArrayAgg: _kept(("any",), _array_of(_same)),
    exp.LogicalAnd: _rw(("bool",), _BOOLEAN, _rw_bool_and),
    exp.LogicalOr: _rw(("bool",), _BOOLEAN, _rw_bool_or),
    exp.Stddev: _kept(("num",), _DOUBLE),
    exp.StddevSamp: _kept(("num",), _DOUBLE),
    exp.StddevPop: _kept(("num",), _DOUBLE),
    exp.Variance: _kept(("num",), _DOUBLE),
    exp.VariancePop: _kept(("num",), _DOUBLE),
    exp.Corr: _kept(("num", "num"), _DOUBLE),
    exp.CovarPop: _kept(("num", "num"), _DOUBLE),
    exp.CovarSamp: _kept(("num", "num"), _DOUBLE),
    exp.RegrSlope: _kept(("num", "num"), _DOUBLE),
    exp.RegrIntercept: _kept(("num", "num"), _DOUBLE),
    exp.Kurtosis: _kept(("num",), _DOUBLE),
    exp.Skewness: _rw(("num",), _DOUBLE, _rw_skewness),
    exp.CountIf: _rw(("bool",), _BIGINT, _rw_count_if),
    exp.ApproxDistinct: _rw(("any", "num"), _BIGINT, _rw_approx_distinct, optional=1),
    exp.ApproxQuantile: _rw(
        ("num", "num|array", "num|array"), _returns_percentile, _rw_approx_percentile, optional=1
    ),
    exp.GroupConcat: _rw(("str", "str"), _VARCHAR, _rw_listagg, optional=1),
    exp.BitwiseAndAgg: _kept(("int",), _BIGINT),
    exp.BitwiseOrAgg: _kept(("int",), _BIGINT),
    exp.BitwiseXorAgg: _kept(("int",), _BIGINT),
    exp.Grouping: _kept(("any", "..."), _BIGINT),
    # window functions
    exp.RowNumber: _kept((), _BIGINT),
    exp.Rank: _kept((), _BIGINT),
    exp.DenseRank: _kept((), _BIGINT),
    exp.PercentRank: _kept((), _DOUBLE),
    exp.CumeDist: _kept((), _DOUBLE),
    exp.Ntile: _kept(("int",), _BIGINT),
    exp.Lag: _rw(("any", "int", "any"), _same, _rw_offset_window, optional=2),
    exp.Lead: _rw(("any", "int", "any"), _same, _rw_offset_window, optional=2),
    exp.FirstValue: _kept(("any",), _same),
    exp.LastValue: _kept(("any",), _same),
    exp.NthValue: _rw(("any", "int"), _same, _rw_offset_window),
    # arrays
    exp.ArraySize: _rw(("array",), _BIGINT, _rw_cardinality),
    exp.ArrayContains: _rw(("array", "any"), _BOOLEAN, _rw_contains),
    exp.ArrayPosition: _rw(("array", "any"), _BIGINT, _rw_array_position),
    exp.ArrayDistinct: _rw(("array",), _same, _rw_array_distinct),
    exp.ArrayMax: _rw(("array",), _element_type, _rw_array_minmax),
    exp.ArrayMin: _rw(("array",), _element_type, _rw_array_minmax),
    exp.ArrayToString: _rw(("array", "str", "str"), _VARCHAR, _rw_array_join, optional=1),
    exp.ArraySort: _rw(("array", "lambda"), _same, _rw_array_sort, optional=1),
    exp.ArrayRemove: _rw(("array", "any"), _same, _rw_array_remove),
    exp.ArrayFilter: _rw(("array", "lambda"), _same, _rw_filter),
    exp.Transform: _rw(("array", "lambda"), _returns_transform, _rw_transform),
    exp.Flatten: _rw(("array",), _returns_flatten, _rw_flatten),
    exp.ArraySlice: _rw(("array", "int", "int"), _same, _rw_slice),
    exp.GenerateSeries: _rw(("int", "int", "int"), "array(bigint)", _rw_sequence, optional=1),
    exp.Repeat: _rw(("any", "int"), _array_of(_same), _rw_repeat),
    # conditional
    exp.Greatest: _rw(("any", "..."), _returns_common, _rw_greatest),
    exp.Least: _rw(("any", "..."), _returns_common, _rw_greatest),
}

# functions sqlglot does not model (exp.Anonymous), by Trino name
_ANONYMOUS: dict[str, _Fn] = {
    "e": _rw((), _DOUBLE, _rw_e),
    "nan": _rw((), _DOUBLE, _rw_nan),
    "infinity": _rw((), _DOUBLE, _rw_infinity),
    "is_finite": _rw(("num",), _BOOLEAN, lambda tr, n, a, t: _call("isfinite", a[0])),
    "is_infinite": _rw(("num",), _BOOLEAN, lambda tr, n, a, t: _call("isinf", a[0])),
    "log10": _rw(("num",), _DOUBLE, _rw_log10),
    "log2": _rw(("num",), _DOUBLE, _rw_log2),
    "codepoint": _rw(("str",), "integer", _udf("trino_codepoint")),
    "hamming_distance": _rw(("str", "str"), _BIGINT, _udf("trino_hamming")),
    "to_base": _rw(("int", "int"), _VARCHAR, _udf("trino_to_base")),
    "every": _rw(("bool",), _BOOLEAN, _rw_bool_and),
    "geometric_mean": _rw(("num",), _DOUBLE, _rw_geometric_mean),
    "millisecond": _rw(("time",), _BIGINT, _extract_fn("millisecond", time_only=True)),
    "yow": _rw(("time",), _BIGINT, _extract_fn("isoyear")),
    "to_iso8601": _rw(("time",), _VARCHAR, _rw_to_iso8601_anon),
    "format_datetime": _rw(("time", "str"), _VARCHAR, _rw_format_datetime),
    "date_format": _rw(("time", "str"), _VARCHAR, _rw_date_format),
    "date_parse": _rw(("str", "str"), "timestamp", _rw_date_parse),
    "any_match": _rw(("array", "lambda"), _BOOLEAN, _match("any")),
    "all_match": _rw(("array", "lambda"), _BOOLEAN, _match("all")),
    "none_match": _rw(("array", "lambda"), _BOOLEAN, _match("none")),
    "trim_array": _rw(("array", "int"), _same, _rw_trim_array),
}


def _spec_for(node: exp.Expression) -> _Fn | None:
    if isinstance(node, exp.Anonymous):
        return _ANONYMOUS.get(str(node.this).lower())
    return _REGISTRY.get(type(node))


# --- the translation ------------------------------------------------------------------------------------

# Syntax the local engine takes as it is (the checks of the others are in _Translator._structural).
_PLAIN_NODES: tuple[type[exp.Expression], ...] = (
    exp.Select,
    exp.Union,
    exp.Intersect,
    exp.Except,
    exp.Subquery,
    exp.From,
    exp.Join,
    exp.Group,
    exp.Order,
    exp.Ordered,
    exp.Limit,
    exp.Offset,
    exp.With,
    exp.CTE,
    exp.TableAlias,
    exp.Alias,
    exp.Column,
    exp.Identifier,
    exp.Table,
    exp.Star,
    exp.Paren,
    exp.Tuple,
    exp.Distinct,
    exp.WindowSpec,
    exp.Values,
    exp.DataType,
    exp.DataTypeParam,
    exp.Var,
    exp.Null,
    exp.Boolean,
    exp.Exists,
    exp.Lambda,
    exp.Cube,
    exp.Rollup,
    exp.GroupingSets,
    exp.Lateral,
    exp.Any,
    exp.All,
    exp.NullSafeEQ,
    exp.NullSafeNEQ,
)

_COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE)
# functions of TRINO_FUNCTIONS that may refuse a value at run time
_REFUSING_FUNCTIONS = frozenset({"trino_from_iso8601_date"})
_WRAPPERS = (exp.Window, exp.Filter, exp.IgnoreNulls, exp.RespectNulls)
_OUTPUT_FAMILIES = ("int", "decimal", "float", "str", "bool", "date", "timestamp", "array", "null", "?")


def _construct(node: exp.Expression) -> str:
    names = {
        exp.ILike: "ILIKE (use lower(x) LIKE ...)",
        exp.AtTimeZone: "AT TIME ZONE",
        exp.Struct: "ROW(...) values",
        exp.Map: "MAP values",
        exp.HexString: "binary literals (X'..')",
        exp.Dot: "ROW field access",
        exp.Qualify: "QUALIFY (not Athena SQL)",
        exp.SimilarTo: "SIMILAR TO",
    }
    for kind, name in names.items():
        if isinstance(node, kind):
            return name
    if isinstance(node, exp.Func):
        return f"function {_fn_name(node)}()"
    return type(node).__name__.upper()


class _Translator:
    def __init__(self, tree: exp.Expression, schema: Schema) -> None:
        self.types = _Types(tree, schema)
        for node in tree.walk():  # parents first: a lambda's variables get the array's element type
            self.types.of(node)
        self.runtime_refusals = 0

    # -- driving

    def translate(self, root: exp.Expression) -> exp.Expression:
        self._check_outputs(root)
        order: list[exp.Expression] = []
        stack: list[tuple[exp.Expression, bool]] = [(root, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                order.append(node)
                continue
            stack.append((node, True))
            stack.extend((child, False) for child in node.iter_expressions())
        result = root
        for node in order:
            parent, key, index = node.parent, node.arg_key, node.index
            new = self._rewrite(node)
            size = _tree_size(new)
            if size > MAX_TRANSLATED_NODES:
                raise QueryRefused(
                    f"the local translation of {_construct(node)} grows past {MAX_TRANSLATED_NODES:,} nodes (a rewrite "
                    "repeats its arguments, e.g. greatest() or a comparison of DOUBLEs nested in each other); "
                    "simplify it, or run it with --athena"
                )
            new.meta["size"] = size
            if new is node:
                continue
            self.types.alias(new, node)
            if node is result:
                result = new
            elif parent is not None and key:
                parent.set(key, new, index)  # `new` may hold `node`: its own parent is new now
        return result

    def _rewrite(self, node: exp.Expression) -> exp.Expression:
        if isinstance(node, _PLAIN_NODES):
            return self._plain(node)
        structural = self._structural(node)
        if structural is not None:
            return structural
        spec = _spec_for(node)
        if spec is None:
            raise QueryRefused(
                f"{_construct(node)} is not supported by the local engine (its DuckDB counterpart differs or is "
                "missing); run it with --athena"
            )
        args = _call_args(node)
        types = [self.types.of(a) for a in args]
        self._check_args(node, spec, args, types)
        if spec.rewrite is None:
            return node
        return spec.rewrite(self, node, args, types)

    def _check_args(
        self, node: exp.Expression, spec: _Fn, args: list[exp.Expression], types: list[str]
    ) -> None:
        kinds = list(spec.args)
        variadic = bool(kinds) and kinds[-1] == "..."
        if variadic:
            kinds = kinds[:-1]
        low, high = len(kinds) - spec.optional, len(kinds)
        if len(args) < low or (not variadic and len(args) > high):
            expected = f"{low}" if low == high else f"{low} to {high}"
            raise QueryRefused(
                f"{_fn_name(node)}() takes {expected}{' or more' if variadic else ''} argument(s) in Athena, got "
                f"{len(args)}: {_shown(node)}"
            )
        for i, (arg, t) in enumerate(zip(args, types, strict=True)):
            kind = kinds[min(i, len(kinds) - 1)] if kinds else "any"
            if not self._fits(kind, arg, t):
                raise QueryRefused(
                    f"{_fn_name(node)}() does not take a {t.upper()} as argument {i + 1} in Athena: {_shown(node)}"
                )

    @staticmethod
    def _fits(kind: str, arg: exp.Expression, t: str) -> bool:
        family = _family(t)
        if kind == "any" or family in ("null", "?"):
            return kind != "lambda" or isinstance(arg, exp.Lambda)
        wanted = {
            "num": ("int", "decimal", "float"),
            "int": ("int",),
            "str": ("str",),
            "bool": ("bool",),
            "time": ("date", "timestamp"),
            "array": ("array",),
        }
        allowed: tuple[str, ...] = ()
        for option in kind.split("|"):
            if option == "lambda":
                if isinstance(arg, exp.Lambda):
                    return True
                continue
            allowed += wanted.get(option, ())
        return family in allowed

    def _check_outputs(self, root: exp.Expression) -> None:
        select = _outer_select(root)
        if select is None:
            return
        for projection in select.expressions:
            t = self.types.of(projection)
            if _family(t) not in _OUTPUT_FAMILIES or (
                _family(t) == "array" and _family(_element(t)) not in _OUTPUT_FAMILIES
            ):
                raise QueryRefused(
                    f"a {t.upper()} value in the result ({projection.alias_or_name}) is not supported locally; "
                    "convert it (e.g. to VARCHAR or a number), or run it with --athena"
                )

    # -- syntax

    def _plain(self, node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Join) and (node.args.get("method") or "").upper() == "NATURAL":
            raise QueryRefused("NATURAL JOIN is not supported by Athena")
        if isinstance(node, exp.SetOperation):
            self._same_columns(node, [node.this, node.expression])
        if isinstance(node, exp.Values):
            rows = [r.expressions if isinstance(r, exp.Tuple) else [r] for r in node.expressions]
            for position in range(max((len(r) for r in rows), default=0)):
                types = [self._type(r[position]) for r in rows if position < len(r)]
                if _common_type(types) is None:
                    mixed = ", ".join(dict.fromkeys(t.upper() for t in types))
                    raise QueryRefused(
                        f"VALUES column {position + 1} mixes {mixed}: Athena rejects it; CAST the values to one type"
                    )
        if isinstance(node, exp.Any | exp.All) and not isinstance(node.this, exp.Subquery | exp.Query):
            raise QueryRefused(
                f"{_shown(node.parent or node)}: Athena quantifies over a subquery only (x = ANY (SELECT ...))"
            )
        if isinstance(node, exp.NullSafeEQ | exp.NullSafeNEQ):
            self._comparable(node, [node.this, node.expression])
        if isinstance(node, exp.Unnest) and len(node.expressions) > 1:
            raise QueryRefused(
                "UNNEST of several arrays at once is not supported locally; UNNEST one array per CROSS JOIN, or "
                "run it with --athena"
            )
        return node

    def _same_columns(self, node: exp.Expression, branches: list[exp.Expression]) -> None:
        """The branches of a UNION / INTERSECT / EXCEPT: as many columns, of types Athena can unify."""
        selects = [b if isinstance(b, exp.Select) else _outer_select(b) for b in branches]
        if any(s is None for s in selects):
            return
        widths = {len(s.expressions) for s in selects}  # type: ignore[union-attr]
        name = type(node).__name__.upper()
        if len(widths) > 1:
            raise QueryRefused(f"the branches of a {name} have different numbers of columns")
        for position in range(widths.pop()):
            types = [self._type(s.expressions[position]) for s in selects]  # type: ignore[union-attr]
            if _common_type(types) is None:
                raise QueryRefused(
                    f"column {position + 1} of a {name} is {' in one branch and '.join(t.upper() for t in types)} "
                    "in the other: Athena rejects it; CAST one side"
                )

    def _structural(self, node: exp.Expression) -> exp.Expression | None:
        if (
            isinstance(node, exp.Anonymous)
            and str(node.this).upper() in ("ALL", "ANY", "SOME")
            and isinstance(node.parent, _COMPARISONS)
        ):
            return node  # a quantified comparison: its comparison rewrites it
        handlers: list[tuple[type | tuple, Callable[[exp.Expression], exp.Expression]]] = [
            (_COMPARISONS, self._compare),
            (exp.Neg, self._negate),
            ((exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Mod), self._arithmetic),
            (exp.DPipe, self._concat),
            (exp.Bracket, self._subscript),
            ((exp.Cast, exp.TryCast), self._cast),
            (exp.In, self._in),
            (exp.Between, self._between),
            ((exp.Like, exp.Escape), self._like),
            ((exp.Case, exp.If, exp.Coalesce, exp.Nullif), self._conditional),
            (exp.Interval, self._interval),
            (exp.Literal, self._literal),
            (_WRAPPERS, self._hoist),
            (exp.WithinGroup, self._within_group),
            (exp.Try, self._try),
            (exp.Unnest, self._plain),
            (exp.Array, self._array),
            (exp.Is, self._is),
            (exp.Fetch, self._fetch),
            (exp.LimitOptions, self._fetch),
            ((exp.Not, exp.And, exp.Or), self._logical),
            ((exp.Where, exp.Having), self._condition),
            (exp.Date, self._date_function),
        ]
        for kinds, handler in handlers:
            if isinstance(node, kinds):
                return handler(node)
        return None

    def _type(self, node: exp.Expression) -> str:
        return self.types.of(node)

    def _comparable(self, node: exp.Expression, operands: Sequence[exp.Expression]) -> str:
        types = [self._type(o) for o in operands]
        common = _common_type(types)
        if common is None or _family(common) == "other":
            shown = _shown(node)
            texts = [
                o
                for o, t in zip(operands, types, strict=True)
                if _family(t) == "str" and isinstance(o, exp.Literal)
            ]
            if {_family(t) for t in types} >= {"date", "str"} and texts:
                raise QueryRefused(
                    f"{shown} compares a DATE with a string: Athena rejects it (Cannot apply operator: date = "
                    f"varchar); write a DATE literal, e.g. DATE '{texts[0].this}'"
                )
            raise QueryRefused(
                f"{shown} compares {' with '.join(t.upper() for t in dict.fromkeys(types))}: Athena rejects it "
                "(no implicit conversion between these types); CAST one side"
            )
        return common

    def _compare(self, node: exp.Expression) -> exp.Expression:
        left, right = node.this, node.expression
        if isinstance(right, exp.Anonymous) and str(right.this).upper() in ("ALL", "ANY", "SOME"):
            rows = right.expressions[0] if len(right.expressions) == 1 else None
            if not isinstance(rows, exp.Values | exp.Query):
                raise QueryRefused(f"{_shown(node)}: a quantified comparison takes a subquery")
            if _family(self._type(left)) == "float":
                raise QueryRefused(
                    f"{_shown(node)}: a quantified comparison of DOUBLE values is not supported locally (NaN "
                    "semantics); run it with --athena"
                )
            kind = exp.All if str(right.this).upper() == "ALL" else exp.Any
            if isinstance(rows, exp.Values):
                rows = exp.select("*").from_(exp.Subquery(this=rows.copy()))
            return type(node)(this=left, expression=kind(this=exp.Subquery(this=rows)))
        if isinstance(right, exp.Any | exp.All) or isinstance(left, exp.Any | exp.All):
            quantified = right if isinstance(right, exp.Any | exp.All) else left
            other = left if quantified is right else right
            if _family(self._type(other)) == "float":
                raise QueryRefused(
                    f"{_shown(node)}: a quantified comparison of DOUBLE values is not supported locally (NaN "
                    "semantics); run it with --athena"
                )
            return node
        common = self._comparable(node, [left, right])
        if _family(common) != "float":
            return node
        return _nan_safe_compare(type(node), left, right)

    def _negate(self, node: exp.Neg) -> exp.Expression:
        t = self._type(node.this)
        family = _family(t)
        if family not in ("int", "decimal", "float", "interval", "null", "?"):
            raise QueryRefused(f"-{_shown(node.this)}: Athena cannot negate a {t.upper()}")
        if family == "int" and not isinstance(node.this, exp.Literal):
            # DuckDB folds -(constant) into a wider type instead of overflowing
            return exp.Paren(
                this=exp.Sub(
                    this=exp.Cast(this=_num(0), to=exp.DataType.build(t.upper())),
                    expression=_paren(node.this),
                )
            )
        return node

    def _arithmetic(self, node: exp.Binary) -> exp.Expression:
        left, right = node.this, node.expression
        lt, rt = self._type(left), self._type(right)
        lf, rf = _family(lt), _family(rt)
        operator = {exp.Add: "+", exp.Sub: "-", exp.Mul: "*", exp.Div: "/", exp.Mod: "%"}[type(node)]
        numeric = ("int", "decimal", "float", "null", "?")
        if lf in numeric and rf in numeric:
            if isinstance(node, exp.Div):
                return _rewrite_division(node, lt, rt)
            return node
        if isinstance(node, exp.Add | exp.Sub) and ({lf, rf} & {"date", "timestamp"}):
            return self._datetime_arithmetic(node, lt, rt)
        raise QueryRefused(
            f"{_shown(node)}: Athena has no operator {lt.upper()} {operator} {rt.upper()} (Cannot apply operator)"
        )

    def _datetime_arithmetic(self, node: exp.Binary, lt: str, rt: str) -> exp.Expression:
        left, right = node.this, node.expression
        if _family(rt) in ("date", "timestamp") and isinstance(node, exp.Add):
            left, right, lt, rt = right, left, rt, lt
        if _family(rt) in ("date", "timestamp"):
            raise QueryRefused(
                f"{_shown(node)}: subtracting dates or timestamps is not supported locally; use "
                "date_diff('day', a, b)"
            )
        if _family(rt) not in ("interval", "null", "?"):
            raise QueryRefused(f"{_shown(node)}: Athena has no operator {lt.upper()} +/- {rt.upper()}")
        if _family(lt) == "date":
            unit = (right.text("unit") or "").upper().rstrip("S") if isinstance(right, exp.Interval) else ""
            if unit not in ("DAY", "MONTH", "YEAR"):
                raise QueryRefused(
                    f"{_shown(node)}: Athena adds only days, months or years to a DATE; CAST it to TIMESTAMP"
                )
            return exp.Cast(
                this=exp.Paren(this=type(node)(this=left, expression=right)), to=exp.DataType.build("DATE")
            )
        return type(node)(this=left, expression=right)

    def _concat(self, node: exp.DPipe) -> exp.Expression:
        args = [node.this, node.expression]
        types = [self._type(a) for a in args]
        if any(_family(t) == "array" for t in types):
            left, right = args
            lf, rf = (_family(t) for t in types)
            if lf == "array" and rf == "array":
                result = _call("list_concat", _dup(left), _dup(right))
            elif lf == "array":
                result = _call("list_append", _dup(left), _dup(right))
            else:
                result = _call("list_prepend", _dup(left), _dup(right))
            return _case([(_any_null(args), exp.Null())], result)
        for t in types:
            if _family(t) not in ("str", "null", "?"):
                raise QueryRefused(
                    f"{_shown(node)}: Athena has no operator {types[0].upper()} || {types[1].upper()}; CAST the "
                    "value to VARCHAR"
                )
        return node

    def _subscript(self, node: exp.Bracket) -> exp.Expression:
        base = node.this
        t = self._type(base)
        if _family(t) not in ("array", "null", "?") or t == "?":
            raise QueryRefused(
                f"{_shown(node)}: the local engine supports [] on arrays only (maps and rows: run it with --athena)"
            )
        index_node = node.expressions[0]
        index = index_node
        if _family(self._type(index_node)) not in ("int", "null", "?"):
            raise QueryRefused(f"{_shown(node)}: an array index is a whole number (BIGINT) in Athena")
        element = _call("list_extract", _dup(base), _dup(index))
        if node.args.get("safe"):  # element_at(): NULL past the end, negative from the end
            return _case(
                [(exp.EQ(this=_dup(index), expression=_num(0)), _fail("SQL array indices start at 1"))],
                element,
            )
        size = _call("len", _dup(base))
        too_far = exp.DPipe(
            this=exp.DPipe(
                this=exp.DPipe(
                    this=_str("Array subscript must be less than or equal to array length: "),
                    expression=_text_of(index),
                ),
                expression=_str(" > "),
            ),
            expression=_text_of(size),
        )
        return _case(
            [
                (exp.EQ(this=_dup(index), expression=_num(0)), _fail("SQL array indices start at 1")),
                (
                    exp.LT(this=_dup(index), expression=_num(0)),
                    _fail(exp.DPipe(this=_str("Array subscript is negative: "), expression=_text_of(index))),
                ),
                (exp.GT(this=_dup(index), expression=size.copy()), _fail(too_far)),
            ],
            element,
        )

    def _in(self, node: exp.In) -> exp.Expression:
        if node.args.get("query") is not None:
            if _family(self._type(node.this)) == "float":
                raise QueryRefused(
                    f"{_shown(node)}: IN (subquery) over DOUBLE values is not supported locally (NaN semantics); "
                    "use EXISTS, or run it with --athena"
                )
            return node
        if node.args.get("unnest") is not None or node.args.get("field") is not None:
            raise QueryRefused(f"{_shown(node)} is not supported locally")
        common = self._comparable(node, [node.this, *node.expressions])
        if _family(common) != "float":
            return node
        if all(_plain_number(e) for e in node.expressions):
            return node  # NaN IN (1.5, 2) is false in both engines
        has_null = _any_null(node.expressions)
        return _case([(_isnan(node.this), _case([(has_null, exp.Null())], exp.false()))], node.copy())

    def _between(self, node: exp.Between) -> exp.Expression:
        low, high = node.args["low"], node.args["high"]
        common = self._comparable(node, [node.this, low, high])
        if _family(common) != "float":
            return node
        return exp.Paren(
            this=exp.And(
                this=_nan_safe_compare(exp.GTE, node.this, low),
                expression=_nan_safe_compare(exp.LTE, node.this, high),
            )
        )

    def _like(self, node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Escape):
            return node
        for operand in (node.this, node.expression):
            t = self._type(operand)
            if _family(t) not in ("str", "null", "?"):
                raise QueryRefused(f"{_shown(node)}: LIKE takes strings in Athena, not a {t.upper()}")
        return node

    def _conditional(self, node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Case):
            values = [i.args.get("true") for i in node.args.get("ifs") or []]
            if node.args.get("default") is not None:
                values.append(node.args["default"])
            self._comparable(node, values)
            for branch in node.args.get("ifs") or []:
                if node.this is None:
                    self._boolean(branch.this, node)
            operand = node.this
            if operand is not None:
                common = self._comparable(node, [operand, *(b.this for b in node.args.get("ifs") or [])])
                if _family(common) == "float":
                    ifs = [
                        exp.If(this=_nan_safe_compare(exp.EQ, operand, b.this), true=b.args.get("true"))
                        for b in node.args.get("ifs") or []
                    ]
                    return exp.Case(ifs=ifs, default=node.args.get("default"))
            return node
        if isinstance(node, exp.If):
            if isinstance(node.parent, exp.Case):  # a WHEN branch: checked with its CASE
                return node
            self._boolean(node.this, node)
            values = [v for v in (node.args.get("true"), node.args.get("false")) if v is not None]
            self._comparable(node, values)
            return node
        if isinstance(node, exp.Coalesce):
            self._comparable(node, [node.this, *node.expressions])
            return node
        common = self._comparable(node, [node.this, node.expression])
        if _family(common) == "float":  # NULLIF(NaN, NaN) is NaN in Athena (NaN = NaN is false)
            return _case(
                [(_nan_safe_compare(exp.EQ, node.this, node.expression), exp.Null())], _dup(node.this)
            )
        return node

    def _boolean(self, condition: exp.Expression | None, node: exp.Expression) -> None:
        if condition is None:
            return
        t = self._type(condition)
        if _family(t) not in ("bool", "null", "?"):
            raise QueryRefused(f"{_shown(node)}: a condition must be a BOOLEAN in Athena, not a {t.upper()}")

    def _logical(self, node: exp.Expression) -> exp.Expression:
        for operand in (node.this, node.args.get("expression")):
            if operand is not None:
                self._boolean(operand, node)
        return node

    def _condition(self, node: exp.Expression) -> exp.Expression:
        self._boolean(node.this, node)
        return node

    def _is(self, node: exp.Is) -> exp.Expression:
        if not isinstance(node.expression, exp.Null):
            raise QueryRefused(
                f"{_shown(node)}: Athena has IS NULL / IS NOT NULL only (no IS TRUE / IS FALSE)"
            )
        return node

    def _fetch(self, node: exp.Fetch) -> exp.Expression:
        if node.args.get("with_ties") or "TIES" in node.sql(dialect="trino").upper():
            raise QueryRefused("FETCH FIRST ... WITH TIES is not supported locally; run it with --athena")
        return node

    def _interval(self, node: exp.Interval) -> exp.Expression:
        unit = (node.text("unit") or "").upper()
        value = node.this
        if unit.rstrip("S") not in ("YEAR", "MONTH", "DAY", "HOUR", "MINUTE", "SECOND") or " " in unit:
            raise QueryRefused(
                f"{_shown(node)}: the local engine reads INTERVAL '<n>' YEAR|MONTH|DAY|HOUR|MINUTE|SECOND only"
            )
        if (
            isinstance(value, exp.Literal)
            and value.is_string
            and not re.fullmatch(r"[+-]?\d+", value.this.strip())
        ):
            raise QueryRefused(f"{_shown(node)}: the local engine reads whole-number intervals only")
        return node

    def _literal(self, node: exp.Literal) -> exp.Expression:
        if node.is_string:
            return node
        text = node.this.lower()
        if "e" not in text and "." not in text and not -(2**63) <= int(text) < 2**63:
            raise QueryRefused(f"the number {node.this} is out of range for BIGINT (Invalid numeric literal)")
        if "e" not in text and "." in text:
            precision = _decimal_ps(_literal_type(node))[0]
            if precision > 38:
                raise QueryRefused(
                    f"the decimal literal {node.this} has more than 38 digits (Athena rejects it)"
                )
        return node

    def _array(self, node: exp.Array) -> exp.Expression:
        if node.expressions:
            self._comparable(node, node.expressions)
        return node

    def _try(self, node: exp.Try) -> exp.Expression:
        """TRY(x): the errors Athena's TRY catches (division by zero, invalid casts and function arguments,
        numeric overflow) become NULL: the local rewrites' errors are replaced by NULL, DuckDB's own by its
        TRY. A value refused at run time cannot hide behind TRY: refused."""
        inner = node.this
        for call in list(inner.find_all(exp.Anonymous)):
            name = str(call.this).lower()
            if name in _REFUSING_FUNCTIONS:
                raise QueryRefused(
                    f"try({_shown(inner)}): a value the local engine refuses at run time would become NULL "
                    "inside TRY; run it with --athena"
                )
            if name != "error":
                continue
            first = call.expressions[0] if call.expressions else None
            text = first.sql(dialect="duckdb") if first is not None else ""
            if REFUSED in text:
                raise QueryRefused(
                    f"try({_shown(inner)}): a value the local engine refuses at run time would become NULL "
                    "inside TRY; run it with --athena"
                )
            if call is inner:
                inner = exp.Null()
            else:
                call.replace(exp.Null())
        if any(isinstance(n, exp.Rand | exp.Subquery) for n in inner.walk()):
            raise QueryRefused(f"try({_shown(inner)}) with random() or a subquery is not supported locally")
        return exp.Try(this=inner)

    def _within_group(self, node: exp.WithinGroup) -> exp.Expression:
        inner, order = node.this, node.expression
        if not isinstance(inner, exp.GroupConcat) or not isinstance(order, exp.Order):
            raise QueryRefused(f"{_shown(node)}: WITHIN GROUP is supported locally for listagg() only")
        separator = inner.args.get("separator") or _str("")
        ordered = exp.Order(this=_dup(inner.this), expressions=[o.copy() for o in order.expressions])
        return exp.GroupConcat(this=ordered, separator=_dup(separator))

    def _hoist(self, node: exp.Expression) -> exp.Expression:
        """An aggregate rewritten into an expression of aggregates (sum(x) -> CAST(sum(x) AS BIGINT)): the
        OVER / FILTER / IGNORE NULLS goes on each aggregate inside."""
        inner = node.this
        if inner.meta.get("aggregate_core"):  # the aggregate itself: the wrapped aggregate is the core now
            inner.meta.pop("aggregate_core")
            node.meta["aggregate_core"] = True
            return node
        cores = [n for n in inner.walk() if n.meta.get("aggregate_core")]
        if not cores:
            return node
        for core in cores:
            wrapped = node.copy()
            wrapped.set("this", core.copy())
            wrapped.this.meta.pop("aggregate_core", None)
            wrapped.meta["aggregate_core"] = True
            core.replace(wrapped)
        return inner

    def _date_function(self, node: exp.Expression) -> exp.Expression:
        args = _call_args(node)
        if len(args) != 1:
            raise QueryRefused(f"date() takes one argument in Athena: {_shown(node)}")
        cast = exp.Cast(this=args[0], to=exp.DataType.build("DATE"))
        self.types.alias(cast, node)
        return self._cast(cast)

    # -- CAST

    def _cast(self, node: exp.Expression) -> exp.Expression:
        soft = isinstance(node, exp.TryCast)
        value = node.this
        source = self._type(value)
        target = _from_datatype(node.to)
        sf, tf = _family(source), _family(target)
        shown = _shown(node)
        if node.to.this == exp.DataType.Type.TEXT:
            raise QueryRefused(f"{shown}: Athena has no type STRING in queries; write VARCHAR")
        if (
            target in ("char", "?")
            or tf in ("other", "interval", "array")
            or target == "timestamp with time zone"
        ):
            raise QueryRefused(
                f"{shown}: CAST to {node.to.sql(dialect='trino')} is not supported locally; run it with --athena"
            )
        if sf in ("null", "?") or source == target:
            return self._cast_to_varchar_length(node, value) if tf == "str" else node
        if sf == "str" and isinstance(value, exp.Literal) and value.is_string:
            return self._cast_literal(node, value.this, target, soft)
        if tf == "str":
            if sf in ("int", "bool", "str", "date", "decimal"):
                return self._cast_to_varchar_length(node, value)
            if source == "double":
                return self._cast_to_varchar_length(node, _call("trino_double_to_varchar", value))
            raise QueryRefused(
                f"{shown}: CAST of a {source.upper()} to VARCHAR is not supported locally (Athena's text differs); "
                "use date_format() for timestamps"
            )
        if tf == "int":
            if sf in ("int", "decimal", "bool"):
                return node
            if sf == "float":  # Athena rounds half away from zero, DuckDB half to even
                return type(node)(this=_call("round", value), to=node.to)
            if sf == "str":
                return self._cast_text(node, value, target, r"^[+-]?[0-9]+$", soft)
        elif tf == "decimal":
            if sf in ("int", "decimal"):
                return node
            if sf == "str":
                return self._cast_text(
                    node, value, target, r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$", soft
                )
        elif tf == "float":
            if sf in ("int", "decimal", "float", "bool"):
                return node
            if sf == "str":
                return self._cast_text_to_double(node, value, target, soft)
        elif tf == "bool":
            if sf in ("int", "decimal"):
                return node
            if sf == "str":
                return self._cast_text_to_boolean(node, value, soft)
        elif tf == "date":
            if sf == "timestamp" and source == "timestamp":
                return node
            if sf == "str":
                return self._cast_text(
                    node, value, target, r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$", soft, refuse_other=True
                )
        elif tf == "timestamp":
            if sf == "date":
                return node
            if sf == "str":
                pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}( [0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,3})?)?)?$"
                return self._cast_text(node, value, target, pattern, soft, refuse_other=True)
        raise QueryRefused(
            f"{shown}: CAST of a {source.upper()} to {target.upper()} is not supported locally"
        )

    def _cast_to_varchar_length(self, node: exp.Expression, value: exp.Expression) -> exp.Expression:
        params = node.to.expressions
        text = exp.Cast(this=value, to=exp.DataType.build("VARCHAR"))
        if params:
            length = params[0].this if isinstance(params[0], exp.DataTypeParam) else params[0]
            return _call("trino_substr3", text, _num(1), _dup(length))
        return text

    def _cast_literal(self, node: exp.Expression, text: str, target: str, soft: bool) -> exp.Expression:
        """A typed literal (DATE '2024-01-02') or a CAST of a string literal: checked here, as Athena
        checks it before running the query."""
        tf = _family(target)
        stripped = text.strip("".join(map(chr, range(0x21))))
        ok = True
        to = exp.DataType.build(target.upper()) if tf != "decimal" else None
        if tf == "int":
            ok = re.fullmatch(r"[+-]?[0-9]+", stripped) is not None
            ranges = {"tinyint": 7, "smallint": 15, "integer": 31, "bigint": 63}
            ok = ok and -(2 ** ranges[target]) <= int(stripped) < 2 ** ranges[target]
        elif tf == "decimal":
            ok = re.fullmatch(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?", stripped) is not None
            params = node.to.expressions
            if not params and ok:  # DECIMAL '1.50': the literal's own precision and scale
                whole, _, fraction = stripped.lstrip("+-").partition(".")
                precision = max(1, len(whole.lstrip("0")) + len(fraction))
                if "e" in stripped.lower() or precision > 38:
                    raise QueryRefused(f"{_shown(node)}: not a DECIMAL literal Athena reads")
                to = exp.DataType.build(f"DECIMAL({precision}, {len(fraction)})")
            else:
                to = node.to
        elif tf == "float":
            value = _java_double(stripped)
            if value is None:
                ok = False
            else:
                return exp.Cast(this=_str(value), to=exp.DataType.build(target.upper()))
        elif tf == "bool":
            if text.lower() in ("t", "true", "1"):
                return exp.true()
            if text.lower() in ("f", "false", "0"):
                return exp.false()
            ok = False
        elif tf == "date":
            ok = re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", stripped) is not None
            stripped_valid = ok and _valid_date(stripped)
            if ok and not stripped_valid:
                ok = False
        elif tf == "timestamp":
            match = re.fullmatch(
                r"([0-9]{4}-[0-9]{2}-[0-9]{2})( [0-9]{1,2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?)?", stripped
            )
            ok = match is not None and _valid_date(match.group(1))
        elif tf == "str":
            return self._cast_to_varchar_length(node, _str(text))
        if not ok:
            if soft:
                return exp.Cast(this=exp.Null(), to=node.to)
            if tf in ("date", "timestamp") and not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}.*", stripped):
                raise QueryRefused(
                    f"{_shown(node)}: the local engine reads only the ISO form of a {target.upper()} "
                    "(YYYY-MM-DD[ hh:mm[:ss[.fff]]])"
                )
            name = {"integer": "INT"}.get(target, target.upper().split("(")[0])
            message = (
                f"Value cannot be cast to {target}: {text}"
                if tf in ("date", "timestamp")
                else f"Cannot cast '{text}' to {name}"
            )
            return exp.Cast(this=_fail(message), to=node.to)
        return exp.Cast(this=_str(stripped), to=to)

    def _cast_text(
        self,
        node: exp.Expression,
        value: exp.Expression,
        target: str,
        pattern: str,
        soft: bool,
        refuse_other: bool = False,
    ) -> exp.Expression:
        trimmed = _call(
            "regexp_replace", _dup(value), _str(r"^[\x00-\x20]+|[\x00-\x20]+$"), _str(""), _str("g")
        )
        matches = _call("regexp_matches", trimmed.copy(), _str(pattern))
        cast = (
            exp.TryCast(this=trimmed.copy(), to=node.to)
            if soft
            else exp.Cast(this=trimmed.copy(), to=node.to)
        )
        name = {"integer": "INT"}.get(target, target.upper().split("(")[0])
        if refuse_other:
            other = _fail(
                exp.DPipe(
                    this=exp.DPipe(this=_str("CAST('"), expression=_dup(value)),
                    expression=_str(f"' AS {name}): the local engine reads only the ISO form"),
                ),
                refused=True,
            )
        elif soft:
            other = exp.Null()
        else:
            other = _fail(
                exp.DPipe(
                    this=exp.DPipe(this=_str("Cannot cast '"), expression=_dup(value)),
                    expression=_str(f"' to {name}"),
                )
            )
        return _case([(_is_null(value), exp.Null()), (exp.Not(this=matches), other)], cast)

    def _cast_text_to_double(
        self, node: exp.Expression, value: exp.Expression, target: str, soft: bool
    ) -> exp.Expression:
        trimmed = _call(
            "regexp_replace", _dup(value), _str(r"^[\x00-\x20]+|[\x00-\x20]+$"), _str(""), _str("g")
        )
        number = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?[fFdD]?$"
        digits = _call("regexp_replace", trimmed.copy(), _str("[fFdD]$"), _str(""))
        special = {"NaN": "NaN", "Infinity": "Infinity", "+Infinity": "Infinity", "-Infinity": "-Infinity"}
        cases = [(_is_null(value), exp.Null())]
        for text, meaning in special.items():
            cases.append(
                (exp.EQ(this=trimmed.copy(), expression=_str(text)), exp.Cast(this=_str(meaning), to=node.to))
            )
        cases.append(
            (_call("regexp_matches", trimmed.copy(), _str(number)), exp.Cast(this=digits, to=node.to))
        )
        name = "DOUBLE" if target == "double" else "REAL"
        other = (
            exp.Null()
            if soft
            else _fail(
                exp.DPipe(
                    this=exp.DPipe(this=_str("Cannot cast '"), expression=_dup(value)),
                    expression=_str(f"' to {name}"),
                )
            )
        )
        return _case(cases, other)

    def _cast_text_to_boolean(
        self, node: exp.Expression, value: exp.Expression, soft: bool
    ) -> exp.Expression:
        lowered = _call("lower", _dup(value))
        truthy = exp.In(this=lowered, expressions=[_str("t"), _str("true"), _str("1")])
        falsy = exp.In(this=lowered.copy(), expressions=[_str("f"), _str("false"), _str("0")])
        other = (
            exp.Null()
            if soft
            else _fail(
                exp.DPipe(
                    this=exp.DPipe(this=_str("Cannot cast '"), expression=_dup(value)),
                    expression=_str("' to BOOLEAN"),
                )
            )
        )
        return _case([(_is_null(value), exp.Null()), (truthy, exp.true()), (falsy, exp.false())], other)


def _valid_date(text: str) -> bool:
    import datetime as dt

    try:
        dt.date.fromisoformat(text)
        return True
    except ValueError:
        return False


def _java_double(text: str) -> str | None:
    """The value of a string Java's Double.parseDouble reads (Trino's CAST(varchar AS DOUBLE)), as text DuckDB
    reads the same; None if Java rejects it."""
    specials = {"NaN": "NaN", "Infinity": "Infinity", "+Infinity": "Infinity", "-Infinity": "-Infinity"}
    if text in specials:
        return specials[text]
    if re.fullmatch(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?[fFdD]?", text):
        return text.rstrip("fFdD")
    return None


def _plain_number(node: exp.Expression) -> bool:
    """A number literal (never NaN) or NULL."""
    if isinstance(node, exp.Paren):
        return _plain_number(node.this)
    if isinstance(node, exp.Neg):
        node = node.this
    return isinstance(node, exp.Null) or (isinstance(node, exp.Literal) and not node.is_string)


_FLIPPED = {
    exp.GT: exp.LT,
    exp.GTE: exp.LTE,
    exp.LT: exp.GT,
    exp.LTE: exp.GTE,
    exp.EQ: exp.EQ,
    exp.NEQ: exp.NEQ,
}


def _nan_safe_compare(
    kind: type[exp.Expression], left: exp.Expression, right: exp.Expression
) -> exp.Expression:
    """left <op> right with Trino's NaN semantics (a NaN is equal to nothing, not even a NaN, and neither less
    nor greater than anything), NULLs as usual. DuckDB orders NaN above every number and equal to itself:
    against a number literal only > and >= differ, and stay a plain comparison the scan can push down."""
    nan_answer = exp.true() if kind is exp.NEQ else exp.false()
    compared = kind(this=_dup(left), expression=_dup(right))
    if _plain_number(left) and _plain_number(right):
        return compared
    if _plain_number(left) or _plain_number(right):
        value, effective = (right, _FLIPPED[kind]) if _plain_number(left) else (left, kind)
        if effective in (exp.GT, exp.GTE):  # DuckDB: NaN > 1 is true
            return exp.Paren(this=exp.And(this=compared, expression=exp.Not(this=_isnan(value))))
        return compared
    nan_test = exp.Or(this=_isnan(left), expression=_isnan(right))
    return exp.Paren(this=_case([(_any_null([left, right]), exp.Null()), (nan_test, nan_answer)], compared))


def _rewrite_division(node: exp.Div, left_type: str, right_type: str) -> exp.Expression:
    kinds = (_family(left_type), _family(right_type))
    shown = _shown(node)
    if "float" in kinds:
        return node
    if "?" in kinds:
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


def to_duckdb(query: exp.Query, schema: Schema, database: str | None = None) -> str:
    """DuckDB SQL with Athena's answers for the query (already checked by `parse_query`).

    `schema` types the lake's tables; the query is qualified first unless `qualify_query` did it. The SQL
    calls TRINO_FUNCTIONS (register them with `register_trino_functions`).
    """
    return _on_deep_stack(_to_duckdb, query, schema, database)


def _to_duckdb(query: exp.Query, schema: Schema, database: str | None) -> str:
    tree = query if _is_annotated(query) else _qualify(query, schema, database)
    tree = tree.copy()
    tree = _Translator(tree, schema).translate(tree)
    _parenthesize(tree)
    sql = tree.sql(dialect="duckdb", comments=False)
    if len(sql) > MAX_TRANSLATED_BYTES:
        raise QueryRefused(
            f"the query's local translation is {len(sql):,} characters long (the limit is "
            f"{MAX_TRANSLATED_BYTES:,}): simplify it, or run it with --athena"
        )
    return sql


def _tree_size(root: exp.Expression) -> int:
    """Nodes in a tree, counting a subtree already measured (meta "size", kept by copies) at once."""
    total = 0
    stack = [root]
    while stack:
        node = stack.pop()
        cached = node.meta.get("size") if node is not root else None
        if cached is not None:
            total += cached
            continue
        total += 1
        stack.extend(node.iter_expressions())
    return total


_OPERATORS = (exp.Binary, exp.Unary, exp.Between, exp.In)


def _parenthesize(root: exp.Expression) -> None:
    """Parentheses around every operator that is an operand of another: the rewrites build trees, and
    sqlglot writes an operand as it is, without its precedence."""
    for node in list(root.walk()):
        if not isinstance(node, _OPERATORS) or isinstance(node, exp.Paren | exp.Escape):
            continue
        for child in list(node.iter_expressions()):
            if isinstance(child, _OPERATORS) and not isinstance(child, exp.Paren):
                paren = exp.Paren()
                child.replace(paren)
                paren.set("this", child)


def _is_annotated(query: exp.Query) -> bool:
    return query.type is not None or any(s.type is not None for s in query.find_all(exp.Select))


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
    "SSSSSS": "%g000",
    "a": "%p",
    "Z": "+0000",
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
                    f"supported: {', '.join(sorted(JODA_TO_STRFTIME))}; or run it with --athena"
                )
            out.append(JODA_TO_STRFTIME[run])
            i += len(run)
            continue
        out.append("%%" if ch == "%" else ch)
        i += 1
    return "".join(out)


# Trino's function list (docs/src/main/sphinx/functions/list.md), without the geospatial, machine learning,
# sketch, color and connector-specific ones (all refused)
_TRINO_FUNCTION_NAMES = """
abs acos all_match any_match any_value approx_distinct approx_most_frequent approx_percentile approx_set arbitrary
array_agg array_distinct array_except array_histogram array_intersect array_join array_max array_min
array_position array_remove array_sort array_union arrays_overlap asin at_timezone atan atan2 avg bar beta_cdf
bit_count bitwise_and bitwise_and_agg bitwise_left_shift bitwise_not bitwise_or bitwise_or_agg bitwise_right_shift
bitwise_right_shift_arithmetic bitwise_xor bool_and bool_or cardinality cbrt ceil ceiling checksum chr codepoint
combinations concat concat_ws contains contains_sequence corr cos cosh cosine_distance cosine_similarity count
count_if covar_pop covar_samp crc32 cume_dist current_timezone date date_add date_diff date_format date_parse
date_trunc day day_of_month day_of_week day_of_year degrees dense_rank dow doy e element_at ends_with every exp
filter first_value flatten floor format format_datetime format_number from_base from_base32 from_base64
from_base64url from_big_endian_32 from_big_endian_64 from_hex from_ieee754_32 from_ieee754_64 from_iso8601_date
from_iso8601_timestamp from_iso8601_timestamp_nanos from_unixtime from_unixtime_nanos from_utf8 geometric_mean
greatest hamming_distance histogram hmac_md5 hmac_sha1 hmac_sha256 hmac_sha512 hour human_readable_seconds
infinity inverse_beta_cdf inverse_normal_cdf is_finite is_infinite is_json_scalar is_nan json_array_contains
json_array_get json_array_length json_extract json_extract_scalar json_format json_parse json_size kurtosis lag
last_day_of_month last_value lead least length levenshtein_distance listagg ln log log10 log2 lower lpad ltrim
luhn_check map map_agg map_concat map_entries map_filter map_from_entries map_keys map_union map_values
map_zip_with max max_by md5 millisecond min min_by minute mod month multimap_agg multimap_from_entries murmur3 nan
ngrams none_match normal_cdf normalize now nth_value ntile numeric_histogram parse_data_size parse_datetime
parse_duration percent_rank pi pow power quarter radians rand random rank reduce reduce_agg regexp_count
regexp_extract regexp_extract_all regexp_like regexp_position regexp_replace regexp_split regr_intercept
regr_slope repeat replace reverse round row_number rpad rtrim second sequence sha1 sha256 sha512 shuffle sign sin
sinh skewness slice soundex split split_part split_to_map split_to_multimap spooky_hash_v2_32 spooky_hash_v2_64
sqrt starts_with stddev stddev_pop stddev_samp strpos substr substring sum tan tanh timezone_hour timezone_minute
to_base to_base32 to_base64 to_base64url to_big_endian_32 to_big_endian_64 to_char to_date to_hex to_ieee754_32
to_ieee754_64 to_iso8601 to_milliseconds to_timestamp to_unixtime to_utf8 transform transform_keys
transform_values translate trim trim_array truncate typeof upper url_decode url_encode url_extract_fragment
url_extract_host url_extract_parameter url_extract_path url_extract_port url_extract_protocol url_extract_query
uuid var_pop var_samp variance week week_of_year width_bucket wilson_interval_lower wilson_interval_upper
with_timezone word_stem xxhash64 year year_of_week yow zip zip_with
""".split()


def _function_status(name: str) -> str:
    for args in ("", "1", "1, 1", "1, 1, 1", "1, 1, 1, 1", "'day', 1, 1"):
        try:
            select = sqlglot.parse_one(f"SELECT {name}({args})", read=READ_DIALECT)
        except SqlglotError:
            continue
        node = select.expressions[0] if isinstance(select, exp.Select) and select.expressions else None
        if node is None:
            continue
        if isinstance(node, exp.Bracket):  # element_at
            return "rewritten"
        if isinstance(node, exp.Cast | exp.Date):  # date(x): CAST(x AS DATE)
            return "rewritten"
        spec = _spec_for(node)
        if spec is not None:
            return spec.what
    return "refused"


_FUNCTIONS_CACHE: dict[str, str] = {}


def __getattr__(name: str):
    if name == "FUNCTIONS":  # computed on first use: a few hundred parses
        if not _FUNCTIONS_CACHE:
            _FUNCTIONS_CACHE.update({n: _function_status(n) for n in sorted(set(_TRINO_FUNCTION_NAMES))})
        return dict(_FUNCTIONS_CACHE)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
