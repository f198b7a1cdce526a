"""Trino's documented behaviour, checked on the local engine: every example either gives Athena's (Trino's)
answer, fails with Athena's error, or is refused with a message naming the construct — never a different
answer. The examples are Trino's documentation's (trino.io/docs, functions/*), the issue's probes, and the
edge cases of Trino's own code (StringFunctions, MathFunctions, ...) that DuckDB answers differently.

Each case is one query through `run_local` on real DuckDB (an empty lake: the queries read VALUES), with
the expected value of the first column (`Rows(...)` for several rows), `Fails("...")` for an error Athena
raises too, or `Refused("...")` for a refusal; the text must appear in the message.
"""

import datetime as dt
import math
import statistics
from dataclasses import dataclass
from decimal import Decimal

import pytest

from glue.local_sql import QueryFailed, run_local
from glue.translate import FUNCTIONS, QueryRefused
from lake.store import LocalStore


@dataclass(frozen=True)
class Fails:
    """Athena raises an error; so does the local engine, with this text."""

    text: str


@dataclass(frozen=True)
class Refused:
    """The local engine refuses, naming this construct."""

    text: str


@dataclass(frozen=True)
class Rows:
    """The first column of several rows, in order."""

    values: tuple


@dataclass(frozen=True)
class Approx:
    """A double within a relative 1e-12 (transcendental functions may differ in the last bit)."""

    value: float


NAN = float("nan")
INF = float("inf")
UTC = dt.UTC


def _values(*rows: str) -> str:
    return "(VALUES " + ", ".join(rows) + ")"


def _sample(xs: list[float]) -> str:
    return _values(*(f"{x!r}e0" if "e" not in repr(x) else repr(x) for x in xs))


_XS = [1.0, 2.0, 4.0, 8.0, 9.0]


def _trino_skewness(xs: list[float]) -> float:
    n, mean = len(xs), sum(xs) / len(xs)
    m2 = sum((x - mean) ** 2 for x in xs)
    m3 = sum((x - mean) ** 3 for x in xs)
    return math.sqrt(n) * m3 / m2**1.5


def _trino_kurtosis(xs: list[float]) -> float:
    n, mean = len(xs), sum(xs) / len(xs)
    m2 = sum((x - mean) ** 2 for x in xs)
    m4 = sum((x - mean) ** 4 for x in xs)
    return ((n - 1) * n * (n + 1)) / ((n - 2) * (n - 3)) * m4 / (m2 * m2) - 3 * ((n - 1) ** 2) / (
        (n - 2) * (n - 3)
    )


_PAIRS = [(1.0, 2.0), (2.0, 4.0), (3.0, 6.5), (4.0, 7.0)]  # (x, y)
_PAIRS_SQL = _values(*(f"({x}e0, {y}e0)" for x, y in _PAIRS)) + " t(x, y)"
_PX, _PY = [p[0] for p in _PAIRS], [p[1] for p in _PAIRS]
_SLOPE = statistics.covariance(_PX, _PY) / statistics.variance(_PX)

