"""The lake API over both backends at the month grain: raw fetches, month objects written by merge under
conditional writes (no lost update), reads (pruned, filtered, as of a time), versions and lineage,
quarantine, and hostile tickers/dates/months refused by every public method."""

import base64
import copy
import datetime as dt
import hashlib
import io
import json
import multiprocessing
import threading
import time
import types
from concurrent.futures import ThreadPoolExecutor

import duckdb
import pandas as pd
import pyarrow.parquet as pq
import pytest

import lake.api as api
from lake import layout
from lake.api import LINEAGE_COLUMNS, MAX_WRITE_ATTEMPTS, ROW_GROUP_ROWS, Lake, MonthVersion, open_lake
from lake.exceptions import InvalidArgumentValue, LakeError, ObjectNotFound, WriteConflict
from lake.store import LocalStore, S3Store
from schemas import arrow_schema
from tests import month_writers

T, U = "D05.SI", "Z74.SI"
D = "2025-01-02"
MONTH = "2025-01"
MONTH_KEY = "processed/prices/month=2025-01/data.parquet"
AT = dt.datetime(2025, 1, 2, 10, 30, tzinfo=dt.UTC)
SCHEMA = arrow_schema("prices")
VALUE_COLUMNS = [name for name in SCHEMA.names if name not in ("ticker", "date", *LINEAGE_COLUMNS)]


def raw_key(ticker: str = T, date: str = D) -> str:
    return f"raw/yfinance/ticker={ticker}/date={date}/{date.replace('-', '')}T100000000000Z.json"


def prices(
    ticker: str = T, dates=(D,), close: float = 10.0, raw_version: str = "rv1", raw: str | None = None
) -> pd.DataFrame:
    """Rows of the prices dataset for one ticker: every value column, one row per date."""
    n = len(dates)
    frame = pd.DataFrame({"ticker": [ticker] * n, "date": list(dates)})
    for name in VALUE_COLUMNS:
        frame[name] = [100] * n if name == "volume" else [close] * n
    frame["source_raw_key"] = [raw or raw_key(ticker, d) for d in dates]
    frame["source_raw_version"] = raw_version
    return frame


def write(lake: Lake, rows: pd.DataFrame, month: str = MONTH, run: str = "run-1", **kwargs):
    """write_month of prices with a fixed computation (version 1.0.0 at AT) unless told otherwise."""
    arguments = {"computation_version": "1.0.0", "computed_at": AT, **kwargs}
    return lake.write_month("prices", month, rows, run_id=run, **arguments)


def next_second(lake: Lake) -> None:
    """S3 reports LastModified in whole seconds: make the next write land in a later second than now."""
    if isinstance(lake.store, S3Store):
        time.sleep(1.05 - time.time() % 1)


# ---------------------------------------------------------------------------------------------- raw

ENVELOPE = (
    b'{"symbol": "D05.SI",  "fetched_at": "2025-01-02T10:00:00Z", "source": "yfinance",\n'
    b' "payload": {"history": [{"date": "2024-12-30"}, {"date": "2025-01-02"}, {"date": "2024-12-31"}]}}\n'
)


def test_put_raw_stores_the_envelope_verbatim_under_the_fetch_key(lake):
    result = lake.put_raw(ENVELOPE, ticker=T, source="yfinance")
    assert result.key == f"raw/yfinance/ticker={T}/date=2025-01-02/20250102T100000000000Z.json"
    assert lake.get_raw(result.key) == ENVELOPE
    assert lake.get_raw(result.key, result.version_id) == ENVELOPE


def test_put_raw_key_date_is_the_utc_date_of_fetched_at(lake):
    late_evening_in_new_york = dt.datetime(2025, 1, 2, 20, 0, tzinfo=dt.timezone(dt.timedelta(hours=-5)))
    result = lake.put_raw(ENVELOPE, ticker=T, source="yfinance", fetched_at=late_evening_in_new_york)
    assert result.key == f"raw/yfinance/ticker={T}/date=2025-01-03/20250103T010000000000Z.json"


def test_put_raw_records_bar_range_metadata_and_source_ticker_fetch_tags(lake):
    result = lake.put_raw(ENVELOPE, ticker=T, source="yfinance")
    metadata = lake.store.head(result.key).metadata
    assert (metadata["first-bar"], metadata["last-bar"]) == ("2024-12-30", "2025-01-02")
    assert metadata["fetched-at"] == "2025-01-02T10:00:00.000000+00:00"
    assert metadata["content-sha256"] == hashlib.sha256(ENVELOPE).hexdigest()
    assert lake.store.get_tags(result.key) == {
        "source": "yfinance",
        "ticker": T,
        "fetched_at": "2025-01-02T10:00:00.000000+00:00",
    }


def test_put_raw_serialises_a_dict_as_given(lake):
    envelope = {"b": 1, "a": "é", "fetched_at": "2025-01-02T09:00:00+00:00"}
    result = lake.put_raw(envelope, ticker=T, source="sample")
    stored = lake.get_raw(result.key)
    assert json.loads(stored) == envelope and list(json.loads(stored)) == ["b", "a", "fetched_at"]


