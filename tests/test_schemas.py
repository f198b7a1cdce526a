"""The pandera models, and the Arrow and Glue forms derived from them."""

import datetime as dt

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow
import pyarrow.parquet as pq
import pytest

import schemas
from pipelines import COMPUTATION_VERSION
from pipelines.features import compute_features
from pipelines.indicators import compute_indicators
from pipelines.percentiles import compute_percentiles
from pipelines.sources import SampleSource
from tests.fixtures.series import random_prices

GLUE_OF_ARROW = {"double": pyarrow.float64(), "bigint": pyarrow.int64(), "string": pyarrow.string(),
                 "date": pyarrow.date32()}  # fmt: skip
LINEAGE = ("source_raw_key", "source_raw_version", "computation_version", "computed_at", "run_id")


def lineage(dataset: str) -> dict:
    return {
        "source_raw_key": "raw/yfinance/ticker=NVDA/date=2025-06-10/20250610T100000000000Z.json",
        "source_raw_version": "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY+MTRCxf3vjVBH40Nr8X8gdRQBpUMLUo",
        "computation_version": COMPUTATION_VERSION[dataset],
        "computed_at": pd.Timestamp("2025-06-10T10:00:00Z"),
        "run_id": "run-1",
    }


@pytest.fixture(scope="module")
def computed():
    prices = SampleSource(clock=lambda: dt.datetime(2026, 1, 1, tzinfo=dt.UTC)).history(
        "NVDA", "2023-01-01", "2025-12-31"
    )
    indicators = compute_indicators(prices)
    return {
        "prices": prices.drop(columns="ticker"),
        "indicators": indicators,
        "percentiles": compute_percentiles(indicators),
        "features": compute_features(prices, indicators),
    }


def full_rows(dataset, frame, ticker="NVDA"):
    return frame.assign(ticker=ticker, **lineage(dataset))


# -- derivation ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("dataset", schemas.DATASETS)
def test_arrow_schema_glue_types_and_model_agree(dataset):
    model_columns = schemas.MODELS[dataset].to_schema().columns
    arrow = schemas.arrow_schema(dataset)
    assert set(arrow.names) == set(model_columns)
    assert arrow.names[:2] == ["ticker", "date"] and tuple(arrow.names[-5:]) == LINEAGE
    for field in arrow:
        column = model_columns[field.name]
        assert field.nullable == column.nullable, field.name
        expected = {"float64": pyarrow.float64(), "int64": pyarrow.int64(), "str": pyarrow.string(),
                    "date": pyarrow.date32(), "datetime64[us, UTC]": pyarrow.timestamp("us", tz="UTC")}[str(column.dtype)]  # fmt: skip
        assert field.type == expected, field.name
    glue = schemas.glue_columns(dataset)
    assert [c["Name"] for c in glue] == arrow.names
    for column in glue:
        field = arrow.field(column["Name"])
        if column["Type"] == "timestamp":
            assert pyarrow.types.is_timestamp(field.type)
        else:
            assert GLUE_OF_ARROW[column["Type"]] == field.type


def test_interface_columns_are_declared_exactly():
    assert schemas.data_columns("prices") == ["open", "high", "low", "close", "adj_close", "volume"]
    assert schemas.data_columns("indicators")[:4] == ["close", "sma_20", "sma_50", "sma_200"]
    for dataset in schemas.DATASETS:
        assert tuple(schemas.column_names(dataset)[-5:]) == LINEAGE


def test_contract_types():
    arrow = schemas.arrow_schema("prices")
    assert arrow.field("ticker").type == pyarrow.string()
    assert arrow.field("date").type == pyarrow.date32()
    assert arrow.field("volume").type == pyarrow.int64()
    assert arrow.field("computed_at").type == pyarrow.timestamp("us", tz="UTC")
    assert {"Name": "volume", "Type": "bigint"} in schemas.glue_columns("prices")
    assert {"Name": "computed_at", "Type": "timestamp"} in schemas.glue_columns("prices")
    assert {"Name": "date", "Type": "date"} in schemas.glue_columns("prices")
    assert {"Name": "ticker", "Type": "string"} in schemas.glue_columns("prices")
    assert schemas.glue_partition_keys() == [{"Name": "month", "Type": "string"}]


def test_unknown_dataset_is_refused():
    with pytest.raises(schemas.UnknownDataset, match="dataset 'trades' is not known"):
        schemas.arrow_schema("trades")


# -- validation of computed frames ---------------------------------------------------------------------


@pytest.mark.parametrize("dataset", schemas.DATASETS)
def test_computed_frames_with_lineage_validate_and_fit_the_arrow_schema(computed, dataset, tmp_path):
    validated = schemas.validate(dataset, full_rows(dataset, computed[dataset]))
    assert list(validated.columns) == schemas.column_names(dataset)
    table = pyarrow.Table.from_pandas(validated, schema=schemas.arrow_schema(dataset), preserve_index=False)
    pq.write_table(table, tmp_path / "data.parquet")
    assert (
        pq.read_schema(tmp_path / "data.parquet")
        .remove_metadata()
        .equals(schemas.arrow_schema(dataset).remove_metadata())
    )


def test_validation_coerces_timestamps_to_dates(computed):
    frame = full_rows("prices", computed["prices"])
    frame["date"] = pd.to_datetime(frame["date"])
    validated = schemas.validate("prices", frame)
    assert isinstance(validated["date"].iloc[0], dt.date)


def _failures(dataset, frame):
    with pytest.raises(pa.errors.SchemaErrors) as caught:
        schemas.validate(dataset, frame)
    return caught.value.failure_cases


