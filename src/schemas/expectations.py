"""Great Expectations suites generated from the pandera models: the model stays the one place a column
is declared, and the quality suite is derived from it like the Arrow and Glue forms.

For each dataset the suite expects:

- exactly the model's columns (``expect_table_columns_to_match_set``, exact: the models are strict);
- each column's type as pandas holds it after ``Lake.read_dataset`` (``float64``, ``int64``, ``str``,
  ``date``, ``Timestamp``);
- no nulls in a column the model does not declare nullable;
- each field constraint (``gt``/``ge``/``lt``/``le``/``in_range``, ``str_matches``, ``str_length``), and for
  every float column finiteness (the models' ``floats_are_finite``): a float range always has both bounds,
  at most ±``sys.float_info.max``, so ±inf fails it while null (NaN) is left to the nullability expectation;
- the key ``(ticker, date)`` unique;
- the models' cross-column ``@dataframe_check``\\ s, each translated in ``DATAFRAME_CHECKS`` (a test fails
  when a model gains a check without a translation here).

``expectation_specs`` is pure (no Great Expectations import: it costs seconds); ``build_suite`` turns the
specs into a ``gx.ExpectationSuite``. Every expectation carries ``meta`` naming its ``rule`` and ``column``.

Examples
--------
>>> from schemas.expectations import expectation_specs
>>> [s.type for s in expectation_specs("prices")][:2]
['expect_table_columns_to_match_set', 'expect_compound_columns_to_be_unique']
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

import pandera.pandas as pa
import pyarrow

from schemas.derive import KEY_COLUMNS, arrow_schema, column_names, model

__all__ = [
    "DATAFRAME_CHECKS",
    "ExpectationSpec",
    "build_suite",
    "expectation_specs",
    "gx_type_name",
    "suite_name",
]

_FLOAT_MAX = sys.float_info.max


@dataclass(frozen=True)
class ExpectationSpec:
    """One expectation: its GX type (snake case), its keyword arguments and ``meta``."""

    type: str
    kwargs: dict[str, Any]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def rule(self) -> str:
        return str(self.meta.get("rule", self.type))

    @property
    def label(self) -> str:
        """A short, unique name within a suite: ``range[close]``, ``key_unique``, ``high>=low``."""
        column = self.meta.get("column")
        return f"{self.rule}[{column}]" if column else self.rule


def _pair(a: str, b: str, check: str) -> ExpectationSpec:
    return ExpectationSpec(
        "expect_column_pair_values_a_to_be_greater_than_b",
        {"column_A": a, "column_B": b, "or_equal": True, "ignore_row_if": "either_value_is_missing"},
        {"rule": f"{a}>={b}", "pandera_check": check},
    )


#: The models' cross-column checks (pandera ``@dataframe_check`` names) as expectations. An empty list
#: means the per-column expectations already cover the check.
DATAFRAME_CHECKS: dict[str, list[ExpectationSpec]] = {
    "floats_are_finite": [],  # every float column's range expectation has finite bounds
    "high_at_least_low": [_pair("high", "low", "high_at_least_low")],
    "high_at_least_open_close": [
        _pair("high", "open", "high_at_least_open_close"),
        _pair("high", "close", "high_at_least_open_close"),
    ],
    "low_at_most_open_close": [
        _pair("open", "low", "low_at_most_open_close"),
        _pair("close", "low", "low_at_most_open_close"),
    ],
    "bands_ordered": [
        _pair("bb_upper", "bb_middle", "bands_ordered"),
        _pair("bb_middle", "bb_lower", "bands_ordered"),
    ],
}


def gx_type_name(arrow: pyarrow.DataType) -> str:
    """The type name GX's pandas engine reports for a column read back from the lake with this Arrow type:
    the dtype for numbers, the Python class of each value for object columns."""
    if pyarrow.types.is_floating(arrow) or pyarrow.types.is_integer(arrow):
        return str(arrow.to_pandas_dtype().__name__)
    if pyarrow.types.is_string(arrow) or pyarrow.types.is_large_string(arrow):
        return "str"
    if pyarrow.types.is_date(arrow):
        return "date"
    if pyarrow.types.is_timestamp(arrow):
        return "Timestamp"
    if pyarrow.types.is_boolean(arrow):
        return "bool"
    raise TypeError(f"no Great Expectations type name for Arrow type {arrow}")


def _range(column: str, checks: list[pa.Check], is_float: bool) -> ExpectationSpec | None:
    low = high = None
    strict_min = strict_max = False
    for check in checks:
        stats = check.statistics or {}
        if check.name in ("greater_than", "greater_than_or_equal_to"):
            low, strict_min = stats["min_value"], check.name == "greater_than"
        elif check.name in ("less_than", "less_than_or_equal_to"):
            high, strict_max = stats["max_value"], check.name == "less_than"
        elif check.name == "in_range":
            low, high = stats["min_value"], stats["max_value"]
            strict_min, strict_max = not stats.get("include_min", True), not stats.get("include_max", True)
    if low is None and high is None and not is_float:
        return None
    if is_float:  # finite: both bounds always present, so inf and -inf are out of range
        low = -_FLOAT_MAX if low is None else low
        high = _FLOAT_MAX if high is None else high
    kwargs: dict[str, Any] = {"column": column, "min_value": low, "max_value": high}
    if strict_min:
        kwargs["strict_min"] = True
    if strict_max:
        kwargs["strict_max"] = True
    return ExpectationSpec("expect_column_values_to_be_between", kwargs, {"rule": "range", "column": column})


def _string_checks(column: str, checks: list[pa.Check]) -> list[ExpectationSpec]:
    specs = []
    for check in checks:
        stats = check.statistics or {}
        if check.name == "str_matches":
            specs.append(
                ExpectationSpec(
                    "expect_column_values_to_match_regex",
                    {"column": column, "regex": stats["pattern"]},
                    {"rule": "pattern", "column": column},
                )
            )
        elif check.name == "str_length":
            exact = stats.get("exact_value")
            low = exact if exact is not None else stats.get("min_value")
            high = exact if exact is not None else stats.get("max_value")
            specs.append(
                ExpectationSpec(
                    "expect_column_value_lengths_to_be_between",
                    {"column": column, "min_value": low, "max_value": high},
                    {"rule": "length", "column": column},
                )
            )
    return specs


_TRANSLATED_FIELD_CHECKS = frozenset(
    {
        "greater_than",
        "greater_than_or_equal_to",
        "less_than",
        "less_than_or_equal_to",
        "in_range",
        "str_matches",
        "str_length",
    }
)


def expectation_specs(dataset: str) -> list[ExpectationSpec]:
    """The dataset's expectations, derived from its pandera model (see the module docstring).

    Raises ``schemas.UnknownDataset`` for an unknown dataset and ``TypeError`` for a model constraint that
    has no translation (so a new kind of check cannot be silently dropped from the quality suite).
    """
    schema = model(dataset).to_schema()
    arrow = arrow_schema(dataset)
    names = column_names(dataset)
    specs = [
        ExpectationSpec(
            "expect_table_columns_to_match_set",
            {"column_set": names, "exact_match": True},
            {"rule": "columns"},
        ),
        ExpectationSpec(
            "expect_compound_columns_to_be_unique",
            {"column_list": list(KEY_COLUMNS)},
            {"rule": "key_unique"},
        ),
    ]
    for name in names:
        column = schema.columns[name]
        arrow_type = arrow.field(name).type
        specs.append(
            ExpectationSpec(
                "expect_column_values_to_be_of_type",
                {"column": name, "type_": gx_type_name(arrow_type)},
                {"rule": "type", "column": name},
            )
        )
        if not column.nullable:
            specs.append(
                ExpectationSpec(
                    "expect_column_values_to_not_be_null",
                    {"column": name},
                    {"rule": "not_null", "column": name},
                )
            )
        unknown = [c.name for c in column.checks if c.name not in _TRANSLATED_FIELD_CHECKS]
        if unknown:
            raise TypeError(f"{dataset}.{name}: no expectation for pandera check(s) {', '.join(unknown)}")
        spec = _range(name, list(column.checks), pyarrow.types.is_floating(arrow_type))
        if spec is not None:
            specs.append(spec)
        specs.extend(_string_checks(name, list(column.checks)))
    for check in schema.checks:
        if check.name not in DATAFRAME_CHECKS:
            raise TypeError(
                f"{dataset}: pandera dataframe check {check.name!r} has no expectation in DATAFRAME_CHECKS"
            )
        specs.extend(DATAFRAME_CHECKS[check.name])
    return specs


def suite_name(dataset: str) -> str:
    return f"tickerlake.{dataset}"


def build_suite(dataset: str) -> Any:
    """A ``great_expectations.ExpectationSuite`` named ``tickerlake.<dataset>`` from ``expectation_specs``.
    Imports Great Expectations (slow the first time in a process)."""
    from great_expectations.core.expectation_suite import ExpectationSuite
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    suite = ExpectationSuite(name=suite_name(dataset), meta={"dataset": dataset, "generated_from": "pandera"})
    for spec in expectation_specs(dataset):
        config = ExpectationConfiguration(type=spec.type, kwargs=dict(spec.kwargs), meta=dict(spec.meta))
        suite.add_expectation_configuration(config)
    return suite