def test_put_raw_refuses_an_envelope_for_another_symbol(lake):
    with pytest.raises(InvalidArgumentValue, match="symbol 'NVDA'.*'D05.SI'"):
        lake.put_raw({"symbol": "NVDA", "fetched_at": "2025-01-02T10:00:00Z"}, ticker=T, source="yfinance")
    assert lake.list_keys("raw/") == []


@pytest.mark.parametrize(
    "envelope, message",
    [
        (b"not json", "not JSON"),
        (b"[1]", "JSON object"),
        ({"fetched_at": "2025-01-02T10:00:00"}, "timezone-aware"),
        ({"fetched_at": "yesterday"}, "'yesterday'"),
    ],
)
def test_put_raw_refuses_envelopes_it_cannot_store(lake, envelope, message):
    with pytest.raises(InvalidArgumentValue, match=message):
        lake.put_raw(envelope, ticker=T, source="yfinance")
    assert lake.list_keys("raw/") == []


def test_put_raw_of_the_same_bytes_again_returns_the_stored_object(lake):
    first = lake.put_raw(ENVELOPE, ticker=T, source="yfinance")
    again = lake.put_raw(ENVELOPE, ticker=T, source="yfinance")
    assert (again.key, again.version_id) == (first.key, first.version_id)
    assert len(lake.store.list_versions(first.key)) == 1


def test_put_raw_of_other_bytes_at_an_existing_key_is_refused(lake):
    first = lake.put_raw(ENVELOPE, ticker=T, source="yfinance")
    with pytest.raises(InvalidArgumentValue, match="exists with other content"):
        lake.put_raw(ENVELOPE.replace(b"2024-12-30", b"2024-12-27"), ticker=T, source="yfinance")
    assert lake.get_raw(first.key) == ENVELOPE
    assert len(lake.store.list_versions(first.key)) == 1


def test_put_raw_accepts_only_the_known_sources(lake):
    keys = [lake.put_raw(ENVELOPE, ticker=T, source=source).key for source in ("yfinance", "sample", "dir")]
    assert [key.split("/")[1] for key in keys] == ["yfinance", "sample", "dir"]
    for source in ("bloomberg", "YFINANCE", "../raw", None):
        with pytest.raises(InvalidArgumentValue, match="raw source"):
            lake.put_raw(ENVELOPE, ticker=T, source=source)
    assert len(lake.list_keys("raw/")) == 3


def _fetch(lake, when: str, source: str = "yfinance", ticker: str = T):
    fetched_at = dt.datetime.fromisoformat(when).replace(tzinfo=dt.UTC)
    return lake.put_raw({"fetched_at": when + "Z"}, ticker=ticker, source=source, fetched_at=fetched_at)


def test_raw_fetches_are_the_tickers_fetches_oldest_first(lake):
    late = _fetch(lake, "2025-01-03T10:00:00")
    early = _fetch(lake, "2025-01-02T10:00:00", source="sample")
    middle = _fetch(lake, "2025-01-02T12:00:00")
    _fetch(lake, "2025-01-02T11:00:00", ticker=U)
    found = lake.raw_fetches(T)
    assert [(info.key, info.version_id) for info in found] == [
        (r.key, r.version_id) for r in (early, middle, late)
    ]


def test_raw_fetches_filter_by_source_and_since(lake):
    late = _fetch(lake, "2025-01-03T10:00:00")
    _fetch(lake, "2025-01-02T10:00:00", source="sample")
    middle = _fetch(lake, "2025-01-02T12:00:00")
    assert [info.key for info in lake.raw_fetches(T, source="yfinance")] == [middle.key, late.key]
    assert [info.key for info in lake.raw_fetches(T, since="2025-01-03")] == [late.key]
    assert lake.raw_fetches(T, source="dir") == [] and lake.raw_fetches(U) == []


def test_get_raw_refuses_keys_that_are_not_raw_fetches(lake):
    write(lake, prices())
    for key in (MONTH_KEY, "../../etc/passwd", f"quarantine/prices/ticker={T}/date={D}/x.json", "raw/x.json"):
        with pytest.raises(InvalidArgumentValue):
            lake.get_raw(key)


# ---------------------------------------------------------------------------------------------- write_month


def test_write_month_stores_rows_sorted_with_the_lineage_columns(lake):
    rows = pd.concat([prices(U, ["2025-01-03", D]), prices(T, ["2025-01-03", D])], ignore_index=True)
    result = write(lake, rows)
    frame = lake.read_month("prices", MONTH)
    assert list(frame.columns) == SCHEMA.names
    assert frame[["ticker", "date"]].astype(str).values.tolist() == [
        [T, D],
        [T, "2025-01-03"],
        [U, D],
        [U, "2025-01-03"],
    ]
    assert set(frame["run_id"]) == {"run-1"} and set(frame["computation_version"]) == {"1.0.0"}
    assert set(frame["computed_at"]) == {pd.Timestamp(AT)}
    assert frame["source_raw_key"].tolist()[0] == raw_key(T, D)
    assert (result.key, result.rows, result.tickers, result.rows_written) == (MONTH_KEY, 4, 2, 4)
    assert (result.first_date, result.last_date, result.attempts) == (D, "2025-01-03", 1)