def test_prices_cross_column_checks(computed):
    frame = full_rows("prices", computed["prices"].head(5))
    frame.loc[1, "high"] = frame.loc[1, "low"] - 0.01
    frame.loc[3, "low"] = frame.loc[3, ["open", "close"]].max() + 0.01
    frame.loc[3, "high"] = frame.loc[3, "low"] + 1
    checks = set(_failures("prices", frame)["check"])
    assert {
        "high must be >= low",
        "high must be >= max(open, close)",
        "low must be <= min(open, close)",
    } <= checks


def test_prices_ranges(computed):
    frame = full_rows("prices", computed["prices"].head(3))
    frame.loc[0, "volume"] = -1
    frame.loc[1, "close"] = 0.0
    failures = _failures("prices", frame)
    assert {"volume", "close"} <= set(failures["column"])


def test_lazy_validation_reports_every_failure(computed):
    frame = full_rows("indicators", computed["indicators"].tail(30))
    frame.iloc[0, frame.columns.get_loc("rsi_14")] = 101.0
    frame.iloc[1, frame.columns.get_loc("uncertainty_score")] = -1.0
    frame.iloc[2, frame.columns.get_loc("bb_lower")] = frame.iloc[2]["bb_middle"] + 1
    failures = _failures("indicators", frame)
    assert {"rsi_14", "uncertainty_score"} <= set(failures["column"])
    assert "bollinger bands must satisfy bb_upper >= bb_middle >= bb_lower" in set(failures["check"])


def test_warm_up_nulls_are_allowed_but_not_in_keys_or_lineage(computed):
    frame = full_rows("indicators", computed["indicators"].head(40))
    schemas.validate("indicators", frame)  # sma_200 etc. all null here
    frame.loc[0, "run_id"] = None
    frame.loc[1, "close"] = np.nan
    assert {"run_id", "close"} <= set(_failures("indicators", frame)["column"])


def test_percentiles_must_lie_between_0_and_100(computed):
    frame = full_rows("percentiles", computed["percentiles"].tail(3))
    frame.iloc[0, frame.columns.get_loc("macd_freq_positive")] = 100.5
    assert "macd_freq_positive" in set(_failures("percentiles", frame)["column"])


def test_infinite_values_are_refused(computed):
    frame = full_rows("features", computed["features"].tail(3))
    frame.iloc[0, frame.columns.get_loc("ret_1d")] = np.inf
    assert "float values must be finite (or null)" in set(_failures("features", frame)["check"])


def test_strict_models_refuse_extra_and_missing_columns(computed):
    frame = full_rows("prices", computed["prices"].head(3))
    failures = _failures("prices", frame.assign(extra=1))
    assert "column_in_schema" in set(failures["check"])
    assert "column_in_dataframe" in set(_failures("prices", frame.drop(columns="run_id"))["check"])


def test_bad_ticker_is_refused(computed):
    frame = full_rows("prices", computed["prices"].head(2), ticker="../x")
    assert "ticker" in set(_failures("prices", frame)["column"])


def test_random_series_outputs_validate():
    prices = random_prices(8, 300, sigma=0.06)
    indicators = compute_indicators(prices)
    schemas.validate("indicators", full_rows("indicators", indicators, ticker="TEST"))
    schemas.validate("percentiles", full_rows("percentiles", compute_percentiles(indicators), ticker="TEST"))
    schemas.validate("features", full_rows("features", compute_features(prices, indicators), ticker="TEST"))


def test_every_dataset_name_has_its_model_and_nothing_else_does():
    assert tuple(schemas.MODELS) == schemas.DATASETS


def test_text_and_day_columns_holding_other_values_take_panderas_path(computed):
    """`Text` and `Day` check a clean column in one C pass; a column holding anything else is coerced and
    checked by pandera's per-value path, so its failures still name each bad row and value."""
    frame = full_rows("prices", computed["prices"].head(6))
    frame["source_raw_version"] = frame["source_raw_version"].astype(object)
    frame.loc[1, "source_raw_version"] = 7  # coerced to text, as pandera's str does
    frame["date"] = frame["date"].astype(object)
    frame.loc[4, "date"] = dt.datetime(2026, 1, 2, 15, 30)  # coerced to its calendar date
    validated = schemas.validate("prices", frame)
    assert validated.loc[1, "source_raw_version"] == "7"
    assert validated.loc[4, "date"] == dt.date(2026, 1, 2) and type(validated.loc[4, "date"]) is dt.date

    frame.loc[2, "run_id"] = None  # not nullable
    frame.loc[3, "date"] = "not a date"
    failures = _failures("prices", frame)
    assert "run_id" in set(failures["column"])
    assert "not a date" in " ".join(map(str, failures["failure_case"]))


def test_text_and_day_keep_clean_columns_as_they_are(computed):
    frame = full_rows("prices", computed["prices"].head(4))
    validated = schemas.validate("prices", frame)
    assert validated["ticker"].tolist() == frame["ticker"].tolist()
    assert all(type(d) is dt.date for d in validated["date"])
    assert validated["date"].tolist() == frame["date"].tolist()


@pytest.mark.parametrize("dataset", schemas.DATASETS)
def test_models_declare_keys_and_lineage_as_text_and_day(dataset):
    from schemas.models import Day, Text

    columns = schemas.model(dataset).to_schema().columns
    assert isinstance(columns["date"].dtype, Day)
    assert all(isinstance(columns[c].dtype, Text) for c in ("ticker", "source_raw_key", "run_id"))