CASES: list[tuple[str, object]] = [
    # --- the probes -------------------------------------------------------------------------------
    ("SELECT CAST(2.5e0 AS INTEGER)", 3),
    ("SELECT CAST(-2.5e0 AS INTEGER)", -3),
    ("SELECT substr('hello', 0, 2)", ""),
    ("SELECT CAST(1e7 AS VARCHAR)", "1.0E7"),
    (
        "SELECT sum(x) FROM (VALUES BIGINT '9223372036854775807', BIGINT '1') t(x)",
        Fails("bigint addition overflow"),
    ),
    (
        "SELECT split('a,b,c', ',')[4]",
        Fails("Array subscript must be less than or equal to array length: 4 > 3"),
    ),
    ("SELECT regexp_replace('555-1234', '(\\d+)-(\\d+)', '($1) $2')", "(555) 1234"),
    ("SELECT split_part('a/b/c', '/', 4)", None),
    ("SELECT split_part('a/b/c', '/', 0)", Fails("Index must be greater than zero")),
    ("SELECT strpos('abc/xyz/foo/bar', '/', 3)", 12),
    ("SELECT date_parse('2024-01-02 12:02:03', '%Y-%m-%d %h:%i:%s')", dt.datetime(2024, 1, 2, 0, 2, 3)),
    ("SELECT DOUBLE 'NaN' = DOUBLE 'NaN'", False),
    ("SELECT array_min(ARRAY[NULL, 2, 3])", None),
    ("SELECT ARRAY[1,2,3][-1]", Fails("Array subscript is negative: -1")),
    ("SELECT -(INTEGER '-2147483648')", Fails("overflow")),
    ("SELECT split('a.b', '.', 1)", ["a.b"]),
    # --- math (functions/math.md, MathFunctions.java) -------------------------------------------------------
    ("SELECT abs(-5)", 5),
    ("SELECT abs(-2.5e0)", 2.5),
    ("SELECT abs(DECIMAL '-2.50')", Decimal("2.50")),
    ("SELECT abs(INTEGER '-2147483648')", Fails("abs")),
    ("SELECT cbrt(27e0)", 3.0),
    ("SELECT cbrt(-8e0)", -2.0),
    ("SELECT cbrt(27)", 3.0),
    ("SELECT ceil(1.2e0)", 2.0),
    ("SELECT ceiling(-1.5e0)", -1.0),
    ("SELECT ceil(1.2)", Decimal("2")),
    ("SELECT ceil(5)", 5),
    ("SELECT floor(-1.5e0)", -2.0),
    ("SELECT floor(1.5)", Decimal("1")),
    ("SELECT floor(-1.5)", Decimal("-2")),
    ("SELECT degrees(pi())", 180.0),
    ("SELECT radians(180e0)", math.pi),
    ("SELECT e()", math.e),
    ("SELECT exp(0)", 1.0),
    ("SELECT exp(1e0)", Approx(math.e)),
    ("SELECT ln(1)", 0.0),
    ("SELECT ln(0e0)", -INF),
    ("SELECT ln(-1e0)", NAN),
    ("SELECT log2(8)", 3.0),
    ("SELECT log2(0e0)", -INF),
    ("SELECT log10(1000)", 3.0),
    ("SELECT log10(0e0)", -INF),
    ("SELECT log(2, 8)", math.log(8) / math.log(2)),
    ("SELECT log(10, 100)", math.log(100) / math.log(10)),
    ("SELECT mod(7, 3)", 1),
    ("SELECT mod(-7, 3)", -1),
    ("SELECT mod(7, -3)", 1),
    ("SELECT mod(7.5e0, 2)", 1.5),
    ("SELECT mod(5, 0)", Fails("Division by zero")),
    ("SELECT 5e0 % 0", NAN),
    ("SELECT -7 % 3", -1),
    ("SELECT 7.5 % 2", Decimal("1.5")),
    ("SELECT pi()", math.pi),
    ("SELECT pow(2, 10)", 1024.0),
    ("SELECT power(2e0, 0.5e0)", math.sqrt(2)),
    ("SELECT pow(1, nan())", NAN),
    ("SELECT pow(-1, infinity())", NAN),
    ("SELECT pow(0e0, -1)", INF),
    ("SELECT pow(nan(), 0)", 1.0),
    ("SELECT round(2.5e0)", 3.0),
    ("SELECT round(-2.5e0)", -3.0),
    ("SELECT round(0.5e0)", 1.0),
    ("SELECT round(1.005e0, 2)", 1.0),
    ("SELECT round(2.675e0, 2)", 2.68),  # 2.675e0 * 100 is 267.5 in IEEE arithmetic
    ("SELECT round(12.5e0, -1)", 10.0),
    ("SELECT round(-0.4e0)", -0.0),
    ("SELECT round(nan())", NAN),
    ("SELECT round(infinity(), 2)", INF),
    ("SELECT round(1e300, 2)", Refused("2^63")),
    ("SELECT round(2.5)", Decimal("3")),
    ("SELECT round(-2.5)", Decimal("-3")),
    ("SELECT round(2.45, 1)", Decimal("2.5")),
    ("SELECT round(1250, -2)", 1300),
    ("SELECT round(-1250, -2)", -1300),
    ("SELECT round(5)", 5),
    ("SELECT sign(-5)", -1),
    ("SELECT sign(2.5e0)", 1.0),
    ("SELECT sign(0e0)", 0.0),
    ("SELECT sign(nan())", NAN),
    ("SELECT sign(-2.5)", Decimal("-1")),
    ("SELECT sqrt(4)", 2.0),
    ("SELECT sqrt(-1e0)", NAN),
    ("SELECT truncate(3.7e0)", 3.0),
    ("SELECT truncate(-3.7e0)", -3.0),
    ("SELECT truncate(3.7)", Decimal("3")),
    ("SELECT truncate(3.789, 2)", Decimal("3.78")),
    ("SELECT truncate(-3.789, 2)", Decimal("-3.78")),
    ("SELECT truncate(3.7e0, 1)", Refused("truncate(x, n)")),
    ("SELECT width_bucket(5.35e0, 0.024e0, 10.06e0, 5)", 3),
    ("SELECT width_bucket(-1e0, 0e0, 10e0, 5)", 0),
    ("SELECT width_bucket(10e0, 0e0, 10e0, 5)", 6),
    ("SELECT width_bucket(3e0, 10e0, 0e0, 5)", 4),
    ("SELECT width_bucket(1e0, 0e0, 10e0, 0)", Fails("bucketCount must be greater than 0")),
    ("SELECT width_bucket(1e0, ARRAY[0e0, 2e0])", Refused("width_bucket")),
    ("SELECT infinity()", INF),
    ("SELECT nan()", NAN),
    ("SELECT is_nan(nan())", True),
    ("SELECT is_finite(1e0)", True),
    ("SELECT is_finite(infinity())", False),
    ("SELECT is_infinite(infinity())", True),
    ("SELECT from_base('777', 8)", 511),
    ("SELECT from_base('-ff', 16)", -255),
    ("SELECT from_base('zz', 8)", Fails("Not a valid base-8 number")),
    ("SELECT from_base('1', 1)", Fails("Radix must be between 2 and 36")),
    ("SELECT to_base(511, 8)", "777"),
    ("SELECT to_base(-255, 16)", "-ff"),
    ("SELECT to_base(0, 2)", "0"),
    ("SELECT acos(1e0)", 0.0),
    ("SELECT acos(2e0)", NAN),
    ("SELECT asin(0e0)", 0.0),
    ("SELECT atan(1e0)", math.atan(1.0)),
    ("SELECT atan2(1e0, 1e0)", math.atan2(1.0, 1.0)),
    ("SELECT cos(0e0)", 1.0),
    ("SELECT cosh(0e0)", 1.0),
    ("SELECT sin(0e0)", 0.0),
    ("SELECT sinh(0e0)", 0.0),
    ("SELECT tan(0e0)", 0.0),
    ("SELECT tanh(0e0)", 0.0),
    ("SELECT bitwise_and(12, 10)", 8),
    ("SELECT bitwise_or(12, 10)", 14),
    ("SELECT bitwise_xor(12, 10)", 6),
    ("SELECT bitwise_not(12)", -13),
    ("SELECT bit_count(9, 64)", Refused("bit_count")),
    ("SELECT bitwise_left_shift(1, 2)", Refused("bitwise_left_shift")),
    ("SELECT normal_cdf(0, 1, 0)", Refused("normal_cdf")),
    ("SELECT cosine_similarity(ARRAY[1.0], ARRAY[1.0])", Refused("cosine_similarity")),
    # --- operators ----------------------------------------------------------------------------------------
    ("SELECT 7 / 2", 3),
    ("SELECT -7 / 2", -3),
    ("SELECT 7 / -2", -3),
    ("SELECT 7e0 / 2", 3.5),
    ("SELECT 1.0 / 3", Refused("DECIMAL division")),
    ("SELECT 1 / 0", Fails("Division by zero")),
    ("SELECT 1e0 / 0", INF),
    ("SELECT 0e0 / 0", NAN),
    ("SELECT 2147483647 + 1", Fails("integer addition overflow")),
    ("SELECT 9223372036854775807 + 1", Fails("bigint addition overflow")),
    ("SELECT 2147483647 * 2", Fails("integer multiplication overflow")),
    ("SELECT 9223372036854775808", Refused("out of range for BIGINT")),
    ("SELECT 1.5 * 2.25", Decimal("3.375")),
    ("SELECT 1.5 + 1", Decimal("2.5")),
    ("SELECT 0.1 + 0.2", Decimal("0.3")),
    ("SELECT 0.1e0 + 0.2e0", 0.1 + 0.2),
    ("SELECT 'a' + 1", Refused("Cannot apply operator")),
    ("SELECT true + 1", Refused("Cannot apply operator")),
    ("SELECT 'a' || 1", Refused("VARCHAR || INTEGER")),
    ("SELECT DATE '2012-08-08' + INTERVAL '2' DAY", dt.date(2012, 8, 10)),
    ("SELECT TIMESTAMP '2012-08-08 01:00' + INTERVAL '29' HOUR", dt.datetime(2012, 8, 9, 6, 0)),
    ("SELECT TIMESTAMP '2012-10-31 01:00' + INTERVAL '1' MONTH", dt.datetime(2012, 11, 30, 1, 0)),
    ("SELECT DATE '2012-08-08' - INTERVAL '2' DAY", dt.date(2012, 8, 6)),
    ("SELECT TIMESTAMP '2012-08-08 01:00' - INTERVAL '29' HOUR", dt.datetime(2012, 8, 6, 20, 0)),
    ("SELECT TIMESTAMP '2012-10-31 01:00' - INTERVAL '1' MONTH", dt.datetime(2012, 9, 30, 1, 0)),
    ("SELECT INTERVAL '2' DAY + DATE '2012-08-08'", dt.date(2012, 8, 10)),
    ("SELECT DATE '2012-08-08' + INTERVAL '2' HOUR", Refused("days, months or years to a DATE")),
    ("SELECT DATE '2024-01-02' - DATE '2024-01-01'", Refused("date_diff")),
    ("SELECT INTERVAL '2' DAY + INTERVAL '3' HOUR", Refused("INTERVAL")),
    ("SELECT INTERVAL '1-2' YEAR TO MONTH", Refused("INTERVAL")),
    ("SELECT INTERVAL '2' DAY", Refused("INTERVAL")),
    # --- comparison (functions/comparison.md) ---------------------------------------------------------------
    ("SELECT 3 BETWEEN 2 AND 6", True),
    ("SELECT 3 NOT BETWEEN 2 AND 6", False),
    ("SELECT NULL BETWEEN 2 AND 4", None),
    ("SELECT 2 BETWEEN NULL AND 6", None),
    ("SELECT 2 BETWEEN 3 AND NULL", False),
    ("SELECT 8 BETWEEN NULL AND 6", False),
    ("SELECT 'Paul' BETWEEN 'John' AND 'Ringo'", True),
    ("SELECT 'John' BETWEEN 2.3 AND 35.2", Refused("compares")),
    ("SELECT NULL IS NULL", True),
    ("SELECT 3.0 IS NULL", False),
    ("SELECT NULL IS DISTINCT FROM NULL", False),
    ("SELECT NULL IS NOT DISTINCT FROM NULL", True),
    ("SELECT 1 IS DISTINCT FROM 2", True),
    ("SELECT 1 IS DISTINCT FROM NULL", True),
    ("SELECT 1 = 1", True),
    ("SELECT 1 <> 2", True),
    ("SELECT 1 != 2", True),
    ("SELECT 'a' < 'b'", True),
    ("SELECT 1 = NULL", None),
    ("SELECT 'hello' = ANY (VALUES 'hello', 'world')", True),
    ("SELECT 21 < ALL (VALUES 19, 20, 21)", False),
    ("SELECT 42 >= SOME (SELECT 41 UNION ALL SELECT 42 UNION ALL SELECT 43)", True),
    ("SELECT '1' = 1", Refused("compares VARCHAR with INTEGER")),
    ("SELECT DATE '2024-01-01' = '2024-01-01'", Refused("DATE '2024-01-01'")),
    ("SELECT DATE '2024-01-01' < TIMESTAMP '2024-01-01 00:00:01'", True),
    ("SELECT nan() = nan()", False),
    ("SELECT nan() <> nan()", True),
    ("SELECT nan() > 1", False),
    ("SELECT nan() < 1", False),
    ("SELECT nan() >= nan()", False),
    ("SELECT nan() IN (nan(), 1)", False),
    ("SELECT x > 1 FROM (VALUES nan()) t(x)", False),
    ("SELECT 1 < x FROM (VALUES nan()) t(x)", False),
    ("SELECT x >= 1 FROM (VALUES nan()) t(x)", False),
    ("SELECT x < 1 FROM (VALUES nan()) t(x)", False),
    ("SELECT x = 1 FROM (VALUES nan()) t(x)", False),
    ("SELECT x <> 1 FROM (VALUES nan()) t(x)", True),
    ("SELECT x > 1 FROM (VALUES CAST(NULL AS DOUBLE)) t(x)", None),
    ("SELECT x IN (1e0, 2e0) FROM (VALUES nan()) t(x)", False),
    ("SELECT x > y FROM (VALUES (nan(), 1e0)) t(x, y)", False),
    ("SELECT x = y FROM (VALUES (nan(), nan())) t(x, y)", False),
    ("SELECT count(*) FROM (VALUES 1e0, nan(), 3e0) t(x) WHERE x > 2", 1),
    ("SELECT nan() IN (1, NULL)", None),
    ("SELECT 1e0 IN (nan(), 1)", True),
    ("SELECT nan() BETWEEN 0 AND 1e100", False),
    ("SELECT nullif(nan(), nan())", NAN),
    ("SELECT nan() IS DISTINCT FROM nan()", False),
    ("SELECT CAST(NULL AS DOUBLE) = nan()", None),
    ("SELECT CASE nan() WHEN nan() THEN 'same' ELSE 'different' END", "different"),
    ("SELECT 1e0 = 1", True),
    ("SELECT greatest(1, 2)", 2),
    ("SELECT least(1, 2)", 1),
    ("SELECT greatest(1, NULL)", None),
    ("SELECT least('b', 'a')", "a"),
    ("SELECT greatest(1.5e0, nan())", Fails("Invalid argument to greatest(): NaN")),
    ("SELECT least(1.5e0, 2e0)", 1.5),
    ("SELECT greatest(DATE '2024-01-01', DATE '2024-02-01')", dt.date(2024, 2, 1)),
    ("SELECT greatest(1, 'a')", Refused("greatest")),
    ("SELECT 'South_America' LIKE 'South\\_America' ESCAPE '\\'", True),
    ("SELECT 'abc' LIKE 'a%'", True),
    ("SELECT 'abc' LIKE 'A%'", False),
    ("SELECT 'Asia' LIKE 'A__a'", True),
    ("SELECT 'Europe' NOT LIKE 'E%'", False),
    ("SELECT 1 LIKE '1'", Refused("LIKE takes strings")),
    ("SELECT 'a' ILIKE 'A'", Refused("ILIKE")),
    # --- logical (functions/logical.md) ---------------------------------------------------------------------
    ("SELECT CAST(null AS boolean) AND true", None),
    ("SELECT CAST(null AS boolean) AND false", False),
    ("SELECT CAST(null AS boolean) AND CAST(null AS boolean)", None),
    ("SELECT CAST(null AS boolean) OR CAST(null AS boolean)", None),
    ("SELECT CAST(null AS boolean) OR false", None),
    ("SELECT CAST(null AS boolean) OR true", True),
    ("SELECT NOT CAST(null AS boolean)", None),
    ("SELECT NOT 1", Refused("BOOLEAN")),
    ("SELECT x FROM (VALUES 1) t(x) WHERE 1", Refused("BOOLEAN")),
    ("SELECT true IS TRUE", Refused("IS NULL")),
    # --- conditional (functions/conditional.md) -------------------------------------------------------------
    ("SELECT CASE 1 WHEN 1 THEN 'one' WHEN 2 THEN 'two' ELSE 'many' END", "one"),
    ("SELECT CASE 3 WHEN 1 THEN 'one' WHEN 2 THEN 'two' ELSE 'many' END", "many"),
    ("SELECT CASE WHEN 1 = 2 THEN 'aaa' WHEN 2 = 2 THEN 'bbb' ELSE 'ccc' END", "bbb"),
    ("SELECT CASE WHEN 1 THEN 'x' END", Refused("BOOLEAN")),
    ("SELECT IF(true, 1, 2)", 1),
    ("SELECT IF(false, 1)", None),
    ("SELECT IF(1 > 2, 'High Value', 'Low Value')", "Low Value"),
    ("SELECT coalesce(NULL, 2, 3)", 2),
    ("SELECT coalesce(NULL, NULL)", None),
    ("SELECT coalesce(1, 'a')", Refused("compares")),
    ("SELECT nullif(1, 1)", None),
    ("SELECT nullif(1, 2)", 1),
    ("SELECT try(1 / 0)", None),
    ("SELECT try(CAST(x AS BIGINT)) FROM (VALUES 'P332a') t(x)", None),
    ("SELECT coalesce(try(100 / 0), 0)", 0),
    ("SELECT try(split('a', ',')[3])", None),
    # --- conversion (functions/conversion.md, VarcharOperators.java) ---------------------------------------
    ("SELECT CAST(3.5e0 AS BIGINT)", 4),
    ("SELECT CAST(2.5 AS INTEGER)", 3),
    ("SELECT CAST(-2.5 AS INTEGER)", -3),
    ("SELECT CAST(1e10 AS INTEGER)", Fails("")),
    ("SELECT CAST(nan() AS BIGINT)", Fails("")),
    ("SELECT CAST(1e-4 AS VARCHAR)", "1.0E-4"),
    ("SELECT CAST(0.1e0 AS VARCHAR)", "0.1"),
    ("SELECT CAST(100e0 AS VARCHAR)", "100.0"),
    ("SELECT CAST(1234567.0e0 AS VARCHAR)", "1234567.0"),
    ("SELECT CAST(12345678e0 AS VARCHAR)", "1.2345678E7"),
    ("SELECT CAST(0.001e0 AS VARCHAR)", "0.001"),
    ("SELECT CAST(0.00099e0 AS VARCHAR)", "9.9E-4"),
    ("SELECT CAST(nan() AS VARCHAR)", "NaN"),
    ("SELECT CAST(-infinity() AS VARCHAR)", "-Infinity"),
    ("SELECT CAST(-0e0 AS VARCHAR)", "-0.0"),
    ("SELECT CAST(1.50 AS VARCHAR)", "1.50"),
    ("SELECT CAST(123 AS VARCHAR)", "123"),
    ("SELECT CAST(true AS VARCHAR)", "true"),
    ("SELECT CAST(DATE '2024-01-02' AS VARCHAR)", "2024-01-02"),
    ("SELECT CAST('abc' AS VARCHAR(2))", "ab"),
    ("SELECT CAST(TIMESTAMP '2024-01-02 03:04:05' AS VARCHAR)", Refused("date_format")),
    ("SELECT CAST('12' AS INTEGER)", 12),
    ("SELECT CAST(' 12 ' AS INTEGER)", 12),
    ("SELECT CAST('+12' AS BIGINT)", 12),
    ("SELECT CAST('1.5' AS INTEGER)", Fails("Cannot cast '1.5' to INT")),
    ("SELECT CAST('1e3' AS INTEGER)", Fails("Cannot cast '1e3' to INT")),
    ("SELECT CAST('0x10' AS INTEGER)", Fails("Cannot cast '0x10' to INT")),
    ("SELECT CAST(x AS INTEGER) FROM (VALUES '1.5') t(x)", Fails("Cannot cast '1.5' to INT")),
    ("SELECT CAST(x AS INTEGER) FROM (VALUES ' 7 ') t(x)", 7),
    ("SELECT CAST(x AS TINYINT) FROM (VALUES '200') t(x)", Fails("")),
    ("SELECT CAST('1.5' AS DOUBLE)", 1.5),
    ("SELECT CAST('NaN' AS DOUBLE)", NAN),
    ("SELECT CAST('Infinity' AS DOUBLE)", INF),
    ("SELECT CAST('inf' AS DOUBLE)", Fails("Cannot cast 'inf' to DOUBLE")),
    ("SELECT CAST('1.5d' AS DOUBLE)", 1.5),
    ("SELECT CAST(' 2 ' AS DOUBLE)", 2.0),
    ("SELECT CAST(x AS DOUBLE) FROM (VALUES 'nan') t(x)", Fails("Cannot cast 'nan' to DOUBLE")),
    ("SELECT CAST(x AS DOUBLE) FROM (VALUES '-Infinity') t(x)", -INF),
    ("SELECT CAST(x AS DOUBLE) FROM (VALUES '1e3f') t(x)", 1000.0),
    ("SELECT CAST('2.345' AS DECIMAL(3,2))", Decimal("2.35")),
    ("SELECT CAST('-2.345' AS DECIMAL(3,2))", Decimal("-2.35")),
    ("SELECT CAST(x AS DECIMAL(3,2)) FROM (VALUES '123.4') t(x)", Fails("")),
    ("SELECT CAST('true' AS BOOLEAN)", True),
    ("SELECT CAST('T' AS BOOLEAN)", True),
    ("SELECT CAST('0' AS BOOLEAN)", False),
    ("SELECT CAST(x AS BOOLEAN) FROM (VALUES 'FALSE') t(x)", False),
    ("SELECT CAST(x AS BOOLEAN) FROM (VALUES 'yes') t(x)", Fails("Cannot cast 'yes' to BOOLEAN")),
    ("SELECT CAST(x AS BOOLEAN) FROM (VALUES ' true') t(x)", Fails("Cannot cast ' true' to BOOLEAN")),
    ("SELECT CAST('2024-01-02' AS DATE)", dt.date(2024, 1, 2)),
    ("SELECT CAST('2024-02-30' AS DATE)", Fails("Value cannot be cast to date")),
    ("SELECT CAST(x AS DATE) FROM (VALUES '2024-02-30') t(x)", Fails("")),
    ("SELECT CAST(x AS DATE) FROM (VALUES '20240102') t(x)", Refused("ISO form")),
    ("SELECT CAST(TIMESTAMP '2024-01-02 10:11:12' AS DATE)", dt.date(2024, 1, 2)),
    ("SELECT CAST(DATE '2024-01-02' AS TIMESTAMP)", dt.datetime(2024, 1, 2)),
    ("SELECT CAST('2024-01-02 10:11:12.5' AS TIMESTAMP)", dt.datetime(2024, 1, 2, 10, 11, 12, 500000)),
    ("SELECT CAST(1 AS BOOLEAN)", True),
    ("SELECT CAST(0 AS BOOLEAN)", False),
    ("SELECT CAST(true AS INTEGER)", 1),
    ("SELECT CAST(true AS DOUBLE)", 1.0),
    ("SELECT CAST(DATE '2024-01-01' AS INTEGER)", Refused("CAST")),
    ("SELECT DECIMAL '1.50'", Decimal("1.50")),
    ("SELECT DOUBLE 'NaN'", NAN),
    ("SELECT INTEGER '12'", 12),
    ("SELECT BIGINT '-5'", -5),
    ("SELECT DATE '2024-01-02'", dt.date(2024, 1, 2)),
    ("SELECT date('2024-01-02')", dt.date(2024, 1, 2)),
    ("SELECT TIMESTAMP '2024-01-02 03:04:05.123'", dt.datetime(2024, 1, 2, 3, 4, 5, 123000)),
    ("SELECT TIMESTAMP '2020-10-31 01:00 UTC'", Refused("")),
    ("SELECT TIME '01:00'", Refused("")),
    ("SELECT CAST('a' AS CHAR(3))", Refused("CHAR")),
    ("SELECT CAST(ARRAY[1] AS ARRAY(VARCHAR))", Refused("ARRAY")),
    ("SELECT typeof(123)", Refused("typeof()")),
    ("SELECT format('%03d', 8)", Refused("format")),
    ("SELECT format_number(123456)", Refused("format_number")),
    ("SELECT parse_data_size('1kB')", Refused("parse_data_size")),
    ("SELECT try_cast('12' AS INTEGER)", 12),
    ("SELECT try_cast('x' AS INTEGER)", None),
    ("SELECT try_cast(x AS INTEGER) FROM (VALUES '1.5') t(x)", None),
    ("SELECT try_cast(x AS DOUBLE) FROM (VALUES 'abc') t(x)", None),
    # --- strings (functions/string.md, StringFunctions.java) -------------------------------------------------
    ("SELECT chr(65)", "A"),
    ("SELECT chr(128512)", "\U0001f600"),
    ("SELECT chr(55296)", Fails("Not a valid Unicode code point")),
    ("SELECT codepoint('A')", 65),
    ("SELECT codepoint('AB')", Fails("single character")),
    ("SELECT concat('a', 'b', 'c')", "abc"),
    ("SELECT concat('a', NULL)", None),
    ("SELECT concat('a', 1)", Refused("concat()")),
    ("SELECT 'a' || 'b'", "ab"),
    ("SELECT 'a' || NULL", None),
    ("SELECT concat_ws(',', 'a', NULL, 'b')", "a,b"),
    ("SELECT concat_ws(NULL, 'a')", None),
    ("SELECT concat_ws(',', ARRAY['a', NULL, 'b'])", "a,b"),
    ("SELECT ends_with('abc', 'bc')", True),
    ("SELECT starts_with('abc', 'ab')", True),
    ("SELECT starts_with('abc', '')", True),
    ("SELECT hamming_distance('abcde', 'abxde')", 1),
    ("SELECT hamming_distance('ab', 'abc')", Fails("same length")),
    ("SELECT length('hello')", 5),
    ("SELECT length(chr(128512))", 1),
    ("SELECT length('e' || chr(769))", 2),
    ("SELECT length(123)", Refused("length()")),
    ("SELECT levenshtein_distance('kitten', 'sitting')", 3),
    ("SELECT levenshtein_distance('', 'abc')", 3),
    ("SELECT lower('ABC')", "abc"),
    ("SELECT upper('abc')", "ABC"),
    ("SELECT lpad('abc', 6, 'xy')", "xyxabc"),
    ("SELECT lpad('abc', 2, 'x')", "ab"),
    ("SELECT lpad('abc', 5, '')", Fails("Padding string must not be empty")),
    ("SELECT lpad('abc', 5)", Refused("lpad")),
    ("SELECT rpad('abc', 6, 'xy')", "abcxyx"),
    ("SELECT rpad('abc', -1, 'x')", Fails("Target length")),
    ("SELECT ltrim('  a  ')", "a  "),
    ("SELECT rtrim('  a  ')", "  a"),
    ("SELECT trim('  a  ')", "a"),
    ("SELECT trim(chr(9) || 'a' || chr(10))", "a"),
    ("SELECT luhn_check('79927398713')", Refused("luhn_check")),
    ("SELECT position('b' IN 'abc')", 2),
    ("SELECT position('x' IN 'abc')", 0),
    ("SELECT replace('abc', 'b')", "ac"),
    ("SELECT replace('abc', 'b', 'x')", "axc"),
    ("SELECT replace('abc', '', 'x')", "xaxbxcx"),
    ("SELECT reverse('abc')", "cba"),
    ("SELECT reverse('e' || chr(769))", "\u0301e"),
    ("SELECT soundex('CHYNA')", Refused("soundex")),
    ("SELECT split('a,b,c', ',')", ["a", "b", "c"]),
    ("SELECT split('a,b,c', ',', 2)", ["a", "b,c"]),
    ("SELECT split('a,b', '')", Fails("The delimiter may not be the empty string")),
    ("SELECT split('a,b', ',', 0)", Fails("Limit must be positive")),
    ("SELECT split('', ',')", [""]),
    ("SELECT split('a,,b', ',')", ["a", "", "b"]),
    ("SELECT split('a,b,c', ',')[1]", "a"),
    ("SELECT split_part('a/b/c', '/', 2)", "b"),
    ("SELECT split_part('abc', '', 2)", "b"),
    ("SELECT split_part('a,b,', ',', 3)", ""),
    ("SELECT split_to_map('a=1', ',', '=')", Refused("")),
    ("SELECT strpos('abc/xyz/foo/bar', '/')", 4),
    ("SELECT strpos('abc', 'x')", 0),
    ("SELECT strpos('abc/xyz/foo/bar', '/', -1)", 12),
    ("SELECT strpos('abc/xyz/foo/bar', '/', -3)", 4),
    ("SELECT strpos('abc', 'b', 0)", Fails("'instance' must be a positive or negative number.")),
    ("SELECT strpos('aaa', 'aa', 2)", 2),
    ("SELECT strpos('abc', '')", 1),
    ("SELECT substr('hello', 2)", "ello"),
    ("SELECT substr('hello', -3)", "llo"),
    ("SELECT substr('hello', -3, 2)", "ll"),
    ("SELECT substr('hello', 2, 2)", "el"),
    ("SELECT substr('hello', 10)", ""),
    ("SELECT substr('hello', -10, 2)", ""),
    ("SELECT substr('hello', 1, 0)", ""),
    ("SELECT substr('hello', 1, -1)", ""),
    ("SELECT substring('hello', 2, 100)", "ello"),
    ("SELECT substr(NULL, 0, 2)", None),
    ("SELECT translate('abcd', '', '')", "abcd"),
    ("SELECT translate('abcd', 'a', 'z')", "zbcd"),
    ("SELECT translate('abcda', 'a', 'z')", "zbcdz"),
    ("SELECT translate('Palhoça', 'ç','c')", "Palhoca"),
    ("SELECT translate('abcd', 'a', '')", "bcd"),
    ("SELECT translate('abcd', 'a', 'zy')", "zbcd"),
    ("SELECT translate('abcd', 'ac', 'z')", "zbd"),
    ("SELECT translate('abcd', 'aac', 'zq')", "zbd"),
    ("SELECT trim('!' FROM '!foo!')", "foo"),
    ("SELECT trim(LEADING FROM '  abcd')", "abcd"),
    ("SELECT trim(BOTH '$' FROM '$var$')", "var"),
    ("SELECT trim(TRAILING 'ER' FROM upper('worker'))", "WORK"),
    ("SELECT normalize('e' || chr(769))", "\u00e9"),
    ("SELECT normalize('\u00e9', NFD)", "e\u0301"),
    ("SELECT word_stem('running')", Refused("word_stem")),
    ("SELECT to_utf8('a')", Refused("")),
    ("SELECT from_utf8(to_utf8('a'))", Refused("")),
    ("SELECT md5(to_utf8('a'))", Refused("")),
    # --- regular expressions (functions/regexp.md) ----------------------------------------------------------
    ("SELECT regexp_count('1a 2b 14m', '\\s*[a-z]+\\s*')", 3),
    ("SELECT regexp_extract_all('1a 2b 14m', '\\d+')", ["1", "2", "14"]),
    ("SELECT regexp_extract_all('1a 2b 14m', '(\\d+)([a-z]+)', 2)", ["a", "b", "m"]),
    ("SELECT regexp_extract('1a 2b 14m', '\\d+')", "1"),
    ("SELECT regexp_extract('1a 2b 14m', '(\\d+)([a-z]+)', 2)", "a"),
    ("SELECT regexp_extract('abc', 'x')", None),
    ("SELECT regexp_extract('abc', '(a)', 2)", Fails("Pattern has 1 groups. Cannot access group 2")),
    ("SELECT regexp_extract('a', '(a)|(b)', 2)", Refused("may not take part")),
    ("SELECT regexp_like('1a 2b 14m', '\\d+b')", True),
    ("SELECT regexp_like('abc', '^b')", False),
    ("SELECT regexp_like('abc', '(?=a)')", Refused("lookaround")),
    ("SELECT regexp_like(x, x) FROM (VALUES 'a') t(x)", Refused("constant pattern")),
    ("SELECT regexp_position('I have 23 apples', '\\b\\d+\\b')", Refused("regexp_position")),
    ("SELECT regexp_replace('1a 2b 14m', '\\d+[ab] ')", "14m"),
    ("SELECT regexp_replace('1a 2b 14m', '(\\d+)([ab]) ', '3c$2 ')", "3ca 3cb 14m"),
    ("SELECT regexp_replace('a$b', '\\$', '\\$\\$')", "a$$b"),
    ("SELECT regexp_replace('abc', '(b)', '$2')", Refused("group 2")),
    ("SELECT regexp_replace('abc', '(?<x>b)', '${x}')", Refused("${name}")),
    ("SELECT regexp_replace('new york', '(\\w)(\\w*)', x -> upper(x[1]) || lower(x[2]))", Refused("")),
    ("SELECT regexp_split('1a 2b 14m', '\\s*[a-z]+\\s*')", ["1", "2", "14", ""]),
    ("SELECT regexp_like('ABC.SI', '\\.SI$')", True),
    ("SELECT regexp_like('abc' || chr(10), 'c$')", Refused("line break")),
    ("SELECT regexp_like('abc' || chr(13), 'c.')", Refused("line break")),
    ("SELECT regexp_extract('日本1', '\\d+')", Refused("non-ASCII")),
    ("SELECT regexp_like('日本', '本')", True),
    # --- dates and times (functions/datetime.md) ------------------------------------------------------------
    ("SELECT date_add('second', 86, TIMESTAMP '2020-03-01 00:00:00')", dt.datetime(2020, 3, 1, 0, 1, 26)),
    ("SELECT date_add('hour', 9, TIMESTAMP '2020-03-01 00:00:00')", dt.datetime(2020, 3, 1, 9, 0)),
    ("SELECT date_add('day', 1, DATE '2024-01-31')", dt.date(2024, 2, 1)),
    ("SELECT date_add('month', 1, DATE '2024-01-31')", dt.date(2024, 2, 29)),
    ("SELECT date_add('quarter', 1, DATE '2024-01-31')", dt.date(2024, 4, 30)),
    ("SELECT date_add('week', -1, DATE '2024-01-31')", dt.date(2024, 1, 24)),
    ("SELECT date_add('year', 1, DATE '2024-02-29')", dt.date(2025, 2, 28)),
    ("SELECT date_add('hour', 1, DATE '2024-01-31')", Refused("a DATE")),
    (
        "SELECT date_add('millisecond', 1500, TIMESTAMP '2020-01-01 00:00:00')",
        dt.datetime(2020, 1, 1, 0, 0, 1, 500000),
    ),
    ("SELECT date_add('fortnight', 1, DATE '2024-01-31')", Refused("fortnight")),
    ("SELECT date_diff('second', TIMESTAMP '2020-03-01 00:00:00', TIMESTAMP '2020-03-02 00:00:00')", 86400),
    ("SELECT date_diff('hour', TIMESTAMP '2020-03-01 00:00:00', TIMESTAMP '2020-03-02 00:00:00')", 24),
    ("SELECT date_diff('day', DATE '2020-03-01', DATE '2020-03-02')", 1),
    ("SELECT date_diff('day', DATE '2020-03-02', DATE '2020-03-01')", -1),
    ("SELECT date_diff('day', TIMESTAMP '2020-03-01 23:00', TIMESTAMP '2020-03-02 01:00')", 0),
    ("SELECT date_diff('month', DATE '2024-01-31', DATE '2024-02-29')", 1),
    ("SELECT date_diff('month', DATE '2024-01-31', DATE '2024-02-28')", 0),
    ("SELECT date_diff('year', DATE '2020-02-29', DATE '2021-02-28')", 1),
    (
        "SELECT date_diff('millisecond', TIMESTAMP '2020-06-01 12:30:45.000', TIMESTAMP '2020-06-02 12:30:45.123')",
        86400123,
    ),
    ("SELECT date_trunc('day', TIMESTAMP '2022-10-20 05:10:00')", dt.datetime(2022, 10, 20)),
    ("SELECT date_trunc('month', TIMESTAMP '2022-10-20 05:10:00')", dt.datetime(2022, 10, 1)),
    ("SELECT date_trunc('year', TIMESTAMP '2022-10-20 05:10:00')", dt.datetime(2022, 1, 1)),
    ("SELECT date_trunc('week', TIMESTAMP '2001-08-22 03:04:05.321')", dt.datetime(2001, 8, 20)),
    ("SELECT date_trunc('quarter', TIMESTAMP '2001-08-22 03:04:05.321')", dt.datetime(2001, 7, 1)),
    ("SELECT date_trunc('hour', TIMESTAMP '2001-08-22 03:04:05.321')", dt.datetime(2001, 8, 22, 3)),
    ("SELECT date_trunc('second', TIMESTAMP '2001-08-22 03:04:05.321')", dt.datetime(2001, 8, 22, 3, 4, 5)),
    ("SELECT date_trunc('month', DATE '2024-03-15')", dt.date(2024, 3, 1)),
    ("SELECT date_trunc('hour', DATE '2024-01-01')", Refused("a DATE")),
    ("SELECT date_format(TIMESTAMP '2022-10-20 05:10:00', '%m-%d-%Y %H')", "10-20-2022 05"),
    (
        "SELECT date_format(TIMESTAMP '2022-10-20 15:10:00.123', '%Y-%m-%d %h:%i:%s %p %f')",
        "2022-10-20 03:10:00 PM 123000",
    ),
    ("SELECT date_format(DATE '2024-01-05', '%W %M %e %c %j %a %b')", "Friday January 5 1 005 Fri Jan"),
    ("SELECT date_format(TIMESTAMP '2024-01-05 09:03:04', '%k %l %r %T')", "9 9 09:03:04 AM 09:03:04"),
    ("SELECT date_format(DATE '2024-01-01', '%v %x %y %%')", "01 2024 24 %"),
    ("SELECT date_format(DATE '2024-01-01', '%D')", Refused("%D")),
    ("SELECT date_format(DATE '2024-01-01', '%Q')", "Q"),
    ("SELECT date_format(x, '%Y') FROM (VALUES 'a') t(x)", Refused("date_format()")),
    ("SELECT date_parse('2022/10/20/05', '%Y/%m/%d/%H')", dt.datetime(2022, 10, 20, 5)),
    ("SELECT date_parse('2024-01-02 01:02:03', '%Y-%m-%d %h:%i:%s')", dt.datetime(2024, 1, 2, 1, 2, 3)),
    ("SELECT date_parse('2024-01-02 13:02:03', '%Y-%m-%d %h:%i:%s')", Fails("")),
    (
        "SELECT date_parse('2024-01-02 01:02:03 PM', '%Y-%m-%d %h:%i:%s %p')",
        dt.datetime(2024, 1, 2, 13, 2, 3),
    ),
    ("SELECT date_parse('05', '%H')", dt.datetime(1970, 1, 1, 5)),
    ("SELECT date_parse('69-01-01', '%y-%m-%d')", dt.datetime(2069, 1, 1)),
    ("SELECT date_parse('70-01-01', '%y-%m-%d')", dt.datetime(1970, 1, 1)),
    ("SELECT date_parse('2024', '%Y')", dt.datetime(2024, 1, 1)),
    ("SELECT date_parse('2024-01-02 03:04:05.123', '%Y-%m-%d %H:%i:%s.%f')", Refused("%f")),
    (
        "SELECT format_datetime(TIMESTAMP '2024-01-02 03:04:05.123', 'yyyy-MM-dd HH:mm:ss.SSS')",
        "2024-01-02 03:04:05.123",
    ),
    ("SELECT format_datetime(TIMESTAMP '2024-01-02 03:04:05', 'EEE, d MMM yy')", "Tue, 2 Jan 24"),
    ("SELECT format_datetime(TIMESTAMP '2024-01-02 15:04:05', 'h a')", "3 PM"),
    ("SELECT format_datetime(TIMESTAMP '2024-01-02 03:04:05.123456', 'SSSSSS Z')", "123000 +0000"),
    ("SELECT format_datetime(TIMESTAMP '2024-01-02 03:04:05', 'QQ')", Refused("'QQ'")),
    ("SELECT parse_datetime('2024-01-02', 'yyyy-MM-dd')", Refused("parse_datetime()")),
    ("SELECT day(DATE '2024-03-15')", 15),
    ("SELECT day_of_month(DATE '2024-03-15')", 15),
    ("SELECT day_of_week(DATE '2024-03-17')", 7),
    ("SELECT dow(DATE '2024-03-18')", 1),
    ("SELECT day_of_year(DATE '2024-03-01')", 61),
    ("SELECT doy(DATE '2024-03-01')", 61),
    ("SELECT hour(TIMESTAMP '2024-01-01 10:20:30')", 10),
    ("SELECT minute(TIMESTAMP '2024-01-01 10:20:30')", 20),
    ("SELECT second(TIMESTAMP '2024-01-01 10:20:30.5')", 30),
    ("SELECT millisecond(TIMESTAMP '2020-01-01 10:00:05.123')", 123),
    ("SELECT month(DATE '2024-03-15')", 3),
    ("SELECT quarter(DATE '2024-08-01')", 3),
    ("SELECT week(DATE '2024-01-01')", 1),
    ("SELECT week_of_year(DATE '2021-01-01')", 53),
    ("SELECT year(DATE '2024-03-15')", 2024),
    ("SELECT year_of_week(DATE '2021-01-01')", 2020),
    ("SELECT yow(DATE '2021-01-01')", 2020),
    ("SELECT hour(DATE '2024-01-01')", Refused("DATE")),
    ("SELECT extract(YEAR FROM TIMESTAMP '2022-10-20 05:10:00')", 2022),
    ("SELECT extract(DOW FROM DATE '2024-03-17')", 7),
    ("SELECT extract(DAY_OF_WEEK FROM DATE '2024-03-17')", 7),
    ("SELECT extract(DOY FROM DATE '2024-03-01')", 61),
    ("SELECT extract(YOW FROM DATE '2021-01-01')", 2020),
    ("SELECT extract(QUARTER FROM DATE '2024-08-01')", 3),
    ("SELECT extract(TIMEZONE_HOUR FROM TIMESTAMP '2024-01-01 00:00:00')", Refused("TIMEZONE_HOUR")),
    ("SELECT last_day_of_month(DATE '2024-02-10')", dt.date(2024, 2, 29)),
    ("SELECT last_day_of_month(TIMESTAMP '2023-02-10 10:00:00')", dt.date(2023, 2, 28)),
    ("SELECT from_iso8601_date('2020-05-11')", dt.date(2020, 5, 11)),
    ("SELECT from_iso8601_date('2020-W10')", dt.date(2020, 3, 2)),
    ("SELECT from_iso8601_date('2020-123')", dt.date(2020, 5, 2)),
    ("SELECT from_iso8601_date('2020-05')", dt.date(2020, 5, 1)),
    ("SELECT from_iso8601_date('2020-13-01')", Fails("Invalid format")),
    ("SELECT from_unixtime(0)", dt.datetime(1970, 1, 1, tzinfo=UTC)),
    ("SELECT from_unixtime(1.5e0)", dt.datetime(1970, 1, 1, 0, 0, 1, 500000, tzinfo=UTC)),
    ("SELECT to_unixtime(TIMESTAMP '1970-01-02 00:00:00')", 86400.0),
    ("SELECT to_iso8601(DATE '2024-01-02')", "2024-01-02"),
    ("SELECT to_iso8601(TIMESTAMP '2024-01-02 03:04:05')", "2024-01-02T03:04:05.000"),
    ("SELECT current_timezone()", "UTC"),
    (
        "SELECT at_timezone(TIMESTAMP '2022-11-01 09:08:07.321', 'America/Los_Angeles')",
        Refused("at_timezone"),
    ),
    ("SELECT TIMESTAMP '2012-10-31 01:00' AT TIME ZONE 'UTC'", Refused("AT TIME ZONE")),
    ("SELECT from_iso8601_timestamp('2020-05-11')", Refused("from_iso8601_timestamp")),
    ("SELECT parse_duration('42.8ms')", Refused("parse_duration")),
    ("SELECT human_readable_seconds(96)", Refused("human_readable_seconds")),
    # --- aggregates (functions/aggregate.md) ---------------------------------------------------------------
    ("SELECT sum(x) FROM (VALUES 1, 2, 3) t(x)", 6),
    ("SELECT sum(x) FROM (VALUES 1.5, 2.25) t(x)", Decimal("3.75")),
    ("SELECT sum(x) FROM (VALUES 1, NULL) t(x)", 1),
    ("SELECT sum(x) FROM (VALUES CAST(NULL AS INTEGER)) t(x)", None),
    ("SELECT sum(DISTINCT x) FROM (VALUES 1, 1, 2) t(x)", 3),
    ("SELECT sum(x) FROM (VALUES 'a') t(x)", Refused("sum()")),
    ("SELECT avg(x) FROM (VALUES 1, 2) t(x)", 1.5),
    ("SELECT avg(x) FROM (VALUES 1.5, 2.5) t(x)", Refused("avg() of a DECIMAL")),
    ("SELECT count(*) FROM (VALUES 1, NULL) t(x)", 2),
    ("SELECT count(x) FROM (VALUES 1, NULL) t(x)", 1),
    ("SELECT count(DISTINCT x) FROM (VALUES 1, 1, 2) t(x)", 2),
    ("SELECT count_if(x > 1) FROM (VALUES 1, 2, 3) t(x)", 2),
    ("SELECT max(x) FROM (VALUES 'a', 'c', 'b') t(x)", "c"),
    ("SELECT min(x) FROM (VALUES DATE '2024-01-02', DATE '2024-01-01') t(x)", dt.date(2024, 1, 1)),
    ("SELECT max(x, 2) FROM (VALUES 1, 5, 3) t(x)", [5, 3]),
    ("SELECT min(x, 2) FROM (VALUES 1, 5, 3) t(x)", [1, 3]),
    ("SELECT max_by(x, y) FROM (VALUES ('a', 1), ('b', 3), ('c', 2)) t(x, y)", "b"),
    ("SELECT min_by(x, y) FROM (VALUES ('a', 1), ('b', 3), ('c', 2)) t(x, y)", "a"),
    ("SELECT max_by(x, y, 2) FROM (VALUES ('a', 1), ('b', 3), ('c', 2)) t(x, y)", ["b", "c"]),
    ("SELECT max_by(x, y) FROM (VALUES (NULL, 5), ('a', 3)) t(x, y)", None),
    ("SELECT arbitrary(x) FROM (VALUES 7) t(x)", 7),
    ("SELECT any_value(x) FROM (VALUES NULL, 7) t(x)", 7),
    ("SELECT array_agg(x ORDER BY x) FROM (VALUES 3, 1, 2) t(x)", [1, 2, 3]),
    ("SELECT array_agg(x ORDER BY x) FROM (VALUES 3, NULL) t(x)", [3, None]),
    ("SELECT bool_and(x) FROM (VALUES true, false) t(x)", False),
    ("SELECT bool_or(x) FROM (VALUES true, false) t(x)", True),
    ("SELECT every(x) FROM (VALUES true, true) t(x)", True),
    (
        "SELECT stddev(x) FROM " + _sample([1.0, 2.0, 3.0, 4.0]) + " t(x)",
        Approx(statistics.stdev([1, 2, 3, 4])),
    ),
    (
        "SELECT stddev_samp(x) FROM " + _sample([1.0, 2.0, 3.0, 4.0]) + " t(x)",
        Approx(statistics.stdev([1, 2, 3, 4])),
    ),
    (
        "SELECT stddev_pop(x) FROM " + _sample([1.0, 2.0, 3.0, 4.0]) + " t(x)",
        Approx(statistics.pstdev([1, 2, 3, 4])),
    ),
    (
        "SELECT variance(x) FROM " + _sample([1.0, 2.0, 3.0, 4.0]) + " t(x)",
        Approx(statistics.variance([1, 2, 3, 4])),
    ),
    (
        "SELECT var_samp(x) FROM " + _sample([1.0, 2.0, 3.0, 4.0]) + " t(x)",
        Approx(statistics.variance([1, 2, 3, 4])),
    ),
    (
        "SELECT var_pop(x) FROM " + _sample([1.0, 2.0, 3.0, 4.0]) + " t(x)",
        Approx(statistics.pvariance([1, 2, 3, 4])),
    ),
    ("SELECT stddev(x) FROM (VALUES 1e0) t(x)", None),
    ("SELECT corr(y, x) FROM " + _PAIRS_SQL, Approx(statistics.correlation(_PX, _PY))),
    ("SELECT covar_samp(y, x) FROM " + _PAIRS_SQL, Approx(statistics.covariance(_PX, _PY))),
    ("SELECT covar_pop(y, x) FROM " + _PAIRS_SQL, Approx(statistics.covariance(_PX, _PY) * 3 / 4)),
    ("SELECT regr_slope(y, x) FROM " + _PAIRS_SQL, Approx(_SLOPE)),
    (
        "SELECT regr_intercept(y, x) FROM " + _PAIRS_SQL,
        Approx(statistics.mean(_PY) - _SLOPE * statistics.mean(_PX)),
    ),
    ("SELECT kurtosis(x) FROM " + _sample(_XS) + " t(x)", Approx(_trino_kurtosis(_XS))),
    ("SELECT skewness(x) FROM " + _sample(_XS) + " t(x)", Approx(_trino_skewness(_XS))),
    ("SELECT skewness(x) FROM (VALUES 1e0, 2e0) t(x)", None),
    ("SELECT kurtosis(x) FROM (VALUES 1e0, 2e0, 4e0) t(x)", None),
    ("SELECT geometric_mean(x) FROM (VALUES 1e0, 4e0) t(x)", Approx(2.0)),
    ("SELECT approx_distinct(x) FROM (VALUES 1, 1, 2) t(x)", 2),
    (
        "SELECT listagg(value, ',') WITHIN GROUP (ORDER BY value) FROM (VALUES 'a', 'c', 'b') t(value)",
        "a,b,c",
    ),
    ("SELECT listagg(value, ',') FROM (VALUES 'a') t(value)", Refused("WITHIN GROUP")),
    ("SELECT bitwise_and_agg(x) FROM (VALUES 12, 10) t(x)", 8),
    ("SELECT bitwise_or_agg(x) FROM (VALUES 12, 10) t(x)", 14),
    ("SELECT bitwise_xor_agg(x) FROM (VALUES 12, 10) t(x)", 6),
    ("SELECT sum(x) FILTER (WHERE x > 1) FROM (VALUES 1, 2, 3) t(x)", 5),
    ("SELECT count(*) FILTER (WHERE x > 1) FROM (VALUES 1, 2, 3) t(x)", 2),
    ("SELECT histogram(x) FROM (VALUES 1) t(x)", Refused("histogram")),
    ("SELECT map_agg(x, x) FROM (VALUES 1) t(x)", Refused("map_agg")),
    ("SELECT checksum(x) FROM (VALUES 1) t(x)", Refused("checksum()")),
    ("SELECT numeric_histogram(2, x) FROM (VALUES 1e0) t(x)", Refused("numeric_histogram")),
    ("SELECT approx_most_frequent(2, x, 10) FROM (VALUES 1) t(x)", Refused("approx_most_frequent")),
    ("SELECT approx_percentile(x, 1e0, 0.5e0) FROM (VALUES 1e0) t(x)", Refused("weight")),
    ("SELECT a, count(*) FROM (VALUES 1, 1, 2) t(a) GROUP BY a ORDER BY a", Rows((1, 2))),
    ("SELECT grouping(a) FROM (VALUES 1) t(a) GROUP BY ROLLUP (a) ORDER BY 1", Rows((0, 1))),
    # --- window functions (functions/window.md) -----------------------------------------------------------
    (
        "SELECT ntile(4) OVER (ORDER BY x) FROM (VALUES 1, 2, 3, 4, 5, 6) t(x) ORDER BY x",
        Rows((1, 1, 2, 2, 3, 4)),
    ),
    ("SELECT row_number() OVER (ORDER BY x DESC) FROM (VALUES 1, 2, 3) t(x) ORDER BY x", Rows((3, 2, 1))),
    ("SELECT rank() OVER (ORDER BY x) FROM (VALUES 1, 1, 2) t(x) ORDER BY x", Rows((1, 1, 3))),
    ("SELECT dense_rank() OVER (ORDER BY x) FROM (VALUES 1, 1, 2) t(x) ORDER BY x", Rows((1, 1, 2))),
    ("SELECT percent_rank() OVER (ORDER BY x) FROM (VALUES 1, 2, 3) t(x) ORDER BY x", Rows((0.0, 0.5, 1.0))),
    (
        "SELECT cume_dist() OVER (ORDER BY x) FROM (VALUES 1, 2, 2, 4) t(x) ORDER BY x",
        Rows((0.25, 0.75, 0.75, 1.0)),
    ),
    ("SELECT lag(x) OVER (ORDER BY x) FROM (VALUES 1, 2, 3) t(x) ORDER BY x", Rows((None, 1, 2))),
    ("SELECT lead(x, 1, 0) OVER (ORDER BY x) FROM (VALUES 1, 2, 3) t(x) ORDER BY x", Rows((2, 3, 0))),
    ("SELECT lag(x, -1) OVER (ORDER BY x) FROM (VALUES 1, 2) t(x)", Refused("offset")),
    ("SELECT lag(x, y) OVER (ORDER BY x) FROM (VALUES (1, 1)) t(x, y)", Refused("constant offset")),
    ("SELECT first_value(x) OVER (ORDER BY x) FROM (VALUES 3, 1, 2) t(x) ORDER BY x", Rows((1, 1, 1))),
    ("SELECT last_value(x) OVER (ORDER BY x) FROM (VALUES 3, 1, 2) t(x) ORDER BY x", Rows((1, 2, 3))),
    ("SELECT nth_value(x, 2) OVER (ORDER BY x) FROM (VALUES 3, 1, 2) t(x) ORDER BY x", Rows((None, 2, 2))),
    (
        "SELECT lag(x) IGNORE NULLS OVER (ORDER BY y) FROM (VALUES (1, 1), (NULL, 2), (3, 3)) t(x, y) ORDER BY y",
        Rows((None, 1, 1)),
    ),
    ("SELECT sum(x) OVER (ORDER BY x) FROM (VALUES 1, 2, 3) t(x) ORDER BY x", Rows((1, 3, 6))),
    (
        "SELECT avg(x) OVER (ORDER BY x ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) FROM (VALUES 1, 2, 4) t(x) ORDER BY x",
        Rows((1.0, 1.5, 3.0)),
    ),
    # --- arrays (functions/array.md) --------------------------------------------------------------------------
    ("SELECT ARRAY[1, 2, 4]", [1, 2, 4]),
    ("SELECT ARRAY['foo', 'bar', 'bazz']", ["foo", "bar", "bazz"]),
    ("SELECT ARRAY[1, 1.2, 4]", [Decimal("1.0"), Decimal("1.2"), Decimal("4.0")]),
    ("SELECT ARRAY[1, 2, NULL, -4, NULL]", [1, 2, None, -4, None]),
    ("SELECT ARRAY[1, 1.2, 4][2]", Decimal("1.2")),
    ("SELECT ARRAY[1] || ARRAY[2]", [1, 2]),
    ("SELECT ARRAY[1] || 2", [1, 2]),
    ("SELECT 2 || ARRAY[1]", [2, 1]),
    ("SELECT ARRAY[1, 'a']", Refused("compares")),
    ("SELECT ARRAY[1,2,3][0]", Fails("SQL array indices start at 1")),
    ("SELECT ARRAY[1,2,3][4]", Fails("Array subscript must be less than or equal to array length: 4 > 3")),
    ("SELECT ARRAY[1,2,3][x] FROM (VALUES 2) t(x)", 2),
    ("SELECT element_at(ARRAY[1,2,3], 4)", None),
    ("SELECT element_at(ARRAY[1,2,3], -1)", 3),
    ("SELECT element_at(ARRAY[1,2,3], -4)", None),
    ("SELECT element_at(ARRAY[1,2,3], 0)", Fails("SQL array indices start at 1")),
    ("SELECT all_match(ARRAY[1, 2], x -> x > 0)", True),
    ("SELECT all_match(ARRAY[1, NULL], x -> x > 0)", None),
    ("SELECT all_match(ARRAY[1, NULL, -1], x -> x > 0)", False),
    ("SELECT any_match(ARRAY[1, NULL], x -> x > 1)", None),
    ("SELECT any_match(ARRAY[1, NULL, 5], x -> x > 1)", True),
    ("SELECT none_match(ARRAY[1, 2], x -> x > 5)", True),
    ("SELECT none_match(ARRAY[1, 7], x -> x > 5)", False),
    ("SELECT array_distinct(ARRAY[1, 2, 1, NULL, NULL, 3])", [1, 2, None, 3]),
    ("SELECT array_intersect(ARRAY[1, 2], ARRAY[2])", Refused("array_intersect")),
    ("SELECT array_union(ARRAY[1, 2], ARRAY[2])", Refused("array_union")),
    ("SELECT array_except(ARRAY[1, 2], ARRAY[2])", Refused("array_except")),
    ("SELECT array_join(ARRAY['a', NULL, 'b'], ',')", "a,b"),
    ("SELECT array_join(ARRAY['a', NULL], ',', 'x')", "a,x"),
    ("SELECT array_join(ARRAY[1, 2], '-')", "1-2"),
    ("SELECT array_max(ARRAY[1, 3, 2])", 3),
    ("SELECT array_max(ARRAY[1, NULL])", None),
    ("SELECT array_min(ARRAY['b', 'a'])", "a"),
    ("SELECT array_max(ARRAY[1e0, nan()])", Refused("NaN")),
    ("SELECT array_position(ARRAY[10, 20], 20)", 2),
    ("SELECT array_position(ARRAY[10], 30)", 0),
    ("SELECT array_remove(ARRAY[1, NULL, 2, 1], 1)", [None, 2]),
    ("SELECT array_sort(ARRAY[3, NULL, 1])", [1, 3, None]),
    ("SELECT array_sort(ARRAY['b', 'a'])", ["a", "b"]),
    (
        "SELECT array_sort(ARRAY[3, 2, 5, 1, 2], (x, y) -> IF(x < y, 1, IF(x = y, 0, -1)))",
        Refused("comparator"),
    ),
    ("SELECT cardinality(ARRAY[1, 2])", 2),
    ("SELECT cardinality(split('a,b', ','))", 2),
    ("SELECT concat(ARRAY[1], ARRAY[2, 3])", [1, 2, 3]),
    ("SELECT contains(ARRAY[1, 2], 2)", True),
    ("SELECT contains(ARRAY[1, 2], 3)", False),
    ("SELECT contains(ARRAY[1, NULL], 3)", None),
    ("SELECT contains(ARRAY['a'], 'a')", True),
    ("SELECT filter(ARRAY[5, -6, NULL, 7], x -> x > 0)", [5, 7]),
    ("SELECT filter(ARRAY[5, NULL, 7, NULL], x -> x IS NOT NULL)", [5, 7]),
    ("SELECT flatten(ARRAY[ARRAY[1, 2], ARRAY[3]])", [1, 2, 3]),
    ("SELECT reduce(ARRAY[5, 20, 50], 0, (s, x) -> s + x, s -> s)", Refused("reduce")),
    ("SELECT repeat('a', 3)", ["a", "a", "a"]),
    ("SELECT repeat(1, 0)", []),
    ("SELECT repeat(1, -1)", Fails("count argument of repeat function must be greater than or equal to 0")),
    ("SELECT reverse(ARRAY[1, 2, 3])", [3, 2, 1]),
    ("SELECT sequence(1, 5)", [1, 2, 3, 4, 5]),
    ("SELECT sequence(5, 1)", [5, 4, 3, 2, 1]),
    ("SELECT sequence(1, 5, 2)", [1, 3, 5]),
    ("SELECT sequence(5, 1, -2)", [5, 3, 1]),
    ("SELECT sequence(1, 5, 0)", Fails("step must not be zero")),
    ("SELECT sequence(5, 1, 1)", Fails("sequence stop value should be greater than or equal to start value")),
    ("SELECT sequence(1, 20000)", Fails("must not have more than 10000 entries")),
    ("SELECT sequence(DATE '2024-01-01', DATE '2024-01-03')", Refused("sequence()")),
    ("SELECT shuffle(ARRAY[1, 2])", Refused("shuffle")),
    ("SELECT slice(ARRAY[1, 2, 3, 4], 2, 2)", [2, 3]),
    ("SELECT slice(ARRAY[1, 2, 3, 4], -2, 2)", [3, 4]),
    ("SELECT slice(ARRAY[1, 2, 3, 4], 3, 10)", [3, 4]),
    ("SELECT slice(ARRAY[1, 2, 3, 4], 0, 1)", Fails("SQL array indices start at 1")),
    ("SELECT slice(ARRAY[1, 2, 3, 4], 1, -1)", Fails("length must be greater than or equal to 0")),
    ("SELECT slice(ARRAY[1, 2, 3, 4], 5, 1)", []),
    ("SELECT slice(ARRAY[1, 2, 3, 4], -5, 1)", []),
    ("SELECT trim_array(ARRAY[1, 2, 3, 4], 1)", [1, 2, 3]),
    ("SELECT trim_array(ARRAY[1, 2, 3, 4], 2)", [1, 2]),
    ("SELECT trim_array(ARRAY[1], 2)", Fails("size must not exceed array cardinality")),
    ("SELECT transform(ARRAY[5, 6], x -> x + 1)", [6, 7]),
    ("SELECT transform(ARRAY[5, NULL, 6], x -> coalesce(x, 0) + 1)", [6, 1, 7]),
    ("SELECT transform(ARRAY['x', 'abc', 'z'], x -> x || '0')", ["x0", "abc0", "z0"]),
    ("SELECT zip(ARRAY[1, 2], ARRAY['1b', null, '3b'])", Refused("zip")),
    ("SELECT zip_with(ARRAY[1, 2], ARRAY[3, 4], (x, y) -> x + y)", Refused("zip_with")),
    ("SELECT combinations(ARRAY[1, 2, 3], 2)", Refused("combinations")),
    ("SELECT ngrams(ARRAY[1, 2, 3], 2)", Refused("ngrams")),
    ("SELECT array_histogram(ARRAY[42, 7, 42])", Refused("array_histogram")),
    ("SELECT contains_sequence(ARRAY[1, 2, 3], ARRAY[2, 3])", Refused("contains_sequence")),
    ("SELECT arrays_overlap(ARRAY[1, 2], ARRAY[2])", Refused("arrays_overlap")),
    ("SELECT x FROM UNNEST(ARRAY[1, 2]) AS t(x) ORDER BY x", Rows((1, 2))),
    ("SELECT n FROM UNNEST(ARRAY['a', 'b']) WITH ORDINALITY AS t(x, n) ORDER BY n", Rows((1, 2))),
    ("SELECT x FROM UNNEST(ARRAY[1], ARRAY[2]) AS t(x, y)", Refused("UNNEST of several arrays")),
    # --- maps, rows, JSON, binary, other functions: refused by name ------------------------------------------
    ("SELECT MAP(ARRAY['a'], ARRAY[1])", Refused("MAP")),
    ("SELECT ROW(1, 2)", Refused("ROW")),
    ("SELECT json_extract_scalar('{\"a\": 1}', '$.a')", Refused("")),
    ("SELECT json_parse('[1]')", Refused("")),
    ("SELECT X'0A'", Refused("binary")),
    ("SELECT uuid()", Refused("uuid")),
    ("SELECT url_extract_host('http://a.b/c')", Refused("url_extract_host")),
    ("SELECT current_user", Refused("")),
    ("SELECT foo_bar(1)", Refused("foo_bar()")),
    # --- query shapes -----------------------------------------------------------------------------------------
    ("SELECT x * 2 AS y FROM (VALUES 1) t(x) WHERE y > 1", Refused("'y' could not be resolved")),
    ("SELECT x AS y FROM (VALUES 2, 1) t(x) ORDER BY y", Rows((1, 2))),
    ("SELECT * FROM (VALUES 1) a(x) NATURAL JOIN (VALUES 1) b(x)", Refused("NATURAL JOIN")),
    (
        "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t WHERE n < 4) SELECT sum(n) FROM t",
        Refused("WITH RECURSIVE"),
    ),
    ("SELECT x FROM (VALUES 1) t(x) GROUP BY ALL x", Refused("GROUP BY ALL")),
    ("SELECT x FROM (VALUES 1, 2, 2) t(x) ORDER BY x FETCH FIRST 2 ROWS WITH TIES", Refused("WITH TIES")),
    ("SELECT x FROM (VALUES 1, 2) t(x) ORDER BY x OFFSET 1 ROWS", Rows((2,))),
    ("SELECT x FROM (VALUES 1, 2, 3) t(x) ORDER BY x LIMIT 2", Rows((1, 2))),
    ("SELECT x FROM (VALUES 1, 2) t(x) UNION SELECT 2 ORDER BY 1", Rows((1, 2))),
    ("SELECT x FROM (VALUES 1, 2) t(x) INTERSECT SELECT 2", Rows((2,))),
    ("SELECT x FROM (VALUES 1, 2) t(x) EXCEPT SELECT 2", Rows((1,))),
    ("SELECT x FROM (VALUES 3, NULL, 1) t(x) ORDER BY x DESC", Rows((3, 1, None))),
    ("SELECT x FROM (VALUES 3, NULL, 1) t(x) ORDER BY x NULLS FIRST", Rows((None, 1, 3))),
    ("SELECT (SELECT x FROM (VALUES 1, 2) t(x))", Fails("")),
    ("SELECT x FROM (VALUES 1, 2) t(x) WHERE EXISTS (SELECT 1 WHERE x > 1)", Rows((2,))),
    ("SELECT x FROM (VALUES 1, 2) t(x) WHERE x IN (SELECT 2)", Rows((2,))),
    # syntax sqlglot reads but Athena does not: refused, not answered
    ("SELECT 1::INT", Refused("CAST(x AS type)")),
    ("SELECT x FROM (VALUES 1, 2, 3) t(x) ORDER BY x LIMIT 1 OFFSET 1", Refused("OFFSET comes first")),
    ("SELECT x FROM (VALUES 1, 2, 3) t(x) ORDER BY x OFFSET 1 LIMIT 1", Rows((2,))),
    ("SELECT DISTINCT ON (x) x FROM (VALUES 1, 2) t(x)", Refused("DISTINCT ON")),
    ("SELECT CAST(1 AS STRING)", Refused("no type STRING")),
    ("SELECT 'a' UNION SELECT 1", Refused("VARCHAR in one branch and INTEGER")),
    ("SELECT 1 UNION ALL SELECT 2.5", Rows((Decimal("1.0"), Decimal("2.5")))),
    ("SELECT x FROM (VALUES (1), ('a')) t(x)", Refused("VALUES column 1 mixes")),
    ("SELECT * EXCLUDE (x) FROM (VALUES (1, 2)) t(x, y)", Refused("EXCLUDE")),
    ("SELECT x FROM (VALUES 1) t(x) WHERE x = ANY(ARRAY[1, 2])", Refused("subquery only")),
    ("SELECT [1, 2]", Refused("ARRAY[...]")),
    ("SELECT {'a': 1}", Refused("struct literals")),
    ("SELECT t.a[1] FROM (VALUES ARRAY[5]) t(a)", 5),
]


