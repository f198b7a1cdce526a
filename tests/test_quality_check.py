"""pipelines.quality.check_dataset: the suites plus the rules a schema cannot say."""

import datetime as dt

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from lake import layout
from lake.api import LINEAGE_COLUMNS, Lake
from pipelines.quality import (
    QualityConfig,
    QualityReport,
    alert_failures,
    check_dataset,
    load_reports,
    save_report,
)
from tests.fixtures.lake_data import COMPUTED_AT, fill_lake

T = "D05.SI"
# SGX sessions; the sample source has no bar on 2025-06-06 (one of its deliberately missing days).
START, END, MISSING = "2025-05-26", "2025-07-18", "2025-06-06"
AS_OF = QualityConfig(as_of=dt.date(2025, 7, 18), completeness_max_missing=0.05)
# A shorter range for the lakes a test breaks on purpose.
J_START, J_END, J_DAY = "2025-03-03", "2025-03-31", "2025-03-20"
J_AS_OF = QualityConfig(as_of=dt.date(2025, 3, 31))


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    lake = Lake.open(str(tmp_path_factory.mktemp("clean")))
    fill_lake(lake, T, START, END)
    return lake


def _jump(day, factor):
    def edit(prices):
        prices = prices.copy()
        later = prices["date"].astype(str) >= day
        for column in ("open", "high", "low", "close", "adj_close"):
            prices.loc[later, column] *= factor
        return prices

    return edit


@pytest.fixture(scope="module")
def jumped(tmp_path_factory):
    """Prices halving on J_DAY without any split recorded."""
    lake = Lake.open(str(tmp_path_factory.mktemp("jumped")))
    fill_lake(lake, T, J_START, J_END, datasets=("prices",), edit_prices=_jump(J_DAY, 0.5))
    return lake


@pytest.fixture
def lake(tmp_path):
    return Lake.open(str(tmp_path / "lake"))


def _rewrite(lake, dataset, day, *, target_day=None, **values):
    """A new version of one row's month object with some values of the row changed (what a faulty
    computation would write); with `target_day`, the row is written under that date instead."""
    frame = lake.read_dataset(dataset, T, day, day)
    assert len(frame) == 1
    for column, value in values.items():
        frame[column] = value
    frame["date"] = target_day or day
    rows = frame.drop(
        columns=[c for c in LINEAGE_COLUMNS if c not in ("source_raw_key", "source_raw_version")]
    )
    month = layout.month_of(target_day or day)
    lake.write_month(dataset, month, rows, run_id="bad", computation_version="9.9.9", computed_at=COMPUTED_AT)


def test_clean_data_passes(clean):
    report = check_dataset(clean, "prices", [T], START, END, config=AS_OF)
    assert report.passed, report.summary()
    assert report.rows == len(clean.read_dataset("prices", columns=["date"]))


def test_one_missing_session_within_tolerance_is_a_warning(clean):
    result = check_dataset(clean, "prices", [T], START, END, config=AS_OF).result("completeness")
    assert result.status == "warn"
    assert [(e.ticker, e.date) for e in result.examples] == [(T, MISSING)]


def test_missing_sessions_beyond_tolerance_fail_and_are_listed(clean):
    report = check_dataset(clean, "prices", [T], START, "2025-08-29", config=AS_OF)
    result = report.result("completeness")
    assert result.status == "fail"
    assert (T, "2025-07-21") in [(e.ticker, e.date) for e in result.examples]


def test_missing_session_that_was_quarantined_says_so(clean):
    clean.quarantine("prices", T, MISSING, "close must be > 0")
    result = check_dataset(clean, "prices", [T], START, END, config=AS_OF).result("completeness")
    assert result.examples[0].detail == "trading session missing (quarantined)"


def test_row_on_a_non_trading_day_fails_completeness(lake):
    fill_lake(lake, T, J_START, "2025-03-14", datasets=("prices",))
    _rewrite(lake, "prices", "2025-03-14", target_day="2025-03-15")  # a Saturday
    result = check_dataset(lake, "prices", [T], J_START, "2025-03-15", config=J_AS_OF).result("completeness")
    assert result.status == "fail"
    assert result.examples[0].date == "2025-03-15"
    assert result.examples[0].detail == "row dated on a day that is not a trading session"