def test_write_month_keeps_other_tickers_rows_with_their_own_lineage(lake):
    write(lake, prices(U, [D], close=5.0), run="run-u", computation_version="0.9")
    result = write(lake, prices(T, [D], close=1.0), run="run-t")
    frame = lake.read_month("prices", MONTH)
    assert frame[["ticker", "close", "run_id", "computation_version"]].values.tolist() == [
        [T, 1.0, "run-t", "1.0.0"],
        [U, 5.0, "run-u", "0.9"],
    ]
    assert (result.rows, result.tickers, result.rows_written) == (2, 2, 1)


def test_write_month_replaces_the_same_ticker_and_date_and_keeps_its_other_dates(lake):
    write(lake, prices(T, [D, "2025-01-03"], close=1.0), run="run-1")
    write(lake, prices(T, ["2025-01-03"], close=2.0, raw_version="rv2"), run="run-2")
    frame = lake.read_month("prices", MONTH)
    assert frame[["date", "close", "run_id", "source_raw_version"]].astype(str).values.tolist() == [
        [D, "1.0", "run-1", "rv1"],
        ["2025-01-03", "2.0", "run-2", "rv2"],
    ]


def test_each_write_month_is_a_new_version_and_older_ones_stay_readable(lake):
    first = write(lake, prices(close=1.0))
    second = write(lake, prices(close=2.0))
    assert second.version_id != first.version_id
    assert lake.read_month("prices", MONTH)["close"].tolist() == [2.0]
    assert lake.read_month("prices", MONTH, first.version_id)["close"].tolist() == [1.0]


def test_write_month_metadata_and_tags_describe_the_version(lake):
    result = write(lake, pd.concat([prices(T), prices(U)], ignore_index=True), run="run-7")
    tags = lake.store.get_tags(MONTH_KEY)
    assert tags == {
        "source": "computed",
        "computation_type": "prices",
        "computation_version": "1.0.0",
        "computed_at": "2025-01-02T10:30:00.000000+00:00",
        "run_id": "run-7",
        "lineage_manifest": result.manifest_key,
        "rows": "2",
        "tickers": "2",
    }
    metadata = lake.store.head(MONTH_KEY).metadata
    assert {name: metadata[name] for name in ("row-count", "ticker-count", "first-date", "last-date")} == {
        "row-count": "2",
        "ticker-count": "2",
        "first-date": D,
        "last-date": D,
    }
    assert metadata["lineage-manifest"] == result.manifest_key
    assert metadata["run-id"] == "run-7" and metadata["data-classification"] == "internal"


def test_write_month_manifest_lists_the_distinct_raw_keys_and_versions(lake):
    shared = raw_key(T, "2025-01-03")
    rows = pd.concat(
        [prices(T, [D, "2025-01-03"], raw=shared), prices(U, [D], raw_version="rv9")], ignore_index=True
    )
    result = write(lake, rows, run="run-m")
    assert result.manifest_key.startswith("lineage/prices/month=2025-01/")
    manifest = lake.read_manifest(result.manifest_key)
    assert manifest["raw_sources"] == [
        {"key": shared, "version_id": "rv1"},
        {"key": raw_key(U, D), "version_id": "rv9"},
    ]
    assert (manifest["object_key"], manifest["run_id"], manifest["rows"]) == (MONTH_KEY, "run-m", 3)
    assert lake.list_keys("processed/") == [MONTH_KEY]  # manifests never under a table's location


def test_write_month_manifest_covers_the_rows_kept_from_earlier_writes(lake):
    write(lake, prices(U, raw_version="rv-u"))
    result = write(lake, prices(T))
    versions = {s["version_id"] for s in lake.read_manifest(result.manifest_key)["raw_sources"]}
    assert versions == {"rv1", "rv-u"}


WRONG_ROWS = {
    "a date outside the month": (lambda: prices(dates=["2025-02-03"]), "2025-02-03.*month 2025-01"),
    "a repeated ticker and date": (lambda: prices(dates=[D, D]), f"repeat.*{T} {D}"),
    "a missing value column": (lambda: prices().drop(columns="volume"), "volume.*missing"),
    "a missing raw key": (lambda: prices().drop(columns="source_raw_key"), "'source_raw_key'"),
    "an extra column": (lambda: prices().assign(colour="red"), "colour.*not in the prices schema"),
    "a lowercase ticker": (lambda: prices("d05.si"), "ticker 'd05.si'"),
    "an impossible date": (lambda: prices(dates=["2025-01-32"]), "date '2025-01-32'"),
    "text in a number column": (lambda: prices().assign(volume="many"), "'many'.*column volume"),
    "a null in a required column": (lambda: prices().assign(close=None), "close.*null"),
    "no rows": (lambda: prices().iloc[0:0], "no rows"),
}


@pytest.mark.parametrize("case", sorted(WRONG_ROWS))
def test_write_month_refuses_wrong_rows_naming_field_and_value(lake, case):
    make, message = WRONG_ROWS[case]
    with pytest.raises(InvalidArgumentValue, match=message):
        write(lake, make())
    assert lake.list_keys("") == []