@pytest.fixture(scope="module")
def empty_lake(tmp_path_factory):
    store = LocalStore(tmp_path_factory.mktemp("compat") / "lake")
    store.initialize()
    return store


def _same(got, want) -> bool:
    if isinstance(want, Approx):
        return isinstance(got, float) and math.isclose(got, want.value, rel_tol=1e-12, abs_tol=1e-300)
    if isinstance(want, float):
        if not isinstance(got, float):
            return False
        if math.isnan(want):
            return math.isnan(got)
        return got == want and math.copysign(1, got) == math.copysign(1, want)
    if isinstance(want, Decimal):
        return isinstance(got, Decimal) and got == want
    if isinstance(want, list):
        return (
            isinstance(got, list)
            and len(got) == len(want)
            and all(_same(g, w) for g, w in zip(got, want, strict=True))
        )
    if isinstance(want, bool) or want is None:
        return got is want
    if isinstance(want, int):
        return isinstance(got, int) and not isinstance(got, bool) and got == want
    return type(got) is type(want) and got == want


@pytest.mark.parametrize(("sql", "expected"), CASES, ids=[c[0][:80] for c in CASES])
def test_trino_behaviour(empty_lake, sql, expected):
    if isinstance(expected, Refused):
        with pytest.raises(QueryRefused) as caught:
            run_local(sql, store=empty_lake)
        assert expected.text in str(caught.value)
        _no_raw_duckdb_error(str(caught.value))
        return
    if isinstance(expected, Fails):
        with pytest.raises(QueryFailed) as caught:
            run_local(sql, store=empty_lake)
        assert expected.text in str(caught.value)
        _no_raw_duckdb_error(str(caught.value))
        return
    table = run_local(sql, store=empty_lake).table
    column = table.column(0).to_pylist()
    if isinstance(expected, Rows):
        assert len(column) == len(expected.values), column
        assert all(_same(g, w) for g, w in zip(column, expected.values, strict=True)), column
    else:
        assert len(column) == 1, column
        assert _same(column[0], expected), f"{column[0]!r} != {expected!r}"