def test_a_month_object_holding_a_row_twice_is_a_duplicate(lake):
    """`write_month` never writes a (ticker, date) twice; a month object put by another writer may."""
    fill_lake(lake, T, J_START, "2025-03-14", datasets=("prices",))
    table = pq.read_table(pa.BufferReader(lake.store.get(layout.month_key("prices", "2025-03")).data))
    twice = pa.concat_tables([table, table.filter(pc.equal(table["date"], dt.date(2025, 3, 13)))])
    sink = pa.BufferOutputStream()
    pq.write_table(twice, sink)
    lake.store.put(layout.month_key("prices", "2025-03"), sink.getvalue().to_pybytes())
    report = check_dataset(lake, "prices", [T], J_START, "2025-03-15", config=J_AS_OF)
    assert report.result("unique_latest").status == "fail"
    assert report.result("unique_latest").examples[0].date == "2025-03-13"
    assert report.result("key_unique").status == "fail"


def test_stale_data_fails_freshness(clean):
    config = QualityConfig(as_of=dt.date(2025, 8, 1))
    result = check_dataset(clean, "prices", [T], START, END, config=config).result("freshness")
    assert result.status == "fail"
    assert result.examples[0].date == "2025-07-31"  # one session of lag allowed


def test_freshness_allows_the_configured_lag(clean):
    config = QualityConfig(as_of=dt.date(2025, 7, 22), freshness_lag_sessions=2)
    assert check_dataset(clean, "prices", [T], START, END, config=config).result("freshness").status == "pass"


def test_freshness_defaults_to_the_range_end(clean):
    assert check_dataset(clean, "prices", [T], START, END).result("freshness").status == "pass"


def test_a_big_unexplained_move_fails_continuity(jumped):
    result = check_dataset(jumped, "prices", [T], J_START, J_END, config=J_AS_OF).result("continuity")
    assert result.status == "fail"
    assert [(e.ticker, e.date) for e in result.examples] == [(T, J_DAY)]


def test_a_move_explained_by_a_split_in_the_raw_payload_passes(lake):
    def split(envelope):  # the one fetch holds every bar: the bar of J_DAY records the split
        (bar,) = [bar for bar in envelope["payload"]["history"] if bar["date"] == J_DAY]
        bar["splits"] = 2.0
        return envelope

    fill_lake(
        lake, T, J_START, J_END, datasets=("prices",), edit_prices=_jump(J_DAY, 0.5), edit_envelope=split
    )
    result = check_dataset(lake, "prices", [T], J_START, J_END, config=J_AS_OF).result("continuity")
    assert result.status == "pass"
    assert "1 explained by a split" in result.message


def test_continuity_sees_the_move_into_the_first_day_of_the_range(jumped):
    report = check_dataset(jumped, "prices", [T], J_DAY, J_DAY, config=J_AS_OF)
    assert report.result("continuity").status == "fail"


def test_continuity_bound_is_configurable(jumped):
    config = QualityConfig(as_of=J_AS_OF.as_of, continuity_max_move=0.6)
    assert check_dataset(jumped, "prices", [T], J_START, J_END, config=config).result("continuity").passed


def test_broken_indicator_identity_fails_consistency(clean):
    _rewrite(clean, "indicators", "2025-07-18", macd_hist=123.0)
    result = check_dataset(clean, "indicators", [T], START, END, config=AS_OF).result("consistency")
    assert result.status == "fail"
    assert result.examples[0].date == "2025-07-18"
    assert result.examples[0].detail.startswith("macd_hist = macd - macd_signal")


def test_implausible_indicator_fails_the_plausible_range(clean):
    _rewrite(clean, "indicators", "2025-07-17", atr_pct=75.0)
    result = check_dataset(clean, "indicators", [T], START, END, config=AS_OF).result("plausible_range")
    assert result.status == "fail"
    assert result.examples[0].date == "2025-07-17"


def test_schema_violation_in_the_lake_fails_with_its_partition(lake):
    fill_lake(lake, T, J_START, "2025-03-14", datasets=("prices",))
    _rewrite(lake, "prices", "2025-03-12", volume=-5)
    result = check_dataset(lake, "prices", [T], J_START, "2025-03-14", config=J_AS_OF).result("range[volume]")
    assert result.status == "fail"
    assert (result.examples[0].ticker, result.examples[0].date) == (T, "2025-03-12")