def test_write_months_writes_one_version_per_month_in_month_order(lake):
    rows = pd.concat(
        [prices(U, ["2025-02-03", "2025-01-03"]), prices(T, ["2025-03-03", "2025-01-02", "2025-02-04"])],
        ignore_index=True,
    )
    writes = lake.write_months("prices", rows, run_id="run-1", computation_version="1.0.0", computed_at=AT)
    assert [(w.month, w.rows_written, w.tickers) for w in writes] == [
        ("2025-01", 2, 2),
        ("2025-02", 2, 2),
        ("2025-03", 1, 1),
    ]
    january = lake.read_month("prices", "2025-01")
    assert list(zip(january["ticker"], january["date"].astype(str), strict=True)) == [
        (T, "2025-01-02"),
        (U, "2025-01-03"),
    ]
    assert set(january["run_id"]) == {"run-1"} and set(january["computation_version"]) == {"1.0.0"}
    assert january["computed_at"].iloc[0] == pd.Timestamp(AT)
    assert [w.version_id for w in writes] == [
        lake.month_versions("prices", m)[0].version_id for m in ("2025-01", "2025-02", "2025-03")
    ]


def test_a_version_is_stamped_validated_only_when_every_row_it_keeps_was(lake):
    stamp, other = "a" * 16, "b" * 16
    write(lake, prices(T, ["2025-01-02"]), validated=stamp)
    assert lake.month_version("prices", MONTH).schema_validated == stamp
    write(lake, prices(U, ["2025-01-02"]), validated=stamp)  # keeps T's stamped row
    assert lake.month_version("prices", MONTH).schema_validated == stamp
    write(lake, prices(U, ["2025-01-03"]), validated=other)  # keeps rows validated against another model
    assert lake.month_version("prices", MONTH).schema_validated is None
    write(lake, prices(U, ["2025-01-06"]), validated=other)  # keeps an unstamped version's rows
    assert lake.month_version("prices", MONTH).schema_validated is None
    every_row = lake.read_month("prices", MONTH).drop(columns=list(LINEAGE_COLUMNS[2:]))
    write(lake, every_row, validated=other)  # replaces every row: nothing unvalidated is kept
    assert lake.month_version("prices", MONTH).schema_validated == other
    write(lake, prices(T, ["2025-01-07"]))  # no stamp given
    assert lake.month_version("prices", MONTH).schema_validated is None
    assert lake.month_version("prices", "2025-02") is None


def test_write_months_that_fail_for_one_month_still_write_the_others_and_raise(tmp_path):
    lake = Lake(LocalStore(tmp_path / "lake"))
    lake.init()
    (tmp_path / "lake" / layout.month_key("prices", "2025-02") / "x").mkdir(parents=True)  # blocks the key
    rows = prices(T, ["2025-01-02", "2025-02-03", "2025-03-03"])
    with pytest.raises(InvalidArgumentValue, match="month=2025-02"):
        lake.write_months("prices", rows, run_id="run-1", computation_version="1.0.0")
    assert lake.months("prices") == ["2025-01", "2025-03"]
    assert lake.read_month("prices", "2025-03")["date"].astype(str).tolist() == ["2025-03-03"]


def test_write_months_refuses_a_repeated_row_across_the_frame_before_writing_any_month(lake):
    rows = pd.concat([prices(T, ["2025-01-02", "2025-02-03"]), prices(T, ["2025-02-03"])], ignore_index=True)
    with pytest.raises(InvalidArgumentValue, match=f"repeat.*{T} 2025-02-03"):
        lake.write_months("prices", rows, run_id="run-1", computation_version="1.0.0")
    assert lake.list_keys("processed/") == []


def test_write_month_refuses_rows_of_another_month_naming_them(lake):
    with pytest.raises(InvalidArgumentValue, match="2025-02-03 are not in month 2025-01"):
        write(lake, prices(T, ["2025-01-02", "2025-02-03"]))
    assert lake.list_keys("") == []


def test_write_month_refused_leaves_the_current_version_alone(lake):
    first = write(lake, prices())
    with pytest.raises(InvalidArgumentValue):
        write(lake, prices(U, dates=["2025-02-03"]))
    assert [v.version_id for v in lake.month_versions("prices", MONTH)] == [first.version_id]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"run_id": "rün"}, "run_id"),
        ({"run_id": ""}, "run_id"),
        ({"computation_version": "1\n"}, "computation_version"),
        ({"computed_at": dt.datetime(2025, 1, 2)}, "timezone-aware"),
    ],
)
def test_write_month_refuses_lineage_fields_s3_cannot_carry(lake, kwargs, message):
    arguments = {"run_id": "run-1", "computation_version": "1.0.0", "computed_at": AT, **kwargs}
    with pytest.raises(InvalidArgumentValue, match=message):
        lake.write_month("prices", MONTH, prices(), **arguments)
    assert lake.list_keys("") == []


# ---------------------------------------------------------------------------------------------- no lost update


def test_concurrent_writers_of_one_month_keep_every_writers_rows(lake):
    tickers = [f"W{n}" for n in range(6)]
    barrier = threading.Barrier(len(tickers))

    def run(ticker: str):
        barrier.wait()
        return write(lake, prices(ticker, [D, "2025-01-03"]), run=f"run-{ticker}")

    with ThreadPoolExecutor(len(tickers)) as pool:
        results = list(pool.map(run, tickers))
    frame = lake.read_month("prices", MONTH)
    assert len(frame) == 12 and not frame.duplicated(["ticker", "date"]).any()
    assert dict(zip(frame["ticker"], frame["run_id"], strict=True)) == {t: f"run-{t}" for t in tickers}
    versions = lake.month_versions("prices", MONTH)
    assert {v.version_id for v in versions} == {r.version_id for r in results}


