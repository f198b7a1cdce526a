"""GX suites generated from the pandera models: same columns, and they refuse what pandera refuses."""

import math

import pandas as pd
import pytest

import schemas
from lake.api import Lake
from pipelines.quality import run_suite
from schemas import expectations
from schemas.expectations import DATAFRAME_CHECKS, build_suite, expectation_specs
from tests.fixtures.lake_data import fill_lake


@pytest.fixture(scope="module")
def frames(tmp_path_factory):
    lake = Lake.open(str(tmp_path_factory.mktemp("lake")))
    fill_lake(lake, "D05.SI", "2025-03-03", "2025-04-30", datasets=("prices", "indicators", "features"))
    return {name: lake.read_dataset(name) for name in ("prices", "indicators", "features")}


@pytest.mark.parametrize("dataset", schemas.DATASETS)
def test_suite_expects_exactly_the_models_columns(dataset):
    [columns] = [s for s in expectation_specs(dataset) if s.rule == "columns"]
    assert columns.kwargs == {"column_set": schemas.column_names(dataset), "exact_match": True}


@pytest.mark.parametrize("dataset", schemas.DATASETS)
def test_every_column_has_a_type_expectation(dataset):
    typed = {s.kwargs["column"] for s in expectation_specs(dataset) if s.rule == "type"}
    assert typed == set(schemas.column_names(dataset))


@pytest.mark.parametrize("dataset", schemas.DATASETS)
def test_not_null_follows_the_models_nullability(dataset):
    not_null = {s.kwargs["column"] for s in expectation_specs(dataset) if s.rule == "not_null"}
    columns = schemas.model(dataset).to_schema().columns
    assert not_null == {name for name, column in columns.items() if not column.nullable}


def test_field_bounds_become_ranges_with_strictness():
    ranges = {s.kwargs["column"]: s.kwargs for s in expectation_specs("indicators") if s.rule == "range"}
    assert ranges["rsi_14"]["min_value"] == 0 and ranges["rsi_14"]["max_value"] == 100
    assert ranges["close"]["strict_min"] is True
    assert ranges["macd"]["max_value"] == pytest.approx(1.7976931348623157e308)  # finite bound only


def test_key_is_expected_unique():
    specs = [s for s in expectation_specs("prices") if s.rule == "key_unique"]
    assert specs[0].kwargs == {"column_list": ["ticker", "date"]}


def test_a_model_check_without_translation_is_an_error(monkeypatch):
    monkeypatch.setattr(
        expectations, "DATAFRAME_CHECKS", {k: v for k, v in DATAFRAME_CHECKS.items() if k != "bands_ordered"}
    )
    with pytest.raises(TypeError, match="bands_ordered"):
        expectation_specs("indicators")


def test_labels_are_unique_within_each_suite():
    for dataset in schemas.DATASETS:
        labels = [s.label for s in expectation_specs(dataset)]
        assert len(labels) == len(set(labels))


def test_build_suite_holds_every_spec():
    suite = build_suite("prices")
    assert suite.name == "tickerlake.prices"
    assert len(suite.expectations) == len(expectation_specs("prices"))


def test_clean_frames_pass_both_pandera_and_the_suite(frames):
    for dataset, frame in frames.items():
        schemas.validate(dataset, frame)
        assert [r.name for r in run_suite(dataset, frame) if r.status == "fail"] == []


def _set(column, value, row=3):
    def edit(frame):
        frame = frame.copy()
        if column not in frame.columns:
            frame[column] = value
        else:
            frame[column] = (
                frame[column].astype(object)
                if isinstance(value, str) and frame[column].dtype != object
                else frame[column]
            )
            frame.loc[row, column] = value
        return frame

    return edit


BROKEN = [
    ("prices", "negative close", _set("close", -1.0), "range[close]"),
    ("prices", "infinite high", _set("high", math.inf), "range[high]"),
    ("prices", "null open", _set("open", math.nan), "not_null[open]"),
    ("prices", "high below low", _set("low", 1e6), "high>=low"),
    ("prices", "lowercase ticker", _set("ticker", "d05.si"), "pattern[ticker]"),
    ("prices", "empty run id", _set("run_id", ""), "length[run_id]"),
    ("prices", "extra column", _set("surprise", 1.0), "columns"),
    ("prices", "text in a float column", _set("close", "ten"), "type[close]"),
    ("indicators", "rsi above 100", _set("rsi_14", 101.0), "range[rsi_14]"),
    ("indicators", "bands out of order", _set("bb_lower", 1e6, row=30), "bb_middle>=bb_lower"),
    ("features", "rsi norm beyond 1", _set("rsi_14_norm", 1.5, row=30), "range[rsi_14_norm]"),
]


@pytest.mark.parametrize(
    ("dataset", "edit", "expected"), [c[::2][:1] + c[2:] for c in BROKEN], ids=[c[1] for c in BROKEN]
)
def test_suite_refuses_what_pandera_refuses(frames, dataset, edit, expected):
    broken = edit(frames[dataset])
    with pytest.raises(Exception):  # noqa: B017 - pandera's SchemaErrors or a coercion error
        schemas.validate(dataset, broken)
    failed = {r.name for r in run_suite(dataset, broken) if r.status == "fail"}
    assert expected in failed


def test_duplicate_key_fails_the_suite(frames):
    frame = frames["prices"]
    doubled = pd.concat([frame, frame.iloc[[0]]], ignore_index=True)
    failed = {r.name: r for r in run_suite("prices", doubled) if r.status == "fail"}
    assert "key_unique" in failed
    assert failed["key_unique"].examples[0].ticker == "D05.SI"


def test_failing_expectation_names_ticker_and_date(frames):
    broken = _set("close", -1.0, row=5)(frames["prices"])
    [result] = [r for r in run_suite("prices", broken) if r.name == "range[close]"]
    assert result.failed == 1
    assert (result.examples[0].ticker, result.examples[0].date) == (
        "D05.SI",
        str(frames["prices"].loc[5, "date"]),
    )