def test_ticker_without_any_partition_fails_completeness(clean):
    report = check_dataset(clean, "prices", ["U11.SI"], START, END, config=AS_OF)
    assert report.result("completeness").status == "fail"
    assert report.rows == 0


def test_start_after_end_is_refused(clean):
    with pytest.raises(ValueError, match="after end"):
        check_dataset(clean, "prices", [T], END, START)


def test_hostile_ticker_is_refused(clean):
    with pytest.raises(ValueError, match="not valid"):
        check_dataset(clean, "prices", ["../x"])


def test_report_round_trips_through_the_lake(clean):
    report = check_dataset(clean, "prices", [T], START, END, config=AS_OF)
    save_report(clean, report)
    loaded = load_reports(clean, "prices")[0]
    assert loaded.to_dict() == QualityReport.from_dict(report.to_dict()).to_dict()


def test_alert_failures_raises_one_alert_per_rule_and_ticker_once(jumped):
    report = check_dataset(jumped, "prices", [T], J_START, J_END, config=J_AS_OF)
    first = alert_failures(jumped, report, sink=[])
    assert [(a.rule, a.ticker, a.date) for a in first] == [("continuity", T, J_DAY)]
    assert alert_failures(jumped, report, sink=[]) == []


def test_a_whole_ticker_year_is_checked_and_passes(tmp_path):
    """A year of one ticker, every row checked (its speed is measured by `make bench`, not asserted here)."""
    lake = Lake.open(str(tmp_path / "year"))
    fill_lake(lake, T, "2025-01-01", "2025-12-31", datasets=("prices",), store_raw=False)
    config = QualityConfig(as_of=dt.date(2025, 12, 31))
    report = check_dataset(lake, "prices", [T], "2025-01-01", "2025-12-31", config=config)
    assert report.rows == len(lake.read_dataset("prices", T, columns=["date"])) > 240
    assert report.passed


def test_pandera_engine_passes_clean_data_without_the_gx_suite(clean):
    report = check_dataset(clean, "prices", [T], START, END, config=AS_OF, engine="pandera")
    assert report.passed
    assert report.result("pandera").kind == "schema"


def test_pandera_engine_names_the_failing_check_and_partition(lake):
    fill_lake(lake, T, J_START, "2025-03-14", datasets=("prices",), store_raw=False)
    _rewrite(lake, "prices", "2025-03-12", high=0.0001)
    report = check_dataset(lake, "prices", [T], J_START, "2025-03-14", config=J_AS_OF, engine="pandera")
    result = report.result("pandera:high must be >= low")
    assert (result.status, result.examples[0].date) == ("fail", "2025-03-12")


def test_the_rules_engine_runs_the_rules_without_the_schema_suite(clean):
    report = check_dataset(clean, "prices", [T], START, END, config=AS_OF, engine="rules")
    names = {result.name for result in report.results}
    assert {"unique_latest", "completeness", "freshness", "continuity"} <= names
    assert all(result.kind == "rule" for result in report.results)  # nothing of the pandera/GX suite
    with pytest.raises(ValueError, match="expected gx, pandera or rules"):
        check_dataset(clean, "prices", engine="bogus")


def test_in_range_keeps_the_dated_rows_and_returns_the_frame_itself_when_it_keeps_all():
    import pandas as pd

    from pipelines.quality import in_range

    dates = pd.DataFrame({"date": [dt.date(2025, 1, 2), None, dt.date(2025, 3, 3)], "v": [1, 2, 3]})
    assert in_range(dates, "2025-01-01", "2025-01-31")["v"].tolist() == [1]  # a missing date is outside
    assert in_range(dates, "2025-01-02", None)["v"].tolist() == [1, 3]
    assert in_range(dates, None, None) is dates
    whole = dates.dropna().reset_index(drop=True)
    assert in_range(whole, "2025-01-01", "2025-12-31") is whole  # no copy of what is all kept
    text = pd.DataFrame({"date": ["2025-01-02", "not a date", "2025-02-03"], "v": [1, 2, 3]})
    assert in_range(text, "2025-01-01", "2025-01-31")["v"].tolist() == [1]