def test_concurrent_writer_processes_of_one_month_keep_every_writers_rows(tmp_path):
    root = str(tmp_path / "lake")
    Lake(LocalStore(root)).init()
    tickers = ["P1", "P2"]
    dates = (D, "2025-01-03", "2025-01-06")
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(len(tickers))
    workers = [
        context.Process(
            target=month_writers.write_months,
            args=(root, MONTH, [prices(t, [d]).assign(run_id=f"{t}-{d}") for d in dates], SCHEMA, barrier),
        )
        for t in tickers
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert [worker.exitcode for worker in workers] == [0] * len(tickers)
    lake = Lake(LocalStore(root))
    frame = lake.read_month("prices", MONTH)
    assert frame[["ticker", "run_id"]].values.tolist() == [[t, f"{t}-{d}"] for t in tickers for d in dates]
    assert len(lake.month_versions("prices", MONTH)) == len(tickers) * len(dates)


def _losing_store(lake: Lake, races: int):
    """A second handle on the lake's store whose next `races` puts of a month object first let another
    writer's real write_month of that month land (a rival ticker each time), so the put's condition fails."""
    rival = Lake(lake.store)
    rivals: list[str] = []

    class LosesRaces(type(lake.store)):
        def put(self, key, data, **kwargs):
            if key.startswith("processed/") and len(rivals) < races:
                rivals.append(f"R{len(rivals)}")
                write(rival, prices(rivals[-1]), run=f"rival-{len(rivals)}")
            return super().put(key, data, **kwargs)

    store = copy.copy(lake.store)
    store.__class__ = LosesRaces
    return store, rivals


@pytest.fixture
def no_pauses(monkeypatch):
    """write_month's pauses between attempts, recorded instead of slept."""
    pauses: list[float] = []
    monkeypatch.setattr(api, "time", types.SimpleNamespace(sleep=pauses.append))
    return pauses


@pytest.mark.parametrize("existing", [False, True], ids=["new month", "existing month"])
def test_write_month_that_lost_races_reads_again_and_keeps_the_winners_rows(lake, no_pauses, existing):
    if existing:
        write(lake, prices(U), run="before")
    store, rivals = _losing_store(lake, races=2)
    result = write(Lake(store), prices(T), run="mine")
    assert result.attempts == 3 and len(no_pauses) == 2
    frame = lake.read_month("prices", MONTH)
    expected = {"R0": "rival-1", "R1": "rival-2", T: "mine"} | ({U: "before"} if existing else {})
    assert dict(zip(frame["ticker"], frame["run_id"], strict=True)) == expected
    assert lake.month_versions("prices", MONTH)[0].version_id == result.version_id


def test_write_month_that_loses_every_attempt_raises_write_conflict(lake, no_pauses):
    store, rivals = _losing_store(lake, races=MAX_WRITE_ATTEMPTS)
    with pytest.raises(WriteConflict, match=f"{MAX_WRITE_ATTEMPTS} attempts") as error:
        write(Lake(store), prices(T), run="mine")
    assert MONTH_KEY in str(error.value)
    frame = lake.read_month("prices", MONTH)
    assert sorted(frame["ticker"]) == sorted(rivals) and len(rivals) == MAX_WRITE_ATTEMPTS
    assert "mine" not in set(frame["run_id"])
    assert len(lake.month_versions("prices", MONTH)) == MAX_WRITE_ATTEMPTS


# ---------------------------------------------------------------------------------------------- reads


def _two_months(lake: Lake) -> None:
    january = [prices(T, [D, "2025-01-03"], close=1.0), prices(U, [D], close=2.0)]
    february = [prices(T, ["2025-02-03"], close=3.0), prices(U, ["2025-02-03"], close=4.0)]
    write(lake, pd.concat(january, ignore_index=True))
    write(lake, pd.concat(february, ignore_index=True), month="2025-02")


def test_read_dataset_returns_every_month_sorted_by_ticker_and_date(lake):
    _two_months(lake)
    frame = lake.read_dataset("prices")
    assert frame[["ticker", "date", "close"]].astype(str).values.tolist() == [
        [T, D, "1.0"],
        [T, "2025-01-03", "1.0"],
        [T, "2025-02-03", "3.0"],
        [U, D, "2.0"],
        [U, "2025-02-03", "4.0"],
    ]
    assert list(frame.columns) == SCHEMA.names
    assert frame["date"].iloc[0] == dt.date(2025, 1, 2)


def test_read_dataset_filters_tickers_and_dates(lake):
    _two_months(lake)
    frame = lake.read_dataset("prices", tickers=T, start="2025-01-03", end="2025-02-03")
    assert frame[["ticker", "date"]].astype(str).values.tolist() == [[T, "2025-01-03"], [T, "2025-02-03"]]
    assert lake.read_dataset("prices", [U], end=D)["date"].astype(str).tolist() == [D]


def test_read_dataset_reads_only_the_months_in_range(lake):
    _two_months(lake)
    # A broken month outside the request: reading it would fail, so success proves it was pruned.
    lake.store.put(layout.month_key("prices", "2025-03"), b"not parquet")
    assert len(lake.read_dataset("prices", start="2025-01-01", end="2025-02-28")) == 5
    with pytest.raises(LakeError, match="month=2025-03"):
        lake.read_dataset("prices", start="2025-02-01")


def test_read_dataset_columns_always_include_ticker_and_date(lake):
    _two_months(lake)
    frame = lake.read_dataset("prices", [U], columns=["run_id", "close", "date"])
    assert list(frame.columns) == ["ticker", "date", "run_id", "close"]
    assert frame["close"].tolist() == [2.0, 4.0]


def test_read_dataset_refuses_an_unknown_column_naming_it(lake):
    with pytest.raises(InvalidArgumentValue, match="'closing'"):
        lake.read_dataset("prices", columns=["close", "closing"])


def test_read_dataset_with_nothing_to_read_is_empty_with_the_asked_columns(lake):
    assert list(lake.read_dataset("prices", columns=["close"]).columns) == ["ticker", "date", "close"]
    write(lake, prices())
    frame = lake.read_dataset("prices", ["NVDA"])
    assert frame.empty and list(frame.columns) == SCHEMA.names
    assert lake.read_dataset("prices", [], columns=["volume"]).columns.tolist() == [
        "ticker",
        "date",
        "volume",
    ]


def test_read_dataset_refuses_start_after_end(lake):
    with pytest.raises(InvalidArgumentValue, match="2025-01-03 is after end 2025-01-02"):
        lake.read_dataset("prices", start="2025-01-03", end=D)


def test_read_dataset_as_of_reads_the_versions_latest_at_that_time(lake):
    write(lake, prices(T, [D], close=1.0))
    when = dt.datetime.now(dt.UTC)
    next_second(lake)
    write(lake, prices(T, [D], close=2.0))
    write(lake, prices(T, ["2025-02-03"], close=3.0), month="2025-02")
    then = lake.read_dataset("prices", as_of=when)
    assert then[["date", "close"]].astype(str).values.tolist() == [[D, "1.0"]]
    now = lake.read_dataset("prices", as_of=dt.datetime.now(dt.UTC), columns=["close"])
    assert now["close"].tolist() == [2.0, 3.0] and list(now.columns) == ["ticker", "date", "close"]
    assert lake.read_dataset("prices", as_of=AT - dt.timedelta(days=3650)).empty


def test_read_dataset_as_of_refuses_a_naive_time(lake):
    with pytest.raises(InvalidArgumentValue, match="as_of"):
        lake.read_dataset("prices", as_of=dt.datetime(2025, 1, 2))


def test_a_month_of_many_tickers_has_row_groups_a_one_ticker_read_can_skip(lake):
    dates = [d.date().isoformat() for d in pd.bdate_range("2025-01-01", periods=10)]
    tickers = [f"T{n:03d}" for n in range(2 * ROW_GROUP_ROWS // len(dates) + 1)]  # 3 row groups
    write(lake, pd.concat([prices(t, dates) for t in tickers], ignore_index=True))
    metadata = pq.ParquetFile(io.BytesIO(lake.store.get(MONTH_KEY).data)).metadata
    column = metadata.schema.to_arrow_schema().get_field_index("ticker")
    bounds = []
    for group in range(metadata.num_row_groups):
        statistics = metadata.row_group(group).column(column).statistics
        assert statistics is not None and statistics.has_min_max
        bounds.append((statistics.min, statistics.max))
    assert metadata.num_row_groups == 3
    assert all(bounds[i][1] <= bounds[i + 1][0] for i in range(len(bounds) - 1))  # sorted, no overlap
    wanted = tickers[len(tickers) // 2]
    assert sum(low <= wanted <= high for low, high in bounds) == 1  # two groups of three can be skipped
    frame = lake.read_dataset("prices", [wanted], columns=["close"])
    assert set(frame["ticker"]) == {wanted} and frame["date"].astype(str).tolist() == dates


def test_months_lists_the_months_with_an_object_and_ignores_foreign_files(lake):
    _two_months(lake)
    lake.store.put("processed/prices/month=2025-03/notes.txt", b"x")
    lake.store.put("processed/prices/README.md", b"x")
    assert lake.months("prices") == ["2025-01", "2025-02"]
    assert lake.months("indicators") == []


def test_read_month_carries_key_version_and_etag(lake):
    result = write(lake, prices())
    frame = lake.read_month("prices", MONTH)
    head = lake.store.head(MONTH_KEY)
    assert frame.attrs == {"key": MONTH_KEY, "version_id": result.version_id, "etag": head.etag}
    assert head.etag == hashlib.md5(lake.store.get(MONTH_KEY).data).hexdigest()


def test_read_month_of_a_missing_month_raises_object_not_found(lake):
    with pytest.raises(ObjectNotFound, match="month=2025-01"):
        lake.read_month("prices", MONTH)


def test_month_versions_are_newest_first_with_what_each_version_records(lake):
    first = write(lake, prices(T), run="run-1", computation_version="1.0.0")
    second = write(
        lake, prices(U), run="run-2", computation_version="1.1.0", computed_at=AT + dt.timedelta(hours=1)
    )
    versions = lake.month_versions("prices", MONTH)
    assert all(isinstance(v, MonthVersion) for v in versions)
    assert [(v.version_id, v.is_latest) for v in versions] == [
        (second.version_id, True),
        (first.version_id, False),
    ]
    newest = versions[0]
    assert (newest.key, newest.run_id, newest.computation_version, newest.computation_type) == (
        MONTH_KEY,
        "run-2",
        "1.1.0",
        "prices",
    )
    assert (newest.row_count, newest.ticker_count, newest.manifest_key) == (2, 2, second.manifest_key)
    assert newest.computed_at == "2025-01-02T11:30:00.000000+00:00" and newest.size > 0
    assert versions[1].to_dict()["row_count"] == 1 and versions[1].manifest_key == first.manifest_key


def test_read_manifest_refuses_keys_that_are_not_manifests(lake):
    write(lake, prices())
    for key in (MONTH_KEY, "lineage/prices/month=2025-01/x.parquet", "../lineage/x.json"):
        with pytest.raises(InvalidArgumentValue):
            lake.read_manifest(key)


def test_row_versions_lists_each_distinct_computation_of_a_row_newest_first(lake):
    first = write(lake, prices(T, raw_version="rv1"), run="run-1", computation_version="1.0.0")
    write(lake, prices(U), run="run-other")  # keeps T's row as it was: not a new computation of it
    third = write(lake, prices(T, raw_version="rv2"), run="run-3", computation_version="1.1.0")
    found = lake.row_versions("prices", T, D)
    assert [(r["version_id"], r["run_id"], r["computation_version"]) for r in found] == [
        (third.version_id, "run-3", "1.1.0"),
        (first.version_id, "run-1", "1.0.0"),
    ]
    assert [(r["source_raw_key"], r["source_raw_version"]) for r in found] == [
        (raw_key(T, D), "rv2"),
        (raw_key(T, D), "rv1"),
    ]
    assert [r["is_latest"] for r in found] == [True, False]
    assert found[0]["key"] == MONTH_KEY and found[0]["computed_at"] == "2025-01-02T10:30:00.000000+00:00"
    assert lake.row_versions("prices", T, "2025-01-03") == []
    assert lake.row_versions("prices", T, "2025-02-03") == []


def test_latest_date_is_the_newest_date_of_the_ticker(lake):
    assert lake.latest_date("prices", T) is None
    _two_months(lake)
    write(lake, prices("NVDA", ["2025-01-06"]))
    assert lake.latest_date("prices", T) == "2025-02-03"
    assert lake.latest_date("prices", "NVDA") == "2025-01-06"
    assert lake.latest_date("prices", "AAPL") is None


# ---------------------------------------------------------------------------------------------- visibility


def test_local_glob_and_duckdb_see_one_file_per_month_and_the_latest_rows(tmp_path):
    lake = Lake(LocalStore(tmp_path / "lake"))
    write(lake, prices(close=1.0))
    write(lake, prices(close=2.0))
    assert list((tmp_path / "lake").glob("processed/**/*.parquet")) == [tmp_path / "lake" / MONTH_KEY]
    closes = duckdb.sql(f"SELECT close FROM read_parquet('{tmp_path}/lake/processed/prices/*/*.parquet')")
    assert closes.fetchall() == [(2.0,)]
    assert len(lake.month_versions("prices", MONTH)) == 2


def test_s3_listing_sees_one_key_per_month_while_versions_are_two(s3_bucket):
    lake = Lake(S3Store(f"s3://{s3_bucket}/tl", max_attempts=3))
    lake.init()
    write(lake, prices(close=1.0))
    write(lake, prices(close=2.0))
    client = lake.store.client
    listed = client.list_objects_v2(Bucket=s3_bucket, Prefix="tl/processed/")["Contents"]
    versions = client.list_object_versions(Bucket=s3_bucket, Prefix="tl/processed/")["Versions"]
    assert [o["Key"] for o in listed] == [f"tl/{MONTH_KEY}"] and len(versions) == 2
    assert client.head_object(Bucket=s3_bucket, Key=f"tl/{MONTH_KEY}")["ServerSideEncryption"] == "AES256"


# ---------------------------------------------------------------------------------------------- quarantine


def test_quarantine_records_reason_source_and_inline_payload_and_keeps_the_raw(lake):
    raw = lake.put_raw(b'{"payload": {}}', ticker=T, source="yfinance", fetched_at=AT)
    result = lake.quarantine(
        "prices",
        T,
        D,
        "close is negative",
        source_key=raw.key,
        source_version=raw.version_id,
        payload=b"\x00bad",
    )
    assert result.key.startswith(f"quarantine/prices/ticker={T}/date={D}/") and result.key.endswith(".json")
    record = json.loads(lake.store.get(result.key).data)
    assert {
        k: record[k] for k in ("reason", "dataset", "ticker", "date", "source_key", "source_version")
    } == {
        "reason": "close is negative",
        "dataset": "prices",
        "ticker": T,
        "date": D,
        "source_key": raw.key,
        "source_version": raw.version_id,
    }
    assert base64.b64decode(record["payload_base64"]) == b"\x00bad"
    assert dt.datetime.fromisoformat(record["quarantined_at"]).tzinfo is not None
    assert lake.get_raw(raw.key) == b'{"payload": {}}'
    assert [r["key"] for r in lake.quarantine_records("prices", T)] == [result.key]
    assert lake.quarantine_records("prices", T, "2025-01-03") == []


def test_quarantine_of_a_large_payload_stores_it_as_a_sibling_object(lake):
    payload = b"x" * 300_000
    result = lake.quarantine(
        "raw", T, D, "not JSON", source_key=raw_key(), source_version=None, payload=payload
    )
    record = json.loads(lake.store.get(result.key).data)
    assert "payload_base64" not in record
    assert record["payload_key"] == result.key.removesuffix(".json") + ".payload"
    assert lake.store.get(record["payload_key"], record["payload_version"]).data == payload


def test_quarantine_refuses_an_empty_reason(lake):
    with pytest.raises(InvalidArgumentValue, match="reason"):
        lake.quarantine("prices", T, D, "  ")
    assert lake.list_keys("") == []


# ---------------------------------------------------------------------------------------------- hostile input

HOSTILE_TICKERS = ["../x", "A/B", "A'B", 'A"B', "", "A" * 300, "d05.si", None]
HOSTILE_DATES = ["2025-13-40", "../x", "", "2025-1-2", "2" * 300, None]
HOSTILE_MONTHS = ["2025-13", "2025-1", "2025-01-02", "../x", "", None]


def _ticker_calls(lake, ticker):
    yield lambda: lake.put_raw(b"{}", ticker=ticker, source="yfinance")
    yield lambda: lake.raw_fetches(ticker)
    yield lambda: write(lake, prices().assign(ticker=[ticker]))
    yield lambda: lake.row_versions("prices", ticker, D)
    yield lambda: lake.latest_date("prices", ticker)
    yield lambda: lake.quarantine("prices", ticker, D, "bad")
    yield lambda: lake.quarantine_records("prices", ticker)
    if ticker is not None:  # None means every ticker here
        yield lambda: lake.read_dataset("prices", [ticker])
        yield lambda: lake.read_dataset("prices", ticker)


def _date_calls(lake, date):
    yield lambda: write(lake, prices().assign(date=[date]))
    yield lambda: lake.row_versions("prices", T, date)
    yield lambda: lake.quarantine("prices", T, date, "bad")
    if date is not None:  # None means no bound / every date here
        yield lambda: lake.raw_fetches(T, since=date)
        yield lambda: lake.read_dataset("prices", [T], start=date)
        yield lambda: lake.read_dataset("prices", [T], end=date)
        yield lambda: lake.quarantine_records("prices", T, date)


def _month_calls(lake, month):
    yield lambda: write(lake, prices(), month=month)
    yield lambda: lake.read_month("prices", month)
    yield lambda: lake.month_versions("prices", month)


def _assert_refused(call, value):
    with pytest.raises(InvalidArgumentValue) as error:
        call()
    text = str(error.value)
    assert repr(value)[:20] in text or (isinstance(value, str) and value[:20] in text), text


@pytest.fixture
def local_lake(tmp_path) -> Lake:
    """Validation happens before any store call, so one backend is enough here."""
    return Lake(LocalStore(tmp_path / "lake"))


@pytest.mark.parametrize("ticker", HOSTILE_TICKERS, ids=repr)
def test_hostile_tickers_are_refused_by_every_method_naming_the_value(local_lake, ticker):
    for call in _ticker_calls(local_lake, ticker):
        _assert_refused(call, ticker)
    assert local_lake.list_keys("") == []


@pytest.mark.parametrize("date", HOSTILE_DATES, ids=repr)
def test_hostile_dates_are_refused_by_every_method_naming_the_value(local_lake, date):
    for call in _date_calls(local_lake, date):
        _assert_refused(call, date)
    assert local_lake.list_keys("") == []


@pytest.mark.parametrize("month", HOSTILE_MONTHS, ids=repr)
def test_hostile_months_are_refused_by_every_method_naming_the_value(local_lake, month):
    for call in _month_calls(local_lake, month):
        _assert_refused(call, month)
    assert local_lake.list_keys("") == []


@pytest.mark.parametrize(
    "call",
    [
        lambda lake: lake.read_month("../prices", MONTH),
        lambda lake: lake.write_month("Prices", MONTH, prices(), run_id="r", computation_version="1"),
        lambda lake: lake.read_dataset("prices'--"),
        lambda lake: lake.months("raw"),
        lambda lake: lake.month_versions("processed", MONTH),
        lambda lake: lake.row_versions("", T, D),
        lambda lake: lake.latest_date(None, T),
    ],
)
def test_hostile_datasets_are_refused(local_lake, call):
    with pytest.raises(InvalidArgumentValue, match="dataset"):
        call(local_lake)


def test_lake_needs_an_object_store():
    with pytest.raises(InvalidArgumentValue, match="ObjectStore"):
        Lake(object())


def test_open_lake_uses_the_configured_uri(tmp_path, monkeypatch):
    monkeypatch.setenv("TICKERLAKE_LAKE_URI", str(tmp_path / "configured"))
    assert open_lake().uri == (tmp_path / "configured").as_uri()