def _no_raw_duckdb_error(message: str) -> None:
    for raw in ("Catalog Error", "Binder Error", "Parser Error", "Invalid Input Error", "Conversion Error:"):
        assert raw not in message, message


def test_the_examples_cover_hundreds_of_constructs():
    assert len(CASES) >= 400
    answered = sum(1 for _, e in CASES if not isinstance(e, Refused | Fails))
    assert answered >= 250


def test_integer_sums_stay_bigint(empty_lake):
    import pyarrow as pa

    table = run_local("SELECT sum(x) AS s FROM (VALUES 1, 2) t(x)", store=empty_lake).table
    assert table.schema.field("s").type == pa.int64()


def test_random_stays_in_its_range(empty_lake):
    rows = run_local(
        "SELECT random() AS r, random(10) AS n, random(5, 7) AS m FROM UNNEST(sequence(1, 200)) AS t(i)",
        store=empty_lake,
    ).table.to_pylist()
    assert all(0 <= r["r"] < 1 and 0 <= r["n"] < 10 and 5 <= r["m"] < 7 for r in rows)
    assert {r["m"] for r in rows} == {5, 6}
    with pytest.raises(QueryFailed, match="bound must be positive"):
        run_local("SELECT random(0)", store=empty_lake)


def test_every_trino_function_is_kept_rewritten_or_refused():
    assert FUNCTIONS["substr"] == "rewritten" and FUNCTIONS["abs"] == "kept"
    assert FUNCTIONS["typeof"] == "refused" and FUNCTIONS["json_extract"] == "refused"
    assert set(FUNCTIONS.values()) == {"kept", "rewritten", "refused"}
    assert sum(v != "refused" for v in FUNCTIONS.values()) >= 150
